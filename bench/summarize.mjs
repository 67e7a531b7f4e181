#!/usr/bin/env node
/**
 * bench/summarize.mjs - the table of `npm run bench` from its JSON lines.
 *
 *   node bench/summarize.mjs RESULTS.jsonl [--modes "kernel kernel-nft ..."] [--inprocess FILE.json]
 *        [--meta FILE.json] [--json SUMMARY.json]
 *
 * Groups the network runs by mode (in --modes order, then any others), prints
 * medians with [min-max] over the repetitions, the ratios of every vpcd* mode
 * to kernel-nft and kernel (UDP pps and TCP, from the medians), vpcd's own
 * counters, the background load seen, and the in-process results; writes the
 * same as JSON to --json.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = { jsonl: '', modes: '', inprocess: '', meta: '', json: '' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--modes') opt.modes = args[++i] ?? '';
  else if (a === '--inprocess') opt.inprocess = args[++i] ?? '';
  else if (a === '--meta') opt.meta = args[++i] ?? '';
  else if (a === '--json') opt.json = args[++i] ?? '';
  else if (!opt.jsonl) opt.jsonl = a;
  else {
    console.error(`summarize.mjs: unexpected argument ${a}`);
    process.exit(2);
  }
}

const runs = opt.jsonl && existsSync(opt.jsonl)
  ? readFileSync(opt.jsonl, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  : [];
const readJson = (f) => (f && existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null);
const inproc = readJson(opt.inprocess);
const meta = readJson(opt.meta);

const get = (o, path) => path.split('.').reduce((x, k) => (x === null || x === undefined ? undefined : x[k]), o);
const nums = (rs, path) => rs.map((r) => get(r, path)).filter((v) => typeof v === 'number' && Number.isFinite(v));
function median(v) {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function stat(rs, path) {
  const v = nums(rs, path);
  if (!v.length) return null;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

const METRICS = {
  udp_kpps: 'udp.rx_kpps',
  udp_app_kpps: 'udp.app_kpps',
  udp_offered_kpps: 'udp.offered_kpps',
  udp_machine_cores: 'udp.machine_cores_busy',
  udp_vpcd_cores: 'udp.vpcd_cores',
  tcp1_gbps: 'tcp1.gbps',
  tcp4_gbps: 'tcp4.gbps',
  tcp1_retr: 'tcp1.retr',
  tcp4_retr: 'tcp4.retr',
  rtt_p50_us: 'lat.p50_us',
  rtt_p99_us: 'lat.p99_us',
  rtt_loss: 'lat.loss',
  bg_cores_before: 'bg_cores_before',
  bg_cores_after: 'bg_cores_after',
  vpcd_drops: 'vpcd.drops_total',
  vpcd_kernel_drops: 'vpcd.kernel_drops_total',
  vpcd_frames_per_batch: 'vpcd.frames_per_batch',
};

const order = opt.modes.split(/\s+/).filter(Boolean);
for (const r of runs) if (!order.includes(r.mode)) order.push(r.mode);
const groups = [];
for (const mode of order) {
  const rs = runs.filter((r) => r.mode === mode);
  if (!rs.length) continue;
  const ok = rs.filter((r) => !r.error);
  const g = { mode, runs: rs.length, measured: ok.length, metrics: {} };
  for (const [k, p] of Object.entries(METRICS)) {
    const s = stat(ok, p);
    if (s) g.metrics[k] = s;
  }
  const errors = [...new Set(rs.map((r) => r.error).filter(Boolean))];
  const tcpErr = [...new Set(ok.flatMap((r) => [get(r, 'tcp1.err'), get(r, 'tcp4.err'), get(r, 'udp.err')]).filter(Boolean))];
  if (errors.length) g.errors = errors;
  if (tcpErr.length) g.measurement_errors = tcpErr;
  const integ = rs.filter((r) => r.integrity);
  if (integ.length) g.integrity = integ.map((r) => r.integrity);
  const dropsByReason = {};
  for (const r of ok) for (const [k, v] of Object.entries(get(r, 'vpcd.drops') ?? {})) dropsByReason[k] = (dropsByReason[k] ?? 0) + v;
  if (Object.keys(dropsByReason).length) g.vpcd_drops_by_reason = dropsByReason;
  const dead = ok.filter((r) => r.vpcd && r.vpcd.alive === false).length;
  if (dead) g.vpcd_died = dead;
  const exits = rs.map((r) => r.daemon_exit).filter((x) => x !== undefined && x !== null && x !== 0);
  if (exits.length) g.daemon_exit_nonzero = exits;
  groups.push(g);
}

const med = (mode, k) => groups.find((g) => g.mode === mode)?.metrics[k]?.median ?? null;
const ratios = [];
// Each vpcd mode against what does the same job without vpcd.
const baselines = { 'vpcd': ['kernel-nft', 'kernel'], 'vpcd-nat': ['kernel-nftnat'], 'vpcd-vpn': ['strongswan-vpn'] };
for (const g of groups) {
  if (!g.mode.startsWith('vpcd')) continue;
  for (const base of baselines[g.mode] ?? ['kernel-nft', 'kernel']) {
    if (!groups.some((x) => x.mode === base)) continue;
    const r = { mode: g.mode, vs: base };
    for (const k of ['udp_kpps', 'tcp1_gbps', 'tcp4_gbps']) {
      const a = med(g.mode, k), b = med(base, k);
      r[k] = a !== null && b ? Math.round((a / b) * 1000) / 1000 : null;
    }
    ratios.push(r);
  }
}

// ---------------------------------------------------------------- table
const f0 = (x) => (x === null || x === undefined ? '-' : Math.round(x).toString());
const f2 = (x) => (x === null || x === undefined ? '-' : x.toFixed(2));
const cell = (s, fmt) => (s ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : '-');
const pad = (s, n) => String(s).padStart(n);
const padr = (s, n) => String(s).padEnd(n);

const lines = [];
const head = `${padr('mode', 15)} ${pad('n', 3)} ${pad('UDP kpps', 19)} ${pad('offered', 8)} ${pad('app kpps', 9)} ${pad('TCP1 Gb/s', 18)} ${pad('TCP4 Gb/s', 18)} ${pad('RTT p50/p99 us', 15)} ${pad("others' cores", 13)}`;
lines.push(head, '-'.repeat(head.length));
for (const g of groups) {
  const m = g.metrics;
  const n = g.measured === g.runs ? `${g.runs}` : `${g.measured}/${g.runs}`;
  const rtt = m.rtt_p50_us ? `${f0(m.rtt_p50_us.median)}/${f0(m.rtt_p99_us?.median)}` : '-';
  // '*': the forwarder kept up with everything offered (>= 97 %): the sender, not the forwarder, set the rate.
  const senderBound = m.udp_kpps && m.udp_offered_kpps && m.udp_kpps.median >= 0.97 * m.udp_offered_kpps.median;
  if (senderBound) g.udp_sender_bound = true;
  lines.push(`${padr(g.mode, 15)} ${pad(n, 3)} ${pad(cell(m.udp_kpps, f0) + (senderBound ? '*' : ' '), 19)} ${pad(f0(m.udp_offered_kpps?.median), 8)} ${pad(f0(m.udp_app_kpps?.median), 9)} ` +
    `${pad(cell(m.tcp1_gbps, f2), 18)} ${pad(cell(m.tcp4_gbps, f2), 18)} ${pad(rtt, 15)} ${pad(f2(m.bg_cores_before?.median), 13)}` +
    (g.errors ? `  FAILED: ${g.errors[0].slice(0, 60)}` : ''));
}
lines.push('');
lines.push('medians [min-max] over the repetitions; UDP kpps = packets/s received on the server interface, offered = sent by the client,');
lines.push('app = delivered to the sink socket; * = the forwarder passed >= 97% of the offered rate: the sender was the limit, not the forwarder;');
lines.push("others' cores = CPU busy on the machine while the benchmark idled just before the mode's measurements (noise indicator).");
if (groups.some((g) => g.udp_sender_bound)) lines.push('a UDP ratio against a * mode is an upper bound for vpcd (that mode could have forwarded more than was offered).');
if (ratios.length) {
  lines.push('');
  for (const r of ratios) {
    const x = (v) => (v === null ? '-' : `${v.toFixed(2)}x`);
    lines.push(`${r.mode}/${r.vs}: UDP pps ${x(r.udp_kpps)}   TCP1 ${x(r.tcp1_gbps)}   TCP4 ${x(r.tcp4_gbps)}`);
  }
}
for (const g of groups) {
  if (!g.mode.startsWith('vpcd')) continue;
  const m = g.metrics;
  const parts = [];
  if (m.vpcd_drops) parts.push(`vpcd_drops_total per run ${f0(m.vpcd_drops.median)} [${f0(m.vpcd_drops.min)}-${f0(m.vpcd_drops.max)}]`);
  if (m.vpcd_kernel_drops) parts.push(`vpcd_kernel_drops_total ${f0(m.vpcd_kernel_drops.median)} [${f0(m.vpcd_kernel_drops.min)}-${f0(m.vpcd_kernel_drops.max)}]`);
  if (m.vpcd_frames_per_batch) parts.push(`frames/batch ${f2(m.vpcd_frames_per_batch.median)}`);
  if (m.udp_vpcd_cores) parts.push(`vpcd CPU during UDP ${f2(m.udp_vpcd_cores.median)} cores`);
  if (parts.length) lines.push(`${g.mode}: ${parts.join(', ')}`);
  if (g.vpcd_drops_by_reason) lines.push(`${g.mode}: drops by reason (all runs): ${JSON.stringify(g.vpcd_drops_by_reason)}`);
  if (g.vpcd_died) lines.push(`${g.mode}: !! the daemon was not alive after ${g.vpcd_died} run(s)`);
  if (g.daemon_exit_nonzero) lines.push(`${g.mode}: !! daemon exit status ${g.daemon_exit_nonzero.join(', ')}`);
}
for (const g of groups) {
  for (const i of g.integrity ?? []) {
    lines.push(`TCP integrity through ${g.mode}: ${i.ok ? 'OK' : 'FAILED'} (${i.bytes_received ?? '?'} of ${i.bytes_sent ?? '?'} bytes, sha256 ${i.ok ? 'equal' : 'differs'}${i.err ? `, ${i.err}` : ''})` +
      (i.retry ? `; retry ${i.retry.ok ? 'OK' : `FAILED${i.retry.err ? ` (${i.retry.err})` : ''}`}; capture and outputs: ${i.capture}` : ''));
  }
  if (g.measurement_errors) lines.push(`${g.mode}: measurement errors: ${g.measurement_errors.join('; ').slice(0, 300)}`);
  if (g.errors) for (const e of g.errors) lines.push(`${g.mode}: FAILED: ${e.slice(0, 400)}`);
}
const bgAll = nums(runs, 'bg_cores_before');
if (bgAll.length) {
  const mb = median(bgAll);
  lines.push('');
  lines.push(`background load (others' busy cores before each mode): median ${mb.toFixed(2)}, max ${Math.max(...bgAll).toFixed(2)} of ${meta?.cpus ?? '?'} CPUs` +
    (Math.max(...bgAll) > 0.3 ? '  -> NOISY: other work ran during this benchmark; compare ratios, not absolute numbers' : ''));
}
if (inproc) {
  lines.push('');
  for (const r of inproc.results ?? []) {
    lines.push(`in-process ${padr(r.scenario, 15)} ${pad((r.pps / 1e6).toFixed(2), 6)} Mpps  ${pad(r.ns_per_frame, 6)} ns/frame` +
      `  forwarded ${(r.forwarded_ratio * 100).toFixed(1)}%  GC events ${r.gc_events}${r.gc_events ? ' <-- ALLOCATES' : ' (OK)'}`);
  }
  for (const s of inproc.skipped ?? []) lines.push(`in-process ${padr(s.scenario, 15)} skipped (not built: ${s.missing.join(', ')})`);
  if (inproc.error) lines.push(`in-process: FAILED: ${inproc.error}`);
}
console.log(lines.join('\n'));

if (opt.json) {
  const summary = { meta, groups, ratios, inprocess: inproc, background_cores_median: bgAll.length ? median(bgAll) : null };
  writeFileSync(opt.json, `${JSON.stringify(summary, null, 1)}\n`);
}
