/**
 * The security stage's per-ENI judgement (aws-semantics §1.6, §4): which
 * connection-tracking entry owns a crossing, which ENI tracks a flow as its
 * sender or its receiver, the sender's side of packets that end before a
 * receiver, the middlebox rule for group references, and the flow-log fields
 * the stage writes. Each ENI of interest is also tried as instance 0, so that
 * an index test that forgets instance 0 shows.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Icmp, ethIpv4Tcp, ethIpv4Udp, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { DROP_REASON_COUNT, DropReason } from '../../../src/pipeline/batch.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { SgCounter } from '../../../src/conntrack/sg-stage.js';
import { FlowDir, TrafficPath } from '../../../src/pipeline/flowlog-table.js';

const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

function verdicts(h: Harness, name: string): number[] {
  const i = h.port(name);
  return [...h.security!.sgVerdicts.subarray(i * 4, i * 4 + 4)];
}

function eniDrops(h: Harness, name: string, reason: number): number {
  return h.security!.eniDrops[h.port(name) * DROP_REASON_COUNT + reason]!;
}

/** Instances in the given order (the first is instance 0). */
function instances(order: readonly string[], lines: Record<string, string>): string {
  return order.map((n) => `  ${n}: ${lines[n]}`).join('\n');
}

// o: all-open both ways (its TCP flows are untracked on its ENI); s: a server that admits TCP 443 from sa
// and tracks it. Different subnets, NACLs open.
const PAIR = (order: readonly string[], srvIngress = '{ protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  open:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
  srv:
    ingress: [ ${srvIngress} ]
    egress: []
instances:
${instances(order, { o: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [open] }', s: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }' })}
`;
const O = '198.18.1.10', S = '198.18.2.20';
const fromO = (flags: number, sport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'sa'), src: O, dst: S, sport, dport: 443, flags, seq: 1, ack: 1 });
const fromS = (flags: number, dport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 's'), dstMac: routerMac('t', 'sb'), src: S, dst: O, sport: 443, dport, flags, seq: 1, ack: 2 });

describe.each([['o', 's'], ['s', 'o']] as const)('a connection that owns its crossing (%s is instance 0)', (...order) => {
  it('[EC2-CT] later packets on the untracked side are judged by its rules, but count no new verdict and take no per-ENI entry', () => {
    const h = new Harness(PAIR(order), { security: true });
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_SYN) }])).toHaveLength(1);
    expect(h.ct!.entries).toBe(1);
    expect(verdicts(h, 'o')).toEqual([1, 0, 0, 0]);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    // the reply: s tracks it; o (untracked) admits it by its all-open ingress rule
    expect(h.run([{ port: h.port('s'), frame: fromS(TCP_SYN | TCP_ACK) }]).map((f) => f.port)).toEqual([h.port('o')]);
    // the next segment from o: o's egress rule again, s by tracking
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_ACK) }]).map((f) => f.port)).toEqual([h.port('s')]);
    expect(verdicts(h, 'o')).toEqual([1, 0, 0, 0]);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    expect(h.ct!.entries).toBe(1);
    expect(h.security!.flowsAccepted).toBe(1);
  });

  it('[EC2-CT] an untracked side whose rule goes refuses the next packet of the connection: a refused packet, not a refused flow', () => {
    const h = new Harness(PAIR(order), { security: true, flowLogs: true });
    h.run([{ port: h.port('o'), frame: fromO(TCP_SYN) }]);
    h.run([{ port: h.port('s'), frame: fromS(TCP_SYN | TCP_ACK) }]);
    // o keeps an all-open ingress but now allows only UDP out: its TCP egress was untracked, so it stops at once
    h.reload(PAIR(order).replace('egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]', 'egress: [ { protocol: udp, cidr: 0.0.0.0/0 } ]'));
    h.flowLog!.drain(() => {});
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(eniDrops(h, 'o', DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'o')).toEqual([0, 0, 0, 0]);
    expect(h.security!.flowsRejected).toBe(0);
    const recs: string[] = [];
    h.flowLog!.drain((eni, _s, _d, _sp, _dp, _p, accept) => recs.push(`${h.topo.instanceNames[eni]} ${accept ? 'ACCEPT' : 'REJECT'}`));
    expect(recs).toEqual(['o REJECT']);
    // s's reply still passes by s's tracking; o's ingress is still all-open
    expect(h.run([{ port: h.port('s'), frame: fromS(TCP_ACK) }])).toHaveLength(1);
  });

  it('[EC2-CT] the receiver that tracks a connection admits its packets after its rule goes; the untracked sender does not count them again', () => {
    const h = new Harness(PAIR(order), { security: true });
    h.run([{ port: h.port('o'), frame: fromO(TCP_SYN) }]);
    h.reload(PAIR(order, '{ protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 }'));
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_ACK) }]).map((f) => f.port)).toEqual([h.port('s')]);
    expect(h.run([{ port: h.port('s'), frame: fromS(TCP_ACK) }]).map((f) => f.port)).toEqual([h.port('o')]);
    expect(verdicts(h, 'o')).toEqual([0, 0, 0, 0]);
    expect(verdicts(h, 's')).toEqual([0, 0, 0, 0]);
    expect(h.ct!.entries).toBe(1);
    // a new connection on the same port is refused by s's new rules
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_SYN, 40001) }])).toHaveLength(0);
    expect(verdicts(h, 's')).toEqual([0, 0, 0, 1]);
  });
});

// c (sa) opens flows to s (sb); sb's route table sends the replies to sa through x, whose source/destination
// check is on (a misconfigured appliance); `cEgress` narrows c's egress.
const DETOUR = (order: readonly string[], o: { cEgress?: string; saRoute?: boolean; sxIn?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24${o.saRoute ? ', routeTable: ra' : ''} }
  sb: { cidr: 198.18.2.0/24, routeTable: rb }
  sx: { cidr: 198.18.3.0/24, networkAcl: nx }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: x } ] }
  rb: { routes: [ { destination: 198.18.1.0/24, target: x } ] }
networkAcls:
  nx:
    inbound: [ { rule: 10, action: ${o.sxIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  cg: { egress: [ ${o.cEgress ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ] }
  srv:
    ingress: [ { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 } ]
    egress: []
  xg: {}
instances:
${instances(order, {
    c: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [cg] }',
    s: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }',
    x: '{ subnet: sx, ip: 198.18.3.10, securityGroups: [xg] }',
  })}
`;
const C = '198.18.1.10';
const synCS = (sport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 'c'), dstMac: routerMac('t', 'sa'), src: C, dst: S, sport, dport: 443, flags: TCP_SYN, seq: 1, ack: 0 });
const replySC = (sport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', 's'), dstMac: routerMac('t', 'sb'), src: S, dst: C, sport: 443, dport: sport, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });

describe.each([['s', 'c', 'x'], ['c', 's', 'x'], ['x', 'c', 's']] as const)('the sender\'s side of a packet that ends before a receiver (%s is instance 0)', (...order) => {
  it('[EC2-CT] the reply of a tracked connection needs no egress rule: the route\'s drop is what stops it', () => {
    const h = new Harness(DETOUR(order), { security: true });
    expect(h.run([{ port: h.port('c'), frame: synCS() }]).map((f) => f.port)).toEqual([h.port('s')]);
    // s's egress is empty, but s tracks the connection; x refuses a packet not addressed to it
    expect(h.run([{ port: h.port('s'), frame: replySC() }])).toHaveLength(0);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(1);
    expect(h.drops(DropReason.Sg)).toBe(0);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    // x's subnet refuses it on the way in: the NACL is judged before the check
    const h2 = new Harness(DETOUR(order, { sxIn: 'deny' }), { security: true });
    h2.run([{ port: h2.port('c'), frame: synCS() }]);
    expect(h2.run([{ port: h2.port('s'), frame: replySC() }])).toHaveLength(0);
    expect(h2.drops(DropReason.Nacl)).toBe(1);
    expect(h2.drops(DropReason.SourceDestCheck)).toBe(0);
  });

  it('[VPC-SGR] a packet no connection tracks is judged by the sender\'s egress rules first: refused there, counted on the sender', () => {
    const h = new Harness(DETOUR(order), { security: true, flowLogs: true });
    // s opens a connection of its own (egress []): refused by its group before the route's drop
    const open = ethIpv4Tcp({ srcMac: instanceMac('t', 's'), dstMac: routerMac('t', 'sb'), src: S, dst: C, sport: 5000, dport: 22, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(h.run([{ port: h.port('s'), frame: open }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(0);
    expect(verdicts(h, 's')).toEqual([0, 1, 0, 0]);
    expect(eniDrops(h, 's', DropReason.Sg)).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    const recs: string[] = [];
    h.flowLog!.drain((eni, src, dst, _sp, _dp, _p, accept) => recs.push(`${h.topo.instanceNames[eni]} ${src === ip(S) && dst === ip(C)} ${accept ? 'ACCEPT' : 'REJECT'}`));
    expect(recs).toEqual(['s true REJECT']);
  });

  it('[VPC-SGR] towards an appliance the sender\'s group references do not match; towards the destination itself they do', () => {
    const ref = '{ protocol: tcp, ports: 443, group: srv }';
    // sa's route sends sb through x (its check on): c's rule naming s's group does not match the next hop
    const h = new Harness(DETOUR(order, { cEgress: ref, saRoute: true }), { security: true });
    expect(h.run([{ port: h.port('c'), frame: synCS() }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(0);
    expect(verdicts(h, 'c')).toEqual([0, 1, 0, 0]);
    // the local route to s, whose port is gone: the rule matches s; the packet has no destination
    const h2 = new Harness(DETOUR(order, { cEgress: ref }), { security: true });
    h2.dp.detachPort(h2.port('s'));
    expect(h2.run([{ port: h2.port('c'), frame: synCS() }])).toHaveLength(0);
    expect(h2.drops(DropReason.NoDestination)).toBe(1);
    expect(h2.drops(DropReason.Sg)).toBe(0);
    // and with the port attached, the crossing to s itself: the rule matches, s admits it
    const h3 = new Harness(DETOUR(order, { cEgress: ref }), { security: true });
    expect(h3.run([{ port: h3.port('c'), frame: synCS() }]).map((f) => f.port)).toEqual([h3.port('s')]);
    expect(verdicts(h3, 'c')).toEqual([1, 0, 0, 0]);
  });
});

describe('flow-log fields the security stage writes', () => {
  type Rec = { eni: string; sport: number; dport: number; proto: number; accept: boolean; tcpFlags: number; dir: number; path: number; pktSrc: number; pktDst: number };
  const drain = (h: Harness): Rec[] => {
    const out: Rec[] = [];
    h.flowLog!.drain((eni, _src, _dst, sport, dport, proto, accept, _pk, _by, _f, _l, tcpFlags, dir, path, pktSrc, pktDst) =>
      out.push({ eni: h.topo.instanceNames[eni]!, sport, dport, proto, accept, tcpFlags, dir, path, pktSrc, pktDst }));
    return out.sort((a, b) => a.eni.localeCompare(b.eni));
  };

  it('[VPC-FL] the sender\'s record is egress with the traffic path, the receiver\'s ingress without one; TCP flags as AWS records them', () => {
    const h = new Harness(PAIR(['o', 's']), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('o'), frame: fromO(TCP_SYN) }])).toHaveLength(1);
    const base = { sport: 40000, dport: 443, proto: 6, accept: true, tcpFlags: 2, pktSrc: ip(O), pktDst: ip(S) };
    expect(drain(h)).toEqual([
      { eni: 'o', ...base, dir: FlowDir.Egress, path: TrafficPath.SameVpc },
      { eni: 's', ...base, dir: FlowDir.Ingress, path: TrafficPath.None },
    ]);
    // refused at the receiver: the sender's egress ACCEPT keeps its path, the receiver's ingress REJECT has none
    expect(h.run([{ port: h.port('o'), frame: ethIpv4Tcp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'sa'), src: O, dst: S, sport: 40001, dport: 22, flags: TCP_SYN }) }])).toHaveLength(0);
    expect(drain(h).map((r) => `${r.eni} ${r.accept} ${r.dir} ${r.path} ${r.dport}`)).toEqual([
      `o true ${FlowDir.Egress} ${TrafficPath.SameVpc} 22`, `s false ${FlowDir.Ingress} ${TrafficPath.None} 22`,
    ]);
  });

  it('[VPC-FL] UDP records carry both ports', () => {
    const h = new Harness(PAIR(['o', 's']).replace('protocol: tcp, ports: 443', 'protocol: udp, ports: 53'), { security: true, flowLogs: true });
    const q = ethIpv4Udp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'sa'), src: O, dst: S, sport: 5353, dport: 53 });
    expect(h.run([{ port: h.port('o'), frame: q }])).toHaveLength(1);
    expect(drain(h).map((r) => `${r.eni} ${r.sport}>${r.dport} ${r.proto} ${r.tcpFlags}`)).toEqual(['o 5353>53 17 0', 's 5353>53 17 0']);
  });
});

