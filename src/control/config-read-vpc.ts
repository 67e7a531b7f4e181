/**
 * Readers for the VPC's addressing: `vpc` (name, CIDR, account), `subnets`
 * (inside the VPC, non-overlapping) and `routeTables` (destinations and
 * targets; the local route is implicit).
 */
import { isMap, isScalar } from 'yaml';
import { cidrContains, cidrOverlaps, cidrToString, type Ipv4Cidr, IPV4_ANY, parseCidr } from './cidr.js';
import { type Route, type RouteTable, type RouteTargetKind, type Subnet, withParsed } from './config-types.js';
import { DEFAULTS, LIMITS, REGION_RE } from './config-defaults.js';
import { Ctx, describe, hint, isNothing, readList, readMap, required, show, type V } from './config-issues.js';
import { type Entry, type Names, readBool, readIpv4Cidr, readName, readRef, readString } from './config-read-values.js';

/** Blocks that cannot hold a VPC: "this network", loopback, link-local, multicast, reserved. */
const FORBIDDEN_VPC: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

// --- vpc ---------------------------------------------------------------------

export interface VpcRead {
  name: string;
  cidr: Ipv4Cidr | undefined;
  accountId: string;
  region?: string;
  enableDnsSupport?: boolean;
  enableDnsHostnames?: boolean;
}

export function readVpc(ctx: Ctx, v: V | undefined, root: V): VpcRead {
  const fallback = { name: 'vpc', cidr: undefined, accountId: DEFAULTS.accountId };
  if (v === undefined) {
    ctx.error(root.keyAt, 'vpc: required key is missing (the VPC\'s name and cidr)');
    return fallback;
  }
  const f = readMap(ctx, v, ['name', 'cidr', 'accountId', 'region', 'enableDnsSupport', 'enableDnsHostnames']);
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
  const out: VpcRead = { name, cidr, accountId };
  const rv = f.get('region');
  if (rv !== undefined) {
    const r = readString(ctx, rv, 'an AWS region such as us-east-1');
    if (r !== undefined && REGION_RE.test(r)) out.region = r;
    else if (r !== undefined) ctx.error(rv.at, `vpc.region: ${JSON.stringify(r)} is not an AWS region name (such as us-east-1 or eu-west-3)`);
  }
  const sv = f.get('enableDnsSupport');
  if (sv !== undefined) {
    const b = readBool(ctx, sv);
    if (b !== undefined) out.enableDnsSupport = b;
  }
  const hv = f.get('enableDnsHostnames');
  if (hv !== undefined) {
    const b = readBool(ctx, hv);
    if (b !== undefined) out.enableDnsHostnames = b;
  }
  if (out.enableDnsHostnames === true && out.enableDnsSupport === false) {
    ctx.error(hv!.at, 'vpc.enableDnsHostnames: true needs enableDnsSupport: true (AWS refuses DNS hostnames without DNS resolution)');
  }
  return out;
}

export interface SubnetInfo {
  readonly cidr: Ipv4Cidr | undefined;
}

// --- subnets -----------------------------------------------------------------

export function readSubnets(
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
    const block = cidr ?? IPV4_ANY;
    out.set(name, withParsed({ name, cidr: cidrToString(block), routeTable, networkAcl }, 'block', block));
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

export function readRouteTables(ctx: Ctx, entries: Entry[], env: RouteEnv): Map<string, RouteTable> {
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
      // AWS: a route more specific than the local route (inside vpc.cidr) may only target a network
      // interface (an instance: appliance, NAT instance) or a NAT gateway; never igw or vgw.
      if (dest !== undefined && target !== undefined && env.vpcCidr !== undefined && cidrContains(env.vpcCidr, dest) &&
          (target.targetKind === 'igw' || target.targetKind === 'vgw')) {
        ctx.error(tv!.at, `${tv!.path}: ${cidrToString(dest)} lies inside vpc.cidr; a route more specific than the local route can only target an instance (network interface) or a NAT gateway, not ${target.target}`);
        continue;
      }
      if (dest === undefined || target === undefined) continue;
      routes.push(withParsed({ destination: cidrToString(dest), ...target }, 'block', dest));
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
  if (s === 'blackhole') return { target: 'blackhole', targetKind: 'blackhole' };
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
  const candidates = ['igw', 'vgw', 'blackhole', ...env.names.natGateways, ...env.names.instances];
  ctx.error(v.at, `${v.path}: unknown route target ${JSON.stringify(s)}${hint(s, candidates)}; expected igw, vgw, a NAT gateway or an instance name`);
  return undefined;
}
