/**
 * The security-group stage with connection tracking (aws-semantics §1, §4),
 * judging one *crossing*: a packet leaving ENI S (subnet s) and arriving at
 * ENI R (subnet r). Either end may be a gateway or the outside (-1): its SG
 * stage does not exist. AWS's order for a crossing:
 *
 *   S's SG egress  ->  s's NACL outbound  ->  r's NACL inbound  ->  R's SG ingress
 *
 * (NACLs only when s != r: acl/nacl-stage.ts.) Security groups are stateful
 * *per ENI*: an ENI that tracked a connection passes its packets both ways
 * without rules; an ENI that did not judges each packet by its rules. An ENI
 * does not track a TCP/UDP flow admitted by an all-addresses rule when the
 * opposite direction of the same ENI allows all addresses on all ports
 * ([EC2-CT] untracked); such flows take no table entry at all (AWS counts
 * only tracked connections against the allowance) and every packet is judged.
 *
 * Flow entries. The common case, one crossing per connection (instance to
 * instance, to a gateway, from the outside), is one entry in zone 0 that
 * records both ENIs (egressInstance = S, ingressInstance = R) and caches the
 * crossing's decision per policy epoch: one lookup per packet. When the same
 * 5-tuple crosses other ENIs too (an appliance with the source/destination
 * check off forwards it: A -> appliance -> B, or the reply returns another
 * way), the zone-0 entry does not own the crossing: each ENI is judged on
 * its own, with its own per-ENI entry in zone 1 + ENI, and the NACLs are
 * judged afresh: every ENI's group and every crossing's NACL as AWS evaluates them (no laundering by an appliance).
 *
 * Later fragments follow their first fragment's verdict (FragCache). Nothing here allocates per packet.
 */
import type { CompiledPolicy } from '../control/compile.js';
import { NO_MATCH } from '../acl/nacl-compile.js';
import { NaclStage, NO_NACL, type NaclHits } from '../acl/nacl-stage.js';
import { isUntrackedFlow } from './sg-compile.js';
import { ALLOWANCE_EXCEEDED, Conntrack, FlowTuple, FULL, NO_FLOW, initialTimeoutClass } from './conntrack.js';
import { FlowFlag, NO_INSTANCE } from './flow-pool.js';
import { DropReason } from '../pipeline/batch.js';
import type { Packet } from '../pipeline/packet.js';
import { FlowDir, awsTcpFlags, type FlowLogTable } from '../pipeline/flowlog-table.js';
import { HeavyHitters } from '../lib/heavy-hitters.js';
import { SgHits } from './sg-hits.js';
import { DROP_REASON_COUNT } from '../pipeline/batch.js';
import { FragCache } from '../lib/frag-cache.js';
import { EventRing, RULE_IMPLICIT, VERDICT_REJECT } from '../observe/event-ring.js';
import { Code, Stage } from '../observe/event-vocabulary.js';
import { emitAccepted, emitFlow, emitKnownDrop, emitNaclDeny } from '../observe/decision-events.js';

const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;
const ACCEPT = 1, REJECT = 0;

/** Per-direction, per-instance security-group verdict counters (vpcd_sg_verdicts_total). */
export const SgCounter = { EgressAllow: 0, EgressDeny: 1, IngressAllow: 2, IngressDeny: 3 } as const;

export { NaclHits } from '../acl/nacl-stage.js';

/** A snapshot's counters, handed back on a policy swap for the control plane to fold. */
export interface SecurityCounters {
  readonly naclHits: NaclHits;
  readonly sgVerdicts: Float64Array;
  readonly sgHits: SgHits;
  readonly eniDrops: Float64Array;
}

