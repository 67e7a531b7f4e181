/**
 * The installed ESP SAs of the data plane.
 *
 * One installed ChildSa (sa-types.ts) = one slot = one `EspSa`, holding both
 * directions: the inbound SA (looked up by `spiIn`, with its replay window)
 * and the outbound SA (`spiOut`, its sequence counter). Slots are small ints
 * the per-packet code passes around; the inbound lookup is an open-addressing
 * table of SPIs in typed arrays; the outbound SA of a tunnel is one Int32Array
 * entry per tunnel id.
 *
 * Make-before-break rekeying (sa-types.ts): install() of a new SA of the same
 * tunnel makes it the outbound SA at once; the old one still decrypts until
 * remove(). Removing the outbound SA falls back to the most recently
 * installed SA left on that tunnel.
 *
 * Sequence numbers (RFC 4303 §3.3.3, no ESN): the first packet sends 1, so
 * the last sequence number sent is also the count of packets the SA sent.
 * That count is the SA's lifetime in packets (RFC 4301 §4.4.2.1 soft and hard
 * lifetimes): at `softPackets` the SA's `lifetime` turns Soft (IKE should
 * rekey), at `hardPackets` Hard (espEncrypt refuses further packets with
 * EspError.Expired, counted). The sender never wraps: hardPackets is at most
 * 2^32 - 1. The packet path only sets the state; the control plane reads it
 * with pollLifetimes() between batches, once per state change.
 *
 * Control-plane methods (install, remove, tunnelIdOf, list) may allocate and
 * throw on invalid input; lookupIn/outbound/at are the per-packet ones.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { EspCipherKind, espAlgParams, type EspHash } from './esp-alg.js';
import { loadEspNative, type EspAeadEngine } from './esp-native.js';
import { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, ReplayWindow } from './replay-window.js';
import { SavedStateError, bytesToSaved, savedBytes, savedInt, savedObject, savedString } from '../lib/saved-fields.js';
import type { ChildSa, EspAlgorithm } from './sa-types.js';

/** Highest sequence number an SA may send (2^32 - 1, ESN off): the largest hard packet limit. */
export const SEQ_MAX = 0xffffffff;
/** Default soft packet limit: 15/16 of the sequence space. */
export const SEQ_SOFT_LIMIT = 0xf0000000;

/** Where an SA stands against its lifetime in packets (EspSa.lifetime). */
export const SaLifetime = {
  Fresh: 0,
  /** Sent softPackets: the control plane should rekey. */
  Soft: 1,
  /** Sent hardPackets: the SA seals nothing more. */
  Hard: 2,
} as const;
export type SaLifetime = (typeof SaLifetime)[keyof typeof SaLifetime];

/** Slots of EspSa.ctr (a Float64Array: exact integers up to 2^53, read at scrape time). */
export const SaCounter = {
  /** Last sequence number sent (0 = none yet). */
  SeqOut: 0,
  PacketsOut: 1,
  /** Inner (cleartext) bytes sent. */
  BytesOut: 2,
  PacketsIn: 3,
  /** Inner bytes received (after decapsulation). */
  BytesIn: 4,
  ReplayDrops: 5,
  AuthDrops: 6,
  /** Authentic packets refused afterwards: bad padding, next header, inner header. */
  MalformedIn: 7,
  /** Outbound packets refused because the SA reached its hard packet limit. */
  ExpiredDrops: 8,
  /** Authentic dummy packets (Next Header 59, RFC 4303 §2.6) received and discarded. */
  DummyIn: 9,
} as const;
export const SA_COUNTER_COUNT = 10;

export type EspBackend = 'auto' | 'node' | 'native';

/** One ESP SA as the restart state file keeps it (SaTable.saveState, decodeSavedEspSa). */
export interface SavedEspSa {
  readonly connection: string;
  readonly tunnel: number;
  readonly spiIn: number;
  readonly spiOut: number;
  readonly algorithm: string;
  /** The next outbound sequence number must be above this. */
  readonly seqOut: number;
  readonly window: number;
  /** ReplayWindow.save() words, base64 (host byte order). */
  readonly replay: string;
}

