/**
 * virtio-iommu set_iommu_device (QEMU hw/virtio/virtio-iommu.c; reference
 * iommufd-vfio-hostiommu.md §5.4): host IOVA ranges → RESERVED regions reported by PROBE and
 * enforced by translate, property regions winning; the page-size mask narrowing before the granule
 * freezes and checked after; aliased BDFs; unset; QEMU's messages and trace texts.
 */
import { describe, expect, it } from 'vitest';
import { decodeConfig, decodeProbeRegions } from '../../../../core/run/wire.ts';
import { inverseRanges } from '../../../../core/viommu/virtio-iommu/host-device.ts';
import type { HostIommuDevice, IovaRange } from '../../../../core/machine/layers.ts';
import { EP1, EP2, MODES, rig } from './helpers.ts';

const RANGES_39: IovaRange[] = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: 0x7fffffffffn },
];

function hiod(over: Partial<HostIommuDevice> = {}): HostIommuDevice {
  return {
    id: 'hiod0', variant: 'iommufd-vfio', name: '0000:3b:00.0', aliasedEndpoint: EP1, behindPciBridge: false,
    getCap: () => 39, getIovaRanges: () => RANGES_39, getPageSizeMask: () => 0x40201000n, ...over,
  };
}

function probeRegions(r: ReturnType<typeof rig>, ep: number) {
  const reply = r.probe(ep);
  expect(reply[512]).toBe(0);
  return decodeProbeRegions(reply.subarray(0, 512));
}

describe('range_inverse_array over [0, 2^64 - 1]', () => {
  it('gives the holes of the usable ranges', () => {
    expect(inverseRanges(RANGES_39)).toEqual([
      { start: 0xfee00000n, end: 0xfeefffffn },
      { start: 0x8000000000n, end: 0xffffffffffffffffn },
    ]);
    expect(inverseRanges([{ start: 0x1000n, end: 0xffffffffffffffffn }])).toEqual([{ start: 0n, end: 0xfffn }]);
    expect(inverseRanges([{ start: 0n, end: 0xffffffffffffffffn }])).toEqual([]);
    expect(inverseRanges([])).toEqual([{ start: 0n, end: 0xffffffffffffffffn }]);
  });
});

