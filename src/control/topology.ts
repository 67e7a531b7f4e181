/**
 * The forwarding part of a compiled configuration snapshot: subnets, instances
 * (ENIs), route tables and gateways as typed arrays the packet path indexes by
 * small integers. Built by the control plane on start and on every reload;
 * immutable afterwards (a reload builds a new one and swaps it between batches).
 */
import type { VpcConfig } from './config-types.js';
import { IpIndex, NOT_FOUND } from '../lib/ip-index.js';
import { ipToU32, parseMac } from '../wire/addr.js';
import { ipv4NetMask } from './cidr.js';
import { routerMac } from '../lab/names.js';

/** Route target kinds as small integers (the packet path switches on them; Blackhole: drop). */
export const Target = { Local: 0, Igw: 1, NatGateway: 2, Vgw: 3, Instance: 4, Blackhole: 5 } as const;
export type Target = (typeof Target)[keyof typeof Target];

/** What an address inside the VPC is, for the packet path. */
export const AddrKind = { None: 0, Instance: 1, Router: 2, Reserved: 3, NatGateway: 4 } as const;

export class Topology {
  readonly epoch: number;
  readonly config: VpcConfig;

  readonly vpcNet: number;
  readonly vpcMask: number;

  // ---- subnets, by index
  readonly subnetNames: readonly string[];
  readonly subnetNet: Uint32Array;
  readonly subnetMask: Uint32Array;
  /** Host addresses are int32 (`| 0`): within V8's Smi range for 128.0.0.0-255.255.255.255 and below 64.0.0.0, so the packet path passes them around unboxed. */
  readonly subnetRouterIp: Int32Array;
  readonly subnetRouteTable: Int32Array;
  readonly subnetNacl: Int32Array;
  /** 6 bytes per subnet. */
  readonly subnetRouterMac: Uint8Array;

  // ---- instances (ENIs), by index
  readonly instanceNames: readonly string[];
  readonly instanceIfNames: readonly string[];
  readonly instIp: Int32Array;
  readonly instSubnet: Int32Array;
  /** 6 bytes per instance: the configured (or learned) MAC. */
  readonly instMac: Uint8Array;
  readonly instSrcDstCheck: Uint8Array;
  /** Public IPv4 (IGW 1:1 NAT) or 0. */
  readonly instPublicIp: Int32Array;

  /** Private IP -> what it is; value = kind << 24 | index. */
  readonly addrIndex: IpIndex;
  /** Public IP (IGW side) -> kind << 24 | index (instance or NAT gateway). */
  readonly publicIndex: IpIndex;

  // ---- route tables, flattened: entries of table t are [rtStart[t], rtStart[t] + rtCount[t]), longest prefix first
  readonly routeTableNames: readonly string[];
  readonly rtStart: Int32Array;
  readonly rtCount: Int32Array;
  readonly rtNet: Uint32Array;
  readonly rtMask: Uint32Array;
  readonly rtLen: Uint8Array;
  readonly rtKind: Uint8Array;
  readonly rtTarget: Int32Array;
  readonly rtDestText: readonly string[];
  readonly rtTargetText: readonly string[];

  // ---- NAT gateways, by index
  readonly natNames: readonly string[];
  readonly natIp: Int32Array;
  readonly natPublicIp: Int32Array;
  readonly natSubnet: Int32Array;
  readonly natPublic: Uint8Array;

  readonly naclNames: readonly string[];

