/**
 * UDP 4500 helpers (RFC 3948), tunnel MTU/MSS arithmetic, and the MSS clamp
 * whose incremental checksum update (RFC 1624) must equal a full
 * recomputation (seeded property over random SYNs and option layouts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  classifyUdpEncap, clampTcpMss, EspError, espDecrypt, espDropReason, espEncrypt, espLength, isEspInUdp,
  outerHeaderLen, tunnelMss, tunnelMtu, UdpEncapKind, writeOuterHeaders, writeUdpEncapHeaders,
} from '../../../src/ipsec/esp.js';
import { SaTable } from '../../../src/ipsec/sa-table.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { ipv4Packet as ipv4Frame, refChecksum, tcpSegment4, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { ipv4Packet, makeChildSa, mirror } from './helpers.js';

describe('UDP encapsulation (RFC 3948)', () => {
  it('classifies UDP 4500 payloads by their first bytes', () => {
    const b = Buffer.from([0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(classifyUdpEncap(b, 0, 9)).toBe(UdpEncapKind.Ike); // non-ESP marker
    expect(classifyUdpEncap(b, 0, 4)).toBe(UdpEncapKind.Ike);
    expect(classifyUdpEncap(b, 1, 8)).toBe(UdpEncapKind.Esp); // 00 00 00 11: SPI != 0
    expect(isEspInUdp(b, 1, 8)).toBe(true);
    expect(isEspInUdp(b, 0, 9)).toBe(false);
    expect(classifyUdpEncap(b, 4, 5)).toBe(UdpEncapKind.Invalid); // SPI without a sequence number
    expect(classifyUdpEncap(Buffer.from([0xff]), 0, 1)).toBe(UdpEncapKind.Keepalive);
    expect(classifyUdpEncap(Buffer.from([0xfe]), 0, 1)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 0, 0)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 0, 3)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 6, 8)).toBe(UdpEncapKind.Invalid); // past the buffer
  });

  it('writes outer IPv4 (DF clear, valid checksum) + UDP (checksum 0) headers', () => {
    const out = Buffer.alloc(100, 0xee);
    const n = writeUdpEncapHeaders(out, 6, 0xc6336402, 0xc6336401, 4500, 4500, 1436, 64);
    expect(n).toBe(28);
    const ip = out.subarray(6, 26);
    expect(ip[0]).toBe(0x45);
    expect(ip.readUInt16BE(2)).toBe(20 + 8 + 1436);
    expect(ip.readUInt16BE(6)).toBe(0); // DF clear, no fragment
    expect(ip[8]).toBe(64);
    expect(ip[9]).toBe(17);
    expect(ip.readUInt32BE(12)).toBe(0xc6336402);
    expect(ip.readUInt32BE(16)).toBe(0xc6336401);
    expect(internetChecksum(out, 6, 20)).toBe(0);
    expect(out.readUInt16BE(26)).toBe(4500);
    expect(out.readUInt16BE(28)).toBe(4500);
    expect(out.readUInt16BE(30)).toBe(8 + 1436);
    expect(out.readUInt16BE(32)).toBe(0);
    expect(out[5]).toBe(0xee);
    const id1 = ip.readUInt16BE(4);
    writeUdpEncapHeaders(out, 6, 1, 2, 4500, 4500, 100, 64);
    expect(out.readUInt16BE(10)).not.toBe(id1); // a fresh Identification per packet
  });

  it('a whole ESP-in-UDP datagram for an SA: outer headers + ESP decrypt on the peer', () => {
    const child = makeChildSa('aes256gcm16');
    const t = new SaTable({ backend: 'node' });
    const sa = t.install(child);
    const peer = new SaTable({ backend: 'node' });
    peer.install(mirror(child));
    const frame = Buffer.alloc(1600);
    const inner = ipv4Packet(1200);
    const hl = outerHeaderLen(sa);
    const espLen = espEncrypt(sa, inner, 0, 1200, frame, hl);
    expect(writeOuterHeaders(frame, 0, sa, espLen)).toBe(28);
    expect(frame.readUInt32BE(12)).toBe(child.local.addr);
    expect(frame.readUInt16BE(22)).toBe(child.peer.port);
    expect(isEspInUdp(frame, 28, espLen)).toBe(true);
    const back = Buffer.alloc(1600);
    expect(espDecrypt(peer, frame, 28, frame.readUInt16BE(24) - 8, back, 0)).toBe(1200);
    // without encapsulation: IPv4 protocol 50
    const raw = t.install(makeChildSa('aes256gcm16', { encap: false, local: { addr: 1, port: 0 }, peer: { addr: 2, port: 0 } }));
    expect(outerHeaderLen(raw)).toBe(20);
    expect(writeOuterHeaders(frame, 0, raw, 100)).toBe(20);
    expect(frame[9]).toBe(50);
    expect(internetChecksum(frame, 0, 20)).toBe(0);
  });

  it('maps error codes to drop reasons', () => {
    expect(espDropReason(EspError.Replay)).toBe(DropReason.EspReplay);
    expect(espDropReason(EspError.Auth)).toBe(DropReason.EspAuth);
    expect(espDropReason(EspError.NoSa)).toBe(DropReason.EspNoSa);
    expect(espDropReason(EspError.BadNextHeader)).toBe(DropReason.Malformed);
    expect(espDropReason(EspError.Dummy)).toBe(DropReason.None);
  });
});

describe('tunnel MTU and MSS', () => {
  it('1500-byte outer MTU: GCM in UDP 1438, CBC/SHA-256 1422, CBC/SHA-384 1422, GCM without UDP 1446', () => {
    const t = new SaTable({ backend: 'node' });
    const gcm = t.install(makeChildSa('aes256gcm16'));
    const cbc = t.install(makeChildSa('aes256-sha256'));
    const sha1 = t.install(makeChildSa('aes128-sha1'));
    const raw = t.install(makeChildSa('aes256gcm16', { encap: false }));
    expect(tunnelMtu(gcm)).toBe(1438);
    expect(tunnelMtu(cbc)).toBe(1422);
    expect(tunnelMtu(sha1)).toBe(1422); // 12-byte ICV, same 16-byte block boundary
    expect(tunnelMtu(t.install(makeChildSa('aes256-sha384')))).toBe(1422); // 24-byte ICV: room 1424 is already a block multiple
    expect(tunnelMtu(raw)).toBe(1446);
    expect(tunnelMss(gcm)).toBe(1398);
    expect(tunnelMtu(gcm, 60)).toBe(0);
    for (const sa of [gcm, cbc, sha1, raw]) {
      for (const outer of [576, 1280, 1400, 1500, 9000]) {
        const m = tunnelMtu(sa, outer);
        // the largest inner packet fits exactly, one more byte does not
        expect(outerHeaderLen(sa) + espLength(sa, m)).toBeLessThanOrEqual(outer);
        expect(outerHeaderLen(sa) + espLength(sa, m + 1)).toBeGreaterThan(outer);
      }
    }
  });
});

describe('clampTcpMss', () => {
  const src = '198.18.1.10';
  const dst = '198.19.2.20';

  function syn(mss: number | undefined, flags = TCP_SYN, options?: number[]): Buffer {
    const seg = tcpSegment4(src, dst, { sport: 40000, dport: 443, flags, ...(mss === undefined ? {} : { mss }), ...(options === undefined ? {} : { options }) });
    return ipv4Frame({ src, dst, proto: 6, payload: seg });
  }
  const tcpOk = (p: Buffer): boolean => {
    // full recomputation: sum over the segment with its pseudo-header is 0xFFFF
    const seg = p.subarray(20);
    const ph = Buffer.alloc(12);
    p.copy(ph, 0, 12, 20);
    ph[9] = 6;
    ph.writeUInt16BE(seg.length, 10);
    return refChecksum(Buffer.concat([ph, seg])) === 0;
  };

  it('lowers a larger MSS with a valid checksum, leaves smaller ones and non-SYNs', () => {
    const p = syn(1460);
    expect(clampTcpMss(p, 0, 20, p.length - 20, 1398, false)).toBe(true);
    expect(p.readUInt16BE(22 + 20)).toBe(1398);
    expect(tcpOk(p)).toBe(true);
    const small = syn(1200);
    expect(clampTcpMss(small, 0, 20, small.length - 20, 1398, false)).toBe(false);
    expect(small.readUInt16BE(42)).toBe(1200);
    const ack = syn(1460, TCP_ACK);
    expect(clampTcpMss(ack, 0, 20, ack.length - 20, 1398, false)).toBe(false);
    const synAck = syn(8960, TCP_SYN | TCP_ACK);
    expect(clampTcpMss(synAck, 0, 20, synAck.length - 20, 1398, false)).toBe(true);
    expect(tcpOk(synAck)).toBe(true);
    const none = syn(undefined);
    expect(clampTcpMss(none, 0, 20, none.length - 20, 1398, false)).toBe(false);
  });

  it('partial checksum: rewrites the option, leaves the pseudo-header field alone', () => {
    const p = syn(1460);
    p.writeUInt16BE(0x1234, 36);
    expect(clampTcpMss(p, 0, 20, p.length - 20, 1398, true)).toBe(true);
    expect(p.readUInt16BE(42)).toBe(1398);
    expect(p.readUInt16BE(36)).toBe(0x1234);
  });

  it('ignores non-TCP, non-first fragments and truncated or garbage segments without throwing', () => {
    const p = syn(1460);
    const udp = Buffer.from(p);
    udp[9] = 17;
    expect(clampTcpMss(udp, 0, 20, udp.length - 20, 1000, false)).toBe(false);
    const frag = Buffer.from(p);
    frag.writeUInt16BE(0x0001, 6);
    expect(clampTcpMss(frag, 0, 20, frag.length - 20, 1000, false)).toBe(false);
    expect(clampTcpMss(p, 0, 20, 10, 1000, false)).toBe(false);
    expect(clampTcpMss(p, 0, 20, 500, 1000, false)).toBe(false);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -3, max: 90 }), fc.integer({ min: -3, max: 90 }),
      (b, off, len) => {
        expect(typeof clampTcpMss(Buffer.from(b), 0, off, len, 1000, false)).toBe('boolean');
      }), { seed: 1624, numRuns: 300 });
  });

  it('incremental update equals full recomputation (seeded property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 536, max: 65535 }),
        fc.integer({ min: 500, max: 65535 }),
        fc.array(fc.constantFrom([1], [4, 2], [3, 3, 7], [8, 10, 1, 2, 3, 4, 5, 6, 7, 8]), { maxLength: 3 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (mss, clamp, opts, payload, seq) => {
          const seg = tcpSegment4(src, dst, { sport: 1234, dport: 80, flags: TCP_SYN, seq, mss, options: opts.flat(), payload });
          const p = ipv4Frame({ src, dst, proto: 6, payload: seg });
          const changed = clampTcpMss(p, 0, 20, p.length - 20, clamp, false);
          expect(changed).toBe(mss > clamp);
          expect(p.readUInt16BE(42)).toBe(Math.min(mss, clamp));
          expect(tcpOk(p)).toBe(true);
        },
      ),
      { seed: 0x1624, numRuns: 500 },
    );
  });
});