export class SecurityStage {
  policy: CompiledPolicy;
  readonly ct: Conntrack;
  readonly nacl: NaclStage;
  /** Per instance index × SgCounter. Re-made on reload (the control plane folds old values). */
  sgVerdicts: Float64Array;
  /** Hits per security-group rule slot (sg-hits.ts). Re-made on reload. */
  sgHits: SgHits;
  /** Drops per instance × DropReason (vpcd_eni_drops_total). Re-made on reload. */
  eniDrops: Float64Array;
  /**
   * The instance a drop of the current frame is counted on: the data plane
   * sets the sending instance (-1 for a frame from a gateway); a refusal at a
   * receiving ENI (its SG or its subnet's inbound NACL) moves it there.
   */
  // Stryker disable next-line UnaryOperator: equivalent mutant: the data plane sets it at the start of every frame, before any read
  dropEni = -1;
  flowsAccepted = 0;
  flowsRejected = 0;
  /** Sources of refused packets (new flows and packets of known flows), top-k. */
  readonly deniedSources = new HeavyHitters(64);
  /** Set when flow logs are configured. */
  flowLog: FlowLogTable | null = null;
  /** Unix ms of the current batch (flow-log timestamps). */
  wallMs = 0;
  /** traffic-path of the leg being judged (TrafficPath), for the sender's egress record; the wiring sets it. */
  trafficPath = 0;
  /** First-fragment verdicts, for later fragments. */
  readonly frags = new FragCache();
  /** New flows' decisions for observers (written only while `events.active`). */
  events = new EventRing(2);
  /** The slot the last egressAllows/ingressAllows matched (NO_MATCH: none). */
  private sgSlot = NO_MATCH;

  // per flowRef decision cache (zone-0 entries)
  private readonly cacheEpoch: Uint32Array;
  private readonly cacheReason: Uint8Array;
  private readonly cacheNaclOut: Int16Array;
  private readonly cacheNaclIn: Int16Array;
  /** For a cached refusal: 1 when the receiving side refused (inbound NACL or receiver SG), 0 the sending side. */
  private readonly cacheAtReceiver: Uint8Array;
  /** The SG slots that allowed a cached decision's untracked sides (-1: none), counted again on a cache hit. */
  private readonly cacheSgOut: Int32Array;
  private readonly cacheSgIn: Int32Array;

  private readonly tuple = new FlowTuple();
  private readonly rtuple = new FlowTuple();

  // the crossing being judged
  private l4 = 0;
  /** [EC2-CT] flows through a NAT gateway are always tracked on the instance's ENI. */
  // Stryker disable next-line BooleanLiteral: equivalent mutant: crossing() sets it before any read
  private forceTrack = false;
  /**
   * The packet was forwarded by an appliance (its source is not the sending
   * ENI's address): rules that reference a group do not match it at the
   * receiver ([VPC-SGR] middlebox note; SG_REFERENCES_NOT_PRESERVED).
   */
  // Stryker disable next-line BooleanLiteral: equivalent mutant: crossing() sets it before any read (senderSide() judges no ingress)
  private viaMiddlebox = false;
  /**
   * The receiver is an appliance or NAT instance (the packet is not addressed
   * to it): the sender's egress rules that reference a group do not match
   * either, the group's members are not the next hop.
   */
  // Stryker disable next-line BooleanLiteral: equivalent mutant: crossing() and senderSide() set it before any read
  private toMiddlebox = false;

  constructor(policy: CompiledPolicy, ct: Conntrack) {
    this.policy = policy;
    this.ct = ct;
    this.nacl = new NaclStage(policy);
    this.sgVerdicts = new Float64Array(policy.instanceNames.length * 4);
    this.sgHits = new SgHits(policy);
    this.eniDrops = new Float64Array(policy.instanceNames.length * DROP_REASON_COUNT);
    const refs = ct.max * 2;
    this.cacheSgOut = new Int32Array(refs);
    this.cacheSgIn = new Int32Array(refs);
    this.cacheEpoch = new Uint32Array(refs);
    this.cacheReason = new Uint8Array(refs);
    this.cacheNaclOut = new Int16Array(refs);
    this.cacheNaclIn = new Int16Array(refs);
    this.cacheAtReceiver = new Uint8Array(refs);
  }

  get naclHits(): NaclHits {
    return this.nacl.hits;
  }

  /** Swaps in a new snapshot (between batches). Returns the old counters for the control plane to fold. */
  setPolicy(p: CompiledPolicy): SecurityCounters {
    const old = { naclHits: this.nacl.setPolicy(p), sgVerdicts: this.sgVerdicts, sgHits: this.sgHits, eniDrops: this.eniDrops };
    this.policy = p;
    this.sgVerdicts = new Float64Array(p.instanceNames.length * 4);
    this.sgHits = new SgHits(p);
    this.eniDrops = new Float64Array(p.instanceNames.length * DROP_REASON_COUNT);
    this.ct.setTimeouts(p.conntrack.timeouts);
    return old;
  }

