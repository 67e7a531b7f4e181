/**
 * Builders for the frames vpcd itself sends: ARP replies (in the request's
 * slot) and requests, the Ethernet header towards an instance, ICMP
 * fragmentation-needed, TCP RST, and the IPv4 header of every generated
 * packet. One owner for each of these wire formats; all write into the batch
 * arena at offsets the caller owns, and none allocates.
 */
import type { Topology } from '../control/topology.js';
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { onesSum } from '../wire/checksum.js';
import { type PacketBatch, VNET_HDR_LEN } from './batch.js';
import type { Ports } from './ports.js';

export const ETH_IPV4 = 0x0800, ETH_ARP = 0x0806;

/**
 * Takes a scratch slot for a generated frame on a port: zeroes its virtio-net
 * header when the port uses one. Returns the slot's offset (the Ethernet
 * header starts at slot + vnetLen(port)), or -1 when the batch has no room.
 */
export function takeFrame(b: PacketBatch, ports: Ports, port: number): number {
  const s = b.takeScratch();
  // Stryker disable next-line EqualityOperator: equivalent mutant (s <= 0): a scratch slot starts after the batch's rx slots, never at 0
  if (s < 0) return -1;
  if (ports.vnet[port] === 1) for (let k = 0; k < VNET_HDR_LEN; k++) b.arena[s + k] = 0;
  return s;
}

/** Bytes of virtio-net header in front of the Ethernet header on a port. */
export function vnetLen(ports: Ports, port: number): number {
  return ports.vnet[port] === 1 ? VNET_HDR_LEN : 0;
}

/** A 20-byte IPv4 header (no options, TTL 64) with its checksum. */
export function writeIpv4Header(out: Uint8Array, ip: number, total: number, id: number, df: boolean, proto: number, src: number, dst: number): void {
  out[ip] = 0x45;
  out[ip + 1] = 0;
  writeU16(out, ip + 2, total);
  writeU16(out, ip + 4, id);
  writeU16(out, ip + 6, df ? 0x4000 : 0);
  out[ip + 8] = 64;
  out[ip + 9] = proto;
  writeU16(out, ip + 10, 0);
  writeU32(out, ip + 12, src);
  writeU32(out, ip + 16, dst);
  writeU16(out, ip + 10, ~onesSum(out, ip, 20) & 0xffff);
}

/** Ethernet/IPv4 ARP: hardware type 1, protocol 0x0800, address lengths 6 and 4 (RFC 826). */
export function isEthernetIpv4Arp(buf: Uint8Array, a: number): boolean {
  return readU16(buf, a) === 1 && readU16(buf, a + 2) === 0x0800 && buf[a + 4] === 6 && buf[a + 5] === 4;
}

/**
 * Turns the ARP request at ethOff+14 into the reply "tpa is at mac[macOff..]"
 * in place: tha := sha, tpa := spa, sha := the answer, spa := the asked-for
 * address; the Ethernet header goes back to the asker.
 */
export function arpReplyInPlace(buf: Uint8Array, ethOff: number, mac: Uint8Array, macOff: number): void {
  const a = ethOff + 14;
  const spa = readU32(buf, a + 14), tpa = readU32(buf, a + 24);
  for (let k = 0; k < 6; k++) {
    buf[a + 18 + k] = buf[a + 8 + k];
    buf[ethOff + k] = buf[a + 8 + k];
    buf[a + 8 + k] = mac[macOff + k];
    buf[ethOff + 6 + k] = mac[macOff + k];
  }
  writeU32(buf, a + 24, spa);
  writeU32(buf, a + 14, tpa);
  writeU16(buf, a + 6, 2);
}

/** A broadcast ARP request "who has target, tell sender" from `mac`, padded to 60 bytes. Returns the Ethernet length. */
export function writeArpRequest(out: Uint8Array, e: number, mac: Uint8Array, sender: number, target: number): number {
  for (let k = 0; k < 6; k++) {
    out[e + k] = 0xff;
    out[e + 6 + k] = mac[k];
  }
  writeU16(out, e + 12, ETH_ARP);
  const a = e + 14;
  writeU16(out, a, 1);
  writeU16(out, a + 2, 0x0800);
  out[a + 4] = 6;
  out[a + 5] = 4;
  writeU16(out, a + 6, 1);
  // Stryker disable next-line EqualityOperator: equivalent mutant (k <= 6): the 7th iteration writes a + 14 and a + 24, which the sender and target addresses overwrite next
  for (let k = 0; k < 6; k++) {
    out[a + 8 + k] = mac[k];
    out[a + 18 + k] = 0;
  }
  writeU32(out, a + 14, sender);
  writeU32(out, a + 24, target);
  for (let k = 42; k < 60; k++) out[e + k] = 0;
  return 60;
}

