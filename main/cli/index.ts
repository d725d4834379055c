/**
 * `iommu-lab` command line (main/cli/iommu-lab.js registers tsx and calls `main`).
 *
 *   iommu-lab run <scenario.yaml> [--db F] [--json]
 *   iommu-lab runs [--db F] [--limit N] [--json]
 *   iommu-lab events <run> [--db F] [--kind K...] [--domain N] [--endpoint E] [--problems]
 *                          [--offset N] [--limit N] [--json]
 *   iommu-lab serve [--db F] [--port N] [--host 127.0.0.1] [--allow-host HOST[:PORT]]...
 *
 * Exit codes: 0 success (for `run`: every expectation held); 1 an expectation failed, or the run
 * failed or was cancelled; 2 invalid input (bad flags, unreadable file, scenario diagnostics
 * printed as `file:line:column: message` on stderr — nothing is stored); 130 `run` interrupted by
 * Ctrl-C (the run is cancelled, its events so far kept, and its report printed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ContractError, type EventRow, type Params, type RunDetail, type RunMetrics, type RunSummary, type StepResult } from '../../core/contract/index.ts';
import { EVENT_KINDS } from '../../core/events/catalog.ts';
import { parseBdf } from '../../core/events/format.ts';
import { formatDiagnostic } from '../../core/scenario/index.ts';
import { LabService, waitForRun } from '../service/lab-service.ts';
import { defaultDbPath } from '../store/paths.ts';
import { bigintReplacer } from '../store/codec.ts';

/** Exit codes of the CLI. */
export const EXIT = { OK: 0, FAILED: 1, INVALID: 2, INTERRUPTED: 130 } as const;

/** Where the CLI writes (parameters for tests). */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** A user-input problem: printed as "iommu-lab: message", exit 2. */
class UsageError extends Error {}

/** The examples shipped with the project (<repo>/examples). */
export function examplesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
}

const int = (what: string, min = 0) => (v: string): number => {
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer ≥ ${min} (decimal or 0x…), got "${v}"`);
  return n;
};

const endpointArg = (v: string): number => {
  const bdf = parseBdf(v);
  if (bdf !== null) return bdf;
  try {
    return int('endpoint')(v);
  } catch {
    throw new InvalidArgumentError(`endpoint must be an endpoint ID or a PCI address "bb:dd.f", got "${v}"`);
  }
};

const kindArg = (v: string, prev: string[] = []): string[] => {
  const out = [...prev];
  for (const k of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`unknown event kind "${k}" (kinds: ${EVENT_KINDS.join(', ')})`);
    out.push(k);
  }
  return out;
};

function json(value: unknown): string {
  return JSON.stringify(value, bigintReplacer, 2) + '\n';
}

/** The lab for one command; `warm` (serve) keeps a standby run worker for the next Run. */
function openService(db: string | undefined, warm = false): LabService {
  return new LabService({ dbPath: db ?? defaultDbPath(), examplesDir: examplesDir(), warmRunWorker: warm });
}

// ---------------------------------------------------------------------------------------------
// run

function mark(s: StepResult): string {
  return s.expectation === true ? '✔' : s.expectation === false ? '✘' : ' ';
}

function outcomeText(s: StepResult): string {
  if (s.message) return s.message;
  const o = s.outcome as Record<string, unknown> | undefined;
  if (!o) return '';
  if ('translated' in o) return `translated → ${String(o.translated)}`;
  if ('fault' in o) return `fault ${JSON.stringify(o.fault)}`;
  if ('bypass' in o) return 'bypass';
  if ('regions' in o && Array.isArray(o.regions)) {
    return o.regions.length ? o.regions.map((r: { subtype: unknown; start: unknown; end: unknown }) => `${String(r.subtype)} [${String(r.start)}-${String(r.end)}]`).join(', ') : 'no regions';
  }
  return JSON.stringify(o, bigintReplacer);
}

/** Human report of a finished run: one line per step, then the metrics. */
export function formatRunReport(run: RunDetail): string {
  const lines: string[] = [];
  lines.push(`run ${run.id}: ${run.name} (${run.file})`);
  const opW = Math.max(2, ...run.stepResults.map((s) => s.op.length));
  const stW = Math.max(6, ...run.stepResults.map((s) => (s.status ?? '').length));
  lines.push(`     #  line  ${'op'.padEnd(opW)}  ${'status'.padEnd(stW)}  outcome`);
  for (const s of run.stepResults) {
    lines.push(`  ${mark(s)} ${String(s.index).padStart(3)}  ${String(s.line).padStart(4)}  ${s.op.padEnd(opW)}  ${(s.status ?? '').padEnd(stW)}  ${outcomeText(s)}`);
  }
  if (run.metrics) lines.push('', ...formatMetrics(run.metrics));
  lines.push('', statusLine(run));
  return lines.join('\n') + '\n';
}

