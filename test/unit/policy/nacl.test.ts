/** naclDecision: [VPC-NACL] ordered first-match rules with a final `*` deny, [API-NACLE] protocol gotchas. */
import { describe, expect, it } from 'vitest';
import { type NaclRule, type NetworkAcl, withParsed } from '../../../src/control/config-types.js';
import { naclDecision, naclRuleMatches } from '../../../src/policy/nacl.js';
import type { Flow } from '../../../src/policy/types.js';
import { cidrBlock } from '../../helpers/config-builder.js';

function rule(r: Omit<Partial<NaclRule>, 'block'> & Pick<NaclRule, 'rule' | 'action' | 'cidr'>): NaclRule {
  return withParsed({ protocol: -1, icmpType: -1, icmpCode: -1, ...r }, 'block', cidrBlock(r.cidr));
}
function acl(inbound: NaclRule[], outbound: NaclRule[] = []): NetworkAcl {
  return { name: 'acl', inbound, outbound };
}
const tcp = (src: string, dst: string, dport: number): Flow => ({ src, dst, proto: 6, sport: 40000, dport });

describe('naclDecision', () => {
  it('[VPC-NACL] evaluates by ascending rule number whatever the file order; the first match decides', () => {
    const a = acl([
      rule({ rule: 100, action: 'allow', protocol: 6, ports: { from: 443, to: 443 }, cidr: '0.0.0.0/0' }),
      rule({ rule: 90, action: 'deny', cidr: '203.0.113.66/32' }),
    ]);
    expect(naclDecision(a, 'inbound', tcp('203.0.113.66', '198.18.1.10', 443))).toMatchObject({ allow: false, rule: 90 });
    expect(naclDecision(a, 'inbound', tcp('203.0.113.67', '198.18.1.10', 443))).toMatchObject({ allow: true, rule: 100 });
  });

  it('[VPC-NACL] a higher-numbered rule never overrides a lower match', () => {
    const a = acl([
      rule({ rule: 10, action: 'allow', cidr: '0.0.0.0/0' }),
      rule({ rule: 20, action: 'deny', cidr: '203.0.113.66/32' }),
    ]);
    expect(naclDecision(a, 'inbound', tcp('203.0.113.66', '198.18.1.10', 22))).toMatchObject({ allow: true, rule: 10 });
  });

  it('[VPC-NACL] no match: the final * rule denies; an empty custom NACL denies everything', () => {
    expect(naclDecision(acl([]), 'inbound', tcp('1.2.3.4', '198.18.1.10', 80))).toEqual({ allow: false, rule: '*' });
    expect(naclDecision(acl([]), 'outbound', tcp('198.18.1.10', '1.2.3.4', 80))).toEqual({ allow: false, rule: '*' });
  });

  it('[VPC-NACL] inbound rules match the source, outbound rules the destination', () => {
    const a = acl([rule({ rule: 1, action: 'allow', cidr: '10.0.0.0/8' })], [rule({ rule: 1, action: 'allow', cidr: '10.0.0.0/8' })]);
    expect(naclDecision(a, 'inbound', tcp('10.1.1.1', '198.18.1.10', 80)).allow).toBe(true);
    expect(naclDecision(a, 'inbound', tcp('198.18.1.10', '10.1.1.1', 80)).allow).toBe(false);
    expect(naclDecision(a, 'outbound', tcp('198.18.1.10', '10.1.1.1', 80)).allow).toBe(true);
    expect(naclDecision(a, 'outbound', tcp('10.1.1.1', '198.18.1.10', 80)).allow).toBe(false);
  });

  it('[VPC-NACL] the port range is the destination port (replies to ephemeral ports need their own rule)', () => {
    const r = rule({ rule: 1, action: 'allow', protocol: 6, ports: { from: 1024, to: 65535 }, cidr: '0.0.0.0/0' });
    expect(naclRuleMatches(r, 'inbound', { src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 80, dport: 49152 })).toBe(true);
    expect(naclRuleMatches(r, 'inbound', { src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 49152, dport: 80 })).toBe(false);
  });

  it('[API-NACLE] protocol -1 and protocols other than 6/17/1 ignore ports and ICMP type/code', () => {
    const all = rule({ rule: 1, action: 'deny', protocol: -1, ports: { from: 1, to: 1 }, cidr: '0.0.0.0/0' });
    expect(naclRuleMatches(all, 'inbound', tcp('1.1.1.1', '2.2.2.2', 443))).toBe(true);
    const gre = rule({ rule: 1, action: 'allow', protocol: 47, ports: { from: 1, to: 1 }, icmpType: 3, cidr: '0.0.0.0/0' });
    expect(naclRuleMatches(gre, 'inbound', { src: '1.1.1.1', dst: '2.2.2.2', proto: 47 })).toBe(true);
    expect(naclRuleMatches(gre, 'inbound', tcp('1.1.1.1', '2.2.2.2', 1))).toBe(false);
  });

  it('[VPC-NACL] ICMP rules match type and code, -1 meaning all', () => {
    const echo = rule({ rule: 1, action: 'allow', protocol: 1, icmpType: 8, icmpCode: -1, cidr: '0.0.0.0/0' });
    const fragNeeded = rule({ rule: 1, action: 'allow', protocol: 1, icmpType: 3, icmpCode: 4, cidr: '0.0.0.0/0' });
    const icmp = (t: number, c: number): Flow => ({ src: '1.1.1.1', dst: '2.2.2.2', proto: 1, icmpType: t, icmpCode: c });
    expect(naclRuleMatches(echo, 'inbound', icmp(8, 0))).toBe(true);
    expect(naclRuleMatches(echo, 'inbound', icmp(0, 0))).toBe(false);
    expect(naclRuleMatches(fragNeeded, 'inbound', icmp(3, 4))).toBe(true);
    expect(naclRuleMatches(fragNeeded, 'inbound', icmp(3, 1))).toBe(false);
  });

  it('[VPC-NACL] an IPv6 rule never applies to IPv4 traffic', () => {
    const a = acl([rule({ rule: 1, action: 'deny', cidr: '::/0' }), rule({ rule: 2, action: 'allow', cidr: '0.0.0.0/0' })]);
    expect(naclDecision(a, 'inbound', tcp('1.1.1.1', '2.2.2.2', 80))).toMatchObject({ allow: true, rule: 2 });
  });
});
