/**
 * Replaying a trace's intent (intent.ts) against a scenario's machine (issue 9 §2): the scenario's
 * configuration — machine, vIOMMU properties, devices, host side, guest DMA layer — with the
 * trace's requests, DMA API calls and device accesses as its steps, run by the lab's runner
 * (core/run). A replay is a Source (core/source): the run worker stores it as a run like any
 * other (its record in runs.source, kind 'replay'), and `replayAgainst` runs it in memory.
 *
 * The outcome lists the **divergences**: a device access that faulted in the trace and not in the
 * replay, or the reverse, with both chains (the trace's fault line; the replay's step outcome).
 * Guest calls are bound to the configuration's devices by PCI address (bindIntent); calls of a
 * device the configuration does not have are counted, not replayed. Requests and guest calls need
 * a virtio-iommu configuration (the guest DMA layer drives virtio-iommu only; QEMU's requests are
 * virtio-iommu requests): another vIOMMU model is refused with the reason — a trace of device
 * accesses alone (a kernel log's faults) replays on any model. Pure: no I/O.
 */
import { isMap, parseDocument } from 'yaml';
import type { Diagnostic, ReplayDivergence, ReplaySourceInfo, RunConfig, RunMetrics, StepResult } from '../contract/index.ts';
import { computeMetrics } from '../events/metrics.ts';
import { bdfToString } from '../events/text.ts';
import { runConfig } from '../run/config.ts';
import { scenarioUnits } from '../run/dma.ts';
import { ScenarioRun, type ScenarioRunOptions } from '../run/runner.ts';
import type { Machine } from '../machine/machine.ts';
import { parseScenario } from '../scenario/index.ts';
import type { Scenario, ScenarioStep } from '../scenario/model.ts';
import type { Source } from '../source/source.ts';
import { opCounts, type NotDerived, type ReplayIntent, type TraceFault } from './intent.ts';

export type Divergence = ReplayDivergence;

/** Divergences kept in a replay's record (all are counted). */
export const DIVERGENCES_KEPT = 1000;

/** The trace being replayed, as the replay's record names it. */
export interface ReplayTraceRef {
  runId: number;
  name: string;
  format: ReplaySourceInfo['trace']['format'];
  sha256: string;
}

/** The intent bound to one configuration: its steps (renumbered) and what could not be bound. */
export interface BoundIntent {
  steps: ScenarioStep[];
  traceFaultOf: Map<number, TraceFault | null>;
  /** Guest calls of devices the configuration does not have, by PCI address. */
  unbound: NotDerived[];
}

/**
 * Binds the guest calls of `intent` to `scenario`'s devices by requester ID (the PCI address):
 * the guest layer finds a call's device by its endpoint (GuestStepRunner.run), so a call keeps
 * the trace's PCI address as its device; calls of devices the scenario does not declare are left
 * out and counted (with the accesses into their buffers). Requests and raw accesses are kept as
 * is. When every device is there, the intent's own steps are returned untouched (no pass over
 * them: one intent is replayed against many configurations); else renumbered copies.
 */
