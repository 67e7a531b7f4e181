/**
 * Published vectors through the ESP cipher paths (node:crypto and, when the
 * addon is built, the native engine):
 *
 * - AES-GCM in ESP: "Test Cases for the use of Galois/Counter Mode (GCM) and
 *   Galois Message Authentication Code (GMAC) in IPsec ESP",
 *   draft-mcgrew-gcm-test-01 (D. McGrew, March 2009) §4, the vectors whose
 *   AAD is SPI | 32-bit sequence number (no ESN), for 128-, 192- and 256-bit
 *   keys. Nonce = salt | explicit IV, as RFC 4106 §4 builds it. Their
 *   plaintexts end with a trailer whose Next Header is 1, so a full
 *   espDecrypt verifies the ICV, decrypts, and then refuses with
 *   BadNextHeader (the window still records the authentic packet).
 * - AES-CBC: NIST SP 800-38A §F.2.5 (CBC-AES256.Encrypt).
 * - HMAC-SHA-256-128: RFC 4868 §2.7.2.1 test case AUTH256-1, checking the
 *   truncation rule of the reference implementation the interop tests use.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EspError, espDecrypt } from '../../../src/ipsec/esp.js';
import { nodeOpen, nodeSeal } from '../../../src/ipsec/esp-crypto.js';
import { loadEspNative, NativeResult } from '../../../src/ipsec/esp-native.js';
import { type EspBackend, type EspSa, SaTable } from '../../../src/ipsec/sa-table.js';
import type { EspAlgorithm } from '../../../src/ipsec/sa-types.js';
import { makeChildSa } from './helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface GcmVector {
  name: string;
  key: string;
  nonce: string; // salt (4) | IV (8)
  aad: string; // SPI | seq
  pt: string;
  ct: string;
  tag: string;
}

// draft-mcgrew-gcm-test-01 §4, the cases with an 8-byte AAD.
const GCM_ESP: GcmVector[] = [
  {
    name: 'test case 2 (AES-128, SPI 0000a5f8, seq 10)',
    key: 'feffe9928665731c6d6a8f9467308308',
    nonce: 'cafebabefacedbaddecaf888',
    aad: '0000a5f80000000a',
    pt: '4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d001000001000000000000037369700963796265726369747902646b00000100010001',
    ct: 'deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1',
    tag: '83b70d3aa8bc6ee4c309e9d85a41ad4a',
  },
  {
    name: 'test case 3 (AES-256, SPI 4a2cbfe3, seq 2)',
    key: 'abbccddef00112233445566778899aababbccddef00112233445566778899aab',
    nonce: '112233440102030405060708',
    aad: '4a2cbfe300000002',
    pt: '4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b40101040201020201',
    ct: 'ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763748a637985771d347f0545659f14e99def842d8e',
    tag: 'b335f4eecfdbf831824b4c4915956c96',
  },
  {
    name: 'test case 4 (AES-128 zero key, SPI 0, seq 1)',
    key: '00000000000000000000000000000000',
    nonce: '000000000000000000000000',
    aad: '0000000000000001',
    pt: '4500003c99c500008001cb7a40679318010101010800075c020044006162636465666768696a6b6c6d6e6f707172737475767761626364656667686901020201',
    ct: '4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3',
    tag: 'f821d496eeb096e98ad2b69e4799c71d',
  },
  {
    name: 'test case 7 (AES-192, SPI 0000a5f8, seq 10)',
    key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c',
    nonce: 'cafebabefacedbaddecaf888',
    aad: '0000a5f80000000a',
    pt: '45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e501016d075680001',
    ct: 'a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0315b27452144cc77',
    tag: '95457b9652037f5318027b5b4cd7a636',
  },
  {
    name: 'test case 12 (AES-128, SPI 335467ae, seq ffffffff, 4-byte payload)',
    key: '7d773d00c144c525ac619d18c84a3f47',
    nonce: 'd966426743457e9182443bc6',
    aad: '335467aeffffffff',
    pt: '01020201',
    ct: '437f866b',
    tag: 'cb3f699fe9b0822bac961c4504bef270',
  },
];

function gcmAlg(keyHex: string): EspAlgorithm {
  const bits = (keyHex.length / 2) * 8;
  return `aes${bits}gcm16` as EspAlgorithm;
}

const backends: EspBackend[] = loadEspNative() === null ? ['node'] : ['node', 'native'];

function seal(sa: EspSa, buf: Buffer, espOff: number, ptLen: number): void {
  if (sa.engine !== null) expect(sa.engine.seal1(buf, sa.slot, espOff, ptLen)).toBe(NativeResult.Ok);
  else nodeSeal(sa, buf, espOff, ptLen);
}

function open(sa: EspSa, buf: Buffer, espOff: number, espLen: number, out: Buffer, outOff: number): boolean {
  if (sa.engine !== null) return sa.engine.open1(buf, sa.slot, espOff, espLen, out, outOff) === NativeResult.Ok;
  return nodeOpen(sa, buf, espOff, espLen, out, outOff);
}

describe.each(backends)('AES-GCM ESP vectors, draft-mcgrew-gcm-test-01 (%s backend)', (backend) => {
  for (const v of GCM_ESP) {
    const alg = gcmAlg(v.key);
    const key = hex(v.key);
    const nonce = hex(v.nonce);
    const pt = hex(v.pt);
    const expected = Buffer.concat([hex(v.aad), nonce.subarray(4), hex(v.ct), hex(v.tag)]);

    it(`${v.name}: seal at a non-zero offset`, () => {
      const table = new SaTable({ backend });
      const sa = table.install(makeChildSa(alg, { encKeyOut: key, saltOut: nonce.subarray(0, 4) }));
      const off = 13;
      const buf = Buffer.alloc(off + expected.length + 7, 0xee);
      hex(v.aad).copy(buf, off);
      nonce.copy(buf, off + 8, 4);
      pt.copy(buf, off + 16);
      seal(sa, buf, off, pt.length);
      expect(buf.subarray(off, off + expected.length).toString('hex')).toBe(expected.toString('hex'));
      expect(buf[off - 1]).toBe(0xee);
      expect(buf[off + expected.length]).toBe(0xee);
    });

    it(`${v.name}: open, and refuse any flipped bit`, () => {
      const table = new SaTable({ backend });
      const sa = table.install(makeChildSa(alg, { encKeyIn: key, saltIn: nonce.subarray(0, 4) }));
      const buf = Buffer.concat([Buffer.alloc(5), expected]);
      const out = Buffer.alloc(pt.length + 9);
      expect(open(sa, buf, 5, expected.length, out, 9)).toBe(true);
      expect(out.subarray(9).toString('hex')).toBe(v.pt);
      for (const at of [0, 4, 8, 16, expected.length - 1]) {
        const bad = Buffer.from(buf);
        bad[5 + at] ^= 0x01;
        expect(open(sa, bad, 5, expected.length, out, 9)).toBe(false);
      }
    });

    if (hex(v.aad).readUInt32BE(0) !== 0) {
      it(`${v.name}: full espDecrypt verifies the ICV, then refuses Next Header 1`, () => {
        const table = new SaTable({ backend });
        const spi = hex(v.aad).readUInt32BE(0);
        const sa = table.install(makeChildSa(alg, { spiIn: spi, encKeyIn: key, saltIn: nonce.subarray(0, 4) }));
        const out = Buffer.alloc(pt.length + 3);
        expect(espDecrypt(table, expected, 0, expected.length, out, 3)).toBe(EspError.BadNextHeader);
        expect(out.subarray(3).toString('hex')).toBe(v.pt);
        const seq = hex(v.aad).readUInt32BE(4);
        expect(sa.replay.top).toBe(seq); // authentic: the window moved
        expect(espDecrypt(table, expected, 0, expected.length, out, 3)).toBe(EspError.Replay);
      });
    }
  }
});

describe.each(backends)('AES-CBC + HMAC vectors (%s backend)', (backend) => {
  it('NIST SP 800-38A F.2.5 CBC-AES256 through the ESP seal path, ICV = HMAC-SHA-256-128', () => {
    const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
    const iv = hex('000102030405060708090a0b0c0d0e0f');
    const pt = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
      30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);
    const ct = hex(`f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
      39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b`);
    const integ = Buffer.alloc(32, 0x0b);
    const table = new SaTable({ backend });
    const sa = table.install(makeChildSa('aes256-sha256', { encKeyOut: key, integKeyOut: integ, encKeyIn: key, integKeyIn: integ }));
    const off = 21;
    const buf = Buffer.alloc(off + 8 + 16 + 64 + 16 + 3);
    buf.writeUInt32BE(0x01020304, off);
    buf.writeUInt32BE(1, off + 4);
    iv.copy(buf, off + 8);
    pt.copy(buf, off + 24);
    seal(sa, buf, off, 64);
    expect(buf.subarray(off + 24, off + 88).toString('hex')).toBe(ct.toString('hex'));
    const icv = createHmac('sha256', integ).update(buf.subarray(off, off + 88)).digest().subarray(0, 16);
    expect(buf.subarray(off + 88, off + 104).toString('hex')).toBe(icv.toString('hex'));
    const out = Buffer.alloc(64);
    expect(open(sa, buf, off, 104, out, 0)).toBe(true);
    expect(out.toString('hex')).toBe(pt.toString('hex'));
  });
});

describe('HMAC-SHA-256-128 truncation', () => {
  it('RFC 4868 §2.7.2.1 AUTH256-1: first 128 bits of HMAC-SHA-256', () => {
    const mac = createHmac('sha256', Buffer.alloc(32, 0x0b)).update('Hi There').digest();
    expect(mac.toString('hex')).toBe('198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7');
    expect(mac.subarray(0, 16).toString('hex')).toBe('198a607eb44bfbc69903a0f1cf2bbdc5');
  });
});
