/**
 * Site-to-site VPN forwarding (aws-semantics §8): ESP in UDP 4500 on the
 * WAN. Outbound, an inner IPv4 packet is encapsulated into its connection's
 * active tunnel: super-frames are segmented and partial checksums completed
 * first (the peer does neither), TCP SYNs get their MSS clamped to the
 * tunnel, a packet over the tunnel MTU with DF set gets an ICMP
 * fragmentation-needed back. Inbound, IKE (UDP 500, or 4500 with the
 * non-ESP marker) is punted to the control plane, NAT keepalives are
 * consumed, ESP is decrypted in place. The security stages of the inner
 * packet are in the wiring (pipeline/legs.ts); the ESP engine is src/ipsec.
 * Allocation-free except the copy of a punted IKE datagram (control-plane
 * rate, bounded per batch).
 */
import type { Topology } from '../control/topology.js';
import { writeU16 } from '../wire/bytes.js';
import { espDropReason } from '../ipsec/esp.js';
import { UDP_ENCAP_PORT, UdpEncapKind, classifyUdpEncap, writeUdpEncapHeader } from '../ipsec/udp-encap.js';
import { DropReason, type PacketBatch, VNET_HDR_LEN } from '../pipeline/batch.js';
import type { Packet } from '../pipeline/packet.js';
import type { Ports } from '../pipeline/ports.js';
import { ETH_IPV4, takeFrame, vnetLen, writeFragNeeded, writeIpv4Header, writeL2ToInstance } from '../pipeline/frames.js';
import { GSO_TCPV4, completeChecksum, gsoSize, gsoType, segmentTcp4 } from '../pipeline/gso.js';
import type { InternetGateway } from '../nat/igw.js';
import { clampTcpMss } from '../wire/tcp-mss.js';
import { type VpnPath, VpnCounter } from './vpn-path.js';

/** An IKE datagram punted from the WAN to the control plane (copied: control-plane rate). */
export interface PuntedDatagram {
  readonly local: number;
  readonly localPort: number;
  readonly from: number;
  readonly fromPort: number;
  readonly bytes: Buffer;
}

/** IKE datagrams punted per batch at most; the rest are dropped and counted (ike_punt_overflow). */
export const MAX_PUNTS_PER_BATCH = 64;
/** IPv4 + TCP headers without options: what an MSS excludes. */
const TCPIP_HEADERS = 40;
/** Smallest payload per segment when splitting a super-frame (RFC 9293's default MSS, 536). */
export const MIN_SEGMENT_PAYLOAD = 536;

export class TunnelForward {
  private readonly ports: Ports;
  private readonly igw: InternetGateway;
  vpn: VpnPath | null = null;
  /** IKE datagrams received in this batch, for the control plane (drained after the batch). */
  readonly punts: PuntedDatagram[] = [];
  /** Work area for segmenting GSO super-frames before encryption. */
  private readonly work = new Uint8Array(160 * 1024);
  // context of the GSO segment callback (made once)
  private segBatch: PacketBatch | null = null;
  private segTunnel = 0;
  private segNow = 0;
  private segFailed = 0;
  private readonly segEmit = (off: number, len: number): void => {
    // segmentTcp4() calls this only inside encryptOut(), which sets the batch for the call.
    const b = this.segBatch!;
    clampTcpMss(this.work, off, len, this.vpn!.crypto!.innerMtu(this.segTunnel) - TCPIP_HEADERS);
    if (this.encryptOne(b, this.segTunnel, this.work, off, len, this.segNow) !== DropReason.None) this.segFailed++;
  };

  constructor(ports: Ports, igw: InternetGateway) {
    this.ports = ports;
    this.igw = igw;
  }

  /** One of our VPN tunnel endpoint addresses. */
  isWanAddr(ip: number): boolean {
    const vpn = this.vpn;
    if (vpn === null) return false;
    const l = vpn.tunLocal;
    // Stryker disable next-line EqualityOperator: equivalent (i <= length): tunLocal[length] is undefined, never an address
    for (let i = 0; i < l.length; i++) if (l[i] === ip) return true;
    return false;
  }

  /** TCP MSS that fits connection c's active tunnel (or a conservative default). */
  mss(c: number): number {
    const vpn = this.vpn!;
    const t = vpn.activeTunnel(c);
    // Stryker disable next-line ConditionalExpression: equivalent (crypto !== null -> true): activeTunnel() is -1 without an ESP engine
    return (t >= 0 && vpn.crypto !== null ? vpn.crypto.innerMtu(t) : 1400) - TCPIP_HEADERS;
  }

