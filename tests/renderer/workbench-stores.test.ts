/**
 * The workbench's stores against a fake lab (renderer/src/api mocked): the runs list counts a
 * running run's events live from runProgress; the events store resolves the endpoint filter by
 * device name, sends `search`, selects rows (detail fetched for the row's seq), reveals a step's
 * first event through locateEvent, and keeps the selection across a filter change when the event
 * still matches.
 */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventRow, Method, Params } from '../../core/contract/index.ts';

type Call = { method: Method; params: Record<string, unknown> };
const calls: Call[] = [];
/** While set, queryEvents answers only after it resolves (a slow service: the order of replies is the test's). */
let gate: Promise<void> | null = null;
const listeners = new Map<string, (p: unknown) => void>();
/** Events of the fake run: seq i belongs to step i / 10. */
const TOTAL = 600;
const row = (seq: number): EventRow => ({ seq, step: Math.floor(seq / 10), kind: 'map', fields: { endpoint: seq % 2 ? 0x18 : 0x200 }, text: `MAP ${seq}`, problem: false });

vi.mock('../../renderer/src/api/index.ts', () => ({
  transport: 'browser',
  lab: {
    call: async (method: Method, params: Record<string, unknown>) => {
      calls.push({ method, params });
      switch (method) {
        case 'listRuns':
          return [{ id: 1, name: 'r', file: 'r.yaml', status: 'running', startedAt: '', finishedAt: null, steps: 60, events: 0, failedExpectations: 0, error: null, config: null }];
        case 'queryEvents': {
          if (gate) await gate;
          const p = params as Params<'queryEvents'>;
          // Endpoint-filtered: odd seqs only.
          const seqs = Array.from({ length: TOTAL }, (_, i) => i).filter((s) => p.endpoint === undefined || s % 2 === 1);
          return { total: seqs.length, rows: seqs.slice(p.offset, p.offset + p.limit).map(row) };
        }
        case 'getEventDetail':
          return { seq: params.seq, step: 0, kind: 'map', kindDoc: '', text: '', problem: false, fields: [], raw: null };
        case 'locateEvent': {
          const p = params as Params<'locateEvent'>;
          const odd = p.endpoint !== undefined;
          const from = p.seq ?? (p.step ?? 0) * 10;
          const seq = odd && from % 2 === 0 ? from + 1 : from;
          return seq < TOTAL ? { index: odd ? (seq - 1) / 2 : seq, seq, step: Math.floor(seq / 10) } : null;
        }
        default:
          return null;
      }
    },
    listen: (name: string, h: (p: unknown) => void) => {
      listeners.set(name, h);
      return () => listeners.delete(name);
    },
  },
}));

// The stores are loaded by a computed path: their imports (api/, the DOM) are the renderer's
// (tsconfig.web.json), outside this test's node type-check. The parts used here are typed below.
interface EventsStore {
  filter: { endpoint: string; search: string };
  filterError: string | null;
  total: number;
  selectedIndex: number | null;
  selectedSeq: number | null;
  selectedStep: number | null;
  detail: { seq: number } | null;
  scrollTarget: { index: number } | null;
  show(id: number, devices: typeof DEVICES): Promise<void>;
  refresh(): Promise<void>;
  select(index: number): Promise<boolean>;
  revealStep(step: number): Promise<boolean>;
  revealSeq(seq: number): Promise<boolean>;
}
interface RunsStore {
  runs: { id: number; events: number }[];
  listen(): void;
  refresh(): Promise<void>;
}
const STORES = '../../renderer/src/stores/';
const { useEventsStore } = (await import(/* @vite-ignore */ `${STORES}events.ts`)) as { useEventsStore: () => EventsStore };
const { useRunsStore } = (await import(/* @vite-ignore */ `${STORES}runs.ts`)) as { useRunsStore: () => RunsStore };

const DEVICES = [
  { name: 'nic0', bdf: '00:03.0', endpoint: 0x18 },
  { name: 'gpu0', bdf: '02:00.0', endpoint: 0x200 },
];

beforeEach(() => {
  setActivePinia(createPinia());
  calls.length = 0;
  listeners.clear();
  gate = null;
});

describe('runs store', () => {
  it("counts a running run's events live in the runs list", async () => {
    const runs = useRunsStore();
    runs.listen();
    await runs.refresh();
    expect(runs.runs[0].events).toBe(0);
    listeners.get('runProgress')!({ runId: 1, step: 3, steps: 60, events: 1234 });
    expect(runs.runs[0].events).toBe(1234);
    listeners.get('runProgress')!({ runId: 9, step: 3, steps: 60, events: 5 }); // not listed: ignored
    expect(runs.runs.map((r) => r.events)).toEqual([1234]);
  });
});

