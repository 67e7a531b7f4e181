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
 *
 * Hostile input: the daemon listens on the internet. Every punted datagram
 * first passes a per-source-address token bucket (RateLimiter: fixed table,
 * seeded hash) before anything parses it. Datagrams dropped for any reason are
 * counted by reason (`dropped`, vpcd_ike_datagrams_dropped_total{reason}), and
 * at most one log line per reason per 10 s summarises them, so junk cannot
 * flood the log.
 *
 * Reloads are two-phase: prepare(cfg) reads and checks every secret and
 * changes nothing; apply() swaps the new credentials into the running
 * sessions. Live SAs keep their keys (IKEv2 rekeys do not authenticate
 * again); the new PSK or certificate is used from the next IKE_AUTH.
 */
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { VpcConfig, VpnConnection } from '../control/config-types.js';
import type { ChildSa } from '../ipsec/sa-types.js';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession, type UdpEndpoint } from '../ike/session.js';
import {
  resolveConfig, sessionConfigFromVpn, vpnAuthFromContract, type IkeAuthConfig, type IkeSessionConfig, type ResolvedIkeConfig, type SecretSources,
} from '../ike/config.js';
import { ipToU32, u32ToIp } from '../wire/addr.js';
import { RateLimiter, type RateLimiterOptions } from '../lib/rate-limiter.js';
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

/** Why a punted IKE datagram was dropped: index into `VpnManager.dropped`. */
export const IkeDrop = {
  /** Its source address exceeded its token bucket (checked before any parsing). */
  RateLimited: 0,
  /** No tunnel has this (our address, source address) pair. */
  UnknownPeer: 1,
  /** The session could not decode it (truncated, bad lengths, version, payload format, fragments). */
  Malformed: 2,
  /** Decoded but refused by the session (unknown SPI, message ID, integrity, unexpected exchange, half-open limit). */
  Refused: 3,
  /** The session failed internally on it (a bug; counted, the daemon keeps running). */
  SessionError: 4,
} as const;
export type IkeDrop = (typeof IkeDrop)[keyof typeof IkeDrop];
/** Label values of vpcd_ike_datagrams_dropped_total{reason}, indexed by IkeDrop. */
export const IKE_DROP_REASONS: readonly string[] = ['rate_limited', 'unknown_peer', 'malformed', 'refused', 'session_error'];

/** Session refusal codes (IKE_ERROR_NAMES) that mean the datagram did not decode. */
const MALFORMED_CODES: ReadonlySet<string> = new Set(['truncated', 'bad_length', 'bad_version', 'bad_payload', 'unsupported_critical', 'fragment']);
/**
 * Refusals that are the outcome of an exchange with the configured peer
 * rather than junk: the peer completed IKE_SA_INIT (a DH exchange, so it
 * receives at its address) and then failed authentication. They keep their
 * own log line (what an operator needs to fix a tunnel); the rate limit
 * bounds them.
 */
const AUTH_OUTCOME_CODES: ReadonlySet<string> = new Set(['auth_failed', 'certificate']);
const REFUSED_PREFIX = 'refused-';
/** At most one summary log line per drop reason per this many ms. */
export const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Per-source limits on punted IKE datagrams. A legitimate peer sends a few
 * datagrams per exchange (IKE_AUTH with certificates: about ten fragments,
 * plus retransmissions), so 32 at once and 16 per second leave it untouched.
 */
export const IKE_RATE_LIMIT: RateLimiterOptions = { capacity: 4096, ratePerSec: 16, burst: 32, probes: 8 };

export interface VpnManagerOptions {
  /** Monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
  /** Where secrets come from (default: process.env and the file system). */
  readonly secrets?: SecretSources;
  /** Per-source token buckets (default IKE_RATE_LIMIT, random seed). */
  readonly rateLimit?: RateLimiterOptions;
}

/** Session config overrides per connection (tests: short timers). */
export type SessionOverrides = (conn: VpnConnection) => Partial<IkeSessionConfig>;

