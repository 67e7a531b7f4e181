/**
 * answer(): the Amazon DNS server's decisions on one query, without sockets.
 * Private hostnames and PTR, public hostnames, private zones (CNAME chains,
 * NXDOMAIN and NODATA with the SOA), forwarding and its failures, refusals,
 * malformed queries, EDNS and truncation; then a property: any query, and
 * any bytes, give a parseable response with the query's id, never a throw.
 */
import fc from 'fast-check';
import { decode, encode, type Answer, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { PrivateZone } from '../../../src/control/config-types.js';
import { answer, DnsService, type DnsOutcome, type DnsServiceOptions } from '../../../src/services/dns/server.js';
import { CaseCounts, propertySeed } from '../../helpers/property.js';

const FLAG_TC = 0x0200;

const ZONES: PrivateZone[] = [
  {
    name: 'corp.internal',
    records: [
      { name: 'db.corp.internal', type: 'A', values: ['198.18.2.20', '198.18.2.21'], ttl: 60 },
      { name: 'www.corp.internal', type: 'CNAME', values: ['web.corp.internal'], ttl: 300 },
      { name: 'web.corp.internal', type: 'A', values: ['198.18.2.30'], ttl: 300 },
      { name: 'alias.corp.internal', type: 'CNAME', values: ['api.shared.internal'], ttl: 300 },
      { name: 'out.corp.internal', type: 'CNAME', values: ['example.net'], ttl: 300 },
      { name: 'loop1.corp.internal', type: 'CNAME', values: ['loop2.corp.internal'], ttl: 300 },
      { name: 'loop2.corp.internal', type: 'CNAME', values: ['loop1.corp.internal'], ttl: 300 },
      { name: 'gone.corp.internal', type: 'CNAME', values: ['missing.corp.internal'], ttl: 300 },
      { name: 'corp.internal', type: 'MX', values: ['10 mail.corp.internal'], ttl: 300 },
      { name: '_pg._tcp.corp.internal', type: 'SRV', values: ['10 5 5432 db.corp.internal'], ttl: 300 },
      { name: 'a.b.c.corp.internal', type: 'TXT', values: ['deep'], ttl: 300 },
      { name: 'big.corp.internal', type: 'TXT', values: Array.from({ length: 30 }, (_, i) => `value-${i}-${'x'.repeat(90)}`), ttl: 300 },
      { name: 'v6.corp.internal', type: 'AAAA', values: ['2001:db8::1'], ttl: 300 },
    ],
  },
  { name: 'shared.internal', records: [{ name: 'api.shared.internal', type: 'A', values: ['198.18.3.3'], ttl: 300 }] },
];

interface Rig {
  readonly opts: DnsServiceOptions;
  readonly outcomes: Array<[string | undefined, DnsOutcome]>;
  readonly asked: Array<{ query: Buffer; viaTcp: boolean }>;
}

type UpstreamReply = (q: DecodedPacket) => Packet | null | 'throw' | 'garbage';

/** An upstream that answers every A query with 203.0.113.7 (others: NXDOMAIN). */
const defaultUpstream: UpstreamReply = (q) => {
  const question = q.questions![0]!;
  return question.type === 'A'
    ? { type: 'response', id: q.id, flags: 0x0180, questions: q.questions, answers: [{ name: question.name, type: 'A', ttl: 30, data: '203.0.113.7' }] }
    : { type: 'response', id: q.id, flags: 0x0180 | 3, questions: q.questions };
};

function rig(over: Partial<DnsServiceOptions> = {}, reply: UpstreamReply = defaultUpstream): Rig {
  const outcomes: Rig['outcomes'] = [];
  const asked: Rig['asked'] = [];
  const opts: DnsServiceOptions = {
    region: 'us-east-1',
    enableDnsHostnames: true,
    vpcCidr: '198.18.0.0/16',
    instances: [
      { name: 'web-1', privateIp: '198.18.1.10', publicIp: '203.0.113.10' },
      { name: 'db-1', privateIp: '198.18.2.20' },
    ],
    privateZones: ZONES,
    upstream: async (query, viaTcp) => {
      asked.push({ query, viaTcp });
      const r = reply(decode(query));
      if (r === 'throw') throw new Error('upstream exploded');
      if (r === 'garbage') return Buffer.from('not dns at all');
      return r === null ? null : encode(r);
    },
    identify: (ip) => (ip === '198.18.1.10' ? 'web-1' : ip === '198.18.2.20' ? 'db-1' : undefined),
    onQuery: (who, outcome) => outcomes.push([who, outcome]),
    ...over,
  };
  return { opts, outcomes, asked };
}

interface Q {
  name: string;
  type?: string;
  id?: number;
  rd?: boolean;
  udpSize?: number;
  ednsVersion?: number;
}

function query(q: Q): Buffer {
  const opt: OptAnswer | undefined = q.udpSize === undefined ? undefined : { type: 'OPT', name: '.', udpPayloadSize: q.udpSize, extendedRcode: 0, ednsVersion: q.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] };
  return encode({
    type: 'query',
    id: q.id ?? 0x1234,
    flags: q.rd === false ? 0 : 0x0100,
    questions: [{ name: q.name, type: (q.type ?? 'A') as 'A', class: 'IN' }],
    ...(opt !== undefined ? { additionals: [opt] } : {}),
  });
}

