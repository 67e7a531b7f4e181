/**
 * The packet path of the agreement test: the in-process data plane of
 * test/helpers/dp-harness.ts (the code the daemon runs), set up as
 * src/daemon.ts sets it up, fed real Ethernet frames, with the world around
 * it played by this file:
 *
 * - the uplink port (internet gateway and VPN WAN) with the uplink MAC the
 *   daemon derives, neighbours for the internet hosts learned as the lab's
 *   bridge would teach them, and ARP requests for other addresses answered
 *   (the frame has left vpcd's policy by then);
 * - NAT gateway states as the daemon's syncNatGateways makes them (the random
 *   first port is taken from the case, so a seed replays exactly);
 * - the VPN: the daemon's VpnPath with a tunnel crypto that seals by copying
 *   (a 4-byte SPI-like tag, then the inner packet). The ESP engine itself is
 *   not under test here; routing into and out of tunnels is;
 * - instances: an endpoint answers; an appliance (source/dest check off)
 *   forwards what is not addressed to it back to the VPC router; a NAT
 *   instance also masquerades it (and translates the replies back) as the
 *   nftables rule the lab loads into it does.
 *
 * The established packet (the request direction once more) is sent after a
 * reply, unless the reply went round a routing loop through NAT instances
 * (their masquerade tables then hold the loop's entries, as Linux's would).
 *
 * Each flow starts from fresh state (conntrack, security-stage caches, NAT
 * sessions, masquerade table; the clock moves 60 s so fragment verdicts of
 * the previous flow have expired), so flows are independent and any single
 * one is a complete reproducer.
 */
import { Harness } from './dp-harness.js';
import { arpReply, ethFrame, fragmentFrame, icmpMessage, ipv4Packet, refSum, tcpSegment4, udpDatagram4, TCP_ACK, TCP_SYN } from './frames.js';
import type { VpcModel } from './agreement-vpc.js';
import { INTERNET_HOSTS, UNOWNED_PUBLIC, VPC_NAME, VPN_LOCAL, VPN_PEER } from './agreement-vpc.js';
import type { FlowCase } from './agreement-flow.js';
import { ICMP_ERRORS } from './agreement-flow.js';
import { Conntrack } from '../../src/conntrack/conntrack.js';
import { SecurityStage } from '../../src/conntrack/sg-stage.js';
import { DROP_REASON_LABELS } from '../../src/pipeline/batch.js';
import { PortRole } from '../../src/pipeline/dataplane.js';
import { NatGatewayState } from '../../src/nat/nat-gateway.js';
import { VpnPath, type TunnelCrypto } from '../../src/vpn/vpn-path.js';
import { derivedMac, instanceMac, routerMac } from '../../src/lab/names.js';
import { ipToU32, parseMac, u32ToIp } from '../../src/wire/addr.js';
import { awsService } from '../../src/policy/classify.js';

/** A packet as it is sent or seen on a wire (what the comparison looks at). */
export interface WirePkt {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** Echo (and other query) identifier. */
  readonly icmpId?: number;
  readonly tcpFlags?: number;
  readonly ipId: number;
  /** Fragment offset in bytes; > 0 for a later fragment (which carries no L4 header). */
  readonly fragOffset: number;
  readonly moreFragments: boolean;
  /** Header checksums valid (IPv4 always; L4 too when the packet is whole). */
  readonly checksumsOk: boolean;
}

/** What became of one frame the test injected (following appliance hops). */
export type Outcome =
  | { readonly kind: 'instance'; readonly name: string; readonly pkt: WirePkt; readonly via: readonly string[] }
  | { readonly kind: 'misdelivered'; readonly name: string; readonly pkt: WirePkt; readonly via: readonly string[] }
  | { readonly kind: 'internet'; readonly pkt: WirePkt; readonly via: readonly string[] }
  | { readonly kind: 'vpn'; readonly connection: string; readonly pkt: WirePkt; readonly via: readonly string[] }
  | { readonly kind: 'router'; readonly pkt: WirePkt; readonly via: readonly string[] }
  /** Out of the service port to the VPC services' namespace; `service` as explain names it (classify.ts awsService). */
  | { readonly kind: 'service'; readonly service: string; readonly pkt: WirePkt; readonly via: readonly string[] }
  | { readonly kind: 'drop'; readonly reason: string; readonly via: readonly string[] }
  | { readonly kind: 'loop'; readonly via: readonly string[] }
  | { readonly kind: 'lost'; readonly via: readonly string[] }
  | { readonly kind: 'no-uplink'; readonly via: readonly string[] };

