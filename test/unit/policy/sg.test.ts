/** sgDecision and isTracked: [VPC-SGR], [VPC-DSG], [API-IPPERM], [EC2-CT]. */
import { describe, expect, it } from 'vitest';
import { groupMemberIps, isTracked, sgDecision, sgRuleMatches } from '../../../src/policy/sg.js';
import type { Flow } from '../../../src/policy/types.js';
import { config } from '../../helpers/config-builder.js';

const tcp = (src: string, dst: string, dport: number): Flow => ({ src, dst, proto: 6, sport: 49152, dport });
const udp = (src: string, dst: string, dport: number): Flow => ({ src, dst, proto: 17, sport: 49152, dport });

const cfg = config()
  .subnet('a', '198.18.1.0/24')
  .natGateway('nat-a', { subnet: 'a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
  .prefixList('office', ['198.51.100.0/24', '192.0.2.0/28'])
  .sg('web', {
    ingress: [
      { protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' },
      { protocol: 'tcp', ports: 22, group: 'bastion' },
      { protocol: 'tcp', ports: '8000-8099', prefixList: 'office' },
      { protocol: 'tcp', ports: 443, cidr: '198.18.0.0/16' },
    ],
  })
  .sg('bastion', { ingress: [{ protocol: 'tcp', ports: 22, cidr: '198.51.100.0/24' }] })
  .sg('extra', { ingress: [{ protocol: 'udp', ports: 53, cidr: '198.18.0.0/16' }], egress: [] })
  .sg('none', { ingress: [], egress: [] })
  .instance('web-1', { subnet: 'a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['web', 'extra'] })
  .instance('bastion-1', { subnet: 'a', ip: '198.18.1.20', publicIp: '203.0.113.20', securityGroups: ['bastion'] })
  .instance('d-1', { subnet: 'a', ip: '198.18.1.30' })
  .instance('d-2', { subnet: 'a', ip: '198.18.1.31' })
  .instance('none-1', { subnet: 'a', ip: '198.18.1.40', securityGroups: ['none'] })
  .build();

describe('sgDecision', () => {
  it('[VPC-SGR] reports the first allowing rule, going through groups in order and rules in file order', () => {
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('198.18.1.20', '198.18.1.10', 443))).toMatchObject({ allow: true, by: { group: 'web', rule: 0 } });
  });

  it('[VPC-SGR] union of all the ENI\'s groups: a rule of the second group allows', () => {
    expect(sgDecision(cfg, 'web-1', 'ingress', udp('198.18.1.30', '198.18.1.10', 53))).toMatchObject({ allow: true, by: { group: 'extra', rule: 0 } });
  });

  it('[VPC-SGR] egress of several groups is a union too (empty list in one group, all-open in the other)', () => {
    expect(sgDecision(cfg, 'web-1', 'egress', tcp('198.18.1.10', '8.8.8.8', 53))).toMatchObject({ allow: true, by: { group: 'web', rule: 0 } });
  });

  it('[VPC-SGR] nothing allows: implicit deny', () => {
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('198.18.1.30', '198.18.1.10', 80))).toEqual({ allow: false, by: { implicit: 'deny' } });
    expect(sgDecision(cfg, 'none-1', 'egress', tcp('198.18.1.40', '8.8.8.8', 80))).toEqual({ allow: false, by: { implicit: 'deny' } });
  });

  it('[VPC-SGR] group reference: members by private IP, not by public IP; NAT gateways are in no group', () => {
    expect(groupMemberIps(cfg, 'bastion')).toEqual(['198.18.1.20']);
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('198.18.1.20', '198.18.1.10', 22)).allow).toBe(true);
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('203.0.113.20', '198.18.1.10', 22)).allow).toBe(false);
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('198.18.1.5', '198.18.1.10', 22)).allow).toBe(false);
  });

  it('[VPC-SGR] group references do not match traffic forwarded by a middlebox (SG_REFERENCES_NOT_PRESERVED)', () => {
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('198.18.1.20', '198.18.1.10', 22), { sgReferencesPreserved: false }).allow).toBe(false);
  });

  it('[VPC-DSG] the default group admits its own members, and only them', () => {
    expect(sgDecision(cfg, 'd-2', 'ingress', tcp('198.18.1.30', '198.18.1.31', 1234))).toMatchObject({ allow: true, by: { group: 'default', rule: 0 } });
    expect(sgDecision(cfg, 'd-2', 'ingress', tcp('198.18.1.10', '198.18.1.31', 1234)).allow).toBe(false);
  });

  it('[VPC-SGR] prefix list: any of its CIDRs', () => {
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('192.0.2.9', '198.18.1.10', 8080))).toMatchObject({ allow: true, by: { group: 'web', rule: 2 } });
    expect(sgDecision(cfg, 'web-1', 'ingress', tcp('192.0.2.99', '198.18.1.10', 8080)).allow).toBe(false);
  });

  it('[VPC-SGR] egress rules match the destination, ingress rules the source', () => {
    const r = cfg.securityGroups.get('bastion')?.ingress[0];
    if (r === undefined) throw new Error('rule missing');
    expect(sgRuleMatches(cfg, r, 'ingress', tcp('198.51.100.1', '198.18.1.20', 22))).toBe(true);
    expect(sgRuleMatches(cfg, r, 'egress', tcp('198.51.100.1', '198.18.1.20', 22))).toBe(false);
    expect(sgRuleMatches(cfg, r, 'egress', tcp('198.18.1.20', '198.51.100.1', 22))).toBe(true);
  });
});

