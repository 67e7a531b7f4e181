/**
 * The names the Amazon DNS server answers itself, compiled from its options
 * once per configuration: the private hosted zones, the instances' private
 * hostnames (ip-a-b-c-d.ec2.internal or ip-a-b-c-d.<region>.compute.internal),
 * their public hostnames and the reverse (in-addr.arpa) names.
 *
 * `lookup(name, type)` resolves one question inside that namespace (CNAME
 * chains included) and says whether the name is ours at all: a name outside
 * every local zone is for the upstream resolvers.
 *
 * Order, as the Route 53 Resolver's: private hosted zones first (the most
 * specific zone wins, and a name under a private zone that the zone lacks is
 * NXDOMAIN, never forwarded), then the VPC's own names, then forwarding.
 *
 * Control plane: compile() allocates freely and throws on bad input; lookup()
 * allocates its answer (the service answers from sockets, not from the
 * per-packet path of the data plane).
 */
import { encode, type Answer } from 'dns-packet';
import { formatIpv4, ipv4InCidr, type Ipv4Cidr, parseCidr, parseIpv4, parseIpv6 } from '../../control/cidr.js';
import { dnsNameProblem } from '../../control/config-read-dns.js';
import type { DnsRecordType, PrivateZone } from '../../control/config-types.js';

/** A record as the encoder wants it (dns-packet's answer shape, `data` by type). */
export interface LocalRecord {
  readonly name: string;
  readonly type: DnsRecordType | 'PTR' | 'SOA';
  readonly ttl: number;
  readonly data: unknown;
}

export type Lookup =
  /** The name is not in any local zone: forward it. */
  | { readonly kind: 'foreign' }
  /** Answered from a local zone (`answers` may end in a CNAME whose target is foreign). */
  | { readonly kind: 'answer'; readonly answers: readonly LocalRecord[]; readonly foreignTarget?: string }
  /** The name (or the end of its CNAME chain) does not exist: NXDOMAIN with the zone's SOA. */
  | { readonly kind: 'nxdomain'; readonly answers: readonly LocalRecord[]; readonly soa: LocalRecord }
  /** The name exists without records of this type: NOERROR, no answer, the zone's SOA. */
  | { readonly kind: 'nodata'; readonly answers: readonly LocalRecord[]; readonly soa: LocalRecord };

export interface CatalogInput {
  readonly region: string;
  readonly enableDnsHostnames: boolean;
  readonly vpcCidr: string;
  readonly instances: ReadonlyArray<{ readonly name: string; readonly privateIp: string; readonly publicIp?: string }>;
  readonly privateZones: ReadonlyArray<PrivateZone>;
}

/** CNAME links followed at most (BIND's limit is 16 too). */
const MAX_CHAIN = 16;
/** The SOA Route 53 gives a private hosted zone (serial 1, refresh 7200, retry 900, expire 1209600, minimum 86400). */
const ZONE_SOA = { mname: 'ns-1536.awsdns-00.co.uk', rname: 'awsdns-hostmaster.amazon.com', serial: 1, refresh: 7200, retry: 900, expire: 1209600, minimum: 86400 };
const ZONE_SOA_TTL = 900;
/** The VPC's own names change as instances come and go: a short negative TTL. */
const VPC_SOA_TTL = 60;

type RecordSets = Map<string, LocalRecord[]>;

/** One step of a lookup: at one name, without following a CNAME. */
type Step =
  | 'foreign'
  | { readonly kind: 'nxdomain'; readonly soa: LocalRecord }
  | { readonly kind: 'nodata'; readonly soa: LocalRecord }
  | { readonly kind: 'records'; readonly records: readonly LocalRecord[] }
  | { readonly kind: 'cname'; readonly cname: LocalRecord };

interface Zone {
  readonly name: string;
  /** Owner name -> type -> records. */
  readonly names: Map<string, RecordSets>;
  /** Names with no records of their own but records below them (empty non-terminals). */
  readonly between: Set<string>;
  readonly soa: LocalRecord;
}

/** The private hostname domain of a region: ec2.internal in us-east-1, <region>.compute.internal elsewhere. */
export function privateDomain(region: string): string {
  return region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
}