  /**
   * Judges the parsed packet crossing from ENI S in subnet sSub to ENI R in
   * subnet rSub (-1: a gateway or the outside). Returns DropReason.None to
   * pass. forceTrack: the sender's ENI tracks the flow whatever its rules
   * (flows through a NAT gateway, [EC2-CT]).
   */
  crossing(pkt: Packet, S: number, sSub: number, R: number, rSub: number, nowMs: number, forceTrack: boolean): number {
    // A later fragment follows its first fragment's verdict on this same crossing (each of an appliance's path keeps its own).
    if (pkt.fragOff !== 0) {
      return this.frags.allowed(pkt.src, pkt.dst, pkt.ipId, pkt.proto, nowMs, FragCache.leg(S, R)) ? DropReason.None : DropReason.Fragment;
    }
    this.forceTrack = forceTrack;
    const instIp = this.policy.topology.instIp;
    // From a gateway or the outside (S = -1) no ENI of a group sent it, whatever its source: a private NAT gateway
    // hands on an instance's answer with the instance's address, and group references do not match it either.
    // (Mutant `false` for S < 0 is equivalent: instIp[-1] is undefined, which no address equals.)
    this.viaMiddlebox = S < 0 || pkt.src !== instIp[S];
    // Towards a gateway or an appliance (the route is not local to the destination): egress group references do not match.
    // (Mutant `false` for R < 0 is equivalent: instIp[-1] is undefined, which no address equals.)
    this.toMiddlebox = R < 0 || pkt.dst !== instIp[R];
    const proto = pkt.proto;
    // Stryker disable next-line ConditionalExpression: equivalent mutant: parseIpv4 leaves dport 0 for other protocols
    this.l4 = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP ? pkt.dport : 0;
    const ref = this.lookup(pkt, 0);
    let r: number;
    if (ref === NO_FLOW) r = this.newFlow(pkt, S, sSub, R, rSub, nowMs);
    else if (owns(this.ct, ref, S, R)) r = this.knownFlow(pkt, ref, S, sSub, R, rSub, nowMs);
    else r = this.perEni(pkt, ref, S, sSub, R, rSub, nowMs);
    if (r === DropReason.None && pkt.moreFrags) this.frags.allow(pkt.src, pkt.dst, pkt.ipId, pkt.proto, nowMs, 0, FragCache.leg(S, R));
    return r;
  }

  private lookup(pkt: Packet, zone: number): number {
    if (pkt.proto === PROTO_ICMP) {
      this.tuple.setIcmp(pkt.src, pkt.dst, pkt.dport >>> 8, pkt.dport & 0xff, pkt.sport, zone);
      return this.ct.lookupTuple(this.tuple);
    }
    return this.ct.lookup(pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto, zone);
  }

  /** Fills this.tuple with the packet's key in `zone` (ICMP: setIcmp conventions). */
  private keyOf(pkt: Packet, zone: number): FlowTuple {
    const t = this.tuple;
    if (pkt.proto === PROTO_ICMP) t.setIcmp(pkt.src, pkt.dst, pkt.dport >>> 8, pkt.dport & 0xff, pkt.sport, zone);
    else t.set(pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto, zone);
    return t;
  }

