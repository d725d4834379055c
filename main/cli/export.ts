/**
 * `iommu-lab export <run> --format csv|jsonl|perfetto [-o file]`: every event of a run, streamed
 * (one row in memory at a time, main/store/event-stream.ts; output written in ~64 KiB chunks with
 * backpressure). The formats are main/service/export.ts's (shared with serve's download and the
 * desktop's exportRun): csv (RFC 4180), jsonl (one EventRow per line), perfetto (a Chrome /
 * Perfetto JSON trace, core/export/perfetto.ts: one track per component, opens in ui.perfetto.dev).
 *
 * `-o FILE` writes atomically: into a temporary file beside FILE, fsync'ed, then renamed over it. A
 * failure or a signal (SIGINT, SIGTERM) removes the temporary file and leaves FILE as it was.
 * Without -o the events go to stdout (escaped for the terminal when stdout is one); a closed pipe
 * (`| head`) ends the export quietly.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EXPORT_FORMATS, exportChunks, exportRunInfo, formatOfFileName, writeChunks, type ExportFormat } from '../service/export.ts';
import { EXIT, UsageError, openService, type CliIO } from './common.ts';
import { escapeLines } from './escape.ts';
import { requireRun } from './inspect.ts';

// The formats and their lines live in main/service/export.ts (shared with serve's download and the desktop's exportRun).
export { CSV_FIELDS, EXPORT_FORMATS, csvField, csvHeader, csvLine, jsonLine, type ExportFormat } from '../service/export.ts';

/** Format given, else from -o's extension (.csv, .jsonl, .json → perfetto), else a UsageError. */
function formatOf(format: string | undefined, out: string | undefined): ExportFormat {
  if (format !== undefined) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}, got "${format}"`);
    return format as ExportFormat;
  }
  const fromName = out ? formatOfFileName(out) : null;
  if (fromName) return fromName;
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
  let info: NonNullable<Awaited<ReturnType<typeof exportRunInfo>>>;
  try {
    await requireRun(service, runId);
    dbPath = service.store.path;
    const got = await exportRunInfo(service, runId);
    if (!got) throw new UsageError(`no run ${runId} in ${dbPath} (see \`iommu-lab runs\`)`);
    info = got;
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
  try {
    await writeChunks(exportChunks(dbPath, info, format), stream, { transform: !target && io.stdout.isTTY ? escapeLines : undefined, stopped: () => stop.signal !== null });
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
    for (const [sig, h] of handlers) process.off(sig, h);
    if (fd !== null) fs.closeSync(fd);
    if (temp !== null) fs.rmSync(temp, { force: true });
  }
}
