/**
 * The scenario schema of the guest DMA layer (issue 8 §1, "Scenario syntax (a contract)"): the
 * `guest:` block (Linux's dma-iommu options: iommu.strict, iommu.forcedac, the flush-queue kind, HZ,
 * the host bridge's memory windows), the guest PCI topology keys of `devices[]` (root ports, ACS,
 * the driver's DMA mask), virtio-iommu's `host-geometry` property, and the steps that drive a
 * driver's DMA API — `dma-map:` / `dma-unmap:` (dma_map_page / dma_unmap_page), `dma-stream:` (a
 * ring of buffers mapped, accessed and unmapped over and over, as a NIC driver does) — and `wait:`
 * (virtual time passes: flush-queue timers fire). Part of the one schema (schema.ts imports it);
 * the semantic checks and the resolved model are in guest-model.ts.
 *
 * Reference: ../../../shared/reference/trace-formats-and-guest-dma.md part B (B1 dma-iommu.c, B2
 * iova.c, B3 strict vs lazy), iommufd-vfio-hostiommu.md §5.4 (virtio-iommu host geometry).
 */
import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import { U64, UInt } from './kinds.ts';

const literals = <T extends readonly string[]>(values: T, description: string, extra: Record<string, unknown> = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description, ...extra },
  ) as unknown as TSchema & { static: T[number] };
const obj = <P extends TProperties>(props: P, description: string, extra: Record<string, unknown> = {}) => Type.Object(props, { additionalProperties: false, description, ...extra });
const opt = <T extends TSchema>(s: T) => Type.Optional(s);
const count = (description: string) => UInt(0, 0xffff_ffff, { description });

/** The DMA directions a step may name (enum dma_data_direction, include/linux/dma-direction.h). */
export const DMA_DIRS = ['to-device', 'from-device', 'bidirectional'] as const;
/** A DMA direction as written. */
export type DmaDirName = (typeof DMA_DIRS)[number];

/** CONFIG_HZ choices (kernel/Kconfig.hz): the jiffy length the flush-queue timeout is rounded to. */
export const HZ_CHOICES = [100, 250, 300, 1000] as const;

/** Largest number of guest CPUs (`guest.cpus`). */
export const MAX_GUEST_CPUS = 256;

/** Bytes a dma-map / dma-unmap / dma-stream buffer is below (2^52: every page number stays an exact double). */
export const MAX_DMA_SIZE = 1n << 52n;

// ---------------------------------------------------------------------------------------------
// guest:

const PciWindow = obj(
  {
    start: U64({ description: 'First address of the window.' }),
    end: U64({ description: 'Last address of the window, inclusive.' }),
  },
  "A host bridge memory window (the guest's PCI MMIO aperture, e.g. q35's 32-bit hole 0xc0000000-0xfebfffff).",
);

/** The `guest:` block. */
export const GuestSchema = obj(
  {
    'iommu-dma': opt(
      literals(['strict', 'lazy'] as const, 'Linux `iommu.strict`: strict (1: every dma-unmap invalidates the IOTLB at once) or lazy (0: unmapped IOVAs wait in a flush queue for a batched flush). Default lazy: CONFIG_IOMMU_DEFAULT_DMA_LAZY=y, as distribution kernels set it (reference B3).', {
        default: 'lazy',
      }),
    ),
    cpus: opt(UInt(1, MAX_GUEST_CPUS, { description: 'Guest CPUs (1 to 256): each has its IOVA magazines (iova.c rcache) and, in lazy mode, its flush queue; steps name one with `cpu`.', default: 1 })),
    forcedac: opt(Type.Boolean({ description: 'Linux `iommu.forcedac=1`: PCI devices skip the 32-bit-first IOVA allocation (pci_32bit_workaround off) and allocate from their full DMA limit at once (reference B1).', default: false })),
    'single-flush-queue': opt(
      Type.Boolean({
        description: "Lazy mode with one shared flush queue of 32768 entries and a 1000 ms timeout (IOVA_SINGLE_FQ_SIZE / _TIMEOUT, as Linux uses when the IOMMU driver sets shadow_on_flush) instead of a 256-entry queue per CPU with a 10 ms timeout (IOVA_DEFAULT_FQ_SIZE / _TIMEOUT; reference B3).",
        default: false,
      }),
    ),
    hz: opt(UInt(100, 1000, { description: 'CONFIG_HZ: 100, 250, 300 or 1000. The flush-queue timer is armed for msecs_to_jiffies(timeout) jiffies.', default: 1000 })),
    'pci-windows': opt(
      Type.Array(PciWindow, {
        description: "The host bridge's memory windows: iova_reserve_pci_windows carves them out of a PCI device's IOVA space when its domain is first initialised (reference B1). Default none.",
        default: [],
      }),
    ),
  },
  "The guest kernel's DMA layer (Linux dma-iommu and iova.c): one default DMA domain per IOMMU group, its IOVA allocator and its invalidation policy. The layer exists when this block is present or any dma-map / dma-unmap / dma-stream step is (then with these defaults).",
);

