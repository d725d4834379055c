/**
 * virtio-iommu device state: domains, endpoints, config.bypass, negotiated features, reserved
 * regions, queued fault records, and the state transitions shared by request execution, translation
 * and reset (endpoint/domain allocation and teardown), each emitting its catalog event.
 *
 * Ownership: a domain owns its mappings (one MappingStore) and lists its endpoints; an endpoint
 * points at its domain. An endpoint object exists only while QEMU would keep it in its endpoint
 * tree: created by ATTACH, freed by DETACH and reset (QDEV virtio_iommu_get/put_endpoint).
 * A domain exists while it has at least one endpoint (SPEC §5.13.6.3; QDEV put_domain).
 */
import { MappingStore } from '../../engine/mapping-store.ts';
import { DecodedRequest } from './codec.ts';
import { hi32, lo32, u64 } from '../../engine/u64.ts';
import type { EventKind, EventPayload } from '../../events/catalog.ts';
import type { EventSink } from '../../events/sink.ts';
import type { IommuNotifier } from '../../machine/layers.ts';
import { buildReservedRegions, configFromProps, granuleOf, inputRangeEnd, validateProps, type ReservedRegion, type VirtioIommuProps } from './config.ts';
import {
  F_BYPASS, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE, F_MAP_UNMAP, F_MMIO, F_PROBE, FAULT_RECORD_SIZE, LINUX_DRIVER_FEATURES,
  VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC, featureBit,
} from './constants.ts';

/** A domain (SPEC §5.13.6.2): created by the first ATTACH, destroyed with its last endpoint. */
export interface Domain {
  readonly id: number;
  /** Created with VIRTIO_IOMMU_ATTACH_F_BYPASS: its endpoints are identity-mapped. */
  readonly bypass: boolean;
  readonly store: MappingStore;
  /** Attached endpoints, most recently attached first (QEMU QLIST_INSERT_HEAD order). */
  readonly endpoints: Endpoint[];
}

/** An endpoint object (QEMU VirtIOIOMMUEndpoint): present in the endpoint tree. */
export interface Endpoint {
  readonly id: number;
  domain: Domain | null;
}

/** Offered feature bits for the props: QEMU's set (QDEV realize) minus what `offer` turns off. */
export function offeredFeatures(p: VirtioIommuProps): bigint {
  let f = featureBit(VIRTIO_RING_F_EVENT_IDX) | featureBit(VIRTIO_RING_F_INDIRECT_DESC) | featureBit(VIRTIO_F_VERSION_1) | featureBit(F_MAP_UNMAP);
  if (p.offer.inputRange) f |= featureBit(F_INPUT_RANGE);
  if (p.offer.domainRange) f |= featureBit(F_DOMAIN_RANGE);
  if (p.offer.mmio) f |= featureBit(F_MMIO);
  if (p.offer.probe) f |= featureBit(F_PROBE);
  if (p.offer.bypassConfig) f |= featureBit(F_BYPASS_CONFIG);
  return f;
}

/**
 * A reserved-region table in the translate hot path's form (u32 halves in typed arrays): the
 * device's own (property regions, every endpoint) or one endpoint's (host ranges + properties).
 */
export interface ResvTable {
  /** The regions, sorted and disjoint (QEMU IOMMUDevice.resv_regions). */
  readonly resv: ReservedRegion[];
  readonly rSHi: Uint32Array;
  readonly rSLo: Uint32Array;
  readonly rEHi: Uint32Array;
  readonly rELo: Uint32Array;
  readonly rType: Uint8Array;
}

/** The hot-path table of a sorted, disjoint region list. */
export function resvTable(resv: ReservedRegion[]): ResvTable {
  const n = resv.length;
  const t = { resv, rSHi: new Uint32Array(n), rSLo: new Uint32Array(n), rEHi: new Uint32Array(n), rELo: new Uint32Array(n), rType: new Uint8Array(n) };
  resv.forEach((r, i) => {
    t.rSHi[i] = hi32(r.start);
    t.rSLo[i] = lo32(r.start);
    t.rEHi[i] = hi32(r.end);
    t.rELo[i] = lo32(r.end);
    t.rType[i] = r.subtype;
  });
  return t;
}

