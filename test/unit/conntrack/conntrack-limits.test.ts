/**
 * Conntrack at its edges [EC2-CT]: the bounds it accepts, a table sized so
 * that `max` flows always fit, flows whose two keys differ in one field only,
 * removal that counts once, the UDP transaction count's saturation, and the
 * per-ENI allowance read back for metrics (conntrack_allowance_available per
 * ENI) including indices outside the allowance table.
 */
import { describe, expect, it } from 'vitest';
import {
  ALLOWANCE_EXCEEDED, Conntrack, CtCounter, FULL, FlowFlag, FlowTuple, KEY_EXISTS, NO_FLOW, NO_INSTANCE, TRACKED_BOTH, TimeoutClass, initialTimeoutClass,
} from '../../../src/conntrack/conntrack.js';
import { decodeFlows } from '../../../src/conntrack/flow-state.js';
import { ipToU32 } from '../../../src/wire/addr.js';

const TIMEOUTS = { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
const A_IP = ipToU32('198.18.1.10');
const B_IP = ipToU32('198.18.1.11');
const NET = ipToU32('203.0.113.1');
const { TrackedEgress, TrackedIngress, ChargedEgress, ChargedIngress } = FlowFlag;

const orig = new FlowTuple();
const reply = new FlowTuple();

function ct(max: number): Conntrack {
  return new Conntrack({ max, timeouts: TIMEOUTS }, 0x5eed);
}

/** A TCP flow sport -> 80 from `from` (instance or NO_INSTANCE) to `to`, first packet counted. */
function tcp(c: Conntrack, src: number, sport: number, dst: number, from: number, to: number, tracked = TRACKED_BOTH): number {
  orig.set(src, dst, sport, 80, 6, 0);
  reply.reverseOf(orig);
  const f = c.create(orig, reply, initialTimeoutClass(6), 1_000, 1, from, to, tracked);
  if (f >= 0) c.touch(f * 2, 1_000, 60, 0x02);
  return f;
}

describe('Conntrack limits', () => {
  it('accepts a flow limit of 1..2^28 only', () => {
    for (const bad of [0, -5, 2.5, Number.NaN, 0x10000001]) {
      expect(() => ct(bad), String(bad)).toThrow(/conntrack max must be 1\.\.2\^28/);
    }
    expect(ct(1).max).toBe(1);
  });

  it('sizes the key table so that max two-key flows fit at a load of at most 75 %', () => {
    for (let max = 1; max <= 70; max++) {
      const c = ct(max);
      expect(2 * max, `max ${max}`).toBeLessThanOrEqual(0.75 * c.table.capacity);
      for (let i = 0; i < max; i++) expect(tcp(c, A_IP, 1024 + i, NET, NO_INSTANCE, NO_INSTANCE), `max ${max} flow ${i}`).toBeGreaterThanOrEqual(0);
      expect(c.entries).toBe(max);
      expect(c.table.size).toBe(2 * max);
      expect(c.counters[CtCounter.AllowanceExceeded]).toBe(0);
    }
  });

  it('a flow whose reply key differs from its orig key in one field alone keeps both keys', () => {
    // e.g. a NAT binding that rewrites only the port, or a hairpin that keeps the addresses
    const base = (): FlowTuple => new FlowTuple().set(A_IP, B_IP, 5000, 5000, 17, 4);
    const variants: [string, (t: FlowTuple) => void][] = [
      ['src', (t) => { t.src = NET | 0; }],
      ['dst', (t) => { t.dst = NET | 0; }],
      ['sport', (t) => { t.sport = 6000; }],
      ['dport', (t) => { t.dport = 6000; }],
      ['proto', (t) => { t.proto = 6; }],
      ['zone', (t) => { t.zone = 5; }],
    ];
    for (const [field, change] of variants) {
      const c = ct(4);
      const o = base();
      const r = base();
      change(r);
      const f = c.create(o, r, TimeoutClass.Udp, 0);
      expect(f, field).toBeGreaterThanOrEqual(0);
      expect(c.table.size, field).toBe(2);
      expect(c.pool.flags[f]! & FlowFlag.OneKey, field).toBe(0);
      expect(c.lookupTuple(o), field).toBe(f * 2);
      expect(c.lookupTuple(r), field).toBe(f * 2 + 1);
      c.remove(f);
      expect(c.table.size, field).toBe(0);
      expect(c.lookupTuple(r), field).toBe(NO_FLOW);
    }
  });

  it('every refusal is a negative code of its own, and only a flow made counts as created', () => {
    const c = ct(2);
    c.setAllowances([1]);
    const created = (): number => c.counters[CtCounter.Created]!;
    expect(tcp(c, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(0);
    const exceeded = tcp(c, A_IP, 2, NET, 0, NO_INSTANCE, TrackedEgress);
    const xReply = new FlowTuple().set(NET, B_IP, 80, 4, 6, 0);
    const x = c.create(new FlowTuple().reverseOf(xReply), xReply, TimeoutClass.Tcp, 0);
    expect(x).toBe(1);
    expect(created()).toBe(2);
    const full = tcp(c, A_IP, 3, NET, NO_INSTANCE, NO_INSTANCE);
    c.remove(0);
    const collision = c.create(new FlowTuple().set(A_IP, NET, 4, 80, 6, 0), xReply, TimeoutClass.Tcp, 0); // x's reply key
    expect([exceeded, full, collision]).toEqual([ALLOWANCE_EXCEEDED, FULL, KEY_EXISTS]);
    for (const code of [exceeded, full, collision]) expect(code).toBeLessThan(0); // never a flow index
    expect(new Set([exceeded, full, collision, NO_FLOW]).size).toBe(4);
    expect(created()).toBe(2);
  });

  it('a new flow starts in its protocol\'s timeout class, before any packet', () => {
    expect([6, 17, 1, 47, 50].map(initialTimeoutClass)).toEqual([TimeoutClass.Tcp, TimeoutClass.Udp, TimeoutClass.Icmp, TimeoutClass.Other, TimeoutClass.Other]);
    const c = ct(2);
    orig.set(A_IP, NET, 1, 80, 6, 0);
    const f = c.create(orig, reply.reverseOf(orig), initialTimeoutClass(6), 100);
    expect(c.deadlineMs(f)).toBe(100 + TIMEOUTS.tcp * 1000);
  });

  it('removing a flow twice counts one removal and refunds its ENIs once', () => {
    const c = ct(8);
    c.setAllowances([4, 4]);
    const f = tcp(c, A_IP, 1024, B_IP, 0, 1);
    const g = tcp(c, A_IP, 1025, B_IP, 0, 1);
    expect(Array.from(c.entriesPerEni)).toEqual([2, 2]);
    const removed = c.counters[CtCounter.Removed]!;
    c.remove(f);
    c.remove(f);
    expect(c.counters[CtCounter.Removed]! - removed).toBe(1);
    expect(Array.from(c.entriesPerEni)).toEqual([1, 1]);
    expect(c.entries).toBe(1);
    expect(c.lookup(A_IP, B_IP, 1025, 80, 6, 0)).toBe(g * 2);
    c.remove(7); // never allocated
    expect(c.counters[CtCounter.Removed]! - removed).toBe(1);
    expect(c.entries).toBe(1);
  });

  it('other protocols ignore the ports of both tuples handed to create', () => {
    const c = ct(4);
    const o = new FlowTuple().set(A_IP, NET, 11, 12, 47, 0);
    const r = new FlowTuple().set(NET, A_IP, 13, 14, 47, 0); // ports a caller should not pass, ignored
    const f = c.create(o, r, TimeoutClass.Other, 0);
    expect(c.lookup(A_IP, NET, 0, 0, 47, 0)).toBe(f * 2);
    expect(c.lookup(NET, A_IP, 0, 0, 47, 0)).toBe(f * 2 + 1);
    expect(c.lookup(NET, A_IP, 99, 98, 47, 0)).toBe(f * 2 + 1);
  });

  it('ICMP and other-protocol flows keep their own timeout class when the answer comes back', () => {
    const c = ct(4);
    const icmp = c.create(orig.setIcmp(A_IP, NET, 8, 0, 9, 0), reply.reverseOf(orig), TimeoutClass.Icmp, 0);
    const gre = c.create(orig.set(A_IP, NET, 0, 0, 47, 0), reply.reverseOf(orig), TimeoutClass.Other, 0);
    for (const [f, cls] of [[icmp, TimeoutClass.Icmp], [gre, TimeoutClass.Other]] as const) {
      expect(c.touch(f * 2, 1, 60, 0)).toBe(cls);
      expect(c.touch(f * 2 + 1, 2, 60, 0)).toBe(cls);
      expect(c.touch(f * 2, 3, 60, 0)).toBe(cls);
      expect(c.touch(f * 2 + 1, 4, 60, 0)).toBe(cls);
      expect(c.pool.udpTransactions[f]).toBe(0);
    }
    expect(c.deadlineMs(icmp)).toBe(4 + TIMEOUTS.icmp * 1000);
    expect(c.deadlineMs(gre)).toBe(4 + TIMEOUTS.other * 1000);
  });

  it('a flow to itself (one key) survives a restart as one key', () => {
    const a = ct(4);
    const self = new FlowTuple().set(A_IP, A_IP, 7, 7, 17, 0);
    const f = a.create(self, new FlowTuple().reverseOf(self), TimeoutClass.Udp, 0);
    a.touch(f * 2, 0, 60, 0);
    expect(a.pool.flags[f]! & FlowFlag.OneKey).toBe(FlowFlag.OneKey);
    const b = ct(4);
    const made = b.restore(decodeFlows(a.serialize(10), { max: 4, instances: 0 }), 100, 1);
    expect(b.table.size).toBe(1);
    expect(b.lookupTuple(self)).toBe(made[0]! * 2);
    b.remove(made[0]!);
    expect(b.table.size).toBe(0);
  });

  it('restoring beside flows already tracked leaves their keys and counters alone', () => {
    const a = ct(4);
    const saved = a.create(orig.set(A_IP, NET, 1, 53, 17, 0), reply.reverseOf(orig), TimeoutClass.Udp, 0);
    a.touch(saved * 2, 0, 100, 0);
    a.touch(saved * 2 + 1, 1, 200, 0);
    const bytes = a.serialize(5);
    const b = ct(4);
    const x = tcp(b, B_IP, 2, NET, NO_INSTANCE, NO_INSTANCE);
    const y = tcp(b, B_IP, 3, NET, NO_INSTANCE, NO_INSTANCE);
    b.touch(y * 2 + 1, 1_000, 1500, 0x12);
    b.remove(x); // the restored flow takes x's index, just below y
    const made = b.restore(decodeFlows(bytes, { max: 4, instances: 0 }), 1_000, 1);
    expect(made[0]).toBe(x);
    expect([b.pool.packets[y * 2], b.pool.packets[y * 2 + 1], b.pool.bytes[y * 2], b.pool.bytes[y * 2 + 1]]).toEqual([1, 1, 60, 1500]);
    expect([b.pool.packets[x * 2], b.pool.packets[x * 2 + 1], b.pool.bytes[x * 2], b.pool.bytes[x * 2 + 1]]).toEqual([1, 1, 100, 200]);
    expect(b.lookup(B_IP, NET, 3, 80, 6, 0)).toBe(y * 2);
    expect(b.lookup(NET, A_IP, 53, 1, 17, 0)).toBe(x * 2 + 1);
  });

  it('counts UDP request-response transactions up to 255 and stays a stream after', () => {
    const c = ct(2);
    orig.set(A_IP, NET, 5353, 53, 17, 0);
    const f = c.create(orig, reply.reverseOf(orig), TimeoutClass.Udp, 0);
    let now = 0;
    for (let i = 0; i < 300; i++) {
      c.touch(f * 2, ++now, 60, 0);
      expect(c.touch(f * 2 + 1, ++now, 60, 0)).toBe(i === 0 ? TimeoutClass.Udp : TimeoutClass.UdpStream);
      expect(c.pool.udpTransactions[f]).toBe(Math.min(i + 1, 255));
    }
    expect(c.deadlineMs(f)).toBe(now + TIMEOUTS.udpStream * 1000);
  });

  it('a reply without a request in between completes no new transaction', () => {
    const c = ct(2);
    orig.set(A_IP, NET, 5353, 53, 17, 0);
    const f = c.create(orig, reply.reverseOf(orig), TimeoutClass.Udp, 0);
    c.touch(f * 2, 1, 60, 0);
    for (let i = 0; i < 5; i++) expect(c.touch(f * 2 + 1, 2 + i, 60, 0)).toBe(TimeoutClass.Udp);
    expect(c.pool.udpTransactions[f]).toBe(1);
    expect(c.pool.flags[f]! & FlowFlag.LastDirReply).toBe(FlowFlag.LastDirReply);
    c.touch(f * 2, 10, 60, 0);
    expect(c.pool.flags[f]! & FlowFlag.LastDirReply).toBe(0);
    expect(c.pool.flags[f]! & FlowFlag.SeenReply).toBe(FlowFlag.SeenReply); // kept once seen
  });
});

describe('per-ENI allowance edges', () => {
  it('refuses allowances that are not integers 0..2^31-1, naming the instance', () => {
    const c = ct(8);
    expect(() => c.setAllowances([1, 0x80000000])).toThrow(/allowance of instance 1 must be an integer 0\.\.2\^31-1, got 2147483648/);
    expect(() => c.setAllowances([Number.NaN])).toThrow(/instance 0/);
    expect(() => c.setAllowances([-1])).toThrow(/got -1/);
    c.setAllowances([0, 0x7fffffff]);
    expect(c.allowanceAvailableOf(1)).toBe(8);
  });

  it('reads back what each ENI may still open: its allowance minus its flows, at most the free table room, never negative', () => {
    const c = ct(10);
    c.setAllowances([3, 0, 20]);
    expect([c.allowanceAvailableOf(0), c.allowanceAvailableOf(1), c.allowanceAvailableOf(2)]).toEqual([3, 10, 10]);
    tcp(c, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress);
    tcp(c, A_IP, 2, NET, 0, NO_INSTANCE, TrackedEgress);
    expect([c.allowanceAvailableOf(0), c.allowanceAvailableOf(1), c.allowanceAvailableOf(2)]).toEqual([1, 8, 8]);
    // indices outside the allowance table, or with no allowance: the table's free room
    expect(c.allowanceAvailableOf(-1)).toBe(8);
    expect(c.allowanceAvailableOf(3)).toBe(8);
    // an allowance lowered below the ENI's flows reads 0, not a negative number
    c.setAllowances([1, 0, 20]);
    expect(c.entriesPerEni[0]).toBe(2);
    expect(c.allowanceAvailableOf(0)).toBe(0);
    expect(tcp(c, A_IP, 3, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
  });

  it('charges instance index 0 like any other, and an index beyond the allowance table not at all', () => {
    const c = ct(8);
    c.setAllowances([1, 1]);
    const first = tcp(c, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress);
    expect(c.pool.flags[first]! & ChargedEgress).toBe(ChargedEgress);
    expect(tcp(c, A_IP, 2, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
    // instance 2 has no allowance entry: tracked, but counted against no ENI
    const beyond = tcp(c, NET, 3, B_IP, NO_INSTANCE, 2, TrackedIngress);
    expect(beyond).toBeGreaterThanOrEqual(0);
    expect(c.pool.flags[beyond]! & (ChargedEgress | ChargedIngress)).toBe(0);
    expect(Array.from(c.entriesPerEni)).toEqual([1, 0]);
    c.remove(beyond);
    expect(Array.from(c.entriesPerEni)).toEqual([1, 0]);
  });

  it('instance 0 at its allowance refuses flows it would track as the receiver, and counts the refusals', () => {
    const c = ct(8);
    c.setAllowances([2, 2]);
    expect(tcp(c, NET, 1, A_IP, NO_INSTANCE, 0, TrackedIngress)).toBeGreaterThanOrEqual(0);
    expect(tcp(c, NET, 2, A_IP, NO_INSTANCE, 0, TrackedIngress)).toBeGreaterThanOrEqual(0);
    const exceeded = c.counters[CtCounter.EniAllowanceExceeded]!;
    expect(tcp(c, NET, 3, A_IP, NO_INSTANCE, 0, TrackedIngress)).toBe(ALLOWANCE_EXCEEDED);
    expect(c.counters[CtCounter.EniAllowanceExceeded]! - exceeded).toBe(1);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([1, 0]);
    expect(Array.from(c.entriesPerEni)).toEqual([2, 0]);
    expect(c.entries).toBe(2);
    // instance 1 still opens flows
    expect(tcp(c, NET, 4, B_IP, NO_INSTANCE, 1, TrackedIngress)).toBeGreaterThanOrEqual(0);
  });

  it('a flow created without instances (gateway or outside ends) counts against no ENI', () => {
    const c = ct(8);
    c.setAllowances([5, 5]);
    orig.set(NET, A_IP, 1, 80, 6, 0);
    const f = c.create(orig, reply.reverseOf(orig), TimeoutClass.Tcp, 0); // default: no instance, tracked both ways
    expect(f).toBeGreaterThanOrEqual(0);
    expect([c.pool.egressInstance[f], c.pool.ingressInstance[f]]).toEqual([NO_INSTANCE, NO_INSTANCE]);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
    // an outside sender tracked on both ends into ENI 0: only ENI 0 is charged
    const g = tcp(c, NET, 2, A_IP, NO_INSTANCE, 0, TRACKED_BOTH);
    expect(Array.from(c.entriesPerEni)).toEqual([1, 0]);
    c.remove(g);
    c.remove(f);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
  });

  it('a flow untracked at an ENI neither counts against it nor refunds it when it ends', () => {
    const c = ct(8);
    c.setAllowances([2, 2]);
    const tracked = tcp(c, A_IP, 1, B_IP, 0, 1, TrackedIngress);
    const untracked = tcp(c, A_IP, 2, B_IP, 0, 1, 0);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 1]);
    expect(c.pool.flags[untracked]! & (ChargedEgress | ChargedIngress)).toBe(0);
    c.remove(untracked);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 1]);
    c.remove(tracked);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
  });

  it('reload: an instance renumbered to index 0 keeps its flows and its refusal count', () => {
    const c = ct(8);
    c.setAllowances([5, 1]);
    const f = tcp(c, B_IP, 1, NET, 1, NO_INSTANCE, TrackedEgress);
    expect(tcp(c, B_IP, 2, NET, 1, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
    c.setAllowances([1], [-1, 0]); // old 0 is gone, old 1 becomes 0
    expect(c.pool.egressInstance[f]).toBe(0);
    expect(Array.from(c.entriesPerEni)).toEqual([1]);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([1]);
    expect(c.pool.flags[f]! & ChargedEgress).toBe(ChargedEgress);
    expect(tcp(c, B_IP, 3, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([2]);
  });

  it('reload counts only live flows, keeps flows untracked at an ENI uncharged, and recounts receivers', () => {
    const c = ct(8);
    c.setAllowances([5, 5]);
    const gone = tcp(c, A_IP, 1, B_IP, 0, 1);
    const untracked = tcp(c, A_IP, 2, B_IP, 0, 1, 0);
    const inbound = tcp(c, NET, 3, A_IP, NO_INSTANCE, 0, TrackedIngress);
    const both = tcp(c, A_IP, 4, B_IP, 0, 1);
    c.remove(gone);
    expect(Array.from(c.entriesPerEni)).toEqual([2, 1]);
    c.setAllowances([5, 5]); // reload, same instances
    expect(Array.from(c.entriesPerEni)).toEqual([2, 1]);
    expect(c.pool.flags[untracked]! & (ChargedEgress | ChargedIngress)).toBe(0);
    expect(c.pool.flags[inbound]! & ChargedIngress).toBe(ChargedIngress);
    c.remove(untracked);
    expect(Array.from(c.entriesPerEni)).toEqual([2, 1]);
    c.remove(inbound);
    c.remove(both);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
  });

  it('reload: any negative remap entry means the instance is gone', () => {
    const c = ct(4);
    c.setAllowances([5]);
    const f = tcp(c, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress);
    c.setAllowances([5], [-2]);
    expect(c.pool.egressInstance[f]).toBe(NO_INSTANCE);
    expect(Array.from(c.entriesPerEni)).toEqual([0]);
  });

  it('a failed restore after flows came and went leaves every ENI count at zero', () => {
    const a = ct(4);
    orig.set(A_IP, NET, 9, 80, 6, 0);
    a.create(orig, reply.reverseOf(orig), TimeoutClass.Tcp, 0, 1, 0, NO_INSTANCE, TrackedEgress);
    const saved = decodeFlows(a.serialize(0), { max: 4, instances: 1 });
    const b = ct(4);
    b.setAllowances([3]);
    tcp(b, A_IP, 9, NET, 0, NO_INSTANCE, TrackedEgress); // the saved flow's key, now taken
    // Two flows that came and went: their indices keep stale fields (charged to instance 0).
    // Indices are reused last-freed first: the restore's attempt takes `gone[1]`'s and frees it
    // again; `gone[0]`'s stays free, stale, when the failed restore clears the table.
    const gone = [tcp(b, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress), tcp(b, A_IP, 2, NET, 0, NO_INSTANCE, TrackedEgress)];
    for (const f of gone) b.remove(f);
    expect(b.pool.live[gone[0]!]).toBe(0);
    expect(b.pool.flags[gone[0]!]! & ChargedEgress).toBe(ChargedEgress);
    expect(() => b.restore(saved, 0, 1)).toThrow(/already tracked/);
    expect(b.entries).toBe(0);
    expect(b.table.size).toBe(0);
    expect(Array.from(b.entriesPerEni)).toEqual([0]);
    expect(b.allowanceAvailableOf(0)).toBe(3);
    // Instance 0 may open exactly its allowance again, no more.
    for (let i = 0; i < 3; i++) expect(tcp(b, A_IP, 10 + i, NET, 0, NO_INSTANCE, TrackedEgress)).toBeGreaterThanOrEqual(0);
    expect(tcp(b, A_IP, 13, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
  });

  it('reload with a remap shorter than the old instance list, or with non-integer entries, drops those instances', () => {
    const c = ct(16);
    c.setAllowances([5, 5, 5]);
    const fa = tcp(c, A_IP, 1, NET, 0, NO_INSTANCE, TrackedEgress);
    const fb = tcp(c, B_IP, 2, NET, 1, NO_INSTANCE, TrackedEgress);
    const fc = tcp(c, NET, 3, B_IP, NO_INSTANCE, 2, TrackedIngress);
    tcp(c, A_IP, 4, NET, 0, NO_INSTANCE, TrackedEgress);
    c.setAllowances([1, 5, 5]);
    expect(tcp(c, A_IP, 5, NET, 0, NO_INSTANCE, TrackedEgress)).toBe(ALLOWANCE_EXCEEDED);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([1, 0, 0]);
    // old 0 -> new 2; old 1 -> 1.5 (not an index: gone); old 2 beyond the remap: gone
    c.setAllowances([5, 5, 5], [2, 1.5]);
    expect([c.pool.egressInstance[fa], c.pool.egressInstance[fb], c.pool.ingressInstance[fc]]).toEqual([2, NO_INSTANCE, NO_INSTANCE]);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0, 2]);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([0, 0, 1]);
    expect(c.pool.flags[fb]! & ChargedEgress).toBe(0);
    expect(c.pool.flags[fa]! & ChargedEgress).toBe(ChargedEgress);
    // a remap into fewer instances drops the counts of indices past the end
    c.setAllowances([5, 5], [0, 1, 2]);
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
    expect(Array.from(c.allowanceExceededPerEni)).toEqual([0, 0]);
    expect(c.pool.flags[fa]! & ChargedEgress).toBe(0);
    c.remove(fa); // not charged any more: nothing to refund
    expect(Array.from(c.entriesPerEni)).toEqual([0, 0]);
  });
});
