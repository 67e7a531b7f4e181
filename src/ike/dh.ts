/**
 * Diffie-Hellman for IKE key exchange, over node:crypto.
 *
 * - MODP groups 2, 14, 15, 16 (RFC 2409 / RFC 3526): KE data = g^x as a
 *   big-endian integer padded to the prime length; shared secret padded likewise
 *   (RFC 7296 §2.14: "g^ir ... represented as a string of octets in big endian
 *   order padded with zeros if necessary to make it the length of the modulus").
 * - ECP groups 19, 20, 21 (RFC 5903 §7): KE data = x || y, each coordinate
 *   padded to the field size, *without* the 0x04 SEC1 prefix; the shared
 *   secret is the x coordinate of the product.
 * - Curve25519, group 31 (RFC 8031 §2): KE data = the raw 32-byte u-coordinate;
 *   an all-zero shared secret is refused (RFC 8031 §2.3).
 */
import { createDiffieHellman, createECDH, createPrivateKey, createPublicKey, diffieHellman, getDiffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buf } from './bytes.js';
import { DhGroup } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';

export interface DhPrivate {
  readonly group: number;
  /** Our public value as carried in the KE payload. */
  readonly publicValue: Uint8Array;
  /** g^ir from the peer's KE data; throws IkeError(DhInvalid) for an invalid value. */
  computeShared(peer: Uint8Array): Uint8Array;
}

const MODP_NAMES: Readonly<Record<number, string>> = {
  [DhGroup.MODP_1024]: 'modp2',
  [DhGroup.MODP_2048]: 'modp14',
  [DhGroup.MODP_3072]: 'modp15',
  [DhGroup.MODP_4096]: 'modp16',
};
const ECP: Readonly<Record<number, { curve: string; coord: number }>> = {
  [DhGroup.ECP_256]: { curve: 'prime256v1', coord: 32 },
  [DhGroup.ECP_384]: { curve: 'secp384r1', coord: 48 },
  [DhGroup.ECP_521]: { curve: 'secp521r1', coord: 66 },
};

export const SUPPORTED_DH_GROUPS: readonly number[] = [
  DhGroup.MODP_1024, DhGroup.MODP_2048, DhGroup.MODP_3072, DhGroup.MODP_4096,
  DhGroup.ECP_256, DhGroup.ECP_384, DhGroup.ECP_521, DhGroup.CURVE_25519,
];

export function isSupportedDhGroup(g: number): boolean {
  return SUPPORTED_DH_GROUPS.includes(g);
}

/** Length of the KE data for a group (what a valid peer value must have). */
export function dhPublicLength(group: number): number {
  const modp = MODP_NAMES[group];
  if (modp) return getDiffieHellman(modp).getPrime().length;
  const ecp = ECP[group];
  if (ecp) return 2 * ecp.coord;
  if (group === DhGroup.CURVE_25519) return 32;
  throw new IkeError(IkeErrorCode.InvalidKe, `unsupported DH group ${group}`);
}

function leftPad(b: Buffer, len: number): Uint8Array {
  if (b.length === len) return new Uint8Array(b);
  if (b.length > len) throw new Error('DH value longer than the modulus');
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

function invalid(group: number, why: string): never {
  throw new IkeError(IkeErrorCode.DhInvalid, `DH group ${group}: ${why}`, 17);
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * A fresh DH private value for `group`. `privateKey` is for known-answer
 * tests only (MODP: big-endian exponent; ECP: scalar; X25519: 32 raw bytes).
 */
export function dhGenerate(group: number, privateKey?: Uint8Array): DhPrivate {
  const modp = MODP_NAMES[group];
  if (modp) {
    const g = getDiffieHellman(modp);
    const dh = createDiffieHellman(g.getPrime(), g.getGenerator());
    if (privateKey) dh.setPrivateKey(buf(privateKey));
    dh.generateKeys();
    const plen = dh.getPrime().length;
    const prime = dh.getPrime();
    return {
      group,
      publicValue: leftPad(dh.getPublicKey(), plen),
      computeShared(peer: Uint8Array): Uint8Array {
        if (peer.length !== plen) invalid(group, `public value of ${peer.length} bytes, expected ${plen}`);
        // 1 < y < p-1 (RFC 2631 §2.1.5 style sanity check; rejects 0, 1 and p-1).
        const y = BigInt('0x' + Buffer.from(peer).toString('hex'));
        const p = BigInt('0x' + prime.toString('hex'));
        if (y <= 1n || y >= p - 1n) invalid(group, 'public value out of range');
        return leftPad(dh.computeSecret(buf(peer)), plen);
      },
    };
  }
  const ecp = ECP[group];
  if (ecp) {
    const ecdh = createECDH(ecp.curve);
    if (privateKey) ecdh.setPrivateKey(buf(privateKey));
    else ecdh.generateKeys();
    const pub = ecdh.getPublicKey(); // 0x04 | x | y
    return {
      group,
      publicValue: new Uint8Array(pub.subarray(1)),
      computeShared(peer: Uint8Array): Uint8Array {
        if (peer.length !== 2 * ecp.coord) invalid(group, `public value of ${peer.length} bytes, expected ${2 * ecp.coord}`);
        try {
          return leftPad(ecdh.computeSecret(Buffer.concat([Buffer.of(4), buf(peer)])), ecp.coord);
        } catch {
          invalid(group, 'point not on curve');
        }
      },
    };
  }
  if (group === DhGroup.CURVE_25519) {
    let priv: KeyObject;
    if (privateKey) {
      if (privateKey.length !== 32) throw new RangeError('X25519 private key is 32 bytes');
      priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, buf(privateKey)]), format: 'der', type: 'pkcs8' });
    } else {
      priv = generateKeyPairSync('x25519').privateKey;
    }
    const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
    return {
      group,
      publicValue: new Uint8Array(spki.subarray(spki.length - 32)),
      computeShared(peer: Uint8Array): Uint8Array {
        if (peer.length !== 32) invalid(group, `public value of ${peer.length} bytes, expected 32`);
        let secret: Buffer;
        try {
          const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, buf(peer)]), format: 'der', type: 'spki' });
          secret = diffieHellman({ privateKey: priv, publicKey: pub });
        } catch {
          invalid(group, 'bad public value');
        }
        let nz = 0;
        for (const b of secret) nz |= b;
        if (nz === 0) invalid(group, 'all-zero shared secret');
        return new Uint8Array(secret);
      },
    };
  }
  throw new IkeError(IkeErrorCode.InvalidKe, `unsupported DH group ${group}`, 17);
}
