/**
 * The compare view's state (issue 9 §3): the runs list's multi-selection (Ctrl/Cmd-click, Shift-
 * click), the runs being compared (the first is the base the deltas are taken against), their
 * comparison (compareRuns), their series over virtual time (getTimeSeries), and the links back
 * into the workbench's event list.
 *
 * Other stores open a comparison with `open(runIds)` (a variants run, replays of a trace).
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { Comparison, TimeSeries } from '../../../core/compare/types.ts';
import { lab, transport } from '../api/index.ts';
import { errorText } from '../api/errors.ts';
import { useEventsStore } from './events.ts';
import { useNoticesStore } from './notices.ts';
import { useRunsStore } from './runs.ts';
import { useViewStore } from './view.ts';
import { downloadText } from '../download.ts';

/** Most runs one comparison takes (compareRuns: 2..8). */
export const MAX_COMPARED = 8;
/** Samples asked per run for the plots. */
export const PLOT_POINTS = 2000;

/** Where the compare view is. */
export type CompareState = 'empty' | 'running' | 'loading' | 'ready' | 'error';

/**
 * The runs list's selection after a click on `id` (pure, for the list and its tests): a plain click
 * selects only `id`; Ctrl/Cmd (`toggle`) adds or removes it (starting from `current`, the run shown,
 * when nothing is selected yet); Shift (`range`) selects the runs between `anchor` and `id` in
 * list order, the anchor first. `order` is the list's run ids, top to bottom.
 */
export function nextSelection(
  selection: readonly number[],
  id: number,
  mods: { toggle: boolean; range: boolean },
  order: readonly number[],
  anchor: number | null,
  current: number | null,
): number[] {
  const base = selection.length ? [...selection] : current !== null && current !== id ? [current] : [];
  if (mods.range) {
    const from = anchor ?? base[0] ?? current;
    const a = from === null || from === undefined ? -1 : order.indexOf(from);
    const b = order.indexOf(id);
    if (a === -1 || b === -1) return [id];
    const step = a <= b ? 1 : -1;
    const out: number[] = [];
    for (let i = a; ; i += step) {
      out.push(order[i]);
      if (i === b) break;
    }
    return out;
  }
  if (mods.toggle) {
    const i = base.indexOf(id);
    if (i === -1) base.push(id);
    else base.splice(i, 1);
    return base;
  }
  return [id];
}

