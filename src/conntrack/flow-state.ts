/**
 * The saved form of a Conntrack's flows (the restart state file's conntrack
 * and NAT sections): one fixed-size little-endian record per live flow,
 * times relative to the save instant, so a new process puts them on its own
 * monotonic clock. Conntrack.serialize() / Conntrack.restore() use it.
 *
 *   section := u32 RECORD_BYTES, u32 count, count × record
 *   record  := orig key (4 × i32, FlowKeyTable layout), reply key (4 × i32),
 *              egressInstance i32, ingressInstance i32, natAddr u32, natPort u16,
 *              proto u8, tcpState u8, udpTransactions u8, timeoutClass u8,
 *              flags u8 (tracking and direction bits; charges are recomputed), pad u8,
 *              idleMs f64 (since the last packet), ageMs f64 (since created),
 *              packets orig/reply f64 × 2, bytes orig/reply f64 × 2
 *
 * decodeFlows() checks every field against the table it will go into
 * (instance indices, zones, protocol and key agreement, timeout class and
 * TCP state) and throws SavedStateError on the first that does not fit.
 * Control plane only.
 */
import { SavedStateError } from '../lib/saved-fields.js';
import { TIMEOUT_CLASS_COUNT, TimeoutClass } from './expiry.js';
import { FLOW_KEY_WORDS, FlowFlag, NO_INSTANCE, type FlowPool } from './flow-pool.js';
import { TcpState, tcpTimeoutClass } from './tcp-state.js';

export const FLOW_RECORD_BYTES = 100;
const HEADER_BYTES = 8;
/** Flag bits a record keeps; the allowance charges are recomputed on restore. */
const SAVED_FLAGS = FlowFlag.TrackedEgress | FlowFlag.TrackedIngress | FlowFlag.SeenReply | FlowFlag.LastDirReply | FlowFlag.OneKey;
const PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;

/** Decoded records, one entry per flow (struct of arrays). */
export interface SavedFlows {
  readonly count: number;
  /** FLOW_KEY_WORDS per flow. */
  readonly key: Int32Array;
  readonly egress: Int32Array;
  readonly ingress: Int32Array;
  readonly natAddr: Uint32Array;
  readonly natPort: Uint16Array;
  readonly proto: Uint8Array;
  readonly tcpState: Uint8Array;
  readonly udpTransactions: Uint8Array;
  readonly cls: Uint8Array;
  readonly flags: Uint8Array;
  readonly idleMs: Float64Array;
  readonly ageMs: Float64Array;
  /** 2 per flow (orig, reply). */
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
}

/** Bytes of a section holding `count` flows. */
export function flowSectionBytes(count: number): number {
  return HEADER_BYTES + count * FLOW_RECORD_BYTES;
}

/** The live flows of `pool` at nowMs (monotonic), in index order. */
export function encodeFlows(pool: FlowPool, nowMs: number): Uint8Array {
  const out = new Uint8Array(flowSectionBytes(pool.count));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FLOW_RECORD_BYTES, true);
  dv.setUint32(4, pool.count, true);
  let o = HEADER_BYTES;
  for (let f = 0; f < pool.max; f++) {
    if (pool.live[f] !== 1) continue;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) dv.setInt32(o + w * 4, pool.key[f * FLOW_KEY_WORDS + w], true);
    dv.setInt32(o + 32, pool.egressInstance[f], true);
    dv.setInt32(o + 36, pool.ingressInstance[f], true);
    dv.setUint32(o + 40, pool.natAddr[f], true);
    dv.setUint16(o + 44, pool.natPort[f], true);
    out[o + 46] = pool.proto[f];
    out[o + 47] = pool.tcpState[f];
    out[o + 48] = pool.udpTransactions[f];
    out[o + 49] = pool.timeoutClass[f];
    out[o + 50] = pool.flags[f] & SAVED_FLAGS;
    dv.setFloat64(o + 52, Math.max(0, nowMs - pool.lastSeenMs[f]), true);
    dv.setFloat64(o + 60, Math.max(0, nowMs - pool.createdMs[f]), true);
    dv.setFloat64(o + 68, pool.packets[f * 2], true);
    dv.setFloat64(o + 76, pool.packets[f * 2 + 1], true);
    dv.setFloat64(o + 84, pool.bytes[f * 2], true);
    dv.setFloat64(o + 92, pool.bytes[f * 2 + 1], true);
    o += FLOW_RECORD_BYTES;
  }
  return out;
}

/** What the records must fit: the table's size and the instance count of the configuration. */
export interface FlowLimits {
  readonly max: number;
  readonly instances: number;
}

