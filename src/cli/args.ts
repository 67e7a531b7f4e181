/**
 * Argument parsing shared by every `vpcd` command: node:util parseArgs in
 * strict mode, with its errors turned into one-line messages for users
 * (`unknown option --srcc (did you mean "--src"?)`, `--src needs a value`,
 * `--src given twice`) and `--help`/`-h` recognised anywhere before `--`.
 *
 * A command prints `vpcd CMD: MESSAGE` and a pointer to `vpcd CMD --help` on
 * stderr and exits 1 for a UsageError (interfaces.md: 1 = invalid input).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { hint } from '../control/config-issues.js';

export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Bad arguments: the message is for the user; the command exits 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

/** True when `--help` or `-h` comes before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

function optionNames(options: OptionSpec): string[] {
  const names: string[] = [];
  for (const [long, spec] of Object.entries(options)) {
    names.push(`--${long}`);
    if (spec.short !== undefined) names.push(`-${spec.short}`);
  }
  return names;
}

/** The option an error message of parseArgs names (`'--src <value>'`, `'--verbose'`). */
function named(message: string): string {
  const m = /'(-{1,2}[^' <]+)/.exec(message);
  return m?.[1]?.split('=')[0] ?? '?';
}

/**
 * parseArgs with the project's messages. Positionals are allowed (each
 * command checks their number); an option given twice is an error unless it
 * is declared `multiple`.
 */
export function parseCommandArgs(argv: readonly string[], options: OptionSpec): Parsed {
  let parsed: ReturnType<typeof parseArgs<{ options: OptionSpec; allowPositionals: true; strict: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const opt = named(err.message);
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${opt}${hint(opt, optionNames(options))}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (/does not take an argument/.test(err.message)) throw new UsageError(`${opt} takes no value`);
        if (/ambiguous/.test(err.message)) throw new UsageError(`${opt} needs a value (write ${opt}=VALUE for a value starting with "-")`);
        throw new UsageError(`${opt} needs a value`);
      default:
        throw new UsageError(err.message);
    }
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (options[t.name]?.multiple === true) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
    if (options[t.name]?.type === 'string' && t.value === '') throw new UsageError(`--${t.name} needs a value`);
  }
  return { values: parsed.values as Parsed['values'], positionals: parsed.positionals };
}

/** Prints a UsageError the way every command does; returns exit code 1. */
export function usageFailure(command: string, e: UsageError, out: Out): number {
  out.stderr(`vpcd ${command}: ${e.message}\nRun 'vpcd ${command} --help' for usage.`);
  return 1;
}

/** A string option's value (parseArgs typed it already). */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
