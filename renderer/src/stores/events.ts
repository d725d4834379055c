/**
 * The events table's data: the selected run's events in pages fetched on demand through
 * queryEvents, under the current filter. The table is virtualized; it asks for the rows it shows
 * (`ensure`) and reads them with `rowAt`. A generation counter drops replies to stale queries.
 *
 * Also the one selection of the events views (list ↔ detail ↔ step, after Wireshark): the selected
 * row's index in the filtered list and its seq, its detail (getEventDetail), and scroll requests
 * for the table (`scrollTarget`) when something else (a step, a filter change) moves the selection.
 */
import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef, triggerRef } from 'vue';
import type { EventDetail, EventRow, Params, Results, RunConfig } from '../../../core/contract/index.ts';
import { resolveEndpointRef } from '../../../core/scenario/endpoint-ref.ts';
import { lab } from '../api/index.ts';
import { useNoticesStore } from './notices.ts';

/** Rows per queryEvents call. */
export const PAGE_SIZE = 250;

/** The filter the table applies (ids as typed: decimal or 0x… hex, empty = any). */
export interface EventFilter {
  kinds: string[];
  domain: string;
  /** A device name, a PCI address "bb:dd.f" or an endpoint ID (core/scenario/endpoint-ref.ts). */
  endpoint: string;
  problemsOnly: boolean;
  /** Free text searched in the events' one-line text (case-insensitive). */
  search: string;
  /** Events of one component only (RunComponent.id; '' the run's own); null = any. */
  component: string | null;
}

/** A request to scroll the table so that row `index` is visible (`nonce` makes repeats distinct). */
export interface ScrollTarget {
  index: number;
  nonce: number;
}

/** Run devices as the endpoint filter resolves names against them. */
export type RunDevices = RunConfig['devices'];

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

/**
 * True for the service's answer to a search superseded by a newer one (main/worker/search-host.ts
 * SearchSupersededError; only its message crosses IPC and WebSocket).
 */
export function isSuperseded(err: unknown): boolean {
  return /search superseded by a newer search/.test(String((err as Error)?.message ?? err));
}

