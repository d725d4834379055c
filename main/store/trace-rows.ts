/**
 * A stored trace's events as the replay reads them (core/replay/intent.ts TraceRow: seq, kind, the
 * trace line, the virtual time, the decoded fields), one row at a time from its own read-only
 * connection — no one-line text is formatted, and memory stays bounded whatever the trace's size.
 * Used by the run worker's generator thread when it prepares a replay (main/worker/worker.ts) and by
 * the replay pool's tasks (main/worker/replay-task.ts).
 *
 * Decoding is the replay's, not the UI's (main/store/codec.ts decodeFields): u64 fields stay
 * bigints (no "0x…" text to parse back), and the `data` JSON of consecutive events — the same
 * event name, device, task and CPU line after line in a real trace — is parsed once per distinct
 * text (a bounded cache), so a row costs little more than SQLite's step.
 */
import type { TraceRow } from '../../core/replay/intent.ts';
import { PLAN_BY_CODE, sqlToU64, type RawEventRow } from './codec.ts';
import { EVENT_COLUMNS, configureConnection } from './schema.ts';
import { openReadOnlyDatabase } from './store.ts';

/** Distinct `data` texts kept parsed (a trace has few: event × device × task × CPU). */
const DATA_CACHE_MAX = 4096;

/**
 * Iterates the events of trace `runId` in `dbPath` in seq order. The connection closes when the
 * iteration ends (early too). An unknown run yields nothing. Errors: LabDatabaseError opening the
 * file; a database older than schema version 9 (no events.line) fails the prepare with SQLite's
 * "no such column" — it holds no traces.
 * Fields: u64 as bigint, u8/u32 as number, json parsed (objects shared between rows with the same
 * text: treat them as read-only).
 */
export function* iterateTraceRows(dbPath: string, runId: number): Generator<TraceRow, void, undefined> {
  const db = openReadOnlyDatabase(dbPath);
  const cache = new Map<string, unknown>();
  try {
    configureConnection(db, { readonly: true });
    const stmt = db.prepare(`SELECT seq, step, kind, ${EVENT_COLUMNS.join(', ')}, time, line FROM events WHERE run_id = ? ORDER BY seq`).safeIntegers(true);
    for (const raw of stmt.iterate(runId) as IterableIterator<RawEventRow>) {
      const code = Number(raw.kind);
      const plan = PLAN_BY_CODE[code];
      const fields: Record<string, unknown> = {};
      if (plan) {
        for (const f of plan.fields) {
          const v = raw[f.column];
          if (v === null || v === undefined) continue;
          if (f.type === 'json') {
            const text = v as string;
            let parsed = cache.get(text);
            if (parsed === undefined) {
              parsed = JSON.parse(text);
              if (cache.size >= DATA_CACHE_MAX) cache.clear();
              cache.set(text, parsed);
            }
            fields[f.name] = parsed;
          } else if (f.type === 'u64') fields[f.name] = sqlToU64(v as bigint);
          else fields[f.name] = Number(v);
        }
      }
      yield { seq: Number(raw.seq), kind: plan ? plan.kind : `unknown-${code}`, line: raw.line === null || raw.line === undefined ? null : Number(raw.line), time: raw.time === null || raw.time === undefined ? null : Number(raw.time), fields };
    }
  } finally {
    db.close();
  }
}
