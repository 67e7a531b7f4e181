/**
 * The daemon's Prometheus families: every value is read from the data plane's
 * typed arrays (or the control plane's counters) at scrape time. Counters of a
 * replaced snapshot are folded into the same label set (PolicyCounterHistory),
 * so a reload never makes a counter go back.
 */
import type { Registry } from 'prom-client';
import type { CompiledPolicy } from '../control/compile.js';
import type { Conntrack } from '../conntrack/conntrack.js';
import { CtCounter } from '../conntrack/conntrack.js';
import { u32ToIp } from '../wire/addr.js';
import { NatCounter } from '../nat/nat-gateway.js';
import { DROP_REASON_COUNT, DROP_REASON_LABELS } from '../pipeline/batch.js';
import { PortRole } from '../pipeline/ports.js';
import type { SgHits } from '../conntrack/sg-hits.js';
import { version } from '../cli/version.js';
import type { Counters } from '../pipeline/counters.js';
import type { Dataplane } from '../pipeline/dataplane.js';
import { SgCounter, type NaclHits, type SecurityCounters, type SecurityStage } from '../conntrack/sg-stage.js';
import { pulledCounter, pulledGauge } from '../telemetry/metrics.js';
import { VpnCounter } from '../vpn/vpn-path.js';
import type { VpnManager } from '../vpn/manager.js';
import type { FaultGuard } from './guard.js';
import { Slot } from './health.js';
import type { ObserveHub } from '../observe/observe-hub.js';
import type { ServicesGlue } from './services-glue.js';

/** What the metrics read; the daemon provides it. */
export interface MetricsSource {
  readonly counters: Counters;
  readonly dp: Dataplane;
  readonly ct: Conntrack;
  readonly security: SecurityStage;
  readonly policy: CompiledPolicy;
  readonly epoch: number;
  readonly reloads: number;
  readonly reloadFailures: number;
  readonly vpnManager: VpnManager | undefined;
  readonly guard: FaultGuard;
  /** The watchdog's shared health slots. */
  readonly health: Float64Array;
  /** Frames of batches dropped whole after a contained failure. */
  readonly failedBatchFrames: number;
  ports(): Iterable<{ readonly id: number; readonly ifname: string }>;
  portStats(): readonly { readonly name: string; readonly kernelDrops: number }[];
  flowLogCounters(): { records: number; skippedPackets: number; lostRecords: number; rotations: number };
  /** Observers of the event ring (vpcd observe, /live). */
  readonly observe: ObserveHub;
  readonly services: ServicesGlue;
}

function k(...parts: string[]): string {
  return parts.join('\u0000');
}

function naclHitSamples(h: NaclHits, p: CompiledPolicy): Map<string, number> {
  const m = new Map<string, number>();
  p.nacls.forEach((n, i) => {
    for (const [direction, compiled, hits] of [['inbound', n.inbound, h.inbound[i]!], ['outbound', n.outbound, h.outbound[i]!]] as const) {
      for (let s = 0; s < compiled.count; s++) {
        const key = k(n.name, direction, String(compiled.ruleNumber[s]), compiled.allow[s] === 1 ? 'allow' : 'deny');
        m.set(key, (m.get(key) ?? 0) + hits[s]!);
      }
      const star = k(n.name, direction, '*', 'deny');
      m.set(star, (m.get(star) ?? 0) + hits[compiled.count]!);
    }
  });
  return m;
}

function sgVerdictSamples(v: Float64Array, p: CompiledPolicy): Map<string, number> {
  const m = new Map<string, number>();
  p.instanceNames.forEach((name, i) => {
    m.set(k(name, 'egress', 'allow'), v[i * 4 + SgCounter.EgressAllow]!);
    m.set(k(name, 'egress', 'deny'), v[i * 4 + SgCounter.EgressDeny]!);
    m.set(k(name, 'ingress', 'allow'), v[i * 4 + SgCounter.IngressAllow]!);
    m.set(k(name, 'ingress', 'deny'), v[i * 4 + SgCounter.IngressDeny]!);
  });
  return m;
}

