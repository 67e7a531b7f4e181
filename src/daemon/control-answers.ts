/**
 * The control socket's one-shot requests against the running daemon:
 * `conntrack-list`, `conntrack-flush`, `ping` (control-wire.ts). Runs on
 * the main thread between batches.
 */
import { performance } from 'node:perf_hooks';
import type { CompiledPolicy } from '../control/compile.js';
import type { VpcConfig } from '../control/config-types.js';
import { parseIpv4 } from '../control/cidr.js';
import type { Conntrack } from '../conntrack/conntrack.js';
import type { Dataplane } from '../pipeline/dataplane.js';
import { version } from '../cli/version.js';
import { flushConntrack, listConntrack } from './conntrack-view.js';
import type { ControlReply, ControlRequest } from './control-wire.js';

export interface AnswerSource {
  readonly config: VpcConfig;
  readonly policy: CompiledPolicy;
  readonly ct: Conntrack;
  readonly dp: Dataplane;
}

export class ControlAnswers {
  constructor(private readonly d: AnswerSource) {}

  /** Throws with a message for the user (an unknown instance). */
  answer(req: Exclude<ControlRequest, { op: 'observe' }>): ControlReply {
    const d = this.d;
    const view = { ct: d.ct, nats: d.dp.nats, instanceNames: d.policy.instanceNames };
    switch (req.op) {
      case 'ping':
        return { ok: true, op: 'ping', vpc: d.config.vpc.name, version: version() };
      case 'conntrack-list': {
        const { entries, total } = listConntrack(view, performance.now(), req.instance, req.limit);
        return { ok: true, op: 'conntrack-list', entries, total, truncated: total > entries.length };
      }
      case 'conntrack-flush': {
        const ip = req.instance !== undefined ? d.config.instances.get(req.instance)?.ip : undefined;
        const flushed = flushConntrack(view, req.instance, ip !== undefined ? parseIpv4(ip) : undefined);
        return { ok: true, op: 'conntrack-flush', flushed };
      }
    }
  }
}
