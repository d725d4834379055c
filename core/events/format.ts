/**
 * One-line human text for each event kind (the run view, the CLI, exports), plus PCI address
 * helpers (re-exported from text.ts).
 *
 * Each kind's text is declared with the kind (core/events/catalog.ts `format`); this module only
 * dispatches. Events reach it either live (u64 fields are bigint) or decoded from storage / the
 * contract (u64 fields are "0x…" hex strings); both are accepted everywhere.
 */
import { EVENT_CATALOG, type KindSpec } from './catalog.ts';

export {
  bdfToString,
  faultFlagsText,
  faultReasonName,
  hexOf,
  mapFlagsText,
  parseBdf,
  requestTypeName,
  statusName,
  u64Of,
} from './text.ts';

const FORMATS: ReadonlyMap<string, KindSpec['format']> = new Map((Object.entries(EVENT_CATALOG) as [string, KindSpec][]).map(([k, s]) => [k, s.format]));

/**
 * One line of text for an event of `kind` with catalog `fields` (u64 as bigint or "0x…"), by the
 * kind's declared format. Examples: `MAP domain=1 [0x0-0x9] -> 0xc1000 R`,
 * `FAULT MAPPING ep=00:03.0 addr=0x4 flags=R|ADDRESS`, `REQUEST MAP → RANGE (used 4)`. Unknown
 * kinds give "kind key=value …". Never throws.
 */
export function formatEvent(kind: string, fields: Record<string, unknown>): string {
  const format = FORMATS.get(kind);
  if (format) return format(fields);
  const parts = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'bigint' ? '0x' + v.toString(16) : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [kind, ...parts].join(' ');
}

/** True for kinds the catalog declares (guards exporters that format stored rows). */
export function isKnownKind(kind: string): boolean {
  return Object.hasOwn(EVENT_CATALOG, kind);
}
