/**
 * CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1, §1.3.3): rekeying a CHILD_SA
 * (REKEY_SA, PFS when the ESP proposal has a DH group) and creating one after
 * the peer deleted ours, both directions. Make-before-break: the new SA is
 * installed before the old one is deleted by the rekey's initiator.
 * Simultaneous rekeys of one SA follow §2.8.1: the exchange with the lowest
 * nonce is redundant and its initiator deletes what it created. A CHILD_SA
 * rekey crossing an IKE_SA rekey gets TEMPORARY_FAILURE. Also the responder's
 * CHILD_SA negotiation that IKE_AUTH shares (proposal choice, TS narrowing).
 * IKE_SA rekeys arrive here too and are handed to ike-rekey.ts.
 */
import { compareBytes, readU16, readU32 } from './bytes.js';
import { DhGroup, ExchangeType, notifyName, NotifyType, PayloadType, ProtocolId } from './constants.js';
import { deriveChildKeys } from './crypto.js';
import { dhGenerate } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { IkeHeader } from './header.js';
import { onIkeRekeyRequest } from './ike-rekey.js';
import { childLost, hasActiveChild, installChild, makeCurrent, removeChild } from './lifecycle.js';
import { EMPTY_BYTES, findErrorNotify, findNotify, findPayload, notify, type Payload, type TrafficSelector } from './payloads.js';
import { acceptAnswer, selectedToWire, selectProposal, toWireProposal, type Selected } from './proposals.js';
import {
  checkNonce, encrOf, hex32, integOf, minBytes, NONCE_LEN, SUPERSEDED_GRACE_MS, TEMP_FAILURE_RETRY_MS, tsList, u32Bytes,
  type ChildCreateCtx, type ChildState, type IkeSa,
} from './sa-state.js';
import type { SessionContext } from './session-context.js';
import { isNarrowingOf, narrow } from './traffic-selectors.js';

/** Outcome of the responder's CHILD_SA negotiation: the choice, or the notify to refuse with. */
export type ChildNegotiation =
  | { sel: Selected; spiOut: number; tsi: TrafficSelector[]; tsr: TrafficSelector[] }
  | { error: number; data?: Uint8Array };

/**
 * Responder side of a CHILD_SA negotiation (IKE_AUTH or CREATE_CHILD_SA):
 * proposal selection (with PFS when the request carries KE of `keGroup`) and
 * traffic selector narrowing.
 */
export function negotiateChild(s: SessionContext, payloads: Payload[], keGroup: number | undefined): ChildNegotiation {
  const cfg = s.config;
  const saP = findPayload(payloads, PayloadType.SA);
  const tsi = findPayload(payloads, PayloadType.TSi);
  const tsr = findPayload(payloads, PayloadType.TSr);
  if (!saP || !tsi || !tsr) return { error: NotifyType.INVALID_SYNTAX };
  let sel: Selected | undefined;
  if (keGroup !== undefined) {
    sel = selectProposal(cfg.espSpecs.filter((spec) => spec.dh.length > 0), saP.proposals, true);
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
    s.errors[IkeErrorCode.TsUnacceptable]++;
    s.log('warn', 'ts-unacceptable', `peer proposed ${tsList(tsi.selectors)} === ${tsList(tsr.selectors)}; we allow ${tsList(cfg.remoteTs)} === ${tsList(cfg.localTs)}`);
    return { error: NotifyType.TS_UNACCEPTABLE };
  }
  return { sel, spiOut, tsi: ni, tsr: nr };
}

