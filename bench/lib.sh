# bench/lib.sh - measurement helpers for scripts/bench.sh (source it; bash).
# Each run_* function prints one JSON object on stdout and logs on stderr.
# Traffic goes only from the vb-client namespace to $DST_IP behind vb-fwd;
# every process is started with `timeout` and tracked by PID.
#
# Inputs (set by the caller): DUR, PING_N, UDP_PAYLOAD, UDP_BATCH, UDP_FLOWS,
# TOOLS_DIR, RUN_DIR, DST_IP (per mode), CPU_CLIENT, CPU_SERVER.

# PIDs of everything started in the background, one per line: run_* functions run in command
# substitutions (subshells), so a file, not an array, lets the top-level cleanup see them all.
PID_FILE=${PID_FILE:-/tmp/vpcd-bench/pids}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Background start: `spawn FILE_PREFIX SECONDS NS CPU cmd...` runs cmd in NS pinned to CPU, bounded by
# SECONDS, stdout/stderr to FILE_PREFIX.out/.err. Sets SPAWNED to the PID (the `timeout` process, which
# passes SIGTERM on to the command) and records it in PID_FILE for cleanup.
spawn() {
  local pre=$1 secs=$2 ns=$3 cpu=$4; shift 4
  # Empty the output files now, not in the background child: a readiness check (wait_for_line) must not
  # find the previous run's "ready" line before the child has truncated its files.
  : >"$pre.out"
  : >"$pre.err"
  # 9>&-: the benchmark's lock (fd 9) is not inherited: a straggler must never hold it
  if [ "$ns" = - ]; then
    timeout --kill-after=3 "$secs" taskset -c "$cpu" "$@" >"$pre.out" 2>"$pre.err" 9>&- &
  else
    timeout --kill-after=3 "$secs" ip netns exec "$ns" taskset -c "$cpu" "$@" >"$pre.out" 2>"$pre.err" 9>&- &
  fi
  SPAWNED=$!
  echo "$SPAWNED" >>"$PID_FILE"
}

# Stops one spawned process (SIGTERM, then waits; `timeout --kill-after` bounds it).
stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# Stops whatever this run started and is still alive: only PIDs from PID_FILE, and only while they are
# still the `timeout` wrappers we started (a recycled PID is left alone).
kill_tracked() {
  local p left=()
  [ -f "$PID_FILE" ] || return 0
  while read -r p; do
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || continue
    tr '\0' ' ' <"/proc/$p/cmdline" | grep -q '^timeout ' || continue
    kill -TERM "$p" 2>/dev/null && left+=("$p")
  done <"$PID_FILE"
  for p in "${left[@]}"; do
    for _ in $(seq 15); do kill -0 "$p" 2>/dev/null || break; sleep 0.3; done  # timeout KILLs its child after 3 s
    kill -KILL "$p" 2>/dev/null || true
  done
  : >"$PID_FILE"
}

# PID and all its descendants (from the process table, by parent PID), deepest last.
process_tree() {
  ps -eo pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { out = root; todo = root
          while (todo != "") { n = split(todo, a, " "); todo = ""
            for (i = 1; i <= n; i++) { m = split(kids[a[i]], k, " ")
              for (j = 1; j <= m; j++) { out = out " " k[j]; todo = todo " " k[j] } } }
          print out }'
}

