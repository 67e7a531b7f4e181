/**
 * `vpcd run CONFIG`: the data-plane daemon.
 *
 * Owns the native I/O engine, the compiled snapshot and the router. The batch
 * loop runs on the event loop: uv_poll wakes it when any owned interface is
 * readable; each wake drains up to MAX_BATCHES_PER_WAKE batches, then yields
 * so that timers, signals, /metrics and IKE get their turn.
 *
 * Containment (daemon/guard.ts): a batch, a timer tick, a reload or a scrape
 * that throws is abandoned, counted in vpcd_internal_errors_total{place} and
 * logged at a bounded rate; forwarding goes on. A failed batch's tx queue is
 * dropped (its state is unknown). A watchdog thread (daemon/watchdog.ts)
 * notices a stuck event loop while it is stuck and serves /healthz.
 *
 * SIGHUP reloads by prepare-then-commit (daemon/reload.ts): every section of
 * the new file applies, or the reload is rejected with its reasons and the
 * running configuration stays. SIGUSR1 reopens the flow-log file. SIGTERM /
 * SIGINT save the connection state for the next start (daemon/restart-state.ts:
 * flows, NAT sessions, ESP and IKE SAs), close every socket (the kernel drops
 * our promiscuous memberships with them) and exit 0.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { loadConfig } from './control/config.js';
import { ConfigError, type VpcConfig } from './control/config-types.js';
import type { Topology } from './control/topology.js';
import { compileSnapshot, type CompiledPolicy } from './control/compile.js';
import { PacketBatch, DropReason } from './pipeline/batch.js';
import { Counters } from './pipeline/counters.js';
import { Dataplane } from './pipeline/dataplane.js';
import { SecurityStage } from './conntrack/sg-stage.js';
import { Conntrack } from './conntrack/conntrack.js';
import { flowLogEnis } from './telemetry/flowlog-record.js';
import { FlowLogs, type FlowLogsChange } from './telemetry/flowlogs.js';
import { newRegistry } from './telemetry/metrics.js';
import { ConfigSecretError, type VpnManager, type VpnReload } from './vpn/manager.js';
import { loadAddon, type NativeIoEngine, type IoError, type PortStats } from './io/native.js';
import { Attachments, type AttachPlan } from './daemon/attach.js';
import { Failpoints } from './daemon/failpoints.js';
import { FaultGuard } from './daemon/guard.js';
import { PolicyCounterHistory, registerMetrics, type MetricsSource } from './daemon/metrics.js';
import { ReloadRejected, changedSections, restartOnlyIssues } from './daemon/reload.js';
import { VpnGlue } from './daemon/vpn-glue.js';
import { restoreRestartState, saveRestartState, type RestartParts } from './daemon/restart-state.js';
import { Watchdog, type Listener } from './daemon/watchdog.js';
import { ObserveHub } from './observe/observe-hub.js';
import type { EventNames } from './observe/event-decode.js';
import { compileFilter } from './observe/event-filter.js';
import { ControlSocket } from './daemon/control-socket.js';
import { ControlAnswers } from './daemon/control-answers.js';
import { LiveFeed } from './daemon/live-feed.js';
import { ServicesGlue } from './daemon/services-glue.js';

/** Batches per wake-up before yielding to the event loop. */
const MAX_BATCHES_PER_WAKE = 64;
/** At stop, the last flow-log interval gets this long to reach the disk. */
const STOP_FLUSH_TIMEOUT_MS = 5_000;

export class RuntimeError extends Error {}

/** The part of a reload a VPN manager prepares (VpnManager.prepare(cfg)). */
/** Everything a reload built beside the running state; commit() swaps it in. */
interface ReloadPlan {
  readonly cfg: VpcConfig;
  readonly policy: CompiledPolicy;
  readonly changed: readonly string[];
  flowLogs?: FlowLogsChange;
  listener?: Listener;
  attach?: AttachPlan;
  vpn?: VpnReload | null;
}

