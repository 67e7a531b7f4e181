/**
 * What the security stage tells observers about its decisions on every leg
 * it judges (aws-semantics §1, §2, §4): the new flow a crossing refused or
 * accepted on an appliance's legs, on the sender's side of a packet that a
 * route drops, and untracked flows, with the stage, the ENI and the rule or
 * implicit deny; and nothing at all while no one listens.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { ObserveHub } from '../../../src/observe/observe-hub.js';
import type { ObserveEvent } from '../../../src/observe/event-decode.js';
import { F, RECORD_WORDS } from '../../../src/observe/event-ring.js';
import { DROP_REASON_COUNT, DropReason } from '../../../src/pipeline/batch.js';

// a (sa) -> appliance fw (sf) -> b (sb); sb's replies to sa go through x (sx, its check on).
const NET = (o: { fwEgress?: string; bIngress?: string; sfOut?: string; sbIn?: string; sxIn?: string; first?: string } = {}) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: ra }
  sf: { cidr: 198.18.3.0/24, networkAcl: nf }
  sb: { cidr: 198.18.2.0/24, routeTable: rb, networkAcl: nb }
  sx: { cidr: 198.18.4.0/24, networkAcl: nx }
  so: { cidr: 198.18.5.0/24 }
routeTables:
  ra: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
  rb: { routes: [ { destination: 198.18.1.0/24, target: x } ] }
networkAcls:
  nf:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 20, action: ${o.sfOut ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 30, action: ${o.sbIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
  nx:
    inbound: [ { rule: 40, action: ${o.sxIn ?? 'allow'}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: {}
  fwg:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ ${o.fwEgress ?? '{ protocol: all, cidr: 0.0.0.0/0 }'} ]
  bg:
    ingress: [ ${o.bIngress ?? '{ protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 }'} ]
    egress: []
  xg: {}
  og:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
    egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
instances:
${[o.first ?? 'a', ...['a', 'fw', 'b', 'x', 'o'].filter((n) => n !== (o.first ?? 'a'))].map((n) => `  ${n}: ${({
    a: '{ subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }',
    fw: '{ subnet: sf, ip: 198.18.3.10, securityGroups: [fwg], sourceDestCheck: false }',
    b: '{ subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }',
    x: '{ subnet: sx, ip: 198.18.4.10, securityGroups: [xg] }',
    o: '{ subnet: so, ip: 198.18.5.10, securityGroups: [og] }',
  } as Record<string, string>)[n]}`).join('\n')}
`;
const A = '198.18.1.10', B = '198.18.2.20';
const sub: Record<string, string> = { a: 'sa', fw: 'sf', b: 'sb', x: 'sx', o: 'so' };
const tcp = (from: string, src: string, dst: string, sport: number, dport: number, flags: number) =>
  ethIpv4Tcp({ srcMac: instanceMac('t', from), dstMac: routerMac('t', sub[from]!), src, dst, sport, dport, flags, seq: 1, ack: 1 });
const legA = (flags = TCP_SYN) => tcp('a', A, B, 40000, 5432, flags);
const legFw = (flags = TCP_SYN) => tcp('fw', A, B, 40000, 5432, flags);

function observe(h: Harness): { got: ObserveEvent[]; hub: ObserveHub } {
  const p = h.policy!;
  const hub = new ObserveHub(h.dp.events, () => ({ instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: [] }));
  const got: ObserveEvent[] = [];
  hub.subscribe(null, { write: (l) => { got.push(JSON.parse(l) as ObserveEvent); return true; } });
  return { got, hub };
}

/** The owner word of every record waiting in the ring (-1: none), read before the hub drains it. */
function owners(h: Harness): number[] {
  const ev = h.dp.events;
  return Array.from({ length: ev.size }, (_, i) => ev.words[i * RECORD_WORDS + F.Owner]!);
}

type Scenario = { name: string; yaml: Parameters<typeof NET>[0]; setup: (h: Harness) => void; frame: (h: Harness) => { port: number; frame: Buffer };
  want: Partial<ObserveEvent>[]; owners: number[] };

