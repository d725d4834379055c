/**
 * The scenario runner: builds the scenario's machine (machine.ts: components in layers), realizes
 * it and executes the scenario's steps against it — requests to the vIOMMU's virtio transport, DMA
 * through its translate — producing the event stream, one StepResult per step and the run metrics.
 *
 * Work is measured in units (1 per step; one per granule page of a `dma` step's access; `count`
 * × the pages of one iteration for a `workload` step: see dma.ts) and done in slices with
 * `advance(budget)`, so a host (the worker) can interleave progress reports, event draining and
 * cancellation, whatever the size of a step: a dma step or a workload (even one iteration of it)
 * may be split across any number of calls without changing the event stream, and a slice of
 * `budget` units emits O(budget) events. Deterministic: no clock, no randomness — the same
 * scenario gives the same events.
 *
 * Event stamping: events of the setup (feature negotiation) carry step -1; every other event
 * carries the index of the step that produced it. A step with `expect` is followed by one
 * `expectation` event (after the step's own events).
 */
import type { Diagnostic, RunMetrics, StepResult } from '../contract/index.ts';
import type { EventKind, EventPayload } from '../events/catalog.ts';
import { EventLog, type SeqEvent } from '../events/sink.ts';
import { MetricsReducer, type KindSlot } from '../events/metrics.ts';
import { VirtualClock, kindCost, type KindCost } from '../engine/clock.ts';
import { parseScenario } from '../scenario/parse.ts';
import type { Scenario, ScenarioStep } from '../scenario/model.ts';
import type { VirtioIommuDevice } from '../viommu/virtio-iommu/device.ts';
import type { Machine } from '../machine/machine.ts';
import type { StampingSink } from '../machine/component.ts';
import { TR_FAULT, type TranslateOutcome } from '../machine/dma.ts';
import type { VirtioIommuComponent } from '../viommu/virtio-iommu/component.ts';
import type { VIommu } from '../machine/layers.ts';
import { buildMachine, type HostParts } from './machine.ts';
import { HostStepRunner, isHostStep } from './host-steps.ts';
import { coldplugDevices, type PlugContext } from './plug.ts';
import { GuestStepRunner, type GuestCallStep } from './guest-steps.ts';
import type { GuestKernelComponent } from '../guest/component.ts';
import type { GuestPciDevice } from '../guest/topology.ts';
import type { Source } from '../source/source.ts';
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
import { PHYS_START_OFFSET, VIRT_END_OFFSET, VIRT_START_OFFSET, decodeConfig, decodeProbeRegions, putU64Halves, replyStatus } from './wire.ts';
import { bytesToHex, encodeRequest } from '../viommu/virtio-iommu/codec.ts';
import { CONFIG_BYPASS_OFFSET, S_OK, T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP, TAIL_SIZE } from '../viommu/virtio-iommu/constants.ts';
import { DmaAccess, accessPages, granuleBytes, iterationUnits, scenarioUnits } from './dma.ts';
import { statusName } from '../events/format.ts';
import { hotplugged } from './step-ops.ts';

/** Options of a run. */
export interface ScenarioRunOptions {
  /**
   * Keep events for `takeEvents()` (default true). When false, events still feed the metrics but
   * are not kept (benchmarks, dry runs, replays with events off): `takeEvents()` returns [], and
   * the sink is lean (core/events/sink.ts EventSink.lean: u64 fields below 2^53 as numbers, which
   * only the metrics reducer reads — the metrics are the same).
   */
  record?: boolean;
  /**
   * Receives every event as it is emitted, with its step index, instead of keeping it (a host
   * encoding events straight into its own buffers: no envelope object per event). `seq` is the
   * 0-based emission order, as in takeEvents(). Takes precedence over `record`; events still feed
   * the metrics, and `takeEvents()` returns [].
   */
  onEvent?: EventCallback;
  /**
   * Which step results to keep (default 'all'). 'notable' keeps only device accesses (dma steps),
   * steps with an expectation and steps whose status is not OK — a replay's million guest calls
   * would otherwise keep (and store) a million results nobody reads; their events are complete.
   */
  stepResults?: 'all' | 'notable';
}

