/**
 * The virtio-iommu device: the lifecycle in one place (construct = realize, features, config
 * read/write, requests, translation, device/system reset), like QEMU's hw/virtio/virtio-iommu.c
 * class_init. Decoding and execution live in requests.ts, the DMA decision in translate.ts, the
 * state and its transitions in state.ts, bytes in codec.ts.
 *
 * Error tiers: protocol outcomes are values (statuses written into the reply, fault records,
 * device-error + `broken`); exceptions only for bugs (invalid props, non-u64 arguments).
 * Reference: ../../../shared/reference/virtio-iommu.md.
 */
import { TWO32, hi32, lo32, u64 } from '../../engine/u64.ts';
import type { EventSink } from '../../events/sink.ts';
import { encodeConfig } from './codec.ts';
import { configFromProps, type VirtioIommuProps } from './config.ts';
import { CONFIG_BYPASS_OFFSET, CONFIG_SIZE, LINUX_DRIVER_FEATURES } from './constants.ts';
import { handleRequestInto } from './requests.ts';
import { DeviceState, emit, hex } from './state.ts';
import { TR_BYPASS, TR_FAULT, TR_MSI, TranslateSlots, type TranslateOutcome } from '../../machine/dma.ts';
import { emitTranslate, translateCore } from './translate.ts';
import { applyListenerRanges, freezeGranule, setIommuDevice, unsetIommuDevice, type SetIommuDeviceOutcome } from './host-device.ts';
import type { HostIommuDevice, IommuNotifier } from '../../machine/layers.ts';

/** Props and reserved regions (declared in config.ts). */
export type { ReservedRegion, VirtioIommuProps } from './config.ts';
/** Machine defaults and `reserved-regions` parsing (config.ts). */
export { defaultProps, parseReservedRegion, validateProps, formatReservedRegion } from './config.ts';
/** translateFast result codes and output slots (translate.ts). */
export { TR_TRANSLATED, TR_BYPASS, TR_MSI, TR_FAULT, TranslateSlots } from './translate.ts';

/** Outcome of one DMA access (core/machine/dma.ts; see translate.ts for the decision order of each mode). */
export type { TranslateOutcome } from '../../machine/dma.ts';

/**
 * What a driver write of config.bypass did: the value written, whether it took effect, and QEMU's
 * virtio_error text when the device entered NEEDS_RESET because of it (qemu mode only).
 */
export interface ConfigWriteOutcome {
  bypass: number;
  accepted: boolean;
  deviceError?: string;
}

const U64_LIMIT = 0xffffffffffffffffn;

/**
 * One virtio-iommu device behind which `endpoints` (PCI requester IDs, bus << 8 | devfn) sit.
 * Throws RangeError when `props` are invalid (validate user input with validateProps first).
 */
export class VirtioIommuDevice {
  /** Feature bits offered: VERSION_1 (32), RING_EVENT_IDX (29), RING_INDIRECT_DESC (28), MAP_UNMAP and what `props.offer` enables (QDEV realize). */
  readonly offeredFeatures: bigint;
  /** Output slots of the last translateFast call (physHi/physLo, reason/flags, domain). */
  readonly slots = new TranslateSlots();
  private readonly st: DeviceState;

  constructor(props: VirtioIommuProps, endpoints: Iterable<number>, sink: EventSink) {
    // Own copy of the props: later changes to the caller's object must not reach the device.
    const own: VirtioIommuProps = {
      ...props,
      reservedRegions: props.reservedRegions.map((r) => ({ ...r })),
      domainRange: [props.domainRange[0], props.domainRange[1]],
      offer: { ...props.offer },
    };
    this.st = new DeviceState(own, new Set(endpoints), sink);
    this.offeredFeatures = this.st.offered;
  }

  /** Conformance mode of this device. */
  get conformance(): 'qemu' | 'spec' {
    return this.st.qemu ? 'qemu' : 'spec';
  }

  /** NEEDS_RESET after virtio_error; while set, requests are returned unwritten. Cleared by reset. */
  get broken(): boolean {
    return this.st.broken;
  }

  /** Currently negotiated features (before negotiate(): Linux's usual set ∩ offered). */
  get negotiatedFeatures(): bigint {
    return this.st.negotiated;
  }

