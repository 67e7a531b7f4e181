/**
 * Network ACLs, security groups and connection tracking on the packet path,
 * with AWS's semantics (docs/semantics.md; aws-semantics §1, §2, §4).
 *
 * Order of evaluation for a packet from ENI S (subnet s) to ENI D (subnet d):
 *   S's SG egress  ->  s's NACL outbound  ->  (route)  ->  d's NACL inbound  ->  D's SG ingress
 * NACLs only when s != d (a NACL filters traffic crossing the subnet
 * boundary, never within the subnet). Either end may be a gateway or the
 * outside (index -1): its SG / NACL stage does not exist.
 *
 * Security groups are stateful per ENI: a new flow needs S's egress AND D's
 * ingress to allow it; its reply passes an ENI that tracks the flow without
 * any rule. An ENI does not track a TCP/UDP flow admitted by an all-addresses
 * rule when the opposite direction of the same ENI allows all addresses on all
 * ports ([EC2-CT] untracked flows): every packet of such a flow, both ways,
 * is judged by that ENI's rules, so removing the rule cuts it at once, while
 * tracked flows survive rule removal. NACLs are stateless: judged for every
 * packet, in both directions, afresh.
 *
 * Speed: the full decision for each direction of a flow (including which NACL
 * rules decided, for the hit counters) is cached per policy epoch in typed
 * arrays indexed by flowRef. A reload bumps the epoch, so every flow's next
 * packet is judged again against the new rules (tracked sides pass by state).
 * Nothing here allocates per packet.
 */
import type { CompiledPolicy } from '../control/compile.js';
import { NO_MATCH } from '../acl/nacl-compile.js';
import { isUntrackedFlow, type CompiledSgSet } from '../conntrack/sg-compile.js';
import { Conntrack, FlowTuple, FULL, FlowFlag, NO_FLOW, initialTimeoutClass } from '../conntrack/conntrack.js';
import { DropReason } from './batch.js';
import type { Dataplane } from './dataplane.js';
import type { FlowLogTable } from './flowlog-table.js';
import { HeavyHitters } from '../lib/heavy-hitters.js';

const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;
/** Cached NACL slot meaning "no NACL on this leg" (same subnet, or a gateway side). */
const NO_NACL = -2;
const ACCEPT = 1, REJECT = 0;

/** Per-direction, per-instance security-group verdict counters (vpcd_sg_verdicts_total). */
export const SgCounter = { EgressAllow: 0, EgressDeny: 1, IngressAllow: 2, IngressDeny: 3 } as const;

/**
 * Cumulative NACL hit counters for one snapshot: per NACL, per direction, per
 * compiled slot, plus one last slot for the implicit `*` deny.
 */
export class NaclHits {
  readonly inbound: Float64Array[];
  readonly outbound: Float64Array[];
  constructor(p: CompiledPolicy) {
    this.inbound = p.nacls.map((n) => new Float64Array(n.inbound.count + 1));
    this.outbound = p.nacls.map((n) => new Float64Array(n.outbound.count + 1));
  }
}

export class SecurityStage {
  policy: CompiledPolicy;
  readonly ct: Conntrack;
  naclHits: NaclHits;
  /** Per instance index × SgCounter. Re-made on reload (the control plane folds old values). */
  sgVerdicts: Float64Array;
  flowsAccepted = 0;
  flowsRejected = 0;
  /** Sources of refused packets (new flows and packets of known flows), top-k. */
  readonly deniedSources = new HeavyHitters(64);
  /** Set when flow logs are configured. */
  flowLog: FlowLogTable | null = null;
  /** Unix ms of the current batch (flow-log timestamps). */
  wallMs = 0;

  // per flowRef decision cache
  private readonly cacheEpoch: Uint32Array;
  private readonly cacheReason: Uint8Array;
  private readonly cacheNaclOut: Int16Array;
  private readonly cacheNaclIn: Int16Array;
  /** For a cached refusal: 1 when the receiving side refused (inbound NACL or receiver SG), 0 the sending side. */
  private readonly cacheAtReceiver: Uint8Array;

  private readonly tuple = new FlowTuple();
  private readonly rtuple = new FlowTuple();

  // the packet being judged (set by judge())
  private l4 = 0;
  /** [EC2-CT] flows through a NAT gateway are always tracked on the instance's ENI. */
  private forceTrack = false;
  /**
   * The packet was forwarded by an appliance (its source is not the sending
   * ENI's address): security-group rules that reference a group do not match
   * it ([VPC-SGR] middlebox note; Reachability Analyzer SG_REFERENCES_NOT_PRESERVED).
   */
  viaMiddlebox = false;

