/**
 * The comparison of stored runs (issue 9 §3): a table of metrics with deltas against the first run,
 * the modelled cost, the first divergence of each run against the first, and each run's
 * configuration as text. Pure: the service (main/service/compare.ts) reads the runs and the few
 * facts only their events hold (CompareInput), and fills the divergences' event seqs.
 *
 * Rows come from the stored metrics (core/events/metric-catalog.ts, per component) and the event
 * counts by kind (core/events/catalog.ts). A row applies to a run when the run has the component
 * the metric is measured on: a run without a guest DMA layer has null (not 0) in the guest rows,
 * an imported trace null in the request, guest and host rows, and its maps, unmaps, invalidations
 * and faults from its trace events, by source event.
 */
import type { ComponentMetric, ComponentMetrics, MetricUnit, RunDetail } from '../contract/index.ts';
import { componentMetricsOf } from '../events/metrics.ts';
import { COST_TERMS, modelledCost, type CostCounts } from './cost.ts';
import { configTextOf } from './config-text.ts';
import { firstDivergence, runKind } from './divergence.ts';
import type { Comparison, CompareRow, CompareRowGroup, CompareSide, CostModel } from './types.ts';

/** What the service gives for one run: the stored run and what only its events tell. */
export interface CompareInput {
  run: RunDetail;
  /** Virtual time of the run's last event, ns (a trace: since its first event); 0 when no event has a time. */
  durationNs: number;
  /**
   * 4 KiB pages mapped by the run's successful host map calls (IOMMU_IOAS_MAP, IOMMU_IOAS_COPY,
   * VFIO_IOMMU_MAP_DMA; each call's length rounded up to pages): the per-page term of the host map
   * cost. 0 without host calls.
   */
  hostMapPages: number;
}

/** Group order of the table (CompareRowGroup). */
export const ROW_GROUPS: readonly CompareRowGroup[] = ['requests', 'mappings', 'invalidations', 'faults', 'host', 'guest', 'cost', 'events'];

/**
 * What a row needs of a run to apply to it: a component of that family ('viommu': virtio-iommu;
 * 'guest': the guest DMA layer, kind linux; 'host': an iommufd or vfio-type1 backend; 'trace': an
 * imported trace), or 'run' (every run).
 */
type Family = 'run' | 'viommu' | 'guest' | 'host' | 'trace';

const FAMILY_OF_KIND: Readonly<Record<string, Family>> = { 'virtio-iommu': 'viommu', linux: 'guest', iommufd: 'host', 'vfio-type1': 'host', trace: 'trace' };

/** Host calls that map (charged hostMapNs each) and unmap (hostUnmapNs): both backends' uAPI names. */
export const HOST_MAP_IOCTLS: readonly string[] = ['IOMMU_IOAS_MAP', 'IOMMU_IOAS_COPY', 'VFIO_IOMMU_MAP_DMA'];
export const HOST_UNMAP_IOCTLS: readonly string[] = ['IOMMU_IOAS_UNMAP', 'VFIO_IOMMU_UNMAP_DMA'];

/** One row as one run gives it. */
interface Cell {
  id: string;
  group: CompareRowGroup;
  label: string;
  unit: MetricUnit;
  family: Family;
  value: number | null;
}

/** One run's metrics, read per component family. */
class RunFacts {
  readonly families = new Set<Family>(['run']);
  private readonly comps: ComponentMetrics[];
  readonly byKind: Record<string, number>;

  constructor(readonly input: CompareInput) {
    const m = input.run.metrics;
    this.comps = m ? componentMetricsOf(m) : [];
    this.byKind = m?.byKind ?? {};
    for (const c of this.comps) {
      const f = FAMILY_OF_KIND[c.kind];
      if (f) this.families.add(f);
    }
  }

  has(f: Family): boolean {
    return this.families.has(f);
  }

  /** The metric `id` on every component of family `f`. */
  metrics(f: Family, id: string): ComponentMetric[] {
    const out: ComponentMetric[] = [];
    for (const c of this.comps) {
      if (FAMILY_OF_KIND[c.kind] !== f) continue;
      for (const x of c.metrics) if (x.id === id) out.push(x);
    }
    return out;
  }

  /** Sum of a metric's value (or peak) over the family's components; null when the family is absent. */
  value(f: Family, id: string, what: 'value' | 'peak' = 'value'): number | null {
    if (!this.has(f)) return null;
    let n = 0;
    for (const x of this.metrics(f, id)) n += Number(x[what] ?? 0);
    return n;
  }

