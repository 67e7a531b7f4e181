/**
 * NAT gateway, internet gateway and NAT instance on real packets: instances
 * in namespaces, the lab internet (bridge inet0 with internet hosts), Linux
 * servers that report the address they see.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { awsId, natGatewayEniId } from '../../src/control/aws-ids.js';
import { DaemonProc, ROOT, fetchText, metricValue, nsx, nsxOk, randomPort, sh, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const TCP_CHECK = join(ROOT, 'test', 'helpers', 'tcp-check.mjs');

const prefix = uniquePrefix();
const mport = randomPort();
const HOST = '203.0.113.100', HOST2 = '203.0.113.101', FAR = '198.51.100.200';
const NAT_PUB = '203.0.113.5', WEB_PUB = '203.0.113.10', NATI_PUB = '203.0.113.30';
const FLOW_FIELDS = ['version', 'vpc-id', 'subnet-id', 'instance-id', 'interface-id', 'srcaddr', 'dstaddr', 'srcport', 'dstport', 'pkt-srcaddr', 'pkt-dstaddr',
  'protocol', 'action', 'tcp-flags', 'log-status', 'flow-direction', 'traffic-path', 'region'];
const FLOW_FORMAT = FLOW_FIELDS.map((f) => `\${${f}}`).join(' ');

function config(opts: { natiCheck: boolean }): string {
  return `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: pub-nacl }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
  priv2: { cidr: 198.18.3.0/24, routeTable: via-nat-instance }
networkAcls:
  pub-nacl:
    inbound:
      - { rule: 50, action: deny, protocol: tcp, ports: 8081, cidr: 0.0.0.0/0 }
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
securityGroups:
  inside:
    ingress:
      - { protocol: icmp, icmpType: 3, cidr: 0.0.0.0/0 }
      - { protocol: icmp, icmpType: 11, cidr: 0.0.0.0/0 }
  web:
    ingress:
      - { protocol: tcp, ports: 8080-8081, cidr: 0.0.0.0/0 }
  natsg:
    ingress:
      - { protocol: all, cidr: 198.18.0.0/16 }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [inside] }
  web: { subnet: pub, ip: 198.18.1.10, publicIp: ${WEB_PUB}, securityGroups: [web] }
  noip: { subnet: pub, ip: 198.18.1.11, securityGroups: [web] }
  nati: { subnet: pub, ip: 198.18.1.30, publicIp: ${NATI_PUB}, securityGroups: [natsg], sourceDestCheck: ${opts.natiCheck}, natInstance: true }
  behind: { subnet: priv2, ip: 198.18.3.10 }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: ${NAT_PUB}, maxConnectionsPerDestination: 16, idleTimeout: 4 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
  via-nat-instance: { routes: [ { destination: 0.0.0.0/0, target: nati } ] }
metrics: { listen: "127.0.0.1:${mport}" }
flowLogs: { path: flows.log, aggregationInterval: 1, format: "${FLOW_FORMAT}" }
lab:
  prefix: ${prefix}
  internet: ${prefix}-inet
  internetHosts: { h1: ${HOST}, h2: ${HOST2} }
`;
}

const kids: ChildProcess[] = [];
function inInternet(args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', `${prefix}-inet`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  kids.push(p);
  return p;
}
async function serveInternet(mode: string, ip: string, port: number): Promise<void> {
  const p = inInternet([process.execPath, PROBE, mode, ip, String(port), '120']);
  await new Promise<void>((res) => p.stderr!.once('data', () => res()));
}
const metrics = () => fetchText(`http://127.0.0.1:${mport}/metrics`);
const natMetric = async (name: string, labels: Record<string, string> = {}) => metricValue(await metrics(), name, { gateway: 'nat-a', ...labels }) ?? 0;

describeWith(['root', 'tcpdump'], 'NAT gateway, internet gateway and NAT instance on real packets', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;

  beforeAll(async () => {
    cfgPath = writeTemp('nat.yaml', config({ natiCheck: false }));
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    // A far host one router hop behind the lab internet (for TTL exceeded): the internet
    // namespace routes 198.51.100.200 to it and answers ARP for it on inet0 (proxy ARP).
    const inet = `${prefix}-inet`, far = `${prefix}-far`;
    sh('ip', ['netns', 'add', far]);
    sh('ip', ['link', 'add', 'fa0', 'netns', far, 'type', 'veth', 'peer', 'name', 'fb0', 'netns', inet]);
    nsxOk(far, ['ip', 'addr', 'add', `${FAR}/32`, 'dev', 'fa0']);
    nsxOk(far, ['ip', 'link', 'set', 'fa0', 'up']);
    nsxOk(far, ['ip', 'link', 'set', 'lo', 'up']);
    nsxOk(far, ['ip', 'route', 'add', 'default', 'dev', 'fa0']);
    nsxOk(inet, ['ip', 'link', 'set', 'fb0', 'up']);
    nsxOk(inet, ['ip', 'route', 'add', `${FAR}/32`, 'dev', 'fb0']);
    nsxOk(inet, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    nsxOk(inet, ['sysctl', '-qw', 'net.ipv4.conf.inet0.proxy_arp=1']);
    nsxOk(inet, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0']);
    d = new DaemonProc(cfgPath);
    await d.started();
    await serveInternet('tcp-serve', HOST, 8000);
    await serveInternet('tcp-serve', HOST2, 8000);
    await serveInternet('udp-serve', HOST, 5353);
  });

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
    try { sh('ip', ['netns', 'del', `${prefix}-far`]); } catch { /* gone */ }
  });

  it('private instance -> internet through the NAT gateway: TCP byte for byte, seen from the gateway public address', async () => {
    const established = await natMetric('vpcd_nat_gateway_connections_established_total');
    const bytesOut = await natMetric('vpcd_nat_gateway_bytes_total', { direction: 'out_to_destination' });
    const srv = inInternet([process.execPath, TCP_CHECK, 'server', HOST, '7001', '30']);
    let out = '';
    srv.stdout!.on('data', (x: Buffer) => { out += x.toString(); });
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
    const cli = nsx(`${prefix}-app`, [process.execPath, TCP_CHECK, 'client', HOST, '7001', String(4 << 20), '30'], { timeoutMs: 40_000 });
    await new Promise<void>((res) => srv.on('exit', () => res()));
    const s = JSON.parse(out) as { bytes: number; sha256: string; peer: string };
    expect(s.bytes).toBe(4 << 20);
    expect(s.sha256).toBe((JSON.parse(cli.stdout) as { sha256: string }).sha256);
    expect(s.peer).toBe(NAT_PUB);
    expect(await natMetric('vpcd_nat_gateway_connections_established_total')).toBeGreaterThan(established);
    expect((await natMetric('vpcd_nat_gateway_bytes_total', { direction: 'out_to_destination' })) - bytesOut).toBeGreaterThan(4 << 20);
  });

  it('UDP request/response and ping through the NAT gateway', () => {
    const r = nsx(`${prefix}-app`, [process.execPath, PROBE, 'udp-request', HOST, '5353', '2000']);
    expect(r.code, r.stdout).toBe(0);
    expect((JSON.parse(r.stdout) as { reply: string }).reply).toMatch(new RegExp(`^${NAT_PUB.replaceAll('.', '\\.')}:\\d+ ping$`));
    const p = nsx(`${prefix}-app`, ['ping', '-c', '2', '-i', '0.3', '-W', '1', HOST]);
    expect(p.code, p.stdout).toBe(0);
  });

  it('the internet cannot open a connection to the private instance or the NAT gateway address; drops counted', async () => {
    const before = await natMetric('vpcd_nat_gateway_packets_dropped_total');
    const unsolicited = metricValue(await metrics(), 'vpcd_drops_total', { reason: 'unsolicited' }) ?? 0;
    const a = nsx(`${prefix}-inet`, [process.execPath, PROBE, 'tcp-connect', NAT_PUB, '22', '800']);
    expect(a.code).not.toBe(0);
    const b = nsx(`${prefix}-inet`, [process.execPath, PROBE, 'tcp-connect', '198.18.2.10', '22', '800']);
    expect(b.code).not.toBe(0);
    expect(nsx(`${prefix}-inet`, ['ping', '-c', '1', '-W', '1', NAT_PUB]).code).not.toBe(0);
    expect(await natMetric('vpcd_nat_gateway_packets_dropped_total')).toBeGreaterThan(before);
    const m = await metrics();
    expect(metricValue(m, 'vpcd_drops_total', { reason: 'unsolicited' }) ?? 0).toBeGreaterThan(unsolicited);
  });

  it('port allocation: the 17th concurrent connection to one destination fails (limit 16) and is counted; another destination works', async () => {
    // 16 connections held open at the same time (started together, each bounded in time)
    const holds: ChildProcess[] = [];
    const connected: Promise<void>[] = [];
    for (let i = 0; i < 16; i++) {
      const h = spawn('ip', ['netns', 'exec', `${prefix}-app`, process.execPath, PROBE, 'tcp-hold', HOST, '8000', '8', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
      holds.push(h);
      kids.push(h);
      connected.push(new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`hold ${i} did not connect`)), 15_000);
        h.stderr!.once('data', () => { clearTimeout(t); res(); });
      }));
    }
    await Promise.all(connected);
    const before = await natMetric('vpcd_nat_gateway_error_port_allocation_total');
    const exhausted = metricValue(await metrics(), 'vpcd_drops_total', { reason: 'nat_port_exhausted' }) ?? 0;
    const extra = nsx(`${prefix}-app`, [process.execPath, PROBE, 'tcp-connect', HOST, '8000', '1000']);
    expect(extra.code).not.toBe(0);
    expect(await natMetric('vpcd_nat_gateway_error_port_allocation_total')).toBeGreaterThan(before);
    expect(metricValue(await metrics(), 'vpcd_drops_total', { reason: 'nat_port_exhausted' }) ?? 0).toBeGreaterThan(exhausted);
    const other = nsx(`${prefix}-app`, [process.execPath, PROBE, 'tcp-connect', HOST2, '8000', '2000']);
    expect(other.code, other.stdout).toBe(0);
    await Promise.all(holds.map((h) => new Promise<void>((res) => h.on('exit', () => res()))));
  });

  it('idle timeout (4 s here): an idle TCP connection is timed out; the next segment gets a RST; counted', async () => {
    const before = await natMetric('vpcd_nat_gateway_idle_timeouts_total');
    // one line, then 6 s of silence, then another line: the NAT gateway has forgotten the connection
    const script = `
const net = require('node:net');
const s = net.connect(8000, '${HOST2}', () => { s.write('a\\n'); setTimeout(() => s.write('b\\n'), 6500); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
setTimeout(() => { console.log(JSON.stringify({ error: null })); process.exit(0); }, 9000);`;
    const r = nsx(`${prefix}-app`, [process.execPath, '-e', script], { timeoutMs: 15_000 });
    expect(JSON.parse(r.stdout).error).toBe('ECONNRESET');
    expect(await natMetric('vpcd_nat_gateway_idle_timeouts_total')).toBeGreaterThan(before);
  });

  it('ICMP errors for translated flows reach the inside host translated: port unreachable and TTL exceeded', async () => {
    // UDP to a closed port of an internet host: the host's kernel answers port unreachable to the NAT address.
    const td = spawn('ip', ['netns', 'exec', `${prefix}-app`, 'timeout', '5', 'tcpdump', '-n', '-l', '-i', 'eth0', '-c', '1', 'icmp[0] == 3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    td.stdout.on('data', (x: Buffer) => { out += x.toString(); });
    // tcpdump prints "listening" once its capture and filter are attached
    await new Promise<void>((res) => td.stderr.once('data', () => res()));
    nsx(`${prefix}-app`, [process.execPath, PROBE, 'udp-request', HOST, '9', '800']);
    await new Promise<void>((res) => td.on('exit', () => res()));
    // tcpdump shows the quoted packet: from the inside address, to the host's closed port
    expect(out).toMatch(new RegExp(`${HOST.replaceAll('.', '\\.')} > 198\\.18\\.2\\.10: ICMP ${HOST.replaceAll('.', '\\.')} udp port 9 unreachable`));
    // TTL exceeded from the internet router in front of the far host
    const p = nsx(`${prefix}-app`, ['ping', '-c', '1', '-t', '1', '-W', '2', FAR]);
    expect(p.stdout).toMatch(/Time to live exceeded/);
    expect(p.stdout).toMatch(/From 203\.0\.113\.\d+/);
  });

  it('a public instance is reachable at its public address only where its SG and NACL allow', async () => {
    const webNs = `${prefix}-web`;
    const s1 = spawn('ip', ['netns', 'exec', webNs, process.execPath, PROBE, 'tcp-serve', '198.18.1.10', '8080', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const s2 = spawn('ip', ['netns', 'exec', webNs, process.execPath, PROBE, 'tcp-serve', '198.18.1.10', '8081', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const s3 = spawn('ip', ['netns', 'exec', webNs, process.execPath, PROBE, 'tcp-serve', '198.18.1.10', '22', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.push(s1, s2, s3);
    await Promise.all([s1, s2, s3].map((s) => new Promise<void>((res) => s.stderr!.once('data', () => res()))));
    const c = (port: number) => nsx(`${prefix}-inet`, [process.execPath, PROBE, 'tcp-connect', WEB_PUB, String(port), '1000']).code;
    expect(c(8080)).toBe(0);           // SG and NACL allow
    expect(c(8081)).not.toBe(0);       // NACL rule 50 denies
    expect(c(22)).not.toBe(0);         // no SG rule
    // the instance sees the internet host's own address; the host sees the public one
    const hold = nsx(`${prefix}-web`, [process.execPath, PROBE, 'udp-request', HOST, '5353', '2000']);
    expect(hold.code).toBe(0);
    expect((JSON.parse(hold.stdout) as { reply: string }).reply.startsWith(`${WEB_PUB}:`)).toBe(true);
    // hairpin: an instance reaches another instance's public address through the IGW, seen from its own public address
    expect(nsx(`${prefix}-nati`, [process.execPath, PROBE, 'tcp-connect', WEB_PUB, '8080', '1500']).code).toBe(0);
    // an instance without a public address cannot use the IGW
    const noPublic = metricValue(await metrics(), 'vpcd_drops_total', { reason: 'igw_no_public_ip' }) ?? 0;
    expect(nsx(`${prefix}-noip`, [process.execPath, PROBE, 'udp-request', HOST, '5353', '800']).code).not.toBe(0);
    expect(metricValue(await metrics(), 'vpcd_drops_total', { reason: 'igw_no_public_ip' }) ?? 0).toBeGreaterThan(noPublic);
  });

  it('NAT instance: works with source/dest check off (Linux masquerade inside it), dropped with it on', async () => {
    const r = nsx(`${prefix}-behind`, [process.execPath, PROBE, 'udp-request', HOST, '5353', '2000']);
    expect(r.code, r.stdout).toBe(0);
    expect((JSON.parse(r.stdout) as { reply: string }).reply.startsWith(`${NATI_PUB}:`)).toBe(true);
    writeFileSync(cfgPath, config({ natiCheck: true }));
    d!.signal('SIGHUP');
    await d!.waitFor((l) => l.event === 'reloaded');
    const before = metricValue(await metrics(), 'vpcd_drops_total', { reason: 'source_dest_check' }) ?? 0;
    expect(nsx(`${prefix}-behind`, [process.execPath, PROBE, 'udp-request', HOST, '5353', '800']).code).not.toBe(0);
    expect(metricValue(await metrics(), 'vpcd_drops_total', { reason: 'source_dest_check' }) ?? 0).toBeGreaterThan(before);
  });

  it('flow logs (custom format with v5 fields): the NAT gateway ENI shows its private address, pkt-srcaddr/pkt-dstaddr the far end, as AWS writes them', async () => {
    const sport = 46000 + Math.floor(Math.random() * 1000);
    const path = join(dirname(cfgPath), 'flows.log');
    // Only records written after this point (earlier tests' flows are in the file too).
    const skip = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').length : 1;
    expect(nsx(`${prefix}-app`, [process.execPath, PROBE, 'tcp-connect', HOST, '8000', '3000', String(sport)]).code).toBe(0);
    const scope = { accountId: '123456789012', vpcName: prefix };
    const natEni = natGatewayEniId(scope, 'nat-a'), appEni = awsId(scope, 'eni', 'app');
    type Rec = Record<string, string>;
    const read = (): Rec[] => {
      if (!existsSync(path)) return [];
      const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
      expect(lines[0]).toBe(FLOW_FIELDS.join(' '));
      expect(lines.filter((l) => l === lines[0]).length, 'one header').toBe(1);
      return lines.slice(Math.max(1, skip)).map((l) => Object.fromEntries(l.split(' ').map((v, i) => [FLOW_FIELDS[i]!, v])));
    };
    const APP = '198.18.2.10', NATIP = '198.18.1.5';
    // The four legs on the gateway's ENI and the instance's outgoing record (the aggregation interval is 1 s).
    const want = {
      inFromApp: (r: Rec) => r['interface-id'] === natEni && r['srcaddr'] === APP && r['srcport'] === String(sport) && r['flow-direction'] === 'ingress',
      // This flow's legs beyond the gateway: TCP to HOST:8000 from the port the gateway chose, which its answers come back to.
      outToHost: (r: Rec) => r['interface-id'] === natEni && r['srcaddr'] === NATIP && r['dstaddr'] === HOST && r['dstport'] === '8000' && r['flow-direction'] === 'egress' &&
        recs.some((x) => x['interface-id'] === natEni && x['srcaddr'] === HOST && x['dstport'] === r['srcport'] && x['pkt-dstaddr'] === NATIP),
      inFromHost: (r: Rec) => r['interface-id'] === natEni && r['srcaddr'] === HOST && r['srcport'] === '8000' && r['dstaddr'] === NATIP && r['flow-direction'] === 'ingress' &&
        recs.some((x) => x['interface-id'] === natEni && x['dstaddr'] === APP && x['dstport'] === String(sport) && x['srcport'] === '8000'),
      outToApp: (r: Rec) => r['interface-id'] === natEni && r['dstaddr'] === APP && r['dstport'] === String(sport) && r['flow-direction'] === 'egress',
      appOut: (r: Rec) => r['interface-id'] === appEni && r['srcport'] === String(sport) && r['flow-direction'] === 'egress',
    };
    let recs = read();
    for (const t0 = Date.now(); Date.now() - t0 < 15_000 && !Object.values(want).every((f) => recs.some(f));) {
      await new Promise((res) => setTimeout(res, 250));
      recs = read();
    }
    const one = (name: keyof typeof want): Rec => {
      const r = recs.find(want[name]);
      expect(r, `${name} in ${path}`).toBeDefined();
      return r!;
    };
    const common = { version: '5', 'vpc-id': awsId(scope, 'vpc', prefix), protocol: '6', action: 'ACCEPT', 'log-status': 'OK', region: '-' };
    const natCommon = { ...common, 'subnet-id': awsId(scope, 'subnet', 'pub'), 'instance-id': '-' };
    expect(one('inFromApp')).toMatchObject({ ...natCommon, dstaddr: NATIP, 'pkt-srcaddr': APP, 'pkt-dstaddr': HOST, dstport: '8000', 'traffic-path': '-' });
    const natPort = one('outToHost')['srcport']!;
    expect(Number(natPort)).toBeGreaterThanOrEqual(1024);
    expect(one('outToHost')).toMatchObject({ ...natCommon, 'pkt-srcaddr': NATIP, 'pkt-dstaddr': HOST, dstport: '8000', 'traffic-path': '2' });
    expect(one('inFromHost')).toMatchObject({ ...natCommon, srcport: '8000', dstport: natPort, 'pkt-srcaddr': HOST, 'pkt-dstaddr': NATIP, 'traffic-path': '-' });
    expect(one('outToApp')).toMatchObject({ ...natCommon, srcaddr: NATIP, srcport: '8000', 'pkt-srcaddr': HOST, 'pkt-dstaddr': APP, 'traffic-path': '1' });
    const app = one('appOut');
    expect(app).toMatchObject({ ...common, 'subnet-id': awsId(scope, 'subnet', 'priv'), 'instance-id': awsId(scope, 'i', 'app'), srcaddr: APP, dstaddr: HOST,
      'pkt-srcaddr': APP, 'pkt-dstaddr': HOST, 'traffic-path': '1' });
    expect(Number(app['tcp-flags']) & 2, 'SYN recorded on the instance ENI').toBe(2);
    expect(Number(one('inFromHost')['tcp-flags']) & 18, 'SYN-ACK recorded on the gateway ENI').toBe(18);
    // Never the Elastic IP on the gateway's ENI.
    expect(recs.filter((r) => r['interface-id'] === natEni && (r['srcaddr'] === NAT_PUB || r['dstaddr'] === NAT_PUB))).toEqual([]);
  });
});
