/**
 * Typed errors for IKE. Every refusal of hostile or broken input is an
 * IkeError with a code; the session counts each code (`IkeSession.errors`)
 * and never lets an exception escape `onDatagram`/`onTimer`.
 */

export const IkeErrorCode = {
  /** Fewer bytes than a header or a length field claims. */
  Truncated: 0,
  /** A length field is impossible (too small, past the end, not a multiple of what it must be). */
  BadLength: 1,
  /** Major version is not 2. */
  BadVersion: 2,
  /** A payload body does not follow its format. */
  BadPayload: 3,
  /** An unknown payload with the critical bit set (RFC 7296 §2.5). */
  UnsupportedCritical: 4,
  /** Integrity check (ICV/HMAC or AEAD tag) failed. */
  BadIcv: 5,
  /** Decrypted padding is inconsistent. */
  BadPadding: 6,
  /** No IKE SA for these SPIs. */
  UnknownSpi: 7,
  /** Message ID outside the window, or a response that answers nothing. */
  BadMessageId: 8,
  /** Exchange not allowed in the current state, or a required payload is missing. */
  BadExchange: 9,
  /** Fragment reassembly limits (count, size, inconsistency). */
  Fragment: 10,
  /** No acceptable proposal. */
  NoProposal: 11,
  /** KE payload group/length invalid. */
  InvalidKe: 12,
  /** Authentication failed (AUTH payload, PSK mismatch, signature). */
  AuthFailed: 13,
  /** Certificate chain, validity or identity refused. */
  Certificate: 14,
  /** Traffic selectors unacceptable. */
  TsUnacceptable: 15,
  /** DH public value invalid. */
  DhInvalid: 16,
  /** A datagram the session does not expect (wrong peer, port, marker). */
  Unexpected: 17,
  /** Peer reported an error notify. */
  PeerError: 18,
  /** Cookie missing or wrong (responder under load). */
  Cookie: 19,
  /** Configuration invalid (proposal string, identity, certificate file). */
  Config: 20,
  /** Anything else that threw inside the machine (a bug): still counted, never thrown out. */
  Internal: 21,
} as const;
export type IkeErrorCode = (typeof IkeErrorCode)[keyof typeof IkeErrorCode];

/** Counter / label names, indexed by code. */
export const IKE_ERROR_NAMES: readonly string[] = [
  'truncated', 'bad_length', 'bad_version', 'bad_payload', 'unsupported_critical', 'bad_icv',
  'bad_padding', 'unknown_spi', 'bad_message_id', 'bad_exchange', 'fragment', 'no_proposal',
  'invalid_ke', 'auth_failed', 'certificate', 'ts_unacceptable', 'dh_invalid', 'unexpected',
  'peer_error', 'cookie', 'config', 'internal',
];
export const IKE_ERROR_COUNT = IKE_ERROR_NAMES.length;

export class IkeError extends Error {
  readonly code: IkeErrorCode;
  /** Notify type to report to the peer, when the error maps to one (RFC 7296 §3.10.1). */
  readonly notify: number;
  /** Notification data for that notify (e.g. the unsupported critical payload's type). */
  readonly notifyData: Uint8Array;
  constructor(code: IkeErrorCode, message: string, notify = 0, notifyData: Uint8Array = new Uint8Array(0)) {
    super(message);
    this.name = 'IkeError';
    this.code = code;
    this.notify = notify;
    this.notifyData = notifyData;
  }
  get codeName(): string {
    return IKE_ERROR_NAMES[this.code] ?? 'unknown';
  }
}

/** Throws IkeError(Truncated) unless [off, off+len) lies inside [0, end). */
export function need(off: number, len: number, end: number, what: string): void {
  if (off + len > end) throw new IkeError(IkeErrorCode.Truncated, `${what}: need ${len} bytes at ${off}, have ${end - off}`);
}
