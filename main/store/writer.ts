/**
 * The event writer: owns one run's rows while it runs (used inside the run worker, which owns the
 * only connection that writes events).
 *
 * Input: event objects (`write`) or, from the run worker's generator thread, columnar batches
 * (`writeBatch`, batch.ts); both store the same rows.
 *
 * Throughput, measured on the project's 2-core machine (tests/bench/ingest.ts; ~1.7M events/s
 * for the writer alone on a workload's event mix from columnar batches, ~5x single-row INSERTs;
 * 16 KiB pages, schema.ts). Binding a value through better-sqlite3 costs about as much as the
 * B-tree insert of a row, and a row inserted anywhere but at the end of the B-tree costs a
 * binary search of its leaf page, so the writer binds as few values as it can and inserts in seq
 * order when it can:
 * - the stream is cut into windows of WINDOW_EVENTS consecutive events, each written by one
 *   INSERT whose rows are in seq order (each one appended at the B-tree's right edge: +20% over
 *   inserting them shape by shape) binding only what it cannot spell as literals: windows.ts
 *   (seq and step, shared fields as literals, the time as @T + distance; a workload event binds
 *   ~2.6 values instead of 7-11); a batch window that repeats a statement's rows is replayed
 *   straight from the batch's slots (Windows.replay: no per-field copy, grouping or signature);
 * - a window whose signature has no statement goes to per-kind-and-shape RowBuffers: 128-row
 *   INSERTs listing only the shape's present columns (absent fields are NULL by default, not
 *   bound NULLs; kind code and run id are literals); a full buffer whose rows are evenly spaced
 *   in the stream and share one step is written by an INSERT … SELECT over a VALUES list of (row
 *   number, fields) binding seq, step and the fields common to all its rows once;
 * - INSERT OR FAIL, not the default ABORT: a multi-row statement that may abort needs a statement
 *   journal (a copy of every page it touches, ~7% of ingest measured); with FAIL a conflict
 *   keeps the statement's earlier rows, which is moot because any writer error rolls the whole
 *   transaction back to the last commit (abort());
 * - values passed as spread call arguments; whole batches inside long transactions; no
 *   secondary index on the hot path except the tiny problems partial index (schema.ts);
 *   checkpoints every ~40 MB of WAL (and in the background, checkpointer.ts).
 * Durability: `commit()` flushes every buffered row, so a commit always covers a prefix
 * seq 0..n-1 of the run's stream and updates runs.event_count in the same transaction. After a
 * crash the database holds exactly the events of the last commit, and runs.event_count says how
 * many.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { SeqEvent } from '../../core/events/sink.ts';
import type { EventKind } from '../../core/events/catalog.ts';
import type { RunMetrics, RunStatus, StepResult } from '../../core/contract/index.ts';
import { KIND_PLANS, toJson, u64ToSql, type FieldPlan as CatalogFieldPlan } from './codec.ts';
import { BATCH_COLUMNS, COLS_PER_EVENT, U64_NUMBER_BIT, type EventBatch } from './batch.ts';
import { KIND_CODE, PROBLEM_SQL, configureConnection, type EnvelopeColumn } from './schema.ts';
import { MAX_FIELDS, NO_BATCH_MASK, WINDOW_EVENTS, Windows, type BatchCursor, type WindowShape } from './windows.ts';
import type { Column } from '../../core/events/catalog.ts';

/** A stored field: a catalog field (codec.ts) or an envelope field (ENVELOPE_FIELDS). */
type FieldPlan = Omit<CatalogFieldPlan, 'column'> & { readonly column: Column | EnvelopeColumn };

/** Rows per multi-row INSERT (128 × ≤12 binds stays far below SQLite's 32766 variables). */
export const ROWS_PER_STATEMENT = 128;
/** WAL bytes between the writer's automatic checkpoints (~40 MB; converted to pages of the database's size). */
export const WAL_CHECKPOINT_BYTES = 40_960_000;
/** Strided statements (one per set of constant fields) prepared per buffer at most (plus the one binding every field). */
const MAX_STRIDED_STATEMENTS = 16;
/** Smaller statement sizes used to flush a buffer's partial rows at commit. */
const FLUSH_SIZES = [16, 1];

