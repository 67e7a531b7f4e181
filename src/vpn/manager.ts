/**
 * Site-to-site VPN control plane: one IKEv2 session per tunnel of every
 * configured connection (role cgw: we initiate; role vgw: we answer), driven
 * by datagrams the data plane punts from the WAN (UDP 500/4500 to one of our
 * WAN addresses) and by timers; what the sessions decide (datagrams to send,
 * CHILD_SAs to install or remove, tunnel up/down) goes back to the data plane
 * through the hooks. Secrets are read here (env or file) and never logged.
 *
 * AWS gives two tunnels per connection; the data plane sends on the first
 * tunnel that is up (the active one) and fails over to the other when DPD
 * declares the active one dead, failing back when it returns.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { VpcConfig, VpnConnection } from '../control/config-types.js';
import type { ChildSa } from '../ipsec/sa-types.js';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession, type UdpEndpoint } from '../ike/session.js';
import { sessionConfigFromVpn, vpnAuthFromContract, type IkeAuthConfig } from '../ike/config.js';
import { tunnelLocal } from './vpn-path.js';

export interface VpnHooks {
  /** Send a UDP datagram from one of our WAN addresses. */
  send(src: UdpEndpoint, dst: UdpEndpoint, bytes: Uint8Array): void;
  installSa(sa: ChildSa): void;
  removeSa(id: number, spiIn: number, spiOut: number): void;
  /** A tunnel went up or down (the data plane picks its active tunnel from these). */
  tunnelState(connection: string, tunnel: number, up: boolean): void;
}

export interface TunnelInfo {
  readonly connection: string;
  readonly tunnel: number;
  readonly role: 'cgw' | 'vgw';
  readonly local: string;
  readonly peer: string;
  state: 'down' | 'connecting' | 'up';
  upSinceMs: number;
  /** Setup time of the last establishment (first request to CHILD_SA installed), ms. */
  lastSetupMs: number;
  connectStartedMs: number;
}

/** IKE event counters (vpcd_vpn_ike_events_total{event}). */
export type IkeEventCounts = Record<string, number>;

interface Entry {
  readonly session: IkeSession;
  readonly info: TunnelInfo;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

export class ConfigSecretError extends Error {}

/** Reads a connection's authentication material. Throws ConfigSecretError with a message that names no secret. */
export function loadAuth(conn: VpnConnection): IkeAuthConfig {
  try {
    return vpnAuthFromContract(conn.auth, { env: process.env, readFile: (p) => readFileSync(p, 'utf8') });
  } catch (e) {
    throw new ConfigSecretError(`vpn connection ${conn.name}: ${(e as Error).message}`);
  }
}

export { tunnelLocal };

export class VpnManager {
  private readonly entries: Entry[] = [];
  /** "localAddr|peerAddr" -> entry */
  private readonly byPair = new Map<string, Entry>();
  readonly events: IkeEventCounts = {};
  private stopped = false;

  constructor(private readonly cfg: VpcConfig, private readonly log: Logger, private readonly hooks: VpnHooks,
    private readonly overrides: (conn: VpnConnection) => Partial<Parameters<typeof sessionConfigFromVpn>[4]> = () => ({})) {}

  /** Builds every tunnel's session. Throws ConfigSecretError when secrets are missing. */
  build(): void {
    for (const conn of this.cfg.vpnConnections.values()) {
      const auth = loadAuth(conn);
      conn.tunnels.forEach((t, i) => {
        const local = tunnelLocal(this.cfg, conn, i);
        if (local === undefined) throw new ConfigSecretError(`vpn connection ${conn.name} tunnel ${i}: no local address (tunnels[].local or customerGateway.wan.ip)`);
        const sc = sessionConfigFromVpn(conn, i, local, { auth }, {
          forceEncap: true,
          ...(conn.allowShortLifetimes ? { rekeyMarginSec: Math.max(2, Math.min(270, Math.floor(conn.esp.lifetime / 3))) } : {}),
          ...this.overrides(conn),
        });
        const session = conn.role === 'cgw' ? new IkeInitiator(sc) : new IkeResponder(sc);
        const info: TunnelInfo = { connection: conn.name, tunnel: i, role: conn.role, local, peer: t.peer, state: 'down', upSinceMs: 0, lastSetupMs: 0, connectStartedMs: 0 };
        const e: Entry = { session, info, timer: undefined, timerAt: Infinity };
        this.entries.push(e);
        this.byPair.set(`${local}|${t.peer}`, e);
      });
    }
  }

  get tunnels(): readonly TunnelInfo[] {
    return this.entries.map((e) => e.info);
  }

  sessions(): readonly { info: TunnelInfo; session: IkeSession }[] {
    return this.entries;
  }

