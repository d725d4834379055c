/**
 * The run host (main thread): one worker_threads worker per run, relays progress and completion,
 * cancels, and turns a dead or failing worker into a failed run.
 *
 * Warm standby (option `standby`, default on): the host keeps one idle run worker whose threads
 * have loaded their modules (~0.3-0.5 s from source: tsx, the core) waiting for a job; `start`
 * hands the run to it and starts a replacement in the background — at once when a core is free
 * for it, else as soon as the runs end (see replenish). Without a standby (none yet,
 * or it died) `start` starts a cold worker with the job, as before. A standby that dies while idle
 * is replaced (after 3 deaths in a row before getting ready the host stops trying until a cold
 * run succeeds, so a broken worker entry does not respawn forever). A standby that dies after
 * being handed a job but before taking it (posting `started`) wrote nothing: its run is retried
 * once on a cold worker.
 *
 * Parsing happens in a run worker too (startRun): the scenario text goes to the standby (or a new
 * worker), whose generator thread parses it and replies with diagnostics or a summary; the host
 * then creates the run row and hands that same worker the job, which runs the scenario it parsed.
 * So no main thread ever parses a scenario, and the text is parsed once, where it runs. A worker
 * whose scenario was invalid ran nothing: it becomes the standby again (or is ended).
 *
 * Ownership: the host owns its workers; the store owns the database. The worker writes events and
 * the final state of runs that end normally (done/cancelled); the host writes only `failed`
 * (LabStore.markFailed), so every committed event stays readable after a crash.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Diagnostic, Notifications, RunStatus } from '../../core/contract/index.ts';
import type { LabStore } from '../store/store.ts';
import { CANCEL_FLAG, type JobMessage, type ParseMessage, type ParsedMessage, type ParsedVariant, type ReplayRequest, type RunJob, type ScenarioSummary, type StandbyData, type TestHooksSpec, type WorkerMessage } from './protocol.ts';

export type { ParsedVariant, ScenarioSummary } from './protocol.ts';

/** Result of RunHost.startRun: the run started, or the scenario's diagnostics (nothing stored). */
export type StartRunResult = { runId: number; diagnostics: Diagnostic[] } | { runId: null; diagnostics: Diagnostic[] };

/**
 * How to start the worker: from source under tsx (CLI, tests: this file is a .ts) the worker is
 * `worker.ts` with tsx's loader; bundled by electron-vite it is `worker.js` next to the bundle
 * (out/main/worker.js beside out/main/index.js). The path is built at run time on purpose: a
 * literal `new URL('./worker.ts', import.meta.url)` would be rewritten by the bundler. `name`: the
 * entry's base name (`search-worker` for main/worker/search-worker.ts, out/main/search-worker.js).
 */
export function workerEntry(moduleUrl: string = import.meta.url, name = 'worker'): { file: string; execArgv: string[] } {
  const dir = path.dirname(fileURLToPath(moduleUrl));
  if (moduleUrl.endsWith('.ts')) {
    // Resolve tsx from this package, not from the user's working directory.
    const tsx = pathToFileURL(createRequire(moduleUrl).resolve('tsx')).href;
    return { file: path.join(dir, `${name}.ts`), execArgv: ['--import', tsx] };
  }
  return { file: path.join(dir, `${name}.js`), execArgv: [] };
}

/** A new run worker started with `job` already in its workerData (no standby involved). */
function coldWorker(job: RunJob): Worker {
  const entry = job.entry ?? workerEntry();
  return new Worker(entry.file, { workerData: job, execArgv: entry.execArgv });
}

/** Options of RunHost. */
export interface RunHostOptions {
  store: LabStore;
  /** Called ~every 100 ms per active run (step = done units, steps = total units). */
  onProgress: (p: Notifications['runProgress']) => void;
  /** Called once per run, after its final state is stored. */
  onFinished: (f: Notifications['runFinished']) => void;
  /** Keep one warm standby run worker (default true). Off for one-shot uses (CLI commands). */
  standby?: boolean;
}

/** Per-start options. */
export interface StartOptions {
  /** Milliseconds between commits/progress (default 100). */
  commitIntervalMs?: number;
  /** Test-only: the hooks module the run worker loads (RunJob.testHooks; tests/support/worker-hooks.ts). */
  testHooks?: TestHooksSpec;
  /** startRun: replay this stored trace against the scenario's configuration (RunJob.replay). */
  replay?: ReplayRequest;
}

