/**
 * The Amazon DNS server (Route 53 Resolver) an instance reaches at the VPC
 * base+2 and 169.254.169.253: kernel UDP and TCP sockets on the given
 * addresses, each query passed to answer() with the client's address.
 *
 * - Every client has a token bucket of `perEniLimitPps` packets per second
 *   (default 1024, AWS's per-ENI limit to the Resolver), keyed by its IPv4
 *   address in a bounded table hashed with a per-process seed
 *   (lib/rate-limiter.ts); a query past it is dropped, as AWS does, and
 *   reported `rate_limited`. Non-IPv4 clients share one bucket.
 * - UDP: at most `maxPending` queries being answered at once; more are
 *   dropped and counted (`stats.overloaded`).
 * - TCP: length-framed messages, several per connection, answered as they
 *   complete (RFC 7766 pipelining) with at most `tcpPipeline` in progress per
 *   connection (reading pauses beyond); at most `maxTcpConnections` (a new
 *   one beyond is closed at once, counted); a connection idle for
 *   `tcpIdleMs` is closed (counted). Bounds in DnsServiceLimits.
 * - setConfig() compiles the new options first: a bad configuration throws
 *   and the running one stays, whole.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { parseIpv4 } from '../../control/cidr.js';
import { RateLimiter } from '../../lib/rate-limiter.js';
import { answer, catalogOf } from './answer.js';
import { frame, FrameReader } from './framing.js';
import type { DnsServiceOptions } from './options.js';

export { answer } from './answer.js';
export type { DnsOutcome, DnsServiceOptions, PrivateZone } from './options.js';

export const DEFAULT_PER_ENI_PPS = 1024;
const LIMITER_CAPACITY = 4096;
/** Port 0: free UDP ports tried for one whose TCP twin is free too. */
const PORT_ATTEMPTS = 8;

/** The service's own bounds (the defaults suit a VPC; tests use small ones). */
export interface DnsServiceLimits {
  /** UDP queries being answered at once (default 4096). */
  readonly maxPending: number;
  /** Open TCP connections (default 256). */
  readonly maxTcpConnections: number;
  /** Queries in progress per TCP connection before reading pauses (default 16). */
  readonly tcpPipeline: number;
  /** A TCP connection with nothing in progress is closed after this long without traffic (default 10 s, RFC 7766 6.2.3). */
  readonly tcpIdleMs: number;
}

export const DEFAULT_LIMITS: DnsServiceLimits = { maxPending: 4096, maxTcpConnections: 256, tcpPipeline: 16, tcpIdleMs: 10_000 };
/** The bucket of every client whose address is not IPv4. */
const NON_IPV4_KEY = 0xffffffff;

export interface DnsServiceStats {
  /** UDP queries dropped because `maxPending` were in progress. */
  overloaded: number;
  /** TCP connections closed at once because `maxTcpConnections` were open. */
  tcpRejected: number;
  /** TCP connections closed for idleness. */
  tcpIdleClosed: number;
}

/** An address and port the service listens on, per transport. */
export interface BoundAddress {
  readonly transport: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
}

export class DnsService {
  private opts: DnsServiceOptions;
  private limiter: RateLimiter;
  private udp: UdpSocket[] = [];
  private tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private pending = 0;
  readonly stats: DnsServiceStats = { overloaded: 0, tcpRejected: 0, tcpIdleClosed: 0 };

  private readonly limits: DnsServiceLimits;

  constructor(opts: DnsServiceOptions, limits: Partial<DnsServiceLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    catalogOf(opts);
    this.opts = opts;
    this.limiter = newLimiter(opts);
  }

  /** Replaces the options, all or nothing: throws (keeping the old ones) when the new ones do not compile. */
  setConfig(opts: DnsServiceOptions): void {
    catalogOf(opts);
    const limiter = pps(opts) === pps(this.opts) ? this.limiter : newLimiter(opts);
    this.opts = opts;
    this.limiter = limiter;
  }

