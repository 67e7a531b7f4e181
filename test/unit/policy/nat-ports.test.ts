/**
 * A NAT gateway picks the translated source port anywhere in 1024-65535
 * ([VPC-NACL], [RA-CODES] REMAP_EPHEMERAL_PORT). The reply comes back to that
 * port, so every stage that matches on it (the gateway subnet's inbound NACL,
 * a hairpin destination's outbound NACL, an untracked security group) is
 * judged over the whole range: allowed only when every port is; denied,
 * `partial`, with the failing parts named, when some are not. A pinned port
 * (natPort) is judged alone.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateFlow, type PathStage } from '../../../src/policy/reference.js';
import { config, type NaclRuleIn } from '../../helpers/config-builder.js';

const RANGE = { from: 1024, to: 65535 };

/** private-a (198.18.2.0/24) -> nat-a in public-a, whose inbound NACL is `natInbound` after an allow-all from the VPC. */
function natCfg(natInbound: NaclRuleIn[], privateInbound?: NaclRuleIn[]) {
  return config()
    .subnet('public-a', '198.18.1.0/24', { routeTable: 'public', networkAcl: 'pub' })
    .subnet('private-a', '198.18.2.0/24', { routeTable: 'private', ...(privateInbound !== undefined ? { networkAcl: 'priv' } : {}) })
    .nacl('pub', {
      inbound: [{ rule: 10, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' }, ...natInbound],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .nacl('priv', {
      inbound: privateInbound ?? [],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .instance('app-1', { subnet: 'private-a', ip: '198.18.2.10' })
    .igw()
    .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
    .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
    .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
    .build();
}

const HTTPS = { src: '198.18.2.10', dst: '198.51.100.7', proto: 6, sport: 49152, dport: 443 };
const UPPER_HALF: NaclRuleIn = { rule: 100, action: 'allow', protocol: 'tcp', ports: '32768-65535', cidr: '0.0.0.0/0' };

function natInboundOnReply(path: readonly PathStage[] | undefined): PathStage | undefined {
  return path?.find((s) => s.stage === 'nacl-inbound' && s.on === 'public-a');
}

describe('the NAT gateway subnet\'s inbound NACL on the reply', () => {
  it('[VPC-NACL] admitting only 32768-65535: the reply is denied, partial, and 1024-32767 is named as failing', () => {
    const e = evaluateFlow(natCfg([UPPER_HALF]), HTTPS);
    expect(e.verdict).toBe('allow');
    expect(e.reply?.verdict).toBe('deny');
    const s = e.reply?.path.at(-1);
    expect(s).toMatchObject({
      stage: 'nacl-inbound',
      on: 'public-a',
      verdict: 'deny',
      code: 'SUBNET_ACL_RESTRICTION',
      info: ['REMAP_EPHEMERAL_PORT'],
      partial: true,
      by: { nacl: 'pub', rule: '*' },
    });
    expect(s?.portRange).toEqual({
      ...RANGE,
      denied: [{ from: 1024, to: 32767, by: { nacl: 'pub', rule: '*' } }],
      allowed: [{ from: 32768, to: 65535, by: { nacl: 'pub', rule: 100 } }],
    });
    expect(s?.note).toMatch(/partial: .*1024-32767 \(nacl pub rule \* \(final deny\)\).*32768-65535 \(nacl pub rule 100\)/);
  });

  it('pinned to 40000 (natPort): judged for that port alone, the reply is allowed', () => {
    const e = evaluateFlow(natCfg([UPPER_HALF]), HTTPS, { natPort: 40000 });
    expect(e.path.find((s) => s.stage === 'nat')?.rewrite).toEqual({ src: '198.18.1.5', sport: 40000 });
    expect(e.reply?.flow).toMatchObject({ dst: '203.0.113.5', dport: 40000 });
    const s = natInboundOnReply(e.reply?.path);
    expect(s).toEqual({ stage: 'nacl-inbound', on: 'public-a', verdict: 'allow', by: { nacl: 'pub', rule: 100 } });
    expect(e.reply?.verdict).toBe('allow');
  });

  it('pinned to 2000: denied by the final * rule, not partial', () => {
    const e = evaluateFlow(natCfg([UPPER_HALF]), HTTPS, { natPort: 2000 });
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nacl-inbound', verdict: 'deny', by: { nacl: 'pub', rule: '*' } });
    expect(e.reply?.path.at(-1)).not.toHaveProperty('partial');
    expect(e.reply?.path.at(-1)).not.toHaveProperty('portRange');
  });

  it('admitting 1024-65535: allowed, with the judgement over the whole range', () => {
    const e = evaluateFlow(natCfg([{ rule: 100, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' }]), HTTPS);
    const s = natInboundOnReply(e.reply?.path);
    expect(s).toMatchObject({ verdict: 'allow', by: { nacl: 'pub', rule: 100 } });
    expect(s?.portRange).toEqual({ ...RANGE, denied: [], allowed: [{ ...RANGE, by: { nacl: 'pub', rule: 100 } }] });
    expect(e.reply?.verdict).toBe('allow');
  });

  it('admitting none of the range: denied, not partial', () => {
    const e = evaluateFlow(natCfg([{ rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }]), HTTPS);
    const s = e.reply?.path.at(-1);
    expect(s).toMatchObject({ stage: 'nacl-inbound', verdict: 'deny' });
    expect(s).not.toHaveProperty('partial');
    expect(s?.portRange?.denied).toEqual([{ ...RANGE, by: { nacl: 'pub', rule: '*' } }]);
    expect(s?.note).toMatch(/denies every port/);
  });

  it('a deny rule inside an allowed range: the hole is the failing part, with its rule number', () => {
    const e = evaluateFlow(
      natCfg([
        { rule: 90, action: 'deny', protocol: 'tcp', ports: '6000-6999', cidr: '0.0.0.0/0' },
        { rule: 100, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' },
      ]),
      HTTPS,
    );
    const s = e.reply?.path.at(-1);
    expect(s).toMatchObject({ verdict: 'deny', partial: true, by: { nacl: 'pub', rule: 90 } });
    expect(s?.portRange?.denied).toEqual([{ from: 6000, to: 6999, by: { nacl: 'pub', rule: 90 } }]);
    expect(s?.portRange?.allowed).toEqual([
      { from: 1024, to: 5999, by: { nacl: 'pub', rule: 100 } },
      { from: 7000, to: 65535, by: { nacl: 'pub', rule: 100 } },
    ]);
  });

  it('the leg from the gateway to the instance carries the client\'s own port: that NACL judges it alone', () => {
    const all: NaclRuleIn = { rule: 100, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' };
    const upper: NaclRuleIn = { rule: 100, action: 'allow', protocol: 'tcp', ports: '32768-65535', cidr: '0.0.0.0/0' };
    const ok = evaluateFlow(natCfg([all], [upper]), HTTPS);
    expect(ok.reply?.path.find((s) => s.stage === 'nacl-inbound' && s.on === 'private-a')).toEqual({
      stage: 'nacl-inbound',
      on: 'private-a',
      verdict: 'allow',
      by: { nacl: 'priv', rule: 100 },
    });
    const low = evaluateFlow(natCfg([all], [upper]), { ...HTTPS, sport: 1030 });
    expect(low.reply?.path.at(-1)).toMatchObject({ stage: 'nacl-inbound', on: 'private-a', verdict: 'deny', by: { nacl: 'priv', rule: '*' } });
    expect(low.reply?.path.at(-1)).not.toHaveProperty('portRange');
  });

  it('a pinned port outside 1024-65535 is refused as input', () => {
    expect(() => evaluateFlow(natCfg([UPPER_HALF]), HTTPS, { natPort: 80 })).toThrow(/1024-65535/);
  });
});

describe('hairpin through the internet gateway to a public instance of the same VPC', () => {
  function hairpin(webOutbound: NaclRuleIn[]) {
    return config()
      .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
      .subnet('web', '198.18.3.0/24', { routeTable: 'public', networkAcl: 'web' })
      .subnet('private-a', '198.18.2.0/24', { routeTable: 'private' })
      .nacl('web', { inbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }], outbound: webOutbound })
      .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
      .instance('app-1', { subnet: 'private-a', ip: '198.18.2.10' })
      .instance('web-1', { subnet: 'web', ip: '198.18.3.10', publicIp: '203.0.113.30', securityGroups: ['open'] })
      .igw()
      .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
      .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
      .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
      .build();
  }
  const flow = { src: '198.18.2.10', dst: '203.0.113.30', proto: 6, sport: 50000, dport: 443 };

  it('the destination subnet\'s outbound NACL sees the gateway\'s pick as destination port: partial when it admits part', () => {
    const e = evaluateFlow(hairpin([UPPER_HALF]), flow);
    expect(e.verdict).toBe('allow');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nacl-outbound', on: 'web', verdict: 'deny', partial: true });
    expect(e.reply?.path.at(-1)?.portRange?.denied).toEqual([{ from: 1024, to: 32767, by: { nacl: 'web', rule: '*' } }]);
  });

  it('[EC2-CT] an untracked destination re-evaluates its egress rules over the whole range (all-open: allowed)', () => {
    const e = evaluateFlow(hairpin([{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }]), flow);
    expect(e.path.find((s) => s.stage === 'sg-ingress')).toMatchObject({ on: 'web-1', conntrack: 'untracked' });
    const egress = e.reply?.path.find((s) => s.stage === 'sg-egress' && s.on === 'web-1');
    expect(egress).toMatchObject({ verdict: 'allow', by: { group: 'open', rule: 0, untracked: true } });
    expect(egress?.portRange).toEqual({ ...RANGE, denied: [], allowed: [{ ...RANGE, by: { group: 'open', rule: 0 } }] });
    expect(e.reply?.verdict).toBe('allow');
  });
});

describe('range judgement agrees with judging every pinned port', () => {
  it('on random inbound NACLs of the gateway subnet, a pinned port is allowed iff it lies in an allowed span', () => {
    const seed = 0x4e47;
    const numRuns = 150;
    const rule = fc.record({
      rule: fc.integer({ min: 20, max: 400 }),
      action: fc.constantFrom('allow' as const, 'deny' as const),
      from: fc.integer({ min: 0, max: 65535 }),
      len: fc.integer({ min: 0, max: 40000 }),
      proto: fc.constantFrom('tcp' as const, 'udp' as const, 'all' as const),
    });
    const rules = fc.uniqueArray(rule, { minLength: 0, maxLength: 6, selector: (r) => r.rule });
    console.log(`range-vs-pinned property: seed ${seed}, ${numRuns} cases, 8 pinned ports each`);
    fc.assert(
      fc.property(rules, fc.array(fc.integer({ min: 1024, max: 65535 }), { minLength: 8, maxLength: 8 }), (rs, ports) => {
        const cfg = natCfg(
          rs.map((r) => ({
            rule: r.rule,
            action: r.action,
            protocol: r.proto,
            ...(r.proto !== 'all' ? { ports: `${r.from}-${Math.min(65535, r.from + r.len)}` } : {}),
            cidr: '0.0.0.0/0',
          })),
        );
        const range = natInboundOnReply(evaluateFlow(cfg, HTTPS).reply?.path)?.portRange;
        expect(range).toBeDefined();
        if (range === undefined) return;
        // The spans partition 1024-65535 exactly.
        const spans = [...range.allowed, ...range.denied].sort((a, b) => a.from - b.from);
        expect(spans[0]?.from).toBe(1024);
        expect(spans.at(-1)?.to).toBe(65535);
        for (let i = 1; i < spans.length; i++) expect(spans[i]?.from).toBe((spans[i - 1]?.to as number) + 1);
        for (const port of [...ports, ...spans.map((s) => s.from), ...spans.map((s) => s.to)]) {
          const pinned = natInboundOnReply(evaluateFlow(cfg, HTTPS, { natPort: port }).reply?.path);
          const inAllowed = range.allowed.some((s) => port >= s.from && port <= s.to);
          expect(pinned?.verdict, `port ${port}`).toBe(inAllowed ? 'allow' : 'deny');
          const span = [...range.allowed, ...range.denied].find((s) => port >= s.from && port <= s.to);
          expect(pinned?.by, `port ${port}`).toEqual(span?.by);
        }
      }),
      { seed, numRuns },
    );
  });
});