/** The comparison and the runs list's multi-selection. */
export const useCompareStore = defineStore('compare', () => {
  const notices = useNoticesStore();
  const view = useViewStore();

  /** The runs list's selection (click order), for "Compare (n)". */
  const selection = ref<number[]>([]);
  /** Where a Shift-click range starts: the last plain or Ctrl/Cmd-clicked run. */
  const anchor = ref<number | null>(null);
  /** The compared runs, the base first. */
  const runIds = ref<number[]>([]);
  const comparison = shallowRef<Comparison | null>(null);
  /** Series by run id. */
  const series = shallowRef<Map<number, TimeSeries>>(new Map());
  const loading = ref(false);
  const error = ref<string | null>(null);
  /** The side the Monaco diff shows against the base (1 … sides − 1). */
  const diffSide = ref(1);
  /** The metrics table shows only the rows whose values differ. */
  const onlyChanged = ref(false);
  let generation = 0;

  /** Compared runs still running (their ids): the comparison waits for them. */
  const running = computed(() => {
    const runs = useRunsStore();
    return runIds.value.filter((id) => runs.runs.find((r) => r.id === id)?.status === 'running');
  });

  const state = computed<CompareState>(() => {
    if (runIds.value.length < 2) return 'empty';
    if (running.value.length) return 'running';
    if (error.value !== null) return 'error';
    if (loading.value || !comparison.value) return 'loading';
    return 'ready';
  });

  /** A click on run `id` in the runs list (see nextSelection). */
  function click(id: number, mods: { toggle: boolean; range: boolean }): void {
    const runs = useRunsStore();
    selection.value = nextSelection(selection.value, id, mods, runs.runs.map((r) => r.id), anchor.value, runs.selectedId);
    if (!mods.range) anchor.value = id;
  }

  /** Compares `ids` (2..8, the first the base; duplicates dropped) and shows the compare view. */
  async function open(ids: readonly number[]): Promise<void> {
    runIds.value = [...new Set(ids)].slice(0, MAX_COMPARED);
    diffSide.value = 1;
    view.show('compare');
    await load();
  }

  /** Adds a run to the comparison (last), reloading it. */
  async function add(id: number): Promise<void> {
    if (runIds.value.includes(id) || runIds.value.length >= MAX_COMPARED) return;
    runIds.value = [...runIds.value, id];
    await load();
  }

  /** Removes a run from the comparison. */
  async function remove(id: number): Promise<void> {
    runIds.value = runIds.value.filter((r) => r !== id);
    if (diffSide.value >= runIds.value.length) diffSide.value = Math.max(1, runIds.value.length - 1);
    await load();
  }

  /** Moves a run one place left (-1) or right (+1); moving it to the front makes it the base. */
  async function move(id: number, by: -1 | 1): Promise<void> {
    const ids = [...runIds.value];
    const i = ids.indexOf(id);
    const j = i + by;
    if (i === -1 || j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    runIds.value = ids;
    await load();
  }

  /** (Re)loads the comparison and the series of every compared run (nothing while one still runs). */
  async function load(): Promise<void> {
    const gen = ++generation;
    const ids = [...runIds.value];
    error.value = null;
    comparison.value = null;
    if (ids.length < 2 || running.value.length) {
      loading.value = false;
      return;
    }
    loading.value = true;
    try {
      const have = series.value;
      const [cmp, ...ts] = await Promise.all([
        lab.call('compareRuns', { runIds: ids }),
        ...ids.map((runId) => (have.has(runId) ? Promise.resolve(have.get(runId)!) : lab.call('getTimeSeries', { runId, points: PLOT_POINTS }))),
      ]);
      if (gen !== generation) return;
      const next = new Map<number, TimeSeries>();
      ids.forEach((id, i) => {
        const s = ts[i];
        if (s) next.set(id, s);
      });
      series.value = next;
      comparison.value = cmp;
    } catch (err) {
      if (gen === generation) error.value = errorText(err);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  // A compared run that was still running has finished (the runs list refreshes on runFinished): compare now.
  watch(
    () => running.value.length,
    (n, old) => {
      if (old > 0 && n === 0) void load();
    },
  );

  /** Switches to the workbench with run `runId` shown and its event `seq` selected. */
  async function openEvent(runId: number, seq: number): Promise<void> {
    const runs = useRunsStore();
    const events = useEventsStore();
    view.show('workbench');
    await runs.select(runId);
    if (runs.selectedId !== runId) return;
    if (!(await events.revealSeq(seq))) notices.push('warning', `Run #${runId} has no event #${seq}`);
  }

  /** Exports the comparison as CSV or JSON (exportComparison): a save dialog on the desktop, a download in a browser. */
  async function exportAs(format: 'csv' | 'json'): Promise<void> {
    if (runIds.value.length < 2) return;
    const name = `compare-${runIds.value.join('-')}.${format}`;
    try {
      const { text } = await lab.call('exportComparison', { runIds: [...runIds.value], format });
      if (transport === 'electron') await lab.call('saveFile', { path: null, text, name });
      else downloadText(text, name, format === 'csv' ? 'text/csv' : 'application/json');
    } catch (err) {
      notices.fail('Could not export the comparison', err);
    }
  }

  return { selection, anchor, runIds, comparison, series, loading, error, diffSide, onlyChanged, running, state, click, open, add, remove, move, load, openEvent, exportAs };
});
