#!/usr/bin/env bash
# strongswan-peer.sh - run one strongSwan charon (IKEv2) as an interop peer for
# vpcd's IKE engine, inside an existing network namespace.
#
# ESP is userspace (charon's kernel-libipsec plugin, TUN "ipsec0"), so no kernel
# ESP support is needed; ESP is always UDP-encapsulated by libipsec, which is
# also why charon always announces a NAT (random NATD_S_IP) and floats to 4500.
#
# Usage:  scripts/strongswan-peer.sh COMMAND [SS_VAR=value ...]
#   up            write config into $SS_STATE_DIR, start charon, load the connection
#   down          stop charon (SIGTERM: it sends DELETE), clean routes; idempotent
#   wait          until a CHILD_SA is INSTALLED (timeout $SS_TIMEOUT s; exit 3)
#   initiate      this peer initiates IKE_SA + CHILD_SA
#   rekey-child | rekey-ike | terminate
#   status        swanctl --list-sas
#   swanctl ARGS  any swanctl command against this instance
#   logs | env
# Settings are environment variables or SS_X=value arguments (see below).
# Exit codes: 0 ok, 1 failure, 2 usage error, 3 timeout.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: $*" >&2; exit "${RC:-1}"; }
say() { [ "${SS_QUIET:-0}" = 1 ] || echo "$PROG: $*" >&2; }

CMD=${1:-}; [ -n "$CMD" ] || { sed -n '2,20p' "$0"; exit 2; }; shift
if [ "$CMD" != swanctl ]; then
  for a in "$@"; do
    case "$a" in SS_[A-Z0-9_]*=*) export "${a?}" ;; *) RC=2 die "unexpected argument '$a'" ;; esac
  done
fi

: "${SS_NAME:=vgw}"
: "${SS_NETNS:=ss-$SS_NAME}"
: "${SS_STATE_DIR:=/tmp/vpcd-strongswan-$SS_NAME}"
: "${SS_CHARON:=/usr/lib/ipsec/charon}"
: "${SS_TIMEOUT:=15}"
: "${SS_LOCAL_ADDR:=198.51.100.1}"
: "${SS_REMOTE_ADDR:=198.51.100.2}"
: "${SS_IKE_PORT:=500}"
: "${SS_NATT_PORT:=4500}"
: "${SS_REMOTE_PORT:=500}"
: "${SS_LOCAL_TS:=198.18.0.0/16}"
: "${SS_REMOTE_TS:=198.19.0.0/16}"
: "${SS_INSTALL_ROUTES:=no}"             # yes: kernel-libipsec routes remote TS via ipsec0 (needs a local address in SS_LOCAL_TS)
: "${SS_FWMARK:=0x5056}"
: "${SS_AUTH:=psk}"                       # psk | cert
: "${SS_PSK:=vpcd-interop-psk-0123456789}"
: "${SS_CERT_TYPE:=rsa}"                  # rsa | ecdsa (generated certificates)
: "${SS_CERT_LOCAL_NAME:=vgw.vpcd.test}"
: "${SS_CERT_REMOTE_NAME:=cgw.vpcd.test}"
: "${SS_CA_CERT:=}"; : "${SS_CA_KEY:=}"
: "${SS_SEND_CERT:=always}"
if [ "$SS_AUTH" = cert ]; then : "${SS_LOCAL_ID:=$SS_CERT_LOCAL_NAME}"; : "${SS_REMOTE_ID:=%any}"
else : "${SS_LOCAL_ID:=$SS_LOCAL_ADDR}"; : "${SS_REMOTE_ID:=$SS_REMOTE_ADDR}"; fi
: "${SS_IKE_PROPOSALS:=aes256gcm16-prfsha256-ecp256-modp2048-curve25519,aes256-sha256-ecp256-modp2048-curve25519}"
: "${SS_ESP_PROPOSALS:=aes256gcm16-ecp256-modp2048-curve25519,aes256-sha256-ecp256-modp2048-curve25519}"
: "${SS_FRAGMENTATION:=yes}"
: "${SS_FRAGMENT_SIZE:=1280}"
: "${SS_START_ACTION:=none}"             # none (responder) | start (initiate during up)
: "${SS_DPD_DELAY:=10s}"
: "${SS_DPD_ACTION:=clear}"
: "${SS_IKE_REKEY:=28800s}"
: "${SS_CHILD_REKEY:=3600s}"
: "${SS_RETRANSMIT_TRIES:=5}"
: "${SS_RETRANSMIT_TIMEOUT:=4.0}"
: "${SS_COOKIE_THRESHOLD:=}"
: "${SS_LOG:=}"                          # extra levels, e.g. ike=4,chd=4 (dumps keys: debugging only)

STATE=$SS_STATE_DIR
CONF=$STATE/strongswan.conf
SWDIR=$STATE/swanctl
RUNDIR=$STATE/run
VICI=$STATE/charon.vici
LOGFILE=$STATE/charon.log
PKI=$STATE/pki
CONN=vpcd-$SS_NAME
CHILD=vpcd-$SS_NAME-child