/**
 * Consumer of events handed over one by one (ScenarioRunOptions.onEvent): kind, step index, payload,
 * and the id of the emitting component ('viommu0'; '' for the runner's own events: expectations).
 */
export type EventCallback = <K extends EventKind>(kind: K, step: number, payload: EventPayload<K>, component: string) => void;

/** A kind as the run's sinks keep it: its cost on the clock and its slot in the metrics reducer (one lookup per event). */
interface SinkKind {
  readonly cost: KindCost;
  readonly slot: KindSlot;
}

/** Feeds metrics only (record: false). */
class MetricsOnlySink implements StampingSink {
  readonly enabled = true;
  /** Only the reducer reads the payloads (EventSink.lean): u64 fields may be numbers. */
  readonly lean: boolean = true;
  step = 0;
  component = '';
  /** Events emitted so far (StampingSink.seq). */
  seq = 0;
  private readonly clock = new VirtualClock();
  private readonly kinds = new Map<string, SinkKind>();
  constructor(private readonly metrics: MetricsReducer) {}
  /** Virtual time (StampingSink.now). */
  get now(): number {
    return this.clock.now;
  }
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    this.seq++;
    let k = this.kinds.get(kind);
    if (k === undefined) this.kinds.set(kind, (k = { cost: kindCost(kind), slot: this.metrics.kindSlot(kind) }));
    this.clock.tickKind(k.cost, payload as Readonly<Record<string, unknown>>);
    this.metrics.addSlot(k.slot, payload as Record<string, unknown>, this.component);
  }
}

/** Feeds metrics, then hands each event to a callback (onEvent). */
class CallbackSink extends MetricsOnlySink {
  // The clock is the one the consumer keeps: the store's encoder ticks each event by the same costs.
  /** The callback reads the payloads: u64 fields are bigints. */
  override readonly lean: boolean = false;
  constructor(
    metrics: MetricsReducer,
    private readonly onEvent: EventCallback,
  ) {
    super(metrics);
  }
  override emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    super.emit(kind, payload);
    this.onEvent(kind, this.step, payload, this.component);
  }
}

/** Step index stamped on setup events (feature negotiation), which belong to no step. */
export const SETUP_STEP = -1;

/** Index of UNWRITTEN in a workload's per-status counters (status codes are 0..255). */
const UNWRITTEN_SLOT = 256;
const TWO32 = 4294967296;

/** Progress of a workload step that is split across advance() calls. */
interface WorkloadProgress {
  /** Index of the next iteration (of the one in progress while `pending` is set). */
  next: number;
  /** Units of one iteration (dma.ts iterationUnits). */
  units: number;
  /**
   * The iteration `next` when its DMA did not fit the budget: its MAP is done, its access is
   * decided a chunk of pages per advance() call; `credited` = units of it counted so far.
   */
  pending: { access: DmaAccess; credited: number } | null;
  /** Per-status counters of MAP and UNMAP replies (index = status code, 256 = UNWRITTEN). */
  mapStatus: Float64Array;
  unmapStatus: Float64Array;
  translations: number;
  faults: number;
  failedRequests: number;
  firstFailure: string | undefined;
  /** Prebuilt readable parts, patched in place each iteration, and the shared 4-byte tail. */
  mapReq: Uint8Array;
  unmapReq: Uint8Array;
  tail: Uint8Array;
}

