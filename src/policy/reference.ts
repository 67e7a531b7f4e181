/**
 * The reference evaluator: one flow and its reply, stage by stage, following
 * the AWS semantics notes line by line. Readable over fast; this is the oracle
 * the compiled packet path is property-tested against, and what
 * `vpcd explain` prints.
 *
 * Path of a request ([VPC-NACL], [VPC-SEC], [VPC-FLX]; order DERIVED as in
 * the notes' "order of evaluation"):
 *
 *   sender ENI:   source-dest-check (only when the source is not its own IP)
 *                 sg-egress (instances; NAT gateways have no security group)
 *   sender subnet nacl-outbound (only when the next hop is outside the subnet)
 *   VPC router    route (the sender subnet's table, longest prefix)
 *   next hop:     local      -> nacl-inbound (other subnet) -> destination
 *                 NAT gw     -> nacl-inbound (other subnet) -> nat -> the gateway sends on
 *                 instance   -> nacl-inbound (other subnet) -> source-dest-check
 *                               -> sg-ingress -> [nat when natInstance] -> it sends on
 *                 igw        -> igw (1:1 NAT of the source) -> deliver (internet)
 *                 vgw        -> vpn -> deliver (remote network)
 *   destination:  sg-ingress -> deliver
 *
 * From the internet: igw (public -> private destination) -> nacl-inbound ->
 * sg-ingress -> deliver. From a VPN's remote network: vpn -> nacl-inbound ->
 * sg-ingress -> deliver. A public IP of this VPC as destination turns around
 * at the igw (source becomes the sender's public IP, destination the private
 * one). AWS-answered addresses (Amazon DNS, metadata, time sync) and
 * non-unicast ones end at once in a `deliver` deny: AWS serves them outside
 * SGs and NACLs [VPC-SEC] and vpcd does not emulate them. Stages that do not
 * apply are left out.
 *
 * The reply is the delivered packet turned around, walked the same way from
 * where the request ended. Security groups pass it as `{tracked: true}` on an
 * ENI that tracked the request, re-evaluate it (`untracked: true`) on an ENI
 * where the request was untracked ([EC2-CT]); NACLs always evaluate it afresh
 * (stateless); NAT bindings made by the request translate it back. It must
 * arrive at the requester as the exact reverse of the request, otherwise the
 * requester would not recognise it (asymmetric return path).
 */
import type { Instance, NatGateway, NetworkAcl, Subnet, VpcConfig, VpnConnection } from '../control/config-types.js';
import { cidrContainsIp, isIpv4, isRfc1918, isRfc6598 } from './addr.js';
import { classifyAddress, describeAddress, remoteNetworkOf, subnetContaining } from './classify.js';
import { naclDecision } from './nacl.js';
import { routeLookup, routeTableOf, type RouteMatch } from './route.js';
import { isTracked, sgDecision, type SgOptions, type TrackOptions } from './sg.js';
import {
  type By,
  type ExplanationCode,
  ExplainInputError,
  type Explanation,
  type Flow,
  type FlowJson,
  type NaclDirection,
  type PathStage,
  type Rewrite,
  type SgDirection,
  type StageName,
  type Verdict,
} from './types.js';

export { classifyAddress, describeAddress, subnetContaining, reservedRole, remoteNetworkOf, type AddressClass } from './classify.js';
export { naclDecision, naclRuleMatches, type NaclDecision } from './nacl.js';
export { routeLookup, routeTableOf, type RouteMatch } from './route.js';
export { groupMemberIps, isTracked, sgDecision, sgRuleMatches, type SgDecision, type SgOptions, type TrackOptions } from './sg.js';
export * from './types.js';

/** Source port assumed when a TCP/UDP flow gives none (start of the IANA ephemeral range, in Linux's and Windows' ranges). */
export const DEFAULT_SPORT = 49152;
/** [VPC-NGW] / REMAP_EPHEMERAL_PORT: a NAT gateway picks source ports in 1024-65535. */
export const NAT_GATEWAY_PORTS = { from: 1024, to: 65535 } as const;
/** More hops than this is a routing loop. */
const MAX_HOPS = 16;

export interface EvaluateOptions {
  /**
   * Name of the ENI (instance or NAT gateway) that emits the request. Default:
   * the owner of `flow.src`. Lets a caller send with a source the ENI does not
   * own (what the source/destination check is about).
   */
  readonly from?: string;
  /**
   * Source port a NAT gateway allocates for the flow (AWS remaps into
   * 1024-65535; the actual port is chosen at run time). Default: the flow's
   * source port when it is in that range, else 1024.
   */
  readonly natPort?: number;
}

// ---------------------------------------------------------------------------
// Inputs

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** ICMP queries that have a reply, request type -> reply type (RFC 792). Errors and replies have none. */
const ICMP_REPLY: Readonly<Record<number, number>> = { 8: 0, 13: 14, 15: 16, 17: 18 };

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
}

function isByte(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 255;
}

