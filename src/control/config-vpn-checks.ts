/**
 * VPN tunnel parameter checks: inside CIDRs (a /30 in 169.254.0.0/16 outside
 * AWS's reserved blocks), IKE/ESP lifetimes and DPD timeout (AWS ranges,
 * lowered by allowShortLifetimes), and strongSwan proposal strings (AWS's
 * tunnel options, plus curve25519 for lab peers).
 */
import { cidrContains, cidrToString, parseCidr } from './cidr.js';
import type { VpnConnection } from './config-types.js';
import { DEFAULTS } from './config-defaults.js';
import { Ctx, type Fields, hint, join, readList, readMap, show, type V } from './config-issues.js';
import { readInt, readIpv4Cidr, readString } from './config-read-values.js';

/** AWS reserves these /30s inside 169.254.0.0/16 for tunnel inside addresses. */
const RESERVED_INSIDE = ['169.254.0.0/30', '169.254.1.0/30', '169.254.2.0/30', '169.254.3.0/30', '169.254.4.0/30', '169.254.5.0/30', '169.254.169.252/30'];

export function readInsideCidr(ctx: Ctx, v: V): string | undefined {
  const c = readIpv4Cidr(ctx, v);
  if (c === undefined) return undefined;
  const text = cidrToString(c);
  const linkLocal = parseCidr('169.254.0.0/16');
  if (c.prefix !== 30 || !linkLocal.ok || !cidrContains(linkLocal.cidr, c)) {
    ctx.error(v.at, `${v.path}: ${show(v)} must be a /30 inside 169.254.0.0/16`);
    return undefined;
  }
  if (RESERVED_INSIDE.includes(text)) {
    ctx.error(v.at, `${v.path}: ${text} is reserved by AWS (169.254.0.0/30 to 169.254.5.0/30 and 169.254.169.252/30 cannot be used)`);
    return undefined;
  }
  return text;
}

export function readLifetimes(ctx: Ctx, f: Fields, conn: V, short: boolean): Pick<VpnConnection, 'ike' | 'esp'> | undefined {
  const note = short ? 'allowShortLifetimes' : '';
  const ikeMin = short ? 10 : 900;
  const espMin = short ? 10 : 900;
  const dpdMin = short ? 3 : 30;
  const iv = f.get('ike');
  const ev = f.get('esp');
  const ikeF = iv === undefined ? new Map<string, V>() : readMap(ctx, iv, ['proposals', 'lifetime', 'dpdTimeout']);
  const espF = ev === undefined ? new Map<string, V>() : readMap(ctx, ev, ['proposals', 'lifetime']);
  if (ikeF === undefined || espF === undefined) return undefined;
  const shortHint = short ? '' : '; allowShortLifetimes: true lowers the minimum for tests';
  const ikeProposals = readProposals(ctx, ikeF.get('proposals'), 'ike');
  const ilv = ikeF.get('lifetime');
  const ikeLifetime = ilv === undefined ? DEFAULTS.ikeLifetime : readInt(ctx, ilv, ikeMin, 28_800, `AWS phase 1 lifetime in seconds${note ? `, with ${note}` : shortHint}`);
  const dv = ikeF.get('dpdTimeout');
  const dpdTimeout = dv === undefined ? DEFAULTS.dpdTimeout : readInt(ctx, dv, dpdMin, Number.MAX_SAFE_INTEGER, `seconds; AWS minimum 30${note ? `, lowered by ${note}` : shortHint}`);
  const espProposals = readProposals(ctx, espF.get('proposals'), 'esp');
  const elv = espF.get('lifetime');
  const espLifetime = elv === undefined ? DEFAULTS.espLifetime : readInt(ctx, elv, espMin, 3_600, `AWS phase 2 lifetime in seconds${note ? `, with ${note}` : shortHint}`);
  if (ikeLifetime !== undefined && espLifetime !== undefined && espLifetime >= ikeLifetime) {
    if (elv !== undefined) {
      ctx.error(elv.at, `${elv.path}: ${espLifetime} must be less than ike.lifetime ${ikeLifetime} (AWS: phase 2 lifetime below phase 1)`);
    } else {
      const at = ilv ?? conn;
      ctx.error(at.at, `${ilv?.path ?? join(conn.path, 'ike.lifetime')}: ${ikeLifetime} must be greater than esp.lifetime ${espLifetime} (the default); set esp.lifetime lower`);
    }
    return undefined;
  }
  if (ikeProposals === undefined || ikeLifetime === undefined || dpdTimeout === undefined || espProposals === undefined || espLifetime === undefined) {
    return undefined;
  }
  return {
    ike: { proposals: ikeProposals, lifetime: ikeLifetime, dpdTimeout },
    esp: { proposals: espProposals, lifetime: espLifetime },
  };
}

