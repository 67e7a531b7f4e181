/**
 * A session across a restart of the daemon: saveSession() writes what its
 * established IKE SA needs to go on (SPIs, the selected suite, SK_d, SK_a,
 * SK_e and SK_p of both directions, the nonces, message IDs both ways, the
 * cached last response, the peer's endpoint, NAT-T and fragmentation, timers
 * as times relative to the save, queued work, and the CHILD_SAs it owns with
 * their ESP keys) as JSON-ready data; decodeSession() checks it against the
 * session's configuration and restoreSession() puts it into a session that
 * never started, which then answers the peer's next message and keeps its
 * timers as if no restart had happened.
 *
 * Not saved (saveSession says why, and the tunnel is negotiated again): a
 * session with no established IKE SA, or whose request in flight needs its
 * exchange's secrets (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, an IKE SA
 * delete). A DPD or CHILD_SA delete in flight is saved and retransmitted.
 * Half-open SAs, an IKE SA superseded by a rekey and unfinished fragment
 * reassembly are dropped.
 */
import { espAlgParams } from '../ipsec/esp-alg.js';
import type { ChildSa, EspAlgorithm, EspTrafficSelector } from '../ipsec/sa-types.js';
import {
  SavedStateError, bytesToSaved, savedArray, savedBool, savedBytes, savedInt, savedObject, savedString, savedTime, timeToSaved,
  type SavedObject,
} from '../lib/saved-fields.js';
import type { UdpEndpoint } from './actions.js';
import type { IkeIdentity } from './auth.js';
import { fromHex, toHex } from './bytes.js';
import { ExchangeType } from './constants.js';
import type { DirectionKeys, IkeKeys } from './crypto.js';
import { hasActiveChild } from './lifecycle.js';
import type { TrafficSelector } from './payloads.js';
import { ikeSuite, type Selected } from './proposals.js';
import { IkeSa, type ChildState, type ChildStatus, type Intent, type Pending } from './sa-state.js';
import type { SessionContext } from './session-context.js';

export const SESSION_STATE_VERSION = 1;
const U32 = 0xffffffff;
const MAX_CHILDREN = 64;
const MAX_DATAGRAMS = 64;
const MAX_TS = 64;
const STATUSES: readonly ChildStatus[] = ['installed', 'rekeying', 'rekeyed', 'deleting'];
const SIMPLE_INTENTS = ['child-create', 'ike-rekey', 'delete-ike', 'dpd'] as const;
const CHILD_INTENTS = ['child-rekey', 'delete-child'] as const;

/** A session's state as saveSession() writes it (plain JSON). */
export type SavedSession = Readonly<Record<string, unknown>>;

/** A decoded saved session, ready for restoreSession(). */
export interface RestoredSession {
  readonly sa: IkeSa;
  readonly childSerial: number;
}

/** The state of `s` at nowMs, or why it cannot be saved. */
export function saveSession(s: SessionContext, nowMs: number): { saved: SavedSession } | { reason: string } {
  const sa = s.current;
  if (sa === undefined || sa.state !== 'established' || !sa.keys || !sa.sel) return { reason: 'no established IKE SA' };
  const p = sa.pending;
  if (p && p.ctx.kind !== 'dpd' && p.ctx.kind !== 'delete-child') return { reason: `a ${p.ctx.kind} exchange is in flight` };
  const t = (x: number): number | null => timeToSaved(x, nowMs);
  const k = sa.keys;
  const dir = (d: DirectionKeys) => ({ e: bytesToSaved(d.encKey), s: bytesToSaved(d.salt), a: bytesToSaved(d.integKey) });
  return {
    saved: {
      v: SESSION_STATE_VERSION, role: s.role, connection: s.config.name, tunnel: s.config.tunnel, childSerial: s.childSerial,
      spiI: toHex(sa.spiI), spiR: toHex(sa.spiR), initiator: sa.initiator, sel: selectedToSaved(sa.sel),
      keys: { d: bytesToSaved(k.skD), i: dir(k.i), r: dir(k.r), pi: bytesToSaved(k.skPi), pr: bytesToSaved(k.skPr) },
      ni: bytesToSaved(sa.ni), nr: bytesToSaved(sa.nr), peer: { addr: sa.peer.addr, port: sa.peer.port }, localPort: sa.localPort,
      natt: sa.natt, fragOk: sa.fragOk, peerHashes: [...sa.peerHashes], initialContact: sa.initialContact,
      peerId: sa.peerId ? { idType: sa.peerId.idType, data: bytesToSaved(sa.peerId.data) } : null,
      nextMsgId: sa.nextMsgId, peerNextMsgId: sa.peerNextMsgId,
      lastResponse: sa.lastResponse ? { msgId: sa.lastResponse.msgId, datagrams: sa.lastResponse.datagrams.map(bytesToSaved) } : null,
      lastRxMs: t(sa.lastRxMs), establishedMs: t(sa.establishedMs), rekeyAtMs: t(sa.rekeyAtMs), expireAtMs: t(sa.expireAtMs),
      deleteAtMs: t(sa.deleteAtMs), retryAtMs: t(sa.retryAtMs),
      pending: p ? {
        msgId: p.msgId, exchange: p.exchange, datagrams: p.datagrams.map(bytesToSaved), kind: p.ctx.kind,
        child: p.ctx.kind === 'delete-child' ? p.ctx.child.sa.spiIn : null, firstSentMs: t(p.firstSentMs), tries: p.tries, nextMs: t(p.nextMs),
      } : null,
      queue: sa.queue.map((q) => ({ kind: q.kind, child: q.kind === 'child-rekey' || q.kind === 'delete-child' ? q.child.sa.spiIn : null })),
      children: sa.children.map((c) => ({
        sa: childSaToSaved(c.sa, nowMs), sel: selectedToSaved(c.sel), localTs: c.localTs.map(tsToSaved), remoteTs: c.remoteTs.map(tsToSaved),
        status: c.status, rekeyAtMs: t(c.rekeyAtMs), expireAtMs: t(c.expireAtMs), deleteAtMs: t(c.deleteAtMs), preferredDh: c.preferredDh,
      })),
    },
  };
}

