/**
 * Small fixed cases of the agreement test: one configuration and one flow for
 * each kind of disagreement the random search found (test/unit/agreement/
 * FINDINGS.md names them by id). The agreement test runs them before the
 * random cases, through the same comparison, so each stays red until explain
 * and the packet path agree on it, and guards it afterwards.
 */
import type { FlowCase } from './agreement-flow.js';

export interface Reproducer {
  /** The finding's id in FINDINGS.md. */
  readonly id: string;
  readonly title: string;
  readonly yaml: string;
  readonly flow: FlowCase;
}

const VPC = 'vpc: { name: ag, cidr: 198.18.0.0/16 }\n';
const VPN = `vpnGateway: {}
vpnConnections:
  vpn0:
    role: vgw
    remoteNetworks: [198.19.0.0/16]
    auth: { psk: { env: VPN_PSK } }
    tunnels: [ { peer: 198.51.100.1, local: 198.51.100.2, insideCidr: 169.254.10.0/30 } ]
`;

type Proto = { proto: 6 | 17; sport: number; dport: number } | { proto: 1; icmpType: number; icmpCode: number } | { proto: 47 };

/** A flow sent by instance number `index` (file order). */
function fromInstance(index: number, src: string, dst: string, p: Proto, more: Partial<FlowCase> = {}): FlowCase {
  return { kind: 'i2i', origin: { at: 'instance', index }, src, dst, icmpId: 1, frag: 'none', ipId: 0x1234, ...p, ...more };
}

const TCP22 = { proto: 6, sport: 40000, dport: 22 } as const;

export const REPRODUCERS: readonly Reproducer[] = [
  {
    id: 'F1a',
    title: "through an appliance, the receiver's security group is not judged",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24, routeTable: via-m }
  s1: { cidr: 198.18.2.0/24 }
  s2: { cidr: 198.18.3.0/24 }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  closed: { ingress: [] }
instances:
  a: { subnet: s0, ip: 198.18.1.10, securityGroups: [open] }
  m: { subnet: s1, ip: 198.18.2.11, securityGroups: [open], sourceDestCheck: false }
  b: { subnet: s2, ip: 198.18.3.12, securityGroups: [closed] }
routeTables:
  via-m: { routes: [ { destination: 198.18.3.0/24, target: m } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.3.12', TCP22),
  },
  {
    id: 'F1b',
    title: "through an appliance, the appliance's own egress rules and its subnet's outbound NACL are not judged",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24, routeTable: via-m }
  s1: { cidr: 198.18.2.0/24, networkAcl: closed-out }
  s2: { cidr: 198.18.3.0/24 }
networkAcls:
  closed-out:
    inbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]
    outbound: []
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  a: { subnet: s0, ip: 198.18.1.10, securityGroups: [open] }
  m: { subnet: s1, ip: 198.18.2.11, securityGroups: [open], sourceDestCheck: false }
  b: { subnet: s2, ip: 198.18.3.12, securityGroups: [open] }
routeTables:
  via-m: { routes: [ { destination: 198.18.3.0/24, target: m } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.3.12', TCP22),
  },
  {
    id: 'F1c',
    title: "a reply through an appliance is judged with the appliance's tracking state instead of the replier's",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24, routeTable: via-m }
  s1: { cidr: 198.18.2.0/24 }
securityGroups:
  in-only: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ], egress: [] }
instances:
  a: { subnet: s0, ip: 198.18.1.10 }
  b: { subnet: s0, ip: 198.18.1.11, securityGroups: [in-only] }
  m: { subnet: s1, ip: 198.18.2.12, securityGroups: [in-only, default], sourceDestCheck: false }
