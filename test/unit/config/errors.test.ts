/**
 * One test per class of configuration error: each asserts the message text
 * and the line:column it points at (the offending key or value).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError, type ConfigIssue } from '../../../src/control/config-types.js';

const HEAD = ['vpc:', '  name: t', '  cidr: 198.18.0.0/16'];

/** Lines joined; `doc(...lines)` keeps line numbers easy to count in the test. */
function doc(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  return [];
}

function lines(text: string): string[] {
  return issues(text).map((i) => `${i.line}:${i.column}: ${i.message}`);
}

/** Exactly one issue, at line:column, with this message. */
function expectOne(text: string, line: number, column: number, message: string): void {
  expect(lines(text)).toEqual([`${line}:${column}: ${message}`]);
}

/** `line:column` of the first `needle` on 1-based `line` (nth occurrence when given). */
function at(text: string, line: number, needle: string, nth = 1): string {
  const l = text.split('\n')[line - 1] ?? '';
  let col = -1;
  for (let i = 0; i < nth; i++) col = l.indexOf(needle, col + 1);
  if (col < 0) throw new Error(`"${needle}" not on line ${line}: ${l}`);
  return `${line}:${col + 1}`;
}

/** Exactly one issue, pointing at `needle` on `line`, with this message. */
function expectAt(text: string, line: number, needle: string, message: string, nth = 1): void {
  expect(lines(text)).toEqual([`${at(text, line, needle, nth)}: ${message}`]);
}

