/**
 * Throughput and GC count of the ESP data path as the packet path calls it
 * (src/ipsec/tunnel-crypto.ts over esp.ts): encrypt and decrypt of 64- and
 * 1400-byte inner IPv4 packets, AES-256-GCM-16 and AES-256-CBC +
 * HMAC-SHA-256-128, per packet (encrypt) and with the seals of 64 packets
 * deferred to one flush (encryptDeferred + flush, what a batch does), on the
 * node:crypto backend and (when native/build has vpcd_esp.node) the native
 * engine.
 *
 * Run (Node 20 cannot run .ts directly; vitest transpiles it):
 *
 *   npx vitest bench --run --project unit test/bench/esp.bench.ts
 *
 * The report printed by afterAll is the one to read: each loop runs for
 * ESP_BENCH_SECONDS (default 1) in synchronous chunks while a
 * PerformanceObserver('gc') records collections; "gc" counts collections
 * that started inside the loop. Gbit/s counts inner (cleartext) bytes.
 * Decrypt loops replay a store of pre-encrypted packets (distinct sequence
 * numbers) and reset the window between passes, so every packet is verified
 * and decrypted for real. The "forged" rows decrypt packets whose ICV fails:
 * the cost of rejecting garbage that reached a valid SPI.
 *
 * Native rows must not collect garbage (style §2 lesson 11f): the bench
 * fails if they do (BENCH_GC_WARN=1 only warns). node:crypto rows allocate
 * by design (a Cipher object and Buffers per packet) and are reported only.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { loadEspNative } from '../../src/ipsec/esp-native.js';
import type { EspSa } from '../../src/ipsec/sa-table.js';
import type { EspAlgorithm } from '../../src/ipsec/sa-types.js';
import { EspTunnelCrypto } from '../../src/ipsec/tunnel-crypto.js';
import { ipv4Packet, makeChildSa, mirror } from '../unit/ipsec/helpers.js';

const SECONDS = Number(process.env.ESP_BENCH_SECONDS ?? '1');
const STORE = 2048; // pre-encrypted packets per decrypt store
const SLOT = 2048; // arena slot size
const BATCH = 64;
const CHUNK = 1024; // packets between clock reads
const haveNative = loadEspNative() !== null;
const backends = haveNative ? (['node', 'native'] as const) : (['node'] as const);

/** Tunnel slot 0 on both sides. */
interface Tunnel {
  local: EspTunnelCrypto;
  peer: EspTunnelCrypto;
  sa: EspSa;
  peerSa: EspSa;
}

function tunnel(alg: EspAlgorithm, backend: 'node' | 'native'): Tunnel {
  const child = makeChildSa(alg);
  const local = new EspTunnelCrypto(1, { backend });
  const peer = new EspTunnelCrypto(1, { backend });
  const sa = local.install(0, child);
  const peerSa = peer.install(0, mirror(child));
  return { local, peer, sa, peerSa };
}

// ---- fixtures: one arena; inner packets in slots [0, BATCH), ESP stores after, scratch at the end
const INNER_BASE = 0;
const STORE_BASE = BATCH * SLOT;
const SCRATCH_BASE = STORE_BASE + STORE * SLOT;
const arena = Buffer.alloc(SCRATCH_BASE + BATCH * SLOT);
const HEADROOM = 64;

function placeInners(len: number): void {
  for (let i = 0; i < BATCH; i++) ipv4Packet(len, i + 1).copy(arena, INNER_BASE + i * SLOT + HEADROOM);
}

/** Fills the store with STORE valid packets (sequence 1..STORE) from a fresh t.sa; returns their lengths. */
function fillStore(t: Tunnel, len: number, forge: boolean): Uint32Array {
  const lens = new Uint32Array(STORE);
  const inner = ipv4Packet(len, 3);
  for (let i = 0; i < STORE; i++) {
    const off = STORE_BASE + i * SLOT;
    const n = t.local.encrypt(0, inner, 0, len, arena, off);
    if (forge) arena[off + n - 1] ^= 0x5a;
    lens[i] = n;
  }
  return lens;
}

let sink = 0;
/** Packets whose result was an error (expected 0, except the forged rows). */
let errors = 0;

// ---- hot loops: each processes `n` packets and returns an int32 checksum

function encryptLoop(t: Tunnel, len: number, n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    const slot = INNER_BASE + (k & (BATCH - 1)) * SLOT;
    // same-arena encapsulation, ESP written at a scratch slot (not in place: the inner packet is reused)
    const r = t.local.encrypt(0, arena, slot + HEADROOM, len, arena, SCRATCH_BASE + (k & (BATCH - 1)) * SLOT);
    if (r < 0) errors++;
    acc = (acc + r) | 0;
  }
  return acc;
}

/** Made once: a failed deferred seal. */
const onSealFail = (): void => {
  errors++;
};

