/**
 * getTimeSeries benchmark (issue 9 §3; not a timed test): the compare plots' series of a run of
 * about a million events (examples/workload.yaml's streaming MAP → DMA → UNMAP, 200,000 iterations:
 * 400,000 map/unmap events folded, 1,000 faults), through the service's code (main/service/time-series.ts
 * over main/store/time-series.ts, as LabService calls it), downsampled to the default 2,000 points. Rate in events of the
 * run per second; the issue's target: a million-event run answers well under a second (≥ 1 M
 * events/s). Baseline: SQLite counting the same rows (the kinds the fold reads, one scan of the
 * run's key range, nothing returned) — what reading the rows costs on top of the scan.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { timeSeries } from '../../main/service/time-series.ts';
import { TIME_SERIES_KINDS, TimeSeriesReader, kindCode } from '../../main/store/time-series.ts';
import type { BenchRow } from './types.ts';

export const SIZES = { iterations: 200_000, repeats: 5 };

const WORKLOAD = (n: number) => `name: time-series bench
machine: q35
viommu: {model: virtio-iommu, conformance: qemu, granule: 4k}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
  - attach: {domain: 1, endpoint: nic0}
  - workload: {domain: 1, endpoint: nic0, count: ${n}, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
  - workload: {domain: 1, endpoint: nic0, count: 1000, iova-base: 0x200000000, phys-base: 0, ops: [dma]}
`;

/** The best of `repeats` wall-clock times of `f`, seconds. */
function best(repeats: number, f: () => unknown): number {
  let min = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    f();
    min = Math.min(min, (performance.now() - t0) / 1000);
  }
  return min;
}

export async function benchTimeSeries(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-bench-ts-'));
  const dbPath = path.join(dir, 'lab.db');
  const service = new LabService({ dbPath, examplesDir: dir, warmRunWorker: false });
  try {
    const res = await service.call('startRun', { text: WORKLOAD(SIZES.iterations), file: 'bench.yaml' });
    if (res.runId === null) throw new Error('bench scenario refused');
    await waitForRun(service, res.runId);
    const run = (await service.call('getRun', { runId: res.runId }))!;
    // The service's code (getTimeSeries is timeSeries over its reader), warmed once (connection, statement).
    const reader = new TimeSeriesReader(dbPath);
    timeSeries(reader, res.runId);
    const lab = best(SIZES.repeats, () => timeSeries(reader, res.runId!));
    reader.close();
    const db = new Database(dbPath, { readonly: true });
    const kinds = Object.values(TIME_SERIES_KINDS).flat().map(kindCode);
    const count = db.prepare(`SELECT count(*) FROM events WHERE run_id = ? AND kind IN (${kinds.join(', ')})`).pluck();
    const scan = best(SIZES.repeats, () => count.get(res.runId));
    db.close();
    return [
      {
        name: `getTimeSeries, ${(run.events / 1e6).toFixed(2)}M-event run → 2000 points`,
        value: run.events / lab,
        unit: 'events/s',
        baselineName: 'SQLite count(*) of the rows it folds',
        baselineValue: run.events / scan,
        target: 1_000_000,
      },
    ];
  } finally {
    await service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
