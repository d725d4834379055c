/**
 * The runner's driver side of the wire: builds the device-readable part of each request and reads
 * the device-writable part back. Layouts: virtio spec §5.13.6 (see
 * ../../../shared/reference/virtio-iommu.md §1.7-§1.8); all fields little-endian.
 */
import { statusName } from '../events/format.ts';
import type { ConfigValue, RegionValue } from './expect.ts';

/** Request type codes (virtio spec §5.13.6.2, VIRTIO_IOMMU_T_*). */
export const T_ATTACH = 1;
export const T_DETACH = 2;
export const T_MAP = 3;
export const T_UNMAP = 4;
export const T_PROBE = 5;

/** Size of the device-writable tail (struct virtio_iommu_req_tail). */
export const TAIL_SIZE = 4;

function head(size: number, type: number): [Uint8Array, DataView] {
  const b = new Uint8Array(size);
  b[0] = type;
  return [b, new DataView(b.buffer)];
}

/** ATTACH readable part (20 bytes): domain @4, endpoint @8, flags @12, reserved[4] @16 (as le32). */
export function encodeAttach(domain: number, endpoint: number, flags: number, reserved: number): Uint8Array {
  const [b, v] = head(20, T_ATTACH);
  v.setUint32(4, domain, true);
  v.setUint32(8, endpoint, true);
  v.setUint32(12, flags, true);
  v.setUint32(16, reserved, true);
  return b;
}

/** DETACH readable part (20 bytes): domain @4, endpoint @8, reserved[8] @12. */
export function encodeDetach(domain: number, endpoint: number): Uint8Array {
  const [b, v] = head(20, T_DETACH);
  v.setUint32(4, domain, true);
  v.setUint32(8, endpoint, true);
  return b;
}

/** Offsets of MAP fields (virt_start @8, virt_end @16, phys_start @24), for in-place patching. */
export const MAP_VIRT_START = 8;
export const MAP_VIRT_END = 16;
export const MAP_PHYS_START = 24;

/** MAP readable part (36 bytes): domain @4, virt_start @8, virt_end @16, phys_start @24, flags @32. */
export function encodeMap(domain: number, virtStart: bigint, virtEnd: bigint, physStart: bigint, flags: number): Uint8Array {
  const [b, v] = head(36, T_MAP);
  v.setUint32(4, domain, true);
  v.setBigUint64(MAP_VIRT_START, virtStart, true);
  v.setBigUint64(MAP_VIRT_END, virtEnd, true);
  v.setBigUint64(MAP_PHYS_START, physStart, true);
  v.setUint32(32, flags, true);
  return b;
}

/** UNMAP readable part (28 bytes): domain @4, virt_start @8, virt_end @16, reserved[4] @24 (as le32). */
export function encodeUnmap(domain: number, virtStart: bigint, virtEnd: bigint, reserved: number): Uint8Array {
  const [b, v] = head(28, T_UNMAP);
  v.setUint32(4, domain, true);
  v.setBigUint64(8, virtStart, true);
  v.setBigUint64(16, virtEnd, true);
  v.setUint32(24, reserved, true);
  return b;
}

/** PROBE readable part (72 bytes): endpoint @4, reserved[64] @8. */
export function encodeProbe(endpoint: number): Uint8Array {
  const [b, v] = head(72, T_PROBE);
  v.setUint32(4, endpoint, true);
  return b;
}

/**
 * Status name of a reply (the bytes the device wrote; length = used length): the byte 4 from the
 * end (tail.status), UNWRITTEN when the used length is 0 or too short to hold a tail.
 */
export function replyStatus(reply: Uint8Array): string {
  if (reply.length < TAIL_SIZE) return 'UNWRITTEN';
  return statusName(reply[reply.length - TAIL_SIZE]);
}

/**
 * RESV_MEM properties of a PROBE reply's `properties` (virtio spec §5.13.6.8-9): walks headers
 * (type = le16 & 0xfff, length = le16) until type 0 or the end; unknown types are skipped by length.
 */
export function decodeProbeRegions(properties: Uint8Array): RegionValue[] {
  const v = new DataView(properties.buffer, properties.byteOffset, properties.byteLength);
  const out: RegionValue[] = [];
  let off = 0;
  while (off + 4 <= properties.length) {
    const type = v.getUint16(off, true) & 0xfff;
    const len = v.getUint16(off + 2, true);
    if (type === 0) break;
    if (type === 1 && len >= 20 && off + 24 <= properties.length) {
      out.push({ subtype: properties[off + 4], start: v.getBigUint64(off + 8, true), end: v.getBigUint64(off + 16, true) });
    }
    off += 4 + len;
  }
  return out;
}

/** Decodes the 40-byte config space (virtio spec §5.13.4; offsets 0, 8, 16, 24, 28, 32, 36). */
export function decodeConfig(bytes: Uint8Array): ConfigValue {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    pageSizeMask: v.getBigUint64(0, true),
    inputRange: [v.getBigUint64(8, true), v.getBigUint64(16, true)],
    domainRange: [v.getUint32(24, true), v.getUint32(28, true)],
    probeSize: v.getUint32(32, true),
    bypass: bytes[36],
  };
}