/** 64 packets per batch: headers written per packet, the seals in one flush, as the packet path does. */
function encryptDeferredLoop(t: Tunnel, len: number, n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k += BATCH) {
    let r = 0;
    for (let i = 0; i < BATCH; i++) {
      r = t.local.encryptDeferred(0, arena, INNER_BASE + i * SLOT + HEADROOM, len, arena, SCRATCH_BASE + i * SLOT, i);
      if (r < 0) errors++;
    }
    t.local.flush(arena, onSealFail);
    acc = (acc + r) | 0;
  }
  return acc;
}

let storePos = 0;

function decryptLoop(t: Tunnel, lens: Uint32Array, n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) {
    if (storePos === STORE) {
      storePos = 0;
      t.peerSa.replay.reset();
    }
    const i = storePos++;
    const r = t.peer.decrypt(arena, STORE_BASE + i * SLOT, lens[i], arena, SCRATCH_BASE + (k & (BATCH - 1)) * SLOT);
    if (r < 0) errors++;
    acc = (acc + r) | 0;
  }
  return acc;
}

// ---- measurement with GC accounting
const gcStarts: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});

interface Result { name: string; backend: string; len: number; packets: number; errors: number; ms: number; t0: number; t1: number }
const results: Result[] = [];

function measure(name: string, backend: string, len: number, run: (n: number) => number): void {
  for (let w = 0; w < 8; w++) sink = (sink + run(CHUNK)) | 0; // warm-up (JIT)
  storePos = STORE; // decrypt loops start a fresh pass: window reset
  errors = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let packets = 0;
  let now = t0;
  while (now < end) {
    sink = (sink + run(CHUNK)) | 0;
    packets += CHUNK;
    now = performance.now();
  }
  results.push({ name, backend, len, packets, errors, ms: now - t0, t0, t1: now });
}

beforeAll(async () => {
  observer.observe({ entryTypes: ['gc'] });
  for (const backend of backends) {
    for (const alg of ['aes256gcm16', 'aes256-sha256'] as EspAlgorithm[]) {
      const lengths = alg === 'aes256gcm16' ? [64, 1400] : [1400];
      for (const len of lengths) {
        const t = tunnel(alg, backend);
        placeInners(len);
        await settle();
        measure(`${alg} encrypt`, backend, len, (n) => encryptLoop(t, len, n));
        if (alg === 'aes256gcm16') measure(`${alg} encryptDeferred+flush/${BATCH}`, backend, len, (n) => encryptDeferredLoop(t, len, n));
        const d = tunnel(alg, backend);
        const lens = fillStore(d, len, false);
        await settle();
        measure(`${alg} decrypt`, backend, len, (n) => decryptLoop(d, lens, n));
        if (alg === 'aes256gcm16' && len === 1400) {
          const f = tunnel(alg, backend);
          const forged = fillStore(f, len, true);
          await settle();
          measure(`${alg} decrypt, forged ICV`, backend, len, (n) => decryptLoop(f, forged, n));
        }
      }
    }
  }
  await new Promise((r) => setTimeout(r, 100)); // let the observer deliver
}, 600_000);

/** Lets pending GC entries from the setup land before the next loop starts. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
}

afterAll(() => {
  observer.disconnect();
  const rows = results.map((r) => {
    const gcs = gcStarts.filter((s) => s >= r.t0 && s <= r.t1).length;
    const pps = r.packets / (r.ms / 1000);
    return {
      loop: r.name, backend: r.backend, inner: r.len, packets: r.packets,
      'kpps': Math.round(pps / 1000), 'Gbit/s': +((pps * r.len * 8) / 1e9).toFixed(2), gc: gcs, errors: r.errors,
    };
  });
  console.log(`ESP data path (node ${process.version}, ${SECONDS}s per loop, sink ${sink}):`);
  console.table(rows);
  const bad = rows.filter((r) => r.backend === 'native' && r.gc > 0);
  if (bad.length > 0) {
    const msg = `GC during native ESP loops: ${bad.map((r) => `${r.loop} ${r.inner}B (${r.gc})`).join(', ')}`;
    if (process.env.BENCH_GC_WARN === '1') console.warn(msg);
    else throw new Error(msg);
  }
});

// ---- vitest/tinybench view (one sample = one batch of 64 packets, 1400 bytes, GCM)
describe('ESP, AES-256-GCM, 1400-byte inner packets (one sample = 64 packets)', () => {
  const opts = { time: 300, warmupTime: 50 };
  for (const backend of backends) {
    const t = tunnel('aes256gcm16', backend);
    bench(`encryptDeferred x64 + flush (${backend})`, () => {
      placeInnersOnce();
      encryptDeferredLoop(t, 1400, BATCH);
    }, opts);
  }
});

let placed = false;
function placeInnersOnce(): void {
  if (!placed) placeInners(1400);
  placed = true;
}
