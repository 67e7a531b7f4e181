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
 * IKE_SA rekey. Exchanges: IKE_SA_INIT (NAT-D, COOKIE, INVALID_KE_PAYLOAD,
 * FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS), IKE_AUTH (PSK or
 * certificates, first CHILD_SA, RFC 7383 fragments), CREATE_CHILD_SA (CHILD_SA
 * rekey with optional PFS, new CHILD_SA, IKE_SA rekey, collisions by nonce per
 * §2.8.1), INFORMATIONAL (DPD, DELETE). Message-ID window 1 both ways:
 * retransmitted requests get the cached response; our requests are retransmitted
 * with exponential back-off until answered or given up (peer dead).
 *
 * Ports: IKE_SA_INIT on 500; once NAT-D detects a NAT (or encapsulation is
 * forced, as strongSwan always does with kernel-libipsec) everything moves to
 * 4500, prefixed by the 4-byte non-ESP marker (RFC 3948 §2.2).
 *
 * Logging: `log` actions never contain keys, nonces, PSKs or AUTH data.
 */
import type { ChildSa, EspAlgorithm, EspTrafficSelector } from '../ipsec/sa-types.js';
import {
  caKeyHashes, certDer, certMatchesIdentity, encodeHashAlgorithms, identityEquals, identityToString, OUR_SIGNATURE_HASHES,
  parseHashAlgorithms, pskAuth, signAuth, signedOctets, verifyPeerChain, verifySignatureAuth, type IkeIdentity,
} from './auth.js';
import { compareBytes, concat, equalBytes, readU16, readU32, toHex, writeU32, ipv4Bytes } from './bytes.js';
import {
  AuthMethod, CertEncoding, DhGroup, exchangeName, ExchangeType, HeaderFlag, NON_ESP_MARKER_LEN, notifyName, NotifyType,
  PayloadType, ProtocolId,
} from './constants.js';
import { constantTimeEqual, deriveChildKeys, deriveIkeKeys, encrAlg, INTEGS, skeyseedInitial, skeyseedRekey, type DirectionKeys, type IkeKeys, type IkeSuite } from './crypto.js';
import { dhGenerate, type DhPrivate } from './dh.js';
import { IKE_ERROR_COUNT, IKE_ERROR_NAMES, IkeError, IkeErrorCode } from './errors.js';
import { isFromOriginalInitiator, isResponse, type IkeHeader } from './header.js';
import { decodeInner, decryptSkf, encodeEncryptedMessage, encodeFragmentedMessage, encodePlainMessage, openSk, parseMessage, Reassembly, type Opened, type ParsedMessage } from './message.js';
import {
  EMPTY_BYTES, findAllNotifies, findAllPayloads, findErrorNotify, findNotify, findPayload, notify, type Payload, type Proposal,
  type TrafficSelector,
} from './payloads.js';
import {
  acceptAnswer, describeSelected, espAlgorithmName, ikeSuite, selectedToWire, selectProposal, toWireProposal, type Selected,
} from './proposals.js';
import { isNarrowingOf, narrow, selectorToString } from './traffic-selectors.js';
import { resolveConfig, type IkeSessionConfig, type ResolvedIkeConfig } from './config.js';
import { createHash, createHmac } from 'node:crypto';

// ------------------------------------------------------------------ API types

export interface UdpEndpoint {
  readonly addr: string;
  readonly port: number;
}

export type TunnelState = 'down' | 'connecting' | 'up';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type IkeAction =
  /** Send `bytes` (non-ESP marker included when on the NAT-T port) from src to dst. */
  | { readonly kind: 'send'; readonly bytes: Uint8Array; readonly src: UdpEndpoint; readonly dst: UdpEndpoint }
  /** Hand a negotiated CHILD_SA to the data plane (make-before-break on rekey). */
  | { readonly kind: 'install-child-sa'; readonly sa: ChildSa }
  | { readonly kind: 'remove-child-sa'; readonly id: number; readonly spiIn: number; readonly spiOut: number; readonly reason: string }
  | { readonly kind: 'state'; readonly state: TunnelState; readonly reason: string }
  | { readonly kind: 'log'; readonly level: LogLevel; readonly event: string; readonly msg: string };

export interface IkeStats {
  rxDatagrams: number;
  txDatagrams: number;
  retransmits: number;
  ikeSasEstablished: number;
  childSasInstalled: number;
  childRekeys: number;
  ikeRekeys: number;
  dpdSent: number;
  cookiesSent: number;
  cookieRetries: number;
  invalidKeRetries: number;
  deadPeers: number;
}

// ------------------------------------------------------------------ internals

type SaState = 'init-sent' | 'half-open' | 'auth-sent' | 'established' | 'rekeyed' | 'deleting';
type ChildStatus = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

interface ChildState {
  readonly sa: ChildSa;
  readonly sel: Selected;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  status: ChildStatus;
  rekeyAtMs: number;
  readonly expireAtMs: number;
  /** Fallback deletion of a superseded SA the peer did not delete. */
  deleteAtMs: number;
  /** PFS group to use on the next rekey (after INVALID_KE_PAYLOAD). */
  preferredDh: number;
}

type Intent =
  | { readonly kind: 'child-rekey'; readonly child: ChildState }
  | { readonly kind: 'child-create' }
  | { readonly kind: 'ike-rekey' }
  | { readonly kind: 'delete-child'; readonly child: ChildState }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

interface PeerRekeyRecord {
  /** min(Ni, Nr) of the peer's colliding exchange. */
  readonly nonceMin: Uint8Array;
  readonly child?: ChildState;
  readonly ikeSa?: IkeSa;
}

type RequestCtx =
  | { kind: 'init'; dh: DhPrivate; ni: Uint8Array; cookie: Uint8Array | undefined; proposals: Proposal[]; cookieTries: number; keTries: number }
  | { kind: 'auth'; childSpiIn: number; proposals: Proposal[]; tsi: readonly TrafficSelector[]; tsr: readonly TrafficSelector[] }
  | {
      kind: 'child-rekey'; old: ChildState | undefined; spiIn: number; ni: Uint8Array; dh: DhPrivate | undefined; proposals: Proposal[];
      tsi: readonly TrafficSelector[]; tsr: readonly TrafficSelector[]; collision: PeerRekeyRecord | undefined;
    }
  | { kind: 'ike-rekey'; spiI: Uint8Array; ni: Uint8Array; dh: DhPrivate; proposals: Proposal[]; collision: PeerRekeyRecord | undefined }
  | { kind: 'delete-child'; child: ChildState }
  | { kind: 'delete-ike' }
  | { kind: 'dpd' };

interface Pending {
  readonly msgId: number;
  readonly exchange: number;
  datagrams: Uint8Array[];
  readonly ctx: RequestCtx;
  firstSentMs: number;
  tries: number;
  nextMs: number;
}

let saSerial = 0;

class IkeSa {
  readonly serial = ++saSerial;
  spiI: Uint8Array;
  spiR: Uint8Array;
  /** We are the original initiator of this IKE SA (I flag on our messages). */
  readonly initiator: boolean;
  state: SaState;
  suite: IkeSuite | undefined;
  sel: Selected | undefined;
  keys: IkeKeys | undefined;
  ni: Uint8Array = EMPTY_BYTES;
  nr: Uint8Array = EMPTY_BYTES;
  initReq: Uint8Array = EMPTY_BYTES;
  initResp: Uint8Array = EMPTY_BYTES;
  peer: UdpEndpoint;
  localPort: number;
  natt = false;
  fragOk = false;
  peerHashes: number[] = [];
  peerId: IkeIdentity | undefined;
  nextMsgId = 0;
  pending: Pending | undefined;
  queue: Intent[] = [];
  peerNextMsgId = 0;
  lastResponse: { msgId: number; datagrams: Uint8Array[] } | undefined;
  reassembly: Reassembly | undefined;
  reassemblyIsResponse = false;
  children: ChildState[] = [];
  lastRxMs: number;
  establishedMs = 0;
  rekeyAtMs = Infinity;
  expireAtMs = Infinity;
  halfOpenUntilMs = Infinity;
  deleteAtMs = Infinity;
  retryAtMs = 0;
  /** Peer announced INITIAL_CONTACT in IKE_AUTH. */
  initialContact = false;

  constructor(initiator: boolean, spiI: Uint8Array, spiR: Uint8Array, peer: UdpEndpoint, localPort: number, state: SaState, nowMs: number) {
    this.initiator = initiator;
    this.spiI = spiI;
    this.spiR = spiR;
    this.peer = peer;
    this.localPort = localPort;
    this.state = state;
    this.suite = undefined;
    this.sel = undefined;
    this.keys = undefined;
    this.peerId = undefined;
    this.pending = undefined;
    this.lastResponse = undefined;
    this.reassembly = undefined;
    this.lastRxMs = nowMs;
  }

  get ourSpi(): Uint8Array {
    return this.initiator ? this.spiI : this.spiR;
  }
  get outKeys(): DirectionKeys {
    if (!this.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
    return this.initiator ? this.keys.i : this.keys.r;
  }
  get inKeys(): DirectionKeys {
    if (!this.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
    return this.initiator ? this.keys.r : this.keys.i;
  }
  get label(): string {
    return `${toHex(this.spiI)}_i ${toHex(this.spiR)}_r`;
  }
}

const ZERO_SPI = new Uint8Array(8);
const NON_ESP_MARKER = new Uint8Array(NON_ESP_MARKER_LEN);
const NONCE_LEN = 32;
const MAX_COOKIE_TRIES = 3;
const MAX_KE_TRIES = 3;
const TEMP_FAILURE_RETRY_MS = 2000;
const SUPERSEDED_GRACE_MS = 30_000;
const REASSEMBLY_TIMEOUT_MS = 30_000;
const MAX_RETRY_DELAY_MS = 60_000;

function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v);
  return b;
}
function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}
function minBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) <= 0 ? a : b;
}
function toEspTs(t: TrafficSelector): EspTrafficSelector {
  return { ipProtocol: t.ipProtocol, startAddr: t.startAddr, endAddr: t.endAddr, startPort: t.startPort, endPort: t.endPort };
}
function tsList(ts: readonly TrafficSelector[]): string {
  return ts.map(selectorToString).join(',');
}

/** RFC 7296 §2.23: SHA-1(SPIi | SPIr | IP | Port). */
function natHash(spiI: Uint8Array, spiR: Uint8Array, addr: string, port: number): Uint8Array {
  const p = new Uint8Array([port >>> 8, port & 0xff]);
  return new Uint8Array(createHash('sha1').update(spiI).update(spiR).update(ipv4Bytes(addr)).update(p).digest());
}

// ------------------------------------------------------------------ session

export class IkeSession {
  readonly config: ResolvedIkeConfig;
  readonly role: 'initiator' | 'responder';
  /** Refusals by IkeErrorCode (index = code, names in IKE_ERROR_NAMES). */
  readonly errors = new Float64Array(IKE_ERROR_COUNT);
  readonly stats: IkeStats = {
    rxDatagrams: 0, txDatagrams: 0, retransmits: 0, ikeSasEstablished: 0, childSasInstalled: 0, childRekeys: 0,
    ikeRekeys: 0, dpdSent: 0, cookiesSent: 0, cookieRetries: 0, invalidKeRetries: 0, deadPeers: 0,
  };

  private readonly sas = new Map<string, IkeSa>();
  /** SPIs (ours) of recently dropped IKE SAs: late answers to them are ignored quietly. */
  private readonly deleted = new Set<string>();
  private current: IkeSa | undefined = undefined;
  private state: TunnelState = 'down';
  private started = false;
  private reconnectAtMs = Infinity;
  private failures = 0;
  private out: IkeAction[] = [];
  private childSerial = 0;
  private cookieSecret: Uint8Array;
  private cookieSecretPrev: Uint8Array;
  private cookieVersion = 0;
  private cookieRotatedMs = -Infinity;

