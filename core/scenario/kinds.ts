/**
 * Custom TypeBox kinds for scenario numbers.
 *
 * Scenario YAML is parsed with `intAsBigInt: true` so that addresses up to 0xffffffffffffffff stay
 * exact. A number in a scenario may therefore arrive as a bigint (plain or 0x… integer), a JS
 * number (never for integers, but kept for callers that build documents by hand) or a "0x…" hex
 * string. The two kinds below describe the *canonical* value after parsing:
 *
 * - `U64`  → bigint in [0, 2^64-1] (addresses, sizes, masks);
 * - `UInt` → JS number, an integer in [minimum, maximum] (IDs, counts; maximum ≤ 2^53-1).
 *
 * `Value.Check` accepts exactly the canonical values (registered in TypeRegistry below); the
 * scenario walker (validate.ts) converts input forms to them; `json-schema.ts` renders both kinds as
 * "integer or 0x… hex string" for Monaco.
 */
import { Kind, TypeRegistry, type SchemaOptions, type TSchema } from '@sinclair/typebox';

/** 2^64 - 1: the largest u64. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** A u64 value: bigint in [0, 2^64-1]. */
export interface TU64 extends TSchema {
  [Kind]: 'U64';
  static: bigint;
}

/** An unsigned integer held as a JS number, in [minimum, maximum]. */
export interface TUInt extends TSchema {
  [Kind]: 'UInt';
  static: number;
  minimum: number;
  maximum: number;
}

if (!TypeRegistry.Has('U64')) {
  TypeRegistry.Set<TU64>('U64', (_schema, value) => typeof value === 'bigint' && value >= 0n && value <= U64_MAX);
}
if (!TypeRegistry.Has('UInt')) {
  TypeRegistry.Set<TUInt>(
    'UInt',
    (schema, value) => typeof value === 'number' && Number.isInteger(value) && value >= schema.minimum && value <= schema.maximum,
  );
}

/** Schema of an unsigned 64-bit value (canonical: bigint). */
export function U64(options: SchemaOptions = {}): TU64 {
  return { ...options, [Kind]: 'U64' } as TU64;
}

/** Schema of an unsigned integer in [minimum, maximum] (canonical: number). */
export function UInt(minimum: number, maximum: number, options: SchemaOptions = {}): TUInt {
  return { ...options, [Kind]: 'UInt', minimum, maximum } as TUInt;
}

/** Result of reading an integer from a scenario value. */
export type IntRead = { ok: true; value: bigint } | { ok: false; message: string };

const HEX_RE = /^0x[0-9a-f]+$/i;

/**
 * Reads an integer written as a bigint, an integral JS number or a "0x…" hex string (any case).
 * Errors: `{ ok: false, message }` for any other value (the message says what was received).
 */
export function readInteger(value: unknown): IntRead {
  if (typeof value === 'bigint') return { ok: true, value };
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return { ok: true, value: BigInt(value) };
    return { ok: false, message: `expected an integer, got ${value}` };
  }
  if (typeof value === 'string') {
    const s = value.trim().replaceAll('_', '');
    if (HEX_RE.test(s)) return { ok: true, value: BigInt(s) };
    return { ok: false, message: `expected an integer or a "0x…" hex string, got "${value}"` };
  }
  return { ok: false, message: `expected an integer, got ${describeValue(value)}` };
}

/** Short description of a value's type for messages ("a string", "a list", …). */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string "${value}"`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (typeof value === 'bigint' || typeof value === 'number') return `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** Lowercase "0x…" hex text of a non-negative bigint or number. */
export function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/** The literal values a schema accepts when it is a Literal or a Union of only literals; otherwise null. */
export function literalValues(schema: TSchema): unknown[] | null {
  if (schema[Kind] === 'Literal') return [schema.const];
  if (schema[Kind] === 'Union') {
    const all: unknown[] = [];
    for (const v of schema.anyOf as TSchema[]) {
      const l = literalValues(v);
      if (!l) return null;
      all.push(...l);
    }
    return all;
  }
  return null;
}