/**
 * Checks saved state against the session it goes into (role, connection,
 * tunnel, peer and local addresses, algorithms and key lengths) and builds
 * its IKE SA, times on this process's clock (`baseMs` is the save instant).
 * Throws SavedStateError.
 */
export function decodeSession(v: unknown, s: SessionContext, baseMs: number): RestoredSession {
  const cfg = s.config;
  const o = savedObject(v, 'IKE session');
  if (savedInt(o, 'v', 0, 1000) !== SESSION_STATE_VERSION) throw new SavedStateError(`IKE session state version ${String(o.v)}`);
  if (savedString(o, 'role', 16) !== s.role) throw new SavedStateError(`saved as ${String(o.role)}, this tunnel is the ${s.role}`);
  if (savedString(o, 'connection', 255) !== cfg.name || savedInt(o, 'tunnel', 0, 255) !== cfg.tunnel) {
    throw new SavedStateError(`saved for ${String(o.connection)}#${String(o.tunnel)}`);
  }
  const spiI = spi8(o, 'spiI'), spiR = spi8(o, 'spiR');
  const sel = decodeSelected(savedObject(o.sel, 'sel'), 'ike');
  let suite;
  try {
    suite = ikeSuite(sel);
  } catch (e) {
    throw new SavedStateError(`IKE suite: ${(e as Error).message}`);
  }
  const ko = savedObject(o.keys, 'keys');
  const p = suite.prf.len, el = suite.encr.keyLen, sl = suite.encr.saltLen, al = suite.integ?.keyLen ?? 0;
  const dir = (x: unknown): DirectionKeys => {
    const d = savedObject(x, 'keys direction');
    return { encKey: savedBytes(d, 'e', [el]), salt: savedBytes(d, 's', [sl]), integKey: savedBytes(d, 'a', [al]) };
  };
  const keys: IkeKeys = { skD: savedBytes(ko, 'd', [p]), i: dir(ko.i), r: dir(ko.r), skPi: savedBytes(ko, 'pi', [p]), skPr: savedBytes(ko, 'pr', [p]) };
  const peer = endpoint(savedObject(o.peer, 'peer'));
  if (peer.addr !== cfg.peerAddr) throw new SavedStateError(`peer ${peer.addr}, the tunnel's peer is ${cfg.peerAddr}`);
  const localPort = savedInt(o, 'localPort', 1, 65535);
  if (localPort !== cfg.localIkePort && localPort !== cfg.localNattPort) throw new SavedStateError(`local port ${localPort}`);
  const sa = new IkeSa(savedBool(o, 'initiator'), spiI, spiR, peer, localPort, 'established', baseMs);
  sa.suite = suite;
  sa.sel = sel;
  sa.keys = keys;
  sa.ni = nonce(o, 'ni');
  sa.nr = nonce(o, 'nr');
  sa.natt = savedBool(o, 'natt');
  sa.fragOk = savedBool(o, 'fragOk');
  sa.initialContact = savedBool(o, 'initialContact');
  sa.peerHashes = savedArray(o.peerHashes, 'peerHashes', 16).map((h) => savedInt({ h }, 'h', 0, 65535));
  if (o.peerId !== null) {
    const id = savedObject(o.peerId, 'peerId');
    sa.peerId = { idType: savedInt(id, 'idType', 0, 255), data: savedBytes(id, 'data', undefined, 4096) } satisfies IkeIdentity;
  }
  sa.nextMsgId = savedInt(o, 'nextMsgId', 0, U32);
  sa.peerNextMsgId = savedInt(o, 'peerNextMsgId', 0, U32);
  if (o.lastResponse !== null) {
    const lr = savedObject(o.lastResponse, 'lastResponse');
    sa.lastResponse = { msgId: savedInt(lr, 'msgId', 0, U32), datagrams: datagrams(lr) };
  }
  sa.lastRxMs = savedTime(o, 'lastRxMs', baseMs);
  sa.establishedMs = savedTime(o, 'establishedMs', baseMs);
  sa.rekeyAtMs = savedTime(o, 'rekeyAtMs', baseMs);
  sa.expireAtMs = savedTime(o, 'expireAtMs', baseMs);
  sa.deleteAtMs = savedTime(o, 'deleteAtMs', baseMs);
  sa.retryAtMs = Math.min(savedTime(o, 'retryAtMs', baseMs), baseMs);
  if (!Number.isFinite(sa.lastRxMs) || !Number.isFinite(sa.establishedMs)) throw new SavedStateError('lastRxMs and establishedMs must be times');
  const bySpi = new Map<number, ChildState>();
  for (const x of savedArray(o.children, 'children', MAX_CHILDREN)) {
    const c = decodeChild(savedObject(x, 'child'), s, baseMs);
    if (bySpi.has(c.sa.spiIn)) throw new SavedStateError(`CHILD_SA ${c.sa.spiIn.toString(16)} twice`);
    bySpi.set(c.sa.spiIn, c);
    sa.children.push(c);
  }
  const childOf = (x: SavedObject): ChildState => {
    const c = bySpi.get(savedInt(x, 'child', 1, U32));
    if (!c) throw new SavedStateError(`work for CHILD_SA ${String(x.child)}, which the IKE SA does not own`);
    return c;
  };
  for (const x of savedArray(o.queue, 'queue', 64)) {
    const q = savedObject(x, 'queued work');
    const kind = savedString(q, 'kind', 16, [...SIMPLE_INTENTS, ...CHILD_INTENTS]);
    sa.queue.push(kind === 'child-rekey' || kind === 'delete-child' ? { kind, child: childOf(q) } : { kind } as Intent);
  }
  if (o.pending !== null) sa.pending = decodePending(savedObject(o.pending, 'pending'), childOf, baseMs);
  settleChildren(sa, baseMs);
  let childSerial = savedInt(o, 'childSerial', 0, Number.MAX_SAFE_INTEGER);
  for (const c of sa.children) childSerial = Math.max(childSerial, c.sa.id);
  return { sa, childSerial };
}