// ---------------------------------------------------------------------------------------------
// devices[]: the guest topology keys, and virtio-iommu's host-geometry

/** Keys the guest layer adds to a `devices[]` entry (schema.ts DeviceSchema spreads them). */
export const GUEST_DEVICE_PROPS = {
  type: opt(
    literals(['endpoint', 'root-port'] as const, 'endpoint (a device that does DMA) or root-port (QEMU pcie-root-port: an emulated PCIe root port that endpoints sit `behind`).', {
      default: 'endpoint',
    }),
  ),
  behind: opt(Type.String({ minLength: 1, description: 'The root port (a `type: root-port` device declared earlier) this endpoint sits behind; with the port\'s ACS off they share an IOMMU group (Linux pci_device_group).' })),
  acs: opt(Type.Boolean({ description: "Root ports only: whether the port has an ACS capability (QEMU pcie-root-port's default; `acs: false` is its `disable-acs=on`). Default true." })),
  // No schema default: a root port's differs from an endpoint's (guest-model.ts resolveGuestDevice).
  'dma-mask': opt(
    UInt(12, 64, {
      description: "The device's DMA mask in bits: the IOVA allocator never goes above 2^bits − 1. Default 64 for an endpoint (its driver set it with dma_set_mask_and_coherent), 32 for a root port (pci_setup_device's 32-bit default, which the pcieport driver keeps).",
    }),
  ),
} as const;

/** virtio-iommu's `host-geometry` (schema.ts ViommuSchema). */
export const HostGeometrySchema = literals(
  ['realize', 'listener', 'none'] as const,
  "How an assigned device's host IOVA ranges reach virtio-iommu: realize (QEMU 9.1+: the HostIOMMUDevice's get_iova_ranges at realize, through PCIIOMMUOps set_iommu_device, before any PROBE), listener (QEMU 8.2-9.0: the VFIO memory listener passes them only when the IOMMU memory region is enabled — at machine init done for coldplugged devices, at the ATTACH after a hotplugged device's PROBE was answered) or none (QEMU 8.1 and before: never; virtio-iommu assumes a 64-bit IOVA space). Reference iommufd-vfio-hostiommu.md §5.4.",
  { default: 'realize' },
);

// ---------------------------------------------------------------------------------------------
// Steps

const Device = Type.String({ minLength: 1, description: 'A device from `devices` (an endpoint): its name, or its PCI address "bb:dd.f".' });
const Dir = literals(DMA_DIRS, 'DMA direction: to-device (DMA_TO_DEVICE: the device reads, IOMMU_READ), from-device (DMA_FROM_DEVICE: the device writes, IOMMU_WRITE) or bidirectional (both).');
const Cpu = opt(UInt(0, MAX_GUEST_CPUS - 1, { description: 'The CPU the driver runs on (below guest.cpus): whose IOVA magazine and flush queue are used.', default: 0 }));
const Size = (description: string) => U64({ description: `${description} At least 1, below 2^52.` });
const handleName = (description: string) =>
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', description, errorMessage: 'a handle name starts with a letter or _ and has only letters, digits, _ . -' });

/** `dma-map: {device, size, dir, …}`. */
export const DmaMapArgs = obj(
  {
    device: Device,
    size: Size('Bytes to map.'),
    dir: Dir,
    phys: opt(U64({ description: 'Guest-physical address of the page to map. Default: a fresh buffer the guest allocates.' })),
    offset: opt(UInt(0, 0xffff_ffff, { description: 'Byte offset into the page at `phys` (dma_map_page\'s offset): the IOVA keeps the offset within the IOVA granule.', default: 0 })),
    cpu: Cpu,
    out: opt(handleName('Names the mapping (its IOVA and size) for a later dma-unmap `handle`; unique in the scenario.')),
  },
  "A driver's dma_map_page (dma-iommu iommu_dma_map_page): an IOVA from the device's domain allocator, then the vIOMMU's MAP and, through it, the host backend's map.",
);

