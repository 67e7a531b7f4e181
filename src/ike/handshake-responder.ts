/**
 * The responder's side of IKE_SA_INIT and IKE_AUTH (RFC 7296 §1.2): stateless
 * COOKIEs once half-open SAs reach `cookieThreshold` (§2.6), a hard limit on
 * half-open SAs, proposal and KE group selection (INVALID_KE_PAYLOAD, §1.3.1),
 * NAT-D, then IKE_AUTH: the initiator's ID/CERT/AUTH, our answer and the
 * first CHILD_SA with narrowed traffic selectors.
 */
import { createHmac } from 'node:crypto';
import type { UdpEndpoint } from './actions.js';
import { caKeyHashes, encodeHashAlgorithms, identityToString, OUR_SIGNATURE_HASHES, parseHashAlgorithms, signedOctets, type IkeIdentity } from './auth.js';
import { concat, equalBytes, ipv4Bytes, readU32, toHex } from './bytes.js';
import { CertEncoding, ExchangeType, HeaderFlag, notifyName, NotifyType, PayloadType } from './constants.js';
import { constantTimeEqual, deriveChildKeys, deriveIkeKeys, skeyseedInitial } from './crypto.js';
import { negotiateChild } from './create-child.js';
import { dhGenerate } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { authPayloadFor, certPayloads, natHash, peerCerts, verifyPeer } from './handshake-common.js';
import type { IkeHeader } from './header.js';
import { childLost, dropSa, ikeEstablished, installChild, makeCurrent } from './lifecycle.js';
import { encodePlainMessage, type ParsedMessage } from './message.js';
import { EMPTY_BYTES, findAllNotifies, findNotify, findPayload, notify, type Payload } from './payloads.js';
import { describeSelected, ikeSuite, selectedToWire, selectProposal, type Selected } from './proposals.js';
import { checkNonce, encrOf, IkeSa, integOf, NON_ESP_MARKER, NONCE_LEN, u32Bytes, ZERO_SPI } from './sa-state.js';
import type { SessionContext } from './session-context.js';

const COOKIE_SECRET_LIFETIME_MS = 300_000;

/**
 * Stateless COOKIEs (RFC 7296 §2.6): version | HMAC-SHA-256(secret, Ni | IPi | SPIi).
 * The secret is rotated every 5 minutes (when cookies are in use); cookies
 * made with the previous secret are still accepted.
 */
export class CookieJar {
  private secret: Uint8Array;
  private secretPrev: Uint8Array;
  private version = 0;
  private rotatedMs = -Infinity;

  constructor(private readonly random: (n: number) => Uint8Array) {
    this.secret = random(32);
    this.secretPrev = this.secret;
  }

  /** Rotates the secret if it is older than 5 minutes. */
  refresh(nowMs: number): void {
    if (nowMs - this.rotatedMs <= COOKIE_SECRET_LIFETIME_MS) return;
    this.secretPrev = this.secret;
    this.secret = this.random(32);
    this.version = (this.version + 1) >>> 0;
    this.rotatedMs = nowMs;
  }

  make(ni: Uint8Array, addr: string, spiI: Uint8Array): Uint8Array {
    return this.cookieFor(this.version, ni, addr, spiI);
  }

  /** The COOKIE notify data the initiator returned is one of ours for (Ni, IPi, SPIi). */
  verify(data: Uint8Array, ni: Uint8Array, addr: string, spiI: Uint8Array): boolean {
    if (data.length < 4) return false;
    const v = readU32(data, 0);
    if (v !== this.version && v !== ((this.version - 1) >>> 0)) return false;
    return constantTimeEqual(data, this.cookieFor(v, ni, addr, spiI));
  }

  private cookieFor(version: number, ni: Uint8Array, addr: string, spiI: Uint8Array): Uint8Array {
    const secret = version === this.version ? this.secret : this.secretPrev;
    const mac = createHmac('sha256', secret).update(ni).update(ipv4Bytes(addr)).update(spiI).digest();
    return concat(u32Bytes(version), new Uint8Array(mac));
  }
}

