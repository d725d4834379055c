// Machine defaults reach the guest through PROBE: q35's APIC MSI window, and on ARM virt the MSI
// doorbell of the GIC QEMU builds (hw/arm/virt.c virt_machine_device_pre_plug_cb: GICv2m frame for
// the default gic-version 2, GITS_TRANSLATER page for gic-version 3).
import { describe, expect, it } from 'vitest';
import { runScenarioText } from '../../../core/run/index.ts';
import { formatDiagnostic } from '../../../core/scenario/index.ts';

function probe(head: string): unknown {
  const text = `name: m\n${head}\nviommu: {model: virtio-iommu}\ndevices:\n  - {name: d, bdf: "00:01.0"}\nsteps:\n  - probe: {endpoint: d}\n  - read-config: {}\n`;
  const { diagnostics, run } = runScenarioText(text, 'm.yaml');
  expect(diagnostics).toEqual([]);
  while (run!.advance(100));
  const [p, c] = run!.stepResults();
  return { status: p.status, regions: p.outcome, config: (c.outcome as { config: { inputRange: unknown } }).config.inputRange };
}

describe('machine defaults', () => {
  it.each([
    ['machine: q35', [{ subtype: 'msi', start: '0xfee00000', end: '0xfeefffff' }], ['0x0', '0x7fffffffff']],
    ['machine: virt', [{ subtype: 'msi', start: '0x8020000', end: '0x8020fff' }], ['0x0', '0xffffffffffff']],
    ['machine: virt\ngic-version: 2', [{ subtype: 'msi', start: '0x8020000', end: '0x8020fff' }], ['0x0', '0xffffffffffff']],
    ['machine: virt\ngic-version: 3', [{ subtype: 'msi', start: '0x8090000', end: '0x809ffff' }], ['0x0', '0xffffffffffff']],
  ])('%s: PROBE reports the MSI doorbell and input_range follows aw-bits', (head, regions, inputRange) => {
    expect(probe(head)).toEqual({ status: 'OK', regions: { regions }, config: inputRange });
  });

  it('refuses gic-version on q35 with its location', () => {
    const { diagnostics } = runScenarioText('name: m\nmachine: q35\ngic-version: 3\nviommu: {model: virtio-iommu}\nsteps: []\n', 'm.yaml');
    expect(diagnostics.map(formatDiagnostic)).toEqual([expect.stringMatching(/^m\.yaml:3:\d+: .*gic-version applies to machine virt only/)]);
  });

  it('refuses gic-version 4', () => {
    const { diagnostics } = runScenarioText('name: m\nmachine: virt\ngic-version: 4\nviommu: {model: virtio-iommu}\nsteps: []\n', 'm.yaml');
    expect(diagnostics.map(formatDiagnostic)).toEqual([expect.stringMatching(/^m\.yaml:3:14: gic-version/)]);
  });
});
