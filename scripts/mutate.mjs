#!/usr/bin/env node
// npm run mutate [-- GROUP...]: Stryker over the packet-path modules, one run
// per module group (each with the unit tests that exercise it), then the
// mutation score per file. Groups: see GROUPS below; no argument runs them all.
// Score = (killed + timed out) / (killed + timed out + survived + no coverage).
// Reports: reports/mutation/<group>.json (mutation-testing-elements schema).
// Property tests run with one fixed PROPERTY_SEED, so every mutant meets the same cases.
// MUTATE_CONCURRENCY=1 runs one test process (default 2). Adding tests never
// revives a killed mutant, so after new tests it is enough to re-test the
// survivors: MUTATE_ONLY=src/x.ts:10-12,src/x.ts:40-41 npm run mutate -- GROUP
// (Stryker's incremental mode, tried with the vitest runner, reused every
// survivor after tests had been added, so it is not used).
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Each group runs the unit tests aimed at its modules (the whole unit suite
// covers them too, but runs for hours on two cores under mutation).
export const GROUPS = {
  nacl: {
    files: ['src/acl/nacl-stage.ts', 'src/acl/nacl-compile.ts'],
    tests: ['test/unit/acl/**/*.test.ts', 'test/unit/compile/**/*.test.ts', 'test/unit/pipeline/security.test.ts'],
  },
  sg: {
    files: ['src/conntrack/sg-stage.ts'],
    tests: ['test/unit/conntrack/sg-stage.test.ts', 'test/unit/conntrack/sg-stage-eni.test.ts', 'test/unit/conntrack/sg-stage-events.test.ts', 'test/unit/conntrack/sg-stage-known.test.ts', 'test/unit/pipeline/security.test.ts', 'test/unit/pipeline/legs.test.ts', 'test/unit/observe/events.test.ts'],
  },
  sgc: {
    files: ['src/conntrack/sg-compile.ts'],
    tests: ['test/unit/conntrack/sg-compile.test.ts', 'test/unit/compile/**/*.test.ts'],
  },
  conntrack: {
    files: ['src/conntrack/conntrack.ts', 'src/conntrack/tcp-state.ts', 'src/conntrack/flow-table.ts', 'src/conntrack/flow-pool.ts', 'src/conntrack/expiry.ts'],
    tests: ['test/unit/conntrack/{conntrack,conntrack-limits,adversarial,allowance,expiry,flow-pool,flow-state,flow-table,tcp-state}.test.ts'],
  },
  nat: {
    files: ['src/nat/igw.ts', 'src/nat/nat-gateway-path.ts', 'src/nat/nat-gateway.ts', 'src/nat/translate.ts'],
    tests: ['test/unit/nat/**/*.test.ts', 'test/unit/pipeline/gateways.test.ts', 'test/unit/pipeline/uplink-arp.test.ts', 'test/unit/pipeline/legs.test.ts'],
  },
  router: {
    files: ['src/pipeline/router.ts', 'src/pipeline/frames.ts'],
    tests: ['test/unit/pipeline/router.test.ts', 'test/unit/pipeline/router-answers.test.ts', 'test/unit/pipeline/frames.test.ts', 'test/unit/pipeline/legs.test.ts', 'test/unit/pipeline/gateways.test.ts'],
  },
  // The wiring (each kind of leg as its list of stages) and the batch loop
  // that hands frames to it; the tests that send frames through a whole data
  // plane (not no-gc.test.ts: Stryker's instrumented code allocates).
  path: {
    files: ['src/pipeline/legs.ts', 'src/pipeline/dataplane.ts'],
    tests: ['test/unit/pipeline/{legs,legs-*,dataplane,gateways,gso,router,router-answers,security,uplink-arp,service-path}.test.ts', 'test/unit/nat/{igw-path,igw-uplink,nat-gateway-path,nat-gateway-translation}.test.ts', 'test/unit/conntrack/sg-stage*.test.ts', 'test/unit/observe/events.test.ts', 'test/unit/vpn/**/*.test.ts'],
  },
  tunnel: {
    files: ['src/vpn/tunnel-forward.ts', 'src/vpn/direct-connect.ts', 'src/vpn/vpn-path.ts'],
    tests: ['test/unit/vpn/**/*.test.ts', 'test/unit/pipeline/{gateways,gso,legs,legs-*}.test.ts', 'test/unit/ike/vpn-manager.test.ts', 'test/unit/daemon/restart-state.test.ts'],
  },
  mss: {
    files: ['src/wire/tcp-mss.ts'],
    tests: ['test/unit/wire/tcp-mss.test.ts'],
  },
  esp: {
    files: ['src/ipsec/esp.ts', 'src/ipsec/replay-window.ts'],
    tests: ['test/unit/ipsec/{esp,esp-edges,esp-deferred,replay-window,vectors,sa-table,tunnel-crypto,encap-mtu}.test.ts'],
  },
};

function score(report) {
  const rows = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
    for (const m of mutants) n[m.status in n ? m.status : 'other']++;
    const detected = n.Killed + n.Timeout;
    const valid = detected + n.Survived + n.NoCoverage;
    rows.push({ file, detected, survived: n.Survived, noCoverage: n.NoCoverage, valid, score: valid === 0 ? 100 : (100 * detected) / valid });
  }
  return rows;
}

