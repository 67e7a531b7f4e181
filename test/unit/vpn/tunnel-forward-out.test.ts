/**
 * Into the tunnel, the two paths of TunnelForward.encryptOut() that change
 * what is sent: a GSO super-frame (virtio-net gso_type TCPV4) is cut into
 * segments that each fit the tunnel (payload per segment: gso_size, at least
 * MIN_SEGMENT_PAYLOAD, at most the inner MTU less the frame's own IP and TCP
 * headers), each sealed on its own, an MSS option clamped in every one; and a
 * packet over the tunnel's inner MTU is too_big, answered with ICMP
 * fragmentation-needed from the subnet router when DF is set and the sender
 * is an instance with a port (RFC 1191). Whole data plane in memory, a
 * stand-in ESP engine that records what it seals.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { TCP_ACK, TCP_SYN, ethIpv4Tcp, ethIpv4Udp, ipv4Of } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { Packet } from '../../../src/pipeline/packet.js';
import { standInEsp } from '../../helpers/stand-in-esp.js';
import { VpnPath } from '../../../src/vpn/vpn-path.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

const VPN = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  priv: { cidr: 198.18.2.0/24, routeTable: private }
routeTables:
  private: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [open] }
  app2: { subnet: priv, ip: 198.18.2.11, securityGroups: [open] }
customerGateway: { name: cgw, asn: 65000, wan: { ip: 198.51.100.2 } }
vpnConnections:
  to-site:
    role: cgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]
`;
const APP = '198.18.2.10', FAR = '198.19.1.1';

/** The data plane with tunnel 0 up; `sealed` holds each inner packet the engine was given; `refuse`: the call numbers (1-based) it refuses. */
function setup(mtu: number, refuse: number[] = []) {
  const h = new Harness(VPN, { security: true, uplink: true, neighbors: ['198.51.100.1'], slotSize: 70_000 });
  const vpn = new VpnPath(h.cfg);
  const cr = standInEsp(mtu);
  cr.refuse = refuse;
  vpn.crypto = cr;
  vpn.tunUp[0] = 1;
  h.dp.vpn = vpn;
  return { h, sealed: cr.inners };
}

/** A virtio-net header: gso_type, gso_size. */
function vnet(type: number, size: number): Buffer {
  const v = Buffer.alloc(10);
  v[1] = type;
  v.writeUInt16LE(size, 4);
  return v;
}
const GSO_NONE = 0, GSO_TCPV4 = 1;

const tcp = (payload: number, o: { flags?: number; mss?: number; options?: number[] } = {}) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: FAR, sport: 40000, dport: 22, flags: o.flags ?? TCP_ACK, seq: 1000, ack: 1,
    ...(o.mss !== undefined ? { mss: o.mss } : {}), ...(o.options !== undefined ? { options: o.options } : {}), payload: Buffer.alloc(payload, 0x61) });
const udp = (payload: number, df = false) =>
  ethIpv4Udp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: FAR, sport: 4000, dport: 53, df, payload: Buffer.alloc(payload, 0x62) });

describe('a GSO super-frame into the tunnel', () => {
  it('is cut into segments of min(gso_size, inner MTU - its 40 header bytes), each sealed and sent; no drop', () => {
    const { h, sealed } = setup(1438);
    const out = h.run([{ port: h.port('app'), frame: tcp(4000), vnet: vnet(GSO_TCPV4, 1448) }]);
    // 1438 - 40 = 1398 bytes of payload per segment: 1398 + 1398 + 1204.
    expect(sealed.map((s) => s.length)).toEqual([1438, 1438, 1244]);
    expect(sealed.map((s) => s.readUInt32BE(24))).toEqual([1000, 1000 + 1398, 1000 + 2 * 1398]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort, h.uplinkPort, h.uplinkPort]);
    expect([...h.counters.drops].every((n) => n === 0)).toBe(true);
  });

  it('counts its TCP options among the headers: 12 bytes of options leave 1386 bytes per segment', () => {
    const { h, sealed } = setup(1438);
    h.run([{ port: h.port('app'), frame: tcp(3000, { options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] }), vnet: vnet(GSO_TCPV4, 1448) }]);
    expect(sealed.map((s) => s.length)).toEqual([1438, 1438, 52 + 3000 - 2 * 1386]);
  });

  it('a smaller gso_size wins over the room the tunnel leaves; one below 536 is raised to 536', () => {
    const a = setup(1438);
    a.h.run([{ port: a.h.port('app'), frame: tcp(2000), vnet: vnet(GSO_TCPV4, 1000) }]);
    expect(a.sealed.map((s) => s.length)).toEqual([1040, 1040]);
    const b = setup(1438);
    b.h.run([{ port: b.h.port('app'), frame: tcp(1200), vnet: vnet(GSO_TCPV4, 100) }]);
    expect(b.sealed.map((s) => s.length)).toEqual([576, 576, 40 + 128]);
  });

  it("clamps the MSS option of a SYN's segments to the tunnel (inner MTU - 40)", () => {
    const { h, sealed } = setup(1200);
    h.run([{ port: h.port('app'), frame: tcp(1500, { flags: TCP_SYN, mss: 1460 }), vnet: vnet(GSO_TCPV4, 1448) }]);
    expect(sealed.length).toBe(2);
    for (const s of sealed) expect([s[20 + 20], s[20 + 21], s.readUInt16BE(20 + 22)]).toEqual([2, 4, 1160]);
  });

  it('one segment the engine refuses makes the frame tx_error, counted once; the others are sent', () => {
    const { h, sealed } = setup(1438, [2]);
    const out = h.run([{ port: h.port('app'), frame: tcp(4000), vnet: vnet(GSO_TCPV4, 1448) }]);
    expect(sealed).toHaveLength(3);
    expect(out).toHaveLength(2);
    expect(h.drops(DropReason.TxError)).toBe(1);
    expect(h.drops(DropReason.EspNoSa)).toBe(0);
  });

  it('a TCP header that claims more bytes than the frame holds is too_big: nothing sealed', () => {
    const { h, sealed } = setup(1438);
    const f = tcp(10);
    f[14 + 20 + 12] = 0xf0; // data offset 15: 60 bytes of TCP header in a 30-byte segment
    const out = h.run([{ port: h.port('app'), frame: f, vnet: vnet(GSO_TCPV4, 1448) }]);
    expect([out.length, sealed.length, h.drops(DropReason.TooBig)]).toEqual([0, 0, 1]);
  });

  it('a tunnel whose inner MTU leaves no room for the headers is too_big', () => {
    const { h, sealed } = setup(40);
    h.run([{ port: h.port('app'), frame: tcp(100), vnet: vnet(GSO_TCPV4, 1448) }]);
    expect([sealed.length, h.drops(DropReason.TooBig)]).toEqual([0, 1]);
  });
});

