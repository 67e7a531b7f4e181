/**
 * `vpcd import aws` on AWS CLI describe-* output (fixtures in the CLI's
 * shape under test/fixtures/aws): a default VPC and a three-tier VPC with NAT
 * gateways, blackhole and propagated routes, a VPN, prefix lists, peering,
 * transit gateway and endpoint routes. The imported file passes `vpcd check`,
 * `vpcd explain` gives AWS's verdicts on documented flows, and everything
 * that cannot be mapped is in the report on stderr.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../../src/cli/check.js';
import { runExplain } from '../../../src/cli/explain.js';
import { runImport } from '../../../src/cli/import.js';
import type { Explanation } from '../../../src/policy/types.js';

const FIX = resolve(import.meta.dirname, '../../fixtures/aws');
const tmp = mkdtempSync(join(tmpdir(), 'vpcd-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function importAws(args: string[], stdin = ''): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = runImport(['aws', ...args], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += `${s}\n`) }, () => stdin);
  return { code, stdout, stderr };
}

/** Imports, writes the file, and checks it with `vpcd check`. */
function imported(name: string, args: string[]): { file: string; yaml: string; report: string } {
  const r = importAws(args);
  expect(r.code, r.stderr).toBe(0);
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, r.stdout);
  const out: string[] = [];
  const err: string[] = [];
  expect(runCheck([file], { stdout: (s) => out.push(s), stderr: (s) => err.push(s) }), out.join('\n')).toBe(0);
  expect(out[0]).toMatch(/: OK: /);
  return { file, yaml: r.stdout, report: r.stderr };
}

