/**
 * What the live page (/live) reads besides the event stream: the VPC's
 * topology from the running configuration (GET /live/topology.json) and the
 * rule-hit counters (GET /live/stats.json): top denied sources, NACL rule
 * hits, security-group verdicts per instance, drops by reason. Control
 * plane: built on request, on the main thread.
 */
import type { VpcConfig } from '../control/config-types.js';
import type { CompiledPolicy } from '../control/compile.js';
import { formatIpv4 } from '../control/cidr.js';
import { sgRuleHitRows } from './metrics.js';
import type { SecurityStage } from '../conntrack/sg-stage.js';
import { SgCounter } from '../conntrack/sg-stage.js';
import { DROP_REASON_LABELS } from '../pipeline/batch.js';
import type { Counters } from '../pipeline/counters.js';

export interface LiveTopology {
  readonly vpc: { readonly name: string; readonly cidr: string };
  readonly subnets: readonly { name: string; cidr: string; networkAcl: string; routeTable: string; defaultRoute: string | null }[];
  readonly instances: readonly { name: string; subnet: string; ip: string; publicIp: string | null; securityGroups: readonly string[] }[];
  readonly natGateways: readonly { name: string; subnet: string; type: string; ip: string; publicIp: string | null }[];
  readonly internetGateway: { name: string } | null;
  readonly vpnGateway: { name: string } | null;
  readonly vpnConnections: readonly { name: string; remoteNetworks: readonly string[]; tunnels: number }[];
  readonly internetHosts: Readonly<Record<string, string>>;
}

export function liveTopology(cfg: VpcConfig): LiveTopology {
  return {
    vpc: { name: cfg.vpc.name, cidr: cfg.vpc.cidr },
    subnets: [...cfg.subnets.values()].map((s) => ({
      name: s.name, cidr: s.cidr, networkAcl: s.networkAcl, routeTable: s.routeTable,
      defaultRoute: cfg.routeTables.get(s.routeTable)?.routes.find((r) => r.destination === '0.0.0.0/0')?.target ?? null,
    })),
    instances: [...cfg.instances.values()].map((i) => ({ name: i.name, subnet: i.subnet, ip: i.ip, publicIp: i.publicIp ?? null, securityGroups: i.securityGroups })),
    natGateways: [...cfg.natGateways.values()].map((n) => ({ name: n.name, subnet: n.subnet, type: n.type, ip: n.ip, publicIp: n.publicIp ?? null })),
    internetGateway: cfg.internetGateway ? { name: cfg.internetGateway.name } : null,
    vpnGateway: cfg.vpnGateway ? { name: cfg.vpnGateway.name } : null,
    vpnConnections: [...cfg.vpnConnections.values()].map((v) => ({ name: v.name, remoteNetworks: v.remoteNetworks, tunnels: v.tunnels.length })),
    internetHosts: cfg.lab.internetHosts,
  };
}

export interface LiveStats {
  readonly topDenied: readonly { source: string; packets: number }[];
  readonly naclRuleHits: readonly { nacl: string; direction: string; rule: number | '*'; action: string; hits: number }[];
  readonly sgVerdicts: readonly { instance: string; egressAllow: number; egressDeny: number; ingressAllow: number; ingressDeny: number }[];
  /** Security-group rules that admitted something: group, direction, the rule's position in the group, hits. */
  readonly sgRuleHits: readonly { group: string; direction: string; rule: number; hits: number }[];
  readonly drops: Readonly<Record<string, number>>;
  readonly flows: { readonly accepted: number; readonly rejected: number };
}

/** The counters of the running snapshot (since start or the last reload); rules never hit are left out. */
export function liveStats(p: CompiledPolicy, sec: SecurityStage, counters: Counters): LiveStats {
  const nacl: LiveStats['naclRuleHits'][number][] = [];
  const hits = sec.naclHits;
  p.nacls.forEach((n, i) => {
    for (const [direction, compiled, h] of [['inbound', n.inbound, hits.inbound[i]!], ['outbound', n.outbound, hits.outbound[i]!]] as const) {
      for (let s = 0; s <= compiled.count; s++) {
        const c = h[s]!;
        if (c === 0) continue;
        const star = s === compiled.count;
        nacl.push({ nacl: n.name, direction, rule: star ? '*' : compiled.ruleNumber[s]!, action: star || compiled.allow[s] !== 1 ? 'deny' : 'allow', hits: c });
      }
    }
  });
  const v = sec.sgVerdicts;
  const drops: Record<string, number> = {};
  for (let r = 1; r < DROP_REASON_LABELS.length; r++) if (counters.drops[r]! > 0) drops[DROP_REASON_LABELS[r]!] = counters.drops[r]!;
  return {
    topDenied: sec.deniedSources.top(10).map((t) => ({ source: formatIpv4(t.key), packets: t.count })),
    naclRuleHits: nacl.sort((a, b) => b.hits - a.hits).slice(0, 50),
    sgVerdicts: p.instanceNames.map((instance, i) => ({
      instance,
      egressAllow: v[i * 4 + SgCounter.EgressAllow]!, egressDeny: v[i * 4 + SgCounter.EgressDeny]!,
      ingressAllow: v[i * 4 + SgCounter.IngressAllow]!, ingressDeny: v[i * 4 + SgCounter.IngressDeny]!,
    })),
    sgRuleHits: sgRuleHitRows(sec.sgHits, p).filter((r) => r.hits > 0).sort((a, b) => b.hits - a.hits).slice(0, 50),
    drops,
    flows: { accepted: sec.flowsAccepted, rejected: sec.flowsRejected },
  };
}
