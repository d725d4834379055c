/**
 * Read side of the store: a read-only connection for run lists, run details and pages of events.
 * In WAL mode it reads the last committed state while a worker writes, and never blocks it.
 */
import Database from 'better-sqlite3';
import type { EventRow, Params, Results, RunConfig, RunDetail, RunMetrics, RunStatus, RunSummary, StepResult, ReplaySourceInfo, TraceSourceInfo, VariantSourceInfo } from '../../core/contract/index.ts';
import { ContractError } from '../../core/contract/index.ts';
import { EVENT_CATALOG, KIND_BY_CODE } from '../../core/events/catalog.ts';
import { formatEvent } from '../../core/events/format.ts';
import { DEFAULT_VIOMMU } from '../../core/events/metrics.ts';
import { isProblemEvent } from '../../core/events/problems.ts';
import { decodeFields, type RawEventRow } from './codec.ts';
import { EVENT_COLUMNS, KIND_CODE, PROBLEM_SQL, configureConnection } from './schema.ts';
import { EVENT_TEXT_FN, SEARCH_ARGS, registerSearchText, scanMatches, type SearchScan } from './search.ts';

/** Raw `runs` row. */
interface RunRow {
  id: number;
  name: string;
  file: string;
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  steps: number;
  event_count: number;
  failed_expectations: number;
  error: string | null;
  config: string | null;
  source?: string | null;
}

interface RunDetailRow extends RunRow {
  scenario_text: string;
  metrics: string | null;
  step_results: string | null;
}

/** Matching seqs kept by a reader for searches, in all (8 bytes each: 16 MB). */
const MATCHES_CACHE_SEQS = 2_000_000;
/** Filtered totals kept by a reader. */
const TOTALS_CACHE_SIZE = 256;

const SUMMARY_COLUMNS_V3 = 'id, name, file, status, started_at, finished_at, steps, event_count, failed_expectations, error';

function parseConfig(text: string | null): RunConfig | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as RunConfig;
  } catch {
    return null;
  }
}

function toSummary(r: RunRow): RunSummary {
  return {
    id: r.id,
    name: r.name,
    file: r.file,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    steps: r.steps,
    events: r.event_count,
    failedExpectations: r.failed_expectations,
    error: r.error,
    config: parseConfig(r.config),
    ...parseSource(r.source),
  };
}

/** runs.source: an imported trace's record (kind 'trace'), a replay's (kind 'replay') or a scenario variant's (kind 'variant'); none for other scenario runs. */
function parseSource(text: string | null | undefined): { source: TraceSourceInfo | null; replay?: ReplaySourceInfo; variant?: VariantSourceInfo } {
  if (!text) return { source: null };
  try {
    const v = JSON.parse(text) as TraceSourceInfo | ReplaySourceInfo | VariantSourceInfo;
    if (v.kind === 'variant') return { source: null, variant: v };
    return v.kind === 'replay' ? { source: null, replay: v } : { source: v };
  } catch {
    return { source: null };
  }
}

/** Event filters of `queryEvents` (contract params without paging). */
export type EventFilter = Pick<Params<'queryEvents'>, 'kinds' | 'domain' | 'endpoint' | 'problemsOnly' | 'search' | 'component'>;

/** A filter as SQL: the WHERE conditions (first: run_id = ?), their arguments and the table expression. */
interface FilterSql {
  where: string[];
  args: unknown[];
  from: string;
  /** True when a free-text search is part of it (each scanned row is formatted). */
  search: boolean;
}

/**
 * Read-only access to the lab database. Open after the schema exists (LabStore migrates first).
 * Errors: SQLite errors for a missing/corrupt file at construction.
 */
export class StoreReader {
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();
  /** Search results (matching seqs) of finished runs, least recently used first. */
  private readonly matchCache = new Map<string, Float64Array>();
  /** Filtered totals of finished runs (insertion-ordered; oldest evicted first). */
  private readonly totals = new Map<string, number>();

