/**
 * The watchdog thread (worker_threads entry; see watchdog.ts for the main side).
 *
 * It has its own event loop, so it keeps running when the main thread's is
 * stuck. It
 * - checks the main thread's heartbeat every HEARTBEAT_MS and logs a stall
 *   (and its end) itself, writing JSON lines straight to fd 1: a worker's
 *   process.stdout goes through the main thread and would wait for it;
 * - serves the HTTP endpoint: /healthz is answered here from the shared
 *   health state (503 while stalled, for a while after, and while stopping);
 *   /metrics is relayed to the main thread, which owns the registry, with a
 *   timeout (503 when the main thread cannot answer).
 *
 * Messages from the main thread: listen, close, scraped, stop. To it:
 * listening, closed, scrape, stopped.
 */
import { writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { HEARTBEAT_MS, SLOTS, Slot, health, monotonicMs, watch } from './health.js';
import { LiveHttp, type LiveFromWorker, type LiveToWorker } from './live-http.js';

/** A scrape the main thread has not answered after this long gets a 503. */
const SCRAPE_TIMEOUT_MS = 8_000;
/** Scrapes waiting for the main thread, at most. */
const MAX_PENDING_SCRAPES = 16;
/** Idle keep-alive connections are closed after this long. */
const KEEP_ALIVE_MS = 65_000;
/** Open HTTP connections, at most. */
const MAX_CONNECTIONS = 64;
/** While a stall lasts, one reminder line per this many ms. */
const STALL_LOG_EVERY_MS = 10_000;

export type ToWorker =
  | { readonly t: 'listen'; readonly id: number; readonly addr: string }
  | { readonly t: 'close'; readonly id: number }
  | { readonly t: 'scraped'; readonly req: number; readonly ok: boolean; readonly body: string; readonly contentType: string }
  | { readonly t: 'stop' }
  | LiveToWorker;

export type FromWorker =
  | { readonly t: 'listening'; readonly id: number; readonly ok: true; readonly address: string }
  | { readonly t: 'listening'; readonly id: number; readonly ok: false; readonly error: string }
  | { readonly t: 'closed'; readonly id: number }
  | { readonly t: 'scrape'; readonly req: number }
  | { readonly t: 'stopped' }
  | LiveFromWorker;

export interface WorkerInit {
  readonly shared: SharedArrayBuffer;
}

/** Parses `host:port` (IPv6 as `[::1]:port`). */
function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  if (!m) throw new Error(`metrics.listen: expected host:port, got ${s}`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}

function logLine(level: number, event: string, msg: string, extra: Record<string, unknown>): void {
  const line = JSON.stringify({ level, time: new Date().toISOString(), svc: 'vpcd', thread: 'watchdog', event, ...extra, msg });
  try {
    writeSync(1, `${line}\n`);
  } catch {
    // stdout closed: nothing to tell
  }
}

function run(): void {
  const port = parentPort;
  if (port === null) throw new Error('http-worker: not started as a worker thread');
  const h = new Float64Array((workerData as WorkerInit).shared, 0, SLOTS);
  const post = (m: FromWorker): void => port.postMessage(m);
  const servers = new Map<number, Server>();
  const pending = new Map<number, { res: ServerResponse; timer: NodeJS.Timeout }>();
  let nextReq = 1;
  let lastStallLog = 0;
  const live = new LiveHttp(post);

  const check = setInterval(() => {
    const now = monotonicMs();
    const ev = watch(h, now);
    if (ev?.kind === 'stalled') {
      lastStallLog = now;
      logLine(50, 'event-loop-stalled', 'the main event loop has not run for over a second: packets wait in the socket buffers; /healthz answers 503',
        { stalledMs: Math.round(ev.forMs) });
    } else if (ev?.kind === 'recovered') {
      logLine(40, 'event-loop-recovered', 'the main event loop runs again', { stalledMs: Math.round(ev.stalledMs) });
    } else if (h[Slot.StallStart]! > 0 && now - lastStallLog >= STALL_LOG_EVERY_MS) {
      lastStallLog = now;
      logLine(50, 'event-loop-stalled', 'the main event loop is still stuck', { stalledMs: Math.round(now - h[Slot.StallStart]!) });
    }
  }, HEARTBEAT_MS);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/healthz') {
      const hs = health(h, monotonicMs(), Date.now());
      res.writeHead(hs.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(hs));
      return;
    }
    if (req.method === 'GET' && (url === '/metrics' || url.startsWith('/metrics?'))) {
      if (pending.size >= MAX_PENDING_SCRAPES) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('too many scrapes waiting for the main thread\n');
        return;
      }
      const reqId = nextReq++;
      const timer = setTimeout(() => {
        pending.delete(reqId);
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('the main event loop did not answer in time (see /healthz)\n');
      }, SCRAPE_TIMEOUT_MS);
      pending.set(reqId, { res, timer });
      post({ t: 'scrape', req: reqId });
      return;
    }
    if (req.method === 'GET' && live.handle(url, req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics, /healthz or /live\n');
  };

  const close = (id: number): Promise<void> => {
    const s = servers.get(id);
    servers.delete(id);
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  };

  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'listen': {
        let addr: { host: string; port: number };
        try {
          addr = parseListen(m.addr);
        } catch (e) {
          post({ t: 'listening', id: m.id, ok: false, error: (e as Error).message });
          return;
        }
        const s = createServer(handle);
        // Scrapers reuse their connection between scrapes (Prometheus: every 15 s by default); a short idle
        // timeout makes the server close a connection just as a client sends its next request on it.
        s.keepAliveTimeout = KEEP_ALIVE_MS;
        s.headersTimeout = KEEP_ALIVE_MS + 1_000;
        s.maxConnections = MAX_CONNECTIONS;
        const fail = (e: Error): void => post({ t: 'listening', id: m.id, ok: false, error: e.message });
        s.once('error', fail);
        s.listen(addr.port, addr.host, () => {
          s.off('error', fail);
          s.on('error', () => { /* a listening server's late errors close nothing; clients see their own */ });
          servers.set(m.id, s);
          const a = s.address() as AddressInfo;
          post({ t: 'listening', id: m.id, ok: true, address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}` });
        });
        return;
      }
      case 'close':
        void close(m.id).then(() => post({ t: 'closed', id: m.id }));
        return;
      case 'scraped': {
        const p = pending.get(m.req);
        if (!p) return;
        pending.delete(m.req);
        clearTimeout(p.timer);
        if (p.res.headersSent || p.res.destroyed) return;
        p.res.writeHead(m.ok ? 200 : 500, { 'content-type': m.ok ? m.contentType : 'text/plain' });
        p.res.end(m.body);
        return;
      }
      case 'live-answer':
      case 'live-events':
        live.onMessage(m);
        return;
      case 'stop':
        clearInterval(check);
        live.closeAll();
        for (const [, p] of pending) clearTimeout(p.timer);
        pending.clear();
        void Promise.all([...servers.keys()].map(close)).then(() => {
          post({ t: 'stopped' });
          port.close();
        });
        return;
    }
  });
}

run();
