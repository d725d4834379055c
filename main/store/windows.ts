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
 * Replay (issue 7 performance pass): a window of a batch whose rows are exactly those of the
 * statement that followed the previous window's last time (kind, batch mask, literals, time
 * distances, shared step) is written straight from the batch's slots (replay()), skipping the copy
 * of every field into the window, the grouping and the signature: a workload's windows cycle
 * through a few statements, so nearly all go this way. Writer alone, 750K workload events, CPU per
 * event, median of 5 alternating with the previous commit: 1349 -> 1153 ns; end to end (run worker)
 * median of 4: writer thread 1715 -> 1545 ms, 0.76 -> 0.83 M events/s (a loaded 2-core machine).
 *
 * Measured (issue 7 performance pass): also spelling the other integer fields as @x + (distance
 * from the shape's first row), so that a workload's rows bind nothing, did not change the
 * writer's cost (same-process A/B, CPU per event): what remains is SQLite's per-row, per-column
 * work (the VDBE, record encoding, B-tree), not binding.
 */
import type Database from 'better-sqlite3';
import { BATCH_COLUMNS, COLS_PER_EVENT, TIME_SLOT, U64_NUMBER_BIT } from './batch.ts';

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
  readonly fields: readonly { readonly column: string; readonly type: string }[];
  readonly width: number;
  /** Index of the time among the present fields (−1: none). */
  readonly timeIndex: number;
  /** The window (Windows' counter) that last met this shape, and its group there. */
  window: number;
  group: number;
  /** Buffers a row (seq, step, `width` values from values[o…]) for the per-shape statements (spill). */
  spill(seq: number, step: number, values: readonly unknown[], o: number): void;
}

/** Window row mask of a row that did not come from a batch (write() of event objects): no batch mask has bits 28-31. */
export const NO_BATCH_MASK = 0xffffffff;

/** The batch being read (writer.ts): its slots as doubles, 32-bit halves and int64s (one buffer), its JSON texts and the next one's index. */
export interface BatchCursor {
  f: Float64Array;
  u: Uint32Array;
  b: BigInt64Array;
  strings: string[];
  str: number;
}

/** Replay operations (ReplayPlan.ops): what a row's slot k must hold, or gives to the statement. */
const OP_LIT_F = 0; // a double slot equal to a literal of the statement
const OP_LIT_U = 1; // an int64 slot whose 64 bits equal a literal's (lo, hi)
const OP_DELTA = 2; // the time slot, row 0's time + the statement's distance
const OP_BIND_F = 3; // bound: the double
const OP_BIND_U = 4; // bound: the int64 slot, a number below 2^53 else the signed bigint (as writer.ts' batch readers)
const OP_BIND_S = 5; // bound: the next JSON text of the batch

/**
 * How a window statement's rows are checked and its values taken straight from a batch (replay):
 * the kind code and batch mask of each row, then per row its slots in storage column order, each
 * a check against the statement's literals (or time distance) or a value to bind. Built when the
 * statement is prepared from a window whose rows all came from batches.
 */
interface ReplayPlan {
  readonly kinds: Uint16Array;
  readonly masks: Uint32Array;
  /** Ops of row r: ops[2o] (OP_*), ops[2o + 1] (slot) for o in rowOps[r]..rowOps[r + 1]. */
  readonly ops: Int32Array;
  readonly rowOps: Int32Array;
  /** A literal's double (OP_LIT_F) or its 64 bits' low and high halves (OP_LIT_U), at 2o, 2o + 1. */
  readonly lits: Float64Array;
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
  /** Rows bind their step (false: one step for all, @t). */
  stepBound: boolean;
  timed: boolean;
  /** Batch replay of the statement (undefined: prepared from event objects). */
  plan?: ReplayPlan;
  /** The statement that wrote the window after the last one this statement wrote (the prediction of replay). */
  next: WindowStatement | null;
}

