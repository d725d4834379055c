/**
 * VFIO's group-path / cdev-path exclusion over the engines of one host (drivers/vfio/group.c,
 * commit 270bf4c019b9 "vfio: Add cdev_device_open_cnt to vfio_group"; core/host/platform/vfio-group.ts):
 * /dev/vfio/N (opened by the lab at group-set-container) and VFIO_DEVICE_BIND_IOMMUFD on a
 * member's cdev exclude each other with EBUSY, and releasing one side lets the other in. Each rule
 * is one test body run over both group-path engines: VFIO type1 and iommufd's VFIO compatibility.
 */
import { describe, expect, it } from 'vitest';
import { hostBackends, type HostBackends } from '../../../../core/host/backend/from-platform.ts';
import type { VfioContainerBackend } from '../../../../core/host/backend/vfio-api.ts';
import { errnoName } from '../../../../core/host/errno.ts';
import type { HostDesc } from '../../../../core/host/platform/host.ts';
import { VfioGroupFiles } from '../../../../core/host/platform/vfio-group.ts';
import { platform } from './type1-fixture.ts';

/** vf0 and vf2 share a group (below a root port without ACS); vf1 is alone; nic0's group has a host driver. */
const HOST: HostDesc = {
  iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }],
  devices: [
    { name: 'rp0', bdf: '0000:00:1c.0', type: 'root-port', iommu: 'dmar0', acs: false },
    { name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', behind: 'rp0' },
    { name: 'vf2', bdf: '0000:3b:00.1', type: 'vfio-pci', behind: 'rp0' },
    { name: 'vf1', bdf: '0000:5e:00.0', type: 'vfio-pci', iommu: 'dmar0' },
    { name: 'rp1', bdf: '0000:00:1d.0', type: 'root-port', iommu: 'dmar0', acs: false },
    { name: 'vf3', bdf: '0000:6f:00.0', type: 'vfio-pci', behind: 'rp1' },
    { name: 'nic0', bdf: '0000:6f:00.1', type: 'endpoint', behind: 'rp1' },
  ],
};

type Name = 'type1' | 'compat';
const NAMES: readonly Name[] = ['type1', 'compat'];
const e = (r: { errno: number }): string => errnoName(r.errno);

function setup(name: Name): { b: HostBackends; be: VfioContainerBackend; c: number; group: (dev: string) => number } {
  const b = hostBackends(platform(HOST));
  const be = b[name];
  const c = be.containerOpen().container;
  return { b, be, c, group: (dev) => b.host.deviceByName.get(dev)!.group };
}

