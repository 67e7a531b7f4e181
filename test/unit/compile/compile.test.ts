import { describe, expect, it } from 'vitest';
import { NO_MATCH } from '../../../src/acl/nacl-compile.js';
import { SgOriginKind, isUntrackedFlow, sgL4Value } from '../../../src/conntrack/sg-compile.js';
import { CompiledPolicy, compileSnapshot, shadowedNaclRules } from '../../../src/control/compile.js';
import { parseConfig } from '../../../src/control/config.js';
import { Target } from '../../../src/control/topology.js';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0) >>> 0;

// The example of docs/config.md, trimmed to what compile reads, plus a prefix list.
const YAML = `
vpc: { name: demo, cidr: 198.18.0.0/16 }
subnets:
  public-a:  { cidr: 198.18.1.0/24, routeTable: public, networkAcl: public-nacl }
  private-a: { cidr: 198.18.2.0/24, routeTable: private, networkAcl: private-nacl }
  other-a:   { cidr: 198.18.3.0/24 }
networkAcls:
  public-nacl:
    inbound:
      - { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
      - { rule: 110, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 }
      - { rule: 90,  action: deny,  protocol: all, cidr: 203.0.113.66/32 }
      - { rule: 120, action: allow, protocol: tcp, ports: 8080, cidr: 203.0.113.0/24 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
  private-nacl:
    inbound:  [ { rule: 100, action: allow, protocol: all, cidr: 198.18.0.0/16 } ]
    outbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
prefixLists:
  partners: { cidrs: [198.51.100.0/24, 203.0.113.128/25] }
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
      - { protocol: tcp, ports: 22, group: bastion }
      - { protocol: icmp, icmpType: 8, cidr: 198.18.0.0/16 }
      - { protocol: tcp, ports: 8443, prefixList: partners }
      - { protocol: all, cidr: "::/0" }
  db:
    ingress:
      - { protocol: tcp, ports: 5432, group: web }
    egress: []
  bastion:
    ingress: [ { protocol: tcp, ports: 22, cidr: 198.51.100.0/24 } ]
instances:
  web-1: { subnet: public-a, ip: 198.18.1.10, securityGroups: [web] }
  web-2: { subnet: public-a, ip: 198.18.1.11, securityGroups: [web, bastion] }
  db-1:  { subnet: private-a, ip: 198.18.2.20, securityGroups: [db] }
  box:   { subnet: other-a, ip: 198.18.3.30 }
natGateways:
  nat-a: { subnet: public-a, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
internetGateway: { name: igw }
routeTables:
  public:
    routes: [ { destination: 0.0.0.0/0, target: igw } ]
  private:
    routes:
      - { destination: 0.0.0.0/0, target: nat-a }
      - { destination: 198.18.2.0/25, target: web-1 }
`;