/** `expect` of a dma-map step. */
export const DmaMapExpect = obj(
  {
    iova: opt(U64({ description: 'The IOVA the map returns.' })),
    error: opt(literals(['DMA_MAPPING_ERROR'] as const, 'The map fails: dma_mapping_error() is true (no IOVA, or the vIOMMU refused the MAP).')),
    host: opt(literals(['mapped', 'failed', 'none'] as const, 'The host side: mapped (the backend mapped it), failed (the backend refused: QEMU reports it, the guest does not know) or none (no host map: an emulated device, or no MAP was sent).')),
  },
  'Expected dma-map outcome: `{iova: ADDR}` or `{error: DMA_MAPPING_ERROR}`, and optionally `host: mapped | failed | none`; only the keys given are compared.',
);

/** `dma-unmap: {handle}` or `{device, iova, size, dir?}`. */
export const DmaUnmapArgs = obj(
  {
    handle: opt(handleName('The mapping an earlier dma-map named with `out`.')),
    device: opt(Device),
    iova: opt(U64({ description: 'The IOVA to unmap (with device and size, instead of handle).' })),
    size: opt(Size('Bytes to unmap (with device and iova).')),
    dir: opt(Dir),
    cpu: Cpu,
  },
  "A driver's dma_unmap_page (dma-iommu __iommu_dma_unmap): the vIOMMU's UNMAP, then the IOVA is freed at once (strict) or queued until a flush (lazy). Give `handle`, or all of device, iova and size.",
);

/** `expect` of a dma-unmap step. */
export const DmaUnmapExpect = obj(
  { host: opt(literals(['unmapped', 'failed', 'none'] as const, 'The host side: unmapped, failed (the backend refused) or none (no host unmap).')) },
  'Expected dma-unmap outcome: `{host: unmapped | failed | none}`.',
);

/** `dma-stream: {device, buffers, size, dir, iterations, …}`. */
export const DmaStreamArgs = obj(
  {
    device: Device,
    buffers: UInt(1, 65536, { description: 'Buffers in the ring (1 to 65,536): each is mapped, accessed and unmapped in turn.' }),
    size: Size('Bytes per buffer.'),
    dir: Dir,
    iterations: UInt(1, 10_000_000, { description: 'Buffers to process in all (1 to 10,000,000): iteration i uses ring slot i mod buffers.' }),
    access: opt(Type.Boolean({ description: "Whether the device accesses each buffer (one DMA of `size` bytes in `dir`'s direction) between its map and its unmap.", default: true })),
    cpu: Cpu,
  },
  'A driver ring (a NIC\'s RX or TX queue): each iteration maps a buffer, lets the device access it and unmaps it, through the same path as dma-map / dma-unmap.',
);

/** `expect` of a dma-stream step. */
export const DmaStreamExpect = obj(
  {
    'failed-maps': opt(count('dma-map calls that returned DMA_MAPPING_ERROR.')),
    'failed-host-maps': opt(count('Host maps the backend refused.')),
    stale: opt(count('Device accesses that went through a stale IOTLB entry (an unmapped buffer still reachable before the flush).')),
    faults: opt(count('Device accesses that faulted.')),
  },
  'Expected dma-stream totals; only the keys listed are compared.',
);

/** The most of each unit a `wait` may give: one day of virtual time. */
const DAY_MS = 86_400_000;

/** `wait: {ms}` / `{us}` / `{ns}`. */
export const WaitArgs = obj(
  {
    ms: opt(UInt(0, DAY_MS, { description: 'Milliseconds.' })),
    us: opt(UInt(0, DAY_MS * 1000, { description: 'Microseconds.' })),
    ns: opt(UInt(0, DAY_MS * 1_000_000, { description: 'Nanoseconds.' })),
  },
  'Virtual time passes (exactly one of ms, us, ns; at most one day): timers that fall due fire (the flush queues\' timeout flushes).',
);

/** `expect` of a wait step (nothing to compare). */
export const WaitExpect = obj({}, 'A wait has no outcome to compare: write `{}` or no expect.');

/** The guest step ops (schema.ts STEP_OPS lists them after the others). */
export const GUEST_STEP_OPS = ['dma-map', 'dma-unmap', 'dma-stream', 'wait'] as const;
/** A guest step op. */
export type GuestStepOp = (typeof GUEST_STEP_OPS)[number];
