/** The run header's configuration items (renderer/src/format.ts configText / configShort) for host-side runs. */
import { describe, expect, it } from 'vitest';
import type { RunConfig } from '../../core/contract/index.ts';
import { configShort, configText } from '../../renderer/src/format.ts';

const base: RunConfig = { machine: 'q35', model: 'virtio-iommu', conformance: 'qemu', granule: 'host', awBits: 39, devices: [{ name: 'nic0', bdf: '00:03.0', endpoint: 0x18 }] };

describe('configText', () => {
  it('a virtio-iommu run without a host side: the vIOMMU properties and devices only', () => {
    const items = configText(base);
    expect(items.map((i) => i.label)).toEqual(['machine', 'viommu', 'mode', 'granule', 'aw-bits', 'devices']);
  });

  it('a run with a host side: the assigned host device, backend, kernel and groups; intel-iommu its caching-mode', () => {
    const c: RunConfig = {
      ...base,
      model: 'intel-iommu',
      granule: '4k',
      awBits: 48,
      cachingMode: true,
      xFlts: false,
      devices: [{ name: 'nic0', bdf: '00:03.0', endpoint: 0x18, host: 'vf0' }],
      backend: 'iommufd',
      kernel: '2025',
      groups: [{ id: 0, iommu: 'dmar0', members: ['vf0', 'vf1'] }, { id: 1, iommu: null, members: ['mdev0'] }],
    };
    const byLabel = Object.fromEntries(configText(c).map((i) => [i.label, i.value]));
    expect(byLabel).toMatchObject({ 'caching-mode': 'on', devices: 'nic0 00:03.0 → vf0', backend: 'iommufd · kernel 2025', groups: '0 [vf0 vf1], 1 [mdev0] emulated' });
    expect(byLabel['x-flts']).toBeUndefined();
    expect(configShort(c)).toBe('q35 · vt-d · 4k · aw48');
  });
});
