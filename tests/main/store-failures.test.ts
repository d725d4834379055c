/**
 * The store when the disk or the file does not cooperate (issue 6 §5.5): a write that fails on a
 * full disk marks the run failed with its reason and keeps every committed event (writer and the
 * real run worker, the full disk simulated with SQLite's max_page_count on the writer's
 * connection, set by the test hooks of tests/support/worker-hooks.ts); a read-only open writes nothing (no recovery, no migration) and refuses schemas of
 * other builds with a LabDatabaseError. Read-only files and folders, a real full disk and damaged
 * files are tested through the CLI in database-errors.test.ts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqEvent } from '../../core/events/sink.ts';
import { LabService, waitForRun } from '../../main/service/lab-service.ts';
import { LabDatabaseError } from '../../main/store/errors.ts';
import { EventWriter, LabStore, MIGRATIONS, SCHEMA_VERSION, migrate } from '../../main/store/index.ts';
import { RESERVE_PAGES } from '../../main/store/writer.ts';
import { testHooks } from '../support/worker-hooks.ts';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples');

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-store-fail-'));
  dbPath = path.join(dir, 'lab.db');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const mk = (seq: number) => ({ seq, step: 0, kind: 'attach', domain: 1, endpoint: seq }) as unknown as SeqEvent;
const pages = (file: string): number => {
  const db = new Database(file, { readonly: true });
  const n = db.pragma('page_count', { simple: true }) as number;
  db.close();
  return n;
};
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('a full disk during a run', () => {
  it('EventWriter.fail rolls back to the last commit and records the run failed with the reason', () => {
    const store = new LabStore(dbPath);
    const runId = store.createRun({ name: 'r', file: 'r.yaml', scenarioText: 'name: r', steps: 1, totalUnits: 1 });
    const w = new EventWriter(dbPath, runId);
    w.write(Array.from({ length: 300 }, (_, i) => mk(i)));
    w.commit(1, 10);
    w.setMaxPageCount(pages(dbPath)); // not one page more: the next commit that grows the file fails
    let failure: unknown = null;
    for (let seq = 300; failure === null && seq < 1_000_000; seq += 5000) {
      try {
        w.write(Array.from({ length: 5000 }, (_, i) => mk(seq + i)));
        w.commit(2, 10);
      } catch (e) {
        failure = e;
      }
    }
    expect((failure as { code?: string }).code).toBe('SQLITE_FULL');
    const committed = w.committedCount;
    expect(committed).toBeGreaterThanOrEqual(300);
    expect(w.fail('cannot store events: the disk is full')).toBe(true);
    const run = store.reader.getRun(runId)!;
    expect(run).toMatchObject({ status: 'failed', error: 'cannot store events: the disk is full', events: committed });
    expect(run.finishedAt).not.toBeNull();
    const page = store.reader.queryEvents({ runId, offset: committed - 2, limit: 10 });
    expect(page.total).toBe(committed);
    expect(page.rows.map((r) => r.seq)).toEqual([committed - 2, committed - 1]);
    // The host's own marking afterwards changes nothing (the run is no longer running).
    expect(store.markFailed(runId, 'run worker exited')).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('-reserve-'))).toEqual([]);
    store.close();
  });

  it('a writer holds a reserve of disk space beside the database, given back when it closes or its worker dies', () => {
    const store = new LabStore(dbPath);
    const reserves = () => fs.readdirSync(dir).filter((f) => f.includes('-reserve-'));
    const a = store.createRun({ name: 'a', file: 'a.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    const w = new EventWriter(dbPath, a);
    expect(reserves()).toEqual([`lab.db-reserve-${process.pid}-${a}`]);
    expect(fs.statSync(path.join(dir, reserves()[0])).size).toBeGreaterThanOrEqual(RESERVE_PAGES * 16384);
    w.finish({ doneUnits: 1, totalUnits: 1, metrics: null, stepResults: [], failedExpectations: 0, error: null, status: 'done' });
    expect(reserves()).toEqual([]);
    const b = store.createRun({ name: 'b', file: 'b.yaml', scenarioText: '', steps: 1, totalUnits: 1 });
    new EventWriter(dbPath, b); // its worker "dies": never closed
    expect(reserves()).toHaveLength(1);
    store.release(b); // what the host does when the worker exits
    expect(reserves()).toEqual([]);
    store.close();
  });

  it('a run whose worker hits a full disk ends failed with the reason, its committed events kept', async () => {
    new LabStore(dbPath).close();
    // The run worker's connection may grow the database by 128 pages of 16 KiB (2 MiB): room for
    // the first batch (at most 1.5 × 16384 events, main/worker/worker.ts) however far the generator
    // runs ahead of the writer, far from room for the workload's ~800 K events.
    const maxPageCount = pages(dbPath) + 128;
    const service = new LabService({ dbPath, examplesDir: EXAMPLES, warmRunWorker: false, runOptions: { commitIntervalMs: 0, testHooks: testHooks({ maxPageCount }) } });
    try {
      const text = [
        'name: fills the disk',
        'viommu: {model: virtio-iommu}',
        'devices: [{name: nic0, bdf: "00:03.0"}]',
        'steps:',
        '  - attach: {domain: 1, endpoint: nic0}',
        '  - workload: {domain: 1, endpoint: nic0, count: 200000, iova-base: 0x100000, phys-base: 0x80000000}',
      ].join('\n');
      const started = await service.call('startRun', { text, file: 'full.yaml' });
      expect(started.diagnostics).toEqual([]);
      const runId = started.runId!;
      const done = await waitForRun(service, runId);
      expect(done.status).toBe('failed');
      expect(done.error).toMatch(/^cannot store events: the disk is full \(database or disk is full\); the run keeps the \d+ events stored before it\. Free some space and run it again$/);
      const run = (await service.call('getRun', { runId }))!;
      expect(run).toMatchObject({ status: 'failed', error: done.error });
      expect(run.events).toBeGreaterThan(0);
      expect(done.error).toContain(`keeps the ${run.events} events`);
      const page = await service.call('queryEvents', { runId, offset: 0, limit: 1 });
      expect(page.total).toBe(run.events);
    } finally {
      await service.close();
    }
  }, 60_000);
});

describe('opening read-only', () => {
  it('writes nothing: no recovery of dead runs, no migration, the file unchanged', () => {
    const store = new LabStore(dbPath);
    const runId = store.createRun({ name: 'r', file: 'r.yaml', scenarioText: 'name: r', steps: 1, totalUnits: 1 });
    store.close();
    const db = new Database(dbPath);
    db.prepare('UPDATE runs SET owner_pid = 999999999 WHERE id = ?').run(runId); // no such process
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const before = sha(dbPath);

    const ro = new LabStore(dbPath, { readOnly: true });
    expect(ro.readOnly).toBe(true);
    expect(ro.reader.getRun(runId)).toMatchObject({ status: 'running', error: null });
    expect(() => ro.createRun({ name: 'x', file: 'x.yaml', scenarioText: '', steps: 1, totalUnits: 1 })).toThrow(LabDatabaseError);
    expect(() => ro.markFailed(runId, 'x')).toThrow(/was opened read-only/);
    ro.close();
    expect(sha(dbPath)).toBe(before);
  });

  it('refuses a newer schema, and migrates an older one once (which writes)', () => {
    const db = new Database(dbPath);
    migrate(db);
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => new LabStore(dbPath, { readOnly: true })).toThrow(LabDatabaseError);
    expect(() => new LabStore(dbPath, { readOnly: true })).toThrow(`the lab database ${dbPath} was written by a newer IOMMU Lab (schema version ${SCHEMA_VERSION + 1}`);

    const old = path.join(dir, 'old.db');
    const db1 = new Database(old);
    migrate(db1, MIGRATIONS[0].version);
    db1.close();
    const ro = new LabStore(old, { readOnly: true });
    expect(ro.readOnly).toBe(false); // it had to be migrated first
    expect(ro.reader.listRuns()).toEqual([]);
    ro.close();
    const again = new LabStore(old, { readOnly: true });
    expect(again.readOnly).toBe(true);
    again.close();
  });

  it('creates a database that does not exist yet, as a writing open would', () => {
    const store = new LabStore(path.join(dir, 'new', 'lab.db'), { readOnly: true });
    expect(store.reader.listRuns()).toEqual([]);
    store.close();
  });
});
