// Prints what to try once a demo lab is up, for the configuration given
// (namespace prefix, metrics address, flow-log path and addresses from the file).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const path = process.argv[2] ?? 'config/demo.yaml';
const doc = parse(readFileSync(path, 'utf8')) ?? {};
const prefix = doc.lab?.prefix ?? doc.vpc?.name ?? 'demo';
const internet = doc.lab?.internet ?? `${prefix}-internet`;
const metrics = doc.metrics?.listen ?? '127.0.0.1:9469';
const flows = doc.flowLogs?.path;
const inst = Object.entries(doc.instances ?? {});
const ns = (name) => `${prefix}-${name}`;
const byName = Object.fromEntries(inst);
const tips = [];
if (byName['web-1'] && byName['db-1'] && byName['app-1']) {
  // the bundled demo
  tips.push(
    ['ping across subnets (web -> db, allowed: db admits ICMP echo from group web)', `sudo ip netns exec ${ns('web-1')} ping -c 3 ${byName['db-1'].ip}`],
    ['the same from app-1 (denied: db admits ICMP only from web)', `sudo ip netns exec ${ns('app-1')} ping -c 2 -W 1 ${byName['db-1'].ip}`],
    ['why? every stage and the deciding rule', `./bin/vpcd explain ${path} --src app-1 --dst db-1 --proto icmp --icmp-type 8 --icmp-code 0`],
    ['a TCP service on db-1 (5432) and a client on web-1', `sudo ip netns exec ${ns('db-1')} socat TCP-LISTEN:5432,fork,bind=${byName['db-1'].ip} SYSTEM:'echo hello from db-1' &  sudo ip netns exec ${ns('web-1')} socat - TCP:${byName['db-1'].ip}:5432`],
    ['private instance to the internet through the NAT gateway', `sudo ip netns exec ${ns('app-1')} ping -c 2 ${Object.values(doc.lab?.internetHosts ?? {})[0] ?? '203.0.113.100'}`],
    ['the internet to web-1 at its public address (a web server on 80, admitted by SG web and the public NACL)',
      `sudo ip netns exec ${ns('web-1')} python3 -m http.server 80 --bind ${byName['web-1'].ip} &  sudo ip netns exec ${internet} curl -s ${byName['web-1'].publicIp}`],
    ['...while ping from the internet is refused (SG web admits ICMP only from the VPC)', `sudo ip netns exec ${internet} ping -c 2 -W 1 ${byName['web-1'].publicIp}`],
  );
} else if (inst.length >= 2) {
  const [[a], [b, bi]] = inst;
  tips.push([`ping ${b} from ${a}`, `sudo ip netns exec ${ns(a)} ping -c 3 ${bi.ip}`],
    ['why (or why not)?', `./bin/vpcd explain ${path} --src ${a} --dst ${b} --proto icmp --icmp-type 8 --icmp-code 0`]);
}
tips.push(['metrics', `curl -s ${metrics}/metrics | grep ^vpcd_`]);
if (flows) tips.push(['flow logs (AWS version 2 records)', `tail -f ${flows}`]);
process.stdout.write('\nvpcd is starting. Try, in another terminal:\n\n');
for (const [what, cmd] of tips) process.stdout.write(`  # ${what}\n  ${cmd}\n\n`);
process.stdout.write('Ctrl-C stops the daemon and removes the lab.\n\n');
