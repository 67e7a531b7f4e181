/**
 * The batch loop (src/pipeline/dataplane.ts) in memory: its counters (batches,
 * frames, rx per port, drops by reason and per sending ENI), the dispatch of
 * each frame by ethertype and port role, the drop events it reports to
 * observers (reason, stage, code, ENI, addresses, L3 length; none for ignored
 * ARP or a drop a stage already reported; zero addresses for a frame that
 * never parsed), the deferred ESP seals flushed once per batch (a failed seal
 * removes its frame and counts esp_no_sa), ARP on the uplink (answered with
 * the uplink's MAC for a public address, an Elastic IP, the uplink's own
 * address when it has one and a WAN address, nothing else; a WAN sender is
 * not learned), setSnapshot()'s swaps and the accessors of the uplink, the
 * VPN WAN and Direct Connect.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpRequest, ethFrame, ethIpv4Tcp, ethIpv4Udp, ipv4Of, TCP_SYN } from '../../helpers/frames.js';
import { DROP_REASON_COUNT, DropReason } from '../../../src/pipeline/batch.js';
import { PortRole } from '../../../src/pipeline/dataplane.js';
import { Topology } from '../../../src/control/topology.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import { EventType, F, N, RECORD_NUMS, RECORD_WORDS, RULE_NONE, VERDICT_REJECT, type EventRing } from '../../../src/observe/event-ring.js';
import { DROP_CODE, DROP_STAGE } from '../../../src/observe/event-vocabulary.js';
import { VpnPath, type TunnelCrypto } from '../../../src/vpn/vpn-path.js';
import { DxCounter } from '../../../src/vpn/direct-connect.js';
import { NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { IgwCounter } from '../../../src/nat/igw.js';
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
  closed: { ingress: [] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
  db: { subnet: pub, ip: 198.18.1.20, securityGroups: [closed] }
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
const WEB = '198.18.1.10', DB = '198.18.1.20', NET = '203.0.113.100', WAN = '198.51.100.2', PEER_IP = '198.51.100.1';
const MW = instanceMac('t', 'web'), MD = instanceMac('t', 'db'), RP = routerMac('t', 'pub');
const UPLINK_MAC = '02:76:75:70:6c:6b', PEER = '02:00:00:00:00:99';
const OTHER_PORT = 7; // a port with a role this loop has no leg for (the VPN WAN role)
const DX_PORT = 8, DX_MAC = [0x02, 0x64, 0x78, 0, 0, 1], DX_IP = '169.254.250.1', DX_PEER = '169.254.250.2';
const SVC_PORT = 9, FREE_PORT = 11;

const udp = (src: string, dst: string, o: { srcMac?: string; dstMac?: string; sport?: number; dport?: number; payload?: number } = {}) =>
  ethIpv4Udp({ srcMac: o.srcMac ?? MW, dstMac: o.dstMac ?? RP, src, dst, sport: o.sport ?? 40000, dport: o.dport ?? 53, payload: Buffer.alloc(o.payload ?? 8, 1) });
const webToDb = () => udp(WEB, DB);
const tenBytes = () => Buffer.alloc(10, 0x45);

function world(opts: { security?: boolean; vpn?: boolean } = {}): Harness {
  const h = new Harness(YAML, { security: opts.security === true, uplink: true, neighbors: [NET, PEER_IP] });
  if (opts.vpn === true) h.dp.vpn = new VpnPath(h.cfg);
  h.dp.attachPort(OTHER_PORT, PortRole.Wan, 0, true);
  h.dp.attachPort(SVC_PORT, PortRole.Service, 0, true);
  h.dp.attachPort(DX_PORT, PortRole.DirectConnect, 0, true);
  h.dp.dxPort = DX_PORT;
  h.dp.dxMac.set(DX_MAC);
  h.dp.dxIp = ip(DX_IP);
  h.dp.dxPeer = ip(DX_PEER);
  h.dp.dxNetAddr = Uint32Array.of(ipToU32('198.19.0.0'));
  h.dp.dxNetMask = Uint32Array.of(0xffff0000);
  return h;
}

/** The decoded records waiting in the ring. */
function events(ring: EventRing): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  ring.drain((r, s) => {
    const w = (f: number) => r.words[s * RECORD_WORDS + f]!;
    out.push({ type: w(F.Type), verdict: w(F.Verdict), stage: w(F.Stage), code: w(F.Code), owner: w(F.Owner), rule: w(F.Rule), eni: w(F.Eni),
      proto: w(F.Proto), src: w(F.Src), dst: w(F.Dst), sport: w(F.Sport), dport: w(F.Dport), reason: w(F.Reason),
      packets: r.nums[s * RECORD_NUMS + N.Packets]!, bytes: r.nums[s * RECORD_NUMS + N.Bytes]! });
  });
  return out;
}