/** Hits per (security group, direction, rule's place in the group's list), summed over the instances that carry the group. */
/** Hits per (security group, direction, rule position), keyed by the three joined with NUL (see sgRuleHitRows). */
export function sgRuleHitSamples(h: SgHits, p: CompiledPolicy): Map<string, number> {
  const m = new Map<string, number>();
  p.instanceNames.forEach((_, i) => {
    for (const [direction, set, hits] of [['ingress', p.sgIngress[i], h.ingress[i]], ['egress', p.sgEgress[i], h.egress[i]]] as const) {
      if (set === undefined || hits === undefined) continue;
      for (let s = 0; s < set.count; s++) {
        const key = k(set.groupNames[set.originGroup[s]!] ?? '?', direction, String(set.originRule[s]));
        m.set(key, (m.get(key) ?? 0) + hits[s]!);
      }
    }
  });
  return m;
}

/** sgRuleHitSamples as rows (the live page's table). */
export function sgRuleHitRows(h: SgHits, p: CompiledPolicy): { group: string; direction: string; rule: number; hits: number }[] {
  const rows: { group: string; direction: string; rule: number; hits: number }[] = [];
  for (const [key, hits] of sgRuleHitSamples(h, p)) {
    const [group, direction, rule] = key.split('\u0000');
    rows.push({ group: group ?? '?', direction: direction ?? '?', rule: Number(rule), hits });
  }
  return rows;
}

/** Drops per (instance, reason); only the pairs that dropped something (bounded: instances x reasons). */
function eniDropSamples(d: Float64Array, p: CompiledPolicy): Map<string, number> {
  const m = new Map<string, number>();
  p.instanceNames.forEach((name, i) => {
    for (let r = 1; r < DROP_REASON_COUNT; r++) {
      const v = d[i * DROP_REASON_COUNT + r] ?? 0;
      if (v > 0) m.set(k(name, DROP_REASON_LABELS[r] ?? String(r)), v);
    }
  });
  return m;
}

function add(into: Map<string, number>, from: Map<string, number>): void {
  for (const [key, v] of from) into.set(key, (into.get(key) ?? 0) + v);
}

/** Current samples plus the folded ones of replaced snapshots, split back into label values. */
function withBase(cur: Map<string, number>, base: Map<string, number>): [string[], number][] {
  const keys = new Set([...cur.keys(), ...base.keys()]);
  return [...keys].map((key) => [key.split('\u0000'), (cur.get(key) ?? 0) + (base.get(key) ?? 0)]);
}

/** Counts of replaced snapshots, by label (Prometheus counters never go back). */
export class PolicyCounterHistory {
  readonly naclHitBase = new Map<string, number>();
  readonly sgVerdictBase = new Map<string, number>();
  readonly sgRuleHitBase = new Map<string, number>();
  readonly eniDropBase = new Map<string, number>();

  /** Keeps the counts of a replaced snapshot (`policy` is the one they were counted under). */
  fold(old: SecurityCounters, policy: CompiledPolicy): void {
    add(this.naclHitBase, naclHitSamples(old.naclHits, policy));
    add(this.sgVerdictBase, sgVerdictSamples(old.sgVerdicts, policy));
    add(this.sgRuleHitBase, sgRuleHitSamples(old.sgHits, policy));
    add(this.eniDropBase, eniDropSamples(old.eniDrops, policy));
  }
}

/** What an interface serves: the instance on its other end, or the gateway(s) behind the uplink / Direct Connect link. */
function portLabels(s: MetricsSource, id: number): { vpc_instance: string; gateway: string } {
  const ports = s.dp.ports, topo = s.policy.topology, cfg = topo.config;
  const role = ports.role[id];
  if (role === PortRole.Instance) return { vpc_instance: topo.instanceNames[ports.index[id]!] ?? '', gateway: '' };
  if (role === PortRole.Uplink || role === PortRole.Wan) {
    return { vpc_instance: '', gateway: cfg.internetGateway?.name ?? cfg.customerGateway?.name ?? 'uplink' };
  }
  if (role === PortRole.DirectConnect) return { vpc_instance: '', gateway: cfg.vpnGateway?.name ?? 'direct-connect' };
  return { vpc_instance: '', gateway: '' };
}

