/**
 * Background WAL checkpoints for a run: a second connection, used by the run worker's generator
 * thread, copies the WAL's committed pages into the database file while the writer keeps
 * inserting (a PASSIVE checkpoint never blocks the writer, and the writer never blocks it).
 *
 * Why: a checkpoint of ~40 MB of WAL takes ~65 ms (~25 ms copying, the rest in the two fsyncs of
 * synchronous=NORMAL). Done by the writer's own automatic checkpoint, that time stops ingest (~6%
 * of a workload run, tests/bench/ingest.ts); the generator thread has time to spare (it waits
 * for the writer). The writer keeps its automatic checkpoint (writer.ts WAL_CHECKPOINT_BYTES):
 * it is what restarts the WAL from its beginning (only a writer can), and it finds at most the
 * pages of the last CHECKPOINT_MS left to copy.
 *
 * Errors: a failed checkpoint (SQLITE_BUSY while another checkpoint runs, I/O errors) is left
 * to the writer's own checkpoint: `maybe` never throws after construction.
 */
import Database from 'better-sqlite3';
import { configureConnection } from './schema.ts';

/** Minimum time between background checkpoints (ms). */
export const CHECKPOINT_MS = 100;

/** Periodic PASSIVE checkpoints of one database, from the thread that owns the instance. */
export class Checkpointer {
  private readonly db: Database.Database;
  private last = performance.now();
  /** Checkpoints run so far (for tests). */
  runs = 0;

  /** Opens a connection to the existing database at `dbPath` (SQLite errors if it cannot). */
  constructor(dbPath: string) {
    this.db = new Database(dbPath, { fileMustExist: true });
    configureConnection(this.db);
  }

  /** Whether CHECKPOINT_MS have passed since the last checkpoint (or since construction). */
  due(now = performance.now()): boolean {
    return now - this.last >= CHECKPOINT_MS;
  }

  /** Runs a PASSIVE checkpoint when one is due; returns whether it ran one. */
  maybe(now = performance.now()): boolean {
    if (!this.due(now)) return false;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
      this.runs++;
    } catch {
      // Left to the writer's automatic checkpoint.
    }
    this.last = performance.now();
    return true;
  }

  /** Closes the connection (no checkpoint: the writer's connection does the final one). */
  close(): void {
    this.db.close();
  }
}
