/**
 * IKE_AUTH authentication (RFC 7296 §2.15, RFC 7427) and identities (§3.5).
 *
 * Signed octets (§2.15):
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
 *   ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
 *   MACedIDForI = prf(SK_pi, RestOfInitIDPayload)   (ID Type | RESERVED | ID data)
 * PSK:  AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
 * Certificates: RFC 7427 Digital Signature (auth method 14):
 *   | ASN.1 Length | AlgorithmIdentifier (DER) | Signature Value |
 * with RSASSA-PKCS1-v1_5 or ECDSA (DER Ecdsa-Sig-Value), falling back to
 * methods 1 (RSA, SHA-1) and 9/10/11 (ECDSA raw r|s) when the peer did not
 * announce SIGNATURE_HASH_ALGORITHMS.
 */
import { createHash, createPrivateKey, sign as cryptoSign, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { buf, concat, equalBytes, ipv4Bytes, readU32 } from './bytes.js';
import { u32ToIp } from '../wire/addr.js';
import { AuthMethod, HashAlg, IdType } from './constants.js';
import { prf, type PrfAlg } from './crypto.js';
import { canonicalDn, certSubjectDer, decodeOid, dnFromString, dnToString, readTlv } from './der.js';
import { IkeError, IkeErrorCode } from './errors.js';

// ------------------------------------------------------------- identities

export interface IkeIdentity {
  readonly idType: number;
  readonly data: Uint8Array;
}

/**
 * Parses a configured identity: an IPv4 address -> ID_IPV4_ADDR, text with
 * '=' -> ID_DER_ASN1_DN, text with '@' -> ID_RFC822_ADDR, else ID_FQDN.
 */
export function identityFromString(s: string): IkeIdentity {
  const t = s.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(t)) return { idType: IdType.IPV4_ADDR, data: ipv4Bytes(t) };
  if (t.includes('=')) return { idType: IdType.DER_ASN1_DN, data: dnFromString(t) };
  if (t.includes('@')) return { idType: IdType.RFC822_ADDR, data: new Uint8Array(Buffer.from(t, 'utf8')) };
  if (t.length === 0) throw new IkeError(IkeErrorCode.Config, 'empty identity');
  return { idType: IdType.FQDN, data: new Uint8Array(Buffer.from(t, 'utf8')) };
}

export function identityToString(id: IkeIdentity): string {
  switch (id.idType) {
    case IdType.IPV4_ADDR: return id.data.length === 4 ? u32ToIp(readU32(id.data, 0)) : '<bad ipv4 id>';
    case IdType.FQDN: case IdType.RFC822_ADDR: return Buffer.from(id.data).toString('utf8');
    case IdType.DER_ASN1_DN:
      try {
        return dnToString(id.data);
      } catch {
        return '<bad DN>';
      }
    case IdType.KEY_ID: return `keyid:${Buffer.from(id.data).toString('hex')}`;
    default: return `id-type-${id.idType}:${Buffer.from(id.data).toString('hex')}`;
  }
}

/** RestOfIDPayload: ID Type | RESERVED(3) | data (what MACedID covers). */
export function identityBody(id: IkeIdentity): Uint8Array {
  return concat(new Uint8Array([id.idType, 0, 0, 0]), id.data);
}

/** Equality of identities; DNs compare by canonical text (string types may differ). */
export function identityEquals(a: IkeIdentity, b: IkeIdentity): boolean {
  if (a.idType !== b.idType) return false;
  if (equalBytes(a.data, b.data)) return true;
  if (a.idType === IdType.DER_ASN1_DN) {
    try {
      return canonicalDn(dnToString(a.data)) === canonicalDn(dnToString(b.data));
    } catch {
      return false;
    }
  }
  if (a.idType === IdType.FQDN || a.idType === IdType.RFC822_ADDR) {
    return Buffer.from(a.data).toString('utf8').toLowerCase() === Buffer.from(b.data).toString('utf8').toLowerCase();
  }
  return false;
}

// ----------------------------------------------------------------- PSK

