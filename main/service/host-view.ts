/**
 * The run view's component and host panels behind the contract (issue 7 §5): listComponents,
 * getCausedEvents and getHostObjects, answered from main/store/host-view.ts.
 *
 * getHostObjects folds a run's 'host-call' events (core/events/objects.ts) forward from where the
 * last call stopped, and keeps checkpoints (clones of the fold) every CHECKPOINT_CALLS calls, so
 * stepping through events never refolds a run from its start: forward costs the calls in between,
 * backward a clone of the nearest checkpoint plus at most CHECKPOINT_CALLS calls. A running run's
 * table is folded only up to its last stored event.
 */
import type { Results, RunComponent, RunMetrics } from '../../core/contract/index.ts';
import { EVENT_CATALOG, FAMILY_LAYER, KIND_BY_CODE, type EventFamily, type KindSpec } from '../../core/events/catalog.ts';
import { HostObjectFold } from '../../core/events/objects.ts';
import { LAYERS } from '../../core/machine/component.ts';
import type { StoreReader } from '../store/reader.ts';
import type { HostViewReader } from '../store/host-view.ts';

/** Host calls between two checkpoints of a run's fold (at least; more when the table is bigger, see hostObjects). */
export const CHECKPOINT_CALLS = 20_000;
/** Host calls read per query while folding. */
const PAGE = 5_000;
/** Runs whose folds and component lists are kept. */
const RUNS_KEPT = 4;

/** The layer of each event family (core/events/catalog.ts), re-exported for the guest view. */
export { FAMILY_LAYER };

/** A component kind guessed from its events' family (when the run's metrics do not name it). */
const FAMILY_KIND: Record<EventFamily, string> = {
  guest: 'guest',
  'virtio-iommu': 'virtio-iommu',
  'intel-iommu': 'intel-iommu',
  'host-iommu-device': 'host-iommu-device',
  'host-backend': 'backend',
  'host-iommu': 'host-iommu',
  trace: 'trace',
  run: 'run',
};

interface RunFolds {
  /** Folds kept at every CHECKPOINT_CALLS calls, by ascending seq (the first is the empty table). */
  checkpoints: { fold: HostObjectFold; calls: number }[];
  /** The fold last answered from, and the calls it holds. */
  cursor: { fold: HostObjectFold; calls: number };
}

/** Answers the component/host panel methods. */
export class HostViewSource {
  private readonly folds = new Map<number, RunFolds>();
  private readonly components = new Map<number, RunComponent[]>();

  constructor(
    private readonly view: HostViewReader,
    private readonly reader: StoreReader,
  ) {}

  /**
   * The run's components with their event and problem counts, guest layer first (LAYERS order,
   * then first appearance), the run itself ('' id) last. Kind and layer come from runs.components
   * when its entries carry them, else from the run's metrics (RunMetrics.components) when they
   * name the component, else from its events' family.
   * Problems are counted per kind from the catalog's rule when it holds for every event of the
   * kind ('always'), else by reading the rows (only for kinds whose rule depends on a field).
   */
  listComponents(runId: number): Results['listComponents'] {
    const hit = this.components.get(runId);
    if (hit) return hit;
    const run = this.view.run(runId);
    if (!run) return [];
    const counts = this.view.componentKindCounts(runId);
    const metrics: RunMetrics | null = this.reader.getRun(runId)?.metrics ?? null;
    const declared = new Map<string, { kind?: string; layer?: string }>((metrics?.components ?? []).map((c) => [c.component, c]));
    // runs.components' own kind and layer, when it records them, come first.
    for (const c of this.view.componentSpecs(runId)) if (c.kind && c.layer) declared.set(c.id, c);
    const byId = new Map<string, RunComponent & { order: number }>();
    for (const c of counts) {
      const kind = KIND_BY_CODE[c.kind];
      const family = kind ? EVENT_CATALOG[kind].family : undefined;
      let comp = byId.get(c.component);
      if (!comp) {
        const d = declared.get(c.component);
        const own = c.component === '';
        comp = {
          id: c.component,
          kind: own ? 'run' : (d?.kind ?? (family ? FAMILY_KIND[family] : '?')),
          layer: own ? 'run' : (d?.layer ?? (family ? FAMILY_LAYER[family] : 'run')),
          events: 0,
          problems: 0,
          order: byId.size,
        };
        byId.set(c.component, comp);
      }
      comp.events += c.events;
      if (kind) {
        const rule = (EVENT_CATALOG[kind] as KindSpec).problem;
        if (rule?.when === 'always') comp.problems += c.events;
      }
    }
    const rank = (layer: string): number => {
      const i = (LAYERS as readonly string[]).indexOf(layer);
      return i < 0 ? LAYERS.length : i;
    };
    const out = [...byId.values()]
      .sort((a, b) => rank(a.layer) - rank(b.layer) || a.order - b.order)
      .map(({ order: _order, ...c }) => c);
    this.problemCounts(runId, out);
    if (run.status !== 'running') this.keep(this.components, runId, out);
    return out;
  }

