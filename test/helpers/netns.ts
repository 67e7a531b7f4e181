/**
 * Helpers for tests that build network namespaces (root only; CI is root).
 * Every test bed uses a unique prefix `vt<4 hex>` so runs never collide, and
 * cleans up in afterAll whatever happened.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const VPCD = join(ROOT, 'bin', 'vpcd');

export const isRoot = process.getuid?.() === 0;

export function uniquePrefix(): string {
  return `vt${randomBytes(2).toString('hex')}`;
}

export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs a command and returns { code, stdout, stderr } without throwing. */
export function shTry(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export function nsx(ns: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): { code: number; stdout: string; stderr: string } {
  return shTry('ip', ['netns', 'exec', ns, ...args], opts);
}

/** Runs a setup command in a namespace; throws with its stderr when it fails. */
export function nsxOk(ns: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
  const r = nsx(ns, args, opts);
  if (r.code !== 0) throw new Error(`${ns}: ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function vpcd(args: string[], opts: { timeoutMs?: number } = {}): { code: number; stdout: string; stderr: string } {
  return shTry(VPCD, args, opts);
}

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpcd-test-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const givenPorts = new Set<number>();
/**
 * A TCP port for a daemon's /metrics on 127.0.0.1: in 20000-29999, below Linux's ephemeral range
 * (32768-60999, where outgoing connections take their source ports), never handed out twice by this
 * process, and with no socket on it now (`ss`). Throws when 50 tries find none.
 */
export function randomPort(): number {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (givenPorts.has(p)) continue;
    const inUse = sh('ss', ['-Htan', `sport = :${p}`]).trim() !== '';
    if (inUse) continue;
    givenPorts.add(p);
    return p;
  }
  throw new Error('randomPort: no free port in 20000-29999 after 50 tries');
}

/** A running `vpcd run`, with its JSON log lines collected. */
export class DaemonProc {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private exitCode: number | null = null;
  private readonly exited: Promise<number>;

  constructor(config: string, extraEnv: Record<string, string> = {}) {
    this.proc = spawn(VPCD, ['run', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ raw: line });
        }
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((res) => {
      this.proc.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : -1);
        res(this.exitCode);
      });
    });
  }

  /** Resolves when a log line satisfies pred; rejects on exit or timeout. */
  async waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const t0 = Date.now();
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.exitCode !== null) throw new Error(`vpcd exited ${this.exitCode}: ${this.stderr}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timeout waiting for log line; stderr: ${this.stderr}; lines: ${JSON.stringify(this.lines.slice(-5))}`);
      await sleep(50);
    }
  }

  async started(): Promise<void> {
    await this.waitFor((l) => l.event === 'started');
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  async exit(timeoutMs = 10_000): Promise<number> {
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  async stop(): Promise<number> {
    if (this.exitCode !== null) return this.exitCode;
    this.proc.kill('SIGTERM');
    return this.exit();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Fetches a URL's text (metrics) with a bounded wait. */
export async function fetchText(url: string, timeoutMs = 5000): Promise<string> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ac.signal });
    return await r.text();
  } finally {
    clearTimeout(t);
  }
}

/** Value of one sample in Prometheus text format, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** One run of test/helpers/tcp-check.mjs: what the client sent and what the server received. */
export interface TcpTransfer {
  /** sha256 of the bytes the client sent. */
  sent: string;
  /** sha256 of the bytes the server received. */
  got: string;
  /** Bytes the server received. */
  bytes: number;
  /** The source address the server saw. */
  peer: string;
}

/**
 * Sends `bytes` seeded bytes over TCP from namespace `fromNs` to toIp:port in `toNs`: starts the
 * server, waits until it listens (no fixed sleep), runs the client, and throws unless both printed a
 * digest (so a transfer that never happened cannot pass as "equal digests").
 */
export async function tcpTransfer(fromNs: string, toNs: string, toIp: string, bytes: number, port: number, timeoutS = 60): Promise<TcpTransfer> {
  const tool = join(ROOT, 'test', 'helpers', 'tcp-check.mjs');
  const run = (ns: string, args: string[], onListening?: () => void): Promise<{ code: number | null; out: string; err: string }> => new Promise((res) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, tool, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (onListening && err.includes('listening')) { const f = onListening; onListening = undefined; f(); } });
    const kill = setTimeout(() => p.kill('SIGKILL'), (timeoutS + 10) * 1000);
    p.on('exit', (code) => { clearTimeout(kill); res({ code, out, err }); });
  });
  let listening!: () => void;
  const ready = new Promise<void>((r) => { listening = r; });
  const server = run(toNs, ['server', toIp, String(port), String(timeoutS)], () => listening());
  const up = await Promise.race([ready.then(() => true), server.then(() => false)]);
  if (!up) throw new Error(`tcp-check server on ${toIp}:${port} in ${toNs} never listened: ${(await server).err}`);
  const client = await run(fromNs, ['client', toIp, String(port), String(bytes), String(timeoutS)]);
  const srv = await server;
  const parse = (who: string, r: { out: string; err: string }): Record<string, unknown> => {
    const line = r.out.trim().split('\n').pop() ?? '';
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256)) return o;
    } catch { /* reported below */ }
    throw new Error(`tcp-check ${who} ${fromNs} -> ${toIp}:${port}: no digest: ${r.out} ${r.err}`);
  };
  const c = parse('client', client), s = parse('server', srv);
  return { sent: c.sha256 as string, got: s.sha256 as string, bytes: Number(s.bytes), peer: String(s.peer) };
}
