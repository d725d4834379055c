/**
 * Runs: the stored list, the selected run's detail, and the run this window started (progress,
 * cancel; for a scenario with `variants:` each variant's run in turn, then the compare view).
 * Listens to runProgress/runFinished once for the whole app.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { Notifications, RunDetail, RunStatus, RunSummary } from '../../../core/contract/index.ts';
import { lab } from '../api/index.ts';
import { useCompareStore } from './compare.ts';
import { useEventsStore } from './events.ts';
import { useNoticesStore } from './notices.ts';
import { useScenarioStore } from './scenario.ts';

/** Progress of the run in flight. */
export type RunProgress = Notifications['runProgress'];

/** How many runs the list shows. */
const LIST_LIMIT = 200;
/** Minimum spacing between live refreshes of the selected run while it runs (ms). */
const LIVE_REFRESH_MS = 700;

/** Stored runs and the run in flight. */
export const useRunsStore = defineStore('runs', () => {
  const notices = useNoticesStore();
  const scenario = useScenarioStore();
  const events = useEventsStore();

  const runs = ref<RunSummary[]>([]);
  const selectedId = ref<number | null>(null);
  const detail = shallowRef<RunDetail | null>(null);
  /** The run started from this window, while it runs. */
  const active = ref<RunProgress | null>(null);
  /** Waiting for startRun's reply (the run has no id yet). */
  const starting = ref(false);
  /** start() is in progress, its reply included: a second start waits for it to return. */
  let startBusy = false;

  const running = computed(() => starting.value || active.value !== null);
  const progressFraction = computed(() => {
    const a = active.value;
    if (!a || a.steps <= 0) return 0;
    return Math.min(1, a.step / a.steps);
  });

  /** Finished notifications that arrived before startRun's reply (fast runs). */
  const finishedEarly = new Map<number, RunStatus>();
  /**
   * The runs of the variants this window started (startRun's variantRunIds), in order, with the
   * ones finished so far: `active` follows them one after the other, and when the last has
   * finished the compare view opens with them (unless the group was cancelled).
   */
  let variantGroup: { ids: number[]; finished: Map<number, RunStatus>; cancelled: boolean } | null = null;
  let listening = false;
  let liveTimer: ReturnType<typeof setTimeout> | undefined;

  /** Subscribes to the lab's notifications (idempotent). */
  function listen(): void {
    if (listening) return;
    listening = true;
    lab.listen('importProgress', (p) => {
      if (importing.value) importProgress.value = p;
    });
    lab.listen('runProgress', (p) => {
      // The runs list counts events live, for any run in progress (also one started elsewhere).
      const i = runs.value.findIndex((r) => r.id === p.runId);
      if (i !== -1 && runs.value[i].events !== p.events) runs.value[i] = { ...runs.value[i], events: p.events };
      if (active.value && active.value.runId === p.runId) {
        active.value = p;
        scheduleLiveRefresh();
      }
    });
    lab.listen('runFinished', (p) => {
      if (active.value?.runId === p.runId) void finish(p.runId, p.status, p.error);
      else if (variantGroup?.ids.includes(p.runId) && active.value !== null) variantGroup.finished.set(p.runId, p.status);
      else if (active.value === null && starting.value) finishedEarly.set(p.runId, p.status);
      else void refresh();
    });
  }

  function scheduleLiveRefresh(): void {
    if (liveTimer !== undefined) return;
    liveTimer = setTimeout(() => {
      liveTimer = undefined;
      if (active.value && selectedId.value === active.value.runId) void events.grow();
    }, LIVE_REFRESH_MS);
  }

  async function finish(runId: number, status: RunStatus, error: string | null): Promise<void> {
    if (active.value?.runId === runId) active.value = null;
    if (variantGroup?.ids.includes(runId)) {
      variantGroup.finished.set(runId, status);
      await nextVariant();
    }
    if (status === 'failed') notices.push('error', `Run #${runId} failed${error ? `: ${error}` : ''}`, 'run');
    else if (status === 'done') notices.clearTopic('run'); // earlier failures are stale now
    await refresh();
    if (selectedId.value === runId) await loadDetail(runId, true);
  }

  /**
   * The variants' runs: the next one not finished yet becomes the active run (shown as it runs);
   * when none is left, the compare view opens with them all.
   */
  async function nextVariant(): Promise<void> {
    const g = variantGroup;
    if (!g) return;
    const next = g.ids.find((id) => !g.finished.has(id));
    if (next !== undefined) {
      active.value = { runId: next, step: 0, steps: 0, events: 0 };
      // Cancelled: the waiting variants end without running; the run shown stays.
      if (g.cancelled) return;
      selectedId.value = next;
      detail.value = null;
      await loadDetail(next, true);
      return;
    }
    variantGroup = null;
    if ([...g.finished.values()].includes('cancelled')) return;
    await useCompareStore().open(g.ids);
  }

  /** Reloads the run list. */
  async function refresh(): Promise<void> {
    try {
      runs.value = await lab.call('listRuns', { limit: LIST_LIMIT });
    } catch (err) {
      notices.fail('Could not list the runs', err);
    }
  }

  async function loadDetail(runId: number, reloadEvents: boolean): Promise<void> {
    try {
      const d = await lab.call('getRun', { runId });
      if (selectedId.value !== runId) return;
      detail.value = d;
      if (!d) notices.push('warning', `Run #${runId} no longer exists`);
      if (reloadEvents) await events.show(d ? runId : null, d?.config?.devices ?? []);
    } catch (err) {
      notices.fail(`Could not load run #${runId}`, err);
    }
  }

  /** Shows one run in the run view. */
  async function select(runId: number): Promise<void> {
    if (selectedId.value === runId && detail.value?.id === runId) return;
    selectedId.value = runId;
    detail.value = null;
    await loadDetail(runId, true);
  }

  /** Runs the editor's scenario. Invalid scenarios come back as diagnostics, nothing is stored. */
  async function start(): Promise<void> {
    if (running.value || startBusy) return;
    startBusy = true;
    starting.value = true;
    try {
      const res = await lab.call('startRun', { text: scenario.text, file: scenario.runFile });
      if (res.runId === null) {
        scenario.setRunDiagnostics(res.diagnostics);
        const first = res.diagnostics[0];
        notices.push('warning', `The scenario has ${res.diagnostics.length} problem${res.diagnostics.length === 1 ? '' : 's'}; nothing was run${first ? ` (${first.file}:${first.line}:${first.column}: ${first.message})` : ''}`, 'scenario');
        return;
      }
      const runId = res.runId;
      notices.clearTopic('scenario');
      // `variants:` — one run per variant, run in order; the compare view opens after the last.
      variantGroup = res.variantRunIds && res.variantRunIds.length > 1 ? { ids: res.variantRunIds, finished: new Map(), cancelled: false } : null;
      // From here on the run is `active` until its runFinished (handled by finish): `starting`
      // ends now, so the progress bar goes with the run's end, not with this function's loads.
      active.value = { runId, step: 0, steps: 0, events: 0 };
      starting.value = false;
      selectedId.value = runId;
      detail.value = null;
      if (variantGroup) for (const [id, status] of finishedEarly) if (id !== runId && variantGroup.ids.includes(id)) variantGroup.finished.set(id, status);
      const early = finishedEarly.get(runId);
      finishedEarly.clear();
      if (early !== undefined) {
        await finish(runId, early, null); // it refreshes the list and loads the run
        return;
      }
      await refresh();
      await loadDetail(runId, true);
    } catch (err) {
      notices.fail('Could not start the run', err);
    } finally {
      starting.value = false;
      finishedEarly.clear();
      startBusy = false;
    }
  }

  /** True while a trace import is in flight, and its progress (importProgress notifications). */
  const importing = ref(false);
  const importProgress = ref<Notifications['importProgress'] | null>(null);

  /**
   * Imports a trace file the user dropped or picked (issue 9 §1): stored as a trace run and shown;
   * when nothing is stored (unknown format, malformed lines of known events) the notice says why,
   * and `partial` retries keeping the rest.
   */
  async function importTrace(file: File, partial = false): Promise<void> {
    if (importing.value) return;
    importing.value = true;
    importProgress.value = { name: file.name, bytes: 0, total: file.size, lines: 0, events: 0 };
    try {
      const text = await file.text();
      const res = await lab.call('importTrace', { name: file.name, text, ...(partial ? { partial: true } : {}) });
      const s = res.source.stats;
      if (res.runId === null) {
        notices.push('warning', `${file.name}: nothing imported — ${res.refused}`, 'import');
        // Malformed lines of known events: the user may keep the rest explicitly (a partial import).
        const first = s.errors.list[0];
        if (!partial && s.errors.count > 0 && first && window.confirm(`${file.name}: ${s.errors.count} malformed line${s.errors.count === 1 ? '' : 's'} of known events (line ${first.line}: ${first.message}).\n\nImport the rest anyway? The malformed lines are listed with the trace and skipped.`)) {
          importing.value = false;
          await importTrace(file, true);
        }
        return;
      }
      notices.clearTopic('import');
      const unknown = s.unknown.count ? `, ${s.unknown.count} unknown line${s.unknown.count === 1 ? '' : 's'} (${s.unknown.lines.slice(0, 10).join(', ')}${s.unknown.count > 10 ? ', …' : ''})` : '';
      notices.push('info', `${file.name}: ${res.source.format} trace, ${s.lines} lines, ${s.events} events${unknown}${res.source.partial ? `, ${s.errors.count} malformed line${s.errors.count === 1 ? '' : 's'} skipped` : ''}`, 'import');
      await refresh();
      await select(res.runId);
    } catch (err) {
      notices.fail(`Could not import ${file.name}`, err);
    } finally {
      importing.value = false;
      importProgress.value = null;
    }
  }

  /** Cancels the import in flight (nothing is stored). */
  async function cancelImport(): Promise<void> {
    try {
      await lab.call('cancelImport', {});
    } catch (err) {
      notices.fail('Could not cancel the import', err);
    }
  }

  /** Cancels the run in flight. */
  async function cancel(): Promise<void> {
    const a = active.value;
    if (!a) return;
    // A group of variants: cancelling the running one cancels those waiting too (the lab's rule).
    if (variantGroup?.ids.includes(a.runId)) variantGroup.cancelled = true;
    try {
      await lab.call('cancelRun', { runId: a.runId });
    } catch (err) {
      notices.fail(`Could not cancel run #${a.runId}`, err);
    }
  }

  /**
   * Shows a step of the selected run in the editor: loads the run's scenario first when the editor
   * holds something else (and has no unsaved edits), then reveals the step's line. Not for a
   * replay (its steps' lines are in the trace).
   */
  function revealStep(step: number): void {
    const d = detail.value;
    // A replay's steps come from its trace: their lines are trace lines, not the scenario's.
    if (!d || d.replay) return;
    const result = d.stepResults.find((s) => s.index === step) ?? d.stepResults[step];
    if (!result) return;
    if (scenario.text !== d.scenarioText) {
      if (scenario.dirty) {
        notices.push('warning', `The editor has unsaved changes, so run #${d.id}'s scenario was not loaded; line ${result.line} may not match.`);
      } else {
        scenario.load(d.scenarioText, d.file.split(/[\\/]/).pop() || d.file, null);
      }
    }
    scenario.revealLine(result.line);
  }

  return { runs, selectedId, detail, active, starting, running, progressFraction, importing, importProgress, listen, refresh, select, start, cancel, importTrace, cancelImport, revealStep };
});
