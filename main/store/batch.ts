/**
 * Columnar event batches: how the run's generator thread hands events to the writer (see
 * main/worker/worker.ts). The generator encodes each event straight from the core's payload into
 * typed arrays (no envelope object, no per-event allocation for numeric fields); whole batches
 * move between threads by transfer, and the writer binds values from them (writer.ts).
 *
 * Layout of event i (seq = firstSeq + i): kinds[i] (kind code, up to 65535), steps[i] (step
 * index), and cols[i * COLS_PER_EVENT + k] for the k-th storage column (BATCH_COLUMNS order: the
 * catalog's EVENT_COLUMNS, then the envelope's `comp` and `time`):
 * - NaN: NULL (the field is absent, or the kind has no field in that column);
 * - integer columns: the value as a JS number; a u64 above 2^53 - 1 is stored as Infinity and its
 *   exact SQL value (BigInt.asIntN(64, v)) is the next entry of `big` (entries in event order, then
 *   field order), so 64-bit values stay exact;
 * - `data` (json fields): 1, and the JSON text is the next entry of `strings`;
 * - `comp`: the emitting component's code, n ≥ 1 for `components[n − 1]`, 0 for the run's own
 *   events (no component);
 * - `time`: the virtual time in ns (core/engine/clock.ts: the encoder's clock ticked by the kind's
 *   cost, as EventLog stamps it in a recorded run).
 *
 * This module stays free of better-sqlite3 (schema.ts imports only its types): it is the
 * generator thread's encoding side, and the only SQLite the generator loads is its background
 * checkpointer (checkpointer.ts).
 */
import { EVENT_CATALOG, type Column, type EventKind, type EventPayload } from '../../core/events/catalog.ts';
import { VirtualClock, eventCost } from '../../core/engine/clock.ts';
import { KIND_PLANS, toJson, type KindPlan } from './codec.ts';
import { ENVELOPE_COLUMNS, EVENT_COLUMNS, type EnvelopeColumn } from './schema.ts';

/** Storage columns in table order (the slots of one event in `cols`): the catalog's, then the envelope's comp and time. */
export const BATCH_COLUMNS: readonly (Column | EnvelopeColumn)[] = [...EVENT_COLUMNS, ...ENVELOPE_COLUMNS.map(([c]) => c)];
/** Slot of the component code and of the time in an event's `cols`. */
export const COMP_SLOT = EVENT_COLUMNS.length;
export const TIME_SLOT = EVENT_COLUMNS.length + 1;
/** Largest kind code a batch holds (kinds is a Uint16Array). */
export const MAX_KIND_CODE = 0xffff;
/** Slots per event in `cols`. */
export const COLS_PER_EVENT = BATCH_COLUMNS.length;

/** One batch of consecutive events of a run, with the run's progress after its last event. */
export interface EventBatch {
  /** seq of the first event. */
  firstSeq: number;
  count: number;
  kinds: Uint16Array;
  steps: Int32Array;
  cols: Float64Array;
  big: bigint[];
  strings: string[];
  /** The run's component ids so far: code n is components[n − 1] (a snapshot; the writer keeps the latest). */
  components: string[];
  /** Progress units done when the last event of the batch was emitted, and the run's total. */
  doneUnits: number;
  totalUnits: number;
}

/** Transferable buffers of a batch (postMessage transfer list). */
export function batchTransfer(b: EventBatch): ArrayBuffer[] {
  return [b.kinds.buffer as ArrayBuffer, b.steps.buffer as ArrayBuffer, b.cols.buffer as ArrayBuffer];
}

/**
 * Encodes events into batches. `emit` has the signature of ScenarioRunOptions.onEvent; `take`
 * returns the events encoded since the last take as one batch.
 */
export class BatchEncoder {
  count = 0;
  kinds: Uint16Array;
  steps: Int32Array;
  cols: Float64Array;
  big: bigint[] = [];
  strings: string[] = [];
  /** The run's virtual clock (time of each event: ticked by its kind's cost). */
  readonly clock = new VirtualClock();
  /** Component ids by code − 1, and the last component seen with its code (one comparison per event). */
  readonly components: string[] = [];
  lastComponent = '';
  lastCode = 0;
  private nextSeq = 0;
  private readonly encoders: Record<EventKind, (step: number, e: Record<string, unknown>, component: string | undefined) => void>;

  constructor(private readonly capacity = 8192) {
    this.kinds = new Uint16Array(capacity);
    this.steps = new Int32Array(capacity);
    this.cols = new Float64Array(capacity * COLS_PER_EVENT);
    this.encoders = Object.fromEntries(Object.values(KIND_PLANS).map((p) => [p.kind, compileEncoder(this, p)])) as typeof this.encoders;
  }

  /**
   * Encodes one event (catalog kind, step index, payload, emitting component id: '' or absent for
   * the run's own events). Has the signature of ScenarioRunOptions.onEvent.
   */
  readonly emit = <K extends EventKind>(kind: K, step: number, payload: EventPayload<K>, component?: string): void => {
    this.encoders[kind](step, payload as Record<string, unknown>, component);
  };

