/**
 * `variants:` (core/scenario/variants.ts): expansion, the merge rules (maps merge key by key,
 * lists and scalars replace, null removes), refusals with their line:column, where a merged
 * document's problems are reported, `expect-in`, and each variant's text standing alone.
 */
import { describe, expect, test } from 'vitest';
import { formatDiagnostic, parseScenario, scenarioJsonSchema } from '../../../core/scenario/index.ts';
import { MAX_VARIANT_STEPS } from '../../../core/scenario/variants.ts';
import { runConfig } from '../../../core/run/config.ts';
import { scenarioUnits } from '../../../core/run/dma.ts';

const BASE = `# Strict against lazy.
name: sl
description: base text
viommu: {model: virtio-iommu, aw-bits: 48, granule: 4k}
guest: {iommu-dma: strict, cpus: 2}
devices:
  - {name: nic0, bdf: "00:03.0"}
  - {name: disk0, bdf: "00:04.0"}
steps:
  - dma-map: {device: disk0, size: 0x1000, dir: from-device, out: d0}
    expect: {iova: 0xfffff000}
  - dma-unmap: {handle: d0}
  - dma: {endpoint: disk0, addr: 0xfffff000, size: 512, access: write}
    expect: {fault: {reason: MAPPING}}
`;

function parse(text: string) {
  const r = parseScenario(text, 'v.yaml');
  return { ...r, lines: r.diagnostics.map(formatDiagnostic) };
}

