/**
 * compileSnapshot(): a validated VpcConfig -> the immutable CompiledPolicy the
 * packet path reads (style §2 lessons 4 and 7). Control plane: allocates
 * freely; a reload builds a new snapshot with a new epoch and the data plane
 * swaps one reference between batches.
 *
 * What it holds, all indexed by small integers in the same order as the
 * config maps (so index i of instances here is index i in Topology):
 * - `topology`: subnets (net/mask, router ip, NACL index, route-table index),
 *   instances (ip, MAC, subnet, source/dest check), the address index (ip ->
 *   kind << 24 | index, typed-array open addressing) and route tables for
 *   longest-prefix match (control/topology.ts);
 * - `nacls[i]`: NACL i compiled per direction (acl/nacl-compile.ts);
 * - `sgIngress[i]` / `sgEgress[i]`: instance i's security-group allow-sets
 *   with group references resolved to member instances' private /32s and
 *   prefix lists expanded (conntrack/sg-compile.ts).
 */
import { CompiledNacl, NO_MATCH as NACL_NO_MATCH, type NaclEntry, compileNacl, findShadowedNaclEntries } from '../acl/nacl-compile.js';
import { CompiledSgSet, type SgEntry, SgOriginKind, compileSgSet } from '../conntrack/sg-compile.js';
import { type Cidr, parseCidr } from './cidr.js';
import type { ConntrackConfig, NaclRule, SgRule, VpcConfig } from './config-types.js';
import { AddrKind, Topology } from './topology.js';

/** Both directions of one NACL. */
export interface CompiledNaclPair {
  readonly name: string;
  readonly inbound: CompiledNacl;
  readonly outbound: CompiledNacl;
}

export class CompiledPolicy {
  readonly epoch: number;
  readonly topology: Topology;
  /** By NACL index (topology.subnetNacl[subnet] -> index). */
  readonly nacls: readonly CompiledNaclPair[];
  readonly naclNames: readonly string[];
  /** NACL index per subnet index (-1: none, which validation rules out). */
  readonly subnetNacl: Int32Array;
  /** By instance index: the union of its groups' ingress rules (remote = source). */
  readonly sgIngress: readonly CompiledSgSet[];
  /** By instance index: the union of its groups' egress rules (remote = destination). */
  readonly sgEgress: readonly CompiledSgSet[];
  /** Every security group's name; CompiledSgSet.originGroup indexes this. */
  readonly sgNames: readonly string[];
  readonly instanceNames: readonly string[];
  readonly conntrack: ConntrackConfig;

  constructor(cfg: VpcConfig, epoch: number) {
    this.epoch = epoch >>> 0;
    this.topology = new Topology(cfg, this.epoch);
    this.conntrack = cfg.conntrack;

    const acls = [...cfg.networkAcls.values()];
    this.naclNames = acls.map((a) => a.name);
    this.nacls = acls.map((a) => ({
      name: a.name,
      inbound: compileNacl(a.inbound.map(naclEntry)),
      outbound: compileNacl(a.outbound.map(naclEntry)),
    }));
    const naclIdx = new Map(this.naclNames.map((n, i) => [n, i]));
    const subnets = [...cfg.subnets.values()];
    this.subnetNacl = Int32Array.from(subnets.map((s) => naclIdx.get(s.networkAcl) ?? -1));

    this.sgNames = [...cfg.securityGroups.keys()];
    const sgIdx = new Map(this.sgNames.map((n, i) => [n, i]));
    const instances = [...cfg.instances.values()];
    this.instanceNames = instances.map((x) => x.name);

    // Group membership: group name -> private IPv4 of every ENI in it.
    const members = new Map<string, number[]>();
    for (const inst of instances) {
      const ip = parseCidr(inst.ip);
      if (!ip.ok || ip.cidr.family !== 4) continue;
      for (const g of inst.securityGroups) {
        let list = members.get(g);
        if (list === undefined) members.set(g, (list = []));
        list.push(ip.cidr.addr);
      }
    }

    const expand = (groupName: string, rule: SgRule, out: SgEntry[]): void => {
      const originGroup = sgIdx.get(groupName);
      if (originGroup === undefined) throw new Error(`unknown security group ${groupName}`);
      const base = {
        protocol: rule.protocol,
        ports: rule.ports,
        icmpType: rule.icmpType,
        icmpCode: rule.icmpCode,
        originGroup,
        originRule: rule.index,
      };
      if (rule.block !== undefined) {
        out.push({ ...base, originKind: SgOriginKind.Cidr, ...entryBlock(rule.block) });
      } else if (rule.group !== undefined) {
        for (const addr of members.get(rule.group) ?? []) out.push({ ...base, originKind: SgOriginKind.Group, family: 4, net: addr, prefixLen: 32 });
      } else if (rule.prefixList !== undefined) {
        const pl = cfg.prefixLists.get(rule.prefixList);
        if (pl === undefined) throw new Error(`unknown prefix list ${rule.prefixList}`);
        for (const c of pl.blocks) out.push({ ...base, originKind: SgOriginKind.PrefixList, ...entryBlock(c) });
      }
    };

    const ingress: CompiledSgSet[] = [];
    const egress: CompiledSgSet[] = [];
    for (const inst of instances) {
      const inRows: SgEntry[] = [];
      const outRows: SgEntry[] = [];
      for (const g of inst.securityGroups) {
        const sg = cfg.securityGroups.get(g);
        if (sg === undefined) throw new Error(`instance ${inst.name}: unknown security group ${g}`);
        for (const r of sg.ingress) expand(g, r, inRows);
        for (const r of sg.egress) expand(g, r, outRows);
      }
      ingress.push(compileSgSet(inRows, this.sgNames));
      egress.push(compileSgSet(outRows, this.sgNames));
    }
    this.sgIngress = ingress;
    this.sgEgress = egress;
  }

