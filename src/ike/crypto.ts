/**
 * IKEv2 cryptography over node:crypto only.
 *
 * - PRF HMAC-SHA1/SHA2-256/384/512 and prf+ (RFC 7296 §2.13);
 * - SKEYSEED and SK_d/ai/ar/ei/er/pi/pr (RFC 7296 §2.14), IKE SA rekey (§2.18);
 * - CHILD_SA KEYMAT with and without PFS (§2.17);
 * - the SK payload ciphers: AES-GCM-16 (RFC 5282: 8-byte explicit IV, 4-byte
 *   salt from the keymat, AAD = IKE header + the encrypted payload's header)
 *   and AES-CBC + HMAC-SHA2 (RFC 7296 §3.14, RFC 4868).
 *
 * Control plane: allocates freely. No function here logs a key.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { buf, concat } from './bytes.js';
import { Encr, Integ, Prf } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface PrfAlg {
  readonly id: number;
  readonly name: string;
  readonly hash: HashName;
  /** Output length = preferred key length (RFC 7296 §2.13), bytes. */
  readonly len: number;
}

export interface IntegAlg {
  readonly id: number;
  readonly name: string;
  readonly hash: HashName;
  /** Key length, bytes (RFC 4868: the hash output length). */
  readonly keyLen: number;
  /** Truncated ICV length, bytes. */
  readonly icvLen: number;
}

export interface EncrAlg {
  readonly id: number;
  readonly name: string;
  /** AES key length in bytes (16, 24, 32). */
  readonly keyLen: number;
  readonly aead: boolean;
  /** Salt bytes appended to the key in the keymat (4 for GCM, 0 for CBC). */
  readonly saltLen: number;
  /** IV bytes carried in each message (8 for GCM, 16 for CBC). */
  readonly ivLen: number;
  /** AEAD tag bytes (16 for GCM-16), 0 for CBC (the INTEG transform adds its own). */
  readonly tagLen: number;
  /** Padding block size (16 for CBC, 1 for GCM: RFC 5282 §3 needs no alignment). */
  readonly blockSize: number;
}

export const PRFS: Readonly<Record<number, PrfAlg>> = {
  [Prf.HMAC_SHA1]: { id: Prf.HMAC_SHA1, name: 'prfsha1', hash: 'sha1', len: 20 },
  [Prf.HMAC_SHA2_256]: { id: Prf.HMAC_SHA2_256, name: 'prfsha256', hash: 'sha256', len: 32 },
  [Prf.HMAC_SHA2_384]: { id: Prf.HMAC_SHA2_384, name: 'prfsha384', hash: 'sha384', len: 48 },
  [Prf.HMAC_SHA2_512]: { id: Prf.HMAC_SHA2_512, name: 'prfsha512', hash: 'sha512', len: 64 },
};

export const INTEGS: Readonly<Record<number, IntegAlg>> = {
  [Integ.HMAC_SHA1_96]: { id: Integ.HMAC_SHA1_96, name: 'sha1', hash: 'sha1', keyLen: 20, icvLen: 12 },
  [Integ.HMAC_SHA2_256_128]: { id: Integ.HMAC_SHA2_256_128, name: 'sha256', hash: 'sha256', keyLen: 32, icvLen: 16 },
  [Integ.HMAC_SHA2_384_192]: { id: Integ.HMAC_SHA2_384_192, name: 'sha384', hash: 'sha384', keyLen: 48, icvLen: 24 },
  [Integ.HMAC_SHA2_512_256]: { id: Integ.HMAC_SHA2_512_256, name: 'sha512', hash: 'sha512', keyLen: 64, icvLen: 32 },
};

/** The ENCR algorithm for a transform id + key length in bits, or undefined if unsupported. */
export function encrAlg(id: number, keyBits: number | undefined): EncrAlg | undefined {
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) return undefined;
  const keyLen = keyBits / 8;
  if (id === Encr.AES_CBC) {
    return { id, name: `aes${keyBits}`, keyLen, aead: false, saltLen: 0, ivLen: 16, tagLen: 0, blockSize: 16 };
  }
  if (id === Encr.AES_GCM_16) {
    return { id, name: `aes${keyBits}gcm16`, keyLen, aead: true, saltLen: 4, ivLen: 8, tagLen: 16, blockSize: 1 };
  }
  return undefined;
}

