/**
 * The data plane under fuzz: the test Harness (security groups, NACLs,
 * conntrack, flow logs) plus what `vpcd run` adds around it (src/daemon.ts):
 * an uplink port with the internet gateway's MAC and address, NAT gateway
 * states, and the VPN path with ESP SAs installed on both tunnels of one
 * connection. The ESP keys are fixed test keys; a mirrored "peer" engine
 * encrypts what the customer gateway would send and decrypts what vpcd sends,
 * so real ESP-in-UDP reaches the decrypt path without an IKE exchange.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness } from '../helpers/dp-harness.js';
import { PacketBatch } from '../../src/pipeline/batch.js';
import { PortRole } from '../../src/pipeline/dataplane.js';
import { NatGatewayState } from '../../src/nat/nat-gateway.js';
import { VpnPath } from '../../src/vpn/vpn-path.js';
import { createTunnelCrypto, type BoundTunnelCrypto } from '../../src/vpn/crypto.js';
import { EspTunnelCrypto } from '../../src/ipsec/tunnel-crypto.js';
import type { ChildSa } from '../../src/ipsec/sa-types.js';
import type { FlowLogTable } from '../../src/pipeline/flowlog-table.js';
import { derivedMac, instanceMac, routerMac } from '../../src/lab/names.js';
import { ipToU32, parseMac } from '../../src/wire/addr.js';

export const FUZZ_YAML = `
vpc: { name: fz, cidr: 198.18.0.0/16, accountId: "123456789012" }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: pub-nacl }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
  iso: { cidr: 198.18.3.0/28 }
networkAcls:
  pub-nacl:
    inbound:
      - { rule: 90, action: deny, protocol: all, cidr: 203.0.113.66/32 }
      - { rule: 100, action: allow, protocol: tcp, ports: 1-65535, cidr: 0.0.0.0/0 }
      - { rule: 110, action: allow, protocol: udp, ports: 1-65535, cidr: 0.0.0.0/0 }
      - { rule: 120, action: allow, protocol: icmp, cidr: 0.0.0.0/0 }
      - { rule: 130, action: allow, protocol: all, cidr: 198.18.0.0/15 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 80, cidr: 0.0.0.0/0 }
      - { protocol: tcp, ports: 443, cidr: 0.0.0.0/0 }
      - { protocol: udp, ports: 1000-2000, cidr: 0.0.0.0/0 }
      - { protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 }
      - { protocol: all, cidr: 198.18.0.0/16 }
  app:
    ingress:
      - { protocol: all, cidr: 198.18.0.0/16 }
      - { protocol: all, cidr: 198.19.0.0/16 }
  box:
    ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ]
instances:
  web-1: { subnet: pub, ip: 198.18.1.10, publicIp: 203.0.113.10, securityGroups: [web] }
  web-2: { subnet: pub, ip: 198.18.1.11, publicIp: 203.0.113.11, securityGroups: [web, default] }
  box-1: { subnet: pub, ip: 198.18.1.12, securityGroups: [box], sourceDestCheck: false }
  app-1: { subnet: priv, ip: 198.18.2.20, securityGroups: [app] }
  app-2: { subnet: priv, ip: 198.18.2.21, securityGroups: [app] }
  iso-1: { subnet: iso, ip: 198.18.3.4 }
internetGateway: { name: igw, uplinkIp: 203.0.113.2 }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: 203.0.113.5 }
  nat-p: { subnet: priv, type: private, ip: 198.18.2.5 }
routeTables:
  public:
    routes:
      - { destination: 0.0.0.0/0, target: igw }
      - { destination: 198.19.0.0/16, target: vgw }
  private:
    routes:
      - { destination: 0.0.0.0/0, target: nat-a }
      - { destination: 198.19.0.0/16, target: vgw }
      - { destination: 198.51.100.128/25, target: box-1 }
      - { destination: 203.0.113.128/25, target: nat-p }
vpnGateway: { name: vgw, asn: 64512 }
vpnConnections:
  to-onprem:
    role: vgw
    remoteNetworks: [198.19.0.0/16]
    localNetworks: [198.18.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels:
      - { peer: 198.51.100.20, local: 198.51.100.1, insideCidr: 169.254.10.0/30 }
      - { peer: 198.51.100.20, local: 198.51.100.9, insideCidr: 169.254.11.0/30 }
conntrack:
  max: 16384
  timeouts: { tcpEstablished: 600, tcp: 60, udp: 30, udpStream: 180, icmp: 60, other: 600 }
flowLogs: { path: /tmp/vpcd-fuzz-flows.log, aggregationInterval: 60 }
`;

/** Port ids: instances 0..5 (config order, as the Harness attaches them), then the uplink. */
export const UPLINK_PORT = 6;

export const ADDR = {
  web1: ipToU32('198.18.1.10'), web2: ipToU32('198.18.1.11'), box1: ipToU32('198.18.1.12'),
  app1: ipToU32('198.18.2.20'), app2: ipToU32('198.18.2.21'), iso1: ipToU32('198.18.3.4'),
  web1Pub: ipToU32('203.0.113.10'), web2Pub: ipToU32('203.0.113.11'),
  natA: ipToU32('198.18.1.5'), natAPub: ipToU32('203.0.113.5'), natP: ipToU32('198.18.2.5'),
  uplinkIp: ipToU32('203.0.113.2'),
  wan1: ipToU32('198.51.100.1'), wan2: ipToU32('198.51.100.9'), peer: ipToU32('198.51.100.20'),
  routerPub: ipToU32('198.18.1.1'), routerPriv: ipToU32('198.18.2.1'), routerIso: ipToU32('198.18.3.1'),
} as const;

