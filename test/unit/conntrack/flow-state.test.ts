/**
 * Conntrack.serialize() / decodeFlows() / Conntrack.restore(): the flows of a
 * table, saved and restored into a fresh table (another hash seed, another
 * clock), are the same flows: both keys, zones, owning ENIs and tracking
 * flags, allowance charges, TCP state, timeout class, counters, and every
 * deadline moved by exactly the clock shift, so the same flows expire at the
 * same (shifted) times. Records that do not fit are refused with
 * SavedStateError naming the record.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conntrack, CtCounter, FlowFlag, FlowTuple, NO_INSTANCE, initialTimeoutClass } from '../../../src/conntrack/conntrack.js';
import { FLOW_RECORD_BYTES, decodeFlows } from '../../../src/conntrack/flow-state.js';
import { FLOW_KEY_WORDS } from '../../../src/conntrack/flow-pool.js';
import { SavedStateError } from '../../../src/lib/saved-fields.js';
import { checkProperty } from '../../helpers/property.js';

const TIMEOUTS = { tcpEstablished: 3600, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
const ENIS = 4;
const LIMITS = { max: 256, instances: ENIS };
const { TrackedEgress, TrackedIngress } = FlowFlag;

interface Op {
  readonly proto: number;
  readonly src: number;
  readonly dst: number;
  readonly sport: number;
  readonly dport: number;
  readonly zone: number;
  readonly egress: number;
  readonly ingress: number;
  readonly tracked: number;
  readonly packets: readonly { dir: number; flags: number; len: number; dt: number }[];
  readonly dt: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  proto: fc.constantFrom(1, 6, 6, 17, 47),
  src: fc.integer({ min: 0, max: 15 }).map((x) => (0xc6120100 + x) | 0),
  dst: fc.integer({ min: 0, max: 15 }).map((x) => (0xcb007100 + x) | 0),
  sport: fc.integer({ min: 1024, max: 1040 }),
  dport: fc.constantFrom(80, 443, 0x0800),
  zone: fc.integer({ min: 0, max: ENIS }),
  egress: fc.integer({ min: -1, max: ENIS - 1 }),
  ingress: fc.integer({ min: -1, max: ENIS - 1 }),
  tracked: fc.constantFrom(TrackedEgress, TrackedIngress, TrackedEgress | TrackedIngress),
  packets: fc.array(fc.record({ dir: fc.integer({ min: 0, max: 1 }), flags: fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x04), len: fc.integer({ min: 40, max: 1500 }), dt: fc.integer({ min: 0, max: 20_000 }) }), { maxLength: 6 }),
  dt: fc.integer({ min: 0, max: 90_000 }),
});

/** Fills `c` from ops at a monotonic clock starting at t0; returns the clock after. */
function fill(c: Conntrack, ops: readonly Op[], t0: number): number {
  const o = new FlowTuple(), r = new FlowTuple();
  let t = t0;
  for (const op of ops) {
    t += op.dt;
    if (op.proto === 1) o.setIcmp(op.src, op.dst, 8, 0, op.sport, op.zone);
    else o.set(op.src, op.dst, op.sport, op.dport, op.proto, op.zone);
    r.reverseOf(o);
    const f = c.create(o, r, initialTimeoutClass(op.proto), t, 1, op.egress, op.ingress, op.tracked);
    if (f < 0) continue;
    c.touch(f * 2, t, 60, 0x02);
    for (const p of op.packets) {
      t += p.dt;
      c.touch(f * 2 + p.dir, t, p.len, p.flags);
    }
    c.sweep(t, 1000, null);
  }
  return t;
}