describe('YAML syntax', () => {
  it('reports a syntax error with its position', () => {
    const r = issues(doc(...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/24', 'x: 1'));
    expect(r).toHaveLength(1);
    expect(r[0]?.file).toBe('c.yaml');
    expect(r[0]?.line).toBe(6);
    expect(r[0]?.message).toMatch(/^YAML syntax error: /);
  });

  it('reports duplicate keys at the second key', () => {
    const r = lines(doc(...HEAD, '  name: u'));
    expect(r).toEqual(['4:3: YAML syntax error: Map keys must be unique']);
  });

  it('reports unresolved tags', () => {
    expect(lines(doc(...HEAD, 'metrics: { listen: !foo 1 }'))).toEqual(['4:20: YAML: Unresolved tag: !foo']);
  });

  it('rejects an empty file and a top level that is not a mapping', () => {
    expectOne('', 1, 1, 'the file is empty: expected a mapping with at least vpc.name and vpc.cidr');
    expectOne('- a\n', 1, 1, 'the file: expected a mapping, got a list');
  });
});

describe('keys', () => {
  it('unknown top-level key, with a did-you-mean hint', () => {
    expectOne(doc(...HEAD, 'subnet: {}'), 4, 1, 'subnet: unknown key (did you mean "subnets"?)');
  });

  it('unknown nested key, with a hint or the list of expected keys', () => {
    const t = doc(...HEAD, 'subnets:', '  a:', '    cdir: 198.18.1.0/24');
    expect(lines(t)).toEqual([
      `${at(t, 5, 'a:')}: subnets.a.cidr: required key is missing (an IPv4 CIDR inside vpc.cidr)`,
      `${at(t, 6, 'cdir')}: subnets.a.cdir: unknown key (did you mean "cidr"?)`,
    ]);
    expectAt(doc('vpc:', '  name: t', '  cidr: 198.18.0.0/16', '  zone: x'), 4, 'zone', 'vpc.zone: unknown key; expected one of name, cidr, accountId, region, enableDnsSupport, enableDnsHostnames');
  });

  it('ignores top-level x- keys (anchors) and follows aliases', () => {
    expect(lines(doc(...HEAD, 'x-web: &web [ { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ]', 'securityGroups:', '  w: { ingress: *web }'))).toEqual([]);
  });

  it('required keys: vpc, vpc.name, vpc.cidr', () => {
    expectOne(doc('subnets: {}'), 1, 1, "vpc: required key is missing (the VPC's name and cidr)");
    expectOne(doc('vpc:', '  name: t'), 1, 1, 'vpc.cidr: required key is missing (an IPv4 CIDR between /16 and /28)');
    expectOne(doc('x-note: 1', 'vpc:', '  cidr: 198.18.0.0/16'), 2, 1, 'vpc.name: required key is missing');
  });

  it('names must be letters, digits, ".", "_" and "-"', () => {
    expectOne(doc(...HEAD, 'subnets:', '  "a b": { cidr: 198.18.1.0/24 }'), 5, 3,
      'subnets."a b": "a b" is not a valid subnet name: names may contain only letters, digits, ".", "_" and "-"');
  });
});

describe('types', () => {
  it('reports the expected type and what was found', () => {
    expectAt(doc(...HEAD, 'subnets: [a]'), 4, '[a]', 'subnets: expected a mapping, got a list');
    expectAt(doc(...HEAD, 'conntrack: { max: lots }'), 4, 'lots', 'conntrack.max: expected an integer between 1 and 16777216 (tracked flows), got "lots"');
    expectAt(doc('vpc:', '  name: 12', '  cidr: 198.18.0.0/16'), 2, '12', 'vpc.name: expected a name, got 12');
    expectAt(
      doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10, sourceDestCheck: yes }'), 6, 'yes', 'instances.i.sourceDestCheck: expected true or false, got "yes"',
    );
    expectAt(doc('vpc:', '  name:', '  cidr: 198.18.0.0/16'), 2, 'name', 'vpc.name: expected a name, got nothing');
  });
});

describe('CIDRs and subnets', () => {
  it('CIDR syntax', () => {
    expectAt(doc('vpc:', '  name: t', '  cidr: 198.18.0.0/33'), 3, '198', 'vpc.cidr: prefix length "33" is not an integer between 0 and 32; expected an IPv4 CIDR such as 198.18.1.0/24');
    expectAt(doc('vpc:', '  name: t', '  cidr: 198.18.0.256/16'), 3, '198', 'vpc.cidr: "198.18.0.256" is not an IPv4 or IPv6 address; expected an IPv4 CIDR such as 198.18.1.0/24');
    expectAt(doc('vpc:', '  name: t', '  cidr: 2001:db8::/56'), 3, '2001', 'vpc.cidr: expected an IPv4 CIDR such as 198.18.1.0/24, got the IPv6 CIDR 2001:db8::/56');
  });

  it('vpc.cidr between /16 and /28 and not in special ranges', () => {
    expectAt(doc('vpc:', '  name: t', '  cidr: 198.18.0.0/15'), 3, '198', 'vpc.cidr: 198.18.0.0/15 has prefix length /15; AWS VPC blocks are /16 to /28');
    expectAt(doc('vpc:', '  name: t', '  cidr: 169.254.0.0/16'), 3, '169', 'vpc.cidr: 169.254.0.0/16 overlaps 169.254.0.0/16 (link-local), which cannot hold a VPC');
  });

  it('subnet CIDR inside vpc.cidr', () => {
    expectAt(doc(...HEAD, 'subnets:', '  private-a:', '    cidr: 198.17.2.0/24'), 6, '198.17.2.0/24',
      'subnets.private-a.cidr: 198.17.2.0/24 is not inside vpc.cidr 198.18.0.0/16');
  });

  it('subnets must not overlap (both named)', () => {
    expectAt(doc(...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/24 }', '  b: { cidr: 198.18.1.128/25 }'), 6, '198.18.1.128/25',
      'subnets.b.cidr: 198.18.1.128/25 overlaps subnets.a.cidr 198.18.1.0/24');
  });

  it('subnet prefix length /16 to /28', () => {
    expectAt(doc(...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/29 }'), 5, '198.18.1.0/29', 'subnets.a.cidr: 198.18.1.0/29 has prefix length /29; AWS subnets are /16 to /28');
  });
});

const NET = [...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/24 }', '  b: { cidr: 198.18.2.0/24 }', 'internetGateway: {}'];
// NET is 7 lines: the next line is line 8.

describe('instances', () => {
  it('ip must be inside its subnet', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.2.10 }'), 9, '198.18.2.10', 'instances.i.ip: 198.18.2.10 is not inside subnet a (198.18.1.0/24)');
  });

  it('ip must not be one of the five reserved addresses', () => {
    const cases: [string, string][] = [
      ['198.18.1.0', 'the network address'],
      ['198.18.1.1', 'the VPC router (+1)'],
      ['198.18.1.2', 'the Amazon DNS server (+2)'],
      ['198.18.1.3', 'reserved by AWS for future use (+3)'],
      ['198.18.1.255', 'the broadcast address'],
    ];
    for (const [ip, why] of cases) {
      expectAt(doc(...NET, 'instances:', `  i: { subnet: a, ip: ${ip} }`), 9, ip,
        `instances.i.ip: ${ip} is reserved in subnet a (198.18.1.0/24): ${why}; the first four addresses and the last one cannot be assigned`);
    }
    expect(lines(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.4 }', '  j: { subnet: a, ip: 198.18.1.254 }'))).toEqual([]);
  });

  it('private IPs are unique across instances and NAT gateways', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10 }', '  j: { subnet: a, ip: 198.18.1.10 }'), 10, '198.18.1.10',
      'instances.j.ip: 198.18.1.10 is already used by instances.i');
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, type: private, ip: 198.18.1.10 }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10 }'), 11, '198.18.1.10',
      'instances.i.ip: 198.18.1.10 is already used by natGateways.n');
  });

  it('publicIp: unique, outside vpc.cidr, needs an internet gateway', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, publicIp: 203.0.113.10 }', '  j: { subnet: a, ip: 198.18.1.11, publicIp: 203.0.113.10 }'), 10, '203.0.113.10',
      'instances.j.publicIp: 203.0.113.10 is already used by instances.i');
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, publicIp: 198.18.9.9 }'), 9, '198.18.9.9',
      'instances.i.publicIp: 198.18.9.9 is inside vpc.cidr 198.18.0.0/16; a public address must be outside the VPC');
    expectAt(doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10, publicIp: 203.0.113.10 }'), 6, 'publicIp',
      'instances.i.publicIp: a public address needs an internetGateway (AWS: the VPC must have an internet gateway attached)');
  });

  it('1 to 5 security groups, no duplicates', () => {
    const sg = ['securityGroups: { s1: {}, s2: {}, s3: {}, s4: {}, s5: {}, s6: {} }'];
    expectAt(doc(...NET, ...sg, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, securityGroups: [] }'), 10, '[]',
      'instances.i.securityGroups: an instance has 1 to 5 security groups (AWS default quota), got 0');
    expectAt(doc(...NET, ...sg, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, securityGroups: [s1, s2, s3, s4, s5, s6] }'), 10, '[s1',
      'instances.i.securityGroups: an instance has 1 to 5 security groups (AWS default quota), got 6');
    expectAt(doc(...NET, ...sg, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, securityGroups: [s1, s1] }'), 10, 's1]',
      'instances.i.securityGroups[1]: security group "s1" is listed twice');
  });

  it('mac: syntax, unicast, unique', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, mac: "01:00:5e:00:00:01" }'), 9, '"01',
      'instances.i.mac: 01:00:5e:00:00:01 is a multicast MAC address; an interface needs a unicast one (first octet even)');
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, mac: 02-00-00-00-00-01 }'), 9, '02-',
      'instances.i.mac: expected a MAC address such as 02:00:00:00:00:01, got "02-00-00-00-00-01"');
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, mac: "02:00:00:00:00:01" }', '  j: { subnet: a, ip: 198.18.1.11, mac: "02:00:00:00:00:01" }'), 10, '"02',
      'instances.j: MAC 02:00:00:00:00:01 is already used by instances.i'.replace('instances.j:', 'instances.j.mac:'));
  });

  it('interface: a valid Linux name, unique', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, interface: a-very-long-ifname }'), 9, 'a-very',
      'instances.i.interface: "a-very-long-ifname" is not a valid Linux interface name (1 to 15 bytes, no "/", ":" or spaces, not "." or "..")');
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, interface: veth0 }', '  j: { subnet: a, ip: 198.18.1.11, interface: veth0 }'), 10, 'veth0',
      'instances.j.interface: interface "veth0" is already used by instances.i');
  });

  it('instance and NAT gateway names must not collide with route target names', () => {
    expectAt(doc(...NET, 'instances:', '  igw: { subnet: a, ip: 198.18.1.10 }'), 9, 'igw',
      'instances.igw: the name "igw" is taken by the internet gateway route target; route targets would be ambiguous');
    expectAt(doc(...NET, 'instances:', '  x: { subnet: a, ip: 198.18.1.10 }', 'natGateways:', '  x: { subnet: a, type: private, ip: 198.18.1.11 }'), 11, 'x:',
      'natGateways.x: an instance has the same name; route targets would be ambiguous');
  });
});

