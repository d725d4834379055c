/**
 * The run worker entry: resolution from source (tsx) vs bundled by electron-vite, and the bundled
 * out/main/worker.js running a scenario under plain Node (when the app has been built).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { LabStore } from '../../main/store/store.ts';
import type { RunJob, WorkerMessage } from '../../main/worker/protocol.ts';
import { workerEntry } from '../../main/worker/host.ts';

const BUNDLED = path.resolve('out/main/worker.js');

describe('workerEntry', () => {
  it('runs worker.ts under tsx when the host runs from source', () => {
    const e = workerEntry(pathToFileURL(path.resolve('main/worker/host.ts')).href);
    expect(e.file).toBe(path.resolve('main/worker/worker.ts'));
    expect(e.execArgv[0]).toBe('--import');
    expect(e.execArgv[1]).toMatch(/^file:\/\/.*\/node_modules\/tsx\/dist\/loader\.mjs$/);
  });

  it('runs worker.js next to the bundle when built', () => {
    const bundle = pathToFileURL(path.resolve('out/main/index.js')).href;
    expect(workerEntry(bundle)).toEqual({ file: BUNDLED, execArgv: [] });
  });

  it.skipIf(!fs.existsSync(BUNDLED))('the bundled worker runs a scenario into the store', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-worker-'));
    const store = new LabStore(path.join(dir, 'lab.db'));
    try {
      const text = `name: bundled
viommu: {model: virtio-iommu}
devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - attach: {domain: 1, endpoint: nic0}
    expect: OK
  - workload: {domain: 1, endpoint: nic0, count: 100, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;
      const runId = store.createRun({ name: 'bundled', file: 'b.yaml', scenarioText: text, steps: 2, totalUnits: 101 });
      const job: RunJob = { runId, text, file: 'b.yaml', dbPath: store.path, cancel: new SharedArrayBuffer(4) };
      const messages: WorkerMessage[] = [];
      const w = new Worker(BUNDLED, { workerData: job });
      w.on('message', (m: WorkerMessage) => messages.push(m));
      expect(await new Promise((r) => w.on('exit', r))).toBe(0);
      expect(messages.at(-1)).toMatchObject({ type: 'finished', status: 'done', failedExpectations: 0 });
      expect(store.reader.getRun(runId)).toMatchObject({ status: 'done', events: (messages.at(-1) as { events: number }).events });
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
