/**
 * The VPC router over a batch of frames.
 *
 *   rx batch ──► for each frame: ethernet ─┬─ ARP ──► answer for router / ENI addresses, learn MACs
 *                                          ├─ IPv6 ─► counted drop (IPv6 comes later)
 *                                          └─ IPv4 ─► check ─► source/dest check ─► route (LPM)
 *                                                      ─► policy (SG/NACL/conntrack hook) ─► rewrite L2 ─► tx queue
 *
 * Frames are rewritten in place and queued on their egress port; generated
 * frames (ICMP echo replies from the router) reuse the request's slot. The
 * AWS VPC router is invisible to traceroute inside a VPC, so intra-VPC
 * forwarding does not decrement TTL.
 *
 * Everything in processBatch() is allocation-free: scalar fields hold the
 * per-frame parse results, tables are typed arrays.
 */
import { type PacketBatch, DropReason, VNET_HDR_LEN } from './batch.js';
import type { Counters } from './counters.js';
import { MAX_PORTS } from './counters.js';
import { type Topology, Target, AddrKind } from '../control/topology.js';
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { checksumUpdate16, onesSum } from '../wire/checksum.js';
import type { SecurityStage } from './security.js';
import { FragCache } from '../lib/frag-cache.js';

/** What a port is attached to. */
export const PortRole = { None: 0, Instance: 1, Uplink: 2, Wan: 3 } as const;

const ETH_ARP = 0x0806, ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_VLAN = 0x8100;


export class Dataplane {
  topo: Topology;
  readonly counters: Counters;
  /** NACLs, security groups, conntrack; null = forward everything the routes allow. */
  security: SecurityStage | null = null;
  readonly frags = new FragCache();

  /** Per port id: role, index (instance...), vnet header present. */
  readonly portRole = new Uint8Array(MAX_PORTS);
  readonly portIndex = new Int32Array(MAX_PORTS).fill(-1);
  readonly portVnet = new Uint8Array(MAX_PORTS);
  /** Per instance index: its port id, or -1 when not attached. */
  instPort: Int32Array;
  /** Per instance: MAC learned from its frames (6 bytes each) and whether one was learned. */
  learnedMac: Uint8Array;
  learned: Uint8Array;

  // ---- the frame being processed (scalars, reused; never allocated)
  /** Absolute offsets in the arena of the Ethernet, IPv4 and L4 headers. */
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
  vnetOff = -1;

  constructor(topo: Topology, counters: Counters) {
    this.topo = topo;
    this.counters = counters;
    const n = topo.instanceNames.length;
    this.instPort = new Int32Array(n).fill(-1);
    this.learnedMac = new Uint8Array(n * 6);
    this.learned = new Uint8Array(n);
  }

  /** Swaps in a new topology (between batches). Port attachments are re-made by the caller. */
  setTopology(topo: Topology): void {
    this.topo = topo;
    const n = topo.instanceNames.length;
    this.instPort = new Int32Array(n).fill(-1);
    this.learnedMac = new Uint8Array(n * 6);
    this.learned = new Uint8Array(n);
    this.portRole.fill(PortRole.None);
    this.portIndex.fill(-1);
  }

  attachInstance(port: number, inst: number, vnet: boolean): void {
    this.portRole[port] = PortRole.Instance;
    this.portIndex[port] = inst;
    this.portVnet[port] = vnet ? 1 : 0;
    this.instPort[inst] = port;
  }

  attachPort(port: number, role: number, index: number, vnet: boolean): void {
    this.portRole[port] = role;
    this.portIndex[port] = index;
    this.portVnet[port] = vnet ? 1 : 0;
  }

  detachPort(port: number): void {
    const inst = this.portIndex[port];
    if (this.portRole[port] === PortRole.Instance && inst >= 0 && inst < this.instPort.length && this.instPort[inst] === port) {
      this.instPort[inst] = -1;
    }
    this.portRole[port] = PortRole.None;
    this.portIndex[port] = -1;
  }

