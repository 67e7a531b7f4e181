/**
 * Configuration loader and validator: YAML text in, a normalised `VpcConfig`
 * out (see config-types.ts for the normalisation rules and docs/config.md for
 * the file format), or a `ConfigError` listing every problem found, each at
 * the line and column of the offending key or value.
 *
 * Three passes over the YAML tree (parsed with source ranges kept):
 * 1. shape: every key known, every value of the right type and range;
 * 2. cross-references and addressing: names resolve, addresses lie in their
 *    subnets and are unique, subnets do not overlap, ...;
 * 3. normalisation: defaults and implicit objects filled in.
 * Passes 1 and 2 run together section by section; issues are collected, never
 * thrown one at a time, and sorted into file order at the end.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import {
  cidrContains,
  cidrOverlaps,
  cidrToString,
  formatIpv4,
  ipv4InCidr,
  ipv4SubnetReserved,
  parseCidr,
  parseIpv4,
  type Cidr,
  type Ipv4Cidr,
} from './cidr.js';
import {
  ConfigError,
  PROTO,
  type Action,
  type ConfigIssue,
  type ConntrackConfig,
  type FlowLogsConfig,
  type Instance,
  type InternetGateway,
  type LabConfig,
  type NaclRule,
  type NatGateway,
  type NetworkAcl,
  type PortRange,
  type PrefixList,
  type Route,
  type RouteTable,
  type RouteTargetKind,
  type SecurityGroup,
  type SgRule,
  type SourcePos,
  type Subnet,
  type DirectConnectConfig,
  type VpcConfig,
  type VpnConnection,
  type VpnTunnel,
} from './config-types.js';
import { instanceMac, labDxIfName, labInstanceIfName, labUplinkIfName } from '../lab/names.js';

// ---------------------------------------------------------------------------
// Limits and defaults (docs/config.md explains each; AWS sources in
// shared aws-semantics notes: SG quota, NACL rule numbers, VPN tunnel options).

export const DEFAULTS = {
  accountId: '123456789012',
  conntrackMax: 262_144,
  timeouts: { tcpEstablished: 432_000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 },
  flowLogInterval: 600,
  metricsListen: '127.0.0.1:9469',
  batch: 64,
  natMaxConnectionsPerDestination: 55_000,
  natIdleTimeout: 350,
  igwName: 'igw',
  vgwName: 'vgw',
  vgwAsn: 64_512,
  cgwName: 'cgw',
  cgwAsn: 65_000,
  ikeProposals: ['aes256gcm16-prfsha256-ecp256'],
  espProposals: ['aes256gcm16-ecp256'],
  ikeLifetime: 28_800,
  espLifetime: 3_600,
  dpdTimeout: 30,
} as const;

const LIMITS = {
  /** AWS: VPC and subnet blocks are /16 to /28. */
  minPrefix: 16,
  maxPrefix: 28,
  /** AWS default quota of security groups per network interface. */
  maxGroupsPerInstance: 5,
  conntrackMax: 16_777_216,
  batchMax: 256,
  /** iproute2 accepts netns names up to NAME_MAX. */
  netnsMax: 255,
  ifnameMax: 15,
} as const;

const TIMEOUT_RANGES: Record<keyof ConntrackConfig['timeouts'], readonly [number, number, string]> = {
  tcpEstablished: [60, 432_000, 'AWS TcpEstablishedTimeout range'],
  udpStream: [60, 180, 'AWS UdpStreamTimeout range'],
  udp: [30, 60, 'AWS UdpTimeout range'],
  tcp: [1, 432_000, ''],
  icmp: [1, 432_000, ''],
  other: [1, 432_000, ''],
};

/** AWS reserves these /30s inside 169.254.0.0/16 for tunnel inside addresses. */
const RESERVED_INSIDE = ['169.254.0.0/30', '169.254.1.0/30', '169.254.2.0/30', '169.254.3.0/30', '169.254.4.0/30', '169.254.5.0/30', '169.254.169.252/30'];

/** Blocks that cannot hold a VPC: "this network", loopback, link-local, multicast, reserved. */
const FORBIDDEN_VPC: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

const NAME_RE = /^[A-Za-z0-9._-]+$/;
const NAME_RULE = 'names may contain only letters, digits, ".", "_" and "-"';

const TOP_KEYS = [
  'vpc', 'subnets', 'networkAcls', 'securityGroups', 'prefixLists', 'instances', 'routeTables',
  'internetGateway', 'natGateways', 'vpnGateway', 'customerGateway', 'vpnConnections',
  'conntrack', 'flowLogs', 'metrics', 'lab', 'dataplane',
] as const;

// ---------------------------------------------------------------------------
// Public API

/**
 * Parses and validates one configuration file's text. `file` is used in
 * messages and to resolve relative paths (flow log, PSK and certificate files)
 * against the file's directory. Throws `ConfigError` listing every problem.
 */
export function parseConfig(text: string, file: string): VpcConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const ctx = new Ctx(file, lc, doc);
  for (const e of doc.errors) ctx.error(e.pos[0], `YAML syntax error: ${yamlMessage(e.message)}`);
  for (const e of doc.warnings) ctx.error(e.pos[0], `YAML: ${yamlMessage(e.message)}`);
  if (ctx.issues.length > 0) throw new ConfigError(ctx.sortedIssues());
  const config = readRoot(ctx, doc.contents);
  if (ctx.issues.length > 0 || config === undefined) throw new ConfigError(ctx.sortedIssues());
  return config;
}

/** Reads `path` (UTF-8) and parses it. File-system errors are thrown as they are (ENOENT, EACCES...). */
export function loadConfig(path: string): VpcConfig {
  return parseConfig(readFileSync(path, 'utf8'), path);
}

/** `file:line:column: message`, the form every tool prints. */
export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.message}`;
}

// ---------------------------------------------------------------------------
// Issue collection and positions

class Ctx {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  private readonly order = new WeakMap<ConfigIssue, number>();
  constructor(
    readonly file: string,
    private readonly lc: LineCounter,
    readonly doc: Document,
  ) {}

  pos(offset: number): SourcePos {
    const p = this.lc.linePos(Math.max(0, offset));
    return { line: p.line, column: p.col };
  }

  error(offset: number, message: string): void {
    this.push(this.issues, offset, message);
  }

  warn(offset: number, message: string): void {
    this.push(this.warnings, offset, message);
  }

  private push(list: ConfigIssue[], offset: number, message: string): void {
    const p = this.pos(offset);
    const issue: ConfigIssue = { file: this.file, line: p.line, column: p.column, message };
    this.order.set(issue, offset);
    list.push(issue);
  }

  sortedIssues(): ConfigIssue[] {
    return sortIssues(this.issues, this.order);
  }

  sortedWarnings(): ConfigIssue[] {
    return sortIssues(this.warnings, this.order);
  }
}

function sortIssues(list: readonly ConfigIssue[], order: WeakMap<ConfigIssue, number>): ConfigIssue[] {
  // Stable sort by position; issues at one position keep the order they were found in.
  return list
    .map((issue, i) => ({ issue, i, at: order.get(issue) ?? 0 }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.issue);
}

function yamlMessage(m: string): string {
  // yaml's messages may carry a trailing source excerpt after a colon and newline.
  const first = m.split('\n')[0] ?? m;
  return first.replace(/:$/, '');
}

// ---------------------------------------------------------------------------
// A value in the tree: its node (aliases resolved), dotted path, and where to
// point when something is wrong with it.

interface V {
  readonly node: Node | null;
  readonly path: string;
  /** Offset of the value, or of its key when the value is empty. */
  readonly at: number;
  /** Offset of the key that owns the value (the value itself in a list). */
  readonly keyAt: number;
}

type Fields = Map<string, V>;

function childOf(ctx: Ctx, raw: unknown, path: string, keyAt: number): V {
  let node: Node | null = isNode(raw) ? (raw as Node) : null;
  let at = keyAt;
  if (node !== null && node.range) {
    const empty = isScalar(node) && node.value === null && node.range[0] === node.range[1];
    if (!empty) at = node.range[0];
  }
  if (node !== null && isAlias(node)) {
    const target = node.resolve(ctx.doc);
    node = target ?? null;
  }
  return { node, path, at, keyAt };
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = NAME_RE.test(key) ? key : JSON.stringify(key);
  return path === '' ? k : `${path}.${k}`;
}

function isNothing(v: V): boolean {
  return v.node === null || (isScalar(v.node) && v.node.value === null);
}

function describe(v: V): string {
  const n = v.node;
  if (n === null || (isScalar(n) && n.value === null)) return 'nothing';
  if (isMap(n)) return 'a mapping';
  if (isSeq(n)) return 'a list';
  if (isScalar(n)) return typeof n.value === 'string' ? JSON.stringify(n.value) : String(n.value);
  return 'an unsupported value';
}

/** Value text for messages about a value of the right type: `198.17.2.0/24`, `443`. */
function show(v: V): string {
  const n = v.node;
  return isScalar(n) && (typeof n.value === 'string' || typeof n.value === 'number') ? String(n.value) : describe(v);
}

// ---------------------------------------------------------------------------
// Did-you-mean

/** Optimal string alignment distance (Levenshtein plus adjacent transposition). */
function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The closest candidate when it is plausibly a typo of `word`. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

function hint(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  return s === undefined ? '' : ` (did you mean "${s}"?)`;
}

// ---------------------------------------------------------------------------
// Shape readers. Each reports its own problems and returns undefined on error.

interface MapOptions {
  /** Keys ignored without complaint (top level: `x-` extension keys for YAML anchors). */
  readonly ignore?: (key: string) => boolean;
}

/**
 * A mapping's keys and values. `allowed` null = any key (maps keyed by name).
 * An empty value (`key:` with nothing after it) counts as an empty mapping.
 */
function readMap(ctx: Ctx, v: V, allowed: readonly string[] | null, opts: MapOptions = {}): Fields | undefined {
  if (isNothing(v)) return new Map();
  const n = v.node;
  if (!isMap(n)) {
    ctx.error(v.at, `${v.path === '' ? 'the file' : v.path}: expected a mapping, got ${describe(v)}`);
    return undefined;
  }
  const out: Fields = new Map();
  for (const pair of n.items) {
    const k = childOf(ctx, pair.key, v.path, v.at);
    const kn = k.node;
    if (!isScalar(kn) || (typeof kn.value !== 'string' && typeof kn.value !== 'number')) {
      ctx.error(k.at, `${v.path === '' ? 'top level' : v.path}: keys must be plain names, got ${describe(k)}`);
      continue;
    }
    const key = String(kn.value);
    const path = join(v.path, key);
    if (opts.ignore?.(key)) continue;
    if (allowed !== null && !allowed.includes(key)) {
      const s = suggest(key, allowed);
      ctx.error(
        k.at,
        s !== undefined
          ? `${path}: unknown key (did you mean "${s}"?)`
          : `${path}: unknown key; expected one of ${allowed.join(', ')}`,
      );
      continue;
    }
    out.set(key, childOf(ctx, pair.value, path, k.at));
  }
  return out;
}

function readList(ctx: Ctx, v: V, what = 'a list'): V[] | undefined {
  const n = v.node;
  if (!isSeq(n)) {
    ctx.error(v.at, `${v.path}: expected ${what}, got ${describe(v)}${isNothing(v) ? ' (write [] for an empty list)' : ''}`);
    return undefined;
  }
  return n.items.map((item, i) => {
    const at = isNode(item) && item.range ? item.range[0] : v.at;
    return childOf(ctx, item, join(v.path, i), at);
  });
}

function required(ctx: Ctx, f: Fields, key: string, parent: V, what = ''): V | undefined {
  const v = f.get(key);
  if (v === undefined) ctx.error(parent.keyAt, `${join(parent.path, key)}: required key is missing${what ? ` (${what})` : ''}`);
  return v;
}

function readString(ctx: Ctx, v: V, what = 'a string'): string | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'string' && n.value !== '') return n.value;
  ctx.error(v.at, `${v.path}: expected ${what}, got ${isScalar(n) && n.value === '' ? 'an empty string' : describe(v)}`);
  return undefined;
}

function readInt(ctx: Ctx, v: V, min: number, max: number, note = ''): number | undefined {
  const n = v.node;
  const val = isScalar(n) ? n.value : undefined;
  if (typeof val === 'number' && Number.isInteger(val) && val >= min && val <= max) return val;
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
  ctx.error(v.at, `${v.path}: expected ${range}${note ? ` (${note})` : ''}, got ${describe(v)}`);
  return undefined;
}

function readBool(ctx: Ctx, v: V): boolean | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'boolean') return n.value;
  ctx.error(v.at, `${v.path}: expected true or false, got ${describe(v)}`);
  return undefined;
}

function readEnum<T extends string>(ctx: Ctx, v: V, options: readonly T[]): T | undefined {
  const n = v.node;
  if (isScalar(n) && typeof n.value === 'string' && (options as readonly string[]).includes(n.value)) return n.value as T;
  const got = isScalar(n) && typeof n.value === 'string' ? hint(n.value, options) : '';
  ctx.error(v.at, `${v.path}: expected one of ${options.join(', ')}, got ${describe(v)}${got}`);
  return undefined;
}

function readName(ctx: Ctx, v: V, what: string): string | undefined {
  const s = readString(ctx, v, what);
  if (s === undefined) return undefined;
  if (!NAME_RE.test(s) || s.length > LIMITS.netnsMax) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} is not a valid name: ${NAME_RULE} (at most ${LIMITS.netnsMax})`);
    return undefined;
  }
  return s;
}

