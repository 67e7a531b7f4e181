/**
 * Rekeying under a fake clock: lifetime-driven CHILD_SA and IKE_SA rekeys from
 * both ends over simulated hours, forced rekeys by either side, and the
 * collisions of RFC 7296 §2.8.1 / §2.25 (simultaneous rekeys, a CHILD_SA rekey
 * crossing an IKE_SA rekey).
 */
import { describe, expect, it } from 'vitest';
import { IkeInitiator, IkeResponder } from '../../../src/ike/session.js';
import { errorTotal, mirrored, onlyChild, Pair, pskConfigs } from './harness.js';

function pair(...args: Parameters<typeof pskConfigs>): Pair {
  const [a, b] = pskConfigs(...args);
  return new Pair(new IkeInitiator(a), new IkeResponder(b));
}

/** Advances until both sides hold exactly one CHILD_SA and one IKE SA (bounded), then checks they mirror. */
function settle(p: Pair, maxMs = 120_000): void {
  const end = p.now + maxMs;
  while (p.now < end) {
    if (p.installed.a.size === 1 && p.installed.b.size === 1 && p.a.ikeSaCount === 1 && p.b.ikeSaCount === 1) break;
    p.advance(500);
  }
  onlyChild(p);
  expect(p.a.ikeSaCount).toBe(1);
  expect(p.b.ikeSaCount).toBe(1);
  expect(p.a.ikeSaInfo?.spiI).toBe(p.b.ikeSaInfo?.spiI);
  expect(p.a.ikeSaInfo?.spiR).toBe(p.b.ikeSaInfo?.spiR);
}

