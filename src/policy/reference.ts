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
 * one). Stages that do not apply are left out. The filtering stages (NACL,
 * SG, source/dest check) are in stages.ts; what a NAT gateway refuses in
 * nat-gateway.ts; the steps at the internet and VPN gateways in gateway-steps.ts.
 *
 * AWS-answered addresses (Amazon DNS, instance metadata, time sync, ECS task
 * metadata) end at once in a `vpc-service` stage naming the service: AWS
 * serves them inside the VPC, outside SGs and NACLs [VPC-SEC]; allowed for
 * the ENI's own address when vpcd serves the service, denied otherwise; only
 * the sender's source/dest check can come before (an appliance forwarding a
 * foreign source). Non-unicast addresses end in a `deliver` deny.
 *
 * A NAT gateway's source port is its run-time pick in 1024-65535 unless
 * EvaluateOptions.natPort pins it: NACL and SG stages that match on it (the
 * reply's destination port on its way back to the gateway) judge the whole
 * range (port-range.ts) and deny, `partial`, when any part of it is denied.
 *
 * The reply is the delivered packet turned around, walked the same way from
 * where the request ended. Security groups pass it as `{tracked: true}` on an
 * ENI that tracked the request, re-evaluate it (`untracked: true`) on an ENI
 * where the request was untracked ([EC2-CT]); NACLs always evaluate it afresh
 * (stateless); NAT bindings made by the request translate it back. It must
 * arrive at the requester as the exact reverse of the request, otherwise the
 * requester would not recognise it (asymmetric return path).
 *
 * Each direction also records its legs (legs.ts): which place sent the
 * packet, as what, which place took it, and where the direction ended.
 */
import type { Instance, NatGateway, Subnet, VpcConfig } from '../control/config-types.js';
import { vpcSettingsOf } from '../control/config-defaults.js';
import { classifyAddress, describeAddress, subnetContaining, type VpcService } from './classify.js';
import { checkNatPort, flowJson, hasPorts, NAT_GATEWAY_PORTS, normaliseFlow, plain, type Pkt, replyOf, show, turnAround } from './flow.js';
import { DENIED, fromInternet, fromVpn, igwEgress, type Step, vpnEgress, type WalkSteps } from './gateway-steps.js';
import { LegRecorder } from './legs.js';
import { natGatewayRefusal } from './nat-gateway.js';
import { type Eni, type FlowMemory, type InstanceEni, instanceEni, type NatBinding, type NatGatewayEni, natGatewayEni, placeOf, resolveStart, type Start } from './places.js';
import { routeLookup, routeTableOf, type RouteMatch } from './route.js';
import type { SgOptions, TrackOptions } from './sg.js';
import { Stages } from './stages.js';
import {
  type By,
  type ExplanationCode,
  ExplainInputError,
  type Explanation,
  type Flow,
  type PathStage,
  type Rewrite,
  type StageName,
} from './types.js';

export { classifyAddress, describeAddress, subnetContaining, reservedRole, remoteNetworkOf, type AddressClass, type VpcService } from './classify.js';
export { DEFAULT_SPORT, flowJson, NAT_GATEWAY_PORTS, normaliseFlow, replyOf } from './flow.js';
export { ICMP_ERROR_TYPES, NAT_GATEWAY_ICMP_QUERIES } from './nat-gateway.js';
export { naclDecision, naclRuleMatches, type NaclDecision } from './nacl.js';
export { routeLookup, routeTableOf, type RouteMatch } from './route.js';
export { groupMemberIps, isTracked, sgDecision, sgRuleMatches, type SgDecision, type SgOptions, type TrackOptions } from './sg.js';
export * from './types.js';

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
   * Pins the source port a NAT gateway allocates for the flow (1024-65535).
   * Without it the gateway's pick is unknown: stages that match on it judge
   * every port it may pick (REMAP_EPHEMERAL_PORT).
   */
  readonly natPort?: number;
}

