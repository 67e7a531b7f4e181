/**
 * Security groups, network ACLs and the prefix lists they use
 * (describe-security-groups, describe-network-acls,
 * describe-managed-prefix-lists with the entries of each list).
 *
 * Security groups: one vpcd rule per source of an IpPermission (IpRanges,
 * Ipv6Ranges, PrefixListIds, UserIdGroupPairs), so a rule's index is its
 * position in that flattened list; IpProtocol -1 is `all`; for ICMP,
 * FromPort/ToPort are the type and code (-1: any). Egress is always written
 * out (`[]` when there is none: vpcd's default for a missing egress is allow
 * all, AWS's for a group with its egress rules removed is nothing).
 *
 * Network ACLs: Egress false/true entries become inbound/outbound rules with
 * their numbers; the final `*` entries (32767, and 32768 for IPv6) are
 * implicit in vpcd.
 */
import { arr, bool, isObj, nameTag, num, obj, str, type Json } from './aws-json.js';
import { type Ctx, mapCidr, type NaclRuleOut, type SgRuleOut, subject } from './model.js';
import { NameSpace } from './names.js';

/** The vpcd prefix list for an AWS one (made on first use), or undefined when its entries are unknown. */
export function prefixList(ctx: Ctx, id: string, where: string): string | undefined {
  const known = ctx.prefixLists.get(id);
  if (known !== undefined) return known;
  const pl = ctx.input.prefixLists.find((p) => str(p, 'PrefixListId') === id);
  const entries = ctx.input.prefixListEntries.get(id) ?? (pl !== undefined && Array.isArray((pl as { Entries?: unknown }).Entries) ? arr(pl, 'Entries') : undefined);
  const plName = str(pl, 'PrefixListName');
  if (entries === undefined) {
    ctx.report.unmap(where, `prefix list ${id}${plName !== undefined ? ` (${plName})` : ''}: its entries are not in the input (describe-managed-prefix-lists does not list them; add the output of 'aws ec2 get-managed-prefix-list-entries --prefix-list-id ${id}' as ${id}.json)`);
    return undefined;
  }
  const name = ctx.prefixListNames.take(nameTag(pl) ?? plName, id);
  const subj = subject('prefix list', name, id);
  const cidrs: string[] = [];
  for (const e of entries) {
    const c = str(e, 'Cidr');
    if (c === undefined) continue;
    const m = mapCidr(ctx, c, subj);
    if (!cidrs.includes(m)) cidrs.push(m);
  }
  ctx.prefixLists.set(id, name);
  ctx.doc.prefixLists[name] = { ...(plName !== undefined ? { description: plName } : {}), cidrs };
  ctx.comments.set(`prefixLists.${name}`, `${id}${str(pl, 'OwnerId') === 'AWS' ? ' (AWS-managed)' : ''}`);
  return name;
}

type Proto = Pick<SgRuleOut, 'protocol' | 'ports' | 'icmpType' | 'icmpCode'>;

function ports(from: number | undefined, to: number | undefined): string | number | undefined {
  if (from === undefined || to === undefined || from < 0 || to < 0) return undefined;
  if (from === 0 && to === 65535) return undefined;
  return from === to ? from : `${from}-${to}`;
}

function icmp(type: number | undefined, code: number | undefined): Pick<Proto, 'icmpType' | 'icmpCode'> {
  const t = type !== undefined && type >= 0 ? { icmpType: type } : {};
  const c = type !== undefined && type >= 0 && code !== undefined && code >= 0 ? { icmpCode: code } : {};
  return { ...t, ...c };
}

/** An AWS protocol (`-1`, `tcp`, `6`, `icmp`, `58`, `50`, ...) with its ports or ICMP type and code; undefined when not a protocol. */
export function protocol(p: string, from: number | undefined, to: number | undefined): Proto | undefined {
  const t = p.toLowerCase();
  if (t === '-1' || t === 'all') return { protocol: 'all' };
  if (t === 'tcp' || t === '6' || t === 'udp' || t === '17') {
    const pr = ports(from, to);
    return { protocol: t === 'tcp' || t === '6' ? 'tcp' : 'udp', ...(pr !== undefined ? { ports: pr } : {}) };
  }
  if (t === 'icmp' || t === '1') return { protocol: 'icmp', ...icmp(from, to) };
  if (t === 'icmpv6' || t === '58') return { protocol: 58, ...icmp(from, to) };
  if (/^[0-9]+$/.test(t) && Number(t) <= 255) return { protocol: Number(t) };
  return undefined;
}

