/**
 * The host backends as machine components (layer 'backend', DESIGN.md §2): 'iommufd0' (kind
 * 'iommufd': one open /dev/iommu, plus iommufd's VFIO compatibility for `vfio:` steps) and 'vfio0'
 * (kind 'vfio-type1': legacy VFIO containers with the type1 driver). Both wrap the engines of
 * core/host/backend (built over one platform with shared DMA ownership, from-platform.ts
 * hostBackends) and:
 *  - execute a scenario's scripted uAPI calls (calls.ts);
 *  - implement HostBackend (core/machine/layers.ts) the way QEMU's VFIO code drives the kernel
 *    (reference ../../../../shared/reference/iommufd-vfio-hostiommu.md §5.2): attachDevice /
 *    detachDevice (hw/vfio/container.c legacy container setup; hw/vfio/iommufd.c +
 *    backends/iommufd.c), dmaMap / dmaUnmap (the legacy helper's EBUSY unmap-and-retry; iommufd's
 *    ENOENT-as-success on unmap);
 *  - emit one 'host-call' event per uAPI call (scripted or QEMU's), with `cause` when a guest
 *    event led to it.
 */
import { Component } from '../../machine/component.ts';
import type { BackendAttachment, HostBackend, IovaRange } from '../../machine/layers.ts';
import type { HostBackends } from '../backend/from-platform.ts';
import type { CdevBoundDevice } from '../backend/iommufd/device.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../backend/iommufd/uapi.ts';
import { VFIO_DMA_MAP_FLAG, VFIO_EXT } from '../backend/vfio-type1/constants.ts';
import { ERRNO } from '../errno.ts';
import { ioasMap32, ioasUnmap32 } from '../backend/iommufd/ioas.ts';
import { u64 } from '../../engine/u64.ts';
import { iommufdCall, vfioCall, type CallOutcome, type IommufdTarget, type OutputValue, type ResolvedArg } from './calls.ts';
import { strerror } from '../errno.ts';

/** Code of the backend in a 'host-call' event's `backend` field (core/events/host-text.ts HOST_BACKENDS). */
export const HOST_CALL_BACKEND = { iommufd: 1, 'vfio-type1': 2, 'iommufd-compat': 3 } as const;

/** Where a host DMA went: the user VA (pinned memory) it reached and the domain, or the fault reason. */
export type HostDmaOutcome = { translated: bigint; domain?: number } | { fault: { reason: string; address: bigint } };

/** JSON form of an output or argument value (u64 as "0x…"). */
export function jsonValue(v: OutputValue | boolean): unknown {
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const a = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) a[i] = jsonValue(v[i] as OutputValue);
    return a;
  }
  // A loop, not Object.fromEntries(Object.entries(…).map(…)): every host-call event builds two of these.
  const o: Record<string, unknown> = {};
  for (const k in v) if (Object.hasOwn(v, k)) o[k] = jsonValue((v as Record<string, OutputValue>)[k]);
  return o;
}

/** A backend component: the engines, the event, and QEMU's helpers common to both. */
abstract class BackendComponentBase extends Component implements HostBackend {
  declare readonly layer: 'backend';
  abstract readonly backend: 'vfio-type1' | 'iommufd';

  constructor(
    id: string,
    kind: string,
    /** The engines over the scenario's platform (shared with the other backend component). */
    readonly engines: HostBackends,
  ) {
    super({ id, kind, layer: 'backend' });
  }

  /**
   * Set on the machine's main backend: at realize it reports the emulated groups (an mdev's own
   * group, vfio_register_emulated_iommu_dev), which no physical IOMMU component reports.
   */
  reportsEmulatedGroups = false;

  protected onRealize(): string | null {
    const e = this.emitter;
    if (this.reportsEmulatedGroups && e.enabled) {
      for (const g of this.engines.host.groups) {
        if (g.iommu === null) e.emit('iommu-group', { group: g.id >>> 0, data: { iommu: null, devices: [...g.members], why: 'mdev: an emulated group of its own (vfio_register_emulated_iommu_dev)' } });
      }
    }
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}

