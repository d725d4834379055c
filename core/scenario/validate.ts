/**
 * The schema walker: validates a YAML node tree against a TypeBox schema and produces the
 * canonical value (u64 → bigint, u32 → number, defaults applied), reporting every problem as a
 * Diagnostic that points at the offending node.
 *
 * It understands the TypeBox kinds the scenario schema uses (Object, Array, Tuple, Union,
 * Literal, String, Boolean and the custom U64 / UInt kinds of kinds.ts). Messages name what was
 * expected and what was found; unknown keys list the allowed ones. Objects are closed
 * (`additionalProperties: false` is assumed throughout).
 */
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { isAlias, isMap, isPair, isScalar, isSeq, type Alias, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { Diagnostic } from '../contract/index.ts';
import { U64_MAX, describeValue, hex, literalValues, readInteger } from './kinds.ts';

/** Returned by the walker when a value is invalid (its diagnostics have been reported). */
export const INVALID: unique symbol = Symbol('invalid');

/** Byte offsets [start, end) of a node in the source text. */
export type Span = readonly [number, number];

/**
 * Walk context: the source, where diagnostics go, and the span of every accepted value by path
 * (dotted, e.g. "steps.3.map.virt-start"), so later semantic checks can point at nodes too.
 */
export class WalkContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly spans = new Map<string, Span>();
  /**
   * When true, maps and lists with invalid members are still returned (invalid members omitted
   * from maps, INVALID in lists) so later checks can look at the valid parts; use `isValid(path)`
   * to know whether a subtree was clean.
   */
  partial = false;
  /**
   * Every alias → its anchor's node (limits.ts scanDocument), so the walker never calls
   * Alias.resolve(doc), which walks the whole document per alias (quadratic). Set by parseScenario;
   * when absent, an alias resolves to nothing.
   */
  aliases: Map<Alias, Node | null> = new Map();
  /**
   * Error counts by path and by every path prefix ("steps", "steps.3", "steps.3.map", …) of the
   * first `counted` diagnostics, so isValid is a lookup: diagnostics collection stays linear
   * (16 K invalid steps once took 42 s when each isValid scanned every diagnostic).
   */
  private readonly errorsAt = new Map<string, number>();
  private counted = 0;
  private errors = 0;

  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {}

  /** Builds a Diagnostic for the byte span [start, end) (1-based line/column; end exclusive). */
  diag(span: Span, message: string, path?: string, severity: Diagnostic['severity'] = 'error'): Diagnostic {
    let [start, end] = span;
    start = Math.max(0, Math.min(start, this.text.length));
    end = Math.max(start, Math.min(end, this.text.length));
    // Keep the squiggle on the first line of a multi-line node: a whole block map is noise.
    const nl = this.text.indexOf('\n', start);
    if (nl !== -1 && nl < end) end = nl;
    if (end === start && end < this.text.length && this.text[end] !== '\n') end += 1;
    const a = this.lines.linePos(start);
    const b = this.lines.linePos(end);
    const d: Diagnostic = { file: this.file, line: a.line, column: a.col, endLine: b.line, endColumn: b.col, severity, message };
    if (path !== undefined && path !== '') d.path = path;
    return d;
  }

  /** True when no error was reported at `path` or below it. */
  isValid(path: string): boolean {
    // Diagnostics are also pushed directly (union probes, model checks): count the new ones.
    for (; this.counted < this.diagnostics.length; this.counted++) {
      const d = this.diagnostics[this.counted];
      if (d.severity !== 'error') continue;
      this.errors++;
      if (d.path === undefined) continue;
      for (let i = d.path.indexOf('.'); ; i = d.path.indexOf('.', i + 1)) {
        const prefix = i < 0 ? d.path : d.path.slice(0, i);
        this.errorsAt.set(prefix, (this.errorsAt.get(prefix) ?? 0) + 1);
        if (i < 0) break;
      }
    }
    return path === '' ? this.errors === 0 : !this.errorsAt.has(path);
  }

  /** Reports an error at `span`. */
  error(span: Span, message: string, path?: string): void {
    this.diagnostics.push(this.diag(span, message, path));
  }
}

/** Span of a node: its value range (yaml's range[0]..range[1]). */
export function spanOf(node: Node | null | undefined, fallback: Span): Span {
  const r = node?.range;
  return r ? [r[0], r[1]] : fallback;
}

const joinPath = (path: string, key: string | number): string => (path === '' ? String(key) : `${path}.${key}`);

function resolveNode(ctx: WalkContext, node: unknown): Node | null {
  let n = node as Node | null;
  for (let i = 0; i < 64 && n && isAlias(n); i++) n = ctx.aliases.get(n) ?? null;
  return n;
}