/** Per instance port: its address, its MAC and its subnet router's MAC. */
export interface PortInfo {
  readonly ip: number;
  readonly mac: Uint8Array;
  readonly routerMac: Uint8Array;
  readonly routerIp: number;
}

export interface Plane {
  readonly h: Harness;
  readonly batch: PacketBatch;
  readonly ports: readonly PortInfo[];
  readonly uplinkMac: Uint8Array;
  readonly vpn: VpnPath;
  readonly crypto: BoundTunnelCrypto;
  /** The customer gateway's ESP engine: slot t mirrors our tunnel t. */
  readonly peerCrypto: EspTunnelCrypto;
  /** Drains the interval's flow-log records (as the writer does at an interval's end), counting them. */
  readonly flowWriter: { records: number; flush(t: FlowLogTable): void };
  readonly flowDir: string;
  close(): void;
}

function keyBytes(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

function childSa(tunnel: number, local: number, peer: number): ChildSa {
  const ts = (a: string, b: string) => [{ ipProtocol: 0, startAddr: ipToU32(a), endAddr: ipToU32(b), startPort: 0, endPort: 65535 }];
  return {
    connection: 'to-onprem', tunnel, id: tunnel + 1,
    spiIn: (0xc0000100 + tunnel) >>> 0, spiOut: (0x50000100 + tunnel) >>> 0,
    algorithm: 'aes256gcm16',
    encKeyIn: keyBytes(1 + tunnel, 32), encKeyOut: keyBytes(11 + tunnel, 32),
    saltIn: keyBytes(21 + tunnel, 4), saltOut: keyBytes(31 + tunnel, 4),
    integKeyIn: new Uint8Array(0), integKeyOut: new Uint8Array(0),
    icvLen: 16, esn: false, replayWindow: 1024,
    localTs: ts('198.18.0.0', '198.18.255.255'), remoteTs: ts('198.19.0.0', '198.19.255.255'),
    local: { addr: local, port: 4500 }, peer: { addr: peer, port: 4500 },
    encap: true, tunnelMode: true, lifetimeSec: 3600, installedMs: 0,
  };
}

/** The same SA seen from the customer gateway. */
export function mirrorSa(sa: ChildSa): ChildSa {
  return {
    ...sa, spiIn: sa.spiOut, spiOut: sa.spiIn, encKeyIn: sa.encKeyOut, encKeyOut: sa.encKeyIn,
    saltIn: sa.saltOut, saltOut: sa.saltIn, integKeyIn: sa.integKeyOut, integKeyOut: sa.integKeyIn,
    localTs: sa.remoteTs, remoteTs: sa.localTs, local: sa.peer, peer: sa.local,
  };
}

export const SLOTS = 64;

export function buildPlane(): Plane {
  const h = new Harness(FUZZ_YAML, { security: true, flowLogs: true });
  const cfg = h.cfg;
  const topo = h.topo;
  const dp = h.dp;
  // The daemon's batch geometry (PacketBatch defaults), not the Harness's small one.
  const batch = new PacketBatch(SLOTS);
  // uplink, as Daemon.attachAll does
  const uplinkMac = parseMac(derivedMac(`uplink/${cfg.vpc.name}`));
  dp.attachPort(UPLINK_PORT, PortRole.Uplink, 0, true);
  dp.uplinkPort = UPLINK_PORT;
  dp.uplinkMac.set(uplinkMac);
  dp.uplinkIp = ipToU32(cfg.internetGateway!.uplinkIp!) | 0;
  // NAT gateways, as Daemon.syncNatGateways does
  dp.nats = topo.natNames.map((name, i) => {
    const g = cfg.natGateways.get(name)!;
    return new NatGatewayState(name, {
      ip: topo.natIp[i]!, publicIp: topo.natPublicIp[i]!, subnet: topo.natSubnet[i]!, isPublic: topo.natPublic[i] === 1,
      maxPerDestination: g.maxConnectionsPerDestination, idleTimeout: g.idleTimeout,
      maxSessions: Math.max(1024, Math.min(cfg.conntrack.max, 1 << 20)),
    });
  });
  // VPN, as Daemon.startVpn does, with SAs installed directly
  const vpn = new VpnPath(cfg);
  const crypto = createTunnelCrypto(vpn);
  vpn.crypto = crypto;
  dp.vpn = vpn;
  const peerCrypto = new EspTunnelCrypto(vpn.tunConn.length);
  for (let t = 0; t < vpn.tunConn.length; t++) {
    const sa = childSa(t, vpn.tunLocal[t]! >>> 0, vpn.tunPeer[t]! >>> 0);
    crypto.install(t, sa);
    peerCrypto.install(t, mirrorSa(sa));
    vpn.tunUp[t] = 1;
  }
  const ports: PortInfo[] = topo.instanceNames.map((name, i) => {
    const inst = cfg.instances.get(name)!;
    const subnet = topo.instSubnet[i]!;
    return {
      ip: topo.instIp[i]! >>> 0,
      mac: parseMac(instanceMac(cfg.vpc.name, name)),
      routerMac: parseMac(routerMac(cfg.vpc.name, inst.subnet)),
      routerIp: topo.subnetRouterIp[subnet]! >>> 0,
    };
  });
  const flowDir = mkdtempSync(join(tmpdir(), 'vpcd-fuzz-'));
  const flowWriter = {
    records: 0,
    flush(t: FlowLogTable): void {
      t.drain(() => { flowWriter.records++; });
    },
  };
  return {
    h, batch, ports, uplinkMac, vpn, crypto, peerCrypto, flowWriter, flowDir,
    close: () => rmSync(flowDir, { recursive: true, force: true }),
  };
}