/** Emits one catalog event (the payload is checked against the catalog's declared fields). */
export function emit<K extends EventKind>(sink: EventSink, kind: K, payload: EventPayload<K>): void {
  sink.emit(kind, payload);
}

/** Hex text of a u64 for JSON payloads (catalog: u64 inside `data` are "0x…" strings). */
export function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** The shared mutable state of one virtio-iommu device (see the file comment). */
export class DeviceState implements ResvTable {
  readonly qemu: boolean;
  readonly endpoints = new Map<number, Endpoint>();
  readonly domains = new Map<number, Domain>();
  readonly offered: bigint;
  /** config.bypass (0 or 1). */
  bypass: number;
  negotiated = 0n;
  negMapUnmap = false;
  negMmio = false;
  negBypassConfig = false;
  /** Legacy F_BYPASS negotiated (never: it is never offered; kept for the spec's bypass rule). */
  negBypass = false;
  /** NEEDS_RESET after virtio_error: requests are returned unwritten until reset. */
  broken = false;
  /** The request being executed, decoded once (requests.ts; reused, so no allocation per request). */
  readonly req = new DecodedRequest();
  /**
   * config.page_size_mask: from the `granule` property, narrowed by set_iommu_device while the
   * granule is not frozen (virtio_iommu_set_iommu_device; set-iommu-device.ts).
   */
  pageSizeMask: bigint;
  /** granule - 1, the lowest set bit of pageSizeMask minus 1 (a granule <= 2 GiB fits a u32). */
  granuleMask: number;
  /** s->granule_frozen: set at machine-init-done (virtio_iommu_freeze_granule); the mask no longer narrows. */
  granuleFrozen = false;
  /**
   * Per-endpoint reserved regions where they differ from the device's (`resv`): an endpoint with
   * a HostIOMMUDevice gets its host holes as RESERVED regions plus the property regions
   * (rebuild_resv_regions). Null while no endpoint has its own table (the hot path's common case).
   */
  epResv: Map<number, ResvTable> | null = null;
  /** Host reserved ranges per aliased endpoint (IOMMUDevice.host_resv_ranges), set by set_iommu_device. */
  readonly hostResvRanges = new Map<number, ReservedRegion[]>();
  /** Registered host IOMMU devices, keyed by endpoint (s->host_iommu_devices, key (bus, devfn)). */
  readonly hostDevices = new Map<number, string>();
  /** Endpoints a PROBE succeeded on (IOMMUDevice.probe_done). */
  readonly probeDone = new Set<number>();
  /**
   * host-geometry 'listener' (QEMU before 9.1): usable IOVA ranges of assigned devices that have not
   * reached virtio-iommu yet, by aliased endpoint, with the IOMMU MR's name; they arrive when that MR
   * is enabled (host-device.ts applyListenerRanges).
   */
  readonly pendingHostRanges = new Map<number, { ranges: readonly { start: bigint; end: bigint }[]; mrName: string }>();
  /** The IOMMU notifiers of assigned endpoints (VFIO's), or null when none is registered. */
  notifier: IommuNotifier | null = null;
  /** Called when an endpoint with pending listener ranges gets its IOMMU MR enabled (set by host-device.ts). */
  onMrEnabled: ((endpoint: number) => void) | null = null;
  readonly inEndHi: number;
  readonly inEndLo: number;
  /** Reserved regions of every endpoint, sorted and disjoint (QEMU IOMMUDevice.resv_regions). */
  readonly resv: ReservedRegion[];
  readonly rSHi: Uint32Array;
  readonly rSLo: Uint32Array;
  readonly rEHi: Uint32Array;
  readonly rELo: Uint32Array;
  readonly rType: Uint8Array;
  /** Fault records pushed on the eventq and not yet taken by the driver. */
  faults: Uint8Array[] = [];
  /** Faults that could not be reported (no eventq buffer: device broken). */
  droppedFaults = 0;

