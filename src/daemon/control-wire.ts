/**
 * The control socket's wire format (the one owner of it): line-delimited
 * JSON over a Unix stream socket. The client sends one request line; the
 * daemon answers with one reply line `{ "ok": true, ... }` or
 * `{ "ok": false, "error": "..." }`. After an accepted `observe` request
 * the daemon goes on sending one event per line (observe/event-decode.ts)
 * until either side closes.
 *
 * Requests:
 *   { "op": "observe", "filter": { instance?, subnet?, verdict?, proto?, port?, cidr?, reason? } }
 *   { "op": "conntrack-list", "instance"?: NAME, "limit"?: N }
 *   { "op": "conntrack-flush", "instance"?: NAME }
 *   { "op": "ping" }
 *
 * A request line is at most MAX_REQUEST_BYTES; anything else (not JSON, an
 * unknown op or field, a wrong type) gets an error reply and the connection
 * is closed.
 */
import type { FilterSpec } from '../observe/event-filter.js';

/** Bytes of a request line, at most (newline excluded). */
export const MAX_REQUEST_BYTES = 4096;
/** conntrack-list entries per reply, at most (and the default). */
export const MAX_LIST_ENTRIES = 10_000;

export type ControlRequest =
  | { readonly op: 'observe'; readonly filter: FilterSpec }
  | { readonly op: 'conntrack-list'; readonly instance?: string; readonly limit: number }
  | { readonly op: 'conntrack-flush'; readonly instance?: string }
  | { readonly op: 'ping' };

export interface ConntrackEntry {
  readonly table: 'conntrack' | 'nat-gateway';
  readonly instance: string | null;
  readonly proto: string | number;
  readonly src: string;
  readonly dst: string;
  readonly sport: number | null;
  readonly dport: number | null;
  readonly state: string;
  /** Seconds until the entry idles out. */
  readonly idleSecondsLeft: number;
  /** `tracked`, or why the entry does not track the flow on an ENI. */
  readonly tracking: string;
  readonly packets: number;
  readonly bytes: number;
  /** The NAT gateway's translation of this flow: gateway name, translated source address and port. */
  readonly nat?: { readonly gateway: string; readonly src: string; readonly sport: number | null; readonly publicIp: string | null };
}

export type ControlReply =
  | { readonly ok: false; readonly error: string }
  | { readonly ok: true; readonly op: 'observe' }
  | { readonly ok: true; readonly op: 'conntrack-list'; readonly entries: readonly ConntrackEntry[]; readonly total: number; readonly truncated: boolean }
  | { readonly ok: true; readonly op: 'conntrack-flush'; readonly flushed: number }
  | { readonly ok: true; readonly op: 'ping'; readonly vpc: string; readonly version: string };

export class WireError extends Error {}

const FILTER_KEYS: Record<keyof FilterSpec, 'string' | 'number'> = {
  instance: 'string', subnet: 'string', verdict: 'string', proto: 'number', port: 'number', cidr: 'string', reason: 'string',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new WireError(`${what}: unknown field ${JSON.stringify(k)}`);
}

function optString(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new WireError(`${k}: expected a non-empty string`);
  return v;
}

/** Parses one request line (without its newline). Throws WireError with the reason. */
export function parseRequest(line: string): ControlRequest {
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) throw new WireError(`request longer than ${MAX_REQUEST_BYTES} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new WireError('request is not JSON');
  }
  if (!isObject(v)) throw new WireError('request must be a JSON object');
  const op = v.op;
  switch (op) {
    case 'ping':
      onlyKeys(v, ['op'], 'ping');
      return { op };
    case 'observe': {
      onlyKeys(v, ['op', 'filter'], 'observe');
      const f = v.filter ?? {};
      if (!isObject(f)) throw new WireError('filter must be an object');
      onlyKeys(f, Object.keys(FILTER_KEYS), 'filter');
      const spec: Record<string, string | number> = {};
      for (const [k, type] of Object.entries(FILTER_KEYS)) {
        const x = f[k];
        if (x === undefined) continue;
        if (type === 'number' ? typeof x !== 'number' || !Number.isInteger(x) : typeof x !== 'string' || x.length > 256) {
          throw new WireError(`filter.${k}: expected ${type === 'number' ? 'an integer' : 'a string'}`);
        }
        spec[k] = x as string | number;
      }
      return { op, filter: spec as FilterSpec };
    }
    case 'conntrack-list': {
      onlyKeys(v, ['op', 'instance', 'limit'], 'conntrack-list');
      const instance = optString(v, 'instance');
      const l = v.limit ?? MAX_LIST_ENTRIES;
      if (typeof l !== 'number' || !Number.isInteger(l) || l < 1 || l > MAX_LIST_ENTRIES) throw new WireError(`limit: expected an integer 1-${MAX_LIST_ENTRIES}`);
      return { op, ...(instance !== undefined ? { instance } : {}), limit: l };
    }
    case 'conntrack-flush': {
      onlyKeys(v, ['op', 'instance'], 'conntrack-flush');
      const instance = optString(v, 'instance');
      return { op, ...(instance !== undefined ? { instance } : {}) };
    }
    default:
      throw new WireError(`unknown op ${JSON.stringify(op)} (observe, conntrack-list, conntrack-flush, ping)`);
  }
}

export function encodeRequest(r: ControlRequest): string {
  return `${JSON.stringify(r)}\n`;
}

export function encodeReply(r: ControlReply): string {
  return `${JSON.stringify(r)}\n`;
}

/**
 * Splits a byte stream into lines, refusing a line longer than `max` bytes
 * (the rest of the stream is then not read: the caller closes).
 */
export class LineSplitter {
  private pending = '';
  constructor(private readonly max: number) {}

  /** The complete lines in `chunk` (after what came before). Throws WireError when a line is too long. */
  push(chunk: string): string[] {
    const text = this.pending + chunk;
    const parts = text.split('\n');
    this.pending = parts.pop() ?? '';
    if (Buffer.byteLength(this.pending) > this.max) throw new WireError(`line longer than ${this.max} bytes`);
    for (const p of parts) if (Buffer.byteLength(p) > this.max) throw new WireError(`line longer than ${this.max} bytes`);
    return parts;
  }
}