/** The public hostname domain: compute-1.amazonaws.com in us-east-1, <region>.compute.amazonaws.com elsewhere. */
export function publicDomain(region: string): string {
  return region === 'us-east-1' ? 'compute-1.amazonaws.com' : `${region}.compute.amazonaws.com`;
}

/** `ip-198-18-1-10.ec2.internal` */
export function privateHostname(ip: string, region: string): string {
  return `ip-${ip.replaceAll('.', '-')}.${privateDomain(region)}`;
}

/** `ec2-203-0-113-10.compute-1.amazonaws.com` */
export function publicHostname(ip: string, region: string): string {
  return `ec2-${ip.replaceAll('.', '-')}.${publicDomain(region)}`;
}

/** `10.1.18.198.in-addr.arpa` for 198.18.1.10 (host order u32). */
export function reverseName(ip: number): string {
  return `${ip & 0xff}.${(ip >>> 8) & 0xff}.${(ip >>> 16) & 0xff}.${ip >>> 24}.in-addr.arpa`;
}

/** The address of a four-label in-addr.arpa name, or undefined. */
function reverseAddress(name: string): number | undefined {
  if (!name.endsWith('.in-addr.arpa')) return undefined;
  const labels = name.slice(0, -'.in-addr.arpa'.length).split('.');
  if (labels.length !== 4) return undefined;
  return parseIpv4(labels.reverse().join('.'));
}

const REGION_RE = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

function soaRecord(name: string, ttl: number, minimum: number): LocalRecord {
  return { name, type: 'SOA', ttl, data: { ...ZONE_SOA, minimum } };
}

