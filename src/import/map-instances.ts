/**
 * Instances (describe-instances). A vpcd instance is one ENI: an EC2
 * instance's primary network interface becomes the instance (named after the
 * instance), each further interface another vpcd instance named
 * `<name>-eth<device index>` with its own subnet, address, groups and
 * source/destination check. The ENIs' MAC addresses are kept. Secondary
 * private addresses and IPv6 addresses have no vpcd equivalent and are
 * reported; terminated instances are left out.
 */
import { arr, bool, nameTag, num, obj, str, type Json } from './aws-json.js';
import { type Ctx, mapAddr, subject } from './model.js';

const MAX_GROUPS = 5;

interface Eni {
  readonly id: string | undefined;
  readonly device: number;
  readonly subnetId: string | undefined;
  readonly ip: string | undefined;
  readonly publicIp: string | undefined;
  readonly groups: readonly string[];
  readonly sourceDestCheck: boolean | undefined;
  readonly mac: string | undefined;
  readonly secondary: readonly string[];
  readonly ipv6: readonly string[];
}

function groupIds(o: Json, key: string): string[] {
  return arr(o, key).map((g) => str(g, 'GroupId')).filter((x): x is string => x !== undefined);
}

function enisOf(inst: Json): Eni[] {
  const list = arr(inst, 'NetworkInterfaces');
  if (list.length === 0) {
    return [{
      id: undefined, device: 0, subnetId: str(inst, 'SubnetId'), ip: str(inst, 'PrivateIpAddress'), publicIp: str(inst, 'PublicIpAddress'),
      groups: groupIds(inst, 'SecurityGroups'), sourceDestCheck: bool(inst, 'SourceDestCheck'), mac: undefined, secondary: [], ipv6: [],
    }];
  }
  const out = list.map((e): Eni => {
    const device = num(obj(e, 'Attachment'), 'DeviceIndex') ?? 0;
    const primaryIp = str(e, 'PrivateIpAddress');
    const secondary = arr(e, 'PrivateIpAddresses').filter((p) => bool(p, 'Primary') !== true).map((p) => str(p, 'PrivateIpAddress')).filter((x): x is string => x !== undefined && x !== primaryIp);
    return {
      id: str(e, 'NetworkInterfaceId'), device, subnetId: str(e, 'SubnetId') ?? str(inst, 'SubnetId'), ip: primaryIp,
      publicIp: str(obj(e, 'Association'), 'PublicIp') ?? (device === 0 ? str(inst, 'PublicIpAddress') : undefined),
      groups: arr(e, 'Groups').length > 0 ? groupIds(e, 'Groups') : device === 0 ? groupIds(inst, 'SecurityGroups') : [],
      sourceDestCheck: bool(e, 'SourceDestCheck') ?? (device === 0 ? bool(inst, 'SourceDestCheck') : undefined),
      mac: str(e, 'MacAddress'), secondary,
      ipv6: arr(e, 'Ipv6Addresses').map((a) => str(a, 'Ipv6Address')).filter((x): x is string => x !== undefined),
    };
  });
  return out.sort((a, b) => a.device - b.device);
}

export function mapInstances(ctx: Ctx): void {
  for (const inst of ctx.input.instances) {
    const id = str(inst, 'InstanceId');
    const vpc = str(inst, 'VpcId');
    const state = str(obj(inst, 'State'), 'Name') ?? 'running';
    const tag = nameTag(inst);
    // A terminated instance has no VpcId any more: noted whichever VPC it was in.
    if (id !== undefined && (state === 'terminated' || state === 'shutting-down') && (vpc === undefined || vpc === ctx.vpcId)) {
      ctx.report.note(subject('instance', tag, id), `state ${state}: left out`);
      continue;
    }
    if (id === undefined || vpc !== ctx.vpcId) continue;
    let base: string | undefined;
    for (const eni of enisOf(inst)) {
      const wanted = base === undefined ? tag : `${base}-eth${eni.device}`;
      const where = subject(base === undefined ? 'instance' : 'network interface', wanted, eni.id !== undefined && base !== undefined ? eni.id : id);
      const subnet = ctx.subnets.get(eni.subnetId ?? '');
      if (subnet === undefined || eni.ip === undefined) {
        ctx.report.unmap(where, `${eni.ip === undefined ? 'no private IPv4 address' : `its subnet ${eni.subnetId ?? '?'} is not imported`}: left out`);
        continue;
      }
      const name = ctx.targets.take(wanted, base === undefined ? id : `${base}-${eni.id ?? `eth${eni.device}`}`);
      if (base === undefined) {
        base = name;
        ctx.instances.set(id, name);
      } else {
        ctx.report.note(where, `a further network interface of instance ${base}: mapped as instance ${name} (a vpcd instance is one ENI)`);
      }
      if (eni.id !== undefined) ctx.enis.set(eni.id, name);
      for (const s of eni.secondary) ctx.report.unmap(where, `secondary private address ${s}: a vpcd ENI has one address`);
      for (const a of eni.ipv6) ctx.report.unmap(where, `IPv6 address ${a}: vpcd routes IPv4 only`);
      const groups: string[] = [];
      for (const g of eni.groups) {
        const n = ctx.securityGroups.get(g);
        if (n === undefined) ctx.report.unmap(where, `security group ${g} is not in the input: left off the instance`);
        else if (groups.length >= MAX_GROUPS) ctx.report.unmap(where, `security group ${n}: vpcd takes at most ${MAX_GROUPS} groups per ENI (AWS's default quota); left off`);
        else if (!groups.includes(n)) groups.push(n);
      }
      if (groups.length === 0) ctx.report.note(where, 'no security group of the input: it gets vpcd\'s default group');
      let publicIp = eni.publicIp;
      if (publicIp !== undefined && ctx.doc.internetGateway === undefined) {
        ctx.report.unmap(where, `public IP ${publicIp}: the VPC has no internet gateway in the input; left out`);
        publicIp = undefined;
      }
      ctx.doc.instances[name] = {
        subnet,
        ip: mapAddr(ctx, eni.ip),
        ...(publicIp !== undefined ? { publicIp: mapAddr(ctx, publicIp) } : {}),
        securityGroups: groups,
        ...(eni.sourceDestCheck === false ? { sourceDestCheck: false } : {}),
        ...(eni.mac !== undefined && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(eni.mac) ? { mac: eni.mac.toLowerCase() } : {}),
      };
      if (groups.length === 0) delete (ctx.doc.instances[name] as { securityGroups?: string[] }).securityGroups;
      const type = str(inst, 'InstanceType');
      ctx.comments.set(`instances.${name}`, [base === name ? id : `${eni.id ?? '?'} of ${id}`, type, state !== 'running' ? state : undefined].filter((x) => x !== undefined).join(', '));
    }
  }
}
