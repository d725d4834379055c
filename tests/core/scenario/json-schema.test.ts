import { describe, expect, test } from 'vitest';
import { scenarioJsonSchema, scenarioReferenceMarkdown, STEP_OPS } from '../../../core/scenario/index.ts';

type J = Record<string, unknown>;

/** Every object property in the JSON Schema, with its dotted path. */
function properties(schema: J, path = ''): [string, J][] {
  const out: [string, J][] = [];
  const props = schema.properties as Record<string, J> | undefined;
  if (props) {
    for (const [k, p] of Object.entries(props)) {
      out.push([path ? `${path}.${k}` : k, p]);
      out.push(...properties(p, path ? `${path}.${k}` : k));
    }
  }
  for (const key of ['anyOf', 'items'] as const) {
    const v = schema[key];
    const list = Array.isArray(v) ? v : v ? [v] : [];
    for (const s of list as J[]) out.push(...properties(s, path));
  }
  return out;
}

describe('scenarioJsonSchema', () => {
  const schema = scenarioJsonSchema();

  test('is plain JSON (no bigint, no symbols) and round-trips through JSON', () => {
    const text = JSON.stringify(schema);
    expect(JSON.parse(text)).toEqual(schema);
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(['name', 'viommu', 'steps']);
  });

  test('every property has a description and a markdownDescription (hover docs)', () => {
    const props = properties(schema);
    expect(props.length).toBeGreaterThan(60);
    const missing = props.filter(([, p]) => typeof p.description !== 'string' || typeof p.markdownDescription !== 'string').map(([k]) => k);
    expect(missing).toEqual([]);
  });

  test('u64 is an integer up to 2^64-1 or a hex string', () => {
    const steps = (schema.properties as Record<string, J>).steps;
    const variants = ((steps.items as J).anyOf as J[]).map((v) => v.properties as Record<string, J>);
    const map = variants.find((v) => 'map' in v)!.map as J;
    const vs = (map.properties as Record<string, J>)['virt-start'];
    expect(vs.anyOf).toEqual([
      { type: 'integer', minimum: 0, maximum: Number(0xffffffffffffffffn) },
      { type: 'string', pattern: '^0[xX][0-9a-fA-F]{1,16}$' },
    ]);
    expect(map.required).toEqual(['domain', 'virt-start', 'virt-end', 'phys-start', 'flags']);
    expect(map.additionalProperties).toBe(false);
  });

  test('one step variant per operation, each closed', () => {
    const steps = (schema.properties as Record<string, J>).steps;
    const variants = (steps.items as J).anyOf as J[];
    expect(variants.map((v) => (v.required as string[])[0])).toEqual([...STEP_OPS]);
    for (const v of variants) expect(v.additionalProperties).toBe(false);
  });

  test('enums carry their values', () => {
    const machine = (schema.properties as Record<string, J>).machine;
    expect(machine).toMatchObject({ type: 'string', enum: ['q35', 'virt'], default: 'q35' });
  });
});

describe('scenarioReferenceMarkdown', () => {
  const md = scenarioReferenceMarkdown();
  test('has one section per part and per step op', () => {
    expect(md.startsWith('## Scenario format\n')).toBe(true);
    for (const h of ['### Top level', '### `viommu`', '### `viommu.offer`', '### `driver`', '### `devices[]`', '### Steps']) expect(md).toContain(h);
    for (const op of STEP_OPS) expect(md).toContain(`#### \`${op}\``);
  });
  test('tables render types, defaults and descriptions', () => {
    expect(md).toContain('| `aw-bits` | integer 32–64 | — | QEMU `aw-bits`');
    expect(md).toContain('| `machine` | `q35` \\| `virt` | `q35` |');
    expect(md).toContain('| `virt-start` | u64 | required | First IOVA (u64). |');
    expect(md).toContain('| `ops` | list of `map` \\| `dma` \\| `unmap` | `[map, dma, unmap]` |');
  });
  test('is deterministic', () => {
    expect(scenarioReferenceMarkdown()).toBe(md);
  });
});
