/**
 * The comparison of runs (issue 9 §3): the shapes the compare core (core/compare), the service
 * (`compareRuns`, `getTimeSeries`), the CLI (`iommu-lab compare`) and the UI's compare view share.
 * A "run" here is anything stored in `runs`: a scenario run, an imported trace, a replay of a trace
 * against a configuration (its `replay` record), or one variant of a scenario with `variants:`.
 * Values are plain JSON (numbers; u64 as "0x…" strings where they appear) so they cross IPC as is.
 */
import type { MetricUnit, RunConfig, RunStatus } from '../contract/index.ts';

/** What a compared run is. */
export type CompareRunKind = 'scenario' | 'trace' | 'replay';

/** One run of the comparison (a column of the table). Side 0 is the base the deltas are taken against. */
export interface CompareSide {
  runId: number;
  name: string;
  kind: CompareRunKind;
  status: RunStatus;
  /** The stored configuration (null for a trace, and for runs stored before schema version 4). */
  config: RunConfig | null;
  /**
   * The configuration as YAML text, for the Monaco diff: the scenario text without its `steps:`
   * (and without `variants:`), or, for a trace, its source (format, file, sha256, line counts).
   */
  configText: string;
  /** Virtual time of the run's last event, ns (0 when no event carries a time). */
  durationNs: number;
  /** Events stored. */
  events: number;
}

/** The group a row belongs to (the table's sections, in this order). */
export type CompareRowGroup = 'requests' | 'mappings' | 'invalidations' | 'faults' | 'host' | 'guest' | 'cost' | 'events';

/** One metric across the runs (a row of the table). */
export interface CompareRow {
  /**
   * Stable id, dotted: 'requests', 'requests.MAP', 'requests.MAP.RANGE', 'maps', 'unmaps',
   * 'invalidations', 'faults', 'faults.MAPPING', 'host.calls', 'host.failures', 'mappings.peak',
   * 'mappings.peakBytes', 'cost.total', 'cost.vmexit', … (tests and the CSV key on it).
   */
  id: string;
  group: CompareRowGroup;
  /** Label shown in the table ("MAP requests", "Faults: MAPPING", "Modelled cost"). */
  label: string;
  unit: MetricUnit;
  /** One value per side, in side order; null where the metric does not apply to that run. */
  values: (number | null)[];
  /** values[i] − values[0] per side (deltas[0] is 0 or null); null where either is null. */
  deltas: (number | null)[];
  /**
   * True when the values that apply (not null) are not all equal (the UI highlights, `--changed`
   * filters): a row only some runs have (a trace's source events, a guest layer one run lacks)
   * is not a change by itself.
   */
  differs: boolean;
}

/**
 * Where two runs first part ways, step by step: the first step (in step order) whose outcome
 * differs — its status, a fault or not (with the reason), the DMA address a dma-map got. Runs with
 * different step lists (not variants or replays of the same steps) are not compared this way:
 * `comparable` false with the reason. A trace against its replay uses the replay's own first
 * divergence (the trace's fault chain against the replay's).
 */
export interface FirstDivergence {
  /** Side indices: the base (0) and the other side. */
  a: number;
  b: number;
  comparable: boolean;
  /** Why they cannot be compared step by step (comparable false), else null. */
  reason: string | null;
  /** The first differing step (null when they agree everywhere), its line in the scenario / trace. */
  step: number | null;
  line: number | null;
  /**
   * The other side's line of that step when it differs from `line` (variants of one scenario keep
   * their lines; two scenario files with the same steps need not); absent or null otherwise.
   * For a trace against its replay, `line` is the trace line of the diverging access.
   */
  bLine?: number | null;
  /** What each side did at that step (one line each: status, fault text, DMA address). */
  aText: string | null;
  bText: string | null;
  /** The first event of that step in each run (links into both event lists); null when none. */
  aSeq: number | null;
  bSeq: number | null;
}

/**
 * The cost model (docs/cost-model.md gives each default's published source): ns charged per
 * operation, summed into each run's modelled cost. Every field is configurable per comparison.
 */
export interface CostModel {
  /** One VM exit (and re-entry) per vIOMMU request the guest sends (virtio-iommu kick, intel-iommu register write), ns. */
  vmExitNs: number;
  /** The vIOMMU's emulation of one request in QEMU (decode, state update), ns. */
  requestNs: number;
  /** One host map (IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA, pin + page-table update), ns per call. */
  hostMapNs: number;
  /** Additional host map cost per 4 KiB page pinned and mapped, ns. */
  hostMapPageNs: number;
  /** One host unmap (IOMMU_IOAS_UNMAP / VFIO_IOMMU_UNMAP_DMA, including its IOTLB invalidation), ns per call. */
  hostUnmapNs: number;
  /** One IOTLB invalidation the guest issues (a flush-queue flush, an intel-iommu invalidation descriptor), ns. */
  invalidationNs: number;
  /** One I/O page fault delivered to the guest, ns. */
  faultNs: number;
}

/** One comparison: the runs, the table, the first divergence of each other run against the base. */
export interface Comparison {
  sides: CompareSide[];
  rows: CompareRow[];
  /** One per side after the base, in side order (b = 1, 2, …). */
  divergences: FirstDivergence[];
  /** The cost model used (defaults with the caller's overrides). */
  costModel: CostModel;
}

/**
 * A run's series over virtual time for the compare plots (issue 9 §3): `points` samples (at most
 * the number asked), each at an event: its virtual time `t` (ns), its `seq` (the link into the
 * event list), the live mappings after it (count), the faults so far (cumulative), and the IOVA
 * space in use (bytes mapped, live). A trace's times are on its own clock (ns since its first event);
 * a run whose events carry no time at all (a kernel log without timestamps) has t = seq.
 * Built by main/service/time-series.ts (what each series counts, how it is downsampled).
 */
export interface TimeSeries {
  runId: number;
  t: number[];
  seq: number[];
  liveMappings: number[];
  faults: number[];
  iovaBytes: number[];
}
