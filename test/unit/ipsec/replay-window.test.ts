/**
 * Anti-replay window (RFC 4303 §3.4.3, RFC 6479 block ring): the cases the
 * RFC names, then a seeded property test against a plain reference model
 * (a Set of seen numbers and the highest one).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, ReplayWindow } from '../../../src/ipsec/replay-window.js';

describe('ReplayWindow', () => {
  it('accepts in-order numbers once each', () => {
    const w = new ReplayWindow();
    for (let s = 1; s <= 5000; s++) {
      expect(w.check(s)).toBe(true);
      expect(w.update(s)).toBe(true);
      expect(w.check(s)).toBe(false);
    }
    expect(w.top).toBe(5000);
  });

  it('refuses sequence number 0 (RFC 4303 §3.3.3: the first packet carries 1)', () => {
    const w = new ReplayWindow();
    expect(w.check(0)).toBe(false);
    expect(w.update(0)).toBe(false);
    expect(w.accept(0)).toBe(false);
    w.accept(10);
    expect(w.check(0)).toBe(false);
  });

  it('accepts out-of-order numbers inside the window, once', () => {
    const w = new ReplayWindow(1024);
    expect(w.accept(2000)).toBe(true);
    expect(w.accept(1990)).toBe(true);
    expect(w.accept(1999)).toBe(true);
    expect(w.accept(1990)).toBe(false); // duplicate
    expect(w.accept(977)).toBe(true); // top - 977 = 1023 < 1024: the window's left edge
    expect(w.check(976)).toBe(false); // 1024 behind: too old
    expect(w.top).toBe(2000);
  });

  it('refuses duplicates, including the current top', () => {
    const w = new ReplayWindow();
    expect(w.accept(7)).toBe(true);
    expect(w.accept(7)).toBe(false);
    expect(w.accept(3)).toBe(true);
    expect(w.accept(3)).toBe(false);
  });

  it('refuses numbers left of the window', () => {
    const w = new ReplayWindow(64);
    w.accept(100);
    expect(w.check(37)).toBe(true); // 63 behind
    expect(w.check(36)).toBe(false); // 64 behind
    expect(w.update(36)).toBe(false);
    expect(w.check(1)).toBe(false);
  });

  it('clears the whole ring when the window jumps by more than its size', () => {
    const w = new ReplayWindow(1024);
    for (let s = 1; s <= 1024; s++) w.accept(s);
    expect(w.accept(1024 + 5000)).toBe(true);
    // everything inside the new window but below the new top is unseen (no stale bits)
    for (let s = 1024 + 5000 - 1023; s < 1024 + 5000; s++) expect(w.check(s)).toBe(true);
    expect(w.check(1024)).toBe(false); // far left now
  });

  it('a jump of exactly one ring wraps without stale bits', () => {
    const w = new ReplayWindow(32); // 2 blocks of 32
    for (let s = 1; s <= 40; s++) w.accept(s);
    expect(w.accept(40 + 64)).toBe(true); // same ring index as 40
    for (let s = 40 + 64 - 31; s < 40 + 64; s++) expect(w.check(s)).toBe(true);
  });

  it('handles the top of the 32-bit space', () => {
    const w = new ReplayWindow();
    expect(w.accept(0xffffffff)).toBe(true);
    expect(w.accept(0xffffffff)).toBe(false);
    expect(w.accept(0xfffffffe)).toBe(true);
    expect(w.top).toBe(0xffffffff);
    expect(w.check(0xffffffff - 1024)).toBe(false);
    expect(w.check(0xffffffff - 1023)).toBe(true);
  });

  it('treats its argument as u32 (signed int32 input from `| 0` reads)', () => {
    const w = new ReplayWindow();
    expect(w.accept(0x80000001 | 0)).toBe(true);
    expect(w.check(0x80000001)).toBe(false);
    expect(w.top).toBe(0x80000001);
  });

  it('sizes: default 1024, clamped to [1, MAX], reset forgets', () => {
    expect(new ReplayWindow().size).toBe(DEFAULT_REPLAY_WINDOW);
    expect(new ReplayWindow(0).size).toBe(DEFAULT_REPLAY_WINDOW);
    expect(new ReplayWindow(1 << 30).size).toBe(MAX_REPLAY_WINDOW);
    const w = new ReplayWindow(1);
    w.accept(5);
    expect(w.check(4)).toBe(false); // window of one: only numbers above the top
    expect(w.accept(6)).toBe(true);
    w.reset();
    expect(w.top).toBe(0);
    expect(w.accept(5)).toBe(true);
  });

  it('agrees with a reference model (seeded property)', () => {
    const sizes = [1, 31, 32, 33, 64, 100, 1024, 4096];
    fc.assert(
      fc.property(
        fc.constantFrom(...sizes),
        fc.array(fc.oneof(
          fc.integer({ min: -40, max: 40 }), // near the top
          fc.integer({ min: -5000, max: 5000 }), // around the window edge
          fc.constant(0),
        ), { minLength: 1, maxLength: 400 }),
        fc.array(fc.boolean(), { minLength: 400, maxLength: 400 }),
        (size, deltas, authentic) => {
          const w = new ReplayWindow(size);
          const seen = new Set<number>();
          let top = 0;
          let base = 3000;
          deltas.forEach((d, i) => {
            const seq = d === 0 && i % 7 === 0 ? 0 : Math.max(0, base + d);
            const ok = seq !== 0 && (seq > top || top - seq < size) && !seen.has(seq);
            expect(w.check(seq)).toBe(ok);
            if (ok && authentic[i]) {
              // only packets whose ICV verified move the window
              expect(w.update(seq)).toBe(true);
              seen.add(seq);
              if (seq > top) top = seq;
            }
            base += d > 0 ? d : 1;
          });
          expect(w.top).toBe(top);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ReplayWindow against a model (sets of seen numbers)', () => {
  it('check, update and accept agree with the model for every window size, with jumps of any length', () => {
    for (const size of [1, 31, 32, 33, 64, 100, 1024, 4096]) {
      const seedBase = 0x5eed + size;
      fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.oneof(
        fc.integer({ min: -2 * size - 40, max: 2 * size + 40 }),
        fc.integer({ min: -70_000, max: 70_000 }),
      )), { maxLength: 300 }), (ops) => {
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let top = 0;
        const fresh = (s: number): boolean => s !== 0 && (s > top || (top - s < size && !seen.has(s)));
        for (const [op, delta] of ops) {
          const s = Math.max(0, Math.min(0xffffffff, top + delta));
          const want = fresh(s);
          if (op === 0) {
            expect(w.check(s), `check ${s} top ${top} size ${size}`).toBe(want);
            continue;
          }
          expect(op === 1 ? w.update(s) : w.accept(s), `${op === 1 ? 'update' : 'accept'} ${s} top ${top} size ${size}`).toBe(want);
          if (want) {
            seen.add(s);
            if (s > top) top = s;
          }
          expect(w.top).toBe(top);
        }
      }), { seed: seedBase, numRuns: 60 });
    }
  });

  it('sizes: clamped to MAX_REPLAY_WINDOW, the default for nonsense, fractional sizes rounded down', () => {
    expect(new ReplayWindow(MAX_REPLAY_WINDOW).size).toBe(MAX_REPLAY_WINDOW);
    expect(new ReplayWindow(MAX_REPLAY_WINDOW + 1).size).toBe(MAX_REPLAY_WINDOW);
    expect(new ReplayWindow(0).size).toBe(DEFAULT_REPLAY_WINDOW);
    expect(new ReplayWindow(Number.NaN).size).toBe(DEFAULT_REPLAY_WINDOW);
    expect(new ReplayWindow(64.9).size).toBe(64);
  });
});

describe('ReplayWindow ring edges', () => {
  const SIZES = [1, 32, 33, 64, 100, 1000, 1024, 4096];

  it('the leftmost number of the window stays seen after the top jumps to it from any bit position', () => {
    for (const size of SIZES) {
      for (let u = 0; u < 32; u++) {
        const w = new ReplayWindow(size);
        const s0 = 32 * 100 + u;
        expect(w.accept(s0)).toBe(true);
        expect(w.accept(s0 + size - 1) || size === 1).toBe(true);
        expect(w.check(s0), `size ${size} bit ${u}`).toBe(false);
        expect(w.update(s0), `size ${size} bit ${u}`).toBe(false);
        expect(w.check(s0 - 1)).toBe(false); // left of the window
      }
    }
  });

  it('in-order traffic through several ring turns: everything in the window is seen, everything above is new', () => {
    for (const size of SIZES) {
      const w = new ReplayWindow(size);
      const last = 3 * size + 100;
      for (let s = 1; s <= last; s++) expect(w.accept(s)).toBe(true);
      for (let s = last - size + 1; s <= last; s++) expect(w.check(s), `size ${size} seq ${s}`).toBe(false);
      for (let s = last + 1; s <= last + 70; s++) expect(w.check(s)).toBe(true);
    }
  });

  it('after a long jump nothing of the old window is left: every number of the new window is new once', () => {
    for (const size of SIZES) {
      const w = new ReplayWindow(size);
      for (let s = 1; s <= 2 * size; s++) w.accept(s);
      for (const jump of [size * 10 + 7, 70_000, 32 * 64 * 3 + 5]) {
        const top = w.top + jump;
        expect(w.accept(top)).toBe(true);
        for (let s = top - size + 1; s < top; s++) expect(w.check(s), `size ${size} jump ${jump} seq ${s}`).toBe(true);
        for (let s = top - size + 1; s < top; s++) expect(w.accept(s)).toBe(true);
        for (let s = top - size + 1; s <= top; s++) expect(w.check(s)).toBe(false);
      }
    }
  });
});

describe('ReplayWindow save and load (state kept across a restart)', () => {
  it('a loaded window refuses what the saved one had seen and accepts what it had not; the saved words do not follow later packets', () => {
    const a = new ReplayWindow(128);
    for (const s of [1, 2, 5, 100]) expect(a.accept(s)).toBe(true);
    const words = a.save();
    expect(a.accept(3)).toBe(true); // after the save: not part of it
    const b = new ReplayWindow(128);
    expect(b.load(words)).toBe(true);
    expect(b.top).toBe(100);
    for (const s of [1, 2, 5, 100]) expect(b.check(s)).toBe(false);
    expect(b.accept(3)).toBe(true);
    expect(b.accept(4)).toBe(true);
  });

  it('refuses words of another window shape and keeps its own state', () => {
    const a = new ReplayWindow(4096);
    a.accept(7);
    const b = new ReplayWindow(128);
    b.accept(9);
    expect(b.load(a.save())).toBe(false);
    expect(b.top).toBe(9);
    expect(b.check(9)).toBe(false);
    expect(b.check(7)).toBe(true);
  });
});