/** A run of one scenario: the scenario Source (core/source). See the module comment for units, stamping and determinism. */
export class ScenarioRun implements Source {
  readonly kind = 'scenario' as const;
  private units = -1;
  /**
   * Total progress units: 1 per step, the pages of a dma step, count × iteration units of a
   * workload (dma.ts). Counted on first read (a pass over the steps: a replay run in memory never
   * reads it).
   */
  get totalUnits(): number {
    if (this.units < 0) this.units = scenarioUnits(this.scenario);
    return this.units;
  }
  readonly scenario: Scenario;
  private done = 0;
  private stepIndex = 0;
  private workload: WorkloadProgress | null = null;
  /** The dma step in progress (split across advance() calls), and the units credited for it. */
  private dma: { access: DmaAccess; credited: number } | null = null;
  /** ScenarioRunOptions.stepResults === 'notable'. */
  private readonly notableOnly: boolean;
  /** The address of the dma step in progress when it names a handle (a replay's access). */
  private dmaAddr = 0n;
  /** The device's granule in bytes. */
  private readonly granule: bigint;
  private readonly results: StepResult[] = [];
  private readonly metricsReducer = new MetricsReducer();
  private readonly log: EventLog | null;
  private readonly sink: StampingSink;
  /** The scenario's machine (realized in the constructor). */
  readonly machine: Machine;
  /** Its vIOMMU: DMA goes through its translate (the layer interface), resets through its lifecycle. */
  private readonly viommu: VIommu;
  /** The vIOMMU when it is a virtio-iommu (absent for intel-iommu, which has no virtio transport). */
  private readonly virtio: VirtioIommuComponent | undefined;
  /** The vIOMMU's virtio transport side: requests, config space, features. */
  private readonly dev: VirtioIommuDevice | null;
  /** The host side of the machine (physical IOMMUs, backends), when the scenario has one. */
  readonly host: HostParts | undefined;
  /** Runs the host steps (iommufd, vfio, host-dma, device-add). */
  private readonly hostSteps: HostStepRunner;
  /** The guest DMA layer (issue 8), when the scenario has one. */
  readonly guest: GuestKernelComponent | undefined;
  /** Runs the guest steps (dma-map, dma-unmap, dma-stream, wait). */
  private readonly guestSteps: GuestStepRunner | null = null;

  constructor(scenario: Scenario, opts: ScenarioRunOptions = {}) {
    this.scenario = scenario;
    this.notableOnly = opts.stepResults === 'notable';
    this.granule = granuleBytes(scenario.props);
    if (opts.onEvent) {
      this.log = null;
      this.sink = new CallbackSink(this.metricsReducer, opts.onEvent);
    } else if (opts.record === false) {
      this.log = null;
      this.sink = new MetricsOnlySink(this.metricsReducer);
    } else {
      this.log = new EventLog((e) => this.metricsReducer.add(e), new VirtualClock());
      this.sink = this.log;
    }
    this.sink.step = SETUP_STEP;
    const built = buildMachine(scenario, this.sink);
    ({ machine: this.machine, viommu: this.viommu, virtio: this.virtio, host: this.host, guest: this.guest } = built);
    // Each component's metrics are those declared for its kind (the backends' uAPI call tallies).
    for (const c of this.machine.components()) this.metricsReducer.declare(c.id, c.kind);
    const plug: PlugContext = { scenario, machine: this.machine, viommu: this.viommu, host: this.host, shadow: built.shadow };
    const guest = this.guest;
    this.hostSteps = new HostStepRunner(
      plug,
      (result, check) => this.expectation(result, check),
      guest === undefined ? undefined : (hostDevice, iova, translated, access) => this.hostStale(hostDevice, iova, translated, access),
      guest === undefined ? undefined : (device) => guest.hotplug(device),
    );
    // A coldplugged component that fails to realize, or a host-backed device that fails to
    // coldplug (core/run/plug.ts: the hook), fails the run as QEMU fails to start: `failure` holds
    // QEMU's message, no step runs, and the events up to the failure stay.
    this.failure = this.machine.realize() ?? coldplugDevices(plug);
    this.dev = this.failure === null ? (this.virtio?.device ?? null) : null;
    if (this.failure !== null) this.stepIndex = scenario.steps.length;
    this.dev?.negotiate(scenario.driverFeatures);
    if (guest !== undefined && this.failure === null) {
      // The guest boots once QEMU's machine is up: every device no device-add step hotplugs is probed.
      const hot = hotplugged(scenario);
      this.sink.component = '';
      guest.boot(scenario.devices.filter((d) => !hot.has(d.name)).map((d) => d.name));
      this.guestSteps = new GuestStepRunner(guest, (dev, addr, size, access) => this.deviceAccess(dev, addr, size, access), (result, check) => this.expectation(result, check), this.notableOnly);
    }
  }