  constructor(config: IkeSessionConfig, role: 'initiator' | 'responder') {
    this.role = role;
    this.config = resolveConfig(config, role);
    this.cookieSecret = this.config.random(32);
    this.cookieSecretPrev = this.cookieSecret;
  }

  // ------------------------------------------------------------- public API

  get tunnelState(): TunnelState {
    return this.state;
  }

  /** The CHILD_SAs currently installed (newest last). */
  get childSas(): ChildSa[] {
    const out: ChildSa[] = [];
    for (const sa of this.sas.values()) for (const c of sa.children) out.push(c.sa);
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
    return this.sas.size;
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
    return this.run(() => {
      this.started = true;
      if (this.role === 'initiator') this.connect(nowMs);
    });
  }

  /** Tear down: DELETE for the IKE SA (not retransmitted), CHILD_SAs removed, state down. */
  stop(nowMs: number): IkeAction[] {
    return this.run(() => {
      this.started = false;
      this.reconnectAtMs = Infinity;
      for (const sa of [...this.sas.values()]) {
        if (sa.keys && (sa.state === 'established' || sa.state === 'rekeyed')) {
          const msgId = sa.nextMsgId++;
          this.emit(sa, this.encode(sa, ExchangeType.INFORMATIONAL, msgId, false, [
            { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
          ]));
        }
        this.dropSa(sa, 'stopped', nowMs);
      }
      this.setState('down', 'stopped');
    });
  }

  /** Begin (or restart) an IKE_SA_INIT towards the peer, whatever the role. */
  initiate(nowMs: number): IkeAction[] {
    return this.run(() => {
      this.started = true;
      this.connect(nowMs);
    });
  }

  /** Force a CHILD_SA rekey now (operator / tests). */
  rekeyChild(nowMs: number): IkeAction[] {
    return this.run(() => {
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
    return this.run(() => {
      const sa = this.current;
      if (sa && sa.state === 'established' && !sa.queue.some((q) => q.kind === 'ike-rekey')) {
        sa.rekeyAtMs = Infinity;
        sa.queue.push({ kind: 'ike-rekey' });
        this.pump(sa, nowMs);
      }
    });
  }

  /** The data plane saw authentic ESP from the peer: counts as liveness for DPD. */
  notifyActivity(nowMs: number): void {
    if (this.current) this.current.lastRxMs = Math.max(this.current.lastRxMs, nowMs);
  }

  onDatagram(bytes: Uint8Array, from: UdpEndpoint, nowMs: number, localPort?: number): IkeAction[] {
    return this.run(() => {
      this.stats.rxDatagrams++;
      this.receive(bytes, from, nowMs, localPort ?? this.config.localIkePort);
    });
  }

  onTimer(nowMs: number): IkeAction[] {
    return this.run(() => this.timers(nowMs));
  }

  /** When onTimer should next be called (monotonic ms), Infinity if never. */
  nextTimerMs(): number {
    let t = this.reconnectAtMs;
    const cfg = this.config;
    for (const sa of this.sas.values()) {
      if (sa.pending) t = Math.min(t, sa.pending.nextMs);
      else if (sa.queue.length) t = Math.min(t, sa.retryAtMs);
      t = Math.min(t, sa.halfOpenUntilMs, sa.deleteAtMs, sa.rekeyAtMs, sa.expireAtMs);
      if (sa.reassembly) t = Math.min(t, sa.reassembly.startedMs + REASSEMBLY_TIMEOUT_MS);
      if (sa === this.current && sa.state === 'established' && cfg.dpdDelayMs > 0 && !sa.pending) {
        t = Math.min(t, sa.lastRxMs + cfg.dpdDelayMs);
      }
      for (const c of sa.children) {
        if (c.status === 'installed') t = Math.min(t, c.rekeyAtMs);
        t = Math.min(t, c.expireAtMs, c.deleteAtMs);
      }
    }
    return t;
  }

  // ------------------------------------------------------------- plumbing

  private run(f: () => void): IkeAction[] {
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

  private count(e: unknown): void {
    if (e instanceof IkeError) {
      this.errors[e.code]++;
      this.log('warn', `refused-${e.codeName}`, e.message);
    } else {
      this.errors[IkeErrorCode.Internal]++;
      this.log('error', 'internal-error', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    }
  }

  private log(level: LogLevel, event: string, msg: string): void {
    this.out.push({ kind: 'log', level, event, msg: `${this.config.name}#${this.config.tunnel}: ${msg}` });
  }

  private setState(state: TunnelState, reason: string): void {
    if (this.state === state) return;
    this.state = state;
    this.out.push({ kind: 'state', state, reason });
  }

  private rand32(): number {
    return readU32(this.config.random(4), 0) / 0x1_0000_0000;
  }

  private newSpi8(): Uint8Array {
    for (;;) {
      const s = this.config.random(8);
      if (!allZero(s) && !this.sas.has(toHex(s))) return s;
    }
  }

  private newChildSpi(): number {
    for (;;) {
      const v = readU32(this.config.random(4), 0);
      if (v < 256) continue;
      let used = false;
      for (const sa of this.sas.values()) for (const c of sa.children) if (c.sa.spiIn === v) used = true;
      if (!used) return v;
    }
  }

  /** Rekey time for a lifetime: lifetime - margin * (1 + fuzz * rand), margin <= lifetime/2, never before lifetime/10. */
  private rekeyDelay(lifetimeMs: number): number {
    const margin = Math.min(this.config.rekeyMarginMs, lifetimeMs / 2);
    const d = lifetimeMs - margin * (1 + this.config.rekeyFuzz * this.rand32());
    return Math.max(lifetimeMs / 10, d);
  }

  private emit(sa: IkeSa, datagrams: readonly Uint8Array[]): void {
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

  private maxMessageLen(sa: IkeSa): number {
    return this.config.fragmentSize - 20 - 8 - (sa.localPort === this.config.localNattPort ? NON_ESP_MARKER_LEN : 0);
  }

  private encode(sa: IkeSa, exchange: number, msgId: number, response: boolean, payloads: readonly Payload[]): Uint8Array[] {
    const flags = (sa.initiator ? HeaderFlag.INITIATOR : 0) | (response ? HeaderFlag.RESPONSE : 0);
    const m = { spiI: sa.spiI, spiR: sa.spiR, exchange, flags, messageId: msgId, payloads };
    if (!sa.keys || !sa.suite) return [encodePlainMessage(m)];
    if (sa.fragOk) return encodeFragmentedMessage(m, sa.suite, sa.outKeys, this.config.random, this.maxMessageLen(sa));
    return [encodeEncryptedMessage(m, sa.suite, sa.outKeys, this.config.random)];
  }

  private timeoutFor(tries: number): number {
    return this.config.retransmitTimeoutMs * Math.pow(this.config.retransmitBase, tries);
  }

  private sendRequest(sa: IkeSa, exchange: number, payloads: readonly Payload[], ctx: RequestCtx, nowMs: number): void {
    const msgId = sa.nextMsgId++;
    const datagrams = this.encode(sa, exchange, msgId, false, payloads);
    sa.pending = { msgId, exchange, datagrams, ctx, firstSentMs: nowMs, tries: 0, nextMs: nowMs + this.timeoutFor(0) };
    this.emit(sa, datagrams);
    this.log('debug', 'request-sent', `${exchangeName(exchange)} request ${msgId} (${ctx.kind}, ${datagrams.length} datagram(s)) [${payloadNames(payloads)}]`);
  }

  private respond(sa: IkeSa, h: IkeHeader, payloads: readonly Payload[]): void {
    const datagrams = this.encode(sa, h.exchange, h.messageId, true, payloads);
    sa.lastResponse = { msgId: h.messageId, datagrams };
    sa.peerNextMsgId = h.messageId + 1;
    this.emit(sa, datagrams);
    this.log('debug', 'response-sent', `${exchangeName(h.exchange)} response ${h.messageId} [${payloadNames(payloads)}]`);
  }

  private respondError(sa: IkeSa, h: IkeHeader, notifyType: number, data: Uint8Array = EMPTY_BYTES, protocolId = 0, spi: Uint8Array = EMPTY_BYTES): void {
    this.respond(sa, h, [notify(notifyType, data, protocolId, spi)]);
  }

  // ------------------------------------------------------------- receive

  private receive(bytes: Uint8Array, from: UdpEndpoint, nowMs: number, localPort: number): void {
    const cfg = this.config;
    let msg = bytes;
    if (localPort === cfg.localNattPort) {
      if (bytes.length === 1 && bytes[0] === 0xff) return; // NAT-keepalive (RFC 3948 §2.3)
      if (bytes.length < NON_ESP_MARKER_LEN) throw new IkeError(IkeErrorCode.Truncated, `${bytes.length}-byte datagram on the NAT-T port`);
      if (readU32(bytes, 0) !== 0) throw new IkeError(IkeErrorCode.Unexpected, 'ESP datagram handed to IKE (non-zero marker)');
      msg = bytes.subarray(NON_ESP_MARKER_LEN);
    }
    const parsed = parseMessage(msg);
    const h = parsed.header;
    if (h.exchange === ExchangeType.IKE_SA_INIT && !isResponse(h)) {
      if (!this.started) throw new IkeError(IkeErrorCode.Unexpected, 'IKE_SA_INIT while stopped');
      if (h.messageId !== 0) throw new IkeError(IkeErrorCode.BadMessageId, `IKE_SA_INIT request with message ID ${h.messageId}`);
      if (!allZero(h.spiR)) throw new IkeError(IkeErrorCode.Unexpected, 'IKE_SA_INIT request with a responder SPI');
      if (from.addr !== cfg.peerAddr) throw new IkeError(IkeErrorCode.Unexpected, `IKE_SA_INIT from unknown peer ${from.addr}`);
      this.onInitRequest(parsed, from, localPort, nowMs);
      return;
    }
    if (h.exchange === ExchangeType.IKE_SA_INIT) {
      const sa = this.sas.get(toHex(h.spiI));
      if (!sa || !sa.initiator || sa.state !== 'init-sent' || !sa.pending) throw new IkeError(IkeErrorCode.UnknownSpi, 'IKE_SA_INIT response for no pending SA');
      if (from.addr !== sa.peer.addr) throw new IkeError(IkeErrorCode.Unexpected, `response from ${from.addr}`);
      if (h.messageId !== 0 || isFromOriginalInitiator(h)) throw new IkeError(IkeErrorCode.BadMessageId, 'bad IKE_SA_INIT response header');
      const pending = sa.pending;
      sa.pending = undefined;
      try {
        this.onInitResponse(sa, parsed, pending, from, nowMs);
      } catch (e) {
        if (sa.pending === undefined && sa.state === 'init-sent') sa.pending = pending; // keep retransmitting
        throw e;
      }
      return;
    }
    const fromInit = isFromOriginalInitiator(h);
    const ourSpi = fromInit ? h.spiR : h.spiI;
    const sa = this.sas.get(toHex(ourSpi));
    if (!sa) {
      if (this.deleted.has(toHex(ourSpi))) {
        this.log('debug', 'late-message', `late ${exchangeName(h.exchange)} for deleted IKE SA ${toHex(h.spiI)}_i ${toHex(h.spiR)}_r ignored`);
        return;
      }
      throw new IkeError(IkeErrorCode.UnknownSpi, `no IKE SA ${toHex(h.spiI)}_i ${toHex(h.spiR)}_r`);
    }
    if (sa.initiator === fromInit || !equalBytes(sa.spiI, h.spiI) || !equalBytes(sa.spiR, h.spiR)) {
      throw new IkeError(IkeErrorCode.UnknownSpi, `SPI/flag mismatch for ${sa.label}`);
    }
    if (from.addr !== sa.peer.addr) throw new IkeError(IkeErrorCode.Unexpected, `message for ${sa.label} from ${from.addr}`);
    if (!sa.keys || !sa.suite) throw new IkeError(IkeErrorCode.BadExchange, `${exchangeName(h.exchange)} before keys`);
    const resp = isResponse(h);
    let retransmit = false;
    if (resp) {
      const p = sa.pending;
      if (!p || p.msgId !== h.messageId || p.exchange !== h.exchange) {
        throw new IkeError(IkeErrorCode.BadMessageId, `unexpected ${exchangeName(h.exchange)} response ${h.messageId}`);
      }
    } else if (sa.lastResponse && h.messageId === sa.lastResponse.msgId && h.messageId + 1 === sa.peerNextMsgId) {
      retransmit = true;
    } else if (h.messageId !== sa.peerNextMsgId) {
      throw new IkeError(IkeErrorCode.BadMessageId, `request ${h.messageId}, expected ${sa.peerNextMsgId}`);
    }
    if (!parsed.encrypted) throw new IkeError(IkeErrorCode.BadExchange, `unencrypted ${exchangeName(h.exchange)}`);
    if (parsed.payloads.length) throw new IkeError(IkeErrorCode.BadPayload, 'payloads outside the SK payload');
    let opened: Opened;
    if (parsed.encrypted.type === PayloadType.SKF) {
      if (!sa.fragOk) throw new IkeError(IkeErrorCode.Fragment, 'fragment without negotiated fragmentation');
      const frag = decryptSkf(parsed, sa.suite, sa.inKeys);
      if (retransmit) {
        sa.lastRxMs = nowMs;
        if (frag.num === 1 && sa.lastResponse) this.retransmitResponse(sa, h);
        return;
      }
      if (!sa.reassembly || sa.reassembly.messageId !== h.messageId || sa.reassemblyIsResponse !== resp) {
        sa.reassembly = new Reassembly(h.messageId, nowMs);
        sa.reassemblyIsResponse = resp;
      }
      const done = sa.reassembly.add(frag);
      sa.lastRxMs = nowMs;
      if (!done) return;
      sa.reassembly = undefined;
      opened = done;
    } else {
      opened = openSk(parsed, sa.suite, sa.inKeys);
      sa.lastRxMs = nowMs;
      if (retransmit) {
        this.retransmitResponse(sa, h);
        return;
      }
    }
    let payloads: Payload[];
    try {
      payloads = decodeInner(opened);
    } catch (e) {
      // authentic but malformed: a request gets an error answer (RFC 7296 §2.5, §3.10.1)
      if (!resp && e instanceof IkeError) {
        if (e.code === IkeErrorCode.UnsupportedCritical) this.respondError(sa, h, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, e.notifyData);
        else this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      }
      throw e;
    }
    // Authentic message: follow the peer's port (RFC 7296 §2.23: the responder answers where
    // requests come from; after NAT-T either side follows a NAT rebinding on port 4500).
    if ((from.port !== sa.peer.port || localPort !== sa.localPort) && (!sa.initiator || localPort === cfg.localNattPort)) {
      sa.peer = { addr: from.addr, port: from.port };
      sa.localPort = localPort;
      if (localPort === cfg.localNattPort) sa.natt = true;
    }
    this.log('debug', 'message-received', `${exchangeName(h.exchange)} ${resp ? 'response' : 'request'} ${h.messageId} [${payloadNames(payloads)}]`);
    if (resp) {
      const pending = sa.pending;
      sa.pending = undefined;
      if (!pending) return;
      this.onResponse(sa, h, payloads, pending.ctx, nowMs);
      this.pump(sa, nowMs);
    } else {
      this.onRequest(sa, h, payloads, nowMs);
      if (this.sas.has(toHex(sa.ourSpi))) this.pump(sa, nowMs);
    }
  }

  private retransmitResponse(sa: IkeSa, h: IkeHeader): void {
    if (!sa.lastResponse) return;
    this.stats.retransmits++;
    this.log('debug', 'response-retransmitted', `${exchangeName(h.exchange)} request ${h.messageId} retransmitted by peer; resending response`);
    this.emit(sa, sa.lastResponse.datagrams);
  }

  // ------------------------------------------------------------- timers

  private timers(nowMs: number): void {
    const cfg = this.config;
    if (nowMs >= this.reconnectAtMs) {
      this.reconnectAtMs = Infinity;
      if (this.started) this.connect(nowMs);
    }
    for (const sa of [...this.sas.values()]) {
      if (!this.sas.has(toHex(sa.ourSpi))) continue;
      if (sa.reassembly && nowMs >= sa.reassembly.startedMs + REASSEMBLY_TIMEOUT_MS) {
        this.errors[IkeErrorCode.Fragment]++;
        sa.reassembly = undefined;
      }
      if (nowMs >= sa.halfOpenUntilMs) {
        this.log('info', 'half-open-expired', `half-open IKE SA ${sa.label} expired`);
        this.dropSa(sa, 'half-open timeout', nowMs);
        continue;
      }
      const p = sa.pending;
      if (p && nowMs >= p.nextMs) {
        const isDpd = p.ctx.kind === 'dpd';
        const giveUp = isDpd ? nowMs - p.firstSentMs >= cfg.dpdTimeoutMs : p.tries >= cfg.retransmitTries;
        if (giveUp) {
          sa.pending = undefined;
          this.onRequestTimeout(sa, p, nowMs);
          continue;
        }
        p.tries++;
        p.nextMs = nowMs + this.timeoutFor(p.tries);
        if (isDpd) p.nextMs = Math.min(p.nextMs, p.firstSentMs + cfg.dpdTimeoutMs);
        this.stats.retransmits++;
        this.log('info', 'retransmit', `retransmit ${p.tries} of ${exchangeName(p.exchange)} request ${p.msgId} (${p.ctx.kind})`);
        this.emit(sa, p.datagrams);
      }
      if (nowMs >= sa.expireAtMs) {
        this.log('warn', 'ike-sa-expired', `IKE SA ${sa.label} reached its hard lifetime`);
        const wasCurrent = sa === this.current;
        this.sendDeleteIkeOnce(sa);
        this.dropSa(sa, 'IKE SA lifetime expired', nowMs);
        if (wasCurrent) this.tunnelLost('IKE SA lifetime expired', nowMs, false);
        continue;
      }
      if (nowMs >= sa.deleteAtMs) {
        sa.deleteAtMs = Infinity;
        if (sa.state === 'rekeyed') {
          sa.queue = [{ kind: 'delete-ike' }];
          sa.retryAtMs = 0;
        }
      }
      if (nowMs >= sa.rekeyAtMs && sa.state === 'established') {
        sa.rekeyAtMs = Infinity;
        if (!sa.queue.some((q) => q.kind === 'ike-rekey')) sa.queue.push({ kind: 'ike-rekey' });
      }
      for (const c of [...sa.children]) {
        if (nowMs >= c.expireAtMs) {
          this.log('warn', 'child-sa-expired', `CHILD_SA ${hex32(c.sa.spiIn)}_i reached its hard lifetime`);
          this.removeChild(sa, c, 'CHILD_SA lifetime expired');
          if (c.status !== 'deleting') {
            c.status = 'deleting';
            sa.queue.unshift({ kind: 'delete-child', child: c });
          }
          if (sa === this.current && !this.hasActiveChild(sa)) this.childLost(sa, 'CHILD_SA lifetime expired', nowMs);
          continue;
        }
        if (nowMs >= c.deleteAtMs) {
          c.deleteAtMs = Infinity;
          if (c.status === 'rekeyed') {
            c.status = 'deleting';
            sa.queue.unshift({ kind: 'delete-child', child: c });
          }
        }
        if (c.status === 'installed' && nowMs >= c.rekeyAtMs) {
          c.rekeyAtMs = Infinity;
          c.status = 'rekeying';
          sa.queue.push({ kind: 'child-rekey', child: c });
        }
      }
      if (sa === this.current && sa.state === 'established' && cfg.dpdDelayMs > 0 && !sa.pending && sa.queue.length === 0 &&
        nowMs >= sa.lastRxMs + cfg.dpdDelayMs) {
        sa.queue.push({ kind: 'dpd' });
      }
      this.pump(sa, nowMs);
    }
  }

  private onRequestTimeout(sa: IkeSa, p: Pending, nowMs: number): void {
    const what = p.ctx.kind === 'dpd' ? `no answer to DPD for ${Math.round((nowMs - p.firstSentMs) / 1000)} s` : `${exchangeName(p.exchange)} request ${p.msgId} (${p.ctx.kind}) unanswered after ${p.tries} retransmissions`;
    this.log('warn', 'peer-dead', `IKE SA ${sa.label}: ${what}`);
    if (p.ctx.kind === 'dpd' && this.config.dpdAction === 'none') {
      // AWS DPD timeout action "none": take no action, keep probing
      sa.lastRxMs = nowMs;
      return;
    }
    if (p.ctx.kind === 'delete-ike' || sa.state === 'rekeyed' || sa.state === 'deleting') {
      this.dropSa(sa, 'delete unanswered', nowMs);
      return;
    }
    this.stats.deadPeers++;
    const wasCurrent = sa === this.current || sa.state === 'init-sent' || sa.state === 'auth-sent';
    this.dropSa(sa, 'peer dead', nowMs);
    if (wasCurrent) this.tunnelLost(`peer dead: ${what}`, nowMs, p.ctx.kind === 'dpd' || sa.state === 'established');
  }

  /**
   * The tunnel is gone (peer dead, deleted, failed to establish). Applies the
   * DPD action for a dead established tunnel; otherwise reconnects if keepUp.
   */
  private tunnelLost(reason: string, nowMs: number, dead: boolean): void {
    this.current = undefined;
    this.setState('down', reason);
    if (!this.started) return;
    if (dead && this.config.dpdAction === 'restart') {
      this.log('info', 'dpd-restart', 'DPD action restart: re-initiating');
      this.connect(nowMs);
      return;
    }
    if (this.config.keepUp) {
      const delay = Math.min(MAX_RETRY_DELAY_MS, this.config.retryDelayMs * Math.pow(2, Math.min(this.failures, 8)));
      this.failures++;
      this.reconnectAtMs = nowMs + delay;
      this.log('info', 'reconnect-scheduled', `reconnecting in ${Math.round(delay)} ms`);
    }
  }

  private connectFailed(sa: IkeSa, reason: string, nowMs: number): void {
    this.log('warn', 'connect-failed', reason);
    this.dropSa(sa, reason, nowMs);
    if (this.current === undefined || this.current === sa) this.tunnelLost(reason, nowMs, false);
  }

  /** Removes an IKE SA and the CHILD_SAs it still owns. */
  private dropSa(sa: IkeSa, reason: string, _nowMs: number): void {
    for (const c of [...sa.children]) this.removeChild(sa, c, reason);
    this.sas.delete(toHex(sa.ourSpi));
    this.deleted.add(toHex(sa.ourSpi));
    if (this.deleted.size > 32) this.deleted.delete(this.deleted.values().next().value as string);
    sa.pending = undefined;
    sa.queue = [];
    if (this.current === sa) this.current = undefined;
  }

  private removeChild(sa: IkeSa, c: ChildState, reason: string): void {
    const i = sa.children.indexOf(c);
    if (i < 0) return;
    sa.children.splice(i, 1);
    this.out.push({ kind: 'remove-child-sa', id: c.sa.id, spiIn: c.sa.spiIn, spiOut: c.sa.spiOut, reason });
    this.log('info', 'child-sa-removed', `CHILD_SA ${hex32(c.sa.spiIn)}_i ${hex32(c.sa.spiOut)}_o removed (${reason})`);
  }

  private hasActiveChild(sa: IkeSa): boolean {
    return sa.children.some((c) => c.status === 'installed' || c.status === 'rekeying');
  }

  /** The current IKE SA lost its last CHILD_SA: tunnel down; the initiator creates a new one. */
  private childLost(sa: IkeSa, reason: string, nowMs: number): void {
    this.setState('down', reason);
    if (this.config.keepUp && this.started && !sa.queue.some((q) => q.kind === 'child-create')) {
      sa.queue.push({ kind: 'child-create' });
      sa.retryAtMs = Math.max(sa.retryAtMs, nowMs + this.config.retryDelayMs);
    }
  }

  private sendDeleteIkeOnce(sa: IkeSa): void {
    if (!sa.keys) return;
    const msgId = sa.nextMsgId++;
    this.emit(sa, this.encode(sa, ExchangeType.INFORMATIONAL, msgId, false, [
      { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
    ]));
  }

  // ------------------------------------------------------------- intents

  /** Starts the next queued exchange on `sa` if none is outstanding. */
  private pump(sa: IkeSa, nowMs: number): void {
    while (!sa.pending && sa.queue.length && nowMs >= sa.retryAtMs && this.sas.has(toHex(sa.ourSpi))) {
      const intent = sa.queue.shift() as Intent;
      if (sa.state !== 'established' && intent.kind !== 'delete-ike' && intent.kind !== 'delete-child') continue;
      switch (intent.kind) {
        case 'dpd':
          this.stats.dpdSent++;
          this.sendRequest(sa, ExchangeType.INFORMATIONAL, [], { kind: 'dpd' }, nowMs);
          break;
        case 'delete-child':
          this.sendRequest(sa, ExchangeType.INFORMATIONAL, [
            { type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32Bytes(intent.child.sa.spiIn)] },
          ], { kind: 'delete-child', child: intent.child }, nowMs);
          break;
        case 'delete-ike':
          sa.state = sa.state === 'rekeyed' ? 'rekeyed' : 'deleting';
          this.sendRequest(sa, ExchangeType.INFORMATIONAL, [
            { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
          ], { kind: 'delete-ike' }, nowMs);
          break;
        case 'child-rekey':
          if (!sa.children.includes(intent.child) || intent.child.status !== 'rekeying') break;
          this.startChildCreate(sa, intent.child, nowMs);
          break;
        case 'child-create':
          if (this.hasActiveChild(sa)) break;
          this.startChildCreate(sa, undefined, nowMs);
          break;
        case 'ike-rekey':
          this.startIkeRekey(sa, nowMs);
          break;
      }
    }
  }

  // ============================================================ IKE_SA_INIT

  private connect(nowMs: number): void {
    const cfg = this.config;
    // a fresh attempt replaces any attempt still in progress
    for (const sa of [...this.sas.values()]) {
      if (sa.initiator && (sa.state === 'init-sent' || sa.state === 'auth-sent')) this.dropSa(sa, 'new attempt', nowMs);
    }
    const sa = new IkeSa(true, this.newSpi8(), ZERO_SPI, { addr: cfg.peerAddr, port: cfg.peerIkePort }, cfg.localIkePort, 'init-sent', nowMs);
    this.sas.set(toHex(sa.spiI), sa);
    const proposals = cfg.ikeSpecs.map((s, i) => toWireProposal(s, i + 1, EMPTY_BYTES));
    const ctx: RequestCtx = {
      kind: 'init', dh: dhGenerate(cfg.ikeSpecs[0].dh[0]), ni: cfg.random(NONCE_LEN), cookie: undefined, proposals,
      cookieTries: 0, keTries: 0,
    };
    this.setState('connecting', `initiating to ${cfg.peerAddr}`);
    this.log('info', 'initiate', `initiating IKE SA ${toHex(sa.spiI)}_i to ${cfg.peerAddr}:${cfg.peerIkePort}`);
    this.sendInit(sa, ctx, nowMs);
  }

  private sendInit(sa: IkeSa, ctx: Extract<RequestCtx, { kind: 'init' }>, nowMs: number): void {
    const cfg = this.config;
    const payloads: Payload[] = [];
    if (ctx.cookie) payloads.push(notify(NotifyType.COOKIE, ctx.cookie));
    payloads.push({ type: PayloadType.SA, proposals: ctx.proposals });
    payloads.push({ type: PayloadType.KE, group: ctx.dh.group, data: ctx.dh.publicValue });
    payloads.push({ type: PayloadType.NONCE, data: ctx.ni });
    payloads.push(notify(NotifyType.NAT_DETECTION_SOURCE_IP,
      cfg.forceEncap ? cfg.random(20) : natHash(sa.spiI, ZERO_SPI, cfg.localAddr, sa.localPort)));
    payloads.push(notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natHash(sa.spiI, ZERO_SPI, sa.peer.addr, sa.peer.port)));
    if (cfg.fragmentation) payloads.push(notify(NotifyType.FRAGMENTATION_SUPPORTED));
    payloads.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, encodeHashAlgorithms(OUR_SIGNATURE_HASHES)));
    const bytes = encodePlainMessage({ spiI: sa.spiI, spiR: ZERO_SPI, exchange: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.INITIATOR, messageId: 0, payloads });
    sa.initReq = bytes;
    sa.nextMsgId = 1;
    sa.pending = { msgId: 0, exchange: ExchangeType.IKE_SA_INIT, datagrams: [bytes], ctx, firstSentMs: nowMs, tries: 0, nextMs: nowMs + this.timeoutFor(0) };
    this.emit(sa, [bytes]);
  }

  private onInitResponse(sa: IkeSa, parsed: ParsedMessage, pending: Pending, from: UdpEndpoint, nowMs: number): void {
    const cfg = this.config;
    const ctx = pending.ctx;
    if (ctx.kind !== 'init') throw new IkeError(IkeErrorCode.Internal, 'init response without init context');
    const ps = parsed.payloads;
    const cookie = findNotify(ps, NotifyType.COOKIE);
    if (cookie) {
      if (cookie.data.length < 1 || cookie.data.length > 64) throw new IkeError(IkeErrorCode.BadPayload, `COOKIE of ${cookie.data.length} bytes`);
      if (ctx.cookieTries >= MAX_COOKIE_TRIES) {
        this.connectFailed(sa, 'responder keeps demanding COOKIEs', nowMs);
        return;
      }
      ctx.cookieTries++;
      ctx.cookie = cookie.data.slice();
      this.stats.cookieRetries++;
      this.log('info', 'cookie-retry', 'responder demanded a COOKIE; retrying IKE_SA_INIT with it');
      this.sendInit(sa, ctx, nowMs);
      return;
    }
    const invalidKe = findNotify(ps, NotifyType.INVALID_KE_PAYLOAD);
    if (invalidKe) {
      const group = invalidKe.data.length >= 2 ? readU16(invalidKe.data, 0) : 0;
      const acceptable = cfg.ikeSpecs.some((s) => s.dh.includes(group));
      if (!acceptable || group === ctx.dh.group || ctx.keTries >= MAX_KE_TRIES) {
        this.connectFailed(sa, `responder wants DH group ${group}, which we do not offer`, nowMs);
        return;
      }
      ctx.keTries++;
      ctx.dh = dhGenerate(group);
      this.stats.invalidKeRetries++;
      this.log('info', 'invalid-ke-retry', `responder asked for DH group ${group}; retrying IKE_SA_INIT`);
      this.sendInit(sa, ctx, nowMs);
      return;
    }
    const err = findErrorNotify(ps);
    if (err) {
      this.errors[IkeErrorCode.PeerError]++;
      this.connectFailed(sa, `IKE_SA_INIT refused by peer: ${notifyName(err.notifyType)}`, nowMs);
      return;
    }
    const saP = findPayload(ps, PayloadType.SA);
    const ke = findPayload(ps, PayloadType.KE);
    const nonce = findPayload(ps, PayloadType.NONCE);
    if (!saP || !ke || !nonce) throw new IkeError(IkeErrorCode.BadExchange, 'IKE_SA_INIT response lacks SA, KE or Nonce');
    checkNonce(nonce.data);
    const h = parsed.header;
    if (allZero(h.spiR)) throw new IkeError(IkeErrorCode.BadPayload, 'zero responder SPI');
    const sel = acceptAnswer(ctx.proposals, cfg.ikeSpecs, saP.proposals, true);
    if (sel.dh !== ctx.dh.group || ke.group !== ctx.dh.group) {
      throw new IkeError(IkeErrorCode.InvalidKe, `responder chose DH ${sel.dh} with KE ${ke.group}, we sent ${ctx.dh.group}`);
    }
    const suite = ikeSuite(sel);
    const gir = ctx.dh.computeShared(ke.data);
    sa.spiR = h.spiR.slice();
    sa.ni = ctx.ni;
    sa.nr = nonce.data;
    sa.suite = suite;
    sa.sel = sel;
    sa.keys = deriveIkeKeys(suite, skeyseedInitial(suite.prf, sa.ni, sa.nr, gir), sa.ni, sa.nr, sa.spiI, sa.spiR);
    sa.initResp = parsed.bytes.slice();
    // NAT detection (RFC 7296 §2.23)
    const natS = findAllNotifies(ps, NotifyType.NAT_DETECTION_SOURCE_IP);
    const natD = findNotify(ps, NotifyType.NAT_DETECTION_DESTINATION_IP);
    if (natS.length && natD) {
      const peerNat = !natS.some((n) => equalBytes(n.data, natHash(sa.spiI, sa.spiR, from.addr, from.port)));
      const weNat = !equalBytes(natD.data, natHash(sa.spiI, sa.spiR, cfg.localAddr, sa.localPort));
      sa.natt = peerNat || weNat || cfg.forceEncap;
      this.log('info', 'nat-detection', `NAT-D: peer ${peerNat ? 'behind NAT' : 'not behind NAT'}, us ${weNat ? 'behind NAT' : 'not behind NAT'}${cfg.forceEncap ? ', encapsulation forced' : ''}`);
    }
    if (sa.natt) {
      sa.localPort = cfg.localNattPort;
      sa.peer = { addr: sa.peer.addr, port: cfg.peerNattPort };
    }
    sa.fragOk = cfg.fragmentation && findNotify(ps, NotifyType.FRAGMENTATION_SUPPORTED) !== undefined;
    const sh = findNotify(ps, NotifyType.SIGNATURE_HASH_ALGORITHMS);
    sa.peerHashes = sh ? parseHashAlgorithms(sh.data) : [];
    this.log('info', 'ike-sa-init-done', `IKE_SA_INIT done with ${sa.label}: ${describeSelected(sel)}`);
    this.sendAuth(sa, nowMs);
  }

  /** Responder: stateless COOKIE (RFC 7296 §2.6) = version | HMAC(secret, Ni | IPi | SPIi). */
  private cookieFor(version: number, ni: Uint8Array, addr: string, spiI: Uint8Array): Uint8Array {
    const secret = version === this.cookieVersion ? this.cookieSecret : this.cookieSecretPrev;
    const mac = createHmac('sha256', secret).update(ni).update(ipv4Bytes(addr)).update(spiI).digest();
    return concat(u32Bytes(version), new Uint8Array(mac));
  }

  private halfOpenCount(): number {
    let n = 0;
    for (const sa of this.sas.values()) if (sa.state === 'half-open') n++;
    return n;
  }

  private onInitRequest(parsed: ParsedMessage, from: UdpEndpoint, localPort: number, nowMs: number): void {
    const cfg = this.config;
    const h = parsed.header;
    const ps = parsed.payloads;
    for (const sa of this.sas.values()) {
      if (!sa.initiator && equalBytes(sa.spiI, h.spiI) && sa.peer.addr === from.addr && sa.state === 'half-open') {
        if (equalBytes(sa.initReq, parsed.bytes) && sa.lastResponse) {
          this.stats.retransmits++;
          this.emit(sa, sa.lastResponse.datagrams);
          return;
        }
        throw new IkeError(IkeErrorCode.Unexpected, `IKE_SA_INIT for existing half-open SA ${sa.label}`);
      }
    }
    const plainReply = (payloads: Payload[]): void => {
      const bytes = encodePlainMessage({ spiI: h.spiI, spiR: ZERO_SPI, exchange: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0, payloads });
      this.out.push({ kind: 'send', bytes: localPort === cfg.localNattPort ? concat(NON_ESP_MARKER, bytes) : bytes, src: { addr: cfg.localAddr, port: localPort }, dst: from });
      this.stats.txDatagrams++;
    };
    const saP = findPayload(ps, PayloadType.SA);
    const ke = findPayload(ps, PayloadType.KE);
    const nonce = findPayload(ps, PayloadType.NONCE);
    if (!saP || !ke || !nonce) throw new IkeError(IkeErrorCode.BadExchange, 'IKE_SA_INIT request lacks SA, KE or Nonce');
    checkNonce(nonce.data);
    const halfOpen = this.halfOpenCount();
    if (halfOpen >= cfg.maxHalfOpen) throw new IkeError(IkeErrorCode.Cookie, `${halfOpen} half-open IKE SAs: refusing more`);
    if (halfOpen >= cfg.cookieThreshold) {
      if (nowMs - this.cookieRotatedMs > 300_000) {
        this.cookieSecretPrev = this.cookieSecret;
        this.cookieSecret = cfg.random(32);
        this.cookieVersion = (this.cookieVersion + 1) >>> 0;
        this.cookieRotatedMs = nowMs;
      }
      const first = ps[0];
      let ok = false;
      if (first && first.type === PayloadType.NOTIFY && first.notifyType === NotifyType.COOKIE && first.data.length >= 4) {
        const v = readU32(first.data, 0);
        if (v === this.cookieVersion || v === ((this.cookieVersion - 1) >>> 0)) {
          ok = constantTimeEqual(first.data, this.cookieFor(v, nonce.data, from.addr, h.spiI));
        }
      }
      if (!ok) {
        this.stats.cookiesSent++;
        this.errors[IkeErrorCode.Cookie]++;
        this.log('info', 'cookie-demanded', `${halfOpen} half-open IKE SAs: demanding a COOKIE from ${from.addr}:${from.port}`);
        plainReply([notify(NotifyType.COOKIE, this.cookieFor(this.cookieVersion, nonce.data, from.addr, h.spiI))]);
        return;
      }
    }
    const sel0 = selectProposal(cfg.ikeSpecs, saP.proposals, true);
    if (!sel0) {
      this.errors[IkeErrorCode.NoProposal]++;
      this.log('warn', 'no-proposal-chosen', `no acceptable IKE proposal from ${from.addr}`);
      plainReply([notify(NotifyType.NO_PROPOSAL_CHOSEN)]);
      return;
    }
    if (!sel0.dhCandidates.includes(ke.group)) {
      this.errors[IkeErrorCode.InvalidKe]++;
      this.log('info', 'invalid-ke', `peer sent KE group ${ke.group}; asking for ${sel0.dh}`);
      plainReply([notify(NotifyType.INVALID_KE_PAYLOAD, new Uint8Array([sel0.dh >>> 8, sel0.dh & 0xff]))]);
      return;
    }
    const sel: Selected = { ...sel0, dh: ke.group };
    const suite = ikeSuite(sel);
    const dh = dhGenerate(ke.group);
    const gir = dh.computeShared(ke.data);
    const sa = new IkeSa(false, h.spiI.slice(), this.newSpi8(), { addr: from.addr, port: from.port }, localPort, 'half-open', nowMs);
    sa.ni = nonce.data;
    sa.nr = cfg.random(NONCE_LEN);
    sa.suite = suite;
    sa.sel = sel;
    sa.keys = deriveIkeKeys(suite, skeyseedInitial(suite.prf, sa.ni, sa.nr, gir), sa.ni, sa.nr, sa.spiI, sa.spiR);
    sa.initReq = parsed.bytes.slice();
    const natS = findAllNotifies(ps, NotifyType.NAT_DETECTION_SOURCE_IP);
    const natD = findNotify(ps, NotifyType.NAT_DETECTION_DESTINATION_IP);
    const natSupported = natS.length > 0 && natD !== undefined;
    if (natSupported && natD) {
      const peerNat = !natS.some((n) => equalBytes(n.data, natHash(sa.spiI, ZERO_SPI, from.addr, from.port)));
      const weNat = !equalBytes(natD.data, natHash(sa.spiI, ZERO_SPI, cfg.localAddr, localPort));
      sa.natt = peerNat || weNat || cfg.forceEncap;
      this.log('info', 'nat-detection', `NAT-D: peer ${peerNat ? 'behind NAT' : 'not behind NAT'}, us ${weNat ? 'behind NAT' : 'not behind NAT'}`);
    }
    const peerFrag = findNotify(ps, NotifyType.FRAGMENTATION_SUPPORTED) !== undefined;
    sa.fragOk = cfg.fragmentation && peerFrag;
    const sh = findNotify(ps, NotifyType.SIGNATURE_HASH_ALGORITHMS);
    sa.peerHashes = sh ? parseHashAlgorithms(sh.data) : [];
    const resp: Payload[] = [
      { type: PayloadType.SA, proposals: [selectedToWire(sel, EMPTY_BYTES)] },
      { type: PayloadType.KE, group: ke.group, data: dh.publicValue },
      { type: PayloadType.NONCE, data: sa.nr },
    ];
    if (natSupported) {
      resp.push(notify(NotifyType.NAT_DETECTION_SOURCE_IP,
        cfg.forceEncap ? cfg.random(20) : natHash(sa.spiI, sa.spiR, cfg.localAddr, localPort)));
      resp.push(notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natHash(sa.spiI, sa.spiR, from.addr, from.port)));
    }
    if (cfg.auth.kind === 'cert') resp.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: caKeyHashes(cfg.auth.credentials.cas) });
    if (sa.fragOk) resp.push(notify(NotifyType.FRAGMENTATION_SUPPORTED));
    if (sh) resp.push(notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, encodeHashAlgorithms(OUR_SIGNATURE_HASHES)));
    const bytes = encodePlainMessage({ spiI: sa.spiI, spiR: sa.spiR, exchange: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0, payloads: resp });
    sa.initResp = bytes;
    sa.lastResponse = { msgId: 0, datagrams: [bytes] };
    sa.peerNextMsgId = 1;
    sa.halfOpenUntilMs = nowMs + cfg.halfOpenTimeoutMs;
    this.sas.set(toHex(sa.spiR), sa);
    this.log('info', 'ike-sa-init-answered', `IKE_SA_INIT from ${from.addr}:${from.port}: ${describeSelected(sel)}, SA ${sa.label}`);
    this.emit(sa, [bytes]);
  }

