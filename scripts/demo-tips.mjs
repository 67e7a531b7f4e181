// Prints what to try once the demo lab is up.
const cfg = process.argv[2] ?? 'config/demo.yaml';
const tips = [
  ['ping across subnets (web -> db, allowed: db admits ICMP echo from group web)', 'sudo ip netns exec demo-web-1 ping -c 3 198.18.2.20'],
  ['the same from app-1 (denied: db admits ICMP only from web)', 'sudo ip netns exec demo-app-1 ping -c 2 -W 1 198.18.2.20'],
  ['why? every stage and the deciding rule', `./bin/vpcd explain ${cfg} --src app-1 --dst db-1 --proto icmp --icmp-type 8 --icmp-code 0`],
  ['a TCP service on db-1 and a client on web-1', 'sudo ip netns exec demo-db-1 nc -l -p 5432 &  sudo ip netns exec demo-web-1 nc -zv 198.18.2.20 5432'],
  ['private instance to the internet through the NAT gateway', 'sudo ip netns exec demo-app-1 ping -c 2 203.0.113.100'],
  ['the internet to web-1 at its public address (a web server on 80, admitted by SG web and the public NACL)',
    'sudo ip netns exec demo-web-1 python3 -m http.server 80 --bind 198.18.1.10 &  sudo ip netns exec demo-internet curl -s 203.0.113.10'],
  ['...while ping from the internet is refused (SG web admits ICMP only from the VPC)', 'sudo ip netns exec demo-internet ping -c 2 -W 1 203.0.113.10'],
  ['metrics', 'curl -s 127.0.0.1:9469/metrics | grep ^vpcd_'],
  ['flow logs (AWS version 2 records)', 'tail -f /tmp/vpcd-demo/flows.log'],
];
process.stdout.write('\nvpcd demo is starting. Try, in another terminal:\n\n');
for (const [what, cmd] of tips) process.stdout.write(`  # ${what}\n  ${cmd}\n\n`);
process.stdout.write('Ctrl-C stops the daemon and removes the lab.\n\n');
