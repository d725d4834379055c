/**
 * The configuration of a compared run as YAML text (CompareSide.configText), for the compare
 * view's Monaco diff and the CLI: what was run, without what it did. Pure.
 */
import { Document, isMap, parseDocument } from 'yaml';
import type { RunDetail } from '../contract/index.ts';

/** Top-level scenario keys that are not configuration: the steps, and the variants that override it. */
const NOT_CONFIG = ['steps', 'variants'] as const;

/**
 * A scenario's text without its top-level `steps:` and `variants:`, through the `yaml` package's
 * Document API so the other keys keep their order and comments (the file's leading comment too).
 * A text that does not parse as a YAML mapping is returned as it is (a run is stored only when
 * its scenario parsed, so this is for foreign or truncated texts).
 */
export function scenarioConfigText(text: string): string {
  if (text.trim() === '') return '';
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0 || !isMap(doc.contents)) return text;
  let changed = false;
  for (const k of NOT_CONFIG) {
    if (doc.has(k)) {
      doc.delete(k);
      changed = true;
    }
  }
  return changed ? doc.toString({ lineWidth: 0 }) : text;
}

/**
 * What a trace run is, as YAML: its format, file, size, SHA-256, partial flag and line accounting
 * (TraceSourceInfo; events by kind come from the comparison's rows, not from here).
 */
function traceConfigText(run: RunDetail): string {
  const s = run.source!;
  const st = s.stats;
  const doc = new Document({
    trace: run.name,
    format: s.format,
    file: s.file,
    bytes: s.bytes,
    sha256: s.sha256,
    partial: s.partial,
    lines: st.lines,
    unknownLines: st.unknown.count,
    errorLines: st.errors.count,
  });
  doc.commentBefore = ' An imported trace: where it came from (iommu-lab import)';
  return doc.toString({ lineWidth: 0 });
}

/**
 * CompareSide.configText of a stored run: a scenario run's (or a variant's, or a replay's
 * configuration scenario's) text without steps and variants, with a replay's trace named in a
 * leading comment; an imported trace's source as YAML.
 */
export function configTextOf(run: RunDetail): string {
  if (run.source?.kind === 'trace') return traceConfigText(run);
  const text = scenarioConfigText(run.scenarioText);
  if (run.replay) {
    const r = run.replay;
    return `# A replay of trace ${r.trace.runId} (${r.trace.name}) against ${r.against}\n${text}`;
  }
  return text;
}
