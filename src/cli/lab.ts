/**
 * `vpcd lab up|down|status CONFIG` and `vpcd lab exec CONFIG INSTANCE -- CMD...`:
 * the command line of the namespace test bed (src/lab/). Progress lines of
 * `up` and `down` go to stderr as each part is made (`--quiet` silences
 * them); the one-line result goes to stdout.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { loadConfig } from '../control/config.js';
import { hint } from '../control/config-issues.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';
import { labDown, labDownByPrefix, labUp, prefixFromBrokenConfig } from '../lab/lab.js';
import { readState } from '../lab/state.js';
import { formatLabStatus, labStatus } from '../lab/status.js';
import { listNetns } from '../lab/sys.js';
import { execPrefix, instancePlace, type Place } from '../lab/where.js';
import { flag, type Out, parseCommandArgs, UsageError, usageFailure, wantsHelp } from './args.js';

export const LAB_HELP = `usage: vpcd lab up CONFIG [--quiet]
       vpcd lab down CONFIG [--quiet]
       vpcd lab status CONFIG [--json]
       vpcd lab exec CONFIG INSTANCE -- CMD [ARGS...]

The network-namespace test bed for CONFIG (root).

  up       creates <prefix>-<instance> per instance (or wires an instance into
           the namespace its attach: names), <prefix>-vpcd for the interfaces
           vpcd owns, and the shared internet namespace with bridge inet0;
           replaces a lab of the same prefix. Progress on stderr.
  down     removes everything up made, also after a crash or on a file that no
           longer validates; attached namespaces stay, minus the veth. Idempotent.
  status   what exists now: namespaces, each instance's link and address, the
           data-plane end of its veth. --json for a document.
  exec     runs CMD in INSTANCE's namespace (an instance name, or a lab internet
           host's name for the internet namespace); exits with CMD's status.

  --quiet      no progress lines (up, down)
  --json       status as JSON
  -h, --help   this text

Exit status: 0 done, 1 invalid configuration or arguments, 2 runtime failure
(not root, a command failed, a namespace missing for exec).`;

function loadOr(path: string, out: Out): VpcConfig | number {
  try {
    return loadConfig(path);
  } catch (e) {
    out.stderr(e instanceof ConfigError ? e.message : `vpcd lab: ${(e as Error).message}`);
    return 1;
  }
}

export async function runLab(argv: string[], out: Out): Promise<number> {
  const dd = argv.indexOf('--');
  const head = dd < 0 ? argv : argv.slice(0, dd);
  if (wantsHelp(head)) {
    out.stdout(LAB_HELP);
    return 0;
  }
  let sub: string;
  let config: string;
  let rest: string[];
  let quiet: boolean;
  let json: boolean;
  try {
    const p = parseCommandArgs(head, { quiet: { type: 'boolean' }, json: { type: 'boolean' } });
    [sub = '', config = '', ...rest] = p.positionals;
    quiet = flag(p, 'quiet');
    json = flag(p, 'json');
    const subs = ['up', 'down', 'status', 'exec'];
    if (!subs.includes(sub)) throw new UsageError(sub === '' ? 'no subcommand given (up, down, status or exec)' : `unknown subcommand '${sub}'${hint(sub, subs)}`);
    if (config === '') throw new UsageError('no configuration file given');
    if (sub !== 'exec' && rest.length > 0) throw new UsageError(`one configuration file expected, got ${rest.length + 1}`);
    if (sub === 'exec' && dd >= 0) rest = [...rest, ...argv.slice(dd + 1)];
    if (sub === 'exec' && rest.length < 2) throw new UsageError('usage: vpcd lab exec CONFIG INSTANCE -- CMD [ARGS...]');
    if (json && sub !== 'status') throw new UsageError('--json applies to status only');
    if (quiet && sub !== 'up' && sub !== 'down') throw new UsageError('--quiet applies to up and down only');
  } catch (e) {
    if (e instanceof UsageError) return usageFailure('lab', e, out);
    throw e;
  }
  if (process.getuid && process.getuid() !== 0) {
    out.stderr('vpcd lab: needs root (network namespaces)');
    return 2;
  }
  const progress = quiet ? () => {} : (s: string) => out.stderr(s);
  if (sub === 'down') return down(config, out, progress);
  const cfg = loadOr(config, out);
  if (typeof cfg === 'number') return cfg;
  if (sub === 'status') {
    const s = labStatus(cfg);
    out.stdout(json ? JSON.stringify(s, null, 2) : formatLabStatus(s));
    return 0;
  }
  if (sub === 'exec') return exec(cfg, rest[0]!, rest.slice(1), out);
  try {
    out.stdout(labUp(cfg, progress));
    return 0;
  } catch (e) {
    out.stderr(`vpcd lab up: ${(e as Error).message}`);
    try {
      labDown(cfg);
    } catch {
      // best effort: `lab down` can be run again
    }
    return 2;
  }
}

function down(path: string, out: Out, progress: (s: string) => void): number {
  let cfg: VpcConfig | undefined;
  try {
    cfg = loadConfig(path);
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      out.stderr(`vpcd lab: ${(e as Error).message}`);
      return 1;
    }
    // A file that no longer validates: remove what the state file recorded for its prefix.
    const prefix = prefixFromBrokenConfig(path);
    if (prefix === undefined) {
      out.stderr(e.message);
      return 1;
    }
    out.stdout(labDownByPrefix(prefix, undefined, progress));
    return 0;
  }
  try {
    out.stdout(labDown(cfg, progress));
    return 0;
  } catch (e) {
    out.stderr(`vpcd lab down: ${(e as Error).message}`);
    return 2;
  }
}

function exec(cfg: VpcConfig, name: string, cmd: string[], out: Out): number {
  let place: Place;
  const inst = cfg.instances.get(name);
  if (inst !== undefined) place = instancePlace(cfg, readState(cfg.lab.prefix), inst);
  else if (cfg.lab.internetHosts[name] !== undefined) place = { kind: 'named', ns: cfg.lab.internet, what: cfg.lab.internet, inside: 'inet0' };
  else {
    const candidates = [...cfg.instances.keys(), ...Object.keys(cfg.lab.internetHosts)];
    out.stderr(`vpcd lab exec: '${name}' is not an instance or internet host of this configuration${hint(name, candidates)}`);
    return 1;
  }
  if (place.kind === 'named' && !listNetns().includes(place.ns)) {
    out.stderr(`vpcd lab exec: no namespace ${place.ns}: run 'vpcd lab up ${cfg.file}' first`);
    return 2;
  }
  const prefix = execPrefix(place);
  if (prefix === undefined) {
    out.stderr(`vpcd lab exec: ${name}: ${place.kind === 'path' ? place.problem ?? 'namespace not found' : 'namespace not found'}`);
    return 2;
  }
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), ...cmd], { stdio: 'inherit' });
  if (r.error !== undefined) {
    out.stderr(`vpcd lab exec: ${r.error.message}`);
    return 2;
  }
  if (r.status !== null) return r.status;
  return 128 + (r.signal !== null ? constants.signals[r.signal] : 0);
}
