#!/usr/bin/env bash
# npm test: system packages (root), a fresh build of dist/, then every test.
# Integration tests build network namespaces and need root; without root they
# are reported as skipped by vitest (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-deps.sh
else
  echo "test: not root - integration tests (namespaces) will be skipped" >&2
fi
{ [ -f native/build/Release/vpcd_io.node ] && [ -f native/build/Release/vpcd_esp.node ]; } || npx node-gyp rebuild --directory native >/dev/null
npx tsc -p tsconfig.build.json
npx tsc --noEmit -p .
exec npx vitest run --project unit --project integration "$@"