  /** A guest device's DMA: an assigned device's through its physical IOMMU, an emulated one's through the vIOMMU. */
  private deviceAccess(dev: GuestPciDevice, addr: bigint, size: bigint, access: 1 | 2): { translated?: bigint; fault?: string } {
    if (dev.host !== undefined && this.host !== undefined) {
      const v = this.hostSteps.hostDma(dev.host, addr, size, access === 2 ? 'write' : 'read');
      return 'translated' in v ? { translated: BigInt(v.translated) } : { fault: v.fault.reason };
    }
    const o = this.viommu.translateAccess(dev.endpoint, addr, size, access);
    this.viommu.discardFaultReports();
    return o.kind === 'fault' ? { fault: 'vIOMMU fault' } : { translated: o.kind === 'translated' ? o.phys : addr };
  }

  /** host-dma's stale check: the guest device backed by `hostDevice`, at `iova`. */
  private hostStale(hostDevice: string, iova: bigint, translated: bigint, access: 1 | 2): { sinceNs: number } | null {
    const d = this.scenario.devices.find((x) => x.host === hostDevice);
    if (d === undefined || this.guest === undefined) return null;
    return this.guest.staleCheck(d.endpoint, iova, translated, access, 'host');
  }

  /**
   * QEMU's message when the machine could not start (a coldplugged component's realize or a
   * host-backed device's coldplug failed: "-device vfio-pci,host=…,id=…: vfio …: …"); then no step
   * runs (`finished` is true at once) and the run ends failed with it. Null when it started.
   */
  readonly failure: string | null;

  /**
   * The virtio-iommu's transport side (requests, config space). Throws for an intel-iommu scenario,
   * whose vIOMMU has no virtio transport (virtio-iommu steps need `viommu: {model: virtio-iommu}`).
   */
  private get device(): VirtioIommuDevice {
    if (this.dev === null) throw new Error(`step ${this.sink.step}: virtio-iommu requests, config and workloads need viommu model virtio-iommu (this scenario's vIOMMU is ${this.scenario.viommuModel})`);
    return this.dev;
  }

