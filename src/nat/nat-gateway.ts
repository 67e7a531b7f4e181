/**
 * One NAT gateway's translation state (aws-semantics §5).
 *
 * Sessions live in their own Conntrack: the orig key is the inside tuple
 * (instance:port -> destination:port), the reply key is what the destination
 * answers to (destination:port -> gateway:allocatedPort). Source ports are
 * allocated from 1024-65535 per unique destination (address, port,
 * protocol), at most `maxPerDestination` at once (AWS: 55,000 per gateway
 * address); past it the connection fails and ErrorPortAllocation counts it.
 * Sessions idle out after `idleTimeout` seconds (AWS: 350 s); a TCP segment
 * for a session that is gone is answered with a RST to the inside host, as
 * the NAT gateway does (a NAT instance would send a FIN).
 */
import { Conntrack, FlowTuple, NO_FLOW, icmpPairedType, initialTimeoutClass } from '../conntrack/conntrack.js';
import { TcpState } from '../conntrack/tcp-state.js';
import { PairCounts } from '../lib/pair-counts.js';
import { randomSeed } from '../lib/hash.js';
import { SavedStateError } from '../lib/saved-fields.js';
import { decodeFlows } from '../conntrack/flow-state.js';
import { FLOW_KEY_WORDS } from '../conntrack/flow-pool.js';

/** Counters per gateway, mirroring the CloudWatch AWS/NATGateway metrics. */
export const NatCounter = {
  ConnectionAttempts: 0,
  ConnectionsEstablished: 1,
  ErrorPortAllocation: 2,
  IdleTimeouts: 3,
  PacketsDropped: 4,
  BytesInFromSource: 5,
  BytesOutToDestination: 6,
  BytesInFromDestination: 7,
  BytesOutToSource: 8,
  PacketsInFromSource: 9,
  PacketsOutToDestination: 10,
  PacketsInFromDestination: 11,
  PacketsOutToSource: 12,
} as const;
export const NAT_COUNTER_COUNT = 13;

const PORT_LO = 1024, PORT_HI = 65535;
const PROTO_TCP = 6;
const TCP_ESTABLISHED_STATE: number = TcpState.Established;

/** The per-destination bucket of a session to (dst, dport, proto): dport << 8 | proto; every ICMP query shares 1 << 16. */
function sessionBucket(proto: number, dport: number): number {
  return proto === 1 ? (1 << 16) : ((dport << 8) | proto);
}

export class NatGatewayState {
  readonly name: string;
  /** The gateway's private address (translated source inside the VPC path). */
  ip: number;
  /** Elastic IP (public type) or 0. */
  publicIp: number;
  subnet: number;
  isPublic: boolean;
  maxPerDestination: number;
  readonly sessions: Conntrack;
  readonly counters = new Float64Array(NAT_COUNTER_COUNT);
  /**
   * Active sessions per destination (dst, dport << 8 | proto; ICMP: 1 << 16),
   * for maxPerDestination. Seeded, bounded; a destination whose last session
   * ends is deleted, so any number of distinct destinations over the
   * gateway's life fits (docs/tables.md).
   */
  readonly destinations: PairCounts;
  private readonly orig = new FlowTuple();
  private readonly reply = new FlowTuple();
  /** Per session: the destination bucket key, to decrement on expiry. */
  private readonly sessDst: Int32Array;
  private readonly sessPortProto: Int32Array;
  private portCursor: number;
  private readonly onExpire: (flow: number) => void;
  /** Told of each session the current sweep ends (observers), or null. */
  private sweepEnded: ((nat: NatGatewayState, flow: number) => void) | null = null;

