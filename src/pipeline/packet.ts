/**
 * The packet record: one frame, parsed once, that every stage reads and
 * writes. The data plane owns one instance and re-aims it at each frame with
 * begin() + parseIpv4(); stages rewrite addresses and ports in the frame
 * *and* in the record, so the record always describes the bytes. Nothing here
 * allocates per packet.
 *
 * Conventions (the conntrack key conventions, conntrack/conntrack.ts):
 * - TCP/UDP: sport/dport are the ports;
 * - ICMP: sport = the identifier (bytes 4-5), dport = type << 8 | code;
 * - later fragments (fragOff != 0) carry no L4 header: sport = dport = 0;
 * - addresses are int32 (`| 0`), unboxed on the hot path (control/topology.ts).
 */
import { readI32, readU16 } from '../wire/bytes.js';
import { isIcmpErrorType } from '../wire/icmp.js';
import { Ipv4Field, ipv4Check } from '../wire/ipv4.js';
import { DropReason, VNET_HDR_LEN } from './batch.js';

const EMPTY = new Uint8Array(0);
const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;


export class Packet {
  /** The batch arena the frame lives in. */
  buf: Uint8Array = EMPTY;
  /** Port the frame came in on. */
  port = 0;
  /** Slot start (vnet header when present), one past the frame's last byte. */
  start = 0;
  end = 0;
  /** Offset of the virtio-net header, -1 without one. */
  vnetOff = -1;
  ethOff = 0;
  l3Off = 0;
  l4Off = 0;
  /** One past the IPv4 packet (by total length). */
  l3End = 0;
  proto = 0;
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  /** 0 for a first fragment or an unfragmented packet. */
  fragOff = 0;
  moreFrags = false;
  ipId = 0;

  /** Aims the record at a received frame; returns the EtherType, or -1 when shorter than an Ethernet header. */
  begin(buf: Uint8Array, port: number, start: number, len: number, vnet: boolean): number {
    this.buf = buf;
    this.port = port;
    this.start = start;
    this.end = start + len;
    this.vnetOff = vnet ? start : -1;
    this.ethOff = start + (vnet ? VNET_HDR_LEN : 0);
    if (this.end - this.ethOff < 14) return -1;
    return readU16(buf, this.ethOff + 12);
  }

  /**
   * Parses the IPv4 packet behind the Ethernet header (up to `end`) through
   * the wire module. Returns DropReason.None or Malformed (bad header,
   * checksum, total length, or an L4 header too short for its protocol).
   */
  parseIpv4(end: number): number {
    const buf = this.buf;
    const l3 = this.ethOff + 14;
    // One call validates the header (wire/ipv4.ts); the fields are then read at the format's offsets.
    const hlen = ipv4Check(buf, l3, end);
    if (hlen < 0) return DropReason.Malformed;
    this.end = end;
    this.l3Off = l3;
    this.l3End = l3 + readU16(buf, l3 + Ipv4Field.TotalLen);
    this.l4Off = l3 + hlen;
    this.proto = buf[l3 + Ipv4Field.Proto];
    this.src = readI32(buf, l3 + Ipv4Field.Src);
    this.dst = readI32(buf, l3 + Ipv4Field.Dst);
    const ff = readU16(buf, l3 + Ipv4Field.FlagsFrag);
    this.fragOff = ff & 0x1fff;
    this.moreFrags = (ff & 0x2000) !== 0;
    this.ipId = readU16(buf, l3 + Ipv4Field.Id);
    this.sport = 0;
    this.dport = 0;
    if (this.fragOff === 0) {
      const p = this.proto;
      const l4len = this.l3End - this.l4Off;
      if (p === PROTO_TCP) {
        if (l4len < 20) return DropReason.Malformed;
        this.sport = readU16(buf, this.l4Off);
        this.dport = readU16(buf, this.l4Off + 2);
      } else if (p === PROTO_UDP) {
        if (l4len < 8) return DropReason.Malformed;
        this.sport = readU16(buf, this.l4Off);
        this.dport = readU16(buf, this.l4Off + 2);
      } else if (p === PROTO_ICMP) {
        if (l4len < 8) return DropReason.Malformed;
        this.sport = readU16(buf, this.l4Off + 4);
        this.dport = readU16(buf, this.l4Off);
      }
    }
    return DropReason.None;
  }

  /** IP packet length in bytes. */
  get l3Len(): number {
    return this.l3End - this.l3Off;
  }

  /** TCP flags of a TCP first fragment / whole segment, else 0. */
  tcpFlags(): number {
    return this.proto === PROTO_TCP && this.fragOff === 0 ? this.buf[this.l4Off + 13] : 0;
  }

  /** An ICMP error with its quote (not a later fragment). */
  isIcmpError(): boolean {
    return this.proto === PROTO_ICMP && this.fragOff === 0 && isIcmpErrorType(this.buf[this.l4Off]);
  }

  /** True for any fragment of a fragmented datagram. */
  isFragment(): boolean {
    return this.fragOff !== 0 || this.moreFrags;
  }

  /** The frame came with a virtio-net header whose L4 checksum is a partial (pseudo-header) sum. */
  partialCsum(): boolean {
    return this.vnetOff >= 0 && (this.buf[this.vnetOff] & 1) !== 0;
  }

  /** L4 header offset for rewrites, -1 for a later fragment (no L4 header). */
  l4ForRewrite(): number {
    return this.fragOff === 0 ? this.l4Off : -1;
  }
}
