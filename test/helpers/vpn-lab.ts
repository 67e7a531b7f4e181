/**
 * Multi-site VPN test beds: a VPC site (vpcd as the VPN gateway, role vgw)
 * and on-premises sites (vpcd as customer gateways, role cgw) joined by one
 * shared lab internet, each with its own daemon.
 */
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { DaemonProc, randomPort, vpcd, writeTemp } from './netns.js';

export interface Site {
  readonly name: string;
  readonly config: string;
  readonly port: number;
  daemon?: DaemonProc;
}

export interface SpokeSpec {
  /** e.g. 198.19.0.0/20 */
  readonly cidr: string;
  /** e.g. 198.19.1.0/24 */
  readonly subnet: string;
  /** e.g. 198.19.1.10 */
  readonly host: string;
  /** WAN address, e.g. 198.51.100.2 */
  readonly wan: string;
  /** Extra remote networks reached through the hub (CloudHub). */
  readonly viaHub?: readonly string[];
  readonly splitTunnel?: boolean;
  /** Internet access of the site (split tunnel: its own IGW). */
  readonly publicIp?: string;
  readonly psk?: string;
  readonly lifetimes?: { ike: number; esp: number; dpd: number };
  readonly proposals?: { ike: string; esp: string };
}

export interface HubSpec {
  readonly tunnels: readonly { local: string }[];
  readonly lifetimes?: { ike: number; esp: number; dpd: number };
  readonly proposals?: { ike: string; esp: string };
}

function lifetimeYaml(l?: { ike: number; esp: number; dpd: number }): string {
  if (!l) return '';
  return `    allowShortLifetimes: true
    ike: { proposals: [__IKE__], lifetime: ${l.ike}, dpdTimeout: ${l.dpd} }
    esp: { proposals: [__ESP__], lifetime: ${l.esp} }
`;
}

function withProposals(y: string, p?: { ike: string; esp: string }): string {
  return y.replace('__IKE__', p?.ike ?? 'aes256gcm16-prfsha256-ecp256').replace('__ESP__', p?.esp ?? 'aes256gcm16-ecp256');
}

/** The VPC site: 198.18.0.0/16 with one server, a VGW with one connection per spoke. */
export function hubConfig(prefix: string, internet: string, port: number, hub: HubSpec, spokes: readonly SpokeSpec[]): string {
  const conns = spokes.map((s, i) => {
    const locals = [s.cidr, ...(s.viaHub ?? [])];
    void locals;
    const otherSpokes = spokes.filter((_, j) => j !== i).map((o) => o.cidr);
    let y = `  to-site${i}:
    role: vgw
    remoteNetworks: [${s.cidr}]
    localNetworks: [198.18.0.0/16${otherSpokes.length ? `, ${otherSpokes.join(', ')}` : ''}]
    auth: { psk: { env: VPN_PSK_${i} } }
    tunnels:
${hub.tunnels.map((t) => `      - { peer: ${s.wan}, local: ${t.local}, insideCidr: 169.254.${10 + i * 2 + hub.tunnels.indexOf(t)}.0/30 }`).join('\n')}
`;
    y += withProposals(lifetimeYaml(hub.lifetimes), hub.proposals);
    return y;
  }).join('');
  return `
vpc: { name: ${prefix}h, cidr: 198.18.0.0/16 }
subnets:
  app: { cidr: 198.18.1.0/24, routeTable: rt }
securityGroups:
  app: { ingress: [ { protocol: all, cidr: 198.19.0.0/16 } ] }
instances:
  srv: { subnet: app, ip: 198.18.1.10, securityGroups: [app] }
routeTables:
  rt: { routes: [ { destination: 198.19.0.0/16, target: vgw } ] }
vpnGateway: { name: vgw, asn: 64512 }
vpnConnections:
${conns}
metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix}h, internet: ${internet} }
`;
}

/** An on-premises site with one host, vpcd as its customer gateway. */
export function spokeConfig(prefix: string, idx: number, internet: string, port: number, hub: HubSpec, s: SpokeSpec): string {
  const remote = ['198.18.0.0/16', ...(s.viaHub ?? [])];
  const split = s.splitTunnel ?? true;
  const routes = split
    ? remote.map((r) => `      - { destination: ${r}, target: vgw }`).concat(s.publicIp ? ['      - { destination: 0.0.0.0/0, target: igw }'] : [])
    : ['      - { destination: 0.0.0.0/0, target: vgw }'];
  let y = `
vpc: { name: ${prefix}s${idx}, cidr: ${s.cidr} }
subnets:
  lan: { cidr: ${s.subnet}, routeTable: rt }
securityGroups:
  lan: { ingress: [ { protocol: all, cidr: 198.18.0.0/15 } ] }
instances:
  host: { subnet: lan, ip: ${s.host}, securityGroups: [lan]${s.publicIp ? `, publicIp: ${s.publicIp}` : ''} }
routeTables:
  rt:
    routes:
${routes.join('\n')}
${s.publicIp ? 'internetGateway: { name: igw }\n' : ''}customerGateway: { name: cgw, asn: ${65000 + idx}, wan: { ip: ${s.wan} } }
vpnConnections:
  to-aws:
    role: cgw
    splitTunnel: ${split}
    remoteNetworks: [${remote.join(', ')}]
    localNetworks: [${s.cidr}]
    auth: { psk: { env: VPN_PSK } }
    tunnels:
${hub.tunnels.map((t, k) => `      - { peer: ${t.local}, insideCidr: 169.254.${10 + idx * 2 + k}.0/30 }`).join('\n')}
`;
  y += withProposals(lifetimeYaml(s.lifetimes), s.proposals);
  y += `metrics: { listen: "127.0.0.1:${port}" }
lab: { prefix: ${prefix}s${idx}, internet: ${internet} }
`;
  return y;
}

export class VpnLab {
  readonly sites: Site[] = [];
  readonly env: Record<string, string> = {};

  constructor(readonly prefix: string) {}

  add(name: string, yaml: string, port: number): Site {
    const config = writeTemp(`${name}.yaml`, yaml);
    const s: Site = { name, config, port };
    this.sites.push(s);
    return s;
  }

  rewrite(site: Site, yaml: string): void {
    writeFileSync(site.config, yaml);
  }

  up(): void {
    for (const s of this.sites) {
      const r = vpcd(['lab', 'up', s.config]);
      if (r.code !== 0) throw new Error(`lab up ${s.name}: ${r.stderr}`);
    }
  }

  async start(site: Site, env: Record<string, string>): Promise<DaemonProc> {
    const d = new DaemonProc(site.config, { ...this.env, ...env });
    site.daemon = d;
    await d.started();
    return d;
  }

  async down(): Promise<void> {
    for (const s of this.sites) await s.daemon?.stop();
    for (const s of [...this.sites].reverse()) vpcd(['lab', 'down', s.config]);
  }

  dir(site: Site): string {
    return dirname(site.config);
  }

  path(site: Site, f: string): string {
    return join(dirname(site.config), f);
  }
}

export { randomPort };
