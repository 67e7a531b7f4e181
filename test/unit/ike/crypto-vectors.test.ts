/**
 * Known-answer tests for the IKE crypto, each with its source:
 * - AES-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
 *   test cases 4 (AES-128) and 16 (AES-256), whose 12-byte IV splits into the
 *   RFC 4106 salt (4) | explicit IV (8); Wycheproof aes_gcm_test.json tcId 1.
 * - HMAC-SHA2 PRFs: RFC 4231 test case 1 (= RFC 4868 §2.7.1 PRF-HMAC-SHA-256/384/512
 *   test case 1); truncated ICVs: RFC 4868 §2.7.2.
 * - ECP: RFC 5903 §8.1 (group 19); Curve25519: RFC 7748 §6.1 (group 31, RFC 8031).
 * - IKE key schedule: a strongSwan 5.9.8 debug dump (vectors/strongswan-keymat.json).
 * - prf+: an independent straight-line implementation of RFC 7296 §2.13 below.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pskAuth } from '../../../src/ike/auth.js';
import { fromHex, toHex } from '../../../src/ike/bytes.js';
import { Integ, Prf } from '../../../src/ike/constants.js';
import {
  deriveChildKeys, deriveIkeKeys, encrAlg, gcmOpen, gcmSeal, INTEGS, integIcv, openSkBody, prf, prfPlus, PRFS, sealSkBody,
  skBodyLength, skeyseedInitial, skeyseedRekey, type IkeSuite,
} from '../../../src/ike/crypto.js';
import { dhGenerate } from '../../../src/ike/dh.js';
import { DhGroup } from '../../../src/ike/constants.js';
import { IkeError, IkeErrorCode } from '../../../src/ike/errors.js';

const h = fromHex;

describe('AES-GCM-16 (the SK payload and ESP AEAD)', () => {
  const cases = [
    {
      name: 'GCM spec test case 4 (AES-128, 60-byte plaintext, 20-byte AAD)',
      key: 'feffe9928665731c6d6a8f9467308308',
      salt: 'cafebabe', iv: 'facedbaddecaf888',
      aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
      pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      ct: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
      tag: '5bc94fbc3221a5db94fae95ae7121a47',
    },
    {
      name: 'GCM spec test case 16 (AES-256, 60-byte plaintext, 20-byte AAD)',
      key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
      salt: 'cafebabe', iv: 'facedbaddecaf888',
      aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
      pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
      tag: '76fc6ece0f4e1768cddf8853bb2d551b',
    },
    {
      name: 'Wycheproof aes_gcm_test.json tcId 1 (AES-128, no AAD)',
      key: '5b9604fe14eadba931b0ccf34843dab9',
      salt: '028318ab', iv: 'c1824029138141a2',
      aad: '', pt: '001d0c231287c1182784554ca3a21908',
      ct: '26073cc1d851beff176384dc9896d5ff', tag: '0a3ea7a5487cb5f7d70fb6c58d038554',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const sealed = gcmSeal(h(c.key), h(c.salt), h(c.iv), h(c.aad), h(c.pt));
      expect(toHex(sealed)).toBe(c.ct + c.tag);
      expect(toHex(gcmOpen(h(c.key), h(c.salt), h(c.iv), h(c.aad), sealed) ?? new Uint8Array())).toBe(c.pt);
      const bad = sealed.slice();
      bad[bad.length - 1] ^= 1;
      expect(gcmOpen(h(c.key), h(c.salt), h(c.iv), h(c.aad), bad)).toBeUndefined();
      const badAad = h(c.aad + '00');
      expect(gcmOpen(h(c.key), h(c.salt), h(c.iv), badAad, sealed)).toBeUndefined();
    });
  }

  it('runs test case 16 through the SK payload code path at a non-zero byteOffset', () => {
    // message = AAD (what precedes the IV: IKE header + SK header) | IV | ciphertext | ICV.
    // The SK path appends a Pad Length byte (0 padding for GCM), so the plaintext is pt | 00;
    // the ciphertext of the first 60 bytes is therefore the vector's (CTR mode), the tag differs.
    const c = cases[1];
    const suite: IkeSuite = { encr: encrAlg(20, 256) as NonNullable<ReturnType<typeof encrAlg>>, integ: undefined, prf: PRFS[Prf.HMAC_SHA2_256], dhGroup: 19 };
    const aad = h(c.aad);
    const pt = h(c.pt);
    const arena = new Uint8Array(7 + aad.length + skBodyLength(suite, pt.length) + 5).fill(0xee);
    const msg = arena.subarray(7, 7 + aad.length + skBodyLength(suite, pt.length));
    msg.set(aad, 0);
    sealSkBody(suite, { encKey: h(c.key), salt: h(c.salt), integKey: new Uint8Array(0) }, msg, aad.length, pt, h(c.iv));
    expect(toHex(msg.subarray(aad.length, aad.length + 8))).toBe(c.iv);
    expect(toHex(msg.subarray(aad.length + 8, aad.length + 8 + 60))).toBe(c.ct);
    expect(msg[aad.length + 8 + 60]).toBe(0x00 ^ h(gcmKeystreamByte60(c))[0]); // pad length 0, encrypted
    const out = openSkBody(suite, { encKey: h(c.key), salt: h(c.salt), integKey: new Uint8Array(0) }, msg, aad.length, msg.length);
    expect(toHex(out)).toBe(c.pt);
    expect(arena[6]).toBe(0xee);
    expect(arena[arena.length - 1]).toBe(0xee);
    msg[10] ^= 0x80; // AAD (IKE header) tampered
    expect(() => openSkBody(suite, { encKey: h(c.key), salt: h(c.salt), integKey: new Uint8Array(0) }, msg, aad.length, msg.length))
      .toThrowError(IkeError);
  });
});

/** Keystream byte 61 of test case 16 = encryption of a 61-byte plaintext with a zero last byte. */
function gcmKeystreamByte60(c: { key: string; salt: string; iv: string }): string {
  const z = gcmSeal(h(c.key), h(c.salt), h(c.iv), new Uint8Array(0), new Uint8Array(61));
  return toHex(z.subarray(60, 61));
}

