/**
 * The internet legs of the wiring (src/pipeline/legs.ts toInternet,
 * fromUplink, internetToVpc and the observer events of the IGW's 1:1 NAT):
 * no uplink, no public address, private/shared destinations, the source
 * rewritten to the public address (bytes and checksums), an appliance's
 * forwarded packet leaving as the original sender's public address, hairpin
 * to another public address of the VPC, the sender's group first; on the
 * uplink: only frames for the uplink MAC, no internet gateway, refused
 * sources, unknown public addresses, the translation in, the receiver's
 * group, a detached receiver; events for new flows only, none without a
 * subscriber. In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, ipv4Of, refChecksum, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { PortRole } from '../../../src/pipeline/dataplane.js';
import { IgwCounter } from '../../../src/nat/igw.js';
import { EventType, F, N, RECORD_NUMS, RECORD_WORDS } from '../../../src/observe/event-ring.js';
import { Code, Stage } from '../../../src/observe/event-vocabulary.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ipToU32 } from '../../../src/wire/addr.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';

const MAC = (i: string) => instanceMac('t', i);
const mac = (t: string) => Buffer.from(t.split(':').map((x) => parseInt(x, 16)));
const RPUB = routerMac('t', 'pub');
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';
const WEB = '198.18.1.10', WEB2 = '198.18.1.11', NOPUB = '198.18.1.12', FW = '198.18.1.20';
const PUB = '203.0.113.10', PUB2 = '203.0.113.11', NET = '198.51.100.7';
const IP: Record<string, string> = { web: WEB, web2: WEB2, nopub: NOPUB, fw: FW };

const VPC = (webGroup = 'open') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
internetGateway: { name: igw }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  https: { ingress: [ { protocol: tcp, ports: 443, cidr: 198.51.100.0/24 } ] }
  shut: { ingress: [], egress: [] }
instances:
  web: { subnet: pub, ip: ${WEB}, publicIp: ${PUB}, securityGroups: [${webGroup}] }
  web2: { subnet: pub, ip: ${WEB2}, publicIp: ${PUB2}, securityGroups: [open] }
  nopub: { subnet: pub, ip: ${NOPUB}, securityGroups: [open] }
  fw: { subnet: pub, ip: ${FW}, publicIp: 203.0.113.20, securityGroups: [open], sourceDestCheck: false }
`;

const net = (yaml = VPC(), security = true) => new Harness(yaml, { security, uplink: true, neighbors: [NET] });
/** A datagram from instance `from` (its own address unless `src`). */
const out = (from: string, dst: string, o: { src?: string; sport?: number; bad?: boolean } = {}) =>
  ethIpv4Udp({ srcMac: MAC(from), dstMac: RPUB, src: o.src ?? IP[from]!, dst, sport: o.sport ?? 5000, dport: 53, payload: Buffer.alloc(20, 3), badChecksum: o.bad ?? false });
/** A datagram from the internet on the uplink. */
const inbound = (src: string, dst: string, o: { dstMac?: string; bad?: boolean } = {}) =>
  ethIpv4Udp({ srcMac: PEER, dstMac: o.dstMac ?? UPLINK, src, dst, sport: 53, dport: 5000, payload: Buffer.alloc(20, 4), badChecksum: o.bad ?? false });
const dropsTotal = (h: Harness) => h.counters.drops.reduce((s, v) => s + v, 0);

/** The IPv4 header checksum and the L4 checksum over the pseudo-header both verify. */
function checksumsOk(ip: Buffer): boolean {
  const ihl = (ip[0]! & 15) * 4;
  const seg = ip.subarray(ihl, ip.readUInt16BE(2));
  const ph = Buffer.alloc(12);
  ip.copy(ph, 0, 12, 20);
  ph[9] = ip[9]!;
  ph.writeUInt16BE(seg.length, 10);
  return refChecksum(ip.subarray(0, ihl)) === 0 && refChecksum(Buffer.concat([ph, seg])) === 0;
}