export type LegName = 'request' | 'reply' | 'again';

export interface LegTrace {
  readonly leg: LegName;
  readonly sent: WirePkt;
  /** Where the leg was injected: an instance name, `internet` or `vpn`. */
  readonly from: string;
  /** One list of outcomes per fragment sent (one entry when whole). */
  readonly parts: readonly (readonly Outcome[])[];
}

export interface FlowTrace {
  readonly legs: readonly LegTrace[];
}

/** ICMP query type -> reply type (RFC 792), as `vpcd explain` pairs them. */
export const ICMP_REPLY: Readonly<Record<number, number>> = { 8: 0, 13: 14, 15: 16, 17: 18 };

const PAYLOAD = Buffer.from('agreement-test-payload-0'); // 24 bytes
/** Data bytes per fragment, by protocol, so that a datagram makes 2-3 fragments and the first holds the L4 header. */
const FRAG_DATA: Readonly<Record<number, number>> = { 6: 24, 17: 16, 1: 16, 47: 16 };
const MAX_HOPS = 16;
const SPI_BASE = 0x1000;

/** Seals by copying: [tag(4) = SPI_BASE + tunnel][inner packet]. */
class CopyTunnelCrypto implements TunnelCrypto {
  lastTunnel = -1;
  constructor(private readonly tunnels: number) {}
  encrypt(t: number, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number {
    const tag = SPI_BASE + t;
    out[outOff] = tag >>> 24;
    out[outOff + 1] = (tag >>> 16) & 255;
    out[outOff + 2] = (tag >>> 8) & 255;
    out[outOff + 3] = tag & 255;
    out.set(inner.subarray(innerOff, innerOff + innerLen), outOff + 4);
    return innerLen + 4;
  }
  decrypt(buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): number {
    if (espLen < 24) return -4;
    const t = ((buf[espOff]! << 24) | (buf[espOff + 1]! << 16) | (buf[espOff + 2]! << 8) | buf[espOff + 3]!) - SPI_BASE;
    if (t < 0 || t >= this.tunnels) return -1;
    out.set(buf.subarray(espOff + 4, espOff + espLen), outOff);
    this.lastTunnel = t;
    return espLen - 4;
  }
  innerMtu(): number {
    return 1400;
  }
  hasOutbound(): boolean {
    return true;
  }
}

const hostMac = (ip: string): string => derivedMac(`host/${ip}`);

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Parses the IPv4 packet of an Ethernet frame (no VLAN). */
export function parseWire(frame: Uint8Array): WirePkt | undefined {
  if (frame.length < 34 || u16(frame, 12) !== 0x0800) return undefined;
  const ip = Buffer.from(frame.subarray(14));
  const ihl = (ip[0]! & 15) * 4;
  const total = ip.readUInt16BE(2);
  const pkt = ip.subarray(0, total);
  const ff = ip.readUInt16BE(6);
  const fragOffset = (ff & 0x1fff) * 8;
  const moreFragments = (ff & 0x2000) !== 0;
  const proto = ip[9]!;
  const src = u32ToIp(ip.readUInt32BE(12));
  const dst = u32ToIp(ip.readUInt32BE(16));
  let ok = refSum(pkt.subarray(0, ihl)) === 0xffff;
  const l4 = pkt.subarray(ihl);
  const whole = fragOffset === 0 && !moreFragments;
  const base = { src, dst, proto, ipId: ip.readUInt16BE(4), fragOffset, moreFragments };
  if (fragOffset !== 0) return { ...base, checksumsOk: ok };
  if (proto === 6 || proto === 17) {
    if (whole && !(proto === 17 && l4.readUInt16BE(6) === 0)) {
      const ps = refSum(Buffer.concat([pkt.subarray(12, 20), Buffer.from([0, proto, l4.length >> 8, l4.length & 255])]));
      ok &&= refSum(l4, ps) === 0xffff;
    }
    return { ...base, sport: l4.readUInt16BE(0), dport: l4.readUInt16BE(2), ...(proto === 6 ? { tcpFlags: l4[13]! } : {}), checksumsOk: ok };
  }
  if (proto === 1) {
    if (whole) ok &&= refSum(l4) === 0xffff;
    const t = l4[0]!;
    return { ...base, icmpType: t, icmpCode: l4[1]!, ...(ICMP_ERRORS.has(t) ? {} : { icmpId: l4.readUInt16BE(4) }), checksumsOk: ok };
  }
  return { ...base, checksumsOk: ok };
}

/** The IPv4 packet for a WirePkt (whole; fragmentation is applied to the frame). */
function ipPacket(p: WirePkt, seq: number): Buffer {
  let payload: Buffer;
  if (p.proto === 6) payload = tcpSegment4(p.src, p.dst, { sport: p.sport!, dport: p.dport!, flags: p.tcpFlags ?? TCP_SYN, seq: 1000 + seq, ack: seq, payload: PAYLOAD });
  else if (p.proto === 17) payload = udpDatagram4(p.src, p.dst, { sport: p.sport!, dport: p.dport!, payload: PAYLOAD });
  else if (p.proto === 1) {
    const t = p.icmpType!;
    if (ICMP_ERRORS.has(t)) {
      // The offending packet the sender received: from the destination to the sender (UDP 53 -> 40000).
      const quoted = ipv4Packet({ src: p.dst, dst: p.src, proto: 17, id: 7, payload: udpDatagram4(p.dst, p.src, { sport: 53, dport: 40000, payload: PAYLOAD }) });
      payload = icmpMessage({ type: t, code: p.icmpCode!, rest: t === 3 && p.icmpCode === 4 ? 1400 : 0, payload: quoted.subarray(0, 28) });
    } else {
      payload = icmpMessage({ type: t, code: p.icmpCode!, id: p.icmpId ?? 0, seq, payload: PAYLOAD });
    }
  } else {
    payload = Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), PAYLOAD]); // GRE carrying IPv4
  }
  return ipv4Packet({ src: p.src, dst: p.dst, id: p.ipId, proto: p.proto, payload });
}