  /**
   * Encrypts the parsed packet into connection c's active tunnel. `srcInst`
   * (or -1) receives the fragmentation-needed error when the packet is too big.
   */
  encryptOut(b: PacketBatch, pkt: Packet, topo: Topology, c: number, srcInst: number, nowMs: number): number {
    const vpn = this.vpn!;
    const t = vpn.activeTunnel(c);
    if (t < 0) return DropReason.VpnDown;
    const crypto = vpn.crypto!;
    const mtu = crypto.innerMtu(t);
    const buf = pkt.buf;
    const l3 = pkt.l3Off;
    // (Mutant `true` is equivalent in the data plane: without a virtio header the GSO type is read from
    // the destination MAC's first byte, which is 1 only for a group address, and those never get here.)
    if (pkt.vnetOff >= 0) {
      if (gsoType(buf, pkt.vnetOff) === GSO_TCPV4 && pkt.proto === 6) {
        // Segments carry this super-frame's own IP and TCP headers (options included), so the
        // payload per segment is what the tunnel leaves after them. A tiny gso_size cannot fan one
        // frame out into thousands of ESP packets: segments carry at least MIN_SEGMENT_PAYLOAD bytes.
        const hdrs = (pkt.l4Off - l3) + ((buf[pkt.l4Off + 12] >>> 4) << 2);
        const room = mtu - hdrs;
        // (Mutants that let room 0 or less through are equivalent: segmentTcp4() refuses an mss <= 0 with -1.)
        if (room <= 0) return DropReason.TooBig;
        const mss = Math.min(Math.max(gsoSize(buf, pkt.vnetOff), MIN_SEGMENT_PAYLOAD), room);
        this.segBatch = b;
        this.segTunnel = t;
        this.segNow = nowMs;
        this.segFailed = 0;
        const n = segmentTcp4(buf, l3, pkt.l3End, mss, this.work, 0, this.segEmit);
        this.segBatch = null;
        // (Mutant `n <= 0` is equivalent: there is always at least one segment.)
        if (n < 0) return DropReason.TooBig;
        return this.segFailed > 0 ? DropReason.TxError : DropReason.None;
      }
      completeChecksum(buf, pkt.vnetOff, pkt.ethOff, pkt.l3End);
    }
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent: a shortcut only, clampTcpMss itself leaves anything but an unfragmented TCP packet alone
    if (pkt.proto === 6 && pkt.fragOff === 0) clampTcpMss(buf, l3, pkt.l3Len, mtu - TCPIP_HEADERS);
    if (pkt.l3Len > mtu) {
      const df = (buf[l3 + 6] & 0x40) !== 0;
      if (df && srcInst >= 0) this.sendFragNeeded(b, pkt, topo, srcInst, mtu);
      return DropReason.TooBig;
    }
    return this.encryptOne(b, t, buf, l3, pkt.l3Len, nowMs);
  }

  /** ESP-in-UDP encapsulation of one inner IPv4 packet into a scratch frame on the uplink. */
  private encryptOne(b: PacketBatch, t: number, src: Uint8Array, off: number, len: number, nowMs: number): number {
    const vpn = this.vpn!;
    const igw = this.igw;
    const s = takeFrame(b, this.ports, igw.port);
    // Stryker disable next-line EqualityOperator: equivalent (s <= 0): a scratch slot starts after the batch's rx slots, never at 0
    if (s < 0 || len + 160 > b.scratchSize) return DropReason.TxError;
    const out = b.arena;
    const e = s + vnetLen(this.ports, igw.port);
    const espOff = e + 42;
    const crypto = vpn.crypto!;
    // Deferred seal (one native call per batch) when the frame goes straight to tx; a frame that
    // waits for ARP is copied to the pending queue now, so it is sealed now. (Mutant `lookup() > 0`
    // is equivalent on the wire: a peer in neighbour slot 0 would be sealed at once, the same bytes.)
    const espLen = crypto.encryptDeferred !== undefined && igw.neighbors.lookup(igw.nextHop(vpn.tunPeer[t])) >= 0
      ? crypto.encryptDeferred(t, src, off, len, out, espOff, b.txCount)
      : crypto.encrypt(t, src, off, len, out, espOff);
    // Stryker disable next-line EqualityOperator: equivalent (espLen <= 0): an ESP packet has at least its header, never 0 bytes
    if (espLen < 0) return espDropReason(espLen);
    writeU16(out, e + 12, ETH_IPV4);
    const ip = e + 14;
    writeIpv4Header(out, ip, 28 + espLen, igw.nextIpId(), false, 17, vpn.tunLocal[t], vpn.tunPeer[t]);
    writeUdpEncapHeader(out, ip + 20, UDP_ENCAP_PORT, UDP_ENCAP_PORT, espLen);
    vpn.counters[t * 4 + VpnCounter.BytesOut] += len;
    vpn.counters[t * 4 + VpnCounter.PacketsOut]++;
    return igw.send(b, s, e, espOff + espLen, vpn.tunPeer[t], vpn.tunLocal[t], nowMs);
  }