export function registerMetrics(registry: Registry, s: MetricsSource, history: PolicyCounterHistory): void {
  const buildVersion = version();
  const portsByName = () => [...s.ports()];
  pulledGauge(registry, 'vpcd_build_info', 'Always 1; the labels name the build: vpcd version and Node.js version.', ['version', 'node'],
    (emit) => emit({ version: buildVersion, node: process.version }, 1));
  const portLabelNames = ['interface', 'vpc_instance', 'gateway', 'direction'];
  pulledCounter(registry, 'vpcd_packets_total', 'Frames seen on interfaces vpcd owns; vpc_instance: the instance the interface serves, gateway: the gateway(s) behind the uplink or Direct Connect link.',
    portLabelNames, (emit) => {
      for (const p of portsByName()) {
        const l = portLabels(s, p.id);
        emit({ interface: p.ifname, ...l, direction: 'rx' }, s.counters.port[p.id * 4]);
        emit({ interface: p.ifname, ...l, direction: 'tx' }, s.counters.port[p.id * 4 + 2]);
      }
    });
  pulledCounter(registry, 'vpcd_bytes_total', 'Bytes seen on interfaces vpcd owns (Ethernet frames, with the virtio-net header); labels as vpcd_packets_total.',
    portLabelNames, (emit) => {
      for (const p of portsByName()) {
        const l = portLabels(s, p.id);
        emit({ interface: p.ifname, ...l, direction: 'rx' }, s.counters.port[p.id * 4 + 1]);
        emit({ interface: p.ifname, ...l, direction: 'tx' }, s.counters.port[p.id * 4 + 3]);
      }
    });
  pulledCounter(registry, 'vpcd_eni_drops_total', 'Frames dropped, per instance ENI and reason: the sending instance\'s, or the receiving ENI whose security group or subnet NACL refused it (series appear at their first drop).',
    ['vpc_instance', 'reason'], (emit) => {
      for (const [[vpc_instance, reason], v] of withBase(eniDropSamples(s.security.eniDrops, s.policy), history.eniDropBase)) {
        emit({ vpc_instance: vpc_instance!, reason: reason! }, v);
      }
    });
  pulledCounter(registry, 'vpcd_drops_total', 'Frames dropped, by reason.', ['reason'], (emit) => {
    for (let r = 1; r < DROP_REASON_LABELS.length; r++) emit({ reason: DROP_REASON_LABELS[r]! }, s.counters.drops[r]);
  });
  registerServiceMetrics(registry, s);
  pulledCounter(registry, 'vpcd_batches_total', 'Batches processed by the data plane.', [], (emit) => emit({}, s.counters.batches));
  pulledCounter(registry, 'vpcd_kernel_drops_total', 'Frames the kernel dropped before vpcd read them (socket buffer full).', ['interface'], (emit) => {
    for (const st of s.portStats()) emit({ interface: st.name }, st.kernelDrops);
  });
  pulledCounter(registry, 'vpcd_nacl_rule_hits_total', 'Packets decided by each network ACL rule (rule="*": the implicit deny).',
    ['nacl', 'direction', 'rule', 'action'], (emit) => {
      const cur = naclHitSamples(s.security.naclHits, s.policy);
      const keys = new Set([...cur.keys(), ...history.naclHitBase.keys()]);
      for (const k of keys) {
        const [nacl, direction, rule, action] = k.split('\u0000') as [string, string, string, string];
        emit({ nacl, direction, rule, action }, (cur.get(k) ?? 0) + (history.naclHitBase.get(k) ?? 0));
      }
    });
  pulledCounter(registry, 'vpcd_sg_verdicts_total', 'New-flow decisions by security groups, per instance and direction.',
    ['vpc_instance', 'direction', 'verdict'], (emit) => {
      for (const [[vpc_instance, direction, verdict], v] of withBase(sgVerdictSamples(s.security.sgVerdicts, s.policy), history.sgVerdictBase)) {
        emit({ vpc_instance: vpc_instance!, direction: direction!, verdict: verdict! }, v);
      }
    });
  pulledCounter(registry, 'vpcd_sg_rule_hits_total', 'Packets allowed by each security-group rule (rule: its place in the group\'s ingress or egress list, from 0), summed over the instances that carry the group; refusals are in vpcd_sg_verdicts_total.',
    ['security_group', 'direction', 'rule'], (emit) => {
      for (const [[security_group, direction, rule], v] of withBase(sgRuleHitSamples(s.security.sgHits, s.policy), history.sgRuleHitBase)) {
        emit({ security_group: security_group!, direction: direction!, rule: rule! }, v);
      }
    });
  pulledCounter(registry, 'vpcd_flows_total', 'New flows, by verdict.', ['verdict'], (emit) => {
    emit({ verdict: 'accept' }, s.security.flowsAccepted);
    emit({ verdict: 'reject' }, s.security.flowsRejected);
  });
  pulledGauge(registry, 'vpcd_top_denied_sources', 'Packets refused by security groups or NACLs, for the 20 most refused source addresses (Space-Saving estimate since start).',
    ['source'], (emit) => {
      for (const t of s.security.deniedSources.top(20)) emit({ source: u32ToIp(t.key) }, t.count);
    });
  pulledGauge(registry, 'vpcd_conntrack_entries', 'Tracked flows now.', [], (emit) => emit({}, s.ct.entries));
  pulledGauge(registry, 'vpcd_conntrack_max', 'Tracked-flow limit (conntrack.max).', [], (emit) => emit({}, s.ct.max));
  pulledGauge(registry, 'vpcd_conntrack_allowance_available', 'Flows that can still be tracked (AWS conntrack_allowance_available).', [], (emit) => emit({}, s.ct.allowanceAvailable));
  pulledCounter(registry, 'vpcd_conntrack_allowance_exceeded_total', 'New flows dropped because the tracked-flow table was full (AWS conntrack_allowance_exceeded).', [],
    (emit) => emit({}, s.ct.allowanceExceeded));
  pulledCounter(registry, 'vpcd_conntrack_eni_allowance_exceeded_total', 'New flows refused because the ENI was at its conntrackAllowance (AWS conntrack_allowance_exceeded, per ENI).',
    ['vpc_instance'], (emit) => s.policy.topology.instanceNames.forEach((n, i) => emit({ vpc_instance: n }, s.ct.allowanceExceededPerEni[i] ?? 0)));
  pulledGauge(registry, 'vpcd_conntrack_eni_entries', 'Tracked flows counted against each ENI.', ['vpc_instance'],
    (emit) => s.policy.topology.instanceNames.forEach((n, i) => emit({ vpc_instance: n }, s.ct.entriesPerEni[i] ?? 0)));
  pulledCounter(registry, 'vpcd_conntrack_expired_total', 'Tracked flows removed after their idle timeout.', [], (emit) => emit({}, s.ct.counters[CtCounter.Expired]));
  pulledCounter(registry, 'vpcd_flow_log_records_total', 'Flow-log records written (OK, NODATA and SKIPDATA lines).', [], (emit) => emit({}, s.flowLogCounters().records));
  pulledCounter(registry, 'vpcd_flow_log_skipped_packets_total', 'Packets not recorded in flow logs: their ENI used its flowLogs.recordsPerEni quota for the interval (SKIPDATA).', [],
    (emit) => emit({}, s.flowLogCounters().skippedPackets));
  pulledCounter(registry, 'vpcd_flow_log_lost_records_total', 'Flow-log records lost to a failed write.', [], (emit) => emit({}, s.flowLogCounters().lostRecords));
  pulledCounter(registry, 'vpcd_flow_log_rotations_total', 'Flow-log files rotated at flowLogs.maxBytes.', [], (emit) => emit({}, s.flowLogCounters().rotations));
  const nat = (counter: number) => (emit: (l: Record<string, string>, v: number) => void) => {
    for (const g of s.dp.nats) emit({ gateway: g.name }, g.counters[counter]!);
  };
  pulledGauge(registry, 'vpcd_nat_gateway_active_connections', 'Concurrent TCP connections through the NAT gateway (CloudWatch ActiveConnectionCount).', ['gateway'],
    (emit) => { for (const g of s.dp.nats) emit({ gateway: g.name }, g.activeTcp()); });
  pulledGauge(registry, 'vpcd_nat_gateway_sessions', 'Translations held by the NAT gateway (TCP, UDP, ICMP).', ['gateway'],
    (emit) => { for (const g of s.dp.nats) emit({ gateway: g.name }, g.sessions.entries); });
  pulledCounter(registry, 'vpcd_nat_gateway_connection_attempts_total', 'Connection attempts through the NAT gateway (ConnectionAttemptCount).', ['gateway'], nat(NatCounter.ConnectionAttempts));
  pulledCounter(registry, 'vpcd_nat_gateway_connections_established_total', 'Connections established through the NAT gateway (ConnectionEstablishedCount).', ['gateway'], nat(NatCounter.ConnectionsEstablished));
  pulledCounter(registry, 'vpcd_nat_gateway_error_port_allocation_total', 'Times no source port could be allocated (ErrorPortAllocation).', ['gateway'], nat(NatCounter.ErrorPortAllocation));
  pulledCounter(registry, 'vpcd_nat_gateway_idle_timeouts_total', 'Established connections that idled out (IdleTimeoutCount).', ['gateway'], nat(NatCounter.IdleTimeouts));
  pulledCounter(registry, 'vpcd_nat_gateway_packets_dropped_total', 'Packets dropped by the NAT gateway (PacketsDropCount).', ['gateway'], nat(NatCounter.PacketsDropped));
  pulledCounter(registry, 'vpcd_nat_gateway_bytes_total', 'Bytes through the NAT gateway (BytesInFromSource, BytesOutToDestination, BytesInFromDestination, BytesOutToSource).',
    ['gateway', 'direction'], (emit) => {
      for (const g of s.dp.nats) {
        emit({ gateway: g.name, direction: 'in_from_source' }, g.counters[NatCounter.BytesInFromSource]!);
        emit({ gateway: g.name, direction: 'out_to_destination' }, g.counters[NatCounter.BytesOutToDestination]!);
        emit({ gateway: g.name, direction: 'in_from_destination' }, g.counters[NatCounter.BytesInFromDestination]!);
        emit({ gateway: g.name, direction: 'out_to_source' }, g.counters[NatCounter.BytesOutToSource]!);
      }
    });
  pulledCounter(registry, 'vpcd_nat_gateway_packets_total', 'Packets through the NAT gateway (PacketsInFromSource, PacketsOutToDestination, PacketsInFromDestination, PacketsOutToSource).',
    ['gateway', 'direction'], (emit) => {
      for (const g of s.dp.nats) {
        emit({ gateway: g.name, direction: 'in_from_source' }, g.counters[NatCounter.PacketsInFromSource]!);
        emit({ gateway: g.name, direction: 'out_to_destination' }, g.counters[NatCounter.PacketsOutToDestination]!);
        emit({ gateway: g.name, direction: 'in_from_destination' }, g.counters[NatCounter.PacketsInFromDestination]!);
        emit({ gateway: g.name, direction: 'out_to_source' }, g.counters[NatCounter.PacketsOutToSource]!);
      }
    });
  pulledCounter(registry, 'vpcd_igw_packets_total', 'Packets through the internet gateway, by direction.', ['direction'], (emit) => {
    emit({ direction: 'out' }, s.dp.igwCounters[0]!);
    emit({ direction: 'in' }, s.dp.igwCounters[2]!);
  });
  pulledCounter(registry, 'vpcd_igw_bytes_total', 'IP bytes through the internet gateway, by direction.', ['direction'], (emit) => {
    emit({ direction: 'out' }, s.dp.igwCounters[1]!);
    emit({ direction: 'in' }, s.dp.igwCounters[3]!);
  });
  pulledGauge(registry, 'vpcd_neighbor_entries', 'Addresses in the uplink neighbour table (resolved or being resolved).', [], (emit) => emit({}, s.dp.neighbors.entries()));
  pulledGauge(registry, 'vpcd_flow_log_entries', 'Flow-log records accumulating in the current interval.', [], (emit) => emit({}, s.security.flowLog?.size ?? 0));
  pulledCounter(registry, 'vpcd_neighbor_evictions_total', 'Uplink neighbour entries evicted to make room (bounded table).', [], (emit) => emit({}, s.dp.neighbors.evicted));
  pulledCounter(registry, 'vpcd_neighbor_unsolicited_arp_total', 'ARP replies on the uplink for addresses vpcd did not ask for (ignored).', [], (emit) => emit({}, s.dp.neighbors.unsolicited));
  pulledCounter(registry, 'vpcd_ike_datagrams_dropped_total', 'IKE datagrams dropped before or by their session, by reason (rate_limited, unknown_peer, malformed, refused, session_error).',
    ['reason'], (emit) => { for (const [reason, n] of Object.entries(s.vpnManager?.dropCounts() ?? {})) emit({ reason }, n); });
  pulledCounter(registry, 'vpcd_neighbor_unresolved_drops_total', 'Frames dropped waiting for an ARP resolution on the uplink.', [], (emit) => emit({}, s.dp.neighbors.dropped));
  pulledGauge(registry, 'vpcd_vpn_tunnel_state', 'VPN tunnel state: 1 up, 0 down (AWS TunnelState).', ['connection', 'tunnel'], (emit) => {
    for (const t of s.vpnManager?.tunnels ?? []) emit({ connection: t.connection, tunnel: String(t.tunnel) }, t.state === 'up' ? 1 : 0);
  });
  pulledCounter(registry, 'vpcd_vpn_tunnel_bytes_total', 'Inner (payload) bytes through a VPN tunnel: in after decryption, out before encryption (AWS TunnelDataIn/Out).',
    ['connection', 'tunnel', 'direction'], (emit) => {
      const p = s.dp.vpn;
      if (!p) return;
      for (let t = 0; t < p.tunConn.length; t++) {
        const labels = { connection: p.connNames[p.tunConn[t]!]!, tunnel: String(p.tunIndex[t]) };
        emit({ ...labels, direction: 'in' }, p.counters[t * 4 + VpnCounter.BytesIn]!);
        emit({ ...labels, direction: 'out' }, p.counters[t * 4 + VpnCounter.BytesOut]!);
      }
    });
  pulledCounter(registry, 'vpcd_vpn_tunnel_packets_total', 'Inner packets through a VPN tunnel.', ['connection', 'tunnel', 'direction'], (emit) => {
    const p = s.dp.vpn;
    if (!p) return;
    for (let t = 0; t < p.tunConn.length; t++) {
      const labels = { connection: p.connNames[p.tunConn[t]!]!, tunnel: String(p.tunIndex[t]) };
      emit({ ...labels, direction: 'in' }, p.counters[t * 4 + VpnCounter.PacketsIn]!);
      emit({ ...labels, direction: 'out' }, p.counters[t * 4 + VpnCounter.PacketsOut]!);
    }
  });
  pulledCounter(registry, 'vpcd_vpn_ike_events_total', 'IKE events (SAs established, rekeyed, deleted, failures, by cause).', ['event'], (emit) => {
    for (const [event, n] of Object.entries(s.vpnManager?.events ?? {})) emit({ event }, n);
  });
  pulledGauge(registry, 'vpcd_vpn_tunnel_setup_seconds', 'Time the last tunnel establishment took (first IKE request to CHILD_SA installed).', ['connection', 'tunnel'], (emit) => {
    for (const t of s.vpnManager?.tunnels ?? []) if (t.lastSetupMs > 0) emit({ connection: t.connection, tunnel: String(t.tunnel) }, t.lastSetupMs / 1000);
  });
  pulledGauge(registry, 'vpcd_direct_connect_state', 'Direct Connect link: 1 up (the peer answers ARP), 0 down.', [], (emit) => {
    if (s.dp.dxPort >= 0) emit({}, s.dp.dxUp(performance.now()) ? 1 : 0);
  });
  pulledCounter(registry, 'vpcd_direct_connect_packets_total', 'Packets over the Direct Connect link.', ['direction'], (emit) => {
    if (s.dp.dxPort < 0) return;
    emit({ direction: 'out' }, s.dp.dxCounters[0]!);
    emit({ direction: 'in' }, s.dp.dxCounters[2]!);
  });
  pulledCounter(registry, 'vpcd_direct_connect_bytes_total', 'IP bytes over the Direct Connect link.', ['direction'], (emit) => {
    if (s.dp.dxPort < 0) return;
    emit({ direction: 'out' }, s.dp.dxCounters[1]!);
    emit({ direction: 'in' }, s.dp.dxCounters[3]!);
  });
  pulledGauge(registry, 'vpcd_config_epoch', 'Epoch of the running configuration snapshot (1 at start, +1 per successful reload).', [], (emit) => emit({}, s.epoch));
  pulledCounter(registry, 'vpcd_config_reloads_total', 'Configuration reloads, by result.', ['result'], (emit) => {
    emit({ result: 'ok' }, s.reloads);
    emit({ result: 'rejected' }, s.reloadFailures);
  });

  pulledCounter(registry, 'vpcd_internal_errors_total', 'Failures contained by the daemon (the batch, timer tick, reload or scrape that failed was abandoned; vpcd went on), by place.',
    ['place'], (emit) => {
      for (const [place, n] of s.guard.counts()) emit({ place }, n);
    });
  pulledCounter(registry, 'vpcd_internal_error_dropped_frames_total', 'Frames of batches abandoned after a contained failure (their tx queue was dropped).', [],
    (emit) => emit({}, s.failedBatchFrames));
  pulledCounter(registry, 'vpcd_event_loop_stalls_total', 'Times the main event loop did not run for over a second (seen by the watchdog thread).', [],
    (emit) => emit({}, s.health[Slot.Stalls]!));
  pulledCounter(registry, 'vpcd_event_loop_stall_seconds_total', 'Time the main event loop spent stalled (finished stalls).', [],
    (emit) => emit({}, s.health[Slot.StalledMsTotal]! / 1000));
  pulledGauge(registry, 'vpcd_event_loop_longest_stall_seconds', 'The longest main event loop stall since start.', [],
    (emit) => emit({}, s.health[Slot.LongestStallMs]! / 1000));

  pulledCounter(registry, 'vpcd_observe_events_lost_total', 'Events observers did not get: the event ring was full (where="ring") or a slow observer\'s queue was (where="queue").',
    ['where'], (emit) => {
      emit({ where: 'ring' }, s.observe.ring.lostTotal);
      emit({ where: 'queue' }, s.observe.queueLostTotal);
    });
  pulledGauge(registry, 'vpcd_observe_subscribers', 'Observers attached now (vpcd observe clients and /live event streams).', [],
    (emit) => emit({}, s.observe.subscribers));
}

