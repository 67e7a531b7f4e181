/**
 * The wiring: AWS's order of evaluation for every kind of leg, in one place
 * (aws-semantics §4; docs/architecture.md). Each method below reads as the
 * list of stages a packet passes, in order; the stages live with their
 * subject (router: pipeline/router.ts; NACLs: acl/nacl-stage.ts; security
 * groups with conntrack: conntrack/sg-stage.ts; internet gateway:
 * nat/igw.ts; NAT gateway: nat/nat-gateway-path.ts; VPN: vpn/tunnel-forward.ts;
 * Direct Connect: vpn/direct-connect.ts; frame builders: pipeline/frames.ts).
 *
 * A *crossing* (SecurityStage.crossing) is one hop between two ENIs or an
 * ENI and a gateway: sender's SG egress -> sender subnet's NACL outbound ->
 * receiver subnet's NACL inbound -> receiver's SG ingress. Every ENI and every
 * subnet boundary a packet crosses is judged on its own, so a packet through
 * an appliance (A -> appliance -> B) is two crossings.
 *
 *   instance -> instance       ENI source/dest check, route (local or an
 *                              appliance/NAT instance), receiver's dest check,
 *                              crossing(S -> R), deliver
 *   instance -> internet       route igw, public IP, crossing(S -> out), IGW 1:1
 *                              NAT, uplink (or hairpin back in)
 *   internet -> instance       IGW 1:1 NAT, crossing(out -> R), deliver
 *   instance -> NAT gateway    admits, crossing(S -> gateway subnet, tracked),
 *                              translate, route in the gateway subnet, NACL
 *                              (gateway subnet -> out), IGW to the Elastic IP
 *                              (or a tunnel for a private gateway)
 *   internet -> NAT gateway    IGW, NACL (out -> gateway subnet), reverse
 *                              translation, crossing(gateway subnet -> R), deliver
 *   instance -> VPN gateway    Direct Connect while up, else crossing(S -> out),
 *                              encrypt into the active tunnel
 *   tunnel -> instance         decrypt, traffic-selector check, crossing(out -> R),
 *                              MSS clamp, deliver (or CloudHub on to another site)
 *   link-local VPC services    after the source/dest check, never filtered,
 *                              logged or routed: out of the service port
 *                              (pipeline/service-path.ts); DHCP punted
 *
 * Nothing here allocates per packet.
 */
import { AddrKind, Target, type Topology } from '../control/topology.js';
import type { SecurityStage } from '../conntrack/sg-stage.js';
import { InternetGateway, isPrivateOrShared } from '../nat/igw.js';
import { NatCounter, type NatGatewayState } from '../nat/nat-gateway.js';
import { NatGatewayPath } from '../nat/nat-gateway-path.js';
import { DirectConnect } from '../vpn/direct-connect.js';
import { TunnelForward } from '../vpn/tunnel-forward.js';
import { clampTcpMss } from '../wire/tcp-mss.js';
import { DropReason, type PacketBatch } from './batch.js';
import { writeL2ToInstance } from './frames.js';
import type { Packet } from './packet.js';
import type { Ports } from './ports.js';
import { VpcRouter, isLinkLocal, isVpcService } from './router.js';
import { ServicePath } from './service-path.js';

const PROTO_TCP = 6, PROTO_UDP = 17;

export class Legs {
  topo: Topology;
  /** NACLs, security groups, conntrack; null = forward everything the routes allow. */
  security: SecurityStage | null = null;
  /** By NAT gateway index (topology order). */
  nats: NatGatewayState[] = [];
  readonly ports: Ports;
  readonly router: VpcRouter;
  readonly igw: InternetGateway;
  readonly natgw: NatGatewayPath;
  readonly tunnel: TunnelForward;
  readonly dx: DirectConnect;
  readonly services: ServicePath;

  constructor(topo: Topology, ports: Ports) {
    this.topo = topo;
    this.ports = ports;
    this.router = new VpcRouter(ports);
    this.igw = new InternetGateway(ports);
    this.natgw = new NatGatewayPath(ports);
    this.tunnel = new TunnelForward(ports, this.igw);
    this.dx = new DirectConnect(ports);
    this.services = new ServicePath(ports, topo.instanceNames.length);
  }