/** Recomputes the IPv4 header checksum and, for a whole TCP/UDP/ICMP packet, the L4 checksum. */
function fixChecksums(ip: Buffer): void {
  const ihl = (ip[0]! & 15) * 4;
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(0xffff - refSum(ip.subarray(0, ihl)), 10);
  const ff = ip.readUInt16BE(6);
  if ((ff & 0x3fff) !== 0) return;
  const l4 = ip.subarray(ihl, ip.readUInt16BE(2));
  const proto = ip[9]!;
  if (proto === 6 || proto === 17) {
    const at = proto === 6 ? 16 : 6;
    if (proto === 17 && l4.readUInt16BE(6) === 0) return;
    l4.writeUInt16BE(0, at);
    const ps = refSum(Buffer.concat([ip.subarray(12, 20), Buffer.from([0, proto, l4.length >> 8, l4.length & 255])]));
    const c = 0xffff - refSum(l4, ps);
    l4.writeUInt16BE(proto === 17 && c === 0 ? 0xffff : c, at);
  } else if (proto === 1) {
    l4.writeUInt16BE(0, 2);
    l4.writeUInt16BE(0xffff - refSum(l4), 2);
  }
}

/** A Linux masquerade entry inside a NAT instance. */
interface Masq {
  readonly at: number;
  readonly proto: number;
  readonly inside: string;
  readonly remote: string;
  /** TCP/UDP source port or ICMP identifier, kept as Linux keeps it when free. */
  readonly port: number | undefined;
  readonly remotePort: number | undefined;
  /** ICMP type of the masqueraded packet: only its paired reply type comes back through (as Linux conntrack). */
  readonly icmpType: number | undefined;
}