function explain(file: string, ...args: string[]): Explanation {
  let stdout = '';
  let stderr = '';
  const code = runExplain([file, ...args, '--json'], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as Explanation;
}

/** verdict of the request, and where it ended: `deny sg-ingress ENI_SG_RULES_MISMATCH`. */
function verdict(e: Explanation): string {
  if (e.verdict === 'allow') return e.reply === undefined || e.reply.verdict === 'allow' ? 'allow' : `reply-deny ${e.reply.end.stage} ${e.reply.end.code ?? ''}`.trim();
  return `deny ${e.end.stage} ${e.end.code ?? ''}`.trim();
}

describe('import aws: the default VPC', () => {
  const { file, yaml, report } = imported('default', [join(FIX, 'default-vpc'), '--remap', '172.31.0.0/16=198.18.0.0/16']);

  it('maps the VPC, its default subnets, main route table, default NACL and groups; ids where there are no Name tags', () => {
    expect(yaml).toMatch(/^vpc:\n {2}name: vpc-0b1e6a7c3d2f45e01\n {2}cidr: 198\.18\.0\.0\/16\n/m);
    expect(yaml).toContain('subnet-07a1c2e3f4b5d6071: { cidr: 198.18.32.0/20, routeTable: rtb-0f9e8d7c6b5a49382, networkAcl: acl-0e1d2c3b4a5968778 }');
    expect(yaml).toContain('# rtb-0f9e8d7c6b5a49382 (the main route table)');
    expect(yaml).toContain('- { destination: 0.0.0.0/0, target: igw-04c8d6b1a9e37f210 }');
    expect(yaml).toMatch(/ {2}default:\n {4}description: default VPC security group\n {4}ingress:\n {6}- \{ protocol: all, group: default \}/);
    expect(yaml).toContain('web: { subnet: subnet-07a1c2e3f4b5d6071, ip: 198.18.40.10, publicIp: 203.0.113.10, securityGroups: [ launch-wizard-1 ], mac: 0e:3a:51:7c:2b:91 }');
  });

  it('reports the gateway endpoint route it cannot map', () => {
    expect(report).toMatch(/not mapped \(1\)/);
    expect(report).toContain('route table rtb-0f9e8d7c6b5a49382: route pl-63a5400a -> VPC endpoint vpce-0a1b2c3d4e5f67890: left out');
  });

  it('explain gives AWS\'s verdicts', () => {
    // SSH from anywhere through launch-wizard-1, and the internet gateway's 1:1 NAT.
    const ssh = explain(file, '--src', '198.51.100.100', '--dst', 'web', '--proto', 'tcp', '--dport', '22');
    expect(verdict(ssh)).toBe('allow');
    expect(ssh.path[0]).toMatchObject({ stage: 'igw', rewrite: { dst: '198.18.40.10' } });
    // The default group admits only its own members.
    expect(verdict(explain(file, '--src', '198.51.100.100', '--dst', 'worker', '--proto', 'tcp', '--dport', '22'))).toBe('deny sg-ingress ENI_SG_RULES_MISMATCH');
    expect(verdict(explain(file, '--src', 'worker', '--dst', 'worker-2', '--proto', 'tcp', '--dport', '5432'))).toBe('allow');
    expect(verdict(explain(file, '--src', 'web', '--dst', 'worker', '--proto', 'tcp', '--dport', '5432'))).toBe('deny sg-ingress ENI_SG_RULES_MISMATCH');
    // Out to the internet from its public IP; ping not allowed by launch-wizard-1.
    const out = explain(file, '--src', 'worker', '--dst', '198.51.100.100', '--proto', 'tcp', '--dport', '443');
    expect(verdict(out)).toBe('allow');
    expect(out.path.find((s) => s.stage === 'igw')?.rewrite).toEqual({ src: '203.0.113.11' });
    expect(verdict(explain(file, '--src', '198.51.100.100', '--dst', 'web', '--proto', 'icmp'))).toBe('deny sg-ingress ENI_SG_RULES_MISMATCH');
  });
});

describe('import aws: a three-tier VPC with NAT gateways and a VPN', () => {
  const { file, yaml, report } = imported('three-tier', [
    join(FIX, 'three-tier'), '--remap', '10.0.0.0/16=198.18.0.0/16', '--remap', '192.168.0.0/16=198.19.0.0/16',
  ]);

  it('names objects from their Name tags and resolves every reference', () => {
    expect(yaml).toContain('app-a: { cidr: 198.18.10.0/24, routeTable: app-a-rt, networkAcl: app-nacl }');
    expect(yaml).toContain('- { protocol: tcp, ports: 8080, group: web-sg }');
    expect(yaml).toContain('- { protocol: tcp, ports: 22, prefixList: corp-admin, description: SSH from the corporate network }');
    expect(yaml).toContain('cidrs: [ 198.19.10.0/24, 198.51.100.0/28 ]');
    expect(yaml).toContain('nat-a: { subnet: public-a, type: public, ip: 198.18.0.10, publicIp: 198.51.100.5 }');
    expect(yaml).toContain('- { destination: 0.0.0.0/0, target: nat-a }');
    expect(yaml).toContain('internetGateway: { name: three-tier-igw }');
  });

  it('maps IpPermissions: ICMP type/code, protocol -1, IPv6 ranges, descriptions; an empty egress stays empty', () => {
    expect(yaml).toContain('- { protocol: icmp, icmpType: 8, cidr: 198.18.0.0/16, description: ping from the VPC }');
    expect(yaml).toContain('- { protocol: icmp, icmpType: 3, icmpCode: 4, cidr: 0.0.0.0/0, description: path MTU discovery }');
    expect(yaml).toContain('- { protocol: tcp, ports: 443, cidr: ::/0, description: HTTPS over IPv6 }');
    expect(yaml).toMatch(/ {2}quarantine:\n {4}description: No traffic in or out\n {4}ingress: \[\]\n {4}egress: \[\]/);
  });

  it('maps NACL entries both ways with their numbers, without the final * entries', () => {
    expect(yaml).toContain('- { rule: 90, action: deny, protocol: all, cidr: 203.0.113.66/32 }');
    expect(yaml).toContain('- { rule: 130, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 }');
    expect(yaml).toContain('- { rule: 110, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }');
    expect(yaml).not.toMatch(/rule: 3276[78]/);
  });

  it('the main route table by implicit association, a blackhole route, propagated VPN routes as static', () => {
    expect(yaml).toMatch(/# subnet-0c33d44e55f66a772 \(us-west-2b\); the main route table by implicit association\n {2}db-b: \{ cidr: 198\.18\.21\.0\/24, routeTable: main-rt,/);
    expect(yaml).toMatch(/db-rt:\n {4}routes:\n {6}- \{ destination: 0\.0\.0\.0\/0, target: blackhole \}/);
    expect(yaml).toContain('- { destination: 198.19.0.0/16, target: vgw-0e4d3c2b1a0f98765 }');
    expect(report).toContain('route table db-rt (rtb-0e4f5a6b7c8d9e0f1): route 0.0.0.0/0 -> nat-0dead0beef0000003 is in state blackhole (its target is gone): target blackhole');
  });

  it('a VPN connection with tunnels, proposals and the key left to the environment', () => {
    expect(yaml).toContain('- { peer: 198.51.100.2, insideCidr: 169.254.44.40/30, local: 198.51.100.201 }');
    expect(yaml).toContain('proposals: [ aes256gcm16-prfsha256-ecp256-modp2048, aes128-sha256-ecp256-modp2048 ]');
    expect(yaml).toContain('auth: { psk: { env: VPN_PSK_TO_HQ } }');
    expect(yaml).not.toContain('EXAMPLEpsk');
    expect(report).toContain('the pre-shared key is read from the environment variable VPN_PSK_TO_HQ (the input holds it; it is not copied into the file)');
  });

  it('lists everything it cannot map on stderr', () => {
    const expected = [
      'VPC three-tier (vpc-03f1e2d4c5b6a7980): IPv6 CIDR block 2600:1f14:abc:de00::/56',
      'subnet public-a (subnet-0a11b22c33d44e551): IPv6 CIDR block 2600:1f14:abc:de00::/64',
      'security group app-sg (sg-0a0b0c0d0e0f00003) ingress: a rule referencing group sg-0f9e8d7c6b5a43210 of account 444455556666',
      'instance app-1 (i-0f00000000000d004): secondary private address 10.0.10.21',
      'route table public-rt (rtb-0b1c2d3e4f5a6b7c8): IPv6 route ::/0 -> igw-0d7c6b5a4e3f21908',
      'route table app-a-rt (rtb-0c2d3e4f5a6b7c8d9): route 10.1.0.0/16 -> VPC peering connection pcx-0f1e2d3c4b5a69870: left out',
      'route table app-b-rt (rtb-0d3e4f5a6b7c8d9e0): route 172.16.0.0/12 -> transit gateway tgw-0a9b8c7d6e5f40312: left out',
      'route table db-rt (rtb-0e4f5a6b7c8d9e0f1): route pl-68a54001 -> VPC endpoint vpce-0b1c2d3e4f5a60789: left out',
      'VPN connection to-hq (vpn-0123456789abcdef0): phase 1 algorithms vpcd does not implement: group 24',
    ];
    const section = report.slice(report.indexOf('not mapped ('), report.indexOf('notes ('));
    for (const e of expected) expect(section).toContain(e);
    expect(section).toMatch(/not mapped \(9\)/);
    expect(report).toContain('instance old-web (i-0f0000000000b0008): state terminated: left out');
    expect(report).toContain('NAT gateway nat-old (nat-0dead0beef0000003): state deleted');
    expect(report).toContain('a further network interface of instance app-1: mapped as instance app-1-eth1');
  });

  it('explain gives AWS\'s verdicts on the documented flows', () => {
    const v = (...a: string[]) => verdict(explain(file, ...a));
    // The internet reaches the web tier on 443 through the IGW; the NACL's deny rule 90 and its final * rule stop the rest.
    expect(v('--src', 'client', '--dst', 'web-1', '--proto', 'tcp', '--dport', '443')).toBe('allow');
    const bad = explain(file, '--src', '203.0.113.66', '--dst', 'web-1', '--proto', 'tcp', '--dport', '443');
    expect(verdict(bad)).toBe('deny nacl-inbound SUBNET_ACL_RESTRICTION');
    expect(bad.end.at).toBe('public-a');
    expect(bad.path.at(-1)?.by).toEqual({ nacl: 'public-nacl', rule: 90 });
    expect(explain(file, '--src', 'client', '--dst', 'web-1', '--proto', 'tcp', '--dport', '22').path.at(-1)?.by).toEqual({ nacl: 'public-nacl', rule: '*' });
    // Group references: the bastion may SSH to the web tier, the web tier may reach the app tier on 8080.
    expect(v('--src', 'bastion', '--dst', 'web-1', '--proto', 'tcp', '--dport', '22')).toBe('allow');
    expect(v('--src', 'web-1', '--dst', 'app-1', '--proto', 'tcp', '--dport', '8080')).toBe('allow');
    expect(v('--src', 'bastion', '--dst', 'web-1', '--proto', 'icmp')).toBe('allow');
    // The database tier admits the app group only: the web tier's 5432 passes the NACL (its ephemeral
    // rule 110 covers 5432) and stops at the group.
    const web = explain(file, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432');
    expect(verdict(web)).toBe('deny sg-ingress ENI_SG_RULES_MISMATCH');
    expect(web.path.find((s) => s.stage === 'nacl-inbound')?.by).toEqual({ nacl: 'db-nacl', rule: 110 });
    expect(v('--src', 'app-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432')).toBe('allow');
    expect(v('--src', 'db-1', '--dst', 'app-1', '--proto', 'tcp', '--dport', '8080')).toBe('deny sg-egress ENI_SG_RULES_MISMATCH');
    // The app tier goes out through its NAT gateway, whose Elastic IP the internet sees.
    const nat = explain(file, '--src', 'app-1', '--dst', 'client', '--proto', 'tcp', '--dport', '443');
    expect(verdict(nat)).toBe('allow');
    expect(nat.path.find((s) => s.stage === 'igw')?.rewrite).toEqual({ src: '198.51.100.5' });
    expect(v('--src', 'app-2', '--dst', 'client', '--proto', 'tcp', '--dport', '443')).toBe('allow');
    // No way in to a private address; the blackhole route and the main table's local route only.
    expect(v('--src', 'client', '--dst', 'app-1', '--proto', 'tcp', '--dport', '8080')).toBe('deny igw IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS');
    expect(v('--src', 'db-1', '--dst', 'client', '--proto', 'tcp', '--dport', '443')).toBe('deny route BAD_STATE_ROUTE');
    expect(v('--src', 'db-2', '--dst', 'client', '--proto', 'tcp', '--dport', '443')).toBe('deny route NO_ROUTE_TO_DESTINATION');
    // The corporate network over the VPN: SSH to the app tier through the prefix list, not to the database tier.
    expect(v('--src', '198.19.10.5', '--dst', 'app-1', '--proto', 'tcp', '--dport', '22')).toBe('allow');
    expect(v('--src', 'app-1', '--dst', '198.19.10.5', '--proto', 'tcp', '--dport', '22')).toBe('allow');
    expect(v('--src', '198.19.10.5', '--dst', 'db-1', '--proto', 'tcp', '--dport', '22')).toBe('deny nacl-inbound SUBNET_ACL_RESTRICTION');
  });
});

describe('import aws: inputs, options and errors', () => {
  const dir = join(FIX, 'three-tier');
  const f = (n: string) => join(dir, n);
  const all = ['vpcs', 'subnets', 'route-tables', 'network-acls', 'security-groups', 'instances', 'nat-gateways', 'internet-gateways', 'prefix-lists', 'pl-0c0a1b2c3d4e5f607', 'vpn-connections'].map((n) => f(`${n}.json`));

  it('files one by one give the same file as the directory', () => {
    const a = importAws([dir]);
    const b = importAws(all);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });

  it('- reads standard input; one document may hold several outputs (an object or an array of them)', () => {
    const merged = Object.assign({}, ...all.filter((p) => !p.includes('pl-0c0a')).map((p) => JSON.parse(readFileSync(p, 'utf8')) as object));
    const one = importAws(['-', f('pl-0c0a1b2c3d4e5f607.json')], JSON.stringify(merged));
    const arr = importAws(['-', f('pl-0c0a1b2c3d4e5f607.json')], JSON.stringify(all.filter((p) => !p.includes('pl-0c0a')).map((p) => JSON.parse(readFileSync(p, 'utf8')) as unknown)));
    const ref = importAws([dir]).stdout;
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe(ref);
    expect(arr.stdout).toBe(ref);
  });

  it('an output of another command is listed, not dropped silently', () => {
    const p = join(tmp, 'endpoints.json');
    writeFileSync(p, JSON.stringify({ VpcEndpoints: [{ VpcEndpointId: 'vpce-0b1c2d3e4f5a60789' }] }));
    const r = importAws([dir, p]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`input: ${p}: VpcEndpoints (1 item): not an output vpcd import reads`);
  });

  it('a prefix list without its entries: the rules and routes that use it are reported', () => {
    const r = importAws(all.filter((p) => !p.includes('pl-0c0a')));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/prefix list pl-0c0a1b2c3d4e5f607 \(corp-admin\): its entries are not in the input .*get-managed-prefix-list-entries --prefix-list-id pl-0c0a1b2c3d4e5f607/);
    expect(r.stderr).toContain('the tcp rule for prefix list pl-0c0a1b2c3d4e5f607 is left out');
    expect(r.stdout).not.toContain('prefixList:');
  });

  it('several VPCs need --vpc (id or Name tag); without describe-vpcs there is nothing to import', () => {
    const other = join(tmp, 'other-vpc.json');
    writeFileSync(other, JSON.stringify({ Vpcs: [{ VpcId: 'vpc-0ffffffffffffffff', CidrBlock: '10.9.0.0/16', Tags: [{ Key: 'Name', Value: 'other' }] }] }));
    const r = importAws([dir, other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the input holds 2 VPCs \(vpc-03f1e2d4c5b6a7980 \(three-tier\), vpc-0ffffffffffffffff \(other\)\); choose one with --vpc ID/);
    const pick = importAws([dir, other, '--vpc', 'three-tier']);
    expect(pick.code).toBe(0);
    expect(pick.stderr).toContain('other VPCs in the input are not imported: vpc-0ffffffffffffffff (other)');
    expect(importAws([f('subnets.json')]).stderr).toMatch(/no describe-vpcs output/);
  });

  it('--remap: moves addresses, reports a CIDR around the moved range, rejects bad forms', () => {
    const p = join(tmp, 'wide-rule.json');
    const sgs = JSON.parse(readFileSync(f('security-groups.json'), 'utf8')) as { SecurityGroups: { GroupName: string; IpPermissions: unknown[] }[] };
    sgs.SecurityGroups.find((g) => g.GroupName === 'bastion-sg')!.IpPermissions.push({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }], UserIdGroupPairs: [], Ipv6Ranges: [], PrefixListIds: [] });
    writeFileSync(p, JSON.stringify(sgs));
    const r = importAws([...all.filter((x) => !x.includes('security-groups')), p, '--remap', '10.0.0.0/16=198.18.0.0/16']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('10.0.0.0/8 contains the remapped range 10.0.0.0/16 and is kept as it is');
    expect(importAws([dir, '--remap', '10.0.0.0/16=198.18.0.0/24']).stderr).toMatch(/FROM and TO must have the same prefix length/);
    expect(importAws([dir, '--remap', '10.0.0.0/16']).stderr).toMatch(/is not FROM=TO/);
    expect(importAws([dir, '--remap', '10.0.0.0/16=198.18.0.0/16', '--remap', '10.0.0.0/8=198.0.0.0/8']).stderr).toMatch(/overlap/);
  });

  it('bad input: not JSON, a missing file, no source, an unknown source', () => {
    const p = join(tmp, 'broken.json');
    writeFileSync(p, '{"Vpcs": [');
    const broken = importAws([p]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`^vpcd import: ${p.replace(/[.]/g, '\\.')}: not JSON: `));
    expect(importAws([join(tmp, 'nope.json')]).stderr).toMatch(/nope\.json: cannot read: no such file or directory/);
    let err = '';
    expect(runImport([], { stdout: () => {}, stderr: (s) => (err += s) })).toBe(1);
    expect(err).toMatch(/no source given/);
    err = '';
    expect(runImport(['gcp', 'x'], { stdout: () => {}, stderr: (s) => (err += s) })).toBe(1);
    expect(err).toMatch(/unknown source 'gcp': only aws is supported/);
  });
});
