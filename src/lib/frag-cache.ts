/**
 * Verdicts of first fragments, so later fragments (which carry no L4 header,
 * hence no ports to match rules or flows on) follow their first fragment.
 * Direct-mapped over (src, dst, IP id, protocol); an entry lives `ttlMs`.
 * A later fragment whose first fragment was not seen (or was refused) is
 * refused. Allocation-free.
 */
export class FragCache {
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  private readonly idProto: Uint32Array;
  private readonly expires: Float64Array;
  /** What the caller attached to the first fragment (e.g. the inside address a NAT maps it to). */
  private readonly value: Int32Array;
  private readonly mask: number;

  constructor(slots = 4096, private readonly ttlMs = 30_000) {
    let n = 16;
    while (n < slots) n <<= 1;
    this.mask = n - 1;
    this.src = new Int32Array(n);
    this.dst = new Int32Array(n);
    this.idProto = new Uint32Array(n);
    this.expires = new Float64Array(n);
    this.value = new Int32Array(n);
  }

  private slot(src: number, dst: number, idProto: number): number {
    let h = Math.imul(src ^ idProto, 0x9e3779b1) ^ dst;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) & this.mask;
  }

  /** Remembers that the first fragment of (src, dst, id, proto) passed. */
  allow(src: number, dst: number, id: number, proto: number, nowMs: number, value = 0): void {
    const ip = ((id << 8) | proto) >>> 0;
    const i = this.slot(src, dst, ip);
    this.src[i] = src | 0;
    this.dst[i] = dst | 0;
    this.idProto[i] = ip;
    this.expires[i] = nowMs + this.ttlMs;
    this.value[i] = value | 0;
  }

  allowed(src: number, dst: number, id: number, proto: number, nowMs: number): boolean {
    const ip = ((id << 8) | proto) >>> 0;
    const i = this.slot(src, dst, ip);
    return this.src[i] === (src | 0) && this.dst[i] === (dst | 0) && this.idProto[i] === ip && this.expires[i] > nowMs;
  }

  /** The value attached by allow() when (src, dst, id, proto) is allowed, else `none`. */
  valueOf(src: number, dst: number, id: number, proto: number, nowMs: number, none: number): number {
    const ip = ((id << 8) | proto) >>> 0;
    const i = this.slot(src, dst, ip);
    return this.src[i] === (src | 0) && this.dst[i] === (dst | 0) && this.idProto[i] === ip && this.expires[i] > nowMs ? this.value[i] : none;
  }
}
