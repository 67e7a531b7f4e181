/**
 * NatGatewayState.serialize() / restore(): a NAT gateway's sessions across a
 * restart keep their allocated ports (the answers from outside find the same
 * inside host and port), the per-destination counts (maxPerDestination still
 * holds, expiry still decrements them) and the port cursor; state that is
 * not this gateway's, or whose counts do not add up, is refused and leaves
 * the gateway empty.
 */
import { describe, expect, it } from 'vitest';
import { NatCounter, NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { NO_FLOW } from '../../../src/conntrack/conntrack.js';
import { SavedStateError } from '../../../src/lib/saved-fields.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const GW = ipToU32('198.18.0.5');
const INSIDE = ipToU32('198.18.1.10');
const FAR = ipToU32('203.0.113.100');
const TCP = 6, UDP = 17, ICMP = 1;

function gateway(seed: number, ip = GW, maxPerDestination = 4): NatGatewayState {
  return new NatGatewayState('nat-a', { ip, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination, idleTimeout: 350, maxSessions: 1024, seed });
}

/** (inside port -> gateway port) of every session, by protocol. */
function mappings(n: NatGatewayState): string[] {
  const out: string[] = [];
  const p = n.sessions.pool;
  for (let f = 0; f < p.max; f++) if (p.live[f] === 1) out.push(`${p.proto[f]} ${p.key[f * 8 + 2] >>> 16}->${p.natPort[f]} ${p.key[f * 8 + 1]}`);
  return out.sort();
}

describe('NAT gateway sessions across a restart', () => {
  const a = gateway(1);
  let t = 1_000;
  const opened: { proto: number; sport: number; dport: number; dst: number; f: number }[] = [];
  for (let i = 0; i < 3; i++) opened.push({ proto: TCP, sport: 40_000 + i, dport: 443, dst: FAR, f: a.create(INSIDE, FAR, 40_000 + i, 443, TCP, (t += 10)) });
  opened.push({ proto: UDP, sport: 5353, dport: 53, dst: FAR + 1, f: a.create(INSIDE, FAR + 1, 5353, 53, UDP, (t += 10)) });
  opened.push({ proto: ICMP, sport: 77, dport: 8 << 8, dst: FAR, f: a.create(INSIDE, FAR, 77, 8 << 8, ICMP, (t += 10)) });
  for (const o of opened) a.touch(o.f * 2, t, 60, o.proto === TCP ? 0x02 : 0);
  const saved = a.serialize(t + 5);

  it('keeps each session\'s allocated port: an answer from outside finds the same inside port', () => {
    const b = gateway(0xb0b);
    expect(b.restore(saved, 9_000_000)).toBe(5);
    expect(mappings(b)).toEqual(mappings(a));
    for (const o of opened) {
      const port = a.sessions.pool.natPort[o.f]!;
      const ref = o.proto === ICMP ? b.lookupOutside(o.dst, port, 0, ICMP) : b.lookupOutside(o.dst, o.dport, port, o.proto);
      expect(ref, `${o.proto} ${o.sport}`).not.toBe(NO_FLOW);
      expect(ref & 1).toBe(1);
      expect(b.sessions.pool.key[(ref >>> 1) * 8 + 2]! >>> 16).toBe(o.sport);
      expect(b.lookupInside(INSIDE, o.dst, o.sport, o.dport, o.proto)).toBe(ref - 1);
    }
  });

  it('keeps the per-destination counts: maxPerDestination still holds, and an expiry still gives the count back', () => {
    const b = gateway(0xb0c);
    b.restore(saved, 9_000_000);
    expect(b.destinations.get(FAR, (443 << 8) | TCP)).toBe(3);
    expect(b.destinations.get(FAR, 1 << 16)).toBe(1);
    expect(b.create(INSIDE, FAR, 40_010, 443, TCP, 9_000_010)).toBeGreaterThanOrEqual(0); // the 4th
    expect(b.create(INSIDE, FAR, 40_011, 443, TCP, 9_000_010)).toBe(-1);
    expect(b.counters[NatCounter.ErrorPortAllocation]).toBe(1);
    b.sweep(9_000_000 + 350_000 * 2);
    expect(b.sessions.entries).toBe(0);
    expect(b.destinations.size).toBe(0);
    expect(b.destinations.underflows).toBe(0);
  });

  it('a new session does not take a restored session\'s port', () => {
    const b = gateway(0xb0d, GW, 100);
    b.restore(saved, 0);
    const taken = new Set(opened.filter((o) => o.proto === TCP).map((o) => a.sessions.pool.natPort[o.f]));
    for (let i = 0; i < 20; i++) {
      const f = b.create(INSIDE + 1, FAR, 50_000 + i, 443, TCP, 10);
      expect(taken.has(b.sessions.pool.natPort[f]!)).toBe(false);
    }
  });

  const refused: [string, () => NatGatewayState, Uint8Array, RegExp][] = [
    ['another gateway address', () => gateway(2, ipToU32('198.18.0.6')), saved, /not one of this gateway's/],
    ['counts that do not add up', () => gateway(3), (() => {
      const b = saved.slice();
      new DataView(b.buffer).setInt32(16, 9, true);
      return b;
    })(), /counts do not match/],
    ['a port cursor out of range', () => gateway(4), (() => {
      const b = saved.slice();
      new DataView(b.buffer).setUint32(0, 80, true);
      return b;
    })(), /bad header/],
    ['truncated', () => gateway(5), saved.subarray(0, saved.length - 3), /bytes for 5 flows/],
  ];
  for (const [what, make, bytes, msg] of refused) {
    it(`refuses ${what} and stays empty`, () => {
      const b = make();
      expect(() => b.restore(bytes, 0)).toThrow(SavedStateError);
      expect(() => b.restore(bytes, 0)).toThrow(msg);
      expect(b.sessions.entries).toBe(0);
      expect(b.destinations.size).toBe(0);
    });
  }
});

describe('the port cursor of a new gateway', () => {
  it('starts at a random port inside 1024-65535 (the saved cursor of 400 new gateways: in range, and not all the same)', () => {
    const cursors = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const g = new NatGatewayState('nat-a', { ip: GW, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination: 4, idleTimeout: 350, maxSessions: 16, seed: i + 1 });
      const saved = g.serialize(1_000);
      const cursor = new DataView(saved.buffer, saved.byteOffset, saved.byteLength).getUint32(0, true);
      expect(cursor).toBeGreaterThanOrEqual(1024);
      expect(cursor).toBeLessThanOrEqual(65535);
      cursors.add(cursor);
    }
    // 400 draws from 64,512 ports: a fixed start would give one value.
    expect(cursors.size).toBeGreaterThan(300);
  });
});
