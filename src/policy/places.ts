/**
 * The places a walk of the reference evaluator visits (reference.ts): the
 * network interfaces that send and receive on the VPC fabric (an instance's
 * ENI, a NAT gateway's), where a leg starts (an ENI, the internet, a VPN's
 * remote network), what a request leaves behind for its reply (connection
 * tracking per ENI and direction, NAT bindings), and where a flow starts.
 */
import type { Instance, NatGateway, Subnet, VpcConfig, VpnConnection } from '../control/config-types.js';
import { classifyAddress, describeAddress } from './classify.js';
import type { TrackedAt } from './stages.js';
import { ExplainInputError, type Flow } from './types.js';

/** A network interface that sends and receives on the VPC fabric. */
export interface InstanceEni {
  readonly kind: 'instance';
  readonly name: string;
  readonly ip: string;
  readonly subnet: Subnet;
  readonly instance: Instance;
}
export interface NatGatewayEni {
  readonly kind: 'nat-gateway';
  readonly name: string;
  readonly ip: string;
  readonly subnet: Subnet;
  readonly natGateway: NatGateway;
}
export type Eni = InstanceEni | NatGatewayEni;

/** Where a packet starts a leg: sent by an ENI, arriving from the internet, or arriving from a VPN. */
export type Start =
  | { readonly at: 'eni'; readonly eni: Eni }
  | { readonly at: 'internet' }
  | { readonly at: 'vpn'; readonly connection: VpnConnection; readonly network: string };

export interface Endpoint {
  readonly ip: string;
  readonly port?: number;
}

/** A translation made by a NAT gateway or a NAT instance on the request, for its reply. */
export interface NatBinding {
  readonly on: string;
  readonly proto: number;
  readonly inside: Endpoint;
  readonly outside: Endpoint;
  readonly remote: Endpoint;
}

/** What the request leaves behind for its reply: conntrack entries per ENI and direction, NAT bindings. */
export interface FlowMemory {
  /** `${eni}/${direction}` -> tracked?, and the packet as that ENI saw it, for every SG stage the request passed. */
  readonly tracked: Map<string, TrackedAt>;
  readonly bindings: NatBinding[];
}

export function instanceEni(cfg: VpcConfig, i: Instance): InstanceEni {
  return { kind: 'instance', name: i.name, ip: i.ip, subnet: subnetNamed(cfg, i.subnet), instance: i };
}

export function natGatewayEni(cfg: VpcConfig, g: NatGateway): NatGatewayEni {
  return { kind: 'nat-gateway', name: g.name, ip: g.ip, subnet: subnetNamed(cfg, g.subnet), natGateway: g };
}

export function subnetNamed(cfg: VpcConfig, name: string): Subnet {
  const s = cfg.subnets.get(name);
  if (s === undefined) throw new ExplainInputError(`configuration names subnet '${name}', which does not exist`);
  return s;
}

/** The place a leg starts from. */
export function placeOf(s: Start): string {
  return s.at === 'eni' ? s.eni.name : s.at === 'internet' ? 'internet' : s.connection.name;
}

/** Where the request starts: the ENI that owns the source, the internet, or a VPN's remote network. */
export function resolveStart(cfg: VpcConfig, p: Flow, from: string | undefined): Start {
  if (from !== undefined) {
    const inst = cfg.instances.get(from);
    if (inst !== undefined) return { at: 'eni', eni: instanceEni(cfg, inst) };
    const gw = cfg.natGateways.get(from);
    if (gw !== undefined) return { at: 'eni', eni: natGatewayEni(cfg, gw) };
    throw new ExplainInputError(`no instance or NAT gateway named '${from}'`);
  }
  const c = classifyAddress(cfg, p.src);
  switch (c.kind) {
    case 'instance':
      return { at: 'eni', eni: instanceEni(cfg, c.instance) };
    case 'nat-gateway':
      return { at: 'eni', eni: natGatewayEni(cfg, c.natGateway) };
    case 'internet':
      return { at: 'internet' };
    case 'remote-network':
      return { at: 'vpn', connection: c.connection, network: c.network };
    case 'instance-public':
      throw new ExplainInputError(
        `${p.src} is the public IP of ${c.instance.name}; inside the VPC it sends from its private IP ${c.instance.ip}`,
      );
    case 'nat-gateway-public':
      throw new ExplainInputError(
        `${p.src} is the Elastic IP of ${c.natGateway.name}; inside the VPC it sends from its private IP ${c.natGateway.ip}`,
      );
    default:
      throw new ExplainInputError(
        `no network interface owns the source ${describeAddress(cfg, p.src)}: traffic inside the VPC comes from an instance or a NAT gateway`,
      );
  }
}
