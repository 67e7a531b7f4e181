/** routeLookup: longest prefix match with the implicit local route ([VPC-IGW], [S2S-RT]). */
import { describe, expect, it } from 'vitest';
import { routeLookup } from '../../../src/policy/route.js';
import { config } from '../../helpers/config-builder.js';

const cfg = config()
  .subnet('a', '198.18.1.0/24', { routeTable: 'rt' })
  .subnet('b', '198.18.2.0/24')
  .instance('fw', { subnet: 'a', ip: '198.18.1.9', sourceDestCheck: false })
  .igw()
  .natGateway('nat-a', { subnet: 'a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
  .routeTable('rt', [
    { destination: '0.0.0.0/0', target: 'igw' },
    { destination: '203.0.113.0/24', target: 'nat-a' },
    { destination: '203.0.113.0/24', target: 'fw' },
    { destination: '198.18.2.0/24', target: 'fw' },
    { destination: '198.18.0.0/16', target: 'fw' },
  ])
  .build();

describe('routeLookup', () => {
  it('every table has the local route for the VPC CIDR', () => {
    expect(routeLookup(cfg, 'b', '198.18.1.10')).toEqual({ table: 'main', destination: '198.18.0.0/16', target: 'local', targetKind: 'local' });
  });

  it('no route matches: null (NO_ROUTE_TO_DESTINATION)', () => {
    expect(routeLookup(cfg, 'b', '203.0.113.7')).toBeNull();
  });

  it('the longest prefix wins', () => {
    expect(routeLookup(cfg, 'a', '8.8.8.8')).toMatchObject({ destination: '0.0.0.0/0', target: 'igw', targetKind: 'igw' });
    expect(routeLookup(cfg, 'a', '203.0.113.7')).toMatchObject({ destination: '203.0.113.0/24', targetKind: 'nat-gateway' });
  });

  it('on equal prefixes the first route in the file wins', () => {
    expect(routeLookup(cfg, 'a', '203.0.113.7')?.target).toBe('nat-a');
  });

  it('the local route keeps a tie with an equal static prefix', () => {
    expect(routeLookup(cfg, 'a', '198.18.3.3')).toMatchObject({ target: 'local' });
  });

  it('a static route more specific than the VPC CIDR beats the local route (middlebox routing)', () => {
    expect(routeLookup(cfg, 'a', '198.18.2.20')).toMatchObject({ destination: '198.18.2.0/24', target: 'fw', targetKind: 'instance' });
  });
});
