/**
 * The health state the main thread and the watchdog thread share: one
 * Float64Array over a SharedArrayBuffer. The main thread writes its heartbeat
 * (and epoch, ports, stopping); the watchdog thread reads the heartbeat,
 * keeps the stall bookkeeping and answers /healthz from it. Each slot has a
 * single writer; an aligned 8-byte store is not torn on the platforms Node
 * runs on, and a value read one tick late is harmless for monitoring.
 *
 * Times are monotonic milliseconds (CLOCK_MONOTONIC, the same in every thread).
 */

export const Slot = {
  /** Main: last heartbeat. */
  Heartbeat: 0,
  /** Watchdog: stalls seen since start. */
  Stalls: 1,
  /** Watchdog: ms spent stalled (finished stalls). */
  StalledMsTotal: 2,
  /** Watchdog: the last heartbeat before the stall in progress, or 0. */
  StallStart: 3,
  /** Watchdog: when the last stall ended (the first heartbeat after it), or 0. */
  LastStallEnd: 4,
  /** Watchdog: the longest stall, ms. */
  LongestStallMs: 5,
  /** Main: configuration epoch. */
  Epoch: 6,
  /** Main: interfaces owned. */
  Ports: 7,
  /** Main: 1 while stopping. */
  Stopping: 8,
  /** Main: start time, Unix ms. */
  StartedAtUnixMs: 9,
} as const;
export const SLOTS = 10;

/** The main thread beats this often. */
export const HEARTBEAT_MS = 100;
/** No heartbeat for this long is a stall. */
export const STALL_AFTER_MS = 1_000;
/** /healthz stays unhealthy this long after a stall ended. */
export const UNHEALTHY_AFTER_STALL_MS = 10_000;

export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export type WatchEvent = { readonly kind: 'stalled'; readonly forMs: number } | { readonly kind: 'recovered'; readonly stalledMs: number } | null;

/** One watchdog check: updates the stall slots; returns what changed. */
export function watch(h: Float64Array, nowMs: number, stallAfterMs = STALL_AFTER_MS): WatchEvent {
  const beat = h[Slot.Heartbeat]!;
  const start = h[Slot.StallStart]!;
  if (start === 0) {
    if (beat > 0 && nowMs - beat > stallAfterMs) {
      h[Slot.StallStart] = beat;
      h[Slot.Stalls]!++;
      return { kind: 'stalled', forMs: nowMs - beat };
    }
    return null;
  }
  if (beat !== start) {
    const ms = beat - start;
    h[Slot.StallStart] = 0;
    h[Slot.LastStallEnd] = beat;
    h[Slot.StalledMsTotal]! += ms;
    if (ms > h[Slot.LongestStallMs]!) h[Slot.LongestStallMs] = ms;
    return { kind: 'recovered', stalledMs: ms };
  }
  return null;
}

export interface Health {
  readonly ok: boolean;
  readonly detail: {
    readonly epoch: number;
    readonly ports: number;
    readonly uptimeSeconds: number;
    readonly stopping: boolean;
    /** The main event loop has not run for this long (0: running). */
    readonly stalledSeconds: number;
    /** Seconds since the last stall ended (null: none yet). */
    readonly lastStallEndedSecondsAgo: number | null;
    readonly stalls: number;
  };
}

/** /healthz: unhealthy while stopping, while stalled, and for unhealthyAfterMs after a stall. */
export function health(h: Float64Array, nowMs: number, unixMs: number, unhealthyAfterMs = UNHEALTHY_AFTER_STALL_MS): Health {
  const start = h[Slot.StallStart]!;
  const end = h[Slot.LastStallEnd]!;
  const stopping = h[Slot.Stopping] === 1;
  const stalledSeconds = start > 0 ? round1((nowMs - start) / 1000) : 0;
  const recent = end > 0 && nowMs - end < unhealthyAfterMs;
  return {
    ok: !stopping && start === 0 && !recent,
    detail: {
      epoch: h[Slot.Epoch]!,
      ports: h[Slot.Ports]!,
      uptimeSeconds: Math.round((unixMs - h[Slot.StartedAtUnixMs]!) / 1000),
      stopping,
      stalledSeconds,
      lastStallEndedSecondsAgo: end > 0 ? round1((nowMs - end) / 1000) : null,
      stalls: h[Slot.Stalls]!,
    },
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