/** line:column of the first occurrence of `needle` in `text` (1-based), after `from`. */
function pos(text: string, needle: string, from = ''): string {
  const i = text.indexOf(needle, from ? text.indexOf(from) : 0);
  if (i < 0) throw new Error(`not found: ${needle}`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

describe('variants: expansion', () => {
  test('without variants nothing changes: no `variants` in the result', () => {
    const r = parse(BASE);
    expect(r.lines).toEqual([]);
    expect(r.variants).toBeUndefined();
    expect(r.scenario!.name).toBe('sl');
  });

  test('one variant per item, in order, named "<scenario> [<variant>]"; the first is the result\'s scenario', () => {
    const r = parse(`${BASE}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n  - {name: aw-39, viommu: {aw-bits: 39}}\n`);
    expect(r.lines).toEqual([]);
    expect(r.variants!.map((v) => [v.variant, v.name, v.scenario.name])).toEqual([
      ['strict', 'sl [strict]', 'sl [strict]'],
      ['lazy', 'sl [lazy]', 'sl [lazy]'],
      ['aw-39', 'sl [aw-39]', 'sl [aw-39]'],
    ]);
    expect(r.scenario).toBe(r.variants![0].scenario);
  });

  test('maps merge key by key: the keys an override leaves out keep the base\'s values', () => {
    const r = parse(`${BASE}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n  - {name: aw-39, viommu: {aw-bits: 39}}\n`);
    const [strict, lazy, aw39] = r.variants!.map((v) => v.scenario);
    expect(strict.guest!.iommuDma).toBe('strict');
    expect(lazy.guest!.iommuDma).toBe('lazy');
    expect(lazy.guest!.cpus).toBe(2);
    expect(lazy.props.awBits).toBe(48);
    expect(strict.props.awBits).toBe(48);
    expect(aw39.props.awBits).toBe(39);
    expect(aw39.viommuModel).toBe('virtio-iommu');
    expect(aw39.guest!.iommuDma).toBe('strict');
    expect(aw39.props.granule).toBe('4k');
  });

  test('lists and scalars replace; null removes a key', () => {
    const r = parse(`${BASE}variants:\n  - {name: a}\n  - name: b\n    description: other text\n    devices: [{name: nic0, bdf: "00:03.0"}, {name: disk0, bdf: "00:05.0"}]\n    guest: {cpus: null}\n  - {name: c, description: null}\n`);
    expect(r.lines).toEqual([]);
    const [a, b, c] = r.variants!.map((v) => v.scenario);
    expect(a.devices.map((d) => d.bdf)).toEqual(['00:03.0', '00:04.0']);
    expect(b.devices.map((d) => d.bdf)).toEqual(['00:03.0', '00:05.0']);
    expect(b.doc.description).toBe('other text');
    expect(b.doc.guest).toMatchObject({ 'iommu-dma': 'strict', cpus: 1 });
    expect(a.guest!.cpus).toBe(2);
    expect(b.guest!.cpus).toBe(1);
    expect(c.doc.description).toBeUndefined();
    expect(a.doc.description).toBe('base text');
  });

  test('each variant\'s text is a scenario of its own: no variants, its name, its overrides, its step lines', () => {
    const text = `${BASE}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n`;
    const r = parse(text);
    for (const v of r.variants!) {
      expect(v.text).not.toMatch(/variants:/);
      expect(v.text.startsWith(`# Variant "${v.variant}" of v.yaml: the scenario with this variant's overrides merged in.\n`)).toBe(true);
      expect(v.text).toContain('\n# Strict against lazy.\n');
      const again = parse(v.text);
      expect(again.lines).toEqual([]);
      expect(again.variants).toBeUndefined();
      expect(again.scenario!.name).toBe(v.name);
      expect(again.scenario!.guest).toEqual(v.scenario.guest);
      // Step lines are lines of the variant's text (what its run stores and shows).
      const lines = v.text.split('\n');
      expect(v.scenario.steps.map((s) => lines[s.line - 1].trim().split(':')[0])).toEqual(['- dma-map', '- dma-unmap', '- dma']);
    }
    expect(r.variants![1].text).toContain('guest: {iommu-dma: lazy, cpus: 2}');
    expect(r.variants![0].text).toContain('size: 0x1000');
  });

  test('merged (no parse of the text) and scenario (the text parsed) agree but for line numbers', () => {
    const r = parse(`${BASE}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n`);
    for (const v of r.variants!) {
      expect(runConfig(v.merged)).toEqual(runConfig(v.scenario));
      expect(scenarioUnits(v.merged)).toBe(scenarioUnits(v.scenario));
      expect(v.merged.name).toBe(v.name);
      expect(v.merged.steps.map((s) => s.op)).toEqual(v.scenario.steps.map((s) => s.op));
    }
    // merged: lines of the file as written; scenario: lines of the variant's text.
    expect(r.variants![1].merged.steps[0].line).toBe(10);
    expect(r.variants![1].scenario.steps[0].line).not.toBe(10);
  });

  test('aliases are expanded in a variant\'s text (an override may use the base\'s anchors)', () => {
    const text = BASE.replace('guest: {iommu-dma: strict, cpus: 2}', 'guest: &g {iommu-dma: strict, cpus: 2}') + 'extra: 1\n';
    const withVariants = text.replace('extra: 1\n', 'variants:\n  - {name: a, guest: *g}\n  - {name: b, guest: {iommu-dma: lazy}}\n');
    const r = parse(withVariants);
    expect(r.lines).toEqual([]);
    for (const v of r.variants!) {
      expect(v.text).not.toMatch(/[&*]g\b/);
      expect(parse(v.text).lines).toEqual([]);
    }
    expect(r.variants![0].scenario.guest!.iommuDma).toBe('strict');
  });
});

describe('variants: refusals, at the key', () => {
  const V = (items: string) => `${BASE}variants:\n${items}`;

  test('steps and variants cannot be overridden', () => {
    const text = V('  - {name: a}\n  - {name: b, steps: []}\n  - {name: c, variants: []}\n');
    const r = parse(text);
    expect(r.scenario).toBeNull();
    expect(r.variants).toBeUndefined();
    expect(r.lines).toEqual([
      `v.yaml:${pos(text, 'steps: []')}: variants.1: "steps" cannot be overridden: every variant runs the same steps (a step's \`expect-in: {<variant>: …}\` sets its expectation in one variant)`,
      `v.yaml:${pos(text, 'variants: []')}: variants.2: "variants" cannot be overridden: a variant cannot have variants`,
    ]);
  });

  test('an unknown key lists what a variant may override', () => {
    const text = V('  - {name: a, viomu: {aw-bits: 39}}\n');
    expect(parse(text).lines).toEqual([
      `v.yaml:${pos(text, 'viomu')}: variants.0: unknown key "viomu"; a variant has a name and overrides any of: description, machine, gic-version, viommu, host, backend, kernel, guest, driver, devices`,
    ]);
  });

  test('names: required, non-empty, unique, no brackets', () => {
    const text = V('  - {name: a}\n  - {guest: {cpus: 1}}\n  - {name: ""}\n  - {name: a}\n  - {name: "x]"}\n');
    expect(parse(text).lines).toEqual([
      `v.yaml:${pos(text, '{guest')}: variants.1: missing required key "name" (the variant's name)`,
      `v.yaml:${pos(text, '""')}: variants.2.name: expected the variant's name (a non-empty string), got the string ""`,
      `v.yaml:${pos(text, 'a}', '  - {name: "')}: variants.3.name: duplicate variant name "a" (first on line ${pos(text, 'a}').split(':')[0]})`,
      `v.yaml:${pos(text, '"x]"')}: variants.4.name: "x]" is invalid: a variant name has no brackets, no control characters and no spaces at either end`,
    ]);
  });

  test('all variants together have at most MAX_VARIANT_STEPS steps to check (reported at the variants key)', () => {
    const n = MAX_VARIANT_STEPS / 5 + 1;
    const steps = '  - read-config: {}\n'.repeat(n);
    const text = `name: big\nsteps:\n${steps}variants: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}]\n`;
    // Refused before any variant is validated.
    expect(parse(text).lines).toEqual([`v.yaml:${n + 3}:1: variants: 5 variants × ${n.toLocaleString('en-US')} steps = ${(5 * n).toLocaleString('en-US')} steps to check; at most ${MAX_VARIANT_STEPS.toLocaleString('en-US')} (use a workload step for bulk operations)`]);
  });

  test('variants must be a non-empty list of maps', () => {
    expect(parse(`${BASE}variants: strict\n`).lines).toEqual([`v.yaml:${pos(`${BASE}variants: strict\n`, 'strict\n', 'variants')}: variants: expected a list of variants ({name: …, <overrides>}), got the string "strict"`]);
    expect(parse(`${BASE}variants: []\n`).lines).toEqual([`v.yaml:${pos(`${BASE}variants: []\n`, '[]')}: variants: expected at least one variant`]);
    const text = V('  - lazy\n');
    expect(parse(text).lines).toEqual([`v.yaml:${pos(text, 'lazy\n', 'variants')}: variants.0: expected a map {name: …, <overrides>}, got the string "lazy"`]);
  });
});

describe('variants: a merged document\'s problems', () => {
  test('a problem from an override is reported in the override, prefixed with the variant', () => {
    const text = `${BASE}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazzy}}\n  - {name: wide, viommu: {aw-bits: 99}}\n`;
    const r = parse(text);
    expect(r.scenario).toBeNull();
    expect(r.lines).toEqual([
      `v.yaml:${pos(text, 'lazzy')}: variant "lazy": guest.iommu-dma: expected one of strict, lazy; got the string "lazzy"`,
      `v.yaml:${pos(text, '99')}: variant "wide": viommu.aw-bits: 99 is out of range; expected an integer from 32 to 64`,
    ]);
  });

  test('a problem of the base that an override brings out is reported where the base has it', () => {
    // granule 4k is fine for virtio-iommu; intel-iommu has no granule: the base's key is blamed.
    const text = `${BASE}variants:\n  - {name: virtio}\n  - {name: intel, viommu: {model: intel-iommu, aw-bits: 39}}\n`;
    // (and the guest steps, which need virtio-iommu, where they are)
    expect(parse(text).lines.slice(0, 2)).toEqual([
      `v.yaml:${pos(text, 'granule')}: variant "intel": viommu: unknown key "granule"; allowed: model, aw-bits, caching-mode, x-scalable-mode, x-flts`,
      `v.yaml:${pos(text, '{iommu-dma')}: variant "intel": guest: the guest DMA layer: it needs viommu model virtio-iommu (intel-iommu DMA remapping is not modelled yet)`,
    ]);
  });

  test('a problem every variant has is the base\'s: reported once, without a variant', () => {
    const text = `${BASE.replace('size: 512', 'size: -1')}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n`;
    expect(parse(text).lines).toEqual([`v.yaml:${pos(text, '-1')}: steps.2.dma.size: -1 is negative; expected a 64-bit unsigned integer`]);
  });

  test('one variant alone is still prefixed (the base may be fine in another document)', () => {
    const text = `${BASE}variants:\n  - {name: only, guest: {cpus: 0}}\n`;
    expect(parse(text).lines).toEqual([`v.yaml:${pos(text, '0}}')}: variant "only": guest.cpus: 0 is out of range; expected an integer from 1 to 256`]);
  });
});

describe('variants: expect-in', () => {
  const STEPS = BASE.replace('    expect: {fault: {reason: MAPPING}}\n', '    expect: {fault: {reason: MAPPING}}\n    expect-in:\n      lazy: {translated: 0x40000000, stale: true}\n      none: null\n');

  test('a variant named in expect-in gets that expectation; null removes it; the others keep expect', () => {
    const r = parse(`${STEPS}variants:\n  - {name: strict}\n  - {name: lazy, guest: {iommu-dma: lazy}}\n  - {name: none}\n`);
    expect(r.lines).toEqual([]);
    const [strict, lazy, none] = r.variants!.map((v) => v.scenario.steps[2]);
    expect(strict.expect).toEqual({ kind: 'fault', reason: 2 });
    expect(lazy.expect).toEqual({ kind: 'translated', phys: 0x40000000n, stale: true });
    expect(none.expect).toBeUndefined();
    for (const v of r.variants!) expect(v.text).not.toContain('expect-in');
  });

  test('expect-in names variants that exist; its expectation is checked in its variant, at its position', () => {
    const text = `${STEPS.replace('stale: true', 'stale: maybe')}variants:\n  - {name: strict}\n  - {name: lazy}\n`;
    expect(parse(text).lines).toEqual([
      `v.yaml:${pos(text, 'none:')}: steps.2.expect-in: no variant named "none"; the variants are strict, lazy`,
    ]);
    const fixed = text.replace('      none: null\n', '');
    expect(parse(fixed).lines).toEqual([`v.yaml:${pos(fixed, 'maybe')}: variant "lazy": steps.2.expect.stale: expected true or false, got the string "maybe"`]);
  });

  test('without variants, expect-in is an unknown key', () => {
    const lines = parse(STEPS).lines;
    expect(lines[0]).toMatch(new RegExp(`^v\\.yaml:${pos(STEPS, 'expect-in')}: steps\\.2: unknown key "expect-in"`));
  });
});

describe('variants: the JSON Schema for the editor', () => {
  test('variants: a list of {name, overrides}; overrides are deep-partial (a viommu without model), steps/variants absent', () => {
    const s = scenarioJsonSchema() as { properties: Record<string, { items: { properties: Record<string, Record<string, unknown>>; required: string[] } }> };
    const item = s.properties.variants.items;
    expect(item.required).toEqual(['name']);
    expect(Object.keys(item.properties)).toEqual(['name', 'description', 'machine', 'gic-version', 'viommu', 'host', 'backend', 'kernel', 'guest', 'driver', 'devices']);
    const viommu = item.properties.viommu as { anyOf: { required?: string[]; properties: Record<string, unknown> }[] };
    for (const v of viommu.anyOf) expect(v.required).toBeUndefined();
    expect(Object.keys(viommu.anyOf[0].properties)).toContain('aw-bits');
    expect(item.properties.guest.default).toBeUndefined();
    const steps = (s.properties.steps as unknown as { items: { anyOf: { properties: Record<string, { additionalProperties?: { anyOf: unknown[] } }> }[] } }).items.anyOf;
    for (const v of steps) expect(v.properties['expect-in'].additionalProperties!.anyOf).toEqual([v.properties.expect, { type: 'null' }]);
  });
});