/** Every live flow as comparable text, keyed by its orig key (times shifted back by `shift`). */
function describeFlows(c: Conntrack, shift: number): Map<string, string> {
  const p = c.pool;
  const out = new Map<string, string>();
  for (let f = 0; f < p.max; f++) {
    if (p.live[f] !== 1) continue;
    const key = Array.from(p.key.subarray(f * FLOW_KEY_WORDS, f * FLOW_KEY_WORDS + FLOW_KEY_WORDS)).join(',');
    out.set(key, JSON.stringify({
      proto: p.proto[f], tcp: p.tcpState[f], udp: p.udpTransactions[f], cls: p.timeoutClass[f], flags: p.flags[f], e: p.egressInstance[f], i: p.ingressInstance[f],
      nat: [p.natAddr[f], p.natPort[f]], packets: [p.packets[f * 2], p.packets[f * 2 + 1]], bytes: [p.bytes[f * 2], p.bytes[f * 2 + 1]],
      last: p.lastSeenMs[f] - shift, created: p.createdMs[f] - shift, deadline: c.deadlineMs(f) - shift,
      found: [c.table.lookup(p.key[f * 8], p.key[f * 8 + 1], p.key[f * 8 + 2] >>> 16, p.key[f * 8 + 2] & 0xffff, p.key[f * 8 + 3] & 0xff, p.key[f * 8 + 3] >>> 8) >>> 1 === f,
        c.table.lookup(p.key[f * 8 + 4], p.key[f * 8 + 5], p.key[f * 8 + 6] >>> 16, p.key[f * 8 + 6] & 0xffff, p.key[f * 8 + 7] & 0xff, p.key[f * 8 + 7] >>> 8) >>> 1 === f],
    }));
  }
  return out;
}

function table(seed: number): Conntrack {
  const c = new Conntrack({ max: LIMITS.max, timeouts: TIMEOUTS }, seed);
  c.setAllowances([0, 5, 0, 3]);
  return c;
}

