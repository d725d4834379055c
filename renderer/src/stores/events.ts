/**
 * The events table's data: the selected run's events in pages fetched on demand through
 * queryEvents, under the current filter. The table is virtualized; it asks for the rows it shows
 * (`ensure`) and reads them with `rowAt`. A generation counter drops replies to stale queries.
 */
import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef, triggerRef } from 'vue';
import type { EventRow, Params } from '../../../core/contract/index.ts';
import { lab } from '../api/index.ts';
import { useNoticesStore } from './notices.ts';

/** Rows per queryEvents call. */
export const PAGE_SIZE = 250;

/** The filter the table applies (ids as typed: decimal or 0x… hex, empty = any). */
export interface EventFilter {
  kinds: string[];
  domain: string;
  endpoint: string;
  problemsOnly: boolean;
}

const BDF = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;

/**
 * Parses a u32 filter field — decimal, 0x… hex, or for endpoints a PCI address "bb:dd.f" (the
 * requester ID bus << 8 | dev << 3 | fn); undefined when empty, null when invalid.
 */
export function parseId(text: string): number | undefined | null {
  const t = text.trim();
  if (t === '') return undefined;
  const bdf = BDF.exec(t);
  if (bdf) {
    const dev = parseInt(bdf[2], 16);
    return dev > 0x1f ? null : (parseInt(bdf[1], 16) << 8) | (dev << 3) | Number(bdf[3]);
  }
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff ? n : null;
}

/** Events of the selected run. */
export const useEventsStore = defineStore('events', () => {
  const notices = useNoticesStore();

  const runId = ref<number | null>(null);
  const filter = reactive<EventFilter>({ kinds: [], domain: '', endpoint: '', problemsOnly: false });
  const total = ref(0);
  const pages = shallowRef(new Map<number, EventRow[]>());
  const loading = ref(false);
  const filterError = computed(() => {
    if (parseId(filter.domain) === null) return 'domain: a number (decimal or 0x…)';
    if (parseId(filter.endpoint) === null) return 'endpoint: a number (decimal or 0x…) or a PCI address bb:dd.f';
    return null;
  });
  const inFlight = new Set<number>();
  let generation = 0;

  function query(offset: number, limit: number): Params<'queryEvents'> | null {
    if (runId.value === null || filterError.value) return null;
    const q: Params<'queryEvents'> = { runId: runId.value, offset, limit };
    if (filter.kinds.length) q.kinds = [...filter.kinds];
    const domain = parseId(filter.domain);
    const endpoint = parseId(filter.endpoint);
    if (typeof domain === 'number') q.domain = domain;
    if (typeof endpoint === 'number') q.endpoint = endpoint;
    if (filter.problemsOnly) q.problemsOnly = true;
    return q;
  }

  async function loadPage(page: number): Promise<void> {
    const q = query(page * PAGE_SIZE, PAGE_SIZE);
    if (!q || inFlight.has(page)) return;
    const gen = generation;
    inFlight.add(page);
    try {
      const res = await lab.call('queryEvents', q);
      if (gen !== generation) return;
      total.value = res.total;
      pages.value.set(page, res.rows);
      triggerRef(pages);
    } catch (err) {
      if (gen === generation) notices.fail('Could not load events', err);
    } finally {
      if (gen === generation) inFlight.delete(page);
    }
  }

  function invalidate(): void {
    generation++;
    inFlight.clear();
    pages.value = new Map();
  }

  /**
   * Shows the events of `id` (null clears the table). For the run already shown it only picks up
   * new rows: events are append-only, so loaded full pages stay valid.
   */
  async function show(id: number | null): Promise<void> {
    if (id !== null && id === runId.value) return grow();
    runId.value = id;
    invalidate();
    total.value = 0;
    if (id === null) return;
    loading.value = true;
    try {
      await loadPage(0);
    } finally {
      loading.value = false;
    }
  }

  /** Re-queries with the current filter (and picks up events a running run added). */
  async function refresh(): Promise<void> {
    invalidate();
    if (runId.value === null || filterError.value) {
      total.value = 0;
      return;
    }
    await loadPage(0);
  }

  /** Picks up rows a running run appended: re-reads the last loaded page (and the total). */
  async function grow(): Promise<void> {
    const last = Math.max(0, ...pages.value.keys());
    await loadPage(last);
  }

  /** Makes sure the rows [start, end) are loaded or loading. */
  function ensure(start: number, end: number): void {
    const first = Math.floor(start / PAGE_SIZE);
    const last = Math.floor(Math.max(start, end - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) if (!pages.value.has(p)) void loadPage(p);
  }

  /** Row `index` of the filtered list, or undefined while its page loads. */
  function rowAt(index: number): EventRow | undefined {
    return pages.value.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Toggles one kind in the filter. */
  function toggleKind(kind: string): void {
    const i = filter.kinds.indexOf(kind);
    if (i === -1) filter.kinds.push(kind);
    else filter.kinds.splice(i, 1);
    void refresh();
  }

  /** Clears every filter. */
  function clearFilter(): void {
    filter.kinds = [];
    filter.domain = '';
    filter.endpoint = '';
    filter.problemsOnly = false;
    void refresh();
  }

  return { runId, filter, filterError, total, pages, loading, show, refresh, grow, ensure, rowAt, toggleKind, clearFilter };
});