type Family = 4 | 6 | 'any';

function readCidr(ctx: Ctx, v: V, family: Family): Cidr | undefined {
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

function readIpv4Cidr(ctx: Ctx, v: V): Ipv4Cidr | undefined {
  return readCidr(ctx, v, 4) as Ipv4Cidr | undefined;
}

/** A bare IPv4 address; returns the host-order u32. */
function readIpv4(ctx: Ctx, v: V): number | undefined {
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

function readMac(ctx: Ctx, v: V): string | undefined {
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
function readIfName(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'an interface name');
  if (s === undefined) return undefined;
  if (Buffer.byteLength(s) > LIMITS.ifnameMax || s === '.' || s === '..' || /[/:\s]/.test(s)) {
    ctx.error(v.at, `${v.path}: ${JSON.stringify(s)} is not a valid Linux interface name (1 to 15 bytes, no "/", ":" or spaces, not "." or "..")`);
    return undefined;
  }
  return s;
}

function netnsProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.length > LIMITS.netnsMax) {
    return `is not a valid network namespace name (1 to ${LIMITS.netnsMax} characters, no "/", not "." or "..")`;
  }
  return undefined;
}

function readNetns(ctx: Ctx, v: V): string | undefined {
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
function readPath(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a file path');
  return s === undefined ? undefined : resolvePath(dirname(ctx.file), s);
}

// ---------------------------------------------------------------------------
// Named sections: `subnets: { name: {...} }`.

interface Entry {
  readonly name: string;
  readonly v: V;
}

function readEntries(ctx: Ctx, v: V | undefined, kind: string): Entry[] {
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

class Claims {
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
// Rule matches shared by NACL and security-group rules.

const PROTO_NAMES: Record<string, number> = { tcp: PROTO.TCP, udp: PROTO.UDP, icmp: PROTO.ICMP, icmpv6: PROTO.ICMPV6, all: PROTO.ALL };

export function protocolName(p: number): string {
  for (const [name, n] of Object.entries(PROTO_NAMES)) if (n === p) return name;
  return String(p);
}

function readProtocol(ctx: Ctx, v: V): number | undefined {
  const n = v.node;
  let val: unknown = isScalar(n) ? n.value : undefined;
  if (typeof val === 'string') {
    if (Object.hasOwn(PROTO_NAMES, val)) return PROTO_NAMES[val];
    if (/^(-1|0|[1-9][0-9]{0,2})$/.test(val)) val = Number(val);
  }
  if (typeof val === 'number' && Number.isInteger(val) && val >= -1 && val <= 255) return val;
  const h = isScalar(n) && typeof n.value === 'string' ? hint(n.value, Object.keys(PROTO_NAMES)) : '';
  ctx.error(v.at, `${v.path}: expected tcp, udp, icmp, icmpv6, all (-1) or a protocol number 0..255, got ${describe(v)}${h}`);
  return undefined;
}

function readPorts(ctx: Ctx, v: V): PortRange | undefined {
  const n = v.node;
  const val = isScalar(n) ? n.value : undefined;
  let from: number | undefined;
  let to: number | undefined;
  if (typeof val === 'number' && Number.isInteger(val)) {
    from = to = val;
  } else if (typeof val === 'string') {
    const m = /^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$/.exec(val);
    if (m) {
      from = Number(m[1]);
      to = m[2] === undefined ? from : Number(m[2]);
    }
  }
  if (from === undefined || to === undefined) {
    ctx.error(v.at, `${v.path}: expected a port (0-65535) or a range such as 1024-65535, got ${describe(v)}`);
    return undefined;
  }
  if (from > 65535 || to > 65535 || from < 0) {
    ctx.error(v.at, `${v.path}: ports must be between 0 and 65535, got ${show(v)}`);
    return undefined;
  }
  if (from > to) {
    ctx.error(v.at, `${v.path}: the range ${from}-${to} is reversed; write ${to}-${from}`);
    return undefined;
  }
  return { from, to };
}

interface Match {
  readonly protocol: number;
  readonly ports?: PortRange;
  readonly icmpType: number;
  readonly icmpCode: number;
}

/** protocol, ports, icmpType, icmpCode of one rule, with AWS's rules for which apply. */
function readMatch(ctx: Ctx, f: Fields, item: V): Match | undefined {
  const pv = required(ctx, f, 'protocol', item, 'tcp, udp, icmp, icmpv6, all or a number');
  const protocol = pv === undefined ? undefined : readProtocol(ctx, pv);
  const portsV = f.get('ports');
  const ports = portsV === undefined ? undefined : readPorts(ctx, portsV);
  const typeV = f.get('icmpType');
  const codeV = f.get('icmpCode');
  const icmpType = typeV === undefined ? -1 : readInt(ctx, typeV, -1, 255, '-1 = all types');
  const icmpCode = codeV === undefined ? -1 : readInt(ctx, codeV, -1, 255, '-1 = all codes');
  if (protocol === undefined) return undefined;
  const isIcmp = protocol === PROTO.ICMP || protocol === PROTO.ICMPV6;
  let ok = true;
  if (portsV !== undefined && isIcmp) {
    ctx.error(portsV.keyAt, `${portsV.path}: ports do not apply to protocol ${protocolName(protocol)}; use icmpType and icmpCode`);
    ok = false;
  } else if (portsV !== undefined && protocol !== PROTO.TCP && protocol !== PROTO.UDP && ports !== undefined) {
    ctx.warn(
      portsV.keyAt,
      `${portsV.path}: ignored: with protocol ${protocolName(protocol)} the rule covers all ports (AWS ignores port ranges for protocol all and for protocols other than tcp, udp, icmp and icmpv6)`,
    );
  }
  for (const [fv, key] of [[typeV, 'icmpType'], [codeV, 'icmpCode']] as const) {
    if (fv !== undefined && !isIcmp) {
      ctx.error(fv.keyAt, `${fv.path}: ${key} only applies to protocol icmp or icmpv6, not ${protocolName(protocol)}`);
      ok = false;
    }
  }
  if (isIcmp && codeV !== undefined && icmpType === -1 && icmpCode !== undefined && icmpCode !== -1) {
    ctx.error(
      codeV.at,
      `${codeV.path}: icmpCode ${icmpCode} needs a specific icmpType (AWS: all types (-1) means all codes)`,
    );
    ok = false;
  }
  if (!ok || icmpType === undefined || icmpCode === undefined) return undefined;
  if (portsV !== undefined && ports === undefined) return undefined;
  const keepPorts = ports !== undefined && (protocol === PROTO.TCP || protocol === PROTO.UDP);
  return {
    protocol,
    ...(keepPorts ? { ports } : {}),
    icmpType: isIcmp ? icmpType : -1,
    icmpCode: isIcmp ? icmpCode : -1,
  };
}

function icmpFamilyWarning(ctx: Ctx, m: Match, family: 4 | 6, what: string, v: V): void {
  if (m.protocol === PROTO.ICMP && family === 6) {
    ctx.warn(v.at, `${v.path}: protocol icmp never matches IPv6 traffic; use icmpv6 for ${what}`);
  } else if (m.protocol === PROTO.ICMPV6 && family === 4) {
    ctx.warn(v.at, `${v.path}: protocol icmpv6 never matches IPv4 traffic; use icmp for ${what}`);
  }
}

// ---------------------------------------------------------------------------
// The root and its sections.

interface Names {
  readonly subnets: ReadonlySet<string>;
  readonly networkAcls: ReadonlySet<string>;
  readonly securityGroups: ReadonlySet<string>;
  readonly prefixLists: ReadonlySet<string>;
  readonly instances: ReadonlySet<string>;
  readonly routeTables: ReadonlySet<string>;
  readonly natGateways: ReadonlySet<string>;
}

function readRef(ctx: Ctx, v: V, kind: string, names: ReadonlySet<string>): string | undefined {
  const s = readString(ctx, v, `the name of a ${kind}`);
  if (s === undefined) return undefined;
  if (!names.has(s)) {
    ctx.error(v.at, `${v.path}: there is no ${kind} named ${JSON.stringify(s)}${hint(s, names)}`);
    return undefined;
  }
  return s;
}

interface SubnetInfo {
  readonly cidr: Ipv4Cidr | undefined;
}

function readRoot(ctx: Ctx, contents: unknown): VpcConfig | undefined {
  const root = childOf(ctx, contents, '', 0);
  if (isNothing(root)) {
    ctx.error(0, 'the file is empty: expected a mapping with at least vpc.name and vpc.cidr');
    return undefined;
  }
  const top = readMap(ctx, root, TOP_KEYS, { ignore: (k) => k.startsWith('x-') });
  if (top === undefined) return undefined;

  // Names first: every reference can then be checked wherever it appears.
  const entries = {
    subnets: readEntries(ctx, top.get('subnets'), 'subnet'),
    networkAcls: readEntries(ctx, top.get('networkAcls'), 'network ACL'),
    securityGroups: readEntries(ctx, top.get('securityGroups'), 'security group'),
    prefixLists: readEntries(ctx, top.get('prefixLists'), 'prefix list'),
    instances: readEntries(ctx, top.get('instances'), 'instance'),
    routeTables: readEntries(ctx, top.get('routeTables'), 'route table'),
    natGateways: readEntries(ctx, top.get('natGateways'), 'NAT gateway'),
    vpnConnections: readEntries(ctx, top.get('vpnConnections'), 'VPN connection'),
  };
  const nameSet = (list: Entry[], implicit?: string): Set<string> => {
    const s = new Set(list.map((e) => e.name));
    if (implicit !== undefined) s.add(implicit);
    return s;
  };
  const names: Names = {
    subnets: nameSet(entries.subnets),
    networkAcls: nameSet(entries.networkAcls, 'default'),
    securityGroups: nameSet(entries.securityGroups, 'default'),
    prefixLists: nameSet(entries.prefixLists),
    instances: nameSet(entries.instances),
    routeTables: nameSet(entries.routeTables, 'main'),
    natGateways: nameSet(entries.natGateways),
  };

  const vpc = readVpc(ctx, top.get('vpc'), root);
  const vpcCidr = vpc.cidr;
  const publicIps = new Claims();
  const privateIps = new Claims();
  const macs = new Claims();
  const ifnames = new Claims();

  const lab = readLab(ctx, top.get('lab'), vpc.name, vpcCidr, publicIps);
  const dataplane = readDataplane(ctx, top.get('dataplane'), top.has('lab') ? lab.prefix : undefined);

  const igw = readInternetGateway(ctx, top.get('internetGateway'), lab.prefix, vpcCidr, publicIps);
  const vgw = readVpnGateway(ctx, top.get('vpnGateway'), lab.prefix, vpcCidr);
  const cgw = readCustomerGateway(ctx, top.get('customerGateway'), lab.prefix, vpcCidr, publicIps);

  const { lists: prefixLists, families: prefixFamilies } = readPrefixLists(ctx, entries.prefixLists);
  const subnetInfo = new Map<string, SubnetInfo>();
  const subnets = readSubnets(ctx, entries.subnets, vpcCidr, names, subnetInfo);
  const networkAcls = readNetworkAcls(ctx, entries.networkAcls);
  const securityGroups = readSecurityGroups(ctx, entries.securityGroups, names, prefixFamilies);

  // Route targets share one namespace: gateways' fixed names, NAT gateways, instances.
  const reservedTargets = new Map<string, string>([
    ['local', 'the implicit local route'],
    ['igw', 'the internet gateway route target'],
    ['vgw', 'the VPN gateway route target'],
  ]);
  if (igw !== undefined && !reservedTargets.has(igw.name)) reservedTargets.set(igw.name, 'internetGateway.name');
  if (vgw !== undefined && !reservedTargets.has(vgw.name)) reservedTargets.set(vgw.name, 'vpnGateway.name');

  // The IGW uplink and the CGW WAN may share one interface; instances may not use either.
  const uplinks = new Map<string, string>();
  if (cgw?.wan.interface !== undefined) uplinks.set(cgw.wan.interface, 'customerGateway.wan.interface');
  if (igw !== undefined) uplinks.set(igw.interface, 'internetGateway.interface');
  const instances = readInstances(ctx, entries.instances, {
    names, subnetInfo, vpcCidr, labPrefix: lab.prefix, vpcName: vpc.name, hasIgw: igw !== undefined,
    publicIps, privateIps, macs, ifnames, uplinks, reservedTargets,
  });
  const natGateways = readNatGateways(ctx, entries.natGateways, {
    names, subnetInfo, vpcCidr, hasIgw: igw !== undefined, publicIps, privateIps, reservedTargets,
  });
  const vpnConnections = readVpnConnections(ctx, entries.vpnConnections, {
    vpcCidr, hasVgw: vgw !== undefined, cgw,
  });
  const routeTables = readRouteTables(ctx, entries.routeTables, {
    names, vpcCidr, igwNames: igw === undefined ? undefined : new Set(['igw', igw.name]),
    vgwNames: vgw !== undefined || entries.vpnConnections.length > 0 ? new Set(['vgw', vgw?.name ?? 'vgw']) : undefined,
  });

  privateIps.report(ctx, (d, f) => `${d.v.path}: ${d.key} is already used by ${f.owner}`);
  publicIps.report(ctx, (d, f) => `${d.v.path}: ${d.key} is already used by ${f.owner}`);
  macs.report(ctx, (d, f) => `${d.v.path}: MAC ${d.key} is already used by ${f.owner}`);
  ifnames.report(ctx, (d, f) => `${d.v.path}: interface ${JSON.stringify(d.key)} is already used by ${f.owner}`);

  const conntrack = readConntrack(ctx, top.get('conntrack'));
  const flowLogs = readFlowLogs(ctx, top.get('flowLogs'), instances.size);
  const metrics = readMetrics(ctx, top.get('metrics'));

  if (ctx.issues.length > 0 || vpcCidr === undefined) return undefined;
  const warnings = ctx.sortedWarnings();
  return {
    file: ctx.file,
    vpc: { name: vpc.name, cidr: cidrToString(vpcCidr), accountId: vpc.accountId },
    subnets,
    networkAcls,
    securityGroups,
    prefixLists,
    instances,
    routeTables,
    ...(igw !== undefined ? { internetGateway: igw } : {}),
    natGateways,
    ...(vgw !== undefined ? { vpnGateway: vgw } : {}),
    ...(cgw !== undefined ? { customerGateway: cgw } : {}),
    vpnConnections,
    conntrack,
    ...(flowLogs !== undefined ? { flowLogs } : {}),
    metrics,
    lab,
    dataplane,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

// --- vpc ---------------------------------------------------------------------

function readVpc(ctx: Ctx, v: V | undefined, root: V): { name: string; cidr: Ipv4Cidr | undefined; accountId: string } {
  const fallback = { name: 'vpc', cidr: undefined, accountId: DEFAULTS.accountId };
  if (v === undefined) {
    ctx.error(root.keyAt, 'vpc: required key is missing (the VPC\'s name and cidr)');
    return fallback;
  }
  const f = readMap(ctx, v, ['name', 'cidr', 'accountId']);
  if (f === undefined) return fallback;
  const nv = required(ctx, f, 'name', v);
  const name = (nv && readName(ctx, nv, 'a name')) ?? fallback.name;
  const cv = required(ctx, f, 'cidr', v, 'an IPv4 CIDR between /16 and /28');
  let cidr: Ipv4Cidr | undefined;
  if (cv !== undefined) {
    cidr = readIpv4Cidr(ctx, cv);
    if (cidr !== undefined && (cidr.prefix < LIMITS.minPrefix || cidr.prefix > LIMITS.maxPrefix)) {
      ctx.error(cv.at, `vpc.cidr: ${cidrToString(cidr)} has prefix length /${cidr.prefix}; AWS VPC blocks are /16 to /28`);
      cidr = undefined;
    }
    if (cidr !== undefined) {
      for (const [block, what] of FORBIDDEN_VPC) {
        const b = parseCidr(block);
        if (b.ok && cidrOverlaps(b.cidr, cidr)) {
          ctx.error(cv.at, `vpc.cidr: ${cidrToString(cidr)} overlaps ${block} (${what}), which cannot hold a VPC`);
          cidr = undefined;
          break;
        }
      }
    }
  }
  let accountId: string = DEFAULTS.accountId;
  const av = f.get('accountId');
  if (av !== undefined) {
    const n = av.node;
    const raw = isScalar(n) ? n.value : undefined;
    const text = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw).padStart(12, '0') : raw;
    if (typeof text === 'string' && /^[0-9]{12}$/.test(text)) accountId = text;
    else ctx.error(av.at, `vpc.accountId: expected a 12-digit AWS account id such as "123456789012", got ${describe(av)}`);
  }
  return { name, cidr, accountId };
}

// --- lab, dataplane ----------------------------------------------------------

function readLab(ctx: Ctx, v: V | undefined, vpcName: string, vpcCidr: Ipv4Cidr | undefined, publicIps: Claims): LabConfig {
  let prefix = vpcName;
  let internet: string | undefined;
  const internetHosts: Record<string, string> = {};
  const f = v === undefined ? undefined : readMap(ctx, v, ['prefix', 'internet', 'internetHosts']);
  if (v !== undefined && f !== undefined) {
    const pv = f.get('prefix');
    if (pv !== undefined) prefix = readName(ctx, pv, 'a namespace prefix') ?? prefix;
    const iv = f.get('internet');
    if (iv !== undefined) internet = readNetns(ctx, iv);
    for (const { name, v: hv } of readEntries(ctx, f.get('internetHosts'), 'internet host')) {
      const a = readIpv4(ctx, hv);
      if (a === undefined) continue;
      checkOutsideVpc(ctx, hv, a, vpcCidr, 'internet hosts need addresses outside the VPC');
      internetHosts[name] = formatIpv4(a);
      publicIps.add(formatIpv4(a), `lab.internetHosts.${name}`, hv);
    }
    for (const suffix of ['vpcd', 'internet']) {
      const p = netnsProblem(`${prefix}-${suffix}`);
      if (p !== undefined) ctx.error(f.get('prefix')?.at ?? v.keyAt, `lab.prefix: the namespace name "${prefix}-${suffix}" ${p}`);
    }
  }
  return { prefix, internet: internet ?? `${prefix}-internet`, internetHosts };
}

function readDataplane(ctx: Ctx, v: V | undefined, labPrefix: string | undefined): VpcConfig['dataplane'] {
  let netns = labPrefix === undefined ? undefined : `${labPrefix}-vpcd`;
  let batch: number = DEFAULTS.batch;
  let vnetHeader = true;
  if (v !== undefined) {
    const f = readMap(ctx, v, ['netns', 'batch', 'vnetHeader']);
    const hv = f?.get('vnetHeader');
    if (hv !== undefined) vnetHeader = readBool(ctx, hv) ?? vnetHeader;
    const nv = f?.get('netns');
    if (nv !== undefined) netns = readNetns(ctx, nv) ?? netns;
    const bv = f?.get('batch');
    if (bv !== undefined) batch = readInt(ctx, bv, 1, LIMITS.batchMax, 'frames per batch') ?? batch;
  }
  return { ...(netns !== undefined ? { netns } : {}), batch, vnetHeader };
}

// --- gateways ----------------------------------------------------------------

function checkOutsideVpc(ctx: Ctx, v: V, addr: number, vpcCidr: Ipv4Cidr | undefined, why: string): void {
  if (vpcCidr !== undefined && ipv4InCidr(vpcCidr, addr)) {
    ctx.error(v.at, `${v.path}: ${formatIpv4(addr)} is inside vpc.cidr ${cidrToString(vpcCidr)}; ${why}`);
  }
}

function readInternetGateway(
  ctx: Ctx, v: V | undefined, labPrefix: string, vpcCidr: Ipv4Cidr | undefined, publicIps: Claims,
): InternetGateway | undefined {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['name', 'interface', 'uplinkIp']) ?? new Map<string, V>();
  const nv = f.get('name');
  const name = (nv && readName(ctx, nv, 'a name')) ?? DEFAULTS.igwName;
  const iv = f.get('interface');
  const iface = (iv && readIfName(ctx, iv)) ?? labUplinkIfName(labPrefix);
  const uv = f.get('uplinkIp');
  let uplinkIp: string | undefined;
  if (uv !== undefined) {
    const a = readIpv4(ctx, uv);
    if (a !== undefined) {
      checkOutsideVpc(ctx, uv, a, vpcCidr, 'the uplink address must be outside the VPC');
      uplinkIp = formatIpv4(a);
      publicIps.add(uplinkIp, 'internetGateway.uplinkIp', uv);
    }
  }
  return { name, interface: iface, ...(uplinkIp !== undefined ? { uplinkIp } : {}) };
}

function readVpnGateway(ctx: Ctx, v: V | undefined, labPrefix: string, vpcCidr: Ipv4Cidr | undefined): VpcConfig['vpnGateway'] {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['name', 'asn', 'directConnect']) ?? new Map<string, V>();
  const nv = f.get('name');
  const av = f.get('asn');
  const dx = readDirectConnect(ctx, f.get('directConnect'), v, labPrefix, vpcCidr);
  return {
    name: (nv && readName(ctx, nv, 'a name')) ?? DEFAULTS.vgwName,
    asn: (av && readInt(ctx, av, 1, 4_294_967_294, 'a BGP ASN')) ?? DEFAULTS.vgwAsn,
    ...(dx ? { directConnect: dx } : {}),
  };
}

/** `directConnect: { ip, peer, remoteNetworks, interface?, prefixLen? }` on either gateway. */
function readDirectConnect(ctx: Ctx, v: V | undefined, parent: V, labPrefix: string, vpcCidr: Ipv4Cidr | undefined): DirectConnectConfig | undefined {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['ip', 'peer', 'remoteNetworks', 'interface', 'prefixLen']);
  if (f === undefined) return undefined;
  const ipv = required(ctx, f, 'ip', v, "vpcd's address on the link, e.g. 169.254.100.1");
  const pv = required(ctx, f, 'peer', v, "the other end's address, e.g. 169.254.100.2");
  const ip = ipv && readIpv4(ctx, ipv);
  const peer = pv && readIpv4(ctx, pv);
  const lv = f.get('prefixLen');
  const prefixLen = (lv && readInt(ctx, lv, 8, 31, 'the link prefix length')) ?? 30;
  const remoteNetworks = readNetworks(ctx, f.get('remoteNetworks'), v, 'remoteNetworks', undefined, vpcCidr);
  const iv = f.get('interface');
  const iface = (iv && readIfName(ctx, iv)) ?? labDxIfName(labPrefix);
  if (ip !== undefined && vpcCidr !== undefined) checkOutsideVpc(ctx, ipv!, ip, vpcCidr, 'the link address must be outside the site\'s own network');
  if (ip !== undefined && peer !== undefined && ip === peer) ctx.error(pv!.at, `${pv!.path}: the peer must differ from ip`);
  void parent;
  if (ip === undefined || peer === undefined || remoteNetworks === undefined) return undefined;
  return { ip: formatIpv4(ip), peer: formatIpv4(peer), remoteNetworks, interface: iface, prefixLen };
}

function readCustomerGateway(
  ctx: Ctx, v: V | undefined, labPrefix: string, vpcCidr: Ipv4Cidr | undefined, publicIps: Claims,
): VpcConfig['customerGateway'] {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['name', 'asn', 'wan', 'directConnect']) ?? new Map<string, V>();
  const nv = f.get('name');
  const av = f.get('asn');
  const dx = readDirectConnect(ctx, f.get('directConnect'), v, labPrefix, vpcCidr);
  const name = (nv && readName(ctx, nv, 'a name')) ?? DEFAULTS.cgwName;
  const asn = (av && readInt(ctx, av, 1, 2_147_483_647, 'AWS customer gateway ASN range')) ?? DEFAULTS.cgwAsn;
  let ip = '0.0.0.0';
  let iface = labUplinkIfName(labPrefix);
  const wv = required(ctx, f, 'wan', v, 'the WAN address, e.g. { ip: 198.51.100.2 }');
  if (wv !== undefined) {
    const wf = readMap(ctx, wv, ['ip', 'interface']);
    if (wf !== undefined) {
      const ipv = required(ctx, wf, 'ip', wv, 'the public IPv4 address of this customer gateway');
      const a = ipv && readIpv4(ctx, ipv);
      if (ipv !== undefined && a !== undefined) {
        checkOutsideVpc(ctx, ipv, a, vpcCidr, 'the WAN address must be outside the site\'s own network');
        ip = formatIpv4(a);
        publicIps.add(ip, 'customerGateway.wan.ip', ipv);
      }
      // The IGW uplink and the CGW WAN may share one interface (the lab's default does).
      const iv = wf.get('interface');
      if (iv !== undefined) iface = readIfName(ctx, iv) ?? iface;
    }
  }
  return { name, asn, wan: { ip, interface: iface }, ...(dx ? { directConnect: dx } : {}) };
}

