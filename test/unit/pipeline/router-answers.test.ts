/**
 * The VPC router's own answers, exactly: ARP replies for the router and for
 * ENIs of the asker's subnet (learned MACs from the ENI's own ARP only), what
 * it ignores and counts, echo replies byte by byte (addresses, TTL, MACs,
 * checksums, length), and the link-local service addresses. Instances sit in
 * the second subnet so that per-subnet offsets matter.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from '../../helpers/dp-harness.js';
import { arpReply, arpRequest, ethIpv4Fragment, ethIpv4Icmp, ethIpv4Udp, refChecksum } from '../../helpers/frames.js';
import { DropReason } from '../../../src/pipeline/batch.js';
import { instanceMac, routerMac } from '../../../src/lab/names.js';
import { isLinkLocal, isVpcService } from '../../../src/pipeline/router.js';

const YAML = `
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
  sb: { cidr: 198.18.2.0/24 }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  b1: { subnet: sb, ip: 198.18.2.20 }
  b2: { subnet: sb, ip: 198.18.2.21 }
`;
const B1 = instanceMac('t', 'b1'), B2 = instanceMac('t', 'b2'), RB = routerMac('t', 'sb');
const hexMac = (m: string): string => m.replaceAll(':', '');
const ip4 = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0) | 0;

describe('VPC router ARP', () => {
  it('answers for the subnet router address with that subnet\'s router MAC, the whole frame and nothing more', () => {
    const h = new Harness(YAML);
    const req = arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa: '198.18.2.1' });
    const out = h.run([{ port: h.port('b1'), frame: req }]);
    expect(out).toHaveLength(1);
    const f = out[0]!.frame;
    expect(f.length).toBe(req.length);
    expect(f.subarray(0, 6).toString('hex')).toBe(hexMac(B1));
    expect(f.subarray(6, 12).toString('hex')).toBe(hexMac(RB));
    expect(f.readUInt16BE(20)).toBe(2);
    expect(f.subarray(22, 28).toString('hex')).toBe(hexMac(RB));
    expect(f.subarray(28, 32).join('.')).toBe('198.18.2.1');
  });

  it('answers for another ENI of the subnet with its configured MAC, then with the MAC it learned from that ENI\'s own ARP', () => {
    const h = new Harness(YAML);
    const ask = (): Buffer => {
      const out = h.run([{ port: h.port('b1'), frame: arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa: '198.18.2.21' }) }]);
      expect(out).toHaveLength(1);
      return out[0]!.frame.subarray(22, 28);
    };
    expect(ask().toString('hex')).toBe(hexMac(B2));
    // b2 announces a new MAC with an address that is not its own: not learned
    const other = '02:aa:aa:aa:aa:01';
    h.run([{ port: h.port('b2'), frame: arpReply({ srcMac: other, dstMac: RB, spa: '198.18.2.99', tpa: '198.18.2.1' }) }]);
    expect(ask().toString('hex')).toBe(hexMac(B2));
    // ...with its own address: learned (and a reply is ignored, counted)
    const before = h.drops(DropReason.ArpIgnored);
    expect(h.run([{ port: h.port('b2'), frame: arpReply({ srcMac: other, dstMac: RB, spa: '198.18.2.21', tpa: '198.18.2.1' }) }])).toHaveLength(0);
    expect(h.drops(DropReason.ArpIgnored)).toBe(before + 1);
    expect(ask().toString('hex')).toBe(hexMac(other));
  });

  it('answers from the batch slot it came in (frames after the first), with the length it came with', () => {
    const h = new Harness(YAML);
    const junk = ethIpv4Udp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '203.0.113.9', sport: 1, dport: 2 });
    const req = arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa: '198.18.2.1' });
    const echo = ethIpv4Icmp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', type: 8, code: 0, id: 1, seq: 1, payload: Buffer.from('xy') });
    const out = h.run([{ port: h.port('b1'), frame: junk }, { port: h.port('b1'), frame: req }, { port: h.port('b1'), frame: echo }]);
    expect(out.map((o) => o.frame.length)).toEqual([req.length, echo.length]);
  });

  it('learns the sender hardware address of an ARP, not its Ethernet source', () => {
    const h = new Harness(YAML);
    const announce = arpReply({ srcMac: '02:aa:aa:aa:aa:02', dstMac: RB, spa: '198.18.2.21', tpa: '198.18.2.1' });
    announce.set([0x02, 0xee, 0xee, 0xee, 0xee, 0xee], 6);
    h.run([{ port: h.port('b2'), frame: announce }]);
    const out = h.run([{ port: h.port('b1'), frame: arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa: '198.18.2.21' }) }]);
    expect(out[0]!.frame.subarray(22, 28).toString('hex')).toBe('02aaaaaaaa02');
  });

  it('answers for the first instance of the subnet too, and never for a NAT gateway address', () => {
    const h = new Harness(`
vpc: { name: t, cidr: 198.18.0.0/16 }
subnets:
  sa: { cidr: 198.18.1.0/24 }
instances:
  a1: { subnet: sa, ip: 198.18.1.10 }
  a2: { subnet: sa, ip: 198.18.1.11 }
natGateways:
  nat-1: { subnet: sa, type: private, ip: 198.18.1.5 }
`);
    const A2 = instanceMac('t', 'a2');
    const out = h.run([{ port: h.port('a2'), frame: arpRequest({ srcMac: A2, spa: '198.18.1.11', tpa: '198.18.1.10' }) }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.frame.subarray(22, 28).toString('hex')).toBe(hexMac(instanceMac('t', 'a1')));
    expect(h.run([{ port: h.port('a2'), frame: arpRequest({ srcMac: A2, spa: '198.18.1.11', tpa: '198.18.1.5' }) }])).toHaveLength(0);
  });

  it('ignores (counted) ARP for itself, unassigned and reserved addresses, other subnets and outside the VPC', () => {
    const h = new Harness(YAML);
    let n = 0;
    for (const tpa of ['198.18.2.20', '198.18.2.99', '198.18.2.2', '198.18.2.255', '198.18.1.10', '203.0.113.1', '0.0.0.0']) {
      expect(h.run([{ port: h.port('b1'), frame: arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa }) }]), tpa).toHaveLength(0);
      expect(h.drops(DropReason.ArpIgnored), tpa).toBe(++n);
    }
  });

  it('counts a truncated ARP and one that is not Ethernet/IPv4 as malformed', () => {
    const h = new Harness(YAML);
    const req = arpRequest({ srcMac: B1, spa: '198.18.2.20', tpa: '198.18.2.1' });
    expect(h.run([{ port: h.port('b1'), frame: req.subarray(0, 14 + 27) }])).toHaveLength(0);
    expect(h.drops(DropReason.Malformed)).toBe(1);
    // exactly 28 bytes of ARP is enough
    expect(h.run([{ port: h.port('b1'), frame: req.subarray(0, 14 + 28) }])).toHaveLength(1);
    const v6 = Buffer.from(req);
    v6.writeUInt16BE(0x86dd, 16);
    expect(h.run([{ port: h.port('b1'), frame: v6 }])).toHaveLength(0);
    expect(h.drops(DropReason.Malformed)).toBe(2);
  });
});

describe('VPC router echo', () => {
  it('answers an echo request to the subnet router: addresses swapped, TTL 64, MACs, checksums, length, payload', () => {
    const h = new Harness(YAML);
    const req = ethIpv4Icmp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', ttl: 5, type: 8, code: 0, id: 7, seq: 9, payload: Buffer.from('abcdefgh') });
    const out = h.run([{ port: h.port('b1'), frame: req }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.port).toBe(h.port('b1'));
    const f = out[0]!.frame;
    expect(f.length).toBe(req.length);
    expect(f.subarray(0, 6).toString('hex')).toBe(hexMac(B1));
    expect(f.subarray(6, 12).toString('hex')).toBe(hexMac(RB));
    const ip = f.subarray(14);
    expect(ip[8]).toBe(64);
    expect(ip[9]).toBe(1);
    expect(ip.subarray(12, 16).join('.')).toBe('198.18.2.1');
    expect(ip.subarray(16, 20).join('.')).toBe('198.18.2.20');
    expect(refChecksum(ip.subarray(0, 20))).toBe(0);
    expect(ip[20]).toBe(0);
    expect(ip[21]).toBe(0);
    expect(refChecksum(ip.subarray(20))).toBe(0);
    expect(ip.subarray(24).equals(req.subarray(14 + 24))).toBe(true); // id, seq, payload
  });

  it('drops (counted) what is not an echo request: other ICMP, UDP, a fragment', () => {
    const h = new Harness(YAML);
    const frames = [
      ethIpv4Icmp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', type: 13, code: 0 }),
      ethIpv4Icmp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', type: 0, code: 0 }),
      // UDP whose first byte (source port 0x0801) reads like an echo request's type 8
      ethIpv4Udp({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', sport: 0x0801, dport: 8 }),
      ethIpv4Fragment({ srcMac: B1, dstMac: RB, src: '198.18.2.20', dst: '198.18.2.1', proto: 1, mf: true, fragOffset: 0, payload: Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]) }),
    ];
    frames.forEach((frame, i) => {
      expect(h.run([{ port: h.port('b1'), frame }]), `frame ${i}`).toHaveLength(0);
      expect(h.drops(DropReason.NotForRouter), `frame ${i}`).toBe(i + 1);
    });
  });
});

describe('link-local and VPC service addresses', () => {
  it('169.254.0.0/16 is link-local, its neighbours are not', () => {
    for (const a of ['169.254.0.0', '169.254.169.254', '169.254.255.255']) expect(isLinkLocal(ip4(a)), a).toBe(true);
    for (const a of ['169.253.255.255', '169.255.0.0', '198.18.0.1', '0.0.0.0']) expect(isLinkLocal(ip4(a)), a).toBe(false);
  });

  it('the five service addresses and nothing next to them', () => {
    const h = new Harness(YAML);
    for (const a of ['169.254.169.254', '169.254.169.253', '169.254.169.123', '169.254.170.2', '198.18.0.2']) expect(isVpcService(h.topo, ip4(a)), a).toBe(true);
    for (const a of ['169.254.169.255', '169.254.169.252', '169.254.169.122', '169.254.170.3', '198.18.0.3', '198.18.0.1', '198.18.1.2']) {
      expect(isVpcService(h.topo, ip4(a)), a).toBe(false);
    }
  });
});
