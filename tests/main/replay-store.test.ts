/**
 * Replays stored as runs (contract startReplay; the run worker's generator reads the trace,
 * derives and binds the intent, and runs it — main/worker/worker.ts, core/replay): the golden
 * late-DMA trace replayed strict and lazy gives two runs with the trace's steps, their events,
 * and the replay record (RunSummary.replay) with the divergence only under lazy invalidation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContractError } from '../../core/contract/index.ts';
import { LabService } from '../../main/service/lab-service.ts';
import { GUEST_LATE_DMA_FTRACE_LINES } from '../support/traces.ts';

let dir: string;
let service: LabService;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-replay-store-'));
  service = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: dir, warmRunWorker: false });
});
afterEach(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const CONFIG = (mode: string) => `name: ${mode}
machine: q35
guest: {iommu-dma: ${mode}}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - read-config: {}
`;

/** Starts a replay and resolves with its finished run. */
async function replay(traceRunId: number, mode: string) {
  const done = new Promise<number>((resolve) => {
    const off = service.listen('runFinished', (f) => {
      off();
      resolve(f.runId);
    });
  });
  const r = await service.call('startReplay', { traceRunId, text: CONFIG(mode), file: `${mode}.yaml` });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect(await done).toBe(r.runId);
  return (await service.call('getRun', { runId: r.runId! }))!;
}

describe('startReplay', () => {
  it('stores each replay as a run: the trace steps, their events, and the record with the divergences', async () => {
    const imported = await service.call('importTrace', { name: 'late-dma.trace', text: GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n' });
    const trace = imported.runId!;
    const strict = await replay(trace, 'strict');
    expect(strict).toMatchObject({ name: 'strict ← late-dma.trace', status: 'done', steps: 5, file: 'strict.yaml', source: null });
    expect(strict.scenarioText).toBe(CONFIG('strict'));
    expect(strict.replay).toMatchObject({
      kind: 'replay',
      trace: { runId: trace, name: 'late-dma.trace', format: 'ftrace' },
      against: 'strict.yaml',
      byOp: { 'dma-map': 1, wait: 2, 'dma-unmap': 1, dma: 1 },
      divergenceCount: 0,
      divergences: [],
      unattributedFaults: 0,
    });
    expect(strict.replay!.notDerived.map((n) => n.event)).toEqual(['iommu:map']);
    // The notable step results only (the access); the calls' events are all stored.
    expect(strict.stepResults.map((r) => [r.index, r.op, r.line])).toEqual([[4, 'dma', 6]]);
    const calls = await service.call('queryEvents', { runId: strict.id, offset: 0, limit: 10, kinds: ['dma-map', 'dma-unmap', 'wait'] });
    expect(calls.rows.map((r) => [r.step, r.kind])).toEqual([[0, 'dma-map'], [1, 'wait'], [2, 'dma-unmap'], [3, 'wait']]);
    const faults = await service.call('queryEvents', { runId: strict.id, offset: 0, limit: 10, kinds: ['fault'] });
    expect(faults.rows.map((r) => [r.step, r.fields.address])).toEqual([[4, '0xfffff010']]);

    const lazy = await replay(trace, 'lazy');
    expect(lazy.replay).toMatchObject({ divergenceCount: 1, divergences: [{ step: 4, traceLine: 6, trace: 'line 6: iommu:io_page_fault 0000:00:03.0 address=0xfffff010 (write)', replay: null }] });
    expect((await service.call('queryEvents', { runId: lazy.id, offset: 0, limit: 10, kinds: ['fault'] })).total).toBe(0);
    // Listed like any run, with its record.
    const listed = await service.call('listRuns', {});
    expect(listed.map((r) => [r.id, r.replay?.kind ?? r.source?.kind ?? 'scenario'])).toEqual([[lazy.id, 'replay'], [strict.id, 'replay'], [trace, 'trace']]);
  });

  it('a scenario with variants: startReplay takes one by name; without one, the diagnostic lists them and nothing is stored', async () => {
    const imported = await service.call('importTrace', { name: 'late-dma.trace', text: GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n' });
    const text = fs.readFileSync(path.join(import.meta.dirname, '../../examples/variants-strict-lazy.yaml'), 'utf8');
    const none = await service.call('startReplay', { traceRunId: imported.runId!, text, file: 'v.yaml' });
    expect(none.runId).toBeNull();
    expect(none.diagnostics.at(-1)?.message).toBe('v.yaml has 2 variants (strict, lazy): a replay takes one configuration — replay against each variant by name');
    const done = new Promise<void>((resolve) => service.listen('runFinished', () => resolve()));
    const r = await service.call('startReplay', { traceRunId: imported.runId!, text, file: 'v.yaml', variant: 'lazy' });
    await done;
    const run = (await service.call('getRun', { runId: r.runId! }))!;
    expect(run).toMatchObject({ name: 'Variants: strict vs lazy invalidation [lazy] ← late-dma.trace', status: 'done', replay: { against: 'v.yaml [lazy]', divergenceCount: 1 } });
  });

  it('refuses a run that is not a trace, and an invalid scenario stores nothing', async () => {
    const imported = await service.call('importTrace', { name: 'late-dma.trace', text: GUEST_LATE_DMA_FTRACE_LINES.join('\n') + '\n' });
    await expect(service.call('startReplay', { traceRunId: 99, text: CONFIG('strict'), file: 'x.yaml' })).rejects.toThrow(new ContractError('startReplay: invalid params at /traceRunId: run 99 is not stored', '/traceRunId'));
    const strict = await replay(imported.runId!, 'strict');
    await expect(service.call('startReplay', { traceRunId: strict.id, text: CONFIG('strict'), file: 'x.yaml' })).rejects.toThrow(/run \d+ is not an imported trace/);
    const bad = await service.call('startReplay', { traceRunId: imported.runId!, text: 'name: x\nmachine: pc\n', file: 'bad.yaml' });
    expect(bad.runId).toBeNull();
    expect(bad.diagnostics[0]).toMatchObject({ file: 'bad.yaml', severity: 'error' });
    expect((await service.call('listRuns', {})).length).toBe(2);
  });
});
