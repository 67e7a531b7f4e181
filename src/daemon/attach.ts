/**
 * The interfaces vpcd owns and how the router sees them, in two steps for
 * start and reload: prepare() opens what a snapshot needs and is not open yet
 * (and builds the state of new NAT gateways); commit() closes what is no
 * longer wanted and wires the router to the snapshot. If prepare() fails,
 * nothing running was touched; abort() closes what it opened.
 */
import type { VpcConfig } from '../control/config-types.js';
import type { Topology } from '../control/topology.js';
import type { NativeIoEngine } from '../io/native.js';
import { netnsPath } from '../io/native.js';
import { derivedMac, labUplinkIfName } from '../lab/names.js';
import { parseCidr4 } from '../lib/ipv4.js';
import { ipToU32, parseMac } from '../wire/addr.js';
import { NatGatewayState } from '../nat/nat-gateway.js';
import type { Counters } from '../pipeline/counters.js';
import { PortRole, type Dataplane } from '../pipeline/dataplane.js';
import type { FaultGuard } from './guard.js';

/** The interface vpcd owns towards the outside: IGW uplink and/or VPN WAN. */
export function uplinkInterface(cfg: VpcConfig): string | undefined {
  return cfg.internetGateway?.interface ?? cfg.customerGateway?.wan.interface ??
    (cfg.vpnConnections.size > 0 ? labUplinkIfName(cfg.lab.prefix) : undefined);
}

export interface AttachedPort {
  readonly id: number;
  readonly ifname: string;
  readonly vnet: boolean;
}

export interface AttachPlan {
  readonly wanted: ReadonlySet<string>;
  /** Ports opened by prepare (not in use yet). */
  readonly opened: readonly AttachedPort[];
  /** State of NAT gateways the running snapshot does not have. */
  readonly newNats: ReadonlyMap<string, NatGatewayState>;
}

export class Attachments {
  /** Open ports by interface name. */
  readonly ports = new Map<string, AttachedPort>();
  /** NAT gateway state by name survives reloads (its sessions are its connections). */
  private readonly natByName = new Map<string, NatGatewayState>();

  constructor(private readonly dp: Dataplane, private readonly counters: Counters, private readonly guard: FaultGuard) {}

  /** Opens the ports `cfg` needs that are not open. Throws the addon's IoError (after closing what it opened). */
  prepare(engine: NativeIoEngine, cfg: VpcConfig, topo: Topology): AttachPlan {
    const ns = netnsPath(cfg.dataplane.netns);
    const wanted = new Set(topo.instanceIfNames);
    const uplink = uplinkInterface(cfg);
    if (uplink) wanted.add(uplink);
    const dx = cfg.vpnGateway?.directConnect ?? cfg.customerGateway?.directConnect;
    if (dx) wanted.add(dx.interface);
    const opened: AttachedPort[] = [];
    try {
      for (const ifname of wanted) {
        if (this.ports.has(ifname)) continue;
        const vnet = cfg.dataplane.vnetHeader;
        opened.push({ id: engine.addPacketPort(ifname, ns, vnet), ifname, vnet });
      }
    } catch (e) {
      for (const p of opened) engine.closePort(p.id);
      throw e;
    }
    const newNats = new Map<string, NatGatewayState>();
    try {
      topo.natNames.forEach((name, i) => {
        if (this.natByName.has(name)) return;
        const g = cfg.natGateways.get(name)!;
        newNats.set(name, new NatGatewayState(name, {
          ip: topo.natIp[i]!, publicIp: topo.natPublicIp[i]!, subnet: topo.natSubnet[i]!, isPublic: topo.natPublic[i] === 1,
          maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout,
          maxSessions: Math.max(1024, Math.min(cfg.conntrack.max, 1 << 20)),
        }));
      });
    } catch (e) {
      for (const p of opened) engine.closePort(p.id);
      throw e;
    }
    return { wanted, opened, newNats };
  }

  abort(engine: NativeIoEngine, plan: AttachPlan): void {
    for (const p of plan.opened) this.guard.run('reload-abort', () => engine.closePort(p.id));
  }

  /**
   * The NAT gateways of the new snapshot: each keeps its state (its sessions
   * are its connections) across reloads; new ones come from the plan.
   */
  natsFor(cfg: VpcConfig, topo: Topology, plan: AttachPlan): NatGatewayState[] {
    const next: NatGatewayState[] = [];
    topo.natNames.forEach((name, i) => {
      let st = this.natByName.get(name);
      const g = cfg.natGateways.get(name)!;
      if (st) {
        st.update({ ip: topo.natIp[i]!, publicIp: topo.natPublicIp[i]!, subnet: topo.natSubnet[i]!, isPublic: topo.natPublic[i] === 1,
          maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout });
      } else {
        st = plan.newNats.get(name)!;
        this.natByName.set(name, st);
      }
      next.push(st);
    });
    for (const name of [...this.natByName.keys()]) if (!cfg.natGateways.has(name)) this.natByName.delete(name);
    return next;
  }

  /** Closes ports no longer wanted and attaches the ports of the snapshot the router now runs (Dataplane.setSnapshot first). */
  commit(engine: NativeIoEngine, cfg: VpcConfig, topo: Topology, plan: AttachPlan): void {
    for (const p of plan.opened) this.ports.set(p.ifname, p);
    for (const [ifname, p] of this.ports) {
      if (plan.wanted.has(ifname)) continue;
      this.ports.delete(ifname);
      this.counters.resetPort(p.id);
      // A close that fails leaves a socket nobody reads; the snapshot goes on.
      this.guard.run('port-close', () => engine.closePort(p.id));
    }
    const dp = this.dp;
    topo.instanceIfNames.forEach((ifname, inst) => {
      const p = this.ports.get(ifname)!;
      dp.attachInstance(p.id, inst, p.vnet);
    });
    dp.uplinkPort = -1;
    const uplink = uplinkInterface(cfg);
    if (uplink) {
      const p = this.ports.get(uplink)!;
      dp.attachPort(p.id, PortRole.Uplink, 0, p.vnet);
      dp.uplinkPort = p.id;
      dp.uplinkMac.set(parseMac(derivedMac(`uplink/${cfg.vpc.name}`)));
      // A router's uplink: destinations off the uplink's network go to its gateway (one neighbour entry).
      const g = cfg.internetGateway;
      dp.legs.igw.configure(g?.uplinkIp ? ipToU32(g.uplinkIp) : 0, g?.uplinkGateway ? ipToU32(g.uplinkGateway) : 0,
        g?.uplinkBlock?.addr ?? 0, g?.uplinkBlock?.prefix ?? 0);
    }
    dp.dxPort = -1;
    const dx = cfg.vpnGateway?.directConnect ?? cfg.customerGateway?.directConnect;
    if (dx) {
      const p = this.ports.get(dx.interface)!;
      dp.attachPort(p.id, PortRole.DirectConnect, 0, p.vnet);
      dp.dxPort = p.id;
      dp.dxMac.set(parseMac(derivedMac(`dx/${cfg.vpc.name}`)));
      dp.dxIp = ipToU32(dx.ip) | 0;
      dp.dxPeer = ipToU32(dx.peer) | 0;
      const nets = dx.remoteNetworks.map((n) => parseCidr4(n));
      dp.dxNetAddr = Uint32Array.from(nets.map((n) => n.net));
      dp.dxNetMask = Uint32Array.from(nets.map((n) => n.mask));
    }
  }
}
