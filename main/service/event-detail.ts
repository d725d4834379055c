/**
 * getEventDetail behind the contract: the stored event (reader), resolved by core/events/detail.ts
 * against the run's devices (runs.config) and the step it belongs to. The step comes from the
 * run's stored scenario text, parsed again here; the last few parsed scenarios are kept, so
 * walking the events of one run parses its scenario once. A stored scenario already passed
 * parsing (and its size caps) when it was run.
 */
import type { EventDetail } from '../../core/contract/index.ts';
import { eventDetail } from '../../core/events/detail.ts';
import { parseScenario, type Scenario } from '../../core/scenario/index.ts';
import type { StoreReader } from '../store/reader.ts';

/** Parsed scenarios kept (per run id). */
const CACHE_SIZE = 4;

/** Builds event details from one reader. */
export class EventDetailSource {
  /** Parsed stored scenarios by run id (null: it no longer parses), oldest first. */
  private readonly scenarios = new Map<number, Scenario | null>();

  constructor(private readonly reader: StoreReader) {}

  /** The detail of event `seq` of run `runId`; null when the run or the event does not exist. */
  detail(runId: number, seq: number): EventDetail | null {
    const row = this.reader.getEvent(runId, seq);
    if (!row) return null;
    const run = this.reader.getRun(runId);
    if (!run) return null;
    const scenario = this.scenario(runId, run.scenarioText, run.file);
    const devices = run.config?.devices ?? scenario?.devices ?? [];
    return eventDetail(row, { devices, step: row.step >= 0 ? scenario?.steps[row.step] : undefined });
  }

  private scenario(runId: number, text: string, file: string): Scenario | null {
    if (this.scenarios.has(runId)) return this.scenarios.get(runId)!;
    let s: Scenario | null;
    try {
      const r = parseScenario(text, file);
      s = r.scenario && !r.diagnostics.some((d) => d.severity === 'error') ? r.scenario : null;
    } catch {
      s = null;
    }
    if (this.scenarios.size >= CACHE_SIZE) this.scenarios.delete(this.scenarios.keys().next().value!);
    this.scenarios.set(runId, s);
    return s;
  }
}