export class PacketWorld {
  readonly h: Harness;
  readonly uplinkPort: number;
  /** The service port, as src/daemon/services-glue.ts attaches it. */
  readonly servicePort: number;
  private readonly uplinkMac: string;
  private readonly routerIps: Set<string>;
  private readonly vpnPath: VpnPath | null;
  private masq: Masq[] = [];
  /** What a NAT instance decided for a first fragment (undo or not), so its later fragments follow as after reassembly. */
  private fragUnmasq = new Map<string, Masq | undefined>();

  constructor(readonly model: VpcModel) {
    this.h = new Harness(model.yaml, { security: true, slots: 4 });
    const h = this.h;
    const cfg = h.cfg;
    const n = h.topo.instanceNames.length;
    this.uplinkMac = derivedMac(`uplink/${cfg.vpc.name}`);
    // src/daemon.ts attachAll: an uplink when there is an internet gateway or a VPN WAN.
    const hasUplink = cfg.internetGateway !== undefined || cfg.vpnConnections.size > 0;
    this.uplinkPort = hasUplink ? n : -1;
    if (hasUplink) {
      h.dp.attachPort(n, PortRole.Uplink, 0, true);
      h.dp.uplinkPort = n;
      h.dp.uplinkMac.set(parseMac(this.uplinkMac));
      for (const ip of [...INTERNET_HOSTS, VPN_PEER, UNOWNED_PUBLIC]) h.dp.neighbors.learn(ipToU32(ip) | 0, parseMac(hostMac(ip)), 0);
    }
    this.servicePort = n + 1;
    h.dp.attachPort(this.servicePort, PortRole.Service, 0, true);
    h.dp.legs.services.port = this.servicePort;
    h.dp.legs.services.dnsEnabled = cfg.vpc.enableDnsSupport ?? true;
    this.vpnPath = null;
    if (cfg.vpnConnections.size > 0) {
      const path = new VpnPath(cfg);
      path.crypto = new CopyTunnelCrypto(path.tunConn.length);
      path.tunUp.fill(1);
      h.dp.vpn = path;
      this.vpnPath = path;
    }
    this.routerIps = new Set(model.subnets.map((s) => u32ToIp(ipToU32(s.cidr.split('/')[0] as string) + 1)));
  }

  /** Fresh per-flow state (see the header). */
  private reset(flowSalt: number): void {
    const h = this.h;
    h.now += 60_000;
    const ct = new Conntrack({ ...h.cfg.conntrack, max: 256 }, 1234);
    const sec = new SecurityStage(h.policy!, ct);
    h.ct = ct;
    h.security = sec;
    h.dp.security = sec;
    const topo = h.topo;
    // src/daemon.ts syncNatGateways
    h.dp.nats = topo.natNames.map((name, i) => {
      const g = h.cfg.natGateways.get(name)!;
      const st = new NatGatewayState(name, {
        ip: topo.natIp[i]!, publicIp: topo.natPublicIp[i]!, subnet: topo.natSubnet[i]!, isPublic: topo.natPublic[i] === 1,
        maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout, maxSessions: 1024,
      });
      const cursor = 1024 + ((this.model.nats[i]!.cursor + flowSalt * 7919) % 64512);
      const s = st as unknown as { portCursor: unknown };
      if (typeof s.portCursor !== 'number') throw new Error('NatGatewayState no longer has portCursor: update the agreement test');
      s.portCursor = cursor;
      return st;
    });
    this.masq = [];
    this.fragUnmasq = new Map();
  }

