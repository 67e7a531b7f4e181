/**
 * The control socket (`control.socket`): a Unix stream socket, mode 0660,
 * owner root, group `control.group` when set, never TCP. `vpcd observe` and
 * `vpcd conntrack` talk to the running daemon through it, in the format of
 * control-wire.ts.
 *
 * Bounds: MAX_CLIENTS connections at once (one more gets an error reply and
 * is closed), one request line of at most MAX_REQUEST_BYTES, REQUEST_TIMEOUT_MS
 * to send it. A bad request gets an error reply, never a crash. An observer
 * stays connected while it reads; one that reads too slowly loses events
 * (observe-hub.ts) instead of holding the daemon up.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { FaultGuard } from './guard.js';
import { encodeReply, LineSplitter, MAX_REQUEST_BYTES, parseRequest, WireError, type ControlReply, type ControlRequest } from './control-wire.js';
import type { ObserveHub } from '../observe/observe-hub.js';
import type { EventFilter, FilterSpec } from '../observe/event-filter.js';

/** Connections at once, at most. */
export const MAX_CLIENTS = 16;
/** A client must send its request within this long. */
const REQUEST_TIMEOUT_MS = 5_000;
/** Bytes an observer's socket may buffer before it counts as slow (its events then wait in its queue). */
const SOCKET_HIGH_WATER = 256 * 1024;

/** What the daemon answers with. */
export interface ControlHandlers {
  readonly hub: ObserveHub;
  /** Checks a filter against the running configuration; throws with a message for the user. */
  filter(spec: FilterSpec): EventFilter;
  /** conntrack-list, conntrack-flush, ping. Throws with a message for the user. */
  answer(req: Exclude<ControlRequest, { op: 'observe' }>): ControlReply;
}

/** A group name or number from /etc/group to its gid. Throws when unknown. */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^[0-9]+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (e) {
    throw new Error(`control.group ${group}: cannot read ${groupFile}: ${(e as Error).message}`);
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new Error(`control.group ${group}: no such group`);
}

/** Why members of group `gid` (not root) cannot enter `dir` to reach the socket, or undefined. */
function unreachableFor(dir: string, gid: number): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d);
    const enter = (st.mode & 0o001) !== 0 || (st.gid === gid && (st.mode & 0o010) !== 0);
    if (!enter) return `control.group: members of group ${gid} cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}): put control.socket in a directory they can reach`;
    if (d === '/' || dirname(d) === d) return undefined;
  }
}

/** True when a daemon answers on `path`. */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export class ControlSocket {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();
  /** Connections refused because MAX_CLIENTS were open. */
  refused = 0;
  /** Requests answered with an error. */
  badRequests = 0;

  constructor(readonly path: string, private readonly group: string | undefined, private readonly h: ControlHandlers, private readonly guard: FaultGuard) {}

  /**
   * Binds the socket (replacing a stale one), then sets its mode and owner
   * (the daemon's user, normally root; group control.group). Rejects with
   * the reason. Resolves with a warning when the group cannot reach the
   * socket (a directory on the way that group members cannot enter).
   */
  async listen(): Promise<string | undefined> {
    const gid = this.group !== undefined ? resolveGroup(this.group) : undefined;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    let st;
    try {
      st = lstatSync(this.path);
    } catch {
      st = undefined;
    }
    if (st !== undefined) {
      if (!st.isSocket()) throw new Error(`control.socket ${this.path}: exists and is not a socket`);
      if (await inUse(this.path)) throw new Error(`control.socket ${this.path}: another vpcd answers on it`);
      unlinkSync(this.path);
    }
    const server = createServer((s) => this.accept(s));
    server.maxConnections = MAX_CLIENTS + 1;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        server.on('error', (e) => this.guard.fail('control-socket', e));
        resolve();
      });
    });
    this.server = server;
    chmodSync(this.path, 0o660);
    chownSync(this.path, process.getuid?.() ?? 0, gid ?? process.getgid?.() ?? 0);
    return gid === undefined ? undefined : unreachableFor(dirname(this.path), gid);
  }

  get connections(): number {
    return this.clients.size;
  }

  private accept(sock: Socket): void {
    if (this.clients.size >= MAX_CLIENTS) {
      this.refused++;
      sock.on('error', () => { /* the peer went: nothing to do */ });
      sock.end(encodeReply({ ok: false, error: `too many control connections (at most ${MAX_CLIENTS})` }));
      // Read (and discard) what it sends, so its end of the stream arrives and the socket closes.
      sock.resume();
      return;
    }
    this.clients.add(sock);
    sock.setEncoding('utf8');
    const lines = new LineSplitter(MAX_REQUEST_BYTES);
    let got = false;
    const timer = setTimeout(() => this.fail(sock, 'no request within 5 s'), REQUEST_TIMEOUT_MS);
    sock.on('error', () => { /* the peer went: close handles it */ });
    sock.on('close', () => {
      clearTimeout(timer);
      this.clients.delete(sock);
    });
    sock.on('data', (chunk: string) => {
      if (got) return; // one request per connection; an observer's later input is ignored
      let ls: string[];
      try {
        ls = lines.push(chunk);
      } catch (e) {
        clearTimeout(timer);
        got = true;
        this.fail(sock, (e as Error).message);
        return;
      }
      const line = ls[0];
      if (line === undefined) return;
      got = true;
      clearTimeout(timer);
      let observing = false;
      this.guard.run('control-request', () => { observing = this.handle(sock, line); });
      if (!observing && !sock.destroyed && !sock.writableEnded) sock.end();
    });
  }

  private fail(sock: Socket, error: string): void {
    this.badRequests++;
    if (!sock.destroyed) sock.end(encodeReply({ ok: false, error }));
  }

  /** Answers one request; true when the connection stays open (an observer). */
  private handle(sock: Socket, line: string): boolean {
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (e) {
      this.fail(sock, e instanceof WireError ? e.message : 'bad request');
      return false;
    }
    if (req.op !== 'observe') {
      let reply: ControlReply;
      try {
        reply = this.h.answer(req);
      } catch (e) {
        this.fail(sock, (e as Error).message);
        return false;
      }
      sock.end(encodeReply(reply));
      return false;
    }
    let filter: EventFilter;
    try {
      filter = this.h.filter(req.filter);
    } catch (e) {
      this.fail(sock, (e as Error).message);
      return false;
    }
    let sub;
    try {
      sub = this.h.hub.subscribe(filter, {
        write: (l) => {
          sock.write(`${l}\n`);
          return sock.writableLength < SOCKET_HIGH_WATER;
        },
      });
    } catch (e) {
      this.fail(sock, (e as Error).message);
      return false;
    }
    sock.write(encodeReply({ ok: true, op: 'observe' }));
    sock.on('drain', () => sub.resume());
    sock.on('close', () => sub.close());
    return true;
  }

  /** Closes the socket and every connection; removes the socket file. */
  async close(): Promise<void> {
    const s = this.server;
    if (!s) return; // never bound: the file (if any) is not ours
    this.server = undefined;
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
