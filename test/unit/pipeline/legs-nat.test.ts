/**
 * The NAT gateway's legs of the wiring (src/pipeline/legs.ts): instance ->
 * gateway (received counters, forced tracking, the gateway ENI's flow-log
 * records, admits), the route in the gateway's subnet (inside the VPC, an
 * appliance, its outbound NACL first unless the route is to a NAT gateway in
 * the same subnet, no route, blackhole, VGW for a private gateway, a NAT
 * gateway, IGW refusals, hairpin, the Elastic IP on the uplink), the
 * internet's answers to the Elastic IP (inbound NACL, reverse translation,
 * the route back, the receiver's checks), an instance answering a private
 * gateway, the gateway's own NACL legs (fragments, ports, denied sources,
 * events) and its PacketsDropped counter (exactly once per drop).
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Icmp, ethIpv4Tcp, ethIpv4Udp, fragmentFrame, ipv4Of, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { NatCounter } from '../../../src/nat/nat-gateway.js';
import { EventType, F, N, RECORD_NUMS, RECORD_WORDS } from '../../../src/observe/event-ring.js';
import { Code, Stage } from '../../../src/observe/event-vocabulary.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';
import { standInEsp } from '../../helpers/stand-in-esp.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const ALLOW = '{ rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }';
interface W { pubIn?: string; pubOut?: string; privIn?: string; applIn?: string; pubRoutes?: string; applRoutes?: string; fwCheck?: boolean }
// Subnets: priv 0, pub 1 (nat-a, nat-b; the main table, the first: its first route is route 0), appl 2 (private nat-c, appliance fw),
// sb 3. Instances: fw 0 (an appliance at index 0), app 1, fwd 2, web 3, b 4. Flow-log ENIs: instances 0-4, then nat-a 5, nat-b 6, nat-c 7.
const world = (o: W = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  priv: { cidr: 198.18.2.0/24, routeTable: private, networkAcl: priv-nacl }
  pub: { cidr: 198.18.1.0/24, networkAcl: pub-nacl }
  appl: { cidr: 198.18.3.0/24, routeTable: applrt, networkAcl: appl-nacl }
  sb: { cidr: 198.18.4.0/24 }
networkAcls:
  priv-nacl: { inbound: [ ${o.privIn ?? ALLOW} ], outbound: [ ${ALLOW} ] }
  pub-nacl: { inbound: [ ${o.pubIn ?? ALLOW} ], outbound: [ ${o.pubOut ?? ALLOW} ] }
  appl-nacl: { inbound: [ ${o.applIn ?? ALLOW} ], outbound: [ ${ALLOW} ] }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
  nat-b: { subnet: pub, type: public, ip: 198.18.1.6, publicIp: 203.0.113.6 }
  nat-c: { subnet: appl, type: private, ip: 198.18.3.5 }
routeTables:
  main: { routes: [ ${o.pubRoutes ?? '{ destination: 0.0.0.0/0, target: igw }'} ] }
  applrt: { routes: [ ${o.applRoutes ?? '{ destination: 198.19.0.0/16, target: vgw }'} ] }
  private:
    routes:
      - { destination: 0.0.0.0/0, target: nat-b }
      - { destination: 198.19.0.0/16, target: nat-c }
      - { destination: 198.18.4.0/24, target: nat-c }
      - { destination: 203.0.113.32/27, target: nat-c }
      - { destination: 203.0.113.128/26, target: blackhole }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ], egress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  fw: { subnet: appl, ip: 198.18.3.10, sourceDestCheck: ${o.fwCheck ?? false}, securityGroups: [open] }
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
  fwd: { subnet: priv, ip: 198.18.2.20, sourceDestCheck: false, securityGroups: [open] }
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
  b: { subnet: sb, ip: 198.18.4.20, securityGroups: [open] }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  site-a:
    role: cgw
    remoteNetworks: [198.19.0.0/17]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
  site-b:
    role: cgw
    remoteNetworks: [198.19.128.0/17]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.11, insideCidr: 169.254.11.0/30 } ]
`;
const APP = '198.18.2.10', B = '198.18.4.20', NET = '203.0.113.100', EIP = '203.0.113.6', NGW = '198.18.1.6', NGW_C = '198.18.3.5';
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';
const MAC = (i: string) => instanceMac('t', i), RT = (s: string) => routerMac('t', s);
const ip = (s: string) => ipToU32(s) | 0;
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const GW_A = 5, GW_B = 6, GW_C = 7;

function mk(o: W = {}, flowLogs = false): Harness {
  return new Harness(world(o), { security: true, uplink: true, flowLogs, neighbors: [NET, '198.51.100.1', '198.51.100.11', '203.0.113.40'] });
}
const udpFrom = (inst: string, src: string, dst: string, o: { sport?: number; dport?: number; payload?: number; df?: boolean } = {}) =>
  ethIpv4Udp({ srcMac: MAC(inst), dstMac: RT(inst === 'b' ? 'sb' : 'priv'), src, dst, sport: o.sport ?? 5000, dport: o.dport ?? 53, payload: Buffer.alloc(o.payload ?? 8, 1), ...(o.df ? { df: true } : {}) });
const fromNet = (dport: number, o: { dst?: string; sport?: number } = {}) =>
  ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: o.dst ?? EIP, sport: o.sport ?? 53, dport, payload: Buffer.alloc(8, 2) });

/** Counter changes of gateway g over fn(), non-zero ones only. */
function natDelta(h: Harness, g: number, fn: () => void): Record<string, number> {
  const c = h.dp.nats[g]!.counters, before = [...c];
  fn();
  return Object.fromEntries(Object.entries(NatCounter).map(([k, i]) => [k, c[i]! - before[i]!]).filter(([, v]) => v !== 0));
}
/** Drop counter changes over fn(), by DropReason name. */
function dropDelta(h: Harness, fn: () => void): Record<string, number> {
  const before = [...h.counters.drops];
  fn();
  const names = Object.fromEntries(Object.entries(DropReason).map(([k, v]) => [v, k]));
  const d: Record<string, number> = {};
  h.counters.drops.forEach((v, r) => { if (v !== before[r]) d[names[r]!] = v - before[r]!; });
  return d;
}
/** Flow-log records of an ENI, decoded. */
function records(h: Harness, eni: number) {
  const fl = h.flowLog!;
  return Array.from({ length: fl.recordsOf(eni) }, (_, n) => {
    const r = eni * fl.recordsPerEni + n, pa = fl.protoAction[r]!;
    return { src: dotted(fl.src[r]!), dst: dotted(fl.dst[r]!), sport: fl.ports[r]! >>> 16, dport: fl.ports[r]! & 0xffff, proto: (pa >>> 1) & 0xff,
      action: pa & 1, dir: pa >>> 9, path: fl.path[r]!, pktSrc: dotted(fl.pktSrc[r]!), pktDst: dotted(fl.pktDst[r]!), packets: fl.packets[r]! };
  });
}
function events(h: Harness, type: number = EventType.Nat) {
  const out: Record<string, number | string>[] = [];
  h.dp.events.drain((r, s) => {
    const w = (f: number) => r.words[s * RECORD_WORDS + f]!;
    if (w(F.Type) !== type) return;
    out.push({ stage: w(F.Stage), code: w(F.Code), owner: w(F.Owner), eni: w(F.Eni), proto: w(F.Proto), src: dotted(w(F.Src)), dst: dotted(w(F.Dst)),
      sport: w(F.Sport), dport: w(F.Dport), xsrc: dotted(w(F.Xsrc)), xdst: dotted(w(F.Xdst)), xsport: w(F.Xsport), xdport: w(F.Xdport),
      packets: r.nums[s * RECORD_NUMS + N.Packets]! });
  });
  return out;
}
/** app's datagram out through nat-b; returns the gateway's port. */
function openSession(h: Harness, sport = 5000): number {
  const out = h.run([{ port: h.port('app'), frame: udpFrom('app', APP, NET, { sport }) }]);
  expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
  return ipv4Of(out[0]!.frame).readUInt16BE(20);
}

