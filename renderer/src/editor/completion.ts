/**
 * What the scenario editor completes beyond the schema (monaco-yaml completes keys and enums):
 * after `endpoint:` the device names the document declares in `devices`, after `domain:` the
 * domain IDs it already uses.
 *
 * Cheap by design, because it runs on the UI thread while the user types: nothing is computed
 * until a completion is asked for at one of those two keys, only the `devices:` block is parsed
 * (the `yaml` package, on that block's text alone), domains are found by one regular-expression
 * scan capped at SCAN_LIMIT characters, and the result is cached per document version.
 */
import { parse } from 'yaml';

/** Characters of the document scanned for domain IDs (the rest of a huge document is skipped). */
export const SCAN_LIMIT = 4 * 1024 * 1024;
/** Suggestions offered at most (a generated scenario may use thousands of domains). */
export const MAX_SUGGESTIONS = 200;

/** One declared device. */
export interface DeviceName {
  name: string;
  bdf: string;
  /** 1-based line of its entry. */
  line: number;
}

/** One domain ID already used, as first written ("1", "0x10"), with the line it first appears on. */
export interface UsedDomain {
  id: string;
  line: number;
}

/** What a completion at the cursor is for, and the column range (1-based, end exclusive) it replaces. */
export interface CompletionSite {
  kind: 'endpoint' | 'domain';
  /** The text typed so far after the key (quotes excluded). */
  prefix: string;
  startColumn: number;
  endColumn: number;
}

// `endpoint: ni`, `- endpoint: ni`, `{domain: 1, endpoint: "ni`: the key starts the line (after an
// optional list dash) or follows `{` or `,` in a flow map; then a colon, spaces, a quote, a word.
const SITE = /(?:^\s*(?:-\s+)?|[{,]\s*)(endpoint|domain):[ \t]+(["']?)([\w.:-]*)$/;

/**
 * The completion site at the end of `linePrefix` (the line's text before the cursor), or null when
 * the cursor is not on the value of an `endpoint:` or `domain:` key.
 */
export function completionSite(linePrefix: string): CompletionSite | null {
  if (linePrefix.includes('#')) return null; // a comment (or a '#' in a value: no completion there)
  const m = SITE.exec(linePrefix);
  if (!m) return null;
  const prefix = m[3];
  const endColumn = linePrefix.length + 1;
  return { kind: m[1] as CompletionSite['kind'], prefix, startColumn: endColumn - prefix.length, endColumn };
}

/**
 * The devices declared in the document's top-level `devices:` list. Only that block is parsed; a
 * block that does not parse (the user is mid-edit) yields the entries found before the problem.
 */
export function declaredDevices(text: string): DeviceName[] {
  const start = /^devices:[ \t]*(?:#.*)?$|^devices:[ \t]*\[/m.exec(text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text);
  if (!start) return [];
  const from = start.index;
  // The block ends at the next top-level key (a line starting with a non-space, non-comment, non-dash).
  const rest = text.slice(from + start[0].length);
  const end = /\n(?=[^\s#-])/.exec(rest);
  const block = text.slice(from, from + start[0].length + (end ? end.index : Math.min(rest.length, SCAN_LIMIT)));
  const firstLine = lineAt(text, from);
  let list: unknown;
  try {
    list = (parse(block, { maxAliasCount: 100, uniqueKeys: false }) as { devices?: unknown } | null)?.devices;
  } catch {
    return devicesByLine(block, firstLine);
  }
  if (!Array.isArray(list)) return devicesByLine(block, firstLine);
  const byLine = devicesByLine(block, firstLine);
  const out: DeviceName[] = [];
  for (const d of list) {
    if (d === null || typeof d !== 'object' || typeof (d as { name?: unknown }).name !== 'string') continue;
    const name = (d as { name: string }).name;
    const bdf = (d as { bdf?: unknown }).bdf;
    out.push({ name, bdf: typeof bdf === 'string' ? bdf : '', line: byLine.find((x) => x.name === name)?.line ?? firstLine });
  }
  return out;
}

/** Device entries found line by line (`name: x` inside the block): the fallback and the line numbers. */
function devicesByLine(block: string, firstLine: number): DeviceName[] {
  const out: DeviceName[] = [];
  const lines = block.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const name = /(?:^|[\s{,])name:[ \t]*["']?([\w.-]+)/.exec(lines[i]);
    if (!name) continue;
    const bdf = /(?:^|[\s{,])bdf:[ \t]*["']?([0-9a-fA-F]+:[0-9a-fA-F]+\.[0-7])/.exec(lines[i]);
    out.push({ name: name[1], bdf: bdf ? bdf[1] : '', line: firstLine + i });
  }
  return out;
}

/** The distinct domain IDs written after `domain:` anywhere in the document, in order of first use. */
export function usedDomains(text: string): UsedDomain[] {
  const scan = text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text;
  const seen = new Map<string, UsedDomain>();
  const re = /(?:^|[\s{,])domain:[ \t]*["']?(0[xX][0-9a-fA-F]+|\d+)\b/g;
  let line = 1;
  let lineFrom = 0;
  for (let m = re.exec(scan); m !== null; m = re.exec(scan)) {
    // Count newlines only between matches: one pass over the text in all.
    for (let i = scan.indexOf('\n', lineFrom); i !== -1 && i < m.index; i = scan.indexOf('\n', i + 1)) {
      line++;
      lineFrom = i + 1;
    }
    const id = m[1].toLowerCase().startsWith('0x') ? '0x' + m[1].slice(2).toLowerCase() : String(Number(m[1]));
    const key = id.startsWith('0x') ? String(Number.parseInt(id, 16)) : id;
    if (!seen.has(key)) seen.set(key, { id, line });
    if (seen.size >= MAX_SUGGESTIONS) break;
  }
  return [...seen.values()];
}

function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
