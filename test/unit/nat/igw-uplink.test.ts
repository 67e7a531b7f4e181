/**
 * The internet gateway's uplink (aws-semantics §7 and the uplink it stands
 * on): ARP requests for the public addresses answered in place, which
 * senders it learns (only replies, or requests for its own addresses; never
 * 0.0.0.0 nor one of its own public addresses), malformed ARP, the frames
 * waiting for one next hop released together (and only those), and the UDP
 * datagrams it originates (IKE): the frame, checksums, IP ids, and the sizes
 * it refuses. In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpReply, arpRequest, ethIpv4Icmp, ethIpv4Udp, ipv4Of, refChecksum } from '../../helpers/frames.js';
import { DropReason, PacketBatch, VNET_HDR_LEN } from '../../../src/pipeline/batch.js';
import { InternetGateway } from '../../../src/nat/igw.js';
import { Ports } from '../../../src/pipeline/ports.js';
import { Counters } from '../../../src/pipeline/counters.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { formatMac, ipToU32 } from '../../../src/wire/addr.js';
import { NEIGHBOR_PROBE_MS, NEIGHBOR_REACHABLE_MS } from '../../../src/pipeline/neighbors.js';

const VPC = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
internetGateway: { name: igw }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
`;
const WEB = '198.18.1.10', PUB = '203.0.113.10';
const UPLINK = '02:76:75:70:6c:6b', PEER = '02:00:00:00:00:99', PEER2 = '02:00:00:00:00:98', OTHER = '02:00:00:00:00:77';
const mk = () => new Harness(VPC, { security: true, uplink: true });
const toNet = (dst: string, sport = 5000) => ethIpv4Udp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst, sport, dport: 53, payload: Buffer.alloc(12) });
const isArp = (f: Buffer) => f.readUInt16BE(12) === 0x0806;

/** The frames queued for transmission in `b` (without their vnet headers). */
function txOf(b: PacketBatch): { port: number; frame: Buffer }[] {
  const out = [];
  for (let t = 0; t < b.txCount; t++) out.push({ port: b.txPort[t]!, frame: Buffer.from(b.arena.subarray(b.txOff[t]! + VNET_HDR_LEN, b.txOff[t]! + b.txLen[t]!)) });
  return out;
}

