/**
 * Configuration of one IKE session (one VPN tunnel), its defaults, and the
 * mapping from the config contract's VpnConnection (src/control/config-types.ts).
 *
 * Times in the contract are seconds (AWS tunnel options); the session works in
 * monotonic milliseconds. AWS defaults (shared with strongSwan where AWS is
 * silent): IKE lifetime 28800 s, CHILD lifetime 3600 s, rekey margin 270 s with
 * 100 % fuzz, DPD timeout 30 s (peer declared dead 30 s after the first
 * unanswered DPD), DPD interval 10 s, replay window 1024.
 */
import { randomBytes } from 'node:crypto';
import type { VpnConnection } from '../control/config-types.js';
import { ipToU32 } from '../wire/addr.js';
import { IKE_PORT, NATT_PORT } from './constants.js';
import { identityFromCert, identityFromString, loadCertCredentials, type CertCredentials, type IkeIdentity } from './auth.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { parseProposals, type ProposalSpec } from './proposals.js';
import type { TrafficSelector } from './payloads.js';
import { cidrToSelector } from './traffic-selectors.js';

export type IkeAuthConfig =
  | { readonly kind: 'psk'; readonly psk: Uint8Array }
  | { readonly kind: 'cert'; readonly credentials: CertCredentials };

export type DpdAction = 'clear' | 'restart' | 'none';

export interface IkeSessionConfig {
  /** Connection name (logs, ChildSa.connection). */
  readonly name: string;
  /** Tunnel index within the connection (0 or 1 for AWS). */
  readonly tunnel?: number;
  /** Our WAN address (IPv4). */
  readonly localAddr: string;
  /** The peer's address (IPv4). */
  readonly peerAddr: string;
  readonly localIkePort?: number;
  readonly localNattPort?: number;
  readonly peerIkePort?: number;
  readonly peerNattPort?: number;
  readonly auth: IkeAuthConfig;
  /** Our identity: IPv4 / FQDN / user@fqdn / DN text. Default: PSK -> our address; cert -> first DNS SAN or subject DN. */
  readonly localId?: string;
  /** Required peer identity; '%any' accepts any. Default: PSK -> the peer's address; cert -> any identity its certificate holds. */
  readonly remoteId?: string;
  /** strongSwan-style strings, first = preferred. */
  readonly ikeProposals: readonly string[];
  readonly espProposals: readonly string[];
  readonly ikeLifetimeSec?: number;
  readonly childLifetimeSec?: number;
  readonly rekeyMarginSec?: number;
  /** 0..100 (%): the margin is randomly increased by up to this much (AWS "rekey fuzz"). */
  readonly rekeyFuzzPct?: number;
  /** Seconds of silence before we send a DPD request (0 = never). */
  readonly dpdDelaySec?: number;
  /** Seconds without an answer after which the peer is declared dead. */
  readonly dpdTimeoutSec?: number;
  readonly dpdAction?: DpdAction;
  /** CIDRs on our side / the peer's side. */
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  /** First retransmission timeout; each next one is `retransmitBase` times longer. */
  readonly retransmitTimeoutMs?: number;
  readonly retransmitBase?: number;
  /** Retransmissions before a request is given up (and the peer declared dead). */
  readonly retransmitTries?: number;
  /** RFC 7383 IKE fragmentation (announced, and used when the peer announced it too). */
  readonly fragmentation?: boolean;
  /** Largest IP datagram for an IKE fragment (strongSwan's fragment_size; 1280 as strongSwan). */
  readonly fragmentSize?: number;
  /** Always UDP-encapsulate (send a random NATD_S_IP as strongSwan's encap=yes; our data plane does ESP-in-UDP). */
  readonly forceEncap?: boolean;
  /** Responder: half-open IKE SAs at which COOKIEs are demanded (RFC 7296 §2.6). 0 = always. */
  readonly cookieThreshold?: number;
  /** Responder: refuse new IKE_SA_INIT beyond this many half-open SAs. */
  readonly maxHalfOpen?: number;
  readonly halfOpenTimeoutMs?: number;
  readonly replayWindow?: number;
  /** Initiator: reconnect after a failure or after the SA went down. */
  readonly keepUp?: boolean;
  /** First reconnect delay; doubles per consecutive failure up to 60 s. */
  readonly retryDelayMs?: number;
  /** Send INITIAL_CONTACT in IKE_AUTH (peer drops stale SAs of ours). */
  readonly initialContact?: boolean;
  /** Random bytes (tests inject a seeded source). */
  readonly random?: (n: number) => Uint8Array;
  /** Wall clock for certificate validity (ms since epoch). */
  readonly wallClock?: () => number;
}

