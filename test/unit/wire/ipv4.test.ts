import { describe, it, expect } from 'vitest';
import { IpProto, Ipv4Error, Ipv4View, IPV4_MIN_HEADER_LEN } from '../../../src/wire/ipv4.js';
import { EthernetView } from '../../../src/wire/ethernet.js';
import { ipToU32, u32ToIp } from '../../../src/wire/addr.js';
import { ethIpv4Udp, fragmentFrame, ipv4Packet, placeInArena, refChecksum } from '../../helpers/frames.js';

// A classic UDP header: 192.168.0.1 -> 192.168.0.199, DF, TTL 64, total 0x73,
// checksum 0xb861; followed by 0x73 - 20 payload bytes.
const HEADER = Buffer.from('45000073000040004011b861c0a80001c0a800c7', 'hex');
const PACKET = Buffer.concat([HEADER, Buffer.alloc(0x73 - 20, 0xab)]);

// With options (IHL 6): Router Alert (RFC 2113: 0x94 0x04 0x0000), TCP, MF +
// offset 185 (1480 bytes), id 0xbeef, TOS 0xb8 (EF), 20 bytes of data.
function withOptions(): Buffer {
  return ipv4Packet({ src: '198.18.1.10', dst: '198.18.2.20', proto: 6, tos: 0xb8, id: 0xbeef, ttl: 3,
    mf: true, fragOffset: 1480, options: [0x94, 0x04, 0x00, 0x00], payload: Buffer.alloc(20, 7) });
}