// --- prefix lists ------------------------------------------------------------

/** Prefix lists, and each list's address family (undefined when empty) for rule checks. */
function readPrefixLists(ctx: Ctx, entries: Entry[]): { lists: Map<string, PrefixList>; families: Map<string, 4 | 6 | undefined> } {
  const lists = new Map<string, PrefixList>();
  const families = new Map<string, 4 | 6 | undefined>();
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['cidrs', 'description']);
    const cidrs: string[] = [];
    let family: 4 | 6 | undefined;
    if (f !== undefined) {
      const dv = f.get('description');
      if (dv !== undefined) readString(ctx, dv, 'a description');
      const lv = required(ctx, f, 'cidrs', v, 'a list of CIDRs');
      const items = lv === undefined ? [] : readList(ctx, lv) ?? [];
      const seen = new Map<string, string>();
      for (const item of items) {
        const c = readCidr(ctx, item, 'any');
        if (c === undefined) continue;
        const text = cidrToString(c);
        if (family === undefined) family = c.family;
        else if (c.family !== family) {
          ctx.error(item.at, `${item.path}: ${text} is IPv${c.family} but the list's first entry is IPv${family}; a prefix list holds one address family`);
          continue;
        }
        const first = seen.get(text);
        if (first !== undefined) ctx.error(item.at, `${item.path}: ${text} is already listed at ${first}`);
        else {
          seen.set(text, item.path);
          cidrs.push(text);
        }
      }
    }
    lists.set(name, { name, cidrs });
    families.set(name, family);
  }
  return { lists, families };
}

