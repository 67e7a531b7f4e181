/**
 * IPv4 neighbours on a link vpcd routes onto (the internet gateway's uplink,
 * a customer gateway's WAN): ip -> MAC learned from ARP, and a small queue
 * of frames waiting for a resolution so the first packet of a flow is not
 * lost. All typed arrays; nothing allocates per packet.
 */
const EMPTY = -1;

export class NeighborTable {
  private readonly keys: Int32Array;
  private readonly used: Int8Array;
  readonly macs: Uint8Array;
  private readonly known: Uint8Array;
  private readonly requestedMs: Float64Array;
  private readonly mask: number;

  // pending frames
  readonly pendingData: Uint8Array;
  readonly pendingIp: Int32Array;
  readonly pendingLen: Int32Array;
  readonly pendingPort: Int32Array;
  readonly pendingMs: Float64Array;
  readonly pendingSlotSize: number;
  pendingCount = 0;
  /** Frames dropped because no resolution came, or the queue was full. */
  dropped = 0;

  constructor(slots = 1024, pendingSlots = 64, pendingSlotSize = 2048) {
    let n = 16;
    while (n < slots * 2) n <<= 1;
    this.mask = n - 1;
    this.keys = new Int32Array(n);
    this.used = new Int8Array(n).fill(EMPTY);
    this.macs = new Uint8Array(n * 6);
    this.known = new Uint8Array(n);
    // "Never" must be long ago: performance.now() starts at 0 with the process.
    this.requestedMs = new Float64Array(n).fill(-1e12);
    this.pendingSlotSize = pendingSlotSize;
    this.pendingData = new Uint8Array(pendingSlots * pendingSlotSize);
    this.pendingIp = new Int32Array(pendingSlots);
    this.pendingLen = new Int32Array(pendingSlots).fill(-1);
    this.pendingPort = new Int32Array(pendingSlots);
    this.pendingMs = new Float64Array(pendingSlots);
  }

  /** The slot for ip (existing or the empty slot where it would go). */
  slot(ip: number): number {
    ip |= 0;
    let h = Math.imul(ip ^ (ip >>> 16), 0x45d9f3b);
    h ^= h >>> 16;
    const m = this.mask;
    for (let i = h & m; ; i = (i + 1) & m) {
      if (this.used[i] === EMPTY || this.keys[i] === ip) return i;
    }
  }

  /** Slot index whose MAC (macs[slot*6..]) is known for ip, or -1. */
  lookup(ip: number): number {
    const i = this.slot(ip);
    return this.used[i] !== EMPTY && this.known[i] === 1 ? i : -1;
  }

  learn(ip: number, mac: Uint8Array, macOff: number): void {
    const i = this.slot(ip);
    if (this.used[i] === EMPTY) {
      this.used[i] = 1;
      this.keys[i] = ip | 0;
    }
    for (let k = 0; k < 6; k++) this.macs[i * 6 + k] = mac[macOff + k];
    this.known[i] = 1;
  }

  /** True when an ARP request for ip should go out now (at most one a second per address). */
  shouldRequest(ip: number, nowMs: number): boolean {
    const i = this.slot(ip);
    if (this.used[i] === EMPTY) {
      this.used[i] = 1;
      this.keys[i] = ip | 0;
      this.known[i] = 0;
    }
    if (nowMs - this.requestedMs[i] < 1000) return false;
    this.requestedMs[i] = nowMs;
    return true;
  }

  /** Keeps a copy of a frame until ip resolves; false (counted) when it cannot. */
  hold(ip: number, port: number, buf: Uint8Array, off: number, len: number, nowMs: number): boolean {
    if (len > this.pendingSlotSize) {
      this.dropped++;
      return false;
    }
    const n = this.pendingLen.length;
    let free = -1;
    for (let s = 0; s < n; s++) {
      if (this.pendingLen[s] < 0 || nowMs - this.pendingMs[s] > 3000) {
        if (this.pendingLen[s] >= 0) this.dropped++;
        free = s;
        break;
      }
    }
    if (free < 0) {
      this.dropped++;
      return false;
    }
    const pd = this.pendingData;
    const base = free * this.pendingSlotSize;
    for (let k = 0; k < len; k++) pd[base + k] = buf[off + k];
    this.pendingIp[free] = ip | 0;
    this.pendingLen[free] = len;
    this.pendingPort[free] = port;
    this.pendingMs[free] = nowMs;
    this.pendingCount++;
    return true;
  }
}
