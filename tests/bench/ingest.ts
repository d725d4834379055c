/**
 * Ingest benchmark: events/s from the core runner into SQLite.
 *
 * 1. End to end, as a user gets it: LabService created and ready (its warm standby run worker has
 *    loaded its modules), then a workload scenario (~1.5M events) timed from startRun to
 *    runFinished — the generator thread (core runner + columnar encoding) overlapped with the
 *    writer (128-row INSERTs per event kind and shape, values shared by all rows bound once;
 *    main/store/writer.ts), commits every 100 ms, background WAL checkpoints on the generator
 *    thread, final state.
 *    The row also names the CPU time of the run's two busiest threads (the run worker's writer and
 *    its generator, from /proc on Linux, sampled while the run lasts because the worker exits with
 *    it): on a shared machine the wall-clock figure moves with the load, the CPU split says which
 *    side bounds the pipeline.
 *    Baseline: the same scenario run in-process, each event inserted with a single-row prepared
 *    INSERT (same schema, same column encoding), all in one transaction.
 * 2. Writer alone: EventWriter.writeBatch on pre-encoded columnar batches (what the run worker
 *    writes) vs the same single-row baseline, to separate storage cost from event generation.
 * 3. Run latency: a small scenario (100 iterations) startRun → runFinished, on the warm run worker
 *    vs a cold one (warmRunWorker: false: worker start-up paid by the run), as runs/s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SeqEvent } from '../../core/events/sink.ts';
import { ScenarioRun } from '../../core/run/runner.ts';
import { parseScenario } from '../../core/scenario/index.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { KIND_PLANS, toJson, u64ToSql } from '../../main/store/codec.ts';
import { EVENT_COLUMNS, configureConnection, migrate } from '../../main/store/schema.ts';
import { EventWriter } from '../../main/store/writer.ts';
import { BatchEncoder, type EventBatch } from '../../main/store/batch.ts';
import { LabStore } from '../../main/store/store.ts';
import type { BenchRow } from './types.ts';

/** Workload iterations: each is MAP (request + map), DMA (translate), UNMAP (request + unmap) = 5 events. */
const ITERATIONS = 300_000;
/** Events pre-generated for the writer-alone comparison. */
const WRITER_EVENTS = 500_000;
/** The issue's target for end-to-end ingest. */
const TARGET = 1_000_000;

function scenarioText(count: number): string {
  return `name: ingest benchmark
viommu:
  model: virtio-iommu
devices:
  - name: nic0
    bdf: "00:03.0"
steps:
  - attach: {domain: 1, endpoint: nic0}
  - workload: {domain: 1, endpoint: nic0, count: ${count}, size: 4096, iova-base: 0x100000000, phys-base: 0x80000000}
`;
}

const COLUMNS = EVENT_COLUMNS;

/** CPU time (ms) of each thread of this process by thread id, from /proc (empty where there is none). */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime (fields 14 and 15 of stat) in clock ticks of 10 ms.
      out.set(tid, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Samples the threads' CPU times every 20 ms until `stop()`, which returns the two largest
 * increases (ms), largest first ([] without /proc).
 */
function busiestThreads(): { stop: () => number[] } {
  const start = threadCpuMs();
  const last = new Map(start);
  const sample = () => {
    for (const [tid, ms] of threadCpuMs()) last.set(tid, ms);
  };
  const timer = setInterval(sample, 20);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return [...last]
        .map(([tid, ms]) => ms - (start.get(tid) ?? 0))
        .sort((a, b) => b - a)
        .slice(0, 2);
    },
  };
}

/** A fresh database at the current schema, and the naive single-row insert of one event. */
function baselineDb(file: string): { db: Database.Database; insert: (runId: number, e: SeqEvent) => void } {
  const db = new Database(file);
  configureConnection(db);
  migrate(db);
  const stmt = db.prepare(`INSERT INTO events (run_id, seq, step, kind, ${COLUMNS.join(', ')}) VALUES (${new Array(4 + COLUMNS.length).fill('?').join(', ')})`);
  const row: unknown[] = new Array(4 + COLUMNS.length);
  const insert = (runId: number, e: SeqEvent) => {
    const plan = KIND_PLANS[e.kind];
    row.fill(null);
    row[0] = runId;
    row[1] = e.seq;
    row[2] = e.step;
    row[3] = plan.code;
    for (const f of plan.fields) {
      const v = (e as unknown as Record<string, unknown>)[f.name];
      if (v === undefined || v === null) continue;
      row[4 + COLUMNS.indexOf(f.column)] = f.type === 'u64' ? u64ToSql(v as bigint) : f.type === 'json' ? toJson(v) : v;
    }
    stmt.run(row);
  };
  return { db, insert };
}

function newRun(text: string): ScenarioRun {
  const { scenario, diagnostics } = parseScenario(text, 'ingest.yaml');
  if (!scenario) throw new Error(`bench scenario invalid: ${JSON.stringify(diagnostics)}`);
  return new ScenarioRun(scenario, { record: true });
}

