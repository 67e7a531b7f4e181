/**
 * IKE_SA rekey with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18), both
 * directions: the new SA's keys come from the old SA's SK_d and PRF, its
 * CHILD_SAs and queued work move over, and the old SA is deleted by the
 * rekey's initiator (by us after 30 s if the peer never does). Simultaneous
 * IKE_SA rekeys follow §2.8.2: the exchange with the lowest nonce is redundant.
 */
import { compareBytes, readU16, toHex } from './bytes.js';
import { ExchangeType, notifyName, NotifyType, PayloadType } from './constants.js';
import { deriveIkeKeys, skeyseedRekey } from './crypto.js';
import { dhGenerate } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { IkeHeader } from './header.js';
import { ikeEstablished } from './lifecycle.js';
import { findErrorNotify, findPayload, type Payload } from './payloads.js';
import { acceptAnswer, ikeSuite, selectedToWire, selectProposal, toWireProposal, type Selected } from './proposals.js';
import {
  allZero, checkNonce, IkeSa, minBytes, NONCE_LEN, SUPERSEDED_GRACE_MS, TEMP_FAILURE_RETRY_MS, type IkeRekeyCtx,
} from './sa-state.js';
import type { SessionContext } from './session-context.js';

/** Retry delay after a refused or broken IKE_SA rekey answer. */
const REKEY_RETRY_MS = 30_000;

export function startIkeRekey(s: SessionContext, sa: IkeSa, nowMs: number): void {
  const cfg = s.config;
  if (!sa.suite) return;
  const spiI = s.newSpi8();
  const ni = cfg.random(NONCE_LEN);
  const group = cfg.ikeSpecs.some((spec) => spec.dh.includes(sa.suite?.dhGroup ?? 0)) ? sa.suite.dhGroup : cfg.ikeSpecs[0].dh[0];
  const dh = dhGenerate(group);
  const proposals = cfg.ikeSpecs.map((spec, i) => toWireProposal(spec, i + 1, spiI));
  s.log('info', 'ike-rekey-start', `rekeying IKE SA ${sa.label}`);
  s.sendRequest(sa, ExchangeType.CREATE_CHILD_SA, [
    { type: PayloadType.SA, proposals },
    { type: PayloadType.NONCE, data: ni },
    { type: PayloadType.KE, group: dh.group, data: dh.publicValue },
  ], { kind: 'ike-rekey', spiI, ni, dh, proposals, collision: undefined }, nowMs);
}

function newIkeSaFromRekey(
  s: SessionContext, old: IkeSa, initiator: boolean, spiI: Uint8Array, spiR: Uint8Array, sel: Selected, ni: Uint8Array, nr: Uint8Array,
  gir: Uint8Array, nowMs: number,
): IkeSa {
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
  s.sas.set(toHex(nsa.ourSpi), nsa);
  ikeEstablished(s, nsa, nowMs);
  return nsa;
}

/** Children and pending work move from `old` to `nsa`, which becomes current. */
function switchToRekeyed(s: SessionContext, old: IkeSa, nsa: IkeSa): void {
  nsa.children.push(...old.children);
  old.children = [];
  nsa.queue.push(...old.queue.filter((q) => q.kind !== 'delete-ike' && q.kind !== 'ike-rekey'));
  old.queue = old.queue.filter((q) => q.kind === 'delete-ike');
  old.state = 'rekeyed';
  old.rekeyAtMs = Infinity;
  old.expireAtMs = Infinity;
  if (s.current === old || s.current === undefined) s.current = nsa;
  s.stats.ikeRekeys++;
  s.log('info', 'ike-rekeyed', `IKE SA ${old.label} rekeyed to ${nsa.label}`);
}

