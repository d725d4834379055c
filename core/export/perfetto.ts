/**
 * A run or an imported trace as a Chrome / Perfetto JSON trace (issue 9 §3 "Exports"): the Trace
 * Event Format (`{"displayTimeUnit":"ns","traceEvents":[…],"otherData":{…}}`), which Perfetto's UI
 * (ui.perfetto.dev → Open trace file) and chrome://tracing open.
 *
 * Streaming and pure: `PerfettoTraceWriter` turns EventRows given in seq order into JSON text, one
 * event at a time (header → events → footer); memory stays constant whatever the run's size (a
 * fixed ring of the last CAUSE_RING events for the causal flows, one entry per track).
 *
 * Mapping (Trace Event Format, "JSON Object Format"; Perfetto's JSON importer,
 * src/trace_processor/importers/json/):
 * - one process per run: `pid` = the run id, `process_name` "<name> (run #<id>)";
 * - one thread (track) per component, named "<id> (<kind>)", sorted by the machine's layers
 *   (`thread_sort_index`; core/machine LAYERS: guest, viommu, host-iommu-device, backend, iommu),
 *   the run's own events (expectations) and an imported trace's events on a track after them.
 *   The caller names the components up front (listComponents: id, kind, layer); one it did not
 *   name is placed by the family most of its events have, its metadata written in the footer
 *   (metadata events may come anywhere in the array);
 * - each event a complete event (`ph:"X"`) lasting the virtual clock's declared cost of its kind
 *   (core/engine/clock.ts EVENT_COST_NS, plus a `wait`'s ns), or a thread-scoped instant
 *   (`ph:"i"`, `s:"t"`) when the kind costs nothing (every imported trace event). A stored time is
 *   when the operation completed, so the slice is [time − cost, time];
 * - `ts` and `dur` in µs, the format's unit, written as decimals with ns precision ("1.25" is
 *   1250 ns; Perfetto rounds ts × 1000 to ns). `displayTimeUnit` only says how to display them
 *   (Perfetto issue #274: it no longer rescales ts);
 * - `name`: the event kind, or for an imported trace's event the source event's name
 *   (fields.data.event: "iommu:map", "virtio_iommu_map", "DMAR", …); `cat`: the kind's family
 *   (core/events/catalog.ts EventFamily), with ",problem" and `cname:"terrible"` for problem events
 *   (core/events/problems.ts: faults, failed host calls, QEMU errors, failed expectations);
 * - `args`: the decoded fields as the contract gives them (u64 as "0x…" strings, JSON payloads
 *   nested), then `seq`, `step`, `text` (the one-line format) and, for a trace's event, `line`;
 * - causality as flow events (`ph:"s"` in the cause's slice, `ph:"f"` with `bp:"e"` in the effect's,
 *   the same `id`): a host call or QEMU error → the guest / vIOMMU event that caused it (its `cause`
 *   field, a seq; main/store/host-view.ts causedBy explains the link). A cause further back than
 *   CAUSE_RING events is not linked (counted in otherData.flowsUnlinked).
 * - Rows without a time (stored before schema version 6; a trace without timestamps): when the first
 *   event has none, the whole export uses ts = the event's seq (µs), slices 1 µs long, and says so
 *   (a `process_labels` metadata event and otherData.clock "seq"). A later event without a time in
 *   a timed export is an instant at the previous event's end.
 *
 * Valid JSON for any content: every string goes through JSON.stringify (quotes, control characters,
 * lone surrogates escaped); numbers are integers or the decimals built here, never NaN or Infinity.
 */
import type { EventRow } from '../contract/index.ts';
import { eventCost, eventCostField } from '../engine/clock.ts';
import { EVENT_CATALOG, FAMILY_LAYER, type EventFamily, type KindSpec } from '../events/catalog.ts';
import { LAYERS } from '../machine/component.ts';

/** A track of the export: a component of the run (the contract's RunComponent without counts). */
export interface PerfettoTrack {
  /** Component id ('viommu0', 'iommufd0', 'guest0'); '' for the run's own events. */
  id: string;
  /** Component kind ('virtio-iommu', 'iommufd', …; 'run'). */
  kind: string;
  /** Layer: guest, viommu, host-iommu-device, backend, iommu, or 'run' (sorted after the machine's layers). */
  layer: string;
}

/** What the writer needs to know about the run up front. */
export interface PerfettoOptions {
  /** The run (or imported trace): its id (the process id) and name. */
  run: { id: number; name: string; kind?: 'run' | 'trace' | 'replay' };
  /**
   * The run's components in display order (listComponents); their tracks are declared in the
   * header. A component met later that is not listed gets a track then, its layer from the
   * family most of its events have (metadata in the footer).
   */
  components?: readonly PerfettoTrack[];
}

