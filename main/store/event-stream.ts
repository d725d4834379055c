/**
 * Every event of a run in seq order, one row at a time (better-sqlite3 `iterate()`), for exports:
 * memory stays bounded whatever the run's size. Uses its own read-only connection, so it works on a
 * read-only database file and never blocks a writer (WAL: it reads the last committed state as of
 * its first row).
 */
import type { EventRow } from '../../core/contract/index.ts';
import type { RawEventRow } from './codec.ts';
import { toEventRow } from './reader.ts';
import { EVENT_COLUMNS, configureConnection } from './schema.ts';
import { openReadOnlyDatabase } from './store.ts';

/**
 * Iterates the events of `runId` stored in `dbPath` as contract EventRows (u64 as "0x…" hex,
 * `problem` from the catalog). The connection closes when the iteration ends, early too (`break`,
 * `return()`, an exception in the loop body). An unknown run yields nothing.
 * Errors: LabDatabaseError opening the file (missing, not a database, damaged).
 */
export function* iterateRunEvents(dbPath: string, runId: number): Generator<EventRow, void, undefined> {
  // Also on read-only media or a full disk (then from an image in memory).
  const db = openReadOnlyDatabase(dbPath);
  try {
    configureConnection(db, { readonly: true });
    const stmt = db.prepare(`SELECT seq, step, kind, ${EVENT_COLUMNS.join(', ')} FROM events WHERE run_id = ? ORDER BY seq`).safeIntegers(true);
    for (const raw of stmt.iterate(runId) as IterableIterator<RawEventRow>) yield toEventRow(raw);
  } finally {
    db.close();
  }
}
