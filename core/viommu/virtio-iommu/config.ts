/**
 * virtio-iommu properties → config space and reserved regions.
 *
 * Properties mirror QEMU's (`granule`, `aw-bits`, `boot-bypass`, `reserved-regions`; QDEV
 * virtio_iommu_properties, hw/virtio/virtio-iommu-pci.c) plus lab knobs (`conformance`, `offer`,
 * `probeSize`, `domainRange`). Reference: ../../../shared/reference/virtio-iommu.md §1.3, §2.3.
 */
import type { VirtioIommuConfig } from './codec.ts';
import { QEMU_PROBE_SIZE, RESV_MEM_T_MSI, RESV_MEM_T_RESERVED } from './constants.ts';

/** One reserved region: [start, end] inclusive, bytes; subtype 0 RESERVED or 1 MSI (SPEC §5.13.6.7.1). */
export interface ReservedRegion {
  start: bigint;
  end: bigint;
  /** 0 RESERVED, 1 MSI. */
  subtype: number;
}

/** Device properties (see the field docs for QEMU's names and defaults). */
export interface VirtioIommuProps {
  /** 'qemu' behaves as QEMU 9.1+ does, deviations included; 'spec' follows the spec's MUST/SHOULD. Default 'qemu'. */
  conformance: 'qemu' | 'spec';
  /**
   * QEMU `granule`: page_size_mask = -(granule) as a u64. 'host' is the host page size
   * (qemu_real_host_page_mask()); the lab's host is taken to be x86-64 / 4 KiB pages, so 'host' = '4k'.
   */
  granule: '4k' | '8k' | '16k' | '64k' | 'host';
  /** QEMU `aw-bits` in [32, 64]: input_range = [0, 2^aw - 1] (64 → 0xffffffffffffffff). */
  awBits: number;
  /** QEMU `boot-bypass`: initial config.bypass, restored on system reset. Default true. */
  bootBypass: boolean;
  /** QEMU `reserved-regions` (virtio-iommu-pci): applied to every endpoint, later entries win on overlap. */
  reservedRegions: ReservedRegion[];
  /** config.probe_size in bytes (QEMU: 512). */
  probeSize: number;
  /** config.domain_range [start, end] inclusive (QEMU: [0, 0xffffffff]). */
  domainRange: [number, number];
  /** Which optional features the device offers (QEMU offers all of them). */
  offer: { mmio: boolean; probe: boolean; bypassConfig: boolean; inputRange: boolean; domainRange: boolean };
  /**
   * How an assigned device's host IOVA ranges arrive (iommufd-vfio-hostiommu.md §5.4): 'realize'
   * (QEMU 9.1+, commits 817ef10d / 3ad35d91: virtio_iommu_set_iommu_device takes the
   * HostIOMMUDevice's get_iova_ranges at device realize, before any PROBE) or 'listener' (QEMU
   * before that series: vfio_listener_region_add passes them through the IOMMU memory region's
   * iommu_set_iova_ranges once the region is enabled, i.e. after a hotplugged endpoint's PROBE
   * was answered; coldplugged devices got them at machine init done, when every IOMMU MR is
   * enabled for a moment) or 'none' (QEMU 8.1 and before, until "VIRTIO-IOMMU/VFIO: Don't assume
   * 64b IOVA space": the ranges never reach virtio-iommu). Default 'realize'.
   */
  hostGeometry: 'realize' | 'listener' | 'none';
}

/** page_size_mask per granule (QDEV realize: -(4 * KiB) etc., as u64). 'host' = 4 KiB (see props doc). */
export const GRANULE_MASKS: Readonly<Record<VirtioIommuProps['granule'], bigint>> = {
  '4k': 0xfffffffffffff000n,
  '8k': 0xffffffffffffe000n,
  '16k': 0xffffffffffffc000n,
  '64k': 0xffffffffffff0000n,
  host: 0xfffffffffffff000n,
};

/** The x86 APIC MSI window QEMU pc/q35 adds as `reserved-regions[0]` (hw/i386/pc.c). */
export const Q35_MSI_REGION: ReservedRegion = { start: 0xfee00000n, end: 0xfeefffffn, subtype: RESV_MEM_T_MSI };

