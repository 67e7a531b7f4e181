/**
 * Security groups compiled per ENI and direction (VPP's reflexive ACLs).
 *
 * AWS semantics (shared spec §1.1-§1.6): allow-only; the rules of all groups
 * on an ENI form one set and a packet is allowed if any rule allows it. A rule
 * names a CIDR, a prefix list (each of its CIDRs) or a security group (the
 * private IPv4 /32 of every ENI in that group). Port ranges apply to the
 * destination port (TCP/UDP); ICMP rules match type/code with -1 = all;
 * protocol -1 and protocols other than TCP/UDP/ICMP ignore ports. IPv6
 * entries never match IPv4 traffic and are left out.
 *
 * The control plane (control/compile.ts) expands group references and prefix
 * lists into SgEntry rows; this file turns the rows into struct-of-arrays, in
 * input order (groups in the ENI's order, rules in file order), and keeps per
 * slot where it came from (group, rule index) for explain and metrics.
 *
 * Untracked flows [EC2-CT]: a TCP or UDP flow is not tracked when the rule
 * that permits it allows all addresses (0.0.0.0/0) and the opposite direction
 * of the same ENI has a rule allowing all addresses on all ports for that
 * protocol. `allowsAllAddresses` per slot and `hasAllOpenResponseRule(proto)`
 * per set give the two halves; `isUntrackedFlow()` puts them together.
 * "Automatically tracked" cases (NAT gateway and the other AWS components) are
 * the caller's to decide.
 */

import { prefixMask } from '../lib/ipv4.js';

export const NO_MATCH = -1;
/** `proto` value of a slot for protocol -1 (all). */
export const ANY_PROTO = -1;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;

/** What a rule named as its remote side. */
export const SgOriginKind = { Cidr: 0, Group: 1, PrefixList: 2 } as const;
export type SgOriginKind = (typeof SgOriginKind)[keyof typeof SgOriginKind];

// The two helpers below mirror acl/nacl-compile.ts (conntrack/ may not
// import acl/, style §3 layering), with one difference: SG rules for ICMPv6
// (58) match type/code like ICMP ([API-IPPERM]), while a NACL rule for 58 on
// IPv4 matches everything ([API-NACLE]). The prefix mask comes from lib/;
// property tests check each copy against a literal evaluation.


/**
 * The 16-bit L4 value the matcher compares: destination port for TCP/UDP,
 * type << 8 | code for ICMP (and ICMPv6), 0 otherwise. Never allocates.
 */
export function sgL4Value(proto: number, dstPort: number, icmpType: number, icmpCode: number): number {
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) return ((icmpType & 0xff) << 8) | (icmpCode & 0xff);
  // Stryker disable next-line ConditionalExpression: equivalent mutant: for other protocols every rule that can match has the full L4 range 0-65535, so any 16-bit value matches as 0 does
  if (proto === PROTO_TCP || proto === PROTO_UDP) return dstPort & 0xffff;
  return 0;
}

/** [lo, hi] of L4 values a rule matches, as lo << 16 | hi. */
function l4RangeOf(
  protocol: number,
  ports: { readonly from: number; readonly to: number } | undefined,
  icmpType: number,
  icmpCode: number,
): number {
  let lo = 0;
  let hi = 0xffff;
  if (protocol === PROTO_TCP || protocol === PROTO_UDP) {
    if (ports !== undefined) {
      lo = ports.from;
      hi = ports.to;
    }
  } else if (protocol === PROTO_ICMP || protocol === PROTO_ICMPV6) {
    if (icmpType >= 0) {
      lo = icmpType << 8;
      hi = lo | 0xff;
      if (icmpCode >= 0) hi = lo = lo | icmpCode;
    }
  }
  return ((lo << 16) | hi) >>> 0;
}

/** One allow rule row, after group-reference and prefix-list expansion. */
export interface SgEntry {
  /** IANA protocol, -1 = all. */
  readonly protocol: number;
  /** Inclusive destination-port range (TCP/UDP); absent = all. */
  readonly ports?: { readonly from: number; readonly to: number } | undefined;
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly family: 4 | 6;
  /** Host-order u32 (IPv4); remote address: source for ingress, destination for egress. */
  readonly net: number;
  readonly prefixLen: number;
  /** Index into CompiledSgSet.groupNames of the group the rule belongs to. */
  readonly originGroup: number;
  /** SgRule.index: position of the rule in its list in the file. */
  readonly originRule: number;
  /** Whether the row came from a CIDR, a group reference or a prefix list. Default Cidr. */
  readonly originKind?: SgOriginKind | undefined;
}

