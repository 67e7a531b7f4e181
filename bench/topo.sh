#!/usr/bin/env bash
# bench/topo.sh - the benchmark topology (names and addresses: bench/env.sh).
#
#   topo.sh up              three namespaces, two veth pairs, client/server addressed,
#                           forwarder legs without addresses, ip_forward=0
#   topo.sh fwd-kernel      forwarder legs get the gateway addresses, ip_forward=1
#   topo.sh fwd-none        forwarder legs lose their addresses, ip_forward=0, no nft rules
#                           (what vpcd needs: it owns both legs)
#   topo.sh nft filter|nat  load the nftables ruleset into vb-fwd (nat = filter + masquerade)
#   topo.sh nft-flush       remove every nftables rule in vb-fwd
#   topo.sh reset           forget neighbours (client/server) and conntrack entries (forwarder)
#   topo.sh show            addresses, routes, offloads, counters
#   topo.sh down            delete the vb-* namespaces (their interfaces go with them)
#
# Needs root. Touches nothing outside its own vb-* namespaces.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

down() {
  local ns
  for ns in "$NS_C" "$NS_F" "$NS_S" "$NS_F2"; do
    [ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null || true
  done
}

up() {
  down
  local ns
  for ns in "$NS_C" "$NS_F" "$NS_S"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    # no IPv6 chatter (router solicitations, DAD, MLD) during the measurements
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_F0" netns "$NS_F"
  ip link add "$IF_F1" netns "$NS_F" type veth peer name "$IF_S" netns "$NS_S"
  nsx "$NS_C" ip link set "$IF_C" address "$MAC_C"
  nsx "$NS_S" ip link set "$IF_S" address "$MAC_S"
  local d
  for d in "$NS_C $IF_C" "$NS_F $IF_F0" "$NS_F $IF_F1" "$NS_S $IF_S"; do
    set -- $d
    nsx "$1" ip link set "$2" up
  done
  nsx "$NS_C" ip addr add "$CLIENT_IP/$PLEN" dev "$IF_C"
  nsx "$NS_C" ip route add default via "$CLIENT_GW"
  nsx "$NS_S" ip addr add "$SERVER_IP/$PLEN" dev "$IF_S"
  nsx "$NS_S" ip route add default via "$SERVER_GW"
  nsx "$NS_F" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  fwd_none
}

fwd_kernel() {
  nsx "$NS_F" ip addr replace "$CLIENT_GW/$PLEN" dev "$IF_F0"
  nsx "$NS_F" ip addr replace "$SERVER_GW/$PLEN" dev "$IF_F1"
  nsx "$NS_F" sysctl -qw net.ipv4.ip_forward=1
  nsx "$NS_F" sysctl -qw net.ipv4.conf.all.send_redirects=0
}

fwd_none() {
  nsx "$NS_F" ip addr flush dev "$IF_F0"
  nsx "$NS_F" ip addr flush dev "$IF_F1"
  nsx "$NS_F" sysctl -qw net.ipv4.ip_forward=0
  nft_flush
}

nft_flush() { nsx "$NS_F" nft flush ruleset; }

# 200 rules that never match the benchmark traffic (client <-> server, UDP 9000, TCP 5201/7000, ICMP).
# Addresses only from 203.0.113.0/24, 198.51.100.0/24 and 198.19.128.0/17 (unused by the topology).
filler_rules() {
  local i a
  for ((i = 0; i < 200; i++)); do
    a=$((i % 250 + 1))
    case $((i % 5)) in
      0) echo "    ip saddr 203.0.113.$a tcp dport $((10000 + i)) drop" ;;
      1) echo "    ip daddr 198.51.100.$a udp dport $((20000 + i)) drop" ;;
      2) echo "    ip saddr 198.19.$((128 + i % 120)).0/24 ip daddr 198.51.100.$a drop" ;;
      3) echo "    ip saddr 198.19.$((128 + i % 120)).$a tcp dport $((30000 + i)) accept" ;;
      4) echo "    ip daddr 203.0.113.$a udp sport $((40000 + i)) counter drop" ;;
    esac
  done
}

ruleset() { # $1 = filter | nat
  echo "flush ruleset"
  echo "table inet vb_filter {"
  echo "  chain forward {"
  echo "    type filter hook forward priority filter; policy drop;"
  echo "    ct state established,related accept"
  echo "    ct state invalid drop"
  filler_rules
  echo "    ip saddr 198.18.0.0/15 ip daddr 198.18.0.0/15 accept"
  echo "  }"
  echo "}"
  if [ "$1" = nat ]; then
    echo "table ip vb_nat {"
    echo "  chain postrouting {"
    echo "    type nat hook postrouting priority srcnat; policy accept;"
    echo "    oifname \"$IF_F1\" masquerade"
    echo "  }"
    echo "}"
  fi
}

nft_load() {
  case "${1:-}" in filter | nat) ;; *) echo "topo.sh nft filter|nat" >&2; exit 2 ;; esac
  ruleset "$1" | nsx "$NS_F" nft -f -
}

reset_state() {
  nsx "$NS_C" ip neigh flush all 2>/dev/null || true
  nsx "$NS_S" ip neigh flush all 2>/dev/null || true
  nsx "$NS_F" ip neigh flush all 2>/dev/null || true
  nsx "$NS_F" conntrack -F >/dev/null 2>&1 || true
}

show() {
  local ns d
  for ns in "$NS_C" "$NS_F" "$NS_S"; do
    echo "== $ns (ip_forward=$(nsx "$ns" cat /proc/sys/net/ipv4/ip_forward))"
    nsx "$ns" ip -br addr
    nsx "$ns" ip route
  done
  for d in "$NS_C $IF_C" "$NS_F $IF_F0" "$NS_F $IF_F1" "$NS_S $IF_S"; do
    set -- $d
    printf '%s: ' "$2"
    nsx "$1" ethtool -k "$2" 2>/dev/null |
      awk -F': ' '/^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/{printf "%s=%s ", $1, $2}'
    echo
    nsx "$1" ip -s link show "$2" | sed 's/^/    /'
  done
  echo "== nft ($NS_F)"
  nsx "$NS_F" nft list ruleset | head -8
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  fwd-kernel) fwd_kernel ;;
  fwd-none) fwd_none ;;
  nft) nft_load "${2:-}" ;;
  nft-flush) nft_flush ;;
  reset) reset_state ;;
  show) show ;;
  ruleset) ruleset "${2:-filter}" ;;
  *) echo "usage: $0 up|down|fwd-kernel|fwd-none|nft filter|nat|nft-flush|reset|show|ruleset filter|nat" >&2; exit 2 ;;
esac
