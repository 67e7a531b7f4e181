/**
 * ESP tunnel mode (RFC 4303): the per-packet data path between the IPv4
 * packets of a VPC and the ESP packets of a VPN tunnel. The one ESP
 * implementation of the packet path (through tunnel-crypto.ts); the UDP
 * header in front of it (RFC 3948) is udp-encap.ts.
 *
 * Outbound, espEncrypt() turns one inner IPv4 packet into
 *
 *   | SPI | Seq | IV | inner IPv4 packet | Padding 1,2,3.. | PadLen | NH=4 | ICV |
 *                    \______________ encrypted ______________________/
 *
 * written at out[outOff] (the caller puts the outer IPv4 + UDP 4500 headers
 * in front). Inbound, espDecrypt() takes the ESP packet (the UDP payload) and
 * writes the inner IPv4 packet at out[outOff].
 *
 * Sizes: GCM (RFC 4106) has an 8-byte IV (the 64-bit sequence number: unique
 * per packet and key, as §3.1 asks, and never repeated because the sequence
 * never wraps) and a 16-byte ICV, and pads the encrypted part to 4 bytes;
 * CBC (RFC 3602) has a random 16-byte IV and pads to 16; the HMAC ICV is the
 * transform's (16 bytes for HMAC-SHA-256-128, RFC 4868).
 *
 * Inbound order (RFC 4303 §3.4): SPI lookup, replay check before the ICV
 * (cheap rejection of duplicates and old packets, §3.4.3), ICV verification
 * and decryption, then the window update (only for authentic packets), then
 * the trailer: padding must be 1, 2, 3, ... (§2.4, "the receiver SHOULD
 * inspect the Padding field"), Next Header 4 (IPv4); 59 is a dummy packet
 * (§2.6: authentic, counted in SaCounter.DummyIn and discarded, result
 * EspError.Dummy, which espDropReason maps to "consumed", not to an error);
 * anything else is refused. The inner packet must be a valid IPv4 header
 * whose total length fits; bytes after it (TFC padding, §2.7) are dropped.
 *
 * Outbound, each SA counts the packets it sent against its packet lifetime
 * (sa-table.ts): Soft asks the control plane for a rekey, Hard refuses
 * further packets (EspError.Expired, counted in SaCounter.ExpiredDrops).
 *
 * Return values are lengths (>= 0) or a negative EspError: nothing here
 * throws on packet contents, whatever the input. Per packet there are no
 * closures, strings or Map lookups; allocation happens only inside
 * node:crypto when the SA table uses that backend (see esp-crypto.ts).
 */
import { readU16, readU32, writeU32 } from '../wire/bytes.js';
import { DropReason } from '../pipeline/batch.js';
import {
  ESP_HEADER_LEN, ESP_NEXT_HEADER_IPV4, ESP_NEXT_HEADER_NONE, EspCipherKind,
} from './esp-alg.js';
import { fillRandom, nodeOpen, nodeSeal } from './esp-crypto.js';
import { NativeResult } from './esp-native.js';
import { type EspSa, SaCounter, SaLifetime, SaTable } from './sa-table.js';

/** Negative results of espEncrypt/espDecrypt (and the batch result arrays). */
export const EspError = {
  /** No SA with this SPI (inbound), or the SA was removed (outbound). */
  NoSa: -1,
  /** Sequence number 0, left of the window, or already received. */
  Replay: -2,
  /** ICV mismatch: tampered, wrong key, or garbage. */
  Auth: -3,
  /** Too short, misaligned, bad offsets, bad padding, or the inner packet is not valid IPv4. */
  Malformed: -4,
  /** Authentic packet whose Next Header is neither 4 (IPv4) nor 59. */
  BadNextHeader: -5,
  /** Authentic dummy packet (Next Header 59, RFC 4303 §2.6): consumed and counted (SaCounter.DummyIn), not an error. */
  Dummy: -6,
  /** Outbound: the SA sent its hard limit of packets (at most 2^32 - 1, the sequence space): a rekey must replace it. */
  Expired: -7,
  /** The output does not fit in `out` from outOff. */
  NoRoom: -8,
} as const;
export type EspError = (typeof EspError)[keyof typeof EspError];

/**
 * The packet path's drop reason for a negative result of espEncrypt or
 * espDecrypt (through the tunnel crypto's encrypt/decrypt). Dummy maps to
 * None: the packet was consumed, counted per SA, and is not forwarded.
 */
