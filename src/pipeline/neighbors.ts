/**
 * IPv4 neighbours on a link vpcd routes onto (the internet gateway's uplink,
 * a customer gateway's WAN): ip -> MAC learned from ARP, and a small queue
 * of frames waiting for a resolution so the first packet of a flow is not
 * lost. All typed arrays; nothing allocates per packet.
 *
 * The uplink reaches every internet address directly, so outsiders pick the
 * keys (a spoofed SYN makes us ARP for its source). Hence (docs/tables.md):
 * - fixed capacity, seeded hash (per-process random seed unless a test
 *   passes one), and every probe looks at no more than NEIGHBOR_MAX_PROBE
 *   slots;
 * - entries age: a learned MAC is used for NEIGHBOR_REACHABLE_MS after the
 *   ARP reply that confirmed it, then re-resolved (it stays usable for
 *   NEIGHBOR_PROBE_MS more while one frame a second goes the miss path and
 *   triggers a new request); an unanswered request expires after
 *   NEIGHBOR_INCOMPLETE_MS;
 * - when an address needs a slot and its window is full, the stalest entry
 *   of the window is evicted (expired entries first, then unresolved ones,
 *   then learned ones; one with frames pending only when every entry of the
 *   window has some), counted in `evicted`. The window is fixed, so this
 *   always ends;
 * - ARP learns only what it asked for: learn() updates an entry that
 *   shouldRequest() created (or one already learned) and refuses any other
 *   sender, counted in `unsolicited`, so forged unsolicited replies cannot
 *   fill the table;
 * - the queue of pending frames is a fixed `pendingSlots` frames; a frame
 *   waits at most PENDING_MS.
 *
 * Entries are never emptied once used (a slot is reused in place), so "an
 * empty slot ends the probe" stays true without tombstones.
 *
 * Time: shouldRequest() and hold() take nowMs; lookup() and learn() take it
 * as an optional last argument and otherwise use the latest time the table
 * has seen (any call that passed one).
 */
import { hash1, nextPow2, randomSeed } from '../lib/hash.js';

/** Slots a lookup or insert looks at, at most. */
export const NEIGHBOR_MAX_PROBE = 16;
/** A learned MAC is used without question this long after its confirmation. */
export const NEIGHBOR_REACHABLE_MS = 30_000;
/** After that, it is still used this long while being re-resolved; then it is dropped. */
export const NEIGHBOR_PROBE_MS = 3_000;
/** An address asked for and never answered is forgotten (reusable) after this long. */
export const NEIGHBOR_INCOMPLETE_MS = 3_000;
/** At most one ARP request per address per this interval. */
export const NEIGHBOR_REQUEST_INTERVAL_MS = 1_000;
/** A frame waits at most this long for its resolution. */
export const PENDING_MS = 3_000;

const EMPTY = 0, INCOMPLETE = 1, KNOWN = 2;
/** "Never" must be long ago: performance.now() starts at 0 with the process. */
const NEVER = -1e12;

// Eviction preference within a window (lower goes first).
const RANK_EXPIRED = 0, RANK_INCOMPLETE = 1, RANK_KNOWN = 2, RANK_PENDING = 3;

export class NeighborTable {
  /** Slots (addresses the table can hold at once). */
  readonly capacity: number;
  readonly macs: Uint8Array;
  private readonly mask: number;
  private readonly window: number;
  private readonly seed: number;
  private readonly keys: Int32Array;
  private readonly state: Uint8Array;
  /** Last ARP answer for the address (KNOWN), NEVER before. */
  private readonly confirmedMs: Float64Array;
  /** When the slot took this address. */
  private readonly createdMs: Float64Array;
  private readonly requestedMs: Float64Array;
  /** Last frame held for the address. */
  private readonly heldMs: Float64Array;
  /** Latest time seen by any call (the default for lookup/learn). */
  private clockMs = 0;

