/**
 * The NAT gateway's translation on the packet path, checked byte by byte:
 * fragmented UDP both ways (the first fragment carries the ports and the
 * checksum of the whole datagram; later fragments follow their first by
 * source, destination, IP id and protocol), ICMP errors about ICMP queries
 * translated back to the inside host (the quoted query's address and
 * identifier), sources outside the VPC refused (NGW_REQUIRES_SOURCE_IN_VPC),
 * and the RST frame the gateway sends for a segment with no session.
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpReply, ethIpv4Icmp, ethIpv4IcmpError, ethIpv4Tcp, ethIpv4Udp, fragmentFrame, ipv4Of, refChecksum, TCP_ACK, TCP_FIN, TCP_PSH, withPartialCsum } from '../../helpers/frames.js';
import { DropReason, VNET_HDR_LEN } from '../../../src/pipeline/batch.js';
import { NatCounter, NatGatewayState } from '../../../src/nat/nat-gateway.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const NAT = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  # ICMP errors are not admitted as related to a tracked flow (aws-semantics: PMTUD needs an inbound rule)
  app: { ingress: [ { protocol: icmp, icmpType: 11, cidr: 0.0.0.0/0 } ] }
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
  fwd: { subnet: priv, ip: 198.18.2.20, sourceDestCheck: false, securityGroups: [app] }
`;
const APP = '198.18.2.10', NET = '203.0.113.100', EIP = '203.0.113.5';
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';
const APP_MAC = instanceMac('t', 'app'), PRIV_MAC = routerMac('t', 'priv');
const mk = () => new Harness(NAT, { security: true, uplink: true, neighbors: [NET], neighborMac: Buffer.from([2, 0, 0, 0, 0, 0x99]) });

function counters(h: Harness): Record<string, number> {
  const c = h.dp.nats[0]!.counters;
  return Object.fromEntries(Object.entries(NatCounter).map(([k, i]) => [k, c[i]!]));
}
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k]!]).filter(([, v]) => v !== 0));
}

/** The datagram's data reassembled from IPv4 fragments (in order, no overlap), with the first one's header. */
function reassemble(frags: Buffer[]): Buffer {
  const parts = frags.map((f) => ipv4Of(f)).sort((a, b) => (a.readUInt16BE(6) & 0x1fff) - (b.readUInt16BE(6) & 0x1fff));
  let at = 0;
  for (const p of parts) {
    expect((p.readUInt16BE(6) & 0x1fff) * 8).toBe(at);
    at += p.length - 20;
  }
  return Buffer.concat(parts.map((p) => p.subarray(20)));
}

/** The UDP/TCP checksum of `l4` with the pseudo-header of (src, dst) verifies. */
function l4Verifies(src: string, dst: string, proto: number, l4: Buffer): boolean {
  const ph = Buffer.alloc(12);
  ph.writeUInt32BE(ipToU32(src), 0);
  ph.writeUInt32BE(ipToU32(dst), 4);
  ph[9] = proto;
  ph.writeUInt16BE(l4.length, 10);
  return refChecksum(Buffer.concat([ph, l4])) === 0;
}

const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 0xff));
const request = (id: number, dst = NET) => ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst, sport: 5353, dport: 53, payload, id });
const answer = (natPort: number, id: number) => ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 53, dport: natPort, payload, id });