/** What the footer's otherData reports (also returned by `PerfettoTraceWriter.summary`). */
export interface PerfettoSummary {
  /** 'virtual' (a scenario run's virtual clock, ns), 'trace' (an imported trace's timestamps, ns) or 'seq' (no times: ts = seq). */
  clock: 'virtual' | 'trace' | 'seq';
  /** Events written (metadata and flow events not counted). */
  events: number;
  /** Flows written (one 's' + one 'f' each). */
  flows: number;
  /** Events with a `cause` whose cause was not among the last CAUSE_RING events (no flow written). */
  flowsUnlinked: number;
  /** The tracks, in tid order (tid = index + 1). */
  tracks: { tid: number; id: string; name: string; layer: string }[];
}

/** Events remembered for causal flows: a cause lies at most main/store/host-view.ts CAUSE_WINDOW (4096) events back. */
export const CAUSE_RING = 16384;


/** Each kind's family (a Map: one lookup per event, no prototype keys). */
const FAMILY_OF: ReadonlyMap<string, string> = new Map(Object.entries(EVENT_CATALOG as Readonly<Record<string, KindSpec>>).map(([k, spec]) => [k, spec.family]));

/** Sort rank of a layer: the machine's order, then anything else ('run'). */
function layerRank(layer: string): number {
  const i = (LAYERS as readonly string[]).indexOf(layer);
  return i < 0 ? LAYERS.length : i;
}

/**
 * ns (an integer; a fraction is rounded) as µs in decimal with up to 3 fraction digits: 1250 →
 * "1.25", 1000 → "1", -5 → "-0.005". Non-finite input gives "0" (never NaN in the output).
 */
export function usText(ns: number): string {
  if (!Number.isFinite(ns)) return '0';
  const n = Math.round(ns);
  const abs = Math.abs(n);
  const whole = Math.floor(abs / 1000);
  const frac = abs - whole * 1000;
  const sign = n < 0 ? '-' : '';
  if (frac === 0) return `${sign}${whole}`;
  // Fraction digits without trailing zeros: 250 → "25", 5 → "005", 100 → "1".
  const digits = frac % 100 === 0 ? String(frac / 100) : frac % 10 === 0 ? String(frac / 10).padStart(2, '0') : String(frac).padStart(3, '0');
  return `${sign}${whole}.${digits}`;
}

/** A stored u64 / integer field ("0x…", number or bigint) as a number; NaN when it is none. */
function numberOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) return Number.parseInt(v.slice(2), 16);
  return Number.NaN;
}

/** The event's duration in ns: its kind's declared cost plus its costField's ns (core/engine/clock.ts). */
export function eventDurationNs(kind: string, fields: Readonly<Record<string, unknown>>): number {
  let ns = eventCost(kind);
  const field = eventCostField(kind);
  if (field !== undefined) {
    const extra = numberOf(fields[field]);
    if (Number.isFinite(extra) && extra > 0) ns += Math.floor(extra);
  }
  return ns;
}

interface Track {
  tid: number;
  id: string;
  name: string;
  layer: string;
  /** End (ns) of the last slice written on it: a slice never starts before it (no partial overlap). */
  lastEnd: number;
  /** A track met without a declaration: its events by family until the footer names it; null once named. */
  families: Map<string, number> | null;
}

/**
 * The streaming writer. Call `header()` once, `event(row)` for every row in seq order, `footer()`
 * once; concatenated, the strings are one JSON document. Each returns the text to append.
 */
export class PerfettoTraceWriter {
  private readonly pid: number;
  private readonly tracks = new Map<string, Track>();
  private readonly order: Track[] = [];
  private clock: PerfettoSummary['clock'] | null = null;
  /** End (ns) of the previous event: where a timeless event of a timed export goes. */
  private lastTime = 0;
  private events = 0;
  private flows = 0;
  private flowsUnlinked = 0;
  // The last CAUSE_RING events by seq % CAUSE_RING: seq (−1 empty), tid, start and duration (ns).
  private readonly ringSeq = new Float64Array(CAUSE_RING).fill(-1);
  private readonly ringTid = new Int32Array(CAUSE_RING);
  private readonly ringStart = new Float64Array(CAUSE_RING);
  private readonly ringDur = new Float64Array(CAUSE_RING);
  /** Metadata for tracks declared after the header, written before the next event. */
  private pendingMeta = '';

  constructor(private readonly opts: PerfettoOptions) {
    this.pid = Number.isSafeInteger(opts.run.id) && opts.run.id >= 0 ? opts.run.id : 0;
    for (const c of opts.components ?? []) this.track(c.id, c.kind, c.layer);
  }