async function ask(r: Rig, q: Q, transport: 'udp' | 'tcp' = 'udp', from = '198.18.1.10'): Promise<DecodedPacket & { rcode: string }> {
  const out = await answer(query(q), from, r.opts, transport);
  expect(out).not.toBeNull();
  return decode(out!) as DecodedPacket & { rcode: string };
}

const data = (p: DecodedPacket): unknown[] => (p.answers ?? []).map((a) => (a as { data: unknown }).data);

describe('answer(): the VPC names', () => {
  it('A of an instance private hostname, authoritative, with RA and RD copied', async () => {
    const r = rig();
    const p = await ask(r, { name: 'ip-198-18-1-10.ec2.internal' });
    expect(p.rcode).toBe('NOERROR');
    expect(p.flag_aa && p.flag_ra && p.flag_rd && p.flag_qr).toBe(true);
    expect(data(p)).toEqual(['198.18.1.10']);
    expect(r.asked).toHaveLength(0);
    expect(r.outcomes).toEqual([['web-1', 'answered']]);
    const nord = await ask(r, { name: 'ip-198-18-1-10.ec2.internal', rd: false });
    expect(nord.flag_rd).toBe(false);
    expect(nord.flag_ra).toBe(true);
  });

  it('outside us-east-1 the domain is <region>.compute.internal and ec2.internal is forwarded', async () => {
    const r = rig({ region: 'eu-west-1' });
    expect(data(await ask(r, { name: 'ip-198-18-2-20.eu-west-1.compute.internal' }))).toEqual(['198.18.2.20']);
    expect(r.asked).toHaveLength(0);
    const fwd = await ask(r, { name: 'ip-198-18-2-20.ec2.internal' });
    expect(r.asked).toHaveLength(1);
    expect(data(fwd)).toEqual(['203.0.113.7']);
  });

  it('an address with no instance is NXDOMAIN with the domain SOA; AAAA of a hostname is NODATA', async () => {
    const r = rig();
    const nx = await ask(r, { name: 'ip-198-18-1-99.ec2.internal' });
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.flag_aa).toBe(true);
    expect(nx.authorities!.map((a) => [a.type, a.name])).toEqual([['SOA', 'ec2.internal']]);
    const nodata = await ask(r, { name: 'ip-198-18-1-10.ec2.internal', type: 'AAAA' });
    expect(nodata.rcode).toBe('NOERROR');
    expect(nodata.answers).toEqual([]);
    expect(nodata.authorities!.map((a) => a.type)).toEqual(['SOA']);
    expect(r.outcomes.map((o) => o[1])).toEqual(['nxdomain', 'answered']);
  });

  it('PTR: an instance gets its hostname, a VPC address without one NXDOMAIN, an outside address is forwarded', async () => {
    const r = rig();
    const ptr = await ask(r, { name: '10.1.18.198.in-addr.arpa', type: 'PTR' });
    expect(data(ptr)).toEqual(['ip-198-18-1-10.ec2.internal']);
    expect(ptr.flag_aa).toBe(true);
    const nx = await ask(r, { name: '77.1.18.198.in-addr.arpa', type: 'PTR' });
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.authorities!.map((a) => a.name)).toEqual(['18.198.in-addr.arpa']);
    expect(r.asked).toHaveLength(0);
    await ask(r, { name: '1.100.51.198.in-addr.arpa', type: 'PTR' });
    expect(r.asked).toHaveLength(1);
  });

  it('public hostname: A gives the private address inside the VPC; PTR of the public address gives the public hostname', async () => {
    const r = rig();
    expect(data(await ask(r, { name: 'ec2-203-0-113-10.compute-1.amazonaws.com' }))).toEqual(['198.18.1.10']);
    expect(data(await ask(r, { name: '10.113.0.203.in-addr.arpa', type: 'PTR' }))).toEqual(['ec2-203-0-113-10.compute-1.amazonaws.com']);
    expect(r.asked).toHaveLength(0);
    // Another public hostname is not ours: forwarded.
    await ask(r, { name: 'ec2-203-0-113-11.compute-1.amazonaws.com' });
    expect(r.asked).toHaveLength(1);
  });

  it('with enableDnsHostnames off, hostnames and PTRs are forwarded, not answered', async () => {
    const r = rig({ enableDnsHostnames: false });
    const p = await ask(r, { name: 'ip-198-18-1-10.ec2.internal' });
    await ask(r, { name: '10.1.18.198.in-addr.arpa', type: 'PTR' });
    expect(r.asked).toHaveLength(2);
    expect(p.flag_aa).toBe(false);
    expect(r.outcomes.map((o) => o[1])).toEqual(['forwarded', 'forwarded']);
  });
});