/** The 64 bits of a u64 literal (a number below 2^53, or the signed bigint) as 32-bit halves [lo, hi]. */
function halves(x: number | bigint): [number, number] {
  if (typeof x === 'number') return [x >>> 0, Math.floor(x / 4294967296)];
  const v = BigInt.asUintN(64, x);
  return [Number(v & 0xffffffffn), Number(v >> 32n)];
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
  /** Each row's batch mask (batch.ts), or NO_BATCH_MASK for a row written from an event object. */
  readonly masks = new Uint32Array(WINDOW_EVENTS);
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
  /** The statement that wrote the last window (null after a spill). */
  private last: WindowStatement | null = null;

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
    this.chain(ws);
  }

  /** Records `ws` as the statement of the window just written (and as the successor of the previous one). */
  private chain(ws: WindowStatement): void {
    if (this.last !== null) this.last.next = ws;
    this.last = ws;
  }

  /**
   * Writes the WINDOW_EVENTS events of a batch from event i0 on (seq first + i0…) with the statement
   * that followed the last window's last time, straight from the batch's slots, when that
   * statement's rows are exactly these events' (kind, mask, every literal, time distance and the
   * shared step equal; the stored rows are then the same as through full()): a periodic stream's
   * windows cycle through a few statements, and this skips copying every field into the window,
   * grouping and the signature. Returns false (nothing written, the cursor as it was) otherwise;
   * the caller then fills the window as usual. Only with an empty window.
   */
  replay(cur: BatchCursor, kinds: Uint16Array, steps: Int32Array, masks: Uint32Array, first: number, i0: number): boolean {
    const ws = this.last?.next;
    const p = ws?.plan;
    if (p === undefined || this.count !== 0) return false;
    const { f, u } = cur;
    const { ops, rowOps, lits } = p;
    const pos = ws!.positional;
    const deltas = ws!.deltas;
    const stepBound = ws!.stepBound;
    const str0 = cur.str;
    const step0 = steps[i0];
    const t0 = f[i0 * COLS_PER_EVENT + TIME_SLOT];
    let q = 0;
    for (let r = 0, i = i0; r < WINDOW_EVENTS; r++, i++) {
      if (kinds[i] !== p.kinds[r] || masks[i] !== p.masks[r]) return this.undo(cur, str0);
      if (stepBound) pos[q++] = steps[i];
      else if (steps[i] !== step0) return this.undo(cur, str0);
      const base = i * COLS_PER_EVENT;
      for (let o = rowOps[r], end = rowOps[r + 1]; o < end; o++) {
        const s = base + ops[2 * o + 1];
        switch (ops[2 * o]) {
          case OP_LIT_F:
            if (f[s] !== lits[2 * o]) return this.undo(cur, str0);
            break;
          case OP_LIT_U:
            if (u[2 * s] !== lits[2 * o] || u[2 * s + 1] !== lits[2 * o + 1]) return this.undo(cur, str0);
            break;
          case OP_DELTA:
            if (f[s] - t0 !== deltas![r]) return this.undo(cur, str0);
            break;
          case OP_BIND_F:
            pos[q++] = f[s];
            break;
          case OP_BIND_U: {
            const hi = u[2 * s + 1];
            pos[q++] = hi < 0x200000 ? hi * 4294967296 + u[2 * s] : cur.b[s];
            break;
          }
          default:
            pos[q++] = cur.strings[cur.str++];
        }
      }
    }
    const named = ws!.named;
    named.b = first + i0;
    if (!stepBound) named.t = step0;
    if (ws!.timed) named.T = t0;
    ws!.stmt.run(...pos, named);
    this.chain(ws!);
    return true;
  }

  /** A replay that does not fit: the cursor's JSON texts back to where the window starts. */
  private undo(cur: BatchCursor, str0: number): false {
    cur.str = str0;
    return false;
  }

  /** Moves the window's rows to their shapes' RowBuffers (a window without a statement, or a partial one at commit). */
  spill(): void {
    this.last = null;
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
    // The replay plan (see replay()), for a window whose rows all came from batches.
    let replayable = true;
    const ops: number[] = [];
    const lits: number[] = [];
    const rowOps = new Int32Array(this.count + 1);
    const op = (code: number, k: number, a = 0, b = 0) => {
      ops.push(code, k);
      lits.push(a, b);
    };
    for (let r = 0; r < this.count; r++) {
      const g = this.groupOf[r];
      const shape = this.groupShapes[g];
      const lit = this.groupFirst[g] * MAX_FIELDS;
      const m = this.masks[r];
      if (m === NO_BATCH_MASK) replayable = false;
      rowOps[r] = ops.length / 2;
      const cols = BATCH_COLUMNS.map((c, k) => {
        const j = shape.fields.findIndex((f) => f.column === c);
        if (j < 0) return 'NULL';
        const field = shape.fields[j];
        const int64 = field.type === 'u64' && !(m & (1 << (U64_NUMBER_BIT + k)));
        if (timed && c === 'time') {
          op(OP_DELTA, k);
          return `@T + ${this.deltas[r]}`;
        }
        // An integer (checked by full()), as the SQLite integer literal of the same value.
        if (this.groupShared[g] & (1 << j)) {
          const x = this.values[lit + j] as number | bigint;
          if (int64) op(OP_LIT_U, k, ...halves(x));
          else if (typeof x === 'number') op(OP_LIT_F, k, x);
          else replayable = false;
          return String(x);
        }
        op(field.type === 'json' ? OP_BIND_S : int64 ? OP_BIND_U : OP_BIND_F, k);
        positional++;
        return '?';
      });
      if (!stepShared) positional++;
      rows.push(`(${this.runId}, @b + ${r}, ${stepShared ? '@t' : '?'}, ${shape.code}, ${cols.join(', ')})`);
    }
    const stmt = this.db.prepare(`INSERT OR FAIL INTO events (run_id, seq, step, kind, ${BATCH_COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`);
    rowOps[this.count] = ops.length / 2;
    const plan: ReplayPlan | undefined =
      replayable && this.count === WINDOW_EVENTS
        ? { kinds: Uint16Array.from(this.shapes.slice(0, this.count), (sh) => sh.code), masks: this.masks.slice(0, this.count), ops: Int32Array.from(ops), rowOps, lits: Float64Array.from(lits) }
        : undefined;
    return {
      stmt,
      positional: new Array<unknown>(positional).fill(null),
      named,
      deltas: timed ? this.deltas.slice(0, this.count) : undefined,
      stepBound: !stepShared,
      timed,
      plan,
      next: null,
    };
  }
}

