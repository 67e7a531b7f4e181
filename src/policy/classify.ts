/**
 * What an IPv4 address is, seen from this VPC ([VPC-SUBNET] reserved
 * addresses, [VPC-IGW] public IPs, [VPC-NGW], [S2S-RT] remote networks,
 * [VPC-SEC] AWS link-local services).
 */
import type { Instance, NatGateway, Subnet, VpcConfig, VpnConnection } from '../control/config-types.js';
import { addrInCidr, cidrContainsIp, cidrPrefix, cidrSize, offsetInCidr, specialAddress } from './addr.js';

export type ReservedRole = 'network' | 'router' | 'dns' | 'future' | 'broadcast';

export type AddressClass =
  /** The private IP of an instance's ENI. */
  | { readonly kind: 'instance'; readonly instance: Instance; readonly subnet: Subnet }
  /** An instance's public IP (IGW 1:1 NAT). */
  | { readonly kind: 'instance-public'; readonly instance: Instance }
  /** A NAT gateway's private IP. */
  | { readonly kind: 'nat-gateway'; readonly natGateway: NatGateway; readonly subnet: Subnet }
  /** A public NAT gateway's Elastic IP. */
  | { readonly kind: 'nat-gateway-public'; readonly natGateway: NatGateway }
  /** One of the five addresses AWS reserves in every subnet. */
  | { readonly kind: 'reserved'; readonly subnet: Subnet; readonly role: ReservedRole }
  /** Inside a subnet, not reserved, owned by no ENI. */
  | { readonly kind: 'unassigned'; readonly subnet: Subnet }
  /** Inside the VPC CIDR but in no subnet. */
  | { readonly kind: 'vpc-unallocated' }
  /** An AWS-provided service (Amazon DNS, instance metadata, time sync, ECS task metadata). */
  | { readonly kind: 'aws-service'; readonly service: VpcService }
  /** Not a unicast host address (loopback, multicast, broadcast, other link-local…). */
  | { readonly kind: 'special'; readonly what: string }
  /** Inside a VPN connection's remote networks (the other site). */
  | { readonly kind: 'remote-network'; readonly connection: VpnConnection; readonly network: string }
  /** Anything else: reached through the internet gateway. */
  | { readonly kind: 'internet' };

/** The subnet containing `ip`, if any. */
export function subnetContaining(cfg: VpcConfig, ip: string): Subnet | undefined {
  for (const s of cfg.subnets.values()) if (cidrContainsIp(s.cidr, ip)) return s;
  return undefined;
}

/** [VPC-SUBNET]: network address, router (.1), DNS (.2), reserved (.3), broadcast (last). */
export function reservedRole(subnet: Subnet, ip: string): ReservedRole | undefined {
  const off = offsetInCidr(subnet.cidr, ip);
  if (off === 0) return 'network';
  if (off === 1) return 'router';
  if (off === 2) return 'dns';
  if (off === 3) return 'future';
  if (off === cidrSize(subnet.cidr) - 1) return 'broadcast';
  return undefined;
}

/** A service AWS answers at a fixed address: `id` is what `explain` shows as the stage's `on`. */
export interface VpcService {
  readonly id: 'amazon-dns' | 'instance-metadata' | 'time-sync' | 'ecs-task-metadata';
  readonly name: string;
}

/**
 * AWS services at fixed addresses that SGs and NACLs never filter, that flow
 * logs do not record and that never leave the VPC ([VPC-SEC], [VPC-FL],
 * [VPC-DNS], [ECS-TMD]). Windows licence activation (169.254.169.250/251) is
 * left out: only third-party sources name those addresses.
 */