interface Entry {
  readonly session: IkeSession;
  readonly info: TunnelInfo;
  readonly localU32: number;
  readonly peerU32: number;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  /** Its session continues SAs saved by the previous process (start() does not start it). */
  restored: boolean;
}

/** One tunnel's IKE session as the restart state file keeps it. */
export interface SavedTunnel {
  readonly connection: string;
  readonly tunnel: number;
  readonly session: unknown;
}

/** A tunnel whose session was not saved (it is negotiated again), and why. */
export interface UnsavedTunnel {
  readonly connection: string;
  readonly tunnel: number;
  readonly reason: string;
}

/**
 * A reload prepared by VpnManager.prepare(): every secret of the new
 * configuration was read and checked. Nothing changed yet.
 */
export interface VpnReload {
  /** Connections only in the new configuration: apply() does not build them; the daemon starts them. */
  readonly added: readonly string[];
  /** Connections only in the running configuration: apply() leaves them running; the daemon stops them. */
  readonly removed: readonly string[];
  /**
   * Connections in both whose settings other than secrets differ (role,
   * networks, tunnels, proposals, lifetimes): apply() only swaps their
   * secrets; the rest needs the daemon to rebuild them.
   */
  readonly changed: readonly string[];
  /** Connections in both whose secret material (PSK, certificate, key, CA) differs: apply() swaps it in. */
  readonly credentials: readonly string[];
  /**
   * Swaps the new credentials into the running sessions: the next IKE_AUTH
   * of each tunnel (re-establishment, or the peer connecting) uses them; live
   * SAs and their rekeys continue untouched. Call at most once.
   */
  apply(): void;
}

export class ConfigSecretError extends Error {}

const DEFAULT_SECRETS: SecretSources = { env: process.env, readFile: (p) => readFileSync(p, 'utf8') };

/**
 * Reads a connection's authentication material, with a digest of the secret
 * inputs (to tell whether a reload changes them; kept in memory only).
 * Throws ConfigSecretError with a message that names no secret.
 */
function loadAuth(conn: VpnConnection, sources: SecretSources): { auth: IkeAuthConfig; fingerprint: string } {
  const h: Hash = createHash('sha256');
  const tap: SecretSources = {
    env: sources.env,
    readFile: (p) => {
      const text = sources.readFile(p);
      h.update(`file:${p}\0${text}\0`);
      return text;
    },
  };
  let auth: IkeAuthConfig;
  try {
    auth = vpnAuthFromContract(conn.auth, tap);
  } catch (e) {
    throw new ConfigSecretError(`vpn connection ${conn.name}: ${(e as Error).message}`);
  }
  if (auth.kind === 'psk') h.update('psk:').update(auth.psk);
  return { auth, fingerprint: h.digest('hex') };
}

export { tunnelLocal };

/** A connection's settings apart from where its secrets come from (reload comparison). */
function settingsKey(conn: VpnConnection): string {
  const { auth: _auth, ...rest } = conn;
  return JSON.stringify(rest);
}

export class VpnManager {
  private readonly entries: Entry[] = [];
  /** (local, peer) pairs of `entries`, same index: the unknown-peer check scans these, allocation-free. */
  private pairs = new Uint32Array(0);
  readonly events: IkeEventCounts = {};
  /** Dropped punted datagrams by IkeDrop (vpcd_ike_datagrams_dropped_total{reason}, names in IKE_DROP_REASONS). */
  readonly dropped = new Float64Array(IKE_DROP_REASONS.length);
  private readonly dropLoggedAt = new Float64Array(IKE_DROP_REASONS.length).fill(-Infinity);
  private readonly dropLoggedCount = new Float64Array(IKE_DROP_REASONS.length);
  private readonly limiter: RateLimiter;
  private readonly clock: () => number;
  private readonly secrets: SecretSources;
  /** Per connection: digest of the secret inputs in force, and its settings. */
  private readonly running = new Map<string, { fingerprint: string; settings: string }>();
  private stopped = false;