  private newFlow(pkt: Packet, S: number, sSub: number, R: number, rSub: number, nowMs: number): number {
    const p = this.policy;
    const proto = pkt.proto;
    const l4 = this.l4;
    const len = pkt.l3Len;
    // 1. S's security group, egress
    let egSlot = NO_MATCH;
    if (S >= 0) {
      if (!this.egressAllows(S, pkt.dst, proto, l4)) {
        this.sgVerdicts[S * 4 + SgCounter.EgressDeny]++;
        if (this.events.active) emitFlow(this.events, pkt, VERDICT_REJECT, Stage.SgEgress, Code.SgRulesMismatch, S, -1, RULE_IMPLICIT, 0);
        this.reject(pkt, S, -1, len);
        return DropReason.Sg;
      }
      egSlot = this.sgSlot;
      // Stryker disable next-line ArithmeticOperator: equivalent mutant: SgCounter.EgressAllow is 0
      this.sgVerdicts[S * 4 + SgCounter.EgressAllow]++;
    }
    // 2./3. NACLs, only across a subnet boundary
    const nacl = this.nacl;
    if (nacl.crossing(sSub, rSub, pkt.src, pkt.dst, proto, l4) !== DropReason.None) {
      if (this.events.active) this.emitNaclDeny(pkt, S, sSub, R, rSub);
      if (nacl.refusedAtReceiver === 1) {
        this.reject(pkt, -1, R, len);
        if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
      } else {
        this.reject(pkt, S, -1, len);
      }
      return DropReason.Nacl;
    }
    // 4. R's security group, ingress
    if (R >= 0) {
      if (!this.ingressAllows(R, pkt.src, proto, l4)) {
        this.sgVerdicts[R * 4 + SgCounter.IngressDeny]++;
        if (this.events.active) emitFlow(this.events, pkt, VERDICT_REJECT, Stage.SgIngress, Code.SgRulesMismatch, R, -1, RULE_IMPLICIT, 0);
        this.reject(pkt, -1, R, len);
        if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
        return DropReason.Sg;
      }
      this.sgVerdicts[R * 4 + SgCounter.IngressAllow]++;
    }
    const inSlot = R >= 0 ? this.sgSlot : NO_MATCH;
    let tracked = 0;
    if (S >= 0 && this.tracksEgress(S, proto, l4)) tracked |= FlowFlag.TrackedEgress;
    if (R >= 0 && this.tracksIngress(R, proto, l4)) tracked |= FlowFlag.TrackedIngress;
    if (tracked === 0) {
      // Untracked on every ENI: AWS keeps no state, so no entry (and no allowance) is used.
      if (this.events.active) emitAccepted(this.events, this.policy, pkt, S, egSlot, R, inSlot, tracked);
      this.accept(pkt, S, R, len);
      return DropReason.None;
    }
    const orig = this.keyOf(pkt, 0);
    this.rtuple.reverseOf(orig);
    const f = this.ct.create(orig, this.rtuple, initialTimeoutClass(proto), nowMs, p.epoch, S, R, tracked);
    if (f < 0) {
      if (f === FULL || f === ALLOWANCE_EXCEEDED) {
        // The table or an ENI's tracked-connection allowance is exhausted: refused and counted.
        this.flowsRejected++;
        return DropReason.ConntrackFull;
      }
      // A key collision (the reply key belongs to another flow): judged statelessly, as allowed above.
      if (this.events.active) emitAccepted(this.events, this.policy, pkt, S, egSlot, R, inSlot, 0);
      this.accept(pkt, S, R, len);
      return DropReason.None;
    }
    const ref = f * 2;
    this.cacheEpoch[ref] = p.epoch;
    this.cacheReason[ref] = DropReason.None;
    this.cacheNaclOut[ref] = nacl.outSlot;
    this.cacheNaclIn[ref] = nacl.inSlot;
    this.cacheEpoch[ref + 1] = 0;
    this.cacheAtReceiver[ref] = 0;
    this.cacheSgOut[ref] = (tracked & FlowFlag.TrackedEgress) !== 0 ? -1 : egSlot;
    this.cacheSgIn[ref] = (tracked & FlowFlag.TrackedIngress) !== 0 ? -1 : inSlot;
    this.ct.touch(ref, nowMs, len, pkt.tcpFlags());
    this.flowsAccepted++;
    if (this.events.active) emitAccepted(this.events, this.policy, pkt, S, egSlot, R, inSlot, tracked);
    this.accept(pkt, S, R, len);
    return DropReason.None;
  }

  private knownFlow(pkt: Packet, ref: number, S: number, sSub: number, R: number, rSub: number, nowMs: number): number {
    const p = this.policy;
    const len = pkt.l3Len;
    let reason: number;
    // Stryker disable next-line ConditionalExpression: equivalent mutant: the cache saves work; judged afresh under the same policy, the decision and counts are the same
    if (this.cacheEpoch[ref] === p.epoch) {
      // Cached decision: count the NACL rules that decide this packet, as if judged afresh.
      this.nacl.countCached(sSub, rSub, this.cacheNaclOut[ref], this.cacheNaclIn[ref]);
      // ... and the security-group rules that allowed its untracked sides. A slot is cached only for a side that
      // has an ENI (newFlow, judgeKnown), and a ref is always judged with the same S and R (owns()): so >= 0
      // implies S >= 0, si >= 0 implies R >= 0.
      const so = this.cacheSgOut[ref], si = this.cacheSgIn[ref];
      if (so >= 0) this.sgHits.egress[S][so]++;
      if (si >= 0) this.sgHits.ingress[R][si]++;
      reason = this.cacheReason[ref];
    } else {
      reason = this.judgeKnown(pkt, ref, S, sSub, R, rSub);
    }
    if (reason !== DropReason.None) {
      if (this.events.active) this.emitKnownDrop(pkt, ref, reason, S, sSub, R, rSub);
      this.rejectKnown(pkt, this.cacheAtReceiver[ref], S, R, len);
      return reason;
    }
    this.ct.touch(ref, nowMs, len, pkt.tcpFlags());
    this.accept(pkt, S, R, len);
    return DropReason.None;
  }