swc() { STRONGSWAN_CONF=$CONF swanctl "$@" --uri "unix://$VICI"; }

# pid of the charon started with our STRONGSWAN_CONF (never an unrelated process)
our_pid() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$(cat "$d/comm" 2>/dev/null)" = charon ] || continue
    tr '\0' '\n' < "$d/environ" 2>/dev/null | grep -xF "STRONGSWAN_CONF=$CONF" >/dev/null && { echo "$p"; return 0; }
  done
  return 0
}

check() {
  [ "$(id -u)" = 0 ] || RC=2 die "must run as root"
  [ -x "$SS_CHARON" ] || RC=2 die "charon not found at $SS_CHARON"
  command -v swanctl >/dev/null || RC=2 die "swanctl not installed"
  [ -e "/run/netns/$SS_NETNS" ] || RC=2 die "netns $SS_NETNS does not exist"
  ip -n "$SS_NETNS" -o -4 addr show | grep -F " $SS_LOCAL_ADDR/" >/dev/null || RC=2 die "$SS_LOCAL_ADDR is not configured in $SS_NETNS"
  case "$SS_AUTH" in psk|cert) ;; *) RC=2 die "SS_AUTH must be psk or cert" ;; esac
}

gen_key() {
  case "$SS_CERT_TYPE" in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
    ecdsa) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
    *) RC=2 die "SS_CERT_TYPE must be rsa or ecdsa" ;;
  esac
}
issue() { # cn ip base
  local san="DNS:$1"; [ -n "$2" ] && [ "$2" != "%any" ] && san="$san,IP:$2"
  gen_key "$3.key"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=%s\n' "$san" > "$3.ext"
  openssl req -new -key "$3.key" -subj "/O=vpcd interop/CN=$1" -out "$3.csr" 2>/dev/null
  openssl x509 -req -in "$3.csr" -CA "$PKI/ca.crt" -CAkey "$CAKEY" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -sha256 -extfile "$3.ext" -out "$3.crt" 2>/dev/null || die "issuing $1 failed"
  rm -f "$3.csr" "$3.ext"
}
pki() {
  mkdir -p "$PKI"
  if [ -n "$SS_CA_CERT" ]; then
    cp "$SS_CA_CERT" "$PKI/ca.crt"; CAKEY=$SS_CA_KEY
  else
    gen_key "$PKI/ca.key"
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/O=vpcd interop/CN=vpcd interop CA" -days 30 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$PKI/ca.crt" 2>/dev/null
    CAKEY=$PKI/ca.key
  fi
  [ -r "$CAKEY" ] || RC=2 die "need SS_CA_KEY with SS_CA_CERT"
  issue "$SS_CERT_LOCAL_NAME" "$SS_LOCAL_ADDR" "$PKI/local"
  issue "$SS_CERT_REMOTE_NAME" "$SS_REMOTE_ADDR" "$PKI/peer"   # for the side under test
  mkdir -p "$SWDIR/x509" "$SWDIR/x509ca" "$SWDIR/private"
  cp "$PKI/ca.crt" "$SWDIR/x509ca/ca.crt"; cp "$PKI/local.crt" "$SWDIR/x509/local.crt"; cp "$PKI/local.key" "$SWDIR/private/local.key"
}

write_conf() {
  local extra="" kv
  IFS=',' read -r -a kvs <<< "$SS_LOG"
  for kv in "${kvs[@]}"; do [ -n "$kv" ] && extra+="        ${kv%%=*} = ${kv#*=}"$'\n'; done
  cat > "$CONF" <<EOF
charon {
  load = random nonce aes sha1 sha2 hmac kdf gcm openssl curve25519 gmp pem pkcs1 pkcs8 x509 pubkey constraints kernel-libipsec kernel-netlink socket-default vici
  port = $SS_IKE_PORT
  port_nat_t = $SS_NATT_PORT
  install_routes = $SS_INSTALL_ROUTES
  install_virtual_ip = no
  retransmit_tries = $SS_RETRANSMIT_TRIES
  retransmit_timeout = $SS_RETRANSMIT_TIMEOUT
  fragment_size = $SS_FRAGMENT_SIZE
$( [ -n "$SS_COOKIE_THRESHOLD" ] && echo "  cookie_threshold = $SS_COOKIE_THRESHOLD" )
  syslog { daemon { default = -1 } }
  filelog {
    main {
      path = $LOGFILE
      time_format = %H:%M:%S
      ike_name = yes
      flush_line = yes
      default = 1
      ike = 2
      cfg = 2
$extra    }
  }
  plugins {
    vici { socket = unix://$VICI }
    socket-default { fwmark = $SS_FWMARK }
    kernel-netlink { fwmark = !$SS_FWMARK }
  }
}
EOF
  local auth=psk lx="" rx="" secrets=""
  mkdir -p "$SWDIR"
  if [ "$SS_AUTH" = cert ]; then
    auth=pubkey; lx="      certs = local.crt"; rx="      cacerts = ca.crt"
  else
    secrets="  ike-psk {
    id-local = $SS_LOCAL_ID
$( [ "$SS_REMOTE_ID" != "%any" ] && echo "    id-remote = $SS_REMOTE_ID" )
    secret = 0x$(printf '%s' "$SS_PSK" | od -An -v -tx1 | tr -d ' \n')
  }"
  fi
  cat > "$SWDIR/swanctl.conf" <<EOF
connections {
  $CONN {
    version = 2
    local_addrs = $SS_LOCAL_ADDR
    remote_addrs = $SS_REMOTE_ADDR
    local_port = $SS_IKE_PORT
    remote_port = $SS_REMOTE_PORT
    proposals = $SS_IKE_PROPOSALS
    encap = yes
    mobike = no
    fragmentation = $SS_FRAGMENTATION
    dpd_delay = $SS_DPD_DELAY
    rekey_time = $SS_IKE_REKEY
    reauth_time = 0
    unique = replace
    send_certreq = yes
    send_cert = $SS_SEND_CERT
    local {
      auth = $auth
      id = $SS_LOCAL_ID
$lx
    }
    remote {
      auth = $auth
      id = $SS_REMOTE_ID
$rx
    }
    children {
      $CHILD {
        mode = tunnel
        local_ts = $SS_LOCAL_TS
        remote_ts = $SS_REMOTE_TS
        esp_proposals = $SS_ESP_PROPOSALS
        rekey_time = $SS_CHILD_REKEY
        dpd_action = $SS_DPD_ACTION
        start_action = none
        close_action = none
      }
    }
  }
}
secrets {
$secrets
}
EOF
  chmod 600 "$SWDIR/swanctl.conf"
}