// ------------------------------------------------------------------ PRF

/** prf(K, S) = HMAC-<hash>(K, S). */
export function prf(alg: PrfAlg, key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(alg.hash, buf(key)).update(buf(data)).digest());
}

/**
 * RFC 7296 §2.13: prf+ (K,S) = T1 | T2 | T3 | ...
 *   T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n)
 * At most 255 iterations.
 */
export function prfPlus(alg: PrfAlg, key: Uint8Array, seed: Uint8Array, len: number): Uint8Array {
  const n = Math.ceil(len / alg.len);
  if (n > 255) throw new RangeError(`prf+ cannot produce ${len} bytes`);
  const out = new Uint8Array(n * alg.len);
  let prev = new Uint8Array(0);
  const k = buf(key);
  for (let i = 1; i <= n; i++) {
    const h = createHmac(alg.hash, k);
    h.update(buf(prev));
    h.update(buf(seed));
    h.update(Buffer.of(i));
    prev = new Uint8Array(h.digest());
    out.set(prev, (i - 1) * alg.len);
  }
  return out.subarray(0, len);
}

// ------------------------------------------------------------ IKE SA keys

export interface IkeSuite {
  readonly encr: EncrAlg;
  /** undefined for AEAD ciphers. */
  readonly integ: IntegAlg | undefined;
  readonly prf: PrfAlg;
  readonly dhGroup: number;
}

/** SK_e with its salt split off (GCM), and SK_a. */
export interface DirectionKeys {
  readonly encKey: Uint8Array;
  readonly salt: Uint8Array;
  readonly integKey: Uint8Array;
}

export interface IkeKeys {
  readonly skD: Uint8Array;
  /** Keys protecting messages sent by the original initiator (SK_ei/SK_ai). */
  readonly i: DirectionKeys;
  /** Keys protecting messages sent by the original responder (SK_er/SK_ar). */
  readonly r: DirectionKeys;
  readonly skPi: Uint8Array;
  readonly skPr: Uint8Array;
}

/** SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). */
export function skeyseedInitial(alg: PrfAlg, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array): Uint8Array {
  return prf(alg, concat(ni, nr), gir);
}

/** SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 §2.18). */
export function skeyseedRekey(alg: PrfAlg, skDold: Uint8Array, gir: Uint8Array, ni: Uint8Array, nr: Uint8Array): Uint8Array {
  return prf(alg, skDold, concat(gir, ni, nr));
}

/**
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 * (RFC 7296 §2.14). SK_e includes the 4-byte salt for GCM (RFC 5282 §7.1).
 */
export function deriveIkeKeys(
  suite: IkeSuite, skeyseed: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array,
): IkeKeys {
  const p = suite.prf.len;
  const a = suite.integ ? suite.integ.keyLen : 0;
  const e = suite.encr.keyLen + suite.encr.saltLen;
  const total = p + 2 * a + 2 * e + 2 * p;
  const km = prfPlus(suite.prf, skeyseed, concat(ni, nr, spiI, spiR), total);
  let o = 0;
  const take = (n: number): Uint8Array => {
    const s = km.slice(o, o + n);
    o += n;
    return s;
  };
  const skD = take(p);
  const ai = take(a);
  const ar = take(a);
  const ei = take(e);
  const er = take(e);
  const skPi = take(p);
  const skPr = take(p);
  const split = (ek: Uint8Array, ak: Uint8Array): DirectionKeys => ({
    encKey: ek.slice(0, suite.encr.keyLen),
    salt: ek.slice(suite.encr.keyLen),
    integKey: ak,
  });
  return { skD, i: split(ei, ai), r: split(er, ar), skPi, skPr };
}

