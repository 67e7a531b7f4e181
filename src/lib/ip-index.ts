/**
 * IPv4 address -> small integer (instance index, gateway index...), in typed
 * arrays: open addressing with linear probing, fixed capacity, built once per
 * configuration snapshot. lookup() allocates nothing.
 */
export const NOT_FOUND = -1;

export class IpIndex {
  /** Keys as int32 bit patterns: a u32 above 2^31 would be a boxed double when passed to slot(). */
  private readonly keys: Int32Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  size = 0;

  /** `expected` entries; capacity is the next power of two >= 2x that. */
  constructor(expected: number) {
    let cap = 8;
    while (cap < expected * 2) cap <<= 1;
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap).fill(NOT_FOUND);
    this.mask = cap - 1;
  }

  private static slot(ip: number, mask: number): number {
    let h = Math.imul(ip ^ (ip >>> 16), 0x45d9f3b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return (h ^ (h >>> 16)) & mask;
  }

  set(ip: number, value: number): void {
    ip |= 0;
    const { keys, vals, mask } = this;
    if (this.size + 1 > (mask + 1) >>> 1) throw new RangeError('IpIndex over capacity');
    for (let i = IpIndex.slot(ip, mask); ; i = (i + 1) & mask) {
      if (vals[i] === NOT_FOUND) {
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
  }

  get(ip: number): number {
    ip |= 0;
    const { keys, vals, mask } = this;
    for (let i = IpIndex.slot(ip, mask); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === NOT_FOUND) return NOT_FOUND;
      if (keys[i] === ip) return v;
    }
  }
}
