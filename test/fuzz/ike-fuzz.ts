/**
 * IKE fuzzing against one long-lived IkeResponder (the VGW side): mutated
 * IKE_SA_INIT requests (bytes and structure: payloads dropped, duplicated,
 * reordered, fields and transform ids changed, re-encoded with the project's
 * own codec), mutated IKE_AUTH requests that still decrypt (real initiators
 * run IKE_SA_INIT against the responder, their IKE_AUTH is opened with the
 * initiator's keys, the inner payloads are mutated and sealed again so the
 * responder parses them), random datagrams on 500 and 4500, and mutated
 * copies of an established session's traffic. After every message: nothing
 * escaped onDatagram, no internal error was counted. At the end a legitimate
 * initiator must still bring a tunnel up with the same responder.
 */
import { performance } from 'node:perf_hooks';
import { IkeInitiator, IkeResponder, type IkeAction, type IkeSession, type UdpEndpoint } from '../../src/ike/index.js';
import type { IkeSessionConfig } from '../../src/ike/config.js';
import { IkeErrorCode, IKE_ERROR_NAMES } from '../../src/ike/errors.js';
import { ikeHeader } from '../../src/ike/header.js';
import { encodePlainMessage, openSk, parseMessage } from '../../src/ike/message.js';
import { sealSkBody, skBodyLength, type DirectionKeys, type IkeSuite } from '../../src/ike/crypto.js';
import { encodeChainBytes, type Payload } from '../../src/ike/payloads.js';
import { Rng, hex } from './wire.js';

const PSK = new Uint8Array(Buffer.from('fuzz-psk-0123456789abcdef'));
const CGW = '198.51.100.2';
const VGW = '198.51.100.1';

export interface IkeFinding {
  kind: string;
  detail: string;
  message: number;
  hex: string;
}

export interface IkeFuzzReport {
  seed: number;
  messages: number;
  seconds: number;
  byKind: Record<string, number>;
  errors: Record<string, number>;
  maxMessageMs: number;
  handshakesRun: number;
  legitAfter: boolean;
  findings: IkeFinding[];
}

function seeded(rng: Rng): (n: number) => Uint8Array {
  return (n: number) => {
    const b = new Uint8Array(n);
    rng.fill(b, 0, n);
    return b;
  };
}

function configs(rng: Rng): { cgw: IkeSessionConfig; vgw: IkeSessionConfig } {
  const cgw: IkeSessionConfig = {
    name: 'to-aws', localAddr: CGW, peerAddr: VGW, auth: { kind: 'psk', psk: PSK },
    ikeProposals: [rng.pick(['aes256gcm16-prfsha256-ecp256', 'aes256-sha256-ecp256', 'aes128gcm16-prfsha256-modp2048'])],
    espProposals: ['aes256gcm16-ecp256'],
    localTs: ['198.19.0.0/16'], remoteTs: ['198.18.0.0/16'], random: seeded(rng),
  };
  const vgw: IkeSessionConfig = {
    name: 'vgw', localAddr: VGW, peerAddr: CGW, auth: { kind: 'psk', psk: PSK },
    ikeProposals: ['aes256gcm16-prfsha256-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048', 'aes128gcm16-prfsha256-modp2048'],
    espProposals: ['aes256gcm16-ecp256-modp2048', 'aes256-sha256-ecp256-modp2048'],
    localTs: ['198.18.0.0/16'], remoteTs: ['198.19.0.0/16'], random: seeded(rng),
  };
  return { cgw, vgw };
}

interface SaKeys { spiI: Uint8Array; spiR: Uint8Array; suite: IkeSuite; outKeys: DirectionKeys; state: string }

/** The initiator's IKE SAs with keys (white box, tests only). */
function initiatorSas(s: IkeSession): SaKeys[] {
  // The session's shared context (src/ike/session-context.ts) holds its IKE SAs.
  const m = (s as unknown as { s: { sas: Map<string, SaKeys & { keys?: unknown }> } }).s.sas;
  return [...m.values()].filter((x) => x.keys !== undefined && x.suite !== undefined);
}

const sends = (acts: readonly IkeAction[]) => acts.filter((a): a is Extract<IkeAction, { kind: 'send' }> => a.kind === 'send');

