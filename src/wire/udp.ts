import { readU16, writeU16 } from './bytes.js';
import { onesSum, pseudoHeaderSum4 } from './checksum.js';

// UDP header (RFC 768)
//    0      7 8     15 16    23 24    31
//   +--------+--------+--------+--------+
//   |     Source      |   Destination   |
//   |      Port       |      Port       |
//   +--------+--------+--------+--------+
//   |                 |                 |
//   |     Length      |    Checksum     |
//   +--------+--------+--------+--------+
//   |
//   |          data octets ...
//   +---------------- ...
//
// Length counts header and data. Over IPv4 a zero checksum means "none
// computed"; a computed zero is sent as 0xFFFF.
const SPORT = 0, DPORT = 2, LEN = 4, CSUM = 6;
export const UDP_HEADER_LEN = 8;

export const UdpError = { None: 0, Truncated: 1, BadLength: 2 } as const;
export type UdpError = (typeof UdpError)[keyof typeof UdpError];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of a UDP datagram; `end` is the IP payload's end. The UDP
 * length field is authoritative: bytes between off + length and end are ignored.
 * Contract: once check() has returned UdpError.None, no getter reads outside
 * [off, end), and [off, off + length) lies within it.
 */
export class UdpView {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): UdpError {
    const avail = this.end - this.off;
    if (avail < UDP_HEADER_LEN) return UdpError.Truncated;
    const len = this.length;
    if (len < UDP_HEADER_LEN || len > avail) return UdpError.BadLength;
    return UdpError.None;
  }

  get srcPort(): number { return readU16(this.buf, this.off + SPORT); }
  set srcPort(v: number) { writeU16(this.buf, this.off + SPORT, v); }
  get dstPort(): number { return readU16(this.buf, this.off + DPORT); }
  set dstPort(v: number) { writeU16(this.buf, this.off + DPORT, v); }
  /** Header + data, in bytes. */
  get length(): number { return readU16(this.buf, this.off + LEN); }
  set length(v: number) { writeU16(this.buf, this.off + LEN, v); }
  get checksum(): number { return readU16(this.buf, this.off + CSUM); }
  set checksum(v: number) { writeU16(this.buf, this.off + CSUM, v); }
  /** Absolute offset of the data. */
  get payloadOff(): number { return this.off + UDP_HEADER_LEN; }
  get payloadLen(): number { return this.length - UDP_HEADER_LEN; }

  /** True if the checksum is absent (0) or valid with the IPv4 pseudo-header. */
  verifyChecksum4(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    const len = this.length;
    return onesSum(this.buf, this.off, len, pseudoHeaderSum4(src, dst, 17, len)) === 0xffff;
  }
  /** Computes and stores the checksum over [off, off + length); 0 is sent as 0xFFFF. */
  fillChecksum4(src: number, dst: number): void {
    const len = this.length;
    this.checksum = 0;
    const c = ~onesSum(this.buf, this.off, len, pseudoHeaderSum4(src, dst, 17, len)) & 0xffff;
    this.checksum = c === 0 ? 0xffff : c;
  }
  /** Stores the partial checksum (pseudo-header sum) a NEEDS_CSUM frame carries. */
  fillPartialChecksum4(src: number, dst: number): void {
    this.checksum = pseudoHeaderSum4(src, dst, 17, this.length);
  }
}
