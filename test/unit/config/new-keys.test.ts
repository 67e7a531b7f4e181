/**
 * instances.<name>.conntrackAllowance, internetGateway.uplinkGateway and
 * uplinkCidr, and the route target `blackhole`: what each accepts, what the
 * loader stores, and each rejection with its message and line:column.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/control/config.js';
import { ConfigError, type ConfigIssue } from '../../../src/control/config-types.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import { Target } from '../../../src/control/topology.js';
import { evaluateFlow } from '../../../src/policy/reference.js';

const HEAD = ['vpc:', '  name: t', '  cidr: 198.18.0.0/16'];
const NET = [...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24 } }'];

const doc = (...lines: string[]): string => `${lines.join('\n')}\n`;

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  return [];
}

/** `line:column` of the first `needle` on 1-based `line`. */
function at(text: string, line: number, needle: string): string {
  const col = (text.split('\n')[line - 1] ?? '').indexOf(needle);
  if (col < 0) throw new Error(`"${needle}" not on line ${line}`);
  return `${line}:${col + 1}`;
}

/** Exactly one issue, pointing at `needle` on `line`, with this message. */
function expectAt(text: string, line: number, needle: string, message: string): void {
  expect(issues(text).map((i) => `${i.line}:${i.column}: ${i.message}`)).toEqual([`${at(text, line, needle)}: ${message}`]);
}

describe('instances.<name>.conntrackAllowance', () => {
  const inst = (value: string): string => doc(...NET, 'instances:', `  i: { subnet: a, ip: 198.18.1.9, conntrackAllowance: ${value} }`);

  it('is stored when given and absent when not', () => {
    expect(parseConfig(inst('1000'), 'c.yaml').instances.get('i')?.conntrackAllowance).toBe(1000);
    expect(parseConfig(inst('16777216'), 'c.yaml').instances.get('i')?.conntrackAllowance).toBe(16_777_216);
    const c = parseConfig(doc(...NET, 'instances: { i: { subnet: a, ip: 198.18.1.9 } }'), 'c.yaml');
    expect('conntrackAllowance' in (c.instances.get('i') ?? {})).toBe(false);
  });

  it('rejects zero, negatives, fractions, strings and values past 16777216 at the value', () => {
    for (const bad of ['0', '-5', '1.5', 'lots', '16777217']) {
      const text = inst(bad);
      const got = bad === 'lots' ? '"lots"' : bad;
      expectAt(text, 6, `${bad} }`,
        `instances.i.conntrackAllowance: expected an integer between 1 and 16777216 (tracked connections of this ENI), got ${got}`);
    }
  });

  it('warns when the allowance is above conntrack.max', () => {
    const text = doc(...NET, 'conntrack: { max: 100 }', 'instances:', '  i: { subnet: a, ip: 198.18.1.9, conntrackAllowance: 500 }');
    const w = parseConfig(text, 'c.yaml').warnings ?? [];
    expect(w.map((i) => `${i.line}:${i.column}: ${i.message}`)).toEqual([
      `${at(text, 7, '500')}: instances.i.conntrackAllowance: 500 is above conntrack.max 100; the table fills before this ENI reaches its allowance`,
    ]);
  });
});

