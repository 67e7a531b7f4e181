// Small network probes for tests, bounded in time. Prints one JSON line.
//   probe.mjs tcp-serve <ip> <port> <seconds>          accept connections, echo what arrives
//   probe.mjs tcp-connect <ip> <port> <timeout_ms> [sport]   {"ok":true|false}
//   probe.mjs tcp-hold <ip> <port> <seconds> <interval_ms> [sport]
//        keeps one connection and sends a line every interval; prints {"sent":n,"echoed":m,"error":...}
//   probe.mjs tcp-stream <ip> <port> <seconds> <interval_ms>
//        as tcp-hold, but prints {"sent":n,"echoed":m,"error":...,"closed":bool} every 100 ms while it runs
//   probe.mjs udp-serve <ip> <port> <seconds>          echo datagrams, prefixed with the peer address
//   probe.mjs udp-request <ip> <port> <timeout_ms>     {"ok":true,"reply":"..."}
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, ip, portS, a, b, c] = process.argv.slice(2);
const port = Number(portS);
const out = (o) => { process.stdout.write(`${JSON.stringify(o)}\n`); };

if (mode === 'tcp-serve') {
  const srv = net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  srv.listen(port, ip, () => process.stderr.write('listening\n'));
  setTimeout(() => process.exit(0), Number(a) * 1000);
} else if (mode === 'tcp-connect') {
  const opts = { host: ip, port, ...(b ? { localPort: Number(b) } : {}) };
  const s = net.connect(opts);
  const t = setTimeout(() => { out({ ok: false, error: 'timeout' }); process.exit(1); }, Number(a));
  s.on('connect', () => { clearTimeout(t); out({ ok: true }); s.destroy(); process.exit(0); });
  s.on('error', (e) => { clearTimeout(t); out({ ok: false, error: e.code ?? e.message }); process.exit(1); });
} else if (mode === 'tcp-hold') {
  const s = net.connect({ host: ip, port, ...(c ? { localPort: Number(c) } : {}) });
  let sent = 0, echoed = 0, error = null;
  s.setNoDelay(true);
  s.on('data', (d) => { echoed += d.toString().split('\n').length - 1; });
  s.on('error', (e) => { error = e.code ?? e.message; });
  s.on('connect', () => {
    process.stderr.write('connected\n');
    const iv = setInterval(() => { if (!s.destroyed) { s.write(`x${sent}\n`); sent++; } }, Number(b));
    setTimeout(() => { clearInterval(iv); out({ sent, echoed, error }); s.destroy(); process.exit(0); }, Number(a) * 1000);
  });
  setTimeout(() => { out({ sent, echoed, error: error ?? 'no connect' }); process.exit(1); }, Number(a) * 1000 + 5000);
} else if (mode === 'tcp-stream') {
  const s = net.connect({ host: ip, port });
  let sent = 0, echoed = 0, error = null, closed = false;
  s.setNoDelay(true);
  s.on('data', (d) => { echoed += d.toString().split('\n').length - 1; });
  s.on('error', (e) => { error = e.code ?? e.message; });
  s.on('close', () => { closed = true; });
  s.on('connect', () => {
    process.stderr.write('connected\n');
    setInterval(() => { if (!s.destroyed) { s.write(`x${sent}\n`); sent++; } }, Number(b));
  });
  setInterval(() => out({ sent, echoed, error, closed }), 100);
  setTimeout(() => { out({ sent, echoed, error, closed }); process.exit(error ? 1 : 0); }, Number(a) * 1000);
} else if (mode === 'udp-serve') {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${r.address}:${r.port} ${m}`, r.port, r.address));
  s.bind(port, ip, () => process.stderr.write('listening\n'));
  setTimeout(() => process.exit(0), Number(a) * 1000);
} else if (mode === 'udp-request') {
  const s = dgram.createSocket('udp4');
  const t = setTimeout(() => { out({ ok: false, error: 'timeout' }); process.exit(1); }, Number(a));
  s.on('message', (m) => { clearTimeout(t); out({ ok: true, reply: m.toString() }); process.exit(0); });
  s.send('ping', port, ip);
} else {
  process.stderr.write('unknown mode\n');
  process.exit(2);
}
