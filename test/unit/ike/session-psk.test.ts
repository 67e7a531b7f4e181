import { describe, expect, it } from 'vitest';
import { IkeErrorCode } from '../../../src/ike/errors.js';
import { IkeInitiator, IkeResponder } from '../../../src/ike/session.js';
import { encodePlainMessage, parseMessage } from '../../../src/ike/message.js';
import { notify } from '../../../src/ike/payloads.js';
import { NotifyType } from '../../../src/ike/constants.js';
import { errorTotal, onlyChild, Pair, pskConfigs } from './harness.js';

function pair(...args: Parameters<typeof pskConfigs>): Pair {
  const [a, b] = pskConfigs(...args);
  return new Pair(new IkeInitiator(a), new IkeResponder(b));
}

describe('IKE initiator <-> responder (PSK, in process)', () => {
  it('establishes IKE SA + CHILD_SA with mirrored keys, on UDP 4500 after NAT-D', () => {
    const p = pair();
    p.start();
    expect(p.a.tunnelState).toBe('up');
    expect(p.b.tunnelState).toBe('up');
    const [sa] = onlyChild(p);
    expect(sa.algorithm).toBe('aes256gcm16');
    expect(sa.encKeyIn.length).toBe(32);
    expect(sa.saltIn.length).toBe(4);
    expect(sa.integKeyIn.length).toBe(0);
    expect(sa.icvLen).toBe(16);
    expect(sa.encap).toBe(true);
    expect(sa.peer).toEqual({ addr: 0xc6336401, port: 4500 });
    expect(sa.localTs).toEqual([{ ipProtocol: 0, startAddr: 0xc6130000, endAddr: 0xc613ffff, startPort: 0, endPort: 65535 }]);
    expect(sa.replayWindow).toBe(1024);
    // IKE_SA_INIT on 500 without marker, IKE_AUTH on 4500 with the non-ESP marker
    expect(p.sent.map((w) => `${w.src.port}>${w.dst.port}`)).toEqual(['500>500', '500>500', '4500>4500', '4500>4500']);
    expect(Array.from(p.sent[2].bytes.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(p.sent[0].bytes[0]).not.toBe(0); // SPI, no marker on 500
    expect(errorTotal(p.a) + errorTotal(p.b)).toBe(0);
    expect(p.a.ikeSaInfo).toMatchObject({ initiator: true, proposal: 'IKE:aes256gcm16-prfsha256-ecp256', natt: true, fragmentation: true });
  });

  it('logs never carry key material or the PSK', () => {
    const p = pair();
    p.start();
    const [sa] = onlyChild(p);
    const text = p.logs().join('\n');
    for (const secret of [sa.encKeyIn, sa.encKeyOut, sa.saltIn, Buffer.from('pv-interop-psk')]) {
      expect(text.includes(Buffer.from(secret).toString('hex'))).toBe(false);
      expect(text.includes(Buffer.from(secret).toString('base64'))).toBe(false);
    }
    expect(text.includes('pv-interop-psk')).toBe(false);
  });

  for (const [ike, esp, alg] of [
    ['aes256-sha256-modp2048', 'aes256-sha256', 'aes256-sha256'],
    ['aes128gcm16-prfsha256-curve25519', 'aes128gcm16', 'aes128gcm16'],
    ['aes256-sha512-ecp384', 'aes256-sha384-ecp384', 'aes256-sha384'],
    ['aes128-sha1-modp2048', 'aes128-sha1', 'aes128-sha1'],
  ]) {
    it(`negotiates ${ike} / ${esp}`, () => {
      const p = pair({ ikeProposals: [ike], espProposals: [esp] }, { ikeProposals: [ike], espProposals: [esp] });
      p.start();
      const [sa] = onlyChild(p);
      expect(sa.algorithm).toBe(alg);
      if (alg.includes('-')) {
        expect(sa.saltIn.length).toBe(0);
        expect(sa.integKeyIn.length).toBeGreaterThan(0);
      }
    });
  }

  it('INVALID_KE_PAYLOAD: the initiator retries with the group the responder asks for', () => {
    const p = pair({ ikeProposals: ['aes256gcm16-prfsha256-ecp384-ecp256'] }, { ikeProposals: ['aes256gcm16-prfsha256-ecp256'] });
    p.start();
    onlyChild(p);
    expect(p.a.stats.invalidKeRetries).toBe(1);
    expect(p.a.ikeSaInfo?.proposal).toBe('IKE:aes256gcm16-prfsha256-ecp256');
    expect(p.b.errors[IkeErrorCode.InvalidKe]).toBe(1);
  });

  it('COOKIE: a responder over its half-open threshold demands one; the initiator resends with it first', () => {
    const p = pair({}, { cookieThreshold: 0 });
    p.start();
    onlyChild(p);
    expect(p.b.stats.cookiesSent).toBe(1);
    expect(p.a.stats.cookieRetries).toBe(1);
    const retry = p.sent[2];
    expect(retry.bytes[16]).toBe(41); // first payload: N(COOKIE)
  });

  it('COOKIE: a forged cookie is answered with a fresh demand, never a half-open SA', () => {
    const p = pair({}, { cookieThreshold: 0 });
    p.take('b', p.b.start(p.now));
    p.take('a', p.a.start(p.now));
    const first = p.inflight.shift()!;
    const m = parseMessage(first.bytes);
    const forged = encodePlainMessage({
      spiI: m.header.spiI, spiR: m.header.spiR, exchange: m.header.exchange, flags: m.header.flags, messageId: 0,
      payloads: [notify(NotifyType.COOKIE, new Uint8Array(36).fill(7)), ...m.payloads],
    });
    p.take('b', p.b.onDatagram(forged, first.src, p.now, 500));
    expect(p.b.ikeSaCount).toBe(0);
    expect(p.b.stats.cookiesSent).toBe(1);
    expect(p.b.errors[IkeErrorCode.Cookie]).toBe(1);
    const answer = parseMessage(p.inflight.at(-1)!.bytes);
    expect(answer.payloads).toHaveLength(1);
    expect(answer.payloads[0]).toMatchObject({ notifyType: NotifyType.COOKIE });
  });

  it('NO_PROPOSAL_CHOSEN: the initiator goes down with the reason and schedules a reconnect', () => {
    const p = pair({ ikeProposals: ['aes128gcm16-prfsha256-ecp256'] });
    p.start();
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toMatch(/NO_PROPOSAL_CHOSEN/);
    expect(p.a.nextTimerMs()).toBe(p.now + 5000);
    expect(p.b.ikeSaCount).toBe(0);
  });

  it('wrong PSK: responder answers AUTHENTICATION_FAILED and keeps nothing; initiator goes down', () => {
    const [ca, cb] = pskConfigs();
    const p = new Pair(new IkeInitiator({ ...ca, auth: { kind: 'psk', psk: new Uint8Array(Buffer.from('not-the-right-psk')) } }), new IkeResponder(cb));
    p.start();
    expect(p.b.errors[IkeErrorCode.AuthFailed]).toBe(1);
    expect(p.b.ikeSaCount).toBe(0);
    expect(p.installed.b.size).toBe(0);
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toMatch(/AUTHENTICATION_FAILED/);
  });

  it('the initiator refuses a responder whose identity is not the configured one', () => {
    const p = pair({ remoteId: 'vgw.example.net' });
    p.start();
    // the responder does not check IDr (one identity), answers; the initiator verifies IDr and deletes
    expect(p.a.errors[IkeErrorCode.AuthFailed]).toBe(1);
    expect(p.a.tunnelState).toBe('down');
    expect(p.installed.a.size).toBe(0);
  });

  it('the responder narrows traffic selectors; the initiator installs the narrowed ones', () => {
    const p = pair({ remoteTs: ['0.0.0.0/0'] });
    p.start();
    const [sa] = onlyChild(p);
    expect(sa.remoteTs).toEqual([{ ipProtocol: 0, startAddr: 0xc6120000, endAddr: 0xc612ffff, startPort: 0, endPort: 65535 }]);
  });

  it('disjoint selectors: TS_UNACCEPTABLE, the initiator deletes the IKE SA and goes down', () => {
    const p = pair({ remoteTs: ['10.0.0.0/8'] });
    p.start();
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toMatch(/TS_UNACCEPTABLE/);
    p.advance(100);
    expect(p.b.ikeSaCount).toBe(0); // deleted by the initiator's DELETE
  });

  it('a lost IKE_AUTH response is recovered by retransmission; the responder replays its cached answer', () => {
    const p = pair();
    let dropped = false;
    p.filter = (w) => {
      if (!dropped && w.from === 'b' && w.dst.port === 4500) {
        dropped = true;
        return false;
      }
      return true;
    };
    p.start();
    expect(p.a.tunnelState).toBe('connecting');
    p.advance(2000);
    onlyChild(p);
    expect(p.a.stats.retransmits).toBe(1);
    expect(p.b.stats.retransmits).toBe(1);
    expect(p.b.stats.childSasInstalled).toBe(1);
  });

  it('an unanswered IKE_SA_INIT is retransmitted with back-off, then the attempt fails and is retried later', () => {
    const p = pair({ retransmitTries: 3, retransmitTimeoutMs: 1000 });
    p.filter = (w) => w.from !== 'b';
    p.start();
    const t0 = p.now;
    p.advance(1000 + 1800 + 3240 + 5832 - 1);
    expect(p.a.stats.retransmits).toBe(3);
    expect(p.a.tunnelState).toBe('connecting');
    p.advance(1);
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toMatch(/peer dead/);
    expect(p.actions.filter((x) => x.who === 'a' && x.action.kind === 'send').map((x) => x.at - t0)).toEqual([0, 1000, 2800, 6040]);
    p.filter = () => true;
    p.advance(5000);
    onlyChild(p);
  });

  it('stop() sends DELETE: the responder removes everything', () => {
    const p = pair();
    p.start();
    p.take('a', p.a.stop(p.now));
    p.flush();
    expect(p.a.tunnelState).toBe('down');
    expect(p.installed.a.size).toBe(0);
    expect(p.b.tunnelState).toBe('down');
    expect(p.installed.b.size).toBe(0);
    expect(p.b.ikeSaCount).toBe(0);
  });

  it('a restarted initiator (new IKE SA with INITIAL_CONTACT) replaces the old SAs at the responder', () => {
    const [ca, cb] = pskConfigs();
    const b = new IkeResponder(cb);
    const p = new Pair(new IkeInitiator(ca), b);
    p.start();
    const [, oldB] = onlyChild(p);
    const p2 = new Pair(new IkeInitiator({ ...ca }), b);
    p2.now = p.now + 1000;
    p2.start();
    expect(p2.a.tunnelState).toBe('up');
    expect(b.ikeSaCount).toBe(1);
    expect(b.childSas.map((c) => c.spiIn)).not.toContain(oldB.spiIn);
    expect(p2.actions.some((x) => x.who === 'b' && x.action.kind === 'remove-child-sa' && x.action.spiIn === oldB.spiIn)).toBe(true);
  });
});
