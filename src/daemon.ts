/**
 * `vpcd run CONFIG`: the data-plane daemon.
 *
 * Owns the native I/O engine, the compiled snapshot and the router. The batch
 * loop runs on the event loop: uv_poll wakes it when any owned interface is
 * readable; each wake drains up to MAX_BATCHES_PER_WAKE batches, then yields
 * so that timers, signals, /metrics and IKE get their turn.
 *
 * SIGHUP reloads: the file is validated and compiled off to the side; only a
 * snapshot that compiled and whose interfaces could all be opened replaces the
 * running one, between two batches. SIGTERM/SIGINT close every socket (the
 * kernel drops our promiscuous memberships with them) and exit 0.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { loadConfig } from './control/config.js';
import { ConfigError, type VpcConfig } from './control/config-types.js';
import { Topology } from './control/topology.js';
import { PacketBatch, DROP_REASON_LABELS } from './pipeline/batch.js';
import { Counters } from './pipeline/counters.js';
import { Dataplane } from './pipeline/dataplane.js';
import { loadAddon, netnsPath, type NativeIoEngine, type IoError } from './io/native.js';
import { MetricsServer, newRegistry, pulledCounter, pulledGauge } from './telemetry/metrics.js';

/** Batches per wake-up before yielding to the event loop. */
const MAX_BATCHES_PER_WAKE = 64;

export class RuntimeError extends Error {}

interface AttachedPort {
  readonly id: number;
  readonly ifname: string;
  readonly vnet: boolean;
}

export class Daemon {
  private cfg: VpcConfig;
  private topo: Topology;
  private epoch = 1;
  readonly counters = new Counters();
  readonly batch: PacketBatch;
  readonly dp: Dataplane;
  private engine: NativeIoEngine | undefined;
  /** Open ports by interface name. */
  private readonly ports = new Map<string, AttachedPort>();
  private metrics: MetricsServer | undefined;
  private stopping = false;
  private readonly startedAt = Date.now();
  reloads = 0;
  reloadFailures = 0;

  constructor(private readonly configPath: string, private readonly log: Logger) {
    this.cfg = loadConfig(configPath);
    this.topo = new Topology(this.cfg, this.epoch);
    this.batch = new PacketBatch(this.cfg.dataplane.batch);
    this.dp = new Dataplane(this.topo, this.counters);
  }

