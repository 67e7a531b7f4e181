import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type NaclEntry, NO_MATCH, compileNacl, findShadowedNaclEntries, l4Value, prefixMask } from '../../../src/acl/nacl-compile.js';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0) >>> 0;

function entry(over: Partial<NaclEntry> & { ruleNumber: number; cidr?: string }): NaclEntry {
  const [addr, len] = (over.cidr ?? '0.0.0.0/0').split('/');
  const family = addr.includes(':') ? 6 : 4;
  return {
    allow: true,
    protocol: -1,
    icmpType: -1,
    icmpCode: -1,
    family,
    net: family === 4 ? ip(addr) : 0,
    prefixLen: Number(len),
    ...over,
  };
}

/** The AWS rules read literally: ascending rule number, first match decides. */
function naive(entries: readonly NaclEntry[], addr: number, proto: number, port: number, type: number, code: number): NaclEntry | undefined {
  for (const e of [...entries].sort((a, b) => a.ruleNumber - b.ruleNumber)) {
    if (e.family !== 4) continue; // IPv6 rules never apply to IPv4 traffic
    const m = prefixMask(e.prefixLen);
    if (((addr & m) >>> 0) !== ((e.net & m) >>> 0)) continue;
    if (e.protocol !== -1 && e.protocol !== proto) continue;
    if (e.protocol === 6 || e.protocol === 17) {
      if (e.ports !== undefined && (port < e.ports.from || port > e.ports.to)) continue;
    } else if (e.protocol === 1) {
      if (e.icmpType !== -1) {
        if (e.icmpType !== type) continue;
        if (e.icmpCode !== -1 && e.icmpCode !== code) continue;
      }
    }
    return e;
  }
  return undefined;
}

