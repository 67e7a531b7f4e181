/**
 * Readers for the rule sections: prefix lists, network ACLs and security
 * groups, with the protocol/ports/ICMP matching shared by NACL and
 * security-group rules (AWS's rules for which fields apply to which protocol).
 */
import { isScalar } from 'yaml';
import { type Cidr, cidrToString, IPV4_ANY } from './cidr.js';
import { type Action, type NaclRule, type NetworkAcl, type PortRange, type PrefixList, PROTO, type SecurityGroup, type SgRule, withParsed } from './config-types.js';
import { Ctx, describe, type Fields, hint, readList, readMap, required, show, type V } from './config-issues.js';
import { type Entry, type Names, readCidr, readEnum, readInt, readRef, readString } from './config-read-values.js';

// ---------------------------------------------------------------------------
// Rule matches shared by NACL and security-group rules.

const PROTO_NAMES: Record<string, number> = { tcp: PROTO.TCP, udp: PROTO.UDP, icmp: PROTO.ICMP, icmpv6: PROTO.ICMPV6, all: PROTO.ALL };

function protocolName(p: number): string {
  for (const [name, n] of Object.entries(PROTO_NAMES)) if (n === p) return name;
  return String(p);
}

function readProtocol(ctx: Ctx, v: V): number | undefined {
  const n = v.node;
  let val: unknown = isScalar(n) ? n.value : undefined;
  if (typeof val === 'string') {
    if (Object.hasOwn(PROTO_NAMES, val)) return PROTO_NAMES[val];
    if (/^(-1|0|[1-9][0-9]{0,2})$/.test(val)) val = Number(val);
  }
  if (typeof val === 'number' && Number.isInteger(val) && val >= -1 && val <= 255) return val;
  const h = isScalar(n) && typeof n.value === 'string' ? hint(n.value, Object.keys(PROTO_NAMES)) : '';
  ctx.error(v.at, `${v.path}: expected tcp, udp, icmp, icmpv6, all (-1) or a protocol number 0..255, got ${describe(v)}${h}`);
  return undefined;
}

function readPorts(ctx: Ctx, v: V): PortRange | undefined {
  const n = v.node;
  const val = isScalar(n) ? n.value : undefined;
  let from: number | undefined;
  let to: number | undefined;
  if (typeof val === 'number' && Number.isInteger(val)) {
    from = to = val;
  } else if (typeof val === 'string') {
    const m = /^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$/.exec(val);
    if (m) {
      from = Number(m[1]);
      to = m[2] === undefined ? from : Number(m[2]);
    }
  }
  if (from === undefined || to === undefined) {
    ctx.error(v.at, `${v.path}: expected a port (0-65535) or a range such as 1024-65535, got ${describe(v)}`);
    return undefined;
  }
  if (from > 65535 || to > 65535 || from < 0) {
    ctx.error(v.at, `${v.path}: ports must be between 0 and 65535, got ${show(v)}`);
    return undefined;
  }
  if (from > to) {
    ctx.error(v.at, `${v.path}: the range ${from}-${to} is reversed; write ${to}-${from}`);
    return undefined;
  }
  return { from, to };
}

interface Match {
  readonly protocol: number;
  readonly ports?: PortRange;
  readonly icmpType: number;
  readonly icmpCode: number;
}