routeTables:
  via-m: { routes: [ { destination: 198.18.1.0/24, target: m } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.1.11', TCP22),
  },
  {
    id: 'F2',
    title: 'an appliance forwarding into the VPN throws out of the packet path (cached NACL slot, subnet -1)',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24, routeTable: to-vpn }
  s1: { cidr: 198.18.2.0/24, routeTable: via-m }
instances:
  a: { subnet: s1, ip: 198.18.2.10 }
  m: { subnet: s0, ip: 198.18.1.12, sourceDestCheck: false }
${VPN}routeTables:
  to-vpn: { routes: [ { destination: 0.0.0.0/0, target: vgw } ] }
  via-m: { routes: [ { destination: 0.0.0.0/0, target: m } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '198.19.1.10', TCP22, { kind: 'i2vpn' }),
  },
  {
    id: 'F3',
    title: 'link-local and AWS-service addresses leave through the internet gateway',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
instances:
  i0: { subnet: s0, ip: 198.18.1.10, publicIp: 203.0.113.10 }
internetGateway: {}
routeTables:
  main: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '169.254.169.254', { proto: 6, sport: 40000, dport: 80 }, { kind: 'i2special' }),
  },
  {
    id: 'F4',
    title: "a NAT gateway drops the later fragments of a UDP reply",
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
instances:
  i0: { subnet: priv, ip: 198.18.2.10 }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '203.0.113.100', { proto: 17, sport: 40000, dport: 53 }, { kind: 'i2net', frag: 'all' }),
  },
  {
    id: 'F5',
    title: 'explain lets any ICMP type through a NAT gateway; the packet path translates echo requests only',
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
instances:
  i0: { subnet: priv, ip: 198.18.2.10 }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '203.0.113.100', { proto: 1, icmpType: 3, icmpCode: 3 }, { kind: 'i2net' }),
  },
  {
    id: 'F6a',
    title: 'explain has no fragments: a NAT gateway drops fragmented TCP (AWS), explain allows the flow',
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
instances:
  i0: { subnet: priv, ip: 198.18.2.10 }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '203.0.113.100', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net', frag: 'first' }),
  },
  {
    id: 'F6b',
    title: 'explain has no fragments: the VPC router does not answer a fragmented echo request',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
instances:
  i0: { subnet: s0, ip: 198.18.1.10 }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.1.1', { proto: 1, icmpType: 8, icmpCode: 0 }, { kind: 'i2special', frag: 'first' }),
  },
  {
    id: 'F7',
    title: "the internet gateway drops an instance's traffic forwarded by an appliance (1:1 NAT keyed by the sending ENI)",
    yaml: `${VPC}subnets:
  app: { cidr: 198.18.1.0/24, routeTable: via-fw }
  edge: { cidr: 198.18.2.0/24, routeTable: public }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
instances:
  web: { subnet: app, ip: 198.18.1.10, publicIp: 203.0.113.10 }
  fw: { subnet: edge, ip: 198.18.2.11, securityGroups: [open], sourceDestCheck: false }
internetGateway: {}
routeTables:
  via-fw: { routes: [ { destination: 0.0.0.0/0, target: fw } ] }
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '203.0.113.100', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F8',
    title: "the VPN peer's address routed to the VPN gateway leaves through the internet gateway",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
instances:
  i0: { subnet: s0, ip: 198.18.1.10, publicIp: 203.0.113.10 }
internetGateway: {}
${VPN}routeTables:
  main: { routes: [ { destination: 0.0.0.0/0, target: vgw } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.51.100.1', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F9',
    title: 'a NAT gateway whose subnet routes the destination locally (or to an instance) drops what it translated',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
  s1: { cidr: 198.18.2.0/24, routeTable: via-nat }
instances:
  i0: { subnet: s1, ip: 198.18.2.10 }
  i1: { subnet: s0, ip: 198.18.1.11, securityGroups: [open] }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
natGateways:
  n0: { subnet: s0, ip: 198.18.1.5, type: private }
routeTables:
  via-nat: { routes: [ { destination: 198.18.1.0/24, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '198.18.1.11', TCP22),
  },
  {
    id: 'F10',
    title: "a NAT gateway's translated reply ignores its subnet's route table",
    yaml: `${VPC}subnets:
  priv: { cidr: 198.18.1.0/24, routeTable: private }
  pub: { cidr: 198.18.2.0/24, routeTable: public }
securityGroups:
  closed: { ingress: [] }
instances:
  i0: { subnet: priv, ip: 198.18.1.10 }
  m: { subnet: priv, ip: 198.18.1.11, securityGroups: [closed], sourceDestCheck: false }
natGateways:
  n0: { subnet: pub, ip: 198.18.2.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
  public:
    routes:
      - { destination: 0.0.0.0/0, target: igw }
      - { destination: 198.18.1.0/24, target: m }
`,
    flow: fromInstance(0, '198.18.1.10', '203.0.113.100', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F11',
    title: "a public NAT gateway sends to RFC 1918 / RFC 6598 destinations through the internet gateway",
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
instances:
  i0: { subnet: priv, ip: 198.18.2.10 }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '10.1.2.3', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F12',
    title: "hairpin to the sender's own public IP: the packet matches its own connection's reply key, the SG ingress is skipped",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
instances:
  i0: { subnet: s0, ip: 198.18.1.10, publicIp: 203.0.113.10 }
internetGateway: {}
routeTables:
  main: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '203.0.113.10', { proto: 47 }, { kind: 'i2pub' }),
  },
  {
    id: 'F13',
    title: 'a NAT gateway translates a source outside the VPC',
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  s1: { cidr: 198.18.2.0/24, routeTable: private }
instances:
  m: { subnet: s1, ip: 198.18.2.11, sourceDestCheck: false }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.51.100.100', '203.0.113.200', { proto: 17, sport: 40000, dport: 53 }, { kind: 'spoof', from: 'm' }),
  },
  {
    id: 'F14',
    title: 'an egress rule that references a group: explain ignores it when the route is not local, the packet path applies it',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
  s1: { cidr: 198.18.2.0/24 }
securityGroups:
  to-g2: { ingress: [], egress: [ { protocol: all, group: g2 } ] }
  g2: { ingress: [] }
instances:
  i0: { subnet: s0, ip: 198.18.1.10, securityGroups: [to-g2] }
  i1: { subnet: s1, ip: 198.18.2.11, securityGroups: [g2] }
  fw: { subnet: s0, ip: 198.18.1.20, sourceDestCheck: false }
routeTables:
  main: { routes: [ { destination: 198.18.2.0/24, target: fw } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.2.11', TCP22),
  },
  {
    id: 'F15',
    title: "NAT gateway ports: explain assumes the flow's own source port; the gateway picks any port in 1024-65535",
    yaml: `${VPC}subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public, networkAcl: ephemeral }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
networkAcls:
  ephemeral:
    inbound:
      - { rule: 90, action: allow, protocol: tcp, ports: 32768-65535, cidr: 0.0.0.0/0 }
      - { rule: 100, action: allow, protocol: all, cidr: 198.18.0.0/16 }
    outbound:
      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }
instances:
  i0: { subnet: priv, ip: 198.18.2.10 }
natGateways:
  n0: { subnet: pub, ip: 198.18.1.5, publicIp: 203.0.113.50 }
internetGateway: {}
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: n0 } ] }
`,
    flow: fromInstance(0, '198.18.2.10', '203.0.113.100', { proto: 6, sport: 49152, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F16',
    title: "order of checks: the packet path routes before the sender's security group and NACL",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
securityGroups:
  no-egress: { ingress: [], egress: [] }
instances:
  i0: { subnet: s0, ip: 198.18.1.10, securityGroups: [no-egress] }
`,
    flow: fromInstance(0, '198.18.1.10', '203.0.113.100', { proto: 6, sport: 40000, dport: 443 }, { kind: 'i2net' }),
  },
  {
    id: 'F17',
    title: 'the VPN gateway carries a source that is not an address of the VPC',
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24 }
instances:
  m: { subnet: s0, ip: 198.18.1.11, sourceDestCheck: false }
${VPN}routeTables:
  main: { routes: [ { destination: 0.0.0.0/0, target: vgw } ] }
`,
    flow: fromInstance(0, '198.51.100.100', '198.19.1.10', { proto: 17, sport: 40000, dport: 53 }, { kind: 'spoof', from: 'm' }),
  },
  {
    id: 'F18',
    title: "through an appliance, a later fragment follows its first fragment's verdict of another crossing: the receiver's security group is not judged",
    yaml: `${VPC}subnets:
  s0: { cidr: 198.18.1.0/24, routeTable: via-m }
  s1: { cidr: 198.18.2.0/24 }
  s2: { cidr: 198.18.3.0/24 }
securityGroups:
  open: { ingress: [ { protocol: all, cidr: 0.0.0.0/0 } ] }
  closed: { ingress: [] }
instances:
  a: { subnet: s0, ip: 198.18.1.10, securityGroups: [open] }
  m: { subnet: s1, ip: 198.18.2.11, securityGroups: [open], sourceDestCheck: false }
  b: { subnet: s2, ip: 198.18.3.12, securityGroups: [closed] }
routeTables:
  via-m: { routes: [ { destination: 198.18.3.0/24, target: m } ] }
`,
    flow: fromInstance(0, '198.18.1.10', '198.18.3.12', { proto: 17, sport: 40000, dport: 53 }, { frag: 'all' }),
  },
];