describe('instance -> NAT gateway -> internet', () => {
  it('leaves from the Elastic IP with an allocated port; counted in and out; the flow is tracked on the sender although its group is all-open', () => {
    const h = mk();
    let out: { port: number; frame: Buffer }[] = [];
    const d = natDelta(h, 1, () => { out = h.run([{ port: h.port('app'), frame: udpFrom('app', APP, NET) }]); });
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const o = ipv4Of(out[0]!.frame);
    expect([dotted(o.readUInt32BE(12)), dotted(o.readUInt32BE(16)), o.readUInt16BE(22)]).toEqual([EIP, NET, 53]);
    expect(o.readUInt16BE(20)).toBeGreaterThanOrEqual(1024);
    expect(d).toMatchObject({ PacketsInFromSource: 1, BytesInFromSource: 36, PacketsOutToDestination: 1, BytesOutToDestination: 36 });
    expect(d.PacketsDropped).toBeUndefined();
    expect(h.ct!.entries).toBe(1);
    expect(natDelta(h, 0, () => h.run([{ port: h.port('app'), frame: udpFrom('app', APP, NET) }]))).toEqual({}); // nat-a untouched
  });

  it("the gateway's ENI (after the instances') logs the arrival to its own address and the departure from it, with the path to the IGW", () => {
    const h = mk({}, true);
    const natPort = openSession(h);
    expect(records(h, GW_B)).toEqual([
      { src: APP, dst: NGW, sport: 5000, dport: 53, proto: 17, action: 1, dir: 1, path: 0, pktSrc: APP, pktDst: NET, packets: 1 },
      { src: NGW, dst: NET, sport: natPort, dport: 53, proto: 17, action: 1, dir: 2, path: 2, pktSrc: NGW, pktDst: NET, packets: 1 },
    ]);
    for (const eni of [GW_A, GW_C, h.port('fw')]) expect(records(h, eni)).toEqual([]);
  });

  it('records carry TCP ports; an ICMP query is logged with ports 0', () => {
    const h = mk({}, true);
    const syn = ethIpv4Tcp({ srcMac: MAC('app'), dstMac: RT('priv'), src: APP, dst: NET, sport: 40000, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
    const ping = ethIpv4Icmp({ srcMac: MAC('app'), dstMac: RT('priv'), src: APP, dst: NET, type: 8, id: 77, seq: 1 });
    expect(h.run([{ port: h.port('app'), frame: syn }, { port: h.port('app'), frame: ping }])).toHaveLength(2);
    const r = records(h, GW_B);
    expect(r.filter((x) => x.proto === 6).map((x) => [x.dir, x.dport])).toEqual([[1, 443], [2, 443]]);
    expect(r.find((x) => x.proto === 6 && x.dir === 1)!.sport).toBe(40000);
    expect(r.filter((x) => x.proto === 1).map((x) => [x.dir, x.sport, x.dport])).toEqual([[1, 0, 0], [2, 0, 0]]);
  });

  it("the gateway's own refusal (a protocol it does not carry) is counted as one drop", () => {
    const h = mk();
    const gre = Buffer.from(udpFrom('app', APP, NET));
    gre[14 + 9] = 47;
    gre.writeUInt16BE(0, 14 + 10);
    let c = 0;
    for (let i = 0; i < 20; i += 2) c += gre.readUInt16BE(14 + i);
    while (c > 0xffff) c = (c & 0xffff) + (c >>> 16);
    gre.writeUInt16BE(~c & 0xffff, 14 + 10);
    let d: Record<string, number> = {};
    expect(dropDelta(h, () => { d = natDelta(h, 1, () => expect(h.run([{ port: h.port('app'), frame: gre }])).toHaveLength(0)); })).toEqual({ NatUnsupportedProto: 1 });
    expect(d).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 36, PacketsDropped: 1 });
  });

  it("refused on the way in (the gateway subnet's inbound NACL): one drop on the gateway, no record on its ENI", () => {
    const h = mk({ pubIn: '{ rule: 50, action: deny, protocol: udp, ports: 53, cidr: 198.18.2.0/24 }, ' + ALLOW }, true);
    let d: Record<string, number> = {};
    expect(dropDelta(h, () => { d = natDelta(h, 1, () => expect(h.run([{ port: h.port('app'), frame: udpFrom('app', APP, NET) }])).toHaveLength(0)); })).toEqual({ Nacl: 1 });
    expect(d).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 36, PacketsDropped: 1 });
    expect(records(h, GW_B)).toEqual([]);
  });

  it('a route to a NAT gateway the data plane holds no state for: no_route (after the NACLs)', () => {
    const h = new Harness(world(), { security: true }); // no uplink: no gateway state
    expect(h.dp.nats).toHaveLength(0);
    expect(dropDelta(h, () => expect(h.run([{ port: h.port('app'), frame: udpFrom('app', APP, NET) }])).toHaveLength(0))).toEqual({ NoRoute: 1 });
    const h2 = mk();
    h2.dp.nats = h2.dp.nats.slice(0, 1); // nat-b (index 1) missing
    expect(dropDelta(h2, () => expect(h2.run([{ port: h2.port('app'), frame: udpFrom('app', APP, NET) }])).toHaveLength(0))).toEqual({ NoRoute: 1 });
    // from a gateway whose subnet routes on to a gateway with no state: no_route too
    const h3 = mk({ pubRoutes: '{ destination: 0.0.0.0/0, target: nat-c }' });
    h3.dp.nats = h3.dp.nats.slice(0, 2);
    expect(dropDelta(h3, () => expect(h3.run([{ port: h3.port('app'), frame: udpFrom('app', APP, NET) }])).toHaveLength(0))).toEqual({ NoRoute: 1 });
    // and a blackhole route is a blackhole, not a gateway
    expect(dropDelta(h2, () => expect(h2.run([{ port: h2.port('app'), frame: udpFrom('app', APP, '203.0.113.150') }])).toHaveLength(0))).toEqual({ Blackhole: 1 });
  });
});