  /** A tally's parts summed over the family's components: one level (key → n) or the first level of two (key → total). */
  parts(f: Family, id: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const x of this.metrics(f, id)) {
      for (const [k, v] of Object.entries(x.parts ?? {})) {
        const n = typeof v === 'number' ? v : Object.values(v).reduce((s, y) => s + y, 0);
        out.set(k, (out.get(k) ?? 0) + n);
      }
    }
    return out;
  }

  /** A two-level tally's parts (key → subkey → n) summed over the family's components. */
  parts2(f: Family, id: string): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const x of this.metrics(f, id)) {
      for (const [k, v] of Object.entries(x.parts ?? {})) {
        if (typeof v === 'number') continue;
        let row = out.get(k);
        if (!row) out.set(k, (row = new Map()));
        for (const [s, n] of Object.entries(v)) row.set(s, (row.get(s) ?? 0) + n);
      }
    }
    return out;
  }

  kind(k: string): number {
    return this.byKind[k] ?? 0;
  }
}

const sum = (m: Map<string, number>) => {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
};

/** The rows one run gives, in table order within each group (rows of other groups interleave freely; the merge sorts by group). */
function cellsOf(r: RunFacts): { cells: Cell[]; counts: CostCounts } {
  const cells: Cell[] = [];
  const add = (id: string, group: CompareRowGroup, label: string, family: Family, value: number | null, unit: MetricUnit = 'count') =>
    cells.push({ id, group, label, unit, family, value: r.has(family) || family === 'run' ? value : null });
  const viommu = r.has('viommu');
  const trace = r.has('trace');
  const guest = r.has('guest');
  const host = r.has('host');

  // Requests: the vIOMMU's, by type, then by status.
  const req = r.parts2('viommu', 'requests');
  let total = 0;
  let failed = 0;
  for (const row of req.values()) {
    for (const [s, n] of row) {
      total += n;
      if (s !== 'OK') failed += n;
    }
  }
  add('requests', 'requests', 'Requests', 'viommu', total);
  add('requests.notOk', 'requests', 'Requests not OK', 'viommu', failed);
  for (const [t, row] of req) {
    add(`requests.${t}`, 'requests', `${t} requests`, 'viommu', sum(row));
    for (const [s, n] of row) add(`requests.${t}.${s}`, 'requests', `${t} requests: ${s}`, 'viommu', n);
  }

  // Mappings: the vIOMMU's map / unmap events, or a trace's map / unmap lines by source event.
  const traceMaps = r.parts('trace', 'traceMaps');
  const traceUnmaps = r.parts('trace', 'traceUnmaps');
  const maps = viommu ? r.kind('map') : trace ? sum(traceMaps) : null;
  const unmaps = viommu ? r.kind('unmap') : trace ? sum(traceUnmaps) : null;
  add('maps', 'mappings', 'Maps', 'run', maps);
  for (const [e, n] of traceMaps) add(`maps.${e}`, 'mappings', `Maps: ${e}`, 'trace', n);
  add('unmaps', 'mappings', 'Unmaps', 'run', unmaps);
  for (const [e, n] of traceUnmaps) add(`unmaps.${e}`, 'mappings', `Unmaps: ${e}`, 'trace', n);
  add('translations', 'mappings', 'Translations', 'viommu', r.value('viommu', 'translations'));
  add('mappings.peak', 'mappings', 'Peak mappings', 'viommu', r.value('viommu', 'mappings', 'peak'));
  add('mappings.live', 'mappings', 'Live mappings at the end', 'viommu', r.value('viommu', 'mappings'));
  add('mappings.peakBytes', 'mappings', 'Peak mapped bytes', 'viommu', r.value('viommu', 'mappedBytes', 'peak'), 'bytes');
  add('mappings.liveBytes', 'mappings', 'Mapped bytes at the end', 'viommu', r.value('viommu', 'mappedBytes'), 'bytes');

  // Invalidations: the guest's IOTLB syncs of strict unmaps and its flush-queue flushes; a trace's invalidation lines.
  const unmapModes = r.parts('guest', 'dmaUnmaps');
  const fq = r.parts('guest', 'fqFlushes');
  const traceInval = r.parts('trace', 'traceInvalidations');
  const strict = unmapModes.get('strict') ?? 0;
  const invalidations = guest ? strict + sum(fq) : trace ? sum(traceInval) : null;
  add('invalidations', 'invalidations', 'Invalidations', 'run', invalidations);
  add('invalidations.strict', 'invalidations', 'Strict dma_unmap syncs (iotlb_sync)', 'guest', strict);
  add('invalidations.fqFlushes', 'invalidations', 'Flush-queue flushes', 'guest', sum(fq));
  for (const [k, n] of fq) add(`invalidations.fqFlushes.${k}`, 'invalidations', `Flush-queue flushes: ${k}`, 'guest', n);
  for (const [k, n] of traceInval) add(`invalidations.${k}`, 'invalidations', `Invalidations: ${k}`, 'trace', n);

  // Faults: the vIOMMU's by reason, or a trace's by source.
  const reasons = r.parts('viommu', 'faults');
  const traceFaults = r.parts('trace', 'traceFaults');
  const faults = viommu ? sum(reasons) : trace ? sum(traceFaults) : null;
  add('faults', 'faults', 'Faults', 'run', faults);
  for (const [k, n] of reasons) add(`faults.${k}`, 'faults', `Faults: ${k}`, 'viommu', n);
  for (const [k, n] of traceFaults) add(`faults.${k}`, 'faults', `Faults: ${k}`, 'trace', n);

  // Host: uAPI calls and failures by ioctl (iommufd or VFIO type1), host DMA and the physical IOMMU's faults.
  const calls = new Map<string, Map<string, number>>();
  for (const id of ['hostCalls', 'vfioCalls']) {
    for (const [k, row] of r.parts2('host', id)) {
      let acc = calls.get(k);
      if (!acc) calls.set(k, (acc = new Map()));
      for (const [s, n] of row) acc.set(s, (acc.get(s) ?? 0) + n);
    }
  }
  let hostCalls = 0;
  let hostFailures = 0;
  let hostMaps = 0;
  let hostUnmaps = 0;
  for (const [ioctl, row] of calls) {
    const n = sum(row);
    hostCalls += n;
    hostFailures += n - (row.get('OK') ?? 0);
    if (HOST_MAP_IOCTLS.includes(ioctl)) hostMaps += n;
    if (HOST_UNMAP_IOCTLS.includes(ioctl)) hostUnmaps += n;
  }
  add('host.calls', 'host', 'Host uAPI calls', 'host', hostCalls);
  add('host.failures', 'host', 'Host uAPI failures', 'host', hostFailures);
  add('host.maps', 'host', 'Host map calls', 'host', hostMaps);
  add('host.mapPages', 'host', 'Host pages mapped (4 KiB)', 'host', r.input.hostMapPages);
  add('host.unmaps', 'host', 'Host unmap calls', 'host', hostUnmaps);
  for (const [ioctl, row] of calls) {
    add(`host.calls.${ioctl}`, 'host', `${ioctl} calls`, 'host', sum(row));
    for (const [errno, n] of row) if (errno !== 'OK') add(`host.failures.${ioctl}.${errno}`, 'host', `${ioctl} failed: ${errno}`, 'host', n);
  }
  add('host.dma', 'host', 'Host DMA accesses', 'host', r.kind('host-dma'));
  add('host.faults', 'host', 'Host IOMMU faults', 'host', r.kind('host-fault'));
  add('host.qemuErrors', 'host', 'QEMU errors', 'host', r.kind('qemu-error'));

  // Guest DMA layer (issue 8).
  const dmaMaps = r.parts('guest', 'dmaMaps');
  add('guest.dmaMap', 'guest', 'dma_map calls', 'guest', sum(dmaMaps));
  add('guest.dmaMapError', 'guest', 'dma_map: DMA_MAPPING_ERROR', 'guest', dmaMaps.get('failed') ?? 0);
  add('guest.dmaUnmap', 'guest', 'dma_unmap calls', 'guest', sum(unmapModes));
  add('guest.dmaUnmap.strict', 'guest', 'dma_unmap: strict', 'guest', strict);
  add('guest.dmaUnmap.queued', 'guest', 'dma_unmap: queued', 'guest', unmapModes.get('queued') ?? 0);
  add('guest.dmaMappings.peak', 'guest', 'Peak DMA mappings', 'guest', r.value('guest', 'dmaMappings', 'peak'));
  add('guest.syncs', 'guest', 'Request queue syncs (kicks)', 'guest', r.kind('guest-sync'));
  add('guest.stale', 'guest', 'Stale translations', 'guest', r.value('guest', 'staleAccesses'));

  // Events, by kind, and the virtual time they span.
  add('events', 'events', 'Events', 'run', r.input.run.metrics?.events ?? r.input.run.events);
  add('duration', 'events', 'Virtual time', 'run', r.input.durationNs, 'ns');
  // A scenario's expectations (variants with per-variant `expect-in` differ here); a trace has none.
  const ex = r.input.run.metrics?.expectations;
  add('expectations.held', 'events', 'Expectations held', 'run', trace || !ex ? null : ex.held);
  add('expectations.failed', 'events', 'Expectations failed', 'run', trace || !ex ? null : ex.failed);
  for (const [k, n] of Object.entries(r.byKind)) add(`events.${k}`, 'events', `Events: ${k}`, 'run', n);

  const counts: CostCounts = {
    vmExits: guest ? r.kind('guest-sync') : viommu ? total : null,
    requests: viommu ? total : null,
    hostMaps: host ? hostMaps : null,
    hostMapPages: host ? r.input.hostMapPages : null,
    hostUnmaps: host ? hostUnmaps : null,
    invalidations,
    faults,
  };
  return { cells, counts };
}

