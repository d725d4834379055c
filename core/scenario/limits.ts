/**
 * What a scenario may contain, and the one pass over the YAML document that enforces it before
 * the schema walker runs, so parsing stays linear in the text and bounded whatever the input
 * (issue 6 §5.4: 16 K aliases in 64 KB once took 34 s, because the `yaml` package's
 * Alias.resolve(doc) walks the whole document for each alias).
 *
 * The pass (scanDocument) visits every node once, in document order, iteratively (no recursion,
 * so no stack overflow), and:
 * - resolves every alias to its anchor the way YAML 1.2 and the `yaml` package do (the last node
 *   with that anchor before the alias in document order), into a map the walker uses instead of
 *   Alias.resolve;
 * - counts aliases (MAX_ALIASES), measures how many nodes aliases add once expanded
 *   (MAX_ALIAS_NODES: the "billion laughs" bound; an alias to a node that contains it is an error
 *   too), the nesting depth (MAX_DEPTH) and the number of steps (MAX_STEPS).
 * Each problem is reported once, at the first node past the limit (the first offending alias, the
 * first step too many). The text itself is capped before any parsing (MAX_TEXT_LENGTH), and the
 * diagnostics a scenario gets are capped at MAX_DIAGNOSTICS (parse.ts).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Alias, type Document, type Node } from 'yaml';

/** Longest scenario text, in UTF-16 code units (characters): 4 MiB. The yaml parse costs ~1 µs per byte. */
export const MAX_TEXT_LENGTH = 4 * 1024 * 1024;
/** Most steps in `steps`; a `workload` step is the way to run millions of operations. */
export const MAX_STEPS = 100_000;
/** Most aliases (`*name`) in a document. */
export const MAX_ALIASES = 10_000;
/** Most nodes all aliases may add to the document once expanded (each alias adds its anchor's expanded size). */
export const MAX_ALIAS_NODES = 100_000;
/** Deepest nesting of maps and lists. The schema itself needs 6 levels. */
export const MAX_DEPTH = 64;
/** Most diagnostics a parse returns; further ones are counted in one last diagnostic. */
export const MAX_DIAGNOSTICS = 1000;

/** A problem found by the scan: the byte span to blame and the message. */
export interface ScanProblem {
  span: readonly [number, number];
  message: string;
}

/** Result of scanDocument. */
export interface DocumentScan {
  /** Every alias → the node it refers to (null when no anchor of that name comes before it). */
  aliases: Map<Alias, Node | null>;
  /** Limits exceeded (empty when none): each an error. */
  problems: ScanProblem[];
}

const spanOf = (n: Node | null | undefined): readonly [number, number] => (n?.range ? [n.range[0], n.range[1]] : [0, 0]);

/** Children of a collection node in document order (pair keys before values). */
function children(n: Node): Node[] {
  if (!isMap(n) && !isSeq(n)) return [];
  const out: Node[] = [];
  for (const item of n.items as unknown[]) {
    if (isPair(item)) {
      if (item.key !== null && typeof item.key === 'object') out.push(item.key as Node);
      if (item.value !== null && typeof item.value === 'object') out.push(item.value as Node);
    } else if (item !== null && typeof item === 'object') out.push(item as Node);
  }
  return out;
}

/**
 * Expanded size of `root` (nodes, every alias replaced by its target's expanded size), memoized
 * in `memo`; iterative. Returns -1 when an alias inside refers to a node that contains it.
 */