  constructor(private readonly cfg: VpcConfig, private readonly log: Logger, private readonly hooks: VpnHooks,
    private readonly overrides: SessionOverrides = () => ({}), opts: VpnManagerOptions = {}) {
    this.clock = opts.clock ?? (() => performance.now());
    this.secrets = opts.secrets ?? DEFAULT_SECRETS;
    this.limiter = new RateLimiter(opts.rateLimit ?? IKE_RATE_LIMIT);
  }

  /** Builds every tunnel's session. Throws ConfigSecretError when secrets are missing. */
  build(): void {
    for (const conn of this.cfg.vpnConnections.values()) {
      const { auth, fingerprint } = loadAuth(conn, this.secrets);
      conn.tunnels.forEach((t, i) => {
        const sc = this.sessionConfig(this.cfg, conn, i, auth);
        const session = conn.role === 'cgw' ? new IkeInitiator(sc) : new IkeResponder(sc);
        const info: TunnelInfo = { connection: conn.name, tunnel: i, role: conn.role, local: sc.localAddr, peer: t.peer, state: 'down', upSinceMs: 0, lastSetupMs: 0, connectStartedMs: 0 };
        this.entries.push({ session, info, localU32: ipToU32(sc.localAddr), peerU32: ipToU32(t.peer), timer: undefined, timerAt: Infinity, restored: false });
      });
      this.running.set(conn.name, { fingerprint, settings: settingsKey(conn) });
    }
    this.pairs = new Uint32Array(this.entries.length * 2);
    this.entries.forEach((e, i) => {
      this.pairs[2 * i] = e.localU32;
      this.pairs[2 * i + 1] = e.peerU32;
    });
  }

