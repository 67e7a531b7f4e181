import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { onesSum } from './checksum.js';

// ICMP for IPv4 (RFC 792). Every message starts with the same 4 octets; the
// next 4 depend on the type.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   Echo / Echo Reply (types 8, 0):
//   |           Identifier          |        Sequence Number        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Data ...
//   Errors (3 Destination Unreachable, 4 Source Quench, 5 Redirect,
//   11 Time Exceeded, 12 Parameter Problem):
//   |  unused / gateway / pointer / next-hop MTU (RFC 1191 §4)      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Internet Header + 64 bits of Original Data Datagram      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the whole ICMP message (no pseudo-header), so `end` must
// be the end of the IP payload (Ipv4View.packetEnd), not of the frame.
const TYPE = 0, CODE = 1, CSUM = 2, REST = 4, ID = 4, SEQ = 6, MTU = 6;
export const ICMP_HEADER_LEN = 8;

export const IcmpType = {
  EchoReply: 0, DestUnreachable: 3, SourceQuench: 4, Redirect: 5, EchoRequest: 8,
  TimeExceeded: 11, ParameterProblem: 12,
} as const;
export type IcmpType = (typeof IcmpType)[keyof typeof IcmpType];

/** Destination Unreachable codes used by a router (RFC 792, RFC 1812 §5.2.7.1). */
export const IcmpUnreachCode = {
  Net: 0, Host: 1, Protocol: 2, Port: 3, FragNeeded: 4, AdminProhibited: 13,
} as const;

export const IcmpError = { None: 0, Truncated: 1 } as const;
export type IcmpError = (typeof IcmpError)[keyof typeof IcmpError];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of an ICMPv4 message.
 * Contract: once check() has returned IcmpError.None, no getter reads outside
 * [off, end). The embedded datagram of an error is not validated here: aim an
 * Ipv4View at [innerOff, end) and use its checkHeader().
 */
export class IcmpView {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): IcmpError {
    return this.end - this.off < ICMP_HEADER_LEN ? IcmpError.Truncated : IcmpError.None;
  }

  get type(): number { return this.buf[this.off + TYPE]; }
  set type(v: number) { this.buf[this.off + TYPE] = v; }
  get code(): number { return this.buf[this.off + CODE]; }
  set code(v: number) { this.buf[this.off + CODE] = v; }
  get checksum(): number { return readU16(this.buf, this.off + CSUM); }
  set checksum(v: number) { writeU16(this.buf, this.off + CSUM, v); }
  /** Echo identifier (types 0 and 8); NAT uses it as the "port". */
  get id(): number { return readU16(this.buf, this.off + ID); }
  set id(v: number) { writeU16(this.buf, this.off + ID, v); }
  get seq(): number { return readU16(this.buf, this.off + SEQ); }
  set seq(v: number) { writeU16(this.buf, this.off + SEQ, v); }
  /** Bytes 4..7 whatever the type. */
  get restOfHeader(): number { return readU32(this.buf, this.off + REST); }
  set restOfHeader(v: number) { writeU32(this.buf, this.off + REST, v); }
  /** Next-hop MTU of a Fragmentation Needed message (type 3 code 4, RFC 1191 §4). */
  get mtu(): number { return readU16(this.buf, this.off + MTU); }
  set mtu(v: number) { writeU16(this.buf, this.off + MTU, v); }

  get isEcho(): boolean {
    const t = this.buf[this.off + TYPE];
    return t === IcmpType.EchoRequest || t === IcmpType.EchoReply;
  }
  /** Types 3, 4, 5, 11, 12: the message quotes the offending datagram at innerOff. */
  get isError(): boolean {
    const t = this.buf[this.off + TYPE];
    return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
  }
  /** Absolute offset of the embedded IP header of an error message (or echo data). */
  get innerOff(): number { return this.off + ICMP_HEADER_LEN; }
  /** Bytes after the 8-byte header up to end. */
  get innerLen(): number { return this.end - this.off - ICMP_HEADER_LEN; }

  verifyChecksum(): boolean { return onesSum(this.buf, this.off, this.end - this.off) === 0xffff; }
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = ~onesSum(this.buf, this.off, this.end - this.off) & 0xffff;
  }
}

/** ICMP types that are errors carrying a quote of the offending datagram (RFC 792, RFC 1812 §4.3.2.3). */
export function isIcmpErrorType(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}
