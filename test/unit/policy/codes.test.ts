/**
 * Reachability Analyzer codes [RA-CODES] beyond the common ones:
 * SG_HAS_NO_RULES (the ENI's groups have no rule at all in that direction)
 * versus ENI_SG_RULES_MISMATCH (rules exist, none applies), and
 * BAD_STATE_ROUTE for a blackhole route, which wins the longest-prefix match
 * and drops what it matches.
 */
import { describe, expect, it } from 'vitest';
import { evaluateFlow } from '../../../src/policy/reference.js';
import { config } from '../../helpers/config-builder.js';

describe('SG_HAS_NO_RULES vs ENI_SG_RULES_MISMATCH', () => {
  const cfg = config()
    .subnet('a', '198.18.1.0/24')
    .sg('mute', { ingress: [], egress: [] })
    .sg('ssh', { ingress: [{ protocol: 'tcp', ports: 22, cidr: '198.18.0.0/16' }], egress: [] })
    .instance('mute-1', { subnet: 'a', ip: '198.18.1.10', securityGroups: ['mute'] })
    .instance('both-1', { subnet: 'a', ip: '198.18.1.11', securityGroups: ['mute', 'ssh'] })
    .instance('c-1', { subnet: 'a', ip: '198.18.1.12' })
    .build();
  const tcp = (src: string, dst: string, dport: number) => ({ src, dst, proto: 6, dport });

  it('no rule at all in the direction: SG_HAS_NO_RULES, for ingress and for egress', () => {
    expect(evaluateFlow(cfg, tcp('198.18.1.12', '198.18.1.10', 22)).path.at(-1)).toMatchObject({
      stage: 'sg-ingress',
      on: 'mute-1',
      verdict: 'deny',
      by: { implicit: 'deny' },
      code: 'SG_HAS_NO_RULES',
    });
    const out = evaluateFlow(cfg, tcp('198.18.1.10', '198.18.1.12', 22)).path.at(-1);
    expect(out).toMatchObject({ stage: 'sg-egress', on: 'mute-1', code: 'SG_HAS_NO_RULES' });
    expect(out?.note).toMatch(/mute has no egress rule at all/);
  });

  it('one of the ENI\'s groups has rules that do not apply: ENI_SG_RULES_MISMATCH', () => {
    expect(evaluateFlow(cfg, tcp('198.18.1.12', '198.18.1.11', 80)).path.at(-1)).toMatchObject({ stage: 'sg-ingress', code: 'ENI_SG_RULES_MISMATCH' });
    expect(evaluateFlow(cfg, tcp('198.18.1.12', '198.18.1.11', 22)).verdict).toBe('allow');
    // Its egress: neither group has an egress rule.
    expect(evaluateFlow(cfg, tcp('198.18.1.11', '198.18.1.12', 22)).path.at(-1)).toMatchObject({ stage: 'sg-egress', code: 'SG_HAS_NO_RULES' });
  });
});

describe('blackhole routes: BAD_STATE_ROUTE', () => {
  const cfg = config()
    .subnet('a', '198.18.1.0/24', { routeTable: 'rt' })
    .instance('a-1', { subnet: 'a', ip: '198.18.1.10', publicIp: '203.0.113.10' })
    .igw()
    .routeTable('rt', [
      { destination: '0.0.0.0/0', target: 'igw' },
      { destination: '198.51.100.0/24', target: 'blackhole' },
    ])
    .build();

  it('the blackhole route wins the longest-prefix match and drops, after the sender\'s SG and NACL', () => {
    const e = evaluateFlow(cfg, { src: '198.18.1.10', dst: '198.51.100.7', proto: 6, dport: 443 });
    expect(e.path.map((s) => `${s.stage} ${s.verdict}`)).toEqual(['sg-egress allow', 'nacl-outbound allow', 'route deny']);
    expect(e.path.at(-1)).toMatchObject({
      on: 'a',
      code: 'BAD_STATE_ROUTE',
      by: { table: 'rt', destination: '198.51.100.0/24', target: 'blackhole' },
    });
    expect(e.path.at(-1)?.note).toMatch(/does not fall back/);
    expect(e.end).toMatchObject({ verdict: 'deny', stage: 'route', at: 'a', code: 'BAD_STATE_ROUTE' });
  });

  it('outside the blackhole prefix the less specific route still carries traffic', () => {
    expect(evaluateFlow(cfg, { src: '198.18.1.10', dst: '203.0.113.100', proto: 6, dport: 443 }).verdict).toBe('allow');
  });
});