  /** A packet of a known flow that owns the crossing, judged afresh and cached for the current epoch. */
  private judgeKnown(pkt: Packet, ref: number, S: number, sSub: number, R: number, rSub: number): number {
    const p = this.policy;
    const proto = pkt.proto;
    const l4 = this.l4;
    const flags = this.ct.pool.flags[ref >>> 1];
    const dir = ref & 1;
    // The sender of an orig packet is the ENI the flow left (egress tracking);
    // the sender of a reply is the ENI the flow entered (ingress tracking).
    const senderTracked = (flags & (dir === 0 ? FlowFlag.TrackedEgress : FlowFlag.TrackedIngress)) !== 0;
    const receiverTracked = (flags & (dir === 0 ? FlowFlag.TrackedIngress : FlowFlag.TrackedEgress)) !== 0;
    let reason: number = DropReason.None;
    let atReceiver = 0;
    let outSlot = NO_NACL, inSlot = NO_NACL;
    let sgOut = -1, sgIn = -1;
    if (S >= 0 && !senderTracked) {
      if (!this.egressAllows(S, pkt.dst, proto, l4)) reason = DropReason.Sg;
      sgOut = this.sgSlot;
    }
    if (reason === DropReason.None) {
      reason = this.nacl.crossing(sSub, rSub, pkt.src, pkt.dst, proto, l4);
      outSlot = this.nacl.outSlot;
      inSlot = this.nacl.inSlot;
      atReceiver = this.nacl.refusedAtReceiver;
    }
    if (reason === DropReason.None && R >= 0 && !receiverTracked) {
      if (!this.ingressAllows(R, pkt.src, proto, l4)) {
        reason = DropReason.Sg;
        atReceiver = 1;
      }
      sgIn = this.sgSlot;
    }
    this.cacheSgOut[ref] = sgOut;
    this.cacheSgIn[ref] = sgIn;
    this.cacheAtReceiver[ref] = atReceiver;
    this.cacheEpoch[ref] = p.epoch;
    this.cacheReason[ref] = reason;
    this.cacheNaclOut[ref] = outSlot;
    this.cacheNaclIn[ref] = inSlot;
    return reason;
  }

