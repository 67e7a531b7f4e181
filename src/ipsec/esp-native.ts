/**
 * Binding to the native ESP AEAD engine (native/src/esp_aead.cc, addon target
 * `vpcd_esp`): OpenSSL EVP contexts keyed once per SA slot and direction,
 * then per packet only a new IV. sealBatch processes a whole vector of
 * packets in one JS-to-native crossing, in place in the caller's arena, with
 * no allocation on either side and no exceptions (an ICV mismatch is a
 * result code).
 *
 * Optional: when the addon is not built, loadEspNative() returns null and the
 * SA table falls back to node:crypto (esp-crypto.ts).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Per-packet results of the native calls. */
export const NativeResult = {
  Ok: 1,
  /** ICV mismatch (open only). */
  AuthFail: 0,
  /** Offsets/lengths outside the buffer, bad slot, or slot without key. */
  Invalid: -1,
} as const;

export interface EspAeadEngine {
  /**
   * Keys slot `slot` for one direction (0 = outbound/seal, 1 = inbound/open).
   * kind: 0 GCM, 1 CBC + HMAC; hash: EspHash (0 for GCM); icvLen in bytes.
   * Returns false if OpenSSL refused the key (wrong length, unknown cipher).
   */
  setKey(slot: number, dir: number, kind: number, hash: number, icvLen: number,
    encKey: Uint8Array, salt: Uint8Array, integKey: Uint8Array): boolean;
  /** Frees both directions' contexts of a slot (keys are cleansed by OpenSSL). */
  clear(slot: number): void;
  /** Seals one packet in place: see sealBatch. Returns a NativeResult. */
  seal1(buf: Uint8Array, slot: number, espOff: number, ptLen: number): number;
  /**
   * Verifies the ICV of the ESP packet buf[espOff, +espLen) and decrypts its
   * payload to out[outOff] (overlap with the input is allowed). Returns a
   * NativeResult.
   */
  open1(buf: Uint8Array, slot: number, espOff: number, espLen: number, out: Uint8Array, outOff: number): number;
  /**
   * For i < n with slot[i] >= 0: encrypts buf[espOff+8+ivLen, +ptLen[i]) in
   * place (header and IV already written) and writes the ICV after it;
   * result[i] = NativeResult. Entries with slot[i] < 0 are skipped. Returns
   * the number of packets that did not succeed.
   */
  sealBatch(buf: Uint8Array, n: number, slot: Int32Array, espOff: Uint32Array, ptLen: Uint32Array, result: Int32Array): number;
}

interface EspAddon {
  EspAead: new (maxSlots: number) => EspAeadEngine;
  /** OpenSSL version string the addon runs against. */
  opensslVersion: string;
}

let addon: EspAddon | null | undefined;

/** The addon's module, or null when it was not built (never throws). */
export function loadEspNative(): EspAddon | null {
  if (addon !== undefined) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..', '..'); // src/ipsec or dist/ipsec -> repository root
  const candidates = [join(root, 'native', 'build', 'Release', 'vpcd_esp.node'), join(root, 'native', 'build', 'Debug', 'vpcd_esp.node')];
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    addon = null;
    return addon;
  }
  try {
    const require = createRequire(import.meta.url);
    addon = require(path) as EspAddon;
  } catch {
    addon = null;
  }
  return addon;
}
