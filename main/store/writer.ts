/**
 * The event writer: owns one run's rows while it runs (used inside the run worker, which owns the
 * only connection that writes events).
 *
 * Throughput comes from three things, measured on the project's 2-core machine (see
 * tests/bench/ingest.ts): multi-row INSERT statements prepared once, one per event kind and
 * binding only that kind's columns (kind code and run id are literals in the SQL, so a MAP event
 * binds 7 values instead of 13: binding, not the B-tree, dominates the cost); whole batches inside
 * long transactions; and no secondary index on the hot path except the tiny problems partial
 * index (schema.ts).
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
import { configureConnection } from './schema.ts';

/** Rows per multi-row INSERT (128 × ≤10 binds stays far below SQLite's 32766 variables). */
export const ROWS_PER_STATEMENT = 128;
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
  push(e: Record<string, unknown>): void {
    const v = this.values;
    let o = this.count * this.width;
    v[o++] = e.seq;
    v[o++] = e.step;
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const x = e[f.name];
      if (x === undefined || x === null) v[o++] = null;
      else if (f.type === 'u64') v[o++] = u64ToSql(x as bigint);
      else if (f.type === 'json') v[o++] = toJson(x);
      else v[o++] = x;
    }
    if (++this.count === ROWS_PER_STATEMENT) {
      this.statement(ROWS_PER_STATEMENT).run(v);
      this.count = 0;
    }
  }

  /** Writes the buffered rows (fewer than a full batch). */
  flush(): void {
    let done = 0;
    for (const size of FLUSH_SIZES) {
      while (this.count - done >= size) {
        const start = done * this.width;
        this.statement(size).run(this.values.slice(start, start + size * this.width));
        done += size;
      }
    }
    this.count = 0;
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
  private readonly buffers: Record<EventKind, KindBuffer>;
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