describe('compileSnapshot', () => {
  const cfg = parseConfig(YAML, 'test.yaml');
  const p = compileSnapshot(cfg, 42);
  const inst = (name: string): number => p.instanceNames.indexOf(name);
  const subnet = (name: string): number => p.topology.subnetNames.indexOf(name);

  it('keeps the epoch and the config order for every index', () => {
    expect(p).toBeInstanceOf(CompiledPolicy);
    expect(p.epoch).toBe(42);
    expect(p.topology.epoch).toBe(42);
    expect(p.instanceNames).toEqual(p.topology.instanceNames);
    expect(p.naclNames).toEqual(p.topology.naclNames);
    expect(Array.from(p.subnetNacl)).toEqual(Array.from(p.topology.subnetNacl));
    expect(p.sgIngress.length).toBe(p.instanceNames.length);
    expect(p.sgEgress.length).toBe(p.instanceNames.length);
    expect(p.conntrack.timeouts.other).toBe(600);
  });

  it('finds instances by private IP, and nothing else', () => {
    expect(p.instanceByIp(ip('198.18.2.20'))).toBe(inst('db-1'));
    expect(p.instanceByIp(ip('198.18.1.11'))).toBe(inst('web-2'));
    expect(p.instanceByIp(ip('198.18.1.5'))).toBe(-1); // the NAT gateway
    expect(p.instanceByIp(ip('198.18.1.1'))).toBe(-1); // the router
    expect(p.instanceByIp(ip('203.0.113.5'))).toBe(-1);
  });

  it('compiles each subnet\'s NACL by rule number, with the default NACL for a subnet without one', () => {
    const pub = p.naclInbound(subnet('public-a'));
    expect(Array.from(pub.ruleNumber)).toEqual([90, 100, 110, 120]);
    const rn = (i: number): number | '*' => CompiledPolicy.naclRuleLabel(pub, i);
    expect(rn(pub.match(ip('203.0.113.66'), 6, 443, 0, 0))).toBe(90);
    expect(rn(pub.match(ip('203.0.113.1'), 6, 443, 0, 0))).toBe(100);
    expect(rn(pub.match(ip('203.0.113.1'), 6, 139, 0, 0))).toBe('*');
    expect(pub.match(ip('203.0.113.1'), 17, 443, 0, 0)).toBe(NO_MATCH);
    const dflt = p.naclOutbound(subnet('other-a'));
    expect(p.naclNames[p.subnetNacl[subnet('other-a')]]).toBe('default');
    expect(dflt.allows(dflt.match(ip('8.8.8.8'), 47, 0, 0, 0))).toBe(true);
  });

  it('reports NACL rules an earlier rule makes unreachable', () => {
    expect(shadowedNaclRules(p)).toEqual([{ nacl: 'public-nacl', direction: 'inbound', rule: 120, by: 110, conflicting: false }]);
  });

  it('resolves group references to the members\' private /32s and expands prefix lists', () => {
    const web1 = p.sgIngress[inst('web-1')];
    // bastion members: web-2 only
    const ssh = web1.match(ip('198.18.1.11'), 6, 22, 0, 0);
    expect(web1.origin(ssh)).toEqual({ group: 'web', rule: 1 });
    expect(web1.originKind[ssh]).toBe(SgOriginKind.Group);
    expect(web1.match(ip('198.18.1.10'), 6, 22, 0, 0)).toBe(NO_MATCH);
    // prefix list: both CIDRs; the IPv6 rule (index 4) is left out
    expect(web1.origin(web1.match(ip('198.51.100.7'), 6, 8443, 0, 0))).toEqual({ group: 'web', rule: 3 });
    expect(web1.origin(web1.match(ip('203.0.113.200'), 6, 8443, 0, 0))).toEqual({ group: 'web', rule: 3 });
    expect(web1.match(ip('203.0.113.100'), 6, 8443, 0, 0)).toBe(NO_MATCH);
    expect(Array.from(web1.originRule)).not.toContain(4);
    // db admits the web group's members on 5432 (web-1 and web-2)
    const db = p.sgIngress[inst('db-1')];
    expect(db.origin(db.match(ip('198.18.1.10'), 6, 5432, 0, 0))).toEqual({ group: 'db', rule: 0 });
    expect(db.origin(db.match(ip('198.18.1.11'), 6, 5432, 0, 0))).toEqual({ group: 'db', rule: 0 });
    expect(db.match(ip('198.18.3.30'), 6, 5432, 0, 0)).toBe(NO_MATCH);
  });

  it('unions the groups of an ENI in their listed order', () => {
    const web2 = p.sgIngress[inst('web-2')];
    expect(web2.origin(web2.match(ip('198.51.100.9'), 6, 22, 0, 0))).toEqual({ group: 'bastion', rule: 0 });
    expect(web2.origin(web2.match(ip('1.2.3.4'), 6, 443, 0, 0))).toEqual({ group: 'web', rule: 0 });
  });

  it('fills the implicit rules: new groups allow all egress, db allows none, default self-references', () => {
    const web1Out = p.sgEgress[inst('web-1')];
    expect(web1Out.match(ip('8.8.8.8'), 17, 53, 0, 0)).not.toBe(NO_MATCH);
    expect(web1Out.hasAllOpenResponseRule(6)).toBe(true);
    expect(p.sgEgress[inst('db-1')].count).toBe(0);
    const box = p.sgIngress[inst('box')];
    expect(box.origin(box.match(ip('198.18.3.30'), 6, 1, 0, 0))).toEqual({ group: 'default', rule: 0 });
    expect(box.match(ip('198.18.1.10'), 6, 1, 0, 0)).toBe(NO_MATCH);
  });

  it('decides tracked/untracked per ENI as [EC2-CT] says', () => {
    const w = inst('web-1');
    // HTTPS from anywhere + all-open egress: untracked; SSH from a group member: tracked
    expect(isUntrackedFlow(p.sgIngress[w], p.sgEgress[w], 6, sgL4Value(6, 443, 0, 0))).toBe(true);
    expect(isUntrackedFlow(p.sgIngress[w], p.sgEgress[w], 6, sgL4Value(6, 22, 0, 0))).toBe(false);
    // db-1 has no egress rules: everything it admits is tracked
    const d = inst('db-1');
    expect(isUntrackedFlow(p.sgIngress[d], p.sgEgress[d], 6, sgL4Value(6, 5432, 0, 0))).toBe(false);
  });

  it('exposes routes for longest-prefix match through the topology', () => {
    const t = p.topology.subnetRouteTable[subnet('private-a')];
    const r1 = p.topology.route(t, ip('198.18.2.9'));
    expect(p.topology.rtKind[r1]).toBe(Target.Instance);
    expect(p.topology.rtTarget[r1]).toBe(inst('web-1'));
    expect(p.topology.rtKind[p.topology.route(t, ip('198.18.2.200'))]).toBe(Target.Local);
    expect(p.topology.rtKind[p.topology.route(t, ip('8.8.8.8'))]).toBe(Target.NatGateway);
  });
});
