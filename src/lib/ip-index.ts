/**
 * IPv4 address -> small integer (instance index, gateway index...), in typed
 * arrays: open addressing with linear probing, fixed capacity, built once per
 * configuration snapshot. get() allocates nothing.
 *
 * Bounds: at most half the slots hold keys (set() throws past that), so every
 * probe meets an empty slot and ends; the loops are also capped at the slot
 * count. The keys come from the configuration, but get() runs on addresses
 * outsiders pick (every packet from the internet), so the hash is seeded per
 * process: nobody can aim lookups at the longest probe run.
 */
import { hash1, nextPow2, randomSeed } from './hash.js';

export const NOT_FOUND = -1;

export class IpIndex {
  /** int32 bit patterns: a u32 >= 2^31 would be boxed across a call (lib/hash.ts). */
  private readonly keys: Int32Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  private readonly seed: number;
  size = 0;

  /** `expected` entries; capacity is the next power of two >= 2x that. seed: fixed in tests, random per process otherwise. */
  constructor(expected: number, seed: number = randomSeed()) {
    if (!Number.isInteger(expected) || expected < 0 || expected > 1 << 24) throw new RangeError('IpIndex size must be 0..2^24');
    const cap = nextPow2(Math.max(8, expected * 2));
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap).fill(NOT_FOUND);
    this.mask = cap - 1;
    this.seed = seed | 0;
  }

  /** Slots (a power of two). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Control plane. value >= 0 (NOT_FOUND marks an empty slot). */
  set(ip: number, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new RangeError(`IpIndex value must be 0..2^31-1, got ${value}`);
    ip |= 0;
    const { keys, vals, mask } = this;
    let i = hash1(ip, this.seed) & mask;
    for (let n = 0; n <= mask; n++, i = (i + 1) & mask) {
      if (vals[i] === NOT_FOUND) {
        if (this.size + 1 > (mask + 1) >>> 1) throw new RangeError('IpIndex over capacity');
        keys[i] = ip;
        vals[i] = value;
        this.size++;
        return;
      }
      if (keys[i] === ip) {
        vals[i] = value;
        return;
      }
    }
    throw new RangeError('IpIndex over capacity');
  }

  /** The value for ip (u32 or its int32 bit pattern), or NOT_FOUND. Never allocates. */
  get(ip: number): number {
    ip |= 0;
    const { keys, vals, mask } = this;
    let i = hash1(ip, this.seed) & mask;
    for (let n = 0; n <= mask; n++, i = (i + 1) & mask) {
      const v = vals[i];
      if (v === NOT_FOUND) return NOT_FOUND;
      if (keys[i] === ip) return v;
    }
    return NOT_FOUND;
  }
}
