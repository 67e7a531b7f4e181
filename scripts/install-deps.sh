#!/usr/bin/env bash
# install-deps.sh - system packages vpcd's lab, tests and benchmark need (Debian 12).
# Idempotent: installs only what is missing; a no-op (and no root needed) when all is present.
# Called by `npm start`, `npm test` and `npm run bench` before anything touches the network.
set -euo pipefail

PKGS=(iproute2 iputils-ping iperf3 nftables conntrack ethtool jq tcpdump socat procps curl
      python3 gcc libc6-dev make g++ openssl prometheus
      strongswan-charon strongswan-swanctl libcharon-extra-plugins
      libstrongswan-standard-plugins libstrongswan-extra-plugins)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# wait (bounded) for another apt run to release its lock
for _ in $(seq 1 60); do
  fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break
  sleep 2
done
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's prometheus package starts a system service on install; vpcd's tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
pkill -x prometheus-node-exporter 2>/dev/null || true
echo "install-deps: installed ${missing[*]}" >&2
