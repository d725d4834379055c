/**
 * The run-metrics reducer: folds a stream of events into RunMetrics (core/contract).
 *
 * It is driven by the declarations only, never by device internals, so the same reducer computes
 * metrics for a live run, for a run read back from SQLite and for an imported trace: each event
 * kind declares the metrics it feeds (core/events/catalog.ts `feeds`), each metric its label, unit,
 * component kind and fold (core/events/metric-catalog.ts). Values are kept per component:
 * run-level metrics (events, expectations) on the component 'run', the others on the event's
 * emitting component (its `component` envelope field; events without one belong to the run's
 * vIOMMU, `defaultComponent`).
 *
 * The result carries the per-component values (`components`) and, unchanged, the run-wide fields
 * the contract had before them (events, byKind, requests, faultsByReason, translations, live/peak
 * mappings and bytes, expectations), summed over components.
 * Gauges (mappings, mapped bytes) are held per scope (domain), so a `domain-free` removes whatever
 * its domain still holds: correct whether the emitter reports destroyed mappings as `unmap`
 * events first or only through `domain-free` (the device today).
 * u64 fields may be bigint (live) or "0x…" strings (stored rows).
 */
import type { ComponentMetric, ComponentMetrics, RunMetrics } from '../contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from './catalog.ts';
import { COMPONENT_LAYER, METRIC_CATALOG, METRIC_IDS, type FeedFields, type MetricFeed, type MetricId, type MetricSpec } from './metric-catalog.ts';

/** The part of an event the reducer reads: its kind, catalog fields and (optionally) its component. */
export type MetricsInput = { kind: string; component?: string | null } & Record<string, unknown>;

/** A component whose metrics are reported even before any event of it (the run's vIOMMU). */
export interface MetricsComponent {
  readonly id: string;
  /** Component kind ('virtio-iommu', …): the metrics declared for it are reported. */
  readonly kind: string;
}

/** The run's vIOMMU as the reducer names it when events carry no component: id 'viommu0'. */
export const DEFAULT_VIOMMU: MetricsComponent = { id: 'viommu0', kind: 'virtio-iommu' };

/** A tally's counts: by key, or by key pair (first key, then second). */
type Tally = Record<string, number | Record<string, number>>;

/** A gauge's level in one scope (mutated in place: one map lookup per event). */
interface Level {
  v: number | bigint;
}

/** Folded state of one metric on one component. */
class MetricState {
  n = 0;
  tally: Tally = {};
  /**
   * Gauge level and peak, and the level per scope: numbers; a bytes gauge's become bigints once a
   * value leaves the safe integers (moveBytes).
   */
  live: number | bigint = 0;
  peak: number | bigint = 0;
  readonly scopes = new Map<number, Level>();
  /** The scope last used and its level (a run maps into one domain over and over). */
  private lastScope = NaN;
  private lastLevel: Level | undefined = undefined;

  constructor(readonly spec: MetricSpec) {}

  /** The level of scope `sc` (created at 0). */
  level(sc: number): Level {
    if (sc === this.lastScope) return this.lastLevel!;
    let l = this.scopes.get(sc);
    if (l === undefined) this.scopes.set(sc, (l = { v: 0 }));
    this.lastScope = sc;
    this.lastLevel = l;
    return l;
  }