describe('NAT gateway: fragmented UDP', () => {
  it('outbound: every fragment leaves from the Elastic IP, the first with the allocated port, and the reassembled datagram verifies', () => {
    const h = mk();
    const frags = fragmentFrame(request(0x4242), 1400);
    expect(frags).toHaveLength(3);
    const before = counters(h);
    const out = h.run(frags.map((frame) => ({ port: h.port('app'), frame })));
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort, h.uplinkPort, h.uplinkPort]);
    for (const f of out) {
      const ip = ipv4Of(f.frame);
      expect(ip.readUInt32BE(12)).toBe(ipToU32(EIP));
      expect(ip.readUInt32BE(16)).toBe(ipToU32(NET));
      expect(ip.readUInt16BE(4)).toBe(0x4242);
      expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    }
    const udp = reassemble(out.map((f) => f.frame));
    const natPort = udp.readUInt16BE(0);
    expect(natPort).toBeGreaterThanOrEqual(1024);
    expect(natPort).toBe(h.dp.nats[0]!.sessions.pool.natPort[0]);
    expect(udp.readUInt16BE(2)).toBe(53);
    expect(udp.subarray(8)).toEqual(payload);
    expect(l4Verifies(EIP, NET, 17, udp)).toBe(true);
    expect(delta(before, counters(h))).toEqual({ ConnectionAttempts: 1, PacketsInFromSource: 3, BytesInFromSource: 3028 + 40, PacketsOutToDestination: 3, BytesOutToDestination: 3028 + 40 });
    expect(h.dp.nats[0]!.sessions.entries).toBe(1);
  });

  it('outbound: a later fragment with another IP id, or for another destination, than a first that passed is dropped as a fragment', () => {
    const h = mk();
    const frags = fragmentFrame(request(0x4242), 1400);
    expect(h.run([{ port: h.port('app'), frame: frags[0]! }])).toHaveLength(1);
    const otherId = fragmentFrame(request(0x4243), 1400)[1]!;
    const otherDst = fragmentFrame(request(0x4242, '203.0.113.101'), 1400)[1]!;
    for (const f of [otherId, otherDst]) {
      const before = counters(h), drops = h.drops(DropReason.Fragment);
      expect(h.run([{ port: h.port('app'), frame: f }])).toHaveLength(0);
      expect(h.drops(DropReason.Fragment) - drops).toBe(1);
      expect(delta(before, counters(h))).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 1420, PacketsDropped: 1 });
    }
    // the datagram's own later fragments still pass
    expect(h.run([{ port: h.port('app'), frame: frags[1]! }, { port: h.port('app'), frame: frags[2]! }])).toHaveLength(2);
  });

  it('outbound: an unfragmented datagram lets no later fragment with its IP id through', () => {
    const h = mk();
    const whole = ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 5353, dport: 53, payload: Buffer.alloc(100), id: 0x5151 });
    expect(h.run([{ port: h.port('app'), frame: whole }])).toHaveLength(1);
    const drops = h.drops(DropReason.Fragment);
    expect(h.run([{ port: h.port('app'), frame: fragmentFrame(request(0x5151), 1400)[1]! }])).toHaveLength(0);
    expect(h.drops(DropReason.Fragment) - drops).toBe(1);
  });

  it('inbound: every fragment of the answer reaches the inside host, the first with its own port, and the reassembled datagram verifies', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: request(0x4242) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const before = counters(h);
    const back = h.run(fragmentFrame(answer(natPort, 0x777), 1400).map((frame) => ({ port: h.uplinkPort, frame })));
    expect(back.map((f) => f.port)).toEqual([h.port('app'), h.port('app'), h.port('app')]);
    for (const f of back) {
      const ip = ipv4Of(f.frame);
      expect(ip.readUInt32BE(12)).toBe(ipToU32(NET));
      expect(ip.readUInt32BE(16)).toBe(ipToU32(APP));
      expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    }
    const udp = reassemble(back.map((f) => f.frame));
    expect(udp.readUInt16BE(0)).toBe(53);
    expect(udp.readUInt16BE(2)).toBe(5353);
    expect(udp.subarray(8)).toEqual(payload);
    expect(l4Verifies(NET, APP, 17, udp)).toBe(true);
    expect(delta(before, counters(h))).toEqual({ ConnectionsEstablished: 1, PacketsInFromDestination: 3, BytesInFromDestination: 3068, PacketsOutToSource: 3, BytesOutToSource: 3068 });
  });

  it('inbound: a later fragment with another IP id than an answer that passed, or of a TCP answer, is dropped as a fragment', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: request(0x4242) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const frags = fragmentFrame(answer(natPort, 0x777), 1400);
    expect(h.run([{ port: h.uplinkPort, frame: frags[0]! }])).toHaveLength(1);
    const otherId = fragmentFrame(answer(natPort, 0x778), 1400)[1]!;
    // the same IP id and addresses, protocol TCP: a fragmented TCP answer never passes
    const tcp = Buffer.from(frags[1]!);
    tcp[14 + 9] = 6;
    tcp.writeUInt16BE(0, 14 + 10);
    tcp.writeUInt16BE(refChecksum(tcp.subarray(14, 34)), 14 + 10);
    for (const f of [otherId, tcp]) {
      const before = counters(h), drops = h.drops(DropReason.Fragment);
      expect(h.run([{ port: h.uplinkPort, frame: f }])).toHaveLength(0);
      expect(h.drops(DropReason.Fragment) - drops).toBe(1);
      expect(delta(before, counters(h))).toEqual({ PacketsDropped: 1 });
    }
    expect(h.run([{ port: h.uplinkPort, frame: frags[1]! }, { port: h.uplinkPort, frame: frags[2]! }]).map((f) => f.port)).toEqual([h.port('app'), h.port('app')]);
  });

  it('inbound: translating a later fragment writes only its own IP header (the frame before it in the batch keeps its virtio-net header)', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: request(0x4242) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const frags = fragmentFrame(answer(natPort, 0x777), 1400);
    expect(h.run([{ port: h.uplinkPort, frame: frags[0]! }])).toHaveLength(1);
    // a datagram with checksum offload (NEEDS_CSUM: csum_start 34, csum_offset 6) in the slot before the fragment
    const offload = withPartialCsum(ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 5354, dport: 53, payload: Buffer.alloc(8) }));
    const tx = h.run([{ port: h.port('app'), frame: offload.subarray(10), vnet: offload.subarray(0, 10) }, { port: h.uplinkPort, frame: frags[1]! }]);
    expect(tx.map((f) => f.port)).toEqual([h.uplinkPort, h.port('app')]);
    const b = h.batch;
    expect(Buffer.from(b.arena.subarray(b.txOff[0]!, b.txOff[0]! + VNET_HDR_LEN))).toEqual(offload.subarray(0, 10));
    const ip = ipv4Of(tx[1]!.frame);
    expect(ip.readUInt32BE(16)).toBe(ipToU32(APP));
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
  });

  it('inbound: an unfragmented answer lets no later fragment with its IP id through', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: request(0x4242) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const whole = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 53, dport: natPort, payload: Buffer.alloc(100), id: 0x999 });
    expect(h.run([{ port: h.uplinkPort, frame: whole }])).toHaveLength(1);
    const drops = h.drops(DropReason.Fragment);
    expect(h.run([{ port: h.uplinkPort, frame: fragmentFrame(answer(natPort, 0x999), 1400)[1]! }])).toHaveLength(0);
    expect(h.drops(DropReason.Fragment) - drops).toBe(1);
  });
});

