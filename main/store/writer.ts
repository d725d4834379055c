/**
 * The event writer: owns one run's rows while it runs (used inside the run worker, which owns the
 * only connection that writes events).
 *
 * Input: event objects (`write`) or, from the run worker's generator thread, columnar batches
 * (`writeBatch`, batch.ts); both store the same rows.
 *
 * Throughput, measured on the project's 2-core machine (tests/bench/ingest.ts; ~1.5M events/s
 * for the writer alone on a workload's event mix from columnar batches, ~4x single-row INSERTs;
 * 16 KiB pages, schema.ts). Binding a value through better-sqlite3 costs about as much as the
 * B-tree insert of a row, so the writer binds as few as it can:
 * - rows are buffered per event kind and shape (which fields are present), and each buffer's
 *   128-row INSERT lists only the columns of its present fields (kind code and run id are SQL
 *   literals; absent fields are NULL by default, not bound NULLs);
 * - a full buffer whose rows are evenly spaced in the stream and share one step (every shape of
 *   a workload iteration) is written by an INSERT … SELECT over a VALUES list of (row number,
 *   fields): seq = first + row × stride is computed in SQL, and step, and every field that has
 *   one value in all 128 rows (a workload's domain, endpoint, flags, size…), are bound once per
 *   statement — a workload's MAP event binds ~2.6 values instead of 7;
 * - INSERT OR FAIL, not the default ABORT: a multi-row statement that may abort needs a statement
 *   journal (a copy of every page it touches, ~7% of ingest measured); with FAIL a conflict
 *   keeps the statement's earlier rows, which is moot because any writer error rolls the whole
 *   transaction back to the last commit (abort());
 * - values passed as spread call arguments; whole batches inside long transactions; no
 *   secondary index on the hot path except the tiny problems partial index (schema.ts);
 *   checkpoints every ~40 MB of WAL.
 * Durability: `commit()` flushes every buffered row, so a commit always covers a prefix
 * seq 0..n-1 of the run's stream and updates runs.event_count in the same transaction. After a
 * crash the database holds exactly the events of the last commit, and runs.event_count says how
 * many.
 */
import Database from 'better-sqlite3';
import type { SeqEvent } from '../../core/events/sink.ts';
import type { EventKind } from '../../core/events/catalog.ts';
import type { RunMetrics, RunStatus, StepResult } from '../../core/contract/index.ts';
import { KIND_PLANS, toJson, u64ToSql, type FieldPlan } from './codec.ts';
import { COLS_PER_EVENT, type EventBatch } from './batch.ts';
import { EVENT_COLUMNS, configureConnection } from './schema.ts';

/** Rows per multi-row INSERT (128 × ≤12 binds stays far below SQLite's 32766 variables). */
export const ROWS_PER_STATEMENT = 128;
/** WAL bytes between the writer's automatic checkpoints (~40 MB; converted to pages of the database's size). */
export const WAL_CHECKPOINT_BYTES = 40_960_000;
/** Strided statements (one per set of constant fields) prepared per buffer at most (plus the one binding every field). */
const MAX_STRIDED_STATEMENTS = 16;
/** Smaller statement sizes used to flush a buffer's partial rows at commit. */
const FLUSH_SIZES = [16, 1];

/** Read positions in a batch's `big` and `strings` lists. */
interface BatchCursor {
  big: number;
  str: number;
}

/**
 * Buffered rows of one kind with one set of present (non-NULL) fields: its INSERTs list only
 * those columns, so an absent field costs no bound value (binding a NULL through better-sqlite3
 * costs more than binding a number), and every row of a buffer has the same shape.
 *
 * seq and step are kept apart from the field values: when the buffer's rows are evenly spaced
 * in the stream (seq = first + r × stride, as each event shape of a workload iteration is) and
 * share one step, the full buffer is written by the "strided" statement, which binds first,
 * stride and step once and computes each row's seq in SQL from its row number (two bound values
 * fewer per row); otherwise by the plain statement, which binds seq and step per row.
 */
