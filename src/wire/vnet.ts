import { readU16Le, writeU16Le } from './bytes.js';

// struct virtio_net_hdr (virtio 1.x spec §5.1.6 "Device Operation"; Linux
// include/uapi/linux/virtio_net.h), 10 octets, in front of every frame that
// AF_PACKET with PACKET_VNET_HDR or a TAP with IFF_VNET_HDR exchanges.
//
//    0               1               2               3
//   +---------------+---------------+-------------------------------+
//   |     flags     |   gso_type    |           hdr_len             |
//   +---------------+---------------+-------------------------------+
//   |           gso_size            |          csum_start           |
//   +-------------------------------+-------------------------------+
//   |          csum_offset          |  frame (Ethernet header) ...
//   +-------------------------------+
//
// Byte order: the 16-bit fields are NOT network order. The virtio 1.x spec
// makes them little-endian; legacy virtio, and the kernel's AF_PACKET
// PACKET_VNET_HDR path (virtio_net_hdr_{to,from}_skb with vio_le() =
// "legacy is little-endian" only on a little-endian host), use the host's
// native order. TAP follows TUNSETVNETLE/BE, native by default. vpcd runs on
// x86-64/arm64 little-endian hosts, so little-endian is native here.
//
// csum_start is relative to the frame start (after this header); the checksum
// field to finish lies at csum_start + csum_offset. With NEEDS_CSUM that field
// holds the folded pseudo-header sum, not a full checksum (see checksum.ts).
// hdr_len is a hint (L2+L3+L4 header length) for GSO; gso_size is the MSS.
const FLAGS = 0, GSO_TYPE = 1, HDR_LEN = 2, GSO_SIZE = 4, CSUM_START = 6, CSUM_OFFSET = 8;
export const VNET_HDR_LEN = 10;

export const VnetFlags = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;
/** gso_type values; ECN is a flag bit OR-ed onto TCPV4/TCPV6. UDP_L4 is USO (Linux 6.2+). */
export const VnetGso = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;

export const VnetError = { None: 0, Truncated: 1, BadGsoType: 2, BadCsumOffset: 3 } as const;
export type VnetError = (typeof VnetError)[keyof typeof VnetError];

const EMPTY = new Uint8Array(0);

/**
 * View of a virtio_net_hdr at `off`, with the frame it describes in
 * [off + 10, end).
 * Contract: once check() has returned VnetError.None, no getter reads outside
 * [off, off + 10), and with NEEDS_CSUM the 2-byte field at csumFieldOff lies
 * inside the frame.
 */
export class VnetHdrView {
  buf: Uint8Array = EMPTY;
  off = 0;
  end = 0;

  at(buf: Uint8Array, off: number, end: number): this {
    this.buf = buf; this.off = off; this.end = end;
    return this;
  }

  check(): VnetError {
    if (this.end - this.off < VNET_HDR_LEN) return VnetError.Truncated;
    const g = this.gsoType & ~VnetGso.ECN;
    if (g !== VnetGso.NONE && g !== VnetGso.TCPV4 && g !== VnetGso.UDP && g !== VnetGso.TCPV6 && g !== VnetGso.UDP_L4) {
      return VnetError.BadGsoType;
    }
    if ((this.flags & VnetFlags.NEEDS_CSUM) !== 0 && this.csumFieldOff + 2 > this.end) return VnetError.BadCsumOffset;
    return VnetError.None;
  }

  get flags(): number { return this.buf[this.off + FLAGS]; }
  set flags(v: number) { this.buf[this.off + FLAGS] = v; }
  get needsCsum(): boolean { return (this.buf[this.off + FLAGS] & VnetFlags.NEEDS_CSUM) !== 0; }
  get dataValid(): boolean { return (this.buf[this.off + FLAGS] & VnetFlags.DATA_VALID) !== 0; }
  /** Includes the ECN bit (0x80). */
  get gsoType(): number { return this.buf[this.off + GSO_TYPE]; }
  set gsoType(v: number) { this.buf[this.off + GSO_TYPE] = v; }
  get isGso(): boolean { return (this.buf[this.off + GSO_TYPE] & ~VnetGso.ECN) !== VnetGso.NONE; }
  get hdrLen(): number { return readU16Le(this.buf, this.off + HDR_LEN); }
  set hdrLen(v: number) { writeU16Le(this.buf, this.off + HDR_LEN, v); }
  get gsoSize(): number { return readU16Le(this.buf, this.off + GSO_SIZE); }
  set gsoSize(v: number) { writeU16Le(this.buf, this.off + GSO_SIZE, v); }
  /** Relative to the frame start. */
  get csumStart(): number { return readU16Le(this.buf, this.off + CSUM_START); }
  set csumStart(v: number) { writeU16Le(this.buf, this.off + CSUM_START, v); }
  /** Relative to csumStart. */
  get csumOffset(): number { return readU16Le(this.buf, this.off + CSUM_OFFSET); }
  set csumOffset(v: number) { writeU16Le(this.buf, this.off + CSUM_OFFSET, v); }

  /** Absolute offset of the frame (Ethernet header) that follows. */
  get frameOff(): number { return this.off + VNET_HDR_LEN; }
  /** Absolute offset of the L4 checksum field to finish (meaningful with NEEDS_CSUM). */
  get csumFieldOff(): number { return this.off + VNET_HDR_LEN + this.csumStart + this.csumOffset; }

  /** All zero: no offload, checksum complete. */
  clear(): void {
    for (let i = 0; i < VNET_HDR_LEN; i++) this.buf[this.off + i] = 0;
  }
}
