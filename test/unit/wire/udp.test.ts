import { describe, it, expect } from 'vitest';
import { UdpError, UdpView, UDP_HEADER_LEN } from '../../../src/wire/udp.js';
import { Ipv4View } from '../../../src/wire/ipv4.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { onesSum, pseudoHeaderSum4 } from '../../../src/wire/checksum.js';
import { ethIpv4Udp, placeInArena } from '../../helpers/frames.js';

const SRC = ipToU32('198.18.1.10'), DST = ipToU32('198.18.2.20');
// DNS query for example.com A, 198.18.1.10:53000 -> 198.18.2.20:53, length 37, checksum 0xbf81.
const DNS = Buffer.from(
  'cf08' + '0035' + '0025' + 'bf81' +
  '123401000001000000000000076578616d706c6503636f6d0000010001', 'hex');

describe('UdpView', () => {
  const udp = new UdpView();

  it('deconstructs a DNS query', () => {
    udp.at(DNS, 0, DNS.length);
    expect(udp.check()).toBe(UdpError.None);
    expect(udp.srcPort).toBe(53000);
    expect(udp.dstPort).toBe(53);
    expect(udp.length).toBe(37);
    expect(udp.checksum).toBe(0xbf81);
    expect(udp.payloadOff).toBe(8);
    expect(udp.payloadLen).toBe(29);
    expect(udp.verifyChecksum4(SRC, DST)).toBe(true);
    expect(udp.verifyChecksum4(DST, SRC)).toBe(true); // the sum is symmetric in src/dst
    expect(udp.verifyChecksum4(SRC, DST ^ 0x100)).toBe(false);
  });

  it('constructs it from setters', () => {
    const b = Buffer.from(DNS);
    b.fill(0, 0, 8);
    udp.at(b, 0, b.length);
    udp.srcPort = 53000; udp.dstPort = 53; udp.length = 37;
    udp.fillChecksum4(SRC, DST);
    expect(b.equals(DNS)).toBe(true);
  });

  it('treats checksum 0 as absent and never emits 0', () => {
    const b = Buffer.from(DNS);
    udp.at(b, 0, b.length).checksum = 0;
    expect(udp.verifyChecksum4(SRC, DST)).toBe(true);
    // Pick the source port that makes the computed checksum 0: it must be sent as 0xFFFF.
    udp.srcPort = 0;
    const sumWithoutPort = onesSum(b, 0, b.length, pseudoHeaderSum4(SRC, DST, 17, b.length));
    udp.srcPort = 0xffff - sumWithoutPort;
    udp.fillChecksum4(SRC, DST);
    expect(udp.checksum).toBe(0xffff);
    expect(udp.verifyChecksum4(SRC, DST)).toBe(true);
  });

  it('uses the length field, not end, for the payload and checksum (trailing bytes ignored)', () => {
    const arena = placeInArena(DNS, 5, 12);
    udp.at(arena, 5, arena.length);
    expect(udp.check()).toBe(UdpError.None);
    expect(udp.payloadOff).toBe(13);
    expect(udp.payloadLen).toBe(29);
    expect(udp.verifyChecksum4(SRC, DST)).toBe(true);
  });

  it('agrees with the frame builder', () => {
    const f = ethIpv4Udp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 53000, dport: 53, payload: DNS.subarray(8) });
    const ip = new Ipv4View().at(f, 14, f.length);
    expect(Buffer.from(f.subarray(ip.payloadOff, ip.packetEnd)).equals(DNS)).toBe(true);
    const n = ethIpv4Udp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 1, dport: 2, noChecksum: true });
    expect(udp.at(n, 34, n.length).checksum).toBe(0);
    expect(udp.payloadLen).toBe(0);
  });

  it('rejects truncated datagrams and impossible lengths', () => {
    for (let n = 0; n < UDP_HEADER_LEN; n++) expect(udp.at(DNS, 0, n).check()).toBe(UdpError.Truncated);
    expect(udp.at(DNS, 0, 36).check()).toBe(UdpError.BadLength);
    const b = Buffer.from(DNS);
    udp.at(b, 0, b.length);
    udp.length = 7;
    expect(udp.check()).toBe(UdpError.BadLength);
    udp.length = 8;
    expect(udp.check()).toBe(UdpError.None);
  });
});