/**
 * Checks a flow and fills defaults: TCP/UDP need a destination port, the
 * source port defaults to DEFAULT_SPORT; ICMP defaults to echo request (8/0);
 * fields that do not apply to the protocol are dropped.
 */
export function normaliseFlow(flow: Flow): Flow {
  if (!isIpv4(flow.src)) throw new ExplainInputError(`source '${flow.src}' is not an IPv4 address`);
  if (!isIpv4(flow.dst)) throw new ExplainInputError(`destination '${flow.dst}' is not an IPv4 address`);
  if (!isByte(flow.proto)) throw new ExplainInputError(`protocol ${String(flow.proto)} is not a protocol number 0-255`);
  const base = { src: flow.src, dst: flow.dst, proto: flow.proto };
  if (flow.proto === 6 || flow.proto === 17) {
    if (flow.dport === undefined) throw new ExplainInputError(`${PROTO_NAMES[flow.proto]} needs a destination port`);
    const sport = flow.sport ?? DEFAULT_SPORT;
    if (!isPort(flow.dport) || !isPort(sport)) throw new ExplainInputError('ports are integers 0-65535');
    return { ...base, sport, dport: flow.dport };
  }
  if (flow.proto === 1) {
    const icmpType = flow.icmpType ?? 8;
    const icmpCode = flow.icmpCode ?? 0;
    if (!isByte(icmpType) || !isByte(icmpCode)) throw new ExplainInputError('ICMP type and code are integers 0-255');
    return { ...base, icmpType, icmpCode };
  }
  if (flow.proto === 58) throw new ExplainInputError('icmpv6 needs IPv6 addresses; only IPv4 flows are evaluated');
  return base;
}

/** The JSON form of a flow (protocol by name when it has one). */
export function flowJson(f: Flow): FlowJson {
  const out: { -readonly [K in keyof FlowJson]: FlowJson[K] } = { src: f.src, dst: f.dst, proto: PROTO_NAMES[f.proto] ?? f.proto };
  if (f.sport !== undefined) out.sport = f.sport;
  if (f.dport !== undefined) out.dport = f.dport;
  if (f.icmpType !== undefined) out.icmpType = f.icmpType;
  if (f.icmpCode !== undefined) out.icmpCode = f.icmpCode;
  return out;
}

/** The return traffic of a (delivered) packet, or undefined when the protocol has none (ICMP errors and replies). */
export function replyOf(p: Flow): Flow | undefined {
  if (p.proto === 6 || p.proto === 17) return { src: p.dst, dst: p.src, proto: p.proto, sport: p.dport as number, dport: p.sport as number };
  if (p.proto === 1) {
    const t = ICMP_REPLY[p.icmpType as number];
    return t === undefined ? undefined : { src: p.dst, dst: p.src, proto: 1, icmpType: t, icmpCode: 0 };
  }
  // Other protocols: AWS tracks (src, dst, proto) and admits the same kind of traffic back within 600 s ([EC2-CT]).
  return { src: p.dst, dst: p.src, proto: p.proto };
}

// ---------------------------------------------------------------------------
// Walk state

/** A network interface that sends and receives on the VPC fabric. */
interface InstanceEni {
  readonly kind: 'instance';
  readonly name: string;
  readonly ip: string;
  readonly subnet: Subnet;
  readonly instance: Instance;
}
interface NatGatewayEni {
  readonly kind: 'nat-gateway';
  readonly name: string;
  readonly ip: string;
  readonly subnet: Subnet;
  readonly natGateway: NatGateway;
}
type Eni = InstanceEni | NatGatewayEni;

/** Where a packet starts a leg: sent by an ENI, arriving from the internet, or arriving from a VPN. */
type Start =
  | { readonly at: 'eni'; readonly eni: Eni }
  | { readonly at: 'internet' }
  | { readonly at: 'vpn'; readonly connection: VpnConnection; readonly network: string };

interface Endpoint {
  readonly ip: string;
  readonly port?: number;
}

/** A translation made by a NAT gateway or a NAT instance on the request, for its reply. */
interface NatBinding {
  readonly on: string;
  readonly proto: number;
  readonly inside: Endpoint;
  readonly outside: Endpoint;
  readonly remote: Endpoint;
}

/** What the request leaves behind for its reply: conntrack entries per ENI and direction, NAT bindings. */
interface FlowMemory {
  /** `${eni}/${direction}` -> tracked? for every SG stage the request passed. */
  readonly tracked: Map<string, boolean>;
  readonly bindings: NatBinding[];
}

type Step =
  | { readonly kind: 'continue'; readonly start: Start; readonly pkt: Flow }
  | { readonly kind: 'end'; readonly verdict: Verdict; readonly delivered?: { readonly pkt: Flow; readonly replyFrom: Start } };

const DENIED: Step = { kind: 'end', verdict: 'deny' };

function instanceEni(cfg: VpcConfig, i: Instance): InstanceEni {
  return { kind: 'instance', name: i.name, ip: i.ip, subnet: subnetNamed(cfg, i.subnet), instance: i };
}

