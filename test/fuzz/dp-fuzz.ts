/**
 * The data-plane fuzz loop. Frames are packed into the batch arena with
 * canary bytes between them (and the whole unused arena, scratch slots
 * included, holds canaries), so that after every batch we can tell:
 *   - did processBatch throw;
 *   - does every tx descriptor lie inside its own rx frame or inside one
 *     scratch slot taken this batch, within the arena, on an attached port;
 *   - are all canaries intact (nothing written past a frame or a scratch frame);
 *   - does every transmitted IPv4 frame carry a valid header checksum, and a
 *     valid TCP/UDP/ICMP checksum (or a consistent NEEDS_CSUM partial sum)
 *     whenever the frame it came from had one;
 *   - how long the batch took (max, p99; over 50 ms is a finding in the script).
 * Between batches the clock advances and the daemon's housekeeping runs
 * (conntrack and NAT sweeps, flow-log flushes).
 */
import { performance } from 'node:perf_hooks';
import { writeSync } from 'node:fs';
import { DROP_REASON_LABELS } from '../../src/pipeline/batch.js';
import { buildPlane, type Plane, UPLINK_PORT } from './plane.js';
import { FrameGen, MAX_FRAME } from './gen.js';
import { ETH, L4, VNET, hex, ipv4At, ipHeaderOk, l4State, rd16, sum16, type Ipv4View } from './wire.js';

export const CANARY = 0xa5;
/** FUZZ_DEBUG_BATCH=N: batch N runs frame by frame, printing what each frame changed outside its slot. */
const DEBUG_BATCH = Number(process.env.FUZZ_DEBUG_BATCH ?? -1);
const GUARD = 32;
const TAIL_CHECK = 4096;

export interface Finding {
  kind: string;
  detail: string;
  batch: number;
  /** The rx frame involved (as generated, before processing), when one is known. */
  port?: number;
  frameHex?: string;
  /** The whole batch as generated (first findings of a kind only), for replay and minimisation. */
  batchFrames?: { port: number; hex: string }[];
}

export interface DpFuzzOptions {
  seed: number;
  frames: number;
  wideAddresses?: boolean;
  /** Called between batches (progress, flight recorder); return false to stop. */
  onBatch?: (batch: number, frames: number) => boolean | void;
  /** Called with the arena's rx area and descriptors right before processBatch (flight recorder). */
  beforeBatch?: (p: Plane, packedEnd: number) => void;
  /** Called every 64 batches with the number of addresses in the uplink's neighbour table. */
  neighborGauge?: (n: number) => void;
  /** Batches slower than this are findings (0: never). */
  slowBatchMs?: number;
  /** Most findings of one kind kept (the rest are counted). */
  maxPerKind?: number;
}

export interface DpFuzzReport {
  seed: number;
  frames: number;
  batches: number;
  txFrames: number;
  seconds: number;
  framesPerSecond: number;
  batchMaxMs: number;
  batchP99Ms: number;
  batchMeanMs: number;
  findings: Finding[];
  findingCounts: Record<string, number>;
  drops: Record<string, number>;
  gen: { esp: number; reflected: number; random: number };
  checks: { ipHeaders: number; l4: number; partial: number; quotes: number; passedInvalidL4: number };
  punts: number;
  conntrackMax: number;
  natSessionsMax: number;
  flowLogRecords: number;
  /** Addresses the uplink's neighbour table holds at the end (white box). */
  neighborEntries: number;
}

/** Fingerprint of an IPv4 packet (what survives NAT: id, protocol, length) for frames released later. */
function fingerprint(b: Uint8Array, v: Ipv4View): number {
  return (rd16(b, v.l3 + 4) * 65536 + v.total) * 256 + v.proto;
}

export function runDataplaneFuzz(o: DpFuzzOptions): DpFuzzReport {
  const plane = buildPlane();
  try {
    return fuzzOn(plane, o);
  } finally {
    plane.close();
  }
}