/**
 * Buffered rows of one kind with one set of present (non-NULL) fields, for the windows that have
 * no window statement (see Windows): its INSERTs list only those columns, so an absent field
 * costs no bound value (binding a NULL through better-sqlite3 costs more than binding a number),
 * and every row of a buffer has the same shape.
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
  }

  /** Appends a row: its seq, step, and `width` field values from src[o…]; writes the rows when the buffer fills. */
  add(seq: number, step: number, src: readonly unknown[], o: number): void {
    this.place(seq, step);
    const n = this.count;
    const w = this.width;
    const v = this.values;
    for (let j = 0, d = n * w; j < w; j++) v[d + j] = src[o + j];
    if (n === ROWS_PER_STATEMENT - 1) this.full();
    else this.count = n + 1;
  }

  /** Records row `count`'s seq and step, and whether the rows so far are evenly spaced with one step. */
  private place(seq: number, step: number): void {
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

/** The component code of an event object's `component` id (0 for none; see EventWriter.codeOf). */
type ComponentCoder = (component: unknown) => number;

/**
 * The envelope's stored fields, routed like catalog fields (shapes, shared literals): the emitting
 * component's code (`comp`: constant over a workload, so written as a literal) and the virtual time
 * (`time`, ns: absent when the events carry none).
 */
const ENVELOPE_FIELDS: readonly FieldPlan[] = [
  { name: 'component', type: 'u32', column: 'comp', optional: true },
  { name: 'time', type: 'u32', column: 'time', optional: true },
  // An imported event's line in its trace file (schema version 9); emulated events have none.
  { name: 'line', type: 'u32', column: 'line', optional: true },
];

/** Checks that a catalog field name can be spelled as a property access in generated code. */
function identifier(name: string): string {
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) throw new Error(`catalog field name ${JSON.stringify(name)} is not an identifier`);
  return name;
}

/** Reads the present fields of event `i` of a columnar batch into out[o…] (in the shape's field order). */
type BatchReader = (cur: BatchCursor, i: number, out: unknown[], o: number) => void;
/** Reads (and encodes, codec.ts) the present fields of an event object into out[o…]. */
type ObjectReader = (e: Record<string, unknown>, out: unknown[], o: number) => void;

/**
 * One kind with one set of present fields (its "shape"): how to read such an event's values,
 * and its RowBuffer (created on first use).
 */
class Shape implements WindowShape {
  readonly width: number;
  readonly read: ObjectReader;
  /** The window (Windows' counter) that last met this shape, and its group there. */
  window = 0;
  group = 0;
  /** Index of the envelope's time among the present fields (−1: the shape has no time). */
  readonly timeIndex: number;
  private buffer: RowBuffer | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
    readonly code: number,
    /** Bit j set: field j of the kind (storage column order) present. */
    readonly mask: number,
    /** The present fields, in storage column order (the order of a batch's big/strings entries). */
    readonly fields: readonly FieldPlan[],
    codeOf: ComponentCoder,
  ) {
    this.width = fields.length;
    this.timeIndex = fields.findIndex((f) => f.column === 'time');
    this.read = compileObjectReader(fields, codeOf);
  }

  /** The shape's RowBuffer (per-shape statements, see RowBuffer). */
  rows(): RowBuffer {
    return (this.buffer ??= new RowBuffer(this.db, this.runId, this.code, this.fields));
  }

  /** Buffers a row (seq, step, `width` values from values[o…]) for the per-shape statements. */
  spill(seq: number, step: number, values: readonly unknown[], o: number): void {
    this.rows().add(seq, step, values, o);
  }

  /** Writes the shape's buffered rows (commit). */
  flush(): void {
    if (this.buffer && this.buffer.count > 0) this.buffer.flush();
  }
}

/**
 * A shape's reader of event objects, fields spelled out (monomorphic per shape). Every field is
 * present (neither undefined nor null) by construction of the shape. The generated text depends
 * only on the event catalog, never on input data.
 */
function compileObjectReader(fields: readonly FieldPlan[], codeOf: ComponentCoder): ObjectReader {
  const fromObject: string[] = [];
  fields.forEach((f, j) => {
    const get = `e.${identifier(f.name)}`;
    if (f.column === 'comp') fromObject.push(`out[o + ${j}] = codeOf(${get});`);
    else fromObject.push(`out[o + ${j}] = ${f.type === 'u64' ? `u64ToSql(${get})` : f.type === 'json' ? `toJson(${get})` : get};`);
  });
  return new Function('u64ToSql', 'toJson', 'codeOf', `return function read(e, out, o) {\n${fromObject.join('\n')}\n};`)(u64ToSql, toJson, codeOf) as ObjectReader;
}