/** Events of the selected run. */
export const useEventsStore = defineStore('events', () => {
  const notices = useNoticesStore();

  const runId = ref<number | null>(null);
  const filter = reactive<EventFilter>({ kinds: [], domain: '', endpoint: '', problemsOnly: false, search: '', component: null });
  const total = ref(0);
  const pages = shallowRef(new Map<number, EventRow[]>());
  const loading = ref(false);
  /** The shown run's declared devices (endpoint names). */
  const devices = shallowRef<RunDevices>([]);
  /** The endpoint filter resolved: undefined when empty, else the resolver's answer. */
  const endpointRef = computed(() => (filter.endpoint.trim() === '' ? undefined : resolveEndpointRef(filter.endpoint, devices.value)));
  const filterError = computed(() => {
    if (parseId(filter.domain) === null) return 'domain: a number (decimal or 0x…)';
    const ep = endpointRef.value;
    if (ep && !ep.ok) return ep.message;
    return null;
  });
  /** Selected row: index in the filtered list, and its seq (null: nothing selected). */
  const selectedIndex = ref<number | null>(null);
  const selectedSeq = ref<number | null>(null);
  /** Step of the selected event (highlighted in the steps table). */
  const selectedStep = ref<number | null>(null);
  const detail = shallowRef<EventDetail | null>(null);
  const scrollTarget = ref<ScrollTarget | null>(null);
  let selectGen = 0;
  /** Pages loading for the current generation, by page number. */
  const inFlight = new Map<number, Promise<void>>();
  let generation = 0;
  /** Pages of a search being scanned by the service (the filter bar shows "searching…"). */
  const searching = ref(0);

  function query(offset: number, limit: number): Params<'queryEvents'> | null {
    if (runId.value === null || filterError.value) return null;
    const q: Params<'queryEvents'> = { runId: runId.value, offset, limit };
    if (filter.kinds.length) q.kinds = [...filter.kinds];
    const domain = parseId(filter.domain);
    const ep = endpointRef.value;
    if (typeof domain === 'number') q.domain = domain;
    if (ep?.ok) q.endpoint = ep.endpoint;
    if (filter.problemsOnly) q.problemsOnly = true;
    const search = filter.search.trim();
    if (search) q.search = search.slice(0, 200);
    if (filter.component !== null) q.component = filter.component;
    return q;
  }

  /** The filter part of the current query (for locateEvent). */
  function filterParams(): Omit<Params<'locateEvent'>, 'seq' | 'step'> | null {
    const q = query(0, 1);
    if (!q) return null;
    const { offset: _o, limit: _l, ...rest } = q;
    return rest;
  }

  /**
   * Loads page `page` of the current query. A page already loading is not asked twice: the caller
   * gets the load in flight, so it can wait for the rows. Replies to a query that a filter change
   * (invalidate) made stale are dropped.
   */
  function loadPage(page: number): Promise<void> {
    const q = query(page * PAGE_SIZE, PAGE_SIZE);
    if (!q) return Promise.resolve();
    const pending = inFlight.get(page);
    if (pending) return pending;
    const load = fetchPage(page, q);
    inFlight.set(page, load);
    void load.then(() => {
      if (inFlight.get(page) === load) inFlight.delete(page);
    });
    return load;
  }

  async function fetchPage(page: number, q: Params<'queryEvents'>): Promise<void> {
    const gen = generation;
    if (q.search) searching.value++;
    try {
      let res: Results['queryEvents'];
      try {
        res = await lab.call('queryEvents', q);
      } catch (err) {
        // The service answers only its latest search: another window's newer search superseded
        // this one. Ask once more if it is still this table's query (stale ones are dropped below).
        if (gen !== generation || !isSuperseded(err)) throw err;
        res = await lab.call('queryEvents', q);
      }
      if (gen !== generation) return;
      total.value = res.total;
      pages.value.set(page, res.rows);
      triggerRef(pages);
    } catch (err) {
      if (gen === generation) notices.fail('Could not load events', err);
    } finally {
      if (q.search) searching.value--;
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
  async function show(id: number | null, runDevices: RunDevices = []): Promise<void> {
    devices.value = runDevices;
    if (id !== null && id === runId.value) return grow();
    runId.value = id;
    invalidate();
    clearSelection();
    total.value = 0;
    scroll(0);
    if (id === null) return;
    loading.value = true;
    try {
      await loadPage(0);
    } finally {
      loading.value = false;
    }
  }

  /**
   * Re-queries with the current filter. The selected event stays selected (and scrolled to) when
   * it still matches; otherwise the selection clears and the table starts at the top. A selection
   * made while the new rows load (a step clicked just after typing in the search) wins: it was
   * made against the new filter, so this refresh leaves the selection and the scroll to it.
   */
  async function refresh(): Promise<void> {
    invalidate();
    const gen = generation;
    if (runId.value === null || filterError.value) {
      total.value = 0;
      clearSelection();
      return;
    }
    const sg = selectGen;
    await loadPage(0);
    if (gen !== generation || sg !== selectGen) return;
    const seq = selectedSeq.value;
    if (seq === null) {
      scroll(0);
      return;
    }
    const f = filterParams();
    const at = f ? await lab.call('locateEvent', { ...f, seq }).catch(() => null) : null;
    if (gen !== generation || sg !== selectGen) return;
    if (at && at.seq === seq) {
      selectedIndex.value = at.index;
      scroll(at.index);
    } else {
      clearSelection();
      scroll(0);
    }
  }

  function scroll(index: number): void {
    scrollTarget.value = { index, nonce: (scrollTarget.value?.nonce ?? 0) + 1 };
  }

  function clearSelection(): void {
    selectGen++;
    selectedIndex.value = null;
    selectedSeq.value = null;
    selectedStep.value = null;
    detail.value = null;
  }

  /**
   * How a selection ended: the row is selected; a later selection replaced this one; or the list
   * changed under it (a filter refresh), so its index names another row now.
   */
  type Selected = 'ok' | 'superseded' | 'stale';

  /**
   * Selects row `index` of the filtered list (clamped to it), loading its page if needed, and
   * fetches its detail. `reveal` asks the table to scroll it into view. Resolves to whether the
   * row was selected (false: a later selection or a filter change came first).
   */
  async function select(index: number, reveal = false): Promise<boolean> {
    return (await selectAt(index, reveal, generation)) === 'ok';
  }

  /** select() for an index into the list of generation `gen` (the query an index was read from). */
  async function selectAt(index: number, reveal: boolean, gen: number): Promise<Selected> {
    if (runId.value === null || total.value === 0) return 'stale';
    const i = Math.max(0, Math.min(total.value - 1, Math.floor(index)));
    const sg = ++selectGen;
    selectedIndex.value = i;
    if (reveal) scroll(i);
    let row = gen === generation ? rowAt(i) : undefined;
    if (!row && gen === generation) {
      await loadPage(Math.floor(i / PAGE_SIZE));
      row = gen === generation ? rowAt(i) : undefined;
    }
    if (sg !== selectGen) return 'superseded';
    if (!row) return 'stale';
    selectedSeq.value = row.seq;
    selectedStep.value = row.step;
    const run = runId.value;
    try {
      const d = await lab.call('getEventDetail', { runId: run, seq: row.seq });
      if (sg === selectGen) detail.value = d;
    } catch (err) {
      if (sg === selectGen) notices.fail('Could not load the event detail', err);
    }
    return 'ok';
  }

  /**
   * Finds an event with locateEvent under the current filter and selects it; when a filter change
   * lands between the answer and the row (the index is then another row's), asks again. Resolves
   * to the outcome, or null when no event matches. Throws what locateEvent throws.
   */
  async function locateAndSelect(target: { seq: number } | { step: number }): Promise<Selected | null> {
    for (let attempt = 0; ; attempt++) {
      const gen = generation;
      const f = filterParams();
      if (!f) return null;
      const at = await lab.call('locateEvent', { ...f, ...target });
      if (gen !== generation && attempt < 3) continue;
      if (!at || ('seq' in target && at.seq !== target.seq)) return null;
      const r = await selectAt(at.index, true, gen);
      if (r !== 'stale' || attempt >= 3) return r;
    }
  }

  /**
   * Selects and scrolls to the first event of `step` (or of the next step that has events under
   * the current filter). Returns false when no event at or after it matches, or when another
   * selection replaced this one while it loaded.
   */
  async function revealStep(step: number): Promise<boolean> {
    try {
      return (await locateAndSelect({ step })) === 'ok';
    } catch (err) {
      notices.fail('Could not find the step\'s events', err);
      return false;
    }
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
    filter.search = '';
    filter.component = null;
    void refresh();
  }

  /** Filters the table to component `id` ('' the run's own events), or back to every component when it is the filter already. */
  function toggleComponent(id: string): void {
    filter.component = filter.component === id ? null : id;
    void refresh();
  }

  /**
   * Selects and scrolls to event `seq` (a link from another event). When the current filter hides
   * it, the filter is cleared first. Returns false when the run has no such event.
   */
  async function revealSeq(seq: number): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let r: Selected | null;
      try {
        r = await locateAndSelect({ seq });
      } catch (err) {
        notices.fail('Could not find the event', err);
        return false;
      }
      // Found: selected, or the user moved on (superseded) while it loaded.
      if (r !== null) return true;
      if (attempt === 0) {
        filter.kinds = [];
        filter.domain = '';
        filter.endpoint = '';
        filter.problemsOnly = false;
        filter.search = '';
        filter.component = null;
        invalidate();
        await loadPage(0);
      }
    }
    return false;
  }

  return {
    runId,
    filter,
    filterError,
    total,
    pages,
    loading,
    searching,
    devices,
    endpointRef,
    selectedIndex,
    selectedSeq,
    selectedStep,
    detail,
    scrollTarget,
    show,
    refresh,
    grow,
    ensure,
    rowAt,
    select,
    clearSelection,
    revealStep,
    toggleKind,
    toggleComponent,
    revealSeq,
    clearFilter,
  };
});
