/**
 * The NAT gateway's own bookkeeping on the packet path (the CloudWatch-style
 * counters vpcd exports per gateway) and the gateway's refusals: protocols it
 * does not carry, TCP fragments, a RST with no session (no RST back), and the
 * per-destination limit. In memory, real frames, the code the daemon runs.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Fragment, ethIpv4Icmp, ethIpv4Tcp, ethIpv4Udp, ipv4Of, TCP_ACK, TCP_RST, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { NatCounter } from '../../../src/nat/nat-gateway.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

const NAT = (natExtra = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 ${natExtra} }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  app: {}
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
`;
const APP = '198.18.2.10', NET = '203.0.113.100', EIP = '203.0.113.5';
const PEER = '02:00:00:00:00:99', UPLINK = '02:76:75:70:6c:6b';
const mk = (extra = '') => new Harness(NAT(extra), { security: true, uplink: true, neighbors: [NET], neighborMac: Buffer.from([2, 0, 0, 0, 0, 0x99]) });
const fromApp = (o: { sport?: number; dport?: number; flags: number; seq?: number; ack?: number }) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: NET, sport: o.sport ?? 40000, dport: o.dport ?? 443, flags: o.flags, seq: o.seq ?? 1, ack: o.ack ?? 0 });

function counters(h: Harness): Record<string, number> {
  const c = h.dp.nats[0]!.counters;
  return Object.fromEntries(Object.entries(NatCounter).map(([k, i]) => [k, c[i]!]));
}

describe('NAT gateway counters', () => {
  it('a UDP request and its answer: packets and bytes on each of the four legs, one attempt, established on the answer', () => {
    const h = mk();
    const req = ethIpv4Udp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: NET, sport: 5353, dport: 53, payload: Buffer.alloc(30) });
    const out = h.run([{ port: h.port('app'), frame: req }]);
    expect(out.map((f) => f.port)).toEqual([h.uplinkPort]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    let c = counters(h);
    expect([c.PacketsInFromSource, c.BytesInFromSource, c.PacketsOutToDestination, c.BytesOutToDestination]).toEqual([1, 58, 1, 58]);
    expect([c.ConnectionAttempts, c.ConnectionsEstablished, c.PacketsDropped]).toEqual([1, 0, 0]);
    const ans = ethIpv4Udp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 53, dport: natPort, payload: Buffer.alloc(100) });
    expect(h.run([{ port: h.uplinkPort, frame: ans }]).map((f) => f.port)).toEqual([h.port('app')]);
    c = counters(h);
    expect([c.PacketsInFromDestination, c.BytesInFromDestination, c.PacketsOutToSource, c.BytesOutToSource]).toEqual([1, 128, 1, 128]);
    expect(c.ConnectionsEstablished).toBe(1);
    // a second answer does not establish it again
    h.run([{ port: h.uplinkPort, frame: ans }]);
    expect(counters(h).ConnectionsEstablished).toBe(1);
    expect(counters(h).PacketsOutToSource).toBe(2);
  });

  it('TCP is established once the handshake completes, not on the SYN-ACK alone', () => {
    const h = mk();
    const out = h.run([{ port: h.port('app'), frame: fromApp({ flags: TCP_SYN }) }]);
    const natPort = ipv4Of(out[0]!.frame).readUInt16BE(20);
    const synAck = ethIpv4Tcp({ srcMac: PEER, dstMac: UPLINK, src: NET, dst: EIP, sport: 443, dport: natPort, flags: TCP_SYN | TCP_ACK, seq: 50, ack: 2 });
    expect(h.run([{ port: h.uplinkPort, frame: synAck }])).toHaveLength(1);
    expect(counters(h).ConnectionsEstablished).toBe(0);
    expect(h.run([{ port: h.port('app'), frame: fromApp({ flags: TCP_ACK, seq: 2, ack: 51 }) }])).toHaveLength(1);
    expect(counters(h).ConnectionsEstablished).toBe(1);
    expect(h.run([{ port: h.port('app'), frame: fromApp({ flags: TCP_ACK, seq: 2, ack: 51 }) }])).toHaveLength(1);
    expect(counters(h).ConnectionsEstablished).toBe(1);
    expect(counters(h).ConnectionAttempts).toBe(1);
  });
});

describe('NAT gateway refusals', () => {
  it('a protocol other than TCP, UDP and ICMP: nat_unsupported_protocol, counted as dropped, no session', () => {
    const h = mk();
    const gre = ethIpv4Fragment({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: NET, proto: 47, payload: Buffer.alloc(24) });
    expect(h.run([{ port: h.port('app'), frame: gre }])).toHaveLength(0);
    expect(h.drops(DropReason.NatUnsupportedProto)).toBe(1);
    expect(counters(h).PacketsDropped).toBe(1);
    expect(counters(h).PacketsInFromSource).toBe(1);
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
  });

  it('a TCP first fragment is dropped as a fragment, a UDP first fragment passes', () => {
    const h = mk();
    const tcp = fromApp({ flags: TCP_SYN });
    const ip = Buffer.from(tcp);
    ip[14 + 6] = 0x20; // MF
    let s = 0; ip.writeUInt16BE(0, 24); for (let i = 14; i < 34; i += 2) s += ip.readUInt16BE(i); while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); ip.writeUInt16BE(~s & 0xffff, 24);
    expect(h.run([{ port: h.port('app'), frame: ip }])).toHaveLength(0);
    expect(h.drops(DropReason.Fragment)).toBe(1);
    expect(counters(h).PacketsDropped).toBe(1);
    expect(h.dp.nats[0]!.sessions.entries).toBe(0);
  });

  it('an ICMP echo request opens a session; an echo reply from inside does not', () => {
    const h = mk();
    const echo = (type: number) => ethIpv4Icmp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: APP, dst: NET, type, id: 7, seq: 1 });
    expect(h.run([{ port: h.port('app'), frame: echo(0) }])).toHaveLength(0);
    expect(h.drops(DropReason.NatUnsupportedProto)).toBe(1);
    expect(h.run([{ port: h.port('app'), frame: echo(8) }]).map((f) => f.port)).toEqual([h.uplinkPort]);
    expect(h.dp.nats[0]!.sessions.entries).toBe(1);
  });

  it('a RST with no session is dropped without a RST back', () => {
    const h = mk();
    expect(h.run([{ port: h.port('app'), frame: fromApp({ flags: TCP_RST | TCP_ACK, seq: 5, ack: 9 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.AfterClose)).toBe(1);
    expect(counters(h).PacketsDropped).toBe(1);
  });

  it('maxConnectionsPerDestination: the next session to the same destination is refused as port exhaustion and counted', () => {
    const h = mk(', maxConnectionsPerDestination: 2');
    for (const sport of [40001, 40002]) expect(h.run([{ port: h.port('app'), frame: fromApp({ sport, flags: TCP_SYN }) }])).toHaveLength(1);
    expect(h.run([{ port: h.port('app'), frame: fromApp({ sport: 40003, flags: TCP_SYN }) }])).toHaveLength(0);
    expect(h.drops(DropReason.NatPortExhausted)).toBe(1);
    const c = counters(h);
    expect([c.ErrorPortAllocation, c.PacketsDropped, c.ConnectionAttempts]).toEqual([1, 1, 2]);
    // another destination port is another bucket
    expect(h.run([{ port: h.port('app'), frame: fromApp({ sport: 40003, dport: 80, flags: TCP_SYN }) }])).toHaveLength(1);
  });
});
