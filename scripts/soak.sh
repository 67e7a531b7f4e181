#!/usr/bin/env bash
# npm run soak: vpcd under steady mixed traffic in a lab for SOAK_SECONDS, watching for unbounded growth.
#
#   sudo npm run soak                        # 10 minutes
#   sudo SOAK_SECONDS=120 npm run soak       # 2 minutes
#
# Builds a lab (vpcd lab up, unique prefix vs<hex>): a public instance "web" (public IP 203.0.113.10),
# a private instance "app" behind a NAT gateway (Elastic IP 203.0.113.5), an internet host
# 203.0.113.100; runs `vpcd run` and, all bounded in rate and time:
#   flow churn  short TCP connections and one-datagram UDP exchanges (new source port each):
#               app -> internet (NAT gateway), web -> internet (IGW), internet -> web (IGW inbound), app -> web
#   SYN flood   internet -> web:8080 from random sources in 198.51.100.0/24 (SOAK_SYN_PPS, default 300/s)
#   UDP flood   internet -> web:9999 (denied by the security group) and -> the NAT gateway's Elastic IP
#               (unsolicited), SOAK_UDP_PPS each (default 500/s)
#   pings       app -> internet host, internet host -> web, twice a second
# Every SOAK_SAMPLE_SECONDS (10) it samples the daemon's RSS and, from /metrics, conntrack entries, NAT
# gateway sessions, and the neighbour and flow-log table sizes when the daemon exports them
# (vpcd_neighbor_entries, vpcd_flow_log_entries); the scrape itself is timed.
# Fails when: the daemon dies; a /metrics scrape takes over 2 s (a stall) or fails; RSS or a table grew:
# its maximum over the last window is over 1.5x its maximum over the window starting at the baseline
# sample (minute 2; half-way in runs under 4 minutes, but not before 60 s; windows of max(60 s, 25 % of
# the run), because RSS saw-tooths with every flow-log flush; tables get 256 entries of slack); or no
# churn connection succeeded (the run would prove nothing). Idle timeouts are short (30-60 s) so that
# every table is in its steady state by the baseline.
# The lab is removed on every exit path (trap). Samples: $SOAK_OUT (default /tmp/vpcd-soak/last).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE_SECONDS:-10}
SYN_PPS=${SOAK_SYN_PPS:-300}
UDP_PPS=${SOAK_UDP_PPS:-500}
OUT=${SOAK_OUT:-/tmp/vpcd-soak/last}
die() { echo "soak: $*" >&2; exit 2; }
for v in SOAK_SECONDS SAMPLE SYN_PPS UDP_PPS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
[ "$SOAK_SECONDS" -ge 60 ] || die "SOAK_SECONDS must be at least 60"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw sockets): sudo npm run soak"
for t in ip curl python3 ping; do command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps.sh)"; done
if [ ! -f dist/cli/main.js ] || [ ! -f native/build/Release/vpcd_io.node ]; then
  echo "soak: building (npm run build)"
  npm run build >/dev/null
fi