/** Plain JS view of a node, for messages. */
function jsOf(ctx: WalkContext, node: Node | null): unknown {
  if (node === null) return null;
  if (isScalar(node)) return node.value;
  if (isMap(node)) return {};
  if (isSeq(node)) return [];
  return node.toJSON?.(ctx.doc);
}

function fmtLiteral(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

/** The shape class of a schema, to pick union variants by the YAML node's shape. */
type Shape = 'map' | 'seq' | 'string' | 'int' | 'bool' | 'null';
function shapesOf(schema: TSchema): Shape[] {
  switch (schema[Kind]) {
    case 'Object':
      return ['map'];
    case 'Array':
    case 'Tuple':
      return ['seq'];
    case 'String':
      return ['string'];
    case 'Boolean':
      return ['bool'];
    case 'U64':
    case 'UInt':
      return ['int', 'string'];
    case 'Literal':
      return [typeof schema.const === 'boolean' ? 'bool' : typeof schema.const === 'number' ? 'int' : 'string'];
    case 'Union':
      return (schema.anyOf as TSchema[]).flatMap(shapesOf);
    default:
      return [];
  }
}
function shapeOfNode(node: Node | null): Shape {
  if (node === null) return 'null';
  if (isMap(node)) return 'map';
  if (isSeq(node)) return 'seq';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return 'bool';
    if (typeof v === 'bigint' || typeof v === 'number') return 'int';
    return 'string';
  }
  return 'null';
}

/** Human description of what a schema accepts (for type errors). */
export function describeSchema(schema: TSchema): string {
  const lits = literalValues(schema);
  if (lits) return lits.length === 1 ? fmtLiteral(lits[0]) : `one of ${lits.map(fmtLiteral).join(', ')}`;
  switch (schema[Kind]) {
    case 'Object':
      return 'a map';
    case 'Array':
      return 'a list';
    case 'Tuple':
      return `a list of ${(schema.items as TSchema[]).length}`;
    case 'String':
      return 'a string';
    case 'Boolean':
      return 'true or false';
    case 'U64':
      return 'a 64-bit unsigned integer';
    case 'UInt':
      return `an integer from ${schema.minimum} to ${schema.maximum}`;
    case 'Union':
      return [...new Set((schema.anyOf as TSchema[]).map(describeSchema))].join(' or ');
    default:
      return 'a value';
  }
}

/** A copy of a schema default in canonical form (u64 defaults are written as numbers). */
function canonicalDefault(schema: TSchema, value: unknown): unknown {
  if (schema[Kind] === 'U64' && (typeof value === 'number' || typeof value === 'bigint')) return BigInt(value);
  if (Array.isArray(value)) return value.slice();
  return value;
}

/**
 * Validates `node` against `schema`. Returns the canonical value or INVALID (diagnostics added).
 * `at` is the span to blame when the node itself is missing (e.g. `key:` with no value).
 */
export function walk(ctx: WalkContext, schema: TSchema, rawNode: unknown, path: string, at: Span): unknown {
  const node = resolveNode(ctx, rawNode);
  const span = spanOf(node, at);
  const result = walkInner(ctx, schema, node, path, span);
  if (result !== INVALID) ctx.spans.set(path, span);
  return result;
}

function typeError(ctx: WalkContext, schema: TSchema, node: Node | null, path: string, span: Span): typeof INVALID {
  ctx.error(span, `${path || 'document'}: expected ${describeSchema(schema)}, got ${describeValue(jsOf(ctx, node))}`, path);
  return INVALID;
}

