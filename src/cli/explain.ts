/**
 * `vpcd explain CONFIG --src X --dst Y --proto P [--sport N] [--dport N]
 *  [--icmp-type T --icmp-code C] [--fragment first|later] [--nat-port N] [--from NAME] [--expect V] [--json]`
 *
 * Evaluates one flow and its reply against a configuration with the reference
 * evaluator (src/policy/reference.ts), without packets or privileges.
 *
 * X and Y: an instance name, a NAT gateway name, a lab internet host name
 * (`lab.internetHosts`), `igw` (or the internet gateway's name: a host on the
 * internet, the first lab internet host or 198.51.100.100), or an IPv4
 * address. As a source, an instance or NAT gateway sends from its private IP
 * (its public IP names it too). As a destination seen from the internet, an
 * instance or NAT gateway name means its public IP.
 *
 * --fragment says the flow's packets are IP fragments: a NAT gateway drops
 * fragmented TCP and ICMP, the VPC router answers no fragmented echo, and a
 * later fragment (no ports) follows its first fragment's verdict.
 *
 * --nat-port N pins the source port a NAT gateway allocates (1024-65535);
 * without it, stages that see that port judge the whole range. --from NAME
 * names the instance that sends the packet when --src is an address it does
 * not own (an appliance forwarding someone else's packet).
 *
 * CONFIG `-` reads standard input. A name that is not a place (a subnet, a
 * security group, a typo) gets a message that says what it is or suggests
 * the closest name.
 *
 * Exit 0 when the flow was evaluated (whatever the verdict, unless --expect
 * names another outcome), 1 for bad arguments, an invalid/missing
 * configuration or an --expect mismatch, 2 when the file exists but cannot
 * be read.
 */
import { readFileSync } from 'node:fs';
import { formatIssue, loadConfig, parseConfig } from '../control/config.js';
import { hint } from '../control/config-issues.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';
import { formatExplanation } from '../policy/format.js';
import { classifyAddress, evaluateFlow, ExplainInputError, type Flow } from '../policy/reference.js';
import type { Explanation } from '../policy/types.js';
import { isIpv4 } from '../policy/addr.js';
import { flag, type Out, parseCommandArgs, str, UsageError, usageFailure, wantsHelp } from './args.js';

export type ExplainOut = Out;

export const EXPLAIN_HELP = `usage: vpcd explain CONFIG --src X --dst Y --proto P [--sport N] [--dport N]
                    [--icmp-type T --icmp-code C] [--fragment first|later]
                    [--nat-port N] [--from NAME] [--expect allow|deny] [--json]

Evaluates one flow and its reply against CONFIG (- reads standard input),
stage by stage, without packets or privileges.

  --src X, --dst Y   an instance, NAT gateway, lab internet host, igw (a host on
                     the internet), or an IPv4 address
  --proto P          tcp, udp, icmp, or a protocol number 0-255
  --sport N          source port (tcp/udp; default 49152)
  --dport N          destination port (tcp/udp; required for them)
  --icmp-type T, --icmp-code C
                     ICMP type and code (default: echo request, 8/0)
  --fragment F       the packets are IP fragments: first (carries the ports) or
                     later (no ports: follows its first fragment's verdict)
  --nat-port N       the source port a NAT gateway picks (1024-65535);
                     default: judge the whole range
  --from NAME        the instance that sends the packet (an appliance forwarding
                     a source it does not own)
  --expect V         allow or deny: exit 1 when the outcome differs (for CI). The
                     outcome is allow when the request and its reply both pass.
  --json             the evaluation as JSON (docs/explain.md)
  -h, --help         this text

Exit status: 0 evaluated (whatever the verdict, or as --expect said), 1 bad
arguments, an invalid or missing configuration, or an --expect mismatch, 2 a
file that exists but cannot be read.`;

/** The first line of the help: what error messages point at. */
export const EXPLAIN_USAGE = EXPLAIN_HELP.slice(0, EXPLAIN_HELP.indexOf('\n\n'));

