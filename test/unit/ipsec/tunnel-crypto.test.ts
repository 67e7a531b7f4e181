/**
 * EspTunnelCrypto, the ESP engine as the packet path calls it (vpn-path.ts
 * TunnelCrypto, src/vpn/crypto.ts BoundTunnelCrypto):
 *
 * - the data plane's calling convention (decrypt in place, the inner packet
 *   written where the outer headers were);
 * - agreement with an independent ESP implementation written directly on
 *   node:crypto createCipheriv/createHmac (helpers.ts refEncrypt/refDecrypt,
 *   nothing shared with src/ipsec), both directions, every transform, and
 *   byte-identical GCM output for the same key, salt and sequence number;
 * - a published vector: draft-mcgrew-gcm-test-01 §4 test case 3 (AES-256-GCM
 *   in ESP, SPI 4a2cbfe3, sequence 2);
 * - dummy packets (Next Header 59) and packet lifetimes through the tunnel
 *   interface, and the hand-off of packet limits to IKE (rekeyOnPacketLimits).
 */
import { describe, expect, it } from 'vitest';
import { EspError, espDropReason, espLength } from '../../../src/ipsec/esp.js';
import { loadEspNative } from '../../../src/ipsec/esp-native.js';
import { type EspBackend, SaCounter, SaLifetime } from '../../../src/ipsec/sa-table.js';
import { EspTunnelCrypto } from '../../../src/ipsec/tunnel-crypto.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { type BoundTunnelCrypto, createTunnelCrypto, rekeyOnPacketLimits } from '../../../src/vpn/crypto.js';
import type { VpnPath } from '../../../src/vpn/vpn-path.js';
import { ALL_ALGORITHMS, ipv4Packet, makeChildSa, mirror, refDecrypt, refEncrypt } from './helpers.js';