describe('Ipv4View', () => {
  const ip = new Ipv4View();

  it('deconstructs a literal header', () => {
    ip.at(PACKET, 0, PACKET.length);
    expect(ip.check()).toBe(Ipv4Error.None);
    expect(ip.version).toBe(4);
    expect(ip.headerLen).toBe(20);
    expect(ip.tos).toBe(0);
    expect(ip.totalLen).toBe(0x73);
    expect(ip.id).toBe(0);
    expect(ip.dontFragment).toBe(true);
    expect(ip.moreFragments).toBe(false);
    expect(ip.fragmentOffset).toBe(0);
    expect(ip.isFragment).toBe(false);
    expect(ip.isFirstFragment).toBe(false);
    expect(ip.isLaterFragment).toBe(false);
    expect(ip.ttl).toBe(64);
    expect(ip.protocol).toBe(IpProto.Udp);
    expect(ip.checksum).toBe(0xb861);
    expect(u32ToIp(ip.src)).toBe('192.168.0.1');
    expect(ip.dst).toBe(0xc0a800c7);
    expect(ip.optionsLen).toBe(0);
    expect(ip.payloadOff).toBe(20);
    expect(ip.payloadLen).toBe(0x73 - 20);
    expect(ip.packetEnd).toBe(0x73);
    expect(ip.verifyChecksum()).toBe(true);
  });

  it('constructs the same header from setters', () => {
    const b = Buffer.alloc(20);
    b[0] = 0x45;
    ip.at(b, 0, 20);
    ip.totalLen = 0x73;
    ip.id = 0;
    ip.dontFragment = true;
    ip.ttl = 64;
    ip.protocol = 17;
    ip.src = ipToU32('192.168.0.1');
    ip.dst = ipToU32('192.168.0.199');
    ip.fillChecksum();
    expect(b.equals(HEADER)).toBe(true);
  });

  it('reads options, flags, fragment offset and TOS', () => {
    const p = withOptions();
    ip.at(p, 0, p.length);
    expect(ip.check()).toBe(Ipv4Error.None);
    expect(ip.headerLen).toBe(24);
    expect(ip.optionsOff).toBe(20);
    expect(ip.optionsLen).toBe(4);
    expect(p[ip.optionsOff]).toBe(0x94);
    expect(ip.payloadOff).toBe(24);
    expect(ip.payloadLen).toBe(20);
    expect(ip.tos).toBe(0xb8);
    expect(ip.id).toBe(0xbeef);
    expect(ip.dontFragment).toBe(false);
    expect(ip.moreFragments).toBe(true);
    expect(ip.fragmentOffset).toBe(185);
    expect(ip.fragmentOffsetBytes).toBe(1480);
    expect(ip.isFragment).toBe(true);
    expect(ip.isFirstFragment).toBe(false);
    expect(ip.isLaterFragment).toBe(true);
    expect(ip.verifyChecksum()).toBe(true);
  });

  it('edits flags and fragment offset without disturbing each other', () => {
    const p = withOptions();
    ip.at(p, 0, p.length);
    ip.fragmentOffset = 0;
    expect(ip.isFirstFragment).toBe(true);
    expect(ip.moreFragments).toBe(true);
    ip.moreFragments = false;
    expect(ip.isFragment).toBe(false);
    ip.dontFragment = true;
    ip.fragmentOffset = 0x1fff;
    expect(ip.flagsFrag).toBe(0x5fff);
    ip.dontFragment = false;
    expect(ip.flagsFrag).toBe(0x1fff);
    ip.flagsFrag = 0;
    expect(ip.isFragment).toBe(false);
  });

  it('classifies the fragments a router makes', () => {
    const frame = ethIpv4Udp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 1, dport: 2, payload: Buffer.alloc(3000, 1) });
    const frags = fragmentFrame(frame, 1480);
    expect(frags).toHaveLength(3);
    const got = frags.map((f) => {
      ip.at(f, 14, f.length);
      expect(ip.check()).toBe(Ipv4Error.None);
      expect(ip.verifyChecksum()).toBe(true);
      return [ip.isFragment, ip.isFirstFragment, ip.isLaterFragment, ip.fragmentOffsetBytes, ip.payloadLen];
    });
    expect(got).toEqual([
      [true, true, false, 0, 1480],
      [true, false, true, 1480, 1480],
      [true, false, true, 2960, 3008 - 2960],
    ]);
  });

  it('decrements TTL with an incremental checksum update', () => {
    const p = Buffer.from(PACKET);
    ip.at(p, 0, p.length);
    for (let ttl = 63; ttl >= 0; ttl--) {
      expect(ip.decrementTtl()).toBe(ttl);
      expect(ip.verifyChecksum()).toBe(true);
      expect(ip.checksum).toBe(refChecksum(Buffer.from(p.subarray(0, 20)).fill(0, 10, 12)));
    }
  });

  it('works at a non-zero offset and ignores bytes past totalLen (Ethernet padding)', () => {
    const arena = placeInArena(PACKET, 23, 40);
    ip.at(arena, 23, arena.length); // end includes 40 bytes of 0xee
    expect(ip.check()).toBe(Ipv4Error.None);
    expect(ip.src).toBe(0xc0a80001);
    expect(ip.payloadOff).toBe(43);
    expect(ip.payloadLen).toBe(0x73 - 20);
    expect(ip.packetEnd).toBe(23 + 0x73);
    expect(ip.verifyChecksum()).toBe(true);
  });

  it('reaches the header through an Ethernet view', () => {
    const f = ethIpv4Udp({ vlan: 7, src: '198.18.1.10', dst: '198.18.2.20', sport: 5, dport: 6, ttl: 9, id: 77, df: true });
    const eth = new EthernetView().at(f, 0, f.length);
    ip.at(f, eth.payloadOff, f.length);
    expect(ip.check()).toBe(Ipv4Error.None);
    expect([ip.ttl, ip.id, ip.dontFragment, u32ToIp(ip.dst)]).toEqual([9, 77, true, '198.18.2.20']);
  });

  it('rejects truncated input', () => {
    for (let n = 0; n < IPV4_MIN_HEADER_LEN; n++) expect(ip.at(PACKET, 0, n).check()).toBe(Ipv4Error.Truncated);
    const p = withOptions();
    expect(ip.at(p, 0, 23).check()).toBe(Ipv4Error.BadHeaderLen); // options cut
    expect(ip.at(PACKET, 0, 0x72).check()).toBe(Ipv4Error.BadTotalLen); // payload cut
    expect(ip.at(PACKET, 0, 0x73).checkHeader()).toBe(Ipv4Error.None);
    expect(ip.at(PACKET, 0, 28).checkHeader()).toBe(Ipv4Error.None); // ICMP-quoted style
  });

  it('rejects bad version, IHL and total length', () => {
    const p = Buffer.from(PACKET);
    ip.at(p, 0, p.length);
    p[0] = 0x65;
    expect(ip.check()).toBe(Ipv4Error.BadVersion);
    p[0] = 0x44;
    expect(ip.check()).toBe(Ipv4Error.BadHeaderLen);
    p[0] = 0x4f;
    expect(ip.at(p, 0, 59).check()).toBe(Ipv4Error.BadHeaderLen);
    expect(ip.at(p, 0, 60).checkHeader()).toBe(Ipv4Error.None);
    p[0] = 0x45;
    ip.at(p, 0, p.length);
    p.writeUInt16BE(19, 2);
    expect(ip.check()).toBe(Ipv4Error.BadTotalLen);
    p.writeUInt16BE(20, 2);
    expect(ip.check()).toBe(Ipv4Error.None);
    expect(ip.payloadLen).toBe(0);
  });

  it('detects a corrupted checksum', () => {
    const p = Buffer.from(PACKET);
    p[15] ^= 1;
    expect(ip.at(p, 0, p.length).verifyChecksum()).toBe(false);
    ip.fillChecksum();
    expect(ip.verifyChecksum()).toBe(true);
  });
});
