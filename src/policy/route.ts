/**
 * VPC route-table lookup, written after [VPC-IGW], [S2S-RT] and the config
 * contract (every table has the implicit local route `vpc.cidr -> local`):
 *
 * - the longest prefix that contains the destination wins;
 * - on an identical prefix the local route wins over a configured route
 *   (AWS: the local route cannot be overridden by an equal prefix);
 * - AWS's other tie-breaks (a propagated VPN route loses to the local route
 *   even when more specific; static beats propagated on equal prefixes) do
 *   not arise: every route in a vpcd config is static. A static route more
 *   specific than the VPC CIDR does win over the local route, as AWS allows
 *   since its middlebox-routing change (e.g. `198.18.2.0/24 -> firewall`);
 * - IPv6 destinations never match an IPv4 packet.
 */
import type { RouteTargetKind, Subnet, VpcConfig } from '../control/config-types.js';
import { cidrContainsIp, cidrPrefix } from './addr.js';

export interface RouteMatch {
  /** Route table name. */
  readonly table: string;
  /** The matching route's destination CIDR. */
  readonly destination: string;
  /** `local`, `igw`, `vgw`, a NAT gateway's name or an instance's name. */
  readonly target: string;
  readonly targetKind: RouteTargetKind;
}

/** The route table a subnet uses (`main` when the subnet names none). */
export function routeTableOf(cfg: VpcConfig, subnet: Subnet | string): string {
  const s = typeof subnet === 'string' ? cfg.subnets.get(subnet) : subnet;
  return s?.routeTable ?? 'main';
}

/** The route `subnet`'s table uses for `dstIp`, or null when none matches (NO_ROUTE_TO_DESTINATION). */
export function routeLookup(cfg: VpcConfig, subnet: Subnet | string, dstIp: string): RouteMatch | null {
  const table = routeTableOf(cfg, subnet);
  const candidates: RouteMatch[] = [{ table, destination: cfg.vpc.cidr, target: 'local', targetKind: 'local' }];
  for (const r of cfg.routeTables.get(table)?.routes ?? []) {
    candidates.push({ table, destination: r.destination, target: r.target, targetKind: r.targetKind });
  }
  let best: RouteMatch | null = null;
  for (const c of candidates) {
    if (!cidrContainsIp(c.destination, dstIp)) continue;
    // Strictly longer only: the local route comes first and keeps ties; among
    // configured routes the first in file order keeps a tie.
    if (best === null || cidrPrefix(c.destination) > cidrPrefix(best.destination)) best = c;
  }
  return best;
}
