#!/usr/bin/env node
/**
 * bench/inprocess.mjs - the per-packet path without I/O: Dataplane.processBatch
 * over a PacketBatch of prepared frames, repeated for a few seconds, on the
 * compiled sources in dist/ (`npx tsc -p tsconfig.build.json`; `npm run bench`
 * builds it first).
 *
 *   node --expose-gc bench/inprocess.mjs [--seconds 3] [--warmup 1] [--scenario router,security,...]
 *        [--batch 64] [--flows 64] [--payload 64] [--json FILE] [--list]
 *
 * For each scenario: a Topology from a parsed config, client and server
 * instances attached to port ids 0 and 1 (with vnet headers, as the daemon
 * does), `batch` frames in the batch's arena. Each iteration restores the
 * frames from a pristine copy (the router rewrites MACs in place; NAT will
 * rewrite more), sets count, runs processBatch and resets the tx queue.
 * Reported: frames/s (and the restore cost measured alone), frames forwarded
 * vs dropped (by reason) during the measured loop, and the garbage
 * collections that happened during the measured loop (PerformanceObserver,
 * entryTypes ['gc']), which must be 0: the hot path must not allocate.
 *
 * Adding a stage (NAT, VPN, ...): add a scenario below with its config, the
 * dist modules it `requires` (skipped with a note while they are not built)
 * and a `setup(ctx)` that installs the stage the way src/daemon.ts does, e.g.
 *     async setup({ dp, cfg, importDist, attach }) {
 *       const { compileSnapshot } = await importDist('control/compile.js');
 *       const policy = compileSnapshot(cfg, 1);
 *       dp.setTopology(policy.topology); attach();      // ports 0/1 again
 *       dp.security = new SecurityStage(policy, new Conntrack(cfg.conntrack));
 *     }
 * and, if its traffic is not the plain client->server flood, its own `frames`.
 * Exit status: 0 when every scenario forwarded everything it should with 0 GC
 * events, 1 otherwise, 2 on usage errors.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const importDist = (p) => import(join(DIST, p));

// ------------------------------------------------------------------ options
const opts = { seconds: 3, warmup: 1, scenario: 'router,router-bidir,security,security-bidir', batch: 64, flows: 64, payload: 64, json: '', list: false };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i];
    const v = () => {
      if (i + 1 >= a.length) usage(`${k} needs a value`);
      return a[++i];
    };
    if (k === '--seconds') opts.seconds = Number(v());
    else if (k === '--warmup') opts.warmup = Number(v());
    else if (k === '--scenario') opts.scenario = v();
    else if (k === '--batch') opts.batch = Number(v());
    else if (k === '--flows') opts.flows = Number(v());
    else if (k === '--payload') opts.payload = Number(v());
    else if (k === '--json') opts.json = v();
    else if (k === '--list') opts.list = true;
    else usage(`unknown option ${k}`);
  }
  if (!(opts.seconds > 0) || !(opts.warmup >= 0) || !(opts.batch >= 1 && opts.batch <= 256) ||
      !(opts.flows >= 1 && opts.flows <= 4096) || !(opts.payload >= 0 && opts.payload <= 1472)) usage('bad value');
}
function usage(msg) {
  process.stderr.write(`inprocess.mjs: ${msg}\nusage: node --expose-gc bench/inprocess.mjs [--seconds S] [--warmup S] ` +
    '[--scenario a,b] [--batch N] [--flows N] [--payload BYTES] [--json FILE] [--list]\n');
  process.exit(2);
}

// ------------------------------------------------------------------ scenarios
const CLIENT = { name: 'client', ip: '198.18.1.10', mac: '02:76:62:01:00:0a', subnet: 'client-net' };
const SERVER = { name: 'server', ip: '198.18.2.10', mac: '02:76:62:02:00:0a', subnet: 'server-net' };

/** The same VPC as the network benchmark's vpcd mode (bench/modes.sh). */
const ROUTER_CONFIG = `
vpc: { name: vbench, cidr: 198.18.0.0/16 }
subnets:
  client-net: { cidr: 198.18.1.0/24 }
  server-net: { cidr: 198.18.2.0/24 }
securityGroups:
  bench:
    ingress:
      - { protocol: all, cidr: 198.18.0.0/15 }
instances:
  client: { subnet: client-net, ip: ${CLIENT.ip}, interface: vb-f0, mac: "${CLIENT.mac}", securityGroups: [bench] }
  server: { subnet: server-net, ip: ${SERVER.ip}, interface: vb-f1, mac: "${SERVER.mac}", securityGroups: [bench] }
dataplane: { netns: vb-fwd }
metrics: { listen: "127.0.0.1:0" }
`;

