/**
 * Security-group decision and connection tracking, written after [VPC-SGR],
 * [VPC-SG], [VPC-DSG], [API-IPPERM] and [EC2-CT]:
 *
 * - allow rules only; the rules of all the ENI's groups form one set and any
 *   rule that matches allows (union, no order) — anything else is denied;
 * - the port range is the packet's destination port, for TCP and UDP only;
 *   protocol -1 and any protocol other than tcp/udp/icmp/icmpv6 ignore ports;
 *   `tcp 0-0` is port 0 only ([TF-ISSUES]);
 * - ICMP/ICMPv6 rules match type and code, -1 meaning all;
 * - the peer (source for ingress, destination for egress) matches a CIDR, a
 *   prefix list (any of its CIDRs), or a referenced group: the private IPs of
 *   the instances carrying that group ([VPC-SGR] "security group
 *   referencing"). NAT gateways have no security group, so they are members
 *   of none. Public IPs are not members.
 *
 * Which rule is reported when several allow: the first one, going through the
 * instance's groups in their listed order and each group's rules in file order.
 */
import type { Instance, SgRule, VpcConfig } from '../control/config-types.js';
import { cidrContainsIp, isAllIpv4 } from './addr.js';
import type { Flow, SgDirection } from './types.js';

export interface SgOptions {
  /**
   * False when the packet was forwarded by a middlebox (an instance that is a
   * route target) on its way: rules that reference a security group do not
   * match it then ([VPC-SGR] middlebox note, SG_REFERENCES_NOT_PRESERVED).
   * Default true.
   */
  readonly sgReferencesPreserved?: boolean;
}

export type SgDecision =
  | { readonly allow: true; readonly by: { readonly group: string; readonly rule: number }; readonly entry: SgRule }
  | { readonly allow: false; readonly by: { readonly implicit: 'deny' } };

export interface TrackOptions {
  /** The flow goes through a NAT gateway: always tracked ([EC2-CT] "automatically tracked"). */
  readonly natGateway?: boolean;
}

function instanceOf(cfg: VpcConfig, instance: Instance | string): Instance {
  if (typeof instance !== 'string') return instance;
  const i = cfg.instances.get(instance);
  if (i === undefined) throw new Error(`no instance named '${instance}'`);
  return i;
}

/** Private IPs of the instances that carry security group `group` ([VPC-SGR]: membership by private IP). */
export function groupMemberIps(cfg: VpcConfig, group: string): string[] {
  const ips: string[] = [];
  for (const inst of cfg.instances.values()) if (inst.securityGroups.includes(group)) ips.push(inst.ip);
  return ips;
}

/** True iff the rule's peer (CIDR, prefix list or group) covers `peer`. */
function peerMatches(cfg: VpcConfig, rule: SgRule, peer: string, opts: SgOptions): boolean {
  if (rule.cidr !== undefined) return cidrContainsIp(rule.cidr, peer);
  if (rule.prefixList !== undefined) {
    const pl = cfg.prefixLists.get(rule.prefixList);
    return pl !== undefined && pl.cidrs.some((c) => cidrContainsIp(c, peer));
  }
  if (rule.group !== undefined) {
    if (opts.sgReferencesPreserved === false) return false;
    return groupMemberIps(cfg, rule.group).includes(peer);
  }
  return false;
}

/** True iff the rule's protocol, ports and ICMP type/code cover the packet (peer not checked). */
export function sgRuleMatchesTraffic(rule: SgRule, pkt: Flow): boolean {
  if (rule.protocol !== -1 && rule.protocol !== pkt.proto) return false;
  if (rule.protocol === 6 || rule.protocol === 17) {
    if (rule.ports === undefined) return true;
    const port = pkt.dport ?? 0;
    return port >= rule.ports.from && port <= rule.ports.to;
  }
  if (rule.protocol === 1 || rule.protocol === 58) {
    if (rule.icmpType === -1) return true;
    if (pkt.icmpType !== rule.icmpType) return false;
    return rule.icmpCode === -1 || pkt.icmpCode === rule.icmpCode;
  }
  // -1 or any other protocol number: all ports ([API-IPPERM]).
  return true;
}

