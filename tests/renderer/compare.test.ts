/**
 * The compare view's pure parts and store, against a fake lab (renderer/src/api mocked): the runs
 * list's multi-selection (plain, Ctrl/Cmd, Shift clicks), the plots' join of several runs' series
 * onto one time axis (step values held, a run ended after its last sample), the value at a time
 * and the run nearest the pointer; the store opens a comparison (compareRuns + one getTimeSeries
 * per run), waits for a run still running, reorders and removes runs, and reports a failed
 * comparison as its error text.
 */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { TimeSeries } from '../../core/compare/types.ts';
import type { Method, RunSummary } from '../../core/contract/index.ts';
import { indexAt, joinSeries, nearestRun } from '../../renderer/src/components/compare/plot-data.ts';

const calls: { method: Method; params: Record<string, unknown> }[] = [];
let runs: RunSummary[] = [];
let failCompare: string | null = null;
const summary = (id: number, status: RunSummary['status'] = 'done'): RunSummary =>
  ({ id, name: `run ${id}`, file: `r${id}.yaml`, status, startedAt: '', finishedAt: null, steps: 1, events: 10, failedExpectations: 0, error: null, config: null }) as RunSummary;
const series = (runId: number): TimeSeries => ({ runId, t: [0, 10], seq: [0, 5], liveMappings: [0, runId], faults: [0, 0], iovaBytes: [0, 4096 * runId] });

vi.mock('../../renderer/src/api/index.ts', () => ({
  transport: 'browser',
  lab: {
    call: async (method: Method, params: Record<string, unknown>) => {
      calls.push({ method, params });
      switch (method) {
        case 'listRuns':
          return runs;
        case 'compareRuns': {
          if (failCompare) throw new Error(failCompare);
          const ids = params.runIds as number[];
          return { sides: ids.map((runId) => ({ runId, name: `run ${runId}`, kind: 'scenario', status: 'done', config: null, configText: '', durationNs: 10, events: 10 })), rows: [], divergences: [], costModel: {} };
        }
        case 'getTimeSeries':
          return series(params.runId as number);
        default:
          return null;
      }
    },
    listen: () => () => {},
  },
}));

// The stores are imported by a computed path (as tests/renderer/workbench-stores.test.ts does), so
// this file's type check (tsconfig.node.json: no DOM) does not follow them into DOM code.
interface CompareStore {
  runIds: number[];
  series: Map<number, TimeSeries>;
  state: string;
  error: string | null;
  open(ids: number[]): Promise<void>;
  move(id: number, by: -1 | 1): Promise<void>;
  remove(id: number): Promise<void>;
}
type NextSelection = (selection: readonly number[], id: number, mods: { toggle: boolean; range: boolean }, order: readonly number[], anchor: number | null, current: number | null) => number[];
const STORES = '../../renderer/src/stores/';
const { nextSelection, useCompareStore } = (await import(/* @vite-ignore */ `${STORES}compare.ts`)) as { nextSelection: NextSelection; useCompareStore: () => CompareStore };
const { useRunsStore } = (await import(/* @vite-ignore */ `${STORES}runs.ts`)) as { useRunsStore: () => { refresh(): Promise<void> } };
const { useViewStore } = (await import(/* @vite-ignore */ `${STORES}view.ts`)) as { useViewStore: () => { view: string } };

describe('nextSelection (the runs list)', () => {
  const order = [5, 4, 3, 2, 1];
  it('a plain click selects one run', () => {
    expect(nextSelection([4, 2], 3, { toggle: false, range: false }, order, 4, 4)).toEqual([3]);
  });
  it('Ctrl/Cmd adds to the run shown, in click order, and removes on a second click', () => {
    expect(nextSelection([], 2, { toggle: true, range: false }, order, null, 4)).toEqual([4, 2]);
    expect(nextSelection([4, 2], 5, { toggle: true, range: false }, order, 2, 4)).toEqual([4, 2, 5]);
    expect(nextSelection([4, 2, 5], 2, { toggle: true, range: false }, order, 5, 4)).toEqual([4, 5]);
  });
  it('Shift selects the runs between the anchor and the clicked one, the anchor first', () => {
    expect(nextSelection([4], 1, { toggle: false, range: true }, order, 4, 4)).toEqual([4, 3, 2, 1]);
    expect(nextSelection([2], 5, { toggle: false, range: true }, order, 2, 2)).toEqual([2, 3, 4, 5]);
  });
});

