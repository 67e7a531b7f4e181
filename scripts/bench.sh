#!/usr/bin/env bash
# scripts/bench.sh - `npm run bench`: vpcd against the Linux kernel on the same topology, in one run,
# plus the in-process benchmark of the per-packet path. Method and how to read it: docs/benchmark.md.
#
#   sudo npm run bench
#   sudo REPS=1 DUR=2 MODES="kernel vpcd" npm run bench      # quick look
#
# Knobs (environment):
#   REPS=3            repetitions (outermost loop: rep 1 runs every mode, then rep 2, ...); medians are reported
#   DUR=5             seconds per TCP and UDP measurement
#   MODES="kernel kernel-nft kernel-nftnat vpcd vpcd-nat strongswan-vpn vpcd-vpn"   forwarding modes (bench/modes.sh defines them)
#   PING_N=200        pings per RTT measurement (10 ms apart)
#   UDP_PAYLOAD=64    UDP payload bytes of the flood (106-byte Ethernet frames); UDP_FLOWS=1; UDP_BATCH=64
#   INTEGRITY=1       hash-checked TCP transfer through vpcd once (first vpcd rep); all = every mode in rep 1; 0 = never
#   INTEG_BYTES=67108864
#   INPROCESS=1       run the in-process benchmark (bench/inprocess.mjs); INPROC_SECONDS=3 per scenario
#   NET=1             run the network benchmark (needs root); NET=0 runs only the in-process part
#   BUILD=1           compile dist/ (and the native addon when missing) before measuring
#   CPU_CLIENT=0 CPU_SERVER=1 CPU_FWD=1   pinning (sender/iperf3 client, sink/iperf3 server, vpcd)
# Results: /tmp/vpcd-bench/results/bench-<stamp>.jsonl (one JSON line per mode and rep),
#          bench-<stamp>.summary.json, bench-<stamp>.inprocess.json, bench-<stamp>/ (vpcd configs and logs,
#          diagnostics of failed modes); the table on stdout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
cd "$REPO"
# shellcheck source=../bench/env.sh
source "$BENCH_DIR/env.sh"

REPS=${REPS:-3}
DUR=${DUR:-5}
MODES=${MODES:-"kernel kernel-nft kernel-nftnat vpcd vpcd-nat strongswan-vpn vpcd-vpn"}
PING_N=${PING_N:-200}
UDP_PAYLOAD=${UDP_PAYLOAD:-64}
UDP_FLOWS=${UDP_FLOWS:-1}
UDP_BATCH=${UDP_BATCH:-64}
INTEGRITY=${INTEGRITY:-1}
INTEG_BYTES=${INTEG_BYTES:-67108864}
INPROCESS=${INPROCESS:-1}
INPROC_SECONDS=${INPROC_SECONDS:-3}
NET=${NET:-1}
BUILD=${BUILD:-1}
CPU_CLIENT=${CPU_CLIENT:-0}
CPU_SERVER=${CPU_SERVER:-1}
CPU_FWD=${CPU_FWD:-1}
VPCD_MAX_S=${VPCD_MAX_S:-$((6 * DUR + 180))}   # upper bound on one vpcd run (one mode, one rep)

RESULTS_DIR=$BENCH_TMP/results
TOOLS_DIR=$BENCH_TMP/tools
WORK_DIR=$BENCH_TMP/work
STAMP=$(date +%Y%m%d-%H%M%S)
JSONL=$RESULTS_DIR/bench-$STAMP.jsonl
SUMMARY=$RESULTS_DIR/bench-$STAMP.summary.json
INPROC_JSON=$RESULTS_DIR/bench-$STAMP.inprocess.json
META_JSON=$RESULTS_DIR/bench-$STAMP.meta.json
LOG_DIR=$RESULTS_DIR/bench-$STAMP
RUN_DIR=$WORK_DIR
PID_FILE=$WORK_DIR/pids
export REPO BENCH_DIR

# shellcheck source=../bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=../bench/modes.sh
source "$BENCH_DIR/modes.sh"

die() { echo "bench: $*" >&2; exit 1; }

for v in REPS DUR PING_N UDP_PAYLOAD UDP_FLOWS UDP_BATCH INTEG_BYTES INPROC_SECONDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
for m in $MODES; do mode_exists "$m" || die "unknown mode '$m' (bench/modes.sh defines: $(declare -F | awk '{print $3}' | sed -n 's/^mode_\(.*\)_up$/\1/p' | tr _ - | tr '\n' ' '))"; done

if [ "$NET" = 1 ] && [ "$(id -u)" != 0 ]; then
  die "the network benchmark needs root (namespaces, veth, AF_PACKET): sudo npm run bench  (NET=0 runs only the in-process part)"
fi

