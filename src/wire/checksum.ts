/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * RFC 1071 §1: "Adjacent octets to be checksummed are paired to form 16-bit
 * integers, and the 1's complement sum of these 16-bit integers is formed."
 * The checksum field holds the 1's complement of that sum, so a receiver that
 * sums the whole header including the field gets 0xFFFF.
 *
 * RFC 1624 §3, Eqn. 3, for a header whose 16-bit field m changes to m':
 *
 *     HC' = ~(~HC + ~m + m')
 *
 * (Eqn. 2, HC' = HC - ~m - m', can yield 0xFFFF where a full recomputation
 * yields 0x0000; Eqn. 3 never does.)
 *
 * Pseudo-header for TCP/UDP over IPv4 (RFC 793 §3.1, RFC 768), summed but
 * never transmitted:
 *
 *     +--------+--------+--------+--------+
 *     |           Source Address          |
 *     +--------+--------+--------+--------+
 *     |         Destination Address       |
 *     +--------+--------+--------+--------+
 *     |  zero  |  PTCL  |    TCP Length   |
 *     +--------+--------+--------+--------+
 *
 * For IPv6 (RFC 8200 §8.1) the same with 128-bit addresses, a 32-bit length
 * and a 24-bit zero before the next-header byte.
 *
 * "Partial" checksums: when a virtio_net_hdr says NEEDS_CSUM (a frame from a
 * guest or from a local stack with checksum offload), the L4 checksum field
 * holds the *folded pseudo-header sum, not complemented*; whoever finishes the
 * frame sums [csum_start, end) with that field in place and stores the
 * complement. Rewriting an address (NAT) must then adjust the field as a plain
 * sum: field' = field + ~old + new (Linux: inet_proto_csum_replace4 with
 * CHECKSUM_PARTIAL). See partialChecksumUpdate16/32.
 *
 * All functions return 16-bit values in [0, 0xFFFF]; 32-bit inputs are
 * host-order numbers (signed or unsigned, only the low 32 bits count).
 */

/** End-around-carry fold of a non-negative sum below 2^32 to 16 bits. */
function fold(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Words summed before a fold: 16384 * 0xFFFF + a folded carry stays below 2^31. */
const CHUNK_BYTES = 32768;

/**
 * Folded 16-bit one's complement sum of buf[off, off+len), plus `initial`
 * (a previous folded or unfolded sum below 2^32, e.g. a pseudo-header sum).
 * An odd trailing byte is padded with a zero low byte (RFC 1071 §4.1).
 * The result is never complemented; 0 only if every input word is 0.
 */
export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = fold(initial >>> 0);
  const evenEnd = off + (len & ~1);
  let i = off;
  while (i < evenEnd) {
    const stop = evenEnd - i > CHUNK_BYTES ? i + CHUNK_BYTES : evenEnd;
    for (; i < stop; i += 2) sum += (buf[i] << 8) | buf[i + 1];
    sum = fold(sum);
  }
  if ((len & 1) !== 0) sum = fold(sum + (buf[evenEnd] << 8));
  return sum;
}

/** RFC 1071 checksum of buf[off, off+len): the complement of onesSum. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff;
}

/** RFC 1624 Eqn. 3: checksum `hc` after one 16-bit word changed from `old16` to `new16`. */
export function checksumUpdate16(hc: number, old16: number, new16: number): number {
  return ~fold((~hc & 0xffff) + (~old16 & 0xffff) + (new16 & 0xffff)) & 0xffff;
}

/** RFC 1624 Eqn. 3 for a 32-bit field (an IPv4 address): both halves at once. */
export function checksumUpdate32(hc: number, old32: number, new32: number): number {
  return ~fold(
    (~hc & 0xffff) + (~old32 >>> 16) + (~old32 & 0xffff) + (new32 >>> 16) + (new32 & 0xffff),
  ) & 0xffff;
}

/**
 * Adjusts a partial (pseudo-header only, non-complemented) L4 checksum field
 * when a 16-bit word of the pseudo-header changes: field + ~old + new.
 */
export function partialChecksumUpdate16(field: number, old16: number, new16: number): number {
  return fold((field & 0xffff) + (~old16 & 0xffff) + (new16 & 0xffff));
}

/** As partialChecksumUpdate16 for a 32-bit pseudo-header field (an IPv4 address). */
export function partialChecksumUpdate32(field: number, old32: number, new32: number): number {
  return fold((field & 0xffff) + (~old32 >>> 16) + (~old32 & 0xffff) + (new32 >>> 16) + (new32 & 0xffff));
}

/**
 * Folded, non-complemented sum of the IPv4 pseudo-header. `l4Len` is the TCP
 * or UDP length in bytes (header + data). Pass it as `initial` to onesSum over
 * the segment, or store it as the field of a NEEDS_CSUM frame.
 */
export function pseudoHeaderSum4(src: number, dst: number, proto: number, l4Len: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) + (l4Len & 0xffff));
}

/**
 * Folded, non-complemented sum of the IPv6 pseudo-header, with the 16-byte
 * addresses read from buf at srcOff and dstOff (usually the IPv6 header's own).
 */
export function pseudoHeaderSum6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, l4Len: number): number {
  let s = onesSum(buf, srcOff, 16);
  s = onesSum(buf, dstOff, 16, s);
  return fold(s + (l4Len >>> 16) + (l4Len & 0xffff) + (proto & 0xff));
}

/**
 * Complete TCP/UDP/ICMP-style checksum over buf[off, off+len) with an IPv4
 * pseudo-header. The checksum field inside the range must be zero (or use
 * the result of a verification: onesSum(...) === 0xffff means valid).
 * UDP callers must transmit a result of 0 as 0xFFFF (RFC 768).
 */
export function l4Checksum4(buf: Uint8Array, off: number, len: number, src: number, dst: number, proto: number): number {
  return ~onesSum(buf, off, len, pseudoHeaderSum4(src, dst, proto, len)) & 0xffff;
}