describe("the translated packet and the route in the gateway's subnet", () => {
  /** app -> dst through nat-b (or nat-c for the private routes): drops, counter changes, what left. */
  function send(h: Harness, dst: string, g = 1, o: { payload?: number; df?: boolean } = {}) {
    let out: { port: number; frame: Buffer }[] = [];
    let nat: Record<string, number> = {};
    const drops = dropDelta(h, () => { nat = natDelta(h, g, () => { out = h.run([{ port: h.port('app'), frame: udpFrom('app', APP, dst, o) }]); }); });
    return { out, drops, nat, dropped: nat.PacketsDropped ?? 0 };
  }

  it('the first route of the first table (route 0) is a route like any other', () => {
    const h = mk({ pubRoutes: `{ destination: ${NET}/32, target: igw }, { destination: 0.0.0.0/0, target: blackhole }` });
    expect(h.topo.route(h.topo.subnetRouteTable[1]!, ip(NET))).toBe(0);
    expect(send(h, NET)).toMatchObject({ drops: {}, dropped: 0 });
  });

  it('no route from the gateway: no_route, its outbound record with no traffic path', () => {
    const h = mk({ pubRoutes: '' }, true);
    expect(send(h, NET)).toMatchObject({ out: [], drops: { NoRoute: 1 }, dropped: 1 });
    expect(records(h, GW_B).filter((r) => r.dir === 2).map((r) => [r.action, r.path])).toEqual([[1, 0]]);
  });

  it('blackhole: blackhole; a NAT gateway in another subnet: its outbound NACL, then no_route; in the same subnet: no NACL, no_route', () => {
    expect(send(mk({ pubRoutes: '{ destination: 0.0.0.0/0, target: blackhole }' }), NET)).toMatchObject({ out: [], drops: { Blackhole: 1 }, dropped: 1 });
    const denyOut = '{ rule: 50, action: deny, protocol: udp, ports: 53, cidr: 0.0.0.0/0 }, ' + ALLOW;
    for (const [target, deny, want] of [['nat-c', false, 'NoRoute'], ['nat-c', true, 'Nacl'], ['nat-a', true, 'NoRoute'], ['nat-b', true, 'NoRoute']] as const) {
      const h = mk({ pubRoutes: `{ destination: 0.0.0.0/0, target: ${target} }`, ...(deny ? { pubOut: denyOut } : {}) }, true);
      expect(send(h, NET), `${target} ${deny}`).toMatchObject({ out: [], drops: { [want]: 1 }, dropped: 1 });
      const egress = records(h, GW_B).filter((r) => r.dir === 2).map((r) => [r.action, r.path]);
      expect(egress, `${target} ${deny}`).toEqual(target === 'nat-c' ? [[deny ? 0 : 1, 1]] : []);
    }
  });

  it("the gateway subnet's outbound NACL comes before the route's refusal: a REJECT record on the gateway, the source counted as denied", () => {
    const denyOut = '{ rule: 50, action: deny, protocol: udp, ports: 53, cidr: 0.0.0.0/0 }, ' + ALLOW;
    for (const pubRoutes of ['{ destination: 0.0.0.0/0, target: igw }', '{ destination: 0.0.0.0/0, target: blackhole }']) {
      const h = mk({ pubOut: denyOut, pubRoutes }, true);
      expect(send(h, NET)).toMatchObject({ out: [], drops: { Nacl: 1 }, dropped: 1 });
      const egress = records(h, GW_B).filter((r) => r.dir === 2);
      expect(egress.map((r) => [r.src, r.dst, r.action, r.path])).toEqual([[NGW, NET, 0, pubRoutes.includes('igw') ? 2 : 0]]);
      expect(h.security!.deniedSources.top(4)).toEqual([{ key: ipToU32(NGW), count: 1 }]);
    }
  });

  it('a packet the NACLs admit leaves no denied source', () => {
    const h = mk();
    openSession(h);
    expect(h.security!.deniedSources.top(4)).toEqual([]);
  });

  it('a route to the VGW with no VPN on the data plane: no_route, not the internet', () => {
    const h = mk({ pubRoutes: '{ destination: 198.51.100.128/25, target: vgw }, { destination: 0.0.0.0/0, target: igw }' });
    expect(h.dp.vpn).toBeNull();
    expect(send(h, '198.51.100.200')).toMatchObject({ out: [], drops: { NoRoute: 1 }, dropped: 1 });
  });

  it("the IGW refuses a private gateway, a gateway without its Elastic IP or not public, and anything without an uplink: igw_no_public_ip", () => {
    expect(send(mk({ applRoutes: '{ destination: 0.0.0.0/0, target: igw }' }), '203.0.113.40', 2)).toMatchObject({ out: [], drops: { IgwNoPublicIp: 1 }, dropped: 1 });
    const cases: ((h: Harness) => void)[] = [(h) => { h.dp.nats[1]!.publicIp = 0; }, (h) => { h.dp.nats[1]!.isPublic = false; }, (h) => { h.dp.uplinkPort = -1; }];
    for (const spoil of cases) {
      const h = mk();
      spoil(h);
      expect(send(h, NET)).toMatchObject({ out: [], drops: { IgwNoPublicIp: 1 }, dropped: 1 });
    }
    const h = mk();
    h.dp.uplinkPort = 0; // port 0 is a port
    expect(send(h, NET).out.map((f) => [f.port, dotted(ipv4Of(f.frame).readUInt32BE(12))])).toEqual([[0, EIP]]);
  });

  it('a private destination: igw_rejected, nothing counted as sent', () => {
    const r = send(mk(), '10.1.2.3');
    expect(r).toMatchObject({ out: [], drops: { IgwRejected: 1 }, dropped: 1 });
    expect(r.nat.PacketsOutToDestination).toBeUndefined();
  });

  it("hairpin: to a public address of the VPC the IGW turns it straight back in, from the Elastic IP", () => {
    const h = mk();
    const r = send(h, '203.0.113.10');
    expect(r.out.map((f) => f.port)).toEqual([h.port('web')]);
    const o = ipv4Of(r.out[0]!.frame);
    expect([dotted(o.readUInt32BE(12)), dotted(o.readUInt32BE(16))]).toEqual([EIP, '198.18.1.10']);
    expect(r.nat).toMatchObject({ PacketsOutToDestination: 1 });
  });

  it('a private gateway towards the VPN: into the connection that carries the destination, from its own address; none carries it: no_route', () => {
    const h = mk({}, true);
    const vpn = new VpnPath(h.cfg);
    const cr = standInEsp();
    vpn.crypto = cr;
    vpn.tunUp[0] = vpn.tunUp[1] = 1;
    h.dp.vpn = vpn;
    for (const [dst, peer] of [['198.19.1.1', '198.51.100.1'], ['198.19.200.1', '198.51.100.11']]) {
      const r = send(h, dst, 2);
      expect(r.drops).toEqual({});
      expect(r.nat).toMatchObject({ PacketsOutToDestination: 1 });
      expect(r.out.map((f) => f.port)).toEqual([h.uplinkPort]);
      const o = ipv4Of(r.out[0]!.frame);
      expect(dotted(o.readUInt32BE(16))).toBe(peer);
      expect([dotted(o.readUInt32BE(28 + 8 + 12)), dotted(o.readUInt32BE(28 + 8 + 16))]).toEqual([NGW_C, dst]);
    }
    expect(cr.sealed).toHaveLength(2);
    expect(records(h, GW_C).filter((r) => r.dir === 2).map((r) => [r.src, r.path])).toEqual([[NGW_C, 3], [NGW_C, 3]]); // via the VGW
    // too big for the tunnel: dropped, and no sender inside to tell (the gateway's packet)
    cr.mtu = 200;
    expect(send(h, '198.19.1.1', 2, { payload: 400, df: true })).toMatchObject({ out: [], drops: { TooBig: 1 } });
    const h2 = mk({ applRoutes: '{ destination: 0.0.0.0/0, target: vgw }' });
    h2.dp.vpn = vpn;
    expect(send(h2, '203.0.113.40', 2)).toMatchObject({ out: [], drops: { NoRoute: 1 }, dropped: 1 });
  });
});