describe('references', () => {
  it('subnet, routeTable, networkAcl, securityGroups, group and prefixList must resolve', () => {
    expectAt(doc(...NET, 'instances:', '  i: { subnet: c, ip: 198.18.1.10 }'), 9, 'c,', 'instances.i.subnet: there is no subnet named "c" (did you mean "a"?)');
    expectAt(doc(...HEAD, 'routeTables: { public: {} }', 'subnets:', '  a: { cidr: 198.18.1.0/24, routeTable: pubic }'), 6, 'pubic',
      'subnets.a.routeTable: there is no route table named "pubic" (did you mean "public"?)');
    expectAt(doc(...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/24, networkAcl: strict }'), 5, 'strict', 'subnets.a.networkAcl: there is no network ACL named "strict"');
    expectAt(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, securityGroups: [webb] }'), 9, 'webb',
      'instances.i.securityGroups[0]: there is no security group named "webb"');
    expectAt(doc(...HEAD, 'securityGroups:', '  web: { ingress: [ { protocol: tcp, ports: 22, group: bastoin } ] }', '  bastion: {}'), 5, 'bastoin',
      'securityGroups.web.ingress[0].group: there is no security group named "bastoin" (did you mean "bastion"?)');
    expectAt(doc(...HEAD, 'securityGroups:', '  web: { ingress: [ { protocol: tcp, ports: 22, prefixList: office } ] }'), 5, 'office',
      'securityGroups.web.ingress[0].prefixList: there is no prefix list named "office"');
  });

  it('implicit names resolve: default NACL, default SG, main table', () => {
    expect(lines(doc(...NET, 'instances:', '  i: { subnet: a, ip: 198.18.1.10, securityGroups: [default] }',
      'subnets:'.replace('subnets:', 'x-unused: 1')))).toEqual([]);
    expect(lines(doc(...HEAD, 'subnets:', '  a: { cidr: 198.18.1.0/24, routeTable: main, networkAcl: default }'))).toEqual([]);
  });
});