  /**
   * Feature negotiation (virtio spec §2.2): negotiated = driverFeatures ∩ offered. The default
   * driver set is what Linux's driver accepts (reference §1.2). Emits 'features'; returns the
   * negotiated bits.
   */
  negotiate(driverFeatures: bigint = LINUX_DRIVER_FEATURES): bigint {
    const f = driverFeatures & this.offeredFeatures;
    this.st.setNegotiated(f);
    if (this.st.sink.enabled) emit(this.st.sink, 'features', { offered: this.offeredFeatures, accepted: f });
    return f;
  }

  /**
   * Executes one requestq element: `readable` is the device-readable part (head + payload),
   * `writableSize` the size of the device-writable part in bytes. Returns the bytes the device
   * wrote, whose length is the used length: 4 (tail), probe_size + 4 (PROBE), or 0 (unwritten).
   * Emits effect events and one 'request' event.
   */
  handleRequest(readable: Uint8Array, writableSize: number): Uint8Array {
    const w = new Uint8Array(Math.max(0, writableSize));
    const used = handleRequestInto(this.st, readable, w);
    return w.subarray(0, used);
  }

  /**
   * As handleRequest, writing into the caller's `writable` buffer (its length is the writable
   * size) and returning the used length: no allocation for non-PROBE requests.
   */
  handleRequestInto(readable: Uint8Array, writable: Uint8Array): number {
    return handleRequestInto(this.st, readable, writable);
  }

  /**
   * One DMA access of `size` bytes at `addr` by `endpoint` with IOMMUAccessFlags `access`
   * (1 RO, 2 WO). An access that crosses granule pages is decided page by page, as QEMU does
   * (system/physmem.c address_space_translate_iommu): each page emits its own 'translate', and the
   * first page that faults ends the access, the fault carrying that page's first address. The
   * outcome is the fault, else the first page's (translated / bypass / msi). Faults are also
   * queued as 24-byte records. Throws RangeError when addr/size are not u64 (a caller bug).
   */
  translate(endpoint: number, addr: bigint, size: bigint, access: 1 | 2): TranslateOutcome {
    if (addr < 0n || addr > U64_LIMIT || size < 0n || size > U64_LIMIT) throw new RangeError('virtio-iommu: translate addr/size must be u64');
    const ep = endpoint >>> 0;
    const out = this.slots;
    const g = BigInt(this.st.granuleMask);
    let first: TranslateOutcome | undefined;
    let cur = addr;
    let left = size;
    for (;;) {
      const inPage = g - (cur & g) + 1n; // bytes from cur to the end of its granule page
      const n = left < inPage ? left : inPage;
      const hi = hi32(cur);
      const lo = lo32(cur);
      const code = translateCore(this.st, out, ep, hi, lo, access);
      if (this.st.sink.enabled) emitTranslate(this.st, out, code, ep, hi, lo, n, access);
      if (code === TR_FAULT) return { kind: 'fault', reason: out.reason, flags: out.flags, address: cur, endpoint: ep };
      first ??= code === TR_BYPASS ? { kind: 'bypass' } : code === TR_MSI ? { kind: 'msi' } : { kind: 'translated', phys: u64(out.physHi, out.physLo), domain: out.domain };
      left -= n;
      if (left <= 0n || cur + n > U64_LIMIT) return first; // done, or the access would wrap past 2^64
      cur += n;
    }
  }

  /**
   * Allocation-free translate through the same decision order: addr as u32 halves, size in bytes
   * (< 2^53). Returns TR_TRANSLATED / TR_BYPASS / TR_MSI / TR_FAULT and fills `slots`
   * (physHi/physLo of the first page; reason/flags of a fault). Split per granule page like
   * translate(); an access within one page (the hot path) is a single decision.
   */
  translateFast(endpoint: number, addrHi: number, addrLo: number, size: number, access: number): number {
    const st = this.st;
    const g = st.granuleMask;
    if (size <= g - (addrLo & g) + 1) {
      const code = translateCore(st, this.slots, endpoint, addrHi, addrLo, access);
      if (st.sink.enabled) emitTranslate(st, this.slots, code, endpoint, addrHi, addrLo, BigInt(size), access);
      return code;
    }
    return this.translateSplit(endpoint, addrHi, addrLo, size, access);
  }

