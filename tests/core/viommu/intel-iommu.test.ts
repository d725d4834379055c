/**
 * intel-iommu at realize level (QEMU hw/i386/intel_iommu.c; reference iommufd-vfio-hostiommu.md
 * §5.3): vtd_decide_config's aw-bits / x-flts rules, the caching-mode rule, set_iommu_device
 * (aw-bits vs the host's, x-flts host checks) and translation disabled (identity).
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../core/events/sink.ts';
import { Machine, TR_BYPASS } from '../../../core/machine/index.ts';
import type { HostIommuDevice } from '../../../core/machine/layers.ts';
import {
  CACHING_MODE_REQUIRED, IntelIommuComponent, VTD_CAP_FS1GP, decideConfig, defaultIntelIommuProps, type IntelIommuProps,
} from '../../../core/viommu/intel-iommu/intel-iommu.ts';

function props(over: Partial<IntelIommuProps> = {}): IntelIommuProps {
  return { ...defaultIntelIommuProps(), ...over };
}

function hiod(awBits: number, over: Partial<HostIommuDevice> = {}): HostIommuDevice {
  return {
    id: 'hiod0', variant: 'iommufd-vfio', name: '0000:3b:00.0', aliasedEndpoint: 0x18, behindPciBridge: false,
    getCap: (cap) => (cap === 1 ? awBits : cap === 0 ? 1 : `0000:3b:00.0: unsupported capability ${cap.toString(16)}`),
    getIovaRanges: () => [], getPageSizeMask: () => 0x1000n,
    iommufdCaps: { type: 1, hwCaps: 0n, vendorCaps: { capReg: VTD_CAP_FS1GP, ecapReg: 0n } },
    ...over,
  };
}

function realized(p: IntelIommuProps) {
  const log = new EventLog();
  const m = new Machine(log);
  const v = m.add(new IntelIommuComponent('viommu0', p));
  return { v, error: m.realize(), log };
}

describe('vtd_decide_config', () => {
  it('aw-bits 39 and 48 only; x-flts needs scalable mode and aw-bits 48', () => {
    expect(defaultIntelIommuProps().awBits).toBe(48);
    expect(decideConfig(props({ awBits: 39 }))).toBeNull();
    expect(decideConfig(props({ awBits: 48 }))).toBeNull();
    expect(decideConfig(props({ awBits: 57 }))).toBe('Legacy mode: supported values for aw-bits are: 39, 48');
    expect(decideConfig(props({ awBits: 52, scalableMode: true }))).toBe('Scalable mode(flts=off): supported values for aw-bits are: 39, 48');
    expect(decideConfig(props({ xFlts: true }))).toBe('x-flts is only available in scalable mode');
    expect(decideConfig(props({ xFlts: true, scalableMode: true, awBits: 39 }))).toBe('Scalable mode(flts=on): supported value for aw-bits is: 48');
    expect(decideConfig(props({ xFlts: true, scalableMode: true }))).toBeNull();
  });

  it('a bad config fails realize (QEMU fails to start)', () => {
    expect(realized(props({ awBits: 64 })).error).toBe('viommu0: Legacy mode: supported values for aw-bits are: 39, 48');
  });
});

describe('caching mode', () => {
  it('is required once a vfio-pci device is coldplugged (machine-done hook)', () => {
    expect(realized(props()).v.machineInitDone(true)).toBe(CACHING_MODE_REQUIRED);
    expect(realized(props()).v.machineInitDone(false)).toBeNull();
    expect(realized(props({ cachingMode: true })).v.machineInitDone(true)).toBeNull();
  });
});

describe('set_iommu_device (vtd_dev_set_iommu_device)', () => {
  it('refuses aw-bits above the host\'s, accepts equal or below; emits set-iommu-device', () => {
    const { v, log } = realized(props({ awBits: 48 }));
    log.take();
    expect(v.setIommuDevice(0x18, hiod(39))).toBe('aw-bits 48 > host aw-bits 39');
    expect(log.take().map((e) => [e.kind, e.component, (e as { status?: number }).status, (e as { data?: unknown }).data])).toEqual([
      ['set-iommu-device', 'viommu0', 1, { device: '0000:3b:00.0', viommu: 'viommu0', message: 'aw-bits 48 > host aw-bits 39' }],
    ]);
    expect(realized(props({ awBits: 39 })).v.setIommuDevice(0x18, hiod(39))).toBeNull();
    expect(realized(props({ awBits: 39 })).v.setIommuDevice(0x18, hiod(48))).toBeNull();
  });

  it('a get_cap error fails as is; a second device at the same BDF is refused', () => {
    const { v } = realized(props({ awBits: 39 }));
    expect(v.setIommuDevice(0x18, hiod(39, { getCap: () => '0000:3b:00.0: unsupported capability 1' }))).toBe('0000:3b:00.0: unsupported capability 1');
    expect(v.setIommuDevice(0x18, hiod(39))).toBeNull();
    expect(v.setIommuDevice(0x18, hiod(39))).toBe('Host IOMMU device already exist');
    v.unsetIommuDevice(0x18);
    expect(v.setIommuDevice(0x18, hiod(39))).toBeNull();
  });

  it('x-flts: iommufd backend, a VT-d host, FS1GP when advertised, no PCI bridge — in QEMU\'s order', () => {
    const flts = props({ xFlts: true, scalableMode: true });
    const set = (h: HostIommuDevice) => realized(flts).v.setIommuDevice(0x18, h);
    expect(set(hiod(48))).toBeNull();
    expect(set(hiod(39))).toBe('aw-bits 48 > host aw-bits 39'); // the common check comes first
    expect(set(hiod(48, { variant: 'legacy-vfio', iommufdCaps: undefined }))).toBe('Need IOMMUFD backend when x-flts=on');
    expect(set(hiod(48, { iommufdCaps: { type: 2, hwCaps: 0n, vendorCaps: {} } }))).toBe('Incompatible host platform IOMMU type 2');
    expect(set(hiod(48, { iommufdCaps: { type: 1, hwCaps: 0n, vendorCaps: { capReg: 0n } } }))).toBe('First stage 1GB large page is unsupported by host IOMMU');
    expect(realized({ ...flts, fs1gp: false }).v.setIommuDevice(0x18, hiod(48, { iommufdCaps: { type: 1, hwCaps: 0n, vendorCaps: { capReg: 0n } } }))).toBeNull();
    expect(set(hiod(48, { behindPciBridge: true }))).toBe('Host device downstream to a PCI bridge is unsupported when x-flts=on');
    // Stage-2 (x-flts off) ignores all of these.
    expect(realized(props()).v.setIommuDevice(0x18, hiod(48, { variant: 'legacy-vfio', iommufdCaps: undefined, behindPciBridge: true }))).toBeNull();
  });
});

describe('translate: DMA remapping not modelled, so disabled (QEMU\'s nodmar address space)', () => {
  it('is identity for every endpoint and address', () => {
    const { v } = realized(props());
    expect(v.translate(0x18, 0x12, 0x345000, 8, 2)).toBe(TR_BYPASS);
    expect([v.slots.physHi, v.slots.physLo]).toEqual([0x12, 0x345000]);
    expect(v.translateAccess(0x18, 0xffffffffffffffffn, 1n, 1)).toEqual({ kind: 'bypass' });
    expect(() => v.translateAccess(0x18, -1n, 1n, 1)).toThrow(RangeError);
  });
});
