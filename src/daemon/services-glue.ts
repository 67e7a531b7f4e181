/**
 * The daemon's side of the VPC services: the service plane (namespace, veth,
 * supervised server: services/plane.ts) made at start and removed at stop;
 * the service port attached to the data plane after every snapshot swap; the
 * snapshot sent again at every reload; DHCP messages the data plane punted
 * answered between batches (services/dhcp.ts) and sent on the ENI's port.
 */
import type { Logger } from 'pino';
import type { VpcConfig } from '../control/config-types.js';
import type { Topology } from '../control/topology.js';
import { netnsPath, type NativeIoEngine } from '../io/native.js';
import { parseMac } from '../wire/addr.js';
import { DropReason, type PacketBatch } from '../pipeline/batch.js';
import type { Counters } from '../pipeline/counters.js';
import { PortRole, type Dataplane } from '../pipeline/dataplane.js';
import { takeFrame, vnetLen, writeUdp } from '../pipeline/frames.js';
import { DHCP_PUNT_MAX } from '../pipeline/service-path.js';
import { answerDhcp } from '../services/dhcp.js';
import { DhcpType, parseDhcp } from '../services/dhcp-codec.js';
import { ServicePlane } from '../services/plane.js';
import { buildServiceSnapshot, type ServiceSnapshot } from '../services/snapshot.js';
import { udpTcpUpstream } from '../services/dns/upstream.js';

/** How long the daemon waits for one upstream resolver before trying the next. */
const UPSTREAM_TIMEOUT_MS = 2_000;
import type { FaultGuard } from './guard.js';

const DHCP_TYPE_NAMES = ['', 'discover', 'offer', 'request', 'decline', 'ack', 'nak', 'release', 'inform'];

export class ServicesGlue {
  readonly plane: ServicePlane;
  private snap: ServiceSnapshot;
  private portId = -1;
  private vnet = true;
  /** DHCP messages by type (received and sent) and malformed ones. */
  readonly dhcpMessages = new Map<string, number>();
  dhcpMalformed = 0;
  /** Link-local allowance drops of instances no longer at the same index, by name. */
  private readonly allowanceBase = new Map<string, number>();
  private names: readonly string[] = [];
  private started = false;
  private made = false;
  private upstreamKey = '';

  constructor(configPath: string, cfg: VpcConfig, epoch: number, private readonly dp: Dataplane, private readonly counters: Counters,
    private readonly log: Logger, private readonly guard: FaultGuard) {
    this.plane = new ServicePlane(configPath, cfg.dataplane.netns, cfg.dataplane.vnetHeader, log);
    this.snap = buildServiceSnapshot(cfg, epoch);
    this.setUpstreams(cfg);
  }

  /** The forwarder for Amazon DNS: dns.upstreams, asked from the daemon's own namespace. */
  private setUpstreams(cfg: VpcConfig): void {
    const ups = cfg.dns?.upstreams ?? [];
    const key = JSON.stringify(ups);
    if (key === this.upstreamKey) return;
    this.upstreamKey = key;
    this.plane.forwarder = ups.length > 0 ? udpTcpUpstream(ups, UPSTREAM_TIMEOUT_MS) : null;
  }

  /** Makes the namespace and the veth (before the event loop matters: a dozen `ip` commands). Throws with the failing command. */
  setup(): void {
    this.plane.setup(this.snap);
    this.made = true;
  }

  /** Opens the service port and starts the server (after setup()). Throws when the port cannot be opened. */
  async start(engine: NativeIoEngine, cfg: VpcConfig, topo: Topology): Promise<void> {
    if (!this.made) return;
    this.vnet = cfg.dataplane.vnetHeader;
    this.portId = engine.addPacketPort(this.plane.names.port, netnsPath(cfg.dataplane.netns), this.vnet);
    const sp = this.dp.legs.services;
    sp.serviceMac.set(parseMac(this.plane.names.serviceMac));
    sp.portMac.set(parseMac(this.plane.names.portMac));
    this.attach(topo);
    this.started = true;
    await this.plane.start(this.snap);
  }