  // ============================================================ IKE_AUTH

  private authPayloadFor(sa: IkeSa, octets: Uint8Array): Payload {
    const cfg = this.config;
    if (cfg.auth.kind === 'psk') {
      if (!sa.suite) throw new IkeError(IkeErrorCode.Internal, 'no suite');
      return { type: PayloadType.AUTH, method: AuthMethod.PSK, data: pskAuth(sa.suite.prf, cfg.auth.psk, octets) };
    }
    const { method, data } = signAuth(cfg.auth.credentials.key, octets, sa.peerHashes);
    return { type: PayloadType.AUTH, method, data };
  }

  /** Verifies the peer's ID / CERT / AUTH. Throws IkeError(AuthFailed | Certificate). */
  private verifyPeer(sa: IkeSa, id: IkeIdentity, certs: readonly Uint8Array[], auth: { method: number; data: Uint8Array }, octets: Uint8Array): void {
    const cfg = this.config;
    if (!sa.suite) throw new IkeError(IkeErrorCode.Internal, 'no suite');
    if (cfg.remoteId && !identityEquals(cfg.remoteId, id)) {
      throw new IkeError(IkeErrorCode.AuthFailed, `peer identity '${identityToString(id)}' is not the configured '${identityToString(cfg.remoteId)}'`, NotifyType.AUTHENTICATION_FAILED);
    }
    if (cfg.auth.kind === 'psk') {
      if (auth.method !== AuthMethod.PSK) throw new IkeError(IkeErrorCode.AuthFailed, `peer used auth method ${auth.method}, we expect PSK`, NotifyType.AUTHENTICATION_FAILED);
      const expect = pskAuth(sa.suite.prf, cfg.auth.psk, octets);
      if (!constantTimeEqual(expect, auth.data)) throw new IkeError(IkeErrorCode.AuthFailed, `PSK authentication of '${identityToString(id)}' failed`, NotifyType.AUTHENTICATION_FAILED);
      return;
    }
    if (certs.length === 0) throw new IkeError(IkeErrorCode.Certificate, 'peer sent no certificate', NotifyType.AUTHENTICATION_FAILED);
    let ee;
    try {
      ee = verifyPeerChain(certs[0], certs.slice(1), cfg.auth.credentials.cas, cfg.wallClock());
    } catch (e) {
      if (e instanceof IkeError) throw new IkeError(e.code, e.message, NotifyType.AUTHENTICATION_FAILED);
      throw e;
    }
    if (!certMatchesIdentity(ee, id)) {
      throw new IkeError(IkeErrorCode.Certificate, `identity '${identityToString(id)}' is not in the peer's certificate`, NotifyType.AUTHENTICATION_FAILED);
    }
    if (!verifySignatureAuth(auth.method, auth.data, octets, ee.publicKey)) {
      throw new IkeError(IkeErrorCode.AuthFailed, `signature of '${identityToString(id)}' (method ${auth.method}) does not verify`, NotifyType.AUTHENTICATION_FAILED);
    }
  }

