/**
 * `iommu-lab replay <trace> --against <scenario.yaml>... [--no-store] [--json]` (issue 9 §2): the
 * stored trace's intent — virtio-iommu requests and device accesses from a QEMU log, or the guest's
 * DMA API calls and faulting accesses from a Linux ftrace (core/replay/intent.ts) — replayed
 * against each scenario's configuration (core/replay/replay.ts).
 *
 * - By default each replay is stored as a run (contract startReplay: its events, step results,
 *   and its record with the divergences), at most as many at once as the machine has cores, so the
 *   replays can be browsed, exported and compared; the comparison's changed rows follow, with the
 *   `iommu-lab compare` command.
 * - `--no-store` replays in memory with events off on a worker pool (main/worker/replay-pool.ts):
 *   nothing is stored, faster.
 *
 * Prints, per configuration, the requests by status, the faults and the divergences from the
 * trace (the first with both chains), and once what the trace held that the replay could not use.
 * SIGINT / SIGTERM cancel the stored replays in progress (their events so far kept).
 * Exit codes: 0 replayed (divergences are results, not errors); 1 a replay failed or was
 * cancelled; 2 invalid input (no such trace, a run that is not a trace, an unreadable or invalid
 * scenario: `file:line:column: message`; nothing is stored then).
 */
import fs from 'node:fs';
import os from 'node:os';
import type { ReplayDivergence, ReplaySourceInfo, RunDetail } from '../../core/contract/index.ts';
import type { NotDerived } from '../../core/replay/intent.ts';
import { formatDiagnostic } from '../../core/scenario/index.ts';
import { variantNames } from '../../core/scenario/variant-names.ts';
import { type LabService, waitForRun } from '../service/lab-service.ts';
import { replayConfigurations } from '../worker/replay-pool.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';
import { COMPARE_MAX_RUNS, formatComparisonTable } from './compare.ts';
import { escapeTerminal } from './escape.ts';
import { requireRun } from './inspect.ts';

/** Divergences listed per configuration in --json (all are counted). */
const DIVERGENCES_LISTED = 100;

/** Signals that cancel the stored replays, with the exit code each gives. */
const CANCEL_SIGNALS = { SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED } as const;

/** One configuration's replay as printed. */
interface ConfigurationResult {
  file: string;
  name: string;
  /** The stored replay run (null with --no-store). */
  run: number | null;
  status: string;
  failure: string | null;
  requests: Record<string, Record<string, number>>;
  faults: number;
  divergenceCount: number;
  divergences: ReplayDivergence[];
  /** The trace's devices this configuration does not have: their calls and accesses, not replayed. */
  unbound: NotDerived[];
  /** The `iommu-lab events` command that lists the first divergence's step (stored replays). */
  eventsAt?: string;
}

/** What the trace's intent held (the same for every configuration). */
type IntentInfo = Pick<ReplaySourceInfo, 'byOp' | 'notDerived' | 'assumptions' | 'unattributedFaults'> & {
  /** Set when no configuration had every device of the trace: the one whose replayed steps are counted. */
  countedAgainst?: string;
};

export async function cmdReplay(traceId: number, opts: { db?: string; against: string[]; json?: boolean; store?: boolean }, io: CliIO): Promise<number> {
  // A scenario with `variants:` is one configuration per variant.
  const texts = opts.against.flatMap((file): { file: string; text: string; variant?: string }[] => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read scenario "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    }
    const variants = variantNames(text);
    return variants.length ? variants.map((variant) => ({ file, text, variant })) : [{ file, text }];
  });
  const store = opts.store !== false;
  const service = openService(opts.db, false, !store);
  try {
    const trace = await requireRun(service, traceId);
    if (!trace.source) throw new UsageError(`run ${traceId} is not an imported trace (see \`iommu-lab import\`)`);
    const ref = { runId: traceId, name: trace.name, format: trace.source.format, sha256: trace.source.sha256 };
    const header = `trace ${traceId}: ${trace.name} (${trace.source.format ?? '?'})`;
    if (!store) {
      const summaries = await replayConfigurations(service.store.path, ref, texts);
      let invalid = false;
      for (const s of summaries) for (const d of s.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
      for (const s of summaries) if (!s.outcome) invalid = true;
      if (invalid) return EXIT.INVALID;
      const intent = summaries[0]!.intent;
      const results: ConfigurationResult[] = summaries.map((s) => ({ file: s.file, name: s.outcome!.name, run: null, status: s.outcome!.failure ? 'failed' : 'done', failure: s.outcome!.failure, requests: s.outcome!.requests, faults: s.outcome!.faults, divergenceCount: s.outcome!.divergenceCount, divergences: s.outcome!.divergences, unbound: s.outcome!.unbound }));
      report(io, opts.json === true, traceId, header, intent, results);
      return EXIT.OK;
    }
    return await storedReplays(service, traceId, header, texts, opts.json === true, io);
  } finally {
    await service.close();
  }
}

