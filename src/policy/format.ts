/**
 * The readable form of an Explanation (`vpcd explain` without --json): a
 * table per direction, one line per stage: stage, on, verdict, deciding rule
 * (and rewrite), code; a note and informational codes, when there are any,
 * on the lines below.
 */
import type { By, Explanation, FlowJson, PathStage, PortRange, Rewrite } from './types.js';

function range(r: PortRange): string {
  return `${r.from}-${r.to}`;
}

export function describeFlow(f: FlowJson): string {
  const frag = f.fragment !== undefined ? ` (${f.fragment} fragment)` : '';
  const sport = f.sport ?? (f.sportRange !== undefined ? range(f.sportRange) : undefined);
  const dport = f.dport ?? (f.dportRange !== undefined ? range(f.dportRange) : undefined);
  if (sport !== undefined || dport !== undefined) return `${f.proto} ${f.src}:${sport ?? '-'} -> ${f.dst}:${dport ?? '-'}${frag}`;
  if (f.icmpType !== undefined) return `${f.proto} ${f.src} -> ${f.dst} type ${f.icmpType} code ${f.icmpCode ?? 0}${frag}`;
  return `${typeof f.proto === 'number' ? `proto ${f.proto}` : f.proto} ${f.src} -> ${f.dst}${frag}`;
}

export function describeBy(by: By | undefined): string {
  if (by === undefined) return '';
  if ('nacl' in by) return by.rule === '*' ? `nacl ${by.nacl} rule * (final deny)` : `nacl ${by.nacl} rule ${by.rule}`;
  if ('untracked' in by) return `group ${by.group} rule ${by.rule} (untracked: reply re-evaluated)`;
  if ('group' in by) return `group ${by.group} rule ${by.rule}`;
  if ('implicit' in by) return 'no rule allows (implicit deny)';
  if ('tracked' in by) return 'tracked connection';
  if ('destination' in by) return `table ${by.table}: ${by.destination} -> ${by.target}`;
  if ('table' in by) return `table ${by.table}: no route`;
  if ('sourceDestCheck' in by) return `source/dest check ${by.sourceDestCheck ? 'on' : 'off'}`;
  return `connection ${by.connection} (${by.network})`;
}

export function describeRewrite(r: Rewrite | undefined): string {
  if (r === undefined) return '';
  const parts: string[] = [];
  if (r.src !== undefined) parts.push(`src -> ${r.src}`);
  if (r.sport !== undefined) parts.push(`sport -> ${r.sport}`);
  if (r.sportRange !== undefined) parts.push(`sport -> ${range(r.sportRange)} (picked at run time)`);
  if (r.dst !== undefined) parts.push(`dst -> ${r.dst}`);
  if (r.dport !== undefined) parts.push(`dport -> ${r.dport}`);
  return `rewrite ${parts.join(', ')}`;
}

function rule(s: PathStage): string {
  const parts = [describeBy(s.by), describeRewrite(s.rewrite)].filter((x) => x !== '');
  if (s.conntrack !== undefined) parts.push(`(${s.conntrack})`);
  return parts.join(' ');
}

function table(path: readonly PathStage[]): string[] {
  const head = ['STAGE', 'ON', 'VERDICT', 'RULE', 'CODE'];
  const rows = path.map((s) => [s.stage, s.on, s.verdict, rule(s), s.code ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')}`.trimEnd();
  const out = [line(head)];
  path.forEach((s, i) => {
    out.push(line(rows[i] as string[]));
    if (s.note !== undefined) out.push(`      note: ${s.note}`);
    if (s.info !== undefined) out.push(`      info: ${s.info.join(', ')}`);
  });
  return out;
}

export function formatExplanation(e: Explanation): string {
  const out: string[] = [`request  ${describeFlow(e.flow)}: ${e.verdict.toUpperCase()}`, ...table(e.path)];
  if (e.reply !== undefined) {
    out.push('', `reply    ${describeFlow(e.reply.flow)}: ${e.reply.verdict.toUpperCase()}`, ...table(e.reply.path));
  } else if (e.verdict === 'allow') {
    out.push('', 'reply    none (this kind of packet has no reply)');
  }
  return `${out.join('\n')}\n`;
}
