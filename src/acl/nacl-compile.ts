/**
 * Network ACLs compiled to struct-of-arrays (style §4.2; VPP ACL plugin).
 *
 * AWS semantics (shared spec §2.1): entries are evaluated by ascending rule
 * number and the first match decides; nothing matching means the implicit
 * final `*` deny. An inbound list matches the source address, an outbound
 * list the destination. Protocol -1 matches every protocol; for protocols
 * other than TCP (6), UDP (17) and ICMP (1) ports/types are ignored; TCP/UDP
 * ranges apply to the destination port; ICMP rules match type/code (-1 = all
 * types, or all codes of the type). IPv6 rules never match IPv4 traffic, so
 * they are left out of the IPv4 list.
 *
 * One 16-bit "L4 value" per packet covers ports and ICMP: the destination port
 * for TCP/UDP, type << 8 | code for ICMP, 0 for anything else. Every entry is
 * then one range check on it, [l4Lo, l4Hi], filled to 0..0xffff where AWS
 * ignores ports.
 *
 * Linear scan on purpose: AWS caps a list at 20 (40 on request) entries, and
 * a flat loop over typed arrays beats hashing at that size (VPP's own note).
 * Past ~64 entries, tuple-space search can go behind the same match().
 */

import { prefixMask } from '../lib/ipv4.js';

export const NO_MATCH = -1;
/** `proto` value of an entry for protocol -1 (all). */
export const ANY_PROTO = -1;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;

/**
 * One NACL entry as the compiler takes it: the config's NaclRule with its
 * CIDR already parsed (control/compile.ts does that).
 */
export interface NaclEntry {
  /** 1..32766 */
  readonly ruleNumber: number;
  readonly allow: boolean;
  /** IANA protocol number, -1 = all. */
  readonly protocol: number;
  /** Inclusive destination-port range (TCP/UDP); absent = all ports. */
  readonly ports?: { readonly from: number; readonly to: number } | undefined;
  /** -1 = all types (then all codes). */
  readonly icmpType: number;
  /** -1 = all codes. */
  readonly icmpCode: number;
  readonly family: 4 | 6;
  /** Host-order u32 network address (IPv4 only; ignored for family 6). */
  readonly net: number;
  /** 0..32 (IPv4). */
  readonly prefixLen: number;
}

export { prefixMask };

/**
 * The 16-bit L4 value the matchers compare: destination port for TCP/UDP,
 * type << 8 | code for ICMP, 0 otherwise. Never allocates.
 */
export function l4Value(proto: number, dstPort: number, icmpType: number, icmpCode: number): number {
  if (proto === PROTO_ICMP) return ((icmpType & 0xff) << 8) | (icmpCode & 0xff);
  if (proto === PROTO_TCP || proto === PROTO_UDP) return dstPort & 0xffff;
  return 0;
}

/**
 * The [lo, hi] range of L4 values an AWS rule (NACL or SG) matches, as
 * lo << 16 | hi (u32). Control plane.
 */
export function l4RangeOf(
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
  } else if (protocol === PROTO_ICMP) {
    if (icmpType >= 0) {
      lo = icmpType << 8;
      hi = lo | 0xff;
      if (icmpCode >= 0) hi = lo = lo | icmpCode;
    }
  }
  return ((lo << 16) | hi) >>> 0;
}

/** A NACL direction compiled for IPv4; immutable once built. */
export class CompiledNacl {
  readonly count: number;
  /** Network and netmask as int32 bit patterns (`| 0`): compared as `(addr & mask) === net` without u32 conversions. */
  readonly net: Int32Array;
  readonly mask: Int32Array;
  /** IANA protocol or ANY_PROTO. */
  readonly proto: Int16Array;
  readonly l4Lo: Uint16Array;
  readonly l4Hi: Uint16Array;
  readonly allow: Uint8Array;
  /** The operator's rule number per entry, for counters, flow logs and explain. */
  readonly ruleNumber: Uint16Array;

  constructor(n: number) {
    this.count = n;
    this.net = new Int32Array(n);
    this.mask = new Int32Array(n);
    this.proto = new Int16Array(n);
    this.l4Lo = new Uint16Array(n);
    this.l4Hi = new Uint16Array(n);
    this.allow = new Uint8Array(n);
    this.ruleNumber = new Uint16Array(n);
  }