function halfOpenCount(s: SessionContext): number {
  let n = 0;
  for (const sa of s.sas.values()) if (sa.state === 'half-open') n++;
  return n;
}

/** An IKE_SA_INIT request from the configured peer (header already checked). */
export function onInitRequest(s: SessionContext, cookies: CookieJar, parsed: ParsedMessage, from: UdpEndpoint, localPort: number, nowMs: number): void {
  const cfg = s.config;
  const h = parsed.header;
  const ps = parsed.payloads;
  for (const sa of s.sas.values()) {
    if (!sa.initiator && equalBytes(sa.spiI, h.spiI) && sa.peer.addr === from.addr && sa.state === 'half-open') {
      if (equalBytes(sa.initReq, parsed.bytes) && sa.lastResponse) {
        s.stats.retransmits++;
        s.emit(sa, sa.lastResponse.datagrams);
        return;
      }
      throw new IkeError(IkeErrorCode.Unexpected, `IKE_SA_INIT for existing half-open SA ${sa.label}`);
    }
  }
  const plainReply = (payloads: Payload[]): void => {
    const bytes = encodePlainMessage({ spiI: h.spiI, spiR: ZERO_SPI, exchange: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0, payloads });
    s.push({ kind: 'send', bytes: localPort === cfg.localNattPort ? concat(NON_ESP_MARKER, bytes) : bytes, src: { addr: cfg.localAddr, port: localPort }, dst: from });
    s.stats.txDatagrams++;
  };
  const saP = findPayload(ps, PayloadType.SA);
  const ke = findPayload(ps, PayloadType.KE);
  const nonce = findPayload(ps, PayloadType.NONCE);
  if (!saP || !ke || !nonce) throw new IkeError(IkeErrorCode.BadExchange, 'IKE_SA_INIT request lacks SA, KE or Nonce');
  checkNonce(nonce.data);
  const halfOpen = halfOpenCount(s);
  if (halfOpen >= cfg.maxHalfOpen) throw new IkeError(IkeErrorCode.Cookie, `${halfOpen} half-open IKE SAs: refusing more`);
  if (halfOpen >= cfg.cookieThreshold) {
    cookies.refresh(nowMs);
    const first = ps[0];
    const ok = first !== undefined && first.type === PayloadType.NOTIFY && first.notifyType === NotifyType.COOKIE &&
      cookies.verify(first.data, nonce.data, from.addr, h.spiI);
    if (!ok) {
      s.stats.cookiesSent++;
      s.errors[IkeErrorCode.Cookie]++;
      s.log('info', 'cookie-demanded', `${halfOpen} half-open IKE SAs: demanding a COOKIE from ${from.addr}:${from.port}`);
      plainReply([notify(NotifyType.COOKIE, cookies.make(nonce.data, from.addr, h.spiI))]);
      return;
    }
  }
  const sel0 = selectProposal(cfg.ikeSpecs, saP.proposals, true);
  if (!sel0) {
    s.errors[IkeErrorCode.NoProposal]++;
    s.log('warn', 'no-proposal-chosen', `no acceptable IKE proposal from ${from.addr}`);
    plainReply([notify(NotifyType.NO_PROPOSAL_CHOSEN)]);
    return;
  }
  if (!sel0.dhCandidates.includes(ke.group)) {
    s.errors[IkeErrorCode.InvalidKe]++;
    s.log('info', 'invalid-ke', `peer sent KE group ${ke.group}; asking for ${sel0.dh}`);
    plainReply([notify(NotifyType.INVALID_KE_PAYLOAD, new Uint8Array([sel0.dh >>> 8, sel0.dh & 0xff]))]);
    return;
  }
  const sel: Selected = { ...sel0, dh: ke.group };
  const suite = ikeSuite(sel);
  const dh = dhGenerate(ke.group);
  const gir = dh.computeShared(ke.data);
  const sa = new IkeSa(false, h.spiI.slice(), s.newSpi8(), { addr: from.addr, port: from.port }, localPort, 'half-open', nowMs);
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
    s.log('info', 'nat-detection', `NAT-D: peer ${peerNat ? 'behind NAT' : 'not behind NAT'}, us ${weNat ? 'behind NAT' : 'not behind NAT'}`);
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
  s.sas.set(toHex(sa.spiR), sa);
  s.log('info', 'ike-sa-init-answered', `IKE_SA_INIT from ${from.addr}:${from.port}: ${describeSelected(sel)}, SA ${sa.label}`);
  s.emit(sa, [bytes]);
}

