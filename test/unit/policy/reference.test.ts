/**
 * evaluateFlow beyond the fidelity table: hairpin through the internet
 * gateway, middleboxes, NAT gateway details, VPN coverage, internet gateway
 * address checks, the asymmetric-return check, input errors, the JSON shape,
 * and path invariants over random flows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Direction,
  evaluateFlow,
  ExplainInputError,
  type Explanation,
  flowJson,
  normaliseFlow,
  type PathStage,
  replyOf,
} from '../../../src/policy/reference.js';
import { config, type ConfigBuilder } from '../../helpers/config-builder.js';

function base(): ConfigBuilder {
  return config()
    .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
    .subnet('private-a', '198.18.2.0/24', { routeTable: 'private' })
    .sg('web', { ingress: [{ protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }] })
    .sg('svc', { ingress: [{ protocol: 'tcp', ports: 8443, group: 'web' }] })
    .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
    .instance('web-1', { subnet: 'public-a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['web'] })
    .instance('web-2', { subnet: 'public-a', ip: '198.18.1.11', publicIp: '203.0.113.11', securityGroups: ['web'] })
    .instance('svc-1', { subnet: 'public-a', ip: '198.18.1.12', publicIp: '203.0.113.12', securityGroups: ['svc'] })
    .instance('open-1', { subnet: 'private-a', ip: '198.18.2.50', publicIp: '203.0.113.50', securityGroups: ['open'] })
    .igw()
    .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
    .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
    .routeTable('private', [
      { destination: '0.0.0.0/0', target: 'nat-a' },
      { destination: '198.20.0.0/16', target: 'vgw' },
      { destination: '198.19.0.0/16', target: 'vgw' },
    ])
    .vpnGateway()
    .vpn('to-onprem', { remoteNetworks: ['198.19.0.0/16'] });
}
const CFG = base().build();
const tcp = (src: string, dst: string, dport: number, sport = 49152) => ({ src, dst, proto: 6, sport, dport });

/** [stage, on, verdict, code?] per stage, for compact assertions. */
function brief(path: readonly PathStage[]): string[] {
  return path.map((s) => [s.stage, s.on, s.verdict, s.code].filter((x) => x !== undefined).join(' '));
}

