/**
 * Timer-free idle expiry (style §4.5; VPP ACL sessions and NAT44-ED keep one
 * list per timeout class the same way).
 *
 * Each flow sits in one intrusive doubly linked list per timeout class. All
 * flows of a class share one timeout, so moving a flow to the tail whenever it
 * sees a packet keeps every list sorted by expiry (given a monotonic clock):
 * sweep() pops heads until it meets a flow that is still live. O(1) per packet
 * and per expired flow; a sweep is bounded by `budget` so one tick cannot
 * stall the batch loop. A hashed timer wheel would only be needed if flows of
 * one class could have different deadlines, which they cannot here.
 */

const NIL = -1;
/** Class of a flow that is in no list (free, or just expired). */
export const NO_CLASS = 255;

/**
 * The conntrack timeout classes (AWS [EC2-CT] names where AWS has them).
 * tcp: TCP in any state but established (SYN, FIN, TIME_WAIT…: AWS documents
 * no number, ours is configured); udp: one direction or one request-response;
 * udpStream: more than one request-response transaction; other: protocols
 * other than TCP/UDP/ICMP, tracked by (src, dst, proto) only (AWS: 600 s).
 */
export const TimeoutClass = { Tcp: 0, TcpEstablished: 1, Udp: 2, UdpStream: 3, Icmp: 4, Other: 5 } as const;
export type TimeoutClass = (typeof TimeoutClass)[keyof typeof TimeoutClass];
export const TIMEOUT_CLASS_COUNT = 6;
/** For metrics labels and flow logs; control plane only. */
export const TIMEOUT_CLASS_NAMES = ['tcp', 'tcp_established', 'udp', 'udp_stream', 'icmp', 'other'] as const;

/** Timeouts in seconds per class, the shape of ConntrackConfig.timeouts. */
export interface TimeoutsSeconds {
  readonly tcpEstablished: number;
  readonly tcp: number;
  readonly udp: number;
  readonly udpStream: number;
  readonly icmp: number;
  readonly other: number;
}

/** Seconds (config) -> milliseconds indexed by TimeoutClass. Control plane. */
export function timeoutsMs(t: TimeoutsSeconds): Float64Array {
  const ms = new Float64Array(TIMEOUT_CLASS_COUNT);
  ms[TimeoutClass.Tcp] = t.tcp * 1000;
  ms[TimeoutClass.TcpEstablished] = t.tcpEstablished * 1000;
  ms[TimeoutClass.Udp] = t.udp * 1000;
  ms[TimeoutClass.UdpStream] = t.udpStream * 1000;
  ms[TimeoutClass.Icmp] = t.icmp * 1000;
  ms[TimeoutClass.Other] = t.other * 1000;
  return ms;
}

export class ExpiryLists {
  /** Monotonic ms of the last packet per flow; may be shared with the flow pool. */
  readonly lastSeenMs: Float64Array;
  /** Class per flow, NO_CLASS when in no list; may be shared with the flow pool. */
  readonly cls: Uint8Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly timeoutMs: Float64Array;

  /**
   * maxFlows: flow indices are 0..maxFlows-1. timeoutMsByClass: one idle
   * timeout per class (its length is the number of classes, at most 255).
   * lastSeenMs/cls: pass the pool's arrays to share them (length maxFlows).
   */
  constructor(
    maxFlows: number,
    timeoutMsByClass: ArrayLike<number>,
    lastSeenMs: Float64Array = new Float64Array(maxFlows),
    cls: Uint8Array = new Uint8Array(maxFlows),
  ) {
    const classes = timeoutMsByClass.length;
    if (classes < 1 || classes >= NO_CLASS) throw new RangeError('1..254 timeout classes');
    if (lastSeenMs.length < maxFlows || cls.length < maxFlows) throw new RangeError('shared arrays too short');
    this.lastSeenMs = lastSeenMs;
    this.cls = cls.fill(NO_CLASS);
    this.prev = new Int32Array(maxFlows).fill(NIL);
    this.next = new Int32Array(maxFlows).fill(NIL);
    this.head = new Int32Array(classes).fill(NIL);
    this.tail = new Int32Array(classes).fill(NIL);
    this.timeoutMs = Float64Array.from(timeoutMsByClass);
  }