  private certPayloads(): Payload[] {
    const cfg = this.config;
    if (cfg.auth.kind !== 'cert') return [];
    return cfg.auth.credentials.chain.map((c) => ({ type: PayloadType.CERT, encoding: CertEncoding.X509_SIGNATURE, data: certDer(c) } as Payload));
  }

  private sendAuth(sa: IkeSa, nowMs: number): void {
    const cfg = this.config;
    if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
    const id = cfg.localId;
    const payloads: Payload[] = [{ type: PayloadType.IDi, idType: id.idType, data: id.data }];
    payloads.push(...this.certPayloads());
    if (cfg.initialContact) payloads.push(notify(NotifyType.INITIAL_CONTACT));
    if (cfg.auth.kind === 'cert') payloads.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: caKeyHashes(cfg.auth.credentials.cas) });
    if (cfg.remoteId) payloads.push({ type: PayloadType.IDr, idType: cfg.remoteId.idType, data: cfg.remoteId.data });
    payloads.push(this.authPayloadFor(sa, signedOctets(sa.suite.prf, sa.initReq, sa.nr, sa.keys.skPi, id)));
    const spiIn = this.newChildSpi();
    const proposals = cfg.espSpecs.map((s, i) => toWireProposal(s, i + 1, u32Bytes(spiIn), false));
    payloads.push({ type: PayloadType.SA, proposals });
    payloads.push({ type: PayloadType.TSi, selectors: cfg.localTs });
    payloads.push({ type: PayloadType.TSr, selectors: cfg.remoteTs });
    sa.state = 'auth-sent';
    this.sendRequest(sa, ExchangeType.IKE_AUTH, payloads, { kind: 'auth', childSpiIn: spiIn, proposals, tsi: cfg.localTs, tsr: cfg.remoteTs }, nowMs);
  }

  private onAuthResponse(sa: IkeSa, payloads: Payload[], ctx: Extract<RequestCtx, { kind: 'auth' }>, nowMs: number): void {
    if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
    const idP = findPayload(payloads, PayloadType.IDr);
    const authP = findPayload(payloads, PayloadType.AUTH);
    if (!idP || !authP) {
      const err = findErrorNotify(payloads);
      this.errors[err ? IkeErrorCode.PeerError : IkeErrorCode.BadExchange]++;
      this.connectFailed(sa, err ? `IKE_AUTH refused by peer: ${notifyName(err.notifyType)}` : 'IKE_AUTH response lacks IDr/AUTH', nowMs);
      return;
    }
    const id: IkeIdentity = { idType: idP.idType, data: idP.data };
    const certs = findAllPayloads(payloads, PayloadType.CERT).filter((c) => c.encoding === CertEncoding.X509_SIGNATURE).map((c) => c.data);
    try {
      this.verifyPeer(sa, id, certs, authP, signedOctets(sa.suite.prf, sa.initResp, sa.ni, sa.keys.skPr, id));
    } catch (e) {
      this.count(e);
      this.sendDeleteIkeOnce(sa);
      this.connectFailed(sa, `authentication of peer failed: ${(e as Error).message}`, nowMs);
      return;
    }
    sa.peerId = id;
    this.ikeEstablished(sa, nowMs);
    this.log('info', 'ike-sa-established', `IKE SA ${sa.label} established with '${identityToString(id)}' at ${sa.peer.addr}:${sa.peer.port} (${sa.natt ? 'UDP-encapsulated' : 'no NAT-T'})`);
    const childErr = findErrorNotify(payloads);
    const saP = findPayload(payloads, PayloadType.SA);
    const tsi = findPayload(payloads, PayloadType.TSi);
    const tsr = findPayload(payloads, PayloadType.TSr);
    let failure: string | undefined;
    let sel: Selected | undefined;
    if (childErr) failure = `CHILD_SA refused by peer: ${notifyName(childErr.notifyType)}`;
    else if (!saP || !tsi || !tsr) failure = 'IKE_AUTH response lacks SA/TSi/TSr';
    else {
      try {
        sel = acceptAnswer(ctx.proposals, this.config.espSpecs, saP.proposals, false);
        if (sel.spi.length !== 4) failure = `ESP SPI of ${sel.spi.length} bytes`;
        else if (!isNarrowingOf(tsi.selectors, ctx.tsi) || !isNarrowingOf(tsr.selectors, ctx.tsr)) {
          failure = `traffic selectors ${tsList(tsi.selectors)} === ${tsList(tsr.selectors)} are not within what we proposed`;
        }
      } catch (e) {
        failure = (e as Error).message;
      }
    }
    if (failure || !sel || !tsi || !tsr) {
      this.errors[IkeErrorCode.TsUnacceptable]++;
      this.log('warn', 'child-sa-failed', failure ?? 'CHILD_SA failed');
      this.sendDeleteIkeOnce(sa);
      this.connectFailed(sa, failure ?? 'CHILD_SA failed', nowMs);
      return;
    }
    const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, undefined, encrOf(sel), integOf(sel));
    this.installChild(sa, sel, ctx.childSpiIn, readU32(sel.spi, 0), keys.r2i, keys.i2r, tsi.selectors, tsr.selectors, nowMs);
    this.makeCurrent(sa, nowMs);
  }

  private onAuthRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
    const cfg = this.config;
    if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
    if (sa.state !== 'half-open') {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw new IkeError(IkeErrorCode.BadExchange, `IKE_AUTH in state ${sa.state}`);
    }
    const idP = findPayload(payloads, PayloadType.IDi);
    const authP = findPayload(payloads, PayloadType.AUTH);
    if (!idP || !authP) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      this.dropSa(sa, 'bad IKE_AUTH', nowMs);
      throw new IkeError(IkeErrorCode.BadExchange, 'IKE_AUTH request lacks IDi/AUTH');
    }
    const id: IkeIdentity = { idType: idP.idType, data: idP.data };
    const certs = findAllPayloads(payloads, PayloadType.CERT).filter((c) => c.encoding === CertEncoding.X509_SIGNATURE).map((c) => c.data);
    try {
      this.verifyPeer(sa, id, certs, authP, signedOctets(sa.suite.prf, sa.initReq, sa.nr, sa.keys.skPi, id));
    } catch (e) {
      this.respondError(sa, h, NotifyType.AUTHENTICATION_FAILED);
      this.dropSa(sa, 'authentication failed', nowMs);
      throw e;
    }
    sa.peerId = id;
    sa.halfOpenUntilMs = Infinity;
    sa.initialContact = findNotify(payloads, NotifyType.INITIAL_CONTACT) !== undefined;
    const ourId = cfg.localId;
    const resp: Payload[] = [{ type: PayloadType.IDr, idType: ourId.idType, data: ourId.data }];
    resp.push(...this.certPayloads());
    resp.push(this.authPayloadFor(sa, signedOctets(sa.suite.prf, sa.initResp, sa.ni, sa.keys.skPr, ourId)));
    this.ikeEstablished(sa, nowMs);
    this.log('info', 'ike-sa-established', `IKE SA ${sa.label} established with '${identityToString(id)}' at ${sa.peer.addr}:${sa.peer.port} (${sa.natt ? 'UDP-encapsulated' : 'no NAT-T'})`);
    // the first CHILD_SA
    const child = this.negotiateChild(sa, payloads, undefined, false);
    if ('error' in child) {
      this.log('warn', 'child-sa-failed', `CHILD_SA in IKE_AUTH refused: ${notifyName(child.error)}`);
      resp.push(notify(child.error));
      this.respond(sa, h, resp);
      this.makeCurrent(sa, nowMs);
      this.childLost(sa, `CHILD_SA refused: ${notifyName(child.error)}`, nowMs);
      return;
    }
    const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, undefined, encrOf(child.sel), integOf(child.sel));
    const spiIn = this.newChildSpi();
    this.installChild(sa, child.sel, spiIn, child.spiOut, keys.i2r, keys.r2i, child.tsr, child.tsi, nowMs);
    resp.push({ type: PayloadType.SA, proposals: [selectedToWire(child.sel, u32Bytes(spiIn), false)] });
    resp.push({ type: PayloadType.TSi, selectors: child.tsi });
    resp.push({ type: PayloadType.TSr, selectors: child.tsr });
    this.respond(sa, h, resp);
    this.makeCurrent(sa, nowMs);
  }

  /**
   * Responder side of a CHILD_SA negotiation (IKE_AUTH or CREATE_CHILD_SA):
   * proposal selection and traffic selector narrowing.
   */
  private negotiateChild(
    _sa: IkeSa, payloads: Payload[], keGroup: number | undefined, _rekey: boolean,
  ): { sel: Selected; spiOut: number; tsi: TrafficSelector[]; tsr: TrafficSelector[] } | { error: number; data?: Uint8Array } {
    const cfg = this.config;
    const saP = findPayload(payloads, PayloadType.SA);
    const tsi = findPayload(payloads, PayloadType.TSi);
    const tsr = findPayload(payloads, PayloadType.TSr);
    if (!saP || !tsi || !tsr) return { error: NotifyType.INVALID_SYNTAX };
    let sel: Selected | undefined;
    if (keGroup !== undefined) {
      sel = selectProposal(cfg.espSpecs.filter((s) => s.dh.length > 0), saP.proposals, true);
      if (!sel) return { error: NotifyType.NO_PROPOSAL_CHOSEN };
      if (!sel.dhCandidates.includes(keGroup)) return { error: NotifyType.INVALID_KE_PAYLOAD, data: new Uint8Array([sel.dh >>> 8, sel.dh & 0xff]) };
      sel = { ...sel, dh: keGroup };
    } else {
      sel = selectProposal(cfg.espSpecs, saP.proposals, false);
      if (!sel) return { error: NotifyType.NO_PROPOSAL_CHOSEN };
    }
    if (sel.spi.length !== 4) return { error: NotifyType.INVALID_SYNTAX };
    const spiOut = readU32(sel.spi, 0);
    const ni = narrow(tsi.selectors, cfg.remoteTs);
    const nr = narrow(tsr.selectors, cfg.localTs);
    if (ni.length === 0 || nr.length === 0) {
      this.errors[IkeErrorCode.TsUnacceptable]++;
      this.log('warn', 'ts-unacceptable', `peer proposed ${tsList(tsi.selectors)} === ${tsList(tsr.selectors)}; we allow ${tsList(cfg.remoteTs)} === ${tsList(cfg.localTs)}`);
      return { error: NotifyType.TS_UNACCEPTABLE };
    }
    return { sel, spiOut, tsi: ni, tsr: nr };
  }

  private ikeEstablished(sa: IkeSa, nowMs: number): void {
    sa.state = 'established';
    sa.establishedMs = nowMs;
    sa.rekeyAtMs = nowMs + this.rekeyDelay(this.config.ikeLifetimeMs);
    sa.expireAtMs = nowMs + this.config.ikeLifetimeMs;
    sa.lastRxMs = nowMs;
    this.stats.ikeSasEstablished++;
  }

  /** `sa` carries the tunnel now; older established SAs of this session go away. */
  private makeCurrent(sa: IkeSa, nowMs: number): void {
    for (const other of [...this.sas.values()]) {
      if (other === sa || other.state !== 'established') continue;
      // INITIAL_CONTACT or a reconnect: the peer forgot the old SA (strongSwan unique=replace does the same)
      this.log('info', 'ike-sa-replaced', `IKE SA ${other.label} replaced by ${sa.label}`);
      this.dropSa(other, 'replaced by a new IKE SA', nowMs);
    }
    this.current = sa;
    this.failures = 0;
    this.reconnectAtMs = Infinity;
    if (this.hasActiveChild(sa)) this.setState('up', `IKE SA ${sa.label} with CHILD_SA`);
  }

  private installChild(
    sa: IkeSa, sel: Selected, spiIn: number, spiOut: number, inKeys: DirectionKeys, outKeys: DirectionKeys,
    localTs: readonly TrafficSelector[], remoteTs: readonly TrafficSelector[], nowMs: number,
  ): ChildState {
    const cfg = this.config;
    const integ = integOf(sel);
    const encr = encrOf(sel);
    const encap = sa.natt || sa.localPort === cfg.localNattPort;
    const child: ChildSa = {
      connection: cfg.name,
      tunnel: cfg.tunnel,
      id: ++this.childSerial,
      spiIn,
      spiOut,
      algorithm: espAlgorithmName(sel) as EspAlgorithm,
      encKeyIn: inKeys.encKey,
      encKeyOut: outKeys.encKey,
      saltIn: inKeys.salt,
      saltOut: outKeys.salt,
      integKeyIn: inKeys.integKey,
      integKeyOut: outKeys.integKey,
      icvLen: encr.aead ? encr.tagLen : (integ?.icvLen ?? 0),
      esn: false,
      replayWindow: cfg.replayWindow,
      localTs: localTs.map(toEspTs),
      remoteTs: remoteTs.map(toEspTs),
      local: { addr: cfg.localAddrU32, port: encap ? sa.localPort : 0 },
      peer: { addr: cfg.peerAddrU32, port: encap ? sa.peer.port : 0 },
      encap,
      tunnelMode: true,
      lifetimeSec: cfg.childLifetimeMs / 1000,
      installedMs: nowMs,
    };
    const st: ChildState = {
      sa: child, sel, localTs, remoteTs, status: 'installed',
      rekeyAtMs: nowMs + this.rekeyDelay(cfg.childLifetimeMs), expireAtMs: nowMs + cfg.childLifetimeMs,
      deleteAtMs: Infinity, preferredDh: sel.dh,
    };
    sa.children.push(st);
    this.stats.childSasInstalled++;
    this.out.push({ kind: 'install-child-sa', sa: child });
    this.log('info', 'child-sa-installed', `CHILD_SA ${hex32(spiIn)}_i ${hex32(spiOut)}_o ${describeSelected(sel)} TS ${tsList(localTs)} === ${tsList(remoteTs)}${encap ? ` (UDP ${sa.localPort}->${sa.peer.port})` : ''}`);
    if (sa === this.current || this.current === undefined) this.setState('up', `CHILD_SA ${hex32(spiIn)}_i installed`);
    return st;
  }

  // ============================================================ dispatch

  private onResponse(sa: IkeSa, h: IkeHeader, payloads: Payload[], ctx: RequestCtx, nowMs: number): void {
    switch (ctx.kind) {
      case 'auth':
        if (h.exchange !== ExchangeType.IKE_AUTH) throw new IkeError(IkeErrorCode.BadExchange, 'response exchange mismatch');
        this.onAuthResponse(sa, payloads, ctx, nowMs);
        return;
      case 'child-rekey':
        this.onChildCreateResponse(sa, payloads, ctx, nowMs);
        return;
      case 'ike-rekey':
        this.onIkeRekeyResponse(sa, payloads, ctx, nowMs);
        return;
      case 'delete-child':
        this.removeChild(sa, ctx.child, 'deleted');
        return;
      case 'delete-ike':
        this.log('info', 'ike-sa-deleted', `IKE SA ${sa.label} deleted`);
        this.dropSa(sa, 'IKE SA deleted', nowMs);
        return;
      case 'dpd':
        return;
      case 'init':
        return;
    }
  }

  private onRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
    switch (h.exchange) {
      case ExchangeType.IKE_AUTH:
        this.onAuthRequest(sa, h, payloads, nowMs);
        return;
      case ExchangeType.CREATE_CHILD_SA:
        if (sa.state !== 'established') {
          this.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
          return;
        }
        this.onCreateChildRequest(sa, h, payloads, nowMs);
        return;
      case ExchangeType.INFORMATIONAL:
        if (sa.state === 'half-open') {
          this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
          throw new IkeError(IkeErrorCode.BadExchange, 'INFORMATIONAL before IKE_AUTH');
        }
        this.onInformationalRequest(sa, h, payloads, nowMs);
        return;
      default:
        this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
        throw new IkeError(IkeErrorCode.BadExchange, `unknown exchange ${h.exchange}`);
    }
  }

  // ============================================================ CREATE_CHILD_SA

  private startChildCreate(sa: IkeSa, old: ChildState | undefined, nowMs: number): void {
    const cfg = this.config;
    const spiIn = this.newChildSpi();
    const ni = cfg.random(NONCE_LEN);
    const group = old ? old.preferredDh : DhGroup.NONE;
    const pfsGroup = group !== DhGroup.NONE ? group : (cfg.espSpecs[0].dh[0] ?? DhGroup.NONE);
    const dh = pfsGroup !== DhGroup.NONE ? dhGenerate(pfsGroup) : undefined;
    const proposals = cfg.espSpecs.map((s, i) => toWireProposal(s, i + 1, u32Bytes(spiIn), true));
    const tsi = old ? old.localTs : cfg.localTs;
    const tsr = old ? old.remoteTs : cfg.remoteTs;
    const payloads: Payload[] = [];
    if (old) payloads.push(notify(NotifyType.REKEY_SA, EMPTY_BYTES, ProtocolId.ESP, u32Bytes(old.sa.spiIn)));
    payloads.push({ type: PayloadType.SA, proposals });
    payloads.push({ type: PayloadType.NONCE, data: ni });
    if (dh) payloads.push({ type: PayloadType.KE, group: dh.group, data: dh.publicValue });
    payloads.push({ type: PayloadType.TSi, selectors: tsi });
    payloads.push({ type: PayloadType.TSr, selectors: tsr });
    this.log('info', old ? 'child-rekey-start' : 'child-create-start', old ? `rekeying CHILD_SA ${hex32(old.sa.spiIn)}_i` : 'creating a CHILD_SA');
    this.sendRequest(sa, ExchangeType.CREATE_CHILD_SA, payloads, { kind: 'child-rekey', old, spiIn, ni, dh, proposals, tsi, tsr, collision: undefined }, nowMs);
  }

  private onChildCreateResponse(sa: IkeSa, payloads: Payload[], ctx: Extract<RequestCtx, { kind: 'child-rekey' }>, nowMs: number): void {
    const cfg = this.config;
    if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
    const old = ctx.old;
    const retryLater = (why: string, delayMs: number): void => {
      this.log('warn', 'child-rekey-failed', `${old ? 'CHILD_SA rekey' : 'CHILD_SA creation'} failed: ${why}; retrying in ${Math.round(delayMs / 1000)} s`);
      if (old && sa.children.includes(old)) {
        old.status = 'installed';
        old.rekeyAtMs = nowMs + delayMs;
      } else if (!old) {
        sa.queue.push({ kind: 'child-create' });
        sa.retryAtMs = nowMs + delayMs;
      }
    };
    const err = findErrorNotify(payloads);
    if (err) {
      this.errors[IkeErrorCode.PeerError]++;
      if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD && err.data.length >= 2) {
        const g = readU16(err.data, 0);
        if (cfg.espSpecs.some((s) => s.dh.includes(g)) && g !== ctx.dh?.group) {
          this.stats.invalidKeRetries++;
          if (old) {
            old.preferredDh = g;
            old.status = 'rekeying';
            sa.queue.unshift({ kind: 'child-rekey', child: old });
          } else {
            sa.queue.unshift({ kind: 'child-create' });
          }
          this.log('info', 'invalid-ke-retry', `peer wants PFS group ${g}; retrying`);
          return;
        }
      }
      if (err.notifyType === NotifyType.CHILD_SA_NOT_FOUND && old) {
        this.removeChild(sa, old, 'peer does not know it');
        if (!this.hasActiveChild(sa)) this.childLost(sa, 'CHILD_SA unknown to peer', nowMs);
        return;
      }
      retryLater(notifyName(err.notifyType), err.notifyType === NotifyType.TEMPORARY_FAILURE ? TEMP_FAILURE_RETRY_MS + this.rand32() * 3000 : 30_000);
      return;
    }
    const saP = findPayload(payloads, PayloadType.SA);
    const nonce = findPayload(payloads, PayloadType.NONCE);
    const tsi = findPayload(payloads, PayloadType.TSi);
    const tsr = findPayload(payloads, PayloadType.TSr);
    const ke = findPayload(payloads, PayloadType.KE);
    let sel: Selected;
    let gir: Uint8Array | undefined;
    try {
      if (!saP || !nonce || !tsi || !tsr) throw new IkeError(IkeErrorCode.BadExchange, 'CREATE_CHILD_SA response lacks SA/Nonce/TS');
      checkNonce(nonce.data);
      sel = acceptAnswer(ctx.proposals, cfg.espSpecs, saP.proposals, ctx.dh !== undefined);
      if (sel.spi.length !== 4) throw new IkeError(IkeErrorCode.BadPayload, 'ESP SPI size');
      if (ctx.dh) {
        if (!ke || ke.group !== ctx.dh.group || sel.dh !== ctx.dh.group) throw new IkeError(IkeErrorCode.InvalidKe, 'PFS KE missing or of another group');
        gir = ctx.dh.computeShared(ke.data);
      }
      if (!isNarrowingOf(tsi.selectors, ctx.tsi) || !isNarrowingOf(tsr.selectors, ctx.tsr)) {
        throw new IkeError(IkeErrorCode.TsUnacceptable, 'traffic selectors outside our proposal');
      }
    } catch (e) {
      this.count(e);
      retryLater((e as Error).message, 30_000);
      return;
    }
    const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, ctx.ni, nonce.data, gir, encrOf(sel), integOf(sel));
    const child = this.installChild(sa, sel, ctx.spiIn, readU32(sel.spi, 0), keys.r2i, keys.i2r, tsi.selectors, tsr.selectors, nowMs);
    if (!old) {
      this.makeCurrent(sa, nowMs);
      return;
    }
    this.stats.childRekeys++;
    const col = ctx.collision;
    if (col && col.child) {
      // RFC 7296 §2.8.1: the exchange with the lowest nonce created the redundant SA; its initiator deletes it.
      const ours = minBytes(ctx.ni, nonce.data);
      if (compareBytes(ours, col.nonceMin) < 0) {
        this.log('info', 'child-rekey-collision', `simultaneous CHILD_SA rekey: ours lost, deleting our new CHILD_SA ${hex32(child.sa.spiIn)}_i`);
        child.status = 'deleting';
        sa.queue.unshift({ kind: 'delete-child', child });
        old.status = 'rekeyed';
        old.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
        return;
      }
      this.log('info', 'child-rekey-collision', 'simultaneous CHILD_SA rekey: ours won, deleting the old CHILD_SA');
    }
    old.status = 'deleting';
    sa.queue.unshift({ kind: 'delete-child', child: old });
    this.log('info', 'child-rekeyed', `CHILD_SA ${hex32(old.sa.spiIn)}_i rekeyed to ${hex32(child.sa.spiIn)}_i`);
  }

  private onCreateChildRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
    const cfg = this.config;
    if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
    const saP = findPayload(payloads, PayloadType.SA);
    const nonce = findPayload(payloads, PayloadType.NONCE);
    if (!saP || !nonce || saP.proposals.length === 0) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw new IkeError(IkeErrorCode.BadExchange, 'CREATE_CHILD_SA request lacks SA/Nonce');
    }
    try {
      checkNonce(nonce.data);
    } catch (e) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw e;
    }
    if (saP.proposals[0].protocolId === ProtocolId.IKE) {
      this.onIkeRekeyRequest(sa, h, payloads, nonce.data, nowMs);
      return;
    }
    const rekey = findNotify(payloads, NotifyType.REKEY_SA);
    let old: ChildState | undefined;
    let collision: Extract<RequestCtx, { kind: 'child-rekey' }> | undefined;
    if (rekey) {
      const spi = rekey.spi.length === 4 ? readU32(rekey.spi, 0) : -1;
      old = sa.children.find((c) => c.sa.spiOut === spi && (c.status === 'installed' || c.status === 'rekeying'));
      if (!old || rekey.protocolId !== ProtocolId.ESP) {
        this.log('warn', 'child-sa-not-found', `peer rekeys unknown CHILD_SA ${spi >= 0 ? hex32(spi) : '?'}`);
        this.respondError(sa, h, NotifyType.CHILD_SA_NOT_FOUND, EMPTY_BYTES, ProtocolId.ESP, rekey.spi);
        return;
      }
      const pc = sa.pending?.ctx;
      if (pc && pc.kind === 'ike-rekey') {
        this.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
        return;
      }
      if (pc && pc.kind === 'child-rekey' && pc.old === old) collision = pc;
    }
    const ke = findPayload(payloads, PayloadType.KE);
    const neg = this.negotiateChild(sa, payloads, ke?.group, rekey !== undefined);
    if ('error' in neg) {
      this.log('warn', 'child-create-refused', `CREATE_CHILD_SA refused: ${notifyName(neg.error)}`);
      this.respondError(sa, h, neg.error, neg.data ?? EMPTY_BYTES);
      return;
    }
    const nr = cfg.random(NONCE_LEN);
    let gir: Uint8Array | undefined;
    let ourKe: Payload | undefined;
    if (ke) {
      const dh = dhGenerate(ke.group);
      try {
        gir = dh.computeShared(ke.data);
      } catch (e) {
        this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
        throw e;
      }
      ourKe = { type: PayloadType.KE, group: ke.group, data: dh.publicValue };
    }
    const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, nonce.data, nr, gir, encrOf(neg.sel), integOf(neg.sel));
    const spiIn = this.newChildSpi();
    const child = this.installChild(sa, neg.sel, spiIn, neg.spiOut, keys.i2r, keys.r2i, neg.tsr, neg.tsi, nowMs);
    const resp: Payload[] = [
      { type: PayloadType.SA, proposals: [selectedToWire(neg.sel, u32Bytes(spiIn), ke !== undefined)] },
      { type: PayloadType.NONCE, data: nr },
    ];
    if (ourKe) resp.push(ourKe);
    resp.push({ type: PayloadType.TSi, selectors: neg.tsi }, { type: PayloadType.TSr, selectors: neg.tsr });
    this.respond(sa, h, resp);
    if (old) {
      this.stats.childRekeys++;
      this.log('info', 'child-rekeyed', `peer rekeyed CHILD_SA ${hex32(old.sa.spiIn)}_i to ${hex32(child.sa.spiIn)}_i`);
      if (collision) {
        collision.collision = { nonceMin: minBytes(nonce.data, nr), child };
      } else {
        old.status = 'rekeyed';
        old.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
      }
    } else {
      this.makeCurrent(sa, nowMs);
    }
  }

  // ============================================================ IKE_SA rekey

  private startIkeRekey(sa: IkeSa, nowMs: number): void {
    const cfg = this.config;
    if (!sa.suite) return;
    const spiI = this.newSpi8();
    const ni = cfg.random(NONCE_LEN);
    const group = cfg.ikeSpecs.some((s) => s.dh.includes(sa.suite?.dhGroup ?? 0)) ? sa.suite.dhGroup : cfg.ikeSpecs[0].dh[0];
    const dh = dhGenerate(group);
    const proposals = cfg.ikeSpecs.map((s, i) => toWireProposal(s, i + 1, spiI));
    this.log('info', 'ike-rekey-start', `rekeying IKE SA ${sa.label}`);
    this.sendRequest(sa, ExchangeType.CREATE_CHILD_SA, [
      { type: PayloadType.SA, proposals },
      { type: PayloadType.NONCE, data: ni },
      { type: PayloadType.KE, group: dh.group, data: dh.publicValue },
    ], { kind: 'ike-rekey', spiI, ni, dh, proposals, collision: undefined }, nowMs);
  }

  private newIkeSaFromRekey(old: IkeSa, initiator: boolean, spiI: Uint8Array, spiR: Uint8Array, sel: Selected, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array, nowMs: number): IkeSa {
    if (!old.suite || !old.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
    const suite = ikeSuite(sel);
    const nsa = new IkeSa(initiator, spiI, spiR, old.peer, old.localPort, 'established', nowMs);
    nsa.suite = suite;
    nsa.sel = sel;
    nsa.ni = ni;
    nsa.nr = nr;
    // RFC 7296 §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old SA's PRF
    nsa.keys = deriveIkeKeys(suite, skeyseedRekey(old.suite.prf, old.keys.skD, gir, ni, nr), ni, nr, spiI, spiR);
    nsa.natt = old.natt;
    nsa.fragOk = old.fragOk;
    nsa.peerHashes = old.peerHashes;
    nsa.peerId = old.peerId;
    this.sas.set(toHex(nsa.ourSpi), nsa);
    this.ikeEstablished(nsa, nowMs);
    return nsa;
  }

  /** Children and pending work move from `old` to `nsa`, which becomes current. */
  private switchToRekeyed(old: IkeSa, nsa: IkeSa, nowMs: number): void {
    nsa.children.push(...old.children);
    old.children = [];
    nsa.queue.push(...old.queue.filter((q) => q.kind !== 'delete-ike' && q.kind !== 'ike-rekey'));
    old.queue = old.queue.filter((q) => q.kind === 'delete-ike');
    old.state = 'rekeyed';
    old.rekeyAtMs = Infinity;
    old.expireAtMs = Infinity;
    if (this.current === old || this.current === undefined) this.current = nsa;
    this.stats.ikeRekeys++;
    this.log('info', 'ike-rekeyed', `IKE SA ${old.label} rekeyed to ${nsa.label}`);
    void nowMs;
  }

  private onIkeRekeyResponse(sa: IkeSa, payloads: Payload[], ctx: Extract<RequestCtx, { kind: 'ike-rekey' }>, nowMs: number): void {
    const cfg = this.config;
    const err = findErrorNotify(payloads);
    if (err) {
      this.errors[IkeErrorCode.PeerError]++;
      if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD && err.data.length >= 2) {
        const g = readU16(err.data, 0);
        if (cfg.ikeSpecs.some((s) => s.dh.includes(g)) && g !== ctx.dh.group && sa.suite) {
          this.stats.invalidKeRetries++;
          sa.suite = { ...sa.suite, dhGroup: g };
          sa.queue.unshift({ kind: 'ike-rekey' });
          return;
        }
      }
      const delay = err.notifyType === NotifyType.TEMPORARY_FAILURE ? TEMP_FAILURE_RETRY_MS + this.rand32() * 3000 : 30_000;
      this.log('warn', 'ike-rekey-failed', `IKE SA rekey refused: ${notifyName(err.notifyType)}; retrying in ${Math.round(delay / 1000)} s`);
      sa.rekeyAtMs = nowMs + delay;
      return;
    }
    const saP = findPayload(payloads, PayloadType.SA);
    const nonce = findPayload(payloads, PayloadType.NONCE);
    const ke = findPayload(payloads, PayloadType.KE);
    let sel: Selected;
    let gir: Uint8Array;
    try {
      if (!saP || !nonce || !ke) throw new IkeError(IkeErrorCode.BadExchange, 'IKE rekey response lacks SA/Nonce/KE');
      checkNonce(nonce.data);
      sel = acceptAnswer(ctx.proposals, cfg.ikeSpecs, saP.proposals, true);
      if (sel.spi.length !== 8 || allZero(sel.spi)) throw new IkeError(IkeErrorCode.BadPayload, 'IKE SPI in rekey answer');
      if (ke.group !== ctx.dh.group || sel.dh !== ctx.dh.group) throw new IkeError(IkeErrorCode.InvalidKe, 'KE group mismatch');
      gir = ctx.dh.computeShared(ke.data);
    } catch (e) {
      this.count(e);
      sa.rekeyAtMs = nowMs + 30_000;
      return;
    }
    const nsa = this.newIkeSaFromRekey(sa, true, ctx.spiI, sel.spi.slice(), sel, ctx.ni, nonce.data, gir, nowMs);
    const col = ctx.collision;
    if (col && col.ikeSa && this.sas.has(toHex(col.ikeSa.ourSpi))) {
      const ours = minBytes(ctx.ni, nonce.data);
      if (compareBytes(ours, col.nonceMin) < 0) {
        // ours is redundant: the peer's new SA wins; we delete ours, the peer deletes the old one
        this.log('info', 'ike-rekey-collision', `simultaneous IKE SA rekey: ours lost; deleting ${nsa.label}`);
        this.switchToRekeyed(sa, col.ikeSa, nowMs);
        nsa.state = 'rekeyed';
        nsa.rekeyAtMs = Infinity;
        nsa.expireAtMs = Infinity;
        nsa.queue = [{ kind: 'delete-ike' }];
        sa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
        this.pump(nsa, nowMs);
        return;
      }
      this.log('info', 'ike-rekey-collision', `simultaneous IKE SA rekey: ours won; the peer deletes ${col.ikeSa.label}`);
      col.ikeSa.state = 'rekeyed';
      col.ikeSa.rekeyAtMs = Infinity;
      col.ikeSa.expireAtMs = Infinity;
      col.ikeSa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
      nsa.children.push(...col.ikeSa.children);
      col.ikeSa.children = [];
    }
    this.switchToRekeyed(sa, nsa, nowMs);
    sa.queue.unshift({ kind: 'delete-ike' });
    sa.retryAtMs = 0;
  }

  private onIkeRekeyRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], ni: Uint8Array, nowMs: number): void {
    const cfg = this.config;
    const pc = sa.pending?.ctx;
    if (pc && pc.kind !== 'dpd' && pc.kind !== 'ike-rekey' && pc.kind !== 'delete-child') {
      this.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
      return;
    }
    if (sa.children.some((c) => c.status === 'rekeying') && pc?.kind !== 'ike-rekey') {
      // a CHILD_SA rekey of ours is queued but not started: let the IKE rekey go first
    }
    const saP = findPayload(payloads, PayloadType.SA);
    const ke = findPayload(payloads, PayloadType.KE);
    if (!saP || !ke) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw new IkeError(IkeErrorCode.BadExchange, 'IKE rekey request lacks KE');
    }
    const sel0 = selectProposal(cfg.ikeSpecs, saP.proposals, true);
    if (!sel0) {
      this.respondError(sa, h, NotifyType.NO_PROPOSAL_CHOSEN);
      return;
    }
    if (!sel0.dhCandidates.includes(ke.group)) {
      this.respondError(sa, h, NotifyType.INVALID_KE_PAYLOAD, new Uint8Array([sel0.dh >>> 8, sel0.dh & 0xff]));
      return;
    }
    if (sel0.spi.length !== 8 || allZero(sel0.spi)) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw new IkeError(IkeErrorCode.BadPayload, 'IKE SPI in rekey request');
    }
    const sel: Selected = { ...sel0, dh: ke.group };
    const dh = dhGenerate(ke.group);
    let gir: Uint8Array;
    try {
      gir = dh.computeShared(ke.data);
    } catch (e) {
      this.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw e;
    }
    const nr = cfg.random(NONCE_LEN);
    const spiR = this.newSpi8();
    const nsa = this.newIkeSaFromRekey(sa, false, sel0.spi.slice(), spiR, sel, ni, nr, gir, nowMs);
    this.respond(sa, h, [
      { type: PayloadType.SA, proposals: [selectedToWire(sel, spiR)] },
      { type: PayloadType.NONCE, data: nr },
      { type: PayloadType.KE, group: ke.group, data: dh.publicValue },
    ]);
    if (pc && pc.kind === 'ike-rekey') {
      pc.collision = { nonceMin: minBytes(ni, nr), ikeSa: nsa };
      return;
    }
    this.switchToRekeyed(sa, nsa, nowMs);
    sa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
  }

  // ============================================================ INFORMATIONAL

  private onInformationalRequest(sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
    const deletes = findAllPayloads(payloads, PayloadType.DELETE);
    const ikeDelete = deletes.some((d) => d.protocolId === ProtocolId.IKE);
    if (ikeDelete) {
      this.respond(sa, h, []);
      this.log('info', 'ike-sa-deleted-by-peer', `peer deleted IKE SA ${sa.label}`);
      const wasCurrent = sa === this.current;
      this.dropSa(sa, 'IKE SA deleted by peer', nowMs);
      if (wasCurrent) this.tunnelLost('IKE SA deleted by peer', nowMs, false);
      return;
    }
    const ourSpis: Uint8Array[] = [];
    const removed: ChildState[] = [];
    for (const d of deletes) {
      if (d.protocolId !== ProtocolId.ESP || d.spiSize !== 4) continue;
      for (const s of d.spis) {
        const spi = readU32(s, 0);
        const c = sa.children.find((x) => x.sa.spiOut === spi);
        if (!c) continue;
        ourSpis.push(u32Bytes(c.sa.spiIn));
        removed.push(c);
      }
    }
    const err = findErrorNotify(payloads);
    if (err) this.log('warn', 'peer-notify', `peer reports ${notifyName(err.notifyType)}`);
    this.respond(sa, h, ourSpis.length ? [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ourSpis }] : []);
    for (const c of removed) {
      // a delete of ours for the same SA may be outstanding: it answers itself
      this.removeChild(sa, c, 'deleted by peer');
    }
    if (removed.length && sa === this.current && !this.hasActiveChild(sa)) this.childLost(sa, 'CHILD_SA deleted by peer', nowMs);
  }
}

