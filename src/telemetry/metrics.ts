/**
 * Prometheus exposition (prom-client). The packet path only bumps typed-array
 * counters; the collect() callbacks here copy them into prom-client at scrape
 * time, so nothing on the per-packet path touches the metrics library.
 * The HTTP endpoint is served by the watchdog thread (src/daemon/http-worker.ts).
 */
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

/** A registry with Node's process metrics under their standard names (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*). */
export function newRegistry(): Registry {
  const r = new Registry();
  collectDefaultMetrics({ register: r });
  return r;
}