/**
 * The operations a run's modelled cost counts (CostCounts) from its stored metrics: VM exits are
 * the guest's request-queue kicks with a guest DMA layer, else one per vIOMMU request.
 */
export function costCountsOf(input: CompareInput): CostCounts {
  return cellsOf(new RunFacts(input)).counts;
}

/**
 * Merges each run's ordered row ids into one order: a row first seen in a later run goes right
 * after the row before it in that run (so a request type only one run has sits with its type),
 * then rows are ordered by group (stable).
 */
function mergeOrder(lists: readonly Cell[][]): Cell[] {
  const order: Cell[] = [];
  const index = new Map<string, number>();
  for (const list of lists) {
    let prev = -1;
    for (const c of list) {
      const at = index.get(c.id);
      if (at !== undefined) {
        prev = at;
        continue;
      }
      order.splice(prev + 1, 0, c);
      prev++;
      index.clear();
      order.forEach((x, i) => index.set(x.id, i));
    }
  }
  const g = (c: Cell) => ROW_GROUPS.indexOf(c.group);
  return order.map((c, i) => ({ c, i })).sort((x, y) => g(x.c) - g(y.c) || x.i - y.i).map((x) => x.c);
}

/** A row from each run's cell for it (missing: 0 when the run has the row's family, else null). */
function row(first: Cell, perRun: Map<string, Cell>[], facts: RunFacts[]): CompareRow {
  const values = perRun.map((m, i) => {
    const c = m.get(first.id);
    if (c) return c.value;
    return facts[i].has(first.family) ? 0 : null;
  });
  const v0 = values[0];
  const deltas = values.map((v) => (v === null || v0 === null ? null : v - v0));
  // Only values that apply: null (the row does not apply to that run) is not a change.
  let seen: number | null = null;
  let differs = false;
  for (const v of values) {
    if (v === null) continue;
    if (seen === null) seen = v;
    else if (v !== seen) differs = true;
  }
  return { id: first.id, group: first.group, label: first.label, unit: first.unit, values, deltas, differs };
}