  /** Adds the problems whose rule depends on a field: a problemsOnly page per component (the partial index). */
  private problemCounts(runId: number, comps: RunComponent[]): void {
    const specs = Object.entries(EVENT_CATALOG as Readonly<Record<string, KindSpec>>);
    const conditional = specs.filter(([, s]) => s.problem && s.problem.when !== 'always').map(([k]) => k);
    for (const c of comps) {
      const r = this.reader.queryEvents({ runId, offset: 0, limit: 1, problemsOnly: true, component: c.id, kinds: conditional });
      c.problems += r.total;
    }
  }

  /** The guest event's caused host calls and QEMU errors (in seq order). */
  causedEvents(runId: number, seq: number): Results['getCausedEvents'] {
    return this.view.causedBy(runId, seq);
  }

  /** The host object table after event `seq` (see the file comment). */
  hostObjects(runId: number, seq: number): Results['getHostObjects'] {
    const run = this.view.run(runId);
    if (!run) return { seq: -1, calls: 0, objects: [] };
    const target = Math.min(seq, run.events - 1);
    let st = this.folds.get(runId);
    if (!st) {
      const empty = new HostObjectFold();
      st = { checkpoints: [{ fold: empty, calls: 0 }], cursor: { fold: empty.clone(), calls: 0 } };
    }
    if (st.cursor.fold.seq > target) {
      // Back to the last checkpoint at or before the target.
      let i = st.checkpoints.length - 1;
      while (i > 0 && st.checkpoints[i].fold.seq > target) i--;
      st.cursor = { fold: st.checkpoints[i].fold.clone(), calls: st.checkpoints[i].calls };
    }
    const cur = st.cursor;
    for (;;) {
      const rows = this.view.hostCalls(runId, cur.fold.seq, target, PAGE);
      for (const r of rows) {
        cur.fold.apply(r);
        if (r.kind === 'host-call') cur.calls++;
        const last = st.checkpoints[st.checkpoints.length - 1];
        // A checkpoint every CHECKPOINT_CALLS calls, or more apart when the table is bigger than
        // that (many live areas): clones then cost O(1) per call folded, in time and memory.
        if (cur.calls - last.calls >= CHECKPOINT_CALLS && cur.fold.seq > last.fold.seq && cur.calls - last.calls >= cur.fold.weight) {
          st.checkpoints.push({ fold: cur.fold.clone(), calls: cur.calls });
        }
      }
      if (rows.length < PAGE) break;
    }
    if (target > cur.fold.seq) cur.fold.seq = target;
    this.keep(this.folds, runId, st);
    return { seq: cur.fold.seq, calls: cur.calls, objects: cur.fold.rows() };
  }

  private keep<V>(m: Map<number, V>, runId: number, v: V): void {
    m.delete(runId);
    m.set(runId, v);
    while (m.size > RUNS_KEPT) m.delete(m.keys().next().value!);
  }
}