  /** Emits the 'host-call' event of one uAPI call (nothing when events are off). */
  protected emitCall(backend: number, op: string, o: CallOutcome, cause?: number): void {
    const e = this.emitter;
    if (!e.enabled) return;
    const payload: { backend: number; errno: number; call: unknown; id?: number; iova?: bigint; length?: bigint; cause?: bigint } = {
      backend,
      errno: o.errno,
      call: { op, ioctl: o.ioctl, args: jsonValue(o.args), out: jsonValue(o.outputs) },
    };
    if (o.id !== undefined) payload.id = o.id >>> 0;
    if (o.iova !== undefined) payload.iova = o.iova;
    if (o.length !== undefined) payload.length = o.length;
    if (cause !== undefined) payload.cause = BigInt(cause);
    e.emit('host-call', payload);
  }

  /** A scripted `vfio:` call: on type1 (vfio0) or iommufd's VFIO compatibility (iommufd0). Emits its host-call. */
  abstract vfioStep(op: string, args: Readonly<Record<string, ResolvedArg>>): CallOutcome;

  /** A host device's DMA through the domain this backend attached its group to; undefined when this backend does not hold the device. */
  abstract hostDma(device: string, iova: bigint, size: bigint, access: 'read' | 'write'): HostDmaOutcome | undefined;

  abstract attachDevice(hostDevice: string, addressSpace: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string };
  abstract detachDevice(hostDevice: string): void;
  abstract dmaMap(addressSpace: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean, cause?: number): number;
  abstract dmaUnmap(addressSpace: string, iova: bigint, size: bigint, cause?: number): number;
}

/** 'iommufd0': the iommufd engine (native uAPI), and iommufd's VFIO compatibility for `vfio:` steps. */
export class IommufdBackendComponent extends BackendComponentBase {
  readonly backend = 'iommufd' as const;
  /** Address space → IOAS ID (QEMU: one IOAS per VFIOContainer, i.e. per address space). */
  private readonly ioasOf = new Map<string, number>();
  /** Host device → its DEVICE ID and address space (QEMU's vbasedev->devid). */
  private readonly attached = new Map<string, { devId: number; addressSpace: string }>();
  private userVa = 0x7f00_0000_0000n;
  private readonly target: IommufdTarget;

  constructor(engines: HostBackends, id = 'iommufd0') {
    super(id, 'iommufd', engines);
    this.target = {
      engine: engines.iommufd,
      // An mdev binds as an emulated device: vfio_iommufd_emulated_bind → iommufd_access_create,
      // an ACCESS (core/host/backend/iommufd/access.ts), through its cdev like a physical one.
      bind: (d) => {
        const host = engines.host.deviceByName.get(d);
        if (host?.type !== 'mdev') return engines.bind(d);
        return engines.iommufd.accessCreate({ name: d, group: host.group, iommu: undefined, reservedRegions: [], cdev: { files: engines.groupFiles } } as CdevBoundDevice);
      },
      nextUserVa: (length) => {
        // Fresh 1 GiB-aligned buffers: the kernel-chosen IOVA's alignment follows the user VA's
        // (iopt_alloc_iova, reference §2.1), so a big alignment leaves it to the length's.
        const va = this.userVa;
        const gib = 0x4000_0000n;
        this.userVa += ((length + gib - 1n) / gib || 1n) * gib;
        return va;
      },
    };
  }

  /** A scripted `iommufd:` call. Emits its host-call. */
  iommufdStep(op: string, args: Readonly<Record<string, ResolvedArg>>): CallOutcome {
    const o = iommufdCall(this.target, op, args);
    this.emitCall(HOST_CALL_BACKEND.iommufd, op, o);
    return o;
  }

  vfioStep(op: string, args: Readonly<Record<string, ResolvedArg>>): CallOutcome {
    const o = vfioCall(this.engines.compat, op, args);
    this.emitCall(HOST_CALL_BACKEND['iommufd-compat'], op, o);
    return o;
  }

  hostDma(device: string, iova: bigint, size: bigint, access: 'read' | 'write'): HostDmaOutcome | undefined {
    const devId = this.engines.iommufd.deviceIdOf(device);
    const r = devId > 0 ? this.engines.iommufd.hostDma(devId, iova, size, access) : this.engines.compat.translate(device, iova, size, access);
    if ('translated' in r) return { translated: r.translated, domain: r.hwptId };
    if (devId === 0 && r.fault.reason === 'not-bound') return undefined;
    return { fault: { reason: r.fault.reason, address: r.fault.iova } };
  }