/**
 * CHILD_SA KEYMAT = prf+(SK_d, Ni | Nr) or prf+(SK_d, g^ir (new) | Ni | Nr)
 * (RFC 7296 §2.17). Keys for initiator->responder first; per direction the
 * encryption key (+ salt) first, then the integrity key. `ni`/`nr` are the
 * nonces of the exchange that created the SA.
 */
export function deriveChildKeys(
  prfAlg: PrfAlg, skD: Uint8Array, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array | undefined,
  encr: EncrAlg, integ: IntegAlg | undefined,
): { readonly i2r: DirectionKeys; readonly r2i: DirectionKeys } {
  const e = encr.keyLen + encr.saltLen;
  const a = integ ? integ.keyLen : 0;
  const seed = gir ? concat(gir, ni, nr) : concat(ni, nr);
  const km = prfPlus(prfAlg, skD, seed, 2 * (e + a));
  const dir = (o: number): DirectionKeys => ({
    encKey: km.slice(o, o + encr.keyLen),
    salt: km.slice(o + encr.keyLen, o + e),
    integKey: km.slice(o + e, o + e + a),
  });
  return { i2r: dir(0), r2i: dir(e + a) };
}

// ------------------------------------------------------------ AEAD / CBC

/**
 * AES-GCM seal with a 16-byte tag: nonce = salt(4) | iv(8) (RFC 4106 §4 /
 * RFC 5282 §4). Returns ciphertext | tag.
 */
export function gcmSeal(key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv(gcmName(key.length), buf(key), Buffer.concat([buf(salt), buf(iv)]), { authTagLength: 16 });
  c.setAAD(buf(aad));
  const ct = Buffer.concat([c.update(buf(plaintext)), c.final(), c.getAuthTag()]);
  return new Uint8Array(ct.buffer, ct.byteOffset, ct.length);
}

/** AES-GCM open; `sealed` = ciphertext | 16-byte tag. Returns undefined if the tag does not verify. */
export function gcmOpen(key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < 16) return undefined;
  const d = createDecipheriv(gcmName(key.length), buf(key), Buffer.concat([buf(salt), buf(iv)]), { authTagLength: 16 });
  d.setAAD(buf(aad));
  d.setAuthTag(buf(sealed.subarray(sealed.length - 16)));
  const pt = d.update(buf(sealed.subarray(0, sealed.length - 16)));
  try {
    const fin = d.final();
    const all = fin.length ? Buffer.concat([pt, fin]) : pt;
    return new Uint8Array(all.buffer, all.byteOffset, all.length);
  } catch {
    return undefined;
  }
}

function gcmName(keyLen: number): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  if (keyLen === 16) return 'aes-128-gcm';
  if (keyLen === 24) return 'aes-192-gcm';
  if (keyLen === 32) return 'aes-256-gcm';
  throw new RangeError(`AES key of ${keyLen} bytes`);
}
function cbcName(keyLen: number): string {
  if (keyLen !== 16 && keyLen !== 24 && keyLen !== 32) throw new RangeError(`AES key of ${keyLen} bytes`);
  return `aes-${keyLen * 8}-cbc`;
}