const SCENARIOS: Scenario[] = [
  {
    name: "the appliance's egress refuses the forwarded leg: its implicit deny, on fw",
    yaml: { fwEgress: '{ protocol: udp, ports: 53, cidr: 0.0.0.0/0 }' },
    setup: (h) => h.run([{ port: h.port('a'), frame: legA() }]),
    frame: (h) => ({ port: h.port('fw'), frame: legFw() }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'sg-egress', by: { implicit: 'deny' }, code: 'ENI_SG_RULES_MISMATCH', instance: 'fw', dport: 5432 }],
    owners: [-1],
  },
  {
    name: "the receiver's ingress refuses the forwarded leg: its implicit deny, on b",
    yaml: { bIngress: '{ protocol: tcp, ports: 22, cidr: 198.51.100.0/24 }' },
    setup: (h) => h.run([{ port: h.port('a'), frame: legA() }]),
    frame: (h) => ({ port: h.port('fw'), frame: legFw() }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'sg-ingress', by: { implicit: 'deny' }, code: 'ENI_SG_RULES_MISMATCH', instance: 'b' }],
    owners: [-1],
  },
  {
    name: "the appliance's subnet refuses the forwarded leg on the way out: its NACL and rule, on fw",
    yaml: { sfOut: 'deny' },
    setup: (h) => h.run([{ port: h.port('a'), frame: legA() }]),
    frame: (h) => ({ port: h.port('fw'), frame: legFw() }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'nacl-outbound', by: { nacl: 'nf', rule: 20 }, code: 'SUBNET_ACL_RESTRICTION', instance: 'fw' }],
    owners: [1],
  },
  {
    name: "the receiver's subnet refuses the forwarded leg on the way in: its NACL and rule, on b",
    yaml: { sbIn: 'deny' },
    setup: (h) => h.run([{ port: h.port('a'), frame: legA() }]),
    frame: (h) => ({ port: h.port('fw'), frame: legFw() }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'nacl-inbound', by: { nacl: 'nb', rule: 30 }, code: 'SUBNET_ACL_RESTRICTION', instance: 'b' }],
    owners: [0],
  },
  {
    name: 'the forwarded leg admitted: the receiver\'s admitting rule, tracked',
    yaml: {},
    setup: (h) => h.run([{ port: h.port('a'), frame: legA() }]),
    frame: (h) => ({ port: h.port('fw'), frame: legFw() }),
    want: [{ type: 'flow', verdict: 'ACCEPT', stage: 'sg-ingress', by: { group: 'bg', rule: 0 }, instance: 'b', tracked: true }],
    owners: [2],
  },
  {
    name: 'a later packet on the forwarded leg, passed by the tracking of both its ENIs: no new flow',
    yaml: { fwEgress: '{ protocol: tcp, ports: 5432, cidr: 198.18.2.0/24 }' },
    setup: (h) => { h.run([{ port: h.port('a'), frame: legA() }]); h.run([{ port: h.port('fw'), frame: legFw() }]); },
    frame: (h) => ({ port: h.port('fw'), frame: legFw(TCP_ACK) }),
    want: [],
    owners: [],
  },
  {
    name: "a packet the route drops, refused first by the sender's egress: its implicit deny, on b",
    yaml: {},
    setup: () => {},
    frame: (h) => ({ port: h.port('b'), frame: tcp('b', B, A, 5000, 22, TCP_SYN) }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'sg-egress', by: { implicit: 'deny' }, code: 'ENI_SG_RULES_MISMATCH', instance: 'b' }],
    owners: [-1],
  },
  {
    name: "a tracked reply the route drops, refused first by the next subnet's NACL: that NACL and rule",
    yaml: { sxIn: 'deny' },
    setup: (h) => { h.run([{ port: h.port('a'), frame: legA() }]); h.run([{ port: h.port('fw'), frame: legFw() }]); },
    frame: (h) => ({ port: h.port('b'), frame: tcp('b', B, A, 5432, 40000, TCP_SYN | TCP_ACK) }),
    want: [{ type: 'flow', verdict: 'REJECT', stage: 'nacl-inbound', by: { nacl: 'nx', rule: 40 }, code: 'SUBNET_ACL_RESTRICTION', instance: null }],
    owners: [2],
  },
  {
    name: 'an untracked flow (all-open rules both ways): accepted with the admitting rule, not tracked',
    yaml: {},
    setup: () => {},
    frame: (h) => ({ port: h.port('o'), frame: ethIpv4Udp({ srcMac: instanceMac('t', 'o'), dstMac: routerMac('t', 'so'), src: '198.18.5.10', dst: '198.18.3.10', sport: 5000, dport: 6000 }) }),
    want: [{ type: 'flow', verdict: 'ACCEPT', stage: 'sg-ingress', by: { group: 'fwg', rule: 0 }, instance: 'fw', tracked: false }],
    owners: [1],
  },
];