  /**
   * A crossing that the zone-0 entry `ref0` does not own (the packet's
   * 5-tuple also crosses other ENIs: an appliance, or an asymmetric return):
   * each ENI is judged on its own against its own tracking, the NACLs
   * afresh, nothing cached.
   */
  private perEni(pkt: Packet, ref0: number, S: number, sSub: number, R: number, rSub: number, nowMs: number): number {
    const p = this.policy;
    const proto = pkt.proto;
    const l4 = this.l4;
    const len = pkt.l3Len;
    const ct = this.ct;
    // sender's egress
    let refS = NO_FLOW;
    let newS = false;
    let egSlot = NO_MATCH, inSlot = NO_MATCH;
    if (S >= 0 && !tracksAsSender(ct, ref0, S)) {
      refS = this.lookup(pkt, 1 + S);
      // (Mutant `false` for the first test is equivalent: tracksAsSender(NO_FLOW) reads flow 2^31-1, past any pool: false.)
      if (refS === NO_FLOW || !tracksAsSender(ct, refS, S)) {
        refS = NO_FLOW;
        if (!this.egressAllows(S, pkt.dst, proto, l4)) {
          this.sgVerdicts[S * 4 + SgCounter.EgressDeny]++;
          if (this.events.active) emitFlow(this.events, pkt, VERDICT_REJECT, Stage.SgEgress, Code.SgRulesMismatch, S, -1, RULE_IMPLICIT, 0);
          this.reject(pkt, S, -1, len);
          return DropReason.Sg;
        }
        // Stryker disable next-line ArithmeticOperator: equivalent mutant: SgCounter.EgressAllow is 0
        this.sgVerdicts[S * 4 + SgCounter.EgressAllow]++;
        egSlot = this.sgSlot;
        newS = this.forceTrack || !isUntrackedFlow(p.sgEgress[S], p.sgIngress[S], proto, l4);
      }
    }
    const nacl = this.nacl;
    if (nacl.crossing(sSub, rSub, pkt.src, pkt.dst, proto, l4) !== DropReason.None) {
      if (this.events.active) this.emitNaclDeny(pkt, S, sSub, R, rSub);
      if (nacl.refusedAtReceiver === 1) {
        this.reject(pkt, -1, R, len);
        if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
      } else {
        this.reject(pkt, S, -1, len);
      }
      return DropReason.Nacl;
    }
    // receiver's ingress
    let refR = NO_FLOW;
    let newR = false;
    if (R >= 0 && !tracksAsReceiver(ct, ref0, R)) {
      refR = this.lookup(pkt, 1 + R);
      // (Mutant `false` for the first test is equivalent: tracksAsReceiver(NO_FLOW) reads flow 2^31-1, past any pool: false.)
      if (refR === NO_FLOW || !tracksAsReceiver(ct, refR, R)) {
        refR = NO_FLOW;
        if (!this.ingressAllows(R, pkt.src, proto, l4)) {
          this.sgVerdicts[R * 4 + SgCounter.IngressDeny]++;
          if (this.events.active) emitFlow(this.events, pkt, VERDICT_REJECT, Stage.SgIngress, Code.SgRulesMismatch, R, -1, RULE_IMPLICIT, 0);
          this.reject(pkt, -1, R, len);
          if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
          return DropReason.Sg;
        }
        this.sgVerdicts[R * 4 + SgCounter.IngressAllow]++;
        inSlot = this.sgSlot;
        newR = !isUntrackedFlow(p.sgIngress[R], p.sgEgress[R], proto, l4);
      }
    }
    if (newS) {
      const f = this.createPerEni(pkt, S, NO_INSTANCE, FlowFlag.TrackedEgress, nowMs);
      if (f === FULL || f === ALLOWANCE_EXCEEDED) return DropReason.ConntrackFull;
      // KEY_EXISTS (the ENI holds the key already, as the other role): the packet passes, no entry is touched.
      // (Mutant `true` is equivalent: KEY_EXISTS * 2 is a negative ref, and touch() of it changes nothing, see below.)
      if (f >= 0) refS = f * 2;
    }
    if (newR) {
      const f = this.createPerEni(pkt, NO_INSTANCE, R, FlowFlag.TrackedIngress, nowMs);
      if (f === FULL || f === ALLOWANCE_EXCEEDED) return DropReason.ConntrackFull;
      // (Mutant `true` is equivalent: KEY_EXISTS * 2 is a negative ref, and touch() of it changes nothing, see below.)
      if (f >= 0) refR = f * 2;
    }
    // A side that judged the packet by its rules (not by its tracking) decided a new flow there.
    if (this.events.active && (egSlot !== NO_MATCH || inSlot !== NO_MATCH)) {
      emitAccepted(this.events, this.policy, pkt, S, egSlot, R, inSlot, (newS ? FlowFlag.TrackedEgress : 0) | (newR ? FlowFlag.TrackedIngress : 0));
    }
    const flags = pkt.tcpFlags();
    ct.touch(ref0, nowMs, len, flags);
    // (Mutants `true` are equivalent: touch(NO_FLOW) is flow 2^31-1, past every typed array of the pool and the
    // expiry lists, so no count, flag or list entry changes.)
    if (refS !== NO_FLOW) ct.touch(refS, nowMs, len, flags);
    if (refR !== NO_FLOW) ct.touch(refR, nowMs, len, flags);
    this.accept(pkt, S, R, len);
    return DropReason.None;
  }

  /** A per-ENI entry in zone 1 + ENI for the packet's tuple. Returns the flow, FULL, or another negative code. */
  private createPerEni(pkt: Packet, egress: number, ingress: number, tracked: number, nowMs: number): number {
    const eni = egress >= 0 ? egress : ingress;
    const orig = this.keyOf(pkt, 1 + eni);
    this.rtuple.reverseOf(orig);
    const f = this.ct.create(orig, this.rtuple, initialTimeoutClass(pkt.proto), nowMs, this.policy.epoch, egress, ingress, tracked);
    if (f === FULL || f === ALLOWANCE_EXCEEDED) this.flowsRejected++;
    else if (f >= 0) this.flowsAccepted++;
    return f;
  }

