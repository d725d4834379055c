/**
 * The guest kernel's DMA layer as a machine component ('guest0', kind 'linux', layer 'guest';
 * DESIGN.md §2): the virtio-iommu driver (viommu-driver.ts), dma-iommu (dma-iommu.ts) with the IOVA
 * allocator (iova.ts) and flush queues (flush-queue.ts), the guest's IOMMU groups (topology.ts).
 *
 * - **Boot** (after QEMU's machine is up and the driver negotiated features): the policy lines
 *   iommu_subsys_init prints, the driver's viommu_probe lines, then iommu_probe_device of every
 *   coldplugged device in PCI order; **hotplug** probes one device (pciehp → pci_bus_add_device).
 *   A probe: PROBE (reserved regions), the group (pci_device_group), the group's default domain
 *   (allocated for a new group; ATTACH of the device into it), iommu_setup_dma_ops →
 *   iommu_dma_init_domain (carving only when this device initialises the allocator).
 * - **DMA API**: dma_map / dma_unmap of a device, by handle; a NIC ring (dma-stream).
 * - **Time**: flush-queue timers and the rcache depot work fire on the run's virtual clock
 *   (StampingSink.now): at the first guest operation at or after their deadline, or inside a
 *   `wait`, at the deadline itself.
 * - **Stale translations**: a device access that still translates through a mapping whose UNMAP
 *   the driver has queued but not delivered (lazy mode) is reported ('stale-access') with the
 *   virtual time since the dma_unmap.
 * Guest memory: buffers without an explicit address come from a deterministic page allocator
 * (GUEST_RAM_BASE upward, wrapping inside GUEST_RAM_SIZE).
 */
import { bdfToString } from '../events/text.ts';
import { Component } from '../machine/component.ts';
import type { EventSink } from '../events/sink.ts';
import { leanU64Of } from '../engine/u64.ts';
import type { VfioShadow } from '../host/shadow.ts';
import type { VirtioIommuDevice } from '../viommu/virtio-iommu/device.ts';
import { DmaDomain, DmaIommu, dirFlags, type DmaDevice, type GuestDmaOptions, type MapOutcome } from './dma-iommu.ts';
import { GuestTopology, type GuestPciDevice } from './topology.ts';
import { ViommuDriver, type ResvRegion } from './viommu-driver.ts';

/** Id and kind of the guest component. */
export const GUEST_ID = 'guest0';
export const GUEST_KIND = 'linux';
/** Where the guest's page allocator starts, and how much RAM it cycles through (bytes). */
export const GUEST_RAM_BASE = 0x40000000;
export const GUEST_RAM_SIZE = 0x1000000000;
/** 2^53 - 1: guest-physical addresses up to it are exact as numbers. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The u64 event field of an address `pfn` × `granule` + `offset` (bytes) for `sink`: a number
 * when the sink is lean and the address is below 2^53 (EventSink.lean), else a bigint.
 */
function pageField(sink: EventSink, pfn: number, granule: number, offset: number): bigint {
  const v = pfn * granule + offset;
  return Number.isSafeInteger(v) ? leanU64Of(sink, v) : BigInt(pfn) * BigInt(granule) + BigInt(offset);
}

/** A live (or unmapped) dma_map handle. */
export interface DmaHandle {
  readonly dev: DmaDevice;
  readonly pfn: number;
  readonly pages: number;
  readonly offset: number;
  readonly size: number;
  readonly dir: 1 | 2 | 3;
  /** The DMA address (pfn × granule + offset). */
  readonly iova: bigint;
  live: boolean;
}

/**
 * A dma_map handle whose `iova` bigint is built only when read (the hot path never reads it). A
 * name mapped again after its unmap reuses its object (`set`), and a ring that owns its slots'
 * handles passes them to dmaMap (`into`) and dmaUnmapHandle: no allocation, no name lookup per
 * buffer. `tag` is the buffer's name in events (and pending UNMAP windows).
 */