/** Starts the replays (at most one per core at a time), waits for each, prints the report and the comparison. */
async function storedReplays(service: LabService, traceId: number, header: string, texts: { file: string; text: string; variant?: string }[], asJson: boolean, io: CliIO): Promise<number> {
  const got: { signal: keyof typeof CANCEL_SIGNALS | null } = { signal: null };
  const active = new Set<number>();
  const handlers = (Object.keys(CANCEL_SIGNALS) as (keyof typeof CANCEL_SIGNALS)[]).map((sig) => {
    const h = () => {
      got.signal ??= sig;
      for (const runId of active) void service.call('cancelRun', { runId });
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    const runs: (RunDetail | null)[] = texts.map(() => null);
    /** Each replay's configuration as printed: the file, and the variant for a scenario with variants. */
    const labels = new Map<number, string>();
    let invalid = false;
    let next = 0;
    const lane = async () => {
      while (next < texts.length && !got.signal && !invalid) {
        const i = next++;
        const { file, text, variant } = texts[i]!;
        const started = await service.call('startReplay', { traceRunId: traceId, text, file, ...(variant !== undefined ? { variant } : {}) });
        for (const d of started.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
        if (started.runId === null) {
          invalid = true;
          return;
        }
        active.add(started.runId);
        labels.set(started.runId, variant === undefined ? file : `${file} [${variant}]`);
        await waitForRun(service, started.runId);
        active.delete(started.runId);
        runs[i] = await service.call('getRun', { runId: started.runId });
      }
    };
    await Promise.all(Array.from({ length: Math.min(os.availableParallelism(), texts.length) }, lane));
    if (invalid) {
      // Replays that ran before the invalid scenario was found stay stored (and are listed).
      const done = runs.filter((r): r is RunDetail => r !== null);
      if (done.length) io.stderr.write(`stored before the invalid scenario: ${done.map((r) => `run ${r.id}`).join(', ')}\n`);
      return EXIT.INVALID;
    }
    const stored = runs.filter((r): r is RunDetail => r !== null && r.replay != null);
    if (stored.length === 0) return got.signal ? CANCEL_SIGNALS[got.signal] : EXIT.FAILED;
    // The trace's intent as the replay that bound the most of it recorded it (a configuration that
    // lacks a device of the trace records only the steps it replayed).
    const unboundCalls = (r: RunDetail) => r.replay!.notDerived.reduce((a, n) => a + (n.event.startsWith('calls of ') ? n.count : 0), 0);
    const fullest = stored.reduce((a, b) => (unboundCalls(b) < unboundCalls(a) ? b : a));
    const rec = fullest.replay!;
    const intent: IntentInfo = { byOp: rec.byOp, notDerived: rec.notDerived.filter((n) => !n.event.startsWith('calls of ')), assumptions: rec.assumptions, unattributedFaults: rec.unattributedFaults };
    if (unboundCalls(fullest) > 0) intent.countedAgainst = labels.get(fullest.id) ?? fullest.file;
    const results: ConfigurationResult[] = stored.map((r) => ({
      file: labels.get(r.id) ?? r.file,
      name: r.name,
      run: r.id,
      status: r.status,
      failure: r.error,
      requests: r.metrics?.requests ?? {},
      faults: r.stepResults.filter((s) => s.op === 'dma' && (s.outcome as { fault?: unknown } | undefined)?.fault !== undefined).length,
      divergenceCount: r.replay!.divergenceCount,
      divergences: r.replay!.divergences.slice(0, DIVERGENCES_LISTED),
      // The record lists them with the trace's (core/replay/replay.ts bindIntent: "calls of <bdf>").
      unbound: r.replay!.notDerived.filter((n) => n.event.startsWith('calls of ')),
    }));
    for (const r of results) {
      const d = r.divergences[0];
      if (d === undefined || r.run === null) continue;
      const at = await service.call('locateEvent', { runId: r.run, step: d.step });
      if (at) r.eventsAt = `iommu-lab events ${r.run} --offset ${at.index} --limit 20`;
    }
    report(io, asJson, traceId, header, intent, results);
    if (!asJson && stored.length > 1) {
      const ids = stored.slice(0, COMPARE_MAX_RUNS).map((r) => r.id);
      try {
        const c = await service.call('compareRuns', { runIds: ids });
        const table = formatComparisonTable(c, { changed: true });
        print(io.stdout, ['', `replays compared: the rows that differ`, '', ...(table.length > 1 ? table : ['(no row differs)']), '', `every row and the first divergences: iommu-lab compare ${ids.join(' ')}`].map((l) => escapeTerminal(l)).join('\n') + '\n');
      } catch (e) {
        print(io.stdout, `\nthe replays cannot be compared: ${escapeTerminal((e as Error).message)}\n`);
      }
    }
    if (got.signal) return CANCEL_SIGNALS[got.signal];
    return stored.length === texts.length && stored.every((r) => r.status === 'done') ? EXIT.OK : EXIT.FAILED;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/** Prints the replays (text or --json). */
function report(io: CliIO, asJson: boolean, traceId: number, header: string, intent: IntentInfo, results: ConfigurationResult[]): void {
  const steps = Object.values(intent.byOp).reduce((a, b) => a + b, 0);
  if (asJson) {
    const counted = intent.countedAgainst === undefined ? {} : { countedAgainst: intent.countedAgainst };
    io.stdout.write(json({ trace: traceId, steps, byOp: intent.byOp, ...counted, notDerived: intent.notDerived, assumptions: intent.assumptions, unattributedFaults: intent.unattributedFaults, configurations: results }) + '\n');
    return;
  }
  const lines: string[] = [];
  lines.push(`${header}: ${steps} steps replayed (${Object.entries(intent.byOp).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`);
  if (intent.countedAgainst !== undefined) lines.push(`  counted: the steps replayed against ${intent.countedAgainst} (no configuration has every device of the trace)`);
  for (const n of intent.notDerived) lines.push(`  not used: ${n.event} ×${n.count} (first at line ${n.firstLine}): ${n.why}`);
  for (const a of intent.assumptions) lines.push(`  assumed: ${a}`);
  if (intent.unattributedFaults) lines.push(`  ${intent.unattributedFaults} fault${intent.unattributedFaults === 1 ? '' : 's'} in the trace follow no access the replay could tie them to`);
  for (const o of results) {
    lines.push('');
    lines.push(`${o.file} (${o.name})${o.run !== null ? `: run ${o.run}` : ''}`);
    if (o.failure) {
      lines.push(`  not replayed: ${o.failure}`);
      continue;
    }
    if (o.status !== 'done') lines.push(`  status       ${o.status}`);
    for (const u of o.unbound) lines.push(`  not replayed ${u.event} ×${u.count} (first at line ${u.firstLine}): ${u.why}`);
    const req = Object.entries(o.requests).map(([t, byStatus]) => `${t} ${Object.entries(byStatus).map(([s, n]) => `${s} ${n}`).join('/')}`);
    lines.push(`  requests     ${req.join(', ') || 'none'}`);
    lines.push(`  faults       ${o.faults}`);
    const all = o.unbound.length === 0 ? 'every access' : 'every access replayed';
    lines.push(`  divergences  ${o.divergenceCount}${o.divergenceCount ? '' : ` (${all} faulted or translated as in the trace)`}`);
    const d = o.divergences[0];
    if (d) {
      lines.push(`  first        step ${d.step} (trace line ${d.traceLine})`);
      lines.push(`               trace:  ${d.trace ?? 'translated'}`);
      lines.push(`               replay: ${d.replay ?? 'translated'}`);
      if (o.eventsAt) lines.push(`               ${o.eventsAt}`);
    }
  }
  print(io.stdout, lines.map((l) => escapeTerminal(l)).join('\n') + '\n');
}
