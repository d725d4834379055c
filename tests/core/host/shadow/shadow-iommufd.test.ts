/**
 * Shadowing end to end over the real iommufd engine: a 39-bit VT-d host, an assigned VF behind
 * virtio-iommu. The guest's PROBE shows the host holes as RESERVED regions; a guest MAP inside the
 * aperture becomes an IOAS area the device's host DMA translates through; a guest MAP above the
 * aperture is OK for the guest, fails on the host (IOAS_MAP EINVAL: a reserved range) with QEMU's
 * report, and the device's DMA there faults in the physical IOMMU.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../../core/events/sink.ts';
import { Machine } from '../../../../core/machine/index.ts';
import { VfioPciComponent, machineInitDone } from '../../../../core/host/assign.ts';
import { VfioShadow } from '../../../../core/host/shadow.ts';
import { GUEST_RAM_HVA_BASE } from '../../../../core/host/shadow-text.ts';
import { VirtioIommuComponent } from '../../../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../../../core/viommu/virtio-iommu/device.ts';
import { encodeRequest } from '../../../../core/viommu/virtio-iommu/codec.ts';
import { T_ATTACH, T_MAP, T_PROBE, T_UNMAP } from '../../../../core/viommu/virtio-iommu/constants.ts';
import { decodeProbeRegions } from '../../../../core/run/wire.ts';
import { EngineIommufdBackend, HOST_39, platformOf } from './iommufd-backend.ts';

const NIC = 0x18;

function rig() {
  const log = new EventLog();
  const machine = new Machine(log);
  const backend = machine.add(new EngineIommufdBackend(platformOf(HOST_39)));
  const viommu = machine.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [0, NIC]));
  const shadow = new VfioShadow();
  viommu.setNotifier(shadow);
  machine.add(new VfioPciComponent({ id: 'nic0', guestDevice: 'nic0', endpoint: NIC, hostDevice: 'vf0', hostName: '0000:3b:00.0', mdev: false, hotplug: false }, { machine, backend, viommu, shadow }));
  expect(machine.realize()).toBeNull();
  expect(machineInitDone(machine, viommu)).toBeNull();
  const req = (r: Parameters<typeof encodeRequest>[0]) => viommu.device.handleRequest(encodeRequest(r), 4)[0];
  return { log, backend, viommu, shadow, req };
}

describe('virtio-iommu → VFIO notifier → iommufd IOAS (real engine)', () => {
  it('PROBE shows the 39-bit host\'s holes as RESERVED (the MSI window stays MSI)', () => {
    const { viommu } = rig();
    const reply = viommu.device.handleRequest(encodeRequest({ type: T_PROBE, endpoint: NIC }), 516);
    expect(reply[512]).toBe(0);
    expect(decodeProbeRegions(reply.subarray(0, 512))).toEqual([
      { subtype: 1, start: 0xfee00000n, end: 0xfeefffffn },
      { subtype: 0, start: 0x8000000000n, end: 0xffffffffffffffffn },
    ]);
  });

  it('a guest MAP in the aperture becomes an IOAS area; host DMA translates to its HVA; UNMAP removes it', () => {
    const { backend, req } = rig();
    expect(req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 })).toBe(0);
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x100000n, virtEnd: 0x101fffn, physStart: 0x40000000n, flags: 3 })).toBe(0);
    const devId = backend.devIds.get('vf0')!;
    expect(backend.fd.hostDma(devId, 0x101008n, 8n, 'write')).toMatchObject({ translated: GUEST_RAM_HVA_BASE + 0x40001008n });
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0x100000n, virtEnd: 0x101fffn })).toBe(0);
    expect(backend.fd.hostDma(devId, 0x101008n, 8n, 'write')).toMatchObject({ fault: { reason: 'unmapped' } });
  });

  it('a guest MAP above the aperture: OK for the guest, EINVAL on the host with QEMU\'s report, host DMA faults', () => {
    const { log, backend, viommu, shadow, req } = rig();
    req({ type: T_ATTACH, domain: 1, endpoint: NIC, flags: 0 });
    log.take();
    expect(req({ type: T_MAP, domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn, physStart: 0x1000n, flags: 3 })).toBe(0);
    const ev = log.take();
    const errs = ev.filter((e) => e.kind === 'qemu-error') as unknown as Array<{ data: { message: string }; cause: bigint }>;
    expect(errs[0].data.message).toBe('IOMMU_IOAS_MAP failed: Invalid argument');
    const err = errs[1];
    // IOAS ID 2 (the device took ID 1): its bcontainer stand-in is 0x555555550000 + 2 << 12.
    expect(err.data.message).toBe('vfio_container_dma_map(0x555555552000, 0x8000000000, 0x1000, 0x7f0000001000) = -22 (Invalid argument)');
    expect(err.cause).toBe(BigInt(ev.find((e) => e.kind === 'map')!.seq));
    expect(shadow.counters).toEqual({ maps: 1, unmaps: 0, failures: 1 });
    // The vIOMMU holds the mapping (the guest was told OK); the physical IOMMU does not.
    expect(viommu.device.domainMappings(1)).toHaveLength(1);
    expect(backend.fd.hostDma(backend.devIds.get('vf0')!, 0x8000000000n, 4n, 'read')).toMatchObject({ fault: { reason: 'unmapped' } });
    // Its UNMAP: IOAS_UNMAP finds nothing (ENOENT), which QEMU's iommufd helper counts as success: no report.
    expect(req({ type: T_UNMAP, domain: 1, virtStart: 0x8000000000n, virtEnd: 0x8000000fffn })).toBe(0);
    expect(log.take().filter((e) => e.kind === 'qemu-error')).toEqual([]);
  });
});
