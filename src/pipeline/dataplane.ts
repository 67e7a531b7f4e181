/**
 * The data plane over a batch of frames:
 *
 *   rx batch ──► for each frame: Packet.begin (Ethernet) ─┬─ ARP ──► router / uplink / Direct Connect answers
 *                                                         ├─ IPv6 ─► counted drop (IPv6 comes later)
 *                                                         └─ IPv4 ─► Legs (pipeline/legs.ts): AWS's order
 *                                                                    of stages for the leg the packet takes
 *   then: every ESP seal of the batch in one native call, then tx.
 *
 * One packet record (pipeline/packet.ts) is parsed once per frame and read
 * and written by every stage; nothing per packet lives on this object.
 * Frames are rewritten in place and queued on their egress port; generated
 * frames use the batch's scratch slots. The VPC router is invisible to
 * traceroute inside a VPC, so forwarding does not decrement TTL. Everything
 * in processBatch() is allocation-free.
 *
 * A reload swaps one DataplaneSnapshot (topology, compiled policy, NAT
 * gateways, VPN tables) between batches with setSnapshot().
 */
import type { Topology } from '../control/topology.js';
import type { CompiledPolicy } from '../control/compile.js';
import type { SecurityCounters, SecurityStage } from '../conntrack/sg-stage.js';
import type { NatGatewayState } from '../nat/nat-gateway.js';
import type { NeighborTable } from './neighbors.js';
import type { VpnPath } from '../vpn/vpn-path.js';
import type { PuntedDatagram } from '../vpn/tunnel-forward.js';
import { type PacketBatch, DROP_REASON_COUNT, DropReason } from './batch.js';
import type { Counters } from './counters.js';
import { Legs } from './legs.js';
import { Packet } from './packet.js';
import { PortRole, Ports } from './ports.js';
import { EventRing, EventType, RULE_NONE, VERDICT_REJECT } from '../observe/event-ring.js';
import { DROP_CODE, DROP_STAGE } from '../observe/event-vocabulary.js';

export { PortRole } from './ports.js';
export type { PuntedDatagram } from '../vpn/tunnel-forward.js';

const ETH_ARP = 0x0806, ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd;

/** What a reload swaps as one: the forwarding tables, the compiled policy, the NAT gateways and the VPN tables. */
export interface DataplaneSnapshot {
  readonly topology: Topology;
  /** null: no security stage (forward what the routes allow). */
  readonly policy: CompiledPolicy | null;
  readonly nats: NatGatewayState[];
  readonly vpn: VpnPath | null;
}

export class Dataplane {
  readonly counters: Counters;
  readonly ports: Ports;
  readonly legs: Legs;
  /** The record of the frame being processed (read it only for diagnostics, e.g. after an exception). */
  readonly packet = new Packet();
  /** Events for observers (observe/observe-hub.ts drains it after each batch). */
  readonly events: EventRing;
  private flushBatch: PacketBatch | null = null;
  /** A deferred seal failed: its frame must not leave (tx skips zero-length descriptors and counts them). */
  private readonly onSealFail = (txIdx: number): void => {
    const b = this.flushBatch;
    if (b === null || txIdx < 0 || txIdx >= b.txCount) return;
    b.txLen[txIdx] = 0;
    this.counters.drops[DropReason.EspNoSa]++;
  };

  constructor(topo: Topology, counters: Counters, events: EventRing = new EventRing()) {
    this.counters = counters;
    this.events = events;
    this.ports = new Ports(counters, topo.instanceNames.length);
    this.legs = new Legs(topo, this.ports, events);
  }

  // ---- the snapshot (swapped between batches)

  get topo(): Topology { return this.legs.topo; }
  get security(): SecurityStage | null { return this.legs.security; }
  set security(s: SecurityStage | null) {
    this.legs.security = s;
    if (s !== null) s.events = this.events;
  }
  get nats(): NatGatewayState[] { return this.legs.nats; }
  set nats(n: NatGatewayState[]) { this.legs.nats = n; }
  get vpn(): VpnPath | null { return this.legs.tunnel.vpn; }
  set vpn(v: VpnPath | null) { this.legs.tunnel.vpn = v; }

