import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_MATCH, type SgEntry, SgOriginKind, compileSgSet, isUntrackedFlow, sgL4Value } from '../../../src/conntrack/sg-compile.js';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0) >>> 0;
const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

function row(over: Partial<SgEntry> & { cidr?: string }): SgEntry {
  const [addr, len] = (over.cidr ?? '0.0.0.0/0').split('/');
  const family = addr.includes(':') ? 6 : 4;
  const { cidr: _cidr, ...rest } = over;
  return {
    protocol: -1,
    icmpType: -1,
    icmpCode: -1,
    family,
    net: family === 4 ? ip(addr) : 0,
    prefixLen: Number(len),
    originGroup: 0,
    originRule: 0,
    ...rest,
  };
}

/** One AWS SG rule read literally. */
function ruleMatches(e: SgEntry, addr: number, proto: number, port: number, type: number, code: number): boolean {
  if (e.family !== 4) return false;
  const m = mask(e.prefixLen);
  if (((addr & m) >>> 0) !== ((e.net & m) >>> 0)) return false;
  if (e.protocol !== -1 && e.protocol !== proto) return false;
  if (e.protocol === 6 || e.protocol === 17) return e.ports === undefined || (port >= e.ports.from && port <= e.ports.to);
  if ((e.protocol === 1 || e.protocol === 58) && e.icmpType !== -1) return e.icmpType === type && (e.icmpCode === -1 || e.icmpCode === code);
  return true;
}

/** [EC2-CT] untracked condition read literally. */
const isCidrAll = (e: SgEntry): boolean => e.family === 4 && e.prefixLen === 0 && (e.originKind ?? SgOriginKind.Cidr) === SgOriginKind.Cidr;
function naiveUntracked(admitting: readonly SgEntry[], opposite: readonly SgEntry[], proto: number, port: number): boolean {
  if (proto !== 6 && proto !== 17) return false;
  const allAddr = admitting.some((e) => isCidrAll(e) && ruleMatches(e, 0, proto, port, 0, 0));
  const response = opposite.some(
    (e) => isCidrAll(e) && (e.protocol === -1 || (e.protocol === proto && (e.ports === undefined || (e.ports.from === 0 && e.ports.to === 65535)))),
  );
  return allAddr && response;
}

