import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowKeyTable, InsertResult, NO_FLOW } from '../../../src/conntrack/flow-table.js';
import { hash4 } from '../../../src/lib/hash.js';

/** A flow key as the model's Map key. */
interface Key {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  zone: number;
}
const keyStr = (k: Key): string => `${k.src}|${k.dst}|${k.sport}|${k.dport}|${k.proto}|${k.zone}`;

// A fixed pool of keys whose words reach the extremes (0, top bits set);
// ops pick from a small prefix of it so inserts hit existing keys, deletes hit
// present keys and tiny tables fill up.
const SRCS = [0, 1, 0xc6120a0a, 0xffffffff];
const DSTS = [0, 0xc6120214, 0x80000000];
const PORTS = [0, 1, 0x8000, 0xffff];
const PROTOS = [1, 6, 17, 255];
const ZONES = [0, 0xffffff];
const POOL: Key[] = [];
{
  let x = 12345;
  for (let i = 0; i < 400; i++) {
    const pick = <T>(a: readonly T[]): T => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return a[(x >>> 16) % a.length];
    };
    const k: Key = { src: pick(SRCS), dst: pick(DSTS), sport: pick(PORTS), dport: pick(PORTS), proto: pick(PROTOS), zone: pick(ZONES) };
    if (!POOL.some((p) => keyStr(p) === keyStr(k))) POOL.push(k);
  }
}

type Op =
  | { kind: 'insert'; key: Key; ref: number }
  | { kind: 'remove'; key: Key }
  | { kind: 'lookup'; key: Key };

function opArb(poolSize: number): fc.Arbitrary<Op> {
  const keyArb = fc.integer({ min: 0, max: poolSize - 1 }).map((i) => POOL[i]);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), key: keyArb, ref: fc.integer({ min: 0, max: 0x7ffffffe }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('remove' as const), key: keyArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('lookup' as const), key: keyArb }) },
  );
}

function look(t: FlowKeyTable, k: Key): number {
  return t.lookup(k.src, k.dst, k.sport, k.dport, k.proto, k.zone);
}

/** Runs ops on a table and a Map side by side; after each op every model key must be found. */
function runAgainstModel(capacity: number, seed: number, ops: readonly Op[]): void {
  const t = new FlowKeyTable(capacity, seed);
  const model = new Map<string, { key: Key; ref: number }>();
  for (const op of ops) {
    const s = keyStr(op.key);
    if (op.kind === 'insert') {
      const r = t.insert(op.key.src, op.key.dst, op.key.sport, op.key.dport, op.key.proto, op.key.zone, op.ref);
      if (model.has(s)) expect(r).toBe(InsertResult.Exists);
      else if (model.size === capacity - 1) expect(r).toBe(InsertResult.Full);
      else {
        expect(r).toBe(InsertResult.Inserted);
        model.set(s, { key: op.key, ref: op.ref });
      }
    } else if (op.kind === 'remove') {
      const r = t.remove(op.key.src, op.key.dst, op.key.sport, op.key.dport, op.key.proto, op.key.zone);
      expect(r).toBe(model.get(s)?.ref ?? NO_FLOW);
      model.delete(s);
    } else {
      expect(look(t, op.key)).toBe(model.get(s)?.ref ?? NO_FLOW);
    }
    expect(t.size).toBe(model.size);
    for (const { key, ref } of model.values()) {
      const got = look(t, key);
      if (got !== ref) throw new Error(`key ${keyStr(key)}: lookup ${got}, model ${ref}`);
    }
  }
}

