/**
 * The internet gateway on the packet path: its packet and byte counters, the
 * 1:1 translation of ICMP errors (the quoted packet too, checksums exact) both
 * ways, and the next hop on the uplink (on-link network or the gateway).
 * In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4IcmpError, ethIpv4Udp, ipv4Of, refChecksum } from '../../helpers/frames.js';
import { IgwCounter } from '../../../src/nat/igw.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

const VPC = (extra = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
internetGateway: { name: igw ${extra} }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [open] }
`;
const WEB = '198.18.1.10', PUB = '203.0.113.10', NET = '198.51.100.7';
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';
const u32 = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

describe('internet gateway on the packet path', () => {
  it('counts packets and bytes out and in', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    const out = ethIpv4Udp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: NET, sport: 5000, dport: 53, payload: Buffer.alloc(12) });
    expect(h.run([{ port: h.port('web'), frame: out }])).toHaveLength(1);
    const back = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 53, dport: 5000, payload: Buffer.alloc(72) });
    expect(h.run([{ port: h.uplinkPort, frame: back }, { port: h.uplinkPort, frame: back }])).toHaveLength(2);
    const c = h.dp.legs.igw.counters;
    expect([c[IgwCounter.PacketsOut], c[IgwCounter.BytesOut], c[IgwCounter.PacketsIn], c[IgwCounter.BytesIn]]).toEqual([1, 40, 2, 200]);
  });

  it('an ICMP error from the instance leaves with its quote addressed to the public address; one from outside arrives with the private one', () => {
    const h = new Harness(VPC(), { security: true, uplink: true, neighbors: [NET] });
    // the datagram the instance answers with port unreachable, as it arrived (after translation)
    const got = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, sport: 53, dport: 7000 });
    const inside = h.run([{ port: h.uplinkPort, frame: got }]);
    expect(inside.map((f) => f.port)).toEqual([h.port('web')]);
    const err = ethIpv4IcmpError({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: NET, type: 3, code: 3, original: inside[0]!.frame });
    const out = h.run([{ port: h.port('web'), frame: err }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    let ip = ipv4Of(out[0]!.frame);
    expect(ip.readUInt32BE(12)).toBe(u32(PUB));
    expect(ip.subarray(28).readUInt32BE(16)).toBe(u32(PUB)); // the quoted destination
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect(refChecksum(ip.subarray(20))).toBe(0);
    // a router on the way reports the instance's datagram: the quote's source is the public address
    const sent = h.run([{ port: h.port('web'), frame: ethIpv4Udp({ srcMac: instanceMac('t', 'web'), dstMac: routerMac('t', 'pub'), src: WEB, dst: NET, sport: 5001, dport: 33434 }) }]);
    const ttl = ethIpv4IcmpError({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: PUB, type: 11, code: 0, original: sent[0]!.frame });
    const back = h.run([{ port: h.uplinkPort, frame: ttl }]);
    expect(back.map((f) => f.port)).toEqual([h.port('web')]);
    ip = ipv4Of(back[0]!.frame);
    expect(ip.readUInt32BE(16)).toBe(u32(WEB));
    expect(ip.subarray(28).readUInt32BE(12)).toBe(u32(WEB)); // the quoted source
    expect(refChecksum(ip.subarray(20))).toBe(0);
  });

  it('uplinkCidr: a destination on the uplink network is its own next hop, others go to the gateway', () => {
    const h = new Harness(VPC(', uplinkIp: 203.0.113.2, uplinkGateway: 203.0.113.1, uplinkCidr: 203.0.113.0/28'), { security: true, uplink: true });
    const g = h.dp.legs.igw;
    expect(g.nextHop(u32('203.0.113.9') | 0)).toBe(u32('203.0.113.9') | 0);
    expect(g.nextHop(u32('203.0.113.17') | 0)).toBe(u32('203.0.113.1') | 0);
    expect(g.nextHop(u32(NET) | 0)).toBe(u32('203.0.113.1') | 0);
    // without uplinkCidr nothing but the gateway is on-link; without a gateway everything is
    const h2 = new Harness(VPC(', uplinkIp: 203.0.113.2, uplinkGateway: 203.0.113.1'), { security: true, uplink: true });
    expect(h2.dp.legs.igw.nextHop(u32('203.0.113.9') | 0)).toBe(u32('203.0.113.1') | 0);
    const h3 = new Harness(VPC(), { security: true, uplink: true });
    expect(h3.dp.legs.igw.nextHop(u32(NET) | 0)).toBe(u32(NET) | 0);
  });
});
