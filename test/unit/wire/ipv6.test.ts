import { describe, it, expect } from 'vitest';
import { Ipv6Error, Ipv6View, IPV6_HEADER_LEN } from '../../../src/wire/ipv6.js';
import { EthernetView, EtherType } from '../../../src/wire/ethernet.js';
import { UdpView } from '../../../src/wire/udp.js';
import { onesSum, pseudoHeaderSum6 } from '../../../src/wire/checksum.js';
import { ethIpv6, ethIpv6Udp, placeInArena } from '../../helpers/frames.js';

// 2001:db8::1 -> 2001:db8:0:1::ff, TC 0xb8, flow label 0x12345, UDP, hop limit 64, 8-byte payload.
const PACKET = Buffer.from(
  '6b812345' + '0008' + '11' + '40' +
  '20010db8000000000000000000000001' +
  '20010db80000000100000000000000ff' +
  '0102030400080000', 'hex');

describe('Ipv6View', () => {
  const ip6 = new Ipv6View();

  it('deconstructs the fixed header', () => {
    ip6.at(PACKET, 0, PACKET.length);
    expect(ip6.check()).toBe(Ipv6Error.None);
    expect(ip6.version).toBe(6);
    expect(ip6.trafficClass).toBe(0xb8);
    expect(ip6.flowLabel).toBe(0x12345);
    expect(ip6.payloadLen).toBe(8);
    expect(ip6.nextHeader).toBe(17);
    expect(ip6.hopLimit).toBe(64);
    expect([0, 1, 2, 3].map((i) => ip6.src(i))).toEqual([0x20010db8, 0, 0, 1]);
    expect([0, 1, 2, 3].map((i) => ip6.dst(i))).toEqual([0x20010db8, 1, 0, 0xff]);
    expect(ip6.srcOff).toBe(8);
    expect(ip6.dstOff).toBe(24);
    expect(ip6.payloadOff).toBe(40);
    expect(ip6.packetEnd).toBe(48);
  });

  it('constructs with setters', () => {
    const b = Buffer.from(PACKET);
    b.fill(0, 4, 40);
    ip6.at(b, 0, b.length);
    ip6.payloadLen = 8; ip6.nextHeader = 17; ip6.hopLimit = 64;
    ip6.setSrc(0, 0x20010db8); ip6.setSrc(3, 1);
    ip6.setDst(0, 0x20010db8); ip6.setDst(1, 1); ip6.setDst(3, 0xff);
    expect(b.equals(PACKET)).toBe(true);
  });

  it('masks address word indexes instead of reading elsewhere', () => {
    ip6.at(PACKET, 0, PACKET.length);
    expect(ip6.src(4)).toBe(ip6.src(0));
    expect(ip6.src(-1)).toBe(ip6.src(3));
    expect(ip6.dst(7)).toBe(ip6.dst(3));
  });

  it('matches the frame builder, through Ethernet, at a non-zero offset', () => {
    const f = ethIpv6({ src: '2001:db8::1', dst: '2001:db8:0:1::ff', trafficClass: 0xb8, flowLabel: 0x12345,
      nextHeader: 17, payload: PACKET.subarray(40) });
    const arena = placeInArena(f, 3);
    const eth = new EthernetView().at(arena, 3, 3 + f.length);
    expect(eth.etherType).toBe(EtherType.Ipv6);
    ip6.at(arena, eth.payloadOff, 3 + f.length);
    expect(ip6.check()).toBe(Ipv6Error.None);
    expect(Buffer.from(arena.subarray(ip6.off, ip6.packetEnd)).equals(PACKET)).toBe(true);
  });

  it('verifies a UDP checksum with the IPv6 pseudo-header', () => {
    const f = ethIpv6Udp({ src: 'fd00::a', dst: 'fd00:0:0:2::14', sport: 5353, dport: 5353, payload: 'mdns?' });
    ip6.at(f, 14, f.length);
    expect(ip6.check()).toBe(Ipv6Error.None);
    const udp = new UdpView().at(f, ip6.payloadOff, ip6.packetEnd);
    expect(udp.check()).toBe(0);
    const ph = pseudoHeaderSum6(f, ip6.srcOff, ip6.dstOff, 17, udp.length);
    expect(onesSum(f, udp.off, udp.length, ph)).toBe(0xffff);
  });

  it('rejects truncated input, another version and an impossible payload length', () => {
    for (let n = 0; n < IPV6_HEADER_LEN; n++) expect(ip6.at(PACKET, 0, n).check()).toBe(Ipv6Error.Truncated);
    expect(ip6.at(PACKET, 0, 47).check()).toBe(Ipv6Error.BadPayloadLen);
    const b = Buffer.from(PACKET);
    b[0] = 0x45;
    expect(ip6.at(b, 0, b.length).check()).toBe(Ipv6Error.BadVersion);
  });

  it('never throws on garbage, even before check()', () => {
    const g = Buffer.from('ffffffffffff', 'hex');
    ip6.at(g, 2, 6);
    expect(() => [ip6.check(), ip6.version, ip6.trafficClass, ip6.flowLabel, ip6.payloadLen, ip6.nextHeader,
      ip6.hopLimit, ip6.src(0), ip6.src(3), ip6.dst(2), ip6.payloadOff, ip6.packetEnd]).not.toThrow();
    expect(ip6.check()).toBe(Ipv6Error.Truncated);
  });
});