describe('hash4', () => {
  it('is an int32 that depends on every word and on the seed', () => {
    const base = hash4(0xc6120a0a, 0xc6120214, 0xc0005432, 6, 1);
    expect(base).toBe(base | 0);
    expect(hash4(0xc6120a0a, 0xc6120214, 0xc0005432, 6, 1)).toBe(base); // deterministic
    expect(hash4(0xc6120a0b, 0xc6120214, 0xc0005432, 6, 1)).not.toBe(base);
    expect(hash4(0xc6120a0a, 0xc6120215, 0xc0005432, 6, 1)).not.toBe(base);
    expect(hash4(0xc6120a0a, 0xc6120214, 0xc0005433, 6, 1)).not.toBe(base);
    expect(hash4(0xc6120a0a, 0xc6120214, 0xc0005432, 17, 1)).not.toBe(base);
    expect(hash4(0xc6120a0a, 0xc6120214, 0xc0005432, 6, 2)).not.toBe(base);
    // u32 and int32 spellings of the same bits hash alike
    expect(hash4(0xc6120a0a | 0, 0xc6120214 | 0, 0xc0005432 | 0, 6, 1)).toBe(base);
  });

  it('spreads sequential keys evenly over buckets', () => {
    const buckets = new Uint32Array(256);
    for (let i = 0; i < 256 * 100; i++) buckets[hash4(0xc6120000 + i, 0xcb007101, (49152 << 16) | 443, 6, 7) & 255]++;
    // 100 expected per bucket; a mix this poor would fail: some bucket empty or > 3x
    expect(Math.min(...buckets)).toBeGreaterThan(40);
    expect(Math.max(...buckets)).toBeLessThan(170);
  });
});

