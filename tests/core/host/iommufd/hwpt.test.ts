/**
 * HWPT_ALLOC (paging and nested), dirty tracking and the dirty bitmap, HWPT_INVALIDATE, vIOMMU and
 * vDEVICE, GET_HW_INFO, and the host DMA path (reference §1.3, §2.5–§2.9).
 */
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../../../core/host/errno.ts';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING as DIRTY,
  IOMMU_HWPT_ALLOC_NEST_PARENT as NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR as NO_CLEAR,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_PASID_EXEC,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_IOAS_MAP_FIXED_IOVA as FIXED,
  IOMMU_IOAS_MAP_READABLE as R,
  IOMMU_IOAS_MAP_WRITEABLE as W,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
} from '../../../../core/host/backend/iommufd/uapi.ts';
import { PAGE, device, smmu, vtd } from './fixtures.ts';

const setup = (iommu = vtd(), opts = {}) => {
  const fd = new Iommufd(opts);
  const ioas = fd.ioasAlloc().outIoasId;
  const dev = fd.deviceBind(device('vf0', iommu)).outDevId;
  return { fd, ioas, dev };
};

describe('IOMMU_HWPT_ALLOC (§2.5)', () => {
  it.each([
    ['__reserved', { reserved: 1 }, ERRNO.EOPNOTSUPP],
    ['data_type NONE with data_len', { dataLen: 8 }, ERRNO.EINVAL],
    ['data_type without data_len', { dataType: IOMMU_HWPT_DATA_VTD_S1 }, ERRNO.EINVAL],
    ['bad dev_id', { devId: 77 }, ERRNO.ENOENT],
    ['bad pt_id (rewritten to EINVAL)', { ptId: 77 }, ERRNO.EINVAL],
    ['pt_id a DEVICE', { ptId: 2 }, ERRNO.EINVAL],
    ['unknown flag', { flags: 1 << 7 }, ERRNO.EOPNOTSUPP],
    ['driver data on an IOAS', { dataType: IOMMU_HWPT_DATA_VTD_S1, dataLen: 8 }, ERRNO.EOPNOTSUPP],
    ['FAULT_ID_VALID (no FAULT object exists)', { flags: IOMMU_HWPT_FAULT_ID_VALID, faultId: 1 }, ERRNO.ENOENT],
    ['plain paging HWPT', {}, ERRNO.OK],
    ['nest parent + dirty tracking', { flags: NEST_PARENT | DIRTY }, ERRNO.OK],
  ] as const)('%s', (_n, over, want) => {
    const { fd, ioas, dev } = setup();
    expect(fd.hwptAlloc({ flags: 0, devId: dev, ptId: ioas, ...over }).errno).toBe(want);
    if (want !== ERRNO.OK) expect(fd.objects().map((o) => o.kind)).toEqual(['ioas', 'device']);
  });

  it('DIRTY_TRACKING / NEST_PARENT on an IOMMU without the capability → EOPNOTSUPP', () => {
    const { fd, ioas, dev } = setup(vtd('d', 39, { dirtyTracking: false, nesting: false }));
    expect(fd.hwptAlloc({ flags: DIRTY, devId: dev, ptId: ioas }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.hwptAlloc({ flags: NEST_PARENT, devId: dev, ptId: ioas }).errno).toBe(ERRNO.EOPNOTSUPP);
  });

  it('nested on a paging parent: flags, data and parent rules; the child and its devices block destroy', () => {
    const { fd, ioas, dev } = setup();
    const parent = fd.hwptAlloc({ flags: NEST_PARENT, devId: dev, ptId: ioas }).outHwptId;
    const plain = fd.hwptAlloc({ flags: 0, devId: dev, ptId: ioas }).outHwptId;
    const auto = fd.deviceAttach(dev, ioas).ptId;
    const s1 = { devId: dev, dataType: IOMMU_HWPT_DATA_VTD_S1, dataLen: 32 };
    expect(fd.hwptAlloc({ ...s1, flags: DIRTY, ptId: parent }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.hwptAlloc({ flags: 0, devId: dev, ptId: parent }).errno).toBe(ERRNO.EOPNOTSUPP); // DATA_NONE, len 0
    expect(fd.hwptAlloc({ ...s1, flags: 0, ptId: plain }).errno).toBe(ERRNO.EINVAL);
    expect(fd.hwptAlloc({ ...s1, flags: 0, ptId: auto }).errno).toBe(ERRNO.EINVAL);
    expect(fd.hwptAlloc({ ...s1, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, flags: 0, ptId: parent }).errno).toBe(ERRNO.EOPNOTSUPP);
    const smmuDev = fd.deviceBind(device('s', smmu())).outDevId;
    expect(fd.hwptAlloc({ devId: smmuDev, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, dataLen: 16, flags: 0, ptId: parent }).errno).toBe(ERRNO.EINVAL);
    const nested = fd.hwptAlloc({ ...s1, flags: 0, ptId: parent });
    expect(nested.errno).toBe(0);
    expect(fd.hwptAlloc({ ...s1, flags: 0, ptId: nested.outHwptId }).errno).toBe(ERRNO.EINVAL);
    expect(fd.destroy(parent)).toBe(ERRNO.EBUSY);
    expect(fd.deviceReplace(dev, nested.outHwptId).errno).toBe(0);
    expect(fd.destroy(nested.outHwptId)).toBe(ERRNO.EBUSY);
    expect(fd.hostDma(dev, 0x1000n, 4n, 'read')).toEqual({ fault: { reason: 'stage1', iova: 0x1000n } });
    fd.deviceDetach(dev);
    expect(fd.destroy(nested.outHwptId)).toBe(0);
    expect(fd.destroy(parent)).toBe(0);
  });
});

describe('dirty tracking (§2.6)', () => {
  const dirtySetup = () => {
    const s = setup();
    const hwpt = s.fd.hwptAlloc({ flags: DIRTY, devId: s.dev, ptId: s.ioas }).outHwptId;
    expect(s.fd.deviceAttach(s.dev, hwpt).errno).toBe(0);
    s.fd.ioasMap({ ioasId: s.ioas, flags: FIXED | R | W, userVa: 0x7f0000000000n, length: 0x10000n, iova: 0x100000n });
    return { ...s, hwpt };
  };
  const bm = (fd: Iommufd, hwptId: number, over = {}) => fd.hwptGetDirtyBitmap({ hwptId, flags: 0, iova: 0x100000n, length: 0x10000n, pageSize: PAGE, ...over });

  it('auto domain versus an explicit DIRTY_TRACKING HWPT: only the latter tracks; the bitmap sees DMA writes, clears unless NO_CLEAR', () => {
    const s = dirtySetup();
    const auto = setup();
    const autoHwpt = auto.fd.deviceAttach(auto.dev, auto.ioas).ptId;
    expect(auto.fd.hwptSetDirtyTracking(autoHwpt, 1)).toBe(ERRNO.EOPNOTSUPP);
    expect(auto.fd.hwptGetDirtyBitmap({ hwptId: autoHwpt, flags: 0, iova: 0n, length: PAGE, pageSize: PAGE }).errno).toBe(ERRNO.EOPNOTSUPP);
    // Writes before tracking is on are not recorded.
    expect(s.fd.hostDma(s.dev, 0x100000n, 8n, 'write')).toEqual({ translated: 0x7f0000000000n, hwptId: s.hwpt });
    expect(s.fd.hwptSetDirtyTracking(s.hwpt, 1)).toBe(0);
    expect(bm(s.fd, s.hwpt).bitmap).toEqual([0n]);
    expect('translated' in s.fd.hostDma(s.dev, 0x102ff8n, 16n, 'write')).toBe(true); // crosses into page 3
    s.fd.hostDma(s.dev, 0x10f000n, 8n, 'read');
    expect(s.fd.recordDma(s.hwpt, 0x10f000n, 1n, true)).toBe(0);
    expect(bm(s.fd, s.hwpt, { flags: NO_CLEAR })).toEqual({ errno: 0, bitmap: [(1n << 2n) | (1n << 3n) | (1n << 15n)] });
    expect(bm(s.fd, s.hwpt, { pageSize: 0x2000n }).bitmap).toEqual([(1n << 1n) | (1n << 7n)]);
    expect(bm(s.fd, s.hwpt).bitmap).toEqual([0n]);
    s.fd.recordDma(s.dev, 0x100000n, 1n, true);
    expect(s.fd.hwptSetDirtyTracking(s.hwpt, 1)).toBe(0); // enabling clears
    expect(bm(s.fd, s.hwpt).bitmap).toEqual([0n]);
    expect(s.fd.recordDma(999, 0n, 1n, true)).toBe(ERRNO.ENOENT);
  });

  it.each([
    ['unknown flag', { flags: 2 }, ERRNO.EOPNOTSUPP],
    ['__reserved', { reserved: 1 }, ERRNO.EOPNOTSUPP],
    ['not a HWPT', { hwptId: 1 }, ERRNO.ENOENT],
    ['wrap', { iova: 0xfffffffffffff000n, length: 0x2000n }, ERRNO.EOVERFLOW],
    ['iova not aligned to iova_alignment', { iova: 0x100800n }, ERRNO.EINVAL],
    ['page_size 0', { pageSize: 0n }, ERRNO.EINVAL],
    ['end not aligned to page_size', { pageSize: 0x20000n }, ERRNO.EINVAL],
    ['range not covered by areas', { length: 0x11000n }, ERRNO.EINVAL],
  ] as const)('get-dirty-bitmap: %s', (_n, over, want) => {
    const s = dirtySetup();
    expect(bm(s.fd, s.hwpt, over).errno).toBe(want);
  });

  it('set-dirty-tracking: unknown flags → EOPNOTSUPP, not paging → ENOENT; attach of a device without dirty capability → EINVAL (enforce_dirty)', () => {
    const s = dirtySetup();
    expect(s.fd.hwptSetDirtyTracking(s.hwpt, 2)).toBe(ERRNO.EOPNOTSUPP);
    expect(s.fd.hwptSetDirtyTracking(s.ioas, 1)).toBe(ERRNO.ENOENT);
    const nodirty = s.fd.deviceBind(device('nd', vtd('dmar0', 39, { dirtyTracking: false }))).outDevId;
    expect(s.fd.deviceAttach(nodirty, s.hwpt).errno).toBe(ERRNO.EINVAL);
    expect(s.fd.hwptSetDirtyTracking(s.hwpt, 0)).toBe(0);
  });
});

describe('host DMA translation', () => {
  it('translated address, unmapped, permission, blocked, not-bound; a DMA across adjacent areas; the 4 GiB line', () => {
    const { fd, ioas, dev } = setup();
    expect(fd.hostDma(dev, 0x10000n, 8n, 'write')).toEqual({ fault: { reason: 'blocked', iova: 0x10000n } });
    expect(fd.hostDma(9, 0x10000n, 8n, 'write')).toEqual({ fault: { reason: 'not-bound', iova: 0x10000n } });
    fd.deviceAttach(dev, ioas);
    fd.ioasMap({ ioasId: ioas, flags: FIXED | R, userVa: 0xa000n, length: PAGE, iova: 0xfffff000n });
    fd.ioasMap({ ioasId: ioas, flags: FIXED | R | W, userVa: 0x5000n, length: PAGE, iova: 0x100000000n });
    expect(fd.hostDma(dev, 0xfffffff8n, 16n, 'read')).toMatchObject({ translated: 0xaff8n });
    expect(fd.hostDma(dev, 0xfffffff8n, 16n, 'write')).toEqual({ fault: { reason: 'permission', iova: 0xfffffff8n } });
    expect(fd.hostDma(dev, 0x100000ff8n, 16n, 'write')).toEqual({ fault: { reason: 'unmapped', iova: 0x100001000n } });
    expect(fd.hostDma(dev, 0x10000n, 8n, 'read')).toEqual({ fault: { reason: 'unmapped', iova: 0x10000n } });
    fd.ioasUnmap(ioas, 0xfffff000n, PAGE);
    expect(fd.hostDma(dev, 0xfffffff8n, 4n, 'read')).toEqual({ fault: { reason: 'unmapped', iova: 0xfffffff8n } });
  });
});

describe('IOMMU_HWPT_INVALIDATE (§2.8)', () => {
  it('targets, entry_num written back, per-entry checks, era difference for a paging HWPT', () => {
    const { fd, ioas, dev } = setup();
    const parent = fd.hwptAlloc({ flags: NEST_PARENT, devId: dev, ptId: ioas }).outHwptId;
    const nested = fd.hwptAlloc({ flags: 0, devId: dev, ptId: parent, dataType: IOMMU_HWPT_DATA_VTD_S1, dataLen: 32 }).outHwptId;
    const inv = (hwptId: number, entries: object[], over = {}) => fd.hwptInvalidate({ hwptId, dataType: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entries, ...over });
    expect(inv(nested, [])).toEqual({ errno: 0, entryNum: 0 });
    expect(inv(nested, [{ addr: 0x1000n, npages: 1n }, { addr: 0n, npages: 0xffffffffffffffffn }])).toEqual({ errno: 0, entryNum: 2 });
    expect(inv(nested, [{ addr: 0x1000n }, { addr: 0x1800n }])).toEqual({ errno: ERRNO.EINVAL, entryNum: 1 });
    expect(inv(nested, [{ addr: 0x1000n, npages: 0xffffffffffffffffn }])).toEqual({ errno: ERRNO.EINVAL, entryNum: 0 });
    expect(inv(nested, [{ flags: 2 }])).toEqual({ errno: ERRNO.EOPNOTSUPP, entryNum: 0 });
    expect(inv(nested, [{}], { dataUptr: 0n })).toEqual({ errno: ERRNO.EINVAL, entryNum: 0 });
    expect(inv(nested, [{}], { entryLen: 0 })).toEqual({ errno: ERRNO.EINVAL, entryNum: 0 });
    expect(inv(nested, [], { dataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 }).errno).toBe(ERRNO.EINVAL);
    expect(inv(77, []).errno).toBe(ERRNO.ENOENT);
    expect(inv(parent, []).errno).toBe(ERRNO.EINVAL);
    expect(inv(ioas, []).errno).toBe(ERRNO.EINVAL);
    const old = setup(vtd(), { kernel: '2024' });
    const oldHwpt = old.fd.hwptAlloc({ flags: 0, devId: old.dev, ptId: old.ioas }).outHwptId;
    expect(old.fd.hwptInvalidate({ hwptId: oldHwpt, dataType: 0, entries: [] }).errno).toBe(ERRNO.ENOENT);
  });
});

describe('vIOMMU and vDEVICE (§2.9, §1.3)', () => {
  const vsetup = () => {
    const s = setup(smmu());
    const parent = s.fd.hwptAlloc({ flags: NEST_PARENT, devId: s.dev, ptId: s.ioas }).outHwptId;
    return { ...s, parent };
  };

  it('viommu-alloc errnos in order', () => {
    const { fd, ioas, dev, parent } = vsetup();
    const plain = fd.hwptAlloc({ flags: 0, devId: dev, ptId: ioas }).outHwptId;
    const a = { type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: dev, hwptId: parent };
    expect(fd.viommuAlloc({ ...a, flags: 1 }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.viommuAlloc({ ...a, type: 0 }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.viommuAlloc({ ...a, devId: 55 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.viommuAlloc({ ...a, hwptId: 0 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.viommuAlloc({ ...a, hwptId: ioas }).errno).toBe(ERRNO.ENOENT);
    expect(fd.viommuAlloc({ ...a, hwptId: plain }).errno).toBe(ERRNO.EINVAL);
    expect(fd.viommuAlloc({ ...a, type: IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV }).errno).toBe(ERRNO.EOPNOTSUPP);
    const vt = fd.deviceBind(device('v', vtd())).outDevId;
    expect(fd.viommuAlloc({ ...a, devId: vt }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.viommuAlloc(a).errno).toBe(0);
    expect(fd.destroy(parent)).toBe(ERRNO.EBUSY);
  });

  it('vdevice-alloc: ENOENT, EINVAL across IOMMUs, EEXIST for a second vDEVICE or a taken virt_id; destroy order; unbind leaks the vDEVICE ID', () => {
    const { fd, dev, parent } = vsetup();
    const viommu = fd.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: dev, hwptId: parent }).outViommuId;
    const other = fd.deviceBind(device('o', smmu('smmu1'))).outDevId;
    const peer = fd.deviceBind(device('p', smmu())).outDevId;
    expect(fd.vdeviceAlloc({ viommuId: 99, devId: dev, virtId: 1n }).errno).toBe(ERRNO.ENOENT);
    expect(fd.vdeviceAlloc({ viommuId: viommu, devId: 99, virtId: 1n }).errno).toBe(ERRNO.ENOENT);
    expect(fd.vdeviceAlloc({ viommuId: viommu, devId: other, virtId: 1n }).errno).toBe(ERRNO.EINVAL);
    const vd = fd.vdeviceAlloc({ viommuId: viommu, devId: dev, virtId: 0xffffffffffffffffn });
    expect(vd.errno).toBe(0);
    expect(fd.vdeviceAlloc({ viommuId: viommu, devId: dev, virtId: 2n }).errno).toBe(ERRNO.EEXIST);
    expect(fd.vdeviceAlloc({ viommuId: viommu, devId: peer, virtId: 0xffffffffffffffffn }).errno).toBe(ERRNO.EEXIST);
    const nested = fd.hwptAlloc({ flags: 0, devId: dev, ptId: viommu, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, dataLen: 16 });
    expect(nested.errno).toBe(0);
    expect(fd.hwptAlloc({ flags: 0, devId: other, ptId: viommu, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, dataLen: 16 }).errno).toBe(ERRNO.EINVAL);
    expect(fd.hwptInvalidate({ hwptId: viommu, dataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entries: [{ opcode: 0x12 }, { opcode: 0x99 }] })).toEqual({ errno: ERRNO.EIO, entryNum: 1 });
    expect(fd.destroy(viommu)).toBe(ERRNO.EBUSY);
    expect(fd.destroy(nested.outHwptId)).toBe(0);
    expect(fd.deviceUnbind(dev)).toBe(0);
    expect(fd.destroy(vd.outVdeviceId)).toBe(ERRNO.ENOENT);
    expect(fd.destroy(viommu)).toBe(0);
    const fresh = fd.ioasAlloc().outIoasId;
    expect(fresh).not.toBe(vd.outVdeviceId); // the leaked ID stays taken until close
    fd.close();
    expect(fd.ioasAlloc().outIoasId).toBe(1);
  });
});

describe('IOMMU_GET_HW_INFO (§2.7)', () => {
  it('copies min(data_len, kernel size), zero tail, data_len written back, capabilities', () => {
    const { fd, dev } = setup(vtd('dmar0', 39, { maxPasidLog2: 20, pasidExec: true }));
    const full = fd.getHwInfo({ devId: dev, dataLen: 32 });
    expect(full).toMatchObject({ errno: 0, dataLen: 24, outDataType: IOMMU_HW_INFO_TYPE_INTEL_VTD, outMaxPasidLog2: 20 });
    expect(full.outCapabilities).toBe(IOMMU_HW_CAP_DIRTY_TRACKING | IOMMU_HW_CAP_PCI_PASID_EXEC);
    expect([...full.data]).toEqual([...Array.from({ length: 24 }, (_, i) => i + 1), 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...fd.getHwInfo({ devId: dev, dataLen: 4 }).data]).toEqual([1, 2, 3, 4]);
    expect(fd.getHwInfo({ devId: dev, dataLen: 0 })).toMatchObject({ errno: 0, dataLen: 24 });
    expect(fd.getHwInfo({ devId: 42, dataLen: 0 }).errno).toBe(ERRNO.ENOENT);
    expect(fd.getHwInfo({ devId: dev, dataLen: 0, flags: 2 }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.getHwInfo({ devId: dev, dataLen: 0, reserved: 1 }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.getHwInfo({ devId: dev, dataLen: 0, flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, inDataType: IOMMU_HW_INFO_TYPE_ARM_SMMUV3 }).errno).toBe(ERRNO.EOPNOTSUPP);
    expect(fd.getHwInfo({ devId: dev, dataLen: 0, flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, inDataType: IOMMU_HW_INFO_TYPE_INTEL_VTD }).errno).toBe(0);
    const nopasid = setup(smmu('s', { dirtyTracking: false, pasidExec: true }));
    expect(nopasid.fd.getHwInfo({ devId: nopasid.dev, dataLen: 0 })).toMatchObject({ outCapabilities: 0, outMaxPasidLog2: 0, dataLen: 40 });
  });
});
