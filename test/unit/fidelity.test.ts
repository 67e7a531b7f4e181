/**
 * Fidelity suite: the reference evaluator against AWS's documented VPC
 * behaviour, one case per documented fact, each citing its source tag
 * ([VPC-SGR] security-group rules, [VPC-DSG] default security group,
 * [EC2-CT] connection tracking, [EC2-MTU] path MTU, [API-IPPERM] IpPermission,
 * [TF-ISSUES] port 0 gotcha, [VPC-NACL] network ACLs, [VPC-FLX] flow-log
 * examples, [VPC-NGW] NAT gateway, [VPC-NATI] NAT instance, [EC2-ENI]
 * source/dest check, [VPC-IGW] internet gateway, [VPC-SUBNET] reserved
 * addresses, [VPC-SEC] unfiltered services, [S2S-RT] VPN routing, [RA-CODES]
 * Reachability Analyzer codes; "§4" = the derived order of evaluation).
 *
 * Every case checks the whole path stage by stage: stage name, where, verdict,
 * deciding rule and explanation code (plus rewrite/conntrack where given), and
 * the reply's path. A path that skips a gate (e.g. "sender egress OR receiver
 * ingress") or evaluates one too many (a NACL inside a subnet) fails.
 */
import { describe, expect, it } from 'vitest';
import type { SecurityGroup, VpcConfig } from '../../src/control/config-types.js';
import {
  type By,
  evaluateFlow,
  type EvaluateOptions,
  type ExplanationCode,
  type Flow,
  type PathStage,
  type Rewrite,
  type StageName,
  type Verdict,
} from '../../src/policy/reference.js';
import { config, type ConfigBuilder } from '../helpers/config-builder.js';

// ---------------------------------------------------------------------------
// Topology shared by most cases
//
//   public-a  198.18.1.0/24  rt public  (0/0 -> igw)              nacl public-nacl
//   private-a 198.18.2.0/24  rt private (0/0 -> nat-a, 198.19/16 -> vgw)  nacl private-nacl
//   app-a     198.18.3.0/24  rt main (local only)                 nacl default
//   dmz       198.18.5.0/24  rt public                            nacl default
//   nat-a: public NAT gateway 198.18.1.5 / 203.0.113.5 in public-a
//   to-onprem: VPN connection, remote 198.19.0.0/16

