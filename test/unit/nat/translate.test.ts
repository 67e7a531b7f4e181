/**
 * Every NAT rewrite leaves checksums equal to a full recomputation (IPv4
 * header, TCP/UDP with the pseudo-header, ICMP; partial NEEDS_CSUM sums; the
 * quoted packet of an ICMP error).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rewriteAddrPort, rewriteIcmpQuote, readIcmpQuote } from '../../../src/nat/translate.js';
import { ipv4Packet, udpDatagram4, tcpSegment4, icmpMessage, refChecksum, refSum } from '../../helpers/frames.js';
import { u32ToIp } from '../../../src/wire/addr.js';

function l4Valid(pkt: Buffer): boolean {
  const ihl = (pkt[0]! & 15) * 4;
  const proto = pkt[9]!;
  const l4 = pkt.subarray(ihl, pkt.readUInt16BE(2));
  if (proto === 1) return refChecksum(l4) === 0;
  if (proto === 17 && l4.readUInt16BE(6) === 0) return true;
  const ph = Buffer.alloc(12);
  pkt.copy(ph, 0, 12, 20);
  ph[9] = proto;
  ph.writeUInt16BE(l4.length, 10);
  return refChecksum(Buffer.concat([ph, l4])) === 0;
}

const ip = fc.integer({ min: 1, max: 0xfffffffe }).map((n) => u32ToIp(n >>> 0));
const port = fc.integer({ min: 0, max: 65535 });

describe('NAT header rewrites keep checksums exact', () => {
  it('source or destination address and port, TCP/UDP/ICMP echo (property)', () => {
    fc.assert(fc.property(ip, ip, port, port, fc.constantFrom(1, 6, 17), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), port, fc.uint8Array({ maxLength: 64 }),
      (src, dst, sp, dp, proto, rewriteSrc, newAddr, newPort, payload) => {
        const l4 = proto === 6 ? tcpSegment4(src, dst, { sport: sp, dport: dp, payload }) : proto === 17 ? udpDatagram4(src, dst, { sport: sp, dport: dp, payload })
          : icmpMessage({ type: 8, code: 0, id: sp, seq: dp, payload });
        const pkt = ipv4Packet({ src, dst, proto, payload: l4 });
        rewriteAddrPort(pkt, 0, 20, proto, rewriteSrc ? 12 : 16, newAddr >>> 0, newPort, false);
        expect(refChecksum(pkt.subarray(0, 20))).toBe(0);
        expect(l4Valid(pkt)).toBe(true);
        expect(pkt.readUInt32BE(rewriteSrc ? 12 : 16)).toBe(newAddr >>> 0);
        const portAt = proto === 1 ? 24 : rewriteSrc ? 20 : 22;
        expect(pkt.readUInt16BE(portAt)).toBe(newPort);
      }), { numRuns: 2000 });
  });

  it('a partial (NEEDS_CSUM) pseudo-header sum stays the pseudo-header sum of the new addresses', () => {
    fc.assert(fc.property(ip, ip, fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(6, 17), (src, dst, newAddr, proto) => {
      const l4 = proto === 6 ? tcpSegment4(src, dst, { sport: 1, dport: 2 }) : udpDatagram4(src, dst, { sport: 1, dport: 2 });
      const pkt = ipv4Packet({ src, dst, proto, payload: l4 });
      const co = proto === 6 ? 36 : 26;
      const pseudo = (p: Buffer) => {
        const ph = Buffer.alloc(12);
        p.copy(ph, 0, 12, 20);
        ph[9] = proto;
        ph.writeUInt16BE(p.length - 20, 10);
        return refSum(ph);
      };
      pkt.writeUInt16BE(pseudo(pkt), co); // what the kernel leaves in the field with NEEDS_CSUM
      rewriteAddrPort(pkt, 0, 20, proto, 12, newAddr >>> 0, 4000, true);
      expect(pkt.readUInt16BE(co)).toBe(pseudo(pkt));
    }), { numRuns: 1000 });
  });

  it('rewrites the quoted packet of an ICMP error and recomputes the ICMP checksum', () => {
    fc.assert(fc.property(ip, ip, port, port, fc.constantFrom(6, 17), fc.integer({ min: 0, max: 0xffffffff }), port, (a, b, sp, dp, proto, newAddr, newPort) => {
      const inner = ipv4Packet({ src: a, dst: b, proto, payload: proto === 6 ? tcpSegment4(a, b, { sport: sp, dport: dp }) : udpDatagram4(a, b, { sport: sp, dport: dp }) });
      const quote = inner.subarray(0, 28);
      const icmp = icmpMessage({ type: 3, code: 3, rest: 0, payload: quote });
      const pkt = ipv4Packet({ src: b, dst: a, proto: 1, payload: icmp });
      expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, newAddr >>> 0, newPort)).toBe(true);
      expect(refChecksum(pkt.subarray(20))).toBe(0);
      expect(refChecksum(pkt.subarray(28, 48))).toBe(0);
      const q = new Uint32Array(5);
      expect(readIcmpQuote(pkt, 20, pkt.length, q)).toBe(true);
      expect(q[0]).toBe(newAddr >>> 0);
      expect(q[3]).toBe(newPort);
      if (proto === 17) {
        // the quoted UDP header is complete (the quote is the whole 28-byte datagram): its checksum still verifies against the quoted addresses
        const qi = Buffer.from(pkt.subarray(28));
        expect(qi.length).toBe(28);
        expect(l4Valid(qi)).toBe(true);
      }
    }), { numRuns: 1000 });
  });
});

const A = '198.51.100.7', B = '203.0.113.100';
const NEW = 0xcb007105; // 203.0.113.5

/** An ICMP error (type 11) whose quote is `quote` (an IPv4 header and what follows), as a bare IPv4 packet. */
function errorQuoting(quote: Uint8Array): Buffer {
  return ipv4Packet({ src: B, dst: A, proto: 1, payload: icmpMessage({ type: 11, code: 0, rest: 0, payload: quote }) });
}

