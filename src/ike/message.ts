/**
 * Whole IKE messages: plain (IKE_SA_INIT), encrypted (SK, RFC 7296 §3.14) and
 * fragmented (SKF, RFC 7383 §2.5).
 *
 * Encrypted payload (SK):
 *  | Next Payload  |C|  RESERVED   |         Payload Length        |
 *  |                     Initialization Vector                     |
 *  ~                    Encrypted IKE Payloads                     ~
 *  |               |             Padding (0-255 octets)            |
 *  |                                               |  Pad Length   |
 *  ~                    Integrity Checksum Data                    ~
 *
 * Encrypted Fragment payload (SKF): the same after two more header fields:
 *  |        Fragment Number        |        Total Fragments        |
 *
 * AES-GCM AAD (RFC 5282 §5.1, RFC 7383 §2.5.3): from the first octet of the IKE
 * header to the last octet of the SK/SKF payload header (fragment numbers
 * included), i.e. everything before the IV. CBC ICV: everything before the ICV.
 */
import { concat, writeU16 } from './bytes.js';
import { GENERIC_PAYLOAD_HEADER_LEN, IKE_HEADER_LEN, PayloadType } from './constants.js';
import { icvLength, openSkBody, sealSkBody, skBodyLength, type DirectionKeys, type IkeSuite } from './crypto.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { ikeHeader, type IkeHeader } from './header.js';
import { chainLength, decodeChain, encodeChain, encodeChainBytes, wireType, type EncryptedRef, type Payload } from './payloads.js';

export interface MessageSpec {
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
  readonly exchange: number;
  readonly flags: number;
  readonly messageId: number;
  readonly payloads: readonly Payload[];
}

const SKF_EXTRA = 4;

/** A message without encryption (IKE_SA_INIT, or an unprotected error notify). */
export function encodePlainMessage(m: MessageSpec): Uint8Array {
  const len = IKE_HEADER_LEN + chainLength(m.payloads);
  const out = new Uint8Array(len);
  ikeHeader.encode(headerOf(m, m.payloads.length ? wireType(m.payloads[0]) : 0, len), out, 0);
  encodeChain(m.payloads, out, IKE_HEADER_LEN);
  return out;
}

function headerOf(m: MessageSpec, next: number, length: number): IkeHeader {
  return {
    spiI: m.spiI, spiR: m.spiR, nextPayload: next, majorVersion: 2, minorVersion: 0,
    exchange: m.exchange, flags: m.flags, messageId: m.messageId, length,
  };
}

/** A message whose payloads all travel inside one SK payload. */
export function encodeEncryptedMessage(
  m: MessageSpec, suite: IkeSuite, keys: DirectionKeys, random: (n: number) => Uint8Array,
): Uint8Array {
  const inner = encodeChainBytes(m.payloads);
  const first = m.payloads.length ? wireType(m.payloads[0]) : 0;
  const skLen = GENERIC_PAYLOAD_HEADER_LEN + skBodyLength(suite, inner.length);
  const len = IKE_HEADER_LEN + skLen;
  const out = new Uint8Array(len);
  ikeHeader.encode(headerOf(m, PayloadType.SK, len), out, 0);
  out[IKE_HEADER_LEN] = first;
  out[IKE_HEADER_LEN + 1] = 0;
  writeU16(out, IKE_HEADER_LEN + 2, skLen);
  sealSkBody(suite, keys, out, IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN, inner, random(suite.encr.ivLen));
  return out;
}

/**
 * RFC 7383 §2.5: the message split into SKF fragments of at most `maxLen`
 * bytes each (IKE header included, non-ESP marker excluded). Returns one
 * datagram if everything fits in a single SK message.
 */
export function encodeFragmentedMessage(
  m: MessageSpec, suite: IkeSuite, keys: DirectionKeys, random: (n: number) => Uint8Array, maxLen: number,
): Uint8Array[] {
  const inner = encodeChainBytes(m.payloads);
  const wholeLen = IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN + skBodyLength(suite, inner.length);
  if (wholeLen <= maxLen) return [encodeEncryptedMessage(m, suite, keys, random)];
  const bs = suite.encr.blockSize;
  const overhead = IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN + SKF_EXTRA + suite.encr.ivLen + icvLength(suite);
  const chunk = Math.floor((maxLen - overhead) / bs) * bs - 1;
  if (chunk < 64) throw new RangeError(`fragment size ${maxLen} too small`);
  const total = Math.ceil(inner.length / chunk);
  if (total > MAX_FRAGMENTS) throw new RangeError(`message needs ${total} fragments`);
  const first = m.payloads.length ? wireType(m.payloads[0]) : 0;
  const out: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const part = inner.subarray(i * chunk, Math.min(inner.length, (i + 1) * chunk));
    const skfLen = GENERIC_PAYLOAD_HEADER_LEN + SKF_EXTRA + skBodyLength(suite, part.length);
    const len = IKE_HEADER_LEN + skfLen;
    const d = new Uint8Array(len);
    ikeHeader.encode(headerOf(m, PayloadType.SKF, len), d, 0);
    const o = IKE_HEADER_LEN;
    d[o] = i === 0 ? first : 0;
    d[o + 1] = 0;
    writeU16(d, o + 2, skfLen);
    writeU16(d, o + 4, i + 1);
    writeU16(d, o + 6, total);
    sealSkBody(suite, keys, d, o + GENERIC_PAYLOAD_HEADER_LEN + SKF_EXTRA, part, random(suite.encr.ivLen));
    out.push(d);
  }
  return out;
}

