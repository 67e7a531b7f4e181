/**
 * clampTcpMss, the packet path's MSS clamp for VPN tunnels: what it rewrites,
 * what it leaves alone, and its incremental checksum update (RFC 1624) equal
 * to a full recomputation (seeded property over random SYNs, option layouts,
 * IPv4 options and payloads).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clampTcpMss } from '../../../src/wire/tcp-mss.js';
import { ipv4Packet, refChecksum, tcpSegment4, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';

const src = '198.18.1.10';
const dst = '198.19.2.20';

function assertProperty<Ts extends [unknown, ...unknown[]]>(label: string, property: fc.IProperty<Ts>, seed: number, numRuns: number): void {
  const details = fc.check(property, { seed, numRuns });
  console.log(`property "${label}": seed ${seed}, ${details.numRuns} cases${details.failed ? ', FAILED' : ''}`);
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `property "${label}" failed (seed ${seed})`);
}

/** An IPv4 packet carrying a TCP segment; `mssFirst` false puts two NOPs and a SACK-permitted option before the MSS. */
function syn(mss: number | undefined, flags = TCP_SYN, o: { ipOptions?: readonly number[]; mssFirst?: boolean; options?: readonly number[] } = {}): Buffer {
  const before = o.mssFirst === false ? [1, 1, 4, 2] : [];
  const mssOpt = mss === undefined ? [] : [2, 4, mss >> 8, mss & 0xff];
  const seg = tcpSegment4(src, dst, { sport: 40000, dport: 443, flags, options: [...before, ...mssOpt, ...(o.options ?? [])] });
  return ipv4Packet({ src, dst, proto: 6, payload: seg, ...(o.ipOptions === undefined ? {} : { options: [...o.ipOptions] }) });
}

/** Offset of the MSS value in a packet from syn(). */
function mssOff(p: Buffer, mssFirst = true): number {
  return ((p[0]! & 15) << 2) + 20 + (mssFirst ? 0 : 4) + 2;
}

/** Full recomputation: the segment with its pseudo-header sums to 0xFFFF. */
function tcpOk(p: Buffer): boolean {
  const ihl = (p[0]! & 15) << 2;
  const seg = p.subarray(ihl);
  const ph = Buffer.alloc(12);
  p.copy(ph, 0, 12, 20);
  ph[9] = 6;
  ph.writeUInt16BE(seg.length, 10);
  return refChecksum(Buffer.concat([ph, seg])) === 0;
}