export class Handle implements DmaHandle {
  live = true;
  tag: string | undefined = undefined;
  constructor(
    public dev: DmaDevice,
    public pfn: number,
    public pages: number,
    public offset: number,
    public size: number,
    public dir: 1 | 2 | 3,
    private granule: number,
  ) {}
  /** An empty (unmapped) handle for a caller's slot. */
  static empty(): Handle {
    const h = new Handle(undefined as unknown as DmaDevice, 0, 0, 0, 0, 3, 4096);
    h.live = false;
    return h;
  }
  set(dev: DmaDevice, pfn: number, pages: number, offset: number, size: number, dir: 1 | 2 | 3, granule: number): void {
    this.dev = dev;
    this.pfn = pfn;
    this.pages = pages;
    this.offset = offset;
    this.size = size;
    this.dir = dir;
    this.granule = granule;
    this.live = true;
  }
  get iova(): bigint {
    return BigInt(this.pfn) * BigInt(this.granule) + BigInt(this.offset);
  }
}

/**
 * What a dma-map did, for the step result and `expect`: one object reused by every call (read it
 * before the next dma-map).
 */
export class DmaMapResult {
  ok = false;
  /** The IOVA page and the offset in it, when mapped. */
  pfn = 0;
  offset = 0;
  pages = 0;
  path: 'rcache' | 'tree' = 'tree';
  error: string | undefined = undefined;
  /** The shadowed host map of an assigned device: mapped, failed, or none (no assigned device in the domain). */
  host: 'mapped' | 'failed' | 'none' = 'none';
  domain = -1;
  granule = 4096;
  /** The DMA address (IOVA + offset), when mapped. */
  get iova(): bigint | undefined {
    return this.ok ? BigInt(this.pfn) * BigInt(this.granule) + BigInt(this.offset) : undefined;
  }
}

/** What a dma-unmap did: one object reused by every call (read it before the next dma-unmap). */
export class DmaUnmapResult {
  /** Why it could not unmap (unknown or already unmapped handle, no DMA domain), or null. */
  error: string | null = null;
  /** The shadowed host unmap of an assigned device: unmapped, failed, or none. */
  host: 'unmapped' | 'failed' | 'none' = 'none';
  /** strict (synced, IOVA freed) or queued (lazy: IOVA on the flush queue). */
  mode: 'strict' | 'queued' = 'strict';
  /** Sets every field; returns this. */
  set(error: string | null, host: DmaUnmapResult['host'], mode: DmaUnmapResult['mode']): this {
    this.error = error;
    this.host = host;
    this.mode = mode;
    return this;
  }
}

/** The guest kernel's DMA layer (see the module comment). */
export class GuestKernelComponent extends Component {
  readonly topology: GuestTopology;
  private driver: ViommuDriver | null = null;
  private dma: DmaIommu | null = null;
  private readonly domains: DmaDomain[] = [];
  private readonly devices = new Map<string, DmaDevice>();
  /** The same devices by endpoint (requester ID): a replay's calls name devices by PCI address. */
  private readonly byEndpoint = new Map<number, DmaDevice>();
  private readonly handles = new Map<string, Handle>();
  // The last device dmaMap looked up, by name or endpoint (a ring maps one device's buffers over and over).
  private lastKey: string | number = '';
  private lastDev: DmaDevice | undefined = undefined;
  private nextPhys = GUEST_RAM_BASE;
  private readonly mapOut: MapOutcome = { pfn: 0, pages: 0, path: 'tree' };
  private readonly mapResult = new DmaMapResult();
  private readonly unmapResult = new DmaUnmapResult();

  constructor(
    readonly opts: GuestDmaOptions,
    devices: readonly GuestPciDevice[],
    private readonly viommu: () => VirtioIommuDevice,
    private readonly shadow: VfioShadow | undefined,
  ) {
    super({ id: GUEST_ID, kind: GUEST_KIND, layer: 'guest', uses: ['viommu0'] });
    this.topology = new GuestTopology(devices);
  }

  protected onRealize(): string | null {
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}

  /** The virtio-iommu driver (after boot). */
  get drv(): ViommuDriver {
    if (this.driver === null) throw new Error('guest: not booted');
    return this.driver;
  }

  private log(level: number, text: string, device?: string): void {
    const e = this.emitter;
    if (e.enabled) e.emit('guest-log', { level, alert: level >= 2 ? 1 : 0, data: device === undefined ? { text } : { device, text } });
  }