function splitTxt(s: string): Buffer[] {
  const b = Buffer.from(s);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** Lower case, without the trailing dot: the form every name is kept in. */
function normName(s: string): string {
  return (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
}

function recordData(type: DnsRecordType, value: string): unknown {
  switch (type) {
    case 'A':
    case 'AAAA':
      return value;
    case 'CNAME':
      return normName(value);
    case 'TXT':
      return splitTxt(value);
    case 'MX': {
      const [pref, exchange] = value.trim().split(/\s+/);
      return { preference: Number(pref), exchange: normName(exchange ?? '') };
    }
    case 'SRV': {
      const [priority, weight, port, target] = value.trim().split(/\s+/);
      return { priority: Number(priority), weight: Number(weight), port: Number(port), target: normName(target ?? '') };
    }
  }
}

/** `r` when the encoder takes it; a bad value fails here, when the configuration is set, not at query time. */
function checked(zone: string, r: LocalRecord, value: string): LocalRecord {
  const bad = (): Error => new Error(`dns: zone ${zone}: record ${r.name} ${r.type}: ${JSON.stringify(value)} is not a valid value`);
  if ((r.type === 'A' && parseIpv4(value) === undefined) || (r.type === 'AAAA' && parseIpv6(value) === undefined)) throw bad();
  const d = r.data as Record<string, unknown>;
  const u16 = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 65535;
  if (r.type === 'MX' && !(u16(d.preference) && typeof d.exchange === 'string' && dnsNameProblem(d.exchange) === undefined)) throw bad();
  if (r.type === 'SRV' && !(u16(d.priority) && u16(d.weight) && u16(d.port) && typeof d.target === 'string' && dnsNameProblem(d.target) === undefined)) throw bad();
  if (r.type === 'CNAME' && dnsNameProblem(r.data as string) !== undefined) throw bad();
  try {
    encode({ type: 'response', answers: [{ ...r, class: 'IN' } as Answer] });
  } catch {
    throw bad();
  }
  return r;
}

function addRecord(names: Map<string, RecordSets>, r: LocalRecord): void {
  let sets = names.get(r.name);
  if (sets === undefined) names.set(r.name, (sets = new Map()));
  let list = sets.get(r.type);
  if (list === undefined) sets.set(r.type, (list = []));
  list.push(r);
}

/** The compiled namespace; immutable once built. */
export class Catalog {
  private readonly zones = new Map<string, Zone>();
  private readonly hostnames: Zone | undefined;
  private readonly publicNames = new Map<string, string>();
  private readonly publicPtr = new Map<number, string>();
  private readonly reverse: Zone | undefined;
  private readonly vpcBlock: Ipv4Cidr;
  private readonly hostnamesOn: boolean;
  private readonly publicSoa: LocalRecord;

  /** Throws an Error naming the first bad option; a Catalog is either whole or not built. */
  constructor(input: CatalogInput) {
    if (!REGION_RE.test(input.region)) throw new Error(`dns: region ${JSON.stringify(input.region)} is not a region name such as us-east-1`);
    const p = parseCidr(input.vpcCidr);
    if (!p.ok || p.cidr.family !== 4) throw new Error(`dns: vpcCidr ${JSON.stringify(input.vpcCidr)} is not an IPv4 CIDR`);
    this.vpcBlock = p.cidr;
    this.hostnamesOn = input.enableDnsHostnames;

    for (const z of input.privateZones) {
      const zone = normName(z.name);
      if (this.zones.has(zone)) throw new Error(`dns: private zone ${zone} is given twice`);
      if (dnsNameProblem(zone) !== undefined) throw new Error(`dns: private zone ${JSON.stringify(z.name)} is not a DNS name`);
      const names = new Map<string, RecordSets>();
      for (const r of z.records) {
        const name = normName(r.name);
        if (name !== zone && !name.endsWith(`.${zone}`)) throw new Error(`dns: record ${r.name} is outside its zone ${zone}`);
        for (const v of r.values) addRecord(names, checked(zone, { name, type: r.type, ttl: r.ttl, data: recordData(r.type, v) }, v));
      }
      this.zones.set(zone, { name: zone, names, between: emptyNonTerminals(names, zone), soa: soaRecord(zone, ZONE_SOA_TTL, ZONE_SOA.minimum) });
    }

    const domain = privateDomain(input.region);
    const hostNames = new Map<string, RecordSets>();
    const revNames = new Map<string, RecordSets>();
    for (const inst of input.instances) {
      const ip = parseIpv4(inst.privateIp);
      if (ip === undefined) throw new Error(`dns: instance ${inst.name}: privateIp ${JSON.stringify(inst.privateIp)} is not an IPv4 address`);
      const host = privateHostname(formatIpv4(ip), input.region);
      addRecord(hostNames, { name: host, type: 'A', ttl: VPC_SOA_TTL, data: formatIpv4(ip) });
      addRecord(revNames, { name: reverseName(ip), type: 'PTR', ttl: VPC_SOA_TTL, data: host });
      if (inst.publicIp !== undefined) {
        const pub = parseIpv4(inst.publicIp);
        if (pub === undefined) throw new Error(`dns: instance ${inst.name}: publicIp ${JSON.stringify(inst.publicIp)} is not an IPv4 address`);
        // Inside the VPC the public hostname resolves to the private address (AWS's documented behaviour).
        this.publicNames.set(publicHostname(formatIpv4(pub), input.region), formatIpv4(ip));
        this.publicPtr.set(pub, publicHostname(formatIpv4(pub), input.region));
      }
    }
    this.hostnames = { name: domain, names: hostNames, between: new Set(), soa: soaRecord(domain, VPC_SOA_TTL, VPC_SOA_TTL) };
    const revZone = reverseZoneName(this.vpcBlock);
    this.reverse = { name: revZone, names: revNames, between: new Set(), soa: soaRecord(revZone, VPC_SOA_TTL, VPC_SOA_TTL) };
    this.publicSoa = soaRecord(publicDomain(input.region), VPC_SOA_TTL, VPC_SOA_TTL);
  }

  /**
   * Resolves `name` (lower case, no trailing dot) for `type` (dns-packet's
   * type name; 'ANY' for every type) inside the local namespace.
   */
  lookup(name: string, type: string): Lookup {
    const answers: LocalRecord[] = [];
    const seen = new Set<string>();
    let current = name;
    for (let step = 0; step <= MAX_CHAIN; step++) {
      const r = this.lookupOne(current, type);
      if (r === 'foreign') return step === 0 ? { kind: 'foreign' } : { kind: 'answer', answers, foreignTarget: current };
      if (r.kind === 'nxdomain' || r.kind === 'nodata') return { kind: r.kind, answers, soa: r.soa };
      if (r.kind === 'records') {
        answers.push(...r.records);
        return { kind: 'answer', answers };
      }
      // A CNAME at a name asked for another type: follow it.
      answers.push(r.cname);
      seen.add(current);
      current = r.cname.data as string;
      if (seen.has(current)) break;
    }
    // A loop or a chain past MAX_CHAIN: what is known so far (the client sees the chain stop).
    return { kind: 'answer', answers };
  }

  private lookupOne(name: string, type: string): Step {
    const zone = this.zoneOf(name);
    if (zone === undefined) return this.vpcName(name, type);
    const sets = zone.names.get(name);
    if (sets === undefined) return zone.between.has(name) || name === zone.name ? { kind: 'nodata', soa: zone.soa } : { kind: 'nxdomain', soa: zone.soa };
    return fromSets(sets, type, zone.soa);
  }

  /** The VPC's own names: private and public hostnames, reverse names. */
  private vpcName(name: string, type: string): Step {
    // Without DNS hostnames AWS gives instances no names: everything goes upstream.
    if (!this.hostnamesOn) return 'foreign';
    const hz = this.hostnames as Zone;
    if (name === hz.name || name.endsWith(`.${hz.name}`)) {
      const sets = hz.names.get(name);
      if (sets === undefined) return name === hz.name ? { kind: 'nodata', soa: hz.soa } : { kind: 'nxdomain', soa: hz.soa };
      return fromSets(sets, type, hz.soa);
    }
    const priv = this.publicNames.get(name);
    if (priv !== undefined) {
      if (type === 'A' || type === 'ANY') return { kind: 'records', records: [{ name, type: 'A', ttl: VPC_SOA_TTL, data: priv }] };
      return { kind: 'nodata', soa: this.publicSoa };
    }
    const addr = reverseAddress(name);
    if (addr === undefined) return 'foreign';
    const rz = this.reverse as Zone;
    // The PTR of an instance's public address is answered here with its public
    // hostname (as AWS does for names it owns); other public addresses go upstream.
    const pub = this.publicPtr.get(addr);
    if (pub !== undefined) {
      if (type === 'PTR' || type === 'ANY') return { kind: 'records', records: [{ name, type: 'PTR', ttl: VPC_SOA_TTL, data: pub }] };
      return { kind: 'nodata', soa: rz.soa };
    }
    if (!ipv4InCidr(this.vpcBlock, addr)) return 'foreign';
    const sets = rz.names.get(name);
    if (sets === undefined) return { kind: 'nxdomain', soa: rz.soa };
    return fromSets(sets, type, rz.soa);
  }

  /** The most specific private zone holding `name` (walks its label boundaries, at most 127). */
  private zoneOf(name: string): Zone | undefined {
    let at = 0;
    for (let i = 0; i < 128; i++) {
      const z = this.zones.get(at === 0 ? name : name.slice(at));
      if (z !== undefined) return z;
      const dot = name.indexOf('.', at);
      if (dot < 0) return undefined;
      at = dot + 1;
    }
    return undefined;
  }
}

/** Every name strictly between the zone apex and an owner name: they exist (NODATA, not NXDOMAIN; RFC 8020). */
function emptyNonTerminals(names: Map<string, RecordSets>, zone: string): Set<string> {
  const out = new Set<string>();
  for (const n of names.keys()) {
    let at = n.indexOf('.');
    while (at >= 0 && n.length - at - 1 > zone.length) {
      out.add(n.slice(at + 1));
      at = n.indexOf('.', at + 1);
    }
  }
  return out;
}

function fromSets(sets: RecordSets, type: string, soa: LocalRecord): Step {
  if (type === 'ANY') return { kind: 'records', records: [...sets.values()].flat() };
  const cname = sets.get('CNAME');
  if (cname !== undefined && type !== 'CNAME') return { kind: 'cname', cname: cname[0] as LocalRecord };
  const list = sets.get(type);
  if (list !== undefined) return { kind: 'records', records: list };
  return { kind: 'nodata', soa };
}

/** The reverse zone of the VPC block, cut at the octet boundary at or above its prefix. */
function reverseZoneName(b: Ipv4Cidr): string {
  const octets = Math.floor(b.prefix / 8);
  const parts: number[] = [];
  for (let i = 0; i < octets; i++) parts.push((b.addr >>> (24 - 8 * i)) & 0xff);
  return [...parts.reverse(), 'in-addr', 'arpa'].join('.');
}
