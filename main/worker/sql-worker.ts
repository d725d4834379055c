/**
 * SQL worker: a child process (Node's child_process.fork from the CLI and `serve`; Electron's
 * utilityProcess in the app, whose RunAsNode fuse is off) that runs the SQL console's queries
 * (main/store/sql-console.ts) on its own read-only connection, so a query that scans millions of
 * events, or never ends, never blocks a main thread.
 *
 * Why a process and not a worker thread: better-sqlite3 has no sqlite3_interrupt, and
 * Worker.terminate() only stops JavaScript — a thread inside sqlite3_step (a recursive CTE that
 * never ends) keeps running, and burning a core, until SQLite returns. A process is stopped by
 * SIGKILL wherever it is, so the host stops a query (its time limit, sqlCancel) by killing this
 * process and starting a fresh one for the next.
 */
import { Worker } from 'node:worker_threads';
import type { SqlError } from '../../core/contract/index.ts';
import { SqlConsole, SqlConsoleError } from '../store/sql-console.ts';
import { STREAM_WINDOW, type SqlReply, type SqlRequest } from './sql-protocol.ts';

/** The transport to the host: Electron's parentPort in a utility process, else Node's IPC channel. */
interface ParentPort {
  on(event: 'message', h: (e: { data: unknown }) => void): void;
  postMessage(m: unknown): void;
}
const electronPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
const post = (m: SqlReply): void => {
  if (electronPort) electronPort.postMessage(m);
  else process.send!(m);
};
const onRequest = (h: (m: SqlRequest) => void): void => {
  if (electronPort) electronPort.on('message', (e) => h(e.data as SqlRequest));
  else process.on('message', (m) => h(m as SqlRequest));
};

/**
 * The watchdog: a thread that kills this process once its parent is gone (a parent killed with
 * SIGKILL cannot kill it first), checked every second — the only code that can still run while
 * the main thread is inside sqlite3_step. Unref'ed: it never keeps the process alive by itself.
 */
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  try { process.kill(workerData.ppid, 0); } catch { process.kill(process.pid, 'SIGKILL'); }
}, 1000);
`;
new Worker(WATCHDOG, { eval: true, workerData: { ppid: process.ppid } }).unref();

let dbPath = '';
let sqlConsole: SqlConsole | null = null;
/** Stream chunks the host has written; `wake` resolves when one more is. */
let acked = 0;
let wake: (() => void) | null = null;
/** Requests wait here while a stream is running (it awaits acks between chunks). */
let busy: Promise<void> = Promise.resolve();

/** The console, opened on first use (again after a failed open). Errors: LabDatabaseError. */
function open(): SqlConsole {
  return (sqlConsole ??= new SqlConsole(dbPath));
}

function toError(e: unknown): SqlError {
  if (e instanceof SqlConsoleError) return { message: e.message, code: e.code, offset: e.offset };
  return { message: e instanceof Error ? e.message.split('\n')[0] : String(e), code: (e as { code?: string }).code ?? 'ERROR', offset: null };
}

async function handle(req: Exclude<SqlRequest, { type: 'open' } | { type: 'ack' }>): Promise<void> {
  const t0 = performance.now();
  if (req.type === 'schema') return post({ id: req.id, type: 'schema', schema: open().schema() });
  if (req.type === 'query') {
    const r = open().query(req.sql, req.limit);
    return post({ id: req.id, type: 'result', ...r, elapsedMs: performance.now() - t0 });
  }
  let sent = 0;
  acked = 0;
  for (const part of open().stream(req.sql, req.chunk)) {
    if ('columns' in part) {
      post({ id: req.id, type: 'columns', columns: part.columns });
      continue;
    }
    post({ id: req.id, type: 'rows', rows: part.rows });
    sent++;
    // At most STREAM_WINDOW chunks in flight: wait for the host's writes (a slow pipe).
    while (sent - acked >= STREAM_WINDOW) await new Promise<void>((r) => (wake = r));
  }
  post({ id: req.id, type: 'done', elapsedMs: performance.now() - t0 });
}

onRequest((req) => {
  if (req.type === 'open') dbPath = req.dbPath;
  else if (req.type === 'ack') {
    acked++;
    const w = wake;
    wake = null;
    w?.();
  } else {
    busy = busy.then(() =>
      handle(req).catch((e: unknown) => {
        post({ id: req.id, type: 'error', error: toError(e) });
      }),
    );
  }
});
