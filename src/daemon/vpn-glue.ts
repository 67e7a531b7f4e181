/**
 * The daemon's side of the site-to-site VPN: builds the data-plane path and
 * the IKE manager, hands IKE datagrams punted by the data plane to their
 * sessions, sends the sessions' datagrams back out through the data plane
 * (between batches), and tells sessions about ESP activity (DPD). Every entry
 * from the event loop is contained by the fault guard.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { VpcConfig } from '../control/config-types.js';
import type { NativeIoEngine } from '../io/native.js';
import { ipToU32, u32ToIp } from '../wire/addr.js';
import { DropReason, type PacketBatch } from '../pipeline/batch.js';
import type { Counters } from '../pipeline/counters.js';
import type { Dataplane } from '../pipeline/dataplane.js';
import { createTunnelCrypto, rekeyOnPacketLimits, type BoundTunnelCrypto } from '../vpn/crypto.js';
import { VpnManager, type SavedTunnel, type UnsavedTunnel } from '../vpn/manager.js';
import type { SavedEspSa } from '../ipsec/sa-table.js';
import { SavedStateError } from '../lib/saved-fields.js';
import { VpnCounter, VpnPath } from '../vpn/vpn-path.js';
import type { FaultGuard } from './guard.js';

interface Datagram {
  readonly src: number;
  readonly sport: number;
  readonly dst: number;
  readonly dport: number;
  readonly bytes: Uint8Array;
}

/** IKE datagrams waiting to be sent, at most (a session that floods is cut off, not the daemon). */
const MAX_OUTBOX = 4096;

export class VpnGlue {
  manager: VpnManager | undefined;
  private readonly outbox: Datagram[] = [];
  private outboxArmed = false;
  private lastEspIn: Float64Array | undefined;
  private crypto: BoundTunnelCrypto | undefined;
  private stopping = false;

  constructor(private readonly dp: Dataplane, private readonly batch: PacketBatch, private readonly counters: Counters,
    private readonly engine: () => NativeIoEngine | undefined, private readonly log: Logger, private readonly guard: FaultGuard) {}

  /** Builds the path and the sessions (not started yet: start()). Throws ConfigSecretError when secrets are missing. */
  build(cfg: VpcConfig): void {
    if (cfg.vpnConnections.size === 0) return;
    const path = new VpnPath(cfg);
    const crypto = createTunnelCrypto(path);
    path.crypto = crypto;
    this.crypto = crypto;
    const mgr = new VpnManager(cfg, this.log, {
      send: (src, dst, bytes) => {
        if (this.outbox.length >= MAX_OUTBOX) {
          this.counters.drops[DropReason.TxError]++;
          return;
        }
        this.outbox.push({ src: ipToU32(src.addr), sport: src.port, dst: ipToU32(dst.addr), dport: dst.port, bytes });
        if (!this.outboxArmed) {
          this.outboxArmed = true;
          setImmediate(() => this.guard.run('ike-send', () => this.flushOutbox()));
        }
      },
      installSa: (sa) => {
        const slot = path.slotOf(sa.connection, sa.tunnel);
        if (slot < 0) return;
        try {
          crypto.install(slot, sa);
        } catch (e) {
          // An SA the ESP engine cannot take (table full, unsupported transform) must not stop the control plane.
          this.log.error({ event: 'esp-install-failed', connection: sa.connection, tunnel: sa.tunnel, error: (e as Error).message }, 'cannot install CHILD_SA in the data plane');
        }
      },
      removeSa: (_id, spiIn) => crypto.remove(spiIn),
      tunnelState: (connection, tunnel, up) => {
        const slot = path.slotOf(connection, tunnel);
        if (slot >= 0) path.tunUp[slot] = up ? 1 : 0;
      },
    });
    mgr.build();
    this.dp.vpn = path;
    this.manager = mgr;
  }

  /** Starts the sessions (those restore() brought back go on as they are). */
  start(): void {
    this.manager?.start();
  }

  /**
   * Restart: the IKE sessions (with their CHILD_SAs and keys) and the ESP
   * SAs' sequence numbers (advanced by `seqMargin`) and replay windows.
   */
  saveState(seqMargin: number): { tunnels: SavedTunnel[]; unsaved: UnsavedTunnel[]; esp: SavedEspSa[] } {
    const mgr = this.manager, crypto = this.crypto;
    if (!mgr || !crypto) return { tunnels: [], unsaved: [], esp: [] };
    return { ...mgr.saveState(), esp: crypto.saveState(seqMargin) };
  }

