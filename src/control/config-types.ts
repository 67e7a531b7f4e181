/**
 * The validated, normalised configuration: what `loadConfig()` returns once a
 * YAML file has passed every check (see docs/config.md for the file format).
 *
 * Control-plane shape only: strings for names and CIDRs, plain objects, maps
 * in file order. The data plane never reads this; `compile*()` functions turn
 * it into typed-array lookup structures.
 *
 * Normalisation done by the loader (so consumers never re-derive it):
 * - every CIDR is canonical (`198.18.1.7/24` is stored `198.18.1.0/24`) and a
 *   bare address gets `/32` (`/128` for IPv6);
 * - `protocol` is a number: 6 tcp, 17 udp, 1 icmp, 58 icmpv6, -1 all;
 * - `ports` is an inclusive range or absent (= all ports); absent also when the
 *   protocol makes ports meaningless (AWS: -1 and any protocol other than
 *   tcp/udp/icmp/icmpv6 ignore port ranges);
 * - icmpType/icmpCode: -1 means all (absent in the file = -1);
 * - the implicit objects exist: NACL `default` (rule 100 allow all, both ways,
 *   unless the file redefines it), security group `default` (ingress: all from
 *   the group itself; egress: all to 0.0.0.0/0, unless redefined), route table
 *   `main` (no routes beyond the implicit local route, unless defined);
 * - subnets without routeTable/networkAcl point at `main`/`default`;
 *   instances without securityGroups get ['default'];
 * - every instance has a MAC and a data-plane interface name (derived when absent).
 *
 * CIDRs are parsed once, by the loader: next to each CIDR's canonical text
 * (kept for display and explain) sits its parsed form (`block`, `blocks`), which
 * the compilers read instead of parsing the text again. The parsed forms are
 * non-enumerable properties (see `withParsed`): derived data, so they stay out
 * of key iteration, spreads, JSON (an IPv6 block holds a bigint) and deep
 * equality; whoever builds or copies a config object sets them with `withParsed`.
 */
import type { Cidr, Ipv4Cidr } from './cidr.js';

export type Action = 'allow' | 'deny';

