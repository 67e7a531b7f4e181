/**
 * Inbound messages of a session, before any exchange logic: the NAT-T port's
 * non-ESP marker and keepalives (RFC 3948), header checks, finding the IKE SA
 * by SPI, the message-ID window of 1 both ways (a retransmitted request gets
 * the cached response, RFC 7296 §2.1), verification and decryption, the error
 * answer to an authentic but malformed request (§2.5, §3.10.1), and following
 * the peer's port after NAT-T (§2.23). What survives is classified for the
 * session to dispatch.
 */
import type { UdpEndpoint } from './actions.js';
import { equalBytes, readU32, toHex } from './bytes.js';
import { ExchangeType, exchangeName, NON_ESP_MARKER_LEN, NotifyType } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { isFromOriginalInitiator, isResponse, type IkeHeader } from './header.js';
import { decodeInner, parseMessage, type ParsedMessage } from './message.js';
import type { Payload } from './payloads.js';
import { RETRANSMITTED, unprotect } from './protection.js';
import { allZero, payloadNames, type IkeSa, type RequestCtx } from './sa-state.js';
import type { SessionContext } from './session-context.js';

/** An inbound message, checked and (after IKE_SA_INIT) authentic and decrypted. */
export type Inbound =
  | { readonly kind: 'init-request'; readonly parsed: ParsedMessage }
  | { readonly kind: 'init-response'; readonly sa: IkeSa; readonly parsed: ParsedMessage }
  | { readonly kind: 'request'; readonly sa: IkeSa; readonly h: IkeHeader; readonly payloads: Payload[] }
  /** The answer to `ctx`, our request, which is no longer pending. */
  | { readonly kind: 'response'; readonly sa: IkeSa; readonly h: IkeHeader; readonly payloads: Payload[]; readonly ctx: RequestCtx };

/**
 * Takes one datagram (UDP payload, marker included on the NAT-T port).
 * Returns what to dispatch, or undefined when it was fully handled here
 * (keepalive, retransmitted request, fragment of an unfinished message, late
 * message for a dropped SA). Throws IkeError for anything refused.
 */
export function admit(s: SessionContext, bytes: Uint8Array, from: UdpEndpoint, nowMs: number, localPort: number): Inbound | undefined {
  const cfg = s.config;
  let msg = bytes;
  if (localPort === cfg.localNattPort) {
    if (bytes.length === 1 && bytes[0] === 0xff) return undefined; // NAT-keepalive (RFC 3948 §2.3)
    if (bytes.length < NON_ESP_MARKER_LEN) throw new IkeError(IkeErrorCode.Truncated, `${bytes.length}-byte datagram on the NAT-T port`);
    if (readU32(bytes, 0) !== 0) throw new IkeError(IkeErrorCode.Unexpected, 'ESP datagram handed to IKE (non-zero marker)');
    msg = bytes.subarray(NON_ESP_MARKER_LEN);
  }
  const parsed = parseMessage(msg);
  const h = parsed.header;
  if (h.exchange === ExchangeType.IKE_SA_INIT && !isResponse(h)) {
    if (!s.started) throw new IkeError(IkeErrorCode.Unexpected, 'IKE_SA_INIT while stopped');
    if (h.messageId !== 0) throw new IkeError(IkeErrorCode.BadMessageId, `IKE_SA_INIT request with message ID ${h.messageId}`);
    if (!allZero(h.spiR)) throw new IkeError(IkeErrorCode.Unexpected, 'IKE_SA_INIT request with a responder SPI');
    if (from.addr !== cfg.peerAddr) throw new IkeError(IkeErrorCode.Unexpected, `IKE_SA_INIT from unknown peer ${from.addr}`);
    return { kind: 'init-request', parsed };
  }
  if (h.exchange === ExchangeType.IKE_SA_INIT) {
    const sa = s.sas.get(toHex(h.spiI));
    if (!sa || !sa.initiator || sa.state !== 'init-sent' || !sa.pending) throw new IkeError(IkeErrorCode.UnknownSpi, 'IKE_SA_INIT response for no pending SA');
    if (from.addr !== sa.peer.addr) throw new IkeError(IkeErrorCode.Unexpected, `response from ${from.addr}`);
    if (h.messageId !== 0 || isFromOriginalInitiator(h)) throw new IkeError(IkeErrorCode.BadMessageId, 'bad IKE_SA_INIT response header');
    return { kind: 'init-response', sa, parsed };
  }
  const fromInit = isFromOriginalInitiator(h);
  const ourSpi = fromInit ? h.spiR : h.spiI;
  const sa = s.sas.get(toHex(ourSpi));
  if (!sa) {
    if (s.deleted.has(toHex(ourSpi))) {
      s.log('debug', 'late-message', `late ${exchangeName(h.exchange)} for deleted IKE SA ${toHex(h.spiI)}_i ${toHex(h.spiR)}_r ignored`);
      return undefined;
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
  const opened = unprotect(sa, parsed, retransmit, resp, nowMs);
  if (opened === undefined) return undefined;
  if (opened === RETRANSMITTED) {
    retransmitResponse(s, sa, h);
    return undefined;
  }
  let payloads: Payload[];
  try {
    payloads = decodeInner(opened);
  } catch (e) {
    // authentic but malformed: a request gets an error answer (RFC 7296 §2.5, §3.10.1)
    if (!resp && e instanceof IkeError) {
      if (e.code === IkeErrorCode.UnsupportedCritical) s.respondError(sa, h, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, e.notifyData);
      else s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
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
  s.log('debug', 'message-received', `${exchangeName(h.exchange)} ${resp ? 'response' : 'request'} ${h.messageId} [${payloadNames(payloads)}]`);
  if (!resp) return { kind: 'request', sa, h, payloads };
  const pending = sa.pending;
  sa.pending = undefined;
  if (!pending) return undefined;
  return { kind: 'response', sa, h, payloads, ctx: pending.ctx };
}

/** The peer repeated the request we last answered: resend the cached response. */
function retransmitResponse(s: SessionContext, sa: IkeSa, h: IkeHeader): void {
  if (!sa.lastResponse) return;
  s.stats.retransmits++;
  s.log('debug', 'response-retransmitted', `${exchangeName(h.exchange)} request ${h.messageId} retransmitted by peer; resending response`);
  s.emit(sa, sa.lastResponse.datagrams);
}