/** A host on the internet when the user says `igw` and the lab names none. */
const DEFAULT_INTERNET_HOST = '198.51.100.100';

export interface ExplainArgs {
  readonly config: string;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport?: number;
  readonly dport?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly natPort?: number;
  readonly fragment?: 'first' | 'later';
  readonly from?: string;
  readonly expect?: 'allow' | 'deny';
  readonly json: boolean;
}

const OPTIONS = {
  src: { type: 'string' }, dst: { type: 'string' }, proto: { type: 'string' },
  sport: { type: 'string' }, dport: { type: 'string' },
  'icmp-type': { type: 'string' }, 'icmp-code': { type: 'string' },
  'nat-port': { type: 'string' }, from: { type: 'string' }, fragment: { type: 'string' },
  expect: { type: 'string' }, json: { type: 'boolean' },
} as const;

function intArg(name: string, text: string, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > max) throw new UsageError(`${name} must be an integer 0-${max}, not '${text}'`);
  return Number(text);
}

export function parseProto(text: string): number {
  const t = text.toLowerCase();
  if (t === 'tcp') return 6;
  if (t === 'udp') return 17;
  if (t === 'icmp') return 1;
  if (t === 'all' || t === '-1') throw new UsageError("--proto: a packet has one protocol; give tcp, udp, icmp or a number 0-255, not 'all'");
  if (t === 'icmpv6' || t === '58') throw new UsageError('--proto: only IPv4 flows are evaluated (no icmpv6)');
  if (/^[0-9]+$/.test(t) && Number(t) <= 255) return Number(t);
  throw new UsageError(`--proto must be tcp, udp, icmp or a number 0-255, not '${text}'${hint(t, ['tcp', 'udp', 'icmp'])}`);
}

