import { describe, expect, it } from 'vitest';
import {
  Conntrack,
  CtCounter,
  FULL,
  FlowFlag,
  FlowTuple,
  KEY_EXISTS,
  NO_FLOW,
  TRACKED_BOTH,
  TimeoutClass,
  dirOfRef,
  flowOfRef,
  icmpPairedType,
  initialTimeoutClass,
} from '../../../src/conntrack/conntrack.js';
import { TcpFlag, TcpState } from '../../../src/conntrack/tcp-state.js';

const TIMEOUTS = { tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 };
const WEB = 0xc6120a0a; // 198.18.10.10
const DB = 0xc6120214; // 198.18.2.20
const NET = 0xcb007164; // 203.0.113.100
const { SYN, ACK, FIN, RST, PSH } = TcpFlag;

function ct(max = 16): Conntrack {
  return new Conntrack({ max, timeouts: TIMEOUTS }, 0xabcdef);
}

/** Creates the flow orig -> its plain reverse and touches it with the first packet. */
function open(c: Conntrack, t: FlowTuple, nowMs: number, flags = 0): number {
  const reply = new FlowTuple().reverseOf(t);
  const f = c.create(t, reply, initialTimeoutClass(t.proto), nowMs);
  if (f >= 0) c.touch(f * 2, nowMs, 60, flags);
  return f;
}

describe('FlowTuple', () => {
  it('reverses TCP/UDP by swapping addresses and ports', () => {
    const t = new FlowTuple().set(WEB, DB, 49152, 5432, 6, 3);
    const r = new FlowTuple().reverseOf(t);
    expect([r.src >>> 0, r.dst >>> 0, r.sport, r.dport, r.proto, r.zone]).toEqual([DB, WEB, 5432, 49152, 6, 3]);
  });

  it('keys ICMP queries on identifier and type, and pairs echo with echo reply', () => {
    const t = new FlowTuple().setIcmp(WEB, NET, 8, 0, 0x1234, 0);
    expect([t.sport, t.dport, t.proto]).toEqual([0x1234, 8 << 8, 1]);
    const r = new FlowTuple().reverseOf(t);
    expect([r.src >>> 0, r.dst >>> 0, r.sport, r.dport]).toEqual([NET, WEB, 0x1234, 0]);
    expect(new FlowTuple().setIcmp(NET, WEB, 0, 0, 0x1234, 0)).toEqual(r); // the echo reply packet's own key
    for (const [a, b] of [[8, 0], [13, 14], [15, 16], [17, 18]]) {
      expect(icmpPairedType(a)).toBe(b);
      expect(icmpPairedType(b)).toBe(a);
    }
    // an error message has no identifier and no paired type
    const err = new FlowTuple().setIcmp(WEB, NET, 3, 4, 0x9999, 0);
    expect([err.sport, err.dport]).toEqual([0, (3 << 8) | 4]);
    expect(new FlowTuple().reverseOf(err).dport).toBe((3 << 8) | 4);
  });

  it('drops ports for protocols other than TCP/UDP/ICMP', () => {
    const r = new FlowTuple().reverseOf(new FlowTuple().set(WEB, NET, 1, 2, 47, 0));
    expect([r.src >>> 0, r.dst >>> 0, r.sport, r.dport, r.proto]).toEqual([NET, WEB, 0, 0, 47]);
  });
});

