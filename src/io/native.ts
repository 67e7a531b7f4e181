/**
 * Binding to the native packet I/O addon (native/src/vpcd_io.cc).
 * One JS-to-native crossing per batch: rx() fills the rx descriptors for up to
 * slotCount frames from every readable port; tx(n) sends the first n tx descriptors.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PortInfo {
  readonly name: string;
  readonly ifindex: number;
  readonly vnet: boolean;
  readonly kind: 'packet' | 'tap';
  readonly mac?: Buffer;
  readonly mtu?: number;
}

export interface PortStats {
  readonly id: number;
  readonly name: string;
  readonly rxFrames: number;
  readonly txFrames: number;
  readonly rxTruncated: number;
  readonly txErrors: number;
  readonly txEagain: number;
  readonly kernelDrops: number;
}

/** Error thrown by the addon for a failed system call. */
export interface IoError extends Error {
  readonly errno: number;
  readonly syscall: string;
  readonly interface: string;
  readonly code?: string;
}

export interface NativeIoEngine {
  addPacketPort(ifname: string, netnsPath: string | null, vnetHdr: boolean): number;
  addTapPort(name: string, netnsPath: string | null, vnetHdr: boolean): number;
  closePort(id: number): void;
  portInfo(id: number): PortInfo | null;
  rx(maxFrames: number): number;
  tx(count: number): number;
  start(onReadable: () => void): void;
  stop(): void;
  stats(): PortStats[];
  close(): void;
}

interface Addon {
  IoEngine: new (
    arena: ArrayBuffer, slotSize: number, slotCount: number,
    rxPort: Uint16Array, rxOff: Uint32Array, rxLen: Uint32Array,
    txPort: Uint16Array, txOff: Uint32Array, txLen: Uint32Array,
  ) => NativeIoEngine;
  vnetHdrLen: number;
  /** IP_TTL on a socket by fd: 0, or -errno. */
  setIpTtl(fd: number, ttl: number): number;
}

let addon: Addon | undefined;

/** Loads the addon built by `npm ci` (node-gyp). Throws a clear error when it is missing. */
export function loadAddon(): Addon {
  if (addon) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  // src/io or dist/io -> repository root
  const root = join(here, '..', '..');
  const candidates = [join(root, 'native', 'build', 'Release', 'vpcd_io.node'), join(root, 'native', 'build', 'Debug', 'vpcd_io.node')];
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new Error(`native addon not built (looked for ${candidates[0]}): run \`npm ci\` or \`npx node-gyp rebuild --directory native\``);
  const require = createRequire(import.meta.url);
  addon = require(path) as Addon;
  return addon;
}

/** Path of a named network namespace as `ip netns` creates it. */
export function netnsPath(name: string | undefined): string | null {
  return name === undefined ? null : `/run/netns/${name}`;
}
