/**
 * The VPN's tables on the packet path: connections (remote networks, split
 * or full tunnel), their tunnels (local and peer WAN addresses, state, the
 * outbound SA), counters. Which tunnel carries a packet: the first tunnel of
 * its connection that is up, so traffic fails over to tunnel 2 when tunnel 1
 * dies and fails back when it returns (AWS: one active tunnel per connection,
 * the other standby). Built by the control plane; read per packet.
 */
import type { VpcConfig, VpnConnection } from '../control/config-types.js';
import { parseCidr4 } from '../lib/ipv4.js';
import { ipToU32 } from '../wire/addr.js';

/** Our address for a tunnel: its `local`, else the customer gateway's WAN address. */
export function tunnelLocal(cfg: VpcConfig, conn: VpnConnection, t: number): string | undefined {
  return conn.tunnels[t]?.local ?? cfg.customerGateway?.wan.ip;
}

/** What the packet path needs from the ESP engine (src/ipsec). */
export interface TunnelCrypto {
  /** Encrypts an inner IPv4 packet for tunnel slot `t`: ESP header..ICV at out[outOff..]; returns the ESP length, or < 0. */
  encrypt(t: number, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number): number;
  /**
   * Verifies and decrypts the ESP packet at buf[espOff, espOff+espLen) into
   * out[outOff..]; returns the inner packet length, or < 0 (an error code the
   * caller counts). `lastTunnel` is then the tunnel slot the SA belongs to.
   */
  decrypt(buf: Uint8Array, espOff: number, espLen: number, out: Uint8Array, outOff: number): number;
  lastTunnel: number;
  /** Largest inner packet for tunnel slot `t` in a 1500-byte outer packet (ESP in UDP). */
  innerMtu(t: number): number;
  /** Whether tunnel slot `t` has an outbound SA. */
  hasOutbound(t: number): boolean;
  /** encrypt() whose AEAD may be deferred to flush(); `tag` identifies the packet to onFail. */
  encryptDeferred?(t: number, inner: Uint8Array, innerOff: number, innerLen: number, out: Uint8Array, outOff: number, tag: number): number;
  /** Runs the deferred AEADs of this batch (one crossing into native code). */
  flush?(buf: Uint8Array, onFail: ((tag: number) => void) | null): void;
}

export const VpnCounter = { BytesIn: 0, BytesOut: 1, PacketsIn: 2, PacketsOut: 3 } as const;

export class VpnPath {
  readonly connNames: readonly string[];
  readonly connRole: Uint8Array; // 0 cgw, 1 vgw
  readonly connSplit: Uint8Array;
  /** Remote networks, flattened: connection c owns [netStart[c], netStart[c]+netCount[c]). */
  readonly netStart: Int32Array;
  readonly netCount: Int32Array;
  readonly netAddr: Uint32Array;
  readonly netMask: Uint32Array;
  /** Tunnels: connection c owns slots [tunStart[c], tunStart[c]+tunCount[c]). */
  readonly tunStart: Int32Array;
  readonly tunCount: Int32Array;
  readonly tunConn: Int32Array;
  readonly tunIndex: Int32Array;
  /** int32 (see Topology). */
  readonly tunLocal: Int32Array;
  readonly tunPeer: Int32Array;
  /** 1 when IKE says the tunnel is up. */
  readonly tunUp: Uint8Array;
  /** Per tunnel slot × VpnCounter. */
  readonly counters: Float64Array;
  crypto: TunnelCrypto | null = null;

