/**
 * Run worker (worker_threads entry): owns the run's SQLite writer and, inside it, one generator
 * thread that hosts the core runner (DESIGN.md §2: events go from the core into SQLite without
 * crossing to the main thread). Two threads so the core and SQLite run on two cores at once: the
 * generator encodes events into columnar batches (main/store/batch.ts) and transfers them to the
 * run worker, which inserts them; neither copies events through the main thread.
 *
 * Generator thread (role 'generator', same entry file): advance(budget) → encode events → post a
 * batch (with the progress units at its last event) every BATCH_EVENTS events or BATCH_MS → check
 * the cancel flag. The budget adapts so one slice takes ~SLICE_MS, which bounds cancel latency.
 * Backpressure: it waits while more than MAX_INFLIGHT batches are not yet consumed, so memory
 * stays bounded when SQLite is the slower side. At the end it posts metrics and step results.
 *
 * Run worker (the thread the host starts and watches): writes each batch, and every
 * commitIntervalMs commits (a prefix of the stream, with runs.event_count and the batch's units)
 * and posts progress. At the end it stores metrics, step results and status done/cancelled in one
 * transaction. On an exception on either thread it rolls back to the last commit, stops the
 * generator and posts `failed`; the host marks the run failed. If the run worker dies, the
 * generator dies with it, and every committed event stays readable.
 */
import { fileURLToPath } from 'node:url';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { BATCHES_CONSUMED, CANCEL_FLAG, type GeneratorJob, type GeneratorMessage, type RunJob, type WorkerMessage } from './protocol.ts';

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

function crashAfter(job: RunJob): number {
  const env = Number(process.env.IOMMU_LAB_TEST_CRASH_AFTER_COMMITS);
  return job.crashAfterCommits ?? (Number.isInteger(env) && env > 0 ? env : Infinity);
}

/** Generator thread: runs the scenario and posts its events as batches. */
async function generate(job: GeneratorJob): Promise<void> {
  // Modules are loaded here, not at the top of the file: both threads run this entry, and each
  // loads only what it needs, in parallel (the generator is started before the writer loads).
  const [{ ScenarioRun }, { formatDiagnostic, parseScenario }, { BatchEncoder, batchTransfer }] = await Promise.all([
    import('../../core/run/runner.ts'),
    import('../../core/scenario/index.ts'),
    import('../store/batch.ts'),
  ]);
  const port = parentPort!;
  const cancel = new Int32Array(job.cancel);
  const ctl = new Int32Array(job.ctl);
  const { scenario, diagnostics } = parseScenario(job.text, job.file);
  if (!scenario) {
    // The host validated the text before creating the run; reaching this is a bug, not user input.
    throw new Error(`scenario became invalid in the worker:\n${diagnostics.map(formatDiagnostic).join('\n')}`);
  }
  const enc = new BatchEncoder(BATCH_EVENTS + (BATCH_EVENTS >> 1));
  const run = new ScenarioRun(scenario, { onEvent: enc.emit });
  let posted = 0;
  const send = () => {
    const batch = enc.take(run.doneUnits, run.totalUnits);
    port.postMessage({ type: 'batch', batch } satisfies GeneratorMessage, batchTransfer(batch));
    posted++;
    for (;;) {
      const consumed = Atomics.load(ctl, BATCHES_CONSUMED);
      if (posted - consumed <= MAX_INFLIGHT) break;
      Atomics.wait(ctl, BATCHES_CONSUMED, consumed, 100);
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
  }
  if (enc.count > 0) send();
  port.postMessage({
    type: 'end',
    cancelled,
    doneUnits: run.doneUnits,
    totalUnits: run.totalUnits,
    metrics: run.metrics(),
    stepResults: run.stepResults(),
  } satisfies GeneratorMessage);
}

/** Run worker: starts the generator thread and writes what it posts, to the end of the run. */
async function main(job: RunJob): Promise<void> {
  const ctl = new Int32Array(new SharedArrayBuffer(4));
  const genJob: GeneratorJob = { role: 'generator', text: job.text, file: job.file, cancel: job.cancel, ctl: ctl.buffer as SharedArrayBuffer };
  const entry = job.entry ?? { file: fileURLToPath(import.meta.url), execArgv: process.execArgv };
  const gen = new Worker(entry.file, { workerData: genJob, execArgv: entry.execArgv });
  let writer: import('../store/writer.ts').EventWriter;
  try {
    const { EventWriter } = await import('../store/writer.ts');
    writer = new EventWriter(job.dbPath, job.runId);
  } catch (e) {
    await gen.terminate();
    throw e;
  }
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const interval = job.commitIntervalMs ?? 100;
  const crashAt = crashAfter(job);
  let commits = 0;
  let lastCommit = performance.now();
  let ended = false;

  const fail = (e: unknown) => {
    if (ended) return;
    ended = true;
    writer.abort();
    void gen.terminate();
    post({ type: 'failed', runId: job.runId, error: errorText(e) });
  };

  gen.on('message', (m: GeneratorMessage) => {
    if (ended) return;
    try {
      if (m.type === 'batch') {
        writer.writeBatch(m.batch);
        Atomics.add(ctl, BATCHES_CONSUMED, 1);
        Atomics.notify(ctl, BATCHES_CONSUMED);
        const now = performance.now();
        if (now - lastCommit >= interval) {
          writer.commit(m.batch.doneUnits, m.batch.totalUnits);
          lastCommit = performance.now();
          post({ type: 'progress', runId: job.runId, doneUnits: m.batch.doneUnits, totalUnits: m.batch.totalUnits, events: writer.eventCount });
          if (++commits >= crashAt) process.exit(1);
        }
      } else {
        const status = m.cancelled ? 'cancelled' : 'done';
        writer.finish({
          status,
          doneUnits: m.doneUnits,
          totalUnits: m.totalUnits,
          metrics: m.metrics,
          stepResults: m.stepResults,
          failedExpectations: m.metrics.expectations.failed,
          error: null,
        });
        ended = true;
        post({ type: 'progress', runId: job.runId, doneUnits: m.doneUnits, totalUnits: m.totalUnits, events: writer.eventCount });
        post({ type: 'finished', runId: job.runId, status, events: writer.eventCount, failedExpectations: m.metrics.expectations.failed });
      }
    } catch (e) {
      fail(e);
    }
  });
  gen.on('error', fail);
  gen.on('exit', (code) => fail(new Error(`run generator thread exited (code ${code}) before the run ended`)));
}

const data = workerData as RunJob | GeneratorJob;
if ('role' in data && data.role === 'generator') {
  // An exception here ends the thread with an 'error' event: the run worker fails the run.
  await generate(data);
} else {
  const job = data as RunJob;
  main(job).catch((e: unknown) => parentPort!.postMessage({ type: 'failed', runId: job.runId, error: errorText(e) } satisfies WorkerMessage));
}