  constructor(policy: CompiledPolicy, ct: Conntrack) {
    this.policy = policy;
    this.ct = ct;
    this.naclHits = new NaclHits(policy);
    this.sgVerdicts = new Float64Array(policy.instanceNames.length * 4);
    const refs = ct.max * 2;
    this.cacheEpoch = new Uint32Array(refs);
    this.cacheReason = new Uint8Array(refs);
    this.cacheNaclOut = new Int16Array(refs);
    this.cacheNaclIn = new Int16Array(refs);
    this.cacheAtReceiver = new Uint8Array(refs);
  }

  /** Swaps in a new snapshot (between batches). Returns the old counters for the control plane to fold. */
  setPolicy(p: CompiledPolicy): { naclHits: NaclHits; sgVerdicts: Float64Array } {
    const old = { naclHits: this.naclHits, sgVerdicts: this.sgVerdicts };
    this.policy = p;
    this.naclHits = new NaclHits(p);
    this.sgVerdicts = new Float64Array(p.instanceNames.length * 4);
    this.ct.setTimeouts(p.conntrack.timeouts);
    return old;
  }

  /**
   * Judges the packet the router parsed into `dp` (addresses, protocol, ports),
   * travelling from ENI srcInst in subnet srcSubnet to ENI dstInst in subnet
   * dstSubnet (-1: a gateway or the outside). Returns DropReason.None to pass.
   * `len` is the IP packet length, for counters and flow logs.
   */
  judge(dp: Dataplane, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number, len: number, tcpFlags: number, nowMs: number, forceTrack = false): number {
    this.forceTrack = forceTrack;
    const proto = dp.proto;
    // The L4 value rules match on: the destination port (TCP/UDP), type << 8 | code (ICMP).
    this.l4 = proto === PROTO_TCP || proto === PROTO_UDP ? dp.dport : proto === PROTO_ICMP ? dp.dport : 0;
    let ref: number;
    if (proto === PROTO_ICMP) {
      const t = dp.dport >>> 8;
      this.tuple.setIcmp(dp.src, dp.dst, t, dp.dport & 0xff, dp.sport, 0);
      ref = this.ct.lookupTuple(this.tuple);
    } else {
      ref = this.ct.lookup(dp.src, dp.dst, dp.sport, dp.dport, proto, 0);
    }
    if (ref === NO_FLOW) return this.newFlow(dp, srcInst, srcSubnet, dstInst, dstSubnet, len, tcpFlags, nowMs);
    return this.knownFlow(dp, ref, srcInst, srcSubnet, dstInst, dstSubnet, len, tcpFlags, nowMs);
  }

  private newFlow(dp: Dataplane, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number, len: number, tcpFlags: number, nowMs: number): number {
    const p = this.policy;
    const proto = dp.proto;
    const l4 = this.l4;
    const src = dp.src, dst = dp.dst;
    // 1. S's security group, egress
    if (srcInst >= 0) {
      if (p.sgEgress[srcInst].matchL4(dst, proto, l4) === NO_MATCH) {
        this.sgVerdicts[srcInst * 4 + SgCounter.EgressDeny]++;
        this.reject(dp, srcInst, -1, len);
        return DropReason.Sg;
      }
      this.sgVerdicts[srcInst * 4 + SgCounter.EgressAllow]++;
    }
    // 2./3. NACLs, only across a subnet boundary
    let outSlot = NO_NACL, inSlot = NO_NACL;
    if (srcSubnet !== dstSubnet) {
      if (srcSubnet >= 0) {
        outSlot = this.naclOut(srcSubnet, dst, proto, l4);
        if (outSlot < 0 || p.naclOutbound(srcSubnet).allow[outSlot] === 0) {
          this.reject(dp, srcInst, -1, len);
          return DropReason.Nacl;
        }
      }
      if (dstSubnet >= 0) {
        inSlot = this.naclIn(dstSubnet, src, proto, l4);
        if (inSlot < 0 || p.naclInbound(dstSubnet).allow[inSlot] === 0) {
          this.reject(dp, -1, dstInst, len);
          if (srcInst >= 0) this.log(srcInst, dp, ACCEPT, len);
          return DropReason.Nacl;
        }
      }
    }
    // 4. D's security group, ingress
    if (dstInst >= 0) {
      if (!this.ingressAllows(p.sgIngress[dstInst], src, proto, l4)) {
        this.sgVerdicts[dstInst * 4 + SgCounter.IngressDeny]++;
        this.reject(dp, -1, dstInst, len);
        if (srcInst >= 0) this.log(srcInst, dp, ACCEPT, len);
        return DropReason.Sg;
      }
      this.sgVerdicts[dstInst * 4 + SgCounter.IngressAllow]++;
    }
    // Tracking per ENI: [EC2-CT] untracked when admitted by an all-addresses rule
    // and the opposite direction of the same ENI allows all addresses, all ports.
    let tracked = 0;
    if (srcInst >= 0 && (this.forceTrack || !isUntrackedFlow(p.sgEgress[srcInst], p.sgIngress[srcInst], proto, l4))) tracked |= FlowFlag.TrackedEgress;
    if (dstInst >= 0 && !isUntrackedFlow(p.sgIngress[dstInst], p.sgEgress[dstInst], proto, l4)) tracked |= FlowFlag.TrackedIngress;
    const needsState = tracked !== 0;
    const ct = this.ct;
    if (!needsState && ct.entries >= ct.max) {
      // Untracked on every ENI: AWS keeps no state, so a full table does not stop it.
      this.accept(dp, srcInst, dstInst, len);
      return DropReason.None;
    }
    const orig = this.tuple;
    if (proto !== PROTO_ICMP) orig.set(src, dst, dp.sport, dp.dport, proto, 0);
    this.rtuple.reverseOf(orig);
    const f = ct.create(orig, this.rtuple, initialTimeoutClass(proto), nowMs, p.epoch, srcInst, dstInst, tracked);
    if (f < 0) {
      if (f === FULL && needsState) {
        this.flowsRejected++;
        return DropReason.ConntrackFull;
      }
      // A key collision (the reply key belongs to another flow): judge statelessly.
      this.accept(dp, srcInst, dstInst, len);
      return DropReason.None;
    }
    const ref = f * 2;
    this.cacheEpoch[ref] = p.epoch;
    this.cacheReason[ref] = DropReason.None;
    this.cacheNaclOut[ref] = outSlot;
    this.cacheNaclIn[ref] = inSlot;
    this.cacheEpoch[ref + 1] = 0;
    this.cacheAtReceiver[ref] = 0;
    ct.touch(ref, nowMs, len, tcpFlags);
    this.flowsAccepted++;
    this.accept(dp, srcInst, dstInst, len);
    return DropReason.None;
  }

