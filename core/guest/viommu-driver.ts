/**
 * Linux's virtio-iommu driver (drivers/iommu/virtio-iommu.c, current upstream) as the guest DMA
 * layer drives it: the request queue, domains, PROBE, ATTACH and map_pages / unmap_pages.
 *
 * - **The request queue.** MAP and UNMAP requests are only *added* to the request virtqueue
 *   (viommu_add_req → __viommu_add_req: no kick, no wait); the device sees them when the driver
 *   syncs (viommu_sync_req: kick, then wait for every in-flight request): ops->iotlb_sync_map after
 *   each iommu_map (only while the domain has endpoints), ops->iotlb_sync (a strict unmap),
 *   ops->flush_iotlb_all (the flush queue; only with endpoints), or a full virtqueue (-ENOSPC:
 *   sync and retry). Statuses of added requests are never read (__viommu_sync_req only copies
 *   back write-back buffers): a MAP the device refuses is not reported to the caller. PROBE and
 *   ATTACH go through viommu_send_req_sync, which also delivers everything queued before them and
 *   returns the request's status as an errno (viommu_get_req_errno).
 *   Queue capacity: QEMU's request virtqueue has 256 descriptors (VIOMMU_DEFAULT_QUEUE_SIZE); with
 *   VIRTIO_RING_F_INDIRECT_DESC negotiated a request takes one, else two (readable + writable sg).
 * - **The lazy window.** An UNMAP added but not yet synced leaves the device's mapping (and, for
 *   an assigned device, the host's shadow of it) in place: the model remembers each pending UNMAP
 *   with the virtual time it was added, so a device access that still translates there is a stale
 *   translation, and the sync that delivers it closes the window (guest-sync's `windows`).
 * - **Domains.** viommu_domain_finalise at first attach: ID = ida_alloc_range(first_domain,
 *   last_domain) (the lowest free), pgsize_bitmap and geometry from the config space, map_flags
 *   READ|WRITE (+MMIO when VIRTIO_IOMMU_F_MMIO was negotiated). viommu_attach_dev sends ATTACH per
 *   endpoint ID, and replays the driver's own mappings when the domain had no endpoint.
 * - **The driver's mapping tree** (viommu_add_mapping / viommu_del_mappings): an unmap removes every
 *   mapping that starts inside the range, whole (virtio-iommu does not split), and nothing when the
 *   first mapping it touches starts before the range.
 * Addresses here are in granule pages (pfn: exact numbers below 2^53); requests carry bytes as u32
 * halves. Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part B,
 * virtio-iommu.md §1 (wire format).
 */
import type { ComponentEmitter } from '../machine/component.ts';
import { MappingStore, UNMAP_SPLIT_FIRST, UNMAP_SPLIT_LAST } from '../engine/mapping-store.ts';
import { encodeRequest } from '../viommu/virtio-iommu/codec.ts';
import {
  F_DOMAIN_RANGE,
  F_INPUT_RANGE,
  F_MMIO,
  F_PROBE,
  MAP_F_MMIO,
  MAP_F_READ,
  MAP_F_WRITE,
  RESV_MEM_T_MSI,
  RESV_MEM_T_RESERVED,
  S_DEVERR,
  S_FAULT,
  S_INVAL,
  S_IOERR,
  S_NOENT,
  S_NOMEM,
  S_OK,
  S_RANGE,
  S_UNSUPP,
  T_ATTACH,
  T_MAP,
  T_PROBE,
  T_UNMAP,
  TAIL_SIZE,
  VIRTIO_RING_F_INDIRECT_DESC,
} from '../viommu/virtio-iommu/constants.ts';
import type { VirtioIommuDevice } from '../viommu/virtio-iommu/device.ts';
import { PHYS_START_OFFSET, VIRT_END_OFFSET, VIRT_START_OFFSET, decodeConfig, decodeProbeRegions, putU64Halves } from '../run/wire.ts';
import { maskGranuleShift, pgsizeShiftsFromMask } from './pgsize.ts';

