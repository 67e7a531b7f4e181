/**
 * Readers for what holds addresses in the VPC: `instances` (ENIs), NAT
 * gateways and the internet gateway; private addresses lie in their subnet
 * and are not reserved, public ones lie outside the VPC.
 */
import { isSeq } from 'yaml';
import { cidrOverlaps, cidrToString, formatIpv4, type Ipv4Cidr, ipv4InCidr, ipv4Last, ipv4SubnetReserved } from './cidr.js';
import { type AttachTarget, type Instance, type InstanceAttach, type InternetGateway, type MetadataOptions, type NatGateway, withParsed } from './config-types.js';
import { instanceMac, labInstanceIfName, labUplinkIfName } from '../lab/names.js';
import { DEFAULTS, LIMITS, METADATA_DEFAULTS } from './config-defaults.js';
import { Ctx, type Fields, readList, readMap, required, type V } from './config-issues.js';
import { checkOutsideVpc, Claims, type Entry, type Names, netnsProblem, readBool, readEnum, readIfName, readGatewayName, readInt, readIpv4, readIpv4Cidr, readMac, readRef, readString } from './config-read-values.js';
import type { SubnetInfo } from './config-read-vpc.js';

// --- internet gateway --------------------------------------------------------

export function readInternetGateway(
  ctx: Ctx, v: V | undefined, labPrefix: string, vpcCidr: Ipv4Cidr | undefined, publicIps: Claims,
): InternetGateway | undefined {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['name', 'interface', 'uplinkIp', 'uplinkGateway', 'uplinkCidr']) ?? new Map<string, V>();
  const name = readGatewayName(ctx, f.get('name'), DEFAULTS.igwName);
  const iv = f.get('interface');
  const iface = (iv && readIfName(ctx, iv)) ?? labUplinkIfName(labPrefix);
  const uv = f.get('uplinkIp');
  let uplinkIp: string | undefined;
  let ipAddr: number | undefined;
  if (uv !== undefined) {
    const a = readIpv4(ctx, uv);
    if (a !== undefined) {
      checkOutsideVpc(ctx, uv, a, vpcCidr, 'the uplink address must be outside the VPC');
      uplinkIp = formatIpv4(a);
      ipAddr = a;
      publicIps.add(uplinkIp, 'internetGateway.uplinkIp', uv);
    }
  }
  const link = readUplinkNetwork(ctx, f, vpcCidr, uv, ipAddr);
  const gateway = link.gateway === undefined ? {} : { uplinkGateway: link.gateway };
  const cidr = link.block === undefined ? {} : { uplinkCidr: cidrToString(link.block) };
  const igw: InternetGateway = { name, interface: iface, ...(uplinkIp !== undefined ? { uplinkIp } : {}), ...gateway, ...cidr };
  return link.block === undefined ? igw : withParsed(igw, 'uplinkBlock', link.block);
}

/**
 * `uplinkGateway` (the next hop for internet destinations) and `uplinkCidr`
 * (the uplink's on-link network): both outside the VPC; when both are given the
 * gateway is a host of the network, and so is `uplinkIp` (vpcd's own address).
 */
function readUplinkNetwork(
  ctx: Ctx, f: Fields, vpcCidr: Ipv4Cidr | undefined, uv: V | undefined, ipAddr: number | undefined,
): { gateway?: string; block?: Ipv4Cidr } {
  const gv = f.get('uplinkGateway');
  let gw = gv && readIpv4(ctx, gv);
  if (gv !== undefined && gw !== undefined) {
    checkOutsideVpc(ctx, gv, gw, vpcCidr, 'the uplink gateway is a router on the internet side');
    if (gw === ipAddr) {
      ctx.error(gv.at, `${gv.path}: ${formatIpv4(gw)} is uplinkIp, vpcd's own address; the gateway is another router`);
      gw = undefined;
    }
  }
  const cv = f.get('uplinkCidr');
  let block = cv && readIpv4Cidr(ctx, cv);
  if (cv !== undefined && block !== undefined && vpcCidr !== undefined && cidrOverlaps(block, vpcCidr)) {
    ctx.error(cv.at, `${cv.path}: ${cidrToString(block)} overlaps vpc.cidr ${cidrToString(vpcCidr)}; the uplink network is outside the VPC`);
    block = undefined;
  }
  if (block !== undefined) {
    const net = cidrToString(block);
    if (gv !== undefined && gw !== undefined) {
      if (!ipv4InCidr(block, gw)) {
        ctx.error(gv.at, `${gv.path}: ${formatIpv4(gw)} is not inside uplinkCidr ${net}; the gateway must be on the uplink's own network`);
        gw = undefined;
      } else if (block.prefix <= 30 && (gw === block.addr || gw === ipv4Last(block))) {
        ctx.error(gv.at, `${gv.path}: ${formatIpv4(gw)} is the ${gw === block.addr ? 'network' : 'broadcast'} address of uplinkCidr ${net}, not a host`);
        gw = undefined;
      }
    }
    if (uv !== undefined && ipAddr !== undefined && !ipv4InCidr(block, ipAddr)) {
      ctx.error(uv.at, `${uv.path}: ${formatIpv4(ipAddr)} is not inside uplinkCidr ${net}; vpcd's uplink address must be on the uplink's own network`);
    }
  }
  return { ...(gw !== undefined ? { gateway: formatIpv4(gw) } : {}), ...(block !== undefined ? { block } : {}) };
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
  /** conntrack.max: an allowance above it never binds. */
  readonly conntrackMax: number;
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

export function readInstances(ctx: Ctx, entries: Entry[], env: InstanceEnv): Map<string, Instance> {
  const out = new Map<string, Instance>();
  const keys = ['subnet', 'ip', 'publicIp', 'securityGroups', 'sourceDestCheck', 'natInstance', 'mac', 'interface', 'conntrackAllowance', 'attach', 'metadataOptions', 'userData'];
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
    const av = f.get('conntrackAllowance');
    const conntrackAllowance = av && readInt(ctx, av, 1, LIMITS.conntrackMax, 'tracked connections of this ENI');
    if (av !== undefined && conntrackAllowance !== undefined && conntrackAllowance > env.conntrackMax) {
      ctx.warn(av.at, `${av.path}: ${conntrackAllowance} is above conntrack.max ${env.conntrackMax}; the table fills before this ENI reaches its allowance`);
    }
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
    const tv = f.get('attach');
    const attach = tv && readAttach(ctx, tv);
    const ov = f.get('metadataOptions');
    const metadataOptions = ov && readMetadataOptions(ctx, ov);
    const udv = f.get('userData');
    let userData: string | undefined;
    if (udv !== undefined) {
      userData = readString(ctx, udv, 'the user data text');
      // AWS: user data is limited to 16 KB (before base64 encoding).
      if (userData !== undefined && Buffer.byteLength(userData) > 16_384) {
        ctx.error(udv.at, `${udv.path}: ${Buffer.byteLength(userData)} bytes; AWS limits user data to 16 KB`);
        userData = undefined;
      }
    }
    if (subnet === undefined || ip === undefined) continue;
    out.set(name, {
      name, subnet, ip, ...(publicIp !== undefined ? { publicIp } : {}),
      securityGroups, sourceDestCheck, natInstance, mac, interface: iface,
      ...(conntrackAllowance !== undefined ? { conntrackAllowance } : {}),
      ...(attach !== undefined ? { attach } : {}),
      ...(metadataOptions !== undefined ? { metadataOptions } : {}),
      ...(userData !== undefined ? { userData } : {}),
    });
  }
  return out;
}

