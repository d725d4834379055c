/**
 * The run host (main thread): one worker_threads worker per run, relays progress and completion,
 * cancels, and turns a dead or failing worker into a failed run.
 *
 * Ownership: the host owns its workers; the store owns the database. The worker writes events and
 * the final state of runs that end normally (done/cancelled); the host writes only `failed`
 * (LabStore.markFailed), so every committed event stays readable after a crash.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Notifications, RunStatus } from '../../core/contract/index.ts';
import type { LabStore } from '../store/store.ts';
import { CANCEL_FLAG, type RunJob, type WorkerMessage } from './protocol.ts';

/**
 * How to start the worker: from source under tsx (CLI, tests: this file is a .ts) the worker is
 * `worker.ts` with tsx's loader; bundled by electron-vite it is `worker.js` next to the bundle
 * (out/main/worker.js beside out/main/index.js). The path is built at run time on purpose: a
 * literal `new URL('./worker.ts', import.meta.url)` would be rewritten by the bundler.
 */
export function workerEntry(moduleUrl: string = import.meta.url): { file: string; execArgv: string[] } {
  const dir = path.dirname(fileURLToPath(moduleUrl));
  if (moduleUrl.endsWith('.ts')) {
    // Resolve tsx from this package, not from the user's working directory.
    const tsx = pathToFileURL(createRequire(moduleUrl).resolve('tsx')).href;
    return { file: path.join(dir, 'worker.ts'), execArgv: ['--import', tsx] };
  }
  return { file: path.join(dir, 'worker.js'), execArgv: [] };
}

/** Options of RunHost. */
export interface RunHostOptions {
  store: LabStore;
  /** Called ~every 100 ms per active run (step = done units, steps = total units). */
  onProgress: (p: Notifications['runProgress']) => void;
  /** Called once per run, after its final state is stored. */
  onFinished: (f: Notifications['runFinished']) => void;
}

/** Per-start options. */
export interface StartOptions {
  /** Milliseconds between commits/progress (default 100). */
  commitIntervalMs?: number;
  /** Test-only: the worker exits with code 1 after this many commits (crash path). */
  crashAfterCommits?: number;
}

interface Active {
  worker: Worker;
  cancel: Int32Array;
  settled: boolean;
  error: string | null;
  done: Promise<void>;
}

/** Starts, tracks and cancels run workers. */
export class RunHost {
  private readonly active = new Map<number, Active>();
  private closing = false;

  constructor(private readonly opts: RunHostOptions) {}

  /** Ids of the runs whose workers are alive. */
  get activeRuns(): number[] {
    return [...this.active.keys()];
  }

  /** True while the run's worker is alive. */
  isActive(runId: number): boolean {
    return this.active.has(runId);
  }

  /**
   * Starts the worker of an existing `running` run row. Completion is reported through
   * onFinished (never by throwing): a worker that cannot start becomes a failed run.
   */
  start(runId: number, text: string, file: string, opts: StartOptions = {}): void {
    if (this.closing) throw new Error('RunHost is closed');
    const cancel = new SharedArrayBuffer(4);
    const entry = workerEntry();
    const job: RunJob = { runId, text, file, dbPath: this.opts.store.path, cancel, entry, ...opts };
    const worker = new Worker(entry.file, { workerData: job, execArgv: entry.execArgv });
    let resolveDone!: () => void;
    const a: Active = { worker, cancel: new Int32Array(cancel), settled: false, error: null, done: new Promise((r) => (resolveDone = r)) };
    this.active.set(runId, a);

    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        this.opts.onProgress({ runId, step: m.doneUnits, steps: m.totalUnits, events: m.events });
      } else if (m.type === 'finished') {
        this.settle(runId, a, m.status, null);
      } else if (m.type === 'failed') {
        a.error = m.error;
      }
    });
    worker.on('error', (e) => {
      a.error ??= e?.message ? `${e.name}: ${e.message}` : String(e);
    });
    worker.on('exit', (code) => {
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
      resolveDone();
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
   * Cancels every active run and waits up to `graceMs` for the workers to store their final
   * state; workers still alive after that are terminated (their runs are marked failed).
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const all = [...this.active.entries()];
    for (const [runId] of all) this.cancel(runId);
    const timeout = new Promise<'timeout'>((r) => setTimeout(r, graceMs, 'timeout').unref());
    await Promise.race([Promise.all(all.map(([, a]) => a.done)), timeout]);
    for (const [, a] of this.active.entries()) {
      a.error ??= 'terminated: the lab closed while the run was in progress';
      await a.worker.terminate();
      await a.done;
    }
  }
}