describe('internetGateway.uplinkGateway and uplinkCidr', () => {
  const igw = (...keys: string[]): string => doc(...HEAD, 'internetGateway:', ...keys.map((k) => `  ${k}`));

  it('stores both, canonical, with the parsed block beside the CIDR', () => {
    const c = parseConfig(igw('uplinkIp: 198.51.100.2', 'uplinkCidr: 198.51.100.3/30', 'uplinkGateway: 198.51.100.1'), 'c.yaml');
    expect(c.internetGateway).toMatchObject({ uplinkIp: '198.51.100.2', uplinkCidr: '198.51.100.0/30', uplinkGateway: '198.51.100.1' });
    expect(c.internetGateway?.uplinkBlock).toEqual({ family: 4, addr: 0xc6336400, prefix: 30 });
  });

  it('each is optional on its own', () => {
    expect(parseConfig(igw('uplinkGateway: 203.0.113.1'), 'c.yaml').internetGateway?.uplinkGateway).toBe('203.0.113.1');
    const c = parseConfig(igw('uplinkCidr: 203.0.113.0/24'), 'c.yaml');
    expect(c.internetGateway?.uplinkCidr).toBe('203.0.113.0/24');
    expect(c.internetGateway?.uplinkGateway).toBeUndefined();
    expect(parseConfig(igw('name: igw'), 'c.yaml').internetGateway?.uplinkBlock).toBeUndefined();
  });

  it('rejects a gateway that is not an address, or is inside the VPC', () => {
    expectAt(igw('uplinkGateway: 203.0.113.0/24'), 5, '203.0.113.0/24',
      'internetGateway.uplinkGateway: expected an IPv4 address without a prefix length, got "203.0.113.0/24"');
    expectAt(igw('uplinkGateway: 198.18.0.1'), 5, '198.18.0.1',
      'internetGateway.uplinkGateway: 198.18.0.1 is inside vpc.cidr 198.18.0.0/16; the uplink gateway is a router on the internet side');
  });

  it('rejects a gateway equal to uplinkIp', () => {
    expectAt(igw('uplinkIp: 203.0.113.2', 'uplinkGateway: 203.0.113.2'), 6, '203.0.113.2',
      "internetGateway.uplinkGateway: 203.0.113.2 is uplinkIp, vpcd's own address; the gateway is another router");
  });

  it('rejects a gateway outside uplinkCidr, or on its network or broadcast address', () => {
    expectAt(igw('uplinkCidr: 198.51.100.0/30', 'uplinkGateway: 198.51.100.9'), 6, '198.51.100.9',
      "internetGateway.uplinkGateway: 198.51.100.9 is not inside uplinkCidr 198.51.100.0/30; the gateway must be on the uplink's own network");
    expectAt(igw('uplinkCidr: 198.51.100.0/30', 'uplinkGateway: 198.51.100.0'), 6, '198.51.100.0',
      'internetGateway.uplinkGateway: 198.51.100.0 is the network address of uplinkCidr 198.51.100.0/30, not a host');
    expectAt(igw('uplinkCidr: 198.51.100.0/30', 'uplinkGateway: 198.51.100.3'), 6, '198.51.100.3',
      'internetGateway.uplinkGateway: 198.51.100.3 is the broadcast address of uplinkCidr 198.51.100.0/30, not a host');
    // A /31 (RFC 3021) has no network or broadcast address: both ends are hosts.
    expect(issues(igw('uplinkIp: 198.51.100.0', 'uplinkCidr: 198.51.100.0/31', 'uplinkGateway: 198.51.100.1'))).toEqual([]);
  });

  it('rejects uplinkIp outside uplinkCidr', () => {
    expectAt(igw('uplinkIp: 203.0.113.2', 'uplinkCidr: 198.51.100.0/24'), 5, '203.0.113.2',
      "internetGateway.uplinkIp: 203.0.113.2 is not inside uplinkCidr 198.51.100.0/24; vpcd's uplink address must be on the uplink's own network");
  });

  it('rejects an uplinkCidr that is not an IPv4 CIDR or overlaps the VPC', () => {
    expectAt(igw('uplinkCidr: 198.51.100.0/33'), 5, '198.51.100.0/33',
      'internetGateway.uplinkCidr: prefix length "33" is not an integer between 0 and 32; expected an IPv4 CIDR such as 198.18.1.0/24');
    expectAt(igw('uplinkCidr: "2001:db8::/64"'), 5, '"2001:db8::/64"',
      'internetGateway.uplinkCidr: expected an IPv4 CIDR such as 198.18.1.0/24, got the IPv6 CIDR 2001:db8::/64');
    expectAt(igw('uplinkCidr: 198.0.0.0/8'), 5, '198.0.0.0/8',
      'internetGateway.uplinkCidr: 198.0.0.0/8 overlaps vpc.cidr 198.18.0.0/16; the uplink network is outside the VPC');
  });
});

