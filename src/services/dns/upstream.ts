/**
 * The forwarder: sends a query the server does not answer itself to the
 * upstream resolvers, in order, and gives back the first valid response.
 *
 * - UDP first, from a new socket (a fresh random source port) with a fresh
 *   random query id; a truncated (TC) answer is asked again over TCP. A query
 *   the client sent over TCP goes over TCP directly.
 * - A response counts only when it comes from the server asked, carries the
 *   id used and repeats the question (case-insensitively): anything else on
 *   the socket is ignored (RFC 5452).
 * - Each try has `timeoutMs`; a server that times out, refuses the
 *   connection or answers garbage is skipped for the next one.
 * - At most `maxInFlight` queries at once; beyond that the caller gets null
 *   at once (the server answers SERVFAIL) instead of a growing backlog.
 * The response goes back with the client's original id.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6, connect } from 'node:net';
import { frame, FrameReader } from './framing.js';
import { FLAG_QR, FLAG_TC, HEADER_LEN, questionSpan, withId } from './message.js';

export interface UpstreamServer {
  readonly host: string;
  readonly port: number;
}

export interface UpstreamOptions {
  /** Queries forwarded at once (default 256). */
  readonly maxInFlight?: number;
}

export type Upstream = (query: Buffer, viaTcp: boolean) => Promise<Buffer | null>;

/** Counters of one forwarder, for metrics and tests. */
export interface UpstreamStats {
  sent: number;
  timeouts: number;
  tcpRetries: number;
  rejectedBusy: number;
  failed: number;
}

/** A forwarder over `servers` (tried in order); `stats` counts what it did. */
export function udpTcpUpstream(servers: ReadonlyArray<UpstreamServer>, timeoutMs: number, options: UpstreamOptions = {}): Upstream & { readonly stats: UpstreamStats } {
  if (!(timeoutMs > 0)) throw new Error('dns upstream: timeoutMs must be > 0');
  const maxInFlight = options.maxInFlight ?? 256;
  const list = servers.map((s) => ({ host: s.host, port: s.port }));
  const stats: UpstreamStats = { sent: 0, timeouts: 0, tcpRetries: 0, rejectedBusy: 0, failed: 0 };
  let inFlight = 0;

  const forward = async (query: Buffer, viaTcp: boolean): Promise<Buffer | null> => {
    if (query.length < HEADER_LEN || questionSpan(query) === undefined) return null;
    if (inFlight >= maxInFlight) {
      stats.rejectedBusy++;
      return null;
    }
    inFlight++;
    try {
      for (const server of list) {
        const id = randomInt(0, 0x10000);
        const q = withId(query, id);
        let r = viaTcp ? null : await udpAsk(server, q, id, timeoutMs, stats);
        if (viaTcp || (r !== null && (r.readUInt16BE(2) & FLAG_TC) !== 0)) {
          if (!viaTcp) stats.tcpRetries++;
          r = await tcpAsk(server, q, id, timeoutMs, stats);
        }
        if (r !== null) return withId(r, query.readUInt16BE(0));
      }
      stats.failed++;
      return null;
    } finally {
      inFlight--;
    }
  };
  return Object.assign(forward, { stats });
}

/** True when `r` answers `q` (sent with `id`): QR set, same id, same question (ASCII case folded). */
function answers(q: Buffer, r: Buffer, id: number): boolean {
  if (r.length < HEADER_LEN || r.readUInt16BE(0) !== id || (r.readUInt16BE(2) & FLAG_QR) === 0) return false;
  const qs = questionSpan(q);
  const rs = questionSpan(r);
  if (qs === undefined || rs === undefined || qs.end !== rs.end || r.readUInt16BE(4) !== 1) return false;
  for (let i = HEADER_LEN; i < qs.end; i++) {
    let a = q[i] as number;
    let b = r[i] as number;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

function udpAsk(server: UpstreamServer, q: Buffer, id: number, timeoutMs: number, stats: UpstreamStats): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Buffer | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => {
      stats.timeouts++;
      finish(null);
    }, timeoutMs);
    sock.on('error', () => finish(null));
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address === server.host && rinfo.port === server.port && answers(q, msg, id)) finish(msg);
    });
    stats.sent++;
    sock.send(q, server.port, server.host, (err) => {
      if (err) finish(null);
    });
  });
}

function tcpAsk(server: UpstreamServer, q: Buffer, id: number, timeoutMs: number, stats: UpstreamStats): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = connect({ host: server.host, port: server.port });
    const reader = new FrameReader();
    let done = false;
    const finish = (r: Buffer | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => {
      stats.timeouts++;
      finish(null);
    }, timeoutMs);
    sock.on('error', () => finish(null));
    sock.on('close', () => finish(null));
    sock.on('data', (chunk: Buffer) => {
      for (const msg of reader.push(chunk)) {
        if (answers(q, msg, id)) return finish(msg);
      }
    });
    stats.sent++;
    sock.write(frame(q));
  });
}
