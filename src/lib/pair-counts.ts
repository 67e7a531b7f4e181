/**
 * (a, b) -> positive count, for counters keyed by something an outsider
 * picks (the NAT gateway's sessions per destination address, port and
 * protocol). Typed arrays only; nothing allocates after construction.
 *
 * Open addressing with linear probing, seeded hash (lib/hash.ts), and three
 * bounds that hold whatever keys arrive:
 * - at most `maxKeys` keys; the table has at least 2 × maxKeys slots, so
 *   there is always an empty slot;
 * - every key sits fewer than PAIR_MAX_PROBE slots from its home slot: an
 *   insert that finds no empty slot in that window is refused (counted in
 *   `refused`), so get() and add() look at no more than PAIR_MAX_PROBE slots;
 * - a key whose count falls to zero is deleted by backward shift (no
 *   tombstones), so churn through any number of distinct keys over time
 *   leaves the table exactly as full as its live keys.
 *
 * Backward shift only moves an entry closer to its home slot, so the window
 * bound survives deletions; and because no entry is more than
 * PAIR_MAX_PROBE - 1 slots from home, the shift stops looking once it is
 * PAIR_MAX_PROBE slots past the (moving) hole, or at an empty slot, of which
 * there is always one: sub() looks at the key's window plus at most the rest
 * of its probe run, short at <= 50% load with a seeded hash.
 */
import { hash2, nextPow2, randomSeed } from './hash.js';

/** Slots looked at, at most, by get() and add(). */
export const PAIR_MAX_PROBE = 64;

export class PairCounts {
  /** Slots (a power of two, >= 2 × maxKeys). */
  readonly capacity: number;
  readonly maxKeys: number;
  /** Keys with a non-zero count now. */
  size = 0;
  /** add() calls refused: maxKeys reached or no empty slot within PAIR_MAX_PROBE. */
  refused = 0;
  /** sub() calls for a key that had no count (an accounting error upstream). */
  underflows = 0;
  /** Slots examined by the last get/add/sub (instrumentation for tests; always small). */
  lastProbes = 0;
  private readonly mask: number;
  private readonly seed: number;
  private readonly keyA: Int32Array;
  private readonly keyB: Int32Array;
  /** 0 = empty slot (a key at zero is deleted). */
  private readonly counts: Int32Array;

  /** maxKeys >= 1; seed fixed in tests, random per process otherwise. */
  constructor(maxKeys: number, seed: number = randomSeed()) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 0x10000000) throw new RangeError('maxKeys must be 1..2^28');
    this.maxKeys = maxKeys;
    this.capacity = nextPow2(Math.max(16, maxKeys * 2));
    this.mask = this.capacity - 1;
    this.seed = seed | 0;
    this.keyA = new Int32Array(this.capacity);
    this.keyB = new Int32Array(this.capacity);
    this.counts = new Int32Array(this.capacity);
  }

  /** The count for (a, b), 0 when absent. Looks at most at PAIR_MAX_PROBE slots; never allocates. */
  get(a: number, b: number): number {
    const i = this.find(a | 0, b | 0);
    return i < 0 ? 0 : this.counts[i];
  }

  /**
   * Adds one to (a, b), inserting it at 1. False (and `refused` counted) when
   * the key is new and there is no room for it. Never allocates.
   */
  add(a: number, b: number): boolean {
    a |= 0;
    b |= 0;
    const { keyA, keyB, counts, mask } = this;
    let i = hash2(a, b, this.seed) & mask;
    for (let k = 0; k < PAIR_MAX_PROBE; k++, i = (i + 1) & mask) {
      if (counts[i] === 0) {
        this.lastProbes = k + 1;
        if (this.size >= this.maxKeys) break;
        keyA[i] = a;
        keyB[i] = b;
        counts[i] = 1;
        this.size++;
        return true;
      }
      if (keyA[i] === a && keyB[i] === b) {
        this.lastProbes = k + 1;
        counts[i]++;
        return true;
      }
    }
    this.refused++;
    return false;
  }

  /**
   * Takes one from (a, b); a key reaching zero is deleted (backward shift).
   * False (counted in `underflows`) when the key has no count. Never allocates.
   */
  sub(a: number, b: number): boolean {
    let hole = this.find(a | 0, b | 0);
    if (hole < 0) {
      this.underflows++;
      return false;
    }
    const { keyA, keyB, counts, mask, seed } = this;
    if (--counts[hole] > 0) return true;
    let steps = 0;
    // Entries further than PAIR_MAX_PROBE - 1 past the hole are closer to their
    // home than to the hole: none can move, so the scan stops there.
    for (let j = (hole + 1) & mask; counts[j] !== 0 && ((j - hole) & mask) < PAIR_MAX_PROBE; j = (j + 1) & mask) {
      steps++;
      const home = hash2(keyA[j], keyB[j], seed) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keyA[hole] = keyA[j];
        keyB[hole] = keyB[j];
        counts[hole] = counts[j];
        counts[j] = 0;
        hole = j;
      }
    }
    counts[hole] = 0;
    this.size--;
    this.lastProbes += steps;
    return true;
  }

  /** Calls fn(a, b, count) for every key (control plane: saving state, tests; O(capacity)). */
  forEach(fn: (a: number, b: number, count: number) => void): void {
    const { keyA, keyB, counts } = this;
    for (let i = 0; i < this.capacity; i++) if (counts[i] !== 0) fn(keyA[i], keyB[i], counts[i]);
  }

  /** Forgets every key (control plane; O(capacity)). */
  clear(): void {
    this.counts.fill(0);
    this.size = 0;
  }

  /** Longest distance of a key from its home slot (tests, diagnostics; O(capacity)). */
  maxProbe(): number {
    let worst = 0;
    const { keyA, keyB, counts, mask } = this;
    for (let i = 0; i < this.capacity; i++) {
      if (counts[i] === 0) continue;
      const d = (i - (hash2(keyA[i], keyB[i], this.seed) & mask)) & mask;
      if (d > worst) worst = d;
    }
    return worst;
  }

  private find(a: number, b: number): number {
    const { keyA, keyB, counts, mask } = this;
    let i = hash2(a, b, this.seed) & mask;
    for (let k = 0; k < PAIR_MAX_PROBE; k++, i = (i + 1) & mask) {
      if (counts[i] === 0) {
        this.lastProbes = k + 1;
        return -1;
      }
      if (keyA[i] === a && keyB[i] === b) {
        this.lastProbes = k + 1;
        return i;
      }
    }
    this.lastProbes = PAIR_MAX_PROBE;
    return -1;
  }
}
