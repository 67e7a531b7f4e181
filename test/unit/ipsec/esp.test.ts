/**
 * ESP tunnel mode end to end, on both cipher backends (node:crypto always,
 * the native engine when its addon is built):
 *
 * - round trips for every transform at non-zero offsets, exact layout sizes;
 * - interop: our packets decrypted by an independent node:crypto ESP
 *   implementation written in helpers.ts, and its packets decrypted by us;
 * - padding, Next Header (4, 59 = dummy, other), TFC padding, inner header;
 * - replay through espDecrypt (duplicates, forged high sequence numbers do
 *   not move the window);
 * - packet lifetimes: soft and hard limits, the end of the sequence space;
 * - hostile input: a fast-check property over random mutations of valid
 *   packets and random garbage: error codes, never an exception;
 * - native vs node: packets sealed by one backend open on the other.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EspError, espDecrypt, espEncrypt, espLength } from '../../../src/ipsec/esp.js';
import { loadEspNative } from '../../../src/ipsec/esp-native.js';
import { type EspBackend, type EspSa, SaCounter, SaLifetime, SaTable, SEQ_MAX, SEQ_SOFT_LIMIT } from '../../../src/ipsec/sa-table.js';
import type { EspAlgorithm } from '../../../src/ipsec/sa-types.js';
import {
  ALL_ALGORITHMS, assertProperty, ipv4Packet, makeChildSa, mirror, refAlg, refDecrypt, refEncrypt,
} from './helpers.js';
import { describeWith } from '../../helpers/needs.js';

const native = loadEspNative() !== null;
const backends: EspBackend[] = native ? ['node', 'native'] : ['node'];

/** A local table with one SA and the peer's table with its mirror. */
function pair(alg: EspAlgorithm, backend: EspBackend, peerBackend: EspBackend = backend) {
  const child = makeChildSa(alg);
  const local = new SaTable({ backend });
  const peer = new SaTable({ backend: peerBackend });
  const sa = local.install(child);
  const peerSa = peer.install(mirror(child));
  return { child, local, peer, sa, peerSa };
}