/** Runs both comparisons; figures in events/s. */
export async function benchIngest(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-bench-ingest-'));
  try {
    const text = scenarioText(ITERATIONS);

    // 1a. The lab: warm run worker + batched writer, end to end.
    const service = new LabService({ dbPath: path.join(dir, 'lab.db'), examplesDir: dir });
    await service.ready();
    const threads = busiestThreads();
    const t0 = performance.now();
    const { runId } = await service.call('startRun', { text, file: 'ingest.yaml' });
    if (runId === null) throw new Error('bench scenario rejected');
    const fin = await waitForRun(service, runId);
    const t1 = performance.now();
    const busiest = threads.stop();
    if (fin.status !== 'done') throw new Error(`bench run ${fin.status}: ${fin.error}`);
    const events = (await service.call('getRun', { runId }))!.events;
    await service.close();
    const lab = events / ((t1 - t0) / 1000);

    // 1b. Baseline: same events generated in-process, single-row INSERTs, one transaction.
    const base = baselineDb(path.join(dir, 'baseline.db'));
    const run = newRun(text);
    let n = 0;
    const t2 = performance.now();
    base.db.exec('BEGIN');
    for (let more = true; more; ) {
      more = run.advance(4096);
      for (const e of run.takeEvents()) base.insert(1, e);
    }
    base.db.exec('COMMIT');
    n = run.metrics().events;
    const t3 = performance.now();
    base.db.close();
    const baseline = n / ((t3 - t2) / 1000);

    // 2. Writer alone on pre-generated events (the first WRITER_EVENTS of the same stream), as
    // columnar batches for the lab and as event objects for the baseline.
    const pre: SeqEvent[] = [];
    const gen = newRun(text);
    while (pre.length < WRITER_EVENTS && gen.advance(4096)) pre.push(...gen.takeEvents());
    pre.length = Math.min(pre.length, WRITER_EVENTS);
    const enc = new BatchEncoder(16384);
    const batches: EventBatch[] = [];
    for (const e of pre) {
      const { kind, step, seq: _seq, ...payload } = e;
      enc.emit(kind, step, payload as never);
      if (enc.count === 16384) batches.push(enc.take(0, 1));
    }
    if (enc.count > 0) batches.push(enc.take(0, 1));
    const store = new LabStore(path.join(dir, 'writer.db'));
    const wid = store.createRun({ name: 'w', file: 'w.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    const t4 = performance.now();
    const w = new EventWriter(store.path, wid);
    for (const b of batches) w.writeBatch(b);
    w.finish({ status: 'done', doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null });
    const t5 = performance.now();
    store.release(wid);
    store.close();
    const base2 = baselineDb(path.join(dir, 'baseline2.db'));
    const t6 = performance.now();
    base2.db.exec('BEGIN');
    for (const e of pre) base2.insert(1, e);
    base2.db.exec('COMMIT');
    const t7 = performance.now();
    base2.db.close();

    // 3. Latency of a small run: warm standby vs cold worker (median of 5, each on a ready service).
    const small = scenarioText(100);
    const latency = async (warm: boolean): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const s = new LabService({ dbPath: path.join(dir, `latency-${warm}.db`), examplesDir: dir, warmRunWorker: warm });
        await s.ready();
        const a = performance.now();
        const r = await s.call('startRun', { text: small, file: 'small.yaml' });
        const f = await waitForRun(s, r.runId!);
        times.push(performance.now() - a);
        if (f.status !== 'done') throw new Error(`latency run ${f.status}: ${f.error}`);
        await s.close();
      }
      return times.sort((x, y) => x - y)[2];
    };
    const warmMs = await latency(true);
    const coldMs = await latency(false);

    return [
      {
        name: `SQLite ingest, workload run end to end on the warm run worker (${(events / 1e6).toFixed(2)}M events, startRun → runFinished: core thread + writer thread${
          busiest.length === 2 ? `; the two busiest threads' CPU ${busiest[0]} and ${busiest[1]} ms` : ''
        })`,
        value: lab,
        unit: 'events/s',
        baselineName: 'same events in-process, better-sqlite3 single-row prepared INSERT, one transaction',
        baselineValue: baseline,
        target: TARGET,
      },
      {
        name: `SQLite writer alone (${(pre.length / 1e3).toFixed(0)}K pre-encoded events in columnar batches, 128-row INSERTs per kind and shape)`,
        value: pre.length / ((t5 - t4) / 1000),
        unit: 'events/s',
        baselineName: 'better-sqlite3 single-row prepared INSERT, one transaction',
        baselineValue: pre.length / ((t7 - t6) / 1000),
      },
      {
        name: `Run latency, small scenario (100 iterations) startRun → runFinished on the warm run worker (${warmMs.toFixed(0)} ms)`,
        value: 1000 / warmMs,
        unit: 'runs/s',
        baselineName: `cold run worker started by the run (${coldMs.toFixed(0)} ms)`,
        baselineValue: 1000 / coldMs,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