function fuzzOn(plane: Plane, o: DpFuzzOptions): DpFuzzReport {
  const { h, batch: b } = plane;
  const dp = h.dp;
  const gen = new FrameGen(plane, o.seed, { wideAddresses: o.wideAddresses ?? true });
  const r = gen.rng;
  const arena = b.arena;
  const rxArea = b.slots * b.slotSize;
  const scratchBase = rxArea;
  const canary = Buffer.alloc(arena.length, CANARY);
  arena.fill(CANARY);
  const maxPerKind = o.maxPerKind ?? 5;
  const findings: Finding[] = [];
  const counts: Record<string, number> = {};
  const pre = new Uint8Array(rxArea);
  const inState = new Int8Array(b.slots);
  const innerState = new Int8Array(b.slots);
  const quoteOk = new Int8Array(b.slots);
  const invalidSeen = new Set<number>();
  const v: Ipv4View = { l3: 0, ihl: 0, total: 0, proto: 0, frag: false };
  const v2: Ipv4View = { l3: 0, ihl: 0, total: 0, proto: 0, frag: false };
  // batch times: 10 µs buckets up to 100 ms (the last bucket holds everything slower)
  const hist = new Float64Array(10_001);
  let maxMs = 0;
  let sumMs = 0;
  const checks = { ipHeaders: 0, l4: 0, partial: 0, quotes: 0, passedInvalidL4: 0 };
  let curBatch = 0;
  /** The previous batch threw: the data plane's per-batch state (deferred ESP seals...) may be left over. */
  let afterException = false;
  let threw = false;

  const report = (kind0: string, detail: string, rx = -1): void => {
    const kind = afterException && kind0 !== 'exception' ? `after-exception:${kind0}` : kind0;
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (counts[kind]! > maxPerKind) return;
    const f: Finding = { kind, detail, batch: curBatch };
    if (rx >= 0) {
      f.port = b.rxPort[rx]!;
      f.frameHex = hex(pre, b.rxOff[rx]!, b.rxLen[rx]!);
    }
    if (counts[kind]! <= 2) {
      f.batchFrames = [];
      for (let i = 0; i < b.count; i++) f.batchFrames.push({ port: b.rxPort[i]!, hex: hex(pre, b.rxOff[i]!, b.rxLen[i]!) });
    }
    findings.push(f);
  };

  let now = 10_000;
  let lastSweep = now;
  let lastFlowFlush = now;
  let frames = 0;
  let batches = 0;
  let txFrames = 0;
  let punts = 0;
  let ctMax = 0;
  let natMax = 0;
  const t0 = performance.now();

  while (frames < o.frames) {
    curBatch = batches;
    // ---- batch size: mostly small, sometimes full
    const want = Math.min(o.frames - frames, r.chance(0.2) ? b.slots : r.chance(0.5) ? 1 + r.int(8) : 1 + r.int(b.slots));
    b.reset();
    let at = GUARD;
    let n = 0;
    for (; n < want; n++) {
      const room = Math.min(MAX_FRAME, rxArea - at - GUARD - TAIL_CHECK);
      if (room < 64) break;
      gen.tracing = DEBUG_BATCH === batches;
      const snapG = gen.tracing ? Buffer.from(arena.subarray(0, at + 70000)) : null;
      const len = gen.generate(arena, at, room);
      if (snapG) {
        const d: number[] = [];
        for (let k = 0; k < snapG.length; k++) if (snapG[k] !== arena[k] && (k < at || k >= at + Math.max(len, gen.written))) d.push(k - at);
        writeSync(2, `gen frame ${n} at ${at} len ${len} written ${gen.written} outside: ${d.slice(0, 10).join(',')} ops ${gen.trace.join(' ')}\n`);
      }
      // a truncated template leaves bytes past the frame: the guard must hold canaries only
      if (gen.written > len) arena.fill(CANARY, at + len, at + gen.written);
      b.rxPort[n] = gen.port;
      b.rxOff[n] = at;
      b.rxLen[n] = len;
      // what the frame promises: its own L4 verdict, or for ESP the inner packet's
      inState[n] = l4State(arena, at, at + VNET, at + len, v);
      if (gen.innerLen >= 0) {
        // the inner packet as it will sit after decryption (Ethernet header rewritten, no virtio metadata)
        const s = pre; // borrow the tail of `pre` as a scratch frame (it is rewritten below anyway)
        const base = rxArea - 4096 - 64;
        s.fill(0, base, base + VNET + ETH);
        s[base + VNET + 12] = 0x08;
        s.set(gen.innerCopy.subarray(0, gen.innerLen), base + VNET + ETH);
        innerState[n] = l4State(s, base, base + VNET, base + VNET + ETH + gen.innerLen, v);
      } else {
        innerState[n] = gen.innerLen === -2 ? L4.None : -1;
      }
      quoteOk[n] = quotedHeaderState(arena, at + VNET, at + len, v);
      // A frame with no valid checksum to keep may leave from a scratch slot in this very batch (held for the
      // uplink's ARP and released by a reply later in the batch): remember it before the batch runs, as it
      // came in and, for ESP, as its inner packet will be after decryption.
      const e = innerState[n]! >= 0 ? innerState[n]! : inState[n]!;
      if (e !== L4.Valid && e !== L4.PartialOk && e !== L4.UdpZero) {
        if (ipv4At(arena, at + VNET, at + len, v)) invalidSeen.add(fingerprint(arena, v));
        if (gen.innerLen >= 0) {
          const base = rxArea - 4096 - 64;
          if (ipv4At(pre, base + VNET, base + VNET + ETH + gen.innerLen, v)) invalidSeen.add(fingerprint(pre, v));
        }
      }
      at += len + GUARD;
      at = (at + 7) & ~7;
    }
    b.count = n;
    const packedEnd = at;
    for (let i = 0; i < n; i++) {
      const endI = b.rxOff[i]! + b.rxLen[i]!;
      const next = i + 1 < n ? b.rxOff[i + 1]! : packedEnd + TAIL_CHECK;
      if (canary.compare(arena, endI, next, 0, next - endI) !== 0) {
        report('fuzzer-bug', `the generator wrote past frame ${i} of batch ${batches}`, i);
      }
    }
    pre.set(arena.subarray(0, packedEnd), 0);
    if (o.beforeBatch) o.beforeBatch(plane, packedEnd);

    // ---- run
    h.security!.wallMs = 1_700_000_000_000 + now;
    afterException = threw;
    threw = false;
    const c0 = process.cpuUsage();
    const s0 = performance.now();
    try {
      if (batches === DEBUG_BATCH) {
        for (let i = 0; i < b.count; i++) {
          const snap = Buffer.from(arena.subarray(0, packedEnd + TAIL_CHECK));
          const tx0 = b.txCount;
          const rr = dp.processFrame(b, i, now);
          const d: number[] = [];
          for (let k = 0; k < snap.length; k++) if (snap[k] !== arena[k]) d.push(k);
          const own = d.filter((k) => k < b.rxOff[i]! || k >= b.rxOff[i]! + b.rxLen[i]!);
          writeSync(2, `debug frame ${i} port ${b.rxPort[i]} [${b.rxOff[i]}, ${b.rxOff[i]! + b.rxLen[i]!}) reason ${rr} tx ${b.txCount - tx0} changed outside: ${own.slice(0, 10).join(',')}\n`);
        }
      } else
      dp.processBatch(b, now);
    } catch (e) {
      const err = e as Error;
      threw = true;
      // processBatch ends with the batch's deferred ESP seals; an aborted batch would leave them queued
      // for the next batch's flush (into slots that are no longer theirs): finish them here.
      plane.crypto.flush?.(arena, null);
      report('exception', `${err.name}: ${err.message} ${(err.stack ?? '').split('\n').slice(1, 4).join(' | ')}`, frameAt(b, n, dp.packet.ethOff - VNET));
    }
    const dt = performance.now() - s0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    hist[Math.min(10_000, Math.floor(dt * 100))]!++;
    if (dt > maxMs) maxMs = dt;
    sumMs += dt;
    // slow on the wall clock and in CPU time (a loaded machine alone does not make a finding)
    if (o.slowBatchMs && dt > o.slowBatchMs && cpuMs > o.slowBatchMs) {
      report('slow-batch', `batch of ${n} frames took ${dt.toFixed(1)} ms (${cpuMs.toFixed(1)} ms CPU)`);
    }
    punts += dp.punts.length;
    dp.punts.length = 0;

    // ---- tx descriptors
    for (let t = 0; t < b.txCount; t++) {
      const off = b.txOff[t]!, len = b.txLen[t]!, port = b.txPort[t]!;
      if (len === 0) continue;
      txFrames++;
      if (off + len > arena.length || off < 0) {
        report('tx-outside-arena', `tx ${t}: [${off}, ${off + len}) port ${port}, arena ${arena.length}`);
        continue;
      }
      let rx = -1;
      // rx frames are packed in increasing offsets: binary search
      let lo = 0, hi = n - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (b.rxOff[mid]! <= off) { rx = mid; lo = mid + 1; } else hi = mid - 1;
      }
      let inRx = rx >= 0 && off + len <= b.rxOff[rx]! + b.rxLen[rx]!;
      let inScratch = false;
      if (!inRx && off >= scratchBase) {
        const k = Math.floor((off - scratchBase) / b.scratchSize);
        inScratch = k < b.scratchUsed && off + len <= scratchBase + (k + 1) * b.scratchSize;
      }
      if (!inRx && !inScratch) {
        report('tx-outside-slot', `tx ${t}: [${off}, ${off + len}) port ${port}; ` +
          (rx >= 0 ? `nearest rx ${rx} is [${b.rxOff[rx]}, ${b.rxOff[rx]! + b.rxLen[rx]!})` : 'before every rx frame') + `; scratch used ${b.scratchUsed}`, rx);
        continue;
      }
      if (!inRx) rx = -1;
      if (port > UPLINK_PORT || (port === UPLINK_PORT ? false : port >= plane.ports.length)) report('tx-bad-port', `tx ${t} on port ${port}`, rx);
      // ---- checksums
      const eth = off + VNET;
      const end = off + len;
      if (!ipv4At(arena, eth, end, v)) {
        if (len >= VNET + ETH && rd16(arena, eth + 12) === 0x0800) report('tx-bad-ipv4', `tx ${t}: IPv4 ethertype but no whole IPv4 header/total length inside the frame (${len} bytes)`, rx);
        continue;
      }
      checks.ipHeaders++;
      if (!ipHeaderOk(arena, v)) {
        report('bad-ip-header-checksum', `tx ${t} port ${port}: ${hex(arena, v.l3, v.ihl)}`, rx);
        continue;
      }
      const out = l4State(arena, off, eth, end, v);
      const expect = rx >= 0 ? (innerState[rx]! >= 0 ? innerState[rx]! : inState[rx]!) : -1;
      if (out === L4.Invalid || out === L4.PartialBad) {
        const fp = fingerprint(arena, v);
        const excused = rx >= 0 ? expect !== L4.Valid && expect !== L4.PartialOk && expect !== L4.UdpZero : invalidSeen.has(fp);
        if (excused) checks.passedInvalidL4++;
        else report(out === L4.Invalid ? 'bad-l4-checksum' : 'bad-partial-checksum',
          `tx ${t} port ${port} from ${rx >= 0 ? `rx ${rx} (input verdict ${expect})` : 'a scratch slot'}: ${hex(arena, eth, Math.min(len - VNET, 120))}`, rx);
      } else if (out === L4.UdpZero && rx >= 0 && expect === L4.Valid) {
        report('udp-checksum-zeroed', `tx ${t} port ${port}: a UDP checksum that was valid left as 0: ${hex(arena, eth, Math.min(len - VNET, 80))}`, rx);
      }
      if (out === L4.Valid || out === L4.UdpZero) checks.l4++;
      if (out === L4.PartialOk) checks.partial++;
      // quoted header of an ICMP error: valid before, valid after (RFC 5508 §4.2)
      if (rx >= 0 && quoteOk[rx] === 1) {
        const q = quotedHeaderState(arena, eth, end, v2);
        checks.quotes++;
        if (q === 0) report('bad-quoted-ip-checksum', `tx ${t} port ${port}: ${hex(arena, eth, Math.min(len - VNET, 120))}`, rx);
      }
      if (r.chance(0.5)) gen.reflect(arena, off, len, port);
    }

    // ---- frames that may be released later (held for ARP): remember the ones that had no valid checksum to keep
    for (let i = 0; i < n; i++) {
      const e = (innerState[i]! >= 0 ? innerState[i]! : inState[i]!);
      if (e === L4.Valid || e === L4.PartialOk || e === L4.UdpZero) continue;
      const off = b.rxOff[i]!;
      if (ipv4At(arena, off + VNET, off + b.rxLen[i]!, v)) invalidSeen.add(fingerprint(arena, v));
    }
    // Forget the oldest fingerprints only (a frame held for ARP may leave batches after its input came in).
    if (invalidSeen.size > 3_000_000) {
      let k = 0;
      for (const fp of invalidSeen) {
        invalidSeen.delete(fp);
        if (++k >= 50_000) break;
      }
    }

    // ---- canaries: guards around rx frames, past the last one, in scratch slots
    if (canary.compare(arena, 0, b.rxOff[0] ?? GUARD, 0, (b.rxOff[0] ?? GUARD)) !== 0) report('canary-rx', 'bytes before the first frame changed');
    for (let i = 0; i < n; i++) {
      const endI = b.rxOff[i]! + b.rxLen[i]!;
      const next = i + 1 < n ? b.rxOff[i + 1]! : packedEnd + TAIL_CHECK;
      if (canary.compare(arena, endI, next, 0, next - endI) !== 0) {
        report('write-past-frame', `rx ${i} (port ${b.rxPort[i]}, ${b.rxLen[i]} bytes): bytes after it changed: ${hex(arena, endI, Math.min(next - endI, 48))}`, i);
      }
    }
    for (let k = 0; k <= b.scratchUsed && k < b.scratchSlots; k++) {
      const s = scratchBase + k * b.scratchSize;
      let from = s;
      if (k < b.scratchUsed) {
        // the tx frame in this slot, if any: nothing past its end
        from = -1;
        for (let t = 0; t < b.txCount; t++) if (b.txOff[t] === s && b.txLen[t]! > 0) from = s + b.txLen[t]!;
        if (from < 0) continue;
      }
      const e = s + b.scratchSize;
      if (from < e && canary.compare(arena, from, e, 0, e - from) !== 0) {
        report('write-past-scratch-frame', `scratch slot ${k} (${k < b.scratchUsed ? 'used' : 'the first unused'}): bytes past the frame changed`);
      }
    }
    if ((batches & 1023) === 1023) {
      // the whole rest of the arena
      const e1 = rxArea;
      if (canary.compare(arena, packedEnd + TAIL_CHECK, e1, 0, e1 - packedEnd - TAIL_CHECK) !== 0) report('canary-rx-area', 'unused rx area changed');
      const sEnd = arena.length;
      const sFrom = scratchBase + (b.scratchUsed + 1) * b.scratchSize;
      if (sFrom < sEnd && canary.compare(arena, sFrom, sEnd, 0, Math.min(sEnd - sFrom, canary.length)) !== 0) report('canary-scratch-area', 'unused scratch slots changed');
    }

    // ---- restore canaries where this batch wrote
    arena.fill(CANARY, 0, Math.min(rxArea, packedEnd + TAIL_CHECK));
    arena.fill(CANARY, scratchBase, Math.min(arena.length, scratchBase + (b.scratchUsed + 1) * b.scratchSize));

    // ---- housekeeping, as the daemon's timers
    now += r.chance(0.001) ? 31_000 + r.int(60_000) : r.int(40);
    if (now - lastSweep >= 250) {
      lastSweep = now;
      h.ct!.sweep(now, 50_000, null);
      for (const g of dp.nats) g.sweep(now);
      if (h.ct!.entries > ctMax) ctMax = h.ct!.entries;
      for (const g of dp.nats) if (g.sessions.entries > natMax) natMax = g.sessions.entries;
      if (r.chance(0.01)) {
        const t = r.int(plane.vpn.tunUp.length);
        plane.vpn.tunUp[t] = plane.vpn.tunUp[t] ? 0 : 1;
      }
    }
    if (now - lastFlowFlush >= 60_000) {
      lastFlowFlush = now;
      plane.flowWriter.flush(h.flowLog!);
    }
    frames += n;
    batches++;
    if (o.neighborGauge && (batches & 63) === 0) o.neighborGauge(neighborCount(dp.neighbors));
    if (o.onBatch && o.onBatch(batches, frames) === false) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  let p99 = 0;
  for (let k = 0, acc = 0; k < hist.length; k++) {
    acc += hist[k]!;
    if (acc >= batches * 0.99) { p99 = (k + 1) / 100; break; }
  }
  const drops: Record<string, number> = {};
  DROP_REASON_LABELS.forEach((l, i) => { if (h.counters.drops[i]! > 0) drops[l] = h.counters.drops[i]!; });
  return {
    seed: o.seed, frames, batches, txFrames, seconds, framesPerSecond: Math.round(frames / seconds),
    batchMaxMs: maxMs, batchP99Ms: Math.min(p99, maxMs), batchMeanMs: sumMs / Math.max(1, batches),
    findings, findingCounts: counts, drops,
    gen: { esp: gen.espFrames, reflected: gen.reflectedFrames, random: gen.randomFrames },
    checks, punts, conntrackMax: ctMax, natSessionsMax: natMax, flowLogRecords: plane.flowWriter.records,
    neighborEntries: neighborCount(dp.neighbors),
  };
}