  /**
   * Index of the first matching entry, or NO_MATCH (the implicit `*` deny).
   * addr: source (inbound) or destination (outbound), host-order u32 or its
   * int32 bit pattern (`| 0`: V8 passes that without boxing).
   * dstPort is read for TCP/UDP, icmpType/icmpCode for ICMP. Never allocates.
   */
  match(addr: number, proto: number, dstPort: number, icmpType: number, icmpCode: number): number {
    return this.matchL4(addr, proto, l4Value(proto, dstPort, icmpType, icmpCode));
  }

  /** match() with the L4 value precomputed (l4Value()). Never allocates. */
  matchL4(addr: number, proto: number, l4: number): number {
    const { count, net, mask, l4Lo, l4Hi } = this;
    const protos = this.proto;
    // Stryker disable next-line EqualityOperator: equivalent mutant (i <= count): past the last entry mask and net read undefined, which never compare equal
    for (let i = 0; i < count; i++) {
      if ((addr & mask[i]) !== net[i]) continue;
      const p = protos[i];
      if (p !== ANY_PROTO && p !== proto) continue;
      if (l4 < l4Lo[i] || l4 > l4Hi[i]) continue;
      return i;
    }
    return NO_MATCH;
  }

  /** True when match() result `idx` allows (NO_MATCH denies). */
  allows(idx: number): boolean {
    // Stryker disable next-line ConditionalExpression: equivalent mutant: allow[NO_MATCH] reads undefined, which is not 1
    return idx !== NO_MATCH && this.allow[idx] === 1;
  }
}

/** Compiles one direction of a NACL; IPv6 entries are dropped (they never match IPv4). */
export function compileNacl(entries: readonly NaclEntry[]): CompiledNacl {
  const v4 = entries.filter((e) => e.family === 4).sort((a, b) => a.ruleNumber - b.ruleNumber);
  const c = new CompiledNacl(v4.length);
  v4.forEach((e, i) => {
    const m = prefixMask(e.prefixLen);
    c.net[i] = e.net & m;
    c.mask[i] = m;
    // Stryker disable next-line ConditionalExpression: equivalent mutant: ANY_PROTO is -1, the loader's "all"
    c.proto[i] = e.protocol < 0 ? ANY_PROTO : e.protocol;
    const r = l4RangeOf(e.protocol, e.ports, e.icmpType, e.icmpCode);
    c.l4Lo[i] = r >>> 16;
    c.l4Hi[i] = r & 0xffff;
    c.allow[i] = e.allow ? 1 : 0;
    c.ruleNumber[i] = e.ruleNumber;
  });
  return c;
}

/** An entry that can never match because earlier entries cover all it matches. */
export interface ShadowedEntry {
  readonly ruleNumber: number;
  /** The earlier entry that covers it entirely. */
  readonly by: number;
  /** True when the covering entry has the opposite action (the operator probably meant otherwise). */
  readonly conflicting: boolean;
}

/**
 * Entries fully covered by a single earlier entry (address, protocol and L4
 * range), for `vpcd check` warnings. Control plane; pairwise, O(n²).
 */
export function findShadowedNaclEntries(c: CompiledNacl): ShadowedEntry[] {
  const out: ShadowedEntry[] = [];
  for (let j = 0; j < c.count; j++) {
    for (let i = 0; i < j; i++) {
      const coversAddr = (c.mask[i] & c.mask[j]) === c.mask[i] && (c.net[j] & c.mask[i]) === c.net[i];
      const coversProto = c.proto[i] === ANY_PROTO || c.proto[i] === c.proto[j];
      // Stryker disable next-line ConditionalExpression: equivalent mutant: an all-protocols entry has the full L4 range, which covers any other
      const coversL4 = c.proto[i] === ANY_PROTO || (c.l4Lo[i] <= c.l4Lo[j] && c.l4Hi[i] >= c.l4Hi[j]);
      if (coversAddr && coversProto && coversL4) {
        out.push({ ruleNumber: c.ruleNumber[j], by: c.ruleNumber[i], conflicting: c.allow[i] !== c.allow[j] });
        break;
      }
    }
  }
  return out;
}
