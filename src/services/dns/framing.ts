/**
 * DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): every message is
 * preceded by its length as two bytes, big-endian. Used by the server's TCP
 * path and by the forwarder's TCP retries.
 */

/** The largest message a 2-byte length can announce. */
export const TCP_MESSAGE_MAX = 65535;

/** `msg` with its length prefix. */
export function frame(msg: Buffer): Buffer {
  if (msg.length > TCP_MESSAGE_MAX) throw new Error(`a DNS message of ${msg.length} bytes does not fit TCP framing`);
  const out = Buffer.allocUnsafe(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/**
 * Reassembles framed messages from a byte stream. Holds at most one partial
 * message (at most 2 + 65535 bytes) plus the chunk being added.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  /** Bytes held that do not yet form a whole message. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Adds `chunk`; returns the messages it completes, in order. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    // Each turn consumes at least the 2 length bytes: the loop ends.
    while (this.pending.length - at >= 2) {
      const len = this.pending.readUInt16BE(at);
      if (this.pending.length - at - 2 < len) break;
      out.push(Buffer.from(this.pending.subarray(at + 2, at + 2 + len)));
      at += 2 + len;
    }
    this.pending = at === 0 ? this.pending : Buffer.from(this.pending.subarray(at));
    return out;
  }
}