export function awsService(cfg: VpcConfig, ip: string): VpcService | undefined {
  if (ip === addrInCidr(cfg.vpc.cidr, 2)) return { id: 'amazon-dns', name: 'Amazon DNS (VPC base + 2)' };
  switch (ip) {
    case '169.254.169.253':
      return { id: 'amazon-dns', name: 'Amazon DNS (Route 53 Resolver)' };
    case '169.254.169.254':
      return { id: 'instance-metadata', name: 'instance metadata service (IMDS)' };
    case '169.254.169.123':
      return { id: 'time-sync', name: 'Amazon Time Sync Service' };
    case '169.254.170.2':
      return { id: 'ecs-task-metadata', name: 'ECS task metadata endpoint' };
    default:
      return undefined;
  }
}

/** The VPN connection (and its remote network) that covers `ip`: longest remote network wins. */
export function remoteNetworkOf(cfg: VpcConfig, ip: string): { connection: VpnConnection; network: string } | undefined {
  let best: { connection: VpnConnection; network: string } | undefined;
  for (const c of cfg.vpnConnections.values()) {
    for (const n of c.remoteNetworks) {
      if (cidrContainsIp(n, ip) && (best === undefined || cidrPrefix(n) > cidrPrefix(best.network))) best = { connection: c, network: n };
    }
  }
  return best;
}

export function classifyAddress(cfg: VpcConfig, ip: string): AddressClass {
  for (const inst of cfg.instances.values()) {
    if (inst.ip === ip) return { kind: 'instance', instance: inst, subnet: cfg.subnets.get(inst.subnet) as Subnet };
  }
  for (const gw of cfg.natGateways.values()) {
    if (gw.ip === ip) return { kind: 'nat-gateway', natGateway: gw, subnet: cfg.subnets.get(gw.subnet) as Subnet };
  }
  for (const inst of cfg.instances.values()) if (inst.publicIp === ip) return { kind: 'instance-public', instance: inst };
  for (const gw of cfg.natGateways.values()) if (gw.publicIp === ip) return { kind: 'nat-gateway-public', natGateway: gw };
  const service = awsService(cfg, ip);
  if (service !== undefined) return { kind: 'aws-service', service };
  const subnet = subnetContaining(cfg, ip);
  if (subnet !== undefined) {
    const role = reservedRole(subnet, ip);
    return role !== undefined ? { kind: 'reserved', subnet, role } : { kind: 'unassigned', subnet };
  }
  if (cidrContainsIp(cfg.vpc.cidr, ip)) return { kind: 'vpc-unallocated' };
  const special = specialAddress(ip);
  if (special !== undefined) return { kind: 'special', what: special };
  if (cidrContainsIp('169.254.0.0/16', ip)) return { kind: 'special', what: 'link-local (169.254.0.0/16)' };
  const remote = remoteNetworkOf(cfg, ip);
  if (remote !== undefined) return { kind: 'remote-network', ...remote };
  return { kind: 'internet' };
}

/** A few words naming what the address is, for notes. */
export function describeAddress(cfg: VpcConfig, ip: string): string {
  const c = classifyAddress(cfg, ip);
  switch (c.kind) {
    case 'instance':
      return `${ip} (${c.instance.name})`;
    case 'instance-public':
      return `${ip} (public IP of ${c.instance.name})`;
    case 'nat-gateway':
      return `${ip} (${c.natGateway.name})`;
    case 'nat-gateway-public':
      return `${ip} (Elastic IP of ${c.natGateway.name})`;
    case 'reserved': {
      const what = { network: 'network address', router: 'VPC router', dns: 'reserved for Amazon DNS', future: 'reserved by AWS', broadcast: 'broadcast address' }[c.role];
      return `${ip} (${what} of subnet ${c.subnet.name})`;
    }
    case 'unassigned':
      return `${ip} (unassigned in subnet ${c.subnet.name})`;
    case 'vpc-unallocated':
      return `${ip} (inside the VPC CIDR, in no subnet)`;
    case 'aws-service':
      return `${ip} (${c.service.name})`;
    case 'special':
      return `${ip} (${c.what})`;
    case 'remote-network':
      return `${ip} (${c.network} via ${c.connection.name})`;
    case 'internet':
      return `${ip} (internet)`;
  }
}