describe('answer(): private zones', () => {
  it('A record set, authoritative; the client spelling of the name is kept (0x20)', async () => {
    const r = rig();
    const p = await ask(r, { name: 'dB.CoRp.internal' });
    expect(data(p).sort()).toEqual(['198.18.2.20', '198.18.2.21']);
    expect(p.flag_aa).toBe(true);
    expect(p.questions![0]!.name).toBe('dB.CoRp.internal');
    expect(p.answers![0]!.name).toBe('dB.CoRp.internal');
    expect((p.answers![0] as { ttl: number }).ttl).toBe(60);
  });

  it('CNAME chains are followed inside one zone and across zones', async () => {
    const r = rig();
    const p = await ask(r, { name: 'www.corp.internal' });
    expect((p.answers ?? []).map((a) => [a.type, (a as { data: unknown }).data])).toEqual([['CNAME', 'web.corp.internal'], ['A', '198.18.2.30']]);
    const q = await ask(r, { name: 'alias.corp.internal' });
    expect(data(q)).toEqual(['api.shared.internal', '198.18.3.3']);
    // Asked for the CNAME itself: not followed.
    expect(data(await ask(r, { name: 'www.corp.internal', type: 'CNAME' }))).toEqual(['web.corp.internal']);
    expect(r.asked).toHaveLength(0);
  });

  it('a chain to a name outside the zones is completed by the upstream', async () => {
    const r = rig();
    const p = await ask(r, { name: 'out.corp.internal' });
    expect(data(p)).toEqual(['example.net', '203.0.113.7']);
    expect(decode(r.asked[0]!.query).questions![0]!.name).toBe('example.net');
    expect(p.flag_aa).toBe(false);
    const dead = rig({}, () => null);
    expect((await ask(dead, { name: 'out.corp.internal' })).rcode).toBe('SERVFAIL');
  });

  it('a CNAME loop stops; a chain to a missing name is NXDOMAIN with the chain', async () => {
    const r = rig();
    const loop = await ask(r, { name: 'loop1.corp.internal' });
    expect(data(loop)).toEqual(['loop2.corp.internal', 'loop1.corp.internal']);
    const gone = await ask(r, { name: 'gone.corp.internal' });
    expect(gone.rcode).toBe('NXDOMAIN');
    expect(data(gone)).toEqual(['missing.corp.internal']);
  });

  it('a missing name is NXDOMAIN with the zone SOA, never forwarded; another type is NODATA', async () => {
    const r = rig();
    const nx = await ask(r, { name: 'nope.corp.internal' });
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.flag_aa).toBe(true);
    const soa = nx.authorities![0] as { type: string; name: string; data: { rname: string; minimum: number } };
    expect([soa.type, soa.name, soa.data.rname]).toEqual(['SOA', 'corp.internal', 'awsdns-hostmaster.amazon.com']);
    const nodata = await ask(r, { name: 'db.corp.internal', type: 'TXT' });
    expect([nodata.rcode, nodata.answers!.length, nodata.authorities![0]!.type]).toEqual(['NOERROR', 0, 'SOA']);
    // b.c.corp.internal has no records but a.b.c.corp.internal does: it exists (RFC 8020).
    const ent = await ask(r, { name: 'b.c.corp.internal' });
    expect([ent.rcode, ent.answers!.length]).toEqual(['NOERROR', 0]);
    expect(r.asked).toHaveLength(0);
    expect(r.outcomes.map((o) => o[1])).toEqual(['nxdomain', 'answered', 'answered']);
  });

  it('MX, SRV, AAAA and ANY', async () => {
    const r = rig();
    expect(data(await ask(r, { name: 'corp.internal', type: 'MX' }))).toEqual([{ preference: 10, exchange: 'mail.corp.internal' }]);
    expect(data(await ask(r, { name: '_pg._tcp.corp.internal', type: 'SRV' }))).toEqual([{ priority: 10, weight: 5, port: 5432, target: 'db.corp.internal' }]);
    expect(data(await ask(r, { name: 'v6.corp.internal', type: 'AAAA' }))).toEqual(['2001:db8::1']);
    expect((await ask(r, { name: 'db.corp.internal', type: 'ANY' })).answers).toHaveLength(2);
  });
});