/** Drop counters' change over fn(), reasons with a non-zero change only. */
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

describe('the batch loop: counters', () => {
  it('counts each batch once, its frames, and each frame on its port (packets and bytes with the vnet header)', () => {
    const h = world();
    const f1 = webToDb(), f2 = tenBytes();
    h.run([{ port: 0, frame: f1 }, { port: FREE_PORT, frame: f2 }, { port: 0, frame: f1 }]);
    h.run([]);
    expect([h.counters.batches, h.counters.frames]).toEqual([2, 3]);
    expect([...h.counters.port.subarray(0, 2)]).toEqual([2, 2 * (f1.length + 10)]);
    expect([...h.counters.port.subarray(FREE_PORT * 4, FREE_PORT * 4 + 2)]).toEqual([1, 20]);
  });

  it('a drop counts its reason, and for a frame from an instance also on that ENI', () => {
    const h = world({ security: true });
    const d = dropDelta(h, () => h.run([{ port: 1, frame: udp('198.18.1.99', WEB, { srcMac: MD }) }]));
    expect(d).toEqual({ [DropReason.SourceDestCheck]: 1 });
    const e = h.security!.eniDrops;
    expect(e[1 * DROP_REASON_COUNT + DropReason.SourceDestCheck]).toBe(1);
    expect(e.reduce((a, x) => a + x, 0)).toBe(1);
  });

  it('a drop of a frame from the uplink counts on no ENI', () => {
    const h = world({ security: true });
    const d = dropDelta(h, () => h.run([{ port: h.uplinkPort, frame: udp(NET, '203.0.113.10', { srcMac: PEER, dstMac: '02:00:00:00:00:55' }) }]));
    expect(d).toEqual({ [DropReason.NotForRouter]: 1 });
    expect(h.security!.eniDrops.every((x) => x === 0)).toBe(true);
  });
});