/** Ethernet header towards an instance: its MAC (learned, else configured), from its subnet router's MAC. */
export function writeL2ToInstance(out: Uint8Array, e: number, topo: Topology, ports: Ports, inst: number): void {
  const mac = ports.learned[inst] === 1 ? ports.learnedMac : topo.instMac;
  const mo = inst * 6;
  const so = topo.instSubnet[inst] * 6;
  const rm = topo.subnetRouterMac;
  for (let k = 0; k < 6; k++) {
    out[e + k] = mac[mo + k];
    out[e + 6 + k] = rm[so + k];
  }
  writeU16(out, e + 12, ETH_IPV4);
}

/**
 * ICMP destination unreachable / fragmentation needed (RFC 1191) from `from`
 * to `to`, quoting the IP header + 8 bytes of the packet at buf[l3..l3End).
 * Writes the IP packet at `ip`; returns its length.
 */
export function writeFragNeeded(out: Uint8Array, ip: number, from: number, to: number, mtu: number, buf: Uint8Array, l3: number, l3End: number): number {
  const ihl = (buf[l3] & 15) << 2;
  const quote = Math.min(ihl + 8, l3End - l3);
  const total = 20 + 8 + quote;
  writeIpv4Header(out, ip, total, 0, false, 1, from, to);
  const ic = ip + 20;
  out[ic] = 3;
  out[ic + 1] = 4;
  writeU16(out, ic + 2, 0);
  writeU16(out, ic + 4, 0);
  writeU16(out, ic + 6, mtu);
  for (let k = 0; k < quote; k++) out[ic + 8 + k] = buf[l3 + k];
  writeU16(out, ic + 2, ~onesSum(out, ic, 8 + quote) & 0xffff);
  return total;
}

/**
 * A TCP RST answering the segment at buf[l4..l3End) that went from
 * src:sport to dst:dport, written as an IP packet at `ip` from dst to src
 * (RFC 793: if the segment had ACK, RST with seq = its ack; else RST+ACK
 * acking it). Returns the IP length (40).
 */
export function writeTcpRst(out: Uint8Array, ip: number, buf: Uint8Array, l4: number, l3End: number,
  src: number, dst: number, sport: number, dport: number): number {
  const dataLen = (l3End - l4) - ((buf[l4 + 12] >>> 4) << 2);
  const flags = buf[l4 + 13];
  const inSeq = readU32(buf, l4 + 4);
  const inAck = readU32(buf, l4 + 8);
  writeIpv4Header(out, ip, 40, 0, true, 6, dst, src);
  const t = ip + 20;
  writeU16(out, t, dport);
  writeU16(out, t + 2, sport);
  const hasAck = (flags & 0x10) !== 0;
  writeU32(out, t + 4, hasAck ? inAck : 0);
  writeU32(out, t + 8, hasAck ? 0 : (inSeq + dataLen + ((flags & 0x03) !== 0 ? 1 : 0)) >>> 0);
  out[t + 12] = 0x50;
  out[t + 13] = hasAck ? 0x04 : 0x14;
  writeU16(out, t + 14, 0);
  writeU16(out, t + 16, 0);
  writeU16(out, t + 18, 0);
  const sum = onesSum(out, t, 20, (dst >>> 16) + (dst & 0xffff) + (src >>> 16) + (src & 0xffff) + 6 + 20);
  writeU16(out, t + 16, ~sum & 0xffff);
  return 40;
}

/** A UDP datagram with its checksum at `ip` (IPv4 header included). Returns the IP length. */
export function writeUdp(out: Uint8Array, ip: number, id: number, src: number, sport: number, dst: number, dport: number, payload: Uint8Array): number {
  const ulen = 8 + payload.length;
  writeIpv4Header(out, ip, 20 + ulen, id, false, 17, src, dst);
  const u = ip + 20;
  writeU16(out, u, sport);
  writeU16(out, u + 2, dport);
  writeU16(out, u + 4, ulen);
  writeU16(out, u + 6, 0);
  out.set(payload, u + 8);
  let c = ~onesSum(out, u, ulen, (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + ulen) & 0xffff;
  if (c === 0) c = 0xffff;
  writeU16(out, u + 6, c);
  return 20 + ulen;
}