// --- subnets -----------------------------------------------------------------

function readSubnets(
  ctx: Ctx, entries: Entry[], vpcCidr: Ipv4Cidr | undefined, names: Names, info: Map<string, SubnetInfo>,
): Map<string, Subnet> {
  const out = new Map<string, Subnet>();
  const placed: { name: string; cidr: Ipv4Cidr }[] = [];
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['cidr', 'routeTable', 'networkAcl']) ?? new Map<string, V>();
    const cv = isMap(v.node) || isNothing(v) ? required(ctx, f, 'cidr', v, 'an IPv4 CIDR inside vpc.cidr') : undefined;
    let cidr = cv === undefined ? undefined : readIpv4Cidr(ctx, cv);
    if (cv !== undefined && cidr !== undefined) {
      const text = cidrToString(cidr);
      if (cidr.prefix < LIMITS.minPrefix || cidr.prefix > LIMITS.maxPrefix) {
        ctx.error(cv.at, `${cv.path}: ${text} has prefix length /${cidr.prefix}; AWS subnets are /16 to /28`);
        cidr = undefined;
      } else if (vpcCidr !== undefined && !cidrContains(vpcCidr, cidr)) {
        ctx.error(cv.at, `${cv.path}: ${show(cv)} is not inside vpc.cidr ${cidrToString(vpcCidr)}`);
        cidr = undefined;
      } else {
        const clash = placed.find((p) => cidrOverlaps(p.cidr, cidr as Ipv4Cidr));
        if (clash !== undefined) {
          ctx.error(cv.at, `${cv.path}: ${text} overlaps subnets.${clash.name}.cidr ${cidrToString(clash.cidr)}`);
        } else placed.push({ name, cidr });
      }
    }
    info.set(name, { cidr });
    const rv = f.get('routeTable');
    const av = f.get('networkAcl');
    const routeTable = (rv && readRef(ctx, rv, 'route table', names.routeTables)) ?? 'main';
    const networkAcl = (av && readRef(ctx, av, 'network ACL', names.networkAcls)) ?? 'default';
    out.set(name, { name, cidr: cidr === undefined ? '0.0.0.0/0' : cidrToString(cidr), routeTable, networkAcl });
  }
  return out;
}

