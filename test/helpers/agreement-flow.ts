/**
 * Random flows for the explain/packet-path agreement test: raw integers
 * (shrinkable) resolved against a VPC model into one concrete flow: where the
 * request enters (an instance's ENI, the internet side of the uplink, a VPN
 * tunnel), its addresses, protocol, ports or ICMP type/code, and whether it
 * travels as fragments.
 *
 * Flow kinds: instance -> instance (private IP), instance -> a public IP of
 * the VPC (hairpin), instance -> internet (hosts, RFC 1918 / RFC 6598,
 * unowned public addresses), instance -> special addresses (VPC router,
 * reserved, unassigned, link-local, AWS services, a NAT gateway's private
 * IP), instance -> on-premises (VPN), internet -> public IP (and private or
 * unowned addresses), on-premises -> instance, and an instance sending with a
 * source it does not own. Protocols: TCP, UDP, ICMP queries, replies and
 * errors, GRE (47).
 */
import fc from 'fast-check';
import {
  INTERNET_HOSTS,
  REMOTE_HOSTS,
  UNOWNED_PUBLIC,
  VPN_PEER,
  type VpcModel,
} from './agreement-vpc.js';

export const FLOW_KINDS = ['i2i', 'i2pub', 'i2net', 'i2special', 'i2vpn', 'net2pub', 'vpn2i', 'spoof'] as const;
export type FlowKind = (typeof FLOW_KINDS)[number];
const KIND_WEIGHTS: Readonly<Record<FlowKind, number>> = { i2i: 30, i2pub: 8, i2net: 20, i2special: 10, i2vpn: 7, net2pub: 16, vpn2i: 6, spoof: 3 };

/** Destination ports: well-known ones, the edges of the ephemeral ranges, anything. */
const DPORTS = [22, 53, 80, 443, 123, 1023, 1024, 3389, 8080, 32767, 32768, 49151, 49152, 60999, 61000, 65535];
/** Source ports: privileged, the edges of the ephemeral ranges, typical Linux/Windows ones, anything. */
const SPORTS = [1023, 1024, 20000, 32768, 40000, 49152, 55555, 61000, 65535];
/** [type, code] of generated ICMP messages; echo first (most common). */
export const ICMP_MESSAGES: readonly (readonly [number, number])[] = [
  [8, 0], [8, 0], [8, 0], [0, 0], [13, 0], [14, 0], [15, 0], [17, 0], [3, 3], [3, 4], [3, 1], [11, 0], [5, 1], [12, 0], [9, 0], [10, 0],
];
export const ICMP_ERRORS: ReadonlySet<number> = new Set([3, 4, 5, 11, 12]);

export interface RawFlow {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  /** 0-34 tcp, 35-59 udp, 60-89 icmp, 90-99 gre. */
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
  readonly sportAny: number;
  readonly dportAny: number;
  readonly icmp: number;
  /** 0-74 whole packets, 75-84 the first fragment only, 85-99 every fragment. */
  readonly frag: number;
  readonly id: number;
}

const kindArb: fc.Arbitrary<number> = fc.oneof(
  ...FLOW_KINDS.map((k, i) => ({ weight: KIND_WEIGHTS[k], arbitrary: fc.constant(i) })),
);

export const flowArb: fc.Arbitrary<RawFlow> = fc.record({
  kind: kindArb,
  a: fc.integer({ min: 0, max: 15 }),
  b: fc.integer({ min: 0, max: 31 }),
  proto: fc.integer({ min: 0, max: 99 }),
  // index into the pool, or past its end: any port
  sport: fc.integer({ min: 0, max: SPORTS.length + 2 }),
  dport: fc.integer({ min: 0, max: DPORTS.length + 2 }),
  sportAny: fc.integer({ min: 0, max: 65535 }),
  dportAny: fc.integer({ min: 0, max: 65535 }),
  icmp: fc.integer({ min: 0, max: ICMP_MESSAGES.length - 1 }),
  frag: fc.integer({ min: 0, max: 99 }),
  id: fc.integer({ min: 1, max: 0xfffe }),
});

export type Origin =
  | { readonly at: 'instance'; readonly index: number }
  | { readonly at: 'internet' }
  | { readonly at: 'vpn' };

export type FragMode = 'none' | 'first' | 'all';

export interface FlowCase {
  readonly kind: FlowKind;
  readonly origin: Origin;
  /** For explain: the sending instance when it sends with a source it does not own. */
  readonly from?: string;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** ICMP echo/timestamp/... identifier (the "port" NAT translates). */
  readonly icmpId: number;
  readonly frag: FragMode;
  /** IPv4 identification of the request (the reply uses another). */
  readonly ipId: number;
}

function u32(ip: string): number {
  return ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
}
function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(len));
  return Math.floor(u32(ip) / size) === Math.floor(u32(net) / size);
}
function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length] as T;
}

/** Addresses an instance may send to that are not another ENI: the router, reserved, unassigned, link-local, services. */
function specialDestinations(m: VpcModel, own: number): string[] {
  const out: string[] = [];
  const s = m.subnets[own]!;
  const [base, len] = s.cidr.split('/') as [string, string];
  const net = u32(base);
  const size = 2 ** (32 - Number(len));
  const other = m.subnets[(own + 1) % m.subnets.length]!;
  out.push(dotted(net + 1), dotted(u32(other.cidr.split('/')[0] as string) + 1));
  out.push(dotted(net), dotted(net + 2), dotted(net + 3), dotted(net + size - 1), dotted(net + 40));
  out.push('198.18.200.5', '198.18.0.2', '169.254.169.254', '169.254.169.123', '169.254.1.1', '169.254.10.1');
  for (const g of m.nats) out.push(g.ip);
  return out;
}

