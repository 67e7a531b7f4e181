/**
 * The instance legs of the wiring (src/pipeline/legs.ts fromInstance,
 * toInstance, dropAfterSender, deliver, crossing without a security stage):
 * DHCP punted (broadcast or to the subnet router) before the group-address
 * check, a malformed header dropped with its reason, the ENI source/dest
 * check and MAC learning, the unroutable destinations, no route and
 * blackholes judged by the sender's SG egress first (with egress group
 * references only for a local route to the destination itself), the local
 * route's addresses (unknown, the router's echo and the rest, reserved),
 * routes to an appliance, to the sender itself, to a NAT gateway without
 * state, a receiver without a port, and the traffic path on the sender's
 * flow-log records for each kind of route.
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Icmp, ethIpv4Tcp, ethIpv4Udp, ipv4Of, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { FlowDir, TrafficPath } from '../../../src/pipeline/flowlog-table.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const MAC = (i: string) => instanceMac('t', i);
const RMAC = (s: string) => routerMac('t', s);
const mac = (t: string) => Buffer.from(t.split(':').map((x) => parseInt(x, 16)));
const BCAST = 'ff:ff:ff:ff:ff:ff';
const A = '198.18.1.10', FW = '198.18.1.20', B = '198.18.2.20';

// a and fw (an appliance, check off) in sa, b in sb. sa's table: 198.51.100.0/24 via fw,
// 203.0.113.0/25 back to a itself, 203.0.113.128/25 a blackhole; nothing else leaves the VPC.
const BASE = (aGroup = 'open', naclOut = '{ rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: rt-a, networkAcl: na }
  sb: { cidr: 198.18.2.0/24 }
networkAcls:
  na:
    inbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ ${naclOut} ]
routeTables:
  rt-a:
    routes:
      - { destination: 198.51.100.0/24, target: fw }
      - { destination: 203.0.113.0/25, target: a }
      - { destination: 203.0.113.128/25, target: blackhole }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  shut: { ingress: [], egress: [] }
instances:
  a: { subnet: sa, ip: ${A}, securityGroups: [${aGroup}] }
  fw: { subnet: sa, ip: ${FW}, securityGroups: [open], sourceDestCheck: false }
  b: { subnet: sb, ip: ${B}, securityGroups: [open] }
`;

const udp = (dst: string, o: { src?: string; from?: string; srcMac?: string; dstMac?: string; sport?: number; dport?: number; bad?: boolean } = {}) => {
  const from = o.from ?? 'a';
  return ethIpv4Udp({ srcMac: o.srcMac ?? MAC(from), dstMac: o.dstMac ?? RMAC(from === 'b' ? 'sb' : 'sa'), src: o.src ?? (from === 'a' ? A : from === 'fw' ? FW : B), dst,
    sport: o.sport ?? 40000, dport: o.dport ?? 9000, payload: Buffer.alloc(24, 0x5a), badChecksum: o.bad ?? false });
};
const syn = (dst: string, dport = 5432) => ethIpv4Tcp({ srcMac: MAC('a'), dstMac: RMAC('sa'), src: A, dst, sport: 40000, dport, flags: TCP_SYN, seq: 1, ack: 0 });
const dhcp = (src: string, dst: string, dstMac: string, sport = 68, dport = 67) =>
  ethIpv4Udp({ srcMac: MAC('a'), dstMac, src, dst, sport, dport, payload: Buffer.alloc(300, 1) });
const dropsTotal = (h: Harness) => h.counters.drops.reduce((s, v) => s + v, 0);

describe('DHCP from an ENI is punted before anything else', () => {
  it('a broadcast DISCOVER (0.0.0.0 -> 255.255.255.255, group MAC) is punted for the instance, not dropped as multicast', () => {
    const h = new Harness(BASE());
    expect(h.run([{ port: h.port('a'), frame: dhcp('0.0.0.0', '255.255.255.255', BCAST) }])).toHaveLength(0);
    const s = h.dp.legs.services;
    expect(s.dhcpCount).toBe(1);
    expect(s.dhcpInst[0]).toBe(h.port('a'));
    expect(s.dhcpLen[0]).toBe(300);
    expect(dropsTotal(h)).toBe(0);
  });

  it('a unicast renewal to the subnet router is punted; to another address it is ordinary traffic', () => {
    const h = new Harness(BASE());
    expect(h.run([{ port: h.port('a'), frame: dhcp(A, '198.18.1.1', RMAC('sa')) }])).toHaveLength(0);
    expect(h.dp.legs.services.dhcpCount).toBe(1);
    expect(h.drops(DropReason.NotForRouter)).toBe(0);
    // the other subnet's router is not the ENI's DHCP server: the router drops it
    expect(h.run([{ port: h.port('a'), frame: dhcp(A, '198.18.2.1', RMAC('sa')) }])).toHaveLength(0);
    expect(h.drops(DropReason.NotForRouter)).toBe(1);
    // to an instance: routed and delivered like any datagram
    const out = h.run([{ port: h.port('a'), frame: dhcp(A, B, RMAC('sa')) }]);
    expect(out.map((f) => f.port)).toEqual([h.port('b')]);
    expect(h.dp.legs.services.dhcpCount).toBe(1);
  });

  it('other broadcast and multicast frames are multicast drops (server ports, a multicast MAC, even a bad header)', () => {
    const h = new Harness(BASE());
    h.run([{ port: h.port('a'), frame: dhcp('0.0.0.0', '255.255.255.255', BCAST, 67, 68) }]);
    h.run([{ port: h.port('a'), frame: udp('198.18.1.255', { dstMac: BCAST, dport: 138 }) }]);
    h.run([{ port: h.port('a'), frame: udp(B, { dstMac: '01:00:5e:00:00:fb' }) }]);
    h.run([{ port: h.port('a'), frame: udp(B, { dstMac: BCAST, bad: true }) }]);
    expect(h.drops(DropReason.Multicast)).toBe(4);
    expect(dropsTotal(h)).toBe(4);
    expect(h.dp.legs.services.dhcpCount).toBe(0);
  });

  it('a malformed frame after a DHCP message in the same batch is malformed, not punted again', () => {
    const h = new Harness(BASE());
    const bad = udp('255.255.255.255', { src: '0.0.0.0', sport: 68, dport: 67, bad: true });
    const out = h.run([{ port: h.port('a'), frame: dhcp('0.0.0.0', '255.255.255.255', BCAST) }, { port: h.port('a'), frame: bad }]);
    expect(out).toHaveLength(0);
    expect(h.dp.legs.services.dhcpCount).toBe(1);
    expect(h.drops(DropReason.Malformed)).toBe(1);
  });
});

describe('a malformed IPv4 header is dropped with its reason', () => {
  it('a bad header checksum after a delivered datagram in the same batch: malformed, nothing more sent', () => {
    const h = new Harness(BASE());
    const out = h.run([{ port: h.port('a'), frame: udp(B) }, { port: h.port('a'), frame: udp(B, { bad: true }) }]);
    expect(out.map((f) => f.port)).toEqual([h.port('b')]);
    expect(h.drops(DropReason.Malformed)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });
});

describe('ENI source/destination check and MAC learning', () => {
  it('with the check on, a spoofed source is dropped as source_dest_check, even towards a VPC service address', () => {
    const h = new Harness(BASE());
    expect(h.run([{ port: h.port('a'), frame: udp(B, { src: '198.18.1.99' }) }])).toHaveLength(0);
    expect(h.run([{ port: h.port('a'), frame: udp('169.254.169.254', { src: '198.18.1.99' }) }])).toHaveLength(0);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(2);
    expect(dropsTotal(h)).toBe(2);
  });

  it('the MAC an ENI sends from (its own address) is learned: frames to it carry that MAC', () => {
    const h = new Harness(BASE());
    const own = '02:00:00:00:aa:01';
    expect(h.run([{ port: h.port('a'), frame: udp(B, { srcMac: own }) }])).toHaveLength(1);
    const back = h.run([{ port: h.port('b'), frame: udp(A, { from: 'b' }) }]);
    expect(back.map((f) => f.port)).toEqual([h.port('a')]);
    expect(back[0]!.frame.subarray(0, 6)).toEqual(Buffer.from([2, 0, 0, 0, 0xaa, 1]));
    expect(back[0]!.frame.subarray(6, 12)).toEqual(mac(RMAC('sa')));
  });

  it('with the check off a foreign source is forwarded, but its MAC is not learned for the ENI', () => {
    const h = new Harness(BASE());
    const out = h.run([{ port: h.port('fw'), frame: udp(B, { from: 'fw', src: '198.51.100.50', srcMac: '02:00:00:00:aa:02' }) }]);
    expect(out.map((f) => f.port)).toEqual([h.port('b')]);
    expect(ipv4Of(out[0]!.frame).readUInt32BE(12)).toBe(ipToU32('198.51.100.50'));
    const back = h.run([{ port: h.port('b'), frame: udp(FW, { from: 'b' }) }]);
    expect(back.map((f) => f.port)).toEqual([h.port('fw')]);
    expect(back[0]!.frame.subarray(0, 6)).toEqual(mac(MAC('fw')));
  });
});

describe('destinations no route leads to', () => {
  it.each([
    ['224.0.0.251', DropReason.Multicast],
    ['239.255.255.250', DropReason.Multicast],
    ['240.0.0.1', DropReason.NoDestination],
    ['255.255.255.255', DropReason.NoDestination],
    ['127.0.0.1', DropReason.NoDestination],
    ['0.1.2.3', DropReason.NoDestination],
    ['169.254.1.1', DropReason.NoDestination],
    ['198.19.0.1', DropReason.NoRoute],
  ])('%s (unicast MAC): reason %i, before any route', (dst, reason) => {
    const h = new Harness(BASE());
    expect(h.run([{ port: h.port('a'), frame: udp(dst) }])).toHaveLength(0);
    expect(h.drops(reason)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });
});

describe('no route and blackholes: the sender\'s SG egress and its NACL outbound come first', () => {
  it.each([
    ['no route', '198.19.0.1', DropReason.NoRoute],
    ['a blackhole', '203.0.113.200', DropReason.Blackhole],
  ])('%s: its own reason with the sender allowed; sg when the group has no egress; nacl when the NACL refuses', (_what, dst, reason) => {
    const open = new Harness(BASE(), { security: true });
    expect(open.run([{ port: open.port('a'), frame: syn(dst) }])).toHaveLength(0);
    expect([open.drops(reason), open.drops(DropReason.Sg), open.drops(DropReason.Nacl)]).toEqual([1, 0, 0]);
    const shut = new Harness(BASE('shut'), { security: true });
    expect(shut.run([{ port: shut.port('a'), frame: syn(dst) }])).toHaveLength(0);
    expect([shut.drops(reason), shut.drops(DropReason.Sg), shut.drops(DropReason.Nacl)]).toEqual([0, 1, 0]);
    const nacl = new Harness(BASE('open', '{ rule: 100, action: deny, protocol: all, cidr: 0.0.0.0/0 }'), { security: true });
    expect(nacl.run([{ port: nacl.port('a'), frame: syn(dst) }])).toHaveLength(0);
    expect([nacl.drops(reason), nacl.drops(DropReason.Sg), nacl.drops(DropReason.Nacl)]).toEqual([0, 0, 1]);
  });

  it('without a security stage the reason is the route\'s own', () => {
    const h = new Harness(BASE('shut'));
    h.run([{ port: h.port('a'), frame: syn('198.19.0.1') }, { port: h.port('a'), frame: syn('203.0.113.200') }]);
    expect([h.drops(DropReason.NoRoute), h.drops(DropReason.Blackhole), h.drops(DropReason.Sg)]).toEqual([1, 1, 0]);
  });
});

describe('the local route', () => {
  it('an address in the VPC nobody holds: no_destination (sg first when the sender may not send)', () => {
    const h = new Harness(BASE(), { security: true });
    expect(h.run([{ port: h.port('a'), frame: syn('198.18.2.99') }])).toHaveLength(0);
    expect(h.drops(DropReason.NoDestination)).toBe(1);
    const shut = new Harness(BASE('shut'), { security: true });
    expect(shut.run([{ port: shut.port('a'), frame: syn('198.18.2.99') }])).toHaveLength(0);
    expect([shut.drops(DropReason.Sg), shut.drops(DropReason.NoDestination)]).toEqual([1, 0]);
  });

  it('the subnet router answers an echo request (whatever the sender\'s group) and drops anything else as not_for_router, after the sender\'s group', () => {
    const h = new Harness(BASE('shut'), { security: true });
    const ping = ethIpv4Icmp({ srcMac: MAC('a'), dstMac: RMAC('sa'), src: A, dst: '198.18.1.1', type: 8, id: 7, seq: 1, payload: Buffer.alloc(8) });
    const out = h.run([{ port: h.port('a'), frame: ping }]);
    expect(out.map((f) => f.port)).toEqual([h.port('a')]);
    const ip = ipv4Of(out[0]!.frame);
    expect([ip.readUInt32BE(12), ip.readUInt32BE(16), ip[20]]).toEqual([ipToU32('198.18.1.1'), ipToU32(A), 0]);
    // TCP to the router: the sender's group (no egress) refuses it first
    expect(h.run([{ port: h.port('a'), frame: syn('198.18.1.1', 22) }])).toHaveLength(0);
    expect([h.drops(DropReason.Sg), h.drops(DropReason.NotForRouter)]).toEqual([1, 0]);
    const open = new Harness(BASE(), { security: true });
    expect(open.run([{ port: open.port('a'), frame: syn('198.18.1.1', 22) }])).toHaveLength(0);
    expect([open.drops(DropReason.Sg), open.drops(DropReason.NotForRouter)]).toEqual([0, 1]);
  });

  it.each(['198.18.2.0', '198.18.2.2', '198.18.2.3', '198.18.2.255'])('reserved %s: reserved_address (sg first when the sender may not send)', (dst) => {
    const h = new Harness(BASE(), { security: true });
    expect(h.run([{ port: h.port('a'), frame: udp(dst, { dport: 53 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.ReservedAddress)).toBe(1);
    const shut = new Harness(BASE('shut'), { security: true });
    expect(shut.run([{ port: shut.port('a'), frame: udp(dst, { dport: 53 }) }])).toHaveLength(0);
    expect([shut.drops(DropReason.Sg), shut.drops(DropReason.ReservedAddress)]).toEqual([1, 0]);
  });

  it('delivery without a security stage: the frame as sent (whatever its slot in the batch), L2 rewritten towards the receiver', () => {
    const h = new Harness(BASE());
    const f = udp(B);
    // the first frame (slot 0) has no route; the delivered one sits in the second slot
    const out = h.run([{ port: h.port('a'), frame: udp('198.19.0.1') }, { port: h.port('a'), frame: f }]);
    expect(out.map((o) => o.port)).toEqual([h.port('b')]);
    expect(out[0]!.frame.length).toBe(f.length);
    expect(out[0]!.frame.subarray(0, 6)).toEqual(mac(MAC('b')));
    expect(out[0]!.frame.subarray(6, 12)).toEqual(mac(RMAC('sb')));
    expect(out[0]!.frame.subarray(14)).toEqual(f.subarray(14));
  });
});

describe('routes to an instance', () => {
  it('via the appliance the route names (check off): delivered to it unchanged', () => {
    const h = new Harness(BASE());
    const f = udp('198.51.100.7');
    const out = h.run([{ port: h.port('a'), frame: f }]);
    expect(out.map((o) => o.port)).toEqual([h.port('fw')]);
    expect(out[0]!.frame.length).toBe(f.length);
    expect(out[0]!.frame.subarray(14)).toEqual(f.subarray(14));
  });

  it('a route back to the sender itself leads nowhere: no_route', () => {
    const h = new Harness(BASE());
    expect(h.run([{ port: h.port('a'), frame: udp('203.0.113.7') }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('a route whose instance is missing from the compiled table (-1): no_route', () => {
    const h = new Harness(BASE());
    const e = h.topo.route(h.topo.subnetRouteTable[0]!, ipToU32('198.51.100.7') | 0);
    h.topo.rtTarget[e] = -1;
    expect(h.run([{ port: h.port('a'), frame: udp('198.51.100.7') }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
  });

  it('a route of a kind the wiring does not know: unsupported_target', () => {
    const h = new Harness(BASE());
    const e = h.topo.route(h.topo.subnetRouteTable[0]!, ipToU32('198.51.100.7') | 0);
    h.topo.rtKind[e] = 99;
    expect(h.run([{ port: h.port('a'), frame: udp('198.51.100.7') }])).toHaveLength(0);
    expect(h.drops(DropReason.UnsupportedTarget)).toBe(1);
  });

  it('a receiver with its check on refuses what is not addressed to it, after the NACLs', () => {
    const viaB = (naclOut?: string) => BASE('open', naclOut).replace('198.51.100.0/24, target: fw', '198.51.100.0/24, target: b');
    const h = new Harness(viaB(), { security: true });
    expect(h.run([{ port: h.port('a'), frame: syn('198.51.100.7') }])).toHaveLength(0);
    expect([h.drops(DropReason.SourceDestCheck), h.drops(DropReason.Nacl)]).toEqual([1, 0]);
    const nacl = new Harness(viaB('{ rule: 100, action: deny, protocol: all, cidr: 0.0.0.0/0 }'), { security: true });
    expect(nacl.run([{ port: nacl.port('a'), frame: syn('198.51.100.7') }])).toHaveLength(0);
    expect([nacl.drops(DropReason.Nacl), nacl.drops(DropReason.SourceDestCheck)]).toEqual([1, 0]);
  });

  it('a receiver whose port is detached: no_destination, with and without a security stage', () => {
    for (const security of [false, true]) {
      const h = new Harness(BASE(), { security });
      h.dp.detachPort(h.port('b'));
      h.dp.detachPort(h.port('fw'));
      expect(h.run([{ port: h.port('a'), frame: syn(B) }, { port: h.port('a'), frame: syn('198.51.100.7') }])).toHaveLength(0);
      expect(h.drops(DropReason.NoDestination)).toBe(2);
      expect(dropsTotal(h)).toBe(2);
    }
  });
});

// a's only egress rule names b's group: it matches only on a local route to a member itself.
const GROUPS = (routes: string, nat = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: rt-a }
  sb: { cidr: 198.18.2.0/24 }
${nat}
routeTables:
  rt-a: { routes: [ ${routes} ] }
securityGroups:
  ga: { egress: [ { protocol: tcp, ports: 5432, group: gb } ] }
  gb: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  a: { subnet: sa, ip: ${A}, securityGroups: [ga] }
  fw: { subnet: sa, ip: ${FW}, securityGroups: [gb], sourceDestCheck: false }
  b: { subnet: sb, ip: ${B}, securityGroups: [gb] }
`;

describe('egress group references before a drop: they match only on a local route to the member itself', () => {
  it('the local route to b: delivered; with b detached: no_destination (the reference matched)', () => {
    const h = new Harness(GROUPS(''), { security: true });
    expect(h.run([{ port: h.port('a'), frame: syn(B) }]).map((f) => f.port)).toEqual([h.port('b')]);
    const gone = new Harness(GROUPS(''), { security: true });
    gone.dp.detachPort(gone.port('b'));
    expect(gone.run([{ port: gone.port('a'), frame: syn(B) }])).toHaveLength(0);
    expect([gone.drops(DropReason.NoDestination), gone.drops(DropReason.Sg)]).toEqual([1, 0]);
  });

  it.each([
    ['through a detached appliance', '{ destination: 198.18.2.0/24, target: fw }', 'fw'],
    ['back to the sender itself', '{ destination: 198.18.2.0/24, target: a }', ''],
    ['into a blackhole', '{ destination: 198.18.2.0/24, target: blackhole }', ''],
  ])('%s: the reference does not match, sg', (_what, route, detach) => {
    const h = new Harness(GROUPS(route), { security: true });
    if (detach !== '') h.dp.detachPort(h.port(detach));
    expect(h.run([{ port: h.port('a'), frame: syn(B) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('to a NAT gateway the data plane has no state for: sg before no_route; allowed by address, no_route', () => {
    const nat = 'natGateways:\n  nat-p: { subnet: sa, type: private, ip: 198.18.1.5 }';
    const h = new Harness(GROUPS('{ destination: 198.18.2.0/24, target: nat-p }', nat), { security: true });
    expect(h.dp.nats).toHaveLength(0);
    expect(h.run([{ port: h.port('a'), frame: syn(B) }])).toHaveLength(0);
    expect([h.drops(DropReason.Sg), h.drops(DropReason.NoRoute)]).toEqual([1, 0]);
    const byAddr = new Harness(GROUPS('{ destination: 198.18.2.0/24, target: nat-p }', nat).replace('group: gb', 'cidr: 198.18.0.0/16'), { security: true });
    expect(byAddr.run([{ port: byAddr.port('a'), frame: syn(B) }])).toHaveLength(0);
    expect([byAddr.drops(DropReason.Sg), byAddr.drops(DropReason.NoRoute)]).toEqual([0, 1]);
  });

  it('a NAT-gateway route whose gateway is missing from the compiled table (-1): no_route', () => {
    const nat = 'natGateways:\n  nat-p: { subnet: sa, type: private, ip: 198.18.1.5 }';
    const h = new Harness(GROUPS('{ destination: 198.18.2.0/24, target: nat-p }', nat).replace('group: gb', 'cidr: 198.18.0.0/16'), { security: true });
    h.topo.rtTarget[h.topo.route(h.topo.subnetRouteTable[0]!, ipToU32(B) | 0)] = -1;
    expect(h.run([{ port: h.port('a'), frame: syn(B) }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });
});

// a may send only inside the VPC: every route but the local one ends in a REJECT record on a's ENI.
const PATHS = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: rt-a }
  sb: { cidr: 198.18.2.0/24 }
internetGateway: { name: igw }
natGateways:
  nat-p: { subnet: sb, type: private, ip: 198.18.2.5 }
routeTables:
  rt-a:
    routes:
      - { destination: 198.51.100.0/24, target: igw }
      - { destination: 203.0.113.0/26, target: fw }
      - { destination: 203.0.113.64/26, target: nat-p }
      - { destination: 203.0.113.128/26, target: vgw }
      - { destination: 203.0.113.192/26, target: blackhole }
securityGroups:
  inside: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ], egress: [ { protocol: all, cidr: 198.18.0.0/16 } ] }
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  a: { subnet: sa, ip: ${A}, securityGroups: [inside] }
  b: { subnet: sb, ip: ${B}, securityGroups: [open] }
  fw: { subnet: sb, ip: 198.18.2.30, securityGroups: [open], sourceDestCheck: false }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [203.0.113.128/26]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;

describe('[VPC-FL] the sender\'s egress record carries the traffic path of its route', () => {
  it('local, appliance and NAT gateway: same VPC; igw: internet gateway; vgw: virtual private gateway; blackhole and no route: none', () => {
    const h = new Harness(PATHS, { security: true, flowLogs: true });
    // in this order: a stale path of the packet before would show on the next record
    const dsts = [B, '198.51.100.7', '198.19.0.1', '203.0.113.130', '203.0.113.200', '203.0.113.10', '203.0.113.70'];
    h.run(dsts.map((d) => ({ port: h.port('a'), frame: udp(d) })));
    expect(h.drops(DropReason.Sg)).toBe(6);
    const recs: string[] = [];
    h.flowLog!.drain((eni, _s, dst, _sp, _dp, _p, accept, _pk, _by, _f, _l, _fl, dir, path) =>
      recs.push(`${h.topo.instanceNames[eni]} ${dir === FlowDir.Egress ? 'egress' : 'ingress'} ${dst === ipToU32(B) ? 'b' : dst} ${accept ? 'ACCEPT' : 'REJECT'} ${path}`));
    const n = (s: string) => ipToU32(s);
    expect(recs.sort()).toEqual([
      `a egress b ACCEPT ${TrafficPath.SameVpc}`,
      `a egress ${n('198.51.100.7')} REJECT ${TrafficPath.InternetGateway}`,
      `a egress ${n('198.19.0.1')} REJECT ${TrafficPath.None}`,
      `a egress ${n('203.0.113.130')} REJECT ${TrafficPath.VirtualPrivateGateway}`,
      `a egress ${n('203.0.113.200')} REJECT ${TrafficPath.None}`,
      `a egress ${n('203.0.113.10')} REJECT ${TrafficPath.SameVpc}`,
      `a egress ${n('203.0.113.70')} REJECT ${TrafficPath.SameVpc}`,
      `b ingress b ACCEPT ${TrafficPath.None}`,
    ].sort());
  });
});
