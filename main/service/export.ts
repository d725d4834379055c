/**
 * Exports of a stored run or imported trace, shared by `iommu-lab export`, `iommu-lab serve`'s
 * download route (GET /export/<runId>.<ext>?format=…) and the desktop app's exportRun (a save
 * dialog): one format table, one chunk source, one writer with backpressure, one atomic file write.
 *
 * Formats:
 * - csv (RFC 4180: CRLF line ends; a field holding `,` `"` CR or LF, or leading/trailing spaces, is
 *   quoted, `"` doubled): a header row `seq,step,kind,problem,<every catalog field name, in catalog
 *   order>,text`; a field the event's kind lacks is empty; u64 values are "0x…" hex, other integers
 *   decimal, JSON payloads (regions, config, detail, message) as JSON text; problem is 1 or 0.
 * - jsonl: one JSON object per line: { seq, step, kind, fields, text, problem } (the contract's
 *   EventRow); u64 fields are "0x…" hex strings, JSON payloads nested as they are.
 * - perfetto: the Chrome / Perfetto JSON trace of core/export/perfetto.ts (one track per component,
 *   in the order and with the kinds listComponents gives).
 *
 * Every export streams: one event row in memory at a time (main/store/event-stream.ts, its own
 * read-only connection), text written in ~64 KiB chunks that wait for the stream's 'drain'.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ContractError, type EventRow, type LabApi, type Params, type Results } from '../../core/contract/index.ts';
import { EVENT_CATALOG } from '../../core/events/catalog.ts';
import { perfettoTraceChunks } from '../../core/export/perfetto.ts';
import { iterateRunEvents } from '../store/event-stream.ts';

/** Export formats. */
export const EXPORT_FORMATS = ['csv', 'jsonl', 'perfetto'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Each format's file extension (without the dot), HTTP content type and what it is, for dialogs and menus. */
export const EXPORT_FILE: Readonly<Record<ExportFormat, { ext: string; contentType: string; label: string }>> = {
  csv: { ext: 'csv', contentType: 'text/csv; charset=utf-8', label: 'CSV' },
  jsonl: { ext: 'jsonl', contentType: 'application/x-ndjson; charset=utf-8', label: 'JSON lines' },
  perfetto: { ext: 'json', contentType: 'application/json; charset=utf-8', label: 'Perfetto / Chrome JSON trace' },
};

/** The format a file name's extension names (.csv, .jsonl, .json → perfetto), or null. */
export function formatOfFileName(file: string): ExportFormat | null {
  const ext = path.extname(file).slice(1).toLowerCase();
  for (const f of EXPORT_FORMATS) if (EXPORT_FILE[f].ext === ext) return f;
  return null;
}

/** Every catalog field name once, in catalog order (the CSV's field columns). */
export const CSV_FIELDS: readonly string[] = [...new Set(Object.values(EVENT_CATALOG).flatMap((k) => Object.keys(k.fields)))];

/** One CSV field, quoted when RFC 4180 needs it (and for leading/trailing spaces, which some readers trim). */
export function csvField(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function csvValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** The CSV header line (with its CRLF). */
export function csvHeader(): string {
  return ['seq', 'step', 'kind', 'problem', ...CSV_FIELDS, 'text'].map(csvField).join(',') + '\r\n';
}

/** One event as a CSV line (with its CRLF). */
export function csvLine(r: EventRow): string {
  const cells = [String(r.seq), String(r.step), r.kind, r.problem ? '1' : '0'];
  for (const f of CSV_FIELDS) cells.push(csvValue(r.fields[f]));
  cells.push(r.text);
  return cells.map(csvField).join(',') + '\r\n';
}

/** One event as a JSON line: { seq, step, kind, fields, text, problem }. */
export function jsonLine(r: EventRow): string {
  return JSON.stringify({ seq: r.seq, step: r.step, kind: r.kind, fields: r.fields, text: r.text, problem: r.problem }) + '\n';
}

/** What a run's export needs from the lab: its summary and components (LabService answers both). */
export interface ExportRunInfo {
  /** The run (getRun / listRuns): id, name, file and, for a trace or a replay, its source. */
  run: Pick<Results['listRuns'][number], 'id' | 'name' | 'file' | 'source' | 'replay'>;
  /** listComponents: the tracks of a Perfetto export, in display order. */
  components: Results['listComponents'];
}

/**
 * A file name for an export: "run-<id>-<name>.<ext>" with the name reduced to [A-Za-z0-9._-]
 * (at most 60 characters), e.g. "run-3-seed-6a-strict-invalidation.json".
 */
export function exportFileName(run: { id: number; name: string }, format: ExportFormat): string {
  const slug = run.name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return `run-${run.id}${slug ? `-${slug}` : ''}.${EXPORT_FILE[format].ext}`;
}

/**
 * The export's text, chunk by chunk (a header, one chunk per event, a footer), read from the
 * database file `dbPath` one row at a time. The connection closes when the iteration ends (early
 * too: `return()`).
 */
export function* exportChunks(dbPath: string, info: ExportRunInfo, format: ExportFormat): Generator<string, void, undefined> {
  const runId = info.run.id;
  if (format === 'perfetto') {
    const kind = info.run.source ? 'trace' : info.run.replay ? 'replay' : 'run';
    const components = info.components.map((c) => ({ id: c.id, kind: c.kind, layer: c.layer }));
    yield* perfettoTraceChunks(iterateRunEvents(dbPath, runId, { envelope: true }), { run: { id: runId, name: info.run.name || info.run.file, kind }, components });
    return;
  }
  if (format === 'csv') yield csvHeader();
  const line = format === 'csv' ? csvLine : jsonLine;
  for (const row of iterateRunEvents(dbPath, runId)) yield line(row);
}

/** Chunked writer with backpressure; rejects on a stream error, `closed` once the reader went away (EPIPE). */
export class ChunkWriter {
  private buf: string[] = [];
  private size = 0;
  private error: Error | null = null;
  closed = false;
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly transform: (s: string) => string = (s) => s,
  ) {
    stream.on('error', this.onError);
  }

  private readonly onError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') this.closed = true;
    else this.error = e;
  };

  /** Queues text; flushes at 64 KiB. */
  async write(s: string): Promise<void> {
    this.buf.push(s);
    this.size += s.length;
    if (this.size >= 65536) await this.flush();
  }

  /** Writes what is queued, waits for 'drain' when the stream asks, and lets signals in. */
  async flush(): Promise<void> {
    if (this.error) throw this.error;
    if (this.closed || this.size === 0) return;
    const chunk = this.transform(this.buf.join(''));
    this.buf = [];
    this.size = 0;
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('error', done);
        this.stream.on('close', done);
      });
    }
    // A macrotask turn, so SIGINT/SIGTERM handlers (and other requests of a server) run during a long export.
    await new Promise((r) => setImmediate(r));
    if (this.error) throw this.error;
  }

  detach(): void {
    this.stream.off('error', this.onError);
  }
}

