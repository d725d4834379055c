/**
 * The vfio-pci plug sequence (core/host/assign.ts; QEMU hw/vfio/pci.c vfio_pci_realize,
 * hw/vfio/device.c vfio_device_attach): attach → HostIOMMUDevice (none for an mdev) →
 * set_iommu_device → notifier; QEMU's error prefixes; coldplug failure fails the machine,
 * hotplug failure leaves nothing behind; unplug undoes it; machine-init-done rules.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../core/events/sink.ts';
import { Machine } from '../../../core/machine/index.ts';
import { VfioPciComponent, componentIdOf, machineInitDone, type AssignedDeviceSpec } from '../../../core/host/assign.ts';
import { VfioShadow } from '../../../core/host/shadow.ts';
import { VirtioIommuComponent } from '../../../core/viommu/virtio-iommu/component.ts';
import { defaultProps } from '../../../core/viommu/virtio-iommu/device.ts';
import { CACHING_MODE_REQUIRED, IntelIommuComponent, defaultIntelIommuProps } from '../../../core/viommu/intel-iommu/intel-iommu.ts';
import type { HostIommuDeviceComponent } from '../../../core/host/hiod/hiod.ts';
import { FakeBackend } from './shadow/fake-backend.ts';

const NIC = 0x18;

function spec(over: Partial<AssignedDeviceSpec> = {}): AssignedDeviceSpec {
  return { id: 'nic0', guestDevice: 'nic0', endpoint: NIC, hostDevice: 'vf0', hostName: '0000:3b:00.0', mdev: false, hotplug: false, ...over };
}

function virtioMachine() {
  const log = new EventLog();
  const machine = new Machine(log);
  const backend = machine.add(new FakeBackend());
  const viommu = machine.add(new VirtioIommuComponent('viommu0', defaultProps('q35'), [0, NIC, 0x20]));
  const shadow = new VfioShadow();
  return { log, machine, backend, viommu, shadow, ctx: { machine, backend, viommu, shadow } };
}

function intelMachine(awBits: number, cachingMode = true) {
  const log = new EventLog();
  const machine = new Machine(log);
  const backend = machine.add(new FakeBackend());
  const viommu = machine.add(new IntelIommuComponent('viommu0', { ...defaultIntelIommuProps(), awBits, cachingMode }));
  return { log, machine, backend, viommu, ctx: { machine, backend, viommu, shadow: null } };
}

describe('coldplug', () => {
  it('attach → hiod realize → set_iommu_device → notifier, in that order, with its events', () => {
    const { log, machine, backend, viommu, shadow, ctx } = virtioMachine();
    machine.add(new VfioPciComponent(spec(), ctx));
    expect(machine.realize()).toBeNull();
    expect(machineInitDone(machine, viommu)).toBeNull();
    expect(viommu.device.granuleFrozen).toBe(true);
    expect(backend.attached).toEqual(['vf0']);
    expect(shadow.has(NIC)).toBe(true);
    expect(machine.components().map((c) => [c.id, c.layer, c.state])).toEqual([
      ['iommufd0', 'backend', 'realized'], ['viommu0', 'viommu', 'realized'], ['nic0', 'guest', 'realized'], ['hiod-nic0', 'host-iommu-device', 'realized'],
    ]);
    const ev = log.take().filter((e) => ['hiod-realize', 'set-iommu-device', 'device-plug'].includes(e.kind));
    expect(ev.map((e) => [e.kind, e.component])).toEqual([['hiod-realize', 'hiod-nic0'], ['set-iommu-device', 'viommu0'], ['device-plug', 'nic0']]);
    expect(ev[2]).toMatchObject({ endpoint: NIC, action: 0, status: 0, data: { device: 'nic0', host: 'vf0' } });
  });

  it('a vIOMMU refusal fails the machine with QEMU\'s message ("vfio <bdf>: Failed to set vIOMMU: …") and detaches', () => {
    const { log, machine, backend, ctx } = intelMachine(48);
    machine.add(new VfioPciComponent(spec(), ctx));
    expect(machine.realize()).toBe('nic0: vfio 0000:3b:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39');
    expect(backend.attached).toEqual([]);
    expect(machine.get('hiod-nic0')).toBeUndefined();
    const plug = log.take().find((e) => e.kind === 'device-plug');
    expect(plug).toMatchObject({ action: 0, status: 1, data: { error: 'vfio 0000:3b:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39' } });
  });

  it('aw-bits 39 on a 39-bit host works; intel-iommu then needs caching-mode (machine-done)', () => {
    const ok = intelMachine(39);
    ok.machine.add(new VfioPciComponent(spec(), ok.ctx));
    expect(ok.machine.realize()).toBeNull();
    expect(machineInitDone(ok.machine, ok.viommu)).toBeNull();
    const cm = intelMachine(39, false);
    cm.machine.add(new VfioPciComponent(spec(), cm.ctx));
    expect(cm.machine.realize()).toBeNull();
    expect(machineInitDone(cm.machine, cm.viommu)).toBe(CACHING_MODE_REQUIRED);
    // Without an assigned device caching-mode does not matter.
    const none = intelMachine(39, false);
    expect(none.machine.realize()).toBeNull();
    expect(machineInitDone(none.machine, none.viommu)).toBeNull();
  });

  it('an attach failure is prefixed with the host device\'s name', () => {
    const { machine, ctx } = virtioMachine();
    machine.add(new VfioPciComponent(spec({ hostDevice: 'busy' }), ctx));
    expect(machine.realize()).toBe('nic0: vfio 0000:3b:00.0: error getting device from group 7: Device or resource busy');
  });

  it('an mdev gets no HostIOMMUDevice and no set_iommu_device, but its notifier', () => {
    const { log, machine, shadow, ctx } = virtioMachine();
    machine.add(new VfioPciComponent(spec({ hostDevice: 'mdev0', hostName: 'mdev0', mdev: true }), ctx));
    expect(machine.realize()).toBeNull();
    expect(machine.components('host-iommu-device')).toEqual([]);
    expect(log.take().map((e) => e.kind).filter((k) => k === 'hiod-realize' || k === 'set-iommu-device')).toEqual([]);
    expect(shadow.has(NIC)).toBe(true);
  });
});

describe('hotplug (device_add) and unplug (device_del)', () => {
  it('a refused hotplug is device_add\'s error and leaves nothing behind', () => {
    const { machine, backend, ctx } = intelMachine(48);
    expect(machine.realize()).toBeNull();
    expect(machine.plug(new VfioPciComponent(spec({ hotplug: true }), ctx))).toBe('vfio 0000:3b:00.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 39');
    expect(machine.components().map((c) => c.id)).toEqual(['iommufd0', 'viommu0']);
    expect(backend.attached).toEqual([]);
  });

  it('virtio-iommu after the granule froze: a host without the 4 KiB granule is refused with QEMU\'s text', () => {
    const { machine, viommu, ctx } = virtioMachine();
    expect(machine.realize()).toBeNull();
    machineInitDone(machine, viommu);
    const be = ctx.backend;
    const orig = be.attachDevice.bind(be);
    be.attachDevice = (h, as) => {
      const r = orig(h, as);
      return r.ok ? { ok: true, attachment: { ...r.attachment, pgsizes: 0x200000n } } : r;
    };
    expect(machine.plug(new VfioPciComponent(spec({ hotplug: true }), ctx))).toBe(
      'vfio 0000:3b:00.0: Failed to set vIOMMU: 0000:3b:00.0: virtio-iommu does not support frozen granule 0x1000',
    );
  });

  it('unplug removes the hiod, the notifier, the host ranges and the attachment', () => {
    const { log, machine, backend, viommu, shadow, ctx } = virtioMachine();
    expect(machine.realize()).toBeNull();
    expect(machine.plug(new VfioPciComponent(spec({ id: componentIdOf('NIC_0'), hotplug: true }), ctx))).toBeNull();
    expect(machine.get('nic-0')?.state).toBe('realized');
    const hiod = machine.get('hiod-nic-0') as HostIommuDeviceComponent;
    expect(viommu.device.setIommuDevice(NIC, hiod, 'mr').error).toBe('Host IOMMU device already exists');
    log.take();
    expect(machine.unplug('nic-0')).toBeNull();
    expect(machine.components().map((c) => c.id)).toEqual(['iommufd0', 'viommu0']);
    expect(shadow.has(NIC)).toBe(false);
    expect(backend.attached).toEqual([]);
    expect(log.take().find((e) => e.kind === 'device-plug')).toMatchObject({ action: 2, status: 0 });
  });
});
