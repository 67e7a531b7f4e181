/**
 * One NAT gateway's sessions (aws-semantics §5): the active TCP connection
 * count (ActiveConnectionCount), idle timeouts (IdleTimeoutCount counts
 * established TCP only; TCP not yet established idles out after at most
 * 240 s), a configuration update, a session removed by hand, ICMP queries
 * sharing one per-destination bucket and their reply keys, the allocation
 * of gateway ports (consecutive, wrapping from 65535 to 1024, exhausted
 * when every port for a destination is taken), ConnectionEstablished, and
 * the saved state it refuses.
 */
import { describe, expect, it } from 'vitest';
import { NatCounter, NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { NO_FLOW } from '../../../src/conntrack/conntrack.js';
import { SavedStateError } from '../../../src/lib/saved-fields.js';
import { FLOW_RECORD_BYTES } from '../../../src/conntrack/flow-state.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { hash2 } from '../../../src/lib/hash.js';

const GW = ipToU32('198.18.1.5');
const INSIDE = ipToU32('198.18.2.10');
const FAR = ipToU32('203.0.113.100');
const TCP = 6, UDP = 17, ICMP = 1;
const SYN = 0x02, ACK = 0x10, SYNACK = 0x12;

function gateway(o: { maxPerDestination?: number; idleTimeout?: number; maxSessions?: number; ip?: number } = {}): NatGatewayState {
  return new NatGatewayState('nat-a', { ip: o.ip ?? GW, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination: o.maxPerDestination ?? 55_000,
    idleTimeout: o.idleTimeout ?? 350, maxSessions: o.maxSessions ?? 64, seed: 0x5e55 });
}
/** A TCP session through its handshake (SYN out, SYN-ACK in, ACK out). */
function established(nat: NatGatewayState, sport: number, now: number): number {
  const f = nat.create(INSIDE, FAR, sport, 443, TCP, now);
  nat.touch(f * 2, now, 60, SYN);
  nat.touch(f * 2 + 1, now, 60, SYNACK);
  nat.touch(f * 2, now, 52, ACK);
  return f;
}
/** A gateway whose port cursor is `cursor` (through a restore of an empty state). */
function withCursor(cursor: number, o: Parameters<typeof gateway>[0] = {}): NatGatewayState {
  const bytes = gateway().serialize(0);
  new DataView(bytes.buffer).setUint32(0, cursor, true);
  const nat = gateway(o);
  nat.restore(bytes, 0);
  return nat;
}

describe('NAT gateway sessions', () => {
  it('activeTcp counts the live TCP sessions only, and forgets the removed ones', () => {
    const nat = gateway();
    expect(nat.activeTcp()).toBe(0);
    const t1 = nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    nat.create(INSIDE, FAR, 40_001, 443, TCP, 1_000);
    nat.create(INSIDE, FAR, 5353, 53, UDP, 1_000);
    nat.create(INSIDE, FAR, 7, 8 << 8, ICMP, 1_000);
    expect(nat.activeTcp()).toBe(2);
    nat.removeSession(t1);
    expect(nat.activeTcp()).toBe(1);
  });

  it('idle timeouts: an established TCP session counts in IdleTimeoutCount, a half-open one and a UDP one do not; the sweep names each ended session', () => {
    const nat = gateway({ idleTimeout: 350 });
    const est = established(nat, 40_000, 1_000);
    const half = nat.create(INSIDE, FAR, 40_001, 443, TCP, 1_000);
    nat.touch(half * 2, 1_000, 60, SYN);
    const udp = nat.create(INSIDE, FAR, 5353, 53, UDP, 1_000);
    nat.touch(udp * 2, 1_000, 60, 0);
    const ended: [number, number][] = [];
    const seen = (g: NatGatewayState, f: number) => ended.push([f, g.sessions.pool.proto[f]!]);
    // a half-open TCP session idles out after min(idle timeout, 240 s)
    nat.sweep(1_000 + 239_000, seen);
    expect(ended).toEqual([]);
    nat.sweep(1_000 + 241_000, seen);
    expect(ended).toEqual([[half, TCP]]);
    expect(nat.counters[NatCounter.IdleTimeouts]).toBe(0);
    nat.sweep(1_000 + 351_000, seen);
    expect(ended.slice(1).sort()).toEqual([[est, TCP], [udp, UDP]].sort());
    expect(nat.counters[NatCounter.IdleTimeouts]).toBe(1);
    expect(nat.sessions.entries).toBe(0);
    expect(nat.destinations.size).toBe(0);
    // a later sweep without an observer tells the earlier one nothing
    const again = nat.create(INSIDE, FAR, 5354, 53, UDP, 400_000);
    nat.sweep(400_000 + 351_000);
    expect(nat.sessions.pool.live[again]).toBe(0);
    expect(ended).toHaveLength(3);
  });

  it('update: the new address answers lookups, the new limit and idle timeout apply (TCP before establishment: at most 240 s)', () => {
    const nat = gateway({ maxPerDestination: 1, idleTimeout: 350 });
    const NEW = ipToU32('198.18.1.6');
    nat.update({ ip: NEW, publicIp: ipToU32('203.0.113.6'), subnet: 3, isPublic: false, maxPerDestination: 2, idleTimeout: 100 });
    expect([nat.ip, nat.publicIp, nat.subnet, nat.isPublic, nat.maxPerDestination]).toEqual([NEW, ipToU32('203.0.113.6'), 3, false, 2]);
    const a = nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    const b = nat.create(INSIDE, FAR, 40_001, 443, TCP, 1_000);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(nat.create(INSIDE, FAR, 40_002, 443, TCP, 1_000)).toBe(-1);
    const port = nat.sessions.pool.natPort[a]!;
    expect(nat.lookupOutside(FAR, 443, port, TCP)).toBe(a * 2 + 1);
    expect(nat.sessions.pool.natAddr[a]).toBe(NEW);
    nat.touch(a * 2, 1_000, 60, SYN);
    nat.sweep(1_000 + 99_000);
    expect(nat.sessions.pool.live[a]).toBe(1);
    nat.sweep(1_000 + 101_000);
    expect(nat.sessions.pool.live[a]).toBe(0);
    // a long idle timeout still ends TCP that never got established after 240 s
    const nat2 = gateway({ idleTimeout: 350 });
    nat2.update({ ip: GW, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination: 10, idleTimeout: 1_000 });
    const c = nat2.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    const u = nat2.create(INSIDE, FAR, 5353, 53, UDP, 1_000);
    nat2.sweep(1_000 + 241_000);
    expect(nat2.sessions.pool.live[c]).toBe(0);
    nat2.sweep(1_000 + 999_000);
    expect(nat2.sessions.pool.live[u]).toBe(1);
  });

  it('removeSession gives the destination its count back once; removing it again, or a free slot, changes nothing', () => {
    const nat = gateway({ maxPerDestination: 2 });
    const a = nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    nat.create(INSIDE, FAR, 40_001, 443, TCP, 1_000);
    expect(nat.destinations.get(FAR, (443 << 8) | TCP)).toBe(2);
    nat.removeSession(a);
    expect(nat.destinations.get(FAR, (443 << 8) | TCP)).toBe(1);
    expect(nat.lookupInside(INSIDE, FAR, 40_000, 443, TCP)).toBe(NO_FLOW);
    nat.removeSession(a);
    nat.removeSession(63);
    expect(nat.destinations.get(FAR, (443 << 8) | TCP)).toBe(1);
    expect(nat.destinations.underflows).toBe(0);
    expect(nat.sessions.entries).toBe(1);
  });

  it('ICMP queries to one destination share one bucket whatever their type and identifier; echo and timestamp replies find their session', () => {
    const nat = gateway({ maxPerDestination: 2 });
    const echo = nat.create(INSIDE, FAR, 7, 8 << 8, ICMP, 1_000);
    const ts = nat.create(INSIDE, FAR, 8, 13 << 8, ICMP, 1_000);
    expect(nat.create(INSIDE, FAR, 9, 8 << 8, ICMP, 1_000)).toBe(-1);
    expect(nat.destinations.get(FAR, 1 << 16)).toBe(2);
    expect(nat.create(INSIDE, FAR + 1, 9, 8 << 8, ICMP, 1_000)).toBeGreaterThanOrEqual(0);
    const pool = nat.sessions.pool;
    expect(nat.lookupOutside(FAR, pool.natPort[echo]!, 0 << 8, ICMP)).toBe(echo * 2 + 1);
    expect(nat.lookupOutside(FAR, pool.natPort[ts]!, 14 << 8, ICMP)).toBe(ts * 2 + 1);
    expect(nat.lookupOutside(FAR, pool.natPort[ts]!, 13 << 8, ICMP)).toBe(NO_FLOW);
    expect(nat.lookupInside(INSIDE, FAR, 7, 8 << 8, ICMP)).toBe(echo * 2);
  });

  it('ports: consecutive from the cursor, 65535 wraps to 1024, and every one is in 1024-65535', () => {
    const nat = withCursor(65_534);
    const ports = [0, 1, 2, 3].map((i) => nat.sessions.pool.natPort[nat.create(INSIDE, FAR, 40_000 + i, 443, TCP, 1_000)]);
    expect(ports).toEqual([65_534, 65_535, 1024, 1025]);
    // ICMP identifiers come from the same cursor
    const icmp = nat.create(INSIDE, FAR, 7, 8 << 8, ICMP, 1_000);
    expect(nat.sessions.pool.natPort[icmp]).toBe(1026);
    const low = withCursor(1024);
    expect(low.sessions.pool.natPort[low.create(INSIDE, FAR, 40_000, 443, TCP, 1_000)]).toBe(1024);
    // both ends of the range restore
    expect(gateway().restore(nat.serialize(1_000), 0)).toBe(5);
    expect(gateway().restore(low.serialize(1_000), 0)).toBe(1);
  });

  it('a fresh gateway starts its ports anywhere in 1024-65535 (random per gateway), never below', () => {
    const firsts = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const nat = gateway();
      const p = nat.sessions.pool.natPort[nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000)]!;
      expect(p).toBeGreaterThanOrEqual(1024);
      expect(p).toBeLessThanOrEqual(65_535);
      firsts.add(p);
    }
    // 50 draws from 64,511 ports: all distinct but for a rare collision
    expect(firsts.size).toBeGreaterThan(45);
  });

  it('a full session table refuses a session to a destination that has others, and gives its count back', () => {
    const nat = gateway({ maxSessions: 2 });
    nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    nat.create(INSIDE, FAR, 40_001, 443, TCP, 1_000);
    const dropped = nat.counters[NatCounter.PacketsDropped];
    expect(nat.create(INSIDE, FAR, 40_002, 443, TCP, 1_000)).toBe(-2);
    expect(nat.counters[NatCounter.PacketsDropped] - dropped).toBe(1);
    expect(nat.counters[NatCounter.ErrorPortAllocation]).toBe(0);
    expect(nat.destinations.get(FAR, (443 << 8) | TCP)).toBe(2);
    expect(nat.counters[NatCounter.ConnectionAttempts]).toBe(2);
  });

  it('a port taken for the same destination is skipped; another destination may reuse it', () => {
    const nat = withCursor(2000);
    const a = nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    expect(nat.sessions.pool.natPort[a]).toBe(2000);
    // the cursor comes round to 2000 again only after the whole range: restore it there
    const saved = nat.serialize(1_000);
    new DataView(saved.buffer).setUint32(0, 2000, true);
    const b = gateway();
    b.restore(saved, 1_000);
    expect(b.sessions.pool.natPort[b.create(INSIDE, FAR, 40_001, 443, TCP, 1_000)]).toBe(2001);
    new DataView(saved.buffer).setUint32(0, 2000, true);
    const c = gateway();
    c.restore(saved, 1_000);
    expect(c.sessions.pool.natPort[c.create(INSIDE, FAR, 40_001, 80, TCP, 1_000)]).toBe(2000);
  });

  it('every port for one destination taken: the next session is refused as ErrorPortAllocation', () => {
    const span = 65_535 - 1024 + 1;
    const nat = withCursor(1024, { maxSessions: span + 8, maxPerDestination: 100_000 });
    for (let i = 0; i < span; i++) expect(nat.create(INSIDE + (i >>> 15), FAR, 1024 + (i & 0x7fff), 443, UDP, 1_000)).toBeGreaterThanOrEqual(0);
    const before = nat.counters[NatCounter.ErrorPortAllocation];
    expect(nat.create(INSIDE + 9, FAR, 5000, 443, UDP, 1_000)).toBe(-1);
    expect(nat.counters[NatCounter.ErrorPortAllocation] - before).toBe(1);
    expect(nat.destinations.get(FAR, (443 << 8) | UDP)).toBe(span);
    expect(nat.create(INSIDE + 9, FAR, 5000, 444, UDP, 1_000)).toBeGreaterThanOrEqual(0);
  });

  it('ConnectionEstablished: UDP and ICMP on the first answer only (not on more requests), TCP when the handshake completes', () => {
    const nat = gateway();
    const c = () => nat.counters[NatCounter.ConnectionsEstablished];
    const u = nat.create(INSIDE, FAR, 5353, 53, UDP, 1_000);
    nat.touch(u * 2, 1_000, 60, 0);
    nat.touch(u * 2, 1_001, 60, 0);
    expect(c()).toBe(0);
    nat.touch(u * 2 + 1, 1_002, 60, 0);
    expect(c()).toBe(1);
    nat.touch(u * 2 + 1, 1_003, 60, 0);
    nat.touch(u * 2, 1_004, 60, 0);
    expect(c()).toBe(1);
    const i = nat.create(INSIDE, FAR, 7, 8 << 8, ICMP, 1_000);
    nat.touch(i * 2, 1_000, 60, 0);
    nat.touch(i * 2 + 1, 1_001, 60, 0);
    expect(c()).toBe(2);
    const t = nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    nat.touch(t * 2, 1_000, 60, SYN);
    nat.touch(t * 2 + 1, 1_000, 60, SYNACK);
    expect(c()).toBe(2);
    nat.touch(t * 2, 1_000, 52, ACK);
    expect(c()).toBe(3);
    nat.touch(t * 2 + 1, 1_000, 52, ACK);
    expect(c()).toBe(3);
  });
});

