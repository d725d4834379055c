/**
 * Replay pool task (a piscina worker module; main/service/replay-pool.ts): replays one stored trace
 * against one configuration in memory, events off (metrics only: core/replay replayAgainst with
 * `record: false`), and returns a summary that crosses threads cheaply. The trace's intent is
 * derived once per thread and kept for the next task on the same trace (a pool of 2 threads
 * replaying 8 configurations reads the trace twice, not 8 times).
 */
import type { ReplayIntent } from '../../core/replay/intent.ts';
import { deriveIntent } from '../../core/replay/intent.ts';
import { replayAgainst, type ReplayTraceRef } from '../../core/replay/replay.ts';
import { iterateTraceRows } from '../store/trace-rows.ts';
import type { ReplaySummary, ReplayTask } from './replay-protocol.ts';

/** Divergences returned per configuration (all are counted). */
const DIVERGENCES_RETURNED = 100;

let cached: { key: string; intent: ReplayIntent } | null = null;

/** The intent of the task's trace: derived from the database on this thread's first task for it. */
function intentOf(task: ReplayTask): ReplayIntent {
  const key = `${task.dbPath}\0${task.trace.runId}`;
  if (cached?.key !== key) cached = { key, intent: deriveIntent(iterateTraceRows(task.dbPath, task.trace.runId)) };
  return cached.intent;
}

/** Replays the task's trace against its configuration (piscina calls the default export). */
export default function replayTask(task: ReplayTask): ReplaySummary {
  const t0 = performance.now();
  const intent = intentOf(task);
  const t1 = performance.now();
  const trace: ReplayTraceRef = task.trace;
  const { diagnostics, outcome } = replayAgainst(intent, task.text, task.file, undefined, trace, task.variant);
  const t2 = performance.now();
  const info = { byOp: intent.byOp, notDerived: intent.notDerived, assumptions: intent.assumptions, unattributedFaults: intent.unattributedFaults.length };
  const file = task.variant === undefined ? task.file : `${task.file} [${task.variant}]`;
  if (!outcome) return { file, intent: info, diagnostics, outcome: null, deriveMs: t1 - t0, replayMs: t2 - t1 };
  return {
    file,
    intent: info,
    diagnostics,
    deriveMs: t1 - t0,
    replayMs: t2 - t1,
    outcome: {
      name: outcome.name,
      failure: outcome.failure,
      steps: outcome.steps,
      events: outcome.metrics.events,
      requests: outcome.requests,
      faults: outcome.faults,
      divergenceCount: outcome.divergences.length,
      divergences: outcome.divergences.slice(0, DIVERGENCES_RETURNED),
      unbound: outcome.unbound,
    },
  };
}