export function runIkeFuzz(o: { seed: number; messages: number; onMessage?: (n: number) => void; slowMs?: number }): IkeFuzzReport {
  const rng = new Rng(o.seed ^ 0x1ce);
  const { vgw } = configs(rng);
  const R = new IkeResponder(vgw);
  let now = 5_000_000;
  R.start(now);
  const findings: IkeFinding[] = [];
  const byKind: Record<string, number> = {};
  const kindCount: Record<string, number> = {};
  let maxMs = 0;
  let handshakes = 0;
  let msgNo = 0;
  const t0 = performance.now();

  /** Delivers one datagram to the responder and checks it; returns its answers. */
  const feed = (kind: string, bytes: Uint8Array, from: UdpEndpoint, port: number): IkeAction[] => {
    msgNo++;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    const internal = R.errors[IkeErrorCode.Internal]!;
    const s0 = performance.now();
    let out: IkeAction[] = [];
    try {
      out = R.onDatagram(bytes, from, now, port);
    } catch (e) {
      note('ike-exception', `${kind}: ${(e as Error).stack ?? e}`, bytes);
    }
    const dt = performance.now() - s0;
    if (dt > maxMs) maxMs = dt;
    if (o.slowMs && dt > o.slowMs) note('ike-slow', `${kind}: ${dt.toFixed(1)} ms`, bytes);
    if (R.errors[IkeErrorCode.Internal]! > internal) {
      const log = out.find((a) => a.kind === 'log' && a.event === 'internal-error') as { msg?: string } | undefined;
      note('ike-internal-error', `${kind}: ${log?.msg ?? '(no log)'}`, bytes);
    }
    if (o.onMessage) o.onMessage(msgNo);
    return out;
  };
  const note = (kind: string, detail: string, bytes: Uint8Array): void => {
    kindCount[kind] = (kindCount[kind] ?? 0) + 1;
    if (kindCount[kind]! <= 5) findings.push({ kind, detail, message: msgNo, hex: hex(bytes) });
  };

  // ---- corpus: a complete handshake plus rekeys and DPD from a separate pair
  const corpus: { bytes: Uint8Array; port: number }[] = [];
  {
    const { cgw: c2, vgw: v2 } = configs(rng);
    const a = new IkeInitiator(c2), b = new IkeResponder(v2);
    let t = 1_000_000;
    const q: { to: IkeSession; bytes: Uint8Array; from: UdpEndpoint; port: number }[] = [];
    const push = (from: IkeSession, acts: readonly IkeAction[]) => {
      for (const s of sends(acts)) {
        q.push({ to: from === a ? b : a, bytes: s.bytes, from: s.src, port: s.dst.port });
        if (from === a) corpus.push({ bytes: s.bytes, port: s.dst.port });
      }
    };
    const pump = () => {
      for (let i = 0; i < 200 && q.length; i++) {
        const d = q.shift()!;
        push(d.to, d.to.onDatagram(d.bytes, d.from, t, d.port));
      }
    };
    push(b, b.start(t));
    push(a, a.start(t));
    pump();
    push(a, a.rekeyChild(t)); pump();
    push(a, a.rekeyIke(t)); pump();
    t += 11_000;
    push(a, a.onTimer(t)); pump();
  }

  /** Runs IKE_SA_INIT of a fresh initiator against R; returns the initiator and its IKE_AUTH request, if it got that far. */
  const halfOpen = (): { init: IkeInitiator; auth: Extract<IkeAction, { kind: 'send' }> } | null => {
    handshakes++;
    const { cgw: c } = configs(rng);
    const init = new IkeInitiator(c);
    let pending = sends(init.start(now));
    for (let round = 0; round < 6 && pending.length > 0; round++) {
      const next: Extract<IkeAction, { kind: 'send' }>[] = [];
      for (const s of pending) {
        if (round > 0 && s.dst.port === 4500 && s.bytes.length > 4) return { init, auth: s };
        const answers = sends(feed('legit-init', s.bytes, s.src, s.dst.port));
        for (const a of answers) next.push(...sends(init.onDatagram(a.bytes, a.src, now, a.src.port === 500 ? 500 : 4500)));
      }
      pending = next;
      if (pending.some((s) => s.dst.port === 4500)) {
        const s = pending.find((x) => x.dst.port === 4500)!;
        return { init, auth: s };
      }
    }
    return null;
  };

  let initCorpus: { bytes: Uint8Array; src: UdpEndpoint }[] = [];
  const refreshInitCorpus = (): void => {
    initCorpus = [];
    for (let i = 0; i < 6; i++) {
      const { cgw } = configs(rng);
      const c = { ...cgw, ikeProposals: [rng.pick(['aes256gcm16-prfsha256-ecp256', 'aes256-sha256-modp2048', 'aes128gcm16-prfsha256-ecp256-modp2048', 'aes256gcm16-prfsha384-ecp384'])] };
      const s = sends(new IkeInitiator(c).start(now))[0];
      if (s) initCorpus.push({ bytes: s.bytes, src: s.src });
    }
  };
  refreshInitCorpus();

  while (msgNo < o.messages) {
    const roll = rng.int(100);
    if (roll < 40) {
      const c = rng.pick(initCorpus);
      const m = rng.chance(0.5) ? mutateStructure(c.bytes, rng, 0) : mutateBytes(c.bytes, rng);
      const from = rng.chance(0.8) ? c.src : { addr: rng.pick([CGW, '203.0.113.9', '198.51.100.20']), port: rng.pick([500, 4500, 1024]) };
      feed('init', m, from, 500);
    } else if (roll < 75) {
      const h = halfOpen();
      if (h === null) continue;
      const sa = initiatorSas(h.init).find((x) => x.state !== 'established');
      if (!sa) continue;
      const marker = 4;
      const msg = parseMessage(h.auth.bytes.subarray(marker));
      let plain: { first: number; plain: Uint8Array };
      try {
        plain = openSk(msg, sa.suite, sa.outKeys);
      } catch {
        continue;
      }
      for (let k = 0; k < 1 + rng.int(4); k++) {
        const inner = rng.chance(0.5) ? mutateChainStructure(plain.plain, plain.first, rng) : { first: plain.first, bytes: mutateBytes(plain.plain, rng) };
        const sealed = seal(msg.bytes, inner.first, inner.bytes, sa.suite, sa.outKeys, rng, msg.header.exchange, msg.header.messageId);
        const wire = new Uint8Array(marker + sealed.length);
        wire.set(sealed, marker);
        feed('auth', rng.chance(0.1) ? mutateBytes(wire, rng) : wire, h.auth.src, 4500);
      }
    } else if (roll < 90) {
      const n = rng.chance(0.3) ? rng.int(40) : rng.int(1500);
      const b = new Uint8Array(n);
      rng.fill(b, 0, n);
      const port = rng.chance(0.5) ? 500 : 4500;
      if (port === 4500 && n >= 4 && rng.chance(0.7)) b.fill(0, 0, 4);
      feed('random', b, { addr: CGW, port }, port);
    } else {
      const c = rng.pick(corpus);
      feed('session', mutateBytes(c.bytes, rng), { addr: CGW, port: c.port }, c.port);
    }
    if (rng.chance(0.02)) {
      now += rng.chance(0.1) ? 31_000 : rng.int(2_000);
      try {
        R.onTimer(now);
      } catch (e) {
        note('ike-exception', `onTimer: ${(e as Error).stack ?? e}`, new Uint8Array(0));
      }
      if (rng.chance(0.1)) refreshInitCorpus();
    }
  }

  // ---- the responder must still serve a legitimate peer
  now += 1000;
  const legitAfter = legitHandshake(R, configs(rng).cgw, now, feed);
  if (!legitAfter) note('ike-unusable', 'a legitimate initiator could not bring a tunnel up with the fuzzed responder', new Uint8Array(0));
  const errors: Record<string, number> = {};
  R.errors.forEach((v, i) => { if (v > 0) errors[IKE_ERROR_NAMES[i] ?? String(i)] = v; });
  return {
    seed: o.seed, messages: msgNo, seconds: (performance.now() - t0) / 1000, byKind, errors, maxMessageMs: maxMs,
    handshakesRun: handshakes, legitAfter, findings,
  };
}

