/**
 * Run worker (worker_threads entry): owns the run's SQLite writer and, inside it, one generator
 * thread that hosts the core runner (DESIGN.md §2: events go from the core into SQLite without
 * crossing to the main thread). Two threads so the core and SQLite run on two cores at once: the
 * generator encodes events into columnar batches (main/store/batch.ts) and transfers them to the
 * run worker, which inserts them; neither copies events through the main thread.
 *
 * Generator thread (role 'generator', same entry file): runs a source (core/source: a scenario
 * today) against its machine — advance(budget) → encode events → post a
 * batch (with the progress units at its last event) every BATCH_EVENTS events or BATCH_MS → check
 * the cancel flag. The budget adapts so one slice takes ~SLICE_MS, which bounds cancel latency.
 * Backpressure: it waits while more than MAX_INFLIGHT batches are not yet consumed, so memory
 * stays bounded when SQLite is the slower side. The run worker hands each written batch's arrays
 * back (a MessageChannel, read synchronously with receiveMessageOnPort before each batch is cut),
 * and the encoder fills them again: fresh zeroed memory per batch cost the generator ~50 ns an
 * event in allocation and page faults. At the end it posts metrics and step results.
 * It also runs the run's background WAL checkpoints (main/store/checkpointer.ts: a PASSIVE
 * checkpoint at most every CHECKPOINT_MS, between slices or while it waits for the writer), so
 * the writer, the slower side, does not stop ingest for them (~4% end to end measured).
 *
 * Run worker (the thread the host starts and watches): writes each batch, and every
 * commitIntervalMs commits (a prefix of the stream, with runs.event_count and the batch's units)
 * and posts progress. At the end it stores metrics, step results and status done/cancelled in one
 * transaction. On an exception on either thread it rolls back to the last commit, stops the
 * generator and posts `failed`; the host marks the run failed. If the run worker dies, the
 * generator dies with it, and every committed event stays readable.
 *
 * Start-up (loading tsx and compiling the core, ~0.5 s from source) happens before the job is
 * needed when the host starts the worker as a warm standby (protocol.ts StandbyData): both threads
 * load their modules, the run worker posts `ready`, and the job arrives by message. A cold worker
 * (RunJob as workerData) goes through the same steps without waiting. One run per worker: it
 * exits after its run, so no state crosses runs.
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
  BATCHES_CONSUMED,
  CANCEL_FLAG,
  type GeneratorJob,
  type GeneratorMessage,
  type GeneratorTask,
  type JobMessage,
  type SpentBatch,
  type ParseMessage,
  type ParsedMessage,
  type ReplayRequest,
  type RunJob,
  type StandbyData,
  type WorkerMessage,
  type WorkerTestHooks,
} from './protocol.ts';

/** What a RunJob.testHooks module exports. */
interface TestHooksModule {
  workerHooks(options: unknown): WorkerTestHooks;
}

/** Target duration of one advance() slice in the generator (ms). */
const SLICE_MS = 5;
const MIN_BUDGET = 1;
const MAX_BUDGET = 1 << 20;
/** A batch is posted once it holds this many events, or BATCH_MS after the previous one. */
const BATCH_EVENTS = 16384;
const BATCH_MS = 20;
/** Batches posted and not yet consumed by the writer before the generator waits. */
const MAX_INFLIGHT = 4;

function errorText(e: unknown): string {
  const err = e as Error;
  return err?.stack ? `${err.message}\n${err.stack.split('\n').slice(1, 6).join('\n')}` : String(e);
}

/**
 * The stored error of a run whose write failed: one sentence for a full disk or an I/O error (what
 * happened, that committed events stay, what to do), errorText for anything else.
 */
function writeFailureText(e: unknown, committed: number): string {
  const code = String((e as { code?: unknown })?.code ?? '');
  const kept = `the run keeps the ${committed} events stored before it`;
  if (code === 'SQLITE_FULL') return `cannot store events: the disk is full (${(e as Error).message}); ${kept}. Free some space and run it again`;
  if (code.startsWith('SQLITE_IOERR')) return `cannot store events: disk I/O error (${(e as Error).message}, ${code}); ${kept}. Check the disk and run it again`;
  return errorText(e);
}

/**
 * Generator thread: loads the core; parses the scenarios it is sent (ParseMessage: the reply is a
 * ParsedMessage, and a valid scenario is kept for the run), then runs the task's scenario as a
 * Source (core/source) and posts its events as batches.
 */
