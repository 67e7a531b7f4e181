/** The metadata service's HTTP semantics (services/imds.ts): IMDSv1/v2, tokens, options, the tree. */
import { describe, expect, it } from 'vitest';
import { awsId, idScope } from '../../../src/control/aws-ids.js';
import { parseConfig } from '../../../src/control/config.js';
import { handleImds, type ImdsRequest, TokenIssuer } from '../../../src/services/imds.js';
import { buildServiceSnapshot, instanceByIp } from '../../../src/services/snapshot.js';

const CFG = parseConfig(`vpc: { name: m, cidr: 198.18.0.0/16, region: eu-west-3, enableDnsHostnames: true }
subnets: { a: { cidr: 198.18.1.0/24 } }
securityGroups: { web: {} }
internetGateway: {}
instances:
  v1: { subnet: a, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [web, default], userData: "#!/bin/sh\\necho hi\\n" }
  v2: { subnet: a, ip: 198.18.1.11, metadataOptions: { httpTokens: required, httpPutResponseHopLimit: 2 } }
  off: { subnet: a, ip: 198.18.1.12, metadataOptions: { httpEndpoint: disabled } }
`, 'm.yaml');
const SNAP = buildServiceSnapshot(CFG, 1);
const tokens = new TokenIssuer(Buffer.alloc(32, 1));
let now = 1_800_000_000_000;

function call(from: string, method: string, url: string, headers: ImdsRequest['headers'] = {}) {
  return handleImds({ method, url, headers }, { snap: SNAP, inst: instanceByIp(SNAP, from), tokens, nowMs: now, startedIso: '2026-01-01T00:00:00Z' });
}
const token = (from: string, ttl = '60') => call(from, 'PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': ttl });

describe('IMDSv2 tokens', () => {
  it('PUT with a TTL in 1..21600 gives a token and the TTL header, with the instance\'s hop limit', () => {
    const r = token('198.18.1.11', '21600');
    expect(r.status).toBe(200);
    expect(r.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
    expect(r.hopLimit).toBe(2);
    expect(token('198.18.1.10').hopLimit).toBe(1);
  });

  it('missing, zero, too large or non-numeric TTL -> 400', () => {
    for (const ttl of ['0', '21601', 'abc', '', '-5']) expect(token('198.18.1.10', ttl).status, ttl).toBe(400);
    expect(call('198.18.1.10', 'PUT', '/latest/api/token').status).toBe(400);
  });

  it('PUT with X-Forwarded-For -> 403', () => {
    expect(call('198.18.1.10', 'PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '198.51.100.1' }).status).toBe(403);
  });

  it('GET on the token path -> 405; POST elsewhere -> 405', () => {
    expect(call('198.18.1.10', 'GET', '/latest/api/token').status).toBe(405);
    expect(call('198.18.1.10', 'POST', '/latest/meta-data/').status).toBe(405);
  });

  it('a valid token reads; forged, expired or another instance\'s -> 401', () => {
    const t = token('198.18.1.10').body;
    expect(call('198.18.1.10', 'GET', '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': t }).status).toBe(200);
    expect(call('198.18.1.10', 'GET', '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': `${t}x` }).status).toBe(401);
    expect(call('198.18.1.11', 'GET', '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': t }).status).toBe(401);
    now += 61_000;
    expect(call('198.18.1.10', 'GET', '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': t }).status).toBe(401);
  });
});

describe('options', () => {
  it('httpTokens optional: IMDSv1 (no token) reads; required: 401 without, 200 with', () => {
    expect(call('198.18.1.10', 'GET', '/latest/meta-data/local-ipv4').body).toBe('198.18.1.10');
    expect(call('198.18.1.11', 'GET', '/latest/meta-data/local-ipv4').status).toBe(401);
    const t = token('198.18.1.11').body;
    expect(call('198.18.1.11', 'GET', '/latest/meta-data/local-ipv4', { 'x-aws-ec2-metadata-token': t }).body).toBe('198.18.1.11');
  });

  it('httpEndpoint disabled: 403 for everything, the token too; an unknown source: 403', () => {
    expect(call('198.18.1.12', 'GET', '/latest/meta-data/').status).toBe(403);
    expect(token('198.18.1.12').status).toBe(403);
    expect(call('198.18.9.9', 'GET', '/latest/meta-data/').status).toBe(403);
  });
});

