/**
 * The state one session keeps per IKE SA and per CHILD_SA, the work queued on
 * an IKE SA (intents), the request in flight (with what its answer needs), and
 * the small helpers the exchange modules share. Data and pure functions only:
 * every transition is made by the exchange modules.
 *
 * IKE SA states:
 *   init-sent  (initiator) IKE_SA_INIT sent       -> auth-sent
 *   half-open  (responder) IKE_SA_INIT answered   -> established
 *   auth-sent  (initiator) IKE_AUTH sent          -> established
 *   established                                   -> rekeyed | deleting
 *   rekeyed    superseded by an IKE_SA rekey, waiting for its DELETE
 *   deleting   our DELETE is outstanding
 */
import type { ChildSa, EspTrafficSelector } from '../ipsec/sa-types.js';
import type { UdpEndpoint } from './actions.js';
import type { IkeIdentity } from './auth.js';
import { compareBytes, toHex, writeU32 } from './bytes.js';
import { NON_ESP_MARKER_LEN, notifyName, PayloadType } from './constants.js';
import { encrAlg, INTEGS, type DirectionKeys, type IkeKeys, type IkeSuite } from './crypto.js';
import type { DhPrivate } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { Reassembly } from './message.js';
import { EMPTY_BYTES, type Payload, type Proposal, type TrafficSelector } from './payloads.js';
import type { Selected } from './proposals.js';
import { selectorToString } from './traffic-selectors.js';
import type { ResolvedIkeConfig } from './config.js';

export type SaState = 'init-sent' | 'half-open' | 'auth-sent' | 'established' | 'rekeyed' | 'deleting';
export type ChildStatus = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

export interface ChildState {
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

/** Work queued on an IKE SA; started one at a time (message-ID window 1). */
export type Intent =
  | { readonly kind: 'child-rekey'; readonly child: ChildState }
  | { readonly kind: 'child-create' }
  | { readonly kind: 'ike-rekey' }
  | { readonly kind: 'delete-child'; readonly child: ChildState }
  | { readonly kind: 'delete-ike' }
  | { readonly kind: 'dpd' };

export interface PeerRekeyRecord {
  /** min(Ni, Nr) of the peer's colliding exchange. */
  readonly nonceMin: Uint8Array;
  readonly child?: ChildState;
  readonly ikeSa?: IkeSa;
}

/** What the answer to our outstanding request needs. */
export type RequestCtx =
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

export type InitCtx = Extract<RequestCtx, { kind: 'init' }>;
export type AuthCtx = Extract<RequestCtx, { kind: 'auth' }>;
export type ChildCreateCtx = Extract<RequestCtx, { kind: 'child-rekey' }>;
export type IkeRekeyCtx = Extract<RequestCtx, { kind: 'ike-rekey' }>;

/** Our request in flight, kept for retransmission. */
export interface Pending {
  readonly msgId: number;
  readonly exchange: number;
  datagrams: Uint8Array[];
  readonly ctx: RequestCtx;
  firstSentMs: number;
  tries: number;
  nextMs: number;
}

let saSerial = 0;

export class IkeSa {
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

export const ZERO_SPI = new Uint8Array(8);
export const NON_ESP_MARKER = new Uint8Array(NON_ESP_MARKER_LEN);
export const NONCE_LEN = 32;
/** Retry delay after TEMPORARY_FAILURE: this plus up to 3 s at random. */
export const TEMP_FAILURE_RETRY_MS = 2000;
/** A superseded SA the peer does not delete is deleted by us after this. */
export const SUPERSEDED_GRACE_MS = 30_000;

/** The request timeout before retransmission `tries` (0 = the first send). */
export function retransmitTimeout(cfg: ResolvedIkeConfig, tries: number): number {
  return cfg.retransmitTimeoutMs * Math.pow(cfg.retransmitBase, tries);
}

export function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v);
  return b;
}
export function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}
export function minBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) <= 0 ? a : b;
}
export function toEspTs(t: TrafficSelector): EspTrafficSelector {
  return { ipProtocol: t.ipProtocol, startAddr: t.startAddr, endAddr: t.endAddr, startPort: t.startPort, endPort: t.endPort };
}
export function tsList(ts: readonly TrafficSelector[]): string {
  return ts.map(selectorToString).join(',');
}
export function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

/** RFC 7296 §2.10: nonces are 16..256 octets. */
export function checkNonce(n: Uint8Array): void {
  if (n.length < 16 || n.length > 256) throw new IkeError(IkeErrorCode.BadPayload, `nonce of ${n.length} bytes`);
}

export function encrOf(sel: Selected) {
  const e = encrAlg(sel.encr.id, sel.encr.keyBits);
  if (!e) throw new IkeError(IkeErrorCode.NoProposal, 'unsupported cipher');
  return e;
}
export function integOf(sel: Selected) {
  return sel.integ ? INTEGS[sel.integ] : undefined;
}

const PAYLOAD_NAMES: Readonly<Record<number, string>> = {
  33: 'SA', 34: 'KE', 35: 'IDi', 36: 'IDr', 37: 'CERT', 38: 'CERTREQ', 39: 'AUTH', 40: 'No', 41: 'N', 42: 'D', 43: 'V', 44: 'TSi', 45: 'TSr',
};
/** Payload list for debug logs: `SA KE No N(NAT_DETECTION_SOURCE_IP)`. */
export function payloadNames(ps: readonly Payload[]): string {
  return ps.map((p) => {
    if (p.type === PayloadType.NOTIFY) return `N(${notifyName(p.notifyType)})`;
    if (p.type === -1) return `?${p.rawType}`;
    return PAYLOAD_NAMES[p.type] ?? String(p.type);
  }).join(' ');
}
