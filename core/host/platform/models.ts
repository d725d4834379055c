/**
 * Physical IOMMU models (intel-vtd, amd-vi, arm-smmuv3): the defaults each one starts from, and the
 * values its driver reports to user space: the domain aperture and page-size bitmap, the platform
 * reserved regions (iommu_get_resv_regions), the capabilities iommufd checks (dirty tracking,
 * nesting, cache coherency) and the IOMMU_GET_HW_INFO payload (VT-d CAP/ECAP registers or SMMUv3
 * IDRs). Source: ../../../../shared/reference/iommufd-vfio-hostiommu.md §2.4 (reserved regions),
 * §2.5 (dirty/nesting flags), §2.7 (GET_HW_INFO layout and types), §5.3 (QEMU's VTD_CAP_FS1GP,
 * VTD_ECAP_NEST). Register field positions follow Linux drivers/iommu/intel/iommu.h (cap_* / ecap_*
 * macros) and drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR*_ masks). Values the reference does
 * not give are chosen here and marked CHOSEN in the comments.
 */
import { type IovaRange, awEnd } from './ranges.ts';

/** The physical IOMMU models. */
export const IOMMU_MODELS = ['intel-vtd', 'amd-vi', 'arm-smmuv3'] as const;
/** One of {@link IOMMU_MODELS}. */
export type IommuModelName = (typeof IOMMU_MODELS)[number];

/**
 * Linux `enum iommu_resv_type` (include/linux/iommu.h) in the scenario's kebab case: direct
 * (IOMMU_RESV_DIRECT, e.g. a VT-d RMRR), direct-relaxable (IOMMU_RESV_DIRECT_RELAXABLE: VFIO and
 * iommufd do not exclude it), reserved (IOMMU_RESV_RESERVED), msi (IOMMU_RESV_MSI: a hardware MSI
 * window), sw-msi (IOMMU_RESV_SW_MSI: where software maps MSI doorbells).
 */
export const RESV_TYPES = ['direct', 'direct-relaxable', 'reserved', 'msi', 'sw-msi'] as const;
/** One of {@link RESV_TYPES}. */
export type ResvType = (typeof RESV_TYPES)[number];

/** A reserved region: inclusive IOVA range [start, end] in bytes, and its type. */
export interface ReservedRegion extends IovaRange {
  type: ResvType;
}

/** IOMMU_HW_INFO_TYPE_* (include/uapi/linux/iommufd.h; reference §2.7). */
export const IOMMU_HW_INFO_TYPE = { NONE: 0, INTEL_VTD: 1, ARM_SMMUV3: 2, TEGRA241_CMDQV: 3 } as const;
/** IOMMU_HW_CAP_* bits of GET_HW_INFO `out_capabilities` (reference §2.7). */
export const IOMMU_HW_CAP = { DIRTY_TRACKING: 1n << 0n, PCI_PASID_EXEC: 1n << 1n, PCI_PASID_PRIV: 1n << 2n } as const;

/** `struct iommu_hw_info_vtd` (reference §2.7): raw VT-d Capability / Extended Capability registers. */
export interface HwInfoVtd {
  /** Bit 0: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17. */
  flags: number;
  capReg: bigint;
  ecapReg: bigint;
}

/** `struct iommu_hw_info_arm_smmuv3` (reference §2.7): the SMMU's ID registers. */
export interface HwInfoSmmuv3 {
  flags: number;
  /** IDR0..IDR5, u32 each. */
  idr: readonly number[];
  iidr: number;
  aidr: number;
}

/** What IOMMU_GET_HW_INFO reports for a device behind this IOMMU (reference §2.7). */
export interface HwInfo {
  /** `out_data_type`: IOMMU_HW_INFO_TYPE_*. */
  type: number;
  /** Size in bytes of the driver's struct (`data_len` written back): 24 for VT-d, 40 for SMMUv3, 0 for NONE. */
  dataLen: number;
  vtd?: HwInfoVtd;
  smmuv3?: HwInfoSmmuv3;
  /** `out_capabilities`: IOMMU_HW_CAP_* bits. */
  outCapabilities: bigint;
}

/** A physical IOMMU's configuration after defaults and overrides. */
export interface IommuConfig {
  model: IommuModelName;
  /** Input address width in bits: the paging domain's aperture is [0, 2^awBits - 1]. */
  awBits: number;
  /** Page sizes the domain supports (bit n set = 2^n bytes), `domain->pgsize_bitmap`. */
  pgsizeBitmap: bigint;
  /** Platform reserved regions every device behind this IOMMU reports. */
  reservedRegions: readonly ReservedRegion[];
  /** IOMMU_CAP_DIRTY_TRACKING / IOMMU_HW_CAP_DIRTY_TRACKING. */
  dirtyTracking: boolean;
  /** Nested (two-stage) translation: NEST_PARENT HWPTs, HWPT_NESTED, vIOMMU. */
  nesting: boolean;
  /** IOMMU_CAP_CACHE_COHERENCY (iommufd device bind needs it; VFIO_DMA_CC_IOMMU). */
  cacheCoherency: boolean;
}