describe('route target blackhole', () => {
  const routes = (...lines: string[]): string =>
    doc(...HEAD, 'subnets: { a: { cidr: 198.18.1.0/24, routeTable: r } }', 'routeTables:', '  r:', '    routes:', ...lines.map((l) => `      - ${l}`));

  it('is accepted without any gateway and stored as kind blackhole', () => {
    const c = parseConfig(routes('{ destination: 203.0.113.0/24, target: blackhole }'), 'c.yaml');
    expect(c.routeTables.get('r')?.routes).toEqual([{ destination: '203.0.113.0/24', target: 'blackhole', targetKind: 'blackhole' }]);
  });

  it('compiles to a route the packet path drops (never the local route)', () => {
    const c = parseConfig(routes('{ destination: 203.0.113.0/24, target: blackhole }'), 'c.yaml');
    const topo = compileSnapshot(c, 1).topology;
    const e = topo.route(topo.subnetRouteTable[0], 0xcb007105);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(topo.rtKind[e]).toBe(Target.Blackhole);
    expect(topo.rtTargetText[e]).toBe('blackhole');
  });

  it('explain denies at the route stage with BAD_STATE_ROUTE', () => {
    const c = parseConfig(doc(...HEAD,
      'subnets: { a: { cidr: 198.18.1.0/24, routeTable: r } }',
      'instances: { i: { subnet: a, ip: 198.18.1.9 } }',
      'routeTables: { r: { routes: [ { destination: 203.0.113.0/24, target: blackhole } ] } }'), 'c.yaml');
    const e = evaluateFlow(c, { src: '198.18.1.9', dst: '203.0.113.5', proto: 6, sport: 40000, dport: 443 });
    expect(e.verdict).toBe('deny');
    expect(e.path.at(-1)).toMatchObject({ stage: 'route', verdict: 'deny', code: 'BAD_STATE_ROUTE' });
  });

  it('suggests blackhole for a near miss', () => {
    expectAt(routes('{ destination: 203.0.113.0/24, target: blackhol }'), 8, 'blackhol',
      'routeTables.r.routes[0].target: unknown route target "blackhol" (did you mean "blackhole"?); expected igw, vgw, a NAT gateway or an instance name');
  });

  it('is reserved: no instance, NAT gateway or gateway may be named blackhole', () => {
    expectAt(doc(...NET, 'instances:', '  blackhole: { subnet: a, ip: 198.18.1.9 }'), 6, 'blackhole',
      'instances.blackhole: the name "blackhole" is taken by the blackhole route target; route targets would be ambiguous');
    expectAt(doc(...NET, 'natGateways:', '  blackhole: { subnet: a, type: private, ip: 198.18.1.9 }'), 6, 'blackhole',
      'natGateways.blackhole: the name "blackhole" is taken by the blackhole route target; route targets would be ambiguous');
    expectAt(doc(...HEAD, 'internetGateway: { name: blackhole }'), 4, 'blackhole',
      'internetGateway.name: "blackhole" is the route target that drops packets; a gateway needs another name');
    expectAt(doc(...HEAD, 'vpnGateway: { name: blackhole }'), 4, 'blackhole',
      'vpnGateway.name: "blackhole" is the route target that drops packets; a gateway needs another name');
  });
});

describe('state.path and state.enabled', () => {
  it('default to /run/vpcd/<vpc.name>.state, enabled', () => {
    expect(parseConfig(doc(...HEAD), '/etc/vpcd/c.yaml').state).toEqual({ path: '/run/vpcd/t.state', enabled: true });
  });

  it('take a path relative to the file and a boolean', () => {
    const c = parseConfig(doc(...HEAD, 'state: { path: run/vpcd.state, enabled: false }'), '/etc/vpcd/c.yaml');
    expect(c.state).toEqual({ path: '/etc/vpcd/run/vpcd.state', enabled: false });
  });

  it('reject other keys and values at the value', () => {
    expectAt(doc(...HEAD, 'state: { enabled: maybe }'), 4, 'maybe', 'state.enabled: expected true or false, got "maybe"');
    expect(issues(doc(...HEAD, 'state: { file: x }')).map((i) => i.message).join('\n')).toContain('state.file: unknown key');
  });
});

describe('routes more specific than the local route', () => {
  const base = (target: string) => `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  a: { cidr: 198.18.1.0/24, routeTable: r }
  b: { cidr: 198.18.2.0/24 }
internetGateway: { name: igw }
instances:
  fw: { subnet: a, ip: 198.18.1.10, sourceDestCheck: false }
routeTables:
  r: { routes: [ { destination: 198.18.2.0/24, target: ${target} } ] }
`;
  it('may target an instance (an appliance), not the internet gateway', () => {
    expect(() => parseConfig(base('fw'), 't.yaml')).not.toThrow();
    expect(() => parseConfig(base('igw'), 't.yaml')).toThrow(/more specific than the local route can only target an instance/);
  });
});
