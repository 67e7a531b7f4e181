/**
 * Time in a session: retransmission of our outstanding request (timeout ×
 * base^n, `retransmitTries` times; DPD gives up `dpdTimeoutMs` after its first
 * send), the peer declared dead, reconnects, half-open and reassembly
 * timeouts, hard lifetimes, scheduled IKE_SA and CHILD_SA rekeys, fallback
 * deletion of superseded SAs, and DPD after `dpdDelayMs` of silence. Timers
 * only queue work; the session starts it (`driver.pump`).
 */
import { exchangeName } from './constants.js';
import { IkeErrorCode } from './errors.js';
import { expireReassembly, reassemblyDeadline } from './fragments.js';
import { sendDeleteIkeOnce } from './informational.js';
import { childLost, dropSa, hasActiveChild, removeChild, tunnelLost } from './lifecycle.js';
import { hex32, retransmitTimeout, type IkeSa, type Pending } from './sa-state.js';
import type { SessionContext } from './session-context.js';

/** When onTimer should next run (monotonic ms), Infinity if never. */
export function nextTimerMs(s: SessionContext): number {
  let t = s.reconnectAtMs;
  const cfg = s.config;
  for (const sa of s.sas.values()) {
    if (sa.pending) t = Math.min(t, sa.pending.nextMs);
    else if (sa.queue.length) t = Math.min(t, sa.retryAtMs);
    t = Math.min(t, sa.halfOpenUntilMs, sa.deleteAtMs, sa.rekeyAtMs, sa.expireAtMs, reassemblyDeadline(sa));
    if (sa === s.current && sa.state === 'established' && cfg.dpdDelayMs > 0 && !sa.pending) {
      t = Math.min(t, sa.lastRxMs + cfg.dpdDelayMs);
    }
    for (const c of sa.children) {
      if (c.status === 'installed') t = Math.min(t, c.rekeyAtMs);
      t = Math.min(t, c.expireAtMs, c.deleteAtMs);
    }
  }
  return t;
}

export function onTimer(s: SessionContext, nowMs: number): void {
  const cfg = s.config;
  if (nowMs >= s.reconnectAtMs) {
    s.reconnectAtMs = Infinity;
    if (s.started) s.driver.connect(nowMs);
  }
  for (const sa of [...s.sas.values()]) {
    if (!s.holds(sa)) continue;
    if (expireReassembly(sa, nowMs)) s.errors[IkeErrorCode.Fragment]++;
    if (nowMs >= sa.halfOpenUntilMs) {
      s.log('info', 'half-open-expired', `half-open IKE SA ${sa.label} expired`);
      dropSa(s, sa, 'half-open timeout', nowMs);
      continue;
    }
    const p = sa.pending;
    if (p && nowMs >= p.nextMs) {
      const isDpd = p.ctx.kind === 'dpd';
      const giveUp = isDpd ? nowMs - p.firstSentMs >= cfg.dpdTimeoutMs : p.tries >= cfg.retransmitTries;
      if (giveUp) {
        sa.pending = undefined;
        onRequestTimeout(s, sa, p, nowMs);
        continue;
      }
      p.tries++;
      p.nextMs = nowMs + retransmitTimeout(cfg, p.tries);
      if (isDpd) p.nextMs = Math.min(p.nextMs, p.firstSentMs + cfg.dpdTimeoutMs);
      s.stats.retransmits++;
      s.log('info', 'retransmit', `retransmit ${p.tries} of ${exchangeName(p.exchange)} request ${p.msgId} (${p.ctx.kind})`);
      s.emit(sa, p.datagrams);
    }
    if (nowMs >= sa.expireAtMs) {
      s.log('warn', 'ike-sa-expired', `IKE SA ${sa.label} reached its hard lifetime`);
      const wasCurrent = sa === s.current;
      sendDeleteIkeOnce(s, sa);
      dropSa(s, sa, 'IKE SA lifetime expired', nowMs);
      if (wasCurrent) tunnelLost(s, 'IKE SA lifetime expired', nowMs, false);
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
    childTimers(s, sa, nowMs);
    if (sa === s.current && sa.state === 'established' && cfg.dpdDelayMs > 0 && !sa.pending && sa.queue.length === 0 &&
      nowMs >= sa.lastRxMs + cfg.dpdDelayMs) {
      sa.queue.push({ kind: 'dpd' });
    }
    s.driver.pump(sa, nowMs);
  }
}

/** CHILD_SA hard lifetimes, fallback deletion of superseded CHILD_SAs, scheduled rekeys. */
function childTimers(s: SessionContext, sa: IkeSa, nowMs: number): void {
  for (const c of [...sa.children]) {
    if (nowMs >= c.expireAtMs) {
      s.log('warn', 'child-sa-expired', `CHILD_SA ${hex32(c.sa.spiIn)}_i reached its hard lifetime`);
      removeChild(s, sa, c, 'CHILD_SA lifetime expired');
      if (c.status !== 'deleting') {
        c.status = 'deleting';
        sa.queue.unshift({ kind: 'delete-child', child: c });
      }
      if (sa === s.current && !hasActiveChild(sa)) childLost(s, sa, 'CHILD_SA lifetime expired', nowMs);
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
}

/** Our request went unanswered: the peer is dead (or the DPD action says to keep probing). */
function onRequestTimeout(s: SessionContext, sa: IkeSa, p: Pending, nowMs: number): void {
  const what = p.ctx.kind === 'dpd' ? `no answer to DPD for ${Math.round((nowMs - p.firstSentMs) / 1000)} s` : `${exchangeName(p.exchange)} request ${p.msgId} (${p.ctx.kind}) unanswered after ${p.tries} retransmissions`;
  s.log('warn', 'peer-dead', `IKE SA ${sa.label}: ${what}`);
  if (p.ctx.kind === 'dpd' && s.config.dpdAction === 'none') {
    // AWS DPD timeout action "none": take no action, keep probing
    sa.lastRxMs = nowMs;
    return;
  }
  if (p.ctx.kind === 'delete-ike' || sa.state === 'rekeyed' || sa.state === 'deleting') {
    dropSa(s, sa, 'delete unanswered', nowMs);
    return;
  }
  s.stats.deadPeers++;
  const wasCurrent = sa === s.current || sa.state === 'init-sent' || sa.state === 'auth-sent';
  dropSa(s, sa, 'peer dead', nowMs);
  if (wasCurrent) tunnelLost(s, `peer dead: ${what}`, nowMs, p.ctx.kind === 'dpd' || sa.state === 'established');
}