  /**
   * QEMU's iommufd_cdev_attach (hw/vfio/iommufd.c): VFIO_DEVICE_BIND_IOMMUFD, the address space's
   * IOAS (IOMMU_IOAS_ALLOC on first use), VFIO_DEVICE_ATTACH_IOMMUFD_PT to it (an auto domain),
   * IOMMU_IOAS_IOVA_RANGES (num_iovas 0 → EMSGSIZE, then again), IOMMU_GET_HW_INFO.
   */
  attachDevice(hostDevice: string, addressSpace: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string } {
    const fd = this.engines.iommufd;
    const bind = this.call('device-bind', { device: hostDevice });
    if (bind.errno !== 0) return { ok: false, error: `error bind device fd to iommufd: ${strerror(bind.errno)}` };
    const devId = Number(bind.bound);
    let ioasId = this.ioasOf.get(addressSpace);
    if (ioasId === undefined) {
      const a = this.call('ioas-alloc', {});
      if (a.errno !== 0) {
        fd.deviceUnbind(devId);
        return { ok: false, error: `Failed to allocate ioas: ${strerror(a.errno)}` };
      }
      ioasId = Number(a.bound);
      this.ioasOf.set(addressSpace, ioasId);
    }
    const at = this.call('device-attach', { dev: devId, pt: ioasId });
    if (at.errno !== 0) {
      fd.deviceUnbind(devId);
      return { ok: false, error: `error attach ${hostDevice} (${devId}) to id=${ioasId}: ${strerror(at.errno)}` };
    }
    this.attached.set(hostDevice, { devId, addressSpace });
    // iommufd_cdev_get_info_iova_range: first with num_iovas 0 (EMSGSIZE tells the count), then again.
    let ranges = this.call('ioas-iova-ranges', { ioas: ioasId, 'num-iovas': 0 });
    if (ranges.errno === ERRNO.EMSGSIZE) ranges = this.call('ioas-iova-ranges', { ioas: ioasId, 'num-iovas': ranges.outputs['num-iovas'] as number });
    const iovaRanges: IovaRange[] = ranges.errno === 0 ? (ranges.outputs.ranges as [bigint, bigint][]).map(([start, end]) => ({ start, end })) : [{ start: 0n, end: 0xffffffffffffffffn }];
    const pgsizes = ranges.errno === 0 ? (ranges.outputs['out-iova-alignment'] as bigint) : 0x1000n;
    const dev = this.engines.host.deviceByName.get(hostDevice);
    // An mdev is attached straight to the IOAS and never asked for hw info (hw/vfio/iommufd.c
    // iommufd_cdev_attach_container: "mdevs aren't physical devices and will fail with auto
    // domains"; no HostIOMMUDevice either); its bind made an ACCESS (access.ts), not a DEVICE.
    const mdev = dev?.type === 'mdev';
    const info = mdev ? { errno: ERRNO.ENOENT, outputs: {} } : this.call('get-hw-info', { dev: devId, 'data-len': 256 });
    const iommu = dev?.iommu ? this.engines.host.iommus.get(dev.iommu) : undefined;
    const hw = iommu?.hwInfo;
    const data: Record<string, bigint | number | readonly (bigint | number)[]> = hw?.vtd ? { flags: hw.vtd.flags, capReg: hw.vtd.capReg, ecapReg: hw.vtd.ecapReg } : hw?.smmuv3 ? { flags: hw.smmuv3.flags, idr: hw.smmuv3.idr, iidr: hw.smmuv3.iidr, aidr: hw.smmuv3.aidr } : {};
    const attachment: BackendAttachment = {
      backend: 'iommufd',
      iovaRanges,
      pgsizes,
      devId,
      ...(mdev ? {} : { hwptId: Number(at.bound) }),
      container: ioasId,
      ...(info.errno === 0 ? { hwInfo: { type: info.outputs['out-data-type'] as number, capabilities: info.outputs['out-capabilities'] as bigint, data } } : {}),
    };
    return { ok: true, attachment };
  }

  /** QEMU's iommufd_cdev_detach: VFIO_DEVICE_DETACH_IOMMUFD_PT, unbind; the IOAS goes with its last device (IOMMU_DESTROY). */
  detachDevice(hostDevice: string): void {
    const a = this.attached.get(hostDevice);
    if (a === undefined) return;
    this.attached.delete(hostDevice);
    this.call('device-detach', { dev: a.devId });
    this.call('device-unbind', { dev: a.devId });
    if (![...this.attached.values()].some((x) => x.addressSpace === a.addressSpace)) {
      const ioasId = this.ioasOf.get(a.addressSpace);
      this.ioasOf.delete(a.addressSpace);
      if (ioasId !== undefined) this.call('destroy', { id: ioasId });
    }
  }

