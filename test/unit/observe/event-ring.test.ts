/**
 * The event ring: records come out in order, a full ring refuses and counts
 * every record it could not take (and says so once per drain), and the
 * per-packet path stays allocation-free whether observers listen or not
 * (the no-gc pattern of test/unit/pipeline/no-gc.test.ts: a count of
 * garbage collections over about a second of frames, never a timing).
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { EventRing, EventType, F, RECORD_WORDS } from '../../../src/observe/event-ring.js';
import { Harness } from '../../helpers/dp-harness.js';
import { ethIpv4Tcp, TCP_SYN } from '../../helpers/frames.js';
import { VNET_HDR_LEN } from '../../../src/pipeline/batch.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';

describe('event ring', () => {
  it('keeps order across wrap-around and counts what a full ring refuses', () => {
    const r = new EventRing(8);
    const read: number[] = [];
    const collect = (ring: EventRing, slot: number): void => { read.push(ring.words[slot * RECORD_WORDS + F.Src]!); };
    for (let i = 0; i < 5; i++) r.put(EventType.Flow, 1, 0, 0, -1, -1, -1, 6, i, 0, 0, 0);
    expect(r.drain(collect, 3)).toBe(0);
    expect(read).toEqual([0, 1, 2]);
    for (let i = 5; i < 20; i++) r.put(EventType.Flow, 1, 0, 0, -1, -1, -1, 6, i, 0, 0, 0);
    // 2 were waiting, 6 more fit, 9 were refused
    expect(r.size).toBe(8);
    expect(r.lostTotal).toBe(9);
    expect(r.drain(collect)).toBe(9);
    expect(read).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // the loss is told once; the total stays
    expect(r.drain(collect)).toBe(0);
    expect(r.lostTotal).toBe(9);
  });

  it('refuses a capacity that is not a power of two', () => {
    expect(() => new EventRing(6)).toThrow(RangeError);
  });
});

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
securityGroups:
  client: { egress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  server: { ingress: [ { protocol: tcp, ports: 443, cidr: 198.18.1.0/24 } ] }
instances:
  c1: { subnet: sa, ip: 198.18.1.10, securityGroups: [client] }
  s1: { subnet: sb, ip: 198.18.2.20, securityGroups: [server] }
`;

/** Frames that make events: new flows refused (port 22) and accepted (443, a new source port each run). */
function gcDuring(active: boolean): Promise<{ gcs: string[]; frames: number; lost: number; size: number }> {
  const h = new Harness(YAML, { security: true, slots: 64 });
  const mc = instanceMac('t', 'c1'), ra = routerMac('t', 'sa');
  const frames: Buffer[] = [];
  for (let i = 0; i < 32; i++) {
    frames.push(ethIpv4Tcp({ srcMac: mc, dstMac: ra, src: '198.18.1.10', dst: '198.18.2.20', sport: 30000 + i, dport: 22, flags: TCP_SYN, seq: 1, ack: 0 }));
  }
  const ev = h.dp.events;
  ev.active = active;
  const b = h.batch;
  const spin = (loops: number): void => {
    for (let n = 0; n < loops; n++) {
      b.reset();
      for (let i = 0; i < frames.length; i++) {
        const off = i * b.slotSize;
        b.arena.fill(0, off, off + VNET_HDR_LEN);
        b.arena.set(frames[i]!, off + VNET_HDR_LEN);
        b.rxPort[i] = h.port('c1');
        b.rxOff[i] = off;
        b.rxLen[i] = frames[i]!.length + VNET_HDR_LEN;
      }
      b.count = frames.length;
      h.now += 1;
      h.dp.processBatch(b, h.now);
    }
  };
  spin(2000);
  const gcs: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => { gcs.push(...list.getEntries()); });
  obs.observe({ entryTypes: ['gc'] });
  return new Promise((resolve) => setTimeout(() => {
    const before = gcs.length;
    const t0 = performance.now();
    let sent = 0;
    while (performance.now() - t0 < 1000) {
      spin(200);
      sent += 200 * frames.length;
    }
    const t1 = performance.now();
    setTimeout(() => {
      obs.disconnect();
      const during = gcs.slice(before).filter((e) => e.startTime >= t0 && e.startTime <= t1);
      resolve({ gcs: during.map((e) => `${e.name} at +${Math.round(e.startTime - t0)} ms`), frames: sent, lost: ev.lostTotal, size: ev.size });
    }, 50);
  }, 50));
}

describe('the packet path with the event ring', () => {
  it('no observer: nothing written, 0 garbage collections', async () => {
    const r = await gcDuring(false);
    console.log(`event ring off: ${r.frames} frames, ${r.gcs.length} garbage collections`);
    expect(r.frames).toBeGreaterThan(10_000);
    expect(r.size).toBe(0);
    expect(r.lost).toBe(0);
    expect(r.gcs).toEqual([]);
  });

  it('an observer that never drains: the ring fills, losses are counted, 0 garbage collections', async () => {
    const r = await gcDuring(true);
    console.log(`event ring on, not drained: ${r.frames} frames, ${r.lost} events lost, ${r.gcs.length} garbage collections`);
    expect(r.size).toBe(4096);
    expect(r.lost).toBe(r.frames + 2000 * 32 - 4096);
    expect(r.gcs).toEqual([]);
  });
});