  /** opts.seed: fixed in tests (hash seeds of the session and destination tables); random per process otherwise. */
  constructor(name: string, opts: { ip: number; publicIp: number; subnet: number; isPublic: boolean; maxPerDestination: number; idleTimeout: number; maxSessions: number; seed?: number }) {
    this.name = name;
    this.ip = opts.ip;
    this.publicIp = opts.publicIp;
    this.subnet = opts.subnet;
    this.isPublic = opts.isPublic;
    this.maxPerDestination = opts.maxPerDestination;
    const t = opts.idleTimeout;
    const limits = { max: opts.maxSessions, timeouts: { tcpEstablished: t, tcp: Math.min(t, 240), udp: t, udpStream: t, icmp: t, other: t } };
    // Stryker disable next-line LogicalOperator: equivalent: the seed only places keys in the session table (lookups, saved bytes and every count are the same whatever it is)
    this.sessions = new Conntrack(limits, opts.seed ?? randomSeed());
    // Every live session holds one count, so at most maxSessions destinations.
    this.destinations = new PairCounts(opts.maxSessions, opts.seed ?? randomSeed());
    this.sessDst = new Int32Array(opts.maxSessions);
    this.sessPortProto = new Int32Array(opts.maxSessions);
    this.portCursor = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    this.onExpire = (flow: number) => {
      const pool = this.sessions.pool;
      // Stryker disable next-line ConditionalExpression: equivalent: only TCP sessions ever hold TcpState.Established (create zeroes the state, touch moves it for TCP only, a restore refuses a state on any other protocol)
      if (pool.proto[flow] === PROTO_TCP && pool.tcpState[flow] === TCP_ESTABLISHED_STATE) this.counters[NatCounter.IdleTimeouts]++;
      this.destinations.sub(this.sessDst[flow], this.sessPortProto[flow]);
      if (this.sweepEnded !== null) this.sweepEnded(this, flow);
    };
  }

  update(opts: { ip: number; publicIp: number; subnet: number; isPublic: boolean; maxPerDestination: number; idleTimeout: number }): void {
    this.ip = opts.ip;
    this.publicIp = opts.publicIp;
    this.subnet = opts.subnet;
    this.isPublic = opts.isPublic;
    this.maxPerDestination = opts.maxPerDestination;
    const t = opts.idleTimeout;
    this.sessions.setTimeouts({ tcpEstablished: t, tcp: Math.min(t, 240), udp: t, udpStream: t, icmp: t, other: t });
  }

  /** Active TCP connections (ActiveConnectionCount). Control plane: O(sessions). */
  activeTcp(): number {
    const pool = this.sessions.pool;
    let n = 0;
    // Stryker disable next-line EqualityOperator: equivalent mutant (f <= pool.max): live[pool.max] is past the table (undefined), never 1
    for (let f = 0; f < pool.max; f++) if (pool.live[f] === 1 && pool.proto[f] === PROTO_TCP) n++;
    return n;
  }

  /** Ends idle sessions; `ended` (made once, or null) sees each while its fields are readable. */
  sweep(nowMs: number, ended: ((nat: NatGatewayState, flow: number) => void) | null = null): void {
    this.sweepEnded = ended;
    this.sessions.sweep(nowMs, 20_000, this.onExpire);
    this.sweepEnded = null;
  }

  /** Ends one session now (`vpcd conntrack flush`): its destination's count, then the entry. Control plane. */
  removeSession(flow: number): void {
    if (this.sessions.pool.live[flow] !== 1) return;
    this.destinations.sub(this.sessDst[flow], this.sessPortProto[flow]);
    this.sessions.remove(flow);
  }

  /** flowRef of the session for an inside packet (orig direction), or NO_FLOW. */
  lookupInside(src: number, dst: number, sport: number, dport: number, proto: number): number {
    return this.sessions.lookupTuple(this.insideKey(src, dst, sport, dport, proto));
  }

  /** The orig key of a session for an inside packet (ICMP: FlowTuple.setIcmp, so a message that is no query has no identifier). */
  private insideKey(src: number, dst: number, sport: number, dport: number, proto: number): FlowTuple {
    return proto === 1 ? this.orig.setIcmp(src, dst, dport >>> 8, dport & 0xff, sport, 0) : this.orig.set(src, dst, sport, dport, proto, 0);
  }

