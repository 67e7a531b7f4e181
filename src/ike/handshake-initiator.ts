/**
 * The initiator's side of IKE_SA_INIT and IKE_AUTH (RFC 7296 §1.2): the
 * first request on 500 with NAT-D, FRAGMENTATION_SUPPORTED and
 * SIGNATURE_HASH_ALGORITHMS; retries on COOKIE (§2.6) and INVALID_KE_PAYLOAD
 * (§1.3.1), at most 3 times each; key derivation; the move to 4500 after NAT
 * detection; then IKE_AUTH with the first CHILD_SA (no DH, §1.2) and the
 * checks of the responder's AUTH, SA and narrowed traffic selectors.
 */
import { identityToString, caKeyHashes, encodeHashAlgorithms, OUR_SIGNATURE_HASHES, parseHashAlgorithms, signedOctets, type IkeIdentity } from './auth.js';
import type { UdpEndpoint } from './actions.js';
import { equalBytes, readU16, readU32, toHex } from './bytes.js';
import { CertEncoding, ExchangeType, HeaderFlag, notifyName, NotifyType, PayloadType } from './constants.js';
import { deriveChildKeys, deriveIkeKeys, skeyseedInitial } from './crypto.js';
import { dhGenerate } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { authPayloadFor, certPayloads, natHash, peerCerts, verifyPeer } from './handshake-common.js';
import { sendDeleteIkeOnce } from './informational.js';
import { connectFailed, dropSa, ikeEstablished, installChild, makeCurrent } from './lifecycle.js';
import { encodePlainMessage, type ParsedMessage } from './message.js';
import { EMPTY_BYTES, findAllNotifies, findErrorNotify, findNotify, findPayload, notify, type Payload } from './payloads.js';
import { acceptAnswer, describeSelected, ikeSuite, toWireProposal, type Selected } from './proposals.js';
import {
  allZero, checkNonce, encrOf, integOf, IkeSa, NONCE_LEN, retransmitTimeout, tsList, u32Bytes, ZERO_SPI, type AuthCtx, type InitCtx,
} from './sa-state.js';
import type { SessionContext } from './session-context.js';
import { isNarrowingOf } from './traffic-selectors.js';

const MAX_COOKIE_TRIES = 3;
const MAX_KE_TRIES = 3;

/** Begins (or restarts) an IKE_SA_INIT towards the peer; an attempt in progress is dropped. */
export function connect(s: SessionContext, nowMs: number): void {
  const cfg = s.config;
  for (const sa of [...s.sas.values()]) {
    if (sa.initiator && (sa.state === 'init-sent' || sa.state === 'auth-sent')) dropSa(s, sa, 'new attempt', nowMs);
  }
  const sa = new IkeSa(true, s.newSpi8(), ZERO_SPI, { addr: cfg.peerAddr, port: cfg.peerIkePort }, cfg.localIkePort, 'init-sent', nowMs);
  s.sas.set(toHex(sa.spiI), sa);
  const proposals = cfg.ikeSpecs.map((spec, i) => toWireProposal(spec, i + 1, EMPTY_BYTES));
  const ctx: InitCtx = {
    kind: 'init', dh: dhGenerate(cfg.ikeSpecs[0].dh[0]), ni: cfg.random(NONCE_LEN), cookie: undefined, proposals,
    cookieTries: 0, keTries: 0,
  };
  s.setState('connecting', `initiating to ${cfg.peerAddr}`);
  s.log('info', 'initiate', `initiating IKE SA ${toHex(sa.spiI)}_i to ${cfg.peerAddr}:${cfg.peerIkePort}`);
  sendInit(s, sa, ctx, nowMs);
}

function sendInit(s: SessionContext, sa: IkeSa, ctx: InitCtx, nowMs: number): void {
  const cfg = s.config;
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
  sa.pending = { msgId: 0, exchange: ExchangeType.IKE_SA_INIT, datagrams: [bytes], ctx, firstSentMs: nowMs, tries: 0, nextMs: nowMs + retransmitTimeout(cfg, 0) };
  s.emit(sa, [bytes]);
}