describe('NAT header rewrites: the cases the property does not reach', () => {
  it('a later fragment (no L4 header): the address and the header checksum change, every other byte stays', () => {
    for (const proto of [6, 17, 1]) {
      const pkt = ipv4Packet({ src: A, dst: B, proto, fragOffset: 1480, id: 0x4242, payload: Buffer.from(Array.from({ length: 40 }, (_, i) => i + 1)) });
      const was = Buffer.from(pkt);
      rewriteAddrPort(pkt, 0, -1, proto, 16, NEW, 4000, false);
      expect(pkt.readUInt32BE(16)).toBe(NEW);
      expect(refChecksum(pkt.subarray(0, 20))).toBe(0);
      const diff = [...pkt].flatMap((v, i) => (v !== was[i] ? [i] : []));
      expect(diff.every((i) => i === 10 || i === 11 || (i >= 16 && i < 20)), `proto ${proto}: bytes ${diff.join(',')}`).toBe(true);
    }
  });

  it('a protocol without a checksum the NAT knows (GRE): only the address and the header checksum change', () => {
    const gre = Buffer.from([0, 0, 0x08, 0, 0x45, 0, 0, 20, 1, 2, 3, 4]);
    const pkt = ipv4Packet({ src: A, dst: B, proto: 47, payload: gre });
    rewriteAddrPort(pkt, 0, 20, 47, 12, NEW, 4000, false);
    expect(pkt.readUInt32BE(12)).toBe(NEW);
    expect(refChecksum(pkt.subarray(0, 20))).toBe(0);
    expect(pkt.subarray(20)).toEqual(gre);
  });

  it('UDP without a checksum (0) keeps none after an address and port rewrite', () => {
    const pkt = ipv4Packet({ src: A, dst: B, proto: 17, payload: udpDatagram4(A, B, { sport: 5353, dport: 53, payload: Buffer.alloc(9, 1), noChecksum: true }) });
    rewriteAddrPort(pkt, 0, 20, 17, 12, NEW, 4000, false);
    expect(pkt.readUInt16BE(26)).toBe(0);
    expect(pkt.readUInt16BE(20)).toBe(4000);
    expect(pkt.readUInt32BE(12)).toBe(NEW);
    expect(refChecksum(pkt.subarray(0, 20))).toBe(0);
  });

  it('a UDP checksum that computes to zero is sent as 0xFFFF (RFC 768), for every new port', () => {
    const base = ipv4Packet({ src: A, dst: B, proto: 17, payload: udpDatagram4(A, B, { sport: 5353, dport: 53, payload: Buffer.from('vpcd') }) });
    let ffff = 0;
    for (let p = 0; p < 65536; p++) {
      const pkt = Buffer.from(base);
      rewriteAddrPort(pkt, 0, 20, 17, 12, NEW, p, false);
      const c = pkt.readUInt16BE(26);
      if (c === 0xffff) ffff++;
      expect(c, `port ${p}`).not.toBe(0);
    }
    // an all-ones checksum is the only form a zero sum can take, and the loop met it
    expect(ffff).toBeGreaterThan(0);
    let pf = -1;
    for (let p = 0; p < 65536 && pf < 0; p++) {
      const pkt = Buffer.from(base);
      rewriteAddrPort(pkt, 0, 20, 17, 12, NEW, p, false);
      if (pkt.readUInt16BE(26) === 0xffff) pf = p;
    }
    const pkt = Buffer.from(base);
    rewriteAddrPort(pkt, 0, 20, 17, 12, NEW, pf, false);
    expect(l4Valid(pkt)).toBe(true);
  });

  it('a port rewritten to the value it has, and an address to the one it has, leave the packet as it was', () => {
    for (const proto of [6, 17, 1]) {
      const l4 = proto === 6 ? tcpSegment4(A, B, { sport: 4000, dport: 53 }) : proto === 17 ? udpDatagram4(A, B, { sport: 4000, dport: 53 }) : icmpMessage({ type: 8, id: 4000, seq: 1 });
      const pkt = ipv4Packet({ src: A, dst: B, proto, payload: l4 });
      const was = Buffer.from(pkt);
      rewriteAddrPort(pkt, 0, 20, proto, 12, 0xc6336407 /* A */, 4000, false);
      expect(pkt).toEqual(was);
    }
  });

  it('a rewrite that changes nothing leaves even a wrong checksum field (0xFFFF) as it was', () => {
    for (const proto of [6, 17]) {
      const l4 = proto === 6 ? tcpSegment4(A, B, { sport: 4000, dport: 53 }) : udpDatagram4(A, B, { sport: 4000, dport: 53 });
      const pkt = ipv4Packet({ src: A, dst: B, proto, payload: l4 });
      pkt.writeUInt16BE(0xffff, 10);
      pkt.writeUInt16BE(0xffff, proto === 6 ? 36 : 26);
      const was = Buffer.from(pkt);
      rewriteAddrPort(pkt, 0, 20, proto, 12, 0xc6336407 /* A */, 4000, false);
      expect(pkt, `proto ${proto}`).toEqual(was);
    }
  });

  it('ICMP echo: the address change leaves the ICMP checksum alone (no pseudo-header); the identifier updates it', () => {
    const pkt = ipv4Packet({ src: A, dst: B, proto: 1, payload: icmpMessage({ type: 8, id: 7, seq: 1, payload: Buffer.from('ping') }) });
    const was = pkt.readUInt16BE(22);
    rewriteAddrPort(pkt, 0, 20, 1, 12, NEW, -1, false);
    expect(pkt.readUInt16BE(22)).toBe(was);
    rewriteAddrPort(pkt, 0, 20, 1, 16, NEW, 9, false);
    expect(pkt.readUInt16BE(24)).toBe(9);
    expect(refChecksum(pkt.subarray(20))).toBe(0);
  });
});