# ---------------------------------------------------------------- prerequisites
bash "$REPO/scripts/install-deps.sh"
mkdir -p "$RESULTS_DIR" "$TOOLS_DIR" "$WORK_DIR" "$LOG_DIR"
exec 9>"$BENCH_TMP/lock"
flock -n 9 || die "another npm run bench holds $BENCH_TMP/lock"
: >"$PID_FILE"

TOPO_UP=0
MEASURE_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # the measurement subshell and the subshells it started (command substitutions): the whole tree
  if [ -n "$MEASURE_PID" ]; then
    local tree
    tree=$(process_tree "$MEASURE_PID")
    [ -n "$tree" ] && kill -TERM $tree 2>/dev/null || true
    wait "$MEASURE_PID" 2>/dev/null || true
  fi
  kill_tracked
  if [ "$TOPO_UP" = 1 ]; then "$BENCH_DIR/topo.sh" down || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" = 1 ]; then
  if [ ! -f native/build/Release/vpcd_io.node ]; then
    log "building the native addon (node-gyp)"
    npx --no-install node-gyp rebuild --directory native >"$LOG_DIR/node-gyp.log" 2>&1 || die "node-gyp failed: $LOG_DIR/node-gyp.log"
  fi
  log "compiling dist/ (tsc -p tsconfig.build.json)"
  if ! npx --no-install tsc -p tsconfig.build.json >"$LOG_DIR/tsc.log" 2>&1; then
    # tsc emits even with type errors; measure what was emitted but say so.
    log "tsc reported $(grep -c 'error TS' "$LOG_DIR/tsc.log" || true) type error(s), see $LOG_DIR/tsc.log; measuring the emitted dist/ anyway"
  fi
fi
[ -f dist/cli/main.js ] && [ -f dist/pipeline/dataplane.js ] || die "dist/ is missing: npm run build"

if [ ! -x "$TOOLS_DIR/udpflood" ] || [ "$BENCH_DIR/udpflood.c" -nt "$TOOLS_DIR/udpflood" ]; then
  gcc -O2 -Wall -Wextra -o "$TOOLS_DIR/udpflood" "$BENCH_DIR/udpflood.c" || die "cannot compile bench/udpflood.c"
fi

# ---------------------------------------------------------------- what we run on
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo none)
git_dirty=$(git status --porcelain 2>/dev/null | grep . >/dev/null && echo true || echo false)
jq -n --arg stamp "$STAMP" --arg kernel "$(uname -r)" --arg cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" \
  --argjson cpus "$(nproc)" --arg node "$(node --version)" --arg rev "$git_rev" --argjson dirty "$git_dirty" \
  --arg modes "$MODES" --argjson reps "$REPS" --argjson dur "$DUR" --argjson ping "$PING_N" \
  --argjson payload "$UDP_PAYLOAD" --argjson flows "$UDP_FLOWS" \
  --arg pin "client=cpu$CPU_CLIENT server=cpu$CPU_SERVER vpcd=cpu$CPU_FWD" \
  '{stamp: $stamp, kernel: $kernel, cpu: $cpu, cpus: $cpus, node: $node, git: $rev, git_dirty: $dirty, modes: $modes,
    reps: $reps, dur_s: $dur, ping_n: $ping, udp_payload: $payload, udp_flows: $flows, pinning: $pin,
    offloads: "veth defaults (tx-checksum, TSO, GSO on; GRO off)"}' >"$META_JSON"

nmodes=$(wc -w <<<"$MODES")
est=$((REPS * nmodes * (3 * DUR + 18) + (INPROCESS == 1 ? 20 : 0)))
log "npm run bench: REPS=$REPS DUR=${DUR}s MODES=\"$MODES\" on $(nproc) CPUs ($(uname -r)); about $((est / 60)) min $((est % 60)) s"
log "results: $JSONL (logs: $LOG_DIR)"

# ---------------------------------------------------------------- in-process
if [ "$INPROCESS" = 1 ]; then
  log "in-process benchmark (bench/inprocess.mjs, ${INPROC_SECONDS}s per scenario, pinned to CPU$CPU_FWD)"
  if ! timeout --kill-after=5 $((INPROC_SECONDS * 10 + 60)) taskset -c "$CPU_FWD" \
      node --expose-gc "$BENCH_DIR/inprocess.mjs" --seconds "$INPROC_SECONDS" --json "$INPROC_JSON" 2>"$LOG_DIR/inprocess.err" |
      sed 's/^/    /' >&2; then
    log "in-process benchmark: not all scenarios OK (GC events or drops, or it failed: $LOG_DIR/inprocess.err)"
  fi
  if [ ! -s "$INPROC_JSON" ]; then
    jq -n --arg e "$(tail -c 500 "$LOG_DIR/inprocess.err")" '{ok: false, error: $e, results: []}' >"$INPROC_JSON"
  fi