function walkInner(ctx: WalkContext, schema: TSchema, node: Node | null, path: string, span: Span): unknown {
  switch (schema[Kind]) {
    case 'Object':
      return walkObject(ctx, schema, node, path, span);
    case 'Array':
    case 'Tuple': {
      if (!node || !isSeq(node)) return typeError(ctx, schema, node, path, span);
      const tuple = schema[Kind] === 'Tuple' ? (schema.items as TSchema[]) : null;
      if (tuple && node.items.length !== tuple.length) {
        ctx.error(span, `${path}: expected a list of ${tuple.length} values, got ${node.items.length}`, path);
        return INVALID;
      }
      const out: unknown[] = [];
      let ok = true;
      node.items.forEach((item, i) => {
        const v = walk(ctx, tuple ? tuple[i] : (schema.items as TSchema), item, joinPath(path, i), span);
        if (v === INVALID) ok = false;
        out.push(v);
      });
      if (!tuple && schema.minItems !== undefined && out.length < schema.minItems) {
        ctx.error(span, `${path}: expected at least ${schema.minItems} item(s)`, path);
        return INVALID;
      }
      return ok || ctx.partial ? out : INVALID;
    }
    case 'String': {
      if (!node || !isScalar(node) || typeof node.value !== 'string') return typeError(ctx, schema, node, path, span);
      const s = node.value;
      if (schema.minLength !== undefined && s.length < schema.minLength) {
        ctx.error(span, `${path}: must not be empty`, path);
        return INVALID;
      }
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(s)) {
        ctx.error(span, `${path}: "${s}" is invalid: ${schema.errorMessage ?? `must match ${schema.pattern}`}`, path);
        return INVALID;
      }
      return s;
    }
    case 'Boolean':
      if (!node || !isScalar(node) || typeof node.value !== 'boolean') return typeError(ctx, schema, node, path, span);
      return node.value;
    case 'Literal':
      if (!node || !isScalar(node) || node.value !== schema.const) {
        ctx.error(span, `${path}: expected ${fmtLiteral(schema.const)}, got ${describeValue(jsOf(ctx, node))}`, path);
        return INVALID;
      }
      return schema.const;
    case 'U64':
    case 'UInt':
      return walkInteger(ctx, schema, node, path, span);
    case 'Union':
      return walkUnion(ctx, schema, node, path, span);
    default:
      throw new Error(`scenario schema: unsupported kind ${String(schema[Kind])} at ${path}`);
  }
}

function walkInteger(ctx: WalkContext, schema: TSchema, node: Node | null, path: string, span: Span): unknown {
  const raw = node && isScalar(node) ? node.value : jsOf(ctx, node);
  const r = readInteger(raw);
  if (!r.ok) {
    ctx.error(span, `${path}: ${r.message}`, path);
    return INVALID;
  }
  const text = node && isScalar(node) && node.source !== undefined ? String(node.source) : String(r.value);
  if (schema[Kind] === 'U64') {
    if (r.value < 0n) {
      ctx.error(span, `${path}: ${text} is negative; expected a 64-bit unsigned integer`, path);
      return INVALID;
    }
    if (r.value > U64_MAX) {
      ctx.error(span, `${path}: ${text} does not fit in 64 bits (maximum ${hex(U64_MAX)})`, path);
      return INVALID;
    }
    return r.value;
  }
  const min = BigInt(schema.minimum as number);
  const max = BigInt(schema.maximum as number);
  if (r.value < min || r.value > max) {
    ctx.error(span, `${path}: ${text} is out of range; expected an integer from ${schema.minimum} to ${schema.maximum}`, path);
    return INVALID;
  }
  return Number(r.value);
}

function walkObject(ctx: WalkContext, schema: TSchema, node: Node | null, path: string, span: Span): unknown {
  if (!node || !isMap(node)) return typeError(ctx, schema, node, path, span);
  const props = schema.properties as Record<string, TSchema>;
  const allowed = Object.keys(props);
  const out: Record<string, unknown> = {};
  const seen = new Map<string, Pair>();
  let ok = true;
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const keyNode = resolveNode(ctx, pair.key);
    const keySpan = spanOf(keyNode, span);
    const key = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
    if (typeof key !== 'string') {
      ctx.error(keySpan, `${path || 'document'}: keys must be strings, got ${describeValue(key)}`, path);
      ok = false;
      continue;
    }
    if (!Object.hasOwn(props, key)) {
      ctx.error(keySpan, `${path ? path + ': ' : ''}unknown key "${key}"; allowed: ${allowed.join(', ')}`, joinPath(path, key));
      ok = false;
      continue;
    }
    if (seen.has(key)) {
      // The yaml package's own uniqueKeys check compares each key with every earlier one
      // (quadratic in a map's size), so parse.ts turns it off and duplicates are caught here.
      ctx.error(keySpan, `${path ? path + ': ' : ''}duplicate key "${key}" (first on line ${ctx.lines.linePos(spanOf(seen.get(key)!.key as Node, span)[0]).line})`, joinPath(path, key));
      ok = false;
      continue;
    }
    seen.set(key, pair);
    // A missing value (`key:`) is blamed on the key.
    const valueNode = pair.value as Node | null;
    const empty = !valueNode || (isScalar(valueNode) && valueNode.value === null && (!valueNode.range || valueNode.range[0] === valueNode.range[1]));
    const v = walk(ctx, props[key], empty ? null : valueNode, joinPath(path, key), keySpan);
    if (v === INVALID) ok = false;
    else out[key] = v;
  }
  for (const key of allowed) {
    if (seen.has(key)) continue;
    const p = props[key];
    if (p[OptionalKind] === 'Optional') {
      if (p.default !== undefined) out[key] = canonicalDefault(p, p.default);
      continue;
    }
    ctx.error(span, `${path ? path + ': ' : ''}missing required key "${key}"`, joinPath(path, key));
    ok = false;
  }
  return ok || ctx.partial ? out : INVALID;
}

