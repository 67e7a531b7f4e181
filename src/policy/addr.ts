/**
 * IPv4 text helpers for the reference evaluator.
 *
 * Independent of `src/lib` and of the compilers: the reference evaluator is
 * the oracle the compiled packet path is property-tested against, so it must
 * not share the code it checks. Address and CIDR text is parsed by the one
 * parser (`src/control/cidr.ts`, tested on its own), as the loader parses it.
 * Readable over fast; allocates.
 *
 * Only IPv4 flows are evaluated (the VPC has an IPv4 CIDR only). IPv6 CIDRs may
 * appear in rules; they never match an IPv4 packet ([VPC-NACL] "no IPv4 rule
 * applies to IPv6 traffic", likewise for security groups).
 */

import { parseCidr, parseIpv4 } from '../control/cidr.js';
import { u32ToIp } from '../wire/addr.js';

/** Dotted quad to a host-order unsigned number, or undefined when not an IPv4 address. */
export const ipv4ToNumber: (s: string) => number | undefined = parseIpv4;

/** Host-order number to dotted quad (wire/addr.ts). */
export const numberToIpv4: (n: number) => string = u32ToIp;

export function isIpv4(s: string): boolean {
  return ipv4ToNumber(s) !== undefined;
}

/** An IPv4 CIDR as a closed range of addresses. */
export interface Ipv4Range {
  readonly first: number;
  readonly last: number;
  readonly prefix: number;
}

/**
 * `a.b.c.d/len` (or a bare address, /32) to the range it covers; undefined for
 * IPv6 or malformed text. Host bits are ignored (the loader stores CIDRs
 * canonical anyway).
 */
export function parseIpv4Cidr(s: string): Ipv4Range | undefined {
  const r = parseCidr(s);
  if (!r.ok || r.cidr.family !== 4) return undefined;
  const first = r.cidr.addr;
  return { first, last: first + 2 ** (32 - r.cidr.prefix) - 1, prefix: r.cidr.prefix };
}

/** True iff `ip` (IPv4 text) lies inside `cidr`. An IPv6 CIDR never contains an IPv4 address. */
export function cidrContainsIp(cidr: string, ip: string): boolean {
  const r = parseIpv4Cidr(cidr);
  const n = ipv4ToNumber(ip);
  return r !== undefined && n !== undefined && n >= r.first && n <= r.last;
}

/** Prefix length of an IPv4 CIDR, or -1 for IPv6/malformed text. */
export function cidrPrefix(cidr: string): number {
  return parseIpv4Cidr(cidr)?.prefix ?? -1;
}

/** "All addresses" for IPv4: 0.0.0.0/0 (the [EC2-CT] untracked-flow rule looks for exactly this). */
export function isAllIpv4(cidr: string): boolean {
  return parseIpv4Cidr(cidr)?.prefix === 0;
}

/** Offset of `ip` from the first address of `cidr` (caller checked containment). */
export function offsetInCidr(cidr: string, ip: string): number {
  return (ipv4ToNumber(ip) as number) - (parseIpv4Cidr(cidr) as Ipv4Range).first;
}

/** Size of an IPv4 CIDR in addresses. */
export function cidrSize(cidr: string): number {
  const r = parseIpv4Cidr(cidr);
  return r === undefined ? 0 : r.last - r.first + 1;
}

/** Address `offset` addresses after the start of `cidr`. */
export function addrInCidr(cidr: string, offset: number): string {
  return numberToIpv4((parseIpv4Cidr(cidr) as Ipv4Range).first + offset);
}

/** RFC 1918 private space (IGW_*_RFC1918_* codes). */
export function isRfc1918(ip: string): boolean {
  return ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].some((c) => cidrContainsIp(c, ip));
}

/** RFC 6598 shared address space (IGW_*_RFC6598_* codes). */
export function isRfc6598(ip: string): boolean {
  return cidrContainsIp('100.64.0.0/10', ip);
}

/**
 * Addresses that are never a unicast host: "this network", loopback,
 * multicast, reserved class E and limited broadcast. Returns what it is, or
 * undefined for an ordinary unicast address. (Link-local 169.254/16 is handled
 * by the classifier, because AWS puts services there.)
 */
export function specialAddress(ip: string): string | undefined {
  if (cidrContainsIp('0.0.0.0/8', ip)) return '"this network" (0.0.0.0/8)';
  if (cidrContainsIp('127.0.0.0/8', ip)) return 'loopback (127.0.0.0/8)';
  if (cidrContainsIp('224.0.0.0/4', ip)) return 'multicast (224.0.0.0/4): not supported in a VPC';
  if (ip === '255.255.255.255') return 'limited broadcast: broadcast is not supported in a VPC';
  if (cidrContainsIp('240.0.0.0/4', ip)) return 'reserved (240.0.0.0/4)';
  return undefined;
}
