/**
 * Instances in namespaces vpcd did not create (instances.<name>.attach), on
 * real packets: processes in their own network namespaces (`unshare --net`,
 * kept alive by sleep) attached by pid, by /proc/PID/ns/net path and by a
 * container name (resolved through a `docker` on PATH that answers `inspect`),
 * mixed with a namespace the lab makes. TCP between two attached namespaces
 * goes through vpcd's security groups; `lab down` leaves each attached
 * namespace exactly as it was (links, addresses, routes), the namespaces
 * themselves alive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, isRoot, metricValue, nsx, randomPort, shTry, sleep, uniquePrefix, VPCD, writeTemp } from '../helpers/netns.js';

const TCP_CHECK = join(ROOT, 'test', 'helpers', 'tcp-check.mjs');
const prefix = uniquePrefix();
const port = randomPort();

/** A process in a network namespace of its own. */
class Holder {
  readonly proc: ChildProcess;
  constructor() {
    this.proc = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  }
  get pid(): number {
    return this.proc.pid!;
  }
  get path(): string {
    return `/proc/${this.pid}/ns/net`;
  }
  /** Waits until the process has its own namespace (unshare has run). */
  async ready(): Promise<void> {
    const own = statSync('/proc/self/ns/net').ino;
    for (let i = 0; i < 100; i++) {
      try {
        if (statSync(this.path).ino !== own) return;
      } catch {
        // not yet
      }
      await sleep(20);
    }
    throw new Error(`pid ${this.pid}: no namespace of its own`);
  }
  exec(args: string[], timeoutMs = 30_000): { code: number; stdout: string; stderr: string } {
    return shTry('nsenter', [`--net=${this.path}`, '--', ...args], { timeoutMs });
  }
  /** Links (without the ever-changing counters), addresses and routes: what `lab down` must leave as found. */
  snapshot(): string {
    const links = this.exec(['ip', '-o', 'link']).stdout.replace(/\\\s+link\/\S+ \S+ brd \S+/g, '');
    return [links, this.exec(['ip', '-o', 'addr']).stdout, this.exec(['ip', 'route']).stdout, this.exec(['ip', '-6', 'route']).stdout].join('\n--\n');
  }
  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

describe.runIf(isRoot)('attach: instances in namespaces vpcd did not create', () => {
  const c1 = new Holder(); // attached by pid
  const c2 = new Holder(); // attached by /proc/PID/ns/net, has a default route of its own
  const c3 = new Holder(); // attached by container name
  let cfgPath = '';
  let env: NodeJS.ProcessEnv = {};
  let d: DaemonProc | undefined;
  const before = new Map<Holder, string>();
  const inode = new Map<Holder, number>();

  const lab = (args: string[]) => shTry(VPCD, ['lab', ...args], { timeoutMs: 60_000 });
  /** `vpcd lab` with the docker stand-in on PATH. */
  const labEnv = (args: string[]) => {
    const r = spawnSync(VPCD, ['lab', ...args], { encoding: 'utf8', env, timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    await Promise.all([c1.ready(), c2.ready(), c3.ready()]);
    // c2 already routes elsewhere: a link of its own (a veth pair inside it) with a default route
    // (169.254.0.0/16, never used for traffic here).
    expect(c2.exec(['ip', 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']).code).toBe(0);
    c2.exec(['ip', 'addr', 'add', '169.254.77.1/24', 'dev', 'd0']);
    c2.exec(['ip', 'link', 'set', 'd1', 'up']);
    c2.exec(['ip', 'link', 'set', 'd0', 'up']);
    expect(c2.exec(['ip', 'route', 'add', 'default', 'via', '169.254.77.2', 'dev', 'd0']).code).toBe(0);
    // Its IPv6 link-local addresses finish duplicate address detection before the snapshot.
    for (let i = 0; i < 100 && /tentative/.test(c2.exec(['ip', '-o', 'addr']).stdout); i++) await sleep(100);
    expect(c2.exec(['ip', '-o', 'addr']).stdout).not.toMatch(/tentative/);
    for (const h of [c1, c2, c3]) {
      before.set(h, h.snapshot());
      inode.set(h, statSync(h.path).ino);
    }
    // A docker CLI stand-in: answers `inspect -f {{.State.Pid}} box-<prefix>` with c3's pid.
    const bin = mkdtempSync(join(tmpdir(), 'vpcd-docker-'));
    writeFileSync(join(bin, 'docker'), `#!/bin/sh\n[ "$1 $2 $3 $4" = "inspect -f {{.State.Pid}} box-${prefix}" ] && { echo ${c3.pid}; exit 0; }\necho "Error: No such object: $4" >&2\nexit 1\n`);
    chmodSync(join(bin, 'docker'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    cfgPath = writeTemp('attach.yaml', `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  cli:
    ingress: [ { protocol: icmp, cidr: 198.18.0.0/16 } ]
  srv:
    ingress: [ { protocol: tcp, ports: 7001, group: cli } ]
instances:
  c1: { subnet: sa, ip: 198.18.1.10, securityGroups: [cli], attach: { pid: ${c1.pid} } }
  c2: { subnet: sb, ip: 198.18.2.20, securityGroups: [srv], attach: { netns: ${c2.path}, interface: vpc0 } }
  c3: { subnet: sb, ip: 198.18.2.30, securityGroups: [cli], attach: { container: box-${prefix}, defaultRoute: false } }
  m1: { subnet: sa, ip: 198.18.1.11, securityGroups: [cli] }
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix} }
`);
    const up = labEnv(['up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(new RegExp(`c3: attached to container box-${prefix} \\(pid ${c3.pid}\\)`));
    d = new DaemonProc(cfgPath);
    await d.started();
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    lab(['down', cfgPath]);
    for (const h of [c1, c2, c3]) h.stop();
  });

  it('wires each attached namespace: address, MAC, routes; no IPv6 address on the inside end', () => {
    const a1 = c1.exec(['ip', '-o', 'addr', 'show', 'dev', 'eth1']).stdout;
    expect(a1).toMatch(/inet 198\.18\.1\.10\/24/);
    expect(a1).not.toMatch(/inet6/);
    expect(c1.exec(['ip', 'route', 'show', 'default']).stdout).toMatch(/^default via 198\.18\.1\.1 dev eth1/);
    // c2 keeps its own default route; two /1 routes through vpcd win by being more specific.
    const r2 = c2.exec(['ip', 'route']).stdout;
    expect(r2).toMatch(/^default via 169\.254\.77\.2 dev d0/m);
    expect(r2).toMatch(/^0\.0\.0\.0\/1 via 198\.18\.2\.1 dev vpc0/m);
    expect(r2).toMatch(/^128\.0\.0\.0\/1 via 198\.18\.2\.1 dev vpc0/m);
    // defaultRoute: false: only the subnet's own route.
    expect(c3.exec(['ip', 'route']).stdout.trim()).toBe('198.18.2.0/24 dev eth1 proto kernel scope link src 198.18.2.30');
  });

  it('carries TCP between two attached namespaces where a security group allows it', async () => {
    const srv = spawn('nsenter', [`--net=${c2.path}`, '--', process.execPath, TCP_CHECK, 'server', '198.18.2.20', '7001', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let srvOut = '';
    srv.stdout.on('data', (x: Buffer) => { srvOut += x.toString(); });
    await new Promise<void>((res) => srv.stderr.once('data', () => res()));
    const cli = c1.exec([process.execPath, TCP_CHECK, 'client', '198.18.2.20', '7001', String(256 * 1024), '20']);
    await new Promise<void>((res) => srv.on('exit', () => res()));
    const c = JSON.parse(cli.stdout) as { sha256: string };
    const s = JSON.parse(srvOut) as { bytes: number; sha256: string; peer: string };
    expect(s.bytes).toBe(256 * 1024);
    expect(s.sha256).toBe(c.sha256);
    expect(s.peer).toBe('198.18.1.10');
  });

  it('drops and counts TCP the security group does not allow (port 7002)', async () => {
    const sgDrops = async () => metricValue(await fetchText(`http://127.0.0.1:${port}/metrics`), 'vpcd_drops_total', { reason: 'sg' }) ?? 0;
    const beforeDrops = await sgDrops();
    const srv = spawn('nsenter', [`--net=${c2.path}`, '--', process.execPath, TCP_CHECK, 'server', '198.18.2.20', '7002', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((res) => srv.stderr.once('data', () => res()));
    const cli = c1.exec([process.execPath, TCP_CHECK, 'client', '198.18.2.20', '7002', '1000', '2']);
    expect(cli.code).not.toBe(0);
    srv.kill('SIGKILL');
    expect((await sgDrops()) - beforeDrops).toBeGreaterThanOrEqual(1);
  });

  it('mixes with lab-made namespaces: ping from a made namespace to an attached one', () => {
    const r = nsx(`${prefix}-m1`, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.1.10']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('lab status shows made and attached instances; lab exec runs in an attached namespace', () => {
    const s = lab(['status', cfgPath, '--json']);
    expect(s.code, s.stderr).toBe(0);
    const st = JSON.parse(s.stdout) as { state: string; instances: { instance: string; attached: boolean; namespace: string; link: { name: string; up: boolean; addresses: string[] } }[] };
    expect(st.state).toBe('up');
    const byName = new Map(st.instances.map((i) => [i.instance, i]));
    expect(byName.get('c1')).toMatchObject({ attached: true, namespace: `pid ${c1.pid}`, link: { name: 'eth1', up: true, addresses: ['198.18.1.10/24'] } });
    expect(byName.get('c2')).toMatchObject({ attached: true, namespace: `netns ${c2.path}`, link: { name: 'vpc0', up: true } });
    expect(byName.get('m1')).toMatchObject({ attached: false, namespace: `${prefix}-m1`, link: { name: 'eth0', up: true } });
    const e = lab(['exec', cfgPath, 'c2', '--', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'vpc0']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/inet 198\.18\.2\.20\/24/);
    expect(lab(['exec', cfgPath, 'c2', '--', 'sh', '-c', 'exit 7']).code).toBe(7);
  });

  it('lab down leaves each attached namespace exactly as before, and alive', async () => {
    await d!.stop();
    const down = lab(['down', cfgPath]);
    expect(down.code, down.stderr).toBe(0);
    for (const h of [c1, c2, c3]) {
      expect(statSync(h.path).ino).toBe(inode.get(h));
      expect(h.snapshot()).toBe(before.get(h));
    }
    expect(shTry('ip', ['netns', 'list']).stdout).not.toContain(prefix);
    // Twice is fine, and up again works on the same namespaces.
    expect(lab(['down', cfgPath]).code).toBe(0);
    const again = labEnv(['up', cfgPath]);
    expect(again.code, again.stderr).toBe(0);
    expect(c1.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth1']).stdout).toMatch(/198\.18\.1\.10\/24/);
    expect(lab(['down', cfgPath, '--quiet']).code).toBe(0);
    for (const h of [c1, c2, c3]) expect(h.snapshot()).toBe(before.get(h));
  }, 60_000);
});
