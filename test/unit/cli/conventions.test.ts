/**
 * The command-line conventions every `vpcd` command follows (docs/cli.md):
 * --help on stdout with exit 0, --version, the overview for `vpcd` alone,
 * unknown options exit 1 with a suggestion, `-` for stdin, did-you-mean for
 * names, check --json, explain --expect, --log-level and the readable log
 * format, and the lab's argument errors (before any root check).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../../src/cli/check.js';
import { runExplain } from '../../../src/cli/explain.js';
import { runLab } from '../../../src/cli/lab.js';
import { chooseLogFormat, formatLogLine } from '../../../src/cli/log-pretty.js';
import { main, OVERVIEW } from '../../../src/cli/main.js';
import { makeLogger, parseRunArgs } from '../../../src/cli/run.js';

const root = resolve(import.meta.dirname, '../../..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const tmp = mkdtempSync(join(tmpdir(), 'vpcd-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const YAML = `
vpc: { name: demo, cidr: 198.18.0.0/16 }
subnets:
  public-a: { cidr: 198.18.1.0/24, routeTable: public }
  private-a: { cidr: 198.18.2.0/24 }
securityGroups:
  web: { ingress: [ { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 } ] }
  db: { ingress: [ { protocol: tcp, ports: 5432, group: web } ] }
instances:
  web-1: { subnet: public-a, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [web] }
  db-1: { subnet: private-a, ip: 198.18.2.20, securityGroups: [db] }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
`;
const CFG = join(tmp, 'demo.yaml');
writeFileSync(CFG, YAML);

type Result = { code: number; stdout: string; stderr: string };
function capture(run: (out: { stdout: (s: string) => void; stderr: (s: string) => void }) => number | Promise<number>): Promise<Result> {
  let stdout = '';
  let stderr = '';
  return Promise.resolve(run({ stdout: (s) => (stdout += `${s}\n`), stderr: (s) => (stderr += `${s}\n`) })).then((code) => ({ code, stdout, stderr }));
}
const vpcd = (...argv: string[]) => capture((out) => main(argv, out));

describe('help, version, overview', () => {
  it.each(['run', 'check', 'explain', 'observe', 'conntrack', 'lab', 'import', 'version'])('vpcd %s --help: usage on stdout, exit 0', async (cmd) => {
    for (const flag of ['--help', '-h']) {
      const r = await vpcd(cmd, flag);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^usage: vpcd ${cmd}`));
    }
    expect((await vpcd('help', cmd)).stdout).toBe((await vpcd(cmd, '--help')).stdout);
  });

  it('--help wins over other arguments, also bad ones', async () => {
    const r = await vpcd('explain', 'x.yaml', '--bogus', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: vpcd explain/);
  });

  it('vpcd --version and vpcd version print the version', async () => {
    expect(await vpcd('--version')).toEqual({ code: 0, stdout: `vpcd ${version}\n`, stderr: '' });
    expect((await vpcd('version')).stdout).toBe(`vpcd ${version}\n`);
  });

  it('vpcd alone prints the overview on stdout and exits 0', async () => {
    const r = await vpcd();
    expect(r).toEqual({ code: 0, stdout: `${OVERVIEW}\n`, stderr: '' });
    for (const cmd of ['run', 'check', 'explain', 'lab up|down|status', 'lab exec', 'import aws', 'version']) expect(r.stdout).toContain(`  ${cmd}`);
  });

  it('an unknown command exits 1 with a suggestion', async () => {
    const r = await vpcd('expalin');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("vpcd: unknown command 'expalin' (did you mean \"explain\"?)\nRun 'vpcd --help' for the commands.\n");
  });
});

describe('unknown options exit 1 with a hint', () => {
  const cases: [string[], string][] = [
    [['run', CFG, '--log-levl', 'debug'], 'vpcd run: unknown option --log-levl (did you mean "--log-level"?)'],
    [['check', '--jsn', CFG], 'vpcd check: unknown option --jsn (did you mean "--json"?)'],
    [['explain', CFG, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dprot', '5432'], 'vpcd explain: unknown option --dprot (did you mean "--dport"?)'],
    [['lab', 'up', CFG, '--quite'], 'vpcd lab: unknown option --quite (did you mean "--quiet"?)'],
    [['import', 'aws', 'x.json', '--remp', 'a=b'], 'vpcd import: unknown option --remp (did you mean "--remap"?)'],
    [['explain', CFG, '--verbose'], 'vpcd explain: unknown option --verbose'],
  ];
  it.each(cases)('%j', async (argv, message) => {
    const r = await vpcd(...argv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const cmd = argv[0]!;
    expect(r.stderr).toBe(`${message}\nRun 'vpcd ${cmd} --help' for usage.\n`);
  });

  it('an option without its value, or given twice', async () => {
    expect((await vpcd('explain', CFG, '--dst', 'db-1', '--proto', 'tcp', '--src')).stderr).toMatch(/^vpcd explain: --src needs a value\n/);
    expect((await vpcd('explain', CFG, '--src', '--dst', 'db-1')).stderr).toMatch(/^vpcd explain: --src needs a value \(write --src=VALUE/);
    expect((await vpcd('run', CFG, '--log-level', 'info', '--log-level', 'debug')).stderr).toMatch(/^vpcd run: --log-level given twice\n/);
    expect((await vpcd('check', '--json=yes', CFG)).stderr).toMatch(/^vpcd check: --json takes no value\n/);
  });
});

describe('explain: stdin, did-you-mean, --expect', () => {
  const explain = (argv: string[], stdin = '') => capture((out) => runExplain(argv, out, () => stdin));

  it('`-` reads the configuration from standard input, like check -', async () => {
    const r = await explain(['-', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432', '--json'], YAML);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { verdict: string }).verdict).toBe('allow');
    const bad = await explain(['-', '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1'], 'vpc: { name: x }\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^<stdin>:1:1: vpc\.cidr: required key is missing/);
    const chk = await capture((out) => runCheck(['-'], out, () => YAML));
    expect(chk.stdout).toMatch(/^<stdin>: OK: |^-: OK: /);
  });

  it('suggests the closest instance; says what a subnet or group name is', async () => {
    const typo = await explain([CFG, '--src', 'web1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe("vpcd explain: --src 'web1' is not an instance, NAT gateway, internet host, igw or IPv4 address of this configuration (did you mean instance \"web-1\"?)\n");
    const subnet = await explain([CFG, '--src', 'web-1', '--dst', 'private-a', '--proto', 'tcp', '--dport', '5432']);
    expect(subnet.stderr).toBe("vpcd explain: --dst 'private-a' is a subnet (198.18.2.0/24), not an instance; give one of its instances or an address in it (its instances: db-1)\n");
    const group = await explain([CFG, '--src', 'web', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432']);
    expect(group.stderr).toBe("vpcd explain: --src 'web' is a security group, not an instance (its instances: web-1)\n");
    const groupTypo = await explain([CFG, '--src', 'web-1', '--dst', 'dbb', '--proto', 'tcp', '--dport', '5432']);
    expect(groupTypo.stderr).toMatch(/\(did you mean security group "db"\?\)/);
    const from = await explain([CFG, '--src', '198.51.100.7', '--from', 'web-2', '--dst', 'db-1', '--proto', 'tcp', '--dport', '1']);
    expect(from.stderr).toMatch(/--from 'web-2' is not an instance of this configuration \(did you mean "web-1"\?\)/);
  });

  it('--expect allow|deny: exit 1 on a mismatch, with the stage that decided; 0 when it matches', async () => {
    const args = [CFG, '--src', 'web-1', '--dst', 'db-1', '--proto', 'tcp', '--dport', '5432'];
    expect((await explain([...args, '--expect', 'allow'])).code).toBe(0);
    const miss = await explain([...args, '--expect', 'deny']);
    expect(miss.code).toBe(1);
    expect(miss.stdout).toMatch(/: ALLOW/);
    expect(miss.stderr).toBe('vpcd explain: expected deny, got allow\n');
    const denied = [CFG, '--src', 'db-1', '--dst', 'web-1', '--proto', 'tcp', '--dport', '22'];
    expect((await explain([...denied, '--expect', 'deny'])).code).toBe(0);
    const d = await explain([...denied, '--expect', 'allow']);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe('vpcd explain: expected allow, got deny: request denied at sg-ingress on web-1 (ENI_SG_RULES_MISMATCH)\n');
    expect((await explain([...args, '--expect', 'alow'])).stderr).toMatch(/--expect must be allow or deny, not 'alow' \(did you mean "allow"\?\)/);
  });
});

describe('run: --log-level and the log format', () => {
  it('--log-level and VPCD_LOG_LEVEL set the level; bad values exit 1', async () => {
    expect(parseRunArgs([CFG], {}).level).toBe('info');
    expect(parseRunArgs([CFG, '--log-level', 'debug'], {}).level).toBe('debug');
    expect(parseRunArgs([CFG], { VPCD_LOG_LEVEL: 'warn' }).level).toBe('warn');
    expect(parseRunArgs([CFG, '--log-level=error'], { VPCD_LOG_LEVEL: 'warn' }).level).toBe('error');
    expect(makeLogger(parseRunArgs([CFG, '--log-level', 'warn'], {}), false).level).toBe('warn');
    const r = await vpcd('run', CFG, '--log-level', 'loud');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vpcd run: --log-level must be one of trace, debug, info, warn, error, fatal, silent, not 'loud'\n/);
    expect((await vpcd('run')).stderr).toMatch(/^vpcd run: no configuration file given\n/);
  });

  it('JSON lines when stdout is not a terminal, readable lines on a terminal, or as --log-format says', () => {
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
  });

  it('a readable line: time, level, message, fields; errors with their stack; other text unchanged', () => {
    const t = new Date(2024, 0, 2, 3, 4, 5, 6).toISOString();
    const line = JSON.stringify({ level: 30, time: t, svc: 'vpcd', pid: 1, hostname: 'h', event: 'started', msg: 'started', ports: 4, listen: '127.0.0.1:9469', note: 'two words' });
    expect(formatLogLine(`${line}\n`, { colour: false })).toBe('03:04:05.006 INFO  started  event=started ports=4 listen=127.0.0.1:9469 note="two words"\n');
    const err = JSON.stringify({ level: 50, time: t, msg: 'reload rejected', err: { message: 'boom', stack: 'Error: boom\n    at x' } });
    expect(formatLogLine(err, { colour: false })).toBe('03:04:05.006 ERROR reload rejected\n    Error: boom\n        at x\n');
    expect(formatLogLine('not json\n', { colour: false })).toBe('not json\n');
    expect(formatLogLine(JSON.stringify({ level: 40, time: t, msg: 'x' }), { colour: true })).toBe('\u001b[90m03:04:05.006\u001b[0m \u001b[33mWARN \u001b[0m \u001b[1mx\u001b[0m\n');
  });
});

describe('lab: argument errors come before the root check', () => {
  const lab = (...argv: string[]) => capture((out) => runLab(argv, out));
  it('missing or unknown subcommand, missing config, exec without a command', async () => {
    expect((await lab()).stderr).toMatch(/^vpcd lab: no subcommand given \(up, down, status or exec\)\n/);
    expect((await lab('stauts', CFG)).stderr).toMatch(/^vpcd lab: unknown subcommand 'stauts' \(did you mean "status"\?\)\n/);
    expect((await lab('up')).stderr).toMatch(/^vpcd lab: no configuration file given\n/);
    expect((await lab('exec', CFG, 'web-1')).stderr).toMatch(/usage: vpcd lab exec CONFIG INSTANCE -- CMD/);
    expect((await lab('up', CFG, '--json')).stderr).toMatch(/--json applies to status only/);
    for (const r of await Promise.all([lab(), lab('up'), lab('stauts', CFG)])) expect(r.code).toBe(1);
  });
});
