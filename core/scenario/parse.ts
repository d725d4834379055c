/**
 * Scenario text → resolved Scenario, or Diagnostics with positions.
 *
 * Three stages, each reporting into the same Diagnostic list:
 * 1. YAML (package `yaml`, `intAsBigInt` so 64-bit values stay exact; syntax errors keep their
 *    position through a LineCounter);
 * 2. the schema walker (validate.ts): shapes, types, ranges, unknown keys, defaults;
 * 3. semantic resolution (model.ts): device names, PCI addresses, reserved regions, hex.
 */
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, type Node } from 'yaml';
import type { Diagnostic } from '../contract/index.ts';
import { resolveScenario, type Scenario } from './model.ts';
import { ScenarioSchema, type ScenarioDoc } from './schema.ts';
import { INVALID, WalkContext, walk } from './validate.ts';

/** Result of parseScenario: the scenario when there is no error, and every diagnostic found. */
export interface ParseResult {
  scenario: Scenario | null;
  diagnostics: Diagnostic[];
}

/** First line of a yaml library message, without its " at line L, column C" suffix. */
function cleanYamlMessage(m: string): string {
  return m.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Parses and validates scenario YAML. `file` is only used in the diagnostics.
 * Never throws for bad input: `scenario` is null when any error-severity diagnostic was found.
 * Diagnostics are sorted by position.
 */
export function parseScenario(text: string, file: string): ParseResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { intAsBigInt: true, lineCounter: lines, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  const ctx = new WalkContext(file, text, doc, lines);

  for (const e of doc.errors) ctx.diagnostics.push(ctx.diag([e.pos[0], e.pos[1]], `YAML: ${cleanYamlMessage(e.message)}`));
  for (const w of doc.warnings) ctx.diagnostics.push(ctx.diag([w.pos[0], w.pos[1]], `YAML: ${cleanYamlMessage(w.message)}`, undefined, 'warning'));
  if (doc.errors.length > 0) return { scenario: null, diagnostics: sortDiagnostics(ctx.diagnostics) };

  if (doc.contents === null || doc.contents === undefined) {
    ctx.error([0, 0], 'empty scenario: expected a map with name, viommu and steps');
    return { scenario: null, diagnostics: ctx.diagnostics };
  }

  // Partial mode: semantic checks still run on the valid devices and steps, so one pass reports
  // every problem (the editor shows them all at once).
  ctx.partial = true;
  const value = walk(ctx, ScenarioSchema, doc.contents as Node, '', [0, 0]);
  if (value === INVALID || typeof value !== 'object' || value === null) return { scenario: null, diagnostics: sortDiagnostics(ctx.diagnostics) };
  const clean = ctx.isValid('');
  // The walker and TypeBox's own check must agree on canonical values; a mismatch is a bug.
  if (clean && !Value.Check(ScenarioSchema, value)) {
    const first = Value.Errors(ScenarioSchema, value).First();
    throw new Error(`scenario walker accepted a value the schema rejects at ${first?.path}: ${first?.message}`);
  }
  const scenario = resolveScenario(value as ScenarioDoc, ctx);
  return { scenario: clean ? scenario : null, diagnostics: sortDiagnostics(ctx.diagnostics) };
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** `file:line:column: message` as compilers print it; warnings read `file:line:column: warning: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}
