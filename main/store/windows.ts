/**
 * Window statements of the event writer (writer.ts): the stream in windows of WINDOW_EVENTS
 * consecutive events, each written by one INSERT whose rows are in seq order (each one appended
 * at the B-tree's right edge: +20% over inserting them shape by shape). Binding a value through
 * better-sqlite3 costs a few tens of ns, so a window statement binds as few values as it can:
 * - seq = @b + row number, and step = @t when all rows share it;
 * - an integer field with one value in all rows of its kind and shape in the window (a workload's
 *   domain, endpoint, flags, size, status…) is an SQL literal: a workload event binds ~2.6 values
 *   instead of 7-11;
 * - the time (schema v6 envelope): when every row has one, row r's is @T + (its distance from row
 *   0's), the distances literals (fixed costs per kind repeat them in a periodic stream).
 * The statement is keyed by the window's "signature" (row shapes, literals, step sharing, a hash
 * of the time distances, checked on use) and prepared when a signature comes back (a periodic
 * stream — a workload — repeats a few); a window without a statement goes to its shapes'
 * RowBuffers (writer.ts). Statements are capped (MAX_WINDOW_STATEMENTS); so are the remembered
 * signatures. Literals rather than named parameters for shared values: better-sqlite3 looks up
 * every anonymous parameter's name, a scan of the statement's named parameters.
 *
 * Measured (issue 7 performance pass): also spelling the other integer fields as @x + (distance
 * from the shape's first row), so that a workload's rows bind nothing, did not change the
 * writer's cost (same-process A/B, CPU per event): what remains is SQLite's per-row, per-column
 * work (the VDBE, record encoding, B-tree), not binding.
 */
import type Database from 'better-sqlite3';
import { BATCH_COLUMNS } from './batch.ts';

/** Events per window statement. */
export const WINDOW_EVENTS = 128;
/** Window statements prepared per writer at most (then windows of new signatures go to the RowBuffers). */
const MAX_WINDOW_STATEMENTS = 64;
/** Window signatures remembered while waiting for a second sighting. */
const MAX_WINDOW_SIGNATURES = 256;
/** Rows of one shape in a window for its common values to be literals. */
const MIN_SHARED_ROWS = 4;
/** Field slots of a window row (a kind has at most one field per storage column). */
export const MAX_FIELDS = BATCH_COLUMNS.length;

/** What a window needs of a shape (writer.ts Shape): one kind with one set of present fields. */
export interface WindowShape {
  readonly code: number;
  /** Bit j set: field j of the kind present. */
  readonly mask: number;
  /** Present fields, in storage column order. */
  readonly fields: readonly { readonly column: string }[];
  readonly width: number;
  /** Index of the time among the present fields (−1: none). */
  readonly timeIndex: number;
  /** The window (Windows' counter) that last met this shape, and its group there. */
  window: number;
  group: number;
  /** Buffers a row (seq, step, `width` values from values[o…]) for the per-shape statements (spill). */
  spill(seq: number, step: number, values: readonly unknown[], o: number): void;
}

/** A prepared window statement with its argument holders. */
interface WindowStatement {
  stmt: Database.Statement;
  /** Values of the anonymous parameters, in text order. */
  positional: unknown[];
  /** Named parameters: b (first seq), t (the rows' step when they share one), T (row 0's time in a timed window). */
  named: Record<string, unknown>;
  /** A timed window's time distances from row 0 (literals of the statement). */
  deltas?: Float64Array;
}

/** True when the first `n` distances of a and b are equal. */
function sameDeltas(a: Float64Array, b: Float64Array, n: number): boolean {
  for (let r = 0; r < n; r++) if (a[r] !== b[r]) return false;
  return true;
}

