/**
 * Site-to-site VPN on the AWS side (describe-vpn-connections, and
 * describe-vpn-gateways / describe-customer-gateways when given): the VPC's
 * virtual private gateway becomes `vpnGateway`, each of its connections a
 * `vpnConnections` entry with role vgw: remote networks from the static
 * routes (else the routes propagated into the VPC's route tables), tunnels
 * from TunnelOptions (AWS's outside address as `local`, the customer
 * gateway's address as `peer`), IKE and ESP proposals from the phase 1 and
 * phase 2 algorithm sets. The pre-shared key is never copied into the file:
 * the connection reads it from an environment variable the report names.
 */
import { arr, nameTag, num, obj, str, values, type Json } from './aws-json.js';
import { type Ctx, mapAddr, mapCidr, subject, type VpnConnectionOut } from './model.js';
import { NameSpace, sanitizeName } from './names.js';

/** AWS's default Amazon-side ASN. */
const DEFAULT_AMAZON_ASN = 64512;

const ENCR: Readonly<Record<string, string>> = { AES128: 'aes128', AES256: 'aes256', 'AES128-GCM-16': 'aes128gcm16', 'AES256-GCM-16': 'aes256gcm16' };
const INTEG: Readonly<Record<string, string>> = { SHA1: 'sha1', 'SHA2-256': 'sha256', 'SHA2-384': 'sha384', 'SHA2-512': 'sha512' };
const DH: Readonly<Record<number, string>> = { 2: 'modp1024', 14: 'modp2048', 15: 'modp3072', 16: 'modp4096', 19: 'ecp256', 20: 'ecp384', 21: 'ecp521' };

/** The VGW attached to the VPC: from describe-vpn-gateways, else the one the route tables name. */
export function findVpnGateway(ctx: Ctx): string | undefined {
  for (const g of ctx.input.vpnGateways) {
    if (arr(g, 'VpcAttachments').some((a) => str(a, 'VpcId') === ctx.vpcId && str(a, 'State') === 'attached')) return str(g, 'VpnGatewayId');
  }
  for (const t of ctx.input.routeTables) {
    if (str(t, 'VpcId') !== ctx.vpcId) continue;
    for (const r of arr(t, 'Routes')) {
      const g = str(r, 'GatewayId');
      if (g?.startsWith('vgw-') === true) return g;
    }
    for (const p of arr(t, 'PropagatingVgws')) {
      const g = str(p, 'GatewayId');
      if (g !== undefined) return g;
    }
  }
  return undefined;
}

/** The route target for a VGW: makes the `vpnGateway` section on first use. */
export function vpnGatewayTarget(ctx: Ctx, id: string): string {
  if (ctx.doc.vpnGateway !== undefined) {
    if (ctx.vgwId !== id) ctx.report.note(subject('VPN gateway', undefined, id), `routes name it besides ${ctx.vgwId ?? '?'}; both are mapped to ${ctx.doc.vpnGateway.name}`);
    return ctx.doc.vpnGateway.name;
  }
  ctx.vgwId = id;
  const g = ctx.input.vpnGateways.find((x) => str(x, 'VpnGatewayId') === id);
  const name = ctx.targets.take(nameTag(g), id);
  const asn = num(g, 'AmazonSideAsn');
  if (asn === undefined) ctx.report.note(subject('VPN gateway', name, id), `Amazon-side ASN unknown (no describe-vpn-gateways output): ${DEFAULT_AMAZON_ASN}, AWS's default`);
  ctx.doc.vpnGateway = { name, asn: asn ?? DEFAULT_AMAZON_ASN };
  ctx.comments.set('vpnGateway', id);
  return name;
}

/** The customer gateway's outside address: describe-customer-gateways, else the connection's own configuration XML. */
function customerAddress(ctx: Ctx, c: Json): string | undefined {
  const cgw = ctx.input.customerGateways.find((g) => str(g, 'CustomerGatewayId') === str(c, 'CustomerGatewayId'));
  const ip = str(cgw, 'IpAddress');
  if (ip !== undefined) return ip;
  const xml = str(c, 'CustomerGatewayConfiguration') ?? '';
  return /<customer_gateway>\s*<tunnel_outside_address>\s*<ip_address>([0-9.]+)<\/ip_address>/.exec(xml)?.[1];
}

