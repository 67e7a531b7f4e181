/**
 * `legs` and `end` of each direction: which place sent the packet, as what,
 * which place took it, as what, and where the direction ended with which
 * packet — the part of `explain --json` a comparison with the packet path
 * consumes.
 */
import { describe, expect, it } from 'vitest';
import { applyRewrite } from '../../../src/policy/legs.js';
import { evaluateFlow } from '../../../src/policy/reference.js';
import { config } from '../../helpers/config-builder.js';

const CFG = config()
  .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
  .subnet('private-a', '198.18.2.0/24', { routeTable: 'private' })
  .sg('web', { ingress: [{ protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }] })
  .instance('web-1', { subnet: 'public-a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['web'] })
  .instance('web-2', { subnet: 'public-a', ip: '198.18.1.11', publicIp: '203.0.113.11', securityGroups: ['web'] })
  .instance('app-1', { subnet: 'private-a', ip: '198.18.2.10' })
  .igw()
  .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
  .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
  .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
  .build();

const RANGE = { from: 1024, to: 65535 };

describe('legs through a NAT gateway', () => {
  const e = evaluateFlow(CFG, { src: '198.18.2.10', dst: '198.51.100.7', proto: 6, sport: 40001, dport: 443 });

  it('request: instance -> NAT gateway (untouched), gateway -> internet (translated, then mapped to the Elastic IP on the way)', () => {
    expect(e.legs).toEqual([
      {
        from: 'app-1',
        packet: { src: '198.18.2.10', dst: '198.51.100.7', proto: 'tcp', sport: 40001, dport: 443 },
        to: 'nat-a',
        arrived: { src: '198.18.2.10', dst: '198.51.100.7', proto: 'tcp', sport: 40001, dport: 443 },
        first: 0,
        last: 3,
      },
      {
        from: 'nat-a',
        packet: { src: '198.18.1.5', dst: '198.51.100.7', proto: 'tcp', sportRange: RANGE, dport: 443 },
        to: 'internet',
        arrived: { src: '203.0.113.5', dst: '198.51.100.7', proto: 'tcp', sportRange: RANGE, dport: 443 },
        first: 4,
        last: 8,
      },
    ]);
    expect(e.path[4]).toMatchObject({ stage: 'nat', on: 'nat-a' });
    expect(e.end).toEqual({ verdict: 'allow', stage: 'deliver', at: 'internet', packet: e.legs[1]?.arrived });
  });

  it('reply: internet -> NAT gateway, gateway -> instance, ending as the exact reverse of the request', () => {
    expect(e.reply?.legs.map((l) => [l.from, l.to])).toEqual([
      ['internet', 'nat-a'],
      ['nat-a', 'app-1'],
    ]);
    expect(e.reply?.legs[0]?.arrived).toEqual({ src: '198.51.100.7', dst: '198.18.1.5', proto: 'tcp', sport: 443, dportRange: RANGE });
    expect(e.reply?.end).toEqual({
      verdict: 'allow',
      stage: 'deliver',
      at: 'app-1',
      packet: { src: '198.51.100.7', dst: '198.18.2.10', proto: 'tcp', sport: 443, dport: 40001 },
    });
  });

  it('pinned port: every packet concrete', () => {
    const p = evaluateFlow(CFG, { src: '198.18.2.10', dst: '198.51.100.7', proto: 6, sport: 40001, dport: 443 }, { natPort: 5000 });
    expect(p.end.packet).toEqual({ src: '203.0.113.5', dst: '198.51.100.7', proto: 'tcp', sport: 5000, dport: 443 });
    expect(p.reply?.legs[0]?.packet).toEqual({ src: '198.51.100.7', dst: '203.0.113.5', proto: 'tcp', sport: 443, dport: 5000 });
  });
});

describe('legs elsewhere', () => {
  it('hairpin through the internet gateway: one leg, arriving with the sender\'s public IP', () => {
    const e = evaluateFlow(CFG, { src: '198.18.1.10', dst: '203.0.113.11', proto: 6, dport: 443 });
    expect(e.legs).toHaveLength(1);
    expect(e.legs[0]).toMatchObject({
      from: 'web-1',
      to: 'web-2',
      packet: { src: '198.18.1.10', dst: '203.0.113.11' },
      arrived: { src: '203.0.113.10', dst: '198.18.1.11' },
    });
  });

  it('a denied flow: the last leg has no destination, the end names the stage that dropped it and the packet there', () => {
    const e = evaluateFlow(CFG, { src: '198.51.100.7', dst: '203.0.113.10', proto: 6, dport: 22 });
    expect(e.legs).toEqual([
      { from: 'internet', packet: { src: '198.51.100.7', dst: '203.0.113.10', proto: 'tcp', sport: 49152, dport: 22 }, first: 0, last: 2 },
    ]);
    expect(e.end).toEqual({
      verdict: 'deny',
      stage: 'sg-ingress',
      at: 'web-1',
      code: 'ENI_SG_RULES_MISMATCH',
      packet: { src: '198.51.100.7', dst: '198.18.1.10', proto: 'tcp', sport: 49152, dport: 22 },
    });
  });

  it('the VPC router answering echo ends at the router', () => {
    const e = evaluateFlow(CFG, { src: '198.18.1.10', dst: '198.18.1.1', proto: 1 });
    expect(e.end).toMatchObject({ verdict: 'allow', stage: 'deliver', at: 'router 198.18.1.1' });
    expect(e.legs.at(-1)?.to).toBe('router 198.18.1.1');
  });
});

describe('applyRewrite', () => {
  const p = { src: 'a', dst: 'b', proto: 6, sport: 1, dport: 2 };
  it('sets the fields a rewrite names; a port range marks the NAT gateway\'s pick, a concrete port clears it', () => {
    expect(applyRewrite(p, { src: 'x', sportRange: RANGE })).toEqual({ ...p, src: 'x', natPort: 'sport' });
    expect(applyRewrite({ ...p, natPort: 'dport' }, { dst: 'y', dport: 9 })).toEqual({ ...p, dst: 'y', dport: 9 });
    expect(applyRewrite({ ...p, natPort: 'sport' }, { sport: 7 })).toEqual({ ...p, sport: 7 });
  });
});
