/**
 * Verdicts of first fragments, so later fragments (which carry no L4 header,
 * hence no ports to match rules or flows on) follow their first fragment.
 * Direct-mapped over (src, dst, IP id, protocol); an entry lives `ttlMs`.
 * A later fragment whose first fragment was not seen (or was refused) is
 * refused. Allocation-free.
 *
 * Bounded by construction (one slot per key, no probing). Outsiders pick the
 * keys, so the slot is a seeded hash (per-process random seed unless a test
 * passes one): without it, a sender could aim first fragments at the slot of
 * someone else's datagram and overwrite it, and the victim's later fragments
 * would be refused. A flood of first fragments still overwrites slots at
 * random; an entry then lives about slots / (first fragments per second),
 * ample for fragments that arrive back to back.
 */
import { hash3, nextPow2, randomSeed } from './hash.js';

export class FragCache {
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  private readonly idProto: Uint32Array;
  private readonly expires: Float64Array;
  /** What the caller attached to the first fragment (e.g. the inside address a NAT maps it to). */
  private readonly value: Int32Array;
  private readonly mask: number;
  private readonly seed: number;

  constructor(slots = 4096, private readonly ttlMs = 30_000, seed: number = randomSeed()) {
    if (!Number.isInteger(slots) || slots < 1 || slots > 1 << 24) throw new RangeError('fragment cache slots must be 1..2^24');
    this.seed = seed | 0;
    const n = nextPow2(Math.max(16, slots));
    this.mask = n - 1;
    this.src = new Int32Array(n);
    this.dst = new Int32Array(n);
    this.idProto = new Uint32Array(n);
    this.expires = new Float64Array(n);
    this.value = new Int32Array(n);
  }

  /** The one slot (src, dst, id, proto) may use. */
  private slot(src: number, dst: number, idProto: number): number {
    return hash3(src, dst, idProto, this.seed) & this.mask;
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
