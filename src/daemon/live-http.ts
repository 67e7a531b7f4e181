/**
 * The live page's HTTP side, in the watchdog thread (http-worker.ts) beside
 * /metrics:
 *
 *   GET /live                 the page (live-page.ts: one self-contained HTML file)
 *   GET /live/topology.json   the VPC from the running configuration (live-data.ts)
 *   GET /live/stats.json      rule-hit counters, top denied sources, drops
 *   GET /live/events          server-sent events: the data plane's events, one JSON object each
 *
 * The JSON documents are asked from the main thread (which owns the
 * configuration and counters) with a timeout. The events come from the same
 * event source as `vpcd observe`: the main thread subscribes to the event
 * hub while at least one stream is open (live-feed.ts) and posts the lines
 * here. At most MAX_SSE_CLIENTS streams; a stream whose socket cannot keep
 * up loses events and is told how many (a `lost` event).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LIVE_PAGE } from './live-page.js';

/** Open /live/events streams, at most. */
export const MAX_SSE_CLIENTS = 8;
/** An answer the main thread has not given after this long: 503. */
const ASK_TIMEOUT_MS = 5_000;
/** Questions waiting for the main thread, at most. */
const MAX_PENDING_ASKS = 16;
/** Bytes a stream's socket may buffer; past it, its events are dropped and counted. */
const SSE_HIGH_WATER = 512 * 1024;
/** A comment line keeps idle streams open through proxies. */
const SSE_KEEPALIVE_MS = 15_000;

export type LiveAsk = 'topology' | 'stats';

export type LiveToWorker =
  | { readonly t: 'live-answer'; readonly req: number; readonly ok: boolean; readonly body: string }
  | { readonly t: 'live-events'; readonly lines: readonly string[] };

export type LiveFromWorker =
  | { readonly t: 'live-ask'; readonly req: number; readonly what: LiveAsk }
  | { readonly t: 'live-clients'; readonly n: number };

interface Stream {
  readonly res: ServerResponse;
  lost: number;
}

export class LiveHttp {
  private readonly streams = new Set<Stream>();
  private readonly pending = new Map<number, { res: ServerResponse; timer: NodeJS.Timeout }>();
  private nextReq = 1;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(private readonly post: (m: LiveFromWorker) => void) {}

  /** Serves a /live URL; false when the URL is not one of them. */
  handle(url: string, req: IncomingMessage, res: ServerResponse): boolean {
    const path = url.split('?')[0];
    switch (path) {
      case '/live':
      case '/live/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store',
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:" });
        res.end(LIVE_PAGE);
        return true;
      case '/live/topology.json':
        this.ask('topology', res);
        return true;
      case '/live/stats.json':
        this.ask('stats', res);
        return true;
      case '/live/events':
        this.open(req, res);
        return true;
      default:
        return false;
    }
  }

  private ask(what: LiveAsk, res: ServerResponse): void {
    if (this.pending.size >= MAX_PENDING_ASKS) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('too many requests waiting for the main thread\n');
      return;
    }
    const req = this.nextReq++;
    const timer = setTimeout(() => {
      this.pending.delete(req);
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('the main event loop did not answer in time (see /healthz)\n');
    }, ASK_TIMEOUT_MS);
    this.pending.set(req, { res, timer });
    this.post({ t: 'live-ask', req, what });
  }

  private open(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= MAX_SSE_CLIENTS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end(`too many live event streams (at most ${MAX_SSE_CLIENTS})\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': vpcd live events\n\n');
    const s: Stream = { res, lost: 0 };
    this.streams.add(s);
    this.clientsChanged();
    const gone = (): void => {
      if (!this.streams.delete(s)) return;
      this.clientsChanged();
    };
    req.on('close', gone);
    res.on('error', gone);
  }

  private clientsChanged(): void {
    this.post({ t: 'live-clients', n: this.streams.size });
    if (this.streams.size > 0 && this.keepalive === undefined) {
      this.keepalive = setInterval(() => {
        for (const s of this.streams) if (!s.res.destroyed) s.res.write(': keepalive\n\n');
      }, SSE_KEEPALIVE_MS);
      this.keepalive.unref();
    } else if (this.streams.size === 0 && this.keepalive !== undefined) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
  }

  onMessage(m: LiveToWorker): void {
    if (m.t === 'live-answer') {
      const p = this.pending.get(m.req);
      if (!p) return;
      this.pending.delete(m.req);
      clearTimeout(p.timer);
      if (p.res.headersSent || p.res.destroyed) return;
      p.res.writeHead(m.ok ? 200 : 500, { 'content-type': m.ok ? 'application/json' : 'text/plain', 'cache-control': 'no-store' });
      p.res.end(m.body);
      return;
    }
    const data = m.lines.map((l) => `data: ${l}\n\n`).join('');
    for (const s of this.streams) {
      if (s.res.destroyed) continue;
      if (s.res.writableLength > SSE_HIGH_WATER) {
        s.lost += m.lines.length;
        continue;
      }
      if (s.lost > 0) {
        s.res.write(`data: ${JSON.stringify({ type: 'lost', time: new Date().toISOString(), lost: s.lost, where: 'queue' })}\n\n`);
        s.lost = 0;
      }
      s.res.write(data);
    }
  }

  closeAll(): void {
    for (const [, p] of this.pending) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.streams) s.res.end();
    this.streams.clear();
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }
}
