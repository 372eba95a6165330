/** A column of a printed table: header, how to read a row, right-aligned by default. */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number;
  align?: 'left' | 'right';
}

/** Formats a number with fixed decimals, `-` for NaN/undefined. */
export function num(value: number | undefined, decimals = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(decimals);
}

/** Bytes as B/KB/MB (binary units). */
export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

/** Renders rows as a Markdown table (readable in a terminal, pasteable into an issue). */
export function markdownTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, 3, ...cells.map((row) => (row[i] ?? '').length)));
  const pad = (s: string, i: number) => ((columns[i]?.align ?? 'right') === 'left' ? s.padEnd(widths[i]!) : s.padStart(widths[i]!));
  const line = (values: string[]) => `| ${values.map(pad).join(' | ')} |`;
  const rule = `|${columns.map((c, i) => ((c.align ?? 'right') === 'left' ? ':' + '-'.repeat(widths[i]! + 1) : '-'.repeat(widths[i]! + 1) + ':')).join('|')}|`;
  return [line(columns.map((c) => c.header)), rule, ...cells.map(line)].join('\n');
}
