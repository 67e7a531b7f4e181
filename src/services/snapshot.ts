/**
 * What the VPC services need to know about the VPC, as one plain,
 * JSON-serialisable object: the daemon builds it from the loaded
 * configuration at start and at every reload and sends it to the service
 * server (services/server.ts) over IPC; the DHCP responder in the daemon
 * reads the same object. AWS ids come from control/aws-ids.ts.
 */
import { awsId, idScope } from '../control/aws-ids.js';
import { metadataOptionsOf, regionDomain, vpcSettingsOf } from '../control/config-defaults.js';
import type { MetadataOptions, PrivateZone, VpcConfig } from '../control/config-types.js';
import { parseCidr4 } from '../lib/ipv4.js';
import { u32ToIp } from '../wire/addr.js';

/** Link-local service addresses (aws-semantics §3). */
export const IMDS_ADDR = '169.254.169.254';
export const DNS_LINK_LOCAL_ADDR = '169.254.169.253';
export const TIME_SYNC_ADDR = '169.254.169.123';

export interface ServiceInstance {
  readonly name: string;
  readonly ip: string;
  readonly mac: string;
  readonly publicIp?: string;
  readonly instanceId: string;
  readonly eniId: string;
  readonly subnetId: string;
  readonly subnetCidr: string;
  /** The subnet's router (.1) and prefix length, for DHCP. */
  readonly router: string;
  readonly prefixLen: number;
  readonly securityGroups: readonly string[];
  readonly securityGroupIds: readonly string[];
  readonly metadata: MetadataOptions;
  readonly userData?: string;
  /** ip-a-b-c-d.<domain> */
  readonly localHostname: string;
  /** Only with enableDnsHostnames and a public address. */
  readonly publicHostname?: string;
  readonly amiId: string;
}

export interface ServiceSnapshot {
  readonly epoch: number;
  readonly accountId: string;
  readonly region: string;
  readonly availabilityZone: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Amazon DNS at the VPC base + 2. */
  readonly dnsAddress: string;
  readonly enableDnsSupport: boolean;
  readonly enableDnsHostnames: boolean;
  /** The region's private domain (ec2.internal / <region>.compute.internal). */
  readonly privateDomain: string;
  /** What DHCP hands out: dhcpOptions.domainName or the private domain. */
  readonly dhcpDomain: string;
  /** DHCP's domain name servers, AmazonProvidedDNS resolved to the VPC base + 2. */
  readonly dhcpDnsServers: readonly string[];
  readonly instances: readonly ServiceInstance[];
  /** Route 53 private hosted zones (Amazon DNS answers them). */
  readonly privateZones: readonly PrivateZone[];
  /** Whether dns.upstreams has any resolver (the daemon forwards for the server). */
  readonly dnsForwarding: boolean;
}

/** The instance-type the metadata service reports (the configuration has no instance types). */
export const INSTANCE_TYPE = 'vpcd.lab';

/** ip-198-18-1-10.ec2.internal */
export function privateHostname(ip: string, domain: string): string {
  return `ip-${ip.replace(/\./g, '-')}.${domain}`;
}

/** AWS's public DNS name: ec2-203-0-113-10.compute-1.amazonaws.com (us-east-1) or ec2-….<region>.compute.amazonaws.com. */
export function publicHostname(ip: string, region: string): string {
  const tail = region === 'us-east-1' ? 'compute-1.amazonaws.com' : `${region}.compute.amazonaws.com`;
  return `ec2-${ip.replace(/\./g, '-')}.${tail}`;
}

export function buildServiceSnapshot(cfg: VpcConfig, epoch: number): ServiceSnapshot {
  const scope = idScope(cfg);
  const s = vpcSettingsOf(cfg.vpc);
  const privateDomain = regionDomain(s.region);
  const vpcNet = parseCidr4(cfg.vpc.cidr);
  const dnsAddress = u32ToIp((vpcNet.net + 2) >>> 0);
  const dhcp = cfg.dhcpOptions;
  const dhcpDnsServers = (dhcp?.domainNameServers ?? ['AmazonProvidedDNS']).map((d) => (d === 'AmazonProvidedDNS' ? dnsAddress : d));
  const instances: ServiceInstance[] = [];
  for (const inst of cfg.instances.values()) {
    const subnet = cfg.subnets.get(inst.subnet)!;
    const c = parseCidr4(subnet.cidr);
    const pub = inst.publicIp;
    instances.push({
      name: inst.name,
      ip: inst.ip,
      mac: inst.mac,
      ...(pub !== undefined ? { publicIp: pub } : {}),
      instanceId: awsId(scope, 'i', inst.name),
      eniId: awsId(scope, 'eni', inst.name),
      subnetId: awsId(scope, 'subnet', subnet.name),
      subnetCidr: subnet.cidr,
      router: u32ToIp((c.net + 1) >>> 0),
      prefixLen: c.len,
      securityGroups: [...inst.securityGroups],
      securityGroupIds: inst.securityGroups.map((g) => awsId(scope, 'sg', g)),
      metadata: metadataOptionsOf(inst),
      ...(inst.userData !== undefined ? { userData: inst.userData } : {}),
      localHostname: privateHostname(inst.ip, privateDomain),
      ...(pub !== undefined && s.enableDnsHostnames ? { publicHostname: publicHostname(pub, s.region) } : {}),
      amiId: awsId(scope, 'ami', cfg.vpc.name),
    });
  }
  return {
    epoch,
    accountId: cfg.vpc.accountId,
    region: s.region,
    availabilityZone: `${s.region}a`,
    vpcId: awsId(scope, 'vpc', cfg.vpc.name),
    vpcCidr: cfg.vpc.cidr,
    dnsAddress,
    enableDnsSupport: s.enableDnsSupport,
    enableDnsHostnames: s.enableDnsHostnames,
    privateDomain,
    dhcpDomain: dhcp?.domainName ?? privateDomain,
    dhcpDnsServers,
    instances,
    privateZones: (cfg.privateZones ?? []).map((z) => ({ name: z.name, records: z.records.map((r) => ({ ...r, values: [...r.values] })) })),
    dnsForwarding: (cfg.dns?.upstreams.length ?? 0) > 0,
  };
}

/** The instance whose ENI owns `ip`, or undefined. */
export function instanceByIp(snap: ServiceSnapshot, ip: string): ServiceInstance | undefined {
  return snap.instances.find((i) => i.ip === ip);
}

/** The addresses the service namespace carries. */
export function serviceAddresses(snap: { readonly dnsAddress: string }): string[] {
  return [IMDS_ADDR, DNS_LINK_LOCAL_ADDR, TIME_SYNC_ADDR, snap.dnsAddress];
}
