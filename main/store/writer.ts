/**
 * The event writer: owns one run's rows while it runs (used inside the run worker, which owns the
 * only connection that writes events).
 *
 * Input: event objects (`write`) or, from the run worker's generator thread, columnar batches
 * (`writeBatch`, batch.ts); both store the same rows.
 *
 * Throughput, measured on the project's 2-core machine (tests/bench/ingest.ts; ~0.95M events/s
 * for the writer alone on a workload's event mix from columnar batches, ~2.8x single-row
 * INSERTs; 16 KiB pages, schema.ts): multi-row INSERT
 * statements (128 rows) prepared once per event kind, binding only that kind's columns (kind code
 * and run id are SQL literals, so a MAP event binds 7 values instead of 13: per-value binding
 * costs about as much as the B-tree insert), passed as spread call arguments; whole batches
 * inside long transactions; no secondary index on the hot path except the tiny problems partial
 * index (schema.ts); checkpoints every ~40 MB of WAL.
 *
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

/** Rows per multi-row INSERT (128 × ≤10 binds stays far below SQLite's 32766 variables). */
export const ROWS_PER_STATEMENT = 128;
/** WAL bytes between the writer's automatic checkpoints (~40 MB; converted to pages of the database's size). */
export const WAL_CHECKPOINT_BYTES = 40_960_000;
/** Smaller statement sizes used to flush a kind's partial buffer at commit. */
const FLUSH_SIZES = [16, 1];

/** Per-kind buffer and its statements. */
class KindBuffer {
  /** Values bound per row: seq, step, then the kind's fields in catalog order. */
  readonly width: number;
  readonly values: unknown[];
  count = 0;
  private readonly statements = new Map<number, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
    readonly code: number,
    readonly fields: readonly FieldPlan[],
  ) {
    this.width = 2 + fields.length;
    this.values = new Array(ROWS_PER_STATEMENT * this.width).fill(null);
    this.push = compilePush(this);
    this.pushFrom = compilePushFrom(this);
  }

  /** The INSERT of `rows` rows (prepared once per size). */
  statement(rows: number): Database.Statement {
    let s = this.statements.get(rows);
    if (!s) {
      const cols = ['run_id', 'seq', 'step', 'kind', ...this.fields.map((f) => f.column)];
      const row = `(${this.runId}, ?, ?, ${this.code}${', ?'.repeat(this.fields.length)})`;
      s = this.db.prepare(`INSERT INTO events (${cols.join(', ')}) VALUES ${new Array(rows).fill(row).join(', ')}`);
      this.statements.set(rows, s);
    }
    return s;
  }

  /** Appends one event's values; writes the full batch when the buffer fills. */
  readonly push: (e: Record<string, unknown>) => void;

  /** Appends event `i` of a columnar batch (seq given); `cur` is the batch's big/strings cursor. */
  readonly pushFrom: (b: EventBatch, i: number, seq: number, cur: BatchCursor) => void;

  /** Writes the buffered rows (fewer than a full batch). */
  flush(): void {
    let done = 0;
    for (const size of FLUSH_SIZES) {
      while (this.count - done >= size) {
        const start = done * this.width;
        this.statement(size).run(...this.values.slice(start, start + size * this.width));
        done += size;
      }
    }
    this.count = 0;
  }
}

/**
 * Builds a kind's push function with its field reads spelled out (`e.virtStart`), so property
 * access is monomorphic per kind instead of a megamorphic keyed load per field (measured ~15%
 * faster for the whole writer than a generic loop over the field list). The generated text depends only on the event
 * catalog (field names are JS identifiers, checked below), never on input data.
 */
function compilePush(b: KindBuffer): (e: Record<string, unknown>) => void {
  const lines = ['const v = b.values;', 'let o = b.count * b.width;', 'v[o] = e.seq;', 'v[o + 1] = e.step;', 'let x;'];
  b.fields.forEach((f, i) => {
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(f.name)) throw new Error(`catalog field name ${JSON.stringify(f.name)} is not an identifier`);
    const enc = f.type === 'u64' ? 'u64ToSql(x)' : f.type === 'json' ? 'toJson(x)' : 'x';
    lines.push(`x = e.${f.name};`, `v[o + ${2 + i}] = x === undefined || x === null ? null : ${enc};`);
  });
  // Spread, not one array argument: better-sqlite3 reads an array argument element by element
  // through the V8 API, which costs ~20% more than binding plain call arguments.
  lines.push(`if (++b.count === ${ROWS_PER_STATEMENT}) { b.statement(${ROWS_PER_STATEMENT}).run(...v); b.count = 0; }`);
  const factory = new Function('b', 'u64ToSql', 'toJson', `return function push(e) {\n${lines.join('\n')}\n};`);
  return factory(b, u64ToSql, toJson) as (e: Record<string, unknown>) => void;
}

/** Read positions in a batch's `big` and `strings` lists. */
interface BatchCursor {
  big: number;
  str: number;
}

/** As compilePush, reading event `i` of a columnar batch (batch.ts) instead of an event object. */
function compilePushFrom(b: KindBuffer): (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void {
  const lines = ['const v = b.values;', 'let o = b.count * b.width;', 'v[o] = seq;', 'v[o + 1] = batch.steps[i];', 'const c = batch.cols;', `const base = i * ${COLS_PER_EVENT};`, 'let x;'];
  b.fields.forEach((f, j) => {
    const k = EVENT_COLUMNS.indexOf(f.column);
    const dec = f.type === 'u64' ? 'x === Infinity ? batch.big[cur.big++] : x' : f.type === 'json' ? 'batch.strings[cur.str++]' : 'x';
    lines.push(`x = c[base + ${k}];`, `v[o + ${2 + j}] = x !== x ? null : ${dec};`);
  });
  lines.push(`if (++b.count === ${ROWS_PER_STATEMENT}) { b.statement(${ROWS_PER_STATEMENT}).run(...v); b.count = 0; }`);
  const factory = new Function('b', `return function pushFrom(batch, i, seq, cur) {\n${lines.join('\n')}\n};`);
  return factory(b) as (batch: EventBatch, i: number, seq: number, cur: BatchCursor) => void;
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
  private readonly buffers: Record<EventKind, KindBuffer>;
  /** The same buffers by kind code (index = code). */
  private readonly byCode: KindBuffer[] = [];
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
    this.buffers = Object.fromEntries(
      Object.values(KIND_PLANS).map((p) => [p.kind, new KindBuffer(this.db, runId, p.code, p.fields)]),
    ) as Record<EventKind, KindBuffer>;
    for (const b of Object.values(this.buffers)) this.byCode[b.code] = b;
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
    const buffers = this.buffers;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      buffers[e.kind].push(e as unknown as Record<string, unknown>);
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
      const b = byCode[kinds[i]];
      if (b === undefined) throw new Error(`event batch: unknown kind code ${kinds[i]}`);
      b.pushFrom(batch, i, first + i, cur);
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
    for (const b of Object.values(this.buffers)) if (b.count > 0) b.flush();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
