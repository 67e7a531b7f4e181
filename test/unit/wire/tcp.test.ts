import { describe, it, expect } from 'vitest';
import { TcpError, TcpFlags, TcpView, TCP_MIN_HEADER_LEN } from '../../../src/wire/tcp.js';
import { Ipv4View } from '../../../src/wire/ipv4.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { ethIpv4Tcp, placeInArena, TCP_ACK, TCP_PSH, TCP_SYN } from '../../helpers/frames.js';

const SRC = ipToU32('198.18.1.10'), DST = ipToU32('198.18.2.20');
// SYN 198.18.1.10:40000 -> 198.18.2.20:80, seq 0x01020304, window 64240, options
// MSS 1460, SACK-permitted, timestamps (0x1234, 0), NOP, window scale 7
// (Linux's usual SYN layout), checksum 0x0b02.
const SYN = Buffer.from(
  '9c40' + '0050' + '01020304' + '00000000' + 'a0' + '02' + 'faf0' + '0b02' + '0000' +
  '020405b4' + '0402' + '080a0000123400000000' + '01' + '030307', 'hex');

describe('TcpView', () => {
  const tcp = new TcpView();

  it('deconstructs a SYN with options', () => {
    tcp.at(SYN, 0, SYN.length);
    expect(tcp.check()).toBe(TcpError.None);
    expect(tcp.srcPort).toBe(40000);
    expect(tcp.dstPort).toBe(80);
    expect(tcp.seq).toBe(0x01020304);
    expect(tcp.ack).toBe(0);
    expect(tcp.headerLen).toBe(40);
    expect(tcp.dataOff).toBe(40);
    expect(tcp.dataLen).toBe(0);
    expect(tcp.flags).toBe(TcpFlags.SYN);
    expect(tcp.window).toBe(64240);
    expect(tcp.checksum).toBe(0x0b02);
    expect(tcp.urgentPointer).toBe(0);
    expect(tcp.verifyChecksum4(SRC, DST)).toBe(true);
    expect(tcp.verifyChecksum4(SRC, DST + 1)).toBe(false);
  });

  it('finds and rewrites the MSS option (clamping) keeping the checksum valid', () => {
    const b = Buffer.from(SYN);
    tcp.at(b, 0, b.length);
    const o = tcp.findMssOption();
    expect(o).toBe(20);
    expect(tcp.mssAt(o)).toBe(1460);
    tcp.setMss(o, 1360, false);
    expect(tcp.mssAt(o)).toBe(1360);
    expect(tcp.verifyChecksum4(SRC, DST)).toBe(true);
  });

  it('leaves a partial (NEEDS_CSUM) checksum alone when rewriting MSS', () => {
    const b = Buffer.from(SYN);
    tcp.at(b, 0, b.length).fillPartialChecksum4(SRC, DST);
    const before = tcp.checksum;
    tcp.setMss(tcp.findMssOption(), 1200, true);
    expect(tcp.checksum).toBe(before);
    tcp.checksum = internetChecksum(b, 0, b.length); // finish as the NIC would
    expect(tcp.verifyChecksum4(SRC, DST)).toBe(true);
  });

  it('walks NOPs and other options before MSS, and reports absence', () => {
    const mk = (opts: number[]): Buffer => {
      const padded = [...opts];
      while (padded.length % 4 !== 0) padded.push(0);
      const h = Buffer.alloc(20 + padded.length);
      h[12] = ((20 + padded.length) / 4) << 4;
      Buffer.from(padded).copy(h, 20);
      return h;
    };
    const find = (opts: number[]): number => { const h = mk(opts); return tcp.at(h, 0, h.length).findMssOption(); };
    expect(find([1, 1, 4, 2, 2, 4, 5, 0xb4])).toBe(24);
    expect(find([3, 3, 7, 1])).toBe(-1); // no MSS
    expect(find([0, 0, 0, 0, 2, 4, 5, 0xb4])).toBe(-1); // after End
    expect(find([2, 3, 5, 0])).toBe(-1); // MSS with length 3
    expect(find([8, 1, 2, 4, 5, 0xb4, 0, 0])).toBe(-1); // bad length 1 stops the walk
    expect(find([8, 10, 0, 0, 0, 0, 0, 0])).toBe(-1); // option runs past the header
    expect(find([1, 1, 1, 2])).toBe(-1); // kind with no room for its length
    expect(find([])).toBe(-1);
  });

  it('constructs the SYN from setters', () => {
    const b = Buffer.alloc(40);
    SYN.copy(b, 20, 20); // options
    tcp.at(b, 0, 40);
    b[12] = 0xa0;
    tcp.srcPort = 40000; tcp.dstPort = 80; tcp.seq = 0x01020304; tcp.ack = 0;
    tcp.flags = TcpFlags.SYN; tcp.window = 64240; tcp.urgentPointer = 0;
    tcp.fillChecksum4(SRC, DST);
    expect(b.equals(SYN)).toBe(true);
  });

  it('exposes flag constants that combine', () => {
    expect(TcpFlags.SYN | TcpFlags.ACK).toBe(0x12);
    expect([TcpFlags.FIN, TcpFlags.RST, TcpFlags.PSH, TcpFlags.URG, TcpFlags.ECE, TcpFlags.CWR])
      .toEqual([0x01, 0x04, 0x08, 0x20, 0x40, 0x80]);
  });

  it('agrees with the frame builder, data and all, at a non-zero offset', () => {
    const f = ethIpv4Tcp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 80,
      flags: TCP_PSH | TCP_ACK, seq: 0xfffffff0, ack: 0x80000000, payload: 'GET / HTTP/1.0\r\n\r\n' });
    const arena = placeInArena(f, 9, 30);
    const ip = new Ipv4View().at(arena, 9 + 14, arena.length);
    tcp.at(arena, ip.payloadOff, ip.packetEnd);
    expect(tcp.check()).toBe(TcpError.None);
    expect(tcp.seq).toBe(0xfffffff0);
    expect(tcp.ack).toBe(0x80000000);
    expect(tcp.flags).toBe(TcpFlags.PSH | TcpFlags.ACK);
    expect(tcp.dataLen).toBe(18);
    expect(arena.toString('latin1', tcp.dataOff, tcp.dataOff + 4)).toBe('GET ');
    expect(tcp.findMssOption()).toBe(-1);
    expect(tcp.verifyChecksum4(ip.src, ip.dst)).toBe(true);
    const syn = ethIpv4Tcp({ src: '198.18.1.10', dst: '198.18.2.20', sport: 1, dport: 2, flags: TCP_SYN, mss: 8961 });
    tcp.at(syn, 34, syn.length);
    expect(tcp.mssAt(tcp.findMssOption())).toBe(8961);
  });

  it('rejects truncated segments and bad data offsets', () => {
    for (let n = 0; n < TCP_MIN_HEADER_LEN; n++) expect(tcp.at(SYN, 0, n).check()).toBe(TcpError.Truncated);
    expect(tcp.at(SYN, 0, 39).check()).toBe(TcpError.BadHeaderLen); // options cut
    const b = Buffer.from(SYN);
    b[12] = 0x40; // 16 bytes
    expect(tcp.at(b, 0, b.length).check()).toBe(TcpError.BadHeaderLen);
    b[12] = 0xf0; // 60 bytes > 40
    expect(tcp.check()).toBe(TcpError.BadHeaderLen);
    b[12] = 0x50;
    expect(tcp.check()).toBe(TcpError.None);
    expect(tcp.dataLen).toBe(20);
  });
});
