#!/usr/bin/env bash
# install-deps.sh - the Debian 12 packages one vpcd command needs, and nothing else.
#
#   scripts/install-deps.sh demo    the lab and the demo (`npm start`): ip, nft, ethtool, ping, curl
#   scripts/install-deps.sh test    everything the test suite and the benchmark use (`npm test`,
#                                   `npm run bench`), strongSwan, Prometheus, openssl and Chromium
#                                   (the live page's browser test) included
#   scripts/install-deps.sh         same as `test`
#   add --dry-run to print what would be installed and stop
#
# Idempotent: installs only the missing packages (a no-op, no root needed, when all are present)
# and prints them. It stops, disables or kills nothing that was already on the machine:
# - while apt installs, a policy-rc.d (only if the machine has none) tells apt not to start the
#   services of the packages being installed (Debian's prometheus would otherwise start one);
# - the systemd units of packages installed by this run are left disabled (a unit the machine
#   had before, or a package installed before, is not touched); nothing is killed by name.
set -euo pipefail

DEMO=(iproute2 nftables ethtool iputils-ping curl procps)
TEST=("${DEMO[@]}" iperf3 conntrack jq tcpdump socat python3 gcc libc6-dev make g++ openssl prometheus
      busybox sntp bind9-dnsutils
      strongswan-charon strongswan-swanctl libcharon-extra-plugins
      libstrongswan-standard-plugins libstrongswan-extra-plugins chromium)

mode=test
dry=0
for a in "$@"; do
  case "$a" in
    demo|test) mode=$a ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown argument '$a' (demo, test, --dry-run)" >&2; exit 1 ;;
  esac
done
if [ "$mode" = demo ]; then PKGS=("${DEMO[@]}"); else PKGS=("${TEST[@]}"); fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps ($mode): to install: ${missing[*]}" >&2
[ "$dry" = 1 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root: sudo $0 $mode)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
ours_policy=0
cleanup() { if [ "$ours_policy" = 1 ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  # exit status 101: "action forbidden by policy"; invoke-rc.d then starts nothing.
  printf '#!/bin/sh\n# written by vpcd scripts/install-deps.sh for the duration of one apt run\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  ours_policy=1
fi

# Packages this run installs: the ones asked for and the dependencies apt pulls in.
before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" { print $2 }' | sort)
apt-get -o DPkg::Lock::Timeout=120 update -qq
apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" { print $2 }' | sort)
new_pkgs=$(comm -13 <(echo "$before") <(echo "$after"))

# Units shipped by the packages this run installed stay disabled (they were enabled by their postinst).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for p in $new_pkgs; do
    for unit in $(dpkg -L "$p" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(service|socket|timer)$' | xargs -r -n1 basename); do
      case "$unit" in *@.*) continue ;; esac
      if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        systemctl disable --quiet "$unit" 2>/dev/null && echo "install-deps: left $unit (installed now, from $p) disabled" >&2 || true
      fi
    done
  done
fi
echo "install-deps ($mode): installed ${missing[*]}$( [ -n "$new_pkgs" ] && echo " (with dependencies: $(echo $new_pkgs | wc -w) packages)")" >&2