describe('events store', () => {
  it('resolves the endpoint filter by device name, BDF or number, and sends the search', async () => {
    const events = useEventsStore();
    await events.show(1, DEVICES);
    for (const text of ['nic0', '00:03.0', '24', '0x18']) {
      events.filter.endpoint = text;
      expect(events.filterError).toBeNull();
      await events.refresh();
      const q = calls.filter((c) => c.method === 'queryEvents').pop()!;
      expect(q.params.endpoint, text).toBe(0x18);
    }
    events.filter.endpoint = 'nic9';
    expect(events.filterError).toMatch(/unknown endpoint "nic9".*nic0 \(00:03\.0\)/);
    events.filter.endpoint = '';
    events.filter.search = '  MAP 1 ';
    await events.refresh();
    expect(calls.filter((c) => c.method === 'queryEvents').pop()!.params.search).toBe('MAP 1');
  });

  it('selects rows (the detail follows), reveals a step, and keeps a still-matching selection across a filter change', async () => {
    const events = useEventsStore();
    await events.show(1, DEVICES);
    expect(events.total).toBe(TOTAL);
    await events.select(5);
    expect([events.selectedIndex, events.selectedSeq, events.selectedStep]).toEqual([5, 5, 0]);
    expect(events.detail?.seq).toBe(5);
    // Beyond the loaded page: the page is fetched first; out of range clamps to the last row.
    await events.select(10_000);
    expect([events.selectedIndex, events.selectedSeq]).toEqual([TOTAL - 1, TOTAL - 1]);
    // A step's first event, scrolled to.
    expect(await events.revealStep(42)).toBe(true);
    expect([events.selectedIndex, events.selectedSeq, events.selectedStep]).toEqual([420, 420, 42]);
    expect(events.scrollTarget?.index).toBe(420);
    // Seq 421 (odd) still matches the endpoint filter: it stays selected at its new index.
    await events.select(421);
    events.filter.endpoint = 'nic0';
    await events.refresh();
    expect([events.selectedIndex, events.selectedSeq]).toEqual([210, 421]);
    // Seq 420 would not match: the selection clears and the table goes to the top.
    events.filter.endpoint = '';
    await events.refresh();
    await events.select(420);
    events.filter.endpoint = 'nic0';
    await events.refresh();
    expect(events.selectedIndex).toBeNull();
    expect(events.detail).toBeNull();
    expect(events.scrollTarget?.index).toBe(0);
  });

  /** Holds queryEvents until the returned function is called. */
  function hold(): () => void {
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    return () => {
      gate = null;
      release();
    };
  }
  const settle = () => new Promise<void>((r) => setTimeout(r, 0));

  /**
   * Seq 5 selected, then, with queryEvents held: the endpoint filter set to nic0 and a refresh
   * started, and step 3 revealed. Step 3's first odd event is seq 31, row 15 of page 0: the page the
   * refresh is loading.
   */
  async function revealDuringRefresh() {
    const events = useEventsStore();
    await events.show(1, DEVICES);
    await events.select(5);
    const release = hold();
    events.filter.endpoint = 'nic0';
    const refreshed = events.refresh();
    const revealed = events.revealStep(3);
    await settle();
    return { events, release, refreshed, revealed };
  }
  const STEP_3 = [15, 31, 3, 31];
  const selection = (events: EventsStore) => [events.selectedIndex, events.selectedSeq, events.selectedStep, events.detail?.seq];

  it('selects a step revealed while a filter change loads its rows, and the refresh keeps it (the page in flight is awaited, not asked twice)', async () => {
    const { events, release, refreshed, revealed } = await revealDuringRefresh();
    release();
    expect(await revealed).toBe(true);
    await refreshed;
    expect(selection(events)).toEqual(STEP_3);
    expect(events.scrollTarget?.index).toBe(15);
    const pageLoads = calls.filter((c) => c.method === 'queryEvents' && c.params.endpoint === 0x18 && c.params.offset === 0);
    expect(pageLoads).toHaveLength(1);
  });

  it('asks again for a step when a second filter refresh lands between the step\'s index and its row', async () => {
    const { events, release, refreshed, revealed } = await revealDuringRefresh();
    // The debounced search's refresh (same rows) drops the first one's page: row 15 must be read again.
    events.filter.search = 'MAP';
    const second = events.refresh();
    await settle();
    release();
    expect(await revealed).toBe(true);
    await Promise.all([refreshed, second]);
    expect(selection(events)).toEqual(STEP_3);
    // Without a step in between, a refresh relocates the selection as before.
    events.filter.endpoint = '';
    await events.refresh();
    expect([events.selectedIndex, events.selectedSeq]).toEqual([31, 31]);
  });

  it('reveals an event hidden by the filter by clearing the filter, and reports a missing one', async () => {
    const events = useEventsStore();
    await events.show(1, DEVICES);
    events.filter.endpoint = 'nic0';
    await events.refresh();
    expect(await events.revealSeq(40)).toBe(true);
    expect(events.filter.endpoint).toBe('');
    expect([events.selectedIndex, events.selectedSeq, events.detail?.seq]).toEqual([40, 40, 40]);
    expect(await events.revealSeq(TOTAL + 5)).toBe(false);
  });
});
