/**
 * SA table: install/lookup/remove, make-before-break outbound selection,
 * validation of what IKE hands over, and the SPI hash against a Map
 * (seeded property with interleaved inserts and deletes).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { espEncrypt, espDecrypt } from '../../../src/ipsec/esp.js';
import { SaLifetime, SaTable } from '../../../src/ipsec/sa-table.js';
import { ipv4Packet, makeChildSa, mirror } from './helpers.js';

describe('SaTable', () => {
  it('installs, looks up by inbound SPI, removes', () => {
    const t = new SaTable({ backend: 'node' });
    const a = makeChildSa('aes256gcm16');
    const b = makeChildSa('aes256-sha256', { tunnel: 1 });
    const ea = t.install(a);
    const eb = t.install(b);
    expect(t.size).toBe(2);
    expect(t.lookupIn(a.spiIn)).toBe(ea.slot);
    expect(t.lookupIn(b.spiIn)).toBe(eb.slot);
    expect(t.lookupIn(a.spiOut)).toBe(-1);
    expect(t.lookupIn(0)).toBe(-1);
    expect(t.at(ea.slot)).toBe(ea);
    expect(t.at(-1)).toBeNull();
    expect(t.at(1000)).toBeNull();
    expect(ea.tunnelId).not.toBe(eb.tunnelId);
    expect(t.outboundSa(ea.tunnelId)).toBe(ea);
    expect(t.remove(a.spiIn)).toBe(true);
    expect(t.remove(a.spiIn)).toBe(false);
    expect(ea.active).toBe(false);
    expect(t.lookupIn(a.spiIn)).toBe(-1);
    expect(t.outbound(ea.tunnelId)).toBe(-1);
    expect(t.list()).toEqual([eb]);
    t.clear();
    expect(t.size).toBe(0);
  });

  it('rekey is make-before-break: the newest SA sends, the old one still decrypts until removed', () => {
    const t = new SaTable({ backend: 'node' });
    const peer = new SaTable({ backend: 'node' });
    const old = makeChildSa('aes256gcm16');
    const neu = makeChildSa('aes256gcm16');
    const eOld = t.install(old);
    peer.install(mirror(old));
    const tid = eOld.tunnelId;
    // the peer rekeyed first and sends on the new SA already
    peer.install(mirror(neu));
    const eNew = t.install(neu);
    expect(eNew.tunnelId).toBe(tid);
    expect(t.outboundSa(tid)).toBe(eNew);
    const out = Buffer.alloc(200);
    const back = Buffer.alloc(200);
    // inbound on both SPIs
    const peerOld = peer.at(peer.lookupIn(old.spiOut))!;
    const peerNew = peer.at(peer.lookupIn(neu.spiOut))!;
    let n = espEncrypt(peerOld, ipv4Packet(50), 0, 50, out, 0);
    expect(espDecrypt(t, out, 0, n, back, 0)).toBe(50);
    expect(t.lastInSlot).toBe(eOld.slot);
    n = espEncrypt(peerNew, ipv4Packet(50), 0, 50, out, 0);
    expect(espDecrypt(t, out, 0, n, out, 0)).toBe(50); // in place: the SPI bytes are overwritten
    expect(t.lastInSlot).toBe(eNew.slot);
    expect(t.at(t.lastInSlot)!.tunnelId).toBe(tid);
    expect(espDecrypt(t, out, 0, 3, back, 0)).toBeLessThan(0);
    expect(t.lastInSlot).toBe(-1);
    // removing the new one falls back to the old; removing both leaves none
    t.remove(neu.spiIn);
    expect(t.outboundSa(tid)).toBe(eOld);
    t.remove(old.spiIn);
    expect(t.outbound(tid)).toBe(-1);
  });

  it('removing an old SA keeps the newer outbound SA', () => {
    const t = new SaTable({ backend: 'node' });
    const a = t.install(makeChildSa('aes256gcm16'));
    const b = t.install(makeChildSa('aes256gcm16'));
    const c = t.install(makeChildSa('aes256gcm16'));
    t.remove(a.spiIn);
    expect(t.outboundSa(a.tunnelId)).toBe(c);
    t.remove(c.spiIn);
    expect(t.outboundSa(a.tunnelId)).toBe(b);
  });

  it('tunnel ids: stable per (connection, tunnel), explicit ids honoured', () => {
    const t = new SaTable({ backend: 'node', maxTunnels: 3 });
    expect(t.tunnelIdOf('a', 0)).toBe(0);
    expect(t.tunnelIdOf('a', 1)).toBe(1);
    expect(t.tunnelIdOf('a', 0)).toBe(0);
    expect(t.tunnelIdOf('b', 0)).toBe(2);
    expect(() => t.tunnelIdOf('c', 0)).toThrow(RangeError);
    const e = t.install(makeChildSa('aes128gcm16'), 2);
    expect(e.tunnelId).toBe(2);
    expect(() => t.install(makeChildSa('aes128gcm16'), 3)).toThrow(RangeError);
    expect(t.outbound(99)).toBe(-1);
  });

  it('refuses what it cannot implement or what is inconsistent', () => {
    const t = new SaTable({ backend: 'node', maxSas: 2 });
    const ok = makeChildSa('aes256gcm16');
    expect(() => t.install({ ...ok, algorithm: 'chacha20poly1305' as never })).toThrow(/unsupported/);
    expect(() => t.install({ ...ok, esn: true })).toThrow(/extended/);
    expect(() => t.install({ ...ok, tunnelMode: false })).toThrow(/tunnel/);
    expect(() => t.install({ ...ok, spiIn: 0 })).toThrow(/SPI 0/);
    expect(() => t.install({ ...ok, encKeyIn: new Uint8Array(16) })).toThrow(/encKeyIn/);
    expect(() => t.install({ ...ok, saltOut: new Uint8Array(0) })).toThrow(/saltOut/);
    expect(() => t.install({ ...ok, icvLen: 12 })).toThrow(/icvLen/);
    const cbc = makeChildSa('aes256-sha256');
    expect(() => t.install({ ...cbc, integKeyOut: new Uint8Array(20) })).toThrow(/integKeyOut/);
    expect(t.size).toBe(0);
    t.install(ok);
    expect(() => t.install({ ...makeChildSa('aes256gcm16'), spiIn: ok.spiIn })).toThrow(/already/);
    t.install(cbc);
    expect(() => t.install(makeChildSa('aes256gcm16'))).toThrow(/full/);
  });

  it('replay window from the SA, or the table default when the SA asks for none', () => {
    const t = new SaTable({ backend: 'node', replayWindow: 64 });
    expect(t.install(makeChildSa('aes256gcm16', { replayWindow: 2048 })).replay.size).toBe(2048);
    expect(t.install(makeChildSa('aes256gcm16', { replayWindow: 0 })).replay.size).toBe(64);
    expect(new SaTable({ backend: 'node' }).install(makeChildSa('aes256gcm16', { replayWindow: 0 })).replay.size).toBe(1024);
  });

  it('SPI lookup agrees with a Map under interleaved installs and removes (seeded property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 0, max: 0xffff }),
        (ops, salt) => {
          const t = new SaTable({ backend: 'node', maxSas: 16, maxTunnels: 64 });
          const model = new Map<number, number>();
          // SPIs chosen to collide in the hash: multiples of a power of two
          const spiOf = (k: number): number => ((k << 20) ^ salt) >>> 0 || 1;
          for (const [add, k] of ops) {
            const spi = spiOf(k);
            if (add && !model.has(spi) && model.size < 16) {
              const e = t.install(makeChildSa('aes128gcm16', { spiIn: spi }), k);
              model.set(spi, e.slot);
            } else if (!add) {
              expect(t.remove(spi)).toBe(model.delete(spi));
            }
            for (let j = 1; j <= 40; j++) {
              const s = spiOf(j);
              expect(t.lookupIn(s)).toBe(model.get(s) ?? -1);
            }
          }
          expect(t.size).toBe(model.size);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('SaTable.pollLifetimes', () => {
  it('reports Soft then Hard once each, both in one poll when an SA went past both limits', () => {
    const t = new SaTable({ backend: 'node', softPackets: 10, hardPackets: 20 });
    const a = t.install(makeChildSa('aes128gcm16'), 0);
    const b = t.install(makeChildSa('aes128gcm16'), 1);
    const seen: string[] = [];
    const poll = (): number => t.pollLifetimes((sa, state) => seen.push(`${sa.tunnelId}:${state}`));
    expect(poll()).toBe(0);
    t.setSeqOut(a.slot, 25); // past both limits between two polls
    t.setSeqOut(b.slot, 10); // exactly the soft limit
    expect(poll()).toBe(3);
    expect(seen.sort()).toEqual([`0:${SaLifetime.Soft}`, `0:${SaLifetime.Hard}`, `1:${SaLifetime.Soft}`].sort());
    expect(poll()).toBe(0);
    t.setSeqOut(b.slot, 19);
    expect(poll()).toBe(0);
    t.setSeqOut(b.slot, 20);
    seen.length = 0;
    expect(poll()).toBe(1);
    expect(seen).toEqual([`1:${SaLifetime.Hard}`]);
  });
});