  /** Runs a flow: its request, its reply (built from what was delivered), then the request direction once more. */
  runFlow(f: FlowCase, hasReply: (p: WirePkt) => boolean): FlowTrace {
    this.reset(f.icmpId);
    const legs: LegTrace[] = [];
    const req: WirePkt = {
      src: f.src, dst: f.dst, proto: f.proto,
      ...(f.sport !== undefined ? { sport: f.sport, dport: f.dport! } : {}),
      ...(f.proto === 6 ? { tcpFlags: TCP_SYN } : {}),
      ...(f.icmpType !== undefined ? { icmpType: f.icmpType, icmpCode: f.icmpCode! } : {}),
      ...(f.proto === 1 && !ICMP_ERRORS.has(f.icmpType!) ? { icmpId: f.icmpId } : {}),
      ipId: f.ipId, fragOffset: 0, moreFragments: false, checksumsOk: true,
    };
    const fromName = f.origin.at === 'instance' ? this.model.instances[f.origin.index]!.name : f.origin.at;
    const request = this.leg('request', req, fromName, f.frag, 1);
    legs.push(request);
    const first = request.parts[0]!;
    const end = first.length === 1 ? first[0]! : undefined;
    if (end === undefined || (end.kind !== 'instance' && end.kind !== 'internet' && end.kind !== 'vpn')) return { legs };
    if (!hasReply(end.pkt)) return { legs };
    const d = end.pkt;
    const back: WirePkt = {
      src: d.dst, dst: d.src, proto: d.proto,
      ...(d.sport !== undefined ? { sport: d.dport!, dport: d.sport } : {}),
      ...(d.proto === 6 ? { tcpFlags: TCP_SYN | TCP_ACK } : {}),
      ...(d.proto === 1 ? { icmpType: ICMP_REPLY[d.icmpType!]!, icmpCode: 0, icmpId: d.icmpId! } : {}),
      ipId: f.ipId ^ 0xffff, fragOffset: 0, moreFragments: false, checksumsOk: true,
    };
    const replyFrom = end.kind === 'instance' ? end.name : end.kind;
    const reply = this.leg('reply', back, replyFrom, f.frag, 2);
    legs.push(reply);
    // After a routing loop the appliances' own translation state is full of the loop; an established packet means nothing then.
    if (reply.parts.some((part) => part.some((o) => o.kind === 'loop'))) return { legs };
    const again: WirePkt = { ...req, ...(f.proto === 6 ? { tcpFlags: TCP_ACK } : {}), ipId: (f.ipId + 1) & 0xffff };
    legs.push(this.leg('again', again, fromName, 'none', 3));
    return { legs };
  }

  private leg(leg: LegName, p: WirePkt, from: string, frag: FlowCase['frag'], seq: number): LegTrace {
    const frames = this.framesFor(p, from, frag, seq);
    if (frames === undefined) return { leg, sent: p, from, parts: [[{ kind: 'no-uplink', via: [] }]] };
    return { leg, sent: p, from, parts: frames.map((fr) => this.follow(fr.port, fr.frame)) };
  }

  /** The frames that carry p into vpcd from `from` (an instance, the internet, a VPN tunnel). */
  private framesFor(p: WirePkt, from: string, frag: FlowCase['frag'], seq: number): { port: number; frame: Buffer }[] | undefined {
    const ip = ipPacket(p, seq);
    let port: number;
    let frame: Buffer;
    if (from === 'internet' || from === 'vpn') {
      if (this.uplinkPort < 0) return undefined;
      port = this.uplinkPort;
      if (from === 'internet') frame = ethFrame({ srcMac: hostMac(p.src), dstMac: this.uplinkMac, etherType: 0x0800, payload: ip });
      else {
        const frames = this.fragment(ethFrame({ etherType: 0x0800, payload: ip }), p.proto, frag);
        return frames.map((fr) => ({ port, frame: this.espFrame(fr.subarray(14)) }));
      }
    } else {
      const k = this.model.instances.findIndex((i) => i.name === from);
      const inst = this.model.instances[k]!;
      port = this.h.port(inst.name);
      frame = ethFrame({ srcMac: instanceMac(VPC_NAME, inst.name), dstMac: routerMac(VPC_NAME, this.model.subnets[inst.subnet]!.name), etherType: 0x0800, payload: ip });
    }
    return this.fragment(frame, p.proto, frag).map((fr) => ({ port, frame: fr }));
  }

