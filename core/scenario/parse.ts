/**
 * Scenario text → resolved Scenario, or Diagnostics with positions.
 *
 * Three stages, each reporting into the same Diagnostic list:
 * 1. YAML (package `yaml`, `intAsBigInt` so 64-bit values stay exact; syntax errors keep their
 *    position through a LineCounter), then one pass over the document (limits.ts) that resolves
 *    aliases and enforces the limits: text length, aliases and what they expand to, nesting
 *    depth, steps. Parsing stays linear in the text and bounded whatever the input (the
 *    yaml package's own uniqueKeys check is quadratic: duplicate keys are found by the walker);
 * 2. the schema walker (validate.ts): shapes, types, ranges, unknown keys, defaults;
 * 3. semantic resolution (model.ts): device names, PCI addresses, reserved regions, hex.
 * A document with `variants:` goes through 2 and 3 once per variant (variants.ts).
 */
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, type Node } from 'yaml';
import type { Diagnostic } from '../contract/index.ts';
import { resolveScenario, type Scenario } from './model.ts';
import { ScenarioSchema, type ScenarioDoc } from './schema.ts';
import { INVALID, WalkContext, walk } from './validate.ts';
import { MAX_DIAGNOSTICS, MAX_TEXT_LENGTH, scanDocument } from './limits.ts';
import { expandVariants, variantsPair, type ScenarioVariant } from './variants.ts';

/** Result of parseScenario: the scenario when there is no error, and every diagnostic found. */
export interface ParseResult {
  /** With `variants:`, the first variant's scenario (its step lines are lines of `variants[0].text`). */
  scenario: Scenario | null;
  diagnostics: Diagnostic[];
  /** Present when the document has `variants:` and no error: every variant in order (variants.ts). */
  variants?: ScenarioVariant[];
}

/** First line of a yaml library message, without its " at line L, column C" suffix. */
function cleanYamlMessage(m: string): string {
  const first = m.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  // The yaml parser catches its own stack overflow on very deep flow nesting.
  return /Maximum call stack size exceeded/.test(first) ? 'nested too deep to parse' : first;
}

/**
 * Parses and validates scenario YAML. `file` is only used in the diagnostics.
 * Never throws for bad input: `scenario` is null when any error-severity diagnostic was found.
 * Diagnostics are sorted by position, at most MAX_DIAGNOSTICS of them (then one more says how many
 * were left out). A text longer than MAX_TEXT_LENGTH is refused before parsing; the other limits
 * are in limits.ts.
 */
export function parseScenario(text: string, file: string): ParseResult {
  if (text.length > MAX_TEXT_LENGTH) {
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    const message = `the scenario is ${mib(text.length)} long; a scenario may be at most ${mib(MAX_TEXT_LENGTH)} (use a workload step for bulk operations)`;
    return { scenario: null, diagnostics: [{ file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', message }] };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { intAsBigInt: true, lineCounter: lines, prettyErrors: false, uniqueKeys: false, keepSourceTokens: false });
  const ctx = new WalkContext(file, text, doc, lines);

  for (const e of doc.errors) ctx.diagnostics.push(ctx.diag([e.pos[0], e.pos[1]], `YAML: ${cleanYamlMessage(e.message)}`));
  for (const w of doc.warnings) ctx.diagnostics.push(ctx.diag([w.pos[0], w.pos[1]], `YAML: ${cleanYamlMessage(w.message)}`, undefined, 'warning'));
  if (doc.errors.length > 0) return { scenario: null, diagnostics: sortDiagnostics(ctx.diagnostics) };
  // Aliases resolved once, limits enforced, before anything expands an alias.
  const scan = scanDocument(doc);
  ctx.aliases = scan.aliases;
  for (const p of scan.problems) ctx.error(p.span, p.message);
  if (scan.problems.length > 0) return { scenario: null, diagnostics: sortDiagnostics(ctx.diagnostics) };

  if (doc.contents === null || doc.contents === undefined) {
    ctx.error([0, 0], 'empty scenario: expected a map with name, viommu and steps');
    return { scenario: null, diagnostics: ctx.diagnostics };
  }

  // A document with `variants:` is several scenarios (variants.ts): each merged document is
  // validated as below, and each variant's text parsed on its own.
  if (variantsPair(doc.contents)) {
    const variants = expandVariants(ctx, validateRoot, parseScenario);
    return { scenario: variants?.[0].scenario ?? null, diagnostics: sortDiagnostics(ctx.diagnostics), ...(variants ? { variants } : {}) };
  }
  const scenario = validateRoot(ctx, doc.contents as Node);
  return { scenario, diagnostics: sortDiagnostics(ctx.diagnostics) };
}

/**
 * The schema walk and the semantic checks of a document's root map, reporting into `ctx`: the
 * scenario when there is no error, else null.
 */
function validateRoot(ctx: WalkContext, root: Node): Scenario | null {
  // Partial mode: semantic checks still run on the valid devices and steps, so one pass reports
  // every problem (the editor shows them all at once).
  ctx.partial = true;
  const value = walk(ctx, ScenarioSchema, root, '', [0, 0]);
  if (value === INVALID || typeof value !== 'object' || value === null) return null;
  const clean = ctx.isValid('');
  // The walker and TypeBox's own check must agree on canonical values; a mismatch is a bug.
  if (clean && !Value.Check(ScenarioSchema, value)) {
    const first = Value.Errors(ScenarioSchema, value).First();
    throw new Error(`scenario walker accepted a value the schema rejects at ${first?.path}: ${first?.message}`);
  }
  const scenario = resolveScenario(value as ScenarioDoc, ctx);
  return clean ? scenario : null;
}

/** Sorts by position and keeps the first MAX_DIAGNOSTICS (plus one that counts the rest). */
function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  ds.sort((a, b) => a.line - b.line || a.column - b.column);
  if (ds.length <= MAX_DIAGNOSTICS) return ds;
  const more = ds.length - MAX_DIAGNOSTICS;
  const { file, line, column, endLine, endColumn } = ds[MAX_DIAGNOSTICS];
  const out = ds.slice(0, MAX_DIAGNOSTICS);
  const message = `${more.toLocaleString('en-US')} more problem${more === 1 ? '' : 's'} from here on not listed (only the first ${MAX_DIAGNOSTICS} are)`;
  out.push({ file, line, column, endLine, endColumn, severity: 'error', message });
  return out;
}

/** `file:line:column: message` as compilers print it; warnings read `file:line:column: warning: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}
