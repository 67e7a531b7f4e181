import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FlowLogs, type FlowLogSink } from '../../../src/telemetry/flowlogs.js';
import type { FlowLogsConfig } from '../../../src/control/config-types.js';
import type { FlowLogEni } from '../../../src/telemetry/flowlog-record.js';

let root = '';
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vpcd-fls-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const ACCT = '123456789012';
/** AWS's default (version 2) header. */
const FLOW_LOG_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter((l) => l !== '');

function cfg(path: string, o: Partial<FlowLogsConfig> = {}): FlowLogsConfig {
  return { path, aggregationInterval: 60, ...o };
}

/** Interface descriptors with readable ids (the AWS-form ids are tested with flowLogEnis). */
const enis = (names: string[]): FlowLogEni[] => names.map((n) => ({ interfaceId: `eni-${n}`, instanceId: `i-${n}`, subnetId: 'subnet-s', vpcId: 'vpc-v' }));

function start(c: FlowLogsConfig, names: string[], sink: FlowLogSink, errors: unknown[] = []): FlowLogs {
  const ch = FlowLogs.prepare(null, c, enis(names), ACCT, sink, (_p, e) => errors.push(e));
  expect(sink.flowLog).toBeNull(); // prepare touches nothing running
  const f = ch.commit(1_700_000_000_000);
  expect(f).not.toBeNull();
  return f!;
}

