/**
 * The scenario runner: executes a resolved Scenario against a virtio-iommu device, step by step,
 * producing the event stream, one StepResult per step and the run metrics.
 *
 * Work is measured in units (1 per step, `count` per workload step) and done in slices with
 * `advance(budget)`, so a host (the worker) can interleave progress reports, event draining and
 * cancellation; a workload step may be split across any number of calls without changing the
 * event stream. Deterministic: no clock, no randomness — the same scenario gives the same events.
 *
 * Event stamping: events of the setup (feature negotiation) carry step -1; every other event
 * carries the index of the step that produced it. A step with `expect` is followed by one
 * `expectation` event (after the step's own events).
 */
import type { Diagnostic, RunMetrics, StepResult } from '../contract/index.ts';
import type { EventKind, EventPayload } from '../events/catalog.ts';
import { EventLog, type EventSink, type SeqEvent } from '../events/sink.ts';
import { MetricsReducer } from '../events/metrics.ts';
import { parseScenario } from '../scenario/parse.ts';
import type { Scenario, ScenarioStep } from '../scenario/model.ts';
import { VirtioIommuDevice, type TranslateOutcome } from '../virtio-iommu/device.ts';
import {
  checkConfig,
  checkDma,
  checkProbe,
  checkStatus,
  checkWorkload,
  configJson,
  dmaJson,
  regionsJson,
  type DmaValue,
  type ExpectationCheck,
} from './expect.ts';
import {
  MAP_PHYS_START,
  MAP_VIRT_END,
  MAP_VIRT_START,
  TAIL_SIZE,
  decodeConfig,
  decodeProbeRegions,
  encodeAttach,
  encodeDetach,
  encodeMap,
  encodeProbe,
  encodeUnmap,
  replyStatus,
} from './wire.ts';

/** Options of a run. */
export interface ScenarioRunOptions {
  /**
   * Keep events for `takeEvents()` (default true). When false, events still feed the metrics but
   * are not kept (benchmarks, dry runs): `takeEvents()` returns [].
   */
  record?: boolean;
}

/** The sink the runner stamps: current step index, events out. */
interface StampingSink extends EventSink {
  step: number;
}

/** Feeds metrics only (record: false). */
class MetricsOnlySink implements StampingSink {
  readonly enabled = true;
  step = 0;
  constructor(private readonly metrics: MetricsReducer) {}
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    this.metrics.add({ kind, step: this.step, ...payload });
  }
}

/** Step index stamped on setup events (feature negotiation), which belong to no step. */
export const SETUP_STEP = -1;

/** Progress of a workload step that is split across advance() calls. */
interface WorkloadProgress {
  next: number;
  requests: Record<string, Record<string, number>>;
  translations: number;
  faults: number;
  failedRequests: number;
  firstFailure: string | undefined;
  mapReq: Uint8Array;
  mapView: DataView;
  unmapReq: Uint8Array;
  unmapView: DataView;
}

/** A run of one scenario. See the module comment for units, stamping and determinism. */
export class ScenarioRun {
  /** Total progress units: 1 per step, `count` per workload step. */
  readonly totalUnits: number;
  readonly scenario: Scenario;
  private done = 0;
  private stepIndex = 0;
  private workload: WorkloadProgress | null = null;
  private readonly results: StepResult[] = [];
  private readonly metricsReducer = new MetricsReducer();
  private readonly log: EventLog | null;
  private readonly sink: StampingSink;
  private readonly device: VirtioIommuDevice;

  constructor(scenario: Scenario, opts: ScenarioRunOptions = {}) {
    this.scenario = scenario;
    this.totalUnits = scenario.steps.reduce((n, s) => n + (s.op === 'workload' ? s.count : 1), 0);
    if (opts.record === false) {
      this.log = null;
      this.sink = new MetricsOnlySink(this.metricsReducer);
    } else {
      this.log = new EventLog((e) => this.metricsReducer.add(e));
      this.sink = this.log;
    }
    this.sink.step = SETUP_STEP;
    this.device = new VirtioIommuDevice(scenario.props, scenario.endpoints, this.sink);
    this.device.negotiate(scenario.driverFeatures);
  }

  /** Units executed so far (0 … totalUnits). */
  get doneUnits(): number {
    return this.done;
  }

