import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { scenarioJsonSchema, scenarioReferenceMarkdown, STEP_OPS } from '../../../core/scenario/index.ts';
import { yamlLanguageService } from './yaml-language-server.ts';

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
    expect(schema.required).toEqual(['name', 'steps']);
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
    // One schema, not an anyOf: minimum/maximum apply to numbers only, pattern to strings only.
    expect(vs).toMatchObject({ type: ['integer', 'string'], minimum: 0, maximum: Number(0xffffffffffffffffn), pattern: '^0[xX][0-9a-fA-F]{1,16}$' });
    expect(vs.anyOf).toBeUndefined();
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

/** A hover or completion text that says the same thing twice around "||" ("map step || map step"). */
function repeats(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const parts = line.replace(/^#+\s*/, '').split(/\s*\|\|\s*/);
    if (parts.length > 1 && new Set(parts).size < parts.length) out.push(line);
  }
  return out;
}

const EXAMPLES = join(import.meta.dirname, '../../../examples');

describe('hover and completion in the editor (monaco-yaml with this schema)', () => {
  const schema = scenarioJsonSchema();
  const doc = [
    'name: hover',
    'viommu: {model: virtio-iommu}',
    'devices:',
    '  - {name: nic, bdf: "00:01.0"}',
    'steps:',
    '  - attach: {domain: 1, endpoint: nic}',
    '  - map: {domain: 1, virt-start: 0x1000, virt-end: 0x1fff, phys-start: 0, flags: [read]}',
    '  - probe: {endpoint: "0x8"}',
    '',
  ].join('\n');

  test('a number in a step hovers with the step title once and its own description', async () => {
    const ls = await yamlLanguageService(doc, schema);
    const virtStart = await ls.hover(6, 22);
    expect(virtStart).toMatch(/^#### map step\n\nFirst IOVA \(u64\)\./);
    const domain = await ls.hover(5, 15);
    expect(domain).toMatch(/^#### attach step\n\nDomain ID \(u32\)\./);
    // A quoted hex endpoint is a raw endpoint ID, not also a device name.
    const hexEndpoint = await ls.hover(7, 25);
    expect(hexEndpoint).toContain('A raw endpoint ID');
    expect(repeats(hexEndpoint ?? '')).toEqual([]);
  });

  test('no hover over any word of any example repeats a title', async () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(3);
    const bad: string[] = [];
    let hovers = 0;
    // Lines that differ only in their numbers hover alike: each such line shape is hovered once
    // (the host examples repeat `- iommufd: {op: ioas-map, …}` with other addresses).
    const shapes = new Set<string>();
    for (const f of files) {
      const text = readFileSync(join(EXAMPLES, f), 'utf8');
      const ls = await yamlLanguageService(text, schema);
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const code = lines[i].replace(/#.*$/, '');
        const shape = code.replace(/0x[0-9a-f]+|\b\d+\b/gi, 'N');
        if (shapes.has(shape)) continue;
        shapes.add(shape);
        for (const m of code.matchAll(/[A-Za-z0-9_"'.:-]+/g)) {
          const h = await ls.hover(i, m.index + 1);
          if (h === null) continue;
          hovers++;
          for (const r of repeats(h)) bad.push(`${f}:${i + 1}:${m.index + 1}: ${r}`);
        }
      }
    }
    expect(hovers).toBeGreaterThan(200);
    expect(bad).toEqual([]);
    // Each hover re-validates the whole document (yaml-language-server): ~70 ms on the long host
    // examples on a loaded machine, so the walk gets more than the default 60 s.
  }, 240_000);

  test('completion items do not repeat a title', async () => {
    const text = doc.replace('  - probe: {endpoint: "0x8"}', '  - map:\n      domain: 1\n      virt-start: ');
    const ls = await yamlLanguageService(text, schema);
    const where: [number, number][] = [
      [9, 18], // after virt-start:
      [8, 6], // a key inside map
      [7, 4], // the step op
    ];
    const bad: string[] = [];
    for (const [l, c] of where) {
      for (const item of await ls.complete(l, c)) {
        const doc = typeof item.documentation === 'string' ? item.documentation : (item.documentation?.value ?? '');
        for (const r of [...repeats(item.label), ...repeats(doc), ...repeats(item.detail ?? '')]) bad.push(`${l}:${c} ${item.label}: ${r}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('host steps in the editor (issue 7)', () => {
  test("completing an iommufd step's op offers every op, and a key inside it the op's uAPI arguments", async () => {
    const schema = scenarioJsonSchema();
    const text = 'name: h\nsteps:\n  - iommufd:\n      op: \n';
    const ls = await yamlLanguageService(text, schema);
    const ops = (await ls.complete(3, 10)).map((i) => i.label);
    expect(ops).toEqual(expect.arrayContaining(['ioas-alloc', 'ioas-map', 'hwpt-get-dirty-bitmap', 'destroy']));
    const text2 = 'name: h\nsteps:\n  - iommufd:\n      op: ioas-map\n      \n';
    const keys = (await (await yamlLanguageService(text2, schema)).complete(4, 6)).map((i) => i.label);
    expect(keys).toEqual(expect.arrayContaining(['ioas', 'iova', 'length', 'flags', 'out']));
    expect(keys).not.toContain('num-iovas');
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
