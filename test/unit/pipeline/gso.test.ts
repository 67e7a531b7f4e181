import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { completeChecksum, segmentTcp4 } from '../../../src/pipeline/gso.js';
import { ipv4Packet, tcpSegment4, udpDatagram4, refChecksum, refSum } from '../../helpers/frames.js';

function tcpValid(p: Uint8Array): boolean {
  const b = Buffer.from(p);
  const ihl = (b[0]! & 15) * 4;
  const l4 = b.subarray(ihl, b.readUInt16BE(2));
  const ph = Buffer.alloc(12);
  b.copy(ph, 0, 12, 20);
  ph[9] = b[9]!;
  ph.writeUInt16BE(l4.length, 10);
  return refChecksum(Buffer.concat([ph, l4])) === 0;
}

describe('software GSO and checksum completion', () => {
  it('splits a TCP super-frame into MSS-sized segments with exact headers and checksums', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 20000 }), fc.integer({ min: 200, max: 1460 }), fc.constantFrom(0x18, 0x19, 0x10), (plen, mss, flags) => {
      const payload = Buffer.alloc(plen, 7);
      for (let i = 0; i < plen; i++) payload[i] = i & 0xff;
      const pkt = ipv4Packet({ src: '198.18.1.10', dst: '198.19.1.10', proto: 6, id: 100, payload: tcpSegment4('198.18.1.10', '198.19.1.10', { sport: 1, dport: 2, seq: 1000, flags, payload }) });
      const out = new Uint8Array(pkt.length * 2 + 200_000);
      const segs: Buffer[] = [];
      const n = segmentTcp4(pkt, 0, pkt.length, mss, out, 0, (o, l) => segs.push(Buffer.from(out.subarray(o, o + l))));
      expect(n).toBe(Math.max(1, Math.ceil(plen / mss)));
      let got = Buffer.alloc(0);
      segs.forEach((s, i) => {
        expect(refChecksum(s.subarray(0, 20))).toBe(0);
        expect(tcpValid(s)).toBe(true);
        expect(s.readUInt16BE(4)).toBe(100 + i);
        expect(s.readUInt32BE(24)).toBe(1000 + i * mss);
        const f = s[33]!;
        if (i < segs.length - 1) expect(f & 0x09).toBe(0); else expect(f).toBe(flags);
        got = Buffer.concat([got, s.subarray(40)]);
      });
      expect(got.equals(payload)).toBe(true);
    }), { numRuns: 200 });
  });

  it('completes a NEEDS_CSUM (pseudo-header) checksum for TCP and UDP', () => {
    for (const proto of [6, 17]) {
      const l4 = proto === 6 ? tcpSegment4('198.18.1.10', '198.19.1.10', { sport: 5, dport: 6, payload: Buffer.from('hello') })
        : udpDatagram4('198.18.1.10', '198.19.1.10', { sport: 5, dport: 6, payload: Buffer.from('hello') });
      const pkt = ipv4Packet({ src: '198.18.1.10', dst: '198.19.1.10', proto, payload: l4 });
      const frame = Buffer.concat([Buffer.alloc(10), Buffer.alloc(14), pkt]);
      const co = proto === 6 ? 16 : 6;
      const ph = Buffer.alloc(12);
      pkt.copy(ph, 0, 12, 20); ph[9] = proto; ph.writeUInt16BE(l4.length, 10);
      frame.writeUInt16BE(refSum(ph), 10 + 14 + 20 + co);
      frame[0] = 1; // NEEDS_CSUM
      frame.writeUInt16LE(14 + 20, 6);
      frame.writeUInt16LE(co, 8);
      completeChecksum(frame, 0, 10, frame.length);
      expect(frame[0]).toBe(0);
      expect(tcpValid(frame.subarray(24))).toBe(true);
    }
  });
});
