/**
 * The QEMU `-trace` log importer (core/import/qemu.ts), on lines written from QEMU's trace-events
 * format strings as the reference quotes them (../shared/reference/trace-formats-and-guest-dma.md
 * A2, virtio-iommu.md §5, iommufd-vfio-hostiommu.md §6): every prefix (tid@sec.usec, ISO-8601,
 * none, syslog), every imported event and its variants (QEMU 5.0 names, pre-9.0 `%d` IDs printed
 * negative, inclusive ends, `(nil)` pointers, ioctl returns), QEMU's error reports, malformed lines
 * of known events, unknown lines, isLineStart and detection against the other formats.
 */
import { describe, expect, it } from 'vitest';
import { QEMU_EVENTS } from '../../../core/import/qemu-events.ts';
import { QemuTraceImporter } from '../../../core/import/qemu.ts';
import type { LineResult, TraceEvent } from '../../../core/import/types.ts';

const q = new QemuTraceImporter();

/** The one event a line parses to (fails the test otherwise). */
function one(line: string): TraceEvent {
  const r = q.parse(line);
  if (r.t !== 'event') throw new Error(`expected an event from ${JSON.stringify(line)}, got ${JSON.stringify(r)}`);
  expect(r.events).toHaveLength(1);
  return r.events[0]!;
}

function errorOf(line: string): string {
  const r: LineResult = q.parse(line);
  if (r.t !== 'error') throw new Error(`expected an error from ${JSON.stringify(line)}, got ${r.t}`);
  return r.message;
}

const MAP_BODY = 'virtio_iommu_map domain=1 virt_start=0xfffff000 virt_end=0xffffffff phys_start=0x12345000 flags=3';
const MAP_EVENT = { kind: 'trace-map', iova: 0xfffff000n, size: 0x1000n, phys: 0x12345000n, domain: 1, flags: 3 } as const;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

describe('QemuTraceImporter: line prefixes and time', () => {
  it('identifies itself', () => {
    expect(q.format).toBe('qemu');
    expect(q.component).toBe('qemu');
  });

  it('reads `tid@sec.usec:name` (old -msg timestamp=on): time in ns since the trace\'s origin second (exact), the thread id in data', () => {
    q.reset();
    expect(q.timeOrigin()).toBeNull();
    expect(one(`1234@1719835200.123456:${MAP_BODY}`)).toEqual({ ...MAP_EVENT, time: 123_456_000, data: { event: 'virtio_iommu_map', tid: 1234 } });
    expect(q.timeOrigin()).toBe(1719835200);
    // Later lines count from the same origin, to the ns (ns since the epoch would round to 256 ns).
    expect(one(`1234@1719835200.123556:${MAP_BODY}`).time).toBe(123_556_000);
    expect(one(`1234@1719835261.000001:${MAP_BODY}`).time).toBe(61_000_001_000);
    q.reset();
    expect(one(`7@5.000001:${MAP_BODY}`).time).toBe(1000);
    expect(q.timeOrigin()).toBe(5);
    q.reset();
  });

  it('reads the ISO-8601 UTC prefix of newer QEMU, with or without a fraction, and other zones', () => {
    q.reset();
    expect(one(`2025-07-01T12:00:00.123456Z ${MAP_BODY}`)).toEqual({ ...MAP_EVENT, time: 123_456_000, data: { event: 'virtio_iommu_map' } });
    expect(q.timeOrigin()).toBe(1751371200);
    expect(one(`2025-07-01T12:00:01Z ${MAP_BODY}`).time).toBe(1e9);
    expect(one(`2025-07-01T14:00:00.5+02:00 ${MAP_BODY}`).time).toBe(500_000_000);
    // No zone: the line's clock is unknown, no time.
    expect(one(`2025-07-01T12:00:00.123456 ${MAP_BODY}`)).not.toHaveProperty('time');
  });

  it('reads lines without a prefix (no time)', () => {
    const e = one(MAP_BODY);
    expect(e).toEqual({ ...MAP_EVENT, data: { event: 'virtio_iommu_map' } });
    expect(e).not.toHaveProperty('time');
  });

  it('reads syslog / journal prefixes: BSD dates carry no year (no time), ISO dates do', () => {
    q.reset();
    expect(one(`Jul  1 12:00:00 host1 qemu-system-x86_64[4242]: ${MAP_BODY}`)).toEqual({ ...MAP_EVENT, data: { event: 'virtio_iommu_map', host: 'host1', pid: 4242 } });
    expect(one(`Jul 01 12:00:00.123456 host1 qemu-kvm[7]: ${MAP_BODY}`)).toEqual({ ...MAP_EVENT, data: { event: 'virtio_iommu_map', host: 'host1', pid: 7 } });
    expect(one(`2025-07-01T12:00:00.000001+00:00 h qemu-system-aarch64[99]: ${MAP_BODY}`)).toEqual({
      ...MAP_EVENT,
      time: 1000,
      data: { event: 'virtio_iommu_map', host: 'h', pid: 99 },
    });
    // Another program's syslog line is not QEMU's.
    expect(q.parse('Jul  1 12:00:00 host1 kernel: DMAR: DRHD: handling fault status reg 3').t).toBe('unknown');
  });

  it('tolerates a CR line end and trailing blanks', () => {
    expect(one(`${MAP_BODY}\r`)).toEqual({ ...MAP_EVENT, data: { event: 'virtio_iommu_map' } });
    expect(one(`${MAP_BODY}  `)).toEqual({ ...MAP_EVENT, data: { event: 'virtio_iommu_map' } });
  });
});