describe('NAT gateway: sessions on the packet path', () => {
  it('two flows from one host get two gateway ports, and each answer comes back to its own flow', () => {
    const h = mk();
    const req = (sport: number) => ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport, dport: 53, payload: Buffer.alloc(8) });
    const out = h.run([{ port: h.port('app'), frame: req(5001) }, { port: h.port('app'), frame: req(5002) }]);
    const ports = out.map((f) => ipv4Of(f.frame).readUInt16BE(20));
    expect(new Set(ports).size).toBe(2);
    const pool = h.dp.nats[0]!.sessions.pool;
    expect([pool.natPort[0], pool.natPort[1]]).toEqual(ports);
    const back = h.run(ports.map((p) => ({ port: h.uplinkPort, frame: ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 53, dport: p, payload: Buffer.alloc(8) }) })));
    expect(back.map((f) => [f.port, ipv4Of(f.frame).readUInt16BE(22)])).toEqual([[h.port('app'), 5001], [h.port('app'), 5002]]);
    expect(back.every((f) => l4Verifies(NET, APP, 17, ipv4Of(f.frame).subarray(20)))).toBe(true);
  });

  it('the first packet of a flow opens a session (created), the next ones do not', () => {
    const h = mk();
    const req = ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 5001, dport: 53, payload: Buffer.alloc(8) });
    h.run([{ port: h.port('app'), frame: req }]);
    expect(h.dp.legs.natgw.created).toBe(true);
    h.run([{ port: h.port('app'), frame: req }]);
    expect(h.dp.legs.natgw.created).toBe(false);
    expect(h.dp.nats[0]!.sessions.entries).toBe(1);
  });

  it('a full session table: the new flow is dropped as conntrack_full and counted, nothing leaves', () => {
    const h = mk();
    const g = h.dp.nats[0]!;
    h.dp.nats = [new NatGatewayState(g.name, { ip: g.ip, publicIp: g.publicIp, subnet: g.subnet, isPublic: g.isPublic, maxPerDestination: 55_000, idleTimeout: 350, maxSessions: 2 })];
    const req = (sport: number) => ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport, dport: 53, payload: Buffer.alloc(8) });
    expect(h.run([{ port: h.port('app'), frame: req(5001) }, { port: h.port('app'), frame: req(5002) }])).toHaveLength(2);
    const before = counters(h);
    expect(h.run([{ port: h.port('app'), frame: req(5003) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(delta(before, counters(h))).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 36, PacketsDropped: 1 });
  });

  it('an unsolicited datagram to the Elastic IP is counted as dropped by the gateway', () => {
    const h = mk();
    const before = counters(h);
    expect(h.run([{ port: h.uplinkPort, frame: ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 53, dport: 40000 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.Unsolicited)).toBe(1);
    expect(delta(before, counters(h))).toEqual({ PacketsDropped: 1 });
  });

  it("the gateway ENI's egress flow-log record carries the allocated port as its source port", () => {
    const h = new Harness(NAT, { security: true, uplink: true, flowLogs: true, neighbors: [NET] });
    const out = h.run([{ port: h.port('app'), frame: ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 5001, dport: 53, payload: Buffer.alloc(8) }) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    expect(natPort).not.toBe(5001);
    const fl = h.flowLog!;
    const eni = h.topo.instanceNames.length;
    const recs = Array.from({ length: fl.recordsOf(eni) }, (_, n) => eni * fl.recordsPerEni + n);
    const egress = recs.filter((r) => fl.src[r] === (ipToU32('198.18.1.5') | 0));
    expect(egress).toHaveLength(1);
    expect(fl.ports[egress[0]!]! >>> 16).toBe(natPort);
  });

  it('a fragmented TCP or ICMP answer is dropped as a fragment, the first fragment too (only UDP fragments pass)', () => {
    const h = mk();
    const syn = ethIpv4Tcp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 40000, dport: 443, flags: 0x02, seq: 1 });
    const natPort = ipv4Of(h.run([{ port: h.port('app'), frame: syn }])[0]!.frame).readUInt16BE(20);
    const synAck = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 443, dport: natPort, flags: 0x12, seq: 9, ack: 2, payload: Buffer.alloc(2000), id: 0x31 });
    const ping = h.run([{ port: h.port('app'), frame: ethIpv4Icmp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, type: 8, id: 7, seq: 1 }) }]);
    const natId = ipv4Of(ping[0]!.frame).readUInt16BE(24);
    const reply = ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, type: 0, id: natId, seq: 1, payload: Buffer.alloc(2000), ipId: 0x32 });
    for (const whole of [synAck, reply]) {
      const before = counters(h), drops = h.drops(DropReason.Fragment);
      expect(h.run(fragmentFrame(whole, 1400).map((frame) => ({ port: h.uplinkPort, frame })))).toHaveLength(0);
      expect(h.drops(DropReason.Fragment) - drops).toBe(2);
      expect(delta(before, counters(h))).toEqual({ PacketsDropped: 2 });
    }
    // unfragmented, the same answers pass
    expect(h.run([{ port: h.uplinkPort, frame: ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, type: 0, id: natId, seq: 1 }) }])).toHaveLength(1);
  });
});

