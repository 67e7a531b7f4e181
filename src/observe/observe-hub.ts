/**
 * Observers of the data plane's event ring: `vpcd observe` clients on the
 * control socket and the live page's server-sent events.
 *
 * The hub switches the ring on while at least one subscriber is attached,
 * drains it after each batch (and after each conntrack sweep), decodes each
 * record once, and queues the encoded line for every subscriber whose
 * filter matches. Each subscriber has its own bounded queue: a slow reader
 * loses events (counted, and told with a `lost` notice once its queue has
 * room again); the data plane never waits. Records the ring itself could not
 * take are told to every subscriber the same way.
 */
import type { Conntrack } from '../conntrack/conntrack.js';
import { FLOW_KEY_WORDS } from '../conntrack/flow-pool.js';
import { EventRing, EventType, RULE_NONE, VERDICT_ACCEPT } from './event-ring.js';
import { Stage } from './event-vocabulary.js';
import { decodeEvent, lostNotice, type EventNames, type ObserveEvent } from './event-decode.js';
import type { EventFilter } from './event-filter.js';

/** What a NAT gateway session's end is read from (nat/nat-gateway.ts NatGatewayState). */
export interface NatSessions {
  readonly name: string;
  readonly ip: number;
  readonly publicIp: number;
  readonly sessions: Conntrack;
}

/** Subscribers at once, at most (socket clients and live-page streams together). */
export const MAX_SUBSCRIBERS = 32;
/** Lines a subscriber may have waiting before it loses events. */
export const DEFAULT_QUEUE_LINES = 2048;
/** Records decoded per drain, at most (the rest wait for the next batch). */
const DRAIN_MAX = 8192;

/** Where a subscriber's lines go. write() returns false when it cannot take more now: call Subscription.resume() later. */
export interface EventSink {
  write(line: string): boolean;
  /** After a run of writes (a batch's events): a chance to send them as one. */
  flush?(): void;
}

export class Subscription {
  private readonly queue: (string | undefined)[];
  private head = 0;
  private size = 0;
  private blocked = false;
  /** Events this subscriber lost, ever. */
  lostTotal = 0;
  /** Lost in its queue since the last notice it got. */
  private lostUntold = 0;
  /** Lost in the ring since the last notice it got. */
  private ringUntold = 0;
  closed = false;

  constructor(readonly filter: EventFilter | null, private readonly sink: EventSink, readonly maxLines: number, private readonly hub: ObserveHub) {
    this.queue = new Array<string | undefined>(maxLines);
  }

  /** Queues a line, or counts it lost when the queue is full. */
  offer(line: string): void {
    if (this.size === this.maxLines) {
      this.lostTotal++;
      this.lostUntold++;
      this.hub.queueLostTotal++;
      return;
    }
    this.queue[(this.head + this.size) % this.maxLines] = line;
    this.size++;
  }

  /** Records the ring lost since the last drain: told with the next pump that has room. */
  ringLost(n: number): void {
    this.ringUntold += n;
  }

  /** Queues a notice for each kind of loss not told yet, while there is room (a notice waits otherwise). */
  private tellLost(): void {
    if (this.ringUntold > 0 && this.size < this.maxLines) {
      this.offer(JSON.stringify(lostNotice(this.ringUntold, 'ring')));
      this.ringUntold = 0;
    }
    if (this.lostUntold > 0 && this.size < this.maxLines) {
      const n = this.lostUntold;
      this.lostUntold = 0;
      this.offer(JSON.stringify(lostNotice(n, 'queue')));
    }
  }

  /** Hands queued lines to the sink until it pushes back. */
  pump(): void {
    if (this.closed) return;
    this.tellLost();
    while (!this.blocked && this.size > 0) {
      const line = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head = (this.head + 1) % this.maxLines;
      this.size--;
      if (!this.sink.write(line)) this.blocked = true;
    }
    this.sink.flush?.();
  }

  /** The sink can take more (a socket's 'drain'). */
  resume(): void {
    this.blocked = false;
    this.pump();
  }

  get waiting(): number {
    return this.size;
  }

  close(): void {
    this.hub.unsubscribe(this);
  }
}

export class SubscriberLimitError extends Error {}

export class ObserveHub {
  private readonly subs = new Set<Subscription>();
  /** Events lost in subscribers' queues, ever. */
  queueLostTotal = 0;
  /** Events decoded and offered, ever. */
  delivered = 0;
  private readonly read: (ring: EventRing, slot: number) => void;
  /** A conntrack sweep's callback (made once): each expiring flow as a flow-end record. */
  readonly flowEnded: (flow: number) => void;
  /** A NAT gateway sweep's callback (made once): each expiring session as a flow-end record with its translation. */
  readonly natEnded: (nat: NatSessions, flow: number) => void;
  private ct: Conntrack | null = null;

