/**
 * The NAT gateway's per-destination session counts: a destination whose last
 * session ends is deleted, so many times the session limit in distinct
 * destinations over the gateway's life never fills the table (it used to
 * keep zero entries and then probe forever); maxPerDestination still holds;
 * the counts agree with a model of live sessions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NatCounter, NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { NO_FLOW } from '../../../src/conntrack/conntrack.js';
import { PAIR_MAX_PROBE } from '../../../src/lib/pair-counts.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { checkProperty } from '../../helpers/property.js';

const GW = ipToU32('198.18.0.5');
const INSIDE = ipToU32('198.18.1.10');
const FAR = ipToU32('198.19.0.0'); // destinations FAR + n
const UDP = 17, TCP = 6;
const ppOf = (dport: number, proto: number): number => (dport << 8) | proto;

function gateway(opts: { maxSessions: number; maxPerDestination: number; idleTimeout: number; seed: number }): NatGatewayState {
  return new NatGatewayState('nat-test', { ip: GW, publicIp: 0, subnet: 0, isPublic: false, ...opts });
}

describe('NAT gateway destination counts', () => {
  it('8x the session limit in distinct destinations over time: every session opens, the table empties after each expiry', () => {
    const maxSessions = 1024;
    const nat = gateway({ maxSessions, maxPerDestination: 55_000, idleTimeout: 10, seed: 0xd357 });
    let now = 1_000;
    let dst = 0;
    let worst = 0;
    const rounds = 8, perRound = 1_000;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) {
        const f = nat.create(INSIDE, FAR + dst++, 40_000, 53, UDP, now);
        expect(f).toBeGreaterThanOrEqual(0);
        worst = Math.max(worst, nat.destinations.lastProbes);
      }
      expect(nat.destinations.size).toBe(perRound);
      now += 11_000;
      nat.sweep(now);
      expect(nat.sessions.entries).toBe(0);
      expect(nat.destinations.size).toBe(0);
    }
    console.log(`NAT: ${dst} distinct destinations through ${maxSessions} sessions; most slots one create looked at: ${worst}`);
    expect(dst).toBeGreaterThanOrEqual(3 * nat.destinations.capacity);
    expect(worst).toBeLessThanOrEqual(PAIR_MAX_PROBE);
    expect(nat.destinations.refused).toBe(0);
    expect(nat.destinations.underflows).toBe(0);
    expect(nat.counters[NatCounter.ConnectionAttempts]).toBe(rounds * perRound);
  });

  it('maxPerDestination holds before and after the destination has been deleted and comes back', () => {
    const nat = gateway({ maxSessions: 64, maxPerDestination: 2, idleTimeout: 5, seed: 0xd358 });
    const d = FAR + 7;
    let now = 1_000;
    expect(nat.create(INSIDE, d, 40_001, 443, TCP, now)).toBeGreaterThanOrEqual(0);
    expect(nat.create(INSIDE, d, 40_002, 443, TCP, now)).toBeGreaterThanOrEqual(0);
    const before = nat.counters[NatCounter.ErrorPortAllocation];
    expect(nat.create(INSIDE, d, 40_003, 443, TCP, now)).toBe(-1);
    expect(nat.counters[NatCounter.ErrorPortAllocation] - before).toBe(1);
    expect(nat.create(INSIDE, d, 40_003, 80, TCP, now)).toBeGreaterThanOrEqual(0); // another port: another destination
    now += 6_000;
    nat.sweep(now);
    expect(nat.destinations.get(d, ppOf(443, TCP))).toBe(0);
    expect(nat.destinations.size).toBe(0);
    expect(nat.create(INSIDE, d, 40_004, 443, TCP, now)).toBeGreaterThanOrEqual(0);
    expect(nat.create(INSIDE, d, 40_005, 443, TCP, now)).toBeGreaterThanOrEqual(0);
    expect(nat.create(INSIDE, d, 40_006, 443, TCP, now)).toBe(-1);
  });

  it('a session the session table refuses leaves no destination count behind', () => {
    const nat = gateway({ maxSessions: 4, maxPerDestination: 100, idleTimeout: 30, seed: 0xd359 });
    for (let i = 0; i < 4; i++) expect(nat.create(INSIDE, FAR + i, 40_000, 53, UDP, 1_000)).toBeGreaterThanOrEqual(0);
    const dropped = nat.counters[NatCounter.PacketsDropped];
    expect(nat.create(INSIDE, FAR + 9, 40_000, 53, UDP, 1_000)).toBe(-2);
    expect(nat.counters[NatCounter.PacketsDropped] - dropped).toBe(1);
    expect(nat.destinations.get(FAR + 9, ppOf(53, UDP))).toBe(0);
    expect(nat.destinations.size).toBe(4);
  });

  it('agrees with a model of live sessions under random opens, expiries and reuse (property)', () => {
    type Step = { kind: 'open'; d: number; port: number; sport: number } | { kind: 'wait'; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('open' as const), d: fc.integer({ min: 0, max: 11 }), port: fc.constantFrom(53, 443), sport: fc.integer({ min: 1024, max: 1040 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 100, max: 6_000 }) }) },
    );
    checkProperty('NAT destination counts vs model', fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(step, { maxLength: 200 }), (seed: number, steps: Step[]) => {
      const idleMs = 5_000, maxPer = 3, maxSessions = 16;
      const nat = gateway({ maxSessions, maxPerDestination: maxPer, idleTimeout: idleMs / 1000, seed });
      // Model: live sessions (inside tuple -> destination key and deadline).
      const live = new Map<string, { key: string; deadline: number }>();
      const counts = (): Map<string, number> => {
        const m = new Map<string, number>();
        for (const s of live.values()) m.set(s.key, (m.get(s.key) ?? 0) + 1);
        return m;
      };
      let now = 1_000;
      for (const s of steps) {
        if (s.kind === 'wait') {
          now += s.ms;
          nat.sweep(now);
          for (const [k, v] of live) if (v.deadline <= now) live.delete(k);
        } else {
          const dst = FAR + s.d;
          const tuple = `${s.sport}>${s.d}:${s.port}`;
          const key = `${s.d}:${s.port}`;
          const known = nat.lookupInside(INSIDE, dst, s.sport, s.port, UDP) !== NO_FLOW;
          expect(known).toBe(live.has(tuple));
          if (known) continue; // the data plane touches a known session; no new count
          const f = nat.create(INSIDE, dst, s.sport, s.port, UDP, now);
          const n = counts().get(key) ?? 0;
          if (n >= maxPer) expect(f).toBe(-1);
          else if (live.size >= maxSessions) expect(f).toBe(-2);
          else {
            expect(f).toBeGreaterThanOrEqual(0);
            live.set(tuple, { key, deadline: now + idleMs });
          }
        }
        const m = counts();
        expect(nat.destinations.size).toBe(m.size);
        for (let d = 0; d < 12; d++) {
          for (const port of [53, 443]) expect(nat.destinations.get(FAR + d, ppOf(port, UDP))).toBe(m.get(`${d}:${port}`) ?? 0);
        }
      }
      expect(nat.destinations.underflows).toBe(0);
    }), 200);
  });
});
