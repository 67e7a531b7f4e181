/**
 * Prometheus exposition (prom-client). The packet path only bumps typed-array
 * counters; the collect() callbacks here copy them into prom-client at scrape
 * time, so nothing on the per-packet path touches the metrics library.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** A counter whose value is read from a source at scrape time (monotonic by construction of the source). */
export function pulledCounter(
  registry: Registry, name: string, help: string, labelNames: readonly string[],
  read: (emit: (labels: Record<string, string>, value: number) => void) => void,
): Counter<string> {
  const last = new Map<string, number>();
  const c: Counter<string> = new Counter({
    name, help, labelNames: [...labelNames], registers: [registry],
    collect() {
      read((labels, value) => {
        const key = labelNames.map((l) => labels[l] ?? '').join('\u0000');
        const prev = last.get(key) ?? 0;
        // A source that restarted from zero (port re-opened) continues from where it was.
        const delta = value >= prev ? value - prev : value;
        last.set(key, value);
        if (delta > 0) c.inc(labels, delta);
        else c.inc(labels, 0);
      });
    },
  });
  return c;
}

export function pulledGauge(
  registry: Registry, name: string, help: string, labelNames: readonly string[],
  read: (emit: (labels: Record<string, string>, value: number) => void) => void,
): Gauge<string> {
  const g: Gauge<string> = new Gauge({
    name, help, labelNames: [...labelNames], registers: [registry],
    collect() {
      g.reset();
      read((labels, value) => g.set(labels, value));
    },
  });
  return g;
}

export function newRegistry(): Registry {
  const r = new Registry();
  collectDefaultMetrics({ register: r, prefix: 'vpcd_process_' });
  return r;
}

/** Parses `host:port` (IPv6 as `[::1]:port`). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  if (!m) throw new Error(`metrics.listen: expected host:port, got ${s}`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}

export class MetricsServer {
  private server: Server | undefined;
  constructor(private readonly registry: Registry, private readonly health: () => { ok: boolean; detail: unknown }) {}

  listen(addr: string): Promise<void> {
    const { host, port } = parseListen(addr);
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (req.method === 'GET' && (url === '/metrics' || url.startsWith('/metrics?'))) {
        this.registry.metrics().then((body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(body);
        }, (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
        return;
      }
      if (req.method === 'GET' && url === '/healthz') {
        const h = this.health();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /healthz\n');
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
