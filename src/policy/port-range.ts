/**
 * NACL and security-group decisions over a whole range of destination ports
 * at once: what a stage must do for the reply towards a NAT gateway, whose
 * destination port is the source port the gateway picked anywhere in
 * 1024-65535 (REMAP_EPHEMERAL_PORT [RA-CODES]; [VPC-NACL] "NAT gateways use
 * ports 1024-65535"). AWS's troubleshooting note says it plainly: a NACL on
 * the gateway's subnet that admits only part of that range drops the
 * connections whose port falls outside it.
 *
 * Rules match port ranges, so a decision only changes at a rule's `from` or
 * `to + 1`: the range is cut there, each piece is decided once at its first
 * port, and neighbouring pieces decided by the same rule are merged. The
 * result is exact, not sampled.
 */
import type { Instance, NetworkAcl, VpcConfig } from '../control/config-types.js';
import { naclDecision } from './nacl.js';
import { instanceRules, sgDecision, type SgOptions } from './sg.js';
import type { By, Flow, NaclDirection, PortRange, PortRangeJudgement, PortSpan, SgDirection } from './types.js';

interface Piece {
  readonly from: number;
  readonly to: number;
  readonly allow: boolean;
  readonly by: By;
}

/** Cuts `range` at the rule bounds, decides each piece at its first port, merges equal neighbours. */
function split(range: PortRange, bounds: readonly PortRange[], decide: (port: number) => { allow: boolean; by: By }): Piece[] {
  const cuts = new Set<number>([range.from]);
  for (const b of bounds) {
    if (b.from > range.from && b.from <= range.to) cuts.add(b.from);
    if (b.to + 1 > range.from && b.to + 1 <= range.to) cuts.add(b.to + 1);
  }
  const starts = [...cuts].sort((a, b) => a - b);
  const out: Piece[] = [];
  starts.forEach((from, i) => {
    const to = i + 1 < starts.length ? (starts[i + 1] as number) - 1 : range.to;
    const d = decide(from);
    const prev = out.at(-1);
    if (prev !== undefined && prev.allow === d.allow && JSON.stringify(prev.by) === JSON.stringify(d.by)) {
      out[out.length - 1] = { ...prev, to };
    } else {
      out.push({ from, to, allow: d.allow, by: d.by });
    }
  });
  return out;
}

function judgement(range: PortRange, pieces: readonly Piece[]): PortRangeJudgement {
  const span = (p: Piece): PortSpan => ({ from: p.from, to: p.to, by: p.by });
  return {
    from: range.from,
    to: range.to,
    allowed: pieces.filter((p) => p.allow).map(span),
    denied: pieces.filter((p) => !p.allow).map(span),
  };
}

/** The NACL's decision for `pkt` with every destination port in `range`. */
export function naclOverPorts(nacl: NetworkAcl, direction: NaclDirection, pkt: Flow, range: PortRange): PortRangeJudgement {
  const rules = direction === 'inbound' ? nacl.inbound : nacl.outbound;
  const bounds = rules.flatMap((r) => (r.ports !== undefined ? [r.ports] : []));
  const pieces = split(range, bounds, (port) => {
    const d = naclDecision(nacl, direction, { ...pkt, dport: port });
    return { allow: d.allow, by: { nacl: nacl.name, rule: d.rule } };
  });
  return judgement(range, pieces);
}

/** The security groups' decision for `pkt` as a new flow with every destination port in `range`. */
export function sgOverPorts(cfg: VpcConfig, inst: Instance, direction: SgDirection, pkt: Flow, range: PortRange, opts: SgOptions): PortRangeJudgement {
  const bounds = instanceRules(cfg, inst, direction).flatMap(({ rule }) => (rule.ports !== undefined ? [rule.ports] : []));
  const pieces = split(range, bounds, (port) => {
    const d = sgDecision(cfg, inst, direction, { ...pkt, dport: port }, opts);
    return { allow: d.allow, by: d.by };
  });
  return judgement(range, pieces);
}

/** `1024-32767 (nacl x rule *), 40000 (…)`: the spans for a note. */
export function describeSpans(spans: readonly PortSpan[], describe: (by: By) => string): string {
  return spans.map((s) => `${s.from === s.to ? s.from : `${s.from}-${s.to}`} (${describe(s.by)})`).join(', ');
}