fi

# ---------------------------------------------------------------- network
if [ "$NET" = 1 ]; then
  log "topology up ($NS_C -- $NS_F -- $NS_S)"
  TOPO_UP=1
  "$BENCH_DIR/topo.sh" up
  integrity_done=0
  for ((REP = 1; REP <= REPS; REP++)); do
    for mode in $MODES; do
      log "rep $REP/$REPS mode $mode"
      MODE=$mode; MODE_ERR=; DST_IP=; VPCD_PID=; VPCD_EXIT=; VPCD_LOG=; VPCD_METRICS=
      labels=$(jq -cn --arg m "$mode" --argjson r "$REP" --argjson d "$DUR" '{suite: "net", mode: $m, rep: $r, dur_s: $d}')
      rec=
      if ! "$(mode_fn "$mode" up)"; then
        MODE_ERR=${MODE_ERR:-"$mode: setup failed"}
      elif ! probe_path; then
        MODE_ERR="$mode: no ping reply from $DST_IP through the forwarder ($(tail -n 2 "$RUN_DIR/probe.txt" | tr '\n' ' '))"
      fi
      if [ -n "$MODE_ERR" ]; then
        diag="$LOG_DIR/diag-$mode-rep$REP.txt"
        diagnose "$diag"
        stats=$("$(mode_fn "$mode" stats)" 2>/dev/null || echo '{}')
        log "   FAILED: $MODE_ERR (diagnostics: $diag)"
        rec=$(jq -cn --argjson L "$labels" --arg e "$MODE_ERR" --arg d "$diag" --argjson s "${stats:-{\}}" '$L + {error: $e, diagnostics: $d} + $s')
      else
        DO_INTEGRITY=0
        if { [ "$INTEGRITY" = 1 ] && [[ $mode == vpcd* ]] && [ "$integrity_done" = 0 ]; } || { [ "$INTEGRITY" = all ] && [ "$REP" = 1 ]; }; then
          DO_INTEGRITY=1
          [[ $mode == vpcd* ]] && integrity_done=1
        fi
        # in the background + wait: a trapped INT/TERM interrupts `wait` (not a command substitution), so
        # an interrupted run stops at once; cleanup() stops this subshell and what it started
        measure_all "$labels" >"$WORK_DIR/record.json" &
        MEASURE_PID=$!
        wait "$MEASURE_PID"
        MEASURE_PID=
        rec=$(cat "$WORK_DIR/record.json")
        stats=$("$(mode_fn "$mode" stats)" 2>/dev/null || echo '{}')
        rec=$(jq -c --argjson s "${stats:-{\}}" '. + $s' <<<"$rec")
        if jq -e '.vpcd.alive == false' <<<"$rec" >/dev/null; then
          # the daemon died during the measurements: its numbers are not a measurement of vpcd
          diag="$LOG_DIR/diag-$mode-rep$REP.txt"
          diagnose "$diag"
          MODE_ERR="$mode: the daemon died during the measurements (stderr: $(tail -c 300 "${VPCD_LOG%.out}.err" 2>/dev/null | tr '\n' ' '))"
          log "   FAILED: $MODE_ERR (diagnostics: $diag)"
          rec=$(jq -c --arg e "$MODE_ERR" --arg d "$diag" '. + {error: $e, diagnostics: $d}' <<<"$rec")
        fi
      fi
      "$(mode_fn "$mode" down)" || log "   $mode: teardown reported an error"
      if [ -n "$VPCD_EXIT" ]; then rec=$(jq -c --argjson x "$VPCD_EXIT" '. + {daemon_exit: $x}' <<<"$rec"); fi
      echo "$rec" >>"$JSONL"
    done
  done
  "$BENCH_DIR/topo.sh" down
  TOPO_UP=0
fi

# ---------------------------------------------------------------- summary
echo
echo "== npm run bench $STAMP: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), node $(node --version), git $git_rev$([ "$git_dirty" = true ] && echo '+dirty')"
echo "   REPS=$REPS DUR=${DUR}s, UDP payload ${UDP_PAYLOAD} B, $UDP_FLOWS flow(s); pinning client=CPU$CPU_CLIENT server=CPU$CPU_SERVER vpcd=CPU$CPU_FWD; veth offloads on"
for m in $MODES; do printf '   %-14s %s\n' "$m" "$("$(mode_fn "$m" desc)")"; done
echo
node "$BENCH_DIR/summarize.mjs" "$JSONL" --modes "$MODES" --meta "$META_JSON" \
  $([ "$INPROCESS" = 1 ] && echo "--inprocess $INPROC_JSON") --json "$SUMMARY"
echo
echo "raw runs: $JSONL"
echo "summary:  $SUMMARY"
echo "logs:     $LOG_DIR"