describe('answer(): forwarding', () => {
  it('other names go to the upstream as sent; the reply keeps the client id, RA set', async () => {
    const r = rig();
    const q = query({ name: 'example.com', id: 0xbeef });
    const out = await answer(q, '198.18.1.10', r.opts, 'udp');
    const p = decode(out!);
    expect(r.asked).toHaveLength(1);
    expect(r.asked[0]!.query.equals(q)).toBe(true);
    expect(r.asked[0]!.viaTcp).toBe(false);
    expect(p.id).toBe(0xbeef);
    expect(p.flag_ra).toBe(true);
    expect(data(p)).toEqual(['203.0.113.7']);
    await answer(q, '198.18.1.10', r.opts, 'tcp');
    expect(r.asked[1]!.viaTcp).toBe(true);
    expect(r.outcomes.map((o) => o[1])).toEqual(['forwarded', 'forwarded']);
  });

  it('no answer, a throw, garbage or the wrong question from the upstream: SERVFAIL', async () => {
    const replies: UpstreamReply[] = [
      () => null,
      () => 'throw',
      () => 'garbage',
      (q) => ({ type: 'response', id: q.id, flags: 0x0180, questions: [{ name: 'other.example', type: 'A', class: 'IN' }] }),
    ];
    for (const reply of replies) {
      const r = rig({}, reply);
      const p = await ask(r, { name: 'example.com', id: 77 });
      expect([p.rcode, p.id, p.flag_ra]).toEqual(['SERVFAIL', 77, true]);
      expect(r.outcomes).toEqual([['web-1', 'servfail']]);
    }
  });

  it('a forwarded answer too big for the client UDP size is cut with TC; over TCP it comes whole', async () => {
    const many: Answer[] = Array.from({ length: 60 }, (_, i) => ({ name: 'many.example', type: 'A', ttl: 30, data: `203.0.113.${i}` }));
    const r = rig({}, (q) => ({ type: 'response', id: q.id, flags: 0x0180, questions: q.questions, answers: many }));
    const udp = await ask(r, { name: 'many.example' });
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const tcp = await ask(r, { name: 'many.example' }, 'tcp');
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(60);
  });
});

