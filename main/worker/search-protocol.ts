/**
 * Messages between the search host (main/worker/search-host.ts, main thread) and the search worker
 * (main/worker/search-worker.ts). One request at a time is current: the host writes its id into
 * `latest` (a shared Int32Array) and the worker abandons a scan whose id is no longer the latest.
 */
import type { SearchScan } from '../store/search.ts';

/** workerData of the search worker. */
export interface SearchWorkerData {
  /** The lab database file, opened read-only by the worker (openReadOnlyDatabase). */
  dbPath: string;
  /** [0]: id of the latest request (Int32Array over a SharedArrayBuffer of 4 bytes). */
  latest: Int32Array;
}

/** Host → worker: scan for request `id`. */
export interface SearchRequest {
  id: number;
  scan: SearchScan;
}

/**
 * Worker → host: the scan's result (`seqs` transferred), or `superseded` (a newer request came
 * first), or `error` (the database could not be opened or read: one-line message).
 */
export type SearchReply =
  | { id: number; type: 'done'; seqs: Float64Array; cacheable: boolean }
  | { id: number; type: 'superseded' }
  | { id: number; type: 'error'; message: string };