function expandedSize(root: Node, aliases: Map<Alias, Node | null>, memo: Map<Node, number>): number {
  const open = new Set<Node>();
  // Frames: a node, its children still to add, and the sum so far.
  const stack: { node: Node; kids: Node[]; i: number; sum: number }[] = [];
  const push = (n: Node): number | null => {
    const m = memo.get(n);
    if (m !== undefined) return m;
    if (isAlias(n)) {
      const t = aliases.get(n) ?? null;
      if (t === null) return 1;
      if (open.has(t)) return -1;
      return push(t);
    }
    if (open.has(n)) return -1;
    open.add(n);
    stack.push({ node: n, kids: children(n), i: 0, sum: 1 });
    return null;
  };
  let result = push(root);
  while (result === null || stack.length > 0) {
    if (result !== null) {
      // A child's size is known: add it to the frame on top.
      const top = stack[stack.length - 1];
      if (result < 0) return -1;
      top.sum += result;
      top.i++;
    }
    const top = stack[stack.length - 1];
    if (top.i < top.kids.length) {
      result = push(top.kids[top.i]);
      continue;
    }
    stack.pop();
    open.delete(top.node);
    memo.set(top.node, top.sum);
    result = top.sum;
    if (stack.length === 0) return result;
  }
  return result;
}

/** The value node of `steps` in the top-level map, if any (aliases followed). */
function stepsNode(doc: Document, aliases: Map<Alias, Node | null>): Node | null {
  const top = doc.contents as Node | null;
  if (!top || !isMap(top)) return null;
  for (const p of top.items) {
    if (!isPair(p) || !isScalar(p.key) || p.key.value !== 'steps') continue;
    let v = p.value as Node | null;
    for (let i = 0; i < 64 && v && isAlias(v); i++) v = aliases.get(v) ?? null;
    return v;
  }
  return null;
}

/** Visits every node of `doc` once; see the module comment. */
export function scanDocument(doc: Document): DocumentScan {
  const aliases = new Map<Alias, Node | null>();
  const problems: ScanProblem[] = [];
  const anchors = new Map<string, Node>();
  const memo = new Map<Node, number>();
  let aliasCount = 0;
  let added = 0;
  let aliasProblem = false;
  let depthProblem = false;
  const root = doc.contents as Node | null;
  // Depth-first in document order: a node's anchor is registered before its children are visited.
  const stack: { node: Node; depth: number }[] = root ? [{ node: root, depth: 1 }] : [];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isAlias(node)) {
      aliasCount++;
      const target = anchors.get(node.source) ?? null;
      aliases.set(node, target);
      if (aliasProblem) continue;
      if (aliasCount > MAX_ALIASES) {
        problems.push({ span: spanOf(node), message: `YAML: more than ${MAX_ALIASES.toLocaleString('en-US')} aliases; a scenario may have at most ${MAX_ALIASES.toLocaleString('en-US')}` });
        aliasProblem = true;
        continue;
      }
      if (target === null) continue; // yaml reports the unresolved alias itself
      const size = expandedSize(target, aliases, memo);
      if (size < 0) {
        problems.push({ span: spanOf(node), message: `YAML: alias *${node.source} refers to a node that contains it` });
        aliasProblem = true;
        continue;
      }
      added += size;
      if (added > MAX_ALIAS_NODES) {
        problems.push({
          span: spanOf(node),
          message: `YAML: aliases expand to more than ${MAX_ALIAS_NODES.toLocaleString('en-US')} nodes (this one adds ${size.toLocaleString('en-US')}); a scenario's aliases may add at most ${MAX_ALIAS_NODES.toLocaleString('en-US')}`,
        });
        aliasProblem = true;
      }
      continue;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    const kids = children(node);
    if (kids.length === 0) continue;
    if (depth >= MAX_DEPTH) {
      if (!depthProblem) problems.push({ span: spanOf(kids[0]), message: `YAML: nested more than ${MAX_DEPTH} levels deep` });
      depthProblem = true;
      continue;
    }
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i], depth: depth + 1 });
  }
  const steps = stepsNode(doc, aliases);
  if (steps && isSeq(steps) && steps.items.length > MAX_STEPS) {
    problems.push({
      span: spanOf(steps.items[MAX_STEPS] as Node),
      message: `steps: ${steps.items.length.toLocaleString('en-US')} steps; a scenario may have at most ${MAX_STEPS.toLocaleString('en-US')} (a workload step runs up to 10,000,000 iterations)`,
    });
  }
  return { aliases, problems };
}