describe.each(backends)('ESP tunnel mode (%s backend)', (backend) => {
  it('round-trips every transform at non-zero offsets', () => {
    for (const alg of ALL_ALGORITHMS) {
      const { local, peer, sa } = pair(alg, backend);
      for (const len of [20, 21, 28, 64, 255, 1400, 1438]) {
        const inner = ipv4Packet(len, len);
        const src = Buffer.alloc(len + 11);
        inner.copy(src, 11);
        const out = Buffer.alloc(2048, 0xaa);
        const n = espEncrypt(sa, src, 11, len, out, 37);
        expect(n, `${alg} ${len}`).toBe(espLength(sa, len));
        expect(out[36]).toBe(0xaa);
        expect(out[37 + n]).toBe(0xaa);
        const back = Buffer.alloc(2048);
        const m = espDecrypt(peer, out, 37, n, back, 5);
        expect(m, `${alg} ${len}`).toBe(len);
        expect(back.subarray(5, 5 + m).equals(inner)).toBe(true);
      }
      expect(local.at(sa.slot)!.ctr[SaCounter.PacketsOut]).toBe(7);
    }
  });

  it('lays out GCM and CBC packets as RFC 4106 / RFC 3602 say', () => {
    const g = pair('aes256gcm16', backend);
    const out = Buffer.alloc(2000);
    // 1400 + 2 -> 1404 (4-aligned); 8 header + 8 IV + 1404 + 16 ICV
    expect(espEncrypt(g.sa, ipv4Packet(1400), 0, 1400, out, 0)).toBe(1436);
    expect(out.readUInt32BE(0)).toBe(g.child.spiOut);
    expect(out.readUInt32BE(4)).toBe(1); // first packet: sequence 1
    expect(out.subarray(8, 16).toString('hex')).toBe('0000000000000001'); // IV = 64-bit sequence number
    expect(espEncrypt(g.sa, ipv4Packet(64), 0, 64, out, 0)).toBe(8 + 8 + 68 + 16);
    expect(out.readUInt32BE(4)).toBe(2);
    expect(out.subarray(8, 16).toString('hex')).toBe('0000000000000002');
    const c = pair('aes256-sha256', backend);
    // 1400 + 2 -> 1408 (16-aligned); 8 + 16 IV + 1408 + 16
    expect(espEncrypt(c.sa, ipv4Packet(1400), 0, 1400, out, 0)).toBe(1448);
    const iv1 = Buffer.from(out.subarray(8, 24));
    espEncrypt(c.sa, ipv4Packet(1400), 0, 1400, out, 0);
    expect(out.subarray(8, 24).equals(iv1)).toBe(false); // random IVs
  });

  it('encrypts in place with 8 + ivLen bytes of headroom (no copy)', () => {
    for (const alg of ['aes256gcm16', 'aes128-sha1'] as EspAlgorithm[]) {
      const { peer, sa } = pair(alg, backend);
      const inner = ipv4Packet(333, 9);
      const arena = Buffer.alloc(4096);
      const innerOff = 100;
      inner.copy(arena, innerOff);
      const espOff = innerOff - 8 - sa.ivLen;
      const n = espEncrypt(sa, arena, innerOff, 333, arena, espOff);
      expect(n).toBe(espLength(sa, 333));
      // and decrypt in place over the ESP header (overlapping output)
      const m = espDecrypt(peer, arena, espOff, n, arena, espOff);
      expect(m).toBe(333);
      expect(arena.subarray(espOff, espOff + 333).equals(inner)).toBe(true);
    }
  });

  it('moves an inner packet that overlaps the output region', () => {
    const { peer, sa } = pair('aes256gcm16', backend);
    const inner = ipv4Packet(500, 3);
    const arena = Buffer.alloc(2048);
    inner.copy(arena, 40);
    const n = espEncrypt(sa, arena, 40, 500, arena, 30); // ESP payload lands at 46: overlaps the source
    const out = Buffer.alloc(1024);
    expect(espDecrypt(peer, arena, 30, n, out, 0)).toBe(500);
    expect(out.subarray(0, 500).equals(inner)).toBe(true);
  });

  it('interop: our packets decrypt with an independent implementation', () => {
    for (const alg of ALL_ALGORITHMS) {
      const { child, sa } = pair(alg, backend);
      for (const len of [20, 77, 1400]) {
        const inner = ipv4Packet(len, 7);
        const out = Buffer.alloc(2000);
        const n = espEncrypt(sa, inner, 0, len, out, 3);
        const d = refDecrypt(alg, child.encKeyOut, child.saltOut, child.integKeyOut, out.subarray(3, 3 + n));
        expect(d, alg).not.toBeNull();
        expect(d!.spi).toBe(child.spiOut);
        expect(d!.nextHeader).toBe(4);
        expect(d!.payload.equals(inner)).toBe(true);
        const pad = d!.padding;
        for (let i = 0; i < pad.length; i++) expect(pad[i]).toBe(i + 1);
        expect((d!.payload.length + pad.length + 2) % (refAlg(alg).gcm ? 4 : 16)).toBe(0);
      }
    }
  });

  it('interop: packets of an independent implementation decrypt here', () => {
    for (const alg of ALL_ALGORITHMS) {
      const table = new SaTable({ backend });
      const child = makeChildSa(alg);
      table.install(child);
      for (let seq = 1; seq <= 3; seq++) {
        const inner = ipv4Packet(100 + seq * 300, seq);
        const esp = refEncrypt(alg, child.spiIn, seq, child.encKeyIn, child.saltIn, child.integKeyIn, inner);
        const buf = Buffer.concat([Buffer.alloc(17), esp]);
        const out = Buffer.alloc(2000);
        expect(espDecrypt(table, buf, 17, esp.length, out, 1), alg).toBe(inner.length);
        expect(out.subarray(1, 1 + inner.length).equals(inner)).toBe(true);
      }
    }
  });

  it('accepts over-padding (up to 255 bytes) and strips TFC padding after the inner packet', () => {
    const table = new SaTable({ backend });
    const child = makeChildSa('aes256gcm16');
    table.install(child);
    const inner = ipv4Packet(60);
    const padding = Uint8Array.from({ length: 254 }, (_, i) => i + 1); // 60 + 254 + 2 = 316: aligned
    let esp = refEncrypt('aes256gcm16', child.spiIn, 1, child.encKeyIn, child.saltIn, child.integKeyIn, inner, { padding });
    const out = Buffer.alloc(2000);
    expect(espDecrypt(table, esp, 0, esp.length, out, 0)).toBe(60);
    const tfc = Buffer.concat([inner, Buffer.alloc(40, 0x55)]); // RFC 4303 §2.7 TFC padding
    esp = refEncrypt('aes256gcm16', child.spiIn, 2, child.encKeyIn, child.saltIn, child.integKeyIn, tfc);
    expect(espDecrypt(table, esp, 0, esp.length, out, 0)).toBe(60);
    expect(out.subarray(0, 60).equals(inner)).toBe(true);
  });

  it('checks padding content, Pad Length, Next Header and the inner header after the ICV', () => {
    const table = new SaTable({ backend });
    const child = makeChildSa('aes256-sha256');
    const sa = table.install(child);
    const out = Buffer.alloc(4000);
    let seq = 0;
    const run = (payload: Uint8Array, o: Parameters<typeof refEncrypt>[7] = {}): number => {
      const esp = refEncrypt('aes256-sha256', child.spiIn, ++seq, child.encKeyIn, child.saltIn, child.integKeyIn, payload, o);
      return espDecrypt(table, esp, 0, esp.length, out, 0);
    };
    const inner = ipv4Packet(100);
    expect(run(inner)).toBe(100);
    // padding bytes must be 1, 2, 3, ... (RFC 4303 §2.4)
    expect(run(inner, { padding: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 11]) })).toBe(EspError.Malformed);
    expect(run(inner, { padding: new Uint8Array(10) })).toBe(EspError.Malformed);
    // Pad Length larger than the payload
    expect(run(ipv4Packet(20), { padLenField: 200, padding: new Uint8Array(10).map((_, i) => i + 1) })).toBe(EspError.Malformed);
    // Next Header 41 (IPv6), 6 (transport-mode TCP): refused
    expect(run(inner, { nextHeader: 41 })).toBe(EspError.BadNextHeader);
    expect(run(inner, { nextHeader: 6 })).toBe(EspError.BadNextHeader);
    // inner packet: not IPv4, total length past the payload, header length < 20
    const v6 = Buffer.from(inner);
    v6[0] = 0x60;
    expect(run(v6)).toBe(EspError.Malformed);
    const long = Buffer.from(inner);
    long.writeUInt16BE(101, 2);
    expect(run(long)).toBe(EspError.Malformed);
    const ihl = Buffer.from(inner);
    ihl[0] = 0x44;
    expect(run(ihl)).toBe(EspError.Malformed);
    expect(run(Buffer.alloc(10, 0x45))).toBe(EspError.Malformed);
    // every one of those was authentic: the window recorded all of them
    expect(sa.replay.top).toBe(seq);
    expect(sa.ctr[SaCounter.PacketsIn]).toBe(1);
    expect(sa.ctr[SaCounter.MalformedIn]).toBe(9);
    expect(sa.ctr[SaCounter.DummyIn]).toBe(0);
  });

  it('dummy packets (Next Header 59, RFC 4303 §2.6): authentic, consumed, counted as dummy, never as malformed', () => {
    for (const alg of ['aes256gcm16', 'aes128-sha256'] as EspAlgorithm[]) {
      const table = new SaTable({ backend });
      const child = makeChildSa(alg);
      const sa = table.install(child);
      const out = Buffer.alloc(2000);
      let seq = 0;
      const send = (payload: Uint8Array, nextHeader = 59): Buffer =>
        refEncrypt(alg, child.spiIn, ++seq, child.encKeyIn, child.saltIn, child.integKeyIn, payload, { nextHeader });
      const counters = (): number[] => Array.from(sa.ctr);
      // empty (PadLen + NH only), garbage that is no IPv4 header, and a valid IPv4 packet marked 59
      for (const payload of [new Uint8Array(0), Buffer.alloc(30, 0xab), ipv4Packet(100)]) {
        const before = counters();
        const esp = send(payload);
        expect(espDecrypt(table, esp, 0, esp.length, out, 0), alg).toBe(EspError.Dummy);
        const after = counters();
        expect(after[SaCounter.DummyIn]! - before[SaCounter.DummyIn]!).toBe(1);
        expect(after[SaCounter.MalformedIn]).toBe(before[SaCounter.MalformedIn]);
        expect(after[SaCounter.PacketsIn]).toBe(before[SaCounter.PacketsIn]);
        expect(after[SaCounter.BytesIn]).toBe(before[SaCounter.BytesIn]);
        expect(sa.replay.top).toBe(seq); // authentic: the window moved
        // a replay of the dummy packet is a replay, not a second dummy
        expect(espDecrypt(table, esp, 0, esp.length, out, 0)).toBe(EspError.Replay);
      }
      // a forged dummy packet (ICV broken) is an authentication failure, not a dummy
      const forged = send(new Uint8Array(0));
      forged[forged.length - 1]! ^= 1;
      expect(espDecrypt(table, forged, 0, forged.length, out, 0)).toBe(EspError.Auth);
      expect(sa.ctr[SaCounter.DummyIn]).toBe(3);
      expect(sa.ctr[SaCounter.AuthDrops]).toBe(1);
      expect(sa.ctr[SaCounter.MalformedIn]).toBe(0);
      // real traffic afterwards is unaffected
      const real = send(ipv4Packet(64), 4);
      expect(espDecrypt(table, real, 0, real.length, out, 0)).toBe(64);
    }
  });

  it('replay: duplicates refused, forged packets never move the window', () => {
    const { local, peer, sa } = pair('aes256gcm16', backend);
    const out = Buffer.alloc(2000);
    const back = Buffer.alloc(2000);
    const pkts: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const n = espEncrypt(sa, ipv4Packet(80, i), 0, 80, out, 0);
      pkts.push(Buffer.from(out.subarray(0, n)));
    }
    expect(espDecrypt(peer, pkts[3]!, 0, pkts[3]!.length, back, 0)).toBe(80);
    expect(espDecrypt(peer, pkts[3]!, 0, pkts[3]!.length, back, 0)).toBe(EspError.Replay);
    expect(espDecrypt(peer, pkts[0]!, 0, pkts[0]!.length, back, 0)).toBe(80); // out of order, inside the window
    // a forged packet claiming sequence 100000: ICV fails, window unchanged
    const forged = Buffer.from(pkts[4]!);
    forged.writeUInt32BE(100000, 4);
    expect(espDecrypt(peer, forged, 0, forged.length, back, 0)).toBe(EspError.Auth);
    const peerSa = peer.at(peer.lookupIn(sa.spiOut))!;
    expect(peerSa.replay.top).toBe(4);
    expect(espDecrypt(peer, pkts[4]!, 0, pkts[4]!.length, back, 0)).toBe(80);
    // sequence 0 is refused before any crypto
    const zero = Buffer.from(pkts[1]!);
    zero.writeUInt32BE(0, 4);
    expect(espDecrypt(peer, zero, 0, zero.length, back, 0)).toBe(EspError.Replay);
    expect(peerSa.ctr[SaCounter.ReplayDrops]).toBe(2);
    expect(peerSa.ctr[SaCounter.AuthDrops]).toBe(1);
    expect(local.size).toBe(1);
  });

  it('sends sequence number 2^32 - 1 last: the default hard limit is the sequence space', () => {
    const { local, peer, sa } = pair('aes256gcm16', backend);
    const out = Buffer.alloc(200);
    const back = Buffer.alloc(200);
    expect(sa.softPackets).toBe(SEQ_SOFT_LIMIT);
    expect(sa.hardPackets).toBe(SEQ_MAX);
    expect(sa.lifetime).toBe(SaLifetime.Fresh);
    local.setSeqOut(sa.slot, SEQ_SOFT_LIMIT - 2);
    espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0);
    expect(sa.lifetime).toBe(SaLifetime.Fresh);
    espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0);
    expect(sa.lifetime).toBe(SaLifetime.Soft); // packet SEQ_SOFT_LIMIT sent
    local.setSeqOut(sa.slot, SEQ_MAX - 1);
    const n = espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0);
    expect(out.readUInt32BE(4)).toBe(SEQ_MAX);
    expect(out.subarray(8, 16).toString('hex')).toBe('00000000ffffffff'); // GCM IV: the 64-bit sequence number
    expect(espDecrypt(peer, out, 0, n, back, 0)).toBe(40);
    expect(sa.lifetime).toBe(SaLifetime.Hard);
    expect(espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0)).toBe(EspError.Expired);
    expect(espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0)).toBe(EspError.Expired);
    expect(sa.seqOut).toBe(SEQ_MAX); // never wraps to 0
    expect(sa.ctr[SaCounter.ExpiredDrops]).toBe(2);
  });

  it('packet lifetime with tiny limits: Soft exactly at the soft limit, Hard at the hard one, then refused and counted', () => {
    const child = makeChildSa('aes128gcm16');
    const local = new SaTable({ backend, softPackets: 3, hardPackets: 5 });
    const peer = new SaTable({ backend });
    const sa: EspSa = local.install(child);
    peer.install(mirror(child));
    const out = Buffer.alloc(200);
    const back = Buffer.alloc(200);
    const states: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const n = espEncrypt(sa, ipv4Packet(40, i), 0, 40, out, 0);
      expect(n).toBe(espLength(sa, 40));
      expect(espDecrypt(peer, out, 0, n, back, 0)).toBe(40);
      states.push(sa.lifetime);
    }
    expect(states).toEqual([SaLifetime.Fresh, SaLifetime.Fresh, SaLifetime.Soft, SaLifetime.Soft, SaLifetime.Hard]);
    const before = sa.ctr[SaCounter.ExpiredDrops]!;
    out.fill(0x77);
    expect(espEncrypt(sa, ipv4Packet(40), 0, 40, out, 0)).toBe(EspError.Expired);
    expect(out.every((b) => b === 0x77)).toBe(true); // nothing written
    expect(sa.ctr[SaCounter.ExpiredDrops]! - before).toBe(1);
    expect(sa.ctr[SaCounter.PacketsOut]).toBe(5);
    expect(sa.seqOut).toBe(5);
    // limits are validated when the table is made
    expect(() => new SaTable({ backend, softPackets: 6, hardPackets: 5 })).toThrow(/softPackets/);
    expect(() => new SaTable({ backend, hardPackets: 0 })).toThrow(/hardPackets/);
    expect(() => new SaTable({ backend, hardPackets: SEQ_MAX + 1 })).toThrow(/hardPackets/);
    expect(new SaTable({ backend, hardPackets: 10 }).limits).toEqual({ softPackets: 10, hardPackets: 10 });
  });

  it('reports bad arguments as codes: removed SA, no room, bad ranges', () => {
    const { local, peer, sa, child } = pair('aes256gcm16', backend);
    const inner = ipv4Packet(100);
    expect(espEncrypt(sa, inner, 0, 100, Buffer.alloc(100), 0)).toBe(EspError.NoRoom);
    expect(espEncrypt(sa, inner, 0, 100, Buffer.alloc(200), -1)).toBe(EspError.NoRoom);
    expect(espEncrypt(sa, inner, 50, 100, Buffer.alloc(200), 0)).toBe(EspError.Malformed);
    expect(espEncrypt(sa, inner, 0, 0, Buffer.alloc(200), 0)).toBe(EspError.Malformed);
    const out = Buffer.alloc(200);
    const n = espEncrypt(sa, inner, 0, 100, out, 0);
    expect(espDecrypt(peer, out, 0, n, Buffer.alloc(50), 0)).toBe(EspError.NoRoom);
    expect(espDecrypt(peer, out.subarray(0, n), 0, n + 1, Buffer.alloc(500), 0)).toBe(EspError.Malformed); // past the buffer
    expect(espDecrypt(peer, out, -1, n, Buffer.alloc(500), 0)).toBe(EspError.Malformed);
    expect(local.remove(child.spiIn)).toBe(true);
    expect(espEncrypt(sa, inner, 0, 100, out, 0)).toBe(EspError.NoSa);
    expect(peer.remove(child.spiOut)).toBe(true);
    expect(espDecrypt(peer, out, 0, n, Buffer.alloc(500), 0)).toBe(EspError.NoSa);
  });

  it('tampering: SPI, sequence, IV, ciphertext, ICV, truncation, extension', () => {
    for (const alg of ['aes256gcm16', 'aes256-sha256'] as EspAlgorithm[]) {
      const { peer, sa } = pair(alg, backend);
      const out = Buffer.alloc(2000);
      const n = espEncrypt(sa, ipv4Packet(200), 0, 200, out, 0);
      const pkt = Buffer.from(out.subarray(0, n));
      const back = Buffer.alloc(2000);
      const flip = (at: number): number => {
        const b = Buffer.from(pkt);
        b[at] ^= 0x80;
        return espDecrypt(peer, b, 0, b.length, back, 0);
      };
      expect(flip(0)).toBe(EspError.NoSa);
      expect(flip(7)).toBe(EspError.Auth);
      expect(flip(9)).toBe(EspError.Auth);
      expect(flip(40)).toBe(EspError.Auth);
      expect(flip(n - 1)).toBe(EspError.Auth);
      const g = alg === 'aes256gcm16';
      expect(espDecrypt(peer, pkt, 0, n - 1, back, 0)).toBe(g ? EspError.Auth : EspError.Malformed);
      expect(espDecrypt(peer, pkt, 0, n - 16, back, 0)).toBe(EspError.Auth);
      expect(espDecrypt(peer, pkt, 0, 7, back, 0)).toBe(EspError.Malformed);
      expect(espDecrypt(peer, pkt, 0, 8, back, 0)).toBe(EspError.Malformed);
      const longer = Buffer.concat([pkt, Buffer.alloc(16)]);
      expect(espDecrypt(peer, longer, 0, longer.length, back, 0)).toBe(EspError.Auth);
      expect(espDecrypt(peer, pkt, 0, n, back, 0)).toBe(200); // the original still passes
    }
  });

  it('hostile input (property): random mutations yield error codes, never exceptions', () => {
    for (const alg of ['aes256gcm16', 'aes256-sha256'] as EspAlgorithm[]) {
      const { peer, sa } = pair(alg, backend);
      const out = Buffer.alloc(2000);
      const back = Buffer.alloc(2000);
      assertProperty(`${alg} mutated packets`,
        fc.property(
          fc.integer({ min: 20, max: 1400 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
          fc.oneof(fc.constant(0), fc.integer({ min: -40, max: 40 })),
          (len, flips, resize) => {
            const n = espEncrypt(sa, ipv4Packet(len, len), 0, len, out, 0);
            let pkt = Buffer.from(out.subarray(0, n));
            for (const [at, x] of flips) pkt[at % n] ^= x;
            if (resize < 0) pkt = pkt.subarray(0, Math.max(0, n + resize));
            else if (resize > 0) pkt = Buffer.concat([pkt, Buffer.alloc(resize, resize)]);
            const r = espDecrypt(peer, pkt, 0, pkt.length, back, 0);
            expect(r).toBeLessThan(0);
          },
        ),
        0x4303, 400,
      );
      // garbage at random offsets and lengths, including out of range
      assertProperty(`${alg} garbage`,
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.integer({ min: -5, max: 305 }), fc.integer({ min: -5, max: 400 }),
          (bytes, off, len) => {
            const b = Buffer.from(bytes);
            if (b.length >= 4) b.writeUInt32BE(sa.spiOut, 0); // aim at the installed SA half the time
            const r1 = espDecrypt(peer, b, off, len, back, 0);
            const r2 = espDecrypt(peer, bytes, 0, bytes.length, back, 3);
            expect(typeof r1).toBe('number');
            expect(r2).toBeLessThan(0);
          }),
        0x3948, 400,
      );
    }
  });
});

