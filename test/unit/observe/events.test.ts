/**
 * The data plane's events, end to end in memory: frames through the
 * in-memory data plane with a subscriber attached; the decoded events name
 * the stage, rule and explanation code the way `vpcd explain --json` does
 * for the same flow (the reference evaluator is asked, not hard-coded);
 * drops carry their reason; NAT translations both address pairs; flows
 * that idle out their packets and bytes. Nothing is written without a
 * subscriber.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ObserveHub } from '../../../src/observe/observe-hub.js';
import type { ObserveEvent } from '../../../src/observe/event-decode.js';
import { compileFilter } from '../../../src/observe/event-filter.js';
import { evaluateFlow } from '../../../src/policy/reference.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24 }
networkAcls:
  na:
    inbound:
      - { rule: 80, action: deny, protocol: tcp, ports: 40100, cidr: 198.18.2.0/24 }
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
    outbound:
      - { rule: 90, action: deny, protocol: tcp, ports: 23, cidr: 0.0.0.0/0 }
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
securityGroups:
  client: { egress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  server:
    ingress:
      - { protocol: udp, ports: 53, cidr: 198.18.0.0/16 }
      - { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }
instances:
  c1: { subnet: sa, ip: 198.18.1.10, securityGroups: [client] }
  s1: { subnet: sb, ip: 198.18.2.20, securityGroups: [server] }
`;
const C1 = '198.18.1.10', S1 = '198.18.2.20';
const MC = instanceMac('t', 'c1'), RA = routerMac('t', 'sa');
const MS = instanceMac('t', 's1'), RB = routerMac('t', 'sb');

function setup(): { h: Harness; hub: ObserveHub; got: ObserveEvent[] } {
  const h = new Harness(YAML, { security: true });
  const p = h.policy!;
  const hub = new ObserveHub(h.dp.events, () => ({ instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: [] }));
  const got: ObserveEvent[] = [];
  hub.watchConntrack(h.ct!);
  hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as ObserveEvent); return true; } });
  return { h, hub, got };
}

const syn = (dport: number, sport = 40000) => ethIpv4Tcp({ srcMac: MC, dstMac: RA, src: C1, dst: S1, sport, dport, flags: TCP_SYN, seq: 1, ack: 0 });

/** The denying (or, for an accepted request, the receiving SG) stage of explain's answer for the same flow. */
function explained(h: Harness, dport: number) {
  const e = evaluateFlow(h.cfg, { src: C1, dst: S1, proto: 6, sport: 40000, dport }, { from: 'c1' });
  return e.verdict === 'deny' ? e.path.find((s) => s.verdict === 'deny')! : e.path.filter((s) => s.stage === 'sg-ingress').at(-1)!;
}