describe('answer(): refusals and malformed queries', () => {
  it('an unknown client gets REFUSED, without a lookup', async () => {
    const r = rig();
    const p = await ask(r, { name: 'db.corp.internal' }, 'udp', '198.51.100.9');
    expect(p.rcode).toBe('REFUSED');
    expect(p.answers).toEqual([]);
    expect(r.outcomes).toEqual([[undefined, 'refused']]);
  });

  it('opcodes other than QUERY get NOTIMP; AXFR gets REFUSED', async () => {
    const r = rig();
    const q = query({ name: 'corp.internal' });
    q.writeUInt16BE(q.readUInt16BE(2) | (4 << 11), 2); // NOTIFY
    const out = decode((await answer(q, '198.18.1.10', r.opts, 'udp'))!) as DecodedPacket & { rcode: string };
    expect(out.rcode).toBe('NOTIMP');
    expect((await ask(r, { name: 'corp.internal', type: 'AXFR' }, 'tcp')).rcode).toBe('REFUSED');
    expect(r.outcomes.map((o) => o[1])).toEqual(['refused', 'refused']);
  });

  it('short messages and responses get no answer; garbage and two questions get FORMERR; all counted malformed', async () => {
    const r = rig();
    expect(await answer(Buffer.from([1, 2, 3]), '198.18.1.10', r.opts, 'udp')).toBeNull();
    const resp = query({ name: 'x.example' });
    resp.writeUInt16BE(resp.readUInt16BE(2) | 0x8000, 2);
    expect(await answer(resp, '198.18.1.10', r.opts, 'udp')).toBeNull();
    const garbage = Buffer.concat([Buffer.from([0x42, 0x42, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 0x00, 0xff])]);
    const g = decode((await answer(garbage, '198.18.1.10', r.opts, 'udp'))!) as DecodedPacket & { rcode: string };
    expect([g.id, g.rcode]).toEqual([0x4242, 'FORMERR']);
    const two = encode({ type: 'query', id: 9, flags: 0x100, questions: [{ name: 'a.example', type: 'A' }, { name: 'b.example', type: 'A' }] });
    const t = decode((await answer(two, '198.18.1.10', r.opts, 'udp'))!) as DecodedPacket & { rcode: string };
    expect(t.rcode).toBe('FORMERR');
    expect(r.outcomes.map((o) => o[1])).toEqual(['malformed', 'malformed', 'malformed', 'malformed']);
    expect(r.asked).toHaveLength(0);
  });
});

