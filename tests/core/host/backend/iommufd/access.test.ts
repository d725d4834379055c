/**
 * iommufd access objects for emulated (mdev) devices (core/host/backend/iommufd/access.ts):
 * bind → ACCESS in the one ID space, attach/replace/detach to an IOAS only (pt_id written back
 * unchanged, no HWPT), the IOAS busy while attached, PAGE_SIZE alignment (EADDRINUSE), the
 * DEVICE-typed ioctls refusing an access ID with ENOENT, unbind and close (reference
 * iommufd-vfio-hostiommu.md §1.1, §1.3, §2.4; drivers/iommu/iommufd/device.c iommufd_access_*,
 * drivers/vfio/iommufd.c vfio_iommufd_emulated_*).
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../../../core/host/errno.ts';
import { Iommufd } from '../../../../../core/host/backend/iommufd/iommufd.ts';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R } from '../../../../../core/host/backend/iommufd/uapi.ts';
import { PAGE, X86_MSI, device, vtd } from '../../iommufd/fixtures.ts';

/** An mdev as the platform offers it: an emulated group, no IOMMU, no reserved regions. */
const mdev = (name = 'mdev0') => device(name, undefined);

const kinds = (fd: Iommufd) => fd.objects().map((o) => `${o.id}:${o.kind}`);

describe('bind of an emulated device: an ACCESS (vfio_iommufd_emulated_bind → iommufd_access_create)', () => {
  it('takes the next ID of the one ID space; binds once (EINVAL); IOMMU_DESTROY of it is EBUSY (the driver is a user); unbind frees the ID', () => {
    const fd = new Iommufd();
    expect(fd.ioasAlloc().outIoasId).toBe(1);
    const m = mdev();
    expect(fd.accessCreate(m)).toEqual({ errno: 0, outDevId: 2 });
    expect(kinds(fd)).toEqual(['1:ioas', '2:access']);
    expect(fd.accessCreate(m).errno).toBe(ERRNO.EINVAL);
    expect(fd.destroy(2)).toBe(ERRNO.EBUSY);
    expect(fd.deviceUnbind(2)).toBe(0);
    expect(fd.deviceUnbind(2)).toBe(ERRNO.ENOENT);
    expect(kinds(fd)).toEqual(['1:ioas']);
    expect(fd.accessCreate(m).outDevId).toBe(2);
  });

  it('a physical bind of the same device (no IOMMU) is EINVAL: only the emulated path binds an mdev', () => {
    expect(new Iommufd().deviceBind(mdev()).errno).toBe(ERRNO.EINVAL);
  });
});

