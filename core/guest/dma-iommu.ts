/**
 * Linux's dma-iommu layer over the virtio-iommu driver (drivers/iommu/dma-iommu.c, current
 * upstream; reference ../../../shared/reference/trace-formats-and-guest-dma.md B1-B3):
 *
 * - **One default DMA domain per IOMMU group** (iommu_setup_default_domain): every device of the
 *   group shares it, and so shares one IOVA allocator (the cookie's iovad).
 * - **iommu_dma_init_domain**, at each device's probe: granule from the smallest page size,
 *   base_pfn = max(1, aperture_start >> order); when the allocator is already initialised (an
 *   earlier device of the group), only the granule and base are checked ("Incompatible range for
 *   DMA domain") and *nothing is carved for this device*; otherwise init_iova_domain, the rcaches,
 *   the flush queue (DMA_FQ with IOMMU_CAP_DEFERRED_FLUSH, which current virtio-iommu reports),
 *   then iova_reserve_iommu_regions: the PCI host-bridge windows, then every reserved region of
 *   the device except a software MSI window (reserve_iova).
 * - **iommu_dma_alloc_iova**: dma_limit = min(dma_mask, aperture_end) (force_aperture); a PCI
 *   device with pci_32bit_workaround first tries below 4 GiB (alloc_iova_fast without flushing the
 *   rcaches), and the first failure clears the workaround for good and logs "Using %d-bit DMA
 *   addresses" (bits_per(dma_limit)); then alloc_iova_fast up to the limit, flushing the rcaches
 *   on failure.
 * - **__iommu_dma_map**: size = iova_align(size + iova_offset(phys)); the IOVA; iommu_map split by
 *   iommu_pgsize into map_pages calls (virtio-iommu MAP requests), then iotlb_sync_map; a failed
 *   map is unrolled and its IOVA freed at once.
 * - **__iommu_dma_unmap**: iommu_unmap_fast split the same way (UNMAP requests); strict:
 *   iommu_iotlb_sync, then free_iova_fast; lazy (a flush queue): no sync, queue_iova.
 * dma_info_to_prot: to-device → READ, from-device → WRITE, bidirectional → both.
 * All IOVAs here are pfns (granule pages; exact numbers below 2^53).
 */
import type { ComponentEmitter } from '../machine/component.ts';
import { MAP_F_READ, MAP_F_WRITE } from '../viommu/virtio-iommu/constants.ts';
import { FlushQueue } from './flush-queue.ts';
import { IovaDomain } from './iova.ts';
import { forEachUnmapChunk, iommuMapLoop, type MapLoopResult } from './pgsize.ts';
import type { GuestGroup } from './topology.ts';
import { type DriverDomain, type ResvRegion, ViommuDriver } from './viommu-driver.ts';

/** DMA_BIT_MASK(32). */
const MASK32 = 0xffffffffn;

/** The guest kernel's DMA options (the scenario's `guest:`). */
export interface GuestDmaOptions {
  /** iommu.strict: strict (IOMMU_DOMAIN_DMA) or lazy (IOMMU_DOMAIN_DMA_FQ). */
  iommuDma: 'strict' | 'lazy';
  cpus: number;
  /** iommu.forcedac=1: PCI devices skip the 32-bit-first attempt. */
  forcedac: boolean;
  /** The device's IOMMU driver sets shadow_on_flush: one 32768-entry queue, 1000 ms. */
  singleFlushQueue: boolean;
  /** CONFIG_HZ. */
  hz: number;
  /** The PCI host bridge's memory windows (iova_reserve_pci_windows). */
  pciWindows: readonly { start: bigint; end: bigint }[];
}

/** A group's default DMA domain: the driver domain and dma-iommu's cookie. */
export class DmaDomain {
  /** IOMMU_DOMAIN_DMA_FQ until iommu_dma_init_domain falls back to DMA (strict). */
  type: 'DMA' | 'DMA_FQ';
  /** The cookie's iova_domain; null until the first device initialises it (start_pfn == 0). */
  iovad: IovaDomain | null = null;
  /** The flush queue (lazy mode), created at init. */
  fq: FlushQueue | null = null;
  /** When each rcache order's depot work runs (virtual ns), -1 when none is queued. */
  readonly depotDue = new Float64Array(6).fill(-1);
  /** The earliest of depotDue (-1: none), kept so the hot path's timer check reads one number. */
  depotNext = -1;

