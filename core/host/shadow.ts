/**
 * Shadowing: QEMU's VFIO IOMMU notifier (hw/vfio/listener.c, earlier hw/vfio/common.c,
 * vfio_iommu_map_notify), which turns a vIOMMU's map/unmap notifications on an assigned device's
 * IOMMU memory region into host backend calls: vfio_container_dma_map → VFIO_IOMMU_MAP_DMA
 * (legacy container) or IOMMU_IOAS_MAP (iommufd), at the guest IOVA, for the host virtual address
 * of the guest physical address the IOVA translates to; vfio_container_dma_unmap likewise.
 *
 * Per notification (one IOMMUTLBEntry; core/machine/layers.ts IommuNotifier):
 *  - map (perm ≠ IOMMU_NONE): vaddr = GUEST_RAM_HVA_BASE + translated_addr (vfio_get_xlat_addr;
 *    shadow-text.ts), read_only = !(perm & IOMMU_WO); ret = vfio_container_dma_map(bcontainer,
 *    iova, addr_mask + 1, vaddr, read_only). ret ≠ 0 → error_report(
 *    "vfio_container_dma_map(%p, 0x%"HWADDR_PRIx", 0x%"HWADDR_PRIx", %p) = %d (%s)", bcontainer,
 *    iova, addr_mask + 1, vaddr, ret, strerror(-ret)) — a 'qemu-error' event whose cause is the
 *    guest event that led to it;
 *  - unmap: ret = vfio_container_dma_unmap(bcontainer, iova, addr_mask + 1, iotlb); ret ≠ 0 →
 *    "vfio_container_dma_unmap(%p, 0x%"HWADDR_PRIx", 0x%"HWADDR_PRIx") = %d (%s)".
 * With the iommufd backend, QEMU's helper reports first (backends/iommufd.c): "IOMMU_IOAS_MAP
 * failed: %m" (a warning "IOMMU_IOAS_MAP failed: %m, PCI BAR?" for EFAULT) and "IOMMU_IOAS_UNMAP
 * failed: %m" — also 'qemu-error' events, before the listener's. The legacy helpers report nothing.
 * addr_mask + 1 is a u64 in QEMU: a whole-space entry (size 2^64) wraps to 0, as it does there.
 *
 * Does a notifier failure reach the guest? No. vfio_iommu_map_notify returns void and only reports
 * the error; memory_region_notify_iommu / memory_region_notify_iommu_one return void; and
 * virtio-iommu's virtio_iommu_notify_map / _unmap (hw/virtio/virtio-iommu.c) return void, called
 * from virtio_iommu_map after the mapping is already in the domain's tree, which then returns
 * VIRTIO_IOMMU_S_OK. So the guest's MAP succeeds while the host has no mapping: a later DMA by the
 * device at that IOVA faults in the physical IOMMU. The shadow keeps exactly that state: the
 * backend holds what succeeded, nothing else.
 *
 * Not modelled: while an assigned endpoint is in bypass (boot-bypass, or a bypass domain) QEMU's
 * VFIO listener maps the guest RAM sections 1:1 (vfio_listener_region_add of RAM, IOVA = GPA) into
 * its container; the lab has no guest memory map, so the container stays empty then and a host DMA
 * of a bypassed endpoint faults where QEMU's would reach guest RAM.
 *
 * Causes: each host call and error names the guest event that caused it (StampingSink.seq): the
 * virtio-iommu 'map' / 'unmap' / 'attach' / 'detach' event emitted just before the notification.
 * The notifications of one guest event (several blocks, several endpoints) share it.
 */
import type { HostBackend, IommuNotifier } from '../machine/layers.ts';
import { u64 } from '../engine/u64.ts';
import { BCONTAINER_PTR_BASE, GUEST_RAM_HVA_BASE, pointerText, strerror } from './shadow-text.ts';

