/**
 * The VPC, its internet gateway, subnets and NAT gateways (describe-vpcs,
 * describe-internet-gateways, describe-subnets, describe-nat-gateways).
 */
import { cidrContains, parseCidr } from '../control/cidr.js';
import { arr, bool, nameTag, obj, str, type Json } from './aws-json.js';
import { type Ctx, mapAddr, mapCidr, subject } from './model.js';
import { NameSpace } from './names.js';

export class ImportError extends Error {}

/** Picks the VPC to import: the one `--vpc` names (id or Name tag), or the only one. */
export function selectVpc(ctx: Ctx, wanted: string | undefined): void {
  const vpcs = ctx.input.vpcs;
  const label = (v: Json) => `${str(v, 'VpcId') ?? '?'}${nameTag(v) !== undefined ? ` (${nameTag(v)})` : ''}`;
  let vpc: Json | undefined;
  if (vpcs.length === 0) throw new ImportError('no describe-vpcs output in the input ({"Vpcs": [...]}); it is needed for the VPC\'s CIDR');
  if (wanted !== undefined) {
    vpc = vpcs.find((v) => str(v, 'VpcId') === wanted || nameTag(v) === wanted);
    if (vpc === undefined) throw new ImportError(`--vpc ${wanted}: no such VPC in the input (there are ${vpcs.map(label).join(', ')})`);
  } else if (vpcs.length > 1) {
    throw new ImportError(`the input holds ${vpcs.length} VPCs (${vpcs.map(label).join(', ')}); choose one with --vpc ID (a vpcd file describes one VPC)`);
  } else vpc = vpcs[0]!;
  const id = str(vpc, 'VpcId');
  const cidr = str(vpc, 'CidrBlock');
  if (id === undefined || cidr === undefined || !parseCidr(cidr).ok) throw new ImportError(`VPC ${id ?? '?'}: no VpcId or IPv4 CidrBlock in describe-vpcs`);
  ctx.vpcId = id;
  ctx.vpcCidrAws = cidr;
  const owner = str(vpc, 'OwnerId');
  if (owner !== undefined) ctx.ownerId = owner;
  const name = new NameSpace().take(nameTag(vpc), id);
  const subj = subject('VPC', name, id);
  ctx.doc.vpc = { name, cidr: mapCidr(ctx, cidr, subj), ...(owner !== undefined && /^[0-9]{12}$/.test(owner) ? { accountId: owner } : {}) };
  const region = /^([a-z]{2}(-[a-z]+)+-[0-9]+)[a-z]$/.exec(str(ctx.input.subnets.find((s) => str(s, 'VpcId') === id), 'AvailabilityZone') ?? '')?.[1];
  ctx.comments.set('vpc', `${id}${bool(vpc, 'IsDefault') === true ? ', the default VPC' : ''}${region !== undefined ? `, region ${region}` : ''}`);
  for (const a of arr(vpc, 'CidrBlockAssociationSet')) {
    const c = str(a, 'CidrBlock');
    const state = str(obj(a, 'CidrBlockState'), 'State');
    if (c !== undefined && c !== cidr && (state === undefined || state === 'associated')) {
      ctx.report.unmap(subj, `secondary CIDR block ${c}: a vpcd VPC has one CIDR; subnets in it are left out`);
    }
  }
  for (const a of arr(vpc, 'Ipv6CidrBlockAssociationSet')) {
    const c = str(a, 'Ipv6CidrBlock');
    if (c !== undefined) ctx.report.unmap(subj, `IPv6 CIDR block ${c}: vpcd routes IPv4 only (IPv6 rules are kept and match no IPv4 packet)`);
  }
  const dhcp = str(vpc, 'DhcpOptionsId');
  if (dhcp !== undefined && dhcp !== 'default') ctx.report.note(subj, `DHCP options set ${dhcp}: describe-vpcs does not show its contents; not imported`);
  const others = vpcs.filter((v) => v !== vpc).map(label);
  if (others.length > 0) ctx.report.note('input', `other VPCs in the input are not imported: ${others.join(', ')}`);
}

/** The internet gateway attached to the VPC, if the input shows one. */
export function mapInternetGateway(ctx: Ctx): void {
  for (const g of ctx.input.internetGateways) {
    const attached = arr(g, 'Attachments').some((a) => str(a, 'VpcId') === ctx.vpcId && str(a, 'State') !== 'detached');
    const id = str(g, 'InternetGatewayId');
    if (!attached || id === undefined) continue;
    ctx.igwId = id;
    const name = ctx.targets.take(nameTag(g), id);
    ctx.doc.internetGateway = { name };
    ctx.comments.set('internetGateway', id);
    return;
  }
}