  /** Forgets scope `sc`; returns its level, or undefined when it had none. */
  release(sc: number): Level | undefined {
    const l = this.scopes.get(sc);
    if (l === undefined) return undefined;
    this.scopes.delete(sc);
    if (sc === this.lastScope) {
      this.lastScope = NaN;
      this.lastLevel = undefined;
    }
    return l;
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Moves a bytes gauge by `x` bytes (a number or a bigint; negative lowers it) in the scope's level
 * `l` and in its live total, exactly: numbers while every value is a safe integer, bigints from
 * then on (a mapping of the whole 64-bit space). `add`: the peak follows the live total.
 */
function moveBytes(s: MetricState, l: Level, x: number | bigint, add: boolean): void {
  const v = l.v;
  const live = s.live;
  if (typeof x === 'number' && typeof v === 'number' && typeof live === 'number') {
    const nv = v + x;
    const nl = live + x;
    if (nv <= MAX_SAFE && nv >= -MAX_SAFE && nl <= MAX_SAFE && nl >= -MAX_SAFE) {
      l.v = nv;
      s.live = nl;
      if (add && nl > s.peak) s.peak = nl;
      return;
    }
  }
  l.v = BigInt(v) + BigInt(x);
  s.live = BigInt(live) + BigInt(x);
  if (add && s.live > s.peak) s.peak = s.live;
}

/** Lowers a bytes gauge's live total by a released scope's level `v` (moveBytes's representation). */
function releaseBytes(s: MetricState, v: number | bigint): void {
  const live = s.live;
  if (typeof v === 'number' && typeof live === 'number') {
    const d = live - v;
    if (d <= MAX_SAFE && d >= -MAX_SAFE) {
      s.live = d;
      return;
    }
  }
  s.live = BigInt(live) - BigInt(v);
}

/** One component's states, indexed like METRIC_IDS. */
class ComponentState {
  readonly states: MetricState[] = METRIC_IDS.map((id) => new MetricState(METRIC_CATALOG[id]));
  constructor(
    readonly id: string,
    readonly kind: string,
  ) {}

  get(id: MetricId): MetricState {
    return this.states[METRIC_IDS.indexOf(id)];
  }
}

/** A kind's feeds compiled into one function: applies one event to a component's (and the run's) states. */
type Apply = (c: ComponentState, run: ComponentState, e: FeedFields) => void;

/**
 * A kind's feeds as one function with each feed's steps spelled out (one call per event, state by
 * constant index: the reducer runs on every event of a run). The generated text depends only on
 * the declarations (metric indexes, folds, units), never on input data; the feeds' key, scope and
 * amount functions are passed in. Undefined when the kind feeds nothing.
 */
function compileKind(feeds: readonly MetricFeed[]): Apply | undefined {
  if (feeds.length === 0) return undefined;
  const fns: ((...args: never[]) => unknown)[] = [];
  const fn = (f: (e: FeedFields) => unknown): string => `F[${fns.push(f) - 1}](e)`;
  let move = '';
  let release = '';
  const helpers = () => {
    if (move === '') {
      move = `F[${fns.push(moveBytes) - 1}]`;
      release = `F[${fns.push(releaseBytes) - 1}]`;
    }
  };
  const lines = ['let s, k, row, l, x, sc;'];
  // Feeds of one kind that share a scope function (a map's mappings and mappedBytes: its domain)
  // compute the scope once: scope functions are pure functions of the event's fields.
  let lastScope: ((e: FeedFields) => unknown) | undefined;
  const scope = (f: (e: FeedFields) => unknown): string[] => {
    if (f === lastScope) return [];
    lastScope = f;
    return [`sc = ${fn(f)};`];
  };
  for (const feed of feeds) {
    const spec: MetricSpec = METRIC_CATALOG[feed.metric];
    const mi = METRIC_IDS.indexOf(feed.metric);
    // Run-level metrics are measured on the run, the others on the emitting component.
    lines.push(`s = ${spec.component === 'run' ? 'r' : 'c'}.states[${mi}];`);
    const big = spec.unit === 'bytes';
    switch (feed.op) {
      case 'count':
        lines.push('s.n++;');
        if (feed.key && feed.subkey) lines.push(`row = (s.tally[${fn(feed.key)}] ??= {});`, `k = ${fn(feed.subkey)};`, 'row[k] = (row[k] ?? 0) + 1;');
        else if (feed.key) lines.push(`k = ${fn(feed.key)};`, 's.tally[k] = (s.tally[k] ?? 0) + 1;');
        break;
      case 'add':
      case 'sub': {
        // A bytes gauge's amount may be a number or a bigint (moveBytes); a count's is a number.
        const amount = feed.amount ? (big ? fn(feed.amount) : `Number(${fn(feed.amount)})`) : '1';
        lines.push(`x = ${feed.op === 'add' ? amount : `-(${amount})`};`, ...scope(feed.scope), 'l = s.level(sc);');
        if (big) {
          helpers();
          lines.push(`${move}(s, l, x, ${feed.op === 'add'});`);
        } else {
          lines.push('l.v += x;', 's.live += x;');
          if (feed.op === 'add') lines.push('if (s.live > s.peak) s.peak = s.live;');
        }
        break;
      }
      case 'release':
        if (big) helpers();
        lines.push(...scope(feed.scope), 'l = s.release(sc);', 'if (l !== undefined) {', big ? `${release}(s, l.v);` : 's.live -= l.v;', '}');
        break;
    }
  }
  return new Function('F', `return function apply(c, r, e) {\n${lines.join('\n')}\n};`)(fns) as Apply;
}

/**
 * The same steps as compileKind's, interpreted: for hosts that forbid generating code (a renderer
 * whose Content-Security-Policy has no 'unsafe-eval').
 */
function interpretKind(feeds: readonly MetricFeed[]): Apply {
  const steps = feeds.map((feed) => ({ feed, mi: METRIC_IDS.indexOf(feed.metric), onRun: METRIC_CATALOG[feed.metric].component === 'run', big: METRIC_CATALOG[feed.metric].unit === 'bytes' }));
  return (c, r, e) => {
    for (const { feed, mi, onRun, big } of steps) {
      const st = (onRun ? r : c).states[mi];
      if (feed.op === 'count') {
        st.n++;
        if (feed.key && feed.subkey) {
          const row = (st.tally[feed.key(e)] ??= {}) as Record<string, number>;
          const k = feed.subkey(e);
          row[k] = (row[k] ?? 0) + 1;
        } else if (feed.key) {
          const k = feed.key(e);
          st.tally[k] = ((st.tally[k] as number | undefined) ?? 0) + 1;
        }
        continue;
      }
      const sc = feed.scope(e);
      if (feed.op === 'release') {
        const l = st.release(sc);
        if (l === undefined) continue;
        if (big) releaseBytes(st, l.v);
        else st.live = (st.live as number) - (l.v as number);
        continue;
      }
      const l = st.level(sc);
      if (big) {
        const a = feed.amount ? feed.amount(e) : 1;
        moveBytes(st, l, feed.op === 'add' ? a : -a, feed.op === 'add');
        continue;
      } else {
        const a = feed.amount ? Number(feed.amount(e)) : 1;
        const x = feed.op === 'add' ? a : -a;
        l.v = (l.v as number) + x;
        st.live = (st.live as number) + x;
      }
      if (feed.op === 'add' && st.live > st.peak) st.peak = st.live;
    }
  };
}

/** Compiled feeds by kind name (kinds that feed nothing are absent), built by the first reducer. */
let FEEDS: ReadonlyMap<string, Apply> | undefined;

/** Kinds that feed some metric, with their feeds. */
const FEEDING = (): [string, readonly MetricFeed[]][] =>
  (Object.entries(EVENT_CATALOG) as [string, KindSpec][]).flatMap(([kind, spec]) => ((spec.feeds ?? []).length > 0 ? [[kind, spec.feeds!] as [string, readonly MetricFeed[]]] : []));

function feeds(interpreted = false): ReadonlyMap<string, Apply> {
  if (interpreted) return new Map(FEEDING().map(([kind, f]) => [kind, interpretKind(f)]));
  if (FEEDS) return FEEDS;
  const entries = FEEDING().map(([kind, f]) => [kind, { feeds: f }] as const);
  let compile: (f: readonly MetricFeed[]) => Apply = (f) => compileKind(f)!;
  try {
    compileKind(entries[0][1].feeds!);
  } catch {
    compile = interpretKind;
  }
  return (FEEDS = new Map(entries.map(([kind, spec]) => [kind, compile(spec.feeds!)])));
}

/** Indexes (in METRIC_IDS) of the metrics fed by every event (the run's event count by kind). */
const EVERY_EVENT: readonly number[] = METRIC_IDS.flatMap((id, i) => ((METRIC_CATALOG[id] as MetricSpec).everyEvent ? [i] : []));
// An every-event metric is derived from the per-kind counts (MetricsReducer.sync): no kind may feed it too.
for (const [kind, spec] of Object.entries(EVENT_CATALOG) as [string, KindSpec][]) {
  for (const feed of spec.feeds ?? []) if ((METRIC_CATALOG[feed.metric] as MetricSpec).everyEvent) throw new Error(`catalog ${kind}: feeds ${feed.metric}, which every event feeds`);
}

/** A kind as one reducer meets it: its index in the reducer's per-kind counts and its compiled feeds (MetricsReducer.kindSlot). */
export interface KindSlot {
  readonly index: number;
  readonly apply: Apply | undefined;
}

/** A metric's value for the contract: numbers, bytes as decimal strings. */
function valueOf(s: MetricState): ComponentMetric {
  const spec = s.spec;
  const out: ComponentMetric = { id: '', label: spec.label, unit: spec.unit, value: 0 };
  if (spec.fold === 'gauge') {
    // Bytes as decimal strings (they may pass 2^53), other gauges as numbers.
    out.value = spec.unit === 'bytes' ? String(s.live) : Number(s.live);
    out.peak = spec.unit === 'bytes' ? String(s.peak) : Number(s.peak);
  } else {
    out.value = s.n;
    if (spec.fold === 'tally') {
      const parts: Tally = {};
      for (const p of spec.parts ?? []) parts[p] = 0;
      for (const [k, v] of Object.entries(s.tally)) parts[k] = typeof v === 'number' ? v : { ...v };
      out.parts = parts;
    }
  }
  return out;
}

/**
 * Incremental metrics. `add` each event in stream order, read `result()` at any time (a fresh
 * object each call). O(1) per event; no per-mapping state.
 */
export class MetricsReducer {
  private readonly run = new ComponentState('run', 'run');
  private readonly components = new Map<string, ComponentState>();
  private readonly fallback: ComponentState;
  /** States of the metrics every event feeds (run-level; derived from `counts` by sync()). */
  private readonly every: MetricState[];
  /** Each kind's feeds, compiled (or interpreted). */
  private readonly feeds: ReadonlyMap<string, Apply>;
  /**
   * The kinds met so far, in first-seen order (slot index order), and their event counts by slot
   * index: one map lookup and one increment per event; the every-event tallies are built from
   * them when read.
   */
  private readonly slots = new Map<string, KindSlot>();
  private readonly kindNames: string[] = [];
  private counts = new Float64Array(32);
  private events = 0;
  /** The last component other than the fallback that addSlot folded into. */
  private lastId: string | null = null;
  private lastState: ComponentState | null = null;

  /** `viommu`: the component of events that carry none (default DEFAULT_VIOMMU, 'viommu0'). */
  constructor(
    viommu: MetricsComponent = DEFAULT_VIOMMU,
    /** `interpreted`: fold without generated code (what a host that forbids it gets; tests compare both). */
    opts: { interpreted?: boolean } = {},
  ) {
    this.feeds = feeds(opts.interpreted);
    this.fallback = this.component(viommu.id, viommu.kind);
    this.every = EVERY_EVENT.map((i) => this.run.states[i]);
  }

  /** The state of component `id` (created, of kind `kind`, on first sight). */
  private component(id: string, kind: string): ComponentState {
    let c = this.components.get(id);
    if (c === undefined) this.components.set(id, (c = new ComponentState(id, kind)));
    return c;
  }

  /**
   * Declares component `id` of kind `kind` ('iommufd', 'intel-vtd', …): its declared metrics are
   * reported from now on (at zero until fed), and its events fold under that kind. A component
   * already seen keeps its kind. (Components not declared take the vIOMMU's kind on first sight.)
   */
  declare(id: string, kind: string): void {
    this.component(id, kind);
  }

  /** Folds one event in. Unknown kinds are counted in `events` and `byKind` only. */
  add(e: MetricsInput): void {
    this.addFields(e.kind, e, e.component);
  }

  /**
   * As `add`, for a kind and its fields held apart (saves building an envelope per event).
   * `component`: the emitting component's id (absent or null: the run's vIOMMU). A component
   * first seen here takes the vIOMMU's kind.
   */
  addFields(kind: string, e: Readonly<Record<string, unknown>>, component?: string | null): void {
    this.addSlot(this.slots.get(kind) ?? this.slot(kind), e, component);
  }

  /**
   * The slot of `kind` in this reducer, for addSlot: a sink that keeps it per kind folds each
   * event without looking its kind up again.
   */
  kindSlot(kind: string): KindSlot {
    return this.slots.get(kind) ?? this.slot(kind);
  }

  /** As `addFields`, for the slot of the event's kind (kindSlot of this reducer). */
  addSlot(slot: KindSlot, e: Readonly<Record<string, unknown>>, component?: string | null): void {
    this.events++;
    this.counts[slot.index]++;
    const apply = slot.apply;
    if (apply === undefined) return;
    let c: ComponentState;
    if (component === undefined || component === null || component === '' || component === this.fallback.id) c = this.fallback;
    else if (component === this.lastId) c = this.lastState!;
    else {
      // Events alternate between a few components (the guest's, the vIOMMU's): the last one is kept.
      c = this.component(component, this.fallback.kind);
      this.lastId = component;
      this.lastState = c;
    }
    apply(c, this.run, e);
  }

  /** The slot of a kind met for the first time. */
  private slot(kind: string): KindSlot {
    const index = this.kindNames.push(kind) - 1;
    if (index === this.counts.length) {
      const counts = new Float64Array(index * 2);
      counts.set(this.counts);
      this.counts = counts;
    }
    const slot: KindSlot = { index, apply: this.feeds.get(kind) };
    this.slots.set(kind, slot);
    return slot;
  }

  /** Brings the every-event metrics up to date: count, and the tally by kind name in first-seen order. */
  private sync(): void {
    for (const s of this.every) {
      s.n = this.events;
      const tally: Tally = {};
      for (let i = 0; i < this.kindNames.length; i++) tally[this.kindNames[i]] = this.counts[i];
      s.tally = tally;
    }
  }

  /** Number of events folded so far. */
  get count(): number {
    return this.events;
  }

  /** Per-component values: the run first, then components in first-seen order; each with every metric declared for its kind. */
  componentMetrics(): ComponentMetrics[] {
    this.sync();
    const out: ComponentMetrics[] = [];
    for (const c of [this.run, ...this.components.values()]) {
      const metrics: ComponentMetric[] = [];
      for (const id of METRIC_IDS) {
        if (METRIC_CATALOG[id].component !== c.kind) continue;
        metrics.push({ ...valueOf(c.get(id)), id });
      }
      out.push({ component: c.id, kind: c.kind, layer: COMPONENT_LAYER[c.kind] ?? 'viommu', metrics });
    }
    return out;
  }

  /** The metrics so far (deep copies; byte counts as decimal strings). */
  result(): RunMetrics {
    this.sync();
    const events = this.run.get('events');
    const expectations = this.run.get('expectations');
    const requests: Record<string, Record<string, number>> = {};
    const faultsByReason: Record<string, number> = {};
    let translations = 0;
    let liveMappings = 0;
    let peakMappings = 0;
    let liveBytes = 0n;
    let peakBytes = 0n;
    for (const c of this.components.values()) {
      for (const [t, row] of Object.entries(c.get('requests').tally)) {
        const into = (requests[t] ??= {});
        for (const [st, n] of Object.entries(row as Record<string, number>)) into[st] = (into[st] ?? 0) + n;
      }
      for (const [r, n] of Object.entries(c.get('faults').tally)) faultsByReason[r] = (faultsByReason[r] ?? 0) + (n as number);
      translations += c.get('translations').n;
      const m = c.get('mappings');
      liveMappings += m.live as number;
      peakMappings += m.peak as number;
      const b = c.get('mappedBytes');
      liveBytes += BigInt(b.live);
      peakBytes += BigInt(b.peak);
    }
    return {
      events: this.events,
      byKind: { ...(events.tally as Record<string, number>) },
      requests,
      faultsByReason,
      translations,
      liveMappings,
      peakMappings,
      liveBytes: liveBytes.toString(),
      peakBytes: peakBytes.toString(),
      expectations: { held: (expectations.tally.held as number | undefined) ?? 0, failed: (expectations.tally.failed as number | undefined) ?? 0 },
      components: this.componentMetrics(),
    };
  }
}

/** Metrics of a whole event list (convenience over MetricsReducer). */
export function computeMetrics(events: Iterable<MetricsInput>): RunMetrics {
  const r = new MetricsReducer();
  for (const e of events) r.add(e);
  return r.result();
}

/**
 * The per-component metrics of `m`: its `components`, or, for metrics stored before they existed,
 * the same declarations filled from the run-wide fields (the run and one vIOMMU, 'viommu0').
 */
export function componentMetricsOf(m: RunMetrics): ComponentMetrics[] {
  if (m.components) return m.components;
  const total = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
  const requests = Object.values(m.requests).reduce((a, row) => a + total(row), 0);
  const values: Record<MetricId, Omit<ComponentMetric, 'id' | 'label' | 'unit'>> = {
    events: { value: m.events, parts: { ...m.byKind } },
    requests: { value: requests, parts: Object.fromEntries(Object.entries(m.requests).map(([k, row]) => [k, { ...row }])) },
    translations: { value: m.translations },
    faults: { value: total(m.faultsByReason), parts: { ...m.faultsByReason } },
    mappings: { value: m.liveMappings, peak: m.peakMappings },
    mappedBytes: { value: m.liveBytes, peak: m.peakBytes },
    // Metrics stored before host calls existed had none.
    hostCalls: { value: 0, parts: {} },
    vfioCalls: { value: 0, parts: {} },
    // …nor guest DMA metrics.
    dmaMaps: { value: 0, parts: {} },
    dmaUnmaps: { value: 0, parts: {} },
    dmaMappings: { value: 0, peak: 0 },
    fqFlushes: { value: 0, parts: {} },
    staleAccesses: { value: 0 },
    // …nor imported traces.
    traceMaps: { value: 0, parts: {} },
    traceUnmaps: { value: 0, parts: {} },
    traceFaults: { value: 0, parts: {} },
    traceInvalidations: { value: 0, parts: {} },
    expectations: { value: m.expectations.held + m.expectations.failed, parts: { ...m.expectations } },
  };
  const of = (kind: string): ComponentMetric[] =>
    METRIC_IDS.filter((id) => METRIC_CATALOG[id].component === kind).map((id) => ({ id, label: METRIC_CATALOG[id].label, unit: METRIC_CATALOG[id].unit, ...values[id] }));
  return [
    { component: 'run', kind: 'run', layer: 'run', metrics: of('run') },
    { component: DEFAULT_VIOMMU.id, kind: DEFAULT_VIOMMU.kind, layer: COMPONENT_LAYER[DEFAULT_VIOMMU.kind], metrics: of(DEFAULT_VIOMMU.kind) },
  ];
}
