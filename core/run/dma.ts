/**
 * DMA accesses as work: how many progress units a step is worth, and an access decided a chunk of
 * granule pages at a time, so that a `dma` step (or one iteration of a `workload`) of any size is
 * cut into advance() slices without changing the event stream.
 *
 * Units (ScenarioRun.totalUnits, the contract's runProgress step/steps):
 * - 1 per step, except:
 * - a `dma` step: one per granule page its access is decided in (accessPages), so a 1 TiB access
 *   is 2^28 units, each one 'translate' decision;
 * - a `workload` step: `count` × the units of one iteration, which is 1 without `dma` in its ops,
 *   else the most granule pages one iteration's access can span (iterationUnits). An iteration
 *   that spans fewer pages, or a dma that faults early, is credited its full units when it ends.
 *
 * The device decides an access page by page, as QEMU does (system/physmem.c
 * address_space_translate_iommu cuts the length at the end of each IOMMUTLBEntry page and
 * translates the rest again; virtio-iommu.md "QEMU deviations" 3), emitting one 'translate' per
 * page. DmaAccess hands the vIOMMU a run of whole pages per call (VIommu.translateAccess on
 * [cur, end of the n-th page)), so the pages, their events and the outcome are those of one
 * translate() call over the whole access.
 */
import type { Scenario, ScenarioStep } from '../scenario/model.ts';
import { GRANULE_MASKS, granuleOf, type VirtioIommuProps } from '../viommu/virtio-iommu/config.ts';
import type { TranslateOutcome } from '../machine/dma.ts';
import type { VIommu } from '../machine/layers.ts';

/** 2^64: an access never continues past the top of the address space (VirtioIommuDevice.translate). */
const TWO64 = 1n << 64n;

/** The device's granule in bytes (4 KiB … 64 KiB): the lowest bit of config.page_size_mask. */
export function granuleBytes(props: Pick<VirtioIommuProps, 'granule'>): bigint {
  return granuleOf(GRANULE_MASKS[props.granule]);
}

/**
 * Granule pages an access of `size` bytes at `addr` is decided in (≥ 1; size 0 is one decision).
 * An access that would pass 2^64 − 1 stops at the top (as translate() does). At most 2^52 + 1.
 */
export function accessPages(addr: bigint, size: bigint, granule: bigint): number {
  if (size === 0n) return 1;
  const end = addr + size < TWO64 ? addr + size : TWO64;
  return Number((end - 1n) / granule - addr / granule + 1n);
}

type WorkloadStep = Extract<ScenarioStep, { op: 'workload' }>;

/**
 * Units of one workload iteration: 1 without dma; else the most pages an access of `size` bytes
 * at iova-base + i × size can span: ceil((offset + size) / granule) when every iteration starts
 * at the same offset in its page (size a multiple of the granule), else ceil((granule − 1 + size)
 * / granule), the bound over any offset.
 */
export function iterationUnits(step: Pick<WorkloadStep, 'ops' | 'size' | 'iovaBase'>, granule: bigint): number {
  if (!step.ops.dma || step.size === 0n) return 1;
  const offset = step.size % granule === 0n ? step.iovaBase % granule : granule - 1n;
  return Number((offset + step.size + granule - 1n) / granule);
}

/** Units of one step (see the module comment). */
export function stepUnits(step: ScenarioStep, granule: bigint): number {
  if (step.op === 'dma') return accessPages(step.addr, step.size, granule);
  if (step.op === 'workload') return step.count * iterationUnits(step, granule);
  if (step.op === 'dma-stream') return step.buffers + step.iterations;
  return 1;
}

/**
 * Total units of a scenario's run (ScenarioRun.totalUnits): exact below 2^53, which no run
 * reaches (2^53 page decisions take years).
 */
export function scenarioUnits(scenario: Pick<Scenario, 'steps' | 'props'>): number {
  const g = granuleBytes(scenario.props);
  let n = 0;
  for (const s of scenario.steps) n += stepUnits(s, g);
  return n;
}

/**
 * One DMA access in progress, decided up to a budget of pages per `run` call. The outcome, once
 * `done`, is the first faulting page's fault, else the first page's (translated / bypass / msi),
 * exactly as one VIommu.translateAccess() call over the whole access. Fault reports are dropped
 * after each chunk (the runner does not keep them), so memory stays bounded.
 */
export class DmaAccess {
  /** Pages the whole access is decided in (accessPages). */
  readonly pages: number;
  /** Pages decided so far (a fault ends the access: then done with decided ≤ pages). */
  decided = 0;
  private cur: bigint;
  private readonly end: bigint;
  private first: TranslateOutcome | undefined;
  private fault: TranslateOutcome | undefined;

  constructor(
    readonly endpoint: number,
    addr: bigint,
    private readonly size: bigint,
    readonly access: 1 | 2,
    private readonly granule: bigint,
  ) {
    this.cur = addr;
    this.end = addr + size < TWO64 ? addr + size : TWO64;
    this.pages = accessPages(addr, size, granule);
  }

  /** True once every page is decided or one faulted. */
  get done(): boolean {
    return this.fault !== undefined || this.decided >= this.pages;
  }

  /** The access's outcome; only meaningful once `done`. */
  get outcome(): TranslateOutcome {
    return (this.fault ?? this.first)!;
  }

  /** Decides up to `maxPages` (≥ 1) more pages; returns how many pages it took off the budget. */
  run(viommu: VIommu, maxPages: number): number {
    const n = Math.max(1, Math.min(Math.floor(maxPages), this.pages - this.decided));
    let bytes: bigint;
    if (this.size === 0n) bytes = 0n;
    else {
      const chunkEnd = (this.cur / this.granule + BigInt(n)) * this.granule;
      bytes = (chunkEnd < this.end ? chunkEnd : this.end) - this.cur;
    }
    const o = viommu.translateAccess(this.endpoint, this.cur, bytes, this.access);
    viommu.discardFaultReports();
    this.decided += n;
    this.cur += bytes;
    if (o.kind === 'fault') this.fault = o;
    else this.first ??= o;
    return n;
  }
}