/** The stream in windows (see the file comment). */
export class Windows {
  readonly shapes: WindowShape[] = new Array<WindowShape>(WINDOW_EVENTS);
  readonly steps = new Float64Array(WINDOW_EVENTS);
  /** Each row's time minus row 0's (a timed window, see full()). */
  private readonly deltas = new Float64Array(WINDOW_EVENTS);
  /** Field values of the rows, MAX_FIELDS per row (row-major). */
  readonly values: unknown[] = new Array(WINDOW_EVENTS * MAX_FIELDS).fill(null);
  count = 0;
  first = 0;
  private readonly statements = new Map<string, WindowStatement>();
  private readonly seen = new Map<string, number>();
  // Per-window scratch: group (distinct shape) of each row, first row and shared-field bits of each group.
  private readonly groupOf = new Uint16Array(WINDOW_EVENTS);
  private readonly groupShapes: WindowShape[] = new Array<WindowShape>(WINDOW_EVENTS);
  private readonly groupFirst = new Int32Array(WINDOW_EVENTS);
  private readonly groupRows = new Int32Array(WINDOW_EVENTS);
  private readonly groupShared = new Int32Array(WINDOW_EVENTS);
  /** Windows written so far (stamps WindowShape.window). */
  private windows = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly runId: number,
  ) {}

  /** Writes the full window (WINDOW_EVENTS rows). */
  full(): void {
    const n = this.count;
    const v = this.values;
    // Groups, step, shared fields.
    const window = ++this.windows;
    const gShapes = this.groupShapes;
    const gFirst = this.groupFirst;
    const gRows = this.groupRows;
    const gShared = this.groupShared;
    let groups = 0;
    let stepShared = true;
    const step0 = this.steps[0];
    for (let r = 0; r < n; r++) {
      const shape = this.shapes[r];
      let g: number;
      if (shape.window !== window) {
        g = groups++;
        shape.window = window;
        shape.group = g;
        gShapes[g] = shape;
        gFirst[g] = r;
        gRows[g] = 0;
        gShared[g] = (1 << shape.width) - 1;
      } else {
        g = shape.group;
        let bits = gShared[g];
        for (let j = 0, a = r * MAX_FIELDS, f = gFirst[g] * MAX_FIELDS; bits !== 0 && j < shape.width; j++) {
          if (bits & (1 << j) && v[a + j] !== v[f + j]) bits &= ~(1 << j);
        }
        gShared[g] = bits;
      }
      gRows[g]++;
      this.groupOf[r] = g;
      if (this.steps[r] !== step0) stepShared = false;
    }
    // Times: when every row has one, row r's is @T + (its distance from row 0's), the distances
    // literals of the statement (fixed costs per kind repeat them in a periodic stream): one bound
    // value per window instead of one per row. The key holds a hash of the distances; a statement
    // whose distances differ (a collision) is not used.
    let timed = true;
    const deltas = this.deltas;
    const t0 = this.shapes[0].timeIndex < 0 ? undefined : v[this.shapes[0].timeIndex];
    let dhash = 0x811c9dc5;
    if (typeof t0 !== 'number') timed = false;
    for (let r = 0; timed && r < n; r++) {
      const ti = this.shapes[r].timeIndex;
      const x = ti < 0 ? undefined : v[r * MAX_FIELDS + ti];
      if (typeof x !== 'number') timed = false;
      else {
        const d = (deltas[r] = x - (t0 as number));
        dhash = Math.imul(dhash ^ (d | 0), 16777619) ^ ((d / 4294967296) | 0);
      }
    }
    // Shared values become SQL literals of the statement (and part of its key): only integers,
    // and only when several rows share them.
    let key = stepShared ? 't' : 's';
    key += timed ? `T${dhash}` : 'N';
    for (let g = 0; g < groups; g++) {
      let bits = gRows[g] < MIN_SHARED_ROWS ? 0 : gShared[g];
      if (timed) bits &= ~(1 << gShapes[g].timeIndex);
      let lits = '';
      for (let j = 0, f = gFirst[g] * MAX_FIELDS; bits >> j !== 0; j++) {
        if (!(bits & (1 << j))) continue;
        const x = v[f + j];
        if (typeof x === 'bigint' || Number.isSafeInteger(x)) lits += `${x as number},`;
        else bits &= ~(1 << j);
      }
      gShared[g] = bits;
      key += `${gShapes[g].code}.${gShapes[g].mask}.${bits}:${lits}|`;
    }
    key += String.fromCharCode.apply(null, this.groupOf as unknown as number[]);

    let ws = this.statements.get(key);
    if (ws && timed && !sameDeltas(ws.deltas!, deltas, n)) {
      this.spill();
      return;
    }
    if (!ws) {
      const times = (this.seen.get(key) ?? 0) + 1;
      if (times < 2 || this.statements.size >= MAX_WINDOW_STATEMENTS) {
        if (this.seen.size >= MAX_WINDOW_SIGNATURES) this.seen.clear();
        this.seen.set(key, times);
        this.spill();
        return;
      }
      this.seen.delete(key);
      ws = this.prepare(stepShared, timed);
      this.statements.set(key, ws);
    }
    const pos = ws.positional;
    let p = 0;
    for (let r = 0; r < n; r++) {
      if (!stepShared) pos[p++] = this.steps[r];
      const g = this.groupOf[r];
      const w = gShapes[g].width;
      // Fields not bound: the shared ones and, in a timed window, the time.
      const bits = timed ? gShared[g] | (1 << gShapes[g].timeIndex) : gShared[g];
      const a = r * MAX_FIELDS;
      if (bits === 0) for (let j = 0; j < w; j++) pos[p++] = v[a + j];
      else for (let j = 0; j < w; j++) if (!(bits & (1 << j))) pos[p++] = v[a + j];
    }
    const named = ws.named;
    named.b = this.first;
    if (stepShared) named.t = step0;
    if (timed) named.T = t0;
    ws.stmt.run(...pos, named);
    this.count = 0;
  }

  /** Moves the window's rows to their shapes' RowBuffers (a window without a statement, or a partial one at commit). */
  spill(): void {
    for (let r = 0; r < this.count; r++) this.shapes[r].spill(this.first + r, this.steps[r], this.values, r * MAX_FIELDS);
    this.count = 0;
  }

  /** The statement of the current window's signature (groups computed by full()). */
  private prepare(stepShared: boolean, timed: boolean): WindowStatement {
    const rows: string[] = [];
    let positional = 0;
    const named: Record<string, unknown> = { b: 0 };
    if (stepShared) named.t = 0;
    if (timed) named.T = 0;
    for (let r = 0; r < this.count; r++) {
      const g = this.groupOf[r];
      const shape = this.groupShapes[g];
      const lit = this.groupFirst[g] * MAX_FIELDS;
      const cols = BATCH_COLUMNS.map((c) => {
        const j = shape.fields.findIndex((f) => f.column === c);
        if (j < 0) return 'NULL';
        if (timed && c === 'time') return `@T + ${this.deltas[r]}`;
        // An integer (checked by full()), as the SQLite integer literal of the same value.
        if (this.groupShared[g] & (1 << j)) return String(this.values[lit + j] as number | bigint);
        positional++;
        return '?';
      });
      if (!stepShared) positional++;
      rows.push(`(${this.runId}, @b + ${r}, ${stepShared ? '@t' : '?'}, ${shape.code}, ${cols.join(', ')})`);
    }
    const stmt = this.db.prepare(`INSERT OR FAIL INTO events (run_id, seq, step, kind, ${BATCH_COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`);
    return { stmt, positional: new Array<unknown>(positional).fill(null), named, deltas: timed ? this.deltas.slice(0, this.count) : undefined };
  }
}