  /** The scenario's name. */
  get name(): string {
    return this.scenario.name;
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
   * Executes up to `budget` units (non-integer budgets are floored; ≤ 0 does nothing). A dma or
   * workload step stops mid-way when the budget runs out and resumes on the next call. A step that
   * ends early (a DMA fault) is credited all its units, so doneUnits may pass what the budget
   * alone would give; the work done per call stays bounded by the budget. Returns true while work
   * remains.
   */
  advance(budget: number): boolean {
    let left = Math.floor(budget);
    const steps = this.scenario.steps;
    while (left > 0 && this.stepIndex < steps.length) {
      const step = steps[this.stepIndex];
      const op = step.op;
      this.sink.step = step.index;
      if (op === 'dma-map' || op === 'dma-unmap' || op === 'wait') {
        // The guest's calls (a replay's steps, by the million): straight to the guest step runner.
        // Each fires the guest timers due by now first itself (GuestKernelComponent).
        const r = this.guestCall(step as GuestCallStep);
        if (r !== null) this.keep(r);
        left--;
        this.done++;
        this.stepIndex++;
        continue;
      }
      // Guest timers (flush-queue timeouts, depot work) due by now fire before the next step.
      this.guest?.runTimers();
      if (op === 'dma-stream') {
        const r = this.guestSteps!.runStream(step, left);
        left -= r.used;
        this.done += r.used;
        if (r.result === undefined) break; // budget exhausted mid-stream
        this.keep(r.result);
      } else if (step.op === 'workload') {
        const used = this.runWorkload(step, left);
        left -= used;
        this.done += used;
        if (this.workload !== null) break; // budget exhausted mid-workload
      } else if (step.op === 'dma') {
        if (this.dma === null && step.handle !== undefined) {
          // A replay's access into a guest buffer: at this run's DMA address for it.
          const h = this.guest?.handle(step.handle);
          if (h === undefined) {
            this.keep({ index: step.index, op: step.op, line: step.line, outcome: { skipped: `no access: the buffer's dma-map (handle ${step.handle}) failed in this configuration` } });
            this.done += accessPages(step.addr, step.size, this.granule);
            left--;
            this.stepIndex++;
            continue;
          }
          this.dmaAddr = h.iova + (step.offset ?? 0n);
        }
        const d = (this.dma ??= { access: new DmaAccess(step.endpoint >>> 0, step.handle !== undefined ? this.dmaAddr : step.addr, step.size, step.access, this.granule), credited: 0 });
        left -= d.access.run(this.viommu, left);
        if (!d.access.done) {
          this.done += d.access.decided - d.credited;
          d.credited = d.access.decided;
          break; // budget exhausted mid-access
        }
        this.done += d.access.pages - d.credited;
        this.dma = null;
        this.keep(this.dmaResult(step, d.access));
      } else {
        this.keep(this.runStep(step));
        left--;
        this.done++;
      }
      this.stepIndex++;
    }
    return this.stepIndex < steps.length;
  }

  /** Keeps a finished step's result (all of them, or the notable ones: ScenarioRunOptions.stepResults). */
  private keep(r: StepResult): void {
    if (this.notableOnly && r.op !== 'dma' && r.expectation === undefined && (r.status === undefined || r.status === 'OK')) return;
    this.results.push(r);
  }

  /** Events emitted since the last call, in stream order (always [] when record is false or with onEvent). */
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
    this.sink.component = ''; // the runner's own event: no component
    this.sink.emit('expectation', { held: check.held ? 1 : 0, detail: { expected: check.expected, actual: check.actual, message: check.message } });
    result.expectation = check.held;
    result.message = check.message;
  }

  /** Sends one request; its status stays a number (undefined: unwritten) until the step result formats it. */
  private request(bytes: Uint8Array, writable: number): { status: number | undefined; reply: Uint8Array } {
    const reply = this.device.handleRequest(bytes, writable);
    return { status: replyStatus(reply), reply };
  }

  private readConfigValue() {
    return decodeConfig(this.device.readConfig());
  }

  /** The result of a dma step whose access is done. */
  private dmaResult(step: Extract<ScenarioStep, { op: 'dma' }>, access: DmaAccess): StepResult {
    const result: StepResult = { index: step.index, op: step.op, line: step.line };
    const v = dmaValue(access.outcome);
    if (v.kind === 'translated' && this.guest !== undefined) {
      // Through a mapping the guest has unmapped but not yet invalidated (lazy window)?
      const stale = this.guest.staleCheck(step.endpoint >>> 0, step.handle !== undefined ? this.dmaAddr : step.addr, v.phys, step.access, 'viommu');
      v.stale = stale !== null;
      if (stale !== null) v.staleNs = stale.sinceNs;
    }
    result.outcome = dmaJson(v);
    if (step.expect) this.expectation(result, checkDma(step.expect, v));
    return result;
  }

  /** A dma-map, dma-unmap or wait step; null when there is nothing to keep (a lean call that went well: GuestStepRunner.run). */
  private guestCall(step: GuestCallStep): StepResult | null {
    if (this.guestSteps === null) throw new Error(`step ${step.index}: ${step.op} needs the guest layer (a virtio-iommu scenario)`);
    return this.guestSteps.run(step);
  }

