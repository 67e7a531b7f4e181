/**
 * `vpcd check CONFIG...`: validates configuration files without touching the
 * system. Every problem prints as `file:line:column: message` on stdout (the
 * command's output, as compilers and linters do), and nothing else goes to
 * stdout for an invalid file; the problem count goes to stderr. Warnings go
 * to stderr as `file:line:column: warning: message` and do not fail the check.
 * A valid file gets a one-line summary on stdout (`FILE: OK: ...`; counts
 * include the implicit default NACL, default security group and main route
 * table). `-` reads standard input. Exit 0 when every file is valid, 1 otherwise
 * (also for bad arguments or a missing file), 2 when a file exists but cannot
 * be read (permissions, I/O error).
 */
import { readFileSync } from 'node:fs';
import { formatIssue, loadConfig, parseConfig } from '../control/config.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';

export interface CheckOut {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const USAGE = 'usage: vpcd check CONFIG [CONFIG...]';

export function runCheck(argv: string[], out: CheckOut): number {
  const files: string[] = [];
  let options = true;
  for (const a of argv) {
    if (options && a === '--') options = false;
    else if (options && (a === '-h' || a === '--help')) {
      out.stdout(USAGE);
      return 0;
    } else if (options && a.startsWith('-') && a !== '-') {
      out.stderr(`vpcd check: unknown option ${a}\n${USAGE}`);
      return 1;
    } else files.push(a);
  }
  if (files.length === 0) {
    out.stderr(`vpcd check: no configuration file given\n${USAGE}`);
    return 1;
  }
  let status = 0;
  for (const file of files) status = Math.max(status, checkOne(file, out));
  return status;
}

function checkOne(file: string, out: CheckOut): number {
  let config: VpcConfig;
  try {
    config = file === '-' ? parseConfig(readFileSync(0, 'utf8'), '<stdin>') : loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.issues) out.stdout(formatIssue(issue));
      out.stderr(`${file === '-' ? '<stdin>' : file}: ${plural(e.issues.length, 'problem')} found`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    out.stderr(`${file}: cannot read: ${reason}`);
    return err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR' ? 1 : 2;
  }
  for (const w of config.warnings ?? []) out.stderr(`${w.file}:${w.line}:${w.column}: warning: ${w.message}`);
  out.stdout(`${file}: OK: ${summary(config)}`);
  return 0;
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
