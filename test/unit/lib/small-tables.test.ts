/**
 * The small data-plane tables in lib/: bounded whatever the keys, every loop
 * ends, and where outsiders pick keys the slot depends on a per-table seed
 * (keys aimed at one slot under a known seed do not collide under another).
 */
import { describe, expect, it } from 'vitest';
import { FragCache } from '../../../src/lib/frag-cache.js';
import { IpIndex, NOT_FOUND } from '../../../src/lib/ip-index.js';
import { HeavyHitters } from '../../../src/lib/heavy-hitters.js';
import { hash1, hash3 } from '../../../src/lib/hash.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const SEED = 0xf4a9;
const VICTIM = ipToU32('198.18.1.10');
const SERVER = ipToU32('203.0.113.7');

describe('FragCache', () => {
  /** First-fragment keys (attacker sources) that share the victim's slot under `seed` in a cache of `slots`. */
  function aimedAt(victimId: number, n: number, slots: number, seed: number): number[] {
    const target = hash3(VICTIM, SERVER, (victimId << 8) | 17, seed) & (slots - 1);
    const out: number[] = [];
    for (let src = ipToU32('198.51.100.0'); out.length < n; src++) if ((hash3(src, SERVER, (1 << 8) | 17, seed) & (slots - 1)) === target) out.push(src);
    return out;
  }

  it('first fragments aimed at a datagram\'s slot under a known seed overwrite it only under that seed', () => {
    const attackers = aimedAt(4242, 8, 4096, SEED);
    const known = new FragCache(4096, 30_000, SEED);
    const other = new FragCache(4096, 30_000, SEED ^ 0x1f2e3d4c);
    for (const c of [known, other]) {
      c.allow(VICTIM, SERVER, 4242, 17, 1_000);
      for (const src of attackers) c.allow(src, SERVER, 1, 17, 1_001);
    }
    expect(known.allowed(VICTIM, SERVER, 4242, 17, 1_002)).toBe(false);
    expect(other.allowed(VICTIM, SERVER, 4242, 17, 1_002)).toBe(true);
  });

  it('holds a fixed number of slots and expires entries after ttlMs', () => {
    const c = new FragCache(16, 100, SEED);
    for (let id = 0; id < 10_000; id++) c.allow(VICTIM, SERVER, id, 6, 1_000); // far beyond 16 slots: overwrites, nothing grows
    expect(c.allowed(VICTIM, SERVER, 9_999, 6, 1_050)).toBe(true);
    expect(c.allowed(VICTIM, SERVER, 9_999, 6, 1_100)).toBe(false);
    expect(() => new FragCache(0)).toThrow(RangeError);
    expect(() => new FragCache(Infinity)).toThrow(RangeError);
  });
});

describe('IpIndex', () => {
  /** Addresses whose home slot is `slot` under `seed` in `capacity` slots. */
  function sameHome(n: number, capacity: number, seed: number, slot: number): number[] {
    const out: number[] = [];
    for (let a = ipToU32('198.18.0.1'); out.length < n; a++) if ((hash1(a | 0, seed) & (capacity - 1)) === slot) out.push(a);
    return out;
  }

  it('finds every key and misses absent ones with the table half full of same-home keys', () => {
    const idx = new IpIndex(32, SEED);
    const keys = sameHome(idx.capacity / 2, idx.capacity, SEED, 9);
    keys.forEach((k, i) => idx.set(k, i));
    keys.forEach((k, i) => expect(idx.get(k)).toBe(i));
    expect(idx.get(ipToU32('203.0.113.1'))).toBe(NOT_FOUND); // a miss ends at the run's empty slot
    expect(() => idx.set(ipToU32('203.0.113.2'), 1)).toThrow(RangeError); // over half: refused, never a table with no empty slot
  });

  it('spreads keys aimed at one slot when the seed differs', () => {
    const keys = sameHome(16, 64, SEED, 9);
    const idx = new IpIndex(32, SEED ^ 0x77777);
    expect(idx.capacity).toBe(64);
    keys.forEach((k, i) => idx.set(k, i));
    // Under the table's own seed the keys land on distinct homes for the most part.
    const homes = new Set(keys.map((k) => hash1(k | 0, SEED ^ 0x77777) & 63));
    expect(homes.size).toBeGreaterThan(8);
    keys.forEach((k, i) => expect(idx.get(k)).toBe(i));
  });

  it('rejects a value that would read as an empty slot', () => {
    const idx = new IpIndex(4, SEED);
    expect(() => idx.set(1, NOT_FOUND)).toThrow(RangeError);
    expect(() => idx.set(1, 1.5)).toThrow(RangeError);
    idx.set(0xffffffff, 3); // u32 and int32 forms of one address are the same key
    expect(idx.get(-1)).toBe(3);
  });
});

describe('HeavyHitters', () => {
  it('stays at k counters under 100k distinct keys and keeps a source sending more than N/k', () => {
    const hh = new HeavyHitters(8);
    const heavy = ipToU32('198.51.100.66');
    for (let i = 0; i < 100_000; i++) {
      hh.add(ipToU32('203.0.113.0') + (i % 50_000) + 1000);
      if (i % 4 === 0) hh.add(heavy);
    }
    expect(hh.size).toBe(8);
    expect(hh.top(1)[0]!.key).toBe(heavy >>> 0);
  });
});
