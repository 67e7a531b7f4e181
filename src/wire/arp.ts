import { copyBytes, readU16, readU32, writeU16, writeU32 } from './bytes.js';

// ARP (RFC 826, "Packet format"), for Ethernet hardware and IPv4 protocol
// addresses only: htype 1, ptype 0x0800, hlen 6, plen 4, 28 octets.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Hardware type (ar$hrd)   |     Protocol type (ar$pro)    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | HW len (ar$hln)| P len (ar$pln)|        Opcode (ar$op)        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               Sender hardware address (ar$sha)                |
//   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               |  Sender protocol addr (ar$spa)|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |                               |                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |               Target hardware address (ar$tha)                |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               Target protocol address (ar$tpa)                |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const HTYPE = 0, PTYPE = 2, HLEN = 4, PLEN = 5, OP = 6, SHA = 8, SPA = 14, THA = 18, TPA = 24;
export const ARP_LEN = 28;

export const ArpOp = { Request: 1, Reply: 2 } as const;
export type ArpOp = (typeof ArpOp)[keyof typeof ArpOp];

export const ArpError = {
  None: 0, Truncated: 1, BadHardwareType: 2, BadProtocolType: 3, BadHardwareLen: 4, BadProtocolLen: 5,
} as const;
export type ArpError = (typeof ArpError)[keyof typeof ArpError];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of an Ethernet/IPv4 ARP packet. Protocol addresses are
 * host-order u32; hardware addresses are hi16/lo32 pairs or copied out.
 * Contract: once check() has returned ArpError.None, no getter reads outside
 * [off, end). The opcode is not validated: callers act on Request/Reply only.
 */
export class ArpView {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): ArpError {
    if (this.end - this.off < ARP_LEN) return ArpError.Truncated;
    if (readU16(this.buf, this.off + HTYPE) !== 1) return ArpError.BadHardwareType;
    if (readU16(this.buf, this.off + PTYPE) !== 0x0800) return ArpError.BadProtocolType;
    if (this.buf[this.off + HLEN] !== 6) return ArpError.BadHardwareLen;
    if (this.buf[this.off + PLEN] !== 4) return ArpError.BadProtocolLen;
    return ArpError.None;
  }

  get htype(): number { return readU16(this.buf, this.off + HTYPE); }
  get ptype(): number { return readU16(this.buf, this.off + PTYPE); }
  get hlen(): number { return this.buf[this.off + HLEN]; }
  get plen(): number { return this.buf[this.off + PLEN]; }
  get op(): number { return readU16(this.buf, this.off + OP); }
  set op(v: number) { writeU16(this.buf, this.off + OP, v); }

  get shaHi16(): number { return readU16(this.buf, this.off + SHA); }
  get shaLo32(): number { return readU32(this.buf, this.off + SHA + 2); }
  get thaHi16(): number { return readU16(this.buf, this.off + THA); }
  get thaLo32(): number { return readU32(this.buf, this.off + THA + 2); }
  setSha(hi16: number, lo32: number): void { writeU16(this.buf, this.off + SHA, hi16); writeU32(this.buf, this.off + SHA + 2, lo32); }
  setTha(hi16: number, lo32: number): void { writeU16(this.buf, this.off + THA, hi16); writeU32(this.buf, this.off + THA + 2, lo32); }
  copySha(to: Uint8Array, toOff: number): void { copyBytes(this.buf, this.off + SHA, to, toOff, 6); }
  copyTha(to: Uint8Array, toOff: number): void { copyBytes(this.buf, this.off + THA, to, toOff, 6); }
  setShaFrom(from: Uint8Array, fromOff: number): void { copyBytes(from, fromOff, this.buf, this.off + SHA, 6); }
  setThaFrom(from: Uint8Array, fromOff: number): void { copyBytes(from, fromOff, this.buf, this.off + THA, 6); }
  /** Absolute offsets of the hardware address fields, for copies between views. */
  get shaOff(): number { return this.off + SHA; }
  get thaOff(): number { return this.off + THA; }

  /** Sender protocol address, host-order u32. */
  get spa(): number { return readU32(this.buf, this.off + SPA); }
  set spa(v: number) { writeU32(this.buf, this.off + SPA, v); }
  /** Target protocol address, host-order u32. */
  get tpa(): number { return readU32(this.buf, this.off + TPA); }
  set tpa(v: number) { writeU32(this.buf, this.off + TPA, v); }

  /** Gratuitous ARP / ARP Announcement (RFC 5227 §2.3): sender and target protocol address equal. */
  get isGratuitous(): boolean { return this.spa === this.tpa; }

  /** Writes the fixed Ethernet/IPv4 preamble (htype, ptype, hlen, plen) and `op`. */
  fillHeader(op: number): void {
    writeU16(this.buf, this.off + HTYPE, 1);
    writeU16(this.buf, this.off + PTYPE, 0x0800);
    this.buf[this.off + HLEN] = 6;
    this.buf[this.off + PLEN] = 4;
    writeU16(this.buf, this.off + OP, op);
  }
}
