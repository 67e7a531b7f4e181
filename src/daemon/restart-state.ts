/**
 * What a restart keeps (`state.path`, docs/config.md#state): at a clean stop
 * (SIGTERM, SIGINT) the daemon saves its connection state, and the next
 * start continues from it, so established connections carry on instead of
 * being dropped or reset:
 *
 *   conntrack      every tracked flow (keys, zones, the ENIs that own it and
 *                  its tracking flags, TCP state, timeout class, idle time)
 *   nat:<name>     each NAT gateway's sessions with their allocated ports,
 *                  port cursor and per-destination counts
 *   esp            each ESP SA's SPIs, algorithm, outbound sequence number
 *                  (advanced by ESP_SEQ_MARGIN) and replay window
 *   ike            each tunnel's IKE SA (SPIs, SK_d/SK_a/SK_e/SK_p, message
 *                  IDs both ways, the peer's endpoint, timers) and the
 *                  CHILD_SAs it owns with their ESP keys
 *
 * Times are saved relative to the stop and put back on the new process's
 * monotonic clock, aged by the wall-clock time the daemon was down. A start
 * restores only when the configuration still gives the state its meaning
 * (the fingerprint: instances and their order, NAT gateways, VPN
 * connections and the identity of their secrets, conntrack.max); otherwise,
 * or when the file is corrupt, truncated or not a state file, it logs why
 * and starts empty. The file is deleted once read, before anything in it is
 * used, so a crash later never brings back stale state. A crash writes
 * nothing: the next start is empty and connections are dropped as before.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { VpcConfig } from '../control/config-types.js';
import type { Topology } from '../control/topology.js';
import type { Conntrack } from '../conntrack/conntrack.js';
import { FLOW_RECORD_BYTES, decodeFlows } from '../conntrack/flow-state.js';
import { decodeSavedEspSa, type SavedEspSa } from '../ipsec/sa-table.js';
import { SavedStateError, savedArray, savedInt, savedObject, savedString } from '../lib/saved-fields.js';
import type { NatGatewayState } from '../nat/nat-gateway.js';
import type { SavedTunnel } from '../vpn/manager.js';
import { StateFileError, readStateFile, removeStateFile, writeStateFile } from './state-file.js';
import type { VpnGlue } from './vpn-glue.js';

/** Outbound ESP sequence numbers resume this far past the last one sent. */
export const ESP_SEQ_MARGIN = 65_536;
/** Room in a state file for everything but the flow records (header, IKE and ESP JSON). */
const FIXED_ALLOWANCE_BYTES = 16 << 20;
const MAX_TUNNELS = 4096;

/** The daemon's state a restart keeps, and what gives it meaning. */
export interface RestartParts {
  readonly cfg: VpcConfig;
  readonly topo: Topology;
  readonly ct: Conntrack;
  readonly nats: readonly NatGatewayState[];
  readonly vpn: VpnGlue;
  /** Policy epoch restored flows get. */
  readonly epoch: number;
}

/**
 * The parts of the configuration the state depends on, each as a short
 * digest: flows name instances by index (their order), NAT sessions belong
 * to a gateway's address, SAs to a connection and its secrets, and every
 * table is sized by conntrack.max.
 */
export function stateFingerprint(p: Pick<RestartParts, 'cfg' | 'topo' | 'vpn'>): Record<string, string> {
  const d = (v: unknown): string => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);
  const { cfg, topo } = p;
  return {
    vpc: d([cfg.vpc.name, cfg.vpc.cidr]),
    instances: d(topo.instanceNames.map((n) => [n, cfg.instances.get(n)?.ip])),
    natGateways: d(topo.natNames.map((n) => [n, cfg.natGateways.get(n)?.ip, cfg.natGateways.get(n)?.publicIp ?? null])),
    vpnConnections: d([p.vpn.manager?.identity() ?? null, cfg.customerGateway?.wan.ip ?? null]),
    conntrackMax: String(cfg.conntrack.max),
  };
}

/**
 * At a clean stop, with the data plane stopped: writes the state file.
 * Returns the tunnels whose IKE state was saved (`connection#tunnel`): the
 * caller must not send DELETE for them. Logs what it saved or why not;
 * never throws.
 */
export function saveRestartState(p: RestartParts, log: Logger): Set<string> {
  const path = p.cfg.state.path;
  if (!p.cfg.state.enabled) return new Set();
  const t0 = performance.now();
  try {
    const now = performance.now();
    const sections: [string, Uint8Array][] = [['conntrack', p.ct.serialize(now)]];
    let natSessions = 0;
    for (const n of p.nats) {
      sections.push([`nat:${n.name}`, n.serialize(now)]);
      natSessions += n.sessions.entries;
    }
    const vpn = p.vpn.saveState(ESP_SEQ_MARGIN);
    sections.push(['esp', json(vpn.esp)], ['ike', json(vpn.tunnels)]);
    const bytes = writeStateFile(path, { vpc: p.cfg.vpc.name, fingerprint: JSON.stringify(stateFingerprint(p)), savedAtMs: Date.now() }, sections);
    log.info({ event: 'state-saved', path, bytes, flows: p.ct.entries, natSessions, espSas: vpn.esp.length, ikeSas: vpn.tunnels.length,
      ...(vpn.unsaved.length > 0 ? { unsavedTunnels: vpn.unsaved } : {}), ms: Math.round(performance.now() - t0) },
    `state saved to ${path}: the next start continues these connections`);
    return new Set(vpn.tunnels.map((x) => `${x.connection}#${x.tunnel}`));
  } catch (e) {
    log.error({ event: 'state-save-failed', path, error: (e as Error).message }, 'cannot save the state: the next start begins empty');
    return new Set();
  }
}

