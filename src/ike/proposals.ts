/**
 * strongSwan-style proposal strings (`aes256gcm16-prfsha256-ecp256`,
 * `aes256-sha256-modp2048`, `aes256gcm16-ecp256` for ESP) to SA payload
 * proposals, and proposal selection (RFC 7296 §2.7, §3.3).
 *
 * One string is one proposal; several algorithms of a kind in one string are
 * alternatives inside that proposal (`aes256gcm16-prfsha256-ecp256-modp2048`
 * offers two DH groups). Selection walks *our* list in order (the responder's
 * preference, as AWS and strongSwan do) and, within a proposal, takes the first
 * of our algorithms the peer also offered.
 */
import { DhGroup, Encr, Esn, Integ, Prf, ProtocolId, TransformType } from './constants.js';
import { encrAlg, INTEGS, PRFS, type IkeSuite } from './crypto.js';
import { isSupportedDhGroup } from './dh.js';
import { IkeError, IkeErrorCode } from './errors.js';
import type { Proposal, Transform } from './payloads.js';

export interface EncrSpec {
  readonly id: number;
  readonly keyBits: number;
}

export interface ProposalSpec {
  /** 'ike' or 'esp'. */
  readonly protocol: 'ike' | 'esp';
  /** The string it came from (for logs). */
  readonly text: string;
  readonly encr: readonly EncrSpec[];
  /** Empty for AEAD ciphers. */
  readonly integ: readonly number[];
  /** IKE only. */
  readonly prf: readonly number[];
  /** IKE: at least one. ESP: the PFS groups for CREATE_CHILD_SA (may be empty). */
  readonly dh: readonly number[];
  /** ESP only: Esn.NO / Esn.YES alternatives. */
  readonly esn: readonly number[];
}

const ENCR_TOKENS: Readonly<Record<string, EncrSpec>> = (() => {
  const t: Record<string, EncrSpec> = { aes: { id: Encr.AES_CBC, keyBits: 128 } };
  for (const bits of [128, 192, 256]) {
    t[`aes${bits}`] = { id: Encr.AES_CBC, keyBits: bits };
    for (const suffix of ['gcm16', 'gcm128', 'gcm']) t[`aes${bits}${suffix}`] = { id: Encr.AES_GCM_16, keyBits: bits };
  }
  return t;
})();

const INTEG_TOKENS: Readonly<Record<string, number>> = {
  sha1: Integ.HMAC_SHA1_96, sha: Integ.HMAC_SHA1_96,
  sha256: Integ.HMAC_SHA2_256_128, sha2_256: Integ.HMAC_SHA2_256_128,
  sha384: Integ.HMAC_SHA2_384_192, sha2_384: Integ.HMAC_SHA2_384_192,
  sha512: Integ.HMAC_SHA2_512_256, sha2_512: Integ.HMAC_SHA2_512_256,
};
const PRF_TOKENS: Readonly<Record<string, number>> = {
  prfsha1: Prf.HMAC_SHA1, prfsha256: Prf.HMAC_SHA2_256, prfsha384: Prf.HMAC_SHA2_384, prfsha512: Prf.HMAC_SHA2_512,
};
const INTEG_TO_PRF: Readonly<Record<number, number>> = {
  [Integ.HMAC_SHA1_96]: Prf.HMAC_SHA1,
  [Integ.HMAC_SHA2_256_128]: Prf.HMAC_SHA2_256,
  [Integ.HMAC_SHA2_384_192]: Prf.HMAC_SHA2_384,
  [Integ.HMAC_SHA2_512_256]: Prf.HMAC_SHA2_512,
};
const DH_TOKENS: Readonly<Record<string, number>> = {
  modp1024: DhGroup.MODP_1024, modp2048: DhGroup.MODP_2048, modp3072: DhGroup.MODP_3072, modp4096: DhGroup.MODP_4096,
  ecp256: DhGroup.ECP_256, ecp384: DhGroup.ECP_384, ecp521: DhGroup.ECP_521,
  curve25519: DhGroup.CURVE_25519, x25519: DhGroup.CURVE_25519,
};

function pushUnique<T>(arr: T[], v: T, same: (a: T, b: T) => boolean = (a, b) => a === b): void {
  if (!arr.some((x) => same(x, v))) arr.push(v);
}

