/**
 * The data plane's side of the VPC services (pipeline/service-path.ts): an
 * instance's packet to a service address leaves on the service port, whatever
 * its SG and NACL say, with its own source address and no flow-log record;
 * the answer from the service port goes straight to the instance; the ENI's
 * link-local allowance (1,024 packets/s) drops the excess; DHCP is punted.
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, TCP_SYN, TCP_ACK } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { PortRole } from '../../../src/pipeline/dataplane.js';
import { LINK_LOCAL_PPS } from '../../../src/pipeline/service-path.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

const CLOSED = (dns = true) => `
vpc: { name: t, cidr: 198.18.0.0/16, enableDnsSupport: ${dns} }
subnets:
  a: { cidr: 198.18.1.0/24, networkAcl: shut }
networkAcls:
  shut: { inbound: [], outbound: [] }
securityGroups:
  none: { ingress: [], egress: [] }
instances:
  i: { subnet: a, ip: 198.18.1.10, securityGroups: [none] }
  fw: { subnet: a, ip: 198.18.1.20, securityGroups: [none], sourceDestCheck: false }
`;
const SVC_PORT = 7;
const SVC_MAC = Buffer.from([2, 0, 0, 0, 0, 0x53]);
const PORT_MAC = Buffer.from([2, 0, 0, 0, 0, 0x50]);

function world(dns = true): Harness {
  const h = new Harness(CLOSED(dns), { security: true, flowLogs: true });
  h.dp.attachPort(SVC_PORT, PortRole.Service, 0, true);
  const sp = h.dp.legs.services;
  sp.port = SVC_PORT;
  sp.dnsEnabled = dns;
  sp.serviceMac.set(SVC_MAC);
  sp.portMac.set(PORT_MAC);
  return h;
}
const syn = (dst: string, src = '198.18.1.10', from = 'i') =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', 'a'), src, dst, sport: 40000, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });

describe('instance -> VPC service: out of the service port, never filtered or logged', () => {
  for (const [dst, proto] of [['169.254.169.254', 6], ['169.254.169.123', 17], ['169.254.169.253', 17], ['198.18.0.2', 17]] as const) {
    it(`${dst}: on the service port with the instance's source, no SG verdict, no NACL, no flow-log record`, () => {
      const h = world();
      const f = proto === 6 ? syn(dst) : ethIpv4Udp({ srcMac: instanceMac('t', 'i'), dstMac: routerMac('t', 'a'), src: '198.18.1.10', dst, sport: 40000, dport: 123 });
      const out = h.run([{ port: h.port('i'), frame: f }]);
      expect(out).toHaveLength(1);
      expect(out[0]!.port).toBe(SVC_PORT);
      expect(out[0]!.frame.subarray(0, 6)).toEqual(SVC_MAC);
      expect(out[0]!.frame.subarray(6, 12)).toEqual(PORT_MAC);
      expect(out[0]!.frame.subarray(26, 30)).toEqual(Buffer.from([198, 18, 1, 10]));
      expect([...h.security!.sgVerdicts].every((v) => v === 0)).toBe(true);
      expect(h.flowLog!.size).toBe(0);
      expect(h.drops(DropReason.Nacl) + h.drops(DropReason.Sg)).toBe(0);
    });
  }

  it('enableDnsSupport off: DNS is dropped as vpc_service; metadata still goes out', () => {
    const h = world(false);
    expect(h.run([{ port: h.port('i'), frame: syn('198.18.0.2') }])).toHaveLength(0);
    expect(h.drops(DropReason.VpcService)).toBe(1);
    expect(h.run([{ port: h.port('i'), frame: syn('169.254.169.254') }])).toHaveLength(1);
  });

  it('the ECS task metadata endpoint is not served: vpc_service', () => {
    const h = world();
    expect(h.run([{ port: h.port('i'), frame: syn('169.254.170.2') }])).toHaveLength(0);
    expect(h.drops(DropReason.VpcService)).toBe(1);
  });

  it('[EC2-IMDS-LIMIT] a source that is not the ENI\'s own (an appliance forwarding) is not answered', () => {
    const h = world();
    expect(h.run([{ port: h.port('fw'), frame: syn('169.254.169.254', '198.51.100.7', 'fw') }])).toHaveLength(0);
    expect(h.drops(DropReason.VpcService)).toBe(1);
  });

  it('without a service port everything for the services is dropped as vpc_service', () => {
    const h = new Harness(CLOSED(), { security: true });
    expect(h.run([{ port: h.port('i'), frame: syn('169.254.169.254') }])).toHaveLength(0);
    expect(h.drops(DropReason.VpcService)).toBe(1);
  });
});

describe('service port -> instance', () => {
  it('an answer from 169.254.169.254 reaches the instance with the router as L2 source, through a NACL and SG that deny all', () => {
    const h = world();
    const ack = ethIpv4Tcp({ srcMac: '02:00:00:00:00:53', dstMac: '02:00:00:00:00:50', src: '169.254.169.254', dst: '198.18.1.10', sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 2 });
    const out = h.run([{ port: SVC_PORT, frame: ack }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(h.port('i'));
    expect(out[0]!.frame.subarray(0, 6)).toEqual(Buffer.from(instanceMac('t', 'i').split(':').map((x) => parseInt(x, 16))));
  });

  it('a source that is no service address is refused (the namespace speaks only for the services)', () => {
    const h = world();
    const f = ethIpv4Tcp({ srcMac: '02:00:00:00:00:53', dstMac: '02:00:00:00:00:50', src: '169.254.1.1', dst: '198.18.1.10', sport: 80, dport: 40000, flags: TCP_ACK, seq: 9, ack: 2 });
    expect(h.run([{ port: SVC_PORT, frame: f }])).toHaveLength(0);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(1);
  });
});

describe('[VPC-Q] the per-ENI link-local allowance: 1,024 packets a second', () => {
  it('a burst past the allowance is dropped as linklocal_allowance_exceeded; the next second admits again', () => {
    const h = world();
    let sent = 0;
    const burst = 1100;
    // One batch of 32 at a time, all in the same millisecond.
    for (let k = 0; k < burst; k += 32) {
      const n = Math.min(32, burst - k);
      sent += h.run(Array.from({ length: n }, () => ({ port: h.port('i'), frame: syn('169.254.169.254') }))).length;
    }
    expect(sent).toBe(LINK_LOCAL_PPS);
    expect(h.drops(DropReason.LinkLocalAllowance)).toBe(burst - LINK_LOCAL_PPS);
    expect(h.dp.legs.services.allowanceDrops[h.port('i')]).toBe(burst - LINK_LOCAL_PPS);
    h.now += 1000;
    expect(h.run([{ port: h.port('i'), frame: syn('169.254.169.254') }])).toHaveLength(1);
  });
});

describe('DHCP is punted for the daemon', () => {
  it('a broadcast DISCOVER from 0.0.0.0 (no address yet) lands in the punt ring with its ENI', () => {
    const h = world();
    const payload = Buffer.alloc(300, 7);
    const f = ethIpv4Udp({ srcMac: instanceMac('t', 'i'), dstMac: 'ff:ff:ff:ff:ff:ff', src: '0.0.0.0', dst: '255.255.255.255', sport: 68, dport: 67, payload });
    expect(h.run([{ port: h.port('i'), frame: f }])).toHaveLength(0);
    const sp = h.dp.legs.services;
    expect(sp.dhcpCount).toBe(1);
    expect(sp.dhcpInst[0]).toBe(h.port('i'));
    expect(sp.dhcpLen[0]).toBe(300);
    expect(h.drops(DropReason.Multicast) + h.drops(DropReason.SourceDestCheck)).toBe(0);
  });

  it('other broadcast is still dropped as multicast', () => {
    const h = world();
    const f = ethIpv4Udp({ srcMac: instanceMac('t', 'i'), dstMac: 'ff:ff:ff:ff:ff:ff', src: '198.18.1.10', dst: '255.255.255.255', sport: 68, dport: 999 });
    expect(h.run([{ port: h.port('i'), frame: f }])).toHaveLength(0);
    expect(h.drops(DropReason.Multicast)).toBe(1);
    expect(h.dp.legs.services.dhcpCount).toBe(0);
  });
});