describe('the batch loop: dispatch by ethertype and port role', () => {
  const cases: [string, number, () => Buffer, number][] = [
    ['a frame shorter than an Ethernet header', 0, tenBytes, DropReason.Malformed],
    ['ethertype 0x0000', 0, () => ethFrame({ srcMac: MW, dstMac: RP, etherType: 0, payload: Buffer.alloc(46) }), DropReason.UnknownEthertype],
    ['LLDP (0x88cc)', 0, () => ethFrame({ srcMac: MW, dstMac: RP, etherType: 0x88cc, payload: Buffer.alloc(46) }), DropReason.UnknownEthertype],
    ['IPv6 (0x86dd)', 0, () => ethFrame({ srcMac: MW, dstMac: RP, etherType: 0x86dd, payload: Buffer.alloc(46) }), DropReason.Ipv6],
    ['IPv4 on a port nothing is attached to', FREE_PORT, webToDb, DropReason.UnknownPort],
    ['ARP on a port nothing is attached to', FREE_PORT, () => arpRequest({ srcMac: MW, spa: WEB, tpa: '198.18.1.1' }), DropReason.UnknownPort],
    ['IPv4 on a port of a role without a leg', OTHER_PORT, () => udp(NET, WEB, { dstMac: UPLINK_MAC }), DropReason.UnsupportedTarget],
    ['ARP on a port of a role without a leg (even for an address the uplink or Direct Connect answers)', OTHER_PORT, () => arpRequest({ srcMac: PEER, spa: NET, tpa: '203.0.113.10' }), DropReason.ArpIgnored],
    ['ARP for the Direct Connect address on a port of a role without a leg', OTHER_PORT, () => arpRequest({ srcMac: PEER, spa: DX_PEER, tpa: DX_IP }), DropReason.ArpIgnored],
    ['ARP on the service port', SVC_PORT, () => arpRequest({ srcMac: PEER, spa: DX_PEER, tpa: DX_IP }), DropReason.ArpIgnored],
    ['ARP from an instance for an address the router does not answer', 0, () => arpRequest({ srcMac: MW, spa: WEB, tpa: '198.18.1.99' }), DropReason.ArpIgnored],
  ];
  for (const [what, port, frame, reason] of cases) {
    it(`${what}: dropped as ${reason}, nothing sent`, () => {
      const h = world();
      let out: unknown[] = [];
      expect(dropDelta(h, () => { out = h.run([{ port, frame: frame() }]); })).toEqual({ [reason]: 1 });
      expect(out).toHaveLength(0);
    });
  }

  it('a port detached is unknown again; an instance frame goes its leg while attached', () => {
    const h = world();
    const out = h.run([{ port: 0, frame: webToDb() }]);
    expect(out.map((f) => f.port)).toEqual([1]);
    expect(formatMac(out[0]!.frame, 0)).toBe(MD);
    h.dp.detachPort(0);
    expect(dropDelta(h, () => h.run([{ port: 0, frame: webToDb() }]))).toEqual({ [DropReason.UnknownPort]: 1 });
  });

  it('ARP from an instance for its subnet router: answered on its port with the router\'s MAC', () => {
    const h = world();
    const out = h.run([{ port: 0, frame: arpRequest({ srcMac: MW, spa: WEB, tpa: '198.18.1.1' }) }]);
    expect(out.map((f) => f.port)).toEqual([0]);
    expect([out[0]!.frame.readUInt16BE(12), out[0]!.frame.readUInt16BE(20)]).toEqual([0x0806, 2]);
    expect(formatMac(out[0]!.frame, 22)).toBe(RP);
  });

  it('IPv4 from the internet on the uplink: the internet gateway delivers it to the public address\'s instance', () => {
    const h = world();
    const out = h.run([{ port: h.uplinkPort, frame: udp(NET, '203.0.113.10', { srcMac: PEER, dstMac: UPLINK_MAC }) }]);
    expect(out.map((f) => f.port)).toEqual([0]);
    expect(ipv4Of(out[0]!.frame).readUInt32BE(16)).toBe(ipToU32(WEB));
    expect(h.dp.igwCounters[IgwCounter.PacketsIn]).toBe(1);
  });

  it('IPv4 on the service port: a service\'s answer goes to the instance', () => {
    const h = world();
    const out = h.run([{ port: SVC_PORT, frame: udp('169.254.169.254', WEB, { srcMac: PEER, dstMac: RP, sport: 80, dport: 40000 }) }]);
    expect(out.map((f) => f.port)).toEqual([0]);
    expect(formatMac(out[0]!.frame, 0)).toBe(MW);
  });

  it('Direct Connect: IPv4 from a network behind the link reaches the instance; ARP for the link address is answered with the link MAC', () => {
    const h = world();
    const out = h.run([{ port: DX_PORT, frame: udp('198.19.0.5', WEB, { srcMac: PEER, dstMac: '02:64:78:00:00:01' }) }]);
    expect(out.map((f) => f.port)).toEqual([0]);
    expect(h.dp.dxCounters[DxCounter.PacketsIn]).toBe(1);
    // a source outside the networks behind the link is refused
    expect(dropDelta(h, () => h.run([{ port: DX_PORT, frame: udp('198.18.5.5', WEB, { srcMac: PEER, dstMac: '02:64:78:00:00:01' }) }]))).toEqual({ [DropReason.SourceDestCheck]: 1 });
    expect(h.dp.dxUp(h.now)).toBe(false);
    const arp = h.run([{ port: DX_PORT, frame: arpRequest({ srcMac: PEER, spa: DX_PEER, tpa: DX_IP }) }]);
    expect(arp.map((f) => f.port)).toEqual([DX_PORT]);
    expect(arp[0]!.frame.readUInt16BE(20)).toBe(2);
    expect(formatMac(arp[0]!.frame, 22)).toBe('02:64:78:00:00:01');
    expect(h.dp.dxUp(h.now)).toBe(true); // the peer's ARP is its sign of life
    expect([h.dp.dxPort, h.dp.dxIp, h.dp.dxPeer, formatMac(h.dp.dxMac, 0)]).toEqual([DX_PORT, ip(DX_IP), ip(DX_PEER), '02:64:78:00:00:01']);
  });

  it('Direct Connect probe: an ARP request for the peer from the link address, on the link', () => {
    const h = world();
    const b = h.batch;
    b.reset();
    h.dp.emitDxProbe(b);
    expect([b.txCount, b.txPort[0]]).toEqual([1, DX_PORT]);
    const f = Buffer.from(b.arena.subarray(b.txOff[0]! + 10, b.txOff[0]! + b.txLen[0]!));
    expect([f.readUInt16BE(12), f.readUInt16BE(20), f.readUInt32BE(28), f.readUInt32BE(38)]).toEqual([0x0806, 1, ipToU32(DX_IP), ipToU32(DX_PEER)]);
    expect(formatMac(f, 6)).toBe('02:64:78:00:00:01');
  });

  it('a port without a vnet header: the Ethernet header starts at the slot', () => {
    const h = world();
    h.dp.attachInstance(0, 0, false);
    h.dp.attachInstance(1, 1, false);
    const b = h.batch, f = webToDb();
    b.reset();
    b.arena.set(f, 0);
    b.rxPort[0] = 0; b.rxOff[0] = 0; b.rxLen[0] = f.length; b.count = 1;
    h.dp.processBatch(b, h.now);
    expect([b.txCount, b.txPort[0], b.txLen[0]]).toEqual([1, 1, f.length]);
    expect(formatMac(b.arena, b.txOff[0]!)).toBe(MD);
    expect(h.counters.drops.every((x) => x === 0)).toBe(true);
  });
});

