/**
 * `vpcd explain CONFIG --src X --dst Y --proto P [--sport N] [--dport N]
 *  [--icmp-type T --icmp-code C] [--nat-port N] [--from NAME] [--json]`
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
 * --nat-port N pins the source port a NAT gateway allocates (1024-65535);
 * without it, stages that see that port judge the whole range. --from NAME
 * names the instance that sends the packet when --src is an address it does
 * not own (an appliance forwarding someone else's packet).
 *
 * Exit 0 when the flow was evaluated (whatever the verdict), 1 for bad
 * arguments or an invalid/missing configuration, 2 when the file exists but
 * cannot be read.
 */
import { formatIssue, loadConfig } from '../control/config.js';
import { ConfigError, type VpcConfig } from '../control/config-types.js';
import { formatExplanation } from '../policy/format.js';
import { classifyAddress, evaluateFlow, ExplainInputError, type Flow } from '../policy/reference.js';
import { isIpv4 } from '../policy/addr.js';

export interface ExplainOut {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export const EXPLAIN_USAGE =
  'usage: vpcd explain CONFIG --src X --dst Y --proto P [--sport N] [--dport N] [--icmp-type T --icmp-code C] [--nat-port N] [--from NAME] [--json]\n' +
  '  X, Y         instance, NAT gateway, lab internet host, igw, or IPv4 address\n' +
  '  P            tcp, udp, icmp, or a protocol number 0-255\n' +
  '  --nat-port   the source port a NAT gateway picks (1024-65535); default: judge the whole range\n' +
  '  --from       the instance that sends the packet (an appliance forwarding a source it does not own)';

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
  readonly from?: string;
  readonly json: boolean;
}

export class ArgError extends Error {}

const OPTIONS = ['--src', '--dst', '--proto', '--sport', '--dport', '--icmp-type', '--icmp-code', '--nat-port', '--from'] as const;
type OptionName = (typeof OPTIONS)[number];

function intArg(name: string, text: string, max: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > max) throw new ArgError(`${name} must be an integer 0-${max}, not '${text}'`);
  return Number(text);
}

export function parseProto(text: string): number {
  const t = text.toLowerCase();
  if (t === 'tcp') return 6;
  if (t === 'udp') return 17;
  if (t === 'icmp') return 1;
  if (t === 'all' || t === '-1') throw new ArgError("--proto: a packet has one protocol; give tcp, udp, icmp or a number 0-255, not 'all'");
  if (t === 'icmpv6' || t === '58') throw new ArgError('--proto: only IPv4 flows are evaluated (no icmpv6)');
  if (/^[0-9]+$/.test(t) && Number(t) <= 255) return Number(t);
  throw new ArgError(`--proto must be tcp, udp, icmp or a number 0-255, not '${text}'`);
}

