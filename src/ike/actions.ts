/**
 * What a sans-IO IKE session hands back to its driver (`IkeAction`s) and the
 * counters it exposes. The types only: no behaviour lives here.
 */
import type { ChildSa } from '../ipsec/sa-types.js';

export interface UdpEndpoint {
  readonly addr: string;
  readonly port: number;
}

export type TunnelState = 'down' | 'connecting' | 'up';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type IkeAction =
  /** Send `bytes` (non-ESP marker included when on the NAT-T port) from src to dst. */
  | { readonly kind: 'send'; readonly bytes: Uint8Array; readonly src: UdpEndpoint; readonly dst: UdpEndpoint }
  /** Hand a negotiated CHILD_SA to the data plane (make-before-break on rekey). */
  | { readonly kind: 'install-child-sa'; readonly sa: ChildSa }
  | { readonly kind: 'remove-child-sa'; readonly id: number; readonly spiIn: number; readonly spiOut: number; readonly reason: string }
  | { readonly kind: 'state'; readonly state: TunnelState; readonly reason: string }
  | { readonly kind: 'log'; readonly level: LogLevel; readonly event: string; readonly msg: string };

export interface IkeStats {
  rxDatagrams: number;
  txDatagrams: number;
  retransmits: number;
  ikeSasEstablished: number;
  childSasInstalled: number;
  childRekeys: number;
  ikeRekeys: number;
  dpdSent: number;
  cookiesSent: number;
  cookieRetries: number;
  invalidKeRetries: number;
  deadPeers: number;
}

export function newIkeStats(): IkeStats {
  return {
    rxDatagrams: 0, txDatagrams: 0, retransmits: 0, ikeSasEstablished: 0, childSasInstalled: 0, childRekeys: 0,
    ikeRekeys: 0, dpdSent: 0, cookiesSent: 0, cookieRetries: 0, invalidKeRetries: 0, deadPeers: 0,
  };
}