describe('internet gateway: ARP on the uplink', () => {
  it('a request for a public address is answered in place from the uplink MAC, and the asker becomes the neighbour frames waited for', () => {
    const h = mk();
    const asked = h.run([{ port: h.port('web'), frame: toNet('203.0.113.99') }]);
    expect(asked.map((f) => isArp(f.frame))).toEqual([true]);
    const out = h.run([{ port: h.uplinkPort, frame: arpRequest({ srcMac: PEER, spa: '203.0.113.99', tpa: PUB, padTo: 60 }) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort, h.uplinkPort]);
    const reply = out.find((f) => isArp(f.frame))!.frame;
    expect(formatMac(reply, 0)).toBe(PEER);
    expect(formatMac(reply, 6)).toBe(UPLINK);
    expect(reply.readUInt16BE(20)).toBe(2);
    expect(formatMac(reply, 22)).toBe(UPLINK);
    expect(reply.readUInt32BE(28)).toBe(ipToU32(PUB));
    expect(formatMac(reply, 32)).toBe(PEER);
    expect(reply.readUInt32BE(38)).toBe(ipToU32('203.0.113.99'));
    const udp = out.find((f) => !isArp(f.frame))!.frame;
    expect(formatMac(udp, 0)).toBe(PEER);
    expect(formatMac(udp, 6)).toBe(UPLINK);
    expect(ipv4Of(udp).readUInt32BE(12)).toBe(ipToU32(PUB));
  });

  it('the ARP request for a next hop is a 60-byte broadcast from the uplink MAC, asking from the public address; the in-place answer keeps the asker\'s frame length', () => {
    const h = mk();
    const asked = h.run([{ port: h.port('web'), frame: toNet('203.0.113.99') }]);
    const req = asked[0]!.frame;
    expect(req.length).toBe(60);
    expect(formatMac(req, 0)).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(req, 6)).toBe(UPLINK);
    expect([req.readUInt16BE(20), req.readUInt32BE(28), req.readUInt32BE(38)]).toEqual([1, ipToU32(PUB), ipToU32('203.0.113.99')]);
    expect(formatMac(req, 22)).toBe(UPLINK);
    for (const padTo of [undefined, 60, 64]) {
      const q = arpRequest({ srcMac: PEER, spa: '203.0.113.99', tpa: PUB, ...(padTo === undefined ? {} : { padTo }) });
      const out = h.run([{ port: h.uplinkPort, frame: q }]).filter((f) => isArp(f.frame));
      expect(out.map((f) => f.frame.length)).toEqual([q.length]);
    }
  });

  it('no scratch slot left in the batch: no ARP request is built, the frame still waits for its next hop', () => {
    const h = new Harness(VPC, { slots: 8, security: true, uplink: true });
    const scratch = h.batch.scratchSlots;
    for (let k = 0; k < scratch + 8; k += 8) h.run(Array.from({ length: 8 }, (_, i) => ({ port: h.port('web'), frame: toNet('203.0.113.99', 10_000 + k + i) })));
    expect(h.dp.neighbors.pendingCount).toBeGreaterThan(scratch);
    h.now += 2_000;
    const out = h.run([
      { port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) },
      { port: h.port('web'), frame: toNet('203.0.113.98', 9_999) },
    ]);
    expect(out).toHaveLength(scratch);
    expect(out.every((f) => !isArp(f.frame) && formatMac(f.frame, 0) === PEER)).toBe(true);
    expect(h.dp.neighbors.pendingCount).toBe(1);
  });

  it('a held frame larger than a scratch slot is dropped and counted when its next hop answers; the others are sent', () => {
    const h = new Harness(VPC, { security: true, uplink: true, scratchSize: 512 });
    const big = ethIpv4Udp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: '203.0.113.99', sport: 7001, dport: 53, payload: Buffer.alloc(600) });
    // 512 bytes with the 10-byte virtio-net header: the largest frame that fits
    const fits = ethIpv4Udp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: '203.0.113.99', sport: 7002, dport: 53, payload: Buffer.alloc(512 - 10 - 42) });
    h.run([{ port: h.port('web'), frame: big }, { port: h.port('web'), frame: fits }]);
    expect(h.dp.neighbors.pendingCount).toBe(2);
    const dropped = h.dp.neighbors.dropped;
    const out = h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) }]);
    expect(out.map((f) => [f.frame.length, ipv4Of(f.frame).readUInt16BE(20)])).toEqual([[502, 7002]]);
    expect(h.dp.neighbors.dropped - dropped).toBe(1);
    expect(h.dp.neighbors.pendingCount).toBe(0);
  });

  it('a request for an address that is not ours: no answer, arp_ignored, and its sender is not learned even when it is a known neighbour', () => {
    const h = mk();
    h.run([{ port: h.port('web'), frame: toNet('203.0.113.99') }]);
    h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) }]);
    const ignored = h.drops(DropReason.ArpIgnored);
    expect(h.run([{ port: h.uplinkPort, frame: arpRequest({ srcMac: OTHER, spa: '203.0.113.99', tpa: '203.0.113.50' }) }])).toHaveLength(0);
    expect(h.drops(DropReason.ArpIgnored) - ignored).toBe(1);
    const next = h.run([{ port: h.port('web'), frame: toNet('203.0.113.99', 5001) }]);
    expect(next.map((f) => formatMac(f.frame, 0))).toEqual([PEER]);
    // a request for our address does teach its sender's (new) MAC
    h.run([{ port: h.uplinkPort, frame: arpRequest({ srcMac: OTHER, spa: '203.0.113.99', tpa: PUB }) }]);
    expect(h.run([{ port: h.port('web'), frame: toNet('203.0.113.99', 5002) }]).map((f) => formatMac(f.frame, 0))).toEqual([OTHER]);
  });

  it('a reply from a neighbour that was asked updates its MAC even when it is for no address of ours', () => {
    const h = mk();
    h.run([{ port: h.port('web'), frame: toNet('203.0.113.99') }]);
    h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) }]);
    const ignored = h.drops(DropReason.ArpIgnored);
    expect(h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: OTHER, dstMac: UPLINK, spa: '203.0.113.99', tpa: '203.0.113.50' }) }])).toHaveLength(0);
    expect(h.drops(DropReason.ArpIgnored) - ignored).toBe(1);
    expect(h.run([{ port: h.port('web'), frame: toNet('203.0.113.99', 5001) }]).map((f) => formatMac(f.frame, 0))).toEqual([OTHER]);
  });

  it('a probe from 0.0.0.0 for a public address is answered but teaches nothing; a sender claiming a public address of ours is not learned', () => {
    const h = mk();
    const unsolicited = h.dp.neighbors.unsolicited;
    const probe = h.run([{ port: h.uplinkPort, frame: arpRequest({ srcMac: PEER, spa: '0.0.0.0', tpa: PUB }) }]);
    expect(probe).toHaveLength(1);
    expect(probe[0]!.frame.readUInt16BE(20)).toBe(2);
    const claim = h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: OTHER, dstMac: UPLINK, spa: PUB, tpa: '203.0.113.99' }) }]);
    expect(claim).toHaveLength(0);
    // neither reached the neighbour table (which would have refused and counted them)
    expect(h.dp.neighbors.unsolicited - unsolicited).toBe(0);
    // an unasked sender does reach it, and is refused there
    h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: OTHER, dstMac: UPLINK, spa: '203.0.113.77', tpa: PUB }) }]);
    expect(h.dp.neighbors.unsolicited - unsolicited).toBe(1);
  });

  it('ARP for another hardware or protocol type, or cut short, is malformed', () => {
    const h = mk();
    const good = arpRequest({ srcMac: PEER, spa: '203.0.113.99', tpa: PUB, padTo: 60 });
    const variants = [[14, 0x00, 0x06], [16, 0x86, 0xdd], [18, 8], [19, 16]].map(([at, ...v]) => {
      const f = Buffer.from(good);
      f.set(v, at!);
      return f;
    });
    const malformed = h.drops(DropReason.Malformed);
    for (const f of [...variants, good.subarray(0, 41)]) expect(h.run([{ port: h.uplinkPort, frame: f }])).toHaveLength(0);
    expect(h.drops(DropReason.Malformed) - malformed).toBe(5);
    expect(h.run([{ port: h.uplinkPort, frame: good }])).toHaveLength(1);
  });

  it('the answer for one next hop releases exactly the frames that waited for it, in order, with its MAC', () => {
    const h = mk();
    const asked = h.run([
      { port: h.port('web'), frame: toNet('203.0.113.99', 6001) },
      { port: h.port('web'), frame: toNet('203.0.113.98', 6002) },
      { port: h.port('web'), frame: toNet('203.0.113.99', 6003) },
    ]);
    expect(asked.filter((f) => isArp(f.frame))).toHaveLength(2);
    expect(h.dp.neighbors.pendingCount).toBe(3);
    const out = h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) }]);
    expect(out.map((f) => [f.port, formatMac(f.frame, 0), ipv4Of(f.frame).readUInt16BE(20)])).toEqual([[h.uplinkPort, PEER, 6001], [h.uplinkPort, PEER, 6003]]);
    expect(out.every((f) => f.frame.length === 14 + 40)).toBe(true);
    expect(h.dp.neighbors.pendingCount).toBe(1);
    const rest = h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER2, dstMac: UPLINK, spa: '203.0.113.98', tpa: PUB }) }]);
    expect(rest.map((f) => [formatMac(f.frame, 0), ipv4Of(f.frame).readUInt16BE(20)])).toEqual([[PEER2, 6002]]);
    expect(h.dp.neighbors.pendingCount).toBe(0);
  });
  it("a next hop in slot 0 of the neighbour table is used like any other; past its reachable time it is asked for again, and the reply releases what waited", () => {
    const h = mk();
    const n = h.dp.neighbors;
    const mac = Buffer.from([2, 0, 0, 0, 0, 0x55]);
    // Which address lands in slot 0 depends on the table's random seed: fill it until one does.
    let x = '';
    for (let i = 0; i < 65_536 && x === ''; i++) {
      const ip = (ipToU32('198.19.0.0') + i) | 0;
      n.shouldRequest(ip, h.now);
      n.learn(ip, mac, 0, h.now);
      if (n.lookup(ip, h.now) === 0) x = `198.19.${i >>> 8}.${i & 255}`;
    }
    expect(x).not.toBe('');
    const out = h.run([{ port: h.port('web'), frame: toNet(x) }]);
    expect(out.map((f) => [f.port, isArp(f.frame), formatMac(f.frame, 0)])).toEqual([[h.uplinkPort, false, '02:00:00:00:00:55']]);
    // Past its reachable and probe time (the table's clock moved on): the next frame asks for it and waits;
    // its reply releases the frame.
    h.now += NEIGHBOR_REACHABLE_MS + NEIGHBOR_PROBE_MS + 1;
    expect(n.lookup(ipToU32('198.51.100.200') | 0, h.now)).toBe(-1);
    expect(h.run([{ port: h.port('web'), frame: toNet(x) }]).map((f) => isArp(f.frame))).toEqual([true]);
    const released = h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: x, tpa: PUB }) }]);
    expect(released.map((f) => [isArp(f.frame), formatMac(f.frame, 0)])).toEqual([[false, PEER]]);
  });
});

