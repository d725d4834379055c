/**
 * The human report of a run, shared by `iommu-lab run` (after the run) and `iommu-lab show` (a
 * stored run): header, configuration, step table, metrics, status line. Pure text; the caller
 * escapes it for the terminal (common.print).
 */
import type { RunConfig, RunDetail, RunMetrics, RunSummary, StepResult } from '../../core/contract/index.ts';
import { runConfig } from '../../core/run/config.ts';
import { stepOutcomeText } from '../../core/run/step-outcome.ts';
import { parseScenario } from '../../core/scenario/index.ts';
import { formatTable } from './table.ts';

/**
 * The configuration of a run: the stored one (runs.config), else, for runs stored before schema
 * version 4, the one its stored scenario text gives (null when that text no longer parses).
 */
export function configOf(run: RunDetail): RunConfig | null {
  if (run.config) return run.config;
  const { scenario } = parseScenario(run.scenarioText, run.file);
  return scenario ? runConfig(scenario) : null;
}

/** "q35 · virtio-iommu · conformance qemu · granule 4k · aw-bits 48" and the devices line. */
export function formatConfig(c: RunConfig): string[] {
  const out = [`config        machine ${c.machine} · ${c.model} · conformance ${c.conformance} · granule ${c.granule} · aw-bits ${c.awBits}`];
  out.push(`devices       ${c.devices.length ? c.devices.map((d) => `${d.name} ${d.bdf}`).join(', ') : 'none (the host bridge 00:00.0 only)'}`);
  return out;
}

function mark(s: StepResult): string {
  return s.expectation === true ? '✔' : s.expectation === false ? '✘' : '';
}

/** The outcome cell: what the step did, then, for a failed expectation, what was expected. */
function outcomeCell(s: StepResult): string {
  const outcome = stepOutcomeText(s);
  if (s.expectation !== false || !s.message) return outcome;
  return outcome ? `${outcome}; ${s.message}` : s.message;
}

/** The step table: one line per step (✔/✘ for expectations, index, line, op, status, outcome). */
export function formatSteps(steps: readonly StepResult[]): string[] {
  const rows = steps.map((s) => [mark(s), String(s.index), String(s.line), s.op, s.status ?? '', outcomeCell(s)]);
  return formatTable(rows, { head: ['', '#', 'line', 'op', 'status', 'outcome'], align: ['left', 'right', 'right', 'left', 'left', 'left'] }).map((l) => `  ${l}`.trimEnd());
}

/** The metrics block. */
export function formatMetrics(m: RunMetrics): string[] {
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

/** The last line: how the run ended. */
export function statusLine(run: RunSummary): string {
  switch (run.status) {
    case 'done':
      return run.failedExpectations === 0 ? `done: all expectations hold (${run.events} events)` : `FAILED: ${run.failedExpectations} expectation(s) failed (${run.events} events)`;
    case 'cancelled':
      return `cancelled after ${run.events} events`;
    case 'failed':
      return `run FAILED: ${run.error ?? 'unknown error'} (${run.events} events kept)`;
    case 'running':
      return `running: ${run.events} events committed so far`;
    default:
      return `status ${String(run.status)}`;
  }
}

/** "2026-12-01 01:20:53Z" from an ISO time. */
export function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/**
 * Human report of a run: "run N: name (file)", its times, configuration, step table, metrics and
 * status line. Lines end with "\n". Safe for any number of steps (no argument spreading).
 */
export function formatRunReport(run: RunDetail): string {
  const lines: string[] = [`run ${run.id}: ${run.name} (${run.file})`];
  lines.push(`started       ${shortTime(run.startedAt)}${run.finishedAt ? `, finished ${shortTime(run.finishedAt)}` : ''}`);
  const config = configOf(run);
  lines.push(...(config ? formatConfig(config) : ['config        unknown (the stored scenario no longer parses)']));
  lines.push('');
  // A loop, not push(...steps): spreading a step table of ~126 K lines overflows the stack.
  for (const l of formatSteps(run.stepResults)) lines.push(l);
  if (run.metrics) lines.push('', ...formatMetrics(run.metrics));
  lines.push('', statusLine(run));
  return lines.join('\n') + '\n';
}