describe('the batch loop: drop events for observers', () => {
  it('nothing is written while nobody listens', () => {
    const h = world();
    h.run([{ port: 1, frame: udp('198.18.1.99', WEB, { srcMac: MD }) }]);
    expect(h.dp.events.size).toBe(0);
  });

  it('a drop no stage reported: its reason, stage and code, the sending ENI, addresses, ports and IP length', () => {
    const h = world();
    h.dp.events.active = true;
    const f = udp('198.18.1.99', WEB, { srcMac: MD, sport: 1234, dport: 53, payload: 21 });
    h.run([{ port: 1, frame: f }]);
    const R = DropReason.SourceDestCheck;
    expect(DROP_STAGE[R]).not.toBe(0);
    expect(events(h.dp.events)).toEqual([{ type: EventType.Drop, verdict: VERDICT_REJECT, stage: DROP_STAGE[R], code: DROP_CODE[R], owner: -1, rule: RULE_NONE, eni: 1,
      proto: 17, src: ip('198.18.1.99'), dst: ip(WEB), sport: 1234, dport: 53, reason: R, packets: 1, bytes: f.length - 14 }]);
  });

  it('a drop of a frame from the uplink names no ENI', () => {
    const h = world();
    h.dp.events.active = true;
    const f = udp('198.18.1.99', '203.0.113.10', { srcMac: PEER, dstMac: UPLINK_MAC }); // a VPC source from the internet
    expect(dropDelta(h, () => h.run([{ port: h.uplinkPort, frame: f }]))).toEqual({ [DropReason.IgwRejected]: 1 });
    expect(events(h.dp.events)).toMatchObject([{ type: EventType.Drop, reason: DropReason.IgwRejected, eni: -1, owner: -1, src: ip('198.18.1.99'), bytes: f.length - 14 }]);
  });

  it('ARP the router ignores is counted but not reported', () => {
    const h = world();
    h.dp.events.active = true;
    const d = dropDelta(h, () => h.run([{ port: 0, frame: arpRequest({ srcMac: MW, spa: WEB, tpa: '198.18.1.99' }) }, { port: OTHER_PORT, frame: arpRequest({ srcMac: PEER, spa: NET, tpa: WEB }) }]));
    expect(d).toEqual({ [DropReason.ArpIgnored]: 2 });
    expect(h.dp.events.size).toBe(0);
  });

  it('a drop a stage already reported is not reported twice; the next frame starts undecided, and one that never parses reports no addresses', () => {
    const h = world({ security: true });
    h.dp.events.active = true;
    const syn = ethIpv4Tcp({ srcMac: MW, dstMac: RP, src: WEB, dst: DB, sport: 40000, dport: 22, flags: TCP_SYN, seq: 1, ack: 0 });
    const d = dropDelta(h, () => h.run([{ port: 0, frame: syn }, { port: 1, frame: tenBytes() }]));
    expect(d).toEqual({ [DropReason.Sg]: 1, [DropReason.Malformed]: 1 });
    const got = events(h.dp.events);
    expect(got.map((e) => e.type)).toEqual([EventType.Flow, EventType.Drop]);
    expect(got[0]).toMatchObject({ verdict: VERDICT_REJECT, src: ip(WEB), dst: ip(DB), dport: 22 });
    expect(got[1]).toEqual({ type: EventType.Drop, verdict: VERDICT_REJECT, stage: DROP_STAGE[DropReason.Malformed], code: DROP_CODE[DropReason.Malformed], owner: -1,
      rule: RULE_NONE, eni: 1, proto: 0, src: 0, dst: 0, sport: 0, dport: 0, reason: DropReason.Malformed, packets: 1, bytes: 0 });
  });
});

