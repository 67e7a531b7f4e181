/**
 * Types of the reference evaluator and of `vpcd explain --json`.
 *
 * The JSON shape is a contract (docs/explain.md):
 * `{ flow, verdict, path: [stage…], reply?: { verdict, path } }`, each stage
 * `{ stage, on, verdict, by?, rewrite?, code? }`. This module adds, without
 * breaking it: `note` (a human sentence), `conntrack` on request SG stages
 * (tracked/untracked per [EC2-CT]), `info` (informational explanation
 * codes), `portRange` and `partial` (a stage judged over the ports a NAT
 * gateway may pick), `rewrite.sportRange`, `flow.sportRange/dportRange`,
 * `reply.flow`, and per direction `legs` and `end` (where the packet goes
 * hop by hop, as what, and where it ends).
 */

export type Verdict = 'allow' | 'deny';

/** Stage names, in the order a request meets them (interfaces: explain). */
export type StageName =
  | 'source-dest-check'
  | 'vpc-service'
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
  /**
   * The packet is a fragment: `first` (it carries the L4 header) or `later`
   * (no ports: it follows its first fragment's verdict on each crossing).
   * Absent: a whole packet.
   */
  readonly fragment?: 'first' | 'later';
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
  | 'NO_PATH'
  | 'SG_HAS_NO_RULES'
  | 'NGW_SOURCE_ADDRESS_REASSIGN'
  | 'NGW_DEST_ADDRESS_PRESERVATION'
  | 'REMAP_EPHEMERAL_PORT'
  | 'UNSUPPORTED_COMPONENT';

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

/** An inclusive port range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Address/port translation done by a `nat` or `igw` stage: only the fields it changes. */
export interface Rewrite {
  readonly src?: string;
  readonly sport?: number;
  /**
   * A NAT gateway's source port when it is not pinned (EvaluateOptions.natPort):
   * the gateway picks one in this range at run time (REMAP_EPHEMERAL_PORT).
   * Given instead of `sport`.
   */
  readonly sportRange?: PortRange;
  readonly dst?: string;
  readonly dport?: number;
}

/** Part of a port range and the rule that decides it. */
export interface PortSpan {
  readonly from: number;
  readonly to: number;
  readonly by: By;
}

/**
 * A NACL or security-group stage whose packet carries a NAT gateway's
 * unpinned port as destination port (the reply towards the gateway): it is
 * judged for every port the gateway may pick, split where the decision changes.
 */
export interface PortRangeJudgement {
  readonly from: number;
  readonly to: number;
  readonly allowed: readonly PortSpan[];
  readonly denied: readonly PortSpan[];
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
  /**
   * Reachability Analyzer codes that describe what this stage does without
   * being its verdict (a NAT gateway's NGW_SOURCE_ADDRESS_REASSIGN,
   * REMAP_EPHEMERAL_PORT, NGW_DEST_ADDRESS_PRESERVATION on an allowing
   * `nat` stage; the cause behind a denial's `code`).
   */
  readonly info?: readonly ExplanationCode[];
  /** Set on a stage judged over a NAT gateway's port range (see PortRangeJudgement). */
  readonly portRange?: PortRangeJudgement;
  /** True when part of that range is allowed and part denied: the stage denies (some real connections fail). */
  readonly partial?: true;
}

/**
 * `flow` in the JSON: protocol by name where it has one (tcp, udp, icmp,
 * icmpv6). A port a NAT gateway picks at run time (not pinned) is given as
 * `sportRange`/`dportRange` instead of `sport`/`dport`.
 */
export interface FlowJson {
  readonly src: string;
  readonly dst: string;
  readonly proto: string | number;
  readonly sport?: number;
  readonly sportRange?: PortRange;
  readonly dport?: number;
  readonly dportRange?: PortRange;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly fragment?: 'first' | 'later';
}

/**
 * One hop of the packet between two places that hold it: an ENI (instance or
 * NAT gateway, by name), `internet`, or a VPN connection (by name). What a
 * place does to the packet before sending it on (a NAT gateway's or NAT
 * instance's translation) belongs to the leg that leaves it.
 */
export interface Leg {
  /** The place that sends the packet on this hop. */
  readonly from: string;
  /** The packet as `from` sends it (after its own translation). */
  readonly packet: FlowJson;
  /** The place that takes the packet; absent when a stage drops it on the way. */
  readonly to?: string;
  /** The packet as `to` takes it (after the internet gateway's 1:1 NAT on the way); absent when dropped. */
  readonly arrived?: FlowJson;
  /** Indexes into `path` of this leg's first and last stage. */
  readonly first: number;
  readonly last: number;
}

/** Where a direction ends, and as what. */
export interface End {
  readonly verdict: Verdict;
  /** The stage that ended the path (`deliver` for an allowed one). */
  readonly stage: StageName;
  /** Its `on`: the place that took the packet, or the component that dropped it. */
  readonly at: string;
  /** The packet as it is there, all rewrites applied. */
  readonly packet: FlowJson;
  /** The denial's code. */
  readonly code?: ExplanationCode;
}

/** One direction (request or reply) evaluated. */
export interface Direction {
  readonly flow: FlowJson;
  readonly verdict: Verdict;
  readonly path: readonly PathStage[];
  readonly legs: readonly Leg[];
  readonly end: End;
}

export interface Explanation extends Direction {
  /** The return traffic of an accepted request; absent when denied or when the protocol has no reply (ICMP errors). */
  readonly reply?: Direction;
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
