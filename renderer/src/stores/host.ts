/**
 * The run's components and the host side of the selected event (issue 7 §5):
 *  - `components`: the run's components with their event counts, guest layer first
 *    (listComponents), reloaded when the shown run changes or finishes;
 *  - the links of the selected event: the host calls and QEMU errors a guest event caused
 *    (getCausedEvents), or the guest event a host call was caused by (its `cause` field);
 *  - the host object table at the selected event (getHostObjects), while the object view is on.
 * Replies to a selection that has moved on are dropped (a generation counter).
 */
import { defineStore } from 'pinia';
import { ref, shallowRef, watch } from 'vue';
import type { EventRow, Results, RunComponent } from '../../../core/contract/index.ts';
import { lab } from '../api/index.ts';
import { useEventsStore } from './events.ts';
import { useNoticesStore } from './notices.ts';
import { useRunsStore } from './runs.ts';

/** localStorage key of the object view toggle. */
const OBJECTS_KEY = 'iommu-lab.objects';

/** Kinds whose `cause` field names the guest event that caused them (core/events/catalog.ts). */
export const CAUSED_KINDS: readonly string[] = ['host-call', 'qemu-error'];

/** The guest event a host call links back to. */
export interface CauseLink {
  seq: number;
  kind: string;
  text: string;
  problem: boolean;
}

/** The seq in a `cause` field value (number or "0x…" u64 text), or null. */
export function causeSeq(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function readToggle(): boolean {
  try {
    return localStorage.getItem(OBJECTS_KEY) === '1';
  } catch {
    return false;
  }
}

/** Components, links and host objects of the shown run. */
export const useHostStore = defineStore('host', () => {
  const events = useEventsStore();
  const runs = useRunsStore();
  const notices = useNoticesStore();

  const components = shallowRef<RunComponent[]>([]);
  /** Events the selected event caused (host calls, QEMU errors), in seq order. */
  const caused = shallowRef<EventRow[]>([]);
  /** The event the selected host call or QEMU error was caused by. */
  const cause = shallowRef<CauseLink | null>(null);
  /** The object view is shown. */
  const showObjects = ref(readToggle());
  const objects = shallowRef<Results['getHostObjects'] | null>(null);
  const objectsLoading = ref(false);
  let componentsGen = 0;
  let linkGen = 0;
  let objectsGen = 0;

  async function loadComponents(runId: number | null): Promise<void> {
    const gen = ++componentsGen;
    if (runId === null) {
      components.value = [];
      return;
    }
    try {
      const list = await lab.call('listComponents', { runId });
      if (gen === componentsGen) components.value = list;
    } catch (err) {
      if (gen === componentsGen) notices.fail('Could not list the run\'s components', err);
    }
  }

  /** The selected event's links: what it caused, or what caused it. */
  async function loadLinks(seq: number | null): Promise<void> {
    const gen = ++linkGen;
    const runId = events.runId;
    const row = events.selectedIndex === null ? undefined : events.rowAt(events.selectedIndex);
    caused.value = [];
    cause.value = null;
    if (seq === null || runId === null || !row || row.seq !== seq) return;
    try {
      if (CAUSED_KINDS.includes(row.kind)) {
        const from = causeSeq(row.fields.cause);
        if (from === null) return;
        const d = await lab.call('getEventDetail', { runId, seq: from });
        if (gen === linkGen && d) cause.value = { seq: d.seq, kind: d.kind, text: d.text, problem: d.problem };
      } else {
        const list = await lab.call('getCausedEvents', { runId, seq });
        if (gen === linkGen) caused.value = list;
      }
    } catch (err) {
      if (gen === linkGen) notices.fail('Could not load the event\'s host calls', err);
    }
  }

  /** The object table at the selected event (or at the run's last event when none is selected). */
  async function loadObjects(): Promise<void> {
    const gen = ++objectsGen;
    const runId = events.runId;
    if (!showObjects.value || runId === null) {
      objects.value = null;
      return;
    }
    const seq = events.selectedSeq ?? Math.max(0, (runs.detail?.events ?? 1) - 1);
    objectsLoading.value = true;
    try {
      const t = await lab.call('getHostObjects', { runId, seq });
      if (gen === objectsGen) objects.value = t;
    } catch (err) {
      if (gen === objectsGen) notices.fail('Could not load the host objects', err);
    } finally {
      if (gen === objectsGen) objectsLoading.value = false;
    }
  }

  /** Shows or hides the object view (remembered). */
  function toggleObjects(on = !showObjects.value): void {
    showObjects.value = on;
    try {
      localStorage.setItem(OBJECTS_KEY, on ? '1' : '0');
    } catch {
      // Not remembered; the toggle still works.
    }
    void loadObjects();
  }

  watch(
    () => [events.runId, runs.detail?.id === events.runId ? runs.detail?.status : undefined] as const,
    ([id]) => {
      void loadComponents(id);
      void loadObjects();
    },
    { immediate: true },
  );
  watch(
    () => events.selectedSeq,
    (seq) => {
      void loadLinks(seq);
      void loadObjects();
    },
  );

  return { components, caused, cause, showObjects, objects, objectsLoading, toggleObjects, loadComponents, loadObjects };
});
