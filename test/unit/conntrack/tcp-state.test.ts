import { describe, expect, it } from 'vitest';
import { TimeoutClass } from '../../../src/conntrack/expiry.js';
import { TCP_STATE_NAMES, TcpFlag, TcpState, tcpNext, tcpTimeoutClass } from '../../../src/conntrack/tcp-state.js';

const { FIN, SYN, RST, PSH, ACK, URG } = TcpFlag;
const O = 0; // orig
const R = 1; // reply
const S = TcpState;

// [from, dir, flags, to]
const TRANSITIONS: readonly [number, number, number, number][] = [
  // three-way handshake
  [S.None, O, SYN, S.SynSent],
  [S.SynSent, O, SYN, S.SynSent], // retransmitted SYN
  [S.SynSent, R, SYN | ACK, S.SynRecv],
  [S.SynSent, R, SYN, S.SynRecv], // simultaneous open
  [S.SynSent, O, ACK, S.SynSent], // ACK before SYN+ACK: ignored
  [S.SynRecv, R, SYN | ACK, S.SynRecv], // retransmitted SYN+ACK
  [S.SynRecv, R, ACK, S.SynRecv],
  [S.SynRecv, O, ACK, S.Established],
  [S.SynRecv, O, ACK | PSH, S.Established], // data with the final ACK
  [S.Established, O, ACK | PSH, S.Established],
  [S.Established, R, ACK | URG, S.Established],
  [S.Established, O, 0, S.Established], // no flags at all: no change
  // close: originator first
  [S.Established, O, FIN | ACK, S.FinWait],
  [S.FinWait, R, ACK, S.FinWait],
  [S.FinWait, O, FIN | ACK, S.FinWait], // retransmitted FIN
  [S.FinWait, R, FIN | ACK, S.TimeWait],
  [S.TimeWait, O, ACK, S.TimeWait],
  // close: responder first
  [S.Established, R, FIN | ACK, S.CloseWait],
  [S.CloseWait, O, ACK | PSH, S.CloseWait], // half-closed: orig may still send
  [S.CloseWait, R, FIN, S.CloseWait],
  [S.CloseWait, O, FIN | ACK, S.TimeWait],
  // FIN before the handshake completed
  [S.SynSent, O, FIN, S.FinWait],
  [S.SynRecv, R, FIN | ACK, S.CloseWait],
  // RST from anywhere, either way
  [S.None, O, RST, S.Closed],
  [S.SynSent, R, RST | ACK, S.Closed],
  [S.SynRecv, O, RST, S.Closed],
  [S.Established, R, RST, S.Closed],
  [S.FinWait, O, RST, S.Closed],
  [S.CloseWait, R, RST, S.Closed],
  [S.TimeWait, R, RST, S.Closed],
  [S.Established, O, SYN | RST, S.Closed], // RST wins over SYN
  [S.Closed, R, ACK, S.Closed],
  // port reuse after close
  [S.TimeWait, O, SYN, S.SynSent],
  [S.Closed, O, SYN, S.SynSent],
  [S.TimeWait, R, SYN, S.TimeWait],
  // mid-stream pickup (flow created by a non-SYN packet)
  [S.None, O, ACK, S.Established],
  [S.None, O, ACK | PSH, S.Established],
  [S.None, O, SYN | ACK, S.Established],
  [S.None, O, FIN | ACK, S.FinWait],
];

describe('tcpNext', () => {
  it.each(TRANSITIONS.map(([from, dir, flags, to]) => ({ from, dir, flags, to, name: `${TCP_STATE_NAMES[from]} ${dir ? 'reply' : 'orig'} 0x${flags.toString(16)} -> ${TCP_STATE_NAMES[to]}` })))(
    '$name',
    ({ from, dir, flags, to }) => {
      expect(TCP_STATE_NAMES[tcpNext(from, dir, flags)]).toBe(TCP_STATE_NAMES[to]);
    },
  );

  it('ignores ECE/CWR (bits 6-7) when classifying flags', () => {
    expect(tcpNext(S.None, O, SYN | 0xc0)).toBe(S.SynSent);
    expect(tcpNext(S.SynSent, R, SYN | ACK | 0x40)).toBe(S.SynRecv);
  });

  it('walks a whole connection to TIME_WAIT', () => {
    const seq: [number, number][] = [[O, SYN], [R, SYN | ACK], [O, ACK], [O, ACK | PSH], [R, ACK], [O, FIN | ACK], [R, FIN | ACK], [O, ACK]];
    const states: string[] = [];
    let s: number = S.None;
    for (const [dir, flags] of seq) states.push(TCP_STATE_NAMES[(s = tcpNext(s, dir, flags))]);
    expect(states).toEqual(['SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'FIN_WAIT', 'TIME_WAIT', 'TIME_WAIT']);
  });

  it('maps states to the two AWS TCP timeout classes', () => {
    for (let s = 0; s < TCP_STATE_NAMES.length; s++) {
      expect(tcpTimeoutClass(s)).toBe(s === S.Established ? TimeoutClass.TcpEstablished : TimeoutClass.Tcp);
    }
  });
});
