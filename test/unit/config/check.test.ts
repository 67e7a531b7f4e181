import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../../src/cli/check.js';

const root = resolve(import.meta.dirname, '../../..');
const rel = (p: string): string => relative(process.cwd(), resolve(root, p));
const FULL = rel('config/examples/full.yaml');
const INVALID = rel('test/fixtures/config/invalid.yaml');
const WARNING = rel('test/fixtures/config/warning.yaml');

function check(...argv: string[]): { code: number; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = runCheck(argv, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'vpcd-check-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('vpcd check', () => {
  it('exit 0 and a one-line OK summary for a valid file', () => {
    const r = check(FULL);
    expect(r.code).toBe(0);
    expect(r.stderr).toEqual([]);
    expect(r.stdout).toEqual([
      `${FULL}: OK: vpc demo 198.18.0.0/16: 3 subnets, 5 instances, 5 security groups, 3 network ACLs, 3 route tables, 2 NAT gateways, 2 VPN connections, internet gateway`,
    ]);
  });

  it('exit 1 and file:line:column: message per problem for an invalid file', () => {
    const r = check(INVALID);
    expect(r.code).toBe(1);
    expect(r.stdout).toEqual([
      `${INVALID}:4:9: vpc.cidr: 198.18.0.0/15 has prefix length /15; AWS VPC blocks are /16 to /28`,
      `${INVALID}:12:5: instances.i.securityGroup: unknown key (did you mean "securityGroups"?)`,
    ]);
    for (const line of r.stdout) expect(line).toMatch(/^[^:]+:\d+:\d+: \S/);
    expect(r.stderr).toEqual([`${INVALID}: 2 problems found`]);
  });

  it('warnings go to stderr and do not fail the check', () => {
    const r = check(WARNING);
    expect(r.code).toBe(0);
    expect(r.stdout).toEqual([`${WARNING}: OK: vpc warn 198.18.0.0/16: 0 subnets, 0 instances, 2 security groups, 1 network ACL, 1 route table, 0 NAT gateways, 0 VPN connections (1 warning)`]);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(new RegExp(`^${WARNING.replace(/[.]/g, '\\.')}:8:26: warning: securityGroups\\.open\\.ingress\\[0\\]\\.ports: ignored`));
  });

  it('reports YAML syntax errors with their position', () => {
    const f = join(tmp, 'syntax.yaml');
    writeFileSync(f, 'vpc:\n  name: x\n  cidr: [198.18.0.0/16\n');
    const r = check(f);
    expect(r.code).toBe(1);
    expect(r.stdout).toHaveLength(1);
    expect(r.stdout[0]).toMatch(new RegExp(`^${f}:4:1: YAML syntax error: `));
  });

  it('several files: exit 1 if any is invalid, every file reported', () => {
    const r = check(FULL, INVALID);
    expect(r.code).toBe(1);
    expect(r.stdout[0]).toMatch(/: OK: /);
    expect(r.stdout).toHaveLength(3);
  });

  it('exit 1 for a missing file, no file, or an unknown option', () => {
    const missing = check(join(tmp, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toEqual([`${join(tmp, 'nope.yaml')}: cannot read: no such file`]);
    expect(missing.stdout).toEqual([]);
    const none = check();
    expect(none.code).toBe(1);
    expect(none.stderr[0]).toBe("vpcd check: no configuration file given\nRun 'vpcd check --help' for usage.");
    const opt = check('--strict', FULL);
    expect(opt.code).toBe(1);
    expect(opt.stderr[0]).toMatch(/^vpcd check: unknown option --strict\n/);
    const typo = check('--jsn', FULL);
    expect(typo.code).toBe(1);
    expect(typo.stderr[0]).toBe('vpcd check: unknown option --jsn (did you mean "--json"?)\nRun \'vpcd check --help\' for usage.');
  });

  it('--help prints usage and exits 0; -- ends options', () => {
    const help = check('--help');
    expect(help.code).toBe(0);
    expect(help.stderr).toEqual([]);
    expect(help.stdout[0]).toMatch(/^usage: vpcd check \[--json\] CONFIG \[CONFIG\.\.\.\]\n/);
    expect(check(FULL, '-h').stdout[0]).toBe(help.stdout[0]);
    expect(check('--', FULL).code).toBe(0);
  });

  it('--json: one document with every file, its problems, warnings and summary; exit as without', () => {
    const r = check('--json', FULL, INVALID, WARNING, join(tmp, 'nope.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toEqual([]);
    expect(r.stdout).toHaveLength(1);
    const doc = JSON.parse(r.stdout[0]!) as { valid: boolean; files: { file: string; valid: boolean; problems: { line: number; column: number; message: string }[]; warnings: unknown[]; summary?: string; error?: string }[] };
    expect(doc.valid).toBe(false);
    expect(doc.files.map((f) => [f.file, f.valid])).toEqual([[FULL, true], [INVALID, false], [WARNING, true], [join(tmp, 'nope.yaml'), false]]);
    expect(doc.files[0]!.summary).toMatch(/^vpc demo 198\.18\.0\.0\/16: 3 subnets/);
    expect(doc.files[1]!.problems.map((p) => `${p.line}:${p.column}`)).toEqual(['4:9', '12:5']);
    expect(doc.files[2]!.warnings).toHaveLength(1);
    expect(doc.files[3]!.error).toBe('no such file');
    const ok = check('--json', FULL);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout[0]!) as { valid: boolean }).valid).toBe(true);
  });

  it('exit 1 for a directory', () => {
    const r = check(tmp);
    expect(r.code).toBe(1);
    expect(r.stderr).toEqual([`${tmp}: cannot read: is a directory`]);
  });
});