  /** The document's start and the process and track metadata. */
  header(): string {
    const { run } = this.opts;
    const what = run.kind === 'trace' ? 'trace' : run.kind === 'replay' ? 'replay' : 'run';
    const meta = [this.meta('process_name', 0, { name: `${run.name} (${what} #${run.id})` }), this.meta('process_sort_index', 0, { sort_index: 0 })];
    const pending = this.pendingMeta;
    this.pendingMeta = '';
    return `{"displayTimeUnit":"ns","traceEvents":[\n${meta.join(',\n')}${pending}`;
  }

  /** One event (and its flow, when it names a cause): the text to append, each object preceded by ",\n". */
  event(row: EventRow): string {
    const family = FAMILY_OF.get(row.kind) ?? 'unknown';
    const track = this.trackOf(row.component, family);
    let out = '';
    if (this.clock === null) {
      const timed = typeof row.time === 'number' && Number.isFinite(row.time);
      this.clock = !timed ? 'seq' : family === 'trace' ? 'trace' : 'virtual';
      if (this.clock === 'seq') out += `,\n${this.meta('process_labels', 0, { labels: 'no event times stored: ts is the event seq (µs), slices 1 µs' })}`;
    }
    if (this.pendingMeta) {
      out += this.pendingMeta;
      this.pendingMeta = '';
    }
    const cost = eventDurationNs(row.kind, row.fields);
    let start: number;
    let dur: number;
    if (this.clock === 'seq') {
      start = row.seq * 1000;
      dur = cost > 0 ? 1000 : 0;
    } else if (typeof row.time === 'number' && Number.isFinite(row.time)) {
      start = row.time - cost;
      dur = cost;
    } else {
      start = this.lastTime;
      dur = 0;
    }
    if (dur > 0 && start < track.lastEnd && start + dur > track.lastEnd) {
      // A slice overlapping the previous one's end would break the track's nesting: start it there.
      dur = start + dur - track.lastEnd;
      start = track.lastEnd;
    }
    if (start < 0) {
      dur = Math.max(0, dur + start);
      start = 0;
    }
    const end = start + dur;
    if (dur > 0) track.lastEnd = Math.max(track.lastEnd, end);
    this.lastTime = Math.max(this.lastTime, end);

    const data = row.fields.data as { event?: unknown } | null | undefined;
    const name = family === 'trace' && data && typeof data === 'object' && typeof data.event === 'string' && data.event !== '' ? data.event : row.kind;
    // args: the fields, then the envelope (no catalog field is named seq, step, text or line), spliced
    // into the fields' JSON rather than merged into a new object (the per-event cost of a big export).
    const fieldsJson = JSON.stringify(row.fields);
    const envelope = `"seq":${this.int(row.seq)},"step":${this.int(row.step)},"text":${JSON.stringify(row.text)}${typeof row.line === 'number' && Number.isFinite(row.line) ? `,"line":${row.line}` : ''}}`;
    const args = fieldsJson === '{}' ? `{${envelope}` : `${fieldsJson.slice(0, -1)},${envelope}`;
    const problem = row.problem ? ',"cname":"terrible"' : '';
    const cat = JSON.stringify(row.problem ? `${family},problem` : family);
    const head = `{"name":${JSON.stringify(name)},"cat":${cat},"pid":${this.pid},"tid":${track.tid},"ts":${usText(start)}`;
    out += dur > 0 ? `,\n${head},"ph":"X","dur":${usText(dur)}${problem},"args":${args}}` : `,\n${head},"ph":"i","s":"t"${problem},"args":${args}}`;
    this.events++;

    const at = row.seq % CAUSE_RING;
    if (Number.isSafeInteger(row.seq) && row.seq >= 0) {
      this.ringSeq[at] = row.seq;
      this.ringTid[at] = track.tid;
      this.ringStart[at] = start;
      this.ringDur[at] = dur;
    }
    if (row.fields.cause !== undefined && row.fields.cause !== null) out += this.flow(row.seq, numberOf(row.fields.cause), track.tid, start, dur);
    return out;
  }

  /** The end of the document: the traceEvents array closed, then otherData (PerfettoSummary, the run). */
  footer(): string {
    this.settleTracks();
    const s = this.summary();
    const other = { lab: 'IOMMU Lab', runId: this.opts.run.id, name: this.opts.run.name, clock: s.clock, clockNote: CLOCK_NOTES[s.clock], events: s.events, flows: s.flows, flowsUnlinked: s.flowsUnlinked, tracks: s.tracks };
    const pending = this.pendingMeta;
    this.pendingMeta = '';
    return `${pending}\n],"otherData":${JSON.stringify(other)}}\n`;
  }

  /** What was written so far. */
  summary(): PerfettoSummary {
    return {
      clock: this.clock ?? 'virtual',
      events: this.events,
      flows: this.flows,
      flowsUnlinked: this.flowsUnlinked,
      tracks: this.order.map((t) => ({ tid: t.tid, id: t.id, name: t.name, layer: t.layer })),
    };
  }

