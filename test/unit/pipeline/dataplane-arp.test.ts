/**
 * The batch loop's ARP on the internet uplink (Dataplane.uplinkArp) and its
 * snapshot and accessors (src/pipeline/dataplane.ts), in memory: vpcd answers
 * on the uplink, with the uplink's MAC, for an instance's public address, a
 * NAT gateway's Elastic IP, the uplink's own address (only when it has one)
 * and a WAN address of the VPN, and for nothing else; a request from one of
 * our WAN addresses teaches the neighbour table nothing; a truncated request
 * is malformed. setSnapshot() swaps the topology (forgetting the ports) only
 * when it changed and the policy only when there is a security stage and a
 * different policy; the uplink/WAN accessors reach the internet gateway's
 * and the VPN's state.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpRequest, ethFrame, ethIpv4Udp, ipv4Of } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { Topology } from '../../../src/control/topology.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';
import { IgwCounter } from '../../../src/nat/igw.js';
import { NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { formatMac, ipToU32 } from '../../../src/wire/addr.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
  db: { subnet: pub, ip: 198.18.1.20, securityGroups: [open] }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;
const ip = (s: string): number => ipToU32(s) | 0;
const NET = '203.0.113.100', WAN = '198.51.100.2', PEER_IP = '198.51.100.1';
const PEER = '02:00:00:00:00:99', UPLINK_MAC = '02:76:75:70:6c:6b';
const MW = instanceMac('t', 'web'), RP = routerMac('t', 'pub');

function world(vpn = true, security = false): Harness {
  const h = new Harness(YAML, { uplink: true, neighbors: [NET, PEER_IP], security });
  if (vpn) h.dp.vpn = new VpnPath(h.cfg);
  return h;
}

function dropDelta(h: Harness, fn: () => void): Record<number, number> {
  const before = [...h.counters.drops];
  fn();
  const d: Record<number, number> = {};
  h.counters.drops.forEach((v, r) => { if (v !== before[r]) d[r] = v - before[r]!; });
  return d;
}

/** "who has tpa? tell spa" on the uplink; returns what was sent and the drops it caused. */
function ask(h: Harness, tpa: string, spa = NET) {
  let out: { port: number; frame: Buffer }[] = [];
  const drops = dropDelta(h, () => { out = h.run([{ port: h.uplinkPort, frame: arpRequest({ srcMac: PEER, spa, tpa }) }]); });
  return { out, drops };
}

function expectAnswer(h: Harness, tpa: string, spa = NET): void {
  const { out, drops } = ask(h, tpa, spa);
  expect(drops).toEqual({});
  expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
  const f = out[0]!.frame;
  expect([formatMac(f, 0), formatMac(f, 6), f.readUInt16BE(12), f.readUInt16BE(20)]).toEqual([PEER, UPLINK_MAC, 0x0806, 2]);
  expect([formatMac(f, 22), f.readUInt32BE(28), formatMac(f, 32), f.readUInt32BE(38)]).toEqual([UPLINK_MAC, ipToU32(tpa), PEER, ipToU32(spa)]);
}

function expectIgnored(h: Harness, tpa: string): void {
  const { out, drops } = ask(h, tpa);
  expect(drops).toEqual({ [DropReason.ArpIgnored]: 1 });
  expect(out).toHaveLength(0);
}

