import { describe, it, expect } from 'vitest';
import { IcmpError, IcmpType, IcmpUnreachCode, IcmpView, ICMP_HEADER_LEN } from '../../../src/wire/icmp.js';
import { Ipv4Error, Ipv4View } from '../../../src/wire/ipv4.js';
import { UdpView } from '../../../src/wire/udp.js';
import { TcpView } from '../../../src/wire/tcp.js';
import { u32ToIp } from '../../../src/wire/addr.js';
import {
  ethIpv4Icmp, ethIpv4IcmpError, ethIpv4Tcp, ethIpv4Udp, placeInArena, TCP_SYN,
} from '../../helpers/frames.js';

// Echo request, id 0x1c46, seq 1, data 'abcdefgh', checksum 0x4a23.
const ECHO = Buffer.from('08004a231c4600016162636465666768', 'hex');

describe('IcmpView', () => {
  const icmp = new IcmpView();

  it('deconstructs an echo request', () => {
    icmp.at(ECHO, 0, ECHO.length);
    expect(icmp.check()).toBe(IcmpError.None);
    expect(icmp.type).toBe(IcmpType.EchoRequest);
    expect(icmp.code).toBe(0);
    expect(icmp.checksum).toBe(0x4a23);
    expect(icmp.id).toBe(0x1c46);
    expect(icmp.seq).toBe(1);
    expect(icmp.restOfHeader).toBe(0x1c460001);
    expect(icmp.isEcho).toBe(true);
    expect(icmp.isError).toBe(false);
    expect(icmp.innerOff).toBe(8);
    expect(icmp.innerLen).toBe(8);
    expect(icmp.verifyChecksum()).toBe(true);
  });

  it('turns the request into a reply (type change, then refill)', () => {
    const b = Buffer.from(ECHO);
    icmp.at(b, 0, b.length);
    icmp.type = IcmpType.EchoReply;
    expect(icmp.verifyChecksum()).toBe(false);
    icmp.fillChecksum();
    expect(icmp.verifyChecksum()).toBe(true);
    expect(icmp.checksum).toBe(0x5223); // the type word dropped by 0x0800
  });

  it('constructs an echo from setters', () => {
    const b = Buffer.alloc(16);
    Buffer.from('abcdefgh').copy(b, 8);
    icmp.at(b, 0, 16);
    icmp.type = 8; icmp.code = 0; icmp.id = 0x1c46; icmp.seq = 1;
    icmp.fillChecksum();
    expect(b.equals(ECHO)).toBe(true);
    icmp.restOfHeader = 0xdeadbeef;
    expect([icmp.id, icmp.seq]).toEqual([0xdead, 0xbeef]);
  });

  it('agrees with the frame builder at a non-zero offset', () => {
    const f = ethIpv4Icmp({ src: '198.18.1.10', dst: '198.18.2.20', type: 8, id: 0x1c46, seq: 1, payload: 'abcdefgh', ipId: 99 });
    const arena = placeInArena(f, 11);
    const ip = new Ipv4View().at(arena, 11 + 14, 11 + f.length);
    expect(ip.check()).toBe(Ipv4Error.None);
    expect(ip.id).toBe(99);
    icmp.at(arena, ip.payloadOff, ip.packetEnd);
    expect(icmp.check()).toBe(IcmpError.None);
    expect(Buffer.from(arena.subarray(ip.payloadOff, ip.packetEnd)).equals(ECHO)).toBe(true);
  });

  it('finds the quoted datagram of a port unreachable', () => {
    const orig = ethIpv4Udp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 53, payload: 'query payload' });
    const err = ethIpv4IcmpError({ src: '198.18.2.20', dst: '198.18.1.10', type: IcmpType.DestUnreachable,
      code: IcmpUnreachCode.Port, original: orig });
    const outer = new Ipv4View().at(err, 14, err.length);
    expect(outer.check()).toBe(Ipv4Error.None);
    icmp.at(err, outer.payloadOff, outer.packetEnd);
    expect(icmp.check()).toBe(IcmpError.None);
    expect(icmp.verifyChecksum()).toBe(true);
    expect(icmp.isError).toBe(true);
    expect(icmp.innerLen).toBe(28);
    const inner = new Ipv4View().at(err, icmp.innerOff, outer.packetEnd);
    expect(inner.check()).toBe(Ipv4Error.BadTotalLen); // quoted: truncated by design
    expect(inner.checkHeader()).toBe(Ipv4Error.None);
    expect(u32ToIp(inner.src)).toBe('198.18.1.10');
    expect(u32ToIp(inner.dst)).toBe('198.18.2.20');
    const udp = new UdpView().at(err, inner.payloadOff, outer.packetEnd);
    expect([udp.srcPort, udp.dstPort]).toEqual([40000, 53]);
  });

  it('reads the next-hop MTU of Fragmentation Needed and quotes TCP ports', () => {
    const orig = ethIpv4Tcp({ src: '198.18.1.10', dst: '203.0.113.5', sport: 40001, dport: 443, flags: TCP_SYN, df: true });
    const err = ethIpv4IcmpError({ src: '198.18.0.1', dst: '198.18.1.10', type: 3, code: IcmpUnreachCode.FragNeeded,
      rest: 1400, original: orig });
    icmp.at(err, 34, err.length);
    expect(icmp.mtu).toBe(1400);
    icmp.mtu = 1280;
    expect(icmp.restOfHeader).toBe(1280);
    const inner = new Ipv4View().at(err, icmp.innerOff, err.length);
    expect(inner.checkHeader()).toBe(Ipv4Error.None);
    const tcp = new TcpView().at(err, inner.payloadOff, err.length);
    expect([tcp.srcPort, tcp.dstPort, tcp.seq]).toEqual([40001, 443, 1000]);
  });

  it('classifies error and query types', () => {
    const b = Buffer.from(ECHO);
    icmp.at(b, 0, b.length);
    const errors: number[] = [];
    for (let t = 0; t < 256; t++) { icmp.type = t; if (icmp.isError) errors.push(t); }
    expect(errors).toEqual([3, 4, 5, 11, 12]);
    icmp.type = 0;
    expect(icmp.isEcho).toBe(true);
    icmp.type = 13;
    expect(icmp.isEcho).toBe(false);
  });

  it('rejects truncated messages', () => {
    for (let n = 0; n < ICMP_HEADER_LEN; n++) expect(icmp.at(ECHO, 0, n).check()).toBe(IcmpError.Truncated);
    expect(icmp.at(ECHO, 0, 8).check()).toBe(IcmpError.None);
    expect(icmp.innerLen).toBe(0);
  });
});
