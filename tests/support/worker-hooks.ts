/**
 * Test-only fault hooks for the run worker (main/worker/worker.ts, RunJob.testHooks): a test passes
 * `testHooks(options)` in a run's StartOptions (RunHost.start/startRun, LabService's runOptions)
 * and the worker imports this module and calls `workerHooks(options)` in its own thread. Production
 * never passes it, and the electron-vite build does not bundle tests/.
 */
import type { TestHooksSpec, WorkerTestHooks } from '../../main/worker/protocol.ts';

/** What the hooks do; every field is optional and off when absent. */
export interface WorkerHookOptions {
  /** The worker calls process.exit(1) right after this many commits (the crash path). */
  crashAfterCommits?: number;
  /** The run's connection may not grow the database past this many pages (a full disk). */
  maxPageCount?: number;
}

/** The StartOptions.testHooks value that loads these hooks with `options`. */
export function testHooks(options: WorkerHookOptions): TestHooksSpec {
  return { module: import.meta.url, options };
}

/** Called by the run worker with the options given to {@link testHooks}. */
export function workerHooks(options: unknown): WorkerTestHooks {
  const o = options as WorkerHookOptions;
  return {
    onWriterOpen(writer) {
      if (o.maxPageCount !== undefined) writer.setMaxPageCount(o.maxPageCount);
    },
    afterCommit(commits) {
      if (o.crashAfterCommits !== undefined && commits >= o.crashAfterCommits) process.exit(1);
    },
  };
}
