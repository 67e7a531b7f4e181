/**
 * The DNS message header and question at the byte level (RFC 1035 4.1):
 * what the server must read before, or without, a full decode (id, flags,
 * counts, where the question ends, whether its name is plain), and the bare
 * error responses built from them. Full messages are decoded and encoded with
 * dns-packet; this file owns the header layout both the server and the
 * forwarder touch.
 */

export const HEADER_LEN = 12;
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_AD = 0x0020;
export const FLAG_CD = 0x0010;
export const OPCODE_MASK = 0x7800;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Largest UDP answer without EDNS (RFC 1035 4.2.1). */
export const UDP_PLAIN_MAX = 512;
/** Largest UDP answer sent to a client that advertises more. */
export const UDP_EDNS_MAX = 4096;
/** The UDP payload size this server advertises in its OPT record (the 2020 DNS flag day value). */
export const EDNS_ADVERTISED = 1232;

export interface QuestionSpan {
  /** Offset just after the question's type and class. */
  readonly end: number;
  /** Every label is letters, digits, `-` or `_`: a name the local zones could hold. */
  readonly plain: boolean;
}

/**
 * Where the first question of `msg` ends, reading its name label by label (no
 * compression pointers: a query's first name has nothing before it to point
 * to). Undefined when the message holds no whole question.
 */
export function questionSpan(msg: Buffer): QuestionSpan | undefined {
  let at = HEADER_LEN;
  let plain = true;
  let total = 0;
  for (let labels = 0; labels < 128; labels++) {
    if (at >= msg.length) return undefined;
    const len = msg[at] as number;
    if (len === 0) {
      at += 1;
      return at + 4 <= msg.length ? { end: at + 4, plain } : undefined;
    }
    if (len > 63) return undefined;
    total += len + 1;
    if (total > 254 || at + 1 + len > msg.length) return undefined;
    for (let i = at + 1; i <= at + len; i++) {
      const c = msg[i] as number;
      const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
      if (!ok) plain = false;
    }
    at += 1 + len;
  }
  return undefined;
}

/**
 * A response carrying only a header (and the query's question when
 * `question` is given): id, opcode, RD and CD of the query, RA, `rcode`.
 */
export function bareResponse(query: Buffer, rcode: number, question: QuestionSpan | undefined): Buffer {
  const qlen = question === undefined ? 0 : question.end - HEADER_LEN;
  const out = Buffer.alloc(HEADER_LEN + qlen);
  const qflags = query.readUInt16BE(2);
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  out.writeUInt16BE(FLAG_QR | (qflags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | FLAG_RA | (rcode & 0xf), 2);
  out.writeUInt16BE(question === undefined ? 0 : 1, 4);
  if (question !== undefined) query.copy(out, HEADER_LEN, HEADER_LEN, question.end);
  return out;
}

/** A copy of `msg` with the id replaced. */
export function withId(msg: Buffer, id: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}
