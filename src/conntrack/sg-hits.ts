/**
 * Security-group rule hit counters for one snapshot (vpcd_sg_rule_hits_total):
 * per instance, per direction, per compiled slot of the instance's allow-set
 * (control/compile.ts: sgIngress / sgEgress). A packet the security group
 * judges is counted on the first slot that allows it; each slot names its
 * group and its rule's place in the group's list (CompiledSgSet.originGroup,
 * originRule), which the control plane turns into labels at scrape time.
 * Refusals (the implicit deny) are in vpcd_sg_verdicts_total. The packet path
 * only increments these typed arrays.
 */
import type { CompiledPolicy } from '../control/compile.js';

export class SgHits {
  /** Per instance: hits per slot of its ingress allow-set. */
  readonly ingress: Float64Array[];
  /** Per instance: hits per slot of its egress allow-set. */
  readonly egress: Float64Array[];

  constructor(p: CompiledPolicy) {
    this.ingress = p.sgIngress.map((s) => new Float64Array(s.count));
    this.egress = p.sgEgress.map((s) => new Float64Array(s.count));
  }
}