function formatMetrics(m: RunMetrics): string[] {
  const out = [`events        ${m.events}  (${Object.entries(m.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})`];
  const req = Object.entries(m.requests).map(([t, row]) => `${t} ${Object.entries(row).map(([s, n]) => `${s}:${n}`).join(' ')}`);
  if (req.length) out.push(`requests      ${req.join('; ')}`);
  const faults = Object.entries(m.faultsByReason);
  out.push(`faults        ${faults.length ? faults.map(([r, n]) => `${r} ${n}`).join(', ') : '0'}`);
  out.push(`translations  ${m.translations}`);
  out.push(`mappings      live ${m.liveMappings} (${m.liveBytes} bytes), peak ${m.peakMappings} (${m.peakBytes} bytes)`);
  out.push(`expectations  ${m.expectations.held} held, ${m.expectations.failed} failed`);
  return out;
}

function statusLine(run: RunSummary): string {
  switch (run.status) {
    case 'done':
      return run.failedExpectations === 0 ? `done: all expectations hold (${run.events} events)` : `FAILED: ${run.failedExpectations} expectation(s) failed (${run.events} events)`;
    case 'cancelled':
      return `cancelled after ${run.events} events`;
    case 'failed':
      return `run FAILED: ${run.error ?? 'unknown error'} (${run.events} events kept)`;
    default:
      return `status ${run.status}`;
  }
}

async function cmdRun(file: string, opts: { db?: string; json?: boolean }, io: CliIO): Promise<number> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read scenario "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  // Ctrl-C cancels the run (it ends `cancelled` with its events kept) instead of killing the
  // process; a Ctrl-C before the run exists cancels it as soon as it does.
  let interrupted = false;
  let cancel: (() => void) | null = null;
  const onSigint = () => {
    interrupted = true;
    cancel?.();
  };
  process.on('SIGINT', onSigint);
  let service: LabService | null = null;
  try {
    service = openService(opts.db);
    const started = await service.call('startRun', { text, file });
    if (started.runId === null) {
      for (const d of started.diagnostics) io.stderr.write(formatDiagnostic(d) + '\n');
      return EXIT.INVALID;
    }
    const runId = started.runId;
    const svc = service;
    cancel = () => void svc.call('cancelRun', { runId });
    if (interrupted) cancel();
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
      io.stdout.write(json({ runId, status: run.status, error: run.error, events: run.events, failedExpectations: run.failedExpectations, metrics: run.metrics, steps: run.stepResults }));
    } else {
      io.stdout.write(formatRunReport(run));
    }
    if (interrupted) return EXIT.INTERRUPTED;
    return run.status === 'done' && run.failedExpectations === 0 ? EXIT.OK : EXIT.FAILED;
  } finally {
    process.off('SIGINT', onSigint);
    await service?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// runs, events

async function cmdRuns(opts: { db?: string; json?: boolean; limit?: number }, io: CliIO): Promise<number> {
  const service = openService(opts.db);
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
    const rows = runs.map((r) => [String(r.id), r.status, r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), String(r.events), r.failedExpectations ? `${r.failedExpectations} ✘` : '-', r.name, r.file]);
    const head = ['id', 'status', 'started', 'events', 'failed', 'name', 'file'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 3 ? c.padStart(w[i]) : i === cells.length - 1 ? c : c.padEnd(w[i]))).join('  ');
    io.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n');
    for (const r of runs) if (r.status === 'failed' && r.error) io.stdout.write(`run ${r.id} failed: ${r.error.split('\n')[0]}\n`);
    return EXIT.OK;
  } finally {
    await service.close();
  }
}

/** Largest page the contract allows (PARAMS.queryEvents.limit). */
const PAGE = 5000;

async function cmdEvents(
  runArg: string,
  opts: { db?: string; json?: boolean; kind?: string[]; domain?: number; endpoint?: number; problems?: boolean; offset?: number; limit?: number },
  io: CliIO,
): Promise<number> {
  const runId = int('run', 1)(runArg);
  const service = openService(opts.db);
  try {
    const run = await service.call('getRun', { runId });
    if (!run) throw new UsageError(`no run ${runId} in ${service.store.path}`);
    const base: Omit<Params<'queryEvents'>, 'offset' | 'limit'> = { runId };
    if (opts.kind) base.kinds = opts.kind;
    if (opts.domain !== undefined) base.domain = opts.domain;
    if (opts.endpoint !== undefined) base.endpoint = opts.endpoint;
    if (opts.problems) base.problemsOnly = true;
    const offset = opts.offset ?? 0;
    const limit = opts.limit ?? 100;
    // Pages of at most PAGE rows until `limit` rows or the end.
    const rows: EventRow[] = [];
    let total = 0;
    for (let at = offset; rows.length < limit; ) {
      const page = await service.call('queryEvents', { ...base, offset: at, limit: Math.min(PAGE, limit - rows.length) });
      total = page.total;
      rows.push(...page.rows);
      at += page.rows.length;
      if (page.rows.length === 0 || at >= total) break;
    }
    if (opts.json) {
      io.stdout.write(json({ runId, total, offset, rows }));
      return EXIT.OK;
    }
    const seqW = Math.max(3, ...rows.map((r) => String(r.seq).length));
    for (const r of rows) {
      io.stdout.write(`${String(r.seq).padStart(seqW)}  ${String(r.step).padStart(4)}  ${r.problem ? '!' : ' '} ${r.text}\n`);
    }
    const shown = rows.length ? `${offset}-${offset + rows.length - 1}` : 'none';
    io.stderr.write(`run ${runId}: ${total} matching events, shown ${shown}${offset + rows.length < total ? ' (more with --offset/--limit)' : ''}\n`);
    return EXIT.OK;
  } finally {
    await service.close();
  }
}

