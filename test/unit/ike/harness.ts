/**
 * Test harness: two sans-IO IKE sessions wired back to back with a fake clock.
 * Datagrams are delivered in order; a filter can drop, tamper with or record them.
 */
import type { ChildSa } from '../../../src/ipsec/sa-types.js';
import type { IkeAction, IkeSession, TunnelState, UdpEndpoint } from '../../../src/ike/session.js';

export interface Wire {
  readonly from: 'a' | 'b';
  bytes: Uint8Array;
  readonly src: UdpEndpoint;
  readonly dst: UdpEndpoint;
}

export class Pair {
  now = 1_000_000;
  readonly inflight: Wire[] = [];
  readonly sent: Wire[] = [];
  readonly actions: { who: 'a' | 'b'; at: number; action: IkeAction }[] = [];
  readonly installed = { a: new Map<number, ChildSa>(), b: new Map<number, ChildSa>() };
  readonly states = { a: [] as { state: TunnelState; reason: string }[], b: [] as { state: TunnelState; reason: string }[] };
  /** Return false to drop a datagram; may modify `w.bytes`. */
  filter: (w: Wire) => boolean = () => true;

  constructor(readonly a: IkeSession, readonly b: IkeSession) {}

  take(who: 'a' | 'b', actions: readonly IkeAction[]): void {
    for (const action of actions) {
      this.actions.push({ who, at: this.now, action });
      switch (action.kind) {
        case 'send': {
          const w: Wire = { from: who, bytes: action.bytes, src: action.src, dst: action.dst };
          this.sent.push(w);
          this.inflight.push(w);
          break;
        }
        case 'install-child-sa':
          this.installed[who].set(action.sa.spiIn, action.sa);
          break;
        case 'remove-child-sa':
          this.installed[who].delete(action.spiIn);
          break;
        case 'state':
          this.states[who].push({ state: action.state, reason: action.reason });
          break;
        case 'log':
          if (process.env.IKE_TEST_LOG) console.log(`[${who} ${this.now}] ${action.level} ${action.event}: ${action.msg}`);
          break;
      }
    }
  }

  /** Delivers everything in flight (and what that triggers), without advancing time. */
  flush(maxSteps = 1000): void {
    for (let i = 0; i < maxSteps && this.inflight.length; i++) {
      const w = this.inflight.shift() as Wire;
      if (!this.filter(w)) continue;
      const to = w.from === 'a' ? 'b' : 'a';
      const s = to === 'a' ? this.a : this.b;
      this.take(to, s.onDatagram(w.bytes, w.src, this.now, w.dst.port));
    }
  }

  start(): void {
    this.take('b', this.b.start(this.now));
    this.take('a', this.a.start(this.now));
    this.flush();
  }

  /** Advances the clock to `t`, firing timers in order and delivering traffic. */
  advanceTo(t: number): void {
    let sameTime = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.flush();
      const next = Math.min(this.a.nextTimerMs(), this.b.nextTimerMs());
      if (next > t) break;
      sameTime = next <= this.now ? sameTime + 1 : 0;
      if (sameTime > 1000) throw new Error(`timer loop at ${this.now}: nextTimerMs does not advance`);
      this.now = Math.max(this.now, next);
      if (this.a.nextTimerMs() <= this.now) this.take('a', this.a.onTimer(this.now));
      if (this.b.nextTimerMs() <= this.now) this.take('b', this.b.onTimer(this.now));
    }
    this.now = Math.max(this.now, t);
    this.flush();
  }

  advance(ms: number): void {
    this.advanceTo(this.now + ms);
  }

  logs(who?: 'a' | 'b'): string[] {
    return this.actions.filter((x) => (!who || x.who === who) && x.action.kind === 'log').map((x) => {
      const a = x.action as Extract<IkeAction, { kind: 'log' }>;
      return `${x.who} ${a.event}: ${a.msg}`;
    });
  }
}

/** Deterministic random bytes (mulberry32). */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = next() & 0xff;
    return out;
  };
}

/** The SA pair a negotiation produced must mirror: a's inbound = b's outbound. */
export function mirrored(x: ChildSa, y: ChildSa): boolean {
  const eq = (p: Uint8Array, q: Uint8Array): boolean => Buffer.from(p).equals(Buffer.from(q));
  return x.spiIn === y.spiOut && x.spiOut === y.spiIn && x.algorithm === y.algorithm &&
    eq(x.encKeyIn, y.encKeyOut) && eq(x.encKeyOut, y.encKeyIn) && eq(x.saltIn, y.saltOut) && eq(x.saltOut, y.saltIn) &&
    eq(x.integKeyIn, y.integKeyOut) && eq(x.integKeyOut, y.integKeyIn);
}

import type { IkeSessionConfig } from '../../../src/ike/config.js';

export const TEST_PSK = new Uint8Array(Buffer.from('pv-interop-psk-0123456789'));

/** a = CGW initiator (198.51.100.2), b = VGW responder (198.51.100.1), AWS-like proposals. */
export function pskConfigs(over: Partial<IkeSessionConfig> = {}, overB: Partial<IkeSessionConfig> = {}): [IkeSessionConfig, IkeSessionConfig] {
  const a: IkeSessionConfig = {
    name: 'to-aws', localAddr: '198.51.100.2', peerAddr: '198.51.100.1', auth: { kind: 'psk', psk: TEST_PSK },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256'], espProposals: ['aes256gcm16-ecp256'],
    localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'], random: seededRandom(1), ...over,
  };
  const b: IkeSessionConfig = {
    name: 'vgw', localAddr: '198.51.100.1', peerAddr: '198.51.100.2', auth: { kind: 'psk', psk: TEST_PSK },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
    espProposals: ['aes256gcm16-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
    localTs: ['198.18.0.0/16'], remoteTs: ['198.19.0.0/16'], random: seededRandom(2), ...overB,
  };
  return [a, b];
}

/** The single installed CHILD_SA of each side, asserting there is exactly one and they mirror. */
export function onlyChild(p: Pair): [ChildSa, ChildSa] {
  const a = [...p.installed.a.values()];
  const b = [...p.installed.b.values()];
  if (a.length !== 1 || b.length !== 1) throw new Error(`expected one CHILD_SA per side, have ${a.length} / ${b.length}`);
  if (!mirrored(a[0], b[0])) throw new Error('CHILD_SAs do not mirror');
  return [a[0], b[0]];
}

export function errorTotal(s: IkeSession): number {
  return s.errors.reduce((x, y) => x + y, 0);
}