/** IOMMU_WO (include/exec/memory.h IOMMUAccessFlags). */
const IOMMU_WO = 2;
/** EFAULT (asm-generic/errno-base.h). */
const EFAULT = 14;
const TWO32 = 4294967296;
/** GUEST_RAM_HVA_BASE as u32 halves. */
const HVA_HI = Number(GUEST_RAM_HVA_BASE >> 32n);
const HVA_LO = Number(GUEST_RAM_HVA_BASE & 0xffffffffn);

/** One assigned endpoint's notifier: the container of its address space. */
export interface ShadowTarget {
  /** The backend its container is in. */
  backend: HostBackend;
  /** The address space attachDevice put it in (its container / IOAS). */
  addressSpace: string;
  /** The container number / IOAS ID (for the `%p` stand-in of bcontainer). */
  container: number;
}

/** What the shadow did, for tests and benchmarks. */
export interface ShadowCounters {
  maps: number;
  unmaps: number;
  /** Calls that returned an errno (each reported as a 'qemu-error'). */
  failures: number;
}

/** VFIO's IOMMU notifiers, one per assigned endpoint (see the module comment). */
export class VfioShadow implements IommuNotifier {
  private readonly targets = new Map<number, ShadowTarget>();
  readonly counters: ShadowCounters = { maps: 0, unmaps: 0, failures: 0 };
  /** The guest event the current notifications belong to, and the sink's seq after the shadow's last own event. */
  private cause = -1;
  private ownSeq = -1;
  /** The last endpoint looked up and its target (undefined: none registered); reset by register/unregister. */
  private lastEp = -1;
  private lastT: ShadowTarget | undefined = undefined;

  /**
   * vfio_listener_region_add on `endpoint`'s IOMMU MR: memory_region_register_iommu_notifier with
   * IOMMU_NOTIFIER_IOTLB_EVENTS into `target`'s container.
   */
  register(endpoint: number, target: ShadowTarget): void {
    this.targets.set(endpoint >>> 0, target);
    this.lastEp = -1;
  }

  /** vfio_listener_region_del / device unplug: the notifier goes. */
  unregister(endpoint: number): void {
    this.targets.delete(endpoint >>> 0);
    this.lastEp = -1;
  }

  /** IommuNotifier.has: a notifier is registered on `endpoint`. */
  has(endpoint: number): boolean {
    return this.target(endpoint) !== undefined;
  }

  /** `endpoint`'s target, the last one looked up remembered (the notifications of a request repeat it). */
  private target(endpoint: number): ShadowTarget | undefined {
    if (endpoint === this.lastEp) return this.lastT;
    const t = this.targets.get(endpoint);
    this.lastEp = endpoint;
    this.lastT = t;
    return t;
  }

  /** Number of registered endpoints. */
  get size(): number {
    return this.targets.size;
  }

  /** vfio_iommu_map_notify, map branch (see the module comment). u64 as u32 halves. */
  notifyMap(endpoint: number, iovaHi: number, iovaLo: number, maskHi: number, maskLo: number, trHi: number, trLo: number, perm: number): void {
    const t = this.target(endpoint);
    if (t === undefined) return;
    // len = addr_mask + 1 in u64 (the whole space wraps to 0, as in QEMU); vaddr = HVA base + GPA.
    let lenLo = maskLo + 1;
    let lenHi = maskHi;
    if (lenLo === TWO32) {
      lenLo = 0;
      lenHi = (maskHi + 1) >>> 0;
    }
    let vaLo = trLo + HVA_LO;
    let vaHi = trHi + HVA_HI;
    if (vaLo >= TWO32) {
      vaLo -= TWO32;
      vaHi++;
    }
    vaHi >>>= 0;
    const readonly = (perm & IOMMU_WO) === 0;
    const b = t.backend;
    const on = b.emitter.enabled;
    const cause = on ? this.causeOf(t) : undefined;
    const errno =
      b.dmaMap32 !== undefined
        ? b.dmaMap32(t.addressSpace, iovaHi, iovaLo, lenHi, lenLo, vaHi, vaLo, readonly, cause ?? -1)
        : b.dmaMap(t.addressSpace, u64(iovaHi, iovaLo), u64(lenHi, lenLo), u64(vaHi, vaLo), readonly, cause);
    this.counters.maps++;
    if (errno !== 0) {
      this.counters.failures++;
      // backends/iommufd.c iommufd_backend_map_dma reports first: warn_report "…, PCI BAR?" for EFAULT.
      if (b.backend === 'iommufd') this.report(t, `IOMMU_IOAS_MAP failed: ${strerror(errno)}${errno === EFAULT ? ', PCI BAR?' : ''}`, cause, errno === EFAULT ? 'warning' : 'error');
      const ptr = pointerText(BCONTAINER_PTR_BASE + (BigInt(t.container) << 12n));
      this.report(t, `vfio_container_dma_map(${ptr}, 0x${u64(iovaHi, iovaLo).toString(16)}, 0x${u64(lenHi, lenLo).toString(16)}, ${pointerText(u64(vaHi, vaLo))}) = ${-errno} (${strerror(errno)})`, cause);
    }
    if (on) this.settle(t);
  }

