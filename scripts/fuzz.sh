#!/usr/bin/env bash
# npm run fuzz: seeded fuzzing of the data plane (frames through the in-process router with security,
# flow logs, IGW uplink, NAT gateways and the VPN path) and of the IKE responder.
#
#   npm run fuzz                                  # 10,000,000 frames + 20,000 IKE messages, random seed
#   FUZZ_SEED=1234 npm run fuzz                   # replay a run
#   FUZZ_FRAMES=200000 FUZZ_IKE=2000 npm run fuzz # quick look
#   bash scripts/fuzz.sh build                    # only compile (used by the unit test)
#
# Knobs: FUZZ_SEED, FUZZ_FRAMES, FUZZ_IKE, FUZZ_SLOW_MS (50), FUZZ_HANG_MS (5000), FUZZ_REPORT (JSON path),
# FUZZ_DEBUG_BATCH (see test/fuzz/main.ts). Findings and their reproducers: test/fuzz/FINDINGS.md.
# Exit status 1 when anything was found; the findings are printed and in the JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=node_modules/.cache/vpcd-fuzz

build() {
  [ -x node_modules/.bin/tsc ] || { echo "fuzz: node_modules missing: npm ci" >&2; exit 2; }
  # tsc emits even with type errors elsewhere in the tree; the fuzzer's own files must compile
  node_modules/.bin/tsc -p test/fuzz/tsconfig.json >/dev/null || [ -f "$OUT/test/fuzz/main.js" ]
  # inside node_modules Node does not look further up for package.json: say these are ES modules
  echo '{ "type": "module" }' >"$OUT/package.json"
  # src/ipsec/esp-native.js finds the native addon relative to the tree root
  ln -sfn "$PWD/native" "$OUT/native"
}

build
if [ "${1:-}" = build ]; then exit 0; fi
exec node "$OUT/test/fuzz/main.js"
