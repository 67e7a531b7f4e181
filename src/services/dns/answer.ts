/**
 * One query in, one response out: the Amazon DNS server's decisions, shared
 * by the UDP and TCP paths and by tests.
 *
 * - Unknown clients: REFUSED. Opcodes other than QUERY: NOTIMP. A message
 *   that does not decode, or does not hold exactly one question: FORMERR.
 *   Responses and messages shorter than a header: no answer at all.
 *   EDNS versions other than 0: BADVERS (RFC 6891 6.1.3). Zone transfers
 *   (AXFR, IXFR): REFUSED.
 * - Names in a private zone or among the VPC's own names (catalog.ts):
 *   authoritative answers (AA), CNAME chains followed through the local
 *   zones, NXDOMAIN or NODATA with the zone's SOA in the authority section.
 *   A chain that leaves the local zones is completed by the upstream, as a
 *   recursive resolver does.
 * - Everything else is forwarded as the client sent it; no upstream, or a
 *   failing one, gives SERVFAIL.
 * - RD and CD are copied from the query; RA is always set (the server
 *   recurses). With an OPT record in the query the response carries one.
 * - UDP: the answer fits the client's size (its EDNS UDP payload size, at
 *   least 512 and at most 4096; 512 without EDNS) or is cut to the question
 *   with TC set, so the client asks again over TCP, which gets everything.
 */