/**
 * Puts a decoded session into `s` (a session that never started): its IKE SA
 * becomes current, the tunnel up when it has an active CHILD_SA (a `state`
 * action). Returns the CHILD_SAs, for the data plane to install.
 */
export function restoreSession(s: SessionContext, r: RestoredSession): ChildSa[] {
  if (s.started || s.sas.size > 0) throw new SavedStateError('the session already started');
  s.sas.set(toHex(r.sa.ourSpi), r.sa);
  s.current = r.sa;
  s.started = true;
  s.failures = 0;
  s.reconnectAtMs = Infinity;
  s.childSerial = r.childSerial;
  if (hasActiveChild(r.sa)) s.setState('up', `IKE SA ${r.sa.label} restored`);
  return r.sa.children.map((c) => c.sa);
}

/** A CHILD_SA marked as being rekeyed or deleted with no such work left (it was in flight) gets it again. */
function settleChildren(sa: IkeSa, nowMs: number): void {
  const queued = (c: ChildState, kind: string): boolean =>
    sa.queue.some((q) => q.kind === kind && 'child' in q && q.child === c) ||
    (sa.pending?.ctx.kind === kind && 'child' in sa.pending.ctx && sa.pending.ctx.child === c);
  for (const c of sa.children) {
    if (c.status === 'rekeying' && !queued(c, 'child-rekey')) {
      c.status = 'installed';
      c.rekeyAtMs = Math.min(c.rekeyAtMs, nowMs);
    } else if (c.status === 'deleting' && !queued(c, 'delete-child')) {
      sa.queue.unshift({ kind: 'delete-child', child: c });
    }
  }
}