  // pending frames
  readonly pendingData: Uint8Array;
  readonly pendingIp: Int32Array;
  readonly pendingLen: Int32Array;
  readonly pendingPort: Int32Array;
  readonly pendingMs: Float64Array;
  readonly pendingSlotSize: number;
  /** Pending frames queued now (expired ones included until their slot is reused). */
  pendingCount = 0;
  /** Frames dropped because no resolution came, or the queue was full. */
  dropped = 0;
  /** Live entries evicted to make room for another address. */
  evicted = 0;
  /** ARP senders not learned because no request of ours was outstanding for them. */
  unsolicited = 0;
  /** Addresses held now (resolved or being resolved). Control plane: O(slots), for the metrics scrape. */
  entries(): number {
    let n = 0;
    for (let i = 0; i < this.state.length; i++) if (this.state[i] !== EMPTY) n++;
    return n;
  }

  /** Slots examined by the last lookup/learn/shouldRequest/hold (instrumentation; <= NEIGHBOR_MAX_PROBE). */
  lastProbes = 0;

  /**
   * slots: addresses to hold (rounded up to a power of two, then doubled);
   * pendingSlots × pendingSlotSize bytes of frame queue; seed: fixed in
   * tests, random per process otherwise.
   */
  constructor(slots = 1024, pendingSlots = 64, pendingSlotSize = 2048, seed: number = randomSeed()) {
    if (!Number.isInteger(slots) || slots < 1 || slots > 1 << 24) throw new RangeError('neighbour slots must be 1..2^24');
    const n = nextPow2(Math.max(16, slots * 2));
    this.capacity = n;
    this.mask = n - 1;
    this.window = Math.min(NEIGHBOR_MAX_PROBE, n);
    this.seed = seed | 0;
    this.keys = new Int32Array(n);
    this.state = new Uint8Array(n);
    this.macs = new Uint8Array(n * 6);
    this.confirmedMs = new Float64Array(n).fill(NEVER);
    this.createdMs = new Float64Array(n).fill(NEVER);
    this.requestedMs = new Float64Array(n).fill(NEVER);
    this.heldMs = new Float64Array(n).fill(NEVER);
    this.pendingSlotSize = pendingSlotSize;
    this.pendingData = new Uint8Array(pendingSlots * pendingSlotSize);
    this.pendingIp = new Int32Array(pendingSlots);
    this.pendingLen = new Int32Array(pendingSlots).fill(-1);
    this.pendingPort = new Int32Array(pendingSlots);
    this.pendingMs = new Float64Array(pendingSlots);
  }

  /**
   * Slot index whose MAC (macs[slot*6..]) may be used for ip now, or -1: the
   * caller then asks shouldRequest() and hold()s the frame. -1 for an unknown
   * or unresolved address, for a MAC past its reachable time when a new
   * request is due (so the miss path sends it), and for a MAC that went
   * unconfirmed through its probe time too. Never allocates.
   */
  lookup(ip: number, nowMs: number = this.clockMs): number {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    const i = this.find(ip | 0);
    if (i < 0 || this.state[i] !== KNOWN) return -1;
    const age = nowMs - this.confirmedMs[i];
    if (age < NEIGHBOR_REACHABLE_MS) return i;
    if (age < NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS) return nowMs - this.requestedMs[i] < NEIGHBOR_REQUEST_INTERVAL_MS ? i : -1;
    return -1;
  }

  /**
   * An ARP answer: ip is at mac[macOff..macOff+6]. Learned only when ip has
   * an entry (we asked for it, or know it already); otherwise refused and
   * counted in `unsolicited`. Returns whether it was learned. Never allocates.
   */
  learn(ip: number, mac: Uint8Array, macOff: number, nowMs: number = this.clockMs): boolean {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    const i = this.find(ip | 0);
    if (i < 0) {
      this.unsolicited++;
      return false;
    }
    for (let k = 0; k < 6; k++) this.macs[i * 6 + k] = mac[macOff + k];
    this.state[i] = KNOWN;
    this.confirmedMs[i] = nowMs;
    return true;
  }

  /**
   * True when an ARP request for ip should go out now (at most one a second
   * per address). Makes ip an entry if it has none, evicting the stalest of
   * its window when the window is full. Never allocates.
   */
  shouldRequest(ip: number, nowMs: number): boolean {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    const i = this.claim(ip | 0, nowMs);
    if (nowMs - this.requestedMs[i] < NEIGHBOR_REQUEST_INTERVAL_MS) return false;
    this.requestedMs[i] = nowMs;
    return true;
  }

