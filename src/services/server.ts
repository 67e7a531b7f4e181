/**
 * The VPC service server: runs inside the service namespace (services/plane.ts
 * starts it with `ip netns exec NS node dist/services/server.js`, with an IPC
 * channel) and answers with real kernel sockets:
 *
 *   169.254.169.254 TCP 80    instance metadata (services/imds.ts)
 *   169.254.169.123 UDP 123   Amazon Time Sync (services/ntp-codec.ts)
 *   base + 2, 169.254.169.253 Amazon DNS (services/dns-hook.ts, services/dns/), with
 *                             enableDnsSupport; forwarded names go to the parent
 *
 * The caller is identified by its source address (the data plane lets only
 * an ENI's own traffic, after its source/destination check, reach the
 * namespace). IPC, parent -> server: {type:'config', snap}; server ->
 * parent: {type:'ready'}, {type:'counters', requests, malformed} once a
 * second when something changed, {type:'error'|'warn', message}, and
 * {type:'dns-forward', id, query, tcp} answered by {type:'dns-answer', id, answer}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { loadAddon } from '../io/native.js';
import { handleImds, TokenIssuer } from './imds.js';
import { buildNtpResponse, parseNtpRequest } from './ntp-codec.js';
import { DnsHook } from './dns-hook.js';
import { IMDS_ADDR, instanceByIp, TIME_SYNC_ADDR, type ServiceSnapshot } from './snapshot.js';

/** Service names as the metrics label them. */
export type ServiceName = 'imds' | 'time-sync' | 'dns';

export type ParentMessage =
  | { type: 'config'; snap: ServiceSnapshot }
  /** The answer to a forwarded DNS query (base64), or null. */
  | { type: 'dns-answer'; id: number; answer: string | null };
export type ServerMessage =
  | { type: 'ready' }
  | { type: 'counters'; requests: [ServiceName, string, number][]; malformed: Record<string, number>; dns: [string, string, number][] }
  | { type: 'error'; message: string }
  | { type: 'warn'; message: string }
  /** A DNS query for dns.upstreams, sent from the daemon's namespace (base64). */
  | { type: 'dns-forward'; id: number; query: string; tcp: boolean };

/** Forwarded DNS queries waiting for the parent at once, and how long one may wait. */
const MAX_FORWARDS = 1024, FORWARD_TIMEOUT_MS = 5_000;

/** The kernel's default TTL, put back on a kept-alive connection after a token response. */
const DEFAULT_TTL = 64;
/** Per connection: the IMDS server closes idle keep-alive connections after this long. */
const KEEPALIVE_MS = 5_000;
const MAX_HTTP_CONNECTIONS = 1024;

