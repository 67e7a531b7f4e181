import { copyBytes, readU16, readU32, writeU16, writeU32 } from './bytes.js';

// Ethernet II frame (IEEE 802.3 §3.1.1, Ethernet II / DIX framing; RFC 894 for
// IPv4 over it), optionally with one IEEE 802.1Q tag. FCS is not present: the
// NIC strips it and AF_PACKET/TAP never deliver it.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination MAC (6 octets)                 |
//   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                               |                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//   |                      Source MAC (6 octets)                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     EtherType / TPID 0x8100   |  PCP|D|  VLAN ID (802.1Q only)|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  EtherType (after the tag)    |  payload ...
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Without a tag the payload starts at byte 14, with one at byte 18. Only a
// single tag is recognised: a second one (QinQ) appears as etherType 0x8100
// and is left to the caller to refuse.
const DST = 0, SRC = 6, TYPE = 12, TCI = 14, INNER_TYPE = 16;
export const ETH_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;
export const MAC_LEN = 6;

export const EtherType = { Ipv4: 0x0800, Arp: 0x0806, Vlan: 0x8100, Ipv6: 0x86dd } as const;
export type EtherType = (typeof EtherType)[keyof typeof EtherType];

export const EthernetError = { None: 0, Truncated: 1 } as const;
export type EthernetError = (typeof EthernetError)[keyof typeof EthernetError];

const EMPTY = new Uint8Array(0);

/**
 * Zero-copy view of an Ethernet II header. MAC addresses are exposed as a
 * high 16-bit and a low 32-bit number (no strings, no arrays on the hot path)
 * or copied into a caller-provided buffer.
 * Contract: once check() has returned EthernetError.None, no getter reads
 * outside [off, end).
 */
export class EthernetView {
  buf: Uint8Array = EMPTY;
  /** Absolute offset of the frame in buf. */
  off = 0;
  /** One past the last byte of the frame. */
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): EthernetError {
    const avail = this.end - this.off;
    if (avail < ETH_HEADER_LEN) return EthernetError.Truncated;
    if (readU16(this.buf, this.off + TYPE) === EtherType.Vlan && avail < ETH_HEADER_LEN + VLAN_TAG_LEN) {
      return EthernetError.Truncated;
    }
    return EthernetError.None;
  }

  /** First two octets of the destination MAC. */
  get dstHi16(): number { return readU16(this.buf, this.off + DST); }
  /** Last four octets of the destination MAC, unsigned. */
  get dstLo32(): number { return readU32(this.buf, this.off + DST + 2); }
  get srcHi16(): number { return readU16(this.buf, this.off + SRC); }
  get srcLo32(): number { return readU32(this.buf, this.off + SRC + 2); }

  setDst(hi16: number, lo32: number): void {
    writeU16(this.buf, this.off + DST, hi16);
    writeU32(this.buf, this.off + DST + 2, lo32);
  }
  setSrc(hi16: number, lo32: number): void {
    writeU16(this.buf, this.off + SRC, hi16);
    writeU32(this.buf, this.off + SRC + 2, lo32);
  }
  /** Copies the destination MAC to to[toOff, toOff+6). */
  copyDst(to: Uint8Array, toOff: number): void { copyBytes(this.buf, this.off + DST, to, toOff, MAC_LEN); }
  copySrc(to: Uint8Array, toOff: number): void { copyBytes(this.buf, this.off + SRC, to, toOff, MAC_LEN); }
  /** Sets the destination MAC from from[fromOff, fromOff+6). */
  setDstFrom(from: Uint8Array, fromOff: number): void { copyBytes(from, fromOff, this.buf, this.off + DST, MAC_LEN); }
  setSrcFrom(from: Uint8Array, fromOff: number): void { copyBytes(from, fromOff, this.buf, this.off + SRC, MAC_LEN); }

  /** Group bit of the destination (multicast or broadcast). */
  get isMulticast(): boolean { return (this.buf[this.off + DST] & 1) !== 0; }
  get isBroadcast(): boolean { return this.dstHi16 === 0xffff && this.dstLo32 === 0xffffffff; }

  /** The EtherType/TPID at byte 12, before any VLAN tag. */
  get outerEtherType(): number { return readU16(this.buf, this.off + TYPE); }
  get hasVlan(): boolean { return readU16(this.buf, this.off + TYPE) === EtherType.Vlan; }
  /** 802.1Q tag control information (PCP, DEI, VID); 0 when untagged. */
  get vlanTci(): number { return this.hasVlan ? readU16(this.buf, this.off + TCI) : 0; }
  /** 802.1Q VLAN identifier (12 bits); 0 when untagged. */
  get vlanId(): number { return this.vlanTci & 0x0fff; }
  /** EtherType of the payload, after the optional 802.1Q tag. */
  get etherType(): number {
    return readU16(this.buf, this.off + (this.hasVlan ? INNER_TYPE : TYPE));
  }
  set etherType(v: number) {
    writeU16(this.buf, this.off + (this.hasVlan ? INNER_TYPE : TYPE), v);
  }
  /** 14, or 18 with an 802.1Q tag. */
  get headerLen(): number { return this.hasVlan ? ETH_HEADER_LEN + VLAN_TAG_LEN : ETH_HEADER_LEN; }
  /** Absolute offset of the L3 header in buf. */
  get payloadOff(): number { return this.off + this.headerLen; }
  /** Bytes after the header up to `end` (includes any Ethernet padding). */
  get payloadLen(): number { return this.end - this.payloadOff; }
}
