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
import { MappingStore } from '../engine/mapping-store.ts';
import { DecodedRequest } from './codec.ts';
import { hi32, lo32, u64 } from '../engine/u64.ts';
import type { EventKind, EventPayload } from '../events/catalog.ts';
import type { EventSink } from '../events/sink.ts';
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

/** Emits one catalog event (the payload is checked against the catalog's declared fields). */
export function emit<K extends EventKind>(sink: EventSink, kind: K, payload: EventPayload<K>): void {
  sink.emit(kind, payload);
}

/** Hex text of a u64 for JSON payloads (catalog: u64 inside `data` are "0x…" strings). */
export function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** The shared mutable state of one virtio-iommu device (see the file comment). */
export class DeviceState {
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
  readonly pageSizeMask: bigint;
  /** granule - 1 (granule <= 64 KiB, so this fits a u32). */
  readonly granuleMask: number;
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
    this.resv = buildReservedRegions(props.reservedRegions);
    const n = this.resv.length;
    this.rSHi = new Uint32Array(n);
    this.rSLo = new Uint32Array(n);
    this.rEHi = new Uint32Array(n);
    this.rELo = new Uint32Array(n);
    this.rType = new Uint8Array(n);
    this.resv.forEach((r, i) => {
      this.rSHi[i] = hi32(r.start);
      this.rSLo[i] = lo32(r.start);
      this.rEHi[i] = hi32(r.end);
      this.rELo[i] = lo32(r.end);
      this.rType[i] = r.subtype;
    });
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

  attach(e: Endpoint, d: Domain): void {
    d.endpoints.unshift(e);
    e.domain = d;
    if (this.sink.enabled) emit(this.sink, 'attach', { domain: d.id, endpoint: e.id });
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
