/**
 * Random VPCs for the explain/packet-path agreement test: a fast-check
 * arbitrary of small integers (so shrinking works on them), resolved into a
 * concrete model and rendered as the YAML file both paths read.
 *
 * What a VPC may hold: 2-4 subnets (/24, /25 and /26 layouts), custom route
 * tables whose targets are the local route, the internet gateway, NAT
 * gateways (public; private ones towards the VPN gateway), NAT instances
 * (`natInstance: true`), appliances (`sourceDestCheck: false` instances used
 * as route targets, including more-specific routes inside the VPC), the VPN
 * gateway with one connection; custom NACLs (denies numbered before allows,
 * port ranges including partial ephemeral ranges, ICMP types); security
 * groups by CIDR, by group reference and by prefix list, with and without the
 * all-open rules that make flows untracked; public IPs; internet hosts.
 *
 * Every reference is an index taken modulo what exists, so any integers make
 * a valid file; an invalid file is a generator bug and fails the test loudly.
 */
import fc from 'fast-check';
import { parseConfig } from '../../src/control/config.js';

export const VPC_NAME = 'ag';
export const VPC_CIDR = '198.18.0.0/16';

const LAYOUTS: readonly (readonly string[])[] = [
  ['198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24', '198.18.4.0/24'],
  ['198.18.1.0/25', '198.18.1.128/25', '198.18.2.0/24', '198.18.3.0/26'],
];

/** Internet hosts of the lab (lab.internetHosts). */
export const INTERNET_HOSTS: readonly string[] = ['203.0.113.100', '198.51.100.100', '203.0.113.200'];
/** A public address nobody owns. */
export const UNOWNED_PUBLIC = '203.0.113.250';
/** The VPN: AWS-side tunnel endpoint (ours), the customer gateway (peer), the on-premises networks. */
export const VPN_LOCAL = '198.51.100.2';
export const VPN_PEER = '198.51.100.1';
export const VPN_INSIDE = '169.254.10.0/30';
export const REMOTE_NETWORK_CHOICES: readonly (readonly string[])[] = [['198.19.0.0/16'], ['198.19.1.0/24']];
export const REMOTE_HOSTS: readonly string[] = ['198.19.1.10', '198.19.200.1'];

export const instancePublicIp = (k: number): string => `203.0.113.${10 + k}`;
export const natPublicIp = (k: number): string => `203.0.113.${50 + k}`;

// ---------------------------------------------------------------------------
// Rule vocabularies (symbolic CIDRs: S<k> a subnet, I<k> an instance /32)

const RULE_CIDRS = [
  '0.0.0.0/0', '0.0.0.0/0', '198.18.0.0/16', 'S0', 'S1', 'S2', 'I0', 'I1', '203.0.113.0/24', '203.0.113.100/32',
  '198.51.100.0/24', '198.19.0.0/16', '128.0.0.0/1', '203.0.113.0/25', '10.0.0.0/8',
] as const;
const PREFIX_LIST_CIDRS = ['203.0.113.0/25', 'S0', '0.0.0.0/0', '198.19.0.0/16', '198.51.100.0/24', 'I1'] as const;
/** Port ranges of rules: single ports, the ephemeral range, partial ephemeral ranges. */
export const RULE_PORTS = [
  '22', '53', '80', '443', '1024-65535', '32768-65535', '49152-65535', '1024-32767', '0-1023', '0-65535', '32768-60999', '1025-65535',
] as const;
/** [type, code] of ICMP rules; -1 = all. */
const RULE_ICMP: readonly (readonly [number, number])[] = [
  [-1, -1], [8, -1], [0, -1], [8, 0], [3, -1], [3, 4], [11, 0], [13, -1], [14, -1], [0, 0],
];
const RULE_PROTOS = ['all', 'tcp', 'udp', 'icmp', '47'] as const;
const SG_NAMES = ['default', 'g1', 'g2', 'g3'] as const;
const PL_NAMES = ['pl0', 'pl1', 'pl2'] as const;
const EPHEMERAL = ['1024-65535', '32768-65535', '49152-65535', '1024-32767', '32768-60999'] as const;
const ROUTE_DESTS = ['0.0.0.0/0', '0.0.0.0/0', '0.0.0.0/0', '203.0.113.0/24', '198.51.100.0/24', '198.19.0.0/16', '10.0.0.0/8', '169.254.0.0/16', 'S0', 'S1', 'S2', '203.0.113.100/32'] as const;

