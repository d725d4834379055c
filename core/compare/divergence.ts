/**
 * The first divergence of two compared runs (FirstDivergence, core/compare/types.ts): where they
 * first part ways, step by step, on their stored step results; or, for a trace and its own replay,
 * the replay's first divergence from the trace's faults (ReplaySourceInfo.divergences, core/replay).
 * Pure; the event seqs (aSeq, bSeq) are left null here and filled by the service, which can look
 * events up (main/service/compare.ts).
 */
import type { RunDetail, StepResult } from '../contract/index.ts';
import { stepOutcomeText } from '../run/step-outcome.ts';
import type { CompareRunKind, FirstDivergence } from './types.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a compared run is: an imported trace (runs.source), a replay (runs.source kind 'replay'), else a scenario run. */
export function runKind(run: Pick<RunDetail, 'source' | 'replay'>): CompareRunKind {
  if (run.source?.kind === 'trace') return 'trace';
  if (run.replay?.kind === 'replay') return 'replay';
  return 'scenario';
}

/**
 * What is compared of one step: its status, a host step's errno, and its outcome's class — a fault
 * with its reason, translated, bypass; a dma-map's DMA address (or DMA_MAPPING_ERROR) and whether
 * the host shadowed it (mapped, failed, none); a dma-stream's or workload's failure totals. Not
 * compared: what follows from the configuration without being an outcome (a dma-unmap's strict or
 * queued mode, a translation's output address, timing), so variants that differ only in those
 * agree until a DMA actually ends differently.
 */
export function stepKey(s: StepResult): string {
  const parts: string[] = [s.op, s.status ?? '', s.errno ?? ''];
  const o = s.outcome;
  if (isObj(o)) {
    if (isObj(o.fault)) parts.push(`fault ${String(o.fault.reason ?? '?')}`);
    else if ('translated' in o) parts.push('translated');
    else if (o.bypass === true && !('accepted' in o)) parts.push('bypass');
    else if (o.msi === true) parts.push('msi');
    if (s.op === 'dma-map') parts.push(o.error !== undefined ? `error ${String(o.error)}` : `iova ${String(o.iova)} host ${String(o.host)}`);
    else if (s.op === 'dma-stream') parts.push(`${String(o['failed-maps'])}/${String(o['failed-host-maps'])}/${String(o.faults)}`);
    else if (s.op === 'workload') parts.push(`${String(o.faults)}/${String(o.failedRequests)}`);
    else if ('accepted' in o) parts.push(`accepted ${String(o.accepted)}`);
  }
  return parts.join('|');
}

/** One line for what a step did: "OK · DMA address 0xfffff000 · …", "fault MAPPING flags=address addr=0xfffff000", "errno ENOENT". */
export function stepText(s: StepResult): string {
  const head = [s.status, s.errno !== undefined && s.errno !== 'OK' ? `errno ${s.errno}` : undefined].filter((x): x is string => !!x);
  const outcome = stepOutcomeText(s);
  return [...head, outcome].filter(Boolean).join(' · ') || s.op;
}

/** A divergence record without seqs (the service fills them). */
function record(a: number, b: number, fields: Partial<FirstDivergence>): FirstDivergence {
  return { a, b, comparable: true, reason: null, step: null, line: null, aText: null, bText: null, aSeq: null, bSeq: null, ...fields };
}

/** A trace and a replay of it (either order): the replay's own first divergence from the trace. */
function traceAgainstReplay(a: number, b: number, trace: RunDetail, replay: RunDetail, traceIsA: boolean): FirstDivergence {
  const r = replay.replay!;
  const d = r.divergences[0];
  if (r.divergenceCount === 0 || d === undefined) return record(a, b, {});
  const traceText = d.trace ?? 'translated (no fault in the trace)';
  const replayText = d.replay ?? 'translated (no fault in the replay)';
  return record(a, b, {
    step: d.step,
    line: d.traceLine,
    aText: traceIsA ? traceText : replayText,
    bText: traceIsA ? replayText : traceText,
    ...(traceIsA ? {} : { bLine: d.traceLine }),
  });
}

/** What a replay's step that went well says: its result is not kept (core/replay ReplayRun keeps the notable ones). */
const WENT_WELL = 'OK (a call that went well: not a notable result)';

