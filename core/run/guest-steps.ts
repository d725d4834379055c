/**
 * Execution of the guest DMA steps (issue 8 §1) against the guest component (core/guest):
 * `dma-map` (bound to an `out` handle), `dma-unmap` (a handle, or device + iova + size),
 * `dma-stream` (a NIC ring: map `buffers` buffers, then per iteration the device's access to the
 * next slot, its dma_unmap and a fresh dma_map into the slot; one work unit per buffer and per
 * iteration, sliced by the runner's budget) and `wait` (virtual time, timers fire). Each step's
 * StepResult says what the guest got (the DMA address or DMA_MAPPING_ERROR, the host's shadow
 * outcome) and `expect` is checked against it.
 */
import type { StepResult } from '../contract/index.ts';
import { Handle, type DmaUnmapResult, type GuestKernelComponent } from '../guest/component.ts';
import type { GuestPciDevice } from '../guest/topology.ts';
import type { GuestStep, ScenarioStep } from '../scenario/model.ts';
import type { ExpectationCheck } from './expect.ts';

/** A guest step as the runner holds it. */
export type GuestScenarioStep = Extract<ScenarioStep, { op: GuestStep['op'] }>;
type StreamStep = Extract<ScenarioStep, { op: 'dma-stream' }>;
/** A guest call: dma-map, dma-unmap or wait (GuestStepRunner.run). */
export type GuestCallStep = Exclude<GuestScenarioStep, StreamStep>;

/** Work units of a guest step: its buffers and iterations for a stream, else 1. */
export function guestStepUnits(s: GuestScenarioStep): number {
  return s.op === 'dma-stream' ? s.buffers + s.iterations : 1;
}

/** A device's access as the runner performs it: through the vIOMMU, or through the physical IOMMU for an assigned device. */
export type AccessFn = (dev: GuestPciDevice, addr: bigint, size: bigint, access: 1 | 2) => { translated?: bigint; fault?: string };

const hex = (v: bigint) => '0x' + v.toString(16);

/** A stream in progress (sliced across advance() calls). */
interface StreamProgress {
  /** Units done: buffers mapped first, then iterations. */
  done: number;
  /** Each ring slot's live handle name, '' when its buffer failed to map. */
  /** Each ring slot's buffer (a handle object the stream owns: no name table entry per buffer). */
  slots: Handle[];
  failedMaps: number;
  failedHostMaps: number;
  stale: number;
  faults: number;
  firstError: string | undefined;
}

/** Runs guest steps in order against the guest component. */
export class GuestStepRunner {
  private stream: StreamProgress | null = null;
  /** The buffers of a replay's slots (dma-map `slot`). */
  private readonly slots: Handle[] = [];
  private streams = 0;

  constructor(
    private readonly guest: GuestKernelComponent,
    private readonly access: AccessFn,
    /** Records the step's expectation (the runner's `expectation` event and result fields). */
    private readonly expectation: (result: StepResult, check: ExpectationCheck) => void,
    /**
     * Results of steps that went well and have no expectation are not kept (ScenarioRunOptions
     * stepResults 'notable'): `run` returns null for them — no result, outcome or message built
     * per call of a replayed trace.
     */
    private readonly lean = false,
  ) {}

  /**
   * Executes a dma-map, dma-unmap or wait step. Returns its result, or null when the runner is
   * lean and the step went well with nothing to expect (no result object per call of a replayed
   * trace). dma-map finds the device by its endpoint (requester ID): a replay's steps name it by
   * the trace's PCI address, a scenario's by its name, and both carry the endpoint.
   */
  run(step: GuestCallStep): StepResult | null {
    const g = this.guest;
    switch (step.op) {
      case 'dma-map': {
        const into = step.slot === undefined ? undefined : (this.slots[step.slot] ??= Handle.empty());
        const r = g.dmaMap(step.endpoint, Number(step.size), step.dir, step.cpu, step.phys, step.offset, step.out, into);
        if (this.lean && r.ok && step.expect === undefined) return null;
        const result: StepResult = { index: step.index, op: step.op, line: step.line };
        result.status = r.ok ? 'OK' : 'DMA_MAPPING_ERROR';
        result.outcome = r.ok ? { iova: hex(r.iova!), pages: r.pages, path: r.path, host: r.host, domain: r.domain } : { error: 'DMA_MAPPING_ERROR', why: r.error, host: r.host };
        result.message = r.ok ? `${step.device}: DMA address ${hex(r.iova!)} (${r.pages} page${r.pages === 1 ? '' : 's'}, ${r.path}; host ${r.host})` : `${step.device}: DMA_MAPPING_ERROR: ${r.error}`;
        const e = step.expect;
        if (e) {
          const problems: string[] = [];
          if (e.iova !== undefined && (!r.ok || r.iova !== e.iova)) problems.push(`iova ${r.ok ? hex(r.iova!) : 'none (DMA_MAPPING_ERROR)'}, expected ${hex(e.iova)}`);
          if (e.error !== undefined && r.ok) problems.push(`mapped at ${hex(r.iova!)}, expected ${e.error}`);
          if (e.host !== undefined && r.host !== e.host) problems.push(`host ${r.host}, expected ${e.host}`);
          this.expectation(result, this.check(e, r.ok ? { iova: hex(r.iova!), host: r.host } : { error: 'DMA_MAPPING_ERROR', host: r.host }, problems));
        }
        return result;
      }
      case 'dma-unmap': {
        let r: DmaUnmapResult;
        if (step.handle === undefined) r = g.dmaUnmap({ device: step.device, iova: step.iova!, size: Number(step.size!), dir: step.dir ?? 3 }, step.cpu);
        else if (step.slot === undefined) r = g.dmaUnmapNamed(step.handle, step.cpu);
        else {
          // The slot's buffer, when its dma-map went well; else no buffer has that name ("unknown handle").
          const h = this.slots[step.slot];
          r = h !== undefined && h.live && h.tag === step.handle ? g.dmaUnmapHandle(h, step.cpu) : g.dmaUnmapNamed(step.handle, step.cpu);
        }
        if (this.lean && r.error === null && step.expect === undefined) return null;
        const result: StepResult = { index: step.index, op: step.op, line: step.line };
        result.status = r.error === null ? 'OK' : 'ERROR';
        result.outcome = r.error === null ? { mode: r.mode, host: r.host } : { error: r.error };
        result.message = r.error ?? `${step.handle ?? step.device}: unmapped (${r.mode}; host ${r.host})`;
        const e = step.expect;
        if (e) {
          const problems: string[] = [];
          if (r.error !== null) problems.push(r.error);
          if (e.host !== undefined && r.host !== e.host) problems.push(`host ${r.host}, expected ${e.host}`);
          this.expectation(result, this.check(e, { host: r.host }, problems));
        }
        return result;
      }
      case 'wait': {
        g.wait(step.ns);
        return this.lean ? null : { index: step.index, op: step.op, line: step.line, status: 'OK', outcome: { ns: step.ns } };
      }
    }
  }