describe('inside the VPC: a private gateway between subnets, an appliance on the route', () => {
  const toB = (dst = B, sport = 5000) => udpFrom('app', APP, dst, { sport });
  const fromB = (natPort: number) => ethIpv4Udp({ srcMac: MAC('b'), dstMac: RT('sb'), src: B, dst: NGW_C, sport: 53, dport: natPort, payload: Buffer.alloc(8, 3) });

  it("delivered to B from the gateway's address (counted as sent); B's answer to that address comes back to app (counted as delivered), untracked on B", () => {
    const h = mk({}, true);
    let out: { port: number; frame: Buffer }[] = [];
    expect(natDelta(h, 2, () => { out = h.run([{ port: h.port('app'), frame: toB() }]); })).toMatchObject({ PacketsInFromSource: 1, PacketsOutToDestination: 1, BytesOutToDestination: 36 });
    expect(out.map((f) => f.port)).toEqual([h.port('b')]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    expect(dotted(ipv4Of(out[0]!.frame).readUInt32BE(12))).toBe(NGW_C);
    let back: { port: number; frame: Buffer }[] = [];
    const d = natDelta(h, 2, () => { back = h.run([{ port: h.port('b'), frame: fromB(natPort) }, { port: h.port('b'), frame: fromB(natPort) }]); });
    expect(d).toEqual({ ConnectionsEstablished: 1, PacketsInFromDestination: 2, BytesInFromDestination: 72, PacketsOutToSource: 2, BytesOutToSource: 72 });
    expect(back.map((f) => [f.port, f.frame.length])).toEqual([[h.port('app'), 50], [h.port('app'), 50]]);
    const ip4 = ipv4Of(back[1]!.frame);
    expect([dotted(ip4.readUInt32BE(12)), dotted(ip4.readUInt32BE(16)), ip4.readUInt16BE(22)]).toEqual([B, APP, 5000]);
    expect(h.ct!.entries).toBe(1); // app's forced entry only
    expect(records(h, GW_C)).toEqual([
      { src: APP, dst: NGW_C, sport: 5000, dport: 53, proto: 17, action: 1, dir: 1, path: 0, pktSrc: APP, pktDst: B, packets: 1 },
      { src: NGW_C, dst: B, sport: natPort, dport: 53, proto: 17, action: 1, dir: 2, path: 1, pktSrc: NGW_C, pktDst: B, packets: 1 },
      { src: B, dst: NGW_C, sport: 53, dport: natPort, proto: 17, action: 1, dir: 1, path: 0, pktSrc: B, pktDst: NGW_C, packets: 2 },
      { src: NGW_C, dst: APP, sport: 53, dport: 5000, proto: 17, action: 1, dir: 2, path: 1, pktSrc: B, pktDst: APP, packets: 2 },
    ]);
  });

  it("B's answer refused between B's subnet and the gateway's: one drop on the gateway", () => {
    const h = mk({ applIn: '{ rule: 50, action: deny, protocol: all, cidr: 198.18.4.0/24 }, ' + ALLOW });
    const natPort = ipv4Of(h.run([{ port: h.port('app'), frame: toB() }])[0]!.frame).readUInt16BE(20);
    let d: Record<string, number> = {};
    expect(dropDelta(h, () => { d = natDelta(h, 2, () => expect(h.run([{ port: h.port('b'), frame: fromB(natPort) }])).toHaveLength(0)); })).toEqual({ Nacl: 1 });
    expect(d).toEqual({ PacketsDropped: 1 });
  });

  it("the gateway subnet's route through an appliance: to it (its check off); with its check on: source_dest_check, one drop", () => {
    const applRoutes = '{ destination: 198.18.4.0/24, target: fw }';
    const h = mk({ applRoutes });
    expect(h.run([{ port: h.port('app'), frame: toB() }]).map((f) => f.port)).toEqual([h.port('fw')]);
    const h2 = mk({ applRoutes, fwCheck: true });
    let d: Record<string, number> = {};
    expect(dropDelta(h2, () => { d = natDelta(h2, 2, () => expect(h2.run([{ port: h2.port('app'), frame: toB() }])).toHaveLength(0)); })).toEqual({ SourceDestCheck: 1 });
    expect(d.PacketsDropped).toBe(1);
    // The appliance route's instance index missing (the data plane holds none for it): no_route, one drop.
    const h3 = mk({ applRoutes });
    h3.topo.rtTarget[h3.topo.route(h3.topo.subnetRouteTable[2]!, ipToU32(B) | 0)] = -1;
    expect(dropDelta(h3, () => { d = natDelta(h3, 2, () => expect(h3.run([{ port: h3.port('app'), frame: toB() }])).toHaveLength(0)); })).toEqual({ NoRoute: 1 });
    expect(d.PacketsDropped).toBe(1);
  });

  it('to the router, a reserved address or nothing behind the gateway: not_for_router, reserved_address, no_destination, one drop each', () => {
    const h = mk();
    for (const [dst, want] of [['198.18.4.1', 'NotForRouter'], ['198.18.4.3', 'ReservedAddress'], ['198.18.4.77', 'NoDestination']] as const) {
      let d: Record<string, number> = {};
      expect(dropDelta(h, () => { d = natDelta(h, 2, () => expect(h.run([{ port: h.port('app'), frame: toB(dst) }])).toHaveLength(0)); }), dst).toEqual({ [want]: 1 });
      expect(d.PacketsDropped, dst).toBe(1);
    }
  });
});

describe('the internet answering the Elastic IP', () => {
  const answer = (h: Harness, natPort: number, frames = 1) => {
    let out: { port: number; frame: Buffer }[] = [];
    let nat: Record<string, number> = {};
    const drops = dropDelta(h, () => { nat = natDelta(h, 1, () => { out = h.run(Array.from({ length: frames }, () => ({ port: h.uplinkPort, frame: fromNet(natPort) }))); }); });
    return { out, drops, nat, dropped: nat.PacketsDropped ?? 0 };
  };

  it('reverse-translated to app and delivered; the gateway ENI logs its arrival and its departure into the VPC', () => {
    const h = mk({}, true);
    const natPort = openSession(h);
    const r = answer(h, natPort);
    expect(r.drops).toEqual({});
    expect(r.nat).toEqual({ ConnectionsEstablished: 1, PacketsInFromDestination: 1, BytesInFromDestination: 36, PacketsOutToSource: 1, BytesOutToSource: 36 });
    expect(r.out.map((f) => f.port)).toEqual([h.port('app')]);
    const o = ipv4Of(r.out[0]!.frame);
    expect([dotted(o.readUInt32BE(12)), dotted(o.readUInt32BE(16)), o.readUInt16BE(22)]).toEqual([NET, APP, 5000]);
    expect(records(h, GW_B).slice(2)).toEqual([
      { src: NET, dst: NGW, sport: 53, dport: natPort, proto: 17, action: 1, dir: 1, path: 0, pktSrc: NET, pktDst: NGW, packets: 1 },
      { src: NGW, dst: APP, sport: 53, dport: 5000, proto: 17, action: 1, dir: 2, path: 1, pktSrc: NET, pktDst: APP, packets: 1 },
    ]);
  });

  it("refused by the gateway subnet's inbound NACL: nacl, one drop, a REJECT arrival record, the source denied; no event without observers", () => {
    const h = mk({ pubIn: '{ rule: 50, action: deny, protocol: udp, cidr: 203.0.113.0/24 }, ' + ALLOW }, true);
    const natPort = openSession(h);
    expect(answer(h, natPort)).toMatchObject({ out: [], drops: { Nacl: 1 }, dropped: 1 });
    expect(records(h, GW_B).slice(2).map((x) => [x.src, x.dst, x.action, x.dir])).toEqual([[NET, NGW, 0, 1]]);
    expect(h.security!.deniedSources.top(4)).toEqual([{ key: ipToU32(NET), count: 1 }]);
    expect(h.dp.events.size).toBe(0);
    h.dp.events.active = true;
    answer(h, natPort);
    expect(events(h, EventType.Flow).map((e) => [e.stage, e.code, e.src, e.dst])).toEqual([[Stage.NaclInbound, Code.SubnetAcl, NET, NGW]]);
  });

  it("the gateway's NACL legs match TCP and UDP destination ports and ICMP types; a rule on another port refuses", () => {
    const pubIn = ['{ rule: 90, action: allow, protocol: all, cidr: 198.18.0.0/16 }', '{ rule: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 }',
      '{ rule: 110, action: allow, protocol: udp, ports: 1024-65535, cidr: 0.0.0.0/0 }', '{ rule: 120, action: allow, protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 }'].join(', ');
    const h = mk({ pubIn });
    const tcp = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 443, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 1 });
    const ping = ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, type: 8, id: 5, seq: 1 });
    for (const [frame, want] of [[tcp, 'Unsolicited'], [fromNet(40000), 'Unsolicited'], [ping, 'Unsolicited'], [fromNet(80), 'Nacl']] as const) {
      expect(dropDelta(h, () => expect(h.run([{ port: h.uplinkPort, frame }])).toHaveLength(0))).toEqual({ [want]: 1 });
    }
  });

  it('the route back from the gateway: a blackhole, or a NAT gateway (vpcd does not translate twice): one drop each', () => {
    for (const [target, want] of [['blackhole', 'Blackhole'], ['nat-a', 'NoRoute']] as const) {
      const h = mk({ pubRoutes: `{ destination: 198.18.2.0/24, target: ${target} }, { destination: 0.0.0.0/0, target: igw }` });
      expect(answer(h, openSession(h)), target).toMatchObject({ out: [], drops: { [want]: 1 }, dropped: 1 });
    }
  });

  it('the route back through an appliance: to the appliance, counted as delivered to the source', () => {
    const h = mk({ pubRoutes: '{ destination: 198.18.2.0/24, target: fw }, { destination: 0.0.0.0/0, target: igw }' });
    const r = answer(h, openSession(h));
    expect(r.out.map((f) => [f.port, dotted(ipv4Of(f.frame).readUInt32BE(16))])).toEqual([[h.port('fw'), APP]]);
    expect(r.nat).toMatchObject({ PacketsOutToSource: 1 });
  });

  it('app gone from its port: no_destination, one drop', () => {
    const h = mk();
    const natPort = openSession(h);
    h.dp.detachPort(h.port('app'));
    expect(answer(h, natPort)).toMatchObject({ out: [], drops: { NoDestination: 1 }, dropped: 1 });
  });

  it("refused on the way in: by the gateway subnet's outbound NACL (REJECT on the gateway's record) or the receiver's inbound (ACCEPT there)", () => {
    for (const [o, action] of [[{ pubOut: '{ rule: 50, action: deny, protocol: all, cidr: 198.18.2.0/24 }, ' + ALLOW }, 0], [{ privIn: '{ rule: 50, action: deny, protocol: all, cidr: 203.0.113.0/24 }, ' + ALLOW }, 1]] as const) {
      const h = mk(o, true);
      expect(answer(h, openSession(h))).toMatchObject({ out: [], drops: { Nacl: 1 }, dropped: 1 });
      expect(records(h, GW_B).filter((x) => x.dst === APP).map((x) => [x.src, x.action, x.dir, x.path])).toEqual([[NGW, action, 2, 1]]);
    }
  });

  it('an answer to an address spoofed by an appliance: the router, reserved, another gateway, nothing: after the NACLs, one drop each', () => {
    for (const [inside, want, privIn] of [['198.18.2.1', 'NotForRouter', false], ['198.18.2.3', 'ReservedAddress', false], ['198.18.1.5', 'UnsupportedTarget', false],
      ['198.18.2.77', 'NoDestination', false], ['198.18.2.1', 'Nacl', true], ['198.18.2.77', 'Nacl', true]] as const) {
      const h = mk(privIn ? { privIn: '{ rule: 50, action: deny, protocol: all, cidr: 203.0.113.0/24 }, ' + ALLOW } : {});
      const out = h.run([{ port: h.port('fwd'), frame: udpFrom('fwd', inside, NET) }]);
      expect(out.map((f) => f.port), inside).toEqual([h.uplinkPort]);
      expect(answer(h, ipv4Of(out[0]!.frame).readUInt16BE(20)), `${inside} ${privIn}`).toMatchObject({ out: [], drops: { [want]: 1 }, dropped: 1 });
    }
  });
});

