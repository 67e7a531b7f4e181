/**
 * The security stage on known flows and on the paths where no ENI sends a
 * packet (aws-semantics §1.6, §4, §5): a private NAT gateway's answer handed
 * to an appliance (the gateway's side of a crossing is -1), later packets
 * judged afresh or from the decision cached per flow, per-ENI entries (also
 * in a reused table slot, and a key the ENI holds already), re-routed
 * connections whose untracked receiver judges by its rules, the sender's side
 * of packets that end before a receiver, and a zone-0 key collision.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Fragment, ethIpv4Tcp, ethIpv4Udp, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { Packet } from '../../../src/pipeline/packet.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { SgCounter } from '../../../src/conntrack/sg-stage.js';
import { CtCounter, FlowTuple } from '../../../src/conntrack/conntrack.js';
import { ObserveHub } from '../../../src/observe/observe-hub.js';
import type { ObserveEvent } from '../../../src/observe/event-decode.js';
import { evaluateFlow } from '../../../src/policy/reference.js';
import { parseConfig } from '../../../src/control/config.js';

const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

function verdicts(h: Harness, name: string): number[] {
  const i = h.port(name);
  return [...h.security!.sgVerdicts.subarray(i * 4, i * 4 + 4)];
}
const to = (h: Harness, out: { port: number }[]) => out.map((f) => h.topo.instanceNames[f.port]);

/** Flow-log records on instances ("eni action packets"), sorted, and the records for no ENI at all. */
function records(h: Harness): { recs: string[]; skipped: number } {
  const recs: string[] = [];
  const { skipped } = h.flowLog!.drain((eni, _s, _d, _sp, _dp, _p, accept, packets) => {
    if (eni < h.topo.instanceNames.length) recs.push(`${h.topo.instanceNames[eni]} ${accept ? 'ACCEPT' : 'REJECT'} ${packets}`);
  });
  return { recs: recs.sort(), skipped };
}

function observe(h: Harness): { got: ObserveEvent[]; hub: ObserveHub } {
  const p = h.policy!;
  const hub = new ObserveHub(h.dp.events, () => ({ instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: [] }));
  const got: ObserveEvent[] = [];
  hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as ObserveEvent); return true; } });
  return { got, hub };
}