  constructor(cfg: VpcConfig) {
    const conns = [...cfg.vpnConnections.values()];
    this.connNames = conns.map((c) => c.name);
    this.connRole = Uint8Array.from(conns.map((c) => (c.role === 'vgw' ? 1 : 0)));
    this.connSplit = Uint8Array.from(conns.map((c) => (c.splitTunnel ? 1 : 0)));
    const nets: { addr: number; mask: number }[] = [];
    this.netStart = new Int32Array(conns.length);
    this.netCount = new Int32Array(conns.length);
    conns.forEach((c, i) => {
      this.netStart[i] = nets.length;
      // Full tunnel (cgw, splitTunnel false): every destination goes through it.
      // Stryker disable next-line ConditionalExpression: equivalent (true): a vgw connection without splitTunnel already has remoteNetworks [0.0.0.0/0] from the configuration's normalisation
      const list = c.role === 'cgw' && !c.splitTunnel ? ['0.0.0.0/0'] : c.remoteNetworks;
      for (const n of list) {
        if (n.includes(':')) continue;
        const p = parseCidr4(n);
        nets.push({ addr: p.net, mask: p.mask });
      }
      this.netCount[i] = nets.length - this.netStart[i];
    });
    this.netAddr = Uint32Array.from(nets.map((n) => n.addr));
    this.netMask = Uint32Array.from(nets.map((n) => n.mask));
    const tuns: { conn: number; index: number; local: number; peer: number }[] = [];
    this.tunStart = new Int32Array(conns.length);
    this.tunCount = new Int32Array(conns.length);
    conns.forEach((c, i) => {
      this.tunStart[i] = tuns.length;
      c.tunnels.forEach((t, k) => {
        const local = tunnelLocal(cfg, c, k);
        tuns.push({ conn: i, index: k, local: local ? ipToU32(local) : 0, peer: ipToU32(t.peer) });
      });
      this.tunCount[i] = tuns.length - this.tunStart[i];
    });
    this.tunConn = Int32Array.from(tuns.map((t) => t.conn));
    this.tunIndex = Int32Array.from(tuns.map((t) => t.index));
    this.tunLocal = Int32Array.from(tuns.map((t) => t.local | 0));
    this.tunPeer = Int32Array.from(tuns.map((t) => t.peer | 0));
    this.tunUp = new Uint8Array(tuns.length);
    this.counters = new Float64Array(tuns.length * 4);
  }

  /** Tunnel slot of (connection name, tunnel index), or -1. Control plane. */
  slotOf(connection: string, tunnel: number): number {
    const c = this.connNames.indexOf(connection);
    if (c < 0 || tunnel < 0 || tunnel >= this.tunCount[c]) return -1;
    return this.tunStart[c] + tunnel;
  }

  /** The connection whose remote networks hold `dst` (most specific match), skipping `except`; -1 if none. */
  connectionFor(dst: number, except: number): number {
    let best = -1, bestMask = -1;
    // Stryker disable next-line EqualityOperator: equivalent (c <= length): the extra connection has no networks (netStart/netCount undefined)
    for (let c = 0; c < this.connNames.length; c++) {
      if (c === except) continue;
      const end = this.netStart[c] + this.netCount[c];
      for (let i = this.netStart[c]; i < end; i++) {
        const m = this.netMask[i];
        // Stryker disable next-line EqualityOperator: equivalent (m > bestMask): on a tie best is already set (a mask is >= 0 > the initial -1), and bestMask keeps its value
        if (((dst & m) >>> 0) === this.netAddr[i] && m >= bestMask) {
          // Stryker disable next-line ConditionalExpression: equivalent (best < 0 -> false): the first match always has m > -1
          if (m > bestMask || best < 0) best = c;
          bestMask = m;
        }
      }
    }
    return best;
  }

  /** True when `src` lies in connection c's remote networks (what may arrive through it). */
  fromRemote(c: number, src: number): boolean {
    const end = this.netStart[c] + this.netCount[c];
    for (let i = this.netStart[c]; i < end; i++) {
      if (((src & this.netMask[i]) >>> 0) === this.netAddr[i]) return true;
    }
    return false;
  }

  /** The active tunnel of connection c: the first one up with an outbound SA; -1 when none. */
  activeTunnel(c: number): number {
    const cr = this.crypto;
    const end = this.tunStart[c] + this.tunCount[c];
    for (let t = this.tunStart[c]; t < end; t++) {
      if (this.tunUp[t] === 1 && cr !== null && cr.hasOutbound(t)) return t;
    }
    return -1;
  }

  /** True when dst is one of the tunnels' peer addresses (never sent into a tunnel). */
  isPeer(dst: number): boolean {
    // Stryker disable next-line EqualityOperator: equivalent (t <= length): tunPeer[length] is undefined, never an address
    for (let t = 0; t < this.tunPeer.length; t++) if (this.tunPeer[t] === (dst | 0)) return true;
    return false;
  }
}