  private tracksEgress(S: number, proto: number, l4: number): boolean {
    const p = this.policy;
    return this.forceTrack || !isUntrackedFlow(p.sgEgress[S], p.sgIngress[S], proto, l4);
  }

  private tracksIngress(R: number, proto: number, l4: number): boolean {
    const p = this.policy;
    return !isUntrackedFlow(p.sgIngress[R], p.sgEgress[R], proto, l4);
  }

  /** The sender's egress rules; group references do not match towards a middlebox. */
  private egressAllows(S: number, addr: number, proto: number, l4: number): boolean {
    const set = this.policy.sgEgress[S];
    const m = this.toMiddlebox ? set.matchL4NoGroupRefs(addr, proto, l4) : set.matchL4(addr, proto, l4);
    this.sgSlot = m;
    if (m === NO_MATCH) return false;
    this.sgHits.egress[S][m]++;
    return true;
  }

  /**
   * A crossing that ends before the receiver's security group (no route, a
   * blackhole, a gateway or router that refuses the packet, a receiver's
   * source/destination check): S's egress rules (or its tracking of the
   * flow), then the NACLs of the crossing from sSub to rSub (rSub -1: only
   * the outbound one), judged as AWS does before the drop. Creates no state.
   * Returns DropReason.None when all pass. `local`: the route delivers
   * inside the VPC to the destination itself (egress group references match).
   */
  senderSide(pkt: Packet, S: number, sSub: number, rSub: number, local: boolean, nowMs: number): number {
    // The first fragment of a packet that ends here was dropped too: its later fragments have nothing to follow.
    if (pkt.fragOff !== 0) return DropReason.Fragment;
    const proto = pkt.proto;
    this.toMiddlebox = !local;
    // Stryker disable next-line ConditionalExpression: equivalent mutant: parseIpv4 leaves dport 0 for other protocols
    const l4 = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP ? pkt.dport : 0;
    if (S >= 0) {
      // S's tracking: the zone-0 entry, or S's own entry when the flow crosses other ENIs too (an appliance's path).
      // (Mutants `true` for the NO_FLOW tests are equivalent: tracksAsSender(NO_FLOW) reads flow 2^31-1, past any pool: false.)
      const ref = this.lookup(pkt, 0);
      let tracked = ref !== NO_FLOW && tracksAsSender(this.ct, ref, S);
      if (!tracked) {
        const refS = this.lookup(pkt, 1 + S);
        tracked = refS !== NO_FLOW && tracksAsSender(this.ct, refS, S);
      }
      if (!tracked && !this.egressAllows(S, pkt.dst, proto, l4)) {
        this.sgVerdicts[S * 4 + SgCounter.EgressDeny]++;
        if (this.events.active) emitFlow(this.events, pkt, VERDICT_REJECT, Stage.SgEgress, Code.SgRulesMismatch, S, -1, RULE_IMPLICIT, 0);
        this.reject(pkt, S, -1, pkt.l3Len);
        return DropReason.Sg;
      }
    }
    if (this.nacl.crossing(sSub, rSub, pkt.src, pkt.dst, proto, l4) !== DropReason.None) {
      if (this.events.active) this.emitNaclDeny(pkt, S, sSub, -1, rSub);
      this.reject(pkt, S, -1, pkt.l3Len);
      return DropReason.Nacl;
    }
    return DropReason.None;
  }

  /** The receiver's ingress rules; group references do not match what a middlebox forwarded. */
  private ingressAllows(R: number, addr: number, proto: number, l4: number): boolean {
    const set = this.policy.sgIngress[R];
    const m = this.viaMiddlebox ? set.matchL4NoGroupRefs(addr, proto, l4) : set.matchL4(addr, proto, l4);
    this.sgSlot = m;
    if (m === NO_MATCH) return false;
    this.sgHits.ingress[R][m]++;
    return true;
  }

  // ---- observers (observe/decision-events.ts; called only while events.active)

  /** A NAT gateway's own NACL leg refused a packet (pipeline/legs.ts): reported like a crossing's. */
  observeNaclDeny(pkt: Packet, sSub: number, rSub: number): void {
    this.emitNaclDeny(pkt, -1, sSub, -1, rSub);
  }

