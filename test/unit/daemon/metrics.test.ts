/**
 * The daemon's Prometheus families on real packets through the in-memory
 * data plane: per-ENI drops by reason (on the ENI where the packet was
 * dropped), security-group rule hits (allocation-free typed arrays, folded
 * across a reload), interface series labelled with the instance they serve,
 * build info, Node's process metrics under their standard names, and no
 * label that Prometheus' own target labels (`instance`, `job`) would clash with.
 */
import { ObserveHub } from '../../../src/observe/observe-hub.js';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, TCP_SYN } from '../../helpers/frames.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';
import { PolicyCounterHistory, registerMetrics, type MetricsSource } from '../../../src/daemon/metrics.js';
import { newRegistry } from '../../../src/telemetry/metrics.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import { parseConfig } from '../../../src/control/config.js';
import { version } from '../../../src/cli/version.js';

const VPC = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
securityGroups:
  web-only:
    egress: [ { protocol: tcp, ports: 80, cidr: 0.0.0.0/0 }, { protocol: tcp, ports: 443, cidr: 198.18.1.30/32 } ]
  none:
    egress: []
  srv:
    ingress: [ { protocol: tcp, ports: 80, cidr: 0.0.0.0/0 }, { protocol: tcp, ports: 443, cidr: 198.18.1.10/32 } ]
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [web-only] }
  b: { subnet: sa, ip: 198.18.1.20, securityGroups: [none] }
  srv: { subnet: sa, ip: 198.18.1.30, securityGroups: [srv] }