  /** Runs one step other than a guest call, a workload, a dma access or a stream. */
  private runStep(step: Exclude<ScenarioStep, { op: 'workload' | 'dma' | 'dma-stream' | GuestCallStep['op'] }>): StepResult {
    if (isHostStep(step)) return this.hostSteps.run(step);
    const result: StepResult = { index: step.index, op: step.op, line: step.line };
    switch (step.op) {
      case 'attach':
      case 'detach':
      case 'map':
      case 'unmap':
      case 'request': {
        const bytes =
          step.op === 'attach'
            ? encodeRequest({ type: T_ATTACH, domain: step.domain, endpoint: step.endpoint, flags: step.flags, reserved: step.reserved })
            : step.op === 'detach'
              ? encodeRequest({ type: T_DETACH, domain: step.domain, endpoint: step.endpoint })
              : step.op === 'map'
                ? encodeRequest({ type: T_MAP, domain: step.domain, virtStart: step.virtStart, virtEnd: step.virtEnd, physStart: step.physStart, flags: step.flags })
                : step.op === 'unmap'
                  ? encodeRequest({ type: T_UNMAP, domain: step.domain, virtStart: step.virtStart, virtEnd: step.virtEnd, reserved: step.reserved })
                  : step.bytes;
        const { status: code, reply } = this.request(bytes, step.op === 'request' ? step.writable : TAIL_SIZE);
        const status = (result.status = statusName(code));
        result.request = bytesToHex(bytes);
        if (step.op === 'request') result.outcome = { used: reply.length };
        if (step.expect) this.expectation(result, checkStatus(step.expect, status));
        break;
      }
      case 'probe': {
        const size = this.scenario.props.probeSize;
        const probe = encodeRequest({ type: T_PROBE, endpoint: step.endpoint });
        const { status: code, reply } = this.request(probe, size + TAIL_SIZE);
        const regions = code === S_OK ? decodeProbeRegions(reply.subarray(0, reply.length - TAIL_SIZE)) : [];
        const status = (result.status = statusName(code));
        result.request = bytesToHex(probe);
        result.outcome = { regions: regionsJson(regions) };
        if (step.expect) this.expectation(result, checkProbe(step.expect, status, regions));
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
        // The write's outcome is the step's, with or without expect (a refused value, or QEMU's
        // device error that leaves the device needing a reset, must show in the step table).
        // A system reset resets the whole machine (QEMU's qemu_system_reset), a device reset the vIOMMU.
        if (step.op === 'set-bypass') result.outcome = this.device.writeConfig(CONFIG_BYPASS_OFFSET, Uint8Array.of(step.value)) ?? undefined;
        else if (step.system) this.machine.reset(true);
        else this.viommu.reset(false);
        // Checking config costs a real config read (and its config-read event): only with expect.
        if (step.expect) this.expectation(result, checkConfig(step.expect, this.readConfigValue()));
        break;
      }
    }
    return result;
  }

  /**
   * Runs up to `budget` units of a workload step; returns the units credited (one iteration is
   * `w.units` units). Whole iterations run in the hot loop (workloadLoop). When the budget left is
   * less than one iteration, the next iteration starts anyway: its MAP is sent and its access is
   * decided a chunk of pages per call (`pending`) until done, then its UNMAP is sent. The event
   * stream is the same however the budget splits it.
   */
  private runWorkload(step: Extract<ScenarioStep, { op: 'workload' }>, budget: number): number {
    let w = this.workload;
    if (w === null) {
      w = this.workload = {
        next: 0,
        units: iterationUnits(step, this.granule),
        pending: null,
        mapStatus: new Float64Array(257),
        unmapStatus: new Float64Array(257),
        translations: 0,
        faults: 0,
        failedRequests: 0,
        firstFailure: undefined,
        mapReq: encodeRequest({ type: T_MAP, domain: step.domain, virtStart: 0n, virtEnd: 0n, physStart: 0n, flags: step.flags }),
        unmapReq: encodeRequest({ type: T_UNMAP, domain: step.domain, virtStart: 0n, virtEnd: 0n }),
        tail: new Uint8Array(TAIL_SIZE),
      };
    }
    let left = budget;
    let credited = 0;
    while (left > 0 && w.next < step.count) {
      if (w.pending === null) {
        const n = Math.min(step.count - w.next, Math.floor(left / w.units));
        if (n > 0) {
          this.workloadLoop(step, w, n);
          credited += n * w.units;
          left -= n * w.units;
          continue;
        }
        this.beginIteration(step, w);
      }
      const p = w.pending!;
      left -= p.access.run(this.viommu, left);
      if (!p.access.done) {
        credited += p.access.decided - p.credited;
        p.credited = p.access.decided;
        break;
      }
      credited += w.units - p.credited;
      this.endIteration(step, w);
    }
    if (w.next >= step.count) this.finishWorkload(step, w);
    return credited;
  }