/** The initiator's IKE_AUTH on a half-open SA: authenticate it, answer, and set up the first CHILD_SA. */
export function onAuthRequest(s: SessionContext, sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
  const cfg = s.config;
  if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'auth without keys');
  if (sa.state !== 'half-open') {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw new IkeError(IkeErrorCode.BadExchange, `IKE_AUTH in state ${sa.state}`);
  }
  const idP = findPayload(payloads, PayloadType.IDi);
  const authP = findPayload(payloads, PayloadType.AUTH);
  if (!idP || !authP) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    dropSa(s, sa, 'bad IKE_AUTH', nowMs);
    throw new IkeError(IkeErrorCode.BadExchange, 'IKE_AUTH request lacks IDi/AUTH');
  }
  const id: IkeIdentity = { idType: idP.idType, data: idP.data };
  try {
    verifyPeer(cfg, sa, id, peerCerts(payloads), authP, signedOctets(sa.suite.prf, sa.initReq, sa.nr, sa.keys.skPi, id));
  } catch (e) {
    s.respondError(sa, h, NotifyType.AUTHENTICATION_FAILED);
    dropSa(s, sa, 'authentication failed', nowMs);
    throw e;
  }
  sa.peerId = id;
  sa.halfOpenUntilMs = Infinity;
  sa.initialContact = findNotify(payloads, NotifyType.INITIAL_CONTACT) !== undefined;
  const ourId = cfg.localId;
  const resp: Payload[] = [{ type: PayloadType.IDr, idType: ourId.idType, data: ourId.data }];
  resp.push(...certPayloads(cfg));
  resp.push(authPayloadFor(cfg, sa, signedOctets(sa.suite.prf, sa.initResp, sa.ni, sa.keys.skPr, ourId)));
  ikeEstablished(s, sa, nowMs);
  s.log('info', 'ike-sa-established', `IKE SA ${sa.label} established with '${identityToString(id)}' at ${sa.peer.addr}:${sa.peer.port} (${sa.natt ? 'UDP-encapsulated' : 'no NAT-T'})`);
  // the first CHILD_SA
  const child = negotiateChild(s, payloads, undefined);
  if ('error' in child) {
    s.log('warn', 'child-sa-failed', `CHILD_SA in IKE_AUTH refused: ${notifyName(child.error)}`);
    resp.push(notify(child.error));
    s.respond(sa, h, resp);
    makeCurrent(s, sa, nowMs);
    childLost(s, sa, `CHILD_SA refused: ${notifyName(child.error)}`, nowMs);
    return;
  }
  const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, undefined, encrOf(child.sel), integOf(child.sel));
  const spiIn = s.newChildSpi();
  installChild(s, sa, child.sel, spiIn, child.spiOut, keys.i2r, keys.r2i, child.tsr, child.tsi, nowMs);
  resp.push({ type: PayloadType.SA, proposals: [selectedToWire(child.sel, u32Bytes(spiIn), false)] });
  resp.push({ type: PayloadType.TSi, selectors: child.tsi });
  resp.push({ type: PayloadType.TSr, selectors: child.tsr });
  s.respond(sa, h, resp);
  makeCurrent(s, sa, nowMs);
}