  // ======================================================================
  // Entry points, by the port a frame came in on
  // ======================================================================

  /** An IPv4 frame from instance S's ENI. */
  fromInstance(b: PacketBatch, pkt: Packet, S: number, nowMs: number): number {
    const topo = this.topo;
    const group = (pkt.buf[pkt.ethOff] & 1) !== 0;
    const r = pkt.parseIpv4(pkt.end);
    // DHCP is the ENI's own business (the client may have no address yet): broadcast, or unicast to the subnet's router.
    if (r === DropReason.None && this.services.isDhcp(pkt) && (pkt.dst === -1 || pkt.dst === topo.subnetRouterIp[topo.instSubnet[S]])) {
      return this.services.punt(pkt, S);
    }
    if (group) return DropReason.Multicast; // the VPC has no broadcast
    if (r !== DropReason.None) return r;
    // ENI source/destination check: an ENI sends only from its own address unless the check is off.
    if (pkt.src !== topo.instIp[S]) {
      if (topo.instSrcDstCheck[S] === 1) return DropReason.SourceDestCheck;
    } else {
      this.ports.learn(pkt.buf, S, pkt.ethOff + 6);
    }
    const dst = pkt.dst;
    // AWS answers these inside the VPC, outside SGs, NACLs and flow logs; they never leave it.
    if (isVpcService(topo, dst)) return this.services.toService(b, pkt, topo, S, nowMs);
    // Addresses no route can lead to: the rest of link-local, loopback, "this network", class E, broadcast; multicast.
    const hi = dst >>> 24;
    if (hi >= 224 && hi < 240) return DropReason.Multicast;
    if (isLinkLocal(dst) || hi === 127 || hi === 0 || hi >= 240) return DropReason.NoDestination;
    const sSub = topo.instSubnet[S];
    const e = topo.route(topo.subnetRouteTable[sSub], dst);
    // No route, or a blackhole: the packet left the ENI and its subnet first (SG egress, NACL outbound).
    if (e < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
    const kind = topo.rtKind[e];
    if (kind === Target.Local) {
      const a = topo.classify(dst);
      if (a < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoDestination, nowMs, topo.subnetOf(dst), true);
      const akind = a >>> 24;
      if (akind === AddrKind.Instance) return this.toInstance(b, pkt, S, sSub, a & 0xffffff, nowMs);
      if (akind === AddrKind.Router) {
        // The router's own answer (echo on .1) is not filtered ([VPC-SEC]: the reserved addresses are AWS's);
        // anything else for it crosses the sender's SG and the NACLs first, then is dropped.
        if (this.router.isEcho(pkt)) return this.router.echo(b, pkt, topo, a & 0xffffff);
        return this.dropAfterSender(pkt, S, sSub, DropReason.NotForRouter, nowMs, a & 0xffffff, true);
      }
      const rSub = topo.subnetOf(dst);
      if (akind === AddrKind.Reserved) return this.dropAfterSender(pkt, S, sSub, DropReason.ReservedAddress, nowMs, rSub, true);
      return this.dropAfterSender(pkt, S, sSub, DropReason.UnsupportedTarget, nowMs, rSub, true);
    }
    if (kind === Target.Instance) {
      const R = topo.rtTarget[e];
      if (R < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
      // A route back to the sender itself leads nowhere.
      if (R === S) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs, sSub, false);
      return this.toInstance(b, pkt, S, sSub, R, nowMs);
    }
    if (kind === Target.Igw) return this.toInternet(b, pkt, S, sSub, nowMs);
    if (kind === Target.Vgw) return this.toVpn(b, pkt, S, sSub, nowMs);
    if (kind === Target.NatGateway) {
      const g = topo.rtTarget[e];
      if (g < 0 || g >= this.nats.length) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
      return this.toNatGateway(b, pkt, this.nats[g], S, sSub, nowMs);
    }
    if (kind === Target.Blackhole) return this.dropAfterSender(pkt, S, sSub, DropReason.Blackhole, nowMs);
    return DropReason.UnsupportedTarget;
  }

  /** IPv4 from the internet on the uplink: ESP/IKE for our WAN addresses, else the internet gateway. */
  fromUplink(b: PacketBatch, pkt: Packet, nowMs: number): number {
    // The uplink sees the lab internet's floods: only frames for us count.
    const buf = pkt.buf, e = pkt.ethOff, mac = this.igw.mac;
    for (let k = 0; k < 6; k++) if (buf[e + k] !== mac[k]) return DropReason.NotForRouter;
    const r = pkt.parseIpv4(pkt.end);
    if (r !== DropReason.None) return r;
    const t = this.tunnel;
    if (t.vpn !== null && pkt.proto === PROTO_UDP && pkt.fragOff === 0 && t.isWanAddr(pkt.dst)) return this.fromWan(b, pkt, nowMs);
    // A WAN uplink without an internet gateway: nothing else enters the VPC from it.
    if (this.topo.config.internetGateway === undefined) return DropReason.IgwNoPublicIp;
    // The internet gateway refuses private, shared and link-local sources, and the VPC's own addresses (spoofed).
    if (isPrivateOrShared(pkt.src) || isLinkLocal(pkt.src) || ((pkt.src & this.topo.vpcMask) >>> 0) === this.topo.vpcNet) return DropReason.IgwRejected;
    return this.internetToVpc(b, pkt, nowMs);
  }

  /** IPv4 from the Direct Connect link: to an instance of this site. */
  fromDx(b: PacketBatch, pkt: Packet, nowMs: number): number {
    const dx = this.dx;
    if (!dx.forUs(pkt)) return DropReason.NotForRouter;
    const r = pkt.parseIpv4(pkt.end);
    if (r !== DropReason.None) return r;
    if (!dx.covers(pkt.src)) return DropReason.SourceDestCheck;
    const topo = this.topo;
    const a = topo.classify(pkt.dst);
    if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const R = a & 0xffffff;
    const port = this.ports.instPort[R];
    if (port < 0) return DropReason.NoDestination;
    // As any traffic entering the VPC: the subnet's NACL and the ENI's SG.
    const sr = this.crossing(pkt, -1, -1, R, topo.instSubnet[R], nowMs, false);
    if (sr !== DropReason.None) return sr;
    dx.received(pkt);
    return this.deliver(b, pkt, R, port);
  }

  // ======================================================================
  // Legs inside the VPC
  // ======================================================================

  /** To instance R (the destination, or an appliance / NAT instance the route names). */
  private toInstance(b: PacketBatch, pkt: Packet, S: number, sSub: number, R: number, nowMs: number): number {
    const topo = this.topo;
    const rSub = topo.instSubnet[R];
    // The receiving ENI takes packets not addressed to it only with its check off (after the subnet NACLs).
    if (pkt.dst !== topo.instIp[R] && topo.instSrcDstCheck[R] === 1) return this.dropAfterSender(pkt, S, sSub, DropReason.SourceDestCheck, nowMs, rSub, false);
    const port = this.ports.instPort[R];
    if (port < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoDestination, nowMs, rSub, pkt.dst === topo.instIp[R]);
    const r = this.crossing(pkt, S, sSub, R, rSub, nowMs, false);
    if (r !== DropReason.None) return r;
    return this.deliver(b, pkt, R, port);
  }

  // ======================================================================
  // Internet gateway (aws-semantics §7)
  // ======================================================================

  /** Instance -> internet: 1:1 NAT of the source to the instance's public address. */
  private toInternet(b: PacketBatch, pkt: Packet, S: number, sSub: number, nowMs: number): number {
    const topo = this.topo, igw = this.igw;
    // The internet gateway's refusals come after the sender's SG egress and its subnet's outbound NACL.
    if (igw.port < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
    // The 1:1 mapping is by the packet's private source address: an instance's own packet, or one an
    // appliance forwards for it, leaves as that instance's public IP (IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS).
    const a = topo.classify(pkt.src);
    const pub = a >= 0 && a >>> 24 === AddrKind.Instance ? topo.instPublicIp[a & 0xffffff] : 0;
    if (pub === 0) return this.dropAfterSender(pkt, S, sSub, DropReason.IgwNoPublicIp, nowMs);
    if (isPrivateOrShared(pkt.dst) || isLinkLocal(pkt.dst)) return this.dropAfterSender(pkt, S, sSub, DropReason.IgwRejected, nowMs);
    const r = this.crossing(pkt, S, sSub, -1, -1, nowMs, false);
    if (r !== DropReason.None) return r;
    igw.translateOut(pkt, pub);
    // Hairpin: to another public address of this VPC, the IGW turns the packet straight back in.
    if (topo.publicIndex.get(pkt.dst) >= 0) return this.internetToVpc(b, pkt, nowMs);
    return igw.send(b, pkt.start, pkt.ethOff, pkt.end, pkt.dst, pub, nowMs);
  }

  /** The IGW's inbound side: an instance's public address (1:1 NAT) or a NAT gateway's Elastic IP. */
  private internetToVpc(b: PacketBatch, pkt: Packet, nowMs: number): number {
    const topo = this.topo;
    const a = topo.publicIndex.get(pkt.dst);
    if (a < 0) return DropReason.IgwNoPublicIp;
    const kind = a >>> 24, idx = a & 0xffffff;
    if (kind === AddrKind.NatGateway) return this.internetToNatGateway(b, pkt, this.nats[idx], nowMs);
    this.igw.translateIn(pkt, topo.instIp[idx]);
    const port = this.ports.instPort[idx];
    if (port < 0) return DropReason.NoDestination;
    const r = this.crossing(pkt, -1, -1, idx, topo.instSubnet[idx], nowMs, false);
    if (r !== DropReason.None) return r;
    return this.deliver(b, pkt, idx, port);
  }

  // ======================================================================
  // NAT gateway (aws-semantics §5)
  // ======================================================================

  /** Instance -> NAT gateway -> (IGW) -> internet, or -> a tunnel for a gateway whose route is the VGW. */
  private toNatGateway(b: PacketBatch, pkt: Packet, nat: NatGatewayState, S: number, sSub: number, nowMs: number): number {
    const topo = this.topo, natgw = this.natgw;
    natgw.received(pkt, nat);
    // [EC2-CT]: flows through a NAT gateway are always tracked on the instance's ENI.
    let r = this.crossing(pkt, S, sSub, -1, nat.subnet, nowMs, true);
    if (r !== DropReason.None) return natDrop(nat, r);
    // The gateway's own checks: protocol, a source inside the VPC, ICMP queries only, no TCP/ICMP fragments.
    r = natgw.admits(pkt, nat, topo);
    if (r !== DropReason.None) return r;
    r = natgw.translate(b, pkt, nat, topo, S, nowMs);
    if (r !== DropReason.None) return r;
    // From the gateway: its subnet's route table decides where the translated packet goes.
    const e = topo.route(topo.subnetRouteTable[nat.subnet], pkt.dst);
    if (e < 0) return natDrop(nat, DropReason.NoRoute);
    const kind = topo.rtKind[e];
    if (kind === Target.Vgw && this.tunnel.vpn !== null) {
      // A private NAT gateway towards the VPN: the other network sees the gateway's private address.
      r = this.natNacl(pkt, nat.subnet, -1);
      if (r !== DropReason.None) return natDrop(nat, r);
      const c = this.tunnel.vpn.connectionFor(pkt.dst, -1);
      if (c < 0) return natDrop(nat, DropReason.NoRoute);
      natgw.sent(pkt, nat, nowMs);
      return this.tunnel.encryptOut(b, pkt, topo, c, -1, nowMs);
    }
    if (kind === Target.Blackhole) return natDrop(nat, DropReason.Blackhole);
    // A route back into a NAT gateway (itself or another) leads nowhere.
    if (kind === Target.NatGateway) return natDrop(nat, DropReason.NoRoute);
    if (kind !== Target.Igw) return natDrop(nat, DropReason.UnsupportedTarget);
    // A private NAT gateway has no Elastic IP: the IGW drops what it sends; nor does it carry private destinations.
    if (!nat.isPublic || nat.publicIp === 0 || this.igw.port < 0) return natDrop(nat, DropReason.IgwNoPublicIp);
    if (isPrivateOrShared(pkt.dst) || isLinkLocal(pkt.dst)) return natDrop(nat, DropReason.IgwRejected);
    r = this.natNacl(pkt, nat.subnet, -1);
    if (r !== DropReason.None) return natDrop(nat, r);
    natgw.sent(pkt, nat, nowMs);
    this.igw.translateOut(pkt, nat.publicIp);
    if (topo.publicIndex.get(pkt.dst) >= 0) return this.internetToVpc(b, pkt, nowMs);
    return this.igw.send(b, pkt.start, pkt.ethOff, pkt.end, pkt.dst, nat.publicIp, nowMs);
  }

  /** Internet -> the NAT gateway's Elastic IP: the IGW maps it to the gateway's private address. */
  private internetToNatGateway(b: PacketBatch, pkt: Packet, nat: NatGatewayState, nowMs: number): number {
    this.igw.translateIn(pkt, nat.ip);
    return this.natToInside(b, pkt, nat, nowMs);
  }

  /** A packet for the NAT gateway's private address (from the IGW or a tunnel): reverse translation to the inside host. */
  private natToInside(b: PacketBatch, pkt: Packet, nat: NatGatewayState, nowMs: number): number {
    const topo = this.topo, natgw = this.natgw;
    let r = this.natNacl(pkt, -1, nat.subnet);
    if (r !== DropReason.None) return natDrop(nat, r);
    r = natgw.reverse(pkt, nat, nowMs);
    if (r !== DropReason.None) return r;
    const a = topo.classify(natgw.inside);
    if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const R = a & 0xffffff;
    const port = this.ports.instPort[R];
    if (port < 0) return DropReason.NoDestination;
    r = this.crossing(pkt, -1, nat.subnet, R, topo.instSubnet[R], nowMs, false);
    if (r !== DropReason.None) return natDrop(nat, r);
    natgw.delivered(pkt, nat, nowMs);
    return this.deliver(b, pkt, R, port);
  }

  /** The NAT gateway's own NACL legs (it has no security group); later fragments follow their first. */
  private natNacl(pkt: Packet, sSub: number, rSub: number): number {
    const sec = this.security;
    if (sec === null || pkt.fragOff !== 0) return DropReason.None;
    const proto = pkt.proto;
    const r = sec.nacl.crossing(sSub, rSub, pkt.src, pkt.dst, proto, proto === PROTO_TCP || proto === PROTO_UDP || proto === 1 ? pkt.dport : 0);
    if (r !== DropReason.None) sec.deniedSources.add(pkt.src);
    return r;
  }

  // ======================================================================
  // Site-to-site VPN (aws-semantics §8) and Direct Connect
  // ======================================================================

  /** An instance's packet routed to the VPN gateway (route target vgw). */
  private toVpn(b: PacketBatch, pkt: Packet, S: number, sSub: number, nowMs: number): number {
    const dx = this.dx;
    if (dx.port >= 0 && dx.covers(pkt.dst) && dx.up(nowMs)) {
      const r = this.crossing(pkt, S, sSub, -1, -1, nowMs, false);
      if (r !== DropReason.None) return r;
      return dx.send(b, pkt);
    }
    const vpn = this.tunnel.vpn;
    if (vpn === null) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
    // Only the VPC's own addresses go through the virtual private gateway (VGW_PRIVATE_IP_ASSOCIATION_FOR_EGRESS).
    if (((pkt.src & this.topo.vpcMask) >>> 0) !== this.topo.vpcNet) return this.dropAfterSender(pkt, S, sSub, DropReason.VgwSourceOutsideVpc, nowMs);
    // A destination no connection carries (the WAN peer's own address included) has no route through the tunnel.
    const c = vpn.connectionFor(pkt.dst, -1);
    if (c < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
    const r = this.crossing(pkt, S, sSub, -1, -1, nowMs, false);
    if (r !== DropReason.None) return r;
    return this.tunnel.encryptOut(b, pkt, this.topo, c, S, nowMs);
  }

  /** UDP to a WAN address: IKE punted, ESP decrypted and forwarded. */
  private fromWan(b: PacketBatch, pkt: Packet, nowMs: number): number {
    const t = this.tunnel;
    const r = t.fromWan(pkt);
    if (r !== DropReason.None || t.tunnel < 0) return r;
    const vpn = t.vpn!;
    const c = vpn.tunConn[t.tunnel];
    const pr = pkt.parseIpv4(t.innerEnd);
    if (pr !== DropReason.None) return pr;
    // Only the peer's networks may come through its tunnel (its traffic selectors).
    if (!vpn.fromRemote(c, pkt.src)) return DropReason.SourceDestCheck;
    return this.fromTunnel(b, pkt, c, nowMs);
  }

  /** A decrypted packet: to an instance here, or (VPN CloudHub) on through another connection. */
  private fromTunnel(b: PacketBatch, pkt: Packet, c: number, nowMs: number): number {
    const topo = this.topo;
    const dst = pkt.dst;
    if (((dst & topo.vpcMask) >>> 0) === topo.vpcNet) {
      const a = topo.classify(dst);
      if (a >= 0 && a >>> 24 === AddrKind.NatGateway) return this.natToInside(b, pkt, this.nats[a & 0xffffff], nowMs);
      if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
      const R = a & 0xffffff;
      const port = this.ports.instPort[R];
      if (port < 0) return DropReason.NoDestination;
      // Traffic entering the VPC from a VPN meets the subnet's NACL and the ENI's SG.
      const r = this.crossing(pkt, -1, -1, R, topo.instSubnet[R], nowMs, false);
      if (r !== DropReason.None) return r;
      if (pkt.proto === PROTO_TCP && pkt.fragOff === 0) clampTcpMss(pkt.buf, pkt.l3Off, pkt.l3Len, this.tunnel.mss(c));
      return this.deliver(b, pkt, R, port);
    }
    // VPN CloudHub: the VGW re-advertises every site's networks to the others.
    const vpn = this.tunnel.vpn!;
    if (vpn.connRole[c] === 1) {
      const c2 = vpn.connectionFor(dst, c);
      if (c2 >= 0) return this.tunnel.encryptOut(b, pkt, topo, c2, -1, nowMs);
    }
    return DropReason.NoRoute;
  }

  // ======================================================================

  /**
   * A packet that ends before a receiver's security group (no route, a
   * blackhole, a gateway or the router refusing it, a receiver's
   * source/destination check): the sender's SG egress and the crossing's
   * NACLs (sSub -> rSub; rSub -1: outbound only) are judged first, as AWS
   * orders them; then it is dropped with `reason`.
   */
  private dropAfterSender(pkt: Packet, S: number, sSub: number, reason: number, nowMs: number, rSub = -1, local = false): number {
    const sec = this.security;
    if (sec === null) return reason;
    const r = sec.senderSide(pkt, S, sSub, rSub, local, nowMs);
    return r !== DropReason.None ? r : reason;
  }

  /** One crossing's security stages (none without a security stage). */
  private crossing(pkt: Packet, S: number, sSub: number, R: number, rSub: number, nowMs: number, forceTrack: boolean): number {
    const sec = this.security;
    return sec === null ? DropReason.None : sec.crossing(pkt, S, sSub, R, rSub, nowMs, forceTrack);
  }

  /** Delivery to instance R on its port: L2 towards it, queued. */
  private deliver(b: PacketBatch, pkt: Packet, R: number, port: number): number {
    writeL2ToInstance(pkt.buf, pkt.ethOff, this.topo, this.ports, R);
    this.ports.queue(b, port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }
}

/** A NAT gateway's packet refused by a stage: counted in its PacketsDropCount. */
function natDrop(nat: NatGatewayState, reason: number): number {
  nat.counters[NatCounter.PacketsDropped]++;
  return reason;
}