// ---------------------------------------------------------------------------
// Raw (generated) shape

export interface RawRule {
  readonly proto: number;
  readonly ports: number;
  readonly icmp: number;
  readonly cidr: number;
}
export interface RawSgRule extends RawRule {
  /** 0-5 cidr, 6-7 group, 8-9 prefix list (weights as written). */
  readonly peerKind: number;
  readonly peer: number;
}
export interface RawNacl {
  /**
   * 0-59 none; else an allow for TCP and UDP from anywhere to one (often
   * partial) ephemeral range, before the other allows, and the catch-all
   * allow (when there is one) then covers only the VPC.
   */
  readonly inEphemeral: number;
  readonly inDeny: readonly RawRule[];
  readonly inAllow: readonly RawRule[];
  readonly inAllowAll: boolean;
  readonly outDeny: readonly RawRule[];
  readonly outAllow: readonly RawRule[];
  readonly outAllowAll: boolean;
}
export interface RawSg {
  /** A broad ingress rule added first: 0-39 none, 40-64 all from 0.0.0.0/0, 65-84 all from the VPC, 85-99 TCP from anywhere. */
  readonly base: number;
  readonly ingress: readonly RawSgRule[];
  /** undefined: the file omits egress (allow all, as a new AWS group). */
  readonly egress: readonly RawSgRule[] | undefined;
}
export interface RawInstance {
  readonly subnet: number;
  readonly publicIp: boolean;
  readonly sgs: readonly number[];
  readonly forwarder: boolean;
  readonly natInstance: boolean;
}
export interface RawNat {
  readonly subnet: number;
  readonly public: boolean;
  /** The gateway's first source port (drawn per case so a seed replays exactly). */
  readonly cursor: number;
}
export interface RawRoute {
  readonly dest: number;
  /** 0 igw, 1 nat gateway, 2 instance, 3 vgw. */
  readonly kind: number;
  readonly target: number;
}
/**
 * A route table: its default route (0-14 none, 15-54 igw, 55-74 a NAT
 * gateway, 75-89 an instance, 90-99 vgw), a middlebox route (0-64 none;
 * else another subnet's CIDR to an instance that forwards) and more routes.
 */
export interface RawTable {
  readonly defaultRoute: number;
  readonly defaultTarget: number;
  readonly middlebox: number;
  readonly middleboxSubnet: number;
  readonly routes: readonly RawRoute[];
}
export interface RawVpc {
  readonly layout: number;
  readonly nSubnets: number;
  readonly subnetTable: readonly number[];
  readonly subnetNacl: readonly number[];
  readonly tables: readonly RawTable[];
  readonly nacls: readonly RawNacl[];
  readonly sgs: readonly RawSg[];
  readonly prefixLists: readonly (readonly number[])[];
  readonly instances: readonly RawInstance[];
  readonly nats: readonly RawNat[];
  readonly igw: boolean;
  readonly vpn: boolean;
  readonly remoteNetworks: number;
  /** The first generated group replaces the implicit `default` group. */
  readonly redefineDefault: boolean;
}

/** True with probability p%; shrinks towards false. */
const pct = (p: number): fc.Arbitrary<boolean> => fc.integer({ min: 0, max: 99 }).map((x) => x >= 100 - p);
const idx = (n: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: n - 1 });

