/**
 * Deferred sealing (espEncryptDeferred + espFlushSeals), as the packet path
 * uses it: with the native engine a packet is prepared now and sealed with the
 * whole batch in one call (not before: it does not authenticate until the
 * flush), a full queue seals at once, failed seals come back by tag; with
 * node:crypto every packet is sealed at once and the queue stays empty.
 */
import { describe, expect, it } from 'vitest';
import { EspError, EspSealQueue, espDecrypt, espEncryptDeferred, espFlushSeals, espLength } from '../../../src/ipsec/esp.js';
import { SaTable } from '../../../src/ipsec/sa-table.js';
import { describeWith } from '../../helpers/needs.js';
import { ipv4Packet, makeChildSa, mirror } from './helpers.js';

function setup(backend: 'node' | 'native') {
  const child = makeChildSa('aes256gcm16');
  const local = new SaTable({ backend });
  const peer = new SaTable({ backend: 'node' });
  return { local, peer, sa: local.install(child), peerSa: peer.install(mirror(child)) };
}

const opens = (peer: SaTable, buf: Buffer, off: number, len: number): number => espDecrypt(peer, buf, off, len, Buffer.alloc(len), 0);

describeWith(['esp-addon'], 'deferred sealing on the native engine', () => {
  it('queues up to capacity, seals the rest at once, and seals the queue in one flush', () => {
    const { local, peer, sa } = setup('native');
    const q = new EspSealQueue(2);
    const inner = ipv4Packet(100);
    const len = espLength(sa, 100);
    const buf = Buffer.alloc(4 * 256);
    const tags = [11, 22, 33];
    for (let i = 0; i < 3; i++) expect(espEncryptDeferred(sa, inner, 0, 100, buf, i * 256, q, tags[i]!)).toBe(len);
    expect(q.count).toBe(2);
    expect([...q.tag.subarray(0, 2)]).toEqual([11, 22]);
    expect([...q.espOff.subarray(0, 2)]).toEqual([0, 256]);
    expect([...q.slot.subarray(0, 2)]).toEqual([sa.slot, sa.slot]);
    expect([...q.ptLen.subarray(0, 2)]).toEqual([len - 8 - sa.ivLen - sa.icvLen, len - 8 - sa.ivLen - sa.icvLen]);
    // the third (queue full) was sealed at once; the first two are not sealed before the flush
    const third = Buffer.from(buf.subarray(512, 512 + len));
    expect(opens(peer, third, 0, len)).toBe(100);
    expect(opens(peer, Buffer.from(buf.subarray(0, len)), 0, len)).toBe(EspError.Auth);
    const failed: number[] = [];
    espFlushSeals(local, buf, q, (t) => failed.push(t));
    expect(q.count).toBe(0);
    expect(failed).toEqual([]);
    // sequence 1 was tried unsealed above (Auth does not move the window): both open now
    expect(opens(peer, buf, 0, len)).toBe(100);
    expect(opens(peer, buf, 256, len)).toBe(100);
  });

  it('reports each failed seal by its tag, and nothing when the callback is absent', () => {
    const { local, sa } = setup('native');
    const q = new EspSealQueue(4);
    const inner = ipv4Packet(60);
    const buf = Buffer.alloc(1024);
    expect(espEncryptDeferred(sa, inner, 0, 60, buf, 0, q, 7)).toBeGreaterThan(0);
    expect(espEncryptDeferred(sa, inner, 0, 60, buf, 256, q, 8)).toBeGreaterThan(0);
    q.ptLen[1] = 100_000; // past the buffer: the engine refuses this one
    const failed: number[] = [];
    espFlushSeals(local, buf, q, (t) => failed.push(t));
    expect(failed).toEqual([8]);
    expect(q.count).toBe(0);
    expect(espEncryptDeferred(sa, inner, 0, 60, buf, 0, q, 9)).toBeGreaterThan(0);
    q.ptLen[0] = 100_000;
    espFlushSeals(local, buf, q, null);
    expect(q.count).toBe(0);
    // an empty queue: nothing to do, no callback
    espFlushSeals(local, buf, q, () => failed.push(-1));
    expect(failed).toEqual([8]);
  });

  it('passes errors through without queueing', () => {
    const { sa } = setup('native');
    const q = new EspSealQueue(2);
    expect(espEncryptDeferred(sa, ipv4Packet(60), 0, 60, Buffer.alloc(10), 0, q, 1)).toBe(EspError.NoRoom);
    expect(q.count).toBe(0);
  });
});

describe('deferred sealing on node:crypto', () => {
  it('seals at once; the queue stays empty and a flush does nothing', () => {
    const { local, peer, sa } = setup('node');
    const q = new EspSealQueue(2);
    const len = espLength(sa, 80);
    const buf = Buffer.alloc(512);
    expect(espEncryptDeferred(sa, ipv4Packet(80), 0, 80, buf, 0, q, 1)).toBe(len);
    expect(q.count).toBe(0);
    espFlushSeals(local, buf, q, () => { throw new Error('no seal was queued'); });
    expect(opens(peer, buf, 0, len)).toBe(80);
  });
});
