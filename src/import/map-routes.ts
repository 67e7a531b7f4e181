/**
 * Route tables (describe-route-tables): routes, subnet associations and the
 * main route table. A subnet without an explicit association uses the main
 * table (AWS's implicit association), which the output writes out on the
 * subnet. Routes with State blackhole keep their destination with the target
 * `blackhole`; routes propagated from a virtual private gateway are written
 * as static routes to it. Targets vpcd does not have (peering connections,
 * transit gateways, VPC endpoints, egress-only gateways, ...) are reported.
 */
import { arr, bool, nameTag, str, type Json } from './aws-json.js';
import { ensureInternetGateway } from './map-network.js';
import { prefixList } from './map-rules.js';
import { type Ctx, mapCidr, subject } from './model.js';
import { NameSpace } from './names.js';

/** Route fields naming targets vpcd has no equivalent for, and what they are. */
const FOREIGN_TARGETS: readonly [string, string][] = [
  ['VpcPeeringConnectionId', 'VPC peering connection'],
  ['TransitGatewayId', 'transit gateway'],
  ['EgressOnlyInternetGatewayId', 'egress-only internet gateway'],
  ['CarrierGatewayId', 'carrier gateway'],
  ['LocalGatewayId', 'local gateway (Outposts)'],
  ['CoreNetworkArn', 'Cloud WAN core network'],
  ['OdbNetworkArn', 'ODB network'],
];

type Target = { target: string } | { unmapped: string };

function target(ctx: Ctx, r: Json, vgw: (id: string) => string): Target {
  for (const [field, what] of FOREIGN_TARGETS) {
    const v = str(r, field);
    if (v !== undefined) return { unmapped: `${what} ${v}` };
  }
  const eni = str(r, 'NetworkInterfaceId');
  const inst = str(r, 'InstanceId');
  if (eni !== undefined || inst !== undefined) {
    const name = (eni !== undefined ? ctx.enis.get(eni) : undefined) ?? (inst !== undefined ? ctx.instances.get(inst) : undefined);
    if (name !== undefined) return { target: name };
    return { unmapped: `${inst !== undefined ? `instance ${inst}` : `network interface ${eni}`} (not an imported instance: a load balancer, firewall endpoint or other service ENI, or missing from the input)` };
  }
  const nat = str(r, 'NatGatewayId');
  if (nat !== undefined) {
    const name = ctx.natGateways.get(nat);
    return name !== undefined ? { target: name } : { unmapped: `NAT gateway ${nat} (not an imported NAT gateway)` };
  }
  const gw = str(r, 'GatewayId');
  if (gw?.startsWith('igw-') === true) return { target: ensureInternetGateway(ctx, gw) };
  if (gw?.startsWith('vgw-') === true) return { target: vgw(gw) };
  if (gw?.startsWith('vpce-') === true) return { unmapped: `VPC endpoint ${gw}` };
  if (str(r, 'IpAddress') !== undefined) return { unmapped: `route server next hop ${str(r, 'IpAddress')}` };
  return { unmapped: `target ${gw ?? 'none given'}` };
}

/** The target named in a blackhole route, for the report. */
function deadTarget(r: Json): string {
  for (const f of ['NatGatewayId', 'InstanceId', 'NetworkInterfaceId', 'GatewayId', 'VpcPeeringConnectionId', 'TransitGatewayId']) {
    const v = str(r, f);
    if (v !== undefined) return v;
  }
  return 'a deleted target';
}