// ---------------------------------------------------------------------------------------------
// serve

async function cmdServe(opts: { db?: string; port?: number; host?: string; allowHost?: string[] }, io: CliIO): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== 'localhost') {
    throw new UsageError(`serve listens on 127.0.0.1 only (whoever reaches it can start runs and read every stored run); got --host ${host}`);
  }
  // Imported lazily: the other commands work without the server's dependencies loaded.
  const { startServer } = await import('../serve/server.ts');
  const service = openService(opts.db, true);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ service, port: opts.port, allowHosts: opts.allowHost });
  } catch (e) {
    await service.close();
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  io.stdout.write(`IOMMU Lab serving ${service.store.path}\nopen ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  io.stderr.write('stopping…\n');
  await server.close(); // closes the service too
  await service.close();
  return EXIT.OK;
}

// ---------------------------------------------------------------------------------------------

/** Builds the commander program; actions store their exit code in `result.code`. */
function program(io: CliIO, result: { code: number }): Command {
  const p = new Command('iommu-lab')
    .description('IOMMU Lab: a deterministic workbench for virtual IOMMUs')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  const db = () => new Option('--db <file>', `database file (default: $IOMMU_LAB_DB or ${defaultDbPath()})`);

  p.command('run')
    .description('run a scenario, store its events, print step results and metrics')
    .argument('<scenario>', 'scenario YAML file')
    .addOption(db())
    .option('--json', 'print one JSON document { runId, status, error, events, failedExpectations, metrics, steps }')
    .action(async (file: string, o) => {
      result.code = await cmdRun(file, o, io);
    });

  p.command('runs')
    .description('list stored runs, newest first')
    .addOption(db())
    .option('--limit <n>', 'at most n runs', int('--limit', 1))
    .option('--json', 'print the RunSummary list as JSON')
    .action(async (o) => {
      result.code = await cmdRuns(o, io);
    });

  p.command('events')
    .description("print a run's events (seq, step, text; ! marks faults and failed expectations)")
    .argument('<run>', 'run id')
    .addOption(db())
    .option('--kind <kinds...>', `only these kinds (${EVENT_KINDS.join(', ')}); repeat or separate with commas`, kindArg)
    .option('--domain <n>', 'only events of this domain', int('--domain'))
    .option('--endpoint <e>', 'only events of this endpoint (ID or PCI address bb:dd.f)', endpointArg)
    .option('--problems', 'only faults and failed expectations')
    .option('--offset <n>', 'skip the first n matching events', int('--offset'))
    .option('--limit <n>', 'print at most n events (default 100)', int('--limit', 1))
    .option('--json', 'print { runId, total, offset, rows } as JSON')
    .action(async (run: string, o) => {
      result.code = await cmdEvents(run, o, io);
    });

  p.command('serve')
    .description('serve the UI and the lab contract over HTTP/WebSocket on 127.0.0.1')
    .addOption(db())
    .option('--port <n>', 'TCP port (default: any free port)', int('--port'))
    .option('--host <host>', 'interface (127.0.0.1 only)', '127.0.0.1')
    .option('--allow-host <host[:port]>', 'also accept this Host/Origin, e.g. localhost:9000 behind `ssh -L 9000:127.0.0.1:PORT` (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .action(async (o) => {
      result.code = await cmdServe(o, io);
    });
  return p;
}

/**
 * Runs the CLI with `argv` (as process.argv: node, script, args…) and returns the exit code.
 * Never throws for user errors: they are printed on io.stderr with exit code 2.
 */
export async function main(argv: string[] = process.argv, io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const result = { code: EXIT.OK as number };
  const p = program(io, result);
  try {
    if (argv.length <= 2) {
      p.outputHelp({ error: true });
      return EXIT.INVALID;
    }
    await p.parseAsync(argv);
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.OK : EXIT.INVALID;
    }
    if (e instanceof UsageError || e instanceof InvalidArgumentError || e instanceof ContractError) {
      io.stderr.write(`iommu-lab: ${e.message}\n`);
      return EXIT.INVALID;
    }
    if ((e as { code?: string }).code === 'SQLITE_CANTOPEN' || (e as Error).name === 'SchemaTooNewError') {
      io.stderr.write(`iommu-lab: cannot open the database: ${(e as Error).message}\n`);
      return EXIT.INVALID;
    }
    throw e;
  }
}
