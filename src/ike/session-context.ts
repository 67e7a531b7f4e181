/**
 * The state one session shares between its exchange modules, and the
 * plumbing they all use: the action list of the call in progress, logs, error
 * counters, the tunnel state, fresh SPIs, and sending requests and responses
 * on an IKE SA (message IDs, retransmission bookkeeping, the non-ESP marker).
 *
 * Modules above this one reach each other only through the session (the
 * `SessionDriver` it binds here), so the import graph has no cycles.
 */
import type { IkeAction, IkeStats, LogLevel, TunnelState } from './actions.js';
import { newIkeStats } from './actions.js';
import { concat, readU32, toHex } from './bytes.js';
import type { ResolvedIkeConfig } from './config.js';
import { exchangeName } from './constants.js';
import { IKE_ERROR_COUNT, IkeError, IkeErrorCode } from './errors.js';
import type { IkeHeader } from './header.js';
import { EMPTY_BYTES, notify, type Payload } from './payloads.js';
import { protect } from './protection.js';
import { allZero, NON_ESP_MARKER, payloadNames, retransmitTimeout, type IkeSa, type RequestCtx } from './sa-state.js';

/** What lower modules ask of the session as a whole (bound by IkeSession). */
export interface SessionDriver {
  /** Start a fresh IKE_SA_INIT towards the peer (any attempt in progress is dropped). */
  connect(nowMs: number): void;
  /** Start the next queued exchange on `sa` if none is outstanding. */
  pump(sa: IkeSa, nowMs: number): void;
}

export class SessionContext {
  /** Replaced (never mutated) when new credentials are applied. */
  config: ResolvedIkeConfig;
  readonly role: 'initiator' | 'responder';
  /** Refusals by IkeErrorCode (index = code, names in IKE_ERROR_NAMES). */
  readonly errors = new Float64Array(IKE_ERROR_COUNT);
  readonly stats: IkeStats = newIkeStats();
  /** Every IKE SA of this tunnel by our SPI (hex). */
  readonly sas = new Map<string, IkeSa>();
  /** SPIs (ours) of recently dropped IKE SAs: late answers to them are ignored quietly. */
  readonly deleted = new Set<string>();
  /** The IKE SA that carries the tunnel. */
  current: IkeSa | undefined = undefined;
  state: TunnelState = 'down';
  started = false;
  reconnectAtMs = Infinity;
  /** Consecutive failures (reconnect back-off). */
  failures = 0;
  childSerial = 0;
  private out: IkeAction[] = [];
  private bound: SessionDriver | undefined = undefined;

  constructor(config: ResolvedIkeConfig, role: 'initiator' | 'responder') {
    this.config = config;
    this.role = role;
  }

  bind(driver: SessionDriver): void {
    this.bound = driver;
  }

  get driver(): SessionDriver {
    if (!this.bound) throw new IkeError(IkeErrorCode.Internal, 'session not bound');
    return this.bound;
  }

  /** Runs one entry point: collects its actions; nothing escapes (counted instead). */
  run(f: () => void): IkeAction[] {
    this.out = [];
    try {
      f();
    } catch (e) {
      this.count(e);
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  push(a: IkeAction): void {
    this.out.push(a);
  }

  /** Counts a refusal (IkeError) or an internal error and logs it. */
  count(e: unknown): void {
    if (e instanceof IkeError) {
      this.errors[e.code]++;
      this.log('warn', `refused-${e.codeName}`, e.message);
    } else {
      this.errors[IkeErrorCode.Internal]++;
      this.log('error', 'internal-error', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    }
  }

  log(level: LogLevel, event: string, msg: string): void {
    this.out.push({ kind: 'log', level, event, msg: `${this.config.name}#${this.config.tunnel}: ${msg}` });
  }

  setState(state: TunnelState, reason: string): void {
    if (this.state === state) return;
    this.state = state;
    this.out.push({ kind: 'state', state, reason });
  }

  /** Uniform in [0, 1). */
  rand32(): number {
    return readU32(this.config.random(4), 0) / 0x1_0000_0000;
  }

  /** A fresh, non-zero IKE SPI not in use by this session. */
  newSpi8(): Uint8Array {
    for (;;) {
      const s = this.config.random(8);
      if (!allZero(s) && !this.sas.has(toHex(s))) return s;
    }
  }

  /** A fresh inbound ESP SPI (>= 256) not in use by this session. */
  newChildSpi(): number {
    for (;;) {
      const v = readU32(this.config.random(4), 0);
      if (v < 256) continue;
      let used = false;
      for (const sa of this.sas.values()) for (const c of sa.children) if (c.sa.spiIn === v) used = true;
      if (!used) return v;
    }
  }

  /** Rekey time for a lifetime: lifetime - margin * (1 + fuzz * rand), margin <= lifetime/2, never before lifetime/10. */
  rekeyDelay(lifetimeMs: number): number {
    const margin = Math.min(this.config.rekeyMarginMs, lifetimeMs / 2);
    const d = lifetimeMs - margin * (1 + this.config.rekeyFuzz * this.rand32());
    return Math.max(lifetimeMs / 10, d);
  }

  /** `sa` is still held (not dropped). */
  holds(sa: IkeSa): boolean {
    return this.sas.has(toHex(sa.ourSpi));
  }

  /** Sends datagrams of `sa` (adds the non-ESP marker on the NAT-T port). */
  emit(sa: IkeSa, datagrams: readonly Uint8Array[]): void {
    const natt = sa.localPort === this.config.localNattPort;
    for (const d of datagrams) {
      this.out.push({
        kind: 'send',
        bytes: natt ? concat(NON_ESP_MARKER, d) : d,
        src: { addr: this.config.localAddr, port: sa.localPort },
        dst: sa.peer,
      });
      this.stats.txDatagrams++;
    }
  }

  encode(sa: IkeSa, exchange: number, msgId: number, response: boolean, payloads: readonly Payload[]): Uint8Array[] {
    return protect(this.config, sa, exchange, msgId, response, payloads);
  }

  /** Sends a request with the next message ID; it stays pending (retransmitted) until answered. */
  sendRequest(sa: IkeSa, exchange: number, payloads: readonly Payload[], ctx: RequestCtx, nowMs: number): void {
    const msgId = sa.nextMsgId++;
    const datagrams = this.encode(sa, exchange, msgId, false, payloads);
    sa.pending = { msgId, exchange, datagrams, ctx, firstSentMs: nowMs, tries: 0, nextMs: nowMs + retransmitTimeout(this.config, 0) };
    this.emit(sa, datagrams);
    this.log('debug', 'request-sent', `${exchangeName(exchange)} request ${msgId} (${ctx.kind}, ${datagrams.length} datagram(s)) [${payloadNames(payloads)}]`);
  }

  /** Answers the peer's request `h`; the answer is cached for retransmitted requests. */
  respond(sa: IkeSa, h: IkeHeader, payloads: readonly Payload[]): void {
    const datagrams = this.encode(sa, h.exchange, h.messageId, true, payloads);
    sa.lastResponse = { msgId: h.messageId, datagrams };
    sa.peerNextMsgId = h.messageId + 1;
    this.emit(sa, datagrams);
    this.log('debug', 'response-sent', `${exchangeName(h.exchange)} response ${h.messageId} [${payloadNames(payloads)}]`);
  }

  respondError(sa: IkeSa, h: IkeHeader, notifyType: number, data: Uint8Array = EMPTY_BYTES, protocolId = 0, spi: Uint8Array = EMPTY_BYTES): void {
    this.respond(sa, h, [notify(notifyType, data, protocolId, spi)]);
  }
}