function proposals(t: Json, phase: 1 | 2, where: string, ctx: Ctx): string[] | undefined {
  const enc = values(t, `Phase${phase}EncryptionAlgorithms`).map(String);
  const integ = values(t, `Phase${phase}IntegrityAlgorithms`).map(String);
  const dh = values(t, `Phase${phase}DHGroupNumbers`).map(Number);
  if (enc.length === 0 || integ.length === 0 || dh.length === 0) return undefined;
  const e = enc.map((x) => ENCR[x]).filter((x): x is string => x !== undefined);
  const i = integ.map((x) => INTEG[x]).filter((x): x is string => x !== undefined);
  const d = dh.map((x) => DH[x]).filter((x): x is string => x !== undefined);
  const dropped = [...enc.filter((x) => ENCR[x] === undefined), ...integ.filter((x) => INTEG[x] === undefined), ...dh.filter((x) => DH[x] === undefined).map((x) => `group ${x}`)];
  if (dropped.length > 0) ctx.report.unmap(where, `phase ${phase} algorithms vpcd does not implement: ${dropped.join(', ')}; left out of the proposals`);
  if (e.length === 0 || i.length === 0 || d.length === 0) return undefined;
  const gcm = e.filter((x) => x.includes('gcm'));
  const cbc = e.filter((x) => !x.includes('gcm'));
  const out: string[] = [];
  if (phase === 1) {
    if (gcm.length > 0) out.push([...gcm, ...i.map((x) => `prf${x}`), ...d].join('-'));
    if (cbc.length > 0) out.push([...cbc, ...i, ...d].join('-'));
  } else {
    if (gcm.length > 0) out.push([...gcm, ...d].join('-'));
    if (cbc.length > 0) out.push([...cbc, ...i, ...d].join('-'));
  }
  return out;
}