  /**
   * UDP and TCP on each address (default port 53). Port 0: a free port,
   * the same for UDP and TCP on one address (as a client retrying over TCP
   * expects). On failure nothing stays open.
   */
  async listen(addresses: string[], port = 53): Promise<void> {
    try {
      for (const address of addresses) {
        for (let attempt = 1; ; attempt++) {
          const udp = await this.listenUdp(address, port);
          try {
            this.tcp.push(await this.listenTcp(address, udp.address().port));
            this.udp.push(udp);
            break;
          } catch (e) {
            await new Promise<void>((res) => udp.close(() => res()));
            // A free UDP port whose TCP twin is taken: with port 0, try another (a few times).
            if (port !== 0 || attempt >= PORT_ATTEMPTS || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
          }
        }
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Where the service listens (with the ports the system chose for port 0). */
  boundAddresses(): BoundAddress[] {
    const out: BoundAddress[] = [];
    for (const s of this.udp) out.push({ transport: 'udp', address: s.address().address, port: s.address().port });
    for (const s of this.tcp) {
      const a = s.address();
      if (a !== null && typeof a === 'object') out.push({ transport: 'tcp', address: a.address, port: a.port });
    }
    return out;
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = [];
    this.tcp = [];
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await Promise.all([
      ...udp.map((s) => new Promise<void>((res) => s.close(() => res()))),
      ...tcp.map((s) => new Promise<void>((res) => s.close(() => res()))),
    ]);
  }

  /** One packet from `ip`: false when its bucket is empty (reported, to be dropped). */
  private admit(ip: string): boolean {
    const key = parseIpv4(ip) ?? NON_IPV4_KEY;
    if (this.limiter.allow(key, performance.now())) return true;
    const opts = this.opts;
    let who: string | undefined;
    try {
      who = opts.identify(ip);
      opts.onQuery?.(who, 'rate_limited');
    } catch {
      // The metrics hook cannot make the drop fail.
    }
    return false;
  }

  private listenUdp(address: string, port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
      sock.once('error', reject);
      sock.on('message', (msg, rinfo) => this.onUdp(sock, msg, rinfo.address, rinfo.port));
      sock.bind(port, address, () => {
        sock.off('error', reject);
        // A send error to one client (ICMP unreachable, ...) must not stop the service.
        sock.on('error', () => undefined);
        resolve(sock);
      });
    });
  }

  private onUdp(sock: UdpSocket, msg: Buffer, ip: string, port: number): void {
    if (!this.admit(ip)) return;
    if (this.pending >= this.limits.maxPending) {
      this.stats.overloaded++;
      return;
    }
    this.pending++;
    answer(msg, ip, this.opts, 'udp')
      .then((resp) => {
        if (resp !== null) sock.send(resp, port, ip, () => undefined);
      }, () => undefined)
      .finally(() => {
        this.pending--;
      });
  }

  private listenTcp(address: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((c) => this.onTcp(c));
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        resolve(server);
      });
    });
  }

  private onTcp(c: Socket): void {
    if (this.conns.size >= this.limits.maxTcpConnections) {
      this.stats.tcpRejected++;
      c.destroy();
      return;
    }
    this.conns.add(c);
    const ip = c.remoteAddress ?? '';
    const reader = new FrameReader();
    const pipeline = this.limits.tcpPipeline;
    // Queries read but not started: reading pauses while any wait, so this
    // holds at most the messages of one chunk.
    const waiting: Buffer[] = [];
    let inProgress = 0;
    const start = (msg: Buffer): void => {
      inProgress++;
      answer(msg, ip, this.opts, 'tcp')
        .then((resp) => {
          if (resp !== null && !c.destroyed) c.write(frame(resp));
        }, () => undefined)
        .finally(() => {
          inProgress--;
          const next = waiting.shift();
          if (next !== undefined && !c.destroyed) start(next);
          else if (waiting.length === 0 && c.isPaused() && !c.destroyed) c.resume();
        });
    };
    c.setTimeout(this.limits.tcpIdleMs, () => {
      if (inProgress > 0) return;
      this.stats.tcpIdleClosed++;
      c.destroy();
    });
    c.on('error', () => undefined);
    c.on('close', () => {
      this.conns.delete(c);
      waiting.length = 0;
    });
    c.on('data', (chunk: Buffer) => {
      for (const msg of reader.push(chunk)) {
        if (!this.admit(ip)) continue;
        if (inProgress < pipeline) start(msg);
        else waiting.push(msg);
      }
      if (waiting.length > 0) c.pause();
    });
  }
}

function pps(opts: DnsServiceOptions): number {
  return opts.perEniLimitPps ?? DEFAULT_PER_ENI_PPS;
}

function newLimiter(opts: DnsServiceOptions): RateLimiter {
  const rate = pps(opts);
  if (!(rate >= 1)) throw new Error(`dns: perEniLimitPps must be >= 1, got ${rate}`);
  return new RateLimiter({ capacity: LIMITER_CAPACITY, ratePerSec: rate, burst: rate });
}
