// End-to-end TCP integrity check (bounded in time): the server prints the bytes and
// sha256 it received; the client sends N bytes of seeded pseudo-random data and prints the same.
//   node tcp-check.mjs server <ip> <port> <timeout_s>
//   node tcp-check.mjs client <ip> <port> <bytes> <timeout_s>
import net from 'node:net';
import { createHash } from 'node:crypto';

const [mode, ip, port, a, b] = process.argv.slice(2);
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}
if (mode === 'server') {
  const timeout = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(3); }, Number(a) * 1000);
  const srv = net.createServer((c) => {
    const h = createHash('sha256');
    let n = 0;
    c.on('data', (d) => { h.update(d); n += d.length; });
    c.on('end', () => {
      c.end('k');
      console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex'), peer: c.remoteAddress }));
      clearTimeout(timeout);
      srv.close();
    });
  });
  srv.listen(Number(port), ip, () => console.error('listening'));
} else {
  const total = Number(a);
  const timeout = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(3); }, Number(b) * 1000);
  const rnd = prng(1234);
  const h = createHash('sha256');
  const c = net.connect(Number(port), ip, () => {
    let sent = 0;
    const write = () => {
      while (sent < total) {
        const len = Math.min(65536, total - sent);
        const chunk = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i += 4) chunk.writeUInt32LE(rnd(), i <= len - 4 ? i : len - 4);
        h.update(chunk);
        sent += len;
        if (!c.write(chunk)) { c.once('drain', write); return; }
      }
      c.end();
    };
    write();
  });
  c.on('data', () => {});
  c.on('end', () => { clearTimeout(timeout); console.log(JSON.stringify({ bytes: total, sha256: h.digest('hex') })); });
  c.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(4); });
}
