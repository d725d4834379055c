/**
 * A stored trace's events as the replay reads them (core/replay/intent.ts TraceRow: seq, kind, the
 * trace line, the virtual time, the decoded fields), one row at a time from its own read-only
 * connection — no one-line text is formatted, and memory stays bounded whatever the trace's size.
 * Used by the run worker's generator thread when it prepares a replay (main/worker/worker.ts).
 */
import type { TraceRow } from '../../core/replay/intent.ts';
import { decodeFields, type RawEventRow } from './codec.ts';
import { EVENT_COLUMNS, configureConnection } from './schema.ts';
import { openReadOnlyDatabase } from './store.ts';

/**
 * Iterates the events of trace `runId` in `dbPath` in seq order. The connection closes when the
 * iteration ends (early too). An unknown run yields nothing. Errors: LabDatabaseError opening the
 * file; a database older than schema version 9 (no events.line) fails the prepare with SQLite's
 * "no such column" — it holds no traces.
 */
export function* iterateTraceRows(dbPath: string, runId: number): Generator<TraceRow, void, undefined> {
  const db = openReadOnlyDatabase(dbPath);
  try {
    configureConnection(db, { readonly: true });
    const stmt = db.prepare(`SELECT seq, step, kind, ${EVENT_COLUMNS.join(', ')}, time, line FROM events WHERE run_id = ? ORDER BY seq`).safeIntegers(true);
    for (const raw of stmt.iterate(runId) as IterableIterator<RawEventRow>) {
      const { kind, fields } = decodeFields(raw);
      yield { seq: Number(raw.seq), kind, line: raw.line === null || raw.line === undefined ? null : Number(raw.line), time: raw.time === null || raw.time === undefined ? null : Number(raw.time), fields };
    }
  } finally {
    db.close();
  }
}