// a (sa) -> private NAT gateway n0 (sn) -> b (sb); the gateway's subnet sends answers for sa through the
// appliance fw (sf, check off), which sends them on to a.
const NATFW = (o: { fwIngress?: string; fwEgress?: string; sfIn?: string; sbIn?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-nat }
  sn: { cidr: 198.18.3.0/24, routeTable: rn }
  sf: { cidr: 198.18.4.0/24, networkAcl: nf }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
natGateways:
  n0: { subnet: sn, type: private, ip: 198.18.3.5 }
routeTables:
  via-nat: { routes: [ { destination: 198.18.2.0/24, target: n0 } ] }
  rn: { routes: [ { destination: 198.18.1.0/24, target: fw } ] }
networkAcls:
  nf:
    inbound: [ { rule: 10, action: ${o.sfIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 60, action: ${o.sbIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: { egress: [ { protocol: tcp, ports: 5432, cidr: 198.18.2.0/24 } ] }
  bg:
    ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.3.5/32 } ]
    egress: []
  fwg:
    ingress: [ ${o.fwIngress ?? '{ protocol: tcp, cidr: 198.18.0.0/16 }'} ]
    egress: [ ${o.fwEgress ?? '{ protocol: tcp, cidr: 198.18.1.0/24 }'} ]
instances:
  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }
  fw: { subnet: sf, ip: 198.18.4.10, securityGroups: [fwg], sourceDestCheck: false }
  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }
`;
const A = '198.18.1.10', B = '198.18.2.20';
const fromA = (flags: number, dst = B) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'a'), dstMac: routerMac('t', 'sa'), src: A, dst, sport: 40000, dport: 5432, flags, seq: 1, ack: 1 });
const fromB = (natPort: number, flags: number) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'b'), dstMac: routerMac('t', 'sb'), src: B, dst: '198.18.3.5', sport: 5432, dport: natPort, flags, seq: 1, ack: 2 });
/** The answer as fw sends it on to a. */
const fromFw = (flags: number) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'fw'), dstMac: routerMac('t', 'sf'), src: B, dst: A, sport: 5432, dport: 40000, flags, seq: 1, ack: 2 });

/** a opens the connection through the gateway; returns the gateway's port for it. */
function open(h: Harness): number {
  const fwd = h.run([{ port: h.port('a'), frame: fromA(TCP_SYN) }]);
  expect(to(h, fwd)).toEqual(['b']);
  return fwd[0]!.frame.readUInt16BE(14 + 20);
}
/** fw's own per-ENI entry for the answer (zone 1 + fw), or -1. */
const fwEntry = (h: Harness) => h.ct!.lookup(ip(B) | 0, ip(A) | 0, 5432, 40000, 6, 1 + h.port('fw'));

describe("a private NAT gateway's answer handed to an appliance: no ENI sends it into the appliance", () => {
  it('[VPC-SGR] a rule of the appliance naming the answering instance\'s group does not match it (as explain says); a CIDR rule does', () => {
    const ref = '{ protocol: tcp, group: bg }';
    const h = new Harness(NATFW({ fwIngress: ref }), { security: true, uplink: true });
    const natPort = open(h);
    expect(h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'fw')).toEqual([0, 0, 0, 1]);
    const e = evaluateFlow(parseConfig(NATFW({ fwIngress: ref }), 't.yaml'), { src: A, dst: B, proto: 6, sport: 40000, dport: 5432 } as never);
    expect([e.verdict, e.reply?.verdict, e.reply?.path.at(-1)?.stage, e.reply?.path.at(-1)?.on]).toEqual(['allow', 'deny', 'sg-ingress', 'fw']);
    const h2 = new Harness(NATFW(), { security: true, uplink: true });
    expect(to(h2, h2.run([{ port: h2.port('b'), frame: fromB(open(h2), TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
  });

  it('[EC2-CT] the appliance judges the answer by its rules as it takes it in and again as it sends it on; the key its entry holds already is no new flow', () => {
    const h = new Harness(NATFW(), { security: true, uplink: true });
    const natPort = open(h);
    const accepted = h.security!.flowsAccepted, collisions = h.ct!.counters[CtCounter.KeyCollisions]!;
    expect(to(h, h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    // fw tracks what it took in, in its own entry
    expect(verdicts(h, 'fw')).toEqual([0, 0, 1, 0]);
    expect(fwEntry(h)).toBeGreaterThanOrEqual(0);
    expect(h.security!.flowsAccepted - accepted).toBe(1);
    // sent on: fw's egress rule admits it; its entry for the same key cannot be made twice
    expect(to(h, h.run([{ port: h.port('fw'), frame: fromFw(TCP_SYN | TCP_ACK) }]))).toEqual(['a']);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    expect(h.ct!.counters[CtCounter.KeyCollisions]! - collisions).toBe(1);
    expect(h.security!.flowsAccepted - accepted).toBe(1);
    expect(h.security!.flowsRejected).toBe(0);
    // a's ENI passes it by its own tracking: no verdict on a
    expect(verdicts(h, 'a')).toEqual([1, 0, 0, 0]);
  });

  it("observers see the appliance's admitting rule on both of its legs", () => {
    const h = new Harness(NATFW(), { security: true, uplink: true });
    const natPort = open(h);
    const { got, hub } = observe(h);
    h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }]);
    hub.drain();
    expect(got.filter((e) => e.type === 'flow')).toMatchObject([{ verdict: 'ACCEPT', stage: 'sg-ingress', instance: 'fw', by: { group: 'fwg', rule: 0 } }]);
    got.length = 0;
    h.run([{ port: h.port('fw'), frame: fromFw(TCP_SYN | TCP_ACK) }]);
    hub.drain();
    expect(got.filter((e) => e.type === 'flow')).toMatchObject([{ verdict: 'ACCEPT', stage: 'sg-egress', instance: 'fw', by: { group: 'fwg', rule: 0 } }]);
  });

  it.each([
    ["the appliance's subnet", { sfIn: 'deny' }, DropReason.Nacl],
    ["the appliance's group", { fwIngress: '{ protocol: udp, cidr: 0.0.0.0/0 }' }, DropReason.Sg],
  ] as const)('[VPC-FL] refused on arrival by %s: REJECT on fw, no record for the gateway\'s side', (_t, o, reason) => {
    const h = new Harness(NATFW(o), { security: true, uplink: true, flowLogs: true });
    const natPort = open(h);
    records(h);
    expect(h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(reason)).toBe(1);
    expect(records(h)).toEqual({ recs: ['b ACCEPT 1', 'fw REJECT 1'], skipped: 0 });
  });

  it('[EC2-CT] an appliance that tracks the answer only as it sends it on judges every answer it takes in by its rules', () => {
    // fw's ingress admits from all addresses and its egress is all-open: untracked as it takes the answer in, tracked as it sends it
    const h = new Harness(NATFW({ fwIngress: '{ protocol: tcp, ports: 40000, cidr: 0.0.0.0/0 }', fwEgress: '{ protocol: all, cidr: 0.0.0.0/0 }' }), { security: true, uplink: true });
    const natPort = open(h);
    expect(to(h, h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    expect(fwEntry(h)).toBe(-1);
    expect(to(h, h.run([{ port: h.port('fw'), frame: fromFw(TCP_SYN | TCP_ACK) }]))).toEqual(['a']);
    const entry = fwEntry(h);
    expect(entry).toBeGreaterThanOrEqual(0);
    // the next answer: fw's entry tracks it as fw's own outbound, not as what fw takes in
    expect(to(h, h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_ACK) }]))).toEqual(['fw']);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 2, 0]);
    expect([...h.security!.sgHits.ingress[h.port('fw')]!]).toEqual([2]);
    expect(h.ct!.pool.packets[entry]).toBe(1);
  });

  it("[EC2-CT] the appliance's entry for what it took in does not pass its own outbound packet when the route then drops it: its egress rules refuse it first", () => {
    const h = new Harness(NATFW({ fwEgress: '{ protocol: udp, cidr: 0.0.0.0/0 }' }), { security: true, uplink: true });
    const natPort = open(h);
    expect(to(h, h.run([{ port: h.port('b'), frame: fromB(natPort, TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    expect(fwEntry(h)).toBeGreaterThanOrEqual(0);
    h.dp.detachPort(h.port('a'));
    expect(h.run([{ port: h.port('fw'), frame: fromFw(TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(h.drops(DropReason.NoDestination)).toBe(0);
    expect(verdicts(h, 'fw')).toEqual([0, 1, 1, 0]);
  });
});

describe('known flows through a NAT gateway (the gateway\'s side of each crossing is -1)', () => {
  it('[VPC-SGR] later packets, from the cached decisions and judged afresh after a reload, count no rule and pass both crossings', () => {
    const h = new Harness(NATFW(), { security: true, uplink: true });
    open(h);
    const hits = () => [[...h.security!.sgHits.egress[h.port('a')]!], [...h.security!.sgHits.ingress[h.port('b')]!]];
    for (let i = 0; i < 2; i++) expect(to(h, h.run([{ port: h.port('a'), frame: fromA(TCP_ACK) }]))).toEqual(['b']);
    expect(hits()).toEqual([[1], [1]]);
    // a new snapshot (counters from zero): judged afresh, then from the new cache
    h.reload(NATFW());
    for (let i = 0; i < 2; i++) expect(to(h, h.run([{ port: h.port('a'), frame: fromA(TCP_ACK) }]))).toEqual(['b']);
    expect(hits()).toEqual([[0], [0]]);
    expect([verdicts(h, 'a'), verdicts(h, 'b')]).toEqual([[0, 0, 0, 0], [0, 0, 0, 0]]);
  });

  it('[VPC-FLX] a known flow refused by the receiver\'s subnet behind the gateway: REJECT on b, no record for the gateway\'s side', () => {
    const h = new Harness(NATFW(), { security: true, uplink: true, flowLogs: true });
    open(h);
    h.reload(NATFW({ sbIn: 'deny' }));
    records(h);
    expect(h.run([{ port: h.port('a'), frame: fromA(TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(1);
    expect(records(h)).toEqual({ recs: ['a ACCEPT 1', 'b REJECT 1'], skipped: 0 });
  });

  it("the gateway's own NACL leg refused by the next subnet's inbound rules: the event names no instance", () => {
    const h = new Harness(NATFW({ sbIn: 'deny' }), { security: true, uplink: true });
    const { got, hub } = observe(h);
    // an address of sb with no instance: the gateway's leg ends at the NACLs
    expect(h.run([{ port: h.port('a'), frame: fromA(TCP_SYN, '198.18.2.99') }])).toHaveLength(0);
    hub.drain();
    expect(got.filter((e) => e.stage === 'nacl-inbound')).toMatchObject([{ verdict: 'REJECT', by: { nacl: 'nb', rule: 60 }, instance: null }]);
  });
});

// c (sa) and o (sb); fw (sf, check off, all-open) when a subnet's route to the other names it.
const ROUTE = (o: { saVia?: boolean; sbVia?: boolean; cIn?: string; cOut?: string; oIn?: string; oOut?: string; fwOut?: string; naOut?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na${o.saVia ? ', routeTable: ra' : ''} }
  sb: { cidr: 198.18.2.0/24${o.sbVia ? ', routeTable: rb' : ''} }
  sf: { cidr: 198.18.3.0/24 }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
  rb: { routes: [ { destination: 198.18.1.0/24, target: fw } ] }
networkAcls:
  na:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: ${o.naOut ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  cg:
    ingress: [ ${o.cIn ?? ''} ]
    egress: [ ${o.cOut ?? '{ protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }'} ]
  og:
    ingress: [ ${o.oIn ?? '{ protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }'} ]
    egress: [ ${o.oOut ?? ''} ]
  fwg:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ ${o.fwOut ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ]
instances:
  c: { subnet: sa, ip: 198.18.1.10, securityGroups: [cg] }
  o: { subnet: sb, ip: 198.18.2.20, securityGroups: [og] }
  fw: { subnet: sf, ip: 198.18.3.10, securityGroups: [fwg], sourceDestCheck: false }
`;
const C = '198.18.1.10', O = '198.18.2.20';
const ALL = '{ protocol: all, cidr: 0.0.0.0/0 }', UDP = '{ protocol: udp, cidr: 0.0.0.0/0 }';
const tcpCO = (from: 'c' | 'fw', flags: number) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'c' ? 'sa' : 'sf'), src: C, dst: O, sport: 40000, dport: 443, flags, seq: 1, ack: 1 });
const tcpOC = (from: 'o' | 'fw', flags: number) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'o' ? 'sb' : 'sf'), src: O, dst: C, sport: 443, dport: 40000, flags, seq: 1, ack: 2 });

