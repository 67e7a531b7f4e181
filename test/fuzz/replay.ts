/**
 * Replays frames (virtio header + Ethernet, in hex, each with its port) as
 * one batch on a fresh fuzz data plane, with canaries after every frame:
 * the reproducer behind a finding. Used by the fuzzer to tell whether a
 * finding reproduces from its frame alone, and by hand:
 *   node node_modules/.cache/vpcd-fuzz/test/fuzz/replay.js PORT HEX [PORT HEX ...]
 */
import { fileURLToPath } from 'node:url';
import { buildPlane } from './plane.js';
import { CANARY } from './dp-fuzz.js';
import { VNET, hex, ipv4At, ipHeaderOk, l4State, type Ipv4View } from './wire.js';

export interface ReplayResult {
  tx: { port: number; hex: string; ipHeaderOk: boolean | null; l4: number }[];
  /** Offsets (relative to the frame's end) of guard bytes that changed, per frame. */
  pastEnd: number[][];
  drops: Record<string, number>;
  error: string | null;
}

export function replay(frames: readonly { port: number; hex: string }[], nowMs = 10_000): ReplayResult {
  const p = buildPlane();
  try {
    const b = p.batch;
    const a = b.arena;
    a.fill(CANARY);
    let at = 64;
    b.reset();
    frames.forEach((f, i) => {
      const bytes = Buffer.from(f.hex, 'hex');
      a.set(bytes, at);
      b.rxPort[i] = f.port;
      b.rxOff[i] = at;
      b.rxLen[i] = bytes.length;
      at = (at + bytes.length + 64 + 7) & ~7;
    });
    b.count = frames.length;
    let error: string | null = null;
    try {
      p.h.dp.processBatch(b, nowMs);
    } catch (e) {
      error = (e as Error).stack ?? String(e);
    }
    const v: Ipv4View = { l3: 0, ihl: 0, total: 0, proto: 0, frag: false };
    const tx = [];
    for (let t = 0; t < b.txCount; t++) {
      const off = b.txOff[t]!, len = b.txLen[t]!;
      const isIp = ipv4At(a, off + VNET, off + len, v);
      tx.push({ port: b.txPort[t]!, hex: hex(a, off, len), ipHeaderOk: isIp ? ipHeaderOk(a, v) : null, l4: l4State(a, off, off + VNET, off + len, v) });
    }
    const pastEnd = frames.map((_, i) => {
      const end = b.rxOff[i]! + b.rxLen[i]!;
      const changed: number[] = [];
      for (let k = 0; k < 64; k++) if (a[end + k] !== CANARY) changed.push(k);
      return changed;
    });
    const drops: Record<string, number> = {};
    p.h.counters.drops.forEach((n, r) => { if (n > 0) drops[r] = n; });
    return { tx, pastEnd, drops, error };
  } finally {
    p.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const frames: { port: number; hex: string }[] = [];
  for (let i = 0; i + 1 < args.length; i += 2) frames.push({ port: Number(args[i]), hex: args[i + 1]! });
  console.log(JSON.stringify(replay(frames), null, 1));
}