describe('QemuTraceImporter: virtio-iommu (hw/virtio/trace-events)', () => {
  it('virtio_iommu_map: virt_end is inclusive (size = end - start + 1), flags the virtio MAP flags', () => {
    expect(one('virtio_iommu_map domain=2 virt_start=0x0 virt_end=0x1fffff phys_start=0x40000000 flags=5')).toEqual({
      kind: 'trace-map', iova: 0n, size: 0x200000n, phys: 0x40000000n, domain: 2, flags: 5, data: { event: 'virtio_iommu_map' },
    });
  });

  it('IDs printed negative by %d are stored as u32, the printed number kept', () => {
    expect(one('virtio_iommu_map domain=-1 virt_start=0x1000 virt_end=0x1fff phys_start=0x2000 flags=1')).toEqual({
      kind: 'trace-map', iova: 0x1000n, size: 0x1000n, phys: 0x2000n, domain: 0xffffffff, flags: 1, data: { event: 'virtio_iommu_map', domainPrinted: -1 },
    });
    expect(one('virtio_iommu_attach domain=-2 endpoint=-8')).toEqual({
      kind: 'trace-attach', op: 0, domain: 0xfffffffe, endpoint: 0xfffffff8, data: { event: 'virtio_iommu_attach', domainPrinted: -2, endpointPrinted: -8 },
    });
  });

  it('virtio_iommu_unmap: inclusive end; a range reaching 2^64 keeps size 2^64 - 1 and the printed end', () => {
    expect(one('virtio_iommu_unmap domain=1 virt_start=0xfffff000 virt_end=0xffffffff')).toEqual({
      kind: 'trace-unmap', iova: 0xfffff000n, size: 0x1000n, domain: 1, data: { event: 'virtio_iommu_unmap' },
    });
    expect(one('virtio_iommu_unmap domain=1 virt_start=0x0 virt_end=0xffffffffffffffff')).toEqual({
      kind: 'trace-unmap', iova: 0n, size: U64_MAX, domain: 1, data: { event: 'virtio_iommu_unmap', end: '0xffffffffffffffff' },
    });
    expect(one('virtio_iommu_unmap domain=1 virt_start=0x1 virt_end=0xffffffffffffffff')).toMatchObject({ size: U64_MAX });
  });

  it('an end below the start is an error', () => {
    expect(errorOf('virtio_iommu_unmap domain=1 virt_start=0x2000 virt_end=0xfff')).toBe('virtio_iommu_unmap: virt_end 0xfff is below virt_start 0x2000');
    expect(errorOf('virtio_iommu_map domain=1 virt_start=0x2000 virt_end=0x1fff phys_start=0x0 flags=3')).toMatch(/^virtio_iommu_map: virt_end 0x1fff is below/);
  });

  it('virtio_iommu_attach / detach → trace-attach (op 0 / 1)', () => {
    expect(one('virtio_iommu_attach domain=1 endpoint=8')).toEqual({ kind: 'trace-attach', op: 0, domain: 1, endpoint: 8, data: { event: 'virtio_iommu_attach' } });
    expect(one('virtio_iommu_detach domain=1 endpoint=8')).toEqual({ kind: 'trace-attach', op: 1, domain: 1, endpoint: 8, data: { event: 'virtio_iommu_detach' } });
    // The implicit detach is a note (it also fires beside an explicit detach).
    expect(one('virtio_iommu_detach_endpoint_from_domain domain=1 endpoint=8')).toEqual({
      kind: 'trace-note', data: { event: 'virtio_iommu_detach_endpoint_from_domain', text: 'domain=1 endpoint=8', domain: 1, endpoint: 8 },
    });
  });

  it('virtio_iommu_report_fault (`address =0x`): access from F_READ/F_WRITE, the address only with F_ADDRESS (0x100)', () => {
    expect(one('virtio_iommu_report_fault FAULT reason=2 flags=258 endpoint=8 address =0xfee01000')).toEqual({
      kind: 'trace-fault', address: 0xfee01000n, access: 2, reason: 2, endpoint: 8, data: { event: 'virtio_iommu_report_fault', flags: 258 },
    });
    expect(one('virtio_iommu_report_fault FAULT reason=1 flags=257 endpoint=-1 address =0x0')).toEqual({
      kind: 'trace-fault', address: 0n, access: 1, reason: 1, endpoint: 0xffffffff, data: { event: 'virtio_iommu_report_fault', flags: 257, endpointPrinted: -1 },
    });
    expect(one('virtio_iommu_report_fault FAULT reason=0 flags=0 endpoint=16 address =0x1234')).toEqual({
      kind: 'trace-fault', access: 0, reason: 0, endpoint: 16, data: { event: 'virtio_iommu_report_fault', flags: 0, address: '0x1234' },
    });
  });

  it('virtio_iommu_notify_map / notify_unmap → trace-map / trace-unmap with data.mr (flags = IOMMUAccessFlags)', () => {
    expect(one('virtio_iommu_notify_map mr=virtio-iommu-memory-region-8-0 virt_start=0x10000 virt_end=0x10fff phys_start=0x7000 flags=1')).toEqual({
      kind: 'trace-map', iova: 0x10000n, size: 0x1000n, phys: 0x7000n, flags: 1, data: { event: 'virtio_iommu_notify_map', mr: 'virtio-iommu-memory-region-8-0' },
    });
    expect(one('virtio_iommu_notify_unmap mr=virtio-iommu-memory-region-8-0 virt_start=0x10000 virt_end=0x10fff')).toEqual({
      kind: 'trace-unmap', iova: 0x10000n, size: 0x1000n, data: { event: 'virtio_iommu_notify_unmap', mr: 'virtio-iommu-memory-region-8-0' },
    });
  });

  it('the other virtio-iommu events are trace-notes with their arguments (u64 as "0x…", IDs as u32)', () => {
    expect(one('virtio_iommu_translate mr=virtio-iommu-memory-region-8-0 rid=8 addr=0xfffff010 flag=2')).toEqual({
      kind: 'trace-note',
      data: { event: 'virtio_iommu_translate', text: 'mr=virtio-iommu-memory-region-8-0 rid=8 addr=0xfffff010 flag=2', mr: 'virtio-iommu-memory-region-8-0', rid: 8, addr: '0xfffff010', flag: 2 },
    });
    expect(one('virtio_iommu_translate_out 0xfffff010 -> 0x12345010 for sid=8').data).toEqual({
      event: 'virtio_iommu_translate_out', text: '0xfffff010 -> 0x12345010 for sid=8', virtAddr: '0xfffff010', physAddr: '0x12345010', sid: 8,
    });
    // Before QEMU 9.0 the domain range printed with %d: UINT32_MAX as -1.
    expect(one('virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0x7fffffffff domain range start=0 domain range end=-1 probe_size=0x200 bypass=0x1').data).toEqual({
      event: 'virtio_iommu_get_config',
      text: 'page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0x7fffffffff domain range start=0 domain range end=-1 probe_size=0x200 bypass=0x1',
      pageSizeMask: '0xfffffffffffff000', inputStart: '0x0', inputEnd: '0x7fffffffff', domainStart: 0, domainEnd: 0xffffffff, domainEndPrinted: -1, probeSize: '0x200', bypass: '0x1',
    });
    expect(one('virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0x7fffffffff domain range start=0 domain range end=4294967295 probe_size=0x200 bypass=0x0').data)
      .toMatchObject({ domainEnd: 0xffffffff });
    expect(one('virtio_iommu_switch_address_space Device 00:03.0 switching address space (iommu enabled=1)').data).toEqual({
      event: 'virtio_iommu_switch_address_space', text: 'Device 00:03.0 switching address space (iommu enabled=1)', device: '00:03.0', enabled: 1,
    });
    expect(one('virtio_iommu_fill_resv_property dev= 8, type=1 start=0xfee00000 end=0xfeefffff').data).toEqual({
      event: 'virtio_iommu_fill_resv_property', text: 'dev= 8, type=1 start=0xfee00000 end=0xfeefffff', endpoint: 8, type: 1, start: '0xfee00000', end: '0xfeefffff',
    });
    expect(one('virtio_iommu_host_resv_regions mr=virtio-iommu-memory-region-8-0 host-resv-reg[0] = [0x0,0xfedfffff]').data).toEqual({
      event: 'virtio_iommu_host_resv_regions', text: 'mr=virtio-iommu-memory-region-8-0 host-resv-reg[0] = [0x0,0xfedfffff]', mr: 'virtio-iommu-memory-region-8-0', index: 0, lob: '0x0', upb: '0xfedfffff',
    });
    expect(one('virtio_iommu_get_endpoint Alloc endpoint=8').data).toEqual({ event: 'virtio_iommu_get_endpoint', text: 'Alloc endpoint=8', endpoint: 8 });
    expect(one('virtio_iommu_put_domain Free domain=-1').data).toEqual({ event: 'virtio_iommu_put_domain', text: 'Free domain=-1', domain: 0xffffffff, domainPrinted: -1 });
    expect(one('virtio_iommu_freeze_granule granule set to 0xfffffffffffff000').data).toEqual({ event: 'virtio_iommu_freeze_granule', text: 'granule set to 0xfffffffffffff000', pageSizeMask: '0xfffffffffffff000' });
    expect(one('virtio_iommu_set_page_size_mask mr=virtio-iommu-memory-region-8-0 old_mask=0xfffffffffffff000 new_mask=0xfffffffffffff000').data).toMatchObject({ mr: 'virtio-iommu-memory-region-8-0', oldMask: '0xfffffffffffff000' });
    expect(one('virtio_iommu_update_page_size_mask host iommu device=hostdev0 old_mask=0xfffffffffffff000 new_mask=0xffffffffffff0000').data).toMatchObject({ device: 'hostdev0', newMask: '0xffffffffffff0000' });
    // Both names of the reset (before and after QEMU 10.0's 3-phase reset).
    expect(one('virtio_iommu_device_reset reset!').data).toEqual({ event: 'virtio_iommu_device_reset', text: 'reset!' });
    expect(one('virtio_iommu_device_reset_exit reset!').data).toEqual({ event: 'virtio_iommu_device_reset_exit', text: 'reset!' });
  });
});