export function mapRouteTables(ctx: Ctx, vgw: (id: string) => string): void {
  const names = new NameSpace();
  let main: string | undefined;
  for (const t of ctx.input.routeTables) {
    const id = str(t, 'RouteTableId');
    if (id === undefined || str(t, 'VpcId') !== ctx.vpcId) continue;
    const isMain = arr(t, 'Associations').some((a) => bool(a, 'Main') === true);
    const name = names.take(nameTag(t), id);
    const where = subject('route table', name, id);
    const routes: { destination: string; target: string }[] = [];
    const add = (destination: string, tgt: string, why: string) => {
      const same = routes.find((x) => x.destination === destination);
      if (same !== undefined) {
        ctx.report.note(where, `route ${destination} -> ${tgt} (${why}) left out: the table has ${destination} -> ${same.target} already (AWS prefers the static route)`);
        return;
      }
      routes.push({ destination, target: tgt });
    };
    const propagated: string[] = [];
    for (const r of arr(t, 'Routes')) {
      const v4 = str(r, 'DestinationCidrBlock');
      const v6 = str(r, 'DestinationIpv6CidrBlock');
      const pl = str(r, 'DestinationPrefixListId');
      const origin = str(r, 'Origin');
      const gw = str(r, 'GatewayId');
      // The VPC's IPv6 block (and its local route) is reported with the VPC.
      if (v6 !== undefined && gw === 'local') continue;
      if (v6 !== undefined) {
        ctx.report.unmap(where, `IPv6 route ${v6} -> ${gw ?? str(r, 'EgressOnlyInternetGatewayId') ?? deadTarget(r)}: vpcd routes IPv4 only`);
        continue;
      }
      if (gw === 'local') {
        if (v4 !== ctx.vpcCidrAws) ctx.report.unmap(where, `local route ${v4 ?? pl ?? '?'}: not the VPC's primary CIDR; vpcd's local route is vpc.cidr only`);
        continue;
      }
      const dests: string[] = [];
      if (v4 !== undefined) dests.push(mapCidr(ctx, v4, where));
      else if (pl !== undefined) {
        const tgt = target(ctx, r, vgw);
        if ('unmapped' in tgt) {
          ctx.report.unmap(where, `route ${pl} -> ${tgt.unmapped}: left out`);
          continue;
        }
        const list = prefixList(ctx, pl, where);
        if (list === undefined) {
          ctx.report.unmap(where, `route ${pl} -> ${tgt.target}: left out (the prefix list's entries are unknown)`);
          continue;
        }
        for (const c of ctx.doc.prefixLists[list]!.cidrs) if (!c.includes(':')) dests.push(c);
        ctx.report.note(where, `route to prefix list ${pl} written as one route per entry (${dests.length})`);
      } else continue;
      if (str(r, 'State') === 'blackhole') {
        for (const d of dests) add(d, 'blackhole', 'blackhole');
        ctx.report.note(where, `route ${v4 ?? pl} -> ${deadTarget(r)} is in state blackhole (its target is gone): target blackhole`);
        continue;
      }
      const tgt = target(ctx, r, vgw);
      if ('unmapped' in tgt) {
        ctx.report.unmap(where, `route ${v4 ?? pl} -> ${tgt.unmapped}: left out`);
        continue;
      }
      if (origin === 'EnableVgwRoutePropagation') propagated.push(...dests);
      for (const d of dests) add(d, tgt.target, origin === 'EnableVgwRoutePropagation' ? 'propagated' : 'static');
    }
    if (propagated.length > 0) ctx.report.note(where, `routes propagated from the VPN gateway (${propagated.join(', ')}) are written as static routes (vpcd does not propagate routes)`);
    for (const p of arr(t, 'PropagatingVgws')) {
      const g = str(p, 'GatewayId');
      if (g !== undefined && propagated.length === 0) ctx.report.note(where, `route propagation from ${g} is on; the input shows no propagated routes, so none are written`);
    }
    ctx.doc.routeTables[name] = { routes };
    ctx.comments.set(`routeTables.${name}`, `${id}${isMain ? ' (the main route table)' : ''}`);
    if (isMain) main = name;
    for (const a of arr(t, 'Associations')) {
      const sid = str(a, 'SubnetId');
      const gid = str(a, 'GatewayId');
      if (gid !== undefined) ctx.report.unmap(where, `associated with gateway ${gid} (ingress routing): vpcd has no gateway route tables`);
      if (sid === undefined) continue;
      const sub = ctx.subnets.get(sid);
      const s = sub === undefined ? undefined : ctx.doc.subnets[sub];
      if (s !== undefined) s.routeTable = name;
    }
  }
  const implicit = Object.entries(ctx.doc.subnets).filter(([, s]) => s.routeTable === undefined);
  if (main !== undefined) {
    for (const [n, s] of implicit) {
      s.routeTable = main;
      const c = ctx.comments.get(`subnets.${n}`);
      ctx.comments.set(`subnets.${n}`, `${c ?? n}; the main route table by implicit association`);
    }
  } else if (implicit.length > 0) {
    ctx.report.note('route tables', `no main route table in the input: subnets ${implicit.map(([n]) => n).join(', ')} use vpcd's main table (the local route only)`);
  }
}