  /** Opens every interface and starts the loop and the metrics endpoint. Throws RuntimeError on failure. */
  async start(): Promise<void> {
    const { IoEngine } = loadAddon();
    const b = this.batch;
    this.engine = new IoEngine(b.arenaBuffer, b.slotSize, b.slots, b.rxPort, b.rxOff, b.rxLen, b.txPort, b.txOff, b.txLen);
    try {
      this.attachAll(this.cfg, this.topo);
    } catch (e) {
      this.engine.close();
      throw new RuntimeError(ioMessage(e));
    }
    const registry = newRegistry();
    this.registerMetrics(registry);
    this.metrics = new MetricsServer(registry, () => ({
      ok: !this.stopping,
      detail: { epoch: this.epoch, ports: this.ports.size, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) },
    }));
    try {
      await this.metrics.listen(this.cfg.metrics.listen);
    } catch (e) {
      this.engine.close();
      throw new RuntimeError(`metrics.listen ${this.cfg.metrics.listen}: ${(e as Error).message}`);
    }
    this.engine.start(() => this.onReadable());
    this.log.info({ event: 'started', config: this.configPath, vpc: this.cfg.vpc.name, ports: [...this.ports.keys()],
      netns: this.cfg.dataplane.netns ?? null, metrics: this.cfg.metrics.listen, batch: b.slots }, 'vpcd running');
  }

  /** Drains readable ports: rx a batch, route it, tx it; bounded per wake-up. */
  private onReadable(): void {
    const engine = this.engine;
    if (engine === undefined || this.stopping) return;
    const b = this.batch;
    const dp = this.dp;
    for (let k = 0; k < MAX_BATCHES_PER_WAKE; k++) {
      const n = engine.rx(b.slots);
      if (n === 0) break;
      b.count = n;
      dp.processBatch(b, performance.now());
      if (b.txCount > 0) {
        const sent = engine.tx(b.txCount);
        if (sent < b.txCount) this.counters.drops[14] += b.txCount - sent; // DropReason.TxError
      }
      b.reset();
      if (n < b.slots) break;
    }
  }

  /** Opens the ports a snapshot needs and attaches them in the router. */
  private attachAll(cfg: VpcConfig, topo: Topology): void {
    const engine = this.engine!;
    const ns = netnsPath(cfg.dataplane.netns);
    const wanted = new Set(topo.instanceIfNames);
    // Open what is new first: if anything fails, nothing running is disturbed.
    const opened: AttachedPort[] = [];
    try {
      for (const ifname of wanted) {
        if (this.ports.has(ifname)) continue;
        const id = engine.addPacketPort(ifname, ns, true);
        opened.push({ id, ifname, vnet: true });
      }
    } catch (e) {
      for (const p of opened) engine.closePort(p.id);
      throw e;
    }
    for (const p of opened) this.ports.set(p.ifname, p);
    for (const [ifname, p] of this.ports) {
      if (!wanted.has(ifname)) {
        engine.closePort(p.id);
        this.ports.delete(ifname);
        this.counters.resetPort(p.id);
      }
    }
    this.dp.setTopology(topo);
    topo.instanceIfNames.forEach((ifname, inst) => {
      const p = this.ports.get(ifname)!;
      this.dp.attachInstance(p.id, inst, p.vnet);
    });
  }

  /** SIGHUP: validate, compile, swap. A bad file or interface keeps the running snapshot. */
  reload(): boolean {
    let cfg: VpcConfig;
    try {
      cfg = loadConfig(this.configPath);
    } catch (e) {
      this.reloadFailures++;
      const issues = e instanceof ConfigError ? e.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`) : [String((e as Error).message)];
      this.log.error({ event: 'reload-rejected', issues }, 'reload rejected: keeping the running configuration');
      return false;
    }
    if ((cfg.dataplane.netns ?? '') !== (this.cfg.dataplane.netns ?? '') || cfg.dataplane.batch !== this.cfg.dataplane.batch) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: ['dataplane.netns and dataplane.batch only change on restart'] },
        'reload rejected: keeping the running configuration');
      return false;
    }
    const topo = new Topology(cfg, this.epoch + 1);
    try {
      this.attachAll(cfg, topo);
    } catch (e) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: [ioMessage(e)] }, 'reload rejected: keeping the running configuration');
      // attachAll only changed state after every open succeeded; re-attach the old snapshot's ports to be sure.
      return false;
    }
    this.epoch++;
    this.cfg = cfg;
    this.topo = topo;
    this.reloads++;
    this.log.info({ event: 'reloaded', epoch: this.epoch, instances: topo.instanceNames.length }, 'configuration reloaded');
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.engine?.stop();
    this.engine?.close();
    await this.metrics?.close();
    this.log.info({ event: 'stopped', frames: this.counters.frames, batches: this.counters.batches }, 'vpcd stopped');
  }

  private registerMetrics(registry: ReturnType<typeof newRegistry>): void {
    const portsByName = () => [...this.ports.values()];
    pulledCounter(registry, 'vpcd_packets_total', 'Frames seen on interfaces vpcd owns.', ['interface', 'direction'], (emit) => {
      for (const p of portsByName()) {
        emit({ interface: p.ifname, direction: 'rx' }, this.counters.port[p.id * 4]);
        emit({ interface: p.ifname, direction: 'tx' }, this.counters.port[p.id * 4 + 2]);
      }
    });
    pulledCounter(registry, 'vpcd_bytes_total', 'Bytes seen on interfaces vpcd owns (Ethernet frames, with the virtio-net header).', ['interface', 'direction'], (emit) => {
      for (const p of portsByName()) {
        emit({ interface: p.ifname, direction: 'rx' }, this.counters.port[p.id * 4 + 1]);
        emit({ interface: p.ifname, direction: 'tx' }, this.counters.port[p.id * 4 + 3]);
      }
    });
    pulledCounter(registry, 'vpcd_drops_total', 'Frames dropped, by reason.', ['reason'], (emit) => {
      for (let r = 1; r < DROP_REASON_LABELS.length; r++) emit({ reason: DROP_REASON_LABELS[r]! }, this.counters.drops[r]);
    });
    pulledCounter(registry, 'vpcd_batches_total', 'Batches processed by the data plane.', [], (emit) => emit({}, this.counters.batches));
    pulledCounter(registry, 'vpcd_kernel_drops_total', 'Frames the kernel dropped before vpcd read them (socket buffer full).', ['interface'], (emit) => {
      for (const s of this.engine?.stats() ?? []) emit({ interface: s.name }, s.kernelDrops);
    });
    pulledGauge(registry, 'vpcd_config_epoch', 'Epoch of the running configuration snapshot (1 at start, +1 per successful reload).', [], (emit) => emit({}, this.epoch));
    pulledCounter(registry, 'vpcd_config_reloads_total', 'Configuration reloads, by result.', ['result'], (emit) => {
      emit({ result: 'ok' }, this.reloads);
      emit({ result: 'rejected' }, this.reloadFailures);
    });
  }
}

function ioMessage(e: unknown): string {
  const err = e as Partial<IoError> & Error;
  if (err && typeof err.errno === 'number') {
    const hint = err.code === 'ENODEV' ? ' (no such interface: is the lab up? `vpcd lab up CONFIG`)'
      : err.code === 'EPERM' || err.code === 'EACCES' ? ' (vpcd needs root or CAP_NET_RAW + CAP_NET_ADMIN + CAP_SYS_ADMIN for namespaces)'
      : err.code === 'ENOENT' && err.syscall === 'setns' ? ' (no such network namespace)' : '';
    return `${err.message}${hint}`;
  }
  return err?.message ?? String(e);
}
