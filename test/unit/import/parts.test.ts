/** Parts of `vpcd import aws`: names, --remap, AWS protocols. */
import { describe, expect, it } from 'vitest';
import { protocol } from '../../../src/import/map-rules.js';
import { NameSpace, sanitizeName } from '../../../src/import/names.js';
import { parseRemap, RemapError, Remapper } from '../../../src/import/remap.js';

describe('names', () => {
  it('Name tags become vpcd names; invalid characters become "-"; clashes get the id', () => {
    expect(sanitizeName('Prod / Web (A)')).toBe('Prod-Web-A');
    expect(sanitizeName('   ')).toBe('');
    const ns = new NameSpace(['igw']);
    const renamed: string[] = [];
    const hear = (w: string, g: string) => renamed.push(`${w}->${g}`);
    expect(ns.take('web', 'i-1', hear)).toBe('web');
    expect(ns.take('web', 'i-2', hear)).toBe('web-i-2');
    expect(ns.take(undefined, 'i-3', hear)).toBe('i-3');
    expect(ns.take('igw', 'igw-9', hear)).toBe('igw-igw-9');
    expect(ns.take('a b', 'i-4', hear)).toBe('a-b');
    expect(renamed).toEqual(['web->web-i-2', 'igw->igw-igw-9', 'a b->a-b']);
  });
});

describe('--remap', () => {
  const r = new Remapper([parseRemap('172.31.0.0/16=198.18.0.0/16')]);
  it('moves addresses and CIDRs inside FROM, keeping their offset', () => {
    expect(r.addr('172.31.40.10')).toBe('198.18.40.10');
    expect(r.addr('10.0.0.1')).toBe('10.0.0.1');
    expect(r.cidr('172.31.32.0/20')).toEqual({ kind: 'moved', text: '198.18.32.0/20' });
    expect(r.cidr('172.31.0.0/16')).toEqual({ kind: 'moved', text: '198.18.0.0/16' });
    expect(r.cidr('203.0.113.0/24')).toEqual({ kind: 'outside', text: '203.0.113.0/24' });
    expect(r.cidr('::/0')).toEqual({ kind: 'outside', text: '::/0' });
  });
  it('a CIDR around FROM stays, marked', () => {
    expect(r.cidr('172.16.0.0/12')).toEqual({ kind: 'contains', text: '172.16.0.0/12', from: '172.31.0.0/16' });
    expect(r.cidr('0.0.0.0/0')).toEqual({ kind: 'contains', text: '0.0.0.0/0', from: '172.31.0.0/16' });
  });
  it('rejects what is not FROM=TO of one length, and overlaps', () => {
    expect(() => parseRemap('172.31.0.0/16')).toThrow(RemapError);
    expect(() => parseRemap('172.31.0.0/16=198.18.0.0/15')).toThrow(/same prefix length/);
    expect(() => parseRemap('2001:db8::/32=198.18.0.0/16')).toThrow(/not an IPv4 CIDR/);
    expect(() => new Remapper([parseRemap('10.0.0.0/16=198.18.0.0/16'), parseRemap('10.0.0.0/24=198.19.0.0/24')])).toThrow(/overlap/);
  });
});

describe('AWS protocols (IpProtocol, NACL Protocol)', () => {
  it('-1 is all; tcp/udp with ports, the full range left out; ICMP type/code from FromPort/ToPort', () => {
    expect(protocol('-1', undefined, undefined)).toEqual({ protocol: 'all' });
    expect(protocol('tcp', 443, 443)).toEqual({ protocol: 'tcp', ports: 443 });
    expect(protocol('6', 1024, 65535)).toEqual({ protocol: 'tcp', ports: '1024-65535' });
    expect(protocol('udp', 0, 65535)).toEqual({ protocol: 'udp' });
    expect(protocol('icmp', 8, -1)).toEqual({ protocol: 'icmp', icmpType: 8 });
    expect(protocol('1', 3, 4)).toEqual({ protocol: 'icmp', icmpType: 3, icmpCode: 4 });
    expect(protocol('icmp', -1, -1)).toEqual({ protocol: 'icmp' });
    expect(protocol('icmpv6', 128, -1)).toEqual({ protocol: 58, icmpType: 128 });
    expect(protocol('50', undefined, undefined)).toEqual({ protocol: 50 });
    expect(protocol('sctpx', undefined, undefined)).toBeUndefined();
  });
});