  /** Runs every received frame of the batch through the router; fills the tx queue. */
  processBatch(b: PacketBatch, nowMs: number): void {
    const c = this.counters;
    c.batches++;
    c.frames += b.count;
    for (let i = 0; i < b.count; i++) {
      const reason = this.processFrame(b, i, nowMs);
      if (reason !== DropReason.None) c.drops[reason]++;
    }
  }

  /** One frame; returns the drop reason, or None when it was queued for tx or consumed. */
  processFrame(b: PacketBatch, i: number, nowMs: number): number {
    const port = b.rxPort[i];
    const start = b.rxOff[i];
    const len = b.rxLen[i];
    const buf = b.arena;
    this.counters.rx(port, len);
    const vnet = this.portVnet[port] === 1;
    const hdr = vnet ? VNET_HDR_LEN : 0;
    this.vnetOff = vnet ? start : -1;
    const ethOff = start + hdr;
    const end = start + len;
    if (end - ethOff < 14) return DropReason.Malformed;
    this.ethOff = ethOff;
    const ethType = readU16(buf, ethOff + 12);
    const role = this.portRole[port];
    if (role === PortRole.None) return DropReason.UnknownPort;
    if (ethType === ETH_IPV4) {
      if (role === PortRole.Instance) return this.fromInstance(b, buf, port, start, end, nowMs);
      return DropReason.UnsupportedTarget;
    }
    if (ethType === ETH_ARP) return this.arp(b, buf, port, start, end);
    if (ethType === ETH_IPV6) return DropReason.Ipv6;
    if (ethType === ETH_VLAN) return DropReason.UnknownEthertype;
    return DropReason.UnknownEthertype;
  }

  /**
   * Parses the IPv4 header at ethOff+14 into the scalar fields.
   * Returns DropReason.None or Malformed. Verifies the header checksum.
   */
  parseIpv4(buf: Uint8Array, end: number): number {
    const l3 = this.ethOff + 14;
    if (end - l3 < 20) return DropReason.Malformed;
    const vihl = buf[l3];
    if (vihl >>> 4 !== 4) return DropReason.Malformed;
    const ihl = (vihl & 15) << 2;
    if (ihl < 20 || l3 + ihl > end) return DropReason.Malformed;
    const total = readU16(buf, l3 + 2);
    if (total < ihl || l3 + total > end) return DropReason.Malformed;
    if (onesSum(buf, l3, ihl) !== 0xffff) return DropReason.Malformed;
    this.l3Off = l3;
    this.l3End = l3 + total;
    this.proto = buf[l3 + 9];
    this.src = readU32(buf, l3 + 12);
    this.dst = readU32(buf, l3 + 16);
    const ff = readU16(buf, l3 + 6);
    this.fragOff = ff & 0x1fff;
    this.ipId = readU16(buf, l3 + 4);
    this.moreFrags = (ff & 0x2000) !== 0;
    this.l4Off = l3 + ihl;
    this.sport = 0;
    this.dport = 0;
    if (this.fragOff === 0) {
      const p = this.proto;
      const l4len = this.l3End - this.l4Off;
      if (p === 6) {
        if (l4len < 20) return DropReason.Malformed;
        this.sport = readU16(buf, this.l4Off);
        this.dport = readU16(buf, this.l4Off + 2);
      } else if (p === 17) {
        if (l4len < 8) return DropReason.Malformed;
        this.sport = readU16(buf, this.l4Off);
        this.dport = readU16(buf, this.l4Off + 2);
      } else if (p === 1) {
        if (l4len < 8) return DropReason.Malformed;
        // ICMP: "ports" are type/code and, for echo, the identifier (conntrack keys on it).
        this.sport = readU16(buf, this.l4Off + 4);
        this.dport = readU16(buf, this.l4Off);
      }
    }
    return DropReason.None;
  }

