import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCertCredentials, type CertCredentials } from '../../../src/ike/auth.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { IkeInitiator, IkeResponder } from '../../../src/ike/session.js';
import { onlyChild, Pair, pskConfigs } from './harness.js';
import { TestPki, type Issued } from './pki.js';
import { describeWith } from '../../helpers/needs.js';

describeWith(['openssl'], 'IKE with certificates (in process)', () => {
  let pki: TestPki;
  let ca: Issued;
  let other: Issued;
  const creds: Record<string, CertCredentials> = {};
  beforeAll(() => {
    pki = new TestPki();
    ca = pki.ca('root');
    other = pki.ca('other');
    const inter = pki.issue('inter', ca, { ca: true });
    const mk = (name: string, cert: Issued, chainExtra = '', trust = ca): CertCredentials =>
      loadCertCredentials(pki.read(cert.cert) + chainExtra, pki.read(cert.key), pki.read(trust.cert));
    creds.vgwRsa = mk('vgw', pki.issue('vgw.vpcd.test', ca, { san: 'DNS:vgw.vpcd.test,IP:198.51.100.1' }));
    creds.cgwRsa = mk('cgw', pki.issue('cgw.vpcd.test', ca, { san: 'DNS:cgw.vpcd.test,IP:198.51.100.2' }));
    creds.vgwEc = mk('vgw-ec', pki.issue('vgw-ec.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:vgw-ec.vpcd.test' }));
    creds.cgwEc = mk('cgw-ec', pki.issue('cgw-ec.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:cgw-ec.vpcd.test' }));
    creds.cgwInter = mk('cgw-i', pki.issue('cgw-i.vpcd.test', inter, { type: 'ecdsa', san: 'DNS:cgw-i.vpcd.test' }), pki.read(inter.cert));
    creds.cgwNoSan = mk('cgw-dn', pki.issue('cgw-dn.vpcd.test', ca, { type: 'ecdsa' }));
    creds.cgwOtherCa = mk('cgw-o', pki.issue('cgw-o.vpcd.test', other, { type: 'ecdsa', san: 'DNS:cgw-o.vpcd.test' }), '', ca);
    creds.cgwShort = mk('cgw-s', pki.issue('cgw-s.vpcd.test', ca, { type: 'ecdsa', san: 'DNS:cgw-s.vpcd.test', days: 1 }));
  }, 90_000);
  afterAll(() => pki?.dispose());

  function certPair(a: CertCredentials, b: CertCredentials, overA: Partial<IkeSessionConfig> = {}, overB: Partial<IkeSessionConfig> = {}): Pair {
    const [ca0, cb0] = pskConfigs();
    return new Pair(
      new IkeInitiator({ ...ca0, auth: { kind: 'cert', credentials: a }, ...overA }),
      new IkeResponder({ ...cb0, auth: { kind: 'cert', credentials: b }, ...overB }),
    );
  }

  for (const [name, a, b] of [['RSA', 'cgwRsa', 'vgwRsa'], ['ECDSA', 'cgwEc', 'vgwEc'], ['mixed', 'cgwEc', 'vgwRsa'], ['via intermediate', 'cgwInter', 'vgwEc']] as const) {
    it(`${name}: establishes with RFC 7427 signatures`, () => {
      const p = certPair(creds[a], creds[b]);
      p.start();
      onlyChild(p);
      expect(p.logs('a').join('\n')).toMatch(/established with 'vgw[-a-z]*\.vpcd\.test'/);
      expect(p.logs('b').join('\n')).toMatch(/established with 'cgw[-a-z]*\.vpcd\.test'/);
    });
  }

  it('an identity-less certificate authenticates as its subject DN', () => {
    const p = certPair(creds.cgwNoSan, creds.vgwEc);
    p.start();
    onlyChild(p);
    expect(p.logs('b').join('\n')).toMatch(/established with 'O=vpcd test, CN=cgw-dn\.vpcd\.test'/);
  });

  it('RFC 7383: IKE_AUTH fragmented both ways when it exceeds the fragment size', () => {
    const p = certPair(creds.cgwRsa, creds.vgwRsa, { fragmentSize: 576 }, { fragmentSize: 576 });
    p.start();
    onlyChild(p);
    const auth = p.sent.filter((w) => w.dst.port === 4500);
    const fromA = auth.filter((w) => w.from === 'a');
    const fromB = auth.filter((w) => w.from === 'b');
    expect(fromA.length).toBeGreaterThan(2);
    expect(fromB.length).toBeGreaterThan(2);
    for (const w of auth) {
      expect(w.bytes.length + 28).toBeLessThanOrEqual(576);
      expect(w.bytes[4 + 16]).toBe(53); // SKF after the non-ESP marker + IKE header's next payload
    }
  });

  it('without fragmentation support, one large datagram each way', () => {
    const p = certPair(creds.cgwRsa, creds.vgwRsa, { fragmentation: false });
    p.start();
    onlyChild(p);
    const auth = p.sent.filter((w) => w.dst.port === 4500);
    expect(auth.length).toBe(2);
    expect(auth[0].bytes.length).toBeGreaterThan(1280);
  });

  it('refuses a certificate from an untrusted CA (AUTHENTICATION_FAILED to the initiator)', () => {
    const p = certPair(creds.cgwOtherCa, creds.vgwEc);
    p.start();
    expect(p.b.errors[IkeErrorCode.Certificate]).toBe(1);
    expect(p.b.ikeSaCount).toBe(0);
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toMatch(/AUTHENTICATION_FAILED/);
  });

  it('refuses an expired certificate (wall clock 3 days on)', () => {
    const p = certPair(creds.cgwShort, creds.vgwEc, {}, { wallClock: () => Date.now() + 3 * 86_400_000 });
    p.start();
    expect(p.b.errors[IkeErrorCode.Certificate]).toBe(1);
    expect(p.logs('b').join('\n')).toMatch(/validity period/);
    expect(p.a.tunnelState).toBe('down');
  });

  it('refuses a peer whose ID is not in its certificate, and one that is not the configured remote ID', () => {
    const p = certPair(creds.cgwEc, creds.vgwEc, { localId: 'cgw-else.vpcd.test' });
    p.start();
    expect(p.b.errors[IkeErrorCode.Certificate]).toBe(1);
    expect(p.logs('b').join('\n')).toMatch(/not in the peer's certificate/);
    const q = certPair(creds.cgwEc, creds.vgwEc, { remoteId: 'vgw.vpcd.test' });
    q.start();
    expect(q.a.errors[IkeErrorCode.AuthFailed]).toBe(1);
    expect(q.a.tunnelState).toBe('down');
  });

  it('refuses PSK where certificates are expected', () => {
    const [ca0] = pskConfigs();
    const [, cb0] = pskConfigs();
    const p = new Pair(new IkeInitiator(ca0), new IkeResponder({ ...cb0, auth: { kind: 'cert', credentials: creds.vgwEc } }));
    p.start();
    expect(p.b.errors[IkeErrorCode.Certificate] + p.b.errors[IkeErrorCode.AuthFailed]).toBe(1);
    expect(p.a.tunnelState).toBe('down');
  });
});
