/**
 * getEventDetail behind the contract: the stored event (reader), resolved by core/events/detail.ts
 * against the run's devices (runs.config) and its step's stored result (the request bytes the step
 * sent). Nothing is parsed here: this runs on the main thread (issue 6 §5.4). A finished run's
 * step results never change, so the last few are kept (a run's results are parsed from JSON once
 * while the user walks its events).
 */
import type { EventDetail, RunDetail } from '../../core/contract/index.ts';
import { eventDetail } from '../../core/events/detail.ts';
import type { StoreReader } from '../store/reader.ts';

/** Finished runs whose results are kept. */
const CACHE_SIZE = 4;

/** Builds event details from one reader. */
export class EventDetailSource {
  /** Finished runs by id, oldest first. */
  private readonly runs = new Map<number, RunDetail>();

  constructor(private readonly reader: StoreReader) {}

  /** The detail of event `seq` of run `runId`; null when the run or the event does not exist. */
  detail(runId: number, seq: number): EventDetail | null {
    const row = this.reader.getEvent(runId, seq);
    if (!row) return null;
    const run = this.run(runId);
    if (!run) return null;
    const step = row.step >= 0 ? (run.stepResults.find((s) => s.index === row.step) ?? undefined) : undefined;
    return eventDetail(row, { devices: run.config?.devices ?? [], step });
  }

  private run(runId: number): RunDetail | null {
    const hit = this.runs.get(runId);
    if (hit) return hit;
    const run = this.reader.getRun(runId);
    if (run && run.status !== 'running') {
      if (this.runs.size >= CACHE_SIZE) this.runs.delete(this.runs.keys().next().value!);
      this.runs.set(runId, run);
    }
    return run;
  }
}
