/**
 * ESP anti-replay window (RFC 4303 §3.4.3) kept as a ring of 32-bit bitmap
 * blocks (RFC 6479): sliding the window forward zeroes whole blocks instead of
 * shifting a bit string.
 *
 * Receiver procedure (RFC 4303 §3.4.3), split in two calls so that the
 * expensive ICV check only runs for packets that can still be accepted, and
 * the window only moves for packets whose ICV verified:
 *
 *   check(seq)   before integrity verification: false for 0, for a number
 *                left of the window ("too old") and for a duplicate;
 *   update(seq)  after the ICV verified: slides the window (when seq is right
 *                of it) and marks seq seen.
 *
 * Sequence numbers are 32-bit (ESN is never negotiated here), so block
 * arithmetic uses `>>> 5` / `& 31` on u32 values.
 *
 *   highest seen (top) ──────────────────────────────┐
 *   ... [ block b-2 ][ block b-1 ][ block b = top>>>5 ] [ b+1 ... (zeroed when top moves) ]
 *   accepted iff top - seq < size  (window [top - size + 1, top]) and bit clear
 *
 * Ring size: a sequence number `d = top - seq <= size - 1` behind the top is at
 * most floor((size - 1) / 32) + 1 blocks behind top's block, so the ring needs
 * floor((size - 1) / 32) + 2 blocks, rounded up to a power of two (64 blocks =
 * 256 bytes for the default 1024). The window itself is exactly `size`.
 */

export const DEFAULT_REPLAY_WINDOW = 1024;
/** Largest window accepted (8 KiB of bitmap); larger requests are clamped. */
export const MAX_REPLAY_WINDOW = 65536;

export class ReplayWindow {
  /** Window size in packets. */
  readonly size: number;
  /** Bitmap blocks; the last element (index `blocks`) holds the highest sequence number seen. */
  private readonly ring: Uint32Array;
  private readonly blockMask: number;
  private readonly topIdx: number;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    let s = Math.floor(size);
    if (!(s >= 1)) s = DEFAULT_REPLAY_WINDOW;
    // Stryker disable next-line EqualityOperator: equivalent mutant (>=): MAX_REPLAY_WINDOW is set to itself
    if (s > MAX_REPLAY_WINDOW) s = MAX_REPLAY_WINDOW;
    this.size = s;
    // Stryker disable next-line ArithmeticOperator: equivalent mutant (s + 1): a ring that is larger than needed behaves the same
    const need = ((s - 1) >>> 5) + 2;
    let blocks = 2;
    // Stryker disable next-line EqualityOperator: equivalent mutant (<=): a larger ring behaves the same
    while (blocks < need) blocks <<= 1;
    this.ring = new Uint32Array(blocks + 1);
    this.blockMask = blocks - 1;
    this.topIdx = blocks;
  }

  /** Highest sequence number accepted so far (0 before the first packet). */
  get top(): number {
    return this.ring[this.topIdx];
  }

  /**
   * True if `seq` (u32) may be new: not 0 (RFC 4303 §3.3.3: the first packet
   * carries 1), not left of the window, not already seen. Reads only.
   */
  check(seq: number): boolean {
    const s = seq >>> 0;
    if (s === 0) return false;
    const top = this.ring[this.topIdx];
    if (s > top) return true;
    if (top - s >= this.size) return false;
    return (this.ring[(s >>> 5) & this.blockMask] & (1 << (s & 31))) === 0;
  }

  /**
   * Records `seq` as received: call only after the packet's ICV verified.
   * Returns false (and changes nothing) if check(seq) would have refused it.
   */
  update(seq: number): boolean {
    const s = seq >>> 0;
    if (s === 0) return false;
    const ring = this.ring;
    const mask = this.blockMask;
    const top = ring[this.topIdx];
    // Stryker disable next-line EqualityOperator: equivalent mutant (s >= top): s === top slides by 0 blocks, then the bit check refuses it as before
    if (s > top) {
      const cur = top >>> 5;
      const nb = s >>> 5;
      let n = nb - cur;
      // Stryker disable next-line EqualityOperator: equivalent mutant (>=): n is set to itself
      if (n > mask + 1) n = mask + 1;
      for (let i = 1; i <= n; i++) ring[(cur + i) & mask] = 0;
      ring[this.topIdx] = s;
    } else if (top - s >= this.size) {
      return false;
    }
    const idx = (s >>> 5) & mask;
    const bit = 1 << (s & 31);
    const old = ring[idx];
    if ((old & bit) !== 0) return false;
    ring[idx] = old | bit;
    return true;
  }

  /** check() then update(): for callers that verified the ICV already. */
  accept(seq: number): boolean {
    return this.check(seq) && this.update(seq);
  }

  /** The window's state (bitmap blocks, then the highest number seen), for a restart. */
  save(): Uint32Array {
    return this.ring.slice();
  }

  /** Takes back the state of save() from a window of the same size; false (and no change) for another shape. */
  load(words: Uint32Array): boolean {
    if (words.length !== this.ring.length) return false;
    this.ring.set(words);
    return true;
  }

  /** Forgets everything (a new SA starts at top = 0). */
  reset(): void {
    this.ring.fill(0);
  }
}
