/**
 * DnsService on real sockets (127.0.0.1, a random port), asked by a real
 * client, dig: a private hostname, a PTR, a private zone record, TCP, a
 * truncated UDP answer and dig's TCP retry, forwarding through
 * udpTcpUpstream to a tiny server on loopback. Then, with a small Node
 * client: the per-client rate limit, refusal of an unknown client
 * (127.0.0.2), several queries on one TCP connection, the TCP bounds
 * (connections, queries in progress per connection, idle timeout), and
 * setConfig being all or nothing.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { decode, encode, type DecodedPacket } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrivateZone } from '../../../src/control/config-types.js';
import { frame, FrameReader } from '../../../src/services/dns/framing.js';
import { DnsService, type DnsOutcome, type DnsServiceOptions } from '../../../src/services/dns/server.js';
import { udpTcpUpstream } from '../../../src/services/dns/upstream.js';
import { describeWith } from '../../helpers/needs.js';
import { aAnswer, tinyDns, type TinyDns } from '../../helpers/tiny-dns.js';

const run = promisify(execFile);

const ZONES: PrivateZone[] = [{
  name: 'corp.internal',
  records: [
    { name: 'db.corp.internal', type: 'A', values: ['198.18.2.20'], ttl: 60 },
    { name: 'big.corp.internal', type: 'TXT', values: Array.from({ length: 20 }, (_, i) => `v${i}-${'y'.repeat(80)}`), ttl: 60 },
  ],
}];

function options(upstreamPort: number, outcomes: DnsOutcome[], over: Partial<DnsServiceOptions> = {}): DnsServiceOptions {
  return {
    region: 'us-east-1',
    enableDnsHostnames: true,
    vpcCidr: '198.18.0.0/16',
    instances: [{ name: 'web-1', privateIp: '198.18.1.10' }],
    privateZones: ZONES,
    upstream: udpTcpUpstream([{ host: '127.0.0.1', port: upstreamPort }], 1000),
    identify: (ip) => (ip === '127.0.0.1' ? 'web-1' : undefined),
    onQuery: (_who, o) => outcomes.push(o),
    ...over,
  };
}

function udpPort(s: DnsService): number {
  return s.boundAddresses().find((b) => b.transport === 'udp')!.port;
}

function tcpPort(s: DnsService): number {
  return s.boundAddresses().find((b) => b.transport === 'tcp')!.port;
}

/** One UDP query from `from`; null when nothing came back within `ms`. */
async function udpAsk(port: number, q: Buffer, from = '127.0.0.1', ms = 1000): Promise<DecodedPacket | null> {
  const s = createSocket('udp4');
  await new Promise<void>((res) => s.bind(0, from, () => res()));
  try {
    return await new Promise<DecodedPacket | null>((resolve) => {
      const t = setTimeout(() => resolve(null), ms);
      s.on('message', (m) => {
        clearTimeout(t);
        resolve(decode(m));
      });
      s.send(q, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

const query = (name: string, id = 1, type = 'A'): Buffer => encode({ type: 'query', id, flags: 0x0100, questions: [{ name, type: type as 'A', class: 'IN' }] });

describeWith(['dig'], 'DnsService asked by dig', () => {
  let upstream: TinyDns;
  let svc: DnsService;
  const outcomes: DnsOutcome[] = [];
  let port = 0;
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args])).stdout;

  beforeAll(async () => {
    upstream = await tinyDns((q) => aAnswer(q, '203.0.113.7'));
    svc = new DnsService(options(upstream.port, outcomes));
    await svc.listen(['127.0.0.1'], 0);
    port = udpPort(svc);
    // dig retries a truncated answer over TCP on the same port.
    expect(tcpPort(svc)).toBe(port);
  });
  afterAll(async () => {
    await svc.close();
    await upstream.close();
  });

  it('a private hostname, a PTR and a private zone record', async () => {
    expect((await dig('+short', 'ip-198-18-1-10.ec2.internal')).trim()).toBe('198.18.1.10');
    expect((await dig('+short', '-x', '198.18.1.10')).trim()).toBe('ip-198-18-1-10.ec2.internal.');
    const full = await dig('db.corp.internal');
    expect(full).toMatch(/status: NOERROR/);
    expect(full).toMatch(/flags: qr aa rd ra;/);
    expect(full).toMatch(/db\.corp\.internal\.\s+60\s+IN\s+A\s+198\.18\.2\.20/);
    expect(upstream.seen.length).toBe(0);
  });

  it('+tcp gets the same answer over TCP', async () => {
    const out = await dig('+tcp', 'db.corp.internal');
    expect(out).toMatch(/198\.18\.2\.20/);
    expect(out).toMatch(/\(TCP\)/);
  });

  it('a UDP answer over 512 bytes comes truncated (+ignore shows TC); by default dig retries over TCP and gets it all', async () => {
    const ignored = await dig('+noedns', '+ignore', 'big.corp.internal', 'TXT');
    expect(ignored).toMatch(/flags: qr aa tc rd ra;/);
    expect(ignored).toMatch(/ANSWER: 0,/);
    const retried = await dig('+noedns', 'big.corp.internal', 'TXT');
    expect(retried).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried).toMatch(/ANSWER: 20,/);
  });

  it('another name is forwarded to the upstream and its answer relayed', async () => {
    const before = upstream.seen.length;
    expect((await dig('+short', 'www.example.com')).trim()).toBe('203.0.113.7');
    expect(upstream.seen.length).toBe(before + 1);
    expect(upstream.seen.at(-1)!.q.questions![0]!.name).toBe('www.example.com');
    expect(outcomes).toContain('forwarded');
  });
});

describe('DnsService on loopback', () => {
  let upstream: TinyDns;
  beforeAll(async () => {
    upstream = await tinyDns((q) => aAnswer(q, '203.0.113.7'));
  });
  afterAll(async () => {
    await upstream.close();
  });

  it('a client past its packets per second is dropped and reported rate_limited', async () => {
    const outcomes: DnsOutcome[] = [];
    const svc = new DnsService(options(upstream.port, outcomes, { perEniLimitPps: 5 }));
    await svc.listen(['127.0.0.1'], 0);
    try {
      const port = udpPort(svc);
      const s = createSocket('udp4');
      let got = 0;
      s.on('message', () => got++);
      await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
      for (let i = 0; i < 40; i++) s.send(query('db.corp.internal', i), port, '127.0.0.1');
      await expect.poll(() => outcomes.length, { timeout: 3000 }).toBe(40);
      await expect.poll(() => got, { timeout: 1000 }).toBe(outcomes.filter((o) => o === 'answered').length);
      s.close();
      const limited = outcomes.filter((o) => o === 'rate_limited').length;
      // A bucket of 5 refilled at 5/s: 40 queries sent in well under a second leave room for a handful.
      expect(40 - limited).toBeGreaterThanOrEqual(5);
      expect(40 - limited).toBeLessThanOrEqual(10);
    } finally {
      await svc.close();
    }
  });

  it('an unknown client (127.0.0.2) is REFUSED', async () => {
    const outcomes: DnsOutcome[] = [];
    const svc = new DnsService(options(upstream.port, outcomes));
    await svc.listen(['127.0.0.1'], 0);
    try {
      const p = await udpAsk(udpPort(svc), query('db.corp.internal', 5), '127.0.0.2');
      expect((p as DecodedPacket & { rcode: string }).rcode).toBe('REFUSED');
      expect(outcomes).toEqual(['refused']);
    } finally {
      await svc.close();
    }
  });

  it('several queries on one TCP connection, written in one segment, all answered', async () => {
    const outcomes: DnsOutcome[] = [];
    const svc = new DnsService(options(upstream.port, outcomes));
    await svc.listen(['127.0.0.1'], 0);
    try {
      const c = connect({ host: '127.0.0.1', port: tcpPort(svc) });
      const reader = new FrameReader();
      const got: DecodedPacket[] = [];
      c.on('data', (d: Buffer) => got.push(...reader.push(d).map((m) => decode(m))));
      await new Promise<void>((res) => c.once('connect', () => res()));
      c.write(Buffer.concat([frame(query('db.corp.internal', 11)), frame(query('ip-198-18-1-10.ec2.internal', 12)), frame(query('x.example', 13))]));
      await expect.poll(() => got.length, { timeout: 3000 }).toBe(3);
      expect(got.map((p) => p.id).sort()).toEqual([11, 12, 13]);
      c.destroy();
    } finally {
      await svc.close();
    }
  });

  it('setConfig: a bad configuration throws and the running one stays; a good one takes over', async () => {
    const outcomes: DnsOutcome[] = [];
    const good = options(upstream.port, outcomes);
    const svc = new DnsService(good);
    await svc.listen(['127.0.0.1'], 0);
    try {
      const port = udpPort(svc);
      expect(() => svc.setConfig({ ...good, vpcCidr: 'not-a-cidr', instances: [] })).toThrow(/vpcCidr/);
      expect(() => svc.setConfig({ ...good, instances: [{ name: 'x', privateIp: '198.18.1.300' }] })).toThrow(/privateIp/);
      expect(() => svc.setConfig({ ...good, perEniLimitPps: 0 })).toThrow(/perEniLimitPps/);
      const still = await udpAsk(port, query('ip-198-18-1-10.ec2.internal', 21));
      expect((still!.answers![0] as { data: string }).data).toBe('198.18.1.10');
      svc.setConfig({ ...good, instances: [{ name: 'web-2', privateIp: '198.18.1.11' }] });
      const gone = await udpAsk(port, query('ip-198-18-1-10.ec2.internal', 22));
      expect((gone as DecodedPacket & { rcode: string }).rcode).toBe('NXDOMAIN');
      const now = await udpAsk(port, query('ip-198-18-1-11.ec2.internal', 23));
      expect((now!.answers![0] as { data: string }).data).toBe('198.18.1.11');
    } finally {
      await svc.close();
    }
  });

  it('TCP bounds: a connection past maxTcpConnections is closed at once; an idle one after tcpIdleMs', async () => {
    const outcomes: DnsOutcome[] = [];
    const svc = new DnsService(options(upstream.port, outcomes), { maxTcpConnections: 2, tcpIdleMs: 300 });
    await svc.listen(['127.0.0.1'], 0);
    try {
      const port = tcpPort(svc);
      const closed: boolean[] = [false, false, false];
      const conns = [0, 1, 2].map((i) => {
        const c = connect({ host: '127.0.0.1', port });
        c.on('error', () => undefined);
        c.on('close', () => {
          closed[i] = true;
        });
        return c;
      });
      await expect.poll(() => svc.stats.tcpRejected, { timeout: 2000 }).toBe(1);
      expect(closed.filter((x) => x)).toHaveLength(1);
      // The two admitted ones answer.
      const reader = new FrameReader();
      const got: DecodedPacket[] = [];
      const live = conns.find((_, i) => !closed[i])!;
      live.on('data', (d: Buffer) => got.push(...reader.push(d).map((m) => decode(m))));
      live.write(frame(query('db.corp.internal', 31)));
      await expect.poll(() => got.length, { timeout: 2000 }).toBe(1);
      // Then nothing more: both are closed for idleness.
      await expect.poll(() => closed.every((x) => x), { timeout: 3000 }).toBe(true);
      expect(svc.stats.tcpIdleClosed).toBe(2);
    } finally {
      await svc.close();
    }
  });

  it('TCP: at most tcpPipeline queries of one connection in progress; the rest wait and are answered after', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const slow = await tinyDns(async (q) => {
      await gate;
      return aAnswer(q, '203.0.113.8');
    });
    const outcomes: DnsOutcome[] = [];
    const svc = new DnsService(options(slow.port, outcomes), { tcpPipeline: 2 });
    await svc.listen(['127.0.0.1'], 0);
    try {
      const c = connect({ host: '127.0.0.1', port: tcpPort(svc) });
      const reader = new FrameReader();
      const got: DecodedPacket[] = [];
      c.on('data', (d: Buffer) => got.push(...reader.push(d).map((m) => decode(m))));
      await new Promise<void>((res) => c.once('connect', () => res()));
      c.write(Buffer.concat([1, 2, 3, 4, 5].map((i) => frame(query(`n${i}.example`, 40 + i)))));
      await expect.poll(() => slow.seen.length, { timeout: 2000 }).toBe(2);
      // Give the server time to start more, if it wrongly would.
      await new Promise((res) => setTimeout(res, 200));
      expect(slow.seen.length).toBe(2);
      release();
      await expect.poll(() => got.length, { timeout: 3000 }).toBe(5);
      expect(got.map((p) => p.id).sort()).toEqual([41, 42, 43, 44, 45]);
      c.destroy();
    } finally {
      await svc.close();
      await slow.close();
    }
  });

  it('listen: an address that cannot be bound rejects, and what was opened before it is closed again', async () => {
    const svc = new DnsService(options(upstream.port, []));
    // 198.18.99.99 is not on this machine: EADDRNOTAVAIL after 127.0.0.1 was bound.
    await expect(svc.listen(['127.0.0.1', '198.18.99.99'], 0)).rejects.toThrow(/EADDRNOTAVAIL/);
    expect(svc.boundAddresses()).toEqual([]);
    await svc.close();
  });
});