  /** The NACL side that refused the last nacl.crossing(). */
  private emitNaclDeny(pkt: Packet, S: number, sSub: number, R: number, rSub: number): void {
    const atReceiver = this.nacl.refusedAtReceiver === 1;
    emitNaclDeny(this.events, this.policy, pkt, atReceiver, atReceiver ? this.nacl.inSlot : this.nacl.outSlot, S, sSub, R, rSub);
  }

  private emitKnownDrop(pkt: Packet, ref: number, reason: number, S: number, sSub: number, R: number, rSub: number): void {
    const atReceiver = this.cacheAtReceiver[ref] === 1;
    emitKnownDrop(this.events, this.policy, pkt, reason, atReceiver, atReceiver ? this.cacheNaclIn[ref] : this.cacheNaclOut[ref], S, sSub, R, rSub);
  }

  // ---- flow logs: one record per ENI, direction and action (AWS: where it was dropped or would have arrived);
  // S's records are egress (with the leg's traffic path), R's ingress. log() records nothing without a flow log.

  private accept(pkt: Packet, S: number, R: number, len: number): void {
    if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
    if (R >= 0) this.log(R, pkt, ACCEPT, len, FlowDir.Ingress);
  }

  /** A new flow refused: the REJECT record and the drop (dropEni) go on the ENI that refused it (the sender: dropEni already). */
  private reject(pkt: Packet, atSrc: number, atDst: number, len: number): void {
    this.flowsRejected++;
    if (atDst >= 0) this.dropEni = atDst;
    this.deniedSources.add(pkt.src);
    if (atSrc >= 0) this.log(atSrc, pkt, REJECT, len, FlowDir.Egress);
    if (atDst >= 0) this.log(atDst, pkt, REJECT, len, FlowDir.Ingress);
  }

  /** A packet of a known flow refused (a NACL, or an untracked side's SG rule). */
  private rejectKnown(pkt: Packet, atReceiver: number, S: number, R: number, len: number): void {
    this.deniedSources.add(pkt.src);
    if (atReceiver === 1 && R >= 0) this.dropEni = R;
    if (atReceiver === 1) {
      // It left the sender's ENI and was refused on arrival.
      if (S >= 0) this.log(S, pkt, ACCEPT, len, FlowDir.Egress);
      if (R >= 0) this.log(R, pkt, REJECT, len, FlowDir.Ingress);
    } else if (S >= 0) {
      this.log(S, pkt, REJECT, len, FlowDir.Egress);
    }
  }

  private log(eni: number, pkt: Packet, action: number, len: number, dir: number): void {
    const t = this.flowLog;
    if (t === null) return;
    const ports = pkt.proto === PROTO_TCP || pkt.proto === PROTO_UDP;
    t.record(eni, pkt.src, pkt.dst, ports ? pkt.sport : 0, ports ? pkt.dport : 0, pkt.proto, action, len, this.wallMs,
      awsTcpFlags(pkt.tcpFlags()), dir, dir === FlowDir.Egress ? this.trafficPath : 0, pkt.src, pkt.dst);
  }
}

/** The zone-0 entry was made by exactly this crossing (or it is its reply): S and R are its two ENIs (-1 is NO_INSTANCE). */
function owns(ct: Conntrack, ref: number, S: number, R: number): boolean {
  const f = ref >>> 1;
  const e = ct.pool.egressInstance[f], i = ct.pool.ingressInstance[f];
  return (ref & 1) === 0 ? e === S && i === R : e === R && i === S;
}

/** ENI x tracks the flow of `ref` and sends this packet: it opened it (orig) or answers it (reply). */
function tracksAsSender(ct: Conntrack, ref: number, x: number): boolean {
  const f = ref >>> 1;
  const fl = ct.pool.flags[f];
  return (ref & 1) === 0
    ? ct.pool.egressInstance[f] === x && (fl & FlowFlag.TrackedEgress) !== 0
    : ct.pool.ingressInstance[f] === x && (fl & FlowFlag.TrackedIngress) !== 0;
}

/** ENI x tracks the flow of `ref` and receives this packet: it accepted it (orig) or gets the answer (reply). */
function tracksAsReceiver(ct: Conntrack, ref: number, x: number): boolean {
  const f = ref >>> 1;
  const fl = ct.pool.flags[f];
  return (ref & 1) === 0
    ? ct.pool.ingressInstance[f] === x && (fl & FlowFlag.TrackedIngress) !== 0
    : ct.pool.egressInstance[f] === x && (fl & FlowFlag.TrackedEgress) !== 0;
}
