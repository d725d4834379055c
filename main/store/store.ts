/**
 * The lab database as the main process sees it: opens (creating and migrating) the file, recovers
 * runs interrupted by a dead process, creates run rows and marks runs failed. Events are written
 * only by the run worker (writer.ts); reads go through `reader`, a separate read-only connection.
 * Opened `readOnly`, it writes nothing at all (for commands that only read: they work on a full
 * disk and on a read-only file or folder).
 *
 * Errors: every problem of the database file itself (not a database, damaged, read-only, full, not
 * a regular file, a path under a file, a schema of another build) is a LabDatabaseError with a
 * one-line message (errors.ts).
 *
 * Ownership: one LabStore per service; `close()` closes both connections.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LabDatabaseError, schemaTooNew, toLabDatabaseError } from './errors.ts';
import type { RunConfig } from '../../core/contract/index.ts';
import { deleteRuns, type DeleteRunsResult } from './delete-runs.ts';
import { StoreReader } from './reader.ts';
import { KIND_CODE, PROBLEM_SQL, SCHEMA_VERSION, SchemaTooNewError, configureConnection, migrate, schemaVersion } from './schema.ts';

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
  /** Where an imported trace came from (runs.source, JSON; schema version 9): absent for scenario runs. */
  source?: unknown;
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

/** Options of {@link LabStore}. */
export interface LabStoreOptions {
  /**
   * Open for reading only: nothing is created or written (no folder, no recovery, no WAL pragma,
   * no migration), so it works on a full disk and on a read-only file or folder; createRun and
   * markFailed throw. A database that does not exist yet, or whose schema is older than this
   * build's, is opened for writing instead (created or migrated once), and when that fails the
   * LabDatabaseError says why.
   */
  readOnly?: boolean;
}

/** A `regular file` check with a LabDatabaseError for anything else (/dev/null, a folder). */
function checkRegularFile(dbPath: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(dbPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw toLabDatabaseError(dbPath, e) ?? e;
  }
  if (!st.isFile()) {
    throw new LabDatabaseError(dbPath, 'not-a-file', `the lab database ${dbPath} is not a regular file: pass --db (or IOMMU_LAB_DB) the path of a file, existing or new`);
  }
  return true;
}

/**
 * A WAL database needs its `-shm` file; on read-only media (a folder nobody may write) or a full
 * disk SQLite cannot create or grow it. When no WAL content exists, the
 * file alone is the whole database: this returns an image of it to read in memory, its header
 * switched to rollback mode (bytes 18-19 = 1: an in-memory database has no WAL; SQLite file format
 * §1.3.3). Null when `e` is another error or the WAL holds content.
 */
function readOnlyMediaImage(dbPath: string, e: unknown): Buffer | null {
  const code = String((e as { code?: unknown }).code ?? '');
  // Read-only folder: SQLITE_READONLY_DIRECTORY, SQLITE_CANTOPEN, SQLITE_READONLY_CANTINIT; full
  // disk: SQLITE_IOERR_SHMSIZE (the -shm file cannot grow).
  if (!/^SQLITE_(READONLY_DIRECTORY|CANTOPEN|READONLY_CANTINIT|IOERR_SHM\w*)$/.test(code)) return null;
  const wal = `${dbPath}-wal`;
  if (fs.existsSync(wal) && fs.statSync(wal).size > 0) return null;
  const image = fs.readFileSync(dbPath);
  if (image.length >= 100 && image[18] === 2) image[18] = image[19] = 1;
  return image;
}

/**
 * A read-only connection to the existing database `dbPath` that writes nothing: on the file, or on
 * an in-memory image of it on read-only media or a full disk (readOnlyMediaImage). For readers
 * with their own connection (exports). Errors: LabDatabaseError (missing, not a database, damaged).
 */
export function openReadOnlyDatabase(dbPath: string): Database.Database {
  try {
    try {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get(); // SQLite opens lazily: reach the file now
      return db;
    } catch (e) {
      const image = readOnlyMediaImage(dbPath, e);
      if (image === null) throw e;
      return new Database(image, { readonly: true });
    }
  } catch (e) {
    throw toLabDatabaseError(dbPath, e, false) ?? e;
  }
}

/**
 * The schema version of an existing database, read without writing anything (`version`
 * undefined when the file does not exist), and the in-memory image to read it from on read-only
 * media (readOnlyMediaImage). Errors: LabDatabaseError (not a database, damaged, unreadable).
 */
