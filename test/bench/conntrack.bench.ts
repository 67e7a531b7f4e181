/**
 * Throughput and GC count of the per-packet structures: flow table lookups,
 * conntrack create/touch/sweep, NACL and security-group matching.
 *
 * Run (Node 20 cannot run .ts directly; vitest transpiles it):
 *
 *   npx vitest bench --run --project unit test/bench/conntrack.bench.ts
 *
 * Two reports:
 * 1. "hot loops" (printed by afterAll): each loop runs N operations in one
 *    synchronous call while a PerformanceObserver('gc') records collections;
 *    the GC column counts collections that started inside the loop. Nothing
 *    else runs on the thread then, so a non-zero count means the loop
 *    allocated: the bench fails (style §2 lesson 11f). Set BENCH_GC_WARN=1
 *    to only warn.
 * 2. vitest's own table (tinybench): one sample = 1000 operations, so
 *    ops/s = hz × 1000.
 * Numbers are for comparing changes on one machine, not budgets.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { type CompiledNacl, compileNacl, l4Value, type NaclEntry } from '../../src/acl/nacl-compile.js';
import { Conntrack, FlowTuple, NO_FLOW, initialTimeoutClass } from '../../src/conntrack/conntrack.js';
import { type CompiledSgSet, compileSgSet, isUntrackedFlow, type SgEntry, sgL4Value } from '../../src/conntrack/sg-compile.js';
import { TcpFlag } from '../../src/conntrack/tcp-state.js';

const MAX_FLOWS = 1 << 20; // the conntrack.max of docs/config.md
const TIMEOUTS = { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
const BATCH = 1000;

// ---- fixtures (built once; typed arrays so the loops read without allocating)
const SRC = new Uint32Array(MAX_FLOWS);
const DST = new Uint32Array(MAX_FLOWS);
const SPORT = new Uint16Array(MAX_FLOWS);
const ORDER = new Uint32Array(MAX_FLOWS); // a random permutation: lookups in random order
{
  let x = 0x12345678;
  const rnd = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < MAX_FLOWS; i++) {
    SRC[i] = (0xc6120000 | (i & 0xffff)) >>> 0; // 198.18.x.y
    DST[i] = (0xcb007100 | (i >>> 16)) >>> 0; // 203.0.113.z
    SPORT[i] = 1024 + (rnd() % 60000);
    ORDER[i] = i;
  }
  for (let i = MAX_FLOWS - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    const t = ORDER[i];
    ORDER[i] = ORDER[j];
    ORDER[j] = t;
  }
}

const ct = new Conntrack({ max: MAX_FLOWS, timeouts: TIMEOUTS }, 0x5eed);
const orig = new FlowTuple();
const reply = new FlowTuple();

/** 20 entries (the AWS default quota) that a probe packet never matches: the worst case, a full scan. */
function worstNacl(): CompiledNacl {
  const e: NaclEntry[] = [];
  for (let i = 0; i < 20; i++) {
    e.push({ ruleNumber: (i + 1) * 10, allow: true, protocol: 6, ports: { from: 1000 + i, to: 1000 + i }, icmpType: -1, icmpCode: -1, family: 4, net: 0x0a000000 + (i << 16), prefixLen: 16 });
  }
  return compileNacl(e);
}
/** 60 rows (AWS's per-group default quota), none matching the probe. */
function worstSg(): CompiledSgSet {
  const e: SgEntry[] = [];
  for (let i = 0; i < 60; i++) {
    e.push({ protocol: 6, ports: { from: 2000 + i, to: 2000 + i }, icmpType: -1, icmpCode: -1, family: 4, net: 0x0a000000 + (i << 8), prefixLen: 24, originGroup: 0, originRule: i });
  }
  return compileSgSet(e, ['g']);
}
const nacl = worstNacl();
const sgIn = worstSg();
const sgOut = compileSgSet([{ protocol: -1, icmpType: -1, icmpCode: -1, family: 4, net: 0, prefixLen: 0, originGroup: 0, originRule: 0 }], ['g']);

// ---- the hot loops: each returns an int32 checksum so V8 cannot drop the work.
// Addresses are passed as int32 (`| 0`): a u32 >= 2^31 read from a
// Uint32Array is boxed in a heap number when passed to a call V8 did not
// inline. Measured here: lookup + touch with u32 arguments logged 16 GCs per
// 2M packets, with `| 0` none. The packet stages should read addresses the same way.
let cursor = 0;
let clock = 1;

function createN(n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const i = cursor++;
    orig.set(SRC[i], DST[i], SPORT[i], 443, 6, 0);
    const f = ct.create(orig, reply.reverseOf(orig), initialTimeoutClass(6), clock);
    acc = (acc + f) | 0;
  }
  return acc;
}

function lookupHitN(n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const i = ORDER[cursor++ & (MAX_FLOWS - 1)];
    acc = (acc + ct.lookup(DST[i] | 0, SRC[i] | 0, 443, SPORT[i], 6, 0)) | 0; // reply direction
  }
  return acc;
}

