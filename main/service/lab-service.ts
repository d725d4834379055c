/**
 * LabService: the lab behind the contract (core/contract). One instance per process surface (the
 * Electron main, `iommu-lab serve`, the CLI); transports (IPC, WebSocket) call `call`/`listen`.
 *
 * Every call is validated at the boundary with `validateParams` (ContractError with the field
 * path, e.g. "/limit"). Runs execute in worker threads (main/worker/host.ts) that write the store;
 * this class reads through the store's read-only connection.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImportError, emptyImportStats } from '../../core/import/driver.ts';
import { createImporters } from '../../core/import/index.ts';
import { importTraceFile } from '../store/import.ts';
import { parseDocument } from 'yaml';
import {
  ContractError,
  validateParams,
  type LabApi,
  type Method,
  type NotificationName,
  type Notifications,
  type Params,
  type Results,
} from '../../core/contract/index.ts';
import { LabStore } from '../store/store.ts';
import { EventDetailSource } from './event-detail.ts';
import { HostViewSource } from './host-view.ts';
import { HostViewReader } from '../store/host-view.ts';
import { GuestViewReader } from '../store/guest-view.ts';
import { GuestViewSource } from './guest-view.ts';
import { TimeSeriesReader } from '../store/time-series.ts';
import { timeSeries } from './time-series.ts';
import { CompareReader, CompareSource } from './compare.ts';
import { RunHost, type ParsedVariant, type ScenarioSummary, type StartOptions } from '../worker/host.ts';
import { VariantNotFound, VariantRuns } from './variant-runs.ts';
import { SearchHost } from '../worker/search-host.ts';
import { SqlConsoleService } from './sql.ts';
import type { SqlSpawner } from '../worker/sql-host.ts';

/** Options of LabService. */
export interface LabServiceOptions {
  /** SQLite database file (created and migrated on open). See defaultDbPath(). */
  dbPath: string;
  /** Folder of example scenarios (`*.yaml`). */
  examplesDir: string;
  /**
   * Options for every run's worker: the commit interval and, in tests only, the worker's test hooks
   * module (StartOptions.testHooks, tests/support/worker-hooks.ts: a crash, a full disk).
   */
  runOptions?: StartOptions;
  /**
   * Keep a warm standby run worker so a Run starts without worker start-up (default true: the
   * app and `serve`). One-shot CLI commands turn it off. See main/worker/host.ts.
   */
  warmRunWorker?: boolean;
  /**
   * Open the database read-only (LabStore's `readOnly`): for commands that only read (runs, events,
   * show, export), so they work on a full disk or a read-only file. startRun then fails; implies
   * no standby worker.
   */
  readOnly?: boolean;
  /** How the SQL console starts its worker process (default: Node's fork; the Electron app: electronSqlSpawner, main/service/sql.ts). */
  sqlSpawner?: SqlSpawner;
}

type Handler<M extends Method> = (params: Params<M>) => Results[M] | Promise<Results[M]>;

/** Largest example file whose `name` listExamples reads (bigger ones are listed by file name). */
const EXAMPLE_TITLE_MAX_BYTES = 256 * 1024;

/** Example file names of the seeds' scenarios (issue 8 §2), listed in their own group. */
const SEED_PREFIX = 'seed-';
const SEED_GROUP = 'seeds: problems reproduced';
/** Example file names of scenarios with `variants:` (issue 9 §3), listed in their own group. */
const VARIANTS_PREFIX = 'variants-';
const VARIANTS_GROUP = 'variants: configurations compared';

/**
 * What an example shows, for the picker: its first comment line (every shipped example opens with
 * one), without the '#'; a line continued on the next comment line ends with '…'. '' when the file
 * does not start with a comment.
 */
export function exampleLine(text: string): string {
  const lines = text.split(/\r?\n/, 3);
  const m = /^#\s?(.*)$/.exec(lines[0] ?? '');
  if (!m) return '';
  const first = m[1].trim();
  const next = /^#\s?(\S.*)$/.exec(lines[1] ?? '');
  return next && !/[.:!?]$/.test(first) ? `${first}…` : first;
}

/** Example file names: a plain file name, no separators or parent references. */
const EXAMPLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The lab service. `close()` cancels active runs (waiting briefly for them to store their state)
 * and closes the database.
 * Errors: the constructor throws for an unusable database (SchemaTooNewError, SQLite/fs errors);
 * `call` rejects with ContractError for malformed params and unknown example names.
 */
