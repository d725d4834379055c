/**
 * Messages of the replay pool (main/service/replay-pool.ts ↔ main/worker/replay-task.ts): one task
 * per configuration, its summary back. Plain structured-cloneable data.
 */
import type { Diagnostic, ReplayDivergence } from '../../core/contract/index.ts';
import type { NotDerived } from '../../core/replay/intent.ts';
import type { ReplayTraceRef } from '../../core/replay/replay.ts';

/** Replay the stored trace `trace` (in `dbPath`) against the scenario `text` (`file` names it). */
export interface ReplayTask {
  dbPath: string;
  trace: ReplayTraceRef;
  text: string;
  file: string;
  /** For a scenario with `variants:`, the variant to replay against. */
  variant?: string;
}

/** What one configuration's replay gave (events off: counts, not events). */
export interface ReplaySummary {
  file: string;
  /** What the trace's intent held (the same for every configuration of a trace). */
  intent: { byOp: Record<string, number>; notDerived: NotDerived[]; assumptions: string[]; unattributedFaults: number };
  /** The scenario's diagnostics (errors: it did not parse, `outcome` null). */
  diagnostics: Diagnostic[];
  outcome: {
    name: string;
    /** The refusal (another vIOMMU model) or QEMU's message when the machine could not be built; else null. */
    failure: string | null;
    steps: number;
    /** Events the replay emitted (counted into the metrics, not kept). */
    events: number;
    requests: Record<string, Record<string, number>>;
    faults: number;
    divergenceCount: number;
    /** The first divergences (at most 100). */
    divergences: ReplayDivergence[];
    unbound: NotDerived[];
  } | null;
  /** Time this thread spent deriving the trace's intent for this task (0 when it was cached), and replaying, ms. */
  deriveMs: number;
  replayMs: number;
}