/** Rekeys `old`, or creates a new CHILD_SA when `old` is undefined. */
export function startChildCreate(s: SessionContext, sa: IkeSa, old: ChildState | undefined, nowMs: number): void {
  const cfg = s.config;
  const spiIn = s.newChildSpi();
  const ni = cfg.random(NONCE_LEN);
  const group = old ? old.preferredDh : DhGroup.NONE;
  const pfsGroup = group !== DhGroup.NONE ? group : (cfg.espSpecs[0].dh[0] ?? DhGroup.NONE);
  const dh = pfsGroup !== DhGroup.NONE ? dhGenerate(pfsGroup) : undefined;
  const proposals = cfg.espSpecs.map((spec, i) => toWireProposal(spec, i + 1, u32Bytes(spiIn), true));
  const tsi = old ? old.localTs : cfg.localTs;
  const tsr = old ? old.remoteTs : cfg.remoteTs;
  const payloads: Payload[] = [];
  if (old) payloads.push(notify(NotifyType.REKEY_SA, EMPTY_BYTES, ProtocolId.ESP, u32Bytes(old.sa.spiIn)));
  payloads.push({ type: PayloadType.SA, proposals });
  payloads.push({ type: PayloadType.NONCE, data: ni });
  if (dh) payloads.push({ type: PayloadType.KE, group: dh.group, data: dh.publicValue });
  payloads.push({ type: PayloadType.TSi, selectors: tsi });
  payloads.push({ type: PayloadType.TSr, selectors: tsr });
  s.log('info', old ? 'child-rekey-start' : 'child-create-start', old ? `rekeying CHILD_SA ${hex32(old.sa.spiIn)}_i` : 'creating a CHILD_SA');
  s.sendRequest(sa, ExchangeType.CREATE_CHILD_SA, payloads, { kind: 'child-rekey', old, spiIn, ni, dh, proposals, tsi, tsr, collision: undefined }, nowMs);
}

export function onChildCreateResponse(s: SessionContext, sa: IkeSa, payloads: Payload[], ctx: ChildCreateCtx, nowMs: number): void {
  const cfg = s.config;
  if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
  const old = ctx.old;
  const retryLater = (why: string, delayMs: number): void => {
    s.log('warn', 'child-rekey-failed', `${old ? 'CHILD_SA rekey' : 'CHILD_SA creation'} failed: ${why}; retrying in ${Math.round(delayMs / 1000)} s`);
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
    s.errors[IkeErrorCode.PeerError]++;
    if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD && err.data.length >= 2) {
      const g = readU16(err.data, 0);
      if (cfg.espSpecs.some((spec) => spec.dh.includes(g)) && g !== ctx.dh?.group) {
        s.stats.invalidKeRetries++;
        if (old) {
          old.preferredDh = g;
          old.status = 'rekeying';
          sa.queue.unshift({ kind: 'child-rekey', child: old });
        } else {
          sa.queue.unshift({ kind: 'child-create' });
        }
        s.log('info', 'invalid-ke-retry', `peer wants PFS group ${g}; retrying`);
        return;
      }
    }
    if (err.notifyType === NotifyType.CHILD_SA_NOT_FOUND && old) {
      removeChild(s, sa, old, 'peer does not know it');
      if (!hasActiveChild(sa)) childLost(s, sa, 'CHILD_SA unknown to peer', nowMs);
      return;
    }
    retryLater(notifyName(err.notifyType), err.notifyType === NotifyType.TEMPORARY_FAILURE ? TEMP_FAILURE_RETRY_MS + s.rand32() * 3000 : 30_000);
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
    s.count(e);
    retryLater((e as Error).message, 30_000);
    return;
  }
  const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, ctx.ni, nonce.data, gir, encrOf(sel), integOf(sel));
  const child = installChild(s, sa, sel, ctx.spiIn, readU32(sel.spi, 0), keys.r2i, keys.i2r, tsi.selectors, tsr.selectors, nowMs);
  if (!old) {
    makeCurrent(s, sa, nowMs);
    return;
  }
  s.stats.childRekeys++;
  const col = ctx.collision;
  if (col && col.child) {
    // RFC 7296 §2.8.1: the exchange with the lowest nonce created the redundant SA; its initiator deletes it.
    const ours = minBytes(ctx.ni, nonce.data);
    if (compareBytes(ours, col.nonceMin) < 0) {
      s.log('info', 'child-rekey-collision', `simultaneous CHILD_SA rekey: ours lost, deleting our new CHILD_SA ${hex32(child.sa.spiIn)}_i`);
      child.status = 'deleting';
      sa.queue.unshift({ kind: 'delete-child', child });
      old.status = 'rekeyed';
      old.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
      return;
    }
    s.log('info', 'child-rekey-collision', 'simultaneous CHILD_SA rekey: ours won, deleting the old CHILD_SA');
  }
  old.status = 'deleting';
  sa.queue.unshift({ kind: 'delete-child', child: old });
  s.log('info', 'child-rekeyed', `CHILD_SA ${hex32(old.sa.spiIn)}_i rekeyed to ${hex32(child.sa.spiIn)}_i`);
}