const TWO32 = 4294967296;
/** QEMU's request virtqueue size (hw/virtio/virtio-iommu.c VIOMMU_DEFAULT_QUEUE_SIZE). */
export const VIOMMU_QUEUE_SIZE = 256;
/** The software MSI window the driver adds when PROBE gave no MSI region (MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
export const SW_MSI = { start: 0x8000000n, end: 0x80fffffn } as const;

/** Linux errnos the driver returns (include/uapi/asm-generic/errno*.h). */
export const LINUX_ERRNO = { EINVAL: 22, ENOSYS: 38, ERANGE: 34, ENOENT: 2, EFAULT: 14, ENOMEM: 12, EIO: 5, ENOSPC: 28, ENODEV: 19 } as const;

/** viommu_get_req_errno: a request status as a negative errno (0 for OK). */
export function reqErrno(status: number | undefined): number {
  switch (status) {
    case S_OK:
      return 0;
    case S_UNSUPP:
      return -LINUX_ERRNO.ENOSYS;
    case S_INVAL:
      return -LINUX_ERRNO.EINVAL;
    case S_RANGE:
      return -LINUX_ERRNO.ERANGE;
    case S_NOENT:
      return -LINUX_ERRNO.ENOENT;
    case S_FAULT:
      return -LINUX_ERRNO.EFAULT;
    case S_NOMEM:
      return -LINUX_ERRNO.ENOMEM;
    case S_IOERR:
    case S_DEVERR:
    default:
      return -LINUX_ERRNO.EIO;
  }
}

/** An IOMMU reserved region as the driver reports it (struct iommu_resv_region; end inclusive). */
export interface ResvRegion {
  type: 'RESERVED' | 'MSI' | 'SW_MSI';
  start: bigint;
  end: bigint;
}

/** A driver domain (struct viommu_domain). */
export interface DriverDomain {
  /** The vIOMMU domain ID (valid once finalised). */
  id: number;
  finalised: boolean;
  nrEndpoints: number;
  /** The driver's own mapping tree. */
  readonly mappings: MappingStore;
}

/** A pending UNMAP's window (for stale-translation checks). */
export interface PendingUnmap {
  domain: number;
  startPfn: number;
  endPfnExcl: number;
  /** Virtual ns when the UNMAP was added. */
  t0: number;
  tag: string | undefined;
}

/** The driver's sync `why` codes (guest-sync event). */
export const SYNC = { SYNC_MAP: 0, IOTLB_SYNC: 1, FLUSH_ALL: 2, QUEUE_FULL: 3, SEND_SYNC: 4 } as const;

/**
 * The virtio-iommu driver bound to one device (see the module comment). `emitter` is the guest
 * layer's (its virtual time dates pending UNMAPs).
 */
export class ViommuDriver {
  /** log2 of the granule (the smallest page size in page_size_mask). */
  readonly shift: number;
  /** Supported page sizes as log2(size / granule), ascending (iommu_pgsize). */
  readonly pgsizeShifts: number[];
  readonly pageSizeMask: bigint;
  /** Domain geometry: aperture from config.input_range (force_aperture). */
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
  readonly firstDomain: number;
  readonly lastDomain: number;
  /** config.probe_size when VIRTIO_IOMMU_F_PROBE was negotiated, else 0 (no PROBE). */
  readonly probeSize: number;
  /** Supported MAP flags (viommu->map_flags). */
  readonly mapFlags: number;
  /** Requests the virtqueue holds before add_req has to sync. */
  readonly queueCapacity: number;
  /** The granule in bytes, and granule pages per 4 GiB (2^(32 - shift)). */
  private readonly g: number;
  private readonly pagesPer4G: number;
  /** 1 / pagesPer4G (a power of two: multiplying by it is exact, and cheaper than dividing). */
  private readonly inv4G: number;
  private readonly usedIds = new Set<number>();
  // The queue: prebuilt MAP / UNMAP request buffers, one per slot, patched in place.
  private readonly maps: Uint8Array[] = [];
  private readonly unmaps: Uint8Array[] = [];
  private readonly kind: Uint8Array;
  private readonly slotDomain: Int32Array;
  private queued = 0;
  private readonly tail = new Uint8Array(TAIL_SIZE);
  // Pending UNMAP windows, in queue order (at most one per queue slot): parallel arrays and a count,
  // so adding one allocates nothing and a sync forgets them all by resetting the count.
  private nPending = 0;
  private readonly pDomain: Int32Array;
  private readonly pStart: Float64Array;
  private readonly pEnd: Float64Array;
  private readonly pT0: Float64Array;
  private readonly pTag: (string | undefined)[];
  /** Statuses other than OK seen on added requests since the last takeRefused() (never reported to the caller, as in Linux). */
  private refused = 0;