describe('internet gateway', () => {
  it('[VPC-IGW] a public IP of the same VPC: out through the igw and back in, source = the sender\'s public IP', () => {
    const e = evaluateFlow(CFG, tcp('198.18.1.10', '203.0.113.11', 443));
    expect(brief(e.path)).toEqual([
      'sg-egress web-1 allow',
      'nacl-outbound public-a allow',
      'route public-a allow',
      'igw igw allow',
      'nacl-inbound public-a allow',
      'sg-ingress web-2 allow',
      'deliver web-2 allow',
    ]);
    expect(e.path[3]?.rewrite).toEqual({ src: '203.0.113.10', dst: '198.18.1.11' });
    expect(e.reply?.verdict).toBe('allow');
    expect(e.reply?.path.find((s) => s.stage === 'igw')?.rewrite).toEqual({ src: '203.0.113.11', dst: '198.18.1.10' });
  });

  it('[VPC-SGR] a group reference does not match a member arriving with its public IP', () => {
    expect(evaluateFlow(CFG, tcp('198.18.1.10', '203.0.113.12', 8443)).path.at(-1)).toMatchObject({ stage: 'sg-ingress', verdict: 'deny' });
    expect(evaluateFlow(CFG, tcp('198.18.1.10', '198.18.1.12', 8443)).verdict).toBe('allow');
  });

  it('[RA-CODES] RFC 1918 / RFC 6598 sources are refused inbound, such destinations outbound', () => {
    expect(evaluateFlow(CFG, tcp('10.0.0.5', '203.0.113.10', 443)).path).toMatchObject([
      { stage: 'igw', verdict: 'deny', code: 'IGW_SOURCE_ADDRESS_NOT_IN_RFC1918_INGRESS' },
    ]);
    expect(evaluateFlow(CFG, tcp('100.64.0.5', '203.0.113.10', 443)).path.at(-1)?.code).toBe('IGW_SOURCE_ADDRESS_NOT_IN_RFC6598_INGRESS');
    expect(evaluateFlow(CFG, tcp('198.18.1.10', '192.168.1.1', 443)).path.at(-1)).toMatchObject({
      stage: 'igw',
      code: 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS',
    });
  });

  it('without an internet gateway the internet reaches nothing (NO_PATH)', () => {
    const cfg = config().subnet('a', '198.18.1.0/24').instance('i', { subnet: 'a', ip: '198.18.1.10', publicIp: '203.0.113.10' }).build();
    expect(evaluateFlow(cfg, tcp('203.0.113.100', '203.0.113.10', 22)).path).toMatchObject([{ stage: 'igw', verdict: 'deny', code: 'NO_PATH' }]);
  });

  it('[RA-CODES] a TCP reply routed to a NAT gateway the request never passed: dropped there (NGW_SOURCE_ADDRESS_REASSIGN), not "no route"', () => {
    // open-1 has a public IP but its subnet's default route is the NAT gateway.
    const e = evaluateFlow(CFG, tcp('203.0.113.100', '203.0.113.50', 443));
    expect(e.verdict).toBe('allow');
    expect(e.reply?.verdict).toBe('deny');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nat', on: 'nat-a', verdict: 'deny', code: 'NGW_SOURCE_ADDRESS_REASSIGN' });
    expect(e.reply?.path.at(-1)?.note).toMatch(/asymmetric return path.*RST/);
    expect(e.reply?.path.map((s) => s.code)).not.toContain('NO_ROUTE_TO_DESTINATION');
  });

  it('[RA-CODES] a UDP reply routed to a NAT gateway is translated as a new flow: it reaches the internet from the wrong address', () => {
    const e = evaluateFlow(CFG, { src: '203.0.113.100', dst: '203.0.113.50', proto: 17, sport: 5353, dport: 53 });
    expect(e.reply?.path.map((s) => `${s.stage} ${s.verdict}`)).toEqual([
      'sg-egress allow',
      'nacl-outbound allow',
      'route allow',
      'nacl-inbound allow',
      'nat allow',
      'nacl-outbound allow',
      'route allow',
      'igw allow',
      'deliver deny',
    ]);
    expect(e.reply?.path.at(-1)).toMatchObject({ on: 'internet', code: 'NGW_SOURCE_ADDRESS_REASSIGN' });
    expect(e.reply?.end).toMatchObject({ verdict: 'deny', stage: 'deliver', at: 'internet', packet: { src: '203.0.113.5', sportRange: { from: 1024, to: 65535 } } });
  });

  it('a reply that returns by another gateway with no NAT gateway involved: NO_POSSIBLE_DESTINATION, not NO_ROUTE_TO_DESTINATION', () => {
    // A request from the VPN to an instance whose subnet has no route to the VPN: the reply leaves by the internet gateway.
    const cfg = base()
      .subnet('pub-b', '198.18.9.0/24', { routeTable: 'public' })
      .instance('pb-1', { subnet: 'pub-b', ip: '198.18.9.10', publicIp: '203.0.113.90', securityGroups: ['open'] })
      .build();
    const e = evaluateFlow(cfg, tcp('198.19.1.1', '198.18.9.10', 443));
    expect(e.verdict).toBe('allow');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'deliver', on: 'internet', verdict: 'deny', code: 'NO_POSSIBLE_DESTINATION' });
    expect(e.reply?.path.at(-1)?.note).toMatch(/asymmetric return path/);
  });
});

