import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksumUpdate16, onesSum, pseudoHeaderSum4 } from './checksum.js';

// TCP header (RFC 9293 §3.1, formerly RFC 793 §3.1)
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Source Port          |       Destination Port        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                        Sequence Number                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Acknowledgment Number                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Data |       |C|E|U|A|P|R|S|F|                               |
//   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//   |       |       |R|E|G|K|H|T|N|N|                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Checksum            |         Urgent Pointer        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           [Options]                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Options (RFC 9293 §3.2): kind 0 end of list, kind 1 no-op (one octet each);
// every other kind is kind, length (counting both), data. MSS is kind 2,
// length 4, a 16-bit value, and is only meaningful on a SYN.
const SPORT = 0, DPORT = 2, SEQ = 4, ACK = 8, DOFF = 12, FLAGS = 13, WINDOW = 14, CSUM = 16, URG = 18;
export const TCP_MIN_HEADER_LEN = 20;

export const TcpFlags = {
  FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80,
} as const;

export const TcpOption = { End: 0, Nop: 1, Mss: 2, WindowScale: 3, SackPermitted: 4, Sack: 5, Timestamps: 8 } as const;

export const TcpError = { None: 0, Truncated: 1, BadHeaderLen: 2 } as const;
export type TcpError = (typeof TcpError)[keyof typeof TcpError];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of a TCP segment. `end` is the end of the segment (the IP
 * packet's end per totalLen), which the checksum helpers rely on.
 * Contract: once check() has returned TcpError.None, no getter reads outside
 * [off, end), findMssOption() included.
 */
export class TcpView {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): TcpError {
    const avail = this.end - this.off;
    if (avail < TCP_MIN_HEADER_LEN) return TcpError.Truncated;
    const hlen = this.headerLen;
    if (hlen < TCP_MIN_HEADER_LEN || hlen > avail) return TcpError.BadHeaderLen;
    return TcpError.None;
  }

  get srcPort(): number { return readU16(this.buf, this.off + SPORT); }
  set srcPort(v: number) { writeU16(this.buf, this.off + SPORT, v); }
  get dstPort(): number { return readU16(this.buf, this.off + DPORT); }
  set dstPort(v: number) { writeU16(this.buf, this.off + DPORT, v); }
  /** Unsigned 32-bit. */
  get seq(): number { return readU32(this.buf, this.off + SEQ); }
  set seq(v: number) { writeU32(this.buf, this.off + SEQ, v); }
  get ack(): number { return readU32(this.buf, this.off + ACK); }
  set ack(v: number) { writeU32(this.buf, this.off + ACK, v); }
  /** Header length in bytes (the Data Offset field counts 32-bit words). */
  get headerLen(): number { return (this.buf[this.off + DOFF] >>> 4) << 2; }
  /** Absolute offset of the segment data in buf (off + headerLen). */
  get dataOff(): number { return this.off + ((this.buf[this.off + DOFF] >>> 4) << 2); }
  /** Bytes of data in [dataOff, end). */
  get dataLen(): number { return this.end - this.dataOff; }
  /** Flag byte: combine TcpFlags. */
  get flags(): number { return this.buf[this.off + FLAGS]; }
  set flags(v: number) { this.buf[this.off + FLAGS] = v; }
  get window(): number { return readU16(this.buf, this.off + WINDOW); }
  set window(v: number) { writeU16(this.buf, this.off + WINDOW, v); }
  get checksum(): number { return readU16(this.buf, this.off + CSUM); }
  set checksum(v: number) { writeU16(this.buf, this.off + CSUM, v); }
  get urgentPointer(): number { return readU16(this.buf, this.off + URG); }
  set urgentPointer(v: number) { writeU16(this.buf, this.off + URG, v); }

  /**
   * Absolute offset of the MSS option (its kind octet) or -1. Walks the
   * options in [off + 20, off + headerLen); stops at End, at a malformed
   * length (< 2 or past the header) and at an MSS option whose length is not 4.
   */
  findMssOption(): number {
    const b = this.buf;
    const optEnd = this.off + this.headerLen;
    let i = this.off + TCP_MIN_HEADER_LEN;
    while (i < optEnd) {
      const kind = b[i];
      if (kind === TcpOption.End) return -1;
      if (kind === TcpOption.Nop) { i++; continue; }
      if (i + 1 >= optEnd) return -1;
      const len = b[i + 1];
      if (len < 2 || i + len > optEnd) return -1;
      if (kind === TcpOption.Mss) return len === 4 ? i : -1;
      i += len;
    }
    return -1;
  }

  /** MSS value of the option at `optOff` (from findMssOption()). */
  mssAt(optOff: number): number { return readU16(this.buf, optOff + 2); }

  /**
   * Rewrites the MSS option at `optOff`, keeping the checksum valid: RFC 1624
   * update for a complete checksum; nothing for a partial one (NEEDS_CSUM:
   * the field covers only the pseudo-header, the payload is summed later).
   */
  setMss(optOff: number, mss: number, csumPartial: boolean): void {
    const old = readU16(this.buf, optOff + 2);
    writeU16(this.buf, optOff + 2, mss);
    if (!csumPartial) this.checksum = checksumUpdate16(this.checksum, old, mss & 0xffff);
  }

  /** True if the segment [off, end) sums to 0xFFFF with the IPv4 pseudo-header. */
  verifyChecksum4(src: number, dst: number): boolean {
    const len = this.end - this.off;
    return onesSum(this.buf, this.off, len, pseudoHeaderSum4(src, dst, 6, len)) === 0xffff;
  }
  /** Computes and stores the full checksum over [off, end) with the IPv4 pseudo-header. */
  fillChecksum4(src: number, dst: number): void {
    const len = this.end - this.off;
    this.checksum = 0;
    this.checksum = ~onesSum(this.buf, this.off, len, pseudoHeaderSum4(src, dst, 6, len)) & 0xffff;
  }
  /** Stores the partial checksum (pseudo-header sum) a NEEDS_CSUM frame carries. */
  fillPartialChecksum4(src: number, dst: number): void {
    this.checksum = pseudoHeaderSum4(src, dst, 6, this.end - this.off);
  }
}

