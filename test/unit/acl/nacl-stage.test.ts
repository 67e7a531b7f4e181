/**
 * The NACL stage on its own: which side judges a crossing (never within a
 * subnet, either side may be a gateway's with no NACL), the slots it reports,
 * which side refused, and the hit counters (per rule slot, `*` in the last
 * slot), for fresh and cached decisions and across a policy swap.
 */
import { describe, expect, it } from 'vitest';
import { NaclStage, NO_NACL } from '../../../src/acl/nacl-stage.js';
import { compileSnapshot } from '../../../src/control/compile.js';
import { parseConfig } from '../../../src/control/config.js';
import { DropReason } from '../../../src/pipeline/batch.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24, networkAcl: na }
  sb: { cidr: 198.18.2.0/24, networkAcl: nb }
networkAcls:
  na:
    outbound:
      - { rule: 10, action: deny, protocol: tcp, ports: 23, cidr: 0.0.0.0/0 }
      - { rule: 20, action: allow, protocol: tcp, ports: 1-1000, cidr: 198.18.2.0/24 }
      - { rule: 30, action: allow, protocol: udp, ports: 53, cidr: 0.0.0.0/0 }
      - { rule: 40, action: allow, protocol: icmp, cidr: 198.18.0.0/16 }
    inbound:
      - { rule: 10, action: allow, protocol: all, cidr: 198.18.2.0/24 }
  nb:
    inbound:
      - { rule: 5, action: deny, protocol: tcp, ports: 81, cidr: 198.18.1.0/24 }
      - { rule: 10, action: allow, protocol: tcp, ports: 80-81, cidr: 198.18.1.0/24 }
      - { rule: 20, action: allow, protocol: udp, ports: 53, cidr: 0.0.0.0/0 }
    outbound:
      - { rule: 10, action: allow, protocol: all, cidr: 0.0.0.0/0 }
instances:
  a: { subnet: sa, ip: 198.18.1.10 }
  b: { subnet: sb, ip: 198.18.2.10 }