const ruleArb: fc.Arbitrary<RawRule> = fc.record({
  proto: idx(RULE_PROTOS.length),
  ports: idx(RULE_PORTS.length),
  icmp: idx(RULE_ICMP.length),
  cidr: idx(RULE_CIDRS.length),
});
const sgRuleArb: fc.Arbitrary<RawSgRule> = fc.record({
  proto: idx(RULE_PROTOS.length),
  ports: idx(RULE_PORTS.length),
  icmp: idx(RULE_ICMP.length),
  cidr: idx(RULE_CIDRS.length),
  peerKind: idx(10),
  peer: idx(12),
});
const naclArb: fc.Arbitrary<RawNacl> = fc.record({
  inEphemeral: fc.integer({ min: 0, max: 99 }),
  inDeny: fc.array(ruleArb, { maxLength: 3 }),
  inAllow: fc.array(ruleArb, { maxLength: 4 }),
  inAllowAll: pct(60),
  outDeny: fc.array(ruleArb, { maxLength: 3 }),
  outAllow: fc.array(ruleArb, { maxLength: 4 }),
  outAllowAll: pct(60),
});
const sgArb: fc.Arbitrary<RawSg> = fc.record({
  base: fc.integer({ min: 0, max: 99 }),
  ingress: fc.array(sgRuleArb, { maxLength: 4 }),
  egress: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.array(sgRuleArb, { maxLength: 3 }) }),
});
const instanceArb: fc.Arbitrary<RawInstance> = fc.record({
  subnet: idx(4),
  publicIp: pct(60),
  sgs: fc.uniqueArray(idx(SG_NAMES.length), { minLength: 1, maxLength: 2 }),
  forwarder: pct(30),
  natInstance: pct(50),
});
const natArb: fc.Arbitrary<RawNat> = fc.record({
  subnet: idx(4),
  public: pct(75),
  cursor: fc.integer({ min: 1024, max: 65535 }),
});
const routeArb: fc.Arbitrary<RawRoute> = fc.record({
  dest: idx(ROUTE_DESTS.length),
  kind: idx(4),
  target: idx(6),
});

export const vpcArb: fc.Arbitrary<RawVpc> = fc.record({
  layout: idx(LAYOUTS.length),
  nSubnets: fc.integer({ min: 2, max: 4 }),
  subnetTable: fc.array(idx(4), { minLength: 4, maxLength: 4 }),
  // 0 and 1: the default NACL (allow all), 2-4: a custom one
  subnetNacl: fc.array(idx(5), { minLength: 4, maxLength: 4 }),
  tables: fc.array(
    fc.record({
      defaultRoute: fc.integer({ min: 0, max: 99 }),
      defaultTarget: idx(6),
      middlebox: fc.integer({ min: 0, max: 99 }),
      middleboxSubnet: idx(4),
      routes: fc.array(routeArb, { maxLength: 3 }),
    }),
    { minLength: 4, maxLength: 4 },
  ),
  nacls: fc.array(naclArb, { minLength: 3, maxLength: 3 }),
  sgs: fc.array(sgArb, { minLength: 4, maxLength: 4 }),
  prefixLists: fc.array(fc.uniqueArray(idx(PREFIX_LIST_CIDRS.length), { maxLength: 3 }), { minLength: 3, maxLength: 3 }),
  instances: fc.array(instanceArb, { minLength: 2, maxLength: 6 }),
  nats: fc.array(natArb, { maxLength: 2 }),
  igw: pct(85),
  vpn: pct(35),
  remoteNetworks: idx(REMOTE_NETWORK_CHOICES.length),
  redefineDefault: pct(30),
});

// ---------------------------------------------------------------------------
// Resolved model

export interface SubnetM {
  readonly name: string;
  readonly cidr: string;
}
export interface InstanceM {
  readonly name: string;
  readonly subnet: number;
  readonly ip: string;
  readonly publicIp: string | undefined;
  readonly sourceDestCheck: boolean;
  readonly natInstance: boolean;
}
export interface NatM {
  readonly name: string;
  readonly subnet: number;
  readonly ip: string;
  readonly publicIp: string | undefined;
  readonly cursor: number;
}
export interface VpcModel {
  readonly yaml: string;
  readonly subnets: readonly SubnetM[];
  readonly instances: readonly InstanceM[];
  readonly nats: readonly NatM[];
  readonly igw: boolean;
  readonly vpn: boolean;
  readonly remoteNetworks: readonly string[];
}

function u32(ip: string): number {
  return ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
}
function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
function hostIn(cidr: string, offset: number): string {
  return dotted(u32(cidr.split('/')[0] as string) + offset);
}

/** One rule's match keys in YAML flow style (protocol, ports or ICMP type/code). */
function matchYaml(r: RawRule): string {
  const proto = RULE_PROTOS[r.proto] as string;
  if (proto === 'tcp' || proto === 'udp') return `protocol: ${proto}, ports: ${RULE_PORTS[r.ports]}`;
  if (proto === 'icmp') {
    const [t, c] = RULE_ICMP[r.icmp] as readonly [number, number];
    if (t < 0) return 'protocol: icmp';
    return c < 0 ? `protocol: icmp, icmpType: ${t}` : `protocol: icmp, icmpType: ${t}, icmpCode: ${c}`;
  }
  return `protocol: ${proto === '47' ? 47 : proto}`;
}

