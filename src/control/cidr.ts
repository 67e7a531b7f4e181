/**
 * IPv4/IPv6 address and CIDR helpers for the control plane (config loading,
 * compilation). IPv4 addresses are host-order unsigned 32-bit numbers
 * (`>>> 0`), as everywhere in vpcd; IPv6 addresses are 128-bit bigints.
 *
 * Not for the per-packet path: these allocate and use strings.
 */
import ipaddr from 'ipaddr.js';
import { parseIpv4Text, u32ToIp } from '../wire/addr.js';

export interface Ipv4Cidr {
  readonly family: 4;
  /** Network address, host order, host bits cleared. */
  readonly addr: number;
  readonly prefix: number;
}

export interface Ipv6Cidr {
  readonly family: 6;
  /** Network address, host bits cleared. */
  readonly addr: bigint;
  readonly prefix: number;
}

export type Cidr = Ipv4Cidr | Ipv6Cidr;

export type CidrParse =
  | { readonly ok: true; readonly cidr: Cidr; /** The text had host bits set (`198.18.1.7/24`). */ readonly hostBits: boolean }
  | { readonly ok: false; readonly error: string };

const V6_ALL = (1n << 128n) - 1n;

/** Dotted quad to host-order u32, or undefined (strict: no leading zeros); the parser is wire/addr.ts's. */
export const parseIpv4: (s: string) => number | undefined = parseIpv4Text;

/** Host-order u32 to dotted quad (wire/addr.ts). */
export const formatIpv4: (n: number) => string = u32ToIp;

/** Parses an IPv6 address (any RFC 4291 text form, no zone id) to a 128-bit bigint. */
export function parseIpv6(s: string): bigint | undefined {
  if (s.includes('%') || !s.includes(':') || !ipaddr.IPv6.isValid(s)) return undefined;
  let n = 0n;
  for (const part of ipaddr.IPv6.parse(s).parts) n = (n << 16n) | BigInt(part);
  return n;
}

/** RFC 5952 text of a 128-bit address (lower case, longest zero run compressed). */
export function formatIpv6(n: bigint): string {
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** The netmask of an IPv4 prefix length as a host-order u32 (`/24` -> 0xffffff00). */
export function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function ipv6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (V6_ALL << BigInt(128 - prefix)) & V6_ALL;
}

/**
 * Parses `addr/len` (IPv4 or IPv6). A bare address is accepted as a host
 * route (`/32`, `/128`). Host bits are cleared (canonical form) and reported
 * in `hostBits`. On failure `error` says what is wrong, for messages.
 */
export function parseCidr(s: string): CidrParse {
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const lenText = slash < 0 ? undefined : s.slice(slash + 1);
  const v4 = parseIpv4(addrText);
  const v6 = v4 === undefined ? parseIpv6(addrText) : undefined;
  if (v4 === undefined && v6 === undefined) {
    return { ok: false, error: `"${addrText}" is not an IPv4 or IPv6 address` };
  }
  const max = v4 !== undefined ? 32 : 128;
  let prefix = max;
  if (lenText !== undefined) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      return { ok: false, error: `prefix length "${lenText}" is not an integer between 0 and ${max}` };
    }
    prefix = Number(lenText);
  }
  if (v4 !== undefined) {
    const addr = (v4 & ipv4Mask(prefix)) >>> 0;
    return { ok: true, cidr: { family: 4, addr, prefix }, hostBits: addr !== v4 };
  }
  const full = v6 as bigint;
  const addr = full & ipv6Mask(prefix);
  return { ok: true, cidr: { family: 6, addr, prefix }, hostBits: addr !== full };
}

/** parseCidr for callers that only want the canonical string (undefined when invalid). */
export function canonicalCidr(s: string): string | undefined {
  const r = parseCidr(s);
  return r.ok ? cidrToString(r.cidr) : undefined;
}

/** 0.0.0.0/0, the block of the implicit allow-all rules. */
export const IPV4_ANY: Ipv4Cidr = Object.freeze({ family: 4, addr: 0, prefix: 0 });

/** Canonical text: `198.18.1.0/24`, `2001:db8::/32`. */
export function cidrToString(c: Cidr): string {
  return c.family === 4 ? `${formatIpv4(c.addr)}/${c.prefix}` : `${formatIpv6(c.addr)}/${c.prefix}`;
}

/** An IPv4 block as network, prefix length and netmask (host order), the form route and subnet tables keep. */
export function ipv4NetMask(c: Ipv4Cidr): { readonly net: number; readonly len: number; readonly mask: number } {
  return { net: c.addr, len: c.prefix, mask: ipv4Mask(c.prefix) };
}

/** True when every address of `inner` is in `outer` (same family; a CIDR contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  if (outer.family === 4) return ((inner.addr as number) & ipv4Mask(outer.prefix)) >>> 0 === outer.addr;
  return ((inner.addr as bigint) & ipv6Mask(outer.prefix)) === outer.addr;
}

/** True when the two blocks share at least one address (same family). */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** True when the host-order IPv4 address lies in the block. */
export function ipv4InCidr(c: Ipv4Cidr, addr: number): boolean {
  return ((addr & ipv4Mask(c.prefix)) >>> 0) === c.addr;
}

/** Last address (broadcast) of an IPv4 block. */
export function ipv4Last(c: Ipv4Cidr): number {
  return (c.addr | ~ipv4Mask(c.prefix)) >>> 0;
}

/** Number of addresses in an IPv4 block. */
export function ipv4Size(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

/**
 * AWS reserves five addresses in every subnet: network (+0), VPC router (+1),
 * Amazon DNS (+2), future use (+3) and the last address (broadcast). Returns
 * what `addr` is reserved for, or undefined if it may be assigned.
 */
export function ipv4SubnetReserved(subnet: Ipv4Cidr, addr: number): string | undefined {
  const off = (addr - subnet.addr) >>> 0;
  if (off === 0) return 'the network address';
  if (off === 1) return 'the VPC router (+1)';
  if (off === 2) return 'the Amazon DNS server (+2)';
  if (off === 3) return 'reserved by AWS for future use (+3)';
  if (addr >>> 0 === ipv4Last(subnet)) return 'the broadcast address';
  return undefined;
}