/** RFC 7296 §2.10: nonces are 16..256 octets. */
function checkNonce(n: Uint8Array): void {
  if (n.length < 16 || n.length > 256) throw new IkeError(IkeErrorCode.BadPayload, `nonce of ${n.length} bytes`);
}

function encrOf(sel: Selected) {
  const e = encrAlg(sel.encr.id, sel.encr.keyBits);
  if (!e) throw new IkeError(IkeErrorCode.NoProposal, 'unsupported cipher');
  return e;
}
function integOf(sel: Selected) {
  return sel.integ ? INTEGS[sel.integ] : undefined;
}
function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

const PAYLOAD_NAMES: Readonly<Record<number, string>> = {
  33: 'SA', 34: 'KE', 35: 'IDi', 36: 'IDr', 37: 'CERT', 38: 'CERTREQ', 39: 'AUTH', 40: 'No', 41: 'N', 42: 'D', 43: 'V', 44: 'TSi', 45: 'TSr',
};
function payloadNames(ps: readonly Payload[]): string {
  return ps.map((p) => {
    if (p.type === PayloadType.NOTIFY) return `N(${notifyName(p.notifyType)})`;
    if (p.type === -1) return `?${p.rawType}`;
    return PAYLOAD_NAMES[p.type] ?? String(p.type);
  }).join(' ');
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

