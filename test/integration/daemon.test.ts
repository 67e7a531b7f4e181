/**
 * The daemon under failure: contained errors (failpoints), the watchdog and
 * /healthz during a stuck event loop, all-or-nothing reloads, and the
 * flow-log file (modes, one header across restarts, SIGUSR1 reopen).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { DaemonProc, fetchText, metricValue, nsx, randomPort, sleep, uniquePrefix, vpcd, writeTemp } from '../helpers/netns.js';
import { describeWith } from '../helpers/needs.js';

const HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const prefix = uniquePrefix();

interface Opts { port: number; flowLog: string; icmpIn?: boolean; interval?: number; conntrackMax?: number }
function config(o: Opts): string {
  return `
vpc: { name: ${prefix}, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  srv: { ingress: [ ${o.icmpIn === false ? '{ protocol: tcp, ports: 22, cidr: 198.18.0.0/16 }' : '{ protocol: icmp, cidr: 198.18.0.0/16 }'} ] }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  b1: { subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }
conntrack: { max: ${o.conntrackMax ?? 65536} }
flowLogs: { path: ${o.flowLog}, aggregationInterval: ${o.interval ?? 1} }
metrics: { listen: "127.0.0.1:${o.port}" }
lab: { prefix: ${prefix} }
`;
}

function ping(count: number, interval = '0.05'): { received: number; code: number; out: string } {
  const r = nsx(`${prefix}-a1`, ['ping', '-c', String(count), '-i', interval, '-W', '1', '198.18.2.20'], { timeoutMs: 30_000 });
  const m = /(\d+) received/.exec(r.stdout);
  return { received: m ? Number(m[1]) : 0, code: r.code, out: r.stdout + r.stderr };
}

async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await fetchText(`http://127.0.0.1:${port}/metrics`), name, labels) ?? 0;
}

async function healthz(port: number, timeoutMs = 1500): Promise<{ status: number; body: { ok: boolean; detail: Record<string, unknown> } } | null> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: ac.signal });
    return { status: r.status, body: await r.json() as { ok: boolean; detail: Record<string, unknown> } };
  } catch {
    return null;
  } finally {
    clearTimeout(t);
  }
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timeout waiting for ${what}`);
    await sleep(100);
  }
}

const fileLines = (p: string): string[] => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l !== '') : []);

describeWith(['root'], 'daemon containment, watchdog, reloads and flow-log files', () => {
  let cfgPath = '';
  let flowLog = '';
  let port = 0;
  let d: DaemonProc | undefined;

  beforeAll(async () => {
    port = randomPort();
    cfgPath = writeTemp('daemon.yaml', '');
    // A directory that does not exist yet: vpcd creates it (mode 0750).
    flowLog = join(dirname(cfgPath), 'logs', 'flows.log');
    writeFileSync(cfgPath, config({ port, flowLog }));
    const up = vpcd(['lab', 'up', cfgPath]);
    expect(up.code, up.stderr).toBe(0);
  });

  afterAll(async () => {
    await d?.stop();
    vpcd(['lab', 'down', cfgPath]);
  });

  describe('with failpoints', () => {
    beforeAll(async () => {
      d = new DaemonProc(cfgPath, { VPCD_FAILPOINTS: 'batch-throw-every=4,timer-throw=conntrack-sweep,stall-ms=3000' });
      await d.started();
    });

    afterAll(async () => {
      expect(await d!.stop()).toBe(0);
    });

    it('a batch stage that throws is counted per place, logged at a bounded rate, and forwarding goes on', async () => {
      const before = await metric(port, 'vpcd_internal_errors_total', { place: 'batch' });
      const droppedBefore = await metric(port, 'vpcd_internal_error_dropped_frames_total');
      const r = ping(40);
      const after = await metric(port, 'vpcd_internal_errors_total', { place: 'batch' });
      expect(after - before, `batch failures counted\n${r.out}`).toBeGreaterThanOrEqual(5);
      expect(await metric(port, 'vpcd_internal_error_dropped_frames_total') - droppedBefore, 'frames of failed batches').toBeGreaterThanOrEqual(5);
      // Every fourth batch is lost, the rest is forwarded.
      expect(r.received, `replies\n${r.out}`).toBeGreaterThanOrEqual(5);
      expect(r.received, `replies\n${r.out}`).toBeLessThan(40);
      const lines = d!.lines.filter((l) => l.event === 'internal-error' && l.place === 'batch');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(2); // at most one per 10 s
      expect(lines[0]).toMatchObject({ error: 'failpoint batch-throw-every' });
    });

    it('a timer that throws on every tick (conntrack sweep) is counted and does not stop the process', async () => {
      const a = await metric(port, 'vpcd_internal_errors_total', { place: 'conntrack-sweep' });
      // three more failed ticks, counted, while the process goes on
      await until('3 counted sweep failures', async () => ((await metric(port, 'vpcd_internal_errors_total', { place: 'conntrack-sweep' })) - a >= 3 ? true : undefined), 10_000);
      expect(d!.lines.filter((l) => l.event === 'internal-error' && l.place === 'conntrack-sweep').length).toBeLessThanOrEqual(2);
      expect((await healthz(port))?.status).toBe(200);
    });

    it('/healthz answers 503 while the event loop is stuck (from the watchdog thread), and for 10 s after', async () => {
      expect((await healthz(port))?.status).toBe(200);
      const stallsBefore = await metric(port, 'vpcd_event_loop_stalls_total');
      d!.signal('SIGUSR2'); // blocks the main thread for 3 s
      // Answered while the main loop is stuck: the recovery line has not come yet.
      const during = await until('a 503 during the stall', async () => {
        const h = await healthz(port, 800);
        return h?.status === 503 && (h.body.detail.stalledSeconds as number) > 0 ? h : undefined;
      }, 5_000);
      expect(d!.lines.some((l) => l.event === 'event-loop-recovered')).toBe(false);
      expect(during.body.ok).toBe(false);
      const stalled = await d!.waitFor((l) => l.event === 'event-loop-stalled');
      expect(stalled.thread).toBe('watchdog');
      const rec = await d!.waitFor((l) => l.event === 'event-loop-recovered', 10_000);
      expect(rec.stalledMs as number).toBeGreaterThanOrEqual(2500);
      const after = await healthz(port);
      expect(after?.status).toBe(503);
      expect(after?.body.detail.stalledSeconds).toBe(0);
      expect(await metric(port, 'vpcd_event_loop_stalls_total') - stallsBefore).toBe(1);
      expect(await metric(port, 'vpcd_event_loop_stall_seconds_total')).toBeGreaterThanOrEqual(2.5);
      const t0 = Date.now();
      await until('/healthz 200 again', async () => ((await healthz(port))?.status === 200 ? true : undefined), 15_000);
      expect(Date.now() - t0).toBeGreaterThan(5_000);
      expect(ping(3, '0.2').code).not.toBe(2);
    });
  });

  describe('without failpoints', () => {
    beforeAll(async () => {
      d = new DaemonProc(cfgPath);
      await d.started();
    });

    it('created the flow-log directory 0750 and the file 0640, and a restart added no second header', async () => {
      expect(statSync(dirname(flowLog)).mode & 0o7777).toBe(0o750);
      expect(statSync(flowLog).mode & 0o7777).toBe(0o640);
      const n = fileLines(flowLog).length;
      await until('records from the second daemon', () => (fileLines(flowLog).length > n + 1 ? true : undefined), 5_000);
      expect(fileLines(flowLog).filter((l) => l === HEADER)).toHaveLength(1);
      expect(fileLines(flowLog)[0]).toBe(HEADER);
    });

    it('a reload with a flow-log path in an unwritable place is rejected as a whole; the old configuration forwards and logs', async () => {
      const epoch = await metric(port, 'vpcd_config_epoch');
      const rejected = await metric(port, 'vpcd_config_reloads_total', { result: 'rejected' });
      for (const bad of ['/proc/vpcd-no-such-dir/flows.log', '/tmp/vpcd-shared-flows.log']) {
        // The same file also drops ICMP from b1's security group: that must not apply either.
        writeFileSync(cfgPath, config({ port, flowLog: bad, icmpIn: false }));
        const seen = d!.lines.length;
        d!.signal('SIGHUP');
        const line = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
        expect(line.event).toBe('reload-rejected');
        expect(String((line.issues as string[])[0])).toContain(`flowLogs.path ${bad}`);
      }
      expect(String((d!.lines.filter((l) => l.event === 'reload-rejected').at(-1)!.issues as string[])[0])).toMatch(/writable by others/);
      expect(existsSync('/tmp/vpcd-shared-flows.log')).toBe(false);
      expect(await metric(port, 'vpcd_config_epoch')).toBe(epoch);
      expect(await metric(port, 'vpcd_config_reloads_total', { result: 'rejected' }) - rejected).toBe(2);
      const r = ping(3, '0.2');
      expect(r.received, r.out).toBe(3);
      const n = fileLines(flowLog).length;
      await until('the old flow log still written', () => (fileLines(flowLog).length > n ? true : undefined), 5_000);
      writeFileSync(cfgPath, config({ port, flowLog }));
    });

    it('a conntrack.max change is rejected with its reason', async () => {
      writeFileSync(cfgPath, config({ port, flowLog, conntrackMax: 131072 }));
      const seen = d!.lines.length;
      d!.signal('SIGHUP');
      const line = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
      expect(line.event).toBe('reload-rejected');
      expect(line.issues).toEqual(['conntrack.max changes need a restart (running 65536, file 131072)']);
      expect(await metric(port, 'vpcd_conntrack_max')).toBe(65536);
      writeFileSync(cfgPath, config({ port, flowLog }));
    });

    it('a valid reload applies and logs which sections changed', async () => {
      writeFileSync(cfgPath, config({ port, flowLog, icmpIn: false, interval: 2 }));
      const seen = d!.lines.length;
      d!.signal('SIGHUP');
      const line = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
      expect(line.event).toBe('reloaded');
      expect(line.changed).toEqual(['securityGroups', 'flowLogs']);
      expect(line.flowLogs).toEqual(['aggregationInterval 2']);
      expect(ping(2, '0.2').received).toBe(0); // the security group change applied
      writeFileSync(cfgPath, config({ port, flowLog }));
      d!.signal('SIGHUP');
      await d!.waitFor((l) => d!.lines.indexOf(l) > seen + 1 && l.event === 'reloaded');
      expect(ping(2, '0.2').received).toBe(2);
    });

    it('a metrics.listen change moves /metrics and /healthz; an address in use is rejected and the old one stays', async () => {
      const busy: Server = createServer();
      const busyPort = randomPort();
      await new Promise<void>((res) => busy.listen(busyPort, '127.0.0.1', () => res()));
      try {
        writeFileSync(cfgPath, config({ port: busyPort, flowLog }));
        let seen = d!.lines.length;
        d!.signal('SIGHUP');
        const rej = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
        expect(rej.event).toBe('reload-rejected');
        expect(String((rej.issues as string[])[0])).toMatch(new RegExp(`metrics\\.listen 127\\.0\\.0\\.1:${busyPort}: .*EADDRINUSE`));
        expect((await healthz(port))?.status).toBe(200);

        const next = randomPort();
        writeFileSync(cfgPath, config({ port: next, flowLog }));
        seen = d!.lines.length;
        d!.signal('SIGHUP');
        const ok = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
        expect(ok.event).toBe('reloaded');
        expect(ok.changed).toEqual(['metrics']);
        expect(ok.metrics).toBe(`127.0.0.1:${next}`);
        expect(await metric(next, 'vpcd_config_epoch')).toBeGreaterThan(1);
        expect((await healthz(next))?.status).toBe(200);
        await expect(fetchText(`http://127.0.0.1:${port}/metrics`, 2000)).rejects.toThrow();
        port = next;
      } finally {
        busy.close();
      }
    });

    it('a reload to another flow-log path applies: records go to the new file from then on', async () => {
      const moved = join(dirname(flowLog), 'moved', 'flows.log');
      writeFileSync(cfgPath, config({ port, flowLog: moved }));
      const seen = d!.lines.length;
      d!.signal('SIGHUP');
      const line = await d!.waitFor((l) => d!.lines.indexOf(l) >= seen && (l.event === 'reload-rejected' || l.event === 'reloaded'));
      expect(line.event).toBe('reloaded');
      expect(line.changed).toEqual(['flowLogs']);
      expect(line.flowLogs).toEqual([`path ${moved}`]);
      await until('records in the new file', () => (fileLines(moved).length >= 3 ? true : undefined), 5_000);
      expect(fileLines(moved)[0]).toBe(HEADER);
      const old = fileLines(flowLog).length;
      // while the new file takes more records, the old one takes none
      const now = fileLines(moved).length;
      await until('more records in the new file', () => (fileLines(moved).length >= now + 2 ? true : undefined), 10_000);
      expect(fileLines(flowLog).length).toBe(old);
      writeFileSync(cfgPath, config({ port, flowLog }));
      d!.signal('SIGHUP');
      await d!.waitFor((l) => d!.lines.indexOf(l) > seen + 1 && l.event === 'reloaded');
    });

    it('SIGUSR1 reopens the flow log after an external rename (logrotate without copytruncate)', async () => {
      const rotated = `${flowLog}.1`;
      renameSync(flowLog, rotated);
      d!.signal('SIGUSR1');
      await d!.waitFor((l) => l.event === 'flow-log-reopened');
      await until('records in the new file', () => (fileLines(flowLog).length >= 3 ? true : undefined), 5_000);
      const fresh = fileLines(flowLog);
      expect(fresh[0]).toBe(HEADER);
      expect(fresh.filter((l) => l === HEADER)).toHaveLength(1);
      expect(statSync(flowLog).mode & 0o7777).toBe(0o640);
      const old = fileLines(rotated).length;
      // while the reopened file takes more records, the rotated one takes none
      const now = fileLines(flowLog).length;
      await until('more records in the reopened file', () => (fileLines(flowLog).length >= now + 2 ? true : undefined), 10_000);
      expect(fileLines(rotated).length).toBe(old);
    });
  });
});