describe('the decision cached for a known flow', () => {
  it('[VPC-SGR] the reply of a connection both ENIs track counts no rule on either, judged afresh or from the cache', () => {
    // two rules each on the reply's way (none allows it): a rule slot 1 would show a stray count
    const h = new Harness(ROUTE({
      cIn: '{ protocol: udp, ports: 53, cidr: 198.18.2.0/24 }, { protocol: tcp, ports: 22, cidr: 198.18.2.0/24 }',
      oOut: '{ protocol: udp, ports: 53, cidr: 198.18.1.0/24 }, { protocol: tcp, ports: 22, cidr: 198.18.1.0/24 }',
    }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    for (let i = 0; i < 3; i++) expect(to(h, h.run([{ port: h.port('o'), frame: tcpOC('o', i === 0 ? TCP_SYN | TCP_ACK : TCP_ACK) }]))).toEqual(['c']);
    const g = h.security!.sgHits;
    expect([[...g.egress[h.port('o')]!], [...g.ingress[h.port('c')]!]]).toEqual([[0, 0], [0, 0]]);
    expect([[...g.egress[h.port('c')]!], [...g.ingress[h.port('o')]!]]).toEqual([[1], [1]]);
  });

  it('[VPC-NACL] a known flow refused by the sender\'s subnet does not reach the untracked receiver: its rules count nothing, the drop is the NACL\'s', () => {
    const h = new Harness(ROUTE({ oIn: ALL, oOut: ALL }), { security: true, flowLogs: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    h.reload(ROUTE({ oIn: ALL, oOut: ALL, naOut: 'deny' }));
    records(h);
    for (let i = 0; i < 2; i++) expect(h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(2);
    expect([...h.security!.sgHits.ingress[h.port('o')]!]).toEqual([0]);
    expect(records(h)).toEqual({ recs: ['c REJECT 2'], skipped: 0 });
  });
});

describe.each([
  ["the appliance's own entry (its egress rule is narrow)", '{ protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }', 'fw', 1],
  ["the receiver's entry (the appliance's rules are all-open)", ALL, 'o', 0],
] as const)('per-ENI entries in a reused table slot: %s', (_t, fwOut, owner, fwEntries) => {
  it('[EC2-CT] the entry made in slot 0 counts the packet that made it, and the new flow counts as accepted', () => {
    const h = new Harness(ROUTE({ saVia: true, cOut: ALL, fwOut }), { security: true });
    // a query to fw takes slot 0, c's connection slot 1
    const query = ethIpv4Udp({ srcMac: instanceMac('t', 'c'), dstMac: routerMac('t', 'sa'), src: C, dst: '198.18.3.10', sport: 5353, dport: 53 });
    expect(to(h, h.run([{ port: h.port('c'), frame: query }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['fw']);
    expect(h.ct!.lookup(ip(C) | 0, ip(O) | 0, 40000, 443, 6, 0)).toBe(2);
    // the query's flow ends: slot 0 is the next one handed out
    h.ct!.remove(0);
    const accepted = h.security!.flowsAccepted;
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpCO('fw', TCP_SYN) }]))).toEqual(['o']);
    expect(h.ct!.lookup(ip(C) | 0, ip(O) | 0, 40000, 443, 6, 1 + h.port(owner))).toBe(0);
    expect(h.ct!.pool.packets[0]).toBe(1);
    expect(h.security!.flowsAccepted - accepted).toBe(1 + fwEntries);
  });
});

describe('re-routed connections: an ENI that did not track them judges by its own rules', () => {
  it('[EC2-CT] an untracked receiver reached through an appliance now: its new rules refuse the next packet', () => {
    const h = new Harness(ROUTE({ oIn: ALL, oOut: ALL }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    h.reload(ROUTE({ saVia: true, oIn: UDP, oOut: ALL }));
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_ACK) }]))).toEqual(['fw']);
    expect(h.run([{ port: h.port('fw'), frame: tcpCO('fw', TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'o')).toEqual([0, 0, 0, 1]);
  });

  it('[EC2-CT] an untracked opener whose reply returns through an appliance now: its new rules refuse the reply', () => {
    const h = new Harness(ROUTE({ cIn: ALL, cOut: ALL }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    h.reload(ROUTE({ sbVia: true, cIn: UDP, cOut: ALL }));
    // o passes its reply by its tracking; fw by its all-open rules; c judges it
    expect(to(h, h.run([{ port: h.port('o'), frame: tcpOC('o', TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    expect(h.run([{ port: h.port('fw'), frame: tcpOC('fw', TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'c')).toEqual([0, 0, 0, 1]);
  });
});

describe("the sender's side of packets that end before a receiver", () => {
  it('[EC2-CT] an untracked side whose egress rule went refuses its next packet before the missing destination drops it', () => {
    // c opened it untracked (all-open both ways); o tracks it
    const h = new Harness(ROUTE({ cIn: ALL, cOut: ALL }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    h.reload(ROUTE({ cIn: ALL, cOut: UDP }));
    h.dp.detachPort(h.port('o'));
    expect(h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_ACK) }])).toHaveLength(0);
    expect([h.drops(DropReason.Sg), h.drops(DropReason.NoDestination)]).toEqual([1, 0]);
    expect(verdicts(h, 'c')).toEqual([0, 1, 0, 0]);
    // o answers untracked (all-open both ways) a connection c tracks
    const h2 = new Harness(ROUTE({ oIn: ALL, oOut: ALL }), { security: true });
    expect(to(h2, h2.run([{ port: h2.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
    h2.reload(ROUTE({ oIn: ALL, oOut: UDP }));
    h2.dp.detachPort(h2.port('c'));
    expect(h2.run([{ port: h2.port('o'), frame: tcpOC('o', TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect([h2.drops(DropReason.Sg), h2.drops(DropReason.NoDestination)]).toEqual([1, 0]);
    expect(verdicts(h2, 'o')).toEqual([0, 1, 0, 0]);
  });

  it('[VPC-FL] refused by the sender\'s egress: REJECT on the sender, no record for a receiver', () => {
    const h = new Harness(ROUTE({ cOut: UDP }), { security: true, flowLogs: true });
    h.dp.detachPort(h.port('o'));
    expect(h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }])).toHaveLength(0);
    expect(records(h)).toEqual({ recs: ['c REJECT 1'], skipped: 0 });
    const h2 = new Harness(ROUTE({ cOut: UDP }), { security: true, flowLogs: true });
    expect(h2.run([{ port: h2.port('c'), frame: tcpCO('c', TCP_SYN) }])).toHaveLength(0);
    expect(records(h2)).toEqual({ recs: ['c REJECT 1'], skipped: 0 });
  });

  it('a later fragment of a packet with no route is dropped as a fragment: no rule judges its missing ports', () => {
    const h = new Harness(ROUTE({ cOut: ALL }), { security: true, flowLogs: true });
    const frag = ethIpv4Fragment({ srcMac: instanceMac('t', 'c'), dstMac: routerMac('t', 'sa'), src: C, dst: '203.0.113.9', proto: 17, id: 7, fragOffset: 8, payload: Buffer.alloc(16) });
    expect(h.run([{ port: h.port('c'), frame: frag }])).toHaveLength(0);
    expect([h.drops(DropReason.Fragment), h.drops(DropReason.NoRoute)]).toEqual([1, 0]);
    expect(verdicts(h, 'c')).toEqual([0, 0, 0, 0]);
    expect([...h.security!.sgHits.egress[h.port('c')]!]).toEqual([0]);
  });

  it('from no ENI (a gateway or the outside): only the NACLs judge it', () => {
    const h = new Harness(ROUTE(), { security: true });
    const f = tcpCO('c', TCP_SYN);
    const pkt = new Packet();
    pkt.begin(f, 0, 0, f.length, false);
    expect(pkt.parseIpv4(f.length)).toBe(DropReason.None);
    const sa = h.topo.subnetNames.indexOf('sa');
    expect(h.security!.senderSide(pkt, -1, sa, -1, false, h.now)).toBe(DropReason.None);
    h.reload(ROUTE({ naOut: 'deny' }));
    expect(h.security!.senderSide(pkt, -1, sa, -1, false, h.now)).toBe(DropReason.Nacl);
    expect(verdicts(h, 'c')).toEqual([0, 0, 0, 0]);
  });
});

describe('a new flow whose reply key another entry holds (zone 0)', () => {
  it('[EC2-CT] passes as untracked, judged by the rules: no entry, no refusal, a key collision; observers see an untracked acceptance', () => {
    for (const listening of [true, false]) {
      const h = new Harness(ROUTE(), { security: true });
      // an entry (e.g. restored from a saved state) whose orig key is the new flow's reply key
      const taken = new FlowTuple().set(ip(O), ip(C), 443, 40000, 6, 0);
      expect(h.ct!.create(taken, new FlowTuple().set(ip('198.51.100.1'), ip(O), 1, 2, 6, 0), 0, h.now)).toBe(0);
      const obs = listening ? observe(h) : undefined;
      expect(to(h, h.run([{ port: h.port('c'), frame: tcpCO('c', TCP_SYN) }]))).toEqual(['o']);
      expect(h.ct!.entries).toBe(1);
      expect(h.ct!.counters[CtCounter.KeyCollisions]).toBe(1);
      expect([h.security!.flowsAccepted, h.security!.flowsRejected]).toEqual([0, 0]);
      expect(verdicts(h, 'o')).toEqual([0, 0, 1, 0]);
      if (obs) {
        obs.hub.drain();
        expect(obs.got).toMatchObject([{ type: 'flow', verdict: 'ACCEPT', stage: 'sg-ingress', instance: 'o', tracked: false }]);
      } else {
        expect(h.dp.events.size).toBe(0);
      }
    }
  });
});
