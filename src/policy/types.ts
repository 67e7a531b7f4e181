/**
 * Types of the reference evaluator and of `vpcd explain --json`.
 *
 * The JSON shape is a contract (docs: interfaces, "explain --json shape"):
 * `{ flow, verdict, path: [stage…], reply?: { verdict, path } }`, each stage
 * `{ stage, on, verdict, by?, rewrite?, code? }`. This module adds, without
 * breaking it: `note` (a human sentence), `conntrack` on request SG stages
 * (tracked/untracked per [EC2-CT]) and `reply.flow`.
 */

export type Verdict = 'allow' | 'deny';

/** Stage names, in the order a request meets them (interfaces: explain). */
export type StageName =
  | 'source-dest-check'
  | 'sg-egress'
  | 'nacl-outbound'
  | 'route'
  | 'nat'
  | 'igw'
  | 'vpn'
  | 'nacl-inbound'
  | 'sg-ingress'
  | 'deliver';

/**
 * One packet as a stage sees it. Addresses are IPv4 text. Ports only for TCP
 * (6) and UDP (17); ICMP type/code only for ICMP (1).
 */
export interface Flow {
  readonly src: string;
  readonly dst: string;
  /** IANA protocol number 0..255 (6 tcp, 17 udp, 1 icmp, 47 gre, …). */
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

/** Reachability Analyzer explanation codes ([RA-CODES]) that the evaluator emits. */
export type ExplanationCode =
  | 'ENI_SG_RULES_MISMATCH'
  | 'SUBNET_ACL_RESTRICTION'
  | 'NO_ROUTE_TO_DESTINATION'
  | 'BAD_STATE_ROUTE'
  | 'ENI_SOURCE_DEST_CHECK_RESTRICTION'
  | 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS'
  | 'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS'
  | 'IGW_SOURCE_ADDRESS_NOT_IN_RFC1918_INGRESS'
  | 'IGW_SOURCE_ADDRESS_NOT_IN_RFC6598_INGRESS'
  | 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS'
  | 'IGW_DESTINATION_ADDRESS_NOT_IN_RFC6598_EGRESS'
  | 'NGW_REQUIRES_SOURCE_IN_VPC'
  | 'PROTOCOL_RESTRICTION'
  | 'VGW_PRIVATE_IP_ASSOCIATION_FOR_EGRESS'
  | 'VGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS'
  | 'BAD_STATE_VPN'
  | 'NO_POSSIBLE_DESTINATION'
  | 'NO_PATH';

/** The deciding element of a stage (`by` in the JSON). */
export type By =
  /** A NACL rule number, or `*` for the implicit final deny. */
  | { readonly nacl: string; readonly rule: number | '*' }
  /** A security-group rule: the group and the rule's index in its list in the file. */
  | { readonly group: string; readonly rule: number }
  /** The reply of an untracked flow, admitted afresh by this rule ([EC2-CT]). */
  | { readonly group: string; readonly rule: number; readonly untracked: true }
  /** No security-group rule allows the packet. */
  | { readonly implicit: 'deny' }
  /** The reply of a tracked flow ([EC2-CT]). */
  | { readonly tracked: true }
  /** The route that matched (longest prefix). */
  | { readonly table: string; readonly destination: string; readonly target: string }
  /** No route matched in this table. */
  | { readonly table: string }
  /** The ENI's source/destination check setting ([EC2-ENI]). */
  | { readonly sourceDestCheck: boolean }
  /** The VPN connection and the remote network that carries the packet. */
  | { readonly connection: string; readonly network: string };

/** Address/port translation done by a `nat` or `igw` stage: only the fields it changes. */
export interface Rewrite {
  readonly src?: string;
  readonly sport?: number;
  readonly dst?: string;
  readonly dport?: number;
}

export interface PathStage {
  readonly stage: StageName;
  /** Instance, subnet, gateway, VPN connection, or `internet`. */
  readonly on: string;
  readonly verdict: Verdict;
  readonly by?: By;
  readonly rewrite?: Rewrite;
  /** On denials: the Reachability Analyzer explanation code that fits. */
  readonly code?: ExplanationCode;
  /** On allowed request SG stages: whether AWS tracks the flow on this ENI ([EC2-CT]). */
  readonly conntrack?: 'tracked' | 'untracked';
  /** A sentence for humans (why, or what AWS would do). */
  readonly note?: string;
}

/** `flow` in the JSON: protocol by name where it has one (tcp, udp, icmp, icmpv6). */
export interface FlowJson {
  readonly src: string;
  readonly dst: string;
  readonly proto: string | number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

export interface Explanation {
  readonly flow: FlowJson;
  readonly verdict: Verdict;
  readonly path: readonly PathStage[];
  /** The return traffic of an accepted request; absent when denied or when the protocol has no reply (ICMP errors). */
  readonly reply?: { readonly flow: FlowJson; readonly verdict: Verdict; readonly path: readonly PathStage[] };
}

/** Thrown for a flow that cannot be evaluated (bad address, source that no ENI owns, …). */
export class ExplainInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExplainInputError';
  }
}

export type SgDirection = 'ingress' | 'egress';
export type NaclDirection = 'inbound' | 'outbound';