  /** Addresses of iteration i as u32 halves: iova, its last byte (iova + size − 1), phys. */
  private static iterationHalves(step: Extract<ScenarioStep, { op: 'workload' }>, i: number): { iova: bigint; halves: number[] } {
    const iova = step.iovaBase + BigInt(i) * step.size;
    const last = iova + step.size - 1n;
    const phys = step.physBase + BigInt(i) * step.size;
    const h = (x: bigint) => [Number((x >> 32n) & 0xffffffffn), Number(x & 0xffffffffn)];
    return { iova, halves: [...h(iova), ...h(last), ...h(phys)] };
  }

  /** Iteration `w.next` whose access is split: sends its MAP and sets up its access (w.pending). */
  private beginIteration(step: Extract<ScenarioStep, { op: 'workload' }>, w: WorkloadProgress): void {
    const { iova, halves } = ScenarioRun.iterationHalves(step, w.next);
    const [iHi, iLo, eHi, eLo, pHi, pLo] = halves;
    if (step.ops.map) {
      putU64Halves(w.mapReq, VIRT_START_OFFSET, iHi, iLo);
      putU64Halves(w.mapReq, VIRT_END_OFFSET, eHi, eLo);
      putU64Halves(w.mapReq, PHYS_START_OFFSET, pHi, pLo);
      const used = this.device.handleRequestInto(w.mapReq, w.tail);
      this.countStatus(w, w.mapStatus, used < TAIL_SIZE ? UNWRITTEN_SLOT : w.tail[used - TAIL_SIZE]);
    }
    w.pending = { access: new DmaAccess(step.endpoint >>> 0, iova, step.size, step.access, this.granule), credited: 0 };
  }

  /** Iteration `w.next` whose split access is done: counts its outcome, sends its UNMAP. */
  private endIteration(step: Extract<ScenarioStep, { op: 'workload' }>, w: WorkloadProgress): void {
    if (w.pending!.access.outcome.kind === 'fault') w.faults++;
    else w.translations++;
    if (step.ops.unmap) {
      const [iHi, iLo, eHi, eLo] = ScenarioRun.iterationHalves(step, w.next).halves;
      putU64Halves(w.unmapReq, VIRT_START_OFFSET, iHi, iLo);
      putU64Halves(w.unmapReq, VIRT_END_OFFSET, eHi, eLo);
      const used = this.device.handleRequestInto(w.unmapReq, w.tail);
      this.countStatus(w, w.unmapStatus, used < TAIL_SIZE ? UNWRITTEN_SLOT : w.tail[used - TAIL_SIZE]);
    }
    w.pending = null;
    w.next++;
  }

