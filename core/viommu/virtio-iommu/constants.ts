/**
 * virtio-iommu constants: device ID, queues, feature bits, request types, statuses, flags, probe
 * property types, fault reasons and flags.
 *
 * Sources: virtio spec §5.13 (device-types/iommu/description.tex, "SPEC"), Linux
 * include/uapi/linux/virtio_iommu.h ("LHDR"), QEMU hw/virtio/virtio-iommu.c ("QDEV"). See
 * ../../../shared/reference/virtio-iommu.md §1.
 */

/** Virtio device ID of the IOMMU device (SPEC §5.13.1). */
export const VIRTIO_ID_IOMMU = 23;

/** Virtqueue 0: requests from the driver (SPEC §5.13.2). */
export const REQUESTQ = 0;
/** Virtqueue 1: fault reports from the device (SPEC §5.13.2). */
export const EVENTQ = 1;
/** QEMU's size of both virtqueues (QDEV VIOMMU_DEFAULT_QUEUE_SIZE). */
export const QEMU_QUEUE_SIZE = 256;
/** QEMU's PROBE properties size in bytes (QDEV VIOMMU_PROBE_SIZE). */
export const QEMU_PROBE_SIZE = 512;

// ---- Feature bits (SPEC §5.13.3, LHDR). Values are bit numbers. ----
/** input_range is valid. */
export const F_INPUT_RANGE = 0;
/** domain_range is valid. */
export const F_DOMAIN_RANGE = 1;
/** MAP and UNMAP requests are available. */
export const F_MAP_UNMAP = 2;
/** Legacy: unattached endpoints are in bypass (superseded by F_BYPASS_CONFIG; QEMU never offers it). */
export const F_BYPASS = 3;
/** PROBE request is available; probe_size is valid. */
export const F_PROBE = 4;
/** VIRTIO_IOMMU_MAP_F_MMIO is available. */
export const F_MMIO = 5;
/** config.bypass and VIRTIO_IOMMU_ATTACH_F_BYPASS are available. */
export const F_BYPASS_CONFIG = 6;
/** Transport feature: indirect descriptors (virtio spec §6; offered by QDEV realize). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
/** Transport feature: used/avail event index (virtio spec §6; offered by QDEV realize). */
export const VIRTIO_RING_F_EVENT_IDX = 29;
/** Transport feature: virtio 1.x device (virtio spec §6; Linux requires it). */
export const VIRTIO_F_VERSION_1 = 32;

/** Feature bit number → mask (bigint, since VERSION_1 is bit 32). */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

/** Feature names by bit number, for display. */
export const FEATURE_NAMES: Readonly<Record<number, string>> = {
  [F_INPUT_RANGE]: 'INPUT_RANGE',
  [F_DOMAIN_RANGE]: 'DOMAIN_RANGE',
  [F_MAP_UNMAP]: 'MAP_UNMAP',
  [F_BYPASS]: 'BYPASS',
  [F_PROBE]: 'PROBE',
  [F_MMIO]: 'MMIO',
  [F_BYPASS_CONFIG]: 'BYPASS_CONFIG',
  [VIRTIO_RING_F_INDIRECT_DESC]: 'RING_INDIRECT_DESC',
  [VIRTIO_RING_F_EVENT_IDX]: 'RING_EVENT_IDX',
  [VIRTIO_F_VERSION_1]: 'VERSION_1',
};

/**
 * Feature bits the Linux driver accepts (drivers/iommu/virtio-iommu.c `features[]` plus the
 * transport bits the virtio core keeps: VERSION_1, INDIRECT_DESC, EVENT_IDX). Reference §1.2.
 * Linux never accepts F_BYPASS.
 */
export const LINUX_DRIVER_FEATURES: bigint = [
  F_MAP_UNMAP, F_INPUT_RANGE, F_DOMAIN_RANGE, F_PROBE, F_MMIO, F_BYPASS_CONFIG,
  VIRTIO_F_VERSION_1, VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX,
].reduce((acc, b) => acc | featureBit(b), 0n);

// ---- Request types (SPEC §5.13.6, head.type). ----
/** Attach an endpoint to a domain (creating it). */
export const T_ATTACH = 1;
/** Detach an endpoint from its domain. */
export const T_DETACH = 2;
/** Map an IOVA range of a domain. */
export const T_MAP = 3;
/** Unmap the mappings inside an IOVA range. */
export const T_UNMAP = 4;
/** Query an endpoint's properties (reserved regions). */
export const T_PROBE = 5;

/** Request type names by code. */
export const REQUEST_TYPE_NAMES: Readonly<Record<number, string>> = {
  [T_ATTACH]: 'ATTACH',
  [T_DETACH]: 'DETACH',
  [T_MAP]: 'MAP',
  [T_UNMAP]: 'UNMAP',
  [T_PROBE]: 'PROBE',
};

// ---- Status codes (SPEC §5.13.6, tail.status). ----
/** Success. */
export const S_OK = 0;
/** Virtio communication error. */
export const S_IOERR = 1;
/** Unsupported request. */
export const S_UNSUPP = 2;
/** Internal device error. */
export const S_DEVERR = 3;
/** Invalid parameters. */
export const S_INVAL = 4;
/** Out-of-range parameters. */
export const S_RANGE = 5;
/** Entry not found. */
export const S_NOENT = 6;
/** Bad address. */
export const S_FAULT = 7;
/** Insufficient resources. */
export const S_NOMEM = 8;

