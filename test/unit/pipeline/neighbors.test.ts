/**
 * The uplink neighbour table under hostile traffic: fixed capacity, every
 * call looks at no more than NEIGHBOR_MAX_PROBE slots whatever the addresses
 * (same-home addresses under a known seed, or many times the capacity in
 * distinct ones), entries age and expire, the stalest is evicted (one with
 * frames pending only when nothing else is left), ARP learns only addresses
 * it asked for, the frame queue stays bounded. Two model checks: exact
 * agreement with a Map when no eviction can happen, and soundness (never a
 * wrong MAC) when it does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NeighborTable, NEIGHBOR_INCOMPLETE_MS, NEIGHBOR_MAX_PROBE, NEIGHBOR_PROBE_MS, NEIGHBOR_REACHABLE_MS,
  NEIGHBOR_REQUEST_INTERVAL_MS, PENDING_MS,
} from '../../../src/pipeline/neighbors.js';
import { hash1 } from '../../../src/lib/hash.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { checkProperty } from '../../helpers/property.js';

const SEED = 0x6e16;
const BASE = ipToU32('203.0.113.0');
const FRAME = new Uint8Array(100);

function mac(n: number): Uint8Array {
  return Uint8Array.of(0x02, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}
function macAt(t: NeighborTable, slot: number): string {
  return Buffer.from(t.macs.subarray(slot * 6, slot * 6 + 6)).toString('hex');
}
const hex = (m: Uint8Array): string => Buffer.from(m).toString('hex');

/** `n` addresses whose home slot is `slot` in a table of `capacity` slots under `seed`. */
function sameHome(n: number, capacity: number, seed: number, slot: number): number[] {
  const out: number[] = [];
  for (let a = ipToU32('198.18.0.1'); out.length < n; a++) if ((hash1(a | 0, seed) & (capacity - 1)) === slot) out.push(a);
  return out;
}

/** What the packet path does to send to ip: lookup, else request + hold. Returns the slot or -1. */
function send(t: NeighborTable, ip: number, nowMs: number): { slot: number; requested: boolean } {
  const slot = t.lookup(ip, nowMs);
  if (slot >= 0) return { slot, requested: false };
  const requested = t.shouldRequest(ip, nowMs);
  t.hold(ip, 1, FRAME, 0, FRAME.length, nowMs);
  return { slot: -1, requested };
}

