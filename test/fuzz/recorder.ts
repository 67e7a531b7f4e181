/**
 * The shared memory between a fuzz worker and its supervisor: a heartbeat
 * (batches/messages done, frames done) and, for the data plane, the batch
 * being processed: count, copied length, per-frame (port, offset, length),
 * then the arena bytes from offset 0.
 *   Int32 [0] batches (or IKE messages) done   [1] frames done
 *         [2] frames in the current batch      [3] arena bytes copied
 *         [4] addresses in the uplink's neighbour table (every 64 batches)
 *         [8 + 3i ..] port, offset, length of frame i (64 frames at most)
 */
export const RECORDER_HEADER = 4096;

export type Job =
  | { kind: 'dp'; seed: number; frames: number; wideAddresses: boolean; slowBatchMs: number }
  | { kind: 'ike'; seed: number; messages: number; slowMs: number }
  | { kind: 'repro'; name: string };
export type WorkerJob = Job & { shared: SharedArrayBuffer };

export interface RecordedFrame {
  port: number;
  hex: string;
}

/** The batch in the flight recorder (frames as they were before processing). */
export function recordedBatch(shared: SharedArrayBuffer): RecordedFrame[] {
  const hdr = new Int32Array(shared, 0, RECORDER_HEADER / 4);
  const bytes = new Uint8Array(shared);
  const n = hdr[2]!, copied = hdr[3]!;
  const out: RecordedFrame[] = [];
  for (let i = 0; i < n && i < 64; i++) {
    const port = hdr[8 + i * 3]!, off = hdr[8 + i * 3 + 1]!, len = hdr[8 + i * 3 + 2]!;
    if (off + len > copied) break;
    out.push({ port, hex: Buffer.from(bytes.subarray(RECORDER_HEADER + off, RECORDER_HEADER + off + len)).toString('hex') });
  }
  return out;
}