interface NatEv { stage: number; code: number; owner: number; eni: number; proto: number; src: number; dst: number; sport: number; dport: number;
  xsrc: number; xdst: number; xsport: number; xdport: number; packets: number; bytes: number }
/** Drains the event ring; returns its NAT events. */
function natEvents(h: Harness): NatEv[] {
  const evs: NatEv[] = [];
  h.dp.events.drain((ring, s) => {
    const w = ring.words, o = s * RECORD_WORDS, n = s * RECORD_NUMS;
    if (w[o + F.Type] !== EventType.Nat) return;
    evs.push({ stage: w[o + F.Stage]!, code: w[o + F.Code]!, owner: w[o + F.Owner]!, eni: w[o + F.Eni]!, proto: w[o + F.Proto]!,
      src: w[o + F.Src]! >>> 0, dst: w[o + F.Dst]! >>> 0, sport: w[o + F.Sport]!, dport: w[o + F.Dport]!,
      xsrc: w[o + F.Xsrc]! >>> 0, xdst: w[o + F.Xdst]! >>> 0, xsport: w[o + F.Xsport]!, xdport: w[o + F.Xdport]!,
      packets: ring.nums[n + N.Packets]!, bytes: ring.nums[n + N.Bytes]! });
  });
  return evs;
}