/** The answer to our IKE_SA_INIT (header already checked). A refused answer keeps the request retransmitting. */
export function onInitResponse(s: SessionContext, sa: IkeSa, parsed: ParsedMessage, from: UdpEndpoint, nowMs: number): void {
  const pending = sa.pending;
  if (!pending || pending.ctx.kind !== 'init') throw new IkeError(IkeErrorCode.Internal, 'init response without init context');
  sa.pending = undefined;
  try {
    handleInitResponse(s, sa, parsed, pending.ctx, from, nowMs);
  } catch (e) {
    if (sa.pending === undefined && sa.state === 'init-sent') sa.pending = pending; // keep retransmitting
    throw e;
  }
}

function handleInitResponse(s: SessionContext, sa: IkeSa, parsed: ParsedMessage, ctx: InitCtx, from: UdpEndpoint, nowMs: number): void {
  const cfg = s.config;
  const ps = parsed.payloads;
  const cookie = findNotify(ps, NotifyType.COOKIE);
  if (cookie) {
    if (cookie.data.length < 1 || cookie.data.length > 64) throw new IkeError(IkeErrorCode.BadPayload, `COOKIE of ${cookie.data.length} bytes`);
    if (ctx.cookieTries >= MAX_COOKIE_TRIES) {
      connectFailed(s, sa, 'responder keeps demanding COOKIEs', nowMs);
      return;
    }
    ctx.cookieTries++;
    ctx.cookie = cookie.data.slice();
    s.stats.cookieRetries++;
    s.log('info', 'cookie-retry', 'responder demanded a COOKIE; retrying IKE_SA_INIT with it');
    sendInit(s, sa, ctx, nowMs);
    return;
  }
  const invalidKe = findNotify(ps, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    const group = invalidKe.data.length >= 2 ? readU16(invalidKe.data, 0) : 0;
    const acceptable = cfg.ikeSpecs.some((spec) => spec.dh.includes(group));
    if (!acceptable || group === ctx.dh.group || ctx.keTries >= MAX_KE_TRIES) {
      connectFailed(s, sa, `responder wants DH group ${group}, which we do not offer`, nowMs);
      return;
    }
    ctx.keTries++;
    ctx.dh = dhGenerate(group);
    s.stats.invalidKeRetries++;
    s.log('info', 'invalid-ke-retry', `responder asked for DH group ${group}; retrying IKE_SA_INIT`);
    sendInit(s, sa, ctx, nowMs);
    return;
  }
  const err = findErrorNotify(ps);
  if (err) {
    s.errors[IkeErrorCode.PeerError]++;
    connectFailed(s, sa, `IKE_SA_INIT refused by peer: ${notifyName(err.notifyType)}`, nowMs);
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
    s.log('info', 'nat-detection', `NAT-D: peer ${peerNat ? 'behind NAT' : 'not behind NAT'}, us ${weNat ? 'behind NAT' : 'not behind NAT'}${cfg.forceEncap ? ', encapsulation forced' : ''}`);
  }
  if (sa.natt) {
    sa.localPort = cfg.localNattPort;
    sa.peer = { addr: sa.peer.addr, port: cfg.peerNattPort };
  }
  sa.fragOk = cfg.fragmentation && findNotify(ps, NotifyType.FRAGMENTATION_SUPPORTED) !== undefined;
  const sh = findNotify(ps, NotifyType.SIGNATURE_HASH_ALGORITHMS);
  sa.peerHashes = sh ? parseHashAlgorithms(sh.data) : [];
  s.log('info', 'ike-sa-init-done', `IKE_SA_INIT done with ${sa.label}: ${describeSelected(sel)}`);
  sendAuth(s, sa, nowMs);
}

