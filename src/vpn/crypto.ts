/**
 * Binds the VPN packet path (vpn-path.ts) to the ESP engine (src/ipsec):
 * per tunnel slot the newest outbound SA (make-before-break on rekey),
 * inbound SAs by SPI until IKE removes them. The engine runs AES-GCM and
 * AES-CBC + HMAC in the native addon when it is built (vpcd_esp.node), and
 * falls back to node:crypto otherwise.
 *
 * Packet lifetimes reach IKE here: rekeyOnPacketLimits(), called on the
 * daemon's tick, asks the IKE session of each tunnel whose outbound SA sent
 * its soft limit of packets (or its hard limit: it sends nothing more) for a
 * CHILD_SA rekey, the same rekey the time lifetime starts.
 */
import type { Logger } from 'pino';
import type { ChildSa } from '../ipsec/sa-types.js';
import type { SavedEspSa } from '../ipsec/sa-table.js';
import { EspTunnelCrypto } from '../ipsec/tunnel-crypto.js';
import type { VpnManager } from './manager.js';
import type { TunnelCrypto, VpnPath } from './vpn-path.js';

export interface BoundTunnelCrypto extends TunnelCrypto {
  install(slot: number, sa: ChildSa): unknown;
  remove(spiIn: number): void;
  /** Restart: the installed SAs' sequence numbers (plus `margin`) and replay windows (SaTable.saveState). */
  saveState(margin: number): SavedEspSa[];
  /** Restart: an installed SA takes its saved sequence number and replay window (SaTable.loadState); throws SavedStateError. */
  loadState(saved: SavedEspSa): void;
  /** Tunnels whose outbound SA reached its soft (hard = false) or hard packet limit since the last call, once each. */
  pollLifetimes(onLimit: (slot: number, spiIn: number, hard: boolean) => void): number;
}

export function createTunnelCrypto(path: VpnPath): BoundTunnelCrypto {
  // Room for make-before-break rekeys of every tunnel (old and new SAs side by side).
  return new EspTunnelCrypto(path.tunConn.length, { maxSas: Math.max(64, path.tunConn.length * 8) });
}

/**
 * Control plane, between batches: a CHILD_SA rekey for every tunnel whose
 * outbound SA reached a packet limit since the last call (one log line each).
 * Returns the number of rekeys asked for.
 */
export function rekeyOnPacketLimits(crypto: Pick<BoundTunnelCrypto, 'pollLifetimes'>,
  path: Pick<VpnPath, 'connNames' | 'tunConn' | 'tunIndex'>, mgr: Pick<VpnManager, 'rekeyChild'>,
  log: Pick<Logger, 'info' | 'warn'>): number {
  return crypto.pollLifetimes((slot, spiIn, hard) => {
    const connection = path.connNames[path.tunConn[slot]!]!;
    const tunnel = path.tunIndex[slot]!;
    const fields = { event: 'esp-packet-limit', connection, tunnel, spiIn: (spiIn >>> 0).toString(16).padStart(8, '0'), limit: hard ? 'hard' : 'soft' };
    if (hard) log.warn(fields, 'CHILD_SA sent its hard limit of packets: it sends nothing more until rekeyed');
    else log.info(fields, 'CHILD_SA reached its soft packet limit: rekeying');
    mgr.rekeyChild(connection, tunnel);
  });
}
