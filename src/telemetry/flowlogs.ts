/**
 * VPC Flow Logs [VPC-FL], in the configured format (flowlog-record.ts; the
 * default is version 2:
 *   version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status).
 * One record per flow (5-tuple) per ENI per direction per aggregation
 * interval; NODATA for an ENI without traffic in the interval; SKIPDATA for
 * an ENI some of whose packets were not recorded (its quota was used).
 *
 * Off the packet path: at the end of an interval the packet path's table is
 * swapped with a spare (one reference), and the full one is formatted and
 * written in chunks of CHUNK_RECORDS, each chunk in its own event-loop turn
 * (setImmediate) with an asynchronous write, so a flush never holds the
 * batch loop for more than one chunk's formatting. The table goes back as the
 * spare once written. Intervals are written in order through one queue.
 */
import { performance } from 'node:perf_hooks';
import { FlowLogTable } from '../pipeline/flowlog-table.js';
import type { FlowLogsConfig } from '../control/config-types.js';
import { DEFAULT_FILE_MODE, DEFAULT_KEEP, DEFAULT_MAX_BYTES, FlowLogFile, type FlowLogFileOptions } from './flowlog-file.js';
import { type FlowLogEni, FlowLogRecordFormat, sameEnis } from './flowlog-record.js';

/** Records formatted per event-loop turn. */
export const CHUNK_RECORDS = 1024;

/** Where the packet path looks for the table it records into (the security stage). */
export interface FlowLogSink {
  flowLog: FlowLogTable | null;
}

/** Figures of the last interval written. */
export interface FlushStats {
  records: number;
  chunks: number;
  /** Longest synchronous slice (formatting one chunk), ms. */
  maxSliceMs: number;
  /** All slices together, ms. */
  busyMs: number;
  /** From the swap to the last byte written, ms. */
  totalMs: number;
}

interface Interval {
  readonly table: FlowLogTable;
  readonly generation: number;
  readonly enis: readonly FlowLogEni[];
  readonly accountId: string;
  readonly file: FlowLogFile;
  readonly format: FlowLogRecordFormat;
  readonly startS: number;
  readonly endS: number;
}

/** The file options of a flowLogs section, defaults applied. */
export function fileOptions(cfg: FlowLogsConfig): FlowLogFileOptions {
  return {
    path: cfg.path,
    mode: cfg.fileMode ?? DEFAULT_FILE_MODE,
    allowSharedDirectory: cfg.allowSharedDirectory ?? false,
    maxBytes: cfg.maxBytes ?? DEFAULT_MAX_BYTES,
    keep: cfg.keep ?? DEFAULT_KEEP,
    header: new FlowLogRecordFormat(cfg.format, cfg.fileFormat).header,
  };
}

function sameFile(a: FlowLogsConfig, b: FlowLogsConfig): boolean {
  const x = fileOptions(a), y = fileOptions(b);
  return x.path === y.path && x.mode === y.mode && x.allowSharedDirectory === y.allowSharedDirectory && x.maxBytes === y.maxBytes &&
    x.keep === y.keep && x.header === y.header;
}