describe('isTracked', () => {
  const ct = (ingressCidr: string, egress: 'all' | 'tcp-all-ports' | 'tcp-1-65535' | 'narrow' | 'prefix-list-all') =>
    config()
      .subnet('a', '198.18.1.0/24')
      .prefixList('everything', ['0.0.0.0/0'])
      .sg('g', {
        ingress: [
          { protocol: 'tcp', ports: 80, cidr: ingressCidr },
          { protocol: 'udp', ports: 53, cidr: '0.0.0.0/0' },
          { protocol: 'icmp', cidr: '0.0.0.0/0' },
          { protocol: 47, cidr: '0.0.0.0/0' },
        ],
        egress: {
          all: [{ protocol: 'all' as const, cidr: '0.0.0.0/0' }],
          'tcp-all-ports': [{ protocol: 'tcp' as const, ports: '0-65535', cidr: '0.0.0.0/0' }],
          'tcp-1-65535': [{ protocol: 'tcp' as const, ports: '1-65535', cidr: '0.0.0.0/0' }],
          narrow: [{ protocol: 'all' as const, cidr: '198.18.0.0/16' }],
          'prefix-list-all': [{ protocol: 'all' as const, prefixList: 'everything' }],
        }[egress],
      })
      .instance('i', { subnet: 'a', ip: '198.18.1.10', securityGroups: ['g'] })
      .build();
  const http = tcp('203.0.113.7', '198.18.1.10', 80);

  it('[EC2-CT] TCP from 0.0.0.0/0 with an all-open opposite direction is untracked', () => {
    expect(isTracked(ct('0.0.0.0/0', 'all'), 'i', 'ingress', http)).toBe(false);
    expect(isTracked(ct('0.0.0.0/0', 'all'), 'i', 'ingress', udp('203.0.113.7', '198.18.1.10', 53))).toBe(false);
  });

  it('[EC2-CT] a narrow permitting rule makes it tracked', () => {
    expect(isTracked(ct('203.0.113.7/32', 'all'), 'i', 'ingress', http)).toBe(true);
  });

  it('[EC2-CT] the opposite rule must allow all addresses on all ports 0-65535 (same protocol counts)', () => {
    expect(isTracked(ct('0.0.0.0/0', 'tcp-all-ports'), 'i', 'ingress', http)).toBe(false);
    expect(isTracked(ct('0.0.0.0/0', 'tcp-all-ports'), 'i', 'ingress', udp('203.0.113.7', '198.18.1.10', 53))).toBe(true);
    expect(isTracked(ct('0.0.0.0/0', 'tcp-1-65535'), 'i', 'ingress', http)).toBe(true);
    expect(isTracked(ct('0.0.0.0/0', 'narrow'), 'i', 'ingress', http)).toBe(true);
    expect(isTracked(ct('0.0.0.0/0', 'prefix-list-all'), 'i', 'ingress', http)).toBe(true);
  });

  it('[EC2-CT] ICMP is always tracked; other protocols are tracked by (src, dst, proto)', () => {
    const c = ct('0.0.0.0/0', 'all');
    expect(isTracked(c, 'i', 'ingress', { src: '203.0.113.7', dst: '198.18.1.10', proto: 1, icmpType: 8, icmpCode: 0 })).toBe(true);
    expect(isTracked(c, 'i', 'ingress', { src: '203.0.113.7', dst: '198.18.1.10', proto: 47 })).toBe(true);
  });

  it('[EC2-CT] flows through a NAT gateway are always tracked', () => {
    const c = ct('0.0.0.0/0', 'all');
    const out = tcp('198.18.1.10', '203.0.113.7', 443);
    expect(isTracked(c, 'i', 'egress', out)).toBe(true); // ingress has no all-ports rule
    const open = config()
      .subnet('a', '198.18.1.0/24')
      .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
      .instance('i', { subnet: 'a', ip: '198.18.1.10', securityGroups: ['open'] })
      .build();
    expect(isTracked(open, 'i', 'egress', out)).toBe(false);
    expect(isTracked(open, 'i', 'egress', out, { natGateway: true })).toBe(true);
  });
});