export function onCreateChildRequest(s: SessionContext, sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
  const cfg = s.config;
  if (sa.state !== 'established') {
    s.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
    return;
  }
  if (!sa.suite || !sa.keys) throw new IkeError(IkeErrorCode.Internal, 'no keys');
  const saP = findPayload(payloads, PayloadType.SA);
  const nonce = findPayload(payloads, PayloadType.NONCE);
  if (!saP || !nonce || saP.proposals.length === 0) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw new IkeError(IkeErrorCode.BadExchange, 'CREATE_CHILD_SA request lacks SA/Nonce');
  }
  try {
    checkNonce(nonce.data);
  } catch (e) {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw e;
  }
  if (saP.proposals[0].protocolId === ProtocolId.IKE) {
    onIkeRekeyRequest(s, sa, h, payloads, nonce.data, nowMs);
    return;
  }
  const rekey = findNotify(payloads, NotifyType.REKEY_SA);
  let old: ChildState | undefined;
  let collision: ChildCreateCtx | undefined;
  if (rekey) {
    const spi = rekey.spi.length === 4 ? readU32(rekey.spi, 0) : -1;
    old = sa.children.find((c) => c.sa.spiOut === spi && (c.status === 'installed' || c.status === 'rekeying'));
    if (!old || rekey.protocolId !== ProtocolId.ESP) {
      s.log('warn', 'child-sa-not-found', `peer rekeys unknown CHILD_SA ${spi >= 0 ? hex32(spi) : '?'}`);
      s.respondError(sa, h, NotifyType.CHILD_SA_NOT_FOUND, EMPTY_BYTES, ProtocolId.ESP, rekey.spi);
      return;
    }
    const pc = sa.pending?.ctx;
    if (pc && pc.kind === 'ike-rekey') {
      s.respondError(sa, h, NotifyType.TEMPORARY_FAILURE);
      return;
    }
    if (pc && pc.kind === 'child-rekey' && pc.old === old) collision = pc;
  }
  const ke = findPayload(payloads, PayloadType.KE);
  const neg = negotiateChild(s, payloads, ke?.group);
  if ('error' in neg) {
    s.log('warn', 'child-create-refused', `CREATE_CHILD_SA refused: ${notifyName(neg.error)}`);
    s.respondError(sa, h, neg.error, neg.data ?? EMPTY_BYTES);
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
      s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
      throw e;
    }
    ourKe = { type: PayloadType.KE, group: ke.group, data: dh.publicValue };
  }
  const keys = deriveChildKeys(sa.suite.prf, sa.keys.skD, nonce.data, nr, gir, encrOf(neg.sel), integOf(neg.sel));
  const spiIn = s.newChildSpi();
  const child = installChild(s, sa, neg.sel, spiIn, neg.spiOut, keys.i2r, keys.r2i, neg.tsr, neg.tsi, nowMs);
  const resp: Payload[] = [
    { type: PayloadType.SA, proposals: [selectedToWire(neg.sel, u32Bytes(spiIn), ke !== undefined)] },
    { type: PayloadType.NONCE, data: nr },
  ];
  if (ourKe) resp.push(ourKe);
  resp.push({ type: PayloadType.TSi, selectors: neg.tsi }, { type: PayloadType.TSr, selectors: neg.tsr });
  s.respond(sa, h, resp);
  if (old) {
    s.stats.childRekeys++;
    s.log('info', 'child-rekeyed', `peer rekeyed CHILD_SA ${hex32(old.sa.spiIn)}_i to ${hex32(child.sa.spiIn)}_i`);
    if (collision) {
      collision.collision = { nonceMin: minBytes(nonce.data, nr), child };
    } else {
      old.status = 'rekeyed';
      old.deleteAtMs = nowMs + SUPERSEDED_GRACE_MS;
    }
  } else {
    makeCurrent(s, sa, nowMs);
  }
}
