/**
 * The control socket and its wire format: every malformed request gets an
 * error reply (never an exception other than WireError from the parser,
 * never a crash of the server); the request size, the number of clients and
 * the socket's mode are bounded as documented; an observer gets events and
 * a slow one loses events with a count instead of holding the daemon up.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlSocket, MAX_CLIENTS } from '../../../src/daemon/control-socket.js';
import { MAX_REQUEST_BYTES, parseRequest, WireError } from '../../../src/daemon/control-wire.js';
import { FaultGuard } from '../../../src/daemon/guard.js';
import { EventRing, EventType } from '../../../src/observe/event-ring.js';
import { ObserveHub } from '../../../src/observe/observe-hub.js';
import { FilterError } from '../../../src/observe/event-filter.js';
import { checkProperty, propertySeed } from '../../helpers/property.js';
import { itWith } from '../../helpers/needs.js';

const tmp = mkdtempSync(join(tmpdir(), 'vpcd-ctl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('control wire format', () => {
  it.each([
    ['', 'not JSON'], ['{', 'not JSON'], ['[]', 'JSON object'], ['42', 'JSON object'], ['{"op":"nope"}', 'unknown op'],
    ['{"op":"ping","x":1}', 'unknown field'], ['{"op":"observe","filter":{"port":"22"}}', 'integer'],
    ['{"op":"observe","filter":{"colour":"red"}}', 'unknown field'], ['{"op":"conntrack-list","limit":0}', 'limit'],
    ['{"op":"conntrack-flush","instance":""}', 'non-empty'], [`{"op":"ping","p":"${'x'.repeat(MAX_REQUEST_BYTES)}"}`, 'longer than'],
  ].map(([line, why]) => [line!.length > 60 ? `${line!.slice(0, 40)}… (${line!.length} bytes)` : line, line, why]))('%s -> WireError', (_label, line, why) => {
    expect(() => parseRequest(line)).toThrow(WireError);
    expect(() => parseRequest(line)).toThrow(why);
  });

  it('any text: a request or a WireError, nothing else', () => {
    const seed = propertySeed('control wire');
    checkProperty('control wire', fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })), (s) => {
      try {
        const r = parseRequest(s);
        return ['observe', 'conntrack-list', 'conntrack-flush', 'ping'].includes(r.op);
      } catch (e) {
        return e instanceof WireError;
      }
    }), 2000, seed);
  });
});

/** One connection: sends `text`, collects lines until the server closes or `until` says enough. */
function talk(path: string, text: string, until?: (lines: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    const lines: string[] = [];
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(text));
    c.on('data', (d: string) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
      if (until?.(lines)) {
        c.destroy();
        resolve(lines);
      }
    });
    c.on('close', () => resolve(lines));
    c.on('error', reject);
  });
}

function server(name: string, hub = new ObserveHub(new EventRing(64), () => ({ instances: ['a'], nacls: [], groups: [], natGateways: [] }))) {
  const path = join(tmp, `${name}.sock`);
  const guard = new FaultGuard(pino({ level: 'silent' }));
  const s = new ControlSocket(path, undefined, {
    hub,
    filter: (spec) => {
      if (spec.instance !== undefined && spec.instance !== 'a') throw new FilterError(`--instance '${spec.instance}' is not an instance`);
      return { spec, matches: () => true };
    },
    answer: (req) => {
      if (req.op === 'ping') return { ok: true, op: 'ping', vpc: 't', version: '0' };
      if (req.op === 'conntrack-flush') return { ok: true, op: 'conntrack-flush', flushed: 0 };
      return { ok: true, op: 'conntrack-list', entries: [], total: 0, truncated: false };
    },
  }, guard);
  return { s, path, hub, guard };
}

