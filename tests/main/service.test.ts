/**
 * LabService end to end with real run workers: contract validation with field paths, invalid
 * scenarios (nothing stored), runs to completion, progress, cancellation, a worker crash mid-run,
 * examples, close().
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContractError, type Notifications } from '../../core/contract/index.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { EVENT_CATALOG } from '../../core/events/catalog.ts';
import { ScenarioRun } from '../../core/run/runner.ts';
import { parseScenario } from '../../core/scenario/index.ts';
import { toJson } from '../../main/store/codec.ts';
import { testHooks } from '../support/worker-hooks.ts';

let dir: string;
let services: LabService[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-service-'));
  fs.mkdirSync(path.join(dir, 'examples'));
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.close()));
  services = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(runOptions?: ConstructorParameters<typeof LabService>[0]['runOptions']): LabService {
  const s = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: path.join(dir, 'examples'), runOptions });
  services.push(s);
  return s;
}

/** A scenario with two expectations that hold, one that fails, and a workload of `count` iterations. */
function scenario(count: number, opts: { failing?: boolean } = {}): string {
  return `name: service test
viommu:
  model: virtio-iommu
  aw-bits: 64
devices:
  - name: nic0
    bdf: "00:03.0"
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - map: {domain: 1, virt-start: 0xfffffffffffff000, virt-end: 0xffffffffffffffff, phys-start: 0x1000, flags: [read, write]}
    expect: OK
  - dma: {endpoint: nic0, addr: 0xfffffffffffff010, access: read}
    expect: {translated: 0x1010}
  - dma: {endpoint: nic0, addr: 0x5000, access: write}
    expect: {fault: {reason: MAPPING}}
${opts.failing ? '  - map: {domain: 1, virt-start: 0x10000, virt-end: 0x10fff, phys-start: 0x2000, flags: [read]}\n    expect: RANGE\n' : ''}  - workload: {domain: 1, endpoint: nic0, count: ${count}, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;
}

async function contractError(p: Promise<unknown>): Promise<ContractError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ContractError);
    return e as ContractError;
  }
  throw new Error('expected a ContractError');
}

describe('contract validation', () => {
  it('rejects malformed params with the field path', async () => {
    const s = open();
    const call = s.call.bind(s) as (m: string, p: unknown) => Promise<unknown>;
    expect((await contractError(call('queryEvents', { runId: 1, offset: 0, limit: 'x' }))).path).toBe('/limit');
    expect((await contractError(call('queryEvents', { runId: 1, offset: -1, limit: 10 }))).path).toBe('/offset');
    expect((await contractError(call('queryEvents', { runId: 1, offset: 0, limit: 10, kinds: ['map', 'nope'] }))).path).toBe('/kinds/1');
    expect((await contractError(call('getRun', { runId: 0 }))).path).toBe('/runId');
    expect((await contractError(call('startRun', { file: 'a.yaml' }))).path).toBe('/text');
    expect((await contractError(call('readExample', { name: '../secrets' }))).path).toBe('/name');
    expect((await contractError(call('readExample', { name: 'sub/x' }))).path).toBe('/name');
    const unknown = await contractError(call('dropTables', {}));
    expect(unknown.message).toContain('unknown method');
  });

  it('returns diagnostics for an invalid scenario and stores nothing', async () => {
    const s = open();
    const r = await s.call('startRun', { text: 'name: broken\nviommu:\n  model: virtio-iommu\nsteps:\n  - map: {domain: 1}\n', file: 'broken.yaml' });
    expect(r.runId).toBeNull();
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics[0]).toMatchObject({ file: 'broken.yaml', line: 5, severity: 'error' });
    expect(await s.call('listRuns', {})).toEqual([]);
    const db = new Database(path.join(dir, 'lab.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('runs', () => {
  it('runs a scenario to completion with step results, metrics, events and progress', async () => {
    const s = open({ commitIntervalMs: 10 });
    const progress: Notifications['runProgress'][] = [];
    const finished: Notifications['runFinished'][] = [];
    s.listen('runProgress', (p) => progress.push(p));
    s.listen('runFinished', (f) => finished.push(f));
    const { runId } = await s.call('startRun', { text: scenario(20_000), file: 'svc.yaml' });
    expect(runId).toBeGreaterThan(0);
    expect((await s.call('listRuns', {}))[0]).toMatchObject({ id: runId, status: 'running', name: 'service test', steps: 5 });
    expect(await waitForRun(s, runId!)).toEqual({ runId, status: 'done', error: null });
    expect(finished).toEqual([{ runId, status: 'done', error: null }]);

    const run = (await s.call('getRun', { runId: runId! }))!;
    expect(run).toMatchObject({ status: 'done', failedExpectations: 0, steps: 5, file: 'svc.yaml' });
    expect(run.finishedAt).not.toBeNull();
    expect(run.stepResults.map((r) => [r.op, r.status, r.expectation])).toEqual([
      ['attach', 'OK', true],
      ['map', 'OK', true],
      ['dma', undefined, true],
      ['dma', undefined, true],
      ['workload', 'OK', undefined],
    ]);
    expect(run.metrics!.translations).toBe(20_001);
    expect(run.metrics!.events).toBe(run.events);

    const all = await s.call('queryEvents', { runId: runId!, offset: 0, limit: 5000 });
    expect(all.total).toBe(run.events);
    expect(all.rows.map((r) => r.seq)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    const map = all.rows.find((r) => r.kind === 'map')!;
    expect(map.fields).toMatchObject({ virtStart: '0xfffffffffffff000', virtEnd: '0xffffffffffffffff', physStart: '0x1000' });
    const problems = await s.call('queryEvents', { runId: runId!, offset: 0, limit: 100, problemsOnly: true });
    expect(problems.rows.map((r) => r.kind)).toEqual(['fault']);
    expect(problems.rows[0].fields).toMatchObject({ address: '0x5000', reason: 2 });

    // Progress: monotonic, per run, ending at the full unit count.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.every((p) => p.runId === runId)).toBe(true);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i].step).toBeGreaterThanOrEqual(progress[i - 1].step);
      expect(progress[i].events).toBeGreaterThanOrEqual(progress[i - 1].events);
    }
    expect(progress.at(-1)).toEqual({ runId, step: 20_004, steps: 20_004, events: run.events });

    // Every stored event reads back as the core emitted it (the same run in-process): seq, step,
    // kind and every field, u64 exact.
    const ref = new ScenarioRun(parseScenario(scenario(20_000), 'svc.yaml').scenario!, { record: true });
    const want: unknown[] = [];
    while (ref.advance(1 << 16));
    for (const e of ref.takeEvents()) {
      const fields: Record<string, unknown> = {};
      for (const [name, f] of Object.entries(EVENT_CATALOG[e.kind].fields) as [string, { type: string }][]) {
        const v = (e as unknown as Record<string, unknown>)[name];
        if (v === undefined || v === null) continue;
        fields[name] = f.type === 'u64' ? `0x${(v as bigint).toString(16)}` : f.type === 'json' ? JSON.parse(toJson(v)) : v;
      }
      want.push({ seq: e.seq, step: e.step, kind: e.kind, fields });
    }
    expect(want.length).toBe(run.events);
    const got: unknown[] = [];
    for (let offset = 0; offset < run.events; offset += 5000) {
      const page = await s.call('queryEvents', { runId: runId!, offset, limit: 5000 });
      for (const r of page.rows) got.push({ seq: r.seq, step: r.step, kind: r.kind, fields: r.fields });
    }
    expect(got).toEqual(want);
  });

  it('reports failed expectations', async () => {
    const s = open();
    const { runId } = await s.call('startRun', { text: scenario(10, { failing: true }), file: 'f.yaml' });
    await waitForRun(s, runId!);
    const run = (await s.call('getRun', { runId: runId! }))!;
    expect(run).toMatchObject({ status: 'done', failedExpectations: 1 });
    expect(run.stepResults[4]).toMatchObject({ op: 'map', status: 'OK', expectation: false });
    const problems = await s.call('queryEvents', { runId: runId!, offset: 0, limit: 100, problemsOnly: true });
    expect(problems.rows.map((r) => r.kind)).toEqual(['fault', 'expectation']);
  });

  it('cancels a busy run: status cancelled, events so far kept', async () => {
    const s = open({ commitIntervalMs: 20 });
    const { runId } = await s.call('startRun', { text: scenario(5_000_000), file: 'big.yaml' });
    await new Promise<void>((resolve) => {
      const off = s.listen('runProgress', (p) => {
        if (p.runId === runId && p.events > 0) {
          off();
          resolve();
        }
      });
    });
    expect(await s.call('cancelRun', { runId: runId! })).toEqual({ cancelled: true });
    expect(await waitForRun(s, runId!)).toEqual({ runId, status: 'cancelled', error: null });
    expect(await s.call('cancelRun', { runId: runId! })).toEqual({ cancelled: false });
    const run = (await s.call('getRun', { runId: runId! }))!;
    expect(run.status).toBe('cancelled');
    expect(run.events).toBeGreaterThan(0);
    expect(run.metrics!.events).toBe(run.events);
    expect(run.stepResults.length).toBe(4); // the workload never finished
    const last = await s.call('queryEvents', { runId: runId!, offset: run.events - 1, limit: 10 });
    expect(last.total).toBe(run.events);
    expect(last.rows.map((r) => r.seq)).toEqual([run.events - 1]);
  });

  it('marks the run failed when its worker dies, keeping every committed event', async () => {
    const s = open({ commitIntervalMs: 10, testHooks: testHooks({ crashAfterCommits: 3 }) });
    const progress: number[] = [];
    s.listen('runProgress', (p) => progress.push(p.events));
    const { runId } = await s.call('startRun', { text: scenario(2_000_000), file: 'crash.yaml' });
    const f = await waitForRun(s, runId!);
    expect(f.status).toBe('failed');
    expect(f.error).toMatch(/exit code 1/);
    const run = (await s.call('getRun', { runId: runId! }))!;
    expect(run).toMatchObject({ status: 'failed', error: f.error });
    expect(run.finishedAt).not.toBeNull();
    // Exactly the third commit's events are stored, as a dense prefix of the stream.
    expect(run.events).toBe(progress[2]);
    const tail = await s.call('queryEvents', { runId: runId!, offset: run.events - 2, limit: 10 });
    expect(tail.total).toBe(run.events);
    expect(tail.rows.map((r) => r.seq)).toEqual([run.events - 2, run.events - 1]);
    const db = new Database(path.join(dir, 'lab.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) AS n, max(seq) AS m FROM events WHERE run_id = ?').get(runId)).toEqual({ n: run.events, m: run.events - 1 });
    db.close();
  });

  it('close() cancels active runs and stores their state', async () => {
    const s = open({ commitIntervalMs: 20 });
    const { runId } = await s.call('startRun', { text: scenario(5_000_000), file: 'big.yaml' });
    await new Promise((r) => setTimeout(r, 300));
    await s.close();
    const again = open();
    const run = (await again.call('getRun', { runId: runId! }))!;
    expect(run.status).toBe('cancelled');
    expect(run.events).toBe((await again.call('queryEvents', { runId: runId!, offset: 0, limit: 1 })).total);
  });
});

describe('examples', () => {
  it('lists examples with their scenario names and reads them by name', async () => {
    fs.writeFileSync(path.join(dir, 'examples', 'b-hotplug.yaml'), 'name: Hot-plug behind virtio-iommu\nviommu: {model: virtio-iommu}\nsteps: []\n');
    fs.writeFileSync(path.join(dir, 'examples', 'a-basic.yaml'), '# comment\nname: "Basic map and DMA"\n');
    fs.writeFileSync(path.join(dir, 'examples', 'notes.txt'), 'not an example');
    // Grouped (seeds by file name, else by the scenario's blocks), with their first comment line.
    fs.writeFileSync(path.join(dir, 'examples', 'c-host.yaml'), '# The host side: a line that goes on\n# on the next line.\nname: H\nbackend: iommufd\n');
    fs.writeFileSync(path.join(dir, 'examples', 'seed-race.yaml'), '#The race.\n# more\nname: R\nhost: {}\n');
    fs.writeFileSync(path.join(dir, 'examples', 'd-guest.yaml'), 'name: G\nguest: {cpus: 1}\nhost: {}\n');
    const s = open();
    expect(await s.call('listExamples', {})).toEqual([
      { name: 'a-basic', title: 'Basic map and DMA', group: 'virtio-iommu', line: 'comment' },
      { name: 'b-hotplug', title: 'Hot-plug behind virtio-iommu', group: 'virtio-iommu', line: '' },
      { name: 'c-host', title: 'H', group: 'host side', line: 'The host side: a line that goes on…' },
      { name: 'd-guest', title: 'G', group: 'guest DMA', line: '' },
      { name: 'seed-race', title: 'R', group: 'seeds: problems reproduced', line: 'The race.' },
    ]);
    expect((await s.call('readExample', { name: 'b-hotplug' })).text).toContain('Hot-plug');
    expect((await s.call('readExample', { name: 'a-basic.yaml' })).name).toBe('a-basic');
    expect((await contractError(s.call('readExample', { name: 'missing' }))).path).toBe('/name');
    expect(await s.call('openFile', {})).toBeNull();
    expect(await s.call('saveFile', { path: null, text: 'x' })).toBeNull();
  });
});
