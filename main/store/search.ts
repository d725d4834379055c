/**
 * The free-text search scan of queryEvents/locateEvent `search` (EventRow.text contains the text,
 * ignoring case), shared by the search worker (main/worker/search-worker.ts), which runs it off
 * the main thread, and by StoreReader's in-thread fallback (a reader used without a LabService).
 *
 * Each scanned row is formatted once (core/events/format.ts, ~3 µs/row), which is why the scan
 * never runs on a service's main thread: a 1.5 M-event run takes seconds.
 */
import type Database from 'better-sqlite3';
import type { RunStatus } from '../../core/contract/index.ts';
import { formatEvent } from '../../core/events/format.ts';
import { PLAN_BY_CODE } from './codec.ts';

/** SQL function giving an event's one-line text (formatEvent), lowercased, from its stored columns. */
export const EVENT_TEXT_FN = 'lab_event_text';
const RAW_COLUMNS = ['kind', 'status', 'domain', 'endpoint', 'a', 'b', 'c', 'flags', 'aux', 'data', 'used'] as const;
/**
 * The text function's arguments: the columns, with the u64 columns a, b, c (catalog.ts: only u64
 * fields live there) as SQLite's printf('%x') text, which prints the stored two's-complement
 * INTEGER as its unsigned 64-bit hex: the u64 value itself, lowercase, as codec.ts hex64 writes it.
 */
export const SEARCH_ARGS = RAW_COLUMNS.map((c) => (c === 'a' || c === 'b' || c === 'c' ? `iif(${c} IS NULL, NULL, printf('%x', ${c}))` : c)).join(', ');
const COLUMN_INDEX = Object.fromEntries(RAW_COLUMNS.map((c, i) => [c, i])) as Record<string, number>;

/** EventRow.text of a row given as SEARCH_ARGS, lowercased (toEventRow's text, without BigInt). */
function searchText(v: unknown[]): string {
  const code = v[0] as number;
  const plan = PLAN_BY_CODE[code];
  if (!plan) return `unknown-${code}`;
  const fields: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const x = v[COLUMN_INDEX[f.column]];
    if (x === null || x === undefined) continue;
    fields[f.name] = f.type === 'json' ? JSON.parse(x as string) : f.type === 'u64' ? `0x${x as string}` : x;
  }
  return formatEvent(plan.kind, fields).toLowerCase();
}

/** Thrown from `poll` (registerSearchText) to end a scan early; scanMatches then returns null. */
export class ScanStopped extends Error {
  constructor() {
    super('search scan stopped: a newer search superseded it');
    this.name = 'ScanStopped';
  }
}

/** Rows formatted between two calls of registerSearchText's `poll`. */
const POLL_ROWS = 4096;

/**
 * Registers EVENT_TEXT_FN on a connection: the one-line text of a stored row, as the contract's
 * EventRow.text is (toEventRow), lowercased, so `search` matches it case-insensitively with
 * instr(). Called once per scanned row, so it avoids BigInt (see SEARCH_ARGS). `poll` is called
 * every POLL_ROWS formatted rows, matching or not; throwing ScanStopped from it ends the scan.
 */
export function registerSearchText(db: Database.Database, poll?: () => void): void {
  let rows = 0;
  db.function(EVENT_TEXT_FN, { deterministic: true, varargs: true }, (...v: unknown[]) => {
    if (poll && ++rows % POLL_ROWS === 0) poll();
    return searchText(v);
  });
}

/**
 * One search scan, as StoreReader.searchScan builds it: `sql` selects the matching seqs of run
 * `runId` in seq order (a single column), `args` are its parameters, `key` names the filter for
 * the reader's match cache.
 */
export interface SearchScan {
  key: string;
  runId: number;
  sql: string;
  args: unknown[];
}

/**
 * Result of a scan: the matching seqs in order, and whether they may be cached (the run existed
 * and was no longer running in the snapshot that was scanned, so its events never change).
 */
export interface ScanResult {
  seqs: Float64Array;
  cacheable: boolean;
}

/**
 * Runs a search scan on `db` (EVENT_TEXT_FN registered). The run's status and the seqs are read in
 * one read transaction, so `cacheable` describes exactly the snapshot scanned (a run that finishes
 * mid-scan is not cached with its later events missing). Returns null when the text function's
 * `poll` ended the scan (ScanStopped).
 * Errors: SQLite errors of the query.
 */
export function scanMatches(db: Database.Database, scan: SearchScan): ScanResult | null {
  const status = db.prepare('SELECT status FROM runs WHERE id = ?');
  const query = db.prepare(scan.sql).pluck();
  const run = (): ScanResult => {
    const r = status.get(scan.runId) as { status: RunStatus } | undefined;
    let seqs = new Float64Array(1024);
    let n = 0;
    for (const seq of query.iterate(...scan.args) as Iterable<number>) {
      if (n === seqs.length) {
        const grown = new Float64Array(seqs.length * 2);
        grown.set(seqs);
        seqs = grown;
      }
      seqs[n++] = seq;
    }
    return { seqs: seqs.slice(0, n), cacheable: r !== undefined && r.status !== 'running' };
  };
  try {
    return db.transaction(run)();
  } catch (e) {
    if (e instanceof ScanStopped) return null;
    throw e;
  }
}