// strongSwan proposal keywords accepted (AWS's tunnel options, plus curve25519 for lab peers).
const ENC: Record<string, 'cbc' | 'aead'> = { aes128: 'cbc', aes256: 'cbc', aes128gcm16: 'aead', aes256gcm16: 'aead' };
const INTEG = ['sha1', 'sha256', 'sha384', 'sha512'];
const PRF = ['prfsha1', 'prfsha256', 'prfsha384', 'prfsha512'];
const DH: Record<string, number> = {
  modp1024: 2, modp1536: 5, modp2048: 14, modp3072: 15, modp4096: 16, modp6144: 17, modp8192: 18,
  ecp256: 19, ecp384: 20, ecp521: 21, modp1024s160: 22, modp2048s224: 23, modp2048s256: 24, curve25519: 31,
};
const ESN = ['esn', 'noesn'];

/** Checks one strongSwan proposal string; returns what is wrong, or undefined. */
function proposalProblem(text: string, kind: 'ike' | 'esp'): string | undefined {
  const tokens = text.split('-');
  const enc: string[] = [];
  let integ = 0;
  let prf = 0;
  let dh = 0;
  for (const t of tokens) {
    if (t === '') return 'empty algorithm name (two "-" in a row, or one at an end)';
    if (t in ENC) enc.push(t);
    else if (INTEG.includes(t)) integ++;
    else if (PRF.includes(t)) {
      if (kind === 'esp') return `${t} is a PRF, which only IKE proposals take`;
      prf++;
    } else if (t in DH) {
      if (kind === 'ike' && t === 'modp1536') return 'modp1536 (group 5) is not an AWS phase 1 DH group';
      dh++;
    } else if (ESN.includes(t)) {
      if (kind === 'ike') return `${t} only applies to ESP proposals`;
    } else {
      const all = [...Object.keys(ENC), ...INTEG, ...(kind === 'ike' ? PRF : ESN), ...Object.keys(DH)];
      return `unknown algorithm "${t}"${hint(t, all)}; encryption: ${Object.keys(ENC).join(', ')}; integrity: ${INTEG.join(', ')}${kind === 'ike' ? `; prf: ${PRF.join(', ')}` : ''}; DH: ${Object.keys(DH).join(', ')}`;
    }
  }
  if (enc.length === 0) return 'no encryption algorithm (aes128, aes256, aes128gcm16 or aes256gcm16)';
  const aead = enc.filter((e) => ENC[e] === 'aead').length;
  if (aead > 0 && aead < enc.length) return 'AEAD (gcm) and non-AEAD encryption cannot be mixed in one proposal';
  if (aead > 0 && integ > 0) return 'AEAD (gcm) encryption includes integrity protection; remove the integrity algorithm';
  if (aead === 0 && integ === 0) return `${enc.join('-')} needs an integrity algorithm (sha1, sha256, sha384 or sha512)`;
  if (kind === 'ike' && aead > 0 && prf === 0) return 'an AEAD IKE proposal needs a PRF (e.g. prfsha256)';
  if (kind === 'ike' && dh === 0) return 'an IKE proposal needs a DH group (e.g. ecp256 or modp2048)';
  return undefined;
}

function readProposals(ctx: Ctx, v: V | undefined, kind: 'ike' | 'esp'): string[] | undefined {
  if (v === undefined) return [...(kind === 'ike' ? DEFAULTS.ikeProposals : DEFAULTS.espProposals)];
  const items = readList(ctx, v, 'a list of proposals such as aes256gcm16-prfsha256-ecp256');
  if (items === undefined) return undefined;
  if (items.length === 0) {
    ctx.error(v.at, `${v.path}: expected at least one proposal`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const s = readString(ctx, item, 'a proposal string');
    if (s === undefined) {
      ok = false;
      continue;
    }
    const p = proposalProblem(s, kind);
    if (p !== undefined) {
      ctx.error(item.at, `${item.path}: ${JSON.stringify(s)} is not a valid ${kind === 'ike' ? 'IKE' : 'ESP'} proposal: ${p}`);
      ok = false;
    } else out.push(s);
  }
  return ok ? out : undefined;
}