// c (sa) and s (sb), appliance fw (sf, check off). `saVia`/`sbVia`: the subnet's route to the other
// goes through fw. `fwEgress`: fw's egress rules (all-open: fw tracks nothing).
const TRIO = (order: readonly string[], o: { saVia?: boolean; sbVia?: boolean; fwEgress?: string; sIngress?: string; cEgress?: string; extra?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24${o.saVia ? ', routeTable: ra' : ''} }
  sb: { cidr: 198.18.2.0/24${o.sbVia ? ', routeTable: rb' : ''} }
  sf: { cidr: 198.18.3.0/24 }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
  rb: { routes: [ { destination: 198.18.1.0/24, target: fw } ] }
securityGroups:
  cg: { egress: [ ${o.cEgress ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ] }
  srv:
    ingress: [ ${o.sIngress ?? '{ protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }'} ]
    egress: []
  fwg:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ ${o.fwEgress ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ]
instances:
${instances(order, {
    c: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [cg] }',
    s: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }',
    fw: '{ subnet: sf, ip: 198.18.3.10, securityGroups: [fwg], sourceDestCheck: false }',
  })}
${o.extra ?? ''}
`;
const tcpCS = (from: 'c' | 'fw', flags: number, sport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'c' ? 'sa' : 'sf'), src: C, dst: S, sport, dport: 443, flags, seq: 1, ack: 1 });
const tcpSC = (from: 's' | 'fw', flags: number, dport = 40000) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 's' ? 'sb' : 'sf'), src: S, dst: C, sport: 443, dport, flags, seq: 1, ack: 2 });
const to = (h: Harness, out: { port: number }[]) => out.map((f) => h.topo.instanceNames[f.port]);

describe.each([['c', 's', 'fw'], ['s', 'c', 'fw'], ['fw', 'c', 's']] as const)('each ENI on a path that changes judges by its own tracking (%s is instance 0)', (...order) => {
  it('[EC2-CT] the reply returns through an appliance: the server and the client pass it by their own tracking, the appliance by its rules', () => {
    const h = new Harness(TRIO(order, { sbVia: true }), { security: true, flowLogs: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
    // s's egress is empty: its tracking passes the reply; fw's ingress is all-open
    expect(to(h, h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    // c's ingress is empty: its tracking passes the reply's second leg
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpSC('fw', TCP_SYN | TCP_ACK) }]))).toEqual(['c']);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    expect(verdicts(h, 'c')).toEqual([1, 0, 0, 0]);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    expect(h.ct!.entries).toBe(1);
    h.flowLog!.drain(() => {});
    // a packet s never answered for: refused by s's empty egress on its way to fw
    expect(h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_SYN, 40001) }])).toHaveLength(0);
    expect(verdicts(h, 's')).toEqual([0, 1, 1, 0]);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(eniDrops(h, 's', DropReason.Sg)).toBe(1);
    // and one fw forwards to c that c never asked for: c's empty ingress refuses it
    expect(h.run([{ port: h.port('fw'), frame: tcpSC('fw', TCP_SYN, 40001) }])).toHaveLength(0);
    expect(verdicts(h, 'c')).toEqual([1, 0, 0, 1]);
    expect(eniDrops(h, 'c', DropReason.Sg)).toBe(1);
  });

  it('[EC2-CT] a connection re-routed through an appliance: the client passes by its tracking, the server admits by its tracking after its rule goes', () => {
    const h = new Harness(TRIO(order), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
    // now sa's route goes through fw, c allows nothing out and s admits only 8443
    h.reload(TRIO(order, { saVia: true, cEgress: '', sIngress: '{ protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 }' }));
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_ACK) }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_ACK) }]))).toEqual(['s']);
    expect(verdicts(h, 'c')).toEqual([0, 0, 0, 0]);
    expect(verdicts(h, 's')).toEqual([0, 0, 0, 0]);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    // c and s passed it by the connection's entry, fw by its all-open rules: no ENI took an entry of its own
    expect(h.ct!.entries).toBe(1);
    // a new connection the same way: refused by c's egress at once
    expect(h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN, 40001) }])).toHaveLength(0);
    expect(verdicts(h, 'c')).toEqual([0, 1, 0, 0]);
  });

  it('[EC2-CT] an appliance that took in a reply as new inbound traffic does not track it as its own outbound: its egress rules judge it', () => {
    const h = new Harness(TRIO(order, { sbVia: true, fwEgress: '{ protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }' }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
    // s's reply enters fw: fw's ingress admits it and fw tracks it (its egress is not all-open)
    expect(to(h, h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_SYN | TCP_ACK) }]))).toEqual(['fw']);
    expect(h.ct!.entries).toBe(2);
    // fw sends it on towards c: its egress allows only 443 towards sb
    expect(h.run([{ port: h.port('fw'), frame: tcpSC('fw', TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    expect(verdicts(h, 'fw')).toEqual([0, 1, 1, 0]);
  });

  it('[EC2-CT] a connection re-routed past the appliance: the new receiver judges it by its own rules and then tracks it itself', () => {
    const h = new Harness(TRIO(order, { saVia: true }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['fw']);
    // sa's route goes straight to s now, and c allows nothing out: c's tracking passes it, s's rules admit it
    h.reload(TRIO(order, { cEgress: '' }));
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_ACK) }]))).toEqual(['s']);
    expect(verdicts(h, 'c')).toEqual([0, 0, 0, 0]);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    expect(h.ct!.entries).toBe(2);
    // s now tracks it on its own: with its rule gone the next packet still passes, and s's reply too
    h.reload(TRIO(order, { cEgress: '', sIngress: '{ protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 }' }));
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_ACK) }]))).toEqual(['s']);
    expect(to(h, h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_ACK) }]))).toEqual(['c']);
    expect(verdicts(h, 's')).toEqual([0, 0, 0, 0]);
  });

  it('[EC2-CT] an appliance whose rules track its leg: later packets both ways pass by its tracking after its rule goes', () => {
    const fwEgress = '{ protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }';
    const h = new Harness(TRIO(order, { saVia: true, sbVia: true, fwEgress }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_SYN) }]))).toEqual(['s']);
    // zone 0 (c -> fw), fw's own entry (its egress rule is narrow) and s's
    expect(h.ct!.entries).toBe(3);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    h.reload(TRIO(order, { saVia: true, sbVia: true, fwEgress: '' }));
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_ACK) }]))).toEqual(['s']);
    expect(verdicts(h, 'fw')).toEqual([0, 0, 0, 0]);
    // s's reply goes back through fw: fw takes it in and sends it on by its tracking, no rule judged
    expect(to(h, h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_ACK) }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpSC('fw', TCP_ACK) }]))).toEqual(['c']);
    expect(verdicts(h, 'fw')).toEqual([0, 0, 0, 0]);
    expect(h.ct!.entries).toBe(3);
  });
});

// a (sa) -> appliance fw (sf) -> private NAT gateway n0 (sn) -> b (sb). fw's groups are all-open.
const VIA_NAT = (order: readonly string[], fwEgress = '{ protocol: all, cidr: 0.0.0.0/0 }') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: ra }
  sf: { cidr: 198.18.4.0/24, routeTable: rf }
  sn: { cidr: 198.18.3.0/24 }
  sb: { cidr: 198.18.2.0/24 }
natGateways:
  n0: { subnet: sn, type: private, ip: 198.18.3.5 }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
  rf: { routes: [ { destination: 198.18.2.0/24, target: n0 } ] }
securityGroups:
  ag: {}
  fwg:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ ${fwEgress} ]
  bg: { ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.3.5/32 } ] }
instances:
${instances(order, {
    a: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }',
    fw: '{ subnet: sf, ip: 198.18.4.10, securityGroups: [fwg], sourceDestCheck: false }',
    b: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }',
  })}
`;

