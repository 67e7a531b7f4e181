import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  caKeyHashes, certDer, certMatchesIdentity, identityEquals, identityFromCert, identityFromString, identityToString,
  loadCertCredentials, signAuth, verifyPeerChain, verifySignatureAuth, type CertCredentials,
} from '../../../src/ike/auth.js';
import { AuthMethod, HashAlg, IdType } from '../../../src/ike/constants.js';
import { certSubjectDer, dnFromString, dnToString } from '../../../src/ike/der.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { TestPki, type Issued } from './pki.js';
import { describeWith } from '../../helpers/needs.js';

describeWith(['openssl'], 'certificates and signatures (RFC 7427, RFC 7296 §3.6-3.8)', () => {
  let pki: TestPki;
  let ca: Issued;
  let other: Issued;
  let inter: Issued;
  let rsa: CertCredentials;
  let ec: CertCredentials;
  let viaInter: CertCredentials;
  let shortLived: Issued;
  beforeAll(() => {
    pki = new TestPki();
    ca = pki.ca('root');
    other = pki.ca('other');
    inter = pki.issue('inter', ca, { ca: true });
    const r = pki.issue('vgw.vpcd.test', ca, { san: 'DNS:vgw.vpcd.test,IP:198.51.100.1' });
    const e = pki.issue('cgw.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:cgw.vpcd.test,IP:198.51.100.2' });
    const i = pki.issue('leaf.vpcd.test', inter, { type: 'ecdsa', san: 'DNS:leaf.vpcd.test' });
    shortLived = pki.issue('short.vpcd.test', ca, { san: 'DNS:short.vpcd.test', days: 1 });
    rsa = loadCertCredentials(pki.read(r.cert), pki.read(r.key), pki.read(ca.cert));
    ec = loadCertCredentials(pki.read(e.cert), pki.read(e.key), pki.read(ca.cert));
    viaInter = loadCertCredentials(pki.read(i.cert) + pki.read(inter.cert), pki.read(i.key), pki.read(ca.cert));
  }, 60_000);
  afterAll(() => pki?.dispose());

  it('loads PEM credentials; refuses a key that does not match', () => {
    expect(rsa.chain.length).toBe(1);
    expect(viaInter.chain.length).toBe(2);
    expect(() => loadCertCredentials(pki.read(`${pki.dir}/vgw.vpcd.test.crt`), pki.read(`${pki.dir}/root.key`), pki.read(ca.cert)))
      .toThrowError(expect.objectContaining({ code: IkeErrorCode.Config }));
  });

  it('CERTREQ carries SHA-1 of the CA SubjectPublicKeyInfo', () => {
    const c = new X509Certificate(pki.read(ca.cert));
    const want = createHash('sha1').update(c.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    expect(Buffer.from(caKeyHashes([c])).toString('hex')).toBe(want);
  });

  it('identities: FQDN from the DNS SAN; DN text <-> DER; matching against the certificate', () => {
    const id = identityFromCert(rsa.chain[0]);
    expect(id.idType).toBe(IdType.FQDN);
    expect(identityToString(id)).toBe('vgw.vpcd.test');
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('vgw.vpcd.test'))).toBe(true);
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('VGW.vpcd.test'))).toBe(true);
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('198.51.100.1'))).toBe(true);
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('198.51.100.2'))).toBe(false);
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('cgw.vpcd.test'))).toBe(false);
    const subj = certSubjectDer(certDer(rsa.chain[0]));
    expect(dnToString(subj)).toBe('O=vpcd test, CN=vgw.vpcd.test');
    const dn = identityFromString('O=vpcd test, CN=vgw.vpcd.test');
    expect(dn.idType).toBe(IdType.DER_ASN1_DN);
    expect(certMatchesIdentity(rsa.chain[0], dn)).toBe(true);
    expect(certMatchesIdentity(rsa.chain[0], identityFromString('O=vpcd test, CN=other'))).toBe(false);
    expect(identityEquals(dn, { idType: IdType.DER_ASN1_DN, data: subj })).toBe(true);
    expect(dnToString(dnFromString('C=US, O=x, CN=y'))).toBe('C=US, O=x, CN=y');
  });

  it('method 14 with RSA PKCS#1 v1.5 SHA-256 and ECDSA P-256 SHA-256; tampering refused', () => {
    const octets = new Uint8Array(500).map((_, i) => i * 7);
    for (const cred of [rsa, ec]) {
      const a = signAuth(cred.key, octets, [HashAlg.SHA2_256, HashAlg.SHA2_384]);
      expect(a.method).toBe(AuthMethod.DIGITAL_SIGNATURE);
      const pub = cred.chain[0].publicKey;
      expect(verifySignatureAuth(a.method, a.data, octets, pub)).toBe(true);
      const t = a.data.slice();
      t[t.length - 1] ^= 1;
      expect(verifySignatureAuth(a.method, t, octets, pub)).toBe(false);
      const o2 = octets.slice();
      o2[0] ^= 1;
      expect(verifySignatureAuth(a.method, a.data, o2, pub)).toBe(false);
      expect(verifySignatureAuth(a.method, a.data.subarray(0, 5), octets, pub)).toBe(false);
    }
    const a = signAuth(rsa.key, octets, [HashAlg.SHA2_256]);
    // RFC 7427 Appendix A: sha256WithRSAEncryption AlgorithmIdentifier with NULL parameters
    expect(Buffer.from(a.data.subarray(0, 16)).toString('hex')).toBe('0f300d06092a864886f70d01010b0500');
    // an RSA signature does not verify with an EC key and vice versa
    expect(verifySignatureAuth(a.method, a.data, octets, ec.chain[0].publicKey)).toBe(false);
  });

  it('falls back to methods 1 (RSA) and 9 (ECDSA P-256) without SIGNATURE_HASH_ALGORITHMS', () => {
    const octets = new Uint8Array([1, 2, 3]);
    const r = signAuth(rsa.key, octets, []);
    expect(r.method).toBe(AuthMethod.RSA_SIG);
    expect(verifySignatureAuth(r.method, r.data, octets, rsa.chain[0].publicKey)).toBe(true);
    const e = signAuth(ec.key, octets, []);
    expect(e.method).toBe(AuthMethod.ECDSA_SHA256_P256);
    expect(e.data.length).toBe(64);
    expect(verifySignatureAuth(e.method, e.data, octets, ec.chain[0].publicKey)).toBe(true);
  });

  it('chain verification: direct, via an intermediate; untrusted, expired, not yet valid are refused', () => {
    const now = Date.now();
    const cas = rsa.cas;
    expect(verifyPeerChain(certDer(rsa.chain[0]), [], cas, now).subject).toContain('vgw.vpcd.test');
    expect(verifyPeerChain(certDer(viaInter.chain[0]), [certDer(viaInter.chain[1])], cas, now).subject).toContain('leaf');
    const code = (f: () => unknown): number | undefined => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as { code?: number }).code;
      }
    };
    expect(code(() => verifyPeerChain(certDer(viaInter.chain[0]), [], cas, now))).toBe(IkeErrorCode.Certificate);
    const otherCa = [new X509Certificate(pki.read(other.cert))];
    expect(code(() => verifyPeerChain(certDer(rsa.chain[0]), [], otherCa, now))).toBe(IkeErrorCode.Certificate);
    const sl = new X509Certificate(pki.read(shortLived.cert));
    expect(verifyPeerChain(new Uint8Array(sl.raw), [], cas, now).subject).toContain('short');
    expect(code(() => verifyPeerChain(new Uint8Array(sl.raw), [], cas, now + 3 * 86_400_000))).toBe(IkeErrorCode.Certificate);
    expect(code(() => verifyPeerChain(new Uint8Array(sl.raw), [], cas, now - 3 * 86_400_000))).toBe(IkeErrorCode.Certificate);
    expect(code(() => verifyPeerChain(new Uint8Array([0x30, 0x03, 1, 2, 3]), [], cas, now))).toBe(IkeErrorCode.Certificate);
    // an end-entity certificate cannot act as an intermediate
    const leafUnderLeaf = pki.issue('sub.vpcd.test', { cert: `${pki.dir}/vgw.vpcd.test.crt`, key: `${pki.dir}/vgw.vpcd.test.key` }, { san: 'DNS:sub.vpcd.test' });
    const sub = new X509Certificate(pki.read(leafUnderLeaf.cert));
    expect(code(() => verifyPeerChain(new Uint8Array(sub.raw), [certDer(rsa.chain[0])], cas, now))).toBe(IkeErrorCode.Certificate);
  });
});
