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

/** Options of {@link iterateRunEvents}. */
export interface EventStreamOptions {
  /**
   * Also read the envelope: `component` (the emitting component's id, null for the run's own
   * events, the run's vIOMMU for rows stored before schema version 6), `time` (ns, null before
   * version 6) and an imported event's `line` (the Perfetto export needs them). Default false.
   */
  envelope?: boolean;
}

/**
 * Iterates the events of `runId` stored in `dbPath` as contract EventRows (u64 as "0x…" hex,
 * `problem` from the catalog). The connection closes when the iteration ends, early too (`break`,
 * `return()`, an exception in the loop body). An unknown run yields nothing.
 * Errors: LabDatabaseError opening the file (missing, not a database, damaged).
 */
export function* iterateRunEvents(dbPath: string, runId: number, opts: EventStreamOptions = {}): Generator<EventRow, void, undefined> {
  // Also on read-only media or a full disk (then from an image in memory).
  const db = openReadOnlyDatabase(dbPath);
  try {
    configureConnection(db, { readonly: true });
    let envelope = '';
    let components: string[] = [];
    if (opts.envelope) {
      const eventCols = new Set((db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name));
      const hasEnvelope = eventCols.has('comp');
      envelope = `, ${hasEnvelope ? 'comp, time' : 'NULL AS comp, NULL AS time'}, ${eventCols.has('line') ? 'line' : 'NULL AS line'}`;
      if (hasEnvelope) components = componentIds(db.prepare('SELECT components FROM runs WHERE id = ?').get(runId) as { components: string | null } | undefined);
    }
    const stmt = db.prepare(`SELECT seq, step, kind, ${EVENT_COLUMNS.join(', ')}${envelope} FROM events WHERE run_id = ? ORDER BY seq`).safeIntegers(true);
    for (const raw of stmt.iterate(runId) as IterableIterator<RawEventRow>) yield toEventRow(raw, components);
  } finally {
    db.close();
  }
}

/** runs.components (a JSON array of ids, or of {id, …}) as the ids, code n at index n − 1; [] when unreadable. */
function componentIds(row: { components: string | null } | undefined): string[] {
  try {
    const v: unknown = row?.components ? JSON.parse(row.components) : [];
    if (!Array.isArray(v)) return [];
    return v.map((x) => (typeof x === 'object' && x !== null ? String((x as { id?: unknown }).id) : String(x)));
  } catch {
    return [];
  }
}