  constructor(readonly ring: EventRing, private names: () => EventNames) {
    let current: EventNames | null = null;
    this.read = (r, slot) => {
      current ??= this.names();
      this.dispatch(decodeEvent(r, slot, current));
    };
    this.drainStart = () => { current = null; };
    this.flowEnded = (flow) => this.emitEnd(flow);
    this.natEnded = (nat, flow) => this.emitNatEnd(nat, flow);
  }

  private readonly drainStart: () => void;

  get subscribers(): number {
    return this.subs.size;
  }

  /** Attaches a subscriber; throws SubscriberLimitError past MAX_SUBSCRIBERS. */
  subscribe(filter: EventFilter | null, sink: EventSink, maxLines = DEFAULT_QUEUE_LINES): Subscription {
    if (this.subs.size >= MAX_SUBSCRIBERS) throw new SubscriberLimitError(`too many observers (at most ${MAX_SUBSCRIBERS})`);
    const s = new Subscription(filter, sink, maxLines, this);
    this.subs.add(s);
    this.ring.active = true;
    return s;
  }

  unsubscribe(s: Subscription): void {
    s.closed = true;
    this.subs.delete(s);
    if (this.subs.size === 0) {
      this.ring.active = false;
      this.ring.clear();
    }
  }

  /** Decodes what the ring holds and feeds every subscriber. */
  drain(): void {
    if (this.subs.size === 0) return;
    this.drainStart();
    const lost = this.ring.drain(this.read, DRAIN_MAX);
    if (lost > 0) for (const s of this.subs) s.ringLost(lost);
    for (const s of this.subs) s.pump();
  }

  private dispatch(e: ObserveEvent): void {
    let line: string | undefined;
    for (const s of this.subs) {
      if (s.filter !== null && !s.filter.matches(e)) continue;
      line ??= JSON.stringify(e);
      s.offer(line);
    }
    this.delivered++;
  }

  /** The conntrack whose sweeps report flow ends (flowEnded reads its pool). */
  watchConntrack(ct: Conntrack): void {
    this.ct = ct;
  }

  /** A flow that ends (idle expiry): its tuple, the ENI that tracked it, packets and bytes both ways. */
  private emitEnd(flow: number): void {
    const ct = this.ct, ring = this.ring;
    if (ct === null || !ring.active) return;
    const pool = ct.pool, k = flow * FLOW_KEY_WORDS;
    const zp = pool.key[k + 3]!, ports = pool.key[k + 2]!;
    const e = pool.egressInstance[flow]!, i = pool.ingressInstance[flow]!;
    const s = ring.put(EventType.End, VERDICT_ACCEPT, Stage.None, 0, -1, RULE_NONE, e >= 0 ? e : i, zp & 0xff,
      pool.key[k]!, pool.key[k + 1]!, ports >>> 16, ports & 0xffff);
    ring.setCounts(s, pool.packets[flow * 2]! + pool.packets[flow * 2 + 1]!, pool.bytes[flow * 2]! + pool.bytes[flow * 2 + 1]!);
  }

  /** A NAT gateway session that idles out: the inside tuple, the gateway's address and port, packets and bytes. */
  private emitNatEnd(nat: NatSessions, flow: number): void {
    const ring = this.ring;
    if (!ring.active) return;
    const pool = nat.sessions.pool, k = flow * FLOW_KEY_WORDS;
    const ports = pool.key[k + 2]!;
    const s = ring.put(EventType.End, VERDICT_ACCEPT, Stage.Nat, 0, this.names().natGateways.indexOf(nat.name), RULE_NONE, -1, pool.key[k + 3]! & 0xff,
      pool.key[k]!, pool.key[k + 1]!, ports >>> 16, ports & 0xffff);
    ring.setTranslation(s, nat.publicIp !== 0 ? nat.publicIp : nat.ip, pool.key[k + 1]!, pool.natPort[flow]!, ports & 0xffff);
    ring.setCounts(s, pool.packets[flow * 2]! + pool.packets[flow * 2 + 1]!, pool.bytes[flow * 2]! + pool.bytes[flow * 2 + 1]!);
  }

  /** Every subscriber goes (daemon stop). */
  closeAll(): void {
    for (const s of [...this.subs]) this.unsubscribe(s);
  }
}
