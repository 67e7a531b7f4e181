import { describe, it, expect } from 'vitest';
import {
  formatMac, hiLoToMac, ipToU32, isIpv4, macToHiLo, parseIpv6, parseMac, u32ToIp,
} from '../../../src/wire/addr.js';

describe('address conversions', () => {
  it('converts dotted quads to host-order u32 and back', () => {
    expect(ipToU32('198.18.1.10')).toBe(0xc612010a);
    expect(ipToU32('0.0.0.0')).toBe(0);
    expect(ipToU32('255.255.255.255')).toBe(0xffffffff);
    expect(u32ToIp(0xc612010a)).toBe('198.18.1.10');
    expect(u32ToIp(-1)).toBe('255.255.255.255');
    for (const s of ['203.0.113.254', '198.51.100.0', '169.254.10.1']) expect(u32ToIp(ipToU32(s))).toBe(s);
  });

  it('refuses anything but a strict dotted quad', () => {
    for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4/32', 'a.b.c.d', '1..3.4']) {
      expect(() => ipToU32(s), s).toThrow(RangeError);
      expect(isIpv4(s)).toBe(false);
    }
    expect(isIpv4('10.0.0.1')).toBe(true);
  });

  it('parses and formats MACs', () => {
    expect([...parseMac('52:54:00:AB:cd:EF')]).toEqual([0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    expect([...parseMac('52-54-00-ab-cd-ef')]).toEqual([0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    expect(formatMac(Uint8Array.from([9, 0x52, 0x54, 0, 0xab, 0xcd, 0xef]), 1)).toBe('52:54:00:ab:cd:ef');
    expect(macToHiLo('02:42:c6:12:01:0a')).toEqual([0x0242, 0xc612010a]);
    expect(hiLoToMac(0xffff, 0xffffffff)).toBe('ff:ff:ff:ff:ff:ff');
    for (const s of ['', '52:54:00:ab:cd', '52:54:00:ab:cd:ef:00', '5254.00ab.cdef', 'gg:54:00:ab:cd:ef']) {
      expect(() => parseMac(s), s).toThrow(RangeError);
    }
  });

  it('parses IPv6 text forms', () => {
    const hex = (s: string): string => Buffer.from(parseIpv6(s)).toString('hex');
    expect(hex('2001:db8::1')).toBe('20010db8000000000000000000000001');
    expect(hex('::')).toBe('0'.repeat(32));
    expect(hex('::1')).toBe('0'.repeat(31) + '1');
    expect(hex('fe80::')).toBe('fe80' + '0'.repeat(28));
    expect(hex('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(hex('::ffff:198.18.1.10')).toBe('00000000000000000000ffffc612010a');
    expect(hex('64:ff9b::203.0.113.5')).toBe('0064ff9b0000000000000000cb007105');
    for (const s of ['', '1', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', '1:2:3:4:5:6:7::8', '::1.2.3']) {
      expect(() => parseIpv6(s), s).toThrow(RangeError);
    }
  });
});