/** Parses one proposal string. Throws IkeError(Config) naming the bad token. */
export function parseProposal(text: string, protocol: 'ike' | 'esp'): ProposalSpec {
  const encr: EncrSpec[] = [];
  const integ: number[] = [];
  const prf: number[] = [];
  const dh: number[] = [];
  const esn: number[] = [];
  const tokens = text.trim().toLowerCase().split('-').filter((t) => t.length > 0);
  if (tokens.length === 0) throw new IkeError(IkeErrorCode.Config, `empty ${protocol} proposal`);
  for (const t of tokens) {
    const e = ENCR_TOKENS[t];
    if (e) { pushUnique(encr, e, (a, b) => a.id === b.id && a.keyBits === b.keyBits); continue; }
    const i = INTEG_TOKENS[t];
    if (i !== undefined) { pushUnique(integ, i); continue; }
    const p = PRF_TOKENS[t];
    if (p !== undefined) {
      if (protocol !== 'ike') throw new IkeError(IkeErrorCode.Config, `'${t}' is only valid in IKE proposals: ${text}`);
      pushUnique(prf, p);
      continue;
    }
    const d = DH_TOKENS[t];
    if (d !== undefined) {
      if (!isSupportedDhGroup(d)) throw new IkeError(IkeErrorCode.Config, `unsupported DH group '${t}'`);
      pushUnique(dh, d);
      continue;
    }
    if (t === 'esn' || t === 'noesn') {
      if (protocol !== 'esp') throw new IkeError(IkeErrorCode.Config, `'${t}' is only valid in ESP proposals: ${text}`);
      pushUnique(esn, t === 'esn' ? Esn.YES : Esn.NO);
      continue;
    }
    throw new IkeError(IkeErrorCode.Config, `unknown algorithm '${t}' in ${protocol} proposal '${text}'`);
  }
  if (encr.length === 0) throw new IkeError(IkeErrorCode.Config, `no encryption algorithm in '${text}'`);
  const aead = encr.filter((e) => e.id === Encr.AES_GCM_16).length;
  if (aead !== 0 && aead !== encr.length) {
    throw new IkeError(IkeErrorCode.Config, `'${text}' mixes AEAD and non-AEAD ciphers; use two proposals`);
  }
  if (aead && integ.length) throw new IkeError(IkeErrorCode.Config, `'${text}': an AEAD cipher takes no integrity algorithm`);
  if (!aead && integ.length === 0) throw new IkeError(IkeErrorCode.Config, `'${text}': CBC needs an integrity algorithm`);
  if (protocol === 'ike') {
    if (prf.length === 0) {
      if (integ.length === 0) throw new IkeError(IkeErrorCode.Config, `'${text}': an AEAD IKE proposal needs a PRF (e.g. prfsha256)`);
      for (const i of integ) pushUnique(prf, INTEG_TO_PRF[i]);
    }
    if (dh.length === 0) throw new IkeError(IkeErrorCode.Config, `'${text}': an IKE proposal needs a DH group`);
  } else if (esn.length === 0) {
    esn.push(Esn.NO);
  }
  if (esn.includes(Esn.YES)) throw new IkeError(IkeErrorCode.Config, `'${text}': extended sequence numbers are not supported`);
  return { protocol, text, encr, integ, prf, dh, esn };
}

export function parseProposals(list: readonly string[], protocol: 'ike' | 'esp'): ProposalSpec[] {
  if (list.length === 0) throw new IkeError(IkeErrorCode.Config, `no ${protocol} proposals`);
  return list.map((s) => parseProposal(s, protocol));
}

/**
 * The SA payload proposal for a spec. `withDh` false drops DH transforms
 * (the CHILD_SA carried in IKE_AUTH has no KE; strongSwan strips them too).
 */
export function toWireProposal(spec: ProposalSpec, num: number, spi: Uint8Array, withDh = true): Proposal {
  const transforms: Transform[] = [];
  for (const e of spec.encr) transforms.push({ type: TransformType.ENCR, id: e.id, keyLength: e.keyBits });
  for (const p of spec.prf) transforms.push({ type: TransformType.PRF, id: p });
  for (const i of spec.integ) transforms.push({ type: TransformType.INTEG, id: i });
  if (withDh) for (const d of spec.dh) transforms.push({ type: TransformType.DH, id: d });
  for (const e of spec.esn) transforms.push({ type: TransformType.ESN, id: e });
  return { num, protocolId: spec.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP, spi, transforms };
}

