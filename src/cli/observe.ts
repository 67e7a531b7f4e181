/**
 * `vpcd observe CONFIG [--instance X] [--subnet S] [--verdict ACCEPT|REJECT]
 *  [--proto P] [--port N] [--cidr C] [--reason R] [--json]`
 *
 * Streams the running daemon's events through its control socket: new flows
 * accepted or refused (with the stage, rule and explanation code that
 * decided, as `vpcd explain` names them), drops with their reason, NAT
 * translations (both address pairs), flow ends (packets, bytes), and `lost`
 * notices when events were dropped for this reader. The daemon applies the
 * filters. A table on a terminal; JSON lines otherwise or with --json.
 * Ctrl-C or a closed pipe ends it cleanly (exit 0).
 *
 * Exit status: 0 ended by the reader, 1 bad arguments or configuration or a
 * filter the daemon refused, 2 no daemon to talk to or the daemon went away.
 */
import type { ObserveEvent, LostNotice } from '../observe/event-decode.js';
import { FilterError, parseProtoFilter, type FilterSpec } from '../observe/event-filter.js';
import type { ControlReply } from '../daemon/control-wire.js';
import { flag, type Out, parseCommandArgs, str, UsageError, usageFailure, wantsHelp } from './args.js';
import { ControlClient, ControlConnectError, loadForControl } from './control-client.js';

export const OBSERVE_HELP = `usage: vpcd observe CONFIG [--instance X] [--subnet S] [--verdict ACCEPT|REJECT]
                    [--proto tcp|udp|icmp|N] [--port N] [--cidr C] [--reason R] [--json]

Streams what the running daemon (started with the same CONFIG) does with
packets: new flows accepted or refused with the stage, rule and explanation
code that decided (the words of 'vpcd explain'), drops with their reason, NAT
translations with both address pairs, flow ends with packets and bytes.

  --instance X      events of this instance (its ENI, or its addresses)
  --subnet S        events with an address in this subnet
  --verdict V       ACCEPT or REJECT
  --proto P         tcp, udp, icmp or a protocol number 0-255
  --port N          events with this port (source or destination, either side of NAT)
  --cidr C          events with an address in this IPv4 CIDR
  --reason R        a drop reason (sg, nacl, no_route, ...) or an explanation
                    code (SUBNET_ACL_RESTRICTION, ...)
  --json            JSON lines (the default when standard output is not a terminal)
  -h, --help        this text

The daemon applies the filters. A reader that falls behind loses events; a
'lost' line (JSON) or row (table) says how many. Ctrl-C ends it.

Exit status: 0 ended (Ctrl-C, closed pipe), 1 bad arguments, configuration or
filter, 2 no daemon answers on the control socket, or it went away.`;

const OPTIONS = {
  instance: { type: 'string' }, subnet: { type: 'string' }, verdict: { type: 'string' }, proto: { type: 'string' },
  port: { type: 'string' }, cidr: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' },
} as const;

export interface ObserveArgs {
  readonly config: string;
  readonly filter: FilterSpec;
  readonly json: boolean;
}

export function parseObserveArgs(argv: readonly string[]): ObserveArgs | 'help' {
  if (wantsHelp(argv)) return 'help';
  const p = parseCommandArgs(argv, OPTIONS);
  if (p.positionals.length === 0) throw new UsageError('no configuration file given');
  if (p.positionals.length > 1) throw new UsageError(`one configuration file expected, got ${p.positionals.map((x) => `'${x}'`).join(' ')}`);
  const filter: Record<string, string | number> = {};
  for (const k of ['instance', 'subnet', 'cidr', 'reason'] as const) {
    const v = str(p, k);
    if (v !== undefined) filter[k] = v;
  }
  const verdict = str(p, 'verdict');
  if (verdict !== undefined) {
    const v = verdict.toUpperCase();
    if (v !== 'ACCEPT' && v !== 'REJECT') throw new UsageError(`--verdict must be ACCEPT or REJECT, not '${verdict}'`);
    filter.verdict = v;
  }
  const proto = str(p, 'proto');
  if (proto !== undefined) {
    try {
      filter.proto = parseProtoFilter(proto);
    } catch (e) {
      throw new UsageError((e as FilterError).message);
    }
  }
  const port = str(p, 'port');
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) throw new UsageError(`--port must be an integer 0-65535, not '${port}'`);
    filter.port = Number(port);
  }
  return { config: p.positionals[0]!, filter: filter as FilterSpec, json: flag(p, 'json') };
}