describe('compileSgSet', () => {
  it('allows a packet if any rule of any group allows it, reporting the origin', () => {
    const s = compileSgSet(
      [
        row({ protocol: 6, ports: { from: 443, to: 443 }, originGroup: 0, originRule: 0 }),
        row({ protocol: 6, ports: { from: 22, to: 22 }, cidr: '198.18.3.7/32', originGroup: 0, originRule: 1 }),
        row({ protocol: 1, icmpType: 8, cidr: '198.18.0.0/16', originGroup: 1, originRule: 0 }),
      ],
      ['web', 'ops'],
    );
    expect(s.origin(s.match(ip('203.0.113.9'), 6, 443, 0, 0))).toEqual({ group: 'web', rule: 0 });
    expect(s.origin(s.match(ip('198.18.3.7'), 6, 22, 0, 0))).toEqual({ group: 'web', rule: 1 });
    expect(s.match(ip('198.18.3.8'), 6, 22, 0, 0)).toBe(NO_MATCH);
    expect(s.origin(s.match(ip('198.18.9.9'), 1, 0, 8, 5))).toEqual({ group: 'ops', rule: 0 }); // any code of type 8
    expect(s.match(ip('198.18.9.9'), 1, 0, 0, 0)).toBe(NO_MATCH);
    expect(s.match(ip('198.18.9.9'), 17, 443, 0, 0)).toBe(NO_MATCH);
  });

  it('a rule for protocol number 0 admits protocol 0 only, not every protocol', () => {
    const s = compileSgSet([row({ protocol: 0 })], ['g']);
    expect(s.match(ip('203.0.113.9'), 0, 0, 0, 0)).toBe(0);
    expect(s.match(ip('203.0.113.9'), 6, 443, 0, 0)).toBe(NO_MATCH);
    expect(s.match(ip('203.0.113.9'), 17, 53, 0, 0)).toBe(NO_MATCH);
  });

  it("explain names a slot whose group is missing from the names '?'", () => {
    const s = compileSgSet([row({ originGroup: 3, originRule: 2 })], ['only']);
    expect(s.origin(0)).toEqual({ group: '?', rule: 2 });
  });

  it('allows nothing with no rules (a group with egress: [])', () => {
    const s = compileSgSet([], ['db']);
    expect(s.match(0, 6, 80, 0, 0)).toBe(NO_MATCH);
    expect(s.hasAllOpenResponseRule(6)).toBe(false);
  });

  it('leaves IPv6 rows out', () => {
    const s = compileSgSet([row({ cidr: '::/0' })], ['g']);
    expect(s.count).toBe(0);
    expect(s.hasAllOpenResponseRule(6)).toBe(false);
  });

  it('flags all-address slots and all-open response rules per protocol', () => {
    const s = compileSgSet(
      [
        row({ protocol: 6, ports: { from: 0, to: 65535 } }),
        row({ protocol: 17, ports: { from: 1, to: 65535 } }),
        row({ protocol: 17, cidr: '198.18.0.0/16' }),
      ],
      ['g'],
    );
    expect(Array.from(s.allowsAllAddresses)).toEqual([1, 1, 0]);
    expect(s.hasAllOpenResponseRule(6)).toBe(true);
    expect(s.hasAllOpenResponseRule(17)).toBe(false); // ports 1-65535 is not all ports; /16 is not all addresses
    expect(s.hasAllOpenResponseRule(1)).toBe(false);
    expect(compileSgSet([row({ protocol: -1 })], ['g']).hasAllOpenResponseRule(17)).toBe(true);
  });

  it('counts only a CIDR rule as "all addresses", not a prefix list holding 0.0.0.0/0', () => {
    const viaList = compileSgSet([row({ protocol: -1, originKind: SgOriginKind.PrefixList })], ['g']);
    expect(viaList.match(ip('203.0.113.1'), 6, 80, 0, 0)).toBe(0); // it still allows
    expect(viaList.allowsAllAddresses[0]).toBe(0);
    expect(viaList.hasAllOpenResponseRule(6)).toBe(false);
  });

  it('matches ICMPv6 rules by type/code like ICMP', () => {
    const s = compileSgSet([row({ protocol: 58, icmpType: 128, icmpCode: -1 })], ['g']);
    expect(s.match(1, 58, 0, 128, 0)).toBe(0);
    expect(s.match(1, 58, 0, 129, 0)).toBe(NO_MATCH);
  });

  it('skips group-reference slots for traffic that crossed a middlebox', () => {
    const s = compileSgSet(
      [row({ protocol: 6, cidr: '198.18.1.10/32', originKind: SgOriginKind.Group, originRule: 0 }), row({ protocol: 6, cidr: '198.18.1.0/24', originRule: 1 })],
      ['g'],
    );
    expect(s.originRule[s.match(ip('198.18.1.10'), 6, 5432, 0, 0)]).toBe(0);
    expect(s.originRule[s.matchL4NoGroupRefs(ip('198.18.1.10'), 6, 5432)]).toBe(1);
    expect(s.matchL4NoGroupRefs(ip('198.18.2.10'), 6, 5432)).toBe(NO_MATCH);
  });

  it('reproduces the [EC2-CT] worked example: SSH tracked, HTTP untracked, ICMP tracked', () => {
    const inbound = compileSgSet(
      [
        row({ protocol: 6, ports: { from: 22, to: 22 }, cidr: '203.0.113.1/32' }),
        row({ protocol: 6, ports: { from: 80, to: 80 } }),
        row({ protocol: 6, ports: { from: 80, to: 80 }, cidr: '::/0' }),
        row({ protocol: 1 }),
      ],
      ['g'],
    );
    const outbound = compileSgSet([row({ protocol: -1 }), row({ protocol: -1, cidr: '::/0' })], ['g']);
    expect(isUntrackedFlow(inbound, outbound, 6, sgL4Value(6, 22, 0, 0))).toBe(false);
    expect(isUntrackedFlow(inbound, outbound, 6, sgL4Value(6, 80, 0, 0))).toBe(true);
    expect(isUntrackedFlow(inbound, outbound, 1, sgL4Value(1, 0, 8, 0))).toBe(false);
    // without the IPv4 all-open outbound rule, IPv4 port 80 becomes tracked too
    const outboundV6Only = compileSgSet([row({ protocol: -1, cidr: '::/0' })], ['g']);
    expect(isUntrackedFlow(inbound, outboundV6Only, 6, sgL4Value(6, 80, 0, 0))).toBe(false);
  });

  it('agrees with a literal union evaluation on random rule sets and packets', () => {
    const addrPool = [0, ip('198.18.1.10'), ip('198.18.2.20'), ip('203.0.113.1'), 0xffffffff];
    const rowArb = fc.record({
      protocol: fc.constantFrom(-1, 1, 6, 17, 47, 58),
      ports: fc.option(
        fc.tuple(fc.constantFrom(0, 1, 22, 80, 1024), fc.constantFrom(0, 80, 1023, 65535)).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) })),
        { nil: undefined },
      ),
      icmpType: fc.constantFrom(-1, 0, 3, 8),
      icmpCode: fc.constantFrom(-1, 0, 4),
      family: fc.constantFrom<4 | 6>(4, 4, 4, 6),
      net: fc.oneof(fc.constantFrom(...addrPool), fc.integer({ min: 0, max: 0xffffffff })),
      prefixLen: fc.constantFrom(0, 0, 8, 16, 24, 32),
      originGroup: fc.integer({ min: 0, max: 2 }),
      originKind: fc.constantFrom<SgOriginKind>(SgOriginKind.Cidr, SgOriginKind.Cidr, SgOriginKind.Group, SgOriginKind.PrefixList),
    });
    const setArb = fc.array(rowArb, { maxLength: 15 }).map((rows) => rows.map((r, i): SgEntry => ({ ...r, originRule: i })));
    const pktArb = fc.record({
      addr: fc.oneof(fc.constantFrom(...addrPool), fc.integer({ min: 0, max: 0xffffffff })),
      proto: fc.constantFrom(1, 6, 17, 47, 58, 2),
      port: fc.constantFrom(0, 1, 22, 80, 1023, 1024, 65535),
      type: fc.constantFrom(0, 3, 8),
      code: fc.constantFrom(0, 4),
    });
    fc.assert(
      fc.property(setArb, setArb, fc.array(pktArb, { minLength: 1, maxLength: 15 }), (rows, opposite, pkts) => {
        const s = compileSgSet(rows, ['a', 'b', 'c']);
        const o = compileSgSet(opposite, ['a', 'b', 'c']);
        for (const p of pkts) {
          const first = rows.findIndex((e) => ruleMatches(e, p.addr, p.proto, p.port, p.type, p.code));
          const slot = s.match(p.addr, p.proto, p.port, p.type, p.code);
          // the first matching slot is the first matching input row (input order is kept)
          expect(slot === NO_MATCH ? -1 : s.originRule[slot]).toBe(first);
          if (slot !== NO_MATCH) {
            expect(s.originGroup[slot]).toBe(rows[first].originGroup);
            expect(s.allowsAllAddresses[slot]).toBe(isCidrAll(rows[first]) ? 1 : 0);
          }
          const firstNoRef = rows.findIndex((e) => e.originKind !== SgOriginKind.Group && ruleMatches(e, p.addr, p.proto, p.port, p.type, p.code));
          const slot2 = s.matchL4NoGroupRefs(p.addr, p.proto, sgL4Value(p.proto, p.port, p.type, p.code));
          expect(slot2 === NO_MATCH ? -1 : s.originRule[slot2]).toBe(firstNoRef);
          const l4 = sgL4Value(p.proto, p.port, p.type, p.code);
          expect(isUntrackedFlow(s, o, p.proto, l4)).toBe(naiveUntracked(rows, opposite, p.proto, p.port));
        }
        for (const proto of [1, 6, 17, 47]) {
          expect(o.hasAllOpenResponseRule(proto)).toBe(naiveUntracked([row({ protocol: proto })], opposite, proto, 0));
        }
      }),
      { numRuns: 1500 },
    );
  });
});
