/**
 * An IKE session across a daemon restart (src/ike/session-state.ts): the
 * state of an established session, saved to JSON and restored into a fresh
 * session of the same configuration, goes on with the same peer session:
 * same SPIs and CHILD_SAs, the same timers, and the peer's next exchanges
 * (DPD, CHILD_SA rekey, IKE SA rekey) succeed with no new IKE_SA_INIT.
 * State that does not fit the configuration is refused with
 * SavedStateError and leaves the session as it was. Fake clock only.
 */
import { describe, expect, it } from 'vitest';
import { IkeInitiator, IkeResponder, type IkeSession } from '../../../src/ike/session.js';
import type { IkeSessionConfig } from '../../../src/ike/config.js';
import { SavedStateError } from '../../../src/lib/saved-fields.js';
import { errorTotal, mirrored, onlyChild, Pair, pskConfigs } from './harness.js';

type Who = 'a' | 'b';

function pair(a: Partial<IkeSessionConfig> = {}, b: Partial<IkeSessionConfig> = {}): { p: Pair; ca: IkeSessionConfig; cb: IkeSessionConfig } {
  const [ca, cb] = pskConfigs(a, b);
  const p = new Pair(new IkeInitiator(ca), new IkeResponder(cb));
  return { p, ca, cb };
}

/** Saves one side through JSON text (what the state file holds) and restores it into a fresh session at `baseMs`. */
function restart(p: Pair, who: Who, cfg: IkeSessionConfig, baseMs = p.now): { q: Pair; fresh: IkeSession } {
  const old = who === 'a' ? p.a : p.b;
  const r = old.save(p.now);
  if (!('saved' in r)) throw new Error(`not saved: ${r.reason}`);
  const text = JSON.stringify(r.saved);
  const fresh = who === 'a' ? new IkeInitiator(cfg) : new IkeResponder(cfg);
  const { children, actions } = fresh.restore(JSON.parse(text), baseMs);
  const q = new Pair(who === 'a' ? fresh : p.a, who === 'a' ? p.b : fresh);
  q.now = p.now;
  for (const c of children) q.installed[who].set(c.spiIn, c);
  q.installed[who === 'a' ? 'b' : 'a'] = p.installed[who === 'a' ? 'b' : 'a'];
  q.take(who, actions);
  return { q, fresh };
}

/** Exchange types of the datagrams a side sent (byte 18 of the IKE header, after the non-ESP marker on 4500). */
function exchanges(q: Pair, who: Who): number[] {
  return q.sent.filter((w) => w.from === who).map((w) => w.bytes[(w.src.port === 4500 ? 4 : 0) + 18]!);
}

