/**
 * The per-source token buckets that guard the IKE control plane
 * (src/lib/rate-limiter.ts): exact token-bucket behaviour against a reference
 * model, and bounded memory and work when keys outnumber the table, including
 * keys chosen (with the seed known) to share one probe window.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash1 } from '../../../src/lib/hash.js';
import { RateLimiter } from '../../../src/lib/rate-limiter.js';

const LEGIT = 0xc6336414; // 198.51.100.20

/** Distinct keys whose probe window starts exactly where `key`'s does (an attacker who knows the seed). */
function collidingKeys(key: number, seed: number, mask: number, n: number): number[] {
  const want = hash1(key, seed) & mask;
  const out: number[] = [];
  for (let k = 1; out.length < n && k < 0x7fffffff; k++) {
    if (k !== key && (hash1(k, seed) & mask) === want) out.push(k);
  }
  return out;
}

describe('RateLimiter', () => {
  it('allows a burst, then one event per 1/rate seconds', () => {
    const r = new RateLimiter({ capacity: 16, ratePerSec: 4, burst: 3, seed: 1 });
    const t0 = 1000;
    expect([1, 2, 3, 4].map(() => r.allow(LEGIT, t0))).toEqual([true, true, true, false]);
    expect(r.allow(LEGIT, t0 + 249)).toBe(false);
    expect(r.allow(LEGIT, t0 + 250)).toBe(true);
    expect(r.allow(LEGIT, t0 + 250)).toBe(false);
    // an idle key refills to the burst, not beyond
    expect([1, 2, 3, 4].map(() => r.allow(LEGIT, t0 + 60_000))).toEqual([true, true, true, false]);
    // other keys have their own buckets
    expect(r.allow(LEGIT + 1, t0 + 60_000)).toBe(true);
  });

  it('agrees with a per-key token-bucket model while the table has room (seeded property)', () => {
    const seed = 0x7b0c;
    const numRuns = 300;
    console.log(`rate-limiter model property: fast-check seed ${seed}, ${numRuns} cases`);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 15 }), dt: fc.integer({ min: 0, max: 400 }) }), { minLength: 1, maxLength: 300 }),
        (burst, rate, events) => {
          // 16 keys in 256 slots: no probe window ever fills, so nothing is evicted and the model needs no table
          const r = new RateLimiter({ capacity: 256, ratePerSec: rate, burst, probes: 16, seed: 99 });
          const model = new Map<number, { tokens: number; at: number }>();
          let now = 5_000;
          for (const { key, dt } of events) {
            now += dt;
            const k = (key * 0x9e3779b1) >>> 0;
            const b = model.get(k);
            let ok: boolean;
            if (!b) {
              model.set(k, { tokens: burst - 1, at: now });
              ok = true;
            } else {
              b.tokens = Math.min(burst, b.tokens + (now - b.at) * (rate / 1000));
              b.at = now;
              ok = b.tokens >= 1;
              if (ok) b.tokens -= 1;
            }
            expect(r.allow(k, now)).toBe(ok);
          }
          expect(r.evictions).toBe(0);
        },
      ),
      { seed, numRuns },
    );
  });

  it('at capacity, adversarial keys aimed at one window: memory and probes stay bounded, an active source keeps its empty bucket, then refills', () => {
    const seed = 0x5eed;
    const r = new RateLimiter({ capacity: 64, ratePerSec: 1, burst: 2, probes: 8, seed });
    const attackers = collidingKeys(LEGIT, seed, r.capacity - 1, 5000);
    let now = 10_000;
    let calls = 0;
    const at = (key: number): boolean => {
      calls++;
      now += 0.001; // 5,000+ calls in ~6 ms: refill stays far below one token
      return r.allow(key, now);
    };
    expect([at(LEGIT), at(LEGIT), at(LEGIT)]).toEqual([true, true, false]);
    let legitAllowed = 0;
    let attackersAllowed = 0;
    attackers.forEach((k, i) => {
      if (at(k)) attackersAllowed++;
      // the legitimate peer keeps sending, more often than once per (probes - 1) insertions into its window
      if (i % (r.probes - 2) === 0 && at(LEGIT)) legitAllowed++;
    });
    expect(attackers.length).toBe(5000);
    expect(r.capacity).toBe(64);
    expect(r.size).toBeLessThanOrEqual(r.capacity);
    expect(r.evictions).toBeGreaterThan(4000); // the window really was full and contested
    expect(r.slotVisits).toBeLessThanOrEqual(calls * r.probes); // no endless probing
    expect(attackersAllowed).toBe(5000); // each new key gets a fresh bucket (bounded only by the table)
    expect(legitAllowed).toBe(0); // its bucket was not reset by eviction
    now += 1000; // one token at 1/s
    expect(at(LEGIT)).toBe(true);
    expect(at(LEGIT)).toBe(false);
  });

  it('a spray of distinct sources ten times the capacity fills the table and no more; an idle source is admitted after it', () => {
    const r = new RateLimiter({ capacity: 1024, ratePerSec: 2, burst: 4, seed: 0xabc });
    let now = 1;
    expect([1, 2, 3, 4, 5].map(() => r.allow(LEGIT, now))).toEqual([true, true, true, true, false]);
    const n = 10 * r.capacity;
    for (let i = 0; i < n; i++) {
      now += 0.01;
      r.allow((0xcb007100 + i * 7919) >>> 0, now);
    }
    expect(r.size).toBe(r.capacity);
    expect(r.evictions).toBeGreaterThanOrEqual(n - r.capacity);
    expect(r.slotVisits).toBeLessThanOrEqual((n + 5) * r.probes);
    now += 500; // one token at 2/s (or a fresh bucket if the spray evicted it)
    expect(r.allow(LEGIT, now)).toBe(true);
  });
});
