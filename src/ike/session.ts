/**
 * IKEv2 session machines, sans-IO (RFC 7296): `IkeInitiator` (role cgw) and
 * `IkeResponder` (role vgw). No sockets, no clock, no timers: the caller feeds
 * datagrams and the time, and carries out the returned actions.
 *
 *   start(nowMs)                         -> actions
 *   onDatagram(bytes, from, nowMs, port) -> actions   (never throws)
 *   onTimer(nowMs)                       -> actions   (call at nextTimerMs())
 *
 * One session = one tunnel. It owns every IKE SA of that tunnel: the current
 * one, half-open ones (responder), and old ones that are being deleted after an
 * IKE_SA rekey. This class only composes the parts (see README.md): inbound
 * messages (transport.ts) go to the exchange that owns them (handshake-*.ts,
 * create-child.ts, ike-rekey.ts, informational.ts); queued work is started
 * here one exchange at a time (message-ID window 1); time is timers.ts.
 *
 * Logging: `log` actions never contain keys, nonces, PSKs or AUTH data.
 */
import type { ChildSa } from '../ipsec/sa-types.js';
import type { IkeAction, IkeStats, TunnelState, UdpEndpoint } from './actions.js';
import { toHex } from './bytes.js';
import { resolveConfig, type IkeAuthConfig, type IkeSessionConfig, type ResolvedIkeConfig } from './config.js';
import { ExchangeType, NotifyType } from './constants.js';
import { onChildCreateResponse, onCreateChildRequest, startChildCreate } from './create-child.js';
import { IKE_ERROR_NAMES, IkeError, IkeErrorCode } from './errors.js';
import { connect, onAuthResponse, onInitResponse } from './handshake-initiator.js';
import { CookieJar, onAuthRequest, onInitRequest } from './handshake-responder.js';
import type { IkeHeader } from './header.js';
import { onIkeRekeyResponse, startIkeRekey } from './ike-rekey.js';
import {
  onInformationalRequest, onInformationalResponse, sendDeleteIkeOnce, startDeleteChild, startDeleteIke, startDpd,
} from './informational.js';
import { dropSa, hasActiveChild } from './lifecycle.js';
import type { Payload } from './payloads.js';
import { describeSelected } from './proposals.js';
import type { IkeSa, Intent, RequestCtx } from './sa-state.js';
import { SessionContext } from './session-context.js';
import { nextTimerMs, onTimer } from './timers.js';
import { decodeSession, restoreSession, saveSession, type SavedSession } from './session-state.js';
import { SavedStateError } from '../lib/saved-fields.js';
import { admit } from './transport.js';

export type { IkeAction, IkeStats, LogLevel, TunnelState, UdpEndpoint } from './actions.js';

export class IkeSession {
  readonly role: 'initiator' | 'responder';
  /** Refusals by IkeErrorCode (index = code, names in IKE_ERROR_NAMES). */
  readonly errors: Float64Array;
  readonly stats: IkeStats;

  private readonly s: SessionContext;
  private readonly cookies: CookieJar;
  /** What the config was built from (credentials are re-resolved against it). */
  private readonly source: IkeSessionConfig;

  constructor(config: IkeSessionConfig, role: 'initiator' | 'responder') {
    this.role = role;
    this.source = config;
    this.s = new SessionContext(resolveConfig(config, role), role);
    this.cookies = new CookieJar(this.s.config.random);
    this.errors = this.s.errors;
    this.stats = this.s.stats;
    this.s.bind({ connect: (nowMs) => connect(this.s, nowMs), pump: (sa, nowMs) => this.pump(sa, nowMs) });
  }

  // ------------------------------------------------------------- public API

  get config(): ResolvedIkeConfig {
    return this.s.config;
  }

  get tunnelState(): TunnelState {
    return this.s.state;
  }

  /** The CHILD_SAs currently installed (newest last). */
  get childSas(): ChildSa[] {
    const out: ChildSa[] = [];
    for (const sa of this.s.sas.values()) for (const c of sa.children) out.push(c.sa);
    return out;
  }

  /** Observability: the current IKE SA's SPIs, algorithms and ports (no keys). */
  get ikeSaInfo(): { spiI: string; spiR: string; initiator: boolean; proposal: string; localPort: number; peer: UdpEndpoint; natt: boolean; fragmentation: boolean } | undefined {
    const sa = this.current;
    if (!sa || !sa.sel) return undefined;
    return {
      spiI: toHex(sa.spiI), spiR: toHex(sa.spiR), initiator: sa.initiator, proposal: describeSelected(sa.sel),
      localPort: sa.localPort, peer: sa.peer, natt: sa.natt, fragmentation: sa.fragOk,
    };
  }

