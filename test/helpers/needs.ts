/**
 * What a test needs from the machine (root, peers such as strongSwan or
 * Prometheus, tools such as tcpdump). On a developer's machine a test whose
 * needs are missing is skipped; in CI (CI=true) it fails instead, naming what
 * is missing, so a CI run that lacks a peer cannot pass by skipping.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';
import { loadEspNative } from '../../src/ipsec/esp-native.js';

/** `esp-addon`: the native ESP engine (built by `npm ci`). */
/** `curl`, `busybox` (udhcpc), `sntp`, `dig`: the clients of the VPC services' tests. */
export type Need = 'root' | 'strongswan' | 'prometheus' | 'openssl' | 'tcpdump' | 'nft' | 'python3' | 'esp-addon' | 'curl' | 'busybox' | 'sntp' | 'dig' | 'chromium';

/** True when run by CI (`CI=true`, as CI services set it). */
export const inCi = process.env.CI === 'true' || process.env.CI === '1';

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => d !== '' && existsSync(join(d, cmd)));
}

const CHECKS: Record<Need, () => boolean> = {
  root: () => process.getuid?.() === 0,
  strongswan: () => existsSync('/usr/lib/ipsec/charon') && existsSync('/usr/sbin/swanctl') &&
    existsSync('/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so'),
  prometheus: () => existsSync('/usr/bin/prometheus'),
  openssl: () => onPath('openssl'),
  tcpdump: () => onPath('tcpdump'),
  nft: () => onPath('nft'),
  python3: () => onPath('python3'),
  'esp-addon': () => loadEspNative() !== null,
  chromium: () => onPath('chromium'),
  curl: () => onPath('curl'),
  busybox: () => onPath('busybox'),
  sntp: () => onPath('sntp'),
  dig: () => onPath('dig'),
};

/** The needs this machine lacks. */
export function missing(needs: readonly Need[]): Need[] {
  return needs.filter((n) => !CHECKS[n]());
}

function explain(needs: readonly Need[], lacking: readonly Need[]): string {
  return `needs ${needs.join(', ')}; missing here: ${lacking.join(', ')} (scripts/install-deps.sh test installs the packages; run as root)`;
}

/**
 * describe() for a suite with needs: runs when they are met; otherwise skipped, or in CI one
 * failing test that names what is missing.
 */
export function describeWith(needs: readonly Need[], name: string, body: () => void): void {
  const lacking = missing(needs);
  if (lacking.length === 0) describe(name, body);
  else if (inCi) describe(name, () => it('has what it needs', () => { throw new Error(`${name}: ${explain(needs, lacking)}`); }));
  else describe.skip(name, body);
}

/** it() for a test with needs: as describeWith. */
export function itWith(needs: readonly Need[], name: string, body: () => void | Promise<void>): void {
  const lacking = missing(needs);
  if (lacking.length === 0) it(name, body);
  else if (inCi) it(name, () => { throw new Error(`${name}: ${explain(needs, lacking)}`); });
  else it.skip(name, body);
}
