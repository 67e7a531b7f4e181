#!/usr/bin/env bash
# scripts/agreement-long.sh - `npm run agreement:long`: the explain/packet-path agreement
# test (test/unit/agreement) with 1,000,000 flows instead of the unit tier's 10,000.
# No root needed; one core; about 15 minutes on an idle core (1,000-1,500 flows/s), longer under load.
#
#   npm run agreement:long
#   AGREEMENT_SEED=123 npm run agreement:long             # replay one seed
#   AGREEMENT_CASES=200000 npm run agreement:long          # shorter
#
# Knobs (environment):
#   AGREEMENT_CASES=1000000   flows to run (random VPCs serve about 20 flows each)
#   AGREEMENT_SEED            fast-check seed; random (and printed) when unset
#   AGREEMENT_SHRINK=12       distinct disagreements to shrink and print in full
#   AGREEMENT_FOCUS=text      shrink only the disagreements whose description contains the text
# Output: the seed, flows/s, counts per category, and every kind of disagreement found.
set -euo pipefail
cd "$(dirname "$0")/.."
export AGREEMENT_CASES="${AGREEMENT_CASES:-1000000}"
exec npx vitest run --project unit test/unit/agreement "$@"