export interface ResolvedIkeConfig {
  readonly name: string;
  readonly tunnel: number;
  readonly localAddr: string;
  readonly peerAddr: string;
  readonly localAddrU32: number;
  readonly peerAddrU32: number;
  readonly localIkePort: number;
  readonly localNattPort: number;
  readonly peerIkePort: number;
  readonly peerNattPort: number;
  readonly auth: IkeAuthConfig;
  readonly localId: IkeIdentity;
  /** undefined = any (cert: must still be vouched for by the certificate). */
  readonly remoteId: IkeIdentity | undefined;
  readonly ikeSpecs: readonly ProposalSpec[];
  readonly espSpecs: readonly ProposalSpec[];
  readonly ikeLifetimeMs: number;
  readonly childLifetimeMs: number;
  readonly rekeyMarginMs: number;
  readonly rekeyFuzz: number;
  readonly dpdDelayMs: number;
  readonly dpdTimeoutMs: number;
  readonly dpdAction: DpdAction;
  readonly localTs: readonly TrafficSelector[];
  readonly remoteTs: readonly TrafficSelector[];
  readonly retransmitTimeoutMs: number;
  readonly retransmitBase: number;
  readonly retransmitTries: number;
  readonly fragmentation: boolean;
  readonly fragmentSize: number;
  readonly forceEncap: boolean;
  readonly cookieThreshold: number;
  readonly maxHalfOpen: number;
  readonly halfOpenTimeoutMs: number;
  readonly replayWindow: number;
  readonly keepUp: boolean;
  readonly retryDelayMs: number;
  readonly initialContact: boolean;
  readonly random: (n: number) => Uint8Array;
  readonly wallClock: () => number;
}

function cfgError(msg: string): never {
  throw new IkeError(IkeErrorCode.Config, msg);
}

function posInt(v: number | undefined, def: number, what: string, min = 0): number {
  const x = v ?? def;
  if (!Number.isFinite(x) || x < min) cfgError(`${what} must be a number >= ${min}`);
  return x;
}

/** Validates and fills defaults. Throws IkeError(Config). */
export function resolveConfig(c: IkeSessionConfig, role: 'initiator' | 'responder'): ResolvedIkeConfig {
  let localAddrU32: number;
  let peerAddrU32: number;
  try {
    localAddrU32 = ipToU32(c.localAddr);
    peerAddrU32 = ipToU32(c.peerAddr);
  } catch (e) {
    cfgError((e as Error).message);
  }
  if (c.auth.kind === 'psk' && c.auth.psk.length < 8) cfgError('PSK must be at least 8 bytes');
  const localId = c.localId !== undefined
    ? identityFromString(c.localId)
    : c.auth.kind === 'psk'
      ? identityFromString(c.localAddr)
      : undefined;
  let resolvedLocalId: IkeIdentity;
  if (localId) resolvedLocalId = localId;
  else if (c.auth.kind === 'cert') {
    resolvedLocalId = certIdentity(c.auth.credentials);
  } else cfgError('no local identity');
  const rid = c.remoteId;
  const remoteId = rid === undefined
    ? (c.auth.kind === 'psk' ? identityFromString(c.peerAddr) : undefined)
    : (rid === '%any' || rid === 'any' || rid === '' ? undefined : identityFromString(rid));
  const childLifetimeSec = posInt(c.childLifetimeSec, 3600, 'childLifetimeSec', 1);
  const ikeLifetimeSec = posInt(c.ikeLifetimeSec, 28800, 'ikeLifetimeSec', 1);
  const fuzz = posInt(c.rekeyFuzzPct, 100, 'rekeyFuzzPct');
  if (fuzz > 100) cfgError('rekeyFuzzPct must be 0..100');
  const dpdAction = c.dpdAction ?? 'clear';
  if (dpdAction !== 'clear' && dpdAction !== 'restart' && dpdAction !== 'none') cfgError(`dpdAction ${String(dpdAction)}`);
  return {
    name: c.name,
    tunnel: c.tunnel ?? 0,
    localAddr: c.localAddr,
    peerAddr: c.peerAddr,
    localAddrU32,
    peerAddrU32,
    localIkePort: c.localIkePort ?? IKE_PORT,
    localNattPort: c.localNattPort ?? NATT_PORT,
    peerIkePort: c.peerIkePort ?? IKE_PORT,
    peerNattPort: c.peerNattPort ?? NATT_PORT,
    auth: c.auth,
    localId: resolvedLocalId,
    remoteId,
    ikeSpecs: parseProposals(c.ikeProposals, 'ike'),
    espSpecs: parseProposals(c.espProposals, 'esp'),
    ikeLifetimeMs: ikeLifetimeSec * 1000,
    childLifetimeMs: childLifetimeSec * 1000,
    rekeyMarginMs: posInt(c.rekeyMarginSec, 270, 'rekeyMarginSec') * 1000,
    rekeyFuzz: fuzz / 100,
    dpdDelayMs: posInt(c.dpdDelaySec, 10, 'dpdDelaySec') * 1000,
    dpdTimeoutMs: posInt(c.dpdTimeoutSec, 30, 'dpdTimeoutSec', 1) * 1000,
    dpdAction,
    localTs: c.localTs.map(cidrToSelector),
    remoteTs: c.remoteTs.map(cidrToSelector),
    retransmitTimeoutMs: posInt(c.retransmitTimeoutMs, 2000, 'retransmitTimeoutMs', 1),
    retransmitBase: posInt(c.retransmitBase, 1.8, 'retransmitBase', 1),
    retransmitTries: posInt(c.retransmitTries, 5, 'retransmitTries'),
    fragmentation: c.fragmentation ?? true,
    fragmentSize: posInt(c.fragmentSize, 1280, 'fragmentSize', 576),
    forceEncap: c.forceEncap ?? true,
    cookieThreshold: posInt(c.cookieThreshold, 30, 'cookieThreshold'),
    maxHalfOpen: posInt(c.maxHalfOpen, 1000, 'maxHalfOpen', 1),
    halfOpenTimeoutMs: posInt(c.halfOpenTimeoutMs, 30_000, 'halfOpenTimeoutMs', 1),
    replayWindow: posInt(c.replayWindow, 1024, 'replayWindow'),
    keepUp: c.keepUp ?? role === 'initiator',
    retryDelayMs: posInt(c.retryDelayMs, 5000, 'retryDelayMs', 1),
    initialContact: c.initialContact ?? true,
    random: c.random ?? ((n: number) => new Uint8Array(randomBytes(n))),
    wallClock: c.wallClock ?? Date.now,
  };
}