  /** vfio_iommu_map_notify, unmap branch. u64 as u32 halves. */
  notifyUnmap(endpoint: number, iovaHi: number, iovaLo: number, maskHi: number, maskLo: number): void {
    const t = this.target(endpoint);
    if (t === undefined) return;
    let lenLo = maskLo + 1;
    let lenHi = maskHi;
    if (lenLo === TWO32) {
      lenLo = 0;
      lenHi = (maskHi + 1) >>> 0;
    }
    const b = t.backend;
    const on = b.emitter.enabled;
    const cause = on ? this.causeOf(t) : undefined;
    const errno =
      b.dmaUnmap32 !== undefined
        ? b.dmaUnmap32(t.addressSpace, iovaHi, iovaLo, lenHi, lenLo, cause ?? -1)
        : b.dmaUnmap(t.addressSpace, u64(iovaHi, iovaLo), u64(lenHi, lenLo), cause);
    this.counters.unmaps++;
    if (errno !== 0) {
      this.counters.failures++;
      // iommufd_backend_unmap_dma reports every error but ENOENT (which the backend returned as 0).
      if (b.backend === 'iommufd') this.report(t, `IOMMU_IOAS_UNMAP failed: ${strerror(errno)}`, cause);
      const ptr = pointerText(BCONTAINER_PTR_BASE + (BigInt(t.container) << 12n));
      this.report(t, `vfio_container_dma_unmap(${ptr}, 0x${u64(iovaHi, iovaLo).toString(16)}, 0x${u64(lenHi, lenLo).toString(16)}) = ${-errno} (${strerror(errno)})`, cause);
    }
    if (on) this.settle(t);
  }

  /**
   * The seq of the guest event these notifications belong to: the event emitted just before, unless
   * nothing but the shadow's own calls were emitted since the last notification (same guest event).
   * Undefined when events are off.
   */
  private causeOf(t: ShadowTarget): number | undefined {
    const e = t.backend.emitter;
    if (!e.enabled) return undefined;
    const seq = e.seq;
    if (seq !== this.ownSeq) this.cause = seq - 1;
    return this.cause < 0 ? undefined : this.cause;
  }

  private settle(t: ShadowTarget): void {
    const e = t.backend.emitter;
    if (e.enabled) this.ownSeq = e.seq;
  }

  /** error_report from the VFIO listener: a 'qemu-error' event on the backend component. */
  private report(t: ShadowTarget, message: string, cause: number | undefined, level: 'error' | 'warning' = 'error'): void {
    const e = t.backend.emitter;
    if (!e.enabled) return;
    if (cause === undefined) e.emit('qemu-error', { data: { message, level } });
    else e.emit('qemu-error', { data: { message, level }, cause: BigInt(cause) });
  }
}