import { decode, encode, type Answer, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import { Catalog, type LocalRecord } from './catalog.js';
import type { DnsOutcome, DnsServiceOptions } from './options.js';
import {
  bareResponse, EDNS_ADVERTISED, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, HEADER_LEN, OPCODE_MASK,
  questionSpan, type QuestionSpan, RCODE, UDP_EDNS_MAX, UDP_PLAIN_MAX,
} from './message.js';

/** BADVERS: extended RCODE 16 = OPT's upper 8 bits 1, header RCODE 0. */
const EXT_RCODE_BADVERS = 1;
const TCP_MAX = 65535;

const catalogs = new WeakMap<object, Catalog>();

/**
 * The compiled namespace of `opts`, built once per options object. Throws
 * (an Error naming the bad option) when the options are not usable.
 */
export function catalogOf(opts: DnsServiceOptions): Catalog {
  let c = catalogs.get(opts);
  if (c === undefined) {
    c = new Catalog(opts);
    catalogs.set(opts, c);
  }
  return c;
}

function report(opts: DnsServiceOptions, who: string | undefined, outcome: DnsOutcome): void {
  try {
    opts.onQuery?.(who, outcome);
  } catch {
    // A failing metrics hook must not change the answer.
  }
}

function identify(opts: DnsServiceOptions, clientIp: string): string | undefined {
  try {
    return opts.identify(clientIp);
  } catch {
    return undefined;
  }
}

/** Everything answer() needs to know about the query once it decoded. */
interface Query {
  readonly raw: Buffer;
  readonly span: QuestionSpan;
  readonly pkt: DecodedPacket;
  readonly edns: OptAnswer | undefined;
  /** Largest response this transport may carry to this client. */
  readonly limit: number;
}

/**
 * The response to `query` from `clientIp`, or null when none is due (a
 * response or a fragment of a header). Never throws; every query is reported
 * once to opts.onQuery.
 */
export async function answer(query: Buffer, clientIp: string, opts: DnsServiceOptions, transport: 'udp' | 'tcp'): Promise<Buffer | null> {
  const who = identify(opts, clientIp);
  if (query.length < HEADER_LEN || (query.readUInt16BE(2) & FLAG_QR) !== 0) {
    report(opts, who, 'malformed');
    return null;
  }
  const span = questionSpan(query);
  const qdcount = query.readUInt16BE(4);
  if (who === undefined) {
    report(opts, who, 'refused');
    return bareResponse(query, RCODE.REFUSED, qdcount === 1 ? span : undefined);
  }
  if ((query.readUInt16BE(2) & OPCODE_MASK) !== 0) {
    // NOTIFY, UPDATE, ...: not for a resolver. Counted with the refusals.
    report(opts, who, 'refused');
    return bareResponse(query, RCODE.NOTIMP, qdcount === 1 ? span : undefined);
  }
  let pkt: DecodedPacket;
  try {
    pkt = decode(query);
  } catch {
    report(opts, who, 'malformed');
    return bareResponse(query, RCODE.FORMERR, undefined);
  }
  const opt = (pkt.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
  if (qdcount !== 1 || span === undefined || opt.length > 1) {
    report(opts, who, 'malformed');
    return bareResponse(query, RCODE.FORMERR, undefined);
  }
  const edns = opt[0];
  const limit = transport === 'tcp' ? TCP_MAX : edns === undefined ? UDP_PLAIN_MAX : Math.min(UDP_EDNS_MAX, Math.max(UDP_PLAIN_MAX, edns.udpPayloadSize));
  const q: Query = { raw: query, span, pkt, edns, limit };
  try {
    const [out, outcome] = await respond(q, opts, transport);
    report(opts, who, outcome);
    return out;
  } catch {
    // A bug or an encoder refusal: the client still gets an answer.
    report(opts, who, 'servfail');
    return build(q, { rcode: RCODE.SERVFAIL, aa: false });
  }
}

/** The response and its outcome (reported by the caller, once, after every step that could fail). */
type Outcome = [Buffer, DnsOutcome];

async function respond(q: Query, opts: DnsServiceOptions, transport: 'udp' | 'tcp'): Promise<Outcome> {
  if (q.edns !== undefined && q.edns.ednsVersion !== 0) {
    return [build(q, { rcode: 0, aa: false, extRcode: EXT_RCODE_BADVERS }), 'malformed'];
  }
  const question = (q.pkt.questions ?? [])[0];
  if (question === undefined) throw new Error('no question');
  const qtype = question.type as string;
  if (qtype === 'AXFR' || qtype === 'IXFR') return [build(q, { rcode: RCODE.REFUSED, aa: false }), 'refused'];
  const qclass = question.class ?? 'IN';
  if (q.span.plain && (qclass === 'IN' || qclass === 'ANY')) {
    const lname = question.name.toLowerCase();
    const r = catalogOf(opts).lookup(lname, qtype);
    if (r.kind !== 'foreign') {
      const answers = r.answers.map((a) => toAnswer(a, lname, question.name));
      if (r.kind === 'answer' && r.foreignTarget !== undefined) {
        return completeChain(q, opts, transport, answers, r.foreignTarget, qtype);
      }
      const out = build(q, {
        rcode: r.kind === 'nxdomain' ? RCODE.NXDOMAIN : RCODE.NOERROR,
        aa: true,
        answers,
        ...(r.kind === 'answer' ? {} : { authorities: [toAnswer(r.soa, lname, question.name)] }),
      });
      return [out, r.kind === 'nxdomain' ? 'nxdomain' : 'answered'];
    }
  }
  const up = await ask(opts, q.raw, transport === 'tcp');
  const resp = up === null ? undefined : checkedResponse(up, question.name, qtype);
  if (resp === undefined) return [build(q, { rcode: RCODE.SERVFAIL, aa: false }), 'servfail'];
  return [relay(q, resp.raw), 'forwarded'];
}

async function ask(opts: DnsServiceOptions, query: Buffer, viaTcp: boolean): Promise<Buffer | null> {
  try {
    return await opts.upstream(query, viaTcp);
  } catch {
    return null;
  }
}

/** The upstream's answer when it is a response to this question; undefined otherwise. */
function checkedResponse(up: Buffer, name: string, type: string): { raw: Buffer; pkt: DecodedPacket } | undefined {
  if (up.length < HEADER_LEN || (up.readUInt16BE(2) & FLAG_QR) === 0) return undefined;
  let pkt: DecodedPacket;
  try {
    pkt = decode(up);
  } catch {
    return undefined;
  }
  const uq = (pkt.questions ?? [])[0];
  if (uq === undefined || uq.name.toLowerCase() !== name.toLowerCase() || uq.type !== type) return undefined;
  return { raw: up, pkt };
}

/** The upstream's response with the client's id, RD/CD, RA set; cut with TC when it does not fit. */
function relay(q: Query, up: Buffer): Buffer {
  const out = Buffer.from(up);
  const qflags = q.raw.readUInt16BE(2);
  const uflags = up.readUInt16BE(2);
  out.writeUInt16BE(q.raw.readUInt16BE(0), 0);
  out.writeUInt16BE((uflags & ~(FLAG_RD | FLAG_CD)) | (qflags & (FLAG_RD | FLAG_CD)) | FLAG_RA, 2);
  if (out.length <= q.limit) return out;
  if (q.limit === TCP_MAX) throw new Error('response larger than a TCP message');
  return build(q, { rcode: uflags & 0xf, aa: false, truncated: true });
}

/**
 * A local CNAME chain that ends at a name outside the local zones: ask the
 * upstream for that name and append what it says (its RCODE becomes the
 * response's, as RFC 6604 has it for the last name of a chain).
 */
async function completeChain(q: Query, opts: DnsServiceOptions, transport: 'udp' | 'tcp', chain: Answer[], target: string, qtype: string): Promise<Outcome> {
  const sub = encode({
    type: 'query',
    id: 0,
    flags: FLAG_RD,
    questions: [{ name: target, type: qtype as 'A', class: 'IN' }],
    ...(q.edns !== undefined ? { additionals: [ourOpt(0)] } : {}),
  });
  const up = await ask(opts, sub, transport === 'tcp');
  const resp = up === null ? undefined : checkedResponse(up, target, qtype);
  if (resp === undefined) return [build(q, { rcode: RCODE.SERVFAIL, aa: false }), 'servfail'];
  const urcode = resp.raw.readUInt16BE(2) & 0xf;
  const rcode = urcode === RCODE.NXDOMAIN || urcode === RCODE.NOERROR ? urcode : RCODE.SERVFAIL;
  if (rcode === RCODE.SERVFAIL) return [build(q, { rcode, aa: false }), 'servfail'];
  // Not authoritative for the whole answer: part of it comes from outside the local zones.
  return [build(q, { rcode, aa: false, answers: [...chain, ...(resp.pkt.answers ?? [])] }), rcode === RCODE.NXDOMAIN ? 'nxdomain' : 'answered'];
}

function ourOpt(extRcode: number): OptAnswer {
  return { type: 'OPT', name: '.', udpPayloadSize: EDNS_ADVERTISED, extendedRcode: extRcode, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

/** A local record for the encoder; the queried name keeps the client's spelling (0x20). */
function toAnswer(r: LocalRecord, lname: string, asked: string): Answer {
  return { name: r.name === lname ? asked : r.name, type: r.type, ttl: r.ttl, class: 'IN', data: r.data } as Answer;
}

interface Built {
  readonly rcode: number;
  readonly aa: boolean;
  readonly answers?: readonly Answer[];
  readonly authorities?: readonly Answer[];
  readonly extRcode?: number;
  readonly truncated?: boolean;
}

/**
 * The response: header from the query, the query's question copied byte for
 * byte, then the sections. Cut to the question with TC when over the limit.
 */
function build(q: Query, b: Built): Buffer {
  const qflags = q.raw.readUInt16BE(2);
  const flags = (qflags & (FLAG_RD | FLAG_CD)) | FLAG_RA | (b.aa ? FLAG_AA : 0) | (b.rcode & 0xf);
  const additionals = q.edns !== undefined ? [ourOpt(b.extRcode ?? 0)] : [];
  const full = assemble(q, { type: 'response', id: q.raw.readUInt16BE(0), flags: flags | (b.truncated ? FLAG_TC : 0), answers: b.truncated ? [] : [...(b.answers ?? [])], authorities: b.truncated ? [] : [...(b.authorities ?? [])], additionals });
  if (full.length <= q.limit) return full;
  return assemble(q, { type: 'response', id: q.raw.readUInt16BE(0), flags: flags | FLAG_TC, answers: [], authorities: [], additionals });
}

/** dns-packet's encoding of the sections, with the query's raw question spliced in after the header. */
function assemble(q: Query, p: Packet): Buffer {
  const body = encode({ ...p, questions: [] });
  const question = q.raw.subarray(HEADER_LEN, q.span.end);
  const out = Buffer.concat([body.subarray(0, HEADER_LEN), question, body.subarray(HEADER_LEN)]);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(out.readUInt16BE(2) | FLAG_QR, 2);
  return out;
}