class RowBuffer {
  /** Field values of the buffered rows, `width` per row (row-major). */
  readonly values: unknown[];
  /** Arguments of the plain statement (seq, step, fields per row), filled only when needed. */
  private readonly plainArgs: unknown[];
  readonly seqs = new Float64Array(ROWS_PER_STATEMENT);
  readonly steps = new Float64Array(ROWS_PER_STATEMENT);
  readonly width: number;
  count = 0;
  /** seq and step of row 0, the seq distance between rows 0 and 1, and whether every row so far fits them. */
  first = 0;
  step = 0;
  stride = 0;
  uniform = true;
  /** Strided statements and their argument arrays, by the mask of columns bound once (see full()). */
  private readonly strided = new Map<number, { stmt: Database.Statement; args: unknown[] }>();
  private readonly plain = new Map<number, Database.Statement>();

  /** Appends event `i` of a columnar batch (with its seq); writes the rows when the buffer fills. */
  readonly pushFrom: (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void;
  /** Appends one event object; writes the rows when the buffer fills. */
  readonly push: (e: Record<string, unknown>) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
    readonly code: number,
    /** The present fields, in storage column order (the order of a batch's big/strings entries). */
    readonly fields: readonly FieldPlan[],
  ) {
    this.width = fields.length;
    this.values = new Array(ROWS_PER_STATEMENT * this.width).fill(null);
    this.plainArgs = new Array(ROWS_PER_STATEMENT * (this.width + 2)).fill(null);
    this.pushFrom = compilePushFrom(this);
    this.push = compilePush(this);
  }

  /** Records row `count`'s seq and step (called by the push functions before its values). */
  place(seq: number, step: number): void {
    const n = this.count;
    this.seqs[n] = seq;
    this.steps[n] = step;
    if (n === 0) {
      this.first = seq;
      this.step = step;
      this.uniform = true;
    } else if (n === 1) {
      this.stride = seq - this.first;
      this.uniform = step === this.step;
    } else if (this.uniform && (seq !== this.first + n * this.stride || step !== this.step)) {
      this.uniform = false;
    }
  }

  /** Writes the full buffer (ROWS_PER_STATEMENT rows). */
  full(): void {
    if (this.uniform) {
      // Fields with one value in every row (a workload's domain, endpoint, flags, size…) are
      // bound once too: bit j of `same` set when field j is constant.
      const w = this.width;
      const v = this.values;
      const end = ROWS_PER_STATEMENT * w;
      let same = 0;
      for (let j = 0; j < w; j++) {
        const x = v[j];
        let o = j + w;
        while (o < end && v[o] === x) o += w;
        if (o >= end) same |= 1 << j;
      }
      let s = this.strided.get(same);
      if (!s) {
        // A buffer whose constant fields keep changing falls back to binding every field.
        if (this.strided.size >= MAX_STRIDED_STATEMENTS) same = 0;
        s = this.strided.get(same) ?? this.prepareStrided(same);
        this.strided.set(same, s);
      }
      const args = s.args;
      let a = 3;
      args[0] = this.first;
      args[1] = this.stride;
      args[2] = this.step;
      for (let j = 0; j < w; j++) if (same & (1 << j)) args[a++] = v[j];
      if (same === 0) for (let o = 0; o < end; o++) args[a++] = v[o];
      else for (let o = 0; o < end; o += w) for (let j = 0; j < w; j++) if (!(same & (1 << j))) args[a++] = v[o + j];
      s.stmt.run(...args);
    } else {
      this.writePlain(0, ROWS_PER_STATEMENT);
    }
    this.count = 0;
  }

  /** Writes the buffered rows (fewer than a full buffer). */
  flush(): void {
    let done = 0;
    for (const size of FLUSH_SIZES) {
      while (this.count - done >= size) {
        this.writePlain(done, size);
        done += size;
      }
    }
    this.count = 0;
  }

