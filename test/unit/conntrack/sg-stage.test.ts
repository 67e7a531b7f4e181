/**
 * The security stage's bookkeeping on the packet path, exactly: verdict
 * counters per ENI and direction, flows accepted and rejected, and the flow-log
 * records (which ENI, which action, every field) for allowed, untracked and
 * refused flows (egress, NACL at either side, ingress), refused packets of
 * known flows, the sender-side judgement of packets with no route, and a policy
 * swap. The ENIs under test are not instance 0, so index arithmetic shows.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Icmp, ethIpv4Tcp, ethIpv4Udp, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { DROP_REASON_COUNT, DropReason } from '../../../src/pipeline/batch.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { SgCounter } from '../../../src/conntrack/sg-stage.js';

const YAML = (naclOut = 'allow', extraClientEgress = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sz: { cidr: 198.18.9.0/24 }
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
networkAcls:
  na:
    outbound:
      - { rule: 10, action: deny, protocol: tcp, ports: 25, cidr: 0.0.0.0/0 }
      - { rule: 20, action: ${naclOut}, protocol: all, cidr: 0.0.0.0/0 }
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound:
      - { rule: 10, action: deny, protocol: tcp, ports: 8443, cidr: 0.0.0.0/0 }
      - { rule: 20, action: allow, protocol: all, cidr: 0.0.0.0/0 }
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  client:
    egress:
      - { protocol: tcp, ports: 1-1000, cidr: 198.18.0.0/16 }
      - { protocol: tcp, ports: 8443, cidr: 198.18.0.0/16 }
      - { protocol: icmp, cidr: 198.18.0.0/16 }
      - { protocol: udp, ports: 53, cidr: 0.0.0.0/0 }
${extraClientEgress}
  server:
    ingress:
      - { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }
      - { protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 }
      - { protocol: icmp, icmpType: 8, cidr: 198.18.1.0/24 }
  open:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
instances:
  z0: { subnet: sz, ip: 198.18.9.10, securityGroups: [open] }
  z1: { subnet: sz, ip: 198.18.9.11, securityGroups: [open] }
  c1: { subnet: sa, ip: 198.18.1.10, securityGroups: [client] }
  s1: { subnet: sb, ip: 198.18.2.20, securityGroups: [server] }
  u1: { subnet: sb, ip: 198.18.2.30, securityGroups: [open] }
`;
const C1 = '198.18.1.10', S1 = '198.18.2.20', U1 = '198.18.2.30';
const MC = instanceMac('t', 'c1'), MS = instanceMac('t', 's1'), RA = routerMac('t', 'sa'), RB = routerMac('t', 'sb');
const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

function syn(dport: number, dst = S1, sport = 40000) {
  return ethIpv4Tcp({ srcMac: MC, dstMac: RA, src: C1, dst, sport, dport, flags: TCP_SYN, seq: 1, ack: 0 });
}

type Rec = { eni: string; src: number; dst: number; sport: number; dport: number; proto: number; action: string; packets: number; bytes: number };
function records(h: Harness): Rec[] {
  const out: Rec[] = [];
  h.flowLog!.drain((eni, src, dst, sport, dport, proto, accept, packets, bytes) =>
    out.push({ eni: h.topo.instanceNames[eni]!, src, dst, sport, dport, proto, action: accept ? 'ACCEPT' : 'REJECT', packets, bytes }));
  return out.sort((a, b) => a.eni.localeCompare(b.eni));
}

/** vpcd_eni_drops_total for one ENI and reason. */
function eniDrops(h: Harness, name: string, reason: number): number {
  return h.security!.eniDrops[h.port(name) * DROP_REASON_COUNT + reason]!;
}

function verdicts(h: Harness, name: string): number[] {
  const i = h.port(name);
  return [...h.security!.sgVerdicts.subarray(i * 4, i * 4 + 4)];
}

