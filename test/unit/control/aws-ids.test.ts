import { describe, expect, it } from 'vitest';
import { awsId, isAwsId } from '../../../src/control/aws-ids.js';

const scope = { accountId: '123456789012', vpcName: 'lab' };

describe('awsId', () => {
  it('has AWS form: prefix and 17 lowercase hex digits', () => {
    for (const k of ['i', 'eni', 'subnet', 'vpc', 'sg', 'acl', 'rtb', 'nat', 'igw', 'vgw'] as const) {
      const id = awsId(scope, k, 'web-1');
      expect(id).toMatch(new RegExp(`^${k}-[0-9a-f]{17}$`));
      expect(isAwsId(id)).toBe(true);
    }
  });
  it('is stable for the same scope, kind and name', () => {
    expect(awsId(scope, 'i', 'web-1')).toBe(awsId({ ...scope }, 'i', 'web-1'));
  });
  it('differs by name, kind, VPC and account', () => {
    const a = awsId(scope, 'i', 'web-1');
    expect(awsId(scope, 'i', 'web-2')).not.toBe(a);
    expect(awsId(scope, 'eni', 'web-1').slice(4)).not.toBe(a.slice(2));
    expect(awsId({ ...scope, vpcName: 'other' }, 'i', 'web-1')).not.toBe(a);
    expect(awsId({ ...scope, accountId: '210987654321' }, 'i', 'web-1')).not.toBe(a);
  });
  it('isAwsId rejects other forms', () => {
    expect(isAwsId('eni-web-1')).toBe(false);
    expect(isAwsId('i-0123456789abcdef')).toBe(false);
    expect(isAwsId('i-0123456789ABCDEF0')).toBe(false);
  });
});