PREFIX=vs$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/vpcd-soak-XXXXXX)
MPORT=$((20000 + RANDOM % 20000))
CFG=$WORK/soak.yaml
INET=$PREFIX-inet
H1=203.0.113.100 WEB=198.18.1.10 WEB_PUB=203.0.113.10 NAT_PUB=203.0.113.5
PROBE=$REPO/test/helpers/probe.mjs
CHURN=$REPO/test/helpers/soak-traffic.mjs
FLOOD=$REPO/test/helpers/soak-flood.py
VPCD_PID=
PIDS=()
LAB_UP=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$VPCD_PID" ] && kill -0 "$VPCD_PID" 2>/dev/null; then
    kill -TERM "$VPCD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$VPCD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$VPCD_PID" 2>/dev/null || true
  fi
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$LAB_UP" = 1 ]; then bin/vpcd lab down "$CFG" >/dev/null 2>&1 || echo "soak: lab down reported an error" >&2; fi
  mkdir -p "$OUT"
  cp "$WORK"/*.tsv "$WORK"/*.log "$WORK"/*.err "$WORK"/*.json "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$CFG" <<YAML
vpc: { name: $PREFIX, cidr: 198.18.0.0/16 }
subnets:
  pub: { cidr: 198.18.1.0/24, routeTable: public }
  priv: { cidr: 198.18.2.0/24, routeTable: private }
securityGroups:
  web:
    ingress:
      - { protocol: tcp, ports: 8080, cidr: 0.0.0.0/0 }
      - { protocol: udp, ports: 5353, cidr: 0.0.0.0/0 }
      - { protocol: icmp, icmpType: 8, cidr: 0.0.0.0/0 }
      - { protocol: all, cidr: 198.18.0.0/16 }
  app:
    ingress: [ { protocol: all, cidr: 198.18.0.0/16 } ]
instances:
  web: { subnet: pub, ip: $WEB, publicIp: $WEB_PUB, securityGroups: [web] }
  app: { subnet: priv, ip: 198.18.2.10, securityGroups: [app] }
internetGateway: { name: igw }
natGateways:
  nat-a: { subnet: pub, type: public, ip: 198.18.1.5, publicIp: $NAT_PUB, idleTimeout: 30 }
routeTables:
  public: { routes: [ { destination: 0.0.0.0/0, target: igw } ] }
  private: { routes: [ { destination: 0.0.0.0/0, target: nat-a } ] }
# short idle timeouts: the tables reach their steady state well before the baseline sample
conntrack: { max: 65536, timeouts: { tcpEstablished: 60, tcp: 30, udp: 30, udpStream: 60, icmp: 30, other: 30 } }
flowLogs: { path: $WORK/flows.log, aggregationInterval: 60 }
metrics: { listen: "127.0.0.1:$MPORT" }
lab: { prefix: $PREFIX, internet: $INET, internetHosts: { h1: $H1 } }
YAML

echo "soak: lab $PREFIX, ${SOAK_SECONDS}s, sample every ${SAMPLE}s, metrics 127.0.0.1:$MPORT, work $WORK"
LAB_UP=1
bin/vpcd lab up "$CFG" >"$WORK/lab.log"
bin/vpcd run "$CFG" >"$WORK/vpcd.log" 2>"$WORK/vpcd.err" &
VPCD_PID=$!
for i in $(seq 100); do
  curl -sf -m 2 -o /dev/null "http://127.0.0.1:$MPORT/metrics" && break
  kill -0 "$VPCD_PID" 2>/dev/null || die "vpcd exited at start: $(tail -c 400 "$WORK/vpcd.err")"
  [ "$i" = 100 ] && die "no /metrics after 20 s"
  sleep 0.2
done

inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
bg() { "$@" & PIDS+=($!); }
LIFE=$((SOAK_SECONDS + 30))
# servers
bg inns "$INET" node "$PROBE" tcp-serve "$H1" 8000 "$LIFE" 2>/dev/null >/dev/null
bg inns "$INET" node "$PROBE" udp-serve "$H1" 5353 "$LIFE" 2>/dev/null >/dev/null
bg inns "$PREFIX-web" node "$PROBE" tcp-serve "$WEB" 8080 "$LIFE" 2>/dev/null >/dev/null
bg inns "$PREFIX-web" node "$PROBE" udp-serve "$WEB" 5353 "$LIFE" 2>/dev/null >/dev/null
sleep 1.5
# churn (rates per second), floods, pings: each stops by itself after SOAK_SECONDS
bg inns "$PREFIX-app" node "$CHURN" tcp-churn "$H1" 8000 30 "$SOAK_SECONDS" >"$WORK/churn-app-tcp.json"
bg inns "$PREFIX-app" node "$CHURN" udp-churn "$H1" 5353 30 "$SOAK_SECONDS" >"$WORK/churn-app-udp.json"
bg inns "$PREFIX-web" node "$CHURN" tcp-churn "$H1" 8000 15 "$SOAK_SECONDS" >"$WORK/churn-web-tcp.json"
bg inns "$INET" node "$CHURN" tcp-churn "$WEB_PUB" 8080 15 "$SOAK_SECONDS" >"$WORK/churn-inet-tcp.json"
bg inns "$INET" node "$CHURN" udp-churn "$WEB_PUB" 5353 15 "$SOAK_SECONDS" >"$WORK/churn-inet-udp.json"
bg inns "$PREFIX-app" node "$CHURN" tcp-churn "$WEB" 8080 15 "$SOAK_SECONDS" >"$WORK/churn-app-web.json"
bg inns "$INET" python3 "$FLOOD" syn "$WEB_PUB" 8080 "$SYN_PPS" "$SOAK_SECONDS" $((SYN_PPS * SOAK_SECONDS)) 198.51.100 >"$WORK/flood-syn.json"
bg inns "$INET" python3 "$FLOOD" udp "$WEB_PUB" 9999 "$UDP_PPS" "$SOAK_SECONDS" $((UDP_PPS * SOAK_SECONDS)) 198.51.100 203.0.113 >"$WORK/flood-udp-web.json"
bg inns "$INET" python3 "$FLOOD" udp "$NAT_PUB" 40000 "$UDP_PPS" "$SOAK_SECONDS" $((UDP_PPS * SOAK_SECONDS)) 198.51.100 >"$WORK/flood-udp-nat.json"
bg inns "$PREFIX-app" ping -q -i 0.5 -w "$SOAK_SECONDS" "$H1" >"$WORK/ping-app.log"
bg inns "$INET" ping -q -i 0.5 -w "$SOAK_SECONDS" "$WEB_PUB" >"$WORK/ping-inet.log"

metric() { # name [label filter regex]: the sum of matching samples, or "-" when absent
  awk -v n="$1" -v f="${2:-}" '($1 == n || index($1, n "{") == 1) && (f == "" || $1 ~ f) { s += $NF; hit = 1 } END { if (hit) printf "%d", s; else printf "-" }' "$WORK/metrics.txt"
}
printf 't_s\trss_kb\tscrape_s\tconntrack\tnat_sessions\tneighbors\tflowlog_entries\tflowlog_records\tdrops\n' >"$WORK/samples.tsv"
T0=$(date +%s)
FAIL=()
while :; do
  now=$(date +%s)
  t=$((now - T0))
  if ! kill -0 "$VPCD_PID" 2>/dev/null; then FAIL+=("vpcd died at ${t}s: $(tail -c 300 "$WORK/vpcd.err" | tr '\n' ' ')"); break; fi
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$VPCD_PID/status")
  if secs=$(curl -s -m 5 -o "$WORK/metrics.txt" -w '%{time_total}' "http://127.0.0.1:$MPORT/metrics"); then :; else
    FAIL+=("/metrics scrape failed at ${t}s"); secs=5; : >"$WORK/metrics.txt"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rss" "$secs" "$(metric vpcd_conntrack_entries)" "$(metric vpcd_nat_gateway_sessions)" \
    "$(metric vpcd_neighbor_entries)" "$(metric vpcd_flow_log_entries)" "$(metric vpcd_flow_log_records_total)" "$(metric vpcd_drops_total)" >>"$WORK/samples.tsv"
  tail -n 1 "$WORK/samples.tsv" | awk -F'\t' '{ printf "soak: %4ss rss %s kB, scrape %.3fs, conntrack %s, nat %s, neighbours %s, flow-log entries %s, records %s, drops %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
  [ "$t" -ge "$SOAK_SECONDS" ] && break
  sleep $((SAMPLE - ($(date +%s) - now) > 0 ? SAMPLE - ($(date +%s) - now) : 1))
done
# let the bounded generators finish and report
for p in "${PIDS[@]}"; do
  for _ in $(seq 25); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
done
echo "soak: traffic:"
for f in "$WORK"/churn-*.json "$WORK"/flood-*.json; do printf '   %-22s %s\n' "$(basename "$f" .json)" "$(cat "$f" 2>/dev/null || echo '(none)')"; done
for f in "$WORK"/ping-*.log; do printf '   %-22s %s\n' "$(basename "$f" .log)" "$(grep -E 'packets transmitted' "$f" || echo '(none)')"; done

node - "$WORK/samples.tsv" "$SOAK_SECONDS" "$WORK" "${FAIL[@]+"${FAIL[@]}"}" >"$WORK/verdict.log" <<'NODE' || true
const fs = require('node:fs');
const [file, secsS, work, ...fail] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
const num = (v) => (v === '-' || v === undefined || v === '' ? null : Number(v));
const secs = Number(secsS);
const baseAt = Math.max(60, Math.min(120, Math.floor(secs * 0.5)));
const base = rows.find((r) => Number(r[0]) >= baseAt) ?? rows[0];
const last = rows[rows.length - 1];
// RSS saw-tooths with every flow-log flush and GC: compare window maxima, not single samples.
const span = Math.max(60, Math.floor(secs * 0.25));
const t = (r) => Number(r[0]);
const baseWin = rows.filter((r) => t(r) >= t(base) && t(r) <= t(base) + span);
const endWin = rows.filter((r) => t(r) >= t(last) - span);
const out = [];
const cols = [['rss_kb', 1, 0], ['conntrack', 3, 256], ['nat_sessions', 4, 256], ['neighbors', 5, 256], ['flowlog_entries', 6, 256]];
out.push(`soak: ${rows.length} samples; baseline at ${base[0]}s (the first sample at or after ${baseAt}s); windows of ${span}s from it and at the end`);
const wmax = (w, i) => Math.max(...w.map((r) => num(r[i])).filter((v) => v !== null));
for (const [name, i, slack] of cols) {
  const vals = rows.map((r) => num(r[i])).filter((v) => v !== null);
  if (vals.length === 0) { out.push(`   ${name.padEnd(16)} not exported by /metrics`); continue; }
  const start = num(rows[0][i]), b = num(base[i]), end = num(last[i]), max = Math.max(...vals);
  const bw = wmax(baseWin, i), ew = wmax(endWin, i);
  out.push(`   ${name.padEnd(16)} start ${start}  at baseline ${b}  max ${max}  end ${end}  (window max: baseline ${bw}, end ${ew})`);
  if (Number.isFinite(bw) && Number.isFinite(ew) && ew > 1.5 * bw && ew - bw > slack) fail.push(`${name} grew: ${ew} (end window max) > 1.5 x ${bw} (baseline window max)`);
}
const scrapes = rows.map((r) => Number(r[2]));
out.push(`   scrape time      max ${Math.max(...scrapes).toFixed(3)} s, mean ${(scrapes.reduce((a, b) => a + b, 0) / scrapes.length).toFixed(3)} s`);
if (Math.max(...scrapes) > 2) fail.push(`a /metrics scrape took ${Math.max(...scrapes).toFixed(2)} s (> 2 s: a stall)`);
let okFlows = 0;
for (const f of fs.readdirSync(work).filter((x) => x.startsWith('churn-'))) {
  try { okFlows += JSON.parse(fs.readFileSync(`${work}/${f}`, 'utf8')).ok; } catch { /* generator did not report */ }
}
out.push(`   churn            ${okFlows} short flows completed`);
if (okFlows === 0) fail.push('no churn flow completed: traffic did not get through vpcd');
out.push(fail.length ? `soak: FAIL\n${fail.map((f) => `   - ${f}`).join('\n')}` : 'soak: PASS');
console.log(out.join('\n'));
process.exit(fail.length ? 1 : 0);
NODE
cat "$WORK/verdict.log"
grep -q '^soak: PASS' "$WORK/verdict.log"