/**
 * The ARM `virt` GITS_TRANSLATER page QEMU adds as an MSI region (hw/arm/virt.c
 * virt_machine_device_pre_plug_cb: ITS base 0x08080000 + 0x10000 to the end of the 128 KiB ITS
 * frame). This applies with an ITS, i.e. `gic-version=3` (or host/max on a GICv3 host); plain
 * `-M virt` defaults to GICv2 and then QEMU reports the GICv2m frame 0x08020000-0x08020fff instead.
 */
export const VIRT_ITS_MSI_REGION: ReservedRegion = { start: 0x08090000n, end: 0x0809ffffn, subtype: RESV_MEM_T_MSI };

/** The GICv2m MSI_SETSPI_NS frame QEMU reports on `virt` with GICv2 (hw/arm/virt.c). */
export const VIRT_GICV2M_MSI_REGION: ReservedRegion = { start: 0x08020000n, end: 0x08020fffn, subtype: RESV_MEM_T_MSI };

/**
 * QEMU 9.0+ machine defaults for virtio-iommu-pci: q35 → aw-bits 39 and the APIC MSI window;
 * virt → aw-bits 48 and the MSI doorbell of plain `-M virt`, whose GIC defaults to v2 under TCG
 * (hw/arm/virt.c finalize_gic_version: "Default GIC type is v2"), i.e. the GICv2m frame
 * (VIRT_GICV2M_MSI_REGION); with `gicVersion` 3 (QEMU `-M virt,gic-version=3`) it is the ITS
 * GITS_TRANSLATER page (VIRT_ITS_MSI_REGION). `gicVersion` is ignored for q35. Both: granule
 * 'host', boot-bypass on, probe_size 512, domain_range [0, 0xffffffff], every feature offered,
 * conformance 'qemu', host geometry 'realize'.
 */
export function defaultProps(machine: 'q35' | 'virt', gicVersion: 2 | 3 = 2): VirtioIommuProps {
  return {
    conformance: 'qemu',
    granule: 'host',
    awBits: machine === 'q35' ? 39 : 48,
    bootBypass: true,
    reservedRegions: [{ ...(machine === 'q35' ? Q35_MSI_REGION : gicVersion === 3 ? VIRT_ITS_MSI_REGION : VIRT_GICV2M_MSI_REGION) }],
    probeSize: QEMU_PROBE_SIZE,
    domainRange: [0, 0xffffffff],
    offer: { mmio: true, probe: true, bypassConfig: true, inputRange: true, domainRange: true },
    hostGeometry: 'realize',
  };
}

const HEX = /^\s*(0[xX])?([0-9a-fA-F]+)/;

/**
 * Parses a QEMU `reserved-regions` string "start:end:type" (hw/core/qdev-properties-system.c
 * set_reserved_region: start/end hexadecimal u64 with optional 0x, type decimal; then
 * virtio-iommu-pci realize accepts only type 0 or 1). Returns the region, or an error message.
 */
export function parseReservedRegion(s: string): ReservedRegion | string {
  const a = HEX.exec(s);
  if (!a) return `start address of '${s}' must be a hexadecimal integer`;
  const start = BigInt('0x' + a[2]);
  if (start > 0xffffffffffffffffn) return `start address of '${s}' must be a hexadecimal integer`;
  let rest = s.slice(a[0].length);
  if (rest[0] !== ':') return 'reserved region fields must be separated with \':\'';
  rest = rest.slice(1);
  const b = HEX.exec(rest);
  if (!b) return `end address of '${s}' must be a hexadecimal integer`;
  const end = BigInt('0x' + b[2]);
  if (end > 0xffffffffffffffffn) return `end address of '${s}' must be a hexadecimal integer`;
  rest = rest.slice(b[0].length);
  if (rest[0] !== ':') return 'reserved region fields must be separated with \':\'';
  rest = rest.slice(1);
  if (!/^\s*\d+$/.test(rest)) return `type of '${s}' must be a non-negative decimal integer`;
  const subtype = Number(rest.trim());
  if (subtype !== RESV_MEM_T_RESERVED && subtype !== RESV_MEM_T_MSI) return `reserved region '${s}' has an invalid type (valid values are 0 and 1)`;
  if (start > end) return `reserved region '${s}' starts after its end`;
  return { start, end, subtype };
}

