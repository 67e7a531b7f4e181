/**
 * Verdicts of first fragments, so later fragments (which carry no L4 header,
 * hence no ports to match rules or flows on) follow their first fragment.
 * Direct-mapped over (src, dst, IP id, protocol, leg); an entry lives `ttlMs`.
 * A later fragment whose first fragment was not seen (or was refused) is
 * refused. Allocation-free.
 *
 * `leg` names the hop that judged the first fragment (the security stage
 * passes its crossing, sender and receiver ENI): a packet through an
 * appliance crosses twice, and its later fragments must follow the first
 * fragment's verdict on each crossing, never the verdict of another one
 * (a first fragment refused on the second crossing must not let its later
 * fragments through on the strength of the first crossing).
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
  /** The hop that judged the first fragment (exact; 0 when the caller has one hop). */
  private readonly leg: Float64Array;
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
    this.leg = new Float64Array(n);
    this.value = new Int32Array(n);
  }

  /** The one slot (src, dst, id, proto, leg) may use. */
  private slot(src: number, dst: number, idProto: number, leg: number): number {
    // Both halves of the leg (up to 2^48) feed the hash.
    const legMix = Math.imul((leg / 0x1000000) | 0, 0x9e3779b1) ^ (leg % 0x1000000);
    return hash3(src, (dst ^ legMix) | 0, idProto, this.seed) & this.mask;
  }

  /** Remembers that the first fragment of (src, dst, id, proto) passed on `leg`. */
  allow(src: number, dst: number, id: number, proto: number, nowMs: number, value = 0, leg = 0): void {
    const ip = ((id << 8) | proto) >>> 0;
    const i = this.slot(src, dst, ip, leg);
    this.src[i] = src | 0;
    this.dst[i] = dst | 0;
    this.idProto[i] = ip;
    this.leg[i] = leg;
    this.expires[i] = nowMs + this.ttlMs;
    this.value[i] = value | 0;
  }

  allowed(src: number, dst: number, id: number, proto: number, nowMs: number, leg = 0): boolean {
    const ip = ((id << 8) | proto) >>> 0;
    const i = this.slot(src, dst, ip, leg);
    return this.src[i] === (src | 0) && this.dst[i] === (dst | 0) && this.idProto[i] === ip && this.leg[i] === leg && this.expires[i] > nowMs;
  }

  /** The value attached by allow() when (src, dst, id, proto) is allowed on `leg`, else `none`. */
  valueOf(src: number, dst: number, id: number, proto: number, nowMs: number, none: number, leg = 0): number {
    return this.allowed(src, dst, id, proto, nowMs, leg) ? this.value[this.slot(src, dst, ((id << 8) | proto) >>> 0, leg)] : none;
  }

  /** The leg number of a crossing from ENI index s to ENI index r (-1: a gateway or the outside); indices < 2^24. */
  static leg(s: number, r: number): number {
    return (s + 1) * 0x1000000 + (r + 1);
  }
}