/** Inclusive bounds of the aw-bits each model accepts (CHOSEN: VT-d MGAW ≤ 57 with 5-level tables, SMMUv3 IAS ≤ 52, AMD-Vi up to 64). */
export const AW_BITS_RANGE: Readonly<Record<IommuModelName, readonly [number, number]>> = {
  'intel-vtd': [32, 57],
  'amd-vi': [32, 64],
  'arm-smmuv3': [32, 52],
};

const SZ_4K = 1n << 12n;
const SZ_2M = 1n << 21n;
const SZ_1G = 1n << 30n;

/** x86 interrupt window (intel IOAPIC_RANGE_START/END, amd MSI_RANGE_START/END), IOMMU_RESV_MSI (reference §2.4, verified). */
export const X86_MSI_REGION: ReservedRegion = { start: 0xfee00000n, end: 0xfeefffffn, type: 'msi' };
/**
 * AMD HyperTransport range, IOMMU_RESV_RESERVED (amd/iommu.c HT_RANGE_START 0xfd00000000 ..
 * HT_RANGE_END 0xffffffffff). Not in the reference: recalled (the "1 TiB hole" QEMU handles for
 * large AMD guests), UNVERIFIED.
 */
export const AMD_HT_REGION: ReservedRegion = { start: 0xfd00000000n, end: 0xffffffffffn, type: 'reserved' };
/** ARM SMMU software MSI window, MSI_IOVA_BASE 0x8000000, MSI_IOVA_LENGTH 0x100000, IOMMU_RESV_SW_MSI (reference §2.4: UNVERIFIED). */
export const ARM_SW_MSI_REGION: ReservedRegion = { start: 0x8000000n, end: 0x80fffffn, type: 'sw-msi' };

/**
 * Each model's defaults. CHOSEN where the reference has no value: aw-bits 48 (4-level tables) for
 * all three; page sizes 4K|2M|1G for VT-d (second-level super pages SLLPS=2M,1G) and SMMUv3 (4 KiB
 * granule); AMD-Vi's v1 page table AMD_IOMMU_PGSIZES = ~0xfff & ~(1 << 39) (recalled from
 * amd_iommu_types.h, UNVERIFIED). Capabilities: all three coherent; VT-d (scalable mode, SLADS)
 * and AMD-Vi (HDSup) track dirty pages, SMMUv3 does not unless HTTU is given (dirty-tracking:
 * true); VT-d and SMMUv3 nest, AMD-Vi does not (its nesting support is newer than the reference).
 */
export const MODEL_DEFAULTS: Readonly<Record<IommuModelName, IommuConfig>> = {
  'intel-vtd': { model: 'intel-vtd', awBits: 48, pgsizeBitmap: SZ_4K | SZ_2M | SZ_1G, reservedRegions: [X86_MSI_REGION], dirtyTracking: true, nesting: true, cacheCoherency: true },
  'amd-vi': { model: 'amd-vi', awBits: 48, pgsizeBitmap: ~0xfffn & ~(1n << 39n) & 0xffffffffffffffffn, reservedRegions: [X86_MSI_REGION, AMD_HT_REGION], dirtyTracking: true, nesting: false, cacheCoherency: true },
  'arm-smmuv3': { model: 'arm-smmuv3', awBits: 48, pgsizeBitmap: SZ_4K | SZ_2M | SZ_1G, reservedRegions: [ARM_SW_MSI_REGION], dirtyTracking: false, nesting: true, cacheCoherency: true },
};

/** The paging domain's aperture: [0, 2^awBits - 1] (`domain->geometry`). */
export function apertureOf(cfg: IommuConfig): IovaRange {
  return { start: 0n, end: awEnd(cfg.awBits) };
}

// ---- VT-d registers (VT-d spec §11.4.2 / §11.4.3; Linux intel/iommu.h cap_* / ecap_*) --------

/**
 * CHOSEN base CAP value: 0x00d2078c106f0466, a Xeon (Skylake-SP) dmesg value ("cap d2078c106f0466",
 * recalled): ND=6 (64K domains), PLMR, PHMR, SAGAW=4-level, MGAW=48, ZLR, FRO=0x10 (0x100), SLLPS=2M|1G,
 * PSI, NFR=8, MAMV=18, DWD, DRD. SAGAW, MGAW, SLLPS and FL1GP are then set from the configuration.
 */