const COLUMNS: readonly [string, number][] = [
  ['TIME', 12], ['TYPE', 4], ['VERDICT', 7], ['INSTANCE', 10], ['PROTO', 5], ['SOURCE', 36], ['DESTINATION', 21],
  ['STAGE', 13], ['BY', 16], ['CODE / REASON', 0],
];

function row(cells: readonly string[]): string {
  return cells.map((c, i) => {
    const w = COLUMNS[i]![1];
    return w === 0 ? c : c.length > w ? `${c.slice(0, w - 1)}… ` : c.padEnd(w + 1);
  }).join('').trimEnd();
}

export const TABLE_HEADER = row(COLUMNS.map((c) => c[0]));

function endpoint(a: string | null | undefined, p: number | null | undefined): string {
  return `${a ?? '-'}${p !== null && p !== undefined ? `:${p}` : ''}`;
}

/** One event as a table row. */
export function formatEventRow(e: ObserveEvent | LostNotice): string {
  if (e.type === 'lost') return `${e.time.slice(11, 23)} ${e.lost} events lost (${e.where === 'ring' ? 'the daemon\'s event ring was full' : 'this reader fell behind'})`;
  const by = e.by === null ? '' : 'nacl' in e.by ? `${e.by.nacl} #${e.by.rule}` : 'group' in e.by ? `${e.by.group}[${e.by.rule}]` : 'implicit deny';
  let src = endpoint(e.src, e.sport);
  let dst = endpoint(e.dst, e.dport);
  if (e.type === 'nat') {
    if (e.xsrc !== e.src || e.xsport !== e.sport) src = `${src}→${endpoint(e.xsrc, e.xsport)}`;
    if (e.xdst !== e.dst || e.xdport !== e.dport) dst = `${dst}→${endpoint(e.xdst, e.xdport)}`;
  }
  const tail = [e.code, e.reason, e.type === 'end' ? `${e.packets} pkts ${e.bytes} B` : undefined, e.natGateway].filter((x) => x !== null && x !== undefined).join(' ');
  return row([e.time.slice(11, 23), e.type, e.verdict, e.instance ?? '-', String(e.proto), src, dst, e.stage ?? '-', by, tail]);
}

export interface ObserveIo {
  /** Whether standard output is a terminal (table by default). */
  readonly isTTY: boolean;
  /** Resolves when the reader wants to stop (Ctrl-C, a closed pipe). */
  readonly stopped: Promise<void>;
}

function processIo(): ObserveIo {
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') resolve();
    });
  });
  return { isTTY: process.stdout.isTTY === true, stopped };
}

export async function runObserve(argv: string[], out: Out, io: ObserveIo = processIo()): Promise<number> {
  let args: ObserveArgs | 'help';
  try {
    args = parseObserveArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('observe', e, out);
    throw e;
  }
  if (args === 'help') {
    out.stdout(OBSERVE_HELP);
    return 0;
  }
  const cfg = loadForControl('observe', args.config, out);
  if (typeof cfg === 'number') return cfg;
  const table = !args.json && io.isTTY;
  let client: ControlClient;
  try {
    client = await ControlClient.connect(cfg.control.socket, { op: 'observe', filter: args.filter });
  } catch (e) {
    out.stderr(`vpcd observe: ${(e as Error).message}`);
    return e instanceof ControlConnectError ? 2 : 2;
  }
  let status: number | undefined;
  let first = true;
  const reading = client.read((line) => {
    if (status !== undefined) return;
    if (first) {
      first = false;
      let reply: ControlReply;
      try {
        reply = JSON.parse(line) as ControlReply;
      } catch {
        status = 2;
        out.stderr('vpcd observe: the daemon answered something that is not JSON');
        client.close();
        return;
      }
      if (!reply.ok) {
        status = 1;
        out.stderr(`vpcd observe: ${reply.error}`);
        client.close();
        return;
      }
      if (table) out.stdout(TABLE_HEADER);
      return;
    }
    if (!table) {
      out.stdout(line);
      return;
    }
    try {
      out.stdout(formatEventRow(JSON.parse(line) as ObserveEvent | LostNotice));
    } catch {
      out.stdout(line);
    }
  }).then(() => 'closed' as const, (e: unknown) => e as Error);
  const r = await Promise.race([reading, io.stopped.then(() => 'stopped' as const)]);
  client.close();
  if (status !== undefined) return status;
  if (r === 'stopped') return 0;
  out.stderr(`vpcd observe: the daemon closed the connection${r instanceof Error ? `: ${r.message}` : ''}`);
  return 2;
}
