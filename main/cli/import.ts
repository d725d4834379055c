/**
 * `iommu-lab import <file> [--format F] [--partial] [--json]` (issue 9 §1): a trace recorded on a
 * real system (ftrace text, kernel log, QEMU `-trace` log) into the lab database as a browsable
 * trace run (main/store/import.ts).
 *
 * Output: a summary (format, lines, events by kind, unknown lines by number, errors as
 * `file:line: message`), or with --json one document `{ trace, format, lines, events, byKind,
 * unknown: { count, lines }, errors: [{ line, message }], … }` (`trace`: the run id, null when
 * nothing was stored). Progress on a terminal's stderr. SIGINT / SIGTERM cancel: nothing stored.
 * Exit codes: 0 stored; 2 nothing stored because the file cannot be read, its format cannot be
 * told, or lines of known events are malformed (without --partial); 130 / 143 cancelled.
 */
import { ImportError } from '../../core/import/driver.ts';
import { createImporters } from '../../core/import/index.ts';
import type { TraceFormat } from '../../core/import/types.ts';
import { ImportFileError, importTraceFile } from '../store/import.ts';
import { defaultDbPath } from '../store/paths.ts';
import { LabStore } from '../store/store.ts';
import { EXIT, UsageError, json, type CliIO } from './common.ts';
import { escapeTerminal } from './escape.ts';

/** Errors printed one per line before "… N more". */
const ERRORS_SHOWN = 20;

export async function cmdImport(file: string, opts: { db?: string; format?: TraceFormat; partial?: boolean; json?: boolean }, io: CliIO): Promise<number> {
  const dbPath = opts.db ?? defaultDbPath();
  const abort = new AbortController();
  const got: { code: number | null } = { code: null };
  const handlers = (
    [
      ['SIGINT', EXIT.INTERRUPTED],
      ['SIGTERM', EXIT.TERMINATED],
    ] as const
  ).map(([sig, code]) => {
    const h = () => {
      got.code ??= code;
      abort.abort();
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  const store = new LabStore(dbPath);
  try {
    const showProgress = !opts.json && io.stderr.isTTY === true;
    let last = 0;
    const outcome = await importTraceFile(store, dbPath, file, createImporters(), {
      format: opts.format,
      acceptPartial: opts.partial === true,
      signal: abort.signal,
      onProgress: (read, total, s) => {
        if (!showProgress) return;
        const now = Date.now();
        if (now - last < 100) return;
        last = now;
        io.stderr.write(`\r\x1b[K  ${total ? Math.floor((100 * read) / total) : 100}%  ${s.lines} lines, ${s.events} events`);
      },
    });
    if (showProgress) io.stderr.write('\r\x1b[K');
    const s = outcome.source.stats;
    if (opts.json) {
      io.stdout.write(
        json({
          trace: outcome.runId,
          format: s.format,
          lines: s.lines,
          events: s.events,
          byKind: s.byKind,
          unknown: { count: s.unknown.count, lines: s.unknown.lines },
          errors: s.errors.list,
          errorCount: s.errors.count,
          headers: s.headers,
          ignored: s.ignored,
          rejoined: s.rejoined,
          detected: s.detected,
          file: outcome.source.file,
          bytes: outcome.source.bytes,
          sha256: outcome.source.sha256,
          partial: outcome.source.partial,
          refused: outcome.refused,
        }) + '\n',
      );
    } else {
      for (const e of s.errors.list.slice(0, ERRORS_SHOWN)) io.stderr.write(`${escapeTerminal(file)}:${e.line}: ${escapeTerminal(e.message)}\n`);
      if (s.errors.count > ERRORS_SHOWN) io.stderr.write(`… ${s.errors.count - ERRORS_SHOWN} more errors\n`);
      const kinds = Object.entries(s.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const unknown = s.unknown.count === 0 ? 'no unknown lines' : `${s.unknown.count} unknown line${s.unknown.count === 1 ? '' : 's'} (${s.unknown.lines.join(', ')}${s.unknown.count > s.unknown.lines.length ? ', …' : ''})`;
      const how = s.detected.forced ? 'forced' : 'detected';
      const summary = `${escapeTerminal(file)}: ${s.format} (${how}), ${s.lines} lines, ${s.events} events${kinds ? ` (${kinds})` : ''}, ${s.headers} headers, ${s.ignored} ignored, ${unknown}, ${s.errors.count} error${s.errors.count === 1 ? '' : 's'}${s.rejoined ? `, ${s.rejoined} wrapped lines rejoined` : ''}`;
      io.stdout.write(`${summary}\n`);
      if (outcome.runId !== null) io.stdout.write(`stored as trace ${outcome.runId}${outcome.source.partial ? ' (partial: lines with errors skipped)' : ''}: iommu-lab events ${outcome.runId}\n`);
      else io.stderr.write(`iommu-lab: ${escapeTerminal(outcome.refused ?? 'nothing stored')}\n`);
    }
    if (got.code !== null) return got.code;
    return outcome.runId === null ? EXIT.INVALID : EXIT.OK;
  } catch (e) {
    if (e instanceof ImportFileError || e instanceof ImportError) throw new UsageError(e.message);
    throw e;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    store.close();
  }
}