function legitHandshake(R: IkeSession, c: IkeSessionConfig, now: number, feed: (kind: string, b: Uint8Array, from: UdpEndpoint, port: number) => IkeAction[]): boolean {
  const a = new IkeInitiator(c);
  let q = sends(a.start(now));
  for (let i = 0; i < 20 && q.length; i++) {
    const next: Extract<IkeAction, { kind: 'send' }>[] = [];
    for (const s of q) {
      for (const ans of sends(feed('legit', s.bytes, s.src, s.dst.port))) next.push(...sends(a.onDatagram(ans.bytes, ans.src, now, ans.src.port)));
    }
    q = next;
  }
  return a.tunnelState === 'up' && R.tunnelState === 'up';
}

/** Byte-level mutation: flips, random bytes, truncation, extension, length-field edits. */
export function mutateBytes(src: Uint8Array, rng: Rng): Uint8Array {
  let b: Uint8Array = src.slice();
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const op = rng.int(6);
    if (op === 0 && b.length) b[rng.int(b.length)]! ^= 1 << rng.int(8);
    else if (op === 1 && b.length) b[rng.int(b.length)] = rng.int(256);
    else if (op === 2) b = b.subarray(0, rng.int(b.length + 1)).slice();
    else if (op === 3) {
      const x = new Uint8Array(b.length + 1 + rng.int(64));
      x.set(b);
      rng.fill(x, b.length, x.length - b.length);
      b = x;
    } else if (op === 4 && b.length >= 4) {
      // a 16-bit field that looks like a length: the IKE header length or a generic payload length
      const at = rng.chance(0.3) && b.length >= 28 ? 26 : 2 * rng.int(b.length >> 1);
      const v = rng.pick([0, 1, 3, 4, 5, 8, 0x7fff, 0xffff, b.length, b.length + 1, b.length - 1]);
      b[at] = (v >>> 8) & 0xff;
      if (at + 1 < b.length) b[at + 1] = v & 0xff;
    } else if (op === 5 && b.length > 8) {
      const from = rng.int(b.length), to = rng.int(b.length), len = Math.min(rng.int(32), b.length - Math.max(from, to));
      b.copyWithin(to, from, from + len);
    }
  }
  return b;
}

