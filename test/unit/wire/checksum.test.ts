import { describe, it, expect } from 'vitest';
import {
  checksumUpdate16, checksumUpdate32, internetChecksum, l4Checksum4, onesSum,
  partialChecksumUpdate16, partialChecksumUpdate32, pseudoHeaderSum4, pseudoHeaderSum6,
} from '../../../src/wire/checksum.js';
import { Ipv4View } from '../../../src/wire/ipv4.js';
import { TcpView } from '../../../src/wire/tcp.js';
import { UdpView } from '../../../src/wire/udp.js';
import { ipToU32, parseIpv6 } from '../../../src/wire/addr.js';
import { mulberry32, refChecksum, refSum } from '../../helpers/frames.js';

describe('onesSum / internetChecksum', () => {
  it('matches the worked example in RFC 1071 §3', () => {
    const words = Buffer.from('0001f203f4f5f6f7', 'hex');
    expect(onesSum(words, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(words, 0, 8)).toBe(0x220d);
  });

  it('reads at a non-zero offset inside a larger buffer', () => {
    const arena = Buffer.alloc(64, 0xee);
    Buffer.from('0001f203f4f5f6f7', 'hex').copy(arena, 13);
    expect(internetChecksum(arena, 13, 8)).toBe(0x220d);
    // and through a subarray whose own byteOffset is non-zero
    expect(internetChecksum(arena.subarray(13, 21), 0, 8)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero (RFC 1071 §4.1)', () => {
    const b = Buffer.from('0001f203f4f5f6f7ab', 'hex');
    expect(onesSum(b, 0, 9)).toBe(refSum(b));
    expect(onesSum(b, 0, 9)).toBe(onesSum(Buffer.from('0001f203f4f5f6f7ab00', 'hex'), 0, 10));
  });

  it('verifies the IPv4 header example (checksum 0xb861)', () => {
    const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    expect(internetChecksum(h, 0, 20)).toBe(0xb861);
    h.writeUInt16BE(0xb861, 10);
    expect(onesSum(h, 0, 20)).toBe(0xffff);
  });

  it('takes an initial sum and folds large inputs (a 64 KB super-frame)', () => {
    const rand = mulberry32(7);
    const big = Buffer.alloc(65535 + 1000);
    for (let i = 0; i < big.length; i++) big[i] = rand() & 0xff;
    expect(onesSum(big, 3, 65535)).toBe(refSum(big.subarray(3, 3 + 65535)));
    const all = Buffer.alloc(70000, 0xff);
    expect(onesSum(all, 0, all.length)).toBe(0xffff);
    expect(onesSum(big, 0, 100, 0x1234)).toBe(refSum(big.subarray(0, 100), 0x1234));
    expect(onesSum(big, 0, 0, 0x1234)).toBe(0x1234);
  });

  it('agrees with the reference on random lengths and offsets', () => {
    const rand = mulberry32(1071);
    for (let n = 0; n < 500; n++) {
      const len = rand() % 300;
      const off = rand() % 17;
      const b = Buffer.alloc(off + len + 5);
      for (let i = 0; i < b.length; i++) b[i] = rand() & 0xff;
      const init = rand() & 0xffff;
      expect(onesSum(b, off, len, init)).toBe(refSum(b.subarray(off, off + len), init));
      expect(internetChecksum(b, off, len)).toBe(refChecksum(b.subarray(off, off + len)));
    }
  });
});

describe('incremental update (RFC 1624)', () => {
  it('gives the RFC 1624 §4 result with Eqn. 3', () => {
    // Other header words sum to 0xCD7A; a field changes from 0x5555 to 0x3285:
    // HC = 0xDD2F, and Eqn. 3 yields 0x0000 where Eqn. 2 yields 0xFFFF.
    expect(checksumUpdate16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
    // Back again.
    expect(checksumUpdate16(0x0000, 0x3285, 0x5555)).toBe(0xdd2f);
  });

  it('checksumUpdate32 equals two 16-bit updates', () => {
    const rand = mulberry32(32);
    for (let n = 0; n < 1000; n++) {
      const hc = rand() & 0xffff, o = rand() >>> 0, v = rand() >>> 0;
      const two = checksumUpdate16(checksumUpdate16(hc, o >>> 16, v >>> 16), o & 0xffff, v & 0xffff);
      expect(checksumUpdate32(hc, o, v)).toBe(two);
    }
  });

  it('agrees with full recomputation after random IPv4 header rewrites', () => {
    const rand = mulberry32(0x1624);
    const ip = new Ipv4View();
    const arena = Buffer.alloc(100);
    for (let n = 0; n < 5000; n++) {
      const off = rand() % 40;
      const ihl = 5 + (rand() % 11);
      for (let i = 0; i < ihl * 4; i++) arena[off + i] = rand() & 0xff;
      arena[off] = 0x40 | ihl;
      ip.at(arena, off, off + ihl * 4).fillChecksum();
      // NAT-style rewrites: src, dst, and one random 16-bit word.
      let hc = ip.checksum;
      const newSrc = rand() >>> 0, newDst = rand() >>> 0;
      hc = checksumUpdate32(hc, ip.src, newSrc); ip.src = newSrc;
      hc = checksumUpdate32(hc, ip.dst, newDst); ip.dst = newDst;
      const w = 2 + 2 * (rand() % (ihl * 2 - 1)); // any word but version/IHL
      if (w !== 10) {
        const old16 = arena.readUInt16BE(off + w), new16 = rand() & 0xffff;
        arena.writeUInt16BE(new16, off + w);
        hc = checksumUpdate16(hc, old16, new16);
      }
      ip.checksum = hc;
      const full = refChecksum(Buffer.from(arena.subarray(off, off + ihl * 4)).fill(0, 10, 12));
      expect(hc, `case ${n}`).toBe(full);
      expect(ip.verifyChecksum(), `case ${n}`).toBe(true);
    }
  });

  it('agrees with full recomputation for TCP/UDP with the pseudo-header', () => {
    const rand = mulberry32(0x768);
    const tcp = new TcpView(), udp = new UdpView();
    for (let n = 0; n < 3000; n++) {
      const isTcp = (n & 1) === 0;
      const off = 1 + (rand() % 30);
      const len = (isTcp ? 20 : 8) + (rand() % 200);
      const arena = Buffer.alloc(off + len + 8, 0xee);
      for (let i = 0; i < len; i++) arena[off + i] = rand() & 0xff;
      const src = rand() >>> 0, dst = rand() >>> 0;
      let hc: number;
      if (isTcp) {
        arena[off + 12] = 0x50;
        tcp.at(arena, off, off + len).fillChecksum4(src, dst);
        hc = tcp.checksum;
      } else {
        arena.writeUInt16BE(len, off + 4);
        udp.at(arena, off, off + len).fillChecksum4(src, dst);
        hc = udp.checksum;
      }
      // SNAT: new source address and port.
      const newSrc = rand() >>> 0, newPort = rand() & 0xffff;
      hc = checksumUpdate32(hc, src, newSrc);
      hc = checksumUpdate16(hc, arena.readUInt16BE(off), newPort);
      arena.writeUInt16BE(newPort, off);
      if (!isTcp && hc === 0) hc = 0xffff;
      arena.writeUInt16BE(hc, off + (isTcp ? 16 : 6));
      const ok = isTcp ? tcp.verifyChecksum4(newSrc, dst) : udp.verifyChecksum4(newSrc, dst);
      expect(ok, `case ${n}`).toBe(true);
      const seg = Buffer.from(arena.subarray(off, off + len));
      seg.writeUInt16BE(0, isTcp ? 16 : 6);
      const full = l4Checksum4(seg, 0, len, newSrc, dst, isTcp ? 6 : 17);
      expect(hc % 0xffff, `case ${n}`).toBe(full % 0xffff);
    }
  });
});

describe('pseudo-header sums and partial checksums', () => {
  it('sums the IPv4 pseudo-header like the reference', () => {
    const src = ipToU32('198.18.1.10'), dst = ipToU32('198.18.2.20');
    const ph = Buffer.from('c612010ac61202140006002c', 'hex');
    expect(pseudoHeaderSum4(src, dst, 6, 0x2c)).toBe(refSum(ph));
  });

  it('sums the IPv6 pseudo-header like the reference (RFC 8200 §8.1)', () => {
    const b = Buffer.alloc(50, 0xee);
    b.set(parseIpv6('2001:db8::1'), 3);
    b.set(parseIpv6('2001:db8:1::ff'), 19);
    const ref = Buffer.alloc(40);
    ref.set(parseIpv6('2001:db8::1'), 0);
    ref.set(parseIpv6('2001:db8:1::ff'), 16);
    ref.writeUInt32BE(1234, 32);
    ref[39] = 17;
    expect(pseudoHeaderSum6(b, 3, 19, 17, 1234)).toBe(refSum(ref));
  });

  it('adjusts a NEEDS_CSUM partial checksum when an address changes', () => {
    const rand = mulberry32(0xc5);
    for (let n = 0; n < 2000; n++) {
      const src = rand() >>> 0, dst = rand() >>> 0, len = rand() & 0xffff, proto = n & 1 ? 6 : 17;
      const field = pseudoHeaderSum4(src, dst, proto, len);
      const newSrc = rand() >>> 0, newDst = rand() >>> 0;
      let f = partialChecksumUpdate32(field, src, newSrc);
      f = partialChecksumUpdate32(f, dst, newDst);
      expect(f, `case ${n}`).toBe(pseudoHeaderSum4(newSrc, newDst, proto, len));
      const newLen = rand() & 0xffff;
      expect(partialChecksumUpdate16(f, len, newLen)).toBe(pseudoHeaderSum4(newSrc, newDst, proto, newLen));
    }
  });

  it('a partial checksum, adjusted then finished, verifies', () => {
    const rand = mulberry32(0xf1);
    const tcp = new TcpView();
    for (let n = 0; n < 500; n++) {
      const len = 20 + (rand() % 100);
      const seg = Buffer.alloc(len);
      for (let i = 0; i < len; i++) seg[i] = rand() & 0xff;
      seg[12] = 0x50;
      const src = rand() >>> 0, dst = rand() >>> 0, newDst = rand() >>> 0;
      tcp.at(seg, 0, len).fillPartialChecksum4(src, dst);
      // DNAT on a NEEDS_CSUM frame: adjust the partial sum, not a full checksum.
      tcp.checksum = partialChecksumUpdate32(tcp.checksum, dst, newDst);
      // What the NIC / kernel does later: sum from csum_start with the field in place.
      tcp.checksum = internetChecksum(seg, 0, len);
      expect(tcp.verifyChecksum4(src, newDst), `case ${n}`).toBe(true);
    }
  });
});