  private translateSplit(endpoint: number, hi: number, lo: number, size: number, access: number): number {
    const st = this.st;
    const out = this.slots;
    const g = st.granuleMask;
    let first = -1;
    let fHi = 0;
    let fLo = 0;
    let left = size;
    for (;;) {
      const inPage = g - (lo & g) + 1;
      const n = left < inPage ? left : inPage;
      const code = translateCore(st, out, endpoint, hi, lo, access);
      if (st.sink.enabled) emitTranslate(st, out, code, endpoint, hi, lo, BigInt(n), access);
      if (code === TR_FAULT) return code;
      if (first < 0) {
        first = code;
        fHi = out.physHi;
        fLo = out.physLo;
      }
      left -= n;
      if (left <= 0) break;
      lo += n;
      if (lo >= TWO32) {
        lo -= TWO32;
        if (++hi > 0xffffffff) break; // the access would wrap past 2^64
      }
    }
    out.physHi = fHi;
    out.physLo = fLo;
    return first;
  }

  /** Faults not reported because the eventq had no buffer (the device was broken). */
  get droppedFaults(): number {
    return this.st.droppedFaults;
  }

  /** The 24-byte struct virtio_iommu_fault records pushed on the eventq since the last call. */
  takeFaultRecords(): Uint8Array[] {
    const out = this.st.faults;
    this.st.faults = [];
    return out;
  }

  /** The 40-byte config space (SPEC §5.13.4; QDEV virtio_iommu_get_config). Emits 'config-read'. */
  readConfig(): Uint8Array {
    const c = configFromProps(this.st.props, this.st.bypass);
    c.pageSizeMask = this.st.pageSizeMask; // narrowed by set_iommu_device before the granule froze
    if (this.st.sink.enabled) {
      emit(this.st.sink, 'config-read', {
        config: {
          pageSizeMask: hex(c.pageSizeMask),
          inputRange: [hex(c.inputRange.start), hex(c.inputRange.end)],
          domainRange: [c.domainRange.start, c.domainRange.end],
          probeSize: c.probeSize,
          bypass: c.bypass,
        },
      });
    }
    return encodeConfig(c);
  }