describe('NAT gateway: how long later fragments follow their first', () => {
  // Without security stages, so only the gateway's own fragment memory decides.
  const bare = () => new Harness(NAT, { uplink: true, neighbors: [NET] });

  /**
   * The fragments of one datagram sent on `port` at 1 s, 21 s and 41 s: the
   * first two pass, the third comes 40 s after the first and is dropped
   * (counted as a fragment drop and in the gateway's PacketsDropped).
   */
  function expireAfter30s(h: Harness, port: number, frags: Buffer[]): void {
    const at = (t: number, f: Buffer) => {
      h.now = t;
      return h.run([{ port, frame: f }]).length;
    };
    expect(at(1_000, frags[0]!)).toBe(1);
    expect(at(21_000, frags[1]!)).toBe(1);
    const drops = h.drops(DropReason.Fragment), before = counters(h);
    expect(at(41_000, frags[2]!)).toBe(0);
    expect(h.drops(DropReason.Fragment) - drops).toBe(1);
    expect(counters(h).PacketsDropped - before.PacketsDropped!).toBe(1);
  }

  it('outbound: 30 s from the first fragment; a middle fragment does not extend it', () => {
    const h = bare();
    const frags = fragmentFrame(request(0x4242), 1000);
    expect(frags).toHaveLength(4);
    expireAfter30s(h, h.port('app'), frags);
  });

  it('inbound: 30 s from the first fragment; a middle fragment does not extend it', () => {
    const h = bare();
    const natPort = ipv4Of(h.run([{ port: h.port('app'), frame: request(0x4242) }])[0]!.frame).readUInt16BE(20);
    expireAfter30s(h, h.uplinkPort, fragmentFrame(answer(natPort, 0x777), 1000));
  });
});

