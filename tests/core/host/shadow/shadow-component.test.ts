/**
 * The runs' iommufd0 component under the shadow: its u32 hot path (events off) gives the same
 * errnos and host state as its bigint path (events on), so benchmarks and recorded runs agree.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../../core/events/sink.ts';
import { Machine } from '../../../../core/machine/index.ts';
import { IommufdBackendComponent } from '../../../../core/host/components/backend.ts';
import { hostBackends } from '../../../../core/host/backend/from-platform.ts';
import { VfioPciComponent, machineInitDone } from '../../../../core/host/assign.ts';
import { VfioShadow } from '../../../../core/host/shadow.ts';
import { VirtioIommuComponent } from '../../../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../../../core/viommu/virtio-iommu/device.ts';
import { encodeRequest } from '../../../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_MAP, T_UNMAP } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { HOST_39, platformOf } from './iommufd-backend.ts';

function rig(enabled: boolean) {
  const log = new EventLog();
  const machine = new Machine(log);
  const engines = hostBackends(platformOf(HOST_39));
  const backend = machine.add(new IommufdBackendComponent(engines));
  const viommu = machine.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [0, 0x18]));
  const shadow = new VfioShadow();
  viommu.setNotifier(shadow);
  machine.add(new VfioPciComponent({ id: 'nic0', guestDevice: 'nic0', endpoint: 0x18, hostDevice: 'vf0', hostName: '0000:3b:00.0', mdev: false, hotplug: false }, { machine, backend, viommu, shadow }));
  expect(machine.realize()).toBeNull();
  expect(machineInitDone(machine, viommu)).toBeNull();
  log.enabled = enabled;
  const req = (r: Parameters<typeof encodeRequest>[0]) => viommu.device.handleRequest(encodeRequest(r), 4)[0];
  return { engines, backend, shadow, req };
}

describe.each([true, false])('iommufd0 under the shadow (events %s)', (enabled) => {
  it('maps in the aperture, refuses above it (EINVAL), unmaps; host DMA follows', () => {
    const { engines, backend, shadow, req } = rig(enabled);
    req({ type: T_ATTACH, domain: 1, endpoint: 0x18, flags: 0 });
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x100000n, virtEnd: 0x100fffn, physStart: 0x2000n, flags: 1 })).toBe(0);
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn, physStart: 0x2000n, flags: 3 })).toBe(0);
    expect(shadow.counters).toEqual({ maps: 2, unmaps: 0, failures: 1 });
    expect(backend.hostDma('vf0', 0x100010n, 4n, 'read')).toMatchObject({ translated: 0x7f0000002010n });
    expect(backend.hostDma('vf0', 0x100010n, 4n, 'write')).toMatchObject({ fault: {} }); // read-only mapping
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0n, virtEnd: 0xffffffffffffffffn })).toBe(0);
    // Both unmaps succeed: the one the host never mapped is ENOENT, which QEMU counts as success.
    expect(shadow.counters).toEqual({ maps: 2, unmaps: 2, failures: 1 });
    expect(engines.iommufd.hostDma(engines.iommufd.deviceIdOf('vf0'), 0x100010n, 4n, 'read')).toMatchObject({ fault: { reason: 'unmapped' } });
  });
});
