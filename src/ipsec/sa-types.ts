/**
 * The hand-off between the IKE control plane (src/ike/) and the ESP data path
 * (src/ipsec/): one negotiated CHILD_SA, i.e. one pair of ESP SAs with their
 * keys, selectors and UDP encapsulation endpoints.
 *
 * Types only: the data plane imports this file, never src/ike/.
 *
 * Conventions:
 * - addresses are host-order u32 (IPv4), as everywhere in the data plane;
 * - SPIs are u32 (`>>> 0`), `spiIn` is the SPI the peer puts in ESP packets
 *   it sends us (we chose it), `spiOut` the one we put in packets we send;
 * - `…In` keys decrypt/verify inbound packets, `…Out` keys protect outbound;
 * - GCM (RFC 4106): `encKey*` is the AES key (16 or 32 bytes), `salt*` the
 *   4-byte salt (nonce = salt | 8-byte explicit IV), `integKey*` empty;
 * - CBC + HMAC (RFC 3602 + RFC 4868): `salt*` empty, `integKey*` the HMAC key,
 *   ICV truncated to `icvLen`.
 *
 * Rekeying is make-before-break: IKE installs the new SA (same selectors)
 * before removing the old one. The data plane sends with the most recently
 * installed SA of a selector pair and accepts inbound packets on every SA
 * still installed (looked up by SPI) until `remove-child-sa` arrives.
 */

/** ESP transforms the data plane must implement (names follow strongSwan's proposal tokens). */
export type EspAlgorithm =
  | 'aes256gcm16'
  | 'aes128gcm16'
  | 'aes192gcm16'
  | 'aes256-sha256'
  | 'aes128-sha256'
  | 'aes192-sha256'
  | 'aes256-sha384'
  | 'aes128-sha384'
  | 'aes256-sha512'
  | 'aes128-sha512'
  | 'aes256-sha1'
  | 'aes128-sha1'
  | 'aes192-sha1'
  | 'aes192-sha384'
  | 'aes192-sha512';

/** An IPv4 traffic selector range (RFC 7296 §3.13.1), inclusive bounds. */
export interface EspTrafficSelector {
  /** IP protocol, 0 = any. */
  readonly ipProtocol: number;
  /** Host-order u32. */
  readonly startAddr: number;
  readonly endAddr: number;
  readonly startPort: number;
  readonly endPort: number;
}

export interface SaEndpoint {
  /** Host-order u32 IPv4 address. */
  readonly addr: number;
  /** UDP port (4500 with encapsulation; 0 without). */
  readonly port: number;
}

export interface ChildSa {
  /** Connection name (config `vpnConnections` key) and tunnel index, for counters and logs. */
  readonly connection: string;
  readonly tunnel: number;
  /** Unique per IKE session; changes on every rekey. */
  readonly id: number;
  readonly spiIn: number;
  readonly spiOut: number;
  readonly algorithm: EspAlgorithm;
  readonly encKeyIn: Uint8Array;
  readonly encKeyOut: Uint8Array;
  /** 4 bytes for GCM, empty otherwise. */
  readonly saltIn: Uint8Array;
  readonly saltOut: Uint8Array;
  /** HMAC keys for CBC transforms, empty for GCM. */
  readonly integKeyIn: Uint8Array;
  readonly integKeyOut: Uint8Array;
  /** ICV length in bytes (16 for GCM-16 and HMAC-SHA2-256-128, 12 for HMAC-SHA1-96, ...). */
  readonly icvLen: number;
  /** Extended sequence numbers (always false: not negotiated by this implementation). */
  readonly esn: boolean;
  /** Anti-replay window in packets (AWS default 1024). */
  readonly replayWindow: number;
  /** Selectors of our side (what we send from / receive to). */
  readonly localTs: readonly EspTrafficSelector[];
  /** Selectors of the peer side. */
  readonly remoteTs: readonly EspTrafficSelector[];
  readonly local: SaEndpoint;
  readonly peer: SaEndpoint;
  /** ESP-in-UDP (RFC 3948) on `local.port` <-> `peer.port`. */
  readonly encap: boolean;
  /** Tunnel mode (always true: AWS VPN tunnels are tunnel mode). */
  readonly tunnelMode: boolean;
  /** Negotiated lifetime (seconds); the SA is rekeyed before, and removed at, this age. */
  readonly lifetimeSec: number;
  /** Monotonic ms (the IKE session's clock) when installed. */
  readonly installedMs: number;
}

/** One-line description without any key material, for logs. */
export function describeChildSa(sa: ChildSa): string {
  const spi = (v: number): string => v.toString(16).padStart(8, '0');
  return `${sa.connection}#${sa.tunnel} child ${sa.id} ${sa.algorithm} in=${spi(sa.spiIn)} out=${spi(sa.spiOut)}${sa.encap ? ` udp ${sa.local.port}->${sa.peer.port}` : ''}`;
}
