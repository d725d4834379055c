/**
 * DMA translation through the device: the per-access decision (identity, mapping, or fault).
 *
 * qemu mode follows QDEV exactly:
 *  0. The address-space switch (virtio_iommu_switch_address_space): an endpoint is "bypassed" when
 *     it is attached to a bypass domain, or when it has no domain and config.bypass = 1. A bypassed
 *     endpoint's DMA goes through the plain system-memory alias and never reaches
 *     virtio_iommu_translate, so reserved regions are not consulted (QEMU asserts this).
 *  Then virtio_iommu_translate (reference §2.4):
 *  1. endpoint not in the endpoint tree (never attached, or detached) → fault UNKNOWN;
 *  2. address inside a reserved region: MSI → identity; RESERVED → fault MAPPING;
 *  3. endpoint without a domain → fault DOMAIN (only after a failed re-ATTACH, see requests.ts);
 *  4. mapping lookup with QEMU's interval [addr, addr + 1]: the mapping holding addr, else one
 *     starting at addr + 1 (translated to phys - 1: QEMU's off-by-one), and at
 *     addr = 0xffffffffffffffff only a [0, 0xffffffffffffffff] mapping matches (addr + 1 wraps);
 *     no match → fault MAPPING;
 *  5. permissions: read without MAP_F_READ / write without MAP_F_WRITE → fault MAPPING with
 *     F_READ / F_WRITE; otherwise translated_addr = addr - virt_start + phys_start, and the access
 *     reaches (translated_addr & ~(granule - 1)) | (addr & (granule - 1)) (system/physmem.c).
 *  Every fault carries F_ADDRESS and the address.
 *
 * spec mode (virtio spec §5.13.6 "bypass mode", MAP, RESV_MEM; order is the project's choice):
 *  1. bypass mode (attached to a bypass domain; unattached with F_BYPASS_CONFIG offered and
 *     bypass = 1; unattached with F_BYPASS negotiated) → identity;
 *  2. endpoint not behind this IOMMU → fault UNKNOWN;
 *  3. reserved region: MSI → identity, RESERVED → fault MAPPING;
 *  4. unattached (not in bypass) → fault DOMAIN (SHOULD NOT reach guest memory);
 *  5. exact lookup of addr → fault MAPPING when unmapped;
 *  6. permissions as above (the device never grants a read from a WRITE-only mapping).
 *
 * translateCore decides one granule page. VirtioIommuDevice.translate/translateFast split an access
 * that crosses granule pages into one decision per page, as QEMU does (address_space_translate_iommu
 * cuts the length at the end of the IOMMUTLBEntry's page and translates the rest again): each page
 * emits its own 'translate', and the first page that faults ends the access with its address.
 */
import { TWO32, u64 } from '../../engine/u64.ts';
import {
  FAULT_F_ADDRESS, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN, FAULT_R_MAPPING, FAULT_R_UNKNOWN, IOMMU_RO, IOMMU_WO, MAP_F_READ,
  MAP_F_WRITE, RESV_MEM_T_MSI,
} from './constants.ts';
import { emit, type DeviceState, type Domain, type ResvTable } from './state.ts';
import type { EventPayload } from '../../events/catalog.ts';
import { TR_BYPASS, TR_FAULT, TR_MSI, TR_TRANSLATED, type TranslateSlots } from '../../machine/dma.ts';

/** Result codes and output slots of the DMA contract (core/machine/dma.ts), re-exported. */
export { TR_TRANSLATED, TR_BYPASS, TR_MSI, TR_FAULT, TranslateSlots } from '../../machine/dma.ts';

function fault(st: DeviceState, out: TranslateSlots, reason: number, flags: number, endpoint: number, hi: number, lo: number): number {
  out.reason = reason;
  out.flags = flags;
  st.reportFault(reason, flags, endpoint, hi, lo);
  return TR_FAULT;
}

function identity(out: TranslateSlots, code: number, hi: number, lo: number): number {
  out.physHi = hi;
  out.physLo = lo;
  return code;
}

/** Index of the reserved region of table `st` holding addr, or -1 (regions are few: a linear scan). */
function resvIndex(st: ResvTable, hi: number, lo: number): number {
  const n = st.rType.length;
  for (let i = 0; i < n; i++) {
    const sh = st.rSHi[i];
    const eh = st.rEHi[i];
    if ((sh < hi || (sh === hi && st.rSLo[i] <= lo)) && (eh > hi || (eh === hi && st.rELo[i] >= lo))) return i;
  }
  return -1;
}

/**
 * Decides one access of `endpoint` at addr (hi, lo) with IOMMUAccessFlags `access` (1 RO, 2 WO);
 * returns a TR_* code and fills `out`. Faults are queued as eventq records (and emit 'fault'),
 * or dropped while a qemu-mode device is broken (DeviceState.reportFault).
 * Emits no 'translate' event (see emitTranslate).
 */
