/**
 * A fake HostBackend for shadowing tests: one container per address space holding whole
 * mappings, an aperture ending at `limit` (a map past it → EINVAL, like a type1 valid-IOVA miss or
 * an iommufd reserved range), overlap → EEXIST, unmap of nothing → ENOENT (iommufd would call
 * that success: QEMU's helper does, the fake does not, to test the unmap report). Every call is a
 * 'host-call' event carrying its cause.
 */
import { Component } from '../../../../core/machine/component.ts';
import type { BackendAttachment, HostBackend } from '../../../../core/machine/layers.ts';

export interface FakeCall {
  op: 'map' | 'unmap';
  as: string;
  iova: bigint;
  size: bigint;
  vaddr?: bigint;
  readonly?: boolean;
  cause?: number;
  errno: number;
}

export class FakeBackend extends Component implements HostBackend {
  declare readonly layer: 'backend';
  readonly backend = 'iommufd' as const;
  readonly calls: FakeCall[] = [];
  readonly maps = new Map<string, Map<bigint, bigint>>();

  constructor(readonly limit = 0x7fffffffffn) {
    super({ id: 'iommufd0', kind: 'iommufd', layer: 'backend' });
  }

  readonly attached: string[] = [];

  /** Host device 'busy' fails to attach (as an already-bound group would, with this text). */
  attachDevice(host: string, as: string): { ok: true; attachment: BackendAttachment } | { ok: false; error: string } {
    if (host === 'busy') return { ok: false, error: 'error getting device from group 7: Device or resource busy' };
    this.attached.push(host);
    if (!this.maps.has(as)) this.maps.set(as, new Map());
    return { ok: true, attachment: { backend: 'iommufd', iovaRanges: [{ start: 0n, end: this.limit }], pgsizes: 0x1000n, devId: 1, hwptId: 3, container: 2, hwInfo: { type: 1, capabilities: 0n, data: {} } } };
  }

  detachDevice(host: string): void {
    this.attached.splice(this.attached.indexOf(host), 1);
  }

  dmaMap(as: string, iova: bigint, size: bigint, vaddr: bigint, readonly: boolean, cause?: number): number {
    const m = this.maps.get(as)!;
    let errno = 0;
    if (size === 0n || iova + size - 1n > this.limit) errno = 22;
    else for (const [s, l] of m) if (iova < s + l && s < iova + size) errno = 17;
    if (errno === 0) m.set(iova, size);
    this.record({ op: 'map', as, iova, size, vaddr, readonly, cause, errno });
    return errno;
  }

  dmaUnmap(as: string, iova: bigint, size: bigint, cause?: number): number {
    const m = this.maps.get(as)!;
    let found = false;
    for (const [s, l] of [...m]) if (s >= iova && s + l <= iova + size) {
      m.delete(s);
      found = true;
    }
    const errno = found ? 0 : 2;
    this.record({ op: 'unmap', as, iova, size, cause, errno });
    return errno;
  }

  private record(c: FakeCall): void {
    this.calls.push(c);
    const e = this.emitter;
    if (!e.enabled) return;
    const p = { backend: 1, errno: c.errno, iova: c.iova, length: c.size, call: { op: c.op === 'map' ? 'ioas-map' : 'ioas-unmap', ioctl: c.op === 'map' ? 'IOMMU_IOAS_MAP' : 'IOMMU_IOAS_UNMAP' } };
    if (c.cause === undefined) e.emit('host-call', p);
    else e.emit('host-call', { ...p, cause: BigInt(c.cause) });
  }

  protected onRealize(): string | null {
    return null;
  }
  protected onReset(): void {}
  protected onUnrealize(): void {}
}
