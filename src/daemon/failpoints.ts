/**
 * Fault injection for tests of the daemon's containment, read once from the
 * environment variable VPCD_FAILPOINTS (unset in production: every point is
 * off and costs one comparison per batch or tick):
 *
 *   VPCD_FAILPOINTS="batch-throw-every=5,timer-throw=conntrack-sweep,stall-ms=3000"
 *
 * - batch-throw-every=N: every Nth batch throws inside the batch loop.
 * - timer-throw=PLACE[+PLACE...]: the named timer callbacks throw each time.
 * - stall-ms=N: SIGUSR2 blocks the event loop for N ms (the watchdog's test).
 */

export class Failpoints {
  readonly batchThrowEvery: number;
  readonly timerThrow: ReadonlySet<string>;
  readonly stallMs: number;
  private batches = 0;

  constructor(spec: string | undefined) {
    let every = 0, stall = 0;
    const timers = new Set<string>();
    for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const [k, v = ''] = item.split('=', 2) as [string, string?];
      if (k === 'batch-throw-every') every = Math.max(0, Math.floor(Number(v)) || 0);
      else if (k === 'timer-throw') for (const p of v.split('+')) timers.add(p);
      else if (k === 'stall-ms') stall = Math.max(0, Math.min(60_000, Math.floor(Number(v)) || 0));
      else throw new Error(`VPCD_FAILPOINTS: unknown failpoint ${JSON.stringify(k)} (batch-throw-every, timer-throw, stall-ms)`);
    }
    this.batchThrowEvery = every;
    this.timerThrow = timers;
    this.stallMs = stall;
  }

  get any(): boolean {
    return this.batchThrowEvery > 0 || this.timerThrow.size > 0 || this.stallMs > 0;
  }

  /** Called once per batch inside the batch loop's containment. */
  batch(): void {
    if (this.batchThrowEvery > 0 && ++this.batches % this.batchThrowEvery === 0) throw new Error('failpoint batch-throw-every');
  }

  /** Called at the start of a timer callback. */
  timer(place: string): void {
    if (this.timerThrow.size > 0 && this.timerThrow.has(place)) throw new Error(`failpoint timer-throw=${place}`);
  }

  /** Blocks the calling thread for stallMs (SIGUSR2). */
  stall(): void {
    const end = Date.now() + this.stallMs;
    while (Date.now() < end) { /* busy: the event loop is stuck on purpose */ }
  }
}