  constructor(readonly props: VirtioIommuProps, readonly existing: ReadonlySet<number>, readonly sink: EventSink) {
    const errs = validateProps(props);
    if (errs.length > 0) throw new RangeError(`virtio-iommu: invalid props: ${errs.join('; ')}`);
    this.qemu = props.conformance === 'qemu';
    this.offered = offeredFeatures(props);
    this.bypass = props.bootBypass ? 1 : 0;
    const cfg = configFromProps(props, this.bypass);
    this.pageSizeMask = cfg.pageSizeMask;
    this.granuleMask = Number(granuleOf(cfg.pageSizeMask) - 1n);
    const end = inputRangeEnd(props.awBits);
    this.inEndHi = hi32(end);
    this.inEndLo = lo32(end);
    ({ resv: this.resv, rSHi: this.rSHi, rSLo: this.rSLo, rEHi: this.rEHi, rELo: this.rELo, rType: this.rType } = resvTable(buildReservedRegions(props.reservedRegions)));
    // Until the driver negotiates, behave as if Linux had accepted its usual set.
    this.setNegotiated(LINUX_DRIVER_FEATURES & this.offered);
  }

  setNegotiated(f: bigint): void {
    this.negotiated = f;
    this.negMapUnmap = (f & featureBit(F_MAP_UNMAP)) !== 0n;
    this.negMmio = (f & featureBit(F_MMIO)) !== 0n;
    this.negBypassConfig = (f & featureBit(F_BYPASS_CONFIG)) !== 0n;
    this.negBypass = (f & featureBit(F_BYPASS)) !== 0n;
  }

  /** Spec mode: is `domain` outside domain_range (checked only when F_DOMAIN_RANGE is offered)? */
  domainOutOfRange(domain: number): boolean {
    return this.props.offer.domainRange && (domain < this.props.domainRange[0] || domain > this.props.domainRange[1]);
  }

  /** The reserved-region table of `endpoint`: its own when it has one, else the device's. */
  resvOf(endpoint: number): ResvTable {
    return this.epResv === null ? this : (this.epResv.get(endpoint) ?? this);
  }

  /** Endpoint object for `id`, created (endpoint-alloc) when absent. Caller checked `existing`. */
  getEndpoint(id: number): Endpoint {
    let e = this.endpoints.get(id);
    if (e === undefined) {
      e = { id, domain: null };
      this.endpoints.set(id, e);
      if (this.sink.enabled) emit(this.sink, 'endpoint-alloc', { endpoint: id });
    }
    return e;
  }

  /** Removes the endpoint object (endpoint-free). It must be detached already. */
  putEndpoint(e: Endpoint): void {
    this.endpoints.delete(e.id);
    if (this.sink.enabled) emit(this.sink, 'endpoint-free', { endpoint: e.id });
  }

  createDomain(id: number, bypass: boolean): Domain {
    const d: Domain = { id, bypass, store: new MappingStore(Math.log2(this.granuleMask + 1)), endpoints: [] };
    this.domains.set(id, d);
    if (this.sink.enabled) emit(this.sink, 'domain-alloc', { domain: id, bypass: bypass ? 1 : 0 });
    return d;
  }

  /**
   * Attaches `e` to `d` (attach event). With an IOMMU notifier on the endpoint (an assigned
   * device) and a translated domain, the domain's mappings reach it once: QEMU's virtio_iommu_attach
   * replays them (g_tree_foreach virtio_iommu_mapping_map) when the endpoint's IOMMU MR already had
   * the notifier, else the address-space switch enables the MR, VFIO's listener registers the
   * notifier and memory_region_iommu_replay → virtio_iommu_replay maps them — either way one
   * notify per mapping, after the attach trace.
   */
  attach(e: Endpoint, d: Domain): void {
    d.endpoints.unshift(e);
    e.domain = d;
    if (this.sink.enabled) emit(this.sink, 'attach', { domain: d.id, endpoint: e.id });
    // host-geometry 'listener': the address-space switch enables the endpoint's IOMMU MR, VFIO's
    // listener adds it and hands the host's usable ranges over only now (QEMU 8.x).
    if (!d.bypass && this.pendingHostRanges.size > 0 && this.pendingHostRanges.has(e.id)) this.onMrEnabled?.(e.id);
    if (this.notifier !== null && !d.bypass && this.notifier.has(e.id)) {
      for (const m of d.store.entries()) notifyMap(this.notifier, e.id, hi32(m.start), lo32(m.start), hi32(m.end), lo32(m.end), hi32(m.phys), lo32(m.phys), m.flags);
    }
  }

