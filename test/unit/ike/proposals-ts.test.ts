import { describe, expect, it } from 'vitest';
import { DhGroup, Encr, Esn, Integ, Prf, ProtocolId, TransformType } from '../../../src/ike/constants.js';
import { IkeError, IkeErrorCode } from '../../../src/ike/errors.js';
import {
  acceptAnswer, espAlgorithmName, ikeSuite, parseProposal, parseProposals, selectedToWire, selectProposal, toWireProposal,
} from '../../../src/ike/proposals.js';
import { cidrToSelector, covers, isNarrowingOf, narrow, selectorToString } from '../../../src/ike/traffic-selectors.js';

describe('proposal strings (strongSwan syntax)', () => {
  it('parses the config contract examples', () => {
    expect(parseProposal('aes256gcm16-prfsha256-ecp256', 'ike')).toMatchObject({
      encr: [{ id: Encr.AES_GCM_16, keyBits: 256 }], integ: [], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP_256],
    });
    expect(parseProposal('aes256-sha256-modp2048', 'ike')).toMatchObject({
      encr: [{ id: Encr.AES_CBC, keyBits: 256 }], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.MODP_2048],
    });
    expect(parseProposal('aes256gcm16-ecp256', 'esp')).toMatchObject({ dh: [DhGroup.ECP_256], esn: [Esn.NO], prf: [] });
    expect(parseProposal('aes128-sha1', 'esp')).toMatchObject({ integ: [Integ.HMAC_SHA1_96], dh: [] });
    expect(parseProposal('aes256gcm16-prfsha256-ecp256-modp2048-curve25519', 'ike').dh).toEqual([19, 14, 31]);
  });
  it('refuses unknown tokens, mixes and missing parts with a Config error', () => {
    for (const [s, p] of [
      ['aes256-sha256', 'ike'], ['aes256gcm16-ecp256', 'ike'], ['aes256gcm16-sha256-prfsha256-ecp256', 'ike'],
      ['aes256-aes256gcm16-sha256-ecp256', 'ike'], ['3des-sha1-modp1024', 'ike'], ['aes256', 'esp'], ['aes256gcm16-prfsha256', 'esp'],
      ['aes256gcm16-esn', 'esp'], ['', 'esp'],
    ] as const) {
      expect(() => parseProposal(s, p), s).toThrowError(expect.objectContaining({ code: IkeErrorCode.Config }));
    }
    expect(() => parseProposals([], 'ike')).toThrow(IkeError);
  });
});