/** Status names, indexed by status code (SPEC §5.13.6 without the VIRTIO_IOMMU_S_ prefix). */
export const STATUS_NAMES = ['OK', 'IOERR', 'UNSUPP', 'DEVERR', 'INVAL', 'RANGE', 'NOENT', 'FAULT', 'NOMEM'] as const;

/** A status name. */
export type StatusName = (typeof STATUS_NAMES)[number];

/** Name of a status code; unknown codes print as "S_<n>" (Linux maps them to -EIO). */
export function statusName(code: number): string {
  return code >= 0 && code < STATUS_NAMES.length ? STATUS_NAMES[code] : `S_${code}`;
}

/**
 * Status code from a name: "INVAL", "S_INVAL" or "VIRTIO_IOMMU_S_INVAL" (case-insensitive).
 * Returns undefined for an unknown name.
 */
export function parseStatus(name: string): number | undefined {
  const n = name.trim().toUpperCase().replace(/^VIRTIO_IOMMU_/, '').replace(/^S_/, '');
  const i = (STATUS_NAMES as readonly string[]).indexOf(n);
  return i < 0 ? undefined : i;
}

// ---- ATTACH flags (SPEC §5.13.6.2). ----
/** Create/attach to a bypass domain (needs F_BYPASS_CONFIG). */
export const ATTACH_F_BYPASS = 1 << 0;
/** Every ATTACH flag the spec defines; any other bit must be rejected with S_INVAL. */
export const ATTACH_F_MASK = ATTACH_F_BYPASS;

// ---- MAP flags (SPEC §5.13.6.4). ----
/** Reads allowed. */
export const MAP_F_READ = 1 << 0;
/** Writes allowed. */
export const MAP_F_WRITE = 1 << 1;
/** Memory type: device MMIO (needs F_MMIO). */
export const MAP_F_MMIO = 1 << 2;
/** READ | WRITE | MMIO (LHDR VIRTIO_IOMMU_MAP_F_MASK). */
export const MAP_F_MASK = MAP_F_READ | MAP_F_WRITE | MAP_F_MMIO;

// ---- PROBE properties (SPEC §5.13.6.6-7). ----
/** Terminator / empty property. */
export const PROBE_T_NONE = 0;
/** Reserved memory region. */
export const PROBE_T_RESV_MEM = 1;
/** The type field is bits 0-11 of the first le16 (LHDR VIRTIO_IOMMU_PROBE_T_MASK). */
export const PROBE_T_MASK = 0xfff;
/** Size of struct virtio_iommu_probe_property (header) in bytes. */
export const PROBE_PROPERTY_HEADER_SIZE = 4;
/** Size of struct virtio_iommu_probe_resv_mem in bytes (header included); length field = 20. */
export const PROBE_RESV_MEM_SIZE = 24;

/** RESV_MEM subtype: the driver must not map these addresses. */
export const RESV_MEM_T_RESERVED = 0;
/** RESV_MEM subtype: an MSI doorbell region (identity-mapped by the device). */
export const RESV_MEM_T_MSI = 1;

// ---- Faults (SPEC §5.13.6.9). ----
/** Internal or other error. */
export const FAULT_R_UNKNOWN = 0;
/** The endpoint is not attached to a domain. */
export const FAULT_R_DOMAIN = 1;
/** The address is not mapped or the access is not permitted. */
export const FAULT_R_MAPPING = 2;
/** The faulting access was a read. */
export const FAULT_F_READ = 1 << 0;
/** The faulting access was a write. */
export const FAULT_F_WRITE = 1 << 1;
/** LHDR only, not in SPEC; never set by this device. */
export const FAULT_F_EXEC = 1 << 2;
/** `address` is valid. */
export const FAULT_F_ADDRESS = 1 << 8;
/** Size of struct virtio_iommu_fault in bytes. */
export const FAULT_RECORD_SIZE = 24;

// ---- Sizes (SPEC §5.13.4, §5.13.6). ----
/** struct virtio_iommu_config size in bytes. */
export const CONFIG_SIZE = 40;
/** Offset of config.bypass, the only driver-writable config field. */
export const CONFIG_BYPASS_OFFSET = 36;
/** struct virtio_iommu_req_head size in bytes (type + 3 reserved). */
export const HEAD_SIZE = 4;
/** struct virtio_iommu_req_tail size in bytes (status + 3 reserved). */
export const TAIL_SIZE = 4;
/**
 * Device-readable size of each request, head included (what QEMU reads with iov_to_buf:
 * sizeof(struct virtio_iommu_req_x) - sizeof(tail); for PROBE the properties are writable).
 */
export const READABLE_SIZE: Readonly<Record<number, number>> = {
  [T_ATTACH]: 20,
  [T_DETACH]: 20,
  [T_MAP]: 36,
  [T_UNMAP]: 28,
  [T_PROBE]: 72,
};

/** IOMMUAccessFlags (QEMU include/exec/memory.h): a read access. */
export const IOMMU_RO = 1;
/** IOMMUAccessFlags: a write access. */
export const IOMMU_WO = 2;