describe('FlowKeyTable', () => {
  it('rejects a capacity that is not a power of two in 2..2^30', () => {
    for (const bad of [12, 1, 0, -4, 0x80000000]) expect(() => new FlowKeyTable(bad, 1), String(bad)).toThrow(/capacity must be a power of two/);
  });

  it('the smallest table (2 slots) holds one key and refuses a second', () => {
    const t = new FlowKeyTable(2, 5);
    expect(t.maxKeys).toBe(1);
    expect(t.insert(1, 2, 3, 4, 6, 0, 8)).toBe(InsertResult.Inserted);
    expect(t.insert(2, 2, 3, 4, 6, 0, 9)).toBe(InsertResult.Full);
    expect(t.lookup(1, 2, 3, 4, 6, 0)).toBe(8);
    expect(t.lookup(2, 2, 3, 4, 6, 0)).toBe(NO_FLOW);
  });

  it('stores, finds and removes a key; other keys miss', () => {
    const t = new FlowKeyTable(16, 7);
    expect(t.insert(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0, 10)).toBe(InsertResult.Inserted);
    expect(t.lookup(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0)).toBe(10);
    expect(t.lookup(0xc6120a0a, 0xc6120214, 49152, 5432, 17, 0)).toBe(NO_FLOW); // proto differs
    expect(t.lookup(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 1)).toBe(NO_FLOW); // zone differs
    expect(t.lookup(0xc6120214, 0xc6120a0a, 5432, 49152, 6, 0)).toBe(NO_FLOW); // reversed
    expect(t.insert(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0, 11)).toBe(InsertResult.Exists);
    expect(t.lookup(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0)).toBe(10);
    expect(t.remove(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0)).toBe(10);
    expect(t.remove(0xc6120a0a, 0xc6120214, 49152, 5432, 6, 0)).toBe(NO_FLOW);
    expect(t.size).toBe(0);
  });

  it('holds capacity - 1 keys, refuses the next, and accepts again after a delete', () => {
    const t = new FlowKeyTable(8, 3);
    for (let i = 0; i < 7; i++) expect(t.insert(i, 0, 0, 0, 6, 0, i)).toBe(InsertResult.Inserted);
    expect(t.insert(99, 0, 0, 0, 6, 0, 99)).toBe(InsertResult.Full);
    expect(t.insert(3, 0, 0, 0, 6, 0, 3)).toBe(InsertResult.Exists); // present keys still report Exists
    for (let i = 0; i < 7; i++) expect(t.lookup(i, 0, 0, 0, 6, 0)).toBe(i);
    expect(t.lookup(99, 0, 0, 0, 6, 0)).toBe(NO_FLOW); // a miss in a full table terminates
    expect(t.remove(4, 0, 0, 0, 6, 0)).toBe(4);
    expect(t.insert(99, 0, 0, 0, 6, 0, 99)).toBe(InsertResult.Inserted);
    for (let i = 0; i < 7; i++) if (i !== 4) expect(t.lookup(i, 0, 0, 0, 6, 0)).toBe(i);
    expect(t.lookup(99, 0, 0, 0, 6, 0)).toBe(99);
  });

  it('backward shift keeps a wrapped-around run reachable', () => {
    // Find keys whose home slot is the last slot of a 16-slot table, so the
    // run wraps past index 15 to 0, 1, …; then delete from the middle of it.
    const seed = 0x5eed;
    const cap = 16;
    const homeLast: number[] = [];
    const homeZero: number[] = [];
    for (let src = 1; homeLast.length < 4 || homeZero.length < 2; src++) {
      const home = hash4(src, 0, 0, 6, seed) & (cap - 1);
      if (home === cap - 1 && homeLast.length < 4) homeLast.push(src);
      if (home === 0 && homeZero.length < 2) homeZero.push(src);
    }
    const t = new FlowKeyTable(cap, seed);
    // Slots: 15 <- homeLast[0]; 0 <- homeLast[1]; 1 <- homeZero[0]; 2 <- homeLast[2]; 3 <- homeZero[1]; 4 <- homeLast[3]
    const order = [homeLast[0], homeLast[1], homeZero[0], homeLast[2], homeZero[1], homeLast[3]];
    order.forEach((src, i) => expect(t.insert(src, 0, 0, 0, 6, 0, i)).toBe(InsertResult.Inserted));
    expect(t.maxProbe()).toBeGreaterThanOrEqual(4);
    // Remove the head of the run (slot 15): every later entry must stay reachable.
    expect(t.remove(homeLast[0], 0, 0, 0, 6, 0)).toBe(0);
    order.slice(1).forEach((src, i) => expect(t.lookup(src, 0, 0, 0, 6, 0)).toBe(i + 1));
    // Remove an entry sitting in its home slot inside the run (homeZero[0]).
    expect(t.remove(homeZero[0], 0, 0, 0, 6, 0)).toBe(2);
    for (const [i, src] of order.entries()) {
      if (i === 0 || i === 2) expect(t.lookup(src, 0, 0, 0, 6, 0)).toBe(NO_FLOW);
      else expect(t.lookup(src, 0, 0, 0, 6, 0)).toBe(i);
    }
    // After all deletes the table is empty and the probe distances are back to 0.
    for (const src of order) t.remove(src, 0, 0, 0, 6, 0);
    expect(t.size).toBe(0);
    expect(t.maxProbe()).toBe(0);
  });

  it('agrees with a Map under random insert/lookup/delete (tiny tables: collisions, wrap, full)', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4, 8, 16), fc.integer({ min: 0, max: 0xffffffff }), fc.array(opArb(24), { maxLength: 150 }), runAgainstModel),
      { numRuns: 500 },
    );
  });

  it('has a key pool big enough to fill the larger table', () => {
    expect(POOL.length).toBeGreaterThan(100);
  });

  it('agrees with a Map on a larger table under heavy churn', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(opArb(POOL.length), { minLength: 200, maxLength: 600 }), (seed, ops) =>
        runAgainstModel(64, seed, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('keeps probe runs short after churn (no tombstones)', () => {
    const t = new FlowKeyTable(1024, 99);
    let x = 1;
    const live: number[] = [];
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      if (live.length < 400) {
        if (t.insert(x, 0, 0, 0, 17, 0, i) === InsertResult.Inserted) live.push(x);
      } else {
        const k = live.splice(x % live.length, 1)[0];
        expect(t.remove(k, 0, 0, 0, 17, 0)).not.toBe(NO_FLOW);
      }
    }
    expect(t.size).toBe(live.length);
    for (const k of live) expect(t.lookup(k, 0, 0, 0, 17, 0)).not.toBe(NO_FLOW);
    // 40% load: a run longer than a few dozen slots would mean deletes left debris.
    expect(t.maxProbe()).toBeLessThan(64);
  });
});
