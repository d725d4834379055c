/**
 * The scenario JSON Schema for editors (Monaco through monaco-yaml), generated from the TypeBox
 * schema in schema.ts so the editor's completion and hover never drift from the validator.
 *
 * Draft-07. Every property carries `description` and `markdownDescription` (with its default).
 * u64 / u32 numbers are "an integer in range, or a 0x… hex string". Note: JSON numbers are
 * doubles, so the u64 `maximum` 18446744073709551615 is written as the nearest double; the
 * lab's own validator is exact.
 */
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { U64_MAX, literalValues } from './kinds.ts';
import { ScenarioSchema } from './schema.ts';

/** A plain JSON Schema object (no symbols, no bigint): safe for JSON.stringify. */
export type JsonSchema = { [key: string]: unknown };

const HEX_PATTERN = '^0[xX][0-9a-fA-F]{1,16}$';
const U64_MAX_DOUBLE = Number(U64_MAX);

function jsonDefault(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function annotate(out: JsonSchema, schema: TSchema): JsonSchema {
  // Titles label the completion items Monaco offers for union variants ("map step").
  if (typeof schema.title === 'string') out.title = schema.title;
  if (typeof schema.description === 'string') {
    out.description = schema.description;
    out.markdownDescription = schema.default !== undefined ? `${schema.description}\n\nDefault: \`${JSON.stringify(jsonDefault(schema.default))}\`` : schema.description;
  }
  if (schema.default !== undefined) out.default = jsonDefault(schema.default);
  return out;
}

/** Converts one TypeBox schema node (as used by the scenario schema) to JSON Schema. */
export function toJsonSchema(schema: TSchema): JsonSchema {
  const lits = literalValues(schema);
  if (lits) {
    const out: JsonSchema = lits.length === 1 ? { const: lits[0], enum: lits } : { enum: lits };
    if (lits.every((l) => typeof l === 'string')) out.type = 'string';
    return annotate(out, schema);
  }
  switch (schema[Kind]) {
    case 'Object': {
      const props = schema.properties as Record<string, TSchema>;
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [k, p] of Object.entries(props)) {
        properties[k] = toJsonSchema(p);
        if (p[OptionalKind] !== 'Optional') required.push(k);
      }
      const out: JsonSchema = { type: 'object', properties, additionalProperties: false };
      if (required.length) out.required = required;
      return annotate(out, schema);
    }
    case 'Array': {
      const out: JsonSchema = { type: 'array', items: toJsonSchema(schema.items as TSchema) };
      if (schema.minItems !== undefined) out.minItems = schema.minItems;
      return annotate(out, schema);
    }
    case 'Tuple': {
      const items = (schema.items as TSchema[]).map(toJsonSchema);
      return annotate({ type: 'array', items, minItems: items.length, maxItems: items.length, additionalItems: false }, schema);
    }
    case 'String': {
      const out: JsonSchema = { type: 'string' };
      if (schema.minLength !== undefined) out.minLength = schema.minLength;
      if (schema.pattern !== undefined) out.pattern = schema.pattern;
      return annotate(out, schema);
    }
    case 'Boolean':
      return annotate({ type: 'boolean' }, schema);
    case 'U64':
      return annotate(
        {
          anyOf: [
            // The nearest double to 2^64 - 1 (2^64): JSON numbers cannot say it exactly.
            { type: 'integer', minimum: 0, maximum: U64_MAX_DOUBLE },
            { type: 'string', pattern: HEX_PATTERN },
          ],
        },
        schema,
      );
    case 'UInt':
      return annotate(
        {
          anyOf: [
            { type: 'integer', minimum: schema.minimum, maximum: schema.maximum },
            { type: 'string', pattern: HEX_PATTERN },
          ],
        },
        schema,
      );
    case 'Union':
      return annotate({ anyOf: (schema.anyOf as TSchema[]).map(toJsonSchema) }, schema);
    default:
      throw new Error(`scenario schema: no JSON Schema for kind ${String(schema[Kind])}`);
  }
}

/**
 * The JSON Schema (draft-07) of a scenario document, for Monaco / monaco-yaml. A fresh plain
 * object on each call (callers may mutate it).
 */
export function scenarioJsonSchema(): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://iommu-lab.invalid/scenario.schema.json',
    title: 'IOMMU Lab scenario',
    ...toJsonSchema(ScenarioSchema),
  };
}
