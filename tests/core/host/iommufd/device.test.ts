/**
 * Devices and HWPT_PAGING lifecycles: bind errnos, auto domains (reuse, incompatible → new one),
 * group rules, replace, detach, reserved regions and apertures into the IOAS (EADDRINUSE), EBUSY
 * while referenced, leaf-first close (reference §1.1, §1.3, §2.4).
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../../core/host/errno.ts';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA as FIXED, IOMMU_IOAS_MAP_READABLE as R } from '../../../../core/host/backend/iommufd/uapi.ts';
import { PAGE, X86_MSI, device, ioasObj, vtd } from './fixtures.ts';

const MAX = 0xffffffffffffffffn;

describe('device-bind (iommufd_device_bind order: coherency, group, MSI isolation)', () => {
  it.each([
    ['no IOMMU', device('a', undefined), ERRNO.EINVAL],
    ['IOMMU without cache coherency (before the group check)', device('a', vtd('d', 39, { cacheCoherency: false }), { group: undefined }), ERRNO.EINVAL],
    ['no iommu group', device('a', vtd(), { group: undefined }), ERRNO.ENODEV],
    ['MSI not isolated', device('a', vtd('d', 39, { msiIsolated: false })), ERRNO.EPERM],
    ['fine', device('a', vtd()), ERRNO.OK],
  ] as const)('%s', (_n, dev, want) => {
    expect(new Iommufd().deviceBind(dev).errno).toBe(want);
  });

  it('allow_unsafe_interrupts admits a non-isolated group; a device binds once; IOMMU_DESTROY of a DEVICE is EBUSY (the driver holds it); unbind frees the ID', () => {
    const fd = new Iommufd({ allowUnsafeInterrupts: true });
    const d = device('a', vtd('d', 39, { msiIsolated: false }));
    const r = fd.deviceBind(d);
    expect(r).toEqual({ errno: 0, outDevId: 1 });
    expect(fd.deviceBind(d).errno).toBe(ERRNO.EINVAL);
    expect(fd.destroy(1)).toBe(ERRNO.EBUSY);
    expect(fd.deviceUnbind(1)).toBe(0);
    expect(fd.deviceUnbind(1)).toBe(ERRNO.ENOENT);
    expect(fd.deviceBind(d).outDevId).toBe(1);
  });
});

describe('auto domains and attach rules', () => {
  const setup = () => {
    const fd = new Iommufd();
    const ioas = fd.ioasAlloc().outIoasId;
    return { fd, ioas };
  };

  it('the issue 7 sequence: attach to an IOAS makes an auto HWPT; destroy ioas → EBUSY; detach destroys the auto HWPT (its ID → ENOENT)', () => {
    const { fd, ioas } = setup();
    const dev = fd.deviceBind(device('vf0', vtd())).outDevId;
    const { errno, ptId: hwpt } = fd.deviceAttach(dev, ioas);
    expect([errno, hwpt]).toEqual([0, 3]);
    expect(fd.destroy(ioas)).toBe(ERRNO.EBUSY);
    expect(fd.destroy(hwpt)).toBe(ERRNO.EBUSY);
    expect(fd.deviceDetach(dev)).toBe(0);
    expect(fd.destroy(hwpt)).toBe(ERRNO.ENOENT);
    expect(fd.destroy(ioas)).toBe(0);
  });

  it('a second device behind the same IOMMU reuses the auto HWPT; one behind an incompatible IOMMU gets a new one', () => {
    const { fd, ioas } = setup();
    const a = fd.deviceBind(device('a', vtd('dmar0'))).outDevId;
    const b = fd.deviceBind(device('b', vtd('dmar0'))).outDevId;
    const c = fd.deviceBind(device('c', vtd('dmar1', 48))).outDevId;
    const ha = fd.deviceAttach(a, ioas).ptId;
    expect(fd.deviceAttach(b, ioas).ptId).toBe(ha);
    const hc = fd.deviceAttach(c, ioas).ptId;
    expect(hc).not.toBe(ha);
    expect(fd.users(ha)).toBe(2);
    // Both apertures reserve above them; the IOAS reports the narrower (39-bit) one.
    expect(fd.ioasIovaRanges(ioas, 4).ranges).toEqual([{ start: 0n, last: (1n << 39n) - 1n }]);
    expect(fd.ioasIovaRanges(ioas, 4).outIovaAlignment).toBe(PAGE);
    fd.deviceDetach(c);
    expect(fd.ioasIovaRanges(ioas, 4).ranges).toEqual([{ start: 0n, last: (1n << 39n) - 1n }]);
    fd.deviceDetach(a);
    fd.deviceDetach(b);
    expect(fd.ioasIovaRanges(ioas, 4)).toMatchObject({ ranges: [{ start: 0n, last: MAX }], outIovaAlignment: 1n });
  });

  it('devices of one group share its HWPT: another HWPT for the second → EINVAL; replace moves the whole group', () => {
    const { fd, ioas } = setup();
    const iommu = vtd();
    const a = fd.deviceBind(device('a', iommu, { group: 7 })).outDevId;
    const b = fd.deviceBind(device('b', iommu, { group: 7 })).outDevId;
    const h1 = fd.deviceAttach(a, ioas).ptId;
    const h2 = fd.hwptAlloc({ flags: 0, devId: a, ptId: ioas }).outHwptId;
    expect(fd.deviceAttach(b, h2).errno).toBe(ERRNO.EINVAL);
    expect(fd.deviceAttach(b, h1).errno).toBe(0);
    expect(fd.deviceReplace(a, h2)).toEqual({ errno: 0, ptId: h2 });
    expect(fd.users(h2)).toBe(2);
    expect(fd.destroy(h1)).toBe(ERRNO.ENOENT); // the auto HWPT lost its last user
  });

  it('replace without attach → EINVAL; replace onto the same HWPT → 0; attach of an attached device replaces (VFIO cdev)', () => {
    const { fd, ioas } = setup();
    const a = fd.deviceBind(device('a', vtd())).outDevId;
    expect(fd.deviceReplace(a, ioas).errno).toBe(ERRNO.EINVAL);
    const h1 = fd.deviceAttach(a, ioas).ptId;
    expect(fd.deviceReplace(a, h1).errno).toBe(0);
    const ioas2 = fd.ioasAlloc().outIoasId;
    const r = fd.deviceAttach(a, ioas2);
    expect(r.errno).toBe(0);
    expect(fd.destroy(h1)).toBe(ERRNO.ENOENT);
    expect(fd.destroy(ioas)).toBe(0);
    expect(fd.destroy(ioas2)).toBe(ERRNO.EBUSY);
  });

  it('pt_id: absent → ENOENT, a DEVICE → EINVAL; device absent → ENOENT; detach of an unattached device is a no-op', () => {
    const { fd, ioas } = setup();
    const a = fd.deviceBind(device('a', vtd())).outDevId;
    expect(fd.deviceAttach(a, 99).errno).toBe(ERRNO.ENOENT);
    expect(fd.deviceAttach(a, a).errno).toBe(ERRNO.EINVAL);
    expect(fd.deviceAttach(42, ioas).errno).toBe(ERRNO.ENOENT);
    expect(fd.deviceDetach(a)).toBe(0);
    expect(fd.deviceDetach(42)).toBe(ERRNO.ENOENT);
  });

  it('a mapping above the aperture makes the attach fail with EADDRINUSE, rolled back (no HWPT left, ranges unchanged)', () => {
    const { fd, ioas } = setup();
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x1000n, length: PAGE, iova: 1n << 40n }).errno).toBe(0);
    const a = fd.deviceBind(device('a', vtd('dmar0', 39))).outDevId;
    expect(fd.deviceAttach(a, ioas).errno).toBe(ERRNO.EADDRINUSE);
    expect(fd.objects().map((o) => o.kind)).toEqual(['ioas', 'device']);
    expect(fd.ioasIovaRanges(ioas, 2).ranges).toEqual([{ start: 0n, last: MAX }]);
    expect(fd.ioasUnmap(ioas, 1n << 40n, PAGE).errno).toBe(0);
    expect(fd.deviceAttach(a, ioas).errno).toBe(0);
  });

  it('a mapping over the MSI window makes the attach fail with EADDRINUSE; without it the window is a hole, and detach widens the ranges again', () => {
    const { fd, ioas } = setup();
    const a = fd.deviceBind(device('a', vtd(), { reservedRegions: [X86_MSI] })).outDevId;
    fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x1000n, length: PAGE, iova: 0xfee01000n });
    expect(fd.deviceAttach(a, ioas).errno).toBe(ERRNO.EADDRINUSE);
    fd.ioasUnmap(ioas, 0n, MAX);
    expect(fd.deviceAttach(a, ioas).errno).toBe(0);
    expect(fd.ioasIovaRanges(ioas, 4).ranges).toEqual([
      { start: 0n, last: 0xfedfffffn },
      { start: 0xfef00000n, last: (1n << 39n) - 1n },
    ]);
    expect(fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x1000n, length: PAGE, iova: 0xfee00000n }).errno).toBe(ERRNO.EINVAL);
    fd.deviceDetach(a);
    expect(fd.ioasIovaRanges(ioas, 4).ranges).toEqual([{ start: 0n, last: MAX }]);
  });

  it('reserved regions: DIRECT_RELAXABLE is not reserved; SW_MSI with HW MSI, or two SW_MSI, give EINVAL', () => {
    const { fd, ioas } = setup();
    const relax = fd.deviceBind(device('r', vtd(), { reservedRegions: [{ start: 0x100000n, length: PAGE, type: 'direct-relaxable' }] })).outDevId;
    expect(fd.deviceAttach(relax, ioas).errno).toBe(0);
    expect(fd.ioasIovaRanges(ioas, 4).numIovas).toBe(1);
    const sw = { start: 0x8000000n, length: 0x100000n, type: 'sw-msi' as const };
    const both = fd.deviceBind(device('b', vtd(), { reservedRegions: [X86_MSI, sw] })).outDevId;
    expect(fd.deviceAttach(both, ioas).errno).toBe(ERRNO.EINVAL);
    const two = fd.deviceBind(device('t', vtd(), { reservedRegions: [sw, { ...sw, start: 0x9000000n }] })).outDevId;
    expect(fd.deviceAttach(two, ioas).errno).toBe(ERRNO.EINVAL);
    expect(fd.ioasIovaRanges(ioas, 4).numIovas).toBe(1);
  });

  it('iova_alignment growth with a misaligned area gives EADDRINUSE; a domain with pages above PAGE_SIZE gives EINVAL', () => {
    const { fd, ioas } = setup();
    fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x1000n, length: 0x800n, iova: 0x10000n });
    const a = fd.deviceBind(device('a', vtd())).outDevId;
    expect(fd.deviceAttach(a, ioas).errno).toBe(ERRNO.EADDRINUSE);
    const big = fd.deviceBind(device('b', vtd('big', 39, { pgsizeBitmap: 0x200000n }))).outDevId;
    expect(fd.deviceAttach(big, ioas).errno).toBe(ERRNO.EINVAL);
  });

  it('IOAS mappings do not pin the IOAS; IDs are reused lowest-first; close tears everything down leaf-first', () => {
    const { fd, ioas } = setup();
    fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0x1000n, length: PAGE, iova: 0x10000n });
    const a = fd.deviceBind(device('a', vtd())).outDevId;
    fd.deviceAttach(a, ioas);
    const explicit = fd.hwptAlloc({ flags: 0, devId: a, ptId: ioas }).outHwptId;
    expect(fd.destroy(explicit)).toBe(0);
    expect(fd.ioasAlloc().outIoasId).toBe(explicit);
    fd.close();
    expect(fd.objects()).toEqual([]);
    expect(fd.ioasAlloc().outIoasId).toBe(1);
    const other = new Iommufd();
    const i2 = other.ioasAlloc().outIoasId;
    other.ioasMap({ ioasId: i2, flags: FIXED | R, userVa: 0x1000n, length: PAGE, iova: 0x10000n });
    expect(other.destroy(i2)).toBe(0);
    expect(other.destroy(0)).toBe(ERRNO.ENOENT);
    expect(ioasObj(other, i2)).toBeUndefined();
  });
});
