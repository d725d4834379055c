/**
 * `npm run bench`: runs every benchmark module and prints each figure beside its baseline measured
 * in the same run (and the target where one is named). Benchmarks are never timed tests.
 *
 * Usage: npm run bench [-- --only mapping|ingest|iommufd|shadow|iova|guest|import|replay|time-series]
 *
 * Each suite runs in its own Node process (`--child <suite>` prints its rows as JSON), so one
 * suite's heap, GC state and JIT feedback cannot move another's figures: the 1M-entry tables of
 * the mapping suite used to be still live, or being collected, while the iommufd rows ran.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchMapping } from './mapping.ts';
import { benchIngest } from './ingest.ts';
import { benchIommufd } from './iommufd.ts';
import { benchShadow } from './shadow.ts';
import { benchIova } from './iova.ts';
import { benchGuest } from './guest.ts';
import { benchImport } from './import.ts';
import { benchTimeSeries } from './time-series.ts';
import { benchReplay } from './replay.ts';
import type { BenchRow } from './types.ts';

const suites: Record<string, () => Promise<BenchRow[]>> = { mapping: benchMapping, ingest: benchIngest, iommufd: benchIommufd, shadow: benchShadow, iova: benchIova, guest: benchGuest, import: benchImport, replay: benchReplay, 'time-series': benchTimeSeries };

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return n.toFixed(0);
}

/** Runs one suite in a fresh Node process (same flags, e.g. --import tsx) and returns its rows. */
function runChild(name: string): BenchRow[] {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`bench: suite '${name}' exited with ${r.status ?? r.signal}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as BenchRow[];
}

async function main(): Promise<void> {
  const childIdx = process.argv.indexOf('--child');
  if (childIdx >= 0) {
    const name = process.argv[childIdx + 1];
    const fn = suites[name];
    if (fn === undefined) throw new Error(`bench: unknown suite '${name}'`);
    process.stdout.write(`${JSON.stringify(await fn())}\n`);
    return;
  }
  const onlyIdx = process.argv.indexOf('--only');
  const only = onlyIdx >= 0 ? process.argv[onlyIdx + 1] : undefined;
  if (only !== undefined && !(only in suites)) {
    console.error(`bench: unknown suite '${only}' (known: ${Object.keys(suites).join(', ')})`);
    process.exit(2);
  }
  const rows: BenchRow[] = [];
  for (const name of Object.keys(suites)) {
    if (only && only !== name) continue;
    console.error(`bench: running ${name}…`);
    rows.push(...runChild(name));
  }
  const table = rows.map((r) => ({
    benchmark: r.name,
    lab: `${fmt(r.value)} ${r.unit}`,
    baseline: `${fmt(r.baselineValue)} ${r.unit}`,
    'baseline is': r.baselineName,
    'lab/baseline': `${(r.value / r.baselineValue).toFixed(2)}x`,
    target: r.target === undefined ? '' : r.atMost ? `${r.value <= r.target ? 'met' : 'MISSED'} (<= ${fmt(r.target)})` : `${r.value >= r.target ? 'met' : 'MISSED'} (>= ${fmt(r.target)})`,
  }));
  console.table(table);
}

await main();