describe('internet gateway: 1:1 translation of what is not an ICMP error', () => {
  // An echo request whose data is shaped like an IPv4 header: only an error's quote is rewritten.
  const ipLike = Buffer.from('450000280000000040110000c6336407cb00710a00350035000c0000', 'hex');

  it('an echo request out and its reply in keep their data (even data shaped like a quoted IPv4 header)', () => {
    const h = new Harness(VPC, { security: true, uplink: true, neighbors: ['198.51.100.7'] });
    const out = h.run([{ port: h.port('web'), frame: ethIpv4Icmp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: '198.51.100.7', type: 8, id: 3, seq: 1, payload: ipLike }) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    let ip = ipv4Of(out[0]!.frame);
    expect(ip.subarray(28)).toEqual(ipLike);
    expect(refChecksum(ip.subarray(20))).toBe(0);
    const back = h.run([{ port: h.uplinkPort, frame: ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.7', dst: PUB, type: 0, id: 3, seq: 1, payload: ipLike }) }]);
    expect(back.map((f) => f.port)).toEqual([h.port('web')]);
    ip = ipv4Of(back[0]!.frame);
    expect(ip.subarray(28)).toEqual(ipLike);
    expect(refChecksum(ip.subarray(20))).toBe(0);
  });
});

describe('internet gateway: datagrams it originates', () => {
  it('a UDP datagram from one of our addresses: Ethernet from the uplink MAC to the neighbour, checksums exact, consecutive IP ids', () => {
    const h = new Harness(VPC, { security: true, uplink: true, neighbors: ['198.51.100.7'] });
    const b = h.batch;
    b.reset();
    const payload = Buffer.from(Array.from({ length: 101 }, (_, i) => i));
    expect(h.dp.emitUdp(b, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, payload, h.now)).toBe(true);
    expect(h.dp.emitUdp(b, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, payload, h.now)).toBe(true);
    const tx = txOf(b);
    expect(tx.map((f) => f.port)).toEqual([h.uplinkPort, h.uplinkPort]);
    const [f1, f2] = tx.map((f) => f.frame);
    expect(f1!.length).toBe(14 + 20 + 8 + 101);
    expect(formatMac(f1!, 0)).toBe(PEER);
    expect(formatMac(f1!, 6)).toBe(UPLINK);
    expect(f1!.readUInt16BE(12)).toBe(0x0800);
    const ip = ipv4Of(f1!);
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect([ip.readUInt32BE(12), ip.readUInt32BE(16), ip[9]]).toEqual([ipToU32(PUB), ipToU32('198.51.100.7'), 17]);
    expect([ip.readUInt16BE(20), ip.readUInt16BE(22)]).toEqual([500, 4500]);
    expect(ip.subarray(28)).toEqual(payload);
    expect(ipv4Of(f2!).readUInt16BE(4)).toBe((ip.readUInt16BE(4) + 1) & 0xffff);
  });

  it('the largest payload that fits one 1500-byte packet (1472) is sent, one byte more is refused; no uplink: refused', () => {
    const h = new Harness(VPC, { security: true, uplink: true, neighbors: ['198.51.100.7'] });
    const b = h.batch;
    b.reset();
    const send = (n: number) => h.dp.emitUdp(b, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, Buffer.alloc(n), h.now);
    expect(send(1473)).toBe(false);
    expect(send(1472)).toBe(true);
    expect(txOf(b).map((f) => f.frame.length)).toEqual([1514]);
    const none = new Harness(VPC, { security: true });
    none.batch.reset();
    expect(none.dp.emitUdp(none.batch, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, Buffer.alloc(10), 0)).toBe(false);
    expect(none.batch.txCount).toBe(0);
  });

  it('a payload that does not fit a scratch slot is refused', () => {
    const h = new Harness(VPC, { security: true, uplink: true, neighbors: ['198.51.100.7'] });
    const small = new PacketBatch(4, 2048, 8, 512);
    const send = (n: number) => h.dp.emitUdp(small, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, Buffer.alloc(n), h.now);
    expect(send(449)).toBe(false);
    expect(send(448)).toBe(true);
    expect(small.txCount).toBe(1);
  });

  it('IP ids count up by one and wrap from 65535 to 0', () => {
    const g = new InternetGateway(new Ports(new Counters(), 1));
    const ids = [];
    for (let i = 0; i < 65536; i++) ids.push(g.nextIpId());
    expect(ids.slice(0, 3)).toEqual([2, 3, 4]);
    expect(ids.slice(65532)).toEqual([65534, 65535, 0, 1]);
  });
});

describe('internet gateway: the uplink next hop', () => {
  const g = () => new InternetGateway(new Ports(new Counters(), 1));
  const X = ipToU32('203.0.113.9') | 0, GW = ipToU32('203.0.113.1') | 0;

  it('no on-link prefix (0) with a gateway: every destination goes to the gateway, the network address too', () => {
    const igw = g();
    igw.configure(ipToU32('203.0.113.2'), GW, X, 0);
    expect([igw.onlinkNet, igw.onlinkMask]).toEqual([0, 0]);
    expect(igw.nextHop(X)).toBe(GW);
    expect(igw.nextHop(0)).toBe(GW);
  });

  it('a /32 on-link network holds one address; /1 holds half the space', () => {
    const igw = g();
    igw.configure(ipToU32('203.0.113.2'), GW, X, 32);
    expect(igw.nextHop(X)).toBe(X);
    expect(igw.nextHop(X + 1)).toBe(GW);
    igw.configure(ipToU32('203.0.113.2'), GW, ipToU32('128.0.0.0') | 0, 1);
    expect(igw.nextHop(X)).toBe(X);
    expect(igw.nextHop(ipToU32('100.0.0.1') | 0)).toBe(GW);
  });

  it('without a gateway every destination is its own next hop', () => {
    const igw = g();
    igw.configure(ipToU32('203.0.113.2'), 0, X, 24);
    expect(igw.nextHop(ipToU32('8.8.8.8') | 0)).toBe(ipToU32('8.8.8.8') | 0);
  });
});


describe('internet gateway: the edges of its frames', () => {
  it('an ARP reply whose Ethernet source differs from its sender MAC teaches the sender MAC', () => {
    const h = mk();
    h.run([{ port: h.port('web'), frame: toNet('203.0.113.99') }]);
    const reply = arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB });
    reply.set(Buffer.from(OTHER.split(':').map((x) => parseInt(x, 16))), 6); // a bridge or proxy in front of it
    const out = h.run([{ port: h.uplinkPort, frame: reply }]);
    expect(out.map((f) => formatMac(f.frame, 0))).toEqual([PEER]);
  });

  it('every ARP request of a batch is answered at its own length, wherever it sits in the batch', () => {
    const h = mk();
    const reqs = [54, 60, 64].map((padTo) => arpRequest({ srcMac: PEER, spa: '203.0.113.99', tpa: PUB, ...(padTo === 54 ? {} : { padTo }) }));
    const out = h.run(reqs.map((frame) => ({ port: h.uplinkPort, frame })));
    expect(out.map((f) => f.frame.length)).toEqual(reqs.map((r) => r.length));
    expect(out.every((f) => f.frame.readUInt16BE(20) === 2)).toBe(true);
  });

  it('a next hop answering again after its frames went out sends nothing more (its freed queue slots stay free)', () => {
    const h = mk();
    h.run([{ port: h.port('web'), frame: toNet('203.0.113.99', 6001) }, { port: h.port('web'), frame: toNet('203.0.113.98', 6002) }]);
    expect(h.dp.neighbors.pendingCount).toBe(2);
    const reply = () => h.run([{ port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.99', tpa: PUB }) }]);
    expect(reply()).toHaveLength(1);
    expect(h.dp.neighbors.pendingCount).toBe(1);
    // 203.0.113.98's frame still waits, so the release looks at the queue again
    expect(reply()).toHaveLength(0);
    expect(h.dp.neighbors.pendingCount).toBe(1);
  });

  it('an ICMP error an instance sends out: the quote\'s destination becomes the public address, its ports stay', () => {
    const h = new Harness(VPC, { security: true, uplink: true, neighbors: ['198.51.100.7'] });
    const quoted = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.7', dst: WEB, sport: 40_000, dport: 5353, payload: Buffer.alloc(4) }).subarray(14, 14 + 28);
    const err = ethIpv4Icmp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: '198.51.100.7', type: 3, code: 3, payload: quoted });
    const out = h.run([{ port: h.port('web'), frame: err }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(PUB));
    const q = ip.subarray(28);
    expect(q.readUInt32BE(16)).toBe(ipToU32(PUB));
    expect([q.readUInt16BE(20), q.readUInt16BE(22)]).toEqual([40_000, 5353]);
    expect(refChecksum(ip.subarray(20))).toBe(0);
  });

  it('an uplink on port 0 sends datagrams; without a scratch slot none is sent; the EtherType is written, not assumed', () => {
    const g = new InternetGateway(new Ports(new Counters(), 1));
    g.port = 0;
    const b = new PacketBatch(4, 2048, 2, 512);
    b.arena.fill(0xff);
    b.reset();
    expect(g.sendUdp(b, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, Buffer.alloc(10), 0)).toBe(true);
    // no neighbour yet: an ARP request went out and the datagram waits
    expect(b.txCount).toBe(1);
    expect(g.neighbors.pendingCount).toBe(1);
    const held = g.neighbors.pendingData.subarray(0, 14 + 20 + 8 + 10);
    expect(Buffer.from(held).readUInt16BE(12)).toBe(0x0800);
    expect(b.takeScratch()).toBe(-1); // both scratch slots used (the datagram, the ARP request)
    expect(g.sendUdp(b, ipToU32(PUB) | 0, 500, ipToU32('198.51.100.7') | 0, 4500, Buffer.alloc(10), 0)).toBe(false);
    expect(b.txCount).toBe(1);
    expect(g.neighbors.pendingCount).toBe(1);
  });
});
