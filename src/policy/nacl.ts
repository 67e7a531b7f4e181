/**
 * Network ACL decision, written after [VPC-NACL] and [API-NACLE]:
 *
 * - rules are evaluated by ascending rule number, the first rule that matches
 *   decides (allow or deny), later rules are not looked at;
 * - nothing matched: the final `*` rule denies;
 * - the CIDR is the source for inbound rules, the destination for outbound;
 * - the port range is the packet's destination port, for TCP and UDP only;
 *   protocol -1 (all) and any protocol other than 6/17/1 match all ports and
 *   ICMP types/codes, whatever the rule says ([API-NACLE]);
 * - ICMP rules match on type and code, -1 meaning all;
 * - IPv6 CIDRs never match an IPv4 packet.
 *
 * Stateless: callers evaluate the reply afresh (that is what makes the classic
 * "ephemeral ports not allowed back in" mistake visible).
 */
import type { NaclRule, NetworkAcl } from '../control/config-types.js';
import { cidrContainsIp } from './addr.js';
import type { Flow, NaclDirection } from './types.js';

export interface NaclDecision {
  readonly allow: boolean;
  /** The deciding rule number, or `*` for the implicit final deny. */
  readonly rule: number | '*';
  /** The rule that decided; absent for `*`. */
  readonly entry?: NaclRule;
}

/** True iff `rule` matches `pkt` travelling in `direction` across the subnet boundary. */
export function naclRuleMatches(rule: NaclRule, direction: NaclDirection, pkt: Flow): boolean {
  const peer = direction === 'inbound' ? pkt.src : pkt.dst;
  if (!cidrContainsIp(rule.cidr, peer)) return false;
  if (rule.protocol !== -1 && rule.protocol !== pkt.proto) return false;
  if (rule.protocol === 6 || rule.protocol === 17) {
    if (rule.ports === undefined) return true;
    const port = pkt.dport ?? 0;
    return port >= rule.ports.from && port <= rule.ports.to;
  }
  if (rule.protocol === 1) {
    if (rule.icmpType === -1) return true;
    if (pkt.icmpType !== rule.icmpType) return false;
    return rule.icmpCode === -1 || pkt.icmpCode === rule.icmpCode;
  }
  // -1 or any other protocol: all ports, types and codes.
  return true;
}

/** The NACL's verdict for `pkt` in `direction`: first matching rule by ascending number, else `*`. */
export function naclDecision(nacl: NetworkAcl, direction: NaclDirection, pkt: Flow): NaclDecision {
  const rules = [...(direction === 'inbound' ? nacl.inbound : nacl.outbound)].sort((a, b) => a.rule - b.rule);
  for (const r of rules) {
    if (naclRuleMatches(r, direction, pkt)) return { allow: r.action === 'allow', rule: r.rule, entry: r };
  }
  return { allow: false, rule: '*' };
}
