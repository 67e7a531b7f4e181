/**
 * ESP tunnel mode (RFC 4303) over UDP 4500 (RFC 3948): the per-packet data
 * path between the IPv4 packets of a VPC and the ESP packets on a VPN tunnel.
 *
 * Outbound, espEncrypt() turns one inner IPv4 packet into
 *
 *   | SPI | Seq | IV | inner IPv4 packet | Padding 1,2,3.. | PadLen | NH=4 | ICV |
 *                    \______________ encrypted ______________________/
 *
 * written at out[outOff]; the caller puts writeUdpEncapHeaders() (outer IPv4
 * + UDP 4500, 28 bytes) in front. Inbound, espDecrypt() takes the ESP packet
 * (the UDP payload), and writes the inner IPv4 packet at out[outOff].
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
 * inspect the Padding field"), Next Header 4 (IPv4), 59 = dummy packet
 * (§2.6, discarded silently: EspError.Dummy), anything else refused. The
 * inner packet must be a valid IPv4 header whose total length fits; bytes
 * after it (TFC padding, §2.7) are dropped.
 *
 * Return values are lengths (>= 0) or a negative EspError: nothing here
 * throws on packet contents, whatever the input. Per packet there are no
 * closures, strings or Map lookups; allocation happens only inside
 * node:crypto when the SA table uses that backend (see esp-crypto.ts).
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { internetChecksum } from '../wire/checksum.js';
import { TcpView, TcpFlags, TcpError } from '../wire/tcp.js';
import { DropReason } from '../pipeline/batch.js';
import {
  ESP_HEADER_LEN, ESP_NEXT_HEADER_IPV4, ESP_NEXT_HEADER_NONE, EspCipherKind,
} from './esp-alg.js';
import { fillRandom, nodeOpen, nodeSeal } from './esp-crypto.js';
import { NativeResult } from './esp-native.js';
import { type EspSa, SaCounter, SaTable, SEQ_MAX, SEQ_SOFT_LIMIT } from './sa-table.js';

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
  /** Authentic dummy packet (Next Header 59, RFC 4303 §2.6): discard without counting an error. */
  Dummy: -6,
  /** Outbound: the SA already sent sequence number 2^32 - 1 (rekey needed). */
  SeqExhausted: -7,
  /** The output does not fit in `out` from outOff. */
  NoRoom: -8,
} as const;
export type EspError = (typeof EspError)[keyof typeof EspError];

/** Names for logs and metrics labels, indexed by -code. */
export const ESP_ERROR_LABELS: readonly string[] = [
  'ok', 'no_sa', 'replay', 'auth', 'malformed', 'bad_next_header', 'dummy', 'seq_exhausted', 'no_room',
];

