/**
 * `vpcd conntrack list CONFIG [--instance X] [--limit N] [--json]` and
 * `vpcd conntrack flush CONFIG [--instance X]`: the running daemon's tracked
 * flows (with the NAT gateway translation of each), through its control
 * socket; flush removes them (and the NAT gateway sessions of the instance).
 *
 * Exit status: 0 done, 1 bad arguments, configuration or instance, 2 no
 * daemon answers on the control socket.
 */
import type { ConntrackEntry, ControlReply } from '../daemon/control-wire.js';
import { MAX_LIST_ENTRIES } from '../daemon/control-wire.js';
import { flag, type Out, parseCommandArgs, str, UsageError, usageFailure, wantsHelp } from './args.js';
import { ask, ControlConnectError, loadForControl } from './control-client.js';

export const CONNTRACK_HELP = `usage: vpcd conntrack list CONFIG [--instance X] [--limit N] [--json]
       vpcd conntrack flush CONFIG [--instance X]

list: the running daemon's tracked flows: instance, protocol, addresses and
ports, state, seconds left before the entry idles out, whether each ENI tracks
the flow (or why not), packets, bytes, and the NAT gateway translation if any.
flush: removes the tracked flows (of one instance with --instance) and the NAT
gateway sessions its address opened; their next packets are judged afresh.

  --instance X      only this instance's flows
  --limit N         list at most N entries (default and maximum ${MAX_LIST_ENTRIES})
  --json            list as one JSON document
  -h, --help        this text

Exit status: 0 done, 1 bad arguments, configuration or instance, 2 no daemon
answers on the control socket.`;

const OPTIONS = { instance: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } } as const;

export interface ConntrackArgs {
  readonly action: 'list' | 'flush';
  readonly config: string;
  readonly instance?: string;
  readonly limit: number;
  readonly json: boolean;
}

export function parseConntrackArgs(argv: readonly string[]): ConntrackArgs | 'help' {
  if (wantsHelp(argv)) return 'help';
  const p = parseCommandArgs(argv, OPTIONS);
  const [action, ...rest] = p.positionals;
  if (action === undefined) throw new UsageError('list or flush expected');
  if (action !== 'list' && action !== 'flush') throw new UsageError(`unknown action '${action}': list or flush`);
  if (rest.length === 0) throw new UsageError('no configuration file given');
  if (rest.length > 1) throw new UsageError(`one configuration file expected, got ${rest.map((x) => `'${x}'`).join(' ')}`);
  const l = str(p, 'limit');
  if (l !== undefined && action !== 'list') throw new UsageError('--limit applies to list only');
  if (flag(p, 'json') && action !== 'list') throw new UsageError('--json applies to list only');
  if (l !== undefined && (!/^[0-9]+$/.test(l) || Number(l) < 1 || Number(l) > MAX_LIST_ENTRIES)) {
    throw new UsageError(`--limit must be an integer 1-${MAX_LIST_ENTRIES}, not '${l}'`);
  }
  const instance = str(p, 'instance');
  return { action, config: rest[0]!, ...(instance !== undefined ? { instance } : {}), limit: l !== undefined ? Number(l) : MAX_LIST_ENTRIES, json: flag(p, 'json') };
}

function endpoint(a: string, p: number | null): string {
  return p === null ? a : `${a}:${p}`;
}

/** The list as a table. */
export function formatConntrack(entries: readonly ConntrackEntry[], total: number): string {
  const rows = [['INSTANCE', 'PROTO', 'SOURCE', 'DESTINATION', 'STATE', 'IDLE LEFT', 'PACKETS', 'BYTES', 'NAT', 'TRACKING']];
  for (const e of entries) {
    rows.push([e.instance ?? '-', String(e.proto), endpoint(e.src, e.sport), endpoint(e.dst, e.dport), e.state, `${e.idleSecondsLeft}s`,
      String(e.packets), String(e.bytes), e.nat ? `${e.nat.gateway} ${endpoint(e.nat.publicIp ?? e.nat.src, e.nat.sport)}` : '-', e.tracking]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd());
  lines.push(entries.length < total ? `${entries.length} of ${total} entries shown (--limit)` : `${total} entr${total === 1 ? 'y' : 'ies'}`);
  return lines.join('\n');
}

export async function runConntrack(argv: string[], out: Out): Promise<number> {
  let args: ConntrackArgs | 'help';
  try {
    args = parseConntrackArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('conntrack', e, out);
    throw e;
  }
  if (args === 'help') {
    out.stdout(CONNTRACK_HELP);
    return 0;
  }
  const cfg = loadForControl('conntrack', args.config, out);
  if (typeof cfg === 'number') return cfg;
  if (args.instance !== undefined && !cfg.instances.has(args.instance)) {
    out.stderr(`vpcd conntrack: --instance '${args.instance}' is not an instance of ${args.config}`);
    return 1;
  }
  let reply: ControlReply;
  try {
    reply = await ask(cfg.control.socket, args.action === 'list'
      ? { op: 'conntrack-list', ...(args.instance !== undefined ? { instance: args.instance } : {}), limit: args.limit }
      : { op: 'conntrack-flush', ...(args.instance !== undefined ? { instance: args.instance } : {}) });
  } catch (e) {
    out.stderr(`vpcd conntrack: ${(e as Error).message}`);
    return e instanceof ControlConnectError ? 2 : 2;
  }
  if (!reply.ok) {
    out.stderr(`vpcd conntrack: ${reply.error}`);
    return 1;
  }
  if (reply.op === 'conntrack-list') {
    out.stdout(args.json ? JSON.stringify({ entries: reply.entries, total: reply.total, truncated: reply.truncated }, null, 2) : formatConntrack(reply.entries, reply.total));
    return 0;
  }
  if (reply.op === 'conntrack-flush') {
    out.stdout(`${reply.flushed} entr${reply.flushed === 1 ? 'y' : 'ies'} removed`);
    return 0;
  }
  out.stderr('vpcd conntrack: unexpected reply from the daemon');
  return 2;
}
