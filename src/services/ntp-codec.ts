/**
 * The NTP packet (RFC 5905 §7.3, and RFC 1305 for version 3): the 48-byte
 * header a client sends in mode 3 and the server answers in mode 4. The only
 * owner of this wire format. Extension fields and MACs after the header are
 * ignored (Amazon Time Sync serves unauthenticated NTP).
 */

export const NTP_HEADER_LEN = 48;
/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
export const NTP_UNIX_OFFSET = 2_208_988_800;
const MODE_CLIENT = 3, MODE_SERVER = 4;

/** Why a datagram is not a client request we answer. */
export type NtpRefusal = 'short' | 'version' | 'mode';

export interface NtpRequest {
  readonly version: number;
  readonly poll: number;
  /** The client's transmit timestamp, 8 bytes as sent (echoed as the origin timestamp). */
  readonly transmit: Uint8Array;
}

/** A client request (mode 3, version 3 or 4), or why not. */
export function parseNtpRequest(b: Uint8Array): NtpRequest | NtpRefusal {
  if (b.length < NTP_HEADER_LEN) return 'short';
  const version = (b[0] >> 3) & 7;
  const mode = b[0] & 7;
  if (version !== 3 && version !== 4) return 'version';
  if (mode !== MODE_CLIENT) return 'mode';
  return { version, poll: b[2], transmit: b.slice(40, 48) };
}

/** Writes an NTP timestamp (seconds + 32-bit fraction since 1900) for Unix milliseconds `ms` at `off`. */
export function writeNtpTime(out: Uint8Array, off: number, ms: number): void {
  const secs = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - secs * 1000) / 1000) * 0x1_0000_0000);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(off, (secs + NTP_UNIX_OFFSET) >>> 0);
  v.setUint32(off + 4, frac >>> 0);
}

/** Reads an NTP timestamp at `off` as Unix milliseconds. */
export function readNtpTime(b: Uint8Array, off: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return (v.getUint32(off) - NTP_UNIX_OFFSET) * 1000 + (v.getUint32(off + 4) / 0x1_0000_0000) * 1000;
}

export interface NtpServerInfo {
  readonly stratum: number;
  /** Four ASCII characters for a stratum-1 reference id. */
  readonly refId: string;
}

/** The server's answer to `req`: received at `rxMs`, sent at `txMs` (Unix ms, the host clock). */
export function buildNtpResponse(req: NtpRequest, rxMs: number, txMs: number, info: NtpServerInfo): Uint8Array {
  const out = new Uint8Array(NTP_HEADER_LEN);
  out[0] = (0 << 6) | (req.version << 3) | MODE_SERVER;
  out[1] = info.stratum;
  out[2] = req.poll;
  out[3] = 0xec; // precision 2^-20 s
  // root delay 0; root dispersion ~1 ms (16.16 fixed point)
  out[10] = 0x00;
  out[11] = 0x41;
  for (let i = 0; i < 4; i++) out[12 + i] = info.refId.charCodeAt(i) & 0xff;
  writeNtpTime(out, 16, txMs); // reference: the host clock is the reference
  out.set(req.transmit, 24); // origin = the client's transmit
  writeNtpTime(out, 32, rxMs);
  writeNtpTime(out, 40, txMs);
  return out;
}
