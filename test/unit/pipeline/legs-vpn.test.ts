/**
 * The VPN and Direct Connect legs of the wiring (src/pipeline/legs.ts):
 * instance -> VGW (Direct Connect first while it is up and covers the
 * destination; no VPN; a source outside the VPC; no connection; the crossing;
 * encryption into the connection's tunnel), the decrypted packets from the
 * WAN (keepalives, ESP refusals, a malformed inner packet, the traffic
 * selectors, to an instance with its NACL/SG crossing and the MSS clamp, to a
 * NAT gateway's address, nowhere, VPN CloudHub) and the Direct Connect link's
 * packets. A stand-in ESP engine; in memory, real frames.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, ipv4Of, refChecksum, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { PortRole } from '../../../src/pipeline/dataplane.js';
import { DxCounter } from '../../../src/vpn/direct-connect.js';
import { NatCounter } from '../../../src/nat/nat-gateway.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';
import { standInEsp, type StandInEsp } from '../../helpers/stand-in-esp.js';
import { EspError } from '../../../src/ipsec/esp.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { formatMac, ipToU32 } from '../../../src/wire/addr.js';

const ALLOW = '{ rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }';
interface W { role?: 'cgw' | 'vgw'; privIn?: string; privOut?: string; otherIn?: string; otherOut?: string }
// Subnets: priv 0 (app, fwd), other 1 (x, nat-c). Instances: app 0, x 1, fwd 2.
const world = (o: W = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  priv: { cidr: 198.18.2.0/24, routeTable: private, networkAcl: priv-nacl }
  other: { cidr: 198.18.3.0/24, routeTable: natrt, networkAcl: other-nacl }
networkAcls:
  priv-nacl: { inbound: [ ${o.privIn ?? ALLOW} ], outbound: [ ${o.privOut ?? ALLOW} ] }
  other-nacl: { inbound: [ ${o.otherIn ?? ALLOW} ], outbound: [ ${o.otherOut ?? ALLOW} ] }
natGateways:
  nat-c: { subnet: other, type: private, ip: 198.18.3.5 }
routeTables:
  private:
    routes:
      - { destination: 198.19.0.0/16, target: vgw }
      - { destination: 198.19.64.0/18, target: nat-c }
      - { destination: 203.0.113.0/24, target: vgw }
  natrt: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ], egress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  guarded: { ingress: [ { protocol: tcp, ports: 22, cidr: 198.51.100.0/24 } ], egress: [] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
  x: { subnet: other, ip: 198.18.3.10, securityGroups: [guarded] }
  fwd: { subnet: priv, ip: 198.18.2.20, sourceDestCheck: false, securityGroups: [open] }
${o.role === 'vgw' ? 'vpnGateway: { name: vgw, asn: 64512 }' : 'customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }'}
vpnConnections:
  site-a:
    role: ${o.role ?? 'cgw'}
    remoteNetworks: [198.19.0.0/17]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, local: 198.51.100.2, insideCidr: 169.254.10.0/30 } ]
  site-b:
    role: ${o.role ?? 'cgw'}
    remoteNetworks: [198.19.128.0/17]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.11, local: 198.51.100.2, insideCidr: 169.254.11.0/30 } ]
`;
const APP = '198.18.2.10', NGW_C = '198.18.3.5', WAN = '198.51.100.2', PEER_A = '198.51.100.1', PEER_B = '198.51.100.11';
const SITE_A = '198.19.1.1', SITE_B = '198.19.200.1';
const UPLINK = '02:76:75:70:6c:6b', PEER_MAC = '02:00:00:00:00:99';
const DX_MAC = [0x02, 0x64, 0x78, 0, 0, 1], DX_PEER_MAC = [0x02, 0, 0, 0, 0, 0x77];
const MAC = (i: string) => instanceMac('t', i), RT = (s: string) => routerMac('t', s);
const ip = (s: string) => ipToU32(s) | 0;
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** The data plane with both tunnels up (slot 0: site-a, 1: site-b) and, when `dx`, a Direct Connect link for 198.19.0.0/17 on port 8. */
function setup(o: W = {}, opts: { dx?: boolean } = {}) {
  const h = new Harness(world(o), { security: true, uplink: true, neighbors: [PEER_A, PEER_B] });
  const vpn = new VpnPath(h.cfg);
  const cr = standInEsp();
  vpn.crypto = cr;
  vpn.tunUp[0] = vpn.tunUp[1] = 1;
  h.dp.vpn = vpn;
  const DX = 8;
  if (opts.dx === true) {
    h.dp.attachPort(DX, PortRole.DirectConnect, 0, true);
    h.dp.dxPort = DX;
    h.dp.dxMac.set(DX_MAC);
    h.dp.dxIp = ip('169.254.250.1');
    h.dp.dxPeer = ip('169.254.250.2');
    h.dp.dxNetAddr = Uint32Array.of(ipToU32('198.19.0.0'));
    h.dp.dxNetMask = Uint32Array.of(0xffff8000);
    h.dp.legs.dx.peerMac.set(DX_PEER_MAC);
    h.dp.legs.dx.seenMs = h.now; // the peer answered ARP just now: up
  }
  return { h, vpn, cr, DX };
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
const udp = (inst: string, src: string, dst: string, dport = 53, o: { payload?: number; df?: boolean } = {}) =>
  ethIpv4Udp({ srcMac: MAC(inst), dstMac: RT(inst === 'x' ? 'other' : 'priv'), src, dst, sport: 5000, dport, payload: Buffer.alloc(o.payload ?? 8, 1), ...(o.df ? { df: true } : {}) });
/** Runs frames from one port; returns what left and the drops. */
function send(h: Harness, port: number, frames: Buffer[]) {
  let out: { port: number; frame: Buffer }[] = [];
  const drops = dropDelta(h, () => { out = h.run(frames.map((frame) => ({ port, frame }))); });
  return { out, drops };
}
/** The inner packet of an ESP frame the stand-in sealed. */
const sealedInner = (frame: Buffer) => ipv4Of(frame).subarray(28 + 8);
const outerDst = (frame: Buffer) => dotted(ipv4Of(frame).readUInt32BE(16));

describe('instance -> VPN gateway', () => {
  it('into the tunnel of the connection that carries the destination (site-b: the second), untracked for an all-open group', () => {
    const { h, cr } = setup();
    const r = send(h, h.port('app'), [udp('app', APP, SITE_A), udp('app', APP, SITE_B)]);
    expect(r.drops).toEqual({});
    expect(r.out.map((f) => [f.port, outerDst(f.frame)])).toEqual([[h.uplinkPort, PEER_A], [h.uplinkPort, PEER_B]]);
    expect(cr.sealed).toEqual([0, 1]);
    expect(dotted(sealedInner(r.out[1]!.frame).readUInt32BE(16))).toBe(SITE_B);
    expect(h.ct!.entries).toBe(0);
  });

  it('no VPN on the data plane: no_route; no connection for the destination: no_route; a source outside the VPC: vgw_source_outside_vpc', () => {
    const { h, cr } = setup();
    expect(send(h, h.port('app'), [udp('app', APP, '203.0.113.50')])).toEqual({ out: [], drops: { NoRoute: 1 } });
    expect(send(h, h.port('fwd'), [udp('fwd', '203.0.113.9', SITE_A)])).toEqual({ out: [], drops: { VgwSourceOutsideVpc: 1 } });
    h.dp.vpn = null;
    expect(send(h, h.port('app'), [udp('app', APP, SITE_A)])).toEqual({ out: [], drops: { NoRoute: 1 } });
    expect(cr.sealed).toEqual([]);
  });

  it("the crossing comes first: the subnet's outbound NACL refuses before any tunnel", () => {
    const { h, cr } = setup({ privOut: '{ rule: 50, action: deny, protocol: udp, ports: 53, cidr: 198.19.0.0/16 }, ' + ALLOW });
    expect(send(h, h.port('app'), [udp('app', APP, SITE_A)])).toEqual({ out: [], drops: { Nacl: 1 } });
    expect(cr.sealed).toEqual([]);
  });

  it('Direct Connect while it is up and covers the destination: over the link (L2 only), counted, untracked; nothing is sealed', () => {
    const { h, cr, DX } = setup({}, { dx: true });
    const f = udp('app', APP, SITE_A);
    const r = send(h, h.port('app'), [f]);
    expect(r.drops).toEqual({});
    expect(r.out.map((x) => x.port)).toEqual([DX]);
    const o = r.out[0]!.frame;
    expect([formatMac(o, 0), formatMac(o, 6)]).toEqual(['02:00:00:00:00:77', '02:64:78:00:00:01']);
    expect(o.subarray(12)).toEqual(f.subarray(12));
    expect(h.dp.dxCounters[DxCounter.PacketsOut]).toBe(1);
    expect(cr.sealed).toEqual([]);
    expect(h.ct!.entries).toBe(0);
  });

  it('Direct Connect not covering the destination, or down: the tunnel', () => {
    const { h, cr } = setup({}, { dx: true });
    expect(send(h, h.port('app'), [udp('app', APP, SITE_B)]).out.map((f) => outerDst(f.frame))).toEqual([PEER_B]);
    h.now += 3000; // no sign of life for 3 s
    expect(send(h, h.port('app'), [udp('app', APP, SITE_A)]).out.map((f) => outerDst(f.frame))).toEqual([PEER_A]);
    expect(cr.sealed).toEqual([1, 0]);
    expect(h.dp.dxCounters[DxCounter.PacketsOut]).toBe(0);
  });

  it('Direct Connect on port 0 is a link like any other', () => {
    const { h, cr } = setup({}, { dx: true });
    h.dp.attachInstance(9, h.port('app'), true); // app moves to port 9, the link takes port 0
    h.dp.attachPort(0, PortRole.DirectConnect, 0, true);
    h.dp.dxPort = 0;
    expect(send(h, 9, [udp('app', APP, SITE_A)]).out.map((f) => f.port)).toEqual([0]);
    expect(cr.sealed).toEqual([]);
  });

  it('over Direct Connect only the sender and its subnet judge the packet (no receiver ENI, no receiving subnet)', () => {
    const { h, DX } = setup({ otherIn: '{ rule: 50, action: deny, protocol: all, cidr: 198.18.2.0/24 }, ' + ALLOW }, { dx: true });
    expect(send(h, h.port('app'), [udp('app', APP, SITE_A)]).out.map((f) => f.port)).toEqual([DX]);
    const { h: h2 } = setup({ privOut: '{ rule: 50, action: deny, protocol: udp, ports: 53, cidr: 198.19.0.0/16 }, ' + ALLOW }, { dx: true });
    expect(send(h2, h2.port('app'), [udp('app', APP, SITE_A)])).toEqual({ out: [], drops: { Nacl: 1 } });
    expect(h2.dp.dxCounters[DxCounter.PacketsOut]).toBe(0);
  });
});

/** An ESP datagram from a peer to our WAN address, which the stand-in decrypts to `inner` as tunnel `t`. */
function fromPeer(cr: StandInEsp, inner: Buffer, t = 0): Buffer {
  cr.inner = inner;
  cr.lastTunnel = t;
  return ethIpv4Udp({ srcMac: PEER_MAC, dstMac: UPLINK, src: t === 0 ? PEER_A : PEER_B, dst: WAN, sport: 4500, dport: 4500, payload: Buffer.alloc(inner.length + 40, 0x33) });
}
const innerUdp = (src: string, dst: string, dport = 5000, o: { payload?: number; df?: boolean } = {}) =>
  ipv4Of(ethIpv4Udp({ srcMac: PEER_MAC, dstMac: UPLINK, src, dst, sport: 53, dport, payload: Buffer.alloc(o.payload ?? 8, 4), ...(o.df ? { df: true } : {}) }));

describe('from the WAN: decrypted packets', () => {
  it('for an instance: delivered as a plain frame holding the inner packet (each of a batch at its own length)', () => {
    const { h, cr } = setup();
    const inner = innerUdp(SITE_A, APP);
    const r = send(h, h.uplinkPort, [fromPeer(cr, inner), fromPeer(cr, inner)]);
    expect(r.drops).toEqual({});
    expect(r.out.map((f) => [f.port, f.frame.length])).toEqual([[h.port('app'), 14 + inner.length], [h.port('app'), 14 + inner.length]]);
    expect(formatMac(r.out[1]!.frame, 0)).toBe(MAC('app'));
    expect(r.out[1]!.frame.subarray(14)).toEqual(inner);
  });

  it('a NAT keepalive is consumed (nothing sent, nothing dropped); ESP the engine refuses: its reason', () => {
    const { h, cr } = setup();
    const keepalive = ethIpv4Udp({ srcMac: PEER_MAC, dstMac: UPLINK, src: PEER_A, dst: WAN, sport: 4500, dport: 4500, payload: Buffer.from([0xff]) });
    expect(send(h, h.uplinkPort, [keepalive])).toEqual({ out: [], drops: {} });
    const f = fromPeer(cr, innerUdp(SITE_A, APP));
    cr.code = EspError.Auth;
    expect(send(h, h.uplinkPort, [f])).toEqual({ out: [], drops: { EspAuth: 1 } });
  });

  it('a malformed inner packet: malformed; a source outside the connection\'s remote networks: source_dest_check', () => {
    const { h, cr } = setup();
    const bad = Buffer.from(innerUdp(SITE_A, APP));
    bad[0] = 0x65;
    expect(send(h, h.uplinkPort, [fromPeer(cr, bad)])).toEqual({ out: [], drops: { Malformed: 1 } });
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_B, APP), 0)])).toEqual({ out: [], drops: { SourceDestCheck: 1 } });
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_B, APP), 1)]).out.map((f) => f.port)).toEqual([h.port('app')]);
  });

  it('to the router, an address with no instance, or an instance gone from its port: no_destination', () => {
    const { h, cr } = setup();
    for (const dst of ['198.18.2.1', '198.18.2.77', '198.18.3.1']) expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, dst))]), dst).toEqual({ out: [], drops: { NoDestination: 1 } });
    h.dp.detachPort(h.port('app'));
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, APP))])).toEqual({ out: [], drops: { NoDestination: 1 } });
  });

  it("the receiver's subnet NACL and group judge it (nothing else: no sender ENI, no sending subnet)", () => {
    const otherOut = '{ rule: 50, action: deny, protocol: udp, ports: 7777, cidr: 198.18.2.0/24 }, ' + ALLOW;
    const { h, cr } = setup({ otherOut });
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, APP, 7777))]).out.map((f) => f.port)).toEqual([h.port('app')]);
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, '198.18.3.10'))])).toEqual({ out: [], drops: { Sg: 1 } });
    const s2 = setup({ privIn: '{ rule: 50, action: deny, protocol: udp, cidr: 198.19.0.0/16 }, ' + ALLOW });
    expect(send(s2.h, s2.h.uplinkPort, [fromPeer(s2.cr, innerUdp(SITE_A, APP))])).toEqual({ out: [], drops: { Nacl: 1 } });
  });

  it("a TCP SYN's MSS is clamped to the tunnel's (inner MTU - 40); a datagram is left as it came", () => {
    const { h, cr } = setup();
    cr.mtu = 1300;
    const syn = ipv4Of(ethIpv4Tcp({ srcMac: PEER_MAC, dstMac: UPLINK, src: SITE_A, dst: APP, sport: 40000, dport: 22, flags: TCP_SYN, seq: 1, ack: 0, options: [2, 4, 0x05, 0xb4] }));
    const r = send(h, h.uplinkPort, [fromPeer(cr, syn)]);
    const o = ipv4Of(r.out[0]!.frame);
    expect(o.readUInt16BE(20 + 22)).toBe(1260);
    const dgram = innerUdp(SITE_A, APP);
    expect(ipv4Of(send(h, h.uplinkPort, [fromPeer(cr, dgram)]).out[0]!.frame)).toEqual(dgram);
  });

  it("to a private NAT gateway's address: the answer to what it sent into the tunnel, translated back to app", () => {
    const { h, cr } = setup();
    const out = send(h, h.port('app'), [udp('app', APP, '198.19.64.1')]).out;
    expect(out.map((f) => outerDst(f.frame))).toEqual([PEER_A]);
    const inner = sealedInner(out[0]!.frame);
    expect(dotted(inner.readUInt32BE(12))).toBe(NGW_C);
    const natPort = inner.readUInt16BE(20);
    const nat = h.dp.nats[0]!;
    const r = send(h, h.uplinkPort, [fromPeer(cr, innerUdp('198.19.64.1', NGW_C, natPort))]);
    expect(r.drops).toEqual({});
    expect(r.out.map((f) => f.port)).toEqual([h.port('app')]);
    const o = ipv4Of(r.out[0]!.frame);
    expect([dotted(o.readUInt32BE(16)), o.readUInt16BE(22)]).toEqual([APP, 5000]);
    expect(refChecksum(o.subarray(0, 20))).toBe(0);
    expect([nat.counters[NatCounter.PacketsOutToSource], nat.counters[NatCounter.PacketsDropped]]).toEqual([1, 0]);
  });
});

