/**
 * IKE codecs: RFC 7296 §3 encodings written out by hand, a real strongSwan
 * IKE_SA_INIT response (from vectors/strongswan-keymat.json: the first bytes of
 * the responder's signed octets are RealMessage2), round trips at non-zero
 * offsets, and hostile input (every truncation, every single-bit flip, bad
 * lengths) which must end in an IkeError and nothing else.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../src/ike/bytes.js';
import { ExchangeType, NotifyType, PayloadType, ProtocolId, TransformType } from '../../../src/ike/constants.js';
import { IkeError, IkeErrorCode } from '../../../src/ike/errors.js';
import { ikeHeader } from '../../../src/ike/header.js';
import { encodePlainMessage, encodeFragmentedMessage, parseMessage, decryptSkf, Reassembly, decryptSk, encodeEncryptedMessage } from '../../../src/ike/message.js';
import {
  decodeChain, encodeChainBytes, findNotify, findPayload, saBody, tsBody, deleteBody, notifyBody, type Payload,
} from '../../../src/ike/payloads.js';
import { parseProposal, toWireProposal } from '../../../src/ike/proposals.js';
import { cidrToSelector } from '../../../src/ike/traffic-selectors.js';
import { encrAlg, PRFS, type IkeSuite } from '../../../src/ike/crypto.js';

const v = JSON.parse(readFileSync(new URL('./vectors/strongswan-keymat.json', import.meta.url), 'utf8')) as Record<string, string>;
/** strongSwan's IKE_SA_INIT response: responder octets minus Ni (32) and prf(SK_pr, IDr') (32). */
const ssInitResponse = fromHex(v.responderOctets).subarray(0, fromHex(v.responderOctets).length - 64);
/** Our IKE_SA_INIT request as strongSwan saw it. */
const ourInitRequest = fromHex(v.initiatorOctets).subarray(0, fromHex(v.initiatorOctets).length - 64);

function expectIkeError(f: () => unknown, code?: number): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IkeError);
    if (code !== undefined) expect((e as IkeError).code).toBe(code);
    return;
  }
  throw new Error('expected an IkeError');
}

describe('IKE header (RFC 7296 §3.1)', () => {
  it('encodes and decodes 28 bytes at a non-zero offset', () => {
    const hdr = {
      spiI: fromHex('0102030405060708'), spiR: new Uint8Array(8), nextPayload: 33, majorVersion: 2, minorVersion: 0,
      exchange: 34, flags: 0x08, messageId: 0, length: 28,
    };
    const buf = new Uint8Array(40).fill(0xaa);
    expect(ikeHeader.encode(hdr, buf, 5)).toBe(28);
    expect(toHex(buf.subarray(5, 33))).toBe('0102030405060708' + '0000000000000000' + '21' + '20' + '22' + '08' + '00000000' + '0000001c');
    expect(buf[4]).toBe(0xaa);
    expect(buf[33]).toBe(0xaa);
    const d = ikeHeader.decode(buf, 5, 33);
    expect(d).toMatchObject({ nextPayload: 33, majorVersion: 2, exchange: 34, flags: 8, messageId: 0, length: 28 });
  });
  it('refuses truncation, version 1, and lengths that disagree with the datagram', () => {
    const m = encodePlainMessage({ spiI: fromHex('0102030405060708'), spiR: new Uint8Array(8), exchange: 37, flags: 0, messageId: 1, payloads: [] });
    expectIkeError(() => ikeHeader.decode(m, 0, 27), IkeErrorCode.Truncated);
    const v1 = m.slice();
    v1[17] = 0x10;
    expectIkeError(() => ikeHeader.decode(v1, 0, v1.length), IkeErrorCode.BadVersion);
    const short = m.slice();
    short[27] = 20;
    expectIkeError(() => ikeHeader.decode(short, 0, short.length), IkeErrorCode.BadLength);
    const long = new Uint8Array(40);
    long.set(m);
    expectIkeError(() => ikeHeader.decode(long, 0, long.length), IkeErrorCode.BadLength);
    const huge = m.slice();
    huge[24] = 0x7f;
    expectIkeError(() => ikeHeader.decode(huge, 0, huge.length), IkeErrorCode.Truncated);
  });
});