  private fragment(frame: Buffer, proto: number, frag: FlowCase['frag']): Buffer[] {
    if (frag === 'none') return [frame];
    const parts = fragmentFrame(frame, FRAG_DATA[proto] ?? 16);
    return frag === 'first' ? parts.slice(0, 1) : parts;
  }

  /** ESP in UDP 4500 from the customer gateway to our tunnel endpoint, sealed by copying. */
  private espFrame(inner: Uint8Array): Buffer {
    const tag = Buffer.alloc(4);
    tag.writeUInt32BE(SPI_BASE + 0);
    const udp = udpDatagram4(VPN_PEER, VPN_LOCAL, { sport: 4500, dport: 4500, payload: Buffer.concat([tag, inner]), noChecksum: true });
    return ethFrame({ srcMac: hostMac(VPN_PEER), dstMac: this.uplinkMac, etherType: 0x0800, payload: ipv4Packet({ src: VPN_PEER, dst: VPN_LOCAL, proto: 17, payload: udp }) });
  }

  /** Runs one frame and everything it leads to (appliance hops, ARP on the uplink); returns where it ended. */
  private follow(port0: number, frame0: Buffer): Outcome[] {
    const h = this.h;
    const out: Outcome[] = [];
    const queue: { port: number; frame: Buffer; via: string[] }[] = [{ port: port0, frame: frame0, via: [] }];
    while (queue.length > 0) {
      const { port, frame, via } = queue.shift()!;
      if (via.length > MAX_HOPS) {
        out.push({ kind: 'loop', via });
        continue;
      }
      const before = Float64Array.from(h.counters.drops);
      const tx = h.run([{ port, frame }]);
      // An ARP reply the test sent on the uplink is consumed (counted as arp_ignored) after releasing what waited for it.
      if (u16(frame, 12) !== 0x0806) {
        const drops = h.counters.drops;
        for (let r = 1; r < drops.length; r++) {
          if (drops[r]! > before[r]!) out.push({ kind: 'drop', reason: DROP_REASON_LABELS[r]!, via });
        }
        if (tx.length === 0 && drops.every((v, r) => v === before[r])) out.push({ kind: 'lost', via });
      }
      const sent = parseWire(frame);
      for (const t of tx) this.receive(t.port, t.frame, via, out, queue, port, sent);
    }
    return out;
  }

