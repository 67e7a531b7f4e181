/**
 * `vpcd import aws`: AWS CLI describe-* output (aws-input.ts) to a vpcd
 * configuration. The order matters only for references: names first (VPC,
 * internet gateway, subnets, groups), then what refers to them (rules,
 * gateways, instances, route tables, VPN connections). The result is checked
 * with the configuration loader before it is returned, so a mapping mistake
 * shows as an error instead of a file `vpcd check` rejects.
 */
import { parseConfig } from '../control/config.js';
import { ConfigError } from '../control/config-types.js';
import type { AwsInput } from './aws-input.js';
import { str } from './aws-json.js';
import { emitYaml } from './emit.js';
import { mapInstances } from './map-instances.js';
import { mapInternetGateway, mapNatGateways, mapSubnets, selectVpc } from './map-network.js';
import { mapRouteTables } from './map-routes.js';
import { mapNetworkAcls, mapSecurityGroups } from './map-rules.js';
import { findVpnGateway, mapVpnConnections, vpnGatewayTarget } from './map-vpn.js';
import { type Ctx, type Doc, newCtx } from './model.js';
import { sanitizeName } from './names.js';
import { cidrToString } from '../control/cidr.js';
import { type Remap, Remapper } from './remap.js';
import { ImportReport } from './report.js';

export { ImportError } from './map-network.js';

export interface ImportOptions {
  readonly remaps: readonly Remap[];
  /** The VPC to import (id or Name tag) when the input holds several. */
  readonly vpc?: string;
  /** For the header comment. */
  readonly version?: string;
}

export interface ImportResult {
  readonly yaml: string;
  readonly doc: Doc;
  readonly report: ImportReport;
  /** Problems the configuration loader found in the output (empty when it validates). */
  readonly problems: readonly string[];
}

/** Lab internet hosts to offer explain and the lab: the first not taken by an address of the file. */
const LAB_HOST_CANDIDATES = ['203.0.113.100', '198.51.100.100', '203.0.113.200', '198.51.100.200'];

function labSection(ctx: Ctx): void {
  const used = new Set<string>();
  for (const i of Object.values(ctx.doc.instances)) if (i.publicIp !== undefined) used.add(i.publicIp);
  for (const g of Object.values(ctx.doc.natGateways)) if (g.publicIp !== undefined) used.add(g.publicIp);
  for (const c of Object.values(ctx.doc.vpnConnections)) for (const t of c.tunnels) used.add(t.peer).add(t.local ?? '');
  const host = LAB_HOST_CANDIDATES.find((h) => !used.has(h));
  const prefix = sanitizeName(ctx.doc.vpc.name).slice(0, 32).replace(/[-.]+$/, '') || 'vpc';
  ctx.doc.lab = { prefix, internetHosts: host !== undefined ? { client: host } : {} };
}

/** Objects of other VPCs in the input are not imported: one note says how many of each. */
function otherVpcs(ctx: Ctx): void {
  const lists: [string, readonly unknown[]][] = [
    ['subnets', ctx.input.subnets], ['route tables', ctx.input.routeTables], ['network ACLs', ctx.input.networkAcls],
    ['security groups', ctx.input.securityGroups], ['instances', ctx.input.instances], ['NAT gateways', ctx.input.natGateways],
  ];
  const counts: string[] = [];
  const vpcs = new Set<string>();
  for (const [what, list] of lists) {
    let n = 0;
    for (const o of list) {
      const v = str(o, 'VpcId');
      if (v !== undefined && v !== ctx.vpcId) {
        n++;
        vpcs.add(v);
      }
    }
    if (n > 0) counts.push(`${n} ${what}`);
  }
  if (counts.length > 0) ctx.report.note('input', `${counts.join(', ')} of other VPCs (${[...vpcs].join(', ')}) are not imported`);
}

export function importAws(input: AwsInput, opts: ImportOptions): ImportResult {
  const report = new ImportReport();
  const ctx = newCtx(input, report, new Remapper(opts.remaps));
  for (const s of input.summary) report.read.push(s);
  for (const i of input.ignored) report.unmap('input', i);
  selectVpc(ctx, opts.vpc);
  mapInternetGateway(ctx);
  mapSubnets(ctx);
  mapSecurityGroups(ctx);
  mapNetworkAcls(ctx);
  mapNatGateways(ctx);
  mapInstances(ctx);
  mapRouteTables(ctx, (id) => vpnGatewayTarget(ctx, id));
  const vgw = findVpnGateway(ctx);
  if (vgw !== undefined && input.vpnConnections.some((c) => typeof c === 'object' && c !== null && (c as { VpnGatewayId?: unknown }).VpnGatewayId === vgw)) vpnGatewayTarget(ctx, vgw);
  mapVpnConnections(ctx);
  labSection(ctx);
  otherVpcs(ctx);
  const doc = ctx.doc;
  // Subnets in the order docs/config.md writes them: cidr, routeTable, networkAcl.
  for (const [n, sub] of Object.entries(doc.subnets)) {
    doc.subnets[n] = { cidr: sub.cidr, ...(sub.routeTable !== undefined ? { routeTable: sub.routeTable } : {}), ...(sub.networkAcl !== undefined ? { networkAcl: sub.networkAcl } : {}) };
  }
  if (Object.keys(doc.vpnConnections).length === 0) delete (doc as Partial<Doc>).vpnConnections;
  for (const k of ['prefixLists', 'natGateways'] as const) if (Object.keys(doc[k]).length === 0) delete (doc as Partial<Doc>)[k];
  const remapText = opts.remaps.map((r) => `${cidrToString(r.from)}=${cidrToString(r.to)}`).join(' ');
  const header = [
    `vpcd configuration imported by \`vpcd import aws\`${opts.version !== undefined ? ` (vpcd ${opts.version})` : ''} from AWS CLI describe-* output`,
    `VPC ${ctx.vpcId} ${ctx.vpcCidrAws}${remapText !== '' ? `, addresses moved with --remap ${remapText}` : ''}`,
    `${report.unmapped.length} item(s) could not be mapped: see the report the import printed on stderr`,
  ];
  const yaml = emitYaml(doc, ctx.comments, header);
  let problems: string[] = [];
  try {
    parseConfig(yaml, '<import>');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems = e.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
  }
  return { yaml, doc, report, problems };
}
