/**
 * A test/bench HostBackend over the real iommufd engine, doing what QEMU's iommufd path does
 * (hw/vfio/iommufd.c iommufd_cdev_attach; backends/iommufd.c iommufd_backend_map_dma /
 * unmap_dma): one IOAS per address space, DEVICE_BIND + attach (auto domain), IOVA ranges from
 * IOMMU_IOAS_IOVA_RANGES, pgsizes = out_iova_alignment; map READABLE|FIXED_IOVA (+ WRITEABLE),
 * unmap treating ENOENT as success. No events (the backend components emit 'host-call').
 */
import { Component } from '../../../../core/machine/component.ts';
import type { BackendAttachment, HostBackend } from '../../../../core/machine/layers.ts';
import { boundDeviceOf } from '../../../../core/host/backend/from-platform.ts';
import { Iommufd } from '../../../../core/host/backend/iommufd/iommufd.ts';
import { ioasMap32, ioasUnmap32 } from '../../../../core/host/backend/iommufd/ioas.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../../core/host/backend/iommufd/uapi.ts';
import { resolveHost, type HostDesc, type HostPlatform } from '../../../../core/host/platform/host.ts';

/** A 39-bit VT-d host with one assignable VF. */
export const HOST_39: HostDesc = {
  iommus: [{ name: 'dmar0', model: 'intel-vtd', 'aw-bits': 39 }],
  devices: [{ name: 'vf0', bdf: '0000:3b:00.0', type: 'vfio-pci', iommu: 'dmar0' }],
} as unknown as HostDesc;

export function platformOf(desc: HostDesc): HostPlatform {
  const r = resolveHost(desc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.host;
}

export class EngineIommufdBackend extends Component implements HostBackend {
  declare readonly layer: 'backend';
  readonly backend = 'iommufd' as const;
  readonly fd = new Iommufd();
  private readonly ioas = new Map<string, number>();
  readonly devIds = new Map<string, number>();

  constructor(private readonly host: HostPlatform) {
    super({ id: 'iommufd0', kind: 'iommufd', layer: 'backend' });
  }

  attachDevice(hostDevice: string, as: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string } {
    const dev = boundDeviceOf(this.host, hostDevice);
    if (dev === undefined) return { ok: false, error: `no host device ${hostDevice}` };
    const b = this.fd.deviceBind(dev);
    if (b.errno !== 0) return { ok: false, error: `bind errno ${b.errno}` };
    let ioasId = this.ioas.get(as);
    if (ioasId === undefined) {
      ioasId = this.fd.ioasAlloc().outIoasId;
      this.ioas.set(as, ioasId);
    }
    const a = this.fd.deviceAttach(b.outDevId, ioasId);
    if (a.errno !== 0) return { ok: false, error: `attach errno ${a.errno}` };
    this.devIds.set(hostDevice, b.outDevId);
    const r = this.fd.ioasIovaRanges(ioasId, 16);
    return {
      ok: true,
      attachment: { backend: 'iommufd', iovaRanges: r.ranges.map((x) => ({ start: x.start, end: x.last })), pgsizes: r.outIovaAlignment, devId: b.outDevId, hwptId: a.ptId, container: ioasId, hwInfo: { type: 1, capabilities: 0n, data: {} } },
    };
  }

  detachDevice(hostDevice: string): void {
    const id = this.devIds.get(hostDevice);
    if (id === undefined) return;
    this.fd.deviceDetach(id);
    this.fd.deviceUnbind(id);
    this.devIds.delete(hostDevice);
  }

  private readonly mapArgs = { ioasId: 0, flags: 0, userVa: 0n, length: 0n, iova: 0n };

  dmaMap(as: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean): number {
    const a = this.mapArgs;
    a.ioasId = this.ioas.get(as)!;
    a.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA | (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE);
    a.userVa = vaddr;
    a.length = size;
    a.iova = iova;
    return this.fd.ioasMap(a).errno;
  }

  dmaUnmap(as: string, iova: bigint, size: bigint): number {
    const e = this.fd.ioasUnmap(this.ioas.get(as)!, iova, size).errno;
    return e === 2 ? 0 : e; // iommufd_backend_unmap_dma: ENOENT is success
  }

  /** dmaMap on halves: ioasMap32 (the engine's hot path). */
  dmaMap32(as: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number, vaHi: number, vaLo: number, readonly: boolean): number {
    const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA | (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE);
    return ioasMap32(this.fd.ctx, this.ioas.get(as)!, flags, vaHi, vaLo, sizeHi, sizeLo, iovaHi, iovaLo);
  }

  /** dmaUnmap on halves: ioasUnmap32, ENOENT as success. */
  dmaUnmap32(as: string, iovaHi: number, iovaLo: number, sizeHi: number, sizeLo: number): number {
    const e = ioasUnmap32(this.fd.ctx, this.ioas.get(as)!, iovaHi, iovaLo, sizeHi, sizeLo);
    return e === 2 ? 0 : e;
  }

  protected onRealize(): string | null {
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}
}