describe.each(['a', 'b', 'fw'])('security-stage events on every leg (%s is instance 0)', (first) => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const h = new Harness(NET({ ...s.yaml, first }), { security: true });
    s.setup(h);
    const { got, hub } = observe(h);
    h.run([s.frame(h)]);
    const groupIdx = (n: number) => n;
    // the owner word: the group or NACL index (policy order), -1 for an implicit deny
    const p = h.policy!;
    const wantOwners = s.owners.map((o, i) => {
      const w = s.want[i]!;
      const by = w.by as { nacl?: string; group?: string } | undefined;
      if (by?.nacl !== undefined) return p.naclNames.indexOf(by.nacl);
      if (by?.group !== undefined) return p.sgNames.indexOf(by.group);
      return groupIdx(o);
    });
    expect(owners(h)).toEqual(wantOwners);
    hub.drain();
    expect(got).toHaveLength(s.want.length);
    s.want.forEach((w, i) => expect(got[i]).toMatchObject(w));
    // the same packet with no one listening: nothing is written
    const h2 = new Harness(NET({ ...s.yaml, first }), { security: true });
    s.setup(h2);
    h2.run([s.frame(h2)]);
    expect(h2.dp.events.size).toBe(0);
    expect(h2.dp.events.lostTotal).toBe(0);
  });
});

describe.each(['a', 'b'])('events for packets of known flows and the NAT gateway\'s own NACL legs (%s is instance 0)', (first) => {
  const direct = (sbIn: string, saOut = 'allow') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
networkAcls:
  na:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 50, action: ${saOut}, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 60, action: ${sbIn}, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: {}
  bg: { ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 } ] }
instances:
${first === 'a' ? `  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }\n  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }` : `  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }\n  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }`}
`;
  it.each([['allow', 'deny', 'nacl-inbound', 'nb', 60, 'b'], ['deny', 'allow', 'nacl-outbound', 'na', 50, 'a']] as const)(
    'a known flow refused by a NACL change: a drop event naming the side that refused it (sb inbound %s, sa outbound %s)', (saOut, sbIn, stage, nacl, rule, instance) => {
      const h = new Harness(direct('allow'), { security: true, flowLogs: true });
      const s = tcp('a', A, B, 40000, 5432, TCP_SYN);
      expect(h.run([{ port: h.port('a'), frame: s }])).toHaveLength(1);
      h.reload(direct(sbIn, saOut));
      for (let i = 0; i < 2; i++) {
        const { got, hub } = observe(h);
        expect(h.run([{ port: h.port('a'), frame: tcp('a', A, B, 40000, 5432, TCP_ACK) }])).toHaveLength(0);
        hub.drain();
        // the first packet judged afresh, the second from the cached decision: the same event
        expect(got).toHaveLength(1);
        expect(got[0]).toMatchObject({ type: 'drop', verdict: 'REJECT', reason: 'nacl', stage, by: { nacl, rule }, code: 'SUBNET_ACL_RESTRICTION', instance });
        hub.closeAll();
      }
      // nobody listening: nothing written
      expect(h.run([{ port: h.port('a'), frame: tcp('a', A, B, 40000, 5432, TCP_ACK) }])).toHaveLength(0);
      expect(h.dp.events.size).toBe(0);
      // the three drops are counted on the ENI that refused them, and logged there (having left a when b refused them)
      expect(h.security!.eniDrops[h.port(instance) * DROP_REASON_COUNT + DropReason.Nacl]).toBe(3);
      const recs: string[] = [];
      h.flowLog!.drain((eni, _s, _d, _sp, dport, _p, accept, packets) => { if (dport === 5432) recs.push(`${h.topo.instanceNames[eni]} ${accept ? 'ACCEPT' : 'REJECT'} ${packets}`); });
      expect(recs.sort()).toEqual(instance === 'b' ? ['a ACCEPT 4', 'b ACCEPT 1', 'b REJECT 3'] : ['a ACCEPT 1', 'a REJECT 3', 'b ACCEPT 1']);
    });

  it("the NAT gateway's subnet refuses a translated packet on its way out: a NACL event with no instance (the gateway's side)", () => {
    const yaml = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, routeTable: via-nat }
  sn: { cidr: 198.18.3.0/24, networkAcl: nn }
  sb: { cidr: 198.18.2.0/24 }
natGateways:
  n0: { subnet: sn, type: private, ip: 198.18.3.5 }
routeTables:
  via-nat: { routes: [ { destination: 198.18.2.0/24, target: n0 } ] }
networkAcls:
  nn:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 70, action: deny, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: {}
  bg: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
${first === 'a' ? `  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }\n  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }` : `  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }\n  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }`}
`;
    // to b (the crossing into b) and to an address with no instance (the gateway's own NACL leg before the drop)
    for (const dst of [B, '198.18.2.99']) {
      const h = new Harness(yaml, { security: true, uplink: true });
      const { got, hub } = observe(h);
      expect(h.run([{ port: h.port('a'), frame: tcp('a', A, dst, 40000, 5432, TCP_SYN) }])).toHaveLength(0);
      hub.drain();
      const nacls = got.filter((e) => e.stage === 'nacl-outbound');
      expect(nacls).toHaveLength(1);
      expect(nacls[0]).toMatchObject({ verdict: 'REJECT', by: { nacl: 'nn', rule: 70 }, code: 'SUBNET_ACL_RESTRICTION', instance: null, dst });
    }
  });
});