  /** Rows start..start+rows-1 through the plain statement. */
  private writePlain(start: number, rows: number): void {
    const w = this.width;
    const args = rows === ROWS_PER_STATEMENT ? this.plainArgs : new Array<unknown>(rows * (w + 2));
    for (let r = 0, o = 0; r < rows; r++) {
      args[o++] = this.seqs[start + r];
      args[o++] = this.steps[start + r];
      for (let j = 0, v = (start + r) * w; j < w; j++) args[o++] = this.values[v + j];
    }
    let s = this.plain.get(rows);
    if (!s) {
      const row = `(${this.runId}, ?, ?, ${this.code}${', ?'.repeat(w)})`;
      s = this.db.prepare(`INSERT OR FAIL INTO events (${this.columns()}) VALUES ${new Array(rows).fill(row).join(', ')}`);
      this.plain.set(rows, s);
    }
    s.run(...args);
  }

  /**
   * INSERT … SELECT from a VALUES list of (row number, varying fields…): seq = ?first + row ×
   * ?stride, step = ?step, and each field in `same` (bit j: field j) is one parameter for every
   * row. The shared parameters come first (they appear first in the text): first, stride, step,
   * the shared fields in field order, then the rows.
   */
  private prepareStrided(same: number): { stmt: Database.Statement; args: unknown[] } {
    const varying = this.fields.map((_, j) => j).filter((j) => !(same & (1 << j)));
    const rows = new Array<string>(ROWS_PER_STATEMENT);
    for (let r = 0; r < ROWS_PER_STATEMENT; r++) rows[r] = `(${r}${', ?'.repeat(varying.length)})`;
    const picks = this.fields.map((_, j) => (same & (1 << j) ? ', ?' : `, column${varying.indexOf(j) + 2}`)).join('');
    const stmt = this.db.prepare(
      `INSERT OR FAIL INTO events (${this.columns()}) SELECT ${this.runId}, ? + column1 * ?, ?, ${this.code}${picks} FROM (VALUES ${rows.join(', ')})`,
    );
    return { stmt, args: new Array<unknown>(3 + this.width - varying.length + ROWS_PER_STATEMENT * varying.length).fill(null) };
  }

  private columns(): string {
    return ['run_id', 'seq', 'step', 'kind', ...this.fields.map((f) => f.column)].join(', ');
  }
}

/** Checks that a catalog field name can be spelled as a property access in generated code. */
function identifier(name: string): string {
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) throw new Error(`catalog field name ${JSON.stringify(name)} is not an identifier`);
  return name;
}

/**
 * A buffer's batch push with its slots spelled out (constant offsets, monomorphic per buffer).
 * Every field is present (non-NaN) by construction of the buffer's shape. The generated text
 * depends only on the event catalog, never on input data.
 */