  /** An IPv4 frame from an instance's ENI. */
  private fromInstance(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    const srcInst = this.portIndex[port];
    const ethOff = this.ethOff;
    if ((buf[ethOff] & 1) !== 0) return DropReason.Multicast; // broadcast/multicast dst MAC: the VPC has no broadcast
    const r = this.parseIpv4(buf, end);
    if (r !== DropReason.None) return r;
    // Source/destination check: an ENI may only send from its own address.
    if (this.src !== topo.instIp[srcInst]) {
      if (topo.instSrcDstCheck[srcInst] === 1) return DropReason.SourceDestCheck;
    } else {
      this.learn(buf, srcInst, ethOff + 6);
    }
    const dst = this.dst;
    const srcSubnet = topo.instSubnet[srcInst];
    const e = topo.route(topo.subnetRouteTable[srcSubnet], dst);
    if (e < 0) return DropReason.NoRoute;
    const kind = topo.rtKind[e];
    let dstInst = -1;
    if (kind === Target.Local) {
      const a = topo.classify(dst);
      if (a < 0) return DropReason.NoDestination;
      const akind = a >>> 24;
      if (akind === AddrKind.Instance) {
        dstInst = a & 0xffffff;
      } else if (akind === AddrKind.Router) {
        return this.routerLocal(b, buf, port, start, end, a & 0xffffff);
      } else if (akind === AddrKind.Reserved) {
        return DropReason.ReservedAddress;
      } else {
        return DropReason.UnsupportedTarget;
      }
    } else if (kind === Target.Instance) {
      dstInst = topo.rtTarget[e];
      if (dstInst < 0) return DropReason.NoRoute;
      // The target receives packets not addressed to it only with the check off.
      if (dst !== topo.instIp[dstInst] && topo.instSrcDstCheck[dstInst] === 1) return DropReason.SourceDestCheck;
    } else {
      return DropReason.UnsupportedTarget;
    }
    const outPort = this.instPort[dstInst];
    if (outPort < 0) return DropReason.NoDestination;
    const sec = this.security;
    if (sec !== null) {
      const pr = this.secure(sec, buf, srcInst, srcSubnet, dstInst, topo.instSubnet[dstInst], nowMs);
      if (pr !== DropReason.None) return pr;
    }
    this.deliverToInstance(b, buf, dstInst, outPort, start, end);
    return DropReason.None;
  }

  /**
   * Runs the security stage on the parsed packet. Later fragments carry no
   * ports: they follow the verdict of their first fragment.
   */
  secure(sec: SecurityStage, buf: Uint8Array, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number, nowMs: number): number {
    if (this.fragOff !== 0) {
      return this.frags.allowed(this.src, this.dst, this.ipId, this.proto, nowMs) ? DropReason.None : DropReason.Fragment;
    }
    const tcpFlags = this.proto === 6 ? buf[this.l4Off + 13] : 0;
    const r = sec.judge(this, srcInst, srcSubnet, dstInst, dstSubnet, this.l3End - this.l3Off, tcpFlags, nowMs);
    if (r === DropReason.None && this.moreFrags) this.frags.allow(this.src, this.dst, this.ipId, this.proto, nowMs);
    return r;
  }

  /** Rewrites L2 for delivery to an instance and queues the frame. */
  deliverToInstance(b: PacketBatch, buf: Uint8Array, dstInst: number, outPort: number, start: number, end: number): void {
    const topo = this.topo;
    const ethOff = this.ethOff;
    const macSrc = this.learned[dstInst] === 1 ? this.learnedMac : topo.instMac;
    const mo = dstInst * 6;
    for (let k = 0; k < 6; k++) buf[ethOff + k] = macSrc[mo + k];
    const so = topo.instSubnet[dstInst] * 6;
    const rm = topo.subnetRouterMac;
    for (let k = 0; k < 6; k++) buf[ethOff + 6 + k] = rm[so + k];
    this.queue(b, outPort, start, end - start);
  }

  queue(b: PacketBatch, port: number, off: number, len: number): void {
    b.queueTx(port, off, len);
    this.counters.tx(port, len);
  }

