/**
 * Runs the fuzzers in worker threads and watches them: a worker whose
 * heartbeat stops for `hangMs` is terminated and its current batch (from the
 * flight recorder) becomes a "hang" finding; the run then continues in a new
 * worker with the next seed for the remaining frames, re-addressing only
 * within a fixed address pool (so a hang that unbounded destinations cause
 * does not end every later worker the same way). Compiled JS only: the
 * worker file is the .js next to this one (scripts/fuzz.sh build).
 */
import { Worker } from 'node:worker_threads';
import type { DpFuzzReport, Finding } from './dp-fuzz.js';
import type { IkeFuzzReport } from './ike-fuzz.js';
import { RECORDER_HEADER, recordedBatch, type RecordedFrame, type Job } from './recorder.js';

export interface HangFinding {
  kind: 'hang' | 'worker-error';
  detail: string;
  seed: number;
  batch: number;
  frames: RecordedFrame[];
}

export interface FuzzOptions {
  seed: number;
  frames: number;
  ikeMessages: number;
  /** Data-plane batches slower than this are findings (0: off). IKE messages: 4x this. */
  slowBatchMs: number;
  hangMs: number;
  log?: (line: string) => void;
}

export interface FuzzResult {
  seed: number;
  dp: DpFuzzReport[];
  ike: IkeFuzzReport | undefined;
  hangs: HangFinding[];
  /** Every finding of every run, in one list. */
  findings: (Finding | HangFinding | { kind: string; detail: string; message: number; hex: string })[];
  /** Frames processed, hung workers' included. */
  frames: number;
  /** Over the workers that finished (a hung worker's time is not counted). */
  framesPerSecond: number;
  batchMaxMs: number;
  batchP99Ms: number;
}

type Outcome<R> = { report: R } | { hang: true; beat: number; frames: number; neighbors: number; batch: RecordedFrame[] } | { error: string; beat: number; frames: number; batch: RecordedFrame[] };

function runWorker<R>(job: Job, hangMs: number, startGraceMs = 20_000): Promise<Outcome<R>> {
  const shared = new SharedArrayBuffer(RECORDER_HEADER + 64 * 65_664 + 64);
  const beat = new Int32Array(shared, 0, 8);
  const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...job, shared } });
  return new Promise((resolve) => {
    let last = -1;
    let lastChange = Date.now();
    let done = false;
    const finish = (o: Outcome<R>): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(o);
    };
    const timer = setInterval(() => {
      const b = Atomics.load(beat, 0);
      if (b !== last) {
        last = b;
        lastChange = Date.now();
        return;
      }
      // the first beat comes after setup (corpus, keys): allow more
      const limit = b === 0 ? hangMs + startGraceMs : hangMs;
      if (Date.now() - lastChange > limit) {
        const batch = job.kind === 'dp' ? recordedBatch(shared) : [];
        void w.terminate();
        finish({ hang: true, beat: b, frames: Atomics.load(beat, 1), neighbors: Atomics.load(beat, 4), batch });
      }
    }, 100);
    w.on('message', (m: { report: R }) => finish({ report: m.report }));
    w.on('error', (e) => finish({ error: e.stack ?? String(e), beat: Atomics.load(beat, 0), frames: Atomics.load(beat, 1), batch: job.kind === 'dp' ? recordedBatch(shared) : [] }));
    w.on('exit', (code) => finish({ error: `worker exited with code ${code}`, beat: Atomics.load(beat, 0), frames: Atomics.load(beat, 1), batch: [] }));
  });
}

/** Runs one reproducer of repro.ts in a worker: 'ok', 'hang' (no end within timeoutMs) or the error. */
export async function runReproInWorker(name: string, timeoutMs: number): Promise<string> {
  const r = await runWorker<{ batches: number }>({ kind: 'repro', name }, timeoutMs, 0);
  if ('report' in r) return 'ok';
  if ('hang' in r) return 'hang';
  return r.error.split('\n').slice(0, 2).join(' ');
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const log = o.log ?? (() => {});
  const dp: DpFuzzReport[] = [];
  const hangs: HangFinding[] = [];
  let remaining = o.frames;
  let seed = o.seed >>> 0;
  let wide = true;
  let hungFrames = 0;
  for (let run = 0; remaining > 0 && run < 8; run++) {
    log(`data plane: worker ${run + 1}, seed ${seed}, ${remaining} frames, ${wide ? 'unbounded' : 'pooled'} addresses`);
    const r = await runWorker<DpFuzzReport>({ kind: 'dp', seed, frames: remaining, wideAddresses: wide, slowBatchMs: o.slowBatchMs }, o.hangMs);
    if ('report' in r) {
      dp.push(r.report);
      remaining -= r.report.frames;
      break;
    }
    const kind = 'hang' in r ? 'hang' : 'worker-error';
    const detail = 'hang' in r
      ? `no batch finished for ${o.hangMs} ms after batch ${r.beat} (${r.frames} frames done, seed ${seed}, ${wide ? 'unbounded' : 'pooled'} addresses; ` +
        `uplink neighbour table held ${r.neighbors} addresses)`
      : `${r.error} (after batch ${r.beat}, seed ${seed})`;
    log(`data plane: ${kind}: ${detail}`);
    hangs.push({ kind, detail, seed, batch: r.beat, frames: r.batch });
    remaining -= Math.max(r.frames, 1);
    hungFrames += r.frames;
    wide = false;
    seed = (seed + 0x9e3779b9) >>> 0;
  }
  let ike: IkeFuzzReport | undefined;
  if (o.ikeMessages > 0) {
    log(`IKE: ${o.ikeMessages} messages, seed ${o.seed}`);
    const r = await runWorker<IkeFuzzReport>({ kind: 'ike', seed: o.seed, messages: o.ikeMessages, slowMs: o.slowBatchMs * 4 }, o.hangMs * 4);
    if ('report' in r) ike = r.report;
    else hangs.push({ kind: 'hang' in r ? 'hang' : 'worker-error', detail: `IKE: ${'error' in r ? r.error : 'no progress'} after message ${r.beat}`, seed: o.seed, batch: r.beat, frames: [] });
  }
  const done = dp.reduce((s, x) => s + x.frames, 0);
  const frames = done + hungFrames;
  const secs = dp.reduce((s, x) => s + x.seconds, 0);
  return {
    seed: o.seed, dp, ike, hangs,
    findings: [...hangs, ...dp.flatMap((x) => x.findings), ...(ike?.findings ?? [])],
    frames, framesPerSecond: secs > 0 ? Math.round(done / secs) : 0,
    batchMaxMs: Math.max(0, ...dp.map((x) => x.batchMaxMs)),
    batchP99Ms: Math.max(0, ...dp.map((x) => x.batchP99Ms)),
  };
}
