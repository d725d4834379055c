/**
 * `iommu-lab sql "<query>" [--db F] [--csv|--json] [--timeout S]` and `iommu-lab sql --schema`: the
 * SQL console from the command line (issue 9 §3; docs/sql.md). The query runs read-only in the SQL
 * worker process (main/worker/sql-host.ts) with the console's documented views; a query that runs
 * past its time limit is stopped (exit 2 with the message), Ctrl-C stops it (exit 130).
 *
 * Output: an aligned table of at most TABLE_ROWS rows (NULL shown as NULL), or every row streamed
 * as CSV (RFC 4180: a header row, CRLF, main/service/export.ts csvField; NULL as an empty field) or
 * as one JSON document { columns: [{ name, type }], rows: [[…]], elapsedMs }. Integers beyond
 * ±(2^53 − 1) are exact decimal strings; u64 event fields are in the views' "0x…" columns.
 * A SQL problem (syntax, no such table, a write refused, the time limit) is printed as
 * "iommu-lab: sql: <SQLite's message>" with the query line and a caret when SQLite says where; exit 2.
 */
import type { SqlColumnInfo, SqlError } from '../../core/contract/index.ts';
import { csvField } from '../service/export.ts';
import { defaultDbPath } from '../store/paths.ts';
import { SQL_MAX_TIMEOUT_MS, SqlHost } from '../worker/sql-host.ts';
import { EXIT, UsageError, type CliIO } from './common.ts';
import { escapeJsonOutput, escapeLines } from './escape.ts';
import { formatTable } from './table.ts';

/** Rows the aligned table shows (--csv / --json stream every row). */
export const TABLE_ROWS = 1000;

/** Options of `iommu-lab sql`. */
export interface SqlOptions {
  db?: string;
  csv?: boolean;
  json?: boolean;
  /** Time limit in seconds (default 10, at most 300). */
  timeout?: string;
  schema?: boolean;
}

/** Parses --timeout: seconds, > 0 and ≤ 300 (fractions allowed). Errors: UsageError. */
function timeoutMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(s > 0) || s * 1000 > SQL_MAX_TIMEOUT_MS) throw new UsageError(`--timeout must be a number of seconds > 0 and ≤ ${SQL_MAX_TIMEOUT_MS / 1000}, got "${v}"`);
  return Math.max(1, Math.round(s * 1000));
}

/** A value as CSV / table text: NULL → `nullText`, everything else its string. */
function text(v: unknown, nullText: string): string {
  return v === null || v === undefined ? nullText : String(v);
}

/** The SQL type of column `i` from its first non-NULL value in `rows` ('' when all NULL). */
function valueType(rows: unknown[][], i: number): string {
  for (const r of rows) {
    const v = r[i];
    if (typeof v === 'number') return Number.isInteger(v) ? 'INTEGER' : 'REAL';
    if (typeof v === 'string') return /^-?\d+$/.test(v) ? 'INTEGER' : 'TEXT';
  }
  return '';
}

/** The error for the terminal: the message, and the query's line with a caret under the offset. */
export function formatSqlError(sql: string, e: SqlError): string {
  let out = `iommu-lab: sql: ${e.message}\n`;
  if (e.offset !== null) {
    const start = sql.lastIndexOf('\n', e.offset - 1) + 1;
    const end = sql.indexOf('\n', e.offset);
    const line = sql.slice(start, end < 0 ? undefined : end);
    out += `  ${line}\n  ${' '.repeat([...sql.slice(start, e.offset)].length)}^\n`;
  }
  return out;
}

