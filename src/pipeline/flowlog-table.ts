/**
 * Flow-log accumulation for one aggregation interval, in typed arrays.
 *
 * AWS writes one record per flow (5-tuple) per ENI per direction per interval,
 * with ACCEPT or REJECT [VPC-FL]. The packet path calls record() for each ENI
 * a packet touched; the control plane drains the table at the end of each
 * interval (drain()) and formats records. Open addressing, linear probing,
 * fixed capacity; when full, packets are counted as skipped (the interval's
 * SKIPDATA record). record() allocates nothing.
 */

const KEY_WORDS = 6; // eni, src, dst, sport<<16|dport, proto<<8|action, (spare)
const NIL = -1;

export class FlowLogTable {
  readonly capacity: number;
  private readonly mask: number;
  readonly keys: Int32Array;
  readonly used: Int32Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** Unix ms of first/last packet in the interval. */
  readonly firstMs: Float64Array;
  readonly lastMs: Float64Array;
  /** Slots in use, in insertion order (drain walks these only). */
  readonly order: Int32Array;
  size = 0;
  /** Packets not recorded because the table was full this interval. */
  skippedPackets = 0;
  /** Interval start, Unix ms. */
  intervalStartMs = 0;

  constructor(capacity = 65_536) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.capacity = capacity;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * KEY_WORDS);
    this.used = new Int32Array(cap).fill(NIL);
    this.packets = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
    this.firstMs = new Float64Array(cap);
    this.lastMs = new Float64Array(cap);
    this.order = new Int32Array(capacity);
  }

  /** One packet of `len` IP bytes seen on ENI `eni` with `action` (1 ACCEPT, 0 REJECT) at Unix ms `nowMs`. */
  record(eni: number, src: number, dst: number, sport: number, dport: number, proto: number, action: number, len: number, nowMs: number): void {
    const ports = (sport << 16) | dport;
    src |= 0;
    dst |= 0;
    const pa = (proto << 8) | action;
    let h = Math.imul(eni ^ src, 0x9e3779b1) ^ Math.imul(dst ^ ports, 0x85ebca6b) ^ pa;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    const { keys, used, mask } = this;
    for (let i = (h ^ (h >>> 13)) & mask; ; i = (i + 1) & mask) {
      const u = used[i];
      const k = i * KEY_WORDS;
      if (u === NIL) {
        if (this.size >= this.capacity) {
          this.skippedPackets++;
          return;
        }
        keys[k] = eni;
        keys[k + 1] = src;
        keys[k + 2] = dst;
        keys[k + 3] = ports;
        keys[k + 4] = pa;
        used[i] = this.size;
        this.order[this.size++] = i;
        this.packets[i] = 1;
        this.bytes[i] = len;
        this.firstMs[i] = nowMs;
        this.lastMs[i] = nowMs;
        return;
      }
      if (keys[k] === eni && keys[k + 1] === src && keys[k + 2] === dst && keys[k + 3] === ports && keys[k + 4] === pa) {
        this.packets[i]++;
        this.bytes[i] += len;
        this.lastMs[i] = nowMs;
        return;
      }
    }
  }

  /** Visits every record of the interval, then empties the table. Control plane. */
  drain(visit: (eni: number, src: number, dst: number, sport: number, dport: number, proto: number, accept: boolean,
    packets: number, bytes: number, firstMs: number, lastMs: number) => void): { skipped: number } {
    const { keys } = this;
    for (let n = 0; n < this.size; n++) {
      const i = this.order[n];
      const k = i * KEY_WORDS;
      visit(keys[k], keys[k + 1] >>> 0, keys[k + 2] >>> 0, keys[k + 3] >>> 16, keys[k + 3] & 0xffff, keys[k + 4] >>> 8, (keys[k + 4] & 1) === 1,
        this.packets[i], this.bytes[i], this.firstMs[i], this.lastMs[i]);
      this.used[i] = NIL;
    }
    const skipped = this.skippedPackets;
    this.size = 0;
    this.skippedPackets = 0;
    return { skipped };
  }
}
