/**
 * What `vpcd import aws` could not carry over, and what it decided, for the
 * report on stderr: nothing is dropped without a line here. `unmapped`:
 * something AWS has that the vpcd file cannot express (peering, endpoints,
 * transit gateways, IPv6 routing, ...), with what happened to it. `notes`:
 * choices made on the way (a propagated route written as a static one, a
 * secret left to an environment variable, a name changed to be unique).
 */

export interface ReportLine {
  /** What it is about: `route table app-a (rtb-0123)`. */
  readonly subject: string;
  readonly text: string;
}

export class ImportReport {
  readonly unmapped: ReportLine[] = [];
  readonly notes: ReportLine[] = [];
  readonly read: string[] = [];

  unmap(subject: string, text: string): void {
    this.unmapped.push({ subject, text });
  }

  note(subject: string, text: string): void {
    this.notes.push({ subject, text });
  }

  /** The report as printed on stderr. */
  format(): string {
    const out: string[] = [];
    for (const r of this.read) out.push(`read ${r}`);
    if (this.unmapped.length > 0) {
      out.push(`not mapped (${this.unmapped.length}): vpcd has no equivalent, so these are not in the output`);
      for (const l of this.unmapped) out.push(`  ${l.subject}: ${l.text}`);
    } else {
      out.push('not mapped: nothing');
    }
    if (this.notes.length > 0) {
      out.push(`notes (${this.notes.length}):`);
      for (const l of this.notes) out.push(`  ${l.subject}: ${l.text}`);
    }
    return out.join('\n');
  }
}