describe('NAT gateway', () => {
  it('[RA-CODES] REMAP_EPHEMERAL_PORT: the source port becomes the gateway\'s pick in 1024-65535, and the client\'s own on the reply', () => {
    const e = evaluateFlow(CFG, tcp('198.18.2.50', '203.0.113.100', 443, 80));
    expect(e.path.find((s) => s.stage === 'nat')?.rewrite).toEqual({ src: '198.18.1.5', sportRange: { from: 1024, to: 65535 } });
    expect(e.reply?.flow).toEqual({ src: '203.0.113.100', dst: '203.0.113.5', proto: 'tcp', sport: 443, dportRange: { from: 1024, to: 65535 } });
    expect(e.reply?.path.find((s) => s.stage === 'nat')?.rewrite).toEqual({ dst: '198.18.2.50', dport: 80 });
    expect(e.reply?.verdict).toBe('allow');
  });

  it('the allocated port can be given (natPort) so a data-plane run can be compared', () => {
    const e = evaluateFlow(CFG, tcp('198.18.2.50', '203.0.113.100', 443), { natPort: 40000 });
    expect(e.path.find((s) => s.stage === 'nat')?.rewrite).toEqual({ src: '198.18.1.5', sport: 40000 });
    expect(e.reply?.flow.dport).toBe(40000);
  });

  it('[VPC-NGW] nothing answers on the NAT gateway\'s own private address', () => {
    expect(brief(evaluateFlow(CFG, tcp('198.18.1.10', '198.18.1.5', 80)).path)).toEqual([
      'sg-egress web-1 allow',
      'route public-a allow',
      'nat nat-a deny NO_POSSIBLE_DESTINATION',
    ]);
  });

  it('[EC2-CT] echo through the NAT gateway: the reply is translated back (ICMP has no ports)', () => {
    const e = evaluateFlow(CFG, { src: '198.18.2.50', dst: '203.0.113.100', proto: 1 });
    expect(e.reply?.flow).toMatchObject({ proto: 'icmp', icmpType: 0, src: '203.0.113.100', dst: '203.0.113.5' });
    expect(e.reply?.verdict).toBe('allow');
    expect(e.reply?.path.at(-2)).toMatchObject({ stage: 'sg-ingress', by: { tracked: true } });
  });
});

describe('middleboxes', () => {
  const fw = (refRule: boolean) =>
    base()
      .subnet('client-sub', '198.18.3.0/24', { routeTable: 'via-fw' })
      .subnet('fw-sub', '198.18.4.0/24')
      .subnet('server-sub', '198.18.5.0/24', { routeTable: 'back-via-fw' })
      .routeTable('via-fw', [{ destination: '198.18.5.0/24', target: 'fw-1' }])
      .routeTable('back-via-fw', [{ destination: '198.18.3.0/24', target: 'fw-1' }])
      .sg('fwsg', { ingress: [{ protocol: 'all', cidr: '198.18.0.0/16' }] })
      .sg('server', { ingress: [refRule ? { protocol: 'tcp', ports: 5432, group: 'web' } : { protocol: 'tcp', ports: 5432, cidr: '198.18.3.0/24' }] })
      .instance('fw-1', { subnet: 'fw-sub', ip: '198.18.4.10', sourceDestCheck: false, securityGroups: ['fwsg'] })
      .instance('client-1', { subnet: 'client-sub', ip: '198.18.3.10', securityGroups: ['web'] })
      .instance('server-1', { subnet: 'server-sub', ip: '198.18.5.10', securityGroups: ['server'] })
      .build();

  it('[EC2-ENI] an appliance with the check off forwards; its SG applies in and out; both source/dest checks show', () => {
    const e = evaluateFlow(fw(false), tcp('198.18.3.10', '198.18.5.10', 5432));
    expect(brief(e.path)).toEqual([
      'sg-egress client-1 allow',
      'nacl-outbound client-sub allow',
      'route client-sub allow',
      'nacl-inbound fw-sub allow',
      'source-dest-check fw-1 allow',
      'sg-ingress fw-1 allow',
      'source-dest-check fw-1 allow',
      'sg-egress fw-1 allow',
      'nacl-outbound fw-sub allow',
      'route fw-sub allow',
      'nacl-inbound server-sub allow',
      'sg-ingress server-1 allow',
      'deliver server-1 allow',
    ]);
    // The reply goes back through the appliance too; each ENI passes it as tracked.
    expect(e.reply?.verdict).toBe('allow');
    expect(e.reply?.path.filter((s) => s.stage.startsWith('sg-')).map((s) => s.by)).toEqual([
      { tracked: true },
      { tracked: true },
      { tracked: true },
      { tracked: true },
    ]);
  });

  it('[VPC-SGR] a security-group reference does not match traffic routed through a middlebox', () => {
    const e = evaluateFlow(fw(true), tcp('198.18.3.10', '198.18.5.10', 5432));
    expect(e.path.at(-1)).toMatchObject({ stage: 'sg-ingress', on: 'server-1', verdict: 'deny', code: 'ENI_SG_RULES_MISMATCH' });
    expect(e.path.at(-1)?.note).toMatch(/middlebox/);
  });

  it('a route that sends an appliance\'s traffic back to itself is a loop', () => {
    const cfg = base()
      .subnet('loop', '198.18.6.0/24', { routeTable: 'to-self' })
      .routeTable('to-self', [{ destination: '198.18.2.0/24', target: 'fw-2' }])
      .instance('fw-2', { subnet: 'loop', ip: '198.18.6.10', sourceDestCheck: false, securityGroups: ['open'] })
      .instance('c-2', { subnet: 'loop', ip: '198.18.6.11', securityGroups: ['open'] })
      .build();
    const e = evaluateFlow(cfg, tcp('198.18.6.11', '198.18.2.50', 22));
    expect(e.path.at(-1)).toMatchObject({ stage: 'route', verdict: 'deny', code: 'NO_ROUTE_TO_DESTINATION' });
  });
});

