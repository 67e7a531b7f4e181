/**
 * Hostile traffic from the internet on real packets: a SYN flood from
 * thousands of spoofed sources to an instance's public address (every answer
 * needs a neighbour entry on the uplink), and forged ARP replies on the
 * uplink. The daemon must keep forwarding, answer /metrics, count what it
 * refused, and stop cleanly on SIGTERM. Before the bounded neighbour table,
 * 2,048 distinct peers froze the batch loop for good.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, metricValue, nsx, randomPort, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { derivedMac } from '../../src/lab/names.js';
import { describeWith } from '../helpers/needs.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const FLOOD = join(ROOT, 'test', 'helpers', 'spoof-flood.py');
const prefix = uniquePrefix();
const mport = randomPort();
const HOST = '203.0.113.100', WEB_PUB = '203.0.113.10';

const config = `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
securityGroups:
  web: { ingress: [ { protocol: tcp, ports: 8080, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: ${WEB_PUB}, securityGroups: [web] }
internetGateway: { name: igw }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
metrics: { listen: "127.0.0.1:${mport}" }
lab:
  prefix: ${prefix}
  internet: ${prefix}-inet
  internetHosts: { h1: ${HOST} }
`;

const kids: ChildProcess[] = [];
const metrics = () => fetchText(`http://127.0.0.1:${mport}/metrics`, 3000);
const metric = async (name: string) => metricValue(await metrics(), name, {}) ?? 0;
/** Runs the bounded flood helper in the internet namespace and waits for it to finish. */
function flood(args: string[]): number {
  return nsx(`${prefix}-inet`, ['python3', FLOOD, ...args], { timeoutMs: 120_000 }).code;
}
function connectOk(): boolean {
  return nsx(`${prefix}-inet`, [process.execPath, PROBE, 'tcp-connect', WEB_PUB, '8080', '3000']).code === 0;
}

describeWith(['root', 'python3'], 'hostile traffic from the internet (real packets)', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;

  beforeAll(async () => {
    cfgPath = writeTemp('hostile.yaml', config);
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    const srv = spawn('ip', ['netns', 'exec', `${prefix}-web`, process.execPath, PROBE, 'tcp-serve', '198.18.1.10', '8080', '180'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
    expect(connectOk()).toBe(true);
  });

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('a SYN flood from 6,000 spoofed sources: forwarding, /metrics and a real connection keep working; the neighbour table stays bounded', async () => {
    const evictedBefore = await metric('vpcd_neighbor_evictions_total');
    // 6,000 distinct sources (198.19.0.0 + i) to the public address: each SYN-ACK needs a neighbour for a new address.
    expect(flood(['syn', WEB_PUB, '8080', '6000', '198.19.0.0'])).toBe(0);
    const t0 = performance.now();
    const m = await metrics();
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(metricValue(m, 'vpcd_neighbor_evictions_total', {}) ?? 0).toBeGreaterThan(evictedBefore);
    expect(connectOk()).toBe(true);
    // and again: the table keeps turning over instead of filling up
    expect(flood(['syn', WEB_PUB, '8080', '6000', '198.19.40.0'])).toBe(0);
    expect(connectOk()).toBe(true);
  });

  it('3,000 forged ARP replies on the uplink are ignored and counted; the real neighbour still works', async () => {
    const before = await metric('vpcd_neighbor_unsolicited_arp_total');
    const mac = derivedMac(`uplink/${prefix}`);
    const peerIf = nsx(`${prefix}-inet`, ['bash', '-c', "ip -o link show master inet0 | awk -F': ' '{print $2}' | cut -d@ -f1 | head -1"]).stdout.trim();
    expect(peerIf).not.toBe('');
    expect(flood(['arp', peerIf, mac, '3000', '198.19.100.0'])).toBe(0);
    expect(await metric('vpcd_neighbor_unsolicited_arp_total') - before).toBeGreaterThanOrEqual(2900);
    expect(connectOk()).toBe(true);
  });

  it('SIGTERM after the floods: a clean exit', async () => {
    const code = await d!.stop();
    d = undefined;
    expect(code).toBe(0);
  });
});
