/**
 * Traffic selectors (RFC 7296 §2.9, §3.13): CIDRs to TS_IPV4_ADDR_RANGE,
 * narrowing by intersection on the responder, subset checks on the initiator.
 */
import { ipToU32, u32ToIp } from '../wire/addr.js';
import { TsType } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { TrafficSelector } from './payloads.js';

/** `198.18.0.0/16` (or a bare address = /32) to an all-protocols, all-ports selector. */
export function cidrToSelector(cidr: string): TrafficSelector {
  const [addr, lenStr] = cidr.split('/');
  const len = lenStr === undefined ? 32 : Number(lenStr);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new IkeError(IkeErrorCode.Config, `bad IPv4 CIDR ${cidr}`);
  let a: number;
  try {
    a = ipToU32(addr);
  } catch {
    throw new IkeError(IkeErrorCode.Config, `bad IPv4 CIDR ${cidr} (IPv6 selectors are not supported)`);
  }
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const start = (a & mask) >>> 0;
  const end = (start | ~mask) >>> 0;
  return { type: TsType.IPV4_ADDR_RANGE, ipProtocol: 0, startPort: 0, endPort: 0xffff, startAddr: start, endAddr: end };
}

/** Readable form: a CIDR when the range is one, else `a-b`; protocol/ports when restricted. */
export function selectorToString(t: TrafficSelector): string {
  if (t.type !== TsType.IPV4_ADDR_RANGE) return `ts-type-${t.type}`;
  let s = `${u32ToIp(t.startAddr)}-${u32ToIp(t.endAddr)}`;
  const size = t.endAddr - t.startAddr + 1;
  if (size > 0 && (size & (size - 1)) === 0 && t.startAddr % size === 0) {
    s = `${u32ToIp(t.startAddr)}/${32 - Math.log2(size)}`;
  }
  if (t.ipProtocol !== 0 || t.startPort !== 0 || t.endPort !== 0xffff) {
    s += `[${t.ipProtocol}/${t.startPort === t.endPort ? t.startPort : `${t.startPort}-${t.endPort}`}]`;
  }
  return s;
}

/** Intersection of two selectors, or undefined when they do not overlap. */
export function intersect(a: TrafficSelector, b: TrafficSelector): TrafficSelector | undefined {
  if (a.type !== TsType.IPV4_ADDR_RANGE || b.type !== TsType.IPV4_ADDR_RANGE) return undefined;
  let proto: number;
  if (a.ipProtocol === 0) proto = b.ipProtocol;
  else if (b.ipProtocol === 0 || b.ipProtocol === a.ipProtocol) proto = a.ipProtocol;
  else return undefined;
  const sp = Math.max(a.startPort, b.startPort);
  const ep = Math.min(a.endPort, b.endPort);
  if (sp > ep) return undefined;
  const sa = Math.max(a.startAddr, b.startAddr);
  const ea = Math.min(a.endAddr, b.endAddr);
  if (sa > ea) return undefined;
  return { type: TsType.IPV4_ADDR_RANGE, ipProtocol: proto, startPort: sp, endPort: ep, startAddr: sa, endAddr: ea };
}

/**
 * Responder narrowing: every non-empty intersection of a proposed selector
 * with an allowed one, without duplicates. Empty result = TS_UNACCEPTABLE.
 */
export function narrow(proposed: readonly TrafficSelector[], allowed: readonly TrafficSelector[]): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  for (const p of proposed) {
    for (const a of allowed) {
      const x = intersect(p, a);
      if (x && !out.some((o) => sameSelector(o, x))) out.push(x);
    }
  }
  // drop selectors fully covered by another one
  return out.filter((x, i) => !out.some((y, j) => j !== i && covers(y, x)));
}

export function sameSelector(a: TrafficSelector, b: TrafficSelector): boolean {
  return a.type === b.type && a.ipProtocol === b.ipProtocol && a.startPort === b.startPort && a.endPort === b.endPort &&
    a.startAddr === b.startAddr && a.endAddr === b.endAddr;
}

/** True if `outer` includes every packet `inner` matches. */
export function covers(outer: TrafficSelector, inner: TrafficSelector): boolean {
  if (outer.type !== inner.type || outer.type !== TsType.IPV4_ADDR_RANGE) return false;
  if (outer.ipProtocol !== 0 && outer.ipProtocol !== inner.ipProtocol) return false;
  return outer.startPort <= inner.startPort && outer.endPort >= inner.endPort &&
    outer.startAddr <= inner.startAddr && outer.endAddr >= inner.endAddr;
}

/** Initiator check: every selector the responder returned lies inside one we proposed. */
export function isNarrowingOf(answer: readonly TrafficSelector[], proposed: readonly TrafficSelector[]): boolean {
  return answer.length > 0 && answer.every((a) => proposed.some((p) => covers(p, a)));
}