const VTD_CAP_BASE = 0x00d2078c106f0466n;
const CAP_SAGAW_MASK = 0x1fn << 8n; // cap_sagaw: bits 12:8 (bit 1: 3-level/39, bit 2: 4-level/48, bit 3: 5-level/57)
const CAP_MGAW_MASK = 0x3fn << 16n; // cap_mgaw: bits 21:16, width - 1
const CAP_SLLPS_MASK = 0xfn << 34n; // cap_super_page_val: bits 37:34 (bit 0: 2M, bit 1: 1G)
/** First-stage 1 GiB pages, bit 56 (QEMU VTD_CAP_FS1GP; Linux cap_fl1gp_support). */
export const VTD_CAP_FS1GP = 1n << 56n;
/**
 * CHOSEN base ECAP value: 0xf020df, the legacy bits of the same dmesg line ("ecap f020df"): C, QI, DT,
 * IR, EIM, PT, SC, IRO=0x20 (IOTLB at 0x200), MHMV=15; then scalable-mode bits a current server
 * reports: PSS=19 (20-bit PASIDs), PASID, SMTS, SLTS; and per configuration NEST/FLTS, SLADS, C.
 */
const VTD_ECAP_BASE = 0xf020dfn;
/** ECAP bits (Linux ecap_*). */
export const VTD_ECAP = {
  C: 1n << 0n, // ecap_coherent: page-walk coherency
  NEST: 1n << 26n, // ecap_nest (QEMU VTD_ECAP_NEST, reference §5.3)
  PASID: 1n << 40n,
  SMTS: 1n << 43n, // scalable mode
  SLADS: 1n << 45n, // second-level accessed/dirty: dirty tracking
  SLTS: 1n << 46n, // second-level translation
  FLTS: 1n << 47n, // first-level translation
} as const;
const ECAP_PSS_20 = 19n << 35n; // ecap_pss: bits 39:35, PASID size - 1

/** The VT-d CAP register for a configuration. */
export function vtdCapReg(cfg: IommuConfig): bigint {
  const aw = cfg.awBits;
  const sagaw = aw <= 39 ? 0x2n : aw <= 48 ? 0x4n : 0xcn; // the table depths that reach aw
  let sllps = 0n;
  if ((cfg.pgsizeBitmap & SZ_2M) !== 0n) sllps |= 1n;
  if ((cfg.pgsizeBitmap & SZ_1G) !== 0n) sllps |= 2n;
  let cap = VTD_CAP_BASE & ~(CAP_SAGAW_MASK | CAP_MGAW_MASK | CAP_SLLPS_MASK);
  cap |= (sagaw << 8n) | (BigInt(aw - 1) << 16n) | (sllps << 34n);
  if ((cfg.pgsizeBitmap & SZ_1G) !== 0n) cap |= VTD_CAP_FS1GP;
  return cap;
}

/** The VT-d ECAP register for a configuration. */
export function vtdEcapReg(cfg: IommuConfig): bigint {
  let ecap = (VTD_ECAP_BASE & ~VTD_ECAP.C) | ECAP_PSS_20 | VTD_ECAP.PASID | VTD_ECAP.SMTS | VTD_ECAP.SLTS;
  if (cfg.cacheCoherency) ecap |= VTD_ECAP.C;
  if (cfg.nesting) ecap |= VTD_ECAP.NEST | VTD_ECAP.FLTS;
  if (cfg.dirtyTracking) ecap |= VTD_ECAP.SLADS;
  return ecap;
}

// ---- SMMUv3 ID registers (Arm IHI 0070; Linux arm-smmu-v3.h IDR*_ masks) ----------------------

/** IDR0 fields (Linux ARM_SMMU_IDR0 masks). */
export const SMMU_IDR0 = {
  S2P: 1 << 0,
  S1P: 1 << 1,
  TTF_AARCH64: 2 << 2, // TTF bits 3:2
  COHACC: 1 << 4,
  HTTU_ACCESS_DIRTY: 2 << 6, // HTTU bits 7:6
  ATS: 1 << 10,
  ASID16: 1 << 12,
  MSI: 1 << 13,
  SEV: 1 << 14,
  PRI: 1 << 16,
  VMID16: 1 << 18,
  CD2L: 1 << 19,
  ST_LEVEL_2LVL: 1 << 27, // ST_LEVEL bits 28:27
} as const;
/** IDR5 fields. */
export const SMMU_IDR5 = { GRAN4K: 1 << 4, GRAN16K: 1 << 5, GRAN64K: 1 << 6, VAX_52: 1 << 10 } as const;

/** IDR5.OAS encoding of an address width (32, 36, 40, 42, 44, 48, 52 → 0..6): the smallest that covers it. */
function smmuOas(aw: number): number {
  const widths = [32, 36, 40, 42, 44, 48, 52];
  const i = widths.findIndex((w) => w >= aw);
  return i < 0 ? 6 : i;
}

