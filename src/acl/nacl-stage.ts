/**
 * The network-ACL stage on the packet path (aws-semantics §2): stateless,
 * judged for every packet that crosses a subnet boundary, in both
 * directions, afresh. A crossing from subnet s to subnet d is s's outbound
 * rules (matched on the destination) then d's inbound rules (matched on the
 * source); never within a subnet. Either side may be -1 (a gateway's or the
 * outside's side has no NACL of its own here). Counts every rule hit for
 * vpcd_nacl_rule_hits_total. Allocation-free.
 */
import type { CompiledPolicy } from '../control/compile.js';
import { DropReason } from '../pipeline/batch.js';

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

/** Slot meaning "no NACL on this side of the crossing" (same subnet, or a gateway side). */
export const NO_NACL = -2;

export class NaclStage {
  policy: CompiledPolicy;
  hits: NaclHits;
  /** The slots that decided the last crossing() (NO_NACL where a side had none; -1 = `*`). */
  outSlot = NO_NACL;
  inSlot = NO_NACL;
  /** Which side refused the last crossing(): 0 the sender's subnet (outbound), 1 the receiver's (inbound). */
  refusedAtReceiver = 0;

  constructor(policy: CompiledPolicy) {
    this.policy = policy;
    this.hits = new NaclHits(policy);
  }

  /** Swaps in a new snapshot; returns the old hit counters for the control plane to fold. */
  setPolicy(p: CompiledPolicy): NaclHits {
    const old = this.hits;
    this.policy = p;
    this.hits = new NaclHits(p);
    return old;
  }

  /**
   * Judges a packet src -> dst crossing from srcSubnet to dstSubnet. `l4` is
   * what rules match on: the destination port (TCP/UDP), type << 8 | code
   * (ICMP), 0 otherwise. Returns DropReason.None or Nacl; sets outSlot/inSlot.
   */
  crossing(srcSubnet: number, dstSubnet: number, src: number, dst: number, proto: number, l4: number): number {
    this.outSlot = NO_NACL;
    this.inSlot = NO_NACL;
    this.refusedAtReceiver = 0;
    if (srcSubnet === dstSubnet) return DropReason.None;
    const p = this.policy;
    if (srcSubnet >= 0) {
      const s = this.outbound(srcSubnet, dst, proto, l4);
      this.outSlot = s;
      if (s < 0 || p.naclOutbound(srcSubnet).allow[s] === 0) return DropReason.Nacl;
    }
    if (dstSubnet >= 0) {
      const s = this.inbound(dstSubnet, src, proto, l4);
      this.inSlot = s;
      if (s < 0 || p.naclInbound(dstSubnet).allow[s] === 0) {
        this.refusedAtReceiver = 1;
        return DropReason.Nacl;
      }
    }
    return DropReason.None;
  }

  /** Counts the hits of a crossing decided earlier (a cached decision), as if judged afresh. */
  countCached(srcSubnet: number, dstSubnet: number, outSlot: number, inSlot: number): void {
    if (outSlot !== NO_NACL) this.hitOut(srcSubnet, outSlot);
    if (inSlot !== NO_NACL) this.hitIn(dstSubnet, inSlot);
  }

  private outbound(subnet: number, addr: number, proto: number, l4: number): number {
    const s = this.policy.naclOutbound(subnet).matchL4(addr, proto, l4);
    this.hitOut(subnet, s);
    return s;
  }

  private inbound(subnet: number, addr: number, proto: number, l4: number): number {
    const s = this.policy.naclInbound(subnet).matchL4(addr, proto, l4);
    this.hitIn(subnet, s);
    return s;
  }

  private hitOut(subnet: number, slot: number): void {
    const h = this.hits.outbound[this.policy.subnetNacl[subnet]];
    h[slot < 0 ? h.length - 1 : slot]++;
  }

  private hitIn(subnet: number, slot: number): void {
    const h = this.hits.inbound[this.policy.subnetNacl[subnet]];
    h[slot < 0 ? h.length - 1 : slot]++;
  }
}