function decodePending(o: SavedObject, childOf: (x: SavedObject) => ChildState, baseMs: number): Pending {
  const kind = savedString(o, 'kind', 16, ['dpd', 'delete-child']);
  const ctx = kind === 'dpd' ? { kind } as const : { kind, child: childOf(o) } as const;
  return {
    msgId: savedInt(o, 'msgId', 0, U32), exchange: savedInt(o, 'exchange', ExchangeType.IKE_SA_INIT, ExchangeType.INFORMATIONAL),
    datagrams: datagrams(o), ctx, firstSentMs: savedTime(o, 'firstSentMs', baseMs), tries: savedInt(o, 'tries', 0, 1000),
    nextMs: savedTime(o, 'nextMs', baseMs),
  };
}

function decodeChild(o: SavedObject, s: SessionContext, baseMs: number): ChildState {
  const c: ChildState = {
    sa: decodeChildSa(savedObject(o.sa, 'CHILD_SA'), s, baseMs), sel: decodeSelected(savedObject(o.sel, 'CHILD_SA sel'), 'esp'),
    localTs: savedArray(o.localTs, 'localTs', MAX_TS).map(decodeTs), remoteTs: savedArray(o.remoteTs, 'remoteTs', MAX_TS).map(decodeTs),
    status: savedString(o, 'status', 16, STATUSES), rekeyAtMs: savedTime(o, 'rekeyAtMs', baseMs), expireAtMs: savedTime(o, 'expireAtMs', baseMs),
    deleteAtMs: savedTime(o, 'deleteAtMs', baseMs), preferredDh: savedInt(o, 'preferredDh', 0, 65535),
  };
  return c;
}

function childSaToSaved(c: ChildSa, nowMs: number): SavedSession {
  return {
    id: c.id, spiIn: c.spiIn >>> 0, spiOut: c.spiOut >>> 0, algorithm: c.algorithm,
    encKeyIn: bytesToSaved(c.encKeyIn), encKeyOut: bytesToSaved(c.encKeyOut), saltIn: bytesToSaved(c.saltIn), saltOut: bytesToSaved(c.saltOut),
    integKeyIn: bytesToSaved(c.integKeyIn), integKeyOut: bytesToSaved(c.integKeyOut), icvLen: c.icvLen, replayWindow: c.replayWindow,
    localTs: c.localTs.map((t) => ({ ...t })), remoteTs: c.remoteTs.map((t) => ({ ...t })),
    local: { addr: c.local.addr >>> 0, port: c.local.port }, peer: { addr: c.peer.addr >>> 0, port: c.peer.port },
    encap: c.encap, lifetimeSec: c.lifetimeSec, installedMs: timeToSaved(c.installedMs, nowMs),
  };
}

function decodeChildSa(o: SavedObject, s: SessionContext, baseMs: number): ChildSa {
  const cfg = s.config;
  const algorithm = savedString(o, 'algorithm', 32);
  const p = espAlgParams(algorithm);
  if (!p) throw new SavedStateError(`ESP transform ${algorithm}`);
  const ep = (x: unknown, what: string) => {
    const e = savedObject(x, what);
    return { addr: savedInt(e, 'addr', 0, U32), port: savedInt(e, 'port', 0, 65535) };
  };
  const local = ep(o.local, 'local'), peer = ep(o.peer, 'peer');
  if (local.addr !== cfg.localAddrU32 >>> 0 || peer.addr !== cfg.peerAddrU32 >>> 0) throw new SavedStateError('CHILD_SA endpoints are not the tunnel\'s');
  const installedMs = savedTime(o, 'installedMs', baseMs);
  if (savedInt(o, 'icvLen', 0, 64) !== p.icvLen) throw new SavedStateError(`${algorithm}: ICV length`);
  return {
    connection: cfg.name, tunnel: cfg.tunnel, id: savedInt(o, 'id', 1, Number.MAX_SAFE_INTEGER),
    spiIn: savedInt(o, 'spiIn', 256, U32), spiOut: savedInt(o, 'spiOut', 1, U32), algorithm: algorithm as EspAlgorithm,
    encKeyIn: savedBytes(o, 'encKeyIn', [p.encKeyLen]), encKeyOut: savedBytes(o, 'encKeyOut', [p.encKeyLen]),
    saltIn: savedBytes(o, 'saltIn', [p.saltLen]), saltOut: savedBytes(o, 'saltOut', [p.saltLen]),
    integKeyIn: savedBytes(o, 'integKeyIn', [p.integKeyLen]), integKeyOut: savedBytes(o, 'integKeyOut', [p.integKeyLen]),
    icvLen: p.icvLen, esn: false, replayWindow: savedInt(o, 'replayWindow', 0, 65536),
    localTs: savedArray(o.localTs, 'localTs', MAX_TS).map(decodeEspTs), remoteTs: savedArray(o.remoteTs, 'remoteTs', MAX_TS).map(decodeEspTs),
    local, peer, encap: savedBool(o, 'encap'), tunnelMode: true, lifetimeSec: savedInt(o, 'lifetimeSec', 0, 10 * 365 * 86_400),
    installedMs: Number.isFinite(installedMs) ? installedMs : baseMs,
  };
}

