/**
 * SaTable.saveState() / decodeSavedEspSa() / SaTable.loadState(): an ESP SA
 * across a restart resumes its outbound sequence numbers past the last one
 * sent plus the margin (never a number, and so never a GCM nonce, twice under
 * one key), keeps its replay window (a packet the old process accepted is
 * still a replay; new ones pass), and is refused when what was saved does
 * not match the SA installed again.
 */
import { describe, expect, it } from 'vitest';
import { EspError, espDecrypt, espEncrypt } from '../../../src/ipsec/esp.js';
import { SaCounter, SaLifetime, SaTable, decodeSavedEspSa } from '../../../src/ipsec/sa-table.js';
import { SavedStateError } from '../../../src/lib/saved-fields.js';
import { ipv4Packet, makeChildSa, mirror } from './helpers.js';

const MARGIN = 1000;

function seqOf(esp: Uint8Array): number {
  return Buffer.from(esp).readUInt32BE(4);
}

describe('ESP SAs across a restart', () => {
  for (const alg of ['aes256gcm16', 'aes128-sha256'] as const) {
    it(`${alg}: sequence numbers resume past the margin and the replay window is kept`, () => {
      const ours = makeChildSa(alg);
      const a = new SaTable({ backend: 'node' });
      const peer = new SaTable({ backend: 'node' });
      const ea = a.install(ours);
      const ep = peer.install(mirror(ours));
      const out = Buffer.alloc(256), back = Buffer.alloc(256);
      const inbound: Buffer[] = [];
      for (let i = 0; i < 5; i++) {
        const n = espEncrypt(ep, ipv4Packet(60, i), 0, 60, out, 0);
        inbound.push(Buffer.from(out.subarray(0, n)));
      }
      for (const p of [inbound[0]!, inbound[2]!, inbound[4]!]) expect(espDecrypt(a, p, 0, p.length, back, 0)).toBe(60);
      for (let i = 0; i < 7; i++) espEncrypt(ea, ipv4Packet(60, i), 0, 60, out, 0);
      expect(ea.seqOut).toBe(7);
      const saved = JSON.parse(JSON.stringify(a.saveState(MARGIN))) as unknown[];
      expect(saved).toHaveLength(1);
      // The next process: the same CHILD_SA installed again, then its saved state.
      const b = new SaTable({ backend: 'node' });
      const eb = b.install(ours);
      b.loadState(decodeSavedEspSa(saved[0]));
      const n = espEncrypt(eb, ipv4Packet(60, 9), 0, 60, out, 0);
      expect(seqOf(out.subarray(0, n))).toBe(7 + MARGIN + 1);
      expect(espDecrypt(peer, out, 0, n, back, 0)).toBe(60);
      // Replays of what the old process accepted are refused; what it never saw passes.
      const replays = b.at(eb.slot)!.ctr[SaCounter.ReplayDrops];
      expect(espDecrypt(b, inbound[2]!, 0, inbound[2]!.length, back, 0)).toBe(EspError.Replay);
      expect(b.at(eb.slot)!.ctr[SaCounter.ReplayDrops]).toBe(replays + 1);
      expect(espDecrypt(b, inbound[3]!, 0, inbound[3]!.length, back, 0)).toBe(60);
    });
  }

  it('the margin stops at the last sequence number: the SA is then at its hard limit and asks for a rekey again', () => {
    const sa = makeChildSa('aes256gcm16');
    const a = new SaTable({ backend: 'node', softPackets: 100, hardPackets: 200 });
    const e = a.install(sa);
    a.setSeqOut(e.slot, 150);
    a.pollLifetimes(() => undefined);
    const saved = a.saveState(MARGIN);
    expect(saved[0]!.seqOut).toBe(1150);
    const b = new SaTable({ backend: 'node', softPackets: 100, hardPackets: 200 });
    const eb = b.install(sa);
    b.loadState(decodeSavedEspSa(JSON.parse(JSON.stringify(saved[0]))));
    expect(eb.lifetime).toBe(SaLifetime.Hard);
    const seen: number[] = [];
    b.pollLifetimes((_, s) => seen.push(s));
    expect(seen).toEqual([SaLifetime.Soft, SaLifetime.Hard]);
    const huge = new SaTable({ backend: 'node' });
    huge.install(sa);
    huge.setSeqOut(0, 0xffffff00);
    expect(huge.saveState(MARGIN)[0]!.seqOut).toBe(0xffffffff);
  });

  describe('refused', () => {
    const sa = makeChildSa('aes256gcm16');
    const a = new SaTable({ backend: 'node' });
    a.install(sa);
    const saved = JSON.parse(JSON.stringify(a.saveState(MARGIN)[0])) as Record<string, unknown>;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['an SA that is not installed', { ...saved, spiIn: 0x1234 }, /not installed/],
      ['another outbound SPI', { ...saved, spiOut: 0x1234 }, /differs/],
      ['another algorithm', { ...saved, algorithm: 'aes128gcm16' }, /differs/],
      ['another window size', { ...saved, window: 64 }, /differs/],
      ['a window of another shape', { ...saved, replay: 'AAAAAA==' }, /another shape/],
    ];
    for (const [what, s, msg] of cases) {
      it(what, () => {
        const b = new SaTable({ backend: 'node' });
        const e = b.install(sa);
        expect(() => b.loadState(decodeSavedEspSa(s))).toThrow(msg);
        expect(e.seqOut).toBe(0);
      });
    }
    const shapes: [string, unknown, RegExp][] = [
      ['SPI 0', { ...saved, spiIn: 0 }, /spiIn/],
      ['a sequence number past 2^32 - 1', { ...saved, seqOut: 2 ** 32 }, /seqOut/],
      ['a replay window that is not base64', { ...saved, replay: '!!' }, /replay/],
      ['not an object', [1, 2], /expected an object/],
    ];
    for (const [what, s, msg] of shapes) {
      it(`${what} does not decode`, () => {
        expect(() => decodeSavedEspSa(s)).toThrow(SavedStateError);
        expect(() => decodeSavedEspSa(s)).toThrow(msg);
      });
    }
  });
});