  constructor(
    private readonly dev: VirtioIommuDevice,
    private readonly emitter: ComponentEmitter,
  ) {
    // viommu_probe: the config space read once (virtio_cread_le / _feature).
    const cfg = decodeConfig(dev.readConfig());
    const f = dev.negotiatedFeatures;
    const has = (bit: number) => ((f >> BigInt(bit)) & 1n) === 1n;
    this.pageSizeMask = cfg.pageSizeMask;
    const hi = Number(cfg.pageSizeMask >> 32n);
    const lo = Number(cfg.pageSizeMask & 0xffffffffn);
    this.shift = maskGranuleShift(hi, lo);
    if (this.shift < 0) throw new Error('virtio-iommu driver: page_size_mask is 0 (viommu_probe fails with -EINVAL)');
    this.pgsizeShifts = pgsizeShiftsFromMask(hi, lo, this.shift);
    this.g = 2 ** this.shift;
    this.pagesPer4G = 2 ** (32 - this.shift);
    this.inv4G = 2 ** (this.shift - 32);
    this.apertureStart = has(F_INPUT_RANGE) ? cfg.inputRange[0] : 0n;
    this.apertureEnd = has(F_INPUT_RANGE) ? cfg.inputRange[1] : 0xffffffffffffffffn;
    this.firstDomain = has(F_DOMAIN_RANGE) ? cfg.domainRange[0] : 0;
    this.lastDomain = has(F_DOMAIN_RANGE) ? cfg.domainRange[1] : 0xffffffff;
    this.probeSize = has(F_PROBE) ? cfg.probeSize : 0;
    this.mapFlags = MAP_F_READ | MAP_F_WRITE | (has(F_MMIO) ? MAP_F_MMIO : 0);
    this.queueCapacity = has(VIRTIO_RING_F_INDIRECT_DESC) ? VIOMMU_QUEUE_SIZE : VIOMMU_QUEUE_SIZE / 2;
    this.kind = new Uint8Array(this.queueCapacity);
    this.slotDomain = new Int32Array(this.queueCapacity);
    this.pDomain = new Int32Array(this.queueCapacity);
    this.pStart = new Float64Array(this.queueCapacity);
    this.pEnd = new Float64Array(this.queueCapacity);
    this.pT0 = new Float64Array(this.queueCapacity);
    this.pTag = new Array<string | undefined>(this.queueCapacity).fill(undefined);
    for (let i = 0; i < this.queueCapacity; i++) {
      this.maps.push(encodeRequest({ type: T_MAP, domain: 0, virtStart: 0n, virtEnd: 0n, physStart: 0n, flags: 0 }));
      this.unmaps.push(encodeRequest({ type: T_UNMAP, domain: 0, virtStart: 0n, virtEnd: 0n }));
    }
  }

  /** The granule in bytes. */
  get granule(): number {
    return this.g;
  }

  /** A new, unfinalised driver domain (viommu_domain_alloc). */
  allocDomain(): DriverDomain {
    return { id: -1, finalised: false, nrEndpoints: 0, mappings: new MappingStore(Math.min(16, Math.max(12, this.shift))) };
  }