  /**
   * Detaches `e` from its domain (detach event) and destroys the domain when it was the last
   * endpoint (domain-free with the number of mappings dropped with it; no per-mapping unmap events).
   */
  detach(e: Endpoint, implicit: boolean): void {
    const d = e.domain;
    if (d === null) return;
    const i = d.endpoints.indexOf(e);
    d.endpoints.splice(i, 1);
    e.domain = null;
    if (this.sink.enabled) emit(this.sink, 'detach', { domain: d.id, endpoint: e.id, implicit: implicit ? 1 : 0 });
    // virtio_iommu_detach_endpoint_from_domain: every mapping of the domain is notified as unmapped
    // on the endpoint's MR (g_tree_foreach virtio_iommu_notify_unmap_cb) before it leaves.
    if (this.notifier !== null && !d.bypass && this.notifier.has(e.id)) {
      for (const m of d.store.entries()) notifyUnmap(this.notifier, e.id, hi32(m.start), lo32(m.start), hi32(m.end), lo32(m.end));
    }
    if (d.endpoints.length === 0) this.destroyDomain(d);
  }

  private destroyDomain(d: Domain): void {
    this.domains.delete(d.id);
    if (this.sink.enabled) emit(this.sink, 'domain-free', { domain: d.id, mappings: d.store.count() });
    d.store.clear();
  }

  /**
   * Device reset (QDEV virtio_iommu_device_reset): destroys the domain tree in ascending ID order
   * (each domain detaches its endpoints, most recent first), then frees every endpoint object in
   * ascending ID order. config.bypass is untouched here.
   */
  resetTrees(): void {
    const ids = [...this.domains.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const d = this.domains.get(id);
      if (d === undefined) continue;
      for (const e of [...d.endpoints]) this.detach(e, true);
    }
    const eps = [...this.endpoints.keys()].sort((a, b) => a - b);
    for (const id of eps) this.putEndpoint(this.endpoints.get(id)!);
  }

  /** virtio_error(): the device needs a reset; emits device-error with QEMU's message. */
  deviceError(message: string): void {
    this.broken = true;
    if (this.sink.enabled) emit(this.sink, 'device-error', { message: { message } });
  }

  /**
   * Pushes a 24-byte struct virtio_iommu_fault on the eventq (QDEV virtio_iommu_report_fault;
   * reserved fields zero) and emits 'fault'. The eventq is modelled as never short of buffers:
   * Linux re-queues each buffer as soon as it has read it. A broken device (qemu mode, after
   * virtio_error) pops no buffer (virtqueue_pop returns NULL), so the record is dropped: counted in
   * `droppedFaults`, no event (QEMU traces report_fault only after the push).
   */
  reportFault(reason: number, flags: number, endpoint: number, hi: number, lo: number): void {
    if (this.broken) {
      this.droppedFaults++;
      return;
    }
    const b = new Uint8Array(FAULT_RECORD_SIZE);
    b[0] = reason;
    b[4] = flags & 0xff;
    b[5] = (flags >>> 8) & 0xff;
    b[6] = (flags >>> 16) & 0xff;
    b[7] = (flags >>> 24) & 0xff;
    b[8] = endpoint & 0xff;
    b[9] = (endpoint >>> 8) & 0xff;
    b[10] = (endpoint >>> 16) & 0xff;
    b[11] = (endpoint >>> 24) & 0xff;
    for (let i = 0; i < 4; i++) {
      b[16 + i] = (lo >>> (8 * i)) & 0xff;
      b[20 + i] = (hi >>> (8 * i)) & 0xff;
    }
    this.faults.push(b);
    if (this.sink.enabled) emit(this.sink, 'fault', { reason, flags, endpoint, address: u64(hi, lo) });
  }
}

