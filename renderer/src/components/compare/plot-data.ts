/**
 * The compare plots' data (issue 9 §3): the runs' series (core/compare/types.ts TimeSeries, one
 * per run, each on its own sample times) joined onto one x axis for uPlot, which needs one x array
 * shared by every series. x is virtual time (ns); each run's value at an x it has no sample at is
 * its last sample's (the series are step functions: a value holds until the next event changes
 * it), null before its first sample and after its last (a shorter run ends there). Several samples
 * of one run at one time (events without a cost between them) stay separate points at the same x,
 * so a peak inside one instant is still drawn.
 */
import type { TimeSeries } from '../../../../core/compare/types.ts';

/** The series a plot can show. */
export type SeriesKey = 'liveMappings' | 'faults' | 'iovaBytes';

/** The plots in order, with their titles and units. */
export const PLOTS: readonly { key: SeriesKey; title: string; unit: 'count' | 'bytes' }[] = [
  { key: 'liveMappings', title: 'Live mappings', unit: 'count' },
  { key: 'iovaBytes', title: 'IOVA space mapped', unit: 'bytes' },
  { key: 'faults', title: 'Faults (cumulative)', unit: 'count' },
];

/** One joined table: x (ns) and, per run, its values and the seq of the sample each value comes from. */
export interface JoinedSeries {
  x: number[];
  ys: (number | null)[][];
  seqs: (number | null)[][];
}

/**
 * Joins `runs`' series `key` onto one ascending x (all runs' sample times, merged; ties keep the
 * runs' order and each run's own order). O(total samples · runs).
 */
export function joinSeries(runs: readonly TimeSeries[], key: SeriesKey): JoinedSeries {
  const points: { t: number; run: number; i: number }[] = [];
  runs.forEach((s, run) => {
    for (let i = 0; i < s.t.length; i++) points.push({ t: s.t[i], run, i });
  });
  // Stable: Array.prototype.sort is stable, so equal times keep run, then sample order.
  points.sort((a, b) => a.t - b.t);
  const x = points.map((p) => p.t);
  const ys = runs.map(() => new Array<number | null>(points.length).fill(null));
  const seqs = runs.map(() => new Array<number | null>(points.length).fill(null));
  const lastT = runs.map((s) => (s.t.length ? s.t[s.t.length - 1] : -Infinity));
  const cur = runs.map(() => -1);
  for (let k = 0; k < points.length; k++) {
    const p = points[k];
    cur[p.run] = p.i;
    for (let r = 0; r < runs.length; r++) {
      const i = cur[r];
      if (i === -1) continue;
      // Past a run's last sample (at a later time), the run has ended: no value.
      if (r !== p.run && p.t > lastT[r]) continue;
      ys[r][k] = runs[r][key][i];
      seqs[r][k] = runs[r].seq[i];
    }
  }
  return { x, ys, seqs };
}

/**
 * The run whose value at point `idx` is nearest `y` (the pointer's value on the y scale), and the
 * seq of its event there; null when no run has a value at idx.
 */
export function nearestRun(joined: JoinedSeries, idx: number, y: number): { run: number; seq: number } | null {
  let best: { run: number; seq: number } | null = null;
  let bestD = Infinity;
  joined.ys.forEach((vals, run) => {
    const v = vals[idx];
    const seq = joined.seqs[run][idx];
    if (v === null || v === undefined || seq === null || seq === undefined) return;
    const d = Math.abs(v - y);
    if (d < bestD) {
      bestD = d;
      best = { run, seq };
    }
  });
  return best;
}

/** Virtual time for an axis tick or the legend: "0", "850 ns", "12.5 µs", "11 ms", "1.20 s". */
export function formatNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '—';
  const a = Math.abs(ns);
  if (a === 0) return '0';
  if (a < 1e3) return `${+ns.toFixed(0)} ns`;
  if (a < 1e6) return `${+(ns / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`;
  if (a < 1e9) return `${+(ns / 1e6).toFixed(a < 1e7 ? 2 : 1)} ms`;
  return `${+(ns / 1e9).toFixed(2)} s`;
}

/** The colours of the runs, in side order (the base first). */
export const RUN_COLORS: readonly string[] = ['#4d9bf0', '#f0a04d', '#4ec98a', '#c586c0', '#e5c07b', '#56b6c2', '#ef6b6b', '#a0a8b8'];

/**
 * The point a step plot shows at time `t`: the last index whose x is ≤ t (the value holding then),
 * 0 when t is before the first; -1 for no points. `x` ascending.
 */
export function indexAt(x: readonly number[], t: number): number {
  if (!x.length) return -1;
  let lo = 0;
  let hi = x.length - 1;
  if (t < x[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (x[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Axis steps for counts (whole numbers only) and for bytes (powers of two), for uPlot's `incrs`. */
export const COUNT_INCRS: readonly number[] = Array.from({ length: 16 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();
export const BYTE_INCRS: readonly number[] = Array.from({ length: 64 }, (_, e) => 2 ** e);
