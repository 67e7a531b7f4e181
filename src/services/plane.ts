/**
 * The service plane: where vpcd's VPC services live.
 *
 *   data-plane namespace          service namespace vpcd-svc-<hash>
 *   vs<hash> (a port of the   <-> svc0: 169.254.169.254/32, .253/32, .123/32,
 *   data plane, role Service)       VPC base + 2/32; route VPC CIDR via
 *                                   169.254.0.1 (a permanent neighbour: the
 *                                   data plane's MAC on vs<hash>)
 *
 * The data plane steers an instance's frames for a service address out of
 * vs<hash> with the instance's own source address, and frames coming back in
 * on it straight to the instance (pipeline/service-path.ts). Real kernel
 * sockets answer in the namespace: the service server (services/server.ts),
 * a child process this class supervises: started with `ip netns exec`, given
 * the configuration snapshot over IPC (again at every reload), restarted with
 * backoff when it dies, killed at stop. The namespace and the veth are made at
 * start and removed at stop; a namespace left by a crashed daemon is replaced.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { servicePlaneNames, type ServicePlaneNames } from '../lab/names.js';
import { addNetns, delNetns, ip, nsExec, OFFLOADS_OFF } from '../lab/sys.js';
import type { ServerMessage, ServiceName } from './server.js';
import { serviceAddresses, type ServiceSnapshot } from './snapshot.js';

/** Inside the service namespace. */
export const SERVICE_IFNAME = 'svc0';
/** The next hop the service namespace routes the VPC through (a permanent neighbour entry, never ARPed). */
export const SERVICE_GATEWAY = '169.254.0.1';
const RESTART_MIN_MS = 200, RESTART_MAX_MS = 10_000;

/** Counters the server reports, folded across its restarts. */
export class ServiceCounters {
  /** By service and instance name ('' for a source no ENI owns). */
  readonly requests = new Map<string, number>();
  readonly malformed = new Map<string, number>();
  /** Amazon DNS queries by outcome and instance name. */
  readonly dnsOutcomes = new Map<string, number>();
  restarts = 0;
  private baseDns = new Map<string, number>();
  private base = new Map<string, number>();
  private baseMalformed = new Map<string, number>();
  private last = new Map<string, number>();
  private lastMalformed = new Map<string, number>();

  /** A server's cumulative report. */
  update(requests: readonly [ServiceName, string, number][], malformed: Record<string, number>, dns: readonly [string, string, number][] = []): void {
    for (const [outcome, inst, n] of dns) {
      const k = `${outcome}\0${inst}`;
      this.dnsOutcomes.set(k, (this.baseDns.get(k) ?? 0) + n);
    }
    for (const [svc, inst, n] of requests) {
      const k = `${svc}\0${inst}`;
      this.last.set(k, n);
      this.requests.set(k, (this.base.get(k) ?? 0) + n);
    }
    for (const [k, n] of Object.entries(malformed)) {
      this.lastMalformed.set(k, n);
      this.malformed.set(k, (this.baseMalformed.get(k) ?? 0) + n);
    }
  }

  /** The server restarted: its counts start at zero again. */
  serverGone(): void {
    this.base = new Map(this.requests);
    this.baseMalformed = new Map(this.malformed);
    this.baseDns = new Map(this.dnsOutcomes);
    this.last.clear();
    this.lastMalformed.clear();
  }
}

export class ServicePlane {
  readonly names: ServicePlaneNames;
  readonly counters = new ServiceCounters();
  private child: ChildProcess | undefined;
  private snap: ServiceSnapshot | undefined;
  private stopping = false;
  private backoff = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyWaiters: (() => void)[] = [];
  ready = false;
  /** Sends a DNS query the server forwards to dns.upstreams (from the daemon's namespace); null: none configured. */
  forwarder: ((query: Buffer, viaTcp: boolean) => Promise<Buffer | null>) | null = null;

  constructor(configPath: string, private readonly dataplaneNetns: string | undefined, private readonly vnetHeader: boolean, private readonly log: Logger) {
    this.names = servicePlaneNames(configPath);
  }

