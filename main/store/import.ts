/**
 * Stores an imported trace (issue 9 §1): streams a trace file through the import driver
 * (core/import/driver.ts) into a run of the lab database, atomically.
 *
 * - **A trace is a run** whose `runs.source` (schema version 9) says where it came from (file
 *   name, size, SHA-256, format, line counts, unknown lines, errors) and whose events carry the
 *   line they came from (`events.line`) and the trace's timestamp (`events.time`, ns). So a trace
 *   is browsable like a run (runs list, events table, filters, search, metrics).
 * - **Atomic.** Every event is written inside one transaction (EventWriter without intermediate
 *   commits): nothing is visible unless the import completes. A file with malformed lines of known
 *   events (errors) is rolled back and its run row removed unless the caller accepts a partial
 *   import (`acceptPartial`); a cancel (AbortSignal) or any failure also leaves nothing.
 * - **Streaming.** The file is read in chunks (READ_CHUNK bytes), hashed and parsed as it comes:
 *   memory does not grow with the trace's length (events go to SQLite in windows).
 * Errors: ImportFileError for a file that cannot be read (with the OS reason), ImportError
 * (core/import/driver.ts) when the format cannot be told; LabDatabaseError from the database.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MetricsReducer } from '../../core/events/metrics.ts';
import type { SeqEvent } from '../../core/events/sink.ts';
import type { TraceSourceInfo } from '../../core/contract/index.ts';
import { ImportDriver, type ImportStats } from '../../core/import/driver.ts';
import type { Importer, TraceEvent, TraceFormat } from '../../core/import/types.ts';
import type { LabStore } from './store.ts';
import { EventWriter } from './writer.ts';
import { ChunkTextDecoder } from './chunk-text.ts';

/**
 * Bytes read per chunk: 64 KiB. A chunk's text then stays a regular young object (V8 puts objects
 * over 128 KiB in its large-object space, which the first scavenge they survive promotes): with
 * 1 MiB chunks every chunk alive at a scavenge went to the old space as garbage, and the heap grew
 * with the trace's length until a full collection (peak RSS 132 MiB at 500K lines, 145 MiB at 2M);
 * at 64 KiB it is flat (108 and 106 MiB), and the chunk and its text stay in the L2 cache.
 */
export const READ_CHUNK = 1 << 16;
/** Events buffered before they go to the writer. */
const EVENT_WINDOW = 4096;

/** A trace file that cannot be read. */
export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

/** The source record of an imported trace (runs.source): the contract's TraceSourceInfo. */
export type TraceSource = TraceSourceInfo;

/** What `importTraceFile` did: the run (null when nothing was stored) and the source record. */
export interface ImportOutcome {
  runId: number | null;
  source: TraceSource;
  /** Why nothing was stored (errors without acceptPartial, cancelled), or null. */
  refused: string | null;
}

/** Options of importTraceFile. */
export interface ImportOptions {
  /** Use this format instead of detecting it. */
  format?: TraceFormat;
  /** Keep the import even when lines of known events were malformed (the errors are listed in the source). */
  acceptPartial?: boolean;
  /** The run's name (default: the file's base name). */
  name?: string;
  /** Called after each chunk: bytes read, the file's size, the statistics so far. */
  onProgress?: (bytesRead: number, bytesTotal: number, stats: ImportStats) => void;
  /** Cancels the import (nothing is stored). */
  signal?: AbortSignal;
}

/**
 * Imports `file` into the database of `store` (at `dbPath`) with `importers` (see the file
 * comment). Resolves with the run id, or null when nothing was stored (`refused` says why).
 */
export async function importTraceFile(store: LabStore, dbPath: string, file: string, importers: readonly Importer[], opts: ImportOptions = {}): Promise<ImportOutcome> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImportFileError(`cannot read trace "${file}": ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!st.isFile()) throw new ImportFileError(`cannot read trace "${file}": ${st.isDirectory() ? 'is a directory' : 'not a regular file'}`);
  const driver = new ImportDriver(importers, opts.format);
  const source: TraceSource = { kind: 'trace', file: path.basename(file), bytes: st.size, sha256: '', format: opts.format ?? null, stats: driver.stats, partial: false, firstTime: null };
  const runId = store.createRun({ name: opts.name ?? path.basename(file), file, scenarioText: '', steps: 0, totalUnits: st.size, source });
  let writer: EventWriter | null = null;
  let done = false;
  try {
    writer = new EventWriter(dbPath, runId);
    const w = writer;
    const hash = crypto.createHash('sha256');
    const decoder = new ChunkTextDecoder();
    let window: SeqEvent[] = [];
    let seq = 0;
    let reducer: MetricsReducer | null = null;
    let component = '';
    const onEvent = (e: TraceEvent, line: number): void => {
      if (reducer === null) {
        component = driver.importer!.component;
        reducer = new MetricsReducer({ id: component, kind: 'trace' });
      }
      const ev = e as unknown as SeqEvent & Record<string, unknown>;
      ev.seq = seq++;
      ev.step = 0;
      ev.component = component;
      ev.line = line;
      if (source.firstTime === null && e.time !== undefined) source.firstTime = e.time;
      reducer.addFields(e.kind, ev, component);
      window.push(ev);
      if (window.length === EVENT_WINDOW) {
        w.write(window);
        window = [];
      }
    };
    let read = 0;
    const stream = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (opts.signal?.aborted) {
        stream.destroy();
        throw new ImportCancelled();
      }
      hash.update(chunk);
      read += chunk.length;
      const c = decoder.write(chunk);
      driver.push(c.text, onEvent, c.codes);
      opts.onProgress?.(read, st.size, driver.stats);
    }
    driver.push(decoder.end(), onEvent);
    const stats = driver.end(onEvent);
    if (window.length > 0) w.write(window);
    source.sha256 = hash.digest('hex');
    source.format = stats.format;
    if (opts.signal?.aborted) throw new ImportCancelled();
    if (stats.errors.count > 0 && !opts.acceptPartial) {
      w.abort();
      store.discardRun(runId);
      done = true;
      return { runId: null, source, refused: `${stats.errors.count} malformed line${stats.errors.count === 1 ? '' : 's'} of known events (first: line ${stats.errors.list[0].line}: ${stats.errors.list[0].message}); nothing stored (accept a partial import to keep the rest)` };
    }
    source.partial = stats.errors.count > 0;
    const red = reducer as MetricsReducer | null;
    w.finish({
      status: 'done',
      doneUnits: st.size,
      totalUnits: st.size,
      metrics: red === null ? null : red.result(),
      stepResults: [],
      failedExpectations: 0,
      error: null,
      source,
    });
    done = true;
    return { runId, source, refused: null };
  } catch (e) {
    writer?.abort();
    store.discardRun(runId);
    done = true;
    if (e instanceof ImportCancelled) return { runId: null, source, refused: 'cancelled: nothing stored' };
    throw e;
  } finally {
    if (!done) store.discardRun(runId);
    store.release(runId);
  }
}

/** Thrown inside importTraceFile when its signal aborts. */
class ImportCancelled extends Error {}
