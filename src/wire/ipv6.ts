import { readU16, readU32, writeU16, writeU32 } from './bytes.js';

// IPv6 fixed header (RFC 8200 §3)
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version| Traffic Class |           Flow Label                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Payload Length        |  Next Header  |   Hop Limit   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   +                                                               +
//   |                                                               |
//   +                         Source Address                        +
//   |                                                               |
//   +                                                               +
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   +                                                               +
//   |                                                               |
//   +                      Destination Address                      +
//   |                                                               |
//   +                                                               +
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Only the fixed header for now: extension headers are not walked
// (nextHeader is whatever follows the fixed header), jumbograms (payload
// length 0 + Hop-by-Hop option, RFC 2675) are not supported.
const VTF = 0, PAYLOAD_LEN = 4, NEXT = 6, HOP = 7, SRC = 8, DST = 24;
export const IPV6_HEADER_LEN = 40;

export const Ipv6Error = { None: 0, Truncated: 1, BadVersion: 2, BadPayloadLen: 3 } as const;
export type Ipv6Error = (typeof Ipv6Error)[keyof typeof Ipv6Error];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of an IPv6 fixed header. Addresses are four host-order u32
 * words each, read with src(i)/dst(i), i in 0..3 (word 0 is the most
 * significant); an index outside 0..3 is masked, never thrown on.
 * Contract: once check() has returned Ipv6Error.None, no getter reads outside
 * [off, end) and [off, off + 40 + payloadLen) lies within it.
 */
export class Ipv6View {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): Ipv6Error {
    const avail = this.end - this.off;
    if (avail < IPV6_HEADER_LEN) return Ipv6Error.Truncated;
    if (this.version !== 6) return Ipv6Error.BadVersion;
    if (IPV6_HEADER_LEN + this.payloadLen > avail) return Ipv6Error.BadPayloadLen;
    return Ipv6Error.None;
  }

  get version(): number { return this.buf[this.off + VTF] >>> 4; }
  get trafficClass(): number { return (readU16(this.buf, this.off + VTF) >>> 4) & 0xff; }
  get flowLabel(): number { return readU32(this.buf, this.off + VTF) & 0xfffff; }
  get payloadLen(): number { return readU16(this.buf, this.off + PAYLOAD_LEN); }
  set payloadLen(v: number) { writeU16(this.buf, this.off + PAYLOAD_LEN, v); }
  get nextHeader(): number { return this.buf[this.off + NEXT]; }
  set nextHeader(v: number) { this.buf[this.off + NEXT] = v; }
  get hopLimit(): number { return this.buf[this.off + HOP]; }
  set hopLimit(v: number) { this.buf[this.off + HOP] = v; }

  /** Word i (0..3, most significant first) of the source address, host-order u32. */
  src(i: number): number { return readU32(this.buf, this.off + SRC + ((i & 3) << 2)); }
  setSrc(i: number, v: number): void { writeU32(this.buf, this.off + SRC + ((i & 3) << 2), v); }
  dst(i: number): number { return readU32(this.buf, this.off + DST + ((i & 3) << 2)); }
  setDst(i: number, v: number): void { writeU32(this.buf, this.off + DST + ((i & 3) << 2), v); }
  /** Absolute offsets of the addresses (for pseudoHeaderSum6 and copies). */
  get srcOff(): number { return this.off + SRC; }
  get dstOff(): number { return this.off + DST; }

  /** Absolute offset of what follows the fixed header. */
  get payloadOff(): number { return this.off + IPV6_HEADER_LEN; }
  /** One past the packet's last byte per payloadLen. */
  get packetEnd(): number { return this.off + IPV6_HEADER_LEN + this.payloadLen; }
}
