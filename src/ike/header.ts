/**
 * IKE header codec (RFC 7296 §3.1).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Initiator's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Responder's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Message ID                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            Length                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * abstract-encoding style: encode into a caller buffer, decode with bounds checks.
 */
import { readU32, writeU32 } from './bytes.js';
import { HeaderFlag, IKE_HEADER_LEN } from './constants.js';
import { IkeError, IkeErrorCode } from './errors.js';

export interface IkeHeader {
  /** 8 bytes. */
  readonly spiI: Uint8Array;
  /** 8 bytes; zero in the first IKE_SA_INIT request. */
  readonly spiR: Uint8Array;
  readonly nextPayload: number;
  readonly majorVersion: number;
  readonly minorVersion: number;
  readonly exchange: number;
  readonly flags: number;
  /** u32. */
  readonly messageId: number;
  /** Total message length in bytes, header included. */
  readonly length: number;
}

export const ikeHeader = {
  encodingLength(): number {
    return IKE_HEADER_LEN;
  },
  /** Writes 28 bytes at off; returns the number of bytes written. */
  encode(h: IkeHeader, buf: Uint8Array, off: number): number {
    if (h.spiI.length !== 8 || h.spiR.length !== 8) throw new RangeError('IKE SPIs are 8 bytes');
    if (off + IKE_HEADER_LEN > buf.length) throw new RangeError('buffer too small for IKE header');
    buf.set(h.spiI, off);
    buf.set(h.spiR, off + 8);
    buf[off + 16] = h.nextPayload;
    buf[off + 17] = ((h.majorVersion & 0xf) << 4) | (h.minorVersion & 0xf);
    buf[off + 18] = h.exchange;
    buf[off + 19] = h.flags;
    writeU32(buf, off + 20, h.messageId);
    writeU32(buf, off + 24, h.length);
    return IKE_HEADER_LEN;
  },
  /**
   * Decodes the header at off; `end` is one past the datagram's last byte.
   * Refuses a major version other than 2 and a Length that differs from the datagram.
   */
  decode(buf: Uint8Array, off: number, end: number): IkeHeader {
    if (end - off < IKE_HEADER_LEN) throw new IkeError(IkeErrorCode.Truncated, `IKE header: ${end - off} bytes`);
    const ver = buf[off + 17];
    const major = ver >>> 4;
    if (major !== 2) throw new IkeError(IkeErrorCode.BadVersion, `IKE major version ${major}`);
    const length = readU32(buf, off + 24);
    if (length < IKE_HEADER_LEN) throw new IkeError(IkeErrorCode.BadLength, `IKE length ${length} < 28`);
    if (length > end - off) throw new IkeError(IkeErrorCode.Truncated, `IKE length ${length} > datagram ${end - off}`);
    if (length !== end - off) throw new IkeError(IkeErrorCode.BadLength, `IKE length ${length} != datagram ${end - off}`);
    return {
      spiI: buf.slice(off, off + 8),
      spiR: buf.slice(off + 8, off + 16),
      nextPayload: buf[off + 16],
      majorVersion: major,
      minorVersion: ver & 0xf,
      exchange: buf[off + 18],
      flags: buf[off + 19],
      messageId: readU32(buf, off + 20),
      length,
    };
  },
};

export function isResponse(h: IkeHeader): boolean {
  return (h.flags & HeaderFlag.RESPONSE) !== 0;
}
export function isFromOriginalInitiator(h: IkeHeader): boolean {
  return (h.flags & HeaderFlag.INITIATOR) !== 0;
}
