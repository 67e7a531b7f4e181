/**
 * IPv4 connection tracking for the security-group stage: FlowKeyTable (two
 * keys per flow) + FlowPool (flow state) + ExpiryLists (idle timeouts by
 * class). AWS semantics ([EC2-CT], shared spec §1.6):
 *
 * - TCP, UDP and ICMP are tracked with ports (ICMP: identifier and type/code,
 *   see FlowTuple.setIcmp); any other protocol by (src, dst, proto) only:
 *   lookup()/create() zero the ports of those, so "the same kind of traffic
 *   back within 600 s" finds the flow.
 * - Idle timeouts per class (TimeoutClass): TCP established vs any other TCP
 *   state; UDP seen one way or in one request-response (udp, AWS 30 s) vs more
 *   than one request-response transaction (udpStream, AWS 180 s); ICMP; other.
 * - A fixed limit `max` of tracked flows: beyond it create() refuses with FULL
 *   and counts `allowanceExceeded` (AWS conntrack_allowance_exceeded); flows
 *   already tracked are unaffected.
 *
 * Usage per packet (the SG stage): ref = lookup(...); on NO_FLOW and an
 * allowing rule, create(orig, reply, initialTimeoutClass(proto), nowMs, …);
 * then touch(ref or flow*2, nowMs, len, tcpFlags) for every packet including
 * the first. Between batches: sweep(nowMs, budget, onExpire).
 *
 * The per-packet methods (lookup, create, touch, remove) never allocate.
 */
import { randomSeed, nextPow2 } from '../lib/hash.js';
import { ExpiryLists, TimeoutClass, type TimeoutsSeconds, timeoutsMs } from './expiry.js';
import { FLOW_KEY_WORDS, FlowFlag, FlowPool, NO_INSTANCE, TRACKED_BOTH } from './flow-pool.js';
import { FlowKeyTable, InsertResult, packPorts, packZoneProto } from './flow-table.js';
import { tcpNext, tcpTimeoutClass } from './tcp-state.js';

export { NO_FLOW } from './flow-table.js';

/** create(): the tracked-flow limit is reached (counted as allowanceExceeded). */
export const FULL = -2;
/** create(): the orig or reply key already belongs to another flow (counted as collisions). */
export const KEY_EXISTS = -3;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;

/** Slots of Conntrack.counters (Float64Array, read at scrape time). */
export const CtCounter = { Created: 0, Expired: 1, Removed: 2, AllowanceExceeded: 3, KeyCollisions: 4 } as const;
const COUNTERS = 5;

/** The shape of ConntrackConfig (control/config-types.ts), restated so this folder imports no control code. */
export interface ConntrackLimits {
  readonly max: number;
  readonly timeouts: TimeoutsSeconds;
}

/** flowRef -> flow index. */
export function flowOfRef(ref: number): number {
  return ref >>> 1;
}
/** flowRef -> direction (0 orig, 1 reply). */
export function dirOfRef(ref: number): number {
  return ref & 1;
}

/** True for protocols tracked with ports (TCP, UDP) or ICMP id/type/code. */
export function hasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP;
}

/** The timeout class a new flow of `proto` starts in. */
export function initialTimeoutClass(proto: number): TimeoutClass {
  if (proto === PROTO_TCP) return TimeoutClass.Tcp;
  if (proto === PROTO_UDP) return TimeoutClass.Udp;
  if (proto === PROTO_ICMP) return TimeoutClass.Icmp;
  return TimeoutClass.Other;
}

/**
 * ICMP query message types and their answers (RFC 792, RFC 950): echo 8/0,
 * timestamp 13/14, information 15/16, address mask 17/18. Returns the paired
 * type, or -1 for a type that is not a query/answer (errors, redirects…).
 */
export function icmpPairedType(type: number): number {
  switch (type) {
    case 8: return 0;
    case 0: return 8;
    case 13: return 14;
    case 14: return 13;
    case 15: return 16;
    case 16: return 15;
    case 17: return 18;
    case 18: return 17;
    default: return -1;
  }
}

