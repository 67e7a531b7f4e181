/**
 * Readers for the process settings: `lab`, `dataplane`, `conntrack`,
 * `flowLogs`, `metrics` and `state`.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { formatIpv4, type Ipv4Cidr, parseCidr, parseIpv4 } from './cidr.js';
import { isScalar } from 'yaml';
import type { ConntrackConfig, DhcpOptionsConfig, FlowLogsConfig, LabConfig, VpcConfig } from './config-types.js';
import { DEFAULTS, DOMAIN_RE, LIMITS } from './config-defaults.js';
import { Ctx, describe, readMap, required, type V } from './config-issues.js';
import { checkOutsideVpc, Claims, netnsProblem, readBool, readEntries, readEnum, readInt, readIpv4, readName, readNetns, readPath, readString } from './config-read-values.js';
import { parseLogFormat } from './flowlog-format.js';
import { readList } from './config-issues.js';

// --- lab, dataplane ----------------------------------------------------------

export function readLab(ctx: Ctx, v: V | undefined, vpcName: string, vpcCidr: Ipv4Cidr | undefined, publicIps: Claims): LabConfig {
  let prefix = vpcName;
  let internet: string | undefined;
  const internetHosts: Record<string, string> = {};
  let addressing: 'static' | 'dhcp' | undefined;
  const f = v === undefined ? undefined : readMap(ctx, v, ['prefix', 'internet', 'internetHosts', 'addressing']);
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
    const av = f.get('addressing');
    if (av !== undefined) addressing = readEnum(ctx, av, ['static', 'dhcp'] as const);
    for (const suffix of ['vpcd', 'internet']) {
      const p = netnsProblem(`${prefix}-${suffix}`);
      if (p !== undefined) ctx.error(f.get('prefix')?.at ?? v.keyAt, `lab.prefix: the namespace name "${prefix}-${suffix}" ${p}`);
    }
  }
  return { prefix, internet: internet ?? `${prefix}-internet`, internetHosts, ...(addressing !== undefined ? { addressing } : {}) };
}

export function readDataplane(ctx: Ctx, v: V | undefined, labPrefix: string | undefined): VpcConfig['dataplane'] {
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

const TIMEOUT_RANGES: Record<keyof ConntrackConfig['timeouts'], readonly [number, number, string]> = {
  tcpEstablished: [60, 432_000, 'AWS TcpEstablishedTimeout range'],
  udpStream: [60, 180, 'AWS UdpStreamTimeout range'],
  udp: [30, 60, 'AWS UdpTimeout range'],
  tcp: [1, 432_000, ''],
  icmp: [1, 432_000, ''],
  other: [1, 432_000, ''],
};

// --- conntrack, flow logs, metrics ------------------------------------------

export function readConntrack(ctx: Ctx, v: V | undefined): ConntrackConfig {
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

export function readFlowLogs(ctx: Ctx, v: V | undefined, instanceCount: number): VpcConfig['flowLogs'] {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['path', 'aggregationInterval', 'recordsPerEni', 'fileMode', 'allowSharedDirectory', 'maxBytes', 'keep', 'format', 'fileFormat']);
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
  const fv = f.get('format');
  const fs = fv && readString(ctx, fv, 'an AWS LogFormat string such as "${version} ${interface-id} ${srcaddr}"');
  if (fs !== undefined) {
    const parsed = parseLogFormat(fs);
    if ('error' in parsed) ctx.error(fv!.at, `${fv!.path}: ${parsed.error}`);
    else out.format = parsed.fields;
  }
  const ffv = f.get('fileFormat');
  const ff = ffv && readEnum(ctx, ffv, ['text', 'json'] as const);
  if (ff !== undefined) out.fileFormat = ff;
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

/** Directory of the default state file (`/run/vpcd/<vpc.name>.state`). */
export const STATE_DIR = '/run/vpcd';

export function readState(ctx: Ctx, v: V | undefined, vpcName: string): VpcConfig['state'] {
  let path = `${STATE_DIR}/${vpcName}.state`;
  let enabled = true;
  if (v === undefined) return { path, enabled };
  const f = readMap(ctx, v, ['path', 'enabled']);
  const pv = f?.get('path');
  if (pv !== undefined) path = readPath(ctx, pv) ?? path;
  const ev = f?.get('enabled');
  if (ev !== undefined) enabled = readBool(ctx, ev) ?? enabled;
  return { path, enabled };
}

