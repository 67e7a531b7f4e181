/**
 * Fault containment. A failure in one turn of the daemon's work (a batch, a
 * timer tick, a reload, a scrape) is caught where that work starts, counted
 * per place (`vpcd_internal_errors_total{place}`) and logged at a bounded
 * rate: the first failure at a place is logged at once, later ones at most
 * once per interval per place, with the count of failures the log did not
 * show. The daemon then goes on with the next turn.
 *
 * Places are fixed strings in the code (a bounded label set).
 */
import type { Logger } from 'pino';

/** One log line per place per this many ms, at most. */
export const ERROR_LOG_INTERVAL_MS = 10_000;

interface Place {
  count: number;
  /** Failures since the last line logged. */
  unlogged: number;
  lastLogMs: number;
  lastError: string;
}

function describe(e: unknown): { error: string; stack?: string } {
  try {
    if (e instanceof Error) return { error: e.message, ...(e.stack ? { stack: e.stack.split('\n').slice(0, 6).join('\n') } : {}) };
    return { error: String(e) };
  } catch {
    return { error: 'unprintable error value' };
  }
}

export class FaultGuard {
  private readonly places = new Map<string, Place>();

  constructor(private readonly log: Logger, private readonly intervalMs = ERROR_LOG_INTERVAL_MS, private readonly now: () => number = Date.now) {}

  /** Counts a failure at `place` and logs it unless one was logged there within the interval. Never throws. */
  fail(place: string, e: unknown): void {
    try {
      let p = this.places.get(place);
      if (!p) {
        p = { count: 0, unlogged: 0, lastLogMs: -Infinity, lastError: '' };
        this.places.set(place, p);
      }
      p.count++;
      p.unlogged++;
      const d = describe(e);
      p.lastError = d.error;
      const t = this.now();
      if (t - p.lastLogMs >= this.intervalMs) this.emit(place, p, t, d.stack);
    } catch {
      // Logging must not become the next failure.
    }
  }

  /** Runs fn; a throw is counted at `place`. Returns false when fn threw. */
  run(place: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (e) {
      this.fail(place, e);
      return false;
    }
  }

  /** fn wrapped for a timer or event callback: throws are counted at `place`. */
  wrap(place: string, fn: () => void): () => void {
    return () => {
      this.run(place, fn);
    };
  }

  /** Logs the failures that happened since each place's last line (call it on a timer). */
  flushUnlogged(): void {
    const t = this.now();
    for (const [place, p] of this.places) if (p.unlogged > 0 && t - p.lastLogMs >= this.intervalMs) this.emit(place, p, t, undefined);
  }

  /** Failures per place since start. */
  counts(): IterableIterator<[string, number]> {
    const it = this.places.entries();
    return (function* () {
      for (const [k, p] of it) yield [k, p.count] as [string, number];
    })();
  }

  countOf(place: string): number {
    return this.places.get(place)?.count ?? 0;
  }

  private emit(place: string, p: Place, t: number, stack: string | undefined): void {
    this.log.error({ event: 'internal-error', place, error: p.lastError, failures: p.unlogged, total: p.count, ...(stack ? { stack } : {}) },
      `internal error in ${place} (${p.unlogged} since the last report), contained; vpcd goes on`);
    p.unlogged = 0;
    p.lastLogMs = t;
  }
}