/** The VPC services: requests per service and instance, link-local allowance drops, DHCP, the server's health. */
function registerServiceMetrics(registry: Registry, s: MetricsSource): void {
  pulledCounter(registry, 'vpcd_service_requests_total', 'Requests to the VPC services (imds, time-sync, dns), by the instance that sent them (vpc_instance="" when no ENI owns the source).',
    ['service', 'vpc_instance'], (emit) => {
      for (const [key, n] of s.services.plane.counters.requests) {
        const [service, inst] = key.split('\u0000') as [string, string];
        emit({ service, vpc_instance: inst }, n);
      }
    });
  pulledCounter(registry, 'vpcd_service_malformed_total', 'Messages to the VPC services that were not requests (NTP not in client mode, bad HTTP, bad DHCP).',
    ['service'], (emit) => {
      for (const [service, n] of s.services.plane.counters.malformed) emit({ service }, n);
      emit({ service: 'dhcp' }, s.services.dhcpMalformed);
    });
  pulledCounter(registry, 'vpcd_linklocal_allowance_exceeded_total', 'Packets to the VPC services dropped because the ENI sent more than 1,024 a second (AWS linklocal_allowance_exceeded).',
    ['vpc_instance'], (emit) => {
      for (const [inst, n] of s.services.allowanceDrops()) emit({ vpc_instance: inst }, n);
    });
  pulledCounter(registry, 'vpcd_dhcp_messages_total', 'DHCP messages, by type and direction (in: from instances, out: answers).', ['type', 'direction'], (emit) => {
    for (const [key, n] of s.services.dhcpMessages) {
      const [type, direction] = key.split('\u0000') as [string, string];
      emit({ type, direction }, n);
    }
  });
  pulledCounter(registry, 'vpcd_dns_queries_total', 'Amazon DNS queries by outcome (answered, nxdomain, forwarded, servfail, refused, rate_limited, malformed) and the instance that asked.',
    ['outcome', 'vpc_instance'], (emit) => {
      for (const [key, n] of s.services.plane.counters.dnsOutcomes) {
        const [outcome, inst] = key.split('\u0000') as [string, string];
        emit({ outcome, vpc_instance: inst }, n);
      }
    });
  pulledCounter(registry, 'vpcd_service_server_restarts_total', 'Times the VPC service server died and was restarted.', [], (emit) => emit({}, s.services.plane.counters.restarts));
  pulledGauge(registry, 'vpcd_service_server_up', '1 while the VPC service server answers.', [], (emit) => emit({}, s.services.plane.ready ? 1 : 0));
}