  /**
   * viommu_probe_endpoint: PROBE (send_req_sync) and the RESV_MEM properties as iommu_resv_regions
   * (unknown subtypes warn and count as RESERVED), then viommu_get_resv_regions' software MSI
   * window when no MSI region came. Returns the errno (0 or negative) and the regions, sorted by
   * start as viommu_add_resv_mem keeps them. Without F_PROBE: no request, only the SW_MSI window.
   */
  probeEndpoint(endpoint: number): { errno: number; regions: ResvRegion[]; unknownSubtypes: number[] } {
    const regions: ResvRegion[] = [];
    const unknownSubtypes: number[] = [];
    if (this.probeSize > 0) {
      const reply = this.sendReqSync(encodeRequest({ type: T_PROBE, endpoint }), this.probeSize + TAIL_SIZE);
      const errno = reqErrno(reply.length < TAIL_SIZE ? undefined : reply[reply.length - TAIL_SIZE]);
      if (errno !== 0) return { errno, regions, unknownSubtypes };
      for (const r of decodeProbeRegions(reply.subarray(0, reply.length - TAIL_SIZE))) {
        if (r.subtype !== RESV_MEM_T_RESERVED && r.subtype !== RESV_MEM_T_MSI) unknownSubtypes.push(r.subtype);
        regions.push({ type: r.subtype === RESV_MEM_T_MSI ? 'MSI' : 'RESERVED', start: r.start, end: r.end });
      }
      regions.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    }
    if (!regions.some((r) => r.type === 'MSI')) regions.push({ type: 'SW_MSI', start: SW_MSI.start, end: SW_MSI.end });
    return { errno: 0, regions, unknownSubtypes };
  }

  /**
   * viommu_attach_dev of `endpoint` to `d`: finalise (ID from the IDA) on first use, ATTACH
   * (send_req_sync), replay the driver's mappings when `d` had no endpoint. Returns 0 or a negative
   * errno (-ENOSPC when the domain IDs are exhausted, or the ATTACH status).
   */
  attach(d: DriverDomain, endpoint: number): number {
    if (!d.finalised) {
      const id = this.idaAlloc();
      if (id < 0) return -LINUX_ERRNO.ENOSPC;
      d.id = id;
      d.finalised = true;
    }
    const reply = this.sendReqSync(encodeRequest({ type: T_ATTACH, domain: d.id, endpoint, flags: 0 }), TAIL_SIZE);
    const errno = reqErrno(reply[reply.length - TAIL_SIZE]);
    if (errno !== 0) return errno;
    if (d.nrEndpoints === 0) {
      // viommu_replay_mappings: each mapping of the driver's tree, MAP with send_req_sync.
      for (const m of d.mappings.entries()) {
        const r = this.sendReqSync(encodeRequest({ type: T_MAP, domain: d.id, virtStart: m.start, virtEnd: m.end, physStart: m.phys, flags: m.flags }), TAIL_SIZE);
        const e = reqErrno(r[r.length - TAIL_SIZE]);
        if (e !== 0) return e;
      }
    }
    d.nrEndpoints++;
    return 0;
  }

  /**
   * viommu_map_pages of [iovaPfn, iovaPfn + pages) → paddrPfn with virtio MAP `flags`: -EINVAL when
   * a flag is not in map_flags; else the mapping joins the driver's tree and, while the domain has
   * endpoints, a MAP request is added to the queue (not synced). Returns 0 or a negative errno.
   */
  mapPages(d: DriverDomain, iovaPfn: number, paddrPfn: number, pages: number, flags: number): number {
    if ((flags & ~this.mapFlags) !== 0) return -LINUX_ERRNO.EINVAL;
    const sHi = this.hiOf(iovaPfn);
    const sLo = this.loOf(iovaPfn);
    const eHi = this.endHiOf(iovaPfn + pages);
    const eLo = this.endLoOf(iovaPfn + pages);
    const pHi = this.hiOf(paddrPfn);
    const pLo = this.loOf(paddrPfn);
    // interval_tree_insert accepts overlaps; the store does not: dma-iommu never maps an IOVA twice.
    d.mappings.insert(sHi, sLo, eHi, eLo, pHi, pLo, flags);
    if (d.nrEndpoints > 0) {
      const slot = this.slot();
      const b = this.maps[slot];
      b[4] = d.id & 0xff;
      b[5] = (d.id >>> 8) & 0xff;
      b[6] = (d.id >>> 16) & 0xff;
      b[7] = d.id >>> 24;
      putU64Halves(b, VIRT_START_OFFSET, sHi, sLo);
      putU64Halves(b, VIRT_END_OFFSET, eHi, eLo);
      putU64Halves(b, PHYS_START_OFFSET, pHi, pLo);
      b[32] = flags & 0xff;
      b[33] = (flags >>> 8) & 0xff;
      b[34] = (flags >>> 16) & 0xff;
      b[35] = flags >>> 24;
      this.kind[slot] = T_MAP;
      this.slotDomain[slot] = d.id;
    }
    return 0;
  }