/**
 * name -> { describe, config, frames: 'c2s' | 'bidir', setup?(ctx) }.
 * `frames`: c2s = every frame client -> server UDP (flows = source ports);
 * bidir = alternating client -> server and the server's answers.
 */
const SCENARIOS = {
  router: {
    describe: 'router only (ethernet, IPv4 check, source/dest check, route, L2 rewrite); dp.policy = null',
    config: ROUTER_CONFIG,
    frames: 'c2s',
  },
  'router-bidir': {
    describe: 'router only, half the frames are server -> client answers',
    config: ROUTER_CONFIG,
    frames: 'bidir',
  },
  security: {
    describe: 'router + security stage as the daemon builds it (NACLs, security groups, conntrack; flows tracked)',
    config: ROUTER_CONFIG,
    frames: 'c2s',
    requires: ['control/compile.js', 'conntrack/sg-stage.js', 'conntrack/conntrack.js'],
    setup: setupSecurity,
  },
  'security-bidir': {
    describe: 'as security, half the frames are server -> client answers (conntrack reply direction)',
    config: ROUTER_CONFIG,
    frames: 'bidir',
    requires: ['control/compile.js', 'conntrack/sg-stage.js', 'conntrack/conntrack.js'],
    setup: setupSecurity,
  },
};

/** The security stage wired as src/daemon.ts wires it: compiled snapshot, its topology, conntrack. */
async function setupSecurity({ dp, cfg, importDist, attach }) {
  const [{ compileSnapshot }, { SecurityStage }, { Conntrack }] = await Promise.all([
    importDist('control/compile.js'), importDist('conntrack/sg-stage.js'), importDist('conntrack/conntrack.js'),
  ]);
  const policy = compileSnapshot(cfg, 1);
  if (policy.topology) {
    dp.setTopology(policy.topology);
    attach();
  }
  dp.security = new SecurityStage(policy, new Conntrack(cfg.conntrack));
}

if (opts.list) {
  for (const [n, s] of Object.entries(SCENARIOS)) console.log(`${n.padEnd(16)} ${s.describe}`);
  process.exit(0);
}

// ------------------------------------------------------------------ frames (built by hand, checksummed)
function macBytes(s) {
  return s.split(':').map((x) => parseInt(x, 16));
}
function ipBytes(s) {
  return s.split('.').map(Number);
}
function sum16(bytes, initial = 0) {
  let s = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) s += bytes[bytes.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
/** virtio_net_hdr (10 bytes, no GSO, no partial checksum) + Ethernet + IPv4 + UDP + payload. */
function udpFrame({ srcMac, dstMac, src, dst, sport, dport, payload, id }) {
  const udpLen = 8 + payload;
  const ipLen = 20 + udpLen;
  const f = new Uint8Array(10 + 14 + ipLen);
  let o = 10;
  f.set(macBytes(dstMac), o);
  f.set(macBytes(srcMac), o + 6);
  f[o + 12] = 0x08; f[o + 13] = 0x00;
  o += 14;
  const ip = o;
  f[ip] = 0x45; f[ip + 2] = ipLen >> 8; f[ip + 3] = ipLen & 0xff;
  f[ip + 4] = (id >> 8) & 0xff; f[ip + 5] = id & 0xff; f[ip + 6] = 0x40; // DF
  f[ip + 8] = 64; f[ip + 9] = 17;
  f.set(ipBytes(src), ip + 12);
  f.set(ipBytes(dst), ip + 16);
  const hc = ~sum16(f.subarray(ip, ip + 20)) & 0xffff;
  f[ip + 10] = hc >> 8; f[ip + 11] = hc & 0xff;
  const u = ip + 20;
  f[u] = sport >> 8; f[u + 1] = sport & 0xff; f[u + 2] = dport >> 8; f[u + 3] = dport & 0xff;
  f[u + 4] = udpLen >> 8; f[u + 5] = udpLen & 0xff;
  for (let i = 0; i < payload; i++) f[u + 8 + i] = (0x5a ^ i) & 0xff;
  const pseudo = [...ipBytes(src), ...ipBytes(dst), 0, 17, udpLen >> 8, udpLen & 0xff];
  let uc = ~sum16(f.subarray(u, u + udpLen), sum16(pseudo)) & 0xffff;
  if (uc === 0) uc = 0xffff;
  f[u + 6] = uc >> 8; f[u + 7] = uc & 0xff;
  return f;
}

function buildFrames(kind, n, flows, payload, routerMac) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const flow = i % flows;
    const reply = kind === 'bidir' && (i & 1) === 1;
    const c2s = { srcMac: CLIENT.mac, dstMac: routerMac(CLIENT.subnet), src: CLIENT.ip, dst: SERVER.ip, sport: 10000 + flow, dport: 9000 };
    const s2c = { srcMac: SERVER.mac, dstMac: routerMac(SERVER.subnet), src: SERVER.ip, dst: CLIENT.ip, sport: 9000, dport: 10000 + flow };
    out.push({ port: reply ? 1 : 0, bytes: udpFrame({ ...(reply ? s2c : c2s), payload, id: i }) });
  }
  return out;
}

