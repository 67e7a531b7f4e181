/**
 * Builds validated VpcConfig objects for unit tests without YAML, applying the
 * same normalisation the loader documents (src/control/config-types.ts):
 * canonical CIDRs with their parsed blocks (one parser: src/control/cidr.ts), protocol numbers, `ports` dropped where AWS ignores them,
 * icmpType/icmpCode -1 when absent, and the implicit objects (NACL `default`
 * allowing all, security group `default` with its self-reference, route table
 * `main`, instances without groups in `default`).
 *
 *   const cfg = config()
 *     .subnet('public-a', '198.18.1.0/24', { routeTable: 'public' })
 *     .sg('web', { ingress: [{ protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }] })
 *     .instance('web-1', { subnet: 'public-a', ip: '198.18.1.10', securityGroups: ['web'] })
 *     .igw()
 *     .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
 *     .build();
 *
 * Builders are mutable; each call replaces an object of the same name.
 */
import type {
  Action,
  Instance,
  NaclRule,
  NatGateway,
  NetworkAcl,
  PortRange,
  PrefixList,
  Route,
  RouteTable,
  RouteTargetKind,
  SecurityGroup,
  SgRule,
  Subnet,
  VpcConfig,
  VpnConnection,
} from '../../src/control/config-types.js';
import { withParsed } from '../../src/control/config-types.js';
import { type Cidr, cidrToString, type Ipv4Cidr, parseCidr } from '../../src/control/cidr.js';
import { instanceMac, labInstanceIfName, labUplinkIfName } from '../../src/lab/names.js';

export type ProtocolIn = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'all' | number;
/** `443`, `'1024-65535'` or `[1024, 65535]`; omitted = all ports. */
export type PortsIn = number | string | readonly [number, number];

export interface SgRuleIn {
  readonly protocol: ProtocolIn;
  readonly ports?: PortsIn;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly cidr?: string;
  readonly group?: string;
  readonly prefixList?: string;
}

export interface NaclRuleIn {
  readonly rule: number;
  readonly action: Action;
  readonly protocol: ProtocolIn;
  readonly ports?: PortsIn;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly cidr: string;
}

export interface InstanceIn {
  readonly subnet: string;
  readonly ip: string;
  readonly publicIp?: string;
  readonly securityGroups?: readonly string[];
  readonly sourceDestCheck?: boolean;
  readonly natInstance?: boolean;
}

export interface NatGatewayIn {
  readonly subnet: string;
  readonly ip: string;
  readonly type?: 'public' | 'private';
  readonly publicIp?: string;
}

export interface VpnIn {
  readonly remoteNetworks: readonly string[];
  readonly localNetworks?: readonly string[];
  readonly splitTunnel?: boolean;
  readonly role?: 'cgw' | 'vgw';
}

const PROTOCOLS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, all: -1 };

export function protocolNumber(p: ProtocolIn): number {
  if (typeof p === 'number') return p;
  const n = PROTOCOLS[p];
  if (n === undefined) throw new Error(`unknown protocol ${p}`);
  return n;
}

export function parsePorts(p: PortsIn): PortRange {
  if (typeof p === 'number') return { from: p, to: p };
  if (typeof p === 'string') {
    const [a, b] = p.split('-');
    return { from: Number(a), to: Number(b ?? a) };
  }
  return { from: p[0], to: p[1] };
}

/** A CIDR parsed as the loader parses it (host bits cleared, a bare address is /32 or /128); throws on bad text. */
export function cidrBlock(c: string): Cidr {
  const r = parseCidr(c);
  if (!r.ok) throw new Error(`bad CIDR ${c}: ${r.error}`);
  return r.cidr;
}

/** An IPv4 CIDR parsed as the loader parses it; throws on bad or IPv6 text. */
export function ipv4Block(c: string): Ipv4Cidr {
  const b = cidrBlock(c);
  if (b.family !== 4) throw new Error(`not an IPv4 CIDR: ${c}`);
  return b;
}

/** Canonical CIDR text, as the loader stores it. */
export function canonicalCidr(c: string): string {
  return cidrToString(cidrBlock(c));
}

/** AWS: ports only mean something for tcp/udp (icmp uses type/code); -1 and other protocols ignore them. */
function portsFor(protocol: number, ports: PortsIn | undefined): { ports?: PortRange } {
  if (ports === undefined || (protocol !== 6 && protocol !== 17)) return {};
  return { ports: parsePorts(ports) };
}

