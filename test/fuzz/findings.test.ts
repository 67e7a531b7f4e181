/**
 * The reproducers of test/fuzz/FINDINGS.md (test/fuzz/repro.ts) as
 * regression tests: each must run to its end on the data plane without an
 * exception and without hanging. They run compiled, in a worker thread, so
 * that a hang fails the test instead of stopping the suite.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { runReproInWorker as RunRepro } from './supervisor.js';

const ROOT = join(import.meta.dirname, '..', '..');
let runRepro: typeof RunRepro;

describe('fuzz findings stay fixed', () => {
  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/fuzz.sh'), 'build'], { stdio: 'inherit' });
    ({ runReproInWorker: runRepro } = await import(pathToFileURL(join(ROOT, 'node_modules/.cache/vpcd-fuzz/test/fuzz/supervisor.js')).href) as { runReproInWorker: typeof RunRepro });
  }, 60_000);

  it('2100 distinct internet destinations do not hang the uplink neighbour table', async () => {
    expect(await runRepro('neighbor-table-hang', 10_000)).toBe('ok');
  }, 60_000);

  it('an internet packet with a spoofed VPC source matching an internal flow is judged, not thrown on', async () => {
    expect(await runRepro('spoofed-vpc-source-crash', 10_000)).toBe('ok');
  }, 60_000);
});