/** AES-CBC without padding (the caller aligns to 16). */
export function cbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv(cbcName(key.length), buf(key), buf(iv));
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(buf(plaintext)), c.final()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
export function cbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const d = createDecipheriv(cbcName(key.length), buf(key), buf(iv));
  d.setAutoPadding(false);
  const out = Buffer.concat([d.update(buf(ciphertext)), d.final()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Truncated HMAC (RFC 4868 §2.1). */
export function integIcv(alg: IntegAlg, key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(alg.hash, buf(key)).update(buf(data)).digest().subarray(0, alg.icvLen));
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(buf(a), buf(b));
}

// -------------------------------------------------------- SK payload body

/**
 * Length of an SK/SKF body (IV | ciphertext | ICV) for `plainLen` bytes of inner
 * payloads, with the padding this implementation chooses (none for GCM, to the
 * block for CBC), plus the 1-byte Pad Length.
 */
export function skBodyLength(suite: IkeSuite, plainLen: number): number {
  const bs = suite.encr.blockSize;
  const padded = Math.ceil((plainLen + 1) / bs) * bs;
  return suite.encr.ivLen + padded + icvLength(suite);
}

export function icvLength(suite: IkeSuite): number {
  return suite.encr.aead ? suite.encr.tagLen : (suite.integ?.icvLen ?? 0);
}

/**
 * Encrypts `inner` into message[bodyOff, bodyOff + skBodyLength) in place.
 * `message` must already hold the final IKE header (with the final Length)
 * and the SK/SKF payload header; `aadEnd` is the offset where the IV starts
 * (end of the SK header, or of the SKF header incl. fragment numbers).
 */
export function sealSkBody(
  suite: IkeSuite, keys: DirectionKeys, message: Uint8Array, aadEnd: number, inner: Uint8Array, iv: Uint8Array,
): void {
  const bs = suite.encr.blockSize;
  const padded = Math.ceil((inner.length + 1) / bs) * bs;
  const padLen = padded - inner.length - 1;
  const pt = new Uint8Array(padded);
  pt.set(inner, 0);
  pt[padded - 1] = padLen;
  if (iv.length !== suite.encr.ivLen) throw new RangeError('IV length');
  message.set(iv, aadEnd);
  const ctOff = aadEnd + iv.length;
  if (suite.encr.aead) {
    const sealed = gcmSeal(keys.encKey, keys.salt, iv, message.subarray(0, aadEnd), pt);
    message.set(sealed, ctOff);
  } else {
    const integ = suite.integ;
    if (!integ) throw new Error('CBC without integrity transform');
    const ct = cbcEncrypt(keys.encKey, iv, pt);
    message.set(ct, ctOff);
    const icv = integIcv(integ, keys.integKey, message.subarray(0, ctOff + ct.length));
    message.set(icv, ctOff + ct.length);
  }
}

/**
 * Verifies and decrypts an SK/SKF body in message[aadEnd, end). Returns the
 * inner payload bytes (padding removed). Throws IkeError BadIcv / BadPadding /
 * BadLength; never reads outside the message.
 */
export function openSkBody(suite: IkeSuite, keys: DirectionKeys, message: Uint8Array, aadEnd: number, end: number): Uint8Array {
  const ivLen = suite.encr.ivLen;
  const icv = icvLength(suite);
  const bodyLen = end - aadEnd;
  if (bodyLen < ivLen + icv + 1) throw new IkeError(IkeErrorCode.BadLength, `encrypted payload of ${bodyLen} bytes`);
  const iv = message.subarray(aadEnd, aadEnd + ivLen);
  let pt: Uint8Array;
  if (suite.encr.aead) {
    const opened = gcmOpen(keys.encKey, keys.salt, iv, message.subarray(0, aadEnd), message.subarray(aadEnd + ivLen, end));
    if (!opened) throw new IkeError(IkeErrorCode.BadIcv, 'AEAD tag mismatch');
    pt = opened;
  } else {
    const integ = suite.integ;
    if (!integ) throw new Error('CBC without integrity transform');
    const ctEnd = end - icv;
    const ctLen = ctEnd - aadEnd - ivLen;
    if (ctLen <= 0 || ctLen % suite.encr.blockSize !== 0) throw new IkeError(IkeErrorCode.BadLength, `CBC ciphertext of ${ctLen} bytes`);
    const expect = integIcv(integ, keys.integKey, message.subarray(0, ctEnd));
    if (!constantTimeEqual(expect, message.subarray(ctEnd, end))) throw new IkeError(IkeErrorCode.BadIcv, 'ICV mismatch');
    pt = cbcDecrypt(keys.encKey, iv, message.subarray(aadEnd + ivLen, ctEnd));
  }
  if (pt.length < 1) throw new IkeError(IkeErrorCode.BadPadding, 'empty plaintext');
  const padLen = pt[pt.length - 1];
  if (padLen + 1 > pt.length) throw new IkeError(IkeErrorCode.BadPadding, `pad length ${padLen} > plaintext`);
  return pt.subarray(0, pt.length - 1 - padLen);
}
