/**
 * Turns an event-ring record into the object observers see (one line of
 * `vpcd observe --json`, one server-sent event of /live/events). Control
 * plane: runs after a batch, only while someone listens.
 *
 * Shape (docs/cli.md#observe): `{ type, time, verdict, stage, by, code,
 * instance, proto, src, dst, sport, dport }` always (null where a field does
 * not apply), plus `reason` (drops), `tracked` (accepted flows), `xsrc`,
 * `xdst`, `xsport`, `xdport` and `natGateway` (translations), `packets` and
 * `bytes` (flow ends; 1 and the packet's size otherwise), `icmpType` and
 * `icmpCode` for ICMP. `by` uses explain's vocabulary: `{ nacl, rule }`
 * (rule `*` for the implicit deny), `{ group, rule }` (the rule's index in
 * the group's list), `{ implicit: 'deny' }`.
 */
import { formatIpv4 } from '../control/cidr.js';
import { DROP_REASON_LABELS } from '../pipeline/batch.js';
import { EVENT_TYPE_NAMES, EventRing, EventType, F, N, RECORD_NUMS, RECORD_WORDS, RULE_IMPLICIT, VERDICT_ACCEPT } from './event-ring.js';
import { CODE_NAMES, STAGE_NAMES } from './event-vocabulary.js';

/** Names for the indexes a record holds, from the running snapshot. */
export interface EventNames {
  readonly instances: readonly string[];
  readonly nacls: readonly string[];
  readonly groups: readonly string[];
  readonly natGateways: readonly string[];
}

export type EventBy =
  | { readonly nacl: string; readonly rule: number | '*' }
  | { readonly group: string; readonly rule: number }
  | { readonly implicit: 'deny' };

export interface ObserveEvent {
  readonly type: 'flow' | 'drop' | 'nat' | 'end';
  readonly time: string;
  readonly verdict: 'ACCEPT' | 'REJECT';
  readonly stage: string | null;
  readonly by: EventBy | null;
  readonly code: string | null;
  readonly instance: string | null;
  readonly proto: string | number;
  readonly src: string | null;
  readonly dst: string | null;
  readonly sport: number | null;
  readonly dport: number | null;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly reason?: string;
  readonly tracked?: boolean;
  readonly natGateway?: string;
  readonly xsrc?: string;
  readonly xdst?: string;
  readonly xsport?: number | null;
  readonly xdport?: number | null;
  readonly packets: number;
  readonly bytes: number;
}

/** Events an observer did not get: the ring was full (`ring`) or its own queue was (`queue`). */
export interface LostNotice {
  readonly type: 'lost';
  readonly time: string;
  readonly lost: number;
  readonly where: 'ring' | 'queue';
}

export function protoName(p: number): string | number {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : p;
}

function addr(n: number): string | null {
  return n === 0 ? null : formatIpv4(n);
}

function byOf(stage: string, owner: number, rule: number, names: EventNames): EventBy | null {
  if (stage === 'nacl-inbound' || stage === 'nacl-outbound') {
    const nacl = names.nacls[owner];
    if (nacl === undefined) return null;
    return { nacl, rule: rule === RULE_IMPLICIT ? '*' : rule };
  }
  if (stage === 'sg-ingress' || stage === 'sg-egress') {
    if (rule === RULE_IMPLICIT) return { implicit: 'deny' };
    const group = names.groups[owner];
    return group === undefined || rule < 0 ? null : { group, rule };
  }
  return null;
}

/** Decodes the record in `slot`. */
export function decodeEvent(ring: EventRing, slot: number, names: EventNames): ObserveEvent {
  const w = ring.words, o = slot * RECORD_WORDS;
  const nums = ring.nums, p = slot * RECORD_NUMS;
  const type = w[o + F.Type]!;
  const stage = STAGE_NAMES[w[o + F.Stage]!] || null;
  const code = CODE_NAMES[w[o + F.Code]!] || null;
  const proto = w[o + F.Proto]!;
  const ports = proto === 6 || proto === 17;
  const eni = w[o + F.Eni]!;
  const sport = w[o + F.Sport]!, dport = w[o + F.Dport]!;
  const ev: Record<string, unknown> = {
    type: EVENT_TYPE_NAMES[type] ?? 'flow',
    time: new Date(nums[p + N.TimeMs]!).toISOString(),
    verdict: w[o + F.Verdict] === VERDICT_ACCEPT ? 'ACCEPT' : 'REJECT',
    stage,
    by: stage === null ? null : byOf(stage, w[o + F.Owner]!, w[o + F.Rule]!, names),
    code,
    instance: eni >= 0 ? names.instances[eni] ?? null : null,
    proto: protoName(proto),
    src: addr(w[o + F.Src]!),
    dst: addr(w[o + F.Dst]!),
    sport: ports ? sport : null,
    dport: ports ? dport : null,
  };
  if (proto === 1 && type !== EventType.End) {
    ev.icmpType = dport >>> 8;
    ev.icmpCode = dport & 0xff;
  }
  if (type === EventType.Drop) ev.reason = DROP_REASON_LABELS[w[o + F.Reason]!] ?? 'unknown';
  if (type === EventType.Flow && ev.verdict === 'ACCEPT') ev.tracked = w[o + F.Extra] !== 0;
  if (type === EventType.Nat || (type === EventType.End && w[o + F.Xsrc] !== 0)) {
    const owner = w[o + F.Owner]!;
    if (owner >= 0 && names.natGateways[owner] !== undefined) ev.natGateway = names.natGateways[owner];
    ev.xsrc = addr(w[o + F.Xsrc]!);
    ev.xdst = addr(w[o + F.Xdst]!);
    ev.xsport = ports ? w[o + F.Xsport]! : null;
    ev.xdport = ports ? w[o + F.Xdport]! : null;
  }
  ev.packets = nums[p + N.Packets];
  ev.bytes = nums[p + N.Bytes];
  return ev as unknown as ObserveEvent;
}

export function lostNotice(lost: number, where: 'ring' | 'queue', nowMs = Date.now()): LostNotice {
  return { type: 'lost', time: new Date(nowMs).toISOString(), lost, where };
}