  /** Number of IKE SAs held (all states). */
  get ikeSaCount(): number {
    return this.s.sas.size;
  }

  /** Error counters by name, for metrics. */
  errorCounts(): Record<string, number> {
    const r: Record<string, number> = {};
    IKE_ERROR_NAMES.forEach((n, i) => {
      r[n] = this.errors[i];
    });
    return r;
  }

  start(nowMs: number): IkeAction[] {
    return this.s.run(() => {
      this.s.started = true;
      if (this.role === 'initiator') connect(this.s, nowMs);
    });
  }

  /** Tear down: DELETE for the IKE SA (not retransmitted), CHILD_SAs removed, state down. */
  stop(nowMs: number): IkeAction[] {
    return this.s.run(() => {
      this.s.started = false;
      this.s.reconnectAtMs = Infinity;
      for (const sa of [...this.s.sas.values()]) {
        if (sa.state === 'established' || sa.state === 'rekeyed') sendDeleteIkeOnce(this.s, sa);
        dropSa(this.s, sa, 'stopped', nowMs);
      }
      this.s.setState('down', 'stopped');
    });
  }

  /**
   * Restart of the daemon: this session's state (session-state.ts), times
   * relative to nowMs, or why it cannot be saved (the tunnel is then
   * negotiated again by the next process).
   */
  save(nowMs: number): { saved: SavedSession } | { reason: string } {
    return saveSession(this.s, nowMs);
  }

  /**
   * Restart of the daemon: takes state saved by save() into this session,
   * which must not have started (call instead of start()); `baseMs` is the
   * instant of this clock the save maps to. Throws SavedStateError (the
   * session is unchanged) when the state does not fit its configuration,
   * or when `accept`, shown the CHILD_SAs first, throws it. Returns the
   * CHILD_SAs for the data plane and the actions (tunnel up).
   */
  restore(saved: unknown, baseMs: number, accept?: (children: readonly ChildSa[]) => void): { children: ChildSa[]; actions: IkeAction[] } {
    const r = decodeSession(saved, this.s, baseMs);
    if (this.s.started || this.s.sas.size > 0) throw new SavedStateError('the session already started');
    accept?.(r.sa.children.map((c) => c.sa));
    let children: ChildSa[] = [];
    const actions = this.s.run(() => {
      children = restoreSession(this.s, r);
    });
    return { children, actions };
  }

  /** Begin (or restart) an IKE_SA_INIT towards the peer, whatever the role. */
  initiate(nowMs: number): IkeAction[] {
    return this.s.run(() => {
      this.s.started = true;
      connect(this.s, nowMs);
    });
  }

  /** Force a CHILD_SA rekey now (operator / tests). */
  rekeyChild(nowMs: number): IkeAction[] {
    return this.s.run(() => {
      const sa = this.current;
      const child = sa?.children.find((c) => c.status === 'installed');
      if (sa && child) {
        child.status = 'rekeying';
        sa.queue.push({ kind: 'child-rekey', child });
        this.pump(sa, nowMs);
      }
    });
  }

  /** Force an IKE_SA rekey now (operator / tests). */
  rekeyIke(nowMs: number): IkeAction[] {
    return this.s.run(() => {
      const sa = this.current;
      if (sa && sa.state === 'established' && !sa.queue.some((q) => q.kind === 'ike-rekey')) {
        sa.rekeyAtMs = Infinity;
        sa.queue.push({ kind: 'ike-rekey' });
        this.pump(sa, nowMs);
      }
    });
  }

  /**
   * Checks credentials for this tunnel (PSK length, certificate identity) and
   * returns the configuration that would use them. Changes nothing. Throws
   * IkeError(Config) naming what is wrong, never the secret.
   */
  prepareAuth(auth: IkeAuthConfig): ResolvedIkeConfig {
    return resolveConfig({ ...this.source, auth }, this.role);
  }

  /**
   * Uses the credentials (and the identities derived from them) of a config
   * from prepareAuth() for every later IKE_AUTH, ours and the peer's. Live
   * SAs are untouched: IKEv2 rekeys do not authenticate again, so the new
   * credentials take effect when the tunnel is next established.
   */
  applyAuth(prepared: ResolvedIkeConfig): void {
    this.s.config = { ...this.s.config, auth: prepared.auth, localId: prepared.localId, remoteId: prepared.remoteId };
  }

  /** The data plane saw authentic ESP from the peer: counts as liveness for DPD. */
  notifyActivity(nowMs: number): void {
    const sa = this.current;
    if (sa) sa.lastRxMs = Math.max(sa.lastRxMs, nowMs);
  }