/** `metadataOptions`: AWS's InstanceMetadataOptions; absent keys take AWS's defaults. */
function readMetadataOptions(ctx: Ctx, v: V): MetadataOptions | undefined {
  const f = readMap(ctx, v, ['httpEndpoint', 'httpTokens', 'httpPutResponseHopLimit']);
  if (f === undefined) return undefined;
  const ev = f.get('httpEndpoint');
  const tv = f.get('httpTokens');
  const hv = f.get('httpPutResponseHopLimit');
  return {
    httpEndpoint: (ev && readEnum(ctx, ev, ['enabled', 'disabled'] as const)) ?? METADATA_DEFAULTS.httpEndpoint,
    httpTokens: (tv && readEnum(ctx, tv, ['optional', 'required'] as const)) ?? METADATA_DEFAULTS.httpTokens,
    // AWS: 1 to 64 hops.
    httpPutResponseHopLimit: (hv && readInt(ctx, hv, 1, 64, 'hops (AWS allows 1 to 64)')) ?? METADATA_DEFAULTS.httpPutResponseHopLimit,
  };
}

// --- attach: an instance in a namespace vpcd did not create --------------------

/** The interface name inside an attached namespace when the file gives none. */
const ATTACH_DEFAULT_IFNAME = 'eth1';
/** Linux's largest pid_max (PID_MAX_LIMIT on 64-bit). */
const PID_MAX = 4_194_304;
/** Docker and Podman container names and ids. */
const CONTAINER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

function readAttach(ctx: Ctx, v: V): InstanceAttach | undefined {
  const f = readMap(ctx, v, ['netns', 'pid', 'container', 'interface', 'defaultRoute']);
  if (f === undefined) return undefined;
  const given = (['netns', 'pid', 'container'] as const).filter((k) => f.has(k));
  if (given.length !== 1) {
    ctx.error(v.at, `${v.path}: give exactly one of netns, pid and container${given.length > 1 ? ` (got ${given.join(', ')})` : ''}`);
    return undefined;
  }
  let target: AttachTarget | undefined;
  const kind = given[0]!;
  const tv = f.get(kind)!;
  if (kind === 'pid') {
    const pid = readInt(ctx, tv, 1, PID_MAX, 'a process id');
    if (pid !== undefined) target = { pid };
  } else if (kind === 'netns') {
    const s = readString(ctx, tv, 'a namespace name under /run/netns or an absolute path such as /proc/PID/ns/net');
    if (s !== undefined) {
      const p = s.startsWith('/') ? (s.includes('\0') ? 'contains a NUL byte' : undefined) : netnsProblem(s);
      if (p !== undefined) ctx.error(tv.at, `${tv.path}: ${JSON.stringify(s)} ${p}; give a name under /run/netns or an absolute path such as /proc/PID/ns/net`);
      else target = { netns: s };
    }
  } else {
    const s = readString(ctx, tv, 'a container name or id');
    if (s !== undefined) {
      if (!CONTAINER_RE.test(s)) ctx.error(tv.at, `${tv.path}: ${JSON.stringify(s)} is not a container name or id (letters, digits, "_", "." and "-", starting with a letter or digit)`);
      else target = { container: s };
    }
  }
  const iv = f.get('interface');
  const iface = iv === undefined ? ATTACH_DEFAULT_IFNAME : readIfName(ctx, iv);
  const dv = f.get('defaultRoute');
  const defaultRoute = dv === undefined ? true : readBool(ctx, dv);
  if (target === undefined || iface === undefined || defaultRoute === undefined) return undefined;
  return { target, interface: iface, defaultRoute };
}

// --- NAT gateways ------------------------------------------------------------

export function readNatGateways(ctx: Ctx, entries: Entry[], env: AddrEnv): Map<string, NatGateway> {
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