export function onIkeRekeyResponse(s: SessionContext, sa: IkeSa, payloads: Payload[], ctx: IkeRekeyCtx, nowMs: number): void {
  const cfg = s.config;
  const err = findErrorNotify(payloads);
  if (err) {
    s.errors[IkeErrorCode.PeerError]++;
    if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD && err.data.length >= 2) {
      const g = readU16(err.data, 0);
      if (cfg.ikeSpecs.some((spec) => spec.dh.includes(g)) && g !== ctx.dh.group && sa.suite) {
        s.stats.invalidKeRetries++;
        sa.suite = { ...sa.suite, dhGroup: g };
        sa.queue.unshift({ kind: 'ike-rekey' });
        return;
      }
    }
    const delay = err.notifyType === NotifyType.TEMPORARY_FAILURE ? TEMP_FAILURE_RETRY_MS + s.rand32() * 3000 : REKEY_RETRY_MS;
    s.log('warn', 'ike-rekey-failed', `IKE SA rekey refused: ${notifyName(err.notifyType)}; retrying in ${Math.round(delay / 1000)} s`);
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
    s.count(e);
    sa.rekeyAtMs = nowMs + REKEY_RETRY_MS;
    return;
  }
  const nsa = newIkeSaFromRekey(s, sa, true, ctx.spiI, sel.spi.slice(), sel, ctx.ni, nonce.data, gir, nowMs);
  const col = ctx.collision;
  if (col && col.ikeSa && s.holds(col.ikeSa)) {
    const ours = minBytes(ctx.ni, nonce.data);
    if (compareBytes(ours, col.nonceMin) < 0) {
      // ours is redundant: the peer's new SA wins; we delete ours, the peer deletes the old one
      s.log('info', 'ike-rekey-collision', `simultaneous IKE SA rekey: ours lost; deleting ${nsa.label}`);
      switchToRekeyed(s, sa, col.ikeSa);
      nsa.state = 'rekeyed';
      nsa.rekeyAtMs = Infinity;
      nsa.expireAtMs = Infinity;
      nsa.queue = [{ kind: 'delete-ike' }];
      sa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
      s.driver.pump(nsa, nowMs);
      return;
    }
    s.log('info', 'ike-rekey-collision', `simultaneous IKE SA rekey: ours won; the peer deletes ${col.ikeSa.label}`);
    col.ikeSa.state = 'rekeyed';
    col.ikeSa.rekeyAtMs = Infinity;
    col.ikeSa.expireAtMs = Infinity;
    col.ikeSa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
    nsa.children.push(...col.ikeSa.children);
    col.ikeSa.children = [];
  }
  switchToRekeyed(s, sa, nsa);
  sa.queue.unshift({ kind: 'delete-ike' });
  sa.retryAtMs = 0;
}

/** The peer rekeys the IKE SA (a CREATE_CHILD_SA whose first proposal is for IKE; nonce checked). */
export function onIkeRekeyRequest(s: SessionContext, sa: IkeSa, h: IkeHeader, payloads: Payload[], ni: Uint8Array, nowMs: number): void {
  const cfg = s.config;
  const pc = sa.pending?.ctx;
  if (pc && pc.kind !== 'dpd' && pc.kind !== 'ike-rekey' && pc.kind !== 'delete-child') {
    s.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
    return;
  }
  const saP = findPayload(payloads, PayloadType.SA);
  const ke = findPayload(payloads, PayloadType.KE);
  if (!saP || !ke) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw new IkeError(IkeErrorCode.BadExchange, 'IKE rekey request lacks KE');
  }
  const sel0 = selectProposal(cfg.ikeSpecs, saP.proposals, true);
  if (!sel0) {
    s.respondError(sa, h, NotifyType.NO_PROPOSAL_CHOSEN);
    return;
  }
  if (!sel0.dhCandidates.includes(ke.group)) {
    s.respondError(sa, h, NotifyType.INVALID_KE_PAYLOAD, new Uint8Array([sel0.dh >>> 8, sel0.dh & 0xff]));
    return;
  }
  if (sel0.spi.length !== 8 || allZero(sel0.spi)) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw new IkeError(IkeErrorCode.BadPayload, 'IKE SPI in rekey request');
  }
  const sel: Selected = { ...sel0, dh: ke.group };
  const dh = dhGenerate(ke.group);
  let gir: Uint8Array;
  try {
    gir = dh.computeShared(ke.data);
  } catch (e) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw e;
  }
  const nr = cfg.random(NONCE_LEN);
  const spiR = s.newSpi8();
  const nsa = newIkeSaFromRekey(s, sa, false, sel0.spi.slice(), spiR, sel, ni, nr, gir, nowMs);
  s.respond(sa, h, [
    { type: PayloadType.SA, proposals: [selectedToWire(sel, spiR)] },
    { type: PayloadType.NONCE, data: nr },
    { type: PayloadType.KE, group: ke.group, data: dh.publicValue },
  ]);
  if (pc && pc.kind === 'ike-rekey') {
    pc.collision = { nonceMin: minBytes(ni, nr), ikeSa: nsa };
    return;
  }
  switchToRekeyed(s, sa, nsa);
  sa.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
}
