/**
 * What both sides of IKE_SA_INIT / IKE_AUTH share: NAT-D hashes (RFC 7296
 * §2.23), our AUTH and CERT payloads, and the checks of the peer's ID, CERT
 * and AUTH (PSK, or certificate chain + RFC 7427 signature). Pure functions
 * of the configuration and the SA; credentials are read from the config at
 * the time of the exchange, so new credentials apply to the next IKE_AUTH.
 */
import { createHash } from 'node:crypto';
import {
  certDer, certMatchesIdentity, identityEquals, identityToString, pskAuth, signAuth, verifyPeerChain, verifySignatureAuth, type IkeIdentity,
} from './auth.js';
import { ipv4Bytes } from './bytes.js';
import type { ResolvedIkeConfig } from './config.js';
import { AuthMethod, CertEncoding, NotifyType, PayloadType } from './constants.js';
import { constantTimeEqual } from './crypto.js';
import { IkeError, IkeErrorCode } from './errors.js';
import { findAllPayloads, type Payload } from './payloads.js';
import type { IkeSa } from './sa-state.js';

/** RFC 7296 §2.23: SHA-1(SPIi | SPIr | IP | Port). */
export function natHash(spiI: Uint8Array, spiR: Uint8Array, addr: string, port: number): Uint8Array {
  const p = new Uint8Array([port >>> 8, port & 0xff]);
  return new Uint8Array(createHash('sha1').update(spiI).update(spiR).update(ipv4Bytes(addr)).update(p).digest());
}

/** Our AUTH payload over `octets` (PSK or signature). */
export function authPayloadFor(cfg: ResolvedIkeConfig, sa: IkeSa, octets: Uint8Array): Payload {
  if (cfg.auth.kind === 'psk') {
    if (!sa.suite) throw new IkeError(IkeErrorCode.Internal, 'no suite');
    return { type: PayloadType.AUTH, method: AuthMethod.PSK, data: pskAuth(sa.suite.prf, cfg.auth.psk, octets) };
  }
  const { method, data } = signAuth(cfg.auth.credentials.key, octets, sa.peerHashes);
  return { type: PayloadType.AUTH, method, data };
}

/** Our certificate chain as CERT payloads (none with a PSK). */
export function certPayloads(cfg: ResolvedIkeConfig): Payload[] {
  if (cfg.auth.kind !== 'cert') return [];
  return cfg.auth.credentials.chain.map((c) => ({ type: PayloadType.CERT, encoding: CertEncoding.X509_SIGNATURE, data: certDer(c) } as Payload));
}

/** The X.509 certificates the peer sent (end entity first). */
export function peerCerts(payloads: readonly Payload[]): Uint8Array[] {
  return findAllPayloads(payloads, PayloadType.CERT).filter((c) => c.encoding === CertEncoding.X509_SIGNATURE).map((c) => c.data);
}

/** Verifies the peer's ID / CERT / AUTH. Throws IkeError(AuthFailed | Certificate). */
export function verifyPeer(
  cfg: ResolvedIkeConfig, sa: IkeSa, id: IkeIdentity, certs: readonly Uint8Array[], auth: { method: number; data: Uint8Array }, octets: Uint8Array,
): void {
  if (!sa.suite) throw new IkeError(IkeErrorCode.Internal, 'no suite');
  if (cfg.remoteId && !identityEquals(cfg.remoteId, id)) {
    throw new IkeError(IkeErrorCode.AuthFailed, `peer identity '${identityToString(id)}' is not the configured '${identityToString(cfg.remoteId)}'`, NotifyType.AUTHENTICATION_FAILED);
  }
  if (cfg.auth.kind === 'psk') {
    if (auth.method !== AuthMethod.PSK) throw new IkeError(IkeErrorCode.AuthFailed, `peer used auth method ${auth.method}, we expect PSK`, NotifyType.AUTHENTICATION_FAILED);
    const expect = pskAuth(sa.suite.prf, cfg.auth.psk, octets);
    if (!constantTimeEqual(expect, auth.data)) throw new IkeError(IkeErrorCode.AuthFailed, `PSK authentication of '${identityToString(id)}' failed`, NotifyType.AUTHENTICATION_FAILED);
    return;
  }
  if (certs.length === 0) throw new IkeError(IkeErrorCode.Certificate, 'peer sent no certificate', NotifyType.AUTHENTICATION_FAILED);
  let ee;
  try {
    ee = verifyPeerChain(certs[0], certs.slice(1), cfg.auth.credentials.cas, cfg.wallClock());
  } catch (e) {
    if (e instanceof IkeError) throw new IkeError(e.code, e.message, NotifyType.AUTHENTICATION_FAILED);
    throw e;
  }
  if (!certMatchesIdentity(ee, id)) {
    throw new IkeError(IkeErrorCode.Certificate, `identity '${identityToString(id)}' is not in the peer's certificate`, NotifyType.AUTHENTICATION_FAILED);
  }
  if (!verifySignatureAuth(auth.method, auth.data, octets, ee.publicKey)) {
    throw new IkeError(IkeErrorCode.AuthFailed, `signature of '${identityToString(id)}' (method ${auth.method}) does not verify`, NotifyType.AUTHENTICATION_FAILED);
  }
}