describe('the tree', () => {
  const get = (p: string) => call('198.18.1.10', 'GET', p);
  const scope = idScope(CFG);
  const mac = CFG.instances.get('v1')!.mac;

  it('listings: directories end in "/", absent values are left out', () => {
    expect(get('/latest/meta-data/').body.split('\n')).toEqual(['ami-id', 'hostname', 'instance-id', 'instance-type', 'local-hostname', 'local-ipv4', 'mac',
      'network/', 'placement/', 'public-hostname', 'public-ipv4', 'security-groups']);
    expect(call('198.18.1.11', 'GET', '/latest/meta-data/', { 'x-aws-ec2-metadata-token': token('198.18.1.11').body }).body).not.toMatch(/public-ipv4/);
    expect(get('/latest/meta-data/placement').body).toBe('availability-zone\nregion');
    expect(get('/latest/').body).toBe('dynamic\nmeta-data\nuser-data');
  });

  it('leaves: ids from aws-ids, hostnames of the region, placement, groups', () => {
    expect(get('/latest/meta-data/instance-id').body).toBe(awsId(scope, 'i', 'v1'));
    expect(get('/latest/meta-data/local-hostname').body).toBe('ip-198-18-1-10.eu-west-3.compute.internal');
    expect(get('/latest/meta-data/public-hostname').body).toBe('ec2-203-0-113-10.eu-west-3.compute.amazonaws.com');
    expect(get('/latest/meta-data/public-ipv4').body).toBe('203.0.113.10');
    expect(get('/latest/meta-data/placement/region').body).toBe('eu-west-3');
    expect(get('/latest/meta-data/placement/availability-zone').body).toBe('eu-west-3a');
    expect(get('/latest/meta-data/security-groups').body).toBe('web\ndefault');
    expect(get('/latest/meta-data/mac').body).toBe(mac);
  });

  it('network/interfaces/macs/<mac>/: the ENI, subnet and VPC', () => {
    const base = `/latest/meta-data/network/interfaces/macs/${mac}/`;
    expect(get('/latest/meta-data/network/interfaces/macs/').body).toBe(`${mac}/`);
    expect(get(`${base}interface-id`).body).toBe(awsId(scope, 'eni', 'v1'));
    expect(get(`${base}subnet-id`).body).toBe(awsId(scope, 'subnet', 'a'));
    expect(get(`${base}vpc-id`).body).toBe(awsId(scope, 'vpc', 'm'));
    expect(get(`${base}subnet-ipv4-cidr-block`).body).toBe('198.18.1.0/24');
    expect(get(`${base}vpc-ipv4-cidr-blocks`).body).toBe('198.18.0.0/16');
    expect(get(`${base}security-group-ids`).body).toBe(`${awsId(scope, 'sg', 'web')}\n${awsId(scope, 'sg', 'default')}`);
    expect(get(`${base}device-number`).body).toBe('0');
    expect(get(`${base}local-ipv4s`).body).toBe('198.18.1.10');
  });

  it('user-data as configured; 404 for an instance without; identity document as JSON', () => {
    expect(get('/latest/user-data').body).toBe('#!/bin/sh\necho hi\n');
    const t = token('198.18.1.11').body;
    expect(call('198.18.1.11', 'GET', '/latest/user-data', { 'x-aws-ec2-metadata-token': t }).status).toBe(404);
    const doc = JSON.parse(get('/latest/dynamic/instance-identity/document').body) as Record<string, unknown>;
    expect(doc).toMatchObject({ instanceId: awsId(scope, 'i', 'v1'), privateIp: '198.18.1.10', region: 'eu-west-3', accountId: '123456789012' });
  });

  it('unknown paths -> 404', () => {
    for (const p of ['/latest/meta-data/nope', '/latest/meta-data/local-ipv4/x', '/2009-04-04/meta-data/', '/latest/nothing']) expect(get(p).status, p).toBe(404);
    expect(get('/latest/meta-data/constructor').status).toBe(404);
  });
});
