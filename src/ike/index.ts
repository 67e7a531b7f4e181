/**
 * IKEv2 control plane (RFC 7296), sans-IO. What the rest of vpcd imports:
 *
 * - `IkeInitiator` (role cgw) / `IkeResponder` (role vgw): one tunnel each;
 *   feed `onDatagram`, call `onTimer` at `nextTimerMs()`, carry out the
 *   returned `IkeAction`s (send / install-child-sa / remove-child-sa / state / log).
 * - `sessionConfigFromVpn` + `vpnAuthFromContract`: from the config contract.
 * - `UdpDriver`: runs a session over node:dgram (tests, standalone runner).
 * - `ChildSa` (src/ipsec/sa-types.ts): what the ESP data path consumes.
 *
 * See README.md in this folder for the design and the interop evidence.
 */
export { IkeInitiator, IkeResponder, IkeSession } from './session.js';
export type { IkeAction, IkeStats, LogLevel, TunnelState, UdpEndpoint } from './session.js';
export { resolveConfig, sessionConfigFromVpn, vpnAuthFromContract } from './config.js';
export type { DpdAction, IkeAuthConfig, IkeSessionConfig, ResolvedIkeConfig, SecretSources, VpnSecrets } from './config.js';
export { loadCertCredentials } from './auth.js';
export type { CertCredentials, IkeIdentity } from './auth.js';
export { IKE_ERROR_COUNT, IKE_ERROR_NAMES, IkeError, IkeErrorCode } from './errors.js';
export { parseProposal, parseProposals } from './proposals.js';
export { UdpDriver } from './udp-driver.js';
export type { UdpDriverOptions } from './udp-driver.js';
export type { ChildSa, EspAlgorithm, EspTrafficSelector, SaEndpoint } from '../ipsec/sa-types.js';
export { describeChildSa } from '../ipsec/sa-types.js';
