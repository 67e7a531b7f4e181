// Drives the live page in real headless Chromium over the Chrome DevTools protocol (bounded in time).
// Run with `node --experimental-websocket` (Node 20 has WebSocket behind that flag).
//   node --experimental-websocket live-browser.mjs <url> <screenshot.png> <src-address>
// 1. opens <url>, waits until the topology is drawn and the event stream is open, prints
//    {"ready":true,"instances":[...],"subnets":[...],"gateways":[...]}
// 2. on a line on stdin, waits (at most 5 s) for a refused flow from <src-address> in the flow table,
//    prints {"seen":true,"ms":N,"row":"..."} (ms from the stdin line), saves a screenshot, exits 0.
// Any failure prints {"error":"..."} and exits 1.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [url, shot, src] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const profile = mkdtempSync(join(tmpdir(), 'vpcd-chromium-'));
const chrome = spawn('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
  '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=1500,1000', '--hide-scrollbars', 'about:blank'],
{ stdio: ['ignore', 'ignore', 'pipe'] });
const finish = (code, o) => {
  out(o);
  chrome.kill('SIGKILL');
  setTimeout(() => { try { rmSync(profile, { recursive: true, force: true }); } catch { /* busy */ } process.exit(code); }, 200);
};
const overall = setTimeout(() => finish(1, { error: 'timeout (60 s)' }), 60_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const wsUrl = await new Promise((resolve) => {
  let err = '';
  chrome.stderr.on('data', (d) => {
    err += d.toString();
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
    if (m) resolve(m[1]);
  });
  chrome.on('exit', (c) => finish(1, { error: `chromium exited ${c}: ${err.slice(-500)}` }));
});
const port = new URL(wsUrl).port;
let pageWs;
for (let i = 0; i < 50 && !pageWs; i++) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  pageWs = list.find((t) => t.type === 'page')?.webSocketDebuggerUrl;
  if (!pageWs) await sleep(100);
}
if (!pageWs) finish(1, { error: 'no page target' });

const ws = new WebSocket(pageWs);
await new Promise((r, j) => { ws.onopen = r; ws.onerror = () => j(new Error('websocket')); });
let nextId = 1;
const waiting = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && waiting.has(msg.id)) {
    waiting.get(msg.id)(msg);
    waiting.delete(msg.id);
  }
};
const send = (method, params = {}) => new Promise((resolve) => {
  const id = nextId++;
  waiting.set(id, resolve);
  ws.send(JSON.stringify({ id, method, params }));
});
const evaluate = async (expr) => (await send('Runtime.evaluate', { expression: expr, returnByValue: true })).result?.result?.value;

await send('Page.enable');
await send('Emulation.setDeviceMetricsOverride', { width: 1500, height: 1000, deviceScaleFactor: 1, mobile: false });
await send('Page.navigate', { url });
let ready = false;
for (let i = 0; i < 200 && !ready; i++) {
  ready = await evaluate("document.body && document.body.dataset.live === '1' && document.querySelectorAll('#topo .node.instance').length > 0");
  if (!ready) await sleep(50);
}
if (!ready) finish(1, { error: 'the page did not draw the topology and open the event stream in 10 s', html: (await evaluate('document.documentElement.outerHTML'))?.slice(0, 2000) });
const names = (sel) => `[...document.querySelectorAll('${sel}')].map((n) => n.dataset.name)`;
out({ ready: true, instances: await evaluate(names('#topo .node.instance')), subnets: await evaluate(names('#topo .subnet')),
  gateways: await evaluate(names('#topo .node.natgw, #topo .node.igw')) });

const rl = createInterface({ input: process.stdin });
await new Promise((r) => rl.once('line', r));
const t0 = Date.now();
let row = null;
while (Date.now() - t0 < 5_000 && !row) {
  row = await evaluate(`(function () { var r = document.querySelector('#events tr.ev.REJECT[data-src="${src}"]'); return r ? r.textContent : null; })()`);
  if (!row) await sleep(25);
}
const ms = Date.now() - t0;
if (!row) finish(1, { error: `no refused flow from ${src} in 5 s`, rows: await evaluate("document.getElementById('events').textContent") });
await sleep(1200); // let the flow's line be drawn and the counters polled for the picture
const png = await send('Page.captureScreenshot', { format: 'png' });
writeFileSync(shot, Buffer.from(png.result.data, 'base64'));
clearTimeout(overall);
finish(0, { seen: true, ms, row });