describe('NAT gateway saved state refused', () => {
  /** A gateway with one TCP and one UDP session, saved; `edit` changes the bytes (flow records at `rec(i)`). */
  function saved(edit: (dv: DataView, rec: (i: number) => number) => void): Uint8Array {
    const a = gateway();
    a.create(INSIDE, FAR, 40_000, 443, TCP, 1_000);
    a.create(INSIDE, FAR + 1, 5353, 53, UDP, 1_000);
    const bytes = a.serialize(1_000);
    const dv = new DataView(bytes.buffer);
    const n = dv.getUint32(4, true);
    edit(dv, (i) => 8 + n * 12 + 8 + i * FLOW_RECORD_BYTES);
    return bytes;
  }
  /** The record of the session with protocol `proto`. */
  const recOf = (dv: DataView, rec: (i: number) => number, proto: number) => (dv.getUint8(rec(0) + 46) === proto ? rec(0) : rec(1));
  /** The saved state with one more destination count (for a destination with no session). */
  function extraDestination(): Uint8Array {
    const b = saved(() => {});
    const dv = new DataView(b.buffer);
    const n = dv.getUint32(4, true);
    const out = new Uint8Array(b.length + 12);
    out.set(b.subarray(0, 8 + n * 12));
    out.set(b.subarray(8 + n * 12), 8 + (n + 1) * 12);
    const o = new DataView(out.buffer);
    o.setUint32(4, n + 1, true);
    o.setInt32(8 + n * 12, FAR + 5, true);
    o.setInt32(12 + n * 12, (80 << 8) | TCP, true);
    o.setInt32(16 + n * 12, 1, true);
    return out;
  }
  // The states are made inside each test: a state that cannot be made fails that test, not the file's collection.
  const cases: [string, () => Uint8Array, RegExp, number?][] = [
    ['shorter than its header', () => new Uint8Array(7), /truncated/],
    ['a port cursor below 1024', () => saved((dv) => dv.setUint32(0, 1023, true)), /bad header/],
    ['a port cursor above 65535', () => saved((dv) => dv.setUint32(0, 65_536, true)), /bad header/],
    ['more destinations than sessions it can hold', () => saved(() => {}), /bad header/, 1],
    ['destinations past its end', () => saved((dv) => dv.setUint32(4, 40, true)), /bad header/],
    ['a session translated to another address', () => saved((dv, rec) => dv.setUint32(rec(1) + 40, ipToU32('198.18.1.6'), true)), /not one of this gateway's/],
    ['a session whose answers go to another address', () => saved((dv, rec) => dv.setInt32(rec(0) + 20, ipToU32('198.18.1.6') | 0, true)), /not one of this gateway's/],
    ['a session on port 0 (no port)', () => saved((dv, rec) => {
      const r = recOf(dv, rec, UDP);
      dv.setUint16(r + 44, 0, true);
      dv.setInt32(r + 24, 53 << 16, true);
    }), /not one of this gateway's/],
    ['a session whose answers come to another port than its own', () => saved((dv, rec) => dv.setUint16(rec(1) + 44, dv.getUint16(rec(1) + 44, true) ^ 1, true)), /not one of this gateway's/],
    ['a destination count for another destination than the session\'s', () => saved((dv) => dv.setInt32(8 + 1 * 12 + 4, (80 << 8) | TCP, true)), /counts do not match/],
    ['a destination count with no session', () => extraDestination(), /counts do not match/],
  ];
  for (const [what, make, msg, maxSessions] of cases) {
    it(`${what}: SavedStateError, the gateway stays empty`, () => {
      const bytes = make();
      const b = gateway(maxSessions === undefined ? {} : { maxSessions });
      expect(() => b.restore(bytes, 0)).toThrow(SavedStateError);
      expect(() => b.restore(bytes, 0)).toThrow(msg);
      expect(b.sessions.entries).toBe(0);
      expect(b.destinations.size).toBe(0);
    });
  }

  it('a state whose destinations do not fit the per-destination table (65 in one probe window): SavedStateError, the gateway stays empty', () => {
    // 65 destinations whose count slot is the same one in a gateway seeded 0x5e55 with room for 128 sessions (256 slots, 64 probes)
    const pp = (53 << 8) | UDP;
    const dsts: number[] = [];
    for (let d = FAR; dsts.length < 65; d++) if ((hash2(d, pp, 0x5e55) & 255) === 0) dsts.push(d);
    const a = new NatGatewayState('nat-a', { ip: GW, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination: 10, idleTimeout: 350, maxSessions: 128, seed: 7 });
    for (const d of dsts) expect(a.create(INSIDE, d, 5353, 53, UDP, 1_000)).toBeGreaterThanOrEqual(0);
    const b = gateway({ maxSessions: 128 });
    expect(() => b.restore(a.serialize(1_000), 0)).toThrow(/destination table is full/);
    expect(b.sessions.entries).toBe(0);
    expect(b.destinations.size).toBe(0);
    expect(b.lookupInside(INSIDE, dsts[0]!, 5353, 53, UDP)).toBe(NO_FLOW);
  });

  it('the unedited state restores both sessions and the cursor', () => {
    const b = gateway();
    expect(b.restore(saved(() => {}), 0)).toBe(2);
    expect(b.destinations.size).toBe(2);
  });

  it('a state with as many sessions as the table holds restores', () => {
    const a = gateway({ maxSessions: 16 });
    for (let i = 0; i < 16; i++) expect(a.create(INSIDE, FAR + i, 40_000, 443, TCP, 1_000)).toBeGreaterThanOrEqual(0);
    const b = gateway({ maxSessions: 16 });
    expect(b.restore(a.serialize(1_000), 0)).toBe(16);
    expect(b.destinations.size).toBe(16);
  });
});

describe('NAT gateway: ports, keys and tables at their edges', () => {
  it('a fresh gateway\'s saved state restores: its random port cursor is always in 1024-65535', () => {
    for (let i = 0; i < 64; i++) expect(gateway().restore(gateway().serialize(0), 0)).toBe(0);
  });

  it('after port 65535 is taken the saved cursor is 1024, and the state restores', () => {
    const nat = withCursor(65_535);
    expect(nat.sessions.pool.natPort[nat.create(INSIDE, FAR, 40_000, 443, TCP, 1_000)]).toBe(65_535);
    const bytes = nat.serialize(1_000);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(1024);
    expect(gateway().restore(bytes, 0)).toBe(1);
  });

  it('an ICMP identifier in use for a destination is skipped for another host\'s query to it', () => {
    const nat = withCursor(3000);
    const first = nat.create(INSIDE, FAR, 7, 8 << 8, ICMP, 1_000);
    expect(nat.sessions.pool.natPort[first]).toBe(3000);
    const saved = nat.serialize(1_000);
    new DataView(saved.buffer).setUint32(0, 3000, true); // the cursor back on the identifier in use
    const b = gateway();
    b.restore(saved, 1_000);
    const second = b.create(INSIDE + 1, FAR, 7, 8 << 8, ICMP, 1_000);
    expect(second).toBeGreaterThanOrEqual(0);
    expect(b.sessions.pool.natPort[second]).toBe(3001);
    // each answer finds its own session
    expect(b.lookupOutside(FAR, 3001, 0, ICMP)).toBe(second * 2 + 1);
    expect(b.lookupOutside(FAR, 3000, 0, ICMP) >>> 1).not.toBe(second);
  });

  it('an ICMP message that is no query (parameter problem, pointer in its identifier bytes) finds the session it opened', () => {
    const nat = gateway();
    const f = nat.create(INSIDE, FAR, 0x1400, 12 << 8, ICMP, 1_000);
    expect(f).toBeGreaterThanOrEqual(0);
    expect(nat.lookupInside(INSIDE, FAR, 0x1400, 12 << 8, ICMP)).toBe(f * 2);
    expect(nat.lookupInside(INSIDE, FAR, 0, 12 << 8, ICMP)).toBe(f * 2);
    expect(nat.lookupInside(INSIDE, FAR, 0x1400, 3 << 8, ICMP)).toBe(NO_FLOW);
  });

  it('a destination whose count finds no slot in its probe window: the session is refused (PacketsDropped), none is made', () => {
    // 65 destinations whose count slot is the same one in a gateway seeded 0x5e55 with room for 128 sessions (256 slots, 64 probes)
    const pp = (53 << 8) | UDP;
    const dsts: number[] = [];
    for (let d = FAR; dsts.length < 65; d++) if ((hash2(d, pp, 0x5e55) & 255) === 0) dsts.push(d);
    const nat = gateway({ maxSessions: 128 });
    for (const d of dsts.slice(0, 64)) expect(nat.create(INSIDE, d, 5353, 53, UDP, 1_000)).toBeGreaterThanOrEqual(0);
    const dropped = nat.counters[NatCounter.PacketsDropped];
    expect(nat.create(INSIDE, dsts[64]!, 5353, 53, UDP, 1_000)).toBe(-2);
    expect(nat.counters[NatCounter.PacketsDropped] - dropped).toBe(1);
    expect(nat.sessions.entries).toBe(64);
    expect(nat.lookupInside(INSIDE, dsts[64]!, 5353, 53, UDP)).toBe(NO_FLOW);
    expect(nat.counters[NatCounter.ConnectionAttempts]).toBe(64);
  });

  it('a state with more sessions than this gateway holds is refused by the flow section\'s own check, the gateway stays empty', () => {
    const a = gateway({ maxSessions: 16 });
    for (let i = 0; i < 16; i++) expect(a.create(INSIDE, FAR, 40_000 + i, 443, TCP, 1_000)).toBeGreaterThanOrEqual(0);
    const b = gateway({ maxSessions: 8 });
    expect(() => b.restore(a.serialize(1_000), 0)).toThrow(/16 flows saved, the table holds 8/);
    expect(b.sessions.entries).toBe(0);
    expect(b.destinations.size).toBe(0);
  });

  it('the hash seed given is the one used: two gateways with one seed and one history save the same bytes', () => {
    // the per-destination counts are saved in their table's slot order, which the seed decides
    const start = gateway().serialize(0);
    new DataView(start.buffer).setUint32(0, 5000, true);
    const run = (seed: number) => {
      const nat = new NatGatewayState('nat-a', { ip: GW, publicIp: 0, subnet: 0, isPublic: true, maxPerDestination: 10, idleTimeout: 350, maxSessions: 64, seed });
      nat.restore(start, 0);
      for (let i = 0; i < 24; i++) nat.create(INSIDE, FAR + i * 7, 5353, 53, UDP, 1_000);
      return Buffer.from(nat.serialize(1_000)).toString('hex');
    };
    expect(run(11)).toBe(run(11));
    expect(run(12)).toBe(run(12));
    expect(run(11)).not.toBe(run(12));
  });
});