function publicIps(m: VpcModel): string[] {
  return [...m.instances.flatMap((i) => (i.publicIp !== undefined ? [i.publicIp] : [])), ...m.nats.flatMap((g) => (g.publicIp !== undefined ? [g.publicIp] : []))];
}

const INTERNET_DESTS = [...INTERNET_HOSTS, ...INTERNET_HOSTS, '10.1.2.3', '100.64.1.1', UNOWNED_PUBLIC, VPN_PEER];

/** The concrete flow for raw integers in this VPC. */
export function resolveFlow(m: VpcModel, r: RawFlow): FlowCase {
  let kind: FlowKind = FLOW_KINDS[r.kind % FLOW_KINDS.length] as FlowKind;
  const pubs = publicIps(m);
  if (kind === 'vpn2i' && !m.vpn) kind = 'net2pub';
  if (kind === 'i2pub' && pubs.length === 0) kind = 'i2net';
  const n = m.instances.length;
  const ai = r.a % n;
  const inst = m.instances[ai]!;
  let origin: Origin = { at: 'instance', index: ai };
  let from: string | undefined;
  let src = inst.ip;
  let dst: string;
  switch (kind) {
    case 'i2i': {
      const bi = (ai + 1 + (r.b % (n - 1))) % n;
      dst = m.instances[bi]!.ip;
      break;
    }
    case 'i2pub':
      dst = pick(pubs, r.b);
      break;
    case 'i2net':
      dst = pick(INTERNET_DESTS, r.b);
      break;
    case 'i2special':
      dst = pick(specialDestinations(m, inst.subnet), r.b);
      break;
    case 'i2vpn':
      dst = pick(REMOTE_HOSTS, r.b);
      break;
    case 'net2pub': {
      origin = { at: 'internet' };
      src = r.a % 5 === 4 ? '10.9.9.9' : pick(INTERNET_HOSTS, r.a);
      const privates = m.instances.map((i) => i.ip);
      const dsts = [...pubs, ...pubs, ...pubs, UNOWNED_PUBLIC, pick(privates, r.b)];
      dst = pick(dsts, r.b);
      break;
    }
    case 'vpn2i': {
      // From inside the connection's remote networks: explain cannot say that a packet came through a tunnel otherwise.
      origin = { at: 'vpn' };
      src = pick(REMOTE_HOSTS.filter((h) => m.remoteNetworks.some((n) => inCidr(h, n))), r.a);
      const dsts = [...m.instances.map((i) => i.ip), ...m.instances.map((i) => i.ip), ...m.nats.map((g) => g.ip), '198.18.200.5'];
      dst = pick(dsts, r.b);
      break;
    }
    case 'spoof': {
      from = inst.name;
      // Not the address of an instance that forwards: its Linux would drop a packet carrying its own address as a martian.
      const others = m.instances.filter((i, k) => k !== ai && i.sourceDestCheck).map((i) => i.ip);
      src = pick([...INTERNET_HOSTS, ...others], r.a >> 2);
      dst = pick([...m.instances.map((i) => i.ip), ...INTERNET_HOSTS, REMOTE_HOSTS[0] as string], r.b);
      if (dst === src || dst === inst.ip) dst = INTERNET_HOSTS[0] === src ? (INTERNET_HOSTS[1] as string) : (INTERNET_HOSTS[0] as string);
      break;
    }
  }
  const base = { kind, origin, ...(from !== undefined ? { from } : {}), src, dst, icmpId: r.id, ipId: r.id ^ 0x5a5a, frag: fragMode(r.frag) };
  if (r.proto < 60) {
    const proto = r.proto < 35 ? 6 : 17;
    const sport = r.sport < SPORTS.length ? (SPORTS[r.sport] as number) : r.sportAny;
    const dport = r.dport < DPORTS.length ? (DPORTS[r.dport] as number) : r.dportAny;
    return { ...base, proto, sport, dport };
  }
  if (r.proto < 90) {
    const [icmpType, icmpCode] = ICMP_MESSAGES[r.icmp] as readonly [number, number];
    return { ...base, proto: 1, icmpType, icmpCode };
  }
  return { ...base, proto: 47 };
}

function fragMode(f: number): FragMode {
  return f < 75 ? 'none' : f < 85 ? 'first' : 'all';
}

/** The flow as `vpcd explain` arguments (for the counterexample report). */
export function explainCommand(m: VpcModel, f: FlowCase): string {
  if (f.from !== undefined) return `(not expressible with the CLI: ${f.from} sends with source ${f.src}; evaluateFlow(cfg, flow, { from: '${f.from}' }))`;
  const src = f.origin.at === 'instance' ? m.instances[f.origin.index]!.name : f.src;
  const parts = ['vpcd explain CONFIG', `--src ${src}`, `--dst ${f.dst}`];
  if (f.proto === 6 || f.proto === 17) parts.push(`--proto ${f.proto === 6 ? 'tcp' : 'udp'} --sport ${f.sport} --dport ${f.dport}`);
  else if (f.proto === 1) parts.push(`--proto icmp --icmp-type ${f.icmpType} --icmp-code ${f.icmpCode}`);
  else parts.push(`--proto ${f.proto}`);
  if (f.frag !== 'none') parts.push('--fragment first');
  return parts.join(' ');
}