  private knownFlow(dp: Dataplane, ref: number, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number, len: number, tcpFlags: number, nowMs: number): number {
    const p = this.policy;
    let reason: number;
    if (this.cacheEpoch[ref] === p.epoch) {
      // Cached decision: count the NACL rules that decide this packet, as if judged afresh.
      const o = this.cacheNaclOut[ref], i = this.cacheNaclIn[ref];
      if (o !== NO_NACL) this.hitOut(srcSubnet, o);
      if (i !== NO_NACL) this.hitIn(dstSubnet, i);
      reason = this.cacheReason[ref];
    } else {
      reason = this.judgeKnown(dp, ref, srcInst, srcSubnet, dstInst, dstSubnet);
    }
    if (reason !== DropReason.None) {
      this.rejectAt(dp, ref, srcInst, dstInst, len);
      return reason;
    }
    this.ct.touch(ref, nowMs, len, tcpFlags);
    this.accept(dp, srcInst, dstInst, len);
    return DropReason.None;
  }

  /** A packet of a known flow, judged afresh and cached for the current epoch. */
  private judgeKnown(dp: Dataplane, ref: number, srcInst: number, srcSubnet: number, dstInst: number, dstSubnet: number): number {
    const p = this.policy;
    const proto = dp.proto;
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
    if (srcInst >= 0 && !senderTracked && this.sgAllows(p.sgEgress[srcInst], dp.dst, proto, l4) === false) reason = DropReason.Sg;
    if (reason === DropReason.None && srcSubnet !== dstSubnet) {
      if (srcSubnet >= 0) {
        outSlot = this.naclOut(srcSubnet, dp.dst, proto, l4);
        if (outSlot < 0 || p.naclOutbound(srcSubnet).allow[outSlot] === 0) reason = DropReason.Nacl;
      }
      if (reason === DropReason.None && dstSubnet >= 0) {
        inSlot = this.naclIn(dstSubnet, dp.src, proto, l4);
        if (inSlot < 0 || p.naclInbound(dstSubnet).allow[inSlot] === 0) {
          reason = DropReason.Nacl;
          atReceiver = 1;
        }
      }
    }
    if (reason === DropReason.None && dstInst >= 0 && !receiverTracked && !this.ingressAllows(p.sgIngress[dstInst], dp.src, proto, l4)) {
      reason = DropReason.Sg;
      atReceiver = 1;
    }
    this.cacheAtReceiver[ref] = atReceiver;
    this.cacheEpoch[ref] = p.epoch;
    this.cacheReason[ref] = reason;
    // Only the NACL legs that were reached are counted again from the cache.
    this.cacheNaclOut[ref] = outSlot;
    this.cacheNaclIn[ref] = inSlot;
    return reason;
  }

