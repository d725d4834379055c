/**
 * `iommu-lab replay <trace> --against <scenario.yaml>... [--json]` (issue 9 §2, first slice): the
 * stored trace's virtio-iommu requests and device accesses (core/replay/intent.ts) replayed against
 * each scenario's configuration (core/replay/replay.ts); prints, per configuration, the requests by
 * status, the faults and the divergences from the trace (the first with both chains), and what the
 * trace held that the replay could not use. Nothing is stored.
 * Exit codes: 0 replayed (divergences are results, not errors); 2 invalid input (no such trace, a
 * run that is not a trace, an unreadable or invalid scenario: `file:line:column: message`).
 */
import fs from 'node:fs';
import { deriveIntent, type TraceRow } from '../../core/replay/intent.ts';
import { replayAgainst, type ReplayOutcome } from '../../core/replay/replay.ts';
import { formatDiagnostic } from '../../core/scenario/index.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';
import { escapeTerminal } from './escape.ts';
import { requireRun } from './inspect.ts';

/** Rows read per queryEvents page (the contract's largest). */
const PAGE = 5000;
/** Divergences listed per configuration in --json (all are counted). */
const DIVERGENCES_LISTED = 100;

export async function cmdReplay(traceId: number, opts: { db?: string; against: string[]; json?: boolean }, io: CliIO): Promise<number> {
  const texts = opts.against.map((file) => {
    try {
      return { file, text: fs.readFileSync(file, 'utf8') };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read scenario "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    }
  });
  const service = openService(opts.db, false, true);
  const rows: TraceRow[] = [];
  let traceName: string;
  let format: string;
  try {
    const run = await requireRun(service, traceId);
    if (!run.source) throw new UsageError(`run ${traceId} is not an imported trace (see \`iommu-lab import\`)`);
    traceName = run.name;
    format = run.source.format ?? '?';
    for (let offset = 0; ; offset += PAGE) {
      const page = await service.call('queryEvents', { runId: traceId, offset, limit: PAGE });
      for (const r of page.rows) rows.push({ seq: r.seq, kind: r.kind, line: r.line, fields: r.fields });
      if (offset + PAGE >= page.total) break;
    }
  } finally {
    await service.close();
  }
  const intent = deriveIntent(rows);
  rows.length = 0;
  const outcomes: ReplayOutcome[] = [];
  let invalid = false;
  for (const { file, text } of texts) {
    const r = replayAgainst(intent, text, file);
    for (const d of r.diagnostics) io.stderr.write(escapeTerminal(formatDiagnostic(d)) + '\n');
    if (r.outcome) outcomes.push(r.outcome);
    else invalid = true;
  }
  if (invalid) return EXIT.INVALID;
  const ops: Record<string, number> = {};
  for (const s of intent.steps) ops[s.op] = (ops[s.op] ?? 0) + 1;
  if (opts.json) {
    io.stdout.write(
      json({
        trace: traceId,
        steps: intent.steps.length,
        byOp: ops,
        notDerived: intent.notDerived,
        assumptions: intent.assumptions,
        unattributedFaults: intent.unattributedFaults,
        configurations: outcomes.map((o) => ({ file: o.file, name: o.name, failure: o.failure, requests: o.requests, faults: o.faults, divergenceCount: o.divergences.length, divergences: o.divergences.slice(0, DIVERGENCES_LISTED) })),
      }) + '\n',
    );
    return EXIT.OK;
  }
  const lines: string[] = [];
  lines.push(`trace ${traceId}: ${traceName} (${format}): ${intent.steps.length} steps replayed (${Object.entries(ops).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`);
  for (const n of intent.notDerived) lines.push(`  not used: ${n.event} ×${n.count} (first at line ${n.firstLine}): ${n.why}`);
  for (const a of intent.assumptions) lines.push(`  assumed: ${a}`);
  if (intent.unattributedFaults.length) lines.push(`  ${intent.unattributedFaults.length} fault${intent.unattributedFaults.length === 1 ? '' : 's'} in the trace follow no access (first: ${intent.unattributedFaults[0]!.text})`);
  for (const o of outcomes) {
    lines.push('');
    lines.push(`${o.file} (${o.name})`);
    if (o.failure) {
      lines.push(`  not replayed: ${o.failure}`);
      continue;
    }
    const req = Object.entries(o.requests).map(([t, byStatus]) => `${t} ${Object.entries(byStatus).map(([s, n]) => `${s} ${n}`).join('/')}`);
    lines.push(`  requests     ${req.join(', ') || 'none'}`);
    lines.push(`  faults       ${o.faults}`);
    lines.push(`  divergences  ${o.divergences.length}${o.divergences.length ? '' : ' (every access faulted or translated as in the trace)'}`);
    const d = o.divergences[0];
    if (d) {
      lines.push(`  first        trace line ${d.traceLine} (step ${d.step}): trace ${d.trace ?? 'translated'}`);
      lines.push(`               replay ${d.replay ?? 'translated'}`);
    }
  }
  print(io.stdout, lines.map((l) => escapeTerminal(l)).join('\n') + '\n');
  return EXIT.OK;
}
