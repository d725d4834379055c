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
import { EXPECT_IN } from './variants.ts';

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

/**
 * "An integer in [minimum, maximum], or a 0x… hex string" as ONE schema, not an anyOf of two.
 * JSON Schema applies `minimum`/`maximum` to numbers only and `pattern` to strings only, so this
 * accepts the same values. It matters for hover: yaml-language-server titles a value that matches
 * every branch of an anyOf by joining the branch titles with " || ", and untitled branches borrow
 * the nearest ancestor's title, so every number in a step hovered as "map step || map step".
 */
function integerOrHex(minimum: number, maximum: number): JsonSchema {
  return { type: ['integer', 'string'], minimum, maximum, pattern: HEX_PATTERN, patternErrorMessage: 'Expected an integer or a "0x…" hex string.' };
}

/**
 * The JSON Schema branches of a Union, made mutually exclusive where the scenario's own reading
 * is: a plain string branch beside an integer branch (an endpoint: device name, PCI address or raw
 * ID) does not take "0x…" hex strings, which are integers (model.ts reads them as raw IDs). A value
 * that matched both would hover with the step's title twice (see integerOrHex).
 */
function exclusiveVariants(variants: TSchema[]): JsonSchema[] {
  const hasInteger = variants.some((v) => v[Kind] === 'U64' || v[Kind] === 'UInt');
  return variants.map((v) => {
    const out = toJsonSchema(v);
    if (hasInteger && v[Kind] === 'String' && v.pattern === undefined) out.not = { pattern: HEX_PATTERN };
    return out;
  });
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
    case 'UInt':
      return annotate(integerOrHex(schema[Kind] === 'U64' ? 0 : (schema.minimum as number), schema[Kind] === 'U64' ? U64_MAX_DOUBLE : (schema.maximum as number)), schema);
    case 'Union':
      return annotate({ anyOf: exclusiveVariants(schema.anyOf as TSchema[]) }, schema);
    default:
      throw new Error(`scenario schema: no JSON Schema for kind ${String(schema[Kind])}`);
  }
}

/**
 * The JSON Schema (draft-07) of a scenario document, for Monaco / monaco-yaml. A fresh plain
 * object on each call (callers may mutate it).
 */
export function scenarioJsonSchema(): JsonSchema {
  const out: JsonSchema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://iommu-lab.invalid/scenario.schema.json',
    title: 'IOMMU Lab scenario',
    ...toJsonSchema(ScenarioSchema),
  };
  // A step's `expect-in: {<variant>: <expect>}` (variants.ts) is not in the TypeBox schema: the
  // walker never sees it (the expansion replaces it by `expect`), but the editor should know it.
  const steps = (out.properties as Record<string, JsonSchema>).steps.items as JsonSchema;
  for (const v of steps.anyOf as JsonSchema[]) {
    const props = v.properties as Record<string, JsonSchema>;
    const description = 'Per-variant expectations (with `variants:`): `{<variant name>: <expect>}`; in a variant named here, the entry replaces `expect` (`null`: no expectation).';
    props[EXPECT_IN] = { type: 'object', description, markdownDescription: description, additionalProperties: { anyOf: [props.expect, { type: 'null' }] } };
  }
  return out;
}
