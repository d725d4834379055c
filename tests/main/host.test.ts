/**
 * RunHost's warm standby run worker: runs handed to a ready standby, the replacement, a standby
 * that dies while idle or right after being handed a job, runs started before any standby is
 * ready, standby off, the crash hook on a warm worker, and close() leaving no thread behind;
 * startRun: the scenario parsed in the worker that runs it (issue 6 §5.4), a huge dma step's
 * progress and cancel (§5.3).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notifications } from '../../core/contract/index.ts';
import { LabStore } from '../../main/store/store.ts';
import { RunHost, type ScenarioSummary } from '../../main/worker/host.ts';
import { testHooks } from '../support/worker-hooks.ts';

let dir: string;
let store: LabStore;
let hosts: RunHost[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-host-'));
  store = new LabStore(path.join(dir, 'lab.db'));
});
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  hosts = [];
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function scenario(count: number): string {
  return `name: host test
viommu: {model: virtio-iommu}
devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - workload: {domain: 1, endpoint: nic0, count: ${count}, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;
}

/** Called with the next runFinished of any run (startRun tests), then cleared. */
let onFinishedOnce: ((f: Notifications['runFinished']) => void) | null = null;

/** A host whose notifications are recorded; `finished(runId)` resolves with the run's runFinished. */
function open(standby = true) {
  const finished = new Map<number, Notifications['runFinished']>();
  const progress: Notifications['runProgress'][] = [];
  const waiters = new Map<number, (f: Notifications['runFinished']) => void>();
  const host = new RunHost({
    store,
    standby,
    onProgress: (p) => progress.push(p),
    onFinished: (f) => {
      finished.set(f.runId, f);
      waiters.get(f.runId)?.(f);
      onFinishedOnce?.(f);
      onFinishedOnce = null;
    },
  });
  hosts.push(host);
  const run = (count: number, opts?: Parameters<RunHost['start']>[3]) => {
    const text = scenario(count);
    const runId = store.createRun({ name: 'host test', file: 'h.yaml', scenarioText: text, steps: 2, totalUnits: count + 1 });
    const done = new Promise<Notifications['runFinished']>((r) => waiters.set(runId, r));
    host.start(runId, text, 'h.yaml', opts);
    return { runId, done };
  };
  return { host, run, progress, finished };
}