  /** Digest of every connection's settings and secret inputs: a restart continues SAs only under the same ones. */
  identity(): string {
    const h = createHash('sha256');
    for (const [name, r] of this.running) h.update(`${name}\0${r.settings}\0${r.fingerprint}\0`);
    return h.digest('hex');
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

  /** Dropped datagrams by reason name (IKE_DROP_REASONS), for metrics. */
  dropCounts(): Record<string, number> {
    const r: Record<string, number> = {};
    IKE_DROP_REASONS.forEach((n, i) => {
      r[n] = this.dropped[i];
    });
    return r;
  }

  /** Starts every session that restore() did not already bring back. */
  start(): void {
    const now = this.clock();
    for (const e of this.entries) {
      if (e.restored) continue;
      e.info.connectStartedMs = now;
      this.apply(e, e.session.start(now));
    }
  }

  /**
   * Restart: every tunnel's session state at the clock's now, for the state
   * file, and the tunnels whose state cannot be saved (no established IKE
   * SA, an exchange in flight) with the reason.
   */
  saveState(): { tunnels: SavedTunnel[]; unsaved: UnsavedTunnel[] } {
    const now = this.clock();
    const tunnels: SavedTunnel[] = [];
    const unsaved: UnsavedTunnel[] = [];
    for (const e of this.entries) {
      const r = e.session.save(now);
      const id = { connection: e.info.connection, tunnel: e.info.tunnel };
      if ('saved' in r) tunnels.push({ ...id, session: r.saved });
      else unsaved.push({ ...id, reason: r.reason });
    }
    return { tunnels, unsaved };
  }

  /**
   * Restart, before start(): each saved tunnel's session continues its SAs
   * (`baseMs`: the clock's instant the save maps to). `accept` sees a
   * tunnel's CHILD_SAs first and throws to refuse it. The CHILD_SAs go to
   * the data plane (installSa) and the tunnel up; a tunnel that is refused,
   * or that the file does not have, is negotiated as at any start. Logs one
   * line per tunnel. Returns how many tunnels were restored.
   */
  restore(saved: readonly SavedTunnel[], baseMs: number, accept: (children: readonly ChildSa[]) => void): number {
    let n = 0;
    for (const t of saved) {
      const e = this.entries.find((x) => x.info.connection === t.connection && x.info.tunnel === t.tunnel);
      const where = { connection: t.connection, tunnel: t.tunnel };
      if (!e || e.restored) {
        this.log.warn({ event: 'ike-restore-refused', ...where, reason: e ? 'saved twice' : 'no such tunnel' }, 'saved IKE state not restored: no such tunnel');
        continue;
      }
      let r: { children: ChildSa[]; actions: IkeAction[] };
      try {
        r = e.session.restore(t.session, baseMs, accept);
      } catch (err) {
        this.count('ike_restore_refused');
        this.log.warn({ event: 'ike-restore-refused', ...where, reason: (err as Error).message }, 'saved IKE state not restored: the tunnel is negotiated again');
        continue;
      }
      e.restored = true;
      for (const c of r.children) this.hooks.installSa(c);
      const info = e.session.ikeSaInfo;
      this.count('ike_sa_restored');
      this.log.info({ event: 'ike-sa-restored', ...where, spiI: info?.spiI, spiR: info?.spiR,
        children: r.children.map((c) => ({ spiIn: hex(c.spiIn), spiOut: hex(c.spiOut) })) }, 'IKE SA and CHILD_SAs restored from the state file');
      this.apply(e, r.actions);
      n++;
    }
    return n;
  }

  /**
   * A punted IKE datagram (UDP payload, non-ESP marker included on 4500),
   * addresses as host-order u32. Rate-limited per source before anything
   * parses it; drops are counted, never logged one by one.
   */
  onPunt(localAddr: number, localPort: number, fromAddr: number, fromPort: number, bytes: Uint8Array): void {
    if (this.stopped) return;
    const now = this.clock();
    const e = this.admit(localAddr, fromAddr, now);
    if (e) this.deliver(e, { addr: u32ToIp(fromAddr), port: fromPort }, localPort, bytes, now, fromAddr);
  }

  /** An IKE datagram for one of our addresses (text addresses; see onPunt). */
  onDatagram(localAddr: string, localPort: number, from: UdpEndpoint, bytes: Uint8Array): void {
    if (this.stopped) return;
    const now = this.clock();
    let local: number;
    let src: number;
    try {
      local = ipToU32(localAddr);
      src = ipToU32(from.addr);
    } catch {
      this.drop(IkeDrop.UnknownPeer, now, 0, 'not an IPv4 address');
      return;
    }
    const e = this.admit(local, src, now);
    if (e) this.deliver(e, from, localPort, bytes, now, src);
  }

  /**
   * Prepares a reload: reads every connection's secrets from `cfg` and checks
   * them against the running tunnels (PSK length, certificate identity).
   * Changes nothing. Throws ConfigSecretError naming the connection and what
   * is wrong (never the secret).
   */
  prepare(cfg: VpcConfig): VpnReload {
    const added: string[] = [];
    const changed: string[] = [];
    const credentials: string[] = [];
    const swaps: { session: IkeSession; prepared: ResolvedIkeConfig }[] = [];
    const fingerprints = new Map<string, { fingerprint: string; settings: string }>();
    for (const conn of cfg.vpnConnections.values()) {
      const { auth, fingerprint } = loadAuth(conn, this.secrets);
      const settings = settingsKey(conn);
      const cur = this.running.get(conn.name);
      if (!cur) {
        added.push(conn.name);
        conn.tunnels.forEach((_t, i) => {
          try {
            resolveConfig(this.sessionConfig(cfg, conn, i, auth), conn.role === 'cgw' ? 'initiator' : 'responder');
          } catch (e) {
            throw e instanceof ConfigSecretError ? e : new ConfigSecretError(`vpn connection ${conn.name} tunnel ${i}: ${(e as Error).message}`);
          }
        });
        continue;
      }
      if (settings !== cur.settings) changed.push(conn.name);
      if (fingerprint === cur.fingerprint) continue;
      credentials.push(conn.name);
      fingerprints.set(conn.name, { fingerprint, settings: cur.settings });
      for (const e of this.entries) {
        if (e.info.connection !== conn.name) continue;
        try {
          swaps.push({ session: e.session, prepared: e.session.prepareAuth(auth) });
        } catch (err) {
          throw new ConfigSecretError(`vpn connection ${conn.name} tunnel ${e.info.tunnel}: ${(err as Error).message}`);
        }
      }
    }
    const removed = [...this.running.keys()].filter((n) => !cfg.vpnConnections.has(n));
    let applied = false;
    return {
      added, removed, changed, credentials,
      apply: () => {
        if (applied) return;
        applied = true;
        for (const { session, prepared } of swaps) session.applyAuth(prepared);
        for (const [name, fp] of fingerprints) this.running.set(name, fp);
        if (credentials.length) {
          this.log.info({ event: 'vpn-credentials-reloaded', connections: credentials }, 'VPN credentials replaced: used from the next IKE_AUTH; live SAs continue');
        }
      },
    };
  }

  /** ESP arrived on a tunnel: the peer is alive (DPD need not ask). */
  notifyActivity(connection: string, tunnel: number): void {
    const e = this.entries.find((x) => x.info.connection === connection && x.info.tunnel === tunnel);
    if (e) e.session.notifyActivity(this.clock());
  }

  /** For tests and operators: start a CHILD_SA / IKE_SA rekey now. */
  rekeyChild(connection: string, tunnel: number): void {
    const e = this.entries.find((x) => x.info.connection === connection && x.info.tunnel === tunnel);
    if (e) this.apply(e, e.session.rekeyChild(this.clock()));
  }

  /**
   * Stops every session: DELETE notifications for its SAs, except the
   * tunnels in `detached` (`connection#tunnel`): their state was saved for
   * the next process, which continues them, so the peer must keep them.
   */
  async stop(detached: ReadonlySet<string> = new Set()): Promise<void> {
    if (this.stopped) return;
    const now = this.clock();
    for (const e of this.entries) {
      if (e.timer) clearTimeout(e.timer);
      if (detached.has(`${e.info.connection}#${e.info.tunnel}`)) continue;
      try {
        this.apply(e, e.session.stop(now));
      } catch {
        // best effort: DELETE notifications
      }
    }
    this.stopped = true;
  }

  private sessionConfig(cfg: VpcConfig, conn: VpnConnection, i: number, auth: IkeAuthConfig): IkeSessionConfig {
    const local = tunnelLocal(cfg, conn, i);
    if (local === undefined) throw new ConfigSecretError(`vpn connection ${conn.name} tunnel ${i}: no local address (tunnels[].local or customerGateway.wan.ip)`);
    return sessionConfigFromVpn(conn, i, local, { auth }, {
      forceEncap: true,
      ...(conn.allowShortLifetimes ? { rekeyMarginSec: Math.max(2, Math.min(270, Math.floor(conn.esp.lifetime / 3))) } : {}),
      ...this.overrides(conn),
    });
  }

  /** Rate limit, then the tunnel for (local, source); counts the drop when there is none. Allocation-free. */
  private admit(localAddr: number, fromAddr: number, now: number): Entry | undefined {
    if (!this.limiter.allow(fromAddr, now)) {
      this.drop(IkeDrop.RateLimited, now, fromAddr, undefined);
      return undefined;
    }
    const pairs = this.pairs;
    const local = localAddr >>> 0;
    const from = fromAddr >>> 0;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] === local && pairs[i + 1] === from) return this.entries[i >> 1];
    }
    this.count('unknown_peer');
    this.drop(IkeDrop.UnknownPeer, now, fromAddr, undefined, local);
    return undefined;
  }

  private deliver(e: Entry, from: UdpEndpoint, localPort: number, bytes: Uint8Array, now: number, fromAddr: number): void {
    let actions: IkeAction[];
    try {
      actions = e.session.onDatagram(bytes, from, now, localPort);
    } catch (err) {
      // The session is meant never to throw on input; if it does, the daemon keeps running.
      this.count('session_error');
      this.drop(IkeDrop.SessionError, now, fromAddr, `${e.info.connection}#${e.info.tunnel}: ${(err as Error).message}`);
      return;
    }
    this.apply(e, actions, fromAddr, now);
  }

  /** Counts a dropped datagram; logs a summary at most once per reason per DROP_LOG_INTERVAL_MS. */
  private drop(reason: IkeDrop, now: number, fromAddr: number, detail: string | undefined, localAddr?: number): void {
    this.dropped[reason]++;
    if (now - this.dropLoggedAt[reason] < DROP_LOG_INTERVAL_MS) return;
    const n = this.dropped[reason] - this.dropLoggedCount[reason];
    const since = this.dropLoggedAt[reason];
    this.dropLoggedAt[reason] = now;
    this.dropLoggedCount[reason] = this.dropped[reason];
    const name = IKE_DROP_REASONS[reason];
    const fields = {
      event: 'ike-datagrams-dropped', reason: name, count: n, total: this.dropped[reason], lastSource: u32ToIp(fromAddr),
      ...(localAddr !== undefined ? { lastLocal: u32ToIp(localAddr) } : {}),
      ...(detail !== undefined ? { last: detail } : {}),
    };
    const msg = `${n} IKE datagram(s) dropped (${name})${Number.isFinite(since) ? ` in the last ${Math.round((now - since) / 1000)} s` : ''}; next summary in ${DROP_LOG_INTERVAL_MS / 1000} s at the earliest`;
    if (reason === IkeDrop.SessionError) this.log.error(fields, msg);
    else this.log.warn(fields, msg);
  }

  private count(event: string): void {
    this.events[event] = (this.events[event] ?? 0) + 1;
  }

  /**
   * Carries out a session's actions. For actions caused by a datagram from
   * `fromAddr`, the session's refusals (`refused-*`, `internal-error` logs;
   * failed authentication excepted) become one counted drop instead of a
   * log line each.
   */
  private apply(e: Entry, actions: readonly IkeAction[], fromAddr?: number, now = 0): void {
    const info = e.info;
    let dropCounted = false;
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (!this.stopped) this.hooks.send(a.src, a.dst, a.bytes);
          break;
        case 'install-child-sa': {
          this.hooks.installSa(a.sa);
          this.count('child_sa_installed');
          const t = this.clock();
          if (info.state !== 'up') info.lastSetupMs = t - info.connectStartedMs;
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
          if (a.state === 'connecting' && before !== 'connecting') info.connectStartedMs = this.clock();
          if (a.state === 'up' && before !== 'up') info.upSinceMs = this.clock();
          if ((a.state === 'up') !== (before === 'up')) this.hooks.tunnelState(info.connection, info.tunnel, a.state === 'up');
          this.count(`tunnel_${a.state}`);
          this.log.info({ event: 'tunnel-state', connection: info.connection, tunnel: info.tunnel, state: a.state, reason: a.reason }, `tunnel ${a.state}`);
          break;
        }
        case 'log': {
          this.count(a.event.replaceAll('-', '_'));
          const reason = fromAddr === undefined ? undefined : refusalReason(a.event);
          if (reason !== undefined && fromAddr !== undefined) {
            if (!dropCounted) this.drop(reason, now, fromAddr, a.msg);
            dropCounted = true;
            break;
          }
          this.log[a.level]({ event: a.event, connection: info.connection, tunnel: info.tunnel }, a.msg);
          break;
        }
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
    const delay = Math.max(0, Math.min(at - this.clock(), 2 ** 31 - 1));
    e.timer = setTimeout(() => {
      e.timer = undefined;
      e.timerAt = Infinity;
      this.apply(e, e.session.onTimer(this.clock()));
    }, delay);
  }
}

/** The drop reason for a session log event that reports a refusal, else undefined. */
function refusalReason(event: string): IkeDrop | undefined {
  if (event === 'internal-error') return IkeDrop.SessionError;
  if (!event.startsWith(REFUSED_PREFIX)) return undefined;
  const code = event.slice(REFUSED_PREFIX.length);
  if (AUTH_OUTCOME_CODES.has(code)) return undefined;
  return MALFORMED_CODES.has(code) ? IkeDrop.Malformed : IkeDrop.Refused;
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
