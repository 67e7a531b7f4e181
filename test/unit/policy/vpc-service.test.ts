/**
 * The services AWS answers at fixed addresses (Amazon DNS at VPC base + 2 and
 * 169.254.169.253, instance metadata 169.254.169.254, Time Sync
 * 169.254.169.123, ECS task metadata 169.254.170.2): never filtered by
 * security groups or NACLs, never routed, answered for the asking ENI inside
 * the VPC [VPC-SEC]. explain ends such a flow in one `vpc-service` stage
 * naming the service, with no SG or NACL stage before it: allowed for what
 * vpcd serves (metadata, Time Sync, Amazon DNS with enableDnsSupport), denied
 * for the ECS task metadata endpoint and for DNS with enableDnsSupport off.
 * From outside the VPC they are not reachable: an appliance with
 * source/dest check off forwarding a foreign source gets no answer
 * [EC2-IMDS-LIMIT].
 */
import { describe, expect, it } from 'vitest';
import { evaluateFlow } from '../../../src/policy/reference.js';
import { parseConfig } from '../../../src/control/config.js';
import { config } from '../../helpers/config-builder.js';

/** Everything closed: SG egress none, NACL denies all, default route to the internet gateway. */
const CFG = config('demo', '198.18.0.0/16')
  .subnet('a', '198.18.1.0/24', { routeTable: 'out', networkAcl: 'closed' })
  .nacl('closed', { inbound: [], outbound: [] })
  .sg('shut', { ingress: [], egress: [] })
  .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
  .instance('a-1', { subnet: 'a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['shut'] })
  .instance('fw-1', { subnet: 'a', ip: '198.18.1.20', publicIp: '203.0.113.20', sourceDestCheck: false, securityGroups: ['open'] })
  .instance('fw-2', { subnet: 'a', ip: '198.18.1.21', securityGroups: ['open'] })
  .igw()
  .routeTable('out', [{ destination: '0.0.0.0/0', target: 'igw' }])
  .vpnGateway()
  .vpn('to-onprem', { remoteNetworks: ['198.19.0.0/16'] })
  .build();

const SERVED: readonly [string, string, number, number][] = [
  ['198.18.0.2', 'amazon-dns', 17, 53],
  ['169.254.169.253', 'amazon-dns', 17, 53],
  ['169.254.169.254', 'instance-metadata', 6, 80],
  ['169.254.169.123', 'time-sync', 17, 123],
];

describe('[VPC-SEC] vpc-service stage', () => {
  it.each(SERVED)('%s: one vpc-service stage (%s), allowed though SG egress and NACL deny everything; no route, no reply walk', (dst, id, proto, dport) => {
    const e = evaluateFlow(CFG, { src: '198.18.1.10', dst, proto, dport });
    expect(e.verdict).toBe('allow');
    expect(e.path).toHaveLength(1);
    expect(e.path[0]).toMatchObject({ stage: 'vpc-service', on: id, verdict: 'allow' });
    expect(e.path[0]?.note).toMatch(/outside security groups and NACLs/);
    expect(e.reply).toBeUndefined();
    expect(e.legs).toMatchObject([{ from: 'a-1', packet: { src: '198.18.1.10', dst, proto: proto === 6 ? 'tcp' : 'udp', sport: 49152, dport }, first: 0, last: 0 }]);
    expect(e.end).toMatchObject({ verdict: 'allow', at: id });
  });

  it('the ECS task metadata endpoint is not served: denied as an unsupported component', () => {
    const e = evaluateFlow(CFG, { src: '198.18.1.10', dst: '169.254.170.2', proto: 6, dport: 80 });
    expect(e.path).toMatchObject([{ stage: 'vpc-service', on: 'ecs-task-metadata', verdict: 'deny', code: 'UNSUPPORTED_COMPONENT' }]);
    expect(e.end).toMatchObject({ verdict: 'deny', stage: 'vpc-service', at: 'ecs-task-metadata' });
  });

  it('enableDnsSupport: false: Amazon DNS is denied (no such server); metadata still answered', () => {
    const cfg = parseConfig('vpc: { name: d, cidr: 198.18.0.0/16, enableDnsSupport: false }\nsubnets: { a: { cidr: 198.18.1.0/24 } }\ninstances: { i: { subnet: a, ip: 198.18.1.10 } }\n', 'dns-off.yaml');
    for (const dst of ['198.18.0.2', '169.254.169.253']) {
      const e = evaluateFlow(cfg, { src: '198.18.1.10', dst, proto: 17, dport: 53 });
      expect(e.path, dst).toMatchObject([{ stage: 'vpc-service', on: 'amazon-dns', verdict: 'deny', code: 'NO_POSSIBLE_DESTINATION' }]);
      expect(e.path[0]?.note).toMatch(/enableDnsSupport is false/);
    }
    expect(evaluateFlow(cfg, { src: '198.18.1.10', dst: '169.254.169.254', proto: 6, dport: 80 }).verdict).toBe('allow');
  });

  it('the same from an instance whose groups and NACL would allow everything: the service is reached the same way', () => {
    const e = evaluateFlow(CFG, { src: '198.18.1.21', dst: '169.254.169.254', proto: 6, dport: 80 });
    expect(e.path.map((s) => s.stage)).toEqual(['vpc-service']);
  });

  it('[EC2-IMDS-LIMIT] an appliance with the check off forwarding a foreign source: its own check shows, then no answer (IMDS from outside the VPC)', () => {
    const e = evaluateFlow(CFG, { src: '198.51.100.7', dst: '169.254.169.254', proto: 6, dport: 80 }, { from: 'fw-1' });
    expect(e.path.map((s) => `${s.stage} ${s.on} ${s.verdict}`)).toEqual([
      'source-dest-check fw-1 allow',
      'vpc-service instance-metadata deny',
    ]);
    expect(e.path.at(-1)).toMatchObject({ code: 'NO_POSSIBLE_DESTINATION' });
    expect(e.path.at(-1)?.note).toMatch(/only for the ENI's own address/);
  });

  it('[EC2-ENI] with the check on, that packet never leaves the ENI', () => {
    const e = evaluateFlow(CFG, { src: '198.51.100.7', dst: '169.254.169.254', proto: 6, dport: 80 }, { from: 'fw-2' });
    expect(e.path).toMatchObject([{ stage: 'source-dest-check', on: 'fw-2', verdict: 'deny', code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION' }]);
  });

  it('[EC2-IMDS-LIMIT] from the internet or a VPN, no gateway forwards to a service address', () => {
    const inet = evaluateFlow(CFG, { src: '198.51.100.7', dst: '169.254.169.254', proto: 6, dport: 80 });
    expect(inet.path).toMatchObject([{ stage: 'igw', verdict: 'deny', code: 'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS' }]);
    expect(inet.path[0]?.note).toMatch(/only an appliance/);
    const vpn = evaluateFlow(CFG, { src: '198.19.1.1', dst: '198.18.0.2', proto: 17, dport: 53 });
    expect(vpn.path).toMatchObject([{ stage: 'vpn', verdict: 'deny', code: 'VGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS' }]);
  });

  it('another link-local address is no service: a deliver denial, still never routed to the internet gateway', () => {
    const e = evaluateFlow(CFG, { src: '198.18.1.10', dst: '169.254.1.1', proto: 6, dport: 80 });
    expect(e.path).toMatchObject([{ stage: 'deliver', verdict: 'deny', code: 'NO_POSSIBLE_DESTINATION' }]);
  });

  it('[EC2-ENI] the sender\'s source/dest check comes first, before any destination check', () => {
    for (const dst of ['169.254.169.254', '169.254.1.1', '224.0.0.5']) {
      const e = evaluateFlow(CFG, { src: '198.51.100.7', dst, proto: 17, dport: 53 }, { from: 'fw-2' });
      expect(e.path, dst).toMatchObject([{ stage: 'source-dest-check', on: 'fw-2', verdict: 'deny' }]);
    }
  });
});