function sgRules(ctx: Ctx, perms: readonly Json[], where: string): SgRuleOut[] {
  const out: SgRuleOut[] = [];
  for (const perm of perms) {
    const ipProto = str(perm, 'IpProtocol') ?? '-1';
    const base = protocol(ipProto, num(perm, 'FromPort'), num(perm, 'ToPort'));
    if (base === undefined) {
      ctx.report.unmap(where, `a rule with IpProtocol ${JSON.stringify(ipProto)}: not a protocol vpcd knows; left out`);
      continue;
    }
    const desc = (o: Json) => (str(o, 'Description') !== undefined ? { description: str(o, 'Description')! } : {});
    for (const r of arr(perm, 'IpRanges')) {
      const c = str(r, 'CidrIp');
      if (c !== undefined) out.push({ ...base, cidr: mapCidr(ctx, c, where), ...desc(r) });
    }
    for (const r of arr(perm, 'Ipv6Ranges')) {
      const c = str(r, 'CidrIpv6');
      if (c !== undefined) out.push({ ...base, cidr: c, ...desc(r) });
    }
    for (const r of arr(perm, 'PrefixListIds')) {
      const id = str(r, 'PrefixListId');
      if (id === undefined) continue;
      const name = prefixList(ctx, id, where);
      if (name !== undefined) out.push({ ...base, prefixList: name, ...desc(r) });
      else ctx.report.unmap(where, `the ${ipProto} rule for prefix list ${id} is left out (its entries are unknown)`);
    }
    for (const r of arr(perm, 'UserIdGroupPairs')) {
      const gid = str(r, 'GroupId');
      const peering = str(r, 'VpcPeeringConnectionId');
      const user = str(r, 'UserId');
      const name = gid === undefined ? undefined : ctx.securityGroups.get(gid);
      if (peering !== undefined) {
        ctx.report.unmap(where, `a rule referencing group ${gid ?? '?'} across VPC peering ${peering}: vpcd has no peering; left out`);
      } else if (name === undefined || (user !== undefined && ctx.ownerId !== undefined && user !== ctx.ownerId)) {
        ctx.report.unmap(where, `a rule referencing group ${gid ?? '?'}${user !== undefined && user !== ctx.ownerId ? ` of account ${user}` : ''}: not a group of this VPC in the input; left out`);
      } else {
        out.push({ ...base, group: name, ...desc(r) });
      }
    }
  }
  return out;
}

export function mapSecurityGroups(ctx: Ctx): void {
  const names = new NameSpace();
  const groups = ctx.input.securityGroups.filter((g) => str(g, 'VpcId') === ctx.vpcId && str(g, 'GroupId') !== undefined);
  // Names first: rules refer to groups by name, their own included.
  for (const g of groups) {
    const id = str(g, 'GroupId')!;
    const name = names.take(nameTag(g) ?? str(g, 'GroupName'), id);
    ctx.securityGroups.set(id, name);
  }
  for (const g of groups) {
    const id = str(g, 'GroupId')!;
    const name = ctx.securityGroups.get(id)!;
    const where = subject('security group', name, id);
    const description = str(g, 'Description');
    ctx.doc.securityGroups[name] = {
      ...(description !== undefined ? { description: description.slice(0, 255) } : {}),
      ingress: sgRules(ctx, arr(g, 'IpPermissions'), `${where} ingress`),
      egress: sgRules(ctx, arr(g, 'IpPermissionsEgress'), `${where} egress`),
    };
    const groupName = str(g, 'GroupName');
    ctx.comments.set(`securityGroups.${name}`, `${id}${groupName !== undefined && groupName !== name ? ` (GroupName ${groupName})` : ''}`);
  }
}

/** AWS's final `*` entries (IPv4 and IPv6): implicit in vpcd. */
const STAR_RULES = new Set([32767, 32768]);

function naclRule(ctx: Ctx, e: Json, where: string): NaclRuleOut | undefined {
  const rule = num(e, 'RuleNumber');
  if (rule === undefined || STAR_RULES.has(rule)) return undefined;
  const action = str(e, 'RuleAction');
  const cidr = str(e, 'CidrBlock') ?? str(e, 'Ipv6CidrBlock');
  const p = str(e, 'Protocol') ?? '-1';
  const pr = obj(e, 'PortRange');
  const ic = obj(e, 'IcmpTypeCode');
  const proto = /^(1|58|icmp|icmpv6)$/.test(p) ? protocol(p, num(ic, 'Type'), num(ic, 'Code')) : protocol(p, num(pr, 'From'), num(pr, 'To'));
  if ((action !== 'allow' && action !== 'deny') || cidr === undefined || proto === undefined) {
    ctx.report.unmap(where, `rule ${rule}: ${action ?? 'no action'}, protocol ${p}, ${cidr ?? 'no CIDR'}: not understood; left out`);
    return undefined;
  }
  const c = str(e, 'CidrBlock') !== undefined ? mapCidr(ctx, cidr, where) : cidr;
  return { rule, action, ...proto, cidr: c };
}

export function mapNetworkAcls(ctx: Ctx): void {
  const names = new NameSpace();
  let any = false;
  for (const a of ctx.input.networkAcls) {
    const id = str(a, 'NetworkAclId');
    if (str(a, 'VpcId') !== ctx.vpcId || id === undefined) continue;
    any = true;
    const name = names.take(nameTag(a), id);
    const where = subject('network ACL', name, id);
    const inbound: NaclRuleOut[] = [];
    const outbound: NaclRuleOut[] = [];
    for (const e of arr(a, 'Entries')) {
      if (!isObj(e)) continue;
      const r = naclRule(ctx, e, where);
      if (r !== undefined) (bool(e, 'Egress') === true ? outbound : inbound).push(r);
    }
    ctx.doc.networkAcls[name] = { inbound, outbound };
    ctx.comments.set(`networkAcls.${name}`, `${id}${bool(a, 'IsDefault') === true ? ' (the VPC\'s default network ACL)' : ''}`);
    for (const as of arr(a, 'Associations')) {
      const sub = ctx.subnets.get(str(as, 'SubnetId') ?? '');
      const s = sub === undefined ? undefined : ctx.doc.subnets[sub];
      if (s !== undefined) s.networkAcl = name;
    }
  }
  const without = Object.entries(ctx.doc.subnets).filter(([, s]) => s.networkAcl === undefined).map(([n]) => n);
  if (without.length > 0) {
    ctx.report.note(any ? 'network ACLs' : 'input', `${any ? 'no association for' : 'no describe-network-acls output: '} subnets ${without.join(', ')}: they use vpcd's default network ACL (allow all, both ways)`);
  }
}
