/**
 * `variants:` — one scenario, several configurations (issue 9 §3).
 *
 * ```yaml
 * name: strict vs lazy
 * guest: {iommu-dma: strict}
 * steps: [...]
 * variants:
 *   - {name: strict}                              # the base as written
 *   - {name: lazy, guest: {iommu-dma: lazy}}       # overrides
 * ```
 *
 * Each variant is the document with its overrides merged in the way JSON Merge Patch merges
 * (RFC 7386): maps merge key by key, every other value (lists, scalars) replaces, `null` removes
 * the key. `name`, `steps` and `variants` cannot be overridden: every variant runs the same steps,
 * named "<scenario name> [<variant name>]". A step may give its expectation per variant with
 * `expect-in: {<variant>: <expect>}` (an entry replaces the step's `expect` in that variant; `null`
 * removes it); the other variants keep `expect`.
 *
 * The merge is done on the YAML nodes, not on values: every node of a merged document keeps its
 * range in the text as written, so the schema walker and the semantic checks of each merged
 * document report a problem where it is — in the override when it came from one, else in the base
 * — and the message says which variant (`variant "lazy": guest.iommu-dma: …`). A problem every
 * variant has (one in the base or the steps) is reported once, without the prefix.
 *
 * Each variant's document is then written out as YAML (comments kept, aliases expanded, `variants`
 * and `expect-in` gone) and parsed again: that text is what its run stores, so the run is
 * reproducible alone, and its scenario's step lines are lines of that text.
 */