/** Parses the arguments after `explain`. Throws ArgError with a message for the user. */
export function parseExplainArgs(argv: readonly string[]): ExplainArgs | 'help' {
  const values = new Map<OptionName, string>();
  const positional: string[] = [];
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--json') {
      json = true;
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = (eq < 0 ? a : a.slice(0, eq)) as OptionName;
      if (!OPTIONS.includes(name)) throw new ArgError(`unknown option ${a.slice(0, eq < 0 ? undefined : eq)}`);
      let value: string | undefined;
      if (eq >= 0) value = a.slice(eq + 1);
      else {
        value = argv[i + 1];
        i++;
      }
      if (value === undefined || value === '') throw new ArgError(`${name} needs a value`);
      if (values.has(name)) throw new ArgError(`${name} given twice`);
      values.set(name, value);
      continue;
    }
    if (a.startsWith('-') && a !== '-') throw new ArgError(`unknown option ${a}`);
    positional.push(a);
  }
  if (positional.length === 0) throw new ArgError('no configuration file given');
  if (positional.length > 1) throw new ArgError(`one configuration file expected, got ${positional.map((p) => `'${p}'`).join(' ')}`);
  for (const required of ['--src', '--dst', '--proto'] as const) {
    if (!values.has(required)) throw new ArgError(`${required} is required`);
  }
  const proto = parseProto(values.get('--proto') as string);
  const ports = proto === 6 || proto === 17;
  const sport = values.get('--sport');
  const dport = values.get('--dport');
  const icmpType = values.get('--icmp-type');
  const icmpCode = values.get('--icmp-code');
  if (!ports && (sport !== undefined || dport !== undefined)) throw new ArgError('--sport/--dport apply to tcp and udp only');
  if (proto !== 1 && (icmpType !== undefined || icmpCode !== undefined)) throw new ArgError('--icmp-type/--icmp-code apply to icmp only');
  if (ports && dport === undefined) throw new ArgError(`--dport is required for ${proto === 6 ? 'tcp' : 'udp'}`);
  const natPort = values.get('--nat-port');
  if (natPort !== undefined && !ports) throw new ArgError('--nat-port applies to tcp and udp only');
  const natPortN = natPort !== undefined ? intArg('--nat-port', natPort, 65535) : undefined;
  if (natPortN !== undefined && natPortN < 1024) throw new ArgError(`--nat-port must be an integer 1024-65535 (the range a NAT gateway uses), not '${natPort}'`);
  const from = values.get('--from');
  return {
    config: positional[0] as string,
    src: values.get('--src') as string,
    dst: values.get('--dst') as string,
    proto,
    ...(sport !== undefined ? { sport: intArg('--sport', sport, 65535) } : {}),
    ...(dport !== undefined ? { dport: intArg('--dport', dport, 65535) } : {}),
    ...(icmpType !== undefined ? { icmpType: intArg('--icmp-type', icmpType, 255) } : {}),
    ...(icmpCode !== undefined ? { icmpCode: intArg('--icmp-code', icmpCode, 255) } : {}),
    ...(natPortN !== undefined ? { natPort: natPortN } : {}),
    ...(from !== undefined ? { from } : {}),
    json,
  };
}

function internetHost(cfg: VpcConfig): string {
  return Object.values(cfg.lab.internetHosts)[0] ?? DEFAULT_INTERNET_HOST;
}

function isIgwName(cfg: VpcConfig, x: string): boolean {
  return x === 'igw' || x === cfg.internetGateway?.name;
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
  throw new ArgError(`--src '${x}' is not an instance, NAT gateway, internet host, igw or IPv4 address of this configuration`);
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
  throw new ArgError(`--dst '${x}' is not an instance, NAT gateway, internet host, igw or IPv4 address of this configuration`);
}

/** Loads CONFIG; on failure prints why and returns the exit code. */
function load(file: string, out: ExplainOut): VpcConfig | number {
  try {
    return loadConfig(file);
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

/** Runs `vpcd explain` with the arguments after `explain`; returns the exit code. */
export function runExplain(argv: string[], out: ExplainOut): number {
  let args: ExplainArgs | 'help';
  try {
    args = parseExplainArgs(argv);
  } catch (e) {
    if (!(e instanceof ArgError)) throw e;
    out.stderr(`vpcd explain: ${e.message}\n${EXPLAIN_USAGE}`);
    return 1;
  }
  if (args === 'help') {
    out.stdout(EXPLAIN_USAGE);
    return 0;
  }
  const cfg = load(args.config, out);
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
    };
    const from = args.from ?? src.from;
    if (args.from !== undefined && !cfg.instances.has(args.from)) {
      throw new ArgError(`--from '${args.from}' is not an instance of this configuration`);
    }
    const e = evaluateFlow(cfg, flow, {
      ...(from !== undefined ? { from } : {}),
      ...(args.natPort !== undefined ? { natPort: args.natPort } : {}),
    });
    out.stdout(args.json ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e));
    return 0;
  } catch (e) {
    if (e instanceof ArgError || e instanceof ExplainInputError) {
      out.stderr(`vpcd explain: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