/**
 * The default control socket of a configuration file: /run/vpcd/NAME-HASH.sock,
 * NAME the file's name without its extension, HASH 8 hex digits of its real
 * absolute path, so every command given the same CONFIG finds the same
 * socket and two files of the same name in different directories do not
 * share one. Standard input: the VPC's name.
 */
export function defaultControlSocket(file: string, vpcName: string): string {
  if (file === '<stdin>') return `${STATE_DIR}/${vpcName}.sock`;
  let abs = resolvePath(file);
  try {
    abs = realpathSync(abs);
  } catch {
    // not a file on disk (a test's name): the path as given
  }
  const base = (abs.split('/').pop() ?? '').replace(/\.(ya?ml|json)$/i, '');
  const name = /^[A-Za-z0-9._-]{1,64}$/.test(base) ? base : vpcName;
  return `${STATE_DIR}/${name}-${createHash('sha256').update(abs).digest('hex').slice(0, 8)}.sock`;
}

/** `control:` the daemon's control socket (docs/config.md#control). */
export function readControl(ctx: Ctx, v: V | undefined, vpcName: string): VpcConfig['control'] {
  let socket = defaultControlSocket(ctx.file, vpcName);
  let group: string | undefined;
  if (v !== undefined) {
    const f = readMap(ctx, v, ['socket', 'group']);
    const sv = f?.get('socket');
    if (sv !== undefined) {
      const p = readPath(ctx, sv);
      // sockaddr_un holds 107 bytes of path
      if (p !== undefined && Buffer.byteLength(p) > 107) ctx.error(sv.at, `${sv.path}: a Unix socket path is at most 107 bytes (this one is ${Buffer.byteLength(p)})`);
      else if (p !== undefined) socket = p;
    }
    const gv = f?.get('group');
    if (gv !== undefined) {
      const g = readString(ctx, gv, 'a group name or number');
      if (g !== undefined && !/^([a-z_][a-z0-9_-]{0,31}\$?|[0-9]{1,10})$/.test(g)) ctx.error(gv.at, `${gv.path}: ${JSON.stringify(g)} is not a group name or number`);
      else if (g !== undefined) group = g;
    }
  }
  return { socket, ...(group !== undefined ? { group } : {}) };
}

export function readMetrics(ctx: Ctx, v: V | undefined): VpcConfig['metrics'] {
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

// --- dhcpOptions ----------------------------------------------------------------

/**
 * `dhcpOptions`: AWS's DHCP options set. domainNameServers holds up to four
 * IPv4 addresses or AmazonProvidedDNS (AWS allows AmazonProvidedDNS or
 * addresses, up to four).
 */
export function readDhcpOptions(ctx: Ctx, v: V | undefined): DhcpOptionsConfig | undefined {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['domainName', 'domainNameServers']);
  if (f === undefined) return undefined;
  let domainName: string | undefined;
  const dv = f.get('domainName');
  if (dv !== undefined) {
    domainName = readString(ctx, dv, 'a domain name such as corp.internal');
    if (domainName !== undefined && !DOMAIN_RE.test(domainName)) {
      ctx.error(dv.at, `dhcpOptions.domainName: ${JSON.stringify(domainName)} is not a domain name (labels of letters, digits and "-", separated by ".")`);
      domainName = undefined;
    }
  }
  const servers: string[] = [];
  const sv = f.get('domainNameServers');
  if (sv !== undefined) {
    const items = readList(ctx, sv, 'a list of up to four IPv4 addresses or AmazonProvidedDNS') ?? [];
    if (items.length > 4) ctx.error(sv.at, `dhcpOptions.domainNameServers: AWS allows up to four servers, got ${items.length}`);
    for (const item of items.slice(0, 4)) {
      const n = item.node;
      if (isScalar(n) && n.value === 'AmazonProvidedDNS') {
        servers.push('AmazonProvidedDNS');
        continue;
      }
      const a = readIpv4(ctx, item);
      if (a !== undefined) servers.push(formatIpv4(a));
    }
  }
  return { ...(domainName !== undefined ? { domainName } : {}), domainNameServers: servers.length > 0 ? servers : ['AmazonProvidedDNS'] };
}