  /** Our WAN addresses (the data plane answers ARP for them and punts IKE to us). */
  localAddresses(): string[] {
    return [...new Set(this.entries.map((e) => e.info.local))];
  }

  start(): void {
    const now = performance.now();
    for (const e of this.entries) {
      e.info.connectStartedMs = now;
      this.apply(e, e.session.start(now));
    }
  }

  /** An IKE datagram (UDP payload, non-ESP marker included on 4500) for one of our addresses. */
  onDatagram(localAddr: string, localPort: number, from: UdpEndpoint, bytes: Uint8Array): void {
    if (this.stopped) return;
    const e = this.byPair.get(`${localAddr}|${from.addr}`);
    if (!e) {
      this.count('unknown_peer');
      this.log.warn({ event: 'ike-unknown-peer', local: localAddr, peer: from.addr }, 'IKE datagram from an address with no configured tunnel: dropped');
      return;
    }
    const now = performance.now();
    let actions: IkeAction[];
    try {
      actions = e.session.onDatagram(bytes, from, now, localPort);
    } catch (err) {
      // The session is meant never to throw on input; if it does, the daemon keeps running.
      this.count('session_error');
      this.log.error({ event: 'ike-session-error', connection: e.info.connection, tunnel: e.info.tunnel, error: (err as Error).message }, 'IKE session failed on a datagram');
      return;
    }
    this.apply(e, actions);
  }

  /** ESP arrived on a tunnel: the peer is alive (DPD need not ask). */
  notifyActivity(connection: string, tunnel: number): void {
    const e = this.entries.find((x) => x.info.connection === connection && x.info.tunnel === tunnel);
    if (e) e.session.notifyActivity(performance.now());
  }

  /** For tests and operators: start a CHILD_SA / IKE_SA rekey now. */
  rekeyChild(connection: string, tunnel: number): void {
    const e = this.entries.find((x) => x.info.connection === connection && x.info.tunnel === tunnel);
    if (e) this.apply(e, e.session.rekeyChild(performance.now()));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    const now = performance.now();
    for (const e of this.entries) {
      if (e.timer) clearTimeout(e.timer);
      try {
        this.apply(e, e.session.stop(now));
      } catch {
        // best effort: DELETE notifications
      }
    }
    this.stopped = true;
  }

  private count(event: string): void {
    this.events[event] = (this.events[event] ?? 0) + 1;
  }

  private apply(e: Entry, actions: readonly IkeAction[]): void {
    const info = e.info;
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!this.stopped) this.hooks.send(a.src, a.dst, a.bytes);
          break;
        case 'install-child-sa': {
          this.hooks.installSa(a.sa);
          this.count('child_sa_installed');
          const now = performance.now();
          if (info.state !== 'up') info.lastSetupMs = now - info.connectStartedMs;
          this.log.info({ event: 'child-sa-installed', connection: info.connection, tunnel: info.tunnel, spiIn: hex(a.sa.spiIn), spiOut: hex(a.sa.spiOut),
            algorithm: a.sa.algorithm, setupMs: Math.round(info.lastSetupMs * 10) / 10 }, 'CHILD_SA installed');
          break;
        }
        case 'remove-child-sa':
          this.hooks.removeSa(a.id, a.spiIn, a.spiOut);
          this.count('child_sa_removed');
          this.log.info({ event: 'child-sa-removed', connection: info.connection, tunnel: info.tunnel, spiIn: hex(a.spiIn), spiOut: hex(a.spiOut), reason: a.reason }, 'CHILD_SA removed');
          break;
        case 'state': {
          const before = info.state;
          info.state = a.state;
          if (a.state === 'connecting' && before !== 'connecting') info.connectStartedMs = performance.now();
          if (a.state === 'up' && before !== 'up') info.upSinceMs = performance.now();
          if ((a.state === 'up') !== (before === 'up')) this.hooks.tunnelState(info.connection, info.tunnel, a.state === 'up');
          this.count(`tunnel_${a.state}`);
          this.log.info({ event: 'tunnel-state', connection: info.connection, tunnel: info.tunnel, state: a.state, reason: a.reason }, `tunnel ${a.state}`);
          break;
        }
        case 'log':
          this.count(a.event.replaceAll('-', '_'));
          this.log[a.level]({ event: a.event, connection: info.connection, tunnel: info.tunnel }, a.msg);
          break;
      }
    }
    this.arm(e);
  }

  private arm(e: Entry): void {
    if (this.stopped) return;
    const at = e.session.nextTimerMs();
    if (at === e.timerAt && e.timer) return;
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    e.timerAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.min(at - performance.now(), 2 ** 31 - 1));
    e.timer = setTimeout(() => {
      e.timer = undefined;
      e.timerAt = Infinity;
      this.apply(e, e.session.onTimer(performance.now()));
    }, delay);
  }
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