  onDatagram(bytes: Uint8Array, from: UdpEndpoint, nowMs: number, localPort?: number): IkeAction[] {
    return this.s.run(() => {
      this.s.stats.rxDatagrams++;
      const port = localPort ?? this.s.config.localIkePort;
      const m = admit(this.s, bytes, from, nowMs, port);
      if (!m) return;
      switch (m.kind) {
        case 'init-request':
          onInitRequest(this.s, this.cookies, m.parsed, from, port, nowMs);
          return;
        case 'init-response':
          onInitResponse(this.s, m.sa, m.parsed, from, nowMs);
          return;
        case 'response':
          this.onResponse(m.sa, m.h, m.payloads, m.ctx, nowMs);
          this.pump(m.sa, nowMs);
          return;
        case 'request':
          this.onRequest(m.sa, m.h, m.payloads, nowMs);
          if (this.s.holds(m.sa)) this.pump(m.sa, nowMs);
          return;
      }
    });
  }

  onTimer(nowMs: number): IkeAction[] {
    return this.s.run(() => onTimer(this.s, nowMs));
  }

  /** When onTimer should next be called (monotonic ms), Infinity if never. */
  nextTimerMs(): number {
    return nextTimerMs(this.s);
  }

  // ------------------------------------------------------------- composition

  /** The IKE SA that carries the tunnel. */
  private get current(): IkeSa | undefined {
    return this.s.current;
  }

  /** Starts the next queued exchange on `sa` if none is outstanding. */
  private pump(sa: IkeSa, nowMs: number): void {
    const s = this.s;
    while (!sa.pending && sa.queue.length && nowMs >= sa.retryAtMs && s.holds(sa)) {
      const intent = sa.queue.shift() as Intent;
      if (sa.state !== 'established' && intent.kind !== 'delete-ike' && intent.kind !== 'delete-child') continue;
      switch (intent.kind) {
        case 'dpd':
          startDpd(s, sa, nowMs);
          break;
        case 'delete-child':
          startDeleteChild(s, sa, intent.child, nowMs);
          break;
        case 'delete-ike':
          startDeleteIke(s, sa, nowMs);
          break;
        case 'child-rekey':
          if (!sa.children.includes(intent.child) || intent.child.status !== 'rekeying') break;
          startChildCreate(s, sa, intent.child, nowMs);
          break;
        case 'child-create':
          if (hasActiveChild(sa)) break;
          startChildCreate(s, sa, undefined, nowMs);
          break;
        case 'ike-rekey':
          startIkeRekey(s, sa, nowMs);
          break;
      }
    }
  }

  /** The answer to our request `ctx` goes to the exchange that sent it. */
  private onResponse(sa: IkeSa, h: IkeHeader, payloads: Payload[], ctx: RequestCtx, nowMs: number): void {
    switch (ctx.kind) {
      case 'auth':
        if (h.exchange !== ExchangeType.IKE_AUTH) throw new IkeError(IkeErrorCode.BadExchange, 'response exchange mismatch');
        onAuthResponse(this.s, sa, payloads, ctx, nowMs);
        return;
      case 'child-rekey':
        onChildCreateResponse(this.s, sa, payloads, ctx, nowMs);
        return;
      case 'ike-rekey':
        onIkeRekeyResponse(this.s, sa, payloads, ctx, nowMs);
        return;
      case 'delete-child':
      case 'delete-ike':
      case 'dpd':
        onInformationalResponse(this.s, sa, ctx, nowMs);
        return;
      case 'init':
        return;
    }
  }

  /** The peer's request goes to the exchange it names. */
  private onRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
    switch (h.exchange) {
      case ExchangeType.IKE_AUTH:
        onAuthRequest(this.s, sa, h, payloads, nowMs);
        return;
      case ExchangeType.CREATE_CHILD_SA:
        onCreateChildRequest(this.s, sa, h, payloads, nowMs);
        return;
      case ExchangeType.INFORMATIONAL:
        onInformationalRequest(this.s, sa, h, payloads, nowMs);
        return;
      default:
        this.s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
        throw new IkeError(IkeErrorCode.BadExchange, `unknown exchange ${h.exchange}`);
    }
  }
}

/** Role cgw: initiates on start() and keeps the tunnel up. */
export class IkeInitiator extends IkeSession {
  constructor(config: IkeSessionConfig) {
    super(config, 'initiator');
  }
}

/** Role vgw: answers the peer's IKE_SA_INIT; demands COOKIEs under load. */
export class IkeResponder extends IkeSession {
  constructor(config: IkeSessionConfig) {
    super(config, 'responder');
  }
}