  constructor(cfg: VpcConfig, epoch: number) {
    this.epoch = epoch;
    this.config = cfg;
    const vpc = ipv4NetMask(cfg.vpc.block);
    this.vpcNet = vpc.net;
    this.vpcMask = vpc.mask;

    this.naclNames = [...cfg.networkAcls.keys()];
    const naclIdx = new Map(this.naclNames.map((n, i) => [n, i]));
    this.routeTableNames = [...cfg.routeTables.keys()];
    const rtIdx = new Map(this.routeTableNames.map((n, i) => [n, i]));

    // subnets
    const subnets = [...cfg.subnets.values()];
    this.subnetNames = subnets.map((s) => s.name);
    const sIdx = new Map(this.subnetNames.map((n, i) => [n, i]));
    const ns = subnets.length;
    this.subnetNet = new Uint32Array(ns);
    this.subnetMask = new Uint32Array(ns);
    this.subnetRouterIp = new Int32Array(ns);
    this.subnetRouteTable = new Int32Array(ns);
    this.subnetNacl = new Int32Array(ns);
    this.subnetRouterMac = new Uint8Array(ns * 6);
    subnets.forEach((s, i) => {
      const c = ipv4NetMask(s.block);
      this.subnetNet[i] = c.net;
      this.subnetMask[i] = c.mask;
      this.subnetRouterIp[i] = (c.net + 1) >>> 0;
      this.subnetRouteTable[i] = rtIdx.get(s.routeTable) ?? -1;
      this.subnetNacl[i] = naclIdx.get(s.networkAcl) ?? -1;
      this.subnetRouterMac.set(parseMac(routerMac(cfg.vpc.name, s.name)), i * 6);
    });

    // instances
    const insts = [...cfg.instances.values()];
    this.instanceNames = insts.map((x) => x.name);
    this.instanceIfNames = insts.map((x) => x.interface);
    const iIdx = new Map(this.instanceNames.map((n, i) => [n, i]));
    const ni = insts.length;
    this.instIp = new Int32Array(ni);
    this.instSubnet = new Int32Array(ni);
    this.instMac = new Uint8Array(ni * 6);
    this.instSrcDstCheck = new Uint8Array(ni);
    this.instPublicIp = new Int32Array(ni);
    insts.forEach((x, i) => {
      this.instIp[i] = ipToU32(x.ip);
      this.instSubnet[i] = sIdx.get(x.subnet) ?? -1;
      this.instMac.set(parseMac(x.mac), i * 6);
      this.instSrcDstCheck[i] = x.sourceDestCheck ? 1 : 0;
      this.instPublicIp[i] = x.publicIp ? ipToU32(x.publicIp) : 0;
    });

    // NAT gateways
    const nats = [...cfg.natGateways.values()];
    this.natNames = nats.map((n) => n.name);
    const nIdx = new Map(this.natNames.map((n, i) => [n, i]));
    this.natIp = new Int32Array(nats.length);
    this.natPublicIp = new Int32Array(nats.length);
    this.natSubnet = new Int32Array(nats.length);
    this.natPublic = new Uint8Array(nats.length);
    nats.forEach((n, i) => {
      this.natIp[i] = ipToU32(n.ip);
      this.natPublicIp[i] = n.publicIp ? ipToU32(n.publicIp) : 0;
      this.natSubnet[i] = sIdx.get(n.subnet) ?? -1;
      this.natPublic[i] = n.type === 'public' ? 1 : 0;
    });

    // addresses inside the VPC
    this.addrIndex = new IpIndex(ni + nats.length + ns * 5);
    subnets.forEach((_, i) => {
      const net = this.subnetNet[i];
      const bcast = (net | ~this.subnetMask[i]) >>> 0;
      this.addrIndex.set(net, (AddrKind.Reserved << 24) | i);
      this.addrIndex.set(net + 1, (AddrKind.Router << 24) | i);
      this.addrIndex.set(net + 2, (AddrKind.Reserved << 24) | i);
      this.addrIndex.set(net + 3, (AddrKind.Reserved << 24) | i);
      this.addrIndex.set(bcast, (AddrKind.Reserved << 24) | i);
    });
    for (let i = 0; i < ni; i++) this.addrIndex.set(this.instIp[i], (AddrKind.Instance << 24) | i);
    for (let i = 0; i < nats.length; i++) this.addrIndex.set(this.natIp[i], (AddrKind.NatGateway << 24) | i);
    this.publicIndex = new IpIndex(ni + nats.length);
    for (let i = 0; i < ni; i++) if (this.instPublicIp[i] !== 0) this.publicIndex.set(this.instPublicIp[i], (AddrKind.Instance << 24) | i);
    for (let i = 0; i < nats.length; i++) if (this.natPublicIp[i] !== 0) this.publicIndex.set(this.natPublicIp[i], (AddrKind.NatGateway << 24) | i);

    // route tables: the implicit local route plus the configured ones, longest prefix first
    const tables = [...cfg.routeTables.values()];
    const flat: { t: number; net: number; mask: number; len: number; kind: Target; target: number; dest: string; text: string }[] = [];
    this.rtStart = new Int32Array(tables.length);
    this.rtCount = new Int32Array(tables.length);
    tables.forEach((t, ti) => {
      const entries: typeof flat = [{ t: ti, net: vpc.net, mask: vpc.mask, len: vpc.len, kind: Target.Local, target: -1, dest: cfg.vpc.cidr, text: 'local' }];
      for (const r of t.routes) {
        const c = ipv4NetMask(r.block);
        let kind: Target = Target.Local;
        let target = -1;
        switch (r.targetKind) {
          case 'igw': kind = Target.Igw; break;
          case 'vgw': kind = Target.Vgw; break;
          case 'nat-gateway': kind = Target.NatGateway; target = nIdx.get(r.target) ?? -1; break;
          case 'instance': kind = Target.Instance; target = iIdx.get(r.target) ?? -1; break;
          case 'local': kind = Target.Local; break;
          case 'blackhole': kind = Target.Blackhole; break;
        }
        entries.push({ t: ti, net: c.net, mask: c.mask, len: c.len, kind, target, dest: r.destination, text: r.target });
      }
      // Longest prefix first; for equal prefixes the local route wins (AWS: local beats overlapping routes).
      entries.sort((a, b) => b.len - a.len || (a.kind === Target.Local ? -1 : b.kind === Target.Local ? 1 : 0));
      this.rtStart[ti] = flat.length;
      this.rtCount[ti] = entries.length;
      flat.push(...entries);
    });
    const nr = flat.length;
    this.rtNet = new Uint32Array(nr);
    this.rtMask = new Uint32Array(nr);
    this.rtLen = new Uint8Array(nr);
    this.rtKind = new Uint8Array(nr);
    this.rtTarget = new Int32Array(nr);
    flat.forEach((e, i) => {
      this.rtNet[i] = e.net;
      this.rtMask[i] = e.mask;
      this.rtLen[i] = e.len;
      this.rtKind[i] = e.kind;
      this.rtTarget[i] = e.target;
    });
    this.rtDestText = flat.map((e) => e.dest);
    this.rtTargetText = flat.map((e) => e.text);
  }

  /** Index of the route entry for dst in route table t (longest prefix match), or -1. Allocation-free. */
  route(t: number, dst: number): number {
    if (t < 0) return -1;
    const end = this.rtStart[t] + this.rtCount[t];
    const net = this.rtNet, mask = this.rtMask;
    for (let i = this.rtStart[t]; i < end; i++) {
      if (((dst & mask[i]) >>> 0) === net[i]) return i;
    }
    return -1;
  }

  /** kind << 24 | index for a VPC-internal address, or -1. */
  classify(ip: number): number {
    return this.addrIndex.get(ip);
  }

  subnetOf(ip: number): number {
    for (let i = 0; i < this.subnetNet.length; i++) {
      if (((ip & this.subnetMask[i]) >>> 0) === this.subnetNet[i]) return i;
    }
    return -1;
  }
}

export { NOT_FOUND };
