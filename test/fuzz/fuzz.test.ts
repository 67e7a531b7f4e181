/**
 * CI-sized fuzzing (the unit tier): 200,000 frames through the in-process
 * data plane and 3,000 IKE messages to a responder, seeded (FUZZ_SEED
 * overrides the fixed default; the seed and counts are printed). The fuzzers
 * run compiled, in worker threads, so that a hang is caught and reported
 * instead of stopping the suite (scripts/fuzz.sh build compiles them).
 * `npm run fuzz` runs the same with 10 million frames.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FuzzResult, runFuzz as RunFuzz } from './supervisor.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
const FRAMES = 200_000;
const IKE_MESSAGES = 3000;

let runFuzz: typeof RunFuzz;
let result: FuzzResult;

describe('fuzzing (CI size)', () => {
  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/fuzz.sh'), 'build'], { stdio: 'inherit' });
    ({ runFuzz } = await import(pathToFileURL(join(ROOT, 'node_modules/.cache/vpcd-fuzz/test/fuzz/supervisor.js')).href) as { runFuzz: typeof RunFuzz });
    // no wall-clock limit here (slowBatchMs 0): batch times are reported, not asserted
    result = await runFuzz({ seed: SEED, frames: FRAMES, ikeMessages: IKE_MESSAGES, slowBatchMs: 0, hangMs: 10_000 });
    const d = result.dp[result.dp.length - 1];
    console.log(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED}): ${result.frames} frames, ${result.framesPerSecond} frames/s, ` +
      `batch p99 ${result.batchP99Ms.toFixed(2)} ms, max ${result.batchMaxMs.toFixed(2)} ms; ` +
      `${d ? `tx ${d.txFrames}, IPv4 headers checked ${d.checks.ipHeaders}, L4 checksums checked ${d.checks.l4 + d.checks.partial}` : ''}; ` +
      `IKE ${result.ike?.messages ?? 0} messages; findings: ${result.findings.map((f) => f.kind).join(', ') || 'none'}`);
    for (const f of result.findings) console.log(`finding ${f.kind}: ${f.detail.slice(0, 300)}`);
  }, 300_000);

  it('runs every frame: no hang, no worker crash', () => {
    expect(result.hangs.map((h) => h.detail)).toEqual([]);
    expect(result.frames).toBe(FRAMES);
  });

  it('no exception, no transmit outside its slot, no write past a frame', () => {
    const bad = result.findings.filter((f) => /exception|outside|past|canary|bad-port|fuzzer-bug/.test(f.kind));
    expect(bad.map((f) => `${f.kind}: ${f.detail.slice(0, 200)}`)).toEqual([]);
  });

  it('every transmitted IPv4 frame has valid checksums (or a consistent partial sum)', () => {
    const d = result.dp.reduce((s, x) => s + x.checks.ipHeaders, 0);
    expect(d).toBeGreaterThan(FRAMES / 2);
    const bad = result.findings.filter((f) => /checksum|bad-ipv4/.test(f.kind));
    expect(bad.map((f) => `${f.kind}: ${f.detail.slice(0, 200)}`)).toEqual([]);
  });

  it('IKE: no exception or internal error from mutated messages, and a legitimate handshake still works', () => {
    const ike = result.ike!;
    expect(ike.messages).toBeGreaterThanOrEqual(IKE_MESSAGES);
    expect(ike.findings.map((f) => `${f.kind}: ${f.detail.slice(0, 200)}`)).toEqual([]);
    expect(ike.legitAfter).toBe(true);
  });
});
