/**
 * `npm run bench`: runs every benchmark module and prints each figure beside its baseline measured
 * in the same run (and the target where one is named). Benchmarks are never timed tests.
 *
 * Usage: npm run bench [-- --only mapping|ingest|iommufd|shadow]
 */
import { benchMapping } from './mapping.ts';
import { benchIngest } from './ingest.ts';
import { benchIommufd } from './iommufd.ts';
import { benchShadow } from './shadow.ts';
import type { BenchRow } from './types.ts';

const suites: Record<string, () => Promise<BenchRow[]>> = { mapping: benchMapping, ingest: benchIngest, iommufd: benchIommufd, shadow: benchShadow };

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return n.toFixed(0);
}

async function main(): Promise<void> {
  const onlyIdx = process.argv.indexOf('--only');
  const only = onlyIdx >= 0 ? process.argv[onlyIdx + 1] : undefined;
  if (only !== undefined && !(only in suites)) {
    console.error(`bench: unknown suite '${only}' (known: ${Object.keys(suites).join(', ')})`);
    process.exit(2);
  }
  const rows: BenchRow[] = [];
  for (const [name, fn] of Object.entries(suites)) {
    if (only && only !== name) continue;
    console.error(`bench: running ${name}…`);
    rows.push(...(await fn()));
  }
  const table = rows.map((r) => ({
    benchmark: r.name,
    lab: `${fmt(r.value)} ${r.unit}`,
    baseline: `${fmt(r.baselineValue)} ${r.unit}`,
    'baseline is': r.baselineName,
    'lab/baseline': `${(r.value / r.baselineValue).toFixed(2)}x`,
    target: r.target === undefined ? '' : `${r.value >= r.target ? 'met' : 'MISSED'} (>= ${fmt(r.target)})`,
  }));
  console.table(table);
}

await main();
