/**
 * The read-only commands over stored runs: `runs` (the list), `show <run>` (one run's report, the
 * same rendering as `run` prints) and `events <run>` (its events, filtered and paged).
 * Every untrusted string (names, files, errors, event texts) is escaped for the terminal.
 */
import type { EventRow, Params, RunDetail } from '../../core/contract/index.ts';
import { resolveEndpointRef } from '../../core/scenario/endpoint-ref.ts';
import type { LabService } from '../service/lab-service.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';
import { configOf, formatRunReport, shortTime } from './report.ts';
import { formatTable } from './table.ts';

/** The stored run `runId`, or a UsageError (exit 2) naming the database. */
export async function requireRun(service: LabService, runId: number): Promise<RunDetail> {
  const run = await service.call('getRun', { runId });
  if (!run) throw new UsageError(`no run ${runId} in ${service.store.path} (see \`iommu-lab runs\`)`);
  return run;
}

export async function cmdRuns(opts: { db?: string; json?: boolean; limit?: number }, io: CliIO): Promise<number> {
  const service = openService(opts.db, false, true);
  try {
    const runs = await service.call('listRuns', opts.limit ? { limit: opts.limit } : {});
    if (opts.json) {
      io.stdout.write(json(runs));
      return EXIT.OK;
    }
    if (runs.length === 0) {
      io.stdout.write('no runs\n');
      return EXIT.OK;
    }
    // A trace's "file" column says what it is: the format and its line count.
    const rows = runs.map((r) => [String(r.id), r.status, shortTime(r.startedAt), String(r.events), r.failedExpectations ? `${r.failedExpectations} ✘` : '-', r.name, r.source ? `${r.source.format ?? '?'} trace, ${r.source.stats.lines} lines` : r.file]);
    const lines = formatTable(rows, { head: ['id', 'status', 'started', 'events', 'failed', 'name', 'file'], align: ['right', 'left', 'left', 'right', 'left', 'left', 'left'] });
    for (const r of runs) if (r.status === 'failed' && r.error) lines.push(`run ${r.id} failed: ${r.error.split('\n')[0]}`);
    print(io.stdout, lines.join('\n') + '\n');
    return EXIT.OK;
  } finally {
    await service.close();
  }
}

export async function cmdShow(runId: number, opts: { db?: string; json?: boolean }, io: CliIO): Promise<number> {
  const service = openService(opts.db, false, true);
  try {
    const run = await requireRun(service, runId);
    if (opts.json) io.stdout.write(json({ ...run, config: configOf(run) }));
    else print(io.stdout, formatRunReport(run));
    return EXIT.OK;
  } finally {
    await service.close();
  }
}

/** Largest page the contract allows (PARAMS.queryEvents.limit). */
const PAGE = 5000;

/**
 * The events table: a header row, then seq and step right-aligned at the page's widest value, "!"
 * for problem events (core/events/problems.ts), and the event's text.
 */
export function formatEventLines(rows: readonly EventRow[]): string[] {
  // An imported trace's events carry their line in the trace file instead of a scenario step.
  if (rows.length > 0 && rows.every((r) => typeof r.line === 'number')) {
    const lines = rows.map((r) => [String(r.seq), String(r.line), r.problem ? '!' : ' ', r.text]);
    return formatTable(lines, { head: ['seq', 'line', '', 'event'], align: ['right', 'right', 'left', 'left'] });
  }
  const cells = rows.map((r) => [String(r.seq), String(r.step), r.problem ? '!' : ' ', r.text]);
  return formatTable(cells, { head: ['seq', 'step', '', 'event'], align: ['right', 'right', 'left', 'left'] });
}

export async function cmdEvents(
  runId: number,
  opts: { db?: string; json?: boolean; kind?: string[]; domain?: number; endpoint?: string; problems?: boolean; offset?: number; limit?: number },
  io: CliIO,
): Promise<number> {
  const service = openService(opts.db, false, true);
  try {
    const run = await requireRun(service, runId);
    const base: Omit<Params<'queryEvents'>, 'offset' | 'limit'> = { runId };
    if (opts.kind) base.kinds = opts.kind;
    if (opts.domain !== undefined) base.domain = opts.domain;
    if (opts.endpoint !== undefined) {
      // A device name of this run's scenario, a PCI address or an endpoint ID.
      const ref = resolveEndpointRef(opts.endpoint, configOf(run)?.devices ?? []);
      if (!ref.ok) throw new UsageError(`--endpoint: ${ref.message}`);
      base.endpoint = ref.endpoint;
    }
    if (opts.problems) base.problemsOnly = true;
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? 100;
    // Pages of at most PAGE rows until `limit` rows or the end.
    const rows: EventRow[] = [];
    let total = 0;
    for (let at = offset; rows.length < limit; ) {
      const page = await service.call('queryEvents', { ...base, offset: at, limit: Math.min(PAGE, limit - rows.length) });
      total = page.total;
      for (const r of page.rows) rows.push(r);
      at += page.rows.length;
      if (page.rows.length === 0 || at >= total) break;
    }
    if (opts.json) {
      io.stdout.write(json({ runId, total, offset, rows }));
      return EXIT.OK;
    }
    if (rows.length) print(io.stdout, formatEventLines(rows).join('\n') + '\n');
    const shown = rows.length ? `${offset}-${offset + rows.length - 1}` : 'none';
    io.stderr.write(`run ${runId}: ${total} matching events, shown ${shown}${offset + rows.length < total ? ' (more with --offset/--limit)' : ''}\n`);
    return EXIT.OK;
  } finally {
    await service.close();
  }
}
