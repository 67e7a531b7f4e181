/** ipv4Check (the packet path's one-call check) agrees with Ipv4View.check() + verifyChecksum() on random bytes. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ipv4Error, Ipv4View, ipv4Check } from '../../../src/wire/ipv4.js';
import { ipv4Packet } from '../../helpers/frames.js';

const SEED = Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31);

describe('ipv4Check', () => {
  it(`agrees with the view on valid, mutated and random headers (seed ${SEED})`, () => {
    const view = new Ipv4View();
    let valid = 0;
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.record({ ihl: fc.integer({ min: 0, max: 40 }), len: fc.integer({ min: 0, max: 60 }), flip: fc.integer({ min: -80, max: 79 }), cut: fc.integer({ min: -10, max: 10 }) })
          .map(({ ihl, len, flip, cut }) => {
            const p = Buffer.from(ipv4Packet({ src: '198.18.1.1', dst: '198.18.2.2', proto: 17, options: Buffer.alloc(ihl & ~3), payload: Buffer.alloc(len) }));
            if (flip >= 0 && flip < p.length) p[flip] ^= 0x10;
            return new Uint8Array(p.subarray(0, Math.max(0, p.length - Math.max(0, cut))));
          }),
      ),
      fc.integer({ min: 0, max: 3 }),
      (bytes, pad) => {
        const buf = new Uint8Array(bytes.length + pad + 2);
        buf.set(bytes, 2);
        const end = 2 + bytes.length;
        view.at(buf, 2, end);
        const ok = view.check() === Ipv4Error.None && view.verifyChecksum();
        const h = ipv4Check(buf, 2, end);
        if (ok) valid++;
        expect(h).toBe(ok ? view.headerLen : -1);
      },
    ), { seed: SEED, numRuns: 3000 });
    console.log(`ipv4Check: 3000 cases, ${valid} valid headers (seed ${SEED})`);
    expect(valid).toBeGreaterThan(100);
  });
});