export function resolveVpc(raw: RawVpc): VpcModel {
  const layout = LAYOUTS[raw.layout] as readonly string[];
  const subnets: SubnetM[] = [];
  for (let i = 0; i < raw.nSubnets; i++) subnets.push({ name: `s${i}`, cidr: layout[i] as string });
  const ns = subnets.length;
  const igw = raw.igw;
  const instances: InstanceM[] = raw.instances.map((r, k) => {
    const subnet = r.subnet % ns;
    return {
      name: `i${k}`,
      subnet,
      ip: hostIn(subnets[subnet]!.cidr, 10 + k),
      publicIp: igw && r.publicIp ? instancePublicIp(k) : undefined,
      sourceDestCheck: !r.forwarder,
      natInstance: r.forwarder && r.natInstance,
    };
  });
  const nats: NatM[] = raw.nats.map((r, k) => {
    const subnet = r.subnet % ns;
    return { name: `n${k}`, subnet, ip: hostIn(subnets[subnet]!.cidr, 5 + k), publicIp: igw && r.public ? natPublicIp(k) : undefined, cursor: r.cursor };
  });
  const remoteNetworks = REMOTE_NETWORK_CHOICES[raw.remoteNetworks] as readonly string[];

  const cidrOf = (sym: string): string => {
    if (sym.startsWith('S')) return subnets[Number(sym.slice(1)) % ns]!.cidr;
    if (sym.startsWith('I')) return `${instances[Number(sym.slice(1)) % instances.length]!.ip}/32`;
    return sym;
  };
  const naclRule = (n: number, action: string, r: RawRule): string =>
    `      - { rule: ${n}, action: ${action}, ${matchYaml(r)}, cidr: ${cidrOf(RULE_CIDRS[r.cidr] as string)} }`;
  const sgRule = (r: RawSgRule): string => {
    let peer: string;
    if (r.peerKind < 6) peer = `cidr: ${cidrOf(RULE_CIDRS[r.cidr] as string)}`;
    else if (r.peerKind < 8) peer = `group: ${SG_NAMES[r.peer % SG_NAMES.length]}`;
    else peer = `prefixList: ${PL_NAMES[r.peer % PL_NAMES.length]}`;
    return `      - { ${matchYaml(r)}, ${peer} }`;
  };

  // Only what is referenced is written, so a shrunk counterexample is short.
  const tableOf = (i: number): number => raw.subnetTable[i]! % 4;
  const naclOf = (i: number): number => raw.subnetNacl[i]! % 5;
  const usedTables = new Set(subnets.map((_, i) => tableOf(i)));
  const usedNacls = new Set(subnets.map((_, i) => naclOf(i)).filter((n) => n >= 2).map((n) => n - 2));
  const sgIndex = (name: string): number => SG_NAMES.indexOf(name as (typeof SG_NAMES)[number]);
  const definedSg = (i: number): boolean => i !== 0 || raw.redefineDefault;
  const usedSgs = new Set<number>();
  const usedPls = new Set<number>();
  const pending = raw.instances.flatMap((r) => r.sgs.map((g) => g % SG_NAMES.length));
  while (pending.length > 0) {
    const g = pending.pop()!;
    if (usedSgs.has(g)) continue;
    usedSgs.add(g);
    if (!definedSg(g)) continue;
    const sg = raw.sgs[g]!;
    for (const r of [...sg.ingress, ...(sg.egress ?? [])]) {
      if (r.peerKind >= 6 && r.peerKind < 8) pending.push(sgIndex(SG_NAMES[r.peer % SG_NAMES.length] as string));
      else if (r.peerKind >= 8) usedPls.add(r.peer % PL_NAMES.length);
    }
  }

  const y: string[] = [];
  y.push(`vpc: { name: ${VPC_NAME}, cidr: ${VPC_CIDR} }`);
  y.push('subnets:');
  subnets.forEach((s, i) => {
    const t = tableOf(i);
    const n = naclOf(i);
    const parts = [`cidr: ${s.cidr}`];
    if (t !== 0) parts.push(`routeTable: rt${t}`);
    if (n >= 2) parts.push(`networkAcl: nacl${n - 2}`);
    y.push(`  ${s.name}: { ${parts.join(', ')} }`);
  });
  if (usedNacls.size > 0) y.push('networkAcls:');
  raw.nacls.forEach((n, i) => {
    if (!usedNacls.has(i)) return;
    y.push(`  nacl${i}:`);
    for (const [dir, deny, allow, all] of [
      ['inbound', n.inDeny, n.inAllow, n.inAllowAll],
      ['outbound', n.outDeny, n.outAllow, n.outAllowAll],
    ] as const) {
      const rules = [...deny.map((r, k) => naclRule(10 + 10 * k, 'deny', r))];
      if (dir === 'inbound' && n.inEphemeral >= 60) {
        const ports = EPHEMERAL[n.inEphemeral % EPHEMERAL.length];
        rules.push(`      - { rule: 90, action: allow, protocol: tcp, ports: ${ports}, cidr: 0.0.0.0/0 }`);
        rules.push(`      - { rule: 91, action: allow, protocol: udp, ports: ${ports}, cidr: 0.0.0.0/0 }`);
      }
      rules.push(...allow.map((r, k) => naclRule(100 + 10 * k, 'allow', r)));
      // With an ephemeral-range rule, the catch-all allow covers the VPC only: replies from outside need the range.
      const allFrom = dir === 'inbound' && n.inEphemeral >= 60 ? VPC_CIDR : '0.0.0.0/0';
      if (all) rules.push(`      - { rule: 200, action: allow, protocol: all, cidr: ${allFrom} }`);
      y.push(rules.length === 0 ? `    ${dir}: []` : `    ${dir}:`);
      y.push(...rules);
    }
  });
  const sgLines: string[] = [];
  raw.sgs.forEach((g, i) => {
    // sgs[0] may redefine `default` (its rules then replace AWS's self-reference)
    if (!usedSgs.has(i) || !definedSg(i)) return;
    sgLines.push(`  ${SG_NAMES[i]}:`);
    const base = g.base < 40 ? [] : g.base < 65 ? ['      - { protocol: all, cidr: 0.0.0.0/0 }'] : g.base < 85 ? [`      - { protocol: all, cidr: ${VPC_CIDR} }`] : ['      - { protocol: tcp, ports: 0-65535, cidr: 0.0.0.0/0 }'];
    const ingress = [...base, ...g.ingress.map(sgRule)];
    sgLines.push(ingress.length === 0 ? '    ingress: []' : '    ingress:');
    sgLines.push(...ingress);
    if (g.egress !== undefined) {
      sgLines.push(g.egress.length === 0 ? '    egress: []' : '    egress:');
      sgLines.push(...g.egress.map(sgRule));
    }
  });
  if (sgLines.length > 0) y.push('securityGroups:', ...sgLines);
  if (usedPls.size > 0) y.push('prefixLists:');
  raw.prefixLists.forEach((l, i) => {
    if (!usedPls.has(i)) return;
    const cidrs = [...new Set(l.map((c) => cidrOf(PREFIX_LIST_CIDRS[c] as string)))];
    y.push(`  ${PL_NAMES[i]}: { cidrs: [${cidrs.join(', ')}] }`);
  });
  y.push('instances:');
  raw.instances.forEach((r, k) => {
    const m = instances[k]!;
    const sgs = [...new Set(r.sgs.map((g) => SG_NAMES[g % SG_NAMES.length]))];
    const parts = [`subnet: ${subnets[m.subnet]!.name}`, `ip: ${m.ip}`];
    if (m.publicIp !== undefined) parts.push(`publicIp: ${m.publicIp}`);
    if (sgs.length !== 1 || sgs[0] !== 'default') parts.push(`securityGroups: [${sgs.join(', ')}]`);
    if (!m.sourceDestCheck) parts.push('sourceDestCheck: false');
    if (m.natInstance) parts.push('natInstance: true');
    y.push(`  ${m.name}: { ${parts.join(', ')} }`);
  });
  if (nats.length > 0) {
    y.push('natGateways:');
    for (const g of nats) {
      const kind = g.publicIp !== undefined ? `publicIp: ${g.publicIp}` : 'type: private';
      y.push(`  ${g.name}: { subnet: ${subnets[g.subnet]!.name}, ip: ${g.ip}, ${kind} }`);
    }
  }
  if (igw) y.push('internetGateway: {}');
  if (raw.vpn) {
    y.push('vpnGateway: {}');
    y.push('vpnConnections:');
    y.push('  vpn0:');
    y.push('    role: vgw');
    y.push(`    remoteNetworks: [${remoteNetworks.join(', ')}]`);
    y.push('    auth: { psk: { env: VPN_PSK } }');
    y.push(`    tunnels: [ { peer: ${VPN_PEER}, local: ${VPN_LOCAL}, insideCidr: ${VPN_INSIDE} } ]`);
  }
  const rtLines: string[] = [];
  raw.tables.forEach((table, t) => {
    if (!usedTables.has(t)) return;
    const lines: string[] = [];
    const seen = new Set<string>();
    const d = table.defaultRoute;
    const first: RawRoute = { dest: 0, kind: d < 15 ? -1 : d < 55 ? 0 : d < 75 ? 1 : d < 90 ? 2 : 3, target: table.defaultTarget };
    const extra = [first, ...table.routes].map((r) => ({ r, dest: cidrOf(ROUTE_DESTS[r.dest] as string) }));
    if (table.middlebox >= 65) extra.unshift({ r: { dest: 0, kind: 2, target: table.middlebox % 5 }, dest: subnets[table.middleboxSubnet % ns]!.cidr });
    for (const { r, dest } of extra) {
      let target: string | undefined;
      if (r.kind === 0 && igw) target = 'igw';
      else if (r.kind === 1 && nats.length > 0) target = nats[r.target % nats.length]!.name;
      else if (r.kind === 2) {
        // mostly an instance that forwards (appliance or NAT instance), sometimes any instance
        const fwd = instances.filter((i) => !i.sourceDestCheck);
        target = (fwd.length > 0 && r.target < 5 ? fwd[r.target % fwd.length]! : instances[r.target % instances.length]!).name;
      } else if (r.kind === 3 && raw.vpn) target = 'vgw';
      if (target === undefined || seen.has(dest)) continue;
      // AWS (and vpcd's config check): a route inside vpc.cidr may target only an instance or a NAT gateway.
      if ((target === 'igw' || target === 'vgw') && dest.startsWith('198.18.')) continue;
      seen.add(dest);
      lines.push(`      - { destination: ${dest}, target: ${target} }`);
    }
    if (lines.length === 0 && t === 0) return;
    rtLines.push(`  ${t === 0 ? 'main' : `rt${t}`}:`);
    rtLines.push(lines.length === 0 ? '    routes: []' : '    routes:');
    rtLines.push(...lines);
  });
  if (rtLines.length > 0) y.push('routeTables:', ...rtLines);
  y.push('conntrack: { max: 1024 }');
  y.push('lab:');
  y.push(`  internetHosts: { ${INTERNET_HOSTS.map((h, i) => `h${i}: ${h}`).join(', ')} }`);
  return { yaml: `${y.join('\n')}\n`, subnets, instances, nats, igw, vpn: raw.vpn, remoteNetworks };
}