// ------------------------------------------------------------------ measurement
const gcEntries = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcEntries.push({ start: e.startTime, duration: e.duration, kind: e.detail?.kind ?? e.kind });
});
gcObserver.observe({ entryTypes: ['gc'] });
const GC_KIND = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The measured loop. Returns batches run. The clock is read once per 64
 * batches; nowMs is passed per batch as the daemon does.
 */
function runLoop(dp, batch, n, templates, offsets, ms, restore, doProcess) {
  let batches = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 64; k++) {
      if (restore) for (let i = 0; i < n; i++) batch.arena.set(templates[i], offsets[i]);
      if (doProcess) {
        batch.count = n;
        dp.processBatch(batch, now);
        batch.reset();
      }
    }
    batches += 64;
    now = performance.now();
  }
  return { batches, ms: now - start };
}

/** Which optional stages are installed on the Dataplane (fields that hold a stage object). */
function stageNames(dp) {
  const out = [];
  for (const k of ['security', 'policy', 'nat', 'vpn']) {
    const v = dp[k];
    if (v !== null && v !== undefined && typeof v === 'object') out.push(`${k}:${v.constructor?.name ?? 'object'}`);
  }
  return out;
}

async function runScenario(name, sc, mods) {
  const { parseConfig, Topology, Dataplane, PacketBatch, Counters, DROP_REASON_LABELS, VNET_HDR_LEN, routerMacOf } = mods;
  const cfg = parseConfig(sc.config, `inprocess-${name}.yaml`);
  const topo = new Topology(cfg, 1);
  const counters = new Counters();
  const dp = new Dataplane(topo, counters);
  const batch = new PacketBatch(opts.batch);
  /** Client on port 0, server on port 1, vnet headers on (as the daemon opens its ports). */
  const attach = () => {
    const ci = dp.topo.instanceNames.indexOf(CLIENT.name);
    const si = dp.topo.instanceNames.indexOf(SERVER.name);
    if (ci < 0 || si < 0) throw new Error(`scenario ${name}: the config needs instances "client" and "server"`);
    dp.attachInstance(0, ci, true);
    dp.attachInstance(1, si, true);
  };
  attach();
  if (sc.setup) await sc.setup({ dp, topo, cfg, batch, counters, importDist, attach });

  const frames = buildFrames(sc.frames, opts.batch, opts.flows, opts.payload, (subnet) => routerMacOf(cfg.vpc.name, subnet));
  if (VNET_HDR_LEN !== 10) throw new Error(`VNET_HDR_LEN is ${VNET_HDR_LEN}; the frames here are built with 10`);
  const n = frames.length;
  const templates = [];
  const offsets = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * batch.slotSize;
    offsets[i] = off;
    templates.push(frames[i].bytes);
    batch.rxPort[i] = frames[i].port;
    batch.rxOff[i] = off;
    batch.rxLen[i] = frames[i].bytes.length;
  }

  // Restore cost alone (so the router's own cost can be read off), then warm-up (JIT), then a clean heap.
  const rOnly = runLoop(dp, batch, n, templates, offsets, Math.min(1000, opts.seconds * 200), true, false);
  runLoop(dp, batch, n, templates, offsets, opts.warmup * 1000, true, true);
  if (typeof globalThis.gc === 'function') globalThis.gc();
  await sleep(50);

  const txBefore = counters.port[0 * 4 + 2] + counters.port[1 * 4 + 2];
  const framesBefore = counters.frames;
  const dropsBefore = Float64Array.from(counters.drops);
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const r = runLoop(dp, batch, n, templates, offsets, opts.seconds * 1000, true, true);
  const t1 = performance.now();
  const heapAfter = process.memoryUsage().heapUsed;
  await sleep(100); // let the observer deliver
  const gcs = gcEntries.filter((e) => e.start >= t0 && e.start <= t1);

  const processed = counters.frames - framesBefore;
  const sent = counters.port[0 * 4 + 2] + counters.port[1 * 4 + 2] - txBefore;
  const drops = {};
  let dropped = 0;
  for (let k = 1; k < counters.drops.length; k++) {
    const d = counters.drops[k] - dropsBefore[k];
    if (d !== 0) {
      drops[DROP_REASON_LABELS[k] ?? String(k)] = d;
      dropped += d;
    }
  }
  const frameCount = r.batches * n;
  const pps = frameCount / (r.ms / 1000);
  const restoreNs = (rOnly.ms * 1e6) / (rOnly.batches * n);
  const gcKinds = {};
  for (const g of gcs) gcKinds[GC_KIND[g.kind] ?? String(g.kind)] = (gcKinds[GC_KIND[g.kind] ?? String(g.kind)] ?? 0) + 1;
  const forwardedRatio = processed > 0 ? sent / processed : 0;
  const expectForwardAll = sc.expectDrops !== true;
  const ok = gcs.length === 0 && (!expectForwardAll || (dropped === 0 && forwardedRatio === 1)) && processed === frameCount;
  return {
    scenario: name,
    describe: sc.describe,
    frames_kind: sc.frames,
    stages: stageNames(dp),
    batch: opts.batch,
    flows: opts.flows,
    payload: opts.payload,
    frame_bytes: frames[0].bytes.length - 10,
    seconds: Math.round(r.ms) / 1000,
    frames: frameCount,
    pps: Math.round(pps),
    ns_per_frame: Math.round((1e9 / pps) * 10) / 10,
    restore_ns_per_frame: Math.round(restoreNs * 10) / 10,
    pipeline_ns_per_frame: Math.round((1e9 / pps - restoreNs) * 10) / 10,
    processed,
    transmitted: sent,
    forwarded_ratio: Math.round(forwardedRatio * 1e6) / 1e6,
    drops,
    gc_events: gcs.length,
    gc_kinds: gcKinds,
    gc_ms: Math.round(gcs.reduce((a, g) => a + g.duration, 0) * 1000) / 1000,
    heap_delta_bytes: heapAfter - heapBefore,
    gc_exposed: typeof globalThis.gc === 'function',
    ok,
  };
}