function selectedToSaved(sel: Selected): SavedSession {
  return {
    protocol: sel.protocol, num: sel.num, spi: bytesToSaved(sel.spi), encrId: sel.encr.id, keyBits: sel.encr.keyBits, integ: sel.integ,
    prf: sel.prf, dh: sel.dh, dhCandidates: [...sel.dhCandidates], esn: sel.esn,
  };
}

function decodeSelected(o: SavedObject, protocol: 'ike' | 'esp'): Selected {
  if (savedString(o, 'protocol', 8) !== protocol) throw new SavedStateError(`selected proposal of protocol ${String(o.protocol)}`);
  return {
    protocol, num: savedInt(o, 'num', 0, 255), spi: savedBytes(o, 'spi', [0, 4, 8]),
    encr: { id: savedInt(o, 'encrId', 0, 65535), keyBits: savedInt(o, 'keyBits', 0, 65535) },
    integ: savedInt(o, 'integ', 0, 65535), prf: savedInt(o, 'prf', 0, 65535), dh: savedInt(o, 'dh', 0, 65535),
    dhCandidates: savedArray(o.dhCandidates, 'dhCandidates', 32).map((g) => savedInt({ g }, 'g', 0, 65535)), esn: savedInt(o, 'esn', 0, 1),
  };
}

function tsToSaved(t: TrafficSelector): SavedSession {
  return {
    type: t.type, ipProtocol: t.ipProtocol, startPort: t.startPort, endPort: t.endPort, startAddr: t.startAddr >>> 0, endAddr: t.endAddr >>> 0,
    ...(t.startRaw ? { startRaw: bytesToSaved(t.startRaw) } : {}), ...(t.endRaw ? { endRaw: bytesToSaved(t.endRaw) } : {}),
  };
}

function decodeTs(x: unknown): TrafficSelector {
  const o = savedObject(x, 'traffic selector');
  return {
    type: savedInt(o, 'type', 0, 255), ...decodeEspTs(o),
    ...(o.startRaw !== undefined ? { startRaw: savedBytes(o, 'startRaw', [16]) } : {}),
    ...(o.endRaw !== undefined ? { endRaw: savedBytes(o, 'endRaw', [16]) } : {}),
  };
}

function decodeEspTs(x: unknown): EspTrafficSelector {
  const o = savedObject(x, 'traffic selector');
  return {
    ipProtocol: savedInt(o, 'ipProtocol', 0, 255), startAddr: savedInt(o, 'startAddr', 0, U32), endAddr: savedInt(o, 'endAddr', 0, U32),
    startPort: savedInt(o, 'startPort', 0, 65535), endPort: savedInt(o, 'endPort', 0, 65535),
  };
}

function spi8(o: SavedObject, key: string): Uint8Array {
  const v = savedString(o, key, 16);
  if (!/^[0-9a-f]{16}$/.test(v) || /^0+$/.test(v)) throw new SavedStateError(`${key}: expected 8 non-zero bytes in hex`);
  return fromHex(v);
}

function nonce(o: SavedObject, key: string): Uint8Array {
  const n = savedBytes(o, key, undefined, 256);
  if (n.length < 16) throw new SavedStateError(`${key}: a nonce of ${n.length} bytes`);
  return n;
}

function endpoint(o: SavedObject): UdpEndpoint {
  return { addr: savedString(o, 'addr', 15), port: savedInt(o, 'port', 1, 65535) };
}

function datagrams(o: SavedObject): Uint8Array[] {
  return savedArray(o.datagrams, 'datagrams', MAX_DATAGRAMS).map((d) => savedBytes({ d }, 'd', undefined, 65_535));
}
