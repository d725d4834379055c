/**
 * Deleting runs (`iommu-lab rm`): the runs rows and all their events, in one transaction, with the
 * space it frees measured from SQLite's page counts, and VACUUM on request.
 *
 * Rule: a run whose status is `running` is never deleted. Its worker is still writing it (runs
 * left `running` by a dead process are marked failed when the database is opened, LabStore
 * recoverInterrupted), so the user must cancel it or let it finish first. The whole request is
 * refused, and nothing deleted, when any id is running or does not exist.
 */
import type Database from 'better-sqlite3';

/** Page counts of the database file (PRAGMA page_count, freelist_count). */
export interface PageCounts {
  /** Pages in the database (the file's size is pages × page size once the WAL is checkpointed). */
  pages: number;
  /** Pages on the freelist: inside the file, unused, reused by later writes; VACUUM gives them back. */
  freePages: number;
}

/** What deleteRuns did. Bytes are pages × pageSize. */
export interface DeleteRunsResult {
  /** The ids deleted, as given (duplicates removed). */
  runIds: number[];
  /** Events deleted with them. */
  events: number;
  /** PRAGMA page_size (bytes). */
  pageSize: number;
  before: PageCounts;
  after: PageCounts;
  /** True when VACUUM ran (after the delete committed). */
  vacuumed: boolean;
}

/** Why runs could not be deleted: `missing` ids, or ids still `running`. Nothing was deleted. */
export class RunDeleteError extends Error {
  constructor(
    message: string,
    readonly reason: 'missing' | 'running',
    readonly runIds: number[],
  ) {
    super(message);
    this.name = 'RunDeleteError';
  }
}

function pageCounts(db: Database.Database): PageCounts {
  return { pages: db.pragma('page_count', { simple: true }) as number, freePages: db.pragma('freelist_count', { simple: true }) as number };
}

/**
 * Deletes the runs `runIds` and their events from `db` (a writable connection) in one IMMEDIATE
 * transaction, then, with `vacuum`, runs VACUUM and a TRUNCATE checkpoint so the file shrinks.
 * Errors: RunDeleteError (nothing deleted) for an unknown or running id; SQLite errors (e.g.
 * SQLITE_BUSY when VACUUM cannot get the database: the delete is committed by then).
 */
export function deleteRuns(db: Database.Database, runIds: readonly number[], opts: { vacuum?: boolean } = {}): DeleteRunsResult {
  const ids = [...new Set(runIds)];
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const status = db.prepare('SELECT status FROM runs WHERE id = ?').pluck();
  const delEvents = db.prepare('DELETE FROM events WHERE run_id = ?');
  const delRun = db.prepare('DELETE FROM runs WHERE id = ?');
  let before!: PageCounts;
  let events = 0;
  const refuse = () => {
    const states = ids.map((id) => [id, status.get(id) as string | undefined] as const);
    const missing = states.filter(([, s]) => s === undefined).map(([id]) => id);
    if (missing.length) throw new RunDeleteError(`no run ${missing.join(', ')} (nothing deleted)`, 'missing', missing);
    const running = states.filter(([, s]) => s === 'running').map(([id]) => id);
    if (running.length) {
      throw new RunDeleteError(
        `run ${running.join(', ')} ${running.length === 1 ? 'is' : 'are'} still running: cancel ${running.length === 1 ? 'it' : 'them'} (Ctrl-C in \`iommu-lab run\`, or Cancel in the lab) or let ${running.length === 1 ? 'it' : 'them'} finish, then remove (nothing deleted)`,
        'running',
        running,
      );
    }
  };
  // Refused before the write lock is asked for: a running run's writer may hold it for a while
  // (WAL readers never wait), and the answer must not wait for busy_timeout. Checked again inside
  // the transaction, which a run that started in between would make stale.
  refuse();
  db.transaction(() => {
    before = pageCounts(db);
    refuse();
    for (const id of ids) {
      events += delEvents.run(id).changes;
      delRun.run(id);
    }
  }).immediate();
  if (opts.vacuum) {
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  return { runIds: ids, events, pageSize, before, after: pageCounts(db), vacuumed: !!opts.vacuum };
}