/** Makes sure a route to igw-... has an internet gateway to go to (the input may lack describe-internet-gateways). */
export function ensureInternetGateway(ctx: Ctx, id: string): string {
  if (ctx.doc.internetGateway !== undefined) {
    if (ctx.igwId !== undefined && ctx.igwId !== id) {
      ctx.report.note(subject('internet gateway', undefined, id), `routes name it, but ${ctx.igwId} is the one attached; both are mapped to ${ctx.doc.internetGateway.name}`);
    }
    return ctx.doc.internetGateway.name;
  }
  ctx.igwId = id;
  const name = ctx.targets.take(undefined, id);
  ctx.doc.internetGateway = { name };
  ctx.comments.set('internetGateway', `${id} (named by routes; describe-internet-gateways shows no attachment to this VPC)`);
  return name;
}

export function mapSubnets(ctx: Ctx): void {
  const names = new NameSpace();
  const vpcBlock = parseCidr(ctx.vpcCidrAws);
  for (const s of ctx.input.subnets) {
    if (str(s, 'VpcId') !== ctx.vpcId) continue;
    const id = str(s, 'SubnetId');
    const cidr = str(s, 'CidrBlock');
    if (id === undefined) continue;
    const subj = subject('subnet', nameTag(s), id);
    for (const a of arr(s, 'Ipv6CidrBlockAssociationSet')) {
      const c = str(a, 'Ipv6CidrBlock');
      if (c !== undefined) ctx.report.unmap(subj, `IPv6 CIDR block ${c}: vpcd routes IPv4 only`);
    }
    if (cidr === undefined) {
      ctx.report.unmap(subj, 'no IPv4 CidrBlock (an IPv6-only subnet): left out');
      continue;
    }
    const p = parseCidr(cidr);
    if (!p.ok || !vpcBlock.ok || p.cidr.family !== 4 || !cidrContains(vpcBlock.cidr, p.cidr)) {
      ctx.report.unmap(subj, `${cidr} is not in the VPC's primary CIDR ${ctx.vpcCidrAws} (a secondary block): left out, with what is in it`);
      continue;
    }
    const name = names.take(nameTag(s), id);
    ctx.subnets.set(id, name);
    ctx.doc.subnets[name] = { cidr: mapCidr(ctx, cidr, subj) };
    const az = str(s, 'AvailabilityZone');
    const extra = [az, bool(s, 'DefaultForAz') === true ? 'default for its AZ' : undefined, bool(s, 'MapPublicIpOnLaunch') === true ? 'public IPs on launch' : undefined].filter((x) => x !== undefined);
    ctx.comments.set(`subnets.${name}`, `${id}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`);
  }
}

/** NAT gateways that exist (pending or available); deleted and failed ones are noted, not mapped. */
export function mapNatGateways(ctx: Ctx): void {
  for (const g of ctx.input.natGateways) {
    if (str(g, 'VpcId') !== ctx.vpcId) continue;
    const id = str(g, 'NatGatewayId');
    if (id === undefined) continue;
    const subj = subject('NAT gateway', nameTag(g), id);
    const state = str(g, 'State') ?? 'available';
    if (state !== 'available' && state !== 'pending') {
      ctx.report.note(subj, `state ${state}: not mapped (routes to it are blackhole routes in AWS)`);
      continue;
    }
    const subnet = ctx.subnets.get(str(g, 'SubnetId') ?? '');
    if (subnet === undefined) {
      ctx.report.unmap(subj, `its subnet ${str(g, 'SubnetId') ?? '?'} is not imported: left out`);
      continue;
    }
    const type = str(g, 'ConnectivityType') === 'private' ? 'private' : 'public';
    const addrs = arr(g, 'NatGatewayAddresses');
    const primary = addrs.find((a) => bool(a, 'IsPrimary') === true) ?? addrs[0];
    const ip = str(primary, 'PrivateIp');
    if (ip === undefined) {
      ctx.report.unmap(subj, 'no private address in NatGatewayAddresses: left out');
      continue;
    }
    for (const a of addrs) {
      if (a === primary) continue;
      ctx.report.unmap(subj, `secondary address ${str(a, 'PrivateIp') ?? '?'}${str(a, 'PublicIp') !== undefined ? ` / ${str(a, 'PublicIp')}` : ''}: a vpcd NAT gateway has one address`);
    }
    const publicIp = str(primary, 'PublicIp');
    if (type === 'public' && publicIp === undefined) {
      ctx.report.unmap(subj, 'a public NAT gateway without an Elastic IP in NatGatewayAddresses: left out');
      continue;
    }
    if (type === 'public' && ctx.doc.internetGateway === undefined) {
      ctx.report.unmap(subj, 'a public NAT gateway in a VPC without an internet gateway (AWS: Gateway.NotAttached): left out');
      continue;
    }
    const name = ctx.targets.take(nameTag(g), id);
    ctx.natGateways.set(id, name);
    ctx.doc.natGateways[name] = { subnet, type, ip: mapAddr(ctx, ip), ...(type === 'public' ? { publicIp: mapAddr(ctx, publicIp!) } : {}) };
    ctx.comments.set(`natGateways.${name}`, `${id}${str(primary, 'AllocationId') !== undefined ? `, Elastic IP ${str(primary, 'AllocationId')}` : ''}`);
  }
}