  /**
   * flowRef of the session an outside packet answers (sent from src:sport to the
   * gateway's address :dport; ICMP: sport = identifier, dport = type << 8 | code), or NO_FLOW.
   */
  lookupOutside(src: number, sport: number, dport: number, proto: number): number {
    return this.sessions.lookup(src, this.ip, sport, dport, proto, 0);
  }

  /**
   * A new session for an inside packet. ICMP: sport = echo identifier, dport = type << 8 | code.
   * Returns the flow index, or -1 when no port could be allocated (counted in
   * ErrorPortAllocation), -2 when the session table or the per-destination
   * table is full (counted in PacketsDropped).
   */
  create(src: number, dst: number, sport: number, dport: number, proto: number, nowMs: number): number {
    const pp = sessionBucket(proto, dport);
    const used = this.destinations.get(dst, pp);
    if (used >= this.maxPerDestination) {
      this.counters[NatCounter.ErrorPortAllocation]++;
      return -1;
    }
    const o = this.insideKey(src, dst, sport, dport, proto);
    // Find a free gateway port for this destination: the reply key must be unused.
    const span = PORT_HI - PORT_LO + 1;
    let port = -1;
    // Stryker disable next-line EqualityOperator: equivalent: k = span looks at the cursor's port again, already found taken
    for (let k = 0; k < span; k++) {
      const cand = PORT_LO + ((this.portCursor - PORT_LO + k) % span);
      const ref = proto === 1
        ? this.sessions.lookup(dst, this.ip, cand, 0, proto, 0)
        : this.sessions.lookup(dst, this.ip, dport, cand, proto, 0);
      if (ref === NO_FLOW) {
        port = cand;
        this.portCursor = cand + 1 > PORT_HI ? PORT_LO : cand + 1;
        break;
      }
    }
    // Stryker disable next-line EqualityOperator: equivalent: a port found is >= 1024, never 0
    if (port < 0) {
      this.counters[NatCounter.ErrorPortAllocation]++;
      return -1;
    }
    const r = this.reply;
    // ICMP: the answer to the query (echo 8 -> reply 0, timestamp 13 -> 14, ...) with the new identifier
    if (proto === 1) r.set(dst, this.ip, port, (icmpPairedType(dport >>> 8) & 0xff) << 8 | (dport & 0xff), proto, 0);
    else r.set(dst, this.ip, dport, port, proto, 0);
    if (!this.destinations.add(dst, pp)) {
      this.counters[NatCounter.PacketsDropped]++;
      return -2;
    }
    const f = this.sessions.create(o, r, initialTimeoutClass(proto), nowMs);
    if (f < 0) {
      this.destinations.sub(dst, pp);
      this.counters[NatCounter.PacketsDropped]++;
      return -2;
    }
    this.sessions.pool.natAddr[f] = this.ip;
    this.sessions.pool.natPort[f] = port;
    this.sessDst[f] = dst | 0;
    this.sessPortProto[f] = pp;
    this.counters[NatCounter.ConnectionAttempts]++;
    return f;
  }

  /**
   * Restart: the sessions (Conntrack.serialize, allocated ports in natPort),
   * the port cursor and the per-destination counts, times relative to nowMs.
   *
   *   u32 portCursor, u32 n, n × (i32 destination, i32 port << 8 | proto, i32 count), flow section
   */
  serialize(nowMs: number): Uint8Array {
    const dests: number[] = [];
    this.destinations.forEach((a, b, n) => dests.push(a, b, n));
    const flows = this.sessions.serialize(nowMs);
    const head = 8 + dests.length * 4;
    const out = new Uint8Array(head + flows.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, this.portCursor, true);
    dv.setUint32(4, dests.length / 3, true);
    dests.forEach((v, i) => dv.setInt32(8 + i * 4, v, true));
    out.set(flows, head);
    return out;
  }

