/**
 * The hop-by-hop record of one direction: which place sent the packet, as
 * what, which place took it, as what, and where the direction ended. It is
 * the machine-comparable part of `explain --json` (`legs`, `end`): a test can
 * set it beside what the packet path emitted on each port.
 *
 * Places: an ENI (an instance or a NAT gateway, by name), `internet`, a VPN
 * connection (by name). The packet a leg arrives with is the packet it left
 * with plus the rewrites of its stages (the internet gateway's 1:1 NAT on the
 * way); what the receiving place then does (a NAT gateway's translation)
 * opens the next leg.
 */
import { flowJson, type Pkt } from './flow.js';
import type { End, Leg, PathStage, Rewrite, Verdict } from './types.js';

interface Draft {
  readonly from: string;
  packet: Pkt;
  readonly first: number;
  to?: string;
  last?: number;
}

/** `p` with a stage's rewrite applied. */
export function applyRewrite(p: Pkt, r: Rewrite): Pkt {
  let natPort = p.natPort;
  const out: { -readonly [K in keyof Pkt]: Pkt[K] } = { ...p };
  if (r.src !== undefined) out.src = r.src;
  if (r.dst !== undefined) out.dst = r.dst;
  if (r.sport !== undefined) {
    out.sport = r.sport;
    if (natPort === 'sport') natPort = undefined;
  }
  if (r.sportRange !== undefined) natPort = 'sport';
  if (r.dport !== undefined) {
    out.dport = r.dport;
    if (natPort === 'dport') natPort = undefined;
  }
  delete out.natPort;
  return natPort === undefined ? out : { ...out, natPort };
}

export class LegRecorder {
  private readonly drafts: Draft[] = [];

  constructor(private readonly path: readonly PathStage[]) {}

  /** A leg starts at `from` with `packet`, at the next stage. */
  start(from: string, packet: Pkt): void {
    this.drafts.push({ from, packet, first: this.path.length });
  }

  /** The place of the current leg translated the packet before sending it on. */
  sends(packet: Pkt): void {
    const d = this.current();
    d.packet = packet;
  }

  /** `to` takes the packet; what it does next is a new leg from it. Returns the packet as it arrived. */
  reaches(to: string): Pkt {
    const arrived = this.close(to);
    this.start(to, arrived);
    return arrived;
  }

  /** `to` takes the packet and the direction ends there. */
  ends(to: string): void {
    this.close(to);
  }

  legs(): Leg[] {
    return this.drafts.map((d) => {
      const last = d.last ?? this.path.length - 1;
      const leg: { -readonly [K in keyof Leg]: Leg[K] } = { from: d.from, packet: flowJson(d.packet), first: d.first, last };
      if (d.to !== undefined) {
        leg.to = d.to;
        leg.arrived = flowJson(this.along(d, last));
      }
      return leg;
    });
  }

  end(verdict: Verdict): End {
    const s = this.path.at(-1) as PathStage;
    const d = this.drafts.at(-1) as Draft;
    const out: { -readonly [K in keyof End]: End[K] } = {
      verdict,
      stage: s.stage,
      at: s.on,
      packet: flowJson(this.along(d, this.path.length - 1)),
    };
    if (s.code !== undefined) out.code = s.code;
    return out;
  }

  private current(): Draft {
    const d = this.drafts.at(-1);
    if (d === undefined || d.to !== undefined) throw new Error('no open leg');
    return d;
  }

  private close(to: string): Pkt {
    const d = this.current();
    d.to = to;
    d.last = this.path.length - 1;
    return this.along(d, d.last);
  }

  /** The leg's packet with the rewrites of its stages up to `last`. */
  private along(d: Draft, last: number): Pkt {
    let p = d.packet;
    for (let i = d.first; i <= last; i++) {
      const r = this.path[i]?.rewrite;
      if (r !== undefined) p = applyRewrite(p, r);
    }
    return p;
  }
}
