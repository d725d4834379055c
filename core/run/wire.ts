/**
 * The runner's driver side of the wire, over the device's codec (core/viommu/virtio-iommu/codec.ts):
 * reads statuses, PROBE regions and the config space back in the runner's terms. Layouts: virtio
 * spec §5.13.4 and §5.13.6 (see ../../../shared/reference/virtio-iommu.md §1.7-§1.8).
 */
import { decodeConfig as decodeConfigSpace, decodeProbeProperties } from '../viommu/virtio-iommu/codec.ts';
import { TAIL_SIZE } from '../viommu/virtio-iommu/constants.ts';
import type { ConfigValue, RegionValue } from './expect.ts';

/**
 * Byte offsets of the u64 fields of MAP (virt_start 8, virt_end 16, phys_start 24) and UNMAP
 * (virt_start 8, virt_end 16) requests (spec §5.13.6, MAP and UNMAP requests), so a workload patches one prebuilt
 * request in place instead of encoding a new one per iteration.
 */
export const VIRT_START_OFFSET = 8;
/** Byte offset of virt_end (le64, inclusive) in MAP and UNMAP. */
export const VIRT_END_OFFSET = 16;
/** Byte offset of phys_start (le64) in MAP. */
export const PHYS_START_OFFSET = 24;

/** Writes a u64 given as u32 halves, little-endian, at `o`. */
export function putU64Halves(b: Uint8Array, o: number, hi: number, lo: number): void {
  b[o] = lo & 0xff;
  b[o + 1] = (lo >>> 8) & 0xff;
  b[o + 2] = (lo >>> 16) & 0xff;
  b[o + 3] = lo >>> 24;
  b[o + 4] = hi & 0xff;
  b[o + 5] = (hi >>> 8) & 0xff;
  b[o + 6] = (hi >>> 16) & 0xff;
  b[o + 7] = hi >>> 24;
}

/**
 * Status of a reply (the bytes the device wrote; length = used length): tail.status, the byte 4
 * from the end, as a number; undefined (UNWRITTEN) when the used length is 0 or too short to hold
 * a tail. Format it with statusName (core/events) where it becomes text.
 */
export function replyStatus(reply: Uint8Array): number | undefined {
  return reply.length < TAIL_SIZE ? undefined : reply[reply.length - TAIL_SIZE];
}

/**
 * RESV_MEM regions of a PROBE reply's `properties` as a driver keeps them (spec §5.13.6, PROBE request):
 * properties with non-zero header reserved bits and other types are ignored.
 */
export function decodeProbeRegions(properties: Uint8Array): RegionValue[] {
  const out: RegionValue[] = [];
  for (const p of decodeProbeProperties(properties).properties) {
    if (p.reservedBits === 0 && p.resvMem) out.push({ subtype: p.resvMem.subtype, start: p.resvMem.start, end: p.resvMem.end });
  }
  return out;
}

/** Decodes the 40-byte config space into the runner's shape (ranges as [start, end]). */
export function decodeConfig(bytes: Uint8Array): ConfigValue {
  const c = decodeConfigSpace(bytes);
  return {
    pageSizeMask: c.pageSizeMask,
    inputRange: [c.inputRange.start, c.inputRange.end],
    domainRange: [c.domainRange.start, c.domainRange.end],
    probeSize: c.probeSize,
    bypass: c.bypass,
  };
}
