/**
 * `iommu-lab run <scenario.yaml>`: runs a scenario in the run worker, stores its events, prints the
 * report (report.ts) or one JSON document. A scenario with `variants:` runs every variant in order
 * (or only `--variant NAME`), prints each report, then the runs side by side (compare.ts's table);
 * `--json` then prints `{runs: [{variant, …}], comparison}`. Exit 1 when any variant's run did not
 * end done with every expectation held.
 *
 * SIGINT (Ctrl-C) and SIGTERM cancel the run instead of killing the process: the run ends
 * `cancelled` with its committed events kept, its report is printed, and the exit code says which
 * signal (130 / 143). A signal before the run exists cancels it as soon as it does.
 */
import fs from 'node:fs';
import { formatDiagnostic } from '../../core/scenario/index.ts';
import { type LabService, waitForRun } from '../service/lab-service.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';
import { escapeTerminal } from './escape.ts';
import { formatRunReport } from './report.ts';
import { COMPARE_MAX_RUNS, formatComparisonTable } from './compare.ts';
import type { RunDetail } from '../../core/contract/index.ts';
import type { Comparison } from '../../core/compare/types.ts';

/** Signals that cancel a run, with the exit code each gives. */
const CANCEL_SIGNALS = { SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED } as const;

export async function cmdRun(file: string, opts: { db?: string; json?: boolean; variant?: string }, io: CliIO): Promise<number> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read scenario "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  // The first cancelling signal received (set by the handlers, read after the run).
  const got: { signal: keyof typeof CANCEL_SIGNALS | null } = { signal: null };
  let cancel: (() => void) | null = null;
  const handlers = (Object.keys(CANCEL_SIGNALS) as (keyof typeof CANCEL_SIGNALS)[]).map((sig) => {
    const h = () => {
      got.signal ??= sig;
      cancel?.();
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  let service: LabService | null = null;
  try {
    service = openService(opts.db);
    const started = await service.call('startRun', { text, file, ...(opts.variant !== undefined ? { variant: opts.variant } : {}) });
    if (started.runId === null) {
      for (const d of started.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
      return EXIT.INVALID;
    }
    // Warnings (e.g. an endpoint no device declares) are printed like errors; the run goes ahead.
    for (const d of started.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
    // A scenario with `variants:`: one run per variant, run in order by the service.
    const runIds = started.variantRunIds ?? [started.runId];
    const svc = service;
    // The last run of a group is in it until the end: cancelling it cancels the running one and the waiting ones.
    cancel = () => void svc.call('cancelRun', { runId: runIds[runIds.length - 1] });
    if (got.signal) cancel();
    const showProgress = !opts.json && io.stderr.isTTY === true;
    let last = 0;
    const off = service.listen('runProgress', (p) => {
      const i = runIds.indexOf(p.runId);
      if (!showProgress || i < 0) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const pct = p.steps ? Math.floor((100 * p.step) / p.steps) : 0;
      const which = runIds.length > 1 ? `run ${i + 1}/${runIds.length}  ` : '';
      io.stderr.write(`\r\x1b[K  ${which}${pct}%  ${p.step}/${p.steps} units, ${p.events} events`);
    });
    const runs: RunDetail[] = [];
    for (const runId of runIds) {
      await waitForRun(service, runId);
      if (showProgress && last) io.stderr.write('\r\x1b[K');
      const run = (await service.call('getRun', { runId }))!;
      runs.push(run);
      if (!opts.json) print(io.stdout, (runs.length > 1 ? '\n' : '') + formatRunReport(run));
    }
    off();
    const comparison = runs.length > 1 ? await compareVariants(service, runs, io, opts.json === true) : null;
    if (opts.json) {
      const doc = (run: RunDetail) => ({ runId: run.id, status: run.status, error: run.error, events: run.events, failedExpectations: run.failedExpectations, config: run.config, metrics: run.metrics, steps: run.stepResults });
      io.stdout.write(json(started.variantRunIds ? { runs: runs.map((r) => ({ variant: r.variant?.variant ?? null, ...doc(r) })), comparison } : doc(runs[0])));
    }
    if (got.signal) return CANCEL_SIGNALS[got.signal];
    return runs.every((run) => run.status === 'done' && run.failedExpectations === 0) ? EXIT.OK : EXIT.FAILED;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    await service?.close();
  }
}

/**
 * The variants' runs side by side (the compare command's table, main/cli/compare.ts) after their
 * reports, with the `iommu-lab compare` command that shows the first divergences; null (and a
 * note) when the runs cannot be compared. At most COMPARE_MAX_RUNS runs are compared.
 */
async function compareVariants(service: LabService, runs: RunDetail[], io: CliIO, quiet: boolean): Promise<Comparison | null> {
  const ids = runs.slice(0, COMPARE_MAX_RUNS).map((r) => r.id);
  const command = `iommu-lab compare ${ids.join(' ')}`;
  let c: Comparison;
  try {
    c = await service.call('compareRuns', { runIds: ids });
  } catch (e) {
    if (!quiet) print(io.stdout, `\nthe variants cannot be compared: ${(e as Error).message}\n`);
    return null;
  }
  if (quiet) return c;
  const names = runs.slice(0, ids.length).map((r) => `run ${r.id} = ${r.variant?.variant ?? r.name}`);
  const more = runs.length > ids.length ? ` (the first ${ids.length} of ${runs.length} variants)` : '';
  const table = formatComparisonTable(c, { changed: true });
  const lines = ['', `variants compared${more}: ${names.join(', ')} — the rows that differ`, '', ...(table.length > 1 ? table : ['(no row differs)']), '', `every row and the first divergences: ${command}`];
  print(io.stdout, lines.join('\n') + '\n');
  return c;
}
