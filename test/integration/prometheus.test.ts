/**
 * A real Prometheus (Debian's package) scrapes vpcd while allowed and denied
 * traffic flows, and every PromQL query of the shipped Grafana dashboard
 * returns data from Prometheus's query API. Per-instance series stay apart
 * after the scrape: two instances with different denied traffic are two
 * series with their own values (vpcd's labels do not collide with the
 * target's `instance` / `job`, which Prometheus would rename to exported_*).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, metricValue, nsx, randomPort, sleep, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');

interface Panel { title: string; targets: { expr: string }[] }

describeWith(['root', 'prometheus'], 'Prometheus scrapes vpcd; every dashboard query returns data', () => {
  const prefix = uniquePrefix();
  const mport = randomPort();
  const pport = randomPort();
  let cfgPath = '';
  let d: DaemonProc | undefined;
  let prom: ChildProcess | undefined;
  let promDir = '';
  const kids: ChildProcess[] = [];

  beforeAll(async () => {
    cfgPath = writeTemp('prom.yaml', `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24, networkAcl: na }
  b: { cidr: 198.18.2.0/24 }
networkAcls:
  na:
    inbound: [ { rule: 100, action: allow, protocol: all, cidr: 198.18.0.0/16 } ]
    outbound: [ { rule: 100, action: allow, protocol: tcp, ports: 80, cidr: 0.0.0.0/0 }, { rule: 200, action: allow, protocol: icmp, cidr: 0.0.0.0/0 } ]
securityGroups:
  srv: { ingress: [ { protocol: tcp, ports: 80, cidr: 198.18.0.0/16 } ] }
  closed: { egress: [] }
instances:
  c: { subnet: a, ip: 198.18.1.10 }
  c2: { subnet: a, ip: 198.18.1.20, securityGroups: [closed] }
  s: { subnet: b, ip: 198.18.2.10, securityGroups: [srv] }
metrics: { listen: "127.0.0.1:${mport}" }
lab: { prefix: ${prefix} }
`);
    expect(vpcd(['lab', 'up', cfgPath]).code).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    promDir = mkdtempSync(join(tmpdir(), 'vpcd-prom-'));
    const scrape = readFileSync(join(ROOT, 'config', 'prometheus', 'prometheus.yml'), 'utf8')
      .replaceAll('_interval: 15s', '_interval: 1s').replaceAll("'127.0.0.1:9469'", `'127.0.0.1:${mport}'`);
    writeFileSync(join(promDir, 'prometheus.yml'), scrape);
    prom = spawn(PROMETHEUS, [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${pport}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let promErr = '';
    prom.stderr!.on('data', (x: Buffer) => { promErr = (promErr + x.toString()).slice(-2000); });
    let ready = false;
    for (const t0 = Date.now(); !ready && Date.now() - t0 < 30_000;) {
      if (prom.exitCode !== null) throw new Error(`prometheus exited ${prom.exitCode} before it was ready: ${promErr}`);
      try {
        ready = (await fetchText(`http://127.0.0.1:${pport}/-/ready`, 1000)).includes('Ready');
      } catch { /* starting */ }
      if (!ready) await sleep(200);
    }
    if (!ready) throw new Error(`prometheus on 127.0.0.1:${pport} not ready after 30 s: ${promErr}`);
    const srv = spawn('ip', ['netns', 'exec', `${prefix}-s`, process.execPath, PROBE, 'tcp-serve', '198.18.2.10', '80', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
  });

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    prom?.kill('SIGTERM');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  it('has data for every query in config/grafana/vpcd-dashboard.json', async () => {
    // Traffic for ~6 s: allowed TCP, refused by the NACL (outbound: tcp 80 and ICMP only), and c2's
    // connections refused by its own SG (egress: none).
    const t0 = Date.now();
    while (Date.now() - t0 < 6000) {
      nsx(`${prefix}-c`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '80', '500']);
      nsx(`${prefix}-c`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '22', '300']);
      nsx(`${prefix}-c`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '443', '300']);
      nsx(`${prefix}-c2`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '80', '300']);
      nsx(`${prefix}-c2`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '80', '300']);
    }
    const dash = JSON.parse(readFileSync(join(ROOT, 'config', 'grafana', 'vpcd-dashboard.json'), 'utf8')) as { panels: Panel[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    type Answer = { title: string; expr: string; body: string; r: { status: string; data: { result: unknown[] } } };
    const ask = async (): Promise<Answer[]> => Promise.all(exprs.map(async ({ title, expr }) => {
      const body = await fetchText(`http://127.0.0.1:${pport}/api/v1/query?query=${encodeURIComponent(expr)}`);
      return { title, expr, body, r: JSON.parse(body) as Answer['r'] };
    }));
    // Prometheus scrapes every second and rate() needs two samples: poll until every query has data (bounded)
    let answers = await ask();
    for (const t1 = Date.now(); Date.now() - t1 < 20_000 && !answers.every((a) => a.r.status === 'success' && a.r.data.result.length > 0);) {
      await sleep(500);
      answers = await ask();
    }
    for (const { title, expr, body, r } of answers) {
      expect(r.status, `${title}: ${expr}: ${body}`).toBe('success');
      expect(r.data.result.length, `${title}: ${expr} returned no series`).toBeGreaterThan(0);
    }
    // and the target is up
    const up = JSON.parse(await fetchText(`http://127.0.0.1:${pport}/api/v1/query?query=up`)) as { data: { result: { value: [number, string] }[] } };
    expect(up.data.result[0]!.value[1]).toBe('1');
  });

  it('per-instance series stay distinct through the scrape: the dashboard\'s drop query gives one series per instance, with that instance\'s value', async () => {
    type Series = { metric: Record<string, string>; value: [number, string] };
    const query = async (q: string): Promise<Series[]> => {
      const r = JSON.parse(await fetchText(`http://127.0.0.1:${pport}/api/v1/query?query=${encodeURIComponent(q)}`)) as { status: string; data: { result: Series[] } };
      expect(r.status, q).toBe('success');
      return r.data.result;
    };
    // Denied traffic of two instances, in different amounts: c's pings refused by s's SG (ICMP passes c's NACL;
    // s admits only tcp 80), counted on s; c2's connection attempts refused by c2's own SG, counted on c2.
    const drops = async (i: string): Promise<number> => metricValue(await fetchText(`http://127.0.0.1:${mport}/metrics`), 'vpcd_eni_drops_total', { vpc_instance: i, reason: 'sg' }) ?? 0;
    const before = { s: await drops('s'), c2: await drops('c2') };
    nsx(`${prefix}-c`, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '198.18.2.10']);
    for (let n = 0; n < 6; n++) nsx(`${prefix}-c2`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '80', '300']);
    expect(await drops('s') - before.s, 'pings refused at s').toBeGreaterThanOrEqual(2);
    expect(await drops('c2') - before.c2, 'connections refused at c2').toBeGreaterThanOrEqual(6);
    // The traffic has stopped: wait until Prometheus's latest scrape shows what vpcd shows now (bounded).
    let vpcdNow = '';
    let prom: Series[] = [];
    const same = (): boolean => ['s', 'c2'].every((i) => {
      const mine = metricValue(vpcdNow, 'vpcd_eni_drops_total', { vpc_instance: i, reason: 'sg' });
      const theirs = prom.filter((x) => x.metric['vpc_instance'] === i);
      return mine !== undefined && theirs.length === 1 && Number(theirs[0]!.value[1]) === mine;
    });
    for (const t0 = Date.now(); Date.now() - t0 < 15_000;) {
      vpcdNow = await fetchText(`http://127.0.0.1:${mport}/metrics`);
      prom = await query('vpcd_eni_drops_total{reason="sg"}');
      if (same()) break;
      await sleep(500);
    }
    expect(same(), `vpcd: ${vpcdNow.split('\n').filter((l) => l.startsWith('vpcd_eni_drops_total')).join('; ')}; prometheus: ${JSON.stringify(prom)}`).toBe(true);
    const byInstance = new Map(prom.map((x) => [x.metric['vpc_instance'], Number(x.value[1])]));
    expect(byInstance.get('s')).toBeGreaterThan(0);
    expect(byInstance.get('c2')).toBeGreaterThan(byInstance.get('s')!);
    // The target's own labels are intact on vpcd's series, and nothing was renamed to exported_*.
    for (const x of prom) expect({ job: x.metric['job'], instance: x.metric['instance'] }).toEqual({ job: 'vpcd', instance: `127.0.0.1:${mport}` });
    expect(await query('count({exported_instance!=""})')).toEqual([]);
    expect(await query('count({exported_job!=""})')).toEqual([]);
    // The dashboard's own queries: one series per instance for drops (s and c2 by the SG, c by its NACL) and SG decisions.
    const dash = JSON.parse(readFileSync(join(ROOT, 'config', 'grafana', 'vpcd-dashboard.json'), 'utf8')) as { panels: Panel[] };
    const exprOf = (metric: string): string => dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).find((e) => e.includes(metric))!;
    const dropSeries = await query(exprOf('vpcd_eni_drops_total'));
    const keys = dropSeries.map((x) => `${x.metric['vpc_instance']}/${x.metric['reason']}`).sort();
    expect(keys).toEqual(expect.arrayContaining(['c/nacl', 'c2/sg', 's/sg']));
    const rateOf = (i: string): number => Number(dropSeries.find((x) => x.metric['vpc_instance'] === i && x.metric['reason'] === 'sg')?.value[1]);
    expect(rateOf('c2')).toBeGreaterThan(rateOf('s'));
    expect(new Set(keys).size).toBe(keys.length);
    const verdicts = await query(exprOf('vpcd_sg_verdicts_total'));
    const denied = verdicts.filter((x) => x.metric['verdict'] === 'deny').map((x) => `${x.metric['vpc_instance']}/${x.metric['direction']}`).sort();
    expect(denied).toEqual(expect.arrayContaining(['c2/egress', 's/ingress']));
  });
});
