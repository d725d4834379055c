/**
 * Scripted calls are the engines' calls (core/host/components/calls.ts only translates): every op of
 * a scenario gives, errno for errno and output for output, what the same uAPI call on a fresh engine
 * over the same platform gives (core/host/backend, from-platform.ts hostBackends). Covers the ops
 * the examples do not: nested HWPTs, vIOMMU/vDEVICE, invalidate, option, copy, replace, hw info,
 * check-extension and get-info.
 */
import { describe, expect, test } from 'vitest';
import { hostBackends } from '../../../core/host/backend/from-platform.ts';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
} from '../../../core/host/backend/iommufd/uapi.ts';
import { VFIO_EXT } from '../../../core/host/backend/vfio-type1/constants.ts';
import { errnoName } from '../../../core/host/errno.ts';
import { runScenarioText } from '../../../core/run/runner.ts';

const HOST = `host:
  iommus:
    - {name: smmu0, model: arm-smmuv3, aw-bits: 48}
  devices:
    - {name: vf0, bdf: "0000:01:00.0", type: vfio-pci, iommu: smmu0}
    - {name: vf1, bdf: "0000:02:00.0", type: vfio-pci, iommu: smmu0}
`;

const SCENARIO = `name: engine
${HOST}steps:
  - iommufd: {op: option, option: rlimit-mode}
  - iommufd: {op: option, option: rlimit-mode, val64: 1}
  - iommufd: {op: ioas-alloc, out: ioas}
  - iommufd: {op: option, option: rlimit-mode, val64: 1}
  - iommufd: {op: option, option: huge-pages, ioas: ioas}
  - iommufd: {op: ioas-map, ioas: ioas, iova: 0x100000, length: 0x4000, user-va: 0x7f0000100000, flags: [fixed-iova, readable, writeable]}
  - iommufd: {op: ioas-alloc, out: ioas2}
  - iommufd: {op: ioas-copy, dst-ioas: ioas2, src-ioas: ioas, length: 0x2000, src-iova: 0x101000, dst-iova: 0x300000, flags: [fixed-iova, readable]}
  - iommufd: {op: device-bind, device: vf0, out: dev}
  - iommufd: {op: get-hw-info, dev: dev, data-len: 8}
  - iommufd: {op: hwpt-alloc, dev: dev, pt: ioas, flags: [nest-parent], out: s2}
  - iommufd: {op: device-attach, dev: dev, pt: s2}
  - iommufd: {op: viommu-alloc, dev: dev, hwpt: s2, type: arm-smmuv3, out: vi}
  - iommufd: {op: viommu-alloc, dev: dev, hwpt: s2, type: default}
  - iommufd: {op: vdevice-alloc, viommu: vi, dev: dev, virt-id: 0x10, out: vd}
  - iommufd: {op: vdevice-alloc, viommu: vi, dev: dev, virt-id: 0x11}
  - iommufd: {op: hwpt-alloc, dev: dev, pt: vi, data-type: arm-smmuv3, out: s1}
  - iommufd: {op: hwpt-invalidate, hwpt: vi, data-type: arm-smmuv3, entries: [{opcode: 0x12}, {opcode: 0x30}]}
  - iommufd: {op: hwpt-invalidate, hwpt: s2, data-type: arm-smmuv3, entries: [{opcode: 0x12}]}
  - iommufd: {op: device-replace, dev: dev, pt: ioas2}
  - iommufd: {op: destroy, id: s2}
  - iommufd: {op: destroy, id: vd}
  - iommufd: {op: destroy, id: s1}
  - iommufd: {op: destroy, id: vi}
  - iommufd: {op: destroy, id: s2}
  - vfio: {op: container-open, out: c}
  - vfio: {op: check-extension, container: c, extension: type1v2}
  - vfio: {op: get-info, container: c}
  - vfio: {op: group-set-container, group: vf1, container: c}
  - vfio: {op: set-iommu, container: c, type: type1}
  - vfio: {op: get-info, container: c, argsz: 16}
`;