/** The allow-set of one ENI in one direction; immutable once built. */
export class CompiledSgSet {
  readonly count: number;
  /** Network and netmask as int32 bit patterns (`| 0`): compared as `(addr & mask) === net` without u32 conversions. */
  readonly net: Int32Array;
  readonly mask: Int32Array;
  readonly proto: Int16Array;
  readonly l4Lo: Uint16Array;
  readonly l4Hi: Uint16Array;
  /** Index into groupNames. */
  readonly originGroup: Uint16Array;
  /** The rule's index in its group's list in the file. */
  readonly originRule: Uint16Array;
  /** SgOriginKind per slot. */
  readonly originKind: Uint8Array;
  /**
   * 1 when the slot is a CIDR rule for 0.0.0.0/0 (the reference evaluator's
   * reading of [EC2-CT]: a prefix list that holds 0.0.0.0/0 does not count).
   */
  readonly allowsAllAddresses: Uint8Array;
  /** Names for originGroup (control plane: explain, metrics labels). */
  readonly groupNames: readonly string[];
  /** Bit p set: some slot allows 0.0.0.0/0 on every port for protocol p (bit 0: TCP, bit 1: UDP). */
  private readonly allOpen: number;

  constructor(n: number, groupNames: readonly string[], allOpen: number) {
    this.count = n;
    this.net = new Int32Array(n);
    this.mask = new Int32Array(n);
    this.proto = new Int16Array(n);
    this.l4Lo = new Uint16Array(n);
    this.l4Hi = new Uint16Array(n);
    this.originGroup = new Uint16Array(n);
    this.originRule = new Uint16Array(n);
    this.originKind = new Uint8Array(n);
    this.allowsAllAddresses = new Uint8Array(n);
    this.groupNames = groupNames;
    this.allOpen = allOpen;
  }

  /**
   * First slot allowing the packet, or NO_MATCH (implicit deny). addr: the
   * remote address (source for ingress, destination for egress), host-order
   * u32 or its int32 bit pattern (`| 0`: V8 passes that without boxing).
   * Never allocates.
   */
  match(addr: number, proto: number, dstPort: number, icmpType: number, icmpCode: number): number {
    return this.matchL4(addr, proto, sgL4Value(proto, dstPort, icmpType, icmpCode));
  }

  /** match() with the L4 value precomputed (sgL4Value()). Never allocates. */
  matchL4(addr: number, proto: number, l4: number): number {
    const { count, net, mask, l4Lo, l4Hi } = this;
    const protos = this.proto;
    // Stryker disable next-line EqualityOperator: equivalent mutant (i <= count): past the last slot the typed arrays read undefined, which fails the address or protocol test (undefined is neither ANY_PROTO nor a protocol number), so the slot is skipped
    for (let i = 0; i < count; i++) {
      if ((addr & mask[i]) !== net[i]) continue;
      const p = protos[i];
      if (p !== ANY_PROTO && p !== proto) continue;
      if (l4 < l4Lo[i] || l4 > l4Hi[i]) continue;
      return i;
    }
    return NO_MATCH;
  }

  /**
   * match() for a packet that crossed a middlebox: rules referencing a group
   * do not match it then ([VPC-SGR] middlebox note, RA code
   * SG_REFERENCES_NOT_PRESERVED). Never allocates.
   */
  matchL4NoGroupRefs(addr: number, proto: number, l4: number): number {
    const { count, net, mask, l4Lo, l4Hi, originKind } = this;
    const protos = this.proto;
    // Stryker disable next-line EqualityOperator: equivalent mutant (i <= count): past the last slot the typed arrays read undefined, which fails the address or protocol test (undefined is neither ANY_PROTO nor a protocol number), so the slot is skipped
    for (let i = 0; i < count; i++) {
      if (originKind[i] === SgOriginKind.Group) continue;
      if ((addr & mask[i]) !== net[i]) continue;
      const p = protos[i];
      if (p !== ANY_PROTO && p !== proto) continue;
      if (l4 < l4Lo[i] || l4 > l4Hi[i]) continue;
      return i;
    }
    return NO_MATCH;
  }

