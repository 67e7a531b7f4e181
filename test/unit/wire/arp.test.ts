import { describe, it, expect } from 'vitest';
import { ArpError, ArpOp, ArpView, ARP_LEN } from '../../../src/wire/arp.js';
import { EthernetView, EtherType } from '../../../src/wire/ethernet.js';
import { ipToU32, macToHiLo } from '../../../src/wire/addr.js';
import { arpReply, arpRequest, placeInArena } from '../../helpers/frames.js';

// "Who has 198.18.1.1? Tell 198.18.1.10", from 02:00:c6:12:01:0a, as captured
// (Ethernet header + 28-byte ARP + 18 bytes of padding to the 60-byte minimum).
const REQUEST = Buffer.from(
  'ffffffffffff' + '0200c612010a' + '0806' +
  '0001' + '0800' + '06' + '04' + '0001' +
  '0200c612010a' + 'c612010a' +
  '000000000000' + 'c6120101' +
  '00'.repeat(18), 'hex');

describe('ArpView', () => {
  const arp = new ArpView();

  it('deconstructs a captured request', () => {
    const eth = new EthernetView().at(REQUEST, 0, REQUEST.length);
    expect(eth.etherType).toBe(EtherType.Arp);
    arp.at(REQUEST, eth.payloadOff, REQUEST.length);
    expect(arp.check()).toBe(ArpError.None);
    expect(arp.htype).toBe(1);
    expect(arp.ptype).toBe(0x0800);
    expect(arp.hlen).toBe(6);
    expect(arp.plen).toBe(4);
    expect(arp.op).toBe(ArpOp.Request);
    expect(arp.shaHi16).toBe(0x0200);
    expect(arp.shaLo32).toBe(0xc612010a);
    expect(arp.spa).toBe(ipToU32('198.18.1.10'));
    expect(arp.thaHi16).toBe(0);
    expect(arp.thaLo32).toBe(0);
    expect(arp.tpa).toBe(ipToU32('198.18.1.1'));
    expect(arp.isGratuitous).toBe(false);
    expect(arp.shaOff).toBe(14 + 8);
    expect(arp.thaOff).toBe(14 + 18);
  });

  it('turns a request into a reply in place (what the responder does)', () => {
    const f = Buffer.from(REQUEST);
    arp.at(f, 14, f.length);
    const [hi, lo] = macToHiLo('02:00:00:00:01:01');
    const spa = arp.spa, tpa = arp.tpa;
    arp.op = ArpOp.Reply;
    arp.setThaFrom(f, arp.shaOff); // the requester becomes the target
    arp.setSha(hi, lo);
    arp.tpa = spa;
    arp.spa = tpa;
    const expected = arpReply({ srcMac: '02:00:00:00:01:01', dstMac: '02:00:c6:12:01:0a',
      spa: '198.18.1.1', tpa: '198.18.1.10' });
    expect(f.subarray(14, 14 + ARP_LEN).equals(expected.subarray(14, 14 + ARP_LEN))).toBe(true);
    const out = new Uint8Array(6);
    arp.copyTha(out, 0);
    expect(Buffer.from(out).toString('hex')).toBe('0200c612010a');
    arp.copySha(out, 0);
    expect(Buffer.from(out).toString('hex')).toBe('020000000101');
  });

  it('constructs from scratch', () => {
    const b = Buffer.alloc(ARP_LEN);
    arp.at(b, 0, ARP_LEN).fillHeader(ArpOp.Request);
    arp.setSha(0x0200, 0xc612010a);
    arp.spa = ipToU32('198.18.1.10');
    arp.setTha(0, 0);
    arp.tpa = ipToU32('198.18.1.1');
    expect(b.equals(REQUEST.subarray(14, 14 + ARP_LEN))).toBe(true);
    expect(arp.check()).toBe(ArpError.None);
  });

  it('agrees with the frame builder', () => {
    const f = arpRequest({ srcMac: '02:00:c6:12:01:0a', spa: '198.18.1.10', tpa: '198.18.1.1', padTo: 60 });
    expect(f.equals(REQUEST)).toBe(true);
    const g = arpRequest({ spa: '198.18.1.10', tpa: '198.18.1.10' });
    expect(arp.at(g, 14, g.length).isGratuitous).toBe(true);
  });

  it('works at a non-zero offset', () => {
    const arena = placeInArena(REQUEST, 101);
    arp.at(arena, 101 + 14, 101 + REQUEST.length);
    expect(arp.check()).toBe(ArpError.None);
    expect(arp.tpa).toBe(ipToU32('198.18.1.1'));
  });

  it('rejects truncated packets and non-Ethernet/IPv4 ARP', () => {
    for (let n = 0; n < ARP_LEN; n++) expect(arp.at(REQUEST, 14, 14 + n).check()).toBe(ArpError.Truncated);
    // [byte offset in the ARP packet, value, expected error]
    const cases: Array<[number, number, ArpError]> = [
      [1, 6, ArpError.BadHardwareType], // htype 6 (IEEE 802)
      [2, 0x86, ArpError.BadProtocolType], // ptype 0x8600
      [4, 8, ArpError.BadHardwareLen],
      [5, 16, ArpError.BadProtocolLen],
    ];
    for (const [at, v, err] of cases) {
      const f = Buffer.from(REQUEST);
      f[14 + at] = v;
      expect(arp.at(f, 14, f.length).check()).toBe(err);
    }
  });
});
