/**
 * Security groups, NACLs and connection tracking on the packet path (in
 * memory, real frames). Each case names the AWS behaviour it checks.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, ethIpv4Udp, ethIpv4Icmp, ethIpv4IcmpError, ethIpv4Fragment, TCP_SYN, TCP_ACK } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';
import { SgCounter } from '../../../src/conntrack/sg-stage.js';

const base = (sgs: string, nacls = '', extra = '') => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 ${nacls.includes('nacl-a') ? ', networkAcl: nacl-a' : ''} }
  sb: { cidr: 198.18.2.0/24 ${nacls.includes('nacl-b') ? ', networkAcl: nacl-b' : ''} }
${sgs}
${nacls}
instances:
  c1: { subnet: sa, ip: 198.18.1.10, securityGroups: [client] }
  c2: { subnet: sa, ip: 198.18.1.11, securityGroups: [client] }
  s1: { subnet: sb, ip: 198.18.2.20, securityGroups: [server] }
${extra}
`;

const MAC = (i: string) => instanceMac('t', i);
const R = (s: string) => routerMac('t', s);

function tcp(from: 'c1' | 'c2' | 's1', src: string, dst: string, sport: number, dport: number, flags = TCP_ACK) {
  return ethIpv4Tcp({ srcMac: MAC(from), dstMac: R(from === 's1' ? 'sb' : 'sa'), src, dst, sport, dport, flags, seq: 1, ack: 1 });
}
const C1 = '198.18.1.10', C2 = '198.18.1.11', S1 = '198.18.2.20';

const SG_WEB = `
securityGroups:
  client: {}
  server:
    ingress:
      - { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }
    egress: []
`;

describe('security groups on the packet path', () => {
  it('[VPC-SGR] a new flow needs the sender egress AND the receiver ingress', () => {
    const h = new Harness(base(SG_WEB), { security: true });
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }])).toHaveLength(1);
    // receiver ingress missing (port 22 not allowed)
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40001, 22, TCP_SYN) }])).toHaveLength(0);
    expect(h.drops(DropReason.Sg)).toBe(1);
    // sender egress missing: server has egress [] so it cannot open flows even where the client would accept
    const h2 = new Harness(base(SG_WEB.replace('client: {}', 'client: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }')), { security: true });
    expect(h2.run([{ port: h2.port('s1'), frame: tcp('s1', S1, C1, 5000, 80, TCP_SYN) }])).toHaveLength(0);
    expect(h2.security!.sgVerdicts[h2.port('s1') * 4 + SgCounter.EgressDeny]).toBe(1);
  });

  it('[EC2-CT] the reply of a tracked flow passes with no rule (server egress is empty)', () => {
    const h = new Harness(base(SG_WEB), { security: true });
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    const out = h.run([{ port: h.port('s1'), frame: tcp('s1', S1, C1, 443, 40000, TCP_SYN | TCP_ACK) }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(h.port('c1'));
    expect(h.ct!.entries).toBe(1);
  });

  it('[VPC-SGR] a rule referencing a group matches its members by private IP', () => {
    const sgs = `
securityGroups:
  client: {}
  server:
    ingress: [ { protocol: tcp, ports: 443, group: client } ]
  other: {}
`;
    const h = new Harness(base(sgs, '', '  o1: { subnet: sa, ip: 198.18.1.30, securityGroups: [other] }'), { security: true });
    expect(h.run([{ port: h.port('c2'), frame: tcp('c2', C2, S1, 40000, 443, TCP_SYN) }])).toHaveLength(1);
    const o1 = ethIpv4Tcp({ srcMac: MAC('o1'), dstMac: R('sa'), src: '198.18.1.30', dst: S1, sport: 40000, dport: 443, flags: TCP_SYN });
    expect(h.run([{ port: h.port('o1'), frame: o1 }])).toHaveLength(0);
  });

  it('[EC2-CT] removing a rule keeps a tracked flow, and refuses a new one', () => {
    const h = new Harness(base(SG_WEB), { security: true });
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    h.run([{ port: h.port('s1'), frame: tcp('s1', S1, C1, 443, 40000, TCP_SYN | TCP_ACK) }]);
    h.reload(base(SG_WEB.replace('- { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }', '- { protocol: tcp, ports: 8443, cidr: 198.18.1.0/24 }')));
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(1);
    expect(h.run([{ port: h.port('s1'), frame: tcp('s1', S1, C1, 443, 40000) }])).toHaveLength(1);
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40002, 443, TCP_SYN) }])).toHaveLength(0);
  });

  it('[EC2-CT] an untracked flow (all-open rules both ways) is cut at once when its rule goes', () => {
    const open = `
securityGroups:
  client: {}
  server:
    ingress: [ { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ]
    egress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
`;
    const h = new Harness(base(open), { security: true });
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(1);
    h.reload(base(open.replace('ports: 443', 'ports: 8443')));
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(0);
    // ...whereas with a narrow source the same flow is tracked and survives
    const narrow = open.replace('cidr: 0.0.0.0/0 } ]\n    egress', 'cidr: 198.18.1.10/32 } ]\n    egress');
    const h2 = new Harness(base(narrow), { security: true });
    h2.run([{ port: h2.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    h2.reload(base(narrow.replace('ports: 443', 'ports: 8443')));
    expect(h2.run([{ port: h2.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(1);
  });

  it('[EC2-MTU] an ICMP fragmentation-needed error for a tracked flow needs an explicit inbound rule', () => {
    const h = new Harness(base(SG_WEB), { security: true });
    const syn = tcp('c1', C1, S1, 40000, 443, TCP_SYN);
    h.run([{ port: h.port('c1'), frame: syn }]);
    // the server side answers with frag-needed quoting the client's segment: server egress is empty
    // but an error is no part of the tracked TCP flow... on the server it is a new ICMP flow.
    const err = ethIpv4IcmpError({ srcMac: MAC('s1'), dstMac: R('sb'), src: S1, dst: C1, type: 3, code: 4, rest: 1400, original: syn });
    expect(h.run([{ port: h.port('s1'), frame: err }])).toHaveLength(0);
    const allowErr = SG_WEB.replace('egress: []', 'egress: [ { protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 0.0.0.0/0 } ]')
      .replace('client: {}', 'client: { ingress: [ { protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 0.0.0.0/0 } ] }');
    const h2 = new Harness(base(allowErr), { security: true });
    h2.run([{ port: h2.port('c1'), frame: syn }]);
    expect(h2.run([{ port: h2.port('s1'), frame: err }])).toHaveLength(1);
  });

  it('conntrack.max reached: new flows dropped and counted, tracked flows keep working', () => {
    const h = new Harness(base(SG_WEB, '', 'conntrack: { max: 2 }'), { security: true });
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40001, 443, TCP_SYN) }]);
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40002, 443, TCP_SYN) }])).toHaveLength(0);
    expect(h.drops(DropReason.ConntrackFull)).toBe(1);
    expect(h.ct!.allowanceExceeded).toBe(1);
    expect(h.run([{ port: h.port('s1'), frame: tcp('s1', S1, C1, 443, 40001, TCP_SYN | TCP_ACK) }])).toHaveLength(1);
  });

  it('later fragments follow the verdict of their first fragment', () => {
    const sgs = SG_WEB.replace('- { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 }', '- { protocol: udp, ports: 53, cidr: 198.18.1.0/24 }');
    const h = new Harness(base(sgs), { security: true });
    const udp = ethIpv4Udp({ srcMac: MAC('c1'), dstMac: R('sa'), src: C1, dst: S1, sport: 5000, dport: 53, id: 77, payload: Buffer.alloc(16) });
    const first = Buffer.from(udp);
    first[14 + 6] = 0x20; // MF
    const ipcs = (b: Buffer) => { b.writeUInt16BE(0, 24); let s = 0; for (let i = 14; i < 34; i += 2) s += b.readUInt16BE(i); while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); b.writeUInt16BE(~s & 0xffff, 24); };
    ipcs(first);
    const later = ethIpv4Fragment({ srcMac: MAC('c1'), dstMac: R('sa'), src: C1, dst: S1, proto: 17, id: 77, fragOffset: 8, payload: Buffer.alloc(8) });
    const stray = ethIpv4Fragment({ srcMac: MAC('c1'), dstMac: R('sa'), src: C1, dst: S1, proto: 17, id: 78, fragOffset: 8, payload: Buffer.alloc(8) });
    expect(h.run([{ port: h.port('c1'), frame: first }])).toHaveLength(1);
    expect(h.run([{ port: h.port('c1'), frame: later }])).toHaveLength(1);
    expect(h.run([{ port: h.port('c1'), frame: stray }])).toHaveLength(0);
    expect(h.drops(DropReason.Fragment)).toBe(1);
  });
});

describe('network ACLs on the packet path', () => {
  const OPEN = `
securityGroups:
  client: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  server: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
`;
  it('[VPC-NACL] lowest rule number first: a deny before a broader allow wins', () => {
    const nacl = `
networkAcls:
  nacl-b:
    inbound:
      - { rule: 200, action: allow, protocol: tcp, ports: 1-65535, cidr: 0.0.0.0/0 }
      - { rule: 100, action: deny, protocol: tcp, ports: 22, cidr: 198.18.1.10/32 }
    outbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
`;
    const h = new Harness(base(OPEN, nacl), { security: true });
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 22, TCP_SYN) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(1);
    expect(h.run([{ port: h.port('c2'), frame: tcp('c2', C2, S1, 40000, 22, TCP_SYN) }])).toHaveLength(1);
    const hits = h.security!.naclHits.inbound[h.policy!.subnetNacl[1]]!;
    // compiled in rule order: slot 0 = rule 100 (deny), slot 1 = rule 200 (allow)
    expect(hits[0]).toBe(1);
    expect(hits[1]).toBe(1);
  });

  it('[VPC-NACL] stateless: the reply to an ephemeral port needs its own rule (the classic mistake)', () => {
    const nacl = `
networkAcls:
  nacl-b:
    inbound: [ { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ]
`;
    const h = new Harness(base(OPEN, nacl), { security: true, flowLogs: true });
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }])).toHaveLength(1);
    expect(h.run([{ port: h.port('s1'), frame: tcp('s1', S1, C1, 443, 40000, TCP_SYN | TCP_ACK) }])).toHaveLength(0);
    expect(h.drops(DropReason.Nacl)).toBe(1);
    // flow logs: on s1 the request is ACCEPT (inbound), the reply REJECT (refused leaving the subnet)
    const recs: string[] = [];
    h.flowLog!.drain((eni, src, dst, sp, dp, proto, accept) => recs.push(`${h.topo.instanceNames[eni]} ${sp}>${dp} ${proto} ${accept ? 'ACCEPT' : 'REJECT'}`));
    expect(recs).toContain('s1 40000>443 6 ACCEPT');
    expect(recs).toContain('s1 443>40000 6 REJECT');
    expect(recs).toContain('c1 40000>443 6 ACCEPT');
  });

  it('[VPC-NACL] not applied between two instances of the same subnet', () => {
    const nacl = `
networkAcls:
  nacl-a: { inbound: [], outbound: [] }
`;
    const h = new Harness(base(OPEN, nacl), { security: true });
    const f = ethIpv4Icmp({ srcMac: MAC('c1'), dstMac: R('sa'), src: C1, dst: C2, type: 8, code: 0, id: 1, seq: 1 });
    expect(h.run([{ port: h.port('c1'), frame: f }])).toHaveLength(1);
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 22, TCP_SYN) }])).toHaveLength(0);
  });

  it('[VPC-NACL] a NACL change breaks an existing connection at once', () => {
    const allowAll = `
networkAcls:
  nacl-b:
    inbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
`;
    const h = new Harness(base(OPEN, allowAll), { security: true });
    h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443, TCP_SYN) }]);
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(1);
    h.reload(base(OPEN, allowAll.replace('inbound: [ { rule: 100, action: allow', 'inbound: [ { rule: 100, action: deny')));
    expect(h.run([{ port: h.port('c1'), frame: tcp('c1', C1, S1, 40000, 443) }])).toHaveLength(0);
  });
});
