/**
 * compareRuns and exportComparison behind the contract (issue 9 §3): reads the runs (StoreReader)
 * and the facts only their events hold — the last event's virtual time, the pages the host map
 * calls mapped, where a divergence's step (or trace line) starts — on its own read-only connection
 * (CompareReader), then builds the comparison with the pure core (core/compare/compare.ts).
 */
import { ContractError, type Params, type Results, type RunDetail } from '../../core/contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { HOST_MAP_IOCTLS, compareRuns, comparisonCsv, type CompareInput } from '../../core/compare/compare.ts';
import { costModel } from '../../core/compare/cost.ts';
import type { Comparison, FirstDivergence } from '../../core/compare/types.ts';
import { ReadQueries } from '../store/read-queries.ts';
import type { StoreReader } from '../store/reader.ts';
import { KIND_CODE } from '../store/schema.ts';

/** The stored column of a kind's field (catalog-declared; never spelled here). */
function columnOf(kind: string, field: string): string {
  const c = (EVENT_CATALOG as Readonly<Record<string, KindSpec>>)[kind]?.fields[field]?.column;
  if (!c) throw new Error(`event catalog: ${kind}.${field} has no column`);
  return c;
}

/** Finished runs whose host map pages CompareReader keeps. */
const PAGES_CACHE_RUNS = 256;

/** The event queries of a comparison, on their own read-only connection (opened on first use). */
export class CompareReader extends ReadQueries {
  private hasLine: boolean | null = null;
  /** hostMapPages of finished runs by "runId:events" (a finished run never changes), oldest first. */
  private readonly pagesCache = new Map<string, number>();

  /** Time of the run's last event that has one, ns; null when none does (or the database predates event times). */
  lastTime(runId: number): number | null {
    this.db();
    if (!this.envelope) return null;
    const r = this.stmt('SELECT time FROM events WHERE run_id = ? AND time IS NOT NULL ORDER BY seq DESC LIMIT 1').get(runId) as { time: number } | undefined;
    return r ? Number(r.time) : null;
  }

  /**
   * 4 KiB pages the run's successful host map calls mapped ('host-call' events with errno 0 whose
   * ioctl maps: HOST_MAP_IOCTLS), each call's length rounded up. One pass over the run's events
   * (~150 ms for 220 K events); kept for a run whose `events` count is given (a finished run: the
   * same count is the same run), so comparing it again costs nothing.
   */
  hostMapPages(runId: number, events?: number): number {
    const key = events === undefined ? null : `${runId}:${events}`;
    const hit = key === null ? undefined : this.pagesCache.get(key);
    if (hit !== undefined) return hit;
    const len = columnOf('host-call', 'length');
    const errno = columnOf('host-call', 'errno');
    const call = columnOf('host-call', 'call');
    const sql =
      `SELECT total((${len} + 4095) / 4096) AS p FROM events WHERE run_id = ? AND kind = ${KIND_CODE['host-call']} AND ${errno} = 0 ` +
      `AND ${len} > 0 AND json_extract(${call}, '$.ioctl') IN (${HOST_MAP_IOCTLS.map(() => '?').join(', ')})`;
    const pages = (this.stmt(sql).get(runId, ...HOST_MAP_IOCTLS) as { p: number }).p;
    if (key !== null) {
      if (this.pagesCache.size >= PAGES_CACHE_RUNS) this.pagesCache.delete(this.pagesCache.keys().next().value!);
      this.pagesCache.set(key, pages);
    }
    return pages;
  }

  /**
   * The first event of a trace at `line` or after it (a trace's events are stored in line order):
   * a binary search over seq on events.line; null when none (or the database has no lines).
   */
  seqAtLine(runId: number, line: number, events: number): number | null {
    const db = this.db();
    this.hasLine ??= (db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).some((c) => c.name === 'line');
    if (!this.hasLine) return null;
    const at = this.stmt('SELECT line FROM events WHERE run_id = ? AND seq = ?');
    let lo = 0;
    let hi = events;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const r = at.get(runId, mid) as { line: number | null } | undefined;
      if (r !== undefined && r.line !== null && r.line < line) lo = mid + 1;
      else hi = mid;
    }
    return lo < events ? lo : null;
  }
}

/** Where the comparison's runs and events come from. */
export class CompareSource {
  constructor(
    private readonly reader: StoreReader,
    private readonly events: CompareReader,
  ) {}

  /**
   * The runs of `runIds` (2..8, distinct), finished. Errors: ContractError at "/runIds/<i>" for
   * an id listed twice, a run that does not exist or one still running.
   */
  private runs(method: string, runIds: readonly number[]): RunDetail[] {
    return runIds.map((id, i) => {
      const path = `/runIds/${i}`;
      if (runIds.indexOf(id) !== i) throw new ContractError(`${method}: invalid params at ${path}: run ${id} is listed twice`, path);
      const run = this.reader.getRun(id);
      if (!run) throw new ContractError(`${method}: invalid params at ${path}: no run ${id} (see listRuns)`, path);
      if (run.status === 'running') throw new ContractError(`${method}: invalid params at ${path}: run ${id} (${run.name}) is still running: compare it when it has finished`, path);
      return run;
    });
  }

  private input(run: RunDetail): CompareInput {
    const last = this.events.lastTime(run.id);
    const first = run.source?.firstTime ?? 0;
    const hasHost = run.metrics?.components?.some((c) => c.kind === 'iommufd' || c.kind === 'vfio-type1') ?? false;
    return {
      run,
      durationNs: last === null ? 0 : Math.max(0, last - (run.source ? first : 0)),
      // Only finished runs reach here (runs() refuses running ones): their event count is final.
      hostMapPages: hasHost ? this.events.hostMapPages(run.id, run.events) : 0,
    };
  }

  /** The first event of a divergence's step in one run: by trace line for a trace, by step otherwise. */
  private seqOf(run: RunDetail, d: FirstDivergence, side: 'a' | 'b'): number | null {
    if (d.step === null) return null;
    if (run.source?.kind === 'trace') {
      const line = side === 'b' && d.bLine != null ? d.bLine : d.line;
      return line === null ? null : this.events.seqAtLine(run.id, line, run.events);
    }
    const hit = this.reader.locateEvent({ runId: run.id, step: d.step });
    return hit !== null && hit.step === d.step ? hit.seq : null;
  }

  /** compareRuns: the comparison of 2..8 finished runs, the first the base (ContractError as `runs`, or for a bad cost model). */
  compare(p: Params<'compareRuns'>, method = 'compareRuns'): Comparison {
    const runs = this.runs(method, p.runIds);
    let model;
    try {
      model = costModel(p.cost ?? {});
    } catch (e) {
      throw new ContractError(`${method}: invalid params at /cost: ${(e as Error).message}`, '/cost');
    }
    const c = compareRuns(runs.map((r) => this.input(r)), model);
    for (const d of c.divergences) {
      d.aSeq = this.seqOf(runs[d.a], d, 'a');
      d.bSeq = this.seqOf(runs[d.b], d, 'b');
    }
    return c;
  }

  /** exportComparison: the comparison as CSV (core/compare/compare.ts comparisonCsv) or JSON (the Comparison, 2-space indented). */
  exportComparison(p: Params<'exportComparison'>): Results['exportComparison'] {
    const c = this.compare({ runIds: p.runIds, cost: p.cost }, 'exportComparison');
    return { text: p.format === 'csv' ? comparisonCsv(c) : JSON.stringify(c, null, 2) + '\n' };
  }
}