  /** ICMP fragmentation needed from the subnet router to the instance that sent a too-big packet. */
  private sendFragNeeded(b: PacketBatch, pkt: Packet, topo: Topology, inst: number, mtu: number): void {
    const port = this.ports.instPort[inst];
    if (port < 0) return;
    const s = takeFrame(b, this.ports, port);
    // Stryker disable next-line EqualityOperator: equivalent (s <= 0): a scratch slot starts after the batch's rx slots, never at 0
    if (s < 0) return;
    const e = s + vnetLen(this.ports, port);
    writeL2ToInstance(b.arena, e, topo, this.ports, inst);
    const len = writeFragNeeded(b.arena, e + 14, topo.subnetRouterIp[topo.instSubnet[inst]], pkt.src, mtu, pkt.buf, pkt.l3Off, pkt.l3End);
    this.ports.queue(b, port, s, (e - s) + 14 + len);
  }

  /**
   * UDP to a WAN address: IKE is punted (bounded per batch), NAT keepalives
   * consumed, ESP decrypted in place so that the inner packet starts at
   * ethOff + 14. Returns DropReason.None with `tunnel` set for a decrypted
   * packet to forward, Consumed-like None with tunnel = -1 for what was
   * consumed, or a drop reason.
   */
  fromWan(pkt: Packet): number {
    this.tunnel = -1;
    const buf = pkt.buf;
    const pay = pkt.l4Off + 8;
    const plen = pkt.l3End - pay;
    const kind = pkt.dport === UDP_ENCAP_PORT ? classifyUdpEncap(buf, pay, plen) : UdpEncapKind.Invalid;
    if (pkt.dport === 500 || kind === UdpEncapKind.Ike) {
      if (plen <= 0 || plen > 65_000) return DropReason.Malformed;
      if (this.punts.length >= MAX_PUNTS_PER_BATCH) return DropReason.PuntOverflow;
      this.punts.push({ local: pkt.dst, localPort: pkt.dport, from: pkt.src, fromPort: pkt.sport, bytes: Buffer.from(buf.subarray(pay, pay + plen)) });
      return DropReason.None;
    }
    if (pkt.dport !== UDP_ENCAP_PORT) return DropReason.NotForRouter;
    if (kind === UdpEncapKind.Keepalive) return DropReason.None; // NAT keepalive (RFC 3948 §2.3)
    if (kind === UdpEncapKind.Invalid) return DropReason.Malformed;
    const vpn = this.vpn!;
    const crypto = vpn.crypto;
    if (crypto === null) return DropReason.EspNoSa;
    const n = crypto.decrypt(buf, pay, plen, buf, pkt.ethOff + 14);
    // A dummy packet (next header 59) is consumed: espDropReason gives None and nothing is forwarded.
    // Stryker disable next-line EqualityOperator: equivalent (n <= 0): a decrypted inner packet is a valid IPv4 packet, never 0 bytes
    if (n < 0) return espDropReason(n);
    const t = crypto.lastTunnel;
    // Stryker disable next-line ArithmeticOperator: equivalent (t * 4 - BytesIn): BytesIn is slot 0
    vpn.counters[t * 4 + VpnCounter.BytesIn] += n;
    vpn.counters[t * 4 + VpnCounter.PacketsIn]++;
    // The inner packet now sits where the outer IP header was: a plain frame, no offload metadata.
    if (pkt.vnetOff >= 0) for (let k = 0; k < VNET_HDR_LEN; k++) buf[pkt.vnetOff + k] = 0;
    writeU16(buf, pkt.ethOff + 12, ETH_IPV4);
    this.tunnel = t;
    this.innerEnd = pkt.ethOff + 14 + n;
    return DropReason.None;
  }

  /** After fromWan(): the tunnel slot of a decrypted packet (-1: consumed), and where the inner packet ends. */
  tunnel = -1;
  innerEnd = 0;
}