describe('route tables', () => {
  const T = [...NET, 'routeTables:', '  r:', '    routes:'];
  // T is 10 lines: routes start at line 11.

  it('target local is not allowed', () => {
    expectAt(doc(...T, '      - { destination: 0.0.0.0/0, target: local }'), 11, 'local',
      'routeTables.r.routes[0].target: the local route (vpc.cidr to local) is implicit in every table; routes cannot target local');
  });

  it('igw needs an internetGateway, vgw a vpnGateway or a VPN connection', () => {
    expectAt(doc(...HEAD, 'routeTables:', '  r: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }'), 5, 'igw',
      'routeTables.r.routes[0].target: target igw needs an internetGateway section');
    expectAt(doc(...T, '      - { destination: 198.19.0.0/16, target: vgw }'), 11, 'vgw',
      'routeTables.r.routes[0].target: target vgw needs a vpnGateway or a vpnConnections entry');
  });

  it('unknown target, with a hint', () => {
    expectAt(doc(...T, '      - { destination: 0.0.0.0/0, target: nat-b }', 'natGateways:', '  nat-a: { subnet: a, type: private, ip: 198.18.1.5 }'), 11, 'nat-b',
      'routeTables.r.routes[0].target: unknown route target "nat-b" (did you mean "nat-a"?); expected igw, vgw, a NAT gateway or an instance name');
  });

  it('no duplicate destination in one table; vpc.cidr is the implicit local route', () => {
    expectAt(doc(...T, '      - { destination: 0.0.0.0/0, target: igw }', '      - { destination: 0.0.0.0/0, target: igw }'), 12, '0.0.0.0/0',
      'routeTables.r.routes[1].destination: destination 0.0.0.0/0 is already routed by routeTables.r.routes[0]');
    expectAt(doc(...T, '      - { destination: 198.18.0.0/16, target: igw }'), 11, '198.18.0.0/16',
      'routeTables.r.routes[0].destination: 198.18.0.0/16 is vpc.cidr, whose local route is implicit in every table and cannot be replaced');
  });
});

describe('network ACL rules', () => {
  const N = [...HEAD, 'networkAcls:', '  n:', '    inbound:'];
  // N is 6 lines: rules start at line 7.
  const rule = (s: string): string => `      - { ${s} }`;

  it('rule numbers 1..32766, unique per direction', () => {
    expectAt(doc(...N, rule('rule: 32767, action: allow, protocol: all, cidr: 0.0.0.0/0')), 7, '32767',
      'networkAcls.n.inbound[0].rule: expected an integer between 1 and 32766 (NACL rule numbers; 32767 and above are reserved by AWS), got 32767');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0'), rule('rule: 100, action: deny, protocol: all, cidr: 0.0.0.0/0')), 8, '100',
      'networkAcls.n.inbound[1].rule: rule number 100 is already used by networkAcls.n.inbound[0]');
    expect(lines(doc(...N, rule('rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0'), '    outbound:', rule('rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0')))).toEqual([]);
  });

  it('action allow or deny', () => {
    expectAt(doc(...N, rule('rule: 100, action: permit, protocol: all, cidr: 0.0.0.0/0')), 7, 'permit',
      'networkAcls.n.inbound[0].action: expected one of allow, deny, got "permit"');
  });

  it('protocol names and numbers', () => {
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: tpc, cidr: 0.0.0.0/0')), 7, 'tpc',
      'networkAcls.n.inbound[0].protocol: expected tcp, udp, icmp, icmpv6, all (-1) or a protocol number 0..255, got "tpc" (did you mean "tcp"?)');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: 256, cidr: 0.0.0.0/0')), 7, '256',
      'networkAcls.n.inbound[0].protocol: expected tcp, udp, icmp, icmpv6, all (-1) or a protocol number 0..255, got 256');
  });

  it('ports N or N-M, 0 <= N <= M <= 65535', () => {
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: tcp, ports: 80-, cidr: 0.0.0.0/0')), 7, '80-',
      'networkAcls.n.inbound[0].ports: expected a port (0-65535) or a range such as 1024-65535, got "80-"');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: tcp, ports: 1024-65536, cidr: 0.0.0.0/0')), 7, '1024-65536',
      'networkAcls.n.inbound[0].ports: ports must be between 0 and 65535, got 1024-65536');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: tcp, ports: 2000-1000, cidr: 0.0.0.0/0')), 7, '2000-1000',
      'networkAcls.n.inbound[0].ports: the range 2000-1000 is reversed; write 1000-2000');
  });

  it('icmpType/icmpCode: -1..255, only with icmp/icmpv6, all types means all codes', () => {
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: icmp, icmpType: 256, cidr: 0.0.0.0/0')), 7, '256',
      'networkAcls.n.inbound[0].icmpType: expected an integer between -1 and 255 (-1 = all types), got 256');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: tcp, icmpType: 3, cidr: 0.0.0.0/0')), 7, 'icmpType',
      'networkAcls.n.inbound[0].icmpType: icmpType only applies to protocol icmp or icmpv6, not tcp');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: icmp, icmpType: -1, icmpCode: 4, cidr: 0.0.0.0/0')), 7, '4, cidr',
      'networkAcls.n.inbound[0].icmpCode: icmpCode 4 needs a specific icmpType (AWS: all types (-1) means all codes)');
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: icmp, ports: 8, cidr: 0.0.0.0/0')), 7, 'ports',
      'networkAcls.n.inbound[0].ports: ports do not apply to protocol icmp; use icmpType and icmpCode');
  });

  it('needs a cidr; group and prefixList are for security groups', () => {
    expectAt(doc(...N, rule('rule: 100, action: allow, protocol: all')), 7, '{',
      'networkAcls.n.inbound[0].cidr: required key is missing (the source (inbound) or destination (outbound) CIDR)');
    const t = doc(...N, rule('rule: 100, action: allow, protocol: all, group: web'));
    expect(lines(t)).toEqual([
      `${at(t, 7, '{')}: networkAcls.n.inbound[0].cidr: required key is missing (the source (inbound) or destination (outbound) CIDR)`,
      `${at(t, 7, 'group')}: networkAcls.n.inbound[0].group: network ACL rules match on cidr only (security groups can be referenced only by security-group rules)`,
    ]);
  });
});

