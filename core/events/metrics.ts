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
  /** Gauge level and peak (bigint for bytes, number otherwise), and the level per scope. */
  live: number | bigint;
  peak: number | bigint;
  readonly scopes = new Map<number, Level>();

  constructor(readonly spec: MetricSpec) {
    this.live = this.peak = spec.unit === 'bytes' ? 0n : 0;
  }
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

/** A kind's feeds compiled: each applies one event to a component's (or the run's) state. */
type Apply = (c: ComponentState, run: ComponentState, e: FeedFields) => void;

function compileFeed(feed: MetricFeed): Apply {
  const spec: MetricSpec = METRIC_CATALOG[feed.metric];
  const mi = METRIC_IDS.indexOf(feed.metric);
  // Run-level metrics are measured on the run, the others on the emitting component.
  const onRun = spec.component === 'run';
  const target = (c: ComponentState, r: ComponentState): MetricState => (onRun ? r : c).states[mi];
  switch (feed.op) {
    case 'count': {
      const { key, subkey } = feed;
      if (!key) return (c, r) => void target(c, r).n++;
      if (!subkey) {
        return (c, r, e) => {
          const s = target(c, r);
          s.n++;
          const k = key(e);
          s.tally[k] = ((s.tally[k] as number | undefined) ?? 0) + 1;
        };
      }
      return (c, r, e) => {
        const s = target(c, r);
        s.n++;
        const row = (s.tally[key(e)] ??= {}) as Record<string, number>;
        const k = subkey(e);
        row[k] = (row[k] ?? 0) + 1;
      };
    }
    case 'add':
    case 'sub': {
      const { scope, amount } = feed;
      const up = feed.op === 'add';
      const level = (s: MetricState, e: FeedFields, zero: number | bigint): Level => {
        const sc = scope(e);
        let l = s.scopes.get(sc);
        if (l === undefined) s.scopes.set(sc, (l = { v: zero }));
        return l;
      };
      if (spec.unit === 'bytes') {
        const get = amount ?? (() => 1n);
        return (c, r, e) => {
          const s = target(c, r);
          const x = up ? get(e) : -get(e);
          const l = level(s, e, 0n);
          l.v = (l.v as bigint) + x;
          s.live = (s.live as bigint) + x;
          if (up && (s.live as bigint) > (s.peak as bigint)) s.peak = s.live;
        };
      }
      const get = amount ? (e: FeedFields) => Number(amount(e)) : () => 1;
      return (c, r, e) => {
        const s = target(c, r);
        const x = up ? get(e) : -get(e);
        const l = level(s, e, 0);
        l.v = (l.v as number) + x;
        s.live = (s.live as number) + x;
        if (up && s.live > s.peak) s.peak = s.live;
      };
    }
    case 'release': {
      const { scope } = feed;
      return (c, r, e) => {
        const s = target(c, r);
        const sc = scope(e);
        const held = s.scopes.get(sc);
        if (held === undefined) return;
        s.live = typeof held.v === 'bigint' ? (s.live as bigint) - held.v : (s.live as number) - held.v;
        s.scopes.delete(sc);
      };
    }
  }
}

/** A kind's feeds as one function (undefined when it feeds nothing). */
function compileKind(feeds: readonly MetricFeed[]): Apply | undefined {
  const fns = feeds.map(compileFeed);
  if (fns.length === 0) return undefined;
  if (fns.length === 1) return fns[0];
  if (fns.length === 2) {
    const [a, b] = fns;
    return (c, r, e) => {
      a(c, r, e);
      b(c, r, e);
    };
  }
  return (c, r, e) => {
    for (let i = 0; i < fns.length; i++) fns[i](c, r, e);
  };
}

/** Compiled feeds by kind name (kinds that feed nothing are absent). */
const FEEDS: ReadonlyMap<string, Apply> = new Map(
  (Object.entries(EVENT_CATALOG) as [string, KindSpec][]).flatMap(([kind, spec]) => {
    const apply = compileKind(spec.feeds ?? []);
    return apply ? [[kind, apply] as const] : [];
  }),
);

/** Indexes (in METRIC_IDS) of the metrics fed by every event (the run's event count by kind). */
const EVERY_EVENT: readonly number[] = METRIC_IDS.flatMap((id, i) => ((METRIC_CATALOG[id] as MetricSpec).everyEvent ? [i] : []));

/** A metric's value for the contract: numbers, bytes as decimal strings. */
function valueOf(s: MetricState): ComponentMetric {
  const spec = s.spec;
  const out: ComponentMetric = { id: '', label: spec.label, unit: spec.unit, value: 0 };
  if (spec.fold === 'gauge') {
    out.value = typeof s.live === 'bigint' ? s.live.toString() : s.live;
    out.peak = typeof s.peak === 'bigint' ? s.peak.toString() : s.peak;
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
  /** States of the metrics every event feeds (run-level). */
  private readonly every: MetricState[];
  private events = 0;

  /** `viommu`: the component of events that carry none (default DEFAULT_VIOMMU, 'viommu0'). */
  constructor(viommu: MetricsComponent = DEFAULT_VIOMMU) {
    this.fallback = this.component(viommu.id, viommu.kind);
    this.every = EVERY_EVENT.map((i) => this.run.states[i]);
  }

  /** The state of component `id` (created, of kind `kind`, on first sight). */
  private component(id: string, kind: string): ComponentState {
    let c = this.components.get(id);
    if (c === undefined) this.components.set(id, (c = new ComponentState(id, kind)));
    return c;
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
    this.events++;
    const every = this.every;
    for (let i = 0; i < every.length; i++) {
      const s = every[i];
      s.n++;
      s.tally[kind] = ((s.tally[kind] as number | undefined) ?? 0) + 1;
    }
    const apply = FEEDS.get(kind);
    if (apply === undefined) return;
    const c = component === undefined || component === null || component === '' || component === this.fallback.id ? this.fallback : this.component(component, this.fallback.kind);
    apply(c, this.run, e);
  }

  /** Number of events folded so far. */
  get count(): number {
    return this.events;
  }

  /** Per-component values: the run first, then components in first-seen order; each with every metric declared for its kind. */
  componentMetrics(): ComponentMetrics[] {
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
      liveBytes += b.live as bigint;
      peakBytes += b.peak as bigint;
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
    expectations: { value: m.expectations.held + m.expectations.failed, parts: { ...m.expectations } },
  };
  const of = (kind: string): ComponentMetric[] =>
    METRIC_IDS.filter((id) => METRIC_CATALOG[id].component === kind).map((id) => ({ id, label: METRIC_CATALOG[id].label, unit: METRIC_CATALOG[id].unit, ...values[id] }));
  return [
    { component: 'run', kind: 'run', layer: 'run', metrics: of('run') },
    { component: DEFAULT_VIOMMU.id, kind: DEFAULT_VIOMMU.kind, layer: COMPONENT_LAYER[DEFAULT_VIOMMU.kind], metrics: of(DEFAULT_VIOMMU.kind) },
  ];
}
