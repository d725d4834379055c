/**
 * Encoding of catalog events into `events` rows and back, driven by the event catalog.
 *
 * u64 fields: stored as the two's-complement reinterpretation BigInt.asIntN(64, v) (SQLite
 * INTEGER is signed 64-bit) and read back, with safeIntegers, as BigInt.asUintN(64, v). Values
 * below 2^53 are bound as JS numbers (exact, and cheaper to bind than a bigint).
 * json fields: JSON text; a bigint anywhere inside becomes a "0x…" hex string.
 */
import { EVENT_CATALOG, KIND_BY_CODE, type Column, type EventKind, type FieldSpec, type FieldType } from '../../core/events/catalog.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** u64 (bigint in [0, 2^64-1]) → SQLite INTEGER bind value (number when exact, else signed bigint). */
export function u64ToSql(v: bigint): number | bigint {
  return v >= 0n && v <= MAX_SAFE ? Number(v) : BigInt.asIntN(64, v);
}

/** SQLite INTEGER read with safeIntegers → u64 bigint. */
export function sqlToU64(v: bigint | number): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

/** u64 → the contract's "0x…" lowercase hex string. */
export function hex64(v: bigint): string {
  return '0x' + v.toString(16);
}

/** JSON.stringify replacer: bigint → "0x…" hex (u64 convention of the contract and catalog). */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? hex64(BigInt.asUintN(64, value)) : value;
}

/**
 * JSON text of `value` with bigints as "0x…" hex strings. Tries the plain (replacer-free, several
 * times faster) JSON.stringify first: it throws a TypeError only when a bigint is inside.
 */
export function toJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify(value, bigintReplacer);
  }
}

/** One catalog field with its storage column. */
export interface FieldPlan {
  readonly name: string;
  readonly type: FieldType;
  readonly column: Column;
  readonly optional: boolean;
}

/** How one kind is stored: its code and fields in catalog order. */
export interface KindPlan {
  readonly kind: EventKind;
  readonly code: number;
  readonly fields: readonly FieldPlan[];
}

/** Storage plan of every kind, by name. */
export const KIND_PLANS: Readonly<Record<EventKind, KindPlan>> = Object.fromEntries(
  Object.entries(EVENT_CATALOG).map(([kind, spec]) => [
    kind,
    {
      kind: kind as EventKind,
      code: spec.code,
      fields: (Object.entries(spec.fields) as [string, FieldSpec][]).map(([name, f]) => ({ name, type: f.type, column: f.column, optional: !!f.optional })),
    },
  ]),
) as unknown as Record<EventKind, KindPlan>;

/** Storage plan by kind code (index = code; undefined for unknown codes). */
export const PLAN_BY_CODE: readonly (KindPlan | undefined)[] = KIND_BY_CODE.map((k) => (k ? KIND_PLANS[k] : undefined));

/** A raw `events` row as read with safeIntegers (integers are bigint). */
export interface RawEventRow {
  seq: bigint;
  step: bigint;
  kind: bigint;
  status: bigint | null;
  domain: bigint | null;
  endpoint: bigint | null;
  a: bigint | null;
  b: bigint | null;
  c: bigint | null;
  flags: bigint | null;
  aux: bigint | null;
  data: string | null;
  used: bigint | null;
  /** Envelope (schema version 6), when selected: component code (0 = the run's own, NULL = stored before), time in ns. */
  comp?: bigint | null;
  time?: bigint | null;
  /** An imported event's line (schema version 9), when selected. */
  line?: bigint | null;
}

/**
 * Decodes a raw row's catalog fields: u64 → "0x…" hex string, u8/u32 → number, json → parsed
 * value; absent optional fields (NULL) are left out. Unknown kind codes (a database written by a
 * newer catalog) decode as kind "unknown-<code>" with no fields.
 */
export function decodeFields(row: RawEventRow): { kind: string; fields: Record<string, unknown> } {
  const code = Number(row.kind);
  const plan = PLAN_BY_CODE[code];
  if (!plan) return { kind: `unknown-${code}`, fields: {} };
  const fields: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const v = row[f.column];
    if (v === null || v === undefined) continue;
    if (f.type === 'json') fields[f.name] = JSON.parse(v as string);
    else if (f.type === 'u64') fields[f.name] = hex64(sqlToU64(v as bigint));
    else fields[f.name] = Number(v);
  }
  return { kind: plan.kind, fields };
}
