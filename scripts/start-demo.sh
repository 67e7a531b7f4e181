#!/usr/bin/env bash
# npm start: lab up + daemon on the bundled demo configuration, then lab down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-config/demo.yaml}
if [ "$(id -u)" != 0 ]; then
  echo "npm start needs root (network namespaces, raw sockets): sudo npm start" >&2
  exit 2
fi
bash scripts/install-deps.sh demo
[ -f dist/cli/main.js ] || npm run build
./bin/vpcd check "$CONFIG"
./bin/vpcd lab up "$CONFIG"
cleanup() { ./bin/vpcd lab down "$CONFIG" || true; }
trap cleanup EXIT
node scripts/demo-tips.mjs "$CONFIG" || true
./bin/vpcd run "$CONFIG" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
wait $pid || true
