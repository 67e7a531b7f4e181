/**
 * The ESP engine behind the per-tunnel interface the VPN packet path calls
 * (src/vpn/vpn-path.ts `TunnelCrypto`, plus the control-plane methods of
 * src/vpn/crypto.ts `BoundTunnelCrypto`). Structural: this file does not
 * import src/vpn (ipsec sits below it), the shapes just match.
 *
 * Tunnel slots are the SA table's tunnel ids: install(slot, sa) installs with
 * tunnelId = slot, so the outbound SA of tunnel slot t is table.outbound(t)
 * and a decrypted packet's tunnel is the tunnelId of table.lastInSlot.
 *
 * Return codes are EspError values (NoSa -1, Replay -2, Auth -3, Malformed
 * -4, BadNextHeader -5, Dummy -6, Expired -7, NoRoom -8); the packet path
 * maps them with espDropReason() (Dummy -> None: consumed, counted per SA).
 *
 * Packet lifetimes: an outbound SA that sent its hard limit of packets stops
 * counting as the tunnel's outbound SA (hasOutbound false: the packet path
 * fails over to another tunnel or drops with vpn_down); pollLifetimes() tells
 * the control plane which tunnels need a rekey.
 */
import { EspError, EspSealQueue, espDecrypt, espEncrypt, espEncryptDeferred, espFlushSeals, tunnelMtu } from './esp.js';
import { type EspBackend, type EspSa, type SavedEspSa, SaLifetime, SaTable } from './sa-table.js';
import type { ChildSa } from './sa-types.js';

export interface EspTunnelCryptoOptions {
  /** Outer MTU the inner MTU is computed for (default 1500). */
  readonly outerMtu?: number;
  /** Inner MTU reported for a tunnel without an SA (default 1438, AES-GCM in UDP). */
  readonly defaultInnerMtu?: number;
  readonly backend?: EspBackend;
  readonly maxSas?: number;
  readonly replayWindow?: number;
  /** Per-SA packet lifetime (SaTableOptions): soft = rekey, hard = stop sending. */
  readonly softPackets?: number;
  readonly hardPackets?: number;
}

export class EspTunnelCrypto {
  readonly table: SaTable;
  /** Tunnel slot of the SA the last decrypt() looked up (-1 if none). */
  lastTunnel = -1;
  private readonly outerMtu: number;
  private readonly defaultInnerMtu: number;
  /** Seals deferred to the end of the batch (one native call). */
  private readonly seals = new EspSealQueue(4096);

  constructor(tunnels: number, opts: EspTunnelCryptoOptions = {}) {
    this.table = new SaTable({
      maxTunnels: Math.max(1, tunnels),
      maxSas: opts.maxSas ?? Math.max(16, tunnels * 4),
      ...(opts.backend === undefined ? {} : { backend: opts.backend }),
      ...(opts.replayWindow === undefined ? {} : { replayWindow: opts.replayWindow }),
      ...(opts.softPackets === undefined ? {} : { softPackets: opts.softPackets }),
      ...(opts.hardPackets === undefined ? {} : { hardPackets: opts.hardPackets }),
    });
    this.outerMtu = opts.outerMtu ?? 1500;
    this.defaultInnerMtu = opts.defaultInnerMtu ?? 1438;
  }

  /** Control plane: a CHILD_SA for tunnel slot `slot` (becomes its outbound SA). Throws RangeError if unusable. */
  install(slot: number, sa: ChildSa): EspSa {
    return this.table.install(sa, slot);
  }

  /** Control plane: removes the SA with this inbound SPI (no-op if unknown). */
  remove(spiIn: number): void {
    this.table.remove(spiIn);
  }

  /**
   * Control plane, between batches: calls onLimit(tunnel slot, inbound SPI,
   * hard) once when a tunnel's outbound SA reaches its soft packet limit and
   * once when it reaches its hard limit. Returns the number of calls.
   */
  pollLifetimes(onLimit: (slot: number, spiIn: number, hard: boolean) => void): number {
    return this.table.pollLifetimes((sa, state) => onLimit(sa.tunnelId, sa.spiIn, state === SaLifetime.Hard));
  }

  /** Restart: SaTable.saveState. */
  saveState(margin: number): SavedEspSa[] {
    return this.table.saveState(margin);
  }

  /** Restart: SaTable.loadState (throws SavedStateError). */
  loadState(saved: SavedEspSa): void {
    this.table.loadState(saved);
  }

  /** Whether tunnel slot t has an outbound SA that may still send. */
  hasOutbound(t: number): boolean {
    const sa = this.table.outboundSa(t);
    return sa !== null && sa.lifetime !== SaLifetime.Hard;
  }

  /** Largest inner packet for tunnel slot t in one outer packet of outerMtu. */
  innerMtu(t: number): number {
    const sa = this.table.outboundSa(t);
    return sa === null ? this.defaultInnerMtu : tunnelMtu(sa, this.outerMtu);
  }

  /** ESP (header .. ICV) of an inner IPv4 packet for tunnel slot t at out[outOff]; length or EspError. */
  encrypt(t: number, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number {
    const sa = this.table.outboundSa(t);
    if (sa === null) return EspError.NoSa;
    return espEncrypt(sa, inner, innerOff, innerLen, out, outOff);
  }

  /**
   * As encrypt(), but the AEAD of a native-engine SA runs in flush(): the
   * output at out[outOff..] is complete only after it. `tag` is returned to
   * flush's onFail for a packet whose seal failed.
   */
  encryptDeferred(t: number, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number, tag: number): number {
    const sa = this.table.outboundSa(t);
    if (sa === null) return EspError.NoSa;
    return espEncryptDeferred(sa, inner, innerOff, innerLen, out, outOff, this.seals, tag);
  }

  /** Seals everything encryptDeferred queued in `buf`, in one native call. */
  flush(buf: Uint8Array, onFail: ((tag: number) => void) | null): void {
    espFlushSeals(this.table, buf, this.seals, onFail);
  }

  /**
   * Inner packet of the ESP packet buf[espOff, +espLen) at out[outOff];
   * length or EspError (Dummy for an authentic dummy packet). Sets lastTunnel.
   */
  decrypt(buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): number {
    const n = espDecrypt(this.table, buf, espOff, espLen, out, outOff);
    const sa = this.table.at(this.table.lastInSlot);
    this.lastTunnel = sa === null ? -1 : sa.tunnelId;
    return n;
  }
}