  /** iommufd_backend_map_dma: IOMMU_IOAS_MAP with READABLE | FIXED_IOVA, plus WRITEABLE unless read-only (reference §5.2). */
  dmaMap(addressSpace: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean, cause?: number): number {
    const ioasId = this.ioasOf.get(addressSpace) ?? 0;
    const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA | (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE);
    return this.call('ioas-map', { ioas: ioasId, iova, length: size, 'user-va': vaddr, flags: [flags] }, cause).errno;
  }

  /** iommufd_backend_unmap_dma: IOMMU_IOAS_UNMAP; ENOENT counts as success (trace iommufd_backend_unmap_dma_non_exist; reference §5.2). */
  dmaUnmap(addressSpace: string, iova: bigint, size: bigint, cause?: number): number {
    const ioasId = this.ioasOf.get(addressSpace) ?? 0;
    const errno = this.call('ioas-unmap', { ioas: ioasId, iova, length: size }, cause).errno;
    return errno === ERRNO.ENOENT ? 0 : errno;
  }

  /**
   * HostBackend.dmaMap32 (the shadow's hot path): dmaMap on u32 halves. With events off it goes
   * straight to the engine's IOMMU_IOAS_MAP entry point (ioasMap32: the same checks and errnos);
   * with events on, through dmaMap, whose host-call event needs the call record. `cause` -1 = none.
   */
  dmaMap32(addressSpace: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number, vaHi: number, vaLo: number, readonly: boolean, cause: number): number {
    if (this.emitter.enabled) return this.dmaMap(addressSpace, u64(iovaHi, iovaLo), u64(sizeHi, sizeLo), u64(vaHi, vaLo), readonly, cause < 0 ? undefined : cause);
    const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA | (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE);
    return ioasMap32(this.engines.iommufd.ctx, this.ioasOf.get(addressSpace) ?? 0, flags, vaHi, vaLo, sizeHi, sizeLo, iovaHi, iovaLo);
  }

  /** HostBackend.dmaUnmap32: dmaUnmap on u32 halves (events off: ioasUnmap32; ENOENT counts as success). */
  dmaUnmap32(addressSpace: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number, cause: number): number {
    if (this.emitter.enabled) return this.dmaUnmap(addressSpace, u64(iovaHi, iovaLo), u64(sizeHi, sizeLo), cause < 0 ? undefined : cause);
    const errno = ioasUnmap32(this.engines.iommufd.ctx, this.ioasOf.get(addressSpace) ?? 0, iovaHi, iovaLo, sizeHi, sizeLo);
    return errno === ERRNO.ENOENT ? 0 : errno;
  }

  /** One iommufd call made by QEMU (not scripted): executed and emitted like a scripted one. */
  private call(op: string, args: Readonly<Record<string, ResolvedArg>>, cause?: number): CallOutcome {
    const o = iommufdCall(this.target, op, args);
    this.emitCall(HOST_CALL_BACKEND.iommufd, op, o, cause);
    return o;
  }
}

/** 'vfio0': legacy VFIO containers with the type1 IOMMU driver. */
export class VfioType1BackendComponent extends BackendComponentBase {
  readonly backend = 'vfio-type1' as const;
  /** Address space → container number (QEMU: one VFIOContainer per address space, groups joined to it). */
  private readonly containerOf = new Map<string, number>();
  /** Host device → its group and address space. */
  private readonly attached = new Map<string, { group: number; addressSpace: string }>();

  constructor(engines: HostBackends, id = 'vfio0') {
    super(id, 'vfio-type1', engines);
  }

  vfioStep(op: string, args: Readonly<Record<string, ResolvedArg>>): CallOutcome {
    return this.call(op, args);
  }

  hostDma(device: string, iova: bigint, size: bigint, access: 'read' | 'write'): HostDmaOutcome | undefined {
    if (!this.engines.host.deviceByName.has(device)) return undefined;
    const r = this.engines.type1.translate(device, iova, size, access);
    if ('translated' in r) return { translated: r.translated };
    return { fault: { reason: r.fault.reason, address: r.fault.iova } };
  }