describe('QemuTraceImporter: intel-iommu (hw/i386/trace-events, vtd_*)', () => {
  it('vtd_inv_desc_iotlb_* → trace-inval with domain, addr, mask (AM)', () => {
    expect(one('vtd_inv_desc_iotlb_global iotlb invalidate global')).toEqual({ kind: 'trace-inval', data: { event: 'vtd_inv_desc_iotlb_global', type: 'iotlb-global' } });
    expect(one('vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x1a')).toEqual({ kind: 'trace-inval', domain: 0x1a, data: { event: 'vtd_inv_desc_iotlb_domain', type: 'iotlb-domain' } });
    expect(one('vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0xfffff000 mask 0x9')).toEqual({
      kind: 'trace-inval', domain: 1, addr: 0xfffff000n, mask: 9, data: { event: 'vtd_inv_desc_iotlb_pages', type: 'iotlb-pages' },
    });
    expect(one('vtd_inv_desc_iotlb_pasid_pages iotlb invalidate domain 0x2 addr 0x200000 mask 0x0 pasid 0x5')).toEqual({
      kind: 'trace-inval', domain: 2, addr: 0x200000n, mask: 0, data: { event: 'vtd_inv_desc_iotlb_pasid_pages', type: 'iotlb-pasid-pages', pasid: '0x5' },
    });
    expect(one('vtd_inv_desc_cc_domain context invalidate domain 0x3')).toEqual({ kind: 'trace-inval', domain: 3, data: { event: 'vtd_inv_desc_cc_domain', type: 'context-domain' } });
  });

  it('vtd_inv_desc → trace-inval with the descriptor type and raw qwords', () => {
    expect(one('vtd_inv_desc invalidate desc type iotlb high 0xfffff000 low 0x10032')).toEqual({
      kind: 'trace-inval', data: { event: 'vtd_inv_desc', type: 'iotlb', high: '0xfffff000', low: '0x10032' },
    });
  });

  it('vtd_dmar_fault → trace-fault (sid as requester ID, fault reason, write → access)', () => {
    expect(one('vtd_dmar_fault sid 0x18 fault 5 addr 0xfee00000 write 1')).toEqual({
      kind: 'trace-fault', address: 0xfee00000n, access: 2, reason: 5, endpoint: 0x18, data: { event: 'vtd_dmar_fault' },
    });
    expect(one('vtd_dmar_fault sid 0x100 fault 6 addr 0x1000 write 0')).toMatchObject({ access: 1, reason: 6, endpoint: 0x100 });
  });

  it('vtd_page_walk_one → trace-map (perm 1 RO, 2 WO, 3 RW; size = mask + 1) or trace-unmap (perm 0)', () => {
    expect(one('vtd_page_walk_one domain 0x1 iova 0xfffff000 -> gpa 0x12345000 mask 0xfff perm 3')).toEqual({
      kind: 'trace-map', iova: 0xfffff000n, size: 0x1000n, phys: 0x12345000n, domain: 1, flags: 3, data: { event: 'vtd_page_walk_one' },
    });
    expect(one('vtd_page_walk_one domain 0x1 iova 0x200000 -> gpa 0x40000000 mask 0x1fffff perm 1')).toMatchObject({ kind: 'trace-map', size: 0x200000n, flags: 1 });
    expect(one('vtd_page_walk_one domain 0x1 iova 0xfffff000 -> gpa 0x0 mask 0xfff perm 0')).toEqual({
      kind: 'trace-unmap', iova: 0xfffff000n, size: 0x1000n, domain: 1, data: { event: 'vtd_page_walk_one', gpa: '0x0' },
    });
  });

  it('per-access cache and page-walk internals are ignored; the rest are notes', () => {
    expect(q.parse('vtd_iotlb_page_hit IOTLB page hit sid 0x18 iova 0xfffff000 slpte 0x12345003 domain 0x1').t).toBe('ignored');
    expect(q.parse('vtd_iotlb_page_update IOTLB page update sid 0x18 iova 0xfffff000 slpte 0x12345003 domain 0x1').t).toBe('ignored');
    expect(q.parse('vtd_page_walk_level walk (base=0x1000, level=3) iova range 0x0 - 0x8000000000').t).toBe('ignored');
    expect(one('vtd_dmar_translate dev 00:03.00 iova 0xfffff000 -> gpa 0x12345000 mask 0xfff').data).toEqual({
      event: 'vtd_dmar_translate', text: 'dev 00:03.00 iova 0xfffff000 -> gpa 0x12345000 mask 0xfff', device: '00:03.00', iova: '0xfffff000', gpa: '0x12345000', mask: '0xfff',
    });
    expect(one('vtd_switch_address_space Device 00:03.0 switching address space (iommu enabled=0)').data).toMatchObject({ device: '00:03.0', enabled: 0 });
    expect(one('vtd_iotlb_reset IOTLB reset (reason: global invalidation recved)').data).toMatchObject({ reason: 'global invalidation recved' });
    expect(one('vtd_as_unmap_whole Device 00:03.0 start 0x0 size 0x8000000000').data).toMatchObject({ device: '00:03.0', start: '0x0', size: '0x8000000000' });
  });
});

