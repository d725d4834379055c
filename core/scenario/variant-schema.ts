/**
 * The schema of one `variants:` item (variants.ts expands them): a name and overrides of the
 * scenario's top-level keys. It exists for the JSON Schema (Monaco's completion and hover) and the
 * README's format reference; the walker never walks a variant on its own — it walks each merged
 * document, so a variant's mistakes are reported where they are, with the merged document's rules.
 *
 * Overrides merge into the base as JSON Merge Patch does (RFC 7386): maps merge key by key, any
 * other value (lists, scalars) replaces, `null` removes the key. So an override map may leave out
 * keys the base has (`viommu: {aw-bits: 39}` keeps the base's `model`): deepPartial makes every
 * map key optional at every depth, and drops defaults (an omitted key keeps the base's value, not
 * the schema's default). List items are whole values (a list replaces), so they stay as they are.
 */
import { Kind, OptionalKind, Type, type TSchema } from '@sinclair/typebox';

/** Longest variant name, in characters (it is shown as `<scenario> [<variant>]` in run lists). */
export const MAX_VARIANT_NAME = 64;

/**
 * A variant name: no brackets (the run is named `<scenario> [<variant>]`), no control characters,
 * no spaces at either end.
 */
export const VARIANT_NAME_PATTERN = '^[^\\s\\[\\]]([^\\[\\]\\x00-\\x1f]*[^\\s\\[\\]])?$';

/** A copy of `schema` with every map key optional at every depth and no defaults (see the file comment). */
export function deepPartial(schema: TSchema): TSchema {
  const copy: TSchema = { ...schema };
  delete copy.default;
  switch (schema[Kind]) {
    case 'Object': {
      const props = schema.properties as Record<string, TSchema>;
      copy.properties = Object.fromEntries(Object.entries(props).map(([k, p]) => [k, Type.Optional(deepPartial(p))]));
      delete copy.required;
      return copy;
    }
    case 'Union':
      // Literal unions (enums) are values: keep them whole.
      if ((schema.anyOf as TSchema[]).every((v) => v[Kind] === 'Literal')) return copy;
      copy.anyOf = (schema.anyOf as TSchema[]).map((v) => {
        const partial = deepPartial(v);
        // An override may leave out the discriminator (`viommu: {aw-bits: 39}` keeps the base's
        // model), so it can fit several branches: titled by their discriminator value, the
        // editor's hover names them ("virtio-iommu || intel-iommu") instead of repeating one title.
        const key = schema.discriminator as string | undefined;
        const tag = key !== undefined ? (v.properties as Record<string, TSchema> | undefined)?.[key] : undefined;
        if (tag?.[Kind] === 'Literal' && partial.title === undefined) partial.title = `${String(tag.const)} override`;
        return partial;
      });
      return copy;
    default:
      return copy;
  }
}

/**
 * The schema of one `variants:` item from the scenario's top-level properties: `name` and every key
 * a variant may override (all but `name`, `steps` and `variants`), deep-partial.
 */
export function variantSchema(topLevel: Record<string, TSchema>): TSchema {
  const overrides = Object.fromEntries(
    Object.entries(topLevel)
      .filter(([k]) => k !== 'name' && k !== 'steps' && k !== 'variants')
      .map(([k, p]) => {
        const partial = deepPartial(p);
        partial[OptionalKind] = 'Optional';
        return [k, partial];
      }),
  );
  return Type.Object(
    {
      name: Type.String({
        minLength: 1,
        maxLength: MAX_VARIANT_NAME,
        pattern: VARIANT_NAME_PATTERN,
        description: 'The variant\'s name: its run is named "<scenario name> [<variant name>]". Unique in the scenario; no brackets.',
        errorMessage: 'a variant name has no brackets, no control characters and no spaces at either end',
      }),
      ...overrides,
    },
    {
      additionalProperties: false,
      description:
        'One configuration of the scenario: its name, and overrides merged into the base document (maps merge key by key, lists and scalars replace, `null` removes a key). `name`, `steps` and `variants` cannot be overridden.',
    },
  );
}