export function bindIntent(intent: ReplayIntent, scenario: Scenario): BoundIntent {
  const names = new Map<number, string>();
  for (const d of scenario.devices) names.set(d.endpoint, d.name);
  // The common case: the configuration has every device the trace's calls name.
  if (intent.endpoints.every((ep) => names.has(ep))) return { steps: intent.steps, traceFaultOf: intent.traceFaultOf, unbound: [] };
  const steps: ScenarioStep[] = [];
  const traceFaultOf = new Map<number, TraceFault | null>();
  const unbound = new Map<number, NotDerived>();
  const dropped = new Set<string>();
  for (const s of intent.steps) {
    if (s.op === 'dma-map' || s.op === 'dma-unmap' || (s.op === 'dma' && s.handle !== undefined)) {
      const name = names.get(s.endpoint);
      if (name === undefined || (s.op !== 'dma-map' && s.op !== 'dma-unmap' && dropped.has(s.handle!))) {
        if (s.op === 'dma-map' && s.out !== undefined) dropped.add(s.out);
        const u = unbound.get(s.endpoint);
        if (u) u.count++;
        else unbound.set(s.endpoint, { event: `calls of ${bdfToString(s.endpoint)}`, count: 1, firstLine: s.line, why: `no device at ${bdfToString(s.endpoint)} in ${scenario.file}: its DMA API calls and accesses are not replayed` });
        continue;
      }
    }
    const index = steps.length;
    if (intent.traceFaultOf.has(s.index)) traceFaultOf.set(index, intent.traceFaultOf.get(s.index)!);
    steps.push({ ...s, index });
  }
  return { steps, traceFaultOf, unbound: [...unbound.values()] };
}

/** A replay ready to run: the scenario with the trace's steps, and its record. */
export interface PreparedReplay {
  /** The configuration's scenario with the bound steps in place of its own. */
  scenario: Scenario;
  config: RunConfig;
  /** The replay run's name: "<scenario name> ← <trace name>". */
  name: string;
  /** Why this configuration cannot take the trace (nothing is replayed), else null. */
  refusal: string | null;
  bound: BoundIntent;
  /** The record stored in runs.source (divergences filled in at the end). */
  record: ReplaySourceInfo;
}

/**
 * Prepares the replay of `intent` against the scenario `text` (`file` names it). Returns the
 * scenario's diagnostics when it does not parse (no replay). A trace with guest calls gets the
 * configuration's guest DMA layer, its defaults when the scenario has no `guest:` block. A
 * scenario with `variants:` needs `variant` (one of its names: that variant's configuration,
 * named "<file> [<variant>]"); without it, or for a name it lacks, an error diagnostic lists them.
 */
export function prepareReplay(intent: ReplayIntent, text: string, file: string, trace: ReplayTraceRef, variant?: string): { diagnostics: Diagnostic[]; prepared?: PreparedReplay } {
  let source = text;
  if (intent.guest) {
    // The guest's calls need a guest DMA layer: the scenario's, or Linux's defaults (`guest: {}`).
    const doc = parseDocument(text);
    // (Not for intel-iommu: the guest layer drives virtio-iommu only, and the replay is refused below.)
    if (doc.errors.length === 0 && isMap(doc.contents) && !doc.has('guest') && doc.getIn(['viommu', 'model']) !== 'intel-iommu') {
      doc.set('guest', doc.createNode({}));
      source = doc.toString();
    }
  }
  const parsed = parseScenario(source, file);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (!parsed.scenario || errors.length > 0) return { diagnostics: parsed.diagnostics };
  // A scenario with `variants:` is several configurations: a replay takes one, by name.
  if (parsed.variants && parsed.variants.length > 0) {
    const names = parsed.variants.map((v) => v.variant);
    const v = variant === undefined ? undefined : parsed.variants.find((x) => x.variant === variant);
    if (v === undefined) {
      const message = variant === undefined ? `${file} has ${names.length} variants (${names.join(', ')}): a replay takes one configuration — replay against each variant by name` : `${file} has no variant "${variant}" (its variants: ${names.join(', ')})`;
      return { diagnostics: [...parsed.diagnostics, { file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message, path: 'variants' }] };
    }
    return prepareReplay(intent, v.text, `${file} [${v.variant}]`, trace);
  }
  if (variant !== undefined) return { diagnostics: [...parsed.diagnostics, { file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message: `${file} has no variants: no variant "${variant}" to replay against`, path: 'variants' }] };
  const base = parsed.scenario;
  const bound = bindIntent(intent, base);
  const byOp = bound.steps === intent.steps ? { ...intent.byOp } : opCounts(bound.steps);
  // Another vIOMMU model takes device accesses (intel-iommu: realize level, translation identity)
  // but not virtio-iommu requests, nor guest calls (the guest DMA layer drives virtio-iommu only).
  const requests = ['attach', 'detach', 'map', 'unmap'].some((op) => byOp[op] !== undefined);
  const refusal =
    base.viommuModel !== 'virtio-iommu' && (intent.guest || requests)
      ? `the trace's ${intent.guest ? 'DMA API calls drive the guest DMA layer, which drives virtio-iommu only' : 'requests are virtio-iommu requests'}; ${file} models ${base.viommuModel} (nothing replayed)`
      : null;
  const scenario: Scenario = { ...base, steps: refusal === null ? bound.steps : [] };
  const record: ReplaySourceInfo = {
    kind: 'replay',
    trace: { runId: trace.runId, name: trace.name, format: trace.format, sha256: trace.sha256 },
    against: file,
    byOp,
    divergenceCount: 0,
    divergences: [],
    notDerived: [...intent.notDerived, ...bound.unbound],
    assumptions: intent.assumptions,
    unattributedFaults: intent.unattributedFaults.length,
  };
  return { diagnostics: parsed.diagnostics, prepared: { scenario, config: runConfig(scenario), name: `${base.name} ← ${trace.name}`, refusal, bound, record } };
}

