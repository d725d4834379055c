/**
 * Run worker (worker_threads entry): hosts the core runner for one run and owns the SQLite writer,
 * so events go from the core into SQLite without crossing threads (DESIGN.md §2).
 *
 * Loop: advance(budget) → write the events taken → every commitIntervalMs commit (a prefix of the
 * stream, with runs.event_count) and post progress → check the cancel flag. The budget adapts so
 * one slice takes ~10 ms, which bounds cancel latency. At the end the worker stores metrics, step
 * results and status done/cancelled in one transaction. On an exception it rolls back to the last
 * commit and posts `failed`; the host marks the run failed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ScenarioRun } from '../../core/run/runner.ts';
import { formatDiagnostic, parseScenario } from '../../core/scenario/index.ts';
import { EventWriter } from '../store/writer.ts';
import { CANCEL_FLAG, type RunJob, type WorkerMessage } from './protocol.ts';

/** Target duration of one advance() slice (ms). */
const SLICE_MS = 10;
const MIN_BUDGET = 1;
const MAX_BUDGET = 1 << 20;

function post(m: WorkerMessage): void {
  parentPort!.postMessage(m);
}

function crashAfter(job: RunJob): number {
  const env = Number(process.env.IOMMU_LAB_TEST_CRASH_AFTER_COMMITS);
  return job.crashAfterCommits ?? (Number.isInteger(env) && env > 0 ? env : Infinity);
}

/** Runs the job to completion, cancellation or failure. */
function main(job: RunJob): void {
  const cancel = new Int32Array(job.cancel);
  const { scenario, diagnostics } = parseScenario(job.text, job.file);
  if (!scenario) {
    // The host validated the text before creating the run; reaching this is a bug, not user input.
    throw new Error(`scenario became invalid in the worker:\n${diagnostics.map(formatDiagnostic).join('\n')}`);
  }
  const run = new ScenarioRun(scenario, { record: true });
  const writer = new EventWriter(job.dbPath, job.runId);
  try {
    const interval = job.commitIntervalMs ?? 100;
    const crashAt = crashAfter(job);
    let commits = 0;
    let budget = 64;
    let lastCommit = performance.now();
    let more = true;
    let cancelled = false;
    while (more) {
      if (Atomics.load(cancel, CANCEL_FLAG) !== 0) {
        cancelled = true;
        break;
      }
      const t0 = performance.now();
      more = run.advance(budget);
      writer.write(run.takeEvents());
      const t1 = performance.now();
      const dt = t1 - t0;
      if (dt < SLICE_MS / 2 && budget < MAX_BUDGET) budget *= 2;
      else if (dt > SLICE_MS * 2 && budget > MIN_BUDGET) budget = Math.max(MIN_BUDGET, budget >> 1);
      if (more && t1 - lastCommit >= interval) {
        writer.commit(run.doneUnits, run.totalUnits);
        lastCommit = performance.now();
        post({ type: 'progress', runId: job.runId, doneUnits: run.doneUnits, totalUnits: run.totalUnits, events: writer.eventCount });
        if (++commits >= crashAt) process.exit(1);
      }
    }
    const metrics = run.metrics();
    writer.finish({
      status: cancelled ? 'cancelled' : 'done',
      doneUnits: run.doneUnits,
      totalUnits: run.totalUnits,
      metrics,
      stepResults: run.stepResults(),
      failedExpectations: metrics.expectations.failed,
      error: null,
    });
    post({ type: 'progress', runId: job.runId, doneUnits: run.doneUnits, totalUnits: run.totalUnits, events: writer.eventCount });
    post({ type: 'finished', runId: job.runId, status: cancelled ? 'cancelled' : 'done', events: writer.eventCount, failedExpectations: metrics.expectations.failed });
  } catch (e) {
    writer.abort();
    throw e;
  }
}

const job = workerData as RunJob;
try {
  main(job);
} catch (e) {
  const err = e as Error;
  post({ type: 'failed', runId: job.runId, error: err?.stack ? `${err.message}\n${err.stack.split('\n').slice(1, 6).join('\n')}` : String(e) });
}