export class LabService implements LabApi {
  readonly store: LabStore;
  private readonly host: RunHost;
  /** The runs of scenarios with `variants:`, run one after the other (variant-runs.ts). */
  private readonly variantRuns: VariantRuns;
  private readonly details: EventDetailSource;
  /** The component and host panels' reads (own read-only connection, opened on first use). */
  private readonly hostReader: HostViewReader;
  private readonly hostView: HostViewSource;
  /** The guest DMA panels' reads (IOVA space, followed buffers; own read-only connection, opened on first use). */
  private readonly guestReader: GuestViewReader;
  private readonly guestView: GuestViewSource;
  /** The compare plots' reads (getTimeSeries; own read-only connection, opened on first use). */
  private readonly timeSeriesReader: TimeSeriesReader;
  /** The comparison's event reads (compareRuns, exportComparison; own read-only connection, opened on first use). */
  private readonly compareReader: CompareReader;
  private readonly compare: CompareSource;
  /** Free-text search scans, off the main thread (its worker starts with the first search). */
  readonly search: SearchHost;
  /** The SQL console (sqlQuery, sqlCancel, sqlSchema; its worker starts with the first query). */
  readonly sql: SqlConsoleService;
  private readonly listeners = new Map<NotificationName, Set<(payload: never) => void>>();
  private readonly handlers: { [M in Method]: Handler<M> };
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: LabServiceOptions) {
    this.store = new LabStore(opts.dbPath, { readOnly: opts.readOnly });
    this.details = new EventDetailSource(this.store.reader);
    this.hostReader = new HostViewReader(this.store.path);
    this.hostView = new HostViewSource(this.hostReader, this.store.reader);
    this.guestReader = new GuestViewReader(this.store.path);
    this.guestView = new GuestViewSource(this.guestReader, this.hostView);
    this.timeSeriesReader = new TimeSeriesReader(this.store.path);
    this.compareReader = new CompareReader(this.store.path);
    this.compare = new CompareSource(this.store.reader, this.compareReader);
    this.search = new SearchHost(this.store.path, this.store.reader);
    this.sql = new SqlConsoleService(this.store.path, opts.sqlSpawner);
    this.host = new RunHost({
      store: this.store,
      onProgress: (p) => this.emit('runProgress', p),
      onFinished: (f) => {
        this.emit('runFinished', f);
        this.variantRuns.finished(f.runId);
      },
      standby: !opts.readOnly && (opts.warmRunWorker ?? true),
    });
    this.variantRuns = new VariantRuns({ store: this.store, host: this.host, onFinished: (f) => this.emit('runFinished', f), runOptions: opts.runOptions });
    this.handlers = {
      listExamples: () => this.listExamples(),
      readExample: (p) => this.readExample(p.name),
      startRun: (p) => this.startRun(p.text, p.file, p.variant),
      startReplay: (p) => this.startReplay(p.traceRunId, p.text, p.file, p.variant),
      cancelRun: (p) => ({ cancelled: this.variantRuns.cancel(p.runId) || this.host.cancel(p.runId) }),
      listRuns: (p) => this.store.reader.listRuns(p.limit),
      getRun: (p) => this.store.reader.getRun(p.runId),
      // Asynchronous only with a search to scan (in the search worker: main/worker/search-host.ts).
      queryEvents: (p) => this.search.queryEvents(p),
      getEventDetail: (p) => this.details.detail(p.runId, p.seq),
      locateEvent: (p) => this.search.locateEvent(p),
      listComponents: (p) => this.hostView.listComponents(p.runId),
      getCausedEvents: (p) => this.hostView.causedEvents(p.runId, p.seq),
      getHostObjects: (p) => this.hostView.hostObjects(p.runId, p.seq),
      getIovaSpace: (p) => this.guestView.iovaSpace(p.runId, p.seq),
      followBuffer: (p) => this.guestView.followBuffer(p.runId, p.seq),
      getTimeSeries: (p) => timeSeries(this.timeSeriesReader, p.runId, p.points),
      compareRuns: (p) => this.compare.compare(p),
      exportComparison: (p) => this.compare.exportComparison(p),
      openFile: () => null,
      saveFile: () => null,
      // The desktop's save dialog answers it (main/index.ts); elsewhere there is no dialog (serve: GET /export/…).
      exportRun: () => null,
      importTrace: (p) => this.importTrace(p),
      sqlQuery: (p) => this.sql.query(p),
      sqlCancel: () => this.sql.cancel(),
      sqlSchema: () => this.sql.schema(),
      cancelImport: () => {
        const a = this.importAbort;
        a?.abort();
        return { cancelled: a !== null };
      },
    };
  }

  /**
   * importTrace: the text goes to a temporary file (removed after) and through the same streamed,
   * atomic import as `iommu-lab import` (main/store/import.ts). An unknown format is a refusal
   * (nothing stored), not an error of the call.
   */
  /** The import in progress (one at a time per service): cancelImport aborts it. */
  private importAbort: AbortController | null = null;

  private async importTrace(p: Params<'importTrace'>): Promise<Results['importTrace']> {
    if (this.importAbort !== null) throw new ContractError('another trace import is in progress: cancel it or wait for it', '');
    const abort = (this.importAbort = new AbortController());
    const name = path.basename(p.name);
    let last = 0;
    const onProgress = (bytes: number, total: number, s: { lines: number; events: number }) => {
      const now = Date.now();
      if (now - last < 100 && bytes < total) return;
      last = now;
      this.emit('importProgress', { name, bytes, total, lines: s.lines, events: s.events });
    };
    let dir: string | null = null;
    try {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-import-'));
      const file = path.join(dir, name.replace(/[^\w.-]/g, '_') || 'trace.txt');
      fs.writeFileSync(file, p.text);
      const out = await importTraceFile(this.store, this.store.path, file, createImporters(), { name, format: p.format, acceptPartial: p.partial === true, signal: abort.signal, onProgress });
      out.source.file = path.basename(p.name);
      return { runId: out.runId, refused: out.refused, source: out.source };
    } catch (e) {
      if (e instanceof ImportError) {
        return { runId: null, refused: e.message, source: { kind: 'trace', file: path.basename(p.name), bytes: Buffer.byteLength(p.text), sha256: '', format: null, partial: false, firstTime: null, stats: emptyImportStats(p.format !== undefined) } };
      }
      throw e;
    } finally {
      this.importAbort = null;
      if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Validates and performs one contract call. */
  async call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]> {
    if (this.closed) throw new Error('LabService is closed');
    const v = validateParams<M>(method, params);
    const handler = this.handlers[v.method] as Handler<M>;
    return handler(v.params);
  }

  /** Subscribes to a notification; returns the unsubscribe function. */
  listen<N extends NotificationName>(name: N, handler: (payload: Notifications[N]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(handler as (payload: never) => void);
    return () => {
      set.delete(handler as (payload: never) => void);
    };
  }

  private emit<N extends NotificationName>(name: N, payload: Notifications[N]): void {
    for (const h of [...(this.listeners.get(name) ?? [])]) {
      try {
        (h as (p: Notifications[N]) => void)(payload);
      } catch (e) {
        // A listener's bug must not break run bookkeeping or other listeners.
        console.error(`iommu-lab: ${name} listener threw:`, e);
      }
    }
  }

  private listExamples(): Results['listExamples'] {
    let files: string[];
    try {
      files = fs.readdirSync(this.opts.examplesDir).filter((f) => f.endsWith('.yaml'));
    } catch {
      return [];
    }
    return files.sort().map((f) => {
      const name = f.slice(0, -'.yaml'.length);
      let title = name;
      let group = name.startsWith(SEED_PREFIX) ? SEED_GROUP : name.startsWith(VARIANTS_PREFIX) ? VARIANTS_GROUP : 'virtio-iommu';
      let line = '';
      try {
        // Read on the main thread, so only small files are parsed (examples are a few KB), and
        // without yaml's uniqueKeys check (quadratic in a map's size); `get` resolves no alias.
        const file = path.join(this.opts.examplesDir, f);
        if (fs.statSync(file).size <= EXAMPLE_TITLE_MAX_BYTES) {
          const text = fs.readFileSync(file, 'utf8');
          line = exampleLine(text);
          const doc = parseDocument(text, { uniqueKeys: false });
          const t = doc.get('name');
          if (typeof t === 'string' && t.trim()) title = t.trim();
          if (group !== SEED_GROUP && group !== VARIANTS_GROUP) group = doc.has('guest') ? 'guest DMA' : doc.has('host') || doc.has('backend') ? 'host side' : 'virtio-iommu';
        }
      } catch {
        // Unreadable or invalid example: listed under its file name; opening it shows the problem.
      }
      return { name, title, group, line };
    });
  }

  private readExample(name: string): Results['readExample'] {
    if (!EXAMPLE_NAME.test(name) || name.includes('..')) {
      throw new ContractError(`readExample: invalid params at /name: "${name}" is not an example name (no path separators)`, '/name');
    }
    const base = name.endsWith('.yaml') ? name.slice(0, -'.yaml'.length) : name;
    const file = path.join(this.opts.examplesDir, `${base}.yaml`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      throw new ContractError(`readExample: invalid params at /name: no example named "${name}"`, '/name');
    }
    return { name: base, text };
  }

  /**
   * Parses the scenario off the main thread, in the run worker that will run it (RunHost.startRun:
   * a huge or hostile text never blocks the other clients), then creates the run row from the
   * worker's summary. Invalid: the diagnostics, nothing stored. Valid: the run id and the
   * warnings, which do not stop a run. A worker that cannot start (e.g. a bundle without
   * worker.js) gives a diagnostic saying the scenario could not be parsed; createRun's errors
   * (a full disk) reject.
   */
  private async startRun(text: string, file: string, variant?: string): Promise<Results['startRun']> {
    // With `variants:` one run per variant, run in order (variant-runs.ts); `variant`: only that one.
    let variantRunIds: number[] | null = null;
    const create = (s: ScenarioSummary, variants?: ParsedVariant[]) => {
      if (variants) return (variantRunIds = this.variantRuns.create(file, variants, variant))[0];
      if (variant !== undefined) throw new VariantNotFound(file, `the scenario has no variants: there is no variant "${variant}" to run`);
      return this.store.createRun({ name: s.name, file, scenarioText: text, steps: s.steps, totalUnits: s.totalUnits, config: s.config });
    };
    try {
      const r = await this.host.startRun(text, file, create, this.opts.runOptions);
      return r.runId !== null && variantRunIds !== null ? { ...r, variantRunIds } : r;
    } catch (e) {
      if (e instanceof VariantNotFound) return { runId: null, diagnostics: [e.diagnostic] };
      throw e;
    }
  }

  /**
   * Replays a stored trace against the scenario's configuration (RunHost.startRun with a
   * ReplayRequest: the worker reads the trace, derives and binds the intent, and runs it). The
   * run row stores the scenario text and the replay's record (runs.source, kind 'replay').
   * Errors: ContractError when `traceRunId` is not a stored trace.
   */
  private startReplay(traceRunId: number, text: string, file: string, variant?: string): Promise<Results['startReplay']> {
    const trace = this.store.reader.getRun(traceRunId);
    if (!trace?.source) throw new ContractError(`startReplay: invalid params at /traceRunId: run ${traceRunId} is ${trace ? 'not an imported trace' : 'not stored'}`, '/traceRunId');
    if (trace.status === 'running') throw new ContractError(`startReplay: invalid params at /traceRunId: trace ${traceRunId} is still being imported`, '/traceRunId');
    const ref = { runId: traceRunId, name: trace.name, format: trace.source.format, sha256: trace.source.sha256 };
    const create = (s: ScenarioSummary) =>
      this.store.createRun({ name: s.name, file, scenarioText: text, steps: s.steps, totalUnits: s.totalUnits, config: s.config, source: s.replay });
    return this.host.startRun(text, file, create, { ...this.opts.runOptions, replay: { trace: ref, dbPath: this.store.path, ...(variant !== undefined ? { variant } : {}) } });
  }

  /**
   * Resolves once the warm standby run worker is ready (at once without one), so the next
   * startRun skips worker start-up. Rejects when the standby cannot start (runs then start cold).
   */
  ready(): Promise<void> {
    return this.host.ready();
  }

  /** True while the run's worker is alive in this service. */
  isRunning(runId: number): boolean {
    return this.host.isActive(runId);
  }

  /**
   * Cancels active runs (waiting up to `graceMs` for them to store their state; stragglers are
   * terminated and marked failed), then closes the database. Idempotent: later calls return the
   * same promise.
   */
  close(graceMs = 5000): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      // Variants waiting for their turn never start (marked cancelled), before the host cancels the running ones.
      this.variantRuns.close();
      await Promise.all([this.host.close(graceMs), this.search.close(), this.sql.close()]);
      this.hostReader.close();
      this.guestReader.close();
      this.timeSeriesReader.close();
      this.compareReader.close();
      this.store.close();
      this.listeners.clear();
    })();
    return this.closing;
  }
}

/**
 * Resolves with the run's runFinished notification (or, if the run already ended, with its stored
 * status). Errors: rejects when the run does not exist.
 */
export async function waitForRun(service: LabApi, runId: number): Promise<Notifications['runFinished']> {
  return new Promise((resolve, reject) => {
    const off = service.listen('runFinished', (f) => {
      if (f.runId !== runId) return;
      off();
      resolve(f);
    });
    service.call('getRun', { runId }).then(
      (r) => {
        if (!r) {
          off();
          reject(new Error(`no run ${runId}`));
        } else if (r.status !== 'running') {
          off();
          resolve({ runId, status: r.status, error: r.error });
        }
      },
      (e) => {
        off();
        reject(e);
      },
    );
  });
}