describe('instance -> internet gateway', () => {
  it('the source becomes the public address (bytes and checksums), out of the uplink to the neighbour, counted', () => {
    for (const security of [true, false]) {
      const h = net(VPC(), security);
      const f = out('web', NET);
      const tx = h.run([{ port: h.port('web'), frame: f }]);
      expect(tx.map((t) => t.port)).toEqual([h.uplinkPort]);
      expect(tx[0]!.frame.subarray(0, 12)).toEqual(Buffer.concat([mac(PEER), mac(UPLINK)]));
      const ip = ipv4Of(tx[0]!.frame);
      expect([ip.readUInt32BE(12), ip.readUInt32BE(16), ip.readUInt16BE(20), ip.readUInt16BE(22)]).toEqual([ipToU32(PUB), ipToU32(NET), 5000, 53]);
      expect(checksumsOk(ip)).toBe(true);
      expect(ip.subarray(28)).toEqual(ipv4Of(f).subarray(28));
      const c = h.dp.legs.igw.counters;
      expect([c[IgwCounter.PacketsOut], c[IgwCounter.BytesOut]]).toEqual([1, 48]);
    }
  });

  it('a TCP segment: source and checksum rewritten, ports and sequence untouched', () => {
    const h = net();
    const seg = ethIpv4Tcp({ srcMac: MAC('web'), dstMac: RPUB, src: WEB, dst: NET, sport: 40000, dport: 443, flags: TCP_SYN, seq: 77, ack: 0 });
    const ip = ipv4Of(h.run([{ port: h.port('web'), frame: seg }])[0]!.frame);
    expect([ip.readUInt32BE(12), ip.readUInt16BE(20), ip.readUInt16BE(22), ip.readUInt32BE(24)]).toEqual([ipToU32(PUB), 40000, 443, 77]);
    expect(checksumsOk(ip)).toBe(true);
  });

  it('no uplink attached: no_route (after the sender\'s group: sg when it may not send)', () => {
    const h = new Harness(VPC(), { security: true });
    expect(h.run([{ port: h.port('web'), frame: out('web', NET) }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
    const shut = new Harness(VPC('shut'), { security: true });
    expect(shut.run([{ port: shut.port('web'), frame: out('web', NET) }])).toHaveLength(0);
    expect([shut.drops(DropReason.Sg), shut.drops(DropReason.NoRoute)]).toEqual([1, 0]);
  });

  it('an uplink on port id 0 is an uplink', () => {
    const h = net();
    h.dp.attachInstance(7, h.port('web'), true);
    h.dp.attachPort(0, PortRole.Uplink, 0, true);
    h.dp.uplinkPort = 0;
    const tx = h.run([{ port: 7, frame: out('web', NET) }]);
    expect(tx.map((t) => t.port)).toEqual([0]);
    expect(ipv4Of(tx[0]!.frame).readUInt32BE(12)).toBe(ipToU32(PUB));
    expect(dropsTotal(h)).toBe(0);
  });

  it('an instance without a public address: igw_no_public_ip, nothing translated', () => {
    const h = net();
    expect(h.run([{ port: h.port('nopub'), frame: out('nopub', NET) }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwNoPublicIp)).toBe(1);
    expect(h.dp.legs.igw.counters[IgwCounter.PacketsOut]).toBe(0);
  });

  it.each(['10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', '100.64.0.1', '100.127.255.254'])(
    'to the private or shared address %s: igw_rejected', (dst) => {
      const h = net();
      expect(h.run([{ port: h.port('web'), frame: out('web', dst) }])).toHaveLength(0);
      expect(h.drops(DropReason.IgwRejected)).toBe(1);
      expect(dropsTotal(h)).toBe(1);
    });

  it('an appliance forwarding for an instance: the packet leaves as that instance\'s public address, not the appliance\'s', () => {
    const h = net();
    const tx = h.run([{ port: h.port('fw'), frame: out('fw', NET, { src: WEB }) }]);
    expect(tx.map((t) => t.port)).toEqual([h.uplinkPort]);
    const ip = ipv4Of(tx[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(PUB));
    expect(checksumsOk(ip)).toBe(true);
  });

  it.each([
    ['an instance without a public address', NOPUB],
    ['an address outside the VPC', '198.51.100.50'],
    ['the subnet router', '198.18.1.1'],
    ['a reserved address', '198.18.1.3'],
  ])('an appliance forwarding from %s: igw_no_public_ip', (_what, src) => {
    const h = net();
    expect(h.run([{ port: h.port('fw'), frame: out('fw', NET, { src }) }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwNoPublicIp)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('hairpin: to another public address of the VPC it comes straight back in to that instance', () => {
    const h = net();
    const tx = h.run([{ port: h.port('web'), frame: out('web', PUB2) }]);
    expect(tx.map((t) => t.port)).toEqual([h.port('web2')]);
    expect(tx[0]!.frame.subarray(0, 12)).toEqual(Buffer.concat([mac(MAC('web2')), mac(RPUB)]));
    const ip = ipv4Of(tx[0]!.frame);
    expect([ip.readUInt32BE(12), ip.readUInt32BE(16)]).toEqual([ipToU32(PUB), ipToU32(WEB2)]);
    expect(checksumsOk(ip)).toBe(true);
    const c = h.dp.legs.igw.counters;
    expect([c[IgwCounter.PacketsOut], c[IgwCounter.PacketsIn]]).toEqual([1, 1]);
  });

  it('the sender\'s group refuses: sg, nothing translated or sent', () => {
    const h = net(VPC('shut'));
    expect(h.run([{ port: h.port('web'), frame: out('web', NET) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(h.dp.legs.igw.counters[IgwCounter.PacketsOut]).toBe(0);
  });

  it('an untracked flow (all-open group) leaves no connection entry: the IGW leg is not forced to track', () => {
    const h = net();
    expect(h.run([{ port: h.port('web'), frame: out('web', NET) }])).toHaveLength(1);
    expect(h.ct!.entries).toBe(0);
  });
});

describe('IGW 1:1 NAT events for observers', () => {
  it('outbound: a new flow\'s event has stage igw, no code or owner, the sender\'s ENI, both address pairs; none for its next packet', () => {
    const h = net(VPC('https'));
    h.dp.events.active = true;
    const syn = ethIpv4Tcp({ srcMac: MAC('web'), dstMac: RPUB, src: WEB, dst: NET, sport: 40000, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: h.port('web'), frame: syn }])).toHaveLength(1);
    expect(natEvents(h)).toEqual([{ stage: Stage.Igw, code: Code.None, owner: -1, eni: h.port('web'), proto: 6,
      src: ipToU32(WEB), dst: ipToU32(NET), sport: 40000, dport: 443, xsrc: ipToU32(PUB), xdst: ipToU32(NET), xsport: 40000, xdport: 443, packets: 1, bytes: 40 }]);
    const ack = ethIpv4Tcp({ srcMac: MAC('web'), dstMac: RPUB, src: WEB, dst: NET, sport: 40000, dport: 443, flags: TCP_ACK, seq: 2, ack: 1 });
    expect(h.run([{ port: h.port('web'), frame: ack }])).toHaveLength(1);
    expect(natEvents(h)).toEqual([]);
  });

  it('inbound: a new flow\'s event has stage igw, the receiver\'s ENI, the public destination and the private one; none for its next packet', () => {
    const h = net(VPC('https'));
    h.dp.events.active = true;
    const syn = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 50000, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: h.uplinkPort, frame: syn }]).map((t) => t.port)).toEqual([h.port('web')]);
    expect(natEvents(h)).toEqual([{ stage: Stage.Igw, code: Code.None, owner: -1, eni: h.port('web'), proto: 6,
      src: ipToU32(NET), dst: ipToU32(PUB), sport: 50000, dport: 443, xsrc: ipToU32(NET), xdst: ipToU32(WEB), xsport: 50000, xdport: 443, packets: 1, bytes: 40 }]);
    const ack = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 50000, dport: 443, flags: TCP_ACK, seq: 2, ack: 1 });
    expect(h.run([{ port: h.uplinkPort, frame: ack }])).toHaveLength(1);
    expect(natEvents(h)).toEqual([]);
  });

  it('without a subscriber nothing is written, either way', () => {
    const h = net();
    expect(h.run([{ port: h.port('web'), frame: out('web', NET) }, { port: h.uplinkPort, frame: inbound(NET, PUB) }])).toHaveLength(2);
    expect(h.dp.events.size).toBe(0);
  });
});

describe('internet -> uplink -> instance', () => {
  it('translated to the private address and delivered: bytes, checksums, L2 towards the instance, counted', () => {
    for (const security of [true, false]) {
      const h = net(VPC(), security);
      const f = inbound(NET, PUB);
      const tx = h.run([{ port: h.uplinkPort, frame: f }]);
      expect(tx.map((t) => t.port)).toEqual([h.port('web')]);
      expect(tx[0]!.frame.length).toBe(f.length);
      expect(tx[0]!.frame.subarray(0, 12)).toEqual(Buffer.concat([mac(MAC('web')), mac(RPUB)]));
      const ip = ipv4Of(tx[0]!.frame);
      expect([ip.readUInt32BE(12), ip.readUInt32BE(16)]).toEqual([ipToU32(NET), ipToU32(WEB)]);
      expect(checksumsOk(ip)).toBe(true);
      expect(h.dp.legs.igw.counters[IgwCounter.PacketsIn]).toBe(1);
    }
  });

  it('a frame not for the uplink MAC is not_for_router: the last byte and the first byte count', () => {
    const h = net();
    expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB, { dstMac: '02:76:75:70:6c:6c' }) }])).toHaveLength(0);
    expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB, { dstMac: '03:76:75:70:6c:6b' }) }])).toHaveLength(0);
    expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB, { dstMac: '02:76:75:70:6d:6b' }) }])).toHaveLength(0);
    expect(h.drops(DropReason.NotForRouter)).toBe(3);
    expect(dropsTotal(h)).toBe(3);
    expect(h.dp.legs.igw.counters[IgwCounter.PacketsIn]).toBe(0);
  });

  it('a malformed frame after a delivered one in the same batch: malformed, nothing more delivered', () => {
    const h = net();
    const tx = h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB) }, { port: h.uplinkPort, frame: inbound(NET, PUB, { bad: true }) }]);
    expect(tx.map((t) => t.port)).toEqual([h.port('web')]);
    expect(h.drops(DropReason.Malformed)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('without an internet gateway nothing enters from the uplink: igw_no_public_ip, whatever the source', () => {
    const yaml = VPC().replace('internetGateway: { name: igw }\n', '').replace(/publicIp: [0-9.]+, /g, '')
      .replace('{ destination: 0.0.0.0/0, target: igw }', '');
    const h = net(yaml);
    h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB) }, { port: h.uplinkPort, frame: inbound('10.1.2.3', PUB) }]);
    expect([h.drops(DropReason.IgwNoPublicIp), h.drops(DropReason.IgwRejected)]).toEqual([2, 0]);
  });

  it.each([
    ['private', '10.9.8.7'], ['private', '172.20.1.1'], ['private', '192.168.7.7'], ['shared', '100.100.1.1'],
    ['link-local', '169.254.7.7'], ['the VPC\'s own', '198.18.1.99'],
  ])('a %s source (%s) is refused: igw_rejected', (_what, src) => {
    const h = net();
    expect(h.run([{ port: h.uplinkPort, frame: inbound(src, PUB) }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwRejected)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('to a public address nobody holds: igw_no_public_ip', () => {
    const h = net();
    expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, '203.0.113.99') }])).toHaveLength(0);
    expect(h.drops(DropReason.IgwNoPublicIp)).toBe(1);
    expect(dropsTotal(h)).toBe(1);
  });

  it('the receiver\'s group refuses: sg, nothing delivered; what it admits is delivered', () => {
    const h = net(VPC('https'));
    expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    const syn = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 50000, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: h.uplinkPort, frame: syn }]).map((t) => t.port)).toEqual([h.port('web')]);
  });

  it('a receiver whose port is detached: no_destination, with and without a security stage', () => {
    for (const security of [true, false]) {
      const h = net(VPC(), security);
      h.dp.detachPort(h.port('web'));
      expect(h.run([{ port: h.uplinkPort, frame: inbound(NET, PUB) }])).toHaveLength(0);
      expect(h.drops(DropReason.NoDestination)).toBe(1);
      expect(dropsTotal(h)).toBe(1);
    }
  });
});