/** One algorithm of each kind, as a selected proposal carries. */
export interface Selected {
  readonly protocol: 'ike' | 'esp';
  /** Proposal number the peer used (echoed in the answer). */
  readonly num: number;
  /** The peer's SPI from its proposal (empty in IKE_SA_INIT). */
  readonly spi: Uint8Array;
  readonly encr: EncrSpec;
  /** Integ.NONE for AEAD. */
  readonly integ: number;
  /** Prf id (IKE), 0 for ESP. */
  readonly prf: number;
  /** Chosen DH group, DhGroup.NONE when there is none (ESP without PFS). */
  readonly dh: number;
  /** Every DH group acceptable to both, in our order (to honour the peer's KE group). */
  readonly dhCandidates: readonly number[];
  readonly esn: number;
}

function transformsOf(p: Proposal, type: number): Transform[] {
  return p.transforms.filter((t) => t.type === type && !t.unknownAttribute);
}

function pickEncr(ours: readonly EncrSpec[], theirs: Transform[]): EncrSpec | undefined {
  for (const o of ours) {
    if (theirs.some((t) => t.id === o.id && t.keyLength === o.keyBits)) return o;
  }
  return undefined;
}
function pickIds(ours: readonly number[], theirs: Transform[]): number[] {
  return ours.filter((o) => theirs.some((t) => t.id === o));
}

/**
 * Match one of our specs against one peer proposal. `requireDh`: IKE always;
 * ESP in CREATE_CHILD_SA when we want PFS. Returns undefined when they do not
 * intersect.
 */
export function matchProposal(spec: ProposalSpec, p: Proposal, pfs: boolean): Selected | undefined {
  const wantProto = spec.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP;
  if (p.protocolId !== wantProto) return undefined;
  const encr = pickEncr(spec.encr, transformsOf(p, TransformType.ENCR));
  if (!encr) return undefined;
  let integ: number = Integ.NONE;
  const theirInteg = transformsOf(p, TransformType.INTEG).filter((t) => t.id !== Integ.NONE);
  if (spec.integ.length) {
    const i = pickIds(spec.integ, theirInteg);
    if (i.length === 0) return undefined;
    integ = i[0];
  } else if (theirInteg.length && !transformsOf(p, TransformType.INTEG).some((t) => t.id === Integ.NONE)) {
    // AEAD on our side: the peer's proposal must allow "no integrity" (absent or NONE).
    return undefined;
  }
  let prf = 0;
  if (spec.protocol === 'ike') {
    const pr = pickIds(spec.prf, transformsOf(p, TransformType.PRF));
    if (pr.length === 0) return undefined;
    prf = pr[0];
  }
  const theirDh = transformsOf(p, TransformType.DH);
  let dhCandidates: number[] = [];
  let dh: number = DhGroup.NONE;
  if (spec.protocol === 'ike' || pfs) {
    dhCandidates = pickIds(spec.dh, theirDh);
    if (dhCandidates.length === 0) return undefined;
    dh = dhCandidates[0];
  } else if (theirDh.length && !theirDh.some((t) => t.id === DhGroup.NONE)) {
    // The peer insists on PFS while we negotiate without KE: only acceptable in IKE_AUTH,
    // where DH transforms are ignored (RFC 7296 §1.2).
  }
  let esn: number = Esn.NO;
  if (spec.protocol === 'esp') {
    const e = pickIds(spec.esn, transformsOf(p, TransformType.ESN));
    const theirEsn = transformsOf(p, TransformType.ESN);
    if (theirEsn.length === 0) esn = Esn.NO;
    else if (e.length === 0) return undefined;
    else esn = e[0];
  }
  return { protocol: spec.protocol, num: p.num, spi: p.spi, encr, integ, prf, dh, dhCandidates, esn };
}

/** Responder side: our preference order, then the peer's order. */
export function selectProposal(ours: readonly ProposalSpec[], theirs: readonly Proposal[], pfs: boolean): Selected | undefined {
  for (const spec of ours) {
    for (const p of theirs) {
      const s = matchProposal(spec, p, pfs);
      if (s) return s;
    }
  }
  return undefined;
}