describe('uplink ARP: what vpcd answers for', () => {
  it('an instance\'s public address', () => expectAnswer(world(), '203.0.113.10'));
  it('a NAT gateway\'s Elastic IP', () => expectAnswer(world(), '203.0.113.5'));
  it('a WAN address of the VPN (and only with the VPN)', () => {
    const h = world(false);
    expect(h.dp.isWanAddr(ip(WAN))).toBe(false);
    expectIgnored(h, WAN);
    h.dp.vpn = new VpnPath(h.cfg);
    expect([h.dp.isWanAddr(ip(WAN)), h.dp.isWanAddr(ip(PEER_IP))]).toEqual([true, false]);
    expectAnswer(h, WAN);
  });

  it('the uplink\'s own address once it has one, and then still nothing else', () => {
    const h = world();
    expect(h.dp.uplinkIp).toBe(0);
    expectIgnored(h, '203.0.113.2');
    h.dp.uplinkIp = ip('203.0.113.2');
    expect(h.dp.uplinkIp).toBe(ip('203.0.113.2'));
    expectAnswer(h, '203.0.113.2');
    expectIgnored(h, '203.0.113.77');
    expectIgnored(h, '198.51.100.9');
  });

  it('not for other addresses, nor for 0.0.0.0 while the uplink has no address', () => {
    const h = world();
    expectIgnored(h, '203.0.113.77');
    expectIgnored(h, '203.0.113.11');
    expectIgnored(h, '198.18.1.10'); // a private address is not on the uplink
    expectIgnored(h, '0.0.0.0');
  });

  it('a request whose ARP body is cut short is malformed', () => {
    const h = world();
    const full = arpRequest({ srcMac: PEER, spa: NET, tpa: '203.0.113.10' });
    const cut = ethFrame({ srcMac: PEER, dstMac: 'ff:ff:ff:ff:ff:ff', etherType: 0x0806, payload: full.subarray(14, 14 + 27) });
    let out: unknown[] = [];
    expect(dropDelta(h, () => { out = h.run([{ port: h.uplinkPort, frame: cut }]); })).toEqual({ [DropReason.Malformed]: 1 });
    expect(out).toHaveLength(0);
  });
});

describe('uplink ARP: the sender', () => {
  it('a request from one of our WAN addresses is answered but its sender is not learned', () => {
    const h = world();
    h.dp.neighbors.shouldRequest(ip(WAN), h.now); // as if we had asked for it: a learn would succeed
    expectAnswer(h, '203.0.113.10', WAN);
    expect(h.dp.neighbors.lookup(ip(WAN))).toBe(-1);
  });

  it('a request from another address we asked for teaches its MAC', () => {
    const h = world();
    h.dp.neighbors.shouldRequest(ip('198.51.100.20'), h.now);
    expectAnswer(h, '203.0.113.10', '198.51.100.20');
    const slot = h.dp.neighbors.lookup(ip('198.51.100.20'));
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(formatMac(h.dp.neighbors.macs, slot * 6)).toBe(PEER);
  });

  it('the WAN address sending an ARP for something not ours: not learned either', () => {
    const h = world();
    h.dp.neighbors.shouldRequest(ip(WAN), h.now);
    expect(ask(h, '203.0.113.77', WAN).drops).toEqual({ [DropReason.ArpIgnored]: 1 });
    expect(h.dp.neighbors.lookup(ip(WAN))).toBe(-1);
  });
});