  /** Queues order `order`'s depot work at virtual ns `due`. */
  armDepot(order: number, due: number): void {
    this.depotDue[order] = due;
    if (this.depotNext < 0 || due < this.depotNext) this.depotNext = due;
  }

  /** Takes order `order`'s depot work off the timers (it ran). */
  disarmDepot(order: number): void {
    this.depotDue[order] = -1;
    let t = -1;
    for (const w of this.depotDue) if (w >= 0 && (t < 0 || w < t)) t = w;
    this.depotNext = t;
  }

  constructor(
    readonly group: GuestGroup,
    readonly drv: DriverDomain,
    lazy: boolean,
  ) {
    this.type = lazy ? 'DMA_FQ' : 'DMA';
  }
}

/** A guest device's DMA state (struct device's dma_mask and dev->iommu). */
export interface DmaDevice {
  readonly name: string;
  readonly endpoint: number;
  readonly domain: DmaDomain;
  /** dev->iommu->pci_32bit_workaround (one-way: cleared at the first 32-bit failure). */
  pci32bitWorkaround: boolean;
  /** dma_limit >> shift: the highest pfn allocations may reach. */
  readonly limitPfn: number;
  /** dma_limit > DMA_BIT_MASK(32). */
  readonly limitAbove32: boolean;
  /** bits_per(dma_limit), for the "Using %d-bit DMA addresses" notice. */
  readonly limitBits: number;
}

/** What iommu_dma_init_domain did for a device. */
export interface InitOutcome {
  /** 0, or a negative errno (-EFAULT: an incompatible range). */
  errno: number;
  /** 'first': this device initialised the allocator; 'joined': it was initialised already (nothing carved). */
  init: 'first' | 'joined';
  /** reserve_iova calls made, in order (pfns inclusive). */
  carved: { loPfn: number; hiPfn: number; source: string }[];
}

/** A dma_map outcome: the IOVA page (0 = DMA_MAPPING_ERROR), pages, path and why it failed. */
export interface MapOutcome {
  pfn: number;
  pages: number;
  /** 'rcache' when a magazine served the IOVA, else 'tree'. */
  path: 'rcache' | 'tree';
  error?: string;
}

/** bits_per(n): the number of bits needed for n (ilog2(n) + 1; 1 for 0). */
function bitsPer(n: bigint): number {
  return n === 0n ? 1 : n.toString(2).length;
}

/**
 * dma-iommu over one virtio-iommu driver: domains per group, device DMA state, map and unmap.
 * Flush-queue flushes and depot timers are reported through `onFqFlush` / the domain's fields;
 * the guest component (component.ts) drives the clock and the events.
 */
export class DmaIommu {
  private readonly mapOut: MapLoopResult = { ret: 0, mappedPages: 0, calls: 0 };
  // The map_pages / unmap_pages callbacks read the call's domain, flags and tag from here (no closure per call).
  private curDrv: DriverDomain | null = null;
  private curFlags = 0;
  private curTag: string | undefined = undefined;
  private readonly mapPagesFn = (iovaPfn: number, paddrPfn: number, shift: number, count: number): number =>
    this.drv.mapPages(this.curDrv!, iovaPfn, paddrPfn, count * 2 ** shift, this.curFlags);
  private readonly unmapPagesFn = (iovaPfn: number, shift: number, count: number): number => this.drv.unmapPages(this.curDrv!, iovaPfn, count * 2 ** shift, this.curTag);

  /** DMA_BIT_MASK(32) >> shift: the last pfn of the 32-bit-first attempt. */
  private readonly limit32Pfn: number;

  constructor(
    readonly drv: ViommuDriver,
    readonly opts: GuestDmaOptions,
    private readonly emitter: ComponentEmitter,
    /** Called after a flush-queue flush: the domain, the reason (0 queue full, 1 timeout), IOVAs freed, the CPU. */
    private readonly onFqFlush: (d: DmaDomain, reason: number, freed: number, cpu: number) => void,
  ) {
    this.limit32Pfn = Number(MASK32 >> BigInt(drv.shift));
  }