/** True iff `rule` (from the `direction` list) allows `pkt`. */
export function sgRuleMatches(cfg: VpcConfig, rule: SgRule, direction: SgDirection, pkt: Flow, opts: SgOptions = {}): boolean {
  const peer = direction === 'ingress' ? pkt.src : pkt.dst;
  return sgRuleMatchesTraffic(rule, pkt) && peerMatches(cfg, rule, peer, opts);
}

/** The rules of all the instance's groups for one direction, with their group. */
export function instanceRules(cfg: VpcConfig, instance: Instance, direction: SgDirection): { group: string; rule: SgRule }[] {
  const out: { group: string; rule: SgRule }[] = [];
  for (const g of instance.securityGroups) {
    const sg = cfg.securityGroups.get(g);
    if (sg === undefined) continue;
    for (const rule of direction === 'ingress' ? sg.ingress : sg.egress) out.push({ group: g, rule });
  }
  return out;
}

/** The security groups' verdict on `pkt` as a new flow at `instance`'s ENI in `direction`. */
export function sgDecision(
  cfg: VpcConfig,
  instance: Instance | string,
  direction: SgDirection,
  pkt: Flow,
  opts: SgOptions = {},
): SgDecision {
  const inst = instanceOf(cfg, instance);
  for (const { group, rule } of instanceRules(cfg, inst, direction)) {
    if (sgRuleMatches(cfg, rule, direction, pkt, opts)) return { allow: true, by: { group, rule: rule.index }, entry: rule };
  }
  return { allow: false, by: { implicit: 'deny' } };
}

/** True iff the rule allows all IPv4 addresses on all ports for `proto` (the "response" half of the untracked rule). */
function allowsAllResponses(rule: SgRule, proto: number): boolean {
  if (rule.cidr === undefined || !isAllIpv4(rule.cidr)) return false;
  if (rule.protocol !== -1 && rule.protocol !== proto) return false;
  return rule.ports === undefined || (rule.ports.from === 0 && rule.ports.to === 65535);
}

/**
 * Whether AWS tracks the flow that `pkt` starts at `instance`'s ENI in
 * `direction` ([EC2-CT]). Meaningful for a flow that sgDecision allows.
 *
 * - ICMP is always tracked; so are flows through a NAT gateway.
 * - Protocols other than TCP/UDP/ICMP are tracked by (source, destination,
 *   protocol): a reply of the same protocol within 600 s is admitted.
 * - A TCP or UDP flow is NOT tracked when a rule that permits it allows all
 *   addresses (0.0.0.0/0) AND the opposite direction has a rule allowing all
 *   addresses (0.0.0.0/0) on all ports (0-65535) for its protocol (protocol
 *   -1 or the same protocol). Both halves are required: with a narrow SSH
 *   rule, or without the all-open outbound rule, the flow is tracked.
 *
 * Interpretations (not spelt out by AWS): "a rule that permits it" is any of
 * the matching rules, not only the one reported by sgDecision; only a CIDR
 * rule counts as "all addresses" (a prefix list holding 0.0.0.0/0 does not).
 */
export function isTracked(
  cfg: VpcConfig,
  instance: Instance | string,
  direction: SgDirection,
  pkt: Flow,
  opts: TrackOptions = {},
): boolean {
  if (pkt.proto !== 6 && pkt.proto !== 17) return true;
  if (opts.natGateway === true) return true;
  const inst = instanceOf(cfg, instance);
  const permitsFromAll = instanceRules(cfg, inst, direction).some(
    ({ rule }) => rule.cidr !== undefined && isAllIpv4(rule.cidr) && sgRuleMatches(cfg, rule, direction, pkt),
  );
  if (!permitsFromAll) return true;
  const opposite: SgDirection = direction === 'ingress' ? 'egress' : 'ingress';
  const responsesOpen = instanceRules(cfg, inst, opposite).some(({ rule }) => allowsAllResponses(rule, pkt.proto));
  return !responsesOpen;
}
