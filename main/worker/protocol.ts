/**
 * Messages between the run host (main thread) and a run worker (worker.ts). One worker per run.
 * Two ways to start one:
 * - cold: the host passes the `RunJob` as workerData;
 * - warm standby: the host starts the worker with `StandbyData` as workerData; the worker starts
 *   its generator thread, loads its modules, posts `ReadyMessage`, and waits for a `JobMessage`.
 * - parse first (LabService.startRun, RunHost.startRun): the host sends a standby-mode worker
 *   `ParseMessage`s (the scenario is parsed there, off the main thread, by the generator thread
 *   that will run it) and gets a `ParsedMessage` for each; after a valid one it creates the run
 *   row and sends the `JobMessage`, and the worker runs the scenario it parsed last.
 * Either way the worker then posts `WorkerMessage`s and exits after the run. Inside, the run
 * worker starts one generator thread (`GeneratorJob`) that posts `GeneratorMessage`s; it is given
 * parse requests and its `GeneratorTask` by message.
 */
import type { Diagnostic, ReplaySourceInfo, RunConfig, RunMetrics, RunStatus, StepResult } from '../../core/contract/index.ts';
import type { ReplayTraceRef } from '../../core/replay/replay.ts';
import type { MessagePort } from 'node:worker_threads';
import type { EventBatch } from '../store/batch.ts';
import type { EventWriter } from '../store/writer.ts';

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
   * Test-only: a hooks module the run worker imports (dynamic import, only when given) and calls
   * at its fault points. Only tests pass one (tests/support/worker-hooks.ts); production code has
   * no hook logic and the build bundles none.
   */
  testHooks?: TestHooksSpec;
  /**
   * How to start a thread of this worker's entry (file and execArgv): the run worker starts its
   * generator thread from the same entry (see worker.ts). Default: the running worker's own file.
   */
  entry?: { file: string; execArgv: string[] };
  /** The run replays a stored trace against the scenario's configuration (ReplayRequest). */
  replay?: ReplayRequest;
}

/**
 * A replay (issue 9 §2): the run is the stored trace `trace` replayed against the scenario's
 * configuration. The generator reads the trace's events from `dbPath` (its own read-only
 * connection: main/store/trace-rows.ts), derives the intent and binds it (core/replay).
 */
export interface ReplayRequest {
  trace: ReplayTraceRef;
  dbPath: string;
  /** For a scenario with `variants:`, the variant to replay against (core/replay prepareReplay). */
  variant?: string;
}

/**
 * Which test hooks module a run worker loads, and the options it gives it. `module` is a file URL
 * of a module exporting `workerHooks(options): WorkerTestHooks`; `options` must be structured-
 * cloneable (it crosses to the worker).
 */
export interface TestHooksSpec {
  module: string;
  options?: unknown;
}

/** The fault points of a run worker a test hooks module may act on (see RunJob.testHooks). */
export interface WorkerTestHooks {
  /** Right after the run's writer opened its connection, before any event is written. */
  onWriterOpen?(writer: EventWriter): void;
  /** Right after each commit; `commits` counts them from 1. */
  afterCommit?(commits: number): void;
}

/** workerData of a warm standby run worker: no job yet (it arrives as a JobMessage). */
export interface StandbyData {
  role: 'standby';
  /** As RunJob.entry: how to start the generator thread. */
  entry?: { file: string; execArgv: string[] };
}

/** Host → standby run worker: the run to do (sent once). */
export interface JobMessage {
  type: 'job';
  job: RunJob;
}

/** Host → standby run worker (relayed to its generator thread): parse this scenario and keep it for the job. */
export interface ParseMessage {
  type: 'parse';
  text: string;
  file: string;
  /** Prepare a replay of a stored trace against the scenario instead of its own steps. */
  replay?: ReplayRequest;
}

/** What the run row needs from a valid scenario (LabStore.createRun). */
export interface ScenarioSummary {
  name: string;
  /** Number of steps. */
  steps: number;
  /** Progress units of the whole run (core/run/dma.ts scenarioUnits, = ScenarioRun.totalUnits). */
  totalUnits: number;
  /** The run's configuration (core/run/config.ts runConfig), stored with the run. */
  config?: RunConfig;
  /** A replay's record as prepared (runs.source; its divergences are filled in when the run ends). */
  replay?: ReplaySourceInfo;
}