function compilePushFrom(b: RowBuffer): (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void {
  const lines = ['b.place(seq, batch.steps[i]);', 'const n = b.count;', 'const v = b.values;', `const o = n * ${b.width};`, 'const c = batch.cols;', `const base = i * ${COLS_PER_EVENT};`, 'let x;'];
  b.fields.forEach((f, j) => {
    const k = EVENT_COLUMNS.indexOf(f.column);
    if (f.type === 'json') lines.push(`v[o + ${j}] = batch.strings[cur.str++];`);
    else if (f.type === 'u64') lines.push(`x = c[base + ${k}];`, `v[o + ${j}] = x === Infinity ? batch.big[cur.big++] : x;`);
    else lines.push(`v[o + ${j}] = c[base + ${k}];`);
  });
  lines.push(`if (n === ${ROWS_PER_STATEMENT - 1}) b.full(); else b.count = n + 1;`);
  const factory = new Function('b', `return function pushFrom(batch, i, seq, cur) {\n${lines.join('\n')}\n};`);
  return factory(b) as (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void;
}

/** As compilePushFrom, reading an event object (`e.virtStart`) and encoding its values (codec.ts). */
function compilePush(b: RowBuffer): (e: Record<string, unknown>) => void {
  const lines = ['b.place(e.seq, e.step);', 'const n = b.count;', 'const v = b.values;', `const o = n * ${b.width};`];
  b.fields.forEach((f, j) => {
    const enc = f.type === 'u64' ? `u64ToSql(e.${identifier(f.name)})` : f.type === 'json' ? `toJson(e.${identifier(f.name)})` : `e.${identifier(f.name)}`;
    lines.push(`v[o + ${j}] = ${enc};`);
  });
  lines.push(`if (n === ${ROWS_PER_STATEMENT - 1}) b.full(); else b.count = n + 1;`);
  const factory = new Function('b', 'u64ToSql', 'toJson', `return function push(e) {\n${lines.join('\n')}\n};`);
  return factory(b, u64ToSql, toJson) as (e: Record<string, unknown>) => void;
}

/**
 * The buffers of one kind, one per set of present fields (bit j of the shape = field j of
 * `fields` present), created on first use; `route*` pick an event's buffer.
 */
class KindRouter {
  /** The kind's fields in storage column order. */
  readonly fields: readonly FieldPlan[];
  readonly buffers: (RowBuffer | undefined)[] = [];
  readonly routeFrom: (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void;
  readonly route: (e: Record<string, unknown>) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
    readonly code: number,
    fields: readonly FieldPlan[],
  ) {
    this.fields = [...fields].sort((x, y) => EVENT_COLUMNS.indexOf(x.column) - EVENT_COLUMNS.indexOf(y.column));
    // Shape of an event: one bit per field, set when the field is present (not NaN in a batch,
    // neither undefined nor null in an object).
    const fromBatch = ['const c = batch.cols;', `const base = i * ${COLS_PER_EVENT};`, 'let m = 0, x;'];
    const fromObject = ['let m = 0, x;'];
    this.fields.forEach((f, j) => {
      fromBatch.push(`x = c[base + ${EVENT_COLUMNS.indexOf(f.column)}];`, `if (x === x) m |= ${1 << j};`);
      fromObject.push(`x = e.${identifier(f.name)};`, `if (x !== undefined && x !== null) m |= ${1 << j};`);
    });
    const make = new Function(
      'k',
      `return [function routeFrom(batch, i, seq, cur) {\n${fromBatch.join('\n')}\n(k.buffers[m] ?? k.create(m)).pushFrom(batch, i, seq, cur);\n},
        function route(e) {\n${fromObject.join('\n')}\n(k.buffers[m] ?? k.create(m)).push(e);\n}];`,
    );
    [this.routeFrom, this.route] = make(this) as [KindRouter['routeFrom'], KindRouter['route']];
  }

  /** The buffer of shape `m`. */
  create(m: number): RowBuffer {
    const b = new RowBuffer(this.db, this.runId, this.code, this.fields.filter((_, j) => (m & (1 << j)) !== 0));
    this.buffers[m] = b;
    return b;
  }
}

/** Final state of a run, written by `EventWriter.finish`. */
export interface RunOutcome {
  status: Exclude<RunStatus, 'running'>;
  doneUnits: number;
  totalUnits: number;
  metrics: RunMetrics | null;
  stepResults: StepResult[];
  failedExpectations: number;
  error: string | null;
}

/**
 * Writes one run's events. Lifecycle: `new EventWriter(dbPath, runId)` (opens its connection and
 * begins a transaction) → `write(events)`… → `commit(doneUnits)` regularly → `finish(outcome)`
 * (commits and closes) or `abort()` (rolls back to the last commit and closes).
 * Errors: SQLite errors propagate (the caller marks the run failed); SQLITE_BUSY only after the
 * 10 s busy timeout.
 */
export class EventWriter {
  private readonly db: Database.Database;
  private readonly routers: Record<EventKind, KindRouter>;
  /** The same routers by kind code (index = code). */
  private readonly byCode: KindRouter[] = [];
  private readonly cursor: BatchCursor = { big: 0, str: 0 };
  private readonly updateProgress: Database.Statement;
  private written = 0;
  private closed = false;

  constructor(
    dbPath: string,
    readonly runId: number,
  ) {
    this.db = new Database(dbPath, { fileMustExist: true });
    configureConnection(this.db);
    this.routers = Object.fromEntries(
      Object.values(KIND_PLANS).map((p) => [p.kind, new KindRouter(this.db, runId, p.code, p.fields)]),
    ) as Record<EventKind, KindRouter>;
    for (const k of Object.values(this.routers)) this.byCode[k.code] = k;
    // Checkpoint every ~40 MB of WAL instead of SQLite's default 4 MB: pages rewritten between
    // checkpoints (the B-tree's right edge) are copied once, not ten times (+3-4% ingest measured;
    // no checkpoint at all in this thread would be +7%, at the cost of an unbounded WAL).
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    this.db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.round(WAL_CHECKPOINT_BYTES / pageSize))}`);
    this.updateProgress = this.db.prepare('UPDATE runs SET event_count = ?, done_units = ?, total_units = ? WHERE id = ?');
    this.db.exec('BEGIN IMMEDIATE');
  }

  /** Events written so far (committed or not). */
  get eventCount(): number {
    return this.written;
  }

  /** Buffers `events` (in seq order, continuing the stream) and inserts full batches. */
  write(events: readonly SeqEvent[]): void {
    const routers = this.routers;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      routers[e.kind].route(e as unknown as Record<string, unknown>);
    }
    this.written += events.length;
  }

  /**
   * Buffers a columnar batch (batch.ts) that continues the stream (batch.firstSeq must equal
   * eventCount: a gap or overlap would break the committed-prefix invariant) and inserts full
   * statements. Same rows as write() of the same events.
   */
  writeBatch(batch: EventBatch): void {
    if (batch.firstSeq !== this.written) throw new Error(`event batch starts at seq ${batch.firstSeq}, expected ${this.written}`);
    const cur = this.cursor;
    cur.big = 0;
    cur.str = 0;
    const byCode = this.byCode;
    const kinds = batch.kinds;
    const first = batch.firstSeq;
    for (let i = 0, n = batch.count; i < n; i++) {
      const k = byCode[kinds[i]];
      if (k === undefined) throw new Error(`event batch: unknown kind code ${kinds[i]}`);
      k.routeFrom(batch, i, first + i, cur);
    }
    this.written += batch.count;
  }

  /** Inserts every buffered row and commits (with runs.event_count, done_units, total_units), then begins anew. */
  commit(doneUnits: number, totalUnits: number): void {
    this.flushAll();
    this.updateProgress.run(this.written, doneUnits, totalUnits, this.runId);
    this.db.exec('COMMIT');
    this.db.exec('BEGIN IMMEDIATE');
  }

  /** Writes the remaining rows and the run's final state in one transaction, then closes. */
  finish(outcome: RunOutcome): void {
    this.flushAll();
    this.db
      .prepare(
        `UPDATE runs SET status = ?, finished_at = ?, done_units = ?, total_units = ?, event_count = ?, failed_expectations = ?,
           error = ?, metrics = ?, step_results = ? WHERE id = ?`,
      )
      .run(
        outcome.status,
        new Date().toISOString(),
        outcome.doneUnits,
        outcome.totalUnits,
        this.written,
        outcome.failedExpectations,
        outcome.error,
        outcome.metrics ? toJson(outcome.metrics) : null,
        toJson(outcome.stepResults),
        this.runId,
      );
    this.db.exec('COMMIT');
    this.close();
  }

  /** Drops uncommitted rows and closes (the last commit stays). */
  abort(): void {
    if (this.closed) return;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.close();
  }

  private flushAll(): void {
    for (const k of this.byCode) if (k) for (const b of k.buffers) if (b && b.count > 0) b.flush();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