class ServiceServer {
  private snap: ServiceSnapshot | undefined;
  private readonly tokens = new TokenIssuer();
  private readonly started = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  /** Requests by service and instance name ('' = an address no ENI owns); bounded by services x instances + 1. */
  private readonly requests = new Map<string, number>();
  private readonly malformed: Record<string, number> = { ntp: 0, imds: 0 };
  private dirty = false;
  private readonly ttlRaised = new WeakSet<Socket>();
  private http = createServer({ keepAliveTimeout: KEEPALIVE_MS, requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (q, r) => this.imds(q, r));
  private ntp: UdpSocket | undefined;
  private readonly dns = new DnsHook((q, tcp) => this.forward(q, tcp), (who, outcome) => {
    this.countName('dns', who);
    // Outcomes are DnsOutcome's seven words, names the configuration's: bounded.
    const k = `${outcome}\0${who ?? ''}`;
    this.dnsOutcomes.set(k, (this.dnsOutcomes.get(k) ?? 0) + 1);
  });
  private readonly dnsOutcomes = new Map<string, number>();
  private readonly forwards = new Map<number, (answer: Buffer | null) => void>();
  private nextForward = 1;
  private readonly setIpTtl = loadAddon().setIpTtl;

  constructor(private readonly send: (m: ServerMessage) => void) {
    // Every ENI's connections together: the data plane's allowance bounds the packets, this the sockets.
    this.http.maxConnections = MAX_HTTP_CONNECTIONS;
    this.http.on('clientError', (_e, sock: Socket) => {
      this.malformed.imds++;
      this.dirty = true;
      sock.destroy();
    });
  }

  async configure(snap: ServiceSnapshot): Promise<void> {
    const first = this.snap === undefined;
    this.snap = snap;
    if (first) {
      await new Promise<void>((res, rej) => {
        this.http.once('error', rej);
        this.http.listen(80, IMDS_ADDR, () => res());
      });
      this.ntp = await bindUdp(TIME_SYNC_ADDR, 123, (m, r) => this.timeSync(m, r));
    }
    // A resolver that cannot start (its addresses taken, zones that do not compile) leaves metadata and time sync answering.
    try {
      await this.dns.configure(snap);
    } catch (e) {
      this.send({ type: 'error', message: `Amazon DNS: ${(e as Error).message}` });
    }
  }

  private count(service: ServiceName, ip: string): void {
    const inst = this.snap === undefined ? undefined : instanceByIp(this.snap, ip);
    this.countName(service, inst?.name);
  }

  private countName(service: ServiceName, name: string | undefined): void {
    // Names come from the configuration: the map holds at most services x instances + services keys.
    const key = `${service}\0${name ?? ''}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.dirty = true;
  }

  /** A query for dns.upstreams: the parent sends it (the namespace has no way out). */
  private forward(query: Buffer, tcp: boolean): Promise<Buffer | null> {
    if (this.forwards.size >= MAX_FORWARDS) return Promise.resolve(null);
    const id = this.nextForward;
    this.nextForward = (this.nextForward % 0x7fffffff) + 1;
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.forwards.delete(id);
        res(null);
      }, FORWARD_TIMEOUT_MS);
      this.forwards.set(id, (a) => {
        clearTimeout(t);
        this.forwards.delete(id);
        res(a);
      });
      this.send({ type: 'dns-forward', id, query: query.toString('base64'), tcp });
    });
  }

  /** The parent's answer to a forwarded query. */
  answered(id: number, answer: string | null): void {
    const done = this.forwards.get(id);
    if (done === undefined) return;
    done(typeof answer === 'string' ? Buffer.from(answer, 'base64') : null);
  }

  private imds(req: IncomingMessage, res: ServerResponse): void {
    const snap = this.snap!;
    const ip = req.socket.remoteAddress ?? '';
    this.count('imds', ip);
    const r = handleImds({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers },
      { snap, inst: instanceByIp(snap, ip), tokens: this.tokens, nowMs: Date.now(), startedIso: this.started });
    // The token response's packets carry the hop limit as their IP TTL: a client one router behind the instance never sees them.
    const want = r.hopLimit ?? DEFAULT_TTL;
    if (r.hopLimit !== undefined || this.ttlRaised.has(req.socket)) {
      const fd = (req.socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd === 'number' && fd >= 0 && this.setIpTtl(fd, want) === 0) {
        if (r.hopLimit !== undefined) this.ttlRaised.add(req.socket);
        else this.ttlRaised.delete(req.socket);
      } else if (r.hopLimit !== undefined) {
        // Without the hop limit the token must not go out (it would reach clients AWS keeps it from).
        res.writeHead(500, { 'content-type': 'text/plain' }).end('500 - Internal Server Error');
        this.send({ type: 'error', message: 'cannot set IP_TTL on the metadata connection' });
        return;
      }
    }
    res.writeHead(r.status, { ...r.headers, server: 'EC2ws', 'content-length': Buffer.byteLength(r.body) });
    res.end(req.method === 'HEAD' ? undefined : r.body);
  }

  private timeSync(msg: Buffer, from: RemoteInfo): void {
    const rx = Date.now();
    const q = parseNtpRequest(msg);
    if (typeof q === 'string') {
      this.malformed.ntp++;
      this.dirty = true;
      return;
    }
    this.count('time-sync', from.address);
    const out = buildNtpResponse(q, rx, Date.now(), { stratum: 1, refId: 'AMZN' });
    this.ntp?.send(out, from.port, from.address);
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const requests: [ServiceName, string, number][] = [];
    for (const [k, n] of this.requests) {
      const z = k.indexOf('\0');
      requests.push([k.slice(0, z) as ServiceName, k.slice(z + 1), n]);
    }
    const dns: [string, string, number][] = [];
    for (const [k, n] of this.dnsOutcomes) {
      const z = k.indexOf('\0');
      dns.push([k.slice(0, z), k.slice(z + 1), n]);
    }
    this.send({ type: 'counters', requests, malformed: { ...this.malformed }, dns });
  }

  async close(): Promise<void> {
    this.ntp?.close();
    await this.dns.close();
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

function bindUdp(addr: string, port: number, onMessage: (m: Buffer, r: RemoteInfo) => void): Promise<UdpSocket> {
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    s.once('error', rej);
    s.on('message', onMessage);
    s.bind(port, addr, () => {
      s.off('error', rej);
      s.on('error', () => { /* a send to an unreachable client: nothing to do */ });
      res(s);
    });
  });
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('vpcd service server: start it from vpcd (it needs the IPC channel)\n');
    process.exit(2);
  }
  const send = (m: ServerMessage): void => {
    if (process.connected) process.send!(m);
  };
  const server = new ServiceServer(send);
  let ready = false;
  let chain: Promise<void> = Promise.resolve();
  process.on('message', (m: ParentMessage) => {
    if (m === null || typeof m !== 'object') return;
    if (m.type === 'dns-answer') {
      server.answered(m.id, m.answer);
      return;
    }
    if (m.type !== 'config') return;
    chain = chain.then(() => server.configure(m.snap)).then(
      () => {
        if (!ready) send({ type: 'ready' });
        ready = true;
      },
      (e: unknown) => {
        send({ type: 'error', message: (e as Error).message });
        // A server that cannot listen is of no use: the parent restarts it.
        if (!ready) process.exit(1);
      },
    );
  });
  const tick = setInterval(() => server.flush(), 1000);
  // The parent gone (crash or stop): nothing is left to answer for.
  process.on('disconnect', () => {
    clearInterval(tick);
    void server.close().finally(() => process.exit(0));
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