function natGatewayEni(cfg: VpcConfig, g: NatGateway): NatGatewayEni {
  return { kind: 'nat-gateway', name: g.name, ip: g.ip, subnet: subnetNamed(cfg, g.subnet), natGateway: g };
}

function subnetNamed(cfg: VpcConfig, name: string): Subnet {
  const s = cfg.subnets.get(name);
  if (s === undefined) throw new ExplainInputError(`configuration names subnet '${name}', which does not exist`);
  return s;
}

function naclOf(cfg: VpcConfig, subnet: Subnet): NetworkAcl {
  // A name that resolves to nothing can only come from an unvalidated config: treat it as a custom NACL with no rules.
  return cfg.networkAcls.get(subnet.networkAcl) ?? { name: subnet.networkAcl, inbound: [], outbound: [] };
}

function hasPorts(p: Flow): boolean {
  return p.proto === 6 || p.proto === 17;
}

function show(p: Flow): string {
  const proto = PROTO_NAMES[p.proto] ?? `proto ${p.proto}`;
  if (hasPorts(p)) return `${proto} ${p.src}:${p.sport} -> ${p.dst}:${p.dport}`;
  if (p.proto === 1) return `icmp ${p.src} -> ${p.dst} type ${p.icmpType} code ${p.icmpCode}`;
  return `${proto} ${p.src} -> ${p.dst}`;
}

// ---------------------------------------------------------------------------
// The walk

class Walk {
  readonly path: PathStage[] = [];

  constructor(
    private readonly cfg: VpcConfig,
    private readonly mode: 'request' | 'reply',
    private readonly memory: FlowMemory,
    private readonly opts: EvaluateOptions,
    /** Reply only: the packet the requester expects back. */
    private readonly expect?: Flow,
  ) {}