export async function cmdSql(query: string | undefined, opts: SqlOptions, io: CliIO): Promise<number> {
  if (opts.csv && opts.json) throw new UsageError('--csv and --json: choose one');
  if (!opts.schema && (query === undefined || !query.trim())) throw new UsageError('sql: give a query (e.g. iommu-lab sql "SELECT * FROM v_runs"), or --schema');
  const limit = timeoutMs(opts.timeout);
  const host = new SqlHost(opts.db ?? defaultDbPath());
  const tty = io.stdout.isTTY === true;
  // A reader that went away (`| head`) ends the query quietly (exit 0), as `export` does.
  let closed = false;
  const onStdoutError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    closed = true;
    host.cancel();
  };
  io.stdout.on('error', onStdoutError);
  const out = (s: string): Promise<void> | void => {
    if (closed) return;
    const t = tty ? escapeLines(s) : s;
    if (!io.stdout.write(t)) return new Promise((r) => {
      io.stdout.once('drain', () => r());
      io.stdout.once('error', () => r());
    });
  };
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    host.cancel();
  };
  process.on('SIGINT', onSigint);
  try {
    if (opts.schema) {
      let schema;
      try {
        schema = await host.schema();
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (opts.json) await out(escapeJsonOutput(JSON.stringify(schema, null, 2)) + '\n');
      else {
        for (const o of schema) {
          await out(`${o.name} (${o.kind}): ${o.doc}\n`);
          await out(formatTable(o.columns.map((c) => ['  ' + c.name, c.type, c.doc])).join('\n') + '\n\n');
        }
        await out('Every view and example queries: docs/sql.md\n');
      }
      return EXIT.OK;
    }
    const sql = query!;
    if (!opts.csv && !opts.json) {
      const r = await host.query({ sql, limit: TABLE_ROWS, timeoutMs: limit });
      if (r.error) return fail(sql, r.error, interrupted, io, closed);
      const rows = r.rows.map((row) => row.map((v) => text(v, 'NULL')));
      const numeric = r.columns.map((c) => c.type === 'INTEGER' || c.type === 'REAL');
      await out(formatTable(rows, { head: r.columns.map((c) => c.name), align: numeric.map((n) => (n ? 'right' : 'left')) }).join('\n') + '\n');
      await out(`(${r.rows.length}${r.truncated ? `+ rows: the first ${TABLE_ROWS} shown; --csv or --json give every row` : r.rows.length === 1 ? ' row' : ' rows'}, ${r.elapsedMs.toFixed(1)} ms)\n`);
      return EXIT.OK;
    }
    let columns: SqlColumnInfo[] = [];
    let first = true;
    const r = await host.stream(
      sql,
      {
        columns: (c) => {
          columns = c;
          if (opts.csv) void out(c.map((x) => csvField(x.name)).join(',') + '\r\n');
        },
        rows: (rows) => {
          let s = '';
          if (opts.csv) for (const row of rows) s += row.map((v) => csvField(text(v, ''))).join(',') + '\r\n';
          else
            for (const row of rows) {
              // The types the stream could not declare (expressions): from the first chunk's values.
              if (first) columns = columns.map((c, i) => (c.type ? c : { ...c, type: valueType(rows, i) }));
              s += (first ? `{"columns":${JSON.stringify(columns)},"rows":[\n` : ',\n') + escapeJsonOutput(JSON.stringify(row));
              first = false;
            }
          return out(s);
        },
      },
      { timeoutMs: limit },
    );
    if (r.error) {
      if (opts.json && !first) await out('\n]}\n'); // keep what was printed a JSON document
      return fail(sql, r.error, interrupted, io, closed);
    }
    if (opts.json) await out(first ? `{"columns":${JSON.stringify(columns)},"rows":[],"elapsedMs":${r.elapsedMs.toFixed(1)}}\n` : `\n],"elapsedMs":${r.elapsedMs.toFixed(1)}}\n`);
    return EXIT.OK;
  } finally {
    process.off('SIGINT', onSigint);
    io.stdout.off('error', onStdoutError);
    await host.close();
  }
}

function fail(sql: string, e: SqlError, interrupted: boolean, io: CliIO, closed = false): number {
  if (closed) return EXIT.OK;
  if (interrupted) {
    io.stderr.write('iommu-lab: sql: interrupted\n');
    return EXIT.INTERRUPTED;
  }
  io.stderr.write(escapeLines(formatSqlError(sql, e)));
  return EXIT.INVALID;
}