# Waits (bounded) until FILE contains PATTERN; returns 1 on timeout or when PID (optional) died.
wait_for_line() {
  local file=$1 pat=$2 secs=$3 pid=${4:-} i
  for ((i = 0; i < secs * 20; i++)); do
    grep -q -- "$pat" "$file" 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# Waits (bounded) until a TCP port listens in a namespace.
wait_listen() {
  local ns=$1 port=$2 i
  for ((i = 0; i < 60; i++)); do
    nsx "$ns" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

ifstat() { nsx "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0; }

snmp() { # ns proto field  (from /proc/net/snmp)
  nsx "$1" cat /proc/net/snmp | awk -v p="$2:" -v f="$3" '$1 == p { if (!h) { for (i = 2; i <= NF; i++) if ($i == f) c = i; h = 1 } else { print $c + 0; exit } }'
}

# Whole-machine busy CPU: "busy_jiffies total_jiffies" from /proc/stat.
cpu_snap() { awk '/^cpu /{ b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }
cores_between() { # "b0 t0" "b1 t1" -> busy cores over the interval
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; if (d <= 0) print 0; else printf "%.2f\n", (y[1] - x[1]) / d * n }'
}
# Busy cores over one second while the benchmark itself is idle: load from other tenants.
bg_sample() { local c0; c0=$(cpu_snap); sleep "${1:-1}"; cores_between "$c0" "$(cpu_snap)"; }

# CPU seconds (user+system) a process has used so far, or empty.
proc_cpu_s() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 0
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# ---- TCP throughput, iperf3 with $1 parallel streams for DUR s (-O 1 omits the first second).
run_tcp() {
  local P=$1 pre="$RUN_DIR/iperf-$1" spid
  spawn "$pre-s" $((DUR + 25)) "$NS_S" "$CPU_SERVER" iperf3 -s -1 -p 5201 -B "$SERVER_IP"
  spid=$SPAWNED
  if ! wait_listen "$NS_S" 5201; then
    stop_pid "$spid"
    echo '{"gbps":0,"retr":null,"err":"iperf3 server did not start"}'
    return
  fi
  timeout --kill-after=3 $((DUR + 15)) ip netns exec "$NS_C" taskset -c "$CPU_CLIENT" \
    iperf3 -c "$DST_IP" -p 5201 -t "$DUR" -O 1 -P "$P" --connect-timeout 3000 -J >"$pre-c.json" 2>"$pre-c.err" || true
  stop_pid "$spid"
  jq -c '{gbps: ((((.end.sum_received.bits_per_second // 0) / 1e9) * 1000 | round) / 1000),
          retr: (.end.sum_sent.retransmits // null), err: (.error // null)}' "$pre-c.json" 2>/dev/null ||
    jq -cn --arg e "$(head -c 200 "$pre-c.err" 2>/dev/null)" '{gbps: 0, retr: null, err: ("no iperf3 output " + $e)}'
}

# ---- 64-byte UDP flood (udpflood send/recv). Measured over a DUR-second window that starts 1 s after
# the sender: rx_kpps = server interface rx counter, app_kpps = UDP datagrams delivered to sockets in the
# server namespace (/proc/net/snmp InDatagrams), offered_kpps = client interface tx counter.
# VPCD_PID (optional): the daemon's PID, to report the CPU it used in the window.
run_udp() {
  local pre="$RUN_DIR/udp" kpid spid
  local rx0 rx1 ap0 ap1 of0 of1 fi0 fi1 fo0 fo1 rbe0 rbe1 cse0 cse1 t0 t1 c0 c1 v0 v1
  spawn "$pre-sink" $((DUR + 20)) "$NS_S" "$CPU_SERVER" "$TOOLS_DIR/udpflood" sink 9000 $((DUR + 10))
  kpid=$SPAWNED
  if ! wait_for_line "$pre-sink.err" "sink ready" 3 "$kpid"; then
    stop_pid "$kpid"
    echo '{"rx_kpps":0,"err":"sink did not start"}'
    return
  fi
  spawn "$pre-send" $((DUR + 20)) "$NS_C" "$CPU_CLIENT" "$TOOLS_DIR/udpflood" send "$DST_IP" 9000 \
    "$UDP_PAYLOAD" $((DUR + 8)) "$UDP_BATCH" "$UDP_FLOWS"
  spid=$SPAWNED
  sleep 1
  rx0=$(ifstat "$NS_S" "$IF_S" rx_packets); ap0=$(snmp "$NS_S" Udp InDatagrams)
  of0=$(ifstat "$NS_C" "$IF_C" tx_packets); fi0=$(ifstat "$NS_F" "$IF_F0" rx_packets); fo0=$(ifstat "$NS_F" "$IF_F1" tx_packets)
  rbe0=$(snmp "$NS_S" Udp RcvbufErrors); cse0=$(snmp "$NS_S" Udp InCsumErrors)
  v0=$(proc_cpu_s "${VPCD_PID:-}"); c0=$(cpu_snap); t0=$(date +%s.%N)
  sleep "$DUR"
  rx1=$(ifstat "$NS_S" "$IF_S" rx_packets); ap1=$(snmp "$NS_S" Udp InDatagrams)
  of1=$(ifstat "$NS_C" "$IF_C" tx_packets); fi1=$(ifstat "$NS_F" "$IF_F0" rx_packets); fo1=$(ifstat "$NS_F" "$IF_F1" tx_packets)
  rbe1=$(snmp "$NS_S" Udp RcvbufErrors); cse1=$(snmp "$NS_S" Udp InCsumErrors)
  v1=$(proc_cpu_s "${VPCD_PID:-}"); c1=$(cpu_snap); t1=$(date +%s.%N)
  stop_pid "$spid"
  stop_pid "$kpid"
  local send sink
  send=$(tail -n1 "$pre-send.out" 2>/dev/null); send=${send:-null}
  sink=$(tail -n1 "$pre-sink.out" 2>/dev/null); sink=${sink:-null}
  jq -cn --argjson send "$send" --argjson sink "$sink" \
    --arg rx "$((rx1 - rx0))" --arg ap "$((ap1 - ap0))" --arg of "$((of1 - of0))" --arg fi "$((fi1 - fi0))" --arg fo "$((fo1 - fo0))" \
    --arg rbe "$((rbe1 - rbe0))" --arg cse "$((cse1 - cse0))" --arg t0 "$t0" --arg t1 "$t1" \
    --arg cores "$(cores_between "$c0" "$c1")" --arg v0 "$v0" --arg v1 "$v1" '
    (($t1 | tonumber) - ($t0 | tonumber)) as $dt
    | def k(x): ((x | tonumber) / $dt / 1000 * 10 | round) / 10;
    {rx_kpps: k($rx), app_kpps: k($ap), offered_kpps: k($of), fwd_in_kpps: k($fi), fwd_out_kpps: k($fo),
     udp_rcvbuf_errors: ($rbe | tonumber), udp_csum_errors: ($cse | tonumber),
     machine_cores_busy: ($cores | tonumber),
     vpcd_cores: (if $v0 != "" and $v1 != "" then ((($v1 | tonumber) - ($v0 | tonumber)) / $dt * 100 | round) / 100 else null end),
     window_s: (($dt * 1000 | round) / 1000),
     flows_answered: ($send.answered // null), sender: $send, sink: $sink}'
}

# ---- RTT: PING_N pings at 10 ms intervals; p50/p99 in microseconds, loss.
run_lat() {
  local out="$RUN_DIR/ping.txt"
  timeout --kill-after=3 $((PING_N / 50 + 15)) ip netns exec "$NS_C" taskset -c "$CPU_CLIENT" \
    ping -n -c "$PING_N" -i 0.01 -W 1 "$DST_IP" >"$out" 2>&1 || true
  grep -o 'time=[0-9.]*' "$out" | cut -d= -f2 | sort -g | awk -v n="$PING_N" '
    { t[NR] = $1 * 1000 }
    END {
      if (NR == 0) { printf "{\"p50_us\":null,\"p99_us\":null,\"max_us\":null,\"loss\":1}\n"; exit }
      p50 = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      i99 = int(0.99 * NR + 0.999999); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
      printf "{\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"n\":%d,\"loss\":%.3f}\n", p50 + 0.5, t[i99] + 0.5, t[NR] + 0.5, NR, 1 - NR / n
    }'
}

# ---- end-to-end TCP integrity: INTEG_BYTES of seeded data, sha256 compared at both ends. A short capture
# on the client's interface runs meanwhile; when the check fails it is kept in LOG_DIR with both ends'
# output, and the check is tried once more (`retry`) to tell a transient failure from a broken path.
integrity_once() { # $1 = file prefix
  local pre=$1 kpid tc
  tc="$REPO/test/helpers/tcp-check.mjs"
  spawn "$pre-s" 60 "$NS_S" "$CPU_SERVER" node "$tc" server "$SERVER_IP" 7000 50
  kpid=$SPAWNED
  if ! wait_for_line "$pre-s.err" listening 10 "$kpid"; then
    stop_pid "$kpid"
    echo '{"ok":false,"err":"tcp-check server did not start"}'
    return
  fi
  timeout --kill-after=3 60 ip netns exec "$NS_C" taskset -c "$CPU_CLIENT" \
    node "$tc" client "$DST_IP" 7000 "$INTEG_BYTES" 50 >"$pre-c.out" 2>"$pre-c.err" || true
  # the server ends by itself after the transfer; if the client failed it would wait 50 s: stop it
  for _ in $(seq 30); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$kpid"
  jq -cn --slurpfile s "$pre-s.out" --slurpfile c "$pre-c.out" '
    {ok: (($s[0].sha256 // "s") == ($c[0].sha256 // "c") and ($s[0].bytes // 0) == ($c[0].bytes // -1) and ($s[0].bytes // 0) > 0),
     bytes_sent: ($c[0].bytes // null), bytes_received: ($s[0].bytes // null), sha256: ($s[0].sha256 // null),
     err: ($c[0].error // $s[0].error // null)}' 2>/dev/null ||
    jq -cn --arg e "$(head -c 300 "$pre-c.out" "$pre-c.err" "$pre-s.err" 2>/dev/null)" '{ok: false, err: ("no result: " + $e)}'
}

run_integrity() {
  local pre="$RUN_DIR/integrity" tpid r r2 keep
  spawn "$pre-td" 120 "$NS_C" "$CPU_CLIENT" tcpdump -nn -l -i "$IF_C" -c 60 'tcp port 7000 or icmp'
  tpid=$SPAWNED
  wait_for_line "$pre-td.err" "listening on" 3 "$tpid" || true
  r=$(integrity_once "$pre")
  if jq -e '.ok' <<<"$r" >/dev/null; then
    stop_pid "$tpid"
    echo "$r"
    return
  fi
  sleep 1
  r2=$(integrity_once "$pre-retry")
  stop_pid "$tpid"
  keep="$LOG_DIR/integrity-${MODE:-mode}-rep${REP:-0}.txt"
  {
    echo "== first attempt: $r"; echo "-- client"; cat "$pre-c.out" "$pre-c.err"; echo "-- server"; cat "$pre-s.out" "$pre-s.err"
    echo "== retry: $r2"
    echo "== tcpdump on $IF_C ($NS_C), tcp port 7000 or icmp, both attempts"; cat "$pre-td.out" "$pre-td.err"
  } >"$keep" 2>&1
  jq -c --argjson r2 "$r2" --arg k "$keep" '. + {retry: $r2, capture: $k}' <<<"$r"
}

# ---- quick connectivity check (3 pings); returns non-zero when none came back.
probe_path() {
  timeout 10 ip netns exec "$NS_C" ping -n -c 3 -i 0.2 -W 1 "$DST_IP" >"$RUN_DIR/probe.txt" 2>&1
}

# ---- what we saw when a mode did not work: counters, neighbours, a short capture on both legs.
diagnose() { # $1 = output file
  {
    echo "== probe"; cat "$RUN_DIR/probe.txt" 2>/dev/null
    "$BENCH_DIR/topo.sh" show 2>&1
    echo "== neighbours"; nsx "$NS_C" ip neigh; nsx "$NS_S" ip neigh
    echo "== tcpdump (2 s, ping running) on $IF_F0 and $IF_F1 in $NS_F"
    timeout 3 ip netns exec "$NS_F" tcpdump -nn -e -c 20 -i "$IF_F0" >"$RUN_DIR/td0.txt" 2>&1 &
    local a=$!
    timeout 3 ip netns exec "$NS_F" tcpdump -nn -e -c 20 -i "$IF_F1" >"$RUN_DIR/td1.txt" 2>&1 &
    local b=$!
    sleep 0.5
    timeout 3 ip netns exec "$NS_C" ping -n -c 3 -i 0.3 -W 1 "$DST_IP" 2>&1 || true
    wait "$a" "$b" 2>/dev/null || true
    echo "-- $IF_F0"; cat "$RUN_DIR/td0.txt"
    echo "-- $IF_F1"; cat "$RUN_DIR/td1.txt"
    if [ -n "${VPCD_LOG:-}" ]; then
      echo "== daemon log $VPCD_LOG (last lines)"; tail -n 20 "$VPCD_LOG" 2>/dev/null
      echo "== daemon stderr"; tail -n 20 "${VPCD_LOG%.out}.err" 2>/dev/null
      echo "== daemon metrics"; timeout 8 node "$BENCH_DIR/metrics.mjs" "${VPCD_METRICS:-}" 3000 2>&1
    fi
  } >"$1" 2>&1
}

# One full measurement set for the current mode; $1 = JSON labels. Prints one JSON line.
measure_all() {
  local labels=$1 bg la t1 t4 u l ic=null bg2
  la=$(cut -d' ' -f1 /proc/loadavg)
  bg=$(bg_sample 1)
  log "   others' load before: $bg cores busy (loadavg $la)"
  # RTT first, on an idle path: after a UDP overload a userspace forwarder may still be draining its
  # socket buffers (tens of ms), which would measure the previous test, not the path.
  l=$(run_lat); log "   rtt  $l"
  t1=$(run_tcp 1); log "   tcp1 $t1"
  t4=$(run_tcp 4); log "   tcp4 $t4"
  u=$(run_udp); log "   udp  $(jq -c 'del(.sender, .sink)' <<<"$u")"
  if [ "${DO_INTEGRITY:-0}" = 1 ]; then ic=$(run_integrity); log "   integrity $ic"; fi
  bg2=$(bg_sample 1)
  jq -cn --argjson L "$labels" --argjson t1 "$t1" --argjson t4 "$t4" --argjson u "$u" --argjson l "$l" --argjson ic "$ic" \
    --arg la "$la" --arg bg "$bg" --arg bg2 "$bg2" --arg ts "$(date -Is)" \
    '$L + {ts: $ts, loadavg1: ($la | tonumber), bg_cores_before: ($bg | tonumber), bg_cores_after: ($bg2 | tonumber),
           tcp1: $t1, tcp4: $t4, udp: $u, lat: $l, integrity: $ic}'
}
