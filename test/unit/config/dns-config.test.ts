/**
 * privateZones and dns: what the loader stores (names normalised, relative
 * record names made absolute, default TTL, upstream ports) and each
 * rejection with its message and position.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError } from '../../../src/control/config-types.js';

const doc = (...lines: string[]): string => ['vpc: { name: t, cidr: 198.18.0.0/16 }', ...lines, ''].join('\n');

function messages(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('privateZones', () => {
  it('absent: no zones; dns absent: no upstreams', () => {
    const c = parseConfig(doc(), 'c.yaml');
    expect(c.privateZones).toEqual([]);
    expect(c.dns).toEqual({ upstreams: [] });
  });

  it('stores zones in file order with absolute lower-case names, Route 53 value forms and TTL 300 by default', () => {
    const c = parseConfig(doc(
      'privateZones:',
      '  Corp.Internal.:',
      '    records:',
      '      - { name: DB, type: A, values: [198.18.2.20, 198.18.2.21], ttl: 60 }',
      '      - { name: www.corp.internal., type: CNAME, values: [Web.Corp.Internal.] }',
      "      - { name: '@', type: MX, values: ['10 Mail.corp.internal.'] }",
      "      - { name: _pg._tcp, type: SRV, values: ['10 5 5432 db.corp.internal'] }",
      "      - { name: v6, type: AAAA, values: ['2001:DB8:0:0::1'] }",
      "      - { name: info, type: TXT, values: ['hello world', 42] }",
      '  other.internal: {}',
    ), 'c.yaml');
    expect(c.privateZones).toEqual([
      {
        name: 'corp.internal',
        records: [
          { name: 'db.corp.internal', type: 'A', values: ['198.18.2.20', '198.18.2.21'], ttl: 60 },
          { name: 'www.corp.internal', type: 'CNAME', values: ['web.corp.internal'], ttl: 300 },
          { name: 'corp.internal', type: 'MX', values: ['10 mail.corp.internal'], ttl: 300 },
          { name: '_pg._tcp.corp.internal', type: 'SRV', values: ['10 5 5432 db.corp.internal'], ttl: 300 },
          { name: 'v6.corp.internal', type: 'AAAA', values: ['2001:db8::1'], ttl: 300 },
          { name: 'info.corp.internal', type: 'TXT', values: ['hello world', '42'], ttl: 300 },
        ],
      },
      { name: 'other.internal', records: [] },
    ]);
  });

  it('rejects bad zones and records, each at its value', () => {
    const m = messages(doc(
      'privateZones:',
      '  bad..zone: {}',
      '  corp.internal:',
      '    records:',
      '      - { name: db, type: A, values: [198.18.2.300] }',
      '      - { name: db, type: PTR, values: [x] }',
      '      - { name: mx, type: MX, values: [mail.corp.internal] }',
      '      - { name: srv, type: SRV, values: [10 5 port db] }',
      '      - { name: c, type: CNAME, values: [a.example, b.example] }',
      '      - { name: e, type: A, values: [] }',
      '      - { name: -x, type: A, values: [198.18.2.1] }',
      '      - { name: t, type: A, values: [198.18.2.1], ttl: -1 }',
      '      - { name: dup, type: A, values: [198.18.2.1] }',
      '      - { name: dup, type: A, values: [198.18.2.2] }',
      '      - { name: mix, type: CNAME, values: [a.example] }',
      '      - { name: mix, type: TXT, values: [x] }',
      '      - { type: A, values: [198.18.2.1] }',
      '  CORP.internal: {}',
    ));
    expect(m).toEqual([
      '3:3: privateZones.bad..zone: "bad..zone" is not a zone name: it has an empty label (two dots in a row, or a leading dot)',
      '6:39: privateZones.corp.internal.records[0].values[0]: expected an IPv4 address such as 198.18.2.20, got "198.18.2.300"',
      '7:27: privateZones.corp.internal.records[1].type: expected one of A, AAAA, CNAME, TXT, MX, SRV, got "PTR"',
      '8:40: privateZones.corp.internal.records[2].values[0]: expected "preference mail-server" such as "10 mail.corp.internal", got "mail.corp.internal"',
      '9:42: privateZones.corp.internal.records[3].values[0]: expected "priority weight port target" such as "10 5 5432 db.corp.internal", got "10 5 port db"',
      '10:41: privateZones.corp.internal.records[4].values: a CNAME has exactly one value',
      '11:37: privateZones.corp.internal.records[5].values: a record needs at least one value',
      '12:17: privateZones.corp.internal.records[6].name: "-x" is not a DNS name: it has the label "-x": letters, digits, "-" and "_" only, not starting or ending with "-"',
      '13:56: privateZones.corp.internal.records[7].ttl: expected an integer between 0 and 2147483647 (seconds), got -1',
      '15:9: privateZones.corp.internal.records[9]: dup.corp.internal already has a record set of type A at privateZones.corp.internal.records[8]; put all values in one record\'s values',
      '17:9: privateZones.corp.internal.records[11]: mix.corp.internal is a CNAME (privateZones.corp.internal.records[10]); it cannot have other records',
      '18:9: privateZones.corp.internal.records[12].name: required key is missing',
      '19:3: privateZones.CORP.internal: the zone corp.internal is already defined (names are case-insensitive)',
    ]);
  });
});

describe('dns', () => {
  it('upstreams: address, address:port, IPv6 and [IPv6]:port; port 53 by default', () => {
    const c = parseConfig(doc("dns: { upstreams: ['203.0.113.53', '127.0.0.1:5353', '2001:db8::53', '[2001:DB8::54]:5300'] }"), 'c.yaml');
    expect(c.dns.upstreams).toEqual([
      { host: '203.0.113.53', port: 53 },
      { host: '127.0.0.1', port: 5353 },
      { host: '2001:db8::53', port: 53 },
      { host: '2001:db8::54', port: 5300 },
    ]);
  });

  it('rejects names, bad ports, a non-list and unknown keys', () => {
    expect(messages(doc("dns: { upstreams: ['resolver.example', '127.0.0.1:0', '127.0.0.1:99999', 53] }"))).toEqual([
      '2:20: dns.upstreams[0]: "resolver.example" is not an IPv4 or IPv6 address (with an optional :port; [addr]:port for IPv6)',
      '2:40: dns.upstreams[1]: "127.0.0.1:0" has the port "0": expected 1..65535',
      '2:55: dns.upstreams[2]: "127.0.0.1:99999" has the port "99999": expected 1..65535',
      '2:74: dns.upstreams[3]: expected a resolver address such as 203.0.113.53 or 127.0.0.1:5353, got 53',
    ]);
    expect(messages(doc('dns: { upstreams: 203.0.113.53 }'))[0]).toContain("dns.upstreams: expected a list of resolver addresses such as ['203.0.113.53', '127.0.0.1:5353'], got \"203.0.113.53\"");
    expect(messages(doc('dns: { upstream: [] }'))[0]).toContain('dns.upstream: unknown key (did you mean "upstreams"?)');
  });
});