describe('HMAC-SHA2 (RFC 4231 / RFC 4868)', () => {
  const key = new Uint8Array(20).fill(0x0b);
  const data = new Uint8Array(Buffer.from('Hi There'));
  it('PRF_HMAC_SHA2_256/384/512 test case 1', () => {
    expect(toHex(prf(PRFS[Prf.HMAC_SHA2_256], key, data))).toBe('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
    expect(toHex(prf(PRFS[Prf.HMAC_SHA2_384], key, data))).toBe(
      'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6');
    expect(toHex(prf(PRFS[Prf.HMAC_SHA2_512], key, data))).toBe(
      '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854');
  });
  it('AUTH_HMAC_SHA2_256_128 (RFC 4868 §2.7.2.1, 32-byte key): truncated to 16 bytes', () => {
    const k32 = new Uint8Array(32).fill(0x0b);
    const icv = integIcv(INTEGS[Integ.HMAC_SHA2_256_128], k32, data);
    expect(toHex(icv)).toBe('198a607eb44bfbc69903a0f1cf2bbdc5');
    expect(INTEGS[Integ.HMAC_SHA2_384_192].icvLen).toBe(24);
    expect(INTEGS[Integ.HMAC_SHA2_512_256].icvLen).toBe(32);
  });
});

/** RFC 7296 §2.13 written out independently: T1 = prf(K, S|01), Tn = prf(K, Tn-1|S|n). */
function referencePrfPlus(hash: string, key: Uint8Array, seed: Uint8Array, len: number): string {
  let out = Buffer.alloc(0);
  let t = Buffer.alloc(0);
  for (let n = 1; out.length < len; n++) {
    t = createHmac(hash, key).update(Buffer.concat([t, seed, Buffer.of(n)])).digest();
    out = Buffer.concat([out, t]);
  }
  return out.subarray(0, len).toString('hex');
}

describe('prf+ (RFC 7296 §2.13)', () => {
  it('matches an independent computation for every PRF and odd lengths, keys at a byteOffset', () => {
    const arena = new Uint8Array(200);
    for (let i = 0; i < arena.length; i++) arena[i] = (i * 37 + 11) & 0xff;
    const key = arena.subarray(3, 3 + 48);
    const seed = arena.subarray(61, 61 + 99);
    for (const id of [Prf.HMAC_SHA1, Prf.HMAC_SHA2_256, Prf.HMAC_SHA2_384, Prf.HMAC_SHA2_512]) {
      const alg = PRFS[id];
      for (const len of [1, alg.len, alg.len + 1, 3 * alg.len - 5, 260]) {
        expect(toHex(prfPlus(alg, key, seed, len))).toBe(referencePrfPlus(alg.hash, key, seed, len));
      }
    }
  });
  it('refuses more than 255 blocks', () => {
    expect(() => prfPlus(PRFS[Prf.HMAC_SHA1], new Uint8Array(20), new Uint8Array(1), 255 * 20 + 1)).toThrow(RangeError);
  });
});

describe('IKE key schedule against a strongSwan 5.9.8 dump', () => {
  const v = JSON.parse(readFileSync(new URL('./vectors/strongswan-keymat.json', import.meta.url), 'utf8')) as Record<string, string>;
  const suite: IkeSuite = {
    encr: encrAlg(12, 256) as NonNullable<ReturnType<typeof encrAlg>>, integ: INTEGS[Integ.HMAC_SHA2_256_128], prf: PRFS[Prf.HMAC_SHA2_256], dhGroup: 14,
  };
  const ni = h(v.niNr).subarray(0, 32);
  const nr = h(v.niNr).subarray(32);

  it('SKEYSEED and SK_d/ai/ar/ei/er/pi/pr (§2.14)', () => {
    const skeyseed = skeyseedInitial(suite.prf, ni, nr, h(v.gir));
    expect(toHex(skeyseed)).toBe(v.skeyseed);
    const k = deriveIkeKeys(suite, skeyseed, ni, nr, h(v.spiI), h(v.spiR));
    expect(toHex(k.skD)).toBe(v.skD);
    expect(toHex(k.i.integKey)).toBe(v.skAi);
    expect(toHex(k.r.integKey)).toBe(v.skAr);
    expect(toHex(k.i.encKey)).toBe(v.skEi);
    expect(toHex(k.r.encKey)).toBe(v.skEr);
    expect(toHex(k.skPi)).toBe(v.skPi);
    expect(toHex(k.skPr)).toBe(v.skPr);
  });

  it('PSK AUTH over both signed octets (§2.15)', () => {
    const psk = new Uint8Array(Buffer.from(v.psk));
    expect(toHex(pskAuth(suite.prf, psk, h(v.initiatorOctets)))).toBe(v.initiatorAuth);
    expect(toHex(pskAuth(suite.prf, psk, h(v.responderOctets)))).toBe(v.responderAuth);
  });

  it('CHILD_SA KEYMAT without PFS (§2.17): encryption then integrity, initiator->responder first', () => {
    const c = deriveChildKeys(suite.prf, h(v.skD), ni, nr, undefined, suite.encr, suite.integ);
    expect(toHex(c.i2r.encKey)).toBe(v.childEncI);
    expect(toHex(c.r2i.encKey)).toBe(v.childEncR);
    expect(toHex(c.i2r.integKey)).toBe(v.childIntegI);
    expect(toHex(c.r2i.integKey)).toBe(v.childIntegR);
    expect(c.i2r.salt.length).toBe(0);
  });

  it('PFS KEYMAT and IKE rekey SKEYSEED follow their formulas', () => {
    const gir = h('00112233445566778899aabbccddeeff');
    const c = deriveChildKeys(suite.prf, h(v.skD), ni, nr, gir, suite.encr, suite.integ);
    const ref = referencePrfPlus('sha256', h(v.skD), Buffer.concat([gir, ni, nr]), 128);
    expect(toHex(c.i2r.encKey) + toHex(c.i2r.integKey) + toHex(c.r2i.encKey) + toHex(c.r2i.integKey)).toBe(ref);
    const ss = skeyseedRekey(suite.prf, h(v.skD), gir, ni, nr);
    expect(toHex(ss)).toBe(createHmac('sha256', h(v.skD)).update(Buffer.concat([gir, ni, nr])).digest('hex'));
  });

  it('GCM keymat carries a 4-byte salt after each key (RFC 5282 §7.1, RFC 4106 §8.1)', () => {
    const gcm = encrAlg(20, 256) as NonNullable<ReturnType<typeof encrAlg>>;
    const c = deriveChildKeys(suite.prf, h(v.skD), ni, nr, undefined, gcm, undefined);
    const ref = referencePrfPlus('sha256', h(v.skD), Buffer.concat([ni, nr]), 72);
    expect(toHex(c.i2r.encKey) + toHex(c.i2r.salt)).toBe(ref.slice(0, 72));
    expect(toHex(c.r2i.encKey) + toHex(c.r2i.salt)).toBe(ref.slice(72));
  });
});

describe('Diffie-Hellman', () => {
  it('ECP-256: RFC 5903 §8.1 (KE data = x | y without 0x04, secret = x)', () => {
    const i = dhGenerate(DhGroup.ECP_256, h('C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433'));
    expect(toHex(i.publicValue).toUpperCase()).toBe(
      'DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180' + '5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3');
    const gr = h('D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63' + '56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB');
    expect(toHex(i.computeShared(gr)).toUpperCase()).toBe('D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE');
    const r = dhGenerate(DhGroup.ECP_256, h('C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53'));
    expect(toHex(r.publicValue)).toBe(toHex(gr));
  });
  it('ECP-256 refuses a point off the curve and a wrong length', () => {
    const i = dhGenerate(DhGroup.ECP_256);
    const bad = i.publicValue.slice();
    bad[63] ^= 1;
    expect(() => i.computeShared(bad)).toThrowError(expect.objectContaining({ code: IkeErrorCode.DhInvalid }));
    expect(() => i.computeShared(i.publicValue.subarray(1))).toThrowError(expect.objectContaining({ code: IkeErrorCode.DhInvalid }));
  });
  it('Curve25519: RFC 7748 §6.1', () => {
    const a = dhGenerate(DhGroup.CURVE_25519, h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    expect(toHex(a.publicValue)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    const shared = a.computeShared(h('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
    expect(toHex(shared)).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    // RFC 8031 §2.3: an all-zero result (small-order point) is refused
    expect(() => a.computeShared(new Uint8Array(32))).toThrowError(expect.objectContaining({ code: IkeErrorCode.DhInvalid }));
  });
  it('MODP-2048 and ECP-384: both sides agree; values padded to the group size', () => {
    for (const [g, len, slen] of [[DhGroup.MODP_2048, 256, 256], [DhGroup.ECP_384, 96, 48]] as const) {
      const a = dhGenerate(g);
      const b = dhGenerate(g);
      expect(a.publicValue.length).toBe(len);
      const s1 = a.computeShared(b.publicValue);
      expect(s1.length).toBe(slen);
      expect(toHex(s1)).toBe(toHex(b.computeShared(a.publicValue)));
    }
    const m = dhGenerate(DhGroup.MODP_2048);
    const one = new Uint8Array(256);
    one[255] = 1;
    expect(() => m.computeShared(one)).toThrowError(expect.objectContaining({ code: IkeErrorCode.DhInvalid }));
  });
});
