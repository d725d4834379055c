/**
 * The SQL host (main process): answers the SQL console's calls (sqlQuery, sqlCancel, sqlSchema;
 * `iommu-lab sql`) without running a query on the main thread (DESIGN.md §2). Queries run in one
 * lazily started SQL worker process (main/worker/sql-worker.ts, the console's read-only
 * connection, main/store/sql-console.ts), one at a time in call order.
 *
 * better-sqlite3 has no sqlite3_interrupt, and a worker thread cannot be stopped inside SQLite
 * (sql-worker.ts says why), so the worker is a process: a query is stopped — at its time limit or
 * by sqlCancel — by killing it (SIGKILL); the next query starts a fresh one (the console's views
 * are created again on its new connection, a few ms). A worker that dies or cannot start answers
 * the current query with an error; the next query starts a new one.
 *
 * SQL problems (syntax, no such table, a write refused, the time limit, a cancel) are answers
 * (`error`), not rejections: they are the user's input, not the lab's bugs (STYLE.md, three tiers).
 */
import { fork } from 'node:child_process';
import type { Params, Results, SqlColumnInfo, SqlError, SqlSchemaObject } from '../../core/contract/index.ts';
import { SQL_ROW_LIMIT } from '../store/sql-console.ts';
import { workerEntry } from './host.ts';
import type { SqlReply, SqlRequest } from './sql-protocol.ts';

/** Default time limit of a query (ms); the contract allows up to SQL_MAX_TIMEOUT_MS per call. */
export const SQL_DEFAULT_TIMEOUT_MS = 10_000;
/** Longest time limit a call may ask for (ms): 5 minutes. */
export const SQL_MAX_TIMEOUT_MS = 300_000;

/** Callbacks of a streamed query (the CLI): `rows` may return a promise (a write waiting for drain); the worker waits for it. */
export interface SqlStreamSink {
  columns(columns: SqlColumnInfo[]): void;
  rows(rows: unknown[][]): void | Promise<void>;
}

/** A started SQL worker process, whatever started it (Node's fork, Electron's utilityProcess). */
export interface SqlProcess {
  /** Its process id, when known. */
  readonly pid?: number;
  send(m: SqlRequest): void;
  onMessage(h: (m: SqlReply) => void): void;
  /** Called once when the process ended (`reason`: its exit code or error). */
  onExit(h: (reason: string) => void): void;
  /** Keep (true) or stop keeping (false) the host's event loop alive for it. */
  ref(keep: boolean): void;
  /** Ends it now (SIGKILL). */
  kill(): void;
}

/** Starts the SQL worker process from its entry file with these exec arguments. */
export type SqlSpawner = (file: string, execArgv: string[]) => SqlProcess;

/** The SqlSpawner of plain Node (the CLI, `serve`, tests): child_process.fork with an IPC channel. */
export const nodeSqlSpawner: SqlSpawner = (file, execArgv) => {
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  let exited: ((reason: string) => void) | null = null;
  let error: string | null = null;
  child.on('error', (e) => {
    error ??= errorText(e);
  });
  child.on('exit', (code, signal) => exited?.(error ?? (stderr.trim().split('\n').pop() || `exit ${signal ?? `code ${code}`}`)));
  return {
    pid: child.pid,
    send: (m) => child.send(m),
    onMessage: (h) => child.on('message', (m) => h(m as SqlReply)),
    onExit: (h) => (exited = h),
    ref: (keep) => {
      const ch = child as unknown as { channel?: { ref(): void; unref(): void } };
      if (keep) {
        child.ref();
        ch.channel?.ref();
      } else {
        child.unref();
        ch.channel?.unref();
      }
    },
    kill: () => child.kill('SIGKILL'),
  };
};