// Stryker 9.5's vitest setup file reads the suite's `meta` from the first
// argument of its afterAll hooks, which vitest 4.1 refuses ("The afterAll hook
// uses fixtures..."): every test file then ends in a hook error, no per-test
// coverage reaches Stryker (so every mutant runs every test of its group, and
// static or uncovered mutants cannot be told apart) and the hit limit that
// catches endless loops is never read. Stryker 9.6 passes the suite as the
// second argument; its dependencies do not all resolve from the registry
// today, so the same change is made here to the installed file (idempotent).
function patchStrykerSetup() {
  const setup = join(root, 'node_modules/@stryker-mutator/vitest-runner/dist/src/stryker-setup.js');
  const src = readFileSync(setup, 'utf8');
  const fixed = src
    .replace(/afterAll\(\(\{ meta \}\) => \{\n(\s*)meta\.hitCount = ns\.hitCount;/, 'afterAll(({}, suite) => {\n$1suite.meta.hitCount = ns.hitCount;')
    .replace(/afterAll\(\(\{ meta \}\) => \{\n(\s*)meta\.mutantCoverage = ns\.mutantCoverage;/, 'afterAll(({}, suite) => {\n$1suite.meta.mutantCoverage = ns.mutantCoverage;');
  if (fixed !== src) {
    writeFileSync(setup, fixed);
    console.log('mutate: Stryker vitest setup: afterAll hooks take the suite as their second argument (vitest 4.1)');
  }
  if (/afterAll\(\(\{ meta \}\)/.test(fixed)) throw new Error(`mutate: ${setup}: an afterAll hook still reads meta from its first argument`);
}

const args = process.argv.slice(2);
const unknown = args.filter((g) => !(g in GROUPS));
if (unknown.length > 0) {
  console.error(`mutate: unknown group(s) ${unknown.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}`);
  process.exit(2);
}
const groups = args.length > 0 ? args : Object.keys(GROUPS);
patchStrykerSetup();
mkdirSync(join(root, 'reports/mutation'), { recursive: true });
const all = [];
let failed = false;
for (const g of groups) {
  // MUTATE_ONLY: mutate patterns replacing the group's files (a subset, or
  // line ranges such as src/x.ts:10-20 to re-test only some mutants).
  const { tests } = GROUPS[g];
  const files = process.env.MUTATE_ONLY ? process.env.MUTATE_ONLY.split(',') : GROUPS[g].files;
  console.log(`\n=== mutate ${g}: ${files.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PROPERTY_SEED: process.env.PROPERTY_SEED ?? '20251127', MUTATE_GROUP: g, MUTATE_FILES: files.join(','), MUTATE_TESTS: JSON.stringify(tests) },
  });
  const json = join(root, `reports/mutation/${g}.json`);
  if (r.status !== 0 || !existsSync(json)) {
    console.error(`mutate: group ${g} failed (stryker exit ${r.status})`);
    failed = true;
    continue;
  }
  for (const row of score(JSON.parse(readFileSync(json, 'utf8')))) all.push({ group: g, seconds: Math.round((Date.now() - t0) / 1000), ...row });
}
const lines = ['group      file                                  score  killed survived no-cov  total', ...all.map((r) =>
  `${r.group.padEnd(10)} ${r.file.padEnd(37)} ${r.score.toFixed(1).padStart(5)}% ${String(r.detected).padStart(6)} ${String(r.survived).padStart(8)} ${String(r.noCoverage).padStart(6)} ${String(r.valid).padStart(6)}`)];
console.log(`\nmutation score per file\n${lines.join('\n')}`);
writeFileSync(join(root, 'reports/mutation/summary.txt'), lines.join('\n') + '\n');
process.exit(failed ? 1 : 0);