/**
 * The model of a hand-written file (the reproducers in FINDINGS.md): subnets,
 * instances and NAT gateways in file order; a NAT gateway's first port is
 * taken from `natCursor` (default 9967) so a reproducer replays exactly.
 */
export function modelFromYaml(yaml: string, natCursor = 9967): VpcModel {
  const cfg = parseConfig(yaml, 'reproducer.yaml');
  const subnets = [...cfg.subnets.values()].map((s) => ({ name: s.name, cidr: s.cidr }));
  const subnetIndex = (name: string): number => subnets.findIndex((s) => s.name === name);
  const instances = [...cfg.instances.values()].map((i) => ({
    name: i.name, subnet: subnetIndex(i.subnet), ip: i.ip, publicIp: i.publicIp, sourceDestCheck: i.sourceDestCheck, natInstance: i.natInstance,
  }));
  const nats = [...cfg.natGateways.values()].map((g) => ({ name: g.name, subnet: subnetIndex(g.subnet), ip: g.ip, publicIp: g.publicIp, cursor: natCursor }));
  const vpn = cfg.vpnConnections.size > 0;
  const remoteNetworks = [...cfg.vpnConnections.values()].flatMap((c) => c.remoteNetworks);
  return { yaml, subnets, instances, nats, igw: cfg.internetGateway !== undefined, vpn, remoteNetworks };
}
