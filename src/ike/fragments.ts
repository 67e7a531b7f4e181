/**
 * IKE fragmentation on a session (RFC 7383): the size above which an
 * encrypted message goes out as SKF fragments, and the per-SA reassembly of
 * inbound fragments (one message at a time, dropped after 30 s). The SKF
 * codec and the reassembly buffer itself live in message.ts.
 */
import { NON_ESP_MARKER_LEN } from './constants.js';
import type { ResolvedIkeConfig } from './config.js';
import { Reassembly, type Fragment, type Opened } from './message.js';
import type { IkeSa } from './sa-state.js';

export const REASSEMBLY_TIMEOUT_MS = 30_000;

/** Largest IKE message on `sa` before fragmenting: the IP datagram size less IPv4, UDP and the non-ESP marker. */
export function maxMessageLen(cfg: ResolvedIkeConfig, sa: IkeSa): number {
  return cfg.fragmentSize - 20 - 8 - (sa.localPort === cfg.localNattPort ? NON_ESP_MARKER_LEN : 0);
}

/**
 * Adds a verified fragment of message `messageId` (a request or a response)
 * to the SA's reassembly; a fragment of another message restarts it. Returns
 * the whole inner message once every fragment is in, else undefined.
 */
export function addFragment(sa: IkeSa, messageId: number, isResponse: boolean, frag: Fragment, nowMs: number): Opened | undefined {
  if (!sa.reassembly || sa.reassembly.messageId !== messageId || sa.reassemblyIsResponse !== isResponse) {
    sa.reassembly = new Reassembly(messageId, nowMs);
    sa.reassemblyIsResponse = isResponse;
  }
  const done = sa.reassembly.add(frag);
  sa.lastRxMs = nowMs;
  if (!done) return undefined;
  sa.reassembly = undefined;
  return done;
}

/** When the SA's unfinished reassembly times out (Infinity when there is none). */
export function reassemblyDeadline(sa: IkeSa): number {
  return sa.reassembly ? sa.reassembly.startedMs + REASSEMBLY_TIMEOUT_MS : Infinity;
}

/** Drops an unfinished reassembly that timed out; true if one was dropped. */
export function expireReassembly(sa: IkeSa, nowMs: number): boolean {
  if (!sa.reassembly || nowMs < sa.reassembly.startedMs + REASSEMBLY_TIMEOUT_MS) return false;
  sa.reassembly = undefined;
  return true;
}