describeWith(['esp-addon'], 'native engine vs node:crypto', () => {
  it('packets sealed by one backend open on the other, every transform', () => {
    for (const alg of ALL_ALGORITHMS) {
      for (const [a, b] of [['native', 'node'], ['node', 'native']] as const) {
        const { sa, peer } = pair(alg, a, b);
        const out = Buffer.alloc(2000);
        const back = Buffer.alloc(2000);
        for (const len of [20, 100, 1400]) {
          const inner = ipv4Packet(len, 5);
          const n = espEncrypt(sa, inner, 0, len, out, 0);
          expect(espDecrypt(peer, out, 0, n, back, 0), `${alg} ${a}->${b}`).toBe(len);
          expect(back.subarray(0, len).equals(inner)).toBe(true);
        }
      }
    }
  });

  it('GCM output is byte-identical on both backends (same keys, same sequence)', () => {
    const child = makeChildSa('aes256gcm16');
    const t1 = new SaTable({ backend: 'node' });
    const t2 = new SaTable({ backend: 'native' });
    const s1 = t1.install(child);
    const s2 = t2.install(child);
    const o1 = Buffer.alloc(2000);
    const o2 = Buffer.alloc(2000);
    for (const len of [20, 333, 1400]) {
      const inner = ipv4Packet(len);
      const n1 = espEncrypt(s1, inner, 0, len, o1, 0);
      const n2 = espEncrypt(s2, inner, 0, len, o2, 0);
      expect(n2).toBe(n1);
      expect(o2.subarray(0, n2).equals(o1.subarray(0, n1))).toBe(true);
    }
  });

  it('the engine refuses bad descriptors without crashing', () => {
    const t = new SaTable({ backend: 'native' });
    const sa = t.install(makeChildSa('aes256gcm16'));
    const e = t.nativeEngine!;
    const b = Buffer.alloc(100);
    expect(e.seal1(b, sa.slot, 90, 40)).toBe(-1);
    expect(e.seal1(b, 99, 0, 40)).toBe(-1);
    expect(e.seal1(b, sa.slot, 0, 0)).toBe(-1);
    expect(e.open1(b, sa.slot, 0, 20, b, 0)).toBe(-1);
    expect(e.open1(b, sa.slot, 50, 60, b, 0)).toBe(-1);
    expect(e.open1(b, sa.slot, 0, 60, b, 90)).toBe(-1);
    expect(e.open1(b, sa.slot, 0, 60, b, 0)).toBe(0); // zeros: an ICV mismatch
    const n = 4;
    const slot = new Int32Array([sa.slot, -1, 77, sa.slot]);
    const off = new Uint32Array([0, 0, 0, 4000]);
    const len = new Uint32Array([40, 40, 40, 40]);
    const res = new Int32Array(n).fill(9);
    expect(e.sealBatch(b, n, slot, off, len, res)).toBe(2);
    expect(Array.from(res)).toEqual([1, 9, -1, -1]);
    expect(() => e.sealBatch(b, n, new Uint32Array(4) as unknown as Int32Array, off, len, res)).toThrow(TypeError);
    t.remove(sa.spiIn);
    expect(e.seal1(b, sa.slot, 0, 40)).toBe(-1); // cleared slot
  });
});