/** A SavedEspSa from parsed JSON; throws SavedStateError. */
export function decodeSavedEspSa(v: unknown): SavedEspSa {
  const o = savedObject(v, 'ESP SA');
  return {
    connection: savedString(o, 'connection', 255), tunnel: savedInt(o, 'tunnel', 0, 255),
    spiIn: savedInt(o, 'spiIn', 1, 0xffffffff), spiOut: savedInt(o, 'spiOut', 1, 0xffffffff), algorithm: savedString(o, 'algorithm', 32),
    seqOut: savedInt(o, 'seqOut', 0, SEQ_MAX), window: savedInt(o, 'window', 1, MAX_REPLAY_WINDOW),
    replay: bytesToSaved(savedBytes(o, 'replay', undefined, (MAX_REPLAY_WINDOW / 32 + 3) * 8)),
  };
}

function hexSpi(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

export interface SaTableOptions {
  /** Slots (installed SAs at once, old + new during rekeys). Default 64. */
  readonly maxSas?: number;
  /** Tunnel ids 0..maxTunnels-1. Default 256. */
  readonly maxTunnels?: number;
  /** Window used when a ChildSa asks for none (replayWindow <= 0). Default 1024. */
  readonly replayWindow?: number;
  /** 'auto' (default): the native engine when its addon is built, else node:crypto. */
  readonly backend?: EspBackend;
  /** Soft lifetime in outbound packets per SA (rekey): 1..hardPackets, default SEQ_SOFT_LIMIT (or hardPackets if lower). */
  readonly softPackets?: number;
  /** Hard lifetime in outbound packets per SA: 1..SEQ_MAX, default SEQ_MAX. */
  readonly hardPackets?: number;
}

/** Packet limits every SA of a table gets. */
export interface SaPacketLimits {
  readonly softPackets: number;
  readonly hardPackets: number;
}

/** One installed SA pair. Fields are fixed at install; counters live in `ctr`. */
export class EspSa {
  readonly slot: number;
  readonly tunnelId: number;
  readonly child: ChildSa;
  readonly id: number;
  readonly spiIn: number;
  readonly spiOut: number;
  readonly algorithm: EspAlgorithm;
  readonly kind: number;
  readonly ivLen: number;
  readonly align: number;
  readonly icvLen: number;
  readonly encap: boolean;
  /** Host-order u32 outer addresses and UDP ports (ports 0 without encapsulation). */
  readonly localAddr: number;
  readonly peerAddr: number;
  readonly localPort: number;
  readonly peerPort: number;
  readonly replay: ReplayWindow;
  readonly ctr: Float64Array;
  /** Order of installation in its table: the outbound choice prefers the highest. */
  readonly installSerial: number;
  /** False once removed: the per-packet functions then refuse it (EspError.NoSa). */
  active: boolean;
  /** Outbound packet count at which `lifetime` turns Soft / Hard. */
  readonly softPackets: number;
  readonly hardPackets: number;
  /** SaLifetime, set by the packet path as the packet count reaches the limits. */
  lifetime: SaLifetime;
  /** The last state SaTable.pollLifetimes() handled. */
  lifetimeSeen: SaLifetime;
  // ---- node:crypto state (also kept when the native engine is used: tests cross-check)
  readonly nodeCipher: string;
  readonly nodeHash: string;
  readonly encKeyIn: KeyObject;
  readonly encKeyOut: KeyObject;
  /** HMAC keys (CBC transforms); the AES keys again for GCM (never used then). */
  readonly integKeyIn: KeyObject;
  readonly integKeyOut: KeyObject;
  /** 12-byte GCM nonce scratch: salt in [0, 4), the packet's IV copied to [4, 12). */
  readonly nonceIn: Buffer;
  readonly nonceOut: Buffer;
  /** The native engine holding this SA's contexts (slot = this.slot), or null for node:crypto. */
  readonly engine: EspAeadEngine | null;

  constructor(slot: number, tunnelId: number, sa: ChildSa, replayWindow: number, installSerial: number, engine: EspAeadEngine | null,
    limits: SaPacketLimits) {
    const p = espAlgParams(sa.algorithm);
    if (p === undefined) throw new RangeError(`unsupported ESP transform ${String(sa.algorithm)}`);
    if (sa.esn) throw new RangeError('extended sequence numbers are not supported');
    if (!sa.tunnelMode) throw new RangeError('only tunnel mode is supported');
    if ((sa.spiIn >>> 0) === 0 || (sa.spiOut >>> 0) === 0) throw new RangeError('SPI 0 is reserved (RFC 4303 §2.1)');
    checkLen('encKeyIn', sa.encKeyIn, p.encKeyLen);
    checkLen('encKeyOut', sa.encKeyOut, p.encKeyLen);
    checkLen('saltIn', sa.saltIn, p.saltLen);
    checkLen('saltOut', sa.saltOut, p.saltLen);
    checkLen('integKeyIn', sa.integKeyIn, p.integKeyLen);
    checkLen('integKeyOut', sa.integKeyOut, p.integKeyLen);
    if (sa.icvLen !== p.icvLen) throw new RangeError(`${sa.algorithm}: icvLen ${sa.icvLen}, expected ${p.icvLen}`);

    this.slot = slot;
    this.tunnelId = tunnelId;
    this.child = sa;
    this.id = sa.id;
    this.spiIn = sa.spiIn >>> 0;
    this.spiOut = sa.spiOut >>> 0;
    this.algorithm = sa.algorithm;
    this.kind = p.kind;
    this.ivLen = p.ivLen;
    this.align = p.align;
    this.icvLen = p.icvLen;
    this.encap = sa.encap;
    this.localAddr = sa.local.addr >>> 0;
    this.peerAddr = sa.peer.addr >>> 0;
    this.localPort = sa.local.port;
    this.peerPort = sa.peer.port;
    this.replay = new ReplayWindow(replayWindow);
    this.ctr = new Float64Array(SA_COUNTER_COUNT);
    this.installSerial = installSerial;
    this.active = true;
    this.softPackets = limits.softPackets;
    this.hardPackets = limits.hardPackets;
    this.lifetime = SaLifetime.Fresh;
    this.lifetimeSeen = SaLifetime.Fresh;
    this.nodeCipher = p.nodeCipher;
    this.nodeHash = p.nodeHash;
    this.encKeyIn = createSecretKey(Buffer.from(sa.encKeyIn));
    this.encKeyOut = createSecretKey(Buffer.from(sa.encKeyOut));
    const gcm = p.kind === EspCipherKind.Gcm;
    this.integKeyIn = gcm ? this.encKeyIn : createSecretKey(Buffer.from(sa.integKeyIn));
    this.integKeyOut = gcm ? this.encKeyOut : createSecretKey(Buffer.from(sa.integKeyOut));
    this.nonceIn = Buffer.alloc(12);
    this.nonceOut = Buffer.alloc(12);
    if (gcm) {
      this.nonceIn.set(sa.saltIn, 0);
      this.nonceOut.set(sa.saltOut, 0);
    }
    this.engine = engine;
    if (engine !== null) {
      const okOut = engine.setKey(slot, 0, p.kind, p.hash as EspHash, p.icvLen, sa.encKeyOut, sa.saltOut, sa.integKeyOut);
      const okIn = engine.setKey(slot, 1, p.kind, p.hash as EspHash, p.icvLen, sa.encKeyIn, sa.saltIn, sa.integKeyIn);
      if (!okOut || !okIn) {
        engine.clear(slot);
        throw new RangeError(`native ESP engine refused the keys of ${sa.algorithm}`);
      }
    }
  }

  /** Last sequence number sent. */
  get seqOut(): number {
    return this.ctr[SaCounter.SeqOut];
  }
}

function checkLen(name: string, v: Uint8Array, want: number): void {
  if (!(v instanceof Uint8Array) || v.length !== want) {
    throw new RangeError(`${name}: ${v instanceof Uint8Array ? v.length : typeof v} bytes, expected ${want}`);
  }
}

const EMPTY_SLOT = -1;

export class SaTable {
  readonly maxSas: number;
  readonly maxTunnels: number;
  readonly defaultReplayWindow: number;
  /** 'node' or 'native': what install() keys new SAs with. */
  readonly backend: 'node' | 'native';
  /** Slot -> SA (null = free). */
  private readonly slots: (EspSa | null)[];
  /** SPI hash: keys (0 = empty; SPI 0 is never installed) and slots. */
  private readonly spiKeys: Uint32Array;
  private readonly spiSlots: Int32Array;
  private readonly spiShift: number;
  private readonly spiMask: number;
  /** Tunnel id -> outbound slot (-1 = none). */
  private readonly tunnelOut: Int32Array;
  private readonly tunnelIds = new Map<string, number>();
  private readonly engine: EspAeadEngine | null;
  /**
   * Slot of the SA the last espDecrypt() found by SPI (-1: none), whatever
   * its result: which tunnel a decrypted packet came through, read after the
   * call (the SPI bytes may have been overwritten by an in-place output).
   */
  lastInSlot = -1;
  readonly limits: SaPacketLimits;
  private serial = 0;
  private installed = 0;

  constructor(opts: SaTableOptions = {}) {
    this.maxSas = Math.max(1, Math.floor(opts.maxSas ?? 64));
    this.maxTunnels = Math.max(1, Math.floor(opts.maxTunnels ?? 256));
    this.defaultReplayWindow = opts.replayWindow !== undefined && opts.replayWindow > 0 ? opts.replayWindow : DEFAULT_REPLAY_WINDOW;
    this.slots = new Array<EspSa | null>(this.maxSas).fill(null);
    let bits = 4;
    while ((1 << bits) < this.maxSas * 4) bits++;
    this.spiKeys = new Uint32Array(1 << bits);
    this.spiSlots = new Int32Array(1 << bits).fill(EMPTY_SLOT);
    this.spiShift = 32 - bits;
    this.spiMask = (1 << bits) - 1;
    this.tunnelOut = new Int32Array(this.maxTunnels).fill(-1);
    const hard = opts.hardPackets ?? SEQ_MAX;
    if (!Number.isInteger(hard) || hard < 1 || hard > SEQ_MAX) throw new RangeError(`hardPackets ${hard}: an integer in 1..${SEQ_MAX}`);
    const soft = opts.softPackets ?? Math.min(SEQ_SOFT_LIMIT, hard);
    if (!Number.isInteger(soft) || soft < 1 || soft > hard) throw new RangeError(`softPackets ${soft}: an integer in 1..hardPackets (${hard})`);
    this.limits = { softPackets: soft, hardPackets: hard };
    const want = opts.backend ?? 'auto';
    const addon = want === 'node' ? null : loadEspNative();
    if (want === 'native' && addon === null) throw new Error('native ESP engine not built: run `npx node-gyp rebuild --directory native`');
    this.engine = addon === null ? null : new addon.EspAead(this.maxSas);
    this.backend = this.engine === null ? 'node' : 'native';
  }

  /** Installed SAs. */
  get size(): number {
    return this.installed;
  }

  /**
   * Stable small id of a (connection, tunnel) pair, allocated on first use.
   * Throws when all maxTunnels ids are taken.
   */
  tunnelIdOf(connection: string, tunnel: number): number {
    const key = `${connection}\u0000${tunnel}`;
    let id = this.tunnelIds.get(key);
    if (id === undefined) {
      id = this.tunnelIds.size;
      if (id >= this.maxTunnels) throw new RangeError(`more than ${this.maxTunnels} tunnels`);
      this.tunnelIds.set(key, id);
    }
    return id;
  }

  /**
   * Installs a negotiated CHILD_SA and makes it the outbound SA of its tunnel
   * (`tunnelId`, default tunnelIdOf(sa.connection, sa.tunnel)). Throws
   * RangeError for an unsupported or inconsistent SA, a duplicate spiIn, or a
   * full table. Returns the slot's SA.
   */
  install(sa: ChildSa, tunnelId?: number): EspSa {
    const tid = tunnelId ?? this.tunnelIdOf(sa.connection, sa.tunnel);
    if (!Number.isInteger(tid) || tid < 0 || tid >= this.maxTunnels) throw new RangeError(`tunnel id ${tid} out of range`);
    if (this.lookupIn(sa.spiIn) >= 0) throw new RangeError(`inbound SPI ${(sa.spiIn >>> 0).toString(16)} already installed`);
    const slot = this.slots.indexOf(null);
    if (slot < 0) throw new RangeError(`SA table full (${this.maxSas})`);
    const window = sa.replayWindow > 0 ? sa.replayWindow : this.defaultReplayWindow;
    const e = new EspSa(slot, tid, sa, window, ++this.serial, this.engine, this.limits);
    this.slots[slot] = e;
    this.spiInsert(e.spiIn, slot);
    this.tunnelOut[tid] = slot;
    this.installed++;
    return e;
  }

  /** Removes the SA whose inbound SPI is `spiIn`; false if there is none. */
  remove(spiIn: number): boolean {
    const slot = this.lookupIn(spiIn);
    if (slot < 0) return false;
    const e = this.slots[slot]!;
    e.active = false;
    this.spiDelete(e.spiIn);
    this.slots[slot] = null;
    this.installed--;
    if (this.engine !== null) this.engine.clear(slot);
    if (this.tunnelOut[e.tunnelId] === slot) {
      let best = -1;
      let bestSerial = 0;
      for (let i = 0; i < this.maxSas; i++) {
        const o = this.slots[i];
        if (o !== null && o.tunnelId === e.tunnelId && o.installSerial > bestSerial) {
          best = i;
          bestSerial = o.installSerial;
        }
      }
      this.tunnelOut[e.tunnelId] = best;
    }
    return true;
  }

  /** Removes every SA. */
  clear(): void {
    for (let i = 0; i < this.maxSas; i++) {
      const e = this.slots[i];
      if (e !== null) this.remove(e.spiIn);
    }
  }

  /** Slot of the inbound SA with this SPI, or -1. Per packet: no allocation. */
  lookupIn(spi: number): number {
    const s = spi >>> 0;
    if (s === 0) return -1;
    const keys = this.spiKeys;
    const mask = this.spiMask;
    let i = Math.imul(s, 0x9e3779b1) >>> this.spiShift;
    for (;;) {
      const k = keys[i];
      if (k === s) return this.spiSlots[i];
      if (k === 0) return -1;
      i = (i + 1) & mask;
    }
  }

  /** The SA in `slot` (a slot from lookupIn/outbound), or null. */
  at(slot: number): EspSa | null {
    return slot >= 0 && slot < this.maxSas ? this.slots[slot] : null;
  }

  /** Slot of the SA a tunnel sends with, or -1 when it has none. */
  outbound(tunnelId: number): number {
    return tunnelId >= 0 && tunnelId < this.maxTunnels ? this.tunnelOut[tunnelId] : -1;
  }

  /** The SA a tunnel sends with, or null. */
  outboundSa(tunnelId: number): EspSa | null {
    return this.at(this.outbound(tunnelId));
  }

  /** Every installed SA (control plane: metrics, rekey polling). */
  list(): EspSa[] {
    const out: EspSa[] = [];
    for (const e of this.slots) if (e !== null) out.push(e);
    return out;
  }

  /**
   * Moves the last-sent sequence number of a slot forward (tests of the end
   * of the sequence space; skipping numbers is harmless), with the lifetime
   * state the packet path would have set. Never backwards: the GCM IV is the
   * sequence number, and a repeated IV under one key breaks GCM.
   */
  setSeqOut(slot: number, seq: number): void {
    const e = this.at(slot);
    if (e === null) throw new RangeError(`no SA in slot ${slot}`);
    const v = Math.min(Math.max(0, Math.floor(seq)), SEQ_MAX);
    if (v < e.ctr[SaCounter.SeqOut]) throw new RangeError('the sequence number only moves forward');
    e.ctr[SaCounter.SeqOut] = v;
    if (v >= e.softPackets) e.lifetime = v >= e.hardPackets ? SaLifetime.Hard : SaLifetime.Soft;
  }

  /**
   * Control plane, between batches: calls onLimit(sa, state) once for each
   * lifetime state an SA reached since the last call (Soft, then Hard; both
   * in one call if it went past both), but only while the SA is still the
   * outbound SA of its tunnel (an SA a rekey already replaced sends nothing
   * more and needs no rekey). Returns the number of calls.
   */
  pollLifetimes(onLimit: (sa: EspSa, state: SaLifetime) => void): number {
    let calls = 0;
    for (let i = 0; i < this.maxSas; i++) {
      const e = this.slots[i];
      if (e === null || e.lifetime === e.lifetimeSeen) continue;
      const from = e.lifetimeSeen;
      e.lifetimeSeen = e.lifetime;
      if (this.tunnelOut[e.tunnelId] !== i) continue;
      if (from < SaLifetime.Soft) {
        onLimit(e, SaLifetime.Soft);
        calls++;
      }
      if (e.lifetime === SaLifetime.Hard) {
        onLimit(e, SaLifetime.Hard);
        calls++;
      }
    }
    return calls;
  }

  /**
   * Restart: per installed SA its SPIs, algorithm, replay window and last
   * outbound sequence number plus `margin` (so that no number the old
   * process might have sent is sent again: the GCM IV is the sequence
   * number). The keys are not here: the IKE session that owns the CHILD_SA
   * saves them and installs it again.
   */
  saveState(margin: number): SavedEspSa[] {
    return this.list().map((e) => ({
      connection: e.child.connection, tunnel: e.child.tunnel, spiIn: e.spiIn, spiOut: e.spiOut, algorithm: e.algorithm,
      seqOut: Math.min(SEQ_MAX, e.seqOut + margin), window: e.replay.size, replay: bytesToSaved(new Uint8Array(e.replay.save().buffer)),
    }));
  }

  /**
   * Restart: the installed SA with the saved inbound SPI takes the saved
   * outbound sequence number and replay window. Throws SavedStateError when
   * no such SA is installed or it differs (outbound SPI, algorithm, window).
   */
  loadState(saved: SavedEspSa): void {
    const e = this.at(this.lookupIn(saved.spiIn));
    if (e === null) throw new SavedStateError(`ESP SA ${hexSpi(saved.spiIn)}: not installed`);
    if (e.spiOut !== saved.spiOut || e.algorithm !== saved.algorithm || e.replay.size !== saved.window) {
      throw new SavedStateError(`ESP SA ${hexSpi(saved.spiIn)}: differs from the installed one`);
    }
    const words = Buffer.from(saved.replay, 'base64');
    if (words.length % 4 !== 0 || !e.replay.load(new Uint32Array(new Uint8Array(words).buffer))) {
      throw new SavedStateError(`ESP SA ${hexSpi(saved.spiIn)}: replay window of another shape`);
    }
    this.setSeqOut(e.slot, Math.max(e.seqOut, saved.seqOut));
    e.lifetimeSeen = SaLifetime.Fresh;
  }

  /** The native engine keyed by this table, or null (node:crypto). */
  get nativeEngine(): EspAeadEngine | null {
    return this.engine;
  }

  private spiInsert(spi: number, slot: number): void {
    const keys = this.spiKeys;
    const mask = this.spiMask;
    let i = Math.imul(spi, 0x9e3779b1) >>> this.spiShift;
    while (keys[i] !== 0) i = (i + 1) & mask;
    keys[i] = spi;
    this.spiSlots[i] = slot;
  }

  /** Linear-probing delete with backward shift: no tombstones. */
  private spiDelete(spi: number): void {
    const keys = this.spiKeys;
    const slots = this.spiSlots;
    const mask = this.spiMask;
    let i = Math.imul(spi, 0x9e3779b1) >>> this.spiShift;
    while (keys[i] !== spi) {
      if (keys[i] === 0) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j];
      if (k === 0) break;
      const home = Math.imul(k, 0x9e3779b1) >>> this.spiShift;
      // move k into the hole if its home is not in (hole, j] (cyclically)
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        keys[hole] = k;
        slots[hole] = slots[j];
        hole = j;
      }
    }
    keys[hole] = 0;
    slots[hole] = EMPTY_SLOT;
  }
}