describe('the plots data', () => {
  const a: TimeSeries = { runId: 1, t: [0, 10, 10, 30], seq: [0, 3, 4, 9], liveMappings: [0, 1, 2, 1], faults: [0, 0, 0, 1], iovaBytes: [0, 4096, 8192, 4096] };
  const b: TimeSeries = { runId: 2, t: [0, 20], seq: [0, 7], liveMappings: [0, 5], faults: [0, 0], iovaBytes: [0, 1] };
  it('joins runs onto one time axis: values held between samples, none after a run ended', () => {
    const j = joinSeries([a, b], 'liveMappings');
    expect(j.x).toEqual([0, 0, 10, 10, 20, 30]);
    expect(j.ys[0]).toEqual([0, 0, 1, 2, 2, 1]);
    expect(j.ys[1]).toEqual([null, 0, 0, 0, 5, null]);
    expect(j.seqs[0]).toEqual([0, 0, 3, 4, 4, 9]);
    expect(j.seqs[1]).toEqual([null, 0, 0, 0, 7, null]);
  });
  it('reads the value holding at a time and the run nearest the pointer', () => {
    const j = joinSeries([a, b], 'liveMappings');
    expect(indexAt(j.x, 15)).toBe(3);
    expect(indexAt(j.x, 10)).toBe(3);
    expect(indexAt(j.x, -1)).toBe(0);
    expect(indexAt([], 3)).toBe(-1);
    expect(nearestRun(j, 4, 4.5)).toEqual({ run: 1, seq: 7 });
    expect(nearestRun(j, 4, 1)).toEqual({ run: 0, seq: 4 });
    expect(nearestRun(j, 5, 4.5)).toEqual({ run: 0, seq: 9 });
  });
});

describe('the compare store', () => {
  beforeEach(() => {
    setActivePinia(createPinia());
    calls.length = 0;
    failCompare = null;
    runs = [summary(3), summary(2), summary(1)];
  });

  it('opens a comparison: the compare view, compareRuns in order, one series per run', async () => {
    const compare = useCompareStore();
    await useRunsStore().refresh();
    await compare.open([2, 1, 2]);
    expect(useViewStore().view).toBe('compare');
    expect(compare.runIds).toEqual([2, 1]);
    expect(compare.state).toBe('ready');
    expect(calls.find((c) => c.method === 'compareRuns')!.params).toEqual({ runIds: [2, 1] });
    expect(calls.filter((c) => c.method === 'getTimeSeries').map((c) => c.params.runId).sort()).toEqual([1, 2]);
    expect([...compare.series.keys()]).toEqual([2, 1]);
    // Reordering asks again, reusing the series already loaded; removing one leaves the empty state.
    calls.length = 0;
    await compare.move(1, -1);
    expect(compare.runIds).toEqual([1, 2]);
    expect(calls.map((c) => c.method)).toEqual(['compareRuns']);
    await compare.remove(2);
    expect(compare.state).toBe('empty');
  });

  it('waits for a run still running, and shows a failed comparison as its error', async () => {
    runs = [summary(3, 'running'), summary(2)];
    const compare = useCompareStore();
    await useRunsStore().refresh();
    await compare.open([2, 3]);
    expect(compare.state).toBe('running');
    expect(calls.some((c) => c.method === 'compareRuns')).toBe(false);
    failCompare = 'compareRuns: invalid params at /runIds/1: no run 9 (see listRuns)';
    runs = [summary(3), summary(2)];
    await useRunsStore().refresh();
    await vi.waitFor(() => expect(compare.state).toBe('error'));
    expect(compare.error).toContain('no run 9');
  });
});
