/**
 * The VPC services on real packets with real clients: curl against the
 * metadata service (IMDSv2 tokens, required tokens, the hop limit seen from a
 * namespace one router behind an instance, paths, user data), sntp against
 * Time Sync, busybox udhcpc against Amazon DHCP, dig against Amazon DNS
 * (private zone, VPC hostnames, forwarding through the daemon). The instances' security
 * group and their subnet's NACL deny everything: none of the services is
 * stopped by them, and the flow log records none of them (while it does
 * record the refused traffic between the instances).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { awsId } from '../../src/control/aws-ids.js';
import { DaemonProc, fetchText, metricValue, nsx, nsxOk, randomPort, sh, shTry, sleep, uniquePrefix, vpcd } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';
import { servicePlaneNames } from '../../src/lab/names.js';
import { tinyDns, type TinyDns } from '../helpers/tiny-dns.js';

const prefix = uniquePrefix();
const port = randomPort();
const dir = mkdtempSync(join(tmpdir(), 'vpcd-svc-'));
const flowLog = join(dir, 'flows.log');
const behind = `${prefix}-bh`;
const IMDS = 'http://169.254.169.254';

const config = (hopLimit: number, userData: string) => `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16, region: eu-west-3, enableDnsHostnames: true }
privateZones:
  corp.internal:
    records:
      - { name: db, type: A, values: [198.18.1.50] }
dns: { upstreams: ["127.0.0.1:${upstreamPort}"] }
subnets:
  a: { cidr: 198.18.1.0/24, networkAcl: shut }
networkAcls:
  shut: { inbound: [], outbound: [] }
securityGroups:
  none: { ingress: [], egress: [] }
instances:
  web:
    subnet: a
    ip: 198.18.1.10
    securityGroups: [none]
    sourceDestCheck: false
    natInstance: true
    metadataOptions: { httpTokens: required, httpPutResponseHopLimit: ${hopLimit} }
    userData: "${userData}"
  app: { subnet: a, ip: 198.18.1.11, securityGroups: [none] }
flowLogs: { path: ${flowLog}, aggregationInterval: 600 }
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix} }
`;

const execFileP = promisify(execFile);
const web = `${prefix}-web`, app = `${prefix}-app`;
let upstreamPort = 0;

function curl(ns: string, args: string[]): { code: number; status: string; body: string } {
  const r = nsx(ns, ['curl', '-s', '-m', '3', '-o', '-', '-w', '\n%{http_code}', ...args], { timeoutMs: 10_000 });
  const nl = r.stdout.lastIndexOf('\n');
  return { code: r.code, status: nl >= 0 ? r.stdout.slice(nl + 1) : '', body: nl >= 0 ? r.stdout.slice(0, nl) : r.stdout };
}
const token = (ns: string) => curl(ns, ['-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', `${IMDS}/latest/api/token`]);
const withToken = (ns: string, t: string, path: string) => curl(ns, ['-H', `X-aws-ec2-metadata-token: ${t}`, `${IMDS}${path}`]);

describeWith(['root', 'curl', 'busybox', 'sntp', 'dig'], 'VPC services on real packets (metadata, Time Sync, DHCP)', () => {
  const cfgPath = join(dir, 'svc.yaml');
  let d: DaemonProc | undefined;
  let upstream: TinyDns | undefined;
  const metrics = async () => fetchText(`http://127.0.0.1:${port}/metrics`);

  beforeAll(async () => {
    // An upstream resolver in the test's namespace (the daemon's): what Amazon DNS forwards other names to.
    upstream = await tinyDns((q) => ({ type: 'response', id: q.id, flags: 0x8180, questions: q.questions,
      answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '203.0.113.80' }] }));
    upstreamPort = upstream.port;
    writeFileSync(cfgPath, config(1, '#!/bin/sh\\necho from-user-data\\n'));
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    // A namespace behind web: web routes (and masquerades) for it, as Docker does for a container.
    sh('ip', ['netns', 'add', behind]);
    sh('ip', ['link', 'add', 'bh0', 'netns', behind, 'type', 'veth', 'peer', 'name', 'wb0', 'netns', web]);
    nsxOk(behind, ['ip', 'addr', 'add', '198.19.77.2/24', 'dev', 'bh0']);
    nsxOk(behind, ['ip', 'link', 'set', 'bh0', 'up']);
    nsxOk(behind, ['ip', 'link', 'set', 'lo', 'up']);
    nsxOk(behind, ['ip', 'route', 'add', 'default', 'via', '198.19.77.1']);
    nsxOk(web, ['ip', 'addr', 'add', '198.19.77.1/24', 'dev', 'wb0']);
    nsxOk(web, ['ip', 'link', 'set', 'wb0', 'up']);
    d = new DaemonProc(cfgPath);
    await d.started();
    await d.waitFor((l) => l.event === 'services-ready');
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    await upstream?.close();
    vpcd(['lab', 'down', cfgPath]);
    shTry('ip', ['netns', 'del', behind]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('IMDSv2: a token from PUT, then the identity with it; the ids are the AWS-form ids of the configuration', () => {
    const t = token(web);
    expect(t.status, t.body).toBe('200');
    expect(t.body.length).toBeGreaterThan(20);
    const scope = { accountId: '123456789012', vpcName: prefix };
    expect(withToken(web, t.body, '/latest/meta-data/instance-id').body).toBe(awsId(scope, 'i', 'web'));
    expect(withToken(web, t.body, '/latest/meta-data/local-ipv4').body).toBe('198.18.1.10');
    expect(withToken(web, t.body, '/latest/meta-data/local-hostname').body).toBe('ip-198-18-1-10.eu-west-3.compute.internal');
    expect(withToken(web, t.body, '/latest/meta-data/placement/region').body).toBe('eu-west-3');
    const mac = withToken(web, t.body, '/latest/meta-data/mac').body;
    expect(withToken(web, t.body, `/latest/meta-data/network/interfaces/macs/${mac}/subnet-id`).body).toBe(awsId(scope, 'subnet', 'a'));
    expect(withToken(web, t.body, `/latest/meta-data/network/interfaces/macs/${mac}/security-group-ids`).body).toBe(awsId(scope, 'sg', 'none'));
    const doc = JSON.parse(withToken(web, t.body, '/latest/dynamic/instance-identity/document').body) as Record<string, string>;
    expect(doc.instanceId).toBe(awsId(scope, 'i', 'web'));
    expect(doc.privateIp).toBe('198.18.1.10');
    expect(withToken(web, t.body, '/latest/user-data').body).toBe('#!/bin/sh\necho from-user-data\n');
    expect(withToken(web, t.body, '/latest/meta-data/no-such-thing').status).toBe('404');
  });

  it('httpTokens required: 401 without a token (and with a forged one); optional: IMDSv1 answers', () => {
    expect(curl(web, [`${IMDS}/latest/meta-data/instance-id`]).status).toBe('401');
    expect(withToken(web, 'forged', '/latest/meta-data/instance-id').status).toBe('401');
    expect(curl(app, [`${IMDS}/latest/meta-data/local-ipv4`]).body).toBe('198.18.1.11');
    expect(curl(app, [`${IMDS}/latest/user-data`]).status).toBe('404');
    expect(curl(app, ['-X', 'PUT', `${IMDS}/latest/api/token`]).status).toBe('400');
  });

  it('hop limit 1: a namespace one router behind the instance gets no token, the instance does; at 2 (after a reload) it does', async () => {
    expect(token(web).status).toBe('200');
    const behindTry = token(behind);
    // The PUT response left with IP TTL 1: the router (web) drops it instead of forwarding it.
    expect(behindTry.status, behindTry.body).not.toBe('200');
    expect(behindTry.code).not.toBe(0);
    // The same namespace reaches the service: a plain GET (401: tokens required) comes back with the default TTL.
    expect(curl(behind, [`${IMDS}/latest/meta-data/`]).status).toBe('401');
    writeFileSync(cfgPath, config(2, '#!/bin/sh\\necho changed\\n'));
    const before = d!.lines.filter((l) => l.event === 'reloaded').length;
    d!.signal('SIGHUP');
    await d!.waitFor(() => d!.lines.filter((l) => l.event === 'reloaded').length > before);
    // The server gets the new snapshot asynchronously: wait for the user data to change.
    for (const t0 = Date.now(); Date.now() - t0 < 5_000;) {
      if (withToken(web, token(web).body, '/latest/user-data').body === '#!/bin/sh\necho changed\n') break;
      await sleep(100);
    }
    const t2 = token(behind);
    expect(t2.status, t2.body).toBe('200');
    expect(withToken(behind, t2.body, '/latest/meta-data/local-ipv4').body).toBe('198.18.1.10');
  }, 60_000);

  it('Time Sync: sntp gets the time from 169.254.169.123 (within a second of the host clock)', () => {
    const r = nsx(app, ['sntp', '-t', '3', '169.254.169.123'], { timeoutMs: 15_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const m = /([+-]\d+\.\d+) \+\/- [\d.]+ 169\.254\.169\.123/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Math.abs(Number(m![1]))).toBeLessThan(1);
  });

  it('DHCP: udhcpc gets the ENI address, the router, Amazon DNS and the region domain', () => {
    const script = join(dir, 'dhcp.sh');
    writeFileSync(script, '#!/bin/sh\necho "EVENT=$1 ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain lease=$lease"\n', { mode: 0o755 });
    const r = nsx(app, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('EVENT=bound ip=198.18.1.11 subnet=255.255.255.0 router=198.18.1.1 dns=198.18.0.2 domain=eu-west-3.compute.internal lease=3600');
  });

  it('Amazon DNS at base + 2 and 169.254.169.253, UDP and TCP: private zone, VPC hostnames, forwarded names through the daemon', async () => {
    // Asynchronous: the upstream resolver runs in this process and must answer while dig waits.
    const dig = async (args: string[]) => (await execFileP('ip', ['netns', 'exec', app, 'dig', '+short', '+time=2', '+tries=1', ...args], { timeout: 15_000 })).stdout;
    expect((await dig(['@198.18.0.2', 'db.corp.internal'])).trim()).toBe('198.18.1.50');
    expect((await dig(['@169.254.169.253', 'ip-198-18-1-10.eu-west-3.compute.internal'])).trim()).toBe('198.18.1.10');
    expect((await dig(['+tcp', '@198.18.0.2', 'db.corp.internal'])).trim()).toBe('198.18.1.50');
    expect((await dig(['@198.18.0.2', 'www.example.test'])).trim()).toBe('203.0.113.80');
    expect(upstream!.seen.some((s) => s.q.questions?.[0]?.name === 'www.example.test')).toBe(true);
  });

  it('metrics: requests per service and instance (differences), DHCP exchanges, the server up', async () => {
    // Counts of earlier tests may still be on their way (the server reports once a second): wait until they stop moving.
    let before = await metrics();
    for (let i = 0; i < 5; i++) {
      await sleep(1_200);
      const again = await metrics();
      const same = ['imds', 'time-sync'].every((svc) => metricValue(again, 'vpcd_service_requests_total', { service: svc }) === metricValue(before, 'vpcd_service_requests_total', { service: svc }));
      before = again;
      if (same) break;
    }
    const imdsWeb = metricValue(before, 'vpcd_service_requests_total', { service: 'imds', vpc_instance: 'web' }) ?? 0;
    const ntpApp = metricValue(before, 'vpcd_service_requests_total', { service: 'time-sync', vpc_instance: 'app' }) ?? 0;
    curl(web, [`${IMDS}/latest/meta-data/`]);
    curl(web, [`${IMDS}/latest/meta-data/`]);
    nsx(app, ['sntp', '-t', '3', '169.254.169.123'], { timeoutMs: 15_000 });
    // The server reports its counters once a second.
    let after = '';
    for (const t0 = Date.now(); Date.now() - t0 < 5_000; await sleep(200)) {
      after = await metrics();
      if ((metricValue(after, 'vpcd_service_requests_total', { service: 'imds', vpc_instance: 'web' }) ?? 0) >= imdsWeb + 2 &&
        (metricValue(after, 'vpcd_service_requests_total', { service: 'time-sync', vpc_instance: 'app' }) ?? 0) >= ntpApp + 1) break;
    }
    expect(metricValue(after, 'vpcd_service_requests_total', { service: 'imds', vpc_instance: 'web' })).toBe(imdsWeb + 2);
    expect(metricValue(after, 'vpcd_service_requests_total', { service: 'time-sync', vpc_instance: 'app' })).toBeGreaterThanOrEqual(ntpApp + 1);
    expect(metricValue(after, 'vpcd_dhcp_messages_total', { type: 'ack', direction: 'out' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'vpcd_service_server_up')).toBe(1);
    // The dig queries of the DNS test: answered locally and forwarded, by app.
    expect(metricValue(after, 'vpcd_dns_queries_total', { outcome: 'answered', vpc_instance: 'app' })).toBeGreaterThanOrEqual(3);
    expect(metricValue(after, 'vpcd_dns_queries_total', { outcome: 'forwarded', vpc_instance: 'app' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, 'vpcd_service_requests_total', { service: 'dns', vpc_instance: 'app' })).toBeGreaterThanOrEqual(4);
  });

  it('a killed service server is restarted and answers again', async () => {
    const pid = sh('ps', ['-o', 'pid=', '--ppid', String(d!.proc.pid)]).trim().split(/\s+/)[0];
    expect(pid).toMatch(/^\d+$/);
    process.kill(Number(pid), 'SIGKILL');
    await d!.waitFor((l) => l.event === 'services-exited');
    let ok = false;
    for (const t0 = Date.now(); !ok && Date.now() - t0 < 10_000; await sleep(200)) ok = curl(app, [`${IMDS}/latest/meta-data/local-ipv4`]).body === '198.18.1.11';
    expect(ok).toBe(true);
    expect(metricValue(await metrics(), 'vpcd_service_server_restarts_total')).toBe(1);
  });

  it('the SG and NACL that deny everything stopped none of it, and the flow log has no record of it (it has the refused ping)', async () => {
    expect(nsx(app, ['dig', '+short', '+time=2', '+tries=1', '@198.18.0.2', 'db.corp.internal']).stdout.trim()).toBe('198.18.1.50');
    // Refused traffic between the instances: the flow log works and records it.
    expect(nsx(app, ['ping', '-c', '1', '-W', '1', '198.18.1.10']).code).not.toBe(0);
    const drops = await metrics();
    expect(metricValue(drops, 'vpcd_drops_total', { reason: 'vpc_service' })).toBe(0);
    expect(metricValue(drops, 'vpcd_drops_total', { reason: 'linklocal_allowance_exceeded' })).toBe(0);
    await d!.stop();
    d = undefined;
    const log = readFileSync(flowLog, 'utf8');
    expect(log).toMatch(/198\.18\.1\.11 198\.18\.1\.10 .* REJECT/);
    expect(log).not.toMatch(/169\.254\./);
    expect(log).not.toMatch(/198\.18\.0\.2 /);
    expect(log).not.toMatch(/ 67 | 68 /);
    // The service plane is gone with the daemon.
    expect(sh('ip', ['netns', 'list'])).not.toContain(servicePlaneNames(cfgPath).netns);
  });
});
