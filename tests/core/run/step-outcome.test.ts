/**
 * Every step with an outcome records it, with or without `expect` (set-bypass's refused value and
 * QEMU's device error above all), and stepOutcomeText shows it.
 */
import { describe, expect, test } from 'vitest';
import { ScenarioRun } from '../../../core/run/index.ts';
import { stepOutcomeText } from '../../../core/run/step-outcome.ts';
import { formatDiagnostic, parseScenario } from '../../../core/scenario/index.ts';

function results(conformance: 'qemu' | 'spec', steps: string, offer = '') {
  const text = `name: t
viommu: {model: virtio-iommu, conformance: ${conformance}${offer}}
devices:
  - {name: nic0, bdf: "00:03.0"}
steps:
${steps}`;
  const { scenario, diagnostics } = parseScenario(text, 't.yaml');
  expect(diagnostics.map(formatDiagnostic)).toEqual([]);
  const run = new ScenarioRun(scenario!);
  while (run.advance(1000));
  return run.stepResults();
}

describe('set-bypass outcome (no expect)', () => {
  test("qemu: 7 is refused with QEMU's device error, and the device then leaves requests unwritten", () => {
    const r = results('qemu', '  - set-bypass: 7\n  - attach: {domain: 1, endpoint: nic0}\n  - set-bypass: 0\n');
    expect(r[0].outcome).toEqual({ bypass: 7, accepted: false, deviceError: "invalid config.bypass value '7'" });
    expect(stepOutcomeText(r[0])).toBe("bypass ← 7 refused, device error: invalid config.bypass value '7' (device needs reset)");
    expect(r[1].status).toBe('UNWRITTEN');
    expect(r[2].outcome).toEqual({ bypass: 0, accepted: true });
    expect(stepOutcomeText(r[2])).toBe('bypass ← 0 accepted');
  });

  test('spec: 7 is ignored without breaking the device; without BYPASS_CONFIG every write is ignored', () => {
    expect(results('spec', '  - set-bypass: 7\n')[0].outcome).toEqual({ bypass: 7, accepted: false });
    const off = results('spec', '  - set-bypass: 0\n', ', offer: {bypass-config: false}');
    expect(off[0].outcome).toEqual({ bypass: 0, accepted: false });
    expect(stepOutcomeText(off[0])).toBe('bypass ← 0 refused');
    const qemuOff = results('qemu', '  - set-bypass: 0\n', ', offer: {bypass-config: false}');
    expect(qemuOff[0].outcome).toEqual({ bypass: 0, accepted: false, deviceError: 'cannot set config.bypass' });
  });

  test('with expect, the outcome is kept beside the expectation', () => {
    const r = results('qemu', '  - set-bypass: 7\n    expect: {bypass: 1}\n');
    expect(r[0]).toMatchObject({ expectation: true, outcome: { bypass: 7, accepted: false, deviceError: "invalid config.bypass value '7'" } });
  });
});

describe('stepOutcomeText', () => {
  test.each([
    [{ op: 'dma', outcome: { translated: '0xc1004' } }, 'translated → 0xc1004'],
    [{ op: 'dma', outcome: { fault: { reason: 'MAPPING', flags: ['write', 'address'], address: '0x90000' } } }, 'fault MAPPING flags=write|address addr=0x90000'],
    [{ op: 'dma', outcome: { bypass: true } }, 'bypass (identity)'],
    [{ op: 'dma', outcome: { msi: true } }, 'MSI window (identity)'],
    [{ op: 'probe', outcome: { regions: [{ subtype: 'msi', start: '0xfee00000', end: '0xfeefffff' }] } }, 'MSI [0xfee00000-0xfeefffff]'],
    [{ op: 'probe', outcome: { regions: [] } }, 'no reserved regions'],
    [{ op: 'request', outcome: { used: 4 } }, 'used 4 bytes'],
    [{ op: 'request', outcome: { used: 0 } }, 'device wrote nothing (used 0)'],
    [{ op: 'read-config', outcome: { config: { pageSizeMask: '0xfffffffffffff000', inputRange: ['0x0', '0xffffffffffffffff'], domainRange: [0, 4294967295], probeSize: 512, bypass: 1 } } }, 'page_size_mask=0xfffffffffffff000 input_range=[0x0-0xffffffffffffffff] domain_range=[0-4294967295] probe_size=512 bypass=1'],
    [{ op: 'workload', outcome: { iterations: 3, requests: { MAP: { OK: 2, INVAL: 1 }, UNMAP: { OK: 2 } }, translations: 3, faults: 0, failedRequests: 1 } }, '3 iterations: 5 requests (1 failed), 3 translations, 0 faults'],
    [{ op: 'attach' }, ''],
    [{ op: 'x', outcome: { odd: 1n } }, '{"odd":"0x1"}'],
  ])('case %# → %s', (step, text) => {
    expect(stepOutcomeText(step)).toBe(text);
  });
});
