/**
 * AWS security semantics on real packets: Linux hosts in namespaces, vpcd in
 * the middle, verdicts observed by the hosts themselves (connect, ping, UDP
 * echo, tcpdump), plus vpcd's metrics and flow logs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { DaemonProc, ROOT, fetchText, metricValue, nsx, randomPort, sleep, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';
import { awsId } from '../../src/control/aws-ids.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const INJECT = join(ROOT, 'test', 'helpers', 'inject-icmp.py');

const prefix = uniquePrefix();
const mport = randomPort();
const WEB = '198.18.1.10', CLIENT = '198.18.1.100', DB = '198.18.2.20', APP = '198.18.2.30';

function config(flowLogPath: string, opts: { webSsh: boolean; fragRule: boolean }): string {
  return `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16, accountId: "111122223333" }
subnets:
  pub: { cidr: 198.18.1.0/24, networkAcl: pub-nacl }
  priv: { cidr: 198.18.2.0/24, networkAcl: priv-nacl }
networkAcls:
  pub-nacl:
    inbound:
      - { rule: 100, action: allow, protocol: all, cidr: 198.18.2.0/24 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 198.18.2.0/24 }
  priv-nacl:
    inbound:
      - { rule: 90, action: deny, protocol: tcp, ports: 5433, cidr: ${CLIENT}/32 }
      - { rule: 95, action: deny, protocol: tcp, ports: 5432, cidr: ${CLIENT}/32 }
      - { rule: 100, action: allow, protocol: all, cidr: 198.18.0.0/16 }
    outbound:
      # replies to ephemeral ports only towards web's half of the public subnet (the client is .100)
      - { rule: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 198.18.1.0/26 }
      - { rule: 110, action: allow, protocol: icmp, cidr: 198.18.0.0/16 }
      - { rule: 120, action: allow, protocol: udp, ports: 1024-65535, cidr: 198.18.0.0/16 }
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 80, cidr: 198.18.0.0/16 }
      - { protocol: tcp, ports: 9000, group: client }
${opts.webSsh ? '      - { protocol: tcp, ports: 2222, cidr: 198.18.1.0/24 }' : ''}
      - { protocol: udp, ports: 53, cidr: 198.18.0.0/16 }
      - { protocol: icmp, icmpType: 8, cidr: 198.18.0.0/16 }
  client:
    ingress:
${opts.fragRule ? '      - { protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 198.18.0.0/16 }' : '      - { protocol: tcp, ports: 7, cidr: 198.18.9.0/24 }'}
  db:
    ingress:
      - { protocol: tcp, ports: 5432-5433, group: app }
      - { protocol: tcp, ports: 5432-5433, group: client }
    egress:
      - { protocol: icmp, cidr: 198.18.0.0/16 }
  app:
    ingress:
      - { protocol: tcp, ports: 8080, cidr: 198.18.0.0/16 }
instances:
  web: { subnet: pub, ip: ${WEB}, securityGroups: [web] }
  client: { subnet: pub, ip: ${CLIENT}, securityGroups: [client] }
  db: { subnet: priv, ip: ${DB}, securityGroups: [db] }
  app: { subnet: priv, ip: ${APP}, securityGroups: [app] }
flowLogs: { path: ${flowLogPath}, aggregationInterval: 1 }
metrics: { listen: "127.0.0.1:${mport}" }
lab: { prefix: ${prefix} }
`;
}

const servers: ChildProcess[] = [];
function serve(inst: string, mode: 'tcp-serve' | 'udp-serve', ip: string, port: number): Promise<void> {
  const p = spawn('ip', ['netns', 'exec', `${prefix}-${inst}`, process.execPath, PROBE, mode, ip, String(port), '120'], { stdio: ['ignore', 'ignore', 'pipe'] });
  servers.push(p);
  return new Promise((res) => p.stderr!.once('data', () => res()));
}
function connect(from: string, ip: string, port: number, timeoutMs = 1500, srcPort?: number): boolean {
  const r = nsx(`${prefix}-${from}`, [process.execPath, PROBE, 'tcp-connect', ip, String(port), String(timeoutMs), ...(srcPort === undefined ? [] : [String(srcPort)])], { timeoutMs: timeoutMs + 5000 });
  return r.code === 0;
}
function ping(from: string, ip: string): boolean {
  return nsx(`${prefix}-${from}`, ['ping', '-c', '1', '-W', '1', ip]).code === 0;
}
async function metrics(): Promise<string> {
  return fetchText(`http://127.0.0.1:${mport}/metrics`);
}
/** One sample of the daemon's metrics (0 when absent). */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await metrics(), name, labels) ?? 0;
}
/** Polls `cond` every 100 ms until it holds or `timeoutMs` passes; returns its last value. */
async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return true;
    if (Date.now() - t0 > timeoutMs) return false;
    await sleep(100);
  }
}
/** A source port for one test's flows, so its flow-log records are its own (below the ephemeral range). */
let nextSport = 20_000 + Math.floor(Math.random() * 5_000);
function sport(): number {
  return nextSport++;
}