describe('a frame with a virtio header that is no TCP super-frame is sealed whole', () => {
  it('TCP without GSO (gso_type none): one ESP packet, even when longer than 536 bytes of payload', () => {
    const { h, sealed } = setup(1438);
    h.run([{ port: h.port('app'), frame: tcp(1200), vnet: vnet(GSO_NONE, 0) }]);
    expect(sealed.map((s) => s.length)).toEqual([1240]);
  });

  it('UDP whose header claims TCP segmentation offload: one ESP packet, not cut as TCP', () => {
    const { h, sealed } = setup(1438);
    h.run([{ port: h.port('app'), frame: udp(1200), vnet: vnet(GSO_TCPV4, 600) }]);
    expect(sealed.map((s) => s.length)).toEqual([1228]);
    expect(sealed[0]![9]).toBe(17);
  });
});

describe('a packet over the tunnel MTU', () => {
  it('with DF: too_big, and fragmentation-needed from the subnet router to the sender, exact to the byte', () => {
    const { h, sealed } = setup(600);
    const big = udp(1000, true);
    const out = h.run([{ port: h.port('app'), frame: big }]);
    expect([sealed.length, h.drops(DropReason.TooBig)]).toEqual([0, 1]);
    expect(out.map((f) => f.port)).toEqual([h.port('app')]);
    const fr = out[0]!.frame;
    // Ethernet (14) + IPv4 (20) + ICMP (8) + the quote: the IP header and 8 bytes (28).
    expect(fr.length).toBe(14 + 20 + 8 + 28);
    expect(fr.subarray(0, 6)).toEqual(Buffer.from(instanceMac('t', 'app').split(':').map((x) => parseInt(x, 16))));
    expect(fr.subarray(6, 12)).toEqual(Buffer.from(routerMac('t', 'priv').split(':').map((x) => parseInt(x, 16))));
    const ip = fr.subarray(14);
    expect([ip.readUInt16BE(2), ip[9], ip.readUInt32BE(12), ip.readUInt32BE(16)]).toEqual([56, 1, 0xc6120201, 0xc612020a]);
    expect([ip[20], ip[21], ip.readUInt16BE(26)]).toEqual([3, 4, 600]);
    expect(ip.subarray(28, 56)).toEqual(ipv4Of(big).subarray(0, 28));
  });

  it('without DF: too_big, and no ICMP', () => {
    const { h, sealed } = setup(600);
    const out = h.run([{ port: h.port('app'), frame: udp(1000, false) }]);
    expect([out.length, sealed.length, h.drops(DropReason.TooBig)]).toEqual([0, 0, 1]);
  });

  /** encryptOut() called as the VGW leg does, for a DF packet of `srcInst`, with the batch as `prepare` leaves it. */
  function direct(srcInst: number, prepare: (h: Harness) => void) {
    const { h } = setup(600);
    const frame = udp(1000, true);
    const buf = Buffer.concat([frame, Buffer.alloc(64)]);
    const p = new Packet();
    expect(p.begin(buf, h.port('app'), 0, frame.length, false)).toBe(0x0800);
    expect(p.parseIpv4(frame.length)).toBe(DropReason.None);
    h.batch.reset();
    prepare(h);
    const r = h.dp.legs.tunnel.encryptOut(h.batch, p, h.topo, 0, srcInst, h.now);
    return { r, txCount: h.batch.txCount };
  }

  it('from an instance with no port: too_big, no ICMP queued anywhere', () => {
    const app2 = 1;
    expect(direct(app2, (h) => h.dp.detachPort(h.port('app2')))).toEqual({ r: DropReason.TooBig, txCount: 0 });
    expect(direct(app2, () => {})).toEqual({ r: DropReason.TooBig, txCount: 1 });
  });

  it('with every scratch slot of the batch taken: too_big, no ICMP', () => {
    expect(direct(0, (h) => { while (h.batch.takeScratch() >= 0); })).toEqual({ r: DropReason.TooBig, txCount: 0 });
  });
});