describe('compileNacl', () => {
  // The custom NACL of docs/config.md: 90 deny one host, 100 allow 443, 110 allow ephemeral.
  const publicIn = compileNacl([
    entry({ ruleNumber: 100, protocol: 6, ports: { from: 443, to: 443 } }),
    entry({ ruleNumber: 110, protocol: 6, ports: { from: 1024, to: 65535 } }),
    entry({ ruleNumber: 90, allow: false, cidr: '203.0.113.66/32' }),
  ]);
  const label = (i: number): number | string => (i === NO_MATCH ? '*' : publicIn.ruleNumber[i]);

  it('evaluates in ascending rule number, first match wins, else *', () => {
    expect(label(publicIn.match(ip('203.0.113.66'), 6, 443, 0, 0))).toBe(90);
    expect(publicIn.allows(publicIn.match(ip('203.0.113.66'), 6, 443, 0, 0))).toBe(false);
    expect(label(publicIn.match(ip('203.0.113.10'), 6, 443, 0, 0))).toBe(100);
    expect(label(publicIn.match(ip('203.0.113.10'), 6, 50000, 0, 0))).toBe(110);
    expect(label(publicIn.match(ip('203.0.113.10'), 6, 139, 0, 0))).toBe('*'); // AWS doc example: port 139 -> *
    expect(publicIn.allows(NO_MATCH)).toBe(false);
    expect(label(publicIn.match(ip('203.0.113.10'), 17, 50000, 0, 0))).toBe('*');
  });

  it('matches ICMP by type and code, -1 meaning all', () => {
    const c = compileNacl([
      entry({ ruleNumber: 10, protocol: 1, icmpType: 3, icmpCode: 4 }),
      entry({ ruleNumber: 20, protocol: 1, icmpType: 11, icmpCode: -1 }),
      entry({ ruleNumber: 30, protocol: 1, icmpType: 8, icmpCode: 0, allow: false }),
      entry({ ruleNumber: 40, protocol: 1 }),
    ]);
    const rn = (t: number, code: number): number | string => {
      const i = c.match(1, 1, 0, t, code);
      return i === NO_MATCH ? '*' : c.ruleNumber[i];
    };
    expect(rn(3, 4)).toBe(10);
    expect(rn(3, 3)).toBe(40);
    expect(rn(11, 0)).toBe(20);
    expect(rn(11, 1)).toBe(20);
    expect(rn(8, 0)).toBe(30);
    expect(rn(0, 0)).toBe(40);
    expect(c.match(1, 6, 0, 3, 4)).toBe(NO_MATCH); // a TCP packet is not ICMP
  });

  it('ignores ports for protocol -1 and protocols other than TCP/UDP/ICMP', () => {
    const c = compileNacl([
      entry({ ruleNumber: 10, protocol: 47, ports: { from: 80, to: 80 } }),
      entry({ ruleNumber: 20, protocol: -1, ports: { from: 80, to: 80 } }),
    ]);
    expect(c.ruleNumber[c.match(1, 47, 0, 0, 0)]).toBe(10);
    expect(c.ruleNumber[c.match(1, 6, 22, 0, 0)]).toBe(20);
    expect(c.ruleNumber[c.match(1, 1, 0, 8, 0)]).toBe(20);
  });

  it('treats tcp with ports 0-0 as port 0 only', () => {
    const c = compileNacl([entry({ ruleNumber: 1, protocol: 6, ports: { from: 0, to: 0 } })]);
    expect(c.match(1, 6, 0, 0, 0)).toBe(0);
    expect(c.match(1, 6, 1, 0, 0)).toBe(NO_MATCH);
  });

  it('never applies IPv6 rules to IPv4 traffic', () => {
    const c = compileNacl([
      entry({ ruleNumber: 50, allow: false, cidr: '::/0' }),
      entry({ ruleNumber: 100, cidr: '0.0.0.0/0' }),
    ]);
    expect(c.count).toBe(1);
    expect(c.ruleNumber[c.match(ip('198.18.1.1'), 6, 80, 0, 0)]).toBe(100);
  });

  it('matches on the CIDR only (source inbound, destination outbound: the caller picks)', () => {
    const c = compileNacl([entry({ ruleNumber: 5, cidr: '198.18.0.0/16' })]);
    expect(c.match(ip('198.18.255.255'), 6, 1, 0, 0)).toBe(0);
    expect(c.match(ip('198.19.0.0'), 6, 1, 0, 0)).toBe(NO_MATCH);
  });

  it('computes the L4 value per protocol', () => {
    expect(l4Value(6, 443, 9, 9)).toBe(443);
    expect(l4Value(17, 65535, 9, 9)).toBe(65535);
    expect(l4Value(1, 80, 3, 4)).toBe(0x0304);
    expect(l4Value(47, 80, 3, 4)).toBe(0);
  });

  it('reports entries shadowed by one earlier entry', () => {
    const c = compileNacl([
      entry({ ruleNumber: 100, protocol: 6, ports: { from: 1024, to: 65535 }, cidr: '0.0.0.0/0' }),
      entry({ ruleNumber: 110, protocol: 6, ports: { from: 8080, to: 8080 }, cidr: '203.0.113.0/24', allow: false }),
      entry({ ruleNumber: 120, protocol: 17, ports: { from: 8080, to: 8080 } }),
      entry({ ruleNumber: 130, protocol: -1, cidr: '10.0.0.0/8' }),
      entry({ ruleNumber: 140, protocol: 6, ports: { from: 22, to: 22 }, cidr: '10.1.0.0/16' }),
    ]);
    expect(findShadowedNaclEntries(c)).toEqual([
      { ruleNumber: 110, by: 100, conflicting: true },
      { ruleNumber: 140, by: 130, conflicting: false },
    ]);
  });

  it('shadowing at the edges: equal ranges and prefixes cover, a narrower or disjoint earlier entry does not', () => {
    const c = compileNacl([
      entry({ ruleNumber: 100, protocol: 6, ports: { from: 80, to: 90 }, cidr: '198.18.0.0/16' }),
      entry({ ruleNumber: 110, protocol: 6, ports: { from: 80, to: 90 }, cidr: '198.18.0.0/16' }), // identical: covered
      entry({ ruleNumber: 120, protocol: 6, ports: { from: 80, to: 91 }, cidr: '198.18.1.0/24' }), // one port more
      entry({ ruleNumber: 130, protocol: 6, ports: { from: 79, to: 90 }, cidr: '198.18.1.0/24' }), // one port less
      entry({ ruleNumber: 140, protocol: 6, ports: { from: 80, to: 90 }, cidr: '198.19.0.0/24' }), // other network
      entry({ ruleNumber: 150, protocol: 17, ports: { from: 80, to: 90 }, cidr: '198.18.1.0/24' }), // other protocol
      entry({ ruleNumber: 160, protocol: 1, cidr: '198.20.1.0/24' }),
      entry({ ruleNumber: 170, protocol: 1, cidr: '198.20.0.0/16' }), // wider than the earlier ICMP rule
      entry({ ruleNumber: 180, protocol: 6, ports: { from: 85, to: 85 }, cidr: '198.18.1.7/32' }), // inside 100
      entry({ ruleNumber: 190, protocol: 47, cidr: '198.21.0.0/24' }),
      entry({ ruleNumber: 200, protocol: 47, cidr: '198.21.0.0/16' }), // same start, wider than 190
    ]);
    expect(findShadowedNaclEntries(c)).toEqual([
      { ruleNumber: 110, by: 100, conflicting: false },
      { ruleNumber: 180, by: 100, conflicting: false },
    ]);
  });

  it('protocol 0 is a protocol like any other, not "all"', () => {
    const c = compileNacl([entry({ ruleNumber: 100, protocol: 0, cidr: '0.0.0.0/0' })]);
    expect(c.match(ip('198.18.1.1'), 0, 0, 0, 0)).toBe(0);
    expect(c.match(ip('198.18.1.1'), 6, 80, 0, 0)).toBe(NO_MATCH);
    expect(c.allows(NO_MATCH)).toBe(false);
    expect(c.allows(0)).toBe(true);
  });

  it('agrees with a literal evaluation of the AWS rules on random lists and packets', () => {
    const addrPool = [0, ip('198.18.1.10'), ip('198.18.2.20'), ip('203.0.113.66'), 0xffffffff, 0x80000000];
    const ruleArb = fc.record({
      allow: fc.boolean(),
      protocol: fc.constantFrom(-1, 1, 6, 17, 47, 58),
      ports: fc.option(
        fc.tuple(fc.constantFrom(0, 1, 22, 443, 1024, 65535), fc.constantFrom(0, 22, 443, 1023, 65535)).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) })),
        { nil: undefined },
      ),
      icmpType: fc.constantFrom(-1, 0, 3, 8, 11),
      icmpCode: fc.constantFrom(-1, 0, 1, 4),
      family: fc.constantFrom<4 | 6>(4, 4, 4, 4, 6),
      net: fc.oneof(fc.constantFrom(...addrPool), fc.integer({ min: 0, max: 0xffffffff })),
      prefixLen: fc.constantFrom(0, 1, 8, 16, 24, 31, 32),
    });
    const listArb = fc
      .uniqueArray(fc.integer({ min: 1, max: 32766 }), { maxLength: 20 })
      .chain((nums) => fc.tuple(...nums.map((n) => ruleArb.map((r): NaclEntry => ({ ...r, ruleNumber: n })))));
    const pktArb = fc.record({
      addr: fc.oneof(fc.constantFrom(...addrPool), fc.integer({ min: 0, max: 0xffffffff })),
      proto: fc.constantFrom(1, 6, 17, 47, 58, 2),
      port: fc.constantFrom(0, 1, 22, 443, 1023, 1024, 8080, 65535),
      type: fc.constantFrom(0, 3, 8, 11),
      code: fc.constantFrom(0, 1, 4),
    });
    fc.assert(
      fc.property(listArb, fc.array(pktArb, { minLength: 1, maxLength: 20 }), (list, pkts) => {
        const c = compileNacl(list);
        for (const p of pkts) {
          const want = naive(list, p.addr, p.proto, p.port, p.type, p.code);
          const got = c.match(p.addr, p.proto, p.port, p.type, p.code);
          expect(got === NO_MATCH ? '*' : c.ruleNumber[got]).toBe(want === undefined ? '*' : want.ruleNumber);
          expect(c.allows(got)).toBe(want?.allow ?? false);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