`;
const IP = { a: '198.18.1.10', b: '198.18.1.20', srv: '198.18.1.30' } as const;

function syn(from: 'a' | 'b', dport: number, sport: number): Buffer {
  return ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', 'sa'), src: IP[from], dst: IP.srv, sport, dport, flags: TCP_SYN });
}

function source(h: Harness): MetricsSource {
  return {
    counters: h.counters, dp: h.dp, ct: h.ct!, security: h.security!, get policy() { return h.security!.policy; }, epoch: 1, reloads: 0, reloadFailures: 0,
    vpnManager: undefined, guard: { counts: () => new Map<string, number>().entries() } as unknown as MetricsSource['guard'],
    health: new Float64Array(16), failedBatchFrames: 0,
    ports: () => h.topo.instanceNames.map((n, id) => ({ id, ifname: `vpcd-${id.toString(16).padStart(8, '0')}` })),
    portStats: () => [], flowLogCounters: () => ({ records: 0, skippedPackets: 0, lostRecords: 0, rotations: 0 }),
    observe: new ObserveHub(h.dp.events, () => ({ instances: [...h.topo.instanceNames], nacls: [], groups: [], natGateways: [] })),
    services: { plane: { counters: { requests: new Map(), malformed: new Map(), dnsOutcomes: new Map(), restarts: 0 }, ready: false }, dhcpMalformed: 0,
      allowanceDrops: () => [], dhcpMessages: new Map() } as unknown as MetricsSource['services'],
  };
}

/** Value of one sample in the exposition text (labels matched exactly as a set; an empty value is no label, as Prometheus reads it), or undefined. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) if (p[2] !== '') got[p[1]!] = p[2]!;
    if (Object.keys(got).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('daemon metrics', () => {
  it('drops per ENI and reason, SG rule hits per group/direction/rule, interface series by instance; kept across a reload', async () => {
    const h = new Harness(VPC, { security: true });
    const registry = new Registry();
    const history = new PolicyCounterHistory();
    registerMetrics(registry, source(h), history);
    // a: port 80 allowed (egress rule 0, srv ingress rule 0), 443 allowed (egress rule 1, srv ingress rule 1), 22 refused by a's egress.
    // b: every SYN refused by its own egress (3 drops on b).
    h.run([{ port: h.port('a'), frame: syn('a', 80, 40001) }, { port: h.port('a'), frame: syn('a', 443, 40002) }, { port: h.port('a'), frame: syn('a', 22, 40003) }]);
    h.run([{ port: h.port('b'), frame: syn('b', 80, 40004) }, { port: h.port('b'), frame: syn('b', 80, 40005) }, { port: h.port('b'), frame: syn('b', 80, 40006) }]);
    const text = await registry.metrics();
    expect(value(text, 'vpcd_eni_drops_total', { vpc_instance: 'a', reason: 'sg' })).toBe(1);
    expect(value(text, 'vpcd_eni_drops_total', { vpc_instance: 'b', reason: 'sg' })).toBe(3);
    expect(value(text, 'vpcd_eni_drops_total', { vpc_instance: 'srv', reason: 'sg' })).toBeUndefined(); // series only where something dropped
    expect(value(text, 'vpcd_sg_rule_hits_total', { security_group: 'web-only', direction: 'egress', rule: '0' })).toBe(1);
    expect(value(text, 'vpcd_sg_rule_hits_total', { security_group: 'web-only', direction: 'egress', rule: '1' })).toBe(1);
    expect(value(text, 'vpcd_sg_rule_hits_total', { security_group: 'srv', direction: 'ingress', rule: '0' })).toBe(1);
    expect(value(text, 'vpcd_sg_rule_hits_total', { security_group: 'srv', direction: 'ingress', rule: '1' })).toBe(1);
    expect(value(text, 'vpcd_sg_verdicts_total', { vpc_instance: 'b', direction: 'egress', verdict: 'deny' })).toBe(3);
    expect(value(text, 'vpcd_packets_total', { interface: 'vpcd-00000001', vpc_instance: 'b', direction: 'rx' })).toBe(3);
    expect(value(text, 'vpcd_packets_total', { interface: 'vpcd-00000002', vpc_instance: 'srv', direction: 'tx' })).toBe(2);
    // A reload: the old snapshot's counts are folded, nothing goes back; a receiver-side refusal counts on the receiver.
    const before = h.security!.policy;
    const next = compileSnapshot(parseConfig(VPC, 'test.yaml'), before.epoch + 1);
    history.fold(h.security!.setPolicy(next), before);
    h.dp.setTopology(next.topology);
    next.topology.instanceNames.forEach((_, i) => h.dp.attachInstance(i, i, true));
    h.run([{ port: h.port('a'), frame: syn('a', 443, 40010) }]);
    const after = await registry.metrics();
    expect(value(after, 'vpcd_eni_drops_total', { vpc_instance: 'b', reason: 'sg' })).toBe(3);
    expect(value(after, 'vpcd_sg_rule_hits_total', { security_group: 'web-only', direction: 'egress', rule: '1' })).toBe(2);
    expect(value(after, 'vpcd_sg_rule_hits_total', { security_group: 'srv', direction: 'ingress', rule: '1' })).toBe(2);
  });

  it('a refusal by the receiving ENI is counted on the receiver, not the sender', async () => {
    const h = new Harness(VPC.replace('egress: []', 'egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]'), { security: true });
    const registry = new Registry();
    registerMetrics(registry, source(h), new PolicyCounterHistory());
    // b -> srv:443: b's egress allows it, srv's ingress allows 443 only from a.
    h.run([{ port: h.port('b'), frame: syn('b', 443, 40020) }, { port: h.port('b'), frame: syn('b', 443, 40021) }]);
    const text = await registry.metrics();
    expect(value(text, 'vpcd_eni_drops_total', { vpc_instance: 'srv', reason: 'sg' })).toBe(2);
    expect(value(text, 'vpcd_eni_drops_total', { vpc_instance: 'b', reason: 'sg' })).toBeUndefined();
  });

  it('build info, process metrics under their standard names, and no label named instance or job', async () => {
    const h = new Harness(VPC, { security: true });
    const registry = newRegistry();
    registerMetrics(registry, source(h), new PolicyCounterHistory());
    h.run([{ port: h.port('b'), frame: syn('b', 80, 40030) }]);
    const text = await registry.metrics();
    expect(value(text, 'vpcd_build_info', { version: version(), node: process.version })).toBe(1);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).not.toMatch(/vpcd_process_/);
    const labelNames = new Set([...text.matchAll(/[{,]([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((m) => m[1]!));
    expect(labelNames.has('vpc_instance')).toBe(true);
    expect(labelNames.has('instance')).toBe(false);
    expect(labelNames.has('job')).toBe(false);
  });
});
