/**
 * The words of an observed event, shared with `vpcd explain --json`
 * (policy/types.ts): stage names, Reachability Analyzer explanation codes,
 * and which stage and code fit each drop reason (pipeline/batch.ts). The
 * data plane writes the numeric ids into the event ring; the decoder
 * (event-decode.ts) turns them back into these names.
 */
import type { ExplanationCode, StageName } from '../policy/types.js';
import { DropReason, DROP_REASON_COUNT } from '../pipeline/batch.js';

/** Stage ids (index into STAGE_NAMES; 0: none). */
export const Stage = {
  None: 0, SourceDestCheck: 1, VpcService: 2, SgEgress: 3, NaclOutbound: 4, Route: 5, Nat: 6, Igw: 7, Vpn: 8,
  NaclInbound: 9, SgIngress: 10, Deliver: 11,
} as const;
export const STAGE_NAMES: readonly (StageName | '')[] = [
  '', 'source-dest-check', 'vpc-service', 'sg-egress', 'nacl-outbound', 'route', 'nat', 'igw', 'vpn',
  'nacl-inbound', 'sg-ingress', 'deliver',
];

/** Explanation code ids (index into CODE_NAMES; 0: none). */
export const Code = {
  None: 0, SgRulesMismatch: 1, SubnetAcl: 2, NoRoute: 3, BadStateRoute: 4, SourceDestCheck: 5,
  IgwPublicIpEgress: 6, IgwPrivateIpIngress: 7, NgwSourceInVpc: 8, ProtocolRestriction: 9,
  VgwPrivateIpEgress: 10, BadStateVpn: 11, NoPossibleDestination: 12, NgwSourceReassign: 13, IgwSourceRfc1918: 14,
} as const;
export const CODE_NAMES: readonly (ExplanationCode | '')[] = [
  '', 'ENI_SG_RULES_MISMATCH', 'SUBNET_ACL_RESTRICTION', 'NO_ROUTE_TO_DESTINATION', 'BAD_STATE_ROUTE',
  'ENI_SOURCE_DEST_CHECK_RESTRICTION', 'IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS', 'IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS',
  'NGW_REQUIRES_SOURCE_IN_VPC', 'PROTOCOL_RESTRICTION', 'VGW_PRIVATE_IP_ASSOCIATION_FOR_EGRESS', 'BAD_STATE_VPN',
  'NO_POSSIBLE_DESTINATION', 'NGW_SOURCE_ADDRESS_REASSIGN', 'IGW_SOURCE_ADDRESS_NOT_IN_RFC1918_INGRESS',
];

/** Per DropReason: the stage that drops for that reason (Stage.None when no explain stage fits). */
export const DROP_STAGE: Uint8Array = new Uint8Array(DROP_REASON_COUNT);
/** Per DropReason: the explanation code that fits (Code.None when none does). */
export const DROP_CODE: Uint8Array = new Uint8Array(DROP_REASON_COUNT);

function drop(reason: number, stage: number, code: number): void {
  DROP_STAGE[reason] = stage;
  DROP_CODE[reason] = code;
}
drop(DropReason.Nacl, Stage.NaclOutbound, Code.SubnetAcl);
drop(DropReason.Sg, Stage.SgEgress, Code.SgRulesMismatch);
drop(DropReason.NoRoute, Stage.Route, Code.NoRoute);
drop(DropReason.Blackhole, Stage.Route, Code.BadStateRoute);
drop(DropReason.SourceDestCheck, Stage.SourceDestCheck, Code.SourceDestCheck);
drop(DropReason.VpcService, Stage.VpcService, Code.None);
drop(DropReason.IgwNoPublicIp, Stage.Igw, Code.IgwPublicIpEgress);
drop(DropReason.IgwRejected, Stage.Igw, Code.IgwSourceRfc1918);
drop(DropReason.NatSourceOutsideVpc, Stage.Nat, Code.NgwSourceInVpc);
drop(DropReason.NatUnsupportedProto, Stage.Nat, Code.ProtocolRestriction);
drop(DropReason.NatPortExhausted, Stage.Nat, Code.None);
drop(DropReason.Unsolicited, Stage.Nat, Code.None);
drop(DropReason.AfterClose, Stage.Nat, Code.None);
drop(DropReason.VgwSourceOutsideVpc, Stage.Vpn, Code.VgwPrivateIpEgress);
drop(DropReason.VpnDown, Stage.Vpn, Code.BadStateVpn);
drop(DropReason.EspNoSa, Stage.Vpn, Code.BadStateVpn);
drop(DropReason.EspAuth, Stage.Vpn, Code.None);
drop(DropReason.EspReplay, Stage.Vpn, Code.None);
drop(DropReason.NoDestination, Stage.Deliver, Code.NoPossibleDestination);
drop(DropReason.NoNeighbor, Stage.Deliver, Code.None);
drop(DropReason.ConntrackFull, Stage.SgEgress, Code.None);
