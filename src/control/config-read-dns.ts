/**
 * Readers for the Amazon DNS server's keys: `privateZones` (Route 53 private
 * hosted zones: zone name -> records) and `dns` (the upstream resolvers that
 * names outside the VPC are forwarded to). Types in config-types.ts.
 */
import { isScalar } from 'yaml';
import { formatIpv6, parseIpv4, parseIpv6 } from './cidr.js';
import type { DnsConfig, DnsRecordType, DnsUpstream, PrivateZone, PrivateZoneRecord } from './config-types.js';
import { Ctx, describe, isNothing, readList, readMap, required, type V } from './config-issues.js';
import { readEnum, readInt, readString } from './config-read-values.js';

const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'SRV'];
/** Route 53's console default. */
export const DEFAULT_RECORD_TTL = 300;
/** Bounds so one file cannot make the server's tables unbounded. */
const LIMITS = { zones: 1000, recordsPerZone: 10_000, valuesPerRecord: 400, txtValue: 4000, upstreams: 8 } as const;

const LABEL_RE = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/**
 * A DNS name in lower case without the trailing dot, or why it is not one:
 * labels of 1..63 letters, digits, `-` and `_` (not starting or ending with
 * `-`), at most 253 characters in all.
 */
export function dnsNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  for (const label of name.split('.')) {
    if (label === '') return 'has an empty label (two dots in a row, or a leading dot)';
    if (label.length > 63) return `has the label "${label.slice(0, 20)}..." longer than 63 characters`;
    if (!LABEL_RE.test(label)) return `has the label "${label}": letters, digits, "-" and "_" only, not starting or ending with "-"`;
  }
  return undefined;
}

/** Lower case, trailing dot removed. */
function normName(s: string): string {
  return (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
}

function readDnsName(ctx: Ctx, v: V, what: string): string | undefined {
  const s = readString(ctx, v, what);
  if (s === undefined) return undefined;
  const n = normName(s);
  const p = dnsNameProblem(n);
  if (p !== undefined) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} is not a DNS name: it ${p}`);
    return undefined;
  }
  return n;
}

/** `privateZones:`: zone name -> { records: [...] }. */
export function readPrivateZones(ctx: Ctx, v: V | undefined): PrivateZone[] {
  if (v === undefined) return [];
  const zones = readMap(ctx, v, null);
  if (zones === undefined) return [];
  const out: PrivateZone[] = [];
  const seen = new Set<string>();
  if (zones.size > LIMITS.zones) ctx.error(v.at, `${v.path}: at most ${LIMITS.zones} zones`);
  for (const [key, zv] of zones) {
    const name = normName(key);
    const p = dnsNameProblem(name);
    if (p !== undefined) {
      ctx.error(zv.keyAt, `${zv.path}: ${JSON.stringify(key)} is not a zone name: it ${p}`);
      continue;
    }
    if (seen.has(name)) {
      ctx.error(zv.keyAt, `${zv.path}: the zone ${name} is already defined (names are case-insensitive)`);
      continue;
    }
    seen.add(name);
    const f = readMap(ctx, zv, ['records']);
    if (f === undefined) continue;
    const rv = f.get('records');
    const records = rv === undefined || isNothing(rv) ? [] : readRecords(ctx, rv, name);
    out.push({ name, records });
  }
  return out;
}

function readRecords(ctx: Ctx, v: V, zone: string): PrivateZoneRecord[] {
  const list = readList(ctx, v, 'a list of records such as { name: db, type: A, values: [198.18.2.20] }');
  if (list === undefined) return [];
  if (list.length > LIMITS.recordsPerZone) ctx.error(v.at, `${v.path}: at most ${LIMITS.recordsPerZone} records per zone`);
  const out: PrivateZoneRecord[] = [];
  const byNameType = new Map<string, V>();
  const cnames = new Map<string, V>();
  const others = new Map<string, V>();
  for (const rv of list) {
    const r = readRecord(ctx, rv, zone);
    if (r === undefined) continue;
    const key = `${r.name} ${r.type}`;
    const first = byNameType.get(key);
    if (first !== undefined) {
      ctx.error(rv.at, `${rv.path}: ${r.name} already has a record set of type ${r.type} at ${first.path}; put all values in one record's values`);
      continue;
    }
    byNameType.set(key, rv);
    // A CNAME owns its name alone (RFC 1034 3.6.2; Route 53 rejects the mix too).
    if (r.type === 'CNAME') {
      const o = others.get(r.name);
      if (o !== undefined) ctx.error(rv.at, `${rv.path}: ${r.name} has other records (${o.path}); a CNAME cannot share its name`);
      cnames.set(r.name, rv);
    } else {
      const c = cnames.get(r.name);
      if (c !== undefined) ctx.error(rv.at, `${rv.path}: ${r.name} is a CNAME (${c.path}); it cannot have other records`);
      if (!others.has(r.name)) others.set(r.name, rv);
    }
    out.push(r);
  }
  return out;
}