do_down() {
  local pid i
  pid=$(our_pid)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$VICI" "$RUNDIR/charon.pid"
  if [ -e "/run/netns/$SS_NETNS" ]; then
    ip -n "$SS_NETNS" rule del table 220 2>/dev/null || true
    ip -n "$SS_NETNS" route flush table 220 2>/dev/null || true
    ip -n "$SS_NETNS" link del ipsec0 2>/dev/null || true
  fi
}

do_up() {
  check
  [ -z "$(our_pid)" ] || RC=2 die "instance $SS_NAME already running"
  mkdir -p "$STATE" "$RUNDIR"; chmod 700 "$STATE"
  rm -rf "$SWDIR"; : > "$LOGFILE"
  [ "$SS_AUTH" = cert ] && pki
  write_conf
  trap 'rc=$?; [ $rc -eq 0 ] || { tail -n 20 "$LOGFILE" >&2; do_down; }' EXIT
  # charon writes /var/run/charon.pid: give it a private /run (mount namespace)
  setsid ip netns exec "$SS_NETNS" unshare --mount --propagation private \
    /bin/sh -c 'mount --bind "$0" /run && exec env STRONGSWAN_CONF="$1" "$2"' "$RUNDIR" "$CONF" "$SS_CHARON" \
    </dev/null >>"$STATE/charon.stdout" 2>&1 &
  local t0=$SECONDS
  until [ -S "$VICI" ] && swc --stats >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$SS_TIMEOUT" ] || RC=3 die "charon did not start (see $STATE/charon.stdout)"
    sleep 0.1
  done
  swc --load-all --noprompt --file "$SWDIR/swanctl.conf" >"$STATE/load.out" 2>&1 || { cat "$STATE/load.out" >&2; die "swanctl --load-all failed"; }
  grep -q "successfully loaded 1 connections" "$STATE/load.out" || { cat "$STATE/load.out" >&2; die "connection not loaded"; }
  [ "$SS_START_ACTION" = start ] && do_initiate
  trap - EXIT
  cat <<EOF | tee "$STATE/peer.env"
SS_PID=$(our_pid)
SS_STATE_DIR=$STATE
SS_LOG_FILE=$LOGFILE
SS_CONN=$CONN
SS_CHILD=$CHILD
SS_PKI_DIR=$( [ "$SS_AUTH" = cert ] && echo "$PKI" )
EOF
}

do_initiate() {
  swc --initiate --child "$CHILD" --ike "$CONN" --timeout "$SS_TIMEOUT" >"$STATE/initiate.out" 2>&1 || { cat "$STATE/initiate.out" >&2; die "initiate failed"; }
}

do_wait() {
  local t0=$SECONDS
  until swc --list-sas --raw 2>/dev/null | grep "state=INSTALLED" >/dev/null; do
    [ $((SECONDS - t0)) -lt "$SS_TIMEOUT" ] || RC=3 die "no CHILD_SA installed within ${SS_TIMEOUT}s"
    sleep 0.2
  done
}

case "$CMD" in
  up) do_up ;;
  down) do_down ;;
  wait) do_wait ;;
  initiate) do_initiate ;;
  rekey-child) swc --rekey --child "$CHILD" ;;
  rekey-ike) swc --rekey --ike "$CONN" ;;
  terminate) swc --terminate --ike "$CONN" --timeout "$SS_TIMEOUT" ;;
  status) swc --list-sas ;;
  swanctl) swc "$@" ;;
  logs) cat "$LOGFILE" ;;
  env) env | grep '^SS_' | sort ;;
  *) RC=2 die "unknown command $CMD" ;;
esac