describe.each(NAMES)('group path vs cdev path (%s)', (name) => {
  it('group file open → the cdev bind of any member is EBUSY (vfio_device_claim_group); group-unset-container closes it and the bind succeeds', () => {
    const { b, be, c, group } = setup(name);
    expect(e(be.groupSetContainer('vf0', c))).toBe('OK');
    expect(b.groupFiles.isOpen(group('vf0'))).toBe(true);
    expect([e(b.bind('vf0')), e(b.bind('vf2'))]).toEqual(['EBUSY', 'EBUSY']);
    expect(b.groupFiles.cdevOpenCount(group('vf0'))).toBe(0);
    // Another group is not affected.
    expect(b.bind('vf1')).toEqual({ errno: 0, outDevId: 1 });
    expect(e(be.groupUnsetContainer('vf2'))).toBe('OK');
    expect(b.groupFiles.isOpen(group('vf0'))).toBe(false);
    expect(b.bind('vf0')).toEqual({ errno: 0, outDevId: 2 });
  });

  it('a member bound through its cdev → group-set-container is EBUSY (vfio_group_fops_open), before the container check; each unbind releases one count', () => {
    const { b, be, c, group } = setup(name);
    const d0 = b.bind('vf0').outDevId;
    const d2 = b.bind('vf2').outDevId;
    expect(b.groupFiles.cdevOpenCount(group('vf0'))).toBe(2);
    expect([e(be.groupSetContainer('vf0', c)), e(be.groupSetContainer('vf2', c)), e(be.groupSetContainer('vf0', 99))]).toEqual(['EBUSY', 'EBUSY', 'EBUSY']);
    expect(e(be.groupSetContainer('vf1', c))).toBe('OK');
    expect(errnoName(b.iommufd.deviceUnbind(d0))).toBe('OK');
    expect(b.groupFiles.cdevOpenCount(group('vf0'))).toBe(1);
    expect(e(be.groupSetContainer('vf0', c))).toBe('EBUSY');
    expect(errnoName(b.iommufd.deviceUnbind(d2))).toBe('OK');
    expect(b.groupFiles.cdevOpenCount(group('vf0'))).toBe(0);
    expect(e(be.groupSetContainer('vf0', c))).toBe('OK');
    expect(e(b.bind('vf0'))).toBe('EBUSY');
  });

  it('closing the iommufd unbinds its devices and releases their counts', () => {
    const { b, be, c } = setup(name);
    expect(e(b.bind('vf0'))).toBe('OK');
    b.iommufd.close();
    expect(e(be.groupSetContainer('vf0', c))).toBe('OK');
  });

  it('a failed set-container closes the file it opened (EBADF, ENOENT leave the cdev free); a repeated one on the same engine stays EINVAL', () => {
    const { b, be, c } = setup(name);
    expect(e(be.groupSetContainer('vf0', 99))).toBe('EBADF');
    expect(e(be.groupSetContainer('nope', c))).toBe('ENOENT');
    expect(e(be.groupSetContainer('vf0', c))).toBe('OK');
    expect(e(be.groupSetContainer('vf2', c))).toBe('EINVAL');
    expect(e(b.bind('vf0'))).toBe('EBUSY');
  });

  it('a failed cdev bind releases its claim: bound twice (EINVAL), a group owned by a host driver (EBUSY from DMA ownership)', () => {
    const { b, be, c, group } = setup(name);
    expect(e(b.bind('vf0'))).toBe('OK');
    expect(e(b.bind('vf0'))).toBe('EINVAL');
    expect(b.groupFiles.cdevOpenCount(group('vf0'))).toBe(1);
    expect(e(b.bind('vf3'))).toBe('EBUSY');
    expect(b.groupFiles.cdevOpenCount(group('vf3'))).toBe(0);
    // The group path is not blocked by the failed bind: type1 then meets the host driver's
    // ownership (EBUSY at set-container), the compat layer only at device open.
    expect(e(be.groupSetContainer('vf3', c))).toBe(name === 'type1' ? 'EBUSY' : 'OK');
  });
});

describe('one group file per host', () => {
  it('single open across engines: a group set on a type1 container cannot be set on a compat container (EBUSY), and the reverse', () => {
    const b = hostBackends(platform(HOST));
    const t = b.type1.containerOpen().container;
    const k = b.compat.containerOpen().container;
    expect(e(b.type1.groupSetContainer('vf0', t))).toBe('OK');
    expect(e(b.compat.groupSetContainer('vf2', k))).toBe('EBUSY');
    expect(e(b.compat.groupSetContainer('vf1', k))).toBe('OK');
    expect(e(b.type1.groupSetContainer('vf1', t))).toBe('EBUSY');
    expect(e(b.type1.groupUnsetContainer('vf0'))).toBe('OK');
    expect(e(b.compat.groupSetContainer('vf0', k))).toBe('OK');
  });

  it('compat: a device fd opened through the group keeps the group file after group-unset-container; its close releases it', () => {
    const b = hostBackends(platform(HOST));
    const k = b.compat.containerOpen().container;
    expect(e(b.compat.groupSetContainer('vf1', k))).toBe('OK');
    expect(e(b.compat.deviceOpen('vf1'))).toBe('OK');
    expect(e(b.compat.groupUnsetContainer('vf1'))).toBe('OK');
    expect(e(b.bind('vf1'))).toBe('EBUSY');
    expect(e(b.compat.groupSetContainer('vf1', k))).toBe('EBUSY');
    expect(e(b.compat.deviceClose('vf1'))).toBe('OK');
    expect(e(b.bind('vf1'))).toBe('OK');
  });

  it('VfioGroupFiles: open/claim exclusion, single open, releasing what is not held is a bug', () => {
    const f = new VfioGroupFiles();
    const a = {};
    expect(f.claimCdev(3)).toBe(0);
    expect(f.openGroup(3, a)).toBe(16);
    f.releaseCdev(3);
    expect(f.openGroup(3, a)).toBe(0);
    expect(f.openGroup(3, {})).toBe(16);
    expect(f.openGroup(3, a)).toBe(16);
    expect(f.claimCdev(3)).toBe(16);
    expect(() => f.closeGroup(3, {})).toThrow(/not open by this opener/);
    f.closeGroup(3, a);
    expect(() => f.releaseCdev(3)).toThrow(/no cdev open/);
  });
});
