/**
 * The reference walk's steps at the gateways outside the VPC: the internet
 * gateway (1:1 NAT both ways, [VPC-IGW]) and the VPN gateway (only the remote
 * networks a connection carries, [S2S-RT]). Each takes the walk it is a step
 * of (reference.ts) and returns the next step: where the packet goes on, or
 * the end of the direction.
 */
import type { VpnConnection, VpcConfig } from '../control/config-types.js';
import { isRfc1918, isRfc6598 } from './addr.js';
import { classifyAddress, describeAddress, remoteNetworkOf, subnetContaining } from './classify.js';
import type { Pkt } from './flow.js';
import type { Eni, Start } from './places.js';
import type { Stages } from './stages.js';
import type { By, ExplanationCode, StageName, Verdict } from './types.js';

/** One step of a walk: the packet goes on from `start`, or the direction ends (delivered: where the reply starts). */
export type Step =
  | { readonly kind: 'continue'; readonly start: Start; readonly pkt: Pkt }
  | { readonly kind: 'end'; readonly verdict: Verdict; readonly delivered?: { readonly pkt: Pkt; readonly replyFrom: Start } };

export const DENIED: Step = { kind: 'end', verdict: 'deny' };

/** For a packet from outside the VPC to an AWS service address: why it never gets there ([VPC-SEC], [EC2-IMDS-LIMIT]). */
function serviceFromOutside(kind: string): string {
  return kind === 'aws-service'
    ? '; AWS answers its service addresses inside the VPC for the ENI that asks, and no gateway forwards to them: only an appliance with source/dest check off could, reaching its own [EC2-IMDS-LIMIT]'
    : '';
}


/** What a gateway step needs of the walk. */
export interface WalkSteps {
  readonly cfg: VpcConfig;
  readonly stages: Stages;
  /** Records a denying stage; returns the end of the direction. */
  deny(stage: StageName, on: string, code: ExplanationCode, note?: string, by?: By): Step;
  /** The packet reaches its destination inside the VPC (`prev`: the ENI that sent it on, if any). */
  arrive(p: Pkt, prev: Eni | undefined): Step;
  /** The packet leaves for a place outside the VPC; its reply starts at `replyFrom`. */
  deliver(on: string, p: Pkt, replyFrom: Start): Step;
}

