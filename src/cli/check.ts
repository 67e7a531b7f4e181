/**
 * `vpcd check CONFIG...`: validates configuration files without touching the
 * system. Every problem prints as `file:line:column: message` on stdout (the
 * command's output, as compilers and linters do), and nothing else goes to
 * stdout for an invalid file; the problem count goes to stderr. Warnings go
 * to stderr as `file:line:column: warning: message` and do not fail the check.
 * A valid file gets a one-line summary on stdout (`FILE: OK: ...`; counts
 * include the implicit default NACL, default security group and main route
 * table). `-` reads standard input. `--json` prints one JSON document instead
 * (CHECK_HELP gives its shape). Exit 0 when every file is valid, 1 otherwise
 * (also for bad arguments or a missing file), 2 when a file exists but cannot
 * be read (permissions, I/O error).
 */
import { readFileSync } from 'node:fs';
import { formatIssue, loadConfig, parseConfig } from '../control/config.js';
import { ConfigError, type ConfigIssue, type VpcConfig } from '../control/config-types.js';
import { flag, type Out, parseCommandArgs, UsageError, usageFailure, wantsHelp } from './args.js';

export type CheckOut = Out;

export const CHECK_HELP = `usage: vpcd check [--json] CONFIG [CONFIG...]

Validates configuration files without touching the system; - reads standard input.
Each problem prints as file:line:column: message on stdout; warnings
(file:line:column: warning: message) and the problem count go to stderr.

  --json      one JSON document on stdout instead:
              { "valid": bool, "files": [ { "file", "valid", "problems": [...],
                "warnings": [...], "summary" (valid files), "error" (unreadable files) } ] }
  -h, --help  this text

Exit status: 0 every file valid, 1 a file invalid or missing (or bad arguments),
2 a file that exists but cannot be read.`;

/** One file's result, as --json prints it. */
export interface CheckResult {
  readonly file: string;
  readonly valid: boolean;
  readonly problems: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  readonly summary?: string;
  readonly error?: string;
  /** Exit status for this file. */
  readonly status: 0 | 1 | 2;
}

export function runCheck(argv: string[], out: CheckOut, stdin: () => string = () => readFileSync(0, 'utf8')): number {
  if (wantsHelp(argv)) {
    out.stdout(CHECK_HELP);
    return 0;
  }
  let json: boolean;
  let files: readonly string[];
  try {
    const p = parseCommandArgs(argv, { json: { type: 'boolean' } });
    json = flag(p, 'json');
    files = p.positionals;
    if (files.length === 0) throw new UsageError('no configuration file given');
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('check', e, out);
    throw e;
  }
  const results = files.map((f) => checkOne(f, stdin));
  if (json) {
    const valid = results.every((r) => r.valid);
    const doc = { valid, files: results.map(({ status: _status, ...r }) => r) };
    out.stdout(JSON.stringify(doc, null, 2));
  } else {
    for (const r of results) print(r, out);
  }
  return Math.max(0, ...results.map((r) => r.status));
}

function print(r: CheckResult, out: CheckOut): void {
  if (r.error !== undefined) {
    out.stderr(`${r.file}: cannot read: ${r.error}`);
    return;
  }
  if (!r.valid) {
    for (const issue of r.problems) out.stdout(formatIssue(issue));
    out.stderr(`${r.file === '-' ? '<stdin>' : r.file}: ${plural(r.problems.length, 'problem')} found`);
    return;
  }
  for (const w of r.warnings) out.stderr(`${w.file}:${w.line}:${w.column}: warning: ${w.message}`);
  out.stdout(`${r.file}: OK: ${r.summary ?? ''}`);
}

export function checkOne(file: string, stdin: () => string): CheckResult {
  let config: VpcConfig;
  try {
    config = file === '-' ? parseConfig(stdin(), '<stdin>') : loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) return { file, valid: false, problems: e.issues, warnings: [], status: 1 };
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    const status = err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR' ? 1 : 2;
    return { file, valid: false, problems: [], warnings: [], error: reason, status };
  }
  return { file, valid: true, problems: [], warnings: config.warnings ?? [], summary: summary(config), status: 0 };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `vpc demo 198.18.0.0/16: 2 subnets, 2 instances, ...` (user-defined objects; implicit defaults not counted). */
export function summary(c: VpcConfig): string {
  const parts = [
    plural(c.subnets.size, 'subnet'),
    plural(c.instances.size, 'instance'),
    plural(c.securityGroups.size, 'security group'),
    plural(c.networkAcls.size, 'network ACL'),
    plural(c.routeTables.size, 'route table'),
    plural(c.natGateways.size, 'NAT gateway'),
    plural(c.vpnConnections.size, 'VPN connection'),
  ];
  if (c.internetGateway !== undefined) parts.push('internet gateway');
  const warn = c.warnings?.length ?? 0;
  return `vpc ${c.vpc.name} ${c.vpc.cidr}: ${parts.join(', ')}${warn > 0 ? ` (${plural(warn, 'warning')})` : ''}`;
}