describe.each([['a', 'fw', 'b'], ['fw', 'a', 'b']] as const)('an appliance in front of a NAT gateway (%s is instance 0)', (...order) => {
  it('[EC2-CT] a flow through a NAT gateway is tracked on the appliance\'s ENI even where its all-open rules would leave it untracked', () => {
    const h = new Harness(VIA_NAT(order), { security: true, uplink: true });
    const leg = (from: 'a' | 'fw', flags: number) => ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'a' ? 'sa' : 'sf'),
      src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 5432, flags, seq: 1, ack: 1 });
    expect(to(h, h.run([{ port: h.port('a'), frame: leg('a', TCP_SYN) }]))).toEqual(['fw']);
    const before = h.ct!.entries;
    expect(to(h, h.run([{ port: h.port('fw'), frame: leg('fw', TCP_SYN) }]))).toEqual(['b']);
    expect(verdicts(h, 'fw')).toEqual([1, 0, 1, 0]);
    // fw's own entry for its leg to the gateway (and the entries behind the gateway)
    expect(h.ct!.lookup(0xc612010a | 0, 0xc6120214 | 0, 40000, 5432, 6, 1 + h.port('fw'))).toBeGreaterThanOrEqual(0);
    expect(h.ct!.entries).toBeGreaterThan(before);
    // fw's rule goes: its tracking still passes the next packet of the flow
    h.reload(VIA_NAT(order, ''));
    expect(to(h, h.run([{ port: h.port('fw'), frame: leg('fw', TCP_ACK) }]))).toEqual(['b']);
    expect(verdicts(h, 'fw')).toEqual([0, 0, 0, 0]);
  });

  it('[EC2-CT] an appliance at its tracked-connection allowance refuses a new flow towards the gateway: counted, nothing sent', () => {
    const h = new Harness(VIA_NAT(order).replace('sourceDestCheck: false }', 'sourceDestCheck: false, conntrackAllowance: 1 }'), { security: true, uplink: true });
    const leg = (from: 'a' | 'fw', sport: number) => ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'a' ? 'sa' : 'sf'),
      src: '198.18.1.10', dst: '198.18.2.20', sport, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });
    expect(to(h, h.run([{ port: h.port('a'), frame: leg('a', 40000) }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: leg('fw', 40000) }]))).toEqual(['b']);
    expect(to(h, h.run([{ port: h.port('a'), frame: leg('a', 40001) }]))).toEqual(['fw']);
    const rejected = h.security!.flowsRejected;
    expect(h.run([{ port: h.port('fw'), frame: leg('fw', 40001) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.ct!.allowanceExceededPerEni[h.port('fw')]).toBe(1);
    expect(h.security!.flowsRejected - rejected).toBe(1);
  });
});

