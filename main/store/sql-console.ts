/**
 * The SQL console's connection (issue 9 §3 "A SQL console over the lab's database"): the lab
 * database opened READ-ONLY (better-sqlite3 `readonly`, `fileMustExist`; openReadOnlyDatabase),
 * with the documented TEMP tables and views of main/store/sql-views.ts created on it (no migration:
 * they live only on this connection and adapt to the database's schema version).
 *
 * Read-only is enforced twice: by SQLite (a write to the lab's tables fails with SQLITE_READONLY)
 * and here, before a statement runs: only statements that return rows and write nothing
 * (better-sqlite3 `stmt.reader && stmt.readonly`, i.e. sqlite3_stmt_readonly) run, so INSERT …
 * RETURNING, ATTACH, DETACH, PRAGMA assignments, CREATE TEMP … and writes to the console's own
 * TEMP tables are refused with {@link SqlConsoleError} "read-only: …".
 *
 * Values: integers are read with safeIntegers and returned as JS numbers when exact (|v| ≤ 2^53 − 1),
 * else as the decimal string of the exact signed 64-bit value (so nothing is rounded); reals as
 * numbers (±Infinity as "Inf" / "-Inf"); text as strings; blobs as "X'…'" hex literals. u64 event
 * fields are stored two's-complement (codec.ts): the views' `*_hex` columns give them unsigned as
 * "0x…", and the console's `hex64(x)` function does the same for any integer.
 *
 * Used by the SQL worker (main/worker/sql-worker.ts), never on a service's main thread: a query
 * can take as long as SQLite needs.
 */
import type Database from 'better-sqlite3';
import type { SqlColumnInfo, SqlSchemaObject } from '../../core/contract/index.ts';
import { formatEvent } from '../../core/events/format.ts';
import { KIND_BY_CODE } from '../../core/events/catalog.ts';
import { decodeFields, type RawEventRow } from './codec.ts';
import { configureConnection } from './schema.ts';
import { openReadOnlyDatabase } from './store.ts';
import { CONSOLE_OBJECTS, EVENT_TEXT_SQL_FN, STORED_TABLES, errnoRows, eventKindRows, type StoredColumns } from './sql-views.ts';

/** One result column: its name and SQL type (declared type of a table column, else the type of its first non-NULL value; '' when all NULL). */
export type SqlColumn = SqlColumnInfo;

/** A query's result (the contract's sqlQuery result without elapsedMs). */
export interface SqlResult {
  columns: SqlColumn[];
  /** Rows of values (see the file comment for how each SQLite type is given). */
  rows: unknown[][];
  /** More rows followed the `limit` (they were not read). */
  truncated: boolean;
}

/** A query the console refuses or SQLite rejects: SQLite's text (and `offset` into the SQL, 0-based, when it can be told). */
export class SqlConsoleError extends Error {
  constructor(
    message: string,
    /** SQLite's result code name ('SQLITE_ERROR', …), or 'READONLY_REFUSED' for a statement the console refuses. */
    readonly code: string,
    /** Character offset in the query where SQLite stopped, when known. */
    readonly offset: number | null = null,
  ) {
    super(message);
    this.name = 'SqlConsoleError';
  }
}

/** The UI's default row cap (the contract's sqlQuery `limit` default and maximum). */
export const SQL_ROW_LIMIT = 100_000;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A SQLite value as the console returns it (see the file comment). */
export function sqlValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : v > 0 ? 'Inf' : '-Inf';
  if (v instanceof Uint8Array) return `X'${Buffer.from(v).toString('hex').toUpperCase()}'`;
  return v;
}

/** SQL type name of a value read with safeIntegers. */
function typeOf(v: unknown): string {
  if (typeof v === 'bigint') return 'INTEGER';
  if (typeof v === 'number') return 'REAL';
  if (typeof v === 'string') return 'TEXT';
  if (v instanceof Uint8Array) return 'BLOB';
  return '';
}