const FLAG_TEXT: Readonly<Record<string, string>> = { read: 'R', write: 'W', address: 'ADDRESS' };

/**
 * A replayed access's fault as the fault event prints it (catalog 'fault': `FAULT <reason>
 * ep=<bdf> addr=<address> flags=<R|W|ADDRESS>`), from its dma step's outcome; null when the access
 * did not fault.
 */
function replayFaultText(step: ScenarioStep, r: StepResult | undefined): string | null {
  const o = r?.outcome as { fault?: { reason?: string; address?: string; flags?: string[] } } | undefined;
  if (o?.fault === undefined || step.op !== 'dma') return null;
  const flags = (o.fault.flags ?? []).map((f) => FLAG_TEXT[f] ?? f).join('|') || '0';
  return `FAULT ${o.fault.reason ?? '?'} ep=${bdfToString(step.endpoint)} addr=${o.fault.address ?? '?'} flags=${flags}`;
}

/** The divergences of a replay's step results from the trace's faults (all of them, in step order). */
export function divergencesOf(bound: BoundIntent, results: readonly StepResult[]): Divergence[] {
  const byIndex = new Map<number, StepResult>();
  for (const r of results) if (r.op === 'dma') byIndex.set(r.index, r);
  const out: Divergence[] = [];
  for (const [step, traceFault] of bound.traceFaultOf) {
    const r = byIndex.get(step);
    if (r === undefined) continue; // not reached (cancelled, the machine failed)
    const replay = replayFaultText(bound.steps[step]!, r);
    if ((traceFault === null) === (replay === null)) continue;
    const skipped = (r.outcome as { skipped?: string } | undefined)?.skipped;
    out.push({ step, traceLine: bound.steps[step]!.line, trace: traceFault?.text ?? null, replay: replay ?? (skipped !== undefined ? `step ${step}: ${skipped}` : null) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * A replay as a Source: the prepared scenario run by ScenarioRun (events where `opts` sends them),
 * with the record's divergences filled from the step results when it ends (`record()`). It keeps
 * the notable step results only (device accesses, steps that failed: ScenarioRunOptions
 * stepResults 'notable'): a trace of millions of calls stores its events, not a result per call.
 */
export class ReplayRun implements Source {
  readonly kind = 'replay' as const;
  private readonly run: ScenarioRun;

  constructor(
    readonly prepared: PreparedReplay,
    opts?: ScenarioRunOptions,
  ) {
    // Only the notable step results (accesses, failures): the guest calls' events tell the rest.
    this.run = new ScenarioRun(prepared.scenario, { ...opts, stepResults: 'notable' });
  }

  get name(): string {
    return this.prepared.name;
  }
  get machine(): Machine {
    return this.run.machine;
  }
  get failure(): string | null {
    return this.prepared.refusal ?? this.run.failure;
  }
  get totalUnits(): number {
    return this.run.totalUnits;
  }
  get doneUnits(): number {
    return this.run.doneUnits;
  }
  advance(budget: number): boolean {
    if (this.prepared.refusal !== null) return false;
    return this.run.advance(budget);
  }
  stepResults(): StepResult[] {
    return this.run.stepResults();
  }
  metrics(): RunMetrics {
    return this.run.metrics();
  }

  /** Every divergence so far, in step order. */
  divergences(): Divergence[] {
    return divergencesOf(this.prepared.bound, this.run.stepResults());
  }

  /** The record to store (runs.source): the prepared one with the divergences (the first DIVERGENCES_KEPT). */
  record(): ReplaySourceInfo {
    const all = this.divergences();
    return { ...this.prepared.record, divergenceCount: all.length, divergences: all.slice(0, DIVERGENCES_KEPT) };
  }
}

/** Progress units of a prepared replay (the runner's: core/run/dma.ts scenarioUnits). */
export function replayUnits(p: PreparedReplay): number {
  return scenarioUnits(p.scenario);
}

/** What replaying a trace against one scenario gave (in memory). */
export interface ReplayOutcome {
  file: string;
  name: string;
  config: RunConfig;
  /** Why nothing (or not everything) was replayed: QEMU's message when the machine could not be built, or the refusal of another vIOMMU model; else null. */
  failure: string | null;
  steps: number;
  /** Requests by type then status name (the run's metrics). */
  requests: Record<string, Record<string, number>>;
  /** Faults the replay raised (accesses whose step outcome is a fault). */
  faults: number;
  /** Every divergence, in step order. */
  divergences: Divergence[];
  /** Guest calls the configuration could not take (devices it does not have). */
  unbound: NotDerived[];
  metrics: RunMetrics;
  stepResults: StepResult[];
}

/** The trace reference used when a replay runs in memory (no stored trace named). */
const IN_MEMORY_TRACE: ReplayTraceRef = { runId: 0, name: 'trace', format: null, sha256: '' };

/**
 * Replays `intent` against the scenario `text` (`file` names it in diagnostics), in memory with
 * events off (`opts` may send them somewhere). Returns the scenario's diagnostics when it does
 * not parse (no outcome), else the outcome.
 */
export function replayAgainst(intent: ReplayIntent, text: string, file: string, opts?: ScenarioRunOptions, trace: ReplayTraceRef = IN_MEMORY_TRACE, variant?: string): { diagnostics: Diagnostic[]; outcome?: ReplayOutcome } {
  const { diagnostics, prepared } = prepareReplay(intent, text, file, trace, variant);
  if (!prepared) return { diagnostics };
  if (variant !== undefined) file = `${file} [${variant}]`;
  if (prepared.refusal !== null) {
    return { diagnostics, outcome: { file, name: prepared.scenario.name, config: prepared.config, failure: prepared.refusal, steps: 0, requests: {}, faults: 0, divergences: [], unbound: prepared.bound.unbound, metrics: computeMetrics([]), stepResults: [] } };
  }
  const run = new ReplayRun(prepared, opts ?? { record: false });
  while (run.advance(1 << 20));
  const stepResults = run.stepResults();
  let faults = 0;
  for (const r of stepResults) if (r.op === 'dma' && (r.outcome as { fault?: unknown } | undefined)?.fault !== undefined) faults++;
  const metrics = run.metrics();
  return {
    diagnostics,
    outcome: { file, name: prepared.scenario.name, config: prepared.config, failure: run.failure, steps: prepared.bound.steps.length, requests: metrics.requests, faults, divergences: run.divergences(), unbound: prepared.bound.unbound, metrics, stepResults },
  };
}