describe('VPN', () => {
  it('[S2S-RT] a destination routed to the vgw that no connection carries is dropped', () => {
    expect(evaluateFlow(CFG, tcp('198.18.2.50', '198.20.1.1', 22)).path.at(-1)).toMatchObject({ stage: 'vpn', on: 'vgw', verdict: 'deny', code: 'NO_ROUTE_TO_DESTINATION' });
  });

  it('splitTunnel false: the connection carries every destination', () => {
    const cfg = base().vpn('to-onprem', { remoteNetworks: ['198.19.0.0/16'], splitTunnel: false }).build();
    expect(evaluateFlow(cfg, tcp('198.18.2.50', '198.20.1.1', 22)).path.at(-2)).toMatchObject({
      stage: 'vpn',
      verdict: 'allow',
      by: { connection: 'to-onprem', network: '0.0.0.0/0' },
    });
  });

  it('no VPN connection configured: BAD_STATE_VPN', () => {
    const cfg = config()
      .subnet('a', '198.18.1.0/24', { routeTable: 'r' })
      .routeTable('r', [{ destination: '198.19.0.0/16', target: 'vgw' }])
      .instance('i', { subnet: 'a', ip: '198.18.1.10' })
      .build();
    expect(evaluateFlow(cfg, tcp('198.18.1.10', '198.19.1.1', 22)).path.at(-1)).toMatchObject({ stage: 'vpn', code: 'BAD_STATE_VPN' });
  });

  it('[RA-CODES] from the VPN only the private IP of a network interface is reachable', () => {
    expect(evaluateFlow(CFG, tcp('198.19.1.1', '198.18.2.77', 22)).path).toMatchObject([
      { stage: 'vpn', on: 'to-onprem', verdict: 'deny', code: 'VGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS' },
    ]);
  });
});