/** The single-transform proposal a responder returns. */
export function selectedToWire(s: Selected, spi: Uint8Array, withDh = true): Proposal {
  const transforms: Transform[] = [{ type: TransformType.ENCR, id: s.encr.id, keyLength: s.encr.keyBits }];
  if (s.protocol === 'ike') transforms.push({ type: TransformType.PRF, id: s.prf });
  if (s.integ !== Integ.NONE) transforms.push({ type: TransformType.INTEG, id: s.integ });
  if (withDh && s.dh !== DhGroup.NONE) transforms.push({ type: TransformType.DH, id: s.dh });
  if (s.protocol === 'esp') transforms.push({ type: TransformType.ESN, id: s.esn });
  return { num: s.num, protocolId: s.protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP, spi, transforms };
}

/**
 * Initiator side: check the responder's answer is exactly one transform of each
 * kind, all taken from the proposal with that number that we sent.
 */
export function acceptAnswer(sent: readonly Proposal[], specs: readonly ProposalSpec[], answer: readonly Proposal[], pfs: boolean): Selected {
  if (answer.length !== 1) throw new IkeError(IkeErrorCode.NoProposal, `responder returned ${answer.length} proposals`, 7);
  const a = answer[0];
  const idx = sent.findIndex((p) => p.num === a.num);
  if (idx < 0) throw new IkeError(IkeErrorCode.NoProposal, `responder chose proposal #${a.num} we never sent`, 7);
  const counts = new Map<number, number>();
  for (const t of a.transforms) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  for (const [type, n] of counts) {
    if (n > 1) throw new IkeError(IkeErrorCode.NoProposal, `responder chose ${n} transforms of type ${type}`, 7);
  }
  for (const t of a.transforms) {
    if (!sent[idx].transforms.some((s) => s.type === t.type && s.id === t.id && s.keyLength === t.keyLength)) {
      throw new IkeError(IkeErrorCode.NoProposal, `responder chose transform ${t.type}/${t.id} we never offered`, 7);
    }
  }
  const s = matchProposal(specs[idx], a, pfs);
  if (!s) throw new IkeError(IkeErrorCode.NoProposal, 'responder answer is incomplete', 7);
  return s;
}

/** The IKE SA suite for a selected IKE proposal. */
export function ikeSuite(s: Selected): IkeSuite {
  const encr = encrAlg(s.encr.id, s.encr.keyBits);
  const prf = PRFS[s.prf];
  if (!encr || !prf) throw new IkeError(IkeErrorCode.NoProposal, 'unsupported algorithm selected');
  const integ = s.integ === Integ.NONE ? undefined : INTEGS[s.integ];
  if (!encr.aead && !integ) throw new IkeError(IkeErrorCode.NoProposal, 'CBC without integrity');
  return { encr, integ, prf, dhGroup: s.dh };
}

/** The data-plane algorithm name of a selected ESP proposal ('aes256gcm16', 'aes256-sha256', ...). */
export function espAlgorithmName(s: Selected): string {
  const encr = encrAlg(s.encr.id, s.encr.keyBits);
  if (!encr) throw new IkeError(IkeErrorCode.NoProposal, 'unsupported ESP cipher');
  if (encr.aead) return encr.name;
  const integ = INTEGS[s.integ];
  if (!integ) throw new IkeError(IkeErrorCode.NoProposal, 'unsupported ESP integrity');
  return `${encr.name}-${integ.name}`;
}

/** Compact human form of a selected proposal, e.g. `IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256`-like. */
export function describeSelected(s: Selected): string {
  const parts: string[] = [s.encr.id === Encr.AES_GCM_16 ? `aes${s.encr.keyBits}gcm16` : `aes${s.encr.keyBits}`];
  if (s.integ !== Integ.NONE) parts.push(INTEGS[s.integ]?.name ?? `integ${s.integ}`);
  if (s.prf) parts.push(PRFS[s.prf]?.name ?? `prf${s.prf}`);
  if (s.dh !== DhGroup.NONE) parts.push(dhName(s.dh));
  return `${s.protocol.toUpperCase()}:${parts.join('-')}`;
}

export function dhName(g: number): string {
  for (const [k, v] of Object.entries(DH_TOKENS)) if (v === g && k !== 'x25519') return k;
  return `dh${g}`;
}