/** The pipeline's drop reason for an EspError (Dummy maps to None: not an error). */
export function espDropReason(code: number): DropReason {
  switch (code) {
    case EspError.NoSa: return DropReason.EspNoSa;
    case EspError.Replay: return DropReason.EspReplay;
    case EspError.Auth: return DropReason.EspAuth;
    case EspError.SeqExhausted: return DropReason.VpnDown;
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

/** Outer IPv4 header + UDP header in front of ESP-in-UDP. */
export const UDP_ENCAP_HEADER_LEN = 28;

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

/** TCP MSS for SYNs entering the tunnel: tunnelMtu - 20 (IPv4) - 20 (TCP). */
export function tunnelMss(sa: EspSa, outerMtu = 1500): number {
  const m = tunnelMtu(sa, outerMtu) - 40;
  return m > 0 ? m : 0;
}

// ---------------------------------------------------------------- outbound

/**
 * Encapsulates inner[innerOff, innerOff + innerLen) (an IPv4 packet) for `sa`
 * and writes the ESP packet at out[outOff]. Returns its length, or
 * EspError.NoSa (SA removed), SeqExhausted, NoRoom, Malformed (bad range).
 * `inner` and `out` may be the same array, overlapping or not (the inner
 * packet is moved first): with 8 + ivLen bytes of headroom, outOff =
 * innerOff - 8 - ivLen encrypts in place without a copy.
 */
export function espEncrypt(sa: EspSa, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number {
  const r = espPrepare(sa, inner, innerOff, innerLen, out, outOff);
  if (r < 0) return r;
  const ptLen = r - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
  const engine = sa.engine;
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
  const last = ctr[SaCounter.SeqOut];
  if (last >= SEQ_MAX) {
    sa.needsRekey = true;
    ctr[SaCounter.SeqExhaustedDrops]++;
    return EspError.SeqExhausted;
  }
  if (!(innerLen > 0) || !(innerOff >= 0) || innerOff + innerLen > inner.length) return EspError.Malformed;
  const ivLen = sa.ivLen;
  const a = sa.align - 1;
  const ptLen = (innerLen + 2 + a) & ~a;
  const total = ESP_HEADER_LEN + ivLen + ptLen + sa.icvLen;
  if (!(outOff >= 0) || outOff + total > out.length) return EspError.NoRoom;
  const seq = last + 1;
  ctr[SaCounter.SeqOut] = seq;
  if (seq >= SEQ_SOFT_LIMIT) sa.needsRekey = true;

  const ptOff = outOff + ESP_HEADER_LEN + ivLen;
  if (inner === out) {
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
  if (engine !== null) {
    const r = engine.open1(buf, slot, espOff, espLen, out, outOff);
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
  if (!sa.replay.update(seq)) {
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
    if (nh === ESP_NEXT_HEADER_NONE) return EspError.Dummy;
    ctr[SaCounter.MalformedIn]++;
    return EspError.BadNextHeader;
  }
  // inner IPv4 header: version 4, IHL >= 5, header checksum not checked here
  // (the router stage checks what it forwards), total length within the payload
  const vihl = out[outOff];
  const hl = (vihl & 0x0f) << 2;
  const total = readU16(out, outOff + 2);
  if (innerMax < 20 || (vihl >>> 4) !== 4 || hl < 20 || total < hl || total > innerMax) {
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
  if (n === 0) return;
  q.count = 0;
  const engine = table.nativeEngine;
  if (engine === null) return;
  if (engine.sealBatch(buf, n, q.slot, q.espOff, q.ptLen, q.result) === 0) return;
  for (let i = 0; i < n; i++) if (q.result[i] !== NativeResult.Ok && onFail !== null) onFail(q.tag[i]);
}

// ---------------------------------------------------------------- batches

/**
 * Descriptors of a vector of packets for espEncryptBatch/espDecryptBatch, all
 * in one buffer (the frame arena). Allocated once, reused for every batch.
 *
 * Encrypt: slot[i] = outbound SA slot (SaTable.outbound), inner packet at
 * inOff/inLen, ESP written at outOff; result[i] = ESP length or EspError.
 * Decrypt: ESP packet at inOff/inLen, inner packet written at outOff;
 * slot[i] is set to the SA found (or -1); result[i] = inner length or EspError.
 */
export class EspBatch {
  readonly capacity: number;
  count = 0;
  readonly slot: Int32Array;
  readonly inOff: Uint32Array;
  readonly inLen: Uint32Array;
  readonly outOff: Uint32Array;
  readonly result: Int32Array;
  // native work arrays
  /** ESP offset / length handed to the engine. */
  readonly espOff: Uint32Array;
  readonly espLen: Uint32Array;
  readonly work: Int32Array;
  readonly nres: Int32Array;
  /** Sequence numbers read before the cipher ran. */
  readonly seq: Uint32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.slot = new Int32Array(capacity);
    this.inOff = new Uint32Array(capacity);
    this.inLen = new Uint32Array(capacity);
    this.outOff = new Uint32Array(capacity);
    this.result = new Int32Array(capacity);
    this.espOff = new Uint32Array(capacity);
    this.espLen = new Uint32Array(capacity);
    this.work = new Int32Array(capacity);
    this.nres = new Int32Array(capacity);
    this.seq = new Uint32Array(capacity);
  }
}

/**
 * Encrypts batch.count packets of `buf`: one native crossing for the whole
 * vector when the table uses the native engine, else one node:crypto call
 * per packet. Results in batch.result.
 */
export function espEncryptBatch(table: SaTable, buf: Uint8Array, batch: EspBatch): void {
  const n = batch.count;
  const engine = table.nativeEngine;
  const work = batch.work;
  for (let i = 0; i < n; i++) {
    const sa = table.at(batch.slot[i]);
    work[i] = -1;
    if (sa === null) {
      batch.result[i] = EspError.NoSa;
      continue;
    }
    const outOff = batch.outOff[i];
    const r = espPrepare(sa, buf, batch.inOff[i], batch.inLen[i], buf, outOff);
    batch.result[i] = r;
    if (r < 0) continue;
    const ptLen = r - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
    if (engine === null) {
      nodeSeal(sa, buf, outOff, ptLen);
    } else {
      work[i] = sa.slot;
      batch.espOff[i] = outOff;
      batch.espLen[i] = ptLen;
    }
  }
  if (engine === null || n === 0) return;
  if (engine.sealBatch(buf, n, work, batch.espOff, batch.espLen, batch.nres) === 0) return;
  for (let i = 0; i < n; i++) if (work[i] >= 0 && batch.nres[i] !== NativeResult.Ok) batch.result[i] = EspError.Malformed;
}

/**
 * Decrypts batch.count ESP packets of `buf` (see EspBatch). Per packet the
 * same checks and order as espDecrypt; with the native engine the ICV checks
 * and decryptions of the whole vector are one crossing.
 */
export function espDecryptBatch(table: SaTable, buf: Uint8Array, batch: EspBatch): void {
  const n = batch.count;
  const engine = table.nativeEngine;
  const work = batch.work;
  for (let i = 0; i < n; i++) {
    const espOff = batch.inOff[i];
    const espLen = batch.inLen[i];
    const outOff = batch.outOff[i];
    const slot = decryptCheck(table, buf, espOff, espLen, buf, outOff);
    batch.slot[i] = slot < 0 ? -1 : slot;
    work[i] = -1;
    if (slot < 0) {
      batch.result[i] = slot;
      continue;
    }
    const seq = readU32(buf, espOff + 4);
    if (engine === null) {
      const sa = table.at(slot)!;
      const ok = nodeOpen(sa, buf, espOff, espLen, buf, outOff);
      batch.result[i] = decryptFinish(sa, ok, seq, buf, outOff, espLen - ESP_HEADER_LEN - sa.ivLen - sa.icvLen);
    } else {
      work[i] = slot;
      batch.seq[i] = seq; // the in-place output may overwrite the header
    }
  }
  if (engine === null || n === 0) return;
  engine.openBatch(buf, n, work, batch.inOff, batch.inLen, batch.outOff, batch.nres);
  for (let i = 0; i < n; i++) {
    if (work[i] < 0) continue;
    const r = batch.nres[i];
    if (r === NativeResult.Invalid) {
      batch.result[i] = EspError.Malformed;
      continue;
    }
    const sa = table.at(work[i])!;
    batch.result[i] = decryptFinish(sa, r === NativeResult.Ok, batch.seq[i], buf, batch.outOff[i],
      batch.inLen[i] - ESP_HEADER_LEN - sa.ivLen - sa.icvLen);
  }
}

// ---------------------------------------------------------------- UDP 4500 (RFC 3948)

/** What a UDP 4500 payload carries (RFC 3948 §2.2, §2.3). */
export const UdpEncapKind = {
  /** First 4 bytes non-zero: an ESP packet (its SPI). */
  Esp: 0,
  /** Non-ESP marker (4 zero bytes): IKE, punt to the control plane. */
  Ike: 1,
  /** One byte 0xFF: NAT keepalive, drop. */
  Keepalive: 2,
  /** Anything else (too short for ESP or IKE). */
  Invalid: 3,
} as const;
export type UdpEncapKind = (typeof UdpEncapKind)[keyof typeof UdpEncapKind];

/** Classifies the payload buf[off, off + len) of a datagram to/from UDP 4500. */
export function classifyUdpEncap(buf: Uint8Array, off: number, len: number): UdpEncapKind {
  if (len === 1) return buf[off] === 0xff ? UdpEncapKind.Keepalive : UdpEncapKind.Invalid;
  if (len < 4 || off < 0 || off + len > buf.length) return UdpEncapKind.Invalid;
  if ((buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3]) === 0) return UdpEncapKind.Ike;
  return len >= ESP_HEADER_LEN ? UdpEncapKind.Esp : UdpEncapKind.Invalid;
}

/** True if the UDP 4500 payload is an ESP packet (SPI != 0, at least the 8-byte header). */
export function isEspInUdp(buf: Uint8Array, udpPayloadOff: number, len: number): boolean {
  return classifyUdpEncap(buf, udpPayloadOff, len) === UdpEncapKind.Esp;
}

let ipId = (Math.random() * 0x10000) >>> 0;

/**
 * Writes the outer IPv4 header (20 bytes: no options, DF clear, a fresh
 * Identification, TTL `ttl`, protocol UDP, header checksum) and the UDP
 * header (8 bytes, checksum 0 as RFC 3948 §2.1 allows for UDP-encapsulated
 * ESP) for an ESP packet of espLen bytes that follows at off + 28.
 * Addresses are host-order u32. Returns 28.
 */
export function writeUdpEncapHeaders(out: Uint8Array, off: number, src: number, dst: number, sport: number, dport: number, espLen: number, ttl: number): number {
  writeIpv4Header(out, off, src, dst, 17, 28 + espLen, ttl);
  writeU16(out, off + 20, sport);
  writeU16(out, off + 22, dport);
  writeU16(out, off + 24, 8 + espLen);
  writeU16(out, off + 26, 0);
  return UDP_ENCAP_HEADER_LEN;
}

/**
 * The outer headers for `sa`: UDP encapsulation when the SA has it (the
 * normal case here), else a bare IPv4 header with protocol 50 (20 bytes).
 * Returns the header length; the ESP packet goes right after it.
 */
export function writeOuterHeaders(out: Uint8Array, off: number, sa: EspSa, espLen: number, ttl = 64): number {
  if (sa.encap) return writeUdpEncapHeaders(out, off, sa.localAddr, sa.peerAddr, sa.localPort, sa.peerPort, espLen, ttl);
  writeIpv4Header(out, off, sa.localAddr, sa.peerAddr, 50, 20 + espLen, ttl);
  return 20;
}

/** Outer header length for `sa` (28 with UDP encapsulation, 20 without). */
export function outerHeaderLen(sa: EspSa): number {
  return sa.encap ? UDP_ENCAP_HEADER_LEN : 20;
}

function writeIpv4Header(out: Uint8Array, off: number, src: number, dst: number, proto: number, totalLen: number, ttl: number): void {
  ipId = (ipId + 1) & 0xffff;
  out[off] = 0x45;
  out[off + 1] = 0;
  writeU16(out, off + 2, totalLen);
  writeU16(out, off + 4, ipId);
  writeU16(out, off + 6, 0); // DF clear, not a fragment
  out[off + 8] = ttl;
  out[off + 9] = proto;
  writeU16(out, off + 10, 0);
  writeU32(out, off + 12, src);
  writeU32(out, off + 16, dst);
  writeU16(out, off + 10, internetChecksum(out, off, 20));
}

// ---------------------------------------------------------------- TCP MSS clamp

const tcp = new TcpView();

/**
 * Lowers the MSS option of a TCP SYN (or SYN-ACK) in place to `mss` when it
 * advertises more, updating the TCP checksum incrementally (RFC 1624 Eqn. 3),
 * or leaving it alone when `partial` (a NEEDS_CSUM frame whose field holds
 * only the pseudo-header sum, which the MSS is not part of). l3Off is the
 * IPv4 header (only non-fragments of protocol 6 are touched), l4Off/l4Len the
 * TCP segment. Returns true if the option was rewritten. A SYN without an MSS
 * option is left alone (its implied 536, RFC 9293 §3.7.1, is below any clamp).
 */
export function clampTcpMss(buf: Uint8Array, l3Off: number, l4Off: number, l4Len: number, mss: number, partial: boolean): boolean {
  if (l3Off >= 0 && l3Off + 20 <= buf.length && (buf[l3Off] >>> 4) === 4) {
    if (buf[l3Off + 9] !== 6 || (readU16(buf, l3Off + 6) & 0x1fff) !== 0) return false;
  }
  if (!(l4Off >= 0) || l4Off + l4Len > buf.length) return false;
  if (tcp.at(buf, l4Off, l4Off + l4Len).check() !== TcpError.None) return false;
  if ((tcp.flags & TcpFlags.SYN) === 0) return false;
  const opt = tcp.findMssOption();
  if (opt < 0) return false;
  if (tcp.mssAt(opt) <= mss) return false;
  tcp.setMss(opt, mss, partial);
  return true;
}
