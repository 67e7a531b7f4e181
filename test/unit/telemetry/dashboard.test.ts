/**
 * The shipped Grafana dashboard works imported and provisioned from a file:
 * its data source is a `datasource` template variable (no `${DS_...}` import
 * input that a provisioned file never fills), every query names families vpcd
 * registers, and none groups by a label Prometheus owns (instance, job).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Harness } from '../../helpers/dp-harness.js';
import { PolicyCounterHistory, registerMetrics, type MetricsSource } from '../../../src/daemon/metrics.js';
import { ObserveHub } from '../../../src/observe/observe-hub.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const text = readFileSync(join(ROOT, 'config', 'grafana', 'vpcd-dashboard.json'), 'utf8');

interface Ds { type: string; uid: string }
interface Dash {
  __inputs?: unknown;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: { title: string; datasource: Ds; targets: { expr: string; datasource: Ds }[] }[];
}
const dash = JSON.parse(text) as Dash;

describe('Grafana dashboard', () => {
  it('takes its Prometheus from a datasource variable, on every panel and query; no import inputs', () => {
    expect(dash.__inputs).toBeUndefined();
    expect(text).not.toMatch(/\$\{DS_/);
    expect(dash.templating.list.filter((v) => v.name === 'datasource')).toEqual([expect.objectContaining({ type: 'datasource', query: 'prometheus' })]);
    for (const p of dash.panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('queries only families vpcd registers, and groups by none of Prometheus\'s target labels', async () => {
    const h = new Harness('vpc: { name: t, cidr: 198.18.0.0/16 }\nsubnets: { a: { cidr: 198.18.1.0/24 } }\ninstances: { i: { subnet: a, ip: 198.18.1.10 } }\n', { security: true });
    const registry = new Registry();
    const src = {
      counters: h.counters, dp: h.dp, ct: h.ct!, security: h.security!, policy: h.policy!, epoch: 1, reloads: 0, reloadFailures: 0, vpnManager: undefined,
      guard: { counts: () => new Map<string, number>().entries() }, health: new Float64Array(16), failedBatchFrames: 0,
      ports: () => [], portStats: () => [], flowLogCounters: () => ({ records: 0, skippedPackets: 0, lostRecords: 0, rotations: 0 }),
      observe: new ObserveHub(h.dp.events, () => ({ instances: ['i'], nacls: [], groups: [], natGateways: [] })),
    services: { plane: { counters: { requests: new Map(), malformed: new Map(), dnsOutcomes: new Map(), restarts: 0 }, ready: false }, dhcpMalformed: 0,
      allowanceDrops: () => [], dhcpMessages: new Map() } as unknown as MetricsSource['services'],
    } as unknown as MetricsSource;
    registerMetrics(registry, src, new PolicyCounterHistory());
    const families = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    for (const e of exprs) {
      const names = [...e.matchAll(/\bvpcd_[a-z_]+/g)].map((m) => m[0]);
      expect(names.length, e).toBeGreaterThan(0);
      for (const n of names) expect(families.has(n), `${n} in ${e}`).toBe(true);
      for (const by of e.matchAll(/by \(([^)]*)\)/g)) {
        const labels = by[1]!.split(',').map((s) => s.trim());
        expect(labels, e).not.toContain('instance');
        expect(labels, e).not.toContain('job');
      }
    }
    expect(exprs.some((e) => e.includes('vpcd_eni_drops_total'))).toBe(true);
    expect(exprs.some((e) => e.includes('vpcd_sg_rule_hits_total'))).toBe(true);
  });
});