// --- network ACLs ------------------------------------------------------------

const NACL_RULE_KEYS = ['rule', 'action', 'protocol', 'ports', 'icmpType', 'icmpCode', 'cidr', 'group', 'prefixList'] as const;

function readNetworkAcls(ctx: Ctx, entries: Entry[]): Map<string, NetworkAcl> {
  const out = new Map<string, NetworkAcl>();
  const hasDefault = entries.some((e) => e.name === 'default');
  if (!hasDefault) {
    const all = (): NaclRule => ({ rule: 100, action: 'allow', protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' });
    out.set('default', { name: 'default', inbound: [all()], outbound: [all()] });
  }
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['inbound', 'outbound']) ?? new Map<string, V>();
    const iv = f.get('inbound');
    const ov = f.get('outbound');
    out.set(name, {
      name,
      inbound: iv === undefined ? [] : readNaclRules(ctx, iv),
      outbound: ov === undefined ? [] : readNaclRules(ctx, ov),
    });
  }
  return out;
}

function readNaclRules(ctx: Ctx, v: V): NaclRule[] {
  const out: NaclRule[] = [];
  const numbers = new Map<number, string>();
  for (const item of readList(ctx, v, 'a list of rules') ?? []) {
    const f = readMap(ctx, item, NACL_RULE_KEYS);
    if (f === undefined) continue;
    const rv = required(ctx, f, 'rule', item, 'a rule number 1..32766');
    const rule = rv && readInt(ctx, rv, 1, 32766, 'NACL rule numbers; 32767 and above are reserved by AWS');
    if (rv !== undefined && rule !== undefined) {
      const first = numbers.get(rule);
      if (first !== undefined) ctx.error(rv.at, `${rv.path}: rule number ${rule} is already used by ${first}`);
      else numbers.set(rule, item.path);
    }
    const av = required(ctx, f, 'action', item, 'allow or deny');
    const action = av && readEnum<Action>(ctx, av, ['allow', 'deny']);
    const m = readMatch(ctx, f, item);
    for (const k of ['group', 'prefixList'] as const) {
      const x = f.get(k);
      if (x !== undefined) {
        ctx.error(x.keyAt, `${x.path}: network ACL rules match on cidr only (${k === 'group' ? 'security groups can be referenced only by security-group rules' : 'AWS network ACL entries do not take prefix lists'})`);
      }
    }
    const cv = required(ctx, f, 'cidr', item, 'the source (inbound) or destination (outbound) CIDR');
    const cidr = cv && readCidr(ctx, cv, 'any');
    if (m !== undefined && cidr !== undefined && cv !== undefined) icmpFamilyWarning(ctx, m, cidr.family, cidrToString(cidr), cv);
    if (rule === undefined || action === undefined || m === undefined || cidr === undefined) continue;
    out.push({ rule, action, ...m, cidr: cidrToString(cidr), pos: ctx.pos(item.at) });
  }
  return out;
}

// --- security groups ---------------------------------------------------------

const SG_RULE_KEYS = ['protocol', 'ports', 'icmpType', 'icmpCode', 'cidr', 'group', 'prefixList', 'description'] as const;

function readSecurityGroups(
  ctx: Ctx, entries: Entry[], names: Names, prefixFamilies: ReadonlyMap<string, 4 | 6 | undefined>,
): Map<string, SecurityGroup> {
  const out = new Map<string, SecurityGroup>();
  if (!entries.some((e) => e.name === 'default')) {
    out.set('default', {
      name: 'default',
      ingress: [{ index: 0, protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, group: 'default' }],
      egress: [allOutbound()],
    });
  }
  for (const { name, v } of entries) {
    if (name.toLowerCase().startsWith('sg-')) {
      ctx.error(v.keyAt, `securityGroups.${name}: security group names cannot start with "sg-" (AWS reserves it for group ids)`);
    }
    const f = readMap(ctx, v, ['ingress', 'egress', 'description']) ?? new Map<string, V>();
    const dv = f.get('description');
    const description = dv && readDescription(ctx, dv);
    const iv = f.get('ingress');
    const ev = f.get('egress');
    out.set(name, {
      name,
      ...(description !== undefined ? { description } : {}),
      ingress: iv === undefined ? [] : readSgRules(ctx, iv, names, prefixFamilies),
      // AWS: a new group starts with one outbound rule allowing all traffic.
      egress: ev === undefined ? [allOutbound()] : readSgRules(ctx, ev, names, prefixFamilies),
    });
  }
  return out;
}