describe('QemuTraceImporter: vfio (hw/vfio/trace-events)', () => {
  it('vfio_iommu_map_notify: MAP / UNMAP over an inclusive range (no physical address on the line)', () => {
    expect(one('vfio_iommu_map_notify iommu MAP @ 0xfffff000 - 0xffffffff')).toEqual({ kind: 'trace-map', iova: 0xfffff000n, size: 0x1000n, data: { event: 'vfio_iommu_map_notify' } });
    expect(one('vfio_iommu_map_notify iommu UNMAP @ 0x0 - 0x7fffffffff')).toEqual({ kind: 'trace-unmap', iova: 0n, size: 0x8000000000n, data: { event: 'vfio_iommu_map_notify' } });
    expect(errorOf('vfio_iommu_map_notify iommu REMAP @ 0x0 - 0xfff')).toBe("vfio_iommu_map_notify: expected op MAP or UNMAP, got 'REMAP'");
  });

  it('listener events are notes, current and QEMU 5.0 forms', () => {
    expect(one('vfio_listener_region_add_iommu region_add [iommu] virtio-iommu-memory-region-8-0 0x0 - 0xffffffffffffffff').data).toEqual({
      event: 'vfio_listener_region_add_iommu', text: 'region_add [iommu] virtio-iommu-memory-region-8-0 0x0 - 0xffffffffffffffff', name: 'virtio-iommu-memory-region-8-0', start: '0x0', end: '0xffffffffffffffff',
    });
    expect(one('vfio_listener_region_add_iommu region_add [iommu] 0x0 - 0xffffffffffffffff').data).toEqual({
      event: 'vfio_listener_region_add_iommu', text: 'region_add [iommu] 0x0 - 0xffffffffffffffff', start: '0x0', end: '0xffffffffffffffff',
    });
    expect(one('vfio_listener_region_add_iommu region_add [iommu] 0x0-0xffffffffffffffff').data).toMatchObject({ start: '0x0', end: '0xffffffffffffffff' });
    expect(one('vfio_listener_region_add_ram region_add [ram] 0x0 - 0x7fffffff [0x7f1200000000]').data).toEqual({
      event: 'vfio_listener_region_add_ram', text: 'region_add [ram] 0x0 - 0x7fffffff [0x7f1200000000]', start: '0x0', end: '0x7fffffff', vaddr: '0x7f1200000000',
    });
    expect(one('vfio_listener_region_del region_del 0x0 - 0x7fffffff').data).toMatchObject({ start: '0x0', end: '0x7fffffff' });
    expect(one('vfio_listener_region_skip SKIPPING region_add 0xfee00000 - 0xfeefffff').data).toMatchObject({ op: 'region_add', start: '0xfee00000' });
    expect(one('vfio_listener_region_add_skip SKIPPING region_add 0xfee00000 - 0xfeefffff').data).toMatchObject({ start: '0xfee00000', end: '0xfeefffff' });
    expect(one('vfio_listener_region_add_no_dma_map Region "0000:3b:00.0 BAR 0 mmaps[0]" 0xfe000000 size=0x1000 is not aligned to 0x10000 and cannot be mapped for DMA').data).toMatchObject({
      name: '0000:3b:00.0 BAR 0 mmaps[0]', iova: '0xfe000000', size: '0x1000', pageSize: '0x10000',
    });
    // An event with an empty format: `name ` and nothing after.
    expect(one('vfio_legacy_dma_unmap_overflow_workaround ').data).toEqual({ event: 'vfio_legacy_dma_unmap_overflow_workaround', text: '' });
    expect(one('vfio_dma_unmap_overflow_workaround').data).toEqual({ event: 'vfio_dma_unmap_overflow_workaround', text: '' });
  });

  it('vfio_dma_map / vfio_dma_unmap do not exist as events: unknown', () => {
    expect(q.parse('vfio_dma_map container=0x1 iova=0x1000 size=0x1000').t).toBe('unknown');
    expect(q.parse('1@1.000000:vfio_dma_unmap iova=0x1000').t).toBe('unknown');
  });
});

describe('QemuTraceImporter: iommufd (backends/trace-events, hw/vfio/iommufd.c)', () => {
  it('iommufd_backend_map_dma (leading space in the format) → trace-map, domain = ioas, phys = the user address', () => {
    expect(one('iommufd_backend_map_dma  iommufd=3 ioas=2 iova=0xfffff000 size=0x1000 addr=0x7f1200001000 readonly=0 (0)')).toEqual({
      kind: 'trace-map', iova: 0xfffff000n, size: 0x1000n, phys: 0x7f1200001000n, domain: 2, flags: 3, data: { event: 'iommufd_backend_map_dma', iommufd: 3, readonly: 0 },
    });
    // readonly, a failed ioctl (its return kept), a NULL pointer (no phys), a negative IOAS.
    expect(one('iommufd_backend_map_dma  iommufd=3 ioas=-2 iova=0x0 size=0x1000 addr=(nil) readonly=1 (-1)')).toEqual({
      kind: 'trace-map', iova: 0n, size: 0x1000n, domain: 0xfffffffe, flags: 1, data: { event: 'iommufd_backend_map_dma', iommufd: 3, ioasPrinted: -2, readonly: 1, ret: -1 },
    });
    // Also with a single space (a log that collapsed blanks).
    expect(one('iommufd_backend_map_dma iommufd=3 ioas=2 iova=0x1000 size=0x2000 addr=0x1000 readonly=0 (0)')).toMatchObject({ iova: 0x1000n, size: 0x2000n });
    expect(one('iommufd_backend_map_file_dma  iommufd=3 ioas=2 iova=0x1000 size=0x2000 fd=17 start=0 readonly=0 (0)')).toEqual({
      kind: 'trace-map', iova: 0x1000n, size: 0x2000n, domain: 2, flags: 3, data: { event: 'iommufd_backend_map_file_dma', iommufd: 3, readonly: 0, fd: 17, start: 0 },
    });
  });

  it('iommufd_backend_unmap_dma / unmap_dma_non_exist → trace-unmap (nothing unmapped for the latter)', () => {
    expect(one('iommufd_backend_unmap_dma  iommufd=3 ioas=2 iova=0xfffff000 size=0x1000 (0)')).toEqual({
      kind: 'trace-unmap', iova: 0xfffff000n, size: 0x1000n, domain: 2, data: { event: 'iommufd_backend_unmap_dma', iommufd: 3 },
    });
    expect(one('iommufd_backend_unmap_dma_non_exist  Unmap nonexistent mapping: iommufd=3 ioas=2 iova=0x0 size=0x8000000000 (-1)')).toEqual({
      kind: 'trace-unmap', iova: 0n, size: 0x8000000000n, unmapped: 0n, domain: 2, data: { event: 'iommufd_backend_unmap_dma_non_exist', iommufd: 3, ret: -1 },
    });
  });

  it('iommufd_backend_alloc_ioas / alloc_hwpt / get_dirty_bitmap → notes', () => {
    expect(one('iommufd_backend_alloc_ioas  iommufd=3 ioas=2').data).toEqual({ event: 'iommufd_backend_alloc_ioas', text: 'iommufd=3 ioas=2', iommufd: 3, ioas: 2 });
    expect(one('iommufd_backend_alloc_hwpt  iommufd=3 dev_id=1 pt_id=2 flags=0x0 hwpt_type=0 len=0 data_ptr=0x0 out_hwpt=4 (0)').data).toMatchObject({ devId: 1, ptId: 2, flags: '0x0', outHwpt: 4, ret: 0 });
    expect(one('iommufd_backend_get_dirty_bitmap  iommufd=3 hwpt=4 iova=0x0 size=0x40000000 page_size=0x1000 (0)').data).toMatchObject({ hwpt: 4, size: '0x40000000', pageSize: '0x1000' });
    expect(one('iommufd_backend_get_dirty_bitmap  iommufd=3 hwpt=4 iova=0x0 size=0x40000000 flags=0x1 page_size=0x1000 (0)').data).toMatchObject({ flags: '0x1', pageSize: '0x1000' });
  });

  it('iommufd_cdev_attach_ioas_hwpt / detach_ioas_hwpt → trace-attach; other cdev events notes', () => {
    expect(one('iommufd_cdev_attach_ioas_hwpt  [iommufd=3] Successfully attached device 0000:3b:00.0 (25) to id=2')).toEqual({
      kind: 'trace-attach', op: 0, domain: 2, data: { event: 'iommufd_cdev_attach_ioas_hwpt', iommufd: 3, device: '0000:3b:00.0', devfd: 25 },
    });
    expect(one('iommufd_cdev_detach_ioas_hwpt  [iommufd=3] Successfully detached 0000:3b:00.0')).toEqual({
      kind: 'trace-attach', op: 1, data: { event: 'iommufd_cdev_detach_ioas_hwpt', iommufd: 3, device: '0000:3b:00.0' },
    });
    expect(one('iommufd_cdev_alloc_ioas  [iommufd=3] new IOMMUFD container with ioasid=2').data).toMatchObject({ iommufd: 3, ioas: 2 });
  });
});