  /** A frame vpcd sent on `port`: who receives it, and what they do. */
  private receive(
    port: number, frame: Buffer, via: string[], out: Outcome[], queue: { port: number; frame: Buffer; via: string[] }[],
    inPort: number, sent: WirePkt | undefined,
  ): void {
    if (port === this.servicePort) {
      const p = parseWire(frame);
      const svc = p === undefined ? undefined : awsService(this.h.cfg, p.dst);
      if (p !== undefined && svc !== undefined) out.push({ kind: 'service', service: svc.id, pkt: p, via });
      return;
    }
    if (port === this.uplinkPort) {
      if (u16(frame, 12) === 0x0806) {
        if (u16(frame, 20) !== 1) return;
        // Someone on the internet side has the address asked for: it answers.
        const tpa = u32ToIp(frame.readUInt32BE(38));
        const spa = u32ToIp(frame.readUInt32BE(28));
        queue.push({ port, frame: arpReply({ srcMac: hostMac(tpa), dstMac: this.uplinkMac, spa: tpa, tpa: spa }), via });
        return;
      }
      const p = parseWire(frame);
      if (p === undefined) return;
      if (this.vpnPath !== null && p.proto === 17 && p.src === VPN_LOCAL && p.fragOffset === 0 && p.dport === 4500) {
        const ipStart = 14 + (frame[14]! & 15) * 4 + 8;
        const t = frame.readUInt32BE(ipStart) - SPI_BASE;
        const conn = this.vpnPath.connNames[this.vpnPath.tunConn[t]!] ?? '?';
        const inner = parseWire(Buffer.concat([frame.subarray(0, 14), frame.subarray(ipStart + 4)]));
        if (inner !== undefined) out.push({ kind: 'vpn', connection: conn, pkt: inner, via });
        return;
      }
      out.push({ kind: 'internet', pkt: p, via });
      return;
    }
    const k = port;
    const inst = this.model.instances[k];
    const p = parseWire(frame);
    if (inst === undefined || p === undefined) return;
    // The VPC router's answer: back out of the port the packet came in on, from the router address it was sent to.
    if (port === inPort && sent !== undefined && this.routerIps.has(sent.dst) && p.src === sent.dst && p.proto === 1) {
      out.push({ kind: 'router', pkt: p, via });
      return;
    }
    const ip = Buffer.from(frame.subarray(14, 14 + frame.readUInt16BE(16)));
    if (p.dst === inst.ip) {
      const m = inst.natInstance ? this.unmasquerade(k, p) : undefined;
      if (m === undefined) {
        out.push({ kind: 'instance', name: inst.name, pkt: p, via });
        return;
      }
      // A reply to what this NAT instance masqueraded: back to the inside host.
      ip.writeUInt32BE(ipToU32(m.inside), 16);
      if (p.fragOffset === 0 && m.port !== undefined) this.writeL4Dst(ip, p.proto, m.port);
    } else if (inst.sourceDestCheck) {
      out.push({ kind: 'misdelivered', name: inst.name, pkt: p, via });
      return;
    } else if (p.src === inst.ip) {
      // Its own packet came back to it: a routing loop (Linux drops it as a martian rather than forward it).
      out.push({ kind: 'loop', via: [...via, inst.name] });
      return;
    } else if (inst.natInstance) {
      this.masq.push({ at: k, proto: p.proto, inside: p.src, remote: p.dst, port: p.sport ?? p.icmpId, remotePort: p.dport, icmpType: p.icmpType });
      ip.writeUInt32BE(ipToU32(inst.ip), 12);
    }
    fixChecksums(ip);
    const fwd = ethFrame({ srcMac: instanceMac(VPC_NAME, inst.name), dstMac: routerMac(VPC_NAME, this.model.subnets[inst.subnet]!.name), etherType: 0x0800, payload: ip });
    queue.push({ port: k, frame: fwd, via: [...via, inst.name] });
  }

  private unmasquerade(k: number, p: WirePkt): Masq | undefined {
    const fragKey = `${k}/${p.src}/${p.proto}/${p.ipId}`;
    if (p.fragOffset !== 0) return this.fragUnmasq.get(fragKey);
    const m = this.findMasq(k, p);
    if (p.moreFragments) this.fragUnmasq.set(fragKey, m);
    return m;
  }

  private findMasq(k: number, p: WirePkt): Masq | undefined {
    for (let i = this.masq.length - 1; i >= 0; i--) {
      const m = this.masq[i]!;
      if (m.at !== k || m.proto !== p.proto || m.remote !== p.src) continue;
      if (p.proto === 6 || p.proto === 17) {
        if (m.port === p.dport && m.remotePort === p.sport) return m;
      } else if (p.proto === 1) {
        // A query's answer carries the paired type (echo 8 -> 0); the same query type coming back is new traffic.
        const paired = m.icmpType !== undefined ? ICMP_REPLY[m.icmpType] : undefined;
        if (p.icmpId === m.port && (paired === undefined || p.icmpType === paired)) return m;
      } else return m;
    }
    return undefined;
  }

  /** Writes the destination port (TCP/UDP) or the identifier (ICMP) of a whole or first-fragment packet. */
  private writeL4Dst(ip: Buffer, proto: number, value: number): void {
    const ihl = (ip[0]! & 15) * 4;
    if (proto === 6 || proto === 17) ip.writeUInt16BE(value, ihl + 2);
    else if (proto === 1) ip.writeUInt16BE(value, ihl + 4);
  }
}