describe('rekeying (fake clock)', () => {
  it('lifetimes drive CHILD_SA and IKE_SA rekeys from both ends for 3 simulated hours without a gap', () => {
    const p = pair(
      { childLifetimeSec: 120, ikeLifetimeSec: 900, rekeyMarginSec: 30 },
      { childLifetimeSec: 130, ikeLifetimeSec: 910, rekeyMarginSec: 30 }, // fuzz windows overlap: either end goes first
    );
    p.start();
    onlyChild(p);
    const end = p.now + 3 * 3600_000;
    let maxChildren = 0;
    let maxIke = 0;
    while (p.now < end) {
      p.advance(1000);
      // make-before-break: at no second is a side without an installed CHILD_SA
      expect(p.installed.a.size).toBeGreaterThanOrEqual(1);
      expect(p.installed.b.size).toBeGreaterThanOrEqual(1);
      maxChildren = Math.max(maxChildren, p.installed.a.size, p.installed.b.size);
      maxIke = Math.max(maxIke, p.a.ikeSaCount, p.b.ikeSaCount);
      // the newest SA of each side mirrors one of the other's (the data plane sends on the newest)
      const newestA = [...p.installed.a.values()].at(-1)!;
      expect([...p.installed.b.values()].some((sb) => mirrored(newestA, sb))).toBe(true);
    }
    settle(p);
    expect(maxChildren).toBeLessThanOrEqual(3);
    expect(maxIke).toBeLessThanOrEqual(3);
    expect(p.states.a.filter((s) => s.state === 'down')).toEqual([]);
    expect(p.states.b.filter((s) => s.state === 'down')).toEqual([]);
    const childRekeys = p.a.stats.childRekeys;
    const ikeRekeys = p.a.stats.ikeRekeys;
    expect(childRekeys).toBeGreaterThanOrEqual(3 * 3600 / 120);
    expect(ikeRekeys).toBeGreaterThanOrEqual(3 * 3600 / 1000);
    expect(p.b.stats.childRekeys).toBe(childRekeys);
    expect(p.b.stats.ikeRekeys).toBe(ikeRekeys);
    // both ends initiated some of them
    const initiatedBy = (who: 'a' | 'b', ev: string): number => p.actions.filter((x) => x.who === who && x.action.kind === 'log' && x.action.event === ev).length;
    expect(initiatedBy('a', 'child-rekey-start')).toBeGreaterThan(0);
    expect(initiatedBy('b', 'child-rekey-start')).toBeGreaterThan(0);
    expect(initiatedBy('a', 'ike-rekey-start')).toBeGreaterThan(0);
    expect(initiatedBy('b', 'ike-rekey-start')).toBeGreaterThan(0);
    expect(errorTotal(p.a) + errorTotal(p.b)).toBe(0);
  });

  it('rekeys happen inside the AWS window: lifetime - margin * (1 + fuzz)', () => {
    const p = pair({ childLifetimeSec: 3600, rekeyMarginSec: 270, rekeyFuzzPct: 100, dpdDelaySec: 0 }, { childLifetimeSec: 7200, ikeLifetimeSec: 28800, dpdDelaySec: 0 });
    p.start();
    const t0 = p.now;
    p.advance(3600_000);
    const starts = p.actions.filter((x) => x.who === 'a' && x.action.kind === 'log' && x.action.event === 'child-rekey-start').map((x) => (x.at - t0) / 1000);
    expect(starts.length).toBe(1);
    expect(starts[0]).toBeGreaterThanOrEqual(3600 - 540);
    expect(starts[0]).toBeLessThanOrEqual(3600 - 270);
  });

  it('either side can force a CHILD_SA rekey; the initiator of the rekey deletes the old SA', () => {
    const p = pair();
    p.start();
    const [a0] = onlyChild(p);
    p.take('b', p.b.rekeyChild(p.now));
    p.flush();
    const [a1] = onlyChild(p);
    expect(a1.spiIn).not.toBe(a0.spiIn);
    p.take('a', p.a.rekeyChild(p.now));
    p.flush();
    const [a2] = onlyChild(p);
    expect(a2.spiIn).not.toBe(a1.spiIn);
    expect(p.a.stats.childRekeys).toBe(2);
  });

  it('either side can force an IKE_SA rekey; CHILD_SAs move to the new IKE SA untouched', () => {
    const p = pair();
    p.start();
    const [a0] = onlyChild(p);
    const spi0 = p.a.ikeSaInfo?.spiI;
    p.take('a', p.a.rekeyIke(p.now));
    p.flush();
    expect(p.a.ikeSaInfo?.spiI).not.toBe(spi0);
    p.take('b', p.b.rekeyIke(p.now));
    p.flush();
    settle(p);
    expect(onlyChild(p)[0].spiIn).toBe(a0.spiIn);
    expect(p.b.ikeSaInfo?.initiator).toBe(true); // b initiated the last rekey: it is the new original initiator
    // and the next CHILD_SA rekey runs over the rekeyed IKE SA (message IDs restarted at 0)
    p.take('a', p.a.rekeyChild(p.now));
    p.flush();
    expect(onlyChild(p)[0].spiIn).not.toBe(a0.spiIn);
    expect(errorTotal(p.a) + errorTotal(p.b)).toBe(0);
  });

  it('simultaneous CHILD_SA rekeys (§2.8.1): the lowest-nonce exchange is redundant, one SA pair survives', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const p = pair({ random: seeded(seed) }, { random: seeded(seed + 100) });
      p.start();
      const [a0] = onlyChild(p);
      p.take('a', p.a.rekeyChild(p.now));
      p.take('b', p.b.rekeyChild(p.now));
      p.flush();
      settle(p, 60_000);
      const [a1] = onlyChild(p);
      expect(a1.spiIn).not.toBe(a0.spiIn);
      expect(p.states.a.filter((s) => s.state === 'down')).toEqual([]);
      expect(p.logs().join('\n')).toMatch(/simultaneous CHILD_SA rekey/);
    }
  });

  it('simultaneous IKE_SA rekeys (§2.8.1): one new IKE SA survives on both sides', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const p = pair({ random: seeded(seed) }, { random: seeded(seed + 100) });
      p.start();
      p.take('a', p.a.rekeyIke(p.now));
      p.take('b', p.b.rekeyIke(p.now));
      p.flush();
      settle(p, 60_000);
      expect(p.logs().join('\n')).toMatch(/simultaneous IKE SA rekey/);
      p.take('b', p.b.rekeyChild(p.now));
      p.flush();
      settle(p, 10_000);
      expect(p.states.a.filter((s) => s.state === 'down')).toEqual([]);
    }
  });

  it('a CHILD_SA rekey crossing an IKE_SA rekey: TEMPORARY_FAILURE, then both complete', () => {
    const p = pair();
    p.start();
    const [a0] = onlyChild(p);
    const ike0 = p.a.ikeSaInfo?.spiI;
    p.take('a', p.a.rekeyChild(p.now));
    p.take('b', p.b.rekeyIke(p.now));
    p.flush();
    p.advance(20_000);
    settle(p);
    expect(onlyChild(p)[0].spiIn).not.toBe(a0.spiIn);
    expect(p.a.ikeSaInfo?.spiI).not.toBe(ike0);
    expect(p.logs().join('\n')).toMatch(/TEMPORARY_FAILURE/);
  });
});

function seeded(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s = (s + 0x6d2b79f5) | 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      out[i] = (t ^ (t >>> 14)) & 0xff;
    }
    return out;
  };
}