describe('VPN CloudHub', () => {
  it('a VGW sends a site\'s packet on to the site that carries the destination (either way)', () => {
    const { h, cr } = setup({ role: 'vgw' });
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, SITE_B), 0)]).out.map((f) => outerDst(f.frame))).toEqual([PEER_B]);
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_B, SITE_A), 1)]).out.map((f) => outerDst(f.frame))).toEqual([PEER_A]);
    expect(cr.sealed).toEqual([1, 0]);
  });

  it('no connection carries it: no_route; too big for the next tunnel: too_big, and no instance is told', () => {
    const { h, cr } = setup({ role: 'vgw' });
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, '203.0.113.50'))])).toEqual({ out: [], drops: { NoRoute: 1 } });
    cr.mtu = 200;
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, SITE_B, 5000, { payload: 400, df: true }))])).toEqual({ out: [], drops: { TooBig: 1 } });
  });

  it('a customer gateway does not relay between sites: no_route', () => {
    const { h, cr } = setup();
    expect(send(h, h.uplinkPort, [fromPeer(cr, innerUdp(SITE_A, SITE_B))])).toEqual({ out: [], drops: { NoRoute: 1 } });
    expect(cr.sealed).toEqual([]);
  });
});

describe('from the Direct Connect link', () => {
  const fromLink = (src: string, dst: string, o: { dstMac?: string; dport?: number } = {}) =>
    ethIpv4Udp({ srcMac: '02:00:00:00:00:77', dstMac: o.dstMac ?? '02:64:78:00:00:01', src, dst, sport: 53, dport: o.dport ?? 5000, payload: Buffer.alloc(8, 5) });

  it('for an instance of this site: counted in and delivered, untracked for an all-open group', () => {
    const { h, DX } = setup({}, { dx: true });
    const f = fromLink(SITE_A, APP);
    const r = send(h, DX, [f, f]);
    expect(r.drops).toEqual({});
    expect(r.out.map((x) => [x.port, x.frame.length])).toEqual([[h.port('app'), f.length], [h.port('app'), f.length]]);
    expect(r.out[0]!.frame.subarray(14)).toEqual(f.subarray(14));
    expect([...h.dp.dxCounters]).toEqual([0, 0, 2, 72]);
    expect(h.ct!.entries).toBe(0);
  });

  it("only the receiver's subnet NACL judges it: another subnet's outbound NACL that refuses everything does not", () => {
    const { h, DX } = setup({ otherOut: '{ rule: 50, action: deny, protocol: all, cidr: 0.0.0.0/0 }' }, { dx: true });
    expect(send(h, DX, [fromLink(SITE_A, APP)]).out.map((x) => x.port)).toEqual([h.port('app')]);
  });

  it('refused: not our MAC, malformed, a source not behind the link, no instance there or none attached, the NACL or the group; none counted in', () => {
    const { h, DX } = setup({ privIn: '{ rule: 50, action: deny, protocol: udp, ports: 7777, cidr: 0.0.0.0/0 }, ' + ALLOW }, { dx: true });
    const broken = fromLink(SITE_A, APP);
    broken[14 + 10] ^= 0xff; // header checksum
    const cases: [Buffer, string][] = [
      [fromLink(SITE_A, APP, { dstMac: '02:64:78:00:00:02' }), 'NotForRouter'], [broken, 'Malformed'], [fromLink(SITE_B, APP), 'SourceDestCheck'],
      [fromLink(SITE_A, '198.18.2.77'), 'NoDestination'], [fromLink(SITE_A, NGW_C), 'NoDestination'], [fromLink(SITE_A, APP, { dport: 7777 }), 'Nacl'],
      [fromLink(SITE_A, '198.18.3.10'), 'Sg'],
    ];
    for (const [frame, want] of cases) expect(send(h, DX, [frame]), want).toEqual({ out: [], drops: { [want]: 1 } });
    h.dp.detachPort(h.port('app'));
    expect(send(h, DX, [fromLink(SITE_A, APP)])).toEqual({ out: [], drops: { NoDestination: 1 } });
    expect(h.dp.dxCounters[DxCounter.PacketsIn]).toBe(0);
  });
});
