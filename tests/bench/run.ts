/**
 * `npm run bench`: runs every benchmark module and prints each figure beside its baseline measured
 * in the same run (and the target where one is named). Benchmarks are never timed tests.
 *
 * Usage: npm run bench [-- --only mapping|ingest|iommufd|shadow|iova|guest|import|replay|time-series]
 *
 * Each suite runs in its own Node process (`--child <suite>` prints its rows as JSON), so one
 * suite's heap, GC state and JIT feedback cannot move another's figures: the 1M-entry tables of
 * the mapping suite used to be still live, or being collected, while the iommufd rows ran.
 *
 * The machine's state is printed after the table, so that figures from different runs can be
 * read against each other: a fixed calibration loop timed before the first suite and after the
 * last (ms, lower is faster; on a shared VM it swings more than 2× within hours), and per suite
 * its wall time and the CPU time the hypervisor gave to other guests while it ran (steal, from
 * /proc/stat on Linux: a share of one CPU, which a single-threaded row loses directly).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** A figure for the table; latencies (ns) below 1 ms in whole ns, so a row near its bound reads exactly. */
function fmt(n: number, unit = ''): string {
  if (unit === 'ns' && n < 1e6) return Math.round(n).toLocaleString('en-US');
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return n.toFixed(0);
}

/**
 * Milliseconds of a fixed single-threaded loop (object allocation and Map traffic, as the lab's
 * hot paths do): the machine's speed at that moment, lower is faster.
 */
function calibrate(): number {
  const t0 = performance.now();
  let x = 0;
  const m = new Map<number, { a: number; b: number }>();
  for (let i = 0; i < 3e6; i++) {
    m.set(i & 1023, { a: i, b: i * 2 });
    x += m.get((i * 7) & 1023)?.b ?? 0;
  }
  if (x < 0) throw new Error('bench: calibration overflow');
  return performance.now() - t0;
}

/** Total steal time of all CPUs so far, ms (the 8th field of /proc/stat's cpu line, in USER_HZ = 100/s); undefined off Linux. */
function stealMs(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/);
    return f[0] === 'cpu' && f.length > 8 ? Number(f[8]) * 10 : undefined;
  } catch {
    return undefined;
  }
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
  const calibBefore = calibrate();
  const machine: { suite: string; 'wall s': string; 'steal (% of one CPU)': string }[] = [];
  for (const name of Object.keys(suites)) {
    if (only && only !== name) continue;
    console.error(`bench: running ${name}…`);
    const t0 = performance.now();
    const st0 = stealMs();
    rows.push(...runChild(name));
    const wall = performance.now() - t0;
    const st1 = stealMs();
    machine.push({ suite: name, 'wall s': (wall / 1000).toFixed(0), 'steal (% of one CPU)': st0 === undefined || st1 === undefined ? 'n/a' : ((100 * (st1 - st0)) / wall).toFixed(1) });
  }
  const calibAfter = calibrate();
  const table = rows.map((r) => ({
    benchmark: r.name,
    lab: `${fmt(r.value, r.unit)} ${r.unit}`,
    baseline: `${fmt(r.baselineValue, r.unit)} ${r.unit}`,
    'baseline is': r.baselineName,
    'lab/baseline': `${(r.value / r.baselineValue).toFixed(2)}x`,
    target: r.target === undefined ? '' : r.atMost ? `${r.value <= r.target ? 'met' : 'MISSED'} (<= ${fmt(r.target, r.unit)})` : `${r.value >= r.target ? 'met' : 'MISSED'} (>= ${fmt(r.target)})`,
  }));
  console.table(table);
  console.log(`machine: calibration loop ${calibBefore.toFixed(0)} ms before the first suite, ${calibAfter.toFixed(0)} ms after the last (lower is faster)`);
  console.table(machine);
}

await main();