/**
 * Writes `chunks` to `stream` through a ChunkWriter until they end, the reader goes away (EPIPE,
 * a closed HTTP response) or `stopped()` says so. Returns true when every chunk was written.
 * Errors: the stream's (other than EPIPE).
 */
export async function writeChunks(chunks: Iterable<string>, stream: NodeJS.WritableStream, opts: { transform?: (s: string) => string; stopped?: () => boolean } = {}): Promise<boolean> {
  const out = new ChunkWriter(stream, opts.transform);
  const it = chunks[Symbol.iterator]();
  try {
    for (;;) {
      if (opts.stopped?.() || out.closed) return false;
      const next = it.next();
      if (next.done) break;
      await out.write(next.value);
    }
    if (opts.stopped?.()) return false;
    await out.flush();
    return !out.closed;
  } finally {
    it.return?.();
    out.detach();
  }
}

/**
 * Writes a run's export to `target` atomically: into a temporary file beside it (created
 * exclusively, mode 0644), fsync'ed, then renamed over it. On any failure, or when `stopped()`
 * turns true, the temporary file is removed and `target` is left as it was.
 * Returns the file written and its size in bytes, or null when stopped.
 * Errors: fs errors (ENOENT for a missing directory, EACCES, ENOSPC, EISDIR, …) and the database's.
 */
export async function writeExportFile(dbPath: string, info: ExportRunInfo, format: ExportFormat, target: string, opts: { stopped?: () => boolean } = {}): Promise<{ path: string; bytes: number } | null> {
  const abs = path.resolve(target);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw Object.assign(new Error(`${target} is a directory`), { code: 'EISDIR' });
  const temp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null = fs.openSync(temp, 'wx', 0o644);
  let keep = false;
  try {
    const stream = fs.createWriteStream('', { fd, autoClose: false });
    const done = await writeChunks(exportChunks(dbPath, info, format), stream, { stopped: opts.stopped });
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (!done) return null;
    fs.fsyncSync(fd);
    const bytes = fs.fstatSync(fd).size;
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, abs);
    keep = true;
    return { path: abs, bytes };
  } finally {
    if (fd !== null) fs.closeSync(fd);
    if (!keep) fs.rmSync(temp, { force: true });
  }
}

/**
 * What an export of `runId` needs from the lab (its summary and components), or null when there is
 * no such run. `api` is the LabService (or any LabApi).
 */
export async function exportRunInfo(api: LabApi, runId: number): Promise<ExportRunInfo | null> {
  const run = await api.call('getRun', { runId });
  if (!run) return null;
  const components = await api.call('listComponents', { runId });
  return { run: { id: run.id, name: run.name, file: run.file, source: run.source ?? null, replay: run.replay ?? null }, components };
}

/** A save dialog: the file the user picked (proposing `defaultName`, filtered by `filter`), or null when cancelled. */
export type PickSaveFile = (defaultName: string, filter: { name: string; extensions: string[] }) => Promise<string | null>;

/**
 * exportRun for the desktop app (main/index.ts gives the native save dialog as `pick`): looks the
 * run up, proposes "run-<id>-<name>.<ext>", and writes the export atomically where the user chose
 * (writeExportFile). Returns null when the dialog was cancelled.
 * Errors: ContractError at "/runId" for a missing run; the file system's (ENOENT, EACCES, ENOSPC, …).
 */
export async function exportRunToPickedFile(api: LabApi, dbPath: string, p: Params<'exportRun'>, pick: PickSaveFile): Promise<Results['exportRun']> {
  const info = await exportRunInfo(api, p.runId);
  if (!info) throw new ContractError(`exportRun: no run ${p.runId}`, '/runId');
  const file = EXPORT_FILE[p.format];
  const target = await pick(exportFileName(info.run, p.format), { name: file.label, extensions: [file.ext] });
  if (target === null) return null;
  return writeExportFile(dbPath, info, p.format, target);
}
