import { describe, expect, it } from 'vitest';
import {
  canonicalCidr,
  cidrContains,
  cidrOverlaps,
  cidrToString,
  formatIpv4,
  formatIpv6,
  ipv4InCidr,
  ipv4Last,
  ipv4Mask,
  ipv4Size,
  ipv4SubnetReserved,
  parseCidr,
  parseIpv4,
  parseIpv6,
  type Cidr,
  type Ipv4Cidr,
} from '../../../src/control/cidr.js';

function cidr(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.error);
  return r.cidr;
}

describe('IPv4 addresses', () => {
  it('parses to host-order u32 and formats back', () => {
    expect(parseIpv4('198.18.1.10')).toBe(0xc612010a);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(formatIpv4(0xc612010a)).toBe('198.18.1.10');
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
  });

  it('rejects anything but four decimal octets without leading zeros', () => {
    for (const bad of ['198.18.1', '198.18.1.256', '198.018.1.1', '198.18.1.1.1', ' 198.18.1.1', '198.18.1.1/32', '0x1.2.3.4', '', '1..2.3']) {
      expect(parseIpv4(bad), bad).toBeUndefined();
    }
  });

  it('masks', () => {
    expect(ipv4Mask(0)).toBe(0);
    expect(ipv4Mask(1)).toBe(0x80000000);
    expect(ipv4Mask(24)).toBe(0xffffff00);
    expect(ipv4Mask(32)).toBe(0xffffffff);
  });
});

describe('IPv6 addresses', () => {
  it('parses any text form and formats per RFC 5952', () => {
    expect(formatIpv6(parseIpv6('2001:0DB8:0000:0000:0000:0000:0002:0001') as bigint)).toBe('2001:db8::2:1');
    expect(formatIpv6(parseIpv6('::1') as bigint)).toBe('::1');
    expect(formatIpv6(0n)).toBe('::');
  });

  it('rejects zone ids, IPv4 and garbage', () => {
    for (const bad of ['fe80::1%eth0', '198.18.1.1', '1::2::3', 'x::1', '']) expect(parseIpv6(bad), bad).toBeUndefined();
  });
});

describe('CIDRs', () => {
  it('canonicalises host bits away and reports them', () => {
    const r = parseCidr('198.18.1.7/24');
    expect(r.ok && cidrToString(r.cidr)).toBe('198.18.1.0/24');
    expect(r.ok && r.hostBits).toBe(true);
    expect(canonicalCidr('100.68.0.18/18')).toBe('100.68.0.0/18');
    expect(canonicalCidr('2001:db8:1:2::5/32')).toBe('2001:db8::/32');
  });

  it('takes a bare address as a host route', () => {
    expect(canonicalCidr('203.0.113.66')).toBe('203.0.113.66/32');
    expect(canonicalCidr('2001:db8::1')).toBe('2001:db8::1/128');
  });

  it('explains what is wrong', () => {
    expect(parseCidr('198.18.0.0/33')).toEqual({ ok: false, error: 'prefix length "33" is not an integer between 0 and 32' });
    expect(parseCidr('198.18.0.0/')).toEqual({ ok: false, error: 'prefix length "" is not an integer between 0 and 32' });
    expect(parseCidr('198.18.0/16')).toEqual({ ok: false, error: '"198.18.0" is not an IPv4 or IPv6 address' });
    expect(parseCidr('::/129')).toEqual({ ok: false, error: 'prefix length "129" is not an integer between 0 and 128' });
    expect(parseCidr('198.18.0.0/016').ok).toBe(false);
  });

  it('containment and overlap', () => {
    const vpc = cidr('198.18.0.0/16');
    expect(cidrContains(vpc, cidr('198.18.1.0/24'))).toBe(true);
    expect(cidrContains(vpc, vpc)).toBe(true);
    expect(cidrContains(vpc, cidr('198.19.1.0/24'))).toBe(false);
    expect(cidrContains(cidr('198.18.1.0/24'), vpc)).toBe(false);
    expect(cidrContains(cidr('0.0.0.0/0'), vpc)).toBe(true);
    expect(cidrContains(cidr('::/0'), vpc)).toBe(false);
    expect(cidrOverlaps(cidr('198.18.1.0/24'), cidr('198.18.1.128/25'))).toBe(true);
    expect(cidrOverlaps(cidr('198.18.1.0/25'), cidr('198.18.1.128/25'))).toBe(false);
    expect(cidrContains(cidr('2001:db8::/32'), cidr('2001:db8:ff::/48'))).toBe(true);
    expect(cidrOverlaps(cidr('2001:db8::/32'), cidr('2001:db9::/32'))).toBe(false);
  });

  it('IPv4 block helpers', () => {
    const s = cidr('198.18.1.0/24') as Ipv4Cidr;
    expect(ipv4InCidr(s, parseIpv4('198.18.1.200') as number)).toBe(true);
    expect(ipv4InCidr(s, parseIpv4('198.18.2.1') as number)).toBe(false);
    expect(formatIpv4(ipv4Last(s))).toBe('198.18.1.255');
    expect(ipv4Size(s)).toBe(256);
    expect(ipv4InCidr(cidr('0.0.0.0/0') as Ipv4Cidr, 0xffffffff)).toBe(true);
  });

  it('AWS reserved subnet addresses', () => {
    const s = cidr('198.18.1.16/28') as Ipv4Cidr;
    const at = (ip: string): string | undefined => ipv4SubnetReserved(s, parseIpv4(ip) as number);
    expect(at('198.18.1.16')).toBe('the network address');
    expect(at('198.18.1.17')).toBe('the VPC router (+1)');
    expect(at('198.18.1.18')).toBe('the Amazon DNS server (+2)');
    expect(at('198.18.1.19')).toBe('reserved by AWS for future use (+3)');
    expect(at('198.18.1.31')).toBe('the broadcast address');
    expect(at('198.18.1.20')).toBeUndefined();
    expect(at('198.18.1.30')).toBeUndefined();
  });
});
