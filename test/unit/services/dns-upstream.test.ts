/**
 * udpTcpUpstream(): the forwarder against tiny DNS servers on 127.0.0.1.
 * Random ids on the wire with the client's id restored, TC -> TCP retry,
 * TCP-only for TCP clients, timeouts moving on to the next server, spoofed
 * or mismatched replies ignored, every server failing -> null, and the bound
 * on queries in flight.
 */
import { decode, encode } from 'dns-packet';
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { udpTcpUpstream } from '../../../src/services/dns/upstream.js';
import { aAnswer, tinyDns, type TinyDns } from '../../helpers/tiny-dns.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function server(reply: Parameters<typeof tinyDns>[0]): Promise<TinyDns> {
  const s = await tinyDns(reply);
  open.push(s);
  return s;
}

function query(name: string, id: number): Buffer {
  return encode({ type: 'query', id, flags: 0x0100, questions: [{ name, type: 'A', class: 'IN' }] });
}

/** A UDP port that receives and never answers. */
async function blackHole(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
  open.push({ close: () => new Promise<void>((res) => s.close(() => res())) });
  return s.address().port;
}

describe('udpTcpUpstream', () => {
  it('asks over UDP with a random id and gives the answer back with the client id', async () => {
    const s = await server((q) => aAnswer(q, '203.0.113.5'));
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: s.port }], 2000);
    const ids = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = await up(query('example.com', 0x1111), false);
      expect(decode(r!).id).toBe(0x1111);
      expect((decode(r!).answers![0] as { data: string }).data).toBe('203.0.113.5');
    }
    for (const { q, transport } of s.seen) {
      expect(transport).toBe('udp');
      ids.add(q.id!);
    }
    // 20 draws from 65536 values: all equal to the client id would mean no randomisation.
    expect(ids.size).toBeGreaterThan(10);
    expect(up.stats.sent).toBe(20);
  });

  it('a truncated UDP answer is asked again over TCP; a TCP client is forwarded over TCP only', async () => {
    const s = await server((q, t) => (t === 'udp' ? { type: 'response', id: q.id, flags: 0x0180 | 0x0200, questions: q.questions } : aAnswer(q, '203.0.113.6')));
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: s.port }], 2000);
    const r = await up(query('big.example', 7), false);
    expect((decode(r!).answers![0] as { data: string }).data).toBe('203.0.113.6');
    expect(decode(r!).flag_tc).toBe(false);
    expect(s.seen.map((x) => x.transport)).toEqual(['udp', 'tcp']);
    expect(up.stats.tcpRetries).toBe(1);
    await up(query('tcp.example', 8), true);
    expect(s.seen.map((x) => x.transport)).toEqual(['udp', 'tcp', 'tcp']);
  });

  it('a silent server times out and the next one answers', async () => {
    const silent = await blackHole();
    const s = await server((q) => aAnswer(q, '203.0.113.8'));
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: silent }, { host: '127.0.0.1', port: s.port }], 200);
    const t0 = Date.now();
    const r = await up(query('example.org', 9), false);
    expect((decode(r!).answers![0] as { data: string }).data).toBe('203.0.113.8');
    expect(up.stats.timeouts).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('replies with the wrong id or the wrong question are ignored; the right one after them is taken', async () => {
    const s = await server((q) => [
      encode(aAnswer(q, '198.51.100.66', { id: (q.id! + 1) & 0xffff })),
      encode(aAnswer(q, '198.51.100.67', { questions: [{ name: 'evil.example', type: 'A', class: 'IN' }] })),
      encode(aAnswer(q, '203.0.113.9')),
    ]);
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: s.port }], 2000);
    const r = await up(query('Mixed.Example', 10), false);
    expect(decode(r!).answers!.map((a) => (a as { data: string }).data)).toEqual(['203.0.113.9']);
  });

  it('a right answer from another port than the server asked is ignored (RFC 5452)', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((res) => other.bind(0, '127.0.0.1', () => res()));
    open.push({ close: () => new Promise<void>((res) => other.close(() => res())) });
    const s = createSocket('udp4');
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    open.push({ close: () => new Promise<void>((res) => s.close(() => res())) });
    let asked = 0;
    s.on('message', (m, rinfo) => {
      asked++;
      // The reply comes from `other`'s port, not from the port the query went to.
      other.send(encode(aAnswer(decode(m), '198.51.100.99')), rinfo.port, rinfo.address);
    });
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: s.address().port }], 300);
    expect(await up(query('example.com', 5), false)).toBeNull();
    expect(asked).toBe(1);
    expect(up.stats.timeouts).toBe(1);
  });

  it('every server failing (silent, TCP refused) gives null, counted', async () => {
    const silent = await blackHole();
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: silent }], 100);
    expect(await up(query('example.com', 1), false)).toBeNull();
    // Nobody listens on this TCP port (the UDP black hole's number, TCP side unbound).
    expect(await up(query('example.com', 2), true)).toBeNull();
    expect(up.stats.failed).toBe(2);
    expect(await udpTcpUpstream([], 100)(query('example.com', 3), false)).toBeNull();
  });

  it('at most maxInFlight queries at once: one more gets null at once', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const s = await server(async (q) => {
      await gate;
      return aAnswer(q, '203.0.113.10');
    });
    const up = udpTcpUpstream([{ host: '127.0.0.1', port: s.port }], 2000, { maxInFlight: 2 });
    const a = up(query('a.example', 1), false);
    const b = up(query('b.example', 2), false);
    expect(await up(query('c.example', 3), false)).toBeNull();
    expect(up.stats.rejectedBusy).toBe(1);
    release();
    expect(decode((await a)!).id).toBe(1);
    expect(decode((await b)!).id).toBe(2);
    // Once they are done there is room again.
    expect(await up(query('d.example', 4), false)).not.toBeNull();
  });
});