function sendAuth(s: SessionContext, sa: IkeSa, nowMs: number): void {
  const cfg = s.config;
  if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
  const id = cfg.localId;
  const payloads: Payload[] = [{ type: PayloadType.IDi, idType: id.idType, data: id.data }];
  payloads.push(...certPayloads(cfg));
  if (cfg.initialContact) payloads.push(notify(NotifyType.INITIAL_CONTACT));
  if (cfg.auth.kind === 'cert') payloads.push({ type: PayloadType.CERTREQ, encoding: CertEncoding.X509_SIGNATURE, data: caKeyHashes(cfg.auth.credentials.cas) });
  if (cfg.remoteId) payloads.push({ type: PayloadType.IDr, idType: cfg.remoteId.idType, data: cfg.remoteId.data });
  payloads.push(authPayloadFor(cfg, sa, signedOctets(sa.suite.prf, sa.initReq, sa.nr, sa.keys.skPi, id)));
  const spiIn = s.newChildSpi();
  const proposals = cfg.espSpecs.map((spec, i) => toWireProposal(spec, i + 1, u32Bytes(spiIn), false));
  payloads.push({ type: PayloadType.SA, proposals });
  payloads.push({ type: PayloadType.TSi, selectors: cfg.localTs });
  payloads.push({ type: PayloadType.TSr, selectors: cfg.remoteTs });
  sa.state = 'auth-sent';
  s.sendRequest(sa, ExchangeType.IKE_AUTH, payloads, { kind: 'auth', childSpiIn: spiIn, proposals, tsi: cfg.localTs, tsr: cfg.remoteTs }, nowMs);
}

/** The responder's IKE_AUTH answer: its identity and AUTH, then the first CHILD_SA. */
export function onAuthResponse(s: SessionContext, sa: IkeSa, payloads: Payload[], ctx: AuthCtx, nowMs: number): void {
  if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
  const idP = findPayload(payloads, PayloadType.IDr);
  const authP = findPayload(payloads, PayloadType.AUTH);
  if (!idP || !authP) {
    const err = findErrorNotify(payloads);
    s.errors[err ? IkeErrorCode.PeerError : IkeErrorCode.BadExchange]++;
    connectFailed(s, sa, err ? `IKE_AUTH refused by peer: ${notifyName(err.notifyType)}` : 'IKE_AUTH response lacks IDr/AUTH', nowMs);
    return;
  }
  const id: IkeIdentity = { idType: idP.idType, data: idP.data };
  try {
    verifyPeer(s.config, sa, id, peerCerts(payloads), authP, signedOctets(sa.suite.prf, sa.initResp, sa.ni, sa.keys.skPr, id));
  } catch (e) {
    s.count(e);
    sendDeleteIkeOnce(s, sa);
    connectFailed(s, sa, `authentication of peer failed: ${(e as Error).message}`, nowMs);
    return;
  }
  sa.peerId = id;
  ikeEstablished(s, sa, nowMs);
  s.log('info', 'ike-sa-established', `IKE SA ${sa.label} established with '${identityToString(id)}' at ${sa.peer.addr}:${sa.peer.port} (${sa.natt ? 'UDP-encapsulated' : 'no NAT-T'})`);
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
      sel = acceptAnswer(ctx.proposals, s.config.espSpecs, saP.proposals, false);
      if (sel.spi.length !== 4) failure = `ESP SPI of ${sel.spi.length} bytes`;
      else if (!isNarrowingOf(tsi.selectors, ctx.tsi) || !isNarrowingOf(tsr.selectors, ctx.tsr)) {
        failure = `traffic selectors ${tsList(tsi.selectors)} === ${tsList(tsr.selectors)} are not within what we proposed`;
      }
    } catch (e) {
      failure = (e as Error).message;
    }
  }
  if (failure || !sel || !tsi || !tsr) {
    s.errors[IkeErrorCode.TsUnacceptable]++;
    s.log('warn', 'child-sa-failed', failure ?? 'CHILD_SA failed');
    sendDeleteIkeOnce(s, sa);
    connectFailed(s, sa, failure ?? 'CHILD_SA failed', nowMs);
    return;
  }
  const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, undefined, encrOf(sel), integOf(sel));
  installChild(s, sa, sel, ctx.childSpiIn, readU32(sel.spi, 0), keys.r2i, keys.i2r, tsi.selectors, tsr.selectors, nowMs);
  makeCurrent(s, sa, nowMs);
}
