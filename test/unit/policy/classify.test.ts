/** classifyAddress and the address helpers ([VPC-SUBNET], [VPC-IGW], [VPC-SEC], [S2S-RT]). */
import { describe, expect, it } from 'vitest';
import { cidrContainsIp, ipv4ToNumber, isRfc1918, isRfc6598, numberToIpv4, parseIpv4Cidr } from '../../../src/policy/addr.js';
import { classifyAddress } from '../../../src/policy/classify.js';
import { config } from '../../helpers/config-builder.js';

const cfg = config()
  .subnet('a', '198.18.1.0/24')
  .subnet('small', '198.18.9.0/28')
  .instance('web-1', { subnet: 'a', ip: '198.18.1.10', publicIp: '203.0.113.10' })
  .natGateway('nat-a', { subnet: 'a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
  .vpn('onprem', { remoteNetworks: ['198.19.0.0/16', '198.19.7.0/24'] })
  .vpn('branch', { remoteNetworks: ['198.19.7.0/25'] })
  .build();
const kind = (ip: string) => classifyAddress(cfg, ip).kind;

describe('address helpers', () => {
  it('parses strictly and round-trips', () => {
    expect(ipv4ToNumber('198.18.1.10')).toBe(0xc612010a);
    expect(numberToIpv4(0xc612010a)).toBe('198.18.1.10');
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', ' 1.2.3.4', '::1']) expect(ipv4ToNumber(bad)).toBeUndefined();
    expect(parseIpv4Cidr('198.18.1.7/24')).toEqual({ first: 0xc6120100, last: 0xc61201ff, prefix: 24 });
    expect(parseIpv4Cidr('2001:db8::/32')).toBeUndefined();
  });

  it('contains: /0, /32, edges; IPv6 CIDRs contain no IPv4 address', () => {
    expect(cidrContainsIp('0.0.0.0/0', '255.255.255.255')).toBe(true);
    expect(cidrContainsIp('198.18.1.10/32', '198.18.1.10')).toBe(true);
    expect(cidrContainsIp('198.18.1.10/32', '198.18.1.11')).toBe(false);
    expect(cidrContainsIp('198.18.0.0/15', '198.19.255.255')).toBe(true);
    expect(cidrContainsIp('198.18.0.0/15', '198.20.0.0')).toBe(false);
    expect(cidrContainsIp('::/0', '1.2.3.4')).toBe(false);
  });

  it('RFC 1918 and RFC 6598 ranges', () => {
    expect(['10.1.2.3', '172.31.0.1', '192.168.9.9'].every(isRfc1918)).toBe(true);
    expect(['172.32.0.1', '198.18.0.1', '203.0.113.1'].some(isRfc1918)).toBe(false);
    expect(isRfc6598('100.64.0.1')).toBe(true);
    expect(isRfc6598('100.128.0.1')).toBe(false);
  });
});

describe('classifyAddress', () => {
  it('ENIs by private and public address', () => {
    expect(classifyAddress(cfg, '198.18.1.10')).toMatchObject({ kind: 'instance', instance: { name: 'web-1' }, subnet: { name: 'a' } });
    expect(classifyAddress(cfg, '203.0.113.10')).toMatchObject({ kind: 'instance-public', instance: { name: 'web-1' } });
    expect(classifyAddress(cfg, '198.18.1.5')).toMatchObject({ kind: 'nat-gateway', natGateway: { name: 'nat-a' } });
    expect(classifyAddress(cfg, '203.0.113.5')).toMatchObject({ kind: 'nat-gateway-public', natGateway: { name: 'nat-a' } });
  });

  it('[VPC-SUBNET] the five reserved addresses of each subnet', () => {
    expect(['198.18.1.0', '198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.1.255'].map((ip) => classifyAddress(cfg, ip))).toMatchObject([
      { kind: 'reserved', role: 'network' },
      { kind: 'reserved', role: 'router' },
      { kind: 'reserved', role: 'dns' },
      { kind: 'reserved', role: 'future' },
      { kind: 'reserved', role: 'broadcast' },
    ]);
    expect(classifyAddress(cfg, '198.18.9.15')).toMatchObject({ kind: 'reserved', role: 'broadcast', subnet: { name: 'small' } });
  });

  it('[VPC-SEC] AWS services: VPC base + 2 and the link-local service addresses', () => {
    expect(classifyAddress(cfg, '198.18.0.2')).toMatchObject({ kind: 'aws-service' });
    for (const ip of ['169.254.169.254', '169.254.169.253', '169.254.169.123', '169.254.170.2']) expect(kind(ip)).toBe('aws-service');
  });

  it('unassigned, in-VPC without subnet, special, remote, internet', () => {
    expect(kind('198.18.1.77')).toBe('unassigned');
    expect(kind('198.18.200.1')).toBe('vpc-unallocated');
    expect(kind('224.0.0.5')).toBe('special');
    expect(kind('127.0.0.1')).toBe('special');
    expect(kind('169.254.1.1')).toBe('special');
    expect(kind('203.0.113.100')).toBe('internet');
    expect(kind('10.0.0.1')).toBe('internet');
  });

  it('[S2S-RT] remote networks: the most specific one across connections wins', () => {
    expect(classifyAddress(cfg, '198.19.1.1')).toMatchObject({ kind: 'remote-network', connection: { name: 'onprem' }, network: '198.19.0.0/16' });
    expect(classifyAddress(cfg, '198.19.7.200')).toMatchObject({ kind: 'remote-network', connection: { name: 'onprem' }, network: '198.19.7.0/24' });
    expect(classifyAddress(cfg, '198.19.7.1')).toMatchObject({ kind: 'remote-network', connection: { name: 'branch' }, network: '198.19.7.0/25' });
  });
});