/** Inclusive port range, 0..65535. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Protocol numbers that carry ports or ICMP type/code. */
export const PROTO = { ALL: -1, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** Where a value came from in the file, for messages that point at it. */
export interface SourcePos {
  readonly line: number;
  readonly column: number;
}

export interface NaclRule {
  /** 1..32766, unique per direction; lowest first, first match wins. */
  readonly rule: number;
  readonly action: Action;
  readonly protocol: number;
  readonly ports?: PortRange;
  /** ICMP type, -1 = all. Only meaningful with protocol 1. */
  readonly icmpType: number;
  /** ICMP code, -1 = all. */
  readonly icmpCode: number;
  /** Source CIDR for inbound, destination for outbound; IPv4 or IPv6. */
  readonly cidr: string;
  /** `cidr` parsed (non-enumerable). */
  readonly block: Cidr;
  readonly pos?: SourcePos;
}

export interface NetworkAcl {
  readonly name: string;
  /** In file order; evaluate by ascending `rule`. The implicit `*` deny is not listed. */
  readonly inbound: readonly NaclRule[];
  readonly outbound: readonly NaclRule[];
}

export interface SgRule {
  /** Position of the rule in its list in the file (0-based): the "rule" of explain's `by`. */
  readonly index: number;
  readonly protocol: number;
  readonly ports?: PortRange;
  readonly icmpType: number;
  readonly icmpCode: number;
  /** Exactly one of cidr, group, prefixList is set. */
  readonly cidr?: string;
  /** `cidr` parsed (non-enumerable); set exactly when `cidr` is. */
  readonly block?: Cidr;
  readonly group?: string;
  readonly prefixList?: string;
  readonly description?: string;
  readonly pos?: SourcePos;
}

export interface SecurityGroup {
  readonly name: string;
  /** Free text (AWS: up to 255 characters); absent when the file gives none. */
  readonly description?: string;
  readonly ingress: readonly SgRule[];
  readonly egress: readonly SgRule[];
}

export interface PrefixList {
  readonly name: string;
  readonly cidrs: readonly string[];
  /** `cidrs` parsed, same order (non-enumerable). */
  readonly blocks: readonly Cidr[];
}

export interface Subnet {
  readonly name: string;
  readonly cidr: string;
  /** `cidr` parsed (non-enumerable). */
  readonly block: Ipv4Cidr;
  readonly routeTable: string;
  readonly networkAcl: string;
}

export interface Instance {
  readonly name: string;
  readonly subnet: string;
  readonly ip: string;
  readonly publicIp?: string;
  readonly securityGroups: readonly string[];
  readonly sourceDestCheck: boolean;
  readonly natInstance: boolean;
  /** The ENI's MAC, lower-case `aa:bb:cc:dd:ee:ff`; derived from vpc name + instance name when absent. */
  readonly mac: string;
  /** The Linux interface vpcd owns for this ENI (veth end or TAP); derived when absent (see labIfName). */
  readonly interface: string;
  /**
   * Most connections tracked for this ENI at once (1..16,777,216), as AWS's
   * per-instance-type conntrack allowance; absent = no per-ENI limit beyond
   * conntrack.max.
   */
  readonly conntrackAllowance?: number;
  /**
   * The instance lives in a network namespace vpcd did not create (a
   * container, a process's namespace): `vpcd lab up` adds only the veth to it,
   * `vpcd lab down` removes only that. Absent: the lab makes `<prefix>-<name>`.
   */
  readonly attach?: InstanceAttach;
  /** Absent: AWS's defaults (metadataOptionsOf in config-defaults.ts). */
  readonly metadataOptions?: MetadataOptions;
  /** Served at /latest/user-data (absent: 404). */
  readonly userData?: string;
}

/** Where an attached instance's namespace is found: exactly one of the three. */
export type AttachTarget =
  /** A name under /run/netns, or an absolute path such as /proc/PID/ns/net. */
  | { readonly netns: string }
  | { readonly pid: number }
  /** A Docker or Podman container name or id, resolved with `docker|podman inspect` at lab up. */
  | { readonly container: string };

export interface InstanceAttach {
  readonly target: AttachTarget;
  /** The interface's name inside the namespace (default eth1). */
  readonly interface: string;
  /** Set a default route via the subnet's router (.1), replacing the namespace's own while the lab is up (default true). */
  readonly defaultRoute: boolean;
}

/** `blackhole`: packets matching the route are dropped (AWS shows a route whose target was deleted as state blackhole). */
export type RouteTargetKind = 'local' | 'igw' | 'nat-gateway' | 'vgw' | 'instance' | 'blackhole';

export interface Route {
  readonly destination: string;
  /** `destination` parsed (non-enumerable). */
  readonly block: Ipv4Cidr;
  /** `local`, `igw`, `vgw`, `blackhole`, a NAT gateway's name or an instance's name. */
  readonly target: string;
  readonly targetKind: RouteTargetKind;
}

export interface RouteTable {
  readonly name: string;
  /** Without the implicit local route (vpc.cidr -> local), which every table has. */
  readonly routes: readonly Route[];
}

export interface NatGateway {
  readonly name: string;
  readonly subnet: string;
  readonly type: 'public' | 'private';
  readonly ip: string;
  readonly publicIp?: string;
  /** AWS: 55,000 simultaneous connections per unique destination (ip, port, proto). */
  readonly maxConnectionsPerDestination: number;
  /** AWS: 350 s. */
  readonly idleTimeout: number;
}

export interface InternetGateway {
  readonly name: string;
  /** Interface vpcd owns for the uplink to the internet (lab: derived). */
  readonly interface: string;
  /** Address vpcd uses on the uplink for ARP (lab: an address on inet0's network). */
  readonly uplinkIp?: string;
  /**
   * IPv4 address of the next hop on the uplink for internet destinations
   * outside `uplinkCidr` (a router does not ARP for every remote address).
   * Absent: every destination is ARPed for directly. Outside vpc.cidr, not
   * uplinkIp; inside uplinkCidr (and not its network or broadcast address)
   * when that is given.
   */
  readonly uplinkGateway?: string;
  /** The uplink's on-link network, canonical IPv4 CIDR: destinations inside it are ARPed for directly. Outside vpc.cidr; holds uplinkIp when both are given. */
  readonly uplinkCidr?: string;
  /** `uplinkCidr` parsed (non-enumerable); set exactly when uplinkCidr is. */
  readonly uplinkBlock?: Ipv4Cidr;
}

export interface VpnTunnel {
  readonly peer: string;
  readonly insideCidr: string;
  /**
   * This site's outside (WAN) address for the tunnel. Role cgw: defaults to
   * customerGateway.wan.ip. Role vgw: the AWS tunnel endpoint address vpcd
   * owns; absent unless the file gives it.
   */
  readonly local?: string;
}

export interface VpnConnection {
  readonly name: string;
  readonly role: 'cgw' | 'vgw';
  readonly remoteNetworks: readonly string[];
  readonly localNetworks: readonly string[];
  readonly splitTunnel: boolean;
  readonly auth:
    | { readonly kind: 'psk'; readonly psk: { readonly env?: string; readonly file?: string } }
    | { readonly kind: 'certificate'; readonly cert: string; readonly key: string; readonly ca: string };
  readonly tunnels: readonly VpnTunnel[];
  readonly ike: { readonly proposals: readonly string[]; readonly lifetime: number; readonly dpdTimeout: number };
  readonly esp: { readonly proposals: readonly string[]; readonly lifetime: number };
  /**
   * Project extension for rekey tests: lifetimes down to 10 s and dpdTimeout
   * down to 3 s are accepted. The loader always sets it (false by default).
   */
  readonly allowShortLifetimes?: boolean;
}

export interface ConntrackConfig {
  readonly max: number;
  /** Seconds. tcp = non-established TCP states; other = non-TCP/UDP/ICMP protocols (AWS: 600). */
  readonly timeouts: {
    readonly tcpEstablished: number;
    readonly tcp: number;
    readonly udp: number;
    readonly udpStream: number;
    readonly icmp: number;
    readonly other: number;
  };
}

export interface LabConfig {
  readonly prefix: string;
  /** static (default): lab up sets the addresses; dhcp: a DHCP client in each namespace the lab makes. */
  readonly addressing?: 'static' | 'dhcp';
  readonly internet: string;
  readonly internetHosts: Readonly<Record<string, string>>;
}

export interface DataplaneConfig {
  /** Network namespace holding the interfaces vpcd owns; undefined = vpcd's own namespace. Lab: `<prefix>-vpcd`. */
  readonly netns?: string;
  /** Frames per batch (rx and tx). */
  readonly batch: number;
  /**
   * true (default): frames carry the virtio-net header, so checksum and
   * segmentation offloads stay on and 64 KB super-frames pass whole.
   * false: plain frames; the offloads must be off on every link vpcd owns
   * (`vpcd lab` turns them off). docs/benchmark.md compares both.
   */
  readonly vnetHeader: boolean;
}

/**
 * A Direct Connect stand-in: a plain (unencrypted) link to the other site
 * carrying `remoteNetworks`, preferred over the VPN while it is up (AWS: DX
 * routes win over VPN routes for the same prefixes). Liveness: vpcd ARPs for
 * `peer` every second; the link is up while answers come.
 */
export interface DirectConnectConfig {
  /** vpcd's address on the link (e.g. 169.254.100.1). */
  readonly ip: string;
  /** The other end (e.g. 169.254.100.2). */
  readonly peer: string;
  readonly remoteNetworks: readonly string[];
  /** The interface vpcd owns for the link (lab: derived). */
  readonly interface: string;
  /** Prefix length of the link (default 30). */
  readonly prefixLen: number;
}

/** `vpc:`. The AWS-service keys are absent when the file does not set them (defaults: vpcSettingsOf in config-defaults.ts). */
export interface VpcSettings {
  readonly name: string;
  readonly cidr: string;
  readonly block: Ipv4Cidr;
  readonly accountId: string;
  /** AWS region (us-east-1 when absent): names the private DNS domain and the metadata placement. */
  readonly region?: string;
  /** Amazon DNS at base + 2 and 169.254.169.253 (default true). */
  readonly enableDnsSupport?: boolean;
  /** Instances get private DNS hostnames (default false, as for a non-default VPC). */
  readonly enableDnsHostnames?: boolean;
}

/** `instances.*.metadataOptions:` (AWS's InstanceMetadataOptions). */
export interface MetadataOptions {
  readonly httpEndpoint: 'enabled' | 'disabled';
  readonly httpTokens: 'optional' | 'required';
  /** 1..64: the IP TTL of the token PUT's response. */
  readonly httpPutResponseHopLimit: number;
}

/** `dhcpOptions:` (AWS's DHCP options set). AmazonProvidedDNS in domainNameServers means the VPC base + 2. */
export interface DhcpOptionsConfig {
  readonly domainName?: string;
  readonly domainNameServers: readonly string[];
}

export interface VpcConfig {
  /** Path the configuration was read from (for messages). */
  readonly file: string;
  /** `block`: `cidr` parsed (non-enumerable). */
  readonly vpc: VpcSettings;
  readonly subnets: ReadonlyMap<string, Subnet>;
  readonly networkAcls: ReadonlyMap<string, NetworkAcl>;
  readonly securityGroups: ReadonlyMap<string, SecurityGroup>;
  readonly prefixLists: ReadonlyMap<string, PrefixList>;
  readonly instances: ReadonlyMap<string, Instance>;
  readonly routeTables: ReadonlyMap<string, RouteTable>;
  readonly internetGateway?: InternetGateway;
  readonly natGateways: ReadonlyMap<string, NatGateway>;
  readonly vpnGateway?: { readonly name: string; readonly asn: number; readonly directConnect?: DirectConnectConfig };
  readonly customerGateway?: {
    readonly name: string;
    readonly asn: number;
    /** `interface`: the WAN interface vpcd owns; the loader always sets it (default: the lab uplink, labUplinkIfName). */
    readonly wan: { readonly ip: string; readonly interface?: string };
    readonly directConnect?: DirectConnectConfig;
  };
  readonly vpnConnections: ReadonlyMap<string, VpnConnection>;
  readonly conntrack: ConntrackConfig;
  readonly flowLogs?: FlowLogsConfig;
  /** `privateZones:` in file order (empty when absent). */
  readonly privateZones: readonly PrivateZone[];
  /** `dns:` (no upstreams when absent). */
  readonly dns: DnsConfig;
  readonly metrics: { readonly listen: string };
  /** `control:`: the daemon's control socket (docs/config.md#control). The loader always sets `socket`. */
  readonly control: { readonly socket: string; readonly group?: string };
  /** `state:`: where a clean stop saves connection state for the next start (docs/config.md#state). */
  readonly state: StateConfig;
  readonly lab: LabConfig;
  readonly dataplane: DataplaneConfig;
  /** Absent: AmazonProvidedDNS and the region's domain. */
  readonly dhcpOptions?: DhcpOptionsConfig;
  /**
   * Things that are valid but probably not what was meant (e.g. ports given
   * with protocol `all`, which AWS ignores). `vpcd check` prints them.
   */
  readonly warnings?: readonly ConfigIssue[];
}

/** `state:`. The loader always sets both keys. */
export interface StateConfig {
  /** The state file (default /run/vpcd/<vpc.name>.state). */
  readonly path: string;
  /** false: a stop saves nothing and a start restores nothing. */
  readonly enabled: boolean;
}

/**
 * `flowLogs:`. Optional keys are absent when the file does not set them; the
 * flow-log writer applies the defaults (docs/config.md#flowlogs).
 */
export interface FlowLogsConfig {
  readonly path: string;
  readonly aggregationInterval: number;
  /** Records per ENI per interval; beyond it the ENI's further flows count into its SKIPDATA record. */
  readonly recordsPerEni?: number;
  /** Permission bits of a file vpcd creates (default 0o640). */
  readonly fileMode?: number;
  /** Accept a directory writable by group or others, or owned by another user (default false). */
  readonly allowSharedDirectory?: boolean;
  /** Rotate when the file would pass this size; 0: never (an external logrotate plus SIGUSR1). */
  readonly maxBytes?: number;
  /** Rotated files kept (path.1 .. path.N). */
  readonly keep?: number;
  /** Record fields in order (AWS's LogFormat, `flowLogs.format`); absent: the default version-2 fields. */
  readonly format?: readonly string[];
  /** `text` (AWS's space-separated lines after one header line, the default) or `json` (one object per line, no header). */
  readonly fileFormat?: 'text' | 'json';
}

/** One problem found in a file: printed as `file:line:column: message`. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Sets `obj[key] = value` as a non-enumerable, read-only property and returns
 * `obj`: how the parsed form of a CIDR (`block`, `blocks`) rides next to its
 * text without showing up in spreads, JSON or deep equality.
 */
export function withParsed<T extends object, K extends string, P>(obj: T, key: K, value: P): T & { readonly [k in K]: P } {
  Object.defineProperty(obj, key, { value, enumerable: false, writable: false, configurable: false });
  return obj as T & { readonly [k in K]: P };
}

// ---------------------------------------------------------------------------
// DNS: `privateZones:` and `dns:` (docs/config.md#privatezones, #dns). Read by
// config-read-dns.ts, served by src/services/dns/.

/** Record types a private zone may hold. */
export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'MX' | 'SRV';

/** One record set of a private zone: every value of one type at one name. */
export interface PrivateZoneRecord {
  /** Fully qualified, lower case, no trailing dot (`db.corp.internal`); the zone's apex is the zone name. */
  readonly name: string;
  readonly type: DnsRecordType;
  /**
   * The values in Route 53's text form: A `198.18.2.20`; AAAA `2001:db8::1`;
   * CNAME `target.example.com`; TXT the text; MX `10 mail.example.com`;
   * SRV `priority weight port target`. Names are lower case, without trailing dot.
   */
  readonly values: readonly string[];
  /** Seconds (default 300, Route 53's console default). */
  readonly ttl: number;
}

/** A Route 53 private hosted zone associated with the VPC. */
export interface PrivateZone {
  /** Lower case, no trailing dot (`corp.internal`). */
  readonly name: string;
  readonly records: readonly PrivateZoneRecord[];
}

/** Where the Amazon DNS server forwards the names it does not answer itself. */
export interface DnsUpstream {
  /** IPv4 or IPv6 address. */
  readonly host: string;
  readonly port: number;
}

/** `dns:`. The loader always sets it (no upstreams when the file has no `dns:`). */
export interface DnsConfig {
  /** Tried in order; empty: forwarded names answer SERVFAIL. */
  readonly upstreams: readonly DnsUpstream[];
}