// a (sa) -> appliance fw (sf) -> b (sb); sb's route back to sa names x (sx), whose check is on.
const BEHIND = (order: readonly string[], sxIn = 'allow') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: ra }
  sf: { cidr: 198.18.3.0/24 }
  sb: { cidr: 198.18.2.0/24, routeTable: rb }
  sx: { cidr: 198.18.4.0/24, networkAcl: nx }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
  rb: { routes: [ { destination: 198.18.1.0/24, target: x } ] }
networkAcls:
  nx:
    inbound: [ { rule: 10, action: ${sxIn}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: {}
  fwg: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  bg:
    ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 } ]
    egress: []
  xg: {}
instances:
${instances(order, {
    a: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }',
    fw: '{ subnet: sf, ip: 198.18.3.10, securityGroups: [fwg], sourceDestCheck: false }',
    b: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }',
    x: '{ subnet: sx, ip: 198.18.4.10, securityGroups: [xg] }',
  })}
`;

describe.each([['a', 'fw', 'b', 'x'], ['b', 'a', 'fw', 'x']] as const)('a receiver that tracks a connection on its own entry (%s is instance 0)', (...order) => {
  const leg = (from: 'a' | 'fw') => ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', from === 'a' ? 'sa' : 'sf'),
    src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 5432, flags: TCP_SYN, seq: 1, ack: 0 });
  const answer = ethIpv4Tcp({ srcMac: instanceMac('t', 'b'), dstMac: routerMac('t', 'sb'), src: '198.18.2.20', dst: '198.18.1.10', sport: 5432, dport: 40000, flags: TCP_SYN | TCP_ACK, seq: 1, ack: 2 });

  it('[EC2-CT] answers by its tracking when the route then drops the answer: the drop is the route\'s (or the next NACL\'s), not its group\'s', () => {
    const h = new Harness(BEHIND(order), { security: true, flowLogs: true });
    expect(to(h, h.run([{ port: h.port('a'), frame: leg('a') }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: leg('fw') }]))).toEqual(['b']);
    h.flowLog!.drain(() => {});
    // b's egress is empty, but b tracks the connection in its own entry; x refuses what is not addressed to it
    expect(h.run([{ port: h.port('b'), frame: answer }])).toHaveLength(0);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(1);
    expect(h.drops(DropReason.Sg)).toBe(0);
    expect(verdicts(h, 'b')).toEqual([0, 0, 1, 0]);
    expect(h.security!.flowsRejected).toBe(0);
    // x's subnet refuses it on the way in: the NACL's drop, recorded on b where it left
    const h2 = new Harness(BEHIND(order, 'deny'), { security: true, flowLogs: true });
    h2.run([{ port: h2.port('a'), frame: leg('a') }]);
    h2.run([{ port: h2.port('fw'), frame: leg('fw') }]);
    h2.flowLog!.drain(() => {});
    expect(h2.run([{ port: h2.port('b'), frame: answer }])).toHaveLength(0);
    expect(h2.drops(DropReason.Nacl)).toBe(1);
    expect(h2.drops(DropReason.Sg)).toBe(0);
    expect(verdicts(h2, 'b')).toEqual([0, 0, 1, 0]);
    expect(eniDrops(h2, 'b', DropReason.Nacl)).toBe(1);
  });
});

describe.each([['o', 's'], ['s', 'o']] as const)('security-group rule hits and ICMP tracking (%s is instance 0)', (...order) => {
  it('[VPC-SGR] the rule that admits a packet counts it; an ENI that tracks the connection counts no rule for its later packets', () => {
    const h = new Harness(PAIR(order), { security: true });
    const hits = () => {
      const g = h.security!.sgHits;
      return { oOut: [...g.egress[h.port('o')]!], oIn: [...g.ingress[h.port('o')]!], sIn: [...g.ingress[h.port('s')]!] };
    };
    h.run([{ port: h.port('o'), frame: fromO(TCP_SYN) }]);
    expect(hits()).toEqual({ oOut: [1], oIn: [0], sIn: [1] });
    // o's side is untracked: each later packet is admitted by o's rule again (judged, then from the cached decision)
    h.run([{ port: h.port('o'), frame: fromO(TCP_ACK) }]);
    h.run([{ port: h.port('o'), frame: fromO(TCP_ACK) }]);
    h.run([{ port: h.port('s'), frame: fromS(TCP_ACK) }]);
    h.run([{ port: h.port('s'), frame: fromS(TCP_ACK) }]);
    expect(hits()).toEqual({ oOut: [3], oIn: [2], sIn: [1] });
  });

  it('[EC2-CT] ICMP is always tracked: the echo reply passes by tracking, and a ping that a route drops is judged by the ICMP rule it matches', () => {
    const icmp = '{ protocol: icmp, icmpType: 8, cidr: 198.18.1.0/24 }';
    const h = new Harness(PAIR(order, icmp), { security: true });
    const ping = (seq: number) => ethIpv4Icmp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'sa'), src: O, dst: S, type: 8, code: 0, id: 77, seq });
    const pong = (seq: number) => ethIpv4Icmp({ srcMac: instanceMac('t', 's'), dstMac: routerMac('t', 'sb'), src: S, dst: O, type: 0, code: 0, id: 77, seq });
    expect(to(h, h.run([{ port: h.port('o'), frame: ping(1) }]))).toEqual(['s']);
    // s's egress is empty: only its tracking passes the reply
    expect(to(h, h.run([{ port: h.port('s'), frame: pong(1) }]))).toEqual(['o']);
    expect(to(h, h.run([{ port: h.port('o'), frame: ping(2) }]))).toEqual(['s']);
    expect(to(h, h.run([{ port: h.port('s'), frame: pong(2) }]))).toEqual(['o']);
    expect(h.ct!.entries).toBe(1);
    expect(verdicts(h, 's')).toEqual([0, 0, 1, 0]);
    // an echo reply s never answered for is refused
    expect(h.run([{ port: h.port('s'), frame: ethIpv4Icmp({ srcMac: instanceMac('t', 's'), dstMac: routerMac('t', 'sb'), src: S, dst: O, type: 0, code: 0, id: 78, seq: 1 }) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    // c's egress allows only echo requests: a ping out of the VPC passes it and has no route
    const h2 = new Harness(DETOUR(['c', 's', 'x'], { cEgress: '{ protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 }' }), { security: true });
    const out = ethIpv4Icmp({ srcMac: instanceMac('t', 'c'), dstMac: routerMac('t', 'sa'), src: C, dst: '203.0.113.9', type: 8, code: 0, id: 5, seq: 1 });
    expect(h2.run([{ port: h2.port('c'), frame: out }])).toHaveLength(0);
    expect(h2.drops(DropReason.NoRoute)).toBe(1);
    expect(h2.drops(DropReason.Sg)).toBe(0);
  });
});

// a (sa) -> private NAT gateway n0 (sn) -> b (sb). The gateway has no group: its side of each crossing is -1.
const NATNET = (order: readonly string[], o: { snOut?: string; snIn?: string; sbIn?: string; bIngress?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-nat }
  sn: { cidr: 198.18.3.0/24, networkAcl: nn }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
natGateways:
  n0: { subnet: sn, type: private, ip: 198.18.3.5 }
routeTables:
  via-nat: { routes: [ { destination: 198.18.2.0/24, target: n0 } ] }
networkAcls:
  nn:
    inbound: [ { rule: 10, action: ${o.snIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: ${o.snOut ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 10, action: ${o.sbIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: { egress: [ { protocol: tcp, ports: 5432, cidr: 198.18.2.0/24 } ] }
  bg:
    ingress: [ ${o.bIngress ?? '{ protocol: tcp, ports: 5432, cidr: 198.18.3.5/32 }'} ]
    egress: []
instances:
${instances(order, { a: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }', b: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }' })}
`;