const KEY_PAD = new Uint8Array(Buffer.from('Key Pad for IKEv2', 'ascii'));

/** <SignedOctets> = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload). */
export function signedOctets(prfAlg: PrfAlg, realMessage: Uint8Array, peerNonce: Uint8Array, skP: Uint8Array, id: IkeIdentity): Uint8Array {
  return concat(realMessage, peerNonce, prf(prfAlg, skP, identityBody(id)));
}

export function pskAuth(prfAlg: PrfAlg, psk: Uint8Array, octets: Uint8Array): Uint8Array {
  return prf(prfAlg, prf(prfAlg, psk, KEY_PAD), octets);
}

// --------------------------------------------------------- certificates

export interface CertCredentials {
  /** End-entity certificate first, then intermediates (sent as CERT payloads in this order). */
  readonly chain: readonly X509Certificate[];
  readonly key: KeyObject;
  /** Trust anchors for the peer's certificate. */
  readonly cas: readonly X509Certificate[];
}

function splitPem(pem: string): string[] {
  const out = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  return out ?? [];
}

/** Parses PEM text (certificate chain, PKCS#8/PKCS#1/SEC1 key, CA bundle). Throws IkeError(Config). */
export function loadCertCredentials(certPem: string, keyPem: string, caPem: string): CertCredentials {
  try {
    const chain = splitPem(certPem).map((p) => new X509Certificate(p));
    const cas = splitPem(caPem).map((p) => new X509Certificate(p));
    if (chain.length === 0) throw new Error('no certificate in the cert file');
    if (cas.length === 0) throw new Error('no certificate in the CA file');
    const key = createPrivateKey(keyPem);
    if (!chain[0].checkPrivateKey(key)) throw new Error('the private key does not match the certificate');
    const kt = key.asymmetricKeyType;
    if (kt !== 'rsa' && kt !== 'ec') throw new Error(`unsupported key type ${kt}`);
    return { chain, key, cas };
  } catch (e) {
    if (e instanceof IkeError) throw e;
    throw new IkeError(IkeErrorCode.Config, `certificate credentials: ${(e as Error).message}`);
  }
}

export function certDer(c: X509Certificate): Uint8Array {
  return new Uint8Array(c.raw);
}

/** CERTREQ Certification Authority data: SHA-1 of each CA's SubjectPublicKeyInfo (RFC 7296 §3.7). */
export function caKeyHashes(cas: readonly X509Certificate[]): Uint8Array {
  return concat(...cas.map((c) => new Uint8Array(createHash('sha1').update(c.publicKey.export({ type: 'spki', format: 'der' })).digest())));
}

/** Our identity from a certificate: FQDN of the first DNS SAN, else the subject DN. */
export function identityFromCert(c: X509Certificate): IkeIdentity {
  const san = c.subjectAltName ?? '';
  const m = /(?:^|,\s*)DNS:([^,]+)/.exec(san);
  if (m) return { idType: IdType.FQDN, data: new Uint8Array(Buffer.from(m[1].trim(), 'utf8')) };
  return { idType: IdType.DER_ASN1_DN, data: certSubjectDer(new Uint8Array(c.raw)) };
}

function sanEntries(c: X509Certificate, kind: string): string[] {
  const san = c.subjectAltName ?? '';
  const out: string[] = [];
  for (const part of san.split(/,\s*/)) {
    const i = part.indexOf(':');
    if (i > 0 && part.slice(0, i) === kind) out.push(part.slice(i + 1).trim());
  }
  return out;
}

/** Does the certificate vouch for this identity (SAN for FQDN/IP/email, subject for DN)? */
export function certMatchesIdentity(c: X509Certificate, id: IkeIdentity): boolean {
  switch (id.idType) {
    case IdType.IPV4_ADDR: {
      const ip = identityToString(id);
      return sanEntries(c, 'IP Address').includes(ip);
    }
    case IdType.FQDN: {
      const name = identityToString(id).toLowerCase();
      return sanEntries(c, 'DNS').some((d) => d.toLowerCase() === name);
    }
    case IdType.RFC822_ADDR: {
      const mail = identityToString(id).toLowerCase();
      return sanEntries(c, 'email').some((d) => d.toLowerCase() === mail);
    }
    case IdType.DER_ASN1_DN:
      return identityEquals(id, { idType: IdType.DER_ASN1_DN, data: certSubjectDer(new Uint8Array(c.raw)) });
    default:
      return false;
  }
}