function lookupMissN(n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const i = ORDER[cursor++ & (MAX_FLOWS - 1)];
    acc = (acc + ct.lookup(SRC[i] | 0, DST[i] | 0, SPORT[i], 80, 6, 0)) | 0;
  }
  return acc;
}

function touchN(n: number): number {
  let acc = 0;
  clock++;
  for (let k = 0; k < n; k++) {
    const i = ORDER[cursor++ & (MAX_FLOWS - 1)];
    const ref = ct.lookup(DST[i] | 0, SRC[i] | 0, 443, SPORT[i], 6, 0);
    if (ref !== NO_FLOW) acc = (acc + ct.touch(ref, clock, 1500, TcpFlag.ACK)) | 0;
  }
  return acc;
}

function naclN(n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) acc = (acc + nacl.matchL4(SRC[k & 0xffff] | 0, 6, l4Value(6, 443, 0, 0))) | 0;
  return acc;
}

function sgN(n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const l4 = sgL4Value(6, 443, 0, 0);
    acc = (acc + sgIn.matchL4(SRC[k & 0xffff] | 0, 6, l4)) | 0;
    if (isUntrackedFlow(sgOut, sgIn, 6, l4)) acc = (acc + 1) | 0;
  }
  return acc;
}

const onExpire = (f: number): void => {
  sink = (sink + f) | 0;
};
let sink = 0;

// ---- measurement with GC accounting
const gcStarts: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
interface Result { name: string; ops: number; ms: number; t0: number; t1: number }
const results: Result[] = [];

function measure(name: string, ops: number, run: (n: number) => number): void {
  const t0 = performance.now();
  sink = (sink + run(ops)) | 0;
  const t1 = performance.now();
  results.push({ name, ops, ms: t1 - t0, t0, t1 });
}

beforeAll(async () => {
  observer.observe({ entryTypes: ['gc'] });
  // warm up the code paths on a small scale (JIT), then measure at full size
  cursor = 0;
  createN(1000);
  for (let i = 0; i < 1000; i++) ct.remove(i);
  cursor = 0;
  lookupHitN(10_000);
  lookupMissN(10_000);
  naclN(10_000);
  sgN(10_000);
  await new Promise((r) => setTimeout(r, 50));
  gcStarts.length = 0;

  cursor = 0;
  measure(`conntrack.create (TCP) to ${MAX_FLOWS} flows`, MAX_FLOWS, createN);
  cursor = 0;
  measure('conntrack.lookup hit (reply dir, random order)', 2_000_000, lookupHitN);
  measure('conntrack.lookup miss', 2_000_000, lookupMissN);
  measure('lookup + touch (TCP ACK)', 2_000_000, touchN);
  measure('nacl.match, 20 entries, no match', 5_000_000, naclN);
  measure('sg.match 60 rows + isUntrackedFlow', 2_000_000, sgN);
  clock += TIMEOUTS.tcpEstablished * 1000 + 1; // past every class's timeout
  measure(`conntrack.sweep ${MAX_FLOWS} idle flows (budget 4096/call)`, MAX_FLOWS, (n) => {
    let done = 0;
    while (done < n) {
      const k = ct.sweep(clock, 4096, onExpire);
      if (k === 0) break;
      done += k;
    }
    return done;
  });
  await new Promise((r) => setTimeout(r, 100)); // let the observer deliver
}, 600_000);

afterAll(() => {
  observer.disconnect();
  const rows = results.map((r) => {
    const gcs = gcStarts.filter((s) => s >= r.t0 && s <= r.t1).length;
    return { loop: r.name, ops: r.ops, ms: Math.round(r.ms), 'Mops/s': +(r.ops / r.ms / 1000).toFixed(2), gc: gcs };
  });
  console.log(`hot loops (node ${process.version}, entries left ${ct.entries}, allowanceExceeded ${ct.allowanceExceeded}):`);
  console.table(rows);
  const bad = rows.filter((r) => r.gc > 0);
  if (bad.length > 0) {
    const msg = `GC during allocation-free loops: ${bad.map((r) => `${r.loop} (${r.gc})`).join(', ')}`;
    if (process.env.BENCH_GC_WARN === '1') console.warn(msg);
    else throw new Error(msg);
  }
});

// ---- vitest/tinybench view of the same operations (1000 per sample)
describe('per-packet structures (one sample = 1000 ops)', () => {
  const opts = { time: 500, warmupTime: 100 };
  bench('FlowKeyTable lookup, hit', () => {
    // the table was emptied by the sweep above: refill a slice lazily
    if (ct.entries < 100_000) {
      cursor = 0;
      createN(100_000);
    }
    let acc = 0;
    for (let k = 0; k < BATCH; k++) {
      const i = cursor++ % 100_000;
      acc = (acc + ct.lookup(DST[i] | 0, SRC[i] | 0, 443, SPORT[i], 6, 0)) | 0;
    }
    sink = (sink + acc) | 0;
  }, opts);
  bench('FlowKeyTable lookup, miss', () => {
    lookupMissN(BATCH);
  }, opts);
  bench('nacl.match (20 entries, worst case)', () => {
    naclN(BATCH);
  }, opts);
  bench('sg.match (60 rows, worst case) + tracked decision', () => {
    sgN(BATCH);
  }, opts);
});