/**
 * The comparison of `inputs` (2 or more runs; the first is the base the deltas are taken
 * against) under cost model `model` (complete: costModel() applies overrides to the defaults).
 * Divergences: one per run after the first, against the first (aSeq / bSeq null: the service
 * fills them). Errors: RangeError for fewer than 2 inputs.
 */
export function compareRuns(inputs: readonly CompareInput[], model: CostModel): Comparison {
  if (inputs.length < 2) throw new RangeError(`a comparison needs at least 2 runs, got ${inputs.length}`);
  const facts = inputs.map((i) => new RunFacts(i));
  const perRunCells: Cell[][] = [];
  for (const f of facts) {
    const { cells, counts } = cellsOf(f);
    const cost = modelledCost(counts, model);
    cells.push({ id: 'cost.total', group: 'cost', label: 'Modelled cost', unit: 'ns', family: 'run', value: cost.total });
    for (const { term, label } of COST_TERMS) cells.push({ id: `cost.${term}`, group: 'cost', label, unit: 'ns', family: 'run', value: cost[term] });
    perRunCells.push(cells);
  }
  const perRun = perRunCells.map((cells) => new Map(cells.map((c) => [c.id, c])));
  const rows = mergeOrder(perRunCells).map((c) => row(c, perRun, facts));
  const sides: CompareSide[] = inputs.map(({ run, durationNs }) => ({
    runId: run.id,
    name: run.name,
    kind: runKind(run),
    status: run.status,
    config: run.config,
    configText: configTextOf(run),
    durationNs,
    events: run.events,
  }));
  const divergences = inputs.slice(1).map((x, i) => firstDivergence(0, inputs[0].run, i + 1, x.run));
  return { sides, rows, divergences, costModel: { ...model } };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * The comparison's table as CSV (RFC 4180, CRLF line ends): a header row `group, id, label, unit`,
 * one column per run ("run <id>: <name>"), one delta column per run after the first
 * ("Δ run <id>"), and `differs`; then a row per CompareRow. Empty cells for null values.
 */
export function comparisonCsv(c: Comparison): string {
  const head = ['group', 'id', 'label', 'unit', ...c.sides.map((s) => `run ${s.runId}: ${s.name}`), ...c.sides.slice(1).map((s) => `Δ run ${s.runId}`), 'differs'];
  const num = (v: number | null) => (v === null ? '' : String(v));
  const lines = [head, ...c.rows.map((r) => [r.group, r.id, r.label, r.unit, ...r.values.map(num), ...r.deltas.slice(1).map(num), r.differs ? 'yes' : 'no'])];
  return lines.map((l) => l.map(csvField).join(',')).join('\r\n') + '\r\n';
}
