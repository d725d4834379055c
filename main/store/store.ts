/**
 * The lab database as the main process sees it: opens (creating and migrating) the file, recovers
 * runs interrupted by a dead process, creates run rows and marks runs failed. Events are written
 * only by the run worker (writer.ts); reads go through `reader`, a separate read-only connection.
 *
 * Ownership: one LabStore per service; `close()` closes both connections.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { RunConfig } from '../../core/contract/index.ts';
import { StoreReader } from './reader.ts';
import { KIND_CODE, PROBLEM_SQL, configureConnection, migrate } from './schema.ts';

/** A run row to create (status running, started now, owned by this process). */
export interface NewRun {
  name: string;
  file: string;
  scenarioText: string;
  /** Number of scenario steps. */
  steps: number;
  /** Progress units of the whole run (1 per step, `count` per workload step). */
  totalUnits: number;
  /**
   * The run's configuration (core/run/config.ts runConfig of the parsed scenario), stored as JSON
   * in runs.config. Every real run gives it; absent (stored NULL, shown as unknown) only for
   * hand-made rows in tests and benchmarks.
   */
  config?: RunConfig;
}

/** Error text stored for a run whose process died while it was running. */
export const INTERRUPTED = 'interrupted: the process running it exited before the run finished';

// Runs being executed by this process, per database file: recovery must not mistake them for
// runs of a dead process (their owner_pid is ours).
const LIVE_RUNS = new Map<string, Set<number>>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Opens the lab database at `dbPath` (parent directories created), migrated to the latest schema.
 * Errors: SchemaTooNewError for a database written by a newer build; SQLite/fs errors otherwise.
 */
export class LabStore {
  /** Absolute path of the database file. */
  readonly path: string;
  /** The read-only connection. */
  readonly reader: StoreReader;
  private readonly db: Database.Database;
  private readonly live: Set<number>;

  constructor(dbPath: string) {
    this.path = path.resolve(dbPath);
    fs.mkdirSync(path.dirname(this.path), { recursive: true });
    this.db = new Database(this.path);
    try {
      configureConnection(this.db);
      migrate(this.db);
    } catch (e) {
      this.db.close();
      throw e;
    }
    let live = LIVE_RUNS.get(this.path);
    if (!live) LIVE_RUNS.set(this.path, (live = new Set()));
    this.live = live;
    this.recoverInterrupted();
    this.reader = new StoreReader(this.path);
  }

  /**
   * Marks failed (error INTERRUPTED) every run still `running` whose owner process is gone, or
   * that this process owns but no longer executes. Runs of other live processes are left alone.
   * Returns the ids marked.
   */
  recoverInterrupted(): number[] {
    const rows = this.db.prepare("SELECT id, owner_pid FROM runs WHERE status = 'running'").all() as { id: number; owner_pid: number | null }[];
    const marked: number[] = [];
    for (const r of rows) {
      const ours = r.owner_pid === process.pid;
      if (ours ? this.live.has(r.id) : r.owner_pid !== null && pidAlive(r.owner_pid)) continue;
      if (this.markFailed(r.id, INTERRUPTED)) marked.push(r.id);
    }
    return marked;
  }

  /** Inserts a run row (status running, owned by this process) and returns its id. */
  createRun(r: NewRun): number {
    const info = this.db
      .prepare(
        `INSERT INTO runs (name, file, scenario_text, status, started_at, steps, total_units, owner_pid, config)
         VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
      )
      .run(r.name, r.file, r.scenarioText, new Date().toISOString(), r.steps, r.totalUnits, process.pid, r.config ? JSON.stringify(r.config) : null);
    const id = Number(info.lastInsertRowid);
    this.live.add(id);
    return id;
  }

  /** Forgets that this process executes `runId` (call when its worker is gone). */
  release(runId: number): void {
    this.live.delete(runId);
  }

  /**
   * Marks a `running` run failed with `error`; committed events stay, event_count keeps the last
   * committed count and failed_expectations is recounted from them. Returns false when the run was
   * not running (already finished by its worker).
   */
  markFailed(runId: number, error: string): boolean {
    const info = this.db
      .prepare(
        `UPDATE runs SET status = 'failed', error = @error, finished_at = @now,
           failed_expectations = (SELECT count(*) FROM events WHERE run_id = @runId AND ${PROBLEM_SQL} AND kind = ${KIND_CODE.expectation})
         WHERE id = @runId AND status = 'running'`,
      )
      .run({ error, now: new Date().toISOString(), runId });
    return info.changes > 0;
  }

  /** Closes both connections. */
  close(): void {
    this.reader.close();
    this.db.close();
  }
}