  /** Makes the namespace and the veth (replacing leftovers of a crashed run). Throws with the failing command. */
  setup(snap: ServiceSnapshot): void {
    const n = this.names;
    this.teardownLinks();
    addNetns(n.netns);
    const where = this.dataplaneNetns !== undefined ? ['netns', this.dataplaneNetns] : [];
    ip(['link', 'add', n.port, ...where, 'type', 'veth', 'peer', 'name', SERVICE_IFNAME, 'netns', n.netns]);
    const dp = (args: string[]): string => (this.dataplaneNetns !== undefined ? nsExec(this.dataplaneNetns, args) : ip(args.slice(1)));
    dp(['ip', 'link', 'set', n.port, 'address', n.portMac]);
    dp(['ip', 'link', 'set', n.port, 'up']);
    nsExec(n.netns, ['ip', 'link', 'set', SERVICE_IFNAME, 'address', n.serviceMac]);
    nsExec(n.netns, ['ip', 'link', 'set', SERVICE_IFNAME, 'up']);
    // Only what the data plane steers arrives: no ARP, no reverse-path filter surprises.
    nsExec(n.netns, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0'], { ignoreError: true });
    nsExec(n.netns, ['sysctl', '-qw', `net.ipv4.conf.${SERVICE_IFNAME}.rp_filter=0`], { ignoreError: true });
    if (!this.vnetHeader) {
      nsExec(n.netns, ['ethtool', '-K', SERVICE_IFNAME, ...OFFLOADS_OFF], { ignoreError: true });
      dp(['ethtool', '-K', n.port, ...OFFLOADS_OFF]);
    }
    this.address(snap);
  }

  /** svc0's addresses and the route back to the VPC (again at a reload: the VPC CIDR cannot change, base + 2 neither). */
  private address(snap: ServiceSnapshot): void {
    const n = this.names;
    for (const a of serviceAddresses(snap)) nsExec(n.netns, ['ip', 'addr', 'replace', `${a}/32`, 'dev', SERVICE_IFNAME]);
    nsExec(n.netns, ['ip', 'neigh', 'replace', SERVICE_GATEWAY, 'lladdr', n.portMac, 'dev', SERVICE_IFNAME, 'nud', 'permanent']);
    nsExec(n.netns, ['ip', 'route', 'replace', snap.vpcCidr, 'via', SERVICE_GATEWAY, 'dev', SERVICE_IFNAME, 'onlink']);
  }

  /** Starts the server with `snap`; resolves when it listens (or after `timeoutMs`, logging why not). */
  async start(snap: ServiceSnapshot, timeoutMs = 5_000): Promise<void> {
    this.snap = snap;
    this.spawn();
    await new Promise<void>((res) => {
      const t = setTimeout(() => {
        this.log.error({ event: 'services-slow' }, 'the VPC service server is not listening yet: metadata and time sync answer once it is');
        res();
      }, timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
  }

  /** A reload: the new snapshot goes to the running server (a restarting one gets it when it starts). The addresses stay: vpc.cidr needs a restart. */
  configure(snap: ServiceSnapshot): void {
    this.snap = snap;
    this.child?.send({ type: 'config', snap });
  }

  private serverScript(): string {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    return join(root, 'dist', 'services', 'server.js');
  }

  private spawn(): void {
    if (this.stopping) return;
    const script = this.serverScript();
    if (!existsSync(script)) {
      this.log.error({ event: 'services-missing', script }, 'the VPC service server is not built: run `npm ci` (or `npm run build`)');
      return;
    }
    const child = spawn('ip', ['netns', 'exec', this.names.netns, process.execPath, script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    const startedAt = Date.now();
    child.on('message', (m: ServerMessage) => this.onMessage(m));
    child.on('error', (e) => this.log.error({ event: 'services-spawn-failed', error: e.message }, 'cannot start the VPC service server'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.ready = false;
      this.counters.serverGone();
      if (this.stopping) return;
      // A server that ran a while restarts at once; one that dies at start waits longer each time.
      if (Date.now() - startedAt > 30_000) this.backoff = RESTART_MIN_MS;
      this.counters.restarts++;
      this.log.error({ event: 'services-exited', code, signal, restartInMs: this.backoff }, 'the VPC service server exited: restarting');
      this.restartTimer = setTimeout(() => this.spawn(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, RESTART_MAX_MS);
    });
    if (this.snap) child.send({ type: 'config', snap: this.snap });
  }

  private onMessage(m: ServerMessage): void {
    if (m === null || typeof m !== 'object') return;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.log.info({ event: 'services-ready', netns: this.names.netns }, 'VPC services answering (metadata, time sync)');
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case 'counters':
        if (Array.isArray(m.requests) && typeof m.malformed === 'object') this.counters.update(m.requests, m.malformed, Array.isArray(m.dns) ? m.dns : []);
        return;
      case 'error':
        this.log.error({ event: 'services-error', error: String(m.message) }, 'VPC service server');
        return;
      case 'warn':
        this.log.warn({ event: 'services-warning', message: String(m.message) }, String(m.message));
        return;
      case 'dns-forward':
        this.forwardDns(m.id, m.query, m.tcp);
        return;
    }
  }

  private forwardDns(id: number, query: string, tcp: boolean): void {
    const child = this.child;
    const reply = (answer: Buffer | null): void => {
      if (child !== undefined && child === this.child && child.connected) child.send({ type: 'dns-answer', id, answer: answer === null ? null : answer.toString('base64') });
    };
    const fwd = this.forwarder;
    if (fwd === null || typeof id !== 'number' || typeof query !== 'string') {
      reply(null);
      return;
    }
    fwd(Buffer.from(query, 'base64'), tcp === true).then(reply, () => reply(null));
  }

  /** Test hook and the watchdog's remedy: kill the server (it restarts). */
  killServer(): boolean {
    return this.child?.kill('SIGKILL') ?? false;
  }

  get serverPid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the server and removes the namespace and the veth. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const w of this.readyWaiters.splice(0)) w();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await gone;
      clearTimeout(t);
    }
    this.teardownLinks();
  }

  private teardownLinks(): void {
    const n = this.names;
    if (this.dataplaneNetns !== undefined) nsExec(this.dataplaneNetns, ['ip', 'link', 'del', n.port], { ignoreError: true });
    else ip(['link', 'del', n.port], { ignoreError: true });
    delNetns(n.netns);
  }
}