  /**
   * Swaps in a whole snapshot at once (between batches). Port attachments are
   * re-made by the caller when the topology changed (attachInstance...).
   * Returns the security stage's counters of the old policy (for the control
   * plane to fold), or null when the policy did not change.
   */
  setSnapshot(s: DataplaneSnapshot): SecurityCounters | null {
    if (s.topology !== this.legs.topo) this.setTopology(s.topology);
    const sec = this.legs.security;
    const old = sec !== null && s.policy !== null && sec.policy !== s.policy ? sec.setPolicy(s.policy) : null;
    this.legs.nats = s.nats;
    this.legs.tunnel.vpn = s.vpn;
    return old;
  }

  /** Swaps in a new topology (between batches). Port attachments are re-made by the caller. */
  setTopology(topo: Topology): void {
    this.legs.topo = topo;
    this.ports.reset(topo.instanceNames.length);
    this.legs.services.reset(topo.instanceNames.length);
  }

  // ---- ports

  attachInstance(port: number, inst: number, vnet: boolean): void { this.ports.attachInstance(port, inst, vnet); }
  attachPort(port: number, role: number, index: number, vnet: boolean): void { this.ports.attach(port, role, index, vnet); }
  detachPort(port: number): void { this.ports.detach(port); }

  // ---- the internet gateway's uplink, the VPN WAN, Direct Connect (state lives in their stages)

  get uplinkPort(): number { return this.legs.igw.port; }
  set uplinkPort(p: number) { this.legs.igw.port = p; }
  get uplinkMac(): Uint8Array { return this.legs.igw.mac; }
  get uplinkIp(): number { return this.legs.igw.ip; }
  set uplinkIp(ip: number) { this.legs.igw.ip = ip; }
  get neighbors(): NeighborTable { return this.legs.igw.neighbors; }
  get igwCounters(): Float64Array { return this.legs.igw.counters; }
  /** IKE datagrams received in this batch, for the control plane (drained after the batch). */
  get punts(): PuntedDatagram[] { return this.legs.tunnel.punts; }
  isWanAddr(ip: number): boolean { return this.legs.tunnel.isWanAddr(ip); }

  get dxPort(): number { return this.legs.dx.port; }
  set dxPort(p: number) { this.legs.dx.port = p; }
  get dxMac(): Uint8Array { return this.legs.dx.mac; }
  get dxIp(): number { return this.legs.dx.ip; }
  set dxIp(ip: number) { this.legs.dx.ip = ip; }
  get dxPeer(): number { return this.legs.dx.peer; }
  set dxPeer(ip: number) { this.legs.dx.peer = ip; }
  set dxNetAddr(a: Uint32Array) { this.legs.dx.netAddr = a; }
  set dxNetMask(m: Uint32Array) { this.legs.dx.netMask = m; }
  get dxCounters(): Float64Array { return this.legs.dx.counters; }
  dxUp(nowMs: number): boolean { return this.legs.dx.up(nowMs); }

  /** Sends a UDP datagram from one of our WAN addresses (IKE), outside batch processing. */
  emitUdp(b: PacketBatch, src: number, sport: number, dst: number, dport: number, payload: Uint8Array, nowMs: number): boolean {
    return this.legs.igw.sendUdp(b, src, sport, dst, dport, payload, nowMs);
  }

  /** The Direct Connect liveness probe (outside batch processing). */
  emitDxProbe(b: PacketBatch): void {
    this.legs.dx.probe(b);
  }

  // ---- the batch loop

  /** Runs every received frame of the batch; fills the tx queue. */
  processBatch(b: PacketBatch, nowMs: number): void {
    const c = this.counters;
    c.batches++;
    c.frames += b.count;
    const sec = this.legs.security;
    const ev = this.events;
    for (let i = 0; i < b.count; i++) {
      // (Mutant `true` here is equivalent: without observers nothing reads what beginObserved resets.)
      if (ev.active) this.beginObserved();
      const reason = this.processFrame(b, i, nowMs);
      if (reason !== DropReason.None) {
        c.drops[reason]++;
        // Per ENI: the sending instance's, or the receiving ENI that refused it (the security stage moved it).
        if (sec !== null) {
          // Stryker disable next-line ConditionalExpression: equivalent (true): dropEni -1 makes the index negative, which a Float64Array ignores
          if (sec.dropEni >= 0) sec.eniDrops[sec.dropEni * DROP_REASON_COUNT + reason]++;
        }
        // ARP the router does not answer is routine on every link: counted, not reported.
        if (ev.active && !ev.decided && reason !== DropReason.ArpIgnored) this.emitDrop(reason);
      }
    }
    // Tunnel traffic: every ESP seal of the batch in one native call, before tx.
    const vpn = this.legs.tunnel.vpn;
    const cr = vpn !== null ? vpn.crypto : null;
    if (cr !== null && cr.flush !== undefined) {
      this.flushBatch = b;
      cr.flush(b.arena, this.onSealFail);
      this.flushBatch = null;
    }
  }