/**
 * A record's `name` is relative to the zone (`db` -> db.corp.internal; `@`
 * the apex) unless it is the zone name or ends with `.<zone>`, with or
 * without the trailing dot.
 */
function recordName(ctx: Ctx, v: V, zone: string): string | undefined {
  const n = v.node;
  if (isScalar(n) && n.value === '@') return zone;
  const s = readDnsName(ctx, v, 'a record name (relative to the zone, or ending with the zone name)');
  if (s === undefined) return undefined;
  const full = s === zone || s.endsWith(`.${zone}`) ? s : `${s}.${zone}`;
  const p = dnsNameProblem(full);
  if (p !== undefined) {
    ctx.error(v.at, `${v.path}: ${full} ${p}`);
    return undefined;
  }
  return full;
}

function readRecord(ctx: Ctx, v: V, zone: string): PrivateZoneRecord | undefined {
  const f = readMap(ctx, v, ['name', 'type', 'values', 'ttl']);
  if (f === undefined) return undefined;
  const nv = required(ctx, f, 'name', v);
  const tv = required(ctx, f, 'type', v, RECORD_TYPES.join(', '));
  const vv = required(ctx, f, 'values', v);
  const name = nv === undefined ? undefined : recordName(ctx, nv, zone);
  const type = tv === undefined ? undefined : readEnum(ctx, tv, RECORD_TYPES);
  const ttlv = f.get('ttl');
  const ttl = ttlv === undefined ? DEFAULT_RECORD_TTL : readInt(ctx, ttlv, 0, 2_147_483_647, 'seconds');
  if (name === undefined || type === undefined || vv === undefined || ttl === undefined) return undefined;
  const items = readList(ctx, vv, 'a list of values');
  if (items === undefined) return undefined;
  if (items.length === 0) {
    ctx.error(vv.at, `${vv.path}: a record needs at least one value`);
    return undefined;
  }
  if (items.length > LIMITS.valuesPerRecord) ctx.error(vv.at, `${vv.path}: at most ${LIMITS.valuesPerRecord} values`);
  if (type === 'CNAME' && items.length > 1) ctx.error(vv.at, `${vv.path}: a CNAME has exactly one value`);
  const values: string[] = [];
  for (const iv of items) {
    const x = readValue(ctx, iv, type);
    if (x !== undefined) values.push(x);
  }
  if (values.length !== items.length) return undefined;
  return { name, type, values, ttl };
}

function scalarText(v: V): string | undefined {
  const n = v.node;
  if (!isScalar(n)) return undefined;
  if (typeof n.value === 'string') return n.value;
  if (typeof n.value === 'number') return String(n.value);
  return undefined;
}