  /** After every snapshot swap (the port table was reset with a new topology). */
  attach(topo: Topology): void {
    const sp = this.dp.legs.services;
    sp.dnsEnabled = this.snap.enableDnsSupport;
    if (this.portId < 0) return;
    this.dp.attachPort(this.portId, PortRole.Service, 0, this.vnet);
    sp.port = this.portId;
    this.names = topo.instanceNames;
  }

  /** Before a snapshot with another topology is swapped in: allowance drops keep their instance's name. */
  foldAllowance(): void {
    const d = this.dp.legs.services.allowanceDrops;
    this.names.forEach((n, i) => {
      if (d[i]! > 0) this.allowanceBase.set(n, (this.allowanceBase.get(n) ?? 0) + d[i]!);
      d[i] = 0;
    });
  }

  /** A reload: the new snapshot for the server and the DHCP responder. */
  reconfigure(cfg: VpcConfig, epoch: number, topo: Topology): void {
    this.snap = buildServiceSnapshot(cfg, epoch);
    this.setUpstreams(cfg);
    this.attach(topo);
    if (this.started) this.guard.run('services-reload', () => this.plane.configure(this.snap));
  }

  /** Link-local allowance drops by instance name. */
  allowanceDrops(): Map<string, number> {
    const m = new Map(this.allowanceBase);
    const d = this.dp.legs.services.allowanceDrops;
    this.names.forEach((n, i) => m.set(n, (m.get(n) ?? 0) + d[i]!));
    return m;
  }

  private countDhcp(type: number, dir: 'in' | 'out'): void {
    const k = `${DHCP_TYPE_NAMES[type] ?? 'other'}\0${dir}`;
    this.dhcpMessages.set(k, (this.dhcpMessages.get(k) ?? 0) + 1);
  }

  /** Answers the DHCP messages punted during the last batch; `b` is free (reset) and is reset again after. */
  drainDhcp(engine: NativeIoEngine, b: PacketBatch): void {
    const sp = this.dp.legs.services;
    const n = sp.dhcpCount;
    if (n === 0) return;
    sp.dhcpCount = 0;
    const topo = this.dp.topo, ports = this.dp.ports;
    try {
      for (let i = 0; i < n; i++) {
        const inst = sp.dhcpInst[i]!;
        const msg = parseDhcp(sp.dhcpBuf.subarray(i * DHCP_PUNT_MAX, i * DHCP_PUNT_MAX + sp.dhcpLen[i]!));
        if (typeof msg === 'string') {
          this.dhcpMalformed++;
          this.counters.drops[DropReason.Malformed]++;
          continue;
        }
        this.countDhcp(msg.type, 'in');
        const name = topo.instanceNames[inst];
        const si = this.snap.instances.find((x) => x.name === name);
        const port = ports.instPort[inst] ?? -1;
        if (si === undefined || port < 0) continue;
        const a = answerDhcp(msg, si, this.snap);
        if (a === undefined) continue;
        const s = takeFrame(b, ports, port);
        if (s < 0) break;
        const e = s + vnetLen(ports, port);
        const out = b.arena;
        const sub = topo.instSubnet[inst]!;
        for (let k = 0; k < 6; k++) {
          out[e + k] = a.l2Broadcast ? 0xff : a.chaddr[k]!;
          out[e + 6 + k] = topo.subnetRouterMac[sub * 6 + k]!;
        }
        out[e + 12] = 0x08;
        out[e + 13] = 0x00;
        const ipLen = writeUdp(out, e + 14, 0, a.serverIp | 0, 67, a.dstIp | 0, 68, a.payload);
        ports.queue(b, port, s, e + 14 + ipLen - s);
        this.countDhcp(a.type, 'out');
        if (a.type === DhcpType.Ack && msg.type === DhcpType.Request) {
          this.log.debug({ event: 'dhcp-ack', instance: name, ip: si.ip }, 'DHCP lease');
        }
      }
      if (b.txCount > 0) {
        const sent = engine.tx(b.txCount);
        if (sent < b.txCount) this.counters.drops[DropReason.TxError] += b.txCount - sent;
      }
    } finally {
      b.reset();
    }
  }

  async stop(engine: NativeIoEngine | undefined): Promise<void> {
    this.started = false;
    if (this.portId >= 0 && engine) this.guard.run('stop', () => engine.closePort(this.portId));
    this.portId = -1;
    this.dp.legs.services.port = -1;
    await this.plane.stop();
  }
}
