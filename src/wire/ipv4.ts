import { readI32, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksumUpdate16, onesSum } from './checksum.js';

// IPv4 header (RFC 791 §3.1)
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |Type of Service|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Options                    |    Padding    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags (3 bits): bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.
// Fragment Offset: 13 bits, in units of 8 octets.
// IHL counts 32-bit words: 5 (20 bytes, no options) to 15 (60 bytes).
const VER_IHL = 0, TOS = 1, TOTAL_LEN = 2, ID = 4, FLAGS_FRAG = 6, TTL = 8, PROTO = 9, CSUM = 10, SRC = 12, DST = 16;
export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;

const FLAG_DF = 0x4000, FLAG_MF = 0x2000, FRAG_MASK = 0x1fff;

/** Field offsets from the start of the header, for hot paths that read fields after ipv4Check(). */
export const Ipv4Field = { TotalLen: TOTAL_LEN, Id: ID, FlagsFrag: FLAGS_FRAG, Ttl: TTL, Proto: PROTO, Checksum: CSUM, Src: SRC, Dst: DST } as const;

/**
 * The whole check of an IPv4 packet at buf[off, end) in one call, for the
 * per-packet path (the same rules as Ipv4View.check() + verifyChecksum(),
 * without a getter per field): version 4, IHL 20..60 within [off, end),
 * headerLen <= totalLen <= end - off, and a valid header checksum. Returns
 * the header length in bytes, or -1.
 */
export function ipv4Check(buf: Uint8Array, off: number, end: number): number {
  if (end - off < IPV4_MIN_HEADER_LEN) return -1;
  const vihl = buf[off];
  if (vihl >>> 4 !== 4) return -1;
  const hlen = (vihl & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_LEN || hlen > end - off) return -1;
  const tlen = readU16(buf, off + TOTAL_LEN);
  if (tlen < hlen || tlen > end - off) return -1;
  return onesSum(buf, off, hlen) === 0xffff ? hlen : -1;
}

export const IpProto = { Icmp: 1, Tcp: 6, Udp: 17, Ipv6Icmp: 58, Esp: 50 } as const;
export type IpProto = (typeof IpProto)[keyof typeof IpProto];

/** Why check() refused a header. Also the index of its drop counter. */
export const Ipv4Error = { None: 0, Truncated: 1, BadVersion: 2, BadHeaderLen: 3, BadTotalLen: 4 } as const;
export type Ipv4Error = (typeof Ipv4Error)[keyof typeof Ipv4Error];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of an IPv4 header inside a frame buffer. A stage owns one
 * instance and re-aims it with at() for every packet: nothing is allocated per packet.
 * Contract: once check() has returned Ipv4Error.None, no getter reads outside
 * [off, end), and the packet [off, off + totalLen) lies within it; bytes past
 * totalLen (Ethernet padding) are not part of the packet.
 */
export class Ipv4View {
  buf: Uint8Array = EMPTY;
  /** Absolute offset of the header in buf. */
  off = 0;
  /** One past the last byte the frame owns. */
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  /** Validates a whole packet: header, options and totalLen within [off, end). */
  check(): Ipv4Error {
    const e = this.checkHeader();
    if (e !== Ipv4Error.None) return e;
    const tlen = this.totalLen;
    if (tlen < this.headerLen || tlen > this.end - this.off) return Ipv4Error.BadTotalLen;
    return Ipv4Error.None;
  }

  /**
   * Validates the header alone (version, IHL within [off, end)) and not
   * totalLen: for the original datagram quoted in an ICMP error, which is
   * truncated by design (RFC 792: header + 64 bits of data; RFC 1812 §4.3.2.3:
   * as much as fits). payloadLen is then meaningless: use end - payloadOff.
   */
  checkHeader(): Ipv4Error {
    const avail = this.end - this.off;
    if (avail < IPV4_MIN_HEADER_LEN) return Ipv4Error.Truncated;
    if (this.version !== 4) return Ipv4Error.BadVersion;
    const hlen = this.headerLen;
    if (hlen < IPV4_MIN_HEADER_LEN || hlen > avail) return Ipv4Error.BadHeaderLen;
    return Ipv4Error.None;
  }

  get version(): number { return this.buf[this.off + VER_IHL] >>> 4; }
  /** In bytes (IHL counts 32-bit words). */
  get headerLen(): number { return (this.buf[this.off + VER_IHL] & 0x0f) << 2; }
  /** Type of service / DSCP + ECN byte. */
  get tos(): number { return this.buf[this.off + TOS]; }
  set tos(v: number) { this.buf[this.off + TOS] = v; }
  get totalLen(): number { return readU16(this.buf, this.off + TOTAL_LEN); }
  set totalLen(v: number) { writeU16(this.buf, this.off + TOTAL_LEN, v); }
  get id(): number { return readU16(this.buf, this.off + ID); }
  set id(v: number) { writeU16(this.buf, this.off + ID, v); }

