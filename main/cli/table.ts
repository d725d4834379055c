/**
 * Plain-text tables for the CLI: columns as wide as their widest cell (header included), computed
 * with a loop (never Math.max(...cells): spreading ~126 K arguments overflows the stack).
 */

/** How a column's cells are padded: 'left' text, 'right' numbers. */
export type Align = 'left' | 'right';

/** Display width of a cell: code points (the CLI's cells are ASCII or one-column symbols like ✔). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function pad(s: string, w: number, align: Align): string {
  const fill = w - width(s);
  if (fill <= 0) return s;
  return align === 'right' ? ' '.repeat(fill) + s : s + ' '.repeat(fill);
}

/** Widest cell of each column over `rows` (and `head` when given). */
export function columnWidths(rows: readonly (readonly string[])[], head?: readonly string[]): number[] {
  const w: number[] = head ? head.map(width) : [];
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const n = width(row[i]);
      if (!(n <= w[i])) w[i] = n;
    }
  }
  return w;
}

/**
 * Lines of a table: the header row (when given), then one line per row, cells separated by `gap`
 * and padded to their column's width ('left' unless `align` says otherwise). The last column is
 * not padded (no trailing spaces).
 */
export function formatTable(rows: readonly (readonly string[])[], opts: { head?: readonly string[]; align?: readonly Align[]; gap?: string } = {}): string[] {
  const w = columnWidths(rows, opts.head);
  const gap = opts.gap ?? '  ';
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 && (opts.align?.[i] ?? 'left') === 'left' ? c : pad(c, w[i], opts.align?.[i] ?? 'left')))
      .join(gap);
  const out: string[] = [];
  if (opts.head) out.push(line(opts.head));
  for (const r of rows) out.push(line(r));
  return out;
}
