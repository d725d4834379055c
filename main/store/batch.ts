/**
 * Columnar event batches: how the run's generator thread hands events to the writer (see
 * main/worker/worker.ts). The generator encodes each event straight from the core's payload into
 * typed arrays (no envelope object, no per-event allocation for numeric fields); whole batches
 * move between threads by transfer, and the writer binds values from them (writer.ts).
 *
 * Layout of event i (seq = firstSeq + i): kinds[i] (kind code, up to 65535), steps[i] (step
 * index), masks[i] (which storage columns the event has, see below) and one 8-byte slot
 * cols[i * COLS_PER_EVENT + k] for the k-th storage column (BATCH_COLUMNS order: the catalog's
 * EVENT_COLUMNS, then the envelope's `comp` and `time`):
 * - masks[i] bit k set: column k present (the field is neither undefined nor null; a slot whose
 *   bit is clear holds anything and is NULL); bit U64_NUMBER_BIT + k set: a u64 column's slot
 *   holds a double (the field was a JS number, not a bigint; see below);
 * - u64 columns: the slot holds the value's 64 bits as an int64 (written through a BigInt64Array
 *   view of the same buffer: exact, BigInt.asIntN(64, v), without converting the bigint to a
 *   number, which costs V8 a runtime call per value). The writer reads a value below 2^53 as a
 *   number from its two 32-bit halves, and a larger one as the signed bigint;
 * - other integer columns: the value as a JS number (Float64Array);
 * - `data` (json fields): the JSON text is the next entry of `strings` (entries in event order,
 *   then column order); the slot is unused;
 * - `comp`: the emitting component's code, n ≥ 1 for `components[n − 1]`, 0 for the run's own
 *   events (no component); always present;
 * - `time`: the virtual time in ns (core/engine/clock.ts: the encoder's clock ticked by the kind's
 *   cost, as EventLog stamps it in a recorded run); always present.
 *
 * This module stays free of better-sqlite3 (schema.ts imports only its types): it is the
 * generator thread's encoding side, and the only SQLite the generator loads is its background
 * checkpointer (checkpointer.ts).
 */
import { EVENT_CATALOG, type Column, type EventKind, type EventPayload } from '../../core/events/catalog.ts';
import { VirtualClock, eventCost, eventCostField, extraCost } from '../../core/engine/clock.ts';
import { KIND_PLANS, toJson, type KindPlan } from './codec.ts';
import { ENVELOPE_COLUMNS, EVENT_COLUMNS, LINE_COLUMN, type EnvelopeColumn } from './schema.ts';

/** Storage columns in table order (the slots of one event in `cols`): the catalog's, then the envelope's comp and time. */
export const BATCH_COLUMNS: readonly (Column | EnvelopeColumn)[] = [...EVENT_COLUMNS, ...ENVELOPE_COLUMNS.map(([c]) => c), LINE_COLUMN[0]];
/** Slot of the component code and of the time in an event's `cols`. */
export const COMP_SLOT = EVENT_COLUMNS.length;
export const TIME_SLOT = EVENT_COLUMNS.length + 1;
/** 2^53: u64 values below it are exact as numbers. */
const TWO_53 = 2 ** 53;
/** Largest kind code a batch holds (kinds is a Uint16Array). */
export const MAX_KIND_CODE = 0xffff;
/** Slots per event in `cols`. */
export const COLS_PER_EVENT = BATCH_COLUMNS.length;
/** masks[i] bit U64_NUMBER_BIT + k: the u64 column k of event i holds a double (see the file comment). */
export const U64_NUMBER_BIT = 16;
if (COLS_PER_EVENT > U64_NUMBER_BIT) throw new Error(`batch: ${COLS_PER_EVENT} storage columns do not fit a 32-bit mask of presence and number bits`);
// u64 slots are read back as 32-bit halves, low half first.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('batch: columnar batches assume a little-endian host');