  /** Boots the guest: the policy lines, the driver's probe and every coldplugged device's probe (names in PCI order). */
  boot(coldplugged: readonly string[]): void {
    this.log(0, 'iommu: Default domain type: Translated');
    this.log(0, `iommu: DMA domain TLB invalidation policy: ${this.opts.iommuDma} mode`);
    const drv = (this.driver = new ViommuDriver(this.viommu(), this.emitter));
    this.dma = new DmaIommu(drv, this.opts, this.emitter, (d, reason, freed, cpu) => this.fqFlushed(d, reason, freed, cpu));
    const end = drv.apertureEnd;
    this.log(0, `input address: ${end <= 1n ? 0 : (end - 1n).toString(2).length} bits`, 'virtio0');
    this.log(0, `page mask: 0x${drv.pageSizeMask.toString(16)}`, 'virtio0');
    const names = [...coldplugged].sort((a, b) => this.topology.device(a)!.endpoint - this.topology.device(b)!.endpoint);
    for (const n of names) this.probe(n, false);
  }

  /** iommu_probe_device of a hotplugged device. */
  hotplug(name: string): void {
    if (this.driver === null) return;
    this.probe(name, true);
  }

  /** The device's DMA state (undefined before its probe, or when the probe failed). */
  deviceState(name: string): DmaDevice | undefined {
    return this.devices.get(name);
  }

  private probe(name: string, hotplug: boolean): void {
    const drv = this.drv;
    const dma = this.dma!;
    const pci = this.topology.device(name)!;
    const e = this.emitter;
    const probe = drv.probeEndpoint(pci.endpoint);
    for (const s of probe.unknownSubtypes) this.log(2, `unknown resv mem subtype 0x${s.toString(16)}`, name);
    if (probe.errno !== 0) {
      if (e.enabled) e.emit('guest-probe', { endpoint: pci.endpoint, group: 0, init: 2, data: { device: name, hotplug, error: `viommu_probe_endpoint: ${probe.errno}` } });
      return;
    }
    const { group, why } = this.topology.probeGroup(name);
    let d = this.domains.find((x) => x.group === group);
    if (d === undefined) {
      d = new DmaDomain(group, drv.allocDomain(), this.opts.iommuDma === 'lazy');
      this.domains.push(d);
    }
    const errno = drv.attach(d.drv, pci.endpoint);
    if (errno !== 0) {
      if (e.enabled) e.emit('guest-probe', { endpoint: pci.endpoint, group: group.id, init: 2, data: { device: name, hotplug, groupWhy: why, error: `viommu_attach_dev: ${errno}` } });
      return;
    }
    const init = dma.initDomain(d, probe.regions, true);
    if (init.errno !== 0) this.log(2, 'Incompatible range for DMA domain', name);
    const dev = dma.deviceState(name, pci.endpoint, d, pci.dmaMask);
    this.devices.set(name, dev);
    this.byEndpoint.set(pci.endpoint, dev);
    this.lastDev = undefined;
    if (e.enabled) {
      const hex = (v: bigint) => '0x' + v.toString(16);
      const g = BigInt(drv.granule);
      e.emit('guest-probe', {
        endpoint: pci.endpoint,
        domain: d.drv.id,
        group: group.id,
        init: init.init === 'first' ? 0 : 1,
        data: {
          device: name,
          hotplug,
          groupWhy: why,
          domainType: d.type === 'DMA_FQ' ? 'DMA-FQ' : 'DMA',
          regions: probe.regions.map((r: ResvRegion) => ({ type: r.type, start: hex(r.start), end: hex(r.end) })),
          carved: init.carved.map((c) => ({ start: hex(BigInt(c.loPfn) * g), end: hex(BigInt(c.hiPfn + 1) * g - 1n), source: c.source })),
          aperture: [hex(drv.apertureStart), hex(drv.apertureEnd)],
          granule: drv.granule,
          dmaLimitBits: dev.limitBits,
        },
      });
      for (const c of init.carved) e.emit('iova-reserve', { domain: d.drv.id, start: BigInt(c.loPfn) * g, end: BigInt(c.hiPfn + 1) * g - 1n, data: { source: c.source, device: name } });
    }
  }

