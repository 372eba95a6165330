import { markdownTable, num, type Column } from './table.js';

/** One phase of a records-through-a-pipeline benchmark (backup, restore), compared with a produce baseline. */
export interface ThroughputRow {
  phase: string;
  records: number;
  mb: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  /** CPU cores the phase used, where measured. */
  cpuCores?: number;
  /** The baseline's time over this phase's, formatted ('1.00' for the baseline, '-' for none). */
  ratio: string;
}

/** A row with its rates worked out. */
export function throughputRow(phase: string, records: number, mb: number, seconds: number, ratio: string, cpuCores?: number): ThroughputRow {
  return { phase, records, mb, seconds, recordsPerSec: records / seconds, mbPerSec: mb / seconds, ...(cpuCores === undefined ? {} : { cpuCores }), ratio };
}

/** The rows as a Markdown table; the CPU column only when `withCpu`. */
export function throughputTable(rows: readonly ThroughputRow[], withCpu: boolean): string {
  const columns: Column<ThroughputRow>[] = [
    { header: 'phase', value: (r) => r.phase, align: 'left' },
    { header: 'records', value: (r) => r.records },
    { header: 'MB', value: (r) => num(r.mb, 1) },
    { header: 'seconds', value: (r) => num(r.seconds, 2) },
    { header: 'records/s', value: (r) => num(r.recordsPerSec, 0) },
    { header: 'MB/s', value: (r) => num(r.mbPerSec, 1) },
    ...(withCpu ? [{ header: 'CPU (cores)', value: (r: ThroughputRow) => num(r.cpuCores, 2) }] : []),
    { header: 'x produce rate', value: (r) => r.ratio },
  ];
  return markdownTable(rows, columns);
}
