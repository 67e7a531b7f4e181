import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowLogTable, MAX_PROBES, defaultRecordsPerEni, MAX_FLOW_LOG_RECORDS } from '../../../src/pipeline/flowlog-table.js';
import { hash4, nextPow2 } from '../../../src/lib/hash.js';

const SEED = 0x5eed1234;
const SRC = 0xc6120a0a | 0; // 198.18.10.10
const DST = 0xc6120214 | 0; // 198.18.2.20

/** Home slot of a key in an ENI region, as record() computes it (fixed seed). */
function home(recordsPerEni: number, src: number, dst: number, sport: number, dport: number, proto: number, action: number): number {
  const slots = nextPow2(Math.max(16, recordsPerEni * 4));
  return hash4(src | 0, dst | 0, ((sport & 0xffff) << 16) | (dport & 0xffff), ((proto & 0xff) << 1) | (action & 1), SEED) & (slots - 1);
}

/** Port pairs (TCP, ACCEPT) whose keys all start at the same slot under SEED: a chosen-key attack that knows the seed. */
function collidingPorts(recordsPerEni: number, n: number): [number, number][] {
  const target = home(recordsPerEni, SRC, DST, 1024, 443, 6, 1);
  const out: [number, number][] = [[1024, 443]];
  for (let dport = 1; out.length < n && dport < 65536; dport++) {
    for (let sport = 1024; out.length < n && sport < 65536; sport++) {
      if ((sport !== 1024 || dport !== 443) && home(recordsPerEni, SRC, DST, sport, dport, 6, 1) === target) out.push([sport, dport]);
    }
  }
  return out;
}

/** The hash the table used before (fixed, unseeded, one shared table of 131072 slots). */
function oldSlot(eni: number, src: number, dst: number, sport: number, dport: number, proto: number, action: number): number {
  const ports = (sport << 16) | dport;
  let h = Math.imul(eni ^ src, 0x9e3779b1) ^ Math.imul(dst ^ ports, 0x85ebca6b) ^ ((proto << 8) | action);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) & 131071;
}

