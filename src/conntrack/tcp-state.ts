/**
 * A small TCP state tracker per flow, driven by the flags of each packet and
 * its direction. It decides the timeout class (AWS [EC2-CT] has exactly two
 * for TCP: established, and everything else), not whether a packet is valid:
 * no sequence-window checks (AWS documents none, and SGs admit any packet of a
 * tracked connection).
 *
 *            orig SYN            reply SYN+ACK          orig ACK
 *   NONE ──────────────► SYN_SENT ──────────► SYN_RECV ─────────► ESTABLISHED
 *     │ (mid-stream pickup: any non-SYN, non-RST first packet)        │
 *     └──────────────────────────────────────────────────────────────►│
 *                                     orig FIN │          │ reply FIN
 *                                              ▼          ▼
 *                                        FIN_WAIT     CLOSE_WAIT
 *                                    reply FIN │          │ orig FIN
 *                                              ▼          ▼
 *                                            TIME_WAIT ◄──┘
 *   RST in any state ─► CLOSED.  An orig SYN in TIME_WAIT or CLOSED reopens
 *   the flow (SYN_SENT), as a client reusing its port after close does.
 *
 * FIN_WAIT / CLOSE_WAIT name the originator's side: FIN_WAIT = the originator
 * closed first, CLOSE_WAIT = the responder did. A FIN seen before the
 * handshake completed takes the same edges. Simultaneous open (a reply SYN
 * without ACK in SYN_SENT) goes to SYN_RECV.
 *
 * Table-driven: next = NEXT[(state * 2 + dir) * EVENTS + event], where the
 * event comes from a 64-entry table over the FIN/SYN/RST/PSH/ACK/URG bits.
 */
import { TimeoutClass } from './expiry.js';

export const TcpState = {
  None: 0,
  SynSent: 1,
  SynRecv: 2,
  Established: 3,
  FinWait: 4,
  CloseWait: 5,
  TimeWait: 6,
  Closed: 7,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];
export const TCP_STATE_NAMES = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'TIME_WAIT', 'CLOSED',
] as const;
const STATES = 8;

/** TCP header flag bits (byte 13 of the TCP header). */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

/** What a packet's flags mean to the tracker. */
export const TcpEvent = { Syn: 0, SynAck: 1, Fin: 2, Ack: 3, Rst: 4 } as const;
export type TcpEvent = (typeof TcpEvent)[keyof typeof TcpEvent];
const EVENTS = 5;

/** Direction of a packet within its flow: the low bit of a flowRef. */
export const Dir = { Orig: 0, Reply: 1 } as const;

function classify(flags: number): TcpEvent {
  if (flags & TcpFlag.RST) return TcpEvent.Rst;
  if (flags & TcpFlag.SYN) return flags & TcpFlag.ACK ? TcpEvent.SynAck : TcpEvent.Syn;
  if (flags & TcpFlag.FIN) return TcpEvent.Fin;
  return TcpEvent.Ack; // ACK, PSH, URG or no flag at all: data or bare ACK
}

const EVENT_OF_FLAGS = new Uint8Array(64);
// Stryker disable next-line EqualityOperator: equivalent: f <= 64 only adds a write at index 64, which a 64-entry typed array ignores
for (let f = 0; f < 64; f++) EVENT_OF_FLAGS[f] = classify(f);

/** Control plane (built once): the transition for one (state, dir, event). */
function transition(s: TcpState, dir: number, e: TcpEvent): TcpState {
  const orig = dir === Dir.Orig;
  if (e === TcpEvent.Rst) return TcpState.Closed;
  switch (s) {
    case TcpState.None:
      if (e === TcpEvent.Syn) return orig ? TcpState.SynSent : TcpState.None;
      if (e === TcpEvent.Fin) return orig ? TcpState.FinWait : TcpState.CloseWait;
      return TcpState.Established; // mid-stream pickup (SYN+ACK or ACK first)
    case TcpState.SynSent:
      if (e === TcpEvent.SynAck) return orig ? TcpState.SynSent : TcpState.SynRecv;
      if (e === TcpEvent.Syn) return orig ? TcpState.SynSent : TcpState.SynRecv; // simultaneous open
      if (e === TcpEvent.Fin) return orig ? TcpState.FinWait : TcpState.CloseWait;
      return TcpState.SynSent; // ACK before SYN+ACK: ignore
    case TcpState.SynRecv:
      if (e === TcpEvent.Ack) return orig ? TcpState.Established : TcpState.SynRecv;
      if (e === TcpEvent.Fin) return orig ? TcpState.FinWait : TcpState.CloseWait;
      return TcpState.SynRecv; // retransmitted SYN / SYN+ACK
    case TcpState.Established:
      if (e === TcpEvent.Fin) return orig ? TcpState.FinWait : TcpState.CloseWait;
      return TcpState.Established;
    case TcpState.FinWait:
      if (e === TcpEvent.Fin && !orig) return TcpState.TimeWait;
      return TcpState.FinWait;
    case TcpState.CloseWait:
      if (e === TcpEvent.Fin && orig) return TcpState.TimeWait;
      return TcpState.CloseWait;
    case TcpState.TimeWait:
    case TcpState.Closed:
      if (e === TcpEvent.Syn && orig) return TcpState.SynSent; // port reuse
      return s;
  }
}

const NEXT = new Uint8Array(STATES * 2 * EVENTS);
// Stryker disable next-line EqualityOperator: equivalent: s <= STATES only adds writes past the end of NEXT, which a typed array ignores
for (let s = 0; s < STATES; s++) {
  // Stryker disable next-line EqualityOperator: equivalent: d = 2 writes the next state's orig row, which the next s overwrites (or past the end for the last state)
  for (let d = 0; d < 2; d++) {
    // Stryker disable next-line EqualityOperator: equivalent: e = EVENTS writes the next row's first entry, which the next (s, d) overwrites (or past the end for the last row)
    for (let e = 0; e < EVENTS; e++) NEXT[(s * 2 + d) * EVENTS + e] = transition(s as TcpState, d, e as TcpEvent);
  }
}

/**
 * The state after a packet with TCP `flags` (header byte 13) travelling in
 * `dir` (0 orig, 1 reply). Never allocates.
 */
export function tcpNext(state: number, dir: number, flags: number): TcpState {
  return NEXT[(state * 2 + dir) * EVENTS + EVENT_OF_FLAGS[flags & 0x3f]] as TcpState;
}

/** AWS's two TCP idle timeouts: established, and every other state. */
export function tcpTimeoutClass(state: number): TimeoutClass {
  return state === TcpState.Established ? TimeoutClass.TcpEstablished : TimeoutClass.Tcp;
}