  run(start: Start, pkt: Flow): Step & { kind: 'end' } {
    let s = start;
    let p = pkt;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const step = s.at === 'eni' ? this.send(s.eni, p) : s.at === 'internet' ? this.fromInternet(p) : this.fromVpn(s.connection, s.network, p);
      if (step.kind === 'end') return step;
      s = step.start;
      p = step.pkt;
    }
    this.push('route', '-', 'deny', { code: 'NO_ROUTE_TO_DESTINATION', note: `routing loop: more than ${MAX_HOPS} hops` });
    return { kind: 'end', verdict: 'deny' };
  }

  // -- stage helpers ---------------------------------------------------------

  private push(
    stage: StageName,
    on: string,
    verdict: Verdict,
    extra: { by?: By; rewrite?: Rewrite; code?: ExplanationCode; conntrack?: 'tracked' | 'untracked'; note?: string } = {},
  ): void {
    const s: { -readonly [K in keyof PathStage]: PathStage[K] } = { stage, on, verdict };
    if (extra.by !== undefined) s.by = extra.by;
    if (extra.rewrite !== undefined) s.rewrite = extra.rewrite;
    if (extra.code !== undefined) s.code = extra.code;
    if (extra.conntrack !== undefined) s.conntrack = extra.conntrack;
    if (extra.note !== undefined) s.note = extra.note;
    this.path.push(s);
  }

  private deny(stage: StageName, on: string, code: ExplanationCode, note?: string, by?: By): Step {
    this.push(stage, on, 'deny', { code, ...(note !== undefined ? { note } : {}), ...(by !== undefined ? { by } : {}) });
    return DENIED;
  }

  /** [VPC-NACL] stateless, first match by rule number, `*` denies. Returns true when allowed. */
  private nacl(subnet: Subnet, direction: NaclDirection, p: Flow): boolean {
    const nacl = naclOf(this.cfg, subnet);
    const d = naclDecision(nacl, direction, p);
    const stage: StageName = direction === 'inbound' ? 'nacl-inbound' : 'nacl-outbound';
    const by: By = { nacl: nacl.name, rule: d.rule };
    if (d.allow) {
      this.push(stage, subnet.name, 'allow', { by });
      return true;
    }
    let note = d.rule === '*' ? `no rule of ${nacl.name} (${direction}) matches: the final * rule denies` : `rule ${d.rule} of ${nacl.name} (${direction}) denies`;
    if (this.mode === 'reply') {
      const port = hasPorts(p) ? ` to port ${p.dport}` : '';
      note += `; NACLs are stateless, so the reply${port} needs a rule of its own`;
    }
    this.push(stage, subnet.name, 'deny', { by, code: 'SUBNET_ACL_RESTRICTION', note });
    return false;
  }

  /** Security groups of `inst` in `dir`, as a new flow or as the reply of a tracked/untracked one. True when allowed. */
  private sg(inst: Instance, dir: SgDirection, p: Flow, sgOpts: SgOptions, trackOpts: TrackOptions): boolean {
    const stage: StageName = dir === 'ingress' ? 'sg-ingress' : 'sg-egress';
    if (this.mode === 'reply') {
      const rec = this.memory.tracked.get(`${inst.name}/${dir === 'ingress' ? 'egress' : 'ingress'}`);
      if (rec === true) {
        this.push(stage, inst.name, 'allow', { by: { tracked: true } });
        return true;
      }
      if (rec === false) {
        const d = sgDecision(this.cfg, inst, dir, p, sgOpts);
        if (d.allow) {
          this.push(stage, inst.name, 'allow', {
            by: { group: d.by.group, rule: d.by.rule, untracked: true },
            note: 'untracked flow ([EC2-CT]): the reply is admitted by a rule, not by connection tracking',
          });
          return true;
        }
        this.push(stage, inst.name, 'deny', { by: d.by, code: 'ENI_SG_RULES_MISMATCH', note: 'untracked flow and no rule admits its reply' });
        return false;
      }
    }
    const d = sgDecision(this.cfg, inst, dir, p, sgOpts);
    if (!d.allow) {
      let note = `no rule of ${inst.securityGroups.join(', ')} (${dir}) allows ${show(p)}`;
      if (p.proto === 1 && p.icmpType === 3) {
        note += '; AWS does not admit ICMP errors as related to a tracked flow: allow them explicitly (path MTU discovery needs type 3 code 4) [EC2-MTU]';
      }
      if (sgOpts.sgReferencesPreserved === false && sgDecision(this.cfg, inst, dir, p).allow) {
        note += '; a rule that references a security group would match, but not for traffic forwarded by a middlebox [VPC-SGR]';
      }
      this.push(stage, inst.name, 'deny', { by: d.by, code: 'ENI_SG_RULES_MISMATCH', note });
      return false;
    }
    const tracked = isTracked(this.cfg, inst, dir, p, trackOpts);
    if (this.mode === 'request') this.memory.tracked.set(`${inst.name}/${dir}`, tracked);
    this.push(stage, inst.name, 'allow', { by: d.by, conntrack: tracked ? 'tracked' : 'untracked' });
    return true;
  }

  /** [EC2-ENI] an ENI with the check on only sends from / receives for its own private IP. True when allowed. */
  private sourceDestCheck(inst: Instance, dir: 'send' | 'receive', p: Flow): boolean {
    if (!inst.sourceDestCheck) {
      const what = dir === 'send' ? `sends with source ${p.src}` : `receives for ${p.dst}`;
      this.push('source-dest-check', inst.name, 'allow', { by: { sourceDestCheck: false }, note: `source/dest check off: ${inst.name} ${what} (forwarding)` });
      return true;
    }
    const note =
      dir === 'send'
        ? `${inst.name} has source/dest check on and ${p.src} is not its address`
        : `${inst.name} has source/dest check on and ${p.dst} is not its address: a NAT instance or appliance needs sourceDestCheck: false [VPC-NATI]`;
    this.push('source-dest-check', inst.name, 'deny', { by: { sourceDestCheck: true }, code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION', note });
    return false;
  }

  /** Last stage of a path that reaches its destination; on a reply, also the check that it is the reverse of the request. */
  private deliver(on: string, p: Flow, replyFrom: Start): Step {
    const e = this.expect;
    if (e !== undefined && (p.src !== e.src || p.dst !== e.dst || p.sport !== e.sport || p.dport !== e.dport)) {
      return this.deny(
        'deliver',
        on,
        'NO_ROUTE_TO_DESTINATION',
        `the reply arrives as ${show(p)}, not as ${show(e)}: the return path differs from the request's, and the requester does not recognise it`,
      );
    }
    this.push('deliver', on, 'allow');
    return { kind: 'end', verdict: 'allow', delivered: { pkt: p, replyFrom } };
  }

  private findBinding(on: string, p: Flow): NatBinding | undefined {
    if (this.mode !== 'reply') return undefined;
    return this.memory.bindings.find(
      (b) =>
        b.on === on &&
        b.proto === p.proto &&
        b.outside.ip === p.dst &&
        b.remote.ip === p.src &&
        b.outside.port === p.dport &&
        b.remote.port === p.sport,
    );
  }

  private unNat(on: string, b: NatBinding, p: Flow, eni: Eni): Step {
    const rewrite: { -readonly [K in keyof Rewrite]: Rewrite[K] } = { dst: b.inside.ip };
    if (b.inside.port !== p.dport && b.inside.port !== undefined) rewrite.dport = b.inside.port;
    this.push('nat', on, 'allow', { rewrite, note: 'reply: translated back to the original source' });
    const pkt: Flow = { ...p, dst: b.inside.ip, ...(b.inside.port !== undefined ? { dport: b.inside.port } : {}) };
    return { kind: 'continue', start: { at: 'eni', eni }, pkt };
  }

  // -- legs ------------------------------------------------------------------

  /** A packet leaves `eni` onto the VPC fabric. */
  private send(eni: Eni, p: Flow): Step {
    const cfg = this.cfg;
    const dstClass = classifyAddress(cfg, p.dst);
    if (dstClass.kind === 'aws-service') {
      return this.deny(
        'deliver',
        p.dst,
        'NO_POSSIBLE_DESTINATION',
        `${dstClass.service}: AWS answers this address itself, outside security groups and NACLs [VPC-SEC]; vpcd does not emulate it`,
      );
    }
    if (dstClass.kind === 'special') return this.deny('deliver', p.dst, 'NO_POSSIBLE_DESTINATION', `${p.dst} is ${dstClass.what}`);

    if (eni.kind === 'instance' && p.src !== eni.ip && !this.sourceDestCheck(eni.instance, 'send', p)) return DENIED;

    const route = routeLookup(cfg, eni.subnet, p.dst);
    if (route !== null && route.targetKind === 'local' && dstClass.kind === 'reserved' && dstClass.role === 'router' &&
        p.proto === 1 && (p.icmpType ?? 8) === 8 && (p.icmpCode ?? 0) === 0) {
      // The VPC router's own address is not filtered by security groups or NACLs [VPC-SEC]: as the packet path, no SG stage.
      this.push('route', eni.subnet.name, 'allow', { by: { table: route.table, destination: route.destination, target: route.target } });
      return this.arrive(p, eni);
    }
    if (eni.kind === 'instance') {
      // SG references hold only when the packet goes straight to its destination ([VPC-SGR] middlebox note).
      const sgOpts: SgOptions = { sgReferencesPreserved: route === null || route.targetKind === 'local' };
      const trackOpts: TrackOptions = { natGateway: route?.targetKind === 'nat-gateway' };
      if (!this.sg(eni.instance, 'egress', p, sgOpts, trackOpts)) return DENIED;
    }

    const next = route === null ? subnetContaining(cfg, p.dst) : this.nextHopSubnet(route, p.dst);
    const leaves = next?.name !== eni.subnet.name;
    // [VPC-NACL] NACLs apply where traffic leaves or enters a subnet, not within it.
    if (leaves && !this.nacl(eni.subnet, 'outbound', p)) return DENIED;

    if (route === null) {
      const table = routeTableOf(cfg, eni.subnet);
      return this.deny('route', eni.subnet.name, 'NO_ROUTE_TO_DESTINATION', `no route in ${table} matches ${p.dst}`, { table });
    }
    const by: By = { table: route.table, destination: route.destination, target: route.target };
    const problem = this.targetProblem(route, eni);
    if (problem !== undefined) return this.deny('route', eni.subnet.name, problem.code, problem.note, by);
    this.push('route', eni.subnet.name, 'allow', { by });

    switch (route.targetKind) {
      case 'local': {
        if (leaves && next !== undefined && !this.nacl(next, 'inbound', p)) return DENIED;
        return this.arrive(p, eni);
      }
      case 'nat-gateway': {
        const gw = cfg.natGateways.get(route.target) as NatGateway;
        const gwEni = natGatewayEni(cfg, gw);
        if (leaves && !this.nacl(gwEni.subnet, 'inbound', p)) return DENIED;
        return this.natGatewayForward(gwEni, p);
      }
      case 'instance': {
        const m = instanceEni(cfg, cfg.instances.get(route.target) as Instance);
        if (leaves && !this.nacl(m.subnet, 'inbound', p)) return DENIED;
        return this.atInstance(m, p, eni);
      }
      case 'igw':
        return this.igwEgress(p);
      case 'vgw':
        return this.vpnEgress(p);
      case 'blackhole':
        return DENIED; // targetProblem denied it above
    }
  }

  /** The subnet the route's next hop sits in; undefined when it leaves the VPC (or the address is in no subnet). */
  private nextHopSubnet(route: RouteMatch, dst: string): Subnet | undefined {
    const cfg = this.cfg;
    switch (route.targetKind) {
      case 'local':
        return subnetContaining(cfg, dst);
      case 'nat-gateway': {
        const gw = cfg.natGateways.get(route.target);
        return gw && cfg.subnets.get(gw.subnet);
      }
      case 'instance': {
        const i = cfg.instances.get(route.target);
        return i && cfg.subnets.get(i.subnet);
      }
      default:
        return undefined;
    }
  }

  /** A route whose target does not exist is a blackhole (BAD_STATE_ROUTE); one that points back at the sender loops. */
  private targetProblem(route: RouteMatch, sender: Eni): { code: ExplanationCode; note: string } | undefined {
    const cfg = this.cfg;
    const missing = (what: string) => ({ code: 'BAD_STATE_ROUTE' as const, note: `blackhole route: ${what}` });
    switch (route.targetKind) {
      case 'nat-gateway':
        if (!cfg.natGateways.has(route.target)) return missing(`no NAT gateway named ${route.target}`);
        break;
      case 'instance':
        if (!cfg.instances.has(route.target)) return missing(`no instance named ${route.target}`);
        break;
      case 'igw':
        if (cfg.internetGateway === undefined) return missing('no internet gateway is configured');
        break;
      case 'blackhole':
        return missing('target blackhole drops what it matches');
      default:
        break;
    }
    if (route.target === sender.name && route.targetKind !== 'local') {
      return { code: 'NO_ROUTE_TO_DESTINATION', note: `the route sends the packet back to ${sender.name}, which sent it (loop)` };
    }
    return undefined;
  }

  /** The packet reached the subnet of its destination address (NACL inbound already passed). */
  private arrive(p: Flow, prev: Eni | undefined): Step {
    const c = classifyAddress(this.cfg, p.dst);
    if (c.kind === 'instance') return this.atInstance(instanceEni(this.cfg, c.instance), p, prev);
    if (c.kind === 'nat-gateway') {
      const gw = natGatewayEni(this.cfg, c.natGateway);
      const b = this.findBinding(gw.name, p);
      if (b !== undefined) return this.unNat(gw.name, b, p, gw);
      return this.deny(
        'nat',
        gw.name,
        'NO_POSSIBLE_DESTINATION',
        `no translation for this packet: a NAT gateway forwards traffic routed to it and the replies, accepts no connection of its own and drops unsolicited inbound traffic [VPC-NGW]`,
      );
    }
    if (c.kind === 'reserved' && c.role === 'router' && p.proto === 1 && (p.icmpType ?? 8) === 8 && (p.icmpCode ?? 0) === 0) {
      // vpcd's choice (docs/semantics.md): the subnet router answers ICMP echo, outside security groups and NACLs
      // like the other VPC-provided addresses [VPC-SEC]; its echo reply is not walked as a flow.
      this.push('deliver', `router ${p.dst}`, 'allow', { note: 'the VPC router answers ICMP echo itself (not filtered by security groups or NACLs)' });
      return { kind: 'end', verdict: 'allow' };
    }
    return this.deny('deliver', p.dst, 'NO_POSSIBLE_DESTINATION', `${describeAddress(this.cfg, p.dst)}: no network interface takes this address`);
  }

  /** The packet reached an instance's ENI: as its destination, or as the route target (NAT instance / appliance). */
  private atInstance(eni: InstanceEni, p: Flow, prev: Eni | undefined): Step {
    const inst = eni.instance;
    const forwarded = p.dst !== inst.ip;
    if (forwarded && !this.sourceDestCheck(inst, 'receive', p)) return DENIED;
    const sgOpts: SgOptions = { sgReferencesPreserved: prev !== undefined && prev.ip === p.src };
    if (!this.sg(inst, 'ingress', p, sgOpts, { natGateway: prev?.kind === 'nat-gateway' })) return DENIED;

    const b = this.findBinding(inst.name, p);
    if (b !== undefined) return this.unNat(inst.name, b, p, eni);
    if (!forwarded) return this.deliver(inst.name, p, { at: 'eni', eni });
    if (inst.natInstance) {
      // The NAT instance masquerades what it forwards (config: natInstance) [VPC-NATI].
      this.push('nat', inst.name, 'allow', { rewrite: { src: inst.ip }, note: `NAT instance: source becomes ${inst.name}'s private IP` });
      const out: Flow = { ...p, src: inst.ip };
      if (this.mode === 'request') {
        this.memory.bindings.push({
          on: inst.name,
          proto: p.proto,
          inside: { ip: p.src, ...(p.sport !== undefined ? { port: p.sport } : {}) },
          outside: { ip: inst.ip, ...(p.sport !== undefined ? { port: p.sport } : {}) },
          remote: { ip: p.dst, ...(p.dport !== undefined ? { port: p.dport } : {}) },
        });
      }
      return { kind: 'continue', start: { at: 'eni', eni }, pkt: out };
    }
    return { kind: 'continue', start: { at: 'eni', eni }, pkt: p };
  }

  /** A route sent the packet to a NAT gateway: translate the source [VPC-NGW]. */
  private natGatewayForward(eni: NatGatewayEni, p: Flow): Step {
    const gw = eni.natGateway;
    if (p.proto !== 6 && p.proto !== 17 && p.proto !== 1) {
      return this.deny('nat', gw.name, 'PROTOCOL_RESTRICTION', 'a NAT gateway carries TCP, UDP and ICMP only [VPC-NGW]');
    }
    if (!cidrContainsIp(this.cfg.vpc.cidr, p.src)) {
      return this.deny('nat', gw.name, 'NGW_REQUIRES_SOURCE_IN_VPC', `${p.src} is outside the VPC: a NAT gateway only serves sources in its VPC`);
    }
    const rewrite: { -readonly [K in keyof Rewrite]: Rewrite[K] } = { src: gw.ip };
    let sport = p.sport;
    if (hasPorts(p)) {
      const s = p.sport as number;
      sport = this.opts.natPort ?? (s >= NAT_GATEWAY_PORTS.from ? s : NAT_GATEWAY_PORTS.from);
      if (sport !== p.sport) rewrite.sport = sport;
    }
    const note =
      gw.type === 'public' && gw.publicIp !== undefined
        ? `source becomes ${gw.name}'s private IP; the internet gateway maps it to ${gw.publicIp}`
        : `private NAT gateway: source becomes its private IP`;
    this.push('nat', gw.name, 'allow', { rewrite, note });
    const out: Flow = { ...p, src: gw.ip, ...(sport !== undefined ? { sport } : {}) };
    if (this.mode === 'request') {
      this.memory.bindings.push({
        on: gw.name,
        proto: p.proto,
        inside: { ip: p.src, ...(p.sport !== undefined ? { port: p.sport } : {}) },
        outside: { ip: gw.ip, ...(sport !== undefined ? { port: sport } : {}) },
        remote: { ip: p.dst, ...(p.dport !== undefined ? { port: p.dport } : {}) },
      });
    }
    return { kind: 'continue', start: { at: 'eni', eni }, pkt: out };
  }

  /** A route sent the packet to the internet gateway: 1:1 NAT of the source [VPC-IGW]. */
  private igwEgress(p: Flow): Step {
    const cfg = this.cfg;
    const igw = (cfg.internetGateway as { name: string }).name;
    const src = classifyAddress(cfg, p.src);
    let publicIp: string | undefined;
    let why: string;
    if (src.kind === 'instance') {
      publicIp = src.instance.publicIp;
      why = `${src.instance.name} has no public IP`;
    } else if (src.kind === 'nat-gateway') {
      publicIp = src.natGateway.type === 'public' ? src.natGateway.publicIp : undefined;
      why = `${src.natGateway.name} is a private NAT gateway: it has no Elastic IP and the internet gateway drops its traffic [VPC-NGW]`;
    } else {
      why = `${describeAddress(cfg, p.src)} is not the private IP of a network interface in this VPC`;
    }
    if (publicIp === undefined) return this.deny('igw', igw, 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS', why);
    if (isRfc1918(p.dst)) return this.deny('igw', igw, 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS', `${p.dst} is RFC 1918 private space`);
    if (isRfc6598(p.dst)) return this.deny('igw', igw, 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC6598_EGRESS', `${p.dst} is RFC 6598 shared space`);

    const dst = classifyAddress(cfg, p.dst);
    if (dst.kind === 'instance-public' || dst.kind === 'nat-gateway-public') {
      // Hairpin: a public IP of this VPC; the packet turns around at the internet gateway.
      const priv = dst.kind === 'instance-public' ? dst.instance.ip : dst.natGateway.ip;
      this.push('igw', igw, 'allow', {
        rewrite: { src: publicIp, dst: priv },
        note: `${p.dst} is a public IP of this VPC: the packet turns around at the internet gateway, carrying the sender's public IP`,
      });
      const back: Flow = { ...p, src: publicIp, dst: priv };
      const sub = subnetContaining(cfg, priv);
      if (sub !== undefined && !this.nacl(sub, 'inbound', back)) return DENIED;
      return this.arrive(back, undefined);
    }
    this.push('igw', igw, 'allow', { rewrite: { src: publicIp } });
    return this.deliver('internet', { ...p, src: publicIp }, { at: 'internet' });
  }

  /** A packet from the internet reaches the internet gateway: 1:1 NAT of the destination [VPC-IGW]. */
  private fromInternet(p: Flow): Step {
    const cfg = this.cfg;
    if (cfg.internetGateway === undefined) {
      return this.deny('igw', 'igw', 'NO_PATH', 'no internet gateway is configured: nothing in this VPC is reachable from the internet');
    }
    const igw = cfg.internetGateway.name;
    if (isRfc1918(p.src)) return this.deny('igw', igw, 'IGW_SOURCE_ADDRESS_NOT_IN_RFC1918_INGRESS', `source ${p.src} is RFC 1918 private space`);
    if (isRfc6598(p.src)) return this.deny('igw', igw, 'IGW_SOURCE_ADDRESS_NOT_IN_RFC6598_INGRESS', `source ${p.src} is RFC 6598 shared space`);
    const dst = classifyAddress(cfg, p.dst);
    let priv: string;
    if (dst.kind === 'instance-public') priv = dst.instance.ip;
    else if (dst.kind === 'nat-gateway-public') priv = dst.natGateway.ip;
    else {
      return this.deny(
        'igw',
        igw,
        'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS',
        `${describeAddress(cfg, p.dst)} is not the public IP of a network interface in this VPC`,
      );
    }
    this.push('igw', igw, 'allow', { rewrite: { dst: priv } });
    const inside: Flow = { ...p, dst: priv };
    const sub = subnetContaining(cfg, priv);
    if (sub !== undefined && !this.nacl(sub, 'inbound', inside)) return DENIED;
    return this.arrive(inside, undefined);
  }

  /** A route sent the packet to the VPN gateway ([S2S-RT]: it forwards only to the remote networks it knows). */
  private vpnEgress(p: Flow): Step {
    const cfg = this.cfg;
    const gwName = cfg.vpnGateway?.name ?? cfg.customerGateway?.name ?? 'vgw';
    if (cfg.vpnConnections.size === 0) return this.deny('vpn', gwName, 'BAD_STATE_VPN', 'no VPN connection is configured');
    const src = classifyAddress(cfg, p.src);
    if (src.kind !== 'instance' && src.kind !== 'nat-gateway') {
      return this.deny(
        'vpn',
        gwName,
        'VGW_PRIVATE_IP_ASSOCIATION_FOR_EGRESS',
        `${describeAddress(cfg, p.src)} is not the private IP of a network interface in this VPC`,
      );
    }
    let remote = remoteNetworkOf(cfg, p.dst);
    if (remote === undefined) {
      const all = [...cfg.vpnConnections.values()].find((c) => !c.splitTunnel);
      if (all !== undefined) remote = { connection: all, network: '0.0.0.0/0' };
    }
    if (remote === undefined) {
      const nets = [...cfg.vpnConnections.values()].flatMap((c) => c.remoteNetworks).join(', ');
      return this.deny('vpn', gwName, 'NO_ROUTE_TO_DESTINATION', `no VPN connection carries ${p.dst} (remote networks: ${nets})`);
    }
    this.push('vpn', remote.connection.name, 'allow', { by: { connection: remote.connection.name, network: remote.network } });
    return this.deliver(remote.connection.name, p, { at: 'vpn', connection: remote.connection, network: remote.network });
  }

  /** A packet from a VPN's remote network enters the VPC; then the destination subnet's NACL and ENI's SG apply [VPC-NACL]. */
  private fromVpn(connection: VpnConnection, network: string, p: Flow): Step {
    const cfg = this.cfg;
    const by: By = { connection: connection.name, network };
    const dst = classifyAddress(cfg, p.dst);
    if (dst.kind !== 'instance' && dst.kind !== 'nat-gateway') {
      return this.deny(
        'vpn',
        connection.name,
        'VGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS',
        `${describeAddress(cfg, p.dst)} is not the private IP of a network interface in this VPC`,
        by,
      );
    }
    this.push('vpn', connection.name, 'allow', { by });
    const sub = subnetContaining(cfg, p.dst);
    if (sub !== undefined && !this.nacl(sub, 'inbound', p)) return DENIED;
    return this.arrive(p, undefined);
  }
}

// ---------------------------------------------------------------------------
// Entry point

/** Where the request starts: the ENI that owns the source, the internet, or a VPN's remote network. */
function resolveStart(cfg: VpcConfig, p: Flow, from: string | undefined): Start {
  if (from !== undefined) {
    const inst = cfg.instances.get(from);
    if (inst !== undefined) return { at: 'eni', eni: instanceEni(cfg, inst) };
    const gw = cfg.natGateways.get(from);
    if (gw !== undefined) return { at: 'eni', eni: natGatewayEni(cfg, gw) };
    throw new ExplainInputError(`no instance or NAT gateway named '${from}'`);
  }
  const c = classifyAddress(cfg, p.src);
  switch (c.kind) {
    case 'instance':
      return { at: 'eni', eni: instanceEni(cfg, c.instance) };
    case 'nat-gateway':
      return { at: 'eni', eni: natGatewayEni(cfg, c.natGateway) };
    case 'internet':
      return { at: 'internet' };
    case 'remote-network':
      return { at: 'vpn', connection: c.connection, network: c.network };
    case 'instance-public':
      throw new ExplainInputError(
        `${p.src} is the public IP of ${c.instance.name}; inside the VPC it sends from its private IP ${c.instance.ip}`,
      );
    case 'nat-gateway-public':
      throw new ExplainInputError(
        `${p.src} is the Elastic IP of ${c.natGateway.name}; inside the VPC it sends from its private IP ${c.natGateway.ip}`,
      );
    default:
      throw new ExplainInputError(
        `no network interface owns the source ${describeAddress(cfg, p.src)}: traffic inside the VPC comes from an instance or a NAT gateway`,
      );
  }
}

/**
 * Evaluates one flow and its reply against the configuration, without packets
 * (like AWS Reachability Analyzer [RA-HOW]). Throws ExplainInputError for a
 * flow that cannot exist (bad address, source no ENI owns, …).
 */
export function evaluateFlow(cfg: VpcConfig, flow: Flow, opts: EvaluateOptions = {}): Explanation {
  const pkt = normaliseFlow(flow);
  const start = resolveStart(cfg, pkt, opts.from);
  if (start.at === 'eni' && pkt.dst === start.eni.ip) {
    throw new ExplainInputError(`${start.eni.name} is both source and destination: traffic to its own address never leaves it`);
  }
  const memory: FlowMemory = { tracked: new Map(), bindings: [] };
  const request = new Walk(cfg, 'request', memory, opts);
  const r = request.run(start, pkt);
  const out: Explanation = { flow: flowJson(pkt), verdict: r.verdict, path: request.path };
  if (r.verdict !== 'allow' || r.delivered === undefined) return out;
  const back = replyOf(r.delivered.pkt);
  const expect = replyOf(pkt);
  if (back === undefined || expect === undefined) return out;
  const reply = new Walk(cfg, 'reply', memory, opts, expect);
  const rr = reply.run(r.delivered.replyFrom, back);
  return { ...out, reply: { flow: flowJson(back), verdict: rr.verdict, path: reply.path } };
}