export function mapVpnConnections(ctx: Ctx): void {
  const names = new NameSpace();
  const vgw = findVpnGateway(ctx);
  for (const c of ctx.input.vpnConnections) {
    const id = str(c, 'VpnConnectionId');
    if (id === undefined) continue;
    const where = subject('VPN connection', nameTag(c), id);
    const state = str(c, 'State') ?? 'available';
    if (state === 'deleted' || state === 'deleting') continue;
    const tgw = str(c, 'TransitGatewayId');
    if (tgw !== undefined) {
      ctx.report.unmap(where, `on transit gateway ${tgw}: vpcd has no transit gateway; left out`);
      continue;
    }
    const onVgw = str(c, 'VpnGatewayId');
    if (onVgw === undefined || onVgw !== vgw) {
      ctx.report.note(where, `on ${onVgw ?? 'no VPN gateway'}, not this VPC's${vgw !== undefined ? ` (${vgw})` : ''}: not imported`);
      continue;
    }
    const opts = obj(c, 'Options');
    const staticOnly = opts?.StaticRoutesOnly === true;
    let remote = arr(c, 'Routes').filter((r) => str(r, 'State') !== 'deleted' && str(r, 'State') !== 'deleting').map((r) => str(r, 'DestinationCidrBlock')).filter((x): x is string => x !== undefined);
    if (!staticOnly) ctx.report.unmap(where, 'dynamic routing (BGP): vpcd routes statically; the networks below are fixed at import');
    if (remote.length === 0) {
      // BGP: what the VGW propagated into this VPC's route tables.
      const seen = new Set<string>();
      for (const t of ctx.input.routeTables) {
        if (str(t, 'VpcId') !== ctx.vpcId) continue;
        for (const r of arr(t, 'Routes')) {
          const d = str(r, 'DestinationCidrBlock');
          if (d !== undefined && str(r, 'GatewayId') === vgw) seen.add(d);
        }
      }
      remote = [...seen];
    }
    if (remote.length === 0) {
      ctx.report.unmap(where, 'no remote networks (no static routes, none propagated into the route tables): left out');
      continue;
    }
    const peer = customerAddress(ctx, c);
    if (peer === undefined) {
      ctx.report.unmap(where, `the customer gateway's address is unknown (add describe-customer-gateways output): left out`);
      continue;
    }
    const topts = arr(opts, 'TunnelOptions');
    const tunnels: VpnConnectionOut['tunnels'] = [];
    for (const t of topts.slice(0, 2)) {
      const local = str(t, 'OutsideIpAddress');
      const inside = str(t, 'TunnelInsideCidr');
      if (local === undefined || inside === undefined) continue;
      tunnels.push({ peer: mapAddr(ctx, peer), insideCidr: inside, local: mapAddr(ctx, local) });
      if (str(t, 'TunnelInsideIpv6Cidr') !== undefined) ctx.report.unmap(where, `tunnel ${local}: IPv6 inside addresses (${str(t, 'TunnelInsideIpv6Cidr')}): left out`);
    }
    if (tunnels.length === 0) {
      ctx.report.unmap(where, 'no TunnelOptions with OutsideIpAddress and TunnelInsideCidr: left out');
      continue;
    }
    const name = names.take(nameTag(c), id);
    const env = `VPN_PSK_${sanitizeName(name).replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
    const first = topts[0];
    const out: VpnConnectionOut = {
      role: 'vgw',
      remoteNetworks: remote.map((r) => mapCidr(ctx, r, where)),
      auth: { psk: { env } },
      tunnels,
    };
    const ike = proposals(first, 1, where, ctx);
    const esp = proposals(first, 2, where, ctx);
    const p1 = num(first, 'Phase1LifetimeSeconds');
    const p2 = num(first, 'Phase2LifetimeSeconds');
    const dpd = num(first, 'DpdTimeoutSeconds');
    if (ike !== undefined || p1 !== undefined || dpd !== undefined) {
      out.ike = { ...(ike !== undefined ? { proposals: ike } : {}), ...(p1 !== undefined ? { lifetime: p1 } : {}), ...(dpd !== undefined && dpd >= 30 ? { dpdTimeout: dpd } : {}) };
    }
    if (esp !== undefined || p2 !== undefined) out.esp = { ...(esp !== undefined ? { proposals: esp } : {}), ...(p2 !== undefined ? { lifetime: p2 } : {}) };
    if (ike === undefined || esp === undefined) ctx.report.note(where, 'AWS\'s default algorithm sets (all allowed): vpcd\'s default proposals, which are among them');
    const versions = values(first, 'IkeVersions').map(String);
    if (versions.length > 0 && !versions.includes('ikev2')) ctx.report.unmap(where, `IKE versions ${versions.join(', ')}: vpcd speaks IKEv2 only`);
    if (topts.length > 1 && JSON.stringify(proposalsOf(topts[0])) !== JSON.stringify(proposalsOf(topts[1]))) {
      ctx.report.note(where, 'the two tunnels have different options; the first tunnel\'s are used for both');
    }
    const psk = topts.some((t) => str(t, 'PreSharedKey') !== undefined);
    ctx.report.note(where, `the pre-shared key is read from the environment variable ${env}${psk ? ' (the input holds it; it is not copied into the file)' : ''}`);
    ctx.doc.vpnConnections[name] = out;
    ctx.comments.set(`vpnConnections.${name}`, `${id}, customer gateway ${str(c, 'CustomerGatewayId') ?? '?'}`);
  }
}

function proposalsOf(t: Json): unknown[] {
  return ['Phase1EncryptionAlgorithms', 'Phase1IntegrityAlgorithms', 'Phase1DHGroupNumbers', 'Phase2EncryptionAlgorithms', 'Phase2IntegrityAlgorithms', 'Phase2DHGroupNumbers', 'Phase1LifetimeSeconds', 'Phase2LifetimeSeconds']
    .map((k) => (typeof t === 'object' && t !== null ? (t as Record<string, unknown>)[k] : undefined));
}
