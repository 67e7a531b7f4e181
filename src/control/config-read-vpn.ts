/**
 * Readers for the site-to-site VPN sections: `vpnGateway`, `customerGateway`
 * (each with an optional Direct Connect link) and `vpnConnections` (networks,
 * authentication, tunnels). Tunnel parameters are checked in
 * config-vpn-checks.ts.
 */
import { cidrContains, cidrToString, formatIpv4, type Ipv4Cidr, parseIpv4 } from './cidr.js';
import type { DirectConnectConfig, VpcConfig, VpnConnection, VpnTunnel } from './config-types.js';
import { labDxIfName, labUplinkIfName } from '../lab/names.js';
import { DEFAULTS } from './config-defaults.js';
import { Ctx, join, readList, readMap, required, type V } from './config-issues.js';
import { checkOutsideVpc, Claims, type Entry, readBool, readEnum, readGatewayName, readIfName, readInt, readIpv4, readIpv4Cidr, readName, readPath, readString } from './config-read-values.js';
import { readInsideCidr, readLifetimes } from './config-vpn-checks.js';

export function readVpnGateway(ctx: Ctx, v: V | undefined, labPrefix: string, vpcCidr: Ipv4Cidr | undefined): VpcConfig['vpnGateway'] {
  if (v === undefined) return undefined;
  const f = readMap(ctx, v, ['name', 'asn', 'directConnect']) ?? new Map<string, V>();
  const nv = f.get('name');
  const av = f.get('asn');
  const dx = readDirectConnect(ctx, f.get('directConnect'), v, labPrefix, vpcCidr);
  return {
    name: readGatewayName(ctx, nv, DEFAULTS.vgwName),
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

export function readCustomerGateway(
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

// --- VPN ---------------------------------------------------------------------

interface VpnEnv {
  readonly vpcCidr: Ipv4Cidr | undefined;
  readonly hasVgw: boolean;
  readonly cgw: VpcConfig['customerGateway'];
}

const VPN_KEYS = ['role', 'remoteNetworks', 'localNetworks', 'splitTunnel', 'auth', 'tunnels', 'ike', 'esp', 'allowShortLifetimes'];

export function readVpnConnections(ctx: Ctx, entries: Entry[], env: VpnEnv): Map<string, VpnConnection> {
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