export class Daemon implements MetricsSource {
  private cfg: VpcConfig;
  policy: CompiledPolicy;
  private topo: Topology;
  epoch = 1;
  readonly ct: Conntrack;
  readonly security: SecurityStage;
  readonly counters = new Counters();
  readonly batch: PacketBatch;
  readonly dp: Dataplane;
  readonly guard: FaultGuard;
  private readonly failpoints: Failpoints;
  private readonly watchdog: Watchdog;
  private readonly attach: Attachments;
  private readonly vpn: VpnGlue;
  readonly services: ServicesGlue;
  private readonly history = new PolicyCounterHistory();
  /** Observers of the data plane's events (control socket, /live). */
  readonly observe: ObserveHub;
  private readonly control: ControlSocket;
  private readonly live: LiveFeed;
  private names: { epoch: number; names: EventNames } | undefined;
  private engine: NativeIoEngine | undefined;
  private listener: Listener | undefined;
  private flowLogs: FlowLogs | null = null;
  /** Flow logs switched off or replaced whose last writes are still going on. */
  private readonly flowLogsDraining: Promise<void>[] = [];
  private flowLogTimer: NodeJS.Timeout | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  private stopping = false;
  private reloadRunning: Promise<unknown> = Promise.resolve();
  private reloadQueued: Promise<boolean> | undefined;
  reloads = 0;
  reloadFailures = 0;
  /** Frames of batches abandoned after a contained failure. */
  failedBatchFrames = 0;

  constructor(private readonly configPath: string, private readonly log: Logger) {
    this.failpoints = new Failpoints(process.env.VPCD_FAILPOINTS);
    this.cfg = loadConfig(configPath);
    this.policy = compileSnapshot(this.cfg, this.epoch);
    this.topo = this.policy.topology;
    this.batch = new PacketBatch(this.cfg.dataplane.batch);
    this.dp = new Dataplane(this.topo, this.counters);
    this.ct = new Conntrack(this.cfg.conntrack);
    this.ct.setAllowances(allowancesOf(this.cfg, this.topo));
    this.security = new SecurityStage(this.policy, this.ct);
    this.dp.security = this.security;
    this.guard = new FaultGuard(log);
    this.attach = new Attachments(this.dp, this.counters, this.guard);
    this.vpn = new VpnGlue(this.dp, this.batch, this.counters, () => this.engine, log, this.guard);
    this.observe = new ObserveHub(this.dp.events, () => this.eventNames());
    this.observe.watchConntrack(this.ct);
    const answers = new ControlAnswers(this);
    this.control = new ControlSocket(this.cfg.control.socket, this.cfg.control.group, {
      hub: this.observe,
      filter: (spec) => compileFilter(spec, this.cfg),
      answer: (req) => answers.answer(req),
    }, this.guard);
    this.services = new ServicesGlue(configPath, this.cfg, this.epoch, this.dp, this.counters, log, this.guard);
    const registry = newRegistry();
    registerMetrics(registry, this, this.history);
    this.watchdog = new Watchdog(log, this.guard, async () => {
      this.failpoints.timer('metrics-scrape');
      return { body: await registry.metrics(), contentType: registry.contentType };
    });
    this.live = new LiveFeed(this.watchdog, this.observe, this, this.guard);
  }

  /** The running configuration (control answers, the live page). */
  get config(): VpcConfig {
    return this.cfg;
  }

  /** Names for event records, per snapshot. */
  private eventNames(): EventNames {
    if (this.names?.epoch !== this.epoch) {
      const p = this.policy;
      this.names = { epoch: this.epoch, names: { instances: p.instanceNames, nacls: p.naclNames, groups: p.sgNames, natGateways: this.dp.nats.map((n) => n.name) } };
    }
    return this.names.names;
  }

  // ---- MetricsSource
  get vpnManager(): VpnManager | undefined {
    return this.vpn.manager;
  }

  get health(): Float64Array {
    return this.watchdog.health;
  }