describe('NAT gateway: sources it serves', () => {
  it('a packet whose source is outside the VPC (forwarded by an instance without source/destination check) is refused: nat_source_outside_vpc', () => {
    const h = mk();
    const before = counters(h);
    const f = ethIpv4Udp({ srcMac: instanceMac('t', 'fwd'), dstMac: PRIV_MAC, src: '198.51.100.7', dst: NET, sport: 5353, dport: 53, payload: Buffer.alloc(20) });
    expect(h.run([{ port: h.port('fwd'), frame: f }])).toHaveLength(0);
    expect(h.drops(DropReason.NatSourceOutsideVpc)).toBe(1);
    expect(delta(before, counters(h))).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 48, PacketsDropped: 1 });
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
    // the same instance's own traffic is served
    const own = ethIpv4Udp({ srcMac: instanceMac('t', 'fwd'), dstMac: PRIV_MAC, src: '198.18.2.20', dst: NET, sport: 5353, dport: 53, payload: Buffer.alloc(20) });
    expect(h.run([{ port: h.port('fwd'), frame: own }]).map((o) => o.port)).toEqual([h.uplinkPort]);
  });
});

describe('NAT gateway: ICMP errors about ICMP queries', () => {
  const echo = (id: number) => ethIpv4Icmp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, type: 8, id, seq: 5 });

  it('a time exceeded about a translated echo request reaches the inside host with the quoted source and identifier restored, checksums exact', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: echo(7) }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const sent = ipv4Of(out[0]!.frame);
    expect(sent.readUInt32BE(12)).toBe(ipToU32(EIP));
    const before = counters(h);
    const err = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: EIP, type: 11, code: 0, original: out[0]!.frame });
    const back = h.run([{ port: h.uplinkPort, frame: err }]);
    expect(back.map((f) => f.port)).toEqual([h.port('app')]);
    const ip = ipv4Of(back[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(ipToU32('198.51.100.1'));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(APP));
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect(refChecksum(ip.subarray(20))).toBe(0);
    const q = ip.subarray(28);
    expect(refChecksum(q.subarray(0, 20))).toBe(0);
    expect(q.readUInt32BE(12)).toBe(ipToU32(APP));
    expect(q.readUInt32BE(16)).toBe(ipToU32(NET));
    // the quoted echo request is whole (8 bytes, no data): what the host sent, checksum included
    expect(q.subarray(20, 28)).toEqual(ipv4Of(echo(7)).subarray(20, 28));
    expect(q.readUInt16BE(24)).toBe(7);
    // the error's own header (type, code, the unused word) is as the router sent it
    expect([ip[20], ip[21], ip.readUInt32BE(24)]).toEqual([11, 0, 0]);
    expect(delta(before, counters(h))).toEqual({ PacketsInFromDestination: 1, BytesInFromDestination: ip.length, PacketsOutToSource: 1, BytesOutToSource: ip.length });
  });

  it('a time exceeded about a translated timestamp request reaches the inside host with the quoted identifier restored', () => {
    const h = mk();
    const ts = ethIpv4Icmp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, type: 13, id: 21, seq: 1, payload: Buffer.alloc(12) });
    const out = h.run([{ port: h.port('app'), frame: ts }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const err = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: EIP, type: 11, code: 0, original: out[0]!.frame });
    const back = h.run([{ port: h.uplinkPort, frame: err }]);
    expect(back.map((f) => f.port)).toEqual([h.port('app')]);
    const q = ipv4Of(back[0]!.frame).subarray(28);
    expect(q.readUInt32BE(12)).toBe(ipToU32(APP));
    expect([q[20], q.readUInt16BE(24)]).toEqual([13, 21]);
    expect(refChecksum(ipv4Of(back[0]!.frame).subarray(20))).toBe(0);
  });

  it('an ICMP error about an echo request whose identifier has no session, or about a packet the gateway did not send, is dropped as unsolicited', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: echo(7) }]);
    const sent = Buffer.from(out[0]!.frame);
    const natId = ipv4Of(sent).readUInt16BE(24);
    // another identifier (checksums fixed): from the internet, to the Elastic IP
    const otherId = Buffer.from(sent);
    const icmpAt = 14 + 20;
    otherId.writeUInt16BE(natId ^ 0x0101, icmpAt + 4);
    otherId.writeUInt16BE(0, icmpAt + 2);
    otherId.writeUInt16BE(refChecksum(otherId.subarray(icmpAt)), icmpAt + 2);
    const fromNet = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: EIP, type: 11, code: 0, original: otherId });
    // the session's destination and identifier, but quoted from another address: from an instance, to the gateway's private address
    const notOurs = ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: '198.18.1.99', dst: NET, type: 8, id: natId, seq: 5 });
    const fromInside = ethIpv4IcmpError({ srcMac: instanceMac('t', 'fwd'), dstMac: PRIV_MAC, src: '198.18.2.20', dst: '198.18.1.5', type: 11, code: 0, original: notOurs });
    for (const [port, err] of [[h.uplinkPort, fromNet], [h.port('fwd'), fromInside]] as const) {
      const before = counters(h), drops = h.drops(DropReason.Unsolicited);
      expect(h.run([{ port, frame: err }])).toHaveLength(0);
      expect(h.drops(DropReason.Unsolicited) - drops).toBe(1);
      expect(delta(before, counters(h))).toEqual({ PacketsDropped: 1 });
    }
    // the same error quoting what the gateway sent is delivered on both ways in
    const ours = ethIpv4IcmpError({ srcMac: instanceMac('t', 'fwd'), dstMac: PRIV_MAC, src: '198.18.2.20', dst: '198.18.1.5', type: 11, code: 0,
      original: ethIpv4Icmp({ srcMac: PEER, dstMac: UPLINK, src: '198.18.1.5', dst: NET, type: 8, id: natId, seq: 5 }) });
    expect(h.run([{ port: h.port('fwd'), frame: ours }]).map((f) => f.port)).toEqual([h.port('app')]);
  });

  it('an ICMP error whose quote is cut short (no 8 bytes after the quoted header) is dropped as unsolicited, even right after a good one', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: echo(7) }]);
    const good = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: EIP, type: 11, code: 0, original: out[0]!.frame });
    expect(h.run([{ port: h.uplinkPort, frame: good }])).toHaveLength(1);
    const drops = h.drops(DropReason.Unsolicited);
    const err = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: '198.51.100.1', dst: EIP, type: 11, code: 0, original: out[0]!.frame, quoteLen: 4 });
    expect(h.run([{ port: h.uplinkPort, frame: err }])).toHaveLength(0);
    expect(h.drops(DropReason.Unsolicited) - drops).toBe(1);
  });
});