export interface ParsedMessage {
  readonly header: IkeHeader;
  /** Payloads before the SK/SKF payload (all of them for a plain message). */
  readonly payloads: Payload[];
  readonly encrypted?: EncryptedRef;
  /** The message bytes (non-ESP marker removed). */
  readonly bytes: Uint8Array;
}

/** Header + unencrypted payload chain; the SK/SKF body stays sealed. */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  const header = ikeHeader.decode(bytes, 0, bytes.length);
  const chain = decodeChain(bytes, IKE_HEADER_LEN, bytes.length, header.nextPayload);
  return chain.encrypted
    ? { header, payloads: chain.payloads, encrypted: chain.encrypted, bytes }
    : { header, payloads: chain.payloads, bytes };
}

/** Decrypted, authenticated inner payload bytes and the type of the first inner payload. */
export interface Opened {
  readonly first: number;
  readonly plain: Uint8Array;
}

/** Verifies and decrypts an SK payload (ICV first); the inner chain is not parsed yet. */
export function openSk(msg: ParsedMessage, suite: IkeSuite, keys: DirectionKeys): Opened {
  const e = msg.encrypted;
  if (!e || e.type !== PayloadType.SK) throw new IkeError(IkeErrorCode.BadExchange, 'expected an SK payload');
  return { first: e.innerFirst, plain: openSkBody(suite, keys, msg.bytes, e.bodyOff, e.end) };
}

/** Verifies and decrypts an SK payload; returns the inner payloads. */
export function decryptSk(msg: ParsedMessage, suite: IkeSuite, keys: DirectionKeys): Payload[] {
  const o = openSk(msg, suite, keys);
  return decodeInner(o);
}

/** Parses authenticated inner payloads (errors here deserve an INVALID_SYNTAX answer). */
export function decodeInner(o: Opened): Payload[] {
  return decodeChain(o.plain, 0, o.plain.length, o.first).payloads;
}

export interface Fragment {
  readonly num: number;
  readonly total: number;
  /** Next Payload of fragment 1 (type of the first inner payload); 0 in the others. */
  readonly innerFirst: number;
  readonly plaintext: Uint8Array;
}

/** Verifies and decrypts one SKF fragment (RFC 7383 §2.6). */
export function decryptSkf(msg: ParsedMessage, suite: IkeSuite, keys: DirectionKeys): Fragment {
  const e = msg.encrypted;
  if (!e || e.type !== PayloadType.SKF) throw new IkeError(IkeErrorCode.BadExchange, 'expected an SKF payload');
  if (e.end - e.bodyOff < SKF_EXTRA) throw new IkeError(IkeErrorCode.Truncated, 'SKF header');
  const num = (msg.bytes[e.bodyOff] << 8) | msg.bytes[e.bodyOff + 1];
  const total = (msg.bytes[e.bodyOff + 2] << 8) | msg.bytes[e.bodyOff + 3];
  if (num < 1 || total < 1 || num > total) throw new IkeError(IkeErrorCode.Fragment, `fragment ${num}/${total}`);
  if (total > MAX_FRAGMENTS) throw new IkeError(IkeErrorCode.Fragment, `${total} fragments announced (limit ${MAX_FRAGMENTS})`);
  const plaintext = new Uint8Array(openSkBody(suite, keys, msg.bytes, e.bodyOff + SKF_EXTRA, e.end));
  return { num, total, innerFirst: num === 1 ? e.innerFirst : 0, plaintext };
}

/** Reassembly limits (RFC 7383 §2.6: implementations should limit resources). */
export const MAX_FRAGMENTS = 64;
export const MAX_REASSEMBLED_LEN = 64 * 1024;

/**
 * Collects the verified fragments of one message (one message ID). A fragment
 * announcing more fragments than before restarts the collection (the sender
 * re-fragmented with a smaller size, RFC 7383 §2.6.2); fewer is ignored.
 */
export class Reassembly {
  readonly messageId: number;
  readonly startedMs: number;
  private total = 0;
  private parts: (Uint8Array | undefined)[] = [];
  private received = 0;
  private size = 0;
  private innerFirst = 0;

  constructor(messageId: number, startedMs: number) {
    this.messageId = messageId;
    this.startedMs = startedMs;
  }

  /** Adds a verified fragment. Returns the reassembled inner bytes once complete, else undefined. */
  add(f: Fragment): Opened | undefined {
    if (f.total !== this.total) {
      if (f.total < this.total) return undefined;
      this.total = f.total;
      this.parts = new Array<Uint8Array | undefined>(f.total).fill(undefined);
      this.received = 0;
      this.size = 0;
      this.innerFirst = 0;
    }
    if (this.parts[f.num - 1]) return undefined; // duplicate
    this.size += f.plaintext.length;
    if (this.size > MAX_REASSEMBLED_LEN) {
      this.parts = [];
      this.total = 0;
      throw new IkeError(IkeErrorCode.Fragment, `reassembled message larger than ${MAX_REASSEMBLED_LEN} bytes`);
    }
    this.parts[f.num - 1] = f.plaintext;
    if (f.num === 1) this.innerFirst = f.innerFirst;
    this.received++;
    if (this.received < this.total) return undefined;
    return { first: this.innerFirst, plain: concat(...(this.parts as Uint8Array[])) };
  }

  get complete(): boolean {
    return this.total > 0 && this.received === this.total;
  }
}