describe('clampTcpMss', () => {
  it('lowers a larger MSS with a valid checksum; leaves smaller ones, non-SYNs and SYNs without the option', () => {
    const p = syn(1460);
    expect(clampTcpMss(p, 0, p.length, 1398)).toBe(true);
    expect(p.readUInt16BE(mssOff(p))).toBe(1398);
    expect(tcpOk(p)).toBe(true);
    const small = syn(1200);
    expect(clampTcpMss(small, 0, small.length, 1398)).toBe(false);
    expect(small.readUInt16BE(mssOff(small))).toBe(1200);
    const equal = syn(1398);
    expect(clampTcpMss(equal, 0, equal.length, 1398)).toBe(false);
    const ack = syn(1460, TCP_ACK);
    expect(clampTcpMss(ack, 0, ack.length, 1398)).toBe(false);
    expect(ack.readUInt16BE(mssOff(ack))).toBe(1460);
    const synAck = syn(8960, TCP_SYN | TCP_ACK);
    expect(clampTcpMss(synAck, 0, synAck.length, 1398)).toBe(true);
    expect(tcpOk(synAck)).toBe(true);
    const none = syn(undefined);
    const before = Buffer.from(none);
    expect(clampTcpMss(none, 0, none.length, 1398)).toBe(false);
    expect(none.equals(before)).toBe(true);
  });

  it('finds the option after others and behind IPv4 options, at a non-zero offset', () => {
    const p = syn(1460, TCP_SYN, { mssFirst: false, ipOptions: [1, 1, 1, 0] });
    const buf = Buffer.concat([Buffer.alloc(14, 0xaa), p]);
    expect(clampTcpMss(buf, 14, p.length, 1000)).toBe(true);
    const q = buf.subarray(14);
    expect(q.readUInt16BE(mssOff(q, false))).toBe(1000);
    expect(tcpOk(q)).toBe(true);
    expect(buf.subarray(0, 14).every((b) => b === 0xaa)).toBe(true);
  });

  it('ignores non-TCP, non-first fragments, bad lengths and a clamp outside 0..65535 without throwing', () => {
    const p = syn(1460);
    const untouched = (b: Buffer, off: number, len: number, mss: number): void => {
      const copy = Buffer.from(b);
      expect(clampTcpMss(b, off, len, mss)).toBe(false);
      expect(b.equals(copy)).toBe(true);
    };
    const udp = Buffer.from(p);
    udp[9] = 17;
    untouched(udp, 0, udp.length, 1000);
    const frag = Buffer.from(p);
    frag.writeUInt16BE(0x0001, 6);
    untouched(frag, 0, frag.length, 1000);
    const v6 = Buffer.from(p);
    v6[0] = 0x65;
    untouched(v6, 0, v6.length, 1000);
    untouched(Buffer.from(p), 0, 30, 1000); // TCP header cut short
    untouched(Buffer.from(p), 0, p.length + 1, 1000); // past the buffer
    untouched(Buffer.from(p), -1, p.length, 1000);
    untouched(Buffer.from(p), 0, NaN, 1000); // no length at all
    untouched(Buffer.from(p), 0, 19, 1000);
    untouched(Buffer.from(p), 0, p.length, -40); // a tunnel with no room reports 0 - 40
    untouched(Buffer.from(p), 0, p.length, 70000);
    untouched(Buffer.from(p), 0, p.length, 1000.5);
    const df = Buffer.from(p);
    df.writeUInt16BE(0x4000, 6); // DF alone is not a fragment
    expect(clampTcpMss(df, 0, df.length, 1000)).toBe(true);
  });

  it('clamps to 0, the lowest value inside 0..65535', () => {
    const p = syn(1460);
    expect(clampTcpMss(p, 0, p.length, 0)).toBe(true);
    expect(p.readUInt16BE(mssOff(p))).toBe(0);
    expect(tcpOk(p)).toBe(true);
  });

  it('leaves a SYN without an MSS option alone whatever precedes the segment (no read of a missing option)', () => {
    // TOS 0xff and a large total length: bytes a stray read at offset -1 + 2 would take for an MSS of 0xff00+
    const seg = tcpSegment4(src, dst, { sport: 40000, dport: 443, flags: TCP_SYN, options: [1, 1, 1, 1], payload: Buffer.alloc(300) });
    const p = ipv4Packet({ src, dst, proto: 6, tos: 0xff, payload: seg });
    const copy = Buffer.from(p);
    expect(clampTcpMss(p, 0, p.length, 1000)).toBe(false);
    expect(p.equals(copy)).toBe(true);
  });

  it('refuses an IPv4 header length below 20 even when the bytes at the claimed offset look like a SYN with an MSS', () => {
    // IHL 4 puts a would-be TCP header at offset 16: its data-offset/flags bytes (28, 29) are the real
    // header's acknowledgment number, set here to 0x60 0x02 (24-byte header, SYN), and its option at 36
    // is the real header's checksum and urgent pointer, set here to an MSS option of 1460.
    const seg = tcpSegment4(src, dst, { sport: 40000, dport: 443, flags: TCP_SYN, ack: 0x60020000 });
    const p = ipv4Packet({ src, dst, proto: 6, payload: seg });
    p.set([2, 4, 0x05, 0xb4], 36);
    // With IHL 5 the would-be header is the real one, a SYN without the option: nothing to clamp.
    expect(clampTcpMss(Buffer.from(p), 0, p.length, 1000)).toBe(false);
    // With IHL 4 only the IHL check stands between this packet and a rewrite of bytes 38-39.
    p[0] = 0x44;
    const copy = Buffer.from(p);
    expect(clampTcpMss(p, 0, p.length, 1000)).toBe(false);
    expect(p.equals(copy)).toBe(true);
  });

  it('never throws on garbage (seeded property)', () => {
    assertProperty('clampTcpMss on random bytes and ranges', fc.property(
      fc.uint8Array({ maxLength: 100 }), fc.integer({ min: -3, max: 110 }), fc.integer({ min: -3, max: 110 }), fc.integer({ min: -50, max: 70000 }),
      (b, off, len, mss) => {
        expect(typeof clampTcpMss(Buffer.from(b), off, len, mss)).toBe('boolean');
      }), 1624, 500);
  });

  it('incremental update equals full recomputation (seeded property)', () => {
    assertProperty('MSS clamp keeps the TCP checksum valid', fc.property(
      fc.integer({ min: 536, max: 65535 }),
      fc.integer({ min: 500, max: 65535 }),
      fc.boolean(),
      fc.array(fc.constantFrom([1], [4, 2], [3, 3, 7], [8, 10, 1, 2, 3, 4, 5, 6, 7, 8]), { maxLength: 3 }),
      fc.constantFrom(undefined, [1, 1, 1, 0], [7, 7, 4, 0, 0, 0, 0, 0]),
      fc.uint8Array({ maxLength: 64 }),
      (mss, clamp, mssFirst, opts, ipOptions, payload) => {
        const base = syn(mss, TCP_SYN, { mssFirst, options: opts.flat(), ...(ipOptions === undefined ? {} : { ipOptions }) });
        const p = Buffer.concat([base, Buffer.from(payload)]);
        p.writeUInt16BE(p.length, 2); // the payload belongs to the segment: fix IPv4 length and TCP checksum
        const ihl = (p[0]! & 15) << 2;
        p.writeUInt16BE(0, ihl + 16);
        const ph = Buffer.alloc(12);
        p.copy(ph, 0, 12, 20);
        ph[9] = 6;
        ph.writeUInt16BE(p.length - ihl, 10);
        p.writeUInt16BE(refChecksum(Buffer.concat([ph, p.subarray(ihl)])), ihl + 16);
        expect(tcpOk(p)).toBe(true);
        const changed = clampTcpMss(p, 0, p.length, clamp);
        expect(changed).toBe(mss > clamp);
        expect(p.readUInt16BE(mssOff(p, mssFirst))).toBe(Math.min(mss, clamp));
        expect(tcpOk(p)).toBe(true);
      }), 0x1624, 500);
  });
});