describe('the batch loop: deferred ESP seals', () => {
  /** A stand-in engine whose flush() records its calls and fails the tags it is told to. */
  function sealer(fail: (onFail: (tag: number) => void) => void) {
    const calls: { buf: Uint8Array; onFail: ((tag: number) => void) | null }[] = [];
    const cr: TunnelCrypto = {
      lastTunnel: 0,
      encrypt() { return -1; },
      decrypt() { return -1; },
      innerMtu() { return 1400; },
      hasOutbound() { return true; },
      flush(buf, onFail) { calls.push({ buf, onFail }); if (onFail !== null) fail(onFail); },
    };
    return { cr, calls };
  }
  function withVpn(fail: (onFail: (tag: number) => void) => void = () => {}) {
    const h = world();
    const vpn = new VpnPath(h.cfg);
    const s = sealer(fail);
    vpn.crypto = s.cr;
    h.dp.vpn = vpn;
    return { h, ...s };
  }
  const two = () => [{ port: 0, frame: webToDb() }, { port: 1, frame: udp(DB, WEB, { srcMac: MD }) }];

  it('flush runs once per batch, even an empty one, over the batch arena', () => {
    const { h, calls } = withVpn();
    h.run(two());
    h.run([]);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.buf).toBe(h.batch.arena);
    expect(typeof calls[0]!.onFail).toBe('function');
  });

  it('a failed seal (first or last tx frame) leaves a zero length and counts esp_no_sa', () => {
    for (const tag of [0, 1]) {
      const { h } = withVpn((f) => f(tag));
      expect(dropDelta(h, () => h.run(two()))).toEqual({ [DropReason.EspNoSa]: 1 });
      expect(h.batch.txCount).toBe(2);
      expect([h.batch.txLen[0]! === 0, h.batch.txLen[1]! === 0]).toEqual([tag === 0, tag === 1]);
    }
  });

  it('a tag outside the batch\'s tx frames changes nothing', () => {
    const { h } = withVpn((f) => { f(-1); f(2); f(3); });
    const lens = two().map((f) => f.frame.length + 10);
    expect(dropDelta(h, () => h.run(two()))).toEqual({});
    expect([h.batch.txCount, h.batch.txLen[0], h.batch.txLen[1], h.batch.txLen[2]]).toEqual([2, ...lens, 0]);
  });

  it('a failure reported after the flush changes nothing', () => {
    const { h, calls } = withVpn();
    h.run(two());
    const lens = [h.batch.txLen[0], h.batch.txLen[1]];
    const before = h.drops(DropReason.EspNoSa);
    expect(() => { calls[0]!.onFail!(0); calls[0]!.onFail!(1); }).not.toThrow();
    expect(h.drops(DropReason.EspNoSa)).toBe(before);
    expect([h.batch.txLen[0], h.batch.txLen[1]]).toEqual(lens);
  });

  it('an engine without flush, or a VPN without an engine: the batch is sent as it is', () => {
    const { h, cr } = withVpn();
    delete cr.flush;
    expect(h.run(two())).toHaveLength(2);
    h.dp.vpn!.crypto = null;
    expect(h.run(two())).toHaveLength(2);
  });
});

describe('uplink ARP: what vpcd answers for', () => {
  it('an instance\'s public address', () => expectAnswer(world({ vpn: true }), '203.0.113.10'));
  it('a NAT gateway\'s Elastic IP', () => expectAnswer(world({ vpn: true }), '203.0.113.5'));
  it('a WAN address of the VPN (and only with the VPN)', () => {
    const h = world();
    expect(h.dp.isWanAddr(ip(WAN))).toBe(false);
    expectIgnored(h, WAN);
    h.dp.vpn = new VpnPath(h.cfg);
    expect([h.dp.isWanAddr(ip(WAN)), h.dp.isWanAddr(ip(PEER_IP))]).toEqual([true, false]);
    expectAnswer(h, WAN);
  });

  it('the uplink\'s own address once it has one, and then still nothing else', () => {
    const h = world({ vpn: true });
    expect(h.dp.uplinkIp).toBe(0);
    expectIgnored(h, '203.0.113.2');
    h.dp.uplinkIp = ip('203.0.113.2');
    expect(h.dp.uplinkIp).toBe(ip('203.0.113.2'));
    expectAnswer(h, '203.0.113.2');
    expectIgnored(h, '203.0.113.77');
    expectIgnored(h, '198.51.100.9');
  });

  it('not for other addresses, nor for 0.0.0.0 while the uplink has no address', () => {
    const h = world({ vpn: true });
    expectIgnored(h, '203.0.113.77');
    expectIgnored(h, '203.0.113.11');
    expectIgnored(h, '198.18.1.10'); // a private address is not on the uplink
    expectIgnored(h, '0.0.0.0');
  });

  it('a request whose ARP body is cut short is malformed', () => {
    const h = world({ vpn: true });
    const full = arpRequest({ srcMac: PEER, spa: NET, tpa: '203.0.113.10' });
    const cut = ethFrame({ srcMac: PEER, dstMac: 'ff:ff:ff:ff:ff:ff', etherType: 0x0806, payload: full.subarray(14, 14 + 27) });
    let out: unknown[] = [];
    expect(dropDelta(h, () => { out = h.run([{ port: h.uplinkPort, frame: cut }]); })).toEqual({ [DropReason.Malformed]: 1 });
    expect(out).toHaveLength(0);
  });
});

