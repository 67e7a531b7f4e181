/**
 * Address and port rewrites with incremental checksum updates (RFC 1624),
 * for the internet gateway's 1:1 NAT and the NAT gateway's port translation.
 *
 * Which checksums change:
 *   IPv4 header           address change                     (RFC 1624 on the header checksum)
 *   TCP/UDP               address (pseudo-header) and port   (RFC 1624 on the L4 checksum)
 *   UDP with checksum 0   nothing (no checksum, RFC 768)
 *   ICMP                  identifier (echo) only             (ICMP has no pseudo-header)
 * When the frame came with a virtio-net header saying NEEDS_CSUM, the L4
 * checksum field holds the (non-complemented) pseudo-header sum that the
 * kernel completes later: only an address change touches it, and it is
 * updated as a sum, not as a checksum (see wire/checksum.ts).
 *
 * ICMP errors quote the packet that caused them (RFC 792): a NAT must
 * rewrite the quoted header too (RFC 5508 §4.2, RFC 3022 §4.3), and the
 * ICMP checksum, which covers the quote. Everything here is allocation-free.
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { checksumUpdate16, checksumUpdate32, partialChecksumUpdate32, onesSum } from '../wire/checksum.js';

const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;

/** Offset of the L4 checksum within the L4 header, or -1. */
function l4CsumOff(proto: number): number {
  return proto === PROTO_TCP ? 16 : proto === PROTO_UDP ? 6 : proto === PROTO_ICMP ? 2 : -1;
}

/**
 * Rewrites the source (addrOff = 12) or destination (addrOff = 16) address
 * of the IPv4 packet at l3, and its port (TCP/UDP) or echo identifier (ICMP)
 * when `port` >= 0. l4 < 0: no L4 header in this packet (a later fragment).
 * partial: the L4 checksum is a NEEDS_CSUM pseudo-header sum.
 */
export function rewriteAddrPort(buf: Uint8Array, l3: number, l4: number, proto: number, addrOff: number, addr: number, port: number, partial: boolean): void {
  const old = readU32(buf, l3 + addrOff) | 0;
  addr |= 0;
  if (old !== addr) {
    writeU32(buf, l3 + addrOff, addr);
    writeU16(buf, l3 + 10, checksumUpdate32(readU16(buf, l3 + 10), old, addr));
  }
  // Stryker disable next-line EqualityOperator: equivalent mutant (l4 <= 0): an L4 header starts after an IPv4 header, never at 0
  if (l4 < 0) return;
  const co = l4CsumOff(proto);
  // Stryker disable next-line EqualityOperator: equivalent mutant (co <= 0): the offset is 16, 6, 2 or -1
  if (co < 0) return;
  const csumAt = l4 + co;
  let csum = readU16(buf, csumAt);
  const udpNone = proto === PROTO_UDP && csum === 0 && !partial;
  if (proto !== PROTO_ICMP && old !== addr && !udpNone) {
    csum = partial ? partialChecksumUpdate32(csum, old, addr) : checksumUpdate32(csum, old, addr);
  }
  if (port >= 0) {
    // TCP/UDP: source port at +0, destination at +2. ICMP echo: the identifier at +4 (both directions).
    const portAt = proto === PROTO_ICMP ? l4 + 4 : addrOff === 12 ? l4 : l4 + 2;
    const oldPort = readU16(buf, portAt);
    if (oldPort !== port) {
      writeU16(buf, portAt, port);
      if (!udpNone && !partial) csum = checksumUpdate16(csum, oldPort, port);
    }
  }
  if (udpNone) return;
  // A UDP checksum that computes to 0 is sent as 0xFFFF (RFC 768).
  if (proto === PROTO_UDP && csum === 0 && !partial) csum = 0xffff;
  writeU16(buf, csumAt, csum);
}

/**
 * For an ICMP error at `icmp` (type 3, 4, 5, 11, 12) quoting an IPv4 packet:
 * rewrites the quoted packet's source (addrOff 12) or destination (16)
 * address and port, its header checksum, its UDP/TCP checksum when quoted
 * (UDP's is in the first 8 bytes; TCP's usually is not), then recomputes the
 * ICMP checksum over the message. `end`: one past the ICMP message.
 * Returns false when the quote is too short to rewrite.
 */
export function rewriteIcmpQuote(buf: Uint8Array, icmp: number, end: number, addrOff: number, addr: number, port: number): boolean {
  const q = icmp + 8;
  // A quote shorter than 20 bytes fails here: its header length is at least 20 (past the buffer, buf[q] reads as 0).
  const ihl = (buf[q] & 15) << 2;
  if (ihl < 20 || q + ihl > end) return false;
  const proto = buf[q + 9];
  const ql4 = q + ihl;
  const old = readU32(buf, q + addrOff);
  writeU32(buf, q + addrOff, addr);
  writeU16(buf, q + 10, checksumUpdate32(readU16(buf, q + 10), old, addr));
  const have = end - ql4;
  if (port >= 0 && have >= 8) {
    if (proto === PROTO_TCP || proto === PROTO_UDP) {
      const portAt = addrOff === 12 ? ql4 : ql4 + 2;
      const oldPort = readU16(buf, portAt);
      writeU16(buf, portAt, port);
      const co = proto === PROTO_TCP ? 16 : 6;
      if (have >= co + 2) {
        const c = readU16(buf, ql4 + co);
        if (!(proto === PROTO_UDP && c === 0)) {
          let n = checksumUpdate32(c, old, addr);
          n = checksumUpdate16(n, oldPort, port);
          writeU16(buf, ql4 + co, n);
        }
      }
    } else if (proto === PROTO_ICMP) {
      // A quoted echo: its identifier; its checksum is not ours to keep (quoted bytes only).
      const oldId = readU16(buf, ql4 + 4);
      writeU16(buf, ql4 + 4, port);
      writeU16(buf, ql4 + 2, checksumUpdate16(readU16(buf, ql4 + 2), oldId, port));
    }
  }
  writeU16(buf, icmp + 2, 0);
  writeU16(buf, icmp + 2, ~onesSum(buf, icmp, end - icmp) & 0xffff);
  return true;
}


/** The quoted packet's (src, dst, proto, sport, dport) read into `out` (5 numbers); false if too short. */
export function readIcmpQuote(buf: Uint8Array, icmp: number, end: number, out: Uint32Array): boolean {
  const q = icmp + 8;
  // A quote shorter than 28 bytes fails here (header length at least 20; past the buffer, buf[q] reads as 0).
  const ihl = (buf[q] & 15) << 2;
  if (ihl < 20 || q + ihl + 8 > end) return false;
  const proto = buf[q + 9];
  const ql4 = q + ihl;
  out[0] = readU32(buf, q + 12);
  out[1] = readU32(buf, q + 16);
  out[2] = proto;
  if (proto === PROTO_TCP || proto === PROTO_UDP) {
    out[3] = readU16(buf, ql4);
    out[4] = readU16(buf, ql4 + 2);
  } else if (proto === PROTO_ICMP) {
    out[3] = readU16(buf, ql4 + 4); // identifier
    out[4] = readU16(buf, ql4);     // type << 8 | code
  } else {
    out[3] = 0;
    out[4] = 0;
  }
  return true;
}