describe.each([['a', 'b'], ['b', 'a']] as const)('crossings where one side is a NAT gateway (%s is instance 0)', (...order) => {
  const out = (flags: number) => ethIpv4Tcp({ srcMac: instanceMac('t', 'a'), dstMac: routerMac('t', 'sa'), src: '198.18.1.10', dst: '198.18.2.20', sport: 40000, dport: 5432, flags, seq: 1, ack: 1 });
  const back = (natPort: number, flags: number) => ethIpv4Tcp({ srcMac: instanceMac('t', 'b'), dstMac: routerMac('t', 'sb'), src: '198.18.2.20', dst: '198.18.3.5', sport: 5432, dport: natPort, flags, seq: 1, ack: 2 });
  const natPortOf = (f: { frame: Buffer }) => f.frame.readUInt16BE(14 + 20);
  const instanceRecords = (h: Harness) => {
    const recs: string[] = [];
    const { skipped } = h.flowLog!.drain((eni, _s, _d, _sp, _dp, _p, accept, packets) => {
      if (eni < h.topo.instanceNames.length) recs.push(`${h.topo.instanceNames[eni]} ${accept ? 'ACCEPT' : 'REJECT'} ${packets}`);
    });
    return { recs: recs.sort(), skipped };
  };

  it('[EC2-CT] the gateway\'s side judges nothing and logs nothing: both directions pass, later packets from the cached decisions, each rule counted once', () => {
    const h = new Harness(NATNET(order), { security: true, uplink: true, flowLogs: true });
    const fwd = h.run([{ port: h.port('a'), frame: out(TCP_SYN) }]);
    expect(to(h, fwd)).toEqual(['b']);
    const natPort = natPortOf(fwd[0]!);
    for (let i = 0; i < 3; i++) {
      expect(to(h, h.run([{ port: h.port('b'), frame: back(natPort, TCP_ACK) }]))).toEqual(['a']);
      expect(to(h, h.run([{ port: h.port('a'), frame: out(TCP_ACK) }]))).toEqual(['b']);
    }
    expect(instanceRecords(h)).toEqual({ recs: ['a ACCEPT 4', 'a ACCEPT 3', 'b ACCEPT 4', 'b ACCEPT 3'].sort(), skipped: 0 });
    const g = h.security!.sgHits;
    expect([...g.egress[h.port('a')]!]).toEqual([1]);
    expect([...g.ingress[h.port('b')]!]).toEqual([1]);
  });

  it('[VPC-FLX] refused on arrival behind the gateway (b\'s subnet, b\'s group): REJECT on b only, the drop counted on b', () => {
    for (const o of [{ sbIn: 'deny' }, { bIngress: '{ protocol: tcp, ports: 22, cidr: 198.18.3.5/32 }' }]) {
      const h = new Harness(NATNET(order, o), { security: true, uplink: true, flowLogs: true });
      expect(h.run([{ port: h.port('a'), frame: out(TCP_SYN) }])).toHaveLength(0);
      const { recs, skipped } = instanceRecords(h);
      expect(recs).toEqual(['a ACCEPT 1', 'b REJECT 1']);
      expect(skipped).toBe(0);
      expect(eniDrops(h, 'b', 'sbIn' in o ? DropReason.Nacl : DropReason.Sg)).toBe(1);
      expect(eniDrops(h, 'a', DropReason.Nacl) + eniDrops(h, 'a', DropReason.Sg)).toBe(0);
    }
  });

  it('[VPC-NACL] packets of a known flow refused by the gateway\'s subnet: on the way in the drop stays on the sender, on the way out it is the gateway\'s', () => {
    const h = new Harness(NATNET(order), { security: true, uplink: true, flowLogs: true });
    const fwd = h.run([{ port: h.port('a'), frame: out(TCP_SYN) }]);
    const natPort = natPortOf(fwd[0]!);
    expect(to(h, h.run([{ port: h.port('b'), frame: back(natPort, TCP_ACK) }]))).toEqual(['a']);
    h.flowLog!.drain(() => {});
    // the gateway's subnet admits nothing in: a's next packet left a and was refused on arrival
    h.reload(NATNET(order, { snIn: 'deny' }));
    expect(h.run([{ port: h.port('a'), frame: out(TCP_ACK) }])).toHaveLength(0);
    expect(eniDrops(h, 'a', DropReason.Nacl)).toBe(1);
    expect(instanceRecords(h)).toEqual({ recs: ['a ACCEPT 1'], skipped: 0 });
    // nothing out: b's answer enters the gateway, and is refused leaving its subnet towards a
    h.reload(NATNET(order, { snOut: 'deny' }));
    expect(h.run([{ port: h.port('b'), frame: back(natPort, TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(2);
    expect(instanceRecords(h)).toEqual({ recs: ['b ACCEPT 1'], skipped: 0 });
  });
});

describe.each([['c', 's', 'fw'], ['fw', 's', 'c'], ['s', 'c', 'fw']] as const)('per-ENI entries on an appliance\'s path (%s is instance 0)', (...order) => {
  const fwEgress = '{ protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }';
  const entry = (h: Harness, zone: number) => h.ct!.lookup(ip(C) | 0, ip(S) | 0, 40000, 443, 6, zone);

  it('[EC2-CT] each ENI\'s entry counts the packets that crossed it; an ENI with no entry of its own takes none', () => {
    const h = new Harness(TRIO(order, { saVia: true, fwEgress }), { security: true });
    h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]);
    h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_SYN) }]);
    h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_ACK) }]);
    h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_ACK) }]);
    const zone0 = entry(h, 0), fwRef = entry(h, 1 + h.port('fw')), sRef = entry(h, 1 + h.port('s'));
    expect([zone0 >= 0, fwRef >= 0, sRef >= 0, entry(h, 1 + h.port('c'))]).toEqual([true, true, true, -1]);
    const packets = h.ct!.pool.packets;
    // the connection's entry sees both legs; fw's and s's their own
    expect([packets[zone0], packets[fwRef], packets[sRef]]).toEqual([4, 2, 2]);
  });

  it('[EC2-CT] a receiver at its tracked-connection allowance refuses the forwarded flow its entry would track: counted, nothing sent', () => {
    const yaml = TRIO(order, { saVia: true }).replace('securityGroups: [srv] }', 'securityGroups: [srv], conntrackAllowance: 1 }');
    const h = new Harness(yaml, { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['fw']);
    expect(to(h, h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_SYN) }]))).toEqual(['s']);
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN, 40001) }]))).toEqual(['fw']);
    expect(h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_SYN, 40001) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.ct!.allowanceExceededPerEni[h.port('s')]).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    expect(h.security!.flowsAccepted).toBe(3);
  });

  it('[EC2-CT] the table full when the appliance\'s own entry is needed: refused and counted, nothing sent', () => {
    const h = new Harness(TRIO(order, { saVia: true, fwEgress, extra: 'conntrack: { max: 1 }' }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['fw']);
    expect(h.run([{ port: h.port('fw'), frame: tcpCS('fw', TCP_SYN) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    expect(h.security!.flowsAccepted).toBe(1);
  });
});

describe('a full connection table', () => {
  it('[EC2-CT] a new flow that needs an entry is refused and counted as a rejected flow', () => {
    const h = new Harness(TRIO(['c', 's', 'fw'], { extra: 'conntrack: { max: 1 }' }), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
    expect(h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN, 40001) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.security!.flowsRejected).toBe(1);
    expect(h.security!.flowsAccepted).toBe(1);
  });
});

describe.each([['c', 's', 'fw'], ['fw', 'c', 's']] as const)('group references on an appliance\'s path (%s is instance 0)', (...order) => {
  it('[VPC-SGR] the sender\'s egress rule naming the destination\'s group does not match towards the appliance; the receiver\'s naming the source\'s group does not match what the appliance forwards', () => {
    // c's only egress rule names s's group: towards fw (the next hop) it does not match
    const h = new Harness(TRIO(order, { saVia: true, cEgress: '{ protocol: tcp, ports: 443, group: srv }' }), { security: true });
    expect(h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }])).toHaveLength(0);
    expect(verdicts(h, 'c')).toEqual([0, 1, 0, 0]);
    // s's only ingress rule names c's group: what fw forwards from c does not match it
    const h2 = new Harness(TRIO(order, { saVia: true, sIngress: '{ protocol: tcp, ports: 443, group: cg }' }), { security: true });
    expect(to(h2, h2.run([{ port: h2.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['fw']);
    expect(h2.run([{ port: h2.port('fw'), frame: tcpCS('fw', TCP_SYN) }])).toHaveLength(0);
    expect(verdicts(h2, 's')).toEqual([0, 0, 0, 1]);
    // straight from c, both rules match
    const h3 = new Harness(TRIO(order, { cEgress: '{ protocol: tcp, ports: 443, group: srv }', sIngress: '{ protocol: tcp, ports: 443, group: cg }' }), { security: true });
    expect(to(h3, h3.run([{ port: h3.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
  });
});

describe('conntrack keys of ICMP messages that are no query', () => {
  it('[EC2-CT] tracked by type and code: a later message of the same kind passes by tracking whatever its bytes 4-5 hold', () => {
    const h = new Harness(PAIR(['o', 's'], '{ protocol: icmp, cidr: 198.18.1.0/24 }'), { security: true });
    // parameter problem (type 12): byte 4 is a pointer, not an identifier
    const pp = (pointer: number) => ethIpv4Icmp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'sa'), src: O, dst: S, type: 12, code: 0, id: pointer << 8, seq: 0 });
    expect(to(h, h.run([{ port: h.port('o'), frame: pp(1) }]))).toEqual(['s']);
    expect(h.ct!.entries).toBe(1);
    // s's rule goes; the next parameter problem (another pointer) is the same tracked flow on s
    h.reload(PAIR(['o', 's'], '{ protocol: tcp, ports: 1, cidr: 198.18.1.0/24 }'));
    expect(to(h, h.run([{ port: h.port('o'), frame: pp(9) }]))).toEqual(['s']);
    expect(h.ct!.entries).toBe(1);
    expect(verdicts(h, 's')).toEqual([0, 0, 0, 0]);
  });
});

describe('rule hits of later packets, from the decision cached with the new flow', () => {
  const yaml = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  cg: { egress: [ { protocol: tcp, ports: 443, cidr: 198.18.2.0/24 }, { protocol: tcp, ports: 8443, cidr: 198.18.2.0/24 } ], ingress: [] }
  srv: { ingress: [ { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }, { protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 } ], egress: [] }
  open:
    ingress: [ { protocol: udp, ports: 53, cidr: 0.0.0.0/0 }, { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
instances:
  c: { subnet: sa, ip: 198.18.1.10, securityGroups: [cg] }
  s: { subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }
  o: { subnet: sb, ip: 198.18.2.30, securityGroups: [open] }
`;
  it('[VPC-SGR] ENIs that track the flow count no rule for its later packets; an untracked receiver counts the rule that admits each one', () => {
    const h = new Harness(yaml, { security: true });
    const g = h.security!.sgHits;
    const seg = (dst: string, flags: number) => ethIpv4Tcp({ srcMac: instanceMac('t', 'c'), dstMac: routerMac('t', 'sa'), src: C, dst, sport: 40000, dport: 443, flags, seq: 1, ack: 1 });
    for (let i = 0; i < 3; i++) expect(to(h, h.run([{ port: h.port('c'), frame: seg(S, i === 0 ? TCP_SYN : TCP_ACK) }]))).toEqual(['s']);
    expect([[...g.egress[h.port('c')]!], [...g.ingress[h.port('s')]!]]).toEqual([[1, 0], [1, 0]]);
    // to o, whose all-open rules leave the flow untracked on its ENI: its rule 1 admits every packet
    for (let i = 0; i < 3; i++) expect(to(h, h.run([{ port: h.port('c'), frame: seg('198.18.2.30', i === 0 ? TCP_SYN : TCP_ACK) }]))).toEqual(['o']);
    expect([[...g.egress[h.port('c')]!], [...g.ingress[h.port('o')]!]]).toEqual([[2, 0], [0, 3]]);
  });
});

describe('the decision cache over the whole connection table', () => {
  const yaml = (max: number, saIn = '{ rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 }', sbIn = 'allow') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
networkAcls:
  na:
    inbound: [ ${saIn} ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 10, action: ${sbIn}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  cg: { ingress: [] }
  srv: { ingress: [ { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 } ], egress: [] }
instances:
  c: { subnet: sa, ip: 198.18.1.10, securityGroups: [cg] }
  s: { subnet: sb, ip: 198.18.2.20, securityGroups: [srv] }
conntrack: { max: ${max} }
`;
  it('[VPC-NACL] a flow in a reused table slot has its reply judged afresh, not by the decision cached for the slot\'s last flow', () => {
    // sa admits replies to port 40000 only
    const h = new Harness(yaml(1, '{ rule: 10, action: allow, protocol: tcp, ports: 40000, cidr: 0.0.0.0/0 }'), { security: true });
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN) }]))).toEqual(['s']);
    expect(to(h, h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_SYN | TCP_ACK) }]))).toEqual(['c']);
    // the flow idles out; the next one takes its slot
    h.ct!.sweep(h.now + 10 * 86_400_000, 100, () => {});
    expect(h.ct!.entries).toBe(0);
    expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN, 40100) }]))).toEqual(['s']);
    expect(h.run([{ port: h.port('s'), frame: tcpSC('s', TCP_SYN | TCP_ACK, 40100) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(1);
  });

  it('[VPC-FLX] every flow of a full table keeps its own decision and counts: refused on arrival, logged and counted where it was refused', () => {
    const h = new Harness(yaml(2), { security: true, flowLogs: true });
    for (const sport of [40000, 40001]) expect(to(h, h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_SYN, sport) }]))).toEqual(['s']);
    for (const sport of [40000, 40001]) {
      const ref = h.ct!.lookup(ip(C) | 0, ip(S) | 0, sport, 443, 6, 0);
      expect(h.ct!.pool.packets[ref]).toBe(1);
    }
    h.reload(yaml(2, undefined, 'deny'));
    h.flowLog!.drain(() => {});
    for (let i = 0; i < 2; i++) for (const sport of [40000, 40001]) expect(h.run([{ port: h.port('c'), frame: tcpCS('c', TCP_ACK, sport) }])).toHaveLength(0);
    expect(eniDrops(h, 's', DropReason.Nacl)).toBe(4);
    const recs: string[] = [];
    h.flowLog!.drain((eni, _s, _d, sport, _dp, _p, accept, packets) => recs.push(`${h.topo.instanceNames[eni]} ${sport} ${accept ? 'ACCEPT' : 'REJECT'} ${packets}`));
    expect(recs.sort()).toEqual(['c 40000 ACCEPT 2', 'c 40001 ACCEPT 2', 's 40000 REJECT 2', 's 40001 REJECT 2']);
  });
});
