/**
 * The cost model of a comparison (issue 9 §3): each run's operations, counted from its stored
 * metrics, times a cost per operation in ns — what the run would cost on a real host, to a first
 * order. docs/cost-model.md gives each default's source (what was measured, on what hardware) and
 * says which defaults are estimates. Pure.
 */
import type { CostModel } from './types.ts';

/**
 * The default cost per operation, ns. docs/cost-model.md gives each source in full (what was
 * measured, by whom, on what hardware) and the reasoning from it to the number:
 * - `vmExitNs` 1000: derived — ~2,530 TSC cycles around one KVM_RUN ioctl on an AMD SVM host
 *   (M. Roth, LKML, Dec 2020), at an assumed 2.5 GHz.
 * - `requestNs` 2000: estimate (no per-request measurement of QEMU's virtio-iommu found).
 * - `hostMapNs` 1500: measured — a VFIO_IOMMU_MAP_DMA that pins nothing (a 16 GB PFNMAP BAR) took
 *   1.5 µs on a Xeon E5 at 2.6 GHz (J. Cai, "vfio/type1: Improve memory pinning process for raw
 *   PFN mapping", 2018).
 * - `hostMapPageNs` 200: derived — QEMU pinning guest memory through VFIO_IOMMU_MAP_DMA costs
 *   ~930 ns per 4 KiB page on a two-node Broadwell server, 78.6% of it first-touch page clearing
 *   a used DMA buffer does not pay (D. Jordan, "vfio/type1: Batch page pinning", 2021).
 * - `hostUnmapNs` 3000: estimate — a map call's ioctl cost plus one synchronous IOTLB invalidation.
 * - `invalidationNs` 1000: estimate — invalidations are documented as costly (vIOMMU, ATC 2011:
 *   strict 43% vs deferred 91% of 10 Gbps line rate) but no per-invalidation time was found.
 * - `faultNs` 5000: estimate (fault record, interrupt injection, the guest's handler).
 */
export const DEFAULT_COST_MODEL: Readonly<CostModel> = Object.freeze({
  vmExitNs: 1000,
  requestNs: 2000,
  hostMapNs: 1500,
  hostMapPageNs: 200,
  hostUnmapNs: 3000,
  invalidationNs: 1000,
  faultNs: 5000,
});

/** The keys of a cost model, in the order the table and the docs list them. */
export const COST_KEYS: readonly (keyof CostModel)[] = ['vmExitNs', 'requestNs', 'hostMapNs', 'hostMapPageNs', 'hostUnmapNs', 'invalidationNs', 'faultNs'];

/** A key of the cost model (vmExitNs, …). */
export function isCostKey(k: string): k is keyof CostModel {
  return (COST_KEYS as readonly string[]).includes(k);
}

/**
 * The defaults with `overrides` applied. Errors: a RangeError naming the key for a value that is
 * not a finite number ≥ 0, or for a key the model does not have (callers validate user input
 * first; this is the last guard).
 */
export function costModel(overrides: Partial<CostModel> = {}): CostModel {
  const m: CostModel = { ...DEFAULT_COST_MODEL };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    if (!isCostKey(k)) throw new RangeError(`unknown cost model key "${k}" (keys: ${COST_KEYS.join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`cost model ${k} must be a finite number of ns ≥ 0, got ${String(v)}`);
    m[k] = v;
  }
  return m;
}

/**
 * The operations a run's modelled cost is charged for, counted from its metrics and events (see
 * compare.ts costCountsOf). null where the run cannot tell (an imported trace has no guest
 * requests): that term is then null, not 0.
 */
export interface CostCounts {
  /** VM exits: the guest's kicks of the request queue ('guest-sync' events) with a guest layer, else one per request. */
  vmExits: number | null;
  /** vIOMMU requests completed. */
  requests: number | null;
  /** Host map calls (IOMMU_IOAS_MAP, IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA), failed ones included. */
  hostMaps: number | null;
  /** 4 KiB pages the successful host map calls mapped (bytes / 4096, rounded up per call). */
  hostMapPages: number | null;
  /** Host unmap calls (IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA). */
  hostUnmaps: number | null;
  /** IOTLB invalidations the guest issued (strict dma_unmap syncs, flush-queue flushes; a trace's invalidation lines). */
  invalidations: number | null;
  /** I/O page faults reported to the guest (the vIOMMU's faults; a trace's fault lines). */
  faults: number | null;
}

/** One run's modelled cost, ns per term and the total (the sum of the terms that are not null; null when all are). */
export interface ModelledCost {
  vmexit: number | null;
  request: number | null;
  hostMap: number | null;
  hostUnmap: number | null;
  invalidation: number | null;
  fault: number | null;
  total: number | null;
}

/** The terms of ModelledCost in table order, with their labels (the 'cost.<term>' rows). */
export const COST_TERMS: readonly { term: Exclude<keyof ModelledCost, 'total'>; label: string }[] = [
  { term: 'vmexit', label: 'Cost: VM exits' },
  { term: 'request', label: 'Cost: vIOMMU requests' },
  { term: 'hostMap', label: 'Cost: host maps' },
  { term: 'hostUnmap', label: 'Cost: host unmaps' },
  { term: 'invalidation', label: 'Cost: invalidations' },
  { term: 'fault', label: 'Cost: faults' },
];

const times = (n: number | null, ns: number): number | null => (n === null ? null : n * ns);

/**
 * ns per term of the cost: counts × the model's cost per operation; hostMap is
 * hostMaps × hostMapNs + hostMapPages × hostMapPageNs (null only when both counts are null).
 */
export function modelledCost(c: CostCounts, model: CostModel): ModelledCost {
  const hostMap = c.hostMaps === null && c.hostMapPages === null ? null : (c.hostMaps ?? 0) * model.hostMapNs + (c.hostMapPages ?? 0) * model.hostMapPageNs;
  const out: ModelledCost = {
    vmexit: times(c.vmExits, model.vmExitNs),
    request: times(c.requests, model.requestNs),
    hostMap,
    hostUnmap: times(c.hostUnmaps, model.hostUnmapNs),
    invalidation: times(c.invalidations, model.invalidationNs),
    fault: times(c.faults, model.faultNs),
    total: null,
  };
  for (const { term } of COST_TERMS) {
    const v = out[term];
    if (v !== null) out.total = (out.total ?? 0) + v;
  }
  return out;
}
