/**
 * UDP encapsulation of ESP (RFC 3948) on port 4500: what a datagram's payload
 * carries (ESP, IKE behind the non-ESP marker, a NAT keepalive), and the UDP
 * header in front of an ESP packet. The outer IPv4 header is the packet
 * path's own generated-header writer; the ESP packet itself is esp.ts.
 */
import { writeU16 } from '../wire/bytes.js';
import { ESP_HEADER_LEN } from './esp-alg.js';

/** The NAT-traversal port (RFC 3948 §2.1, RFC 7296 §2.23). */
export const UDP_ENCAP_PORT = 4500;
/** UDP header length: the ESP packet starts this far after the UDP header. */
export const UDP_HEADER_LEN = 8;

/** What a UDP 4500 payload carries (RFC 3948 §2.2, §2.3). */
export const UdpEncapKind = {
  /** First 4 bytes non-zero (the SPI) and room for the 8-byte ESP header: an ESP packet. */
  Esp: 0,
  /** Non-ESP marker (4 zero bytes): IKE, for the control plane (marker included). */
  Ike: 1,
  /** One byte 0xFF: NAT keepalive, consumed. */
  Keepalive: 2,
  /** Anything else (too short for ESP or IKE, or outside the buffer). */
  Invalid: 3,
} as const;
export type UdpEncapKind = (typeof UdpEncapKind)[keyof typeof UdpEncapKind];

/** Classifies the payload buf[off, off + len) of a UDP datagram to or from port 4500. */
export function classifyUdpEncap(buf: Uint8Array, off: number, len: number): UdpEncapKind {
  if (!(off >= 0) || !(len >= 1) || off + len > buf.length) return UdpEncapKind.Invalid;
  if (len === 1) return buf[off] === 0xff ? UdpEncapKind.Keepalive : UdpEncapKind.Invalid;
  if (len < 4) return UdpEncapKind.Invalid;
  if ((buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3]) === 0) return UdpEncapKind.Ike;
  return len >= ESP_HEADER_LEN ? UdpEncapKind.Esp : UdpEncapKind.Invalid;
}

/**
 * Writes the 8-byte UDP header at out[udpOff] for an ESP packet of espLen
 * bytes that follows it: ports, length, and checksum 0 (RFC 3948 §2.1: the
 * sender MAY send zero for UDP-encapsulated ESP, whose ICV protects it).
 */
export function writeUdpEncapHeader(out: Uint8Array, udpOff: number, sport: number, dport: number, espLen: number): void {
  writeU16(out, udpOff, sport);
  writeU16(out, udpOff + 2, dport);
  writeU16(out, udpOff + 4, UDP_HEADER_LEN + espLen);
  writeU16(out, udpOff + 6, 0);
}