  /**
   * Runs `iterations` whole iterations from w.next. The hot loop keeps addresses as u32 halves
   * (no bigint per iteration), patches two prebuilt requests in place and uses the device's
   * allocation-free entry points (handleRequestInto, translateFast).
   */
  private workloadLoop(step: Extract<ScenarioStep, { op: 'workload' }>, w: WorkloadProgress, iterations: number): void {
    const start = w.next;
    const end = start + iterations;
    const { map, dma, unmap } = step.ops;
    const dev = this.device;
    const ep = step.endpoint >>> 0;
    const access = step.access;
    const fastSize = step.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(step.size) : -1;
    // Running u64 values as [hi, lo]: iova, phys, and the constant steps size and size - 1.
    const iova0 = step.iovaBase + BigInt(start) * step.size;
    const phys0 = step.physBase + BigInt(start) * step.size;
    let iHi = Number(iova0 >> 32n);
    let iLo = Number(iova0 & 0xffffffffn);
    let pHi = Number(phys0 >> 32n);
    let pLo = Number(phys0 & 0xffffffffn);
    const sHi = Number(step.size >> 32n);
    const sLo = Number(step.size & 0xffffffffn);
    const last = step.size - 1n;
    const lHi = Number(last >> 32n);
    const lLo = Number(last & 0xffffffffn);
    for (let i = start; i < end; i++) {
      if (map || unmap) {
        // virt_end = iova + size - 1 (validated at parse time not to pass 2^64 - 1).
        let eLo = iLo + lLo;
        let eHi = iHi + lHi;
        if (eLo >= TWO32) {
          eLo -= TWO32;
          eHi++;
        }
        if (map) {
          putU64Halves(w.mapReq, VIRT_START_OFFSET, iHi, iLo);
          putU64Halves(w.mapReq, VIRT_END_OFFSET, eHi, eLo);
          putU64Halves(w.mapReq, PHYS_START_OFFSET, pHi, pLo);
          const used = dev.handleRequestInto(w.mapReq, w.tail);
          this.countStatus(w, w.mapStatus, used < TAIL_SIZE ? UNWRITTEN_SLOT : w.tail[used - TAIL_SIZE]);
        }
        if (dma) this.workloadDma(w, ep, iHi, iLo, fastSize, step.size, access);
        if (unmap) {
          putU64Halves(w.unmapReq, VIRT_START_OFFSET, iHi, iLo);
          putU64Halves(w.unmapReq, VIRT_END_OFFSET, eHi, eLo);
          const used = dev.handleRequestInto(w.unmapReq, w.tail);
          this.countStatus(w, w.unmapStatus, used < TAIL_SIZE ? UNWRITTEN_SLOT : w.tail[used - TAIL_SIZE]);
        }
      } else if (dma) {
        this.workloadDma(w, ep, iHi, iLo, fastSize, step.size, access);
      }
      iLo += sLo;
      iHi += sHi;
      if (iLo >= TWO32) {
        iLo -= TWO32;
        iHi++;
      }
      pLo += sLo;
      pHi += sHi;
      if (pLo >= TWO32) {
        pLo -= TWO32;
        pHi++;
      }
    }
    w.next = end;
  }

  private workloadDma(w: WorkloadProgress, ep: number, hi: number, lo: number, fastSize: number, size: bigint, access: 1 | 2): void {
    const v = this.viommu;
    const faulted =
      fastSize >= 0 ? v.translate(ep, hi, lo, fastSize, access) === TR_FAULT : v.translateAccess(ep, BigInt(hi) * 4294967296n + BigInt(lo), size, access).kind === 'fault';
    if (faulted) {
      w.faults++;
      v.discardFaultReports();
    } else w.translations++;
  }

  private countStatus(w: WorkloadProgress, counts: Float64Array, slot: number): void {
    counts[slot]++;
    if (slot !== 0) {
      w.failedRequests++;
      w.firstFailure ??= slot === UNWRITTEN_SLOT ? 'UNWRITTEN' : statusName(slot);
    }
  }

  private finishWorkload(step: Extract<ScenarioStep, { op: 'workload' }>, w: WorkloadProgress): void {
    this.workload = null;
    const requests: Record<string, Record<string, number>> = {};
    let nreq = 0;
    for (const [type, counts] of [['MAP', w.mapStatus], ['UNMAP', w.unmapStatus]] as const) {
      counts.forEach((n, slot) => {
        if (n === 0) return;
        nreq += n;
        (requests[type] ??= {})[slot === UNWRITTEN_SLOT ? 'UNWRITTEN' : statusName(slot)] = n;
      });
    }
    const result: StepResult = {
      index: step.index,
      op: step.op,
      line: step.line,
      status: nreq === 0 ? undefined : (w.firstFailure ?? 'OK'),
      outcome: { iterations: step.count, requests, translations: w.translations, faults: w.faults, failedRequests: w.failedRequests },
      message: `${step.count} iterations: ${nreq} requests (${w.failedRequests ? `${w.failedRequests} failed` : 'all OK'}), ${w.translations} translations, ${w.faults} faults`,
    };
    if (step.expect) this.expectation(result, checkWorkload(step.expect, { faults: w.faults, failedRequests: w.failedRequests }));
    this.keep(result);
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