/** One batch of consecutive events of a run, with the run's progress after its last event. */
export interface EventBatch {
  /** seq of the first event. */
  firstSeq: number;
  count: number;
  kinds: Uint16Array;
  steps: Int32Array;
  /** Present columns of each event (bit k), and u64 columns holding a double (bit U64_NUMBER_BIT + k). */
  masks: Uint32Array;
  /** COLS_PER_EVENT 8-byte slots per event: doubles, or int64 for u64 columns (see the file comment). */
  cols: Float64Array;
  strings: string[];
  /** The run's component ids so far: code n is components[n − 1] (a snapshot; the writer keeps the latest). */
  components: string[];
  /** Progress units done when the last event of the batch was emitted, and the run's total. */
  doneUnits: number;
  totalUnits: number;
}

/** Transferable buffers of a batch (postMessage transfer list). */
export function batchTransfer(b: EventBatch): ArrayBuffer[] {
  return [b.kinds.buffer as ArrayBuffer, b.steps.buffer as ArrayBuffer, b.masks.buffer as ArrayBuffer, b.cols.buffer as ArrayBuffer];
}

/**
 * Encodes events into batches. `emit` has the signature of ScenarioRunOptions.onEvent; `take`
 * returns the events encoded since the last take as one batch.
 */
export class BatchEncoder {
  count = 0;
  kinds: Uint16Array;
  steps: Int32Array;
  masks: Uint32Array;
  cols: Float64Array;
  /** The same buffer as `cols`, as int64 slots (u64 columns). */
  i64: BigInt64Array;
  strings: string[] = [];
  /** The run's virtual clock (time of each event: ticked by its kind's cost). */
  readonly clock = new VirtualClock();
  /** Component ids by code − 1, and the last component seen with its code (one comparison per event). */
  readonly components: string[] = [];
  lastComponent = '';
  lastCode = 0;
  private nextSeq = 0;
  /** Arrays handed back by the writer (reuse), taken by the next takes. */
  private readonly spare: Pick<EventBatch, 'kinds' | 'steps' | 'masks' | 'cols'>[] = [];
  private readonly encoders: Record<EventKind, (step: number, e: Record<string, unknown>, component: string | undefined) => void>;

  constructor(private readonly capacity = 8192) {
    this.kinds = new Uint16Array(capacity);
    this.steps = new Int32Array(capacity);
    this.masks = new Uint32Array(capacity);
    this.cols = new Float64Array(capacity * COLS_PER_EVENT);
    this.i64 = new BigInt64Array(this.cols.buffer);
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
    const masks = new Uint32Array(n);
    masks.set(this.masks);
    const cols = new Float64Array(n * COLS_PER_EVENT);
    cols.set(this.cols);
    this.kinds = kinds;
    this.steps = steps;
    this.masks = masks;
    this.cols = cols;
    this.i64 = new BigInt64Array(cols.buffer);
  }

  /**
   * Stores a u64 field that is not a bigint (a JS number, or anything else a malformed payload
   * holds) in slot `s`, as the encoding did before int64 slots: Number(v) when it is an integer
   * in [0, 2^53) (returns true: the slot holds a double), else BigInt.asIntN(64, v) (false;
   * throws as BigInt does for a value that is not an integer).
   */
  u64Other(s: number, v: unknown): boolean {
    const n = Number(v);
    if (n >= 0 && n < TWO_53) {
      this.cols[s] = n;
      return true;
    }
    this.i64[s] = BigInt.asIntN(64, v as bigint);
    return false;
  }

  /**
   * Offers the arrays of a batch the writer is done with (its buffers transferred back) for the
   * next `take`s: arrays of this encoder's capacity are kept (at most four sets), others dropped.
   * Their old contents do not matter (every slot an event uses is written; the mask says which).
   */
  reuse(spent: Pick<EventBatch, 'kinds' | 'steps' | 'masks' | 'cols'>): void {
    if (spent.kinds.length === this.capacity && spent.cols.length === this.capacity * COLS_PER_EVENT && this.spare.length < 4) this.spare.push(spent);
  }

