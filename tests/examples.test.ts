/**
 * Every example in examples/ parses without diagnostics, runs to the end, and every `expect` in
 * it holds under the real device.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { formatDiagnostic } from '../core/scenario/index.ts';
import { runScenarioText } from '../core/run/index.ts';

const DIR = join(__dirname, '..', 'examples');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

describe('examples', () => {
  test('the required examples exist', () => {
    for (const f of ['quickstart.yaml', 'unmap-examples.yaml', 'msi-reserved-regions.yaml', 'bypass.yaml', 'faults.yaml', 'conformance-qemu.yaml', 'conformance-spec.yaml', 'workload.yaml']) {
      expect(files).toContain(f);
    }
  });

  test.each(files)('%s', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    expect(text.startsWith('#'), 'starts with a comment header').toBe(true);
    const { diagnostics, run } = runScenarioText(text, `examples/${file}`);
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(run!.scenario.name.length).toBeGreaterThan(0);
    while (run!.advance(50_000)) run!.takeEvents();
    run!.takeEvents();
    expect(run!.doneUnits).toBe(run!.totalUnits);
    const results = run!.stepResults();
    expect(results).toHaveLength(run!.scenario.steps.length);
    const failed = results.filter((r) => r.expectation === false).map((r) => `line ${r.line} (${r.op}): ${r.message}`);
    expect(failed).toEqual([]);
    const withExpect = run!.scenario.steps.filter((s) => s.expect !== undefined).length;
    expect(withExpect).toBeGreaterThan(0);
    expect(run!.metrics().expectations).toEqual({ held: withExpect, failed: 0 });
  });
});