describe('conntrack flows across a restart', () => {
  it('round trip: the same flows, charges and deadlines (shifted), and the same flows expire at the same shifted times (property)', () => {
    checkProperty('flow-state round trip', fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: -50_000, max: 50_000_000 }),
      fc.integer({ min: 0, max: 400_000 }), (ops, shift, later) => {
        const a = table(1);
        const saveAt = fill(a, ops, 1_000_000) + 17;
        const bytes = a.serialize(saveAt);
        expect(bytes.length).toBe(8 + a.entries * FLOW_RECORD_BYTES);
        const b = table(0xbeef);
        b.restore(decodeFlows(bytes, LIMITS), saveAt + shift, 7);
        expect(b.entries).toBe(a.entries);
        expect(describeFlows(b, shift)).toEqual(describeFlows(a, 0));
        expect(Array.from(b.entriesPerEni)).toEqual(Array.from(a.entriesPerEni));
        a.sweep(saveAt + later, 1 << 20, null);
        b.sweep(saveAt + shift + later, 1 << 20, null);
        expect([...describeFlows(b, shift).keys()].sort()).toEqual([...describeFlows(a, 0).keys()].sort());
      }), 200);
  });

  it('a restored flow is found by both keys and carries on (touch, expiry) like any other', () => {
    const a = table(3);
    const t = fill(a, [{ proto: 6, src: 0xc6120105 | 0, dst: 0xcb007105 | 0, sport: 1030, dport: 443, zone: 0, egress: 1, ingress: NO_INSTANCE,
      tracked: TrackedEgress, dt: 0, packets: [{ dir: 1, flags: 0x12, len: 60, dt: 5 }, { dir: 0, flags: 0x10, len: 60, dt: 5 }] }], 0);
    const b = table(4);
    b.restore(decodeFlows(a.serialize(t), LIMITS), 500, 1);
    const ref = b.lookup(0xcb007105, 0xc6120105, 443, 1030, 6, 0);
    expect(ref & 1).toBe(1);
    expect(b.pool.tcpState[ref >>> 1]).toBe(3); // ESTABLISHED
    expect(b.entriesPerEni[1]).toBe(1);
    b.touch(ref, 600, 1000, 0x10);
    expect(b.sweep(600 + 3_600_000 - 1, 10, null)).toBe(0);
    expect(b.sweep(600 + 3_600_000, 10, null)).toBe(1);
    expect(b.entriesPerEni[1]).toBe(0);
  });

  describe('refuses what does not fit', () => {
    const a = table(5);
    const t = fill(a, [{ proto: 6, src: 0xc6120101 | 0, dst: 0xcb007101 | 0, sport: 1025, dport: 80, zone: 2, egress: 1, ingress: 2,
      tracked: TrackedEgress | TrackedIngress, dt: 0, packets: [] }], 0);
    const good = a.serialize(t);
    const bad = (f: (dv: DataView, b: Uint8Array) => void): Uint8Array => {
      const b = good.slice();
      f(new DataView(b.buffer), b);
      return b;
    };
    const R = 8; // first record
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1), /truncated|bytes for 1 flows/],
      ['another record size', bad((dv) => dv.setUint32(0, 96, true)), /this version reads 100/],
      ['more flows than the table holds', bad((dv) => dv.setUint32(4, 1000, true)), /the table holds 256/],
      ['protocol not its keys', bad((_, b) => { b[R + 46] = 17; }), /record 0: protocol differs/],
      ['a zone past the instances', bad((dv) => { dv.setInt32(R + 12, (9 << 8) | 6, true); dv.setInt32(R + 28, (9 << 8) | 6, true); }), /zone 9/],
      ['an instance index past the instances', bad((dv) => dv.setInt32(R + 32, 4, true)), /instance index/],
      ['tracked by no ENI', bad((_, b) => { b[R + 50] = 0; }), /tracked by no ENI/],
      ['unknown flag bits', bad((_, b) => { b[R + 50] |= 0x80; }), /flag bits/],
      ['a class that is not the TCP state\'s', bad((_, b) => { b[R + 49] = 1; }), /disagrees with the TCP state/],
      ['a TCP state out of range', bad((_, b) => { b[R + 47] = 9; }), /TCP state 9/],
      ['a NaN idle time', bad((dv) => dv.setFloat64(R + 52, NaN, true)), /not finite/],
      ['a NAT port below 1024', bad((dv) => dv.setUint16(R + 44, 80, true)), /NAT port 80/],
    ];
    for (const [what, bytes, msg] of cases) {
      it(what, () => {
        expect(() => decodeFlows(bytes, LIMITS)).toThrow(SavedStateError);
        expect(() => decodeFlows(bytes, LIMITS)).toThrow(msg);
      });
    }

    it('a key already tracked, or a full table, refuses the restore and leaves the table empty', () => {
      const b = table(6);
      fill(b, [{ proto: 6, src: 0xc6120101 | 0, dst: 0xcb007101 | 0, sport: 1025, dport: 80, zone: 2, egress: 1, ingress: 2,
        tracked: TrackedEgress | TrackedIngress, dt: 0, packets: [] }], 0);
      expect(() => b.restore(decodeFlows(good, LIMITS), 0, 1)).toThrow(/already tracked/);
      expect(b.entries).toBe(0);
      expect(Array.from(b.entriesPerEni)).toEqual([0, 0, 0, 0]);
      const small = new Conntrack({ max: 1, timeouts: TIMEOUTS }, 7);
      const two = table(8);
      const t2 = fill(two, [1, 2].map((k) => ({ proto: 17, src: 0xc6120100 + k, dst: 0xcb007101 | 0, sport: 1025, dport: 53, zone: 0,
        egress: NO_INSTANCE, ingress: NO_INSTANCE, tracked: TrackedEgress, dt: 0, packets: [] })), 0);
      expect(() => small.restore(decodeFlows(two.serialize(t2), LIMITS), 0, 1)).toThrow(/table is full/);
      expect(small.entries).toBe(0);
      expect(small.counters[CtCounter.AllowanceExceeded]).toBe(0); // a refused restore is no refused packet
      expect(small.table.size).toBe(0);
    });
  });
});