describe('NeighborTable', () => {
  it('resolves: request once a second, hold, learn the answer, then hit', () => {
    const t = new NeighborTable(64, 8, 256, SEED);
    const ip = BASE + 1;
    expect(t.lookup(ip, 1_000)).toBe(-1);
    expect(t.shouldRequest(ip, 1_000)).toBe(true);
    expect(t.shouldRequest(ip, 1_000 + NEIGHBOR_REQUEST_INTERVAL_MS - 1)).toBe(false);
    expect(t.hold(ip, 3, FRAME, 0, 60, 1_000)).toBe(true);
    expect(t.pendingCount).toBe(1);
    expect(t.learn(ip, mac(1), 0, 1_010)).toBe(true);
    const slot = t.lookup(ip, 1_020);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(macAt(t, slot)).toBe(hex(mac(1)));
  });

  it('learns only what it asked for: unsolicited ARP from 10x capacity addresses is refused and fills nothing', () => {
    const t = new NeighborTable(64, 8, 256, SEED);
    const before = t.unsolicited;
    for (let i = 0; i < 10 * t.capacity; i++) {
      expect(t.learn(BASE + 1000 + i, mac(i), 0, 1_000)).toBe(false);
      expect(t.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
    }
    expect(t.unsolicited - before).toBe(10 * t.capacity);
    for (let i = 0; i < 10 * t.capacity; i += 97) expect(t.lookup(BASE + 1000 + i, 1_000)).toBe(-1);
    // The table is as empty as before: a real resolution fits without evicting anything.
    expect(t.shouldRequest(BASE + 1, 1_000)).toBe(true);
    expect(t.learn(BASE + 1, mac(1), 0, 1_000)).toBe(true);
    expect(t.lookup(BASE + 1, 1_000)).toBeGreaterThanOrEqual(0);
    expect(t.evicted).toBe(0);
  });

  it('ages: reachable for NEIGHBOR_REACHABLE_MS, then re-resolved while still used, then dropped', () => {
    const t = new NeighborTable(64, 8, 256, SEED);
    const ip = BASE + 2;
    const t0 = 10_000;
    t.shouldRequest(ip, t0);
    t.learn(ip, mac(2), 0, t0);
    expect(t.lookup(ip, t0 + NEIGHBOR_REACHABLE_MS - 1)).toBeGreaterThanOrEqual(0);
    // Stale: the first frame goes the miss path, which sends a new request ...
    const stale = t0 + NEIGHBOR_REACHABLE_MS;
    expect(t.lookup(ip, stale)).toBe(-1);
    expect(t.shouldRequest(ip, stale)).toBe(true);
    // ... and until the next request is due the old MAC is still used.
    expect(t.lookup(ip, stale + 10)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(ip, stale + NEIGHBOR_REQUEST_INTERVAL_MS)).toBe(-1);
    // No answer through the probe time: the MAC is no longer used.
    const dead = t0 + NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS;
    t.shouldRequest(ip, dead - 1);
    expect(t.lookup(ip, dead)).toBe(-1);
    expect(t.lookup(ip, dead + 5)).toBe(-1);
    // Requests go on at most once a second; an answer makes it reachable again.
    expect(t.shouldRequest(ip, dead + 10)).toBe(false);
    const next = dead - 1 + NEIGHBOR_REQUEST_INTERVAL_MS;
    expect(t.shouldRequest(ip, next)).toBe(true);
    expect(t.learn(ip, mac(3), 0, next + 20)).toBe(true);
    const slot = t.lookup(ip, next + 30);
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(macAt(t, slot)).toBe(hex(mac(3)));
  });

  it('same-home addresses under the table seed: every call stays within the window; expired entries are reused before live ones are evicted', () => {
    const t = new NeighborTable(1024, 64, 256, SEED);
    const ips = sameHome(200, t.capacity, SEED, 17);
    let now = 1_000;
    for (const ip of ips) {
      t.shouldRequest(ip, now);
      expect(t.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
      expect(t.lookup(ip, now)).toBe(-1);
      expect(t.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
      now += 1;
    }
    // 200 addresses share one 16-slot window: all but 16 were evicted (live, unanswered, younger than NEIGHBOR_INCOMPLETE_MS).
    expect(t.evicted).toBe(200 - NEIGHBOR_MAX_PROBE);
    // Once they are past NEIGHBOR_INCOMPLETE_MS their slots are free to reuse: no eviction counted.
    now += NEIGHBOR_INCOMPLETE_MS;
    const evicted = t.evicted;
    for (const ip of ips.slice(0, NEIGHBOR_MAX_PROBE)) t.shouldRequest(ip, now);
    expect(t.evicted).toBe(evicted);
  });

  it('the same addresses under another seed spread out (what a per-process seed buys)', () => {
    const ips = sameHome(200, 2048, SEED, 17);
    const t = new NeighborTable(1024, 64, 256, SEED ^ 0x5a5a5a5);
    for (const ip of ips) t.shouldRequest(ip, 1_000);
    expect(t.evicted).toBe(0);
    for (const ip of ips) expect(t.learn(ip, mac(ip), 0, 1_000)).toBe(true);
  });

  it('20x capacity distinct peers (a spoofed-SYN flood): bounded work, and a learned neighbour in use stays', () => {
    const t = new NeighborTable(1024, 64, 256, SEED);
    const router = ipToU32('198.51.100.1');
    t.shouldRequest(router, 500);
    t.learn(router, mac(7), 0, 500);
    let worst = 0;
    let now = 1_000;
    const flood = 20 * t.capacity;
    for (let i = 0; i < flood; i++) {
      const r = send(t, (BASE + 0x10000 + i) >>> 0, now);
      expect(r.slot).toBe(-1);
      worst = Math.max(worst, t.lastProbes);
      if (i % 64 === 0) now += 1; // ~1.3 s of flood, inside the router's reachable time
      if (i % 1024 === 0) {
        const slot = t.lookup(router, now);
        expect(slot).toBeGreaterThanOrEqual(0);
        expect(macAt(t, slot)).toBe(hex(mac(7)));
      }
    }
    console.log(`neighbours: ${flood} distinct peers into ${t.capacity} slots; most slots one call looked at: ${worst}; evicted ${t.evicted}`);
    expect(worst).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
    expect(t.lookup(router, now)).toBeGreaterThanOrEqual(0);
    // The frame queue stayed bounded: at most its 64 slots held, the rest counted.
    expect(t.pendingCount).toBeLessThanOrEqual(t.pendingLen.length);
    expect(t.dropped).toBeGreaterThanOrEqual(flood - t.pendingLen.length);
  });

  it('evicts an entry with frames pending only when every entry of the window has some, and still terminates', () => {
    const t = new NeighborTable(1024, 64, 256, SEED);
    const ips = sameHome(NEIGHBOR_MAX_PROBE + 40, t.capacity, SEED, 3);
    const waiting = ips[0]!;
    let now = 1_000;
    send(t, waiting, now); // request + a frame held
    // 15 more fill the window without frames; 40 more churn through it.
    for (const ip of ips.slice(1)) {
      now += 1;
      t.shouldRequest(ip, now);
    }
    expect(t.evicted).toBe(40);
    expect(t.learn(waiting, mac(1), 0, now)).toBe(true); // still there
    // Now every entry of the window has a frame waiting.
    const t2 = new NeighborTable(1024, 64, 256, SEED);
    const win = ips.slice(0, NEIGHBOR_MAX_PROBE);
    for (const ip of win) send(t2, ip, now);
    expect(t2.pendingCount).toBe(NEIGHBOR_MAX_PROBE);
    expect(t2.shouldRequest(ips[NEIGHBOR_MAX_PROBE]!, now + 1)).toBe(true);
    expect(t2.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
    expect(t2.evicted).toBe(1);
    // The oldest waiting one went: its answer is now unsolicited.
    expect(t2.learn(win[0]!, mac(1), 0, now + 2)).toBe(false);
  });

  it('keeps the frame queue bounded and its count exact as frames expire and slots are reused', () => {
    const t = new NeighborTable(64, 4, 128, SEED);
    for (let i = 0; i < 4; i++) expect(t.hold(BASE + i, 1, FRAME, 0, 60, 1_000)).toBe(true);
    const dropped = t.dropped;
    expect(t.hold(BASE + 9, 1, FRAME, 0, 60, 1_000)).toBe(false);
    expect(t.dropped - dropped).toBe(1);
    expect(t.hold(BASE + 9, 1, FRAME, 0, 200, 1_000)).toBe(false); // larger than a slot
    // After PENDING_MS the old frames are dropped one by one as their slots are reused.
    const later = 1_000 + PENDING_MS + 1;
    for (let i = 0; i < 4; i++) expect(t.hold(BASE + 20 + i, 1, FRAME, 0, 60, later)).toBe(true);
    expect(t.pendingCount).toBe(4);
    expect(t.pendingLen.filter((l) => l >= 0)).toHaveLength(4);
    expect(t.dropped - dropped).toBe(2 + 4);
  });

  it('agrees with a Map of neighbours when no eviction can happen (property)', () => {
    // 16 addresses in a 16-slot table: every window is the whole table, so an address always finds its slot or an empty one.
    const pool = Array.from({ length: 16 }, (_, i) => (BASE + 1 + i * 7) >>> 0);
    type Op = { kind: 'lookup' | 'request' | 'learn' | 'hold'; a: number; dt: number; m: number };
    const op: fc.Arbitrary<Op> = fc.record({
      kind: fc.constantFrom('lookup' as const, 'request' as const, 'learn' as const, 'hold' as const),
      a: fc.integer({ min: 0, max: pool.length - 1 }),
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_500 }), fc.integer({ min: 20_000, max: 40_000 })),
      m: fc.integer({ min: 0, max: 3 }),
    });
    checkProperty('NeighborTable vs Map', fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 250 }), (seed: number, ops: Op[]) => {
      const t = new NeighborTable(8, 16, 128, seed);
      expect(t.capacity).toBe(16);
      // Model: address -> entry.
      type E = { mac: number; known: boolean; confirmed: number; requested: number; created: number };
      const model = new Map<number, E>();
      let now = 1_000;
      for (const o of ops) {
        now += o.dt;
        const ip = pool[o.a]!;
        const e = model.get(ip);
        if (o.kind === 'lookup') {
          let hit = false;
          if (e !== undefined && e.known) {
            const age = now - e.confirmed;
            hit = age < NEIGHBOR_REACHABLE_MS || (age < NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS && now - e.requested < NEIGHBOR_REQUEST_INTERVAL_MS);
          }
          const slot = t.lookup(ip, now);
          expect(slot >= 0).toBe(hit);
          if (hit) expect(macAt(t, slot)).toBe(hex(mac(e!.mac)));
        } else if (o.kind === 'request') {
          let m = e;
          if (m === undefined) {
            m = { mac: -1, known: false, confirmed: -Infinity, requested: -Infinity, created: now };
            model.set(ip, m);
          } else if (m.known && now - m.confirmed >= NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS) {
            m.known = false; // dead: resolved afresh
          }
          const due = now - m.requested >= NEIGHBOR_REQUEST_INTERVAL_MS;
          expect(t.shouldRequest(ip, now)).toBe(due);
          if (due) m.requested = now;
        } else if (o.kind === 'learn') {
          expect(t.learn(ip, mac(o.m), 0, now)).toBe(e !== undefined);
          if (e !== undefined) Object.assign(e, { mac: o.m, known: true, confirmed: now });
        } else {
          t.hold(ip, 1, FRAME, 0, 60, now);
        }
        expect(t.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
      }
      expect(t.evicted).toBe(0);
    }), 300);
  });

  it('never answers a wrong MAC under eviction and churn (property)', () => {
    const pool = Array.from({ length: 200 }, (_, i) => (BASE + 1 + i) >>> 0);
    type Op = { kind: 'lookup' | 'request' | 'learn'; a: number; dt: number; m: number };
    const op: fc.Arbitrary<Op> = fc.record({
      kind: fc.constantFrom('lookup' as const, 'request' as const, 'request' as const, 'learn' as const),
      a: fc.integer({ min: 0, max: pool.length - 1 }),
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000 })),
      m: fc.integer({ min: 0, max: 3 }),
    });
    checkProperty('NeighborTable soundness under eviction', fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 400 }), (seed: number, ops: Op[]) => {
      const t = new NeighborTable(16, 8, 128, seed); // 32 slots for 200 addresses
      const learned = new Map<number, { mac: number; at: number }>(); // last MAC learned per address
      const asked = new Set<number>();
      let now = 1_000;
      for (const o of ops) {
        now += o.dt;
        const ip = pool[o.a]!;
        if (o.kind === 'lookup') {
          const slot = t.lookup(ip, now);
          if (slot >= 0) {
            const l = learned.get(ip);
            expect(l).toBeDefined();
            expect(macAt(t, slot)).toBe(hex(mac(l!.mac)));
            expect(now - l!.at).toBeLessThan(NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS);
          }
        } else if (o.kind === 'request') {
          t.shouldRequest(ip, now);
          asked.add(ip);
        } else {
          const ok = t.learn(ip, mac(o.m), 0, now);
          if (!asked.has(ip)) expect(ok).toBe(false);
          if (ok) learned.set(ip, { mac: o.m, at: now });
        }
        expect(t.lastProbes).toBeLessThanOrEqual(NEIGHBOR_MAX_PROBE);
      }
    }), 200);
  });
});