/** Parses the arguments after `explain`. Throws UsageError with a message for the user. */
export function parseExplainArgs(argv: readonly string[]): ExplainArgs | 'help' {
  if (wantsHelp(argv)) return 'help';
  const p = parseCommandArgs(argv, OPTIONS);
  const positional = p.positionals;
  if (positional.length === 0) throw new UsageError('no configuration file given');
  if (positional.length > 1) throw new UsageError(`one configuration file expected, got ${positional.map((x) => `'${x}'`).join(' ')}`);
  for (const required of ['src', 'dst', 'proto'] as const) {
    if (str(p, required) === undefined) throw new UsageError(`--${required} is required`);
  }
  const proto = parseProto(str(p, 'proto') as string);
  const ports = proto === 6 || proto === 17;
  const sport = str(p, 'sport');
  const dport = str(p, 'dport');
  const icmpType = str(p, 'icmp-type');
  const icmpCode = str(p, 'icmp-code');
  if (!ports && (sport !== undefined || dport !== undefined)) throw new UsageError('--sport/--dport apply to tcp and udp only');
  if (proto !== 1 && (icmpType !== undefined || icmpCode !== undefined)) throw new UsageError('--icmp-type/--icmp-code apply to icmp only');
  if (ports && dport === undefined) throw new UsageError(`--dport is required for ${proto === 6 ? 'tcp' : 'udp'}`);
  const natPort = str(p, 'nat-port');
  if (natPort !== undefined && !ports) throw new UsageError('--nat-port applies to tcp and udp only');
  const natPortN = natPort !== undefined ? intArg('--nat-port', natPort, 65535) : undefined;
  if (natPortN !== undefined && natPortN < 1024) throw new UsageError(`--nat-port must be an integer 1024-65535 (the range a NAT gateway uses), not '${natPort}'`);
  const fragment = str(p, 'fragment');
  if (fragment !== undefined && fragment !== 'first' && fragment !== 'later') {
    throw new UsageError(`--fragment must be first or later, not '${fragment}'${hint(fragment, ['first', 'later'])}`);
  }
  const from = str(p, 'from');
  const expect = str(p, 'expect');
  if (expect !== undefined && expect !== 'allow' && expect !== 'deny') {
    throw new UsageError(`--expect must be allow or deny, not '${expect}'${hint(expect, ['allow', 'deny'])}`);
  }
  return {
    config: positional[0] as string,
    src: str(p, 'src') as string,
    dst: str(p, 'dst') as string,
    proto,
    ...(sport !== undefined ? { sport: intArg('--sport', sport, 65535) } : {}),
    ...(dport !== undefined ? { dport: intArg('--dport', dport, 65535) } : {}),
    ...(icmpType !== undefined ? { icmpType: intArg('--icmp-type', icmpType, 255) } : {}),
    ...(icmpCode !== undefined ? { icmpCode: intArg('--icmp-code', icmpCode, 255) } : {}),
    ...(natPortN !== undefined ? { natPort: natPortN } : {}),
    ...(fragment !== undefined ? { fragment } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(expect !== undefined ? { expect } : {}),
    json: flag(p, 'json'),
  };
}

function internetHost(cfg: VpcConfig): string {
  return Object.values(cfg.lab.internetHosts)[0] ?? DEFAULT_INTERNET_HOST;
}

function isIgwName(cfg: VpcConfig, x: string): boolean {
  return x === 'igw' || x === cfg.internetGateway?.name;
}

/**
 * Why a name is not a place a flow can start or end, with a suggestion: a
 * subnet or security group named exactly lists its instances; otherwise the
 * closest name of any kind (did you mean ...).
 */
export function unknownPlace(cfg: VpcConfig, option: string, x: string): UsageError {
  const base = `${option} '${x}' is not an instance, NAT gateway, internet host, igw or IPv4 address of this configuration`;
  const members = (pred: (i: { subnet: string; securityGroups: readonly string[] }) => boolean): string => {
    const names = [...cfg.instances.values()].filter(pred).map((i) => i.name);
    return names.length === 0 ? 'it has no instances' : `its instances: ${names.join(', ')}`;
  };
  const subnet = cfg.subnets.get(x);
  if (subnet !== undefined) {
    return new UsageError(`${option} '${x}' is a subnet (${subnet.cidr}), not an instance; give one of its instances or an address in it (${members((i) => i.subnet === x)})`);
  }
  if (cfg.securityGroups.has(x)) {
    return new UsageError(`${option} '${x}' is a security group, not an instance (${members((i) => i.securityGroups.includes(x))})`);
  }
  const kinds = new Map<string, string>();
  for (const n of cfg.instances.keys()) kinds.set(n, 'instance');
  for (const n of cfg.natGateways.keys()) kinds.set(n, 'NAT gateway');
  for (const n of Object.keys(cfg.lab.internetHosts)) kinds.set(n, 'internet host');
  for (const n of cfg.subnets.keys()) if (!kinds.has(n)) kinds.set(n, 'subnet');
  for (const n of cfg.securityGroups.keys()) if (!kinds.has(n)) kinds.set(n, 'security group');
  const h = hint(x, kinds.keys());
  if (h === '') return new UsageError(base);
  const name = /"(.*)"/.exec(h)?.[1] ?? '';
  return new UsageError(`${base} (did you mean ${kinds.get(name) ?? 'name'} "${name}"?)`);
}

/** `--src`: the address the request leaves with, and the ENI that sends it when there is one. */
export function resolveSource(cfg: VpcConfig, x: string): { ip: string; from?: string } {
  const inst = cfg.instances.get(x);
  if (inst !== undefined) return { ip: inst.ip, from: inst.name };
  const gw = cfg.natGateways.get(x);
  if (gw !== undefined) return { ip: gw.ip, from: gw.name };
  const host = cfg.lab.internetHosts[x];
  if (host !== undefined) return { ip: host };
  if (isIgwName(cfg, x)) return { ip: internetHost(cfg) };
  if (isIpv4(x)) {
    const c = classifyAddress(cfg, x);
    if (c.kind === 'instance-public') return { ip: c.instance.ip, from: c.instance.name };
    if (c.kind === 'nat-gateway-public') return { ip: c.natGateway.ip, from: c.natGateway.name };
    return { ip: x };
  }
  throw unknownPlace(cfg, '--src', x);
}

/** `--dst`: the address the request is sent to (an ENI's public IP when the source is on the internet). */
export function resolveDestination(cfg: VpcConfig, x: string, srcIp: string): string {
  const fromInternet = isIpv4(srcIp) && classifyAddress(cfg, srcIp).kind === 'internet';
  const inst = cfg.instances.get(x);
  if (inst !== undefined) return fromInternet && inst.publicIp !== undefined ? inst.publicIp : inst.ip;
  const gw = cfg.natGateways.get(x);
  if (gw !== undefined) return fromInternet && gw.publicIp !== undefined ? gw.publicIp : gw.ip;
  const host = cfg.lab.internetHosts[x];
  if (host !== undefined) return host;
  if (isIgwName(cfg, x)) return internetHost(cfg);
  if (isIpv4(x)) return x;
  throw unknownPlace(cfg, '--dst', x);
}

/** Loads CONFIG (`-`: standard input); on failure prints why and returns the exit code. */
function load(file: string, out: ExplainOut, stdin: () => string): VpcConfig | number {
  try {
    return file === '-' ? parseConfig(stdin(), '<stdin>') : loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.issues) out.stderr(formatIssue(issue));
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    out.stderr(`vpcd explain: ${file}: cannot read: ${reason}`);
    return err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR' ? 1 : 2;
  }
}

