/**
 * The guest DMA side of the shown run (issue 8 §3):
 *  - `hasGuest`: the run has guest DMA events (its metrics count guest probes or dma maps), so the
 *    run view offers the IOVA space view as a tab beside its steps table (`runTab`: 'steps', the
 *    default, or 'iova'; the choice remembered). The events table below keeps its height (issue 6:
 *    at least 15 event rows at 1280×720);
 *  - the IOVA space (getIovaSpace) at the selected event, or at the run's end when none is
 *    selected, while the IOVA tab is shown (`showIova`); the domain shown and the x scale;
 *  - a followed buffer (followBuffer): the chain of one dma-map through the layers, kept while the
 *    selection moves along it, until closed or the run changes.
 * Replies to a request that has moved on are dropped (generation counters).
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { Results } from '../../../core/contract/index.ts';
import { lab } from '../api/index.ts';
import type { IovaScale } from '../iova-plot.ts';
import { useEventsStore } from './events.ts';
import { useNoticesStore } from './notices.ts';
import { useRunsStore } from './runs.ts';

/** Event kinds a buffer can be followed from. */
export const FOLLOW_KINDS: readonly string[] = ['dma-map', 'dma-unmap'];
/** The run view's tabs of a guest DMA run: the steps table (with the metrics) or the IOVA space. */
export type RunTab = 'steps' | 'iova';
/** The run view's tabs in order. */
export const RUN_TABS: readonly RunTab[] = ['steps', 'iova'];
/** localStorage key of the run view's tab. */
const TAB_KEY = 'iommu-lab.run-tab';
/** Kinds whose presence in the run's metrics makes it a guest DMA run. */
const GUEST_KINDS = ['guest-probe', 'dma-map', 'iova-reserve'];

/** The remembered tab; 'steps' when none is stored (or storage is unusable). */
function readTab(): RunTab {
  try {
    return localStorage.getItem(TAB_KEY) === 'iova' ? 'iova' : 'steps';
  } catch {
    return 'steps';
  }
}

/** The IOVA space, the shown domain and scale, and the followed buffer. */
export const useGuestStore = defineStore('guest', () => {
  const events = useEventsStore();
  const runs = useRunsStore();
  const notices = useNoticesStore();

  /** The run view's chosen tab (remembered); the IOVA tab is offered for guest DMA runs only. */
  const runTab = ref<RunTab>(readTab());
  const space = shallowRef<Results['getIovaSpace'] | null>(null);
  const spaceLoading = ref(false);
  const domainId = ref<number | null>(null);
  const scale = ref<IovaScale>('log2');
  const trail = shallowRef<NonNullable<Results['followBuffer']> | null>(null);
  const trailLoading = ref(false);
  let spaceGen = 0;
  let trailGen = 0;

  const hasGuest = computed(() => {
    const d = runs.detail;
    if (!d || d.id !== events.runId) return false;
    const by = d.metrics?.byKind ?? {};
    return GUEST_KINDS.some((k) => (by[k] ?? 0) > 0);
  });
  /** The IOVA space view is shown: a guest DMA run with its IOVA tab chosen. */
  const showIova = computed(() => hasGuest.value && runTab.value === 'iova');
  const domain = computed(() => space.value?.domains.find((d) => d.domain === domainId.value) ?? space.value?.domains[0] ?? null);

  /** Loads the IOVA space at the selected event (or the run's end) while the tab is shown. */
  async function loadSpace(): Promise<void> {
    const gen = ++spaceGen;
    const runId = events.runId;
    if (!showIova.value || runId === null) {
      space.value = null;
      return;
    }
    spaceLoading.value = true;
    try {
      const seq = events.selectedSeq ?? undefined;
      const s = await lab.call('getIovaSpace', seq === undefined ? { runId } : { runId, seq });
      if (gen !== spaceGen) return;
      space.value = s;
      if (!s.domains.some((d) => d.domain === domainId.value)) domainId.value = s.domains[0]?.domain ?? null;
    } catch (err) {
      if (gen === spaceGen) notices.fail('Could not load the IOVA space', err);
    } finally {
      if (gen === spaceGen) spaceLoading.value = false;
    }
  }

  /** Chooses the run view's tab (remembered across runs and reloads); the IOVA space loads when shown. */
  function setRunTab(tab: RunTab): void {
    runTab.value = tab;
    try {
      localStorage.setItem(TAB_KEY, tab);
    } catch {
      // Not remembered; the tab still changes.
    }
  }

  /** Follows the buffer of a dma-map / dma-unmap event. */
  async function follow(seq: number): Promise<void> {
    const gen = ++trailGen;
    const runId = events.runId;
    if (runId === null) return;
    trailLoading.value = true;
    try {
      const t = await lab.call('followBuffer', { runId, seq });
      if (gen !== trailGen) return;
      trail.value = t;
      if (!t) notices.fail('Could not follow the buffer', new Error(`event #${seq} has no dma-map to follow`));
    } catch (err) {
      if (gen === trailGen) notices.fail('Could not follow the buffer', err);
    } finally {
      if (gen === trailGen) trailLoading.value = false;
    }
  }

  function closeTrail(): void {
    trailGen++;
    trail.value = null;
    trailLoading.value = false;
  }

  watch(
    () => events.runId,
    () => {
      closeTrail();
      domainId.value = null;
    },
  );
  watch(
    () => [events.runId, events.selectedSeq, showIova.value, runs.detail?.status] as const,
    () => void loadSpace(),
    { immediate: true },
  );

  return { runTab, showIova, space, spaceLoading, domainId, domain, scale, trail, trailLoading, hasGuest, setRunTab, loadSpace, follow, closeTrail };
});