async function generate(data: GeneratorJob): Promise<void> {
  const port = parentPort!;
  // Modules are loaded here, not at the top of the file: both threads run this entry, and each
  // loads only what it needs, in parallel (the generator is started before the writer loads).
  const modules = Promise.all([
    import('../../core/source/index.ts'),
    import('../../core/scenario/index.ts'),
    import('../store/batch.ts'),
    import('../store/checkpointer.ts'),
    import('../../core/run/dma.ts'),
    import('../../core/run/config.ts'),
  ]);
  type Scenario = import('../../core/scenario/model.ts').Scenario;
  type PreparedReplay = import('../../core/replay/replay.ts').PreparedReplay;
  type Prepared = { scenario: Scenario; replay?: undefined } | { scenario?: undefined; replay: PreparedReplay };
  /**
   * Parses `text`; with `replay`, prepares the replay of the stored trace against its
   * configuration (the trace's events read here, from the database; core/replay).
   */
  const prepare = async (text: string, file: string, replay: ReplayRequest | undefined): Promise<{ prepared: Prepared | null; reply: ParsedMessage }> => {
    const [, { parseScenario }, , , { scenarioUnits }, { runConfig }] = await modules;
    if (replay === undefined) {
      const { scenario, diagnostics, variants } = parseScenario(text, file);
      const reply: ParsedMessage = { type: 'parsed', diagnostics };
      if (scenario) reply.summary = { name: scenario.name, steps: scenario.steps.length, totalUnits: scenarioUnits(scenario), config: runConfig(scenario) };
      // `variants:` — the host runs each variant's text in turn (main/service/variant-runs.ts).
      if (variants) reply.variants = variants.map((v) => ({ variant: v.variant, text: v.text, summary: { name: v.name, steps: v.merged.steps.length, totalUnits: scenarioUnits(v.merged), config: runConfig(v.merged) } }));
      return { prepared: scenario ? { scenario } : null, reply };
    }
    const [{ deriveIntent }, { prepareReplay, replayUnits }, { iterateTraceRows }] = await Promise.all([import('../../core/replay/intent.ts'), import('../../core/replay/replay.ts'), import('../store/trace-rows.ts')]);
    const intent = deriveIntent(iterateTraceRows(replay.dbPath, replay.trace.runId));
    const { diagnostics, prepared } = prepareReplay(intent, text, file, replay.trace, replay.variant);
    const reply: ParsedMessage = { type: 'parsed', diagnostics };
    if (prepared) reply.summary = { name: prepared.name, steps: prepared.scenario.steps.length, totalUnits: replayUnits(prepared), config: prepared.config, replay: prepared.record };
    return { prepared: prepared ? { replay: prepared } : null, reply };
  };
  // Listen before loading anything: the run worker may send at once (a cold start's task, or a
  // parse request to a standby still loading). Parses run in arrival order once the modules are
  // loaded. After the task the listener goes, so the port no longer keeps this thread alive.
  let kept: Prepared | null = null;
  let parsing: Promise<void> = Promise.resolve();
  let taskArrived!: (t: GeneratorTask) => void;
  const task = new Promise<GeneratorTask>((resolve) => (taskArrived = resolve));
  const onMessage = (m: ParseMessage | GeneratorTask) => {
    if (m.type === 'task') {
      port.off('message', onMessage);
      taskArrived(m);
      return;
    }
    parsing = parsing.then(async () => {
      let r: Awaited<ReturnType<typeof prepare>>;
      try {
        r = await prepare(m.text, m.file, m.replay);
      } catch (e) {
        // The trace could not be read (database gone, damaged): a diagnostic, nothing stored.
        r = { prepared: null, reply: { type: 'parsed', diagnostics: [{ file: m.file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message: `cannot read trace ${m.replay?.trace.runId ?? ''}: ${(e as Error).message}` }] } };
      }
      kept = r.prepared;
      port.postMessage(r.reply satisfies GeneratorMessage);
    });
  };
  port.on('message', onMessage);
  const [{ scenarioSource }, { formatDiagnostic }, { BatchEncoder, batchTransfer }, { Checkpointer }] = await modules;
  port.postMessage({ type: 'ready' } satisfies GeneratorMessage);
  const job = await task;
  await parsing;
  const cancel = new Int32Array(job.cancel);
  const ctl = new Int32Array(data.ctl);
  let prepared: Prepared | null = kept;
  if (job.text !== undefined) {
    const r = await prepare(job.text, job.file ?? 'scenario.yaml', job.replay);
    prepared = r.prepared;
    if (!prepared) {
      // The host validated the text before creating the run; reaching this is a bug, not user input.
      throw new Error(`scenario became invalid in the worker:\n${r.reply.diagnostics.map(formatDiagnostic).join('\n')}`);
    }
  }
  if (!prepared) throw new Error('run task without a scenario: neither its text nor a valid parse came first');
  const checkpointer = new Checkpointer(job.dbPath);
  const enc = new BatchEncoder(BATCH_EVENTS + (BATCH_EVENTS >> 1));
  // The source drives the machine it builds; its events go straight into the batch encoder.
  const replayRun = prepared.replay ? new (await import('../../core/replay/replay.ts')).ReplayRun(prepared.replay, { onEvent: enc.emit }) : null;
  const run: import('../../core/source/index.ts').Source = replayRun ?? scenarioSource(prepared.scenario!, { onEvent: enc.emit });
  let posted = 0;
  const spent = job.spent;
  const send = () => {
    // Arrays of batches already written come back for the next ones (GeneratorTask.spent).
    for (let m; spent && (m = receiveMessageOnPort(spent)) !== undefined; ) enc.reuse(m.message as SpentBatch);
    const batch = enc.take(run.doneUnits, run.totalUnits);
    port.postMessage({ type: 'batch', batch } satisfies GeneratorMessage, batchTransfer(batch));
    posted++;
    for (;;) {
      const consumed = Atomics.load(ctl, BATCHES_CONSUMED);
      if (posted - consumed <= MAX_INFLIGHT) break;
      // Waiting for the writer: time for a checkpoint.
      if (!checkpointer.maybe()) Atomics.wait(ctl, BATCHES_CONSUMED, consumed, 20);
    }
  };
  let budget = 64;
  let lastPost = performance.now();
  let more = true;
  let cancelled = false;
  while (more) {
    if (Atomics.load(cancel, CANCEL_FLAG) !== 0) {
      cancelled = true;
      break;
    }
    const t0 = performance.now();
    more = run.advance(budget);
    const t1 = performance.now();
    const dt = t1 - t0;
    if (dt < SLICE_MS / 2 && budget < MAX_BUDGET) budget *= 2;
    else if (dt > SLICE_MS * 2 && budget > MIN_BUDGET) budget = Math.max(MIN_BUDGET, budget >> 1);
    if (enc.count >= BATCH_EVENTS || (enc.count > 0 && t1 - lastPost >= BATCH_MS)) {
      send();
      lastPost = performance.now();
    }
    checkpointer.maybe();
  }
  if (enc.count > 0) send();
  spent?.close();
  checkpointer.close();
  port.postMessage({
    type: 'end',
    cancelled,
    failure: run.failure,
    doneUnits: run.doneUnits,
    totalUnits: run.totalUnits,
    metrics: run.metrics(),
    stepResults: run.stepResults(),
    ...(replayRun ? { source: replayRun.record() } : {}),
  } satisfies GeneratorMessage);
}

