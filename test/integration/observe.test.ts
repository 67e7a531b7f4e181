/**
 * `vpcd observe` and `vpcd conntrack` against a running daemon on real
 * packets: a connection refused by a NACL rule shows up while it happens
 * with the rule and code `vpcd explain --json` gives for the same flow; a
 * connection through the NAT gateway shows both address pairs, and
 * `vpcd conntrack list --json` shows it with its NAT binding; flush removes
 * it; Ctrl-C ends the observer cleanly; the socket is mode 0660.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, metricValue, randomPort, sleep, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';
import { APP, HOST, NAT_PUB, Observer, WEB, WEB_PUB, observeLabConfig } from '../helpers/observe-lab.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const prefix = uniquePrefix();
const mport = randomPort();
const socketDir = mkdtempSync(join(tmpdir(), 'vpcd-ctl-'));

describeWith(['root'], 'vpcd observe and vpcd conntrack on a running daemon', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;
  const kids: ChildProcess[] = [];
  const observers: Observer[] = [];
  const subscribers = async () => metricValue(await fetchText(`http://127.0.0.1:${mport}/metrics`), 'vpcd_observe_subscribers') ?? 0;

  beforeAll(async () => {
    cfgPath = writeTemp('observe.yaml', observeLabConfig(prefix, mport, socketDir));
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    const srv = spawn('ip', ['netns', 'exec', `${prefix}-inet`, process.execPath, PROBE, 'tcp-serve', HOST, '8000', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
  });

  afterAll(async () => {
    for (const o of observers) o.proc.kill('SIGKILL');
    for (const k of kids) k.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
    rmSync(socketDir, { recursive: true, force: true });
  });

  it('the control socket is a Unix socket, mode 0660, owned by root', () => {
    const st = statSync(join(socketDir, 'control.sock'));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(0);
  });

  it('observe --json shows a connection refused by a NACL rule while it happens, with explain\'s rule and code', async () => {
    const before = await subscribers();
    const o = new Observer(cfgPath, ['--json', '--verdict', 'REJECT', '--instance', 'web']);
    observers.push(o);
    while ((await subscribers()) === before) await sleep(50);
    const t0 = Date.now();
    const client = spawn('ip', ['netns', 'exec', `${prefix}-inet`, process.execPath, PROBE, 'tcp-connect', WEB_PUB, '8081', '1500'], { stdio: 'ignore' });
    kids.push(client);
    let gaveUp = 0;
    const clientExit = new Promise<number>((res) => client.on('exit', (code) => { gaveUp = Date.now(); res(code ?? -1); }));
    const { e, at } = await o.waitFor((x) => x.type === 'flow' && x.dport === 8081);
    // while it happens: the event is here before the client gives up waiting for an answer
    expect(gaveUp).toBe(0);
    expect(at - t0).toBeLessThan(2_000);
    expect(await clientExit).not.toBe(0);
    // the same flow, explained
    const x = vpcd(['explain', cfgPath, '--src', HOST, '--dst', 'web', '--proto', 'tcp', '--dport', '8081', '--json']);
    expect(x.code, x.stderr).toBe(0);
    const denied = (JSON.parse(x.stdout) as { path: { verdict: string; stage: string; by: unknown; code: string }[] }).path.find((s) => s.verdict === 'deny')!;
    expect(e).toMatchObject({ verdict: 'REJECT', stage: denied.stage, by: denied.by, code: denied.code, instance: 'web', proto: 'tcp', src: HOST, dst: WEB });
    expect(denied.by).toEqual({ nacl: 'pub-nacl', rule: 50 });
    // the filter holds: only refusals about web
    expect(o.events.every((y) => y.verdict === 'REJECT')).toBe(true);
  });

  it('a connection through the NAT gateway: both address pairs in observe, its entry with the NAT binding in conntrack list', async () => {
    const before = await subscribers();
    const o = new Observer(cfgPath, ['--json', '--cidr', `${HOST}/32`, '--proto', 'tcp']);
    observers.push(o);
    while ((await subscribers()) === before) await sleep(50);
    const hold = spawn('ip', ['netns', 'exec', `${prefix}-app`, process.execPath, PROBE, 'tcp-hold', HOST, '8000', '8', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(hold);
    await new Promise<void>((res) => hold.stderr!.once('data', () => res()));
    const accepted = await o.waitFor((x) => x.type === 'flow' && x.verdict === 'ACCEPT' && x.src === APP && x.dport === 8000);
    expect(accepted.e).toMatchObject({ instance: 'app', stage: 'sg-egress', code: null, tracked: true });
    const { e } = await o.waitFor((x) => x.type === 'nat' && x.src === APP && x.dport === 8000);
    expect(e).toMatchObject({ verdict: 'ACCEPT', stage: 'nat', natGateway: 'nat-a', proto: 'tcp', src: APP, dst: HOST, xsrc: NAT_PUB, xdst: HOST, xdport: 8000 });
    expect(e.xsport).toEqual(expect.any(Number));

    const l = vpcd(['conntrack', 'list', cfgPath, '--instance', 'app', '--json']);
    expect(l.code, l.stderr).toBe(0);
    const list = JSON.parse(l.stdout) as { entries: Record<string, unknown>[]; total: number };
    const entry = list.entries.find((x) => x.src === APP && x.dst === HOST && x.dport === 8000 && x.sport === e.sport);
    expect(entry, l.stdout).toMatchObject({ instance: 'app', proto: 'tcp', state: 'ESTABLISHED', tracking: 'tracked',
      nat: { gateway: 'nat-a', publicIp: NAT_PUB, sport: e.xsport } });
    expect(entry!.idleSecondsLeft).toBeGreaterThan(0);

    // the connection ends (its last segments may re-open an entry), then the flush removes what is left
    hold.kill('SIGKILL');
    await sleep(500);
    const f = vpcd(['conntrack', 'flush', cfgPath, '--instance', 'app']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toMatch(/^[1-9][0-9]* entr(y|ies) removed/);
    const after = JSON.parse(vpcd(['conntrack', 'list', cfgPath, '--instance', 'app', '--json']).stdout) as { entries: Record<string, unknown>[] };
    expect(after.entries.find((x) => x.sport === e.sport && x.dport === 8000)).toBeUndefined();
  });

  it('Ctrl-C ends observe cleanly (exit 0) and the daemon lets it go', async () => {
    const o = new Observer(cfgPath, ['--json']);
    while ((await subscribers()) < observers.length + 1) await sleep(50);
    const before = await subscribers();
    expect(await o.interrupt()).toBe(0);
    while ((await subscribers()) === before) await sleep(50);
    expect(await subscribers()).toBe(before - 1);
  });

  it('a bad filter is refused by the daemon with exit 1; no daemon is exit 2', () => {
    const r = vpcd(['observe', cfgPath, '--instance', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--instance 'nope' is not an instance/);
    const other = writeTemp('none.yaml', observeLabConfig(`${prefix}x`, mport, join(socketDir, 'none')));
    const n = vpcd(['conntrack', 'list', other]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/no vpcd answers/);
  });
});