interface Active {
  worker: Worker;
  cancel: Int32Array;
  settled: boolean;
  error: string | null;
  /** Resolves when the run's (last) worker has exited. */
  done: Promise<void>;
  resolveDone: () => void;
}

/** The idle warm worker. */
interface Standby {
  worker: Worker;
  ready: boolean;
  error: string | null;
  exited: Promise<void>;
  /** Removes the standby's own listeners (not Worker's internal ones: removeAllListeners() would). */
  detach: () => void;
}

/** Pre-ready deaths in a row after which the host stops starting standbys (see the file comment). */
const MAX_STANDBY_FAILURES = 3;

function errorText(e: unknown): string {
  const err = e as Error;
  return err?.message ? `${err.name}: ${err.message}` : String(e);
}

/** Starts, tracks and cancels run workers; keeps a warm standby worker. */
export class RunHost {
  private readonly active = new Map<number, Active>();
  private closing = false;
  private standby: Standby | null = null;
  /** Workers parsing for startRun (neither standby nor running yet): ended by close(). */
  private readonly parsing = new Set<Worker>();
  private standbyFailures = 0;
  private standbyError: string | null = null;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly opts: RunHostOptions) {
    this.spawnStandby();
  }

  /** Ids of the runs whose workers are alive. */
  get activeRuns(): number[] {
    return [...this.active.keys()];
  }

  /** True while the run's worker is alive. */
  isActive(runId: number): boolean {
    return this.active.has(runId);
  }

  /** The idle standby worker, if any (ready or still loading). For tests and diagnostics. */
  get standbyWorker(): Worker | null {
    return this.standby?.worker ?? null;
  }

  /**
   * Resolves once a warm standby is ready (at once when standby is off or the host is closed),
   * so the next `start` skips worker start-up. Rejects when standbys keep dying before getting
   * ready (the error of the last one); runs still work, started cold.
   */
  ready(): Promise<void> {
    if (this.opts.standby === false || this.closing || this.standby?.ready) return Promise.resolve();
    if (!this.standby && this.standbyError !== null) return Promise.reject(new Error(`run worker standby failed: ${this.standbyError}`));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private settleWaiters(error: string | null): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) {
      if (error === null) w.resolve();
      else w.reject(new Error(`run worker standby failed: ${error}`));
    }
  }

  /**
   * Starts the replacement standby now if a core is free for its start-up (each run keeps two
   * threads busy), else leaves it to the end of the runs: on the 2-core machine a replacement
   * loading beside a run slowed that run by ~10% (tests/bench/ingest.ts: 0.80 vs 0.89 M events/s).
   */
  private replenish(): void {
    if (os.availableParallelism() > 2 * this.active.size) this.spawnStandby();
  }

  /** A new run worker in standby mode (loads its modules, then waits for parse requests and a job). Throws when it cannot be created. */
  private static standbyModeWorker(): Worker {
    const entry = workerEntry();
    return new Worker(entry.file, { workerData: { role: 'standby', entry } satisfies StandbyData, execArgv: entry.execArgv });
  }

  /** Starts a standby worker unless one exists, standby is off, the host is closing or gave up. */
  private spawnStandby(): void {
    if (this.opts.standby === false || this.closing || this.standby || this.standbyFailures >= MAX_STANDBY_FAILURES) return;
    let worker: Worker;
    try {
      worker = RunHost.standbyModeWorker();
    } catch (e) {
      this.standbyDied(errorText(e), false);
      return;
    }
    this.adoptStandby(worker, false);
  }

  /** Makes `worker` (a standby-mode run worker without a job) the standby; `ready`: it already posted `ready`. */
  private adoptStandby(worker: Worker, ready: boolean): void {
    // An idle standby must not keep the process alive (ref'd again when it gets a job).
    worker.unref();
    let exited!: () => void;
    const onMessage = (m: WorkerMessage) => {
      if (m.type !== 'ready' || this.standby !== s) return;
      s.ready = true;
      this.standbyFailures = 0;
      this.standbyError = null;
      this.settleWaiters(null);
    };
    const onError = (e: unknown) => {
      s.error ??= errorText(e);
    };
    const onExit = (code: number) => {
      exited();
      if (this.standby !== s) return;
      this.standby = null;
      this.standbyDied(s.error ?? `standby run worker exited (exit code ${code})`, s.ready);
    };
    const detach = () => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      // Still reported to close() through `exited`, which the run's exit resolves from here on.
      worker.once('exit', () => exited());
    };
    const s: Standby = { worker, ready, error: null, exited: new Promise((r) => (exited = r)), detach };
    this.standby = s;
    if (ready) this.settleWaiters(null);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  }

  private standbyDied(error: string, wasReady: boolean): void {
    if (this.closing) return;
    if (!wasReady) this.standbyFailures++;
    this.standbyError = error;
    if (this.standbyFailures >= MAX_STANDBY_FAILURES) this.settleWaiters(error);
    this.spawnStandby();
  }

  /**
   * Starts the run of an existing `running` run row: on the warm standby if there is one (then a
   * replacement is started), else on a new worker. Completion is reported through onFinished
   * (never by throwing): a worker that cannot start becomes a failed run.
   */
  start(runId: number, text: string, file: string, opts: StartOptions = {}): void {
    if (this.closing) throw new Error('RunHost is closed');
    const cancel = new SharedArrayBuffer(4);
    const entry = workerEntry();
    const job: RunJob = { runId, text, file, dbPath: this.opts.store.path, cancel, entry, ...opts };
    const s = this.standby;
    if (s) {
      this.standby = null;
      // Its standby listeners go; the run's take over in the same tick, so no event is missed.
      s.detach();
      s.worker.ref();
      s.worker.postMessage({ type: 'job', job } satisfies JobMessage);
      this.watch(runId, s.worker, job, true);
    } else {
      this.watch(runId, coldWorker(job), job, false);
    }
    this.replenish();
  }

  /**
   * Parses `text` in a run worker and, when it has no error, creates the run with `create` (the
   * run row, on the calling thread, from the worker's summary) and runs it on that same worker.
   * Resolves with the diagnostics (runId null) when the scenario is invalid, else with the run id
   * (completion then comes through onFinished). The worker is the standby when there is one, else
   * a new standby-mode worker; one that dies before replying is replaced once, and if that one dies
   * too the diagnostics say the scenario could not be parsed. Rejects when the host is closed, a
   * worker cannot be created, or `create` throws (the worker is then kept or ended as for an
   * invalid scenario).
   */
  async startRun(text: string, file: string, create: (summary: ScenarioSummary, variants?: ParsedVariant[]) => number, opts: StartOptions = {}): Promise<StartRunResult> {
    let parsed: ParsedMessage | null = null;
    let worker: Worker | null = null;
    let lastExit = '';
    for (let attempt = 0; attempt < 2 && parsed === null; attempt++) {
      if (this.closing) throw new Error('RunHost is closed');
      const s = this.standby;
      if (s) {
        this.standby = null;
        s.detach();
        worker = s.worker;
      } else {
        worker = RunHost.standbyModeWorker();
      }
      this.parsing.add(worker);
      const r = await RunHost.parseOn(worker, text, file, opts.replay);
      this.parsing.delete(worker);
      if (typeof r === 'string') {
        lastExit = r;
        this.replenish();
      } else parsed = r;
    }
    if (this.closing) {
      if (worker !== null) void worker.terminate();
      throw new Error('RunHost is closed');
    }
    if (parsed === null || worker === null) {
      const message = `the scenario could not be parsed: the run worker ended before answering (${lastExit})`;
      return { runId: null, diagnostics: [{ file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message }] };
    }
    if (!parsed.summary) {
      this.release(worker);
      return { runId: null, diagnostics: parsed.diagnostics };
    }
    let runId: number;
    try {
      if (this.closing) throw new Error('RunHost is closed');
      // With `variants:` (ParsedMessage.variants) `create` makes every variant's run; this worker runs the first.
      runId = create(parsed.summary, parsed.variants);
    } catch (e) {
      this.release(worker);
      throw e;
    }
    const cancel = new SharedArrayBuffer(4);
    // The text stays in the job for the retry path (a worker that dies before taking the job).
    const job: RunJob = { runId, text, file, dbPath: this.opts.store.path, cancel, entry: workerEntry(), ...opts };
    worker.ref();
    worker.postMessage({ type: 'job', job } satisfies JobMessage);
    this.watch(runId, worker, job, true);
    this.replenish();
    // Only warnings are left: they do not stop a run.
    return { runId, diagnostics: parsed.diagnostics };
  }

  /**
   * Sends `worker` a parse request and resolves with its reply, or with a description of its end
   * when it exits (or fails) first. The worker is ref'd while it parses (a pending promise alone
   * does not keep the process alive).
   */
  private static parseOn(worker: Worker, text: string, file: string, replay?: ReplayRequest): Promise<ParsedMessage | string> {
    worker.ref();
    return new Promise((resolve) => {
      let error: string | null = null;
      const done = (r: ParsedMessage | string) => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        resolve(r);
      };
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'parsed') done(m);
      };
      const onError = (e: unknown) => {
        error ??= errorText(e);
      };
      const onExit = (code: number) => done(error ?? `exit code ${code}`);
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage({ type: 'parse', text, file, ...(replay ? { replay } : {}) } satisfies ParseMessage);
    });
  }

  /** A worker that parsed but runs nothing: the standby again when there is none (and standbys are on), else ended. */
  private release(worker: Worker): void {
    if (this.opts.standby !== false && !this.closing && !this.standby) this.adoptStandby(worker, true);
    else void worker.terminate();
  }

  /** Tracks the worker of run `runId`; `warm`: a standby handed the job (retried cold if it dies before taking it). */
  private watch(runId: number, worker: Worker, job: RunJob, warm: boolean, prev?: Active): void {
    let a: Active;
    if (prev) {
      a = prev;
      a.worker = worker;
      a.error = null;
    } else {
      let resolveDone!: () => void;
      const done = new Promise<void>((r) => (resolveDone = r));
      a = { worker, cancel: new Int32Array(job.cancel), settled: false, error: null, done, resolveDone };
    }
    this.active.set(runId, a);
    let started = !warm;

    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') {
        started = true;
      } else if (m.type === 'progress') {
        this.opts.onProgress({ runId, step: m.doneUnits, steps: m.totalUnits, events: m.events });
      } else if (m.type === 'finished') {
        if (!warm) this.standbyFailures = 0;
        this.settle(runId, a, m.status, m.error);
      } else if (m.type === 'failed') {
        a.error = m.error;
      }
    });
    worker.on('error', (e) => {
      a.error ??= errorText(e);
    });
    worker.on('exit', (code) => {
      if (!started && !a.settled && !this.closing) {
        // A standby that died before taking the job wrote nothing: run it on a cold worker.
        try {
          this.watch(runId, coldWorker(job), job, false, a);
          return;
        } catch (e) {
          a.error = `cannot start the run worker: ${errorText(e)}`;
        }
      }
      if (!a.settled) {
        const error = a.error ?? `run worker exited unexpectedly (exit code ${code})`;
        try {
          this.opts.store.markFailed(runId, error);
        } catch {
          // Database unavailable (locked past the busy timeout, disk gone): the row stays
          // `running`, and the next LabStore open marks it failed (INTERRUPTED).
        }
        this.settle(runId, a, 'failed', error);
      }
      this.active.delete(runId);
      this.opts.store.release(runId);
      a.resolveDone();
      this.replenish();
    });
  }

  private settle(runId: number, a: Active, status: RunStatus, error: string | null): void {
    if (a.settled) return;
    a.settled = true;
    this.opts.onFinished({ runId, status, error });
  }

  /**
   * Asks a run to stop; it ends with status cancelled and keeps the events so far.
   * Returns false when the run is not active here.
   */
  cancel(runId: number): boolean {
    const a = this.active.get(runId);
    if (!a || a.settled) return false;
    Atomics.store(a.cancel, CANCEL_FLAG, 1);
    return true;
  }

  /** Resolves when the run's worker has exited (immediately if not active). */
  async whenExited(runId: number): Promise<void> {
    await this.active.get(runId)?.done;
  }

  /**
   * Terminates the standby, cancels every active run and waits up to `graceMs` for the workers
   * to store their final state; workers still alive after that are terminated (their runs are
   * marked failed).
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const s = this.standby;
    this.standby = null;
    this.settleWaiters(null);
    const standbyGone = s ? s.worker.terminate().then(() => s.exited) : Promise.resolve();
    for (const w of this.parsing) void w.terminate();
    const all = [...this.active.entries()];
    for (const [runId] of all) this.cancel(runId);
    const timeout = new Promise<'timeout'>((r) => setTimeout(r, graceMs, 'timeout').unref());
    await Promise.race([Promise.all(all.map(([, a]) => a.done)), timeout]);
    for (const [, a] of this.active.entries()) {
      a.error ??= 'terminated: the lab closed while the run was in progress';
      await a.worker.terminate();
      await a.done;
    }
    await standbyGone;
  }
}
