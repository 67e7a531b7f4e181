/**
 * The live page in real headless Chromium (driven over the DevTools
 * protocol by test/helpers/live-browser.mjs): /live draws the lab's
 * topology from /live/topology.json, and a connection refused during the
 * test appears in its flow table within 2 s, fed by /live/events (the same
 * event hub as `vpcd observe`). A screenshot is saved in test-results/.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProc, ROOT, fetchText, randomPort, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';
import { HOST, WEB_PUB, observeLabConfig } from '../helpers/observe-lab.js';

const PROBE = join(ROOT, 'test', 'helpers', 'probe.mjs');
const BROWSER = join(ROOT, 'test', 'helpers', 'live-browser.mjs');
const OUT = join(ROOT, 'test-results');
const prefix = uniquePrefix();
const mport = randomPort();
const socketDir = mkdtempSync(join(tmpdir(), 'vpcd-ctl-'));

describeWith(['root', 'chromium'], 'the live page in headless Chromium', () => {
  let cfgPath = '';
  let d: DaemonProc | undefined;
  const kids: ChildProcess[] = [];

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    cfgPath = writeTemp('live.yaml', observeLabConfig(prefix, mport, socketDir));
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
    d = new DaemonProc(cfgPath);
    await d.started();
    const srv = spawn('ip', ['netns', 'exec', `${prefix}-inet`, process.execPath, PROBE, 'tcp-serve', HOST, '8000', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.push(srv);
    await new Promise<void>((res) => srv.stderr!.once('data', () => res()));
  });

  afterAll(async () => {
    for (const k of kids) k.kill('SIGKILL');
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
    rmSync(socketDir, { recursive: true, force: true });
  });

  it('serves the page, its topology and its counters', async () => {
    const html = await fetchText(`http://127.0.0.1:${mport}/live`);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // self-contained
    const topo = JSON.parse(await fetchText(`http://127.0.0.1:${mport}/live/topology.json`)) as { instances: { name: string }[]; natGateways: { name: string }[] };
    expect(topo.instances.map((i) => i.name)).toEqual(['web', 'app']);
    expect(topo.natGateways.map((n) => n.name)).toEqual(['nat-a']);
    const stats = JSON.parse(await fetchText(`http://127.0.0.1:${mport}/live/stats.json`)) as { sgVerdicts: unknown[] };
    expect(stats.sgVerdicts).toHaveLength(2);
  });

  it('draws the topology, and a connection refused now appears within 2 s', async () => {
    const shot = join(OUT, 'live-page.png');
    const b = spawn(process.execPath, ['--experimental-websocket', BROWSER, `http://127.0.0.1:${mport}/live`, shot, HOST], { stdio: ['pipe', 'pipe', 'pipe'] });
    kids.push(b);
    const lines: Record<string, unknown>[] = [];
    let err = '';
    b.stderr!.on('data', (x: Buffer) => { err += x.toString(); });
    let buf = '';
    b.stdout!.on('data', (x: Buffer) => {
      buf += x.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    });
    const exited = new Promise<number>((res) => b.on('exit', (c) => res(c ?? -1)));
    const next = async (): Promise<Record<string, unknown>> => {
      const n = lines.length;
      for (let i = 0; i < 600 && lines.length === n; i++) await new Promise((r) => setTimeout(r, 50));
      if (lines.length === n) throw new Error(`live-browser said nothing in 30 s: ${err}`);
      return lines[n]!;
    };
    const ready = await next();
    expect(ready, JSON.stringify(ready)).toMatchObject({ ready: true });
    expect(ready.instances).toEqual(['web', 'app']);
    expect(ready.subnets).toEqual(['pub', 'priv']);
    expect(ready.gateways).toEqual(expect.arrayContaining(['igw', 'nat-a']));
    // accepted traffic for the picture: through the NAT gateway
    spawn('ip', ['netns', 'exec', `${prefix}-app`, process.execPath, PROBE, 'tcp-connect', HOST, '8000', '1500'], { stdio: 'ignore' });
    // now: the browser starts its clock, then the internet host is refused by the NACL
    b.stdin!.write('go\n');
    // (bash's /dev/tcp: a SYN within milliseconds of the clock starting, where a node client would take a while to start)
    const c = spawn('ip', ['netns', 'exec', `${prefix}-inet`, 'timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${WEB_PUB}/8081`], { stdio: 'ignore' });
    kids.push(c);
    const seen = await next();
    expect(seen, JSON.stringify(seen)).toMatchObject({ seen: true });
    expect(seen.ms as number).toBeLessThan(2_000);
    expect(seen.row as string).toMatch(/pub-nacl rule 50/);
    expect(seen.row as string).toMatch(/SUBNET_ACL_RESTRICTION/);
    expect(await exited).toBe(0);
    console.log(`live page: refused flow shown after ${String(seen.ms)} ms; screenshot ${shot}`);
  });
});
