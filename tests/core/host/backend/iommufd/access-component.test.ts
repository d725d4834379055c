/**
 * An mdev through the iommufd0 component's scripted steps (core/host/components/backend.ts): its
 * VFIO_DEVICE_BIND_IOMMUFD takes the emulated path (vfio_iommufd_emulated_bind → ACCESS), through
 * its cdev like a physical device (vfio_df_ioctl_bind_iommufd claims the emulated group first:
 * drivers/vfio/group.c vfio_device_claim_group), and the attach writes the IOAS ID back.
 * Reference iommufd-vfio-hostiommu.md §1.1.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../../../core/events/sink.ts';
import { Machine } from '../../../../../core/machine/index.ts';
import { hostBackends } from '../../../../../core/host/backend/from-platform.ts';
import { IommufdBackendComponent } from '../../../../../core/host/components/backend.ts';
import { errnoName } from '../../../../../core/host/errno.ts';
import type { HostDesc } from '../../../../../core/host/platform/host.ts';
import { platform } from '../type1-fixture.ts';

const HOST: HostDesc = {
  iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }],
  devices: [
    { name: 'vf1', bdf: '0000:5e:00.0', type: 'vfio-pci', iommu: 'dmar0' },
    { name: 'mdev0', type: 'mdev', parent: 'vf1' },
  ],
};

const setup = () => {
  const engines = hostBackends(platform(HOST));
  const ops: string[] = [];
  const machine = new Machine(new EventLog((e) => e.kind === 'host-call' && ops.push((e as unknown as { call: { op: string } }).call.op)));
  const c = machine.add(new IommufdBackendComponent(engines));
  expect(machine.realize()).toBeNull();
  const group = engines.host.deviceByName.get('mdev0')!.group;
  return { engines, c, group, ops };
};

describe('an mdev bound through iommufd0', () => {
  it('device-bind → an ACCESS (not EINVAL), its ID as out-dev-id; attach writes the IOAS ID back; bound twice → EINVAL', () => {
    const { engines, c } = setup();
    expect(c.iommufdStep('ioas-alloc', {}).bound).toBe(1n);
    const bind = c.iommufdStep('device-bind', { device: 'mdev0' });
    expect([errnoName(bind.errno), bind.outputs]).toEqual(['OK', { 'out-dev-id': 2 }]);
    expect(engines.iommufd.objects().map((o) => o.kind)).toEqual(['ioas', 'access']);
    const at = c.iommufdStep('device-attach', { dev: 2, pt: 1 });
    expect([errnoName(at.errno), at.outputs]).toEqual(['OK', { 'pt-id': 1 }]);
    expect(errnoName(c.iommufdStep('device-bind', { device: 'mdev0' }).errno)).toBe('EINVAL');
    expect(errnoName(c.iommufdStep('destroy', { id: 1 }).errno)).toBe('EBUSY');
    expect(errnoName(c.iommufdStep('get-hw-info', { dev: 2 }).errno)).toBe('ENOENT');
  });

  it("the bind holds the emulated group's cdev claim: the group path (iommufd's VFIO compatibility) gets EBUSY until unbind", () => {
    const { engines, c, group } = setup();
    expect(errnoName(c.iommufdStep('device-bind', { device: 'mdev0' }).errno)).toBe('OK');
    expect(engines.groupFiles.cdevOpenCount(group)).toBe(1);
    const ct = engines.compat.containerOpen().container;
    expect(errnoName(engines.compat.groupSetContainer('mdev0', ct).errno)).toBe('EBUSY');
    expect(errnoName(c.iommufdStep('device-unbind', { dev: 1 }).errno)).toBe('OK');
    expect(engines.groupFiles.cdevOpenCount(group)).toBe(0);
  });

  it('with the group file open the bind is EBUSY before anything else, and no ACCESS is made', () => {
    const { engines, c, group } = setup();
    const ct = engines.compat.containerOpen().container;
    expect(errnoName(engines.compat.groupSetContainer('mdev0', ct).errno)).toBe('OK');
    expect(engines.groupFiles.isOpen(group)).toBe(true);
    expect(errnoName(c.iommufdStep('device-bind', { device: 'mdev0' }).errno)).toBe('EBUSY');
    expect(engines.iommufd.objects()).toEqual([]);
  });

  it("QEMU's attach of an assigned mdev (iommufd_cdev_attach): bound as an ACCESS, attached straight to the IOAS, no HWPT, no GET_HW_INFO; detach frees the IOAS", () => {
    const { engines, c, ops } = setup();
    const r = c.attachDevice('mdev0', 'as0');
    expect(ops).toEqual(['device-bind', 'ioas-alloc', 'device-attach', 'ioas-iova-ranges', 'ioas-iova-ranges']);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.attachment).toMatchObject({ backend: 'iommufd', devId: 1, container: 2, iovaRanges: [{ start: 0n, end: 0xffffffffffffffffn }], pgsizes: 0x1000n });
    expect(r.attachment.hwptId).toBeUndefined();
    expect(r.attachment.hwInfo).toBeUndefined();
    expect(engines.iommufd.objects().map((o) => `${o.id}:${o.kind}`)).toEqual(['1:access', '2:ioas']);
    expect(engines.iommufd.users(2)).toBe(1);
    c.detachDevice('mdev0');
    expect(engines.iommufd.objects()).toEqual([]);
  });
});
