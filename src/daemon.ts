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
import type { Topology } from './control/topology.js';
import { compileSnapshot, type CompiledPolicy } from './control/compile.js';
import { PacketBatch, DROP_REASON_LABELS } from './pipeline/batch.js';
import { Counters } from './pipeline/counters.js';
import { Dataplane } from './pipeline/dataplane.js';
import { SecurityStage, SgCounter, type NaclHits } from './conntrack/sg-stage.js';
import { FlowLogTable } from './pipeline/flowlog-table.js';
import { Conntrack, CtCounter } from './conntrack/conntrack.js';
import { FlowLogWriter } from './telemetry/flowlogs.js';
import { formatIpv4, parseCidr4, parseIpv4, parseMac } from './lib/ipv4.js';
import { NatGatewayState, NatCounter } from './nat/nat-gateway.js';
import { PortRole } from './pipeline/dataplane.js';
import { derivedMac, labUplinkIfName } from './lab/names.js';
import { VpnPath, VpnCounter, type TunnelCrypto } from './vpn/vpn-path.js';
import { VpnManager, ConfigSecretError, type VpnReload } from './vpn/manager.js';
import { createTunnelCrypto, rekeyOnPacketLimits, type BoundTunnelCrypto } from './vpn/crypto.js';

/** The interface vpcd owns towards the outside: IGW uplink and/or VPN WAN. */
export function uplinkInterface(cfg: VpcConfig): string | undefined {
  return cfg.internetGateway?.interface ?? cfg.customerGateway?.wan.interface ??
    (cfg.vpnConnections.size > 0 ? labUplinkIfName(cfg.lab.prefix) : undefined);
}
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
  private policy: CompiledPolicy;
  private topo: Topology;
  private epoch = 1;
  readonly ct: Conntrack;
  readonly security: SecurityStage;
  private flowLogTable: FlowLogTable | undefined;
  private flowLogWriter: FlowLogWriter | undefined;
  private flowLogStartMs = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Counters of snapshots that were replaced, folded by label (Prometheus counters never go back). */
  private readonly naclHitBase = new Map<string, number>();
  private readonly sgVerdictBase = new Map<string, number>();
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
    this.policy = compileSnapshot(this.cfg, this.epoch);
    this.topo = this.policy.topology;
    this.batch = new PacketBatch(this.cfg.dataplane.batch);
    this.dp = new Dataplane(this.topo, this.counters);
    this.ct = new Conntrack(this.cfg.conntrack);
    this.ct.setAllowances(allowancesOf(this.cfg, this.topo));
    this.security = new SecurityStage(this.policy, this.ct);
    this.dp.security = this.security;
    this.configureFlowLogs(this.cfg);
  }

  private configureFlowLogs(cfg: VpcConfig): void {
    const fl = cfg.flowLogs;
    if (!fl) {
      if (this.flowLogTable) this.flushFlowLogs();
      this.flowLogTable = undefined;
      this.flowLogWriter = undefined;
      this.security.flowLog = null;
      return;
    }
    this.flowLogTable ??= new FlowLogTable();
    if (this.flowLogWriter) this.flowLogWriter.setInstances(this.policy.instanceNames, cfg.vpc.accountId);
    else this.flowLogWriter = new FlowLogWriter(fl.path, cfg.vpc.accountId, this.policy.instanceNames);
    this.security.flowLog = this.flowLogTable;
  }

  /** Writes the interval's flow-log records. */
  flushFlowLogs(): void {
    const t = this.flowLogTable, w = this.flowLogWriter;
    if (!t || !w) return;
    const now = Date.now();
    try {
      w.flush(t, Math.floor(this.flowLogStartMs / 1000), Math.floor(now / 1000));
    } catch (e) {
      this.log.error({ event: 'flow-log-error', error: (e as Error).message }, 'cannot write flow logs');
    }
    this.flowLogStartMs = now;
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
    try {
      this.startVpn(this.cfg);
    } catch (e) {
      this.engine.close();
      await this.metrics.close();
      if (e instanceof ConfigSecretError) throw new RuntimeError(e.message);
      throw e;
    }
    this.engine.start(() => this.onReadable());
    // Idle flows expire on a tick, a bounded number per tick (O(1) each).
    this.timers.push(setInterval(() => {
      const now = performance.now();
      this.ct.sweep(now, 50_000, null);
      for (const g of this.dp.nats) g.sweep(now);
      this.vpnLiveness();
    }, 250));
    if (this.cfg.flowLogs) this.armFlowLogTimer(this.cfg.flowLogs.aggregationInterval);
    this.timers.push(setInterval(() => this.dxProbe(), 1000));
    setImmediate(() => this.dxProbe());
    this.log.info({ event: 'started', config: this.configPath, vpc: this.cfg.vpc.name, ports: [...this.ports.keys()],
      netns: this.cfg.dataplane.netns ?? null, metrics: this.cfg.metrics.listen, batch: b.slots }, 'vpcd running');
  }

  private flowLogTimer: NodeJS.Timeout | undefined;
  private armFlowLogTimer(seconds: number): void {
    if (this.flowLogTimer) clearInterval(this.flowLogTimer);
    this.flowLogTimer = setInterval(() => this.flushFlowLogs(), seconds * 1000);
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
      this.security.wallMs = Date.now();
      dp.processBatch(b, performance.now());
      if (b.txCount > 0) {
        const sent = engine.tx(b.txCount);
        if (sent < b.txCount) this.counters.drops[14] += b.txCount - sent; // DropReason.TxError
      }
      b.reset();
      if (this.dp.punts.length > 0) this.drainPunts();
      if (n < b.slots) break;
    }
  }

  // ---- VPN
  vpnManager: VpnManager | undefined;
  private vpnCrypto: BoundTunnelCrypto | undefined;
  private readonly outbox: { src: number; sport: number; dst: number; dport: number; bytes: Uint8Array }[] = [];
  private outboxArmed = false;

  private startVpn(cfg: VpcConfig): void {
    if (cfg.vpnConnections.size === 0) return;
    const path = new VpnPath(cfg);
    const crypto = createTunnelCrypto(path);
    path.crypto = crypto;
    this.vpnCrypto = crypto;
    this.dp.vpn = path;
    const mgr = new VpnManager(cfg, this.log, {
      send: (src, dst, bytes) => {
        this.outbox.push({ src: parseIpv4(src.addr), sport: src.port, dst: parseIpv4(dst.addr), dport: dst.port, bytes });
        if (!this.outboxArmed) {
          this.outboxArmed = true;
          setImmediate(() => this.flushOutbox());
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
    this.vpnManager = mgr;
    mgr.start();
  }

  private lastEspIn: Float64Array | undefined;
  /** Tunnels that received ESP since the last tick are alive: tell their IKE sessions (DPD). */
  private vpnLiveness(): void {
    const p = this.dp.vpn, mgr = this.vpnManager;
    if (!p || !mgr) return;
    if (this.vpnCrypto) rekeyOnPacketLimits(this.vpnCrypto, p, mgr, this.log);
    const last = (this.lastEspIn ??= new Float64Array(p.tunConn.length));
    for (let t = 0; t < p.tunConn.length; t++) {
      const n = p.counters[t * 4 + VpnCounter.PacketsIn]!;
      if (n !== last[t]) {
        last[t] = n;
        mgr.notifyActivity(p.connNames[p.tunConn[t]!]!, p.tunIndex[t]!);
      }
    }
  }

  /** IKE datagrams received by the data plane go to their sessions. */
  private drainPunts(): void {
    const punts = this.dp.punts;
    const mgr = this.vpnManager;
    for (const p of punts) {
      // Rate-limited per source before any parsing or formatting (VpnManager.onPunt).
      mgr?.onPunt(p.local >>> 0, p.localPort, p.from >>> 0, p.fromPort, new Uint8Array(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length));
    }
    punts.length = 0;
  }

  /** Sends queued control datagrams (IKE) through the uplink, between batches. */
  private flushOutbox(): void {
    this.outboxArmed = false;
    const engine = this.engine;
    if (!engine || this.stopping) {
      this.outbox.length = 0;
      return;
    }
    const b = this.batch;
    while (this.outbox.length > 0) {
      b.reset();
      const now = performance.now();
      let k = 0;
      while (k < this.outbox.length && b.scratchUsed < b.scratchSlots - 2) {
        const d = this.outbox[k++]!;
        if (!this.dp.emitUdp(b, d.src, d.sport, d.dst, d.dport, d.bytes, now)) this.counters.drops[14]++;
      }
      this.outbox.splice(0, k);
      if (b.txCount > 0) engine.tx(b.txCount);
    }
    b.reset();
  }

  /** Opens the ports a snapshot needs and attaches them in the router. */
  private attachAll(cfg: VpcConfig, topo: Topology): void {
    const engine = this.engine!;
    const ns = netnsPath(cfg.dataplane.netns);
    const wanted = new Set(topo.instanceIfNames);
    const uplink = uplinkInterface(cfg);
    if (uplink) wanted.add(uplink);
    const dx = cfg.vpnGateway?.directConnect ?? cfg.customerGateway?.directConnect;
    if (dx) wanted.add(dx.interface);
    // Open what is new first: if anything fails, nothing running is disturbed.
    const opened: AttachedPort[] = [];
    try {
      for (const ifname of wanted) {
        if (this.ports.has(ifname)) continue;
        const vnet = cfg.dataplane.vnetHeader;
        const id = engine.addPacketPort(ifname, ns, vnet);
        opened.push({ id, ifname, vnet });
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
    this.dp.uplinkPort = -1;
    if (uplink) {
      const p = this.ports.get(uplink)!;
      this.dp.attachPort(p.id, PortRole.Uplink, 0, p.vnet);
      this.dp.uplinkPort = p.id;
      this.dp.uplinkMac.set(parseMac(derivedMac(`uplink/${cfg.vpc.name}`)));
      // A router's uplink: destinations off the uplink's network go to its gateway (one neighbour entry).
      const g = cfg.internetGateway;
      this.dp.legs.igw.configure(g?.uplinkIp ? parseIpv4(g.uplinkIp) : 0, g?.uplinkGateway ? parseIpv4(g.uplinkGateway) : 0,
        g?.uplinkBlock?.addr ?? 0, g?.uplinkBlock?.prefix ?? 0);
    }
    this.dp.dxPort = -1;
    if (dx) {
      const p = this.ports.get(dx.interface)!;
      this.dp.attachPort(p.id, PortRole.DirectConnect, 0, p.vnet);
      this.dp.dxPort = p.id;
      this.dp.dxMac.set(parseMac(derivedMac(`dx/${cfg.vpc.name}`)));
      this.dp.dxIp = parseIpv4(dx.ip) | 0;
      this.dp.dxPeer = parseIpv4(dx.peer) | 0;
      const nets = dx.remoteNetworks.map((n) => parseCidr4(n));
      this.dp.dxNetAddr = Uint32Array.from(nets.map((n) => n.net));
      this.dp.dxNetMask = Uint32Array.from(nets.map((n) => n.mask));
    }
    this.syncNatGateways(cfg, topo);
  }

  /** Direct Connect liveness: one ARP probe a second. */
  private dxProbe(): void {
    const engine = this.engine;
    if (!engine || this.stopping || this.dp.dxPort < 0) return;
    const b = this.batch;
    b.reset();
    this.dp.emitDxProbe(b);
    if (b.txCount > 0) engine.tx(b.txCount);
    b.reset();
  }

  /** NAT gateway state by name survives reloads (its sessions are its connections). */
  private readonly natByName = new Map<string, NatGatewayState>();
  private syncNatGateways(cfg: VpcConfig, topo: Topology): void {
    const next: NatGatewayState[] = [];
    topo.natNames.forEach((name, i) => {
      const g = cfg.natGateways.get(name)!;
      const opts = { ip: topo.natIp[i]!, publicIp: topo.natPublicIp[i]!, subnet: topo.natSubnet[i]!, isPublic: topo.natPublic[i] === 1,
        maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout };
      let st = this.natByName.get(name);
      if (st) st.update(opts);
      else {
        st = new NatGatewayState(name, { ...opts, maxSessions: Math.max(1024, Math.min(cfg.conntrack.max, 1 << 20)) });
        this.natByName.set(name, st);
      }
      next.push(st);
    });
    for (const name of [...this.natByName.keys()]) if (!cfg.natGateways.has(name)) this.natByName.delete(name);
    this.dp.nats = next;
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
    if ((cfg.dataplane.netns ?? '') !== (this.cfg.dataplane.netns ?? '') || cfg.dataplane.batch !== this.cfg.dataplane.batch ||
        cfg.dataplane.vnetHeader !== this.cfg.dataplane.vnetHeader) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: ['dataplane.netns, dataplane.batch and dataplane.vnetHeader only change on restart'] },
        'reload rejected: keeping the running configuration');
      return false;
    }
    let policy: CompiledPolicy;
    try {
      policy = compileSnapshot(cfg, this.epoch + 1);
    } catch (e) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: [(e as Error).message] }, 'reload rejected: keeping the running configuration');
      return false;
    }
    const topo = policy.topology;
    // VPN: secrets are resolved and checked now; structural changes to connections need a restart.
    let vpnReload: VpnReload | undefined;
    try {
      vpnReload = this.vpnManager?.prepare(cfg);
      if (vpnReload && (vpnReload.added.length > 0 || vpnReload.removed.length > 0 || vpnReload.changed.length > 0)) {
        throw new Error(`vpnConnections ${[...vpnReload.added, ...vpnReload.removed, ...vpnReload.changed].join(', ')}: only secrets change on reload; other changes need a restart`);
      }
      if (!this.vpnManager && cfg.vpnConnections.size > 0) throw new Error('vpnConnections added: VPN connections start with the daemon; restart to add them');
    } catch (e) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: [(e as Error).message] }, 'reload rejected: keeping the running configuration');
      return false;
    }
    try {
      this.attachAll(cfg, topo);
    } catch (e) {
      this.reloadFailures++;
      this.log.error({ event: 'reload-rejected', issues: [ioMessage(e)] }, 'reload rejected: keeping the running configuration');
      // attachAll only changed state after every open succeeded; re-attach the old snapshot's ports to be sure.
      return false;
    }
    this.epoch++;
    vpnReload?.apply();
    // Per-ENI allowances by the new instance order; live flows follow their instances by name.
    const oldNames = this.topo.instanceNames;
    this.ct.setAllowances(allowancesOf(cfg, topo), oldNames.map((n) => topo.instanceNames.indexOf(n)));
    this.foldCounters(this.security.setPolicy(policy));
    this.policy = policy;
    this.cfg = cfg;
    this.topo = topo;
    this.configureFlowLogs(cfg);
    if (cfg.flowLogs) this.armFlowLogTimer(cfg.flowLogs.aggregationInterval);
    else if (this.flowLogTimer) clearInterval(this.flowLogTimer);
    this.reloads++;
    this.log.info({ event: 'reloaded', epoch: this.epoch, instances: topo.instanceNames.length }, 'configuration reloaded');
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    if (this.vpnManager) {
      // DELETE notifications go out before the sockets close.
      await this.vpnManager.stop();
      this.stopping = false;
      this.flushOutbox();
    }
    this.stopping = true;
    this.engine?.stop();
    this.engine?.close();
    for (const t of this.timers) clearInterval(t);
    if (this.flowLogTimer) clearInterval(this.flowLogTimer);
    this.flushFlowLogs();
    await this.metrics?.close();
    this.log.info({ event: 'stopped', frames: this.counters.frames, batches: this.counters.batches }, 'vpcd stopped');
  }

  private naclHitSamples(h: NaclHits, p: CompiledPolicy): Map<string, number> {
    const m = new Map<string, number>();
    p.nacls.forEach((n, i) => {
      for (const [direction, compiled, hits] of [['inbound', n.inbound, h.inbound[i]!], ['outbound', n.outbound, h.outbound[i]!]] as const) {
        for (let s = 0; s < compiled.count; s++) {
          const key = k(n.name, direction, String(compiled.ruleNumber[s]), compiled.allow[s] === 1 ? 'allow' : 'deny');
          m.set(key, (m.get(key) ?? 0) + hits[s]!);
        }
        const star = k(n.name, direction, '*', 'deny');
        m.set(star, (m.get(star) ?? 0) + hits[compiled.count]!);
      }
    });
    return m;
  }

  private sgVerdictSamples(v: Float64Array, p: CompiledPolicy): Map<string, number> {
    const m = new Map<string, number>();
    p.instanceNames.forEach((name, i) => {
      m.set(k(name, 'egress', 'allow'), v[i * 4 + SgCounter.EgressAllow]!);
      m.set(k(name, 'egress', 'deny'), v[i * 4 + SgCounter.EgressDeny]!);
      m.set(k(name, 'ingress', 'allow'), v[i * 4 + SgCounter.IngressAllow]!);
      m.set(k(name, 'ingress', 'deny'), v[i * 4 + SgCounter.IngressDeny]!);
    });
    return m;
  }

  /** Keeps the counts of a replaced snapshot under their labels. */
  private foldCounters(old: { naclHits: NaclHits; sgVerdicts: Float64Array }): void {
    for (const [key, v] of this.naclHitSamples(old.naclHits, this.policy)) this.naclHitBase.set(key, (this.naclHitBase.get(key) ?? 0) + v);
    for (const [key, v] of this.sgVerdictSamples(old.sgVerdicts, this.policy)) this.sgVerdictBase.set(key, (this.sgVerdictBase.get(key) ?? 0) + v);
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
    pulledCounter(registry, 'vpcd_nacl_rule_hits_total', 'Packets decided by each network ACL rule (rule="*": the implicit deny).',
      ['nacl', 'direction', 'rule', 'action'], (emit) => {
        const cur = this.naclHitSamples(this.security.naclHits, this.policy);
        const keys = new Set([...cur.keys(), ...this.naclHitBase.keys()]);
        for (const k of keys) {
          const [nacl, direction, rule, action] = k.split('\u0000') as [string, string, string, string];
          emit({ nacl, direction, rule, action }, (cur.get(k) ?? 0) + (this.naclHitBase.get(k) ?? 0));
        }
      });
    pulledCounter(registry, 'vpcd_sg_verdicts_total', 'New-flow decisions by security groups, per instance and direction.',
      ['instance', 'direction', 'verdict'], (emit) => {
        const cur = this.sgVerdictSamples(this.security.sgVerdicts, this.policy);
        const keys = new Set([...cur.keys(), ...this.sgVerdictBase.keys()]);
        for (const k of keys) {
          const [instance, direction, verdict] = k.split('\u0000') as [string, string, string];
          emit({ instance, direction, verdict }, (cur.get(k) ?? 0) + (this.sgVerdictBase.get(k) ?? 0));
        }
      });
    pulledCounter(registry, 'vpcd_flows_total', 'New flows, by verdict.', ['verdict'], (emit) => {
      emit({ verdict: 'accept' }, this.security.flowsAccepted);
      emit({ verdict: 'reject' }, this.security.flowsRejected);
    });
    pulledGauge(registry, 'vpcd_top_denied_sources', 'Packets refused by security groups or NACLs, for the 20 most refused source addresses (Space-Saving estimate since start).',
      ['source'], (emit) => {
        for (const t of this.security.deniedSources.top(20)) emit({ source: formatIpv4(t.key) }, t.count);
      });
    pulledGauge(registry, 'vpcd_conntrack_entries', 'Tracked flows now.', [], (emit) => emit({}, this.ct.entries));
    pulledGauge(registry, 'vpcd_conntrack_max', 'Tracked-flow limit (conntrack.max).', [], (emit) => emit({}, this.ct.max));
    pulledGauge(registry, 'vpcd_conntrack_allowance_available', 'Flows that can still be tracked (AWS conntrack_allowance_available).', [], (emit) => emit({}, this.ct.allowanceAvailable));
    pulledCounter(registry, 'vpcd_conntrack_allowance_exceeded_total', 'New flows dropped because the tracked-flow table was full (AWS conntrack_allowance_exceeded).', [],
      (emit) => emit({}, this.ct.allowanceExceeded));
    pulledCounter(registry, 'vpcd_ike_datagrams_dropped_total', 'IKE datagrams dropped before or by their session, by reason (rate_limited, unknown_peer, malformed, refused, session_error).',
      ['reason'], (emit) => { for (const [reason, n] of Object.entries(this.vpnManager?.dropCounts() ?? {})) emit({ reason }, n); });
    pulledCounter(registry, 'vpcd_neighbor_evictions_total', 'Uplink neighbour entries evicted to make room (bounded table).', [], (emit) => emit({}, this.dp.neighbors.evicted));
    pulledCounter(registry, 'vpcd_neighbor_unsolicited_arp_total', 'ARP replies on the uplink for addresses vpcd did not ask for (ignored).', [], (emit) => emit({}, this.dp.neighbors.unsolicited));
    pulledCounter(registry, 'vpcd_conntrack_eni_allowance_exceeded_total', 'New flows refused because the ENI was at its conntrackAllowance (AWS conntrack_allowance_exceeded, per ENI).',
      ['eni'], (emit) => this.topo.instanceNames.forEach((n, i) => emit({ eni: n }, this.ct.allowanceExceededPerEni[i] ?? 0)));
    pulledGauge(registry, 'vpcd_conntrack_eni_entries', 'Tracked flows counted against each ENI.', ['eni'],
      (emit) => this.topo.instanceNames.forEach((n, i) => emit({ eni: n }, this.ct.entriesPerEni[i] ?? 0)));
    pulledCounter(registry, 'vpcd_conntrack_expired_total', 'Tracked flows removed after their idle timeout.', [], (emit) => emit({}, this.ct.counters[CtCounter.Expired]));
    pulledCounter(registry, 'vpcd_flow_log_records_total', 'Flow-log records written.', [], (emit) => emit({}, this.flowLogWriter?.records ?? 0));
    const nat = (counter: number) => (emit: (l: Record<string, string>, v: number) => void) => {
      for (const g of this.dp.nats) emit({ gateway: g.name }, g.counters[counter]!);
    };
    pulledGauge(registry, 'vpcd_nat_gateway_active_connections', 'Concurrent TCP connections through the NAT gateway (CloudWatch ActiveConnectionCount).', ['gateway'],
      (emit) => { for (const g of this.dp.nats) emit({ gateway: g.name }, g.activeTcp()); });
    pulledGauge(registry, 'vpcd_nat_gateway_sessions', 'Translations held by the NAT gateway (TCP, UDP, ICMP).', ['gateway'],
      (emit) => { for (const g of this.dp.nats) emit({ gateway: g.name }, g.sessions.entries); });
    pulledCounter(registry, 'vpcd_nat_gateway_connection_attempts_total', 'Connection attempts through the NAT gateway (ConnectionAttemptCount).', ['gateway'], nat(NatCounter.ConnectionAttempts));
    pulledCounter(registry, 'vpcd_nat_gateway_connections_established_total', 'Connections established through the NAT gateway (ConnectionEstablishedCount).', ['gateway'], nat(NatCounter.ConnectionsEstablished));
    pulledCounter(registry, 'vpcd_nat_gateway_error_port_allocation_total', 'Times no source port could be allocated (ErrorPortAllocation).', ['gateway'], nat(NatCounter.ErrorPortAllocation));
    pulledCounter(registry, 'vpcd_nat_gateway_idle_timeouts_total', 'Established connections that idled out (IdleTimeoutCount).', ['gateway'], nat(NatCounter.IdleTimeouts));
    pulledCounter(registry, 'vpcd_nat_gateway_packets_dropped_total', 'Packets dropped by the NAT gateway (PacketsDropCount).', ['gateway'], nat(NatCounter.PacketsDropped));
    pulledCounter(registry, 'vpcd_nat_gateway_bytes_total', 'Bytes through the NAT gateway (BytesInFromSource, BytesOutToDestination, BytesInFromDestination, BytesOutToSource).',
      ['gateway', 'direction'], (emit) => {
        for (const g of this.dp.nats) {
          emit({ gateway: g.name, direction: 'in_from_source' }, g.counters[NatCounter.BytesInFromSource]!);
          emit({ gateway: g.name, direction: 'out_to_destination' }, g.counters[NatCounter.BytesOutToDestination]!);
          emit({ gateway: g.name, direction: 'in_from_destination' }, g.counters[NatCounter.BytesInFromDestination]!);
          emit({ gateway: g.name, direction: 'out_to_source' }, g.counters[NatCounter.BytesOutToSource]!);
        }
      });
    pulledCounter(registry, 'vpcd_nat_gateway_packets_total', 'Packets through the NAT gateway (PacketsInFromSource, PacketsOutToDestination, PacketsInFromDestination, PacketsOutToSource).',
      ['gateway', 'direction'], (emit) => {
        for (const g of this.dp.nats) {
          emit({ gateway: g.name, direction: 'in_from_source' }, g.counters[NatCounter.PacketsInFromSource]!);
          emit({ gateway: g.name, direction: 'out_to_destination' }, g.counters[NatCounter.PacketsOutToDestination]!);
          emit({ gateway: g.name, direction: 'in_from_destination' }, g.counters[NatCounter.PacketsInFromDestination]!);
          emit({ gateway: g.name, direction: 'out_to_source' }, g.counters[NatCounter.PacketsOutToSource]!);
        }
      });
    pulledCounter(registry, 'vpcd_igw_packets_total', 'Packets through the internet gateway, by direction.', ['direction'], (emit) => {
      emit({ direction: 'out' }, this.dp.igwCounters[0]!);
      emit({ direction: 'in' }, this.dp.igwCounters[2]!);
    });
    pulledCounter(registry, 'vpcd_igw_bytes_total', 'IP bytes through the internet gateway, by direction.', ['direction'], (emit) => {
      emit({ direction: 'out' }, this.dp.igwCounters[1]!);
      emit({ direction: 'in' }, this.dp.igwCounters[3]!);
    });
    pulledCounter(registry, 'vpcd_neighbor_unresolved_drops_total', 'Frames dropped waiting for an ARP resolution on the uplink.', [], (emit) => emit({}, this.dp.neighbors.dropped));
    pulledGauge(registry, 'vpcd_vpn_tunnel_state', 'VPN tunnel state: 1 up, 0 down (AWS TunnelState).', ['connection', 'tunnel'], (emit) => {
      for (const t of this.vpnManager?.tunnels ?? []) emit({ connection: t.connection, tunnel: String(t.tunnel) }, t.state === 'up' ? 1 : 0);
    });
    pulledCounter(registry, 'vpcd_vpn_tunnel_bytes_total', 'Inner (payload) bytes through a VPN tunnel: in after decryption, out before encryption (AWS TunnelDataIn/Out).',
      ['connection', 'tunnel', 'direction'], (emit) => {
        const p = this.dp.vpn;
        if (!p) return;
        for (let t = 0; t < p.tunConn.length; t++) {
          const labels = { connection: p.connNames[p.tunConn[t]!]!, tunnel: String(p.tunIndex[t]) };
          emit({ ...labels, direction: 'in' }, p.counters[t * 4 + VpnCounter.BytesIn]!);
          emit({ ...labels, direction: 'out' }, p.counters[t * 4 + VpnCounter.BytesOut]!);
        }
      });
    pulledCounter(registry, 'vpcd_vpn_tunnel_packets_total', 'Inner packets through a VPN tunnel.', ['connection', 'tunnel', 'direction'], (emit) => {
      const p = this.dp.vpn;
      if (!p) return;
      for (let t = 0; t < p.tunConn.length; t++) {
        const labels = { connection: p.connNames[p.tunConn[t]!]!, tunnel: String(p.tunIndex[t]) };
        emit({ ...labels, direction: 'in' }, p.counters[t * 4 + VpnCounter.PacketsIn]!);
        emit({ ...labels, direction: 'out' }, p.counters[t * 4 + VpnCounter.PacketsOut]!);
      }
    });
    pulledCounter(registry, 'vpcd_vpn_ike_events_total', 'IKE events (SAs established, rekeyed, deleted, failures, by cause).', ['event'], (emit) => {
      for (const [event, n] of Object.entries(this.vpnManager?.events ?? {})) emit({ event }, n);
    });
    pulledGauge(registry, 'vpcd_vpn_tunnel_setup_seconds', 'Time the last tunnel establishment took (first IKE request to CHILD_SA installed).', ['connection', 'tunnel'], (emit) => {
      for (const t of this.vpnManager?.tunnels ?? []) if (t.lastSetupMs > 0) emit({ connection: t.connection, tunnel: String(t.tunnel) }, t.lastSetupMs / 1000);
    });
    pulledGauge(registry, 'vpcd_direct_connect_state', 'Direct Connect link: 1 up (the peer answers ARP), 0 down.', [], (emit) => {
      if (this.dp.dxPort >= 0) emit({}, this.dp.dxUp(performance.now()) ? 1 : 0);
    });
    pulledCounter(registry, 'vpcd_direct_connect_packets_total', 'Packets over the Direct Connect link.', ['direction'], (emit) => {
      if (this.dp.dxPort < 0) return;
      emit({ direction: 'out' }, this.dp.dxCounters[0]!);
      emit({ direction: 'in' }, this.dp.dxCounters[2]!);
    });
    pulledCounter(registry, 'vpcd_direct_connect_bytes_total', 'IP bytes over the Direct Connect link.', ['direction'], (emit) => {
      if (this.dp.dxPort < 0) return;
      emit({ direction: 'out' }, this.dp.dxCounters[1]!);
      emit({ direction: 'in' }, this.dp.dxCounters[3]!);
    });
    pulledGauge(registry, 'vpcd_config_epoch', 'Epoch of the running configuration snapshot (1 at start, +1 per successful reload).', [], (emit) => emit({}, this.epoch));
    pulledCounter(registry, 'vpcd_config_reloads_total', 'Configuration reloads, by result.', ['result'], (emit) => {
      emit({ result: 'ok' }, this.reloads);
      emit({ result: 'rejected' }, this.reloadFailures);
    });
  }
}

function k(...parts: string[]): string {
  return parts.join('\u0000');
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
