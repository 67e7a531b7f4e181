/**
 * Per-key token buckets in a fixed table of typed arrays: `allow(key, nowMs)`
 * spends one token of the key's bucket (`burst` tokens, refilled at
 * `ratePerSec`) and says whether the event may go on. Used to bound what one
 * source address can make the IKE control plane do (the idea of wireguard-go's
 * ratelimiter, in fixed memory).
 *
 * Bounds, whatever the keys: the table holds `capacity` entries (a power of
 * two); a key lives in one window of `probes` consecutive slots starting at
 * its seeded hash, so one call looks at no more than `probes` slots. Slots are
 * never emptied, only reused, so a lookup stops at the first empty slot.
 * When the window is full, the stalest entry (least recently seen) is
 * replaced. A source that keeps sending keeps its entry fresh, so a spray of
 * other keys does not reset its bucket; an evicted key simply starts again
 * with a full bucket. The hash is seeded per process (randomSeed()) so that
 * an outsider cannot pick keys that share a window.
 *
 * allow() never allocates.
 */
import { hash1, nextPow2, randomSeed } from './hash.js';

export interface RateLimiterOptions {
  /** Table entries (rounded up to a power of two, at least `probes`). */
  readonly capacity: number;
  /** Tokens added per second to each bucket. */
  readonly ratePerSec: number;
  /** Bucket size: events a fresh or idle key may have at once (>= 1). */
  readonly burst: number;
  /** Slots looked at per call (default 8). */
  readonly probes?: number;
  /** Hash seed (default: random per process; tests pass a fixed one). */
  readonly seed?: number;
}

export class RateLimiter {
  readonly capacity: number;
  readonly probes: number;
  private readonly mask: number;
  private readonly seed: number;
  private readonly perMs: number;
  private readonly burst: number;
  private readonly keys: Uint32Array;
  private readonly used: Uint8Array;
  private readonly tokens: Float64Array;
  /** Last time the key was seen (refill reference and staleness). */
  private readonly seenMs: Float64Array;
  /** Entries in use. */
  size = 0;
  /** Entries replaced because their window was full. */
  evictions = 0;
  /** Slots looked at, over all calls (at most `probes` per call). */
  slotVisits = 0;

  constructor(opts: RateLimiterOptions) {
    const probes = Math.max(1, Math.floor(opts.probes ?? 8));
    if (!(opts.ratePerSec >= 0) || !(opts.burst >= 1) || !(opts.capacity >= 1)) throw new Error('rate limiter: capacity >= 1, burst >= 1, ratePerSec >= 0');
    this.capacity = nextPow2(Math.max(opts.capacity, probes));
    this.probes = Math.min(probes, this.capacity);
    this.mask = this.capacity - 1;
    this.seed = (opts.seed ?? randomSeed()) >>> 0;
    this.perMs = opts.ratePerSec / 1000;
    this.burst = opts.burst;
    this.keys = new Uint32Array(this.capacity);
    this.used = new Uint8Array(this.capacity);
    this.tokens = new Float64Array(this.capacity);
    this.seenMs = new Float64Array(this.capacity);
  }

  /** Spends a token of `key` (a u32, e.g. an IPv4 address) at `nowMs`; false when its bucket is empty. */
  allow(key: number, nowMs: number): boolean {
    key >>>= 0;
    const start = hash1(key, this.seed) & this.mask;
    let stalest = -1;
    for (let i = 0; i < this.probes; i++) {
      const slot = (start + i) & this.mask;
      this.slotVisits++;
      if (this.used[slot] === 0) return this.insert(slot, key, nowMs);
      if (this.keys[slot] === key) return this.spend(slot, nowMs);
      if (stalest < 0 || this.seenMs[slot] < this.seenMs[stalest]) stalest = slot;
    }
    this.evictions++;
    this.size--;
    return this.insert(stalest, key, nowMs);
  }

  private insert(slot: number, key: number, nowMs: number): boolean {
    this.used[slot] = 1;
    this.keys[slot] = key;
    this.tokens[slot] = this.burst - 1;
    this.seenMs[slot] = nowMs;
    this.size++;
    return true;
  }

  private spend(slot: number, nowMs: number): boolean {
    const elapsed = nowMs - this.seenMs[slot];
    let t = this.tokens[slot];
    if (elapsed > 0) {
      t = Math.min(this.burst, t + elapsed * this.perMs);
      this.seenMs[slot] = nowMs;
    }
    if (t < 1) {
      this.tokens[slot] = t;
      return false;
    }
    this.tokens[slot] = t - 1;
    return true;
  }
}
