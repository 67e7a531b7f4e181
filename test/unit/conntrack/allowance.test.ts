/**
 * Per-ENI tracked-connection allowance: a flow counts against each ENI that
 * tracks it from create() until it ends, an ENI at its allowance is refused
 * with ALLOWANCE_EXCEEDED (not FULL) and counted per ENI, other ENIs go on
 * opening flows, and the counts return to zero as flows expire or are
 * removed. Indices follow a reload's renumbering.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALLOWANCE_EXCEEDED, Conntrack, CtCounter, FULL, FlowFlag, FlowTuple, NO_INSTANCE, TRACKED_BOTH, initialTimeoutClass,
} from '../../../src/conntrack/conntrack.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { checkProperty } from '../../helpers/property.js';

const TIMEOUTS = { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
const ENI_IP = [ipToU32('198.18.1.10'), ipToU32('198.18.1.11'), ipToU32('198.18.2.20')];
const NET = ipToU32('203.0.113.0');
const A = 0, B = 1, C = 2;
const { TrackedEgress, TrackedIngress } = FlowFlag;

const orig = new FlowTuple();
const reply = new FlowTuple();

/** A TCP flow src:sport -> dst:80 from ENI `from` (or NO_INSTANCE) to ENI `to` (or NO_INSTANCE). */
function open(c: Conntrack, src: number, sport: number, dst: number, from: number, to: number, tracked: number, nowMs: number): number {
  orig.set(src, dst, sport, 80, 6, 0);
  reply.reverseOf(orig);
  const f = c.create(orig, reply, initialTimeoutClass(6), nowMs, 1, from, to, tracked);
  if (f >= 0) c.touch(f * 2, nowMs, 60, 0x02);
  return f;
}
const outbound = (c: Conntrack, eni: number, n: number, nowMs: number): number => open(c, ENI_IP[eni]!, 1024 + n, NET + 1 + (n % 200), eni, NO_INSTANCE, TrackedEgress, nowMs);
const inbound = (c: Conntrack, eni: number, n: number, nowMs: number): number => open(c, NET + 1 + (n % 200), 1024 + n, ENI_IP[eni]!, NO_INSTANCE, eni, TrackedIngress, nowMs);