  /** A buffer's guest-physical address: `phys` as given, else the next pages of the page allocator. */
  private bufferPhys(size: number, offset: number): number {
    const g = this.drv.granule;
    const bytes = Math.ceil((size + offset) / g) * g;
    if (this.nextPhys + bytes > GUEST_RAM_BASE + GUEST_RAM_SIZE) this.nextPhys = GUEST_RAM_BASE;
    const p = this.nextPhys;
    this.nextPhys += bytes;
    return p;
  }

  /** A device's name for messages: `device` itself, or the guest device at that endpoint (its PCI address when none). */
  private deviceLabel(device: string | number): string {
    if (typeof device === 'string') return device;
    return this.topology.deviceAt(device)?.name ?? bdfToString(device);
  }

  /**
   * dma_map_single/dma_map_page of `size` bytes (< 2^52) at `phys` (default: fresh pages) +
   * `offset`, direction `dir`, on `cpu`, for `device` — its name, or its endpoint (requester ID:
   * a replay's calls name devices by PCI address); bound to `handle` when given. Fires due timers
   * first.
   */
  dmaMap(device: string | number, size: number, dir: 1 | 2 | 3, cpu: number, phys: bigint | undefined, offset: number, handle: string | undefined, into?: Handle): DmaMapResult {
    this.runTimers();
    let dev = this.lastDev;
    if (device !== this.lastKey || dev === undefined) {
      dev = typeof device === 'number' ? this.byEndpoint.get(device) : this.devices.get(device);
      this.lastKey = device;
      this.lastDev = dev;
    }
    if (dev === undefined) {
      const r = this.mapResult;
      r.ok = false;
      r.pages = 0;
      r.path = 'tree';
      r.error = `${this.deviceLabel(device)} has no DMA domain (not probed behind the vIOMMU)`;
      r.host = 'none';
      r.domain = -1;
      return r;
    }
    const g = this.drv.granule;
    // __iommu_dma_map keeps phys's offset in its granule page: iova_offset(iovad, phys). Numbers
    // on the hot path (a guest-physical address is below 2^52 here); bigints only for events.
    let physPfn: number;
    let off: number;
    if (phys === undefined) {
      // Fresh pages are granule-aligned: only the offset's part inside a granule remains.
      off = offset & (g - 1); // g is a power of two <= 2^16 (ToInt32 keeps the low bits of any u32 offset)
      physPfn = (this.bufferPhys(size, offset) + offset - off) / g;
    } else if (phys <= MAX_SAFE) {
      // A number below 2^53: the same arithmetic without bigint division (g a power of two: exact).
      const p = Number(phys);
      physPfn = Math.floor(p / g);
      off = p - physPfn * g;
    } else {
      off = Number(phys % BigInt(g));
      physPfn = Number(phys / BigInt(g));
    }
    const sh = this.shadow;
    const maps0 = sh?.counters.maps ?? 0;
    const fails0 = sh?.counters.failures ?? 0;
    const out = this.mapOut;
    const dma = this.dma!;
    let pfn = dma.alloc(dev, off, size, cpu, out);
    const e = this.emitter;
    // The guest's intent first (its IOVA is known once allocated), then what iommu_map does below it.
    if (e.enabled) {
      // One object of its final shape (a replay maps by the million).
      const data: Record<string, unknown> = handle !== undefined ? { device: dev.name, cpu, pages: out.pages, path: out.path, handle } : { device: dev.name, cpu, pages: out.pages, path: out.path };
      if (out.error !== undefined) data.error = out.error;
      const physBytes = phys ?? pageField(e, physPfn, g, off);
      if (pfn === 0) e.emit('dma-map', { endpoint: dev.endpoint, domain: dev.domain.drv.id, size: leanU64Of(e, size), phys: physBytes, dir, outcome: 1, data });
      else e.emit('dma-map', { endpoint: dev.endpoint, domain: dev.domain.drv.id, iova: pageField(e, pfn, g, off), size: leanU64Of(e, size), phys: physBytes, dir, outcome: 0, data });
    }
    if (pfn !== 0) {
      const rc = dma.mapRange(dev, pfn, physPfn, out.pages, dirFlags(dir), cpu);
      if (rc !== 0) {
        // Not reachable through the DMA API's flags (READ/WRITE are always in map_flags); kept exact.
        this.log(3, `iommu_map failed (${rc}): DMA_MAPPING_ERROR`, dev.name);
        out.error = `iommu_map failed (${rc})`;
        pfn = 0;
      }
    }
    const host: DmaMapResult['host'] = sh === undefined || sh.counters.maps === maps0 ? 'none' : sh.counters.failures !== fails0 ? 'failed' : 'mapped';
    if (pfn !== 0 && into !== undefined) {
      into.set(dev, pfn, out.pages, off, size, dir, g);
      into.tag = handle;
    } else if (pfn !== 0 && handle !== undefined) {
      const old = this.handles.get(handle);
      if (old !== undefined && !old.live) old.set(dev, pfn, out.pages, off, size, dir, g);
      else {
        const h = new Handle(dev, pfn, out.pages, off, size, dir, g);
        h.tag = handle;
        this.handles.set(handle, h);
      }
    }
    const result = this.mapResult;
    result.ok = pfn !== 0;
    result.pfn = pfn;
    result.offset = off;
    result.pages = out.pages;
    result.path = out.path;
    result.error = out.error;
    result.host = host;
    result.domain = dev.domain.drv.id;
    result.granule = g;
    return result;
  }