  /** Replace the timeouts (reload). Lists stay sorted: order is by lastSeen, not deadline. */
  setTimeouts(timeoutMsByClass: ArrayLike<number>): void {
    if (timeoutMsByClass.length !== this.timeoutMs.length) throw new RangeError('class count changed');
    this.timeoutMs.set(timeoutMsByClass);
  }

  /** Monotonic ms at which `flow` expires if it stays idle; Infinity when in no list. */
  deadlineMs(flow: number): number {
    const c = this.cls[flow];
    return c === NO_CLASS ? Infinity : this.lastSeenMs[flow] + this.timeoutMs[c];
  }

  /**
   * Record activity at nowMs (monotonic, never decreasing across calls) and
   * put the flow at the tail of class `cls` (it may change class, e.g. a TCP
   * flow becoming established). O(1), never allocates.
   */
  touch(flow: number, cls: number, nowMs: number): void {
    this.lastSeenMs[flow] = nowMs;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent: a shortcut only (unlinking the tail and appending it again leaves the same list), and tail[cls] === flow implies cls[flow] === cls
    if (this.cls[flow] === cls && this.tail[cls] === flow) return;
    this.unlink(flow);
    this.append(flow, cls);
  }

  /**
   * Unlinks up to `budget` flows idle for at least their class timeout
   * (lastSeen + timeout <= nowMs) and hands each to onExpire, which must be a
   * function made once (not per call). Returns how many expired. O(1) per
   * expired flow plus O(classes).
   */
  sweep(nowMs: number, budget: number, onExpire: (flow: number) => void): number {
    let n = 0;
    const { head, lastSeenMs, timeoutMs } = this;
    // Stryker disable next-line EqualityOperator,ConditionalExpression: equivalent: the outer n < budget only stops early (the inner loop checks the budget), and c = head.length meets head[c] undefined, which expires nothing
    for (let c = 0; c < head.length && n < budget; c++) {
      const limit = nowMs - timeoutMs[c];
      // Stryker disable next-line ConditionalExpression: equivalent: for f !== NIL -> true, an empty list's head -1 reads lastSeenMs[-1] (undefined), and undefined <= limit is false
      for (let f = head[c]; f !== NIL && n < budget && lastSeenMs[f] <= limit; f = head[c]) {
        this.unlink(f);
        onExpire(f);
        n++;
      }
    }
    return n;
  }

  /** Remove a flow from its list (no-op if in none). */
  unlink(flow: number): void {
    const c = this.cls[flow];
    // Stryker disable next-line ConditionalExpression: equivalent: a flow in no list has prev = next = NIL, so going on only writes head/tail[NO_CLASS] (past the <= 254 classes, ignored) and resets what is already reset
    if (c === NO_CLASS) return;
    const p = this.prev[flow];
    const nx = this.next[flow];
    if (p === NIL) this.head[c] = nx;
    else this.next[p] = nx;
    if (nx === NIL) this.tail[c] = p;
    else this.prev[nx] = p;
    this.prev[flow] = NIL;
    this.next[flow] = NIL;
    this.cls[flow] = NO_CLASS;
  }

  /** Flows of one class from oldest to newest. Tests and diagnostics only (allocates). */
  listOf(cls: number): number[] {
    const out: number[] = [];
    for (let f = this.head[cls]; f !== NIL; f = this.next[f]) out.push(f);
    return out;
  }

  private append(flow: number, c: number): void {
    const t = this.tail[c];
    this.prev[flow] = t;
    this.next[flow] = NIL;
    if (t === NIL) this.head[c] = flow;
    else this.next[t] = flow;
    this.tail[c] = flow;
    this.cls[flow] = c;
  }
}
