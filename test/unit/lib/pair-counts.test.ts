/**
 * PairCounts (the NAT gateway's sessions per destination): agrees with a Map,
 * deletes keys at zero so any number of distinct keys over time fits, and
 * looks at no more than PAIR_MAX_PROBE slots whatever the keys, including
 * keys chosen to share one home slot under a known seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAIR_MAX_PROBE, PairCounts } from '../../../src/lib/pair-counts.js';
import { hash2 } from '../../../src/lib/hash.js';
import { checkProperty } from '../../helpers/property.js';

const SEED = 0x7e57;

/** `n` keys (a, 443 << 8 | 6) whose home slot is `slot` in a table of `capacity` slots under `seed`. */
function sameHome(n: number, capacity: number, seed: number, slot: number): number[] {
  const out: number[] = [];
  for (let a = 1; out.length < n; a++) if ((hash2(a, (443 << 8) | 6, seed) & (capacity - 1)) === slot) out.push(a);
  return out;
}

type Op = { kind: 'add' | 'sub' | 'get'; k: number };

describe('PairCounts', () => {
  it('agrees with a Map under random add/sub/get (tiny tables, a key pool larger than maxKeys)', () => {
    const pool = Array.from({ length: 24 }, (_, i) => [i * 0x01000193, (i % 3) * 0x10000 + 17] as const);
    const op = fc.record({ kind: fc.constantFrom('add' as const, 'add' as const, 'sub' as const, 'get' as const), k: fc.integer({ min: 0, max: pool.length - 1 }) });
    checkProperty('PairCounts vs Map', fc.property(fc.constantFrom(1, 3, 8, 16), fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 300 }),
      (maxKeys: number, seed: number, ops: Op[]) => {
        const t = new PairCounts(maxKeys, seed);
        // Small tables: the probe window covers every slot, so only maxKeys refuses.
        expect(t.capacity).toBeLessThanOrEqual(PAIR_MAX_PROBE);
        const model = new Map<number, number>();
        let refused = 0, underflows = 0;
        for (const { kind, k } of ops) {
          const [a, b] = pool[k]!;
          const m = model.get(k) ?? 0;
          if (kind === 'add') {
            const ok = t.add(a, b);
            const expectOk = m > 0 || model.size < maxKeys;
            expect(ok).toBe(expectOk);
            if (expectOk) model.set(k, m + 1);
            else refused++;
          } else if (kind === 'sub') {
            expect(t.sub(a, b)).toBe(m > 0);
            if (m > 1) model.set(k, m - 1);
            else if (m === 1) model.delete(k);
            else underflows++;
          } else {
            expect(t.get(a, b)).toBe(m);
          }
          expect(t.lastProbes).toBeLessThanOrEqual(PAIR_MAX_PROBE);
          expect(t.size).toBe(model.size);
          for (let i = 0; i < pool.length; i++) expect(t.get(pool[i]![0], pool[i]![1])).toBe(model.get(i) ?? 0);
        }
        expect(t.refused).toBe(refused);
        expect(t.underflows).toBe(underflows);
      }), 300);
  });

  it('same-home keys under the table seed: at most PAIR_MAX_PROBE of them fit, every call stays within the window', () => {
    const t = new PairCounts(1024, SEED);
    const keys = sameHome(300, t.capacity, SEED, 5);
    let added = 0;
    for (const a of keys) {
      if (t.add(a, (443 << 8) | 6)) added++;
      expect(t.lastProbes).toBeLessThanOrEqual(PAIR_MAX_PROBE);
    }
    expect(added).toBe(PAIR_MAX_PROBE);
    expect(t.refused).toBe(300 - PAIR_MAX_PROBE);
    for (const a of keys) {
      t.get(a, (443 << 8) | 6);
      expect(t.lastProbes).toBeLessThanOrEqual(PAIR_MAX_PROBE);
    }
    // Deleting them all empties the table: no key left behind, no probe run left.
    for (const a of keys.slice(0, PAIR_MAX_PROBE)) expect(t.sub(a, (443 << 8) | 6)).toBe(true);
    expect(t.size).toBe(0);
    expect(t.maxProbe()).toBe(0);
    // And a key of that window fits again.
    expect(t.add(keys[PAIR_MAX_PROBE]!, (443 << 8) | 6)).toBe(true);
  });

  it('the same keys under another seed spread out (what a per-process seed buys)', () => {
    const keys = sameHome(300, 2048, SEED, 5);
    const t = new PairCounts(1024, SEED ^ 0x1234567);
    expect(t.capacity).toBe(2048);
    for (const a of keys) expect(t.add(a, (443 << 8) | 6)).toBe(true);
    expect(t.maxProbe()).toBeLessThan(16);
  });

  it('distinct keys far beyond capacity over time: entries at zero are deleted, the table ends empty', () => {
    const maxKeys = 1024;
    const t = new PairCounts(maxKeys, SEED);
    const live: number[] = [];
    let worstAdd = 0, worstSub = 0;
    const total = 20 * maxKeys;
    for (let a = 1; a <= total; a++) {
      if (live.length === maxKeys) {
        const old = live.shift()!;
        expect(t.sub(old, 17)).toBe(true);
        worstSub = Math.max(worstSub, t.lastProbes);
      }
      expect(t.add(a, 17)).toBe(true);
      worstAdd = Math.max(worstAdd, t.lastProbes);
      live.push(a);
    }
    console.log(`PairCounts churn: ${total} distinct keys through ${maxKeys} live keys (${t.capacity} slots); most slots looked at: add ${worstAdd}, sub ${worstSub}`);
    expect(worstAdd).toBeLessThanOrEqual(PAIR_MAX_PROBE);
    expect(worstSub).toBeLessThan(t.capacity); // the key's window plus the rest of its run, which ends at an empty slot
    expect(t.refused).toBe(0);
    expect(t.size).toBe(maxKeys);
    for (const a of live) expect(t.get(a, 17)).toBe(1);
    for (const a of live) t.sub(a, 17);
    expect(t.size).toBe(0);
    expect(t.maxProbe()).toBe(0);
  });

  it('refuses the key past maxKeys and counts it', () => {
    const t = new PairCounts(2, SEED);
    expect(t.add(1, 1)).toBe(true);
    expect(t.add(2, 1)).toBe(true);
    expect(t.add(3, 1)).toBe(false);
    expect(t.add(1, 1)).toBe(true); // an existing key still counts up
    expect(t.get(1, 1)).toBe(2);
    expect(t.refused).toBe(1);
    expect(t.sub(3, 1)).toBe(false);
    expect(t.underflows).toBe(1);
  });

  it('rejects a bad size', () => {
    expect(() => new PairCounts(0)).toThrow(RangeError);
    expect(() => new PairCounts(1.5)).toThrow(RangeError);
  });
});
