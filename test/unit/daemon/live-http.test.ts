/**
 * The live page's HTTP side (served in the watchdog thread): the page is one
 * self-contained document, questions go to the main thread and come back,
 * event lines reach every open stream, and streams are bounded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveHttp, MAX_SSE_CLIENTS, type LiveFromWorker } from '../../../src/daemon/live-http.js';

let server: Server | undefined;
const controllers: AbortController[] = [];
afterEach(async () => {
  for (const c of controllers.splice(0)) c.abort();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server?.closeAllConnections();
  server = undefined;
});

async function serve(): Promise<{ live: LiveHttp; posted: LiveFromWorker[]; base: string }> {
  const posted: LiveFromWorker[] = [];
  const live = new LiveHttp((m) => posted.push(m));
  server = createServer((req, res) => {
    if (!live.handle(req.url ?? '/', req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { live, posted, base: `http://127.0.0.1:${(server!.address() as AddressInfo).port}` };
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('live page HTTP', () => {
  it('serves one self-contained page', async () => {
    const { base } = await serve();
    const r = await fetch(`${base}/live`);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    const html = await r.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);
  });

  it('asks the main thread for the topology and relays its answer', async () => {
    const { live, posted, base } = await serve();
    const p = fetch(`${base}/live/topology.json`).then((r) => r.text());
    await waitFor(() => posted.length === 1);
    const ask = posted[0]!;
    expect(ask).toMatchObject({ t: 'live-ask', what: 'topology' });
    live.onMessage({ t: 'live-answer', req: (ask as { req: number }).req, ok: true, body: '{"vpc":1}' });
    expect(await p).toBe('{"vpc":1}');
  });

  it(`streams event lines to every open stream; at most ${MAX_SSE_CLIENTS} streams`, async () => {
    const { live, posted, base } = await serve();
    const readers: { text: string }[] = [];
    for (let i = 0; i < MAX_SSE_CLIENTS; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      const r = await fetch(`${base}/live/events`, { signal: ac.signal });
      expect(r.status).toBe(200);
      const st = { text: '' };
      readers.push(st);
      const rd = r.body!.getReader();
      void (async () => {
        try {
          for (;;) {
            const { value, done } = await rd.read();
            if (done) return;
            st.text += Buffer.from(value).toString();
          }
        } catch { /* aborted */ }
      })();
    }
    await waitFor(() => posted.filter((m) => m.t === 'live-clients').at(-1)?.t === 'live-clients' && (posted.at(-1) as { n: number }).n === MAX_SSE_CLIENTS);
    const extra = await fetch(`${base}/live/events`);
    expect(extra.status).toBe(503);
    live.onMessage({ t: 'live-events', lines: ['{"type":"flow","n":1}'] });
    await waitFor(() => readers.every((r) => r.text.includes('data: {"type":"flow","n":1}\n\n')));
    controllers[0]!.abort();
    await waitFor(() => (posted.at(-1) as { n: number }).n === MAX_SSE_CLIENTS - 1);
    live.closeAll();
  });
});
