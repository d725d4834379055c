/**
 * Every example in examples/ parses without diagnostics (but the warnings it shows on purpose), runs to the end, and every `expect` in
 * it holds under the real device.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { formatDiagnostic, parseScenario } from '../core/scenario/index.ts';
import { ScenarioRun, runScenarioText } from '../core/run/index.ts';

const DIR = join(__dirname, '..', 'examples');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
/** The warnings an example shows on purpose (an undeclared endpoint used to provoke a fault), as `line:column: message start`. */
const INTENDED_WARNINGS: Record<string, string[]> = {
  'faults.yaml': ['35:21: warning: steps.6.dma.endpoint: no device has endpoint ID 255 (0xff) = PCI address 00:1f.7'],
};

describe('examples', () => {
  test('the required examples exist', () => {
    for (const f of ['quickstart.yaml', 'unmap-examples.yaml', 'msi-reserved-regions.yaml', 'bypass.yaml', 'faults.yaml', 'conformance-qemu.yaml', 'conformance-spec.yaml', 'workload.yaml', 'iommufd-areas.yaml', 'dirty-tracking.yaml', 'vfio-type1-unmap.yaml']) {
      expect(files).toContain(f);
    }
  });

  test.each(files)('%s', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    expect(text.startsWith('#'), 'starts with a comment header').toBe(true);
    const { diagnostics, run } = runScenarioText(text, `examples/${file}`);
    const shown = diagnostics.map((d) => formatDiagnostic(d).slice(`examples/${file}:`.length));
    const intended = INTENDED_WARNINGS[file] ?? [];
    expect(shown.map((l, i) => (intended[i] && l.startsWith(intended[i]) ? intended[i] : l))).toEqual(intended);
    expect(run!.scenario.name.length).toBeGreaterThan(0);
    checkRun(run!);
    // With `variants:` runScenarioText ran the first; every other variant runs and holds too.
    const variants = parseScenario(text, `examples/${file}`).variants ?? [];
    if (file.startsWith('variants-')) expect(variants.length).toBeGreaterThan(1);
    for (const v of variants.slice(1)) checkRun(new ScenarioRun(v.scenario, {}));
  });
});

/** Runs `run` to its end: every step ran, and every `expect` held. */
function checkRun(run: ScenarioRun): void {
  while (run.advance(50_000)) run.takeEvents();
  run.takeEvents();
  expect(run.doneUnits).toBe(run.totalUnits);
  const results = run.stepResults();
  expect(results).toHaveLength(run.scenario.steps.length);
  const failed = results.filter((r) => r.expectation === false).map((r) => `${run.scenario.name}: line ${r.line} (${r.op}): ${r.message}`);
  expect(failed).toEqual([]);
  const withExpect = run.scenario.steps.filter((s) => s.expect !== undefined).length;
  expect(withExpect).toBeGreaterThan(0);
  expect(run.metrics().expectations).toEqual({ held: withExpect, failed: 0 });
}
