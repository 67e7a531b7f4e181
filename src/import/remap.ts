/**
 * `--remap FROM=TO`: moves the addresses of an imported VPC into another
 * range (e.g. 172.31.0.0/16=198.18.0.0/16, to run the default VPC in a lab).
 * FROM and TO are IPv4 CIDRs of the same length; an address or CIDR inside
 * FROM keeps its offset in TO. A CIDR that contains FROM (0.0.0.0/0, a /8
 * around a /16) cannot move and stays as it is: the mappers report it when
 * it is not 0.0.0.0/0, since it no longer covers the moved addresses.
 */
import { cidrToString, formatIpv4, type Ipv4Cidr, ipv4InCidr, ipv4Mask, parseCidr, parseIpv4 } from '../control/cidr.js';

export interface Remap {
  readonly from: Ipv4Cidr;
  readonly to: Ipv4Cidr;
}

export class RemapError extends Error {}

function cidr4(text: string, what: string): Ipv4Cidr {
  const p = parseCidr(text.trim());
  if (!p.ok || p.cidr.family !== 4) throw new RemapError(`--remap ${what}: '${text}' is not an IPv4 CIDR such as 172.31.0.0/16`);
  return p.cidr;
}

/** Parses one `FROM=TO`. */
export function parseRemap(text: string): Remap {
  const eq = text.indexOf('=');
  if (eq < 0) throw new RemapError(`--remap: '${text}' is not FROM=TO (for example 172.31.0.0/16=198.18.0.0/16)`);
  const from = cidr4(text.slice(0, eq), 'FROM');
  const to = cidr4(text.slice(eq + 1), 'TO');
  if (from.prefix !== to.prefix) {
    throw new RemapError(`--remap ${text}: FROM and TO must have the same prefix length (/${from.prefix} and /${to.prefix})`);
  }
  return { from, to };
}

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = ipv4Mask(p);
  return ((a.addr & m) >>> 0) === ((b.addr & m) >>> 0);
}

export type CidrMove =
  | { readonly kind: 'moved' | 'outside'; readonly text: string }
  /** The CIDR contains a FROM range: kept as is, no longer covering the moved addresses. */
  | { readonly kind: 'contains'; readonly text: string; readonly from: string };

export class Remapper {
  readonly remaps: readonly Remap[];

  constructor(remaps: readonly Remap[]) {
    for (let i = 0; i < remaps.length; i++) {
      for (let j = i + 1; j < remaps.length; j++) {
        if (overlaps(remaps[i]!.from, remaps[j]!.from)) throw new RemapError(`--remap: ${cidrToString(remaps[i]!.from)} and ${cidrToString(remaps[j]!.from)} overlap`);
        if (overlaps(remaps[i]!.to, remaps[j]!.to)) throw new RemapError(`--remap: ${cidrToString(remaps[i]!.to)} and ${cidrToString(remaps[j]!.to)} overlap`);
      }
    }
    this.remaps = remaps;
  }

  private moveAddr(a: number): number {
    for (const r of this.remaps) {
      if (ipv4InCidr(r.from, a)) {
        const host = (a & ~ipv4Mask(r.from.prefix)) >>> 0;
        return (r.to.addr | host) >>> 0;
      }
    }
    return a;
  }

  /** An IPv4 address (other text unchanged). */
  addr(text: string): string {
    const a = parseIpv4(text);
    return a === undefined ? text : formatIpv4(this.moveAddr(a));
  }

  /** A CIDR: IPv6 and CIDRs outside every FROM pass unchanged. */
  cidr(text: string): CidrMove {
    const p = parseCidr(text);
    if (!p.ok || p.cidr.family !== 4) return { kind: 'outside', text };
    const c = p.cidr;
    for (const r of this.remaps) {
      if (c.prefix >= r.from.prefix && ipv4InCidr(r.from, c.addr)) {
        return { kind: 'moved', text: cidrToString({ family: 4, addr: this.moveAddr(c.addr), prefix: c.prefix }) };
      }
      if (c.prefix < r.from.prefix && ipv4InCidr(c, r.from.addr)) return { kind: 'contains', text: cidrToString(c), from: cidrToString(r.from) };
    }
    return { kind: 'outside', text: cidrToString(c) };
  }
}