/**
 * Generator → run worker → host: the reply to a ParseMessage. `summary` is present when the
 * scenario has no error (it is then kept for the job); `diagnostics` holds every problem found
 * (warnings too).
 */
export interface ParsedMessage {
  type: 'parsed';
  diagnostics: Diagnostic[];
  summary?: ScenarioSummary;
  /**
   * A scenario with `variants:` (core/scenario/variants.ts), valid: every variant in order, each
   * with its expanded text (what its run stores and parses) and its summary. `summary` is the
   * first's, and the scenario kept for the job is the first variant's.
   */
  variants?: ParsedVariant[];
}

/** One variant of a parsed scenario (ParsedMessage.variants). */
export interface ParsedVariant {
  /** The variant's name as written. */
  variant: string;
  /** The variant as a scenario of its own (ScenarioVariant.text). */
  text: string;
  summary: ScenarioSummary;
}

/** workerData of the run worker's generator thread (same entry file, role 'generator'). */
export interface GeneratorJob {
  role: 'generator';
  /** Int32Array over this buffer, index BATCHES_CONSUMED: batches the writer has taken (backpressure). */
  ctl: SharedArrayBuffer;
}

/**
 * Run worker → generator thread (sent once, by message): the run to do. Without `text` it runs
 * the scenario of the last valid ParseMessage; with it (a cold worker) it parses `text` first.
 */
export interface GeneratorTask {
  type: 'task';
  text?: string;
  file?: string;
  /** With text (no kept parse): the replay to prepare (RunJob.replay). */
  replay?: ReplayRequest;
  /** The run's cancellation flag (RunJob.cancel). */
  cancel: SharedArrayBuffer;
  /** The database (RunJob.dbPath): the generator runs background WAL checkpoints on it (main/store/checkpointer.ts). */
  dbPath: string;
  /**
   * The run worker hands each written batch's arrays back on this port (a SpentBatch per batch,
   * transferred), and the generator encodes the next batches into them (BatchEncoder.reuse):
   * no fresh 2 MB of zeroed memory per batch. Optional: without it every batch is allocated.
   */
  spent?: MessagePort;
}

/** Run worker → generator thread (on GeneratorTask.spent): a written batch's arrays, for reuse. */
export type SpentBatch = Pick<EventBatch, 'kinds' | 'steps' | 'masks' | 'cols'>;

/** Index of the consumed-batches counter in the Int32Array over GeneratorJob.ctl. */
export const BATCHES_CONSUMED = 0;

/** Generator thread → run worker. */
export type GeneratorMessage =
  | { type: 'ready' }
  | ParsedMessage
  | { type: 'batch'; batch: EventBatch }
  | { type: 'end'; cancelled: boolean; failure: string | null; doneUnits: number; totalUnits: number; metrics: RunMetrics; stepResults: StepResult[]; source?: ReplaySourceInfo };

/** Progress, sent after each commit (~every commitIntervalMs). */
export interface ProgressMessage {
  type: 'progress';
  runId: number;
  doneUnits: number;
  totalUnits: number;
  /** Events written so far (all committed at the time of the message). */
  events: number;
}

/**
 * The worker stored the run's final state and is about to exit: done, cancelled, or failed because
 * the machine could not start (`error`: QEMU's message; Source.failure).
 */
export interface FinishedMessage {
  type: 'finished';
  runId: number;
  status: Exclude<RunStatus, 'running'>;
  error: string | null;
  events: number;
  failedExpectations: number;
}

/** The run failed inside the worker (an exception); uncommitted events were rolled back. */
export interface FailedMessage {
  type: 'failed';
  runId: number;
  error: string;
}

/** A standby worker has loaded its modules and started its generator thread: a job starts at once. */
export interface ReadyMessage {
  type: 'ready';
}

/** The worker took its job (before touching the database): from here a death fails the run. */
export interface StartedMessage {
  type: 'started';
  runId: number;
}

export type WorkerMessage = ProgressMessage | FinishedMessage | FailedMessage | ReadyMessage | StartedMessage | ParsedMessage;

/** Index of the cancel flag in the Int32Array over RunJob.cancel. */
export const CANCEL_FLAG = 0;