/** VIRTIO_IOMMU_MAP_F_MMIO. */
const MAP_F_MMIO_BIT = 4;

/**
 * QEMU's virtio_iommu_notify_map (hw/virtio/virtio-iommu.c): nothing for an MMIO mapping or one
 * without READ/WRITE (perm = IOMMU_ACCESS_FLAG(READ, WRITE): IOMMU_RO 1, IOMMU_WO 2, IOMMU_RW 3);
 * otherwise virtio_iommu_notify_map_unmap splits [virtStart, virtEnd] into naturally aligned
 * power-of-two blocks (dma_aligned_pow2_mask) and notifies each, its translated_addr advancing
 * with it; the whole 64-bit space is one notification (addr_mask all ones). u64 as u32 halves.
 */
export function notifyMap(n: IommuNotifier, endpoint: number, sHi: number, sLo: number, eHi: number, eLo: number, pHi: number, pLo: number, flags: number): void {
  const perm = flags & 3;
  if ((flags & MAP_F_MMIO_BIT) !== 0 || perm === 0) return;
  const mLo = (eLo - sLo) >>> 0;
  const mHi = (eHi - sHi - (eLo < sLo ? 1 : 0)) >>> 0;
  if (oneBlock(sHi, sLo, mHi, mLo)) {
    n.notifyMap(endpoint, sHi, sLo, mHi, mLo, pHi, pLo, perm);
    return;
  }
  const phys = u64(pHi, pLo);
  const start = u64(sHi, sLo);
  splitPow2(start, u64(eHi, eLo), (iova, size) => {
    const t = (phys + (iova - start)) & U64;
    const m = size - 1n;
    n.notifyMap(endpoint, hi32(iova), lo32(iova), hi32(m), lo32(m), hi32(t), lo32(t), perm);
  });
}

/** QEMU's virtio_iommu_notify_unmap: the same split, perm IOMMU_NONE. */
export function notifyUnmap(n: IommuNotifier, endpoint: number, sHi: number, sLo: number, eHi: number, eLo: number): void {
  const mLo = (eLo - sLo) >>> 0;
  const mHi = (eHi - sHi - (eLo < sLo ? 1 : 0)) >>> 0;
  if (oneBlock(sHi, sLo, mHi, mLo)) {
    n.notifyUnmap(endpoint, sHi, sLo, mHi, mLo);
    return;
  }
  splitPow2(u64(sHi, sLo), u64(eHi, eLo), (iova, size) => {
    const m = size - 1n;
    n.notifyUnmap(endpoint, hi32(iova), lo32(iova), hi32(m), lo32(m));
  });
}

/** Is [s, s + m] one naturally aligned power-of-two block (m + 1 a power of two, s aligned to it; or the whole space)? */
function oneBlock(sHi: number, sLo: number, mHi: number, mLo: number): boolean {
  if (mLo === 0xffffffff) return (mHi & (mHi + 1)) === 0 && sLo === 0 && (sHi & mHi) === 0;
  return mHi === 0 && (mLo & (mLo + 1)) === 0 && (sLo & mLo) === 0;
}

const U64 = 0xffffffffffffffffn;

/**
 * virtio_iommu_notify_map_unmap's walk: while start != end + 1, the block at start is the largest
 * power of two that start is aligned to and that fits in [start, end] (dma_aligned_pow2_mask with
 * max_addr_bits 64). `each(iova, size)`. [0, 2^64 - 1] is one block of 2^64.
 */
export function splitPow2(virtStart: bigint, virtEnd: bigint, each: (iova: bigint, size: bigint) => void): void {
  if (virtStart === 0n && virtEnd === U64) {
    each(0n, 1n << 64n);
    return;
  }
  let start = virtStart;
  while (start <= virtEnd) {
    const align = start === 0n ? 1n << 64n : start & -start;
    let size = align;
    const room = virtEnd - start + 1n;
    while (size > room) size >>= 1n;
    each(start, size);
    start += size;
  }
}