/** Formats a region the way QEMU's get_reserved_region prints it: "0x<start>:0x<end>:<type>". */
export function formatReservedRegion(r: ReservedRegion): string {
  return `0x${r.start.toString(16)}:0x${r.end.toString(16)}:${r.subtype}`;
}

/**
 * Problems with a props object (field path + message); [] when usable. The device constructor
 * throws on invalid props, so callers validating user input call this first.
 */
export function validateProps(p: VirtioIommuProps): string[] {
  const errs: string[] = [];
  if (p.conformance !== 'qemu' && p.conformance !== 'spec') errs.push(`conformance: must be 'qemu' or 'spec'`);
  if (!(p.granule in GRANULE_MASKS)) errs.push(`granule: must be one of 4k, 8k, 16k, 64k, host`);
  if (p.hostGeometry !== 'realize' && p.hostGeometry !== 'listener' && p.hostGeometry !== 'none') errs.push(`hostGeometry: must be 'realize', 'listener' or 'none'`);
  if (!Number.isInteger(p.awBits) || p.awBits < 32 || p.awBits > 64) errs.push('awBits: aw-bits must be within [32,64]');
  if (!Number.isInteger(p.probeSize) || p.probeSize < 0 || p.probeSize > 0xffff_fffb) errs.push('probeSize: must be a u32 (bytes)');
  const [ds, de] = p.domainRange;
  if (!Number.isInteger(ds) || !Number.isInteger(de) || ds < 0 || de > 0xffffffff || ds > de) errs.push('domainRange: must be [start, end] with 0 <= start <= end <= 0xffffffff');
  p.reservedRegions.forEach((r, i) => {
    if (r.start < 0n || r.end > 0xffffffffffffffffn || r.start > r.end) errs.push(`reservedRegions[${i}]: start/end must be u64 with start <= end`);
    if (r.subtype !== RESV_MEM_T_RESERVED && r.subtype !== RESV_MEM_T_MSI) errs.push(`reservedRegions[${i}]: subtype must be 0 or 1`);
  });
  return errs;
}

/** Granule in bytes: the lowest set bit of page_size_mask (SPEC §5.13.4). */
export function granuleOf(pageSizeMask: bigint): bigint {
  return pageSizeMask & -pageSizeMask;
}

/** input_range end for aw-bits (QDEV realize): 2^aw - 1, or 0xffffffffffffffff for 64. */
export function inputRangeEnd(awBits: number): bigint {
  return awBits === 64 ? 0xffffffffffffffffn : (1n << BigInt(awBits)) - 1n;
}

/** The config space values the device presents for these props (bypass = current value). */
export function configFromProps(p: VirtioIommuProps, bypass: number): VirtioIommuConfig {
  return {
    pageSizeMask: GRANULE_MASKS[p.granule],
    inputRange: { start: 0n, end: inputRangeEnd(p.awBits) },
    domainRange: { start: p.domainRange[0], end: p.domainRange[1] },
    probeSize: p.probeSize,
    bypass,
  };
}

/**
 * The per-endpoint reserved-region list: regions inserted in order with QEMU's
 * resv_region_list_insert semantics (util/reserved-region.c): a newly inserted region wins, so it
 * trims or splits the parts of earlier regions it overlaps. Result: sorted by start, disjoint.
 */
export function buildReservedRegions(regions: readonly ReservedRegion[]): ReservedRegion[] {
  let list: ReservedRegion[] = [];
  for (const r of regions) {
    const next: ReservedRegion[] = [];
    for (const x of list) {
      if (x.end < r.start || x.start > r.end) {
        next.push(x);
        continue;
      }
      if (x.start < r.start) next.push({ start: x.start, end: r.start - 1n, subtype: x.subtype });
      if (x.end > r.end) next.push({ start: r.end + 1n, end: x.end, subtype: x.subtype });
    }
    next.push({ ...r });
    next.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    list = next;
  }
  return list;
}
