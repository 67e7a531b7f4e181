/**
 * The VPC router's own answers on an instance's ENI: ARP for the subnet's
 * router address and for the subnet's other ENIs (never for unassigned
 * addresses), ICMP echo to the router address, and which destinations are
 * the VPC's link-local services (aws-semantics §3): the Amazon DNS server
 * (VPC base + 2 and 169.254.169.253), instance metadata (169.254.169.254),
 * Time Sync (169.254.169.123) and the ECS task metadata endpoint
 * (169.254.170.2). AWS serves those inside the VPC, outside security groups
 * and NACLs and outside flow logs; they never leave the VPC. Allocation-free.
 */
import { AddrKind, type Topology } from '../control/topology.js';
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { checksumUpdate16 } from '../wire/checksum.js';
import { DropReason, type PacketBatch } from './batch.js';
import { arpReplyInPlace, isEthernetIpv4Arp } from './frames.js';
import type { Packet } from './packet.js';
import type { Ports } from './ports.js';

const LINK_LOCAL_NET = 0xa9fe0000 | 0, LINK_LOCAL_MASK = 0xffff0000 | 0;
const IMDS = 0xa9fea9fe | 0, DNS_LINK_LOCAL = 0xa9fea9fd | 0, TIME_SYNC = 0xa9fea97b | 0, ECS_METADATA = 0xa9feaa02 | 0;

/** 169.254.0.0/16: never routed off the link (RFC 3927). */
export function isLinkLocal(ip: number): boolean {
  return (ip & LINK_LOCAL_MASK) === LINK_LOCAL_NET;
}

/** A VPC link-local service address, or the Amazon DNS server at the VPC base + 2. */
export function isVpcService(topo: Topology, ip: number): boolean {
  return ip === IMDS || ip === DNS_LINK_LOCAL || ip === TIME_SYNC || ip === ECS_METADATA || ip === ((topo.vpcNet + 2) | 0);
}

export class VpcRouter {
  private readonly ports: Ports;

  constructor(ports: Ports) {
    this.ports = ports;
  }

  /** ARP from instance `inst`: learn its MAC, answer for the router and for ENIs of its subnet (in place). */
  arp(b: PacketBatch, pkt: Packet, topo: Topology, inst: number): number {
    const buf = pkt.buf;
    const a = pkt.ethOff + 14;
    if (pkt.end - a < 28 || !isEthernetIpv4Arp(buf, a)) return DropReason.Malformed;
    const ports = this.ports;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14) | 0;
    const tpa = readU32(buf, a + 24) | 0;
    if (spa === topo.instIp[inst]) ports.learn(buf, inst, a + 8);
    if (op !== 1) return DropReason.ArpIgnored;
    const subnet = topo.instSubnet[inst];
    if (tpa === topo.subnetRouterIp[subnet]) {
      arpReplyInPlace(buf, pkt.ethOff, topo.subnetRouterMac, subnet * 6);
    } else {
      const k = topo.classify(tpa);
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent mutants: -1 (no such address) has kind 255, which the next check refuses too
      if (k < 0) return DropReason.ArpIgnored;
      if (k >>> 24 !== AddrKind.Instance) return DropReason.ArpIgnored;
      const other = k & 0xffffff;
      if (other === inst || topo.instSubnet[other] !== subnet) return DropReason.ArpIgnored;
      arpReplyInPlace(buf, pkt.ethOff, ports.learned[other] === 1 ? ports.learnedMac : topo.instMac, other * 6);
    }
    ports.queue(b, pkt.port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }

  /** An unfragmented ICMP echo request: what the router answers. */
  isEcho(pkt: Packet): boolean {
    return pkt.proto === 1 && !pkt.isFragment() && pkt.buf[pkt.l4Off] === 8 && pkt.buf[pkt.l4Off + 1] === 0;
  }

  /** An echo request (isEcho(), which the caller checks) to a subnet's router address: answered in place. */
  echo(b: PacketBatch, pkt: Packet, topo: Topology, subnet: number): number {
    const buf = pkt.buf;
    const l4 = pkt.l4Off;
    const l3 = pkt.l3Off;
    // Echo reply: swap addresses, type 8 -> 0, TTL 64, checksums patched incrementally.
    writeU32(buf, l3 + 12, pkt.dst);
    writeU32(buf, l3 + 16, pkt.src);
    const oldTtl = readU16(buf, l3 + 8);
    buf[l3 + 8] = 64;
    writeU16(buf, l3 + 10, checksumUpdate16(readU16(buf, l3 + 10), oldTtl, readU16(buf, l3 + 8)));
    const oldWord = readU16(buf, l4);
    buf[l4] = 0;
    writeU16(buf, l4 + 2, checksumUpdate16(readU16(buf, l4 + 2), oldWord, readU16(buf, l4)));
    const e = pkt.ethOff;
    for (let k = 0; k < 6; k++) {
      buf[e + k] = buf[e + 6 + k];
      buf[e + 6 + k] = topo.subnetRouterMac[subnet * 6 + k];
    }
    this.ports.queue(b, pkt.port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }
}