  /**
   * Runs up to `budget` units of a dma-stream step; returns the units credited and, once the
   * stream is done, its result.
   */
  runStream(step: StreamStep, budget: number): { used: number; result?: StepResult } {
    const g = this.guest;
    let p = this.stream;
    if (p === null) {
      p = this.stream = { done: 0, slots: Array.from({ length: step.buffers }, () => Handle.empty()), failedMaps: 0, failedHostMaps: 0, stale: 0, faults: 0, firstError: undefined };
      this.streams++;
    }
    const total = step.buffers + step.iterations;
    const stop = Math.min(total, p.done + Math.max(0, Math.floor(budget)));
    const size = Number(step.size);
    const pci = g.topology.device(step.device)!;
    const acc: 1 | 2 = step.dir === 1 ? 1 : 2;
    const prefix = `s${step.index}.`;
    const map = (slot: number, n: number): void => {
      const name = `${prefix}${n}`;
      const r = g.dmaMap(step.device, size, step.dir, step.cpu, undefined, 0, name, p.slots[slot]);
      if (!r.ok) {
        p.failedMaps++;
        p.firstError ??= r.error;
      }
      if (r.host === 'failed') p.failedHostMaps++;
    };
    const used0 = p.done;
    while (p.done < stop) {
      const u = p.done++;
      if (u < step.buffers) {
        map(u, u);
        continue;
      }
      const i = u - step.buffers;
      const slot = i % step.buffers;
      const m = p.slots[slot];
      if (m.live) {
        if (step.access) {
          const o = this.access(pci, m.iova, step.size, acc);
          if (o.fault !== undefined) p.faults++;
          else if (g.staleCheck(pci.endpoint, m.iova, o.translated, acc, pci.host === undefined ? 'viommu' : 'host') !== null) p.stale++;
        }
        g.dmaUnmapHandle(m, step.cpu);
      }
      map(slot, step.buffers + i);
    }
    const used = p.done - used0;
    if (p.done < total) return { used };
    this.stream = null;
    const result: StepResult = { index: step.index, op: step.op, line: step.line, status: p.failedMaps === 0 ? 'OK' : 'DMA_MAPPING_ERROR' };
    const totals = { buffers: step.buffers, iterations: step.iterations, 'failed-maps': p.failedMaps, 'failed-host-maps': p.failedHostMaps, stale: p.stale, faults: p.faults };
    result.outcome = p.firstError === undefined ? totals : { ...totals, 'first-error': p.firstError };
    result.message = `${step.iterations} iterations over ${step.buffers} buffers: ${p.failedMaps} failed maps, ${p.failedHostMaps} failed host maps, ${p.faults} faults, ${p.stale} stale`;
    const e = step.expect;
    if (e) {
      const problems: string[] = [];
      const cmp = (name: string, want: number | undefined, got: number) => {
        if (want !== undefined && want !== got) problems.push(`${name} ${got}, expected ${want}`);
      };
      cmp('failed-maps', e.failedMaps, p.failedMaps);
      cmp('failed-host-maps', e.failedHostMaps, p.failedHostMaps);
      cmp('stale', e.stale, p.stale);
      cmp('faults', e.faults, p.faults);
      this.expectation(result, this.check(e, totals, problems));
    }
    return { used, result };
  }

  private check(expected: unknown, actual: unknown, problems: string[]): ExpectationCheck {
    return { held: problems.length === 0, expected: json(expected), actual, message: problems.length === 0 ? 'as expected' : problems.join('; ') };
  }
}

/** An expectation as JSON (u64 as "0x…"). */
function json(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x)));
}