describe('FlowLogTable', () => {
  it('stops probing after MAX_PROBES slots: keys that share one home slot beyond that are skipped, not searched for', () => {
    const perEni = 4096;
    const t = new FlowLogTable({ enis: 2, recordsPerEni: perEni, seed: SEED });
    const ports = collidingPorts(perEni, MAX_PROBES + 8);
    expect(ports.length).toBe(MAX_PROBES + 8);
    for (const [sport, dport] of ports) t.record(0, SRC, DST, sport, dport, 6, 1, 60, 1000);
    // The first MAX_PROBES fill the run; each further one gave up after MAX_PROBES slots.
    expect(t.recordsOf(0)).toBe(MAX_PROBES);
    expect(t.skippedOf(0)).toBe(8);
    // A key already in the run is still found and counted (within the bound).
    t.record(0, SRC, DST, ports[MAX_PROBES - 1]![0], ports[MAX_PROBES - 1]![1], 6, 1, 40, 2000);
    expect(t.recordsOf(0)).toBe(MAX_PROBES);
    expect(t.packets[MAX_PROBES - 1]).toBe(2);
    expect(t.bytes[MAX_PROBES - 1]).toBe(100);
    // The same keys on another ENI are recorded in that ENI's own region.
    for (const [sport, dport] of ports.slice(0, 10)) t.record(1, SRC, DST, sport, dport, 6, 1, 60, 1000);
    expect(t.recordsOf(1)).toBe(10);
    expect(t.skippedOf(1)).toBe(0);
  });

  it('spreads keys chosen to collide under the old fixed hash (the seed is per table, unknown to a sender)', () => {
    // 300 source ports that all landed in one slot of the old table.
    const target = oldSlot(0, SRC, DST, 40000, 443, 6, 1);
    const ports: number[] = [];
    for (let sp = 1; sp < 65536 && ports.length < 300; sp++) {
      for (let dp = 1; dp < 65536 && ports.length < 300; dp++) {
        if (oldSlot(0, SRC, DST, sp, dp, 6, 1) === target) ports.push((sp << 16) | dp);
      }
    }
    expect(ports.length).toBe(300);
    for (const seed of [1, 0xdeadbeef, 0x12345]) {
      const t = new FlowLogTable({ enis: 1, recordsPerEni: 4096, seed });
      for (const p of ports) t.record(0, SRC, DST, p >>> 16, p & 0xffff, 6, 1, 60, 1000);
      expect(t.recordsOf(0)).toBe(300);
      expect(t.skippedOf(0)).toBe(0);
    }
  });

  it('one ENI flooding new flows uses its own quota; another ENI loses nothing (no SKIPDATA there)', () => {
    const t = new FlowLogTable({ enis: 3, recordsPerEni: 1000, seed: SEED });
    for (let i = 0; i < 20_000; i++) t.record(0, SRC + i, DST, 1024 + (i & 0x3fff), 80, 6, 0, 40, 1000 + i);
    for (let i = 0; i < 500; i++) t.record(2, SRC, DST + i, 5000, 443, 17, 1, 100, 1000 + i);
    expect(t.recordsOf(0)).toBe(1000);
    expect(t.skippedOf(0)).toBe(19_000);
    expect(t.recordsOf(1)).toBe(0);
    expect(t.skippedOf(1)).toBe(0);
    expect(t.recordsOf(2)).toBe(500);
    expect(t.skippedOf(2)).toBe(0);
    // Flows the flooded ENI already had keep being counted.
    t.record(0, SRC, DST, 1024, 80, 6, 0, 40, 99_999);
    expect(t.packets[0]).toBe(2);
  });

  it('counts an ENI number it has no region for instead of writing out of bounds', () => {
    const t = new FlowLogTable({ enis: 2, recordsPerEni: 16, seed: SEED });
    t.record(2, SRC, DST, 1, 2, 6, 1, 40, 1);
    t.record(-1, SRC, DST, 1, 2, 6, 1, 40, 1);
    expect(t.skippedUnknown).toBe(2);
    expect(t.size).toBe(0);
  });

  it('bounds the whole table and lowers the default quota for many ENIs', () => {
    expect(defaultRecordsPerEni(3)).toBe(4096);
    expect(defaultRecordsPerEni(1000) * 1000).toBeLessThanOrEqual(MAX_FLOW_LOG_RECORDS);
    expect(() => new FlowLogTable({ enis: 300, recordsPerEni: 4096 })).toThrow(/exceeds/);
  });

  it('agrees with a Map model (per ENI, key, packets, bytes, first/last time, skips) over random traffic and clears', () => {
    const seed = 0xf1f10;
    const numRuns = 150;
    let cases = 0;
    const keyArb = fc.record({
      eni: fc.integer({ min: 0, max: 3 }),
      src: fc.constantFrom(0, 1, SRC, -1, 0x7fffffff),
      dst: fc.constantFrom(0, DST, -2),
      sport: fc.constantFrom(0, 1, 0x8000, 0xffff),
      dport: fc.constantFrom(0, 53, 0xffff),
      proto: fc.constantFrom(1, 6, 17, 255),
      action: fc.constantFrom(0, 1),
      len: fc.integer({ min: 20, max: 65535 }),
    });
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 0xffffffff }), fc.array(keyArb, { maxLength: 300 }), (perEni, tseed, pkts) => {
      cases++;
      const t = new FlowLogTable({ enis: 4, recordsPerEni: perEni, seed: tseed });
      for (let round = 0; round < 2; round++) {
        const model = new Map<string, { packets: number; bytes: number; first: number; last: number }>();
        const perEniKeys = [0, 0, 0, 0];
        const skipped = [0, 0, 0, 0];
        pkts.forEach((p, i) => {
          const now = 1000 * round + i;
          t.record(p.eni, p.src, p.dst, p.sport, p.dport, p.proto, p.action, p.len, now);
          const k = `${p.eni}|${p.src >>> 0}|${p.dst >>> 0}|${p.sport}|${p.dport}|${p.proto}|${p.action}`;
          const m = model.get(k);
          if (m) {
            m.packets++;
            m.bytes += p.len;
            m.last = now;
          } else if (perEniKeys[p.eni]! < perEni) {
            perEniKeys[p.eni]!++;
            model.set(k, { packets: 1, bytes: p.len, first: now, last: now });
          } else skipped[p.eni]!++;
        });
        const seen = new Map<string, { packets: number; bytes: number; first: number; last: number }>();
        const skippedSeen = [0, 1, 2, 3].map((e) => t.skippedOf(e));
        t.drain((eni, src, dst, sport, dport, proto, accept, packets, bytes, first, last) => {
          seen.set(`${eni}|${src}|${dst}|${sport}|${dport}|${proto}|${accept ? 1 : 0}`, { packets, bytes, first, last });
        });
        expect(seen).toEqual(model);
        expect(skippedSeen).toEqual(skipped);
        expect(t.size).toBe(0);
      }
    }), { seed, numRuns });
    console.log(`flowlog-table model property: seed ${seed}, ${cases} cases`);
    expect(cases).toBe(numRuns);
  });
});