describeWith(['root', 'python3', 'tcpdump'], 'security groups and NACLs on real packets', () => {
  let cfgPath = '';
  let flowLog = '';
  let d: DaemonProc | undefined;
  let applied = '';
  /**
   * Makes the daemon run the configuration with these options (a reload when it differs from the
   * running one), so each test states the configuration it needs instead of inheriting an earlier
   * test's reload.
   */
  async function useConfig(opts: { webSsh: boolean; fragRule: boolean }): Promise<void> {
    const text = config(flowLog, opts);
    if (text === applied) return;
    const from = d!.lines.length;
    writeFileSync(cfgPath, text);
    applied = text;
    d!.signal('SIGHUP');
    await d!.waitFor((l) => l.event === 'reloaded' && d!.lines.indexOf(l) >= from);
  }

  beforeAll(async () => {
    cfgPath = writeTemp('sec.yaml', '');
    flowLog = join(dirname(cfgPath), 'flows.log');
    applied = config(flowLog, { webSsh: true, fragRule: false });
    writeFileSync(cfgPath, applied);
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    await serve('web', 'tcp-serve', WEB, 80);
    await serve('web', 'tcp-serve', WEB, 9000);
    await serve('web', 'tcp-serve', WEB, 2222);
    await serve('web', 'tcp-serve', WEB, 23);
    await serve('web', 'udp-serve', WEB, 53);
    await serve('db', 'tcp-serve', DB, 5432);
    await serve('db', 'tcp-serve', DB, 5433);
    await serve('app', 'tcp-serve', APP, 8080);
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('1. TCP allowed by a security group rule', () => {
    expect(connect('client', WEB, 80)).toBe(true);
  });

  it('2. TCP refused by the security group (no rule for port 23), counted', async () => {
    const before = metricValue(await metrics(), 'vpcd_sg_verdicts_total', { vpc_instance: 'web', direction: 'ingress', verdict: 'deny' }) ?? 0;
    expect(connect('client', WEB, 23)).toBe(false);
    const after = metricValue(await metrics(), 'vpcd_sg_verdicts_total', { vpc_instance: 'web', direction: 'ingress', verdict: 'deny' }) ?? 0;
    expect(after).toBeGreaterThan(before);
  });

  it('3. TCP refused by a NACL deny although the security group allows it', async () => {
    const hits = { nacl: 'priv-nacl', direction: 'inbound', rule: '95', action: 'deny' };
    const before = await sample('vpcd_nacl_rule_hits_total', hits);
    expect(connect('client', DB, 5432)).toBe(false);
    expect(await sample('vpcd_nacl_rule_hits_total', hits)).toBeGreaterThan(before);
  });

  it('4. a lower-numbered deny wins over a broader allow (rule 90 before 100)', () => {
    expect(connect('client', DB, 5433)).toBe(false);
    expect(connect('app', DB, 5433)).toBe(true);
  });

  it('5. a missing ephemeral-port rule on the reply breaks the connection (stateless NACL)', async () => {
    // app's SG allows 8080 from the VPC and priv-nacl inbound allows it; the SYN-ACK back to
    // the client's ephemeral port has no outbound rule (only 198.18.1.0/26 is allowed).
    const hits = { nacl: 'priv-nacl', direction: 'outbound', rule: '*', action: 'deny' };
    const before = await sample('vpcd_nacl_rule_hits_total', hits);
    expect(connect('client', APP, 8080)).toBe(false);
    expect(await sample('vpcd_nacl_rule_hits_total', hits)).toBeGreaterThan(before);
    expect(connect('web', APP, 8080)).toBe(true);
  });

  it('6. NACLs do not apply between two instances of the same subnet', () => {
    // pub-nacl admits only the private subnet, yet client -> web inside pub works (SG allows 9000 from group client)
    expect(connect('client', WEB, 9000)).toBe(true);
  });

  it('7. a rule referencing a security group admits its members only', () => {
    expect(connect('app', DB, 5432)).toBe(true);
    expect(connect('web', DB, 5432)).toBe(false);
  });

  it('8. UDP request/response through a tracked flow', () => {
    const r = nsx(`${prefix}-client`, [process.execPath, PROBE, 'udp-request', WEB, '53', '2000']);
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).reply).toContain(CLIENT);
  });

  it('9. ICMP echo allowed by type, refused where no rule allows it', () => {
    expect(ping('client', WEB)).toBe(true);
    expect(ping('client', DB)).toBe(false);
  });

  it('10. an ICMP fragmentation-needed error for a tracked flow is refused without an explicit rule', async () => {
    await useConfig({ webSsh: true, fragRule: false });
    // A tracked TCP flow client -> web:80; web's side sends frag-needed quoting it.
    const hold = spawn('ip', ['netns', 'exec', `${prefix}-client`, process.execPath, PROBE, 'tcp-hold', WEB, '80', '6', '200', '41000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((res) => hold.stderr.once('data', () => res()));
    const seen = (): Promise<boolean> => new Promise((res) => {
      const td = spawn('ip', ['netns', 'exec', `${prefix}-client`, 'timeout', '3', 'tcpdump', '-n', '-i', 'eth0', '-c', '1', 'icmp[0] == 3'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      td.stdout.on('data', (x: Buffer) => { out += x.toString(); });
      td.stderr.once('data', () => {
        setTimeout(() => nsx(`${prefix}-web`, ['python3', INJECT, WEB, CLIENT, CLIENT, WEB, '41000', '80']), 300);
      });
      td.on('exit', () => res(out.includes('ICMP')));
    });
    const denied = { vpc_instance: 'client', direction: 'ingress', verdict: 'deny' };
    const deniedBefore = await sample('vpcd_sg_verdicts_total', denied);
    expect(await seen()).toBe(false);
    // the error reached vpcd and its security group refused it (not lost on the way)
    expect(await sample('vpcd_sg_verdicts_total', denied)).toBeGreaterThan(deniedBefore);
    // the same with an explicit inbound rule for type 3 code 4 on the client's group (reload)
    await useConfig({ webSsh: true, fragRule: true });
    expect(await seen()).toBe(true);
    hold.kill('SIGKILL');
  });

  it('11. removing a rule on reload keeps an open tracked connection; a new one is then refused', async () => {
    await useConfig({ webSsh: true, fragRule: false });
    expect(connect('client', WEB, 2222)).toBe(true);
    const hold = spawn('ip', ['netns', 'exec', `${prefix}-client`, process.execPath, PROBE, 'tcp-hold', WEB, '2222', '4', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    hold.stdout.on('data', (x: Buffer) => { out += x.toString(); });
    await new Promise<void>((res) => hold.stderr.once('data', () => res()));
    await useConfig({ webSsh: false, fragRule: false });
    await new Promise<void>((res) => hold.on('exit', () => res()));
    const r = JSON.parse(out) as { sent: number; echoed: number; error: string | null };
    expect(r.error).toBeNull();
    expect(r.sent).toBeGreaterThan(30);
    expect(r.echoed).toBeGreaterThanOrEqual(r.sent - 1);
    expect(connect('client', WEB, 2222)).toBe(false);
  });

  it('12. flow logs: an accepted and a rejected flow, field by field', async () => {
    // this test's own flows: source ports no other test uses
    const okPort = sport(), rejPort = sport();
    expect(connect('client', WEB, 80, 1500, okPort)).toBe(true);
    expect(connect('client', WEB, 23, 800, rejPort)).toBe(false);
    // Interface ids in AWS form, derived from the names (as every flow-log reader expects eni-<17 hex>).
    const eniWeb = awsId({ accountId: '111122223333', vpcName: prefix }, 'eni', 'web');
    const eniClient = awsId({ accountId: '111122223333', vpcName: prefix }, 'eni', 'client');
    const records = (): string[][] => (existsSync(flowLog) ? readFileSync(flowLog, 'utf8').trim().split('\n').slice(1).map((l) => l.split(' ')) : []);
    const wanted: ((r: string[]) => boolean)[] = [
      (r) => r[2] === eniWeb && r[3] === CLIENT && r[5] === String(okPort) && r[12] === 'ACCEPT',
      (r) => r[2] === eniWeb && r[3] === WEB && r[6] === String(okPort) && r[12] === 'ACCEPT',
      (r) => r[2] === eniWeb && r[3] === CLIENT && r[5] === String(rejPort) && r[12] === 'REJECT',
      (r) => r[2] === eniClient && r[3] === CLIENT && r[5] === String(rejPort) && r[12] === 'ACCEPT',
      (r) => r[13] === 'NODATA',
    ];
    // the records of both flows are flushed (aggregation interval 1 s)
    expect(await until(() => { const rs = records(); return wanted.every((w) => rs.some(w)); }, 15_000),
      `flow-log records of source ports ${okPort} and ${rejPort}`).toBe(true);
    const lines = readFileSync(flowLog, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status');
    const recs = lines.slice(1).map((l) => l.split(' '));
    for (const r of recs) expect(r).toHaveLength(14);
    const acc = recs.find((r) => r[2] === eniWeb && r[3] === CLIENT && r[4] === WEB && r[5] === String(okPort) && r[6] === '80' && r[12] === 'ACCEPT');
    expect(acc, 'ACCEPT record of client->web:80 on eni-web').toBeDefined();
    expect(acc![0]).toBe('2');
    expect(acc![1]).toBe('111122223333');
    expect(acc![7]).toBe('6');
    expect(Number(acc![8])).toBeGreaterThanOrEqual(1);
    expect(Number(acc![9])).toBeGreaterThanOrEqual(40);
    expect(Number(acc![10])).toBeLessThanOrEqual(Number(acc![11]));
    expect(Math.abs(Number(acc![10]) - Date.now() / 1000)).toBeLessThan(120);
    expect(acc![13]).toBe('OK');
    const back = recs.find((r) => r[2] === eniWeb && r[3] === WEB && r[4] === CLIENT && r[5] === '80' && r[6] === String(okPort) && r[12] === 'ACCEPT');
    expect(back, 'ACCEPT record of the reply on eni-web').toBeDefined();
    const rej = recs.find((r) => r[2] === eniWeb && r[3] === CLIENT && r[4] === WEB && r[5] === String(rejPort) && r[6] === '23' && r[12] === 'REJECT');
    expect(rej, 'REJECT record of client->web:23 on eni-web').toBeDefined();
    expect(Number(rej![8])).toBeGreaterThanOrEqual(1);
    const cliAcc = recs.find((r) => r[2] === eniClient && r[3] === CLIENT && r[4] === WEB && r[5] === String(rejPort) && r[6] === '23' && r[12] === 'ACCEPT');
    expect(cliAcc, 'the same SYN left eni-client accepted').toBeDefined();
    expect(recs.some((r) => r[13] === 'NODATA' && r[3] === '-')).toBe(true);
  });

  it('13. metrics: flows, security-group verdicts, NACL hits, conntrack entries', async () => {
    const names = ['accept', 'reject', 'allow', 'sg', 'nacl'] as const;
    const read = async (): Promise<Record<(typeof names)[number], number>> => {
      const m = await metrics();
      return {
        accept: metricValue(m, 'vpcd_flows_total', { verdict: 'accept' }) ?? 0,
        reject: metricValue(m, 'vpcd_flows_total', { verdict: 'reject' }) ?? 0,
        allow: metricValue(m, 'vpcd_sg_verdicts_total', { vpc_instance: 'web', direction: 'ingress', verdict: 'allow' }) ?? 0,
        sg: metricValue(m, 'vpcd_drops_total', { reason: 'sg' }) ?? 0,
        nacl: metricValue(m, 'vpcd_drops_total', { reason: 'nacl' }) ?? 0,
      };
    };
    const before = await read();
    expect(connect('client', WEB, 80, 1500, sport())).toBe(true); // accepted flow, SG allow
    expect(connect('client', WEB, 23, 800, sport())).toBe(false); // rejected flow, SG drop
    expect(connect('client', DB, 5432, 800, sport())).toBe(false); // NACL drop (rule 95)
    let after = before;
    const grew = await until(async () => { after = await read(); return names.every((n) => after[n] > before[n]); }, 5000);
    expect(grew, `before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`).toBe(true);
    expect(await sample('vpcd_conntrack_entries')).toBeGreaterThan(0);
  });
});

describeWith(['root', 'python3', 'tcpdump'], 'conntrack limit on real packets', () => {
  const p2 = uniquePrefix();
  const mp = randomPort();
  let cfgPath = '';
  let d: DaemonProc | undefined;
  const holds: ChildProcess[] = [];

  beforeAll(async () => {
    cfgPath = writeTemp('ct.yaml', `
vpc: { name: ${p2}, cidr: 198.18.0.0/16 }
subnets: { a: { cidr: 198.18.1.0/24 }, b: { cidr: 198.18.2.0/24 } }
securityGroups:
  srv: { ingress: [ { protocol: tcp, ports: 7000, cidr: 198.18.1.0/24 } ] }
instances:
  c: { subnet: a, ip: 198.18.1.10 }
  s: { subnet: b, ip: 198.18.2.10, securityGroups: [srv] }
conntrack: { max: 3 }
metrics: { listen: "127.0.0.1:${mp}" }
lab: { prefix: ${p2} }
`);
    expect(vpcd(['lab', 'up', cfgPath]).code).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    const srv = spawn('ip', ['netns', 'exec', `${p2}-s`, process.execPath, PROBE, 'tcp-serve', '198.18.2.10', '7000', '60'], { stdio: ['ignore', 'ignore', 'pipe'] });
    holds.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
  });

  afterAll(async () => {
    for (const h of holds) h.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  it('14. past conntrack.max new flows are refused and counted while tracked ones keep working', async () => {
    const outs: string[] = ['', '', ''];
    for (let i = 0; i < 3; i++) {
      const h = spawn('ip', ['netns', 'exec', `${p2}-c`, process.execPath, PROBE, 'tcp-hold', '198.18.2.10', '7000', '4', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
      holds.push(h);
      h.stdout!.on('data', (x: Buffer) => { outs[i] += x.toString(); });
      await new Promise<void>((res) => h.stderr!.once('data', () => res()));
    }
    const exceeded = async (): Promise<number> => metricValue(await fetchText(`http://127.0.0.1:${mp}/metrics`), 'vpcd_conntrack_allowance_exceeded_total') ?? 0;
    const before = await exceeded();
    expect(connect2(p2, '198.18.2.10', 7000)).toBe(false);
    expect(await exceeded()).toBeGreaterThan(before);
    expect(metricValue(await fetchText(`http://127.0.0.1:${mp}/metrics`), 'vpcd_conntrack_entries')).toBe(3);
    await Promise.all(holds.slice(1).map((h) => new Promise<void>((res) => h.on('exit', () => res()))));
    for (const o of outs) {
      const r = JSON.parse(o) as { sent: number; echoed: number; error: string | null };
      expect(r.error).toBeNull();
      expect(r.echoed).toBeGreaterThanOrEqual(r.sent - 1);
    }
  });
});

function connect2(p: string, ip: string, port: number): boolean {
  return nsx(`${p}-c`, [process.execPath, PROBE, 'tcp-connect', ip, String(port), '1500'], { timeoutMs: 8000 }).code === 0;
}
