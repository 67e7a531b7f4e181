/**
 * `vpcd` command dispatch. Exit codes (interfaces.md): 0 success, 1 invalid
 * input (config, arguments), 2 runtime failure with a one-line reason on stderr.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ConfigError } from '../control/config-types.js';

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

const stdio: Out = {
  stdout: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  stderr: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

const USAGE = `usage:
  vpcd run CONFIG                      run the data plane (root)
  vpcd check CONFIG                    validate a configuration
  vpcd explain CONFIG --src X --dst Y --proto P [--sport N] [--dport N]
               [--icmp-type T --icmp-code C] [--nat-port N] [--from NAME] [--json]
                                       evaluate one flow and its reply, stage by stage
  vpcd lab up|down CONFIG              create / remove the namespace test bed (root)
  vpcd version                         print the version`;

export function version(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], out: Out = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
      out.stdout(`vpcd ${version()}`);
      return 0;
    case 'check': {
      const { runCheck } = await import('./check.js');
      return runCheck(rest, out);
    }
    case 'explain': {
      const { runExplain } = await import('./explain.js');
      return runExplain(rest, out);
    }
    case 'lab': {
      const { runLab } = await import('../lab/lab.js');
      return runLab(rest, out);
    }
    case 'run':
      return run(rest, out);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out.stdout(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      out.stderr(`vpcd: unknown command '${cmd}'\n${USAGE}`);
      return 1;
  }
}

async function run(args: string[], out: Out): Promise<number> {
  if (args.length !== 1 || args[0]!.startsWith('-')) {
    out.stderr('usage: vpcd run CONFIG');
    return 1;
  }
  const log = pino({ base: { svc: 'vpcd' }, timestamp: pino.stdTimeFunctions.isoTime });
  const { Daemon } = await import('../daemon.js');
  let d: InstanceType<typeof Daemon>;
  try {
    d = new Daemon(args[0]!, log);
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