describe('data-plane events', () => {
  it('a flow refused by a security group: stage, implicit deny and code as explain names them', () => {
    const { h, hub, got } = setup();
    h.run([{ port: h.port('c1'), frame: syn(22) }]);
    hub.drain();
    const want = explained(h, 22);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'flow', verdict: 'REJECT', stage: want.stage, by: want.by, code: want.code, instance: 's1',
      proto: 'tcp', src: C1, dst: S1, sport: 40000, dport: 22 });
  });

  it('a flow refused by a NACL rule: the NACL and its rule number', () => {
    const { h, hub, got } = setup();
    h.run([{ port: h.port('c1'), frame: syn(23) }]);
    hub.drain();
    const want = explained(h, 23);
    expect(want.by).toEqual({ nacl: 'na', rule: 90 });
    expect(got[0]).toMatchObject({ type: 'flow', verdict: 'REJECT', stage: want.stage, by: want.by, code: 'SUBNET_ACL_RESTRICTION', instance: 'c1' });
  });

  it('an accepted flow: the admitting rule (group and index), then its end with packets and bytes', () => {
    const { h, hub, got } = setup();
    h.run([{ port: h.port('c1'), frame: syn(443) }]);
    hub.drain();
    const want = explained(h, 443);
    expect(got[0]).toMatchObject({ type: 'flow', verdict: 'ACCEPT', stage: 'sg-ingress', by: want.by, code: null, instance: 's1', tracked: true });
    // the flow idles out: one end record with its counts
    h.ct!.sweep(h.now + 10 * 86_400_000, 100, hub.flowEnded);
    hub.drain();
    const end = got.find((e) => e.type === 'end');
    expect(end).toMatchObject({ src: C1, dst: S1, sport: 40000, dport: 443, packets: 1, instance: 'c1' });
    expect(end!.bytes).toBe(syn(443).length - 14); // the IP packet, as conntrack counts it
  });

  it('a reply of a known flow refused by the NACL: a drop with the side, NACL and rule', () => {
    const { h, hub, got } = setup();
    h.run([{ port: h.port('c1'), frame: syn(443, 40100) }]);
    h.run([{ port: h.port('s1'), frame: ethIpv4Tcp({ srcMac: MS, dstMac: RB, src: S1, dst: C1, sport: 443, dport: 40100, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 2 }) }]);
    hub.drain();
    expect(got.map((e) => e.type)).toEqual(['flow', 'drop']);
    expect(got[1]).toMatchObject({ verdict: 'REJECT', reason: 'nacl', stage: 'nacl-inbound', by: { nacl: 'na', rule: 80 }, code: 'SUBNET_ACL_RESTRICTION',
      instance: 'c1', src: S1, dst: C1, sport: 443, dport: 40100 });
  });

  it('a drop that no security stage decided carries its reason', () => {
    const { h, hub, got } = setup();
    const frame = ethIpv4Udp({ srcMac: MC, dstMac: RA, src: '198.18.1.99', dst: S1, sport: 1, dport: 53, payload: Buffer.from('x') });
    h.run([{ port: h.port('c1'), frame }]);
    hub.drain();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'drop', reason: 'source_dest_check', stage: 'source-dest-check', code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION', instance: 'c1', src: '198.18.1.99' });
  });

  it('filters are applied per subscriber', () => {
    const { h, hub, got } = setup();
    const rejects: ObserveEvent[] = [];
    hub.subscribe(compileFilter({ verdict: 'REJECT', port: 22 }, h.cfg), { write: (l) => { rejects.push(JSON.parse(l) as ObserveEvent); return true; } });
    h.run([{ port: h.port('c1'), frame: syn(22) }, { port: h.port('c1'), frame: syn(23, 40001) }, { port: h.port('c1'), frame: syn(443, 40002) }]);
    hub.drain();
    expect(got).toHaveLength(3);
    expect(rejects.map((e) => e.dport)).toEqual([22]);
  });

  it('without a subscriber nothing is written to the ring', () => {
    const { h, hub, got } = setup();
    hub.closeAll();
    expect(h.dp.events.active).toBe(false);
    h.run([{ port: h.port('c1'), frame: syn(22) }, { port: h.port('c1'), frame: syn(443, 40003) }]);
    expect(h.dp.events.size).toBe(0);
    expect(h.dp.events.lostTotal).toBe(0);
    expect(got).toEqual([]);
  });
});

describe('observers that fall behind', () => {
  it('a full ring: the subscriber is told how many events it lost', () => {
    const { h, hub } = setup();
    const cap = h.dp.events.capacity;
    const got: { type: string; lost?: number; where?: string }[] = [];
    hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as { type: string }); return true; } }, cap * 2);
    const frames = [];
    for (let i = 0; i < 8; i++) frames.push({ port: h.port('c1'), frame: syn(22, 41000 + i) });
    let offered = 0;
    while (offered < cap + 10) { h.run(frames); offered += 8; } // no drain in between
    hub.drain();
    expect(got.filter((e) => e.type === 'lost')).toEqual([expect.objectContaining({ where: 'ring', lost: offered - cap })]);
    expect(got.filter((e) => e.type === 'flow')).toHaveLength(cap);
    expect(h.dp.events.lostTotal).toBe(offered - cap);
  });

  it('a full queue: events lost and counted, told once the reader catches up', () => {
    const { h, hub } = setup();
    const lines: string[] = [];
    let open = false;
    const sub = hub.subscribe(null, { write: (l) => { lines.push(l); return open; } }, 4);
    const frames = [];
    for (let i = 0; i < 10; i++) frames.push({ port: h.port('c1'), frame: syn(22, 42000 + i) });
    h.run(frames);
    hub.drain(); // 4 queued, 6 lost; then one line written and the sink pushes back
    expect(hub.queueLostTotal).toBe(6);
    expect(sub.lostTotal).toBe(6);
    open = true;
    sub.resume();
    hub.drain();
    const notices = lines.map((l) => JSON.parse(l) as { type: string; lost?: number; where?: string }).filter((e) => e.type === 'lost');
    expect(notices).toEqual([expect.objectContaining({ lost: 6, where: 'queue' })]);
    expect(lines).toHaveLength(4 + 1);
  });
});