/**
 * The SMMUv3 ID registers for a configuration. CHOSEN: IDR1 SIDSIZE=16, SSIDSIZE=20, EVTQS/CMDQS/PRIQS=19;
 * IDR3 RIL and BBML=2; IIDR 0x4870043b (implementer Arm 0x43b, product 0x487 for an MMU-700:
 * illustrative, UNVERIFIED); AIDR 0x2 (SMMUv3.2).
 */
export function smmuIdrs(cfg: IommuConfig): number[] {
  let idr0 = SMMU_IDR0.S1P | SMMU_IDR0.TTF_AARCH64 | SMMU_IDR0.ATS | SMMU_IDR0.ASID16 | SMMU_IDR0.MSI | SMMU_IDR0.SEV | SMMU_IDR0.PRI | SMMU_IDR0.VMID16 | SMMU_IDR0.CD2L | SMMU_IDR0.ST_LEVEL_2LVL;
  if (cfg.nesting) idr0 |= SMMU_IDR0.S2P;
  if (cfg.cacheCoherency) idr0 |= SMMU_IDR0.COHACC;
  if (cfg.dirtyTracking) idr0 |= SMMU_IDR0.HTTU_ACCESS_DIRTY;
  const idr1 = 16 | (20 << 6) | (19 << 11) | (19 << 16) | (19 << 21);
  const idr3 = (1 << 10) | (2 << 11);
  let idr5 = smmuOas(cfg.awBits);
  if ((cfg.pgsizeBitmap & SZ_4K) !== 0n) idr5 |= SMMU_IDR5.GRAN4K;
  if ((cfg.pgsizeBitmap & (1n << 14n)) !== 0n) idr5 |= SMMU_IDR5.GRAN16K;
  if ((cfg.pgsizeBitmap & (1n << 16n)) !== 0n) idr5 |= SMMU_IDR5.GRAN64K;
  if (cfg.awBits > 48) idr5 |= SMMU_IDR5.VAX_52;
  return [idr0 >>> 0, idr1, 0, idr3, 0, idr5];
}

/**
 * What IOMMU_GET_HW_INFO returns for a device behind an IOMMU with this configuration (reference
 * §2.7): VT-d → INTEL_VTD with CAP/ECAP (24 bytes); SMMUv3 → ARM_SMMUV3 with the IDRs (40 bytes);
 * AMD-Vi → NONE with length 0 (the reference lists no AMD type: "a driver with no hw_info op
 * reports NONE"). `out_capabilities` has DIRTY_TRACKING when the IOMMU tracks dirty pages.
 */
export function hwInfoOf(cfg: IommuConfig): HwInfo {
  const outCapabilities = cfg.dirtyTracking ? IOMMU_HW_CAP.DIRTY_TRACKING : 0n;
  switch (cfg.model) {
    case 'intel-vtd':
      return { type: IOMMU_HW_INFO_TYPE.INTEL_VTD, dataLen: 24, vtd: { flags: 0, capReg: vtdCapReg(cfg), ecapReg: vtdEcapReg(cfg) }, outCapabilities };
    case 'arm-smmuv3':
      return { type: IOMMU_HW_INFO_TYPE.ARM_SMMUV3, dataLen: 40, smmuv3: { flags: 0, idr: smmuIdrs(cfg), iidr: 0x4870043b, aidr: 0x2 }, outCapabilities };
    case 'amd-vi':
      return { type: IOMMU_HW_INFO_TYPE.NONE, dataLen: 0, outCapabilities };
  }
}

/**
 * The GET_HW_INFO payload as the bytes the kernel copies to `data_uptr` (little-endian):
 * `struct iommu_hw_info_vtd {u32 flags; u32 __reserved; u64 cap_reg; u64 ecap_reg}` (24 bytes) or
 * `struct iommu_hw_info_arm_smmuv3 {u32 flags; u32 __reserved; u32 idr[6]; u32 iidr; u32 aidr}`
 * (40 bytes); empty for NONE. Length = `hw.dataLen`.
 */
export function hwInfoBytes(hw: HwInfo): Uint8Array {
  const out = new Uint8Array(hw.dataLen);
  const dv = new DataView(out.buffer);
  if (hw.vtd !== undefined) {
    dv.setUint32(0, hw.vtd.flags, true);
    dv.setBigUint64(8, hw.vtd.capReg, true);
    dv.setBigUint64(16, hw.vtd.ecapReg, true);
  } else if (hw.smmuv3 !== undefined) {
    dv.setUint32(0, hw.smmuv3.flags, true);
    hw.smmuv3.idr.forEach((v, i) => dv.setUint32(8 + 4 * i, v >>> 0, true));
    dv.setUint32(32, hw.smmuv3.iidr >>> 0, true);
    dv.setUint32(36, hw.smmuv3.aidr >>> 0, true);
  }
  return out;
}
