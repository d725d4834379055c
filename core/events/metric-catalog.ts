/**
 * The metric catalog: every metric a run reports, declared once with its label, unit, the kind and
 * layer of component it belongs to and how it folds events. Event kinds declare which metrics they
 * feed (core/events/catalog.ts `feeds`); the reducer (core/events/metrics.ts) folds events per
 * component from these two declarations; the run view's metric cards
 * (renderer/src/components/MetricsPanel.vue) and the CLI report (main/cli/report.ts) take labels
 * and units from here.
 *
 * This module imports nothing from the event catalog (the event catalog imports its types).
 */

import type { MetricUnit } from '../contract/index.ts';
import type { Layer } from '../machine/component.ts';

/** Unit of a metric value: a count of things, bytes, nanoseconds of virtual time, or a rate (the contract's). */
export type { MetricUnit };

/**
 * Layer of a component (DESIGN.md §2: guest DMA layer → vIOMMU → HostIOMMUDevice → host backend →
 * physical IOMMU), plus `run` for the run itself (events, expectations).
 */
export type ComponentLayer = 'run' | Layer;

/**
 * How a metric folds what its feeds give it:
 * - `count`: the number of feeding events;
 * - `tally`: a count per key (one level, e.g. fault reason) or per key pair (request type, then
 *   status); its value is the total;
 * - `gauge`: a level raised and lowered by amounts, held per scope (e.g. per domain) so a scope can
 *   be released as a whole; reports the live value and the peak. A run-wide gauge over several
 *   components reports the sum of their peaks (an upper bound).
 */
export type MetricFold = 'count' | 'tally' | 'gauge';

/** One declared metric. */
export interface MetricSpec {
  /** Card / report label. */
  readonly label: string;
  readonly unit: MetricUnit;
  /** Kind of component it is measured on: a component kind ('virtio-iommu', …) or 'run'. */
  readonly component: string;
  readonly layer: ComponentLayer;
  readonly fold: MetricFold;
  readonly doc: string;
  /** True when every event feeds it, tallied by kind name (the run's event count). */
  readonly everyEvent?: boolean;
  /**
   * For a tally whose parts are a fixed list: the parts in display order; `headline` is the part
   * shown as the main figure (the others below it).
   */
  readonly parts?: readonly string[];
  readonly headline?: string;
  /** A problem metric: shown in the problem colour when its value (or `alertPart`) is above 0. */
  readonly alert?: boolean;
  readonly alertPart?: string;
}