describe('payload encodings (RFC 7296 §3.3-§3.13)', () => {
  it('SA: aes256gcm16-prfsha256-ecp256 is one proposal of three transforms, Key Length as a TV attribute', () => {
    const p = toWireProposal(parseProposal('aes256gcm16-prfsha256-ecp256', 'ike'), 1, new Uint8Array(0));
    const bytes = new Uint8Array(saBody.encodingLength({ proposals: [p] }));
    saBody.encode({ proposals: [p] }, bytes, 0);
    expect(toHex(bytes)).toBe(
      '00000024' + '01010003' + // last, len 36 | #1, IKE, SPI size 0, 3 transforms
      '0300000c' + '01000014' + '800e0100' + // ENCR AES_GCM_16, Key Length 256
      '03000008' + '02000005' + // PRF_HMAC_SHA2_256
      '00000008' + '04000013'); // DH 19
    expect(saBody.decode(bytes, 0, bytes.length).proposals[0]).toEqual(p);
  });
  it('SA: an ESP proposal with a 4-byte SPI and ESN; two proposals chain with last-substructure 2', () => {
    const a = toWireProposal(parseProposal('aes256gcm16', 'esp'), 1, fromHex('c0ffee01'), false);
    const b = toWireProposal(parseProposal('aes256-sha256-modp2048', 'esp'), 2, fromHex('c0ffee01'), false);
    const bytes = new Uint8Array(saBody.encodingLength({ proposals: [a, b] }));
    saBody.encode({ proposals: [a, b] }, bytes, 0);
    expect(toHex(bytes.subarray(0, 12))).toBe('02000020' + '01030402' + 'c0ffee01');
    expect(toHex(bytes.subarray(12, 32))).toBe('0300000c' + '0100001480' + '0e0100' + '00000008' + '05000000');
    const back = saBody.decode(bytes, 0, bytes.length).proposals;
    expect(back).toEqual([a, b]);
    expect(back[1].transforms.map((t) => t.type)).toEqual([TransformType.ENCR, TransformType.INTEG, TransformType.ESN]);
  });
  it('TS: TS_IPV4_ADDR_RANGE, 16 bytes each', () => {
    const sel = [cidrToSelector('198.19.0.0/16'), { ...cidrToSelector('10.0.0.1'), ipProtocol: 6, startPort: 443, endPort: 443 }];
    const bytes = new Uint8Array(tsBody.encodingLength({ selectors: sel }));
    tsBody.encode({ selectors: sel }, bytes, 0);
    expect(toHex(bytes)).toBe('02000000' + '07000010' + '0000ffff' + 'c6130000' + 'c613ffff' + '07060010' + '01bb01bb' + '0a000001' + '0a000001');
    expect(tsBody.decode(bytes, 0, bytes.length).selectors).toEqual(sel);
    const bad = bytes.slice();
    bad[7] = 15;
    expectIkeError(() => tsBody.decode(bad, 0, bad.length), IkeErrorCode.BadLength);
    expectIkeError(() => tsBody.decode(bytes, 0, bytes.length - 1));
  });
  it('Notify, Delete and a whole chain round trip; generic headers carry next-payload and length', () => {
    const ps: Payload[] = [
      { type: PayloadType.NOTIFY, protocolId: ProtocolId.ESP, spi: fromHex('11223344'), notifyType: NotifyType.REKEY_SA, data: new Uint8Array(0) },
      { type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [fromHex('aabbccdd'), fromHex('01020304')] },
      { type: PayloadType.NONCE, data: new Uint8Array(16).fill(7) },
    ];
    const bytes = encodeChainBytes(ps);
    expect(toHex(bytes.subarray(0, 12))).toBe('2a00000c' + '03044009' + '11223344');
    expect(toHex(bytes.subarray(12, 28))).toBe('28000010' + '03040002' + 'aabbccdd' + '01020304');
    expect(decodeChain(bytes, 0, bytes.length, PayloadType.NOTIFY).payloads).toEqual(ps);
    expectIkeError(() => deleteBody.decode(fromHex('03040003aabbccdd'), 0, 8), IkeErrorCode.BadLength);
    expectIkeError(() => notifyBody.decode(fromHex('0308400900'), 0, 5), IkeErrorCode.Truncated);
  });
  it('an unknown payload is kept; with the critical bit it is refused (UNSUPPORTED_CRITICAL_PAYLOAD)', () => {
    const bytes = fromHex('00000006abcd');
    const d = decodeChain(bytes, 0, bytes.length, 150).payloads;
    expect(d).toEqual([{ type: -1, rawType: 150, critical: false, data: fromHex('abcd') }]);
    const crit = fromHex('00800006abcd');
    try {
      decodeChain(crit, 0, crit.length, 150);
      throw new Error('not refused');
    } catch (e) {
      expect((e as IkeError).code).toBe(IkeErrorCode.UnsupportedCritical);
      expect((e as IkeError).notify).toBe(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
      expect(Array.from((e as IkeError).notifyData)).toEqual([150]);
    }
  });
});

describe('real strongSwan 5.9.8 messages', () => {
  it('parses its IKE_SA_INIT response and re-encodes it byte for byte', () => {
    const m = parseMessage(ssInitResponse);
    expect(m.header.exchange).toBe(ExchangeType.IKE_SA_INIT);
    expect(m.header.flags).toBe(0x20);
    expect(toHex(m.header.spiI)).toBe(v.spiI);
    expect(toHex(m.header.spiR)).toBe(v.spiR);
    const sa = findPayload(m.payloads, PayloadType.SA);
    expect(sa?.proposals[0].transforms).toEqual([
      { type: 1, id: 12, keyLength: 256 }, { type: 3, id: 12 }, { type: 2, id: 5 }, { type: 4, id: 14 },
    ]);
    expect(findPayload(m.payloads, PayloadType.KE)?.data.length).toBe(256);
    expect(toHex(findPayload(m.payloads, PayloadType.NONCE)?.data ?? new Uint8Array())).toBe(v.niNr.slice(64));
    expect(findNotify(m.payloads, NotifyType.NAT_DETECTION_SOURCE_IP)?.data.length).toBe(20);
    expect(findNotify(m.payloads, NotifyType.FRAGMENTATION_SUPPORTED)).toBeDefined();
    expect(findNotify(m.payloads, NotifyType.CHILDLESS_IKEV2_SUPPORTED)).toBeDefined();
    const again = encodePlainMessage({ spiI: m.header.spiI, spiR: m.header.spiR, exchange: 34, flags: 0x20, messageId: 0, payloads: m.payloads });
    expect(toHex(again)).toBe(toHex(ssInitResponse));
    const req = parseMessage(ourInitRequest);
    expect(toHex(findPayload(req.payloads, PayloadType.NONCE)?.data ?? new Uint8Array())).toBe(v.niNr.slice(0, 64));
  });

  it('every truncation and every single-bit flip of it ends in a decoded message or an IkeError', () => {
    for (let n = 0; n < ssInitResponse.length; n++) expectIkeError(() => parseMessage(ssInitResponse.subarray(0, n)));
    let errors = 0;
    for (let i = 0; i < ssInitResponse.length * 8; i++) {
      const m = ssInitResponse.slice();
      m[i >> 3] ^= 1 << (i & 7);
      try {
        parseMessage(m);
      } catch (e) {
        expect(e).toBeInstanceOf(IkeError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(100);
  });

  it('random garbage never escapes as anything but IkeError (seeded)', () => {
    let s = 0x7296;
    const rnd = (): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s >>> 16;
    };
    for (let k = 0; k < 5000; k++) {
      const len = rnd() % 200;
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = rnd() & 0xff;
      if (len > 28) {
        b[17] = 0x20;
        b[24] = 0; b[25] = 0; b[26] = len >> 8; b[27] = len & 0xff;
        b[16] = [33, 34, 40, 41, 44, 46, 53][rnd() % 7];
      }
      try {
        parseMessage(b);
      } catch (e) {
        expect(e).toBeInstanceOf(IkeError);
      }
    }
  });
});

describe('SK and SKF (RFC 7296 §3.14, RFC 7383)', () => {
  const suite: IkeSuite = { encr: encrAlg(20, 256) as NonNullable<ReturnType<typeof encrAlg>>, integ: undefined, prf: PRFS[5], dhGroup: 19 };
  const keys = { encKey: new Uint8Array(32).fill(1), salt: fromHex('01020304'), integKey: new Uint8Array(0) };
  let ctr = 0;
  const random = (n: number): Uint8Array => new Uint8Array(n).fill(++ctr & 0xff);
  const spec = {
    spiI: fromHex('1111111111111111'), spiR: fromHex('2222222222222222'), exchange: 35, flags: 0x08, messageId: 1,
    payloads: [
      { type: PayloadType.IDi, idType: 2, data: new Uint8Array(Buffer.from('cgw.vpcd.test')) },
      { type: PayloadType.CERT, encoding: 4, data: new Uint8Array(1500).map((_, i) => i & 0xff) },
      { type: PayloadType.AUTH, method: 14, data: new Uint8Array(300).fill(9) },
    ] as Payload[],
  };
  it('encrypts and decrypts one SK message; a flipped ICV bit is BadIcv', () => {
    const m = encodeEncryptedMessage(spec, suite, keys, random);
    const parsed = parseMessage(m);
    expect(decryptSk(parsed, suite, keys)).toEqual(spec.payloads);
    const bad = m.slice();
    bad[bad.length - 3] ^= 4;
    expectIkeError(() => decryptSk(parseMessage(bad), suite, keys), IkeErrorCode.BadIcv);
  });
  it('fragments into <= maxLen datagrams and reassembles in any order, ignoring duplicates', () => {
    const frags = encodeFragmentedMessage(spec, suite, keys, random, 600);
    expect(frags.length).toBe(4);
    for (const f of frags) expect(f.length).toBeLessThanOrEqual(600);
    const r = new Reassembly(1, 0);
    const order = [2, 0, 0, 3, 1];
    let out;
    for (const i of order) out = r.add(decryptSkf(parseMessage(frags[i]), suite, keys)) ?? out;
    expect(out).toBeDefined();
    expect(decodeChain(out!.plain, 0, out!.plain.length, out!.first).payloads).toEqual(spec.payloads);
  });
  it('refuses absurd fragment numbers and oversize reassembly', () => {
    const frags = encodeFragmentedMessage(spec, suite, keys, random, 600);
    const bad = frags[0].slice();
    bad[28 + 6] = 0x01; // total fragments 256+
    expectIkeError(() => decryptSkf(parseMessage(bad), suite, keys));
    const r = new Reassembly(1, 0);
    const big = { num: 1, total: 2, innerFirst: 35, plaintext: new Uint8Array(70_000) };
    expectIkeError(() => r.add(big), IkeErrorCode.Fragment);
  });
});
