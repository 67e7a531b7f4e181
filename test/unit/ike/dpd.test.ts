/**
 * Liveness (RFC 7296 §2.4) with AWS semantics: DPD after dpdDelay of silence,
 * peer declared dead dpdTimeout (AWS: 30 s) after the first unanswered DPD,
 * then the DPD timeout action (clear / restart / none). Fake clock only.
 */
import { describe, expect, it } from 'vitest';
import { IkeInitiator, IkeResponder } from '../../../src/ike/session.js';
import { onlyChild, Pair, pskConfigs } from './harness.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';

function pair(a: Partial<IkeSessionConfig> = {}, b: Partial<IkeSessionConfig> = {}): Pair {
  const [ca, cb] = pskConfigs(a, b);
  return new Pair(new IkeInitiator(ca), new IkeResponder(cb));
}

const sends = (p: Pair, who: 'a' | 'b', from = 0): number[] =>
  p.actions.filter((x) => x.who === who && x.action.kind === 'send' && x.at >= from).map((x) => x.at);

describe('DPD and dead peers (fake clock)', () => {
  it('a live peer answers empty INFORMATIONALs; DPD only after 10 s of silence', () => {
    const p = pair({}, { dpdDelaySec: 0 });
    p.start();
    const t0 = p.now;
    p.advance(9_999);
    expect(p.a.stats.dpdSent).toBe(0);
    p.advance(1);
    expect(p.a.stats.dpdSent).toBe(1);
    p.advance(300_000);
    expect(p.a.stats.dpdSent).toBe(31);
    expect(p.a.tunnelState).toBe('up');
    expect(sends(p, 'b', t0 + 1).length).toBe(31); // one answer per DPD
  });

  it('ESP seen by the data plane (notifyActivity) counts as liveness: no DPD', () => {
    const p = pair();
    p.start();
    for (let i = 0; i < 12; i++) {
      p.advance(5_000);
      p.a.notifyActivity(p.now);
    }
    expect(p.a.stats.dpdSent).toBe(0);
  });

  it('a silent peer is declared dead 30 s after the first DPD (action clear); the CGW reconnects later', () => {
    const p = pair();
    p.start();
    const [a0] = onlyChild(p);
    const tUp = p.now;
    p.filter = (w) => w.from !== 'b';
    p.advance(10_000 + 30_000 - 1);
    expect(p.a.tunnelState).toBe('up');
    const dpds = sends(p, 'a', tUp + 1).map((t) => t - tUp);
    expect(dpds[0]).toBe(10_000);
    expect(dpds.length).toBeGreaterThan(3); // retransmitted with back-off inside the 30 s
    p.advance(1);
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toBe('peer dead: no answer to DPD for 30 s');
    expect(p.installed.a.has(a0.spiIn)).toBe(false);
    expect(p.a.stats.deadPeers).toBe(1);
    expect(p.a.ikeSaCount).toBe(0);
    // keepUp (CGW): a new attempt after the retry delay
    p.advance(5_000);
    expect(p.a.tunnelState).toBe('connecting');
    p.filter = () => true;
    p.advance(60_000);
    expect(p.a.tunnelState).toBe('up');
  });

  it('honours dpdTimeout from the config (AWS allows >= 30 s)', () => {
    const p = pair({ dpdTimeoutSec: 45, keepUp: false });
    p.start();
    const tUp = p.now;
    p.filter = (w) => w.from !== 'b';
    p.advance(10_000 + 45_000 - 1);
    expect(p.a.tunnelState).toBe('up');
    p.advance(1);
    expect(p.a.tunnelState).toBe('down');
    p.advance(600_000);
    expect(p.a.tunnelState).toBe('down'); // keepUp false: stays down
    expect(sends(p, 'a', tUp + 56_000)).toEqual([]);
  });

  it('DPD action restart re-initiates at once', () => {
    const p = pair({ dpdAction: 'restart' });
    p.start();
    p.filter = (w) => w.from !== 'b';
    p.advance(40_000);
    expect(p.states.a.map((s) => s.state)).toEqual(['connecting', 'up', 'down', 'connecting']);
    expect(p.actions.find((x) => x.who === 'a' && x.action.kind === 'log' && x.action.event === 'dpd-restart')?.at)
      .toBe(p.actions.find((x) => x.who === 'a' && x.action.kind === 'state' && x.action.state === 'down')?.at);
  });

  it('DPD action none keeps the SAs and keeps probing', () => {
    const p = pair({ dpdAction: 'none' }, { dpdDelaySec: 0 }); // (with one-way loss the VGW's own DPD would clear it)
    p.start();
    p.filter = (w) => w.from !== 'b';
    p.advance(120_000);
    expect(p.a.tunnelState).toBe('up');
    expect(p.a.stats.dpdSent).toBeGreaterThan(1);
    p.filter = () => true;
    p.advance(60_000);
    expect(p.a.tunnelState).toBe('up');
    onlyChild(p);
  });

  it('the VGW (responder) probes too and clears a dead CGW; it does not reconnect', () => {
    const p = pair({ dpdDelaySec: 0 }, { dpdDelaySec: 10 });
    p.start();
    p.filter = (w) => w.from !== 'a';
    p.advance(41_000);
    expect(p.b.tunnelState).toBe('down');
    expect(p.b.ikeSaCount).toBe(0);
    expect(p.installed.b.size).toBe(0);
    p.advance(600_000);
    expect(p.b.tunnelState).toBe('down');
    expect(sends(p, 'b', p.now - 500_000)).toEqual([]);
  });

  it('a peer that deletes the IKE SA takes the tunnel down; the CGW comes back', () => {
    const p = pair();
    p.start();
    p.take('b', p.b.stop(p.now));
    p.take('b', p.b.start(p.now));
    p.flush();
    expect(p.a.tunnelState).toBe('down');
    expect(p.states.a.at(-1)?.reason).toBe('IKE SA deleted by peer');
    p.advance(6_000);
    onlyChild(p);
  });
});