  ports(): Iterable<{ readonly id: number; readonly ifname: string }> {
    return this.attach.ports.values();
  }

  portStats(): readonly PortStats[] {
    return this.engine?.stats() ?? [];
  }

  flowLogCounters(): { records: number; skippedPackets: number; lostRecords: number; rotations: number } {
    const f = this.flowLogs, g = this.flowLogTotalsGone;
    return f ? { records: g.records + f.records, skippedPackets: g.skippedPackets + f.skippedPackets, lostRecords: g.lostRecords + f.lostRecords,
      rotations: g.rotations + f.rotations } : g;
  }

  /** Flow-log counts of a FlowLogs that was switched off (counters never go back). */
  private flowLogTotalsGone = { records: 0, skippedPackets: 0, lostRecords: 0, rotations: 0 };

  /** Opens every interface and starts the loop and the metrics endpoint. Throws RuntimeError on failure. */
  async start(): Promise<void> {
    const { IoEngine } = loadAddon();
    const b = this.batch;
    const engine = new IoEngine(b.arenaBuffer, b.slotSize, b.slots, b.rxPort, b.rxOff, b.rxLen, b.txPort, b.txOff, b.txLen);
    this.engine = engine;
    const plan: ReloadPlan = { cfg: this.cfg, policy: this.policy, changed: [] };
    // The VPC services' namespace first (before the watchdog watches the event loop). Without it the daemon
    // still forwards, and traffic to the service addresses is dropped as vpc_service.
    try {
      this.services.setup();
    } catch (e) {
      this.guard.fail('services-start', e);
      this.log.error({ event: 'services-failed', error: (e as Error).message }, 'cannot make the VPC service namespace: metadata, time sync and DNS are not answered');
    }
    try {
      await this.build(plan, undefined);
      this.vpn.build(this.cfg);
      try {
        const warning = await this.control.listen();
        if (warning !== undefined) this.log.warn({ event: 'control-socket-unreachable', socket: this.cfg.control.socket }, warning);
      } catch (e) {
        throw new RuntimeError(`control socket: ${(e as Error).message}`);
      }
    } catch (e) {
      await this.abort(plan);
      await this.control.close();
      engine.close();
      // A start that fails leaves nothing behind: the service namespace and its veth go too.
      await this.services.stop(undefined).catch((err: unknown) => this.guard.fail('services-stop', err));
      await this.watchdog.stop();
      if (e instanceof ReloadRejected) throw new RuntimeError(e.issues.join('; '));
      if (e instanceof ConfigSecretError) throw new RuntimeError(e.message);
      throw e;
    }
    this.apply(plan);
    // Connections saved by the previous process's clean stop continue (before any packet or IKE message).
    this.guard.run('state-restore', () => restoreRestartState(this.restartParts(), this.log));
    this.vpn.start();
    try {
      await this.services.start(engine, this.cfg, this.topo);
    } catch (e) {
      this.guard.fail('services-start', e);
      this.log.error({ event: 'services-failed', error: (e as Error).message }, 'cannot open the VPC service port: metadata, time sync and DNS are not answered');
    }
    engine.start(() => this.onReadable());
    this.startTimers();
    this.installSignals();
    if (this.failpoints.any) this.log.warn({ event: 'failpoints', spec: process.env.VPCD_FAILPOINTS }, 'VPCD_FAILPOINTS is set: faults are injected (tests only)');
    this.live.start();
    this.log.info({ event: 'started', config: this.configPath, control: this.cfg.control.socket, vpc: this.cfg.vpc.name, ports: [...this.attach.ports.keys()],
      netns: this.cfg.dataplane.netns ?? null, metrics: this.listener?.address ?? this.cfg.metrics.listen, batch: b.slots,
      flowLogs: this.flowLogs?.path ?? null }, 'vpcd running');
  }