describe('proposal selection (RFC 7296 §2.7)', () => {
  const ours = parseProposals(['aes256gcm16-prfsha256-ecp256-modp2048', 'aes256-sha256-modp2048'], 'ike');
  it('takes our order first and echoes the peer proposal number', () => {
    const theirs = [
      toWireProposal(parseProposal('aes256-sha256-modp2048', 'ike'), 1, new Uint8Array(0)),
      toWireProposal(parseProposal('aes256gcm16-prfsha256-modp2048-ecp256', 'ike'), 2, new Uint8Array(0)),
    ];
    const s = selectProposal(ours, theirs, true);
    expect(s).toMatchObject({ num: 2, encr: { id: Encr.AES_GCM_16 }, dh: DhGroup.ECP_256, dhCandidates: [19, 14] });
    expect(ikeSuite(s!).encr.aead).toBe(true);
    const wire = selectedToWire(s!, new Uint8Array(0));
    expect(wire.transforms.map((t) => t.type)).toEqual([TransformType.ENCR, TransformType.PRF, TransformType.DH]);
  });
  it('nothing in common: undefined; AES-128 only is refused like strongSwan defaults do', () => {
    const theirs = [toWireProposal(parseProposal('aes128gcm16-prfsha256-ecp256', 'ike'), 1, new Uint8Array(0))];
    expect(selectProposal(ours, theirs, true)).toBeUndefined();
  });
  it('ignores transforms with unknown attributes and the wrong protocol', () => {
    const p = toWireProposal(parseProposal('aes256gcm16-prfsha256-ecp256', 'ike'), 1, new Uint8Array(0));
    const odd = { ...p, transforms: p.transforms.map((t) => (t.type === TransformType.ENCR ? { ...t, unknownAttribute: true } : t)) };
    expect(selectProposal(ours, [odd], true)).toBeUndefined();
    expect(selectProposal(ours, [{ ...p, protocolId: ProtocolId.ESP }], true)).toBeUndefined();
  });
  it('initiator checks the answer: one transform per type, all from the proposal it sent', () => {
    const sent = ours.map((s, i) => toWireProposal(s, i + 1, new Uint8Array(0)));
    const good = selectedToWire(selectProposal(ours, sent, true)!, new Uint8Array(0));
    expect(acceptAnswer(sent, ours, [good], true).dh).toBe(DhGroup.ECP_256);
    const twoDh = { ...good, transforms: [...good.transforms, { type: TransformType.DH, id: 14 }] };
    expect(() => acceptAnswer(sent, ours, [twoDh], true)).toThrowError(expect.objectContaining({ code: IkeErrorCode.NoProposal }));
    const alien = { ...good, transforms: good.transforms.map((t) => (t.type === TransformType.DH ? { ...t, id: 31 } : t)) };
    expect(() => acceptAnswer(sent, ours, [alien], true)).toThrow(IkeError);
    expect(() => acceptAnswer(sent, ours, [{ ...good, num: 9 }], true)).toThrow(IkeError);
    expect(() => acceptAnswer(sent, ours, [good, good], true)).toThrow(IkeError);
  });
  it('ESP: PFS group only when asked; data-plane algorithm names', () => {
    const esp = parseProposals(['aes256gcm16-ecp256', 'aes256-sha256'], 'esp');
    const theirs = [toWireProposal(parseProposal('aes256gcm16-ecp256', 'esp'), 1, new Uint8Array([1, 2, 3, 4]), false)];
    const s = selectProposal(esp, theirs, false)!;
    expect(s.dh).toBe(DhGroup.NONE);
    expect(espAlgorithmName(s)).toBe('aes256gcm16');
    const withDh = [toWireProposal(parseProposal('aes256gcm16-ecp256', 'esp'), 1, new Uint8Array([1, 2, 3, 4]), true)];
    expect(selectProposal(esp, withDh, true)!.dh).toBe(DhGroup.ECP_256);
    const cbc = selectProposal(esp, [toWireProposal(parseProposal('aes256-sha256', 'esp'), 1, new Uint8Array(4), false)], false)!;
    expect(espAlgorithmName(cbc)).toBe('aes256-sha256');
  });
});

describe('traffic selectors (RFC 7296 §2.9)', () => {
  it('CIDR to range and back', () => {
    expect(selectorToString(cidrToSelector('198.18.7.9/16'))).toBe('198.18.0.0/16');
    expect(selectorToString(cidrToSelector('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(selectorToString(cidrToSelector('10.1.2.3'))).toBe('10.1.2.3/32');
    expect(() => cidrToSelector('fd00::/8')).toThrow(IkeError);
    expect(() => cidrToSelector('10.0.0.0/33')).toThrow(IkeError);
  });
  it('responder narrows to the intersection; empty means TS_UNACCEPTABLE', () => {
    const proposed = [cidrToSelector('0.0.0.0/0')];
    expect(narrow(proposed, [cidrToSelector('198.18.0.0/16')]).map(selectorToString)).toEqual(['198.18.0.0/16']);
    expect(narrow([cidrToSelector('198.18.5.0/24')], [cidrToSelector('198.18.0.0/16')]).map(selectorToString)).toEqual(['198.18.5.0/24']);
    expect(narrow([cidrToSelector('10.0.0.0/8')], [cidrToSelector('198.18.0.0/16')])).toEqual([]);
    const tcp = { ...cidrToSelector('198.18.0.0/16'), ipProtocol: 6, startPort: 80, endPort: 443 };
    expect(narrow([tcp], [{ ...cidrToSelector('198.18.0.0/16'), ipProtocol: 17 }])).toEqual([]);
    expect(narrow([tcp], [cidrToSelector('0.0.0.0/0')])).toEqual([tcp]);
  });
  it('initiator accepts only narrowings of what it proposed', () => {
    const mine = [cidrToSelector('198.19.0.0/16')];
    expect(isNarrowingOf([cidrToSelector('198.19.1.0/24')], mine)).toBe(true);
    expect(isNarrowingOf([cidrToSelector('198.0.0.0/8')], mine)).toBe(false);
    expect(isNarrowingOf([], mine)).toBe(false);
    expect(covers(cidrToSelector('0.0.0.0/0'), cidrToSelector('1.2.3.4'))).toBe(true);
  });
});
