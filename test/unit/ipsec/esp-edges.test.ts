/**
 * ESP edges the round trips do not reach: the drop reason of every error
 * code, the tunnel MTU per transform, exact-fit and out-of-range offsets,
 * counters, the CBC IV (random, not the GCM counter), bytes outside the
 * packet left alone, the replay check before the ICV, the length checks
 * before the SA lookup, and every inner-IPv4 check after decryption (the
 * encrypt side takes any bytes, so non-IPv4 "inner packets" are easy to make).
 */
import { describe, expect, it } from 'vitest';
import { EspError, espDecrypt, espDropReason, espEncrypt, espLength, tunnelMtu } from '../../../src/ipsec/esp.js';
import { SaCounter, SaTable } from '../../../src/ipsec/sa-table.js';
import type { EspAlgorithm } from '../../../src/ipsec/sa-types.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { ipv4Packet, makeChildSa, mirror, refEncrypt } from './helpers.js';

function pair(alg: EspAlgorithm) {
  const child = makeChildSa(alg);
  const local = new SaTable({ backend: 'node' });
  const peer = new SaTable({ backend: 'node' });
  return { local, peer, sa: local.install(child), peerSa: peer.install(mirror(child)) };
}

describe('ESP edges', () => {
  it('maps every error code to its drop reason (a dummy packet is consumed, not dropped)', () => {
    expect(espDropReason(EspError.NoSa)).toBe(DropReason.EspNoSa);
    expect(espDropReason(EspError.Replay)).toBe(DropReason.EspReplay);
    expect(espDropReason(EspError.Auth)).toBe(DropReason.EspAuth);
    expect(espDropReason(EspError.Expired)).toBe(DropReason.VpnDown);
    expect(espDropReason(EspError.Dummy)).toBe(DropReason.None);
    expect(espDropReason(EspError.NoRoom)).toBe(DropReason.TooBig);
    expect(espDropReason(EspError.Malformed)).toBe(DropReason.Malformed);
    expect(espDropReason(EspError.BadNextHeader)).toBe(DropReason.Malformed);
    expect(new Set([DropReason.EspNoSa, DropReason.EspReplay, DropReason.EspAuth, DropReason.VpnDown, DropReason.None, DropReason.TooBig, DropReason.Malformed]).size).toBe(7);
  });

  it('tunnel MTU: GCM in UDP 1438, CBC + HMAC-SHA-256 1422, without UDP 8 more, 0 when nothing fits', () => {
    const gcm = pair('aes256gcm16').sa, cbc = pair('aes256-sha256').sa;
    expect(tunnelMtu(gcm, 1500)).toBe(gcm.encap ? 1438 : 1446);
    expect(tunnelMtu(cbc, 1500)).toBe(cbc.encap ? 1422 : 1430);
    expect(tunnelMtu(gcm)).toBe(tunnelMtu(gcm, 1500));
    // the largest inner packet fits exactly; one byte more does not
    const fixed = 20 + (gcm.encap ? 8 : 0);
    expect(fixed + espLength(gcm, tunnelMtu(gcm, 1400))).toBeLessThanOrEqual(1400);
    expect(fixed + espLength(gcm, tunnelMtu(gcm, 1400) + 1)).toBeGreaterThan(1400);
    const cfixed = 20 + (cbc.encap ? 8 : 0);
    expect(cfixed + espLength(cbc, tunnelMtu(cbc, 1400))).toBeLessThanOrEqual(1400);
    expect(cfixed + espLength(cbc, tunnelMtu(cbc, 1400) + 1)).toBeGreaterThan(1400);
    const min = fixed + 8 + gcm.ivLen + gcm.icvLen;
    expect(tunnelMtu(gcm, min + gcm.align - 1)).toBe(0);
    expect(tunnelMtu(gcm, min + gcm.align)).toBe(gcm.align - 2);
    expect(tunnelMtu(gcm, 0)).toBe(0);
  });

  it('writes exactly espLength bytes at outOff, fits an output of exactly that size, leaves the rest alone, counts bytes', () => {
    const { sa, peer } = pair('aes128gcm16');
    const inner = ipv4Packet(100);
    const len = espLength(sa, inner.length);
    const out = Buffer.alloc(16 + len, 0xee);
    expect(espEncrypt(sa, inner, 0, inner.length, out, 16)).toBe(len);
    expect(out.subarray(0, 16).every((b) => b === 0xee)).toBe(true);
    expect(out.readUInt32BE(16 + 8)).toBe(0); // GCM IV: high half of the 64-bit counter
    expect(out.readUInt32BE(16 + 12)).toBe(1);
    expect(sa.ctr[SaCounter.BytesOut]).toBe(100);
    expect(espEncrypt(sa, inner, 0, inner.length, Buffer.alloc(16 + len - 1), 16)).toBe(EspError.NoRoom);
    const back = Buffer.alloc(len);
    const psa = peer.at(peer.lookupIn(sa.spiOut))!;
    expect(espDecrypt(peer, out, 16, len, back, 0)).toBe(100);
    expect(psa.ctr[SaCounter.BytesIn]).toBe(100);
    expect(psa.ctr[SaCounter.PacketsIn]).toBe(1);
  });

  it('refuses a negative inner offset and an empty inner packet', () => {
    const { sa } = pair('aes128gcm16');
    const inner = ipv4Packet(60);
    const out = Buffer.alloc(200);
    expect(espEncrypt(sa, inner, -1, 20, out, 0)).toBe(EspError.Malformed);
    expect(espEncrypt(sa, inner, 0, 0, out, 0)).toBe(EspError.Malformed);
    expect(espEncrypt(sa, inner, 1, 60, out, 0)).toBe(EspError.Malformed);
    expect(espEncrypt(sa, inner, 0, 60, out, -1)).toBe(EspError.NoRoom);
  });

  it('moves the inner packet within one buffer when it is not already in place', () => {
    const { sa, peer } = pair('aes256gcm16');
    const inner = ipv4Packet(200, 7);
    const buf = Buffer.alloc(600, 0);
    inner.copy(buf, 300);
    const n = espEncrypt(sa, buf, 300, inner.length, buf, 4);
    expect(n).toBe(espLength(sa, 200));
    const back = Buffer.alloc(400);
    expect(espDecrypt(peer, buf, 4, n, back, 0)).toBe(200);
    expect(back.subarray(0, 200).equals(inner)).toBe(true);
  });

  it('CBC: a random IV per packet, not the GCM counter layout', () => {
    const { sa } = pair('aes256-sha256');
    const inner = ipv4Packet(64);
    const ivs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const out = Buffer.alloc(espLength(sa, 64));
      espEncrypt(sa, inner, 0, 64, out, 0);
      ivs.push(out.subarray(8, 8 + sa.ivLen).toString('hex'));
    }
    expect(new Set(ivs).size).toBe(4);
    // the first 8 IV bytes are not "0, then the sequence number"
    expect(ivs.filter((iv, i) => iv.startsWith(`00000000${(i + 1).toString(16).padStart(8, '0')}`))).toEqual([]);
  });

  it('the replay check runs before the ICV: a replayed packet with a broken ICV is a replay, not an auth failure', () => {
    const { sa, peer } = pair('aes128gcm16');
    const inner = ipv4Packet(80);
    const out = Buffer.alloc(espLength(sa, 80));
    const n = espEncrypt(sa, inner, 0, 80, out, 0);
    const back = Buffer.alloc(n);
    expect(espDecrypt(peer, out, 0, n, back, 0)).toBe(80);
    const psa = peer.at(peer.lookupIn(sa.spiOut))!;
    out[n - 1] ^= 1;
    expect(espDecrypt(peer, out, 0, n, back, 0)).toBe(EspError.Replay);
    expect(psa.ctr[SaCounter.ReplayDrops]).toBe(1);
    expect(psa.ctr[SaCounter.AuthDrops]).toBe(0);
  });

  it('length checks: shorter than the ESP header is malformed before any SA is charged; a header with too little payload is charged to its SA', () => {
    const { sa, peer } = pair('aes128gcm16');
    const out = Buffer.alloc(espLength(sa, 40));
    const n = espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0);
    const psa = peer.at(peer.lookupIn(sa.spiOut))!;
    const back = Buffer.alloc(n);
    expect(espDecrypt(peer, out, 0, 7, back, 0)).toBe(EspError.Malformed);
    expect(peer.lastInSlot).toBe(-1);
    expect(psa.ctr[SaCounter.MalformedIn]).toBe(0);
    expect(espDecrypt(peer, out, 0, 8, back, 0)).toBe(EspError.Malformed);
    expect(psa.ctr[SaCounter.MalformedIn]).toBe(1);
    expect(espDecrypt(peer, out, 0, 8 + psa.ivLen + psa.icvLen + 1, back, 0)).toBe(EspError.Malformed);
    expect(psa.ctr[SaCounter.MalformedIn]).toBe(2);
    expect(espDecrypt(peer, out, -1, n, back, 0)).toBe(EspError.Malformed);
    expect(espDecrypt(peer, out, 0, n, back, -1)).toBe(EspError.NoRoom);
    const ctLen = n - 8 - psa.ivLen - psa.icvLen;
    expect(espDecrypt(peer, out, 0, n, Buffer.alloc(ctLen + 3), 4)).toBe(EspError.NoRoom);
    expect(espDecrypt(peer, out, 0, n, Buffer.alloc(ctLen + 4), 4)).toBe(40);
    expect(espDecrypt(peer, out, 1, n, back, 0)).toBe(EspError.Malformed);
  });

  it('the smallest authentic payload, a dummy packet of Pad Length and Next Header alone, is a dummy, not malformed', () => {
    const child = makeChildSa('aes128gcm16');
    const t = new SaTable({ backend: 'node' });
    const sa = t.install(child);
    const esp = refEncrypt('aes128gcm16', child.spiIn, 1, child.encKeyIn, child.saltIn, child.integKeyIn, new Uint8Array(0), { align: 1, nextHeader: 59 });
    expect(esp.length).toBe(8 + 8 + 2 + 16);
    expect(espDecrypt(t, esp, 0, esp.length, Buffer.alloc(esp.length), 0)).toBe(EspError.Dummy);
    expect(sa.ctr[SaCounter.DummyIn]).toBe(1);
    expect(sa.ctr[SaCounter.MalformedIn]).toBe(0);
  });

  it('a Pad Length longer than the payload is malformed, even when the bytes before the output look like padding', () => {
    const child = makeChildSa('aes128gcm16');
    const t = new SaTable({ backend: 'node' });
    const sa = t.install(child);
    // plaintext 5 6 | PadLen 6 | NH 59 (dummy): the 6 padding bytes would start 4 bytes before the plaintext
    const esp = refEncrypt('aes128gcm16', child.spiIn, 1, child.encKeyIn, child.saltIn, child.integKeyIn, new Uint8Array(0),
      { padding: new Uint8Array([5, 6]), padLenField: 6, nextHeader: 59 });
    const out = Buffer.alloc(4 + esp.length);
    out.set([1, 2, 3, 4], 0);
    expect(espDecrypt(t, esp, 0, esp.length, out, 4)).toBe(EspError.Malformed);
    expect(sa.ctr[SaCounter.MalformedIn]).toBe(1);
    expect(sa.ctr[SaCounter.DummyIn]).toBe(0);
  });

  it('refuses authentic payloads that are not a whole IPv4 packet, each counted as malformed', () => {
    const { sa, peer } = pair('aes256gcm16');
    const psa = peer.at(peer.lookupIn(sa.spiOut))!;
    const good = ipv4Packet(60);
    const cases: [string, Buffer][] = [
      ['19 bytes', good.subarray(0, 19)],
      ['version 6', Buffer.from(good).fill(0x65, 0, 1)],
      ['IHL 4', Buffer.from(good).fill(0x44, 0, 1)],
      ['total length below the header', (() => { const b = Buffer.from(good); b.writeUInt16BE(19, 2); return b; })()],
      ['total length past the payload', (() => { const b = Buffer.from(good); b.writeUInt16BE(61, 2); return b; })()],
    ];
    let malformed = 0;
    for (const [name, inner] of cases) {
      const out = Buffer.alloc(espLength(sa, inner.length));
      const n = espEncrypt(sa, inner, 0, inner.length, out, 0);
      expect(espDecrypt(peer, out, 0, n, Buffer.alloc(n), 0), name).toBe(EspError.Malformed);
      expect(psa.ctr[SaCounter.MalformedIn], name).toBe(++malformed);
    }
    // total length exactly the payload, and shorter (TFC padding after it) pass
    for (const total of [60, 40]) {
      const b = Buffer.from(good);
      b.writeUInt16BE(total, 2);
      const out = Buffer.alloc(espLength(sa, 60));
      const n = espEncrypt(sa, b, 0, 60, out, 0);
      expect(espDecrypt(peer, out, 0, n, Buffer.alloc(n), 0)).toBe(total);
    }
    expect(psa.ctr[SaCounter.BytesIn]).toBe(100);
  });
});
