/**
 * Runs one sans-IO IKE session over node:dgram: two sockets on the local
 * address (IKE port 500 and NAT-T port 4500), one setTimeout for the session's
 * next deadline, and a monotonic clock. Used by the standalone runner and the
 * interop tests; the daemon instead punts WAN datagrams from its data plane.
 *
 * On the NAT-T socket, datagrams whose first four bytes are non-zero are ESP
 * (RFC 3948 §2.2): this driver has no ESP data path and counts them only.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { IkeAction, IkeSession } from './session.js';

export interface UdpDriverOptions {
  readonly session: IkeSession;
  /** Called for every action after the driver carried it out (sends included). */
  readonly onAction?: (a: IkeAction, nowMs: number) => void;
  /** Monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class UdpDriver {
  readonly session: IkeSession;
  private readonly onAction: (a: IkeAction, nowMs: number) => void;
  private readonly clock: () => number;
  private readonly sockets = new Map<number, Socket>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerAt = Infinity;
  private closed = false;
  espDatagrams = 0;

  constructor(opts: UdpDriverOptions) {
    this.session = opts.session;
    this.onAction = opts.onAction ?? (() => undefined);
    this.clock = opts.clock ?? (() => performance.now());
  }

  now(): number {
    return this.clock();
  }

  /** Binds both ports on the session's local address, then starts the session. */
  async start(): Promise<void> {
    const cfg = this.session.config;
    for (const port of [cfg.localIkePort, cfg.localNattPort]) {
      const s = createSocket({ type: 'udp4', reuseAddr: false });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: cfg.localAddr, port, exclusive: true }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('message', (msg, rinfo) => {
        if (this.closed) return;
        if (port === cfg.localNattPort && msg.length >= 4 && msg.readUInt32BE(0) !== 0) {
          this.espDatagrams++;
          return;
        }
        this.apply(this.session.onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { addr: rinfo.address, port: rinfo.port }, this.now(), port));
      });
      s.on('error', () => undefined);
      this.sockets.set(port, s);
    }
    this.apply(this.session.start(this.now()));
  }

  /** Runs a session method (rekeyChild, rekeyIke, initiate...) and carries out its actions. */
  invoke(f: (s: IkeSession, nowMs: number) => readonly IkeAction[]): void {
    if (!this.closed) this.apply(f(this.session, this.now()));
  }

  /** Stops the session (DELETE sent), waits briefly for the datagrams to leave, closes sockets. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.apply(this.session.stop(this.now()));
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sockets.values()) {
      try {
        s.close();
      } catch {
        /* already closed */
      }
    }
    this.sockets.clear();
  }

  private apply(actions: readonly IkeAction[]): void {
    const now = this.now();
    for (const a of actions) {
      if (a.kind === 'send') {
        const s = this.sockets.get(a.src.port);
        if (s) s.send(a.bytes, a.dst.port, a.dst.addr);
      }
      this.onAction(a, now);
    }
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    const next = this.session.nextTimerMs();
    if (next === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    if (!Number.isFinite(next)) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - this.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      if (!this.closed) this.apply(this.session.onTimer(this.now()));
    }, Math.ceil(delay));
  }
}
