/**
 * Hostile and broken input against established sessions: nothing may escape
 * onDatagram/onTimer, every refusal is a typed, counted error, and the tunnel
 * survives (a rekey still works afterwards).
 */
import { describe, expect, it } from 'vitest';
import { ExchangeType, HeaderFlag, NotifyType } from '../../../src/ike/constants.js';
import type { DirectionKeys, IkeSuite } from '../../../src/ike/crypto.js';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { decryptSk, encodeEncryptedMessage, parseMessage } from '../../../src/ike/message.js';
import { findNotify, type Payload } from '../../../src/ike/payloads.js';
import { IkeInitiator, IkeResponder, type IkeSession } from '../../../src/ike/session.js';
import { errorTotal, onlyChild, Pair, pskConfigs, seededRandom } from './harness.js';

function established(): Pair {
  const [a, b] = pskConfigs();
  const p = new Pair(new IkeInitiator(a), new IkeResponder(b));
  p.start();
  p.take('a', p.a.rekeyChild(p.now));
  p.flush();
  p.advance(10_500); // a DPD exchange too
  onlyChild(p);
  return p;
}

/** White-box view of a session's current IKE SA (tests only). */
interface SaInternals {
  spiI: Uint8Array; spiR: Uint8Array; suite: IkeSuite; outKeys: DirectionKeys; inKeys: DirectionKeys; nextMsgId: number; initiator: boolean;
}
function currentSa(s: IkeSession): SaInternals {
  return (s as unknown as { current: SaInternals }).current;
}