  /** The handle's mapping (undefined when no dma-map bound it). */
  handle(name: string): DmaHandle | undefined {
    return this.handles.get(name);
  }

  /**
   * dma_unmap of a named handle (or of an explicit device/IOVA/size, `tag` undefined). The result's
   * `error` is null or why it could not (unknown or already unmapped handle; no DMA domain).
   */
  dmaUnmap(h: { handle: string } | { device: string; iova: bigint; size: number; dir: 1 | 2 | 3 }, cpu: number): DmaUnmapResult {
    if ('handle' in h) return this.dmaUnmapNamed(h.handle, cpu);
    this.runTimers();
    const g = this.drv.granule;
    const dev = this.devices.get(h.device);
    if (dev === undefined) return this.unmapResult.set(`${h.device} has no DMA domain`, 'none', 'strict');
    const off = Number(h.iova % BigInt(g));
    return this.unmapPages(dev, Number(h.iova / BigInt(g)), Math.ceil((h.size + off) / g), off, h.size, h.dir, undefined, cpu);
  }

  /** dma_unmap of the handle named `handle` (dmaUnmap's first form, without an object per call). */
  dmaUnmapNamed(handle: string, cpu: number): DmaUnmapResult {
    const m = this.handles.get(handle);
    if (m !== undefined) return this.dmaUnmapHandle(m, cpu);
    this.runTimers(); // as every call: the timers due by now fire first
    return this.unmapResult.set(`unknown handle "${handle}"`, 'none', 'strict');
  }

  /** dma_unmap of a handle object (a named one, or a ring slot's passed to dmaMap as `into`). */
  dmaUnmapHandle(m: Handle, cpu: number): DmaUnmapResult {
    this.runTimers();
    if (!m.live) return this.unmapResult.set(`handle "${m.tag}" is already unmapped (a second dma_unmap would free its IOVA twice)`, 'none', 'strict');
    m.live = false;
    return this.unmapPages(m.dev, m.pfn, m.pages, m.offset, m.size, m.dir, m.tag, cpu);
  }

  /** __iommu_dma_unmap of a mapping and its events (dmaUnmap, dmaUnmapHandle). */
  private unmapPages(dev: DmaDevice, pfn: number, pages: number, off: number, size: number, dir: 1 | 2 | 3, tag: string | undefined, cpu: number): DmaUnmapResult {
    const g = this.drv.granule;
    const sh = this.shadow;
    const un0 = sh?.counters.unmaps ?? 0;
    const fails0 = sh?.counters.failures ?? 0;
    const queued = dev.domain.fq !== null;
    const e = this.emitter;
    if (e.enabled) e.emit('dma-unmap', { endpoint: dev.endpoint, domain: dev.domain.drv.id, iova: pageField(e, pfn, g, off), size: leanU64Of(e, size), dir, mode: queued ? 1 : 0, data: tag === undefined ? { device: dev.name, cpu } : { device: dev.name, cpu, handle: tag } });
    const unmapped = this.dma!.unmap(dev, pfn, pages, cpu, tag);
    if (unmapped !== pages) this.log(2, `WARNING at drivers/iommu/dma-iommu.c __iommu_dma_unmap: WARN_ON(unmapped != size): 0x${(unmapped * g).toString(16)} of 0x${(pages * g).toString(16)} bytes unmapped`, dev.name);
    const host = sh === undefined || sh.counters.unmaps === un0 ? 'none' : sh.counters.failures !== fails0 ? 'failed' : 'unmapped';
    return this.unmapResult.set(null, host, queued ? 'queued' : 'strict');
  }