describe('QemuTraceImporter: QEMU error reports, malformed, unknown and header lines', () => {
  it('QEMU error reports (`qemu-system-…: text`) are notes, with or without a prefix', () => {
    q.reset();
    expect(one('qemu-system-x86_64: -device vfio-pci,host=0000:3b:00.0,id=hostdev0: warning: vfio 0000:3b:00.0: Could not enable error recovery for the device')).toEqual({
      kind: 'trace-note', data: { event: 'qemu-system-x86_64', text: '-device vfio-pci,host=0000:3b:00.0,id=hostdev0: warning: vfio 0000:3b:00.0: Could not enable error recovery for the device' },
    });
    expect(one('2025-07-01T12:00:00.000002Z qemu-system-x86_64: vfio_container_dma_map(0x55d0c8a0, 0xfee00000, 0x1000, 0x7f1200000000) = -22 (Invalid argument)')).toEqual({
      kind: 'trace-note', time: 2000, data: { event: 'qemu-system-x86_64', text: 'vfio_container_dma_map(0x55d0c8a0, 0xfee00000, 0x1000, 0x7f1200000000) = -22 (Invalid argument)' },
    });
    expect(one('qemu-kvm: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.').data).toMatchObject({ event: 'qemu-kvm' });
    // Without the program prefix the line cannot be placed.
    expect(q.parse('vfio_container_dma_map(0x55d0c8a0, 0xfee00000, 0x1000, 0x7f1200000000) = -22 (Invalid argument)').t).toBe('unknown');
  });

  it('a malformed line of a known event is an error naming the expected format', () => {
    expect(errorOf('virtio_iommu_map domain=1 virt_start=0xzz')).toBe("virtio_iommu_map: expected 'domain=N virt_start=0x… virt_end=0x… phys_start=0x… flags=N'");
    expect(errorOf('virtio_iommu_attach domain=x endpoint=1')).toBe("virtio_iommu_attach: expected 'domain=N endpoint=N'");
    expect(errorOf('1@1.000000:vtd_page_walk_one domain 0x1 iova 0x1000 -> gpa 0x2000 mask 0xfff')).toBe("vtd_page_walk_one: expected 'domain 0x… iova 0x… -> gpa 0x… mask 0x… perm N'");
    expect(errorOf('iommufd_backend_map_dma  iommufd=3 ioas=2 iova=0x1000 size=0x1000 addr=0x1 readonly=0')).toBe(
      "iommufd_backend_map_dma: expected 'iommufd=N ioas=N iova=0x… size=0x… addr=0x… readonly=N (N)'");
    expect(errorOf('vfio_listener_region_add_iommu region_add [iommu] x')).toBe(
      "vfio_listener_region_add_iommu: expected 'region_add [iommu] … 0x… - 0x…' or 'region_add [iommu] 0x… - 0x…' or 'region_add [iommu] 0x…-0x…'");
    expect(errorOf('vtd_dmar_fault sid 0x18 fault 5 addr 0xfee00000')).toMatch(/^vtd_dmar_fault: expected 'sid 0x… fault N addr 0x… write N'$/);
    expect(errorOf('virtio_iommu_report_fault FAULT reason=2 flags=258 endpoint=8 address=0x1')).toMatch(/^virtio_iommu_report_fault: expected/);
  });

  it('a field wider than its type (no QEMU prints it) is an error, never a wrapped value', () => {
    expect(errorOf('virtio_iommu_attach domain=4294967296 endpoint=8')).toBe('virtio_iommu_attach: 4294967296 is not a 32-bit value');
    expect(errorOf('virtio_iommu_attach domain=-2147483649 endpoint=8')).toBe('virtio_iommu_attach: -2147483649 is not a 32-bit value');
    expect(errorOf('virtio_iommu_unmap domain=1 virt_start=0x10000000000000000 virt_end=0x10000000000000fff')).toBe('virtio_iommu_unmap: 0x10000000000000000 exceeds 64 bits');
    expect(errorOf('vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x100000000')).toBe('vtd_inv_desc_iotlb_domain: 0x100000000 is not a 32-bit value');
    expect(errorOf('virtio_iommu_put_domain Free domain=99999999999')).toBe('virtio_iommu_put_domain: 99999999999 is not a 32-bit value');
    // The widest values that are not: u32 by %u, 2^31 - 1 by %d, a 16-digit u64 (leading zeros allowed).
    expect(one('virtio_iommu_attach domain=4294967295 endpoint=-2147483648')).toMatchObject({ domain: 0xffffffff, endpoint: 0x80000000 });
    expect(one('virtio_iommu_unmap domain=1 virt_start=0xfffffffffffff000 virt_end=0xffffffffffffffff')).toMatchObject({ iova: 0xfffffffffffff000n, size: 0x1000n });
    expect(one('virtio_iommu_unmap domain=1 virt_start=0x0000000000000000001000 virt_end=0x1fff')).toMatchObject({ iova: 0x1000n, size: 0x1000n });
  });

  it('lines it cannot place are unknown; other QEMU events behind a prefix are ignored, unless of a covered family', () => {
    for (const l of ['hello world', 'domain=1 endpoint=8', '  leading spaces', '#comment', 'pci_cfg_write pci-bridge 00:1c.0 @0x4 <- 0x7', 'virtio_iommu_frobnicate x=1', '1@1.0:', '2025-07-01 12:00:00 foo']) {
      expect(q.parse(l).t, l).toBe('unknown');
    }
    expect(q.parse('1234@1719835200.123456:pci_cfg_write pci-bridge 00:1c.0 @0x4 <- 0x7').t).toBe('ignored');
    expect(q.parse('2025-07-01T12:00:00.123456Z virtio_queue_notify vdev 0x1 n 0 vq 0x2').t).toBe('ignored');
    expect(q.parse('1234@1719835200.123456:virtio_iommu_frobnicate x=1').t).toBe('unknown');
    expect(q.parse('1234@1719835200.123456:vtd_new_event x=1').t).toBe('unknown');
    expect(q.parse('Jul  1 12:00:00 host1 qemu-system-x86_64[4242]: pci_cfg_write pci-bridge 00:1c.0 @0x4 <- 0x7').t).toBe('ignored');
    // An ISO time before another program's line (journalctl -o short-iso) is not QEMU's.
    expect(q.parse('2025-07-01T12:00:00+0000 host1 kernel: DMAR: DRHD: handling fault status reg 3').t).toBe('unknown');
    expect(q.parse('2025-07-01T12:00:00.123456Z Some text').t).toBe('unknown');
  });

  it('blank lines are headers', () => {
    expect(q.parse('').t).toBe('header');
    expect(q.parse('   \t').t).toBe('header');
  });

  it('never throws', () => {
    for (const l of ['9'.repeat(400) + '@1.0:x', '1@' + '9'.repeat(20) + '.1:x y', 'virtio_iommu_map ' + 'x'.repeat(10000), '\u0000\uffff', 'qemu', 'qemu-system-x86_64:', 'Jul  1 12:00:00 h qemu[1]: ']) {
      expect(() => q.parse(l)).not.toThrow();
    }
  });
});