describe.each(MODES)('set_iommu_device (%s mode)', (mode) => {
  it('host holes become RESERVED regions of that endpoint only; the q35 MSI property region wins over them', () => {
    const r = rig(mode);
    const out = r.dev.setIommuDevice(EP1, hiod(), 'virtio-iommu-memory-region-1-8');
    expect(out.error).toBeNull();
    // Host reserved [0xfee00000, 0xfeefffff] (RESERVED) is overwritten by the MSI property region,
    // [0x8000000000, 2^64 - 1] stays RESERVED.
    expect(probeRegions(r, EP1)).toEqual([
      { subtype: 1, start: 0xfee00000n, end: 0xfeefffffn },
      { subtype: 0, start: 0x8000000000n, end: 0xffffffffffffffffn },
    ]);
    // Another endpoint keeps the property regions only.
    expect(probeRegions(r, EP2)).toEqual([{ subtype: 1, start: 0xfee00000n, end: 0xfeefffffn }]);
    expect(out.trace).toEqual([
      'virtio_iommu_host_resv_regions mr=virtio-iommu-memory-region-1-8 host-resv-reg[0] = [0xfee00000,0xfeefffff]',
      'virtio_iommu_host_resv_regions mr=virtio-iommu-memory-region-1-8 host-resv-reg[1] = [0x8000000000,0xffffffffffffffff]',
      'virtio_iommu_update_page_size_mask host iommu device=0000:3b:00.0 old_mask=0xfffffffffffff000 new_mask=0x40201000',
    ]);
  });

  it('DMA into a host hole faults (RESERVED → MAPPING) for that endpoint; MSI stays identity', () => {
    const r = rig(mode);
    r.dev.setIommuDevice(EP1, hiod(), 'mr');
    r.dev.writeConfig(36, Uint8Array.of(0));
    expect(r.attach(1, EP1)).toBe(0);
    expect(r.attach(1, EP2)).toBe(0);
    expect(r.dev.translate(EP1, 0x8000000000n, 4n, 1)).toMatchObject({ kind: 'fault', reason: 2 });
    expect(r.dev.translate(EP1, 0xfee00000n, 4n, 2)).toEqual({ kind: 'msi' });
    // EP2 has no host hole there: an unmapped address, so MAPPING too, but through the lookup.
    expect(r.dev.translate(EP2, 0x8000000000n, 4n, 1)).toMatchObject({ kind: 'fault', reason: 2 });
    if (mode === 'qemu') {
      // QEMU checks no reserved region on MAP: the mapping is made, EP2 uses it, EP1 still faults.
      expect(r.map(1, 0x8000000000n, 0x8000000fffn, 0x1000n)).toBe(0);
      expect(r.dev.translate(EP2, 0x8000000000n, 4n, 1)).toEqual({ kind: 'translated', phys: 0x1000n, domain: 1 });
      expect(r.dev.translate(EP1, 0x8000000000n, 4n, 1)).toMatchObject({ kind: 'fault', reason: 2 });
    } else {
      // spec: a MAP overlapping an attached endpoint's RESV_MEM region is refused (project: INVAL),
      // checked against EP1's own table (input_range is widened to reach the check).
      const s = rig(mode, { awBits: 64 });
      s.dev.setIommuDevice(EP1, hiod(), 'mr');
      s.attach(1, EP1);
      expect(s.map(1, 0x8000000000n, 0x8000000fffn, 0x1000n)).toBe(4); // S_INVAL
      s.attach(2, EP2);
      expect(s.map(2, 0x8000000000n, 0x8000000fffn, 0x1000n)).toBe(0);
    }
  });

  it('narrows config.page_size_mask before the granule freezes, checks it afterwards', () => {
    const r = rig(mode);
    expect(r.dev.setIommuDevice(EP1, hiod({ getPageSizeMask: () => 0xffffffffffff0000n }), 'mr').error).toBeNull();
    expect(r.dev.pageSizeMask).toBe(0xffffffffffff0000n);
    expect(decodeConfig(r.dev.readConfig()).pageSizeMask).toBe(0xffffffffffff0000n);
    expect(r.dev.freezeGranule()).toBe('virtio_iommu_freeze_granule granule set to 0x10000');
    // Frozen: a 4 KiB-only host cannot take the 64 KiB granule.
    const frozen = r.dev.setIommuDevice(EP2, hiod({ aliasedEndpoint: EP2, name: '0000:3c:00.0', getPageSizeMask: () => 0x1000n }), 'mr');
    expect(frozen.error).toBe('0000:3c:00.0: virtio-iommu reports a page size mask 0x1000 incompatible with currently supported mask 0xffffffffffff0000');
    const r2 = rig(mode);
    r2.dev.freezeGranule();
    const f2 = r2.dev.setIommuDevice(EP1, hiod({ getPageSizeMask: () => 0x200000n }), 'mr');
    expect(f2.error).toBe('0000:3b:00.0: virtio-iommu does not support frozen granule 0x1000');
    // A frozen granule the host supports: accepted, the mask does not change (the trace still prints).
    const f3 = r2.dev.setIommuDevice(EP2, hiod({ aliasedEndpoint: EP2, getPageSizeMask: () => 0x40201000n }), 'mr');
    expect(f3.error).toBeNull();
    expect(r2.dev.pageSizeMask).toBe(0xfffffffffffff000n);
  });

  it('refuses a second device at the same BDF, and a second one on the same aliased BDF', () => {
    const r = rig(mode);
    expect(r.dev.setIommuDevice(EP1, hiod(), 'mr').error).toBeNull();
    expect(r.dev.setIommuDevice(EP1, hiod(), 'mr').error).toBe('Host IOMMU device already exists');
    // EP2 behind a guest PCI bridge aliased to EP1.
    expect(r.dev.setIommuDevice(EP2, hiod({ aliasedEndpoint: EP1 }), 'mr').error).toBe('virtio_iommu_set_host_iova_ranges virtio-iommu does not support aliased BDF');
    expect(r.dev.setIommuDevice(EP2, hiod({ aliasedEndpoint: 0x999 }), 'mr').error).toBe('virtio_iommu_set_host_iova_ranges: no IOMMUDevice found!');
  });

  it('an empty range list (old kernel) is accepted without regions, page-size check or registration', () => {
    const r = rig(mode);
    const out = r.dev.setIommuDevice(EP1, hiod({ getIovaRanges: () => [], getPageSizeMask: () => 0x8000n }), 'mr');
    expect(out).toEqual({ error: null, trace: [] });
    expect(r.dev.pageSizeMask).toBe(0xfffffffffffff000n);
    expect(r.dev.setIommuDevice(EP1, hiod(), 'mr').error).toBeNull(); // not registered: no "already exists"
  });

  it('unset (hot-unplug) frees the host ranges: PROBE shows the property regions again', () => {
    const r = rig(mode);
    r.dev.setIommuDevice(EP1, hiod(), 'mr');
    r.dev.unsetIommuDevice(EP1, EP1);
    expect(probeRegions(r, EP1)).toEqual([{ subtype: 1, start: 0xfee00000n, end: 0xfeefffffn }]);
    expect(r.dev.setIommuDevice(EP1, hiod(), 'mr').error).toBeNull();
  });
});
