/**
 * Messages between the SQL host (main/worker/sql-host.ts, main process) and the SQL worker
 * (main/worker/sql-worker.ts, a child process), which owns the SQL console's read-only connection
 * (main/store/sql-console.ts). Requests are answered one at a time, in order. Every message is
 * plain JSON (rows hold numbers, strings and null only: SqlConsole's values).
 */
import type { SqlColumnInfo, SqlError, SqlSchemaObject } from '../../core/contract/index.ts';

/** Chunks a stream may run ahead of the host's writes (each acknowledged by an `ack`). */
export const STREAM_WINDOW = 4;

/**
 * Host → worker. `open`: the database (first message); `query`: at most `limit` rows; `stream`:
 * every row, in chunks (the CLI); `ack`: one stream chunk written; `schema`: the documented objects.
 */
export type SqlRequest =
  | { type: 'open'; dbPath: string }
  | { id: number; type: 'query'; sql: string; limit: number }
  | { id: number; type: 'stream'; sql: string; chunk: number }
  | { id: number; type: 'schema' }
  | { type: 'ack' };

/** Worker → host. A stream answers `columns`, then `rows` chunks, then `done` (or `error` at any point). */
export type SqlReply =
  | { id: number; type: 'result'; columns: SqlColumnInfo[]; rows: unknown[][]; truncated: boolean; elapsedMs: number }
  | { id: number; type: 'schema'; schema: SqlSchemaObject[] }
  | { id: number; type: 'columns'; columns: SqlColumnInfo[] }
  | { id: number; type: 'rows'; rows: unknown[][] }
  | { id: number; type: 'done'; elapsedMs: number }
  | { id: number; type: 'error'; error: SqlError };