describe('security stage bookkeeping', () => {
  it('an allowed new flow: one allow per side, accepted once, an ACCEPT record with every field on both ENIs', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    const f = syn(443);
    expect(h.run([{ port: h.port('c1'), frame: f }])).toHaveLength(1);
    const v = verdicts(h, 'c1'), w = verdicts(h, 's1');
    expect(v[SgCounter.EgressAllow]).toBe(1);
    expect(v[SgCounter.EgressDeny]).toBe(0);
    expect(w[SgCounter.IngressAllow]).toBe(1);
    expect(w[SgCounter.IngressDeny]).toBe(0);
    expect(verdicts(h, 'z0')).toEqual([0, 0, 0, 0]);
    expect(h.security!.flowsAccepted).toBe(1);
    expect(h.security!.flowsRejected).toBe(0);
    const rec = { src: ip(C1), dst: ip(S1), sport: 40000, dport: 443, proto: 6, action: 'ACCEPT', packets: 1, bytes: f.length - 14 };
    expect(records(h)).toEqual([{ eni: 'c1', ...rec }, { eni: 's1', ...rec }]);
    // the reply of the tracked flow: no new verdicts, no new flow, logged on both ENIs
    const reply = ethIpv4Tcp({ srcMac: MS, dstMac: RB, src: S1, dst: C1, sport: 443, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 9, ack: 2 });
    expect(h.run([{ port: h.port('s1'), frame: reply }])).toHaveLength(1);
    expect(h.security!.flowsAccepted).toBe(1);
    expect(verdicts(h, 's1')[SgCounter.EgressDeny]).toBe(0);
    expect(records(h).map((r) => `${r.eni} ${r.sport}>${r.dport} ${r.action}`)).toEqual(['c1 443>40000 ACCEPT', 's1 443>40000 ACCEPT']);
  });

  it('ICMP records carry no ports', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    const f = ethIpv4Icmp({ srcMac: MC, dstMac: RA, src: C1, dst: S1, type: 8, code: 0, id: 77, seq: 1 });
    expect(h.run([{ port: h.port('c1'), frame: f }])).toHaveLength(1);
    for (const r of records(h)) expect([r.sport, r.dport, r.proto]).toEqual([0, 0, 1]);
  });

  it('refused by the sender\'s egress: counted there, REJECT on the sender only', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('c1'), frame: syn(2000) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'c1')[SgCounter.EgressDeny]).toBe(1);
    expect(verdicts(h, 'c1')[SgCounter.EgressAllow]).toBe(0);
    expect(verdicts(h, 's1')).toEqual([0, 0, 0, 0]);
    expect(h.security!.flowsRejected).toBe(1);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 REJECT']);
  });

  it('refused by the receiver\'s ingress: ACCEPT where it left, REJECT where it arrived', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('c1'), frame: syn(80) }])).toHaveLength(0);
    expect(verdicts(h, 's1')[SgCounter.IngressDeny]).toBe(1);
    expect(verdicts(h, 's1')[SgCounter.IngressAllow]).toBe(0);
    expect(verdicts(h, 'c1')[SgCounter.EgressAllow]).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 ACCEPT', 's1 REJECT']);
  });

  it('refused by a NACL: at the sender\'s subnet REJECT on the sender; at the receiver\'s, ACCEPT then REJECT', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true, slots: 8 });
    expect(h.run([{ port: h.port('c1'), frame: syn(25) }])).toHaveLength(0);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 REJECT']);
    expect(h.run([{ port: h.port('c1'), frame: syn(8443) }])).toHaveLength(0);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 ACCEPT', 's1 REJECT']);
    expect(h.drops(DropReason.Nacl)).toBe(2);
    expect(h.security!.flowsRejected).toBe(2);
    expect(h.security!.flowsAccepted).toBe(0);
  });

  it('untracked on both ENIs (all-open rules): accepted and logged, but no connection-tracking entry', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    const f = ethIpv4Udp({ srcMac: instanceMac('t', 'z0'), dstMac: routerMac('t', 'sz'), src: '198.18.9.10', dst: U1, sport: 5000, dport: 6000 });
    expect(h.run([{ port: h.port('z0'), frame: f }])).toHaveLength(1);
    expect(h.ct!.entries).toBe(0);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['u1 ACCEPT', 'z0 ACCEPT']);
    // a tracked one does take an entry
    expect(h.run([{ port: h.port('c1'), frame: syn(443) }])).toHaveLength(1);
    expect(h.ct!.entries).toBe(1);
  });

  it('a known flow refused after a NACL change: ACCEPT where it left, REJECT where it was refused', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('c1'), frame: syn(443) }])).toHaveLength(1);
    records(h);
    h.reload(YAML().replace('{ rule: 20, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n    outbound: [ { rule: 10',
      '{ rule: 20, action: deny, protocol: all, cidr: 0.0.0.0/0 }\n    outbound: [ { rule: 10'));
    const ack = ethIpv4Tcp({ srcMac: MC, dstMac: RA, src: C1, dst: S1, sport: 40000, dport: 443, flags: TCP_ACK, seq: 2, ack: 10 });
    expect(h.run([{ port: h.port('c1'), frame: ack }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(1);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 ACCEPT', 's1 REJECT']);
    // refused at the sender's side instead: REJECT on the sender only
    h.reload(YAML('deny'));
    expect(h.run([{ port: h.port('c1'), frame: ack }])).toHaveLength(0);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 REJECT']);
  });

  it('no route: the sender\'s side is judged first (egress, then its NACL), then the route drop', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    // UDP 53 to an address outside the VPC: egress allows, NACL allows, no route
    const out = ethIpv4Udp({ srcMac: MC, dstMac: RA, src: C1, dst: '203.0.113.9', sport: 5353, dport: 53 });
    expect(h.run([{ port: h.port('c1'), frame: out }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
    expect(records(h)).toEqual([]);
    // TCP 443 outside the VPC: the egress rule covers 198.18.0.0/16 only
    expect(h.run([{ port: h.port('c1'), frame: syn(443, '203.0.113.9') }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'c1')[SgCounter.EgressDeny]).toBe(1);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 REJECT']);
    // port 25 passes the egress rule only with an extra one; then the NACL refuses it
    const h2 = new Harness(YAML('allow', '      - { protocol: tcp, ports: 25, cidr: 0.0.0.0/0 }'), { security: true, flowLogs: true });
    expect(h2.run([{ port: h2.port('c1'), frame: syn(25, '203.0.113.9') }])).toHaveLength(0);
    expect(h2.drops(DropReason.Nacl)).toBe(1);
    expect(records(h2).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 REJECT']);
  });

  it('a policy swap hands back the old verdict counters and starts from zero for every ENI', () => {
    const h = new Harness(YAML(), { security: true });
    h.run([{ port: h.port('c1'), frame: syn(443) }]);
    const old = h.security!.sgVerdicts;
    const p2 = h.policy!;
    const r = h.security!.setPolicy(p2);
    expect(r.sgVerdicts).toBe(old);
    expect(old[h.port('c1') * 4 + SgCounter.EgressAllow]).toBe(1);
    expect(h.security!.sgVerdicts).not.toBe(old);
    expect(h.security!.sgVerdicts.length).toBe(h.topo.instanceNames.length * 4);
    expect([...h.security!.sgVerdicts].every((x) => x === 0)).toBe(true);
    expect(r.naclHits).not.toBe(h.security!.naclHits);
  });
});

// A -> appliance fw -> B (sa's route table sends sb through fw); B answers A directly.
// `first`: the instance listed first (index 0), so that an ENI's index 0 counts like any other on each leg.
const LEGS = (o: { fwEgress?: string; bIngress?: string; sfOut?: string; sbIn?: string; extra?: string; first?: 'a' | 'fw' | 'b' } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-fw }
  sf: { cidr: 198.18.3.0/24, networkAcl: nf }
  sb: { cidr: 198.18.2.0/24, networkAcl: nbb }
routeTables:
  via-fw: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
networkAcls:
  nf:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: ${o.sfOut ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
  nbb:
    inbound: [ { rule: 10, action: ${o.sbIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  a: {}
  fw:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ ${o.fwEgress ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ]
  b: { ingress: [ ${o.bIngress ?? '{ protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 }'} ] }
instances:
${legInstances(o.first ?? 'a')}
${o.extra ?? ''}
`;
function legInstances(first: 'a' | 'fw' | 'b'): string {
  const lines: Record<string, string> = {
    a: '  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [a] }',
    fw: '  fw: { subnet: sf, ip: 198.18.3.10, securityGroups: [fw], sourceDestCheck: false }',
    b: '  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [b] }',
  };
  return [first, ...['a', 'fw', 'b'].filter((n) => n !== first)].map((n) => lines[n]).join('\n');
}
const LA = '198.18.1.10', LB = '198.18.2.20';

describe.each(['a', 'fw', 'b'] as const)('security stage bookkeeping on an appliance\'s legs (each ENI judged on its own; %s is instance 0)', (first) => {
  const legSyn = (from: string, sub: string, sport = 40000) =>
    ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', sub), src: LA, dst: LB, sport, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });
  const reply = (sport = 40000) =>
    ethIpv4Tcp({ srcMac: instanceMac('t', 'b'), dstMac: routerMac('t', 'sb'), src: LB, dst: LA, sport: 5432, dport: sport, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });
  const acts = (h: Harness) => records(h).map((r) => `${r.eni} ${r.action}`);

  it('both legs admitted: verdicts per ENI, a per-ENI entry only where the ENI tracks, ACCEPT on each ENI of each leg; the direct reply needs no rule', () => {
    const h = new Harness(LEGS({ first }), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('a'), frame: legSyn('a', 'sa') }]).map((f) => f.port)).toEqual([h.port('fw')]);
    expect(acts(h)).toEqual(['a ACCEPT', 'fw ACCEPT']);
    expect(h.ct!.entries).toBe(1);
    expect(h.run([{ port: h.port('fw'), frame: legSyn('fw', 'sf') }]).map((f) => f.port)).toEqual([h.port('b')]);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    expect(verdicts(h, 'b')).toEqual([0, 0, 1, 0]);
    // fw's all-open rules leave its leg untracked; b tracks the flow in its own entry
    expect(h.ct!.entries).toBe(2);
    expect(h.security!.flowsAccepted).toBe(2);
    expect(h.security!.flowsRejected).toBe(0);
    expect(acts(h)).toEqual(['b ACCEPT', 'fw ACCEPT']);
    // b answers a directly: b's own entry and a's zone-0 entry pass it, no verdict anywhere
    expect(h.run([{ port: h.port('b'), frame: reply() }]).map((f) => f.port)).toEqual([h.port('a')]);
    expect(verdicts(h, 'b')).toEqual([0, 0, 1, 0]);
    expect(verdicts(h, 'a')).toEqual([1, 0, 0, 0]);
    expect(h.security!.flowsAccepted).toBe(2);
    expect(acts(h)).toEqual(['a ACCEPT', 'b ACCEPT']);
    // and the next segment from a again passes every leg by tracking or all-open rules, no new entry
    const ack = ethIpv4Tcp({ srcMac: instanceMac('t', 'a'), dstMac: routerMac('t', 'sa'), src: LA, dst: LB, sport: 40000, dport: 5432, flags: TCP_ACK, seq: 2, ack: 2 });
    expect(h.run([{ port: h.port('a'), frame: ack }])).toHaveLength(1);
    expect(h.run([{ port: h.port('fw'), frame: ethIpv4Tcp({ srcMac: instanceMac('t', 'fw'), dstMac: routerMac('t', 'sf'), src: LA, dst: LB, sport: 40000, dport: 5432, flags: TCP_ACK, seq: 2, ack: 2 }) }])).toHaveLength(1);
    expect(verdicts(h, 'b')).toEqual([0, 0, 1, 0]);
    expect(h.ct!.entries).toBe(2);
  });

  it("refused by the appliance's egress: EgressDeny on fw, REJECT on fw only, one flow rejected", () => {
    const h = new Harness(LEGS({ fwEgress: '{ protocol: udp, ports: 53, cidr: 0.0.0.0/0 }', first }), { security: true, flowLogs: true });
    h.run([{ port: h.port('a'), frame: legSyn('a', 'sa') }]);
    records(h);
    expect(h.run([{ port: h.port('fw'), frame: legSyn('fw', 'sf') }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'fw')).toEqual([0, 1, 1, 0]);
    expect(verdicts(h, 'b')).toEqual([0, 0, 0, 0]);
    expect(h.security!.flowsRejected).toBe(1);
    expect(acts(h)).toEqual(['fw REJECT']);
    expect(h.security!.deniedSources.top(1)).toEqual([{ key: ip(LA), count: 1 }]);
    expect([eniDrops(h, 'fw', DropReason.Sg), eniDrops(h, 'a', DropReason.Sg), eniDrops(h, 'b', DropReason.Sg)]).toEqual([1, 0, 0]);
  });

  it("refused by the receiver's ingress on the forwarded leg: IngressDeny on b, ACCEPT on fw, REJECT on b", () => {
    const h = new Harness(LEGS({ bIngress: '{ protocol: tcp, ports: 22, cidr: 198.51.100.0/24 }', first }), { security: true, flowLogs: true });
    h.run([{ port: h.port('a'), frame: legSyn('a', 'sa') }]);
    records(h);
    expect(h.run([{ port: h.port('fw'), frame: legSyn('fw', 'sf') }])).toHaveLength(0);
    expect(verdicts(h, 'b')).toEqual([0, 0, 0, 1]);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    expect(h.security!.flowsRejected).toBe(1);
    expect(acts(h)).toEqual(['b REJECT', 'fw ACCEPT']);
    expect([eniDrops(h, 'fw', DropReason.Sg), eniDrops(h, 'a', DropReason.Sg), eniDrops(h, 'b', DropReason.Sg)]).toEqual([0, 0, 1]);
  });

  it("refused by a NACL on the forwarded leg: at the appliance's subnet REJECT on fw; at the receiver's, ACCEPT on fw and REJECT on b", () => {
    for (const [o, want, at] of [[{ sfOut: 'deny' }, ['fw REJECT'], 'fw'], [{ sbIn: 'deny' }, ['b REJECT', 'fw ACCEPT'], 'b']] as const) {
      const h = new Harness(LEGS({ ...o, first }), { security: true, flowLogs: true });
      h.run([{ port: h.port('a'), frame: legSyn('a', 'sa') }]);
      records(h);
      expect(h.run([{ port: h.port('fw'), frame: legSyn('fw', 'sf') }])).toHaveLength(0);
      expect(h.drops(DropReason.Nacl)).toBe(1);
      expect(h.security!.flowsRejected).toBe(1);
      expect(acts(h)).toEqual(want);
      expect(h.ct!.entries).toBe(1);
      expect(eniDrops(h, at, DropReason.Nacl)).toBe(1);
    }
  });

  it('the table full on the forwarded leg: the per-ENI entry is refused and counted, nothing is sent', () => {
    const h = new Harness(LEGS({ extra: 'conntrack: { max: 1 }', first }), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('a'), frame: legSyn('a', 'sa') }])).toHaveLength(1);
    expect(h.run([{ port: h.port('fw'), frame: legSyn('fw', 'sf') }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    expect(h.security!.flowsAccepted).toBe(1);
    expect(h.ct!.entries).toBe(1);
  });
});

describe('NACL rule hits of tracked flows', () => {
  it('every packet of a tracked flow counts its NACL rules on both sides, as if judged afresh', () => {
    const h = new Harness(YAML(), { security: true });
    const hits = () => {
      const p = h.policy!, n = h.security!.naclHits;
      const sa = p.subnetNacl[h.topo.subnetNames.indexOf('sa')]!, sb = p.subnetNacl[h.topo.subnetNames.indexOf('sb')]!;
      return [n.outbound[sa]![1], n.inbound[sb]![1]];
    };
    expect(h.run([{ port: h.port('c1'), frame: syn(443) }])).toHaveLength(1);
    expect(hits()).toEqual([1, 1]);
    const ack = ethIpv4Tcp({ srcMac: MC, dstMac: RA, src: C1, dst: S1, sport: 40000, dport: 443, flags: TCP_ACK, seq: 2, ack: 10 });
    expect(h.run([{ port: h.port('c1'), frame: ack }, { port: h.port('c1'), frame: ack }])).toHaveLength(2);
    expect(hits()).toEqual([3, 3]);
  });
});

describe('refused packets of known flows', () => {
  it('count their source among the denied sources but are no rejected flow; the cached refusal counts again on the next packet', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('c1'), frame: syn(443) }])).toHaveLength(1);
    h.reload(YAML().replace('{ rule: 20, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n    outbound: [ { rule: 10',
      '{ rule: 20, action: deny, protocol: all, cidr: 0.0.0.0/0 }\n    outbound: [ { rule: 10'));
    records(h);
    const ack = ethIpv4Tcp({ srcMac: MC, dstMac: RA, src: C1, dst: S1, sport: 40000, dport: 443, flags: TCP_ACK, seq: 2, ack: 10 });
    expect(h.run([{ port: h.port('c1'), frame: ack }])).toHaveLength(0);
    expect(h.run([{ port: h.port('c1'), frame: ack }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(2);
    expect(h.security!.deniedSources.top(1)).toEqual([{ key: ip(C1), count: 2 }]);
    expect(h.security!.flowsRejected).toBe(0);
    expect(h.security!.flowsAccepted).toBe(1);
    // both refusals logged where they happened: left c1, refused at s1
    expect(records(h).map((r) => `${r.eni} ${r.action} ${r.packets}`)).toEqual(['c1 ACCEPT 2', 's1 REJECT 2']);
  });
});

describe('instance 0 is an ENI like any other', () => {
  it('as the sender: its egress verdict and its ACCEPT record count; as the receiver: its ingress verdict and record', () => {
    const h = new Harness(YAML(), { security: true, flowLogs: true });
    expect(h.port('z0')).toBe(0);
    // z0 -> s1:443 is refused by s1's ingress (only 198.18.1.0/24): it left z0
    const f = ethIpv4Tcp({ srcMac: instanceMac('t', 'z0'), dstMac: routerMac('t', 'sz'), src: '198.18.9.10', dst: S1, sport: 40000, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: 0, frame: f }])).toHaveLength(0);
    expect(verdicts(h, 'z0')).toEqual([1, 0, 0, 0]);
    expect(verdicts(h, 's1')).toEqual([0, 0, 0, 1]);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['s1 REJECT', 'z0 ACCEPT']);
    // c1 -> z0:443: admitted by z0's all-open ingress
    expect(h.run([{ port: h.port('c1'), frame: syn(443, '198.18.9.10') }])).toHaveLength(1);
    expect(verdicts(h, 'z0')).toEqual([1, 0, 1, 0]);
    expect(records(h).map((r) => `${r.eni} ${r.action}`)).toEqual(['c1 ACCEPT', 'z0 ACCEPT']);
  });
});
