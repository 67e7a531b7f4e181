/**
 * `lab.addressing: dhcp`: the lab leaves an instance namespace's eth0
 * without an address and starts busybox udhcpc in it, so the instance gets
 * its address, router and DNS from Amazon DHCP (vpcd answers on the ENI).
 * The client runs in the foreground of a detached process inside the
 * namespace, retrying until `vpcd run` answers; `lab down` kills it with the
 * namespace. Its script sets the address and the default route and writes
 * /etc/netns/<namespace>/resolv.conf (what `ip netns exec` shows as
 * /etc/resolv.conf), never the host's.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_DIR } from './state.js';

const SCRIPT = `#!/bin/sh
# vpcd lab: busybox udhcpc script (lab.addressing: dhcp)
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-$subnet}" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "\${router%% *}" dev "$interface"; fi
    if [ -n "$VPCD_NETNS" ] && [ -d "/etc/netns/$VPCD_NETNS" ]; then
      { [ -n "$domain" ] && echo "search $domain"; for d in $dns; do echo "nameserver $d"; done; } > "/etc/netns/$VPCD_NETNS/resolv.conf"
    fi
    ;;
esac
exit 0
`;

/** Writes the client's script (once per host) and returns its path. */
function script(): string {
  mkdirSync(STATE_DIR, { recursive: true });
  const p = join(STATE_DIR, 'udhcpc.sh');
  writeFileSync(p, SCRIPT);
  chmodSync(p, 0o755);
  return p;
}

/** Starts udhcpc on `ifname` in namespace `ns` (detached; it lives as long as the namespace). */
export function startDhcpClient(ns: string, ifname: string): void {
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, '');
  const child = spawn('ip', ['netns', 'exec', ns, 'busybox', 'udhcpc', '-f', '-i', ifname, '-s', script(), '-T', '1', '-t', '5', '-A', '1'], {
    detached: true, stdio: 'ignore', env: { ...process.env, VPCD_NETNS: ns },
  });
  child.on('error', () => { /* reported by the lab's check below */ });
  child.unref();
}
