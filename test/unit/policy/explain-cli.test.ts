/** `vpcd explain` (src/cli/explain.ts): output forms, name resolution, argument and config errors. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExplain } from '../../../src/cli/explain.js';
import type { Explanation } from '../../../src/policy/types.js';

const YAML = `
vpc:
  name: demo
  cidr: 198.18.0.0/16
subnets:
  public-a: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: public-nacl }
  private-a: { cidr: 198.18.2.0/24, routeTable: private, networkAcl: private-nacl }
networkAcls:
  public-nacl:
    inbound:
      - { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
      - { rule: 110, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 }
      - { rule: 90,  action: deny,  protocol: all, cidr: 203.0.113.66/32 }
      - { rule: 120, action: allow, protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 0.0.0.0/0 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
  private-nacl:
    inbound:  [ { rule: 100, action: allow, protocol: all, cidr: 198.18.0.0/16 } ]
    outbound: [ { rule: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ]
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
      - { protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 0.0.0.0/0 }
  db:
    ingress:
      - { protocol: tcp, ports: 5432, group: web }
    egress: []
instances:
  web-1: { subnet: public-a, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [web] }
  db-1: { subnet: private-a, ip: 198.18.2.20, securityGroups: [db] }
  app-1: { subnet: private-a, ip: 198.18.2.30 }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: public-a, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
routeTables:
  public:
    routes: [ { destination: 0.0.0.0/0, target: igw } ]
  private:
    routes: [ { destination: 0.0.0.0/0, target: nat-a } ]
lab:
  prefix: demo
  internetHosts:
    web-client: 203.0.113.100
`;

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpcd-explain-'));
  file = join(dir, 'demo.yaml');
  writeFileSync(file, YAML);
  writeFileSync(join(dir, 'bad.yaml'), 'vpc:\n  name: demo\n  cidr: not-a-cidr\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...argv: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = runExplain(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += `${s}\n`) });
  return { code, stdout, stderr };
}

function json(...argv: string[]): Explanation {
  const r = run(...argv, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Explanation;
}

describe('vpcd explain --json', () => {
  it('prints the interfaces shape: flow, verdict, path with by/code, reply', () => {
    const e = json(file, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432');
    expect(e.flow).toEqual({ src: '198.18.1.10', dst: '198.18.2.20', proto: 'tcp', sport: 49152, dport: 5432 });
    expect(e.verdict).toBe('allow');
    expect(e.path.map((s) => [s.stage, s.on, s.verdict, s.by])).toEqual([
      ['sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }],
      ['nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }],
      ['route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }],
      ['nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }],
      ['sg-ingress', 'db-1', 'allow', { group: 'db', rule: 0 }],
      ['deliver', 'db-1', 'allow', undefined],
    ]);
    // [VPC-NACL] the classic mistake: the reply to port 49152 meets private-nacl's `*`.
    expect(e.reply?.verdict).toBe('deny');
    expect(e.reply?.path.at(-1)).toMatchObject({ stage: 'nacl-outbound', by: { nacl: 'private-nacl', rule: '*' }, code: 'SUBNET_ACL_RESTRICTION' });
  });

  it('an internet host name as source, an instance name as destination means its public IP', () => {
    const e = json(file, '--src', 'web-client', '--dst', 'web-1', '--proto', 'tcp', '--sport', '40000', '--dport', '443');
    expect(e.flow).toMatchObject({ src: '203.0.113.100', dst: '203.0.113.10', sport: 40000 });
    expect(e.path[0]).toEqual({ stage: 'igw', on: 'igw', verdict: 'allow', rewrite: { dst: '198.18.1.10' } });
    expect(e.verdict).toBe('allow');
  });

  it('`igw` stands for a host on the internet; a public IP as source names its instance', () => {
    expect(json(file, '--src', 'igw', '--dst', 'web-1', '--proto', 'tcp', '--dport', '443').flow.src).toBe('203.0.113.100');
    expect(json(file, '--src', '203.0.113.10', '--dst', 'igw', '--proto', 'udp', '--dport', '53').flow).toMatchObject({ src: '198.18.1.10', dst: '203.0.113.100', proto: 'udp' });
  });

  it('a NAT gateway name as destination from the internet: its Elastic IP, unsolicited inbound denied', () => {
    const e = json(file, '--src', '198.51.100.7', '--dst', 'nat-a', '--proto', 'tcp', '--dport', '443');
    expect(e.flow.dst).toBe('203.0.113.5');
    expect(e.path.at(-1)).toMatchObject({ stage: 'nat', on: 'nat-a', verdict: 'deny' });
  });

  it('icmp defaults to echo request; an ICMP error has no reply', () => {
    expect(json(file, '--src', 'web-1', '--dst', 'db-1', '--proto', 'icmp').flow).toMatchObject({ proto: 'icmp', icmpType: 8, icmpCode: 0 });
    const e = json(file, '--src', '198.51.100.1', '--dst', 'web-1', '--proto', 'icmp', '--icmp-type', '3', '--icmp-code', '4');
    expect(e.path.at(-2)).toMatchObject({ stage: 'sg-ingress', verdict: 'allow', by: { group: 'web', rule: 1 } });
    expect(e.path.at(-1)).toEqual({ stage: 'deliver', on: 'web-1', verdict: 'allow' });
    expect(e.reply).toBeUndefined();
  });

  it('carries per direction the legs and where it ends, rewrites applied (internet gateway 1:1 NAT)', () => {
    const e = json(file, '--src', 'web-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443');
    expect(e.legs).toEqual([
      {
        from: 'web-1',
        packet: { src: '198.18.1.10', dst: '198.51.100.7', proto: 'tcp', sport: 49152, dport: 443 },
        to: 'internet',
        arrived: { src: '203.0.113.10', dst: '198.51.100.7', proto: 'tcp', sport: 49152, dport: 443 },
        first: 0,
        last: 4,
      },
    ]);
    expect(e.end).toEqual({ verdict: 'allow', stage: 'deliver', at: 'internet', packet: e.legs[0]?.arrived });
    expect(e.reply?.end).toMatchObject({ verdict: 'allow', at: 'web-1', packet: { src: '198.51.100.7', dst: '198.18.1.10', dport: 49152 } });
  });

  it('--nat-port pins the NAT gateway\'s port; without it the JSON gives the range the gateway picks from', () => {
    const open = json(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443');
    expect(open.path.find((s) => s.stage === 'nat')).toMatchObject({
      rewrite: { src: '198.18.1.5', sportRange: { from: 1024, to: 65535 } },
      info: ['NGW_SOURCE_ADDRESS_REASSIGN', 'REMAP_EPHEMERAL_PORT', 'NGW_DEST_ADDRESS_PRESERVATION'],
    });
    expect(open.reply?.flow).toMatchObject({ dst: '203.0.113.5', dportRange: { from: 1024, to: 65535 } });
    const pinned = json(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443', '--nat-port', '40000');
    expect(pinned.path.find((s) => s.stage === 'nat')?.rewrite).toEqual({ src: '198.18.1.5', sport: 40000 });
    expect(pinned.end.packet).toMatchObject({ src: '203.0.113.5', sport: 40000 });
  });

  it('--fragment first: a NAT gateway drops fragmented TCP (allowed whole), and the JSON flow says it is a fragment', () => {
    const whole = json(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443');
    expect(whole.verdict).toBe('allow');
    const frag = json(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443', '--fragment', 'first');
    expect(frag.flow).toMatchObject({ fragment: 'first' });
    expect(frag.verdict).toBe('deny');
    expect(frag.path.at(-1)).toMatchObject({ stage: 'nat', verdict: 'deny', code: 'PROTOCOL_RESTRICTION' });
    expect(frag.path.at(-1)?.note).toMatch(/fragmented UDP only/);
  });

  it('--fragment later: a later fragment gets its first fragment\'s verdict; the text names it', () => {
    const r = run(file, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432', '--fragment', 'later');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(later fragment\)/);
  });

  it('--from: the instance that sends a source it does not own', () => {
    const e = json(file, '--src', '198.51.100.7', '--from', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432');
    expect(e.path).toMatchObject([{ stage: 'source-dest-check', on: 'web-1', verdict: 'deny', code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION' }]);
  });

  it('an AWS service address: the vpc-service stage', () => {
    const e = json(file, '--src', 'web-1', '--dst', '169.254.169.254', '--proto', 'tcp', '--dport', '80');
    expect(e.path).toMatchObject([{ stage: 'vpc-service', on: 'instance-metadata', verdict: 'allow' }]);
    expect(e.verdict).toBe('allow');
  });

  it('accepts --opt=value and a protocol number', () => {
    const e = json(file, '--src=web-1', '--dst=db-1', '--proto=47');
    expect(e.flow.proto).toBe(47);
    expect(e.path.at(-1)).toMatchObject({ stage: 'sg-ingress', code: 'ENI_SG_RULES_MISMATCH' });
  });
});

describe('vpcd explain (readable)', () => {
  it('prints one line per stage with the deciding rule and code, then the reply, with notes', () => {
    const r = run(file, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('request  tcp 198.18.1.10:49152 -> 198.18.2.20:5432: ALLOW');
    expect(lines[1]).toMatch(/^ {2}STAGE +ON +VERDICT +RULE +CODE$/);
    expect(lines[2]).toMatch(/^ {2}sg-egress +web-1 +allow +group web rule 0 \(tracked\)$/);
    expect(r.stdout).toMatch(/route +public-a +allow +table public: 198\.18\.0\.0\/16 -> local/);
    expect(r.stdout).toMatch(/reply {4}tcp 198\.18\.2\.20:5432 -> 198\.18\.1\.10:49152: DENY/);
    expect(r.stdout).toMatch(/sg-egress +db-1 +allow +tracked connection/);
    expect(r.stdout).toMatch(/nacl-outbound +private-a +deny +nacl private-nacl rule \* \(final deny\) +SUBNET_ACL_RESTRICTION/);
    expect(r.stdout).toMatch(/note: .*stateless/);
  });

  it('shows rewrites and says when there is no reply', () => {
    const nat = run(file, '--src', 'web-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443');
    expect(nat.stdout).toMatch(/igw +igw +allow +rewrite src -> 203\.0\.113\.10/);
    const err = run(file, '--src', '198.51.100.1', '--dst', 'web-1', '--proto', 'icmp', '--icmp-type', '3', '--icmp-code', '4');
    expect(err.stdout).toMatch(/reply {4}none/);
  });

  it('shows the NAT gateway\'s port range and its informational codes; a pinned port instead of the range', () => {
    const r = run(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443');
    expect(r.stdout).toMatch(/nat +nat-a +allow +rewrite src -> 198\.18\.1\.5, sport -> 1024-65535 \(picked at run time\)/);
    expect(r.stdout).toMatch(/info: NGW_SOURCE_ADDRESS_REASSIGN, REMAP_EPHEMERAL_PORT, NGW_DEST_ADDRESS_PRESERVATION/);
    expect(r.stdout).toMatch(/reply {4}tcp 198\.51\.100\.7:443 -> 203\.0\.113\.5:1024-65535/);
    const pinned = run(file, '--src', 'app-1', '--dst', '198.51.100.7', '--proto', 'tcp', '--dport', '443', '--nat-port', '2000');
    expect(pinned.stdout).toMatch(/sport -> 2000/);
  });

  it('a denied flow is still a successful evaluation (exit 0)', () => {
    const r = run(file, '--src', '203.0.113.66', '--dst', 'web-1', '--proto', 'tcp', '--dport', '443');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: DENY/);
    expect(r.stdout).toMatch(/nacl-inbound +public-a +deny +nacl public-nacl rule 90 +SUBNET_ACL_RESTRICTION/);
  });

  it('--help prints the usage and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: vpcd explain CONFIG --src X --dst Y --proto P/);
  });
});

describe('vpcd explain errors (exit 1, message on stderr, nothing on stdout)', () => {
  const cases: [string, string[], RegExp][] = [
    ['no config', ['--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /no configuration file given/],
    ['two configs', ['a.yaml', 'b.yaml', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /one configuration file expected/],
    ['missing --src', ['F', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /--src is required/],
    ['missing --proto', ['F', '--src', 'web-1', '--dst', 'db-1'], /--proto is required/],
    ['unknown option', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1', '--verbose'], /unknown option --verbose/],
    ['option without value', ['F', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1', '--src'], /--src needs a value/],
    ['option twice', ['F', '--src', 'web-1', '--src', 'db-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /--src given twice/],
    ['protocol all', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'all'], /one protocol/],
    ['bad protocol', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'sctpx'], /--proto must be/],
    ['ports with icmp', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'icmp', '--dport', '1'], /tcp and udp only/],
    ['icmp type with tcp', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1', '--icmp-type', '8'], /icmp only/],
    ['tcp without dport', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp'], /--dport is required for tcp/],
    ['port out of range', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'udp', '--dport', '70000'], /--dport must be an integer 0-65535/],
    ['icmp type out of range', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'icmp', '--icmp-type', '256'], /--icmp-type must be an integer 0-255/],
    ['unknown name', ['F', '--src', 'web-9', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /--src 'web-9' is not an instance/],
    ['unknown destination', ['F', '--src', 'web-1', '--dst', 'nowhere', '--proto', 'tcp', '--dport', '1'], /--dst 'nowhere'/],
    ['source no ENI owns', ['F', '--src', '198.18.2.77', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /no network interface owns the source/],
    ['same instance', ['F', '--src', 'web-1', '--dst', '198.18.1.10', '--proto', 'tcp', '--dport', '1'], /both source and destination/],
    ['nat port below 1024', ['F', '--src', 'app-1', '--dst', 'igw', '--proto', 'tcp', '--dport', '443', '--nat-port', '80'], /--nat-port must be an integer 1024-65535/],
    ['nat port with icmp', ['F', '--src', 'app-1', '--dst', 'igw', '--proto', 'icmp', '--nat-port', '2000'], /--nat-port applies to tcp and udp only/],
    ['bad --fragment', ['F', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1', '--fragment', 'middle'], /--fragment must be first or later/],
    ['unknown --from', ['F', '--src', '198.51.100.7', '--from', 'nobody', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], /--from 'nobody' is not an instance/],
  ];
  it.each(cases)('%s', (_name, argv, message) => {
    const r = run(...argv.map((a) => (a === 'F' ? file : a)));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^vpcd explain: /);
  });

  it('a missing configuration file: exit 1', () => {
    const r = run(join(dir, 'missing.yaml'), '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.yaml: cannot read: no such file/);
  });

  it('an invalid configuration: exit 1 with file:line:column problems', () => {
    const r = run(join(dir, 'bad.yaml'), '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+: /);
  });
});