  /**
   * viommu_unmap_pages of [iovaPfn, iovaPfn + pages): viommu_del_mappings removes the mappings that
   * start in the range (whole), nothing when the first one touched starts before it; when fewer
   * pages than asked went, 0. With endpoints, an UNMAP of [iova, iova + unmapped - 1] is added (not
   * synced) and its window opens at the current virtual time, tagged `tag`. Returns the pages unmapped.
   */
  unmapPages(d: DriverDomain, iovaPfn: number, pages: number, tag?: string): number {
    const sHi = this.hiOf(iovaPfn);
    const sLo = this.loOf(iovaPfn);
    const eHi = this.endHiOf(iovaPfn + pages);
    const eLo = this.endLoOf(iovaPfn + pages);
    this.delBytes = 0;
    const m = d.mappings;
    // One granule page (a ring's buffer): the store removes a one-page mapping there in one probe
    // (1), or says nothing is mapped in that page (0: nothing starts in the range); anything else
    // (a longer mapping, one starting before) takes the general walk.
    const one = pages === 1 ? m.unmapPage(sHi, sLo, eHi, eLo) : -1;
    if (one === 1) this.delBytes = this.g;
    else if (one === -1) {
      const rc = m.unmapRange(sHi, sLo, eHi, eLo, false, this.countDel);
      if (rc === UNMAP_SPLIT_FIRST) return 0;
      if (rc === UNMAP_SPLIT_LAST && m.floor(eHi, eLo)) {
        // The last mapping starts inside the range and ends after it: removed whole.
        this.countDel(m.rStartHi, m.rStartLo, m.rEndHi, m.rEndLo);
        m.remove(m.rStartHi, m.rStartLo);
      }
    }
    const unmapped = this.delBytes / this.granule;
    if (unmapped < pages) return 0;
    if (d.nrEndpoints === 0) return unmapped;
    const slot = this.slot();
    const b = this.unmaps[slot];
    b[4] = d.id & 0xff;
    b[5] = (d.id >>> 8) & 0xff;
    b[6] = (d.id >>> 16) & 0xff;
    b[7] = d.id >>> 24;
    putU64Halves(b, VIRT_START_OFFSET, sHi, sLo);
    if (unmapped === pages) putU64Halves(b, VIRT_END_OFFSET, eHi, eLo);
    else putU64Halves(b, VIRT_END_OFFSET, this.endHiOf(iovaPfn + unmapped), this.endLoOf(iovaPfn + unmapped));
    this.kind[slot] = T_UNMAP;
    this.slotDomain[slot] = d.id;
    const w = this.nPending++;
    this.pDomain[w] = d.id;
    this.pStart[w] = iovaPfn;
    this.pEnd[w] = iovaPfn + unmapped;
    this.pT0[w] = this.emitter.now;
    this.pTag[w] = tag;
    return unmapped;
  }

  private delBytes = 0;
  private readonly countDel = (sh: number, sl: number, eh: number, el: number): void => {
    this.delBytes += (eh - sh) * TWO32 + (el - sl) + 1;
  };

  /** ops->iotlb_sync_map (viommu_iotlb_sync_map): a sync while the domain has endpoints. */
  iotlbSyncMap(d: DriverDomain): void {
    if (d.nrEndpoints > 0) this.sync(SYNC.SYNC_MAP);
  }

  /** ops->iotlb_sync (viommu_iotlb_sync): a sync. */
  iotlbSync(): void {
    this.sync(SYNC.IOTLB_SYNC);
  }

  /** ops->flush_iotlb_all (viommu_flush_iotlb_all): a sync while the domain has endpoints. */
  flushIotlbAll(d: DriverDomain): void {
    if (d.nrEndpoints > 0) this.sync(SYNC.FLUSH_ALL);
  }

  /** Requests added and not yet delivered. */
  get queuedRequests(): number {
    return this.queued;
  }

  /** Requests refused by the device among those delivered since the last call (the driver never looks); resets the count. */
  takeRefused(): number {
    const n = this.refused;
    this.refused = 0;
    return n;
  }

