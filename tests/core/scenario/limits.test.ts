/**
 * Issue 6 §5.4: parsing is linear in the text and bounded whatever the input. Adversarial
 * scenarios (16 K aliases, a billion laughs, an alias cycle, 16 K invalid steps, 16 K keys in one
 * map, deep nesting, too many steps, a huge text) end with a clear diagnostic at the first
 * offending node; the work is asserted through counts (no Alias.resolve walk of the document per
 * alias, a bounded number of diagnostics), never through time.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Alias } from 'yaml';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';
import { MAX_ALIASES, MAX_ALIAS_NODES, MAX_DEPTH, MAX_DIAGNOSTICS, MAX_STEPS, MAX_TEXT_LENGTH } from '../../../core/scenario/limits.ts';

const HEAD = 'name: x\nviommu: {model: virtio-iommu}\n';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('aliases', () => {
  test('16 K aliases in ~100 KB: one error at the first alias past the limit, and no per-alias walk of the document', () => {
    const resolve = vi.spyOn(Alias.prototype, 'resolve');
    const text = HEAD + 'steps:\n  - &s {read-config: {}}\n' + '  - *s\n'.repeat(16_000);
    const { scenario, diagnostics } = parseScenario(text, 'a.yaml');
    expect(scenario).toBeNull();
    expect(diagnostics.map(formatDiagnostic)).toEqual([`a.yaml:${4 + MAX_ALIASES + 1}:5: YAML: more than 10,000 aliases; a scenario may have at most 10,000`]);
    expect(resolve).not.toHaveBeenCalled();
  });

  test('aliases below the limit resolve to the latest anchor of their name, without Alias.resolve', () => {
    const resolve = vi.spyOn(Alias.prototype, 'resolve');
    const text =
      HEAD +
      `devices: [{name: nic0, bdf: "00:03.0"}]
steps:
  - &a {attach: {domain: 1, endpoint: nic0}}
  - *a
  - &a {detach: {domain: 1, endpoint: nic0}}
  - *a
  - map: &m {domain: 1, virt-start: 0, virt-end: 0xfff, phys-start: 0, flags: &f [read]}
  - unmap: {domain: 1, virt-start: 0, virt-end: 0xfff}
  - workload: {domain: 1, endpoint: nic0, count: 2, iova-base: 0, phys-base: 0, flags: *f}
`;
    const { scenario, diagnostics } = parseScenario(text, 'a.yaml');
    expect(diagnostics).toEqual([]);
    expect(scenario!.steps.map((s) => s.op)).toEqual(['attach', 'attach', 'detach', 'detach', 'map', 'unmap', 'workload']);
    expect(scenario!.steps[6]).toMatchObject({ flags: 1 });
    expect(resolve).not.toHaveBeenCalled();
  });

  test('a billion laughs stops at the alias whose expansion passes the limit', () => {
    const flags = '[read' + ', read'.repeat(4999) + ']';
    const text = HEAD + `steps:\n  - &s {workload: {domain: 1, endpoint: 0, count: 1, iova-base: 0, phys-base: 0, flags: ${flags}}}\n` + '  - *s\n'.repeat(5000);
    const { scenario, diagnostics } = parseScenario(text, 'l.yaml');
    expect(scenario).toBeNull();
    // Each alias adds the step's 5,000 flags and its 15 other nodes: the 20th passes 100,000.
    const per = 5000 + 15;
    const nth = Math.floor(MAX_ALIAS_NODES / per) + 1;
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      `l.yaml:${4 + nth}:5: YAML: aliases expand to more than 100,000 nodes (this one adds ${per.toLocaleString('en-US')}); a scenario's aliases may add at most 100,000`,
    ]);
  });

  test('an alias inside the node it refers to is an error, not an endless walk', () => {
    const { diagnostics } = parseScenario(HEAD + 'steps: &a [*a]\n', 'c.yaml');
    expect(diagnostics.map(formatDiagnostic)).toEqual(['c.yaml:3:12: YAML: alias *a refers to a node that contains it']);
  });
});

describe('size and shape', () => {
  test('16 K invalid steps: the first 1,000 problems, one more that counts the rest, and a linear number of path checks', () => {
    const startsWith = vi.spyOn(String.prototype, 'startsWith');
    const text = HEAD + 'steps:\n' + '  - {map: {domain: 1}}\n'.repeat(16_000);
    const { scenario, diagnostics } = parseScenario(text, 'i.yaml');
    const checks = startsWith.mock.calls.length;
    vi.restoreAllMocks();
    expect(scenario).toBeNull();
    expect(diagnostics.length).toBe(MAX_DIAGNOSTICS + 1);
    expect(formatDiagnostic(diagnostics[0])).toBe('i.yaml:4:11: steps.0.map: missing required key "virt-start"');
    // 4 problems per step (virt-start, virt-end, phys-start, flags): 64,000 in all.
    expect(diagnostics.at(-1)!.message).toBe(`${(64_000 - MAX_DIAGNOSTICS).toLocaleString('en-US')} more problems from here on not listed (only the first 1000 are)`);
    expect(diagnostics.at(-1)!.line).toBe(4 + MAX_DIAGNOSTICS / 4);
    // The old isValid compared every step's path with every error's (16 K × 64 K startsWith calls).
    expect(checks).toBeLessThan(16_000);
  });

  test('16 K keys in one map: each duplicate and unknown key is reported, in linear work', () => {
    let text = HEAD + 'steps: []\n';
    for (let i = 0; i < 16_000; i++) text += `k${i}: 1\n`;
    text += 'name: again\n';
    const { diagnostics } = parseScenario(text, 'k.yaml');
    expect(diagnostics.length).toBe(MAX_DIAGNOSTICS + 1);
    expect(formatDiagnostic(diagnostics[0])).toBe('k.yaml:4:1: unknown key "k0"; allowed: name, description, machine, gic-version, viommu, host, backend, kernel, guest, driver, devices, steps, variants');
    const dup = parseScenario(HEAD + 'steps: []\nname: y\n', 'd.yaml').diagnostics.map(formatDiagnostic);
    expect(dup).toEqual(['d.yaml:4:1: duplicate key "name" (first on line 1)']);
  });

  test(`more than ${MAX_STEPS.toLocaleString('en-US')} steps: an error at the first step too many`, () => {
    const text = HEAD + 'steps: [' + '1, '.repeat(MAX_STEPS) + '1]\n';
    const { scenario, diagnostics } = parseScenario(text, 's.yaml');
    expect(scenario).toBeNull();
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      `s.yaml:3:${9 + 3 * MAX_STEPS}: steps: 100,001 steps; a scenario may have at most 100,000 (a workload step runs up to 10,000,000 iterations)`,
    ]);
  });

  test(`nesting deeper than ${MAX_DEPTH} levels`, () => {
    const d = parseScenario(HEAD + 'steps: ' + '['.repeat(100) + ']'.repeat(100) + '\n', 'n.yaml').diagnostics.map(formatDiagnostic);
    expect(d).toEqual([`n.yaml:3:${7 + MAX_DEPTH}: YAML: nested more than 64 levels deep`]);
    const deeper = parseScenario(HEAD + 'steps: ' + '['.repeat(100_000) + ']'.repeat(100_000) + '\n', 'n.yaml').diagnostics;
    expect(deeper.map((x) => x.message)).toEqual(['YAML: nested too deep to parse']);
  });

  test('a text over the limit is refused before parsing', () => {
    const text = HEAD + 'description: "' + 'x'.repeat(MAX_TEXT_LENGTH) + '"\nsteps: []\n';
    const { scenario, diagnostics } = parseScenario(text, 'h.yaml');
    expect(scenario).toBeNull();
    expect(diagnostics.map(formatDiagnostic)).toEqual(['h.yaml:1:1: the scenario is 4.0 MiB long; a scenario may be at most 4.0 MiB (use a workload step for bulk operations)']);
  });

  test('the limits themselves are accepted', () => {
    const text = HEAD + 'steps:\n  - &s {read-config: {}}\n' + '  - *s\n'.repeat(MAX_ALIASES);
    const { scenario, diagnostics } = parseScenario(text, 'ok.yaml');
    expect(diagnostics).toEqual([]);
    expect(scenario!.steps.length).toBe(MAX_ALIASES + 1);
  });
});