/**
 * At start, before the data plane and the VPN sessions start: restores the
 * state file if there is one and it fits this configuration; deletes it in
 * any case. Logs what it restored or why not; never throws.
 */
export function restoreRestartState(p: RestartParts, log: Logger): void {
  const path = p.cfg.state.path;
  const refuse = (reason: string): void => {
    log.warn({ event: 'state-not-restored', path, reason }, `state file not restored (${reason}): starting with no connections`);
  };
  let file;
  try {
    file = readStateFile(path, maxStateBytes(p));
  } catch (e) {
    forget(path, log);
    return refuse(e instanceof StateFileError ? e.message : `unreadable: ${(e as Error).message}`);
  }
  if (file === undefined) return;
  if (!forget(path, log)) return refuse('the file could not be deleted, so a later crash could bring it back');
  if (!p.cfg.state.enabled) return refuse('state.enabled is false');
  const { header, sections } = file;
  if (header.vpc !== p.cfg.vpc.name) return refuse(`it is the state of VPC ${JSON.stringify(header.vpc)}`);
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(header.fingerprint) as Record<string, unknown>;
  } catch {
    return refuse('its fingerprint is not readable');
  }
  const now = stateFingerprint(p);
  const changed = Object.keys(now).filter((k) => saved[k] !== now[k]);
  if (changed.length > 0) return refuse(`the configuration changed since it was saved: ${changed.join(', ')}`);
  const ageMs = Math.max(0, Date.now() - header.savedAtMs);
  const baseMs = performance.now() - ageMs;
  let decoded;
  try {
    decoded = decodeSections(p, sections);
  } catch (e) {
    return refuse((e as Error).message);
  }
  let natSessions = 0;
  try {
    p.ct.restore(decoded.flows, baseMs, p.epoch);
    for (const n of p.nats) natSessions += n.restore(sections.get(`nat:${n.name}`)!, baseMs);
  } catch (e) {
    p.ct.clear();
    for (const n of p.nats) n.clear();
    return refuse((e as Error).message);
  }
  const tunnels = p.vpn.restore(decoded.tunnels, decoded.esp, baseMs);
  log.info({ event: 'state-restored', path, ageMs, flows: p.ct.entries, natSessions, ikeSas: tunnels, savedIkeSas: decoded.tunnels.length },
    `state restored from ${path}: ${p.ct.entries} flows, ${natSessions} NAT sessions, ${tunnels} VPN tunnels continue`);
}

/** The largest state file this configuration can have written. */
function maxStateBytes(p: RestartParts): number {
  let flows = p.cfg.conntrack.max;
  for (const n of p.nats) flows += n.sessions.max;
  return FIXED_ALLOWANCE_BYTES + flows * (FLOW_RECORD_BYTES + 12);
}

/** Every section parsed and checked, nothing applied yet. Throws SavedStateError. */
function decodeSections(p: RestartParts, sections: ReadonlyMap<string, Uint8Array>): {
  flows: ReturnType<typeof decodeFlows>; tunnels: SavedTunnel[]; esp: SavedEspSa[];
} {
  const need = (name: string): Uint8Array => {
    const b = sections.get(name);
    if (b === undefined) throw new SavedStateError(`no ${name} section`);
    return b;
  };
  const flows = decodeFlows(need('conntrack'), { max: p.ct.max, instances: p.topo.instanceNames.length });
  for (const n of p.nats) need(`nat:${n.name}`);
  const esp = savedArray(parseJson(need('esp'), 'esp'), 'esp', MAX_TUNNELS * 8).map(decodeSavedEspSa);
  const tunnels = savedArray(parseJson(need('ike'), 'ike'), 'ike', MAX_TUNNELS).map((x): SavedTunnel => {
    const o = savedObject(x, 'tunnel');
    return { connection: savedString(o, 'connection', 255), tunnel: savedInt(o, 'tunnel', 0, 255), session: o.session };
  });
  return { flows, tunnels, esp };
}

function json(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

function parseJson(b: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  } catch {
    throw new SavedStateError(`${what} section is not JSON`);
  }
}

/** Deletes the state file; false (logged) when it stays. */
function forget(path: string, log: Logger): boolean {
  try {
    removeStateFile(path);
    return true;
  } catch (e) {
    log.error({ event: 'state-delete-failed', path, error: (e as Error).message }, 'cannot delete the state file');
    return false;
  }
}
