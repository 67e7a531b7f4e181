/**
 * The state `vpcd import aws` builds while mapping: the vpcd document (plain
 * objects in the configuration's shape, docs/config.md), the AWS id -> vpcd
 * name tables every reference is resolved through, the report, and the
 * address remapping.
 */
import type { AwsInput } from './aws-input.js';
import { NameSpace } from './names.js';
import type { Remapper } from './remap.js';
import type { ImportReport } from './report.js';

export interface NaclRuleOut {
  rule: number;
  action: 'allow' | 'deny';
  protocol: string | number;
  ports?: string | number;
  icmpType?: number;
  icmpCode?: number;
  cidr: string;
}

export interface SgRuleOut {
  protocol: string | number;
  ports?: string | number;
  icmpType?: number;
  icmpCode?: number;
  cidr?: string;
  group?: string;
  prefixList?: string;
  description?: string;
}

export interface VpnConnectionOut {
  role: 'vgw';
  remoteNetworks: string[];
  auth: { psk: { env: string } };
  tunnels: { peer: string; insideCidr: string; local?: string }[];
  ike?: { proposals?: string[]; lifetime?: number; dpdTimeout?: number };
  esp?: { proposals?: string[]; lifetime?: number };
}

/** The vpcd configuration being built (key order is the output's). */
export interface Doc {
  vpc: { name: string; cidr: string; accountId?: string };
  subnets: Record<string, { cidr: string; routeTable?: string; networkAcl?: string }>;
  prefixLists: Record<string, { description?: string; cidrs: string[] }>;
  networkAcls: Record<string, { inbound: NaclRuleOut[]; outbound: NaclRuleOut[] }>;
  securityGroups: Record<string, { description?: string; ingress: SgRuleOut[]; egress: SgRuleOut[] }>;
  instances: Record<string, { subnet: string; ip: string; publicIp?: string; securityGroups: string[]; sourceDestCheck?: boolean; mac?: string }>;
  internetGateway?: { name: string };
  natGateways: Record<string, { subnet: string; type: 'public' | 'private'; ip: string; publicIp?: string }>;
  routeTables: Record<string, { routes: { destination: string; target: string }[] }>;
  vpnGateway?: { name: string; asn: number };
  vpnConnections: Record<string, VpnConnectionOut>;
  lab?: { prefix: string; internetHosts: Record<string, string> };
}

/** A comment per output path (`subnets.public-a`): the AWS id and what else helps to trace it. */
export type Comments = Map<string, string>;

export interface Ctx {
  readonly input: AwsInput;
  readonly report: ImportReport;
  readonly remap: Remapper;
  readonly doc: Doc;
  readonly comments: Comments;
  /** The imported VPC. */
  vpcId: string;
  /** Its primary CIDR as AWS has it (before --remap). */
  vpcCidrAws: string;
  ownerId?: string;
  readonly subnets: Map<string, string>;
  readonly securityGroups: Map<string, string>;
  readonly prefixLists: Map<string, string>;
  readonly natGateways: Map<string, string>;
  /** Instance id -> the vpcd instance of its primary ENI. */
  readonly instances: Map<string, string>;
  /** ENI id -> vpcd instance. */
  readonly enis: Map<string, string>;
  igwId?: string;
  vgwId?: string;
  /** Route targets share one namespace: instances, NAT gateways and the fixed names. */
  readonly targets: NameSpace;
  readonly prefixListNames: NameSpace;
}

export function newDoc(): Doc {
  return {
    vpc: { name: 'vpc', cidr: '' }, subnets: {}, prefixLists: {}, networkAcls: {}, securityGroups: {},
    instances: {}, natGateways: {}, routeTables: {}, vpnConnections: {},
  };
}

export function newCtx(input: AwsInput, report: ImportReport, remap: Remapper): Ctx {
  return {
    input, report, remap, doc: newDoc(), comments: new Map(), vpcId: '', vpcCidrAws: '',
    subnets: new Map(), securityGroups: new Map(), prefixLists: new Map(), natGateways: new Map(),
    instances: new Map(), enis: new Map(),
    targets: new NameSpace(['local', 'igw', 'vgw', 'blackhole']),
    prefixListNames: new NameSpace(),
  };
}

/** `kind name (id)` for report lines. */
export function subject(kind: string, name: string | undefined, id: string): string {
  return name === undefined || name === id ? `${kind} ${id}` : `${kind} ${name} (${id})`;
}

/**
 * An IPv4 or IPv6 CIDR moved by --remap. A CIDR that contains a remapped
 * range stays as it is; unless it is 0.0.0.0/0, the report says it no longer
 * covers the moved addresses.
 */
export function mapCidr(ctx: Ctx, text: string, where: string): string {
  const m = ctx.remap.cidr(text);
  if (m.kind === 'contains' && m.text !== '0.0.0.0/0') {
    ctx.report.note(where, `${m.text} contains the remapped range ${m.from} and is kept as it is: it no longer covers the moved addresses, so verdicts for them may differ from AWS`);
  }
  return m.text;
}

export function mapAddr(ctx: Ctx, text: string): string {
  return ctx.remap.addr(text);
}