function sgRule(r: SgRuleIn, index: number): SgRule {
  const protocol = protocolNumber(r.protocol);
  const peers = [r.cidr, r.group, r.prefixList].filter((x) => x !== undefined);
  if (peers.length !== 1) throw new Error('an SG rule needs exactly one of cidr, group, prefixList');
  const rule: SgRule = {
    index,
    protocol,
    ...portsFor(protocol, r.ports),
    icmpType: r.icmpType ?? -1,
    icmpCode: r.icmpCode ?? -1,
    ...(r.cidr !== undefined ? { cidr: canonicalCidr(r.cidr) } : {}),
    ...(r.group !== undefined ? { group: r.group } : {}),
    ...(r.prefixList !== undefined ? { prefixList: r.prefixList } : {}),
  };
  return r.cidr === undefined ? rule : withParsed(rule, 'block', cidrBlock(r.cidr));
}

function naclRule(r: NaclRuleIn): NaclRule {
  const protocol = protocolNumber(r.protocol);
  const rule = {
    rule: r.rule,
    action: r.action,
    protocol,
    ...portsFor(protocol, r.ports),
    icmpType: r.icmpType ?? -1,
    icmpCode: r.icmpCode ?? -1,
    cidr: canonicalCidr(r.cidr),
  };
  return withParsed(rule, 'block', cidrBlock(r.cidr));
}

/** A new (non-default) AWS security group's egress: all traffic to 0.0.0.0/0 [VPC-SGR]. */
export const ALLOW_ALL_EGRESS: readonly SgRuleIn[] = [{ protocol: 'all', cidr: '0.0.0.0/0' }];

export class ConfigBuilder {
  private readonly subnets = new Map<string, Subnet>();
  private readonly nacls = new Map<string, NetworkAcl>();
  private readonly sgs = new Map<string, SecurityGroup>();
  private readonly prefixLists = new Map<string, PrefixList>();
  private readonly instances = new Map<string, InstanceIn>();
  private readonly natGateways = new Map<string, NatGatewayIn>();
  private readonly routeTables = new Map<string, readonly { destination: string; target: string }[]>();
  private readonly vpns = new Map<string, VpnIn>();
  private readonly internetHosts: Record<string, string> = {};
  private igwName: string | undefined;
  private vgw: { name: string; asn: number } | undefined;
  private cgw: { name: string; asn: number; wan: { ip: string } } | undefined;

  constructor(
    private readonly name = 'demo',
    private readonly cidr = '198.18.0.0/16',
  ) {}

  subnet(name: string, cidr: string, opts: { routeTable?: string; networkAcl?: string } = {}): this {
    this.subnets.set(name, withParsed({ name, cidr: canonicalCidr(cidr), routeTable: opts.routeTable ?? 'main', networkAcl: opts.networkAcl ?? 'default' }, 'block', ipv4Block(cidr)));
    return this;
  }

  /** A custom NACL (implicit `*` deny; empty lists deny everything). */
  nacl(name: string, rules: { inbound?: readonly NaclRuleIn[]; outbound?: readonly NaclRuleIn[] }): this {
    this.nacls.set(name, { name, inbound: (rules.inbound ?? []).map(naclRule), outbound: (rules.outbound ?? []).map(naclRule) });
    return this;
  }

  /** A security group; `egress` omitted = allow all outbound, as a new AWS group. */
  sg(name: string, rules: { ingress?: readonly SgRuleIn[]; egress?: readonly SgRuleIn[] }): this {
    this.sgs.set(name, {
      name,
      ingress: (rules.ingress ?? []).map(sgRule),
      egress: (rules.egress ?? ALLOW_ALL_EGRESS).map(sgRule),
    });
    return this;
  }

  prefixList(name: string, cidrs: readonly string[]): this {
    this.prefixLists.set(name, withParsed({ name, cidrs: cidrs.map(canonicalCidr) }, 'blocks', cidrs.map(cidrBlock)));
    return this;
  }

  instance(name: string, opts: InstanceIn): this {
    this.instances.set(name, opts);
    return this;
  }

  igw(name = 'igw'): this {
    this.igwName = name;
    return this;
  }

  natGateway(name: string, opts: NatGatewayIn): this {
    this.natGateways.set(name, opts);
    return this;
  }

  routeTable(name: string, routes: readonly { destination: string; target: string }[]): this {
    this.routeTables.set(name, routes);
    return this;
  }

  vpnGateway(name = 'vgw', asn = 64512): this {
    this.vgw = { name, asn };
    return this;
  }

  customerGateway(wanIp: string, name = 'cgw', asn = 65000): this {
    this.cgw = { name, asn, wan: { ip: wanIp } };
    return this;
  }

  vpn(name: string, opts: VpnIn): this {
    this.vpns.set(name, opts);
    return this;
  }

  internetHost(name: string, ip: string): this {
    this.internetHosts[name] = ip;
    return this;
  }