function walkUnion(ctx: WalkContext, schema: TSchema, node: Node | null, path: string, span: Span): unknown {
  const variants = schema.anyOf as TSchema[];
  const lits = literalValues(schema);
  if (lits) {
    const v = node && isScalar(node) ? node.value : undefined;
    if (lits.includes(v)) return v;
    ctx.error(span, `${path}: expected one of ${lits.map(fmtLiteral).join(', ')}; got ${describeValue(jsOf(ctx, node))}`, path);
    return INVALID;
  }
  const shape = shapeOfNode(node);
  const candidates = variants.filter((v) => shapesOf(v).includes(shape));
  if (candidates.length === 0) return typeError(ctx, schema, node, path, span);

  // A union told apart by one key's literal value (host-schema.ts discriminated: `op`, `model`).
  const key = schema.discriminator as string | undefined;
  if (key !== undefined && shape === 'map' && node && isMap(node)) return walkDiscriminated(ctx, key, candidates, node, path, span);

  // Object variants are told apart by their required keys (a step's op key, dma's translated/fault).
  if (shape === 'map' && node && isMap(node)) {
    const keys = new Set(node.items.map((p) => (isPair(p) && isScalar(p.key) ? p.key.value : undefined)));
    const required = (v: TSchema) => Object.entries(v.properties as Record<string, TSchema>).filter(([, p]) => p[OptionalKind] !== 'Optional').map(([k]) => k);
    const matching = candidates.filter((v) => v[Kind] === 'Object' && required(v).every((k) => keys.has(k)));
    const pick = matching[0] ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (pick) return walk(ctx, pick, node, path, span);
    const names = [...new Set(candidates.flatMap(required))];
    const unknown = node.items.find((p) => isPair(p) && isScalar(p.key) && !names.includes(String(p.key.value)) && !candidates.some((c) => Object.hasOwn(c.properties, String(p.key && isScalar(p.key) ? p.key.value : ''))));
    const where = unknown && isPair(unknown) ? spanOf(unknown.key as Node, span) : span;
    const what = unknown && isPair(unknown) && isScalar(unknown.key) ? `unknown key "${String(unknown.key.value)}"; ` : '';
    ctx.error(where, `${path}: ${what}expected one of the keys ${names.join(', ')}`, path);
    return INVALID;
  }

  // Scalars and lists: the first variant that accepts the value wins; otherwise report the
  // only candidate's own diagnostics, or a combined "expected … got …".
  for (const v of candidates) {
    const probe = new WalkContext(ctx.file, ctx.text, ctx.doc, ctx.lines);
    probe.aliases = ctx.aliases;
    const r = walk(probe, v, node, path, span);
    if (r !== INVALID) {
      for (const [k, s] of probe.spans) ctx.spans.set(k, s);
      ctx.diagnostics.push(...probe.diagnostics);
      return r;
    }
  }
  if (candidates.length === 1) return walk(ctx, candidates[0], node, path, span);
  return typeError(ctx, schema, node, path, span);
}

/** The literal value of property `key` in each variant of a discriminated union. */
function discriminatorValue(v: TSchema, key: string): unknown {
  const p = (v.properties as Record<string, TSchema> | undefined)?.[key];
  return p && p[Kind] === 'Literal' ? p.const : undefined;
}

/**
 * A map against the union variant whose `key` literal is the map's `key` value: a missing key, or a
 * value no variant has, is reported at the map (or the value) with the allowed values.
 */
function walkDiscriminated(ctx: WalkContext, key: string, variants: TSchema[], node: Node, path: string, span: Span): unknown {
  const allowed = variants.map((v) => discriminatorValue(v, key));
  const pair = isMap(node) ? node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) : undefined;
  if (!pair || !isPair(pair)) {
    ctx.error(span, `${path ? path + ': ' : ''}missing required key "${key}" (one of ${allowed.map(fmtLiteral).join(', ')})`, joinPath(path, key));
    return INVALID;
  }
  const valueNode = resolveNode(ctx, pair.value);
  const value = valueNode && isScalar(valueNode) ? valueNode.value : undefined;
  const i = allowed.indexOf(value);
  if (i < 0) {
    ctx.error(spanOf(valueNode, spanOf(pair.key as Node, span)), `${joinPath(path, key)}: expected one of ${allowed.map(fmtLiteral).join(', ')}; got ${describeValue(jsOf(ctx, valueNode))}`, joinPath(path, key));
    return INVALID;
  }
  return walk(ctx, variants[i], node, path, span);
}