function allOutbound(): SgRule {
  return { index: 0, protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' };
}

function readDescription(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a description');
  if (s !== undefined && s.length > 255) {
    ctx.error(v.at, `${v.path}: descriptions are at most 255 characters (AWS), got ${s.length}`);
    return undefined;
  }
  return s;
}

function readSgRules(ctx: Ctx, v: V, names: Names, prefixFamilies: ReadonlyMap<string, 4 | 6 | undefined>): SgRule[] {
  const out: SgRule[] = [];
  const items = readList(ctx, v, 'a list of rules') ?? [];
  items.forEach((item, index) => {
    const f = readMap(ctx, item, SG_RULE_KEYS);
    if (f === undefined) return;
    const m = readMatch(ctx, f, item);
    const given = (['cidr', 'group', 'prefixList'] as const).filter((k) => f.has(k));
    if (given.length === 0) {
      ctx.error(item.at, `${item.path}: a rule needs one of cidr, group or prefixList (the ${v.path.endsWith('.egress') ? 'destination' : 'source'})`);
      return;
    }
    if (given.length > 1) {
      const second = f.get(given[1] as string) as V;
      ctx.error(second.keyAt, `${item.path}: a rule takes exactly one of cidr, group or prefixList, got ${given.join(' and ')}`);
      return;
    }
    const dv = f.get('description');
    const description = dv && readDescription(ctx, dv);
    const kind = given[0] as 'cidr' | 'group' | 'prefixList';
    const tv = f.get(kind) as V;
    let target: { cidr: string } | { group: string } | { prefixList: string } | undefined;
    if (kind === 'cidr') {
      const c = readCidr(ctx, tv, 'any');
      if (c !== undefined) {
        target = { cidr: cidrToString(c) };
        if (m !== undefined) icmpFamilyWarning(ctx, m, c.family, cidrToString(c), tv);
      }
    } else if (kind === 'group') {
      const g = readRef(ctx, tv, 'security group', names.securityGroups);
      if (g !== undefined) target = { group: g };
    } else {
      const p = readRef(ctx, tv, 'prefix list', names.prefixLists);
      if (p !== undefined) {
        target = { prefixList: p };
        const fam = prefixFamilies.get(p);
        if (m !== undefined && fam !== undefined) icmpFamilyWarning(ctx, m, fam, `prefix list ${p}`, tv);
      }
    }
    if (m === undefined || target === undefined || (dv !== undefined && description === undefined)) return;
    out.push({ index, ...m, ...target, ...(description !== undefined ? { description } : {}), pos: ctx.pos(item.at) });
  });
  return out;
}

// --- instances ---------------------------------------------------------------

interface AddrEnv {
  readonly names: Names;
  readonly subnetInfo: ReadonlyMap<string, SubnetInfo>;
  readonly vpcCidr: Ipv4Cidr | undefined;
  readonly hasIgw: boolean;
  readonly publicIps: Claims;
  readonly privateIps: Claims;
  readonly reservedTargets: ReadonlyMap<string, string>;
}

interface InstanceEnv extends AddrEnv {
  readonly labPrefix: string;
  readonly vpcName: string;
  readonly macs: Claims;
  readonly ifnames: Claims;
  /** Uplink interface names and the key that set them. */
  readonly uplinks: ReadonlyMap<string, string>;
}

/** The private address of an ENI or NAT gateway: in its subnet, not reserved. */
function readPrivateIp(ctx: Ctx, v: V, subnet: string | undefined, env: AddrEnv, owner: string): string | undefined {
  const a = readIpv4(ctx, v);
  if (a === undefined) return undefined;
  const text = formatIpv4(a);
  const sc = subnet === undefined ? undefined : env.subnetInfo.get(subnet)?.cidr;
  if (sc !== undefined) {
    if (!ipv4InCidr(sc, a)) {
      ctx.error(v.at, `${v.path}: ${text} is not inside subnet ${subnet} (${cidrToString(sc)})`);
      return undefined;
    }
    const r = ipv4SubnetReserved(sc, a);
    if (r !== undefined) {
      ctx.error(v.at, `${v.path}: ${text} is reserved in subnet ${subnet} (${cidrToString(sc)}): ${r}; the first four addresses and the last one cannot be assigned`);
      return undefined;
    }
  }
  env.privateIps.add(text, owner, v);
  return text;
}

function readPublicIp(ctx: Ctx, v: V, env: AddrEnv, owner: string): string | undefined {
  const a = readIpv4(ctx, v);
  if (a === undefined) return undefined;
  const text = formatIpv4(a);
  if (env.vpcCidr !== undefined && ipv4InCidr(env.vpcCidr, a)) {
    ctx.error(v.at, `${v.path}: ${text} is inside vpc.cidr ${cidrToString(env.vpcCidr)}; a public address must be outside the VPC`);
    return undefined;
  }
  if (!env.hasIgw) {
    ctx.error(v.keyAt, `${v.path}: a public address needs an internetGateway (AWS: the VPC must have an internet gateway attached)`);
  }
  env.publicIps.add(text, owner, v);
  return text;
}

function checkTargetName(ctx: Ctx, v: V, kindPath: string, env: AddrEnv, name: string): void {
  const r = env.reservedTargets.get(name);
  if (r !== undefined) ctx.error(v.keyAt, `${kindPath}: the name ${JSON.stringify(name)} is taken by ${r}; route targets would be ambiguous`);
}

function readInstances(ctx: Ctx, entries: Entry[], env: InstanceEnv): Map<string, Instance> {
  const out = new Map<string, Instance>();
  const keys = ['subnet', 'ip', 'publicIp', 'securityGroups', 'sourceDestCheck', 'natInstance', 'mac', 'interface'];
  for (const { name, v } of entries) {
    const path = v.path;
    checkTargetName(ctx, v, path, env, name);
    const ns = netnsProblem(`${env.labPrefix}-${name}`);
    if (ns !== undefined) ctx.error(v.keyAt, `${path}: the lab namespace name "${env.labPrefix}-${name}" ${ns}`);
    const f = readMap(ctx, v, keys);
    if (f === undefined) continue;
    const sv = required(ctx, f, 'subnet', v, 'the name of the subnet the ENI is in');
    const subnet = sv && readRef(ctx, sv, 'subnet', env.names.subnets);
    const iv = required(ctx, f, 'ip', v, 'the private IPv4 address in the subnet');
    const ip = iv && readPrivateIp(ctx, iv, subnet, env, path);
    const pv = f.get('publicIp');
    const publicIp = pv && readPublicIp(ctx, pv, env, path);

    let securityGroups: string[] = ['default'];
    const gv = f.get('securityGroups');
    if (gv !== undefined) {
      const items = readList(ctx, gv, 'a list of 1 to 5 security group names') ?? [];
      securityGroups = [];
      if (isSeq(gv.node) && (items.length < 1 || items.length > LIMITS.maxGroupsPerInstance)) {
        ctx.error(gv.at, `${gv.path}: an instance has 1 to ${LIMITS.maxGroupsPerInstance} security groups (AWS default quota), got ${items.length}`);
      }
      for (const item of items) {
        const g = readRef(ctx, item, 'security group', env.names.securityGroups);
        if (g === undefined) continue;
        if (securityGroups.includes(g)) ctx.error(item.at, `${item.path}: security group ${JSON.stringify(g)} is listed twice`);
        else securityGroups.push(g);
      }
    }
    const dv = f.get('sourceDestCheck');
    const sourceDestCheck = (dv && readBool(ctx, dv)) ?? true;
    const nv = f.get('natInstance');
    const natInstance = (nv && readBool(ctx, nv)) ?? false;
    const mv = f.get('mac');
    let mac = instanceMac(env.vpcName, name);
    if (mv !== undefined) mac = readMac(ctx, mv) ?? mac;
    env.macs.add(mac, path, mv ?? v);
    const fv = f.get('interface');
    let iface = labInstanceIfName(env.labPrefix, name);
    if (fv !== undefined) iface = readIfName(ctx, fv) ?? iface;
    env.ifnames.add(iface, path, fv ?? v);
    const uplink = env.uplinks.get(iface);
    if (uplink !== undefined) ctx.error((fv ?? v).at, `${fv?.path ?? path}: interface ${JSON.stringify(iface)} is the uplink (${uplink})`);
    if (subnet === undefined || ip === undefined) continue;
    out.set(name, {
      name, subnet, ip, ...(publicIp !== undefined ? { publicIp } : {}),
      securityGroups, sourceDestCheck, natInstance, mac, interface: iface,
    });
  }
  return out;
}

// --- NAT gateways ------------------------------------------------------------

function readNatGateways(ctx: Ctx, entries: Entry[], env: AddrEnv): Map<string, NatGateway> {
  const out = new Map<string, NatGateway>();
  const keys = ['subnet', 'type', 'ip', 'publicIp', 'maxConnectionsPerDestination', 'idleTimeout'];
  for (const { name, v } of entries) {
    const path = v.path;
    checkTargetName(ctx, v, path, env, name);
    if (env.names.instances.has(name)) {
      ctx.error(v.keyAt, `${path}: an instance has the same name; route targets would be ambiguous`);
    }
    const f = readMap(ctx, v, keys);
    if (f === undefined) continue;
    const sv = required(ctx, f, 'subnet', v, 'the subnet the gateway is in');
    const subnet = sv && readRef(ctx, sv, 'subnet', env.names.subnets);
    const tv = f.get('type');
    const typeRead = tv && readEnum(ctx, tv, ['public', 'private'] as const);
    const type = typeRead ?? 'public';
    const iv = required(ctx, f, 'ip', v, 'its private IPv4 address in the subnet');
    const ip = iv && readPrivateIp(ctx, iv, subnet, env, path);
    const pv = f.get('publicIp');
    let publicIp: string | undefined;
    if (type === 'public' && pv === undefined && (tv === undefined || typeRead !== undefined)) {
      ctx.error(v.keyAt, `${path}.publicIp: required key is missing (a public NAT gateway needs a public address; use type: private for none)`);
    } else if (type === 'private' && pv !== undefined) {
      ctx.error(pv.keyAt, `${pv.path}: a private NAT gateway has no public address`);
    } else if (pv !== undefined) {
      publicIp = readPublicIp(ctx, pv, env, path);
    }
    const mv = f.get('maxConnectionsPerDestination');
    const maxConnectionsPerDestination = (mv && readInt(ctx, mv, 1, 64_512, 'per destination ip, port and protocol')) ?? DEFAULTS.natMaxConnectionsPerDestination;
    const dv = f.get('idleTimeout');
    const idleTimeout = (dv && readInt(ctx, dv, 1, 432_000, 'seconds')) ?? DEFAULTS.natIdleTimeout;
    if (subnet === undefined || ip === undefined) continue;
    out.set(name, {
      name, subnet, type, ip, ...(publicIp !== undefined ? { publicIp } : {}),
      maxConnectionsPerDestination, idleTimeout,
    });
  }
  return out;
}

// --- route tables ------------------------------------------------------------

interface RouteEnv {
  readonly names: Names;
  readonly vpcCidr: Ipv4Cidr | undefined;
  readonly igwNames: ReadonlySet<string> | undefined;
  readonly vgwNames: ReadonlySet<string> | undefined;
}

function readRouteTables(ctx: Ctx, entries: Entry[], env: RouteEnv): Map<string, RouteTable> {
  const out = new Map<string, RouteTable>();
  if (!entries.some((e) => e.name === 'main')) out.set('main', { name: 'main', routes: [] });
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['routes']) ?? new Map<string, V>();
    const rv = f.get('routes');
    const routes: Route[] = [];
    const seen = new Map<string, string>();
    for (const item of rv === undefined ? [] : readList(ctx, rv, 'a list of routes') ?? []) {
      const rf = readMap(ctx, item, ['destination', 'target']);
      if (rf === undefined) continue;
      const dv = required(ctx, rf, 'destination', item, 'an IPv4 CIDR');
      let dest = dv && readIpv4Cidr(ctx, dv);
      if (dv !== undefined && dest !== undefined) {
        const text = cidrToString(dest);
        const first = seen.get(text);
        if (env.vpcCidr !== undefined && text === cidrToString(env.vpcCidr)) {
          ctx.error(dv.at, `${dv.path}: ${text} is vpc.cidr, whose local route is implicit in every table and cannot be replaced`);
          dest = undefined;
        } else if (first !== undefined) {
          ctx.error(dv.at, `${dv.path}: destination ${text} is already routed by ${first}`);
          dest = undefined;
        } else seen.set(text, item.path);
      }
      const tv = required(ctx, rf, 'target', item, 'igw, vgw, a NAT gateway or an instance');
      const target = tv && readTarget(ctx, tv, env);
      if (dest === undefined || target === undefined) continue;
      routes.push({ destination: cidrToString(dest), ...target });
    }
    out.set(name, { name, routes });
  }
  return out;
}

function readTarget(ctx: Ctx, v: V, env: RouteEnv): { target: string; targetKind: RouteTargetKind } | undefined {
  const s = readString(ctx, v, 'a route target');
  if (s === undefined) return undefined;
  if (s === 'local') {
    ctx.error(v.at, `${v.path}: the local route (vpc.cidr to local) is implicit in every table; routes cannot target local`);
    return undefined;
  }
  if (s === 'igw' || (env.igwNames?.has(s) ?? false)) {
    if (env.igwNames === undefined) {
      ctx.error(v.at, `${v.path}: target igw needs an internetGateway section`);
      return undefined;
    }
    return { target: 'igw', targetKind: 'igw' };
  }
  if (s === 'vgw' || (env.vgwNames?.has(s) ?? false)) {
    if (env.vgwNames === undefined) {
      ctx.error(v.at, `${v.path}: target vgw needs a vpnGateway or a vpnConnections entry`);
      return undefined;
    }
    return { target: 'vgw', targetKind: 'vgw' };
  }
  if (env.names.natGateways.has(s)) return { target: s, targetKind: 'nat-gateway' };
  if (env.names.instances.has(s)) return { target: s, targetKind: 'instance' };
  const candidates = ['igw', 'vgw', ...env.names.natGateways, ...env.names.instances];
  ctx.error(v.at, `${v.path}: unknown route target ${JSON.stringify(s)}${hint(s, candidates)}; expected igw, vgw, a NAT gateway or an instance name`);
  return undefined;
}

// --- VPN ---------------------------------------------------------------------

interface VpnEnv {
  readonly vpcCidr: Ipv4Cidr | undefined;
  readonly hasVgw: boolean;
  readonly cgw: VpcConfig['customerGateway'];
}

const VPN_KEYS = ['role', 'remoteNetworks', 'localNetworks', 'splitTunnel', 'auth', 'tunnels', 'ike', 'esp', 'allowShortLifetimes'];

function readVpnConnections(ctx: Ctx, entries: Entry[], env: VpnEnv): Map<string, VpnConnection> {
  const out = new Map<string, VpnConnection>();
  const insides = new Claims();
  for (const { name, v } of entries) {
    const c = readVpnConnection(ctx, name, v, env, insides);
    if (c !== undefined) out.set(name, c);
  }
  insides.report(ctx, (d, f) => `${d.v.path}: inside CIDR ${d.key} is already used by ${f.owner} (AWS: unique per VPN gateway)`);
  return out;
}

