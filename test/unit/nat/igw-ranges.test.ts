/**
 * The address ranges the internet gateway neither sends to nor accepts from
 * (RFC 1918 private space and RFC 6598 shared space), at every boundary.
 */
import { describe, expect, it } from 'vitest';
import { isPrivateOrShared } from '../../../src/nat/igw.js';

const ip = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0) | 0;

describe('isPrivateOrShared', () => {
  it('10/8, 172.16/12, 192.168/16 and 100.64/10, first and last address of each', () => {
    for (const a of ['10.0.0.0', '10.255.255.255', '172.16.0.0', '172.31.255.255', '192.168.0.0', '192.168.255.255', '100.64.0.0', '100.127.255.255']) {
      expect(isPrivateOrShared(ip(a)), a).toBe(true);
    }
  });

  it('the addresses just outside each range, and public ones', () => {
    for (const a of ['9.255.255.255', '11.0.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0', '100.63.255.255', '100.128.0.0',
      '168.192.0.0', '16.172.0.0', '64.100.0.0', '203.168.0.1', '193.168.0.1', '203.0.113.7', '198.51.100.1', '0.0.0.0', '255.255.255.255']) {
      expect(isPrivateOrShared(ip(a)), a).toBe(false);
    }
  });
});
