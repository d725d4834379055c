/**
 * The runs of a scenario with `variants:` (issue 9 §3; core/scenario/variants.ts): one run per
 * variant, created together when the scenario is started, run one after the other in order.
 *
 * The run worker that parsed the scenario runs the first variant (RunHost.startRun: it kept the
 * first variant's scenario); each later variant starts when the one before it has finished
 * (done, failed or cancelled by the machine: the variants are independent configurations), on the
 * standby or a new worker, from its own expanded text (RunHost.start: the worker parses that text
 * where it runs it). Each run stores its variant's text, so it is reproducible alone, and a
 * `runs.source` record (VariantSourceInfo) with the variant's name and the group it belongs to.
 *
 * Cancelling any run of the group cancels the one running and, once it has ended, marks the
 * waiting ones cancelled (they never started: no events); closing the lab does the same for the
 * waiting ones.
 */
import { randomUUID } from 'node:crypto';
import type { Diagnostic, Notifications, VariantSourceInfo } from '../../core/contract/index.ts';
import type { LabStore } from '../store/store.ts';
import type { ParsedVariant, RunHost, StartOptions } from '../worker/host.ts';

/** startRun's `variant` names no variant of the scenario: nothing is created (a diagnostic for the caller). */
export class VariantNotFound extends Error {
  readonly diagnostic: Diagnostic;
  constructor(file: string, message: string) {
    super(message);
    this.name = 'VariantNotFound';
    this.diagnostic = { file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message };
  }
}

/** The variants of one startRun. */
interface Sequence {
  ids: number[];
  texts: string[];
  file: string;
  /** Index of the variant running now (the ones after it wait). */
  pos: number;
  /** Set when the group is cancelled (or the lab closes): why the waiting variants never start. */
  stop: string | null;
}

/** Options of VariantRuns. */
export interface VariantRunsOptions {
  store: LabStore;
  host: RunHost;
  /** Reports a run's end (the service's runFinished notification) for the variants that never start. */
  onFinished: (f: Notifications['runFinished']) => void;
  /** Options of every run's worker (LabServiceOptions.runOptions). */
  runOptions?: StartOptions;
}

/** Creates, sequences and cancels the runs of scenarios with variants. One per LabService. */
export class VariantRuns {
  private readonly byRun = new Map<number, Sequence>();

  constructor(private readonly opts: VariantRunsOptions) {}

  /**
   * Creates one run row per variant (in order; each with its text and VariantSourceInfo) and
   * registers them as a sequence whose first run is about to start. Returns their ids. `only`:
   * just the variant of that name (VariantNotFound when there is none). When a row cannot be
   * created (a full disk), the rows already made are marked failed and the error is thrown
   * (nothing runs).
   */
  create(file: string, variants: readonly ParsedVariant[], only?: string): number[] {
    if (only !== undefined && !variants.some((v) => v.variant === only)) {
      throw new VariantNotFound(file, `no variant named "${only}"; the variants are ${variants.map((v) => v.variant).join(', ')}`);
    }
    const group = randomUUID();
    const ids: number[] = [];
    const scenario = (name: string, variant: string) => name.slice(0, Math.max(0, name.length - variant.length - 3));
    const texts: string[] = [];
    try {
      variants.forEach((v, index) => {
        if (only !== undefined && v.variant !== only) return;
        texts.push(v.text);
        const source: VariantSourceInfo = { kind: 'variant', variant: v.variant, scenario: scenario(v.summary.name, v.variant), index, count: variants.length, group };
        ids.push(this.opts.store.createRun({ name: v.summary.name, file, scenarioText: v.text, steps: v.summary.steps, totalUnits: v.summary.totalUnits, config: v.summary.config, source }));
      });
    } catch (e) {
      for (const id of ids) {
        try {
          this.opts.store.markFailed(id, `the runs of the other variants could not be created: ${(e as Error).message}`);
        } catch {
          // The database is unavailable: the next open marks them failed (INTERRUPTED).
        }
        this.opts.store.release(id);
      }
      throw e;
    }
    const seq: Sequence = { ids: [...ids], texts, file, pos: 0, stop: null };
    for (const id of ids) this.byRun.set(id, seq);
    return ids;
  }

  /** A run has finished (called after its runFinished): the next variant of its sequence starts. */
  finished(runId: number): void {
    const seq = this.byRun.get(runId);
    if (!seq || seq.ids[seq.pos] !== runId) return;
    this.byRun.delete(runId);
    seq.pos++;
    if (seq.stop !== null) {
      this.cancelWaiting(seq, seq.pos, seq.stop);
      return;
    }
    if (seq.pos >= seq.ids.length) return;
    const id = seq.ids[seq.pos];
    try {
      this.opts.store.markStarted(id);
    } catch {
      // Busy with another run's writes past the timeout: the run keeps its creation time.
    }
    try {
      this.opts.host.start(id, seq.texts[seq.pos], seq.file, this.opts.runOptions);
    } catch (e) {
      // The host is closed: this one and the rest never start.
      this.cancelWaiting(seq, seq.pos, `not started: ${(e as Error).message}`);
    }
  }

  /**
   * Cancels the group of `runId`: the variant running now (as cancelRun does) and every variant
   * still waiting. False when `runId` is not a run of a group still in progress. The waiting ones
   * are marked when the running one has ended (`finished`): while it runs its writer holds the
   * database's write lock nearly all the time, and a write from here could wait past the busy
   * timeout (measured: SQLITE_BUSY under load).
   */
  cancel(runId: number): boolean {
    const seq = this.byRun.get(runId);
    if (!seq) return false;
    seq.stop ??= `cancelled before it started: the runs of this scenario's variants were cancelled (run ${runId})`;
    this.opts.host.cancel(seq.ids[seq.pos]);
    return true;
  }

  /**
   * The lab is closing: no waiting variant starts; each is marked cancelled when the one running
   * ends (RunHost.close cancels it, or terminates it: its runFinished comes either way).
   */
  close(): void {
    for (const seq of new Set(this.byRun.values())) seq.stop ??= 'cancelled before it started: the lab closed';
  }

  /** Marks the variants of `seq` from index `from` on cancelled, without running them (none of the group's runs is running). */
  private cancelWaiting(seq: Sequence, from: number, error: string): void {
    const waiting = seq.ids.splice(from);
    for (const id of waiting) {
      this.byRun.delete(id);
      let marked = false;
      try {
        marked = this.opts.store.markCancelledUnstarted(id, error);
      } catch {
        // The database is unavailable: the row stays `running` until the next open marks it failed.
      }
      this.opts.store.release(id);
      if (marked) this.opts.onFinished({ runId: id, status: 'cancelled', error });
    }
  }
}
