/**
 * The runs store's start() against a fake lab whose answers the test releases one by one
 * (renderer/src/api mocked): the progress (`running`) ends with the run's runFinished, also when
 * it arrives while start() is still loading the run it started, or before startRun's own reply
 * (a fast run); a second start while the first one is still loading is ignored.
 */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Method } from '../../core/contract/index.ts';

const calls: Method[] = [];
const listeners = new Map<string, (p: unknown) => void>();
/** Answers held back until the test releases them, per method. */
const held = new Map<Method, Array<() => void>>();
const holding = new Set<Method>();
let runStatus = 'running';

const answer = (method: Method): unknown => {
  switch (method) {
    case 'startRun':
      return { runId: 7, diagnostics: [] };
    case 'listRuns':
      return [{ id: 7, name: 'r', file: 'r.yaml', status: runStatus, startedAt: '', finishedAt: null, steps: 1, events: 0, failedExpectations: 0, error: null, config: null }];
    case 'getRun':
      return { id: 7, name: 'r', file: 'r.yaml', status: runStatus, config: null };
    case 'queryEvents':
      return { total: 0, rows: [] };
    default:
      return null;
  }
};

vi.mock('../../renderer/src/api/index.ts', () => ({
  transport: 'browser',
  lab: {
    call: (method: Method) => {
      calls.push(method);
      if (!holding.has(method)) return Promise.resolve(answer(method));
      return new Promise((resolve) => {
        const q = held.get(method) ?? [];
        q.push(() => resolve(answer(method)));
        held.set(method, q);
      });
    },
    listen: (name: string, h: (p: unknown) => void) => {
      listeners.set(name, h);
      return () => listeners.delete(name);
    },
  },
}));

/** Lets every settled promise's continuations run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
};
const release = async (method: Method): Promise<void> => {
  const q = held.get(method) ?? [];
  expect(q.length, `a held ${method}`).toBeGreaterThan(0);
  q.shift()!();
  await settle();
};

// The stores are loaded by a computed path: their imports (api/, the DOM) are the renderer's
// (tsconfig.web.json), outside this test's node type-check. The parts used here are typed below.
interface RunsStore {
  running: boolean;
  selectedId: number | null;
  listen(): void;
  start(): Promise<void>;
}
const STORES = '../../renderer/src/stores/';
const { useRunsStore } = (await import(/* @vite-ignore */ `${STORES}runs.ts`)) as { useRunsStore: () => RunsStore };

beforeEach(() => {
  setActivePinia(createPinia());
  calls.length = 0;
  listeners.clear();
  held.clear();
  holding.clear();
  runStatus = 'running';
});

describe('runs store: start() and the progress', () => {
  it("ends the progress at the run's runFinished while start() is still loading the run", async () => {
    const runs = useRunsStore();
    runs.listen();
    holding.add('getRun');
    const started = runs.start();
    await settle();
    expect(runs.running).toBe(true);
    expect(runs.selectedId).toBe(7);
    // start() waits on its getRun; the run ends meanwhile.
    runStatus = 'done';
    listeners.get('runFinished')!({ runId: 7, status: 'done', error: null });
    await settle();
    expect(runs.running).toBe(false);
    // A second start while the first is still loading is ignored.
    await runs.start();
    expect(calls.filter((m) => m === 'startRun')).toHaveLength(1);
    while ((held.get('getRun') ?? []).length > 0) await release('getRun');
    await started;
    expect(runs.running).toBe(false);
  });

  it('a run that finished before startRun answered: no progress once the answer is in', async () => {
    const runs = useRunsStore();
    runs.listen();
    holding.add('startRun');
    holding.add('getRun');
    const started = runs.start();
    await settle();
    expect(runs.running).toBe(true); // waiting for the reply
    runStatus = 'done';
    listeners.get('runFinished')!({ runId: 7, status: 'done', error: null });
    await release('startRun');
    // The run is over: no progress while the finished run loads.
    expect(runs.running).toBe(false);
    while ((held.get('getRun') ?? []).length > 0) await release('getRun');
    await started;
    expect(runs.running).toBe(false);
    expect(runs.selectedId).toBe(7);
  });
});
