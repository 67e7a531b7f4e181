/**
 * Main-thread side of the watchdog thread (http-worker.ts): heartbeat, the
 * HTTP listeners the worker holds, and the /metrics relay.
 *
 * Why a worker thread: the question is whether the main event loop is stuck,
 * and anything scheduled on that loop (a setInterval heartbeat checker,
 * monitorEventLoopDelay's histogram, the /healthz handler) runs only once the
 * loop is free again, i.e. after the stall, when it no longer matters. A
 * worker has its own loop: it sees the heartbeat stop while the stall is in
 * progress, logs it, and answers /healthz with 503 at that moment. That is
 * also why the HTTP listener lives in the worker, with /metrics relayed to
 * the main thread (which owns the counters) under a timeout.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FaultGuard } from './guard.js';
import { HEARTBEAT_MS, SLOTS, Slot, monotonicMs } from './health.js';
import type { FromWorker, ToWorker, WorkerInit } from './http-worker.js';
import type { LiveFromWorker, LiveToWorker } from './live-http.js';

/** A listener bound by the worker. */
export interface Listener {
  readonly id: number;
  /** The address requested (configuration). */
  readonly addr: string;
  /** The address bound (port 0 resolved). */
  readonly address: string;
}

const RESPAWN_DELAY_MS = 1_000;

export class Watchdog {
  /** Shared with the worker; see health.ts for the slots. */
  readonly health = new Float64Array(new SharedArrayBuffer(SLOTS * 8));
  private worker: Worker | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly replies = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  /** Listeners the worker holds (re-bound after a worker restart). */
  private readonly listeners = new Map<number, Listener>();
  private stopped = false;
  private stopReply: (() => void) | undefined;
  restarts = 0;
  /** The live page's messages from the worker (live-feed.ts). */
  onLive: ((m: LiveFromWorker) => void) | undefined;

  constructor(private readonly log: Logger, private readonly guard: FaultGuard,
    private readonly scrape: () => Promise<{ body: string; contentType: string }>) {
    this.health[Slot.StartedAtUnixMs] = Date.now();
  }

  start(): void {
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.spawn();
  }

  private beat(): void {
    this.health[Slot.Heartbeat] = monotonicMs();
  }

  private spawn(): void {
    const init: WorkerInit = { shared: this.health.buffer as SharedArrayBuffer };
    const w = new Worker(new URL('./http-worker.js', import.meta.url), { workerData: init, stdout: false, stderr: false });
    this.worker = w;
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (e) => this.guard.fail('watchdog', e));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const [, r] of this.replies) r.reject(new Error(`watchdog thread exited (${code})`));
      this.replies.clear();
      // Its live event streams went with it.
      this.onLive?.({ t: 'live-clients', n: 0 });
      if (this.stopped) {
        this.stopReply?.();
        return;
      }
      // Not asked to stop: report, and bring it back with the same listeners.
      this.guard.fail('watchdog', new Error(`watchdog thread exited with code ${code}`));
      const t = setTimeout(() => this.respawn(), RESPAWN_DELAY_MS);
      t.unref();
    });
  }

  private respawn(): void {
    if (this.stopped) return;
    this.restarts++;
    this.spawn();
    for (const l of this.listeners.values()) {
      this.request({ t: 'listen', id: l.id, addr: l.addr }).then((m) => {
        if (m.t === 'listening' && !m.ok) this.log.error({ event: 'metrics-listen-failed', listen: l.addr, error: m.error }, 'cannot listen again after a watchdog restart');
      }, (e: unknown) => this.guard.fail('watchdog', e));
    }
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'scrape') {
      this.scrape().then(
        (r) => this.post({ t: 'scraped', req: m.req, ok: true, body: r.body, contentType: r.contentType }),
        (e: unknown) => {
          this.guard.fail('metrics-scrape', e);
          this.post({ t: 'scraped', req: m.req, ok: false, body: `${(e as Error)?.message ?? String(e)}\n`, contentType: 'text/plain' });
        },
      );
      return;
    }
    if (m.t === 'stopped') {
      this.stopReply?.();
      return;
    }
    if (m.t === 'live-ask' || m.t === 'live-clients') {
      this.onLive?.(m);
      return;
    }
    const r = this.replies.get(m.id);
    if (r) {
      this.replies.delete(m.id);
      r.resolve(m);
    }
  }

  private post(m: ToWorker): void {
    try {
      this.worker?.postMessage(m);
    } catch (e) {
      this.guard.fail('watchdog', e);
    }
  }

  /** A message for the live page's side of the worker. */
  postLive(m: LiveToWorker): void {
    this.post(m);
  }

  private request(m: ToWorker & { id: number }): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (!this.worker) {
        reject(new Error('watchdog thread not running'));
        return;
      }
      this.replies.set(m.id, { resolve, reject });
      this.post(m);
    });
  }

  /** Binds `addr` (host:port) in the worker; /metrics and /healthz are served there at once. Rejects with the reason. */
  async listen(addr: string): Promise<Listener> {
    const id = this.nextId++;
    const m = await this.request({ t: 'listen', id, addr });
    if (m.t !== 'listening') throw new Error(`watchdog thread: unexpected reply ${m.t}`);
    if (!m.ok) throw new Error(m.error);
    const l = { id, addr, address: m.address };
    this.listeners.set(id, l);
    return l;
  }

  /** Stops serving on a listener. */
  async close(l: Listener): Promise<void> {
    this.listeners.delete(l.id);
    if (!this.worker) return;
    await this.request({ t: 'close', id: l.id });
  }

  set epoch(n: number) {
    this.health[Slot.Epoch] = n;
  }

  set ports(n: number) {
    this.health[Slot.Ports] = n;
  }

  /** /healthz answers 503 from now on. */
  markStopping(): void {
    this.health[Slot.Stopping] = 1;
  }

  /** Closes every listener and ends the thread (bounded wait). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const w = this.worker;
    if (!w) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2_000);
      this.stopReply = () => {
        clearTimeout(t);
        resolve();
      };
      this.post({ t: 'stop' });
    });
    await w.terminate();
  }
}
