/**
 * The filters of `vpcd observe` (and of /live/events), applied in the
 * daemon to decoded events: --instance, --subnet, --verdict, --proto,
 * --port, --cidr, --reason. All given filters must match. A filter is
 * checked against the running configuration when a subscriber attaches
 * (an unknown instance or subnet is an error, with a suggestion).
 */
import { hint } from '../control/config-issues.js';
import type { VpcConfig } from '../control/config-types.js';
import { parseIpv4Cidr, ipv4ToNumber } from '../policy/addr.js';
import { DROP_REASON_LABELS } from '../pipeline/batch.js';
import { CODE_NAMES } from './event-vocabulary.js';
import type { ObserveEvent } from './event-decode.js';

/** The filter as it travels (control-wire.ts) and as the CLI gives it. */
export interface FilterSpec {
  readonly instance?: string;
  readonly subnet?: string;
  readonly verdict?: 'ACCEPT' | 'REJECT';
  readonly proto?: number;
  readonly port?: number;
  readonly cidr?: string;
  readonly reason?: string;
}

export class FilterError extends Error {}

interface Range { readonly first: number; readonly last: number }

export interface EventFilter {
  readonly spec: FilterSpec;
  matches(e: ObserveEvent): boolean;
}

/** Parses `tcp`, `udp`, `icmp` or 0-255. Throws FilterError. */
export function parseProtoFilter(text: string): number {
  const t = text.toLowerCase();
  if (t === 'tcp') return 6;
  if (t === 'udp') return 17;
  if (t === 'icmp') return 1;
  if (/^[0-9]{1,3}$/.test(t) && Number(t) <= 255) return Number(t);
  throw new FilterError(`--proto must be tcp, udp, icmp or a number 0-255, not '${text}'${hint(t, ['tcp', 'udp', 'icmp'])}`);
}

/** Every word --reason accepts: drop reasons and explanation codes. */
export function reasonWords(): string[] {
  return [...DROP_REASON_LABELS.slice(1), ...CODE_NAMES.filter((c) => c !== '')];
}

/** Checks a spec against the configuration and builds its matcher. Throws FilterError. */
export function compileFilter(spec: FilterSpec, cfg: VpcConfig): EventFilter {
  const addrSets: { name: string; ips: Set<string> }[] = [];
  const ranges: Range[] = [];
  let instance: string | undefined;
  if (spec.instance !== undefined) {
    const inst = cfg.instances.get(spec.instance);
    if (inst === undefined) throw new FilterError(`--instance '${spec.instance}' is not an instance of this configuration${hint(spec.instance, cfg.instances.keys())}`);
    instance = inst.name;
    addrSets.push({ name: inst.name, ips: new Set([inst.ip, ...(inst.publicIp !== undefined ? [inst.publicIp] : [])]) });
  }
  let subnetRange: Range | undefined;
  if (spec.subnet !== undefined) {
    const sub = cfg.subnets.get(spec.subnet);
    if (sub === undefined) throw new FilterError(`--subnet '${spec.subnet}' is not a subnet of this configuration${hint(spec.subnet, cfg.subnets.keys())}`);
    subnetRange = parseIpv4Cidr(sub.cidr);
  }
  if (spec.cidr !== undefined) {
    const r = parseIpv4Cidr(spec.cidr);
    if (r === undefined) throw new FilterError(`--cidr must be an IPv4 CIDR such as 198.51.100.0/24, not '${spec.cidr}'`);
    ranges.push(r);
  }
  if (spec.verdict !== undefined && spec.verdict !== 'ACCEPT' && spec.verdict !== 'REJECT') {
    throw new FilterError(`--verdict must be ACCEPT or REJECT, not '${String(spec.verdict)}'`);
  }
  if (spec.proto !== undefined && !(Number.isInteger(spec.proto) && spec.proto >= 0 && spec.proto <= 255)) throw new FilterError('--proto must be 0-255');
  if (spec.port !== undefined && !(Number.isInteger(spec.port) && spec.port >= 0 && spec.port <= 65535)) throw new FilterError('--port must be 0-65535');
  let reason: string | undefined;
  if (spec.reason !== undefined) {
    const words = reasonWords();
    const found = words.find((w) => w.toLowerCase() === spec.reason!.toLowerCase());
    if (found === undefined) throw new FilterError(`--reason '${spec.reason}' is neither a drop reason nor an explanation code${hint(spec.reason, words)}`);
    reason = found;
  }
  const protoWant = spec.proto;
  const inRange = (ip: string | null | undefined, r: Range): boolean => {
    if (ip === null || ip === undefined) return false;
    const n = ipv4ToNumber(ip);
    return n !== undefined && n >= r.first && n <= r.last;
  };
  const addrs = (e: ObserveEvent): (string | null | undefined)[] => [e.src, e.dst, e.xsrc, e.xdst];
  return {
    spec,
    matches(e: ObserveEvent): boolean {
      if (spec.verdict !== undefined && e.verdict !== spec.verdict) return false;
      if (protoWant !== undefined) {
        const p = e.proto === 'tcp' ? 6 : e.proto === 'udp' ? 17 : e.proto === 'icmp' ? 1 : e.proto;
        if (p !== protoWant) return false;
      }
      if (spec.port !== undefined && e.sport !== spec.port && e.dport !== spec.port && e.xsport !== spec.port && e.xdport !== spec.port) return false;
      if (reason !== undefined && e.reason !== reason && e.code !== reason) return false;
      if (instance !== undefined && e.instance !== instance && !addrs(e).some((a) => a != null && addrSets[0]!.ips.has(a))) return false;
      if (subnetRange !== undefined && !addrs(e).some((a) => inRange(a, subnetRange!))) return false;
      for (const r of ranges) if (!addrs(e).some((a) => inRange(a, r))) return false;
      return true;
    },
  };
}