  /** Remembers the MAC an instance really uses (what AWS knows from the ENI). */
  private learn(buf: Uint8Array, inst: number, macOff: number): void {
    const lm = this.learnedMac;
    const o = inst * 6;
    if (this.learned[inst] === 1 && lm[o] === buf[macOff] && lm[o + 1] === buf[macOff + 1] && lm[o + 2] === buf[macOff + 2] &&
        lm[o + 3] === buf[macOff + 3] && lm[o + 4] === buf[macOff + 4] && lm[o + 5] === buf[macOff + 5]) return;
    if ((buf[macOff] & 1) !== 0) return;
    for (let k = 0; k < 6; k++) lm[o + k] = buf[macOff + k];
    this.learned[inst] = 1;
  }

  /** Traffic to a subnet's router address: answers ICMP echo, drops the rest. */
  private routerLocal(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number, subnet: number): number {
    if (this.proto !== 1 || this.fragOff !== 0 || this.moreFrags) return DropReason.NotForRouter;
    const l4 = this.l4Off;
    if (buf[l4] !== 8) return DropReason.NotForRouter;
    const l3 = this.l3Off;
    // Echo reply in place: swap addresses, type 8 -> 0, fix the checksums incrementally.
    writeU32(buf, l3 + 12, this.dst);
    writeU32(buf, l3 + 16, this.src);
    const oldTtl = readU16(buf, l3 + 8);
    buf[l3 + 8] = 64;
    writeU16(buf, l3 + 10, checksumUpdate16(readU16(buf, l3 + 10), oldTtl, readU16(buf, l3 + 8)));
    const oldWord = readU16(buf, l4);
    buf[l4] = 0;
    writeU16(buf, l4 + 2, checksumUpdate16(readU16(buf, l4 + 2), oldWord, readU16(buf, l4)));
    const ethOff = this.ethOff;
    for (let k = 0; k < 6; k++) {
      buf[ethOff + k] = buf[ethOff + 6 + k];
      buf[ethOff + 6 + k] = this.topo.subnetRouterMac[subnet * 6 + k];
    }
    this.queue(b, port, start, end - start);
    return DropReason.None;
  }

  /**
   * ARP on an ENI. The VPC answers for the subnet's router address and for the
   * other ENIs of the subnet (with their MACs), never for unassigned addresses.
   * The reply is built in place in the request's slot.
   */
  private arp(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number): number {
    const a = this.ethOff + 14;
    if (end - a < 28) return DropReason.Malformed;
    if (readU16(buf, a) !== 1 || readU16(buf, a + 2) !== 0x0800 || buf[a + 4] !== 6 || buf[a + 5] !== 4) return DropReason.Malformed;
    const role = this.portRole[port];
    if (role !== PortRole.Instance) return DropReason.ArpIgnored;
    const inst = this.portIndex[port];
    const topo = this.topo;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14);
    const tpa = readU32(buf, a + 24);
    if (spa === topo.instIp[inst]) this.learn(buf, inst, a + 8);
    if (op !== 1) return DropReason.ArpIgnored;
    const subnet = topo.instSubnet[inst];
    let mac: Uint8Array;
    let macOff: number;
    if (tpa === topo.subnetRouterIp[subnet]) {
      mac = topo.subnetRouterMac;
      macOff = subnet * 6;
    } else {
      const k = topo.classify(tpa);
      if (k < 0 || k >>> 24 !== AddrKind.Instance) return DropReason.ArpIgnored;
      const other = k & 0xffffff;
      if (other === inst || topo.instSubnet[other] !== subnet) return DropReason.ArpIgnored;
      mac = this.learned[other] === 1 ? this.learnedMac : topo.instMac;
      macOff = other * 6;
    }
    const ethOff = this.ethOff;
    // tha := sha, tpa := spa, sha := answer, spa := asked-for address
    for (let k = 0; k < 6; k++) {
      buf[a + 18 + k] = buf[a + 8 + k];
      buf[ethOff + k] = buf[a + 8 + k];
      buf[a + 8 + k] = mac[macOff + k];
      buf[ethOff + 6 + k] = mac[macOff + k];
    }
    writeU32(buf, a + 24, spa);
    writeU32(buf, a + 14, tpa);
    writeU16(buf, a + 6, 2);
    this.queue(b, port, start, end - start);
    return DropReason.None;
  }
}