function peekSchemaVersion(dbPath: string): { version: number | undefined; image: Buffer | null } {
  if (!checkRegularFile(dbPath)) return { version: undefined, image: null };
  let probe: Database.Database | null = null;
  let image: Buffer | null = null;
  try {
    try {
      probe = new Database(dbPath, { readonly: true, fileMustExist: true });
      return { version: schemaVersion(probe), image };
    } catch (e) {
      image = readOnlyMediaImage(dbPath, e);
      if (image === null) throw e;
      probe?.close();
      probe = new Database(image, { readonly: true });
      return { version: schemaVersion(probe), image };
    }
  } catch (e) {
    throw toLabDatabaseError(dbPath, e, false) ?? e;
  } finally {
    probe?.close();
  }
}

/**
 * Opens the lab database at `dbPath` (parent directories created), migrated to the latest schema,
 * or, with `readOnly`, as it is (see LabStoreOptions).
 * Errors: LabDatabaseError for a database file that cannot be used (errors.ts).
 */
export class LabStore {
  /** Absolute path of the database file. */
  readonly path: string;
  /** The read-only connection. */
  readonly reader: StoreReader;
  /** True when opened read-only (no writing connection). */
  readonly readOnly: boolean;
  private readonly db: Database.Database | null;
  private readonly live: Set<number>;

  constructor(dbPath: string, opts: LabStoreOptions = {}) {
    this.path = path.resolve(dbPath);
    let live = LIVE_RUNS.get(this.path);
    if (!live) LIVE_RUNS.set(this.path, (live = new Set()));
    this.live = live;
    if (opts.readOnly) {
      const { version, image } = peekSchemaVersion(this.path);
      if (version !== undefined && version > SCHEMA_VERSION) throw schemaTooNew(this.path, version);
      if (version === SCHEMA_VERSION) {
        this.readOnly = true;
        this.db = null;
        this.reader = this.openReader(image);
        return;
      }
      if (version !== undefined) {
        // An older schema: this build's reader needs it migrated, which writes, once.
        try {
          this.db = this.openWriter();
        } catch (e) {
          if (!(e instanceof LabDatabaseError)) throw e;
          throw new LabDatabaseError(
            this.path,
            'schema-too-old',
            `the lab database ${this.path} has an older schema (version ${version}; this build reads ${SCHEMA_VERSION}) and cannot be upgraded: it ${e.message.slice(`the lab database ${this.path} `.length)}`,
            { cause: e },
          );
        }
      } else this.db = this.openWriter();
    } else {
      if (fs.existsSync(this.path)) checkRegularFile(this.path);
      this.db = this.openWriter();
    }
    this.readOnly = false;
    try {
      this.recoverInterrupted();
      this.reader = this.openReader();
    } catch (e) {
      this.db.close();
      throw toLabDatabaseError(this.path, e) ?? e;
    }
  }

  /** The writing connection, configured and migrated. Errors: LabDatabaseError. */
  private openWriter(): Database.Database {
    try {
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
    } catch (e) {
      throw toLabDatabaseError(this.path, e) ?? e;
    }
    let db: Database.Database | null = null;
    try {
      db = new Database(this.path);
      // SQLite silently opens a file it may not write read-only; say so now, not at the first run.
      if (db.readonly) throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
      configureConnection(db);
      migrate(db);
      return db;
    } catch (e) {
      db?.close();
      if (e instanceof SchemaTooNewError) throw schemaTooNew(this.path, e.found);
      throw toLabDatabaseError(this.path, e) ?? e;
    }
  }

  /** The read-only connection: on the file, or on `image` (read-only media, readOnlyMediaImage). */
  private openReader(image: Buffer | null = null): StoreReader {
    try {
      return new StoreReader(image ?? this.path);
    } catch (e) {
      throw toLabDatabaseError(this.path, e, false) ?? e;
    }
  }

  /** The writing connection. Errors: LabDatabaseError when the store was opened read-only. */
  private writer(): Database.Database {
    if (this.db === null) {
      throw new LabDatabaseError(this.path, 'read-only', `the lab database ${this.path} was opened read-only by this command: nothing can be written through it`);
    }
    return this.db;
  }

  /**
   * Marks failed (error INTERRUPTED) every run still `running` whose owner process is gone, or
   * that this process owns but no longer executes. Runs of other live processes are left alone.
   * Returns the ids marked.
   */
  recoverInterrupted(): number[] {
    const rows = this.writer().prepare("SELECT id, owner_pid FROM runs WHERE status = 'running'").all() as { id: number; owner_pid: number | null }[];
    const marked: number[] = [];
    for (const r of rows) {
      const ours = r.owner_pid === process.pid;
      if (ours ? this.live.has(r.id) : r.owner_pid !== null && pidAlive(r.owner_pid)) continue;
      if (this.markFailed(r.id, INTERRUPTED)) marked.push(r.id);
      if (r.owner_pid !== null) fs.rmSync(`${this.path}-reserve-${r.owner_pid}-${r.id}`, { force: true });
    }
    return marked;
  }

