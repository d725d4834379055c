/**
 * `iommu-lab run <scenario.yaml>`: runs a scenario in the run worker, stores its events, prints the
 * report (report.ts) or one JSON document.
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

/** Signals that cancel a run, with the exit code each gives. */
const CANCEL_SIGNALS = { SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED } as const;

export async function cmdRun(file: string, opts: { db?: string; json?: boolean }, io: CliIO): Promise<number> {
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
    const started = await service.call('startRun', { text, file });
    if (started.runId === null) {
      for (const d of started.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
      return EXIT.INVALID;
    }
    // Warnings (e.g. an endpoint no device declares) are printed like errors; the run goes ahead.
    for (const d of started.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
    const runId = started.runId;
    const svc = service;
    cancel = () => void svc.call('cancelRun', { runId });
    if (got.signal) cancel();
    const showProgress = !opts.json && io.stderr.isTTY === true;
    let last = 0;
    const off = service.listen('runProgress', (p) => {
      if (!showProgress || p.runId !== runId) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const pct = p.steps ? Math.floor((100 * p.step) / p.steps) : 0;
      io.stderr.write(`\r\x1b[K  ${pct}%  ${p.step}/${p.steps} units, ${p.events} events`);
    });
    await waitForRun(service, runId);
    off();
    if (showProgress && last) io.stderr.write('\r\x1b[K');
    const run = (await service.call('getRun', { runId }))!;
    if (opts.json) {
      io.stdout.write(json({ runId, status: run.status, error: run.error, events: run.events, failedExpectations: run.failedExpectations, config: run.config, metrics: run.metrics, steps: run.stepResults }));
    } else {
      print(io.stdout, formatRunReport(run));
    }
    if (got.signal) return CANCEL_SIGNALS[got.signal];
    return run.status === 'done' && run.failedExpectations === 0 ? EXIT.OK : EXIT.FAILED;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
    await service?.close();
  }
}