  /** The flow cause → effect, or '' (and counted) when the cause is not in the ring. */
  private flow(effectSeq: number, causeSeq: number, tid: number, start: number, dur: number): string {
    if (!Number.isSafeInteger(causeSeq) || causeSeq < 0 || causeSeq >= effectSeq) {
      this.flowsUnlinked++;
      return '';
    }
    const at = causeSeq % CAUSE_RING;
    if (this.ringSeq[at] !== causeSeq) {
      this.flowsUnlinked++;
      return '';
    }
    this.flows++;
    // Inside each slice (its middle), so the flow binds to the enclosing slice on both tracks.
    const from = this.ringStart[at] + Math.floor(this.ringDur[at] / 2);
    const to = start + Math.floor(dur / 2);
    const id = effectSeq;
    return (
      `,\n{"name":"cause","cat":"cause","ph":"s","id":${id},"pid":${this.pid},"tid":${this.ringTid[at]},"ts":${usText(from)}}` +
      `,\n{"name":"cause","cat":"cause","ph":"f","bp":"e","id":${id},"pid":${this.pid},"tid":${tid},"ts":${usText(to)}}`
    );
  }

  /**
   * The track of an event's component (null / absent: the run's own track). A component not
   * declared up front gets its track on first sight; its name and sort index are written in the
   * footer, from the family most of its events have (a vIOMMU also emits a host-iommu-device
   * family 'set-iommu-device' first).
   */
  private trackOf(component: string | null | undefined, family: string): Track {
    const id = component ?? '';
    let t = this.tracks.get(id);
    if (!t) {
      t = { tid: this.order.length + 1, id, name: id === '' ? 'run' : id, layer: 'run', lastEnd: 0, families: new Map() };
      this.tracks.set(id, t);
      this.order.push(t);
    }
    if (t.families) t.families.set(family, (t.families.get(family) ?? 0) + 1);
    return t;
  }

  /** Declares a known component's track (its metadata goes out with the header or before the next event). */
  private track(id: string, kind: string, layer: string): Track {
    const existing = this.tracks.get(id);
    if (existing) return existing;
    const tid = this.order.length + 1;
    const name = id === '' ? 'run' : kind && kind !== id ? `${id} (${kind})` : id;
    const t: Track = { tid, id, name, layer, lastEnd: 0, families: null };
    this.tracks.set(id, t);
    this.order.push(t);
    this.pendingMeta += this.trackMeta(t);
    return t;
  }

  /** A track's name and sort index (layer order, then tid). */
  private trackMeta(t: Track): string {
    return `,\n${this.meta('thread_name', t.tid, { name: t.name })},\n${this.meta('thread_sort_index', t.tid, { sort_index: layerRank(t.layer) * 1000 + t.tid })}`;
  }

  /** Names and layers of the tracks met without a declaration, from their events' most frequent family. */
  private settleTracks(): void {
    for (const t of this.order) {
      if (!t.families) continue;
      let best = '';
      let most = 0;
      for (const [f, n] of t.families) if (n > most) [best, most] = [f, n];
      t.families = null;
      if (t.id !== '') {
        t.layer = FAMILY_LAYER[best as EventFamily] ?? 'run';
        t.name = `${t.id} (${best || 'unknown'})`;
      }
      this.pendingMeta += this.trackMeta(t);
    }
  }

  /** An integer for the output (NaN and ±Infinity, which JSON has not, as 0). */
  private int(n: number): string {
    return Number.isFinite(n) ? String(n) : '0';
  }

  private meta(name: string, tid: number, args: Record<string, unknown>): string {
    return `{"name":${JSON.stringify(name)},"ph":"M","pid":${this.pid},"tid":${tid},"args":${JSON.stringify(args)}}`;
  }
}

const CLOCK_NOTES: Readonly<Record<PerfettoSummary['clock'], string>> = {
  virtual: 'ts and dur in µs of the run\'s virtual clock (core/engine/clock.ts: a declared cost per event kind); a slice ends at the event\'s stored time',
  trace: 'ts in µs of the trace\'s own timestamps (counted from its first whole second for wall-clock traces); trace events are instants',
  seq: 'no event times stored (rows before schema version 6, or a trace without timestamps): ts is the event\'s seq in µs, slices last 1 µs',
};

/**
 * The whole JSON document for `rows` (in seq order), chunk by chunk: the header, then one string
 * per event (with its flow), then the footer. Memory is bounded by one event.
 */
export function* perfettoTraceChunks(rows: Iterable<EventRow>, opts: PerfettoOptions): Generator<string, PerfettoSummary, undefined> {
  const w = new PerfettoTraceWriter(opts);
  yield w.header();
  for (const r of rows) yield w.event(r);
  yield w.footer();
  return w.summary();
}
