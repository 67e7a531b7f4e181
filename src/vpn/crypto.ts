/**
 * Binds the VPN packet path (vpn-path.ts) to the ESP engine (src/ipsec):
 * per tunnel slot the newest outbound SA (make-before-break on rekey),
 * inbound SAs by SPI until IKE removes them. The engine runs AES-GCM and
 * AES-CBC + HMAC in the native addon when it is built (vpcd_esp.node), and
 * falls back to node:crypto otherwise.
 */
import type { ChildSa } from '../ipsec/sa-types.js';
import { EspTunnelCrypto } from '../ipsec/tunnel-crypto.js';
import type { TunnelCrypto, VpnPath } from './vpn-path.js';

export interface BoundTunnelCrypto extends TunnelCrypto {
  install(slot: number, sa: ChildSa): unknown;
  remove(spiIn: number): void;
}

export function createTunnelCrypto(path: VpnPath): BoundTunnelCrypto {
  // Room for make-before-break rekeys of every tunnel (old and new SAs side by side).
  return new EspTunnelCrypto(path.tunConn.length, { maxSas: Math.max(64, path.tunConn.length * 8) });
}
