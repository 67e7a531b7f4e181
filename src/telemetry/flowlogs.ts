/**
 * VPC Flow Logs, version 2 default format [VPC-FL]:
 *   version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
 * One record per flow (5-tuple) per ENI per direction per aggregation
 * interval; NODATA for an ENI without traffic in the interval; SKIPDATA when
 * records were dropped because the interval's table was full.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FlowLogTable } from '../pipeline/flowlog-table.js';
import { formatIpv4 } from '../lib/ipv4.js';

export const FLOW_LOG_HEADER = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

export class FlowLogWriter {
  records = 0;
  private wroteHeader = false;

  constructor(private readonly path: string, private accountId: string, private instanceNames: readonly string[]) {
    mkdirSync(dirname(path), { recursive: true });
  }

  setInstances(names: readonly string[], accountId: string): void {
    this.instanceNames = names;
    this.accountId = accountId;
  }

  /** Drains the interval's table into the file. `startS`/`endS`: the interval, Unix seconds. */
  flush(table: FlowLogTable, startS: number, endS: number): number {
    const lines: string[] = [];
    if (!this.wroteHeader) {
      lines.push(FLOW_LOG_HEADER);
      this.wroteHeader = true;
    }
    const seen = new Set<number>();
    const acct = this.accountId;
    const { skipped } = table.drain((eni, src, dst, sport, dport, proto, accept, packets, bytes, firstMs, lastMs) => {
      seen.add(eni);
      const name = this.instanceNames[eni] ?? `${eni}`;
      lines.push(`2 ${acct} eni-${name} ${formatIpv4(src)} ${formatIpv4(dst)} ${sport} ${dport} ${proto} ${packets} ${bytes} ` +
        `${Math.floor(firstMs / 1000)} ${Math.max(Math.ceil(lastMs / 1000), Math.floor(firstMs / 1000))} ${accept ? 'ACCEPT' : 'REJECT'} OK`);
    });
    this.instanceNames.forEach((name, i) => {
      if (!seen.has(i)) lines.push(`2 ${acct} eni-${name} - - - - - - - ${startS} ${endS} - NODATA`);
    });
    if (skipped > 0) lines.push(`2 ${acct} - - - - - - - - ${startS} ${endS} - SKIPDATA`);
    const n = lines.length - (lines[0] === FLOW_LOG_HEADER ? 1 : 0);
    if (lines.length > 0) appendFileSync(this.path, `${lines.join('\n')}\n`);
    this.records += n;
    return n;
  }
}