describe('inputs', () => {
  it('rejects flows that cannot exist, with a reason', () => {
    const bad: [object, RegExp][] = [
      [{ src: '198.18.1.300', dst: '198.18.1.11', proto: 6, dport: 1 }, /not an IPv4 address/],
      [{ src: '198.18.1.10', dst: '::1', proto: 6, dport: 1 }, /not an IPv4 address/],
      [{ src: '198.18.1.10', dst: '198.18.1.11', proto: 256 }, /protocol/],
      [{ src: '198.18.1.10', dst: '198.18.1.11', proto: 6 }, /destination port/],
      [{ src: '198.18.1.10', dst: '198.18.1.11', proto: 17, dport: 70000 }, /0-65535/],
      [{ src: '198.18.1.10', dst: '198.18.1.11', proto: 58 }, /IPv6/],
      [{ src: '198.18.1.77', dst: '198.18.1.11', proto: 6, dport: 1 }, /no network interface owns/],
      [{ src: '203.0.113.10', dst: '198.18.1.11', proto: 6, dport: 1 }, /public IP of web-1/],
      [{ src: '198.18.1.10', dst: '198.18.1.10', proto: 6, dport: 1 }, /both source and destination/],
    ];
    for (const [flow, msg] of bad) {
      expect(() => evaluateFlow(CFG, flow as never), JSON.stringify(flow)).toThrow(ExplainInputError);
      expect(() => evaluateFlow(CFG, flow as never)).toThrow(msg);
    }
    expect(() => evaluateFlow(CFG, tcp('198.18.1.10', '198.18.1.11', 1), { from: 'nobody' })).toThrow(/no instance or NAT gateway named/);
  });

  it('fills defaults: source port 49152, ICMP echo request; drops fields that do not apply', () => {
    expect(normaliseFlow({ src: '1.1.1.1', dst: '2.2.2.2', proto: 6, dport: 80 })).toEqual({ src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 49152, dport: 80 });
    expect(normaliseFlow({ src: '1.1.1.1', dst: '2.2.2.2', proto: 1, sport: 5 })).toEqual({ src: '1.1.1.1', dst: '2.2.2.2', proto: 1, icmpType: 8, icmpCode: 0 });
    expect(normaliseFlow({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47, dport: 5, icmpType: 3 })).toEqual({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47 });
  });

  it('replies: ports swapped, ICMP queries answered, ICMP errors and replies unanswered', () => {
    expect(replyOf({ src: 'a', dst: 'b', proto: 17, sport: 1, dport: 2 })).toEqual({ src: 'b', dst: 'a', proto: 17, sport: 2, dport: 1 });
    expect(replyOf({ src: 'a', dst: 'b', proto: 1, icmpType: 8, icmpCode: 0 })).toMatchObject({ icmpType: 0 });
    expect(replyOf({ src: 'a', dst: 'b', proto: 1, icmpType: 13, icmpCode: 0 })).toMatchObject({ icmpType: 14 });
    expect(replyOf({ src: 'a', dst: 'b', proto: 1, icmpType: 3, icmpCode: 4 })).toBeUndefined();
    expect(replyOf({ src: 'a', dst: 'b', proto: 1, icmpType: 0, icmpCode: 0 })).toBeUndefined();
    expect(replyOf({ src: 'a', dst: 'b', proto: 47 })).toEqual({ src: 'b', dst: 'a', proto: 47 });
  });

  it('JSON flow: protocol by name when it has one, else its number', () => {
    expect(flowJson({ src: 'a', dst: 'b', proto: 6, sport: 1, dport: 2 })).toEqual({ src: 'a', dst: 'b', proto: 'tcp', sport: 1, dport: 2 });
    expect(flowJson({ src: 'a', dst: 'b', proto: 47 })).toEqual({ src: 'a', dst: 'b', proto: 47 });
  });
});

