/**
 * The legs of the packet path where `explain` and the packets disagreed
 * (each case fails on the earlier single-class data plane): an appliance's
 * legs judged per ENI (fragments included), the NAT gateway's UDP
 * fragments, ICMP queries, local routes and SYN-only sessions, untracked
 * flows outside the connection table, link-local VPC services.
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, ethIpv4Icmp, fragmentFrame, ipv4Of, TCP_SYN, TCP_ACK } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';

const MAC = (i: string) => instanceMac('t', i);
const R = (s: string) => routerMac('t', s);

// A -> appliance -> B: sa's route table sends sb through the appliance (more specific than local).
const APPLIANCE = (bIngress: string) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-fw }
  sf: { cidr: 198.18.3.0/24 }
  sb: { cidr: 198.18.2.0/24 }
routeTables:
  via-fw: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
securityGroups:
  a: {}
  fw: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  b: { ingress: [ ${bIngress} ] }
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [a] }
  fw: { subnet: sf, ip: 198.18.3.10, securityGroups: [fw], sourceDestCheck: false }
  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [b] }
`;
const A = '198.18.1.10', B = '198.18.2.20';

describe('appliance legs are separate crossings (per ENI)', () => {
  const syn = (from: string, sub: string) => ethIpv4Tcp({ srcMac: MAC(from), dstMac: R(sub), src: A, dst: B, sport: 40000, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });

  it("B's group is judged on the appliance's forwarded leg: nothing from A is admitted", () => {
    const h = new Harness(APPLIANCE('{ protocol: tcp, ports: 22, cidr: 198.51.100.0/24 }'), { security: true });
    const leg1 = h.run([{ port: h.port('a'), frame: syn('a', 'sa') }]);
    expect(leg1.map((f) => f.port)).toEqual([h.port('fw')]);
    const before = h.drops(DropReason.Sg);
    // The appliance (Linux forwarding) sends the same packet on towards B.
    const leg2 = h.run([{ port: h.port('fw'), frame: syn('fw', 'sf') }]);
    expect(leg2).toHaveLength(0);
    expect(h.drops(DropReason.Sg) - before).toBe(1);
  });

  it('admitted by B: both legs pass and the reply returns through the appliance by tracking', () => {
    const h = new Harness(APPLIANCE('{ protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 }'), { security: true });
    expect(h.run([{ port: h.port('a'), frame: syn('a', 'sa') }])).toHaveLength(1);
    expect(h.run([{ port: h.port('fw'), frame: syn('fw', 'sf') }]).map((f) => f.port)).toEqual([h.port('b')]);
    // B answers straight to A (sb's table has only the local route): B and A pass it by their own tracking.
    const reply = ethIpv4Tcp({ srcMac: MAC('b'), dstMac: R('sb'), src: B, dst: A, sport: 5432, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });
    expect(h.run([{ port: h.port('b'), frame: reply }]).map((f) => f.port)).toEqual([h.port('a')]);
  });

  it("a later fragment follows its first fragment on its own crossing: B's group refuses the first, so the later ones stop at B too", () => {
    const h = new Harness(APPLIANCE('{ protocol: tcp, ports: 22, cidr: 198.51.100.0/24 }'), { security: true });
    const dgram = (from: string, sub: string) => ethIpv4Udp({ srcMac: MAC(from), dstMac: R(sub), src: A, dst: B, sport: 40000, dport: 53, payload: Buffer.alloc(3000, 1), id: 0x5151 });
    const fromA = fragmentFrame(dgram('a', 'sa'), 1400);
    expect(fromA).toHaveLength(3);
    // A -> appliance: all three fragments pass (the appliance admits everything).
    expect(h.run(fromA.map((frame) => ({ port: h.port('a'), frame }))).map((f) => f.port)).toEqual([h.port('fw'), h.port('fw'), h.port('fw')]);
    const sgBefore = h.drops(DropReason.Sg), fragBefore = h.drops(DropReason.Fragment);
    // appliance -> B: the first fragment is refused by B's group, and the later ones with it.
    const fromFw = fragmentFrame(dgram('fw', 'sf'), 1400);
    expect(h.run(fromFw.map((frame) => ({ port: h.port('fw'), frame })))).toHaveLength(0);
    expect(h.drops(DropReason.Sg) - sgBefore).toBe(1);
    expect(h.drops(DropReason.Fragment) - fragBefore).toBe(2);
  });

  it("group references do not match on the forwarded leg (the source is not the appliance's)", () => {
    const h = new Harness(APPLIANCE('{ protocol: tcp, ports: 5432, group: a }'), { security: true });
    expect(h.run([{ port: h.port('a'), frame: syn('a', 'sa') }])).toHaveLength(1);
    expect(h.run([{ port: h.port('fw'), frame: syn('fw', 'sf') }])).toHaveLength(0);
  });
});

const NAT = (naclIn = '{ rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: pub-nacl }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
networkAcls:
  pub-nacl:
    inbound: [ ${naclIn} ]
    outbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  app: {}
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
`;
const APP = '198.18.2.10', NET = '203.0.113.100', EIP = '203.0.113.5';

describe('NAT gateway', () => {
  const peerMac = Buffer.from([0x02, 0, 0, 0, 0, 0x99]);
  const mk = () => new Harness(NAT(), { security: true, uplink: true, neighbors: [NET], neighborMac: peerMac });

  it('forwards a fragmented UDP datagram both ways (first and later fragments)', () => {
    const h = mk();
    const big = Buffer.alloc(3000, 7);
    const req = ethIpv4Udp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, sport: 5353, dport: 53, payload: big, id: 0x4242 });
    const out = h.run(fragmentFrame(req, 1400).map((frame) => ({ port: h.port('app'), frame })));
    expect(out).toHaveLength(3);
    expect(out.every((f) => f.port === h.uplinkPort)).toBe(true);
    expect(out.every((f) => ipv4Of(f.frame).readUInt32BE(12) === 0xcb007105)).toBe(true); // 203.0.113.5
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const ans = ethIpv4Udp({ srcMac: '02:00:00:00:00:99', dstMac: '02:76:75:70:6c:6b', src: NET, dst: EIP, sport: 53, dport: natPort, payload: big, id: 0x777 });
    const back = h.run(fragmentFrame(ans, 1400).map((frame) => ({ port: h.uplinkPort, frame })));
    expect(back.map((f) => f.port)).toEqual([h.port('app'), h.port('app'), h.port('app')]);
    expect(back.every((f) => ipv4Of(f.frame).readUInt32BE(16) === 0xc612020a)).toBe(true); // 198.18.2.10
    expect(h.drops(DropReason.Unsolicited) + h.drops(DropReason.Fragment) + h.drops(DropReason.Nacl)).toBe(0);
  });

  it('a later fragment whose first fragment never passed is dropped', () => {
    const h = mk();
    const req = ethIpv4Udp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, sport: 5353, dport: 53, payload: Buffer.alloc(3000), id: 0x4243 });
    const frags = fragmentFrame(req, 1400);
    expect(h.run([{ port: h.port('app'), frame: frags[1]! }])).toHaveLength(0);
    expect(h.drops(DropReason.Fragment)).toBe(1);
  });

  it('ICMP timestamp (a query with an identifier) opens a session and its reply comes back', () => {
    const h = mk();
    const q = ethIpv4Icmp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, type: 13, id: 99, seq: 1, payload: Buffer.alloc(12) });
    const out = h.run([{ port: h.port('app'), frame: q }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const natId = ipv4Of(out[0]!.frame).readUInt16BE(24);
    const ans = ethIpv4Icmp({ srcMac: '02:00:00:00:00:99', dstMac: '02:76:75:70:6c:6b', src: NET, dst: EIP, type: 14, id: natId, seq: 1, payload: Buffer.alloc(12) });
    const back = h.run([{ port: h.uplinkPort, frame: ans }]);
    expect(back.map((f) => f.port)).toEqual([h.port('app')]);
    expect(ipv4Of(back[0]!.frame).readUInt16BE(24)).toBe(99);
  });

  it('a SYN-ACK with no session opens none: the gateway answers it with a RST', () => {
    const h = mk();
    const synAck = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, sport: 443, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });
    const out = h.run([{ port: h.port('app'), frame: synAck }]);
    expect(out.map((f) => f.port)).toEqual([h.port('app')]);
    expect(ipv4Of(out[0]!.frame)[33]! & 0x04).toBe(0x04); // RST
    expect(h.drops(DropReason.AfterClose)).toBe(1);
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
  });

  it('an ICMP error from inside opens no session', () => {
    const h = mk();
    const err = ethIpv4Icmp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst: NET, type: 3, code: 3, rest: 0, payload: Buffer.alloc(28) });
    expect(h.run([{ port: h.port('app'), frame: err }])).toHaveLength(0);
    expect(h.drops(DropReason.NatUnsupportedProto)).toBe(1);
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
  });
});

describe('untracked flows take no connection-table entry', () => {
  const OPEN = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ], egress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  tracked: { ingress: [ { protocol: tcp, ports: 22, cidr: 198.18.0.0/16 } ] }
instances:
  c: { subnet: sa, ip: 198.18.1.10, securityGroups: [open] }
  s: { subnet: sb, ip: 198.18.2.20, securityGroups: [open] }
  t: { subnet: sb, ip: 198.18.2.30, securityGroups: [tracked] }
conntrack: { max: 4 }
`;
  it('100 all-open flows leave the table empty, and a tracked flow is still admitted', () => {
    const h = new Harness(OPEN, { security: true });
    for (let p = 0; p < 100; p++) {
      const f = ethIpv4Tcp({ srcMac: MAC('c'), dstMac: R('sa'), src: '198.18.1.10', dst: '198.18.2.20', sport: 30000 + p, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
      expect(h.run([{ port: h.port('c'), frame: f }])).toHaveLength(1);
    }
    expect(h.ct!.entries).toBe(0);
    const ssh = ethIpv4Tcp({ srcMac: MAC('c'), dstMac: R('sa'), src: '198.18.1.10', dst: '198.18.2.30', sport: 41000, dport: 22, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: h.port('c'), frame: ssh }])).toHaveLength(1);
    expect(h.drops(DropReason.ConntrackFull)).toBe(0);
    expect(h.ct!.entries).toBe(1);
  });
});

describe('link-local VPC services never leave the VPC', () => {
  for (const dst of ['169.254.169.254', '169.254.169.253', '169.254.169.123', '169.254.170.2', '198.18.0.2']) {
    it(`${dst}: dropped as vpc_service, no SG verdict, no flow-log record, nothing on the uplink`, () => {
      const h = new Harness(NAT(), { security: true, uplink: true, flowLogs: true, neighbors: [dst] });
      const f = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: R('priv'), src: APP, dst, sport: 40000, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
      expect(h.run([{ port: h.port('app'), frame: f }])).toHaveLength(0);
      expect(h.drops(DropReason.VpcService)).toBe(1);
      expect([...h.security!.sgVerdicts].every((v) => v === 0)).toBe(true);
      expect(h.flowLog!.size).toBe(0);
    });
  }
});

describe('per-ENI connection allowance (instances.<name>.conntrackAllowance)', () => {
  const CFG = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  c: {}
  s: { ingress: [ { protocol: tcp, ports: 80, cidr: 198.18.0.0/16 } ] }
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [c], conntrackAllowance: 3 }
  b: { subnet: sa, ip: 198.18.1.11, securityGroups: [c] }
  srv: { subnet: sb, ip: 198.18.2.20, securityGroups: [s] }
`;
  const syn = (from: string, ip: string, sport: number) => ethIpv4Tcp({ srcMac: MAC(from), dstMac: R('sa'), src: ip, dst: '198.18.2.20', sport, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
  it("a SYN flood from ENI a stops at a's allowance; b's new flows are still admitted", () => {
    const h = new Harness(CFG, { security: true });
    let passed = 0;
    for (let p = 0; p < 20; p++) passed += h.run([{ port: h.port('a'), frame: syn('a', '198.18.1.10', 30000 + p) }]).length;
    expect(passed).toBe(3);
    expect(h.drops(DropReason.ConntrackFull)).toBe(17);
    expect(h.ct!.allowanceExceededPerEni[h.port('a')]).toBe(17);
    for (let p = 0; p < 10; p++) expect(h.run([{ port: h.port('b'), frame: syn('b', '198.18.1.11', 30000 + p) }])).toHaveLength(1);
  });
});

void TCP_ACK;

// A private NAT gateway between two subnets of the VPC: sa routes sb through it.
const PRIVATE_NAT = (bIngress: string) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-nat }
  sn: { cidr: 198.18.3.0/24 }
  sb: { cidr: 198.18.2.0/24 }
natGateways:
  n0: { subnet: sn, type: private, ip: 198.18.3.5 }
routeTables:
  via-nat: { routes: [ { destination: 198.18.2.0/24, target: n0 } ] }
securityGroups:
  a: {}
  b: { ingress: [ ${bIngress} ] }
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [a] }
  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [b] }
`;

describe('a NAT gateway routes with its subnet\'s table inside the VPC', () => {
  const syn = ethIpv4Tcp({ srcMac: MAC('a'), dstMac: R('sa'), src: A, dst: B, sport: 40000, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });

  it("delivers the translated packet to B (source: the gateway's address), and B's answer back to A", () => {
    const h = new Harness(PRIVATE_NAT('{ protocol: tcp, ports: 5432, cidr: 198.18.3.5/32 }'), { security: true, uplink: true });
    const out = h.run([{ port: h.port('a'), frame: syn }]);
    expect(out.map((f) => f.port)).toEqual([h.port('b')]);
    const ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(0xc6120305); // 198.18.3.5
    const natPort = ip.readUInt16BE(20);
    expect(natPort).toBeGreaterThanOrEqual(1024);
    const answer = ethIpv4Tcp({ srcMac: MAC('b'), dstMac: R('sb'), src: B, dst: '198.18.3.5', sport: 5432, dport: natPort, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });
    const back = h.run([{ port: h.port('b'), frame: answer }]);
    expect(back.map((f) => f.port)).toEqual([h.port('a')]);
    expect(ipv4Of(back[0]!.frame).readUInt32BE(16)).toBe(0xc612010a); // 198.18.1.10
    expect(ipv4Of(back[0]!.frame).readUInt16BE(22)).toBe(40000);
  });

  it("B's group judges the gateway's address: admitting only A's address refuses the translated packet", () => {
    const h = new Harness(PRIVATE_NAT('{ protocol: tcp, ports: 5432, cidr: 198.18.1.10/32 }'), { security: true, uplink: true });
    expect(h.run([{ port: h.port('a'), frame: syn }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
  });
});