/** Every metric, in display order (run-level first). Ids are stable: the contract carries them. */
export const METRIC_CATALOG = {
  events: { label: 'Events', unit: 'count', component: 'run', layer: 'run', fold: 'tally', everyEvent: true, doc: 'events emitted, by kind name' },
  requests: {
    label: 'Requests',
    unit: 'count',
    component: 'virtio-iommu',
    layer: 'viommu',
    fold: 'tally',
    doc: 'requests completed, by request type name (ATTACH … PROBE, UNKNOWN) then status name (OK … NOMEM, UNWRITTEN)',
  },
  translations: { label: 'Translations', unit: 'count', component: 'virtio-iommu', layer: 'viommu', fold: 'count', doc: 'DMA accesses translated' },
  faults: { label: 'Faults', unit: 'count', component: 'virtio-iommu', layer: 'viommu', fold: 'tally', alert: true, doc: 'faults reported, by reason name' },
  mappings: { label: 'Live mappings', unit: 'count', component: 'virtio-iommu', layer: 'viommu', fold: 'gauge', doc: 'mappings live in all domains (peak: most at once)' },
  mappedBytes: {
    label: 'Mapped bytes',
    unit: 'bytes',
    component: 'virtio-iommu',
    layer: 'viommu',
    fold: 'gauge',
    doc: 'bytes covered by live mappings, virtEnd − virtStart + 1 each (peak: most at once)',
  },
  hostCalls: {
    label: 'uAPI calls',
    unit: 'count',
    component: 'iommufd',
    layer: 'backend',
    fold: 'tally',
    doc: "iommufd uAPI calls ('host-call' events; iommufd's VFIO compatibility included), by ioctl name then errno name (OK, ENOENT, …)",
  },
  vfioCalls: {
    label: 'uAPI calls',
    unit: 'count',
    component: 'vfio-type1',
    layer: 'backend',
    fold: 'tally',
    doc: "VFIO type1 container uAPI calls ('host-call' events), by ioctl name then errno name (OK, EINVAL, …)",
  },
  dmaMaps: {
    label: 'dma_map calls',
    unit: 'count',
    component: 'linux',
    layer: 'guest',
    fold: 'tally',
    parts: ['mapped', 'failed'],
    headline: 'mapped',
    alertPart: 'failed',
    doc: "the guest's dma_map calls through dma-iommu ('dma-map' events): mapped or failed (DMA_MAPPING_ERROR)",
  },
  dmaUnmaps: { label: 'dma_unmap calls', unit: 'count', component: 'linux', layer: 'guest', fold: 'tally', parts: ['strict', 'queued'], doc: "the guest's dma_unmap calls: strict (IOTLB synced at once) or queued (flush queue)" },
  dmaMappings: { label: 'Live DMA mappings', unit: 'count', component: 'linux', layer: 'guest', fold: 'gauge', doc: 'DMA mappings the guest holds (peak: most at once)' },
  fqFlushes: { label: 'Flush-queue flushes', unit: 'count', component: 'linux', layer: 'guest', fold: 'tally', parts: ['queue full', 'timeout'], doc: 'flush-queue flushes by reason' },
  staleAccesses: { label: 'Stale translations', unit: 'count', component: 'linux', layer: 'guest', fold: 'count', alert: true, doc: 'DMA that reached memory through a translation already unmapped (lazy window)' },
  traceMaps: { label: 'Trace maps', unit: 'count', component: 'trace', layer: 'run', fold: 'tally', doc: "mappings in an imported trace ('trace-map' events), by source event (iommu:map, virtio_iommu_map, …)" },
  traceUnmaps: { label: 'Trace unmaps', unit: 'count', component: 'trace', layer: 'run', fold: 'tally', doc: "unmappings in an imported trace ('trace-unmap' events), by source event" },
  traceFaults: { label: 'Trace faults', unit: 'count', component: 'trace', layer: 'run', fold: 'tally', alert: true, doc: "DMA faults in an imported trace ('trace-fault' events), by source (DMAR, AMD-Vi, SMMUv3, iommu:io_page_fault, …)" },
  traceInvalidations: { label: 'Trace invalidations', unit: 'count', component: 'trace', layer: 'run', fold: 'tally', doc: "IOTLB and other invalidations in an imported trace ('trace-inval' events), by descriptor type" },
  expectations: {
    label: 'Expectations',
    unit: 'count',
    component: 'run',
    layer: 'run',
    fold: 'tally',
    parts: ['held', 'failed'],
    headline: 'held',
    alertPart: 'failed',
    doc: "scenario steps' expectations checked: held or failed",
  },
} as const satisfies Record<string, MetricSpec>;

/** Id of a declared metric. */
export type MetricId = keyof typeof METRIC_CATALOG;

/** Metric ids in display order. */
export const METRIC_IDS: readonly MetricId[] = Object.keys(METRIC_CATALOG) as MetricId[];

/** The declaration of metric `id` (undefined for an id this build does not know). */
export function metricSpec(id: string): MetricSpec | undefined {
  return Object.hasOwn(METRIC_CATALOG, id) ? (METRIC_CATALOG as Record<string, MetricSpec>)[id] : undefined;
}

/** Layer of each component kind this build knows ('run' for the run itself). */
export const COMPONENT_LAYER: Readonly<Record<string, ComponentLayer>> = {
  run: 'run',
  trace: 'run',
  linux: 'guest',
  'virtio-iommu': 'viommu',
  'intel-iommu': 'viommu',
  iommufd: 'backend',
  'vfio-type1': 'backend',
  'intel-vtd': 'iommu',
  'amd-vi': 'iommu',
  'arm-smmuv3': 'iommu',
};

/** Event fields as a kind's feed functions receive them (u64 as bigint live or "0x…" stored). */
export type FeedFields = Readonly<Record<string, unknown>>;

/**
 * What one event of a kind gives a metric (declared per kind in the event catalog):
 * - `count`: +1 (a `count` metric), or +1 under `key` (a `tally`), or under `key` then `subkey`
 *   (a tally by key pair: request type, then status);
 * - `add` / `sub`: raise or lower a `gauge` by `amount` (default 1) in the event's `scope`;
 * - `release`: lower a `gauge` by whatever `scope` still holds, and forget the scope.
 */
export type MetricFeed =
  | { readonly metric: MetricId; readonly op: 'count'; readonly key?: (f: FeedFields) => string; readonly subkey?: (f: FeedFields) => string }
  | { readonly metric: MetricId; readonly op: 'add' | 'sub'; readonly amount?: (f: FeedFields) => bigint | number; readonly scope: (f: FeedFields) => number }
  | { readonly metric: MetricId; readonly op: 'release'; readonly scope: (f: FeedFields) => number };
