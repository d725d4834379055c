/**
 * The one definition of a "problem" event, derived from the catalog's per-kind `problem` rules
 * (core/events/catalog.ts, ProblemRule). Everything that decides "problem" uses what is here:
 * - the stored rows' `problem` flag (main/store/reader.ts) and live events: `isProblemEvent`;
 * - `--problems` / "problems only" and the partial index `events_problems`: the SQL predicate built
 *   from `PROBLEM_RULES` in main/store/schema.ts (PROBLEM_SQL);
 * - the UI's colours: `ALWAYS_PROBLEM_KINDS` (kinds whose every event is a problem) and
 *   `PROBLEM_KINDS` (kinds that may be one);
 * - help texts: `PROBLEM_SUMMARY`;
 * - the UI's colour per family: `KIND_FAMILY`, `familyOf`, `KINDS_BY_FAMILY` (renderer/src/format.ts).
 */
import { EVENT_CATALOG, type Column, type EventFamily, type EventKind, type FieldSpec, type KindSpec, type ProblemRule } from './catalog.ts';

/** A kind's problem rule with what the SQL needs: the kind code and the rule field's storage column. */
export interface KindProblemRule {
  readonly kind: EventKind;
  readonly code: number;
  readonly rule: ProblemRule;
  /** Storage column of `rule.field` (undefined for `always`). */
  readonly column?: Column;
}

/**
 * Every kind that declares a problem rule, in catalog (code) order. Checked at load: a rule's
 * field must be an integer field of its kind (a bug in the catalog otherwise).
 */
export const PROBLEM_RULES: readonly KindProblemRule[] = (Object.entries(EVENT_CATALOG) as [EventKind, KindSpec][])
  .filter(([, spec]) => spec.problem !== undefined)
  .sort(([, a], [, b]) => a.code - b.code)
  .map(([kind, spec]) => {
    const rule = spec.problem!;
    if (rule.when === 'always') return { kind, code: spec.code, rule };
    const field = (spec.fields as Readonly<Record<string, FieldSpec>>)[rule.field];
    if (!field || field.type === 'json' || field.type === 'u64') throw new Error(`catalog ${kind}.problem: "${rule.field}" is not an integer field of ${kind}`);
    return { kind, code: spec.code, rule, column: field.column };
  });

const RULE_BY_KIND: ReadonlyMap<string, ProblemRule> = new Map(PROBLEM_RULES.map((r) => [r.kind, r.rule]));

/** Kinds that may be problems (some or all of their events), in code order. */
export const PROBLEM_KINDS: readonly EventKind[] = PROBLEM_RULES.map((r) => r.kind);

/** Kinds whose every event is a problem (shown in the problem colour wherever a kind is listed). */
export const ALWAYS_PROBLEM_KINDS: readonly EventKind[] = PROBLEM_RULES.filter((r) => r.rule.when === 'always').map((r) => r.kind);

/** What counts as a problem, in words, from the rules' docs: "faults, device errors (…), …". */
export const PROBLEM_SUMMARY: string = PROBLEM_RULES.map((r) => r.rule.doc).join(', ');

/** An integer field value as a number (fields arrive live as numbers, decoded as numbers; tolerate bigint/strings). */
function intOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && !isNaN(Number(v))) return Number(v);
  return undefined;
}

/**
 * True when an event of `kind` with `fields` (live payload or decoded EventRow fields; an absent
 * optional field is undefined or null) is a problem by its kind's rule. Unknown kinds are not.
 */
export function isProblemEvent(kind: string, fields: Readonly<Record<string, unknown>>): boolean {
  const rule = RULE_BY_KIND.get(kind);
  if (rule === undefined) return false;
  switch (rule.when) {
    case 'always':
      return true;
    case 'equals':
      return intOf(fields[rule.field]) === rule.value;
    case 'absent-or-not': {
      const v = fields[rule.field];
      return v === undefined || v === null || intOf(v) !== rule.value;
    }
  }
}

/** The family of each declared kind (catalog `family`), by kind name. */
export const KIND_FAMILY: Readonly<Record<EventKind, EventFamily>> = Object.fromEntries(
  (Object.entries(EVENT_CATALOG) as [EventKind, KindSpec][]).map(([kind, spec]) => [kind, spec.family]),
) as Record<EventKind, EventFamily>;

/** The family of `kind`; undefined for kinds this build does not declare. */
export function familyOf(kind: string): EventFamily | undefined {
  return Object.hasOwn(KIND_FAMILY, kind) ? KIND_FAMILY[kind as EventKind] : undefined;
}

/** Kinds of each family, in code order (the UI shades a family's colour by position). */
export const KINDS_BY_FAMILY: ReadonlyMap<EventFamily, readonly EventKind[]> = (() => {
  const out = new Map<EventFamily, EventKind[]>();
  for (const [kind, spec] of (Object.entries(EVENT_CATALOG) as [EventKind, KindSpec][]).sort(([, a], [, b]) => a.code - b.code)) {
    let list = out.get(spec.family);
    if (!list) out.set(spec.family, (list = []));
    list.push(kind);
  }
  return out;
})();