  build(): VpcConfig {
    const networkAcls = new Map<string, NetworkAcl>();
    if (!this.nacls.has('default')) {
      const all = [naclRule({ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' })];
      networkAcls.set('default', { name: 'default', inbound: all, outbound: all });
    }
    for (const [k, v] of this.nacls) networkAcls.set(k, v);

    const securityGroups = new Map<string, SecurityGroup>();
    if (!this.sgs.has('default')) {
      // [VPC-DSG]: inbound all from the group itself, outbound all.
      securityGroups.set('default', {
        name: 'default',
        ingress: [sgRule({ protocol: 'all', group: 'default' }, 0)],
        egress: [sgRule({ protocol: 'all', cidr: '0.0.0.0/0' }, 0)],
      });
    }
    for (const [k, v] of this.sgs) securityGroups.set(k, v);

    const instances = new Map<string, Instance>();
    for (const [name, i] of this.instances) {
      instances.set(name, {
        name,
        subnet: i.subnet,
        ip: i.ip,
        ...(i.publicIp !== undefined ? { publicIp: i.publicIp } : {}),
        securityGroups: i.securityGroups ?? ['default'],
        sourceDestCheck: i.sourceDestCheck ?? true,
        natInstance: i.natInstance ?? false,
        mac: instanceMac(this.name, name),
        interface: labInstanceIfName(this.name, name),
      });
    }

    const natGateways = new Map<string, NatGateway>();
    for (const [name, g] of this.natGateways) {
      natGateways.set(name, {
        name,
        subnet: g.subnet,
        type: g.type ?? 'public',
        ip: g.ip,
        ...(g.publicIp !== undefined ? { publicIp: g.publicIp } : {}),
        maxConnectionsPerDestination: 55000,
        idleTimeout: 350,
      });
    }

    const routeTables = new Map<string, RouteTable>();
    if (!this.routeTables.has('main')) routeTables.set('main', { name: 'main', routes: [] });
    for (const [name, routes] of this.routeTables) {
      routeTables.set(name, {
        name,
        routes: routes.map((r): Route => {
          const destination = canonicalCidr(r.destination);
          const route = (targetKind: RouteTargetKind): Route => withParsed({ destination, target: r.target, targetKind }, 'block', ipv4Block(r.destination));
          if (r.target === 'igw' || (this.igwName !== undefined && r.target === this.igwName)) return route('igw');
          if (r.target === 'vgw') return route('vgw');
          if (natGateways.has(r.target)) return route('nat-gateway');
          if (instances.has(r.target)) return route('instance');
          if (r.target === 'local') return route('local');
          if (r.target === 'blackhole') return route('blackhole');
          throw new Error(`route table ${name}: unknown target ${r.target}`);
        }),
      });
    }

    const vpnConnections = new Map<string, VpnConnection>();
    for (const [name, v] of this.vpns) {
      vpnConnections.set(name, {
        name,
        role: v.role ?? 'vgw',
        remoteNetworks: v.remoteNetworks.map(canonicalCidr),
        localNetworks: (v.localNetworks ?? [this.cidr]).map(canonicalCidr),
        splitTunnel: v.splitTunnel ?? true,
        auth: { kind: 'psk', psk: { env: 'VPN_PSK' } },
        tunnels: [{ peer: '198.51.100.1', insideCidr: '169.254.10.0/30' }],
        ike: { proposals: ['aes256gcm16-prfsha256-ecp256'], lifetime: 28800, dpdTimeout: 30 },
        esp: { proposals: ['aes256gcm16-ecp256'], lifetime: 3600 },
      });
    }

    return {
      file: '<config-builder>',
      vpc: withParsed({ name: this.name, cidr: canonicalCidr(this.cidr), accountId: '123456789012' }, 'block', ipv4Block(this.cidr)),
      subnets: new Map(this.subnets),
      networkAcls,
      securityGroups,
      prefixLists: new Map(this.prefixLists),
      instances,
      routeTables,
      ...(this.igwName !== undefined ? { internetGateway: { name: this.igwName, interface: labUplinkIfName(this.name) } } : {}),
      natGateways,
      ...(this.vgw !== undefined ? { vpnGateway: this.vgw } : {}),
      ...(this.cgw !== undefined ? { customerGateway: this.cgw } : {}),
      vpnConnections,
      privateZones: [],
      dns: { upstreams: [] },
      conntrack: {
        max: 1048576,
        timeouts: { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 },
      },
      metrics: { listen: '127.0.0.1:9469' },
      control: { socket: `/run/vpcd/${this.name}.sock` },
      state: { path: `/run/vpcd/${this.name}.state`, enabled: true },
      lab: { prefix: this.name, internet: `${this.name}-internet`, internetHosts: { ...this.internetHosts } },
      dataplane: { batch: 64, vnetHeader: true },
    };
  }
}

export function config(name?: string, cidr?: string): ConfigBuilder {
  return new ConfigBuilder(name, cidr);
}
