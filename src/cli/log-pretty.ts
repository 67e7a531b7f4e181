/**
 * Readable log lines for a terminal: what `vpcd run` prints when standard
 * output is a TTY (JSON lines otherwise, for log shippers). A small
 * formatter in the spirit of pino-pretty, without its dependencies:
 *
 *   14:03:07.412 INFO  started  event=started ports=4 listen=127.0.0.1:9469
 *
 * time (local, milliseconds), level, message, then the remaining fields as
 * key=value (strings quoted only when they hold spaces or quotes, objects as
 * compact JSON); an `err` field adds its stack on the lines below. The pino
 * boilerplate fields (svc, pid, hostname) are left out. A line that is not a
 * JSON object passes through unchanged.
 */

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Readonly<Record<number, string>> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
const HIDDEN = new Set(['level', 'time', 'msg', 'svc', 'pid', 'hostname', 'v', 'err']);

export interface PrettyOptions {
  readonly colour: boolean;
}

function paint(on: boolean, code: string, s: string): string {
  return on ? `\u001b[${code}m${s}\u001b[0m` : s;
}

function clock(t: unknown): string {
  const d = typeof t === 'number' || typeof t === 'string' ? new Date(t) : new Date();
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** One pino JSON line (with or without its newline) as readable text ending in a newline. */
export function formatLogLine(line: string, opts: PrettyOptions): string {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    return `${text}\n`;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `${text}\n`;
  const r = rec as Record<string, unknown>;
  const lvl = typeof r.level === 'number' ? r.level : 30;
  const name = (LEVELS[lvl] ?? `L${lvl}`).padEnd(5);
  const parts = [paint(opts.colour, '90', clock(r.time)), paint(opts.colour, COLOURS[lvl] ?? '0', name)];
  if (typeof r.msg === 'string' && r.msg !== '') parts.push(paint(opts.colour, '1', r.msg));
  const fields: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    fields.push(`${paint(opts.colour, '2', `${k}=`)}${value(v)}`);
  }
  let out = parts.join(' ');
  if (fields.length > 0) out += `  ${fields.join(' ')}`;
  const err = r.err as { message?: unknown; stack?: unknown } | undefined;
  if (err !== undefined && typeof err === 'object' && err !== null) {
    const stack = typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : JSON.stringify(err);
    out += `\n${stack.split('\n').map((l) => `    ${l}`).join('\n')}`;
  }
  return `${out}\n`;
}

export type LogFormat = 'json' | 'pretty';

/** `auto` picks pretty for a terminal and JSON for anything else (a pipe, a file, a journal). */
export function chooseLogFormat(requested: 'auto' | LogFormat, isTty: boolean): LogFormat {
  if (requested !== 'auto') return requested;
  return isTty ? 'pretty' : 'json';
}

/** A pino destination that writes each line formatted. */
export function prettyStream(write: (s: string) => void, opts: PrettyOptions): { write(s: string): void } {
  return { write: (s: string) => write(formatLogLine(s, opts)) };
}