const backends: EspBackend[] = loadEspNative() === null ? ['node'] : ['node', 'native'];
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe.each(backends)('EspTunnelCrypto (%s backend)', (backend) => {
  it('is a BoundTunnelCrypto and works in place like the data plane calls it', () => {
    const mine: BoundTunnelCrypto = new EspTunnelCrypto(4, { backend });
    const peer: BoundTunnelCrypto = new EspTunnelCrypto(4, { backend });
    const child = makeChildSa('aes256gcm16');
    expect(mine.hasOutbound(2)).toBe(false);
    expect(mine.encrypt(2, ipv4Packet(40), 0, 40, Buffer.alloc(200), 0)).toBe(EspError.NoSa);
    mine.install(2, child);
    peer.install(1, mirror(child));
    expect(mine.hasOutbound(2)).toBe(true);
    expect(mine.innerMtu(2)).toBe(1438);
    const arena = Buffer.alloc(4096);
    const inner = ipv4Packet(1000, 4);
    inner.copy(arena, 100);
    const ethOff = 2000;
    const pay = ethOff + 14 + 28;
    const n = mine.encrypt(2, arena, 100, 1000, arena, pay);
    expect(n).toBeGreaterThan(1000);
    const m = peer.decrypt(arena, pay, n, arena, ethOff + 14);
    expect(m).toBe(1000);
    expect(peer.lastTunnel).toBe(1);
    expect(arena.subarray(ethOff + 14, ethOff + 14 + 1000).equals(inner)).toBe(true);
    peer.remove(child.spiOut);
    expect(peer.decrypt(arena, pay, n, arena, ethOff + 14)).toBe(EspError.NoSa);
    expect(peer.lastTunnel).toBe(-1);
  });

  it('agrees with an independent node:crypto ESP implementation both ways, every transform', () => {
    for (const alg of ALL_ALGORITHMS) {
      const mine = new EspTunnelCrypto(4, { backend });
      const child = makeChildSa(alg);
      mine.install(3, child);
      const out = Buffer.alloc(2048);
      const back = Buffer.alloc(2048);
      let seqIn = 0;
      for (const len of [20, 21, 22, 23, 500, 1400]) {
        const inner = ipv4Packet(len, len);
        // ours -> reference, with the sender's (our "out") keys
        const n = mine.encrypt(3, inner, 0, len, out, 0);
        expect(n, `${alg} ${len}`).toBe(espLength(mine.table.outboundSa(3)!, len));
        const d = refDecrypt(alg, child.encKeyOut, child.saltOut, child.integKeyOut, out.subarray(0, n));
        expect(d, `${alg} ${len}`).not.toBeNull();
        expect(d!.spi).toBe(child.spiOut);
        expect(d!.nextHeader).toBe(4);
        expect(d!.payload.equals(inner)).toBe(true);
        // reference -> ours, with the peer's keys (our "in" keys)
        const esp = refEncrypt(alg, child.spiIn, ++seqIn, child.encKeyIn, child.saltIn, child.integKeyIn, inner);
        expect(mine.decrypt(esp, 0, esp.length, back, 0), `${alg} ${len}`).toBe(len);
        expect(mine.lastTunnel).toBe(3);
        expect(back.subarray(0, len).equals(inner)).toBe(true);
      }
    }
  });

  it('GCM output is byte-identical to the reference for the same key, salt and sequence (IV = sequence)', () => {
    const mine = new EspTunnelCrypto(1, { backend });
    const child = makeChildSa('aes256gcm16');
    mine.install(0, child);
    const out = Buffer.alloc(2048);
    for (let seq = 1; seq <= 3; seq++) {
      const inner = ipv4Packet(300 * seq, seq);
      const n = mine.encrypt(0, inner, 0, inner.length, out, 0);
      const iv = Buffer.alloc(8);
      iv.writeUInt32BE(seq, 4);
      const ref = refEncrypt('aes256gcm16', child.spiOut, seq, child.encKeyOut, child.saltOut, child.integKeyOut, inner, { iv });
      expect(out.subarray(0, n).toString('hex')).toBe(ref.toString('hex'));
    }
  });

  it('opens draft-mcgrew-gcm-test-01 test case 3 (AES-256-GCM, SPI 4a2cbfe3, seq 2): ICV verified, plaintext exact', () => {
    const key = hex('abbccddef00112233445566778899aababbccddef00112233445566778899aab');
    const nonce = hex('112233440102030405060708');
    const pt = hex('4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b40101040201020201');
    const esp = Buffer.concat([hex('4a2cbfe300000002'), nonce.subarray(4),
      hex('ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763748a637985771d347f0545659f14e99def842d8e'),
      hex('b335f4eecfdbf831824b4c4915956c96')]);
    const mine = new EspTunnelCrypto(2, { backend });
    const sa = mine.install(1, makeChildSa('aes256gcm16', { spiIn: 0x4a2cbfe3, encKeyIn: key, saltIn: nonce.subarray(0, 4) }));
    const out = Buffer.alloc(pt.length);
    // the vector's trailer says Next Header 1: authentic, decrypted, then refused as not IPv4 in tunnel mode
    expect(mine.decrypt(esp, 0, esp.length, out, 0)).toBe(EspError.BadNextHeader);
    expect(out.toString('hex')).toBe(pt.toString('hex'));
    expect(mine.lastTunnel).toBe(1);
    expect(sa.replay.top).toBe(2);
    const bad = Buffer.from(esp);
    bad[20]! ^= 1;
    const other = new EspTunnelCrypto(2, { backend });
    other.install(1, makeChildSa('aes256gcm16', { spiIn: 0x4a2cbfe3, encKeyIn: key, saltIn: nonce.subarray(0, 4) }));
    expect(other.decrypt(bad, 0, bad.length, out, 0)).toBe(EspError.Auth);
  });

  it('a dummy packet is consumed: its own result (drop reason None), counted as dummy, lastTunnel set', () => {
    const mine = new EspTunnelCrypto(2, { backend });
    const child = makeChildSa('aes256gcm16');
    const sa = mine.install(1, child);
    const out = Buffer.alloc(2048);
    const malformedBefore = sa.ctr[SaCounter.MalformedIn]!;
    const dummyBefore = sa.ctr[SaCounter.DummyIn]!;
    const esp = refEncrypt('aes256gcm16', child.spiIn, 1, child.encKeyIn, child.saltIn, child.integKeyIn, Buffer.alloc(64, 0x5a), { nextHeader: 59 });
    const r = mine.decrypt(esp, 0, esp.length, out, 0);
    expect(r).toBe(EspError.Dummy);
    expect(espDropReason(r)).toBe(DropReason.None);
    expect(mine.lastTunnel).toBe(1);
    expect(sa.ctr[SaCounter.DummyIn]! - dummyBefore).toBe(1);
    expect(sa.ctr[SaCounter.MalformedIn]).toBe(malformedBefore);
    expect(sa.ctr[SaCounter.PacketsIn]).toBe(0);
  });

  it('packet lifetime: the soft signal fires once at the threshold, the hard limit stops the SA until a rekey replaces it', () => {
    const mine = new EspTunnelCrypto(2, { backend, softPackets: 4, hardPackets: 6 });
    const old = makeChildSa('aes128gcm16');
    const sa = mine.install(1, old);
    const events: string[] = [];
    const poll = (): number => mine.pollLifetimes((slot, spiIn, hard) => events.push(`${slot}:${spiIn.toString(16)}:${hard ? 'hard' : 'soft'}`));
    const out = Buffer.alloc(4096);
    const firedAt: number[] = [];
    for (let i = 1; i <= 6; i++) {
      // alternate the two outbound calls of the packet path
      const n = i % 2 === 0
        ? mine.encryptDeferred(1, ipv4Packet(40, i), 0, 40, out, i * 100, i)
        : mine.encrypt(1, ipv4Packet(40, i), 0, 40, out, i * 100);
      expect(n).toBeGreaterThan(0);
      mine.flush(out, null);
      if (poll() > 0) firedAt.push(i);
      if (i < 6) expect(mine.hasOutbound(1)).toBe(true);
    }
    const spi = old.spiIn.toString(16);
    expect(events).toEqual([`1:${spi}:soft`, `1:${spi}:hard`]);
    expect(firedAt).toEqual([4, 6]);
    // hard: no longer the tunnel's outbound SA for the packet path, and refused (counted) if called anyway
    expect(mine.hasOutbound(1)).toBe(false);
    const refusedBefore = sa.ctr[SaCounter.ExpiredDrops]!;
    expect(mine.encrypt(1, ipv4Packet(40), 0, 40, out, 0)).toBe(EspError.Expired);
    expect(mine.encryptDeferred(1, ipv4Packet(40), 0, 40, out, 0, 0)).toBe(EspError.Expired);
    expect(espDropReason(EspError.Expired)).toBe(DropReason.VpnDown);
    expect(sa.ctr[SaCounter.ExpiredDrops]! - refusedBefore).toBe(2);
    expect(sa.seqOut).toBe(6);
    expect(poll()).toBe(0); // each state once
    // the rekeyed SA sends again; the old one's state is not reported again
    mine.install(1, makeChildSa('aes128gcm16'));
    expect(mine.hasOutbound(1)).toBe(true);
    expect(mine.encrypt(1, ipv4Packet(40), 0, 40, out, 0)).toBeGreaterThan(0);
    expect(poll()).toBe(0);
  });

  it('an SA a rekey already replaced reports no limit (it sends nothing more)', () => {
    const mine = new EspTunnelCrypto(1, { backend, softPackets: 2, hardPackets: 100 });
    const old = mine.install(0, makeChildSa('aes128gcm16'));
    const out = Buffer.alloc(512);
    mine.encrypt(0, ipv4Packet(40), 0, 40, out, 0);
    mine.encrypt(0, ipv4Packet(40), 0, 40, out, 0);
    expect(old.lifetime).toBe(SaLifetime.Soft);
    mine.install(0, makeChildSa('aes128gcm16')); // the time-based rekey won the race
    expect(mine.pollLifetimes(() => undefined)).toBe(0);
  });
});