/** protocol, ports, icmpType, icmpCode of one rule, with AWS's rules for which apply. */
function readMatch(ctx: Ctx, f: Fields, item: V): Match | undefined {
  const pv = required(ctx, f, 'protocol', item, 'tcp, udp, icmp, icmpv6, all or a number');
  const protocol = pv === undefined ? undefined : readProtocol(ctx, pv);
  const portsV = f.get('ports');
  const ports = portsV === undefined ? undefined : readPorts(ctx, portsV);
  const typeV = f.get('icmpType');
  const codeV = f.get('icmpCode');
  const icmpType = typeV === undefined ? -1 : readInt(ctx, typeV, -1, 255, '-1 = all types');
  const icmpCode = codeV === undefined ? -1 : readInt(ctx, codeV, -1, 255, '-1 = all codes');
  if (protocol === undefined) return undefined;
  const isIcmp = protocol === PROTO.ICMP || protocol === PROTO.ICMPV6;
  let ok = true;
  if (portsV !== undefined && isIcmp) {
    ctx.error(portsV.keyAt, `${portsV.path}: ports do not apply to protocol ${protocolName(protocol)}; use icmpType and icmpCode`);
    ok = false;
  } else if (portsV !== undefined && protocol !== PROTO.TCP && protocol !== PROTO.UDP && ports !== undefined) {
    ctx.warn(
      portsV.keyAt,
      `${portsV.path}: ignored: with protocol ${protocolName(protocol)} the rule covers all ports (AWS ignores port ranges for protocol all and for protocols other than tcp, udp, icmp and icmpv6)`,
    );
  }
  for (const [fv, key] of [[typeV, 'icmpType'], [codeV, 'icmpCode']] as const) {
    if (fv !== undefined && !isIcmp) {
      ctx.error(fv.keyAt, `${fv.path}: ${key} only applies to protocol icmp or icmpv6, not ${protocolName(protocol)}`);
      ok = false;
    }
  }
  if (isIcmp && codeV !== undefined && icmpType === -1 && icmpCode !== undefined && icmpCode !== -1) {
    ctx.error(
      codeV.at,
      `${codeV.path}: icmpCode ${icmpCode} needs a specific icmpType (AWS: all types (-1) means all codes)`,
    );
    ok = false;
  }
  if (!ok || icmpType === undefined || icmpCode === undefined) return undefined;
  if (portsV !== undefined && ports === undefined) return undefined;
  const keepPorts = ports !== undefined && (protocol === PROTO.TCP || protocol === PROTO.UDP);
  return {
    protocol,
    ...(keepPorts ? { ports } : {}),
    icmpType: isIcmp ? icmpType : -1,
    icmpCode: isIcmp ? icmpCode : -1,
  };
}

function icmpFamilyWarning(ctx: Ctx, m: Match, family: 4 | 6, what: string, v: V): void {
  if (m.protocol === PROTO.ICMP && family === 6) {
    ctx.warn(v.at, `${v.path}: protocol icmp never matches IPv6 traffic; use icmpv6 for ${what}`);
  } else if (m.protocol === PROTO.ICMPV6 && family === 4) {
    ctx.warn(v.at, `${v.path}: protocol icmpv6 never matches IPv4 traffic; use icmp for ${what}`);
  }
}

// --- prefix lists ------------------------------------------------------------

/** Prefix lists, and each list's address family (undefined when empty) for rule checks. */
export function readPrefixLists(ctx: Ctx, entries: Entry[]): { lists: Map<string, PrefixList>; families: Map<string, 4 | 6 | undefined> } {
  const lists = new Map<string, PrefixList>();
  const families = new Map<string, 4 | 6 | undefined>();
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['cidrs', 'description']);
    const cidrs: string[] = [];
    const blocks: Cidr[] = [];
    let family: 4 | 6 | undefined;
    if (f !== undefined) {
      const dv = f.get('description');
      if (dv !== undefined) readString(ctx, dv, 'a description');
      const lv = required(ctx, f, 'cidrs', v, 'a list of CIDRs');
      const items = lv === undefined ? [] : readList(ctx, lv) ?? [];
      const seen = new Map<string, string>();
      for (const item of items) {
        const c = readCidr(ctx, item, 'any');
        if (c === undefined) continue;
        const text = cidrToString(c);
        if (family === undefined) family = c.family;
        else if (c.family !== family) {
          ctx.error(item.at, `${item.path}: ${text} is IPv${c.family} but the list's first entry is IPv${family}; a prefix list holds one address family`);
          continue;
        }
        const first = seen.get(text);
        if (first !== undefined) ctx.error(item.at, `${item.path}: ${text} is already listed at ${first}`);
        else {
          seen.set(text, item.path);
          cidrs.push(text);
          blocks.push(c);
        }
      }
    }
    lists.set(name, withParsed({ name, cidrs }, 'blocks', blocks));
    families.set(name, family);
  }
  return { lists, families };
}

