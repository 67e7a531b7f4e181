/**
 * The frame builders of the packet path (src/pipeline/frames.ts), byte by
 * byte against the test's own reference encoders: IPv4 headers, ARP replies
 * in place and ARP requests, the Ethernet header towards an instance, ICMP
 * fragmentation-needed, TCP RST (with and without ACK, with data, SYN and
 * FIN), UDP (including the all-zero checksum sent as 0xffff), and scratch
 * slots with and without a virtio-net header.
 */
import { describe, expect, it } from 'vitest';
import {
  arpReplyInPlace, isEthernetIpv4Arp, takeFrame, vnetLen, writeArpRequest, writeFragNeeded, writeIpv4Header, writeL2ToInstance, writeTcpRst, writeUdp,
} from '../../../src/pipeline/frames.js';
import { PacketBatch, VNET_HDR_LEN } from '../../../src/pipeline/batch.js';
import { Counters } from '../../../src/pipeline/counters.js';
import { Ports } from '../../../src/pipeline/ports.js';
import { Topology } from '../../../src/control/topology.js';
import { parseConfig } from '../../../src/control/config.js';
import { arpRequest, ipv4Packet, refChecksum, tcpSegment4, TCP_ACK, TCP_SYN } from '../../helpers/frames.js';

const u32 = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0) | 0;
const A = '198.18.1.10', B = '203.0.113.7';

/** TCP/UDP checksum over the segment with the IPv4 pseudo-header: 0 when correct. */
function l4Sum(ip: Buffer, proto: number): number {
  const seg = ip.subarray(20);
  const ph = Buffer.alloc(12);
  ip.copy(ph, 0, 12, 20);
  ph[9] = proto;
  ph.writeUInt16BE(seg.length, 10);
  return refChecksum(Buffer.concat([ph, seg]));
}

describe('writeIpv4Header', () => {
  it('writes every field of a 20-byte header with TTL 64 and a correct checksum', () => {
    for (const df of [true, false]) {
      const out = Buffer.alloc(24, 0xee);
      writeIpv4Header(out, 2, 1234, 0xbeef, df, 17, u32(A), u32(B));
      const h = out.subarray(2, 22);
      expect(out[0]).toBe(0xee);
      expect(out[22]).toBe(0xee);
      expect(h[0]).toBe(0x45);
      expect(h[1]).toBe(0);
      expect(h.readUInt16BE(2)).toBe(1234);
      expect(h.readUInt16BE(4)).toBe(0xbeef);
      expect(h.readUInt16BE(6)).toBe(df ? 0x4000 : 0);
      expect(h[8]).toBe(64);
      expect(h[9]).toBe(17);
      expect(h.readUInt32BE(12)).toBe(u32(A) >>> 0);
      expect(h.readUInt32BE(16)).toBe(u32(B) >>> 0);
      expect(refChecksum(h)).toBe(0);
      // the checksum equals the one a reference builder writes
      const ref = ipv4Packet({ src: A, dst: B, proto: 17, id: 0xbeef, df, payload: Buffer.alloc(1234 - 20) });
      expect(h.readUInt16BE(10)).toBe(ref.readUInt16BE(10));
    }
  });
});

