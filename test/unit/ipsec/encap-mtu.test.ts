/**
 * UDP 4500 (RFC 3948): payload classification and the UDP header in front of
 * ESP; a whole ESP-in-UDP datagram built and taken apart with the same
 * functions the packet path uses; the drop reasons of ESP results; tunnel
 * MTU arithmetic against the real ESP lengths.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EspError, espDecrypt, espDropReason, espEncrypt, espLength, tunnelMtu } from '../../../src/ipsec/esp.js';
import { SaTable } from '../../../src/ipsec/sa-table.js';
import { classifyUdpEncap, UDP_ENCAP_PORT, UdpEncapKind, writeUdpEncapHeader } from '../../../src/ipsec/udp-encap.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { assertProperty, ipv4Packet, makeChildSa, mirror } from './helpers.js';

describe('UDP encapsulation (RFC 3948)', () => {
  it('classifies UDP 4500 payloads by their first bytes', () => {
    const b = Buffer.from([0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(classifyUdpEncap(b, 0, 9)).toBe(UdpEncapKind.Ike); // non-ESP marker
    expect(classifyUdpEncap(b, 0, 4)).toBe(UdpEncapKind.Ike);
    expect(classifyUdpEncap(b, 1, 8)).toBe(UdpEncapKind.Esp); // 00 00 00 11: SPI != 0
    expect(classifyUdpEncap(b, 4, 5)).toBe(UdpEncapKind.Invalid); // SPI without a sequence number
    expect(classifyUdpEncap(Buffer.from([0xff]), 0, 1)).toBe(UdpEncapKind.Keepalive);
    expect(classifyUdpEncap(Buffer.from([0xfe]), 0, 1)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 0, 0)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 0, 3)).toBe(UdpEncapKind.Invalid);
    expect(classifyUdpEncap(b, 6, 8)).toBe(UdpEncapKind.Invalid); // past the buffer
    expect(classifyUdpEncap(b, 9, 1)).toBe(UdpEncapKind.Invalid); // a keepalive byte past the buffer
    expect(classifyUdpEncap(b, -1, 4)).toBe(UdpEncapKind.Invalid);
  });

  it('classification never throws and never reads outside the range (seeded property)', () => {
    assertProperty('classifyUdpEncap on random ranges', fc.property(
      fc.uint8Array({ maxLength: 40 }), fc.integer({ min: -3, max: 45 }), fc.integer({ min: -3, max: 45 }),
      (bytes, off, len) => {
        const k = classifyUdpEncap(bytes, off, len);
        const inRange = off >= 0 && len >= 1 && off + len <= bytes.length;
        if (!inRange) expect(k).toBe(UdpEncapKind.Invalid);
        if (k === UdpEncapKind.Esp) expect(len).toBeGreaterThanOrEqual(8);
      }), 3948, 500);
  });

  it('writes the UDP header: ports, length 8 + ESP, checksum 0, nothing outside its 8 bytes', () => {
    const out = Buffer.alloc(30, 0xee);
    writeUdpEncapHeader(out, 6, UDP_ENCAP_PORT, 4501, 1436);
    expect(out.readUInt16BE(6)).toBe(4500);
    expect(out.readUInt16BE(8)).toBe(4501);
    expect(out.readUInt16BE(10)).toBe(8 + 1436);
    expect(out.readUInt16BE(12)).toBe(0);
    expect(out[5]).toBe(0xee);
    expect(out[14]).toBe(0xee);
  });

  it('a whole ESP-in-UDP payload: UDP header + ESP, classified and decrypted on the peer', () => {
    const child = makeChildSa('aes256gcm16');
    const sa = new SaTable({ backend: 'node' }).install(child);
    const peer = new SaTable({ backend: 'node' });
    peer.install(mirror(child));
    const dgram = Buffer.alloc(1600);
    const inner = ipv4Packet(1200);
    const espLen = espEncrypt(sa, inner, 0, 1200, dgram, 8);
    writeUdpEncapHeader(dgram, 0, sa.localPort, sa.peerPort, espLen);
    const udpLen = dgram.readUInt16BE(4);
    expect(udpLen).toBe(8 + espLen);
    expect(classifyUdpEncap(dgram, 8, udpLen - 8)).toBe(UdpEncapKind.Esp);
    const back = Buffer.alloc(1600);
    expect(espDecrypt(peer, dgram, 8, udpLen - 8, back, 0)).toBe(1200);
    expect(back.subarray(0, 1200).equals(inner)).toBe(true);
  });
});

describe('drop reasons of ESP results', () => {
  it('maps every error code; a dummy packet is consumed, not dropped', () => {
    expect(espDropReason(EspError.NoSa)).toBe(DropReason.EspNoSa);
    expect(espDropReason(EspError.Replay)).toBe(DropReason.EspReplay);
    expect(espDropReason(EspError.Auth)).toBe(DropReason.EspAuth);
    expect(espDropReason(EspError.Malformed)).toBe(DropReason.Malformed);
    expect(espDropReason(EspError.BadNextHeader)).toBe(DropReason.Malformed);
    expect(espDropReason(EspError.Dummy)).toBe(DropReason.None);
    expect(espDropReason(EspError.Expired)).toBe(DropReason.VpnDown);
    expect(espDropReason(EspError.NoRoom)).toBe(DropReason.TooBig);
  });
});

describe('tunnel MTU', () => {
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
    expect(tunnelMtu(gcm, 60)).toBe(0);
    const out = Buffer.alloc(9100);
    for (const sa of [gcm, cbc, sha1, raw]) {
      const outer = sa.encap ? 28 : 20;
      for (const mtu of [576, 1280, 1400, 1500, 9000]) {
        const m = tunnelMtu(sa, mtu);
        // the largest inner packet fits exactly (as espEncrypt really writes it), one more byte does not
        expect(outer + espEncrypt(sa, ipv4Packet(m), 0, m, out, 0)).toBeLessThanOrEqual(mtu);
        expect(outer + espLength(sa, m + 1)).toBeGreaterThan(mtu);
      }
    }
  });
});