  /** Observers listen: the packet record starts empty (a frame that never parses reports no addresses). */
  private beginObserved(): void {
    const pkt = this.packet;
    this.events.decided = false;
    pkt.proto = 0;
    pkt.src = 0;
    pkt.dst = 0;
    pkt.sport = 0;
    pkt.dport = 0;
    pkt.l3Off = 0;
    pkt.l3End = 0;
  }

  /** A dropped frame for observers: its reason, the stage and code that fit, the ENI it came from. */
  private emitDrop(reason: number): void {
    const pkt = this.packet, ports = this.ports;
    const eni = ports.role[pkt.port] === PortRole.Instance ? ports.index[pkt.port] : -1;
    const s = this.events.put(EventType.Drop, VERDICT_REJECT, DROP_STAGE[reason], DROP_CODE[reason], -1, RULE_NONE, eni,
      pkt.proto, pkt.src, pkt.dst, pkt.sport, pkt.dport);
    this.events.setCounts(s, 1, pkt.l3End - pkt.l3Off);
    this.events.setReason(s, reason, 0);
  }

  /** One frame; returns the drop reason, or None when it was queued for tx or consumed. */
  processFrame(b: PacketBatch, i: number, nowMs: number): number {
    const port = b.rxPort[i];
    const len = b.rxLen[i];
    const ports = this.ports;
    this.counters.rx(port, len);
    const role = ports.role[port];
    const sec = this.legs.security;
    if (sec !== null) sec.dropEni = role === PortRole.Instance ? ports.index[port] : -1;
    const pkt = this.packet;
    const ethType = pkt.begin(b.arena, port, b.rxOff[i], len, ports.vnet[port] === 1);
    if (ethType < 0) return DropReason.Malformed;
    if (role === PortRole.None) return DropReason.UnknownPort;
    const legs = this.legs;
    if (ethType === ETH_IPV4) {
      if (role === PortRole.Instance) return legs.fromInstance(b, pkt, ports.index[port], nowMs);
      if (role === PortRole.Uplink) return legs.fromUplink(b, pkt, nowMs);
      if (role === PortRole.DirectConnect) return legs.fromDx(b, pkt, nowMs);
      if (role === PortRole.Service) return legs.services.fromService(b, pkt, legs.topo);
      return DropReason.UnsupportedTarget;
    }
    if (ethType === ETH_ARP) {
      if (role === PortRole.Instance) return legs.router.arp(b, pkt, legs.topo, ports.index[port]);
      if (role === PortRole.Uplink) return this.uplinkArp(b, pkt);
      if (role === PortRole.DirectConnect) return legs.dx.arp(b, pkt, nowMs);
      return DropReason.ArpIgnored;
    }
    if (ethType === ETH_IPV6) return DropReason.Ipv6;
    return DropReason.UnknownEthertype;
  }

  /** ARP on the uplink: we answer for the public addresses behind the IGW, the uplink's address and the WAN addresses. */
  private uplinkArp(b: PacketBatch, pkt: Packet): number {
    const a = pkt.ethOff + 14;
    // (Mutants that skip this check are equivalent: igw.arp() repeats it, and the reads before it only look.)
    if (pkt.end - a < 28) return DropReason.Malformed;
    const legs = this.legs, igw = legs.igw, topo = legs.topo;
    const buf = pkt.buf;
    const spa = ((buf[a + 14] << 24) | (buf[a + 15] << 16) | (buf[a + 16] << 8) | buf[a + 17]) | 0;
    const tpa = ((buf[a + 24] << 24) | (buf[a + 25] << 16) | (buf[a + 26] << 8) | buf[a + 27]) | 0;
    const ours =
      // Stryker disable next-line EqualityOperator: equivalent (> 0): a public-index value carries its address kind (>= 1) in the top byte
      topo.publicIndex.get(tpa) >= 0 ||
      (igw.ip !== 0 && tpa === igw.ip) || legs.tunnel.isWanAddr(tpa);
    return igw.arp(b, pkt, topo, ours, legs.tunnel.isWanAddr(spa));
  }
}