  /** True once every step has run. */
  get finished(): boolean {
    return this.stepIndex >= this.scenario.steps.length;
  }

  /**
   * Executes up to `budget` units (non-integer budgets are floored; ≤ 0 does nothing). A workload
   * step stops mid-way when the budget runs out and resumes on the next call. Returns true while
   * work remains.
   */
  advance(budget: number): boolean {
    let left = Math.floor(budget);
    const steps = this.scenario.steps;
    while (left > 0 && this.stepIndex < steps.length) {
      const step = steps[this.stepIndex];
      this.sink.step = step.index;
      if (step.op === 'workload') {
        const used = this.runWorkload(step, left);
        left -= used;
        this.done += used;
        if (this.workload !== null) break; // budget exhausted mid-workload
      } else {
        this.results.push(this.runStep(step));
        left--;
        this.done++;
      }
      this.stepIndex++;
    }
    return this.stepIndex < steps.length;
  }

  /** Events emitted since the last call, in stream order (always [] when record is false). */
  takeEvents(): SeqEvent[] {
    return this.log ? this.log.take() : [];
  }

  /** One result per finished step, in step order (a workload step gives one summary). */
  stepResults(): StepResult[] {
    return this.results.slice();
  }

  /** Metrics of every event emitted so far. */
  metrics(): RunMetrics {
    return this.metricsReducer.result();
  }

  // -------------------------------------------------------------------------------------------

  private expectation(result: StepResult, check: ExpectationCheck): void {
    this.sink.emit('expectation', { held: check.held ? 1 : 0, detail: { expected: check.expected, actual: check.actual, message: check.message } });
    result.expectation = check.held;
    result.message = check.message;
  }

  private request(bytes: Uint8Array, writable: number): { status: string; reply: Uint8Array } {
    const reply = this.device.handleRequest(bytes, writable);
    return { status: replyStatus(reply), reply };
  }

  private readConfigValue() {
    return decodeConfig(this.device.readConfig());
  }

  private runStep(step: Exclude<ScenarioStep, { op: 'workload' }>): StepResult {
    const result: StepResult = { index: step.index, op: step.op, line: step.line };
    switch (step.op) {
      case 'attach':
      case 'detach':
      case 'map':
      case 'unmap':
      case 'request': {
        const bytes =
          step.op === 'attach'
            ? encodeAttach(step.domain, step.endpoint, step.flags, step.reserved)
            : step.op === 'detach'
              ? encodeDetach(step.domain, step.endpoint)
              : step.op === 'map'
                ? encodeMap(step.domain, step.virtStart, step.virtEnd, step.physStart, step.flags)
                : step.op === 'unmap'
                  ? encodeUnmap(step.domain, step.virtStart, step.virtEnd, step.reserved)
                  : step.bytes;
        const { status, reply } = this.request(bytes, step.op === 'request' ? step.writable : TAIL_SIZE);
        result.status = status;
        if (step.op === 'request') result.outcome = { used: reply.length };
        if (step.expect) this.expectation(result, checkStatus(step.expect, status));
        break;
      }
      case 'probe': {
        const size = this.scenario.props.probeSize;
        const { status, reply } = this.request(encodeProbe(step.endpoint), size + TAIL_SIZE);
        const regions = status === 'OK' && reply.length >= TAIL_SIZE ? decodeProbeRegions(reply.subarray(0, reply.length - TAIL_SIZE)) : [];
        result.status = status;
        result.outcome = { regions: regionsJson(regions) };
        if (step.expect) this.expectation(result, checkProbe(step.expect, status, regions));
        break;
      }
      case 'dma': {
        const v = dmaValue(this.device.translate(step.endpoint, step.addr, step.size, step.access));
        this.device.takeFaultRecords();
        result.outcome = dmaJson(v);
        if (step.expect) this.expectation(result, checkDma(step.expect, v));
        break;
      }
      case 'read-config': {
        const c = this.readConfigValue();
        result.outcome = { config: configJson(c) };
        if (step.expect) this.expectation(result, checkConfig(step.expect, c));
        break;
      }
      case 'set-bypass':
      case 'reset': {
        if (step.op === 'set-bypass') this.device.writeConfig(36, Uint8Array.of(step.value));
        else this.device.reset(step.system);
        // Checking config costs a real config read (and its config-read event): only with expect.
        if (step.expect) this.expectation(result, checkConfig(step.expect, this.readConfigValue()));
        break;
      }
    }
    return result;
  }

