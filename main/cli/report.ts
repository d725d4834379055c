/**
 * The human report of a run, shared by `iommu-lab run` (after the run) and `iommu-lab show` (a
 * stored run): header, configuration, step table, metrics, status line. Pure text; the caller
 * escapes it for the terminal (common.print).
 */
import type { ComponentMetric, RunConfig, RunDetail, RunMetrics, RunSummary, StepResult, TraceSourceInfo } from '../../core/contract/index.ts';
import { METRIC_IDS, metricSpec } from '../../core/events/metric-catalog.ts';
import { componentMetricsOf } from '../../core/events/metrics.ts';
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
  const intel = c.cachingMode !== undefined ? ` · caching-mode ${c.cachingMode ? 'on' : 'off'}${c.xFlts ? ' · x-flts on' : ''}` : '';
  const out = [`config        machine ${c.machine} · ${c.model} · conformance ${c.conformance} · granule ${c.granule} · aw-bits ${c.awBits}${intel}`];
  out.push(`devices       ${c.devices.length ? c.devices.map((d) => `${d.name} ${d.bdf}${d.host ? ` (host ${d.host})` : ''}`).join(', ') : 'none (the host bridge 00:00.0 only)'}`);
  if (c.backend) out.push(`host          backend ${c.backend} · kernel ${c.kernel ?? '?'}`);
  if (c.groups) out.push(`groups        ${c.groups.length ? c.groups.map((g) => `${g.id} [${g.members.join(', ')}]${g.iommu ? ` ${g.iommu}` : ' emulated'}`).join('; ') : 'none'}`);
  if (c.hostGeometry) out.push(`geometry      host-geometry ${c.hostGeometry}`);
  if (c.guest) {
    const g = c.guest;
    const extra = [g.forcedac ? 'iommu.forcedac=1' : '', g.singleFlushQueue ? 'single flush queue' : '', g.hz !== 1000 ? `HZ=${g.hz}` : ''].filter(Boolean);
    out.push(`guest         iommu.strict=${g.iommuDma === 'strict' ? 1 : 0} (${g.iommuDma}) · ${g.cpus} CPU${g.cpus === 1 ? '' : 's'}${extra.length ? ` · ${extra.join(' · ')}` : ''}`);
    const t = (c.topology ?? []).filter((d) => d.type === 'root-port' || d.behind !== undefined || d.dmaMask !== 64);
    if (t.length) out.push(`topology      ${t.map((d) => `${d.name}${d.type === 'root-port' ? ` root-port${d.acs ? '' : ' (no ACS)'}` : ''}${d.behind ? ` behind ${d.behind}` : ''}${d.dmaMask !== 64 && d.type !== 'root-port' ? ` dma-mask ${d.dmaMask}` : ''}`).join(', ')}`);
  }
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

/** A metric value as text by its declared unit: "4096 bytes", "12 ns", "3"; a tally as its total. */
function metricText(m: ComponentMetric): string {
  const unit = m.unit === 'count' ? '' : ` ${m.unit}`;
  return `${String(m.value)}${unit}`;
}

/** A tally's parts: "ATTACH OK:1; MAP OK:2 RANGE:1" for key pairs, "MAPPING 1, DOMAIN 1" for keys. */
function partsText(parts: NonNullable<ComponentMetric['parts']>): string {
  const entries = Object.entries(parts);
  if (entries.some(([, v]) => typeof v === 'object')) {
    return entries.map(([k, row]) => `${k} ${Object.entries(row as Record<string, number>).map(([s, n]) => `${s}:${n}`).join(' ')}`).join('; ');
  }
  return entries.map(([k, n]) => `${k} ${String(n)}`).join(', ');
}

/** One metric's line: its declared label (lower case) padded to the report's column, then the value, peak or parts. */
function metricLine(m: ComponentMetric, component: string | null): string {
  const spec = metricSpec(m.id);
  const label = `${m.label.toLowerCase()}${component ? ` (${component})` : ''}`;
  let text: string;
  if (spec?.headline && m.parts) text = (spec.parts ?? Object.keys(m.parts)).map((p) => `${String(m.parts![p] ?? 0)} ${p}`).join(', ');
  else if (m.peak !== undefined) text = `${metricText(m)}, peak ${metricText({ ...m, value: m.peak })}`;
  else if (m.parts && Object.keys(m.parts).length) text = `${metricText(m)}  (${partsText(m.parts)})`;
  else text = metricText(m);
  return `${label.padEnd(13)} ${text}`;
}

/**
 * The metrics block: one line per declared metric of each component (labels and units from
 * core/events/metric-catalog.ts), in declared order; a metric measured on several components
 * names its component. Metrics stored before per-component metrics are shown the same way.
 */
export function formatMetrics(m: RunMetrics): string[] {
  const comps = componentMetricsOf(m);
  const several = comps.filter((c) => c.kind !== 'run').length > 1;
  const rows = comps.flatMap((c) => c.metrics.map((x) => ({ c, x })));
  const rank = (id: string) => {
    const i = (METRIC_IDS as readonly string[]).indexOf(id);
    return i < 0 ? METRIC_IDS.length : i;
  };
  rows.sort((a, b) => rank(a.x.id) - rank(b.x.id));
  return rows.map(({ c, x }) => metricLine(x, several && c.kind !== 'run' ? c.component : null));
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
  if (run.source) return formatTraceReport(run, run.source);
  const lines: string[] = [`run ${run.id}: ${run.name} (${run.file})`];
  lines.push(`started       ${shortTime(run.startedAt)}${run.finishedAt ? `, finished ${shortTime(run.finishedAt)}` : ''}`);
  const config = configOf(run);
  lines.push(...(config ? formatConfig(config) : ['config        unknown (the stored scenario no longer parses)']));
  lines.push('');
  // A loop, not push(...steps): spreading a step table of ~126 K lines overflows the stack.
  if (run.stepResults.length > 0) for (const l of formatSteps(run.stepResults)) lines.push(l);
  else lines.push(run.status === 'done' ? 'steps         none' : 'steps         none ran');
  if (run.metrics) lines.push('', ...formatMetrics(run.metrics));
  lines.push('', statusLine(run));
  return lines.join('\n') + '\n';
}

/** `show` of an imported trace: where it came from, its line accounting, its metrics. */
function formatTraceReport(run: RunDetail, src: TraceSourceInfo): string {
  const s = src.stats;
  const lines: string[] = [`trace ${run.id}: ${run.name} (${run.file})`];
  lines.push(`imported      ${shortTime(run.startedAt)}`);
  lines.push(`format        ${src.format ?? 'unknown'}`);
  lines.push(`file          ${src.file}, ${src.bytes} bytes, sha256 ${src.sha256}`);
  lines.push(`lines         ${s.lines}: ${s.events} events, ${s.headers} headers, ${s.ignored} ignored, ${s.unknown.count} unknown, ${s.errors.count} errors${s.rejoined ? `, ${s.rejoined} wrapped lines rejoined` : ''}`);
  const kinds = Object.entries(s.byKind);
  if (kinds.length) lines.push(`events        ${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (s.unknown.count) lines.push(`unknown lines ${s.unknown.lines.join(', ')}${s.unknown.count > s.unknown.lines.length ? ', …' : ''}`);
  for (const e of s.errors.list.slice(0, 20)) lines.push(`error         line ${e.line}: ${e.message}`);
  if (src.partial) lines.push('partial       kept with the malformed lines above skipped');
  if (run.metrics) lines.push('', ...formatMetrics(run.metrics));
  return lines.join('\n') + '\n';
}