describe('uplink ARP: the sender', () => {
  it('a request from one of our WAN addresses is answered but its sender is not learned', () => {
    const h = world({ vpn: true });
    h.dp.neighbors.shouldRequest(ip(WAN), h.now); // as if we had asked for it: a learn would succeed
    expectAnswer(h, '203.0.113.10', WAN);
    expect(h.dp.neighbors.lookup(ip(WAN))).toBe(-1);
  });

  it('a request from another address we asked for teaches its MAC', () => {
    const h = world({ vpn: true });
    h.dp.neighbors.shouldRequest(ip('198.51.100.20'), h.now);
    expectAnswer(h, '203.0.113.10', '198.51.100.20');
    const slot = h.dp.neighbors.lookup(ip('198.51.100.20'));
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(formatMac(h.dp.neighbors.macs, slot * 6)).toBe(PEER);
  });

  it('the WAN address sending an ARP for something not ours: not learned either', () => {
    const h = world({ vpn: true });
    h.dp.neighbors.shouldRequest(ip(WAN), h.now);
    expect(ask(h, '203.0.113.77', WAN).drops).toEqual({ [DropReason.ArpIgnored]: 1 });
    expect(h.dp.neighbors.lookup(ip(WAN))).toBe(-1);
  });
});

describe('setSnapshot', () => {
  const fwd = (h: Harness) => h.run([{ port: 0, frame: webToDb() }]);

  it('the same topology: ports stay attached; NAT gateways and VPN are set every time; no policy change', () => {
    const h = world();
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
    const h = world({ vpn: true });
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
    const h = world({ security: true });
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
    const h = world();
    const p2 = compileSnapshot(h.cfg, 2);
    expect(h.dp.setSnapshot({ topology: h.topo, policy: p2, nats: [], vpn: null })).toBeNull();
    expect(h.dp.security).toBeNull();
  });

  it('the security stage can be removed and set again; it writes to the data plane\'s events', () => {
    const h = world({ security: true });
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
    const h = world({ vpn: true });
    expect(h.dp.uplinkPort).toBe(h.uplinkPort);
    expect(formatMac(h.dp.uplinkMac, 0)).toBe(UPLINK_MAC);
    expect(h.dp.neighbors.lookup(ip(NET))).toBeGreaterThanOrEqual(0);
    const out = h.run([{ port: 0, frame: ethIpv4Udp({ srcMac: MW, dstMac: RP, src: '198.18.1.10', dst: NET, sport: 5000, dport: 53 }) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    expect([h.dp.igwCounters[IgwCounter.PacketsOut], h.dp.igwCounters[IgwCounter.BytesOut]]).toEqual([1, out[0]!.frame.length - 14]);
  });

  it('emitUdp sends a datagram from a WAN address on the uplink to the resolved neighbour', () => {
    const h = world({ vpn: true });
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
    const h = world({ vpn: true });
    const ike = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK_MAC, src: PEER_IP, dst: WAN, sport: 500, dport: 500, payload: Buffer.alloc(40, 3) });
    expect(dropDelta(h, () => h.run([{ port: h.uplinkPort, frame: ike }]))).toEqual({});
    expect(h.dp.punts).toHaveLength(1);
    expect(h.dp.punts[0]).toMatchObject({ local: ip(WAN), localPort: 500, from: ip(PEER_IP), fromPort: 500 });
    expect(h.dp.punts[0]!.bytes).toEqual(Buffer.alloc(40, 3));
  });
});
