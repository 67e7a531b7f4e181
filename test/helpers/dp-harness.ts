/**
 * An in-memory data plane for unit tests: a Topology from YAML text, a
 * PacketBatch, and a Dataplane whose instances sit on port ids 0..n-1 (in
 * config order). Frames go in with vnet headers (zeros) like the addon's.
 */
import { parseConfig } from '../../src/control/config.js';
import type { VpcConfig } from '../../src/control/config-types.js';
import { Topology } from '../../src/control/topology.js';
import { compileSnapshot, type CompiledPolicy } from '../../src/control/compile.js';
import { Conntrack } from '../../src/conntrack/conntrack.js';
import { SecurityStage } from '../../src/conntrack/sg-stage.js';
import { FlowLogTable } from '../../src/pipeline/flowlog-table.js';
import { PacketBatch, VNET_HDR_LEN } from '../../src/pipeline/batch.js';
import { Counters } from '../../src/pipeline/counters.js';
import { Dataplane, PortRole } from '../../src/pipeline/dataplane.js';
import { NatGatewayState } from '../../src/nat/nat-gateway.js';

export interface TxFrame {
  port: number;
  /** The Ethernet frame, without the vnet header. */
  frame: Buffer;
}

export class Harness {
  readonly cfg: VpcConfig;
  readonly topo: Topology;
  readonly batch: PacketBatch;
  readonly counters = new Counters();
  readonly dp: Dataplane;
  policy: CompiledPolicy | undefined;
  security: SecurityStage | undefined;
  ct: Conntrack | undefined;
  flowLog: FlowLogTable | undefined;
  now = 1_000;

  /** opts.security: run NACLs, security groups and conntrack (compiled from the same config). */
  /** Port id of the internet uplink (opts.uplink), after the instances' ports; -1 without. */
  readonly uplinkPort: number = -1;
  /** The MAC vpcd uses on the uplink (opts.uplink). */
  readonly uplinkMac = Buffer.from([0x02, 0x76, 0x75, 0x70, 0x6c, 0x6b]);

  /**
   * opts.security: run NACLs, security groups and conntrack (compiled from the same config).
   * opts.scratchSize: bytes per scratch slot (frames the data plane builds or releases; default 2048).
   * opts.uplink: attach the internet uplink (port after the instances), the NAT gateways' state as
   * the daemon builds it, and resolve each internet address in opts.neighbors to `neighborMac`.
   */
  constructor(yaml: string, opts: { slots?: number; security?: boolean; flowLogs?: boolean; uplink?: boolean; neighbors?: string[]; neighborMac?: Buffer; slotSize?: number; scratchSize?: number } = {}) {
    const slots = opts.slots ?? 32;
    this.cfg = parseConfig(yaml, 'test.yaml');
    if (opts.security) {
      this.policy = compileSnapshot(this.cfg, 1);
      this.topo = this.policy.topology;
    } else {
      this.topo = new Topology(this.cfg, 1);
    }
    this.batch = new PacketBatch(slots, opts.slotSize ?? 4096, slots * 4, opts.scratchSize ?? 2048);
    this.dp = new Dataplane(this.topo, this.counters);
    this.topo.instanceNames.forEach((_, i) => this.dp.attachInstance(i, i, true));
    if (this.policy) {
      this.ct = new Conntrack(this.cfg.conntrack, 1234);
      this.ct.setAllowances(this.topo.instanceNames.map((n) => this.cfg.instances.get(n)?.conntrackAllowance ?? 0));
      this.security = new SecurityStage(this.policy, this.ct);
      this.dp.security = this.security;
      if (opts.flowLogs) {
        // The daemon's flow-log ENIs: the instances, then the NAT gateways.
        this.flowLog = new FlowLogTable({ enis: this.topo.instanceNames.length + this.topo.natNames.length, recordsPerEni: 1024 });
        this.security.flowLog = this.flowLog;
      }
    }
    if (opts.uplink) {
      const n = this.topo.instanceNames.length;
      this.uplinkPort = n;
      this.dp.attachPort(n, PortRole.Uplink, 0, true);
      this.dp.uplinkPort = n;
      this.dp.uplinkMac.set(this.uplinkMac);
      const g = this.cfg.internetGateway;
      const ip4 = (t?: string) => (t ? t.split('.').reduce((a, x) => (a << 8) | Number(x), 0) | 0 : 0);
      this.dp.legs.igw.configure(ip4(g?.uplinkIp), ip4(g?.uplinkGateway), g?.uplinkBlock?.addr ?? 0, g?.uplinkBlock?.prefix ?? 0);
      const topo = this.topo;
      this.dp.nats = topo.natNames.map((name, i) => {
        const g = this.cfg.natGateways.get(name)!;
        return new NatGatewayState(name, { ip: topo.natIp[i], publicIp: topo.natPublicIp[i], subnet: topo.natSubnet[i], isPublic: topo.natPublic[i] === 1,
          maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout, maxSessions: 1024 });
      });
      const mac = opts.neighborMac ?? Buffer.from([0x02, 0, 0, 0, 0, 0x99]);
      for (const ip of opts.neighbors ?? []) {
        const a = ip.split('.').map(Number);
        const u = ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) | 0;
        this.dp.neighbors.shouldRequest(u, 0);
        this.dp.neighbors.learn(u, mac, 0);
      }
    }
  }

  /** Applies a new configuration as SIGHUP does (same instances, same ports). */
  reload(yaml: string): void {
    const cfg = parseConfig(yaml, 'test.yaml');
    const p = compileSnapshot(cfg, (this.policy?.epoch ?? 1) + 1);
    this.policy = p;
    this.dp.setTopology(p.topology);
    p.topology.instanceNames.forEach((_, i) => this.dp.attachInstance(i, i, true));
    this.security!.setPolicy(p);
  }

  port(instance: string): number {
    const i = this.topo.instanceNames.indexOf(instance);
    if (i < 0) throw new Error(`no instance ${instance}`);
    return i;
  }

  /** Runs frames (each received on a port) as one batch; returns what was queued for tx. */
  /** `vnet`: the frame's 10-byte virtio-net header (zeros when absent), e.g. a GSO super-frame's. */
  run(frames: { port: number; frame: Uint8Array; vnet?: Uint8Array }[]): TxFrame[] {
    const b = this.batch;
    b.reset();
    frames.forEach((f, i) => {
      const off = i * b.slotSize;
      b.arena.fill(0, off, off + VNET_HDR_LEN);
      if (f.vnet !== undefined) b.arena.set(f.vnet.subarray(0, VNET_HDR_LEN), off);
      b.arena.set(f.frame, off + VNET_HDR_LEN);
      b.rxPort[i] = f.port;
      b.rxOff[i] = off;
      b.rxLen[i] = f.frame.length + VNET_HDR_LEN;
    });
    b.count = frames.length;
    this.dp.processBatch(b, this.now);
    const out: TxFrame[] = [];
    for (let t = 0; t < b.txCount; t++) {
      const off = b.txOff[t] + VNET_HDR_LEN;
      out.push({ port: b.txPort[t], frame: Buffer.from(b.arena.subarray(off, b.txOff[t] + b.txLen[t])) });
    }
    return out;
  }

  drops(reason: number): number {
    return this.counters.drops[reason];
  }
}
