// Steady flow churn for soak runs, bounded in rate and time. Prints one JSON line at the end.
//   soak-traffic.mjs tcp-churn <ip> <port> <per_second> <seconds>   short TCP connections: connect, send a line, read the echo, close
//   soak-traffic.mjs udp-churn <ip> <port> <per_second> <seconds>   one datagram per new socket (a new source port each), wait for the echo
// Works against probe.mjs tcp-serve / udp-serve. At most 200 connections or sockets are open at once.
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, ip, portS, rateS, secsS] = process.argv.slice(2);
const port = Number(portS), rate = Number(rateS), secs = Number(secsS);
if (!['tcp-churn', 'udp-churn'].includes(mode) || !(rate > 0 && rate <= 2000) || !(secs > 0 && secs <= 7200)) {
  process.stderr.write('usage: soak-traffic.mjs tcp-churn|udp-churn <ip> <port> <per_second 1..2000> <seconds 1..7200>\n');
  process.exit(2);
}
const MAX_OPEN = 200;
let started = 0, ok = 0, failed = 0, skipped = 0, open = 0;

function tcpOnce() {
  open++;
  const s = net.connect({ host: ip, port });
  const t = setTimeout(() => s.destroy(new Error('timeout')), 3000);
  let done = false;
  const finish = (good) => {
    if (done) return;
    done = true;
    clearTimeout(t);
    open--;
    if (good) ok++; else failed++;
    s.destroy();
  };
  s.on('connect', () => s.write('soak\n'));
  s.on('data', () => { s.end(); finish(true); });
  s.on('error', () => finish(false));
  s.on('close', () => finish(false));
}

function udpOnce() {
  open++;
  const s = dgram.createSocket('udp4');
  let done = false;
  const finish = (good) => {
    if (done) return;
    done = true;
    clearTimeout(t);
    open--;
    if (good) ok++; else failed++;
    s.close();
  };
  const t = setTimeout(() => finish(false), 2000);
  s.on('message', () => finish(true));
  s.on('error', () => finish(false));
  s.send('soak', port, ip);
}

const once = mode === 'tcp-churn' ? tcpOnce : udpOnce;
const tickMs = 20;
const perTick = rate * tickMs / 1000;
let credit = 0;
const iv = setInterval(() => {
  credit += perTick;
  while (credit >= 1) {
    credit -= 1;
    if (open >= MAX_OPEN) { skipped++; continue; }
    started++;
    once();
  }
}, tickMs);
setTimeout(() => {
  clearInterval(iv);
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ mode, started, ok, failed, skipped })}\n`);
    process.exit(0);
  }, 3500);
}, secs * 1000);