function base(): ConfigBuilder {
  return config('demo', '198.18.0.0/16')
    .subnet('public-a', '198.18.1.0/24', { routeTable: 'public', networkAcl: 'public-nacl' })
    .subnet('private-a', '198.18.2.0/24', { routeTable: 'private', networkAcl: 'private-nacl' })
    .subnet('app-a', '198.18.3.0/24')
    .subnet('dmz', '198.18.5.0/24', { routeTable: 'public' })
    .nacl('public-nacl', {
      // File order is not evaluation order: 90 is listed last but evaluated first.
      inbound: [
        { rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' },
        { rule: 110, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' },
        { rule: 120, action: 'allow', protocol: 'tcp', ports: 22, cidr: '198.51.100.0/24' },
        { rule: 130, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' },
        { rule: 90, action: 'deny', protocol: 'all', cidr: '203.0.113.66/32' },
      ],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .nacl('private-nacl', {
      inbound: [
        { rule: 100, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' },
        { rule: 110, action: 'allow', protocol: 'tcp', ports: '1024-65535', cidr: '0.0.0.0/0' },
        { rule: 120, action: 'allow', protocol: 'all', cidr: '198.19.0.0/16' },
      ],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .sg('web', {
      ingress: [
        { protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' },
        { protocol: 'tcp', ports: 22, group: 'bastion' },
        { protocol: 'icmp', icmpType: 8, cidr: '198.18.0.0/16' },
      ],
    })
    .sg('db', { ingress: [{ protocol: 'tcp', ports: 5432, group: 'web' }], egress: [] })
    .sg('bastion', { ingress: [{ protocol: 'tcp', ports: 22, cidr: '198.51.100.0/24' }] })
    .sg('app', { ingress: [{ protocol: 'tcp', ports: 8080, cidr: '198.18.0.0/16' }] })
    .sg('open', { ingress: [{ protocol: 'all', cidr: '0.0.0.0/0' }] })
    .sg('fresh', {})
    .instance('web-1', { subnet: 'public-a', ip: '198.18.1.10', publicIp: '203.0.113.10', securityGroups: ['web'] })
    .instance('web-2', { subnet: 'public-a', ip: '198.18.1.11', securityGroups: ['web'] })
    .instance('bastion-1', { subnet: 'public-a', ip: '198.18.1.20', publicIp: '203.0.113.20', securityGroups: ['bastion'] })
    .instance('db-1', { subnet: 'private-a', ip: '198.18.2.20', securityGroups: ['db'] })
    .instance('app-1', { subnet: 'private-a', ip: '198.18.2.30', securityGroups: ['app'] })
    .instance('open-1', { subnet: 'private-a', ip: '198.18.2.50', securityGroups: ['open'] })
    .instance('d-1', { subnet: 'app-a', ip: '198.18.3.10' })
    .instance('d-2', { subnet: 'app-a', ip: '198.18.3.11' })
    .instance('app-3', { subnet: 'app-a', ip: '198.18.3.12', securityGroups: ['app'] })
    .instance('fresh-1', { subnet: 'app-a', ip: '198.18.3.20', securityGroups: ['fresh'] })
    .instance('stranded-1', { subnet: 'app-a', ip: '198.18.3.30', publicIp: '203.0.113.70', securityGroups: ['web'] })
    .igw()
    .natGateway('nat-a', { subnet: 'public-a', ip: '198.18.1.5', publicIp: '203.0.113.5' })
    .routeTable('public', [{ destination: '0.0.0.0/0', target: 'igw' }])
    .routeTable('private', [
      { destination: '0.0.0.0/0', target: 'nat-a' },
      { destination: '198.19.0.0/16', target: 'vgw' },
    ])
    .vpnGateway()
    .vpn('to-onprem', { remoteNetworks: ['198.19.0.0/16'] });
}

const BASE = base().build();

/** The [EC2-CT] worked example: SSH from one address, HTTP from anywhere, all ICMP, outbound all-open. */
function ctExample(egressAllOpen: boolean): VpcConfig {
  return base()
    .sg('ct', {
      ingress: [
        { protocol: 'tcp', ports: 22, cidr: '203.0.113.1/32' },
        { protocol: 'tcp', ports: 80, cidr: '0.0.0.0/0' },
        { protocol: 'icmp', cidr: '0.0.0.0/0' },
      ],
      egress: egressAllOpen ? [{ protocol: 'all', cidr: '0.0.0.0/0' }] : [{ protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }],
    })
    .instance('ct-1', { subnet: 'dmz', ip: '198.18.5.10', publicIp: '203.0.113.40', securityGroups: ['ct'] })
    .build();
}

/** Replaces one security group verbatim (to feed the evaluator rules the loader would have normalised). */
function withSg(cfg: VpcConfig, sg: SecurityGroup): VpcConfig {
  const securityGroups = new Map(cfg.securityGroups);
  securityGroups.set(sg.name, sg);
  return { ...cfg, securityGroups };
}

// ---------------------------------------------------------------------------
// Expected-path notation

interface Expected {
  readonly stage: StageName;
  readonly on: string;
  readonly verdict: Verdict;
  readonly by?: By;
  readonly code?: ExplanationCode;
  readonly rewrite?: Rewrite;
  readonly conntrack?: 'tracked' | 'untracked';
}

type Extra = { code?: ExplanationCode; rewrite?: Rewrite; conntrack?: 'tracked' | 'untracked' };

function st(stage: StageName, on: string, verdict: Verdict, by?: By, extra: Extra = {}): Expected {
  return { stage, on, verdict, ...(by !== undefined ? { by } : {}), ...extra };
}

const TRACKED: By = { tracked: true };
const IMPLICIT: By = { implicit: 'deny' };
const SG_DENY: Extra = { code: 'ENI_SG_RULES_MISMATCH' };
/** [RA-CODES] SG_HAS_NO_RULES: the ENI's groups have no rule at all in that direction. */
const NO_RULES: Extra = { code: 'SG_HAS_NO_RULES' };
/** [RA-CODES] REMAP_EPHEMERAL_PORT: a NAT gateway's source port, picked at run time in 1024-65535. */
const NAT_PORTS = { from: 1024, to: 65535 };
const ACL_DENY: Extra = { code: 'SUBNET_ACL_RESTRICTION' };

function tcp(src: string, dst: string, dport: number, sport = 49152): Flow {
  return { src, dst, proto: 6, sport, dport };
}
function udp(src: string, dst: string, dport: number, sport = 49152): Flow {
  return { src, dst, proto: 17, sport, dport };
}
function icmp(src: string, dst: string, icmpType = 8, icmpCode = 0): Flow {
  return { src, dst, proto: 1, icmpType, icmpCode };
}

/** Projects an actual stage onto what the expectation names (stage, on, verdict, by and code always). */
function project(actual: readonly PathStage[], expected: readonly Expected[]): Expected[] {
  return actual.map((s, i) => {
    const e = expected[i];
    const p: { -readonly [K in keyof Expected]: Expected[K] } = { stage: s.stage, on: s.on, verdict: s.verdict };
    if (s.by !== undefined) p.by = s.by;
    if (s.code !== undefined) p.code = s.code;
    if (e?.rewrite !== undefined && s.rewrite !== undefined) p.rewrite = s.rewrite;
    if (e?.conntrack !== undefined && s.conntrack !== undefined) p.conntrack = s.conntrack;
    return p;
  });
}

interface Case {
  /** `[SOURCE-TAG] what AWS does`. */
  readonly name: string;
  readonly cfg?: VpcConfig;
  readonly flow: Flow;
  readonly opts?: EvaluateOptions;
  readonly verdict: Verdict;
  readonly path: readonly Expected[];
  /** Required for allowed requests: the reply's verdict and path, or null when the packet has no reply. */
  readonly reply?: { readonly verdict: Verdict; readonly path: readonly Expected[] } | null;
}

// Paths that recur.
const WEB1_TO_PRIVATE = [
  st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }),
  st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
  st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
  st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
];
const PRIVATE_TO_WEB1_REPLY_TAIL = [
  st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
  st('route', 'private-a', 'allow', { table: 'private', destination: '198.18.0.0/16', target: 'local' }),
  st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
];

/** open-1 -> the internet through nat-a, every gate open. */
const NAT_REQUEST: readonly Expected[] = [
  st('sg-egress', 'open-1', 'allow', { group: 'open', rule: 0 }),
  st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
  st('route', 'private-a', 'allow', { table: 'private', destination: '0.0.0.0/0', target: 'nat-a' }),
  st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
  st('nat', 'nat-a', 'allow', undefined, { rewrite: { src: '198.18.1.5', sportRange: NAT_PORTS } }),
  st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
  st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
  st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.5' } }),
  st('deliver', 'internet', 'allow'),
];

// ---------------------------------------------------------------------------
// The cases

const CASES: readonly Case[] = [
  // -- security groups -------------------------------------------------------
  {
    name: '[VPC-SGR] a matching ingress rule allows; the reply passes tracked on both ENIs; NACLs see both directions (§4)',
    flow: tcp('198.18.1.10', '198.18.2.20', 5432),
    verdict: 'allow',
    path: [...WEB1_TO_PRIVATE, st('sg-ingress', 'db-1', 'allow', { group: 'db', rule: 0 }), st('deliver', 'db-1', 'allow')],
    reply: {
      verdict: 'allow',
      path: [st('sg-egress', 'db-1', 'allow', TRACKED), ...PRIVATE_TO_WEB1_REPLY_TAIL, st('sg-ingress', 'web-1', 'allow', TRACKED), st('deliver', 'web-1', 'allow')],
    },
  },
  {
    name: '[VPC-SGR] allow-only: nothing allows it, the implicit deny drops it (ENI_SG_RULES_MISMATCH)',
    flow: tcp('198.18.2.30', '198.18.2.20', 5432),
    verdict: 'deny',
    path: [
      st('sg-egress', 'app-1', 'allow', { group: 'app', rule: 0 }),
      st('route', 'private-a', 'allow', { table: 'private', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'db-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: "§4 both gates: the sender's egress denies although the receiver's ingress would allow ([VPC-SGR] empty egress list: nothing leaves; [RA-CODES] SG_HAS_NO_RULES)",
    flow: tcp('198.18.2.20', '198.18.2.30', 8080),
    verdict: 'deny',
    path: [st('sg-egress', 'db-1', 'deny', IMPLICIT, NO_RULES)],
  },
  {
    name: "§4 both gates: the receiver's ingress denies although the sender's egress allows",
    flow: tcp('198.18.1.10', '198.18.2.30', 9999),
    verdict: 'deny',
    path: [...WEB1_TO_PRIVATE, st('sg-ingress', 'app-1', 'deny', IMPLICIT, SG_DENY)],
  },
  {
    name: '[VPC-SGR] multiple security groups on one ENI: a rule of any group allows (union)',
    cfg: base()
      .sg('extra', { ingress: [{ protocol: 'tcp', ports: 9000, cidr: '198.18.1.0/24' }] })
      .instance('multi-1', { subnet: 'private-a', ip: '198.18.2.40', securityGroups: ['app', 'extra'] })
      .build(),
    flow: tcp('198.18.1.10', '198.18.2.40', 9000),
    verdict: 'allow',
    path: [...WEB1_TO_PRIVATE, st('sg-ingress', 'multi-1', 'allow', { group: 'extra', rule: 0 }), st('deliver', 'multi-1', 'allow')],
    reply: {
      verdict: 'allow',
      path: [st('sg-egress', 'multi-1', 'allow', TRACKED), ...PRIVATE_TO_WEB1_REPLY_TAIL, st('sg-ingress', 'web-1', 'allow', TRACKED), st('deliver', 'web-1', 'allow')],
    },
  },
  {
    name: '[VPC-SGR] a rule referencing a group admits its members by private IP (bastion-1 -> web-1 ssh)',
    flow: tcp('198.18.1.20', '198.18.1.10', 22),
    verdict: 'allow',
    path: [
      st('sg-egress', 'bastion-1', 'allow', { group: 'bastion', rule: 0 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'web-1', 'allow', { group: 'web', rule: 1 }),
      st('deliver', 'web-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'web-1', 'allow', TRACKED),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'bastion-1', 'allow', TRACKED),
        st('deliver', 'bastion-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-SGR] a group reference does not admit an address outside the group (internet host, ssh to web-1)',
    flow: tcp('198.51.100.7', '203.0.113.10', 22),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.10' } }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 120 }),
      st('sg-ingress', 'web-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[VPC-SGR] prefix list: an address in one of its CIDRs matches',
    cfg: base()
      .prefixList('office', ['198.51.100.0/24', '192.0.2.0/24'])
      .sg('pl', { ingress: [{ protocol: 'tcp', ports: 443, prefixList: 'office' }] })
      .instance('pl-1', { subnet: 'dmz', ip: '198.18.5.30', publicIp: '203.0.113.30', securityGroups: ['pl'] })
      .build(),
    flow: tcp('192.0.2.44', '203.0.113.30', 443),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.5.30' } }),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'pl-1', 'allow', { group: 'pl', rule: 0 }, { conntrack: 'tracked' }),
      st('deliver', 'pl-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'pl-1', 'allow', TRACKED),
        st('nacl-outbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'dmz', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.30' } }),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-SGR] prefix list: an address in none of its CIDRs is denied',
    cfg: base()
      .prefixList('office', ['198.51.100.0/24', '192.0.2.0/24'])
      .sg('pl', { ingress: [{ protocol: 'tcp', ports: 443, prefixList: 'office' }] })
      .instance('pl-1', { subnet: 'dmz', ip: '198.18.5.30', publicIp: '203.0.113.30', securityGroups: ['pl'] })
      .build(),
    flow: tcp('203.0.113.100', '203.0.113.30', 443),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'pl-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[VPC-DSG] two instances in the default group reach each other on any port (self-reference)',
    flow: udp('198.18.3.10', '198.18.3.11', 5353),
    verdict: 'allow',
    path: [
      st('sg-egress', 'd-1', 'allow', { group: 'default', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'd-2', 'allow', { group: 'default', rule: 0 }),
      st('deliver', 'd-2', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'd-2', 'allow', TRACKED),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'd-1', 'allow', TRACKED),
        st('deliver', 'd-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-DSG] the default group admits nothing from outside the group; [VPC-NACL] the default NACL allows all',
    flow: tcp('198.18.1.10', '198.18.3.10', 5000),
    verdict: 'deny',
    path: [
      st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('nacl-inbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'd-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[VPC-SGR] a new group allows all outbound (its one default egress rule)',
    flow: tcp('198.18.3.20', '198.18.3.12', 8080),
    verdict: 'allow',
    path: [
      st('sg-egress', 'fresh-1', 'allow', { group: 'fresh', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'app-3', 'allow', { group: 'app', rule: 0 }),
      st('deliver', 'app-3', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'app-3', 'allow', TRACKED),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'fresh-1', 'allow', TRACKED),
        st('deliver', 'fresh-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-SGR] a new group has no inbound rules: nothing gets in ([RA-CODES] SG_HAS_NO_RULES)',
    flow: icmp('198.18.3.10', '198.18.3.20'),
    verdict: 'deny',
    path: [
      st('sg-egress', 'd-1', 'allow', { group: 'default', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'fresh-1', 'deny', IMPLICIT, NO_RULES),
    ],
  },
  {
    name: '[API-IPPERM] protocol -1 ignores the port range given with it (rule "all, 8080" admits tcp 22)',
    cfg: withSg(BASE, {
      name: 'app',
      ingress: [{ index: 0, protocol: -1, ports: { from: 8080, to: 8080 }, icmpType: -1, icmpCode: -1, cidr: '198.18.0.0/16' }],
      egress: [{ index: 0, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }],
    }),
    flow: tcp('198.18.3.20', '198.18.3.12', 22),
    verdict: 'allow',
    path: [
      st('sg-egress', 'fresh-1', 'allow', { group: 'fresh', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'app-3', 'allow', { group: 'app', rule: 0 }),
      st('deliver', 'app-3', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'app-3', 'allow', TRACKED),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'fresh-1', 'allow', TRACKED),
        st('deliver', 'fresh-1', 'allow'),
      ],
    },
  },
  {
    name: '[API-IPPERM] a protocol other than tcp/udp/icmp (GRE, 47) ignores ports; [EC2-CT] tracked by (src, dst, proto): the reply is admitted without an inbound rule',
    cfg: withSg(BASE, {
      name: 'app',
      ingress: [{ index: 0, protocol: 47, ports: { from: 1, to: 1 }, icmpType: -1, icmpCode: -1, cidr: '198.18.0.0/16' }],
      egress: [{ index: 0, protocol: -1, icmpType: -1, icmpCode: -1, cidr: '0.0.0.0/0' }],
    }),
    flow: { src: '198.18.3.20', dst: '198.18.3.12', proto: 47 },
    verdict: 'allow',
    path: [
      st('sg-egress', 'fresh-1', 'allow', { group: 'fresh', rule: 0 }, { conntrack: 'tracked' }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'app-3', 'allow', { group: 'app', rule: 0 }, { conntrack: 'tracked' }),
      st('deliver', 'app-3', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'app-3', 'allow', TRACKED),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'fresh-1', 'allow', TRACKED),
        st('deliver', 'fresh-1', 'allow'),
      ],
    },
  },
  {
    name: '[TF-ISSUES] tcp 0-0 means port 0 only: tcp 80 is denied',
    cfg: base()
      .sg('zero', { ingress: [{ protocol: 'tcp', ports: '0-0', cidr: '0.0.0.0/0' }] })
      .instance('zero-1', { subnet: 'app-a', ip: '198.18.3.40', securityGroups: ['zero'] })
      .build(),
    flow: tcp('198.18.3.20', '198.18.3.40', 80),
    verdict: 'deny',
    path: [
      st('sg-egress', 'fresh-1', 'allow', { group: 'fresh', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'zero-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[TF-ISSUES] tcp 0-0 admits tcp port 0',
    cfg: base()
      .sg('zero', { ingress: [{ protocol: 'tcp', ports: '0-0', cidr: '198.18.0.0/16' }] })
      .instance('zero-1', { subnet: 'app-a', ip: '198.18.3.40', securityGroups: ['zero'] })
      .build(),
    flow: tcp('198.18.3.20', '198.18.3.40', 0),
    verdict: 'allow',
    path: [
      st('sg-egress', 'fresh-1', 'allow', { group: 'fresh', rule: 0 }),
      st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'zero-1', 'allow', { group: 'zero', rule: 0 }),
      st('deliver', 'zero-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'zero-1', 'allow', TRACKED),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'fresh-1', 'allow', TRACKED),
        st('deliver', 'fresh-1', 'allow'),
      ],
    },
  },
  {
    name: '[API-IPPERM] ICMP type 8 with code -1 admits echo request code 0; [EC2-CT] the echo reply returns tracked',
    flow: icmp('198.18.1.20', '198.18.1.10', 8, 0),
    verdict: 'allow',
    path: [
      st('sg-egress', 'bastion-1', 'allow', { group: 'bastion', rule: 0 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'web-1', 'allow', { group: 'web', rule: 2 }, { conntrack: 'tracked' }),
      st('deliver', 'web-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'web-1', 'allow', TRACKED),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'bastion-1', 'allow', TRACKED),
        st('deliver', 'bastion-1', 'allow'),
      ],
    },
  },
  {
    name: '[API-IPPERM] an ICMP rule for type 8 does not admit type 13 (timestamp)',
    flow: icmp('198.18.1.20', '198.18.1.10', 13, 0),
    verdict: 'deny',
    path: [
      st('sg-egress', 'bastion-1', 'allow', { group: 'bastion', rule: 0 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'web-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[API-IPPERM] an exact ICMP type/code rule (3/4) admits 3/4; ICMP errors have no reply',
    cfg: base()
      .sg('pmtu', { ingress: [{ protocol: 'icmp', icmpType: 3, icmpCode: 4, cidr: '0.0.0.0/0' }] })
      .instance('pmtu-1', { subnet: 'dmz', ip: '198.18.5.20', publicIp: '203.0.113.50', securityGroups: ['pmtu'] })
      .build(),
    flow: icmp('198.51.100.1', '203.0.113.50', 3, 4),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.5.20' } }),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'pmtu-1', 'allow', { group: 'pmtu', rule: 0 }),
      st('deliver', 'pmtu-1', 'allow'),
    ],
    reply: null,
  },
  {
    name: '[API-IPPERM] an exact ICMP type/code rule (3/4) does not admit 3/1',
    cfg: base()
      .sg('pmtu', { ingress: [{ protocol: 'icmp', icmpType: 3, icmpCode: 4, cidr: '0.0.0.0/0' }] })
      .instance('pmtu-1', { subnet: 'dmz', ip: '198.18.5.20', publicIp: '203.0.113.50', securityGroups: ['pmtu'] })
      .build(),
    flow: icmp('198.51.100.1', '203.0.113.50', 3, 1),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'pmtu-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
  {
    name: '[EC2-MTU] ICMP fragmentation-needed (3/4) is not admitted as "related" without an explicit rule',
    cfg: base().instance('web-3', { subnet: 'dmz', ip: '198.18.5.40', publicIp: '203.0.113.45', securityGroups: ['web'] }).build(),
    flow: icmp('198.51.100.1', '203.0.113.45', 3, 4),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.5.40' } }),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'web-3', 'deny', IMPLICIT, SG_DENY),
    ],
  },

  // -- network ACLs ----------------------------------------------------------
  {
    name: '[VPC-NACL] lowest rule number first: deny 90 wins over the broader allow 100 listed before it',
    flow: tcp('203.0.113.66', '203.0.113.10', 443),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.10' } }),
      st('nacl-inbound', 'public-a', 'deny', { nacl: 'public-nacl', rule: 90 }, ACL_DENY),
    ],
  },
  {
    name: '[VPC-NACL] nothing matches (port 139): the final * rule denies',
    flow: tcp('203.0.113.100', '203.0.113.10', 139),
    verdict: 'deny',
    path: [st('igw', 'igw', 'allow'), st('nacl-inbound', 'public-a', 'deny', { nacl: 'public-nacl', rule: '*' }, ACL_DENY)],
  },
  {
    name: '[VPC-NACL] the default NACL allows all traffic both ways',
    flow: tcp('198.18.1.10', '198.18.3.12', 8080),
    verdict: 'allow',
    path: [
      st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('nacl-inbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'app-3', 'allow', { group: 'app', rule: 0 }),
      st('deliver', 'app-3', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'app-3', 'allow', TRACKED),
        st('nacl-outbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'app-a', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
        st('sg-ingress', 'web-1', 'allow', TRACKED),
        st('deliver', 'web-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-NACL] a new custom NACL with no rules denies everything (inbound *)',
    cfg: base()
      .subnet('locked', '198.18.4.0/24', { networkAcl: 'empty' })
      .nacl('empty', {})
      .instance('lock-1', { subnet: 'locked', ip: '198.18.4.10', securityGroups: ['app'] })
      .instance('lock-2', { subnet: 'locked', ip: '198.18.4.11', securityGroups: ['app'] })
      .build(),
    flow: tcp('198.18.1.10', '198.18.4.10', 8080),
    verdict: 'deny',
    path: [
      st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('nacl-inbound', 'locked', 'deny', { nacl: 'empty', rule: '*' }, ACL_DENY),
    ],
  },
  {
    name: '[VPC-NACL] NACLs do not filter traffic within a subnet (deny-all NACL, same-subnet flow passes)',
    cfg: base()
      .subnet('locked', '198.18.4.0/24', { networkAcl: 'empty' })
      .nacl('empty', {})
      .instance('lock-1', { subnet: 'locked', ip: '198.18.4.10', securityGroups: ['app'] })
      .instance('lock-2', { subnet: 'locked', ip: '198.18.4.11', securityGroups: ['app'] })
      .build(),
    flow: tcp('198.18.4.10', '198.18.4.11', 8080),
    verdict: 'allow',
    path: [
      st('sg-egress', 'lock-1', 'allow', { group: 'app', rule: 0 }),
      st('route', 'locked', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
      st('sg-ingress', 'lock-2', 'allow', { group: 'app', rule: 0 }),
      st('deliver', 'lock-2', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'lock-2', 'allow', TRACKED),
        st('route', 'locked', 'allow', { table: 'main', destination: '198.18.0.0/16', target: 'local' }),
        st('sg-ingress', 'lock-1', 'allow', TRACKED),
        st('deliver', 'lock-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-NACL] stateless: the reply to the client\'s ephemeral port is denied by the server subnet\'s outbound NACL (the classic mistake)',
    cfg: base()
      .subnet('strict', '198.18.6.0/24', { networkAcl: 'strict-nacl' })
      .nacl('strict-nacl', {
        inbound: [{ rule: 100, action: 'allow', protocol: 'tcp', ports: 5432, cidr: '198.18.0.0/16' }],
        outbound: [{ rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }],
      })
      .instance('db-2', { subnet: 'strict', ip: '198.18.6.20', securityGroups: ['db'] })
      .build(),
    flow: tcp('198.18.1.10', '198.18.6.20', 5432),
    verdict: 'allow',
    path: [
      st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
      st('nacl-inbound', 'strict', 'allow', { nacl: 'strict-nacl', rule: 100 }),
      st('sg-ingress', 'db-2', 'allow', { group: 'db', rule: 0 }),
      st('deliver', 'db-2', 'allow'),
    ],
    reply: {
      verdict: 'deny',
      path: [st('sg-egress', 'db-2', 'allow', TRACKED), st('nacl-outbound', 'strict', 'deny', { nacl: 'strict-nacl', rule: '*' }, ACL_DENY)],
    },
  },
  {
    name: '[VPC-FLX] ping allowed in by SG and NACL, reply rejected by the outbound NACL (ACCEPT then REJECT)',
    cfg: base()
      .subnet('flx', '198.18.9.0/24', { routeTable: 'public', networkAcl: 'flx-nacl' })
      .nacl('flx-nacl', {
        inbound: [{ rule: 100, action: 'allow', protocol: 'icmp', cidr: '0.0.0.0/0' }],
        outbound: [{ rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' }],
      })
      .sg('flxsg', { ingress: [{ protocol: 'icmp', cidr: '0.0.0.0/0' }], egress: [] })
      .instance('flx-1', { subnet: 'flx', ip: '198.18.9.10', publicIp: '203.0.113.90', securityGroups: ['flxsg'] })
      .build(),
    flow: icmp('203.0.113.12', '203.0.113.90'),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.9.10' } }),
      st('nacl-inbound', 'flx', 'allow', { nacl: 'flx-nacl', rule: 100 }),
      st('sg-ingress', 'flx-1', 'allow', { group: 'flxsg', rule: 0 }, { conntrack: 'tracked' }),
      st('deliver', 'flx-1', 'allow'),
    ],
    reply: {
      // The SG has no outbound rule at all: the reply leaves because it is tracked.
      verdict: 'deny',
      path: [st('sg-egress', 'flx-1', 'allow', TRACKED), st('nacl-outbound', 'flx', 'deny', { nacl: 'flx-nacl', rule: '*' }, ACL_DENY)],
    },
  },
  {
    name: '[VPC-FLX] with outbound ICMP allowed too, both directions are accepted',
    cfg: base()
      .subnet('flx', '198.18.9.0/24', { routeTable: 'public', networkAcl: 'flx-nacl' })
      .nacl('flx-nacl', {
        inbound: [{ rule: 100, action: 'allow', protocol: 'icmp', cidr: '0.0.0.0/0' }],
        outbound: [{ rule: 100, action: 'allow', protocol: 'icmp', cidr: '0.0.0.0/0' }],
      })
      .sg('flxsg', { ingress: [{ protocol: 'icmp', cidr: '0.0.0.0/0' }], egress: [] })
      .instance('flx-1', { subnet: 'flx', ip: '198.18.9.10', publicIp: '203.0.113.90', securityGroups: ['flxsg'] })
      .build(),
    flow: icmp('203.0.113.12', '203.0.113.90'),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'flx', 'allow', { nacl: 'flx-nacl', rule: 100 }),
      st('sg-ingress', 'flx-1', 'allow', { group: 'flxsg', rule: 0 }),
      st('deliver', 'flx-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'flx-1', 'allow', TRACKED),
        st('nacl-outbound', 'flx', 'allow', { nacl: 'flx-nacl', rule: 100 }),
        st('route', 'flx', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.90' } }),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },

  // -- connection tracking ---------------------------------------------------
  {
    name: '[EC2-CT] worked example: SSH allowed from one address (203.0.113.1/32) is tracked',
    cfg: ctExample(true),
    flow: tcp('203.0.113.1', '203.0.113.40', 22),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.5.10' } }),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'ct-1', 'allow', { group: 'ct', rule: 0 }, { conntrack: 'tracked' }),
      st('deliver', 'ct-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'ct-1', 'allow', TRACKED),
        st('nacl-outbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'dmz', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.40' } }),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[EC2-CT] worked example: HTTP allowed from 0.0.0.0/0 with all-open egress is NOT tracked; its reply is admitted by the egress rule',
    cfg: ctExample(true),
    flow: tcp('203.0.113.100', '203.0.113.40', 80),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'ct-1', 'allow', { group: 'ct', rule: 1 }, { conntrack: 'untracked' }),
      st('deliver', 'ct-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'ct-1', 'allow', { group: 'ct', rule: 0, untracked: true }),
        st('nacl-outbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'dmz', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow'),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[EC2-CT] worked example: removing the all-open egress rule makes the HTTP flow tracked',
    cfg: ctExample(false),
    flow: tcp('203.0.113.100', '203.0.113.40', 80),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'ct-1', 'allow', { group: 'ct', rule: 1 }, { conntrack: 'tracked' }),
      st('deliver', 'ct-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'ct-1', 'allow', TRACKED),
        st('nacl-outbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'dmz', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow'),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[EC2-CT] worked example: ICMP is always tracked, even from 0.0.0.0/0 with all-open egress',
    cfg: ctExample(true),
    flow: icmp('203.0.113.100', '203.0.113.40'),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow'),
      st('nacl-inbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'ct-1', 'allow', { group: 'ct', rule: 2 }, { conntrack: 'tracked' }),
      st('deliver', 'ct-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'ct-1', 'allow', TRACKED),
        st('nacl-outbound', 'dmz', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'dmz', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow'),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[EC2-CT] all-open groups on both ends inside the VPC: untracked on both ENIs, the reply is re-evaluated by rules',
    flow: tcp('198.18.2.50', '198.18.1.10', 443),
    verdict: 'allow',
    path: [
      st('sg-egress', 'open-1', 'allow', { group: 'open', rule: 0 }, { conntrack: 'untracked' }),
      st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
      st('route', 'private-a', 'allow', { table: 'private', destination: '198.18.0.0/16', target: 'local' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('sg-ingress', 'web-1', 'allow', { group: 'web', rule: 0 }, { conntrack: 'untracked' }),
      st('deliver', 'web-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0, untracked: true }),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
        st('sg-ingress', 'open-1', 'allow', { group: 'open', rule: 0, untracked: true }),
        st('deliver', 'open-1', 'allow'),
      ],
    },
  },

  // -- NAT gateway -------------------------------------------------------------
  {
    name: '[VPC-NGW] public NAT gateway: source rewritten to its private IP, then to its Elastic IP at the IGW; [EC2-CT] the flow is tracked even with all-open groups',
    flow: tcp('198.18.2.50', '203.0.113.100', 443),
    verdict: 'allow',
    path: [
      st('sg-egress', 'open-1', 'allow', { group: 'open', rule: 0 }, { conntrack: 'tracked' }),
      st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
      st('route', 'private-a', 'allow', { table: 'private', destination: '0.0.0.0/0', target: 'nat-a' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('nat', 'nat-a', 'allow', undefined, { rewrite: { src: '198.18.1.5', sportRange: NAT_PORTS } }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.5' } }),
      st('deliver', 'internet', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.5' } }),
        st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
        st('nat', 'nat-a', 'allow', undefined, { rewrite: { dst: '198.18.2.50', dport: 49152 } }),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 110 }),
        st('sg-ingress', 'open-1', 'allow', TRACKED),
        st('deliver', 'open-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-NACL] NAT gateways use ports 1024-65535: a gateway-subnet inbound NACL admitting only 32768-65535 denies the reply for part of the range (partial)',
    cfg: upperHalfNatNacl(),
    flow: tcp('198.18.2.50', '203.0.113.100', 443),
    verdict: 'allow',
    path: NAT_REQUEST,
    reply: {
      verdict: 'deny',
      path: [
        st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.5' } }),
        st('nacl-inbound', 'public-a', 'deny', { nacl: 'public-nacl', rule: '*' }, ACL_DENY),
      ],
    },
  },
  {
    name: '[VPC-NACL] the same NACL with the gateway\'s port pinned inside the admitted part (40000): the reply passes',
    cfg: upperHalfNatNacl(),
    flow: tcp('198.18.2.50', '203.0.113.100', 443),
    opts: { natPort: 40000 },
    verdict: 'allow',
    path: NAT_REQUEST.map((s) => (s.stage === 'nat' ? { ...s, rewrite: { src: '198.18.1.5', sport: 40000 } } : s)),
    reply: {
      verdict: 'allow',
      path: [
        st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.5' } }),
        st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
        st('nat', 'nat-a', 'allow', undefined, { rewrite: { dst: '198.18.2.50', dport: 49152 } }),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 110 }),
        st('sg-ingress', 'open-1', 'allow', TRACKED),
        st('deliver', 'open-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-NGW] a private NAT gateway routed to the internet gateway: the IGW drops it (IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS)',
    cfg: base()
      .natGateway('nat-p', { subnet: 'public-a', ip: '198.18.1.6', type: 'private' })
      .subnet('priv2', '198.18.8.0/24', { routeTable: 'via-natp' })
      .routeTable('via-natp', [{ destination: '0.0.0.0/0', target: 'nat-p' }])
      .instance('p-1', { subnet: 'priv2', ip: '198.18.8.10' })
      .build(),
    flow: tcp('198.18.8.10', '203.0.113.100', 443),
    verdict: 'deny',
    path: [
      st('sg-egress', 'p-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'priv2', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'priv2', 'allow', { table: 'via-natp', destination: '0.0.0.0/0', target: 'nat-p' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('nat', 'nat-p', 'allow', undefined, { rewrite: { src: '198.18.1.6', sportRange: NAT_PORTS } }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'deny', undefined, { code: 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS' }),
    ],
  },
  {
    name: '[VPC-NGW] unsolicited inbound to a NAT gateway\'s Elastic IP is not forwarded',
    flow: tcp('203.0.113.100', '203.0.113.5', 443),
    verdict: 'deny',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.5' } }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('nat', 'nat-a', 'deny', undefined, { code: 'NO_POSSIBLE_DESTINATION' }),
    ],
  },
  {
    name: '[VPC-NGW] a NAT gateway carries TCP, UDP and ICMP only (GRE is refused: PROTOCOL_RESTRICTION)',
    flow: { src: '198.18.2.50', dst: '203.0.113.100', proto: 47 },
    verdict: 'deny',
    path: [
      st('sg-egress', 'open-1', 'allow', { group: 'open', rule: 0 }),
      st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
      st('route', 'private-a', 'allow', { table: 'private', destination: '0.0.0.0/0', target: 'nat-a' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 130 }),
      st('nat', 'nat-a', 'deny', undefined, { code: 'PROTOCOL_RESTRICTION' }),
    ],
  },

  // -- NAT instance and source/dest check -------------------------------------
  {
    name: '[EC2-ENI] source/dest check: an instance may not send with a source that is not its own',
    flow: tcp('198.18.1.99', '198.18.2.30', 8080),
    opts: { from: 'web-1' },
    verdict: 'deny',
    path: [st('source-dest-check', 'web-1', 'deny', { sourceDestCheck: true }, { code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION' })],
  },
  {
    name: '[VPC-NATI] a NAT instance with source/dest check on rejects the traffic routed through it',
    cfg: natInstanceTopology(true),
    flow: tcp('198.18.7.10', '203.0.113.100', 443),
    verdict: 'deny',
    path: [
      st('sg-egress', 'n-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'natted', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'natted', 'allow', { table: 'via-nati', destination: '0.0.0.0/0', target: 'nati-1' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('source-dest-check', 'nati-1', 'deny', { sourceDestCheck: true }, { code: 'ENI_SOURCE_DEST_CHECK_RESTRICTION' }),
    ],
  },
  {
    name: '[VPC-NATI] a NAT instance with the check off: its SG applies both ways, it masquerades, the IGW maps it to its public IP',
    cfg: natInstanceTopology(false),
    flow: tcp('198.18.7.10', '203.0.113.100', 443),
    verdict: 'allow',
    path: [
      st('sg-egress', 'n-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'natted', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'natted', 'allow', { table: 'via-nati', destination: '0.0.0.0/0', target: 'nati-1' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('source-dest-check', 'nati-1', 'allow', { sourceDestCheck: false }),
      st('sg-ingress', 'nati-1', 'allow', { group: 'natsg', rule: 0 }),
      st('nat', 'nati-1', 'allow', undefined, { rewrite: { src: '198.18.1.50' } }),
      st('sg-egress', 'nati-1', 'allow', { group: 'natsg', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.50' } }),
      st('deliver', 'internet', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.50' } }),
        st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
        st('sg-ingress', 'nati-1', 'allow', TRACKED),
        st('nat', 'nati-1', 'allow', undefined, { rewrite: { dst: '198.18.7.10' } }),
        st('source-dest-check', 'nati-1', 'allow', { sourceDestCheck: false }),
        st('sg-egress', 'nati-1', 'allow', TRACKED),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'natted', 'allow', { nacl: 'default', rule: 100 }),
        st('sg-ingress', 'n-1', 'allow', TRACKED),
        st('deliver', 'n-1', 'allow'),
      ],
    },
  },

  // -- routing ----------------------------------------------------------------
  {
    name: '[VPC-IGW] longest prefix match: 203.0.113.0/24 -> nat-a beats 0.0.0.0/0 -> igw',
    cfg: lpmTopology(),
    flow: tcp('198.18.10.10', '203.0.113.100', 443),
    verdict: 'allow',
    path: [
      st('sg-egress', 'lpm-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'lpm-sub', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'lpm-sub', 'allow', { table: 'lpm', destination: '203.0.113.0/24', target: 'nat-a' }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('nat', 'nat-a', 'allow', undefined, { rewrite: { src: '198.18.1.5', sportRange: NAT_PORTS } }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.5' } }),
      st('deliver', 'internet', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('igw', 'igw', 'allow'),
        st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 110 }),
        st('nat', 'nat-a', 'allow'),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '198.18.0.0/16', target: 'local' }),
        st('nacl-inbound', 'lpm-sub', 'allow', { nacl: 'default', rule: 100 }),
        st('sg-ingress', 'lpm-1', 'allow', TRACKED),
        st('deliver', 'lpm-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-IGW] longest prefix match: outside the /24 the default route to the igw applies',
    cfg: lpmTopology(),
    flow: tcp('198.18.10.10', '198.51.100.7', 443),
    verdict: 'allow',
    path: [
      st('sg-egress', 'lpm-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'lpm-sub', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'lpm-sub', 'allow', { table: 'lpm', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.60' } }),
      st('deliver', 'internet', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.10.10' } }),
        st('nacl-inbound', 'lpm-sub', 'allow', { nacl: 'default', rule: 100 }),
        st('sg-ingress', 'lpm-1', 'allow', TRACKED),
        st('deliver', 'lpm-1', 'allow'),
      ],
    },
  },
  {
    name: '[RA-CODES] no route to the destination: NO_ROUTE_TO_DESTINATION (main table has the local route only)',
    flow: tcp('198.18.3.10', '203.0.113.100', 443),
    verdict: 'deny',
    path: [
      st('sg-egress', 'd-1', 'allow', { group: 'default', rule: 0 }),
      st('nacl-outbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
      st('route', 'app-a', 'deny', { table: 'main' }, { code: 'NO_ROUTE_TO_DESTINATION' }),
    ],
  },

  // -- internet gateway --------------------------------------------------------
  {
    name: '[VPC-IGW] 1:1 NAT: a public instance is reachable at its public IP when NACL and SG allow; the reply leaves with the public IP',
    flow: tcp('203.0.113.100', '203.0.113.10', 443),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.1.10' } }),
      st('nacl-inbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('sg-ingress', 'web-1', 'allow', { group: 'web', rule: 0 }),
      st('deliver', 'web-1', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('sg-egress', 'web-1', 'allow', { group: 'web', rule: 0, untracked: true }),
        st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
        st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
        st('igw', 'igw', 'allow', undefined, { rewrite: { src: '203.0.113.10' } }),
        st('deliver', 'internet', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-IGW] an instance without a public IP cannot use the internet gateway (IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS)',
    flow: tcp('198.18.1.11', '203.0.113.100', 443),
    verdict: 'deny',
    path: [
      st('sg-egress', 'web-2', 'allow', { group: 'web', rule: 0 }),
      st('nacl-outbound', 'public-a', 'allow', { nacl: 'public-nacl', rule: 100 }),
      st('route', 'public-a', 'allow', { table: 'public', destination: '0.0.0.0/0', target: 'igw' }),
      st('igw', 'igw', 'deny', undefined, { code: 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS' }),
    ],
  },
  {
    name: '[VPC-IGW] the internet cannot address a private IP (IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS)',
    flow: tcp('203.0.113.100', '198.18.1.10', 443),
    verdict: 'deny',
    path: [st('igw', 'igw', 'deny', undefined, { code: 'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS' })],
  },
  {
    name: '[VPC-IGW] a public IP in a subnet without an igw route: the request arrives, the reply has no route',
    flow: tcp('203.0.113.100', '203.0.113.70', 443),
    verdict: 'allow',
    path: [
      st('igw', 'igw', 'allow', undefined, { rewrite: { dst: '198.18.3.30' } }),
      st('nacl-inbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
      st('sg-ingress', 'stranded-1', 'allow', { group: 'web', rule: 0 }),
      st('deliver', 'stranded-1', 'allow'),
    ],
    reply: {
      verdict: 'deny',
      path: [
        st('sg-egress', 'stranded-1', 'allow', { group: 'web', rule: 0, untracked: true }),
        st('nacl-outbound', 'app-a', 'allow', { nacl: 'default', rule: 100 }),
        st('route', 'app-a', 'deny', { table: 'main' }, { code: 'NO_ROUTE_TO_DESTINATION' }),
      ],
    },
  },

  // -- addresses nobody takes ---------------------------------------------------
  {
    name: "[VPC-SUBNET] the subnet's router address (.1) is reserved: nothing takes the packet",
    flow: tcp('198.18.1.10', '198.18.2.1', 80),
    verdict: 'deny',
    path: [...WEB1_TO_PRIVATE, st('deliver', '198.18.2.1', 'deny', undefined, { code: 'NO_POSSIBLE_DESTINATION' })],
  },
  {
    name: '[VPC-SUBNET] broadcast is not supported: the last address of a subnet takes nothing',
    flow: udp('198.18.1.10', '198.18.2.255', 9),
    verdict: 'deny',
    path: [...WEB1_TO_PRIVATE, st('deliver', '198.18.2.255', 'deny', undefined, { code: 'NO_POSSIBLE_DESTINATION' })],
  },
  {
    name: '[VPC-SEC] instance metadata (169.254.169.254) is not filtered even for a group with no egress rule: a vpc-service stage, nothing before it',
    flow: tcp('198.18.2.20', '169.254.169.254', 80),
    verdict: 'allow',
    path: [st('vpc-service', 'instance-metadata', 'allow')],
    reply: null,
  },
  {
    name: '[VPC-SEC] Amazon DNS (VPC base + 2) is answered by AWS outside SGs and NACLs: a vpc-service stage, no SG/NACL stage',
    flow: udp('198.18.1.10', '198.18.0.2', 53),
    verdict: 'allow',
    path: [st('vpc-service', 'amazon-dns', 'allow')],
    reply: null,
  },

  // -- site-to-site VPN -----------------------------------------------------------
  {
    name: '[S2S-RT] a route to the vgw carries traffic to the remote networks; the reply enters through the NACL of the subnet [VPC-NACL]',
    flow: tcp('198.18.2.30', '198.19.1.10', 22),
    verdict: 'allow',
    path: [
      st('sg-egress', 'app-1', 'allow', { group: 'app', rule: 0 }),
      st('nacl-outbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 100 }),
      st('route', 'private-a', 'allow', { table: 'private', destination: '198.19.0.0/16', target: 'vgw' }),
      st('vpn', 'to-onprem', 'allow', { connection: 'to-onprem', network: '198.19.0.0/16' }),
      st('deliver', 'to-onprem', 'allow'),
    ],
    reply: {
      verdict: 'allow',
      path: [
        st('vpn', 'to-onprem', 'allow', { connection: 'to-onprem', network: '198.19.0.0/16' }),
        st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 110 }),
        st('sg-ingress', 'app-1', 'allow', TRACKED),
        st('deliver', 'app-1', 'allow'),
      ],
    },
  },
  {
    name: '[VPC-NACL] traffic from the VPN is subject to the subnet NACL and the ENI security group (on-prem source not in the SG rule)',
    flow: tcp('198.19.1.10', '198.18.2.30', 8080),
    verdict: 'deny',
    path: [
      st('vpn', 'to-onprem', 'allow', { connection: 'to-onprem', network: '198.19.0.0/16' }),
      st('nacl-inbound', 'private-a', 'allow', { nacl: 'private-nacl', rule: 110 }),
      st('sg-ingress', 'app-1', 'deny', IMPLICIT, SG_DENY),
    ],
  },
];

/** public-nacl admitting only the upper half of the NAT gateway's ports from the internet (rule 110). */
function upperHalfNatNacl(): VpcConfig {
  return base()
    .nacl('public-nacl', {
      inbound: [
        { rule: 100, action: 'allow', protocol: 'tcp', ports: 443, cidr: '0.0.0.0/0' },
        { rule: 110, action: 'allow', protocol: 'tcp', ports: '32768-65535', cidr: '0.0.0.0/0' },
        { rule: 130, action: 'allow', protocol: 'all', cidr: '198.18.0.0/16' },
      ],
      outbound: [{ rule: 100, action: 'allow', protocol: 'all', cidr: '0.0.0.0/0' }],
    })
    .build();
}

function natInstanceTopology(sourceDestCheck: boolean): VpcConfig {
  return base()
    .subnet('natted', '198.18.7.0/24', { routeTable: 'via-nati' })
    .routeTable('via-nati', [{ destination: '0.0.0.0/0', target: 'nati-1' }])
    .sg('natsg', { ingress: [{ protocol: 'tcp', ports: 443, cidr: '198.18.7.0/24' }] })
    .instance('nati-1', {
      subnet: 'public-a',
      ip: '198.18.1.50',
      publicIp: '203.0.113.50',
      securityGroups: ['natsg'],
      sourceDestCheck,
      natInstance: true,
    })
    .instance('n-1', { subnet: 'natted', ip: '198.18.7.10' })
    .build();
}

function lpmTopology(): VpcConfig {
  return base()
    .subnet('lpm-sub', '198.18.10.0/24', { routeTable: 'lpm' })
    .routeTable('lpm', [
      { destination: '0.0.0.0/0', target: 'igw' },
      { destination: '203.0.113.0/24', target: 'nat-a' },
    ])
    .instance('lpm-1', { subnet: 'lpm-sub', ip: '198.18.10.10', publicIp: '203.0.113.60' })
    .build();
}

describe('fidelity: the reference evaluator against documented AWS behaviour', () => {
  it('has at least 40 cases, each citing its source', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    for (const c of CASES) expect(c.name).toMatch(/\[[A-Z0-9-]+\]|§4/);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const e = evaluateFlow(c.cfg ?? BASE, c.flow, c.opts);
    expect(project(e.path, c.path)).toEqual(c.path);
    expect(e.verdict).toBe(c.verdict);
    if (c.verdict === 'deny') {
      expect(e.reply).toBeUndefined();
      expect(e.path.at(-1)?.code).toBeDefined();
      return;
    }
    expect(c.reply, 'an allowed case states its reply').not.toBeUndefined();
    if (c.reply === null || c.reply === undefined) {
      expect(e.reply).toBeUndefined();
      return;
    }
    expect(e.reply, 'reply evaluated').toBeDefined();
    expect(project(e.reply?.path ?? [], c.reply.path)).toEqual(c.reply.path);
    expect(e.reply?.verdict).toBe(c.reply.verdict);
  });
});