describe('security groups', () => {
  const S = [...HEAD, 'securityGroups:', '  web:', '    ingress:'];
  // S is 6 lines: rules start at line 7.

  it('a rule has exactly one of cidr, group, prefixList', () => {
    expectAt(doc(...S, '      - { protocol: tcp, ports: 443 }'), 7, '{',
      'securityGroups.web.ingress[0]: a rule needs one of cidr, group or prefixList (the source)');
    expectAt(doc(...S, '      - { protocol: tcp, ports: 443, cidr: 0.0.0.0/0, group: web }'), 7, 'group',
      'securityGroups.web.ingress[0]: a rule takes exactly one of cidr, group or prefixList, got cidr and group');
  });

  it('names must not start with sg-', () => {
    expectAt(doc(...HEAD, 'securityGroups:', '  sg-web: {}'), 5, 'sg-web',
      'securityGroups.sg-web: security group names cannot start with "sg-" (AWS reserves it for group ids)');
  });

  it('description at most 255 characters', () => {
    expectAt(doc(...HEAD, 'securityGroups:', `  web: { description: ${'x'.repeat(256)} }`), 5, 'xxx',
      'securityGroups.web.description: descriptions are at most 255 characters (AWS), got 256');
  });
});

describe('NAT gateways', () => {
  it('subnet exists, ip inside and not reserved', () => {
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, ip: 198.18.1.1, publicIp: 203.0.113.5 }'), 9, '198.18.1.1',
      'natGateways.n.ip: 198.18.1.1 is reserved in subnet a (198.18.1.0/24): the VPC router (+1); the first four addresses and the last one cannot be assigned');
  });

  it('public requires publicIp, private forbids it', () => {
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, ip: 198.18.1.5 }'), 9, 'n:',
      'natGateways.n.publicIp: required key is missing (a public NAT gateway needs a public address; use type: private for none)');
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, type: private, ip: 198.18.1.5, publicIp: 203.0.113.5 }'), 9, 'publicIp',
      'natGateways.n.publicIp: a private NAT gateway has no public address');
  });

  it('NAT and instance public IPs are unique together', () => {
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, ip: 198.18.1.5, publicIp: 203.0.113.5 }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10, publicIp: 203.0.113.5 }'), 11, '203.0.113.5',
      'instances.i.publicIp: 203.0.113.5 is already used by natGateways.n');
  });

  it('limits', () => {
    expectAt(doc(...NET, 'natGateways:', '  n: { subnet: a, type: private, ip: 198.18.1.5, idleTimeout: 0 }'), 9, '0 }',
      'natGateways.n.idleTimeout: expected an integer between 1 and 432000 (seconds), got 0');
  });
});

