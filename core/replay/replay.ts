/**
 * Replaying a trace's intent (intent.ts) against a scenario's machine (issue 9 §2, first slice):
 * the scenario's configuration — machine, virtio-iommu properties, devices, host side — with the
 * trace's requests and device accesses as its steps, run by the lab's runner (core/run). The
 * outcome counts the requests by type and status and the faults, and lists the **divergences**:
 * a device access that faulted in the trace and not in the replay, or the reverse, with both
 * chains (the trace's translate and fault lines; the replay's step and fault event).
 * Only a virtio-iommu scenario can take virtio-iommu requests: another vIOMMU model is refused
 * with the reason. Pure: no I/O.
 */
import type { Diagnostic, RunConfig, RunMetrics } from '../contract/index.ts';
import { formatEvent } from '../events/format.ts';
import { computeMetrics } from '../events/metrics.ts';
import { runConfig } from '../run/config.ts';
import { ScenarioRun } from '../run/runner.ts';
import { parseScenario } from '../scenario/index.ts';
import type { ReplayIntent } from './intent.ts';

/** One divergence: a device access whose fault the trace and the replay disagree on. */
export interface Divergence {
  /** The replay step (its index) and the trace line of the access (virtio_iommu_translate). */
  step: number;
  traceLine: number;
  /** The trace's fault for the access (its line and text), or null when the trace translated it. */
  trace: string | null;
  /** The replay's fault event text, or null when the replay translated it. */
  replay: string | null;
}

/** What replaying a trace against one scenario gave. */
export interface ReplayOutcome {
  file: string;
  name: string;
  config: RunConfig;
  /** QEMU's message when the machine could not be built (realize failed, another vIOMMU model), else null. */
  failure: string | null;
  steps: number;
  /** Requests by type then status name (the run's metrics). */
  requests: Record<string, Record<string, number>>;
  /** Faults the replay raised. */
  faults: number;
  /** Every divergence, in step order. */
  divergences: Divergence[];
  metrics: RunMetrics;
}

/**
 * Replays `intent` against the scenario `text` (`file` names it in diagnostics). Returns the
 * scenario's diagnostics when it does not parse (no outcome), else the outcome.
 */
export function replayAgainst(intent: ReplayIntent, text: string, file: string): { diagnostics: Diagnostic[]; outcome?: ReplayOutcome } {
  const parsed = parseScenario(text, file);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (!parsed.scenario || errors.length > 0) return { diagnostics: parsed.diagnostics };
  const scenario = parsed.scenario;
  const config = runConfig(scenario);
  if (scenario.viommuModel !== 'virtio-iommu') {
    const failure = `the trace's requests are virtio-iommu requests; ${file} models ${scenario.viommuModel} (nothing replayed)`;
    return { diagnostics: parsed.diagnostics, outcome: { file, name: scenario.name, config, failure, steps: 0, requests: {}, faults: 0, divergences: [], metrics: computeMetrics([]) } };
  }
  // The scenario's configuration with the trace's steps (its own steps are not run).
  const replayed = { ...scenario, steps: intent.steps };
  const faultOf = new Map<number, string>();
  let faults = 0;
  const run = new ScenarioRun(replayed, {
    onEvent: (kind, step, payload) => {
      if (kind !== 'fault') return;
      faults++;
      if (!faultOf.has(step)) faultOf.set(step, formatEvent(kind, payload as Readonly<Record<string, unknown>>));
    },
  });
  while (run.advance(65_536));
  const divergences: Divergence[] = [];
  for (const [step, traceFault] of intent.traceFaultOf) {
    const replayFault = faultOf.get(step) ?? null;
    if ((traceFault === null) === (replayFault === null)) continue;
    divergences.push({ step, traceLine: intent.steps[step]!.line, trace: traceFault?.text ?? null, replay: replayFault });
  }
  divergences.sort((a, b) => a.step - b.step);
  const metrics = run.metrics();
  return { diagnostics: parsed.diagnostics, outcome: { file, name: scenario.name, config, failure: run.failure, steps: intent.steps.length, requests: metrics.requests, faults, divergences, metrics } };
}