describe("the gateway's own NACL legs and observers", () => {
  it('later fragments follow their first: judged and logged once', () => {
    const h = mk({ pubOut: '{ rule: 100, action: allow, protocol: udp, ports: 53, cidr: 0.0.0.0/0 }' }, true);
    const frags = fragmentFrame(udpFrom('app', APP, NET, { payload: 3000 }), 1400);
    expect(h.run(frags.map((frame) => ({ port: h.port('app'), frame }))).map((f) => f.port)).toEqual([h.uplinkPort, h.uplinkPort, h.uplinkPort]);
    expect(records(h, GW_B).map((r) => [r.dir, r.dport, r.packets])).toEqual([[1, 53, 1], [2, 53, 1]]);
  });

  it('one translation event per new session (stage nat, NGW source reassignment), on every path; none without observers', () => {
    const h = mk();
    const vpn = new VpnPath(h.cfg);
    vpn.crypto = standInEsp();
    vpn.tunUp[0] = 1;
    h.dp.vpn = vpn;
    const flows = [udpFrom('app', APP, NET), udpFrom('app', APP, B), udpFrom('app', APP, '198.19.1.1')];
    expect(h.run(flows.map((frame) => ({ port: h.port('app'), frame })))).toHaveLength(3);
    expect(h.dp.events.size).toBe(0);
    h.dp.events.active = true;
    const fresh = flows.map((f) => { const g = Buffer.from(f); g.writeUInt16BE(6000, 34); g.writeUInt16BE(0, 40); return g; });
    const out = h.run([...fresh, ...fresh].map((frame) => ({ port: h.port('app'), frame })));
    expect(out).toHaveLength(6);
    const ports = out.slice(0, 3).map((f, i) => ipv4Of(f.frame).readUInt16BE(i === 2 ? 28 + 8 + 20 : 20));
    expect(events(h)).toEqual([
      { stage: Stage.Nat, code: Code.NgwSourceReassign, owner: 1, eni: 1, proto: 17, src: APP, dst: NET, sport: 6000, dport: 53, xsrc: EIP, xdst: NET, xsport: ports[0], xdport: 53, packets: 1 },
      { stage: Stage.Nat, code: Code.NgwSourceReassign, owner: 2, eni: 1, proto: 17, src: APP, dst: B, sport: 6000, dport: 53, xsrc: NGW_C, xdst: B, xsport: ports[1], xdport: 53, packets: 1 },
      { stage: Stage.Nat, code: Code.NgwSourceReassign, owner: 2, eni: 1, proto: 17, src: APP, dst: '198.19.1.1', sport: 6000, dport: 53, xsrc: NGW_C, xdst: '198.19.1.1', xsport: ports[2], xdport: 53, packets: 1 },
    ]);
    // the internet gateway's own 1:1 NAT is not a NAT gateway's source reassignment
    h.run([{ port: h.port('web'), frame: ethIpv4Udp({ srcMac: MAC('web'), dstMac: RT('pub'), src: '198.18.1.10', dst: NET, sport: 7000, dport: 53 }) }]);
    expect(events(h).map((e) => [e.stage, e.code, e.owner])).toEqual([[Stage.Igw, Code.None, -1]]);
  });
});
