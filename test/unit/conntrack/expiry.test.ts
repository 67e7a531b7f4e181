import { describe, expect, it } from 'vitest';
import { ExpiryLists, NO_CLASS, TimeoutClass, timeoutsMs } from '../../../src/conntrack/expiry.js';

const A = 0;
const B = 1;

describe('ExpiryLists', () => {
  it('keeps each class ordered by last activity: touch moves a flow to the tail', () => {
    const e = new ExpiryLists(8, [1000, 5000]);
    e.touch(3, A, 10);
    e.touch(1, A, 20);
    e.touch(5, A, 30);
    expect(e.listOf(A)).toEqual([3, 1, 5]);
    e.touch(3, A, 40);
    expect(e.listOf(A)).toEqual([1, 5, 3]);
    e.touch(3, A, 50); // already the tail: stays
    expect(e.listOf(A)).toEqual([1, 5, 3]);
    expect(e.lastSeenMs[3]).toBe(50);
    expect(e.listOf(A)[0]).toBe(1); // the oldest is the next to expire
  });

  it('moves a flow between classes', () => {
    const e = new ExpiryLists(8, [1000, 5000]);
    e.touch(2, A, 0);
    e.touch(4, A, 1);
    e.touch(2, B, 2);
    expect(e.listOf(A)).toEqual([4]);
    expect(e.listOf(B)).toEqual([2]);
    expect(e.cls[2]).toBe(B);
    expect(e.deadlineMs(2)).toBe(5002);
    expect(e.deadlineMs(4)).toBe(1001);
  });

  it('unlinks from the head, middle and tail, and twice harmlessly', () => {
    const e = new ExpiryLists(8, [1000]);
    for (let f = 0; f < 5; f++) e.touch(f, A, f);
    e.unlink(2);
    expect(e.listOf(A)).toEqual([0, 1, 3, 4]);
    e.unlink(0);
    e.unlink(4);
    expect(e.listOf(A)).toEqual([1, 3]);
    e.unlink(4);
    expect(e.cls[4]).toBe(NO_CLASS);
    expect(e.deadlineMs(4)).toBe(Infinity);
    e.unlink(1);
    e.unlink(3);
    expect(e.listOf(A)).toEqual([]);
    e.touch(3, A, 9); // an emptied list takes flows again
    expect(e.listOf(A)).toEqual([3]);
  });

  it('sweeps only flows idle for their class timeout, oldest first, per class', () => {
    const e = new ExpiryLists(16, [100, 1000]);
    e.touch(0, A, 0);
    e.touch(1, B, 0);
    e.touch(2, A, 50);
    e.touch(3, B, 500);
    e.touch(4, A, 80);
    const seen: number[] = [];
    const onExpire = (f: number): void => {
      expect(e.cls[f]).toBe(NO_CLASS); // unlinked before the callback
      seen.push(f);
    };
    expect(e.sweep(99, 100, onExpire)).toBe(0);
    expect(e.sweep(100, 100, onExpire)).toBe(1); // lastSeen + timeout <= now
    expect(seen).toEqual([0]);
    expect(e.sweep(180, 100, onExpire)).toBe(2);
    expect(seen).toEqual([0, 2, 4]);
    expect(e.sweep(1000, 100, onExpire)).toBe(1);
    expect(seen).toEqual([0, 2, 4, 1]);
    expect(e.listOf(B)).toEqual([3]);
  });

  it('stops at the budget and resumes where it stopped', () => {
    const e = new ExpiryLists(64, [10, 10]);
    for (let f = 0; f < 40; f++) e.touch(f, f % 2, f);
    const seen: number[] = [];
    const onExpire = (f: number): void => {
      seen.push(f);
    };
    expect(e.sweep(1000, 7, onExpire)).toBe(7);
    expect(seen).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(e.sweep(1000, 0, onExpire)).toBe(0);
    expect(e.sweep(1000, 20, onExpire)).toBe(20);
    expect(e.sweep(1000, 100, onExpire)).toBe(13);
    expect(seen.length).toBe(40);
    expect(new Set(seen).size).toBe(40);
    expect(e.sweep(1000, 100, onExpire)).toBe(0);
  });

  it('a touched flow escapes the sweep; a new timeout applies on the next sweep', () => {
    const e = new ExpiryLists(8, [100]);
    e.touch(1, A, 0);
    e.touch(2, A, 0);
    e.touch(1, A, 90);
    const seen: number[] = [];
    e.sweep(150, 10, (f) => seen.push(f));
    expect(seen).toEqual([2]);
    e.setTimeouts([20]);
    e.sweep(105, 10, (f) => seen.push(f));
    expect(seen).toEqual([2]);
    e.sweep(110, 10, (f) => seen.push(f));
    expect(seen).toEqual([2, 1]);
  });

  it('shares lastSeen/class arrays handed in by the owner', () => {
    const last = new Float64Array(4);
    const cls = new Uint8Array(4);
    const e = new ExpiryLists(4, [1], last, cls);
    expect(cls[0]).toBe(NO_CLASS);
    e.touch(0, A, 42);
    expect(last[0]).toBe(42);
    expect(cls[0]).toBe(A);
  });

  it('converts config seconds to milliseconds per TimeoutClass', () => {
    const ms = timeoutsMs({ tcpEstablished: 432000, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 });
    expect(ms[TimeoutClass.TcpEstablished]).toBe(432_000_000);
    expect(ms[TimeoutClass.Tcp]).toBe(60_000);
    expect(ms[TimeoutClass.Udp]).toBe(30_000);
    expect(ms[TimeoutClass.UdpStream]).toBe(180_000);
    expect(ms[TimeoutClass.Icmp]).toBe(60_000);
    expect(ms[TimeoutClass.Other]).toBe(600_000);
  });

  it('takes 1..254 timeout classes (255 is NO_CLASS): the first and the last class are real lists', () => {
    expect(() => new ExpiryLists(4, [])).toThrow(/1\.\.254 timeout classes/);
    expect(() => new ExpiryLists(4, new Array(255).fill(1))).toThrow(/1\.\.254 timeout classes/);
    const one = new ExpiryLists(4, [7]);
    one.touch(0, 0, 1);
    expect(one.deadlineMs(0)).toBe(8);
    const most = new ExpiryLists(4, new Array(254).fill(1));
    most.touch(0, 253, 5); // the last class is a real list
    expect(most.listOf(253)).toEqual([0]);
    expect(most.deadlineMs(0)).toBe(6);
  });

  it('refuses shared arrays shorter than the flow count, accepts exact ones', () => {
    expect(() => new ExpiryLists(4, [1], new Float64Array(3), new Uint8Array(4))).toThrow(/shared arrays too short/);
    expect(() => new ExpiryLists(4, [1], new Float64Array(4), new Uint8Array(3))).toThrow(/shared arrays too short/);
    const e = new ExpiryLists(4, [1], new Float64Array(4), new Uint8Array(4));
    e.touch(3, A, 1);
    expect(e.listOf(A)).toEqual([3]);
  });

  it('reload keeps the class count: a different number of timeouts is refused and changes nothing', () => {
    const e = new ExpiryLists(4, [100, 200]);
    expect(() => e.setTimeouts([1])).toThrow(/class count changed/);
    expect(() => e.setTimeouts([1, 2, 3])).toThrow(/class count changed/);
    e.touch(0, A, 0);
    e.touch(1, B, 0);
    expect([e.deadlineMs(0), e.deadlineMs(1)]).toEqual([100, 200]);
    e.setTimeouts([300, 400]);
    expect([e.deadlineMs(0), e.deadlineMs(1)]).toEqual([300, 400]);
  });

  it('a flow touched again at the tail of another class moves there, not only its time', () => {
    // flow 1 is the tail of A and is touched into B: it must leave A
    const e = new ExpiryLists(4, [100, 1000]);
    e.touch(0, A, 0);
    e.touch(1, A, 1);
    e.touch(1, B, 2);
    expect(e.listOf(A)).toEqual([0]);
    expect(e.listOf(B)).toEqual([1]);
    expect(e.deadlineMs(1)).toBe(1002);
    // sweeping A past its timeout expires only flow 0
    const seen: number[] = [];
    expect(e.sweep(500, 10, (f) => seen.push(f))).toBe(1);
    expect(seen).toEqual([0]);
  });

  it('sweeping a class whose head is still live goes on to the next class', () => {
    const e = new ExpiryLists(8, [1000, 10]);
    e.touch(0, A, 0); // A: not idle yet at 100
    e.touch(1, B, 0); // B: idle
    e.touch(2, B, 50);
    const seen: number[] = [];
    expect(e.sweep(100, 10, (f) => seen.push(f))).toBe(2);
    expect(seen).toEqual([1, 2]);
    expect(e.listOf(A)).toEqual([0]);
    expect(e.listOf(B)).toEqual([]);
  });
});
