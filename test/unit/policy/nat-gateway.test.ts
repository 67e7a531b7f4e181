/**
 * The NAT gateway stage: what it translates and says ([VPC-NGW], [RA-CODES]
 * NGW_SOURCE_ADDRESS_REASSIGN, REMAP_EPHEMERAL_PORT,
 * NGW_DEST_ADDRESS_PRESERVATION), and which ICMP opens a translation:
 * queries with an identifier (echo 8, timestamp 13); an ICMP error only as
 * related to a translation it quotes, so on its own it opens nothing; nothing
 * else (RFC 5508, vpcd's reading where AWS documents only "ICMP").
 */
import { describe, expect, it } from 'vitest';
import { evaluateFlow, ICMP_ERROR_TYPES, NAT_GATEWAY_ICMP_QUERIES } from '../../../src/policy/reference.js';
import { config } from '../../helpers/config-builder.js';

const CFG = config()
  .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
  .subnet('private-a', '198.18.2.0/24', { routeTable: 'private' })
  .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
  .instance('app-1', { subnet: 'private-a', ip: '198.18.2.10', securityGroups: ['open'] })
  .igw()
  .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
  .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
  .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
  .build();

const icmp = (icmpType: number, icmpCode = 0) => ({ src: '198.18.2.10', dst: '198.51.100.7', proto: 1, icmpType, icmpCode });
const natStage = (e: ReturnType<typeof evaluateFlow>) => e.path.find((s) => s.stage === 'nat');

describe('[RA-CODES] informational codes on the nat stage', () => {
  it('TCP: the source address is reassigned, the source port remapped, the destination preserved', () => {
    const e = evaluateFlow(CFG, { src: '198.18.2.10', dst: '198.51.100.7', proto: 6, dport: 443 });
    expect(natStage(e)).toMatchObject({
      verdict: 'allow',
      info: ['NGW_SOURCE_ADDRESS_REASSIGN', 'REMAP_EPHEMERAL_PORT', 'NGW_DEST_ADDRESS_PRESERVATION'],
      rewrite: { src: '198.18.1.5', sportRange: { from: 1024, to: 65535 } },
    });
    expect(natStage(e)).not.toHaveProperty('code');
    // The destination is the same on both sides of the gateway.
    expect(e.legs.map((l) => l.packet.dst)).toEqual(['198.51.100.7', '198.51.100.7']);
  });

  it('ICMP echo: no port to remap; source reassigned, destination preserved', () => {
    expect(natStage(evaluateFlow(CFG, icmp(8)))?.info).toEqual(['NGW_SOURCE_ADDRESS_REASSIGN', 'NGW_DEST_ADDRESS_PRESERVATION']);
  });

  it('unsolicited inbound to the Elastic IP: the gateway never changes a destination (NGW_DEST_ADDRESS_PRESERVATION)', () => {
    const e = evaluateFlow(CFG, { src: '198.51.100.7', dst: '203.0.113.5', proto: 6, dport: 22 });
    expect(e.path.at(-1)).toMatchObject({ stage: 'nat', verdict: 'deny', code: 'NO_POSSIBLE_DESTINATION', info: ['NGW_DEST_ADDRESS_PRESERVATION'] });
  });
});

describe('ICMP through a NAT gateway', () => {
  it('echo (8) and timestamp (13) open a translation, and their replies (0, 14) come back through it', () => {
    for (const [t, r] of [[8, 0], [13, 14]] as const) {
      const e = evaluateFlow(CFG, icmp(t));
      expect(e.verdict, `type ${t}`).toBe('allow');
      expect(natStage(e)?.rewrite).toEqual({ src: '198.18.1.5' });
      expect(e.reply?.flow).toMatchObject({ icmpType: r, dst: '203.0.113.5' });
      expect(e.reply?.verdict, `type ${t} reply`).toBe('allow');
      expect(e.reply?.end).toMatchObject({ at: 'app-1', packet: { dst: '198.18.2.10', icmpType: r } });
    }
  });

  it('an ICMP error from inside opens nothing: it passes only as related to a translation it quotes', () => {
    for (const [t, c] of [[3, 3], [3, 4], [11, 0], [12, 0], [4, 0], [5, 1]] as const) {
      const e = evaluateFlow(CFG, icmp(t, c));
      expect(e.path.at(-1), `type ${t}/${c}`).toMatchObject({ stage: 'nat', on: 'nat-a', verdict: 'deny', code: 'PROTOCOL_RESTRICTION' });
      expect(e.path.at(-1)?.note).toMatch(/related to a translation/);
    }
  });

  it('echo reply, information and address-mask requests, router messages open nothing', () => {
    for (const t of [0, 9, 10, 14, 15, 17]) {
      const e = evaluateFlow(CFG, icmp(t));
      expect(e.path.at(-1), `type ${t}`).toMatchObject({ stage: 'nat', verdict: 'deny', code: 'PROTOCOL_RESTRICTION' });
      expect(e.path.at(-1)?.note).toMatch(/opens no translation/);
    }
  });

  it('over every ICMP type: allowed through the gateway exactly for the queries it translates', () => {
    const allowed: number[] = [];
    for (let t = 0; t < 256; t++) if (evaluateFlow(CFG, icmp(t)).verdict === 'allow') allowed.push(t);
    expect(allowed).toEqual([...NAT_GATEWAY_ICMP_QUERIES]);
    expect(ICMP_ERROR_TYPES.filter((t) => NAT_GATEWAY_ICMP_QUERIES.includes(t))).toEqual([]);
  });

  it('without the gateway (a direct route to another subnet) every ICMP type passes the same groups: the refusal is the gateway\'s', () => {
    const cfg = config()
      .subnet('a', '198.18.1.0/24')
      .subnet('b', '198.18.2.0/24')
      .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
      .instance('a-1', { subnet: 'a', ip: '198.18.1.10', securityGroups: ['open'] })
      .instance('b-1', { subnet: 'b', ip: '198.18.2.10', securityGroups: ['open'] })
      .build();
    for (let t = 0; t < 256; t++) expect(evaluateFlow(cfg, { ...icmp(t), src: '198.18.1.10', dst: '198.18.2.10' }).verdict, `type ${t}`).toBe('allow');
  });
});

describe('a reply routed into a NAT gateway its request never passed (asymmetric return path)', () => {
  const cfg = config()
    .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
    .subnet('private-a', '198.18.2.0/24', { routeTable: 'private' })
    .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
    // A public IP, but the subnet's default route is the NAT gateway.
    .instance('odd-1', { subnet: 'private-a', ip: '198.18.2.20', publicIp: '203.0.113.20', securityGroups: ['open'] })
    .igw()
    .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
    .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
    .routeTable('private', [{ destination: '0.0.0.0/0', target: 'nat-a' }])
    .build();

  it('an ICMP echo reply opens nothing at the gateway (NGW_SOURCE_ADDRESS_REASSIGN)', () => {
    const e = evaluateFlow(cfg, { src: '198.51.100.7', dst: '203.0.113.20', proto: 1 });
    expect(e.verdict).toBe('allow');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nat', on: 'nat-a', verdict: 'deny', code: 'NGW_SOURCE_ADDRESS_REASSIGN' });
    expect(e.reply?.end).toMatchObject({ verdict: 'deny', stage: 'nat', at: 'nat-a' });
  });
});
