/**
 * A firewall/IDS appliance (an instance with source/dest check off, the
 * route target between two subnets, not a NAT instance) forwarding A -> B.
 * Each ENI's security groups and each subnet crossing's NACL judge the packet
 * on their own ([VPC-SGR] "the security groups for both instances", [VPC-NACL]
 * at every subnet boundary, [EC2-ENI]):
 *
 *   A sg-egress, A-subnet nacl-outbound, route, appliance-subnet nacl-inbound,
 *   appliance source-dest-check + sg-ingress, appliance source-dest-check +
 *   sg-egress, appliance-subnet nacl-outbound, route, B-subnet nacl-inbound,
 *   B sg-ingress (group references do not match: SG_REFERENCES_NOT_PRESERVED).
 *
 * The tests break one gate at a time and check that the path stops exactly there.
 */
import { describe, expect, it } from 'vitest';
import { evaluateFlow, type PathStage } from '../../../src/policy/reference.js';
import { config, type NaclRuleIn, type SgRuleIn } from '../../helpers/config-builder.js';

type Gate = 'clientEgress' | 'clientNaclOut' | 'fwNaclIn' | 'fwIngress' | 'fwEgress' | 'fwNaclOut' | 'serverNaclIn' | 'serverIngress';

const ALL: NaclRuleIn = { rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' };
/** A NACL list that refuses only the request (tcp 5432); replies to ephemeral ports pass. */
const NO_5432: NaclRuleIn[] = [{ rule: 50, action: 'deny', protocol: 'tcp', ports: 5432, cidr: '0.0.0.0/0' }, ALL];
const OPEN: SgRuleIn[] = [{ protocol: 'all', cidr: '0.0.0.0/0' }];
const SSH_ONLY: SgRuleIn[] = [{ protocol: 'tcp', ports: 22, cidr: '0.0.0.0/0' }];

function topology(broken?: Gate, serverIngress?: SgRuleIn[]) {
  return config()
    .subnet('client-sub', '198.18.3.0/24', { routeTable: 'via-fw', networkAcl: 'c-nacl' })
    .subnet('fw-sub', '198.18.4.0/24', { networkAcl: 'f-nacl' })
    .subnet('server-sub', '198.18.5.0/24', { routeTable: 'back-via-fw', networkAcl: 's-nacl' })
    .nacl('c-nacl', { outbound: broken === 'clientNaclOut' ? NO_5432 : [ALL], inbound: [ALL] })
    .nacl('f-nacl', { outbound: broken === 'fwNaclOut' ? NO_5432 : [ALL], inbound: broken === 'fwNaclIn' ? NO_5432 : [ALL] })
    .nacl('s-nacl', { outbound: [ALL], inbound: broken === 'serverNaclIn' ? NO_5432 : [ALL] })
    .routeTable('via-fw', [{ destination: '198.18.5.0/24', target: 'fw-1' }])
    .routeTable('back-via-fw', [{ destination: '198.18.3.0/24', target: 'fw-1' }])
    .sg('cli', { ingress: [], egress: broken === 'clientEgress' ? SSH_ONLY : OPEN })
    .sg('fwsg', { ingress: broken === 'fwIngress' ? SSH_ONLY : OPEN, egress: broken === 'fwEgress' ? SSH_ONLY : OPEN })
    .sg('srv', {
      ingress: serverIngress ?? (broken === 'serverIngress' ? [{ protocol: 'tcp', ports: 5432, cidr: '10.0.0.0/8' }] : [{ protocol: 'tcp', ports: 5432, cidr: '198.18.3.0/24' }]),
    })
    .instance('fw-1', { subnet: 'fw-sub', ip: '198.18.4.10', sourceDestCheck: false, securityGroups: ['fwsg'] })
    .instance('client-1', { subnet: 'client-sub', ip: '198.18.3.10', securityGroups: ['cli'] })
    .instance('server-1', { subnet: 'server-sub', ip: '198.18.5.10', securityGroups: ['srv'] })
    .build();
}

const FLOW = { src: '198.18.3.10', dst: '198.18.5.10', proto: 6, sport: 49152, dport: 5432 };

const FULL = [
  'sg-egress client-1',
  'nacl-outbound client-sub',
  'route client-sub',
  'nacl-inbound fw-sub',
  'source-dest-check fw-1',
  'sg-ingress fw-1',
  'source-dest-check fw-1',
  'sg-egress fw-1',
  'nacl-outbound fw-sub',
  'route fw-sub',
  'nacl-inbound server-sub',
  'sg-ingress server-1',
  'deliver server-1',
];

const brief = (path: readonly PathStage[]) => path.map((s) => `${s.stage} ${s.on}`);

describe('an appliance between two subnets: every ENI and every subnet crossing judged on its own', () => {
  it('all gates open: the exact walk, two legs (client-1 -> fw-1 -> server-1), and the reply back through the appliance', () => {
    const e = evaluateFlow(topology(), FLOW);
    expect(brief(e.path)).toEqual(FULL);
    expect(e.path.every((s) => s.verdict === 'allow')).toBe(true);
    expect(e.legs.map((l) => [l.from, l.to, l.first, l.last])).toEqual([
      ['client-1', 'fw-1', 0, 5],
      ['fw-1', 'server-1', 6, 12],
    ]);
    // The appliance forwards without rewriting: the same packet on both legs.
    expect(e.legs[1]?.packet).toEqual(e.legs[0]?.packet);
    expect(brief(e.reply?.path ?? [])).toEqual([
      'sg-egress server-1',
      'nacl-outbound server-sub',
      'route server-sub',
      'nacl-inbound fw-sub',
      'source-dest-check fw-1',
      'sg-ingress fw-1',
      'source-dest-check fw-1',
      'sg-egress fw-1',
      'nacl-outbound fw-sub',
      'route fw-sub',
      'nacl-inbound client-sub',
      'sg-ingress client-1',
      'deliver client-1',
    ]);
    expect(e.reply?.verdict).toBe('allow');
  });

  const cases: [Gate, number, string][] = [
    ['clientEgress', 0, 'ENI_SG_RULES_MISMATCH'],
    ['clientNaclOut', 1, 'SUBNET_ACL_RESTRICTION'],
    ['fwNaclIn', 3, 'SUBNET_ACL_RESTRICTION'],
    ['fwIngress', 5, 'ENI_SG_RULES_MISMATCH'],
    ['fwEgress', 7, 'ENI_SG_RULES_MISMATCH'],
    ['fwNaclOut', 8, 'SUBNET_ACL_RESTRICTION'],
    ['serverNaclIn', 10, 'SUBNET_ACL_RESTRICTION'],
    ['serverIngress', 11, 'ENI_SG_RULES_MISMATCH'],
  ];
  it.each(cases)('only %s refuses: the path stops there (stage %i) with %s', (gate, at, code) => {
    const e = evaluateFlow(topology(gate), FLOW);
    expect(brief(e.path)).toEqual(FULL.slice(0, at + 1));
    expect(e.path.slice(0, at).every((s) => s.verdict === 'allow')).toBe(true);
    expect(e.path.at(-1)).toMatchObject({ verdict: 'deny', code });
    expect(e.verdict).toBe('deny');
    expect(e.end).toMatchObject({ verdict: 'deny', stage: e.path.at(-1)?.stage, at: e.path.at(-1)?.on });
  });

  it('B\'s group admits nothing from A: denied at B\'s sg-ingress although the appliance allows everything', () => {
    const e = evaluateFlow(topology(undefined, [{ protocol: 'tcp', ports: 5432, cidr: '10.0.0.0/8' }]), FLOW);
    expect(e.path.find((s) => s.on === 'fw-1' && s.stage === 'sg-ingress')).toMatchObject({ verdict: 'allow', by: { group: 'fwsg', rule: 0 } });
    expect(e.path.find((s) => s.on === 'fw-1' && s.stage === 'sg-egress')).toMatchObject({ verdict: 'allow', by: { group: 'fwsg', rule: 0 } });
    expect(e.path.at(-1)).toMatchObject({ stage: 'sg-ingress', on: 'server-1', verdict: 'deny', by: { implicit: 'deny' }, code: 'ENI_SG_RULES_MISMATCH' });
  });

  it('[VPC-SGR] B admits A\'s group by reference: no match after the appliance (SG_REFERENCES_NOT_PRESERVED); by A\'s subnet CIDR it does', () => {
    const byRef = evaluateFlow(topology(undefined, [{ protocol: 'tcp', ports: 5432, group: 'cli' }]), FLOW);
    expect(byRef.path.at(-1)).toMatchObject({ stage: 'sg-ingress', on: 'server-1', verdict: 'deny' });
    expect(byRef.path.at(-1)?.note).toMatch(/middlebox/);
    expect(evaluateFlow(topology(), FLOW).verdict).toBe('allow');
  });

  it('[VPC-NACL] the reply crosses the same boundaries afresh: the appliance subnet\'s outbound NACL can refuse it alone', () => {
    const cfg = config()
      .subnet('client-sub', '198.18.3.0/24', { routeTable: 'via-fw' })
      .subnet('fw-sub', '198.18.4.0/24', { networkAcl: 'f-nacl' })
      .subnet('server-sub', '198.18.5.0/24', { routeTable: 'back-via-fw' })
      .nacl('f-nacl', { inbound: [ALL], outbound: [{ rule: 100, action: 'allow', protocol: 'tcp', ports: 5432, cidr: '0.0.0.0/0' }] })
      .routeTable('via-fw', [{ destination: '198.18.5.0/24', target: 'fw-1' }])
      .routeTable('back-via-fw', [{ destination: '198.18.3.0/24', target: 'fw-1' }])
      .sg('open', { ingress: OPEN })
      .instance('fw-1', { subnet: 'fw-sub', ip: '198.18.4.10', sourceDestCheck: false, securityGroups: ['open'] })
      .instance('client-1', { subnet: 'client-sub', ip: '198.18.3.10', securityGroups: ['open'] })
      .instance('server-1', { subnet: 'server-sub', ip: '198.18.5.10', securityGroups: ['open'] })
      .build();
    const e = evaluateFlow(cfg, FLOW);
    expect(e.verdict).toBe('allow');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nacl-outbound', on: 'fw-sub', verdict: 'deny', by: { nacl: 'f-nacl', rule: '*' } });
  });

  it('[EC2-ENI] the same appliance with its check on refuses what is routed through it', () => {
    const cfg = config()
      .subnet('client-sub', '198.18.3.0/24', { routeTable: 'via-fw' })
      .subnet('fw-sub', '198.18.4.0/24')
      .subnet('server-sub', '198.18.5.0/24')
      .routeTable('via-fw', [{ destination: '198.18.5.0/24', target: 'fw-1' }])
      .sg('open', { ingress: OPEN })
      .instance('fw-1', { subnet: 'fw-sub', ip: '198.18.4.10', securityGroups: ['open'] })
      .instance('client-1', { subnet: 'client-sub', ip: '198.18.3.10', securityGroups: ['open'] })
      .instance('server-1', { subnet: 'server-sub', ip: '198.18.5.10', securityGroups: ['open'] })
      .build();
    expect(evaluateFlow(cfg, FLOW).path.at(-1)).toMatchObject({ stage: 'source-dest-check', on: 'fw-1', verdict: 'deny', code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION' });
  });
});