  /**
   * Restart, between build() and start(): the saved sessions continue; each
   * tunnel's CHILD_SAs are installed again with their saved sequence numbers
   * and replay windows. A tunnel any of whose CHILD_SAs has no saved ESP
   * state is refused (a fresh sequence counter under an old key would
   * repeat GCM nonces) and negotiated again. Returns the tunnels restored.
   */
  restore(tunnels: readonly SavedTunnel[], esp: readonly SavedEspSa[], baseMs: number): number {
    const mgr = this.manager, crypto = this.crypto;
    if (!mgr || !crypto) return 0;
    const bySpi = new Map(esp.map((e) => [e.spiIn, e]));
    const restored: SavedEspSa[] = [];
    const n = mgr.restore(tunnels, baseMs, (children) => {
      for (const c of children) {
        const e = bySpi.get(c.spiIn >>> 0);
        if (!e || e.spiOut !== c.spiOut >>> 0 || e.algorithm !== c.algorithm) throw new SavedStateError(`no saved ESP state for CHILD_SA ${(c.spiIn >>> 0).toString(16)}`);
      }
      for (const c of children) restored.push(bySpi.get(c.spiIn >>> 0)!);
    });
    for (const e of restored) {
      try {
        crypto.loadState(e);
      } catch (err) {
        // Not installed (logged by installSa) or not the same SA: it sends nothing, so no number repeats.
        this.log.error({ event: 'esp-restore-failed', spiIn: (e.spiIn >>> 0).toString(16), error: (err as Error).message }, 'saved ESP state not applied');
        crypto.remove(e.spiIn);
      }
    }
    return n;
  }

  /** Tunnels that received ESP since the last tick are alive: tell their IKE sessions (DPD). */
  liveness(): void {
    const p = this.dp.vpn, mgr = this.manager;
    if (!p || !mgr) return;
    // SAs at their packet limits (soft: rekey now; hard: no longer sealing) go to IKE.
    if (this.crypto) rekeyOnPacketLimits(this.crypto, p, mgr, this.log);
    const last = (this.lastEspIn ??= new Float64Array(p.tunConn.length));
    for (let t = 0; t < p.tunConn.length; t++) {
      const n = p.counters[t * 4 + VpnCounter.PacketsIn]!;
      if (n !== last[t]) {
        last[t] = n;
        mgr.notifyActivity(p.connNames[p.tunConn[t]!]!, p.tunIndex[t]!);
      }
    }
  }

  /** IKE datagrams received by the data plane go to their sessions; one that fails does not stop the others. */
  drainPunts(): void {
    const punts = this.dp.punts;
    const mgr = this.manager;
    try {
      for (const p of punts) {
        try {
          // Rate-limited per source before any parsing or formatting (VpnManager.onPunt).
          mgr?.onPunt(p.local >>> 0, p.localPort, p.from >>> 0, p.fromPort, new Uint8Array(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length));
        } catch (e) {
          this.guard.fail('ike-datagram', e);
        }
      }
    } finally {
      punts.length = 0;
    }
  }

  /** Sends queued control datagrams (IKE) through the uplink, between batches. */
  flushOutbox(): void {
    this.outboxArmed = false;
    const engine = this.engine();
    if (!engine || this.stopping) {
      this.outbox.length = 0;
      return;
    }
    const b = this.batch;
    try {
      while (this.outbox.length > 0) {
        b.reset();
        const now = performance.now();
        let k = 0;
        while (k < this.outbox.length && b.scratchUsed < b.scratchSlots - 2) {
          const d = this.outbox[k++]!;
          if (!this.dp.emitUdp(b, d.src, d.sport, d.dst, d.dport, d.bytes, now)) this.counters.drops[DropReason.TxError]++;
        }
        this.outbox.splice(0, k);
        if (b.txCount > 0) engine.tx(b.txCount);
      }
    } finally {
      // Whatever happened, the batch is clean for the next rx and nothing half-built is sent.
      this.outbox.length = 0;
      b.reset();
    }
  }

  /** Sends DELETE notifications (they go out before the sockets close), except for the `detached` tunnels (saved for the next process). */
  async stop(detached?: ReadonlySet<string>): Promise<void> {
    if (this.manager) {
      await this.manager.stop(detached);
      this.guard.run('ike-send', () => this.flushOutbox());
    }
    this.stopping = true;
  }
}