  /**
   * iommu_dma_init_domain for `dev` (see the module comment) with its reserved regions
   * (`regions`, from the driver). Creates the iovad and the flush queue on first init.
   */
  initDomain(d: DmaDomain, regions: readonly ResvRegion[], isPci: boolean): InitOutcome {
    const shift = this.drv.shift;
    const basePfn = Math.max(1, Number(this.drv.apertureStart >> BigInt(shift)));
    if (d.iovad !== null) {
      if (d.iovad.granule !== 2 ** shift || d.iovad.startPfn !== basePfn) return { errno: -14, init: 'joined', carved: [] };
      return { errno: 0, init: 'joined', carved: [] };
    }
    const iovad = new IovaDomain(2 ** shift, basePfn, this.opts.cpus);
    d.iovad = iovad;
    iovad.onDepotWorkScheduled = (order) => {
      d.armDepot(order, this.emitter.now + 100_000_000); // IOVA_DEPOT_DELAY
    };
    if (d.type === 'DMA_FQ') {
      // iommu_dma_init_options: shadow_on_flush → one queue of 32768 / 1000 ms, else per CPU 256 / 10 ms.
      d.fq = new FlushQueue(
        { single: this.opts.singleFlushQueue, cpus: this.opts.cpus, hz: this.opts.hz },
        {
          flushIotlbAll: () => this.drv.flushIotlbAll(d.drv),
          freeIova: (pfn, pages, cpu) => iovad.freeIovaFast(pfn, pages, cpu),
        },
      );
    }
    const carved: InitOutcome['carved'] = [];
    const reserve = (start: bigint, end: bigint, source: string) => {
      const lo = Number(start >> BigInt(shift));
      const hi = Number(end >> BigInt(shift));
      iovad.reserveIova(lo, hi);
      carved.push({ loPfn: lo, hiPfn: hi, source });
    };
    if (isPci) for (const w of this.opts.pciWindows) reserve(w.start, w.end, 'pci-window');
    for (const r of regions) if (r.type !== 'SW_MSI') reserve(r.start, r.end, r.type);
    return { errno: 0, init: 'first', carved };
  }

  /**
   * A device's DMA state after iommu_setup_dma_ops: dma_limit = min(DMA_BIT_MASK(maskBits),
   * aperture_end) and pci_32bit_workaround = !forcedac (every guest device here is PCI).
   */
  deviceState(name: string, endpoint: number, domain: DmaDomain, maskBits: number): DmaDevice {
    const mask = maskBits >= 64 ? 0xffffffffffffffffn : (1n << BigInt(maskBits)) - 1n;
    const limit = mask < this.drv.apertureEnd ? mask : this.drv.apertureEnd;
    return {
      name,
      endpoint,
      domain,
      pci32bitWorkaround: !this.opts.forcedac,
      limitPfn: Number(limit >> BigInt(this.drv.shift)),
      limitAbove32: limit > MASK32,
      limitBits: bitsPer(limit),
    };
  }

  /** iommu_dma_alloc_iova for `pages` on `cpu` (see the module comment); 0 when nothing fits. */
  private allocIova(dev: DmaDevice, pages: number, cpu: number): number {
    const iovad = dev.domain.iovad!;
    if (dev.limitAbove32 && dev.pci32bitWorkaround) {
      const pfn = iovad.allocIovaFast(pages, this.limit32Pfn, false, cpu);
      if (pfn !== 0) return pfn;
      dev.pci32bitWorkaround = false;
      const e = this.emitter;
      if (e.enabled) e.emit('guest-log', { level: 1, alert: 0, data: { device: dev.name, text: `Using ${dev.limitBits}-bit DMA addresses` } });
    }
    return iovad.allocIovaFast(pages, dev.limitPfn, true, cpu);
  }