describe('FlowLogs', () => {
  it('ends an interval by swapping the packet path to a fresh table, then writes records, NODATA and a per-ENI SKIPDATA', async () => {
    const p = join(root, 'fl', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p, { recordsPerEni: 2 }), ['web', 'db', 'idle'], sink);
    const t1 = sink.flowLog!;
    t1.record(0, 0xc6120a0a, 0xc6120214, 40000, 5432, 6, 1, 60, 1_700_000_001_000);
    t1.record(0, 0xc6120a0a, 0xc6120214, 40000, 5432, 6, 1, 40, 1_700_000_002_500);
    t1.record(1, 0xc6120214, 0xc6120a0a, 5432, 40000, 6, 1, 60, 1_700_000_001_000);
    for (let i = 0; i < 5; i++) t1.record(1, 0xcb007100 + i, 0xc6120214, 1000 + i, 22, 6, 0, 40, 1_700_000_001_000);
    f.endInterval(1_700_000_060_000);
    expect(sink.flowLog).not.toBe(t1);
    expect(sink.flowLog!.size).toBe(0);
    await f.idle();
    expect(lines(p)).toEqual([
      FLOW_LOG_HEADER,
      `2 ${ACCT} eni-web 198.18.10.10 198.18.2.20 40000 5432 6 2 100 1700000001 1700000003 ACCEPT OK`,
      `2 ${ACCT} eni-db 198.18.2.20 198.18.10.10 5432 40000 6 1 60 1700000001 1700000001 ACCEPT OK`,
      `2 ${ACCT} eni-db 203.0.113.0 198.18.2.20 1000 22 6 1 40 1700000001 1700000001 REJECT OK`,
      `2 ${ACCT} eni-db - - - - - - - 1700000000 1700000060 - SKIPDATA`,
      `2 ${ACCT} eni-idle - - - - - - - 1700000000 1700000060 - NODATA`,
    ]);
    expect(f.records).toBe(5);
    expect(f.skippedPackets).toBe(4);
    // The written table came back as the spare: the next interval swaps again.
    const t2 = sink.flowLog;
    f.endInterval(1_700_000_120_000);
    expect(sink.flowLog).toBe(t1);
    await f.close(1_700_000_130_000);
    expect(t2).not.toBe(t1);
  });

  it('writes a full table in chunks: the event loop runs between them, no slice is long', async () => {
    const p = join(root, 'big', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const enis = Array.from({ length: 16 }, (_, i) => `i-${i}`);
    const f = start(cfg(p), enis, sink);
    const t = sink.flowLog!;
    for (let e = 0; e < 16; e++) for (let i = 0; i < 4096; i++) t.record(e, 0xc6120000 + e, 0xc6130000 + i, 30000 + i, 443, 6, 1, 100, 1_700_000_001_000 + i);
    expect(t.size).toBe(65_536);
    // A probe standing in for the batch loop: how long does it wait at most while the flush runs?
    let maxGap = 0, turns = 0, last = performance.now(), running = true;
    const probe = (): void => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      turns++;
      if (running) setImmediate(probe);
    };
    setImmediate(probe);
    const t0 = performance.now();
    f.endInterval(1_700_000_060_000);
    const swapMs = performance.now() - t0;
    await f.idle();
    running = false;
    const s = f.lastFlush;
    console.log(`full-table flush (65536 records): endInterval ${swapMs.toFixed(2)} ms, ${s.chunks} chunks, longest slice ${s.maxSliceMs.toFixed(1)} ms ` +
      `of ${s.busyMs.toFixed(0)} ms formatting, ` +
      `longest event-loop gap ${maxGap.toFixed(1)} ms, total ${s.totalMs.toFixed(0)} ms, probe turns ${turns}`);
    expect(lines(p).length).toBe(65_537);
    expect(s.records).toBe(65_536);
    expect(s.chunks).toBeGreaterThanOrEqual(64);
    // The packet path only waits for the swap; the formatting is spread over chunks with event-loop turns
    // between them (absolute times depend on the machine's load: the figures are printed above).
    expect(swapMs).toBeLessThan(20);
    expect(turns).toBeGreaterThanOrEqual(s.chunks);
    expect(s.maxSliceMs).toBeLessThan(s.busyMs / 2);
    await f.close(1_700_000_070_000);
  });

  it('an interval that ends while the previous one is still being written goes on (counted), then ends with the next', async () => {
    const p = join(root, 'late', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p), ['a'], sink);
    sink.flowLog!.record(0, 1, 2, 3, 4, 17, 1, 10, 1_700_000_001_000);
    f.endInterval(1_700_000_060_000);
    sink.flowLog!.record(0, 5, 6, 7, 8, 17, 1, 10, 1_700_000_061_000);
    f.endInterval(1_700_000_120_000); // the spare is still out
    expect(f.lateIntervals).toBe(1);
    await f.idle();
    sink.flowLog!.record(0, 9, 10, 11, 12, 17, 1, 10, 1_700_000_121_000);
    f.endInterval(1_700_000_180_000);
    await f.close(1_700_000_190_000);
    const recs = lines(p).filter((l) => l.endsWith(' OK'));
    expect(recs.map((l) => l.split(' ')[5])).toEqual(['3', '7', '11']);
  });

  it('a reload that renames or adds ENIs writes the interval so far under the old names, then records into new tables', async () => {
    const p = join(root, 'rl', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p), ['a', 'b'], sink);
    sink.flowLog!.record(1, 1, 2, 3, 4, 17, 1, 10, 1_700_000_001_000);
    const ch = FlowLogs.prepare(f, cfg(p, { aggregationInterval: 10 }), enis(['c', 'a', 'b']), ACCT, sink, () => undefined);
    expect(ch.changes).toEqual(['table size', 'aggregationInterval 10']);
    expect(sink.flowLog!.enis).toBe(2); // not applied yet
    expect(ch.commit(1_700_000_030_000)).toBe(f);
    expect(sink.flowLog!.enis).toBe(3);
    expect(f.aggregationInterval).toBe(10);
    sink.flowLog!.record(0, 5, 6, 7, 8, 17, 1, 10, 1_700_000_031_000);
    await f.close(1_700_000_040_000);
    const recs = lines(p).filter((l) => l.endsWith(' OK'));
    expect(recs.map((l) => `${l.split(' ')[2]}:${l.split(' ')[5]}`)).toEqual(['eni-b:3', 'eni-c:7']);
  });

  it('a reload to a path that cannot be used is refused in prepare and leaves the running writer alone', async () => {
    const p = join(root, 'ok', 'flows.log');
    const shared = join(root, 'shared');
    mkdirSync(shared, { mode: 0o777 });
    const { chmodSync } = await import('node:fs');
    chmodSync(shared, 0o777);
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p), ['a'], sink);
    const before = sink.flowLog;
    expect(() => FlowLogs.prepare(f, cfg(join(shared, 'flows.log')), enis(['a']), ACCT, sink, () => undefined)).toThrow(/writable by others/);
    expect(sink.flowLog).toBe(before);
    expect(f.path).toBe(p);
    // a prepared change that is aborted removes the file it created
    const other = join(root, 'other', 'flows.log');
    const ch = FlowLogs.prepare(f, cfg(other), enis(['a']), ACCT, sink, () => undefined);
    expect(existsSync(other)).toBe(true);
    await ch.abort();
    expect(existsSync(other)).toBe(false);
    expect(f.path).toBe(p);
    await f.close(1_700_000_010_000);
  });

  it('switching flow logs off stops recording, writes the last interval and closes', async () => {
    const p = join(root, 'off', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p), ['a'], sink);
    sink.flowLog!.record(0, 1, 2, 3, 4, 17, 1, 10, 1_700_000_001_000);
    const ch = FlowLogs.prepare(f, undefined, enis(['a']), ACCT, sink, () => undefined);
    expect(ch.changes).toEqual(['disabled']);
    expect(ch.commit(1_700_000_005_000)).toBeNull();
    expect(sink.flowLog).toBeNull();
    await f.idle();
    expect(lines(p).filter((l) => l.endsWith(' OK')).length).toBe(1);
  });

  it('a reload that changes the format on the same path: the interval so far goes to the old file, which is rotated away; the new file has its own header only', async () => {
    const p = join(root, 'fmt', 'flows.log');
    const sink: FlowLogSink = { flowLog: null };
    const f = start(cfg(p), ['a'], sink);
    sink.flowLog!.record(0, 1, 2, 3, 4, 17, 1, 10, 1_700_000_001_000);
    const ch = FlowLogs.prepare(f, cfg(p, { format: ['version', 'interface-id', 'flow-direction', 'action'] }), enis(['a']), ACCT, sink, () => undefined);
    expect(ch.changes).toEqual(['file options', 'format']);
    ch.commit(1_700_000_010_000);
    sink.flowLog!.record(0, 1, 2, 3, 4, 17, 1, 10, 1_700_000_011_000, 0, 2);
    await f.close(1_700_000_020_000);
    expect(lines(`${p}.1`)).toEqual([FLOW_LOG_HEADER, `2 ${ACCT} eni-a 0.0.0.1 0.0.0.2 3 4 17 1 10 1700000001 1700000001 ACCEPT OK`]);
    expect(lines(p)).toEqual(['version interface-id flow-direction action', '5 eni-a egress ACCEPT']);
  });
});