function validAt(c: X509Certificate, wallMs: number): boolean {
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return Number.isFinite(from) && Number.isFinite(to) && wallMs >= from && wallMs <= to;
}

/**
 * Verifies the peer's certificate chain: `ee` (its first CERT payload) through
 * any intermediates it sent up to one of `cas`, each signature valid, each
 * certificate inside its validity period at `wallMs`, intermediates being CAs.
 * Returns the end-entity certificate. Throws IkeError(Certificate).
 */
export function verifyPeerChain(eeDer: Uint8Array, extraDer: readonly Uint8Array[], cas: readonly X509Certificate[], wallMs: number): X509Certificate {
  let ee: X509Certificate;
  let extra: X509Certificate[];
  try {
    ee = new X509Certificate(buf(eeDer));
    extra = extraDer.map((d) => new X509Certificate(buf(d)));
  } catch (e) {
    throw new IkeError(IkeErrorCode.Certificate, `unparsable certificate: ${(e as Error).message}`);
  }
  if (!validAt(ee, wallMs)) throw new IkeError(IkeErrorCode.Certificate, `certificate '${ee.subject.replace(/\n/g, ', ')}' is outside its validity period (${ee.validFrom} - ${ee.validTo})`);
  let cur = ee;
  for (let depth = 0; depth < 6; depth++) {
    for (const ca of cas) {
      if (cur.checkIssued(ca) && cur.verify(ca.publicKey)) {
        if (!validAt(ca, wallMs)) throw new IkeError(IkeErrorCode.Certificate, 'CA certificate is outside its validity period');
        return ee;
      }
    }
    const next = extra.find((x) => x !== cur && cur.checkIssued(x) && cur.verify(x.publicKey));
    if (!next) break;
    if (!next.ca) throw new IkeError(IkeErrorCode.Certificate, 'intermediate certificate is not a CA');
    if (!validAt(next, wallMs)) throw new IkeError(IkeErrorCode.Certificate, 'intermediate certificate is outside its validity period');
    cur = next;
  }
  throw new IkeError(IkeErrorCode.Certificate, `certificate '${ee.subject.replace(/\n/g, ', ')}' is not signed by a trusted CA`);
}

// --------------------------------------------------- RFC 7427 signatures

type SigHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const ALG_IDS: Readonly<Record<string, Uint8Array>> = {
  'rsa-sha1': hex('300d06092a864886f70d0101050500'),
  'rsa-sha256': hex('300d06092a864886f70d01010b0500'),
  'rsa-sha384': hex('300d06092a864886f70d01010c0500'),
  'rsa-sha512': hex('300d06092a864886f70d01010d0500'),
  'ecdsa-sha256': hex('300a06082a8648ce3d040302'),
  'ecdsa-sha384': hex('300a06082a8648ce3d040303'),
  'ecdsa-sha512': hex('300a06082a8648ce3d040304'),
};
const OID_TO_ALG: Readonly<Record<string, { kind: 'rsa' | 'ec'; hash: SigHash }>> = {
  '1.2.840.113549.1.1.5': { kind: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.11': { kind: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.1': { kind: 'ec', hash: 'sha1' },
  '1.2.840.10045.4.3.2': { kind: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ec', hash: 'sha512' },
};

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function ecHashFor(key: KeyObject): SigHash {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return 'sha384';
  if (curve === 'secp521r1') return 'sha512';
  return 'sha256';
}

/** The hash IDs we announce in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4). */
export const OUR_SIGNATURE_HASHES: readonly number[] = [HashAlg.SHA2_256, HashAlg.SHA2_384, HashAlg.SHA2_512];

/** Sign the AUTH octets with our key: method 14 when the peer announced hash algorithms, else 1 / 9-11. */
export function signAuth(key: KeyObject, octets: Uint8Array, peerHashes: readonly number[]): { method: number; data: Uint8Array } {
  const kt = key.asymmetricKeyType;
  if (kt === 'rsa') {
    if (peerHashes.includes(HashAlg.SHA2_256)) {
      const sig = cryptoSign('sha256', buf(octets), key);
      return { method: AuthMethod.DIGITAL_SIGNATURE, data: method14('rsa-sha256', sig) };
    }
    return { method: AuthMethod.RSA_SIG, data: new Uint8Array(cryptoSign('sha1', buf(octets), key)) };
  }
  if (kt === 'ec') {
    const h = ecHashFor(key);
    const hid = h === 'sha384' ? HashAlg.SHA2_384 : h === 'sha512' ? HashAlg.SHA2_512 : HashAlg.SHA2_256;
    if (peerHashes.includes(hid)) {
      const sig = cryptoSign(h, buf(octets), { key, dsaEncoding: 'der' });
      return { method: AuthMethod.DIGITAL_SIGNATURE, data: method14(`ecdsa-${h}`, sig) };
    }
    const sig = cryptoSign(h, buf(octets), { key, dsaEncoding: 'ieee-p1363' });
    const method = h === 'sha384' ? AuthMethod.ECDSA_SHA384_P384 : h === 'sha512' ? AuthMethod.ECDSA_SHA512_P521 : AuthMethod.ECDSA_SHA256_P256;
    return { method, data: new Uint8Array(sig) };
  }
  throw new IkeError(IkeErrorCode.Config, `cannot sign with a ${kt} key`);
}

function method14(alg: string, sig: Buffer): Uint8Array {
  const id = ALG_IDS[alg];
  return concat(new Uint8Array([id.length]), id, new Uint8Array(sig));
}

/** Verifies a signature AUTH payload against the peer's public key. Never throws on bad input: returns false. */
export function verifySignatureAuth(method: number, data: Uint8Array, octets: Uint8Array, key: KeyObject): boolean {
  const kt = key.asymmetricKeyType;
  try {
    if (method === AuthMethod.DIGITAL_SIGNATURE) {
      if (data.length < 2) return false;
      const l = data[0];
      if (1 + l >= data.length) return false;
      const algId = data.subarray(1, 1 + l);
      const seq = readTlv(algId, 0, algId.length);
      if (seq.tag !== 0x30 || seq.end !== algId.length) return false;
      const oid = readTlv(algId, seq.valueOff, seq.end);
      if (oid.tag !== 0x06) return false;
      const alg = OID_TO_ALG[decodeOid(algId, oid.valueOff, oid.end)];
      if (!alg || alg.kind !== kt) return false;
      const sig = data.subarray(1 + l);
      return cryptoVerify(alg.hash, buf(octets), kt === 'ec' ? { key, dsaEncoding: 'der' } : key, buf(sig));
    }
    if (method === AuthMethod.RSA_SIG && kt === 'rsa') return cryptoVerify('sha1', buf(octets), key, buf(data));
    if (kt === 'ec' && (method === AuthMethod.ECDSA_SHA256_P256 || method === AuthMethod.ECDSA_SHA384_P384 || method === AuthMethod.ECDSA_SHA512_P521)) {
      const h: SigHash = method === AuthMethod.ECDSA_SHA256_P256 ? 'sha256' : method === AuthMethod.ECDSA_SHA384_P384 ? 'sha384' : 'sha512';
      return cryptoVerify(h, buf(octets), { key, dsaEncoding: 'ieee-p1363' }, buf(data));
    }
    return false;
  } catch {
    return false;
  }
}

/** Parses SIGNATURE_HASH_ALGORITHMS notify data (u16 list). */
export function parseHashAlgorithms(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) out.push((data[i] << 8) | data[i + 1]);
  return out;
}
export function encodeHashAlgorithms(ids: readonly number[]): Uint8Array {
  const out = new Uint8Array(ids.length * 2);
  ids.forEach((v, i) => {
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}
