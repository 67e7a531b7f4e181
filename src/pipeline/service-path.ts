/**
 * The data plane's side of the VPC services (services/plane.ts):
 *
 *   instance -> service address   after the ENI's source/dest check; never
 *                                 SGs, NACLs or flow logs [VPC-SEC], [VPC-FL];
 *                                 the ENI's link-local allowance (1,024
 *                                 packets/s, linklocal_allowance_exceeded
 *                                 [VPC-Q], [EC2-ENA]); out of the service port
 *                                 with the instance's own source address
 *   service port -> instance      from a service address to an ENI's address:
 *                                 straight to it
 *   DHCP (UDP 68 -> 67) from an   copied into a bounded punt ring; the daemon
 *   ENI, broadcast or not         answers between batches (services/dhcp.ts)
 *
 * What nobody serves (ECS task metadata; Amazon DNS with enableDnsSupport
 * off; everything while the service port is absent) is dropped as
 * vpc_service. Allocation-free: typed arrays only.
 */
import type { Topology } from '../control/topology.js';
import { AddrKind } from '../control/topology.js';
import { DropReason, type PacketBatch } from './batch.js';
import { writeL2ToInstance } from './frames.js';
import type { Packet } from './packet.js';
import type { Ports } from './ports.js';

const IMDS = 0xa9fea9fe | 0, DNS_LINK_LOCAL = 0xa9fea9fd | 0, TIME_SYNC = 0xa9fea97b | 0;
const PROTO_UDP = 17;
/** AWS's per-ENI allowance to link-local services, packets per second (not adjustable). */
export const LINK_LOCAL_PPS = 1024;
/** DHCP messages waiting for the daemon between two batches; more are dropped (ike_punt_overflow's sibling: punt overflow). */
export const DHCP_PUNT_SLOTS = 32;
/** A DHCP message larger than this is not one a client sends (RFC 2131 clients send at most 576-byte datagrams by default). */
export const DHCP_PUNT_MAX = 1472;

export class ServicePath {
  /** The service port, -1 while there is none. */
  port = -1;
  /** svc0's MAC (destination of steered frames) and the service port's own MAC (their source). */
  readonly serviceMac = new Uint8Array(6);
  readonly portMac = new Uint8Array(6);
  /** Amazon DNS answered (enableDnsSupport). */
  dnsEnabled = true;
  /** Per instance: allowance tokens and when they were last topped up; drops. */
  tokens: Float64Array = new Float64Array(0);
  lastMs: Float64Array = new Float64Array(0);
  readonly allowanceDrops: Float64Array;
  /** Per instance: packets steered to the services. */
  steered: Float64Array = new Float64Array(0);

  /** DHCP punt ring: payload bytes, length and instance per slot. */
  readonly dhcpBuf = new Uint8Array(DHCP_PUNT_SLOTS * DHCP_PUNT_MAX);
  readonly dhcpLen = new Int32Array(DHCP_PUNT_SLOTS);
  readonly dhcpInst = new Int32Array(DHCP_PUNT_SLOTS);
  dhcpCount = 0;

  constructor(private readonly ports: Ports, instances: number, maxInstances = 65_536) {
    this.allowanceDrops = new Float64Array(maxInstances);
    this.reset(instances);
  }

  /** A new topology: buckets start full. Drops stay by index (the daemon folds them by name). */
  reset(instances: number): void {
    this.tokens = new Float64Array(instances).fill(LINK_LOCAL_PPS);
    this.lastMs = new Float64Array(instances);
    this.steered = new Float64Array(instances);
  }

  /** A VPC service address that vpcd answers. */
  served(topo: Topology, dst: number): boolean {
    if (dst === IMDS || dst === TIME_SYNC) return true;
    if (dst === DNS_LINK_LOCAL || dst === ((topo.vpcNet + 2) | 0)) return this.dnsEnabled;
    return false;
  }

  /** Instance S's packet for a service address (its source/dest check passed). */
  toService(b: PacketBatch, pkt: Packet, topo: Topology, S: number, nowMs: number): number {
    // Only the ENI's own address is answered: what an appliance forwards from elsewhere gets nothing [EC2-IMDS-LIMIT].
    if (this.port < 0 || pkt.src !== topo.instIp[S] || !this.served(topo, pkt.dst)) return DropReason.VpcService;
    if (!this.allow(S, nowMs)) return DropReason.LinkLocalAllowance;
    const buf = pkt.buf, e = pkt.ethOff;
    const sm = this.serviceMac, pm = this.portMac;
    for (let k = 0; k < 6; k++) {
      buf[e + k] = sm[k];
      buf[e + 6 + k] = pm[k];
    }
    this.steered[S]++;
    this.ports.queue(b, this.port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }

  /** Token bucket per ENI: LINK_LOCAL_PPS a second, bursts up to one second's worth. */
  private allow(S: number, nowMs: number): boolean {
    const t = this.tokens, l = this.lastMs;
    if (S < 0 || S >= t.length) return false;
    const dt = nowMs - l[S];
    l[S] = nowMs;
    let tok = t[S] + (dt > 0 ? (dt * LINK_LOCAL_PPS) / 1000 : 0);
    if (tok > LINK_LOCAL_PPS) tok = LINK_LOCAL_PPS;
    if (tok < 1) {
      t[S] = tok;
      if (S < this.allowanceDrops.length) this.allowanceDrops[S]++;
      return false;
    }
    t[S] = tok - 1;
    return true;
  }

  /** An IPv4 frame from the service namespace: a service's answer to an ENI. */
  fromService(b: PacketBatch, pkt: Packet, topo: Topology): number {
    const r = pkt.parseIpv4(pkt.end);
    if (r !== DropReason.None) return r;
    const src = pkt.src;
    if (src !== IMDS && src !== TIME_SYNC && src !== DNS_LINK_LOCAL && src !== ((topo.vpcNet + 2) | 0)) return DropReason.SourceDestCheck;
    const a = topo.classify(pkt.dst);
    if (a < 0 || a >>> 24 !== AddrKind.Instance) return DropReason.NoDestination;
    const R = a & 0xffffff;
    const port = this.ports.instPort[R];
    if (port < 0) return DropReason.NoDestination;
    writeL2ToInstance(pkt.buf, pkt.ethOff, topo, this.ports, R);
    this.ports.queue(b, port, pkt.start, pkt.end - pkt.start);
    return DropReason.None;
  }

  /** A DHCP client message (UDP 68 -> 67, first fragment) from instance S: punted whole for the daemon. */
  isDhcp(pkt: Packet): boolean {
    return pkt.proto === PROTO_UDP && pkt.fragOff === 0 && !pkt.moreFrags && pkt.dport === 67 && pkt.sport === 68;
  }

  punt(pkt: Packet, S: number): number {
    const n = this.dhcpCount;
    if (n >= DHCP_PUNT_SLOTS) return DropReason.PuntOverflow;
    const off = pkt.l4Off + 8, len = pkt.l3End - off;
    if (len <= 0 || len > DHCP_PUNT_MAX || pkt.l3End > pkt.end) return DropReason.Malformed;
    const src = pkt.buf, dst = this.dhcpBuf, base = n * DHCP_PUNT_MAX;
    for (let k = 0; k < len; k++) dst[base + k] = src[off + k];
    this.dhcpLen[n] = len;
    this.dhcpInst[n] = S;
    this.dhcpCount = n + 1;
    return DropReason.None;
  }
}
