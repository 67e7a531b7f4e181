/**
 * What a reload may change, and what changed.
 *
 * A reload (SIGHUP) is prepare-then-commit: everything the new file needs is
 * built beside the running state (parse, compile, open new interfaces, open
 * the new flow-log file, bind the new metrics listener, size new tables);
 * any failure rejects the whole reload with its reasons, and what was built
 * is closed again. Only then are references swapped, by steps that cannot
 * fail. The checks here run first: changes that need a restart.
 */
import type { VpcConfig } from '../control/config-types.js';

/** A reload that must not be applied; `issues` are logged. */
export class ReloadRejected extends Error {
  constructor(readonly issues: readonly string[]) {
    super(issues.join('; '));
  }
}

/** The top-level sections of a configuration, in file order. */
export const SECTIONS = [
  'vpc', 'subnets', 'networkAcls', 'securityGroups', 'prefixLists', 'instances', 'routeTables', 'internetGateway',
  'natGateways', 'vpnGateway', 'customerGateway', 'vpnConnections', 'conntrack', 'flowLogs', 'metrics', 'state', 'lab', 'dataplane',
  'privateZones', 'dns',
] as const satisfies readonly (keyof VpcConfig)[];

/** JSON of a configuration value, maps and sets included (as entries), for comparison only. */
export function stableJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Map) return { $map: [...x.entries()] };
      if (x instanceof Set) return { $set: [...x.values()] };
      if (typeof x === 'bigint') return `${x}n`;
      return x;
    }) ?? 'undefined';
  } catch {
    // Not comparable: count it as changed.
    return `\u0000${Math.random()}`;
  }
}

/** Sections whose content differs between two configurations. */
export function changedSections(a: VpcConfig, b: VpcConfig): string[] {
  return SECTIONS.filter((s) => stableJson(a[s]) !== stableJson(b[s]));
}

/**
 * Changes this daemon applies only at start. Each is a reason the reload is
 * rejected (the running configuration stays).
 */
export function restartOnlyIssues(a: VpcConfig, b: VpcConfig): string[] {
  const issues: string[] = [];
  // The VPC services' namespace carries the VPC base + 2 and routes the VPC CIDR (services/plane.ts).
  if (a.vpc.cidr !== b.vpc.cidr) issues.push(`vpc.cidr changes need a restart (running ${a.vpc.cidr}, file ${b.vpc.cidr})`);
  if ((a.dataplane.netns ?? '') !== (b.dataplane.netns ?? '') || a.dataplane.batch !== b.dataplane.batch || a.dataplane.vnetHeader !== b.dataplane.vnetHeader) {
    issues.push('dataplane.netns, dataplane.batch and dataplane.vnetHeader only change on restart');
  }
  if (a.control.socket !== b.control.socket || a.control.group !== b.control.group) {
    issues.push('control.socket and control.group only change on restart');
  }
  if (a.conntrack.max !== b.conntrack.max) {
    // Tracked flows (and the NAT bindings on them) are referenced by index from several tables;
    // moving them to a table of another size is not done while packets flow.
    issues.push(`conntrack.max changes need a restart (running ${a.conntrack.max}, file ${b.conntrack.max})`);
  }
  // vpnConnections: VpnManager.prepare() decides (secrets rotate; other changes need a restart).
  if (a.vpnConnections.size > 0 && stableJson(a.customerGateway) !== stableJson(b.customerGateway)) {
    issues.push('customerGateway changes need a restart while VPN connections exist');
  }
  if (a.vpnConnections.size === 0 && b.vpnConnections.size > 0) issues.push('vpnConnections added: VPN connections start with the daemon; restart to add them');
  return issues;
}