describe('attach (iommufd_access_attach / _replace / _detach)', () => {
  const setup = () => {
    const fd = new Iommufd();
    const ioasA = fd.ioasAlloc().outIoasId;
    const ioasB = fd.ioasAlloc().outIoasId;
    const acc = fd.accessCreate(mdev()).outDevId;
    return { fd, ioasA, ioasB, acc };
  };

  it('attach to an IOAS: pt_id stays the IOAS ID, no HWPT is made, the IOAS is busy until detach', () => {
    const { fd, ioasA, acc } = setup();
    expect(fd.deviceAttach(acc, ioasA)).toEqual({ errno: 0, ptId: ioasA });
    expect(kinds(fd)).toEqual(['1:ioas', '2:ioas', '3:access']);
    expect(fd.users(ioasA)).toBe(1);
    expect(fd.destroy(ioasA)).toBe(ERRNO.EBUSY);
    expect(fd.deviceDetach(acc)).toBe(0);
    expect(fd.users(ioasA)).toBe(0);
    expect(fd.destroy(ioasA)).toBe(0);
  });

  it.each([
    ['an absent ID', () => 99, 0],
    ['a HWPT_PAGING (it holds the IOAS itself)', (fd: Iommufd, ioas: number) => fd.hwptAlloc({ flags: 0, devId: fd.deviceBind(device('vf0', vtd())).outDevId, ptId: ioas, dataType: 0, dataLen: 0 }).outHwptId, 1],
    ['a DEVICE', (fd: Iommufd) => fd.deviceBind(device('vf1', vtd())).outDevId, 0],
    ['the access itself', (_fd: Iommufd, _ioas: number, acc: number) => acc, 0],
  ] as const)('pt %s is not an IOAS: ENOENT (iommufd_get_ioas), nothing attached', (_n, pt, ioasUsers) => {
    const { fd, ioasA, acc } = setup();
    const ptId = pt(fd, ioasA, acc);
    expect(ptId).toBeGreaterThan(0);
    expect(fd.deviceAttach(acc, ptId)).toEqual({ errno: ERRNO.ENOENT, ptId });
    expect(fd.users(ioasA)).toBe(ioasUsers);
    expect(fd.deviceReplace(acc, ioasA).errno).toBe(ERRNO.ENOENT); // still not attached
  });

  it('attach while attached replaces (vfio_iommufd_emulated_attach_ioas): the reference moves; the same IOAS is a no-op; a refused replace leaves it where it was', () => {
    const { fd, ioasA, ioasB, acc } = setup();
    expect(fd.deviceAttach(acc, ioasA).errno).toBe(0);
    expect(fd.deviceAttach(acc, ioasA)).toEqual({ errno: 0, ptId: ioasA });
    expect(fd.users(ioasA)).toBe(1);
    expect(fd.deviceAttach(acc, ioasB)).toEqual({ errno: 0, ptId: ioasB });
    expect([fd.users(ioasA), fd.users(ioasB)]).toEqual([0, 1]);
    expect(fd.deviceAttach(acc, 77).errno).toBe(ERRNO.ENOENT);
    expect([fd.users(ioasA), fd.users(ioasB)]).toEqual([0, 1]);
    expect(fd.destroy(ioasA)).toBe(0);
    expect(fd.destroy(ioasB)).toBe(ERRNO.EBUSY);
  });

  it('iommufd_access_replace of an access with no IOAS is ENOENT; detach of one not attached is a no-op (0); a bad ID is ENOENT', () => {
    const { fd, ioasA, acc } = setup();
    expect(fd.deviceReplace(acc, ioasA).errno).toBe(ERRNO.ENOENT);
    expect(fd.users(ioasA)).toBe(0);
    expect(fd.deviceDetach(acc)).toBe(0);
    expect(fd.deviceDetach(55)).toBe(ERRNO.ENOENT);
    expect(fd.deviceAttach(55, ioasA).errno).toBe(ERRNO.ENOENT);
    expect(fd.deviceAttach(acc, ioasA).errno).toBe(0);
    expect(fd.deviceReplace(acc, 2)).toEqual({ errno: 0, ptId: 2 });
    expect(fd.users(2)).toBe(1);
  });

  it("no reservations: the mdev's attach adds nothing to the IOAS (IOVA_RANGES unchanged, a map over the MSI window works)", () => {
    const { fd, ioasA, acc } = setup();
    expect(fd.deviceAttach(acc, ioasA).errno).toBe(0);
    const r = fd.ioasIovaRanges(ioasA, 4);
    expect(r.ranges).toEqual([{ start: 0n, last: 0xffffffffffffffffn }]);
    expect(fd.ioasMap({ ioasId: ioasA, flags: FIXED | R, userVa: 0x10000000n, length: X86_MSI.length, iova: X86_MSI.start }).errno).toBe(0);
  });
});

describe("an access's iova_alignment (vfio_user_ops needs_pin_pages: PAGE_SIZE; iopt_add_access)", () => {
  it('raises the IOAS alignment to PAGE_SIZE while attached; back to 1 after detach', () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    const acc = fd.accessCreate(mdev()).outDevId;
    expect(fd.ioasIovaRanges(ioas, 4).outIovaAlignment).toBe(1n);
    expect(fd.deviceAttach(acc, ioas).errno).toBe(0);
    expect(fd.ioasIovaRanges(ioas, 4).outIovaAlignment).toBe(PAGE);
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x10000000n, length: 0x800n, iova: 0x100000n }).errno).toBe(ERRNO.EINVAL);
    expect(fd.deviceDetach(acc)).toBe(0);
    expect(fd.ioasIovaRanges(ioas, 4).outIovaAlignment).toBe(1n);
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x10000000n, length: 0x800n, iova: 0x100000n }).errno).toBe(0);
  });

  it('an area not PAGE_SIZE aligned refuses the attach with EADDRINUSE (not attached, no reference); replace to such an IOAS leaves the old one', () => {
    const fd = new Iommufd();
    const bad = fd.ioasAlloc().outIoasId;
    const good = fd.ioasAlloc().outIoasId;
    expect(fd.ioasMap({ ioasId: bad, flags: FIXED | R, userVa: 0x10000000n, length: 0x800n, iova: 0x100000n }).errno).toBe(0);
    const acc = fd.accessCreate(mdev()).outDevId;
    expect(fd.deviceAttach(acc, bad)).toEqual({ errno: ERRNO.EADDRINUSE, ptId: bad });
    expect(fd.users(bad)).toBe(0);
    expect(fd.ioasIovaRanges(bad, 4).outIovaAlignment).toBe(1n);
    expect(fd.deviceAttach(acc, good).errno).toBe(0);
    expect(fd.deviceAttach(acc, bad).errno).toBe(ERRNO.EADDRINUSE);
    expect([fd.users(bad), fd.users(good)]).toEqual([0, 1]);
    expect(fd.ioasIovaRanges(good, 4).outIovaAlignment).toBe(PAGE);
  });
});