/**
 * A mutable 5-tuple plus zone. The stage owns a couple of these and refills
 * them per packet (no allocation). Key conventions:
 * - TCP/UDP: sport/dport are the ports;
 * - ICMP: sport = identifier for query messages (0 for others),
 *   dport = type << 8 | code;
 * - other protocols: ports 0 (Conntrack zeroes them anyway).
 */
export class FlowTuple {
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  proto = 0;
  zone = 0;

  set(src: number, dst: number, sport: number, dport: number, proto: number, zone: number): this {
    // int32: unboxed (Smi) for the address ranges vpcd uses; every consumer masks or compares as int32
    this.src = src | 0;
    this.dst = dst | 0;
    this.sport = sport;
    this.dport = dport;
    this.proto = proto;
    this.zone = zone;
    return this;
  }

  /** An ICMP packet's key: id is only meaningful for query messages. */
  setIcmp(src: number, dst: number, type: number, code: number, id: number, zone: number): this {
    return this.set(src, dst, icmpPairedType(type) < 0 ? 0 : id, ((type & 0xff) << 8) | (code & 0xff), PROTO_ICMP, zone);
  }

  /**
   * This := the key the answer to `t` carries, without NAT: addresses and
   * ports swapped; for ICMP queries the paired type (echo 8 -> reply 0) and
   * the same identifier. Returns this.
   */
  reverseOf(t: FlowTuple): this {
    const src = t.dst;
    const dst = t.src;
    let sport = t.dport;
    let dport = t.sport;
    if (t.proto === PROTO_ICMP) {
      const type = t.dport >>> 8;
      const paired = icmpPairedType(type);
      sport = t.sport;
      dport = paired < 0 ? t.dport : (paired << 8) | (t.dport & 0xff);
    } else if (!hasPorts(t.proto)) {
      sport = 0;
      dport = 0;
    }
    return this.set(src, dst, sport, dport, t.proto, t.zone);
  }
}

export class Conntrack {
  readonly max: number;
  readonly pool: FlowPool;
  readonly table: FlowKeyTable;
  readonly expiry: ExpiryLists;
  /** CtCounter slots. */
  readonly counters: Float64Array;
  private sweepCallback: ((flow: number) => void) | null;
  /** Made once: what ExpiryLists.sweep calls per expired flow. */
  private readonly expireOne: (flow: number) => void;

  /** cfg: ConntrackConfig (timeouts in seconds). seed: fixed in tests, random per process otherwise. */
  constructor(cfg: ConntrackLimits, seed: number = randomSeed()) {
    const max = cfg.max;
    if (!Number.isInteger(max) || max < 1 || max > 0x10000000) throw new RangeError('conntrack max must be 1..2^28');
    this.max = max;
    this.pool = new FlowPool(max);
    // Two keys per flow, load factor at most 0.75 (usually lower: power-of-two rounding).
    this.table = new FlowKeyTable(nextPow2(Math.ceil((max * 2) / 0.75) + 1), seed);
    this.expiry = new ExpiryLists(max, timeoutsMs(cfg.timeouts), this.pool.lastSeenMs, this.pool.timeoutClass);
    this.counters = new Float64Array(COUNTERS);
    this.sweepCallback = null;
    this.expireOne = (flow: number): void => {
      const cb = this.sweepCallback;
      if (cb !== null) cb(flow);
      this.release(flow);
    };
  }

  /** Flows tracked now (vpcd_conntrack_entries). */
  get entries(): number {
    return this.pool.count;
  }

  /** New flows refused because the table was full (vpcd_conntrack_allowance_exceeded_total). */
  get allowanceExceeded(): number {
    return this.counters[CtCounter.AllowanceExceeded];
  }

  /** AWS conntrack_allowance_available. */
  get allowanceAvailable(): number {
    return this.max - this.pool.count;
  }

