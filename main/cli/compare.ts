/**
 * `iommu-lab compare <run>... [--json] [--csv] [--changed] [--cost key=ns,...]`: stored runs,
 * traces or replays side by side (issue 9 §3) — the metric table with a column per run and the
 * deltas against the first, grouped as the compare view groups them, then the first divergence of
 * each run against the first with both event chains and the `iommu-lab events` commands that show
 * them. --json prints the Comparison, --csv the table as exportComparison writes it.
 */
import { InvalidArgumentError } from 'commander';
import type { EventRow } from '../../core/contract/index.ts';
import { COST_KEYS, isCostKey } from '../../core/compare/cost.ts';
import type { Comparison, CompareRow, CostModel, FirstDivergence } from '../../core/compare/types.ts';
import type { LabService } from '../service/lab-service.ts';
import { EXIT, UsageError, json, openService, print, type CliIO } from './common.ts';
import { formatEventLines } from './inspect.ts';
import { formatTable, type Align } from './table.ts';

/** Most runs one comparison takes (the contract's compareRuns.runIds maxItems). */
export const COMPARE_MAX_RUNS = 8;
/** Events of each side's chain printed under a divergence. */
const CHAIN_EVENTS = 8;

/**
 * Parser of `--cost`: `key=ns` pairs (CostModel keys: vmExitNs, …), comma-separated or repeated.
 * Errors: InvalidArgumentError (exit 2) for an unknown key or a value that is not a number ≥ 0.
 */
export function costArg(v: string, prev: Partial<CostModel> = {}): Partial<CostModel> {
  const out: Partial<CostModel> = { ...prev };
  for (const pair of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(pair);
    if (!m) throw new InvalidArgumentError(`--cost takes key=ns pairs (keys: ${COST_KEYS.join(', ')}), got "${pair}"`);
    const [, key, val] = m;
    if (!isCostKey(key)) throw new InvalidArgumentError(`--cost: unknown key "${key}" (keys: ${COST_KEYS.join(', ')})`);
    const n = /^\d+(\.\d+)?$/.test(val) ? Number(val) : NaN;
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`--cost: ${key} must be a number of ns ≥ 0, got "${val}"`);
    out[key] = n;
  }
  return out;
}

const MINUS = '\u2212';