/** Parses and checks a section written by encodeFlows. Throws SavedStateError. */
export function decodeFlows(bytes: Uint8Array, limits: FlowLimits): SavedFlows {
  if (bytes.length < HEADER_BYTES) throw new SavedStateError(`flow section of ${bytes.length} bytes is truncated`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const recordBytes = dv.getUint32(0, true);
  const count = dv.getUint32(4, true);
  if (recordBytes !== FLOW_RECORD_BYTES) throw new SavedStateError(`flow records of ${recordBytes} bytes, this version reads ${FLOW_RECORD_BYTES}`);
  if (count > limits.max) throw new SavedStateError(`${count} flows saved, the table holds ${limits.max}`);
  if (bytes.length !== flowSectionBytes(count)) throw new SavedStateError(`flow section of ${bytes.length} bytes for ${count} flows (expected ${flowSectionBytes(count)})`);
  const d: SavedFlows = {
    count, key: new Int32Array(count * FLOW_KEY_WORDS), egress: new Int32Array(count), ingress: new Int32Array(count),
    natAddr: new Uint32Array(count), natPort: new Uint16Array(count), proto: new Uint8Array(count), tcpState: new Uint8Array(count),
    udpTransactions: new Uint8Array(count), cls: new Uint8Array(count), flags: new Uint8Array(count), idleMs: new Float64Array(count),
    ageMs: new Float64Array(count), packets: new Float64Array(count * 2), bytes: new Float64Array(count * 2),
  };
  let o = HEADER_BYTES;
  for (let i = 0; i < count; i++, o += FLOW_RECORD_BYTES) {
    for (let w = 0; w < FLOW_KEY_WORDS; w++) d.key[i * FLOW_KEY_WORDS + w] = dv.getInt32(o + w * 4, true);
    d.egress[i] = dv.getInt32(o + 32, true);
    d.ingress[i] = dv.getInt32(o + 36, true);
    d.natAddr[i] = dv.getUint32(o + 40, true);
    d.natPort[i] = dv.getUint16(o + 44, true);
    d.proto[i] = bytes[o + 46];
    d.tcpState[i] = bytes[o + 47];
    d.udpTransactions[i] = bytes[o + 48];
    d.cls[i] = bytes[o + 49];
    d.flags[i] = bytes[o + 50];
    d.idleMs[i] = dv.getFloat64(o + 52, true);
    d.ageMs[i] = dv.getFloat64(o + 60, true);
    for (let k = 0; k < 2; k++) {
      d.packets[i * 2 + k] = dv.getFloat64(o + 68 + k * 8, true);
      d.bytes[i * 2 + k] = dv.getFloat64(o + 84 + k * 8, true);
    }
    const problem = recordProblem(d, i, limits);
    if (problem !== undefined) throw new SavedStateError(`flow record ${i}: ${problem}`);
  }
  return d;
}

function instanceOk(x: number, n: number): boolean {
  return x === NO_INSTANCE || (x >= 0 && x < n);
}

/** Why record i cannot be a flow of a table with `limits`, or undefined. */
function recordProblem(d: SavedFlows, i: number, limits: FlowLimits): string | undefined {
  const k = i * FLOW_KEY_WORDS;
  const proto = d.proto[i];
  const fl = d.flags[i];
  const zoneOrig = d.key[k + 3] >>> 8, zoneReply = d.key[k + 7] >>> 8;
  if ((d.key[k + 3] & 0xff) !== proto || (d.key[k + 7] & 0xff) !== proto) return 'protocol differs from its keys';
  if (zoneOrig !== zoneReply || zoneOrig > limits.instances) return `zone ${zoneOrig}/${zoneReply} outside 0..${limits.instances}`;
  const ports = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP;
  if (!ports && (d.key[k + 2] !== 0 || d.key[k + 6] !== 0)) return 'ports on a protocol tracked without them';
  if (!instanceOk(d.egress[i], limits.instances) || !instanceOk(d.ingress[i], limits.instances)) return 'instance index out of range';
  if ((fl & ~SAVED_FLAGS) !== 0) return `unknown flag bits ${fl.toString(16)}`;
  if ((fl & (FlowFlag.TrackedEgress | FlowFlag.TrackedIngress)) === 0) return 'tracked by no ENI';
  let same = true;
  for (let w = 0; w < 4; w++) if (d.key[k + w] !== d.key[k + 4 + w]) same = false;
  if (same !== ((fl & FlowFlag.OneKey) !== 0)) return 'one-key flag disagrees with the keys';
  const cls = d.cls[i];
  if (cls >= TIMEOUT_CLASS_COUNT) return `timeout class ${cls}`;
  if (proto === PROTO_TCP) {
    if (d.tcpState[i] > TcpState.Closed) return `TCP state ${d.tcpState[i]}`;
    if (cls !== tcpTimeoutClass(d.tcpState[i])) return 'timeout class disagrees with the TCP state';
  } else if (d.tcpState[i] !== 0) {
    return 'TCP state on a flow that is not TCP';
  } else if (proto === PROTO_UDP ? cls !== TimeoutClass.Udp && cls !== TimeoutClass.UdpStream
    : cls !== (proto === PROTO_ICMP ? TimeoutClass.Icmp : TimeoutClass.Other)) {
    return `timeout class ${cls} for protocol ${proto}`;
  }
  if (d.natPort[i] !== 0 && d.natPort[i] < 1024) return `NAT port ${d.natPort[i]}`;
  for (const t of [d.idleMs[i], d.ageMs[i], d.packets[i * 2], d.packets[i * 2 + 1], d.bytes[i * 2], d.bytes[i * 2 + 1]]) {
    if (!Number.isFinite(t) || t < 0) return 'a time or counter that is negative or not finite';
  }
  return undefined;
}
