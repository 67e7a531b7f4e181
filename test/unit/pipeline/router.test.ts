import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Harness } from '../../helpers/dp-harness.js';
import { arpRequest, ethIpv4Udp, ethIpv4Icmp, ethIpv6Udp, ethIpv4Tcp, refChecksum } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { routerMac, instanceMac } from '../../../src/lab/names.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24, routeTable: rt-b }
routeTables:
  rt-b: { routes: [ { destination: 198.19.0.0/16, target: nat1 } ] }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  a2: { subnet: sa, ip: 198.18.1.11 }
  b1: { subnet: sb, ip: 198.18.2.20 }
  nat1: { subnet: sa, ip: 198.18.1.30, sourceDestCheck: false }
`;

const A1 = instanceMac('t', 'a1');
const RA = routerMac('t', 'sa');

describe('router (in memory)', () => {
  it('answers ARP for the router address with the subnet router MAC, in place', () => {
    const h = new Harness(YAML);
    const out = h.run([{ port: h.port('a1'), frame: arpRequest({ srcMac: A1, spa: '198.18.1.10', tpa: '198.18.1.1' }) }]);
    expect(out).toHaveLength(1);
    const f = out[0]!.frame;
    expect(out[0]!.port).toBe(h.port('a1'));
    expect(f.readUInt16BE(20)).toBe(2); // reply
    expect(f.subarray(22, 28).toString('hex')).toBe(RA.replaceAll(':', ''));
    expect(f.subarray(28, 32).join('.')).toBe('198.18.1.1');
    expect(f.subarray(0, 6).toString('hex')).toBe(A1.replaceAll(':', ''));
  });

  it('answers ARP for another ENI of the same subnet, not for unassigned or other-subnet addresses', () => {
    const h = new Harness(YAML);
    expect(h.run([{ port: h.port('a1'), frame: arpRequest({ srcMac: A1, spa: '198.18.1.10', tpa: '198.18.1.11' }) }])).toHaveLength(1);
    expect(h.run([{ port: h.port('a1'), frame: arpRequest({ srcMac: A1, spa: '198.18.1.10', tpa: '198.18.1.99' }) }])).toHaveLength(0);
    expect(h.run([{ port: h.port('a1'), frame: arpRequest({ srcMac: A1, spa: '198.18.1.10', tpa: '198.18.2.20' }) }])).toHaveLength(0);
  });

  it('forwards IPv4 between subnets, rewriting only the MACs (no TTL decrement, as the VPC router)', () => {
    const h = new Harness(YAML);
    const frame = ethIpv4Udp({ srcMac: A1, dstMac: RA, src: '198.18.1.10', dst: '198.18.2.20', sport: 1000, dport: 53, ttl: 64, payload: Buffer.from('hi') });
    const out = h.run([{ port: h.port('a1'), frame }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(h.port('b1'));
    const f = out[0]!.frame;
    expect(f.subarray(0, 6).toString('hex')).toBe(instanceMac('t', 'b1').replaceAll(':', ''));
    expect(f.subarray(6, 12).toString('hex')).toBe(routerMac('t', 'sb').replaceAll(':', ''));
    expect(f.subarray(12).equals(frame.subarray(12))).toBe(true);
  });

  it('answers ICMP echo to the router address with a valid reply', () => {
    const h = new Harness(YAML);
    const out = h.run([{ port: h.port('a1'), frame: ethIpv4Icmp({ srcMac: A1, dstMac: RA, src: '198.18.1.10', dst: '198.18.1.1', type: 8, code: 0, id: 7, seq: 1, payload: Buffer.from('abcd') }) }]);
    expect(out).toHaveLength(1);
    const ip = out[0]!.frame.subarray(14);
    expect(ip.subarray(12, 16).join('.')).toBe('198.18.1.1');
    expect(ip.subarray(16, 20).join('.')).toBe('198.18.1.10');
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect(ip[20]).toBe(0);
    expect(refChecksum(ip.subarray(20))).toBe(0);
  });

  it('answers only an echo request of code 0: not echo code 1, nor UDP whose first bytes read as type 8 code 0; both not_for_router', () => {
    const h = new Harness(YAML);
    const before = h.counters.drops[DropReason.NotForRouter]!;
    const code1 = ethIpv4Icmp({ srcMac: A1, dstMac: RA, src: '198.18.1.10', dst: '198.18.1.1', type: 8, code: 1, id: 7, seq: 1, payload: Buffer.from('abcd') });
    // UDP source port 2048 = 0x0800: the bytes where ICMP keeps its type and code hold 8 and 0.
    const udp = ethIpv4Udp({ srcMac: A1, dstMac: RA, src: '198.18.1.10', dst: '198.18.1.1', sport: 2048, dport: 7, payload: Buffer.from('abcd') });
    expect(h.run([{ port: h.port('a1'), frame: code1 }, { port: h.port('a1'), frame: udp }])).toHaveLength(0);
    expect(h.counters.drops[DropReason.NotForRouter]! - before).toBe(2);
  });

  it('drops and counts: no route, reserved address, unassigned address, spoofed source, IPv6', () => {
    const h = new Harness(YAML);
    const mk = (src: string, dst: string) => ethIpv4Udp({ srcMac: A1, dstMac: RA, src, dst, sport: 1, dport: 2 });
    expect(h.run([{ port: h.port('a1'), frame: mk('198.18.1.10', '203.0.113.9') }])).toHaveLength(0);
    expect(h.drops(DropReason.NoRoute)).toBe(1);
    h.run([{ port: h.port('a1'), frame: mk('198.18.1.10', '198.18.2.255') }]);
    h.run([{ port: h.port('a1'), frame: mk('198.18.1.10', '198.18.2.2') }]);
    expect(h.drops(DropReason.ReservedAddress)).toBe(2);
    h.run([{ port: h.port('a1'), frame: mk('198.18.1.10', '198.18.2.99') }]);
    expect(h.drops(DropReason.NoDestination)).toBe(1);
    h.run([{ port: h.port('a1'), frame: mk('198.18.1.77', '198.18.2.20') }]);
    expect(h.drops(DropReason.SourceDestCheck)).toBe(1);
    h.run([{ port: h.port('a1'), frame: ethIpv6Udp({ srcMac: A1, dstMac: RA, src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2 }) }]);
    expect(h.drops(DropReason.Ipv6)).toBe(1);
  });

  it('routes to an instance target (NAT instance) only when its source/dest check is off', () => {
    const h = new Harness(YAML);
    const b1 = instanceMac('t', 'b1');
    const frame = ethIpv4Tcp({ srcMac: b1, dstMac: routerMac('t', 'sb'), src: '198.18.2.20', dst: '198.19.5.5', sport: 40000, dport: 443, flags: 0x02, seq: 1, ack: 0 });
    const out = h.run([{ port: h.port('b1'), frame }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(h.port('nat1'));
    const h2 = new Harness(YAML.replace('sourceDestCheck: false', 'sourceDestCheck: true'));
    expect(h2.run([{ port: h2.port('b1'), frame }])).toHaveLength(0);
    expect(h2.drops(DropReason.SourceDestCheck)).toBe(1);
  });

  it('never throws on random bytes or truncated frames; every one is counted', () => {
    const h = new Harness(YAML);
    const valid = ethIpv4Udp({ srcMac: A1, dstMac: RA, src: '198.18.1.10', dst: '198.18.2.20', sport: 1, dport: 2, payload: Buffer.alloc(20) });
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.integer({ min: 0, max: valid.length }).map((n) => valid.subarray(0, n)),
        fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
          const c = Buffer.from(valid);
          c[i] = v;
          return c;
        }),
      ),
      fc.integer({ min: 0, max: 3 }),
      (bytes, port) => {
        const before = h.counters.frames;
        const dropsBefore = h.counters.drops.reduce((a, b) => a + b, 0);
        const out = h.run([{ port, frame: bytes }]);
        const dropsAfter = h.counters.drops.reduce((a, b) => a + b, 0);
        expect(h.counters.frames - before).toBe(1);
        // A frame is either forwarded/answered or dropped with a reason: never lost silently.
        expect(out.length + (dropsAfter - dropsBefore)).toBe(1);
      },
    ), { numRuns: 3000 });
    expect(h.drops(DropReason.Malformed)).toBeGreaterThan(0);
  });
});
