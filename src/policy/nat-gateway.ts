/**
 * What a NAT gateway does with a packet routed to it that belongs to no
 * translation it holds (the first packet of a flow, or a reply that came back
 * another way than its request went): open a translation, or drop it.
 *
 * - TCP, UDP and ICMP only ([VPC-NGW], PROTOCOL_RESTRICTION); sources in
 *   its own VPC only (NGW_REQUIRES_SOURCE_IN_VPC).
 * - ICMP: translations are opened for ICMP queries that carry an identifier
 *   the gateway can remap like a port: echo (8) and timestamp (13) (RFC 5508
 *   REQ-1: queries from inside must pass). Information (15) and address mask
 *   (17) requests are deprecated (RFC 6918) and open nothing. An ICMP error
 *   (3, 4, 5, 11, 12) passes only as related to a translation it quotes
 *   (RFC 5508 REQ-4/5): on its own it opens nothing. Anything else (replies,
 *   router advertisements, …) opens nothing (RFC 5508 REQ-11). AWS documents
 *   only "ICMP"; the per-type rule is vpcd's reading (docs/semantics.md).
 * - The reply of a flow that did not come through this gateway (asymmetric
 *   return path): a TCP segment that is not a SYN opens nothing (the gateway
 *   drops it and answers the sender with a RST, as after its idle timeout
 *   [VPC-NGW-TS]); an ICMP reply opens nothing; UDP opens a new translation,
 *   whose source the requester does not recognise. The code is
 *   NGW_SOURCE_ADDRESS_REASSIGN: the gateway would change the reply's source.
 */
import { cidrContainsIp } from './addr.js';
import type { ExplanationCode, Flow } from './types.js';

/** ICMP query types a NAT gateway opens translations for. */
export const NAT_GATEWAY_ICMP_QUERIES: readonly number[] = [8, 13];
/** ICMP error types (RFC 792, RFC 1812): they quote the packet they are about. */
export const ICMP_ERROR_TYPES: readonly number[] = [3, 4, 5, 11, 12];

export interface NatRefusal {
  readonly code: ExplanationCode;
  readonly note: string;
}

/**
 * Why `gateway` opens no translation for `p`, or undefined when it does.
 * `asymmetricReply`: `p` is the return traffic of a flow that did not pass
 * this gateway.
 */
export function natGatewayRefusal(gateway: string, p: Flow, vpcCidr: string, asymmetricReply: boolean): NatRefusal | undefined {
  if (p.proto !== 6 && p.proto !== 17 && p.proto !== 1) {
    return { code: 'PROTOCOL_RESTRICTION', note: 'a NAT gateway carries TCP, UDP and ICMP only [VPC-NGW]' };
  }
  if (!cidrContainsIp(vpcCidr, p.src)) {
    return { code: 'NGW_REQUIRES_SOURCE_IN_VPC', note: `${p.src} is outside the VPC: a NAT gateway only serves sources in its VPC` };
  }
  if (p.fragment !== undefined && p.proto !== 17) {
    return { code: 'PROTOCOL_RESTRICTION', note: `a NAT gateway forwards fragmented UDP only; fragmented ${p.proto === 6 ? 'TCP' : 'ICMP'} is dropped [VPC-NGW]` };
  }
  const back = `this is the reply of a flow that did not come through ${gateway} (asymmetric return path)`;
  if (asymmetricReply && p.proto === 6) {
    return {
      code: 'NGW_SOURCE_ADDRESS_REASSIGN',
      note: `${back}: a TCP segment that is not a SYN matches no translation; the NAT gateway drops it and answers the sender with a RST, as after its idle timeout [VPC-NGW-TS]`,
    };
  }
  if (p.proto === 1) {
    const t = p.icmpType as number;
    if (NAT_GATEWAY_ICMP_QUERIES.includes(t)) return undefined;
    if (asymmetricReply) return { code: 'NGW_SOURCE_ADDRESS_REASSIGN', note: `${back}: an ICMP reply (type ${t}) opens no translation` };
    if (ICMP_ERROR_TYPES.includes(t)) {
      return {
        code: 'PROTOCOL_RESTRICTION',
        note: `an ICMP error (type ${t}) passes a NAT gateway only as related to a translation whose packet it quotes (RFC 5508); on its own it opens none`,
      };
    }
    return {
      code: 'PROTOCOL_RESTRICTION',
      note: `ICMP type ${t} opens no translation: a NAT gateway translates ICMP queries that carry an identifier (echo 8, timestamp 13) and errors about its translations`,
    };
  }
  return undefined;
}
