/**
 * Defaults and limits of the configuration file (docs/config.md explains
 * each; AWS sources: SG quota, NACL rule numbers, VPN tunnel options), and the
 * rule for object names.
 */

export const DEFAULTS = {
  accountId: '123456789012',
  conntrackMax: 262_144,
  timeouts: { tcpEstablished: 432_000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 },
  flowLogInterval: 600,
  metricsListen: '127.0.0.1:9469',
  batch: 64,
  natMaxConnectionsPerDestination: 55_000,
  natIdleTimeout: 350,
  igwName: 'igw',
  vgwName: 'vgw',
  vgwAsn: 64_512,
  cgwName: 'cgw',
  cgwAsn: 65_000,
  ikeProposals: ['aes256gcm16-prfsha256-ecp256'],
  espProposals: ['aes256gcm16-ecp256'],
  ikeLifetime: 28_800,
  espLifetime: 3_600,
  dpdTimeout: 30,
} as const;

export const LIMITS = {
  /** AWS: VPC and subnet blocks are /16 to /28. */
  minPrefix: 16,
  maxPrefix: 28,
  /** AWS default quota of security groups per network interface. */
  maxGroupsPerInstance: 5,
  conntrackMax: 16_777_216,
  batchMax: 256,
  /** iproute2 accepts netns names up to NAME_MAX. */
  netnsMax: 255,
  ifnameMax: 15,
} as const;

export const NAME_RE = /^[A-Za-z0-9._-]+$/;
export const NAME_RULE = 'names may contain only letters, digits, ".", "_" and "-"';

/** AWS's InstanceMetadataOptions defaults (RunInstances without MetadataOptions). */
export const METADATA_DEFAULTS = { httpEndpoint: 'enabled', httpTokens: 'optional', httpPutResponseHopLimit: 1 } as const;

/** The vpc keys for AWS's services with their defaults applied. */
export function vpcSettingsOf(vpc: { readonly region?: string; readonly enableDnsSupport?: boolean; readonly enableDnsHostnames?: boolean }):
{ region: string; enableDnsSupport: boolean; enableDnsHostnames: boolean } {
  return { region: vpc.region ?? 'us-east-1', enableDnsSupport: vpc.enableDnsSupport ?? true, enableDnsHostnames: vpc.enableDnsHostnames ?? false };
}

/** An instance's metadata options with AWS's defaults applied. */
export function metadataOptionsOf(inst: { readonly metadataOptions?: { httpEndpoint: 'enabled' | 'disabled'; httpTokens: 'optional' | 'required'; httpPutResponseHopLimit: number } }):
{ httpEndpoint: 'enabled' | 'disabled'; httpTokens: 'optional' | 'required'; httpPutResponseHopLimit: number } {
  return inst.metadataOptions ?? { ...METADATA_DEFAULTS };
}

/** The private DNS domain of a region: ec2.internal in us-east-1, <region>.compute.internal elsewhere. */
export function regionDomain(region: string): string {
  return region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
}

/** AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ... */
export const REGION_RE = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$/;
/** A DNS domain name: labels of letters, digits and hyphens, dot-separated, at most 253 characters. */
export const DOMAIN_RE = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