  /**
   * Restart: the sessions of serialize() on this process's clock (`baseMs`
   * is the save instant), into this fresh gateway. Every session must be
   * this gateway's (its address, a port in 1024-65535 as the reply key's
   * destination port or ICMP identifier) and the per-destination counts
   * must be what the sessions add up to. Throws SavedStateError, leaving
   * the gateway empty. Returns the number of sessions.
   */
  restore(bytes: Uint8Array, baseMs: number): number {
    // Stryker disable next-line EqualityOperator: equivalent: 8 bytes hold no flow section, which decodeFlows refuses as truncated too
    if (bytes.length < 8) throw new SavedStateError(`NAT gateway ${this.name}: section truncated`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const cursor = dv.getUint32(0, true);
    const n = dv.getUint32(4, true);
    // Stryker disable next-line EqualityOperator: equivalent (bytes.length <= 8 + n * 12): no flow section follows, which decodeFlows refuses as truncated too
    if (cursor < PORT_LO || cursor > PORT_HI || n > this.sessions.max || bytes.length < 8 + n * 12) {
      throw new SavedStateError(`NAT gateway ${this.name}: bad header (cursor ${cursor}, ${n} destinations)`);
    }
    const saved = new Map<string, number>();
    for (let i = 0; i < n; i++) saved.set(`${dv.getInt32(8 + i * 12, true)}/${dv.getInt32(12 + i * 12, true)}`, dv.getInt32(16 + i * 12, true));
    const d = decodeFlows(bytes.subarray(8 + n * 12), { max: this.sessions.max, instances: 0 });
    const counted = new Map<string, number>();
    for (let i = 0; i < d.count; i++) {
      const k = i * FLOW_KEY_WORDS;
      const proto = d.proto[i];
      const port = d.natPort[i];
      const replyPort = proto === 1 ? d.key[k + 6] >>> 16 : d.key[k + 6] & 0xffff;
      if ((d.natAddr[i] | 0) !== (this.ip | 0) || (d.key[k + 5] | 0) !== (this.ip | 0) || port < PORT_LO || replyPort !== port) {
        throw new SavedStateError(`NAT gateway ${this.name}: session ${i} is not one of this gateway's (address or port)`);
      }
      const key = `${d.key[k + 1]}/${sessionBucket(proto, d.key[k + 2] & 0xffff)}`;
      counted.set(key, (counted.get(key) ?? 0) + 1);
    }
    if (counted.size !== saved.size || [...counted].some(([key, c]) => saved.get(key) !== c)) {
      throw new SavedStateError(`NAT gateway ${this.name}: the per-destination counts do not match the sessions`);
    }
    const flows = this.sessions.restore(d, baseMs, 0);
    for (let i = 0; i < d.count; i++) {
      const f = flows[i]!;
      const dst = d.key[i * FLOW_KEY_WORDS + 1];
      const pp = sessionBucket(d.proto[i], d.key[i * FLOW_KEY_WORDS + 2] & 0xffff);
      this.sessDst[f] = dst;
      this.sessPortProto[f] = pp;
      if (!this.destinations.add(dst, pp)) {
        this.clear();
        throw new SavedStateError(`NAT gateway ${this.name}: the destination table is full`);
      }
    }
    this.portCursor = cursor;
    return d.count;
  }

  /** Forgets every session (a restore that is undone). Control plane. */
  clear(): void {
    this.sessions.clear();
    this.destinations.clear();
  }

  /** Records a packet on a session; counts ConnectionEstablished when TCP reaches it (or a UDP/ICMP reply first arrives). */
  touch(ref: number, nowMs: number, len: number, tcpFlags: number): void {
    const s = this.sessions;
    const f = ref >>> 1;
    const before = s.pool.tcpState[f];
    const seenBefore = (s.pool.flags[f] & 0x02) !== 0;
    s.touch(ref, nowMs, len, tcpFlags);
    if (s.pool.proto[f] === PROTO_TCP) {
      if (before !== TCP_ESTABLISHED_STATE && s.pool.tcpState[f] === TCP_ESTABLISHED_STATE) this.counters[NatCounter.ConnectionsEstablished]++;
    } else if (!seenBefore && (ref & 1) === 1) {
      this.counters[NatCounter.ConnectionsEstablished]++;
    }
  }
}