describe('NAT gateway: the RST for a segment with no session', () => {
  it('is a whole Ethernet frame to the instance from its subnet router: 54 bytes, IPv4 and TCP checksums exact, RST|ACK acknowledging a FIN and data', () => {
    const h = mk();
    const seg = ethIpv4Tcp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 40000, dport: 443, flags: TCP_FIN | TCP_PSH, seq: 1000, payload: Buffer.alloc(10) });
    const before = counters(h);
    const out = h.run([{ port: h.port('app'), frame: seg }]);
    expect(h.drops(DropReason.AfterClose)).toBe(1);
    expect(out.map((f) => f.port)).toEqual([h.port('app')]);
    const f = out[0]!.frame;
    expect(f.length).toBe(54);
    expect(f.subarray(0, 6).toString('hex')).toBe(APP_MAC.replace(/:/g, ''));
    expect(f.subarray(6, 12).toString('hex')).toBe(PRIV_MAC.replace(/:/g, ''));
    expect(f.readUInt16BE(12)).toBe(0x0800);
    const ip = ipv4Of(f);
    expect(ip.length).toBe(40);
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect(ip.readUInt32BE(12)).toBe(ipToU32(NET));
    expect(ip.readUInt32BE(16)).toBe(ipToU32(APP));
    const tcp = ip.subarray(20);
    expect(l4Verifies(NET, APP, 6, tcp)).toBe(true);
    expect([tcp.readUInt16BE(0), tcp.readUInt16BE(2)]).toEqual([443, 40000]);
    expect(tcp.readUInt32BE(4)).toBe(0);
    expect(tcp.readUInt32BE(8)).toBe(1000 + 10 + 1);
    expect(tcp[13]).toBe(0x14);
    expect(delta(before, counters(h))).toEqual({ PacketsInFromSource: 1, BytesInFromSource: 50, PacketsDropped: 1 });
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
  });

  it('no scratch slot left in the batch: the segment is dropped without a RST (nothing half-built is sent)', () => {
    // Every internet destination waits for the uplink gateway's MAC; its answer releases them all into scratch slots.
    const yaml = NAT.replace('internetGateway: { name: igw }', 'internetGateway: { name: igw, uplinkIp: 203.0.113.2, uplinkGateway: 203.0.113.1 }');
    const h = new Harness(yaml, { slots: 8, security: true, uplink: true });
    const scratch = h.batch.scratchSlots;
    for (let k = 0; k < scratch + 8; k += 8) {
      h.run(Array.from({ length: 8 }, (_, i) => ({ port: h.port('app'), frame: ethIpv4Udp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 10_000 + k + i, dport: 53 }) })));
    }
    expect(h.dp.neighbors.pendingCount).toBeGreaterThan(scratch);
    const seg = ethIpv4Tcp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 40000, dport: 443, flags: TCP_ACK, seq: 5, ack: 9 });
    const out = h.run([
      { port: h.uplinkPort, frame: arpReply({ srcMac: PEER, dstMac: UPLINK, spa: '203.0.113.1', tpa: '203.0.113.2' }) },
      { port: h.port('app'), frame: seg },
    ]);
    expect(out).toHaveLength(scratch);
    expect(out.every((f) => f.port === h.uplinkPort)).toBe(true);
    expect(h.drops(DropReason.AfterClose)).toBe(1);
    // with scratch slots free again, the same segment is answered
    expect(h.run([{ port: h.port('app'), frame: seg }]).map((f) => f.port)).toEqual([h.port('app')]);
  });

  it('an ACK with no session gets a RST whose sequence number is the ACK it answers', () => {
    const h = mk();
    const seg = ethIpv4Tcp({ srcMac: APP_MAC, dstMac: PRIV_MAC, src: APP, dst: NET, sport: 40001, dport: 443, flags: TCP_ACK, seq: 5, ack: 0xdeadbeef });
    const out = h.run([{ port: h.port('app'), frame: seg }]);
    expect(out).toHaveLength(1);
    const tcp = ipv4Of(out[0]!.frame).subarray(20);
    expect(tcp.readUInt32BE(4)).toBe(0xdeadbeef);
    expect(tcp[13]).toBe(0x04);
  });
});
