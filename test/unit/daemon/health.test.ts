import { describe, expect, it } from 'vitest';
import { SLOTS, STALL_AFTER_MS, Slot, UNHEALTHY_AFTER_STALL_MS, health, watch } from '../../../src/daemon/health.js';

describe('watchdog state', () => {
  it('sees a stall when the heartbeat stops, its end when it resumes, and keeps /healthz unhealthy for a while after', () => {
    const h = new Float64Array(SLOTS);
    h[Slot.StartedAtUnixMs] = 1_700_000_000_000;
    let now = 5_000;
    h[Slot.Heartbeat] = now;
    expect(watch(h, now + STALL_AFTER_MS)).toBeNull(); // exactly at the threshold: not yet
    expect(health(h, now + STALL_AFTER_MS, 1_700_000_010_000).ok).toBe(true);
    const ev = watch(h, now + STALL_AFTER_MS + 1);
    expect(ev).toEqual({ kind: 'stalled', forMs: STALL_AFTER_MS + 1 });
    expect(h[Slot.Stalls]).toBe(1);
    expect(watch(h, now + 5_000)).toBeNull(); // still stalled: reported once
    const during = health(h, now + 2_500, 1_700_000_010_000);
    expect(during.ok).toBe(false);
    expect(during.detail.stalledSeconds).toBe(2.5);
    // The main thread beats again after 3 s.
    h[Slot.Heartbeat] = now + 3_000;
    expect(watch(h, now + 3_050)).toEqual({ kind: 'recovered', stalledMs: 3_000 });
    expect(h[Slot.StalledMsTotal]).toBe(3_000);
    expect(h[Slot.LongestStallMs]).toBe(3_000);
    const after = health(h, now + 3_100, 1_700_000_010_000);
    expect(after.ok).toBe(false);
    expect(after.detail.stalledSeconds).toBe(0);
    expect(after.detail.lastStallEndedSecondsAgo).toBe(0.1);
    now += 3_000;
    h[Slot.Heartbeat] = now + UNHEALTHY_AFTER_STALL_MS;
    expect(watch(h, now + UNHEALTHY_AFTER_STALL_MS)).toBeNull();
    expect(health(h, now + UNHEALTHY_AFTER_STALL_MS - 1, 0).ok).toBe(false);
    expect(health(h, now + UNHEALTHY_AFTER_STALL_MS, 0).ok).toBe(true);
  });

  it('is unhealthy while stopping, and never reports a stall before the first heartbeat', () => {
    const h = new Float64Array(SLOTS);
    expect(watch(h, 1e9)).toBeNull();
    expect(health(h, 1e9, 0).ok).toBe(true);
    h[Slot.Stopping] = 1;
    expect(health(h, 1e9, 0)).toMatchObject({ ok: false, detail: { stopping: true } });
  });
});
