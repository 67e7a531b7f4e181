/**
 * INFORMATIONAL exchanges (RFC 7296 §1.4): liveness checks (DPD: an empty
 * request), DELETE of CHILD_SAs and of the IKE SA, ours and the peer's, and
 * the peer's error notifies.
 */
import { readU32 } from './bytes.js';
import { ExchangeType, notifyName, NotifyType, PayloadType, ProtocolId } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { IkeHeader } from './header.js';
import { childLost, dropSa, hasActiveChild, removeChild, tunnelLost } from './lifecycle.js';
import { findAllPayloads, findErrorNotify, type Payload } from './payloads.js';
import { u32Bytes, type ChildState, type IkeSa, type RequestCtx } from './sa-state.js';
import type { SessionContext } from './session-context.js';

const DELETE_IKE: Payload = { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] };

/** DELETE for the IKE SA, sent once and not retransmitted (shutdown, hard expiry, failed IKE_AUTH). */
export function sendDeleteIkeOnce(s: SessionContext, sa: IkeSa): void {
  if (!sa.keys) return;
  const msgId = sa.nextMsgId++;
  s.emit(sa, s.encode(sa, ExchangeType.INFORMATIONAL, msgId, false, [DELETE_IKE]));
}

export function startDpd(s: SessionContext, sa: IkeSa, nowMs: number): void {
  s.stats.dpdSent++;
  s.sendRequest(sa, ExchangeType.INFORMATIONAL, [], { kind: 'dpd' }, nowMs);
}

export function startDeleteChild(s: SessionContext, sa: IkeSa, child: ChildState, nowMs: number): void {
  s.sendRequest(sa, ExchangeType.INFORMATIONAL, [
    { type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32Bytes(child.sa.spiIn)] },
  ], { kind: 'delete-child', child }, nowMs);
}

export function startDeleteIke(s: SessionContext, sa: IkeSa, nowMs: number): void {
  sa.state = sa.state === 'rekeyed' ? 'rekeyed' : 'deleting';
  s.sendRequest(sa, ExchangeType.INFORMATIONAL, [DELETE_IKE], { kind: 'delete-ike' }, nowMs);
}

/** The peer answered our DPD or DELETE. */
export function onInformationalResponse(s: SessionContext, sa: IkeSa, ctx: Extract<RequestCtx, { kind: 'delete-child' | 'delete-ike' | 'dpd' }>, nowMs: number): void {
  switch (ctx.kind) {
    case 'delete-child':
      removeChild(s, sa, ctx.child, 'deleted');
      return;
    case 'delete-ike':
      s.log('info', 'ike-sa-deleted', `IKE SA ${sa.label} deleted`);
      dropSa(s, sa, 'IKE SA deleted', nowMs);
      return;
    case 'dpd':
      return;
  }
}

export function onInformationalRequest(s: SessionContext, sa: IkeSa, h: IkeHeader, payloads: Payload[], nowMs: number): void {
  if (sa.state === 'half-open') {
    s.respondError(sa, h, NotifyType.INVALID_SYNTAX);
    throw new IkeError(IkeErrorCode.BadExchange, 'INFORMATIONAL before IKE_AUTH');
  }
  const deletes = findAllPayloads(payloads, PayloadType.DELETE);
  const ikeDelete = deletes.some((d) => d.protocolId === ProtocolId.IKE);
  if (ikeDelete) {
    s.respond(sa, h, []);
    s.log('info', 'ike-sa-deleted-by-peer', `peer deleted IKE SA ${sa.label}`);
    const wasCurrent = sa === s.current;
    dropSa(s, sa, 'IKE SA deleted by peer', nowMs);
    if (wasCurrent) tunnelLost(s, 'IKE SA deleted by peer', nowMs, false);
    return;
  }
  const ourSpis: Uint8Array[] = [];
  const removed: ChildState[] = [];
  for (const d of deletes) {
    if (d.protocolId !== ProtocolId.ESP || d.spiSize !== 4) continue;
    for (const spiBytes of d.spis) {
      const spi = readU32(spiBytes, 0);
      const c = sa.children.find((x) => x.sa.spiOut === spi);
      if (!c) continue;
      ourSpis.push(u32Bytes(c.sa.spiIn));
      removed.push(c);
    }
  }
  const err = findErrorNotify(payloads);
  if (err) s.log('warn', 'peer-notify', `peer reports ${notifyName(err.notifyType)}`);
  s.respond(sa, h, ourSpis.length ? [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ourSpis }] : []);
  for (const c of removed) {
    // a delete of ours for the same SA may be outstanding: it answers itself
    removeChild(s, sa, c, 'deleted by peer');
  }
  if (removed.length && sa === s.current && !hasActiveChild(sa)) childLost(s, sa, 'CHILD_SA deleted by peer', nowMs);
}