describe('ICMP error quotes', () => {
  const udp = (o: { sport: number; dport: number; noChecksum?: boolean }) => ipv4Packet({ src: A, dst: B, proto: 17, payload: udpDatagram4(A, B, { ...o, payload: Buffer.alloc(4, 9) }) });

  it('too short to rewrite (under 20 bytes, a header length under 20 or past the end): false, and nothing changes', () => {
    const full = udp({ sport: 5353, dport: 53 });
    const badIhl = Buffer.from(full);
    badIhl[0] = 0x44;
    const longIhl = Buffer.from(full.subarray(0, 20));
    longIhl[0] = 0x46; // 24 bytes of header claimed, 20 quoted
    for (const quote of [full.subarray(0, 19), badIhl.subarray(0, 28), longIhl]) {
      const pkt = errorQuoting(quote);
      const was = Buffer.from(pkt);
      expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, NEW, 4000)).toBe(false);
      expect(pkt).toEqual(was);
      expect(readIcmpQuote(pkt, 20, pkt.length, new Uint32Array(5))).toBe(false);
    }
  });

  it('a quote of the IP header alone: the quoted address and its header checksum change, the ICMP checksum is recomputed, no port', () => {
    const pkt = errorQuoting(udp({ sport: 5353, dport: 53 }).subarray(0, 24));
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, NEW, 4000)).toBe(true);
    expect(pkt.readUInt32BE(28 + 12)).toBe(NEW);
    expect(refChecksum(pkt.subarray(28, 48))).toBe(0);
    expect(pkt.readUInt16BE(48)).toBe(5353); // 4 bytes after the header: the port stays
    expect(refChecksum(pkt.subarray(20))).toBe(0);
    // readIcmpQuote needs 8 bytes after the quoted header
    expect(readIcmpQuote(pkt, 20, pkt.length, new Uint32Array(5))).toBe(false);
  });

  it('a quote of exactly the quoted IP header (20 bytes) is rewritten: address and header checksum', () => {
    const pkt = errorQuoting(udp({ sport: 5353, dport: 53 }).subarray(0, 20));
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 16, NEW, 4000)).toBe(true);
    expect(pkt.readUInt32BE(28 + 16)).toBe(NEW);
    expect(refChecksum(pkt.subarray(28, 48))).toBe(0);
    expect(refChecksum(pkt.subarray(20))).toBe(0);
  });

  it('a quoted TCP header cut right after its checksum (18 bytes) gets the same checksum as the whole header', () => {
    const seg = ipv4Packet({ src: A, dst: B, proto: 6, payload: tcpSegment4(A, B, { sport: 40000, dport: 443, seq: 5 }) });
    const cut = errorQuoting(seg.subarray(0, 38));
    const whole = errorQuoting(seg);
    expect(rewriteIcmpQuote(cut, 20, cut.length, 12, NEW, 4000)).toBe(true);
    expect(rewriteIcmpQuote(whole, 20, whole.length, 12, NEW, 4000)).toBe(true);
    expect(cut.readUInt16BE(48 + 16)).toBe(whole.readUInt16BE(48 + 16));
    expect(cut.readUInt16BE(48 + 16)).not.toBe(seg.readUInt16BE(36));
  });

  it('a quoted UDP datagram without a checksum keeps none; the destination side rewrites the destination port', () => {
    const pkt = errorQuoting(udp({ sport: 5353, dport: 53, noChecksum: true }).subarray(0, 28));
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 16, NEW, 4000)).toBe(true);
    expect(pkt.readUInt32BE(28 + 16)).toBe(NEW);
    expect(pkt.readUInt16BE(48)).toBe(5353);
    expect(pkt.readUInt16BE(50)).toBe(4000);
    expect(pkt.readUInt16BE(54)).toBe(0);
    expect(refChecksum(pkt.subarray(20))).toBe(0);
  });

  it('a quoted TCP header: its checksum is updated only when quoted (20 bytes), and then verifies', () => {
    const seg = ipv4Packet({ src: A, dst: B, proto: 6, payload: tcpSegment4(A, B, { sport: 40000, dport: 443, seq: 5 }) });
    const short = errorQuoting(seg.subarray(0, 28));
    expect(rewriteIcmpQuote(short, 20, short.length, 12, NEW, 4000)).toBe(true);
    expect(short.readUInt16BE(48)).toBe(4000);
    expect(refChecksum(short.subarray(20))).toBe(0);
    const whole = errorQuoting(seg);
    expect(rewriteIcmpQuote(whole, 20, whole.length, 12, NEW, 4000)).toBe(true);
    expect(whole.readUInt16BE(48)).toBe(4000);
    expect(l4Valid(Buffer.from(whole.subarray(28)))).toBe(true);
    expect(refChecksum(whole.subarray(20))).toBe(0);
    // 17 bytes of TCP header: the port is there, the checksum field (16-17) is not whole
    const cut = errorQuoting(seg.subarray(0, 37));
    expect(rewriteIcmpQuote(cut, 20, cut.length, 12, NEW, 4000)).toBe(true);
    expect(cut.readUInt16BE(48)).toBe(4000);
    expect(cut.subarray(48 + 4, 48 + 17)).toEqual(seg.subarray(24, 37));
  });

  it('a quoted echo request: its identifier and (quoted) checksum, read back as (identifier, type << 8 | code)', () => {
    const echo = ipv4Packet({ src: A, dst: B, proto: 1, payload: icmpMessage({ type: 8, code: 0, id: 7, seq: 3 }) });
    const pkt = errorQuoting(echo);
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, NEW, 4000)).toBe(true);
    expect(pkt.readUInt16BE(48 + 4)).toBe(4000);
    expect(refChecksum(pkt.subarray(48))).toBe(0);
    expect(refChecksum(pkt.subarray(20))).toBe(0);
    const q = new Uint32Array(5);
    expect(readIcmpQuote(pkt, 20, pkt.length, q)).toBe(true);
    expect([...q]).toEqual([NEW, 0xcb007164, 1, 4000, 8 << 8]);
  });

  it('a quoted packet of another protocol: address only; read back with ports 0', () => {
    const gre = ipv4Packet({ src: A, dst: B, proto: 47, payload: Buffer.from([0, 0, 8, 0, 1, 2, 3, 4]) });
    const pkt = errorQuoting(gre);
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 16, NEW, 4000)).toBe(true);
    expect(pkt.subarray(48)).toEqual(gre.subarray(20));
    const q = new Uint32Array([9, 9, 9, 9, 9]);
    expect(readIcmpQuote(pkt, 20, pkt.length, q)).toBe(true);
    expect([...q]).toEqual([0xc6336407, NEW, 47, 0, 0]);
  });

  it('reads a quote with IP options at its own header length', () => {
    const opt = ipv4Packet({ src: A, dst: B, proto: 17, options: [1, 1, 1, 1], payload: udpDatagram4(A, B, { sport: 1111, dport: 2222 }) });
    const pkt = errorQuoting(opt.subarray(0, 32));
    const q = new Uint32Array(5);
    expect(readIcmpQuote(pkt, 20, pkt.length, q)).toBe(true);
    expect([...q]).toEqual([0xc6336407, 0xcb007164, 17, 1111, 2222]);
    expect(readIcmpQuote(pkt, 20, pkt.length - 1, q)).toBe(false);
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, NEW, 4000)).toBe(true);
    expect(pkt.readUInt16BE(28 + 24)).toBe(4000);
  });
});