describe('path invariants over random flows', () => {
  const cfg = base()
    .subnet('strict', '198.18.7.0/24', { networkAcl: 'strict' })
    .nacl('strict', {
      inbound: [{ rule: 100, action: 'allow', protocol: 'tcp', ports: '0-1023', cidr: '0.0.0.0/0' }],
      outbound: [{ rule: 100, action: 'allow', protocol: 'udp', cidr: '0.0.0.0/0' }],
    })
    .instance('s-1', { subnet: 'strict', ip: '198.18.7.10', securityGroups: ['open'] })
    .build();
  const addresses = [
    '198.18.1.10', '198.18.1.11', '198.18.1.12', '198.18.2.50', '198.18.7.10', '198.18.1.5', '198.18.1.1', '198.18.2.99',
    '203.0.113.10', '203.0.113.5', '203.0.113.50', '203.0.113.100', '198.51.100.7', '198.19.3.3', '198.20.0.1', '10.1.1.1',
    '169.254.169.254', '198.18.0.2',
  ];
  const STAGES = ['source-dest-check', 'vpc-service', 'sg-egress', 'nacl-outbound', 'route', 'nat', 'igw', 'vpn', 'nacl-inbound', 'sg-ingress', 'deliver'];

  function checkPath(d: Direction): void {
    const { path, verdict } = d;
    expect(path.length).toBeGreaterThan(0);
    path.forEach((s, i) => {
      expect(STAGES).toContain(s.stage);
      if (i < path.length - 1) expect(s.verdict, 'a denying stage ends the path').toBe('allow');
      if (s.verdict === 'deny') expect(s.code, 'a denial carries a code').toBeDefined();
      if (s.stage.startsWith('nacl-')) expect(s.by).toHaveProperty('nacl');
      if (s.partial === true) expect(s.verdict, 'a partial judgement denies').toBe('deny');
    });
    expect(path.at(-1)?.verdict).toBe(verdict);
    // Allowed: delivered, or answered by a VPC service (metadata, Time Sync, Amazon DNS) at the vpc-service stage.
    if (verdict === 'allow') expect(['deliver', 'vpc-service']).toContain(path.at(-1)?.stage);
    // Legs cover the path in order, each starting where the previous one was taken.
    expect(d.legs[0]?.first).toBe(0);
    d.legs.forEach((l, i) => {
      expect(l.last).toBeGreaterThanOrEqual(l.first);
      if (i > 0) {
        expect(l.first).toBe((d.legs[i - 1]?.last as number) + 1);
        expect(l.from).toBe(d.legs[i - 1]?.to);
      }
      if (i < d.legs.length - 1) expect(l.to, 'only the last leg may end without a taker').toBeDefined();
    });
    expect(d.legs.at(-1)?.last).toBe(path.length - 1);
    expect(d.end).toMatchObject({ verdict, stage: path.at(-1)?.stage, at: path.at(-1)?.on });
    if (verdict === 'allow') expect(d.legs.at(-1)?.to).toBe(d.end.at);
  }

  it('a denial ends the path, carries a code; an allowed path ends in deliver or vpc-service; replies only for accepted flows; legs tile the path', () => {
    const seed = 0x5eed;
    const numRuns = 2000;
    console.log(`path invariants: seed ${seed}, ${numRuns} cases`);
    fc.assert(
      fc.property(
        fc.constantFrom(...addresses),
        fc.constantFrom(...addresses),
        fc.constantFrom(6, 17, 1, 47),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom(0, 3, 8, 11, 13),
        fc.option(fc.integer({ min: 1024, max: 65535 }), { nil: undefined }),
        (src, dst, proto, sport, dport, icmpType, natPort) => {
          let e: Explanation;
          try {
            e = evaluateFlow(cfg, { src, dst, proto, sport, dport, icmpType, icmpCode: 0 }, natPort !== undefined ? { natPort } : {});
          } catch (err) {
            expect(err).toBeInstanceOf(ExplainInputError);
            return;
          }
          checkPath(e);
          if (e.verdict === 'deny') expect(e.reply).toBeUndefined();
          if (e.reply !== undefined) checkPath(e.reply);
          expect(JSON.parse(JSON.stringify(e))).toEqual(e);
        },
      ),
      { seed, numRuns },
    );
  });
});