/** The first word of a statement (for the refusal message), upper-cased; comments skipped. */
function firstWord(sql: string): string {
  const s = sql.replace(/^(\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/, '');
  return (/^[A-Za-z]+/.exec(s)?.[0] ?? s.slice(0, 20)).toUpperCase();
}

/**
 * Where a syntax error is, for SQLite's `near "TOKEN": syntax error` (better-sqlite3 does not expose
 * sqlite3_error_offset): the first occurrence of TOKEN whose prefix, ending with it, fails with the
 * same message (the parser stops at the offending token; an earlier, valid occurrence ends in
 * "incomplete input" instead). null when not found.
 */
function syntaxErrorOffset(db: Database.Database, sql: string, message: string): number | null {
  const m = /^near "([\s\S]*)": syntax error$/.exec(message);
  if (!m || !m[1]) return null;
  const token = m[1];
  for (let at = sql.indexOf(token); at >= 0; at = sql.indexOf(token, at + 1)) {
    try {
      db.prepare(sql.slice(0, at + token.length));
    } catch (e) {
      if ((e as Error).message === message) return at;
    }
  }
  return null;
}

/** "line L, column C" (1-based) of a character offset in `text`. */
export function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - (before.lastIndexOf('\n') + 1) + 1}`;
}

/**
 * A read-only SQL console over one lab database. Errors: the constructor throws LabDatabaseError
 * for an unusable file (main/store/errors.ts); queries throw SqlConsoleError.
 */
export class SqlConsole {
  readonly db: Database.Database;
  private readonly stored: StoredColumns;
  private readonly objects: SqlSchemaObject[] = [];

  /** Opens `dbPath` read-only and creates the console's TEMP tables and views on the connection. */
  constructor(dbPath: string) {
    this.db = openReadOnlyDatabase(dbPath);
    configureConnection(this.db, { readonly: true });
    const columns = (t: string) => new Set((this.db.prepare(`SELECT name FROM pragma_table_info('${t}')`).pluck().all() as string[]));
    this.stored = { runs: columns('runs'), events: columns('events') };
    this.registerFunctions();
    this.createObjects();
  }

  private registerFunctions(): void {
    // event_text(kind, status, domain, endpoint, a, b, c, flags, aux, data, used): the events table's text.
    this.db.function(EVENT_TEXT_SQL_FN, { deterministic: true, safeIntegers: true, varargs: true }, (...v: unknown[]) => {
      const [kind, status, domain, endpoint, a, b, c, flags, aux, data, used] = v as [bigint, bigint | null, bigint | null, bigint | null, bigint | null, bigint | null, bigint | null, bigint | null, bigint | null, string | null, bigint | null];
      const row: RawEventRow = { seq: 0n, step: 0n, kind, status, domain, endpoint, a, b, c, flags, aux, data, used };
      try {
        const d = decodeFields(row);
        return KIND_BY_CODE[Number(kind)] ? formatEvent(d.kind as never, d.fields) : d.kind;
      } catch {
        return null; // malformed stored JSON: no text rather than a failed query
      }
    });
    // hex64(x): an integer as "0x…", its unsigned 64-bit value (the lab's u64 convention).
    this.db.function('hex64', { deterministic: true, safeIntegers: true }, (x: unknown) => (typeof x === 'bigint' ? '0x' + BigInt.asUintN(64, x).toString(16) : x === null ? null : x));
  }

  private createObjects(): void {
    const haveLab = this.stored.runs.size > 0 && this.stored.events.size > 0;
    for (const t of STORED_TABLES) if ((t.name === 'runs' ? this.stored.runs : this.stored.events).size > 0) this.objects.push(t);
    for (const o of CONSOLE_OBJECTS) {
      if (o.kind === 'view' && !haveLab) continue; // not a lab database (or an empty file): tables only
      this.db.exec(o.sql(this.stored));
      this.objects.push({ name: o.name, kind: o.kind, doc: o.doc, columns: o.columns });
    }
    const kinds = this.db.prepare('INSERT INTO event_kinds VALUES (?, ?, ?, ?, ?, ?)');
    const errnos = this.db.prepare('INSERT INTO errnos VALUES (?, ?)');
    this.db.transaction(() => {
      for (const r of eventKindRows()) kinds.run(...r);
      for (const r of errnoRows()) errnos.run(...r);
    })();
  }

  /** The documented tables and views (stored tables this database has first, then the console's). */
  schema(): SqlSchemaObject[] {
    return this.objects;
  }

  /**
   * Prepares `sql` for reading. Errors: SqlConsoleError — SQLite's message (with the offset of a
   * syntax error), "read-only: …" for a statement that would write or returns no rows.
   */
  prepare(sql: string): Database.Statement {
    let stmt: Database.Statement;
    try {
      stmt = this.db.prepare(sql);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = (e as { code?: string }).code ?? 'SQLITE_ERROR';
      if (e instanceof RangeError) throw new SqlConsoleError(message.replace('The supplied SQL string contains more than one statement', 'one statement at a time: the query holds more than one'), 'SQLITE_MISUSE');
      const offset = syntaxErrorOffset(this.db, sql, message);
      throw new SqlConsoleError(offset === null ? message : `${message} (${position(sql, offset)})`, code, offset);
    }
    if (!stmt.reader || !stmt.readonly) {
      throw new SqlConsoleError(
        `read-only: ${firstWord(sql)} refused (the SQL console runs only statements that read and write nothing: SELECT, WITH … SELECT, VALUES, EXPLAIN, PRAGMA without "=")`,
        'READONLY_REFUSED',
      );
    }
    return stmt.safeIntegers(true).raw(true);
  }

  /**
   * Runs `sql` and returns at most `limit` rows (default SQL_ROW_LIMIT), `truncated` when more
   * followed. Errors: SqlConsoleError (see prepare; and errors while stepping, e.g. a JSON function
   * given malformed text).
   */
  query(sql: string, limit = SQL_ROW_LIMIT): SqlResult {
    const stmt = this.prepare(sql);
    const rows: unknown[][] = [];
    const first: unknown[] = [];
    let truncated = false;
    const cols = stmt.columns();
    try {
      for (const raw of stmt.iterate() as Iterable<unknown[]>) {
        if (rows.length === limit) {
          truncated = true;
          break; // leaving the loop resets the statement
        }
        for (let i = 0; i < raw.length; i++) if (first[i] === undefined && raw[i] !== null) first[i] = raw[i];
        rows.push(raw.map(sqlValue));
      }
    } catch (e) {
      throw new SqlConsoleError(e instanceof Error ? e.message : String(e), (e as { code?: string }).code ?? 'SQLITE_ERROR');
    }
    return { columns: cols.map((c, i) => ({ name: c.name, type: c.type?.toUpperCase() ?? typeOf(first[i]) })), rows, truncated };
  }

  /**
   * Streams `sql`'s rows (no cap) for the CLI: `columns` as declared (type '' for expressions: the
   * stream cannot look ahead), then the rows in chunks of `chunk`. Errors: SqlConsoleError.
   */
  *stream(sql: string, chunk = 1000): Generator<{ columns: SqlColumn[] } | { rows: unknown[][] }> {
    const stmt = this.prepare(sql);
    yield { columns: stmt.columns().map((c) => ({ name: c.name, type: c.type?.toUpperCase() ?? '' })) };
    let rows: unknown[][] = [];
    try {
      for (const raw of stmt.iterate() as Iterable<unknown[]>) {
        rows.push(raw.map(sqlValue));
        if (rows.length === chunk) {
          yield { rows };
          rows = [];
        }
      }
    } catch (e) {
      throw new SqlConsoleError(e instanceof Error ? e.message : String(e), (e as { code?: string }).code ?? 'SQLITE_ERROR');
    }
    if (rows.length) yield { rows };
  }

  close(): void {
    this.db.close();
  }
}
