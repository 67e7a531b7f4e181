/**
 * FlowPool: the bound on live flows, the order indices are handed out in,
 * and that a reused index starts with every field clean (a new connection
 * must not inherit the counters, state, policy or NAT binding of the flow
 * that held the index before).
 */
import { describe, expect, it } from 'vitest';
import { NO_CLASS } from '../../../src/conntrack/expiry.js';
import { FLOW_KEY_WORDS, FlowPool, NO_INSTANCE, POOL_EMPTY } from '../../../src/conntrack/flow-pool.js';

/** Writes a recognisable non-zero value into every per-flow field of `f`. */
function dirty(p: FlowPool, f: number, v: number): void {
  p.proto[f] = v;
  p.tcpState[f] = v;
  p.udpTransactions[f] = v;
  p.lastSeenMs[f] = v;
  p.createdMs[f] = v;
  p.packets[f * 2] = v;
  p.packets[f * 2 + 1] = v;
  p.bytes[f * 2] = v;
  p.bytes[f * 2 + 1] = v;
  p.epoch[f] = v;
  p.egressInstance[f] = v;
  p.ingressInstance[f] = v;
  p.flags[f] = v;
  p.natAddr[f] = v;
  p.natPort[f] = v;
}

/** Every per-flow field of `f`, in a fixed order. */
function fields(p: FlowPool, f: number): number[] {
  return [
    p.proto[f], p.tcpState[f], p.udpTransactions[f], p.lastSeenMs[f], p.createdMs[f],
    p.packets[f * 2], p.packets[f * 2 + 1], p.bytes[f * 2], p.bytes[f * 2 + 1],
    p.epoch[f], p.egressInstance[f], p.ingressInstance[f], p.flags[f], p.natAddr[f], p.natPort[f],
  ];
}
const CLEAN = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NO_INSTANCE, NO_INSTANCE, 0, 0, 0];

describe('FlowPool', () => {
  it('accepts 1..2^30-1 flows only', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 0x40000000]) expect(() => new FlowPool(bad), String(bad)).toThrow(/max must be 1\.\.2\^30-1/);
    const one = new FlowPool(1);
    expect(one.max).toBe(1);
    expect(one.key.length).toBe(FLOW_KEY_WORDS);
    expect(one.packets.length).toBe(2);
  });

  it('a new pool holds no flow and every field starts clean', () => {
    const p = new FlowPool(3);
    expect(p.count).toBe(0);
    for (let f = 0; f < 3; f++) {
      expect(p.live[f]).toBe(0);
      expect(p.timeoutClass[f]).toBe(NO_CLASS);
      expect([p.egressInstance[f], p.ingressInstance[f]]).toEqual([NO_INSTANCE, NO_INSTANCE]);
    }
    expect(NO_INSTANCE).toBeLessThan(0); // never mistaken for an instance index
  });

  it('hands out indices lowest first, at most max of them, then POOL_EMPTY', () => {
    const p = new FlowPool(4);
    expect([p.alloc(), p.alloc(), p.alloc(), p.alloc()]).toEqual([0, 1, 2, 3]);
    expect(p.count).toBe(4);
    expect(p.alloc()).toBe(POOL_EMPTY);
    expect(p.alloc()).toBe(POOL_EMPTY);
    expect(POOL_EMPTY).toBeLessThan(0); // never mistaken for a flow index
    expect(p.count).toBe(4);
    expect([0, 1, 2, 3].map((f) => p.live[f])).toEqual([1, 1, 1, 1]);
  });

  it('reuses the most recently freed index first', () => {
    const p = new FlowPool(4);
    for (let i = 0; i < 4; i++) p.alloc();
    expect(p.free(1)).toBe(true);
    expect(p.free(3)).toBe(true);
    expect(p.count).toBe(2);
    expect([p.live[1], p.live[3]]).toEqual([0, 0]);
    expect(p.alloc()).toBe(3);
    expect(p.alloc()).toBe(1);
    expect(p.alloc()).toBe(POOL_EMPTY);
  });

  it('freeing an index that is not allocated changes nothing (no double free, no count drift)', () => {
    const p = new FlowPool(3);
    const a = p.alloc();
    expect(p.free(2)).toBe(false); // never allocated
    expect(p.count).toBe(1);
    expect(p.free(a)).toBe(true);
    expect(p.free(a)).toBe(false); // twice
    expect(p.count).toBe(0);
    // the free list holds each index once: three allocations, three distinct indices, then empty
    const got = [p.alloc(), p.alloc(), p.alloc()];
    expect(new Set(got).size).toBe(3);
    expect(p.alloc()).toBe(POOL_EMPTY);
  });

  it('a reused index starts with every field clean, and its neighbours keep theirs', () => {
    const p = new FlowPool(4);
    for (let i = 0; i < 4; i++) dirty(p, p.alloc(), 10 + i);
    p.free(2);
    expect(p.alloc()).toBe(2);
    expect(fields(p, 2)).toEqual(CLEAN);
    // flows 1 and 3 (the direction slots on either side of flow 2's) are untouched
    expect(fields(p, 1)).toEqual(new Array(15).fill(11));
    expect(fields(p, 3)).toEqual(new Array(15).fill(13));
    p.free(3);
    expect(p.alloc()).toBe(3);
    expect(fields(p, 3)).toEqual(CLEAN);
    expect(fields(p, 2)).toEqual(CLEAN);
    expect(fields(p, 0)).toEqual(new Array(15).fill(10));
  });
});