function readVpnConnection(ctx: Ctx, name: string, v: V, env: VpnEnv, insides: Claims): VpnConnection | undefined {
  const f = readMap(ctx, v, VPN_KEYS);
  if (f === undefined) return undefined;
  const rolev = required(ctx, f, 'role', v, 'cgw (initiator) or vgw (responder)');
  const role = rolev && readEnum(ctx, rolev, ['cgw', 'vgw'] as const);
  if (rolev !== undefined && role === 'cgw' && env.cgw === undefined) {
    ctx.error(rolev.at, `${rolev.path}: role cgw needs a customerGateway section (this site's WAN address)`);
  }
  if (rolev !== undefined && role === 'vgw' && !env.hasVgw) {
    ctx.error(rolev.at, `${rolev.path}: role vgw needs a vpnGateway section`);
  }
  const sv = f.get('splitTunnel');
  const splitTunnel = (sv && readBool(ctx, sv)) ?? true;
  const remoteNetworks = readNetworks(ctx, f.get('remoteNetworks'), v, 'remoteNetworks', splitTunnel ? undefined : ['0.0.0.0/0'], env.vpcCidr);
  const localNetworks = readNetworks(ctx, f.get('localNetworks'), v, 'localNetworks', env.vpcCidr === undefined ? [] : [cidrToString(env.vpcCidr)], undefined);
  const shortv = f.get('allowShortLifetimes');
  const allowShortLifetimes = (shortv && readBool(ctx, shortv)) ?? false;
  const authv = required(ctx, f, 'auth', v, 'psk or certificate');
  const auth = authv && readAuth(ctx, authv);
  const tv = required(ctx, f, 'tunnels', v, '1 or 2 tunnels');
  const tunnels = tv === undefined ? undefined : readTunnels(ctx, tv, role, env, insides);
  const lifetimes = readLifetimes(ctx, f, v, allowShortLifetimes);
  if (role === undefined || remoteNetworks === undefined || localNetworks === undefined || auth === undefined || tunnels === undefined || lifetimes === undefined) {
    return undefined;
  }
  return {
    name, role, remoteNetworks, localNetworks, splitTunnel, auth, tunnels,
    ike: lifetimes.ike, esp: lifetimes.esp, allowShortLifetimes,
  };
}

function readNetworks(
  ctx: Ctx, v: V | undefined, parent: V, key: string, dflt: string[] | undefined, vpcCidr: Ipv4Cidr | undefined,
): string[] | undefined {
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    ctx.error(parent.keyAt, `${join(parent.path, key)}: required key is missing (the networks reached through the tunnel; required with splitTunnel: true)`);
    return undefined;
  }
  const items = readList(ctx, v, 'a list of IPv4 CIDRs');
  if (items === undefined) return undefined;
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const c = readIpv4Cidr(ctx, item);
    if (c === undefined) {
      ok = false;
      continue;
    }
    const text = cidrToString(c);
    if (vpcCidr !== undefined && cidrContains(vpcCidr, c)) {
      ctx.warn(item.at, `${item.path}: ${text} is inside vpc.cidr ${cidrToString(vpcCidr)}; traffic to it takes the local route, not the tunnel`);
    }
    if (out.includes(text)) {
      ctx.error(item.at, `${item.path}: ${text} is listed twice`);
      ok = false;
    } else out.push(text);
  }
  if (items.length === 0) {
    ctx.error(v.at, `${v.path}: expected at least one CIDR`);
    ok = false;
  }
  return ok ? out : undefined;
}

function readAuth(ctx: Ctx, v: V): VpnConnection['auth'] | undefined {
  const f = readMap(ctx, v, ['psk', 'certificate']);
  if (f === undefined) return undefined;
  const pv = f.get('psk');
  const cv = f.get('certificate');
  if ((pv === undefined) === (cv === undefined)) {
    ctx.error(pv && cv ? cv.keyAt : v.at, `${v.path}: expected exactly one of psk or certificate${pv && cv ? ', got both' : ''}`);
    return undefined;
  }
  if (pv !== undefined) {
    const pf = readMap(ctx, pv, ['env', 'file']);
    if (pf === undefined) return undefined;
    const ev = pf.get('env');
    const fv = pf.get('file');
    if ((ev === undefined) === (fv === undefined)) {
      ctx.error(ev && fv ? fv.keyAt : pv.at, `${pv.path}: expected exactly one of env (an environment variable) or file (a file holding the key)${ev && fv ? ', got both' : ''}`);
      return undefined;
    }
    if (ev !== undefined) {
      const name = readString(ctx, ev, 'an environment variable name');
      if (name === undefined) return undefined;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        ctx.error(ev.at, `${ev.path}: ${JSON.stringify(name)} is not an environment variable name (letters, digits and "_", not starting with a digit)`);
        return undefined;
      }
      return { kind: 'psk', psk: { env: name } };
    }
    const file = readPath(ctx, fv as V);
    return file === undefined ? undefined : { kind: 'psk', psk: { file } };
  }
  const cf = readMap(ctx, cv as V, ['cert', 'key', 'ca']);
  if (cf === undefined) return undefined;
  const parts: Partial<Record<'cert' | 'key' | 'ca', string>> = {};
  for (const k of ['cert', 'key', 'ca'] as const) {
    const x = required(ctx, cf, k, cv as V, k === 'cert' ? 'PEM certificate file' : k === 'key' ? 'PEM private key file' : 'PEM CA certificate file');
    const p = x && readPath(ctx, x);
    if (p !== undefined) parts[k] = p;
  }
  if (parts.cert === undefined || parts.key === undefined || parts.ca === undefined) return undefined;
  return { kind: 'certificate', cert: parts.cert, key: parts.key, ca: parts.ca };
}

function readTunnels(ctx: Ctx, v: V, role: 'cgw' | 'vgw' | undefined, env: VpnEnv, insides: Claims): VpnTunnel[] | undefined {
  const items = readList(ctx, v, 'a list of 1 or 2 tunnels');
  if (items === undefined) return undefined;
  if (items.length < 1 || items.length > 2) {
    ctx.error(v.at, `${v.path}: expected 1 or 2 tunnels (AWS gives two per connection), got ${items.length}`);
    return undefined;
  }
  const out: VpnTunnel[] = [];
  const ids = new Map<string, string>();
  let ok = true;
  for (const item of items) {
    const f = readMap(ctx, item, ['peer', 'insideCidr', 'local']);
    if (f === undefined) {
      ok = false;
      continue;
    }
    const pv = required(ctx, f, 'peer', item, 'the remote outside IPv4 address');
    const peer = pv && readIpv4(ctx, pv);
    if (pv !== undefined && peer !== undefined) checkOutsideVpc(ctx, pv, peer, env.vpcCidr, 'a tunnel peer is reached over the internet');
    const lv = f.get('local');
    let local = lv && readIpv4(ctx, lv);
    if (lv !== undefined && local !== undefined) checkOutsideVpc(ctx, lv, local, env.vpcCidr, 'a tunnel endpoint is an internet address');
    if (lv === undefined && role === 'cgw' && env.cgw !== undefined) local = parseIpv4(env.cgw.wan.ip);
    const iv = required(ctx, f, 'insideCidr', item, 'a /30 inside 169.254.0.0/16');
    const inside = iv && readInsideCidr(ctx, iv);
    if (iv !== undefined && inside !== undefined) insides.add(inside, item.path, iv);
    if (peer === undefined || inside === undefined || (lv !== undefined && local === undefined)) {
      ok = false;
      continue;
    }
    // Two tunnels between the same pair of outside addresses could not be told apart.
    if (local !== undefined) {
      const id = `${local}>${peer}`;
      const first = ids.get(id);
      if (first !== undefined && pv !== undefined) {
        ctx.error(pv.at, `${pv.path}: ${first} already connects ${formatIpv4(local)} to ${formatIpv4(peer)}; each tunnel needs its own pair of outside addresses`);
        ok = false;
        continue;
      }
      ids.set(id, item.path);
    }
    out.push({ peer: formatIpv4(peer), insideCidr: inside, ...(local !== undefined ? { local: formatIpv4(local) } : {}) });
  }
  return ok ? out : undefined;
}

function readInsideCidr(ctx: Ctx, v: V): string | undefined {
  const c = readIpv4Cidr(ctx, v);
  if (c === undefined) return undefined;
  const text = cidrToString(c);
  const linkLocal = parseCidr('169.254.0.0/16');
  if (c.prefix !== 30 || !linkLocal.ok || !cidrContains(linkLocal.cidr, c)) {
    ctx.error(v.at, `${v.path}: ${show(v)} must be a /30 inside 169.254.0.0/16`);
    return undefined;
  }
  if (RESERVED_INSIDE.includes(text)) {
    ctx.error(v.at, `${v.path}: ${text} is reserved by AWS (169.254.0.0/30 to 169.254.5.0/30 and 169.254.169.252/30 cannot be used)`);
    return undefined;
  }
  return text;
}

function readLifetimes(ctx: Ctx, f: Fields, conn: V, short: boolean): Pick<VpnConnection, 'ike' | 'esp'> | undefined {
  const note = short ? 'allowShortLifetimes' : '';
  const ikeMin = short ? 10 : 900;
  const espMin = short ? 10 : 900;
  const dpdMin = short ? 3 : 30;
  const iv = f.get('ike');
  const ev = f.get('esp');
  const ikeF = iv === undefined ? new Map<string, V>() : readMap(ctx, iv, ['proposals', 'lifetime', 'dpdTimeout']);
  const espF = ev === undefined ? new Map<string, V>() : readMap(ctx, ev, ['proposals', 'lifetime']);
  if (ikeF === undefined || espF === undefined) return undefined;
  const shortHint = short ? '' : '; allowShortLifetimes: true lowers the minimum for tests';
  const ikeProposals = readProposals(ctx, ikeF.get('proposals'), 'ike');
  const ilv = ikeF.get('lifetime');
  const ikeLifetime = ilv === undefined ? DEFAULTS.ikeLifetime : readInt(ctx, ilv, ikeMin, 28_800, `AWS phase 1 lifetime in seconds${note ? `, with ${note}` : shortHint}`);
  const dv = ikeF.get('dpdTimeout');
  const dpdTimeout = dv === undefined ? DEFAULTS.dpdTimeout : readInt(ctx, dv, dpdMin, Number.MAX_SAFE_INTEGER, `seconds; AWS minimum 30${note ? `, lowered by ${note}` : shortHint}`);
  const espProposals = readProposals(ctx, espF.get('proposals'), 'esp');
  const elv = espF.get('lifetime');
  const espLifetime = elv === undefined ? DEFAULTS.espLifetime : readInt(ctx, elv, espMin, 3_600, `AWS phase 2 lifetime in seconds${note ? `, with ${note}` : shortHint}`);
  if (ikeLifetime !== undefined && espLifetime !== undefined && espLifetime >= ikeLifetime) {
    if (elv !== undefined) {
      ctx.error(elv.at, `${elv.path}: ${espLifetime} must be less than ike.lifetime ${ikeLifetime} (AWS: phase 2 lifetime below phase 1)`);
    } else {
      const at = ilv ?? conn;
      ctx.error(at.at, `${ilv?.path ?? join(conn.path, 'ike.lifetime')}: ${ikeLifetime} must be greater than esp.lifetime ${espLifetime} (the default); set esp.lifetime lower`);
    }
    return undefined;
  }
  if (ikeProposals === undefined || ikeLifetime === undefined || dpdTimeout === undefined || espProposals === undefined || espLifetime === undefined) {
    return undefined;
  }
  return {
    ike: { proposals: ikeProposals, lifetime: ikeLifetime, dpdTimeout },
    esp: { proposals: espProposals, lifetime: espLifetime },
  };
}