describe('conntrack, flow logs, metrics, dataplane, lab', () => {
  it('conntrack.max positive and at most 16777216', () => {
    expectAt(doc(...HEAD, 'conntrack: { max: 16777217 }'), 4, '16777217', 'conntrack.max: expected an integer between 1 and 16777216 (tracked flows), got 16777217');
    expectAt(doc(...HEAD, 'conntrack: { max: 0 }'), 4, '0 }', 'conntrack.max: expected an integer between 1 and 16777216 (tracked flows), got 0');
  });

  it('timeouts within the AWS ranges', () => {
    const t = doc(...HEAD, 'conntrack:', '  timeouts: { tcpEstablished: 59, udpStream: 181, udp: 29, tcp: 0, icmp: 0, other: 0 }');
    expect(lines(t)).toEqual([
      `${at(t, 5, '59')}: conntrack.timeouts.tcpEstablished: expected an integer between 60 and 432000 (seconds, AWS TcpEstablishedTimeout range), got 59`,
      `${at(t, 5, '181')}: conntrack.timeouts.udpStream: expected an integer between 60 and 180 (seconds, AWS UdpStreamTimeout range), got 181`,
      `${at(t, 5, '29')}: conntrack.timeouts.udp: expected an integer between 30 and 60 (seconds, AWS UdpTimeout range), got 29`,
      `${at(t, 5, '0,')}: conntrack.timeouts.tcp: expected an integer between 1 and 432000 (seconds), got 0`,
      `${at(t, 5, '0,', 2)}: conntrack.timeouts.icmp: expected an integer between 1 and 432000 (seconds), got 0`,
      `${at(t, 5, '0 }')}: conntrack.timeouts.other: expected an integer between 1 and 432000 (seconds), got 0`,
    ]);
  });

  it('flowLogs: path required, aggregationInterval 1..600', () => {
    expectAt(doc(...HEAD, 'flowLogs: { path: f.log, aggregationInterval: 601 }'), 4, '601',
      'flowLogs.aggregationInterval: expected an integer between 1 and 600 (seconds), got 601');
    expectAt(doc(...HEAD, 'flowLogs: { aggregationInterval: 60 }'), 4, 'flowLogs',
      'flowLogs.path: required key is missing (the file flow-log records are appended to)');
  });

  it('metrics.listen host:port', () => {
    expectAt(doc(...HEAD, 'metrics: { listen: "localhost" }'), 4, '"localhost', 'metrics.listen: "localhost" is not host:port (e.g. 127.0.0.1:9469 or [::1]:9469)');
    expectAt(doc(...HEAD, 'metrics: { listen: "127.0.0.1:70000" }'), 4, '"127', 'metrics.listen: "127.0.0.1:70000" has port 70000; ports are 0..65535');
    expectAt(doc(...HEAD, 'metrics: { listen: "300.0.0.1:9469" }'), 4, '"300', 'metrics.listen: "300.0.0.1:9469" has 300.0.0.1, which is not an IPv4 address');
  });

  it('dataplane.batch 1..256 and a valid netns', () => {
    expectAt(doc(...HEAD, 'dataplane: { batch: 257 }'), 4, '257', 'dataplane.batch: expected an integer between 1 and 256 (frames per batch), got 257');
    expectAt(doc(...HEAD, 'dataplane: { netns: a/b }'), 4, 'a/b', 'dataplane.netns: "a/b" is not a valid network namespace name (1 to 255 characters, no "/", not "." or "..")');
  });

  it('lab internet hosts are outside the VPC and do not reuse public addresses', () => {
    expectAt(doc(...HEAD, 'lab:', '  internetHosts: { h: 198.18.5.5 }'), 5, '198.18.5.5',
      'lab.internetHosts.h: 198.18.5.5 is inside vpc.cidr 198.18.0.0/16; internet hosts need addresses outside the VPC');
    expectAt(doc(...HEAD, 'internetGateway: { uplinkIp: 203.0.113.2 }', 'lab:', '  internetHosts: { h: 203.0.113.2 }'), 6, '203.0.113.2',
      'lab.internetHosts.h: 203.0.113.2 is already used by internetGateway.uplinkIp');
  });
});

