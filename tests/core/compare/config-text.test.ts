/** CompareSide.configText: a scenario without steps and variants, comments and order kept; a trace's source as YAML; a replay named. */
import { describe, expect, it } from 'vitest';
import type { RunDetail } from '../../../core/contract/index.ts';
import { configTextOf, scenarioConfigText } from '../../../core/compare/config-text.ts';

const SCENARIO = `# Seed: a comment that stays
name: two variants # trailing comment
machine: q35
viommu: {model: virtio-iommu, aw-bits: 39}
steps:
  - attach: {domain: 1, endpoint: 8}
variants:
  - {name: wide, viommu: {aw-bits: 64}}
# closing comment
devices:
  - {name: nic0, bdf: "00:01.0"}
`;

function run(over: Partial<RunDetail>): RunDetail {
  return {
    id: 7, name: 'r', file: 'f.yaml', status: 'done', startedAt: '', finishedAt: null, steps: 0, events: 0, failedExpectations: 0, error: null,
    config: null, scenarioText: SCENARIO, metrics: null, stepResults: [], ...over,
  };
}

describe('configText', () => {
  it('drops steps and variants, keeps the other keys in order with their comments', () => {
    const t = scenarioConfigText(SCENARIO);
    expect(t).not.toMatch(/steps:|variants:|attach:|wide/);
    expect(t).toMatch(/^# Seed: a comment that stays\n/);
    expect(t).toContain('name: two variants # trailing comment');
    const keys = t.split('\n').filter((l) => /^[a-z]+:/.test(l)).map((l) => l.split(':')[0]);
    expect(keys).toEqual(['name', 'machine', 'viommu', 'devices']);
  });

  it('returns a text without steps, or one that is not a mapping, as it is', () => {
    const plain = 'name: x\nmachine: q35\n';
    expect(scenarioConfigText(plain)).toBe(plain);
    expect(scenarioConfigText('- a\n- b\n')).toBe('- a\n- b\n');
    expect(scenarioConfigText('')).toBe('');
  });

  it('a trace: its source as YAML', () => {
    const t = configTextOf(
      run({
        name: 'qemu.log',
        scenarioText: '',
        source: {
          kind: 'trace', file: 'qemu.log', bytes: 512, sha256: 'ab'.repeat(32), format: 'qemu', partial: false, firstTime: 0,
          stats: { lines: 7, unknown: { count: 1, lines: [3] }, errors: { count: 0, list: [] } } as never,
        },
      }),
    );
    expect(t).toMatch(/^# An imported trace/);
    expect(t).toContain('format: qemu');
    expect(t).toContain(`sha256: ${'ab'.repeat(32)}`);
    expect(t).toContain('lines: 7');
    expect(t).toContain('unknownLines: 1');
  });

  it('a replay: its configuration with the trace named', () => {
    const t = configTextOf(
      run({ replay: { kind: 'replay', trace: { runId: 3, name: 'host.txt', format: 'ftrace', sha256: '' }, against: 'lazy.yaml', byOp: {}, divergenceCount: 0, divergences: [], notDerived: [], assumptions: [], unattributedFaults: 0 } }),
    );
    expect(t.split('\n')[0]).toBe('# A replay of trace 3 (host.txt) against lazy.yaml');
    expect(t).not.toContain('steps:');
  });
});
