import { describe, it, expect } from 'vitest';
import { VnetError, VnetFlags, VnetGso, VnetHdrView, VNET_HDR_LEN } from '../../../src/wire/vnet.js';
import { EthernetView } from '../../../src/wire/ethernet.js';
import { Ipv4View } from '../../../src/wire/ipv4.js';
import { TcpView } from '../../../src/wire/tcp.js';
import { UdpView } from '../../../src/wire/udp.js';
import { internetChecksum, partialChecksumUpdate16, partialChecksumUpdate32 } from '../../../src/wire/checksum.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { ethIpv4Tcp, ethIpv4Udp, placeInArena, withPartialCsum, withVnetHdr } from '../../helpers/frames.js';

// A TSO super-frame header as a guest would send it: NEEDS_CSUM, GSO TCPv4 +
// ECN, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16, little-endian.
const HDR = Buffer.from('01' + '81' + '4200' + 'a805' + '2200' + '1000', 'hex');

describe('VnetHdrView', () => {
  const v = new VnetHdrView();

  it('deconstructs little-endian fields', () => {
    const frame = Buffer.concat([HDR, Buffer.alloc(66)]);
    v.at(frame, 0, frame.length);
    expect(v.check()).toBe(VnetError.None);
    expect(v.flags).toBe(VnetFlags.NEEDS_CSUM);
    expect(v.needsCsum).toBe(true);
    expect(v.dataValid).toBe(false);
    expect(v.gsoType).toBe(VnetGso.TCPV4 | VnetGso.ECN);
    expect(v.isGso).toBe(true);
    expect(v.hdrLen).toBe(66);
    expect(v.gsoSize).toBe(1448);
    expect(v.csumStart).toBe(34);
    expect(v.csumOffset).toBe(16);
    expect(v.frameOff).toBe(10);
    expect(v.csumFieldOff).toBe(10 + 34 + 16);
  });

  it('constructs the same bytes with setters and clears', () => {
    const b = Buffer.alloc(VNET_HDR_LEN + 66, 0x55);
    v.at(b, 0, b.length);
    v.flags = VnetFlags.NEEDS_CSUM; v.gsoType = VnetGso.TCPV4 | VnetGso.ECN;
    v.hdrLen = 66; v.gsoSize = 1448; v.csumStart = 34; v.csumOffset = 16;
    expect(b.subarray(0, 10).equals(HDR)).toBe(true);
    v.clear();
    expect(b.subarray(0, 10).equals(Buffer.alloc(10))).toBe(true);
    expect(b[10]).toBe(0x55);
    expect(v.isGso).toBe(false);
    expect(v.check()).toBe(VnetError.None);
  });

  it('checks gso_type and the checksum field position', () => {
    const b = Buffer.concat([HDR, Buffer.alloc(66)]);
    v.at(b, 0, b.length);
    for (const g of [0, 1, 3, 4, 5, 0x81, 0x84]) { v.gsoType = g; expect(v.check()).toBe(VnetError.None); }
    for (const g of [2, 6, 0x7f, 0x82]) { v.gsoType = g; expect(v.check()).toBe(VnetError.BadGsoType); }
    v.gsoType = 0;
    v.csumOffset = 6 + 66 - 34 - 1; // field would straddle end
    expect(v.check()).toBe(VnetError.BadCsumOffset);
    v.flags = VnetFlags.DATA_VALID; // offsets unused without NEEDS_CSUM
    expect(v.check()).toBe(VnetError.None);
    for (let n = 0; n < VNET_HDR_LEN; n++) expect(v.at(b, 0, n).check()).toBe(VnetError.Truncated);
  });

  it('finishes a NEEDS_CSUM UDP frame after a NAT rewrite of the partial sum', () => {
    const f = withPartialCsum(ethIpv4Udp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 1234, dport: 53, payload: 'hello' }));
    const arena = placeInArena(f, 64);
    v.at(arena, 64, 64 + f.length);
    expect(v.check()).toBe(VnetError.None);
    expect(v.needsCsum).toBe(true);
    const ip = new Ipv4View().at(arena, new EthernetView().at(arena, v.frameOff, v.end).payloadOff, v.end);
    expect(ip.check()).toBe(0);
    const udp = new UdpView().at(arena, ip.payloadOff, ip.packetEnd);
    expect(v.frameOff + v.csumStart).toBe(udp.off);
    expect(v.csumFieldOff).toBe(udp.off + 6);
    // SNAT to 203.0.113.7: the pseudo-header address changes, the port is in the
    // summed range and needs no adjustment of the partial field.
    const newSrc = ipToU32('203.0.113.7');
    udp.checksum = partialChecksumUpdate32(udp.checksum, ip.src, newSrc);
    ip.src = newSrc;
    ip.fillChecksum();
    udp.srcPort = 40000;
    // What the kernel/NIC does at tx: sum from csum_start with the field in place.
    const c = internetChecksum(arena, v.frameOff + v.csumStart, ip.packetEnd - (v.frameOff + v.csumStart));
    udp.checksum = c === 0 ? 0xffff : c;
    expect(udp.verifyChecksum4(ip.src, ip.dst)).toBe(true);
  });

  it('partial sums follow a length change (GSO segmentation of the pseudo-header)', () => {
    const f = withPartialCsum(ethIpv4Tcp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 1, dport: 2, payload: Buffer.alloc(100, 3) }));
    v.at(f, 0, f.length);
    const ip = new Ipv4View().at(f, v.frameOff + 14, f.length);
    const tcp = new TcpView().at(f, ip.payloadOff, ip.packetEnd);
    const full = tcp.checksum;
    const shorter = partialChecksumUpdate16(full, tcp.end - tcp.off, tcp.end - tcp.off - 50);
    tcp.at(f, ip.payloadOff, ip.packetEnd - 50).fillPartialChecksum4(ip.src, ip.dst);
    expect(tcp.checksum).toBe(shorter);
  });

  it('agrees with the builder', () => {
    const f = withVnetHdr(Buffer.alloc(60), { flags: 2, gsoType: 4, hdrLen: 86, gsoSize: 1428, csumStart: 54, csumOffset: 16 });
    v.at(f, 0, f.length);
    expect([v.dataValid, v.gsoType, v.hdrLen, v.gsoSize, v.csumStart, v.csumOffset]).toEqual([true, 4, 86, 1428, 54, 16]);
  });
});