describe('VPN connections', () => {
  const V = [...HEAD, 'vpnGateway: {}', 'customerGateway: { wan: { ip: 198.51.100.2 } }', 'vpnConnections:', '  c:'];
  // V is 7 lines: connection keys start at line 8.
  const OK = ['    role: vgw', '    remoteNetworks: [198.19.0.0/16]', '    auth: { psk: { env: PSK } }', '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 } ]'];
  const conn = (...over: string[]): string => {
    const keys = new Set(over.map((l) => l.trim().split(':')[0]));
    return doc(...V, ...OK.filter((l) => !keys.has(l.trim().split(':')[0])), ...over);
  };

  it('the base connection is valid', () => {
    expect(lines(conn())).toEqual([]);
  });

  it('role cgw or vgw, with its gateway section', () => {
    expectAt(conn('    role: aws'), 11, 'aws', 'vpnConnections.c.role: expected one of cgw, vgw, got "aws"');
    expectAt(doc(...HEAD, 'vpnConnections:', '  c:', '    role: cgw', ...OK.slice(1)), 6, 'cgw',
      "vpnConnections.c.role: role cgw needs a customerGateway section (this site's WAN address)");
  });

  it('auth: exactly one of psk and certificate; psk from exactly one of env and file', () => {
    expectAt(conn('    auth: {}'), 11, '{}', 'vpnConnections.c.auth: expected exactly one of psk or certificate');
    expectAt(conn('    auth: { psk: { env: PSK }, certificate: { cert: a, key: b, ca: c } }'), 11, 'certificate',
      'vpnConnections.c.auth: expected exactly one of psk or certificate, got both');
    expectAt(conn('    auth: { psk: { env: PSK, file: psk.txt } }'), 11, 'file',
      'vpnConnections.c.auth.psk: expected exactly one of env (an environment variable) or file (a file holding the key), got both');
    expectAt(conn('    auth: { certificate: { cert: a, key: b } }'), 11, 'certificate', 'vpnConnections.c.auth.certificate.ca: required key is missing (PEM CA certificate file)');
  });

  it('tunnels: 1 or 2, peer IPv4, insideCidr a non-reserved /30 in 169.254.0.0/16, unique', () => {
    expectAt(conn('    tunnels: []'), 11, '[]', 'vpnConnections.c.tunnels: expected 1 or 2 tunnels (AWS gives two per connection), got 0');
    const t3 = '    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 }, { peer: 198.51.100.3, insideCidr: 169.254.11.0/30 }, { peer: 198.51.100.4, insideCidr: 169.254.12.0/30 } ]';
    expectAt(conn(t3), 11, '[', 'vpnConnections.c.tunnels: expected 1 or 2 tunnels (AWS gives two per connection), got 3');
    expectAt(conn('    tunnels: [ { peer: 198.51.100, insideCidr: 169.254.10.0/30 } ]'), 11, '198.51.100,',
      'vpnConnections.c.tunnels[0].peer: expected an IPv4 address such as 198.18.1.10, got "198.51.100"');
    expectAt(conn('    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/29 } ]'), 11, '169.254.10.0/29',
      'vpnConnections.c.tunnels[0].insideCidr: 169.254.10.0/29 must be a /30 inside 169.254.0.0/16');
    expectAt(conn('    tunnels: [ { peer: 198.51.100.1, insideCidr: 10.0.0.0/30 } ]'), 11, '10.0.0.0/30',
      'vpnConnections.c.tunnels[0].insideCidr: 10.0.0.0/30 must be a /30 inside 169.254.0.0/16');
    for (const reserved of ['169.254.0.0/30', '169.254.5.0/30', '169.254.169.252/30']) {
      expectAt(conn(`    tunnels: [ { peer: 198.51.100.1, insideCidr: ${reserved} } ]`), 11, reserved,
        `vpnConnections.c.tunnels[0].insideCidr: ${reserved} is reserved by AWS (169.254.0.0/30 to 169.254.5.0/30 and 169.254.169.252/30 cannot be used)`);
    }
    expectAt(conn('    tunnels: [ { peer: 198.51.100.1, insideCidr: 169.254.10.0/30 }, { peer: 198.51.100.9, insideCidr: 169.254.10.0/30 } ]'), 11, '169.254.10.0/30',
      'vpnConnections.c.tunnels[1].insideCidr: inside CIDR 169.254.10.0/30 is already used by vpnConnections.c.tunnels[0] (AWS: unique per VPN gateway)', 2);
  });

  it('ike lifetime 900..28800, esp lifetime 900..3600 and below ike, dpdTimeout >= 30', () => {
    expectAt(conn('    ike: { lifetime: 600 }'), 12, '600',
      'vpnConnections.c.ike.lifetime: expected an integer between 900 and 28800 (AWS phase 1 lifetime in seconds; allowShortLifetimes: true lowers the minimum for tests), got 600');
    expectAt(conn('    esp: { lifetime: 7200 }'), 12, '7200',
      'vpnConnections.c.esp.lifetime: expected an integer between 900 and 3600 (AWS phase 2 lifetime in seconds; allowShortLifetimes: true lowers the minimum for tests), got 7200');
    expectAt(conn('    ike: { lifetime: 1800 }', '    esp: { lifetime: 1800 }'), 13, '1800',
      'vpnConnections.c.esp.lifetime: 1800 must be less than ike.lifetime 1800 (AWS: phase 2 lifetime below phase 1)');
    expectAt(conn('    ike: { lifetime: 1800 }'), 12, '1800',
      'vpnConnections.c.ike.lifetime: 1800 must be greater than esp.lifetime 3600 (the default); set esp.lifetime lower');
    expectAt(conn('    ike: { dpdTimeout: 10 }'), 12, '10',
      'vpnConnections.c.ike.dpdTimeout: expected an integer >= 30 (seconds; AWS minimum 30; allowShortLifetimes: true lowers the minimum for tests), got 10');
  });

  it('allowShortLifetimes accepts lifetimes down to 10 s and dpdTimeout down to 3 s', () => {
    expect(lines(conn('    allowShortLifetimes: true', '    ike: { lifetime: 20, dpdTimeout: 3 }', '    esp: { lifetime: 10 }'))).toEqual([]);
    expectAt(conn('    allowShortLifetimes: true', '    ike: { lifetime: 9 }'), 13, '9',
      'vpnConnections.c.ike.lifetime: expected an integer between 10 and 28800 (AWS phase 1 lifetime in seconds, with allowShortLifetimes), got 9');
  });

  it('proposals in strongSwan syntax with known algorithms', () => {
    const cases: [string, string, string][] = [
      ['ike', 'aes265-sha256-modp2048', 'unknown algorithm "aes265" (did you mean "aes256"?); encryption: aes128, aes256, aes128gcm16, aes256gcm16; integrity: sha1, sha256, sha384, sha512; prf: prfsha1, prfsha256, prfsha384, prfsha512; DH: modp1024,'],
      ['ike', 'aes256gcm16-ecp256', 'an AEAD IKE proposal needs a PRF (e.g. prfsha256)'],
      ['ike', 'aes256-sha256', 'an IKE proposal needs a DH group (e.g. ecp256 or modp2048)'],
      ['ike', 'aes256-modp2048', 'aes256 needs an integrity algorithm (sha1, sha256, sha384 or sha512)'],
      ['esp', 'aes256gcm16-sha256', 'AEAD (gcm) encryption includes integrity protection; remove the integrity algorithm'],
      ['esp', 'aes256gcm16-prfsha256', 'prfsha256 is a PRF, which only IKE proposals take'],
      ['esp', 'aes256--sha256', 'empty algorithm name (two "-" in a row, or one at an end)'],
    ];
    for (const [kind, p, why] of cases) {
      const text = conn(`    ${kind}: { proposals: [${p}] }`);
      const r = lines(text);
      expect(r).toHaveLength(1);
      expect(r[0]).toContain(`${at(text, 12, p)}: vpnConnections.c.${kind}.proposals[0]: "${p}" is not a valid ${kind.toUpperCase()} proposal: ${why}`);
    }
    expect(lines(conn('    ike: { proposals: [aes128-sha1-modp2048, aes256gcm16-prfsha384-ecp384, aes256-sha512-curve25519] }',
      '    esp: { proposals: [aes128-sha1, aes256gcm16, aes256-sha256-modp2048-esn] }'))).toEqual([]);
  });

  it('splitTunnel true needs remoteNetworks', () => {
    expectAt(doc(...V, ...OK.filter((l) => !l.includes('remoteNetworks'))), 7, 'c:',
      'vpnConnections.c.remoteNetworks: required key is missing (the networks reached through the tunnel; required with splitTunnel: true)');
    expect(lines(doc(...V, ...OK.filter((l) => !l.includes('remoteNetworks')), '    splitTunnel: false'))).toEqual([]);
  });
});