function certIdentity(cred: CertCredentials): IkeIdentity {
  return identityFromCert(cred.chain[0]);
}

/** Secrets for a VpnConnection, loaded by the caller (I/O stays out of the session). */
export interface VpnSecrets {
  readonly auth: IkeAuthConfig;
}

/**
 * Session config for tunnel `tunnelIndex` of a contract VpnConnection.
 * cgw: we initiate; local networks = `localNetworks`; remote = `remoteNetworks`
 * (0.0.0.0/0 when splitTunnel is false). vgw: the same from the AWS side.
 */
export function sessionConfigFromVpn(
  conn: VpnConnection, tunnelIndex: number, localAddr: string, secrets: VpnSecrets,
  overrides: Partial<IkeSessionConfig> = {},
): IkeSessionConfig {
  const t = conn.tunnels[tunnelIndex];
  if (!t) cfgError(`connection ${conn.name} has no tunnel ${tunnelIndex}`);
  const remote = conn.splitTunnel ? conn.remoteNetworks : ['0.0.0.0/0'];
  return {
    name: conn.name,
    tunnel: tunnelIndex,
    localAddr,
    peerAddr: t.peer,
    auth: secrets.auth,
    ikeProposals: conn.ike.proposals,
    espProposals: conn.esp.proposals,
    ikeLifetimeSec: conn.ike.lifetime,
    childLifetimeSec: conn.esp.lifetime,
    dpdTimeoutSec: conn.ike.dpdTimeout,
    localTs: conn.localNetworks.length ? conn.localNetworks : ['0.0.0.0/0'],
    remoteTs: remote.length ? remote : ['0.0.0.0/0'],
    keepUp: conn.role === 'cgw',
    ...overrides,
  };
}

/** The I/O `vpnAuthFromContract` needs, injected so this module stays free of it. */
export interface SecretSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

/**
 * Resolves a contract `auth` block: `psk: { env }` or `psk: { file }` (file
 * content, trailing newline trimmed), or `certificate: { cert, key, ca }` (PEM
 * paths). Throws IkeError(Config) naming what is missing, never the secret.
 */
export function vpnAuthFromContract(auth: VpnConnection['auth'], io: SecretSources): IkeAuthConfig {
  if (auth.kind === 'psk') {
    let text: string | undefined;
    if (auth.psk.env !== undefined) {
      text = io.env[auth.psk.env];
      if (text === undefined || text === '') cfgError(`PSK environment variable ${auth.psk.env} is not set`);
    } else if (auth.psk.file !== undefined) {
      try {
        text = io.readFile(auth.psk.file).replace(/\r?\n$/, '');
      } catch (e) {
        cfgError(`PSK file ${auth.psk.file}: ${(e as Error).message}`);
      }
    } else {
      cfgError('psk needs env or file');
    }
    if (text.length < 8) cfgError('PSK must be at least 8 characters');
    return { kind: 'psk', psk: new Uint8Array(Buffer.from(text, 'utf8')) };
  }
  let pems: [string, string, string];
  try {
    pems = [io.readFile(auth.cert), io.readFile(auth.key), io.readFile(auth.ca)];
  } catch (e) {
    cfgError(`certificate files: ${(e as Error).message}`);
  }
  return { kind: 'cert', credentials: loadCertCredentials(...pems) };
}