export function translateCore(st: DeviceState, out: TranslateSlots, endpoint: number, hi: number, lo: number, access: number): number {
  const ep = st.endpoints.get(endpoint);
  const dom: Domain | null = ep === undefined ? null : ep.domain;
  out.domain = dom === null ? -1 : dom.id;
  if (st.qemu) {
    if (dom !== null ? dom.bypass : st.bypass === 1) return identity(out, TR_BYPASS, hi, lo);
    if (ep === undefined) return fault(st, out, FAULT_R_UNKNOWN, FAULT_F_ADDRESS, endpoint, hi, lo);
  } else {
    if (dom !== null) {
      if (dom.bypass) return identity(out, TR_BYPASS, hi, lo);
    } else if ((st.props.offer.bypassConfig && st.bypass === 1) || st.negBypass) {
      return identity(out, TR_BYPASS, hi, lo);
    }
    if (!st.existing.has(endpoint)) return fault(st, out, FAULT_R_UNKNOWN, FAULT_F_ADDRESS, endpoint, hi, lo);
  }
  // The endpoint's reserved regions (QEMU sdev->resv_regions): its own table when a HostIOMMUDevice
  // gave it host holes, else the device's.
  const t: ResvTable = st.epResv === null ? st : (st.epResv.get(endpoint) ?? st);
  if (t.rType.length > 0) {
    const i = resvIndex(t, hi, lo);
    if (i >= 0) {
      if (t.rType[i] === RESV_MEM_T_MSI) return identity(out, TR_MSI, hi, lo);
      return fault(st, out, FAULT_R_MAPPING, FAULT_F_ADDRESS, endpoint, hi, lo);
    }
  }
  if (dom === null) return fault(st, out, FAULT_R_DOMAIN, FAULT_F_ADDRESS, endpoint, hi, lo);
  const store = dom.store;
  let found: boolean;
  if (!st.qemu) {
    found = store.lookup(hi, lo);
  } else if (hi === 0xffffffff && lo === 0xffffffff) {
    found = store.lookup(hi, lo) && store.rStartHi === 0 && store.rStartLo === 0;
  } else {
    found = store.lookup(hi, lo);
    if (!found) {
      const nl = lo === 0xffffffff ? 0 : lo + 1;
      const nh = lo === 0xffffffff ? hi + 1 : hi;
      found = store.lookup(nh, nl) && store.rStartHi === nh && store.rStartLo === nl;
    }
  }
  if (!found) return fault(st, out, FAULT_R_MAPPING, FAULT_F_ADDRESS, endpoint, hi, lo);
  const mf = store.rFlags;
  let ff = 0;
  if ((access & IOMMU_RO) !== 0 && (mf & MAP_F_READ) === 0) ff |= FAULT_F_READ;
  if ((access & IOMMU_WO) !== 0 && (mf & MAP_F_WRITE) === 0) ff |= FAULT_F_WRITE;
  if (ff !== 0) return fault(st, out, FAULT_R_MAPPING, ff | FAULT_F_ADDRESS, endpoint, hi, lo);
  // translated = addr - virt_start + phys_start (mod 2^64), half by half.
  let dl = lo - store.rStartLo;
  let dh = hi - store.rStartHi;
  if (dl < 0) {
    dl += TWO32;
    dh--;
  }
  let rl = store.rPhysLo + dl;
  let rh = store.rPhysHi + dh;
  if (rl >= TWO32) {
    rl -= TWO32;
    rh++;
  }
  if (st.qemu) {
    // The access reaches (translated_addr & ~addr_mask) | (addr & addr_mask), addr_mask being the
    // granule (QDEV returns addr_mask = granule - 1; system/physmem.c address_space_translate_iommu
    // combines). Identical to the line above for granule-aligned mappings; QEMU accepts unaligned
    // ones (no S_RANGE check), and there the offset within the granule comes from addr.
    const g = st.granuleMask;
    rl = ((rl & ~g) | (lo & g)) >>> 0;
  }
  out.physLo = rl;
  out.physHi = rh >>> 0;
  return TR_TRANSLATED;
}

/** Emits the 'translate' event of a non-fault outcome (faults emitted 'fault' already). */
export function emitTranslate(st: DeviceState, out: TranslateSlots, code: number, endpoint: number, hi: number, lo: number, size: bigint, access: number): void {
  if (code === TR_FAULT) return;
  const path = code === TR_TRANSLATED ? 0 : code === TR_BYPASS ? 1 : 2;
  const p: EventPayload<'translate'> = { endpoint, iova: u64(hi, lo), phys: u64(out.physHi, out.physLo), size, access, path };
  if (out.domain >= 0) p.domain = out.domain;
  emit(st.sink, 'translate', p);
}