async function main() {
  for (const f of ['control/config.js', 'control/topology.js', 'pipeline/dataplane.js', 'pipeline/batch.js', 'pipeline/counters.js', 'lab/names.js']) {
    if (!existsSync(join(DIST, f))) {
      process.stderr.write(`inprocess.mjs: ${join(DIST, f)} is missing: build first (npx tsc -p tsconfig.build.json)\n`);
      process.exit(2);
    }
  }
  const [{ parseConfig }, { Topology }, { Dataplane }, batchMod, { Counters }, { routerMac }] = await Promise.all([
    importDist('control/config.js'), importDist('control/topology.js'), importDist('pipeline/dataplane.js'),
    importDist('pipeline/batch.js'), importDist('pipeline/counters.js'), importDist('lab/names.js'),
  ]);
  const mods = { parseConfig, Topology, Dataplane, PacketBatch: batchMod.PacketBatch, Counters,
    DROP_REASON_LABELS: batchMod.DROP_REASON_LABELS, VNET_HDR_LEN: batchMod.VNET_HDR_LEN, routerMacOf: routerMac };
  const names = opts.scenario.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!SCENARIOS[n]) usage(`unknown scenario ${n} (--list shows them)`);
  if (typeof globalThis.gc !== 'function') process.stderr.write('inprocess.mjs: run node with --expose-gc for a clean heap before each measured loop\n');

  const results = [];
  const skipped = [];
  for (const n of names) {
    const missing = (SCENARIOS[n].requires ?? []).filter((f) => !existsSync(join(DIST, f)));
    if (missing.length) {
      console.log(`in-process ${n}: skipped (not built: ${missing.join(', ')})`);
      skipped.push({ scenario: n, missing });
      continue;
    }
    const res = await runScenario(n, SCENARIOS[n], mods);
    results.push(res);
    const mpps = (res.pps / 1e6).toFixed(2);
    const dropTxt = Object.keys(res.drops).length ? ` DROPS ${JSON.stringify(res.drops)}` : ' (no drops)';
    console.log(`in-process ${n}: ${res.frame_bytes}-byte UDP frames (${res.frames_kind}, ${res.flows} flows), batch ${res.batch}, stages: ${res.stages.join(' ') || 'router only'}`);
    console.log(`  ${mpps} Mpps = ${res.ns_per_frame} ns/frame (frame restore alone ${res.restore_ns_per_frame} ns/frame, pipeline alone ${res.pipeline_ns_per_frame} ns/frame), ${res.frames} frames in ${res.seconds} s`);
    console.log(`  forwarded ${(res.forwarded_ratio * 100).toFixed(2)}% of ${res.processed}${dropTxt}`);
    console.log(`  GC events during the measured loop: ${res.gc_events}${res.gc_events ? ` ${JSON.stringify(res.gc_kinds)} ${res.gc_ms} ms  <-- the hot path allocates` : '  (OK: no allocation on the hot path)'}; heap delta ${res.heap_delta_bytes} bytes`);
  }
  const out = { ts: new Date().toISOString(), node: process.version, seconds: opts.seconds, ok: results.every((r) => r.ok), results, skipped };
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(out, null, 1)}\n`);
  gcObserver.disconnect();
  process.exitCode = out.ok ? 0 : 1;
}

await main();
