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
 *
 * This file is the entry (parseConfig, loadConfig) and the root of the tree;
 * each section's reader lives in a config-read-*.ts file, the issue collection
 * and YAML node helpers in config-issues.ts.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { cidrToString } from './cidr.js';
import { ConfigError, type ConfigIssue, type VpcConfig, withParsed } from './config-types.js';
import { childOf, Ctx, isNothing, readMap, yamlMessage } from './config-issues.js';
import { readInstances, readInternetGateway, readNatGateways } from './config-read-instances.js';
import { readNetworkAcls, readPrefixLists, readSecurityGroups } from './config-read-rules.js';
import { readConntrack, readControl, readDataplane, readDhcpOptions, readFlowLogs, readLab, readMetrics, readState } from './config-read-settings.js';
import { Claims, type Entry, type Names, readEntries } from './config-read-values.js';
import { readRouteTables, readSubnets, readVpc, type SubnetInfo } from './config-read-vpc.js';
import { readDns, readPrivateZones } from './config-read-dns.js';
import { readCustomerGateway, readVpnConnections, readVpnGateway } from './config-read-vpn.js';

export { DEFAULTS } from './config-defaults.js';

const TOP_KEYS = [
  'vpc', 'subnets', 'networkAcls', 'securityGroups', 'prefixLists', 'instances', 'routeTables',
  'internetGateway', 'natGateways', 'vpnGateway', 'customerGateway', 'vpnConnections',
  'conntrack', 'flowLogs', 'metrics', 'control', 'state', 'lab', 'dataplane', 'dhcpOptions', 'privateZones', 'dns',
] as const;

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
  const conntrack = readConntrack(ctx, top.get('conntrack'));

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
    ['blackhole', 'the blackhole route target'],
  ]);
  if (igw !== undefined && !reservedTargets.has(igw.name)) reservedTargets.set(igw.name, 'internetGateway.name');
  if (vgw !== undefined && !reservedTargets.has(vgw.name)) reservedTargets.set(vgw.name, 'vpnGateway.name');

  // The IGW uplink and the CGW WAN may share one interface; instances may not use either.
  const uplinks = new Map<string, string>();
  if (cgw?.wan.interface !== undefined) uplinks.set(cgw.wan.interface, 'customerGateway.wan.interface');
  if (igw !== undefined) uplinks.set(igw.interface, 'internetGateway.interface');
  const instances = readInstances(ctx, entries.instances, {
    names, subnetInfo, vpcCidr, labPrefix: lab.prefix, vpcName: vpc.name, hasIgw: igw !== undefined,
    publicIps, privateIps, macs, ifnames, uplinks, reservedTargets, conntrackMax: conntrack.max,
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

  const flowLogs = readFlowLogs(ctx, top.get('flowLogs'), entries.instances.length);
  const metrics = readMetrics(ctx, top.get('metrics'));
  const control = readControl(ctx, top.get('control'), vpc.name);
  const state = readState(ctx, top.get('state'), vpc.name);
  const dhcpOptions = readDhcpOptions(ctx, top.get('dhcpOptions'));
  const privateZones = readPrivateZones(ctx, top.get('privateZones'));
  const dns = readDns(ctx, top.get('dns'));

  if (ctx.issues.length > 0 || vpcCidr === undefined) return undefined;
  const warnings = ctx.sortedWarnings();
  return {
    file: ctx.file,
    vpc: withParsed({ name: vpc.name, cidr: cidrToString(vpcCidr), accountId: vpc.accountId,
      ...(vpc.region !== undefined ? { region: vpc.region } : {}),
      ...(vpc.enableDnsSupport !== undefined ? { enableDnsSupport: vpc.enableDnsSupport } : {}),
      ...(vpc.enableDnsHostnames !== undefined ? { enableDnsHostnames: vpc.enableDnsHostnames } : {}) }, 'block', vpcCidr),
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
    privateZones,
    dns,
    metrics,
    control,
    state,
    lab,
    dataplane,
    ...(dhcpOptions !== undefined ? { dhcpOptions } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
