/**
 * QEMU's HostIOMMUDevice variants (reference iommufd-vfio-hostiommu.md §5.1-§5.2): realize from a
 * backend attachment, get_cap (IOMMU_TYPE, AW_BITS, "unsupported capability"), IOVA ranges and
 * page-size mask, aw_bits from the last usable range, and the 'hiod-realize' event.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../../core/events/sink.ts';
import { Component, Machine } from '../../../../core/machine/index.ts';
import type { BackendAttachment } from '../../../../core/machine/layers.ts';
import {
  HOST_IOMMU_DEVICE_CAP_AW_BITS, HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE, IommufdVfioHiod, LegacyVfioHiod, awBitsOf, createHiod, type HiodSpec,
} from '../../../../core/host/hiod/hiod.ts';

/** A 39-bit VT-d host: usable [0, 0xfedfffff] ∪ [0xfef00000, 0x7fffffffff] (MSI window reserved). */
export const RANGES_39 = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: 0x7fffffffffn },
];

class FakeBackend extends Component {
  constructor() {
    super({ id: 'iommufd0', kind: 'fake', layer: 'backend' });
  }
  protected onRealize(): string | null {
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}
}

function spec(attachment: BackendAttachment): HiodSpec {
  return { id: 'hiod-nic0', backendId: 'iommufd0', name: '0000:3b:00.0', hostDevice: 'vf0', aliasedEndpoint: 0x18, behindPciBridge: false, attachment };
}

const IOMMUFD: BackendAttachment = {
  backend: 'iommufd', iovaRanges: RANGES_39, pgsizes: 0x40201000n, devId: 1, hwptId: 3, container: 2,
  hwInfo: { type: 1, capabilities: 1n, data: { capReg: 0xd2008c40660462n, ecapReg: 0xf050daan } },
};
const LEGACY: BackendAttachment = { backend: 'vfio-type1', iovaRanges: RANGES_39, pgsizes: 0x40201000n, container: 1 };

function realized(a: BackendAttachment) {
  const log = new EventLog();
  const m = new Machine(log);
  m.add(new FakeBackend());
  const h = m.add(createHiod(spec(a)));
  return { h, error: m.realize(), events: log.take() };
}

describe('aw_bits (vfio_device_get_aw_bits)', () => {
  it('is the last range\'s highest bit + 1, 64 with no range', () => {
    expect(awBitsOf(RANGES_39)).toBe(39);
    expect(awBitsOf([{ start: 0n, end: 0xffffffffffffn }])).toBe(48);
    // The LAST range decides, not the widest: a short last range gives fewer bits.
    expect(awBitsOf([{ start: 0n, end: 0x7fffffffffn }, { start: 0x8000000000n, end: 0x80ffffffffn }])).toBe(40);
    expect(awBitsOf([{ start: 0n, end: 0xffffffffffffffffn }])).toBe(64);
    expect(awBitsOf([])).toBe(64);
  });
});

describe('iommufd-vfio', () => {
  it('realizes from GET_HW_INFO: type, hw_caps, vendor caps; emits hiod-realize', () => {
    const { h, error, events } = realized(IOMMUFD);
    expect(error).toBeNull();
    expect(h).toBeInstanceOf(IommufdVfioHiod);
    expect(h.kind).toBe('host-iommu-device-iommufd-vfio');
    expect(h.getCap(HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE)).toBe(1);
    expect(h.getCap(HOST_IOMMU_DEVICE_CAP_AW_BITS)).toBe(39);
    expect(h.getCap(2)).toBe('0000:3b:00.0: unsupported capability 2');
    expect(h.getCap(26)).toBe('0000:3b:00.0: unsupported capability 1a');
    expect(h.iommufdCaps).toEqual({ type: 1, hwCaps: 1n, vendorCaps: IOMMUFD.hwInfo!.data });
    expect((h as IommufdVfioHiod).devId).toBe(1);
    expect((h as IommufdVfioHiod).hwptId).toBe(3);
    expect(h.getIovaRanges()).toEqual(RANGES_39);
    expect(h.getPageSizeMask()).toBe(0x40201000n);
    expect(events.map((e) => [e.kind, e.component])).toEqual([['hiod-realize', 'hiod-nic0']]);
    expect(events[0]).toMatchObject({
      status: 0,
      data: { device: 'vf0', variant: 'iommufd-vfio', awBits: 39, iovaRanges: [['0x0', '0xfedfffff'], ['0xfef00000', '0x7fffffffff']], pageSizeMask: '0x40201000', type: 1, hwCaps: '0x1' },
    });
  });

  it('fails without hardware info ("Failed to get hardware info"), with a failed hiod-realize', () => {
    const { hwInfo: _h, ...noInfo } = IOMMUFD;
    const { h, error, events } = realized(noInfo);
    expect(error).toBe('hiod-nic0: Failed to get hardware info');
    expect(h.state).toBe('created');
    expect(events[0]).toMatchObject({ kind: 'hiod-realize', status: 1, data: { error: 'Failed to get hardware info' } });
  });
});

describe('legacy-vfio', () => {
  it('knows AW_BITS only: IOMMU_TYPE is an unsupported capability (no VFIO uAPI reports the type)', () => {
    const { h, error } = realized(LEGACY);
    expect(error).toBeNull();
    expect(h).toBeInstanceOf(LegacyVfioHiod);
    expect(h.kind).toBe('host-iommu-device-legacy-vfio');
    expect(h.getCap(HOST_IOMMU_DEVICE_CAP_AW_BITS)).toBe(39);
    expect(h.getCap(HOST_IOMMU_DEVICE_CAP_IOMMU_TYPE)).toBe('0000:3b:00.0: unsupported capability 0');
    expect(h.iommufdCaps).toBeUndefined();
  });

  it('an old kernel without the IOVA_RANGE cap: no ranges, aw_bits 64', () => {
    const { h } = realized({ ...LEGACY, iovaRanges: [] });
    expect(h.getCap(HOST_IOMMU_DEVICE_CAP_AW_BITS)).toBe(64);
    expect(h.getIovaRanges()).toEqual([]);
  });

  it('uses its backend: the backend cannot be unplugged before it', () => {
    const log = new EventLog();
    const m = new Machine(log);
    m.add(new FakeBackend());
    m.add(new LegacyVfioHiod(spec(LEGACY)));
    expect(m.realize()).toBeNull();
    expect(m.unplug('iommufd0')).toBe('iommufd0 is in use by hiod-nic0');
  });
});