/**
 * Two replays of one trace: their steps are the trace's, but each keeps only its notable step
 * results (accesses, failures), so the results are paired by step index; a step one side kept and
 * the other did not is a step that went well on the other side.
 */
function replaysOfOneTrace(a: number, aRun: RunDetail, b: number, bRun: RunDetail): FirstDivergence {
  const byA = new Map(aRun.stepResults.map((r) => [r.index, r]));
  const byB = new Map(bRun.stepResults.map((r) => [r.index, r]));
  const indices = [...new Set([...byA.keys(), ...byB.keys()])].sort((x, y) => x - y);
  for (const i of indices) {
    const x = byA.get(i);
    const y = byB.get(i);
    if (x && y && x.op === y.op && stepKey(x) === stepKey(y)) continue;
    return record(a, b, { step: i, line: (x ?? y)!.line, bLine: (y ?? x)!.line, aText: x ? stepText(x) : WENT_WELL, bText: y ? stepText(y) : WENT_WELL });
  }
  return record(a, b, {});
}

/**
 * The first divergence of run `bRun` (side `b`) against run `aRun` (side `a`, the base):
 * - a trace and a replay of that trace: the replay's first divergence (step: the replay step,
 *   line: the trace line of the access; texts: the trace's fault or "translated", the replay's);
 * - another trace: not comparable (a trace has no steps);
 * - two replays of one trace: paired by step index (each keeps its notable results only);
 * - runs with step results: compared step by step (stepKey) while their steps have the same op;
 *   the first step whose key differs is the divergence (`line` the base's line, `bLine` the
 *   other's). Two step lists that part (a different op at a step) before any outcome differs are
 *   not comparable, with the step named; when one list is a prefix of the other and they agree
 *   over it, the divergence is the first step only the longer run has (the other side's text says
 *   it has no such step).
 */
export function firstDivergence(a: number, aRun: RunDetail, b: number, bRun: RunDetail): FirstDivergence {
  const ka = runKind(aRun);
  const kb = runKind(bRun);
  if (ka === 'trace' && kb === 'replay' && bRun.replay!.trace.runId === aRun.id) return traceAgainstReplay(a, b, aRun, bRun, true);
  if (kb === 'trace' && ka === 'replay' && aRun.replay!.trace.runId === bRun.id) return traceAgainstReplay(a, b, bRun, aRun, false);
  const notComparable = (reason: string) => record(a, b, { comparable: false, reason });
  for (const [run, kind] of [
    [aRun, ka],
    [bRun, kb],
  ] as const) {
    if (kind === 'trace') {
      return notComparable(`run ${run.id} is an imported trace: it has no steps to compare step by step (compare it with a replay of it)`);
    }
  }
  const sa = aRun.stepResults;
  const sb = bRun.stepResults;
  if (ka === 'replay' && kb === 'replay' && aRun.replay!.trace.runId === bRun.replay!.trace.runId) return replaysOfOneTrace(a, aRun, b, bRun);
  if (sa.length === 0 || sb.length === 0) {
    const empty = sa.length === 0 ? aRun : bRun;
    return notComparable(`run ${empty.id} has no stored step results`);
  }
  const n = Math.min(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    const x = sa[i];
    const y = sb[i];
    if (x.op !== y.op) {
      return notComparable(`the step lists part at step ${i}: ${x.op} (line ${x.line}) in run ${aRun.id}, ${y.op} (line ${y.line}) in run ${bRun.id}`);
    }
    if (stepKey(x) !== stepKey(y)) {
      return record(a, b, { step: i, line: x.line, bLine: y.line, aText: stepText(x), bText: stepText(y) });
    }
  }
  if (sa.length === sb.length) return record(a, b, {});
  const longer = sa.length > sb.length ? sa : sb;
  const s = longer[n];
  const none = `no step ${n} (the run ended after ${n} step${n === 1 ? '' : 's'})`;
  const aHas = longer === sa;
  return record(a, b, {
    step: n,
    line: aHas ? s.line : null,
    bLine: aHas ? null : s.line,
    aText: aHas ? stepText(s) : none,
    bText: aHas ? none : stepText(s),
  });
}