/** A value for the table: thousands separated; '-' for null. */
function valueText(v: number | null): string {
  if (v === null) return '-';
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** A delta: '' when 0 (or null), "+n" / "−n", with the change in % of a non-zero base. */
export function deltaText(delta: number | null, base: number | null): string {
  if (delta === null || delta === 0) return '';
  const sign = delta > 0 ? '+' : MINUS;
  const abs = valueText(Math.abs(delta));
  if (base === null || base === 0) return `${sign}${abs}`;
  const pct = Math.abs((delta / base) * 100);
  // Past ten times the base a ratio reads better than a percentage.
  if (pct >= 1000) return `${sign}${abs} (×${((base + delta) / base).toFixed(0)})`;
  return `${sign}${abs} (${sign}${pct >= 10 ? pct.toFixed(0) : pct.toFixed(1)}%)`;
}

const UNIT_SUFFIX: Record<string, string> = { count: '', bytes: ' (bytes)', ns: ' (ns)', 'events/s': ' (events/s)' };

/**
 * The table's lines: a header (the label column, then "run <id>" per run and "Δ" after each run
 * but the first), each group's name on its own line and its rows indented under it. `changed`
 * keeps only the rows whose values differ (and the groups that have one).
 */
export function formatComparisonTable(c: Comparison, opts: { changed?: boolean } = {}): string[] {
  const head = [''];
  const align: Align[] = ['left'];
  c.sides.forEach((s, i) => {
    head.push(`run ${s.runId}`);
    align.push('right');
    if (i > 0) {
      head.push('Δ');
      align.push('left');
    }
  });
  const rows: string[][] = [];
  let group = '';
  const width = head.length;
  for (const r of c.rows) {
    if (opts.changed && !r.differs) continue;
    if (r.group !== group) {
      group = r.group;
      rows.push([group, ...Array<string>(width - 1).fill('')]);
    }
    rows.push(rowCells(r));
  }
  return formatTable(rows, { head, align }).map((l) => l.trimEnd());
}

function rowCells(r: CompareRow): string[] {
  // "Peak mapped bytes" says its unit already.
  const unit = r.unit === 'bytes' && / bytes\b/i.test(r.label) ? '' : (UNIT_SUFFIX[r.unit] ?? '');
  const cells = [`  ${r.label}${unit}`];
  r.values.forEach((v, i) => {
    cells.push(valueText(v));
    if (i > 0) cells.push(deltaText(r.deltas[i], r.values[0]));
  });
  return cells;
}

/** The runs, one line each: "run 3  scenario  Seed 6a: … (examples/seed-6-strict.yaml)". */
function sideLines(c: Comparison): string[] {
  const rows = c.sides.map((s, i) => [`run ${s.runId}`, i === 0 ? 'base' : '', s.kind, s.status, s.name]);
  return formatTable(rows);
}

/** The events of one side's chain: the divergence's step (or from its trace line), at most CHAIN_EVENTS. */
async function chain(service: LabService, runId: number, seq: number, step: number | null, trace: boolean): Promise<EventRow[]> {
  const page = await service.call('queryEvents', { runId, offset: seq, limit: CHAIN_EVENTS });
  return trace || step === null ? page.rows.slice(0, 1) : page.rows.filter((r) => r.step === step);
}

/** The lines of one divergence: where, what each side did, both chains and the commands that list them. */
async function divergenceLines(service: LabService, c: Comparison, d: FirstDivergence): Promise<string[]> {
  const a = c.sides[d.a];
  const b = c.sides[d.b];
  const title = `first divergence of run ${b.runId} against run ${a.runId}`;
  if (!d.comparable) return [`${title}: not comparable step by step: ${d.reason ?? ''}`];
  if (d.step === null) return [`${title}: none (every step ends the same way)`];
  const where = d.bLine != null && d.bLine !== d.line ? `line ${d.line ?? '-'} / line ${d.bLine}` : `line ${d.line ?? '-'}`;
  const out = [`${title}: step ${d.step} (${where})`, `  run ${a.runId}: ${d.aText ?? ''}`, `  run ${b.runId}: ${d.bText ?? ''}`];
  for (const [side, seq] of [
    [a, d.aSeq],
    [b, d.bSeq],
  ] as const) {
    if (seq === null) continue;
    const rows = await chain(service, side.runId, seq, d.step, side.kind === 'trace');
    out.push(`  run ${side.runId} from seq ${seq}:  iommu-lab events ${side.runId} --offset ${seq}`);
    for (const l of formatEventLines(rows)) out.push(`    ${l}`);
  }
  return out;
}

/**
 * `iommu-lab compare`: prints the comparison of `runIds` (the first the base). Returns EXIT.OK;
 * user errors (fewer than 2 or more than COMPARE_MAX_RUNS runs, --json with --csv) are UsageErrors
 * and the service's ContractErrors (an unknown run, one still running) reach main() — exit 2 both.
 */
export async function cmdCompare(
  runIds: number[],
  opts: { db?: string; json?: boolean; csv?: boolean; changed?: boolean; cost?: Partial<CostModel> },
  io: CliIO,
): Promise<number> {
  if (runIds.length < 2) throw new UsageError(`compare needs at least 2 runs, got ${runIds.length} (see \`iommu-lab runs\`)`);
  if (runIds.length > COMPARE_MAX_RUNS) throw new UsageError(`compare takes at most ${COMPARE_MAX_RUNS} runs, got ${runIds.length}`);
  if (opts.json && opts.csv) throw new UsageError('--json and --csv exclude each other');
  const service = openService(opts.db, false, true);
  try {
    const params = { runIds, ...(opts.cost ? { cost: opts.cost } : {}) };
    if (opts.csv) {
      io.stdout.write((await service.call('exportComparison', { ...params, format: 'csv' })).text);
      return EXIT.OK;
    }
    const c = await service.call('compareRuns', params);
    if (opts.json) {
      io.stdout.write(json(c));
      return EXIT.OK;
    }
    const table = opts.changed && !c.rows.some((r) => r.differs) ? ['no row differs (without --changed: every row)'] : formatComparisonTable(c, { changed: opts.changed });
    const lines = [...sideLines(c), '', ...table];
    const m = c.costModel;
    lines.push('', `cost model (ns): ${COST_KEYS.map((k) => `${k}=${m[k]}`).join(' ')}  (docs/cost-model.md; change with --cost key=ns)`);
    for (const d of c.divergences) lines.push('', ...(await divergenceLines(service, c, d)));
    print(io.stdout, lines.join('\n') + '\n');
    return EXIT.OK;
  } finally {
    await service.close();
  }
}