  /** The runs columns of a summary (`NULL AS config` on a database older than schema version 4). */
  private readonly summaryColumns: string;
  /** True when the database has the envelope columns (schema version 6: events.comp, events.time, runs.components). */
  private readonly hasEnvelope: boolean;
  /** The events columns a page selects (catalog columns, and the envelope's, or NULLs before version 6). */
  private readonly eventCols: string;

  /**
   * `source`: the database file, or an image of it in memory (LabStore's fallback for a WAL
   * database on read-only media, where SQLite cannot create the shared-memory file).
   */
  constructor(source: string | Buffer) {
    this.db = typeof source === 'string' ? new Database(source, { readonly: true, fileMustExist: true }) : new Database(source, { readonly: true });
    configureConnection(this.db, { readonly: true });
    const runCols = new Set((this.db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((c) => c.name));
    this.summaryColumns = `${SUMMARY_COLUMNS_V3}, ${runCols.has('config') ? 'config' : 'NULL AS config'}, ${runCols.has('source') ? 'source' : 'NULL AS source'}`;
    this.hasEnvelope = runCols.has('components');
    const hasLine = runCols.has('source'); // version 9 added events.line with runs.source
    this.eventCols = `seq, step, kind, ${EVENT_COLUMNS.join(', ')}, ${this.hasEnvelope ? 'comp, time' : 'NULL AS comp, NULL AS time'}, ${hasLine ? 'line' : 'NULL AS line'}`;
    // For the in-thread search fallback (search.ts); a LabService scans in its search worker.
    registerSearchText(this.db);
  }

  private stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** Runs, newest first (default limit 1000). */
  listRuns(limit = 1000): RunSummary[] {
    const rows = this.stmt(`SELECT ${this.summaryColumns} FROM runs ORDER BY id DESC LIMIT ?`).all(limit) as RunRow[];
    return rows.map(toSummary);
  }

  /** One run with its scenario text, metrics and step results; null when no such run. */
  getRun(runId: number): RunDetail | null {
    const r = this.stmt(`SELECT ${this.summaryColumns}, scenario_text, metrics, step_results FROM runs WHERE id = ?`).get(runId) as RunDetailRow | undefined;
    if (!r) return null;
    return {
      ...toSummary(r),
      scenarioText: r.scenario_text,
      metrics: r.metrics ? (JSON.parse(r.metrics) as RunMetrics) : null,
      stepResults: r.step_results ? (JSON.parse(r.step_results) as StepResult[]) : [],
    };
  }

  /**
   * The filter as SQL. `kinds` are catalog kind names (ContractError at "/kinds/<i>" for an
   * unknown one); `domain` and `endpoint` match the stored columns; `problemsOnly` keeps problem
   * events; `search` keeps events whose one-line text (EventRow.text) contains it, ignoring case.
   * Null when nothing but the run is filtered.
   */
  private filterSql(method: string, runId: number, p: EventFilter): FilterSql | null {
    const where = ['run_id = ?'];
    const args: unknown[] = [runId];
    if (p.kinds !== undefined) {
      const codes = p.kinds.map((k, i) => {
        if (!Object.hasOwn(EVENT_CATALOG, k)) {
          throw new ContractError(`${method}: invalid params at /kinds/${i}: unknown event kind "${k}" (kinds: ${Object.keys(EVENT_CATALOG).join(', ')})`, `/kinds/${i}`);
        }
        return KIND_CODE[k as keyof typeof KIND_CODE];
      });
      // An empty list selects nothing (IN () is valid SQLite and false).
      where.push(`kind IN (${codes.join(', ')})`);
    }
    if (p.domain !== undefined) {
      where.push('domain = ?');
      args.push(p.domain);
    }
    if (p.endpoint !== undefined) {
      where.push('endpoint = ?');
      args.push(p.endpoint);
    }
    if (p.component !== undefined) where.push(this.componentSql(runId, p.component, args));
    if (p.problemsOnly) where.push(PROBLEM_SQL);
    const search = p.search?.trim().toLowerCase();
    if (search) {
      // Last: SQLite evaluates the cheap column tests first and formats only the rows they keep.
      where.push(`instr(${EVENT_TEXT_FN}(${SEARCH_ARGS}), ?) > 0`);
      args.push(search);
    }
    if (where.length === 1) return null;
    // Without statistics the planner prefers the primary key (both start with run_id = ?);
    // problems are rare, so walking the partial index is the fast plan.
    return { where, args, from: p.problemsOnly ? 'events INDEXED BY events_problems' : 'events', search: !!search };
  }

  /**
   * The search scan a queryEvents/locateEvent call needs before it can answer: null when it has
   * no `search`, or when the scan's result is cached (a finished run scanned before). Run the
   * scan elsewhere (the search worker: scanMatches), then pass its seqs to queryEvents or
   * locateEvent as `matches` (and to keepMatches). Errors: ContractError as queryEvents.
   */
  searchScan(method: 'queryEvents' | 'locateEvent', p: EventFilter & { runId: number }): SearchScan | null {
    const f = this.filterSql(method, p.runId, p);
    if (!f?.search) return null;
    const key = this.matchKey(f);
    if (this.matchCache.has(key)) return null;
    return { key, runId: p.runId, sql: `SELECT seq FROM ${f.from} WHERE ${f.where.join(' AND ')} ORDER BY seq`, args: f.args };
  }

  /**
   * Keeps a scan's result for later calls when `cacheable` (a finished run never changes): the
   * last few lists, up to MATCHES_CACHE_SEQS seqs in all, least recently used evicted first.
   */
  keepMatches(key: string, seqs: Float64Array, cacheable: boolean): void {
    if (!cacheable || seqs.length > MATCHES_CACHE_SEQS) return;
    this.matchCache.delete(key);
    this.matchCache.set(key, seqs);
    let held = 0;
    for (const v of this.matchCache.values()) held += v.length;
    for (const [k, v] of this.matchCache) {
      if (held <= MATCHES_CACHE_SEQS || k === key) break;
      this.matchCache.delete(k);
      held -= v.length;
    }
  }

  /**
   * A page of a run's events in seq order, with the total number matching the filters (see
   * filterSql). An unknown run gives { total: 0, rows: [] }. With a `search`, `matches` are the
   * seqs its scan found (searchScan); without them the cached list is used, or the scan runs here,
   * on the calling thread.
   */
  queryEvents(p: Params<'queryEvents'>, matches?: Float64Array): { total: number; rows: EventRow[] } {
    const f = this.filterSql('queryEvents', p.runId, p);
    let total: number;
    let raw: RawEventRow[];
    const cols = this.eventCols;
    if (!f) {
      // seq is dense (0..event_count-1, see schema.ts), so a page is a key range: O(limit) at any offset.
      const run = this.stmt('SELECT event_count FROM runs WHERE id = ?').get(p.runId) as { event_count: number } | undefined;
      total = run?.event_count ?? 0;
      raw = this.stmt(`SELECT ${cols} FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq LIMIT ?`)
        .safeIntegers(true)
        .all(p.runId, p.offset, p.limit) as RawEventRow[];
    } else if (f.search) {
      // A search formats every row it scans: scan once, keep the matching seqs, page by seq.
      const seqs = matches ?? this.matches(p.runId, f);
      total = seqs.length;
      const page = seqs.subarray(p.offset, p.offset + p.limit);
      raw = page.length
        ? (this.stmt(`SELECT ${cols} FROM events WHERE run_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq`)
            .safeIntegers(true)
            .all(p.runId, JSON.stringify(Array.from(page))) as RawEventRow[])
        : [];
    } else {
      const cond = f.where.join(' AND ');
      total = this.filteredTotal(p.runId, `SELECT count(*) AS n FROM ${f.from} WHERE ${cond}`, f.args);
      raw = this.stmt(`SELECT ${cols} FROM ${f.from} WHERE ${cond} ORDER BY seq LIMIT ? OFFSET ?`)
        .safeIntegers(true)
        .all(...f.args, p.limit, p.offset) as RawEventRow[];
    }
    const components = this.componentsOf(p.runId);
    return { total, rows: raw.map((r) => toEventRow(r, components)) };
  }

  /** One event of a run by seq; null when the run has no such (committed) event. */
  getEvent(runId: number, seq: number): EventRow | null {
    const cols = this.eventCols;
    const raw = this.stmt(`SELECT ${cols} FROM events WHERE run_id = ? AND seq = ?`).safeIntegers(true).get(runId, seq) as RawEventRow | undefined;
    return raw ? toEventRow(raw, this.componentsOf(runId)) : null;
  }

  /**
   * The condition keeping the events of component `id` (pushing its argument): its code in
   * runs.components, 0 for '' (the run's own events); rows stored before schema version 6 (comp
   * NULL) belong to LEGACY_COMPONENT. An id the run does not have matches nothing.
   */
  private componentSql(runId: number, id: string, args: unknown[]): string {
    const legacy = id === LEGACY_COMPONENT;
    if (!this.hasEnvelope) return legacy ? '1' : '0';
    const code = id === '' ? 0 : this.componentsOf(runId).indexOf(id) + 1;
    if (id !== '' && code === 0) return legacy ? 'comp IS NULL' : '0';
    args.push(code);
    return legacy ? '(comp = ? OR comp IS NULL)' : 'comp = ?';
  }

  /** The run's component table (runs.components; empty before schema version 6 or when unreadable). */
  private componentsOf(runId: number): string[] {
    if (!this.hasEnvelope) return [];
    const row = this.stmt('SELECT components FROM runs WHERE id = ?').get(runId) as { components: string | null } | undefined;
    if (!row?.components) return [];
    try {
      const v: unknown = JSON.parse(row.components);
      return Array.isArray(v) ? v.map(String) : [];
    } catch {
      return [];
    }
  }

  /**
   * Where the first event matching the filters at or after `seq` (or of step `step` or later) is
   * in the filtered list: its index (as queryEvents' offset would reach it), seq and step; null
   * when there is none. Steps run in order, so an event's step never decreases with its seq.
   * With a `search`, `matches` are as queryEvents'.
   * Errors: ContractError when neither or both of seq and step are given.
   */
  locateEvent(p: Params<'locateEvent'>, matches?: Float64Array): Results['locateEvent'] {
    if ((p.seq === undefined) === (p.step === undefined)) {
      throw new ContractError('locateEvent: invalid params at /: give exactly one of seq and step', '/');
    }
    const f = this.filterSql('locateEvent', p.runId, p) ?? { where: ['run_id = ?'], args: [p.runId], from: 'events', search: false };
    const cond = f.where.join(' AND ');
    const from = p.seq ?? this.firstSeqOfStep(p.runId, p.step!);
    const seqs = f.search ? (matches ?? this.matches(p.runId, f)) : undefined;
    if (seqs) {
      // The search's seq list: binary search for the first seq ≥ from.
      let lo = 0;
      let hi = seqs.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (seqs[mid] < from) lo = mid + 1;
        else hi = mid;
      }
      if (lo === seqs.length) return null;
      const at = this.stmt('SELECT step FROM events WHERE run_id = ? AND seq = ?').get(p.runId, seqs[lo]) as { step: number };
      return { index: lo, seq: seqs[lo], step: at.step };
    }
    const hit = this.stmt(`SELECT seq, step FROM ${f.from} WHERE ${cond} AND seq >= ? ORDER BY seq LIMIT 1`).get(...f.args, from) as { seq: number; step: number } | undefined;
    if (!hit) return null;
    // Unfiltered, seq is the index (seq is dense from 0).
    const index = f.where.length === 1 ? hit.seq : (this.stmt(`SELECT count(*) AS n FROM ${f.from} WHERE ${cond} AND seq < ?`).get(...f.args, hit.seq) as { n: number }).n;
    return { index, seq: hit.seq, step: hit.step };
  }

