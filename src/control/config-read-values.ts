/**
 * Readers for single values of the configuration file: strings, integers,
 * booleans, enumerations, names and references, CIDRs and addresses, MACs,
 * interface and namespace names, paths; the named sections' entries; and the
 * uniqueness claims (addresses, MACs, interface names) decided in file order.
 * Each reader reports its own problem at the value and returns undefined.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { isScalar } from 'yaml';
import { type Cidr, cidrToString, formatIpv4, type Ipv4Cidr, ipv4InCidr, parseCidr, parseIpv4 } from './cidr.js';
import { LIMITS, NAME_RE, NAME_RULE } from './config-defaults.js';
import { Ctx, describe, hint, readMap, type V } from './config-issues.js';

export function readString(ctx: Ctx, v: V, what = 'a string'): string | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'string' && n.value !== '') return n.value;
  ctx.error(v.at, `${v.path}: expected ${what}, got ${isScalar(n) && n.value === '' ? 'an empty string' : describe(v)}`);
  return undefined;
}

export function readInt(ctx: Ctx, v: V, min: number, max: number, note = ''): number | undefined {
  const n = v.node;
  const val = isScalar(n) ? n.value : undefined;
  if (typeof val === 'number' && Number.isInteger(val) && val >= min && val <= max) return val;
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
  ctx.error(v.at, `${v.path}: expected ${range}${note ? ` (${note})` : ''}, got ${describe(v)}`);
  return undefined;
}

export function readBool(ctx: Ctx, v: V): boolean | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'boolean') return n.value;
  ctx.error(v.at, `${v.path}: expected true or false, got ${describe(v)}`);
  return undefined;
}

export function readEnum<T extends string>(ctx: Ctx, v: V, options: readonly T[]): T | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'string' && (options as readonly string[]).includes(n.value)) return n.value as T;
  const got = isScalar(n) && typeof n.value === 'string' ? hint(n.value, options) : '';
  ctx.error(v.at, `${v.path}: expected one of ${options.join(', ')}, got ${describe(v)}${got}`);
  return undefined;
}

export function readName(ctx: Ctx, v: V, what: string): string | undefined {
  const s = readString(ctx, v, what);
  if (s === undefined) return undefined;
  if (!NAME_RE.test(s) || s.length > LIMITS.netnsMax) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} is not a valid name: ${NAME_RULE} (at most ${LIMITS.netnsMax})`);
    return undefined;
  }
  return s;
}

type Family = 4 | 6 | 'any';

export function readCidr(ctx: Ctx, v: V, family: Family): Cidr | undefined {
  const n = v.node;
  const famText = family === 4 ? 'an IPv4 CIDR such as 198.18.1.0/24' : family === 6 ? 'an IPv6 CIDR' : 'an IPv4 or IPv6 CIDR such as 198.18.1.0/24';
  if (!isScalar(n) || typeof n.value !== 'string') {
    ctx.error(v.at, `${v.path}: expected ${famText}, got ${describe(v)}`);
    return undefined;
  }
  const r = parseCidr(n.value);
  if (!r.ok) {
    ctx.error(v.at, `${v.path}: ${r.error}; expected ${famText}`);
    return undefined;
  }
  if (family !== 'any' && r.cidr.family !== family) {
    ctx.error(v.at, `${v.path}: expected ${famText}, got the IPv${r.cidr.family} CIDR ${cidrToString(r.cidr)}`);
    return undefined;
  }
  return r.cidr;
}

export function readIpv4Cidr(ctx: Ctx, v: V): Ipv4Cidr | undefined {
  return readCidr(ctx, v, 4) as Ipv4Cidr | undefined;
}

/** A bare IPv4 address; returns the host-order u32. */
export function readIpv4(ctx: Ctx, v: V): number | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'string') {
    const a = parseIpv4(n.value);
    if (a !== undefined) return a;
    if (n.value.includes('/')) {
      ctx.error(v.at, `${v.path}: expected an IPv4 address without a prefix length, got ${describe(v)}`);
      return undefined;
    }
  }
  ctx.error(v.at, `${v.path}: expected an IPv4 address such as 198.18.1.10, got ${describe(v)}`);
  return undefined;
}

export function readMac(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a MAC address such as 02:00:00:00:00:01');
  if (s === undefined) return undefined;
  if (!/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(s)) {
    ctx.error(v.at, `${v.path}: expected a MAC address such as 02:00:00:00:00:01, got ${describe(v)}`);
    return undefined;
  }
  const mac = s.toLowerCase();
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) {
    ctx.error(v.at, `${v.path}: ${mac} is a multicast MAC address; an interface needs a unicast one (first octet even)`);
    return undefined;
  }
  if (mac === '00:00:00:00:00:00') {
    ctx.error(v.at, `${v.path}: the all-zero MAC address cannot be assigned`);
    return undefined;
  }
  return mac;
}