describe('many problems at once', () => {
  it('reports every problem, in file order', () => {
    const text = doc(
      'vpc:',
      '  name: t',
      '  cidr: 198.18.0.0/16',
      'subnets:',
      '  a: { cidr: 198.17.1.0/24 }',
      '  b: { cidr: 198.18.2.0/24, routeTable: nope }',
      'instances:',
      '  i: { subnet: b, ip: 198.18.2.1 }',
      'conntrack: { max: -1 }',
      'metrics: { listn: x }',
    );
    expect(lines(text)).toEqual([
      '5:14: subnets.a.cidr: 198.17.1.0/24 is not inside vpc.cidr 198.18.0.0/16',
      '6:41: subnets.b.routeTable: there is no route table named "nope"',
      '8:23: instances.i.ip: 198.18.2.1 is reserved in subnet b (198.18.2.0/24): the VPC router (+1); the first four addresses and the last one cannot be assigned',
      '9:19: conntrack.max: expected an integer between 1 and 16777216 (tracked flows), got -1',
      '10:12: metrics.listn: unknown key (did you mean "listen"?)',
    ]);
    try {
      parseConfig(text, 'dir/c.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message.split('\n')[0]).toBe('dir/c.yaml:5:14: subnets.a.cidr: 198.17.1.0/24 is not inside vpc.cidr 198.18.0.0/16');
    }
  });
});

describe('interfaces', () => {
  it('an instance cannot use the uplink interface', () => {
    expectAt(doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }', 'internetGateway: { interface: up0 }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10, interface: up0 }'), 7, 'up0',
      'instances.i.interface: interface "up0" is the uplink (internetGateway.interface)');
    expectAt(doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }', 'customerGateway: { wan: { ip: 198.51.100.2, interface: wan0 } }', 'instances:', '  i: { subnet: a, ip: 198.18.1.10, interface: wan0 }'), 7, 'wan0',
      'instances.i.interface: interface "wan0" is the uplink (customerGateway.wan.interface)');
  });
});