  private matchKey(f: FilterSql): string {
    return `${f.from}\u0000${f.where.join(' AND ')}\u0000${JSON.stringify(f.args)}`;
  }

  /**
   * The seqs of a run's events matching a filter with a search, in order: the cached list (a
   * finished run's, kept by keepMatches), else a scan on this thread (search.ts), kept when the
   * run has finished, so paging or locating in it costs no further scan.
   */
  private matches(runId: number, f: FilterSql): Float64Array {
    const key = this.matchKey(f);
    const hit = this.matchCache.get(key);
    if (hit) {
      this.matchCache.delete(key);
      this.matchCache.set(key, hit);
      return hit;
    }
    const sql = `SELECT seq FROM ${f.from} WHERE ${f.where.join(' AND ')} ORDER BY seq`;
    const r = scanMatches(this.db, { key, runId, sql, args: f.args })!;
    this.keepMatches(key, r.seqs, r.cacheable);
    return r.seqs;
  }

  /**
   * Number of events matching a filtered count query. A finished run never changes, so its
   * totals are cached (a filtered count scans the run's key range: ~60 ms per million events);
   * paging through a filtered view then costs only the page query.
   */
  private filteredTotal(runId: number, sql: string, args: unknown[]): number {
    const key = `${sql}\u0000${JSON.stringify(args)}`;
    const hit = this.totals.get(key);
    if (hit !== undefined) return hit;
    const n = (this.stmt(sql).get(...args) as { n: number }).n;
    const run = this.stmt('SELECT status FROM runs WHERE id = ?').get(runId) as { status: RunStatus } | undefined;
    if (run && run.status !== 'running') {
      if (this.totals.size >= TOTALS_CACHE_SIZE) this.totals.delete(this.totals.keys().next().value!);
      this.totals.set(key, n);
    }
    return n;
  }

