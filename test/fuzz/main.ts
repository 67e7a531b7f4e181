/**
 * `npm run fuzz` (scripts/fuzz.sh compiles and runs this file).
 *   FUZZ_SEED     seed (default: random, printed)
 *   FUZZ_FRAMES   data-plane frames (default 10,000,000)
 *   FUZZ_IKE      IKE messages (default 20,000)
 *   FUZZ_SLOW_MS  a batch slower than this is a finding (default 50)
 *   FUZZ_HANG_MS  no batch finished for this long: a hang (default 5000)
 *   FUZZ_REPORT   where the JSON report goes (default /tmp/vpcd-fuzz/report-SEED.json)
 *   FUZZ_DEBUG_BATCH=N  batch N runs frame by frame, printing what each frame changed outside its slot
 * Each finding that names its frame is replayed alone on a fresh data plane: "alone" when that
 * frame by itself shows the same fault, "needs earlier state" otherwise (the JSON report has the
 * whole batch then). Exit status 1 when anything was found.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomInt } from 'node:crypto';
import { runFuzz } from './supervisor.js';
import { replay } from './replay.js';
import { L4 } from './wire.js';

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v.replaceAll('_', '').replaceAll(',', ''));
  if (!Number.isInteger(n) || n < 0) {
    console.error(`fuzz: ${name} must be a non-negative integer (got '${v}')`);
    process.exit(2);
  }
  return n;
}

const seed = envInt('FUZZ_SEED', randomInt(1, 2 ** 31));
const frames = envInt('FUZZ_FRAMES', 10_000_000);
const ikeMessages = envInt('FUZZ_IKE', 20_000);
const slowBatchMs = envInt('FUZZ_SLOW_MS', 50);
const hangMs = envInt('FUZZ_HANG_MS', 5000);
const reportPath = process.env.FUZZ_REPORT || `/tmp/vpcd-fuzz/report-${seed}.json`;

console.log(`fuzz: seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_FRAMES=${frames} npm run fuzz), ${frames} frames, ${ikeMessages} IKE messages`);
const r = await runFuzz({ seed, frames, ikeMessages, slowBatchMs, hangMs, log: (l) => console.log(`fuzz: ${l}`) });
mkdirSync(dirname(reportPath), { recursive: true });
writeFileSync(reportPath, JSON.stringify(r, null, 1));
for (const d of r.dp) {
  console.log(`fuzz: data plane seed ${d.seed}: ${d.frames} frames in ${d.batches} batches, ${d.seconds.toFixed(1)} s, ${d.framesPerSecond} frames/s; ` +
    `tx ${d.txFrames}; batch mean ${d.batchMeanMs.toFixed(3)} ms, p99 ${d.batchP99Ms.toFixed(2)} ms, max ${d.batchMaxMs.toFixed(2)} ms`);
  console.log(`fuzz:   generated: ${JSON.stringify(d.gen)}; checked: ${JSON.stringify(d.checks)}; IKE punts ${d.punts}; conntrack max ${d.conntrackMax}, NAT sessions max ${d.natSessionsMax}, flow-log records ${d.flowLogRecords}, neighbour entries ${d.neighborEntries}`);
  console.log(`fuzz:   drops: ${JSON.stringify(d.drops)}`);
  console.log(`fuzz:   findings: ${JSON.stringify(d.findingCounts)}`);
}
if (r.ike) {
  const i = r.ike;
  console.log(`fuzz: IKE: ${i.messages} messages in ${i.seconds.toFixed(1)} s (${JSON.stringify(i.byKind)}), ${i.handshakesRun} half-open handshakes, slowest ${i.maxMessageMs.toFixed(1)} ms; ` +
    `legit handshake afterwards: ${i.legitAfter ? 'up' : 'FAILED'}`);
  console.log(`fuzz:   responder refusals: ${JSON.stringify(i.errors)}`);
}
console.log(`fuzz: total ${r.frames} frames, ${r.framesPerSecond} frames/s, batch p99 ${r.batchP99Ms.toFixed(2)} ms, max ${r.batchMaxMs.toFixed(2)} ms`);
/** Does the frame alone, on a fresh data plane, show the same fault? */
function alone(kind: string, port: number, frameHex: string): boolean {
  const x = replay([{ port, hex: frameHex }]);
  if (kind === 'exception') return x.error !== null;
  if (kind === 'write-past-frame') return x.pastEnd[0]!.length > 0;
  if (kind === 'bad-ip-header-checksum') return x.tx.some((t) => t.ipHeaderOk === false);
  if (kind === 'bad-l4-checksum' || kind === 'udp-checksum-zeroed') return x.tx.some((t) => t.l4 === L4.Invalid || t.l4 === L4.UdpZero);
  if (kind === 'bad-partial-checksum') return x.tx.some((t) => t.l4 === L4.PartialBad);
  return false;
}
for (const f of r.findings) {
  const x = f as { kind: string; detail: string; port?: number; frameHex?: string; batch?: number; alone?: boolean };
  if (x.frameHex && x.port !== undefined) x.alone = alone(x.kind, x.port, x.frameHex);
  console.log(`FINDING ${x.kind}: ${x.detail}${x.batch !== undefined ? ` [batch ${x.batch}]` : ''}` +
    `${x.frameHex ? `\n   port ${x.port} frame ${x.frameHex.slice(0, 400)} (${x.alone ? 'alone' : 'needs earlier state'})` : ''}`);
}
writeFileSync(reportPath, JSON.stringify(r, null, 1));
console.log(`fuzz: ${r.findings.length} finding(s); report: ${reportPath}`);
process.exit(r.findings.length > 0 ? 1 : 0);
