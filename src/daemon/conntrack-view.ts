/**
 * `vpcd conntrack list|flush` on the daemon side: the tracked flows of the
 * security-group stage's table (zone 0: one entry per crossing; zone 1+ENI:
 * an ENI's own entry for a flow that crosses several) with the NAT gateway
 * session that translates each, and removal of entries by instance.
 * Control plane: O(table size) per request, output bounded by the caller.
 */
import { formatIpv4 } from '../control/cidr.js';
import type { Conntrack } from '../conntrack/conntrack.js';
import { FLOW_KEY_WORDS, FlowFlag, NO_INSTANCE } from '../conntrack/flow-pool.js';
import { TCP_STATE_NAMES } from '../conntrack/tcp-state.js';
import { TIMEOUT_CLASS_NAMES } from '../conntrack/expiry.js';
import type { NatGatewayState } from '../nat/nat-gateway.js';
import { NO_FLOW } from '../conntrack/conntrack.js';
import { protoName } from '../observe/event-decode.js';
import type { ConntrackEntry } from './control-wire.js';

const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;

export interface ConntrackView {
  readonly ct: Conntrack;
  readonly nats: readonly NatGatewayState[];
  readonly instanceNames: readonly string[];
}

function instanceIndex(v: ConntrackView, name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  const i = v.instanceNames.indexOf(name);
  if (i < 0) throw new Error(`--instance '${name}' is not an instance of the running configuration`);
  return i;
}

function stateOf(ct: Conntrack, f: number): string {
  const pool = ct.pool;
  if (pool.proto[f] === PROTO_TCP) return TCP_STATE_NAMES[pool.tcpState[f]!] ?? 'NONE';
  const cls = TIMEOUT_CLASS_NAMES[pool.timeoutClass[f]!] ?? 'other';
  const seen = (pool.flags[f]! & FlowFlag.SeenReply) !== 0;
  return cls === 'udp_stream' ? 'STREAM' : seen ? 'REPLIED' : 'NEW';
}

function trackingOf(v: ConntrackView, f: number): string {
  const pool = v.ct.pool, fl = pool.flags[f]!;
  const e = pool.egressInstance[f]!, i = pool.ingressInstance[f]!;
  const parts: string[] = [];
  const untracked: string[] = [];
  if (e !== NO_INSTANCE) ((fl & FlowFlag.TrackedEgress) !== 0 ? parts : untracked).push(v.instanceNames[e] ?? `#${e}`);
  if (i !== NO_INSTANCE) ((fl & FlowFlag.TrackedIngress) !== 0 ? parts : untracked).push(v.instanceNames[i] ?? `#${i}`);
  if (untracked.length === 0) return 'tracked';
  return `tracked on ${parts.join(', ') || 'none'}; untracked on ${untracked.join(', ')} (an all-addresses rule admitted it and the other direction allows all traffic: AWS does not track it there)`;
}

/** The NAT gateway session that translates the flow's orig direction, if any. */
function natOf(v: ConntrackView, src: number, dst: number, sport: number, dport: number, proto: number): ConntrackEntry['nat'] {
  for (const nat of v.nats) {
    const ref = proto === PROTO_ICMP ? nat.sessions.lookup(src, dst, sport, dport, proto, 0) : nat.lookupInside(src, dst, sport, dport, proto);
    if (ref === NO_FLOW) continue;
    const f = ref >>> 1;
    const port = nat.sessions.pool.natPort[f]!;
    return { gateway: nat.name, src: formatIpv4(nat.ip), sport: proto === PROTO_TCP || proto === PROTO_UDP ? port : null,
      publicIp: nat.publicIp !== 0 ? formatIpv4(nat.publicIp) : null };
  }
  return undefined;
}

/** Live entries, oldest index first, at most `limit`; `total` counts every match. Throws for an unknown instance. */
export function listConntrack(v: ConntrackView, nowMs: number, instance: string | undefined, limit: number): { entries: ConntrackEntry[]; total: number } {
  const want = instanceIndex(v, instance);
  const ct = v.ct, pool = ct.pool;
  const entries: ConntrackEntry[] = [];
  let total = 0;
  for (let f = 0; f < pool.max; f++) {
    if (pool.live[f] !== 1) continue;
    const e = pool.egressInstance[f]!, i = pool.ingressInstance[f]!;
    if (want !== undefined && e !== want && i !== want) continue;
    total++;
    if (entries.length >= limit) continue;
    const k = f * FLOW_KEY_WORDS;
    const src = pool.key[k]!, dst = pool.key[k + 1]!, ports = pool.key[k + 2]! >>> 0, proto = pool.key[k + 3]! & 0xff;
    const sport = ports >>> 16, dport = ports & 0xffff;
    const hasPorts = proto === PROTO_TCP || proto === PROTO_UDP;
    const nat = natOf(v, src, dst, sport, dport, proto);
    entries.push({
      table: 'conntrack',
      instance: v.instanceNames[e !== NO_INSTANCE ? e : i] ?? null,
      proto: protoName(proto),
      src: formatIpv4(src),
      dst: formatIpv4(dst),
      sport: hasPorts ? sport : null,
      dport: hasPorts ? dport : null,
      state: stateOf(ct, f),
      idleSecondsLeft: Math.max(0, Math.round((ct.deadlineMs(f) - nowMs) / 100) / 10),
      tracking: trackingOf(v, f),
      packets: pool.packets[f * 2]! + pool.packets[f * 2 + 1]!,
      bytes: pool.bytes[f * 2]! + pool.bytes[f * 2 + 1]!,
      ...(nat !== undefined ? { nat } : {}),
    });
  }
  return { entries, total };
}

/**
 * Removes the entries of an instance (every entry without one), and the NAT
 * gateway sessions its address opened (every session without one). Returns
 * how many entries and sessions went.
 */
export function flushConntrack(v: ConntrackView, instance: string | undefined, instanceIp: number | undefined): number {
  const want = instanceIndex(v, instance);
  const ct = v.ct, pool = ct.pool;
  let n = 0;
  for (let f = 0; f < pool.max; f++) {
    if (pool.live[f] !== 1) continue;
    if (want !== undefined && pool.egressInstance[f] !== want && pool.ingressInstance[f] !== want) continue;
    ct.remove(f);
    n++;
  }
  for (const nat of v.nats) {
    const sp = nat.sessions.pool;
    for (let f = 0; f < sp.max; f++) {
      if (sp.live[f] !== 1) continue;
      if (want !== undefined && (sp.key[f * FLOW_KEY_WORDS]! >>> 0) !== ((instanceIp ?? 0) >>> 0)) continue;
      nat.removeSession(f);
      n++;
    }
  }
  return n;
}
