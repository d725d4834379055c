/**
 * `iommu-lab export <run> --format csv|jsonl [-o file]`: every event of a run, streamed (one row in
 * memory at a time, main/store/event-stream.ts; output written in ~64 KiB chunks with backpressure).
 *
 * - jsonl: one JSON object per line: { seq, step, kind, fields, text, problem } (the contract's
 *   EventRow); u64 fields are "0x…" hex strings, JSON payloads nested as they are.
 * - csv (RFC 4180: CRLF line ends; a field holding `,` `"` CR or LF, or leading/trailing spaces, is
 *   quoted, `"` doubled): a header row `seq,step,kind,problem,<every catalog field name, in catalog
 *   order>,text`; a field the event's kind lacks is empty; u64 values are "0x…" hex, other integers
 *   decimal, JSON payloads (regions, config, detail, message) as JSON text; problem is 1 or 0.
 *
 * `-o FILE` writes atomically: into a temporary file beside FILE, fsync'ed, then renamed over it. A
 * failure or a signal (SIGINT, SIGTERM) removes the temporary file and leaves FILE as it was.
 * Without -o the events go to stdout (escaped for the terminal when stdout is one); a closed pipe
 * (`| head`) ends the export quietly.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EventRow } from '../../core/contract/index.ts';
import { EVENT_CATALOG } from '../../core/events/catalog.ts';
import { iterateRunEvents } from '../store/event-stream.ts';
import { EXIT, UsageError, openService, type CliIO } from './common.ts';
import { escapeLines } from './escape.ts';
import { requireRun } from './inspect.ts';

/** Export formats. */
export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

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

/** Chunked writer with backpressure; rejects on a stream error, `closed` once the reader went away (EPIPE). */
class ChunkWriter {
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
    // A macrotask turn, so SIGINT/SIGTERM handlers run during a long export.
    await new Promise((r) => setImmediate(r));
    if (this.error) throw this.error;
  }

  detach(): void {
    this.stream.off('error', this.onError);
  }
}

/** Format given, else from -o's extension (.csv, .jsonl), else a UsageError. */
function formatOf(format: string | undefined, out: string | undefined): ExportFormat {
  if (format !== undefined) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(' or ')}, got "${format}"`);
    return format as ExportFormat;
  }
  const ext = out ? path.extname(out).slice(1).toLowerCase() : '';
  if ((EXPORT_FORMATS as readonly string[]).includes(ext)) return ext as ExportFormat;
  throw new UsageError(`say which format: --format ${EXPORT_FORMATS.join('|')}`);
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = { ENOENT: 'no such directory', EACCES: 'permission denied', EISDIR: 'is a directory', ENOSPC: 'no space left on the device', EROFS: 'read-only file system', ENOTDIR: 'a parent is not a directory' };
  return (code && known[code]) || (e as Error).message;
}

/** Signals that stop an export, with the exit code each gives. */
const STOP_SIGNALS = { SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED } as const;

export async function cmdExport(runId: number, opts: { db?: string; format?: string; output?: string }, io: CliIO): Promise<number> {
  const format = formatOf(opts.format, opts.output);
  const service = openService(opts.db, false, true);
  let dbPath: string;
  try {
    await requireRun(service, runId);
    dbPath = service.store.path;
  } finally {
    await service.close();
  }
  const stop: { signal: keyof typeof STOP_SIGNALS | null } = { signal: null };
  const handlers = (Object.keys(STOP_SIGNALS) as (keyof typeof STOP_SIGNALS)[]).map((sig) => {
    const h = () => void (stop.signal ??= sig);
    process.on(sig, h);
    return [sig, h] as const;
  });

  let target: string | null = null;
  let temp: string | null = null;
  let fd: number | null = null;
  let stream: NodeJS.WritableStream;
  if (opts.output !== undefined) {
    target = path.resolve(opts.output);
    if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new UsageError(`cannot export to "${opts.output}": is a directory`);
    temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    try {
      fd = fs.openSync(temp, 'wx', 0o644);
    } catch (e) {
      for (const [sig, h] of handlers) process.off(sig, h);
      throw new UsageError(`cannot export to "${opts.output}": ${errnoText(e)}`);
    }
    stream = fs.createWriteStream('', { fd, autoClose: false });
  } else {
    stream = io.stdout;
  }
  const out = new ChunkWriter(stream, !target && io.stdout.isTTY ? escapeLines : undefined);
  const line = format === 'csv' ? csvLine : jsonLine;
  try {
    if (format === 'csv') await out.write(csvHeader());
    for (const row of iterateRunEvents(dbPath, runId)) {
      if (stop.signal || out.closed) break;
      await out.write(line(row));
    }
    if (!stop.signal) await out.flush();
    if (target && temp && fd !== null) {
      if (stop.signal) throw new Error('interrupted');
      await new Promise<void>((resolve, reject) => (stream as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = null;
      fs.renameSync(temp, target);
      temp = null;
    }
    return stop.signal ? STOP_SIGNALS[stop.signal] : EXIT.OK;
  } catch (e) {
    if (stop.signal) return STOP_SIGNALS[stop.signal];
    if (target) throw new UsageError(`cannot export to "${opts.output}": ${errnoText(e)}`);
    throw e;
  } finally {
    out.detach();
    for (const [sig, h] of handlers) process.off(sig, h);
    if (fd !== null) fs.closeSync(fd);
    if (temp !== null) fs.rmSync(temp, { force: true });
  }
}