// ---------------------------------------------------------------------------
// Walk state (the places a walk visits: places.ts; its steps at the gateways: gateway-steps.ts)

// ---------------------------------------------------------------------------
// The walk

class Walk implements WalkSteps {
  readonly stages: Stages;
  readonly legs: LegRecorder;
  /** Reply only: the NAT gateway that translated this reply as a new flow (asymmetric return path). */
  private replyNattedBy: string | undefined;

  constructor(
    readonly cfg: VpcConfig,
    private readonly mode: 'request' | 'reply',
    private readonly memory: FlowMemory,
    private readonly opts: EvaluateOptions,
    /** Reply only: the packet the requester expects back. */
    private readonly expect?: Flow,
  ) {
    this.stages = new Stages(cfg, mode, memory.tracked);
    this.legs = new LegRecorder(this.stages.path);
  }

  get path(): readonly PathStage[] {
    return this.stages.path;
  }

  deny(stage: StageName, on: string, code: ExplanationCode, note?: string, by?: By): Step {
    this.stages.push(stage, on, 'deny', { code, ...(note !== undefined ? { note } : {}), ...(by !== undefined ? { by } : {}) });
    return DENIED;
  }


  run(start: Start, pkt: Pkt): Step & { kind: 'end' } {
    let s = start;
    let p = pkt;
    this.legs.start(placeOf(s), p);
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const step = s.at === 'eni' ? this.send(s.eni, p) : s.at === 'internet' ? fromInternet(this, p) : fromVpn(this, s.connection, s.network, p);
      if (step.kind === 'end') return step;
      s = step.start;
      p = step.pkt;
      this.legs.sends(p);
    }
    this.stages.push('route', '-', 'deny', { code: 'NO_ROUTE_TO_DESTINATION', note: `routing loop: more than ${MAX_HOPS} hops` });
    return { kind: 'end', verdict: 'deny' };
  }

  /**
   * Last stage of a path that reaches its destination; on a reply, also the
   * check that it is the reverse of the request. A reply that came back
   * another way (asymmetric return path) reaches a place, but not as the
   * requester expects: NGW_SOURCE_ADDRESS_REASSIGN when a NAT gateway
   * translated it on the way, else NO_POSSIBLE_DESTINATION (no socket takes it).
   */
  deliver(on: string, p: Pkt, replyFrom: Start): Step {
    const e = this.expect;
    if (e !== undefined && (p.natPort !== undefined || p.src !== e.src || p.dst !== e.dst || p.sport !== e.sport || p.dport !== e.dport)) {
      const nat = this.replyNattedBy;
      const how = nat !== undefined ? `; ${nat} translated it as a new flow on the way` : '';
      this.stages.push('deliver', on, 'deny', {
        code: nat !== undefined ? 'NGW_SOURCE_ADDRESS_REASSIGN' : 'NO_POSSIBLE_DESTINATION',
        note: `the reply arrives as ${show(p)}, not as ${show(e)}: it comes back by another way than the request went (asymmetric return path${how}), and the requester does not recognise it`,
      });
      this.legs.ends(on);
      return DENIED;
    }
    this.stages.push('deliver', on, 'allow');
    this.legs.ends(on);
    return { kind: 'end', verdict: 'allow', delivered: { pkt: p, replyFrom } };
  }

  private findBinding(on: string, p: Pkt): NatBinding | undefined {
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

  /** The reply meets the translation its request made on `on` (which took it: a new leg starts there). */
  private unNat(on: string, b: NatBinding, p: Pkt, eni: Eni): Step {
    const rewrite: { -readonly [K in keyof Rewrite]: Rewrite[K] } = { dst: b.inside.ip };
    if (b.inside.port !== undefined && (b.inside.port !== p.dport || p.natPort === 'dport')) rewrite.dport = b.inside.port;
    this.stages.push('nat', on, 'allow', { rewrite, note: 'reply: translated back to the original source' });
    const pkt: Pkt = { ...plain(p), dst: b.inside.ip, ...(b.inside.port !== undefined ? { dport: b.inside.port } : {}) };
    return { kind: 'continue', start: { at: 'eni', eni }, pkt };
  }

  // -- legs ------------------------------------------------------------------

  /** A packet leaves `eni` onto the VPC fabric. */
  private send(eni: Eni, p: Pkt): Step {
    const cfg = this.cfg;
    const dstClass = classifyAddress(cfg, p.dst);
    // [EC2-ENI] first: an ENI with the check on sends nothing whose source is not its own.
    const forwarded = eni.kind === 'instance' && p.src !== eni.ip;
    if (forwarded && !this.stages.sourceDestCheck(eni.instance, 'send', p)) return DENIED;
    if (dstClass.kind === 'aws-service') return this.vpcService(eni, dstClass.service, p, forwarded);
    if (dstClass.kind === 'special') return this.deny('deliver', p.dst, 'NO_POSSIBLE_DESTINATION', `${p.dst} is ${dstClass.what}`);

    const route = routeLookup(cfg, eni.subnet, p.dst);
    if (route !== null && route.targetKind === 'local' && dstClass.kind === 'reserved' && dstClass.role === 'router' && isRouterEcho(p)) {
      // The VPC router's own address is not filtered by security groups or NACLs [VPC-SEC]: as the packet path, no SG stage.
      this.stages.push('route', eni.subnet.name, 'allow', { by: { table: route.table, destination: route.destination, target: route.target } });
      return this.arrive(p, eni);
    }
    if (eni.kind === 'instance') {
      // SG references hold only when the packet goes straight to its destination ([VPC-SGR] middlebox note).
      // A route whose target is the destination instance itself also goes straight to it.
      const straight = route === null || route.targetKind === 'local' ||
        (route.targetKind === 'instance' && cfg.instances.get(route.target)?.ip === p.dst);
      const sgOpts: SgOptions = { sgReferencesPreserved: straight };
      const trackOpts: TrackOptions = { natGateway: route?.targetKind === 'nat-gateway' };
      if (!this.stages.sg(eni.instance, 'egress', p, sgOpts, trackOpts)) return DENIED;
    }

    const next = route === null ? subnetContaining(cfg, p.dst) : this.nextHopSubnet(route, p.dst);
    const leaves = next?.name !== eni.subnet.name;
    // [VPC-NACL] NACLs apply where traffic leaves or enters a subnet, not within it.
    if (leaves && !this.stages.nacl(eni.subnet, 'outbound', p)) return DENIED;

    if (route === null) {
      const table = routeTableOf(cfg, eni.subnet);
      return this.deny('route', eni.subnet.name, 'NO_ROUTE_TO_DESTINATION', `no route in ${table} matches ${p.dst}`, { table });
    }
    const by: By = { table: route.table, destination: route.destination, target: route.target };
    const problem = this.targetProblem(route, eni);
    if (problem !== undefined) return this.deny('route', eni.subnet.name, problem.code, problem.note, by);
    this.stages.push('route', eni.subnet.name, 'allow', { by });

    switch (route.targetKind) {
      case 'local': {
        if (leaves && next !== undefined && !this.stages.nacl(next, 'inbound', p)) return DENIED;
        return this.arrive(p, eni);
      }
      case 'nat-gateway': {
        const gw = cfg.natGateways.get(route.target) as NatGateway;
        const gwEni = natGatewayEni(cfg, gw);
        if (leaves && !this.stages.nacl(gwEni.subnet, 'inbound', p)) return DENIED;
        return this.natGatewayForward(gwEni, p);
      }
      case 'instance': {
        const m = instanceEni(cfg, cfg.instances.get(route.target) as Instance);
        if (leaves && !this.stages.nacl(m.subnet, 'inbound', p)) return DENIED;
        return this.atInstance(m, p, eni);
      }
      case 'igw':
        return igwEgress(this, p);
      case 'vgw':
        return vpnEgress(this, p);
      case 'blackhole':
        return DENIED; // targetProblem denied it above
    }
  }

  /**
   * A service AWS answers itself at a fixed address, for the sending ENI,
   * inside the VPC: no security group, NACL or flow log sees it, it is never
   * routed [VPC-SEC]. vpcd serves instance metadata, Time Sync and (with
   * enableDnsSupport) Amazon DNS in its service namespace; the ECS task
   * metadata endpoint is not served. Only the ENI's own address is answered:
   * a packet an appliance forwards from elsewhere gets no answer
   * [EC2-IMDS-LIMIT].
   */
  private vpcService(eni: Eni, service: VpcService, p: Pkt, forwarded: boolean): Step {
    const where = `${service.name} at ${p.dst}`;
    if (forwarded || eni.kind !== 'instance') {
      return this.deny('vpc-service', service.id, 'NO_POSSIBLE_DESTINATION',
        `${where}: AWS answers it only for the ENI's own address; ${p.src} is not ${eni.name}'s, so a packet an appliance forwards from outside gets no answer (AWS advises appliances to drop 169.254.169.254) [EC2-IMDS-LIMIT]`);
    }
    if (service.id === 'ecs-task-metadata') {
      return this.deny('vpc-service', service.id, 'UNSUPPORTED_COMPONENT', `${where}: an ECS endpoint, not emulated by vpcd`);
    }
    if (service.id === 'amazon-dns' && !vpcSettingsOf(this.cfg.vpc).enableDnsSupport) {
      return this.deny('vpc-service', service.id, 'NO_POSSIBLE_DESTINATION', `${where}: vpc.enableDnsSupport is false, so the VPC has no Amazon DNS server`);
    }
    this.stages.push('vpc-service', service.id, 'allow', {
      note: `${where}: answered for ${eni.name} inside the VPC, outside security groups and NACLs and outside flow logs [VPC-SEC], [VPC-FL]; at most 1,024 packets a second per ENI [VPC-Q]`,
    });
    this.legs.ends(service.id);
    return { kind: 'end', verdict: 'allow' };
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

  /**
   * A blackhole route, or one whose target does not exist, drops what it
   * matches (BAD_STATE_ROUTE): it still wins the longest-prefix match, so a
   * less specific route is not tried. One that points back at the sender loops.
   */
  private targetProblem(route: RouteMatch, sender: Eni): { code: ExplanationCode; note: string } | undefined {
    const cfg = this.cfg;
    const missing = (what: string) => ({ code: 'BAD_STATE_ROUTE' as const, note: `blackhole route: ${what}` });
    switch (route.targetKind) {
      case 'blackhole':
        return missing(`${route.destination} is a blackhole route; the VPC router drops what it matches and does not fall back to a less specific route`);
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
    if (sender.kind === 'nat-gateway' && route.targetKind === 'nat-gateway') {
      return { code: 'NO_ROUTE_TO_DESTINATION', note: `${sender.name}'s subnet routes the translated packet into NAT gateway ${route.target}: vpcd does not translate a packet twice, it drops it` };
    }
    return undefined;
  }

  /** The packet reached the subnet of its destination address (NACL inbound already passed). */
  arrive(p: Pkt, prev: Eni | undefined): Step {
    const c = classifyAddress(this.cfg, p.dst);
    if (c.kind === 'instance') return this.atInstance(instanceEni(this.cfg, c.instance), p, prev);
    if (c.kind === 'nat-gateway') {
      const gw = natGatewayEni(this.cfg, c.natGateway);
      this.legs.reaches(gw.name);
      const b = this.findBinding(gw.name, p);
      if (b !== undefined) return this.unNat(gw.name, b, p, gw);
      this.stages.push('nat', gw.name, 'deny', {
        code: 'NO_POSSIBLE_DESTINATION',
        note: `no translation for this packet: a NAT gateway forwards traffic routed to it and the replies, accepts no connection of its own and drops unsolicited inbound traffic [VPC-NGW]; it never changes a destination (NGW_DEST_ADDRESS_PRESERVATION), so nothing behind it is reachable this way`,
        info: ['NGW_DEST_ADDRESS_PRESERVATION'],
      });
      return DENIED;
    }
    if (c.kind === 'reserved' && c.role === 'router' && isRouterEcho(p)) {
      // vpcd's choice (docs/semantics.md): the subnet router answers ICMP echo, outside security groups and NACLs
      // like the other VPC-provided addresses [VPC-SEC]; its echo reply is not walked as a flow.
      const on = `router ${p.dst}`;
      this.stages.push('deliver', on, 'allow', { note: 'the VPC router answers ICMP echo itself (not filtered by security groups or NACLs)' });
      this.legs.ends(on);
      return { kind: 'end', verdict: 'allow' };
    }
    return this.deny('deliver', p.dst, 'NO_POSSIBLE_DESTINATION', `${describeAddress(this.cfg, p.dst)}: no network interface takes this address`);
  }

  /**
   * The packet reached an instance's ENI: as its destination, or as the route
   * target (NAT instance / appliance). An appliance's own source/dest check
   * and security groups judge the packet on arrival, and again when it sends
   * the packet on (a new leg), each ENI on its own [VPC-SGR].
   */
  private atInstance(eni: InstanceEni, p: Pkt, prev: Eni | undefined): Step {
    const inst = eni.instance;
    const forwarded = p.dst !== inst.ip;
    if (forwarded && !this.stages.sourceDestCheck(inst, 'receive', p)) return DENIED;
    const sgOpts: SgOptions = { sgReferencesPreserved: prev !== undefined && prev.ip === p.src };
    if (!this.stages.sg(inst, 'ingress', p, sgOpts, { natGateway: prev?.kind === 'nat-gateway' })) return DENIED;

    const b = this.findBinding(inst.name, p);
    if (!forwarded && b === undefined) return this.deliver(inst.name, p, { at: 'eni', eni });
    this.legs.reaches(inst.name);
    if (b !== undefined) return this.unNat(inst.name, b, p, eni);
    if (p.src === inst.ip) {
      // Its own packet came back to it: the instance's OS drops a packet from its own address as a martian.
      return this.deny('route', inst.name, 'NO_ROUTE_TO_DESTINATION',
        `${show(p)} comes back to ${inst.name} with ${inst.name}'s own source address: a routing loop (its operating system drops it rather than forward it)`);
    }
    if (inst.natInstance) {
      // The NAT instance masquerades what it forwards (config: natInstance) [VPC-NATI].
      this.stages.push('nat', inst.name, 'allow', { rewrite: { src: inst.ip }, note: `NAT instance: source becomes ${inst.name}'s private IP` });
      const out: Pkt = { ...p, src: inst.ip };
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

  /**
   * A route sent the packet to a NAT gateway (which takes it: a new leg
   * starts there): translate the source to the gateway's private IP and the
   * source port to one it picks in 1024-65535, never the destination [VPC-NGW]
   * (NGW_SOURCE_ADDRESS_REASSIGN, REMAP_EPHEMERAL_PORT,
   * NGW_DEST_ADDRESS_PRESERVATION [RA-CODES]); or refuse it (nat-gateway.ts).
   */
  private natGatewayForward(eni: NatGatewayEni, p: Pkt): Step {
    const gw = eni.natGateway;
    this.legs.reaches(gw.name);
    const asymmetric = this.mode === 'reply';
    const refusal = natGatewayRefusal(gw.name, p, this.cfg.vpc.cidr, asymmetric);
    if (refusal !== undefined) return this.deny('nat', gw.name, refusal.code, refusal.note);

    const rewrite: { -readonly [K in keyof Rewrite]: Rewrite[K] } = { src: gw.ip };
    const info: ExplanationCode[] = ['NGW_SOURCE_ADDRESS_REASSIGN'];
    let out: Pkt = { ...plain(p), src: gw.ip };
    let port = '';
    if (hasPorts(p)) {
      info.push('REMAP_EPHEMERAL_PORT');
      const pinned = this.opts.natPort;
      if (pinned !== undefined) {
        rewrite.sport = pinned;
        out = { ...out, sport: pinned };
        port = `; source port ${pinned} (pinned)`;
      } else {
        rewrite.sportRange = NAT_GATEWAY_PORTS;
        out = { ...out, sport: NAT_GATEWAY_PORTS.from, natPort: 'sport' };
        port = `; source port: the gateway's pick in ${NAT_GATEWAY_PORTS.from}-${NAT_GATEWAY_PORTS.to}`;
      }
    }
    info.push('NGW_DEST_ADDRESS_PRESERVATION');
    let note =
      gw.type === 'public' && gw.publicIp !== undefined
        ? `source becomes ${gw.name}'s private IP; the internet gateway maps it to ${gw.publicIp}${port}; destination unchanged`
        : `private NAT gateway: source becomes its private IP${port}; destination unchanged`;
    if (asymmetric) {
      this.replyNattedBy = gw.name;
      note += `; this reply did not come through ${gw.name} (asymmetric return path): it is translated as a new flow`;
    }
    this.stages.push('nat', gw.name, 'allow', { rewrite, note, info });
    if (this.mode === 'request') {
      this.memory.bindings.push({
        on: gw.name,
        proto: p.proto,
        inside: { ip: p.src, ...(p.sport !== undefined ? { port: p.sport } : {}) },
        outside: { ip: gw.ip, ...(out.sport !== undefined ? { port: out.sport } : {}) },
        remote: { ip: p.dst, ...(p.dport !== undefined ? { port: p.dport } : {}) },
      });
    }
    return { kind: 'continue', start: { at: 'eni', eni }, pkt: out };
  }

}

// ---------------------------------------------------------------------------
// Entry point

/** An echo request the VPC router answers: type 8 code 0, whole (it does not reassemble fragments). */
function isRouterEcho(p: Pkt): boolean {
  return p.proto === 1 && (p.icmpType ?? 8) === 8 && (p.icmpCode ?? 0) === 0 && p.fragment === undefined;
}

/**
 * Evaluates one flow and its reply against the configuration, without packets
 * (like AWS Reachability Analyzer [RA-HOW]). Throws ExplainInputError for a
 * flow that cannot exist (bad address, source no ENI owns, …). Each direction
 * carries its stages (`path`), its hops (`legs`) and where it ended (`end`):
 * the form a comparison with the packet path consumes.
 */
export function evaluateFlow(cfg: VpcConfig, flow: Flow, opts: EvaluateOptions = {}): Explanation {
  const pkt = normaliseFlow(flow);
  checkNatPort(opts.natPort);
  const start = resolveStart(cfg, pkt, opts.from);
  if (start.at === 'eni' && pkt.dst === start.eni.ip) {
    throw new ExplainInputError(`${start.eni.name} is both source and destination: traffic to its own address never leaves it`);
  }
  const memory: FlowMemory = { tracked: new Map(), bindings: [] };
  const request = new Walk(cfg, 'request', memory, opts);
  const r = request.run(start, pkt);
  const out: Explanation = { flow: flowJson(pkt), verdict: r.verdict, path: request.path, legs: request.legs.legs(), end: request.legs.end(r.verdict) };
  if (r.verdict !== 'allow' || r.delivered === undefined) return out;
  const back = turnAround(r.delivered.pkt);
  const expect = replyOf(pkt);
  if (back === undefined || expect === undefined) return out;
  const reply = new Walk(cfg, 'reply', memory, opts, expect);
  const rr = reply.run(r.delivered.replyFrom, back);
  return { ...out, reply: { flow: flowJson(back), verdict: rr.verdict, path: reply.path, legs: reply.legs.legs(), end: reply.legs.end(rr.verdict) } };
}
