/**
 * The host side's event kinds (catalog codes 19…26): their text, problem rule and metrics, and the
 * sinks' `seq` (what a component stamps as an event's `cause`).
 */
import { describe, expect, test } from 'vitest';
import { EVENT_CATALOG } from '../../../core/events/catalog.ts';
import { formatEvent } from '../../../core/events/format.ts';
import { isProblemEvent } from '../../../core/events/problems.ts';
import { MetricsReducer } from '../../../core/events/metrics.ts';
import { EventLog } from '../../../core/events/sink.ts';

const mapCall = { op: 'ioas-map', ioctl: 'IOMMU_IOAS_MAP', args: { 'ioas-id': 2, iova: '0x10000', length: '0x2000' }, out: { iova: '0x10000' } };

describe('host event kinds', () => {
  test('codes 19…26 in the catalog order the contract gives', () => {
    expect(
      (['host-call', 'host-dma', 'host-fault', 'iommu-group', 'hiod-realize', 'set-iommu-device', 'device-plug', 'qemu-error'] as const).map((k) => EVENT_CATALOG[k].code),
    ).toEqual([19, 20, 21, 22, 23, 24, 25, 26]);
  });

  test('host-call: the ioctl, its arguments, → errno and, on success, the outputs', () => {
    expect(formatEvent('host-call', { backend: 1, errno: 0, id: 2, call: mapCall })).toBe('IOMMU_IOAS_MAP ioas-id=2 iova=0x10000 length=0x2000 → OK iova=0x10000');
    expect(formatEvent('host-call', { backend: 1, errno: 2, call: mapCall })).toBe('IOMMU_IOAS_MAP ioas-id=2 iova=0x10000 length=0x2000 → ENOENT');
    expect(formatEvent('host-call', { backend: 3, errno: 0, call: { ioctl: 'VFIO_IOMMU_UNMAP_DMA', args: { iova: 0n, size: 0x2000n }, out: { size: 0x1000n } } })).toBe(
      'VFIO_IOMMU_UNMAP_DMA (compat) iova=0x0 size=0x2000 → OK size=0x1000',
    );
    expect(isProblemEvent('host-call', { errno: 0 })).toBe(false);
    expect(isProblemEvent('host-call', { errno: 16 })).toBe(true);
  });

  test('host DMA, faults, groups, HostIOMMUDevice, set_iommu_device, plug and QEMU errors', () => {
    expect(formatEvent('host-dma', { endpoint: 0x3b00, iova: 0x10000n, phys: 0x80010000n, size: 8n, access: 2, outcome: 0, domain: 3, data: { device: 'vf0', iommu: 'dmar0' } })).toBe(
      'HOST DMA vf0 3b:00.0 write 0x10000 8B -> 0x80010000 domain=3 dmar0',
    );
    expect(formatEvent('host-dma', { endpoint: 0x3b00, iova: '0x10000', size: '0x8', access: 1, outcome: 1, data: { device: 'vf0', iommu: 'dmar0', reason: 'no mapping' } })).toBe(
      'HOST DMA vf0 3b:00.0 read 0x10000 8B FAULT (no mapping) dmar0',
    );
    expect(isProblemEvent('host-dma', { outcome: 1 })).toBe(true);
    expect(isProblemEvent('host-dma', { outcome: 0 })).toBe(false);
    expect(formatEvent('host-fault', { endpoint: 0x3b00, address: 0x10000n, access: 2, data: { device: 'vf0', iommu: 'dmar0', reason: 'PTE not present' } })).toBe(
      'HOST FAULT dmar0 vf0 3b:00.0 addr=0x10000 write: PTE not present',
    );
    expect(formatEvent('iommu-group', { group: 3, data: { iommu: 'dmar0', devices: ['rp0', 'vf0'], why: 'no ACS' } })).toBe('IOMMU GROUP 3 dmar0 [rp0, vf0] (no ACS)');
    expect(formatEvent('hiod-realize', { status: 0, data: { device: 'vf0', variant: 'iommufd-vfio', awBits: 39, iovaRanges: [['0x0', '0xfedfffff']], pageSizeMask: '0x40201000' } })).toBe(
      'HIOD REALIZE vf0 iommufd-vfio aw-bits=39 ranges=[0x0-0xfedfffff] pgsizes=0x40201000',
    );
    expect(formatEvent('set-iommu-device', { endpoint: 0x18, status: 1, data: { device: 'nic0', viommu: 'viommu0', message: 'refused' } })).toBe('SET IOMMU DEVICE viommu0 ep=00:03.0 nic0 refused: refused');
    expect(formatEvent('device-plug', { endpoint: 0x18, action: 1, status: 0, data: { device: 'nic0', host: 'vf0' } })).toBe('HOTPLUG nic0 ep=00:03.0 (host vf0) OK');
    expect(formatEvent('qemu-error', { data: { message: 'vfio_container_dma_map(...) = -22 (Invalid argument)', level: 'error' } })).toBe(
      'QEMU error: vfio_container_dma_map(...) = -22 (Invalid argument)',
    );
    expect(isProblemEvent('qemu-error', {})).toBe(true);
    expect(isProblemEvent('iommu-group', {})).toBe(false);
    // Stored rows may be malformed: formats never throw.
    for (const k of ['host-call', 'host-dma', 'host-fault', 'iommu-group', 'hiod-realize', 'set-iommu-device', 'device-plug', 'qemu-error']) expect(typeof formatEvent(k, {})).toBe('string');
  });

  test('hostCalls / vfioCalls: tallied by ioctl then errno on a declared backend component', () => {
    const r = new MetricsReducer();
    r.declare('iommufd0', 'iommufd');
    r.declare('vfio0', 'vfio-type1');
    r.addFields('host-call', { backend: 1, errno: 0, call: mapCall }, 'iommufd0');
    r.addFields('host-call', { backend: 1, errno: 2, call: mapCall }, 'iommufd0');
    r.addFields('host-call', { backend: 2, errno: 22, call: { ioctl: 'VFIO_IOMMU_MAP_DMA' } }, 'vfio0');
    const comps = r.result().components!;
    const iommufd = comps.find((c) => c.component === 'iommufd0')!;
    expect(iommufd.layer).toBe('backend');
    expect(iommufd.metrics.map((m) => [m.id, m.value, m.parts])).toEqual([['hostCalls', 2, { IOMMU_IOAS_MAP: { OK: 1, ENOENT: 1 } }]]);
    const vfio = comps.find((c) => c.component === 'vfio0')!;
    expect(vfio.metrics.map((m) => [m.id, m.value, m.parts])).toEqual([['vfioCalls', 1, { VFIO_IOMMU_MAP_DMA: { EINVAL: 1 } }]]);
  });

  test("EventLog.seq is the seq the next event gets (a cause is an emitted event's seq)", () => {
    const log = new EventLog();
    expect(log.seq).toBe(0);
    log.emit('reset', { system: 0 });
    const cause = log.seq - 1;
    log.emit('qemu-error', { data: { message: 'x', level: 'error' }, cause: BigInt(cause) });
    const [a, b] = log.take();
    expect(b.kind === 'qemu-error' && b.cause).toBe(BigInt(a.seq));
    expect(log.seq).toBe(2);
  });
});
