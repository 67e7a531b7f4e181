/**
 * The path being built, and the filtering stages that add to it: network
 * ACLs, security groups with connection tracking, the source/destination
 * check ([VPC-NACL], [VPC-SGR], [EC2-CT], [EC2-ENI]). The walk in
 * reference.ts decides where the packet goes; these decide whether it may.
 *
 * A packet whose destination port is a NAT gateway's unpinned pick is judged
 * over the whole range the gateway may pick (port-range.ts): allowed only
 * when every port is, otherwise denied, `partial` when some part passes.
 */
import type { Instance, NetworkAcl, Subnet, VpcConfig } from '../control/config-types.js';
import { hasPorts, NAT_GATEWAY_PORTS, type Pkt, show } from './flow.js';
import { describeBy } from './format.js';
import { naclDecision } from './nacl.js';
import { describeSpans, naclOverPorts, sgOverPorts } from './port-range.js';
import { instanceRules, isTracked, sgDecision, type SgOptions, type TrackOptions } from './sg.js';
import type { By, ExplanationCode, NaclDirection, PathStage, PortRangeJudgement, Rewrite, SgDirection, StageName, Verdict } from './types.js';

/** What an SG stage of the request left on an ENI for the reply: tracked or not, and the packet it judged. */
export interface TrackedAt {
  readonly tracked: boolean;
  readonly pkt: Pkt;
}

/** What a stage may carry besides stage, on and verdict. */
export interface StageExtra {
  readonly by?: By;
  readonly rewrite?: Rewrite;
  readonly code?: ExplanationCode;
  readonly conntrack?: 'tracked' | 'untracked';
  readonly note?: string;
  readonly info?: readonly ExplanationCode[];
  readonly portRange?: PortRangeJudgement;
}

/** An SG verdict, over the NAT gateway's port range when the packet's destination port is its pick. */
interface SgVerdict {
  readonly allow: boolean;
  readonly by: By;
  readonly range?: PortRangeJudgement;
}

function naclOf(cfg: VpcConfig, subnet: Subnet): NetworkAcl {
  // A name that resolves to nothing can only come from an unvalidated config: treat it as a custom NACL with no rules.
  return cfg.networkAcls.get(subnet.networkAcl) ?? { name: subnet.networkAcl, inbound: [], outbound: [] };
}

export class Stages {
  readonly path: PathStage[] = [];
  /** The packet each ENI's SG egress tracked on this walk (request mode), by instance name. */
  private readonly trackedOut = new Map<string, Pkt>();

  constructor(
    private readonly cfg: VpcConfig,
    private readonly mode: 'request' | 'reply',
    /** `${eni}/${direction}` -> tracked? and the packet, for every SG stage the request passed; the reply reads it. */
    private readonly tracked: Map<string, TrackedAt>,
  ) {}

  /** Appends a stage; `partial` is set when a port-range judgement has both allowed and denied parts. */
  push(stage: StageName, on: string, verdict: Verdict, extra: StageExtra = {}): void {
    const s: { -readonly [K in keyof PathStage]: PathStage[K] } = { stage, on, verdict };
    if (extra.by !== undefined) s.by = extra.by;
    if (extra.rewrite !== undefined) s.rewrite = extra.rewrite;
    if (extra.code !== undefined) s.code = extra.code;
    if (extra.conntrack !== undefined) s.conntrack = extra.conntrack;
    if (extra.note !== undefined) s.note = extra.note;
    if (extra.info !== undefined && extra.info.length > 0) s.info = extra.info;
    if (extra.portRange !== undefined) {
      s.portRange = extra.portRange;
      if (extra.portRange.allowed.length > 0 && extra.portRange.denied.length > 0) s.partial = true;
    }
    this.path.push(s);
  }