describe('scripted calls errno for errno as the engine', () => {
  test('the same uAPI calls on a fresh engine give the same errnos and outputs', () => {
    const { run, diagnostics } = runScenarioText(SCENARIO, 'e.yaml');
    expect(diagnostics).toEqual([]);
    run!.advance(1e9);
    const got = run!.stepResults().map((r) => [r.errno, r.outputs ?? {}]);

    const r = runScenarioText(`name: p\n${HOST}steps: []\n`, 'p.yaml');
    const e = hostBackends(r.run!.scenario.host.platform);
    const fd = e.iommufd;
    const hex = (v: bigint) => '0x' + v.toString(16);
    const want: [string, Record<string, unknown>][] = [];
    const push = (errno: number, out: Record<string, unknown> = {}) => want.push([errnoName(errno), errno === 0 ? out : {}]);
    let o = fd.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET, objectId: 0 });
    push(o.errno, { val64: hex(o.val64) });
    o = fd.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, objectId: 0, val64: 1n });
    push(o.errno, { val64: hex(o.val64) });
    const ioas = fd.ioasAlloc().outIoasId;
    push(0, { 'out-ioas-id': ioas });
    o = fd.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, objectId: 0, val64: 1n });
    push(o.errno, { val64: hex(o.val64) });
    o = fd.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, objectId: ioas });
    push(o.errno, { val64: hex(o.val64) });
    const m = fd.ioasMap({ ioasId: ioas, flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, userVa: 0x7f0000100000n, length: 0x4000n, iova: 0x100000n });
    push(m.errno, { iova: hex(m.iova) });
    const ioas2 = fd.ioasAlloc().outIoasId;
    push(0, { 'out-ioas-id': ioas2 });
    const c = fd.ioasCopy({ flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE, dstIoasId: ioas2, srcIoasId: ioas, length: 0x2000n, srcIova: 0x101000n, dstIova: 0x300000n });
    push(c.errno, { 'dst-iova': hex(c.dstIova) });
    const b = e.bind('vf0');
    push(b.errno, { 'out-dev-id': b.outDevId });
    const hw = fd.getHwInfo({ devId: b.outDevId, dataLen: 8 });
    push(hw.errno, { 'out-data-type': hw.outDataType, 'out-capabilities': hex(BigInt(hw.outCapabilities)), 'data-len': hw.dataLen, 'out-max-pasid-log2': hw.outMaxPasidLog2, data: [...hw.data.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join('') });
    const s2 = fd.hwptAlloc({ flags: IOMMU_HWPT_ALLOC_NEST_PARENT, devId: b.outDevId, ptId: ioas, dataType: 0, dataLen: 0 });
    push(s2.errno, { 'out-hwpt-id': s2.outHwptId });
    const at = fd.deviceAttach(b.outDevId, s2.outHwptId);
    push(at.errno, { 'pt-id': at.ptId });
    const vi = fd.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: b.outDevId, hwptId: s2.outHwptId });
    push(vi.errno, { 'out-viommu-id': vi.outViommuId });
    const vi0 = fd.viommuAlloc({ type: 0, devId: b.outDevId, hwptId: s2.outHwptId });
    push(vi0.errno, { 'out-viommu-id': vi0.outViommuId });
    const vd = fd.vdeviceAlloc({ viommuId: vi.outViommuId, devId: b.outDevId, virtId: 0x10n });
    push(vd.errno, { 'out-vdevice-id': vd.outVdeviceId });
    const vd2 = fd.vdeviceAlloc({ viommuId: vi.outViommuId, devId: b.outDevId, virtId: 0x11n });
    push(vd2.errno, { 'out-vdevice-id': vd2.outVdeviceId });
    const s1 = fd.hwptAlloc({ flags: 0, devId: b.outDevId, ptId: vi.outViommuId, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, dataLen: 16 });
    push(s1.errno, { 'out-hwpt-id': s1.outHwptId });
    let inv = fd.hwptInvalidate({ hwptId: vi.outViommuId, dataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entries: [{ opcode: 0x12 }, { opcode: 0x30 }], entryLen: 16, dataUptr: 0x1000n });
    want.push([errnoName(inv.errno), { 'entry-num': inv.entryNum }]);
    inv = fd.hwptInvalidate({ hwptId: s2.outHwptId, dataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entries: [{ opcode: 0x12 }], entryLen: 16, dataUptr: 0x1000n });
    want.push([errnoName(inv.errno), { 'entry-num': inv.entryNum }]);
    const rep = fd.deviceReplace(b.outDevId, ioas2);
    push(rep.errno, { 'pt-id': rep.ptId });
    for (const id of [s2.outHwptId, vd.outVdeviceId, s1.outHwptId, vi.outViommuId, s2.outHwptId]) push(fd.destroy(id));
    const t = e.compat;
    const cont = t.containerOpen();
    push(cont.errno, { container: cont.container });
    const ext = t.checkExtension(cont.container, VFIO_EXT.TYPE1v2_IOMMU);
    push(ext.errno, { value: ext.value });
    const gi = t.getInfo(cont.container);
    push(gi.errno, { argsz: gi.argsz });
    push(t.groupSetContainer('vf1', cont.container).errno);
    push(t.setIommu(cont.container, VFIO_EXT.TYPE1_IOMMU).errno);
    const gi2 = t.getInfo(cont.container, 16);
    want.push([errnoName(gi2.errno), gi2.errno === 0 ? { argsz: gi2.argsz, flags: gi2.flags, 'iova-pgsizes': hex(gi2.iovaPgsizes), 'cap-offset': gi2.capOffset } : {}]);

    // Outputs compared where the direct call names them (get-info's chain is compared by argsz only).
    expect(got.map(([errno, out], i) => [i, errno, Object.fromEntries(Object.keys(want[i][1]).map((k) => [k, (out as Record<string, unknown>)[k]]))])).toEqual(want.map(([errno, out], i) => [i, errno, out]));
    // And the sequence is not trivially all-OK: the refusals are the engine's.
    expect(got.filter(([errno]) => errno !== 'OK').length).toBeGreaterThanOrEqual(4);
  });
});