/** Resolves when `host` has a ready standby other than `not`. */
async function nextStandby(host: RunHost, not: unknown = null) {
  for (;;) {
    await host.ready();
    if (host.standbyWorker && host.standbyWorker !== not) return host.standbyWorker;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Threads of this process (Linux). */
function threads(): number {
  return fs.readdirSync('/proc/self/task').length;
}

describe('warm standby run worker', () => {
  it('runs on the ready standby and replaces it', async () => {
    const { host, run } = open();
    const first = await nextStandby(host);
    const { runId, done } = run(1000);
    expect(host.standbyWorker).not.toBe(first); // handed over
    expect(await done).toEqual({ runId, status: 'done', error: null });
    expect(store.reader.getRun(runId)).toMatchObject({ status: 'done', events: 6 + 5 * 1000 });
    const second = await nextStandby(host, first);
    const again = run(10);
    expect(host.standbyWorker).not.toBe(second);
    expect((await again.done).status).toBe('done');
  });

  it('runs started before a standby is ready, and with standby off, still work', async () => {
    const warm = open();
    const a = warm.run(100); // the standby is still loading: the job waits for it
    const b = warm.run(100); // no standby at all (the replacement is not started yet on 2 cores, or loading)
    expect((await a.done).status).toBe('done');
    expect((await b.done).status).toBe('done');
    const cold = open(false);
    await cold.host.ready(); // resolves at once
    expect(cold.host.standbyWorker).toBeNull();
    const c = cold.run(100);
    expect((await c.done).status).toBe('done');
    expect(cold.host.standbyWorker).toBeNull();
    for (const r of [a, b, c]) expect(store.reader.getRun(r.runId)!.events).toBe(6 + 5 * 100);
  });

  it('replaces a standby that dies while idle, failing no run', async () => {
    const { host, run, finished } = open();
    const first = await nextStandby(host);
    await first.terminate();
    const second = await nextStandby(host, first);
    expect(finished.size).toBe(0);
    const { done } = run(100);
    expect(host.standbyWorker).not.toBe(second);
    expect((await done).status).toBe('done');
  });

  it('retries on a cold worker a run handed to a standby that died before taking it', async () => {
    const { host, run } = open();
    const first = await nextStandby(host);
    void first.terminate(); // its exit is not reported yet: start() still hands it the job
    const { runId, done } = run(100);
    expect(await done).toEqual({ runId, status: 'done', error: null });
    expect(store.reader.getRun(runId)).toMatchObject({ status: 'done', events: 6 + 5 * 100 });
  });

  it('a warm worker that dies after N commits leaves exactly the committed events and the run failed', async () => {
    const { host, run, progress } = open();
    await nextStandby(host);
    const { runId, done } = run(2_000_000, { commitIntervalMs: 10, testHooks: testHooks({ crashAfterCommits: 3 }) });
    const f = await done;
    expect(f.status).toBe('failed');
    expect(f.error).toMatch(/exit code 1/);
    const committed = progress.filter((p) => p.runId === runId).map((p) => p.events);
    expect(committed.length).toBe(3);
    expect(store.reader.getRun(runId)).toMatchObject({ status: 'failed', events: committed[2] });
    expect(store.reader.queryEvents({ runId, offset: 0, limit: 1 }).total).toBe(committed[2]);
  });

  it('cancel works on a warm worker', async () => {
    const { host, run, progress } = open();
    await nextStandby(host);
    const { runId, done } = run(5_000_000, { commitIntervalMs: 20 });
    while (!progress.some((p) => p.runId === runId && p.events > 0)) await new Promise((r) => setTimeout(r, 10));
    expect(host.cancel(runId)).toBe(true);
    expect((await done).status).toBe('cancelled');
    const r = store.reader.getRun(runId)!;
    expect(r.status).toBe('cancelled');
    expect(r.events).toBeGreaterThan(0);
  });

  it('startRun parses in the standby and runs what it parsed there; an invalid scenario leaves it the standby', async () => {
    const { host } = open();
    const first = await nextStandby(host);
    const create = (summary: ScenarioSummary) => {
      summaries.push(summary);
      return store.createRun({ name: summary.name, file: 'h.yaml', scenarioText: 'x', steps: summary.steps, totalUnits: summary.totalUnits, config: summary.config });
    };
    const summaries: ScenarioSummary[] = [];
    const bad = await host.startRun('name: bad\nviommu: {model: virtio-iommu}\nsteps: [{map: {domain: 1}}]\n', 'bad.yaml', create);
    expect(bad.runId).toBeNull();
    expect(bad.diagnostics.map((d) => `${d.file}:${d.line}:${d.column}`)).toEqual(['bad.yaml:3:15', 'bad.yaml:3:15', 'bad.yaml:3:15', 'bad.yaml:3:15']);
    expect(summaries).toEqual([]);
    expect(host.standbyWorker).toBe(first); // it ran nothing: still the standby
    const waiting = new Promise<Notifications['runFinished']>((r) => (onFinishedOnce = r));
    const good = await host.startRun(scenario(10), 'h.yaml', create);
    expect(host.standbyWorker).not.toBe(first); // handed over
    expect(summaries).toEqual([{ name: 'host test', steps: 2, totalUnits: 11, config: expect.objectContaining({ machine: 'q35', granule: 'host' }) }]);
    expect(await waiting).toEqual({ runId: good.runId, status: 'done', error: null });
    expect(store.reader.getRun(good.runId!)).toMatchObject({ status: 'done', events: 6 + 5 * 10 });
  });

  it('startRun with standby off parses on a new worker, ended after an invalid scenario', async () => {
    const { host } = open(false);
    const create = () => store.createRun({ name: 'host test', file: 'h.yaml', scenarioText: 'x', steps: 2, totalUnits: 101 });
    const bad = await host.startRun('steps: 5\n', 'bad.yaml', create);
    expect(bad.runId).toBeNull();
    expect(bad.diagnostics.length).toBeGreaterThan(0);
    expect(host.standbyWorker).toBeNull();
    const waiting = new Promise<Notifications['runFinished']>((r) => (onFinishedOnce = r));
    const good = await host.startRun(scenario(100), 'h.yaml', create);
    expect((await waiting).status).toBe('done');
    expect(store.reader.getRun(good.runId!)!.events).toBe(6 + 5 * 100);
  });

  it('a 1 TiB dma step started with startRun shows progress in pages and can be cancelled', async () => {
    const { host, progress } = open();
    const text = 'name: huge\nviommu: {model: virtio-iommu}\nsteps:\n  - dma: {endpoint: 0, addr: 0, size: 0x10000000000, access: read}\n';
    const create = (s: ScenarioSummary) => store.createRun({ name: s.name, file: 'huge.yaml', scenarioText: text, steps: s.steps, totalUnits: s.totalUnits });
    const waiting = new Promise<Notifications['runFinished']>((r) => (onFinishedOnce = r));
    const { runId } = await host.startRun(text, 'huge.yaml', create, { commitIntervalMs: 20 });
    const mine = () => progress.filter((p) => p.runId === runId);
    while (mine().length < 2 || mine()[0].step === 0 || mine().at(-1)!.step <= mine()[0].step) await new Promise((r) => setTimeout(r, 10));
    expect(mine()[0].steps).toBe(2 ** 28);
    expect(host.cancel(runId!)).toBe(true);
    expect((await waiting).status).toBe('cancelled');
    expect(store.reader.getRun(runId!)!.status).toBe('cancelled');
  });

  it('close() terminates the idle standby and leaves no thread running', async () => {
    const before = threads();
    const { host } = open();
    await nextStandby(host);
    expect(threads()).toBeGreaterThanOrEqual(before + 2); // the run worker and its generator thread
    await host.close();
    expect(host.standbyWorker).toBeNull();
    // Worker threads are joined asynchronously after their exit event.
    for (let i = 0; i < 50 && threads() > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(threads()).toBe(before);
    await expect(host.ready()).resolves.toBeUndefined();
    expect(() => host.start(1, '', 'x.yaml')).toThrow(/closed/);
  });
});
