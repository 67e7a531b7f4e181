#!/usr/bin/env node
// bench/metrics.mjs URL [TIMEOUT_MS] - scrapes vpcd's /metrics and prints one JSON
// object with what the benchmark records after a vpcd run:
//   drops_total, drops {reason: n} (non-zero only), kernel_drops_total,
//   kernel_drops {interface: n}, packets {interface: {rx, tx}}, batches,
//   frames_per_batch, cpu_seconds, gc {kind: count}.
// Prints {"error": "..."} (and exits 1) when the endpoint does not answer.
const [url, timeoutArg] = process.argv.slice(2);
if (!url) {
  console.error('usage: metrics.mjs URL [TIMEOUT_MS]');
  process.exit(2);
}

function parse(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(Number(timeoutArg ?? 5000)) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const s = parse(await res.text());
  const out = { drops_total: 0, drops: {}, kernel_drops_total: 0, kernel_drops: {}, packets: {}, batches: null,
    frames_per_batch: null, cpu_seconds: null, gc: {} };
  let rxFrames = 0;
  for (const x of s) {
    switch (x.name) {
      case 'vpcd_drops_total':
        out.drops_total += x.value;
        if (x.value !== 0) out.drops[x.labels.reason] = x.value;
        break;
      case 'vpcd_kernel_drops_total':
        out.kernel_drops_total += x.value;
        out.kernel_drops[x.labels.interface] = x.value;
        break;
      case 'vpcd_packets_total': {
        const p = (out.packets[x.labels.interface] ??= { rx: 0, tx: 0 });
        p[x.labels.direction] = x.value;
        if (x.labels.direction === 'rx') rxFrames += x.value;
        break;
      }
      case 'vpcd_batches_total':
        out.batches = x.value;
        break;
      case 'process_cpu_seconds_total':
        out.cpu_seconds = x.value;
        break;
      case 'nodejs_gc_duration_seconds_count':
        out.gc[x.labels.kind] = x.value;
        break;
    }
  }
  if (out.batches) out.frames_per_batch = Math.round((rxFrames / out.batches) * 100) / 100;
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: `${url}: ${e.message}` }));
  process.exit(1);
}
