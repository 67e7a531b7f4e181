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
 *                              translate, route in the gateway subnet: inside
 *                              the VPC crossing(gateway subnet -> R), deliver;
 *                              else NACL (gateway subnet -> out), IGW to the
 *                              Elastic IP (or a tunnel for a private gateway)
 *   internet -> NAT gateway    IGW, NACL (out -> gateway subnet), reverse
 *                              translation, route in the gateway subnet,
 *                              crossing(gateway subnet -> R), deliver
 *   instance -> NAT address    crossing(S -> gateway subnet), reverse translation,
 *                              as above (an answer from inside the VPC)
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
import { FlowDir, TrafficPath, awsTcpFlags } from './flowlog-table.js';
import type { Packet } from './packet.js';
import type { Ports } from './ports.js';
import { VpcRouter, isLinkLocal, isVpcService } from './router.js';
import { type EventRing, EventType, RULE_NONE, VERDICT_ACCEPT } from '../observe/event-ring.js';
import { Code, Stage } from '../observe/event-vocabulary.js';
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
  /** Translations for observers (written only while `events.active`). */
  readonly events: EventRing;
  readonly services: ServicePath;

  constructor(topo: Topology, ports: Ports, events: EventRing) {
    this.topo = topo;
    this.ports = ports;
    this.events = events;
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
    if (e < 0) {
      if (this.security !== null) this.security.trafficPath = TrafficPath.None;
      return this.dropAfterSender(pkt, S, sSub, DropReason.NoRoute, nowMs);
    }
    const kind = topo.rtKind[e];
    // The sender's egress flow-log records carry the path the route takes.
    if (this.security !== null) this.security.trafficPath = trafficPathOf(kind);
    if (kind === Target.Local) {
      // classify(): -1 or kind << 24 | index with kind >= 1, never 0. The drops below pass no `local`: their
      // destinations are no instance, which no group reference can match.
      const a = topo.classify(dst);
      if (a < 0) return this.dropAfterSender(pkt, S, sSub, DropReason.NoDestination, nowMs, topo.subnetOf(dst));
      const akind = a >>> 24;
      if (akind === AddrKind.Instance) return this.toInstance(b, pkt, S, sSub, a & 0xffffff, nowMs);
      if (akind === AddrKind.Router) {
        // The router's own answer (echo on .1) is not filtered ([VPC-SEC]: the reserved addresses are AWS's);
        // anything else for it crosses the sender's SG and the NACLs first, then is dropped.
        if (this.router.isEcho(pkt)) return this.router.echo(b, pkt, topo, a & 0xffffff);
        return this.dropAfterSender(pkt, S, sSub, DropReason.NotForRouter, nowMs, a & 0xffffff);
      }
      // To a NAT gateway's private address from inside the VPC: an answer to what it translated.
      if (akind === AddrKind.NatGateway) return this.instanceToNatAddr(b, pkt, this.nats[a & 0xffffff], a & 0xffffff, S, sSub, nowMs);
      // What classify() has left: a reserved address (network, DNS outside its service ports, .3, broadcast).
      return this.dropAfterSender(pkt, S, sSub, DropReason.ReservedAddress, nowMs, topo.subnetOf(dst));
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
      return this.toNatGateway(b, pkt, this.nats[g], g, S, sSub, nowMs);
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
    // isWanAddr() is false without a VPN.
    if (pkt.proto === PROTO_UDP && pkt.fragOff === 0 && t.isWanAddr(pkt.dst)) return this.fromWan(b, pkt, nowMs);
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
    // Not found (-1 >>> 24 is 255) or no instance.
    const a = topo.classify(pkt.dst);
    if (a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const R = a & 0xffffff;
    const port = this.ports.instPort[R];
    if (port < 0) return DropReason.NoDestination;
    // As any traffic entering the VPC: the subnet's NACL and the ENI's SG.
    const sr = this.entering(pkt, -1, R, topo.instSubnet[R], nowMs);
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
    const pub = a >>> 24 === AddrKind.Instance ? topo.instPublicIp[a & 0xffffff] : 0;
    if (pub === 0) return this.dropAfterSender(pkt, S, sSub, DropReason.IgwNoPublicIp, nowMs);
    if (isPrivateOrShared(pkt.dst) || isLinkLocal(pkt.dst)) return this.dropAfterSender(pkt, S, sSub, DropReason.IgwRejected, nowMs);
    const r = this.crossing(pkt, S, sSub, -1, -1, nowMs, false);
    if (r !== DropReason.None) return r;
    const privateSrc = pkt.src;
    igw.translateOut(pkt, pub);
    // A new flow leaves through the 1:1 NAT: observers see both address pairs.
    if (this.events.active && this.events.decided) this.emitNat(pkt, Stage.Igw, S, -1, privateSrc, pkt.dst, pkt.sport, pkt.dport);
    // Hairpin: to another public address of this VPC, the IGW turns the packet straight back in.
    // (Mutant `> 0` is equivalent: the index holds kind << 24 | i, kind >= 1, never 0; so below.)
    if (topo.publicIndex.get(pkt.dst) >= 0) return this.internetToVpc(b, pkt, nowMs);
    return igw.send(b, pkt.start, pkt.ethOff, pkt.end, pkt.dst, pub, nowMs);
  }

  /** The IGW's inbound side: an instance's public address (1:1 NAT) or a NAT gateway's Elastic IP. */
  private internetToVpc(b: PacketBatch, pkt: Packet, nowMs: number): number {
    const topo = this.topo;
    const a = topo.publicIndex.get(pkt.dst);
    if (a < 0) return DropReason.IgwNoPublicIp; // (mutant `a <= 0` is equivalent: never 0, as above)
    const kind = a >>> 24, idx = a & 0xffffff;
    if (kind === AddrKind.NatGateway) return this.internetToNatGateway(b, pkt, this.nats[idx], idx, nowMs);
    const pubDst = pkt.dst;
    this.igw.translateIn(pkt, topo.instIp[idx]);
    const port = this.ports.instPort[idx];
    if (port < 0) return DropReason.NoDestination;
    const r = this.entering(pkt, -1, idx, topo.instSubnet[idx], nowMs);
    if (r !== DropReason.None) return r;
    if (this.events.active && this.events.decided) this.emitNatIn(pkt, idx, pubDst);
    return this.deliver(b, pkt, idx, port);
  }

  // ======================================================================
  // NAT gateway (aws-semantics §5)
  // ======================================================================

  /** Instance -> NAT gateway -> (IGW) -> internet, or -> a tunnel for a gateway whose route is the VGW. */
  private toNatGateway(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, S: number, sSub: number, nowMs: number): number {
    const topo = this.topo, natgw = this.natgw;
    natgw.received(pkt, nat);
    // [EC2-CT]: flows through a NAT gateway are always tracked on the instance's ENI.
    let r = this.crossing(pkt, S, sSub, -1, nat.subnet, nowMs, true);
    if (r !== DropReason.None) return natDrop(nat, r);
    // On the gateway's ENI: the record shows its own address, pkt-dstaddr the destination beyond it.
    this.natLog(g, pkt, pkt.src, nat.ip, 1, FlowDir.Ingress, TrafficPath.None);
    // The gateway's own checks: protocol, a source inside the VPC, ICMP queries only, no TCP/ICMP fragments.
    r = natgw.admits(pkt, nat, topo);
    if (r !== DropReason.None) return r;
    const src0 = pkt.src, sport0 = pkt.sport;
    r = natgw.translate(b, pkt, nat, topo, S, nowMs);
    if (r !== DropReason.None) return r;
    // From the gateway: its subnet's route table decides where the translated packet goes.
    const e = topo.route(topo.subnetRouteTable[nat.subnet], pkt.dst);
    // (Mutant `rtKind[e]` alone is equivalent: rtKind[-1] is undefined, which no comparison below matches.)
    const kind = e < 0 ? -1 : topo.rtKind[e];
    // Inside the VPC (a private NAT gateway between subnets, or a route through an appliance).
    if (kind === Target.Local || kind === Target.Instance) {
      if (this.events.active && natgw.created) this.emitNat(pkt, Stage.Nat, S, g, src0, pkt.dst, sport0, pkt.dport);
      return this.fromNatInside(b, pkt, nat, g, e, false, nowMs);
    }
    // Anything else leaves the gateway's subnet (unless it is a route to a NAT gateway in the same subnet):
    // its outbound NACL comes first, before any refusal of the route or the gateway behind it. (Mutant
    // `false` for the first test is equivalent: rtTarget is -1 for routes to no instance or NAT gateway.)
    if (kind !== Target.NatGateway || this.nats[topo.rtTarget[e]]?.subnet !== nat.subnet) {
      r = this.natNacl(pkt, nat.subnet, -1);
      // The gateway's private address, not the Elastic IP, is on its ENI's record.
      this.natLog(g, pkt, pkt.src, pkt.dst, r === DropReason.None ? 1 : 0, FlowDir.Egress, trafficPathOf(kind));
      if (r !== DropReason.None) return natDrop(nat, r);
    }
    if (kind === Target.Vgw && this.tunnel.vpn !== null) {
      // A private NAT gateway towards the VPN: the other network sees the gateway's private address.
      const c = this.tunnel.vpn.connectionFor(pkt.dst, -1);
      if (c < 0) return natDrop(nat, DropReason.NoRoute);
      natgw.sent(pkt, nat, nowMs);
      if (this.events.active && natgw.created) this.emitNat(pkt, Stage.Nat, S, g, src0, pkt.dst, sport0, pkt.dport);
      return this.tunnel.encryptOut(b, pkt, topo, c, -1, nowMs);
    }
    if (kind === Target.Blackhole) return natDrop(nat, DropReason.Blackhole);
    // No route, a route into a NAT gateway (itself or another: vpcd does not translate twice), the VGW
    // without a VPN: it leads nowhere.
    if (kind !== Target.Igw) return natDrop(nat, DropReason.NoRoute);
    // A private NAT gateway has no Elastic IP: the IGW drops what it sends; nor does it carry private destinations.
    if (!nat.isPublic || nat.publicIp === 0 || this.igw.port < 0) return natDrop(nat, DropReason.IgwNoPublicIp);
    if (isPrivateOrShared(pkt.dst) || isLinkLocal(pkt.dst)) return natDrop(nat, DropReason.IgwRejected);
    natgw.sent(pkt, nat, nowMs);
    this.igw.translateOut(pkt, nat.publicIp);
    if (this.events.active && natgw.created) this.emitNat(pkt, Stage.Nat, S, g, src0, pkt.dst, sport0, pkt.dport);
    if (topo.publicIndex.get(pkt.dst) >= 0) return this.internetToVpc(b, pkt, nowMs);
    return this.igw.send(b, pkt.start, pkt.ethOff, pkt.end, pkt.dst, nat.publicIp, nowMs);
  }

  /** Internet -> the NAT gateway's Elastic IP: the IGW maps it to the gateway's private address. */
  private internetToNatGateway(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, nowMs: number): number {
    this.igw.translateIn(pkt, nat.ip);
    return this.natToInside(b, pkt, nat, g, nowMs);
  }

  /** A packet for the NAT gateway's private address (from the IGW or a tunnel): reverse translation to the inside host. */
  private natToInside(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, nowMs: number): number {
    const r = this.natNacl(pkt, -1, nat.subnet);
    this.natLog(g, pkt, pkt.src, pkt.dst, r === DropReason.None ? 1 : 0, FlowDir.Ingress, TrafficPath.None);
    if (r !== DropReason.None) return natDrop(nat, r);
    return this.natReverse(b, pkt, nat, g, nowMs);
  }

  /** Instance S -> a NAT gateway's private address (the answer of a destination inside the VPC). */
  private instanceToNatAddr(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, S: number, sSub: number, nowMs: number): number {
    // The answerer's SG egress and the NACLs between its subnet and the gateway's (the gateway has no SG).
    const r = this.crossing(pkt, S, sSub, -1, nat.subnet, nowMs, false);
    if (r !== DropReason.None) return natDrop(nat, r);
    this.natLog(g, pkt, pkt.src, pkt.dst, 1, FlowDir.Ingress, TrafficPath.None);
    return this.natReverse(b, pkt, nat, g, nowMs);
  }

  /** Reverse translation, then the gateway's subnet's route table towards the inside host. */
  private natReverse(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, nowMs: number): number {
    const topo = this.topo;
    const r = this.natgw.reverse(pkt, nat, nowMs);
    if (r !== DropReason.None) return r;
    const e = topo.route(topo.subnetRouteTable[nat.subnet], pkt.dst);
    // (Mutant `false` is equivalent: rtKind[-1] is undefined, and the last line drops it as no_route.)
    if (e < 0) return natDrop(nat, DropReason.NoRoute);
    const kind = topo.rtKind[e];
    if (kind === Target.Local || kind === Target.Instance) return this.fromNatInside(b, pkt, nat, g, e, true, nowMs);
    if (kind === Target.Blackhole) return natDrop(nat, DropReason.Blackhole);
    // Routes for the VPC's own addresses name only instances and NAT gateways (configuration check).
    return natDrop(nat, DropReason.NoRoute);
  }

  /**
   * A translated packet the gateway's route `e` (local, or an appliance)
   * delivers inside the VPC: the crossing from the gateway's subnet to the
   * receiver (NACLs, the receiver's destination check and SG), then delivery.
   * `answer`: reverse-translated (counted as delivered to the source).
   */
  private fromNatInside(b: PacketBatch, pkt: Packet, nat: NatGatewayState, g: number, e: number, answer: boolean, nowMs: number): number {
    const topo = this.topo;
    let R: number;
    if (topo.rtKind[e] === Target.Instance) {
      R = topo.rtTarget[e];
      if (R < 0) return natDrop(nat, DropReason.NoRoute);
    } else {
      const a = topo.classify(pkt.dst);
      const akind = a >>> 24; // 255 when not found
      const rSub = topo.subnetOf(pkt.dst);
      if (akind !== AddrKind.Instance) {
        // The router, reserved addresses, another gateway, nothing.
        return this.natDropAfterNacl(pkt, nat, rSub, akind === AddrKind.Reserved ? DropReason.ReservedAddress : akind === AddrKind.Router
          ? DropReason.NotForRouter : akind === AddrKind.NatGateway ? DropReason.UnsupportedTarget : DropReason.NoDestination);
      }
      R = a & 0xffffff;
    }
    const rSub = topo.instSubnet[R];
    if (pkt.dst !== topo.instIp[R] && topo.instSrcDstCheck[R] === 1) return this.natDropAfterNacl(pkt, nat, rSub, DropReason.SourceDestCheck);
    const port = this.ports.instPort[R];
    if (port < 0) return natDrop(nat, DropReason.NoDestination);
    const r = this.entering(pkt, nat.subnet, R, rSub, nowMs);
    // The gateway's ENI sent it (its source: the gateway, pkt-srcaddr the packet's); only its own subnet's
    // outbound NACL refuses it there, the receiver's refusals are on the receiver's records.
    const gwRefused = r === DropReason.Nacl && this.security!.nacl.refusedAtReceiver === 0; // a NACL refusal: there is a security stage
    this.natLog(g, pkt, nat.ip, pkt.dst, gwRefused ? 0 : 1, FlowDir.Egress, TrafficPath.SameVpc);
    if (r !== DropReason.None) return natDrop(nat, r);
    if (answer) this.natgw.delivered(pkt, nat, nowMs);
    else this.natgw.sent(pkt, nat, nowMs);
    return this.deliver(b, pkt, R, port);
  }

  /**
   * A flow-log record on NAT gateway g's ENI (flow-log ENIs after the
   * instances'): `src`/`dst` as the record shows them (the gateway's own
   * private address on its side), pkt-srcaddr/pkt-dstaddr the packet's.
   */
  private natLog(g: number, pkt: Packet, src: number, dst: number, action: number, dir: number, path: number): void {
    const sec = this.security;
    if (sec === null || sec.flowLog === null || pkt.fragOff !== 0) return;
    const proto = pkt.proto;
    const ports = proto === PROTO_TCP || proto === PROTO_UDP;
    sec.flowLog.record(this.topo.instanceNames.length + g, src, dst, ports ? pkt.sport : 0, ports ? pkt.dport : 0, proto, action,
      pkt.l3Len, sec.wallMs, awsTcpFlags(pkt.tcpFlags()), dir, path, pkt.src, pkt.dst);
  }

  /**
   * A translated packet that ends before a receiver's security group inside
   * the VPC: the NACLs between the gateway's subnet and rSub are judged first,
   * as AWS orders them (dropAfterSender's counterpart); then it is dropped with `reason`.
   */
  private natDropAfterNacl(pkt: Packet, nat: NatGatewayState, rSub: number, reason: number): number {
    const r = this.natNacl(pkt, nat.subnet, rSub);
    return natDrop(nat, r !== DropReason.None ? r : reason);
  }

  /** The NAT gateway's own NACL legs (it has no security group); later fragments follow their first. */
  private natNacl(pkt: Packet, sSub: number, rSub: number): number {
    const sec = this.security;
    if (sec === null || pkt.fragOff !== 0) return DropReason.None;
    // parseIpv4 leaves dport 0 for a protocol with no ports or ICMP type.
    const r = sec.nacl.crossing(sSub, rSub, pkt.src, pkt.dst, pkt.proto, pkt.dport);
    if (r !== DropReason.None) {
      sec.deniedSources.add(pkt.src);
      if (this.events.active) sec.observeNaclDeny(pkt, sSub, rSub);
    }
    return r;
  }

  // ======================================================================
  // Site-to-site VPN (aws-semantics §8) and Direct Connect
  // ======================================================================

  /** An instance's packet routed to the VPN gateway (route target vgw). */
  private toVpn(b: PacketBatch, pkt: Packet, S: number, sSub: number, nowMs: number): number {
    const dx = this.dx;
    if (dx.covers(pkt.dst) && dx.up(nowMs)) {
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
    // (Mutant `false` for the first test is equivalent: t.tunnel is -1 whenever r is a drop.)
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
      // Not found: -1 >>> 24 is 255, no kind.
      if (a >>> 24 === AddrKind.NatGateway) return this.natToInside(b, pkt, this.nats[a & 0xffffff], a & 0xffffff, nowMs);
      if (a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
      const R = a & 0xffffff;
      const port = this.ports.instPort[R];
      if (port < 0) return DropReason.NoDestination;
      // Traffic entering the VPC from a VPN meets the subnet's NACL and the ENI's SG.
      const r = this.entering(pkt, -1, R, topo.instSubnet[R], nowMs);
      if (r !== DropReason.None) return r;
      // A TCP SYN's MSS (clampTcpMss leaves anything else, later fragments too, as it is). The protocol test
      // only spares other packets the tunnel's MSS lookup. (Mutant `true` is equivalent for that reason.)
      if (pkt.proto === PROTO_TCP) clampTcpMss(pkt.buf, pkt.l3Off, pkt.l3Len, this.tunnel.mss(c));
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

  // ---- observers (called only while events.active)

  /**
   * A translation: the packet as it is now (after it) and as it was
   * (origSrc:origSport -> origDst:origDport). For the NAT gateway and the
   * IGW's egress 1:1 NAT the packet holds the translated pair.
   */
  private emitNat(pkt: Packet, stage: number, eni: number, owner: number, origSrc: number, origDst: number, origSport: number, origDport: number): void {
    const ev = this.events;
    const s = ev.put(EventType.Nat, VERDICT_ACCEPT, stage, stage === Stage.Nat ? Code.NgwSourceReassign : Code.None, owner, RULE_NONE, eni,
      pkt.proto, origSrc, origDst, origSport, origDport);
    ev.setTranslation(s, pkt.src, pkt.dst, pkt.sport, pkt.dport);
    ev.setCounts(s, 1, pkt.l3Len);
  }

  /** The IGW's ingress 1:1 NAT of a new flow: from the public destination to instance R's private address. */
  private emitNatIn(pkt: Packet, R: number, pubDst: number): void {
    const ev = this.events;
    const s = ev.put(EventType.Nat, VERDICT_ACCEPT, Stage.Igw, Code.None, -1, RULE_NONE, R, pkt.proto, pkt.src, pubDst, pkt.sport, pkt.dport);
    ev.setTranslation(s, pkt.src, pkt.dst, pkt.sport, pkt.dport);
    ev.setCounts(s, 1, pkt.l3Len);
  }


  /** One crossing's security stages (none without a security stage). */
  private crossing(pkt: Packet, S: number, sSub: number, R: number, rSub: number, nowMs: number, forceTrack: boolean): number {
    const sec = this.security;
    return sec === null ? DropReason.None : sec.crossing(pkt, S, sSub, R, rSub, nowMs, forceTrack);
  }

  /**
   * A crossing with no sender ENI (from the internet, a tunnel, the Direct
   * Connect link, a NAT gateway): from subnet sSub (-1: outside the VPC) to
   * ENI R in rSub. (Mutant forceTrack `true` is equivalent: it concerns the
   * sender's ENI, and there is none.)
   */
  private entering(pkt: Packet, sSub: number, R: number, rSub: number, nowMs: number): number {
    return this.crossing(pkt, -1, sSub, R, rSub, nowMs, false);
  }

  /** Delivery to instance R on its port: L2 towards it, queued. */
  private deliver(b: PacketBatch, pkt: Packet, R: number, port: number): number {
    writeL2ToInstance(pkt.buf, pkt.ethOff, this.topo, this.ports, R);
    this.ports.queue(b, port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }
}

/** The traffic-path code of a route target for the sender's egress records (`-` for the others). */
function trafficPathOf(kind: number): number {
  if (kind === Target.Local || kind === Target.Instance || kind === Target.NatGateway) return TrafficPath.SameVpc;
  if (kind === Target.Igw) return TrafficPath.InternetGateway;
  if (kind === Target.Vgw) return TrafficPath.VirtualPrivateGateway;
  return TrafficPath.None;
}

/** A NAT gateway's packet refused by a stage: counted in its PacketsDropCount. */
function natDrop(nat: NatGatewayState, reason: number): number {
  nat.counters[NatCounter.PacketsDropped]++;
  return reason;
}