describe('QemuTraceImporter: isLineStart and detect', () => {
  it('a record starts with a prefix, a known event name or a QEMU program name', () => {
    expect(q.isLineStart(MAP_BODY)).toBe(true);
    expect(q.isLineStart('1234@1719835200.123456:virtio_iommu_map domain=1')).toBe(true);
    expect(q.isLineStart('2025-07-01T12:00:00.123456Z anything')).toBe(true);
    expect(q.isLineStart('Jul  1 12:00:00 host1 qemu-system-x86_64[4242]: virtio_iommu_map')).toBe(true);
    expect(q.isLineStart('qemu-system-x86_64: -device vfio-pci: warning: x')).toBe(true);
    // The tails of wrapped lines do not.
    expect(q.isLineStart('start=0x12345000 flags=3')).toBe(false);
    expect(q.isLineStart('0xffffffff phys_start=0x12345000 flags=3')).toBe(false);
    expect(q.isLineStart('mapping: iommufd=3')).toBe(false);
    expect(q.isLineStart('')).toBe(false);
  });

  it('a wrapped line: the first half is an error, the tail unknown, the join an event', () => {
    const head = '1234@1719835200.123456:virtio_iommu_map domain=1 virt_start=0xfffff000 virt_end=0xffffffff phys_';
    const tail = 'start=0x12345000 flags=3';
    expect(q.parse(head).t).toBe('error');
    expect(q.parse(tail).t).toBe('unknown');
    expect(q.parse(head + tail).t).toBe('event');
    expect(q.parse(`${head} ${tail}`).t).toBe('error');
  });

  const QEMU_SAMPLE = [
    '1234@1719835200.100000:virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0x7fffffffff domain range start=0 domain range end=4294967295 probe_size=0x200 bypass=0x1',
    '1234@1719835200.100001:virtio_iommu_attach domain=1 endpoint=8',
    MAP_BODY.replace(/^/, '1234@1719835200.100002:'),
    '1234@1719835200.100003:virtio_iommu_translate mr=virtio-iommu-memory-region-8-0 rid=8 addr=0xfffff010 flag=2',
    '1234@1719835200.100004:virtio_iommu_unmap domain=1 virt_start=0xfffff000 virt_end=0xffffffff',
    '1234@1719835200.100005:vfio_iommu_map_notify iommu MAP @ 0xfffff000 - 0xffffffff',
    '1234@1719835200.100006:iommufd_backend_map_dma  iommufd=3 ioas=2 iova=0xfffff000 size=0x1000 addr=0x7f1200001000 readonly=0 (0)',
    '1234@1719835200.100007:pci_cfg_read virtio-iommu-pci 00:03.0 @0x0 -> 0x10581af4',
  ];
  // Written from the ftrace and kernel-log format strings of reference part A (A1, A1b, A3).
  const FTRACE_SAMPLE = [
    '# tracer: nop',
    '#',
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
    '  qemu-system-x86-4242    [003] .....  1234.567890: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000012345000 size=4096',
    '  qemu-system-x86-4242    [003] .....  1234.567891: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096',
    '          <idle>-0       [000] d.h1.  1234.600000: io_page_fault: IOMMU:amd_iommu 0000:3b:00.0 iova=0x00000000fee00000 flags=0x0020',
    'cpus=2',
    '     kworker/0:1-12    [000]  1234.700000: dma:dma_map_phys: 0000:3b:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=1500 phys_addr=12345000 attrs=',
    'qemu-kvm 5678 [001] 1234.800000: iommu:map: IOMMU: iova=0x0000000000001000 paddr=0x0000000000002000 size=4096',
  ];
  const KMSG_SAMPLE = [
    '[    0.145769] DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap 12008c22260286 ecap f00f5a',
    '[    6.849292] ice 0000:00:05.0: Using 64-bit DMA addresses',
    '[   12.000001] DMAR: DRHD: handling fault status reg 3',
    '[   12.000002] DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0xfee00000 [fault reason 0x05] PTE Write access is not set',
    'DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 1000 [fault reason 06] PTE Read access is not set',
    '[   13.000000] vfio-pci 0000:3b:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e address=0xfee00000 flags=0x0020]',
    'Jul 01 12:00:00 host1 kernel: pci 0000:3b:00.0: Adding to iommu group 20',
    '2025-07-01T12:00:00+0000 host1 kernel: DMAR: [DMA Read NO_PASID] Request device [0000:00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set',
    '-- Boot 0123456789abcdef0123456789abcdef --',
    'arm-smmu arm-smmu.0.auto: Unhandled context fault: fsr=0x402, iova=0x23e0000100, fsynr=0x20040, cbfrsynra=0x4000, cb=0',
    'virtio_iommu virtio0: page fault from EP 8 at 0xfee00000 [RW]',
  ];

  it('scores a QEMU log high and the other formats low', () => {
    expect(q.detect(QEMU_SAMPLE)).toBe(1);
    expect(q.detect(QEMU_SAMPLE.map((l) => l.replace(/^\d+@[\d.]+:/, '')).slice(0, 7))).toBe(1);
    expect(q.detect(FTRACE_SAMPLE)).toBeLessThanOrEqual(0.1);
    expect(q.detect(KMSG_SAMPLE)).toBeLessThanOrEqual(0.1);
    expect(q.detect([])).toBe(0);
  });
});

/**
 * One line of every known event, written from its format string (the reference's trace-events
 * quotes), with the kind it becomes ('ignored' for the known, not imported ones). Every event in
 * the importer's table must have a line here.
 */