/** The job of this run worker once known (for the failure message of a standby that got one). */
let currentJob: RunJob | null = null;

/**
 * Run worker: starts the generator thread and loads the writer; a standby then posts `ready` and
 * waits for its job. With the job it opens the writer, hands the scenario to the generator and
 * writes what it posts, to the end of the run.
 */
async function main(data: RunJob | StandbyData): Promise<void> {
  const port = parentPort!;
  const standby = 'role' in data && data.role === 'standby';
  const ctl = new Int32Array(new SharedArrayBuffer(4));
  const genJob: GeneratorJob = { role: 'generator', ctl: ctl.buffer as SharedArrayBuffer };
  const entry = data.entry ?? { file: fileURLToPath(import.meta.url), execArgv: process.execArgv };
  const gen = new Worker(entry.file, { workerData: genJob, execArgv: entry.execArgv });
  // A standby takes parse requests (relayed to the generator, which parses and keeps the
  // scenario; its replies are relayed back below) until its job arrives.
  let parsedOk = false;
  const jobArrived: Promise<RunJob> = standby
    ? new Promise((resolve) => {
        const onHostMessage = (m: JobMessage | ParseMessage) => {
          if (m.type === 'parse') {
            gen.postMessage(m satisfies ParseMessage);
            return;
          }
          port.off('message', onHostMessage);
          resolve(m.job);
        };
        port.on('message', onHostMessage);
      })
    : Promise.resolve(data as RunJob);

  // Until the run starts, parse replies go to the host, other generator messages are queued (none
  // but `ready` is expected) and its death rejects `genReady`; then the handlers below take over.
  const early: GeneratorMessage[] = [];
  let onMessage = (m: GeneratorMessage) => {
    if (m.type === 'ready') markReady();
    else if (m.type === 'parsed') {
      parsedOk = m.summary !== undefined;
      port.postMessage(m satisfies WorkerMessage);
    } else early.push(m);
  };
  let onDown = (e: unknown) => markDown(e);
  let markReady!: () => void;
  let markDown!: (e: unknown) => void;
  const genReady = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markDown = reject;
  });
  gen.on('message', (m: GeneratorMessage) => onMessage(m));
  gen.on('error', (e) => onDown(e));
  gen.on('exit', (code) => onDown(new Error(`run generator thread exited (code ${code}) before the run ended`)));

  let EventWriter: typeof import('../store/writer.ts').EventWriter;
  try {
    [{ EventWriter }] = await Promise.all([import('../store/writer.ts'), genReady]);
  } catch (e) {
    await gen.terminate();
    throw e;
  }
  if (standby) port.postMessage({ type: 'ready' } satisfies WorkerMessage);
  const job = (currentJob = await jobArrived);
  port.postMessage({ type: 'started', runId: job.runId } satisfies WorkerMessage);
  let writer: import('../store/writer.ts').EventWriter;
  let hooks: WorkerTestHooks = {};
  try {
    // Test-only hooks (a crash, a full disk): imported only when a test passes a module.
    if (job.testHooks) hooks = ((await import(job.testHooks.module)) as TestHooksModule).workerHooks(job.testHooks.options);
    writer = new EventWriter(job.dbPath, job.runId);
    hooks.onWriterOpen?.(writer);
  } catch (e) {
    await gen.terminate();
    throw e;
  }
  const post = (m: WorkerMessage) => port.postMessage(m);
  // Written batches' arrays go back to the generator for reuse (GeneratorTask.spent).
  const spent = new MessageChannel();
  const interval = job.commitIntervalMs ?? 100;
  let commits = 0;
  let lastCommit = performance.now();
  let ended = false;

  // A failed write (full disk, I/O error) or a dead generator: roll back to the last commit and
  // record the run failed with its reason from here (the host's connection may be unable to
  // write too); the host marks it failed on exit if even that did not work.
  const fail = (e: unknown) => {
    if (ended) return;
    ended = true;
    spent.port1.close();
    const error = writeFailureText(e, writer.committedCount);
    writer.fail(error);
    void gen.terminate();
    post({ type: 'failed', runId: job.runId, error });
  };

  onMessage = (m: GeneratorMessage) => {
    if (ended) return;
    try {
      if (m.type === 'ready' || m.type === 'parsed') return;
      if (m.type === 'batch') {
        writer.writeBatch(m.batch);
        const { kinds, steps, masks, cols } = m.batch;
        spent.port1.postMessage({ kinds, steps, masks, cols } satisfies SpentBatch, [kinds.buffer as ArrayBuffer, steps.buffer as ArrayBuffer, masks.buffer as ArrayBuffer, cols.buffer as ArrayBuffer]);
        Atomics.add(ctl, BATCHES_CONSUMED, 1);
        Atomics.notify(ctl, BATCHES_CONSUMED);
        const now = performance.now();
        if (now - lastCommit >= interval) {
          writer.commit(m.batch.doneUnits, m.batch.totalUnits);
          lastCommit = performance.now();
          post({ type: 'progress', runId: job.runId, doneUnits: m.batch.doneUnits, totalUnits: m.batch.totalUnits, events: writer.eventCount });
          hooks.afterCommit?.(++commits);
        }
      } else {
        const status = m.failure !== null ? 'failed' : m.cancelled ? 'cancelled' : 'done';
        writer.finish({
          status,
          doneUnits: m.doneUnits,
          totalUnits: m.totalUnits,
          metrics: m.metrics,
          stepResults: m.stepResults,
          failedExpectations: m.metrics.expectations.failed,
          error: m.failure,
          // A replay's record with its divergences (runs.source).
          ...(m.source ? { source: m.source } : {}),
        });
        ended = true;
        spent.port1.close();
        post({ type: 'progress', runId: job.runId, doneUnits: m.doneUnits, totalUnits: m.totalUnits, events: writer.eventCount });
        post({ type: 'finished', runId: job.runId, status, error: m.failure, events: writer.eventCount, failedExpectations: m.metrics.expectations.failed });
      }
    } catch (e) {
      fail(e);
    }
  };
  onDown = fail;
  // After a valid parse the generator runs the scenario it kept (parsed once, on this side).
  const source = parsedOk ? {} : { text: job.text, file: job.file, replay: job.replay };
  gen.postMessage({ type: 'task', ...source, cancel: job.cancel, dbPath: job.dbPath, spent: spent.port2 } satisfies GeneratorTask, [spent.port2]);
  for (const m of early.splice(0)) onMessage(m);
}

const data = workerData as RunJob | StandbyData | GeneratorJob;
if ('role' in data && data.role === 'generator') {
  // An exception here ends the thread with an 'error' event: the run worker fails the run.
  await generate(data);
} else {
  main(data).catch((e: unknown) => {
    // Before a job (a standby that could not get ready) there is no run to fail: end the thread
    // with the error, and the host replaces the standby.
    if (!currentJob) throw e;
    parentPort!.postMessage({ type: 'failed', runId: currentJob.runId, error: errorText(e) } satisfies WorkerMessage);
  });
}