describe('answer(): EDNS and truncation', () => {
  it('an OPT in the query gets an OPT back; none without', async () => {
    const r = rig();
    const withOpt = await ask(r, { name: 'db.corp.internal', udpSize: 4096 });
    expect(withOpt.additionals!.map((a) => a.type)).toEqual(['OPT']);
    const without = await ask(r, { name: 'db.corp.internal' });
    expect(without.additionals).toEqual([]);
  });

  it('EDNS version 1 gets BADVERS', async () => {
    const r = rig();
    const p = await ask(r, { name: 'db.corp.internal', udpSize: 4096, ednsVersion: 1 });
    const opt = p.additionals![0] as OptAnswer;
    expect(opt.extendedRcode).toBe(1);
    expect(p.answers).toEqual([]);
    expect(r.outcomes.map((o) => o[1])).toEqual(['malformed']);
  });

  it('a local answer over 512 bytes is cut with TC without EDNS, whole with a 4096-byte EDNS size and over TCP', async () => {
    const r = rig();
    const plain = await answer(query({ name: 'big.corp.internal', type: 'TXT' }), '198.18.1.10', r.opts, 'udp');
    expect(plain!.length).toBeLessThanOrEqual(512);
    const p = decode(plain!);
    expect(p.flags! & FLAG_TC).toBe(FLAG_TC);
    expect(p.answers).toEqual([]);
    expect(p.questions![0]!.name).toBe('big.corp.internal');
    // A client size below 512 still gets 512 (RFC 6891 6.2.5).
    const small = decode((await answer(query({ name: 'big.corp.internal', type: 'TXT', udpSize: 100 }), '198.18.1.10', r.opts, 'udp'))!);
    expect(small.flag_tc).toBe(true);
    const edns = await answer(query({ name: 'big.corp.internal', type: 'TXT', udpSize: 4096 }), '198.18.1.10', r.opts, 'udp');
    expect(edns!.length).toBeGreaterThan(512);
    expect(decode(edns!).answers).toHaveLength(30);
    expect(decode(edns!).flag_tc).toBe(false);
    const tcp = decode((await answer(query({ name: 'big.corp.internal', type: 'TXT' }), '198.18.1.10', r.opts, 'tcp'))!);
    expect([tcp.flag_tc, tcp.answers!.length]).toEqual([false, 30]);
  });
});

describe('options: checked when set, names normalised', () => {
  const zone = (type: PrivateZone['records'][number]['type'], value: string): PrivateZone[] => [{ name: 'corp.internal', records: [{ name: 'x.corp.internal', type, values: [value], ttl: 60 }] }];

  it('a bad region, CIDR, address or record value throws when the options are given, not at query time', () => {
    const bad: Array<[Partial<DnsServiceOptions>, RegExp]> = [
      [{ region: 'mars' }, /region/],
      [{ vpcCidr: '198.18.0.0/33' }, /vpcCidr/],
      [{ instances: [{ name: 'i', privateIp: '198.18.1.1', publicIp: 'nope' }] }, /publicIp/],
      [{ privateZones: zone('A', '198.18.2.300') }, /x\.corp\.internal A/],
      [{ privateZones: zone('AAAA', '2001:db8::g') }, /AAAA/],
      [{ privateZones: zone('MX', 'ten mail.corp.internal') }, /MX/],
      [{ privateZones: zone('SRV', '1 2 70000 db.corp.internal') }, /SRV/],
      [{ privateZones: zone('CNAME', 'a..b') }, /CNAME/],
      [{ privateZones: [{ name: 'corp.internal', records: [{ name: 'db.other.internal', type: 'A', values: ['198.18.2.1'], ttl: 1 }] }] }, /outside its zone/],
      [{ perEniLimitPps: 0 }, /perEniLimitPps/],
    ];
    for (const [over, re] of bad) expect(() => new DnsService(rig(over).opts), re.source).toThrow(re);
  });

  it('zone, record and target names are matched without case and without the trailing dot', async () => {
    const r = rig({ privateZones: [{ name: 'Corp.Internal.', records: [
      { name: 'DB.Corp.Internal.', type: 'A', values: ['198.18.2.20'], ttl: 60 },
      { name: 'www.corp.internal', type: 'CNAME', values: ['DB.CORP.INTERNAL.'], ttl: 60 },
    ] }] });
    expect(data(await ask(r, { name: 'db.corp.internal' }))).toEqual(['198.18.2.20']);
    expect(data(await ask(r, { name: 'WWW.corp.internal' }))).toEqual(['db.corp.internal', '198.18.2.20']);
    expect(r.asked).toHaveLength(0);
  });
});

