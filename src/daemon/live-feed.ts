/**
 * Main-thread side of the live page (live-http.ts runs in the watchdog
 * thread): answers its questions (topology, stats) and, while at least one
 * /live/events stream is open, subscribes to the event hub (the same source
 * as `vpcd observe`) and posts each batch's lines to the thread in one
 * message.
 */
import type { VpcConfig } from '../control/config-types.js';
import type { CompiledPolicy } from '../control/compile.js';
import type { SecurityStage } from '../conntrack/sg-stage.js';
import type { Counters } from '../pipeline/counters.js';
import type { ObserveHub, Subscription } from '../observe/observe-hub.js';
import type { FaultGuard } from './guard.js';
import type { LiveFromWorker } from './live-http.js';
import { liveStats, liveTopology } from './live-data.js';
import type { Watchdog } from './watchdog.js';

export interface LiveSource {
  readonly config: VpcConfig;
  readonly policy: CompiledPolicy;
  readonly security: SecurityStage;
  readonly counters: Counters;
}

/** Lines posted to the thread per batch, at most (the rest count as lost there). */
const MAX_LINES_PER_POST = 1024;

export class LiveFeed {
  private sub: Subscription | undefined;
  private buffer: string[] = [];

  constructor(private readonly wd: Watchdog, private readonly hub: ObserveHub, private readonly src: LiveSource, private readonly guard: FaultGuard) {}

  start(): void {
    this.wd.onLive = (m) => this.guard.run('live', () => this.onMessage(m));
  }

  stop(): void {
    this.wd.onLive = undefined;
    this.sub?.close();
    this.sub = undefined;
  }

  private onMessage(m: LiveFromWorker): void {
    if (m.t === 'live-clients') {
      if (m.n > 0 && this.sub === undefined) {
        try {
          this.sub = this.hub.subscribe(null, {
            write: (line) => {
              if (this.buffer.length < MAX_LINES_PER_POST) this.buffer.push(line);
              return true;
            },
            flush: () => {
              if (this.buffer.length === 0) return;
              const lines = this.buffer;
              this.buffer = [];
              this.wd.postLive({ t: 'live-events', lines });
            },
          });
        } catch (e) {
          this.guard.fail('live', e);
        }
      } else if (m.n === 0 && this.sub !== undefined) {
        this.sub.close();
        this.sub = undefined;
      }
      return;
    }
    let body: string;
    let ok = true;
    try {
      body = JSON.stringify(m.what === 'topology' ? liveTopology(this.src.config) : liveStats(this.src.policy, this.src.security, this.src.counters));
    } catch (e) {
      ok = false;
      body = `${(e as Error).message}\n`;
      this.guard.fail('live', e);
    }
    this.wd.postLive({ t: 'live-answer', req: m.req, ok, body });
  }
}