  /**
   * __iommu_dma_map's first half for `size` bytes at `offset` in its page: iova_align(size +
   * offset) and the IOVA (iommu_dma_alloc_iova). Returns the IOVA page, 0 when nothing fits
   * (DMA_MAPPING_ERROR); `out` gets the pages, the path and the error.
   */
  alloc(dev: DmaDevice, offset: number, size: number, cpu: number, out: MapOutcome): number {
    const pages = Math.ceil((size + offset) / this.drv.granule);
    out.pages = pages;
    out.error = undefined;
    const iovad = dev.domain.iovad;
    if (iovad === null) {
      out.pfn = 0;
      out.path = 'tree';
      out.error = 'no DMA domain initialised for the device';
      return 0;
    }
    const hits = iovad.stats.rcacheHits;
    const pfn = this.allocIova(dev, pages, cpu);
    out.path = iovad.stats.rcacheHits > hits ? 'rcache' : 'tree';
    out.pfn = pfn;
    if (pfn === 0) out.error = 'no IOVA space below the DMA limit (alloc_iova_fast)';
    return pfn;
  }

  /**
   * __iommu_dma_map's second half: iommu_map of the `pages` at IOVA page `pfn` to guest-physical
   * page `physPfn` with virtio MAP `flags` (map_pages calls, then iotlb_sync_map). On failure the
   * mapped part is unrolled and the IOVA freed (iommu_dma_free_iova without a gather): returns
   * the negative errno, else 0.
   */
  mapRange(dev: DmaDevice, pfn: number, physPfn: number, pages: number, flags: number, cpu: number): number {
    const d = dev.domain;
    if (pages === 1) {
      // iommu_pgsize of one granule is always (granule, 1): one map_pages call, no split loop.
      const rc1 = this.drv.mapPages(d.drv, pfn, physPfn, 1, flags);
      if (rc1 !== 0) {
        this.drv.iotlbSync();
        d.iovad!.freeIovaFast(pfn, pages, cpu);
        return rc1;
      }
      this.drv.iotlbSyncMap(d.drv);
      return 0;
    }
    this.curDrv = d.drv;
    this.curFlags = flags;
    const rc = iommuMapLoop(this.drv.pgsizeShifts, pfn, physPfn, pages, this.mapPagesFn, this.mapOut);
    if (rc !== 0) {
      this.curTag = undefined;
      forEachUnmapChunk(this.drv.pgsizeShifts, pfn, this.mapOut.mappedPages, this.unmapPagesFn);
      this.drv.iotlbSync();
      d.iovad!.freeIovaFast(pfn, pages, cpu);
      return rc;
    }
    this.drv.iotlbSyncMap(d.drv);
    return 0;
  }

  /**
   * __iommu_dma_unmap of the `pages` granule pages at `pfn` on `cpu` (a handle's mapping):
   * returns the pages unmapped (a WARN when fewer than `pages`); strict syncs and frees, lazy
   * queues the IOVA. `tag` names the pending UNMAPs (the handle).
   */
  unmap(dev: DmaDevice, pfn: number, pages: number, cpu: number, tag: string | undefined): number {
    const d = dev.domain;
    let unmapped: number;
    if (pages === 1) {
      // One granule: one unmap_pages call (iommu_pgsize gives (granule, 1)).
      unmapped = this.drv.unmapPages(d.drv, pfn, 1, tag);
    } else {
      this.curDrv = d.drv;
      this.curTag = tag;
      unmapped = forEachUnmapChunk(this.drv.pgsizeShifts, pfn, pages, this.unmapPagesFn);
    }
    const fq = d.fq;
    if (fq === null) {
      this.drv.iotlbSync();
      d.iovad!.freeIovaFast(pfn, pages, cpu);
    } else {
      const s = fq.stats;
      const flushes = s.flushes;
      const timer = s.timerFlushes;
      const freed = s.freed;
      fq.queue(pfn, pages, cpu, this.emitter.now);
      if (s.flushes !== flushes) this.onFqFlush(d, s.timerFlushes !== timer ? 1 : 0, s.freed - freed, cpu);
    }
    return unmapped;
  }
}

/** dma_info_to_prot as virtio-iommu MAP flags: to-device READ, from-device WRITE, bidirectional both. */
export function dirFlags(dir: 1 | 2 | 3): number {
  return dir === 1 ? MAP_F_READ : dir === 2 ? MAP_F_WRITE : MAP_F_READ | MAP_F_WRITE;
}
