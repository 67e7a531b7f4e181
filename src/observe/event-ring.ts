/**
 * The data plane's event ring: fixed-size records in preallocated typed
 * arrays, written on the packet path only while someone listens (`active`,
 * one boolean check otherwise), read by the main loop after each batch
 * (observe-hub.ts). A full ring refuses the record and counts it as lost;
 * the data plane never waits for a reader. Allocation-free.
 *
 * Record layout (RECORD_WORDS int32 words, RECORD_NUMS float64s); field
 * meanings in event-vocabulary.ts.
 */

/** What happened. */
export const EventType = { Flow: 1, Drop: 2, Nat: 3, End: 4 } as const;
export const EVENT_TYPE_NAMES: readonly string[] = ['', 'flow', 'drop', 'nat', 'end'];

/** Int32 word offsets in a record. */
export const F = {
  Type: 0, Verdict: 1, Stage: 2, Code: 3, Owner: 4, Rule: 5, Eni: 6, Proto: 7,
  Src: 8, Dst: 9, Sport: 10, Dport: 11, Xsrc: 12, Xdst: 13, Xsport: 14, Xdport: 15, Reason: 16, Extra: 17,
} as const;
export const RECORD_WORDS = 18;
/** Float64 offsets in a record. */
export const N = { Packets: 0, Bytes: 1, TimeMs: 2 } as const;
export const RECORD_NUMS = 3;

/** F.Rule values that are not a rule number or index. */
export const RULE_NONE = -1;
/** The implicit deny (security groups) or `*` (NACLs). */
export const RULE_IMPLICIT = -2;

export const VERDICT_REJECT = 0, VERDICT_ACCEPT = 1;

/** Default capacity (records); a power of two. */
export const DEFAULT_RING_RECORDS = 4096;

export class EventRing {
  /** True while at least one subscriber listens: the only check the packet path makes otherwise. */
  active = false;
  /** Unix ms stamped on records (set once per batch by the loop). */
  wallMs = 0;
  /** Set by a stage that emitted the record for the packet being processed (the drop is not reported twice). */
  decided = false;
  readonly capacity: number;
  readonly words: Int32Array;
  readonly nums: Float64Array;
  private readonly mask: number;
  private head = 0;
  private count = 0;
  /** Records refused because the ring was full, ever (vpcd_observe_events_lost_total). */
  lostTotal = 0;
  /** Refused since the last drain. */
  lostPending = 0;

  constructor(records = DEFAULT_RING_RECORDS) {
    if (!Number.isInteger(records) || records < 2 || (records & (records - 1)) !== 0) throw new RangeError(`event ring: capacity must be a power of two >= 2, not ${records}`);
    this.capacity = records;
    this.mask = records - 1;
    this.words = new Int32Array(records * RECORD_WORDS);
    this.nums = new Float64Array(records * RECORD_NUMS);
  }

  /** Records waiting to be drained. */
  get size(): number {
    return this.count;
  }

  /**
   * Starts a record; returns its slot, or -1 when the ring is full (counted
   * as lost). Fields not given are 0 (translations) or -1 (owner, rule, eni).
   */
  put(type: number, verdict: number, stage: number, code: number, owner: number, rule: number, eni: number,
    proto: number, src: number, dst: number, sport: number, dport: number): number {
    if (this.count === this.capacity) {
      this.lostTotal++;
      this.lostPending++;
      return -1;
    }
    const slot = (this.head + this.count) & this.mask;
    this.count++;
    const w = this.words, o = slot * RECORD_WORDS;
    w[o + F.Type] = type;
    w[o + F.Verdict] = verdict;
    w[o + F.Stage] = stage;
    w[o + F.Code] = code;
    w[o + F.Owner] = owner;
    w[o + F.Rule] = rule;
    w[o + F.Eni] = eni;
    w[o + F.Proto] = proto;
    w[o + F.Src] = src;
    w[o + F.Dst] = dst;
    w[o + F.Sport] = sport;
    w[o + F.Dport] = dport;
    w[o + F.Xsrc] = 0;
    w[o + F.Xdst] = 0;
    w[o + F.Xsport] = 0;
    w[o + F.Xdport] = 0;
    w[o + F.Reason] = 0;
    w[o + F.Extra] = 0;
    const n = this.nums, p = slot * RECORD_NUMS;
    n[p + N.Packets] = 0;
    n[p + N.Bytes] = 0;
    n[p + N.TimeMs] = this.wallMs;
    return slot;
  }

  /** The translated addresses and ports of a record (NAT). */
  setTranslation(slot: number, xsrc: number, xdst: number, xsport: number, xdport: number): void {
    if (slot < 0) return;
    const w = this.words, o = slot * RECORD_WORDS;
    w[o + F.Xsrc] = xsrc;
    w[o + F.Xdst] = xdst;
    w[o + F.Xsport] = xsport;
    w[o + F.Xdport] = xdport;
  }

  setCounts(slot: number, packets: number, bytes: number): void {
    if (slot < 0) return;
    this.nums[slot * RECORD_NUMS + N.Packets] = packets;
    this.nums[slot * RECORD_NUMS + N.Bytes] = bytes;
  }

  setReason(slot: number, reason: number, extra: number): void {
    if (slot < 0) return;
    this.words[slot * RECORD_WORDS + F.Reason] = reason;
    this.words[slot * RECORD_WORDS + F.Extra] = extra;
  }

  /**
   * Hands up to `max` records, oldest first, to `read(slot)` (which must
   * copy what it needs: the slot is reused after), and returns how many
   * records were lost since the last drain.
   */
  drain(read: (ring: EventRing, slot: number) => void, max = this.capacity): number {
    let n = Math.min(max, this.count);
    while (n-- > 0) {
      const slot = this.head;
      this.head = (this.head + 1) & this.mask;
      this.count--;
      read(this, slot);
    }
    const lost = this.lostPending;
    this.lostPending = 0;
    return lost;
  }

  /** Drops everything waiting (no subscriber left). */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.lostPending = 0;
  }
}