describe('Conntrack', () => {
  it('finds a flow in both directions with the direction in the flowRef', () => {
    const c = ct();
    const t = new FlowTuple().set(WEB, DB, 49152, 5432, 6, 0);
    const f = open(c, t, 1000, SYN);
    expect(f).toBeGreaterThanOrEqual(0);
    const o = c.lookup(WEB, DB, 49152, 5432, 6, 0);
    const r = c.lookup(DB, WEB, 5432, 49152, 6, 0);
    expect([flowOfRef(o), dirOfRef(o)]).toEqual([f, 0]);
    expect([flowOfRef(r), dirOfRef(r)]).toEqual([f, 1]);
    expect(c.lookup(DB, WEB, 5432, 49153, 6, 0)).toBe(NO_FLOW);
    expect(c.lookup(WEB, DB, 49152, 5432, 6, 1)).toBe(NO_FLOW); // another zone
    expect(c.lookupTuple(t)).toBe(o);
    expect(c.entries).toBe(1);
    expect(c.table.size).toBe(2);
  });

  it('records the admitting policy and counts packets and bytes per direction', () => {
    const c = ct();
    const t = new FlowTuple().set(WEB, DB, 40000, 80, 6, 0);
    const f = c.create(t, new FlowTuple().reverseOf(t), TimeoutClass.Tcp, 5, 7, 2, 3, FlowFlag.TrackedIngress);
    c.touch(f * 2, 5, 74, SYN);
    c.touch(f * 2 + 1, 6, 74, SYN | ACK);
    c.touch(f * 2, 7, 66, ACK);
    const p = c.pool;
    expect([p.epoch[f], p.egressInstance[f], p.ingressInstance[f]]).toEqual([7, 2, 3]);
    expect(p.flags[f] & TRACKED_BOTH).toBe(FlowFlag.TrackedIngress);
    expect(p.flags[f] & FlowFlag.SeenReply).toBe(FlowFlag.SeenReply);
    expect([p.packets[f * 2], p.packets[f * 2 + 1], p.bytes[f * 2], p.bytes[f * 2 + 1]]).toEqual([2, 1, 140, 74]);
    expect(p.createdMs[f]).toBe(5);
    expect(p.lastSeenMs[f]).toBe(7);
    expect(p.tcpState[f]).toBe(TcpState.Established);
  });

  it('moves TCP between the non-established and established timeout classes', () => {
    const c = ct();
    const t = new FlowTuple().set(WEB, NET, 40000, 443, 6, 0);
    const f = open(c, t, 0, SYN);
    expect(c.pool.timeoutClass[f]).toBe(TimeoutClass.Tcp);
    expect(c.deadlineMs(f)).toBe(60_000);
    expect(c.touch(f * 2 + 1, 10, 60, SYN | ACK)).toBe(TimeoutClass.Tcp);
    expect(c.touch(f * 2, 20, 60, ACK)).toBe(TimeoutClass.TcpEstablished);
    expect(c.deadlineMs(f)).toBe(20 + 432_000_000);
    expect(c.touch(f * 2, 30, 60, FIN | ACK)).toBe(TimeoutClass.Tcp);
    expect(c.touch(f * 2 + 1, 40, 60, RST)).toBe(TimeoutClass.Tcp);
    expect(c.pool.tcpState[f]).toBe(TcpState.Closed);
  });

  it('keeps a one-way or single request-response UDP flow in udp, promotes on the second transaction', () => {
    const c = ct();
    const dns = new FlowTuple().set(WEB, NET, 5353, 53, 17, 0);
    const f = open(c, dns, 0);
    expect(c.pool.timeoutClass[f]).toBe(TimeoutClass.Udp);
    expect(c.touch(f * 2, 1, 60, 0)).toBe(TimeoutClass.Udp); // still one direction
    expect(c.touch(f * 2 + 1, 2, 60, 0)).toBe(TimeoutClass.Udp); // first response: one transaction
    expect(c.touch(f * 2 + 1, 3, 60, 0)).toBe(TimeoutClass.Udp); // more of the same response
    expect(c.deadlineMs(f)).toBe(3 + 30_000);
    expect(c.touch(f * 2, 4, 60, 0)).toBe(TimeoutClass.Udp); // second request, unanswered yet
    expect(c.touch(f * 2 + 1, 5, 60, 0)).toBe(TimeoutClass.UdpStream); // second transaction
    expect(c.deadlineMs(f)).toBe(5 + 180_000);
    expect(c.touch(f * 2, 6, 60, 0)).toBe(TimeoutClass.UdpStream); // stays a stream
    expect(c.pool.udpTransactions[f]).toBe(2);

    const oneWay = open(c, new FlowTuple().set(WEB, NET, 5000, 514, 17, 0), 0);
    for (let i = 1; i < 50; i++) expect(c.touch(oneWay * 2, i, 100, 0)).toBe(TimeoutClass.Udp);
  });

  it('tracks other protocols by (src, dst, proto) only, in the 600 s class', () => {
    const c = ct();
    const gre = new FlowTuple().set(WEB, NET, 1234, 5678, 47, 0); // ports ignored
    const f = open(c, gre, 0);
    expect(c.pool.timeoutClass[f]).toBe(TimeoutClass.Other);
    expect(c.lookup(NET, WEB, 9, 9, 47, 0)).toBe(f * 2 + 1);
    expect(c.lookup(WEB, NET, 0, 0, 47, 0)).toBe(f * 2);
    expect(c.lookup(NET, WEB, 0, 0, 50, 0)).toBe(NO_FLOW);
    expect(c.deadlineMs(f)).toBe(600_000);
  });

  it('tracks ICMP echo by identifier and finds the echo reply', () => {
    const c = ct();
    const f = open(c, new FlowTuple().setIcmp(WEB, NET, 8, 0, 77, 0), 0);
    const reply = new FlowTuple().setIcmp(NET, WEB, 0, 0, 77, 0);
    expect(c.lookupTuple(reply)).toBe(f * 2 + 1);
    expect(c.lookupTuple(new FlowTuple().setIcmp(NET, WEB, 0, 0, 78, 0))).toBe(NO_FLOW);
    expect(c.pool.timeoutClass[f]).toBe(TimeoutClass.Icmp);
  });

  it('refuses new flows at max with FULL and counts them; existing flows stay found', () => {
    const c = ct(4);
    const tuples = [0, 1, 2, 3].map((i) => new FlowTuple().set(WEB, DB, 40000 + i, 80, 6, 0));
    const flows = tuples.map((t) => open(c, t, 0, SYN));
    expect(flows.every((f) => f >= 0)).toBe(true);
    expect(c.allowanceAvailable).toBe(0);
    const extra = new FlowTuple().set(WEB, DB, 50000, 80, 6, 0);
    expect(c.create(extra, new FlowTuple().reverseOf(extra), TimeoutClass.Tcp, 1)).toBe(FULL);
    expect(c.create(extra, new FlowTuple().reverseOf(extra), TimeoutClass.Tcp, 2)).toBe(FULL);
    expect(c.allowanceExceeded).toBe(2);
    expect(c.counters[CtCounter.AllowanceExceeded]).toBe(2);
    expect(c.entries).toBe(4);
    tuples.forEach((t, i) => {
      expect(c.lookupTuple(t)).toBe(flows[i] * 2);
      expect(c.lookup(DB, WEB, 80, t.sport, 6, 0)).toBe(flows[i] * 2 + 1);
    });
    expect(c.lookupTuple(extra)).toBe(NO_FLOW);
    // once one flow is gone, a new one fits
    c.remove(flows[1]);
    expect(c.lookupTuple(tuples[1])).toBe(NO_FLOW);
    expect(open(c, extra, 3, SYN)).toBeGreaterThanOrEqual(0);
    expect(c.entries).toBe(4);
  });

  it('refuses a flow whose reply key belongs to another flow, leaving nothing behind', () => {
    const c = ct();
    const a = new FlowTuple().set(WEB, NET, 40000, 443, 6, 0);
    open(c, a, 0, SYN);
    // b's reply key equals a's reply key (as a bad NAT choice would make it)
    const b = new FlowTuple().set(DB, NET, 40000, 443, 6, 0);
    expect(c.create(b, new FlowTuple().reverseOf(a), TimeoutClass.Tcp, 0)).toBe(KEY_EXISTS);
    expect(c.create(a, new FlowTuple().reverseOf(a), TimeoutClass.Tcp, 0)).toBe(KEY_EXISTS); // orig exists
    expect(c.counters[CtCounter.KeyCollisions]).toBe(2);
    expect(c.lookupTuple(b)).toBe(NO_FLOW);
    expect(c.entries).toBe(1);
    expect(c.table.size).toBe(2);
  });

  it('stores one key for a flow whose reply key equals its orig key', () => {
    const c = ct();
    const self = new FlowTuple().set(WEB, WEB, 7, 7, 17, 0);
    const f = open(c, self, 0);
    expect(c.table.size).toBe(1);
    expect(c.lookupTuple(self)).toBe(f * 2);
    c.remove(f);
    expect(c.table.size).toBe(0);
    expect(c.entries).toBe(0);
  });

  it('sweeps idle flows by class, bounded, with fields readable in the callback', () => {
    const c = ct(64);
    const udp = open(c, new FlowTuple().set(WEB, NET, 1000, 53, 17, 0), 0);
    const tcp = open(c, new FlowTuple().set(WEB, NET, 1001, 443, 6, 0), 0, SYN);
    const icmp = open(c, new FlowTuple().setIcmp(WEB, NET, 8, 0, 1, 0), 0);
    const seen: [number, number, number][] = [];
    const onExpire = (f: number): void => {
      seen.push([f, c.pool.proto[f], c.pool.packets[f * 2]]);
    };
    expect(c.sweep(29_999, 100, onExpire)).toBe(0);
    expect(c.sweep(30_000, 100, onExpire)).toBe(1);
    expect(seen).toEqual([[udp, 17, 1]]);
    expect(c.lookup(WEB, NET, 1000, 53, 17, 0)).toBe(NO_FLOW);
    expect(c.lookup(NET, WEB, 53, 1000, 17, 0)).toBe(NO_FLOW);
    c.touch(tcp * 2 + 1, 59_000, 60, SYN | ACK);
    expect(c.sweep(60_000, 100, onExpire)).toBe(1); // icmp; tcp was refreshed
    expect(seen.map((s) => s[0])).toEqual([udp, icmp]);
    expect(c.sweep(119_000, 100, null)).toBe(1);
    expect(c.entries).toBe(0);
    expect(c.table.size).toBe(0);
    expect(c.counters[CtCounter.Expired]).toBe(3);
    expect(c.counters[CtCounter.Created]).toBe(3);

    // the budget bounds one sweep
    for (let i = 0; i < 50; i++) open(c, new FlowTuple().set(WEB, NET, 2000 + i, 53, 17, 0), 200_000);
    expect(c.sweep(300_000, 20, null)).toBe(20);
    expect(c.entries).toBe(30);
    expect(c.sweep(300_000, 20, null)).toBe(20);
    expect(c.sweep(300_000, 20, null)).toBe(10);
  });

  it('reuses freed indices and their fields start clean', () => {
    const c = ct(2);
    const t = new FlowTuple().set(WEB, NET, 1, 2, 6, 0);
    const f = open(c, t, 0, SYN);
    c.touch(f * 2 + 1, 1, 100, SYN | ACK);
    c.remove(f);
    c.remove(f); // twice: no effect
    expect(c.entries).toBe(0);
    const g = open(c, new FlowTuple().set(WEB, NET, 3, 4, 17, 0), 5);
    expect(g).toBe(f);
    expect([c.pool.packets[g * 2 + 1], c.pool.bytes[g * 2 + 1], c.pool.tcpState[g], c.pool.flags[g] & FlowFlag.SeenReply]).toEqual([0, 0, 0, 0]);
    expect(c.pool.flags[g] & TRACKED_BOTH).toBe(TRACKED_BOTH);
  });

  it('applies new timeouts to existing flows', () => {
    const c = ct();
    const f = open(c, new FlowTuple().set(WEB, NET, 1, 53, 17, 0), 1000);
    c.setTimeouts({ ...TIMEOUTS, udp: 60 });
    expect(c.deadlineMs(f)).toBe(61_000);
    expect(c.sweep(31_000, 10, null)).toBe(0);
    expect(c.sweep(61_000, 10, null)).toBe(1);
  });

  it('survives a long random run with the table and pool consistent', () => {
    const c = ct(256);
    let x = 7;
    const rnd = (n: number): number => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x % n;
    };
    const t = new FlowTuple();
    const r = new FlowTuple();
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      now += rnd(50);
      const proto = [6, 17, 1, 47][rnd(4)];
      if (proto === 1) t.setIcmp(WEB, NET + rnd(8), 8, 0, rnd(64), 0);
      else t.set(WEB, NET + rnd(8), 1024 + rnd(64), 80, proto, 0);
      let ref = c.lookupTuple(t);
      if (ref === NO_FLOW) {
        const f = c.create(t, r.reverseOf(t), initialTimeoutClass(proto), now);
        if (f < 0) continue;
        ref = f * 2;
      }
      if (rnd(3) === 0) ref |= 1;
      c.touch(ref, now, 100, [SYN, ACK, ACK | PSH, FIN, RST][rnd(5)]);
      if (rnd(10) === 0) c.sweep(now, 8, null);
      expect(c.table.size).toBe(c.entries * 2);
    }
    c.sweep(now + 1e9, 1e6, null);
    expect(c.entries).toBe(0);
    expect(c.table.size).toBe(0);
  });
});