describe('DEVICE-typed ioctls with an ACCESS ID: the typed lookup (iommufd_get_device) → ENOENT', () => {
  const setup = () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    const acc = fd.accessCreate(mdev()).outDevId;
    expect(fd.deviceAttach(acc, ioas).errno).toBe(0);
    return { fd, ioas, acc };
  };

  it('IOMMU_GET_HW_INFO', () => {
    const { fd, acc } = setup();
    expect(fd.getHwInfo({ devId: acc, dataLen: 64 }).errno).toBe(ERRNO.ENOENT);
  });

  it('IOMMU_HWPT_ALLOC (with or without DIRTY_TRACKING); no HWPT appears', () => {
    const { fd, ioas, acc } = setup();
    expect(fd.hwptAlloc({ flags: 0, devId: acc, ptId: ioas, dataType: 0, dataLen: 0 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING, devId: acc, ptId: ioas, dataType: 0, dataLen: 0 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.objects().some((o) => o.kind === 'hwpt-paging')).toBe(false);
  });

  it('IOMMU_HWPT_SET_DIRTY_TRACKING / GET_DIRTY_BITMAP on the access ID (not a HWPT_PAGING)', () => {
    const { fd, acc } = setup();
    expect(fd.hwptSetDirtyTracking(acc, 1)).toBe(ERRNO.ENOENT);
    expect(fd.hwptGetDirtyBitmap({ hwptId: acc, flags: 0, iova: 0x100000n, length: PAGE, pageSize: PAGE }).errno).toBe(ERRNO.ENOENT);
  });

  it('IOMMU_VIOMMU_ALLOC with the access as dev_id', () => {
    const { fd, acc } = setup();
    expect(fd.viommuAlloc({ type: 1, devId: acc, hwptId: 1 }).errno).toBe(ERRNO.ENOENT);
  });

  it('a physical device beside it still gets its auto domain; the access never appears in a HWPT', () => {
    const { fd, ioas } = setup();
    const dev = fd.deviceBind(device('vf0', vtd())).outDevId;
    const at = fd.deviceAttach(dev, ioas);
    expect(at.errno).toBe(0);
    expect(fd.objects().find((o) => o.id === at.ptId)?.kind).toBe('hwpt-paging');
    expect(fd.users(ioas)).toBe(2); // the access and the auto HWPT
  });
});

describe('unbind and close', () => {
  it('unbind while attached detaches (iommufd_access_destroy_object): the IOAS is free again', () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    const acc = fd.accessCreate(mdev()).outDevId;
    expect(fd.deviceAttach(acc, ioas).errno).toBe(0);
    expect(fd.deviceUnbind(acc)).toBe(0);
    expect(fd.users(ioas)).toBe(0);
    expect(fd.destroy(ioas)).toBe(0);
    expect(fd.objects()).toEqual([]);
  });

  it('close with an attached access empties the table, and the name binds again in a new context', () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    const m = mdev();
    expect(fd.deviceAttach(fd.accessCreate(m).outDevId, ioas).errno).toBe(0);
    fd.close();
    expect(fd.objects()).toEqual([]);
    expect(fd.accessCreate(m)).toEqual({ errno: 0, outDevId: 1 });
  });
});