// --- network ACLs ------------------------------------------------------------

const NACL_RULE_KEYS = ['rule', 'action', 'protocol', 'ports', 'icmpType', 'icmpCode', 'cidr', 'group', 'prefixList'] as const;

export function readNetworkAcls(ctx: Ctx, entries: Entry[]): Map<string, NetworkAcl> {
  const out = new Map<string, NetworkAcl>();
  const hasDefault = entries.some((e) => e.name === 'default');
  if (!hasDefault) {
    const all = (): NaclRule => withParsed({ rule: 100, action: 'allow' as const, protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }, 'block', IPV4_ANY);
    out.set('default', { name: 'default', inbound: [all()], outbound: [all()] });
  }
  for (const { name, v } of entries) {
    const f = readMap(ctx, v, ['inbound', 'outbound']) ?? new Map<string, V>();
    const iv = f.get('inbound');
    const ov = f.get('outbound');
    out.set(name, {
      name,
      inbound: iv === undefined ? [] : readNaclRules(ctx, iv),
      outbound: ov === undefined ? [] : readNaclRules(ctx, ov),
    });
  }
  return out;
}

function readNaclRules(ctx: Ctx, v: V): NaclRule[] {
  const out: NaclRule[] = [];
  const numbers = new Map<number, string>();
  for (const item of readList(ctx, v, 'a list of rules') ?? []) {
    const f = readMap(ctx, item, NACL_RULE_KEYS);
    if (f === undefined) continue;
    const rv = required(ctx, f, 'rule', item, 'a rule number 1..32766');
    const rule = rv && readInt(ctx, rv, 1, 32766, 'NACL rule numbers; 32767 and above are reserved by AWS');
    if (rv !== undefined && rule !== undefined) {
      const first = numbers.get(rule);
      if (first !== undefined) ctx.error(rv.at, `${rv.path}: rule number ${rule} is already used by ${first}`);
      else numbers.set(rule, item.path);
    }
    const av = required(ctx, f, 'action', item, 'allow or deny');
    const action = av && readEnum<Action>(ctx, av, ['allow', 'deny']);
    const m = readMatch(ctx, f, item);
    for (const k of ['group', 'prefixList'] as const) {
      const x = f.get(k);
      if (x !== undefined) {
        ctx.error(x.keyAt, `${x.path}: network ACL rules match on cidr only (${k === 'group' ? 'security groups can be referenced only by security-group rules' : 'AWS network ACL entries do not take prefix lists'})`);
      }
    }
    const cv = required(ctx, f, 'cidr', item, 'the source (inbound) or destination (outbound) CIDR');
    const cidr = cv && readCidr(ctx, cv, 'any');
    if (m !== undefined && cidr !== undefined && cv !== undefined) icmpFamilyWarning(ctx, m, cidr.family, cidrToString(cidr), cv);
    if (rule === undefined || action === undefined || m === undefined || cidr === undefined) continue;
    out.push(withParsed({ rule, action, ...m, cidr: cidrToString(cidr), pos: ctx.pos(item.at) }, 'block', cidr));
  }
  return out;
}

// --- security groups ---------------------------------------------------------

const SG_RULE_KEYS = ['protocol', 'ports', 'icmpType', 'icmpCode', 'cidr', 'group', 'prefixList', 'description'] as const;