/**
 * The reader of a shape's fields from a batch whose events have mask `mask` (batch.ts), slots at
 * constant offsets: a u64 slot holding int64 bits gives a number below 2^53 (from its halves, as
 * u64ToSql gives) and the signed bigint above; one holding a double (mask bit U64_NUMBER_BIT + k)
 * the double. The generated text depends only on the event catalog and the mask.
 */
function compileBatchReader(fields: readonly FieldPlan[], mask: number): BatchReader {
  const lines = ['const f = cur.f;', `const base = i * ${COLS_PER_EVENT};`, 'let lo, hi;'];
  fields.forEach((f, j) => {
    const k = BATCH_COLUMNS.indexOf(f.column);
    if (f.type === 'json') lines.push(`out[o + ${j}] = cur.strings[cur.str++];`);
    else if (f.type === 'u64' && !(mask & (1 << (U64_NUMBER_BIT + k))))
      lines.push(`lo = cur.u[2 * (base + ${k})];`, `hi = cur.u[2 * (base + ${k}) + 1];`, `out[o + ${j}] = hi < 0x200000 ? hi * 4294967296 + lo : cur.b[base + ${k}];`);
    else lines.push(`out[o + ${j}] = f[base + ${k}];`);
  });
  return new Function(`return function readFrom(cur, i, out, o) {\n${lines.join('\n')}\n};`)() as BatchReader;
}

/** How events of one batch mask are stored: their shape, and the reader of their slots. */
interface BatchRoute {
  readonly shape: Shape;
  readonly readFrom: BatchReader;
}