  /** Instance index owning this private IPv4 (host order), or -1. Never allocates. */
  instanceByIp(addr: number): number {
    const v = this.topology.addrIndex.get(addr);
    return v >= 0 && v >>> 24 === AddrKind.Instance ? v & 0xffffff : -1;
  }

  /** The compiled inbound NACL of a subnet. */
  naclInbound(subnet: number): CompiledNacl {
    return this.nacls[this.subnetNacl[subnet]].inbound;
  }

  /** The compiled outbound NACL of a subnet. */
  naclOutbound(subnet: number): CompiledNacl {
    return this.nacls[this.subnetNacl[subnet]].outbound;
  }

  /** Rule number of a NACL match result as explain and metrics print it: the number, or '*'. */
  static naclRuleLabel(nacl: CompiledNacl, idx: number): number | '*' {
    return idx === NACL_NO_MATCH ? '*' : nacl.ruleNumber[idx];
  }
}

/** Compiles a validated configuration into snapshot `epoch`. */
export function compileSnapshot(cfg: VpcConfig, epoch: number): CompiledPolicy {
  return new CompiledPolicy(cfg, epoch);
}

/** NACL entries that can never match (covered by one earlier entry), for `vpcd check`. */
export function shadowedNaclRules(
  p: CompiledPolicy,
): { nacl: string; direction: 'inbound' | 'outbound'; rule: number; by: number; conflicting: boolean }[] {
  const out: { nacl: string; direction: 'inbound' | 'outbound'; rule: number; by: number; conflicting: boolean }[] = [];
  for (const n of p.nacls) {
    for (const s of findShadowedNaclEntries(n.inbound)) out.push({ nacl: n.name, direction: 'inbound', rule: s.ruleNumber, by: s.by, conflicting: s.conflicting });
    for (const s of findShadowedNaclEntries(n.outbound)) out.push({ nacl: n.name, direction: 'outbound', rule: s.ruleNumber, by: s.by, conflicting: s.conflicting });
  }
  return out;
}

/** The address fields of a compiler entry, from a block the loader parsed (IPv6 entries carry no address: the IPv4 tables leave them out). */
function entryBlock(c: Cidr): { family: 4 | 6; net: number; prefixLen: number } {
  return c.family === 4 ? { family: 4, net: c.addr, prefixLen: c.prefix } : { family: 6, net: 0, prefixLen: c.prefix };
}

function naclEntry(r: NaclRule): NaclEntry {
  return {
    ruleNumber: r.rule,
    allow: r.action === 'allow',
    protocol: r.protocol,
    ports: r.ports,
    icmpType: r.icmpType,
    icmpCode: r.icmpCode,
    ...entryBlock(r.block),
  };
}