/**
 * The outcome --expect compares: allow when the request is allowed and its
 * reply (when the protocol has one) is allowed too; otherwise deny, with the
 * stage that denied.
 */
export function outcome(e: Explanation): { verdict: 'allow' | 'deny'; why?: string } {
  const denied = e.verdict !== 'allow' ? { dir: 'request', d: e } : e.reply !== undefined && e.reply.verdict !== 'allow' ? { dir: 'reply', d: e.reply } : undefined;
  if (denied === undefined) return { verdict: 'allow' };
  const end = denied.d.end;
  return { verdict: 'deny', why: `${denied.dir} denied at ${end.stage} on ${end.at}${end.code !== undefined ? ` (${end.code})` : ''}` };
}

/** Runs `vpcd explain` with the arguments after `explain`; returns the exit code. */
export function runExplain(argv: string[], out: ExplainOut, stdin: () => string = () => readFileSync(0, 'utf8')): number {
  let args: ExplainArgs | 'help';
  try {
    args = parseExplainArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageFailure('explain', e, out);
  }
  if (args === 'help') {
    out.stdout(EXPLAIN_HELP);
    return 0;
  }
  const cfg = load(args.config, out, stdin);
  if (typeof cfg === 'number') return cfg;
  try {
    const src = resolveSource(cfg, args.src);
    const dst = resolveDestination(cfg, args.dst, src.ip);
    const flow: Flow = {
      src: src.ip,
      dst,
      proto: args.proto,
      ...(args.sport !== undefined ? { sport: args.sport } : {}),
      ...(args.dport !== undefined ? { dport: args.dport } : {}),
      ...(args.icmpType !== undefined ? { icmpType: args.icmpType } : {}),
      ...(args.icmpCode !== undefined ? { icmpCode: args.icmpCode } : {}),
      ...(args.fragment !== undefined ? { fragment: args.fragment } : {}),
    };
    const from = args.from ?? src.from;
    if (args.from !== undefined && !cfg.instances.has(args.from)) {
      throw new UsageError(`--from '${args.from}' is not an instance of this configuration${hint(args.from, cfg.instances.keys())}`);
    }
    const e = evaluateFlow(cfg, flow, {
      ...(from !== undefined ? { from } : {}),
      ...(args.natPort !== undefined ? { natPort: args.natPort } : {}),
    });
    out.stdout(args.json ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e));
    if (args.expect !== undefined) {
      const o = outcome(e);
      if (o.verdict !== args.expect) {
        out.stderr(`vpcd explain: expected ${args.expect}, got ${o.verdict}${o.why !== undefined ? `: ${o.why}` : ''}`);
        return 1;
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof ExplainInputError) {
      out.stderr(`vpcd explain: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
