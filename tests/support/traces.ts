/**
 * Trace text shared by the replay tests (core and CLI): a QEMU -trace log written from
 * hw/virtio/trace-events and backends/trace-events (reference trace-formats-and-guest-dma.md A2)
 * with the `tid@sec.usec:` prefix — an ATTACH, a MAP above 2^39 shadowed by iommufd, an access
 * that translated, the UNMAP, and an access after it that faulted.
 */
export const QEMU_REPLAY_LOG_LINES: readonly string[] = [
  '9@100.000001:virtio_iommu_attach domain=1 endpoint=24',
  '9@100.000002:virtio_iommu_map domain=1 virt_start=0x8000000000 virt_end=0x8000000fff phys_start=0x40000000 flags=3',
  '9@100.000003:iommufd_backend_map_dma  iommufd=10 ioas=2 iova=0x8000000000 size=0x1000 addr=0x7f3c40000000 readonly=0 (0)',
  '9@100.000004:virtio_iommu_translate mr=virtio-iommu-0-3 rid=24 addr=0x8000000010 flag=1',
  '9@100.000005:virtio_iommu_unmap domain=1 virt_start=0x8000000000 virt_end=0x8000000fff',
  '9@100.000006:virtio_iommu_translate mr=virtio-iommu-0-3 rid=24 addr=0x8000000010 flag=2',
  '9@100.000007:virtio_iommu_report_fault FAULT reason=2 flags=258 endpoint=24 address =0x8000000010',
];

/**
 * A Linux ftrace of a driver's DMA API calls (include/trace/events/dma.h, iommu.h; reference A1):
 * the NIC 0000:00:03.0 maps a 4 KiB receive buffer, unmaps it 100 µs later, and 100 µs after that
 * the device writes into it anyway — a late DMA the IOMMU reported (iommu:io_page_fault). Recorded
 * with strict invalidation, so the write faulted; with a flush queue (lazy) the unmap would still
 * be queued and the write would go through. The golden replay test's trace.
 */
export const GUEST_LATE_DMA_FTRACE_LINES: readonly string[] = [
  '# tracer: nop',
  '#',
  '            nvme-77      [000] .....   100.000100: dma_map_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=40000000 attrs=',
  '            nvme-77      [000] .....   100.000150: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000040000000 size=4096',
  '            nvme-77      [000] .....   100.000200: dma_unmap_phys: 0000:00:03.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs=',
  '   irq/30-AMD-Vi-250     [000] d.h1.   100.000300: io_page_fault: IOMMU:nvme 0000:00:03.0 iova=0x00000000fffff010 flags=0x0001',
];
