import { describe, expect, it } from 'vitest';
import { resolveHost, type HostDesc } from '../../../../core/host/platform/host.ts';
import { IOMMU_HW_CAP, IOMMU_HW_INFO_TYPE, SMMU_IDR0, hwInfoBytes, SMMU_IDR5, VTD_CAP_FS1GP, VTD_ECAP } from '../../../../core/host/platform/models.ts';
import { U64_MAX, subtractRanges } from '../../../../core/host/platform/ranges.ts';

function host(desc: HostDesc) {
  const r = resolveHost(desc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.host;
}
const one = (model: string, extra: Record<string, unknown> = {}) =>
  host({ iommus: [{ name: 'm0', model, ...extra }], devices: [{ name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'm0' }] });

// VT-d CAP/ECAP field decoders as Linux intel/iommu.h defines them, to check the registers say what the config says.
const capMgaw = (c: bigint) => Number((c >> 16n) & 0x3fn) + 1;
const capSagaw = (c: bigint) => Number((c >> 8n) & 0x1fn);
const capSllps = (c: bigint) => Number((c >> 34n) & 0xfn);

describe('physical IOMMU models: defaults (reference §2.4, §2.7)', () => {
  it('intel-vtd: 48-bit aperture, 4K|2M|1G, the x86 MSI window as a HW MSI region, CAP/ECAP for GET_HW_INFO', () => {
    const h = one('intel-vtd');
    const m = h.iommus.get('m0')!;
    expect(m.awBits).toBe(48);
    expect(m.aperture).toEqual({ start: 0n, end: 0xffffffffffffn });
    expect(m.pgsizeBitmap).toBe(0x40201000n);
    expect(m.reservedRegions).toEqual([{ start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' }]);
    expect([m.dirtyTracking, m.nesting, m.cacheCoherency]).toEqual([true, true, true]);
    const hw = m.hwInfo;
    expect(hw.type).toBe(IOMMU_HW_INFO_TYPE.INTEL_VTD);
    expect(hw.dataLen).toBe(24);
    expect(hw.outCapabilities).toBe(IOMMU_HW_CAP.DIRTY_TRACKING);
    expect(hw.vtd!.capReg).toBe(0x01d2078c106f0466n); // the Xeon base value plus FS1GP (1G pages)
    expect(capMgaw(hw.vtd!.capReg)).toBe(48);
    expect(capSagaw(hw.vtd!.capReg)).toBe(0x4);
    expect(capSllps(hw.vtd!.capReg)).toBe(0x3);
    const e = hw.vtd!.ecapReg;
    for (const bit of [VTD_ECAP.C, VTD_ECAP.NEST, VTD_ECAP.SLADS, VTD_ECAP.FLTS, VTD_ECAP.SMTS, VTD_ECAP.SLTS, VTD_ECAP.PASID]) expect(e & bit).toBe(bit);
    expect(e).toBe(0xe99804f020dfn); // base f020df + NEST(26) + PSS=19 + PASID, SMTS, SLADS, SLTS, FLTS
  });

  it('amd-vi: the same MSI window plus the HyperTransport hole; no GET_HW_INFO type (NONE, length 0)', () => {
    const m = one('amd-vi').iommus.get('m0')!;
    expect(m.reservedRegions).toEqual([
      { start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' },
      { start: 0xfd00000000n, end: 0xffffffffffn, type: 'reserved' },
    ]);
    expect(m.pgsizeBitmap).toBe(0xffffff7ffffff000n);
    expect(m.nesting).toBe(false);
    expect(m.hwInfo).toEqual({ type: IOMMU_HW_INFO_TYPE.NONE, dataLen: 0, outCapabilities: IOMMU_HW_CAP.DIRTY_TRACKING });
  });

  it('arm-smmuv3: the software MSI window, no dirty tracking by default, IDRs for GET_HW_INFO', () => {
    const m = one('arm-smmuv3').iommus.get('m0')!;
    expect(m.reservedRegions).toEqual([{ start: 0x8000000n, end: 0x80fffffn, type: 'sw-msi' }]);
    expect(m.dirtyTracking).toBe(false);
    const hw = m.hwInfo;
    expect(hw.type).toBe(IOMMU_HW_INFO_TYPE.ARM_SMMUV3);
    expect(hw.dataLen).toBe(40);
    expect(hw.outCapabilities).toBe(0n);
    const [idr0, idr1, , idr3, , idr5] = hw.smmuv3!.idr;
    expect(idr0 & (SMMU_IDR0.S1P | SMMU_IDR0.S2P | SMMU_IDR0.COHACC)).toBe(SMMU_IDR0.S1P | SMMU_IDR0.S2P | SMMU_IDR0.COHACC);
    expect(idr0 & (3 << 6)).toBe(0); // HTTU: none
    expect((idr0 >> 2) & 3).toBe(2); // TTF AArch64
    expect(idr1 & 0x3f).toBe(16); // SIDSIZE
    expect((idr1 >> 6) & 0x1f).toBe(20); // SSIDSIZE
    expect((idr3 >> 10) & 1).toBe(1); // RIL
    expect(idr5 & 7).toBe(5); // OAS 48 bits
    expect(idr5 & SMMU_IDR5.GRAN4K).toBe(SMMU_IDR5.GRAN4K);
    expect(idr5 & SMMU_IDR5.GRAN64K).toBe(0);
  });
});

describe('overrides (issue 7 §2 syntax)', () => {
  it('aw-bits 39 on VT-d: aperture 0x7fffffffff, MGAW 39, SAGAW 3-level; usable ranges skip the MSI window (reference §5.4 example)', () => {
    const h = one('intel-vtd', { 'aw-bits': 39 });
    const vf = h.deviceByName.get('vf0')!;
    expect(vf.aperture).toEqual({ start: 0n, end: 0x7fffffffffn });
    expect(vf.usableRanges).toEqual([
      { start: 0n, end: 0xfedfffffn },
      { start: 0xfef00000n, end: 0x7fffffffffn },
    ]);
    const cap = h.iommus.get('m0')!.hwInfo.vtd!.capReg;
    expect(capMgaw(cap)).toBe(39);
    expect(capSagaw(cap)).toBe(0x2);
  });

  it('aw-bits 64 on AMD-Vi reaches 0xffffffffffffffff', () => {
    const vf = one('amd-vi', { 'aw-bits': 64 }).deviceByName.get('vf0')!;
    expect(vf.aperture!.end).toBe(U64_MAX);
    expect(vf.usableRanges.at(-1)).toEqual({ start: 0x10000000000n, end: U64_MAX });
  });

  it('page-sizes as a list or a bitmap; 4K only clears SLLPS and FS1GP', () => {
    const a = one('intel-vtd', { 'page-sizes': [0x1000, 0x200000] }).iommus.get('m0')!;
    expect(a.pgsizeBitmap).toBe(0x201000n);
    expect(capSllps(a.hwInfo.vtd!.capReg)).toBe(1);
    const b = one('intel-vtd', { 'page-sizes': 0x1000n }).iommus.get('m0')!;
    expect(capSllps(b.hwInfo.vtd!.capReg)).toBe(0);
    expect(b.hwInfo.vtd!.capReg & VTD_CAP_FS1GP).toBe(0n);
    const s = one('arm-smmuv3', { 'page-sizes': [0x10000, 0x20000000] }).iommus.get('m0')!;
    expect(s.hwInfo.smmuv3!.idr[5] & (SMMU_IDR5.GRAN4K | SMMU_IDR5.GRAN64K)).toBe(SMMU_IDR5.GRAN64K);
  });

  it('dirty-tracking, nesting and cache-coherency flip the capability bits GET_HW_INFO reports', () => {
    const v = one('intel-vtd', { 'dirty-tracking': false, nesting: false, 'cache-coherency': false }).iommus.get('m0')!;
    expect(v.hwInfo.outCapabilities).toBe(0n);
    expect(v.hwInfo.vtd!.ecapReg & (VTD_ECAP.SLADS | VTD_ECAP.NEST | VTD_ECAP.FLTS | VTD_ECAP.C)).toBe(0n);
    const s = one('arm-smmuv3', { 'dirty-tracking': true, nesting: false }).iommus.get('m0')!;
    expect(s.hwInfo.outCapabilities).toBe(IOMMU_HW_CAP.DIRTY_TRACKING);
    expect((s.hwInfo.smmuv3!.idr[0] >> 6) & 3).toBe(2);
    expect(s.hwInfo.smmuv3!.idr[0] & SMMU_IDR0.S2P).toBe(0);
  });

  it('reserved-regions replace the model defaults; direct-relaxable stays usable', () => {
    const h = one('intel-vtd', {
      'aw-bits': 39,
      'reserved-regions': [
        { start: 0x100000, length: 0x100000, type: 'direct-relaxable' },
        { start: 0xfee00000, end: 0xfeefffff, type: 'msi' },
        { start: 0x7000000000n, length: 0x1000, type: 'direct' },
      ],
    });
    const vf = h.deviceByName.get('vf0')!;
    expect(vf.reservedRegions.map((r) => r.type)).toEqual(['direct-relaxable', 'msi', 'direct']);
    expect(vf.usableRanges).toEqual(subtractRanges([{ start: 0n, end: 0x7fffffffffn }], [
      { start: 0xfee00000n, end: 0xfeefffffn },
      { start: 0x7000000000n, end: 0x7000000fffn },
    ]));
    expect(one('intel-vtd', { 'reserved-regions': [] }).deviceByName.get('vf0')!.usableRanges).toEqual([{ start: 0n, end: 0xffffffffffffn }]);
  });

  it('bad overrides are problems with their field path', () => {
    const r = resolveHost({
      iommus: [
        { name: 'a', model: 'intel-vtd', 'aw-bits': 64 },
        { name: 'b', model: 'power9' },
        { name: 'c', model: 'arm-smmuv3', 'page-sizes': [0x1000, 0x3000] },
        { name: 'd', model: 'amd-vi', 'page-sizes': 0x800 },
        { name: 'e', model: 'amd-vi', 'reserved-regions': [{ start: 0x2000, end: 0x1000, type: 'msi' }, { start: 0, length: 1, type: 'hole' }, { start: 0, end: 1, length: 2, type: 'msi' }] },
        { name: 'a', model: 'amd-vi', nesting: 'yes' as unknown as boolean },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toEqual([
      'iommus.0.aw-bits',
      'iommus.1.model',
      'iommus.2.page-sizes.1',
      'iommus.3.page-sizes',
      'iommus.4.reserved-regions.0',
      'iommus.4.reserved-regions.1.type',
      'iommus.4.reserved-regions.2',
      'iommus.5.name',
      'iommus.5.nesting',
    ]);
    expect(r.problems[0].message).toBe('aw-bits 64 outside [32, 57] for intel-vtd');
  });
});

describe('GET_HW_INFO payload bytes (struct iommu_hw_info_vtd / _arm_smmuv3, little-endian)', () => {
  it('VT-d: flags, reserved, cap_reg, ecap_reg in 24 bytes', () => {
    const hw = one('intel-vtd').iommus.get('m0')!.hwInfo;
    const b = hwInfoBytes(hw);
    expect(b.length).toBe(24);
    const dv = new DataView(b.buffer);
    expect(dv.getUint32(0, true)).toBe(0);
    expect(dv.getBigUint64(8, true)).toBe(0x01d2078c106f0466n);
    expect(dv.getBigUint64(16, true)).toBe(hw.vtd!.ecapReg);
    expect(b[8]).toBe(0x66); // lowest byte of cap_reg first
  });
  it('SMMUv3: idr[0..5], iidr, aidr at 8..39; AMD-Vi: no bytes', () => {
    const hw = one('arm-smmuv3').iommus.get('m0')!.hwInfo;
    const dv = new DataView(hwInfoBytes(hw).buffer);
    expect(dv.byteLength).toBe(40);
    for (let i = 0; i < 6; i++) expect(dv.getUint32(8 + 4 * i, true)).toBe(hw.smmuv3!.idr[i]);
    expect(dv.getUint32(32, true)).toBe(0x4870043b);
    expect(dv.getUint32(36, true)).toBe(2);
    expect(hwInfoBytes(one('amd-vi').iommus.get('m0')!.hwInfo).length).toBe(0);
  });
});