  /**
   * A driver write of `data` at config `offset`. Only config.bypass (offset 36) is writable; a
   * write that does not cover byte 36, or that runs past the 40 bytes, changes nothing and emits
   * nothing (virtio-pci drops out-of-range writes; QDEV set_config reads only bypass).
   * - qemu (QDEV virtio_iommu_set_config): a value equal to the current one is accepted; a
   *   different one without F_BYPASS_CONFIG negotiated → virtio_error "cannot set config.bypass";
   *   a value other than 0/1 → virtio_error "invalid config.bypass value '<v>'" (device broken).
   * - spec (§5.13.4): the driver MAY write bypass only with F_BYPASS_CONFIG negotiated and MUST
   *   write 0 or 1; the device ignores any other write (project choice), without breaking.
   * Emits 'config-write' (accepted 1/0) and, for QEMU's errors, 'device-error'. Returns what the
   * write did (the same facts as those events), or null when it did not reach config.bypass.
   */
  writeConfig(offset: number, data: Uint8Array): ConfigWriteOutcome | null {
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > CONFIG_SIZE) return null;
    if (offset > CONFIG_BYPASS_OFFSET || offset + data.length <= CONFIG_BYPASS_OFFSET) return null;
    const v = data[CONFIG_BYPASS_OFFSET - offset];
    const st = this.st;
    let error: string | undefined;
    if (st.qemu && v !== st.bypass) {
      if (!st.negBypassConfig) error = 'cannot set config.bypass';
      else if (v !== 0 && v !== 1) error = `invalid config.bypass value '${v}'`;
    }
    const accepted = st.qemu ? error === undefined : st.negBypassConfig && (v === 0 || v === 1);
    if (accepted) st.bypass = v;
    if (st.sink.enabled) emit(st.sink, 'config-write', { bypass: v, accepted: accepted ? 1 : 0 });
    if (error !== undefined) st.deviceError(error);
    return error === undefined ? { bypass: v, accepted } : { bypass: v, accepted, deviceError: error };
  }

  /**
   * Reset (reference §2.1). Device reset (`system` false): every endpoint is detached and freed,
   * every domain destroyed with its mappings; config.bypass is kept (SPEC §5.13.4 SHOULD; QDEV).
   * System reset: the same plus config.bypass restored to boot-bypass (QDEV
   * virtio_iommu_system_reset). Both clear `broken`. Fault records already pushed stay queued.
   * Emits 'reset', then the detach (implicit) / domain-free / endpoint-free events.
   */
  reset(system: boolean): void {
    const st = this.st;
    if (st.sink.enabled) emit(st.sink, 'reset', { system: system ? 1 : 0 });
    st.broken = false;
    if (system) st.bypass = st.props.bootBypass ? 1 : 0;
    st.resetTrees();
  }

  /**
   * PCIIOMMUOps.set_iommu_device for the device at `endpoint` (QEMU virtio_iommu_set_iommu_device;
   * host-device.ts): its host IOVA ranges become RESERVED regions of its aliased endpoint, the
   * page-size mask narrows (until the granule freezes) or is checked. Returns QEMU's error (null
   * when accepted) and QEMU's trace lines. `mrName`: the aliased endpoint's IOMMU MR name for the trace.
   */
  setIommuDevice(endpoint: number, hiod: HostIommuDevice, mrName: string): SetIommuDeviceOutcome {
    return setIommuDevice(this.st, endpoint >>> 0, hiod, mrName);
  }

  /** PCIIOMMUOps.unset_iommu_device (hot-unplug): host ranges freed, the endpoint back to the property regions. */
  unsetIommuDevice(endpoint: number, aliasedEndpoint: number): void {
    unsetIommuDevice(this.st, endpoint >>> 0, aliasedEndpoint >>> 0);
  }

  /** Machine init done (virtio_iommu_freeze_granule): the page-size mask stops narrowing. Returns QEMU's trace text. */
  freezeGranule(): string {
    return freezeGranule(this.st);
  }

  /**
   * host-geometry 'listener' at machine init done: every IOMMU MR is enabled for a moment (QEMU
   * 8.x's granule freeze), so VFIO's listener hands the coldplugged devices' usable ranges over
   * before any PROBE (host-device.ts applyListenerRanges).
   */
  applyPendingHostRanges(): void {
    for (const ep of [...this.st.pendingHostRanges.keys()]) applyListenerRanges(this.st, ep);
  }

  /** Whether the granule is frozen (machine init done). */
  get granuleFrozen(): boolean {
    return this.st.granuleFrozen;
  }

  /** config.page_size_mask now (the granule property's, narrowed by assigned devices). */
  get pageSizeMask(): bigint {
    return this.st.pageSizeMask;
  }

  /**
   * Registers the IOMMU notifiers of assigned endpoints (VFIO's; core/host/shadow.ts), or none
   * (null): MAP/UNMAP, ATTACH replay and DETACH then reach them as QEMU's memory_region_notify_iommu does.
   */
  setNotifier(n: IommuNotifier | null): void {
    this.st.notifier = n;
  }

  /** Number of mappings over all domains. */
  mappingCount(): number {
    let n = 0;
    for (const d of this.st.domains.values()) n += d.store.count();
    return n;
  }

  /** Bytes mapped over all domains (bigint; a domain alone may hold 2^64). */
  mappedBytes(): bigint {
    let n = 0n;
    for (const d of this.st.domains.values()) n += d.store.mappedBytes();
    return n;
  }

  /** Read-only view of the state for inspection and tests: domain → endpoints and mappings. */
  snapshot(): { bypass: number; domains: Array<{ id: number; bypass: boolean; endpoints: number[]; mappings: number }>; endpoints: Array<{ id: number; domain: number | null }> } {
    const st = this.st;
    return {
      bypass: st.bypass,
      domains: [...st.domains.values()].sort((a, b) => a.id - b.id).map((d) => ({ id: d.id, bypass: d.bypass, endpoints: d.endpoints.map((e) => e.id), mappings: d.store.count() })),
      endpoints: [...st.endpoints.values()].sort((a, b) => a.id - b.id).map((e) => ({ id: e.id, domain: e.domain === null ? null : e.domain.id })),
    };
  }

  /** Mappings of one domain, ascending (bigint Interval objects), or undefined if it does not exist. */
  domainMappings(domain: number): Array<{ start: bigint; end: bigint; phys: bigint; flags: number }> | undefined {
    return this.st.domains.get(domain)?.store.entries();
  }
}
