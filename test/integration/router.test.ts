/**
 * The VPC router on real packets: two subnets, instances in namespaces wired
 * to vpcd by veth, vpcd as the subnets' router (issue: data-plane foundation).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DaemonProc, ROOT, fetchText, metricValue, nsx, nsxOk, randomPort, shTry, sleep, uniquePrefix, vpcd, writeTemp,
} from '../helpers/netns.js';
import { servicePlaneNames } from '../../src/lab/names.js';
import { routerMac } from '../../src/lab/names.js';
import { describeWith } from '../helpers/needs.js';

const prefix = uniquePrefix();
const port = randomPort();
const config = `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  a2: { subnet: sa, ip: 198.18.1.11 }
  b1: { subnet: sb, ip: 198.18.2.20 }
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix} }
`;

const TCP_CHECK = join(ROOT, 'test', 'helpers', 'tcp-check.mjs');

describeWith(['root'], 'router on real packets', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;
  let netnsBefore = '';
  let linksBefore = '';

  beforeAll(async () => {
    netnsBefore = shTry('ip', ['netns', 'list']).stdout;
    linksBefore = shTry('ip', ['-o', 'link', 'show']).stdout.replace(/^\d+: /gm, '');
    cfgPath = writeTemp('router.yaml', config);
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
  });

  afterAll(async () => {
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('answers ARP for the router address with the router MAC', () => {
    const r = nsx(`${prefix}-a1`, ['ping', '-c', '1', '-W', '2', '198.18.1.1']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const neigh = nsx(`${prefix}-a1`, ['ip', 'neigh', 'show', '198.18.1.1']).stdout;
    expect(neigh).toContain(routerMac(prefix, 'sa'));
  });

  it('forwards ping between subnets, both ways', () => {
    const r = nsx(`${prefix}-a1`, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.18.2.20']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 received/);
    const back = nsx(`${prefix}-b1`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.1.11']);
    expect(back.code, back.stdout).toBe(0);
  });

  it('forwards within a subnet (ENI to ENI through the router)', () => {
    const r = nsx(`${prefix}-a1`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.1.11']);
    expect(r.code, r.stdout).toBe(0);
  });

  it('carries a 1 MB TCP transfer byte for byte between subnets', async () => {
    const { spawn } = await import('node:child_process');
    const srv = spawn('ip', ['netns', 'exec', `${prefix}-b1`, process.execPath, TCP_CHECK, 'server', '198.18.2.20', '7001', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let srvOut = '';
    srv.stdout.on('data', (x: Buffer) => { srvOut += x.toString(); });
    await new Promise<void>((res) => srv.stderr.once('data', () => res()));
    const cli = nsx(`${prefix}-a1`, [process.execPath, TCP_CHECK, 'client', '198.18.2.20', '7001', String(1 << 20), '20'], { timeoutMs: 30_000 });
    await new Promise<void>((res) => srv.on('exit', () => res()));
    const c = JSON.parse(cli.stdout) as { bytes: number; sha256: string };
    const s = JSON.parse(srvOut) as { bytes: number; sha256: string; peer: string };
    expect(s.bytes).toBe(1 << 20);
    expect(s.sha256).toBe(c.sha256);
    expect(s.peer).toBe('198.18.1.10');
  });

  it('drops and counts traffic to an address with no route', async () => {
    const before = metricValue(await fetchText(`http://127.0.0.1:${port}/metrics`), 'vpcd_drops_total', { reason: 'no_route' }) ?? 0;
    const r = nsx(`${prefix}-a1`, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '203.0.113.99']);
    expect(r.code).not.toBe(0);
    // both echo requests counted (polled: the scrape may race the last batch)
    let text = await fetchText(`http://127.0.0.1:${port}/metrics`);
    for (const t0 = Date.now(); (metricValue(text, 'vpcd_drops_total', { reason: 'no_route' }) ?? 0) - before < 2 && Date.now() - t0 < 5000;) {
      await sleep(100);
      text = await fetchText(`http://127.0.0.1:${port}/metrics`);
    }
    expect((metricValue(text, 'vpcd_drops_total', { reason: 'no_route' }) ?? 0) - before).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'vpcd_packets_total', { direction: 'rx' })).toBeGreaterThan(0);
  });

  it('drops spoofed sources (source/destination check) and counts them', async () => {
    const ns = `${prefix}-a1`;
    nsxOk(ns, ['ip', 'addr', 'add', '198.18.1.99/32', 'dev', 'eth0']);
    const before = metricValue(await fetchText(`http://127.0.0.1:${port}/metrics`), 'vpcd_drops_total', { reason: 'source_dest_check' }) ?? 0;
    const r = nsx(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', '198.18.1.99', '198.18.2.20']);
    expect(r.code).not.toBe(0);
    nsxOk(ns, ['ip', 'addr', 'del', '198.18.1.99/32', 'dev', 'eth0']);
    const after = metricValue(await fetchText(`http://127.0.0.1:${port}/metrics`), 'vpcd_drops_total', { reason: 'source_dest_check' }) ?? 0;
    expect(after - before).toBeGreaterThanOrEqual(2);
  });

  it('serves /healthz', async () => {
    const h = JSON.parse(await fetchText(`http://127.0.0.1:${port}/healthz`)) as { ok: boolean };
    expect(h.ok).toBe(true);
  });

  it('keeps forwarding when SIGHUP brings a broken file, and applies a good one', async () => {
    const good = readFileSync(cfgPath, 'utf8');
    writeFileSync(cfgPath, `${good}\nsubnets: [ this is not valid\n`);
    d!.signal('SIGHUP');
    await d!.waitFor((l) => l.event === 'reload-rejected');
    const r = nsx(`${prefix}-a1`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.2.20']);
    expect(r.code, r.stdout).toBe(0);
    writeFileSync(cfgPath, good);
    d!.signal('SIGHUP');
    await d!.waitFor((l) => l.event === 'reloaded');
    const r2 = nsx(`${prefix}-a1`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.2.20']);
    expect(r2.code, r2.stdout).toBe(0);
  });

  it('exits 0 on SIGTERM, also when the signal comes twice', async () => {
    d!.signal('SIGTERM');
    d!.signal('SIGTERM');
    const code = await d!.exit();
    expect(code).toBe(0);
    expect(d!.lines.some((l) => l.event === 'stopped')).toBe(true);
  });

  it('lab down after a killed daemon leaves namespaces and links as before', async () => {
    const d2 = new DaemonProc(cfgPath);
    await d2.started();
    d2.signal('SIGKILL');
    await d2.exit();
    const down = vpcd(['lab', 'down', cfgPath]);
    expect(down.code, down.stderr).toBe(0);
    const again = vpcd(['lab', 'down', cfgPath]);
    expect(again.code, again.stderr).toBe(0);
    // Other test beds may come and go on the machine meanwhile: compare what concerns this lab.
    const mine = (s: string) => s.split('\n').filter((l) => l.includes(prefix) || /\b(vi|vu|ui)[0-9a-f]{8}\b/.test(l)).join('\n');
    expect(mine(shTry('ip', ['netns', 'list']).stdout)).toBe(mine(netnsBefore));
    expect(mine(shTry('ip', ['-o', 'link', 'show']).stdout.replace(/^\d+: /gm, ''))).toBe(mine(linksBefore));
    expect(mine(shTry('ip', ['netns', 'list']).stdout)).toBe('');
  });
});

describeWith(['root'], 'vpcd run failures', () => {
  it('exits 2 with a one-line reason when an interface is missing', () => {
    const p = writeTemp('missing.yaml', `
vpc: { name: vtmissing, cidr: 198.18.0.0/16 }
subnets: { s: { cidr: 198.18.1.0/24 } }
instances: { x: { subnet: s, ip: 198.18.1.10, interface: vtnosuchif0 } }
dataplane: {}
metrics: { listen: "127.0.0.1:${randomPort()}" }
`);
    const r = vpcd(['run', p], { timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/vtnosuchif0/);
    // The failed start removed the VPC service namespace it had made.
    expect(shTry('ip', ['netns', 'list']).stdout).not.toContain(servicePlaneNames(p).netns);
  });

  it('exits 1 on an invalid configuration', () => {
    const p = writeTemp('bad.yaml', 'vpc: { name: x }\n');
    const r = vpcd(['run', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+:/);
  });
});