describe.each(['a', 'b'])('events for new flows on a single crossing (%s is instance 0)', (first) => {
  const yaml = (naclOut = 'allow') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
networkAcls:
  na:
    inbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 50, action: ${naclOut}, protocol: all, cidr: 0.0.0.0/0 } ]
  nb:
    inbound: [ { rule: 60, action: deny, protocol: tcp, ports: 8443, cidr: 0.0.0.0/0 }, { rule: 70, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
securityGroups:
  ag: { egress: [ { protocol: tcp, ports: 5432, cidr: 198.18.2.0/24 }, { protocol: tcp, ports: 8443, cidr: 198.18.2.0/24 }, { protocol: tcp, ports: 9000, cidr: 198.18.2.0/24 } ] }
  bg: { ingress: [ { protocol: tcp, ports: 5432, cidr: 198.18.1.0/24 } ] }
instances:
${first === 'a' ? `  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }\n  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }` : `  b: { subnet: sb, ip: 198.18.2.20, securityGroups: [bg] }\n  a: { subnet: sa, ip: 198.18.1.10, securityGroups: [ag] }`}
`;
  it.each([
    ['the sender\'s egress refuses it: its implicit deny, on a', 'allow', 22, { stage: 'sg-egress', by: { implicit: 'deny' }, instance: 'a' }, 'implicit'],
    ['the sender\'s subnet refuses it: its NACL and rule, on a', 'deny', 5432, { stage: 'nacl-outbound', by: { nacl: 'na', rule: 50 }, instance: 'a' }, 'na'],
    ['the receiver\'s subnet refuses it: its NACL and rule, on b', 'allow', 8443, { stage: 'nacl-inbound', by: { nacl: 'nb', rule: 60 }, instance: 'b' }, 'nb'],
    ['the receiver\'s group refuses it: its implicit deny, on b', 'allow', 9000, { stage: 'sg-ingress', by: { implicit: 'deny' }, instance: 'b' }, 'implicit'],
  ] as const)('%s; nothing without a subscriber', (_t, naclOut, dport, want, owner) => {
    const h = new Harness(yaml(naclOut), { security: true, flowLogs: true });
    const { got, hub } = observe(h);
    expect(h.run([{ port: h.port('a'), frame: tcp('a', A, B, 40000, dport, TCP_SYN) }])).toHaveLength(0);
    expect(owners(h)).toEqual([owner === 'implicit' ? -1 : h.policy!.naclNames.indexOf(owner)]);
    hub.drain();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'flow', verdict: 'REJECT', ...want });
    // refused where it arrived: it left a (ACCEPT on a), REJECT on b; else REJECT on a only
    const recs: string[] = [];
    h.flowLog!.drain((eni, _s, _d, _sp, _dp, _p, accept) => recs.push(`${h.topo.instanceNames[eni]} ${accept ? 'ACCEPT' : 'REJECT'}`));
    expect(recs.sort()).toEqual(want.instance === 'b' ? ['a ACCEPT', 'b REJECT'] : ['a REJECT']);
    const h2 = new Harness(yaml(naclOut), { security: true });
    expect(h2.run([{ port: h2.port('a'), frame: tcp('a', A, B, 40000, dport, TCP_SYN) }])).toHaveLength(0);
    expect(h2.dp.events.size).toBe(0);
  });
});