/** The shapes of one kind, created on first use; `shapeOf*` give an event's shape. */
class KindRouter {
  /** The kind's fields in storage column order. */
  readonly fields: readonly FieldPlan[];
  readonly shapes: (Shape | undefined)[] = [];
  readonly shapeOf: (e: Record<string, unknown>) => Shape;
  /** Routes by batch mask, and the last one used (a kind's events mostly share one mask). */
  private readonly routes = new Map<number, BatchRoute>();
  lastMask = -1;
  lastRoute: BatchRoute | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
    readonly code: number,
    fields: readonly FieldPlan[],
    private readonly codeOf: ComponentCoder,
  ) {
    this.fields = [...fields, ...ENVELOPE_FIELDS].sort((x, y) => BATCH_COLUMNS.indexOf(x.column) - BATCH_COLUMNS.indexOf(y.column));
    // Shape of an event: one bit per field, set when the field is present (neither undefined
    // nor null in an object; a set bit of its mask in a batch, routeOf).
    const fromObject = ['let m = 0, x;'];
    this.fields.forEach((f, j) => {
      // The component code is always stored (0 when the event has none: the run's own).
      if (f.column === 'comp') fromObject.push(`m |= ${1 << j};`);
      else fromObject.push(`x = e.${identifier(f.name)};`, `if (x !== undefined && x !== null) m |= ${1 << j};`);
    });
    const make = new Function('k', `return function shapeOf(e) {\n${fromObject.join('\n')}\nreturn k.shapes[m] ?? k.create(m);\n};`);
    this.shapeOf = make(this) as KindRouter['shapeOf'];
  }

  /** The route of batch mask `m` (created on first use), remembered as the last one. */
  routeOf(m: number): BatchRoute {
    let r = this.routes.get(m);
    if (r === undefined) {
      let fieldMask = 0;
      this.fields.forEach((f, j) => {
        if (m & (1 << BATCH_COLUMNS.indexOf(f.column))) fieldMask |= 1 << j;
      });
      const shape = this.shapes[fieldMask] ?? this.create(fieldMask);
      r = { shape, readFrom: compileBatchReader(shape.fields, m) };
      this.routes.set(m, r);
    }
    this.lastMask = m;
    this.lastRoute = r;
    return r;
  }

  /** The shape of mask `m`. */
  create(m: number): Shape {
    const s = new Shape(this.db, this.runId, this.code, m, this.fields.filter((_, j) => (m & (1 << j)) !== 0), this.codeOf);
    this.shapes[m] = s;
    return s;
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
  /** An imported trace's or a replay's record (runs.source, JSON), replacing the one the run was created with; absent: kept. */
  source?: unknown;
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
  private readonly cursor: BatchCursor = { f: new Float64Array(0), u: new Uint32Array(0), b: new BigInt64Array(0), strings: [], str: 0 };
  private readonly win: Windows;
  private readonly updateProgress: Database.Statement;
  /** The run's component ids (code n = components[n − 1]) and how many runs.components holds. */
  private components: string[] = [];
  private storedComponents = 0;
  /** Code of an event object's component id: 1, 2, … in first-seen order; 0 for none (the run's own events). */
  private readonly codeOf: ComponentCoder = (id) => {
    if (typeof id !== 'string' || id === '') return 0;
    let i = this.components.indexOf(id);
    if (i < 0) i = this.components.push(id) - 1;
    return i + 1;
  };
  private written = 0;
  /** Events covered by the last commit (runs.event_count). */
  private committed = 0;
  /** Path of this run's reserve file, or null once released (or when it could not be made). */
  private reserve: string | null;
  private closed = false;

  constructor(
    dbPath: string,
    readonly runId: number,
  ) {
    this.db = new Database(dbPath, { fileMustExist: true });
    configureConnection(this.db);
    this.routers = Object.fromEntries(
      Object.values(KIND_PLANS).map((p) => [p.kind, new KindRouter(this.db, runId, p.code, p.fields, this.codeOf)]),
    ) as Record<EventKind, KindRouter>;
    for (const k of Object.values(this.routers)) this.byCode[k.code] = k;
    this.win = new Windows(this.db, runId);
    // Checkpoint every ~40 MB of WAL instead of SQLite's default 4 MB: pages rewritten between
    // checkpoints (the B-tree's right edge) are copied once, not ten times (+3-4% ingest measured;
    // no checkpoint at all in this thread would be +7%, at the cost of an unbounded WAL).
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    this.db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.round(WAL_CHECKPOINT_BYTES / pageSize))}`);
    this.updateProgress = this.db.prepare('UPDATE runs SET event_count = ?, done_units = ?, total_units = ? WHERE id = ?');
    this.reserve = makeReserve(`${dbPath}-reserve-${process.pid}-${runId}`, pageSize);
    this.db.exec('BEGIN IMMEDIATE');
  }

  /** Events written so far (committed or not). */
  get eventCount(): number {
    return this.written;
  }

  /**
   * Buffers `events` and inserts full windows. The events must continue the stream: seq
   * eventCount, eventCount + 1, … (anything else throws before buffering: a gap or overlap would
   * break the committed-prefix invariant). Same rows as writeBatch() of the same events.
   */
  write(events: readonly SeqEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      if (events[i].seq !== this.written + i) throw new Error(`event seq ${events[i].seq} at position ${i}, expected ${this.written + i}`);
    }
    const routers = this.routers;
    const win = this.win;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as unknown as Record<string, unknown> & SeqEvent;
      const shape = routers[e.kind].shapeOf(e);
      const r = win.count;
      if (r === 0) win.first = e.seq;
      win.shapes[r] = shape;
      win.steps[r] = e.step;
      win.masks[r] = NO_BATCH_MASK;
      shape.read(e, win.values, r * MAX_FIELDS);
      if (++win.count === WINDOW_EVENTS) win.full();
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
    const cols = batch.cols;
    cur.f = cols;
    cur.u = new Uint32Array(cols.buffer, cols.byteOffset, cols.length * 2);
    cur.b = new BigInt64Array(cols.buffer, cols.byteOffset, cols.length);
    cur.strings = batch.strings;
    cur.str = 0;
    // The generator's component table only grows: its snapshot replaces ours.
    if (batch.components.length > this.components.length) this.components = batch.components.slice();
    const byCode = this.byCode;
    const kinds = batch.kinds;
    const steps = batch.steps;
    const masks = batch.masks;
    const first = batch.firstSeq;
    const win = this.win;
    const values = win.values;
    for (let i = 0, n = batch.count; i < n; i++) {
      // A window that repeats a statement's rows is written straight from the batch (Windows.replay).
      if (win.count === 0 && n - i >= WINDOW_EVENTS && win.replay(cur, kinds, steps, masks, first, i)) {
        i += WINDOW_EVENTS - 1;
        continue;
      }
      const k = byCode[kinds[i]];
      if (k === undefined) throw new Error(`event batch: unknown kind code ${kinds[i]}`);
      const m = masks[i];
      const route = m === k.lastMask ? k.lastRoute! : k.routeOf(m);
      const r = win.count;
      if (r === 0) win.first = first + i;
      win.shapes[r] = route.shape;
      win.steps[r] = steps[i];
      win.masks[r] = m;
      route.readFrom(cur, i, values, r * MAX_FIELDS);
      if (++win.count === WINDOW_EVENTS) win.full();
    }
    this.written += batch.count;
  }

  /** Inserts every buffered row and commits (with runs.event_count, done_units, total_units), then begins anew. */
  commit(doneUnits: number, totalUnits: number): void {
    this.flushAll();
    this.storeComponents();
    this.updateProgress.run(this.written, doneUnits, totalUnits, this.runId);
    this.db.exec('COMMIT');
    this.committed = this.written;
    this.db.exec('BEGIN IMMEDIATE');
  }

  /** Writes runs.components when components were added since the last time (inside the open transaction). */
  private storeComponents(): void {
    if (this.components.length === this.storedComponents) return;
    this.db.prepare('UPDATE runs SET components = ? WHERE id = ?').run(JSON.stringify(this.components), this.runId);
    this.storedComponents = this.components.length;
  }

  /** Events stored by the last commit (they survive an abort or a failure). */
  get committedCount(): number {
    return this.committed;
  }

  /**
   * Caps the database at `pages` pages on this connection (SQLite `PRAGMA max_page_count`): a
   * later write that needs more fails with SQLITE_FULL, as on a full disk. For tests.
   */
  setMaxPageCount(pages: number): void {
    this.db.pragma(`max_page_count = ${Math.trunc(pages)}`);
  }

  /**
   * Ends a run that cannot go on (a write failed: SQLITE_FULL on a full disk, SQLITE_IOERR, or any
   * other error): rolls back to the last commit, so every committed event stays, then records
   * status failed with `error` and closes. The status update is one small UPDATE of the run's row,
   * but in WAL mode it appends a frame (a page) to the WAL, which a full disk may refuse: after a
   * failed attempt the run's reserve file (RESERVE_PAGES pages, made when the writer opened) is
   * deleted to make room, and the update is tried again, up to `attempts` times. Returns true when
   * the failure was recorded; false when even that failed (the host then marks the run failed
   * when the worker exits, or the next writing open does). Never throws.
   */
  fail(error: string, attempts = 3): boolean {
    if (this.closed) return false;
    let recorded = false;
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // A failed statement may already have rolled the transaction back.
    }
    for (let i = 0; i < attempts && !recorded; i++) {
      try {
        const info = this.db
          .prepare(
            `UPDATE runs SET status = 'failed', error = @error, finished_at = @now, event_count = @events,
               failed_expectations = (SELECT count(*) FROM events WHERE run_id = @runId AND ${PROBLEM_SQL} AND kind = ${KIND_CODE.expectation})
             WHERE id = @runId AND status = 'running'`,
          )
          .run({ error, now: new Date().toISOString(), events: this.committed, runId: this.runId });
        recorded = info.changes > 0;
        if (!recorded) break; // not running any more: someone else ended it
      } catch {
        // SQLITE_FULL / IOERR: give the reserve's space back to the disk, then retry; BUSY: retry.
        this.releaseReserve();
      }
    }
    try {
      this.close();
    } catch {
      // Closing a connection after an I/O error may fail too; the file is left to SQLite's recovery.
    }
    return recorded;
  }

  /** Writes the remaining rows and the run's final state in one transaction, then closes. */
  finish(outcome: RunOutcome): void {
    this.flushAll();
    this.storeComponents();
    this.db
      .prepare(
        `UPDATE runs SET status = ?, finished_at = ?, done_units = ?, total_units = ?, event_count = ?, failed_expectations = ?,
           error = ?, metrics = ?, step_results = ?, source = coalesce(?, source) WHERE id = ?`,
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
        outcome.source === undefined ? null : toJson(outcome.source),
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
    this.win.spill();
    for (const k of this.byCode) if (k) for (const s of k.shapes) s?.flush();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseReserve();
    this.db.close();
  }

  private releaseReserve(): void {
    if (this.reserve === null) return;
    fs.rmSync(this.reserve, { force: true });
    this.reserve = null;
  }
}

/**
 * Pages of disk space a writer holds in reserve (a file beside the database, written with zeros so
 * the file system allocates it), given back when a failed run must record its status on a full
 * disk: the UPDATE appends a frame or two (page_size + 24 bytes each) to the WAL, maybe after a
 * WAL header, and the -shm file may grow by 32 KiB.
 */
export const RESERVE_PAGES = 8;

/** Writes the reserve file; null when it cannot be made (the disk is already full: no reserve). */
function makeReserve(file: string, pageSize: number): string | null {
  try {
    fs.writeFileSync(file, Buffer.alloc(RESERVE_PAGES * pageSize + 64 * 1024));
    return file;
  } catch {
    fs.rmSync(file, { force: true });
    return null;
  }
}