describe('hostile input', () => {
  it('seeded mutations of every datagram seen on the wire never throw and never take the tunnel down', () => {
    const p = established();
    const rnd = seededRandom(0xbad);
    const r = (n: number): number => (rnd(4).reduce((x, y) => x * 256 + y, 0) >>> 0) % n;
    const corpus = [...p.sent];
    let n = 0;
    for (let round = 0; round < 40; round++) {
      for (const w of corpus) {
        const to = w.from === 'a' ? p.b : p.a;
        const variants: Uint8Array[] = [];
        variants.push(w.bytes.subarray(0, r(w.bytes.length)));
        const flip = w.bytes.slice();
        flip[r(flip.length)] ^= 1 << r(8);
        variants.push(flip);
        const g = rnd(r(300));
        if (w.dst.port === 4500 && g.length >= 4) g.fill(0, 0, 4);
        variants.push(g);
        const len = w.bytes.slice();
        const off = (w.dst.port === 4500 ? 4 : 0) + 24 + r(4);
        if (off < len.length) len[off] = r(256);
        variants.push(len);
        for (const v of variants) {
          n++;
          expect(() => to.onDatagram(v, w.src, p.now, w.dst.port)).not.toThrow();
        }
      }
    }
    expect(n).toBeGreaterThan(1000);
    expect(errorTotal(p.a) + errorTotal(p.b)).toBeGreaterThan(500);
    expect(p.a.errors[IkeErrorCode.Internal]).toBe(0);
    expect(p.b.errors[IkeErrorCode.Internal]).toBe(0);
    expect(p.a.tunnelState).toBe('up');
    expect(p.b.tunnelState).toBe('up');
    // still fully functional
    p.take('b', p.b.rekeyChild(p.now));
    p.flush();
    p.take('a', p.a.rekeyIke(p.now));
    p.flush();
    onlyChild(p);
  });

  it('tampered ICV, ESP on the NAT-T port, NAT keepalives, strangers, unknown SPIs, IKEv1, old message IDs', () => {
    const p = established();
    // a's most recent request (after the non-ESP marker, flags at header byte 19: R bit clear)
    const lastFromA = [...p.sent].reverse().find((w) => w.from === 'a' && w.dst.port === 4500 && (w.bytes[4 + 19] & 0x20) === 0)!;
    const before = [...p.b.errors];
    const delta = (code: number): number => p.b.errors[code] - before[code];
    const tampered = lastFromA.bytes.slice();
    tampered[tampered.length - 1] ^= 0x40;
    p.b.onDatagram(tampered, lastFromA.src, p.now, 4500);
    // it was the last request: a retransmission after verification, so a tampered copy is BadIcv
    expect(delta(IkeErrorCode.BadIcv)).toBe(1);
    p.b.onDatagram(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 9, 9]), lastFromA.src, p.now, 4500);
    expect(delta(IkeErrorCode.Unexpected)).toBe(1);
    p.b.onDatagram(new Uint8Array([0xff]), lastFromA.src, p.now, 4500);
    expect(errorTotal(p.b) - before.reduce((x, y) => x + y, 0)).toBe(2);
    p.b.onDatagram(lastFromA.bytes, { addr: '203.0.113.9', port: 4500 }, p.now, 4500);
    expect(delta(IkeErrorCode.Unexpected)).toBe(2);
    const unknown = lastFromA.bytes.slice();
    unknown[4] ^= 0xff; // SPIi
    p.b.onDatagram(unknown, lastFromA.src, p.now, 4500);
    expect(delta(IkeErrorCode.UnknownSpi)).toBe(1);
    const v1 = lastFromA.bytes.slice();
    v1[4 + 17] = 0x10;
    p.b.onDatagram(v1, lastFromA.src, p.now, 4500);
    expect(delta(IkeErrorCode.BadVersion)).toBe(1);
    const first4500 = p.sent.find((w) => w.from === 'a' && w.dst.port === 4500)!; // the IKE_AUTH request (message 1)
    p.b.onDatagram(first4500.bytes, first4500.src, p.now, 4500);
    expect(delta(IkeErrorCode.BadMessageId)).toBe(1);
    expect(p.b.tunnelState).toBe('up');
    expect(p.b.stats.childSasInstalled).toBe(2);
  });

  it('a retransmitted request gets the cached response, without being processed twice', () => {
    const [a, b] = pskConfigs();
    const p = new Pair(new IkeInitiator(a), new IkeResponder(b));
    p.start();
    p.take('a', p.a.rekeyChild(p.now));
    p.flush();
    // the last request a sent (the DELETE of the old CHILD_SA): window size 1, so only it is replayable
    const req = [...p.sent].reverse().find((w) => w.from === 'a' && (w.bytes[4 + 19] & 0x20) === 0)!;
    const installs = p.b.stats.childSasInstalled;
    const out = p.b.onDatagram(req.bytes, req.src, p.now, req.dst.port);
    expect(out.filter((x) => x.kind === 'send')).toHaveLength(1);
    expect(p.b.stats.childSasInstalled).toBe(installs);
    expect(p.b.stats.retransmits).toBe(1);
  });

  it('an authentic request with an unknown critical payload is answered UNSUPPORTED_CRITICAL_PAYLOAD', () => {
    const p = established();
    const sa = currentSa(p.a);
    const msgId = sa.nextMsgId++;
    const payloads: Payload[] = [{ type: -1, rawType: 200, critical: true, data: new Uint8Array([1, 2, 3]) }];
    const m = encodeEncryptedMessage({
      spiI: sa.spiI, spiR: sa.spiR, exchange: ExchangeType.INFORMATIONAL, flags: sa.initiator ? HeaderFlag.INITIATOR : 0, messageId: msgId, payloads,
    }, sa.suite, sa.outKeys, seededRandom(5));
    const wire = new Uint8Array(4 + m.length);
    wire.set(m, 4);
    const out = p.b.onDatagram(wire, { addr: '198.51.100.2', port: 4500 }, p.now, 4500);
    const send = out.find((x) => x.kind === 'send');
    expect(send).toBeDefined();
    const resp = parseMessage((send as { bytes: Uint8Array }).bytes.subarray(4));
    expect(resp.header.messageId).toBe(msgId);
    const inner = decryptSk(resp, sa.suite, sa.inKeys);
    expect(findNotify(inner, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD)?.data).toEqual(new Uint8Array([200]));
    expect(p.b.errors[IkeErrorCode.UnsupportedCritical]).toBe(1);
    // an authentic but malformed request (a Delete that lies about its SPI count) gets INVALID_SYNTAX
    const msgId2 = sa.nextMsgId++;
    const bad = encodeEncryptedMessage({
      spiI: sa.spiI, spiR: sa.spiR, exchange: ExchangeType.INFORMATIONAL, flags: sa.initiator ? HeaderFlag.INITIATOR : 0, messageId: msgId2,
      payloads: [{ type: -1, rawType: 42, critical: false, data: new Uint8Array([3, 4, 0, 9, 1, 2, 3, 4]) }],
    }, sa.suite, sa.outKeys, seededRandom(6));
    const wire2 = new Uint8Array(4 + bad.length);
    wire2.set(bad, 4);
    const out2 = p.b.onDatagram(wire2, { addr: '198.51.100.2', port: 4500 }, p.now, 4500);
    const resp2 = parseMessage((out2.find((x) => x.kind === 'send') as { bytes: Uint8Array }).bytes.subarray(4));
    expect(findNotify(decryptSk(resp2, sa.suite, sa.inKeys), NotifyType.INVALID_SYNTAX)).toBeDefined();
    expect(p.b.tunnelState).toBe('up');
  });

  it('IKE_SA_INIT from a stranger or with garbage payloads creates no state', () => {
    const [a, b] = pskConfigs();
    const p = new Pair(new IkeInitiator(a), new IkeResponder(b));
    p.take('b', p.b.start(p.now));
    p.take('a', p.a.start(p.now));
    const init = p.inflight.shift()!;
    p.b.onDatagram(init.bytes, { addr: '203.0.113.7', port: 500 }, p.now, 500);
    expect(p.b.ikeSaCount).toBe(0);
    expect(p.b.errors[IkeErrorCode.Unexpected]).toBe(1);
    const cut = init.bytes.slice(0, 200);
    cut[27] = 200;
    p.b.onDatagram(cut, init.src, p.now, 500);
    expect(p.b.ikeSaCount).toBe(0);
  });

  it('onTimer at odd times (past, repeated, far future) never throws', () => {
    const p = established();
    for (const t of [0, -5, p.now, p.now, p.now + 1, p.now + 1e12, Number.MAX_SAFE_INTEGER]) {
      expect(() => p.a.onTimer(t)).not.toThrow();
      expect(() => p.b.onTimer(t)).not.toThrow();
    }
    expect(p.a.errors[IkeErrorCode.Internal]).toBe(0);
  });
});