  /** The pending UNMAP (added, not delivered) covering page `pfn` of domain `domain`, if any. */
  pendingUnmapAt(domain: number, pfn: number): PendingUnmap | undefined {
    for (let i = this.nPending - 1; i >= 0; i--) {
      if (this.pDomain[i] === domain && pfn >= this.pStart[i] && pfn < this.pEnd[i]) {
        return { domain, startPfn: this.pStart[i], endPfnExcl: this.pEnd[i], t0: this.pT0[i], tag: this.pTag[i] };
      }
    }
    return undefined;
  }

  /**
   * viommu_sync_req: delivers every queued request to the device in order (the guest-sync event,
   * with the lazy windows the delivered UNMAPs close, comes first: the kick).
   */
  sync(why: number): void {
    if (this.queued > 0) this.kick(why, 0);
  }

  /**
   * __viommu_sync_req's kick: the guest-sync event (`extra` more requests than the queued ones:
   * send_req_sync's own request), with the lazy windows the delivered UNMAPs close, then every
   * queued request delivered to the device in order; refusals are only counted.
   */
  private kick(why: number, extra: number): void {
    const n = this.queued;
    const e = this.emitter;
    if (e.enabled) {
      const data: Record<string, unknown> = {};
      const np = this.nPending;
      if (np > 0) {
        const now = e.now;
        let min = Infinity;
        let max = 0;
        for (let i = 0; i < np; i++) {
          min = Math.min(min, now - this.pT0[i]);
          max = Math.max(max, now - this.pT0[i]);
        }
        data.windows = { count: np, minNs: min, maxNs: max };
      }
      e.emit('guest-sync', { requests: n + extra, why, data });
    }
    this.nPending = 0;
    this.queued = 0;
    const tail = this.tail;
    for (let i = 0; i < n; i++) {
      this.dev.handleRequestInto(this.kind[i] === T_MAP ? this.maps[i] : this.unmaps[i], tail);
      if (tail[0] !== S_OK) this.refused++;
    }
  }

  /** A free queue slot: __viommu_add_req syncs first when the virtqueue is full (-ENOSPC). */
  private slot(): number {
    if (this.queued === this.queueCapacity) this.sync(SYNC.QUEUE_FULL);
    return this.queued++;
  }

  /** viommu_send_req_sync: the request after everything queued, synced; returns the device's reply. */
  private sendReqSync(bytes: Uint8Array, writable: number): Uint8Array {
    this.kick(SYNC.SEND_SYNC, 1);
    return this.dev.handleRequest(bytes, writable);
  }

  /** ida_alloc_range(first_domain, last_domain): the lowest free ID, or -1. */
  private idaAlloc(): number {
    for (let id = this.firstDomain; id <= this.lastDomain; id++) {
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
    return -1;
  }

  // ---- pfn ↔ u32 halves of byte addresses --------------------------------------------------

  // (pfn - hi × pagesPer4G instead of pfn % pagesPer4G: a double's % is a library call; × inv4G
  // instead of / pagesPer4G: exact for a power of two.)

  /** High half of pfn × granule. */
  hiOf(pfn: number): number {
    return pfn <= 0x7fffffff ? pfn >>> (32 - this.shift) : Math.floor(pfn * this.inv4G);
  }

  /** Low half of pfn × granule (integer shifts: the page offset in its 4 GiB window, << shift, as a u32). */
  loOf(pfn: number): number {
    const inWindow = pfn <= 0x7fffffff ? pfn & (this.pagesPer4G - 1) : pfn - Math.floor(pfn * this.inv4G) * this.pagesPer4G;
    return (inWindow << this.shift) >>> 0;
  }

  /** High half of pfnExcl × granule − 1 (the last byte before page pfnExcl). */
  endHiOf(pfnExcl: number): number {
    const hi = Math.floor(pfnExcl * this.inv4G);
    return pfnExcl === hi * this.pagesPer4G ? hi - 1 : hi;
  }

  /** Low half of pfnExcl × granule − 1. */
  endLoOf(pfnExcl: number): number {
    return (this.loOf(pfnExcl) - 1) >>> 0;
  }
}
