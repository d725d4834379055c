/**
 * The problems list's entries: the editor's markers and a refused run's diagnostics merged so that
 * each problem is listed once, with everyone who found it. Pure (no Monaco, no DOM).
 */
import type { Diagnostic } from '../../../core/contract/index.ts';

/** A problem as the problems list shows it (1-based positions). */
export interface Problem {
  severity: 'error' | 'warning' | 'info';
  line: number;
  column: number;
  message: string;
  /** Who found it first: "scenario" (the core's checks while typing), "run" (startRun) or "yaml". */
  source: string;
  /** Everyone who found this same problem (same position, severity and message), e.g. ["scenario", "run"]. */
  sources: string[];
}

/** What makes two reports the same problem. */
export const problemKey = (p: { line: number; column: number; severity: string; message: string }): string => `${p.line}:${p.column}:${p.severity}:${p.message}`;

/**
 * The problems list: the editor's markers and a refused run's diagnostics, one entry per problem
 * (the run's report of a problem the editor already shows only adds "run" to its sources).
 */
export function mergeProblems(markers: readonly Problem[], run: readonly Diagnostic[]): Problem[] {
  const byKey = new Map<string, Problem>();
  for (const m of markers) {
    const seen = byKey.get(problemKey(m));
    if (seen) {
      for (const s of m.sources) if (!seen.sources.includes(s)) seen.sources.push(s);
    } else byKey.set(problemKey(m), { ...m, sources: [...m.sources] });
  }
  for (const d of run) {
    const seen = byKey.get(problemKey(d));
    if (seen) {
      if (!seen.sources.includes('run')) seen.sources.push('run');
    } else byKey.set(problemKey(d), { severity: d.severity, line: d.line, column: d.column, message: d.message, source: 'run', sources: ['run'] });
  }
  return [...byKey.values()].sort((a, b) => a.line - b.line || a.column - b.column);
}
