/**
 * `vpcd run CONFIG [--log-level L] [--log-format auto|json|pretty]`: the
 * data plane in the foreground. Logs go to stdout: JSON lines (pino) when
 * stdout is not a terminal, readable lines (log-pretty.ts) when it is.
 * SIGHUP reloads CONFIG; SIGTERM/SIGINT stop cleanly (exit 0).
 */
import pino, { type Level } from 'pino';
import { ConfigError } from '../control/config-types.js';
import { type Out, parseCommandArgs, str, UsageError, usageFailure, wantsHelp } from './args.js';
import { chooseLogFormat, prettyStream } from './log-pretty.js';

export const RUN_HELP = `usage: vpcd run CONFIG [--log-level LEVEL] [--log-format auto|json|pretty]

Runs the data plane for CONFIG in the foreground (root, or CAP_NET_RAW,
CAP_NET_ADMIN and CAP_SYS_ADMIN). SIGHUP reloads CONFIG, SIGUSR1 reopens the
flow-log file, SIGTERM or SIGINT stop cleanly.

  --log-level L    trace, debug, info (default), warn, error, fatal or silent
                   (also the VPCD_LOG_LEVEL environment variable)
  --log-format F   auto (default): readable lines on a terminal, JSON lines
                   otherwise; json or pretty to choose
  -h, --help       this text

Exit status: 0 stopped by a signal, 1 invalid configuration or arguments,
2 runtime failure (an interface or namespace missing, permission denied).`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export interface RunArgs {
  readonly config: string;
  readonly level: LogLevel;
  readonly format: 'auto' | 'json' | 'pretty';
}

export function parseRunArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RunArgs {
  const p = parseCommandArgs(argv, { 'log-level': { type: 'string' }, 'log-format': { type: 'string' } });
  if (p.positionals.length !== 1) {
    throw new UsageError(p.positionals.length === 0 ? 'no configuration file given' : `one configuration file expected, got ${p.positionals.length}`);
  }
  const level = str(p, 'log-level') ?? env.VPCD_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not '${level}'`);
  }
  const format = str(p, 'log-format') ?? 'auto';
  if (format !== 'auto' && format !== 'json' && format !== 'pretty') {
    throw new UsageError(`--log-format must be auto, json or pretty, not '${format}'`);
  }
  return { config: p.positionals[0]!, level: level as LogLevel, format };
}

/** The daemon's logger for these arguments, writing to stdout. */
export function makeLogger(args: RunArgs, isTty: boolean): pino.Logger {
  const opts = { base: { svc: 'vpcd' }, timestamp: pino.stdTimeFunctions.isoTime, level: args.level as Level | 'silent' };
  if (chooseLogFormat(args.format, isTty) === 'json') return pino(opts);
  const colour = isTty && process.env.NO_COLOR === undefined;
  return pino(opts, prettyStream((s) => process.stdout.write(s), { colour }));
}

export async function runDaemon(argv: string[], out: Out): Promise<number> {
  if (wantsHelp(argv)) {
    out.stdout(RUN_HELP);
    return 0;
  }
  let args: RunArgs;
  try {
    args = parseRunArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('run', e, out);
    throw e;
  }
  const log = makeLogger(args, process.stdout.isTTY === true);
  const { Daemon } = await import('../daemon.js');
  let d: InstanceType<typeof Daemon>;
  try {
    d = new Daemon(args.config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      out.stderr(e.message);
      return 1;
    }
    out.stderr(`vpcd: ${(e as Error).message}`);
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 1 : 2;
  }
  try {
    await d.start();
  } catch (e) {
    out.stderr(`vpcd: ${(e as Error).message}`);
    return 2;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      // A repeated signal (a process group receiving it twice, an impatient Ctrl-C) must not cut the clean stop short.
      if (stopping) {
        log.info({ event: 'signal', signal: sig }, 'already stopping');
        return;
      }
      stopping = true;
      log.info({ event: 'signal', signal: sig }, 'stopping');
      d.stop().then(() => resolve(0), () => resolve(2));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      log.info({ event: 'signal', signal: 'SIGHUP' }, 'reloading');
      d.reload();
    });
  });
}