/** A plain message (IKE_SA_INIT) parsed, its payloads mutated, and encoded again with the project's codec. */
export function mutateStructure(src: Uint8Array, rng: Rng, marker: number): Uint8Array {
  let m;
  try {
    m = parseMessage(src.subarray(marker));
  } catch {
    return mutateBytes(src, rng);
  }
  const ps = mutatePayloads(m.payloads, rng);
  const h = m.header;
  const spec = {
    spiI: rng.chance(0.1) ? new Uint8Array(8) : h.spiI, spiR: rng.chance(0.1) ? seeded(rng)(8) : h.spiR,
    exchange: rng.chance(0.1) ? rng.pick([34, 35, 36, 37, 0, 255]) : h.exchange,
    flags: rng.chance(0.1) ? rng.int(256) : h.flags, messageId: rng.chance(0.1) ? rng.pick([1, 0xffffffff, 2]) : h.messageId, payloads: ps,
  };
  let out: Uint8Array;
  try {
    out = encodePlainMessage(spec);
  } catch {
    return mutateBytes(src, rng);
  }
  if (rng.chance(0.2)) out = mutateBytes(out, rng);
  if (marker === 0) return out;
  const w = new Uint8Array(marker + out.length);
  w.set(out, marker);
  return w;
}

/** Inner payload chain bytes, structurally mutated. */
function mutateChainStructure(plain: Uint8Array, first: number, rng: Rng): { first: number; bytes: Uint8Array } {
  // decode with a throwaway header so the codec's chain decoder does the work
  const fake = new Uint8Array(28 + plain.length);
  ikeHeader.encode({ spiI: new Uint8Array(8), spiR: new Uint8Array(8), nextPayload: first, majorVersion: 2, minorVersion: 0, exchange: 35, flags: 8, messageId: 1, length: fake.length }, fake, 0);
  fake.set(plain, 28);
  let ps: Payload[];
  try {
    ps = parseMessage(fake).payloads;
  } catch {
    return { first, bytes: mutateBytes(plain, rng) };
  }
  const mut = mutatePayloads(ps, rng);
  try {
    const bytes = encodeChainBytes(mut);
    return { first: mut.length ? wireTypeOf(mut[0]!) : 0, bytes: rng.chance(0.15) ? mutateBytes(bytes, rng) : bytes };
  } catch {
    return { first, bytes: mutateBytes(plain, rng) };
  }
}

function wireTypeOf(p: Payload): number {
  return p.type === -1 ? (p as { rawType: number }).rawType : p.type;
}

