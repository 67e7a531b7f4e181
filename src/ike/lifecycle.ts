/**
 * Lifecycle of the SAs of one session, shared by every exchange: an IKE SA
 * becomes established and current, CHILD_SAs are installed (handed to the data
 * plane) and removed, IKE SAs are dropped, and the tunnel goes down. What
 * happens after the tunnel is lost (DPD action, reconnect back-off) is decided
 * here too.
 */
import type { ChildSa, EspAlgorithm } from '../ipsec/sa-types.js';
import { toHex } from './bytes.js';
import type { DirectionKeys } from './crypto.js';
import type { TrafficSelector } from './payloads.js';
import { describeSelected, espAlgorithmName, type Selected } from './proposals.js';
import { encrOf, hex32, integOf, toEspTs, tsList, type ChildState, type IkeSa } from './sa-state.js';
import type { SessionContext } from './session-context.js';

const MAX_RETRY_DELAY_MS = 60_000;
/** Dropped SAs remembered so that late messages to them are ignored quietly. */
const DELETED_MEMORY = 32;

/** `sa` finished IKE_AUTH (or an IKE_SA rekey): lifetimes start. */
export function ikeEstablished(s: SessionContext, sa: IkeSa, nowMs: number): void {
  sa.state = 'established';
  sa.establishedMs = nowMs;
  sa.rekeyAtMs = nowMs + s.rekeyDelay(s.config.ikeLifetimeMs);
  sa.expireAtMs = nowMs + s.config.ikeLifetimeMs;
  sa.lastRxMs = nowMs;
  s.stats.ikeSasEstablished++;
}

/** `sa` carries the tunnel now; older established SAs of this session go away. */
export function makeCurrent(s: SessionContext, sa: IkeSa, nowMs: number): void {
  for (const other of [...s.sas.values()]) {
    if (other === sa || other.state !== 'established') continue;
    // INITIAL_CONTACT or a reconnect: the peer forgot the old SA (strongSwan unique=replace does the same)
    s.log('info', 'ike-sa-replaced', `IKE SA ${other.label} replaced by ${sa.label}`);
    dropSa(s, other, 'replaced by a new IKE SA', nowMs);
  }
  s.current = sa;
  s.failures = 0;
  s.reconnectAtMs = Infinity;
  if (hasActiveChild(sa)) s.setState('up', `IKE SA ${sa.label} with CHILD_SA`);
}

/** Builds the ChildSa for negotiated keys, hands it to the data plane and schedules its rekey. */
export function installChild(
  s: SessionContext, sa: IkeSa, sel: Selected, spiIn: number, spiOut: number, inKeys: DirectionKeys, outKeys: DirectionKeys,
  localTs: readonly TrafficSelector[], remoteTs: readonly TrafficSelector[], nowMs: number,
): ChildState {
  const cfg = s.config;
  const integ = integOf(sel);
  const encr = encrOf(sel);
  const encap = sa.natt || sa.localPort === cfg.localNattPort;
  const child: ChildSa = {
    connection: cfg.name,
    tunnel: cfg.tunnel,
    id: ++s.childSerial,
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
    rekeyAtMs: nowMs + s.rekeyDelay(cfg.childLifetimeMs), expireAtMs: nowMs + cfg.childLifetimeMs,
    deleteAtMs: Infinity, preferredDh: sel.dh,
  };
  sa.children.push(st);
  s.stats.childSasInstalled++;
  s.push({ kind: 'install-child-sa', sa: child });
  s.log('info', 'child-sa-installed', `CHILD_SA ${hex32(spiIn)}_i ${hex32(spiOut)}_o ${describeSelected(sel)} TS ${tsList(localTs)} === ${tsList(remoteTs)}${encap ? ` (UDP ${sa.localPort}->${sa.peer.port})` : ''}`);
  if (sa === s.current || s.current === undefined) s.setState('up', `CHILD_SA ${hex32(spiIn)}_i installed`);
  return st;
}

export function removeChild(s: SessionContext, sa: IkeSa, c: ChildState, reason: string): void {
  const i = sa.children.indexOf(c);
  if (i < 0) return;
  sa.children.splice(i, 1);
  s.push({ kind: 'remove-child-sa', id: c.sa.id, spiIn: c.sa.spiIn, spiOut: c.sa.spiOut, reason });
  s.log('info', 'child-sa-removed', `CHILD_SA ${hex32(c.sa.spiIn)}_i ${hex32(c.sa.spiOut)}_o removed (${reason})`);
}

export function hasActiveChild(sa: IkeSa): boolean {
  return sa.children.some((c) => c.status === 'installed' || c.status === 'rekeying');
}

/** The current IKE SA lost its last CHILD_SA: tunnel down; with keepUp a new CHILD_SA is queued. */
export function childLost(s: SessionContext, sa: IkeSa, reason: string, nowMs: number): void {
  s.setState('down', reason);
  if (s.config.keepUp && s.started && !sa.queue.some((q) => q.kind === 'child-create')) {
    sa.queue.push({ kind: 'child-create' });
    sa.retryAtMs = Math.max(sa.retryAtMs, nowMs + s.config.retryDelayMs);
  }
}

/** Removes an IKE SA and the CHILD_SAs it still owns. */
export function dropSa(s: SessionContext, sa: IkeSa, reason: string, _nowMs: number): void {
  for (const c of [...sa.children]) removeChild(s, sa, c, reason);
  s.sas.delete(toHex(sa.ourSpi));
  s.deleted.add(toHex(sa.ourSpi));
  if (s.deleted.size > DELETED_MEMORY) s.deleted.delete(s.deleted.values().next().value as string);
  sa.pending = undefined;
  sa.queue = [];
  if (s.current === sa) s.current = undefined;
}

/**
 * The tunnel is gone (peer dead, deleted, failed to establish). Applies the
 * DPD action for a dead established tunnel; otherwise reconnects if keepUp.
 */
export function tunnelLost(s: SessionContext, reason: string, nowMs: number, dead: boolean): void {
  s.current = undefined;
  s.setState('down', reason);
  if (!s.started) return;
  if (dead && s.config.dpdAction === 'restart') {
    s.log('info', 'dpd-restart', 'DPD action restart: re-initiating');
    s.driver.connect(nowMs);
    return;
  }
  if (s.config.keepUp) {
    const delay = Math.min(MAX_RETRY_DELAY_MS, s.config.retryDelayMs * Math.pow(2, Math.min(s.failures, 8)));
    s.failures++;
    s.reconnectAtMs = nowMs + delay;
    s.log('info', 'reconnect-scheduled', `reconnecting in ${Math.round(delay)} ms`);
  }
}

/** An attempt to establish `sa` failed. */
export function connectFailed(s: SessionContext, sa: IkeSa, reason: string, nowMs: number): void {
  s.log('warn', 'connect-failed', reason);
  dropSa(s, sa, reason, nowMs);
  if (s.current === undefined || s.current === sa) tunnelLost(s, reason, nowMs, false);
}
