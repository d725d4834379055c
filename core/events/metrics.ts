/**
 * The run-metrics reducer: folds a stream of events into RunMetrics (core/contract).
 *
 * It is driven by the event catalog only, never by device internals, so the same reducer computes
 * metrics for a live run, for a run read back from SQLite and for an imported trace:
 * - `request` → requests[type name][status name] (UNWRITTEN when the device wrote nothing);
 * - `fault` → faultsByReason; `translate` → translations;
 * - `map` / `unmap` / `domain-free` → live and peak mappings and bytes (a mapping covers
 *   virtEnd − virtStart + 1 bytes). Totals are kept per domain, so a `domain-free` removes whatever
 *   its domain still holds: correct whether the emitter reports destroyed mappings as `unmap`
 *   events first (the catalog's wording) or only through `domain-free` (the device today);
 * - `expectation` → held / failed.
 * u64 fields may be bigint (live) or "0x…" strings (stored rows).
 */
import type { RunMetrics } from '../contract/index.ts';
import { faultReasonName, requestTypeName, statusName, u64Of } from './format.ts';

/** The part of an event the reducer reads: its kind and catalog fields. */
export type MetricsInput = { kind: string } & Record<string, unknown>;

const asNum = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

/**
 * Incremental metrics. `add` each event in stream order, read `result()` at any time (a fresh
 * object each call). O(1) per event; no per-mapping state.
 */
export class MetricsReducer {
  private events = 0;
  private readonly byKind: Record<string, number> = {};
  private readonly requests: Record<string, Record<string, number>> = {};
  private readonly faults: Record<string, number> = {};
  private translations = 0;
  private live = 0;
  private peak = 0;
  private liveBytes = 0n;
  private peakBytes = 0n;
  private held = 0;
  private failed = 0;
  /** Live mappings and bytes per domain ID (few domains; O(1) per event). */
  private readonly domains = new Map<number, { n: number; bytes: bigint }>();

  private domain(e: Record<string, unknown>): { n: number; bytes: bigint } {
    const id = asNum(e.domain) ?? -1;
    let d = this.domains.get(id);
    if (d === undefined) this.domains.set(id, (d = { n: 0, bytes: 0n }));
    return d;
  }

  /** Folds one event in. Unknown kinds are counted in `events` and `byKind` only. */
  add(e: MetricsInput): void {
    this.addFields(e.kind, e);
  }

  /** As `add`, for a kind and its fields held apart (saves building an envelope per event). */
  addFields(kind: string, e: Record<string, unknown>): void {
    this.events++;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    switch (kind) {
      case 'request': {
        const type = requestTypeName(asNum(e.reqType) ?? -1);
        const st = statusName(e.status === undefined || e.status === null ? undefined : asNum(e.status));
        const row = (this.requests[type] ??= {});
        row[st] = (row[st] ?? 0) + 1;
        break;
      }
      case 'fault': {
        const r = faultReasonName(asNum(e.reason) ?? 0);
        this.faults[r] = (this.faults[r] ?? 0) + 1;
        break;
      }
      case 'translate':
        this.translations++;
        break;
      case 'map': {
        const bytes = span(e);
        const d = this.domain(e);
        d.n++;
        d.bytes += bytes;
        this.live++;
        if (this.live > this.peak) this.peak = this.live;
        this.liveBytes += bytes;
        if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
        break;
      }
      case 'unmap': {
        const bytes = span(e);
        const d = this.domain(e);
        d.n--;
        d.bytes -= bytes;
        this.live--;
        this.liveBytes -= bytes;
        break;
      }
      case 'domain-free': {
        const id = asNum(e.domain) ?? -1;
        const d = this.domains.get(id);
        if (d !== undefined) {
          this.live -= d.n;
          this.liveBytes -= d.bytes;
          this.domains.delete(id);
        }
        break;
      }
      case 'expectation':
        if (asNum(e.held)) this.held++;
        else this.failed++;
        break;
    }
  }

  /** Number of events folded so far. */
  get count(): number {
    return this.events;
  }

  /** The metrics so far (deep copies; byte counts as decimal strings). */
  result(): RunMetrics {
    const requests: Record<string, Record<string, number>> = {};
    for (const [t, row] of Object.entries(this.requests)) requests[t] = { ...row };
    return {
      events: this.events,
      byKind: { ...this.byKind },
      requests,
      faultsByReason: { ...this.faults },
      translations: this.translations,
      liveMappings: this.live,
      peakMappings: this.peak,
      liveBytes: this.liveBytes.toString(),
      peakBytes: this.peakBytes.toString(),
      expectations: { held: this.held, failed: this.failed },
    };
  }
}

/** Bytes covered by a map/unmap event: virtEnd − virtStart + 1 (0 when malformed or reversed). */
function span(e: Record<string, unknown>): bigint {
  const a = u64Of(e.virtStart);
  const b = u64Of(e.virtEnd);
  if (a === undefined || b === undefined || b < a) return 0n;
  return b - a + 1n;
}

/** Metrics of a whole event list (convenience over MetricsReducer). */
export function computeMetrics(events: Iterable<MetricsInput>): RunMetrics {
  const r = new MetricsReducer();
  for (const e of events) r.add(e);
  return r.result();
}