const EVERY_EVENT: readonly (readonly [string, string])[] = [
  ['virtio_iommu_device_reset_exit reset!', 'trace-note'],
  ['virtio_iommu_device_reset reset!', 'trace-note'],
  ['virtio_iommu_system_reset system reset!', 'trace-note'],
  ['virtio_iommu_get_features device supports features=0x130000000f', 'trace-note'],
  ['virtio_iommu_device_status driver status = 15', 'trace-note'],
  ['virtio_iommu_get_config page_size_mask=0xfffffffffffff000 input range start=0x0 input range end=0xffffffffffffffff domain range start=0 domain range end=4294967295 probe_size=0x200 bypass=0x1', 'trace-note'],
  ['virtio_iommu_set_config bypass=0x0', 'trace-note'],
  ['virtio_iommu_attach domain=1 endpoint=8', 'trace-attach'],
  ['virtio_iommu_detach domain=1 endpoint=8', 'trace-attach'],
  ['virtio_iommu_detach_endpoint_from_domain domain=1 endpoint=8', 'trace-note'],
  ['virtio_iommu_map domain=1 virt_start=0x1000 virt_end=0x1fff phys_start=0x2000 flags=3', 'trace-map'],
  ['virtio_iommu_unmap domain=1 virt_start=0x1000 virt_end=0x1fff', 'trace-unmap'],
  ['virtio_iommu_unmap_done domain=1 virt_start=0x1000 virt_end=0x1fff', 'trace-note'],
  ['virtio_iommu_translate mr=virtio-iommu-memory-region-8-0 rid=8 addr=0x1000 flag=1', 'trace-note'],
  ['virtio_iommu_translate_out 0x1000 -> 0x2000 for sid=8', 'trace-note'],
  ['virtio_iommu_init_iommu_mr init virtio-iommu-memory-region-8-0', 'trace-note'],
  ['virtio_iommu_get_endpoint Alloc endpoint=8', 'trace-note'],
  ['virtio_iommu_put_endpoint Free endpoint=8', 'trace-note'],
  ['virtio_iommu_get_domain Alloc domain=1', 'trace-note'],
  ['virtio_iommu_put_domain Free domain=1', 'trace-note'],
  ['virtio_iommu_report_fault FAULT reason=2 flags=256 endpoint=8 address =0x1000', 'trace-fault'],
  ['virtio_iommu_fill_resv_property dev= 8, type=1 start=0xfee00000 end=0xfeefffff', 'trace-note'],
  ['virtio_iommu_notify_map mr=m virt_start=0x1000 virt_end=0x1fff phys_start=0x2000 flags=3', 'trace-map'],
  ['virtio_iommu_notify_unmap mr=m virt_start=0x1000 virt_end=0x1fff', 'trace-unmap'],
  ['virtio_iommu_remap mr=m virt_start=0x1000 virt_end=0x1fff phys_start=0x2000', 'trace-note'],
  ['virtio_iommu_set_page_size_mask mr=m old_mask=0xfffffffffffff000 new_mask=0xffffffffffff0000', 'trace-note'],
  ['virtio_iommu_update_page_size_mask host iommu device=hostdev0 old_mask=0xfffffffffffff000 new_mask=0xffffffffffff0000', 'trace-note'],
  ['virtio_iommu_notify_flag_add add notifier to mr m', 'trace-note'],
  ['virtio_iommu_notify_flag_del del notifier from mr m', 'trace-note'],
  ['virtio_iommu_switch_address_space Device 00:03.0 switching address space (iommu enabled=1)', 'trace-note'],
  ['virtio_iommu_freeze_granule granule set to 0xfffffffffffff000', 'trace-note'],
  ['virtio_iommu_host_resv_regions mr=m host-resv-reg[1] = [0xfee00000,0xfeefffff]', 'trace-note'],
  ['vtd_inv_desc invalidate desc type context-cache high 0x0 low 0x11', 'trace-inval'],
  ['vtd_inv_desc_cc_domain context invalidate domain 0x1', 'trace-inval'],
  ['vtd_inv_desc_cc_global context invalidate globally', 'trace-inval'],
  ['vtd_inv_desc_iotlb_global iotlb invalidate global', 'trace-inval'],
  ['vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x1', 'trace-inval'],
  ['vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x0', 'trace-inval'],
  ['vtd_inv_desc_iotlb_pasid_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x0 pasid 0x1', 'trace-inval'],
  ['vtd_inv_desc_iotlb_pasid iotlb invalidate domain 0x1 pasid 0x1', 'trace-inval'],
  ['vtd_re_not_present Root entry bus 0 not present', 'trace-note'],
  ['vtd_ce_not_present Context entry bus 0 devfn 24 not present', 'trace-note'],
  ['vtd_iotlb_page_hit IOTLB page hit sid 0x18 iova 0x1000 slpte 0x2003 domain 0x1', 'ignored'],
  ['vtd_iotlb_page_update IOTLB page update sid 0x18 iova 0x1000 slpte 0x2003 domain 0x1', 'ignored'],
  ['vtd_iotlb_reset IOTLB reset (reason: global invalidation recved)', 'trace-note'],
  ['vtd_fault_disabled Fault processing disabled for context entry', 'trace-note'],
  ['vtd_replay_ce_valid legacy: replay valid context device 00:03.00 domain 0x1 hi 0x102 lo 0x12345001', 'trace-note'],
  ['vtd_replay_ce_invalid replay invalid context device 00:03.00', 'trace-note'],
  ['vtd_page_walk_level walk (base=0x12345000, level=3) iova range 0x0 - 0x8000000000', 'ignored'],
  ['vtd_page_walk_one domain 0x1 iova 0x1000 -> gpa 0x2000 mask 0xfff perm 3', 'trace-map'],
  ['vtd_page_walk_one_skip_map iova 0x1000 mask 0xfff translated 0x2000', 'ignored'],
  ['vtd_page_walk_one_skip_unmap iova 0x1000 mask 0xfff', 'ignored'],
  ['vtd_page_walk_skip_read Page walk skip iova 0x1000 - 0x2000 due to unable to read', 'trace-note'],
  ['vtd_page_walk_skip_reserve Page walk skip iova 0x1000 - 0x2000 due to rsrv set', 'trace-note'],
  ['vtd_switch_address_space Device 00:03.0 switching address space (iommu enabled=1)', 'trace-note'],
  ['vtd_as_unmap_whole Device 00:03.0 start 0x0 size 0x8000000000', 'trace-note'],
  ['vtd_dmar_translate dev 00:03.00 iova 0x1000 -> gpa 0x2000 mask 0xfff', 'trace-note'],
  ['vtd_dmar_enable enable 1', 'trace-note'],
  ['vtd_dmar_fault sid 0x18 fault 6 addr 0x1000 write 0', 'trace-fault'],
  ['vtd_frr_new index 0 high 0x8000000600000018 low 0x1000', 'trace-note'],
  ['vtd_device_attach_hwpt dev_id 1 pasid 0 hwpt_id 3, ret: 0', 'trace-note'],
  ['vtd_device_detach_hwpt dev_id 1 pasid 0 ret: 0', 'trace-note'],
  ['vtd_device_reattach_def_hwpt dev_id 1 pasid 0 hwpt_id 2, ret: 0', 'trace-note'],
  ['vfio_iommu_map_notify iommu MAP @ 0x1000 - 0x1fff', 'trace-map'],
  ['vfio_iommu_map_dirty_notify iommu dirty @ 0x1000 - 0x1fff', 'trace-note'],
  ['vfio_listener_region_skip SKIPPING region_del 0x1000 - 0x1fff', 'trace-note'],
  ['vfio_listener_region_add_skip SKIPPING region_add 0x1000 - 0x1fff', 'trace-note'],
  ['vfio_listener_region_del_skip SKIPPING region_del 0x1000 - 0x1fff', 'trace-note'],
  ['vfio_listener_region_add_iommu region_add [iommu] m 0x0 - 0xffffffffffffffff', 'trace-note'],
  ['vfio_listener_region_del_iommu region_del [iommu] m', 'trace-note'],
  ['vfio_listener_region_add_ram region_add [ram] 0x0 - 0x7fffffff [0x7f1200000000]', 'trace-note'],
  ['vfio_known_safe_misalignment Region "0000:3b:00.0 BAR 4 mmaps[0]" iova=0xfe000000 offset_within_region=0x0 qemu_real_host_page_size=0x10000', 'trace-note'],
  ['vfio_listener_region_add_no_dma_map Region "r" 0xfe000000 size=0x1000 is not aligned to 0x10000 and cannot be mapped for DMA', 'trace-note'],
  ['vfio_listener_region_del region_del 0x0 - 0x7fffffff', 'trace-note'],
  ['vfio_device_dirty_tracking_update section 0x0 - 0xfff -> update [0x0 - 0xfff]', 'trace-note'],
  ['vfio_legacy_dma_unmap_overflow_workaround ', 'trace-note'],
  ['vfio_dma_unmap_overflow_workaround ', 'trace-note'],
  ['vfio_container_query_dirty_bitmap iova=0x0 size= 0x1000 bitmap_size=0x8 start=0x0 dirty_pages=1', 'trace-note'],
  ['iommufd_cdev_connect_and_bind  [iommufd=3] Successfully bound device 0000:3b:00.0 (fd=25): output devid=1', 'trace-note'],
  ['iommufd_cdev_getfd  /dev/vfio/devices/vfio0 (fd=25)', 'trace-note'],
  ['iommufd_cdev_attach_ioas_hwpt  [iommufd=3] Successfully attached device 0000:3b:00.0 (25) to id=2', 'trace-attach'],
  ['iommufd_cdev_detach_ioas_hwpt  [iommufd=3] Successfully detached 0000:3b:00.0', 'trace-attach'],
  ['iommufd_cdev_fail_attach_existing_container  Cannot attach to existing container', 'trace-note'],
  ['iommufd_cdev_alloc_ioas  [iommufd=3] new IOMMUFD container with ioasid=2', 'trace-note'],
  ['iommufd_cdev_device_info  0000:3b:00.0 (25) num_irqs=5 num_regions=9 flags=3', 'trace-note'],
  ['iommufd_backend_connect fd=3 owned=1 users=1', 'trace-note'],
  ['iommufd_backend_disconnect fd=3 users=0', 'trace-note'],
  ['iommu_backend_set_fd pre-opened /dev/iommu fd=3', 'trace-note'],
  ['iommufd_backend_map_dma  iommufd=3 ioas=2 iova=0x1000 size=0x1000 addr=0x7f1200001000 readonly=0 (0)', 'trace-map'],
  ['iommufd_backend_map_file_dma  iommufd=3 ioas=2 iova=0x1000 size=0x1000 fd=17 start=0 readonly=0 (0)', 'trace-map'],
  ['iommufd_backend_unmap_dma_non_exist  Unmap nonexistent mapping: iommufd=3 ioas=2 iova=0x1000 size=0x1000 (-1)', 'trace-unmap'],
  ['iommufd_backend_unmap_dma  iommufd=3 ioas=2 iova=0x1000 size=0x1000 (0)', 'trace-unmap'],
  ['iommufd_backend_alloc_ioas  iommufd=3 ioas=2', 'trace-note'],
  ['iommufd_backend_alloc_hwpt  iommufd=3 dev_id=1 pt_id=2 flags=0x0 hwpt_type=0 len=0 data_ptr=0x0 out_hwpt=4 (0)', 'trace-note'],
  ['iommufd_backend_free_id  iommufd=3 id=4 (0)', 'trace-note'],
  ['iommufd_backend_set_dirty  iommufd=3 hwpt=4 enable=1 (0)', 'trace-note'],
  ['iommufd_backend_get_dirty_bitmap  iommufd=3 hwpt=4 iova=0x0 size=0x1000 page_size=0x1000 (0)', 'trace-note'],
  ['iommufd_backend_invalidate_cache  iommufd=3 id=4 data_type=1 entry_len=32 entry_num=1 done_num=1 data_ptr=0x7f1200000000 (0)', 'trace-note'],
  ['iommufd_backend_alloc_viommu  iommufd=3 type=1 dev_id=1 hwpt_id=4 viommu_id=5 (0)', 'trace-note'],
  ['iommufd_backend_alloc_vdev  iommufd=3 dev_id=1 viommu_id=5 virt_id=0x18 vdev_id=6 (0)', 'trace-note'],
  ['iommufd_viommu_alloc_eventq  iommufd=3 viommu_id=5 type=1 veventq_id=7 veventq_fd=30 (0)', 'trace-note'],
  ['iommufd_backend_alloc_hw_queue  iommufd=3 viommu_id=5 vqueue_type=1 index=0 addr=0x80000000 size=0x10000 vqueue_id=8 (0)', 'trace-note'],
];

