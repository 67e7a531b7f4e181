/**
 * `vpcd` command dispatch. Exit codes (interfaces.md): 0 success, 1 invalid
 * input (config, arguments), 2 runtime failure with a one-line reason on stderr.
 *
 * Conventions every command follows (docs/cli.md): arguments parsed with
 * node:util parseArgs (src/cli/args.ts); `--help`/`-h` prints the command's
 * help on stdout and exits 0; an unknown option exits 1 with a suggestion and
 * a pointer to `--help`. `vpcd` alone prints the overview on stdout and exits 0.
 */
import { hint } from '../control/config-issues.js';
import type { Out } from './args.js';
import { version } from './version.js';

export type { Out } from './args.js';

const stdio: Out = {
  stdout: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  stderr: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

export const OVERVIEW = `usage: vpcd COMMAND [ARGS...]

commands:
  run CONFIG                       run the data plane (root)
  check [--json] CONFIG...         validate configurations (- reads stdin)
  explain CONFIG --src X --dst Y --proto P [...]
                                   evaluate one flow and its reply, stage by stage
  observe CONFIG [--instance X] [--verdict V] [...]
                                   stream the running daemon's flows, drops and NAT
  conntrack list|flush CONFIG [--instance X]
                                   the running daemon's tracked flows (root)
  lab up|down|status CONFIG        create / remove / show the namespace test bed (root)
  lab exec CONFIG INSTANCE -- CMD...
                                   run a command in an instance's namespace
  import aws FILE|DIR|- [--remap FROM=TO]...
                                   AWS CLI describe-* JSON to a vpcd configuration
  version                          print the version (also --version)
  help [COMMAND]                   this text, or a command's help

Run 'vpcd COMMAND --help' for a command's options.`;

export { version } from './version.js';

type Command = (argv: string[], out: Out) => number | Promise<number>;

/** Each command's module is loaded only when it runs (`explain` needs no daemon code). */
const COMMANDS: Readonly<Record<string, Command>> = {
  run: async (argv, out) => (await import('./run.js')).runDaemon(argv, out),
  check: async (argv, out) => (await import('./check.js')).runCheck(argv, out),
  explain: async (argv, out) => (await import('./explain.js')).runExplain(argv, out),
  lab: async (argv, out) => (await import('./lab.js')).runLab(argv, out),
  observe: async (argv, out) => (await import('./observe.js')).runObserve(argv, out),
  conntrack: async (argv, out) => (await import('./conntrack.js')).runConntrack(argv, out),
  import: async (argv, out) => (await import('./import.js')).runImport(argv, out),
  version: (argv, out) => {
    if (argv.length > 0 && argv[0] !== '--help' && argv[0] !== '-h') {
      out.stderr(`vpcd version: takes no arguments\nRun 'vpcd version --help' for usage.`);
      return 1;
    }
    out.stdout(argv.length > 0 ? 'usage: vpcd version\n\nPrints the version (vpcd --version does the same).' : `vpcd ${version()}`);
    return 0;
  },
};

export async function main(argv: string[], out: Out = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    out.stdout(OVERVIEW);
    return 0;
  }
  if (cmd === '--version' || cmd === '-V') return COMMANDS.version!([], out);
  if (cmd === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      out.stdout(OVERVIEW);
      return 0;
    }
    const c = COMMANDS[topic];
    if (c === undefined) return unknown(topic, out);
    return c(['--help'], out);
  }
  const c = COMMANDS[cmd];
  if (c === undefined) return unknown(cmd, out);
  return c(rest, out);
}

function unknown(cmd: string, out: Out): number {
  const what = cmd.startsWith('-') ? `unknown option ${cmd}${hint(cmd, ['--help', '--version'])}` : `unknown command '${cmd}'${hint(cmd, Object.keys(COMMANDS))}`;
  out.stderr(`vpcd: ${what}\nRun 'vpcd --help' for the commands.`);
  return 1;
}
