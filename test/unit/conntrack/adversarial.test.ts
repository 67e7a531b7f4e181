/**
 * The conntrack key table against chosen keys: keys aimed at one home slot
 * under a known seed pile up only under that seed (a per-process seed keeps
 * probe runs short), a full table still refuses and ends every probe, and
 * distinct flows many times the limit over time leave no residue.
 */
import { describe, expect, it } from 'vitest';
import { FlowKeyTable, InsertResult, NO_FLOW } from '../../../src/conntrack/flow-table.js';
import { Conntrack, FULL, FlowTuple, initialTimeoutClass } from '../../../src/conntrack/conntrack.js';
import { hash4 } from '../../../src/lib/hash.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const SEED = 0xc0ffee;
const SERVER = ipToU32('203.0.113.7');
const PORTS = (40_000 << 16) | 443;
const ZP = 6; // zone 0, TCP

/** Sources whose key (src, SERVER, 40000 -> 443, TCP) has home `slot` in `capacity` slots under `seed`. */
function sameHome(n: number, capacity: number, seed: number, slot: number): number[] {
  const out: number[] = [];
  for (let src = ipToU32('198.51.100.0'); out.length < n; src++) if ((hash4(src | 0, SERVER | 0, PORTS, ZP, seed) & (capacity - 1)) === slot) out.push(src);
  return out;
}

describe('FlowKeyTable against chosen keys', () => {
  it('keys aimed at one slot pile into one run under the known seed, and spread under another', () => {
    const keys = sameHome(200, 1024, SEED, 100);
    const known = new FlowKeyTable(1024, SEED);
    const other = new FlowKeyTable(1024, SEED ^ 0x13579b);
    keys.forEach((src, i) => {
      expect(known.insert(src, SERVER, 40_000, 443, 6, 0, i)).toBe(InsertResult.Inserted);
      expect(other.insert(src, SERVER, 40_000, 443, 6, 0, i)).toBe(InsertResult.Inserted);
    });
    expect(known.maxProbe()).toBe(199);
    console.log(`flow table: 200 same-home keys, longest probe under the known seed ${known.maxProbe()}, under another seed ${other.maxProbe()}`);
    expect(other.maxProbe()).toBeLessThan(16);
  });

  it('a table full of same-home keys refuses the next key and every lookup ends', () => {
    const t = new FlowKeyTable(64, SEED);
    const keys = sameHome(80, 64, SEED, 5);
    let inserted = 0;
    for (const src of keys) if (t.insert(src, SERVER, 40_000, 443, 6, 0, inserted) === InsertResult.Inserted) inserted++;
    expect(inserted).toBe(t.maxKeys);
    expect(t.size).toBe(63);
    expect(t.lookup(ipToU32('192.0.2.1'), SERVER, 1, 2, 6, 0)).toBe(NO_FLOW);
    for (const src of keys.slice(0, 63)) expect(t.lookup(src, SERVER, 40_000, 443, 6, 0)).toBeGreaterThanOrEqual(0);
    for (const src of keys.slice(0, 63)) expect(t.remove(src, SERVER, 40_000, 443, 6, 0)).toBeGreaterThanOrEqual(0);
    expect(t.size).toBe(0);
    expect(t.maxProbe()).toBe(0);
  });
});

describe('Conntrack far beyond its limit over time', () => {
  it('20x max distinct flows through expiry: FULL at the limit, nothing left behind, short runs', () => {
    const max = 1000;
    const timeouts = { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
    const c = new Conntrack({ max, timeouts }, SEED);
    const o = new FlowTuple(), r = new FlowTuple();
    let now = 1_000;
    let n = 0, full = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < max + 50; i++, n++) {
        o.set(ipToU32('198.51.100.0') + (n >>> 8), SERVER, 1024 + (n & 0xff), 443, 17, 0);
        r.reverseOf(o);
        const f = c.create(o, r, initialTimeoutClass(17), now);
        if (f === FULL) full++;
        else expect(f).toBeGreaterThanOrEqual(0);
      }
      expect(c.entries).toBe(max);
      expect(c.table.maxProbe()).toBeLessThan(64);
      now += timeouts.udp * 1000;
      c.sweep(now, 10 * max, null);
      expect(c.entries).toBe(0);
      expect(c.table.size).toBe(0);
    }
    expect(full).toBe(20 * 50);
    expect(n).toBe(20 * (max + 50));
  });
});
