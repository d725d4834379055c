/**
 * Search worker (worker_threads entry): runs the free-text search scans of queryEvents and
 * locateEvent (main/store/search.ts) on its own read-only connection, so a scan that formats every
 * event of a big run (~3 µs/row: seconds for 1.5 M events) never blocks a main thread. It answers
 * each request with the matching seqs (a transferred Float64Array); the main thread keeps them
 * and pages by seq (StoreReader).
 *
 * Requests are handled one at a time, in order. A request whose id is no longer the latest
 * (SearchWorkerData.latest) is answered `superseded` without scanning, and a scan in progress
 * stops within a few thousand rows of a newer request arriving.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { configureConnection } from '../store/schema.ts';
import { ScanStopped, registerSearchText, scanMatches } from '../store/search.ts';
import { openReadOnlyDatabase } from '../store/store.ts';
import type { SearchReply, SearchRequest, SearchWorkerData } from './search-protocol.ts';

const data = workerData as SearchWorkerData;
const port = parentPort!;
let db: Database.Database | null = null;
let current = 0;

/** The worker's connection, opened on first use (again after a failed open). Errors: LabDatabaseError. */
function connection(): Database.Database {
  if (db) return db;
  const d = openReadOnlyDatabase(data.dbPath);
  configureConnection(d, { readonly: true });
  registerSearchText(d, () => {
    if (Atomics.load(data.latest, 0) !== current) throw new ScanStopped();
  });
  return (db = d);
}

port.on('message', (req: SearchRequest) => {
  current = req.id;
  let reply: SearchReply;
  try {
    const result = Atomics.load(data.latest, 0) === req.id ? scanMatches(connection(), req.scan) : null;
    reply = result ? { id: req.id, type: 'done', seqs: result.seqs, cacheable: result.cacheable } : { id: req.id, type: 'superseded' };
  } catch (e) {
    reply = { id: req.id, type: 'error', message: e instanceof Error ? e.message.split('\n')[0] : String(e) };
  }
  port.postMessage(reply, reply.type === 'done' ? [reply.seqs.buffer as ArrayBuffer] : []);
});