describe('setSnapshot', () => {
  const fwd = (h: Harness) => h.run([{ port: 0, frame: ethIpv4Udp({ srcMac: MW, dstMac: RP, src: '198.18.1.10', dst: '198.18.1.20', sport: 1, dport: 2 }) }]);

  it('the same topology: ports stay attached; NAT gateways and VPN are set every time; no policy change', () => {
    const h = world(false);
    const vpn = new VpnPath(h.cfg);
    const nats: NatGatewayState[] = [];
    expect(h.dp.setSnapshot({ topology: h.topo, policy: null, nats, vpn })).toBeNull();
    expect(h.dp.topo).toBe(h.topo);
    expect(h.dp.nats).toBe(nats);
    expect(h.dp.vpn).toBe(vpn);
    expect(fwd(h).map((f) => f.port)).toEqual([1]);
    h.dp.setSnapshot({ topology: h.topo, policy: null, nats: [], vpn: null });
    expect(h.dp.vpn).toBeNull();
  });

  it('a new topology: swapped in, every port forgotten until attached again', () => {
    const h = world();
    const t2 = new Topology(h.cfg, 2);
    h.dp.legs.services.steered[0] = 5;
    expect(h.dp.setSnapshot({ topology: t2, policy: null, nats: [], vpn: null })).toBeNull();
    expect(h.dp.topo).toBe(t2);
    expect(h.dp.legs.services.steered[0]).toBe(0);
    expect(dropDelta(h, () => fwd(h))).toEqual({ [DropReason.UnknownPort]: 1 });
    h.dp.attachInstance(0, 0, true);
    h.dp.attachInstance(1, 1, true);
    expect(fwd(h).map((f) => f.port)).toEqual([1]);
  });

  it('with a security stage: a new policy is swapped in and the old counters returned; the same or no policy changes nothing', () => {
    const h = world(false, true);
    const sec = h.security!;
    expect(h.dp.security).toBe(sec);
    const oldDrops = sec.eniDrops;
    const p2 = compileSnapshot(h.cfg, 2);
    const old = h.dp.setSnapshot({ topology: p2.topology, policy: p2, nats: [], vpn: null });
    expect(old).not.toBeNull();
    expect(old!.eniDrops).toBe(oldDrops);
    expect(sec.policy).toBe(p2);
    expect(h.dp.topo).toBe(p2.topology);
    expect(h.dp.setSnapshot({ topology: p2.topology, policy: p2, nats: [], vpn: null })).toBeNull();
    expect(h.dp.setSnapshot({ topology: p2.topology, policy: null, nats: [], vpn: null })).toBeNull();
    expect(sec.policy).toBe(p2);
  });

  it('without a security stage a policy is ignored', () => {
    const h = world(false);
    const p2 = compileSnapshot(h.cfg, 2);
    expect(h.dp.setSnapshot({ topology: h.topo, policy: p2, nats: [], vpn: null })).toBeNull();
    expect(h.dp.security).toBeNull();
  });

  it('the security stage can be removed and set again; it writes to the data plane\'s events', () => {
    const h = world(false, true);
    const sec = h.security!;
    expect(sec.events).toBe(h.dp.events);
    h.dp.security = null;
    expect(h.dp.security).toBeNull();
    expect(fwd(h).map((f) => f.port)).toEqual([1]);
    h.dp.security = sec;
    expect(h.dp.security).toBe(sec);
  });
});

describe('the uplink and WAN accessors', () => {
  it('uplink port, MAC, neighbours and the internet gateway\'s counters', () => {
    const h = world();
    expect(h.dp.uplinkPort).toBe(h.uplinkPort);
    expect(formatMac(h.dp.uplinkMac, 0)).toBe(UPLINK_MAC);
    expect(h.dp.neighbors.lookup(ip(NET))).toBeGreaterThanOrEqual(0);
    const out = h.run([{ port: 0, frame: ethIpv4Udp({ srcMac: MW, dstMac: RP, src: '198.18.1.10', dst: NET, sport: 5000, dport: 53 }) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    expect([h.dp.igwCounters[IgwCounter.PacketsOut], h.dp.igwCounters[IgwCounter.BytesOut]]).toEqual([1, out[0]!.frame.length - 14]);
  });

  it('emitUdp sends a datagram from a WAN address on the uplink to the resolved neighbour', () => {
    const h = world();
    const b = h.batch;
    b.reset();
    expect(h.dp.emitUdp(b, ip(WAN), 500, ip(PEER_IP), 500, Buffer.from('ike'), h.now)).toBe(true);
    expect([b.txCount, b.txPort[0]]).toEqual([1, h.uplinkPort]);
    const f = Buffer.from(b.arena.subarray(b.txOff[0]! + 10, b.txOff[0]! + b.txLen[0]!));
    expect([formatMac(f, 0), formatMac(f, 6)]).toEqual([PEER, UPLINK_MAC]);
    const p = ipv4Of(f);
    expect([p.readUInt32BE(12), p.readUInt32BE(16), p.readUInt16BE(20), p.readUInt16BE(22)]).toEqual([ipToU32(WAN), ipToU32(PEER_IP), 500, 500]);
  });

  it('IKE to a WAN address is punted for the control plane', () => {
    const h = world();
    const ike = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK_MAC, src: PEER_IP, dst: WAN, sport: 500, dport: 500, payload: Buffer.alloc(40, 3) });
    expect(dropDelta(h, () => h.run([{ port: h.uplinkPort, frame: ike }]))).toEqual({});
    expect(h.dp.punts).toHaveLength(1);
    expect(h.dp.punts[0]).toMatchObject({ local: ip(WAN), localPort: 500, from: ip(PEER_IP), fromPort: 500 });
    expect(h.dp.punts[0]!.bytes).toEqual(Buffer.alloc(40, 3));
  });
});