  /** The events encoded since the last call (possibly none), with the run's progress. */
  take(doneUnits: number, totalUnits: number): EventBatch {
    const b: EventBatch = {
      firstSeq: this.nextSeq,
      count: this.count,
      kinds: this.kinds,
      steps: this.steps,
      masks: this.masks,
      cols: this.cols,
      strings: this.strings,
      components: [...this.components],
      doneUnits,
      totalUnits,
    };
    this.nextSeq += this.count;
    this.count = 0;
    const spare = this.spare.pop();
    this.kinds = spare?.kinds ?? new Uint16Array(this.capacity);
    this.steps = spare?.steps ?? new Int32Array(this.capacity);
    this.masks = spare?.masks ?? new Uint32Array(this.capacity);
    this.cols = spare?.cols ?? new Float64Array(this.capacity * COLS_PER_EVENT);
    this.i64 = new BigInt64Array(this.cols.buffer);
    this.strings = [];
    return b;
  }
}

/**
 * A kind's encoder with its field reads spelled out (`e.virtStart`): monomorphic property access
 * per kind, and only the kind's own columns written (absent ones are clear bits of the mask). The
 * generated text depends only on the event catalog (field names are checked to be identifiers),
 * never on input data.
 */
function compileEncoder(enc: BatchEncoder, plan: KindPlan): (step: number, e: Record<string, unknown>, component: string | undefined) => void {
  const lines = [
    'let i = enc.count;',
    'if (i === enc.kinds.length) enc.grow();',
    `enc.kinds[i] = ${plan.code};`,
    'enc.steps[i] = step;',
    'const c = enc.cols;',
    'const b = enc.i64;',
    `const o = i * ${COLS_PER_EVENT};`,
    // The envelope's columns are always present.
    `let m = ${(1 << COMP_SLOT) | (1 << TIME_SLOT)};`,
    'let x;',
  ];
  const byColumn = new Map(plan.fields.map((f) => [f.column, f]));
  EVENT_COLUMNS.forEach((column, k) => {
    const f = byColumn.get(column);
    if (!f) return;
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(f.name)) throw new Error(`catalog field name ${JSON.stringify(f.name)} is not an identifier`);
    lines.push(`x = e.${f.name};`);
    const bit = 1 << k;
    // A bigint goes into its slot's 64 bits as they are (exact, no conversion to a number).
    if (f.type === 'u64') lines.push(`if (typeof x === 'bigint') { b[o + ${k}] = x; m |= ${bit}; } else if (x !== undefined && x !== null) m |= enc.u64Other(o + ${k}, x) ? ${bit | (1 << (U64_NUMBER_BIT + k))} : ${bit};`);
    else if (f.type === 'json') lines.push(`if (x !== undefined && x !== null) { enc.strings.push(toJson(x)); m |= ${bit}; }`);
    else lines.push(`if (x !== undefined && x !== null) { c[o + ${k}] = x; m |= ${bit}; }`);
  });
  // The envelope: the component's code (the last one again costs one comparison), the time.
  lines.push(`c[o + ${COMP_SLOT}] = component === undefined || component === '' ? 0 : component === enc.lastComponent ? enc.lastCode : enc.componentCode(component);`);
  // A kind with a cost field (a wait) adds its value: the core's sinks charge the same (clock.ts tickEvent).
  const costField = eventCostField(plan.kind);
  if (costField !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(costField)) throw new Error(`catalog cost field ${JSON.stringify(costField)} is not an identifier`);
  lines.push(`c[o + ${TIME_SLOT}] = enc.clock.now += ${eventCost(plan.kind)}${costField === undefined ? '' : ` + extraCost(e.${costField})`};`);
  lines.push('enc.masks[i] = m;');
  lines.push('enc.count = i + 1;');
  const factory = new Function('enc', 'toJson', 'extraCost', `return function encode(step, e, component) {\n${lines.join('\n')}\n};`);
  return factory(enc, toJson, extraCost) as (step: number, e: Record<string, unknown>, component: string | undefined) => void;
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