export function readSecurityGroups(
  ctx: Ctx, entries: Entry[], names: Names, prefixFamilies: ReadonlyMap<string, 4 | 6 | undefined>,
): Map<string, SecurityGroup> {
  const out = new Map<string, SecurityGroup>();
  if (!entries.some((e) => e.name === 'default')) {
    out.set('default', {
      name: 'default',
      ingress: [{ index: 0, protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, group: 'default' }],
      egress: [allOutbound()],
    });
  }
  for (const { name, v } of entries) {
    if (name.toLowerCase().startsWith('sg-')) {
      ctx.error(v.keyAt, `securityGroups.${name}: security group names cannot start with "sg-" (AWS reserves it for group ids)`);
    }
    const f = readMap(ctx, v, ['ingress', 'egress', 'description']) ?? new Map<string, V>();
    const dv = f.get('description');
    const description = dv && readDescription(ctx, dv);
    const iv = f.get('ingress');
    const ev = f.get('egress');
    out.set(name, {
      name,
      ...(description !== undefined ? { description } : {}),
      ingress: iv === undefined ? [] : readSgRules(ctx, iv, names, prefixFamilies),
      // AWS: a new group starts with one outbound rule allowing all traffic.
      egress: ev === undefined ? [allOutbound()] : readSgRules(ctx, ev, names, prefixFamilies),
    });
  }
  return out;
}

function allOutbound(): SgRule {
  return withParsed({ index: 0, protocol: PROTO.ALL, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }, 'block', IPV4_ANY);
}

function readDescription(ctx: Ctx, v: V): string | undefined {
  const s = readString(ctx, v, 'a description');
  if (s !== undefined && s.length > 255) {
    ctx.error(v.at, `${v.path}: descriptions are at most 255 characters (AWS), got ${s.length}`);
    return undefined;
  }
  return s;
}

function readSgRules(ctx: Ctx, v: V, names: Names, prefixFamilies: ReadonlyMap<string, 4 | 6 | undefined>): SgRule[] {
  const out: SgRule[] = [];
  const items = readList(ctx, v, 'a list of rules') ?? [];
  items.forEach((item, index) => {
    const f = readMap(ctx, item, SG_RULE_KEYS);
    if (f === undefined) return;
    const m = readMatch(ctx, f, item);
    const given = (['cidr', 'group', 'prefixList'] as const).filter((k) => f.has(k));
    if (given.length === 0) {
      ctx.error(item.at, `${item.path}: a rule needs one of cidr, group or prefixList (the ${v.path.endsWith('.egress') ? 'destination' : 'source'})`);
      return;
    }
    if (given.length > 1) {
      const second = f.get(given[1] as string) as V;
      ctx.error(second.keyAt, `${item.path}: a rule takes exactly one of cidr, group or prefixList, got ${given.join(' and ')}`);
      return;
    }
    const dv = f.get('description');
    const description = dv && readDescription(ctx, dv);
    const kind = given[0] as 'cidr' | 'group' | 'prefixList';
    const tv = f.get(kind) as V;
    let target: { cidr: string } | { group: string } | { prefixList: string } | undefined;
    let block: Cidr | undefined;
    if (kind === 'cidr') {
      const c = readCidr(ctx, tv, 'any');
      if (c !== undefined) {
        target = { cidr: cidrToString(c) };
        block = c;
        if (m !== undefined) icmpFamilyWarning(ctx, m, c.family, cidrToString(c), tv);
      }
    } else if (kind === 'group') {
      const g = readRef(ctx, tv, 'security group', names.securityGroups);
      if (g !== undefined) target = { group: g };
    } else {
      const p = readRef(ctx, tv, 'prefix list', names.prefixLists);
      if (p !== undefined) {
        target = { prefixList: p };
        const fam = prefixFamilies.get(p);
        if (m !== undefined && fam !== undefined) icmpFamilyWarning(ctx, m, fam, `prefix list ${p}`, tv);
      }
    }
    if (m === undefined || target === undefined || (dv !== undefined && description === undefined)) return;
    const rule: SgRule = { index, ...m, ...target, ...(description !== undefined ? { description } : {}), pos: ctx.pos(item.at) };
    out.push(block === undefined ? rule : withParsed(rule, 'block', block));
  });
  return out;
}
