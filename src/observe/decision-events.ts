/**
 * What the security stage (conntrack/sg-stage.ts) writes into the event
 * ring about its decisions: a new flow accepted (with the admitting rule) or
 * refused (with the NACL rule or the group's implicit deny), and a packet of
 * a known flow refused. Called only while `ring.active`; allocation-free.
 */
import type { CompiledPolicy } from '../control/compile.js';
import { NO_MATCH } from '../acl/nacl-compile.js';
import { NO_NACL } from '../acl/nacl-stage.js';
import { DropReason } from '../pipeline/batch.js';
import type { Packet } from '../pipeline/packet.js';
import { type EventRing, EventType, RULE_IMPLICIT, RULE_NONE, VERDICT_ACCEPT, VERDICT_REJECT } from './event-ring.js';
import { Code, Stage } from './event-vocabulary.js';

/** A new flow's decision; `tracked`: the FlowFlag tracking bits (0: untracked). Marks the packet as reported. */
export function emitFlow(ev: EventRing, pkt: Packet, verdict: number, stage: number, code: number, eni: number, owner: number, rule: number, tracked: number): void {
  const s = ev.put(EventType.Flow, verdict, stage, code, owner, rule, eni, pkt.proto, pkt.src, pkt.dst, pkt.sport, pkt.dport);
  ev.setCounts(s, 1, pkt.l3Len);
  ev.setReason(s, 0, tracked);
  ev.decided = true;
}

/** The NACL rule number of a decided slot (-1 or NO_NACL: the implicit `*`). */
function naclRule(p: CompiledPolicy, sub: number, slot: number, inbound: boolean): number {
  if (sub < 0 || slot < 0 || slot === NO_NACL) return RULE_IMPLICIT;
  return (inbound ? p.naclInbound(sub) : p.naclOutbound(sub)).ruleNumber[slot]!;
}

/**
 * A crossing refused by a NACL: the side that refused (atReceiver: the
 * receiver subnet's inbound rules), its NACL and the deciding slot.
 */
export function emitNaclDeny(ev: EventRing, p: CompiledPolicy, pkt: Packet, atReceiver: boolean, slot: number, S: number, sSub: number, R: number, rSub: number): void {
  const sub = atReceiver ? rSub : sSub;
  emitFlow(ev, pkt, VERDICT_REJECT, atReceiver ? Stage.NaclInbound : Stage.NaclOutbound, Code.SubnetAcl,
    atReceiver ? R : S, sub >= 0 ? p.subnetNacl[sub]! : -1, naclRule(p, sub, slot, atReceiver), 0);
}

/** An accepted new flow: the receiver's admitting rule (or the sender's when the receiver has no group). */
export function emitAccepted(ev: EventRing, p: CompiledPolicy, pkt: Packet, S: number, egSlot: number, R: number, inSlot: number, tracked: number): void {
  if (R >= 0 && inSlot !== NO_MATCH) {
    const set = p.sgIngress[R]!;
    emitFlow(ev, pkt, VERDICT_ACCEPT, Stage.SgIngress, Code.None, R, set.originGroup[inSlot]!, set.originRule[inSlot]!, tracked);
  } else if (S >= 0 && egSlot !== NO_MATCH) {
    const set = p.sgEgress[S]!;
    emitFlow(ev, pkt, VERDICT_ACCEPT, Stage.SgEgress, Code.None, S, set.originGroup[egSlot]!, set.originRule[egSlot]!, tracked);
  } else {
    emitFlow(ev, pkt, VERDICT_ACCEPT, Stage.Deliver, Code.None, R >= 0 ? R : S, -1, RULE_NONE, tracked);
  }
}

/**
 * A packet of a known flow refused (a NACL judges every packet; an
 * untracked side's group too): a drop with the side, and for a NACL its
 * rule (`slot`: the cached decision of that side).
 */
export function emitKnownDrop(ev: EventRing, p: CompiledPolicy, pkt: Packet, reason: number, atReceiver: boolean, slot: number, S: number, sSub: number, R: number, rSub: number): void {
  let stage: number, code: number, owner = -1, rule = RULE_IMPLICIT;
  if (reason === DropReason.Nacl) {
    const sub = atReceiver ? rSub : sSub;
    stage = atReceiver ? Stage.NaclInbound : Stage.NaclOutbound;
    code = Code.SubnetAcl;
    if (sub >= 0) owner = p.subnetNacl[sub]!;
    rule = naclRule(p, sub, slot, atReceiver);
  } else {
    stage = atReceiver ? Stage.SgIngress : Stage.SgEgress;
    code = Code.SgRulesMismatch;
  }
  const s = ev.put(EventType.Drop, VERDICT_REJECT, stage, code, owner, rule, atReceiver ? R : S, pkt.proto, pkt.src, pkt.dst, pkt.sport, pkt.dport);
  ev.setCounts(s, 1, pkt.l3Len);
  ev.setReason(s, reason, 0);
  ev.decided = true;
}