export function espDropReason(code: number): DropReason {
  switch (code) {
    case EspError.NoSa: return DropReason.EspNoSa;
    case EspError.Replay: return DropReason.EspReplay;
    case EspError.Auth: return DropReason.EspAuth;
    case EspError.Expired: return DropReason.VpnDown;
    case EspError.Dummy: return DropReason.None;
    case EspError.NoRoom: return DropReason.TooBig;
    default: return DropReason.Malformed;
  }
}

// ---------------------------------------------------------------- sizes

/** Bytes of ESP (header + IV + padded payload + ICV) for an inner packet of innerLen bytes. */
export function espLength(sa: EspSa, innerLen: number): number {
  const a = sa.align - 1;
  return ESP_HEADER_LEN + sa.ivLen + ((innerLen + 2 + a) & ~a) + sa.icvLen;
}

/**
 * Largest inner packet that fits one outer packet of `outerMtu` bytes on this
 * SA: outer IPv4 (20) + UDP (8, with encapsulation) + ESP header (8) + IV +
 * ICV, and the encrypted part rounded to the alignment with its 2-byte
 * trailer. AES-GCM in UDP: 1500 -> 1438; AES-CBC + HMAC-SHA-256-128: 1422.
 */
export function tunnelMtu(sa: EspSa, outerMtu = 1500): number {
  const fixed = 20 + (sa.encap ? 8 : 0) + ESP_HEADER_LEN + sa.ivLen + sa.icvLen;
  const room = outerMtu - fixed;
  if (room < sa.align) return 0;
  return room - (room % sa.align) - 2;
}

// ---------------------------------------------------------------- outbound

/**
 * Encapsulates inner[innerOff, innerOff + innerLen) (an IPv4 packet) for `sa`
 * and writes the ESP packet at out[outOff]. Returns its length, or
 * EspError.NoSa (SA removed), Expired, NoRoom, Malformed (bad range).
 * `inner` and `out` may be the same array, overlapping or not (the inner
 * packet is moved first): with 8 + ivLen bytes of headroom, outOff =
 * innerOff - 8 - ivLen encrypts in place without a copy.
 */
