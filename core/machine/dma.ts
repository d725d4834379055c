/**
 * DMA access codes: the contract between a device's DMA and the vIOMMU that decides it (DESIGN.md §2,
 * "a vIOMMU model offers `translate`"), shared by every vIOMMU model.
 *
 * Two forms of one decision:
 *  - the fast form (`VIommu.translate`): the address as u32 halves, the size in bytes (< 2^53), a
 *    result code (TR_*), and the outputs in preallocated slots (`TranslateSlots`): no bigint and no
 *    allocation per access (the workload hot path);
 *  - the outcome form (`VIommu.translateAccess`): bigint address and size, a `TranslateOutcome` value.
 * Access flags are QEMU's IOMMUAccessFlags: 1 read (IOMMU_RO), 2 write (IOMMU_WO).
 */

/** translate result: translated through a mapping; output in physHi/physLo. */
export const TR_TRANSLATED = 0;
/** Identity: the endpoint is in bypass. */
export const TR_BYPASS = 1;
/** Identity through an MSI reserved region. */
export const TR_MSI = 2;
/** Fault: reason/flags in the slots, a fault report was queued by the vIOMMU. */
export const TR_FAULT = 3;

/** Preallocated output slots of a translation (no allocation per access). */
export class TranslateSlots {
  /** Output address halves (identity for bypass/MSI). */
  physHi = 0;
  physLo = 0;
  /** The model's fault reason and flags of a fault (virtio-iommu: FAULT_R_* and FAULT_F_*). */
  reason = 0;
  flags = 0;
  /** Domain ID the endpoint is attached to, or -1. */
  domain = -1;
}

/** Outcome of one DMA access, the outcome form of a TR_* code. */
export type TranslateOutcome =
  | { kind: 'translated'; phys: bigint; domain: number }
  /** Identity: the endpoint is in bypass. */
  | { kind: 'bypass' }
  /** Identity through an MSI reserved region. */
  | { kind: 'msi' }
  /** Fault: the model's reason and flags, the faulting address (first byte of the faulting page). */
  | { kind: 'fault'; reason: number; flags: number; address: bigint; endpoint: number };
