/**
 * Top-k of a stream of u32 keys with the Space-Saving algorithm (Metwally et
 * al., 2005) in fixed typed arrays: k counters, an unseen key replaces the
 * smallest one and inherits its count (+1), so counts are upper bounds and
 * any key seen more than N/k times is present. add() is O(k), allocation-free.
 * Used for "top denied sources" without unbounded label cardinality.
 */
export class HeavyHitters {
  readonly keys: Uint32Array;
  readonly counts: Float64Array;
  size = 0;

  constructor(readonly k = 64) {
    this.keys = new Uint32Array(k);
    this.counts = new Float64Array(k);
  }

  add(key: number): void {
    key >>>= 0;
    const { keys, counts } = this;
    let min = 0;
    for (let i = 0; i < this.size; i++) {
      if (keys[i] === key) {
        counts[i]++;
        return;
      }
      if (counts[i] < counts[min]) min = i;
    }
    if (this.size < this.k) {
      keys[this.size] = key;
      counts[this.size] = 1;
      this.size++;
      return;
    }
    keys[min] = key;
    counts[min]++;
  }

  /** The n largest, descending. Control plane. */
  top(n: number): { key: number; count: number }[] {
    const out: { key: number; count: number }[] = [];
    for (let i = 0; i < this.size; i++) out.push({ key: this.keys[i], count: this.counts[i] });
    return out.sort((a, b) => b.count - a.count).slice(0, n);
  }
}