  /** A flush-queue flush happened (from a queue_iova or a timer): its event. */
  private fqFlushed(d: DmaDomain, reason: number, freed: number, cpu: number): void {
    const e = this.emitter;
    if (e.enabled) e.emit('fq-flush', { domain: d.drv.id, reason, freed, data: { cpu, startCnt: d.fq!.startCnt, finishCnt: d.fq!.finishCnt, pending: d.fq!.pending() } });
  }

  /** The earliest timer deadline (virtual ns), or -1 when none is armed. */
  nextTimer(): number {
    let t = -1;
    const ds = this.domains;
    for (let i = 0; i < ds.length; i++) {
      const d = ds[i];
      const f = d.fq === null ? -1 : d.fq.timerDeadlineNs();
      if (f >= 0 && (t < 0 || f < t)) t = f;
      const w = d.depotNext;
      if (w >= 0 && (t < 0 || w < t)) t = w;
    }
    return t;
  }

  /** Fires every timer due at or before the current virtual time, earliest first. */
  runTimers(): void {
    if (this.domains.length === 0) return;
    for (;;) {
      const t = this.nextTimer();
      if (t < 0 || t > this.emitter.now) return;
      this.fire(t);
    }
  }

  /** Fires the timers due at `t`. */
  private fire(t: number): void {
    for (const d of this.domains) {
      const fq = d.fq;
      if (fq !== null && fq.timerDeadlineNs() === t) {
        const s = fq.stats;
        const freed = s.freed;
        const cpu = fq.timerCpu();
        fq.fire(t);
        this.fqFlushed(d, 1, s.freed - freed, cpu);
      }
      for (let o = 0; o < d.depotDue.length; o++) {
        if (d.depotDue[o] === t) {
          d.disarmDepot(o);
          d.iovad!.depotWork(o);
        }
      }
    }
  }

  /** `wait`: `ns` of virtual time pass; timers due inside fire at their deadlines (wait events cover the gaps). */
  wait(ns: number): void {
    const e = this.emitter;
    const end = e.now + ns;
    for (;;) {
      const t = this.nextTimer();
      if (t < 0 || t > end) break;
      if (t > e.now) e.emit('wait', { ns: leanU64Of(e, t - e.now) });
      this.fire(t);
    }
    if (end > e.now) e.emit('wait', { ns: leanU64Of(e, end - e.now) });
  }

  /**
   * After a device access translated: when `addr` lies in a mapping whose UNMAP is queued but not
   * delivered (lazy window), reports the stale translation and returns its age; else null.
   */
  staleCheck(endpoint: number, addr: bigint, phys: bigint | undefined, access: 1 | 2, path: 'viommu' | 'host'): { sinceNs: number; handle?: string } | null {
    if (this.driver === null) return null;
    const dev = this.byEndpoint.get(endpoint);
    if (dev === undefined) return null;
    const w = this.driver.pendingUnmapAt(dev.domain.drv.id, Number(addr / BigInt(this.driver.granule)));
    if (w === undefined) return null;
    const e = this.emitter;
    const sinceNs = e.now - w.t0;
    if (e.enabled) {
      const data: Record<string, unknown> = { device: dev.name, unmappedAtNs: w.t0, path };
      if (w.tag !== undefined) data.handle = w.tag;
      e.emit('stale-access', { endpoint, address: addr, sinceNs: BigInt(sinceNs), ...(phys === undefined ? {} : { phys }), access, data });
    }
    return w.tag === undefined ? { sinceNs } : { sinceNs, handle: w.tag };
  }

  /** The DMA domains (for views and tests). */
  domainList(): readonly DmaDomain[] {
    return this.domains;
  }
}
