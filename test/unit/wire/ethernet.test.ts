import { describe, it, expect } from 'vitest';
import { EtherType, EthernetError, EthernetView, ETH_HEADER_LEN } from '../../../src/wire/ethernet.js';
import { formatMac, macToHiLo, parseMac } from '../../../src/wire/addr.js';
import { ethFrame, placeInArena } from '../../helpers/frames.js';

// dst 02:42:c6:12:01:0a, src 52:54:00:12:34:56, IPv4, then 4 payload bytes
const UNTAGGED = Buffer.from('0242c612010a' + '525400123456' + '0800' + '45000014', 'hex');
// same with 802.1Q tag PCP 5, VID 100 (0xa064)
const TAGGED = Buffer.from('0242c612010a' + '525400123456' + '8100a064' + '86dd' + '6000', 'hex');

describe('EthernetView', () => {
  const eth = new EthernetView();

  it('deconstructs an untagged frame', () => {
    eth.at(UNTAGGED, 0, UNTAGGED.length);
    expect(eth.check()).toBe(EthernetError.None);
    expect(eth.dstHi16).toBe(0x0242);
    expect(eth.dstLo32).toBe(0xc612010a);
    expect(eth.srcHi16).toBe(0x5254);
    expect(eth.srcLo32).toBe(0x00123456);
    expect(eth.etherType).toBe(EtherType.Ipv4);
    expect(eth.hasVlan).toBe(false);
    expect(eth.vlanId).toBe(0);
    expect(eth.headerLen).toBe(14);
    expect(eth.payloadOff).toBe(14);
    expect(eth.payloadLen).toBe(4);
    expect(eth.isMulticast).toBe(false);
    expect(eth.isBroadcast).toBe(false);
  });

  it('recognises one 802.1Q tag', () => {
    eth.at(TAGGED, 0, TAGGED.length);
    expect(eth.check()).toBe(EthernetError.None);
    expect(eth.hasVlan).toBe(true);
    expect(eth.outerEtherType).toBe(EtherType.Vlan);
    expect(eth.vlanTci).toBe(0xa064);
    expect(eth.vlanId).toBe(100);
    expect(eth.etherType).toBe(EtherType.Ipv6);
    expect(eth.payloadOff).toBe(18);
    expect(eth.headerLen).toBe(18);
  });

  it('copies MACs into caller buffers and compares as hi16/lo32', () => {
    eth.at(UNTAGGED, 0, UNTAGGED.length);
    const out = new Uint8Array(8);
    eth.copySrc(out, 1);
    expect(formatMac(out, 1)).toBe('52:54:00:12:34:56');
    eth.copyDst(out, 2);
    expect(formatMac(out, 2)).toBe('02:42:c6:12:01:0a');
    const [hi, lo] = macToHiLo('52:54:00:12:34:56');
    expect(eth.srcHi16).toBe(hi);
    expect(eth.srcLo32).toBe(lo);
  });

  it('constructs: setters write the bytes a builder would', () => {
    const f = Buffer.alloc(18);
    eth.at(f, 0, f.length);
    eth.setDst(0x0242, 0xc612010a);
    eth.setSrcFrom(parseMac('52:54:00:12:34:56'), 0);
    eth.etherType = EtherType.Ipv4;
    expect(f.subarray(0, 14).equals(UNTAGGED.subarray(0, 14))).toBe(true);
    eth.setSrc(0xffff, 0xffffffff);
    eth.setDstFrom(parseMac('ff:ff:ff:ff:ff:ff'), 0);
    expect(eth.isBroadcast).toBe(true);
    expect(eth.isMulticast).toBe(true);
    expect(eth.srcLo32).toBe(0xffffffff);
  });

  it('sets the inner etherType of a tagged frame', () => {
    const f = Buffer.from(TAGGED);
    eth.at(f, 0, f.length).etherType = EtherType.Arp;
    expect(f.readUInt16BE(12)).toBe(0x8100);
    expect(f.readUInt16BE(16)).toBe(0x0806);
  });

  it('works at a non-zero offset inside an arena', () => {
    const arena = placeInArena(TAGGED, 37);
    eth.at(arena, 37, 37 + TAGGED.length);
    expect(eth.check()).toBe(EthernetError.None);
    expect(eth.dstLo32).toBe(0xc612010a);
    expect(eth.etherType).toBe(EtherType.Ipv6);
    expect(eth.payloadOff).toBe(37 + 18);
  });

  it('rejects truncated frames, and a tag without room for the inner type', () => {
    for (let n = 0; n < ETH_HEADER_LEN; n++) {
      expect(eth.at(UNTAGGED, 0, n).check()).toBe(EthernetError.Truncated);
    }
    expect(eth.at(TAGGED, 0, 17).check()).toBe(EthernetError.Truncated);
    expect(eth.at(TAGGED, 0, 18).check()).toBe(EthernetError.None);
    expect(eth.at(UNTAGGED, 5, 3).check()).toBe(EthernetError.Truncated); // end before off
  });

  it('accepts overlong frames (padding) and agrees with the builder', () => {
    const f = ethFrame({ srcMac: '52:54:00:12:34:56', dstMac: '02:42:c6:12:01:0a', etherType: 0x0800,
      payload: Buffer.from('45000014', 'hex'), padTo: 60 });
    expect(f.length).toBe(60);
    expect(f.subarray(0, 18).equals(UNTAGGED)).toBe(true);
    eth.at(f, 0, f.length);
    expect(eth.check()).toBe(EthernetError.None);
    expect(eth.payloadLen).toBe(46);
    const t = ethFrame({ srcMac: '52:54:00:12:34:56', dstMac: '02:42:c6:12:01:0a', etherType: 0x86dd, vlan: 100,
      payload: Buffer.from('6000', 'hex') });
    expect(eth.at(t, 0, t.length).vlanId).toBe(100);
  });
});
