/**
 * The system commands the lab runs: iproute2 (`ip`), in the host's namespace,
 * in a named namespace (`ip netns exec`) or in a namespace given by a path
 * (`nsenter --net=PATH`, for namespaces vpcd did not create). Every failure
 * becomes an Error naming the command and what it printed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';

export interface RunOpts {
  /** Return '' instead of throwing when the command fails. */
  readonly ignoreError?: boolean;
  /** Written to the command's standard input. */
  readonly input?: string;
}

export function run(cmd: string, args: readonly string[], opts: RunOpts = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    if (opts.ignoreError) return '';
    const err = e as { stderr?: string | Buffer; message: string; code?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd}: not found on PATH`);
    const why = (err.stderr ?? '').toString().trim() || err.message;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}`);
  }
}

export function ip(args: readonly string[], opts: RunOpts = {}): string {
  return run('ip', args, opts);
}

/** A command inside a named namespace (under /run/netns). */
export function nsExec(ns: string, cmd: readonly string[], opts: RunOpts = {}): string {
  return ip(['netns', 'exec', ns, ...cmd], opts);
}

/** A command inside the namespace a path names (/proc/PID/ns/net, /run/netns/NAME, a bind mount). */
export function pathExec(path: string, cmd: readonly string[], opts: RunOpts = {}): string {
  return run('nsenter', [`--net=${path}`, '--', ...cmd], opts);
}

export function sysctl(ns: string, kv: string): void {
  nsExec(ns, ['sysctl', '-qw', kv], { ignoreError: true });
}

export function listNetns(): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns');
}

export function addNetns(name: string): void {
  if (!listNetns().includes(name)) ip(['netns', 'add', name]);
  nsExec(name, ['ip', 'link', 'set', 'lo', 'up']);
  // No IPv6 chatter (DAD, router solicitations) in the lab: tests stay deterministic.
  sysctl(name, 'net.ipv6.conf.all.disable_ipv6=1');
  sysctl(name, 'net.ipv6.conf.default.disable_ipv6=1');
}

/** Deletes a namespace the lab made, with the processes left in it. */
export function delNetns(name: string): void {
  if (!listNetns().includes(name)) return;
  const pids = ip(['netns', 'pids', name], { ignoreError: true }).split(/\s+/).filter(Boolean);
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  ip(['netns', 'del', name], { ignoreError: true });
  // What `ip netns exec` shows as /etc (resolv.conf written by a lab DHCP client).
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
}

/** Checksum and segmentation offloads off (plain frames, `dataplane.vnetHeader: false`). */
export const OFFLOADS_OFF = ['tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'] as const;
