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
import { NeighborTable } from './neighbors.js';
import { NatGatewayState, NatCounter } from '../nat/nat-gateway.js';
import { rewriteAddrPort, rewriteIcmpQuote, isIcmpError, readIcmpQuote } from '../nat/translate.js';
import { NO_FLOW } from '../conntrack/conntrack.js';
import type { VpnPath } from '../vpn/vpn-path.js';
import { VpnCounter } from '../vpn/vpn-path.js';
import { completeChecksum, gsoType, gsoSize, segmentTcp4, GSO_TCPV4 } from './gso.js';

/** An IKE datagram punted from the WAN to the control plane (copied: control-plane rate). */
export interface PuntedDatagram {
  readonly local: number;
  readonly localPort: number;
  readonly from: number;
  readonly fromPort: number;
  readonly bytes: Buffer;
}

/** What a port is attached to. */
export const PortRole = { None: 0, Instance: 1, Uplink: 2, Wan: 3, DirectConnect: 4 } as const;

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

  // ---- internet gateway uplink
  uplinkPort = -1;
  readonly uplinkMac = new Uint8Array(6);
  /** Our address on the uplink for ARP when no public address is involved (0: none). */
  uplinkIp = 0;
  readonly neighbors = new NeighborTable();
  /** By NAT gateway index (topology order). */
  nats: NatGatewayState[] = [];
  /** Packets through the internet gateway: [out, in] packets and bytes. */
  readonly igwCounters = new Float64Array(4);
  private readonly quote = new Uint32Array(5);

  // ---- Direct Connect stand-in: a plain link preferred over the VPN while up
  dxPort = -1;
  readonly dxMac = new Uint8Array(6);
  dxIp = 0;
  dxPeer = 0;
  dxNetAddr = new Uint32Array(0);
  dxNetMask = new Uint32Array(0);
  readonly dxPeerMac = new Uint8Array(6);
  /** performance.now() of the last sign of life from the peer (an ARP from it); 0: never. */
  dxSeenMs = 0;
  /** Counters: [packets out, bytes out, packets in, bytes in]. */
  readonly dxCounters = new Float64Array(4);

  /** The link counts as up while the peer answered within the last 3 s. */
  dxUp(nowMs: number): boolean {
    return this.dxPort >= 0 && this.dxSeenMs > 0 && nowMs - this.dxSeenMs < 3000;
  }

  private dxCovers(dst: number): boolean {
    const a = this.dxNetAddr, m = this.dxNetMask;
    for (let i = 0; i < a.length; i++) if (((dst & m[i]) >>> 0) === a[i]) return true;
    return false;
  }

  // ---- site-to-site VPN
  vpn: VpnPath | null = null;
  /** IKE datagrams received in this batch, for the control plane (drained after the batch). */
  readonly punts: PuntedDatagram[] = [];
  /** ESP packets refused, by cause (EspNoSa, EspReplay, EspAuth, Malformed...): DropReason counters cover them. */
  /** Work area for segmenting GSO super-frames before encryption. */
  private readonly work = new Uint8Array(160 * 1024);
  private ipIdent = 1;
  // context of the GSO segment callback (made once)
  private segBatch: PacketBatch | null = null;
  private segTunnel = 0;
  private segNow = 0;
  private segFailed = 0;
  private readonly segEmit = (off: number, len: number): void => {
    const b = this.segBatch;
    if (b === null) return;
    this.clampMssAt(this.work, off, len, this.vpn!.crypto!.innerMtu(this.segTunnel) - 40);
    if (this.encryptOne(b, this.segTunnel, this.work, off, len, this.segNow) !== DropReason.None) this.segFailed++;
  };

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
    // Tunnel traffic: every ESP seal of the batch in one native call, before tx.
    const cr = this.vpn !== null ? this.vpn.crypto : null;
    if (cr !== null && cr.flush !== undefined) {
      this.flushBatch = b;
      cr.flush(b.arena, this.onSealFail);
      this.flushBatch = null;
    }
  }

  private flushBatch: PacketBatch | null = null;
  /** A deferred seal failed: its frame must not leave (tx skips zero-length descriptors and counts them). */
  private readonly onSealFail = (txIdx: number): void => {
    const b = this.flushBatch;
    if (b === null || txIdx < 0 || txIdx >= b.txCount) return;
    b.txLen[txIdx] = 0;
    this.counters.drops[DropReason.EspNoSa]++;
  };

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
    if (this.security !== null) this.security.viaMiddlebox = false;
    if (ethType === ETH_IPV4) {
      if (role === PortRole.Instance) return this.fromInstance(b, buf, port, start, end, nowMs);
      if (role === PortRole.Uplink) return this.fromUplink(b, buf, port, start, end, nowMs);
      if (role === PortRole.DirectConnect) return this.fromDx(b, buf, start, end, nowMs);
      return DropReason.UnsupportedTarget;
    }
    if (ethType === ETH_ARP) {
      if (role === PortRole.Uplink) return this.uplinkArp(b, buf, port, start, end, nowMs);
      if (role === PortRole.DirectConnect) return this.dxArp(b, buf, port, start, end, nowMs);
      return this.arp(b, buf, port, start, end);
    }
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
    // int32, not u32: see Topology (unboxed on the hot path)
    this.src = readU32(buf, l3 + 12) | 0;
    this.dst = readU32(buf, l3 + 16) | 0;
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
    const forwarded = this.src !== topo.instIp[srcInst];
    if (forwarded) {
      if (topo.instSrcDstCheck[srcInst] === 1) return DropReason.SourceDestCheck;
    } else {
      this.learn(buf, srcInst, ethOff + 6);
    }
    if (this.security !== null) this.security.viaMiddlebox = forwarded;
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
    } else if (kind === Target.Igw) {
      return this.toInternet(b, buf, srcInst, srcSubnet, start, end, nowMs);
    } else if (kind === Target.Vgw) {
      return this.toVpn(b, buf, srcInst, srcSubnet, start, end, nowMs);
    } else if (kind === Target.NatGateway) {
      const g = topo.rtTarget[e];
      if (g < 0 || g >= this.nats.length) return DropReason.NoRoute;
      return this.toNatGateway(b, buf, this.nats[g], srcInst, srcSubnet, start, end, nowMs);
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
  secure(sec: SecurityStage, buf: Uint8Array, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number, nowMs: number, forceTrack = false): number {
    if (this.fragOff !== 0) {
      return this.frags.allowed(this.src, this.dst, this.ipId, this.proto, nowMs) ? DropReason.None : DropReason.Fragment;
    }
    const tcpFlags = this.proto === 6 ? buf[this.l4Off + 13] : 0;
    const r = sec.judge(this, srcInst, srcSubnet, dstInst, dstSubnet, this.l3End - this.l3Off, tcpFlags, nowMs, forceTrack);
    if (r === DropReason.None && this.moreFrags) this.frags.allow(this.src, this.dst, this.ipId, this.proto, nowMs);
    return r;
  }

  /** Rewrites L2 for delivery to an instance and queues the frame. */
  deliverToInstance(b: PacketBatch, buf: Uint8Array, dstInst: number, outPort: number, start: number, end: number): void {
    this.writeL2ToInstance(buf, this.ethOff, dstInst);
    this.queue(b, outPort, start, end - start);
  }

  /** Destination MAC = the instance's (learned, else configured), source = its subnet's router MAC. */
  private writeL2ToInstance(buf: Uint8Array, ethOff: number, inst: number): void {
    const topo = this.topo;
    const mac = this.learned[inst] === 1 ? this.learnedMac : topo.instMac;
    const mo = inst * 6;
    const so = topo.instSubnet[inst] * 6;
    const rm = topo.subnetRouterMac;
    for (let k = 0; k < 6; k++) {
      buf[ethOff + k] = mac[mo + k];
      buf[ethOff + 6 + k] = rm[so + k];
    }
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
    if (!isEthernetIpv4Arp(buf, a)) return DropReason.Malformed;
    const role = this.portRole[port];
    if (role !== PortRole.Instance) return DropReason.ArpIgnored;
    const inst = this.portIndex[port];
    const topo = this.topo;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14) | 0;
    const tpa = readU32(buf, a + 24) | 0;
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
    return this.arpReplyInPlace(b, buf, port, start, end, spa, tpa, mac, macOff);
  }

  /**
   * Turns the ARP request at ethOff+14 into the reply "tpa is at mac[macOff..]"
   * in its own slot and queues it back out of `port`:
   * tha := sha, tpa := spa, sha := the answer, spa := the asked-for address.
   */
  private arpReplyInPlace(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number,
    spa: number, tpa: number, mac: Uint8Array, macOff: number): number {
    const ethOff = this.ethOff;
    const a = ethOff + 14;
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

  // ======================================================================
  // Internet gateway (aws-semantics §7) and NAT gateway (§5)
  // ======================================================================

  /** True when the frame came with a virtio-net header whose L4 checksum is a partial (pseudo-header) sum. */
  private partialCsum(buf: Uint8Array): boolean {
    return this.vnetOff >= 0 && (buf[this.vnetOff] & 1) !== 0;
  }

  /** L4 header offset for rewrites, -1 for a later fragment (no L4 header). */
  private l4ForRewrite(): number {
    return this.fragOff === 0 ? this.l4Off : -1;
  }

  /**
   * Instance -> internet through the IGW: 1:1 NAT of the source to the
   * instance's public address. Without one the IGW has nothing to translate
   * to (IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS); private destinations are not
   * carried (IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS).
   */
  private toInternet(b: PacketBatch, buf: Uint8Array, srcInst: number, srcSubnet: number, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    if (this.uplinkPort < 0) return DropReason.NoRoute;
    const pub = topo.instPublicIp[srcInst];
    if (pub === 0 || this.src !== topo.instIp[srcInst]) return DropReason.IgwNoPublicIp;
    if (isPrivateOrShared(this.dst)) return DropReason.IgwRejected;
    const sec = this.security;
    if (sec !== null) {
      const r = this.secure(sec, buf, srcInst, srcSubnet, -1, -1, nowMs, false);
      if (r !== DropReason.None) return r;
    }
    this.igwOut(buf, pub);
    // Hairpin: to another public address of this VPC, the IGW turns the packet straight back in.
    if (this.topo.publicIndex.get(this.dst) >= 0) return this.igwInbound(b, buf, start, end, nowMs);
    return this.sendUplink(b, buf, start, end, this.dst, pub, nowMs);
  }

  /** The IGW's egress translation of the parsed packet's source to `pub` (and of an ICMP error's quote). */
  private igwOut(buf: Uint8Array, pub: number): void {
    if (this.proto === 1 && this.fragOff === 0 && isIcmpError(buf[this.l4Off])) {
      // An error the instance sends about a packet it received: the quote carries its private address as destination.
      rewriteIcmpQuote(buf, this.l4Off, this.l3End, 16, pub, -1);
    }
    rewriteAddrPort(buf, this.l3Off, this.l4ForRewrite(), this.proto, 12, pub, -1, this.partialCsum(buf));
    this.src = pub;
    this.igwCounters[0]++;
    this.igwCounters[1] += this.l3End - this.l3Off;
  }

  /** Queues the frame on the uplink towards `nextHop`, resolving its MAC with ARP (from `arpSrc`). */
  private sendUplink(b: PacketBatch, buf: Uint8Array, start: number, end: number, nextHop: number, arpSrc: number, nowMs: number): number {
    const ethOff = this.ethOff;
    for (let k = 0; k < 6; k++) buf[ethOff + 6 + k] = this.uplinkMac[k];
    const n = this.neighbors;
    const slot = n.lookup(nextHop);
    if (slot >= 0) {
      for (let k = 0; k < 6; k++) buf[ethOff + k] = n.macs[slot * 6 + k];
      this.queue(b, this.uplinkPort, start, end - start);
      return DropReason.None;
    }
    if (n.shouldRequest(nextHop, nowMs)) this.arpRequest(b, nextHop, arpSrc);
    return n.hold(nextHop, this.uplinkPort, buf, start, end - start, nowMs) ? DropReason.None : DropReason.NoNeighbor;
  }

  /** Builds an ARP request for `target` on the uplink in a scratch slot. */
  private arpRequest(b: PacketBatch, target: number, sender: number): void {
    const off = b.takeScratch();
    if (off < 0) return;
    const buf = b.arena;
    const vnet = this.portVnet[this.uplinkPort] === 1;
    if (vnet) for (let k = 0; k < VNET_HDR_LEN; k++) buf[off + k] = 0;
    const e = off + (vnet ? VNET_HDR_LEN : 0);
    for (let k = 0; k < 6; k++) {
      buf[e + k] = 0xff;
      buf[e + 6 + k] = this.uplinkMac[k];
    }
    writeU16(buf, e + 12, ETH_ARP);
    const a = e + 14;
    writeU16(buf, a, 1);
    writeU16(buf, a + 2, 0x0800);
    buf[a + 4] = 6;
    buf[a + 5] = 4;
    writeU16(buf, a + 6, 1);
    for (let k = 0; k < 6; k++) {
      buf[a + 8 + k] = this.uplinkMac[k];
      buf[a + 18 + k] = 0;
    }
    writeU32(buf, a + 14, sender);
    writeU32(buf, a + 24, target);
    let len = (vnet ? VNET_HDR_LEN : 0) + 42;
    // pad to the Ethernet minimum
    for (let k = 42; k < 60; k++) buf[e + k] = 0;
    len += 18;
    this.queue(b, this.uplinkPort, off, len);
  }

  /**
   * ARP on the uplink: answer for the public addresses behind the IGW (and
   * the uplink's own address), learn every sender, release frames waiting
   * for that sender's MAC.
   */
  private uplinkArp(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number, nowMs: number): number {
    const a = this.ethOff + 14;
    if (end - a < 28) return DropReason.Malformed;
    if (!isEthernetIpv4Arp(buf, a)) return DropReason.Malformed;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14) | 0;
    const tpa = readU32(buf, a + 24) | 0;
    const ours = this.topo.publicIndex.get(tpa) >= 0 || (this.uplinkIp !== 0 && tpa === this.uplinkIp) || this.isWanAddr(tpa);
    if (spa !== 0 && (op === 2 || ours) && this.topo.publicIndex.get(spa) < 0 && !this.isWanAddr(spa)) {
      this.neighbors.learn(spa, buf, a + 8);
      this.releasePending(b, spa);
    }
    if (op !== 1 || !ours) return DropReason.ArpIgnored;
    return this.arpReplyInPlace(b, buf, port, start, end, spa, tpa, this.uplinkMac, 0);
  }

  /** Sends the frames that waited for `ip`'s MAC (into scratch slots of this batch). */
  private releasePending(b: PacketBatch, ip: number): void {
    const n = this.neighbors;
    if (n.pendingCount === 0) return;
    const slot = n.lookup(ip);
    if (slot < 0) return;
    const buf = b.arena;
    for (let s = 0; s < n.pendingLen.length; s++) {
      const len = n.pendingLen[s];
      if (len < 0 || n.pendingIp[s] !== (ip | 0)) continue;
      n.pendingLen[s] = -1;
      n.pendingCount--;
      const off = b.takeScratch();
      if (off < 0 || len > b.scratchSize) {
        n.dropped++;
        continue;
      }
      const src = s * n.pendingSlotSize;
      for (let k = 0; k < len; k++) buf[off + k] = n.pendingData[src + k];
      const e = off + (this.portVnet[n.pendingPort[s]] === 1 ? VNET_HDR_LEN : 0);
      for (let k = 0; k < 6; k++) buf[e + k] = n.macs[slot * 6 + k];
      this.queue(b, n.pendingPort[s], off, len);
    }
  }

  /** IPv4 from the internet: to an instance's public address, or to a NAT gateway's. */
  private fromUplink(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number, nowMs: number): number {
    const ethOff = this.ethOff;
    // The uplink sees the lab internet's floods: only frames for us count.
    for (let k = 0; k < 6; k++) if (buf[ethOff + k] !== this.uplinkMac[k]) return DropReason.NotForRouter;
    const r = this.parseIpv4(buf, end);
    if (r !== DropReason.None) return r;
    const vpn = this.vpn;
    if (vpn !== null && this.proto === 17 && this.fragOff === 0 && this.isWanAddr(this.dst)) return this.fromWan(b, buf, start, nowMs);
    if (isPrivateOrShared(this.src)) return DropReason.IgwRejected;
    return this.igwInbound(b, buf, start, end, nowMs);
  }

  /** The IGW's inbound side: the destination is one of our public addresses (instance 1:1 NAT, or a NAT gateway's Elastic IP). */
  private igwInbound(b: PacketBatch, buf: Uint8Array, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    const a = topo.publicIndex.get(this.dst);
    if (a < 0) return DropReason.IgwNoPublicIp;
    const kind = a >>> 24, idx = a & 0xffffff;
    if (kind === AddrKind.NatGateway) return this.fromInternetToNat(b, buf, this.nats[idx], start, end, nowMs);
    // 1:1 NAT of the destination to the instance's private address
    const priv = topo.instIp[idx];
    if (this.proto === 1 && this.fragOff === 0 && isIcmpError(buf[this.l4Off])) {
      rewriteIcmpQuote(buf, this.l4Off, this.l3End, 12, priv, -1);
    }
    rewriteAddrPort(buf, this.l3Off, this.l4ForRewrite(), this.proto, 16, priv, -1, this.partialCsum(buf));
    this.dst = priv;
    this.igwCounters[2]++;
    this.igwCounters[3] += this.l3End - this.l3Off;
    const outPort = this.instPort[idx];
    if (outPort < 0) return DropReason.NoDestination;
    const sec = this.security;
    if (sec !== null) {
      const pr = this.secure(sec, buf, -1, -1, idx, topo.instSubnet[idx], nowMs, false);
      if (pr !== DropReason.None) return pr;
    }
    this.deliverToInstance(b, buf, idx, outPort, start, end);
    return DropReason.None;
  }

  /**
   * Instance -> NAT gateway -> (IGW) -> internet. Legs: the instance's SG
   * egress and its subnet's outbound NACL, the NAT gateway subnet's inbound
   * NACL; translation of the source to the gateway's private address and a
   * port allocated for the destination; the gateway subnet's route table
   * and outbound NACL; the IGW's 1:1 translation to the Elastic IP.
   */
  private toNatGateway(b: PacketBatch, buf: Uint8Array, nat: NatGatewayState, srcInst: number, srcSubnet: number, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    const proto = this.proto;
    const len = this.l3End - this.l3Off;
    const c = nat.counters;
    c[NatCounter.PacketsInFromSource]++;
    c[NatCounter.BytesInFromSource] += len;
    // TCP, UDP and ICMP only; fragmented TCP and ICMP are dropped, fragmented UDP forwarded.
    if (proto !== 6 && proto !== 17 && proto !== 1) {
      c[NatCounter.PacketsDropped]++;
      return DropReason.NatUnsupportedProto;
    }
    const fragmented = this.fragOff !== 0 || this.moreFrags;
    if (fragmented && proto !== 17) {
      c[NatCounter.PacketsDropped]++;
      return DropReason.Fragment;
    }
    if (proto === 1 && (buf[this.l4Off] !== 8 || this.fragOff !== 0)) {
      // Only echo requests open ICMP sessions from inside.
      c[NatCounter.PacketsDropped]++;
      return DropReason.NatUnsupportedProto;
    }
    const sec = this.security;
    if (sec !== null) {
      const r = this.secure(sec, buf, srcInst, srcSubnet, -1, nat.subnet, nowMs, true);
      if (r !== DropReason.None) {
        c[NatCounter.PacketsDropped]++;
        return r;
      }
    }
    const dst = this.dst;
    let natPort = -1;
    if (this.fragOff === 0) {
      let ref = nat.lookupInside(this.src, dst, this.sport, this.dport, proto);
      if (ref === NO_FLOW) {
        const tcpFlags = proto === 6 ? buf[this.l4Off + 13] : 0;
        if (proto === 6 && (tcpFlags & 0x02) === 0) {
          // No session for a mid-stream segment (it idled out): the NAT gateway answers with a RST.
          if ((tcpFlags & 0x04) === 0) this.sendRstToInside(b, buf, srcInst, nowMs);
          c[NatCounter.PacketsDropped]++;
          return DropReason.AfterClose;
        }
        const f = nat.create(this.src, dst, this.sport, this.dport, proto, nowMs);
        if (f === -1) {
          c[NatCounter.PacketsDropped]++;
          return DropReason.NatPortExhausted;
        }
        if (f < 0) {
          return DropReason.ConntrackFull;
        }
        ref = f * 2;
      }
      nat.touch(ref, nowMs, len, proto === 6 ? buf[this.l4Off + 13] : 0);
      natPort = nat.sessions.pool.natPort[ref >>> 1];
    }
    rewriteAddrPort(buf, this.l3Off, this.l4ForRewrite(), proto, 12, nat.ip, natPort, this.partialCsum(buf));
    this.src = nat.ip;
    if (natPort >= 0) this.sport = natPort;
    // From the gateway: its subnet's route table decides where the translated packet goes.
    const e = topo.route(topo.subnetRouteTable[nat.subnet], dst);
    if (e >= 0 && topo.rtKind[e] === Target.Vgw && this.vpn !== null) {
      // A NAT gateway towards the VPN (the private type's purpose): the other network sees the gateway's private address.
      if (sec !== null) {
        const r = sec.naclLeg(nat.subnet, -1, nat.ip, dst, proto, this.dport);
        if (r !== DropReason.None) {
          c[NatCounter.PacketsDropped]++;
          return r;
        }
      }
      const conn = this.vpn.connectionFor(dst, -1);
      if (conn < 0) {
        c[NatCounter.PacketsDropped]++;
        return DropReason.NoRoute;
      }
      c[NatCounter.PacketsOutToDestination]++;
      c[NatCounter.BytesOutToDestination] += len;
      return this.encryptOut(b, buf, conn, -1, nowMs);
    }
    if (e < 0 || topo.rtKind[e] !== Target.Igw) {
      c[NatCounter.PacketsDropped]++;
      return e < 0 ? DropReason.NoRoute : DropReason.UnsupportedTarget;
    }
    // A private NAT gateway has no Elastic IP: the IGW drops what it sends.
    if (!nat.isPublic || nat.publicIp === 0 || this.uplinkPort < 0) {
      c[NatCounter.PacketsDropped]++;
      return DropReason.IgwNoPublicIp;
    }
    if (sec !== null) {
      const r = sec.naclLeg(nat.subnet, -1, nat.ip, dst, proto, proto === 1 ? this.dport : this.dport);
      if (r !== DropReason.None) {
        c[NatCounter.PacketsDropped]++;
        return r;
      }
    }
    c[NatCounter.PacketsOutToDestination]++;
    c[NatCounter.BytesOutToDestination] += len;
    this.igwOut(buf, nat.publicIp);
    if (this.topo.publicIndex.get(dst) >= 0) return this.igwInbound(b, buf, start, end, nowMs);
    return this.sendUplink(b, buf, start, end, dst, nat.publicIp, nowMs);
  }

  /** Internet -> NAT gateway Elastic IP: the reverse translation, or an unsolicited drop. */
  private fromInternetToNat(b: PacketBatch, buf: Uint8Array, nat: NatGatewayState, start: number, end: number, nowMs: number): number {
    const proto = this.proto;
    const len = this.l3End - this.l3Off;
    // IGW: Elastic IP -> the gateway's private address (in an ICMP error's quote too, where it is the source)
    if (proto === 1 && this.fragOff === 0 && isIcmpError(buf[this.l4Off])) rewriteIcmpQuote(buf, this.l4Off, this.l3End, 12, nat.ip, -1);
    rewriteAddrPort(buf, this.l3Off, this.l4ForRewrite(), proto, 16, nat.ip, -1, this.partialCsum(buf));
    this.dst = nat.ip;
    this.igwCounters[2]++;
    this.igwCounters[3] += len;
    return this.natReverse(b, buf, nat, start, end, nowMs);
  }

  /** A packet for the NAT gateway's private address (from the IGW or a VPN tunnel): reverse translation to the inside host. */
  private natReverse(b: PacketBatch, buf: Uint8Array, nat: NatGatewayState, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    const proto = this.proto;
    const len = this.l3End - this.l3Off;
    const c = nat.counters;
    const sec = this.security;
    if (sec !== null) {
      const r = sec.naclLeg(-1, nat.subnet, this.src, nat.ip, proto, this.dport);
      if (r !== DropReason.None) return r;
    }
    let ref = NO_FLOW;
    let icmpErr = false;
    if (proto === 1 && this.fragOff === 0 && isIcmpError(buf[this.l4Off])) {
      // An error about a packet the gateway sent: find the session from the quote (gateway -> destination).
      const q = this.quote;
      if (!readIcmpQuote(buf, this.l4Off, this.l3End, q) || (q[0] | 0) !== (nat.ip | 0)) {
        c[NatCounter.PacketsDropped]++;
        return DropReason.Unsolicited;
      }
      ref = q[2] === 1 ? nat.lookupOutside(q[1], q[3], 0, 1) : nat.lookupOutside(q[1], q[4], q[3], q[2]);
      icmpErr = true;
    } else if (this.fragOff === 0 && (proto === 6 || proto === 17 || proto === 1)) {
      ref = nat.lookupOutside(this.src, this.sport, this.dport, proto);
    }
    if (ref === NO_FLOW) {
      c[NatCounter.PacketsDropped]++;
      return DropReason.Unsolicited;
    }
    const f = ref >>> 1;
    const pool = nat.sessions.pool;
    const insideIp = pool.key[f * 8] | 0;
    const insidePort = pool.key[f * 8 + 2] >>> 16;
    c[NatCounter.PacketsInFromDestination]++;
    c[NatCounter.BytesInFromDestination] += len;
    if (icmpErr) {
      rewriteIcmpQuote(buf, this.l4Off, this.l3End, 12, insideIp, insidePort);
      rewriteAddrPort(buf, this.l3Off, this.l4Off, proto, 16, insideIp, -1, false);
    } else {
      nat.touch(ref, nowMs, len, proto === 6 ? buf[this.l4Off + 13] : 0);
      rewriteAddrPort(buf, this.l3Off, this.l4ForRewrite(), proto, 16, insideIp, insidePort, this.partialCsum(buf));
      if (proto !== 1) this.dport = insidePort;
      else this.sport = insidePort;
    }
    this.dst = insideIp;
    const ai = topo.classify(insideIp);
    if (ai < 0 || ai >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const inst = ai & 0xffffff;
    const outPort = this.instPort[inst];
    if (outPort < 0) return DropReason.NoDestination;
    if (sec !== null) {
      const pr = this.secure(sec, buf, -1, nat.subnet, inst, topo.instSubnet[inst], nowMs, false);
      if (pr !== DropReason.None) {
        c[NatCounter.PacketsDropped]++;
        return pr;
      }
    }
    c[NatCounter.PacketsOutToSource]++;
    c[NatCounter.BytesOutToSource] += len;
    this.deliverToInstance(b, buf, inst, outPort, start, end);
    return DropReason.None;
  }

  /**
   * A TCP RST to the inside host for the segment being processed (the NAT
   * gateway's answer to a connection it no longer knows, AWS: after the idle
   * timeout), built in a scratch slot: from the segment's destination to its source.
   */
  private sendRstToInside(b: PacketBatch, buf: Uint8Array, inst: number, nowMs: number): void {
    void nowMs;
    const outPort = this.instPort[inst];
    if (outPort < 0) return;
    const off = b.takeScratch();
    if (off < 0) return;
    const out = b.arena;
    const vnet = this.portVnet[outPort] === 1;
    if (vnet) for (let k = 0; k < VNET_HDR_LEN; k++) out[off + k] = 0;
    const e = off + (vnet ? VNET_HDR_LEN : 0);
    this.writeL2ToInstance(out, e, inst);
    writeU16(out, e + 12, ETH_IPV4);
    const ip = e + 14;
    const l4 = this.l4Off;
    const seg = this.l3End - this.l4Off;
    const dataLen = seg - ((buf[l4 + 12] >>> 4) << 2);
    const flags = buf[l4 + 13];
    const inSeq = readU32(buf, l4 + 4);
    const inAck = readU32(buf, l4 + 8);
    writeIpv4Header(out, ip, 40, 0, true, 6, this.dst, this.src);
    const t = ip + 20;
    writeU16(out, t, this.dport);
    writeU16(out, t + 2, this.sport);
    // RFC 793: if the segment had ACK, RST with seq = its ack; else RST+ACK acking it.
    const hasAck = (flags & 0x10) !== 0;
    writeU32(out, t + 4, hasAck ? inAck : 0);
    writeU32(out, t + 8, hasAck ? 0 : (inSeq + dataLen + ((flags & 0x03) !== 0 ? 1 : 0)) >>> 0);
    out[t + 12] = 0x50;
    out[t + 13] = hasAck ? 0x04 : 0x14;
    writeU16(out, t + 14, 0);
    writeU16(out, t + 16, 0);
    writeU16(out, t + 18, 0);
    // checksum over pseudo-header + segment
    let sum = (this.dst >>> 16) + (this.dst & 0xffff) + (this.src >>> 16) + (this.src & 0xffff) + 6 + 20;
    sum = onesSum(out, t, 20, sum);
    writeU16(out, t + 16, ~sum & 0xffff);
    this.queue(b, outPort, off, (vnet ? VNET_HDR_LEN : 0) + 54);
  }

  // ======================================================================
  // Site-to-site VPN (aws-semantics §8): ESP in UDP 4500 on the WAN
  // ======================================================================

  private nextIpId(): number {
    this.ipIdent = (this.ipIdent + 1) & 0xffff;
    return this.ipIdent;
  }

  /** One of our VPN tunnel endpoint addresses. */
  isWanAddr(ip: number): boolean {
    const vpn = this.vpn;
    if (vpn === null) return false;
    const l = vpn.tunLocal;
    for (let i = 0; i < l.length; i++) if (l[i] === ip) return true;
    return false;
  }

  /** UDP to a WAN address: IKE (500, or 4500 with the zero non-ESP marker) is punted; ESP is decrypted. */
  private fromWan(b: PacketBatch, buf: Uint8Array, start: number, nowMs: number): number {
    const udp = this.l4Off;
    const pay = udp + 8;
    const plen = this.l3End - pay;
    if (this.dport === 500 || (this.dport === 4500 && plen >= 4 && readU32(buf, pay) === 0)) {
      if (plen > 0 && plen <= 65_000) {
        this.punts.push({ local: this.dst, localPort: this.dport, from: this.src, fromPort: this.sport, bytes: Buffer.from(buf.subarray(pay, pay + plen)) });
      }
      return DropReason.None;
    }
    if (this.dport !== 4500) return DropReason.NotForRouter;
    if (plen === 1 && buf[pay] === 0xff) return DropReason.None; // NAT keepalive (RFC 3948 §2.3)
    const vpn = this.vpn!;
    const crypto = vpn.crypto;
    if (crypto === null) return DropReason.EspNoSa;
    const ethOff = this.ethOff;
    const n = crypto.decrypt(buf, pay, plen, buf, ethOff + 14);
    if (n < 0) return n === -1 ? DropReason.EspNoSa : n === -2 ? DropReason.EspReplay : n === -3 ? DropReason.EspAuth : DropReason.Malformed;
    const t = crypto.lastTunnel;
    const c = vpn.tunConn[t];
    vpn.counters[t * 4 + VpnCounter.BytesIn] += n;
    vpn.counters[t * 4 + VpnCounter.PacketsIn]++;
    // The inner packet now sits where the outer IP header was: a plain frame, no offload metadata.
    if (this.vnetOff >= 0) for (let k = 0; k < VNET_HDR_LEN; k++) buf[this.vnetOff + k] = 0;
    writeU16(buf, ethOff + 12, ETH_IPV4);
    const end = ethOff + 14 + n;
    const r = this.parseIpv4(buf, end);
    if (r !== DropReason.None) return r;
    // Only the peer's networks may come through its tunnel (its traffic selectors).
    if (!vpn.fromRemote(c, this.src)) return DropReason.SourceDestCheck;
    return this.fromTunnel(b, buf, c, start, end, nowMs);
  }

  /** A decrypted packet: to an instance here, or (VPN CloudHub) on through another connection. */
  private fromTunnel(b: PacketBatch, buf: Uint8Array, c: number, start: number, end: number, nowMs: number): number {
    const topo = this.topo;
    const dst = this.dst;
    if (((dst & topo.vpcMask) >>> 0) === topo.vpcNet) {
      const a = topo.classify(dst);
      if (a >= 0 && a >>> 24 === AddrKind.NatGateway) return this.natReverse(b, buf, this.nats[a & 0xffffff], start, end, nowMs);
      if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
      const inst = a & 0xffffff;
      const outPort = this.instPort[inst];
      if (outPort < 0) return DropReason.NoDestination;
      const sec = this.security;
      if (sec !== null) {
        // AWS: traffic entering the VPC from a VPN is subject to the subnet's NACL and the ENI's SG.
        const pr = this.secure(sec, buf, -1, -1, inst, topo.instSubnet[inst], nowMs, false);
        if (pr !== DropReason.None) return pr;
      }
      if (this.proto === 6 && this.fragOff === 0) this.clampMssAt(buf, this.l3Off, this.l3End - this.l3Off, this.vpnMss(c));
      this.deliverToInstance(b, buf, inst, outPort, start, end);
      return DropReason.None;
    }
    // VPN CloudHub: the VGW re-advertises every site's networks to the others.
    const vpn = this.vpn!;
    if (vpn.connRole[c] === 1) {
      const c2 = vpn.connectionFor(dst, c);
      if (c2 >= 0) return this.encryptOut(b, buf, c2, -1, nowMs);
    }
    return DropReason.NoRoute;
  }

  /** An instance's packet routed to the VPN gateway (route target vgw). */
  private toVpn(b: PacketBatch, buf: Uint8Array, srcInst: number, srcSubnet: number, start: number, end: number, nowMs: number): number {
    if (this.dxPort >= 0 && this.dxCovers(this.dst) && this.dxUp(nowMs)) return this.toDx(b, buf, srcInst, srcSubnet, start, end, nowMs);
    const vpn = this.vpn;
    if (vpn === null) return DropReason.NoRoute;
    // The WAN peer itself is never reached through its own tunnel.
    if (vpn.isPeer(this.dst)) return this.toInternet(b, buf, srcInst, srcSubnet, start, end, nowMs);
    const c = vpn.connectionFor(this.dst, -1);
    if (c < 0) return DropReason.NoRoute;
    const sec = this.security;
    if (sec !== null) {
      const r = this.secure(sec, buf, srcInst, srcSubnet, -1, -1, nowMs, false);
      if (r !== DropReason.None) return r;
    }
    return this.encryptOut(b, buf, c, srcInst, nowMs);
  }

  /** TCP MSS that fits connection c's active tunnel (or a conservative default). */
  private vpnMss(c: number): number {
    const vpn = this.vpn!;
    const t = vpn.activeTunnel(c);
    return (t >= 0 && vpn.crypto !== null ? vpn.crypto.innerMtu(t) : 1400) - 40;
  }

  /**
   * Encrypts the parsed packet into connection c's active tunnel. Super-frames
   * are segmented and partial checksums completed first (the peer will do
   * neither); TCP SYNs get their MSS clamped to the tunnel; a packet over the
   * tunnel MTU with DF set gets an ICMP fragmentation-needed back.
   */
  private encryptOut(b: PacketBatch, buf: Uint8Array, c: number, srcInst: number, nowMs: number): number {
    const vpn = this.vpn!;
    const t = vpn.activeTunnel(c);
    if (t < 0) return DropReason.VpnDown;
    const crypto = vpn.crypto!;
    const mtu = crypto.innerMtu(t);
    const l3 = this.l3Off;
    let len = this.l3End - l3;
    if (this.vnetOff >= 0) {
      if (gsoType(buf, this.vnetOff) === GSO_TCPV4 && this.proto === 6) {
        const mss = Math.min(gsoSize(buf, this.vnetOff), mtu - 40);
        this.segBatch = b;
        this.segTunnel = t;
        this.segNow = nowMs;
        this.segFailed = 0;
        const n = segmentTcp4(buf, l3, this.l3End, mss, this.work, 0, this.segEmit);
        this.segBatch = null;
        if (n < 0) return DropReason.TooBig;
        return this.segFailed > 0 ? DropReason.TxError : DropReason.None;
      }
      completeChecksum(buf, this.vnetOff, this.ethOff, this.l3End);
    }
    if (this.proto === 6 && this.fragOff === 0) this.clampMssAt(buf, l3, len, mtu - 40);
    if (len > mtu) {
      const df = (buf[l3 + 6] & 0x40) !== 0;
      if (df && srcInst >= 0) this.sendFragNeeded(b, buf, srcInst, mtu);
      return DropReason.TooBig;
    }
    len = this.l3End - l3;
    return this.encryptOne(b, t, buf, l3, len, nowMs);
  }

  /** ESP-in-UDP encapsulation of one inner IPv4 packet into a scratch frame on the uplink. */
  private encryptOne(b: PacketBatch, t: number, src: Uint8Array, off: number, len: number, nowMs: number): number {
    const vpn = this.vpn!;
    const s = b.takeScratch();
    if (s < 0 || len + 160 > b.scratchSize) return DropReason.TxError;
    const out = b.arena;
    const vnet = this.portVnet[this.uplinkPort] === 1;
    if (vnet) for (let k = 0; k < VNET_HDR_LEN; k++) out[s + k] = 0;
    const e = s + (vnet ? VNET_HDR_LEN : 0);
    const espOff = e + 42;
    const crypto = vpn.crypto!;
    // Deferred seal (one native call per batch) when the frame goes straight to tx; a frame that
    // waits for ARP is copied to the pending queue now, so it is sealed now.
    const espLen = crypto.encryptDeferred !== undefined && this.neighbors.lookup(vpn.tunPeer[t]) >= 0
      ? crypto.encryptDeferred(t, src, off, len, out, espOff, b.txCount)
      : crypto.encrypt(t, src, off, len, out, espOff);
    if (espLen < 0) return DropReason.EspNoSa;
    writeU16(out, e + 12, ETH_IPV4);
    const ip = e + 14;
    writeIpv4Header(out, ip, 28 + espLen, this.nextIpId(), false, 17, vpn.tunLocal[t], vpn.tunPeer[t]);
    const u = ip + 20;
    writeU16(out, u, 4500);
    writeU16(out, u + 2, 4500);
    writeU16(out, u + 4, 8 + espLen);
    writeU16(out, u + 6, 0); // RFC 3948 §2.1: the UDP checksum of ESP-in-UDP may be zero
    vpn.counters[t * 4 + VpnCounter.BytesOut] += len;
    vpn.counters[t * 4 + VpnCounter.PacketsOut]++;
    return this.sendUplinkFrame(b, s, e, espOff + espLen, vpn.tunPeer[t], vpn.tunLocal[t], nowMs);
  }

  /** sendUplink for a frame that is not the one being parsed (scratch frames). */
  private sendUplinkFrame(b: PacketBatch, start: number, ethOff: number, end: number, nextHop: number, arpSrc: number, nowMs: number): number {
    const saved = this.ethOff;
    this.ethOff = ethOff;
    const r = this.sendUplink(b, b.arena, start, end, nextHop, arpSrc, nowMs);
    this.ethOff = saved;
    return r;
  }

  /**
   * Sends a UDP datagram from one of our WAN addresses (IKE), outside batch
   * processing: the caller resets the batch, calls this, then transmits.
   */
  emitUdp(b: PacketBatch, src: number, sport: number, dst: number, dport: number, payload: Uint8Array, nowMs: number): boolean {
    if (this.uplinkPort < 0 || payload.length > 1472) return false;
    const s = b.takeScratch();
    if (s < 0 || payload.length + 64 > b.scratchSize) return false;
    const out = b.arena;
    const vnet = this.portVnet[this.uplinkPort] === 1;
    if (vnet) for (let k = 0; k < VNET_HDR_LEN; k++) out[s + k] = 0;
    const e = s + (vnet ? VNET_HDR_LEN : 0);
    writeU16(out, e + 12, ETH_IPV4);
    const ip = e + 14;
    const total = 28 + payload.length;
    writeIpv4Header(out, ip, total, this.nextIpId(), false, 17, src, dst);
    const u = ip + 20;
    writeU16(out, u, sport);
    writeU16(out, u + 2, dport);
    writeU16(out, u + 4, 8 + payload.length);
    writeU16(out, u + 6, 0);
    out.set(payload, u + 8);
    const ulen = 8 + payload.length;
    let c = ~onesSum(out, u, ulen, (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + ulen) & 0xffff;
    if (c === 0) c = 0xffff;
    writeU16(out, u + 6, c);
    return this.sendUplinkFrame(b, s, e, u + ulen, dst, src, nowMs) === DropReason.None;
  }

  /** Lowers the MSS option of a TCP SYN in the IPv4 packet at buf[l3..l3+len) to `max`, fixing the checksum. */
  private clampMssAt(buf: Uint8Array, l3: number, len: number, max: number): void {
    if (buf[l3 + 9] !== 6) return;
    const ihl = (buf[l3] & 15) << 2;
    const t = l3 + ihl;
    if (t + 20 > l3 + len || (buf[t + 13] & 0x02) === 0) return;
    const thl = (buf[t + 12] >>> 4) << 2;
    const end = Math.min(t + thl, l3 + len);
    for (let o = t + 20; o < end;) {
      const kind = buf[o];
      if (kind === 0) break;
      if (kind === 1) { o++; continue; }
      const olen = buf[o + 1];
      if (olen < 2 || o + olen > end) break;
      if (kind === 2 && olen === 4) {
        const mss = readU16(buf, o + 2);
        if (mss > max) {
          writeU16(buf, o + 2, max);
          writeU16(buf, t + 16, checksumUpdate16(readU16(buf, t + 16), mss, max));
        }
        return;
      }
      o += olen;
    }
  }

  /** ICMP destination unreachable / fragmentation needed (RFC 1191) from the subnet router to an instance. */
  private sendFragNeeded(b: PacketBatch, buf: Uint8Array, inst: number, mtu: number): void {
    const outPort = this.instPort[inst];
    if (outPort < 0) return;
    const s = b.takeScratch();
    if (s < 0) return;
    const out = b.arena;
    const topo = this.topo;
    const vnet = this.portVnet[outPort] === 1;
    if (vnet) for (let k = 0; k < VNET_HDR_LEN; k++) out[s + k] = 0;
    const e = s + (vnet ? VNET_HDR_LEN : 0);
    const sub = topo.instSubnet[inst];
    this.writeL2ToInstance(out, e, inst);
    writeU16(out, e + 12, ETH_IPV4);
    const ip = e + 14;
    const ihl = (buf[this.l3Off] & 15) << 2;
    const quote = Math.min(ihl + 8, this.l3End - this.l3Off);
    const total = 20 + 8 + quote;
    writeIpv4Header(out, ip, total, 0, false, 1, topo.subnetRouterIp[sub], this.src);
    const ic = ip + 20;
    out[ic] = 3;
    out[ic + 1] = 4;
    writeU16(out, ic + 2, 0);
    writeU16(out, ic + 4, 0);
    writeU16(out, ic + 6, mtu);
    for (let k = 0; k < quote; k++) out[ic + 8 + k] = buf[this.l3Off + k];
    writeU16(out, ic + 2, ~onesSum(out, ic, 8 + quote) & 0xffff);
    this.queue(b, outPort, s, (e - s) + 14 + total);
  }


  // ======================================================================
  // Direct Connect stand-in
  // ======================================================================

  /** Over the plain link: L2 rewrite only (offload metadata stays valid on a veth). */
  private toDx(b: PacketBatch, buf: Uint8Array, srcInst: number, srcSubnet: number, start: number, end: number, nowMs: number): number {
    const sec = this.security;
    if (sec !== null) {
      const r = this.secure(sec, buf, srcInst, srcSubnet, -1, -1, nowMs, false);
      if (r !== DropReason.None) return r;
    }
    const e = this.ethOff;
    for (let k = 0; k < 6; k++) {
      buf[e + k] = this.dxPeerMac[k];
      buf[e + 6 + k] = this.dxMac[k];
    }
    this.dxCounters[0]++;
    this.dxCounters[1] += this.l3End - this.l3Off;
    this.queue(b, this.dxPort, start, end - start);
    return DropReason.None;
  }

  /** From the link: to an instance of this site (NACL and SG apply, as for any traffic entering the VPC). */
  private fromDx(b: PacketBatch, buf: Uint8Array, start: number, end: number, nowMs: number): number {
    const e = this.ethOff;
    for (let k = 0; k < 6; k++) if (buf[e + k] !== this.dxMac[k]) return DropReason.NotForRouter;
    const r = this.parseIpv4(buf, end);
    if (r !== DropReason.None) return r;
    if (!this.dxCovers(this.src)) return DropReason.SourceDestCheck;
    const topo = this.topo;
    const a = topo.classify(this.dst);
    if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const inst = a & 0xffffff;
    const outPort = this.instPort[inst];
    if (outPort < 0) return DropReason.NoDestination;
    const sec = this.security;
    if (sec !== null) {
      const pr = this.secure(sec, buf, -1, -1, inst, topo.instSubnet[inst], nowMs, false);
      if (pr !== DropReason.None) return pr;
    }
    this.dxCounters[2]++;
    this.dxCounters[3] += this.l3End - this.l3Off;
    this.deliverToInstance(b, buf, inst, outPort, start, end);
    return DropReason.None;
  }

  /** ARP on the link: answer for our address, learn (and take as a sign of life) the peer's. */
  private dxArp(b: PacketBatch, buf: Uint8Array, port: number, start: number, end: number, nowMs: number): number {
    const a = this.ethOff + 14;
    if (end - a < 28) return DropReason.Malformed;
    if (!isEthernetIpv4Arp(buf, a)) return DropReason.Malformed;
    const op = readU16(buf, a + 6);
    const spa = readU32(buf, a + 14) | 0;
    const tpa = readU32(buf, a + 24) | 0;
    if (spa === this.dxPeer) {
      for (let k = 0; k < 6; k++) this.dxPeerMac[k] = buf[a + 8 + k];
      this.dxSeenMs = nowMs;
    }
    if (op !== 1 || tpa !== this.dxIp) return DropReason.ArpIgnored;
    return this.arpReplyInPlace(b, buf, port, start, end, spa, tpa, this.dxMac, 0);
  }

  /** The liveness probe: an ARP request for the peer (outside batch processing, like emitUdp). */
  emitDxProbe(b: PacketBatch): void {
    if (this.dxPort < 0) return;
    const saved = this.uplinkPort;
    // arpRequest builds on the uplink's port and MAC; borrow them for the link.
    const savedMac = Uint8Array.from(this.uplinkMac);
    this.uplinkPort = this.dxPort;
    this.uplinkMac.set(this.dxMac);
    this.arpRequest(b, this.dxPeer, this.dxIp);
    this.uplinkPort = saved;
    this.uplinkMac.set(savedMac);
  }

}

/** RFC 1918 and RFC 6598 space, which the internet gateway neither sends to nor accepts from. */
function isPrivateOrShared(ip: number): boolean {
  const a = ip >>> 24, b2 = (ip >>> 16) & 0xff;
  return a === 10 || (a === 172 && b2 >= 16 && b2 <= 31) || (a === 192 && b2 === 168) || (a === 100 && b2 >= 64 && b2 <= 127);
}

/** Ethernet/IPv4 ARP: hardware type 1, protocol 0x0800, address lengths 6 and 4. */
function isEthernetIpv4Arp(buf: Uint8Array, a: number): boolean {
  return readU16(buf, a) === 1 && readU16(buf, a + 2) === 0x0800 && buf[a + 4] === 6 && buf[a + 5] === 4;
}

/** A 20-byte IPv4 header (no options, TTL 64) with its checksum, for frames vpcd generates. */
function writeIpv4Header(out: Uint8Array, ip: number, total: number, id: number, df: boolean, proto: number, src: number, dst: number): void {
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
