/**
 * Per-transform constants of the ESP data path: sizes of key, salt, IV and
 * ICV, the payload alignment, and the OpenSSL names node:crypto wants.
 *
 * - AES-GCM (RFC 4106): 8-byte explicit IV, nonce = 4-byte salt | IV
 *   (§4), AAD = SPI | 32-bit sequence number without ESN (§5), 16-byte ICV
 *   for the "16" variants; GCM needs no block padding, ESP still aligns the
 *   Pad Length / Next Header pair to 4 bytes (RFC 4303 §2.4).
 * - AES-CBC (RFC 3602) + HMAC-SHA-1-96 (RFC 2404) / HMAC-SHA-256-128,
 *   -384-192, -512-256 (RFC 4868 §2.3: the HMAC output truncated to half);
 *   16-byte random IV, payload padded to the 16-byte block; the ICV covers
 *   SPI | sequence | IV | ciphertext (RFC 4303 §2.8).
 */
import type { EspAlgorithm } from './sa-types.js';

export const EspCipherKind = { Gcm: 0, CbcHmac: 1 } as const;
export type EspCipherKind = (typeof EspCipherKind)[keyof typeof EspCipherKind];

/** Hash of the HMAC, as a small int (the native engine's `hash` argument). */
export const EspHash = { None: 0, Sha1: 1, Sha256: 2, Sha384: 3, Sha512: 4 } as const;
export type EspHash = (typeof EspHash)[keyof typeof EspHash];

export interface EspAlgParams {
  readonly kind: EspCipherKind;
  /** AES key bytes (16, 24, 32). */
  readonly encKeyLen: number;
  /** GCM salt bytes (4), 0 for CBC. */
  readonly saltLen: number;
  /** Explicit IV carried in each packet (8 GCM, 16 CBC). */
  readonly ivLen: number;
  /** The encrypted part (payload + padding + 2) is a multiple of this (4 GCM, 16 CBC). */
  readonly align: number;
  readonly icvLen: number;
  readonly hash: EspHash;
  /** HMAC key bytes (RFC 4868 §2.1.1: the hash output size; 20 for SHA-1). */
  readonly integKeyLen: number;
  /** node:crypto cipher name. */
  readonly nodeCipher: string;
  /** node:crypto digest name, '' for GCM. */
  readonly nodeHash: string;
}

function gcm(bits: number): EspAlgParams {
  return {
    kind: EspCipherKind.Gcm, encKeyLen: bits / 8, saltLen: 4, ivLen: 8, align: 4, icvLen: 16,
    hash: EspHash.None, integKeyLen: 0, nodeCipher: `aes-${bits}-gcm`, nodeHash: '',
  };
}

function cbc(bits: number, hash: EspHash): EspAlgParams {
  const out = hash === EspHash.Sha1 ? 20 : hash === EspHash.Sha256 ? 32 : hash === EspHash.Sha384 ? 48 : 64;
  const name = hash === EspHash.Sha1 ? 'sha1' : hash === EspHash.Sha256 ? 'sha256' : hash === EspHash.Sha384 ? 'sha384' : 'sha512';
  return {
    kind: EspCipherKind.CbcHmac, encKeyLen: bits / 8, saltLen: 0, ivLen: 16, align: 16,
    icvLen: hash === EspHash.Sha1 ? 12 : out / 2, hash, integKeyLen: out,
    nodeCipher: `aes-${bits}-cbc`, nodeHash: name,
  };
}

const PARAMS: Readonly<Record<EspAlgorithm, EspAlgParams>> = {
  aes256gcm16: gcm(256),
  aes192gcm16: gcm(192),
  aes128gcm16: gcm(128),
  'aes256-sha256': cbc(256, EspHash.Sha256),
  'aes192-sha256': cbc(192, EspHash.Sha256),
  'aes128-sha256': cbc(128, EspHash.Sha256),
  'aes256-sha384': cbc(256, EspHash.Sha384),
  'aes192-sha384': cbc(192, EspHash.Sha384),
  'aes128-sha384': cbc(128, EspHash.Sha384),
  'aes256-sha512': cbc(256, EspHash.Sha512),
  'aes192-sha512': cbc(192, EspHash.Sha512),
  'aes128-sha512': cbc(128, EspHash.Sha512),
  'aes256-sha1': cbc(256, EspHash.Sha1),
  'aes192-sha1': cbc(192, EspHash.Sha1),
  'aes128-sha1': cbc(128, EspHash.Sha1),
};

/** Parameters of a transform, or undefined for a name this data path does not implement. */
export function espAlgParams(alg: string): EspAlgParams | undefined {
  return Object.prototype.hasOwnProperty.call(PARAMS, alg) ? PARAMS[alg as EspAlgorithm] : undefined;
}

/** ESP header: SPI (4) + sequence number (4). */
export const ESP_HEADER_LEN = 8;
/** Pad Length + Next Header. */
export const ESP_TRAILER_LEN = 2;
/** Next Header value of an IPv4 packet in tunnel mode (IP-in-IP). */
export const ESP_NEXT_HEADER_IPV4 = 4;
/** Next Header 59 marks a dummy packet (RFC 4303 §2.6): discard silently. */
export const ESP_NEXT_HEADER_NONE = 59;