  /** [VPC-NACL] stateless, first match by rule number, `*` denies. Returns true when allowed. */
  nacl(subnet: Subnet, direction: NaclDirection, p: Pkt): boolean {
    const nacl = naclOf(this.cfg, subnet);
    const stage: StageName = direction === 'inbound' ? 'nacl-inbound' : 'nacl-outbound';
    if (p.natPort === 'dport' && hasPorts(p)) return this.naclOverNatPorts(subnet, nacl, direction, stage, p);
    const d = naclDecision(nacl, direction, p);
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

  /**
   * The reply towards a NAT gateway: its destination port is the gateway's
   * pick, anywhere in 1024-65535. Allowed only if every port is; otherwise
   * denied, naming the parts that fail (all of them, or `partial`).
   */
  private naclOverNatPorts(subnet: Subnet, nacl: NetworkAcl, direction: NaclDirection, stage: StageName, p: Pkt): boolean {
    const j = naclOverPorts(nacl, direction, p, NAT_GATEWAY_PORTS);
    const range = `${NAT_GATEWAY_PORTS.from}-${NAT_GATEWAY_PORTS.to}`;
    if (j.denied.length === 0) {
      const by = (j.allowed[0] as { by: By }).by;
      const note = j.allowed.length > 1 ? `every port a NAT gateway may pick (${range}) is allowed: ${describeSpans(j.allowed, describeBy)}` : undefined;
      this.push(stage, subnet.name, 'allow', { by, portRange: j, ...(note !== undefined ? { note } : {}) });
      return true;
    }
    const by = (j.denied[0] as { by: By }).by;
    const why = `the NAT gateway picks the port anywhere in ${range} (REMAP_EPHEMERAL_PORT) and this packet goes to it`;
    const note =
      j.allowed.length > 0
        ? `partial: ${nacl.name} (${direction}) denies ports ${describeSpans(j.denied, describeBy)} and allows ${describeSpans(j.allowed, describeBy)}; ${why}, so connections whose port falls in a denied part fail (pin one with --nat-port to judge it)`
        : `${nacl.name} (${direction}) denies every port the NAT gateway may pick: ${describeSpans(j.denied, describeBy)}; ${why}`;
    this.push(stage, subnet.name, 'deny', { by, code: 'SUBNET_ACL_RESTRICTION', note, info: ['REMAP_EPHEMERAL_PORT'], portRange: j });
    return false;
  }

  /** Security groups of `inst` in `dir`, as a new flow or as the reply of a tracked/untracked one. True when allowed. */
  sg(inst: Instance, dir: SgDirection, p: Pkt, sgOpts: SgOptions, trackOpts: TrackOptions): boolean {
    const stage: StageName = dir === 'ingress' ? 'sg-ingress' : 'sg-egress';
    if (this.mode === 'reply') {
      const at = this.tracked.get(`${inst.name}/${dir === 'ingress' ? 'egress' : 'ingress'}`);
      // Tracking (or the untracked re-evaluation) concerns the reverse of what the ENI saw; a reply that comes back
      // rewritten (a NAT instance or gateway on the way back only) is new traffic to this ENI.
      const rec = at !== undefined && isReverse(at.pkt, p) ? at.tracked : undefined;
      if (rec === true) {
        this.push(stage, inst.name, 'allow', { by: { tracked: true } });
        return true;
      }
      if (rec === false) {
        const v = this.sgVerdict(inst, dir, p, sgOpts);
        if (v.allow && 'group' in v.by) {
          this.push(stage, inst.name, 'allow', {
            by: { group: v.by.group, rule: v.by.rule, untracked: true },
            note: 'untracked flow ([EC2-CT]): the reply is admitted by a rule, not by connection tracking',
            ...(v.range !== undefined ? { portRange: v.range } : {}),
          });
          return true;
        }
        this.sgDeny(inst, dir, p, v, sgOpts, 'untracked flow and no rule admits its reply');
        return false;
      }
    }
    if (this.mode === 'request' && dir === 'ingress' && isOwnReply(this.trackedOut.get(inst.name), p)) {
      // Hairpin back to the sender (through its own public address): the ENI's tracking holds a connection
      // whose reply is exactly this packet, so connection tracking admits it as that reply ([EC2-CT]).
      this.tracked.set(`${inst.name}/${dir}`, { tracked: true, pkt: p });
      this.push(stage, inst.name, 'allow', {
        by: { tracked: true },
        note: `${show(p)} is the exact reverse of the connection ${inst.name} tracked when it sent this packet: its tracking admits it as that connection's reply`,
      });
      return true;
    }
    const v = this.sgVerdict(inst, dir, p, sgOpts);
    if (!v.allow) {
      this.sgDeny(inst, dir, p, v, sgOpts);
      return false;
    }
    const tracked = isTracked(this.cfg, inst, dir, p, trackOpts);
    if (this.mode === 'request') this.tracked.set(`${inst.name}/${dir}`, { tracked, pkt: p });
    if (this.mode === 'request' && dir === 'egress' && tracked) this.trackedOut.set(inst.name, p);
    this.push(stage, inst.name, 'allow', { by: v.by, conntrack: tracked ? 'tracked' : 'untracked', ...(v.range !== undefined ? { portRange: v.range } : {}) });
    return true;
  }

  private sgVerdict(inst: Instance, dir: SgDirection, p: Pkt, opts: SgOptions): SgVerdict {
    if (p.natPort === 'dport' && hasPorts(p)) {
      const range = sgOverPorts(this.cfg, inst, dir, p, NAT_GATEWAY_PORTS, opts);
      const allow = range.denied.length === 0;
      return { allow, by: ((allow ? range.allowed[0] : range.denied[0]) as { by: By }).by, range };
    }
    const d = sgDecision(this.cfg, inst, dir, p, opts);
    return { allow: d.allow, by: d.by };
  }

  /** A security-group denial: SG_HAS_NO_RULES when the ENI's groups have no rule in this direction at all [RA-CODES]. */
  private sgDeny(inst: Instance, dir: SgDirection, p: Pkt, v: SgVerdict, sgOpts: SgOptions, lead?: string): void {
    const stage: StageName = dir === 'ingress' ? 'sg-ingress' : 'sg-egress';
    const groups = inst.securityGroups.join(', ');
    const empty = instanceRules(this.cfg, inst, dir).length === 0;
    let note = lead ?? (empty ? `${groups} ${inst.securityGroups.length > 1 ? 'have' : 'has'} no ${dir} rule at all` : `no rule of ${groups} (${dir}) allows ${show(p)}`);
    if (p.proto === 1 && p.icmpType === 3) {
      note += '; AWS does not admit ICMP errors as related to a tracked flow: allow them explicitly (path MTU discovery needs type 3 code 4) [EC2-MTU]';
    }
    if (sgOpts.sgReferencesPreserved === false && this.sgVerdict(inst, dir, p, {}).allow) {
      note += '; a rule that references a security group would match, but not for traffic forwarded by a middlebox [VPC-SGR]';
    }
    if (v.range !== undefined) {
      note += `; the destination port is the NAT gateway's pick: denied ${describeSpans(v.range.denied, describeBy)}`;
      if (v.range.allowed.length > 0) note += `, allowed ${describeSpans(v.range.allowed, describeBy)} (partial)`;
    }
    this.push(stage, inst.name, 'deny', {
      by: v.by,
      code: empty ? 'SG_HAS_NO_RULES' : 'ENI_SG_RULES_MISMATCH',
      note,
      ...(v.range !== undefined ? { info: ['REMAP_EPHEMERAL_PORT'] as const, portRange: v.range } : {}),
    });
  }

  /** [EC2-ENI] an ENI with the check on only sends from / receives for its own private IP. True when allowed. */
  sourceDestCheck(inst: Instance, dir: 'send' | 'receive', p: Pkt): boolean {
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
}

/**
 * True when `p` arriving at an ENI is the reply direction of `out`, the
 * packet that ENI sent and tracked: addresses swapped, and for TCP/UDP the
 * ports swapped too. ICMP queries are answered by their paired type (echo
 * request 8 by echo reply 0, timestamp 13 by 14, …), so a hairpinned query
 * is never its own reply; other ICMP messages (errors, …) are tracked by
 * type and code, like other protocols by addresses alone ([EC2-CT]).
 */
/** ICMP types answered by a paired type: echo, timestamp, information, address mask (requests and replies). */
const ICMP_PAIRED: ReadonlySet<number> = new Set([0, 8, 13, 14, 15, 16, 17, 18]);

function isOwnReply(out: Pkt | undefined, p: Pkt): boolean {
  if (out === undefined || !isReverse(out, p)) return false;
  if (p.proto === 1) return !ICMP_PAIRED.has(p.icmpType ?? 8) && out.icmpType === p.icmpType && out.icmpCode === p.icmpCode;
  // A NAT gateway's unpinned port is a placeholder, not a port the ENI saw.
  return out.natPort === undefined && p.natPort === undefined;
}

/**
 * True when `back` travels the reverse way of `seen`: addresses swapped, and
 * for TCP/UDP the ports swapped (a NAT gateway's unpinned pick is the same
 * placeholder both ways). ICMP answers carry the paired type, so addresses
 * decide; other protocols are tracked by addresses alone ([EC2-CT]).
 */
function isReverse(seen: Pkt, back: Pkt): boolean {
  if (seen.proto !== back.proto || seen.src !== back.dst || seen.dst !== back.src) return false;
  return !hasPorts(back) || (seen.sport === back.dport && seen.dport === back.sport);
}
