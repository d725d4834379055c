/**
 * Replaying one stored trace against several configurations at once, in memory with events off
 * (issue 9 §2 and §4): a piscina pool of worker threads (main/worker/replay-task.ts), one task per
 * configuration, as many threads as the machine has cores (at most one per configuration). Each
 * thread derives the trace's intent once and reuses it for its next configurations. Used by
 * `iommu-lab replay --no-store` and the benchmark; stored replays go through the run host
 * (contract startReplay), which writes their events.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import { workerEntry } from './host.ts';
import type { ReplayTraceRef } from '../../core/replay/replay.ts';
import type { ReplaySummary, ReplayTask } from './replay-protocol.ts';

export type { ReplaySummary } from './replay-protocol.ts';

/** Options of replayConfigurations. */
export interface ReplayPoolOptions {
  /** Worker threads (default: the available parallelism, at most the number of configurations). */
  threads?: number;
}

/**
 * Replays the trace `trace` stored in `dbPath` against each configuration (scenario text and file
 * name), in parallel; resolves with one summary per configuration, in the given order. Errors: a
 * worker's exception (the database cannot be read) rejects.
 */
export async function replayConfigurations(dbPath: string, trace: ReplayTraceRef, configs: readonly { text: string; file: string; variant?: string }[], opts: ReplayPoolOptions = {}): Promise<ReplaySummary[]> {
  if (configs.length === 0) return [];
  const threads = Math.max(1, Math.min(opts.threads ?? os.availableParallelism(), configs.length));
  const entry = workerEntry(import.meta.url, 'replay-task');
  const pool = new Piscina<ReplayTask, ReplaySummary>({ filename: entry.file, execArgv: entry.execArgv, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
  try {
    return await Promise.all(configs.map((c) => pool.run({ dbPath, trace, text: c.text, file: c.file, ...(c.variant !== undefined ? { variant: c.variant } : {}) })));
  } finally {
    await pool.destroy();
  }
}