  /**
   * The first seq whose step is ≥ `step` (event_count when none): a binary search over seq, which
   * is dense, since steps run in order (an event's step never decreases with its seq). O(log n)
   * point lookups instead of a scan from the run's first event.
   */
  private firstSeqOfStep(runId: number, step: number): number {
    const run = this.stmt('SELECT event_count FROM runs WHERE id = ?').get(runId) as { event_count: number } | undefined;
    const stepAt = this.stmt('SELECT step FROM events WHERE run_id = ? AND seq = ?');
    let lo = 0;
    let hi = run?.event_count ?? 0;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const r = stepAt.get(runId, mid) as { step: number } | undefined;
      if (r !== undefined && r.step < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Closes the connection. */
  close(): void {
    this.db.close();
  }
}

/** Id of the run's vIOMMU, the component of rows stored before the envelope had one (schema version < 6). */
export const LEGACY_COMPONENT = DEFAULT_VIOMMU.id;

/**
 * Decodes one stored row into the contract's EventRow. When the row has its envelope columns
 * (`comp`, `time` selected), `components` is the run's component table (runs.components: code n
 * is components[n − 1]); component code 0 → null (the run's own events), NULL → LEGACY_COMPONENT,
 * an unknown code → "#<code>".
 */
export function toEventRow(r: RawEventRow, components: readonly string[] = []): EventRow {
  const { kind, fields } = decodeFields(r);
  const code = Number(r.kind);
  const row: EventRow = {
    seq: Number(r.seq),
    step: Number(r.step),
    kind,
    fields,
    text: KIND_BY_CODE[code] ? formatEvent(kind, fields) : `${kind}`,
    problem: isProblemEvent(kind, fields),
  };
  if (r.comp !== undefined) {
    const c = r.comp === null ? null : Number(r.comp);
    row.component = c === null ? LEGACY_COMPONENT : c === 0 ? null : (components[c - 1] ?? `#${c}`);
    row.time = r.time === null || r.time === undefined ? null : Number(r.time);
  }
  if (r.line !== undefined && r.line !== null) row.line = Number(r.line);
  return row;
}