  /** Code of component `id` (1, 2, … in first-seen order; 0 for '' or undefined). */
  componentCode(id: string | undefined): number {
    if (id === undefined || id === '') return 0;
    let i = this.components.indexOf(id);
    if (i < 0) i = this.components.push(id) - 1;
    this.lastComponent = id;
    this.lastCode = i + 1;
    return i + 1;
  }

  /** Makes room for one more event (doubling). */
  grow(): void {
    const n = this.kinds.length * 2;
    const kinds = new Uint16Array(n);
    kinds.set(this.kinds);
    const steps = new Int32Array(n);
    steps.set(this.steps);
    const cols = new Float64Array(n * COLS_PER_EVENT);
    cols.set(this.cols);
    this.kinds = kinds;
    this.steps = steps;
    this.cols = cols;
  }

  /** Stores a u64 above 2^53 - 1 exactly; returns the marker stored in its slot. */
  bigSlot(v: bigint): number {
    this.big.push(BigInt.asIntN(64, v));
    return Infinity;
  }

  /** The events encoded since the last call (possibly none), with the run's progress. */
  take(doneUnits: number, totalUnits: number): EventBatch {
    const b: EventBatch = {
      firstSeq: this.nextSeq,
      count: this.count,
      kinds: this.kinds,
      steps: this.steps,
      cols: this.cols,
      big: this.big,
      strings: this.strings,
      components: [...this.components],
      doneUnits,
      totalUnits,
    };
    this.nextSeq += this.count;
    this.count = 0;
    this.kinds = new Uint16Array(this.capacity);
    this.steps = new Int32Array(this.capacity);
    this.cols = new Float64Array(this.capacity * COLS_PER_EVENT);
    this.big = [];
    this.strings = [];
    return b;
  }
}

/**
 * A kind's encoder with its field reads spelled out (`e.virtStart`): monomorphic property access
 * per kind. The generated text depends only on the event catalog (field names are checked to be
 * identifiers), never on input data.
 */
function compileEncoder(enc: BatchEncoder, plan: KindPlan): (step: number, e: Record<string, unknown>, component: string | undefined) => void {
  const lines = [
    'let i = enc.count;',
    'if (i === enc.kinds.length) enc.grow();',
    `enc.kinds[i] = ${plan.code};`,
    'enc.steps[i] = step;',
    'const c = enc.cols;',
    `const o = i * ${COLS_PER_EVENT};`,
    'let x;',
  ];
  const byColumn = new Map(plan.fields.map((f) => [f.column, f]));
  EVENT_COLUMNS.forEach((column, k) => {
    const f = byColumn.get(column);
    if (!f) {
      lines.push(`c[o + ${k}] = NaN;`);
      return;
    }
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(f.name)) throw new Error(`catalog field name ${JSON.stringify(f.name)} is not an identifier`);
    lines.push(`x = e.${f.name};`);
    // A bigint below 2^53 converts exactly, and one at or above it converts to at least 2^53
    // (rounding is monotonic): one conversion and a double comparison instead of two bigint ones.
    if (f.type === 'u64') lines.push(`if (x === undefined || x === null) c[o + ${k}] = NaN; else { const n = Number(x); c[o + ${k}] = n >= 0 && n < TWO_53 ? n : enc.bigSlot(x); }`);
    else if (f.type === 'json') lines.push(`if (x === undefined || x === null) c[o + ${k}] = NaN; else { enc.strings.push(toJson(x)); c[o + ${k}] = 1; }`);
    else lines.push(`c[o + ${k}] = x === undefined || x === null ? NaN : x;`);
  });
  // The envelope: the component's code (the last one again costs one comparison), the time.
  lines.push(`c[o + ${COMP_SLOT}] = component === undefined || component === '' ? 0 : component === enc.lastComponent ? enc.lastCode : enc.componentCode(component);`);
  lines.push(`c[o + ${TIME_SLOT}] = enc.clock.now += ${eventCost(plan.kind)};`);
  lines.push('enc.count = i + 1;');
  const factory = new Function('enc', 'TWO_53', 'toJson', `return function encode(step, e, component) {\n${lines.join('\n')}\n};`);
  return factory(enc, 2 ** 53, toJson) as (step: number, e: Record<string, unknown>, component: string | undefined) => void;
}

/**
 * Checks that every kind code of `catalog` fits a batch's Uint16Array of kinds (1..65535); throws
 * naming the first that does not. Run at load on the event catalog.
 */
export function checkKindCodes(catalog: Readonly<Record<string, { readonly code: number }>>): void {
  for (const [kind, spec] of Object.entries(catalog)) {
    if (!Number.isInteger(spec.code) || spec.code < 1 || spec.code > MAX_KIND_CODE) throw new Error(`catalog ${kind}: code ${spec.code} does not fit a batch (1..${MAX_KIND_CODE})`);
  }
}
checkKindCodes(EVENT_CATALOG);
