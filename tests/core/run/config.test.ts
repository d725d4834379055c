/**
 * The run configuration (core/run/config.ts) as the runs list, the run header and `show` display it:
 * the vIOMMU's effective properties, whichever model.
 */
import { describe, expect, it } from 'vitest';
import { runConfig } from '../../../core/run/config.ts';
import { parseScenario } from '../../../core/scenario/index.ts';

const parse = (text: string) => {
  const { scenario, diagnostics } = parseScenario(text, 'config.yaml');
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return scenario!;
};

describe('runConfig', () => {
  it("virtio-iommu: the machine's defaults resolved", () => {
    expect(runConfig(parse('name: c\nviommu: {model: virtio-iommu}\nsteps: []\n'))).toMatchObject({ machine: 'q35', model: 'virtio-iommu', conformance: 'qemu', granule: 'host', awBits: 39 });
  });

  it("intel-iommu: its own aw-bits (not virtio-iommu's q35 default) and caching-mode", () => {
    const c = runConfig(parse('name: c\nviommu: {model: intel-iommu, aw-bits: 48, caching-mode: true}\nsteps: []\n'));
    expect(c).toMatchObject({ model: 'intel-iommu', awBits: 48, granule: '4k', cachingMode: true, xFlts: false });
    expect(runConfig(parse('name: c\nviommu: {model: intel-iommu}\nsteps: []\n'))).toMatchObject({ awBits: 48, cachingMode: false });
  });
});