describe('events on other legs', () => {
  const APPLIANCE = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-fw }
  sf: { cidr: 198.18.3.0/24 }
  sb: { cidr: 198.18.2.0/24 }
routeTables:
  via-fw: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
securityGroups:
  a: {}
  fw: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  b: { ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 } ] }
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [a] }
  fw: { subnet: sf, ip: 198.18.3.10, securityGroups: [fw], sourceDestCheck: false }
  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [b] }
`;
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
  app: {}
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
`;
  function observe(h: Harness): { got: ObserveEvent[]; hub: ObserveHub } {
    const p = h.policy!;
    const hub = new ObserveHub(h.dp.events, () => ({ instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: h.dp.nats.map((n) => n.name) }));
    const got: ObserveEvent[] = [];
    hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as ObserveEvent); return true; } });
    return { got, hub };
  }

  it("an appliance's forwarded leg: the receiver's admitting rule", () => {
    const h = new Harness(APPLIANCE, { security: true });
    const { got, hub } = observe(h);
    const syn = (from: string, sub: string) => ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', sub), src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });
    h.run([{ port: h.port('a'), frame: syn('a', 'sa') }]);
    h.run([{ port: h.port('fw'), frame: syn('fw', 'sf') }]);
    hub.drain();
    expect(got.map((e) => [e.type, e.verdict, e.instance, e.by])).toEqual([
      ['flow', 'ACCEPT', 'fw', { group: 'fw', rule: 0 }],
      ['flow', 'ACCEPT', 'b', { group: 'b', rule: 0 }],
    ]);
  });

  it('the NAT gateway: both address pairs and the gateway', () => {
    const h = new Harness(NAT, { security: true, uplink: true, neighbors: ['203.0.113.100'], neighborMac: Buffer.from([2, 0, 0, 0, 0, 0x99]) });
    const { got, hub } = observe(h);
    const frame = ethIpv4Udp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: '198.18.2.10', dst: '203.0.113.100', sport: 5353, dport: 53, payload: Buffer.from('q') });
    const out = h.run([{ port: h.port('app'), frame }]);
    expect(out).toHaveLength(1);
    hub.drain();
    const nat = got.find((e) => e.type === 'nat');
    const natPort = out[0]!.frame.readUInt16BE(14 + 20);
    expect(nat).toMatchObject({ verdict: 'ACCEPT', stage: 'nat', natGateway: 'nat-a', instance: 'app', proto: 'udp', src: '198.18.2.10', sport: 5353,
      dst: '203.0.113.100', dport: 53, xsrc: '203.0.113.5', xsport: natPort, xdst: '203.0.113.100', xdport: 53, code: 'NGW_SOURCE_ADDRESS_REASSIGN' });
  });
});

describe('NAT gateway session ends', () => {
  it('a session that idles out: its inside tuple, the address and port it had outside, packets and bytes', () => {
    const NAT = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5, idleTimeout: 10 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
securityGroups:
  app: {}
instances:
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
`;
    const h = new Harness(NAT, { security: true, uplink: true, neighbors: ['203.0.113.100'], neighborMac: Buffer.from([2, 0, 0, 0, 0, 0x99]) });
    const p = h.policy!;
    const hub = new ObserveHub(h.dp.events, () => ({ instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: h.dp.nats.map((n) => n.name) }));
    const got: ObserveEvent[] = [];
    hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as ObserveEvent); return true; } });
    const frame = ethIpv4Udp({ srcMac: instanceMac('t', 'app'), dstMac: routerMac('t', 'priv'), src: '198.18.2.10', dst: '203.0.113.100', sport: 5353, dport: 53, payload: Buffer.from('q') });
    const out = h.run([{ port: h.port('app'), frame }]);
    const natPort = out[0]!.frame.readUInt16BE(14 + 20);
    h.dp.nats[0]!.sweep(h.now + 60_000, hub.natEnded);
    hub.drain();
    const end = got.find((e) => e.type === 'end');
    expect(end).toMatchObject({ stage: 'nat', natGateway: 'nat-a', proto: 'udp', src: '198.18.2.10', sport: 5353, dst: '203.0.113.100', dport: 53,
      xsrc: '203.0.113.5', xsport: natPort, packets: 1, bytes: frame.length - 14 });
  });
});