  private startTimers(): void {
    const g = this.guard, fp = this.failpoints;
    // Idle flows expire on a tick, a bounded number per tick (O(1) each).
    this.timers.push(setInterval(() => {
      const now = performance.now();
      g.run('conntrack-sweep', () => {
        fp.timer('conntrack-sweep');
        const ev = this.dp.events;
        ev.wallMs = Date.now();
        this.ct.sweep(now, 50_000, ev.active ? this.observe.flowEnded : null);
        if (ev.active) this.observe.drain();
      });
      g.run('nat-sweep', () => {
        const observed = this.dp.events.active;
        for (const n of this.dp.nats) n.sweep(now, observed ? this.observe.natEnded : null);
        if (observed) this.observe.drain();
      });
      g.run('vpn-liveness', () => this.vpn.liveness());
    }, 250));
    this.timers.push(setInterval(g.wrap('dx-probe', () => this.dxProbe()), 1000));
    setImmediate(g.wrap('dx-probe', () => this.dxProbe()));
    const report = setInterval(() => g.flushUnlogged(), 1000);
    report.unref();
    this.timers.push(report);
    this.armFlowLogTimer();
  }

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, fn: () => void): void => {
      const h = this.guard.wrap('signal', fn);
      process.on(sig, h);
      this.signalHandlers.push([sig, h]);
    };
    // SIGUSR1: reopen the flow-log file after an external rotation (logrotate without copytruncate).
    on('SIGUSR1', () => {
      const fl = this.flowLogs;
      if (!fl) {
        this.log.info({ event: 'flow-log-reopen', path: null }, 'SIGUSR1: no flow log configured');
        return;
      }
      fl.reopen().then(
        () => this.log.info({ event: 'flow-log-reopened', path: fl.path }, 'flow-log file reopened'),
        (e: unknown) => {
          this.guard.fail('flow-log-reopen', e);
          this.log.error({ event: 'flow-log-reopen-failed', path: fl.path, error: (e as Error).message }, 'cannot reopen the flow-log file: still writing to the old one');
        },
      );
    });
    if (this.failpoints.stallMs > 0) on('SIGUSR2', () => this.failpoints.stall());
    // Backstop for callbacks vpcd does not schedule itself (timers inside the VPN manager, library
    // callbacks): counted and logged like the others instead of ending the process.
    const uncaught = (e: unknown): void => this.guard.fail('uncaught', e);
    process.on('uncaughtException', uncaught);
    process.on('unhandledRejection', uncaught);
    this.processHandlers.push(['uncaughtException', uncaught], ['unhandledRejection', uncaught]);
  }

  private readonly processHandlers: ['uncaughtException' | 'unhandledRejection', (e: unknown) => void][] = [];

  private armFlowLogTimer(): void {
    if (this.flowLogTimer) clearInterval(this.flowLogTimer);
    this.flowLogTimer = undefined;
    const fl = this.flowLogs;
    if (!fl) return;
    this.flowLogTimer = setInterval(this.guard.wrap('flow-log-flush', () => {
      this.failpoints.timer('flow-log-flush');
      this.flowLogs?.endInterval(Date.now());
    }), fl.aggregationInterval * 1000);
  }

  /** What a restart saves and restores (daemon/restart-state.ts). */
  private restartParts(): RestartParts {
    return { cfg: this.cfg, topo: this.topo, ct: this.ct, nats: this.dp.nats, vpn: this.vpn, epoch: this.epoch };
  }

  /** Drains readable ports: rx a batch, route it, tx it; bounded per wake-up. */
  private onReadable(): void {
    const engine = this.engine;
    if (engine === undefined || this.stopping) return;
    const b = this.batch;
    const dp = this.dp;
    for (let k = 0; k < MAX_BATCHES_PER_WAKE; k++) {
      let n = 0;
      // Containment per batch (not per packet): a stage that throws loses this batch, not the process.
      try {
        n = engine.rx(b.slots);
        if (n === 0) break;
        b.count = n;
        this.security.wallMs = Date.now();
        this.dp.events.wallMs = this.security.wallMs;
        this.failpoints.batch();
        dp.processBatch(b, performance.now());
        if (b.txCount > 0) {
          const sent = engine.tx(b.txCount);
          if (sent < b.txCount) this.counters.drops[DropReason.TxError] += b.txCount - sent;
        }
      } catch (e) {
        // The batch's rewrites and tx queue are in an unknown state: nothing of it is sent.
        this.failedBatchFrames += n;
        this.guard.fail('batch', e);
      }
      b.reset();
      // Observers get the batch's events now (decoded off the packet path; the ring is written only while they listen).
      if (dp.events.active) this.guard.run('observe', () => this.observe.drain());
      if (dp.punts.length > 0) this.vpn.drainPunts();
      if (dp.legs.services.dhcpCount > 0) this.guard.run('dhcp', () => this.services.drainDhcp(engine, b));
      if (n < b.slots) break;
    }
  }

  /** Direct Connect liveness: one ARP probe a second. */
  private dxProbe(): void {
    const engine = this.engine;
    if (!engine || this.stopping || this.dp.dxPort < 0) return;
    const b = this.batch;
    b.reset();
    try {
      this.dp.emitDxProbe(b);
      if (b.txCount > 0) engine.tx(b.txCount);
    } finally {
      b.reset();
    }
  }

  // ---- reload: prepare (may fail, touches nothing running), then commit (cannot fail)

  /**
   * SIGHUP. Resolves true when the file was applied, false when it was
   * rejected (the running configuration stays). Never rejects. Reloads run
   * one at a time; requests during a reload are folded into one more.
   */
  reload(): Promise<boolean> {
    if (this.reloadQueued) return this.reloadQueued;
    const queued = this.reloadRunning.then(() => {
      this.reloadQueued = undefined;
      return this.reloadOnce();
    });
    this.reloadQueued = queued;
    this.reloadRunning = queued;
    return queued;
  }

  private async reloadOnce(): Promise<boolean> {
    if (this.stopping) return false;
    let plan: ReloadPlan | undefined;
    try {
      plan = await this.prepare();
      if (this.stopping) throw new ReloadRejected(['vpcd is stopping']);
    } catch (e) {
      if (plan) await this.abort(plan);
      this.reloadFailures++;
      const issues = e instanceof ReloadRejected ? e.issues
        : e instanceof ConfigError ? e.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`)
        : [ioMessage(e)];
      if (!(e instanceof ReloadRejected) && !(e instanceof ConfigError)) this.guard.fail('reload', e);
      this.log.error({ event: 'reload-rejected', issues }, 'reload rejected: keeping the running configuration');
      return false;
    }
    const oldListener = this.listener;
    try {
      this.apply(plan);
    } catch (e) {
      // Not expected (commit steps only swap references); counted and logged, the daemon goes on.
      this.guard.fail('reload-commit', e);
      this.reloadFailures++;
      this.log.error({ event: 'reload-failed', error: (e as Error)?.message }, 'reload failed while being applied');
      return false;
    }
    this.reloads++;
    this.log.info({ event: 'reloaded', epoch: this.epoch, instances: this.topo.instanceNames.length, changed: plan.changed,
      ...(plan.flowLogs && plan.flowLogs.changes.length > 0 ? { flowLogs: plan.flowLogs.changes } : {}),
      ...(plan.listener ? { metrics: plan.listener.address } : {}) },
    plan.changed.length > 0 ? `configuration reloaded: ${plan.changed.join(', ')} changed` : 'configuration reloaded: no change');
    if (plan.listener && oldListener) await this.watchdog.close(oldListener).catch((e: unknown) => this.guard.fail('reload', e));
    return true;
  }

  /** Builds every part of the file beside the running state. Throws ReloadRejected, ConfigError or the failing step's error; `plan` keeps what was built for abort(). */
  private async prepare(): Promise<ReloadPlan> {
    let cfg: VpcConfig;
    try {
      cfg = loadConfig(this.configPath);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ReloadRejected([`${this.configPath}: ${(e as Error).message}`]);
    }
    const restart = restartOnlyIssues(this.cfg, cfg);
    if (restart.length > 0) throw new ReloadRejected(restart);
    let policy: CompiledPolicy;
    try {
      policy = compileSnapshot(cfg, this.epoch + 1);
    } catch (e) {
      throw new ReloadRejected([(e as Error).message]);
    }
    const plan: ReloadPlan = { cfg, policy, changed: changedSections(this.cfg, cfg) };
    try {
      await this.build(plan, this.listener);
    } catch (e) {
      await this.abort(plan);
      throw e;
    }
    return plan;
  }

  /** The fallible steps shared by start and reload. Fills `plan` as it goes. */
  private async build(plan: ReloadPlan, current: Listener | undefined): Promise<void> {
    const { cfg, policy } = plan;
    try {
      const enis = flowLogEnis(cfg, policy.instanceNames, policy.topology.natNames);
      plan.flowLogs = FlowLogs.prepare(this.flowLogs, cfg.flowLogs, enis, cfg.vpc.accountId, this.security,
        (place, e) => this.guard.fail(place, e));
    } catch (e) {
      throw new ReloadRejected([(e as Error).message]);
    }
    if (!current || current.addr !== cfg.metrics.listen) {
      if (!current) this.watchdog.start();
      try {
        plan.listener = await this.watchdog.listen(cfg.metrics.listen);
      } catch (e) {
        const samePort = current && current.addr.slice(current.addr.lastIndexOf(':')) === cfg.metrics.listen.slice(cfg.metrics.listen.lastIndexOf(':'));
        const hint = samePort && /EADDRINUSE/.test((e as Error).message) ? ' (the running listener holds this port: choose another port, or restart)' : '';
        throw new ReloadRejected([`metrics.listen ${cfg.metrics.listen}: ${(e as Error).message}${hint}`]);
      }
    }
    try {
      plan.attach = this.attach.prepare(this.engine!, cfg, policy.topology);
    } catch (e) {
      throw new ReloadRejected([ioMessage(e)]);
    }
    plan.vpn = current ? this.prepareVpn(cfg) : null;
  }

  /**
   * The VPN part of a reload: secrets are resolved and checked now (a
   * missing env var or unreadable certificate rejects the whole reload);
   * they rotate at apply() and take effect at the next negotiation. Adding,
   * removing or changing a connection's other settings needs a restart.
   */
  private prepareVpn(cfg: VpcConfig): VpnReload | null {
    const mgr = this.vpn.manager;
    if (!mgr) return null;
    let r: VpnReload;
    try {
      r = mgr.prepare(cfg);
    } catch (e) {
      throw new ReloadRejected([(e as Error).message]);
    }
    const structural = [...r.added.map((n) => `${n} added`), ...r.removed.map((n) => `${n} removed`), ...r.changed.map((n) => `${n} changed`)];
    if (structural.length > 0) throw new ReloadRejected([`vpnConnections: ${structural.join(', ')}: only secrets change on reload; restart for the rest`]);
    return r;
  }

  /** Closes what a failed prepare built. */
  private async abort(plan: ReloadPlan): Promise<void> {
    if (plan.attach && this.engine) this.attach.abort(this.engine, plan.attach);
    if (plan.listener) await this.watchdog.close(plan.listener).catch((e: unknown) => this.guard.fail('reload-abort', e));
    if (plan.flowLogs) await plan.flowLogs.abort().catch((e: unknown) => this.guard.fail('reload-abort', e));
  }

  /** Swaps the prepared state in. Only reference swaps and the router's setters: nothing here is expected to fail. */
  private apply(plan: ReloadPlan): void {
    const { cfg, policy } = plan;
    const oldPolicy = this.policy;
    if (policy !== oldPolicy) {
      this.epoch++;
      // Per-ENI allowances in the new instance order; live flows follow their instances by name.
      const oldNames = this.topo.instanceNames;
      this.ct.setAllowances(allowancesOf(cfg, policy.topology), oldNames.map((n) => policy.topology.instanceNames.indexOf(n)));
    }
    if (policy.topology !== this.topo) this.services.foldAllowance();
    // One swap: topology, compiled policy, NAT gateways and VPN tables, between two batches.
    const nats = plan.attach ? this.attach.natsFor(cfg, policy.topology, plan.attach) : this.dp.nats;
    const old = this.dp.setSnapshot({ topology: policy.topology, policy, nats, vpn: this.dp.vpn });
    if (old) this.history.fold(old, oldPolicy);
    this.policy = policy;
    this.cfg = cfg;
    this.topo = policy.topology;
    if (plan.attach) this.attach.commit(this.engine!, cfg, this.topo, plan.attach);
    this.services.reconfigure(cfg, this.epoch, this.topo);
    if (plan.flowLogs) {
      const before = this.flowLogs;
      const intervalBefore = before?.aggregationInterval;
      this.flowLogs = plan.flowLogs.commit(Date.now());
      if (before && this.flowLogs !== before) {
        this.flowLogsDraining.push(before.idle());
        const c = this.flowLogTotalsGone;
        this.flowLogTotalsGone = { records: c.records + before.records, skippedPackets: c.skippedPackets + before.skippedPackets,
          lostRecords: c.lostRecords + before.lostRecords, rotations: c.rotations + before.rotations };
      }
      if (this.timers.length > 0 && (this.flowLogs !== before || this.flowLogs?.aggregationInterval !== intervalBefore)) this.armFlowLogTimer();
    }
    if (plan.listener) this.listener = plan.listener;
    plan.vpn?.apply();
    this.watchdog.epoch = this.epoch;
    this.watchdog.ports = this.attach.ports.size;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.watchdog.markStopping();
    // No batch runs from here on: the state saved is the state the next process continues.
    this.stopping = true;
    let detached = new Set<string>();
    if (this.engine) this.guard.run('state-save', () => { detached = saveRestartState(this.restartParts(), this.log); });
    // DELETE for the tunnels whose state was not saved (they go out before the sockets close).
    await this.vpn.stop(detached).catch((e: unknown) => this.guard.fail('stop', e));
    await this.services.stop(this.engine).catch((e: unknown) => this.guard.fail('stop', e));
    this.guard.run('stop', () => {
      this.engine?.stop();
      this.engine?.close();
    });
    for (const t of this.timers) clearInterval(t);
    if (this.flowLogTimer) clearInterval(this.flowLogTimer);
    this.live.stop();
    this.observe.closeAll();
    await this.control.close().catch((e: unknown) => this.guard.fail('stop', e));
    for (const [sig, h] of this.signalHandlers) process.off(sig, h);
    for (const [ev, h] of this.processHandlers) process.off(ev, h);
    const fl = this.flowLogs;
    const flushed = Promise.all([fl ? fl.close(Date.now()) : Promise.resolve(), ...this.flowLogsDraining]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), STOP_FLUSH_TIMEOUT_MS); });
    const r = await Promise.race([flushed.then(() => 'ok' as const, (e: unknown) => { this.guard.fail('stop', e); return 'ok' as const; }), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') this.log.error({ event: 'flow-log-stop-timeout', path: fl?.path }, 'the last flow-log interval did not reach the disk in time');
    await this.watchdog.stop().catch((e: unknown) => this.guard.fail('stop', e));
    this.log.info({ event: 'stopped', frames: this.counters.frames, batches: this.counters.batches }, 'vpcd stopped');
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

/** Per instance index: its conntrackAllowance, 0 where none is set (only conntrack.max applies). */
export function allowancesOf(cfg: VpcConfig, topo: Topology): number[] {
  return topo.instanceNames.map((n) => cfg.instances.get(n)?.conntrackAllowance ?? 0);
}
