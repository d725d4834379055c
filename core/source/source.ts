/**
 * A source drives a machine (DESIGN.md §2): a scenario's steps today; an imported trace and a
 * replay of one in later issues. The worker runs `source × machine → events` the same way whatever
 * the source: in budgeted slices (`advance`), reporting progress in units, and at the end the step
 * results and metrics. Events go wherever the source's options send them (the worker: straight into
 * its batch encoder).
 */
import type { RunMetrics, StepResult } from '../contract/index.ts';
import type { Machine } from '../machine/machine.ts';

/** What drives the machine: 'scenario' (steps of a YAML scenario). Imports and replays come later. */
export type SourceKind = 'scenario' | 'replay';

/** The contract a run host (the worker, the CLI, tests) drives a source through. */
export interface Source {
  readonly kind: SourceKind;
  /** A name for the run (the scenario's `name`). */
  readonly name: string;
  /** The machine it drives (built and realized when the source is created). */
  readonly machine: Machine;
  /**
   * Why the machine could not start (QEMU's message: a coldplugged device's realize failed, as
   * QEMU exits at startup), or null. A source that failed to start does no work; the run ends
   * `failed` with this text, its events so far kept.
   */
  readonly failure: string | null;
  /** Total progress units (scenario: core/run/dma.ts scenarioUnits). */
  readonly totalUnits: number;
  /** Units done so far (0 … totalUnits). */
  readonly doneUnits: number;
  /**
   * Does up to `budget` units of work (floored; ≤ 0 does nothing): a slice emits O(budget) events,
   * and the events do not depend on how the budget splits the work. Returns true while work remains.
   */
  advance(budget: number): boolean;
  /** One result per finished step, in order. */
  stepResults(): StepResult[];
  /** Metrics of every event emitted so far. */
  metrics(): RunMetrics;
}