/** Linux dev_valid_name(): 1..15 bytes, not "." or "..", no "/", ":" or white space. */
export function readIfName(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'an interface name');
  if (s === undefined) return undefined;
  if (Buffer.byteLength(s) > LIMITS.ifnameMax || s === '.' || s === '..' || /[/:\s]/.test(s)) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} is not a valid Linux interface name (1 to 15 bytes, no "/", ":" or spaces, not "." or "..")`);
    return undefined;
  }
  return s;
}

export function netnsProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.length > LIMITS.netnsMax) {
    return `is not a valid network namespace name (1 to ${LIMITS.netnsMax} characters, no "/", not "." or "..")`;
  }
  return undefined;
}

export function readNetns(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a network namespace name');
  if (s === undefined) return undefined;
  const p = netnsProblem(s);
  if (p !== undefined) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} ${p}`);
    return undefined;
  }
  return s;
}

/** Relative paths are taken from the configuration file's directory. */
export function readPath(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a file path');
  return s === undefined ? undefined : resolvePath(dirname(ctx.file), s);
}

// ---------------------------------------------------------------------------
// Named sections: `subnets: { name: {...} }`.

export interface Entry {
  readonly name: string;
  readonly v: V;
}

export function readEntries(ctx: Ctx, v: V | undefined, kind: string): Entry[] {
  if (v === undefined) return [];
  const m = readMap(ctx, v, null);
  if (m === undefined) return [];
  const out: Entry[] = [];
  for (const [name, cv] of m) {
    if (!NAME_RE.test(name) || name.length > LIMITS.netnsMax) {
      ctx.error(cv.keyAt, `${cv.path}: ${JSON.stringify(name)} is not a valid ${kind} name: ${NAME_RULE}`);
      continue;
    }
    out.push({ name, v: cv });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Uniqueness claims (addresses, MACs, interface names), decided in file order.

interface Claim {
  readonly key: string;
  readonly owner: string;
  readonly v: V;
}

export class Claims {
  private readonly list: Claim[] = [];
  add(key: string, owner: string, v: V): void {
    this.list.push({ key, owner, v });
  }
  /** Reports every claim after the first on a key. */
  report(ctx: Ctx, message: (dup: Claim, first: Claim) => string): void {
    const first = new Map<string, Claim>();
    for (const c of [...this.list].sort((a, b) => a.v.at - b.v.at)) {
      const f = first.get(c.key);
      if (f === undefined) first.set(c.key, c);
      else ctx.error(c.v.at, message(c, f));
    }
  }
}

// ---------------------------------------------------------------------------
// References between sections: every section's names, collected first.

export interface Names {
  readonly subnets: ReadonlySet<string>;
  readonly networkAcls: ReadonlySet<string>;
  readonly securityGroups: ReadonlySet<string>;
  readonly prefixLists: ReadonlySet<string>;
  readonly instances: ReadonlySet<string>;
  readonly routeTables: ReadonlySet<string>;
  readonly natGateways: ReadonlySet<string>;
}

/** A gateway's `name`, which routes may target: not the route target keyword `blackhole`. */
export function readGatewayName(ctx: Ctx, v: V | undefined, dflt: string): string {
  if (v === undefined) return dflt;
  const s = readName(ctx, v, 'a name');
  if (s === 'blackhole') {
    ctx.error(v.at, `${v.path}: "blackhole" is the route target that drops packets; a gateway needs another name`);
    return dflt;
  }
  return s ?? dflt;
}

export function readRef(ctx: Ctx, v: V, kind: string, names: ReadonlySet<string>): string | undefined {
  const s = readString(ctx, v, `the name of a ${kind}`);
  if (s === undefined) return undefined;
  if (!names.has(s)) {
    ctx.error(v.at, `${v.path}: there is no ${kind} named ${JSON.stringify(s)}${hint(s, names)}`);
    return undefined;
  }
  return s;
}

// ---------------------------------------------------------------------------
// Addresses that must lie outside the VPC (gateways, tunnel ends, internet hosts).

export function checkOutsideVpc(ctx: Ctx, v: V, addr: number, vpcCidr: Ipv4Cidr | undefined, why: string): void {
  if (vpcCidr !== undefined && ipv4InCidr(vpcCidr, addr)) {
    ctx.error(v.at, `${v.path}: ${formatIpv4(addr)} is inside vpc.cidr ${cidrToString(vpcCidr)}; ${why}`);
  }
}