function sameFormat(a: FlowLogsConfig, b: FlowLogsConfig): boolean {
  const x = a.format ?? [], y = b.format ?? [];
  return (a.fileFormat ?? 'text') === (b.fileFormat ?? 'text') && x.length === y.length && x.every((f, i) => f === y[i]);
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A prepared flow-log change of a reload: commit() cannot throw; abort() undoes what prepare opened. */
export interface FlowLogsChange {
  /** What changes, for the reload's log line (empty: nothing). */
  readonly changes: readonly string[];
  commit(nowMs: number): FlowLogs | null;
  abort(): Promise<void>;
}

export class FlowLogs {
  /** Records (lines other than the header) written. */
  records = 0;
  /** Records lost to write errors. */
  lostRecords = 0;
  /** Packets that were not recorded (quota used or no slot), all intervals. */
  skippedPackets = 0;
  /** Intervals that could not end on time because the previous one was still being written. */
  lateIntervals = 0;
  lastFlush: FlushStats = { records: 0, chunks: 0, maxSliceMs: 0, busyMs: 0, totalMs: 0 };

  private active: FlowLogTable;
  private spare: FlowLogTable | null;
  private generation = 0;
  private intervalStartMs: number;
  private queue: Promise<void> = Promise.resolve();

  /**
   * `onError`: a write failure (the interval's records are lost and counted).
   * Construction does not touch the sink; attach() does.
   */
  private constructor(
    private cfg: FlowLogsConfig, private file: FlowLogFile, tables: [FlowLogTable, FlowLogTable],
    private enis: readonly FlowLogEni[], private accountId: string, private readonly sink: FlowLogSink,
    private readonly onError: (place: string, e: unknown) => void, nowMs: number,
  ) {
    this.active = tables[0];
    this.spare = tables[1];
    this.intervalStartMs = nowMs;
    this.format = new FlowLogRecordFormat(cfg.format, cfg.fileFormat);
  }

  private format: FlowLogRecordFormat;

  get aggregationInterval(): number {
    return this.cfg.aggregationInterval;
  }

  get path(): string {
    return this.file.path;
  }

  /** Size rotations, all files this object wrote. */
  get rotations(): number {
    return this.rotationsBefore + this.file.rotations;
  }

  private rotationsBefore = 0;

  private static tables(cfg: FlowLogsConfig, enis: number): [FlowLogTable, FlowLogTable] {
    const opts = { enis: Math.max(1, enis), ...(cfg.recordsPerEni !== undefined ? { recordsPerEni: cfg.recordsPerEni } : {}) };
    return [new FlowLogTable(opts), new FlowLogTable(opts)];
  }

  /**
   * Builds everything a configuration needs (opens the file, sizes the
   * tables) without touching the running state. Throws with the reason
   * (FlowLogFileError, RangeError). `current`: the running flow logs, if any.
   */
  static prepare(current: FlowLogs | null, cfg: FlowLogsConfig | undefined, enis: readonly FlowLogEni[], accountId: string,
    sink: FlowLogSink, onError: (place: string, e: unknown) => void): FlowLogsChange {
    if (cfg === undefined) {
      return {
        changes: current ? ['disabled'] : [],
        commit: (nowMs) => {
          current?.retire(nowMs);
          return null;
        },
        abort: () => Promise.resolve(),
      };
    }
    if (current === null) {
      const file = FlowLogFile.open(fileOptions(cfg));
      let tables: [FlowLogTable, FlowLogTable];
      try {
        tables = FlowLogs.tables(cfg, enis.length);
      } catch (e) {
        void file.discardIfUnused();
        throw e;
      }
      return {
        changes: ['enabled'],
        commit: (nowMs) => {
          const f = new FlowLogs(cfg, file, tables, enis, accountId, sink, onError, nowMs);
          sink.flowLog = f.active;
          return f;
        },
        abort: () => file.discardIfUnused(),
      };
    }
    const changes: string[] = [];
    const fileChanged = !sameFile(current.cfg, cfg);
    const tablesChanged = !sameEnis(current.enis, enis) || current.cfg.recordsPerEni !== cfg.recordsPerEni;
    if (fileChanged) changes.push(current.cfg.path !== cfg.path ? `path ${cfg.path}` : 'file options');
    if (tablesChanged) changes.push('table size');
    if (!sameFormat(current.cfg, cfg)) changes.push('format');
    if (current.cfg.aggregationInterval !== cfg.aggregationInterval) changes.push(`aggregationInterval ${cfg.aggregationInterval}`);
    if (current.accountId !== accountId) changes.push('accountId');
    const file = fileChanged ? FlowLogFile.open(fileOptions(cfg)) : null;
    let tables: [FlowLogTable, FlowLogTable] | null = null;
    try {
      if (tablesChanged) tables = FlowLogs.tables(cfg, enis.length);
    } catch (e) {
      if (file) void file.discardIfUnused();
      throw e;
    }
    return {
      changes,
      commit: (nowMs) => {
        current.replace(nowMs, cfg, file, tables, enis, accountId);
        return current;
      },
      abort: () => (file ? file.discardIfUnused() : Promise.resolve()),
    };
  }

  /**
   * Ends the interval: the packet path gets the spare table, and the full one
   * is written in the background. When the previous interval is still being
   * written, this one goes on (counted in lateIntervals).
   */
  endInterval(nowMs: number): void {
    const full = this.active;
    const next = this.spare;
    if (next === null) {
      this.lateIntervals++;
      return;
    }
    this.spare = null;
    this.active = next;
    this.sink.flowLog = next;
    this.write({
      table: full, generation: this.generation, enis: this.enis, accountId: this.accountId, file: this.file, format: this.format,
      startS: Math.floor(this.intervalStartMs / 1000), endS: Math.floor(nowMs / 1000),
    });
    this.intervalStartMs = nowMs;
  }

  /** Reopens the file (SIGUSR1 after an external rotation). */
  reopen(): Promise<void> {
    return this.file.reopen();
  }

  /** Writes the current interval and closes the file; resolves when everything is on disk. */
  async close(nowMs: number): Promise<void> {
    this.retire(nowMs);
    await this.queue;
  }

  /** Resolves when every interval queued so far is written. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Flow logs switched off: the sink stops recording; the current interval is written, then the file closes. */
  private retire(nowMs: number): void {
    this.sink.flowLog = null;
    this.write({
      table: this.active, generation: -1, enis: this.enis, accountId: this.accountId, file: this.file, format: this.format,
      startS: Math.floor(this.intervalStartMs / 1000), endS: Math.floor(nowMs / 1000),
    });
    const file = this.file;
    this.enqueue(() => file.close(), 'flow-log-write');
  }

  /** Applies a prepared change: the interval so far is written under the old settings; nothing here throws. */
  private replace(nowMs: number, cfg: FlowLogsConfig, file: FlowLogFile | null, tables: [FlowLogTable, FlowLogTable] | null,
    enis: readonly FlowLogEni[], accountId: string): void {
    const startS = Math.floor(this.intervalStartMs / 1000), endS = Math.floor(nowMs / 1000);
    if (tables !== null) {
      // New ENIs or quota: the interval so far is written under the old names, the new tables start empty.
      this.write({ table: this.active, generation: -1, enis: this.enis, accountId: this.accountId, file: this.file, format: this.format, startS, endS });
      this.generation++;
      this.active = tables[0];
      this.spare = tables[1];
      this.intervalStartMs = nowMs;
    } else if (file !== null && this.spare !== null) {
      // A new file: the interval so far goes to the old one.
      this.write({ table: this.active, generation: this.generation, enis: this.enis, accountId: this.accountId, file: this.file, format: this.format, startS, endS });
      this.active = this.spare;
      this.spare = null;
      this.intervalStartMs = nowMs;
    }
    // (A new file while the spare is still being written: the interval goes on and ends in the new file.)
    this.sink.flowLog = this.active;
    if (file !== null) {
      const old = this.file;
      this.rotationsBefore += old.rotations;
      this.file = file;
      this.enqueue(() => old.close(), 'flow-log-write');
    }
    this.cfg = cfg;
    this.enis = enis;
    this.format = new FlowLogRecordFormat(cfg.format, cfg.fileFormat);
    this.accountId = accountId;
  }

  private enqueue(op: () => Promise<void>, place: string): void {
    this.queue = this.queue.then(op).catch((e: unknown) => this.onError(place, e));
  }

  private write(iv: Interval): void {
    this.enqueue(() => this.writeInterval(iv), 'flow-log-write');
  }

  /** Formats and writes one interval in chunks, then returns its table as the spare. */
  private async writeInterval(iv: Interval): Promise<void> {
    const t = iv.table;
    const t0 = performance.now();
    const stats: FlushStats = { records: 0, chunks: 0, maxSliceMs: 0, busyMs: 0, totalMs: 0 };
    let lines: string[] = [];
    let eni = 0, n = 0, formatted = 0;
    let unknownDone = false;
    try {
      for (;;) {
        await yieldTurn();
        const s0 = performance.now();
        lines = [];
        while (lines.length < CHUNK_RECORDS && eni < t.enis) {
          const e = iv.enis[eni];
          const count = t.recordsOf(eni);
          if (n < count) {
            lines.push(iv.format.record(iv.accountId, e, t, eni * t.recordsPerEni + n));
            n++;
            formatted++;
            continue;
          }
          const skipped = t.skippedOf(eni);
          if (skipped > 0) {
            lines.push(iv.format.status(iv.accountId, e, iv.startS, iv.endS, 'SKIPDATA'));
            this.skippedPackets += skipped;
          } else if (count === 0) {
            lines.push(iv.format.status(iv.accountId, e, iv.startS, iv.endS, 'NODATA'));
          }
          eni++;
          n = 0;
        }
        if (eni >= t.enis && !unknownDone) {
          unknownDone = true;
          if (t.skippedUnknown > 0) {
            lines.push(iv.format.status(iv.accountId, undefined, iv.startS, iv.endS, 'SKIPDATA'));
            this.skippedPackets += t.skippedUnknown;
          }
        }
        // appendLines makes the chunk's bytes in this turn; only the write itself waits.
        const written = lines.length > 0 ? iv.file.appendLines(lines) : null;
        const slice = performance.now() - s0;
        stats.maxSliceMs = Math.max(stats.maxSliceMs, slice);
        stats.busyMs += slice;
        if (written === null) break;
        stats.chunks++;
        try {
          await written;
          stats.records += lines.length;
          this.records += lines.length;
        } catch (e) {
          // This chunk and every record not formatted yet are lost.
          this.lostRecords += lines.length + (t.size - formatted);
          throw e;
        }
        if (eni >= t.enis) break;
      }
    } finally {
      t.clear();
      if (iv.generation === this.generation && this.spare === null && t !== this.active) this.spare = t;
      stats.totalMs = performance.now() - t0;
      this.lastFlush = stats;
    }
  }
}