/** Drops, duplicates, swaps payloads; changes fields of SA/KE/Nonce/Notify/ID/AUTH/TS payloads. */
function mutatePayloads(src: readonly Payload[], rng: Rng): Payload[] {
  const ps = src.map((p) => structuredClone(p)) as Payload[];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n && ps.length > 0; i++) {
    const k = rng.int(ps.length);
    const op = rng.int(6);
    if (op === 0) ps.splice(k, 1);
    else if (op === 1) ps.splice(rng.int(ps.length + 1), 0, structuredClone(ps[k]!));
    else if (op === 2) {
      const j = rng.int(ps.length);
      [ps[k], ps[j]] = [ps[j]!, ps[k]!];
    } else if (op === 3) {
      ps.push({ type: -1, rawType: rng.pick([0, 1, 32, 46, 47, 48, 53, 128, 200, 255]), critical: rng.chance(0.5), data: seeded(rng)(rng.int(40)) } as Payload);
    } else {
      mutatePayloadFields(ps[k]!, rng);
    }
  }
  return ps;
}

function mutatePayloadFields(p: Payload, rng: Rng): void {
  const any = p as unknown as Record<string, unknown>;
  const bytesField = (name: string) => {
    const cur = any[name];
    if (cur instanceof Uint8Array) {
      const len = rng.pick([0, 1, 7, 8, 16, 31, 32, 33, 255, 256, 1024, cur.length, cur.length + 1, Math.max(0, cur.length - 1)]);
      const b = new Uint8Array(len);
      b.set(cur.subarray(0, Math.min(len, cur.length)));
      if (rng.chance(0.5)) rng.fill(b, 0, len);
      any[name] = b;
    }
  };
  switch (p.type) {
    case 33: {
      const sa = any as { proposals: { num: number; protocolId: number; spi: Uint8Array; transforms: { type: number; id: number; keyLength?: number }[] }[] };
      const pr = sa.proposals[rng.int(sa.proposals.length)];
      if (!pr) return;
      const op = rng.int(5);
      if (op === 0) pr.num = rng.pick([0, 2, 255]);
      else if (op === 1) pr.protocolId = rng.pick([0, 1, 2, 3, 4]);
      else if (op === 2) pr.spi = seeded(rng)(rng.pick([0, 4, 8, 3]));
      else if (op === 3 && pr.transforms.length) pr.transforms.splice(rng.int(pr.transforms.length), 1);
      else if (pr.transforms.length) {
        const t = pr.transforms[rng.int(pr.transforms.length)]!;
        if (rng.chance(0.5)) t.id = rng.pick([0, 1, 12, 14, 19, 20, 21, 31, 0xffff]);
        else if (rng.chance(0.5)) t.type = rng.pick([0, 1, 2, 3, 4, 5, 6]);
        else t.keyLength = rng.pick([0, 128, 192, 256, 1, 0xffff]);
      }
      return;
    }
    case 34: {
      if (rng.chance(0.5)) (any as { group: number }).group = rng.pick([0, 1, 2, 14, 19, 20, 21, 31, 0xffff]);
      else bytesField('data');
      return;
    }
    case 41: {
      if (rng.chance(0.5)) (any as { notifyType: number }).notifyType = rng.pick([16388, 16389, 16390, 16430, 16431, 16406, 16393, 24, 7, 14, 17, 0xffff]);
      else bytesField('data');
      return;
    }
    default:
      for (const f of ['data', 'nonce', 'spi']) if (any[f] instanceof Uint8Array) { bytesField(f); return; }
      if (Array.isArray(any.selectors)) {
        const s = (any.selectors as Record<string, number>[])[0];
        if (s) {
          const key = rng.pick(['startAddr', 'endAddr', 'startPort', 'endPort', 'ipProtocol', 'type']);
          s[key] = rng.pick([0, 1, 255, 65535, 0xffffffff, 7]);
        }
        return;
      }
      if (typeof any.method === 'number') any.method = rng.pick([0, 1, 2, 9, 14, 255]);
  }
}

/** An SK message with the given inner payload bytes, sealed with the sender's keys (header from `orig`). */
function seal(orig: Uint8Array, first: number, inner: Uint8Array, suite: IkeSuite, keys: DirectionKeys, rng: Rng, exchange: number, messageId: number): Uint8Array {
  const skLen = 4 + skBodyLength(suite, inner.length);
  const len = 28 + skLen;
  const out = new Uint8Array(len);
  const h = ikeHeader.decode(orig, 0, orig.length);
  ikeHeader.encode({ ...h, nextPayload: 46, exchange, messageId, length: len }, out, 0);
  out[28] = first;
  out[29] = 0;
  out[30] = skLen >>> 8;
  out[31] = skLen & 0xff;
  sealSkBody(suite, keys, out, 32, inner, seeded(rng)(suite.encr.ivLen));
  return out;
}
