/**
 * Worker-thread entry of the fuzzers (compiled JS only, see supervisor.ts).
 * Runs one data-plane or IKE fuzz job; bumps a shared heartbeat after every
 * batch/message and, for the data plane, copies each batch into a shared
 * flight recorder before processing it, so that the supervisor can report
 * the exact batch when a run hangs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runDataplaneFuzz } from './dp-fuzz.js';
import { runIkeFuzz } from './ike-fuzz.js';
import { runRepro } from './repro.js';
import { RECORDER_HEADER, type WorkerJob } from './recorder.js';

const job = workerData as WorkerJob;
const beat = new Int32Array(job.shared, 0, 4);
if (job.kind === 'dp') {
  const hdr = new Int32Array(job.shared, 0, RECORDER_HEADER / 4);
  const bytes = new Uint8Array(job.shared);
  const report = runDataplaneFuzz({
    seed: job.seed, frames: job.frames, wideAddresses: job.wideAddresses, slowBatchMs: job.slowBatchMs,
    onBatch: (batches, frames) => {
      Atomics.store(beat, 0, batches);
      Atomics.store(beat, 1, frames);
    },
    neighborGauge: (n) => Atomics.store(hdr, 4, n),
    beforeBatch: (p, packedEnd) => {
      const b = p.batch;
      const n = b.count;
      const room = bytes.length - RECORDER_HEADER;
      const copy = Math.min(packedEnd, room);
      hdr[2] = n;
      hdr[3] = copy;
      for (let i = 0; i < n; i++) {
        hdr[8 + i * 3] = b.rxPort[i]!;
        hdr[8 + i * 3 + 1] = b.rxOff[i]!;
        hdr[8 + i * 3 + 2] = b.rxLen[i]!;
      }
      bytes.set(b.arena.subarray(0, copy), RECORDER_HEADER);
    },
  });
  parentPort!.postMessage({ kind: 'dp', report });
} else if (job.kind === 'repro') {
  parentPort!.postMessage({ kind: 'repro', report: runRepro(job.name) });
} else {
  const report = runIkeFuzz({ seed: job.seed, messages: job.messages, slowMs: job.slowMs, onMessage: (n) => Atomics.store(beat, 0, n) });
  parentPort!.postMessage({ kind: 'ike', report });
}