  /** Runs up to `budget` iterations of a workload step; returns the iterations done. */
  private runWorkload(step: Extract<ScenarioStep, { op: 'workload' }>, budget: number): number {
    let w = this.workload;
    if (w === null) {
      const mapReq = encodeMap(step.domain, 0n, 0n, 0n, step.flags);
      const unmapReq = encodeUnmap(step.domain, 0n, 0n, 0);
      w = this.workload = {
        next: 0,
        requests: {},
        translations: 0,
        faults: 0,
        failedRequests: 0,
        firstFailure: undefined,
        mapReq,
        mapView: new DataView(mapReq.buffer),
        unmapReq,
        unmapView: new DataView(unmapReq.buffer),
      };
    }
    const end = Math.min(step.count, w.next + budget);
    const start = w.next;
    const { map, dma, unmap } = step.ops;
    const size = step.size;
    const last = size - 1n;
    for (let i = start; i < end; i++) {
      const off = BigInt(i) * size;
      const iova = step.iovaBase + off;
      if (map) {
        w.mapView.setBigUint64(MAP_VIRT_START, iova, true);
        w.mapView.setBigUint64(MAP_VIRT_END, iova + last, true);
        w.mapView.setBigUint64(MAP_PHYS_START, step.physBase + off, true);
        this.countRequest(w, 'MAP', replyStatus(this.device.handleRequest(w.mapReq, TAIL_SIZE)));
      }
      if (dma) {
        const o = this.device.translate(step.endpoint, iova, size, step.access);
        if (o.kind === 'fault') {
          w.faults++;
          this.device.takeFaultRecords();
        } else w.translations++;
      }
      if (unmap) {
        w.unmapView.setBigUint64(8, iova, true);
        w.unmapView.setBigUint64(16, iova + last, true);
        this.countRequest(w, 'UNMAP', replyStatus(this.device.handleRequest(w.unmapReq, TAIL_SIZE)));
      }
    }
    w.next = end;
    if (end >= step.count) this.finishWorkload(step, w);
    return end - start;
  }

  private countRequest(w: WorkloadProgress, type: string, status: string): void {
    const row = (w.requests[type] ??= {});
    row[status] = (row[status] ?? 0) + 1;
    if (status !== 'OK') {
      w.failedRequests++;
      w.firstFailure ??= status;
    }
  }

  private finishWorkload(step: Extract<ScenarioStep, { op: 'workload' }>, w: WorkloadProgress): void {
    this.workload = null;
    const nreq = Object.values(w.requests).reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
    const result: StepResult = {
      index: step.index,
      op: step.op,
      line: step.line,
      status: nreq === 0 ? undefined : (w.firstFailure ?? 'OK'),
      outcome: { iterations: step.count, requests: w.requests, translations: w.translations, faults: w.faults, failedRequests: w.failedRequests },
      message: `${step.count} iterations: ${nreq} requests (${w.failedRequests ? `${w.failedRequests} failed` : 'all OK'}), ${w.translations} translations, ${w.faults} faults`,
    };
    if (step.expect) this.expectation(result, checkWorkload(step.expect, { faults: w.faults, failedRequests: w.failedRequests }));
    this.results.push(result);
  }
}

/** DMA outcome of a translate call, in the runner's terms. */
function dmaValue(o: TranslateOutcome): DmaValue {
  switch (o.kind) {
    case 'translated':
      return { kind: 'translated', phys: o.phys };
    case 'bypass':
      return { kind: 'bypass' };
    case 'msi':
      return { kind: 'msi' };
    case 'fault':
      return { kind: 'fault', reason: o.reason, flags: o.flags, address: o.address };
  }
}

/**
 * Parses `text` and, when it has no errors, creates a run (nothing executed yet: call advance).
 * `diagnostics` holds every problem (warnings too); `run` is absent when any error was found.
 */
export function runScenarioText(text: string, file: string, opts?: ScenarioRunOptions): { diagnostics: Diagnostic[]; run?: ScenarioRun } {
  const { scenario, diagnostics } = parseScenario(text, file);
  if (!scenario || diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  return { diagnostics, run: new ScenarioRun(scenario, opts) };
}