describe('control socket', () => {
  it('answers a good request, an error for a bad one, and goes on serving; mode 0660', async () => {
    const { s, path, guard } = server('basic');
    await s.listen();
    try {
      expect(statSync(path).mode & 0o777).toBe(0o660);
      expect(JSON.parse((await talk(path, '{"op":"ping"}\n'))[0]!)).toMatchObject({ ok: true, op: 'ping' });
      for (const bad of ['garbage\n', '{"op":"observe","filter":{"instance":"zz"}}\n', `${'x'.repeat(MAX_REQUEST_BYTES + 10)}`, '\u0000\u0001\n']) {
        const r = await talk(path, bad);
        expect(JSON.parse(r[0]!)).toMatchObject({ ok: false });
      }
      expect(s.badRequests).toBe(4);
      expect(JSON.parse((await talk(path, '{"op":"conntrack-list"}\n'))[0]!)).toMatchObject({ ok: true, total: 0 });
      expect([...guard.counts()]).toEqual([]);
    } finally {
      await s.close();
    }
  });

  // chown to another group needs root
  itWith(['root'], 'control.group: the socket gets the group; a directory the group cannot enter is reported', async () => {
    const open = join(tmp, 'open');
    const closed = join(tmp, 'closed');
    mkdirSync(open, { mode: 0o755 });
    mkdirSync(closed, { mode: 0o700 });
    chmodSync(tmp, 0o755);
    const hub = new ObserveHub(new EventRing(8), () => ({ instances: [], nacls: [], groups: [], natGateways: [] }));
    const h = { hub, filter: () => ({ spec: {}, matches: () => true }), answer: () => ({ ok: true as const, op: 'ping' as const, vpc: 't', version: '0' }) };
    const guard = new FaultGuard(pino({ level: 'silent' }));
    const a = new ControlSocket(join(open, 'c.sock'), '4242', h, guard);
    const b = new ControlSocket(join(closed, 'c.sock'), '4242', h, guard);
    try {
      expect(await a.listen()).toBeUndefined();
      expect(statSync(join(open, 'c.sock')).gid).toBe(4242);
      expect(await b.listen()).toMatch(/cannot enter .*closed \(mode 700\)/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it(`refuses the connection past ${MAX_CLIENTS} clients with an error reply`, async () => {
    const { s, path } = server('limit');
    await s.listen();
    const held = [];
    try {
      for (let i = 0; i < MAX_CLIENTS; i++) {
        const c = createConnection(path);
        await new Promise((r) => c.once('connect', r));
        held.push(c);
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(s.connections).toBe(MAX_CLIENTS);
      const r = await talk(path, '{"op":"ping"}\n');
      expect(JSON.parse(r[0]!)).toMatchObject({ ok: false, error: expect.stringContaining('too many') });
      expect(s.refused).toBe(1);
    } finally {
      for (const c of held) c.destroy();
      await s.close();
    }
  });

  it('an observer gets the events; one that does not read loses events, counted', async () => {
    const { s, path, hub } = server('observe');
    await s.listen();
    try {
      const got = talk(path, '{"op":"observe"}\n', (ls) => ls.length >= 3);
      while (hub.subscribers === 0) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 2; i++) hub.ring.put(EventType.Drop, 0, 0, 0, -1, -1, 0, 6, 0x0a000001 + i, 0x0a000002, 1, 2);
      hub.drain();
      const lines = await got;
      expect(JSON.parse(lines[0]!)).toEqual({ ok: true, op: 'observe' });
      expect(lines.slice(1).map((l) => JSON.parse(l) as { type: string; src: string })).toMatchObject([{ type: 'drop', src: '10.0.0.1' }, { type: 'drop', src: '10.0.0.2' }]);

      // a client that never reads: its socket buffer fills, then its queue; the rest is lost and counted
      const slow = createConnection(path);
      slow.pause();
      await new Promise((r) => slow.once('connect', r));
      slow.write('{"op":"observe"}\n');
      while (hub.subscribers === 0) await new Promise((r) => setTimeout(r, 5));
      const lostBefore = hub.queueLostTotal;
      for (let round = 0; round < 200 && hub.queueLostTotal === lostBefore; round++) {
        for (let i = 0; i < 64; i++) hub.ring.put(EventType.Drop, 0, 0, 0, -1, -1, 0, 6, 0x0a000001, 0x0a000002, 1, 2);
        hub.drain();
        await new Promise((r) => setImmediate(r));
      }
      expect(hub.queueLostTotal).toBeGreaterThan(lostBefore);
      slow.destroy();
    } finally {
      await s.close();
    }
  });
});