describe('ARP', () => {
  it('recognises Ethernet/IPv4 ARP only', () => {
    const f = arpRequest({ srcMac: '02:00:00:00:00:01', spa: A, tpa: '198.18.1.1' });
    expect(isEthernetIpv4Arp(f, 14)).toBe(true);
    const bad = (at: number, v: number): boolean => { const g = Buffer.from(f); g[at] = v; return isEthernetIpv4Arp(g, 14); };
    expect(bad(15, 6)).toBe(false); // hardware type 6
    expect(bad(14, 1)).toBe(false); // hardware type 0x0101
    expect(bad(16, 0x86)).toBe(false); // protocol 0x8600
    expect(bad(17, 0xdd)).toBe(false); // protocol 0x08dd
    expect(bad(18, 8)).toBe(false); // hardware address length 8
    expect(bad(19, 16)).toBe(false); // protocol address length 16
  });

  it('turns a request into the reply in place (to the sender hardware address, not the Ethernet source)', () => {
    const f = arpRequest({ srcMac: '02:00:00:00:00:01', spa: A, tpa: '198.18.1.1' });
    f.set([0x02, 0xee, 0xee, 0xee, 0xee, 0xee], 6); // a bridge in front rewrote the Ethernet source
    const mac = Buffer.from([0xaa, 0xbb, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    arpReplyInPlace(f, 0, mac, 2);
    expect(f.subarray(0, 6).toString('hex')).toBe('020000000001'); // back to the asker
    expect(f.subarray(6, 12).toString('hex')).toBe('021122334455');
    expect(f.readUInt16BE(12)).toBe(0x0806);
    expect(f.readUInt16BE(14)).toBe(1);
    expect(f.readUInt16BE(16)).toBe(0x0800);
    expect(f.readUInt16BE(20)).toBe(2); // reply
    expect(f.subarray(22, 28).toString('hex')).toBe('021122334455'); // sha: the answer
    expect(f.readUInt32BE(28)).toBe(u32('198.18.1.1') >>> 0); // spa: the asked-for address
    expect(f.subarray(32, 38).toString('hex')).toBe('020000000001'); // tha: the asker
    expect(f.readUInt32BE(38)).toBe(u32(A) >>> 0); // tpa: the asker's address
  });

  it('writes a broadcast request padded to 60 bytes', () => {
    const out = Buffer.alloc(80, 0xee);
    const mac = Buffer.from([0x02, 0x76, 0x75, 0x70, 0x6c, 0x6b]);
    expect(writeArpRequest(out, 4, mac, u32(A), u32(B))).toBe(60);
    const f = out.subarray(4, 64);
    const want = arpRequest({ srcMac: '02:76:75:70:6c:6b', spa: A, tpa: B });
    expect(f.subarray(0, want.length).toString('hex')).toBe(want.toString('hex'));
    expect(f.subarray(want.length).every((x) => x === 0)).toBe(true);
    expect(out.subarray(0, 4).every((x) => x === 0xee)).toBe(true);
    expect(out.subarray(64).every((x) => x === 0xee)).toBe(true);
  });
});

describe('frames towards an instance', () => {
  const cfg = parseConfig(`
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets: { sa: { cidr: 198.18.1.0/24 }, sb: { cidr: 198.18.2.0/24 } }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  b1: { subnet: sb, ip: 198.18.2.20 }
`, 't.yaml');
  const topo = new Topology(cfg, 1);

  it('uses the learned MAC when there is one, else the configured one, from the subnet router', () => {
    const ports = new Ports(new Counters(), 2);
    const out = Buffer.alloc(14);
    writeL2ToInstance(out, 0, topo, ports, 1);
    expect(out.subarray(0, 6).toString('hex')).toBe(Buffer.from(topo.instMac.subarray(6, 12)).toString('hex'));
    expect(out.subarray(6, 12).toString('hex')).toBe(Buffer.from(topo.subnetRouterMac.subarray(6, 12)).toString('hex'));
    expect(out.readUInt16BE(12)).toBe(0x0800);
    ports.learned[1] = 1;
    ports.learnedMac.set([2, 9, 9, 9, 9, 9], 6);
    writeL2ToInstance(out, 0, topo, ports, 1);
    expect(out.subarray(0, 6).toString('hex')).toBe('020909090909');
  });

  it('takes scratch slots, zeroing the virtio-net header only on ports that carry one', () => {
    const ports = new Ports(new Counters(), 2);
    ports.attachInstance(0, 0, true);
    ports.attachInstance(1, 1, false);
    const b = new PacketBatch(2, 256, 2, 128);
    b.arena.fill(0xee);
    expect(vnetLen(ports, 0)).toBe(VNET_HDR_LEN);
    expect(vnetLen(ports, 1)).toBe(0);
    const s0 = takeFrame(b, ports, 0);
    expect(s0).toBe(2 * 256);
    expect(b.arena.subarray(s0, s0 + VNET_HDR_LEN).every((x) => x === 0)).toBe(true);
    expect(b.arena[s0 + VNET_HDR_LEN]).toBe(0xee);
    const s1 = takeFrame(b, ports, 1);
    expect(s1).toBe(2 * 256 + 128);
    expect(b.arena[s1]).toBe(0xee);
    // a full batch: -1, and nothing written anywhere
    const copy = Buffer.from(b.arena);
    expect(takeFrame(b, ports, 0)).toBe(-1);
    expect(b.arena.equals(copy)).toBe(true);
  });
});

describe('ICMP fragmentation needed', () => {
  it('quotes the IPv4 header and 8 bytes, with the MTU and correct checksums', () => {
    const orig = ipv4Packet({ src: A, dst: B, proto: 6, df: true, payload: tcpSegment4(A, B, { sport: 40000, dport: 443, flags: TCP_ACK, payload: Buffer.alloc(1400, 7) }) });
    const buf = Buffer.concat([Buffer.alloc(6, 0xaa), orig]);
    const out = Buffer.alloc(100, 0xee);
    const n = writeFragNeeded(out, 3, u32('198.18.0.1'), u32(A), 1400, buf, 6, 6 + orig.length);
    expect(n).toBe(20 + 8 + 28);
    const ip = out.subarray(3, 3 + n);
    expect(out[3 + n]).toBe(0xee);
    expect(ip.readUInt16BE(2)).toBe(n);
    expect(ip.readUInt16BE(6)).toBe(0); // no DF on the error
    expect(ip[9]).toBe(1);
    expect(ip.readUInt32BE(12)).toBe(u32('198.18.0.1') >>> 0);
    expect(ip.readUInt32BE(16)).toBe(u32(A) >>> 0);
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    const ic = ip.subarray(20);
    expect(ic[0]).toBe(3);
    expect(ic[1]).toBe(4);
    expect(ic.readUInt16BE(4)).toBe(0);
    expect(ic.readUInt16BE(6)).toBe(1400);
    expect(ic.subarray(8).equals(orig.subarray(0, 28))).toBe(true);
    expect(refChecksum(ic)).toBe(0);
  });

  it('quotes no more than the packet has when it starts at an offset', () => {
    const orig = ipv4Packet({ src: A, dst: B, proto: 17, payload: Buffer.alloc(2, 3) });
    const buf = Buffer.concat([Buffer.alloc(30, 0xaa), orig, Buffer.alloc(20, 0xbb)]);
    const out = Buffer.alloc(100);
    expect(writeFragNeeded(out, 0, 1, 2, 576, buf, 30, 30 + orig.length)).toBe(20 + 8 + 22);
    expect(out.subarray(28, 50).equals(orig)).toBe(true);
  });

  it('quotes IPv4 options too, and no more than the packet has', () => {
    const orig = ipv4Packet({ src: A, dst: B, proto: 17, options: [1, 1, 1, 0], payload: Buffer.alloc(40, 3) });
    const out = Buffer.alloc(100);
    expect(writeFragNeeded(out, 0, 1, 2, 576, orig, 0, orig.length)).toBe(20 + 8 + 24 + 8);
    expect(out.subarray(28, 28 + 32).equals(orig.subarray(0, 32))).toBe(true);
    const short = orig.subarray(0, 26);
    const n = writeFragNeeded(out, 0, 1, 2, 576, short, 0, short.length);
    expect(n).toBe(20 + 8 + 26);
    expect(refChecksum(out.subarray(20, n))).toBe(0);
  });
});

describe('TCP RST', () => {
  const rst = (flags: number, payload = 0, seq = 1000, ack = 5000): Buffer => {
    const seg = tcpSegment4(A, B, { sport: 40000, dport: 443, flags, seq, ack, payload: Buffer.alloc(payload, 1) });
    const orig = ipv4Packet({ src: A, dst: B, proto: 6, payload: seg });
    const out = Buffer.alloc(60, 0xee);
    expect(writeTcpRst(out, 0, orig, 20, orig.length, u32(A), u32(B), 40000, 443)).toBe(40);
    expect(out[40]).toBe(0xee);
    return out.subarray(0, 40);
  };
  const check = (p: Buffer): void => {
    expect(p[0]).toBe(0x45);
    expect(p.readUInt16BE(2)).toBe(40);
    expect(p.readUInt16BE(6)).toBe(0x4000);
    expect(p[9]).toBe(6);
    expect(p.readUInt32BE(12)).toBe(u32(B) >>> 0); // from the segment's destination
    expect(p.readUInt32BE(16)).toBe(u32(A) >>> 0);
    expect(refChecksum(p.subarray(0, 20))).toBe(0);
    expect(p.readUInt16BE(20)).toBe(443);
    expect(p.readUInt16BE(22)).toBe(40000);
    expect(p[32]).toBe(0x50);
    expect(p.readUInt16BE(34)).toBe(0); // window
    expect(p.readUInt16BE(38)).toBe(0); // urgent pointer
    expect(l4Sum(p, 6)).toBe(0);
  };

  it('answers a segment with ACK by RST with seq = its ack', () => {
    const p = rst(TCP_ACK, 100, 1000, 0xfffffff0);
    check(p);
    expect(p.readUInt32BE(24)).toBe(0xfffffff0);
    expect(p.readUInt32BE(28)).toBe(0);
    expect(p[33]).toBe(0x04);
  });

  it('answers a segment without ACK by RST+ACK acking its data, SYN and FIN', () => {
    let p = rst(TCP_SYN, 0, 1000);
    check(p);
    expect(p.readUInt32BE(24)).toBe(0);
    expect(p.readUInt32BE(28)).toBe(1001); // SYN counts one
    expect(p[33]).toBe(0x14);
    p = rst(0x01, 10, 0xfffffffe); // FIN with 10 bytes, wrapping
    check(p);
    expect(p.readUInt32BE(28)).toBe((0xfffffffe + 10 + 1) >>> 0);
    p = rst(0x08, 7, 500); // PSH alone: data only
    check(p);
    expect(p.readUInt32BE(28)).toBe(507);
  });
});

describe('UDP', () => {
  it('writes a datagram with its checksum', () => {
    const out = Buffer.alloc(64, 0xee);
    const n = writeUdp(out, 2, 0x4242, u32(A), 500, u32(B), 4500, Buffer.from('hello'));
    expect(n).toBe(20 + 8 + 5);
    const p = out.subarray(2, 2 + n);
    expect(out[2 + n]).toBe(0xee);
    expect(p.readUInt16BE(2)).toBe(n);
    expect(p.readUInt16BE(4)).toBe(0x4242);
    expect(p.readUInt16BE(6)).toBe(0);
    expect(p[9]).toBe(17);
    expect(p.readUInt16BE(20)).toBe(500);
    expect(p.readUInt16BE(22)).toBe(4500);
    expect(p.readUInt16BE(24)).toBe(13);
    expect(p.subarray(28).toString()).toBe('hello');
    expect(l4Sum(p, 17)).toBe(0);
  });

  it('sends a computed checksum of 0 as 0xffff (0 means "none")', () => {
    // find a 2-byte payload whose checksum computes to 0
    const out = Buffer.alloc(64);
    let found = -1;
    for (let v = 0; v < 0x10000 && found < 0; v++) {
      const pl = Buffer.from([v >> 8, v & 0xff]);
      writeUdp(out, 0, 1, u32(A), 500, u32(B), 4500, pl);
      if (out.readUInt16BE(26) === 0xffff) found = v;
    }
    expect(found).toBeGreaterThanOrEqual(0);
    expect(l4Sum(out.subarray(0, 30), 17)).toBe(0);
  });
});