  /**
   * NACLs only, for a leg between two gateways' subnets or a gateway and an
   * instance's subnet where no ENI of an instance is involved (a NAT gateway's
   * own leg). Returns DropReason.None or Nacl; counts rule hits.
   */
  naclLeg(srcSubnet: number, dstSubnet: number, src: number, dst: number, proto: number, dport: number): number {
    if (srcSubnet === dstSubnet) return DropReason.None;
    const p = this.policy;
    const l4 = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP ? dport : 0;
    if (srcSubnet >= 0) {
      const s = this.naclOut(srcSubnet, dst, proto, l4);
      if (s < 0 || p.naclOutbound(srcSubnet).allow[s] === 0) {
        this.deniedSources.add(src);
        return DropReason.Nacl;
      }
    }
    if (dstSubnet >= 0) {
      const s = this.naclIn(dstSubnet, src, proto, l4);
      if (s < 0 || p.naclInbound(dstSubnet).allow[s] === 0) {
        this.deniedSources.add(src);
        return DropReason.Nacl;
      }
    }
    return DropReason.None;
  }

  /** The receiver's ingress rules; group references do not match what a middlebox forwarded. */
  private ingressAllows(set: CompiledSgSet, addr: number, proto: number, l4: number): boolean {
    return (this.viaMiddlebox ? set.matchL4NoGroupRefs(addr, proto, l4) : set.matchL4(addr, proto, l4)) !== NO_MATCH;
  }

  private sgAllows(set: CompiledSgSet, addr: number, proto: number, l4: number): boolean {
    return set.matchL4(addr, proto, l4) !== NO_MATCH;
  }

  /** Matches the outbound NACL of a subnet; counts the hit. Returns the slot, or -1 for `*`. */
  private naclOut(subnet: number, addr: number, proto: number, l4: number): number {
    const n = this.policy.naclOutbound(subnet);
    const s = n.matchL4(addr, proto, l4);
    this.hitOut(subnet, s);
    return s;
  }

  private naclIn(subnet: number, addr: number, proto: number, l4: number): number {
    const n = this.policy.naclInbound(subnet);
    const s = n.matchL4(addr, proto, l4);
    this.hitIn(subnet, s);
    return s;
  }

  private hitOut(subnet: number, slot: number): void {
    const idx = this.policy.subnetNacl[subnet];
    const h = this.naclHits.outbound[idx];
    h[slot < 0 ? h.length - 1 : slot]++;
  }

  private hitIn(subnet: number, slot: number): void {
    const idx = this.policy.subnetNacl[subnet];
    const h = this.naclHits.inbound[idx];
    h[slot < 0 ? h.length - 1 : slot]++;
  }

  // ---- flow logs: one record per ENI, direction and action (AWS: where it was dropped or would have arrived)

  private accept(dp: Dataplane, srcInst: number, dstInst: number, len: number): void {
    if (this.flowLog === null) return;
    if (srcInst >= 0) this.log(srcInst, dp, ACCEPT, len);
    if (dstInst >= 0) this.log(dstInst, dp, ACCEPT, len);
  }

  /** A new flow refused; the REJECT record goes on the ENI that refused it. */
  private reject(dp: Dataplane, atSrc: number, atDst: number, len: number): void {
    this.flowsRejected++;
    this.deniedSources.add(dp.src);
    if (this.flowLog === null) return;
    if (atSrc >= 0) this.log(atSrc, dp, REJECT, len);
    if (atDst >= 0) this.log(atDst, dp, REJECT, len);
  }

  /** A packet of a known flow refused (a NACL, or an untracked flow's SG rule). */
  private rejectAt(dp: Dataplane, ref: number, srcInst: number, dstInst: number, len: number): void {
    this.deniedSources.add(dp.src);
    if (this.flowLog === null) return;
    if (this.cacheAtReceiver[ref] === 1) {
      // It left the sender's ENI and was refused on arrival.
      if (srcInst >= 0) this.log(srcInst, dp, ACCEPT, len);
      if (dstInst >= 0) this.log(dstInst, dp, REJECT, len);
    } else if (srcInst >= 0) {
      this.log(srcInst, dp, REJECT, len);
    }
  }

  private log(eni: number, dp: Dataplane, action: number, len: number): void {
    const t = this.flowLog;
    if (t === null) return;
    const ports = dp.proto === PROTO_TCP || dp.proto === PROTO_UDP;
    t.record(eni, dp.src, dp.dst, ports ? dp.sport : 0, ports ? dp.dport : 0, dp.proto, action, len, this.wallMs);
  }
}