describe('QemuTraceImporter: every known event', () => {
  it('has a line in this test', () => {
    const named = new Set(EVERY_EVENT.map(([l]) => l.slice(0, l.indexOf(' ') < 0 ? l.length : l.indexOf(' '))));
    expect([...QEMU_EVENTS.keys()].filter((n) => !named.has(n))).toEqual([]);
  });

  it.each(EVERY_EVENT)('%s → %s', (line, kind) => {
    const name = line.slice(0, line.indexOf(' '));
    for (const prefixed of [line, `4242@1751371200.000001:${line}`]) {
      const r = q.parse(prefixed);
      if (kind === 'ignored') {
        expect(r.t).toBe('ignored');
        continue;
      }
      if (r.t !== 'event') throw new Error(`${prefixed}: ${JSON.stringify(r)}`);
      expect(r.events[0]!.kind).toBe(kind);
      expect((r.events[0]!.data as { event: string }).event).toBe(name);
    }
    // Another body: an error naming the event's format (a format that is only `%s` takes anything).
    if (kind !== 'ignored' && name !== 'iommufd_cdev_fail_attach_existing_container') {
      expect(q.parse(`${name} x=#`)).toEqual({ t: 'error', message: expect.stringMatching(new RegExp(`^${name}: expected '`)) });
    }
  });
});