`;
const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0) | 0;
const A = ip('198.18.1.10'), B = ip('198.18.2.10'), NET = ip('203.0.113.9');

function setup() {
  const p = compileSnapshot(parseConfig(YAML, 't.yaml'), 1);
  const sa = p.topology.subnetNames.indexOf('sa'), sb = p.topology.subnetNames.indexOf('sb');
  const stage = new NaclStage(p);
  const total = (): number => [...stage.hits.inbound, ...stage.hits.outbound].reduce((n, h) => n + h.reduce((x, y) => x + y, 0), 0);
  const outHits = (subnet: number) => stage.hits.outbound[p.subnetNacl[subnet]]!;
  const inHits = (subnet: number) => stage.hits.inbound[p.subnetNacl[subnet]]!;
  return { p, sa, sb, stage, total, outHits, inHits };
}

describe('NaclStage', () => {
  it('does not judge or count a crossing within one subnet', () => {
    const { sa, stage, total } = setup();
    expect(stage.crossing(sa, sa, A, A, 6, 23)).toBe(DropReason.None);
    expect(stage.outSlot).toBe(NO_NACL);
    expect(stage.inSlot).toBe(NO_NACL);
    expect(total()).toBe(0);
  });

  it('allows by rule on both sides and counts one hit per side, in the deciding slots', () => {
    const { p, sa, sb, stage, total, outHits, inHits } = setup();
    expect(stage.crossing(sa, sb, A, B, 6, 80)).toBe(DropReason.None);
    expect(stage.outSlot).toBeGreaterThanOrEqual(0);
    expect(stage.inSlot).toBeGreaterThanOrEqual(0);
    expect(p.naclOutbound(sa).allow[stage.outSlot]).toBe(1);
    expect(p.naclInbound(sb).allow[stage.inSlot]).toBe(1);
    expect(outHits(sa)[stage.outSlot]).toBe(1);
    expect(inHits(sb)[stage.inSlot]).toBe(1);
    expect(total()).toBe(2);
    expect(stage.refusedAtReceiver).toBe(0);
  });

  it('a deny by rule at the sender stops there: the receiver side is neither judged nor counted', () => {
    const { p, sa, sb, stage, total, outHits } = setup();
    expect(stage.crossing(sa, sb, A, B, 6, 23)).toBe(DropReason.Nacl);
    expect(p.naclOutbound(sa).allow[stage.outSlot]).toBe(0);
    expect(stage.inSlot).toBe(NO_NACL);
    expect(stage.refusedAtReceiver).toBe(0);
    expect(outHits(sa)[stage.outSlot]).toBe(1);
    expect(total()).toBe(1);
  });

  it('no matching rule is the * deny, counted in the last slot', () => {
    const { sa, sb, stage, total, outHits } = setup();
    expect(stage.crossing(sa, sb, A, B, 6, 5000)).toBe(DropReason.Nacl);
    expect(stage.outSlot).toBe(-1);
    const h = outHits(sa);
    expect(h[h.length - 1]).toBe(1);
    expect(total()).toBe(1);
  });

  it('a deny at the receiver (by rule and by *) says so', () => {
    const { p, sa, sb, stage, inHits } = setup();
    expect(stage.crossing(sa, sb, A, B, 6, 81)).toBe(DropReason.Nacl);
    expect(stage.refusedAtReceiver).toBe(1);
    expect(p.naclInbound(sb).allow[stage.inSlot]).toBe(0);
    expect(inHits(sb)[stage.inSlot]).toBe(1);
    expect(stage.crossing(sa, sb, A, B, 1, 0x0800)).toBe(DropReason.Nacl);
    expect(stage.refusedAtReceiver).toBe(1);
    expect(stage.inSlot).toBe(-1);
    const h = inHits(sb);
    expect(h[h.length - 1]).toBe(1);
    // the next crossing starts afresh
    expect(stage.crossing(sa, sb, A, B, 6, 80)).toBe(DropReason.None);
    expect(stage.refusedAtReceiver).toBe(0);
  });

  it('judges the receiver side whatever its subnet index (the first subnet too)', () => {
    const { sa, sb, stage, inHits } = setup();
    expect(sa).toBe(0);
    expect(stage.crossing(sb, sa, B, A, 6, 80)).toBe(DropReason.None);
    expect(stage.inSlot).toBeGreaterThanOrEqual(0);
    expect(inHits(sa)[stage.inSlot]).toBe(1);
  });

  it('a gateway side (-1) has no NACL: only the subnet side judges', () => {
    const { sa, sb, stage, total } = setup();
    // from the internet into sb: nb inbound only (udp 53 allowed from anywhere)
    expect(stage.crossing(-1, sb, NET, B, 17, 53)).toBe(DropReason.None);
    expect(stage.outSlot).toBe(NO_NACL);
    expect(stage.inSlot).toBeGreaterThanOrEqual(0);
    expect(total()).toBe(1);
    // from sa to the internet: na outbound only
    expect(stage.crossing(sa, -1, A, NET, 17, 53)).toBe(DropReason.None);
    expect(stage.inSlot).toBe(NO_NACL);
    expect(total()).toBe(2);
    expect(stage.crossing(sa, -1, A, NET, 6, 80)).toBe(DropReason.Nacl);
    expect(stage.outSlot).toBe(-1);
  });

  it('counts a cached decision as if judged afresh; a side without a NACL counts nothing', () => {
    const { sa, sb, stage, total, outHits, inHits } = setup();
    stage.crossing(sa, sb, A, B, 6, 80);
    const o = stage.outSlot, i = stage.inSlot;
    stage.countCached(sa, sb, o, i);
    expect(outHits(sa)[o]).toBe(2);
    expect(inHits(sb)[i]).toBe(2);
    stage.countCached(sa, sb, -1, NO_NACL);
    const h = outHits(sa);
    expect(h[h.length - 1]).toBe(1);
    expect(total()).toBe(5);
    stage.countCached(sa, sb, NO_NACL, NO_NACL);
    expect(total()).toBe(5);
    // NO_NACL is no slot: not `*` (-1) and no rule's index
    expect(NO_NACL).toBeLessThan(-1);
  });

  it('a policy swap hands back the old counters and starts from zero', () => {
    const { p, sa, sb, stage, total } = setup();
    stage.crossing(sa, sb, A, B, 6, 80);
    const old = stage.hits;
    const p2 = compileSnapshot(parseConfig(YAML, 't.yaml'), 2);
    expect(stage.setPolicy(p2)).toBe(old);
    expect(stage.policy).toBe(p2);
    expect(total()).toBe(0);
    expect(stage.hits.outbound.map((h) => h.length)).toEqual(p2.nacls.map((n) => n.outbound.count + 1));
    expect(stage.hits.inbound.map((h) => h.length)).toEqual(p2.nacls.map((n) => n.inbound.count + 1));
    void p;
  });
});