  /** Keeps a copy of a frame until ip resolves; false (counted) when it cannot. Looks at every queue slot at most once. */
  hold(ip: number, port: number, buf: Uint8Array, off: number, len: number, nowMs: number): boolean {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    if (len > this.pendingSlotSize) {
      this.dropped++;
      return false;
    }
    const n = this.pendingLen.length;
    let free = -1;
    for (let s = 0; s < n; s++) {
      if (this.pendingLen[s] < 0) {
        free = s;
        break;
      }
      if (nowMs - this.pendingMs[s] > PENDING_MS) {
        // An expired frame: dropped, its slot reused (it stays counted in pendingCount).
        this.dropped++;
        this.pendingCount--;
        this.pendingLen[s] = -1;
        free = s;
        break;
      }
    }
    if (free < 0) {
      this.dropped++;
      return false;
    }
    const pd = this.pendingData;
    const base = free * this.pendingSlotSize;
    for (let k = 0; k < len; k++) pd[base + k] = buf[off + k];
    this.pendingIp[free] = ip | 0;
    this.pendingLen[free] = len;
    this.pendingPort[free] = port;
    this.pendingMs[free] = nowMs;
    this.pendingCount++;
    const e = this.find(ip | 0);
    if (e >= 0) this.heldMs[e] = nowMs;
    return true;
  }

  /** The slot holding ip, or -1. At most `window` slots; stops at an empty one. */
  private find(ip: number): number {
    const { keys, state, mask } = this;
    let i = hash1(ip, this.seed) & mask;
    for (let k = 0; k < this.window; k++, i = (i + 1) & mask) {
      if (state[i] === EMPTY) {
        this.lastProbes = k + 1;
        return -1;
      }
      if (keys[i] === ip) {
        this.lastProbes = k + 1;
        return i;
      }
    }
    this.lastProbes = this.window;
    return -1;
  }

  /** The slot holding ip, taking (and resetting) one for it if needed. Always returns a slot. */
  private claim(ip: number, nowMs: number): number {
    const { keys, state, mask } = this;
    let i = hash1(ip, this.seed) & mask;
    let victim = -1;
    let victimRank = RANK_PENDING + 1;
    let victimMs = Infinity;
    let k = 0;
    for (; k < this.window; k++, i = (i + 1) & mask) {
      const s = state[i];
      if (s === EMPTY) {
        // No entry for ip past here (slots are never emptied again): take this one.
        victim = i;
        victimRank = -1;
        k++;
        break;
      }
      if (keys[i] === ip) {
        this.lastProbes = k + 1;
        if (s === KNOWN && nowMs - this.confirmedMs[i] >= NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS) {
          // Dead: a fresh resolution (it may be evicted as unresolved from now on).
          state[i] = INCOMPLETE;
          this.createdMs[i] = nowMs;
        }
        return i;
      }
      let rank: number;
      let t: number;
      const held = this.heldMs[i];
      if (nowMs - held < PENDING_MS && held >= this.confirmedMs[i]) {
        rank = RANK_PENDING;
        t = held;
      } else if (s === INCOMPLETE) {
        t = this.createdMs[i];
        rank = nowMs - t >= NEIGHBOR_INCOMPLETE_MS ? RANK_EXPIRED : RANK_INCOMPLETE;
      } else {
        t = this.confirmedMs[i];
        rank = nowMs - t >= NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS ? RANK_EXPIRED : RANK_KNOWN;
      }
      if (rank < victimRank || (rank === victimRank && t < victimMs)) {
        victim = i;
        victimRank = rank;
        victimMs = t;
      }
    }
    this.lastProbes = k;
    if (victimRank > RANK_EXPIRED) this.evicted++;
    keys[victim] = ip;
    state[victim] = INCOMPLETE;
    this.createdMs[victim] = nowMs;
    this.confirmedMs[victim] = NEVER;
    this.requestedMs[victim] = NEVER;
    this.heldMs[victim] = NEVER;
    return victim;
  }
}