/** One value in Route 53's text form, normalised (names lower case, no trailing dot). */
function readValue(ctx: Ctx, v: V, type: DnsRecordType): string | undefined {
  const s = scalarText(v);
  const bad = (want: string): undefined => {
    ctx.error(v.at, `${v.path}: expected ${want}, got ${describe(v)}`);
    return undefined;
  };
  if (s === undefined || s === '') return bad(type === 'TXT' ? 'a text' : `a ${type} value`);
  switch (type) {
    case 'A':
      return parseIpv4(s) === undefined ? bad('an IPv4 address such as 198.18.2.20') : s;
    case 'AAAA': {
      const a = parseIpv6(s);
      return a === undefined ? bad('an IPv6 address such as 2001:db8::1') : formatIpv6(a);
    }
    case 'CNAME':
      return readDnsName(ctx, v, 'a DNS name');
    case 'TXT':
      if (Buffer.byteLength(s) > LIMITS.txtValue) return bad(`a text of at most ${LIMITS.txtValue} bytes`);
      return s;
    case 'MX': {
      const m = /^(\d{1,5})\s+(\S+)$/.exec(s);
      const pref = m === null ? NaN : Number(m[1]);
      const target = m === null ? undefined : normName(m[2] as string);
      if (target === undefined || !(pref <= 65535) || dnsNameProblem(target) !== undefined) {
        return bad('"preference mail-server" such as "10 mail.corp.internal"');
      }
      return `${pref} ${target}`;
    }
    case 'SRV': {
      const m = /^(\d{1,5})\s+(\d{1,5})\s+(\d{1,5})\s+(\S+)$/.exec(s);
      const nums = m === null ? [] : [m[1], m[2], m[3]].map(Number);
      const target = m === null ? undefined : normName(m[4] as string);
      if (target === undefined || nums.some((x) => !(x <= 65535)) || dnsNameProblem(target) !== undefined) {
        return bad('"priority weight port target" such as "10 5 5432 db.corp.internal"');
      }
      return `${nums.join(' ')} ${target}`;
    }
  }
}

/** `dns:`: `{ upstreams: ['203.0.113.53', '127.0.0.1:5353', '[2001:db8::53]:53'] }`. */
export function readDns(ctx: Ctx, v: V | undefined): DnsConfig {
  if (v === undefined) return { upstreams: [] };
  const f = readMap(ctx, v, ['upstreams']);
  const uv = f?.get('upstreams');
  if (uv === undefined || isNothing(uv)) return { upstreams: [] };
  const items = readList(ctx, uv, "a list of resolver addresses such as ['203.0.113.53', '127.0.0.1:5353']");
  if (items === undefined) return { upstreams: [] };
  if (items.length > LIMITS.upstreams) ctx.error(uv.at, `${uv.path}: at most ${LIMITS.upstreams} upstream resolvers`);
  const upstreams: DnsUpstream[] = [];
  for (const iv of items) {
    const s = readString(ctx, iv, 'a resolver address such as 203.0.113.53 or 127.0.0.1:5353');
    if (s === undefined) continue;
    const u = parseUpstream(s);
    if (typeof u === 'string') ctx.error(iv.at, `${iv.path}: ${JSON.stringify(s)} ${u}`);
    else upstreams.push(u);
  }
  return { upstreams };
}

/** `addr`, `addr:port`, `v6addr` or `[v6addr]:port`; port 53 when absent. */
export function parseUpstream(s: string): DnsUpstream | string {
  let host = s;
  let portText: string | undefined;
  const br = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (br !== null) {
    host = br[1] as string;
    portText = br[2];
  } else if (s.split(':').length === 2) {
    const i = s.indexOf(':');
    host = s.slice(0, i);
    portText = s.slice(i + 1);
  }
  let port = 53;
  if (portText !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535) return `has the port "${portText}": expected 1..65535`;
    port = Number(portText);
  }
  if (parseIpv4(host) !== undefined) return { host, port };
  const v6 = parseIpv6(host);
  if (v6 !== undefined) return { host: formatIpv6(v6), port };
  return 'is not an IPv4 or IPv6 address (with an optional :port; [addr]:port for IPv6)';
}