describe('per-ENI tracked-connection allowance', () => {
  it('a flood from ENI A at its allowance does not stop ENI B (nor A\'s existing flows)', () => {
    const c = new Conntrack({ max: 1000, timeouts: TIMEOUTS }, 0xa11);
    c.setAllowances(Int32Array.of(100, 100, 0));
    for (let i = 0; i < 100; i++) expect(outbound(c, A, i, 1_000)).toBeGreaterThanOrEqual(0);
    expect(c.entriesPerEni[A]).toBe(100);
    expect(c.allowanceAvailableOf(A)).toBe(0);
    // The flood goes on: refused, counted against A only, distinct from FULL.
    for (let i = 100; i < 600; i++) expect(outbound(c, A, i, 1_000)).toBe(ALLOWANCE_EXCEEDED);
    expect(c.allowanceExceededPerEni[A]).toBe(500);
    expect(c.allowanceExceededPerEni[B]).toBe(0);
    expect(c.counters[CtCounter.EniAllowanceExceeded]).toBe(500);
    expect(c.counters[CtCounter.AllowanceExceeded]).toBe(0); // the table itself is not full
    // B opens flows as usual; C has no allowance of its own (0 = only the table's limit).
    for (let i = 0; i < 100; i++) expect(outbound(c, B, i, 1_000)).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 300; i++) expect(outbound(c, C, i, 1_000)).toBeGreaterThanOrEqual(0);
    expect(c.allowanceAvailableOf(C)).toBe(1000 - 500);
    // A's tracked flows are unaffected: still found.
    expect(c.lookup(ENI_IP[A]!, NET + 1, 1024, 80, 6, 0)).toBeGreaterThanOrEqual(0);
  });

  it('a SYN flood into ENI B from outside fills B\'s allowance, not A\'s', () => {
    const c = new Conntrack({ max: 1000, timeouts: TIMEOUTS }, 0xa12);
    c.setAllowances(Int32Array.of(50, 50, 0));
    let refused = 0;
    for (let i = 0; i < 400; i++) if (inbound(c, B, i, 1_000) === ALLOWANCE_EXCEEDED) refused++;
    expect(refused).toBe(350);
    expect(c.entriesPerEni[B]).toBe(50);
    expect(c.allowanceExceededPerEni[B]).toBe(350);
    for (let i = 0; i < 50; i++) expect(outbound(c, A, i, 1_000)).toBeGreaterThanOrEqual(0);
    expect(inbound(c, A, 999, 1_000)).toBe(ALLOWANCE_EXCEEDED); // now A is at its own allowance too
    expect(c.allowanceExceededPerEni[A]).toBe(1);
  });

  it('charges both ENIs of an ENI-to-ENI flow, each at most once; refuses when either is at its allowance', () => {
    const c = new Conntrack({ max: 100, timeouts: TIMEOUTS }, 0xa13);
    c.setAllowances(Int32Array.of(3, 10, 10));
    expect(open(c, ENI_IP[A]!, 1, ENI_IP[B]!, A, B, TRACKED_BOTH, 1_000)).toBeGreaterThanOrEqual(0);
    expect([c.entriesPerEni[A], c.entriesPerEni[B]]).toEqual([1, 1]);
    // Tracked only on the sender: the receiver is not charged.
    expect(open(c, ENI_IP[A]!, 2, ENI_IP[B]!, A, B, TrackedEgress, 1_000)).toBeGreaterThanOrEqual(0);
    expect([c.entriesPerEni[A], c.entriesPerEni[B]]).toEqual([2, 1]);
    // Untracked on both: nobody is charged.
    expect(open(c, ENI_IP[A]!, 3, ENI_IP[B]!, A, B, 0, 1_000)).toBeGreaterThanOrEqual(0);
    expect([c.entriesPerEni[A], c.entriesPerEni[B]]).toEqual([2, 1]);
    // The same ENI on both ends counts once.
    expect(open(c, ENI_IP[A]!, 4, ENI_IP[A]!, A, A, TRACKED_BOTH, 1_000)).toBeGreaterThanOrEqual(0);
    expect(c.entriesPerEni[A]).toBe(3);
    // A is full: a flow B -> A tracked on both is refused and charged to A only.
    expect(open(c, ENI_IP[B]!, 5, ENI_IP[A]!, B, A, TRACKED_BOTH, 1_000)).toBe(ALLOWANCE_EXCEEDED);
    expect([c.allowanceExceededPerEni[A], c.allowanceExceededPerEni[B]]).toEqual([1, 0]);
    expect([c.entriesPerEni[A], c.entriesPerEni[B]]).toEqual([3, 1]);
    // Untracked on A's side: A's allowance does not apply.
    expect(open(c, ENI_IP[B]!, 6, ENI_IP[A]!, B, A, TrackedEgress, 1_000)).toBeGreaterThanOrEqual(0);
    expect([c.entriesPerEni[A], c.entriesPerEni[B]]).toEqual([3, 2]);
  });

  it('an ENI-to-ENI flow refused because the sender is at its allowance counts the refusal against the sender only', () => {
    const c = new Conntrack({ max: 100, timeouts: TIMEOUTS }, 0xa18);
    c.setAllowances(Int32Array.of(1, 10, 0));
    expect(outbound(c, A, 0, 1_000)).toBeGreaterThanOrEqual(0); // A is at its allowance
    const before = c.counters[CtCounter.EniAllowanceExceeded]!;
    // Tracked on both ends: B (room left) and C (no allowance of its own) would be charged too, but are not at theirs.
    expect(open(c, ENI_IP[A]!, 1, ENI_IP[B]!, A, B, TRACKED_BOTH, 1_000)).toBe(ALLOWANCE_EXCEEDED);
    expect(open(c, ENI_IP[A]!, 2, ENI_IP[C]!, A, C, TRACKED_BOTH, 1_000)).toBe(ALLOWANCE_EXCEEDED);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([2, 0, 0]);
    expect(c.counters[CtCounter.EniAllowanceExceeded]! - before).toBe(2);
    expect(Array.from(c.entriesPerEni)).toEqual([1, 0, 0]);
    expect(c.entries).toBe(1);
  });

  it('counts return to zero when flows expire or are removed', () => {
    const c = new Conntrack({ max: 500, timeouts: TIMEOUTS }, 0xa14);
    c.setAllowances(Int32Array.of(100, 100, 100));
    const flows: number[] = [];
    for (let i = 0; i < 100; i++) flows.push(outbound(c, A, i, 1_000));
    for (let i = 0; i < 60; i++) flows.push(open(c, ENI_IP[B]!, 5000 + i, ENI_IP[C]!, B, C, TRACKED_BOTH, 1_000));
    expect(Array.from(c.entriesPerEni)).toEqual([100, 60, 60]);
    for (const f of flows.slice(0, 10)) c.remove(f);
    expect(Array.from(c.entriesPerEni)).toEqual([90, 60, 60]);
    expect(outbound(c, A, 777, 1_000)).toBeGreaterThanOrEqual(0); // room again
    c.sweep(1_000 + TIMEOUTS.tcp * 1000, 10_000, null);
    expect(c.entries).toBe(0);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0, 0]);
    for (let i = 0; i < 100; i++) expect(outbound(c, A, i, 200_000)).toBeGreaterThanOrEqual(0);
  });

  it('without setAllowances nothing changes: no ENI limit, no ALLOWANCE_EXCEEDED, FULL at max', () => {
    const c = new Conntrack({ max: 20, timeouts: TIMEOUTS }, 0xa15);
    for (let i = 0; i < 20; i++) expect(outbound(c, A, i, 1_000)).toBeGreaterThanOrEqual(0);
    expect(outbound(c, A, 20, 1_000)).toBe(FULL);
    expect(c.entriesPerEni).toHaveLength(0);
    expect(c.allowanceAvailableOf(A)).toBe(0);
  });

  it('reload: renumbered instances carry their counts; a lowered allowance keeps flows and refuses new ones', () => {
    const c = new Conntrack({ max: 200, timeouts: TIMEOUTS }, 0xa16);
    c.setAllowances(Int32Array.of(10, 10, 10));
    for (let i = 0; i < 10; i++) outbound(c, A, i, 1_000);
    for (let i = 0; i < 4; i++) outbound(c, B, i, 1_000);
    outbound(c, A, 99, 1_000); // refused, counted for A
    // New config: C removed, a new instance in front: A -> 1, B -> 2.
    c.setAllowances(Int32Array.of(0, 5, 10), Int32Array.of(1, 2, -1));
    expect(Array.from(c.entriesPerEni)).toEqual([0, 10, 4]);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([0, 1, 0]);
    // A (now index 1) is above its lowered allowance: its 10 flows stay, new ones are refused.
    expect(c.lookup(ENI_IP[A]!, NET + 1, 1024, 80, 6, 0)).toBeGreaterThanOrEqual(0);
    expect(open(c, ENI_IP[A]!, 5000, NET + 1, 1, NO_INSTANCE, TrackedEgress, 1_000)).toBe(ALLOWANCE_EXCEEDED);
    expect(c.allowanceExceededPerEni[1]).toBe(2);
    // B (now index 2) still has room.
    expect(open(c, ENI_IP[B]!, 5000, NET + 1, 2, NO_INSTANCE, TrackedEgress, 1_000)).toBeGreaterThanOrEqual(0);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 10, 5]);
    c.sweep(1_000 + TIMEOUTS.tcp * 1000, 10_000, null);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0, 0]);
    expect(() => c.setAllowances([1, -1])).toThrow(RangeError);
    expect(() => c.setAllowances([0.5])).toThrow(RangeError);
  });

  it('agrees with a model of live flows per ENI under random opens, removals and expiry (property)', () => {
    type Op = { kind: 'open'; from: number; to: number; tracked: number; n: number } | { kind: 'remove'; i: number } | { kind: 'wait' };
    const eni = fc.integer({ min: -1, max: 2 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('open' as const), from: eni, to: eni, tracked: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 5000 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), i: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const) }) },
    );
    checkProperty('per-ENI allowance vs model', fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 3 }), fc.array(op, { maxLength: 300 }), (allow: number[], ops: Op[]) => {
      const max = 24;
      const c = new Conntrack({ max, timeouts: TIMEOUTS }, 0xa17);
      c.setAllowances(allow);
      const live = new Map<number, number[]>(); // flow -> ENIs charged
      let now = 1_000;
      let exceeded = [0, 0, 0];
      for (const o of ops) {
        if (o.kind === 'wait') {
          now += TIMEOUTS.tcp * 1000;
          c.sweep(now, 10_000, null);
          live.clear();
        } else if (o.kind === 'remove') {
          const flows = [...live.keys()];
          if (flows.length === 0) continue;
          const f = flows[o.i % flows.length]!;
          c.remove(f);
          live.delete(f);
        } else {
          const tracked = (o.tracked & 1 ? TrackedEgress : 0) | (o.tracked & 2 ? TrackedIngress : 0);
          const charged: number[] = [];
          if (tracked & TrackedEgress && o.from >= 0) charged.push(o.from);
          if (tracked & TrackedIngress && o.to >= 0 && !charged.includes(o.to)) charged.push(o.to);
          const count = (e: number): number => [...live.values()].filter((ch) => ch.includes(e)).length;
          const over = charged.filter((e) => allow[e]! > 0 && count(e) >= allow[e]!);
          const src = o.from >= 0 ? ENI_IP[o.from]! : NET + 1;
          const dst = o.to >= 0 ? ENI_IP[o.to]! : NET + 2;
          orig.set(src, dst, 1024 + o.n, 80, 6, 0);
          const dup = c.lookupTuple(orig) >= 0 || c.lookupTuple(new FlowTuple().reverseOf(orig)) >= 0;
          if (dup) continue; // the data plane only creates flows it did not find
          const f = open(c, src, 1024 + o.n, dst, o.from, o.to, tracked, now);
          if (over.length > 0) {
            expect(f).toBe(ALLOWANCE_EXCEEDED);
            exceeded = exceeded.map((v, e) => v + (over.includes(e) ? 1 : 0));
          } else if (live.size >= max) {
            expect(f).toBe(FULL);
          } else {
            expect(f).toBeGreaterThanOrEqual(0);
            live.set(f, charged);
          }
        }
        for (let e = 0; e < 3; e++) expect(c.entriesPerEni[e]).toBe([...live.values()].filter((ch) => ch.includes(e)).length);
        expect(Array.from(c.allowanceExceededPerEni)).toEqual(exceeded);
        expect(c.entries).toBe(live.size);
      }
    }), 200);
  });
});