/** A TCP segment from A to B whose correct checksum is 0: two payload bytes chosen to make the sum all ones. */
function tcpWithZeroChecksum(): Buffer {
  const probe = tcpSegment4(A, B, { sport: 40000, dport: 443, seq: 5, payload: Buffer.alloc(2) });
  const c = probe.readUInt16BE(16);
  const seg = tcpSegment4(A, B, { sport: 40000, dport: 443, seq: 5, payload: Buffer.from([c >> 8, c & 0xff]) });
  expect(seg.readUInt16BE(16)).toBe(0);
  return ipv4Packet({ src: A, dst: B, proto: 6, payload: seg });
}

describe('NAT rewrites: only UDP gives 0 a meaning, and only the message is summed', () => {
  it('a TCP checksum of 0 is a real checksum: it is updated, and verifies after the rewrite', () => {
    const pkt = tcpWithZeroChecksum();
    expect(l4Valid(pkt)).toBe(true);
    rewriteAddrPort(pkt, 0, 20, 6, 12, NEW, 4000, false);
    expect(pkt.readUInt16BE(36)).not.toBe(0);
    expect(l4Valid(pkt)).toBe(true);
  });

  it('a TCP checksum that computes to 0 stays 0, as a full recomputation gives it (0xFFFF is UDP\'s form only)', () => {
    const base = ipv4Packet({ src: A, dst: B, proto: 6, payload: tcpSegment4(A, B, { sport: 40000, dport: 443, payload: Buffer.from('vpcd') }) });
    let zero = -1;
    for (let p = 0; p < 65536; p++) {
      const pkt = Buffer.from(base);
      rewriteAddrPort(pkt, 0, 20, 6, 12, NEW, p, false);
      const c = pkt.readUInt16BE(36);
      // a full computation is ~sum, and the sum is never 0 (the pseudo-header holds protocol 6)
      expect(c, `port ${p}`).not.toBe(0xffff);
      if (c === 0) zero = p;
    }
    expect(zero).toBeGreaterThanOrEqual(0);
    const pkt = Buffer.from(base);
    rewriteAddrPort(pkt, 0, 20, 6, 12, NEW, zero, false);
    expect(l4Valid(pkt)).toBe(true);
  });

  it('a quoted TCP header whose checksum is 0 is updated like any other', () => {
    const seg = tcpWithZeroChecksum();
    const pkt = errorQuoting(seg);
    expect(rewriteIcmpQuote(pkt, 20, pkt.length, 12, NEW, 4000)).toBe(true);
    expect(pkt.readUInt16BE(48 + 16)).not.toBe(0);
    expect(l4Valid(Buffer.from(pkt.subarray(28)))).toBe(true);
  });

  it('an error from a router on the way (its addresses are not the quoted ones): the quoted header checksum verifies for either address', () => {
    const R = '198.18.0.1', C = '198.18.9.9';
    const quote = ipv4Packet({ src: A, dst: B, proto: 17, payload: udpDatagram4(A, B, { sport: 5353, dport: 53 }) });
    for (const addrOff of [12, 16]) {
      // outer: from a router R to C (the caller may already have rewritten the outer destination)
      const pkt = ipv4Packet({ src: R, dst: C, proto: 1, payload: icmpMessage({ type: 11, code: 0, rest: 0, payload: quote }) });
      expect(rewriteIcmpQuote(pkt, 20, pkt.length, addrOff, NEW, 4000)).toBe(true);
      expect(pkt.readUInt32BE(28 + addrOff)).toBe(NEW);
      expect(refChecksum(pkt.subarray(28, 48)), `offset ${addrOff}`).toBe(0);
      expect(l4Valid(Buffer.from(pkt.subarray(28)))).toBe(true);
      expect(refChecksum(pkt.subarray(20))).toBe(0);
    }
  });

  it('the ICMP checksum covers the message only, not the bytes after it in the buffer', () => {
    const pkt = errorQuoting(ipv4Packet({ src: A, dst: B, proto: 17, payload: udpDatagram4(A, B, { sport: 5353, dport: 53 }) }));
    const big = Buffer.concat([pkt, Buffer.alloc(pkt.length * 2, 0x5a)]); // e.g. the next frame of a batch
    expect(rewriteIcmpQuote(big, 20, pkt.length, 12, NEW, 4000)).toBe(true);
    expect(refChecksum(big.subarray(20, pkt.length))).toBe(0);
  });
});
