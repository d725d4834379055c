/**
 * The search host (main thread): answers queryEvents/locateEvent calls with a free-text `search`
 * without scanning on the main thread (DESIGN.md §2). The scan runs in one lazily started search
 * worker (main/worker/search-worker.ts, its own read-only connection); the main thread receives
 * the matching seqs, keeps them in the reader's match cache (finished runs) and pages by seq.
 *
 * One request is current at a time. A search for the same filter as the one scanning shares its
 * scan (the table loads several pages of one search at once); a search for another filter
 * supersedes it: the older call rejects at once with SearchSupersededError and the worker
 * abandons its scan. A worker that fails (dies, or cannot start) rejects the current call with a
 * clear error; the next search starts a new worker.
 */
import { Worker } from 'node:worker_threads';
import type { Params, Results } from '../../core/contract/index.ts';
import type { StoreReader } from '../store/reader.ts';
import type { SearchScan } from '../store/search.ts';
import { workerEntry } from './host.ts';
import type { SearchReply, SearchRequest, SearchWorkerData } from './search-protocol.ts';

/** The rejection of a search call superseded by a newer search (the UI drops or retries it). */
export class SearchSupersededError extends Error {
  constructor(method: string) {
    super(`${method}: search superseded by a newer search (only the latest search is answered)`);
    this.name = 'SearchSupersededError';
  }
}

interface Pending {
  id: number;
  scan: SearchScan;
  method: string;
  promise: Promise<Float64Array>;
  resolve: (seqs: Float64Array) => void;
  reject: (e: Error) => void;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

/** Runs search scans in a worker for one StoreReader (see the file comment). */
export class SearchHost {
  private worker: Worker | null = null;
  private readonly latest = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 0;
  private pending: Pending | null = null;
  private closed = false;

  /**
   * `dbPath`: the database the reader reads (the worker opens it read-only). `entry`: the worker's
   * file and exec arguments (default: workerEntry's search-worker beside this module).
   */
  constructor(
    private readonly dbPath: string,
    private readonly reader: StoreReader,
    private readonly entry: { file: string; execArgv: string[] } = workerEntry(import.meta.url, 'search-worker'),
  ) {}

  /** The search worker while it runs (for tests and diagnostics). */
  get searchWorker(): Worker | null {
    return this.worker;
  }

  /**
   * queryEvents: at once (synchronously) without a search or with its matches cached, else a
   * promise of the page once the worker has scanned. Errors: ContractError (bad kinds),
   * SearchSupersededError, a failed scan or worker (Error with the reason).
   */
  queryEvents(p: Params<'queryEvents'>): Results['queryEvents'] | Promise<Results['queryEvents']> {
    const scan = this.reader.searchScan('queryEvents', p);
    if (!scan) return this.reader.queryEvents(p);
    return this.matches('queryEvents', scan).then((seqs) => this.reader.queryEvents(p, seqs));
  }

  /** locateEvent, as queryEvents: asynchronous only when a search must be scanned. */
  locateEvent(p: Params<'locateEvent'>): Results['locateEvent'] | Promise<Results['locateEvent']> {
    const scan = this.reader.searchScan('locateEvent', p);
    if (!scan) return this.reader.locateEvent(p);
    return this.matches('locateEvent', scan).then((seqs) => this.reader.locateEvent(p, seqs));
  }

  /** The matching seqs of `scan`, scanned by the worker (see the file comment). */
  private matches(method: string, scan: SearchScan): Promise<Float64Array> {
    if (this.closed) return Promise.reject(new Error('LabService is closed'));
    const old = this.pending;
    if (old && old.scan.key === scan.key && old.scan.runId === scan.runId) return old.promise;
    if (old) {
      this.pending = null;
      old.reject(new SearchSupersededError(old.method));
    }
    const id = ++this.nextId;
    Atomics.store(this.latest, 0, id);
    let resolve!: (seqs: Float64Array) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Float64Array>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { id, scan, method, promise, resolve, reject };
    this.pending = pending;
    try {
      const w = this.worker ?? this.start();
      w.ref(); // a scan keeps the process alive until it answers
      w.postMessage({ id, scan } satisfies SearchRequest);
    } catch (e) {
      this.fail(`the search worker could not start: ${errorText(e)}`);
    }
    return promise;
  }

  /** Starts the search worker. Throws when it cannot be created. */
  private start(): Worker {
    const w = new Worker(this.entry.file, {
      workerData: { dbPath: this.dbPath, latest: this.latest } satisfies SearchWorkerData,
      execArgv: this.entry.execArgv,
    });
    this.worker = w;
    let error: string | null = null;
    w.on('message', (m: SearchReply) => this.onReply(m));
    w.on('error', (e) => {
      error ??= errorText(e);
    });
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      if (!this.closed) this.fail(`the search worker stopped before answering (${error ?? `exit code ${code}`}); the next search starts a new one`);
    });
    return w;
  }

  private onReply(m: SearchReply): void {
    const p = this.pending;
    if (!p || p.id !== m.id) return; // an answer to a superseded request
    this.pending = null;
    this.worker?.unref(); // idle: do not keep the process alive
    if (m.type === 'done') {
      this.reader.keepMatches(p.scan.key, m.seqs, m.cacheable);
      p.resolve(m.seqs);
    } else if (m.type === 'error') p.reject(new Error(`${p.method}: search failed: ${m.message}`));
    else p.reject(new SearchSupersededError(p.method));
  }

  /** Rejects the current request with `reason`. */
  private fail(reason: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    p.reject(new Error(`${p.method}: ${reason}`));
  }

  /** Terminates the worker; a search still scanning rejects. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const p = this.pending;
    this.pending = null;
    p?.reject(new Error(`${p.method}: the lab service closed before the search finished`));
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