/**
 * For an ICMP error frame: 1 when the quoted IPv4 header is complete and its
 * checksum valid, 0 when complete and invalid, -1 otherwise.
 */
export function quotedHeaderState(b: Uint8Array, eth: number, end: number, v: Ipv4View): number {
  if (!ipv4At(b, eth, end, v) || v.frag || v.proto !== 1) return -1;
  const icmp = v.l3 + v.ihl;
  const t = b[icmp]!;
  if (t !== 3 && t !== 4 && t !== 5 && t !== 11 && t !== 12) return -1;
  const q = icmp + 8;
  const pend = v.l3 + v.total;
  if (q + 20 > pend || b[q]! >>> 4 !== 4) return -1;
  const qihl = (b[q]! & 15) * 4;
  if (qihl < 20 || q + qihl > pend) return -1;
  return sum16(b, q, qihl) === 0xffff ? 1 : 0;
}

/** Addresses the neighbour table holds (white box: its `used` array, -1 = empty). */
function neighborCount(n: { entries(): number }): number {
  return n.entries();
}

/** The rx frame whose slot holds `off` (the data plane's parse position when it threw), or -1. */
function frameAt(b: { rxOff: Uint32Array; rxLen: Uint32Array }, n: number, off: number): number {
  for (let i = 0; i < n; i++) if (off >= b.rxOff[i]! && off < b.rxOff[i]! + b.rxLen[i]!) return i;
  return -1;
}