/** A route sent the packet to the internet gateway: 1:1 NAT of the source [VPC-IGW]. */
export function igwEgress(w: WalkSteps, p: Pkt): Step {
  const cfg = w.cfg;
  const igw = (cfg.internetGateway as { name: string }).name;
  const src = classifyAddress(cfg, p.src);
  let publicIp: string | undefined;
  let why: string;
  if (src.kind === 'instance') {
    publicIp = src.instance.publicIp;
    why = `${src.instance.name} has no public IP`;
  } else if (src.kind === 'nat-gateway') {
    publicIp = src.natGateway.type === 'public' ? src.natGateway.publicIp : undefined;
    why = `${src.natGateway.name} is a private NAT gateway: it has no Elastic IP and the internet gateway drops its traffic [VPC-NGW]`;
  } else {
    why = `${describeAddress(cfg, p.src)} is not the private IP of a network interface in this VPC`;
  }
  if (publicIp === undefined) return w.deny('igw', igw, 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS', why);
  if (isRfc1918(p.dst)) return w.deny('igw', igw, 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS', `${p.dst} is RFC 1918 private space`);
  if (isRfc6598(p.dst)) return w.deny('igw', igw, 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC6598_EGRESS', `${p.dst} is RFC 6598 shared space`);

  const dst = classifyAddress(cfg, p.dst);
  if (dst.kind === 'instance-public' || dst.kind === 'nat-gateway-public') {
    // Hairpin: a public IP of this VPC; the packet turns around at the internet gateway.
    const priv = dst.kind === 'instance-public' ? dst.instance.ip : dst.natGateway.ip;
    w.stages.push('igw', igw, 'allow', {
      rewrite: { src: publicIp, dst: priv },
      note: `${p.dst} is a public IP of this VPC: the packet turns around at the internet gateway, carrying the sender's public IP`,
    });
    const back: Pkt = { ...p, src: publicIp, dst: priv };
    const sub = subnetContaining(cfg, priv);
    if (sub !== undefined && !w.stages.nacl(sub, 'inbound', back)) return DENIED;
    return w.arrive(back, undefined);
  }
  w.stages.push('igw', igw, 'allow', { rewrite: { src: publicIp } });
  return w.deliver('internet', { ...p, src: publicIp }, { at: 'internet' });
}

/** A packet from the internet reaches the internet gateway: 1:1 NAT of the destination [VPC-IGW]. */
export function fromInternet(w: WalkSteps, p: Pkt): Step {
  const cfg = w.cfg;
  if (cfg.internetGateway === undefined) {
    return w.deny('igw', 'igw', 'NO_PATH', 'no internet gateway is configured: nothing in this VPC is reachable from the internet');
  }
  const igw = cfg.internetGateway.name;
  if (isRfc1918(p.src)) return w.deny('igw', igw, 'IGW_SOURCE_ADDRESS_NOT_IN_RFC1918_INGRESS', `source ${p.src} is RFC 1918 private space`);
  if (isRfc6598(p.src)) return w.deny('igw', igw, 'IGW_SOURCE_ADDRESS_NOT_IN_RFC6598_INGRESS', `source ${p.src} is RFC 6598 shared space`);
  const dst = classifyAddress(cfg, p.dst);
  let priv: string;
  if (dst.kind === 'instance-public') priv = dst.instance.ip;
  else if (dst.kind === 'nat-gateway-public') priv = dst.natGateway.ip;
  else {
    return w.deny(
      'igw',
      igw,
      'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS',
      `${describeAddress(cfg, p.dst)} is not the public IP of a network interface in this VPC${serviceFromOutside(dst.kind)}`,
    );
  }
  w.stages.push('igw', igw, 'allow', { rewrite: { dst: priv } });
  const inside: Pkt = { ...p, dst: priv };
  const sub = subnetContaining(cfg, priv);
  if (sub !== undefined && !w.stages.nacl(sub, 'inbound', inside)) return DENIED;
  return w.arrive(inside, undefined);
}

/** A route sent the packet to the VPN gateway ([S2S-RT]: it forwards only to the remote networks it knows). */
export function vpnEgress(w: WalkSteps, p: Pkt): Step {
  const cfg = w.cfg;
  const gwName = cfg.vpnGateway?.name ?? cfg.customerGateway?.name ?? 'vgw';
  if (cfg.vpnConnections.size === 0) return w.deny('vpn', gwName, 'BAD_STATE_VPN', 'no VPN connection is configured');
  const src = classifyAddress(cfg, p.src);
  if (src.kind !== 'instance' && src.kind !== 'nat-gateway') {
    return w.deny(
      'vpn',
      gwName,
      'VGW_PRIVATE_IP_ASSOCIATION_FOR_EGRESS',
      `${describeAddress(cfg, p.src)} is not the private IP of a network interface in this VPC`,
    );
  }
  let remote = remoteNetworkOf(cfg, p.dst);
  if (remote === undefined) {
    const all = [...cfg.vpnConnections.values()].find((c) => !c.splitTunnel);
    if (all !== undefined) remote = { connection: all, network: '0.0.0.0/0' };
  }
  if (remote === undefined) {
    const nets = [...cfg.vpnConnections.values()].flatMap((c) => c.remoteNetworks).join(', ');
    return w.deny('vpn', gwName, 'NO_ROUTE_TO_DESTINATION', `no VPN connection carries ${p.dst} (remote networks: ${nets})`);
  }
  w.stages.push('vpn', remote.connection.name, 'allow', { by: { connection: remote.connection.name, network: remote.network } });
  return w.deliver(remote.connection.name, p, { at: 'vpn', connection: remote.connection, network: remote.network });
}

/** A packet from a VPN's remote network enters the VPC; then the destination subnet's NACL and ENI's SG apply [VPC-NACL]. */
export function fromVpn(w: WalkSteps, connection: VpnConnection, network: string, p: Pkt): Step {
  const cfg = w.cfg;
  const by: By = { connection: connection.name, network };
  const dst = classifyAddress(cfg, p.dst);
  if (dst.kind !== 'instance' && dst.kind !== 'nat-gateway') {
    return w.deny(
      'vpn',
      connection.name,
      'VGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS',
      `${describeAddress(cfg, p.dst)} is not the private IP of a network interface in this VPC${serviceFromOutside(dst.kind)}`,
      by,
    );
  }
  w.stages.push('vpn', connection.name, 'allow', { by });
  const sub = subnetContaining(cfg, p.dst);
  if (sub !== undefined && !w.stages.nacl(sub, 'inbound', p)) return DENIED;
  return w.arrive(p, undefined);
}
