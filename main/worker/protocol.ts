/**
 * Messages between the run host (main thread) and a run worker (worker.ts). One worker per run:
 * the host passes a `RunJob` as workerData; the worker posts `WorkerMessage`s and exits.
 */
import type { RunStatus } from '../../core/contract/index.ts';

/** What a run worker is given (workerData). */
export interface RunJob {
  runId: number;
  /** Scenario text and its file name (for diagnostics). */
  text: string;
  file: string;
  /** Database file (already migrated; the run row exists with status running). */
  dbPath: string;
  /**
   * Cancellation flag: Int32Array over this buffer, index 0; the host stores 1 to cancel. Read
   * between advance() slices, so cancelling works while the worker's loop is busy.
   */
  cancel: SharedArrayBuffer;
  /** Milliseconds between commits (and progress messages). Default 100. */
  commitIntervalMs?: number;
  /**
   * Test-only fault hook: the worker calls process.exit(1) right after this many commits (also
   * read from $IOMMU_LAB_TEST_CRASH_AFTER_COMMITS), to test the crash path.
   */
  crashAfterCommits?: number;
}

/** Progress, sent after each commit (~every commitIntervalMs). */
export interface ProgressMessage {
  type: 'progress';
  runId: number;
  doneUnits: number;
  totalUnits: number;
  /** Events written so far (all committed at the time of the message). */
  events: number;
}

/** The worker stored the run's final state (done or cancelled) and is about to exit. */
export interface FinishedMessage {
  type: 'finished';
  runId: number;
  status: Extract<RunStatus, 'done' | 'cancelled'>;
  events: number;
  failedExpectations: number;
}

/** The run failed inside the worker (an exception); uncommitted events were rolled back. */
export interface FailedMessage {
  type: 'failed';
  runId: number;
  error: string;
}

export type WorkerMessage = ProgressMessage | FinishedMessage | FailedMessage;

/** Index of the cancel flag in the Int32Array over RunJob.cancel. */
export const CANCEL_FLAG = 0;