describe('the uplink with a VPN: only unfragmented UDP to a WAN address is the tunnel\'s', () => {
  const WAN = '198.51.100.2';
  const withVpn = () => {
    const h = net(`${VPC()}customerGateway: { name: cgw, asn: 65000, wan: { ip: ${WAN} } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`);
    h.dp.vpn = new VpnPath(h.cfg);
    return h;
  };
  const ike = (o: { proto?: 'udp' | 'tcp'; fragOffset?: number } = {}) => o.proto === 'tcp'
    ? ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: WAN, sport: 500, dport: 500, flags: TCP_SYN, seq: 1, ack: 0 })
    : ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: WAN, sport: 500, dport: 500, payload: Buffer.alloc(40, 9), fragOffset: o.fragOffset ?? 0 });

  it('UDP 500 to the WAN address is punted to IKE', () => {
    const h = withVpn();
    expect(h.run([{ port: h.uplinkPort, frame: ike() }])).toHaveLength(0);
    expect(h.dp.punts).toHaveLength(1);
    expect(dropsTotal(h)).toBe(0);
  });

  it('TCP to port 500 of the WAN address, or a later UDP fragment, is the internet gateway\'s: igw_no_public_ip', () => {
    const h = withVpn();
    h.run([{ port: h.uplinkPort, frame: ike({ proto: 'tcp' }) }, { port: h.uplinkPort, frame: ike({ fragOffset: 64 }) }]);
    expect(h.dp.punts).toHaveLength(0);
    expect(h.drops(DropReason.IgwNoPublicIp)).toBe(2);
    expect(dropsTotal(h)).toBe(2);
  });

  it('without a VPN, UDP 500 to an instance\'s public address is ordinary inbound traffic', () => {
    const h = net();
    const f = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 500, dport: 500, payload: Buffer.alloc(40, 9) });
    expect(h.run([{ port: h.uplinkPort, frame: f }]).map((t) => t.port)).toEqual([h.port('web')]);
    expect(h.dp.punts).toHaveLength(0);
  });
});
