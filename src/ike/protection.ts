/**
 * Message protection on an IKE SA: outbound messages are plain until the SA
 * has keys, then one SK payload (RFC 7296 §3.14), or SKF fragments when both
 * sides announced fragmentation (RFC 7383); inbound messages are verified and
 * decrypted (ICV first), fragments reassembled. Keys never leave this layer
 * and message.ts; nothing here logs.
 */
import type { ResolvedIkeConfig } from './config.js';
import { exchangeName, HeaderFlag, PayloadType } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { addFragment, maxMessageLen } from './fragments.js';
import { decryptSkf, encodeEncryptedMessage, encodeFragmentedMessage, encodePlainMessage, openSk, type Opened, type ParsedMessage } from './message.js';
import type { Payload } from './payloads.js';
import type { IkeSa } from './sa-state.js';

/** One message of `sa` as datagrams (without the non-ESP marker). */
export function protect(
  cfg: ResolvedIkeConfig, sa: IkeSa, exchange: number, msgId: number, response: boolean, payloads: readonly Payload[],
): Uint8Array[] {
  const flags = (sa.initiator ? HeaderFlag.INITIATOR : 0) | (response ? HeaderFlag.RESPONSE : 0);
  const m = { spiI: sa.spiI, spiR: sa.spiR, exchange, flags, messageId: msgId, payloads };
  if (!sa.keys || !sa.suite) return [encodePlainMessage(m)];
  if (sa.fragOk) return encodeFragmentedMessage(m, sa.suite, sa.outKeys, cfg.random, maxMessageLen(cfg, sa));
  return [encodeEncryptedMessage(m, sa.suite, sa.outKeys, cfg.random)];
}

/** unprotect(): an authentic retransmission of the request we last answered. */
export const RETRANSMITTED = 'retransmitted';

/**
 * Verifies and decrypts a message for `sa` (whose message-ID window the
 * caller checked; `retransmit` = the peer repeats the request we last
 * answered). Returns the inner payload bytes of a complete message,
 * RETRANSMITTED when the cached response should go out again (for fragments:
 * on fragment 1 only, RFC 7383 §2.6.1), or undefined when there is nothing
 * to do yet. Any authentic message counts as liveness (`sa.lastRxMs`).
 * Throws IkeError for anything unauthentic or malformed.
 */
export function unprotect(sa: IkeSa, parsed: ParsedMessage, retransmit: boolean, isResponse: boolean, nowMs: number): Opened | typeof RETRANSMITTED | undefined {
  if (!sa.suite) throw new IkeError(IkeErrorCode.Internal, 'no keys');
  if (!parsed.encrypted) throw new IkeError(IkeErrorCode.BadExchange, `unencrypted ${exchangeName(parsed.header.exchange)}`);
  if (parsed.payloads.length) throw new IkeError(IkeErrorCode.BadPayload, 'payloads outside the SK payload');
  if (parsed.encrypted.type === PayloadType.SKF) {
    if (!sa.fragOk) throw new IkeError(IkeErrorCode.Fragment, 'fragment without negotiated fragmentation');
    const frag = decryptSkf(parsed, sa.suite, sa.inKeys);
    if (retransmit) {
      sa.lastRxMs = nowMs;
      return frag.num === 1 && sa.lastResponse ? RETRANSMITTED : undefined;
    }
    return addFragment(sa, parsed.header.messageId, isResponse, frag, nowMs);
  }
  const opened = openSk(parsed, sa.suite, sa.inKeys);
  sa.lastRxMs = nowMs;
  return retransmit ? RETRANSMITTED : opened;
}