// strongSwan proposal keywords accepted (AWS's tunnel options, plus curve25519 for lab peers).
const ENC: Record<string, 'cbc' | 'aead'> = { aes128: 'cbc', aes256: 'cbc', aes128gcm16: 'aead', aes256gcm16: 'aead' };
const INTEG = ['sha1', 'sha256', 'sha384', 'sha512'];
const PRF = ['prfsha1', 'prfsha256', 'prfsha384', 'prfsha512'];
const DH: Record<string, number> = {
  modp1024: 2, modp1536: 5, modp2048: 14, modp3072: 15, modp4096: 16, modp6144: 17, modp8192: 18,
  ecp256: 19, ecp384: 20, ecp521: 21, modp1024s160: 22, modp2048s224: 23, modp2048s256: 24, curve25519: 31,
};
const ESN = ['esn', 'noesn'];

/** Checks one strongSwan proposal string; returns what is wrong, or undefined. */
export function proposalProblem(text: string, kind: 'ike' | 'esp'): string | undefined {
  const tokens = text.split('-');
  const enc: string[] = [];
  let integ = 0;
  let prf = 0;
  let dh = 0;
  for (const t of tokens) {
    if (t === '') return 'empty algorithm name (two "-" in a row, or one at an end)';
    if (t in ENC) enc.push(t);
    else if (INTEG.includes(t)) integ++;
    else if (PRF.includes(t)) {
      if (kind === 'esp') return `${t} is a PRF, which only IKE proposals take`;
      prf++;
    } else if (t in DH) {
      if (kind === 'ike' && t === 'modp1536') return 'modp1536 (group 5) is not an AWS phase 1 DH group';
      dh++;
    } else if (ESN.includes(t)) {
      if (kind === 'ike') return `${t} only applies to ESP proposals`;
    } else {
      const all = [...Object.keys(ENC), ...INTEG, ...(kind === 'ike' ? PRF : ESN), ...Object.keys(DH)];
      return `unknown algorithm "${t}"${hint(t, all)}; encryption: ${Object.keys(ENC).join(', ')}; integrity: ${INTEG.join(', ')}${kind === 'ike' ? `; prf: ${PRF.join(', ')}` : ''}; DH: ${Object.keys(DH).join(', ')}`;
    }
  }
  if (enc.length === 0) return 'no encryption algorithm (aes128, aes256, aes128gcm16 or aes256gcm16)';
  const aead = enc.filter((e) => ENC[e] === 'aead').length;
  if (aead > 0 && aead < enc.length) return 'AEAD (gcm) and non-AEAD encryption cannot be mixed in one proposal';
  if (aead > 0 && integ > 0) return 'AEAD (gcm) encryption includes integrity protection; remove the integrity algorithm';
  if (aead === 0 && integ === 0) return `${enc.join('-')} needs an integrity algorithm (sha1, sha256, sha384 or sha512)`;
  if (kind === 'ike' && aead > 0 && prf === 0) return 'an AEAD IKE proposal needs a PRF (e.g. prfsha256)';
  if (kind === 'ike' && dh === 0) return 'an IKE proposal needs a DH group (e.g. ecp256 or modp2048)';
  return undefined;
}

function readProposals(ctx: Ctx, v: V | undefined, kind: 'ike' | 'esp'): string[] | undefined {
  if (v === undefined) return [...(kind === 'ike' ? DEFAULTS.ikeProposals : DEFAULTS.espProposals)];
  const items = readList(ctx, v, 'a list of proposals such as aes256gcm16-prfsha256-ecp256');
  if (items === undefined) return undefined;
  if (items.length === 0) {
    ctx.error(v.at, `${v.path}: expected at least one proposal`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const s = readString(ctx, item, 'a proposal string');
    if (s === undefined) {
      ok = false;
      continue;
    }
    const p = proposalProblem(s, kind);
    if (p !== undefined) {
      ctx.error(item.at, `${item.path}: ${JSON.stringify(s)} is not a valid ${kind === 'ike' ? 'IKE' : 'ESP'} proposal: ${p}`);
      ok = false;
    } else out.push(s);
  }
  return ok ? out : undefined;
}

// --- conntrack, flow logs, metrics ------------------------------------------

function readConntrack(ctx: Ctx, v: V | undefined): ConntrackConfig {
  const timeouts: { -readonly [K in keyof ConntrackConfig['timeouts']]: number } = { ...DEFAULTS.timeouts };
  let max: number = DEFAULTS.conntrackMax;
  if (v === undefined) return { max, timeouts };
  const f = readMap(ctx, v, ['max', 'timeouts']);
  const mv = f?.get('max');
  if (mv !== undefined) max = readInt(ctx, mv, 1, LIMITS.conntrackMax, 'tracked flows') ?? max;
  const tv = f?.get('timeouts');
  if (tv !== undefined) {
    const tf = readMap(ctx, tv, Object.keys(TIMEOUT_RANGES));
    for (const [k, [lo, hi, why]] of Object.entries(TIMEOUT_RANGES) as [keyof typeof timeouts, readonly [number, number, string]][]) {
      const x = tf?.get(k);
      if (x !== undefined) timeouts[k] = readInt(ctx, x, lo, hi, `seconds${why ? `, ${why}` : ''}`) ?? timeouts[k];
    }
  }
  return { max, timeouts };
}

/** Flow-log records per interval over all ENIs (the writer's memory bound; see pipeline/flowlog-table.ts). */
const FLOW_LOG_MAX_RECORDS = 1 << 20;

function readFlowLogs(ctx: Ctx, v: V | undefined, instanceCount: number): VpcConfig['flowLogs'] {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['path', 'aggregationInterval', 'recordsPerEni', 'fileMode', 'allowSharedDirectory', 'maxBytes', 'keep']);
  if (f === undefined) return undefined;
  const pv = required(ctx, f, 'path', v, 'the file flow-log records are appended to');
  const path = pv && readPath(ctx, pv);
  const av = f.get('aggregationInterval');
  const aggregationInterval = (av && readInt(ctx, av, 1, 600, 'seconds')) ?? DEFAULTS.flowLogInterval;
  const out: { -readonly [K in keyof FlowLogsConfig]: FlowLogsConfig[K] } = { path: path ?? '', aggregationInterval };
  const rv = f.get('recordsPerEni');
  if (rv !== undefined) {
    const n = readInt(ctx, rv, 1, FLOW_LOG_MAX_RECORDS, 'records per ENI per interval');
    if (n !== undefined && n * Math.max(1, instanceCount) > FLOW_LOG_MAX_RECORDS) {
      ctx.error(rv.at, `${rv.path}: ${n} records x ${instanceCount} instances exceeds ${FLOW_LOG_MAX_RECORDS} records per interval; lower it to at most ${Math.floor(FLOW_LOG_MAX_RECORDS / instanceCount)}`);
    } else if (n !== undefined) out.recordsPerEni = n;
  }
  const mv = f.get('fileMode');
  if (mv !== undefined) {
    const mode = readFileMode(ctx, mv);
    if (mode !== undefined) out.fileMode = mode;
  }
  const sv = f.get('allowSharedDirectory');
  const shared = sv && readBool(ctx, sv);
  if (shared !== undefined) out.allowSharedDirectory = shared;
  const bv = f.get('maxBytes');
  const maxBytes = bv && readInt(ctx, bv, 0, Number.MAX_SAFE_INTEGER, '0 = never rotate');
  if (maxBytes !== undefined && maxBytes !== 0 && maxBytes < 65_536) ctx.error(bv!.at, `${bv!.path}: expected 0 (never rotate) or at least 65536 bytes, got ${maxBytes}`);
  else if (maxBytes !== undefined) out.maxBytes = maxBytes;
  const kv = f.get('keep');
  const keep = kv && readInt(ctx, kv, 0, 1000, 'rotated files kept');
  if (keep !== undefined) out.keep = keep;
  return path === undefined ? undefined : out;
}

/** A file mode in octal: the string "0640" or YAML 1.2's 0o640. Others must not be able to write. */
function readFileMode(ctx: Ctx, v: V): number | undefined {
  const n = v.node;
  let mode: number | undefined;
  if (isScalar(n) && typeof n.value === 'string' && /^0?[0-7]{3}$/.test(n.value)) mode = parseInt(n.value, 8);
  else if (isScalar(n) && typeof n.value === 'number' && n.format === 'OCT' && Number.isInteger(n.value) && n.value >= 0 && n.value <= 0o777) mode = n.value;
  if (mode === undefined) {
    ctx.error(v.at, `${v.path}: expected an octal file mode such as "0640" (quoted) or 0o640, got ${describe(v)}`);
    return undefined;
  }
  if ((mode & 0o002) !== 0) {
    ctx.error(v.at, `${v.path}: ${mode.toString(8).padStart(4, '0')} lets any user write the flow log; drop the write bit for others`);
    return undefined;
  }
  return mode;
}

function readMetrics(ctx: Ctx, v: V | undefined): VpcConfig['metrics'] {
  let listen: string = DEFAULTS.metricsListen;
  if (v === undefined) return { listen };
  const f = readMap(ctx, v, ['listen']);
  const lv = f?.get('listen');
  if (lv !== undefined) {
    const s = readString(ctx, lv, 'host:port such as 127.0.0.1:9469');
    if (s !== undefined) {
      const problem = listenProblem(s);
      if (problem !== undefined) ctx.error(lv.at, `${lv.path}: ${JSON.stringify(s)} ${problem}`);
      else listen = s;
    }
  }
  return { listen };
}

/** host:port with host an IPv4 address, [IPv6] or a host name; port 0..65535 (0: any free port). */
function listenProblem(s: string): string | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]+):([0-9]{1,5})$/.exec(s);
  if (!m) return 'is not host:port (e.g. 127.0.0.1:9469 or [::1]:9469)';
  const host = m[1] as string;
  const port = Number(m[2]);
  if (port > 65535) return `has port ${port}; ports are 0..65535`;
  if (host.startsWith('[')) {
    const r = parseCidr(host.slice(1, -1));
    if (!r.ok || r.cidr.family !== 6 || host.includes('/')) return `has ${host}, which is not an IPv6 address`;
    return undefined;
  }
  if (/^[0-9.]+$/.test(host)) return parseIpv4(host) === undefined ? `has ${host}, which is not an IPv4 address` : undefined;
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) return `has ${host}, which is not a host name`;
  return undefined;
}
