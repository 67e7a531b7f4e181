/**
 * Flow state as struct-of-arrays indexed by a u32 flow index (VPP's session
 * pool): one typed array per field, allocated once at `max` entries, plus a
 * LIFO free list of indices. Direction-indexed fields (packets, bytes) are
 * indexed by flowRef = flow * 2 + dir, so the packet path writes them without
 * unpacking the ref.
 *
 * Nothing here allocates after construction.
 */
import { NO_CLASS } from './expiry.js';

export const NO_INSTANCE = -1;
/** alloc() when every index is in use. */
export const POOL_EMPTY = -1;

/** Bits of FlowPool.flags. */
export const FlowFlag = {
  /**
   * Tracking is per ENI [EC2-CT]: the flow is tracked by the SG of the ENI it
   * left (egressInstance). Clear = untracked there (AWS's all-open rule), so
   * its packets are judged by that ENI's rules, not by state.
   */
  TrackedEgress: 0x01,
  /** A packet in the reply direction has been seen. */
  SeenReply: 0x02,
  /** Direction of the last packet (UDP transaction counting): set = reply. */
  LastDirReply: 0x04,
  /** Orig and reply keys are identical (a flow to itself): only one table entry. */
  OneKey: 0x08,
  /** The flow is tracked by the SG of the ENI it entered (ingressInstance). */
  TrackedIngress: 0x10,
  /** The flow counts against egressInstance's tracked-connection allowance (Conntrack.entriesPerEni). */
  ChargedEgress: 0x20,
  /** The flow counts against ingressInstance's tracked-connection allowance. */
  ChargedIngress: 0x40,
} as const;
/** Both ends tracked: the default for create(). */
export const TRACKED_BOTH = FlowFlag.TrackedEgress | FlowFlag.TrackedIngress;

/** Words per flow in `key`: orig tuple (4 words) then reply tuple (4 words), FlowKeyTable layout. */
export const FLOW_KEY_WORDS = 8;

export class FlowPool {
  readonly max: number;
  /** Flows allocated now. */
  count = 0;

  /**
   * Both keys of each flow, FlowKeyTable word layout (int32 bit patterns): [flow*8 + 0..3] orig
   * (src, dst, sport<<16|dport, zone<<8|proto), [flow*8 + 4..7] reply.
   * Kept so the table entries can be removed when the flow dies.
   */
  readonly key: Int32Array;
  readonly proto: Uint8Array;
  /** TcpState for TCP flows, 0 otherwise. */
  readonly tcpState: Uint8Array;
  /** UDP: completed request-response transactions (orig then reply), saturating at 255. */
  readonly udpTransactions: Uint8Array;
  /** TimeoutClass, or NO_CLASS when not linked; shared with ExpiryLists. */
  readonly timeoutClass: Uint8Array;
  /** Monotonic ms of the last packet; shared with ExpiryLists. */
  readonly lastSeenMs: Float64Array;
  readonly createdMs: Float64Array;
  /** Indexed by flowRef (flow * 2 + dir). */
  readonly packets: Float64Array;
  /** Indexed by flowRef (flow * 2 + dir). */
  readonly bytes: Float64Array;
  /** Policy epoch of the snapshot that admitted the flow. */
  readonly epoch: Uint32Array;
  /** Instance index whose SG egress admitted the orig direction, or NO_INSTANCE. */
  readonly egressInstance: Int32Array;
  /** Instance index whose SG ingress admitted the orig direction, or NO_INSTANCE. */
  readonly ingressInstance: Int32Array;
  /** FlowFlag bits. */
  readonly flags: Uint8Array;
  /** 1 while the index is allocated. */
  readonly live: Uint8Array;
  /** Reserved for NAT: translated address (host order) and port, 0 when none. */
  readonly natAddr: Uint32Array;
  readonly natPort: Uint16Array;

  private readonly freeList: Uint32Array;
  private freeTop: number;

  constructor(max: number) {
    // (Mutant `max >= 0x3fffffff` survives, untested boundary: only max = 2^30-1 itself tells it
    // apart, and the original accepts that and allocates it: about 108 GiB at 108 B a flow.)
    if (!Number.isInteger(max) || max < 1 || max > 0x3fffffff) throw new RangeError('max must be 1..2^30-1');
    this.max = max;
    this.key = new Int32Array(max * FLOW_KEY_WORDS);
    this.proto = new Uint8Array(max);
    this.tcpState = new Uint8Array(max);
    this.udpTransactions = new Uint8Array(max);
    this.timeoutClass = new Uint8Array(max).fill(NO_CLASS);
    this.lastSeenMs = new Float64Array(max);
    this.createdMs = new Float64Array(max);
    this.packets = new Float64Array(max * 2);
    this.bytes = new Float64Array(max * 2);
    this.epoch = new Uint32Array(max);
    this.egressInstance = new Int32Array(max).fill(NO_INSTANCE);
    this.ingressInstance = new Int32Array(max).fill(NO_INSTANCE);
    this.flags = new Uint8Array(max);
    this.live = new Uint8Array(max);
    this.natAddr = new Uint32Array(max);
    this.natPort = new Uint16Array(max);
    this.freeList = new Uint32Array(max);
    // Hand out low indices first: flow 0 is popped first.
    // Stryker disable next-line EqualityOperator: equivalent: i <= max only adds a write at index max, which a max-entry typed array ignores
    for (let i = 0; i < max; i++) this.freeList[i] = max - 1 - i;
    this.freeTop = max;
  }

  /** A fresh flow index with every field reset, or POOL_EMPTY. O(1), never allocates. */
  alloc(): number {
    if (this.freeTop === 0) return POOL_EMPTY;
    const f = this.freeList[--this.freeTop];
    this.count++;
    this.live[f] = 1;
    this.proto[f] = 0;
    this.tcpState[f] = 0;
    this.udpTransactions[f] = 0;
    this.lastSeenMs[f] = 0;
    this.createdMs[f] = 0;
    this.packets[f * 2] = 0;
    this.packets[f * 2 + 1] = 0;
    this.bytes[f * 2] = 0;
    this.bytes[f * 2 + 1] = 0;
    this.epoch[f] = 0;
    this.egressInstance[f] = NO_INSTANCE;
    this.ingressInstance[f] = NO_INSTANCE;
    this.flags[f] = 0;
    this.natAddr[f] = 0;
    this.natPort[f] = 0;
    return f;
  }

  /** Return a flow index to the free list; false (and no change) if it was not allocated. */
  free(flow: number): boolean {
    if (this.live[flow] !== 1) return false;
    this.live[flow] = 0;
    this.freeList[this.freeTop++] = flow;
    this.count--;
    return true;
  }
}