  /** Reload: new timeouts apply to existing flows from their last packet. */
  setTimeouts(t: TimeoutsSeconds): void {
    this.expiry.setTimeouts(timeoutsMs(t));
  }

  /**
   * flowRef (flow * 2 + dir) of the flow this packet key belongs to, or
   * NO_FLOW. Ports are ignored for protocols other than TCP/UDP/ICMP.
   * Addresses as host-order u32 or its int32 bit pattern (`| 0`, which V8
   * passes without boxing). Never allocates.
   */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number, zone: number): number {
    if (!hasPorts(proto)) return this.table.lookup(src | 0, dst | 0, 0, 0, proto, zone);
    return this.table.lookup(src | 0, dst | 0, sport, dport, proto, zone);
  }

  lookupTuple(t: FlowTuple): number {
    return this.lookup(t.src | 0, t.dst | 0, t.sport, t.dport, t.proto, t.zone);
  }

  /**
   * Registers a new flow with its orig and reply keys, in timeout class `cls`
   * at nowMs (monotonic ms), recording the policy that admitted it: epoch,
   * the instance whose SG egress / ingress admitted it (NO_INSTANCE for a
   * gateway or outside end) and `tracked` (FlowFlag.TrackedEgress |
   * FlowFlag.TrackedIngress bits, per ENI). Counts no packet: call touch()
   * for the packet that created it.
   * Returns the flow index, FULL (limit reached; counted) or KEY_EXISTS (a key
   * belongs to another flow; counted). Never allocates.
   */
  create(
    orig: FlowTuple,
    reply: FlowTuple,
    cls: number,
    nowMs: number,
    epoch = 0,
    egressInstance: number = NO_INSTANCE,
    ingressInstance: number = NO_INSTANCE,
    tracked: number = TRACKED_BOTH,
  ): number {
    const { pool, table } = this;
    if (pool.count >= this.max) {
      this.counters[CtCounter.AllowanceExceeded]++;
      return FULL;
    }
    // int32 locals (see flow-table.ts: u32 arguments would be boxed)
    const ports = hasPorts(orig.proto);
    const os = orig.src | 0;
    const od = orig.dst | 0;
    const rs = reply.src | 0;
    const rd = reply.dst | 0;
    const osp = ports ? orig.sport : 0;
    const odp = ports ? orig.dport : 0;
    const rsp = ports ? reply.sport : 0;
    const rdp = ports ? reply.dport : 0;
    const f = pool.alloc();
    const r1 = table.insert(os, od, osp, odp, orig.proto, orig.zone, f * 2);
    if (r1 !== InsertResult.Inserted) {
      pool.free(f);
      return this.refuse(r1);
    }
    const oneKey = os === rs && od === rd && osp === rsp && odp === rdp && orig.proto === reply.proto && orig.zone === reply.zone;
    if (!oneKey) {
      const r2 = table.insert(rs, rd, rsp, rdp, reply.proto, reply.zone, f * 2 + 1);
      if (r2 !== InsertResult.Inserted) {
        table.remove(os, od, osp, odp, orig.proto, orig.zone);
        pool.free(f);
        return this.refuse(r2);
      }
    }
    const k = f * FLOW_KEY_WORDS;
    const key = pool.key;
    key[k] = os;
    key[k + 1] = od;
    key[k + 2] = packPorts(osp, odp);
    key[k + 3] = packZoneProto(orig.zone, orig.proto);
    key[k + 4] = rs;
    key[k + 5] = rd;
    key[k + 6] = packPorts(rsp, rdp);
    key[k + 7] = packZoneProto(reply.zone, reply.proto);
    pool.proto[f] = orig.proto;
    pool.createdMs[f] = nowMs;
    pool.epoch[f] = epoch >>> 0;
    pool.egressInstance[f] = egressInstance;
    pool.ingressInstance[f] = ingressInstance;
    pool.flags[f] = (tracked & TRACKED_BOTH) | (oneKey ? FlowFlag.OneKey : 0);
    this.expiry.touch(f, cls, nowMs);
    this.counters[CtCounter.Created]++;
    return f;
  }

  /**
   * One packet of `len` bytes in the direction of flowRef at nowMs: counts it,
   * advances the TCP state (tcpFlags = TCP header byte 13; ignored for other
   * protocols) or the UDP transaction count, and moves the flow to the tail
   * of its (possibly new) timeout class. Returns that class. Never allocates.
   */
  touch(flowRef: number, nowMs: number, len: number, tcpFlags: number): number {
    const pool = this.pool;
    const f = flowRef >>> 1;
    const dir = flowRef & 1;
    pool.packets[flowRef]++;
    pool.bytes[flowRef] += len;
    let fl = pool.flags[f];
    let cls: number = pool.timeoutClass[f];
    const proto = pool.proto[f];
    if (proto === PROTO_TCP) {
      const st = tcpNext(pool.tcpState[f], dir, tcpFlags);
      pool.tcpState[f] = st;
      cls = tcpTimeoutClass(st);
    } else if (proto === PROTO_UDP) {
      // A request-response transaction completes when a reply follows an orig packet.
      if (dir === 1 && (fl & FlowFlag.LastDirReply) === 0) {
        const n = pool.udpTransactions[f];
        if (n < 255) pool.udpTransactions[f] = n + 1;
        cls = n + 1 > 1 ? TimeoutClass.UdpStream : TimeoutClass.Udp;
      }
      fl = dir === 1 ? fl | FlowFlag.LastDirReply : fl & ~FlowFlag.LastDirReply;
    }
    if (dir === 1) fl |= FlowFlag.SeenReply;
    pool.flags[f] = fl;
    this.expiry.touch(f, cls, nowMs);
    return cls;
  }

  /** Deletes a live flow now (both keys, its list entry, its index). Never allocates. */
  remove(flow: number): void {
    if (this.pool.live[flow] !== 1) return;
    this.expiry.unlink(flow);
    this.release(flow);
    this.counters[CtCounter.Removed]++;
  }

  /**
   * Expires up to `budget` idle flows at nowMs. onExpire (made once, or null)
   * sees each flow while its fields are still readable (flow logs, NAT
   * release); the flow is freed right after. Returns how many expired.
   */
  sweep(nowMs: number, budget: number, onExpire: ((flow: number) => void) | null): number {
    this.sweepCallback = onExpire;
    const n = this.expiry.sweep(nowMs, budget, this.expireOne);
    this.sweepCallback = null;
    this.counters[CtCounter.Expired] += n;
    return n;
  }

  /** Monotonic ms at which a flow expires if idle. */
  deadlineMs(flow: number): number {
    return this.expiry.deadlineMs(flow);
  }

  private refuse(r: InsertResult): number {
    if (r === InsertResult.Full) {
      this.counters[CtCounter.AllowanceExceeded]++;
      return FULL;
    }
    this.counters[CtCounter.KeyCollisions]++;
    return KEY_EXISTS;
  }

  /** Removes both keys and frees the index (the flow is already unlinked). */
  private release(flow: number): void {
    const { pool, table } = this;
    const key = pool.key;
    const k = flow * FLOW_KEY_WORDS;
    table.remove(key[k], key[k + 1], key[k + 2] >>> 16, key[k + 2] & 0xffff, key[k + 3] & 0xff, key[k + 3] >>> 8);
    if ((pool.flags[flow] & FlowFlag.OneKey) === 0) {
      table.remove(key[k + 4], key[k + 5], key[k + 6] >>> 16, key[k + 6] & 0xffff, key[k + 7] & 0xff, key[k + 7] >>> 8);
    }
    pool.free(flow);
  }
}

export { FlowFlag, NO_INSTANCE, TRACKED_BOTH } from './flow-pool.js';
export { TimeoutClass } from './expiry.js';