import { Document, isAlias, isMap, isPair, isScalar, isSeq, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import type { Diagnostic } from '../contract/index.ts';
import type { Scenario } from './model.ts';
import { ScenarioSchema } from './schema.ts';
import { WalkContext, spanOf, type Span } from './validate.ts';
import { MAX_VARIANT_NAME, VARIANT_NAME_PATTERN } from './variant-schema.ts';
import { describeValue } from './kinds.ts';
import { MAX_STEPS } from './limits.ts';

/** Most variants in one scenario (each is a run). */
export const MAX_VARIANTS = 64;
/**
 * Most steps all variants may have together: each variant's document is validated on its own, so
 * a scenario's parse costs its steps × its variants; this keeps that within a few times a plain
 * scenario's worst case (limits.ts MAX_STEPS).
 */
export const MAX_VARIANT_STEPS = 4 * MAX_STEPS;

/** Keys a variant may not override (the scenario's identity and its steps). */
const FIXED_KEYS: Readonly<Record<string, string>> = {
  steps: 'every variant runs the same steps (a step\'s `expect-in: {<variant>: …}` sets its expectation in one variant)',
  variants: 'a variant cannot have variants',
};

/** The step key that holds per-variant expectations. */
export const EXPECT_IN = 'expect-in';

/** One expanded variant of a scenario (ParseResult.variants). */
export interface ScenarioVariant {
  /** The variant's name as written (`lazy`). */
  variant: string;
  /** The run's name: "<scenario name> [<variant name>]" (also the `name` in `text`). */
  name: string;
  /** The variant as a scenario of its own: the merged document as YAML, without `variants`. */
  text: string;
  /**
   * `text` parsed (on first access; an exception if it does not parse, which is a bug): step
   * lines are lines of `text`.
   */
  readonly scenario: Scenario;
  /**
   * The same scenario as validated from the merged document, without parsing `text`: its step
   * lines are lines of the scenario as written (with `variants:`). For what does not depend on
   * lines (names, step counts, work units, the configuration).
   */
  merged: Scenario;
}

/**
 * Validates a merged document (a map node whose nodes keep their ranges in the original text)
 * with `ctx`: the schema walk and the semantic checks. Given by parse.ts.
 */
export type ValidateRoot = (ctx: WalkContext, root: Node) => Scenario | null;
/** Parses a scenario text on its own (parse.ts parseScenario without variants). */
export type ParseText = (text: string, file: string) => { scenario: Scenario | null; diagnostics: Diagnostic[] };

const keyOf = (p: Pair): string | undefined => {
  const k = p.key as Node | null;
  return k && isScalar(k) && typeof k.value === 'string' ? k.value : undefined;
};
/** A value that removes its key in a merge: `null`, `~` or nothing. */
const isNull = (n: unknown): boolean => n === null || n === undefined || (isScalar(n) && n.value === null);

/** The `variants` pair of a document's root map, if any. */
export function variantsPair(root: unknown): Pair | undefined {
  if (!isMap(root)) return undefined;
  return root.items.find((p) => isPair(p) && keyOf(p) === 'variants') as Pair | undefined;
}

/**
 * `patch` merged into `base` (RFC 7386 on YAML nodes): two maps merge key by key (the base's
 * order, then the patch's new keys; a pair whose value came from the patch keeps the patch's key
 * node, so a problem in it is reported there); anything else is the patch itself. Nodes are shared,
 * never modified; a merged map takes the base's range.
 */
function merge(ctx: WalkContext, base: Node | null, patch: Node): Node {
  const p = resolve(ctx, patch);
  const b = resolve(ctx, base);
  if (!p || !isMap(p) || !b || !isMap(b)) return patch;
  const byKey = new Map<string, Pair>();
  const extra: Pair[] = [];
  for (const item of p.items) {
    const k = isPair(item) ? keyOf(item) : undefined;
    // Duplicates and odd keys stay in the result: the walker reports them where they are.
    if (k === undefined || byKey.has(k)) extra.push(item as Pair);
    else byKey.set(k, item as Pair);
  }
  const out = new YAMLMap();
  out.flow = b.flow;
  out.range = b.range;
  for (const item of b.items) {
    const k = isPair(item) ? keyOf(item) : undefined;
    const pp = k === undefined ? undefined : byKey.get(k);
    if (!pp) {
      out.items.push(item);
      continue;
    }
    byKey.delete(k!);
    if (isNull(pp.value)) continue;
    out.items.push(new Pair(pp.key, merge(ctx, item.value as Node | null, pp.value as Node)));
  }
  for (const pp of [...byKey.values(), ...extra]) if (!isNull(pp.value)) out.items.push(pp);
  return out;
}

function resolve(ctx: WalkContext, n: Node | null): Node | null {
  for (let i = 0; i < 64 && n && isAlias(n); i++) n = ctx.aliases.get(n) ?? null;
  return n;
}

/** A variant as read from the list: its name, its overrides and where it is. */
interface VariantItem {
  name: string;
  overrides: Pair[];
  index: number;
}

/** Reads and checks the `variants` list (structure, names, keys); reports into `ctx`. Null when unusable. */
function readVariants(ctx: WalkContext, pair: Pair, allowed: readonly string[]): VariantItem[] | null {
  const keySpan = spanOf(pair.key as Node, [0, 0]);
  const list = resolve(ctx, pair.value as Node | null);
  if (!list || !isSeq(list)) {
    ctx.error(spanOf(list, keySpan), `variants: expected a list of variants ({name: …, <overrides>}), got ${describeValue(list && isScalar(list) ? list.value : list)}`, 'variants');
    return null;
  }
  if (list.items.length === 0) {
    ctx.error(spanOf(list, keySpan), 'variants: expected at least one variant', 'variants');
    return null;
  }
  if (list.items.length > MAX_VARIANTS) {
    ctx.error(spanOf(list.items[MAX_VARIANTS] as Node, keySpan), `variants: ${list.items.length} variants; a scenario may have at most ${MAX_VARIANTS}`, 'variants');
    return null;
  }
  const out: VariantItem[] = [];
  const firstAt = new Map<string, Span>();
  let ok = true;
  list.items.forEach((raw, index) => {
    const path = `variants.${index}`;
    const item = resolve(ctx, raw as Node);
    const span = spanOf(item, keySpan);
    if (!item || !isMap(item)) {
      ctx.error(span, `${path}: expected a map {name: …, <overrides>}, got ${describeValue(item && isScalar(item) ? item.value : item)}`, path);
      ok = false;
      return;
    }
    let name: string | null = null;
    const overrides: Pair[] = [];
    for (const p of item.items) {
      if (!isPair(p)) continue;
      const k = keyOf(p);
      const kSpan = spanOf(p.key as Node, span);
      if (k === 'name') {
        const v = resolve(ctx, p.value as Node | null);
        const s = v && isScalar(v) ? v.value : undefined;
        const vSpan = spanOf(v, kSpan);
        if (typeof s !== 'string' || s.trim() === '') ctx.error(vSpan, `${path}.name: expected the variant's name (a non-empty string), got ${describeValue(s ?? null)}`, `${path}.name`);
        else if (s.length > MAX_VARIANT_NAME) ctx.error(vSpan, `${path}.name: "${s.slice(0, 16)}…" is ${s.length} characters long; a variant name has at most ${MAX_VARIANT_NAME}`, `${path}.name`);
        else if (!new RegExp(VARIANT_NAME_PATTERN).test(s)) ctx.error(vSpan, `${path}.name: "${s}" is invalid: a variant name has no brackets, no control characters and no spaces at either end`, `${path}.name`);
        else if (firstAt.has(s)) ctx.error(vSpan, `${path}.name: duplicate variant name "${s}" (first on line ${ctx.lines.linePos(firstAt.get(s)![0]).line})`, `${path}.name`);
        else {
          name = s;
          firstAt.set(s, vSpan);
        }
        continue;
      }
      if (k !== undefined && Object.hasOwn(FIXED_KEYS, k)) {
        ctx.error(kSpan, `${path}: "${k}" cannot be overridden: ${FIXED_KEYS[k]}`, `${path}.${k}`);
        ok = false;
      } else if (k === undefined || !allowed.includes(k)) {
        ctx.error(kSpan, `${path}: unknown key ${k === undefined ? describeValue(isScalar(p.key) ? p.key.value : p.key) : `"${k}"`}; a variant has a name and overrides any of: ${allowed.join(', ')}`, `${path}.${k ?? ''}`);
        ok = false;
      } else overrides.push(p);
    }
    if (name === null) {
      if (!item.items.some((p) => isPair(p) && keyOf(p) === 'name')) ctx.error(span, `${path}: missing required key "name" (the variant's name)`, `${path}.name`);
      ok = false;
      return;
    }
    out.push({ name, overrides, index });
  });
  return ok ? out : null;
}

/**
 * Checks every step's `expect-in` once (a map whose keys are variant names); reports into `ctx`.
 * Returns the steps that have one, by index, with their entries by variant name.
 */
function readExpectIn(ctx: WalkContext, steps: Node | null, names: ReadonlySet<string>): Map<number, Map<string, Pair>> {
  const out = new Map<number, Map<string, Pair>>();
  if (!steps || !isSeq(steps)) return out;
  steps.items.forEach((raw, i) => {
    const step = resolve(ctx, raw as Node);
    if (!step || !isMap(step)) return;
    const pair = step.items.find((p) => isPair(p) && keyOf(p) === EXPECT_IN) as Pair | undefined;
    if (!pair) return;
    const path = `steps.${i}.${EXPECT_IN}`;
    const value = resolve(ctx, pair.value as Node | null);
    const byName = new Map<string, Pair>();
    out.set(i, byName);
    if (!value || !isMap(value)) {
      ctx.error(spanOf(value, spanOf(pair.key as Node, [0, 0])), `${path}: expected a map {<variant name>: <expect>, …}, got ${describeValue(value && isScalar(value) ? value.value : value)}`, path);
      return;
    }
    for (const p of value.items) {
      if (!isPair(p)) continue;
      const k = keyOf(p);
      if (k === undefined || !names.has(k)) {
        ctx.error(spanOf(p.key as Node, [0, 0]), `${path}: no variant named ${k === undefined ? describeValue(isScalar(p.key) ? p.key.value : p.key) : `"${k}"`}; the variants are ${[...names].join(', ')}`, `${path}.${k ?? ''}`);
      } else if (byName.has(k)) {
        ctx.error(spanOf(p.key as Node, [0, 0]), `${path}: duplicate key "${k}"`, `${path}.${k}`);
      } else byName.set(k, p);
    }
  });
  return out;
}

/**
 * The steps of one variant: each step with an `expect-in` gets the variant's entry as its `expect`
 * (`null` removes it) and loses `expect-in`. The list itself when no step has one.
 */
function variantSteps(ctx: WalkContext, steps: Node, expectIn: Map<number, Map<string, Pair>>, variant: string): Node {
  if (expectIn.size === 0 || !isSeq(steps)) return steps;
  const out = new YAMLSeq();
  out.flow = steps.flow;
  out.range = steps.range;
  steps.items.forEach((raw, i) => {
    const entries = expectIn.get(i);
    const step = resolve(ctx, raw as Node);
    if (!entries || !step || !isMap(step)) {
      out.items.push(raw);
      return;
    }
    const own = entries.get(variant);
    const copy = new YAMLMap();
    copy.flow = step.flow;
    copy.range = step.range;
    copy.commentBefore = step.commentBefore;
    for (const p of step.items) {
      const k = isPair(p) ? keyOf(p) : undefined;
      if (k === EXPECT_IN || (own && k === 'expect')) continue;
      copy.items.push(p);
    }
    if (own && !isNull(own.value)) {
      // The key text is `expect`, its position the entry's: a problem in it is reported there.
      const key = new Scalar('expect');
      key.range = (own.key as Node).range;
      copy.items.push(new Pair(key, own.value));
    }
    out.items.push(copy);
  });
  return out;
}

/** A copy of `n` with every alias replaced by a copy of its anchor's node (anchors dropped): the variant's text stands alone. */
function expandAliases(ctx: WalkContext, n: unknown, depth = 0): unknown {
  if (depth > 128) throw new Error('variants: alias expansion nested too deep (limits.ts bounds it first)');
  if (isAlias(n)) return expandAliases(ctx, ctx.aliases.get(n) ?? null, depth + 1);
  if (isMap(n)) {
    const m = new YAMLMap();
    Object.assign(m, { flow: n.flow, commentBefore: n.commentBefore, comment: n.comment, spaceBefore: n.spaceBefore });
    for (const p of n.items) m.items.push(new Pair(expandAliases(ctx, p.key, depth + 1), expandAliases(ctx, p.value, depth + 1)));
    return m;
  }
  if (isSeq(n)) {
    const s = new YAMLSeq();
    Object.assign(s, { flow: n.flow, commentBefore: n.commentBefore, comment: n.comment, spaceBefore: n.spaceBefore });
    for (const item of n.items) s.items.push(expandAliases(ctx, item, depth + 1));
    return s;
  }
  if (isScalar(n)) {
    const c = n.clone() as Scalar;
    c.anchor = undefined;
    return c;
  }
  return n;
}

function hasAlias(n: unknown): boolean {
  if (isAlias(n)) return true;
  if (isMap(n)) return n.items.some((p) => hasAlias(p.key) || hasAlias(p.value));
  if (isSeq(n)) return n.items.some(hasAlias);
  return false;
}

/** The merged document of one variant as YAML text (the header comment says what it is). */
function variantText(ctx: WalkContext, root: Node, variant: string, file: string): string {
  const out = new Document(null, { version: '1.2' });
  out.contents = (ctx.aliases.size > 0 && hasAlias(root) ? expandAliases(ctx, root) : root) as Node;
  const note = ` Variant "${variant}" of ${file}: the scenario with this variant's overrides merged in.`;
  // First: the scenario's own header comment may be attached to its first key, not the document.
  out.commentBefore = ctx.doc.commentBefore ? `${note}\n\n${ctx.doc.commentBefore}` : note;
  return out.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/**
 * Expands the document `ctx.doc` (whose root has a `variants` pair) into its variants and validates
 * each; reports every problem into `ctx.diagnostics` (see the file comment for positions and
 * prefixes). Returns the variants in order, or null when any has an error.
 */
export function expandVariants(ctx: WalkContext, validate: ValidateRoot, parseText: ParseText): ScenarioVariant[] | null {
  const root = ctx.doc.contents as YAMLMap;
  const allowed = Object.keys(ScenarioSchema.properties).filter((k) => k !== 'name' && !Object.hasOwn(FIXED_KEYS, k));
  const items = readVariants(ctx, variantsPair(root)!, allowed);
  if (items === null) return null;
  const stepsPair = root.items.find((p) => isPair(p) && keyOf(p) === 'steps');
  const steps = resolve(ctx, (stepsPair?.value as Node | null) ?? null);
  const expectIn = readExpectIn(ctx, steps, new Set(items.map((v) => v.name)));
  const stepCount = steps && isSeq(steps) ? steps.items.length : 0;
  if (stepCount * items.length > MAX_VARIANT_STEPS) {
    const n = (x: number) => x.toLocaleString('en-US');
    ctx.error(spanOf(variantsPair(root)!.key as Node, [0, 0]), `variants: ${items.length} variants × ${n(stepCount)} steps = ${n(stepCount * items.length)} steps to check; at most ${n(MAX_VARIANT_STEPS)} (use a workload step for bulk operations)`, 'variants');
  }
  if (!ctx.isValid('')) return null;
  const nameNode = resolve(ctx, (root.items.find((p) => isPair(p) && keyOf(p) === 'name')?.value as Node | null) ?? null);
  const baseName = nameNode && isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : null;

  const merged: { item: VariantItem; root: Node; name: string; scenario: Scenario | null; diagnostics: Diagnostic[] }[] = [];
  for (const item of items) {
    // The base without `variants`, the overrides merged in, the variant's steps and name.
    const base = new YAMLMap();
    base.range = root.range;
    const name = `${baseName ?? ''} [${item.name}]`;
    for (const p of root.items) {
      const k = isPair(p) ? keyOf(p) : undefined;
      if (k === 'variants') continue;
      if (k === 'steps' && steps) base.items.push(new Pair(p.key, variantSteps(ctx, steps, expectIn, item.name)));
      else if (k === 'name' && baseName !== null) {
        const s = new Scalar(name);
        s.range = nameNode!.range;
        base.items.push(new Pair(p.key, s));
      } else base.items.push(p);
    }
    const patch = new YAMLMap();
    patch.items = item.overrides;
    const doc = merge(ctx, base, patch);
    const vctx = new WalkContext(ctx.file, ctx.text, ctx.doc, ctx.lines);
    vctx.aliases = ctx.aliases;
    vctx.partial = true;
    const scenario = validate(vctx, doc);
    merged.push({ item, root: doc, name, scenario, diagnostics: vctx.diagnostics });
  }

  // A problem every variant has is the base's: reported once, without a variant's name.
  const keyOfDiag = (d: Diagnostic) => `${d.line}:${d.column}:${d.severity}:${d.message}`;
  const count = new Map<string, number>();
  for (const m of merged) for (const k of new Set(m.diagnostics.map(keyOfDiag))) count.set(k, (count.get(k) ?? 0) + 1);
  const reported = new Set<string>();
  for (const m of merged) {
    for (const d of m.diagnostics) {
      const k = keyOfDiag(d);
      if (count.get(k) === merged.length && merged.length > 1) {
        if (!reported.has(k)) ctx.diagnostics.push(d);
        reported.add(k);
      } else ctx.diagnostics.push({ ...d, message: `variant "${m.item.name}": ${d.message}` });
    }
  }
  if (merged.some((m) => m.scenario === null) || !ctx.isValid('')) return null;

  return merged.map((m) => {
    const text = variantText(ctx, m.root, m.item.name, ctx.file);
    let parsed: Scenario | null = null;
    return {
      variant: m.item.name,
      name: m.name,
      text,
      merged: m.scenario!,
      // Parsed on first use: a run worker runs only one variant (the others are parsed again
      // where they run), so parsing every text here would double the cost of a big scenario.
      get scenario(): Scenario {
        if (parsed) return parsed;
        const again = parseText(text, ctx.file);
        if (!again.scenario) {
          const first = again.diagnostics.find((d) => d.severity === 'error');
          throw new Error(`variant "${m.item.name}" is valid merged but its text is not (${first?.line}:${first?.column}: ${first?.message})`);
        }
        return (parsed = again.scenario);
      },
    };
  });
}
