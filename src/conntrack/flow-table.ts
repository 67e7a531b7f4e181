/**
 * IPv4 flow key -> flowRef, in typed arrays only (style §4.3; OVS `key_node[2]`,
 * gVisor original/reply tuples, Snabb ctable).
 *
 * Open addressing with linear probing and deletion by backward shift: no
 * tombstones, so probe runs never grow with churn, and no rehash ever happens
 * in the data plane. A flow owns two keys, the original tuple and the reply
 * tuple (post-NAT once NAT exists), so a reply finds its flow and binding with
 * one lookup. flowRef = flowIndex * 2 + dir (0 = orig, 1 = reply).
 *
 * Fixed capacity (a power of two); one slot always stays empty so every probe
 * ends, i.e. at most capacity - 1 keys. A full table refuses inserts and the
 * caller counts the refusal.
 *
 * Key layout, 4 words per slot:
 *   [0] src   [1] dst   [2] sport << 16 | dport   [3] zone << 8 | proto
 * For ICMP the "ports" are identifier and type/code (see FlowTuple).
 *
 * Words are kept as int32 bit patterns (`| 0`), not u32: a u32 >= 2^31 (any
 * address in 128.0.0.0/1, any sport >= 32768) is boxed in a heap number when
 * it crosses a call that V8 did not inline, i.e. one allocation per packet
 * (see lib/hash.ts for the measurement). Callers may pass addresses either
 * as u32 (`>>> 0`) or int32 (`| 0`); int32 avoids the boxing at their call.
 */
import { hash4, randomSeed } from '../lib/hash.js';

export const NO_FLOW = -1;
const KEY_WORDS = 4;

/** Result of FlowKeyTable.insert(). */
export const InsertResult = { Inserted: 0, Exists: 1, Full: 2 } as const;
export type InsertResult = (typeof InsertResult)[keyof typeof InsertResult];

/** Word 2 of a key (int32). */
export function packPorts(sport: number, dport: number): number {
  return (sport << 16) | (dport & 0xffff);
}

/** Word 3 of a key (int32): zone is 0..2^24-1 (e.g. a VRF or an ENI), proto 0..255. */
export function packZoneProto(zone: number, proto: number): number {
  return (zone << 8) | (proto & 0xff);
}

export class FlowKeyTable {
  readonly capacity: number;
  /** Keys stored now. */
  size = 0;
  private readonly mask: number;
  private readonly keys: Int32Array;
  private readonly refs: Int32Array;
  private readonly seed: number;

  /**
   * capacity: a power of two, at least 2. Size it for the load you accept:
   * Conntrack uses nextPow2(2 keys × max flows / 0.75), so load stays <= 75%.
   * seed: fixed in tests; random per process otherwise.
   */
  constructor(capacity: number, seed: number = randomSeed()) {
    // (Mutant `capacity >= 0x40000000` survives, untested boundary: only capacity = 2^30 itself tells
    // it apart, and the original accepts that and allocates it: 20 GiB at 16 B of key + 4 B of ref a slot.)
    if (capacity < 2 || (capacity & (capacity - 1)) !== 0 || capacity > 0x40000000) {
      throw new RangeError('capacity must be a power of two in 2..2^30');
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.refs = new Int32Array(capacity).fill(NO_FLOW);
    this.seed = seed | 0;
  }

  /** Keys the table can hold (one slot stays empty). */
  get maxKeys(): number {
    return this.capacity - 1;
  }

  /**
   * The flowRef stored for this key, or NO_FLOW. Addresses are host-order
   * u32, ports 0..65535, proto 0..255. Never allocates.
   */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number, zone: number): number {
    const slot = this.find(src | 0, dst | 0, packPorts(sport, dport), packZoneProto(zone, proto));
    return slot < 0 ? NO_FLOW : this.refs[slot];
  }

  /**
   * Adds key -> ref (ref >= 0). Returns Inserted, Exists (the key is already
   * present: nothing changes) or Full. Never allocates.
   */
  insert(src: number, dst: number, sport: number, dport: number, proto: number, zone: number, ref: number): InsertResult {
    src |= 0;
    dst |= 0;
    const ports = packPorts(sport, dport);
    const zp = packZoneProto(zone, proto);
    const { keys, refs, mask } = this;
    for (let i = hash4(src, dst, ports, zp, this.seed) & mask; ; i = (i + 1) & mask) {
      const k = i * KEY_WORDS;
      if (refs[i] === NO_FLOW) {
        if (this.size >= this.capacity - 1) return InsertResult.Full;
        keys[k] = src;
        keys[k + 1] = dst;
        keys[k + 2] = ports;
        keys[k + 3] = zp;
        refs[i] = ref;
        this.size++;
        return InsertResult.Inserted;
      }
      if (keys[k] === src && keys[k + 1] === dst && keys[k + 2] === ports && keys[k + 3] === zp) return InsertResult.Exists;
    }
  }

  /**
   * Deletes a key; returns the flowRef it held, or NO_FLOW if absent.
   * Backward shift: later entries of the probe run whose home slot is not in
   * the cyclic interval (hole, entry] move into the hole. Never allocates.
   */
  remove(src: number, dst: number, sport: number, dport: number, proto: number, zone: number): number {
    let hole = this.find(src | 0, dst | 0, packPorts(sport, dport), packZoneProto(zone, proto));
    if (hole < 0) return NO_FLOW;
    const { keys, refs, mask, seed } = this;
    const removed = refs[hole];
    for (let j = (hole + 1) & mask; refs[j] !== NO_FLOW; j = (j + 1) & mask) {
      const k = j * KEY_WORDS;
      const home = hash4(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], seed) & mask;
      // Entry j may move to the hole iff its home is not in (hole, j] cyclically,
      // i.e. the distance home->j is at least the distance hole->j.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        const h = hole * KEY_WORDS;
        keys[h] = keys[k];
        keys[h + 1] = keys[k + 1];
        keys[h + 2] = keys[k + 2];
        keys[h + 3] = keys[k + 3];
        refs[hole] = refs[j];
        hole = j;
      }
    }
    refs[hole] = NO_FLOW;
    this.size--;
    return removed;
  }

  /**
   * Longest probe distance over all stored keys (diagnostics and tests;
   * O(capacity)). 0 means every key sits in its home slot.
   */
  maxProbe(): number {
    let worst = 0;
    const { keys, refs, mask } = this;
    for (let i = 0; i < this.capacity; i++) {
      if (refs[i] === NO_FLOW) continue;
      const k = i * KEY_WORDS;
      const d = (i - (hash4(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], this.seed) & mask)) & mask;
      // Stryker disable next-line EqualityOperator: equivalent: d >= worst only re-assigns the same value
      if (d > worst) worst = d;
    }
    return worst;
  }

  private find(src: number, dst: number, ports: number, zp: number): number {
    const { keys, refs, mask } = this;
    for (let i = hash4(src, dst, ports, zp, this.seed) & mask; ; i = (i + 1) & mask) {
      if (refs[i] === NO_FLOW) return -1; // an empty slot ends the run
      const k = i * KEY_WORDS;
      if (keys[k] === src && keys[k + 1] === dst && keys[k + 2] === ports && keys[k + 3] === zp) return i;
    }
  }
}