  /** Raw flags + fragment offset word. */
  get flagsFrag(): number { return readU16(this.buf, this.off + FLAGS_FRAG); }
  set flagsFrag(v: number) { writeU16(this.buf, this.off + FLAGS_FRAG, v); }
  get dontFragment(): boolean { return (readU16(this.buf, this.off + FLAGS_FRAG) & FLAG_DF) !== 0; }
  set dontFragment(v: boolean) {
    const w = readU16(this.buf, this.off + FLAGS_FRAG);
    writeU16(this.buf, this.off + FLAGS_FRAG, v ? w | FLAG_DF : w & ~FLAG_DF);
  }
  get moreFragments(): boolean { return (readU16(this.buf, this.off + FLAGS_FRAG) & FLAG_MF) !== 0; }
  set moreFragments(v: boolean) {
    const w = readU16(this.buf, this.off + FLAGS_FRAG);
    writeU16(this.buf, this.off + FLAGS_FRAG, v ? w | FLAG_MF : w & ~FLAG_MF);
  }
  /** Fragment offset as on the wire, in units of 8 octets. */
  get fragmentOffset(): number { return readU16(this.buf, this.off + FLAGS_FRAG) & FRAG_MASK; }
  set fragmentOffset(v: number) {
    const w = readU16(this.buf, this.off + FLAGS_FRAG);
    writeU16(this.buf, this.off + FLAGS_FRAG, (w & ~FRAG_MASK) | (v & FRAG_MASK));
  }
  /** Fragment offset in bytes (fragmentOffset * 8). */
  get fragmentOffsetBytes(): number { return (readU16(this.buf, this.off + FLAGS_FRAG) & FRAG_MASK) << 3; }
  /** MF set or offset non-zero: part of a fragmented datagram. */
  get isFragment(): boolean { return (readU16(this.buf, this.off + FLAGS_FRAG) & 0x3fff) !== 0; }
  /** MF set and offset zero: the fragment that carries the L4 header. */
  get isFirstFragment(): boolean { return (readU16(this.buf, this.off + FLAGS_FRAG) & 0x3fff) === FLAG_MF; }
  /** Offset non-zero: no L4 header (ports) in this packet. */
  get isLaterFragment(): boolean { return (readU16(this.buf, this.off + FLAGS_FRAG) & FRAG_MASK) !== 0; }

  get ttl(): number { return this.buf[this.off + TTL]; }
  set ttl(v: number) { this.buf[this.off + TTL] = v; }
  get protocol(): number { return this.buf[this.off + PROTO]; }
  set protocol(v: number) { this.buf[this.off + PROTO] = v; }
  get checksum(): number { return readU16(this.buf, this.off + CSUM); }
  set checksum(v: number) { writeU16(this.buf, this.off + CSUM, v); }
  /** Host-order uint32. */
  get src(): number { return readU32(this.buf, this.off + SRC); }
  set src(v: number) { writeU32(this.buf, this.off + SRC, v); }
  get dst(): number { return readU32(this.buf, this.off + DST); }
  set dst(v: number) { writeU32(this.buf, this.off + DST, v); }
  /** The addresses as int32 bit patterns: unboxed (Smi or int32 register) on the hot path, where u32 above 2^31 would box. */
  get srcI32(): number { return readI32(this.buf, this.off + SRC); }
  get dstI32(): number { return readI32(this.buf, this.off + DST); }

  /** Absolute offset of the options (equals payloadOff when there are none). */
  get optionsOff(): number { return this.off + IPV4_MIN_HEADER_LEN; }
  get optionsLen(): number { return this.headerLen - IPV4_MIN_HEADER_LEN; }
  /** Absolute offset of the L4 header (or fragment data) in buf. */
  get payloadOff(): number { return this.off + this.headerLen; }
  /** Bytes of payload per totalLen (excludes Ethernet padding). */
  get payloadLen(): number { return this.totalLen - this.headerLen; }
  /** One past the packet's last byte per totalLen: the `end` to give an L4 view. */
  get packetEnd(): number { return this.off + this.totalLen; }

  verifyChecksum(): boolean { return onesSum(this.buf, this.off, this.headerLen) === 0xffff; }
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = ~onesSum(this.buf, this.off, this.headerLen) & 0xffff;
  }

  /**
   * Forwarding step: decrements TTL and patches the checksum incrementally
   * (RFC 1624; TTL is the high byte of the TTL/protocol word). Returns the new
   * TTL; the caller drops (and may answer Time Exceeded) when it was <= 1 before.
   */
  decrementTtl(): number {
    const o = this.off + TTL;
    const oldWord = readU16(this.buf, o);
    const ttl = (this.buf[o] - 1) & 0xff;
    this.buf[o] = ttl;
    this.checksum = checksumUpdate16(this.checksum, oldWord, readU16(this.buf, o));
    return ttl;
  }
}