  /**
   * QEMU's legacy attach (hw/vfio/container.c vfio_connect_container): the group joins the address
   * space's container (VFIO_GROUP_SET_CONTAINER), or a new one is opened (VFIO_CHECK_EXTENSION
   * type1v2, VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU type1v2, VFIO_IOMMU_GET_INFO); then the
   * device is opened (VFIO_GROUP_GET_DEVICE_FD). pgsizes = iova_pgsizes; iova_ranges from the
   * IOVA_RANGE capability (reference §5.2).
   */
  attachDevice(hostDevice: string, addressSpace: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string } {
    const dev = this.engines.host.deviceByName.get(hostDevice);
    if (dev === undefined) return { ok: false, error: `no such host device ${hostDevice}` };
    const group = dev.group;
    let container = this.containerOf.get(addressSpace);
    if (container !== undefined) {
      const r = this.call('group-set-container', { group, container });
      if (r.errno !== 0) return { ok: false, error: `Failed to set group container: ${strerror(r.errno)}` };
    } else {
      const open = this.call('container-open', {});
      if (open.errno !== 0) return { ok: false, error: `failed to open /dev/vfio/vfio: ${strerror(open.errno)}` };
      container = Number(open.bound);
      const ext = this.call('check-extension', { container, extension: VFIO_EXT.TYPE1v2_IOMMU });
      const type = ext.errno === 0 && ext.outputs.value === 1 ? VFIO_EXT.TYPE1v2_IOMMU : VFIO_EXT.TYPE1_IOMMU;
      const set = this.call('group-set-container', { group, container });
      if (set.errno !== 0) return { ok: false, error: `Failed to set group container: ${strerror(set.errno)}` };
      const iommu = this.call('set-iommu', { container, type });
      if (iommu.errno !== 0) {
        this.call('group-unset-container', { group });
        return { ok: false, error: `Failed to set iommu for container: ${strerror(iommu.errno)}` };
      }
      this.containerOf.set(addressSpace, container);
    }
    const openDev = this.call('device-open', { device: hostDevice });
    if (openDev.errno !== 0) return { ok: false, error: `error getting device from group ${group}: ${strerror(openDev.errno)}` };
    const info = this.call('get-info', { container });
    const ranges = (info.outputs['iova-ranges'] as [bigint, bigint][] | undefined) ?? [];
    this.attached.set(hostDevice, { group, addressSpace });
    return {
      ok: true,
      attachment: {
        backend: 'vfio-type1',
        iovaRanges: ranges.map(([start, end]) => ({ start, end })),
        pgsizes: (info.outputs['iova-pgsizes'] as bigint | undefined) ?? 0x1000n,
        container,
      },
    };
  }

  /** QEMU's legacy detach: the group leaves its container (VFIO_GROUP_UNSET_CONTAINER) when no other device of it remains. */
  detachDevice(hostDevice: string): void {
    const a = this.attached.get(hostDevice);
    if (a === undefined) return;
    this.attached.delete(hostDevice);
    if ([...this.attached.values()].some((x) => x.group === a.group)) return;
    this.call('group-unset-container', { group: a.group });
    if (![...this.attached.values()].some((x) => x.addressSpace === a.addressSpace)) this.containerOf.delete(a.addressSpace);
  }

  /** vfio_legacy_dma_map: VFIO_IOMMU_MAP_DMA (READ, plus WRITE unless read-only); on EBUSY, unmap the range and retry once (reference §5.2). */
  dmaMap(addressSpace: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean, cause?: number): number {
    const container = this.containerOf.get(addressSpace) ?? 0;
    const flags = VFIO_DMA_MAP_FLAG.READ | (readonly ? 0 : VFIO_DMA_MAP_FLAG.WRITE);
    const args = { container, iova, size, vaddr, flags: [flags] };
    let errno = this.call('map-dma', args, cause).errno;
    if (errno === ERRNO.EBUSY) {
      this.call('unmap-dma', { container, iova, size, flags: [] }, cause);
      errno = this.call('map-dma', args, cause).errno;
    }
    return errno;
  }

  /** vfio_legacy_dma_unmap: VFIO_IOMMU_UNMAP_DMA. */
  dmaUnmap(addressSpace: string, iova: bigint, size: bigint, cause?: number): number {
    const container = this.containerOf.get(addressSpace) ?? 0;
    return this.call('unmap-dma', { container, iova, size, flags: [] }, cause).errno;
  }

  private call(op: string, args: Readonly<Record<string, ResolvedArg>>, cause?: number): CallOutcome {
    const o = vfioCall(this.engines.type1, op, args);
    this.emitCall(HOST_CALL_BACKEND['vfio-type1'], op, o, cause);
    return o;
  }
}

/** Either backend component. */
export type BackendComponent = IommufdBackendComponent | VfioType1BackendComponent;
