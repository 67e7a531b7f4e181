/**
 * The node:crypto backend of the ESP data path: seal/open one ESP packet in
 * place, with the SA's KeyObjects (created once per SA in sa-table.ts).
 *
 * This is the portable path (no addon needed) and the reference the native
 * batch engine (native/src/esp_aead.cc) is tested against. Its known costs,
 * measured in test/bench/esp.bench.ts: node:crypto builds a Cipher object and
 * fresh output Buffers per call (young-generation garbage, so scavenges during
 * the loop), and a GCM tag mismatch surfaces only as an exception from
 * final(), caught in openGcm(): the one try/catch of the data path, isolated
 * in a small function.
 *
 * Packet layout both functions share (RFC 4303 §2, RFC 4106 §3, RFC 3602 §3):
 *
 *   espOff: | SPI (4) | Seq (4) | IV (ivLen) | payload + padding + PadLen + NH | ICV (icvLen) |
 *                                            ^ ptOff = espOff + 8 + ivLen
 *
 * GCM nonce = salt (4) | IV (8), AAD = SPI | Seq (RFC 4106 §4, §5).
 * CBC ICV = HMAC(integ key, SPI .. end of ciphertext) truncated to icvLen.
 */
import {
  createCipheriv, createDecipheriv, createHmac, randomFillSync,
  type CipherGCM, type CipherGCMTypes, type DecipherGCM,
} from 'node:crypto';
import { EspCipherKind } from './esp-alg.js';
import type { EspSa } from './sa-table.js';

const GCM_OPTS = { authTagLength: 16 } as const;

/**
 * Random bytes for CBC IVs (RFC 3602 §2.1: unpredictable), drawn from a pool
 * refilled 4 KiB at a time so the per-packet cost is a copy.
 */
const pool = Buffer.alloc(4096);
let poolPos = pool.length;

export function fillRandom(out: Uint8Array, off: number, len: number): void {
  if (poolPos + len > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  for (let i = 0; i < len; i++) out[off + i] = pool[poolPos + i];
  poolPos += len;
}

/**
 * Encrypts buf[ptOff, ptOff + ptLen) in place and writes the ICV after it.
 * The ESP header and IV at espOff are already written; ptLen is a multiple
 * of the transform's alignment.
 */
export function nodeSeal(sa: EspSa, buf: Uint8Array, espOff: number, ptLen: number): void {
  const ptOff = espOff + 8 + sa.ivLen;
  if (sa.kind === EspCipherKind.Gcm) {
    const nonce = sa.nonceOut;
    for (let i = 0; i < 8; i++) nonce[4 + i] = buf[espOff + 8 + i];
    const c = createCipheriv(sa.nodeCipher as CipherGCMTypes, sa.encKeyOut, nonce, GCM_OPTS) as CipherGCM;
    c.setAAD(buf.subarray(espOff, espOff + 8));
    const ct = c.update(buf.subarray(ptOff, ptOff + ptLen));
    buf.set(ct, ptOff);
    c.final();
    buf.set(c.getAuthTag(), ptOff + ptLen);
    return;
  }
  const c = createCipheriv(sa.nodeCipher, sa.encKeyOut, buf.subarray(espOff + 8, espOff + 8 + sa.ivLen));
  c.setAutoPadding(false);
  const ct = c.update(buf.subarray(ptOff, ptOff + ptLen));
  buf.set(ct, ptOff);
  const rest = c.final();
  if (rest.length > 0) buf.set(rest, ptOff + ct.length);
  const h = createHmac(sa.nodeHash, sa.integKeyOut);
  h.update(buf.subarray(espOff, ptOff + ptLen));
  const d = h.digest();
  const icvOff = ptOff + ptLen;
  for (let i = 0; i < sa.icvLen; i++) buf[icvOff + i] = d[i];
}

/**
 * Verifies the ICV of the ESP packet buf[espOff, espOff + espLen) and, if it
 * is authentic, writes the decrypted payload (ctLen = espLen - 8 - ivLen -
 * icvLen bytes) at out[outOff]. Returns false on an ICV mismatch (out is then
 * untouched). Lengths were validated by the caller.
 */
export function nodeOpen(sa: EspSa, buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): boolean {
  const ctOff = espOff + 8 + sa.ivLen;
  const icvOff = espOff + espLen - sa.icvLen;
  if (sa.kind === EspCipherKind.Gcm) {
    const nonce = sa.nonceIn;
    for (let i = 0; i < 8; i++) nonce[4 + i] = buf[espOff + 8 + i];
    const d = createDecipheriv(sa.nodeCipher as CipherGCMTypes, sa.encKeyIn, nonce, GCM_OPTS) as DecipherGCM;
    d.setAAD(buf.subarray(espOff, espOff + 8));
    d.setAuthTag(buf.subarray(icvOff, icvOff + 16));
    const pt = d.update(buf.subarray(ctOff, icvOff));
    if (!gcmFinalOk(d)) return false;
    out.set(pt, outOff);
    return true;
  }
  const h = createHmac(sa.nodeHash, sa.integKeyIn);
  h.update(buf.subarray(espOff, icvOff));
  const mac = h.digest();
  let diff = 0;
  for (let i = 0; i < sa.icvLen; i++) diff |= mac[i] ^ buf[icvOff + i];
  if (diff !== 0) return false;
  const d = createDecipheriv(sa.nodeCipher, sa.encKeyIn, buf.subarray(espOff + 8, ctOff));
  d.setAutoPadding(false);
  const pt = d.update(buf.subarray(ctOff, icvOff));
  out.set(pt, outOff);
  const rest = d.final();
  if (rest.length > 0) out.set(rest, outOff + pt.length);
  return true;
}

/** GCM tag check: node:crypto reports a mismatch only by throwing from final(). */
function gcmFinalOk(d: DecipherGCM): boolean {
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}