describe('answer(): property', () => {
  const TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'SRV', 'PTR', 'SOA', 'NS', 'ANY', 'CAA', 'UNKNOWN_65280', 'AXFR'];
  const label = fc.oneof(
    fc.constantFrom('db', 'www', 'corp', 'internal', 'ec2', 'ip-198-18-1-10', 'in-addr', 'arpa', '10', '1', '18', '198', 'big', 'loop1', 'out', 'alias'),
    fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/),
    fc.string({ minLength: 1, maxLength: 10 }),
  );
  const name = fc.array(label, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('.')).filter((n) => Buffer.byteLength(n) < 200 && !n.split('.').some((l) => l === ''));

  it('random names, types, flags and EDNS sizes: never throws, parseable, same id, one outcome', async () => {
    const seed = propertySeed('dns answer');
    const counts = new CaseCounts(['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED', 'truncated'] as const);
    const r = rig({}, (q) => (q.id! % 3 === 0 ? null : defaultUpstream(q)));
    const prop = fc.asyncProperty(
      name, fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.option(fc.integer({ min: 0, max: 65535 })), fc.constantFrom('udp', 'tcp'),
      async (n, t, id, rd, size, transport) => {
        let q: Buffer;
        try {
          q = query({ name: n, type: t, id, rd, ...(size !== null ? { udpSize: size } : {}) });
        } catch {
          return; // a name dns-packet cannot encode is not a query
        }
        const before = r.outcomes.length;
        const out = await answer(q, '198.18.1.10', r.opts, transport as 'udp' | 'tcp');
        expect(r.outcomes.length - before).toBe(1);
        expect(out).not.toBeNull();
        const p = decode(out!) as DecodedPacket & { rcode: string };
        expect(p.id).toBe(id);
        expect(p.flag_qr).toBe(true);
        if (transport === 'udp') expect(out!.length).toBeLessThanOrEqual(size === null ? 512 : Math.min(4096, Math.max(512, size)));
        if (p.flag_tc) counts.add('truncated');
        if (p.rcode === 'NOERROR' || p.rcode === 'NXDOMAIN' || p.rcode === 'SERVFAIL' || p.rcode === 'REFUSED') counts.add(p.rcode);
      },
    );
    const fcr = await fc.check(prop, { seed, numRuns: 600 });
    console.log(`dns answer: fast-check seed ${seed}, ${fcr.numRuns} cases`);
    counts.print('dns answer outcomes');
    if (fcr.failed) throw new Error(fc.defaultReportMessage(fcr) ?? 'property failed');
    expect(counts.empty().filter((k) => k !== 'truncated')).toEqual([]);
  });

  it('random bytes: never throws, one outcome; a response, when given, parses and carries the id', async () => {
    const seed = propertySeed('dns bytes');
    const r = rig();
    let answered = 0;
    const prop = fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.uint8Array({ minLength: 0, maxLength: 60 }), async (head, tail) => {
      // Half the cases start with a valid header of one question, to reach the name parser.
      const bytes = Buffer.concat([Buffer.from(head), Buffer.from(tail)]);
      if (bytes.length >= 12 && head.length % 2 === 0) {
        bytes.writeUInt16BE(0x0100, 2);
        bytes.writeUInt16BE(1, 4);
      }
      const before = r.outcomes.length;
      const out = await answer(bytes, '198.18.1.10', r.opts, 'udp');
      expect(r.outcomes.length - before).toBe(1);
      if (out === null) return;
      answered++;
      const p = decode(out);
      expect(p.id).toBe(bytes.readUInt16BE(0));
      expect(p.flag_qr).toBe(true);
    });
    const fcr = await fc.check(prop, { seed, numRuns: 1000 });
    console.log(`dns bytes: fast-check seed ${seed}, ${fcr.numRuns} cases, ${answered} answered`);
    if (fcr.failed) throw new Error(fc.defaultReportMessage(fcr) ?? 'property failed');
    expect(fcr.numRuns).toBe(1000);
    expect(answered).toBeGreaterThan(0);
  });
});
