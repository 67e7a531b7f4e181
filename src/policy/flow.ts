/**
 * The packet the reference evaluator carries from stage to stage: input
 * checks and defaults, its reply, and its JSON form.
 *
 * A NAT gateway picks the translated source port at run time anywhere in
 * 1024-65535 (REMAP_EPHEMERAL_PORT [RA-CODES]); unless the caller pins it,
 * the evaluator does not pretend to know it. Such a packet carries `natPort`
 * naming the field that holds the gateway's pick ('sport' on the way out,
 * 'dport' on the reply); the number in that field is only a placeholder,
 * stages that match on it judge the whole range instead, and the JSON form
 * shows the range, never the placeholder.
 */
import { isIpv4 } from './addr.js';
import { ExplainInputError, type Flow, type FlowJson, type PortRange } from './types.js';

/** Source port assumed when a TCP/UDP flow gives none (start of the IANA ephemeral range, in Linux's and Windows' ranges). */
export const DEFAULT_SPORT = 49152;
/** [VPC-NGW], [VPC-NACL] / REMAP_EPHEMERAL_PORT: a NAT gateway picks source ports in 1024-65535. */
export const NAT_GATEWAY_PORTS: PortRange = { from: 1024, to: 65535 };

export const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** ICMP queries that have a reply, request type -> reply type (RFC 792). Errors and replies have none. */
const ICMP_REPLY: Readonly<Record<number, number>> = { 8: 0, 13: 14, 15: 16, 17: 18 };

/** A packet inside the evaluator: a Flow, plus which port (if any) is the NAT gateway's run-time pick. */
export interface Pkt extends Flow {
  readonly natPort?: 'sport' | 'dport';
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
}

function isByte(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 255;
}

export function hasPorts(p: Flow): boolean {
  return p.proto === 6 || p.proto === 17;
}

/**
 * Checks a flow and fills defaults: TCP/UDP need a destination port, the
 * source port defaults to DEFAULT_SPORT; ICMP defaults to echo request (8/0);
 * fields that do not apply to the protocol are dropped.
 */
export function normaliseFlow(flow: Flow): Flow {
  if (!isIpv4(flow.src)) throw new ExplainInputError(`source '${flow.src}' is not an IPv4 address`);
  if (!isIpv4(flow.dst)) throw new ExplainInputError(`destination '${flow.dst}' is not an IPv4 address`);
  if (!isByte(flow.proto)) throw new ExplainInputError(`protocol ${String(flow.proto)} is not a protocol number 0-255`);
  if (flow.fragment !== undefined && flow.fragment !== 'first' && flow.fragment !== 'later') {
    throw new ExplainInputError(`fragment must be 'first' or 'later', not '${String(flow.fragment)}'`);
  }
  const base = { src: flow.src, dst: flow.dst, proto: flow.proto, ...(flow.fragment !== undefined ? { fragment: flow.fragment } : {}) };
  if (flow.proto === 6 || flow.proto === 17) {
    if (flow.dport === undefined) throw new ExplainInputError(`${PROTO_NAMES[flow.proto]} needs a destination port`);
    const sport = flow.sport ?? DEFAULT_SPORT;
    if (!isPort(flow.dport) || !isPort(sport)) throw new ExplainInputError('ports are integers 0-65535');
    return { ...base, sport, dport: flow.dport };
  }
  if (flow.proto === 1) {
    const icmpType = flow.icmpType ?? 8;
    const icmpCode = flow.icmpCode ?? 0;
    if (!isByte(icmpType) || !isByte(icmpCode)) throw new ExplainInputError('ICMP type and code are integers 0-255');
    return { ...base, icmpType, icmpCode };
  }
  if (flow.proto === 58) throw new ExplainInputError('icmpv6 needs IPv6 addresses; only IPv4 flows are evaluated');
  return base;
}

/** Checks a pinned NAT gateway port (EvaluateOptions.natPort). */
export function checkNatPort(port: number | undefined): void {
  if (port === undefined) return;
  if (!Number.isInteger(port) || port < NAT_GATEWAY_PORTS.from || port > NAT_GATEWAY_PORTS.to) {
    throw new ExplainInputError(`the NAT gateway port must be an integer ${NAT_GATEWAY_PORTS.from}-${NAT_GATEWAY_PORTS.to} (the range a NAT gateway uses), not ${port}`);
  }
}

/** The JSON form of a packet: protocol by name when it has one; a NAT gateway's unpinned port as its range. */
export function flowJson(f: Pkt): FlowJson {
  const out: { -readonly [K in keyof FlowJson]: FlowJson[K] } = { src: f.src, dst: f.dst, proto: PROTO_NAMES[f.proto] ?? f.proto };
  if (f.sport !== undefined) {
    if (f.natPort === 'sport') out.sportRange = NAT_GATEWAY_PORTS;
    else out.sport = f.sport;
  }
  if (f.dport !== undefined) {
    if (f.natPort === 'dport') out.dportRange = NAT_GATEWAY_PORTS;
    else out.dport = f.dport;
  }
  if (f.icmpType !== undefined) out.icmpType = f.icmpType;
  if (f.icmpCode !== undefined) out.icmpCode = f.icmpCode;
  if (f.fragment !== undefined) out.fragment = f.fragment;
  return out;
}

/** The return traffic of a (delivered) packet, or undefined when the protocol has none (ICMP errors and replies). */
export function replyOf(p: Flow): Flow | undefined {
  // The answers of a flow sent in fragments are judged as fragments of the same kind.
  const frag = p.fragment !== undefined ? { fragment: p.fragment } : {};
  if (p.proto === 6 || p.proto === 17) return { src: p.dst, dst: p.src, proto: p.proto, sport: p.dport as number, dport: p.sport as number, ...frag };
  if (p.proto === 1) {
    const t = ICMP_REPLY[p.icmpType as number];
    return t === undefined ? undefined : { src: p.dst, dst: p.src, proto: 1, icmpType: t, icmpCode: 0, ...frag };
  }
  // Other protocols: AWS tracks (src, dst, proto) and admits the same kind of traffic back within 600 s ([EC2-CT]).
  return { src: p.dst, dst: p.src, proto: p.proto, ...frag };
}

/** replyOf for a packet inside the evaluator: the NAT gateway's pick moves from the source port to the destination port. */
export function turnAround(p: Pkt): Pkt | undefined {
  const r = replyOf(p);
  if (r === undefined || p.natPort === undefined || !hasPorts(p)) return r;
  return { ...r, natPort: p.natPort === 'sport' ? 'dport' : 'sport' };
}

/** A packet without the NAT-port mark (after a translation back, the port is known again). */
export function plain(p: Pkt): Pkt {
  if (p.natPort === undefined) return p;
  const { natPort: _, ...rest } = p;
  return rest;
}

function portText(p: Pkt, field: 'sport' | 'dport'): string {
  return p.natPort === field ? `${NAT_GATEWAY_PORTS.from}-${NAT_GATEWAY_PORTS.to}` : String(p[field]);
}

/** One line naming the packet, for notes. */
export function show(p: Pkt): string {
  const proto = PROTO_NAMES[p.proto] ?? `proto ${p.proto}`;
  const frag = p.fragment !== undefined ? ` (${p.fragment} fragment)` : '';
  if (hasPorts(p)) return `${proto} ${p.src}:${portText(p, 'sport')} -> ${p.dst}:${portText(p, 'dport')}${frag}`;
  if (p.proto === 1) return `icmp ${p.src} -> ${p.dst} type ${p.icmpType} code ${p.icmpCode}${frag}`;
  return `${proto} ${p.src} -> ${p.dst}${frag}`;
}