export function espEncrypt(sa: EspSa, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number {
  const r = espPrepare(sa, inner, innerOff, innerLen, out, outOff);
  // Stryker disable next-line EqualityOperator: equivalent mutant (r <= 0): an ESP length is never 0
  if (r < 0) return r;
  const ptLen = r - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
  const engine = sa.engine;
  // Stryker disable next-line ConditionalExpression: equivalent mutant: node:crypto seals the same bytes as the native engine (the backends' outputs are compared byte for byte)
  if (engine !== null) {
    if (engine.seal1(out, sa.slot, outOff, ptLen) !== NativeResult.Ok) return EspError.Malformed;
  } else {
    nodeSeal(sa, out, outOff, ptLen);
  }
  return r;
}

/**
 * Everything of espEncrypt except the cipher: checks, sequence number, the
 * inner packet moved into place, padding, trailer, header and IV. Returns the
 * final ESP length or an EspError.
 */
function espPrepare(sa: EspSa, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number {
  if (!sa.active) return EspError.NoSa;
  const ctr = sa.ctr;
  // packets sent so far = the last sequence number (the first packet sends 1)
  const last = ctr[SaCounter.SeqOut];
  if (last >= sa.hardPackets) {
    sa.lifetime = SaLifetime.Hard;
    ctr[SaCounter.ExpiredDrops]++;
    return EspError.Expired;
  }
  if (!(innerLen > 0) || !(innerOff >= 0) || innerOff + innerLen > inner.length) return EspError.Malformed;
  const ivLen = sa.ivLen;
  const total = espLength(sa, innerLen);
  const ptLen = total - ESP_HEADER_LEN - ivLen - sa.icvLen;
  if (!(outOff >= 0) || outOff + total > out.length) return EspError.NoRoom;
  const seq = last + 1;
  ctr[SaCounter.SeqOut] = seq;
  if (seq >= sa.softPackets) sa.lifetime = seq >= sa.hardPackets ? SaLifetime.Hard : SaLifetime.Soft;

  const ptOff = outOff + ESP_HEADER_LEN + ivLen;
  // Stryker disable next-line ConditionalExpression: equivalent mutants: set() between views of one buffer copies as through a temporary, and copyWithin onto itself changes nothing; the branches only save a view
  if (inner === out) {
    // Stryker disable next-line ConditionalExpression: see above
    if (innerOff !== ptOff) out.copyWithin(ptOff, innerOff, innerOff + innerLen);
  } else {
    // different arrays: a subarray view per packet (pass the arena as both to avoid it)
    out.set(inner.subarray(innerOff, innerOff + innerLen), ptOff);
  }
  const padLen = ptLen - innerLen - 2;
  let p = ptOff + innerLen;
  for (let i = 1; i <= padLen; i++) out[p++] = i;
  out[p++] = padLen;
  out[p] = ESP_NEXT_HEADER_IPV4;
  writeU32(out, outOff, sa.spiOut);
  writeU32(out, outOff + 4, seq);
  if (sa.kind === EspCipherKind.Gcm) {
    writeU32(out, outOff + 8, 0); // high half of the 64-bit counter: 0 without ESN
    writeU32(out, outOff + 12, seq);
  } else {
    fillRandom(out, outOff + 8, ivLen);
  }
  ctr[SaCounter.PacketsOut]++;
  ctr[SaCounter.BytesOut] += innerLen;
  return total;
}

// ---------------------------------------------------------------- inbound

/**
 * Decapsulates the ESP packet buf[espOff, espOff + espLen) (the payload of a
 * UDP 4500 datagram whose first 4 bytes are not zero) and writes the inner
 * IPv4 packet at out[outOff]. Returns the inner packet's length or a negative
 * EspError. out may be buf; the inner packet may overlap the ESP packet.
 * `out` needs room for the whole decrypted payload (espLen - 8 - ivLen -
 * icvLen bytes) from outOff; bytes past the returned length are scratch.
 */
export function espDecrypt(table: SaTable, buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): number {
  const slot = decryptCheck(table, buf, espOff, espLen, out, outOff);
  if (slot < 0) return slot;
  const sa = table.at(slot)!;
  const seq = readU32(buf, espOff + 4); // read now: the output may overwrite the header
  const engine = sa.engine;
  let ok: boolean;
  // Stryker disable next-line ConditionalExpression: equivalent mutant: node:crypto opens the same packets as the native engine
  if (engine !== null) {
    const r = engine.open1(buf, slot, espOff, espLen, out, outOff);
    // Stryker disable next-line ConditionalExpression: equivalent mutant: decryptCheck() already refused every range the engine calls invalid
    if (r === NativeResult.Invalid) return EspError.Malformed;
    ok = r === NativeResult.Ok;
  } else {
    ok = nodeOpen(sa, buf, espOff, espLen, out, outOff);
  }
  return decryptFinish(sa, ok, seq, out, outOff, espLen - ESP_HEADER_LEN - sa.ivLen - sa.icvLen);
}

/**
 * Checks before the cipher: lengths, SPI, replay window, room in out.
 * Returns the SA's slot, or an EspError.
 */
function decryptCheck(table: SaTable, buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): number {
  if (!(espOff >= 0) || !(espLen >= ESP_HEADER_LEN) || espOff + espLen > buf.length) {
    table.lastInSlot = -1;
    return EspError.Malformed;
  }
  const slot = table.lookupIn(readU32(buf, espOff));
  table.lastInSlot = slot;
  if (slot < 0) return EspError.NoSa;
  const sa = table.at(slot)!;
  const ctLen = espLen - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
  // smallest payload: PadLen + NH (a dummy packet may carry nothing else);
  // CBC decrypts whole 16-byte blocks only
  if (ctLen < 2 || (sa.kind === EspCipherKind.CbcHmac && (ctLen & 15) !== 0)) {
    sa.ctr[SaCounter.MalformedIn]++;
    return EspError.Malformed;
  }
  if (!sa.replay.check(readU32(buf, espOff + 4))) {
    sa.ctr[SaCounter.ReplayDrops]++;
    return EspError.Replay;
  }
  if (!(outOff >= 0) || outOff + ctLen > out.length) return EspError.NoRoom;
  return slot;
}

/** After the cipher: window update, trailer and inner header checks, counters. */
function decryptFinish(sa: EspSa, authentic: boolean, seq: number, out: Uint8Array, outOff: number, ptLen: number): number {
  const ctr = sa.ctr;
  if (!authentic) {
    ctr[SaCounter.AuthDrops]++;
    return EspError.Auth;
  }
  // RFC 4303 §3.4.3: the window moves only for packets whose ICV verified.
  // check() passed before the cipher; update() can still refuse a duplicate
  // of a packet accepted in between (the same sequence twice in one batch).
  // Stryker disable next-line BlockStatement,UpdateOperator: equivalent mutants: espDecrypt() is the only caller and runs check() and update() for one packet with nothing in between, so update() never refuses here; kept for a caller that opens packets in batches
  if (!sa.replay.update(seq)) {
    // Stryker disable next-line UpdateOperator: equivalent: unreachable (see above)
    ctr[SaCounter.ReplayDrops]++;
    return EspError.Replay;
  }
  const end = outOff + ptLen;
  const nh = out[end - 1];
  const padLen = out[end - 2];
  const innerMax = ptLen - 2 - padLen;
  if (innerMax < 0) {
    ctr[SaCounter.MalformedIn]++;
    return EspError.Malformed;
  }
  const padOff = outOff + innerMax;
  for (let i = 0; i < padLen; i++) {
    if (out[padOff + i] !== i + 1) {
      ctr[SaCounter.MalformedIn]++;
      return EspError.Malformed;
    }
  }
  if (nh !== ESP_NEXT_HEADER_IPV4) {
    if (nh === ESP_NEXT_HEADER_NONE) {
      ctr[SaCounter.DummyIn]++;
      return EspError.Dummy;
    }
    ctr[SaCounter.MalformedIn]++;
    return EspError.BadNextHeader;
  }
  // inner IPv4 header: version 4, IHL >= 5, header checksum not checked here
  // (the router stage checks what it forwards), total length within the payload
  const vihl = out[outOff];
  const hl = (vihl & 0x0f) << 2;
  const total = readU16(out, outOff + 2);
  // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent mutants: total >= hl >= 20 and total <= innerMax below imply innerMax >= 20; stated first for the reader
  if (innerMax < 20) {
    ctr[SaCounter.MalformedIn]++;
    return EspError.Malformed;
  }
  if ((vihl >>> 4) !== 4 || hl < 20 || total < hl || total > innerMax) {
    ctr[SaCounter.MalformedIn]++;
    return EspError.Malformed;
  }
  ctr[SaCounter.PacketsIn]++;
  ctr[SaCounter.BytesIn] += total;
  return total;
}

// ---------------------------------------------------------------- deferred sealing

/**
 * Seals queued by espEncryptDeferred for one batch of the packet path: the
 * ESP header, IV, plaintext and trailer are written at once (so the inner
 * packet's buffer is free again), the AEAD itself runs for the whole batch in
 * one native call (espFlushSeals). Allocated once.
 */
export class EspSealQueue {
  readonly capacity: number;
  count = 0;
  readonly slot: Int32Array;
  readonly espOff: Uint32Array;
  readonly ptLen: Uint32Array;
  readonly result: Int32Array;
  /** Caller's tag per packet (the packet path: its tx descriptor index). */
  readonly tag: Int32Array;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.slot = new Int32Array(capacity);
    this.espOff = new Uint32Array(capacity);
    this.ptLen = new Uint32Array(capacity);
    this.result = new Int32Array(capacity);
    this.tag = new Int32Array(capacity);
  }
}

/**
 * espEncrypt with the seal deferred to espFlushSeals when the SA runs on the
 * native engine and the queue has room (else sealed now). Returns the ESP
 * length or an EspError, as espEncrypt. `tag` comes back for failed seals.
 */
export function espEncryptDeferred(sa: EspSa, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number,
  q: EspSealQueue, tag: number): number {
  const engine = sa.engine;
  if (engine === null || q.count >= q.capacity) return espEncrypt(sa, inner, innerOff, innerLen, out, outOff);
  const r = espPrepare(sa, inner, innerOff, innerLen, out, outOff);
  // Stryker disable next-line EqualityOperator: equivalent mutant (r <= 0): an ESP length is never 0
  if (r < 0) return r;
  const i = q.count++;
  q.slot[i] = sa.slot;
  q.espOff[i] = outOff;
  q.ptLen[i] = r - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
  q.tag[i] = tag;
  return r;
}

/**
 * Seals every queued packet of `buf` in one native call; calls onFail(tag)
 * for each one that failed (a made-once callback), then empties the queue.
 */
export function espFlushSeals(table: SaTable, buf: Uint8Array, q: EspSealQueue, onFail: ((tag: number) => void) | null): void {
  const n = q.count;
  // Stryker disable next-line ConditionalExpression: equivalent mutant: an empty queue reaches sealBatch with n = 0, which seals nothing and reports no failure
  if (n === 0) return;
  q.count = 0;
  const engine = table.nativeEngine;
  // Stryker disable next-line ConditionalExpression: equivalent mutant: espEncryptDeferred queues only on the native engine, so a queue with packets has one
  if (engine === null) return;
  // Stryker disable next-line ConditionalExpression: equivalent mutant: with no failure the loop below finds every result Ok
  if (engine.sealBatch(buf, n, q.slot, q.espOff, q.ptLen, q.result) === 0) return;
  for (let i = 0; i < n; i++) if (q.result[i] !== NativeResult.Ok && onFail !== null) onFail(q.tag[i]);
}