describe('IKE session state across a restart', () => {
  for (const who of ['a', 'b'] as const) {
    const role = who === 'a' ? 'initiator' : 'responder';

    it(`${role}: the restored session has the same SAs and timers, and the peer's DPD, CHILD_SA and IKE SA rekeys go on without IKE_SA_INIT`, () => {
      const { p, ca, cb } = pair();
      p.start();
      p.advance(2_000);
      const [a0, b0] = onlyChild(p);
      const old = who === 'a' ? p.a : p.b;
      const info = old.ikeSaInfo!;
      const timer = old.nextTimerMs();
      const { q, fresh } = restart(p, who, who === 'a' ? ca : cb);
      expect(fresh.ikeSaInfo).toEqual(info);
      expect(fresh.nextTimerMs()).toBe(timer);
      expect(fresh.tunnelState).toBe('up');
      expect(q.states[who].at(-1)?.state).toBe('up');
      const [ra, rb] = onlyChild(q);
      expect(mirrored(ra, rb)).toBe(true);
      expect([ra.spiIn, rb.spiIn]).toEqual([a0.spiIn, b0.spiIn]);
      // Silence: DPD from the peer that did not restart, answered by the restored session.
      const peer = who === 'a' ? q.b : q.a;
      const dpdBefore = peer.stats.dpdSent + fresh.stats.dpdSent;
      q.advance(11_000);
      expect(peer.stats.dpdSent + fresh.stats.dpdSent).toBeGreaterThan(dpdBefore);
      // The peer (and then the restored side) rekeys the CHILD_SA, then the IKE SA.
      q.take(who === 'a' ? 'b' : 'a', peer.rekeyChild(q.now));
      q.flush();
      q.take(who, fresh.rekeyChild(q.now));
      q.flush();
      q.take(who, fresh.rekeyIke(q.now));
      q.flush();
      q.advance(1_000);
      expect(fresh.stats.childSasInstalled).toBe(2);
      expect(fresh.stats.ikeRekeys + peer.stats.ikeRekeys).toBeGreaterThan(0);
      expect(fresh.ikeSaInfo!.spiI).not.toBe(info.spiI);
      const [na, nb] = onlyChild(q);
      expect(mirrored(na, nb)).toBe(true);
      expect(errorTotal(fresh)).toBe(0);
      expect(errorTotal(peer)).toBe(0);
      expect(exchanges(q, 'a')).not.toContain(34);
      expect(fresh.tunnelState).toBe('up');
      expect(peer.tunnelState).toBe('up');
    });
  }

  it('times move with the clock: restored at another base, every deadline moves by the same amount (and the age is honoured)', () => {
    const { p, cb } = pair();
    p.start();
    p.advance(5_000);
    const timer = p.b.nextTimerMs();
    const { fresh } = restart(p, 'b', cb, p.now + 123_456);
    expect(fresh.nextTimerMs()).toBe(timer + 123_456);
    const { fresh: aged } = restart(p, 'b', cb, p.now - 7_000);
    expect(aged.nextTimerMs()).toBe(timer - 7_000);
  });

  it('a DPD in flight is saved and retransmitted by the restored session; the peer answers it', () => {
    const { p, ca } = pair();
    p.start();
    p.filter = (w) => w.from !== 'a';
    p.advance(10_000);
    expect(p.a.stats.dpdSent).toBe(1);
    p.inflight.length = 0;
    p.filter = () => true;
    const { q, fresh } = restart(p, 'a', ca);
    q.advance(5_000);
    expect(fresh.stats.retransmits).toBeGreaterThan(0);
    expect(errorTotal(q.b)).toBe(0);
    q.advance(60_000);
    expect(fresh.tunnelState).toBe('up');
    expect(fresh.stats.deadPeers).toBe(0);
  });

  it('a CHILD_SA rekey in flight cannot be saved (its DH secret is not kept): the reason says so', () => {
    const { p } = pair();
    p.start();
    p.take('a', p.a.rekeyChild(p.now));
    expect(p.a.save(p.now)).toEqual({ reason: 'a child-rekey exchange is in flight' });
    const fresh = new IkeInitiator(pskConfigs()[0]);
    expect(fresh.save(p.now)).toEqual({ reason: 'no established IKE SA' });
  });

  describe('refused state leaves the session untouched', () => {
    const { p, ca, cb } = pair();
    p.start();
    const r = p.b.save(p.now);
    const saved = JSON.parse(JSON.stringify('saved' in r ? r.saved : null)) as Record<string, unknown>;
    const edit = (f: (o: Record<string, unknown>) => void): Record<string, unknown> => {
      const o = JSON.parse(JSON.stringify(saved)) as Record<string, unknown>;
      f(o);
      return o;
    };
    const cases: [string, () => IkeSession, unknown, RegExp][] = [
      ['the other role', () => new IkeInitiator(ca), saved, /role|initiator/],
      ['another peer', () => new IkeResponder({ ...cb, peerAddr: '198.51.100.77' }), saved, /peer|endpoints/],
      ['another connection', () => new IkeResponder({ ...cb, name: 'other' }), saved, /saved for/],
      ['a short SK_d', () => new IkeResponder(cb), edit((o) => { (o.keys as Record<string, unknown>).d = 'AAAA'; }), /\bd: 3 bytes/],
      ['a zero SPI', () => new IkeResponder(cb), edit((o) => { o.spiR = '0000000000000000'; }), /spiR/],
      ['an ESP key of the wrong length', () => new IkeResponder(cb), edit((o) => {
        ((o.children as Record<string, unknown>[])[0]!.sa as Record<string, unknown>).encKeyIn = 'AAAA';
      }), /encKeyIn/],
      ['an unknown ESP transform', () => new IkeResponder(cb), edit((o) => {
        ((o.children as Record<string, unknown>[])[0]!.sa as Record<string, unknown>).algorithm = 'aes256-md5';
      }), /ESP transform/],
      ['work for a CHILD_SA it does not own', () => new IkeResponder(cb), edit((o) => { o.queue = [{ kind: 'child-rekey', child: 4242 }]; }), /does not own/],
      ['another format version', () => new IkeResponder(cb), edit((o) => { o.v = 2; }), /version/],
      ['not an object', () => new IkeResponder(cb), 'junk', /expected an object/],
    ];
    for (const [what, make, state, msg] of cases) {
      it(what, () => {
        const s = make();
        expect(() => s.restore(state, p.now)).toThrow(SavedStateError);
        expect(() => s.restore(state, p.now)).toThrow(msg);
        expect(s.ikeSaCount).toBe(0);
        expect(s.tunnelState).toBe('down');
        // ...and it can still start the normal way.
        const acts = s.start(p.now);
        expect(acts.filter((x) => x.kind === 'log' && x.event === 'internal-error')).toEqual([]);
      });
    }

    it('an accept callback that throws refuses it before anything changes', () => {
      const s = new IkeResponder(cb);
      expect(() => s.restore(saved, p.now, () => { throw new SavedStateError('no ESP state'); })).toThrow('no ESP state');
      expect(s.ikeSaCount).toBe(0);
    });

    it('restoring twice is refused', () => {
      const s = new IkeResponder(cb);
      s.restore(saved, p.now);
      expect(() => s.restore(saved, p.now)).toThrow(/already started/);
      expect(s.ikeSaCount).toBe(1);
    });
  });
});