/** A request without its id (enqueue numbers it). */
type RequestBody = SqlRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Job {
  id: number;
  request: SqlRequest;
  timeoutMs: number;
  started: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Handles a reply; true when the job is finished. */
  reply(m: SqlReply): boolean;
  fail(error: SqlError): void;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

/** Seconds of a time limit for messages ("10 s", "0.5 s"). */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Runs the SQL console's queries in a worker for one database (see the file comment). */
export class SqlHost {
  private worker: SqlProcess | null = null;
  private readonly queue: Job[] = [];
  private current: Job | null = null;
  private nextId = 0;
  private closed = false;

  /**
   * `dbPath`: the lab database (the worker opens it read-only). `spawn`: how to start the worker
   * process (default: Node's fork; the Electron app passes one over utilityProcess). `entry`: the
   * worker's file and exec arguments (default: workerEntry's sql-worker beside this module).
   */
  constructor(
    private readonly dbPath: string,
    private readonly spawn: SqlSpawner = nodeSqlSpawner,
    private readonly entry: { file: string; execArgv: string[] } = workerEntry(import.meta.url, 'sql-worker'),
  ) {}

  /** The SQL worker process while it runs (tests, diagnostics). */
  get sqlWorker(): SqlProcess | null {
    return this.worker;
  }

  /**
   * sqlQuery: the columns and at most `limit` rows (default SQL_ROW_LIMIT), or `error` (SQLite's
   * message and offset, READONLY_REFUSED, TIMEOUT after `timeoutMs` — default 10 s —, CANCELLED).
   * Never rejects except when the host is closed.
   */
  query(p: Params<'sqlQuery'>): Promise<Results['sqlQuery']> {
    const limit = p.limit ?? SQL_ROW_LIMIT;
    const t0 = performance.now();
    return new Promise((resolve) => {
      const empty = (error: SqlError): Results['sqlQuery'] => ({ columns: [], rows: [], truncated: false, elapsedMs: performance.now() - t0, error });
      this.enqueue({ type: 'query', sql: p.sql, limit }, p.timeoutMs, {
        reply: (m) => {
          if (m.type === 'result') resolve({ columns: m.columns, rows: m.rows, truncated: m.truncated, elapsedMs: m.elapsedMs, error: null });
          else if (m.type === 'error') resolve(empty(m.error));
          return true;
        },
        fail: (error) => resolve(empty(error)),
      });
    });
  }

  /** sqlSchema: the documented tables and views. Errors: rejects with the worker's message (e.g. an unusable database). */
  schema(): Promise<SqlSchemaObject[]> {
    return new Promise((resolve, reject) => {
      this.enqueue({ type: 'schema' }, undefined, {
        reply: (m) => {
          if (m.type === 'schema') resolve(m.schema);
          else if (m.type === 'error') reject(new Error(`sqlSchema: ${m.error.message}`));
          return true;
        },
        fail: (error) => reject(new Error(`sqlSchema: ${error.message}`)),
      });
    });
  }

  /**
   * Streams every row of `sql` (no row cap: the CLI) to `sink`, in chunks of `chunk` rows; the
   * worker runs at most a few chunks ahead of `sink.rows`. Resolves with the time taken, or the
   * error (as query's); the rows already given stay given.
   */
  stream(sql: string, sink: SqlStreamSink, opts: { timeoutMs?: number; chunk?: number } = {}): Promise<{ elapsedMs: number; error: SqlError | null }> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      let writes: Promise<void> = Promise.resolve();
      let failed: SqlError | null = null;
      this.enqueue({ type: 'stream', sql, chunk: opts.chunk ?? 1000 }, opts.timeoutMs, {
        reply: (m) => {
          if (m.type === 'columns') sink.columns(m.columns);
          else if (m.type === 'rows') {
            writes = writes
              .then(() => (failed ? undefined : sink.rows(m.rows)))
              .then(() => {
                if (!failed) this.worker?.send({ type: 'ack' });
              });
            return false;
          } else if (m.type === 'done' || m.type === 'error') {
            const error = m.type === 'error' ? m.error : null;
            void writes.then(() => resolve({ elapsedMs: m.type === 'done' ? m.elapsedMs : performance.now() - t0, error }));
          }
          return m.type === 'done' || m.type === 'error';
        },
        fail: (error) => {
          failed = error;
          void writes.then(() => resolve({ elapsedMs: performance.now() - t0, error }));
        },
      });
    });
  }

  /** sqlCancel: stops the running query and drops the waiting ones (each answers CANCELLED). */
  cancel(): { cancelled: boolean } {
    const error: SqlError = { message: 'query cancelled', code: 'CANCELLED', offset: null };
    const waiting = this.queue.splice(0);
    for (const j of waiting) j.fail(error);
    const running = this.current;
    if (running) this.stop(running, error);
    return { cancelled: running !== null || waiting.length > 0 };
  }

  private enqueue(request: RequestBody, timeoutMs: number | undefined, handlers: Pick<Job, 'reply' | 'fail'>): Job {
    const id = ++this.nextId;
    const job: Job = { id, request: { ...request, id } as SqlRequest, timeoutMs: Math.min(timeoutMs ?? SQL_DEFAULT_TIMEOUT_MS, SQL_MAX_TIMEOUT_MS), started: performance.now(), ...handlers };
    if (this.closed) {
      job.fail({ message: 'the lab service is closed', code: 'CLOSED', offset: null });
      return job;
    }
    this.queue.push(job);
    this.pump();
    return job;
  }

  /** Starts the next waiting job when none runs. */
  private pump(): void {
    if (this.current || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    job.started = performance.now();
    job.timer = setTimeout(
      () => this.stop(job, { message: `query stopped: it ran longer than its time limit (${seconds(job.timeoutMs)})`, code: 'TIMEOUT', offset: null }),
      job.timeoutMs,
    );
    try {
      const w = this.worker ?? this.start();
      w.ref(true); // a query keeps the process alive until it answers
      w.send(job.request);
    } catch (e) {
      this.finish(job, { message: `the SQL worker could not start: ${errorText(e)}`, code: 'ERROR', offset: null });
    }
  }

  /** Stops `job` (if it still runs) by terminating the worker; the next job starts a new one. */
  private stop(job: Job, error: SqlError): void {
    if (this.current !== job) return;
    const w = this.worker;
    this.worker = null; // its exit is expected: not reported
    w?.kill();
    this.finish(job, error);
  }

  /** Ends the current job (with `error`, or answered), then starts the next. */
  private finish(job: Job, error?: SqlError): void {
    clearTimeout(job.timer);
    if (this.current === job) this.current = null;
    if (error) job.fail(error);
    if (!this.current && this.queue.length === 0) this.worker?.ref(false); // idle: do not keep the process alive
    this.pump();
  }

  /** Starts the SQL worker process and opens the database in it. Throws when it cannot be started. */
  private start(): SqlProcess {
    const w = this.spawn(this.entry.file, this.entry.execArgv);
    this.worker = w;
    w.onMessage((m) => {
      const job = this.current;
      if (this.worker !== w || !job || job.id !== m.id) return;
      if (job.reply(m)) this.finish(job);
    });
    w.onExit((reason) => {
      if (this.worker !== w) return;
      this.worker = null;
      const job = this.current;
      if (job && !this.closed) this.finish(job, { message: `the SQL worker stopped before answering (${reason})`, code: 'ERROR', offset: null });
    });
    w.send({ type: 'open', dbPath: this.dbPath });
    return w;
  }

  /** Kills the worker process; the running and waiting queries answer CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    const error: SqlError = { message: 'the lab service closed before the query finished', code: 'CLOSED', offset: null };
    for (const j of this.queue.splice(0)) j.fail(error);
    const job = this.current;
    this.current = null;
    if (job) {
      clearTimeout(job.timer);
      job.fail(error);
    }
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    w?.kill();
  }
}