  /** Inserts a run row (status running, owned by this process) and returns its id. */
  createRun(r: NewRun): number {
    const db = this.writer();
    let info: Database.RunResult;
    try {
      info = db
        .prepare(
          `INSERT INTO runs (name, file, scenario_text, status, started_at, steps, total_units, owner_pid, config, source)
           VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.name, r.file, r.scenarioText, new Date().toISOString(), r.steps, r.totalUnits, process.pid, r.config ? JSON.stringify(r.config) : null, r.source === undefined ? null : JSON.stringify(r.source));
    } catch (e) {
      // A full disk or a file that became read-only: the run cannot start (nothing was stored).
      throw toLabDatabaseError(this.path, e) ?? e;
    }
    const id = Number(info.lastInsertRowid);
    this.live.add(id);
    return id;
  }

  /**
   * Removes a run this process executes (still `running`) with its events, in one transaction:
   * an import that did not complete leaves nothing (main/store/import.ts). Its writer must be
   * closed first. Throws for a run this process does not own.
   */
  discardRun(runId: number): void {
    if (!this.live.has(runId)) throw new Error(`run ${runId} is not executed by this process`);
    const db = this.writer();
    db.transaction(() => {
      db.prepare('DELETE FROM events WHERE run_id = ?').run(runId);
      db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
    }).immediate();
  }

  /** Forgets that this process executes `runId` (call when its worker is gone). */
  release(runId: number): void {
    this.live.delete(runId);
    // A run worker that died leaves its disk-space reserve behind (EventWriter, RESERVE_PAGES).
    fs.rmSync(`${this.path}-reserve-${process.pid}-${runId}`, { force: true });
  }

  /**
   * Sets the start time of a `running` run that was created before its turn came (a variant run
   * waiting for the one before it: main/service/variant-runs.ts) to now, so its times and
   * duration are its own.
   */
  markStarted(runId: number): void {
    const db = this.writer();
    // IMMEDIATE: the write lock is taken first, waiting (busy_timeout) while other runs' workers
    // commit; a deferred statement's read-then-write upgrade may fail with SQLITE_BUSY at once.
    db.transaction(() => db.prepare("UPDATE runs SET started_at = ? WHERE id = ? AND status = 'running'").run(new Date().toISOString(), runId)).immediate();
  }

  /**
   * Marks `cancelled` a `running` run that never started (a variant waiting for its turn:
   * main/service/variant-runs.ts), with `error` saying why; it has no events. Returns false when
   * the run was not running.
   */
  markCancelledUnstarted(runId: number, error: string): boolean {
    const db = this.writer();
    // IMMEDIATE, as markStarted (other runs may be writing).
    const update = db.prepare("UPDATE runs SET status = 'cancelled', error = ?, finished_at = ? WHERE id = ? AND status = 'running' AND event_count = 0");
    return db.transaction(() => update.run(error, new Date().toISOString(), runId).changes > 0).immediate();
  }

  /**
   * Marks a `running` run failed with `error`; committed events stay, event_count keeps the last
   * committed count and failed_expectations is recounted from them. Returns false when the run was
   * not running (already finished by its worker).
   */
  markFailed(runId: number, error: string): boolean {
    const info = this.writer()
      .prepare(
        `UPDATE runs SET status = 'failed', error = @error, finished_at = @now,
           failed_expectations = (SELECT count(*) FROM events WHERE run_id = @runId AND ${PROBLEM_SQL} AND kind = ${KIND_CODE.expectation})
         WHERE id = @runId AND status = 'running'`,
      )
      .run({ error, now: new Date().toISOString(), runId });
    return info.changes > 0;
  }

  /**
   * Deletes runs and their events in one transaction (VACUUM after it with `vacuum`); refuses
   * unknown and running runs, deleting nothing. See delete-runs.ts for the rule and the result.
   */
  deleteRuns(runIds: readonly number[], opts: { vacuum?: boolean } = {}): DeleteRunsResult {
    return deleteRuns(this.writer(), runIds, opts);
  }

  /** Closes both connections. */
  close(): void {
    this.reader.close();
    this.db?.close();
  }
}