  /**
   * First slot that allows the packet from/to every address (0.0.0.0/0), or
   * NO_MATCH: whether some permitting rule is all-addresses, whatever other
   * rules match first. Never allocates.
   */
  matchAllAddressesL4(proto: number, l4: number): number {
    const { count, l4Lo, l4Hi, allowsAllAddresses } = this;
    const protos = this.proto;
    // Stryker disable next-line EqualityOperator: equivalent mutant (i <= count): past the last slot the typed arrays read undefined, which fails the address or protocol test (undefined is neither ANY_PROTO nor a protocol number), so the slot is skipped
    for (let i = 0; i < count; i++) {
      if (allowsAllAddresses[i] === 0) continue;
      const p = protos[i];
      if (p !== ANY_PROTO && p !== proto) continue;
      if (l4 < l4Lo[i] || l4 > l4Hi[i]) continue;
      return i;
    }
    return NO_MATCH;
  }

  /**
   * True if a slot allows 0.0.0.0/0 on all ports (0-65535) for `proto` (TCP
   * or UDP; always false for others): the "response rule" half of AWS's
   * untracked-flow condition. Never allocates.
   */
  hasAllOpenResponseRule(proto: number): boolean {
    if (proto === PROTO_TCP) return (this.allOpen & 1) !== 0;
    if (proto === PROTO_UDP) return (this.allOpen & 2) !== 0;
    return false;
  }

  /** `{ group, rule }` of a slot, for explain. Control plane (allocates). */
  origin(slot: number): { group: string; rule: number } {
    return { group: this.groupNames[this.originGroup[slot]] ?? '?', rule: this.originRule[slot] };
  }
}

/**
 * [EC2-CT] untracked rule for a new flow on one ENI: TCP/UDP, admitted by an
 * all-addresses rule of `admitting` (the direction the flow started in) and
 * `opposite` (the other direction of the same ENI) has an all-open response
 * rule for the protocol. Any permitting all-addresses rule counts, not only
 * the first match. Never allocates.
 */
export function isUntrackedFlow(admitting: CompiledSgSet, opposite: CompiledSgSet, proto: number, l4: number): boolean {
  // Stryker disable next-line ConditionalExpression: equivalent mutant: hasAllOpenResponseRule() below is false for every protocol but TCP and UDP; stated first for the reader
  if (proto !== PROTO_TCP && proto !== PROTO_UDP) return false;
  if (!opposite.hasAllOpenResponseRule(proto)) return false;
  return admitting.matchAllAddressesL4(proto, l4) !== NO_MATCH;
}

/** Builds one ENI-direction set from expanded rows (IPv6 rows dropped). Control plane. */
export function compileSgSet(entries: readonly SgEntry[], groupNames: readonly string[]): CompiledSgSet {
  const v4 = entries.filter((e) => e.family === 4);
  let allOpen = 0;
  for (const e of v4) {
    if (!isAllAddresses(e)) continue;
    const r = l4RangeOf(e.protocol, e.ports, e.icmpType, e.icmpCode);
    const allPorts = r === 0x0000ffff;
    if ((e.protocol === ANY_PROTO || e.protocol === PROTO_TCP) && allPorts) allOpen |= 1;
    if ((e.protocol === ANY_PROTO || e.protocol === PROTO_UDP) && allPorts) allOpen |= 2;
  }
  const c = new CompiledSgSet(v4.length, groupNames, allOpen);
  v4.forEach((e, i) => {
    const m = prefixMask(e.prefixLen);
    c.net[i] = e.net & m;
    c.mask[i] = m;
    // Stryker disable next-line ConditionalExpression: equivalent mutant: ANY_PROTO is -1, the loader's "all"
    c.proto[i] = e.protocol < 0 ? ANY_PROTO : e.protocol;
    const r = l4RangeOf(e.protocol, e.ports, e.icmpType, e.icmpCode);
    c.l4Lo[i] = r >>> 16;
    c.l4Hi[i] = r & 0xffff;
    c.originGroup[i] = e.originGroup;
    c.originRule[i] = e.originRule;
    c.originKind[i] = e.originKind ?? SgOriginKind.Cidr;
    c.allowsAllAddresses[i] = isAllAddresses(e) ? 1 : 0;
  });
  return c;
}

function isAllAddresses(e: SgEntry): boolean {
  return e.prefixLen === 0 && (e.originKind ?? SgOriginKind.Cidr) === SgOriginKind.Cidr;
}
