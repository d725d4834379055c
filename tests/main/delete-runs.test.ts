/**
 * Deleting runs (main/store/delete-runs.ts): all or nothing, running runs refused, events gone,
 * space accounted from page counts; and the streamed event iterator exports use.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqEvent } from '../../core/events/sink.ts';
import { EventWriter, LabStore, RunDeleteError, deleteRuns, iterateRunEvents } from '../../main/store/index.ts';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-rm-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const OUTCOME = { doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null, status: 'done' as const };

/** A finished run with `n` map events (u64 edges included). */
function runWith(store: LabStore, n: number, finish = true): number {
  const runId = store.createRun({ name: `r${n}`, file: 'r.yaml', scenarioText: 'name: r', steps: 1, totalUnits: 1 });
  const w = new EventWriter(dbPath, runId);
  const events: SeqEvent[] = [];
  for (let seq = 0; seq < n; seq++) {
    events.push({ seq, step: 0, kind: 'map', domain: 1, virtStart: BigInt(seq) << 12n, virtEnd: seq === n - 1 ? 0xffffffffffffffffn : (BigInt(seq) << 12n) + 0xfffn, physStart: 0n, flags: 3 } as unknown as SeqEvent);
  }
  w.write(events);
  if (finish) w.finish(OUTCOME);
  else {
    w.commit(1, 1);
    w.abort();
  }
  return runId;
}

const eventCount = (runId: number) => {
  const db = new Database(dbPath, { readonly: true });
  const n = db.prepare('SELECT count(*) FROM events WHERE run_id = ?').pluck().get(runId) as number;
  db.close();
  return n;
};

describe('deleteRuns', () => {
  it('deletes runs and their events, and counts the freed pages', () => {
    const store = new LabStore(dbPath);
    const a = runWith(store, 20000);
    const b = runWith(store, 10);
    const db = new Database(dbPath);
    const r = deleteRuns(db, [a, a]);
    expect(r).toMatchObject({ runIds: [a], events: 20000, pageSize: 16384, vacuumed: false });
    expect(r.after.freePages).toBeGreaterThan(r.before.freePages);
    expect(r.after.pages).toBe(r.before.pages); // freed pages stay in the file until VACUUM
    expect(eventCount(a)).toBe(0);
    expect(eventCount(b)).toBe(10);
    expect(store.reader.getRun(a)).toBeNull();
    expect(store.reader.listRuns().map((x) => x.id)).toEqual([b]);

    const v = deleteRuns(db, [b], { vacuum: true });
    expect(v.vacuumed).toBe(true);
    expect(v.after.pages).toBeLessThan(v.before.pages);
    expect(v.after.freePages).toBe(0);
    expect(fs.statSync(dbPath).size).toBe(v.after.pages * v.pageSize);
    db.close();
    store.close();
  });

  it('refuses unknown and running runs, deleting nothing', () => {
    const store = new LabStore(dbPath);
    const done = runWith(store, 5);
    const running = runWith(store, 5, false);
    const db = new Database(dbPath);
    expect(() => deleteRuns(db, [done, 999])).toThrow(new RunDeleteError('no run 999 (nothing deleted)', 'missing', [999]));
    const e = (() => {
      try {
        deleteRuns(db, [done, running]);
      } catch (err) {
        return err as RunDeleteError;
      }
    })();
    expect(e).toBeInstanceOf(RunDeleteError);
    expect(e).toMatchObject({ reason: 'running', runIds: [running] });
    expect(e!.message).toContain(`run ${running} is still running`);
    expect(eventCount(done)).toBe(5);
    expect(eventCount(running)).toBe(5);
    expect(store.reader.listRuns()).toHaveLength(2);
    db.close();
    store.close();
  });
});

describe('iterateRunEvents', () => {
  it('yields every event in seq order as EventRows, u64 exact, and closes on an early break', () => {
    const store = new LabStore(dbPath);
    const runId = runWith(store, 3000);
    let n = 0;
    let last: string | undefined;
    for (const r of iterateRunEvents(dbPath, runId)) {
      expect(r.seq).toBe(n++);
      last = r.fields.virtEnd as string;
    }
    expect(n).toBe(3000);
    expect(last).toBe('0xffffffffffffffff');
    for (const r of iterateRunEvents(dbPath, runId)) if (r.seq === 10) break;
    expect([...iterateRunEvents(dbPath, 999)]).toEqual([]);
    store.close();
  });
});