describe('src/vpn/crypto.ts', () => {
  const path = {
    connNames: ['to-aws', 'to-dc'],
    tunConn: Int32Array.from([0, 0, 1, 1]),
    tunIndex: Int32Array.from([0, 1, 0, 1]),
  } as unknown as VpnPath;

  it('createTunnelCrypto: one tunnel slot per path tunnel, room for 64 SAs (make-before-break rekeys)', () => {
    const c = createTunnelCrypto(path);
    for (let t = 0; t < 4; t++) c.install(t, makeChildSa('aes256gcm16'));
    expect(() => c.install(4, makeChildSa('aes256gcm16'))).toThrow(RangeError);
    for (let i = 4; i < 64; i++) c.install(i % 4, makeChildSa('aes256gcm16'));
    expect(() => c.install(0, makeChildSa('aes256gcm16'))).toThrow(/full/);
  });

  it('rekeyOnPacketLimits asks IKE to rekey the tunnel of each SA at a packet limit, once per limit, and logs it', () => {
    const crypto = new EspTunnelCrypto(4, { backend: 'node', softPackets: 2, hardPackets: 3 });
    crypto.install(3, makeChildSa('aes128gcm16'));
    crypto.install(1, makeChildSa('aes128gcm16'));
    const rekeys: string[] = [];
    const logs: string[] = [];
    const mgr = { rekeyChild: (c: string, t: number): void => void rekeys.push(`${c}#${t}`) };
    const log = {
      info: (o: { limit: string; connection: string }): void => void logs.push(`info ${o.limit} ${o.connection}`),
      warn: (o: { limit: string; connection: string }): void => void logs.push(`warn ${o.limit} ${o.connection}`),
    } as unknown as Parameters<typeof rekeyOnPacketLimits>[3];
    const out = Buffer.alloc(512);
    const send = (t: number): number => crypto.encrypt(t, ipv4Packet(40), 0, 40, out, 0);
    send(3);
    expect(rekeyOnPacketLimits(crypto, path, mgr, log)).toBe(0);
    send(3);
    expect(rekeyOnPacketLimits(crypto, path, mgr, log)).toBe(1);
    expect(rekeys).toEqual(['to-dc#1']);
    expect(rekeyOnPacketLimits(crypto, path, mgr, log)).toBe(0);
    send(3);
    send(1);
    send(1);
    expect(rekeyOnPacketLimits(crypto, path, mgr, log)).toBe(2);
    // one poll reports SAs in table order: compare without it
    expect(rekeys.slice(1).sort()).toEqual(['to-aws#1', 'to-dc#1']);
    expect(logs.slice(1).sort()).toEqual(['info soft to-aws', 'warn hard to-dc']);
    expect(logs[0]).toBe('info soft to-dc');
  });
});
