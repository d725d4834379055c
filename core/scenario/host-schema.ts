/**
 * The scenario schema of the host side (issue 7 §2-§4): the `host:` platform (physical IOMMUs and
 * host devices, core/host/platform's HostDesc in YAML), `backend:` and `kernel:`, and the steps
 * that script the backends' uAPI — `iommufd:` (include/uapi/linux/iommufd.h) and `vfio:`
 * (include/uapi/linux/vfio.h, the type1 container ioctls) — plus `host-dma:` (an assigned device's
 * DMA through its physical IOMMU) and `device-add:` (QEMU's device_add of a guest device backed by
 * a host device). Part of the one schema (schema.ts imports it).
 *
 * Argument names are the uAPI's field names in kebab case (`ioas-id` is written `ioas`, `dev-id`
 * `dev`, `pt-id` `pt`, `hwpt-id` `hwpt`: the object they name). An object argument is an `out` name
 * bound by an earlier step or a numeric ID. Every `iommufd`/`vfio` step's `expect` is an errno name
 * (`OK` for success) or `{errno?, <kebab uAPI output>: value, …}`; an object-ID output (ID_OUTPUTS:
 * `pt-id`, `out-hwpt-id`, …) may also be an `out` name of an earlier step, compared against the ID
 * it was bound to (`{pt-id: hwpt0}`); u64 outputs (IOVAs, lengths) are numbers.
 * Reference: ../../../shared/reference/iommufd-vfio-hostiommu.md §1-§5.
 */
import { Type, type TSchema, type TUnion } from '@sinclair/typebox';
import { ERRNO } from '../host/errno.ts';
import { KERNEL_ERAS } from '../host/kernel.ts';
import { DEVICE_TYPES } from '../host/platform/describe.ts';
import { IOMMU_MODELS, RESV_TYPES } from '../host/platform/models.ts';
import { U64, UInt } from './kinds.ts';

const U32_MAX = 0xffff_ffff;

const literals = <T extends readonly string[]>(values: T, description: string, extra: Record<string, unknown> = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description, ...extra },
  ) as unknown as TSchema & { static: T[number] };
const u32 = (description: string, extra: Record<string, unknown> = {}) => UInt(0, U32_MAX, { description, ...extra });
const obj = (props: Record<string, TSchema>, description: string, extra: Record<string, unknown> = {}) => Type.Object(props, { additionalProperties: false, description, ...extra });
const opt = <T extends TSchema>(s: T) => Type.Optional(s);

/**
 * A union of maps told apart by the value of one key (`op`, `model`): validate.ts picks the
 * variant whose `key` literal is the node's, and reports an unknown value with the allowed ones.
 */
export function discriminated<T extends TSchema[]>(key: string, variants: [...T], description: string): TUnion<T> {
  return Type.Union(variants, { description, discriminator: key }) as unknown as TUnion<T>;
}

/** Errno names a host step may expect: OK and every errno the backends return (core/host/errno.ts). */
export const ERRNO_NAMES = Object.keys(ERRNO) as (keyof typeof ERRNO)[];

// ---------------------------------------------------------------------------------------------
// host:, backend:, kernel:

const PageSizes = Type.Union([U64({ description: 'A bitmap: bit n set = pages of 2^n bytes.' }), Type.Array(U64(), { description: 'Page sizes in bytes, e.g. [0x1000, 0x200000, 0x40000000].' })], {
  description: 'Page sizes the IOMMU supports: a bitmap or a list of sizes (each at least 4 KiB). Default: the model\'s (reference §3).',
});

const ReservedRegion = obj(
  {
    start: U64({ description: 'First address.' }),
    end: opt(U64({ description: 'Last address, inclusive (or give `length`).' })),
    length: opt(U64({ description: 'Length in bytes (or give `end`).' })),
    type: literals(RESV_TYPES, 'enum iommu_resv_type: direct, direct-relaxable, reserved, msi (a HW MSI window), sw-msi (the software-managed MSI window).'),
  },
  'A platform reserved region (include/linux/iommu.h struct iommu_resv_region).',
);

const HostIommu = obj(
  {
    name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', description: 'Name of the IOMMU (dmar0, smmu0, …): its component id, lower-cased.', errorMessage: 'an IOMMU name starts with a letter or _ and has only letters, digits, _ . -' }),
    model: literals(IOMMU_MODELS, 'intel-vtd (VT-d), amd-vi (AMD-Vi) or arm-smmuv3 (SMMUv3).'),
    'aw-bits': opt(UInt(32, 64, { description: 'Input address width in bits (VT-d MGAW, SMMUv3 IAS). Default: the model\'s.' })),
    'page-sizes': opt(PageSizes),
    'dirty-tracking': opt(Type.Boolean({ description: 'Dirty tracking (VT-d SLADS, SMMUv3 HTTU, AMD HD): IOMMU_HW_CAP_DIRTY_TRACKING. Default: the model\'s.' })),
    nesting: opt(Type.Boolean({ description: 'Nested translation (VT-d ECAP.NEST, SMMUv3 S1+S2). Default: the model\'s.' })),
    'cache-coherency': opt(Type.Boolean({ description: 'Page-walk cache coherency (IOMMU_CAP_CACHE_COHERENCY; iommufd refuses to bind a device without it). Default true.' })),
    'reserved-regions': opt(Type.Array(ReservedRegion, { description: 'Replaces the model\'s platform reserved regions (x86: the MSI window 0xfee00000-0xfeefffff; ARM: the software MSI window); [] removes them.' })),
  },
  'A physical IOMMU (reference §3). Each model\'s defaults come from the reference.',
);

const HostDevice = obj(
  {
    name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', description: 'Name used by steps (device-bind, group-set-container, host-dma, a guest device\'s `host`).', errorMessage: 'a host device name starts with a letter or _ and has only letters, digits, _ . -' }),
    bdf: opt(Type.String({ description: 'PCI address "DDDD:BB:DD.F" or "BB:DD.F" (required except for an mdev).' })),
    type: literals(DEVICE_TYPES, 'root-port, switch-port, pcie-to-pci-bridge (shape the groups), vfio-pci (assignable), endpoint (a host-driver device), mdev (mediated: no IOMMU domain of its own).'),
    iommu: opt(Type.String({ description: 'The IOMMU translating its DMA (a name in host.iommus); inherited from the port it is `behind` when absent.' })),
    behind: opt(Type.String({ description: 'The root port, switch port or PCIe-to-PCI bridge upstream of it.' })),
    acs: opt(Type.Boolean({ description: 'Ports: whether ACS isolates the devices below (default true); without it they share a group (Linux pci_device_group).' })),
    group: opt(u32('An explicit IOMMU group number, overriding Linux\'s rule.')),
    parent: opt(Type.String({ description: 'An mdev\'s parent device (the one that does its DMA).' })),
  },
  'A host PCI device (reference §3: IOMMU groups follow Linux\'s rules).',
);

/** The `host:` block. */
export const HostSchema = obj(
  {
    iommus: opt(Type.Array(HostIommu, { description: 'The physical IOMMUs.', default: [] })),
    devices: opt(Type.Array(HostDevice, { description: 'The host devices: ports and bridges, assignable functions, mdevs.', default: [] })),
  },
  'The host platform: physical IOMMUs and host devices; their IOMMU groups are computed as Linux does and shown by the run (iommu-group events).',
);

/** `backend:`. */
export const BackendSchema = literals(['iommufd', 'vfio-type1'] as const, 'How QEMU reaches assigned devices: iommufd (the default) or the legacy VFIO type1 container.', { default: 'iommufd' });

/** `kernel:`: the kernel era whose uAPI outcomes the backends model. */
export const KernelSchema = Type.Union([literals(KERNEL_ERAS, 'Kernel era.'), UInt(2024, 2025, { description: 'Kernel era as a number.' })], {
  description: "The kernel era whose uAPI outcomes the backends model (core/host/kernel.ts): '2025' (newest: type1 wraps give EOVERFLOW, iommufd's VFIO-compat empty unmap succeeds) or '2024'. Default: the newest.",
});

// ---------------------------------------------------------------------------------------------
// Object references and outputs

/** An object argument: an `out` name bound by an earlier step, or a numeric ID. */
const Ref = (what: string) =>
  Type.Union([u32(`The ${what} ID as a number.`), Type.String({ minLength: 1, description: `An \`out\` name bound by an earlier step to a ${what} ID.` })], {
    description: `The ${what}: an \`out\` name from an earlier step, or its numeric ID.`,
  });
/** An address argument: a u64, or an `out` name bound to an IOVA (ioas-map / ioas-copy). */
const Addr = (description: string) =>
  Type.Union([U64({ description }), Type.String({ minLength: 1, description: 'An `out` name bound by an earlier ioas-map / ioas-copy to the IOVA it returned.' })], {
    description: `${description} A number, or an \`out\` name bound to an IOVA.`,
  });
/**
 * An object-ID output in `expect`: a number, or an `out` name bound by an earlier step (compared
 * against the ID it was bound to).
 */
const IdOut = (description: string) =>
  Type.Union([u32(description), Type.String({ minLength: 1, description: 'An `out` name bound by an earlier step: compared against the ID it was bound to.' })], {
    description: `${description} A number, or an \`out\` name from an earlier step.`,
  });
const Out = (what: string) => opt(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', description: `Names the ${what} this call returns, for later steps.`, errorMessage: 'an out name starts with a letter or _ and has only letters, digits, _ . -' }));
const RangeTuple = Type.Tuple([U64(), U64()], { description: '[start, last] (inclusive).' });
const Flags = (names: readonly string[], description: string) =>
  opt(Type.Array(Type.Union([literals(names, `${names.join(', ')}.`), u32('Raw flag bits, OR-ed in.')], { description: 'A flag name or raw bits.' }), { description }));
const HostDeviceName = Type.String({ minLength: 1, description: 'A host device name from host.devices.' });

const variant = (op: string, props: Record<string, TSchema>, description: string) => obj({ op: Type.Literal(op, { description }), ...props }, description, { title: op });

// ---------------------------------------------------------------------------------------------
// iommufd ops

/** iommufd ops, in the order the reference lists them. */
export const IOMMUFD_OPS = [
  'ioas-alloc',
  'ioas-map',
  'ioas-copy',
  'ioas-unmap',
  'ioas-iova-ranges',
  'ioas-allow-iovas',
  'option',
  'device-bind',
  'device-unbind',
  'device-attach',
  'device-detach',
  'device-replace',
  'hwpt-alloc',
  'hwpt-set-dirty-tracking',
  'hwpt-get-dirty-bitmap',
  'hwpt-invalidate',
  'viommu-alloc',
  'vdevice-alloc',
  'get-hw-info',
  'destroy',
] as const;
export type IommufdOp = (typeof IOMMUFD_OPS)[number];

const IOAS_MAP_FLAGS = ['fixed-iova', 'writeable', 'readable'] as const;

const IOMMUFD_VARIANTS: Record<IommufdOp, TSchema> = {
  'ioas-alloc': variant('ioas-alloc', { out: Out('IOAS ID (out_ioas_id)') }, 'IOMMU_IOAS_ALLOC: a new IOAS (§2).'),
  'ioas-map': variant(
    'ioas-map',
    {
      ioas: Ref('IOAS'),
      iova: opt(Addr('IOVA (used with fixed-iova).')),
      length: U64({ description: 'Bytes.' }),
      'user-va': opt(U64({ description: 'User VA of the memory. Default: the IOVA with fixed-iova, else a fresh 1 GiB-aligned buffer.' })),
      flags: Flags(IOAS_MAP_FLAGS, 'IOMMU_IOAS_MAP_FIXED_IOVA / _WRITEABLE / _READABLE.'),
      out: Out('IOVA (written back)'),
    },
    'IOMMU_IOAS_MAP (§2.1): map user memory at a fixed or kernel-chosen IOVA. Output: iova.',
  ),
  'ioas-copy': variant(
    'ioas-copy',
    {
      'dst-ioas': Ref('destination IOAS'),
      'src-ioas': Ref('source IOAS'),
      length: U64({ description: 'Bytes.' }),
      'src-iova': Addr('Source IOVA.'),
      'dst-iova': opt(Addr('Destination IOVA (with fixed-iova).')),
      flags: Flags(IOAS_MAP_FLAGS, 'IOMMU_IOAS_MAP_FIXED_IOVA / _WRITEABLE / _READABLE.'),
      out: Out('destination IOVA (written back)'),
    },
    'IOMMU_IOAS_COPY (§2.2): map the pages of a source range into another IOAS. Output: dst-iova.',
  ),
  'ioas-unmap': variant(
    'ioas-unmap',
    { ioas: Ref('IOAS'), iova: Addr('IOVA (0 with length 0xffffffffffffffff: unmap all).'), length: U64({ description: 'Bytes (0xffffffffffffffff with iova 0: all).' }) },
    'IOMMU_IOAS_UNMAP (§2.3): whole areas only; iova 0 + length U64_MAX unmaps everything. Output: length (bytes unmapped).',
  ),
  'ioas-iova-ranges': variant(
    'ioas-iova-ranges',
    { ioas: Ref('IOAS'), 'num-iovas': opt(u32('Room in the user array (entries).', { default: 64 })) },
    'IOMMU_IOAS_IOVA_RANGES (§2): the usable IOVA ranges. Outputs: num-iovas, ranges, out-iova-alignment (EMSGSIZE when num-iovas is too small, with the count needed).',
  ),
  'ioas-allow-iovas': variant('ioas-allow-iovas', { ioas: Ref('IOAS'), ranges: Type.Array(RangeTuple, { description: 'Allowed ranges, [start, last] each ([] allows everything).' }) }, 'IOMMU_IOAS_ALLOW_IOVAS (§2): restrict kernel-chosen IOVAs.'),
  option: variant(
    'option',
    {
      option: literals(['rlimit-mode', 'huge-pages'] as const, 'IOMMU_OPTION_RLIMIT_MODE or IOMMU_OPTION_HUGE_PAGES.'),
      ioas: opt(Ref('IOAS (object_id; huge-pages only)')),
      val64: opt(U64({ description: 'The value to set (IOMMU_OPTION_OP_SET); absent: IOMMU_OPTION_OP_GET.' })),
    },
    'IOMMU_OPTION (§2.4): get or set rlimit-mode (global) or huge-pages (per IOAS). Output: val64.',
  ),
  'device-bind': variant('device-bind', { device: HostDeviceName, out: Out('device ID (out_devid)') }, 'VFIO_DEVICE_BIND_IOMMUFD: bind a host device to this iommufd through its cdev (§2.5); EBUSY while its group is set on a container (/dev/vfio/N open). Output: out-dev-id.'),
  'device-unbind': variant('device-unbind', { dev: Ref('device') }, 'Close the bound VFIO device (iommufd_device_unbind).'),
  'device-attach': variant('device-attach', { dev: Ref('device'), pt: Ref('IOAS or HWPT'), out: Out('HWPT ID (pt_id written back: the auto domain for an IOAS)') }, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT (§2.5): attach to a HWPT, or to an IOAS through an auto domain. Output: pt-id.'),
  'device-detach': variant('device-detach', { dev: Ref('device') }, 'VFIO_DEVICE_DETACH_IOMMUFD_PT.'),
  'device-replace': variant('device-replace', { dev: Ref('device'), pt: Ref('IOAS or HWPT'), out: Out('HWPT ID (pt_id written back)') }, 'iommufd_device_replace: move an attached device to another IOAS/HWPT. Output: pt-id.'),
  'hwpt-alloc': variant(
    'hwpt-alloc',
    {
      dev: Ref('device'),
      pt: Ref('IOAS (or nest-parent HWPT / vIOMMU for a nested HWPT)'),
      flags: Flags(['nest-parent', 'dirty-tracking', 'fault-id-valid', 'pasid'] as const, 'IOMMU_HWPT_ALLOC_NEST_PARENT / _DIRTY_TRACKING / IOMMU_HWPT_FAULT_ID_VALID / IOMMU_HWPT_ALLOC_PASID.'),
      'data-type': opt(Type.Union([literals(['none', 'vtd-s1', 'arm-smmuv3'] as const, 'IOMMU_HWPT_DATA_NONE / _VTD_S1 / _ARM_SMMUV3.'), u32('Raw data type.')], { description: 'enum iommu_hwpt_data_type (default none).' })),
      'data-len': opt(u32('Bytes of driver data (default: 0 with none, the type\'s size otherwise).')),
      'fault-id': opt(u32('The fault queue ID (with fault-id-valid).')),
      out: Out('HWPT ID (out_hwpt_id)'),
    },
    'IOMMU_HWPT_ALLOC (§2.5): a paging HWPT on an IOAS (nest-parent, dirty-tracking), or a nested one. Output: out-hwpt-id.',
  ),
  'hwpt-set-dirty-tracking': variant('hwpt-set-dirty-tracking', { hwpt: Ref('HWPT'), enable: Type.Boolean({ description: 'IOMMU_HWPT_DIRTY_TRACKING_ENABLE.' }) }, 'IOMMU_HWPT_SET_DIRTY_TRACKING (§2.6).'),
  'hwpt-get-dirty-bitmap': variant(
    'hwpt-get-dirty-bitmap',
    {
      hwpt: Ref('HWPT'),
      iova: Addr('First IOVA.'),
      length: U64({ description: 'Bytes.' }),
      'page-size': opt(U64({ description: 'Bytes per bitmap bit.', default: 4096 })),
      flags: Flags(['no-clear'] as const, 'IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR.'),
    },
    'IOMMU_HWPT_GET_DIRTY_BITMAP (§2.6): read (and clear) the dirty bits. Output: bitmap (u64 words, bit n = page n).',
  ),
  'hwpt-invalidate': variant(
    'hwpt-invalidate',
    {
      hwpt: Ref('HWPT or vIOMMU'),
      'data-type': Type.Union([literals(['vtd-s1', 'arm-smmuv3'] as const, 'IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 / IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3.'), u32('Raw type.')], { description: 'enum iommu_hwpt_invalidate_data_type.' }),
      entries: Type.Array(
        obj({ addr: opt(U64({ description: 'VTD_S1: start address.' })), npages: opt(U64({ description: 'VTD_S1: pages.' })), flags: opt(u32('VTD_S1 flags (1 = LEAF).')), opcode: opt(u32('ARM_SMMUV3: the CMDQ opcode.')) }, 'One invalidation entry.'),
        { description: 'The entries.' },
      ),
      'entry-len': opt(u32('Bytes per entry (default: the type\'s size).')),
      'data-uptr': opt(U64({ description: 'User pointer to the entries (default non-zero).' })),
    },
    'IOMMU_HWPT_INVALIDATE (§2.8). Output: entry-num (entries handled).',
  ),
  'viommu-alloc': variant(
    'viommu-alloc',
    {
      dev: Ref('device'),
      hwpt: Ref('nest-parent HWPT'),
      type: Type.Union([literals(['default', 'arm-smmuv3', 'tegra241-cmdqv'] as const, 'IOMMU_VIOMMU_TYPE_DEFAULT / _ARM_SMMUV3 / _TEGRA241_CMDQV.'), u32('Raw type.')], { description: 'enum iommu_viommu_type.' }),
      out: Out('vIOMMU ID (out_viommu_id)'),
    },
    'IOMMU_VIOMMU_ALLOC (§2.9). Output: out-viommu-id.',
  ),
  'vdevice-alloc': variant('vdevice-alloc', { viommu: Ref('vIOMMU'), dev: Ref('device'), 'virt-id': U64({ description: 'The device\'s virtual ID (vSID / vRID).' }), out: Out('vDEVICE ID (out_vdevice_id)') }, 'IOMMU_VDEVICE_ALLOC (§2.9). Output: out-vdevice-id.'),
  'get-hw-info': variant(
    'get-hw-info',
    {
      dev: Ref('device'),
      'data-len': opt(u32('Bytes of the user buffer.', { default: 256 })),
      'in-data-type': opt(u32('With IOMMU_HW_INFO_FLAG_INPUT_TYPE: the type asked for.')),
    },
    'IOMMU_GET_HW_INFO (§2.7). Outputs: out-data-type, out-capabilities, data-len (the kernel\'s size), out-max-pasid-log2, data (hex).',
  ),
  destroy: variant('destroy', { id: Ref('object') }, 'IOMMU_DESTROY (§1.3): EBUSY while the object is referenced.'),
};

// ---------------------------------------------------------------------------------------------
// vfio ops

/** vfio ops. */
export const VFIO_OPS = ['container-open', 'group-set-container', 'group-unset-container', 'set-iommu', 'check-extension', 'device-open', 'map-dma', 'unmap-dma', 'get-info'] as const;
export type VfioOp = (typeof VFIO_OPS)[number];

const Group = Type.Union([u32('The group number (/dev/vfio/N).'), Type.String({ minLength: 1, description: 'A member host device\'s name.' })], { description: 'An IOMMU group: its number, or a member host device\'s name.' });
/** VFIO_CHECK_EXTENSION names (VFIO_TYPE1_IOMMU …, reference §4). */
export const VFIO_EXTENSION_NAMES = ['type1', 'spapr-tce', 'type1v2', 'dma-cc-iommu', 'eeh', 'type1-nesting', 'spapr-tce-v2', 'noiommu', 'unmap-all', 'update-vaddr'] as const;

const VFIO_VARIANTS: Record<VfioOp, TSchema> = {
  'container-open': variant('container-open', { out: Out('container number') }, 'open("/dev/vfio/vfio"): a new container (numbered from 1).'),
  'group-set-container': variant('group-set-container', { group: Group, container: Ref('container') }, 'VFIO_GROUP_SET_CONTAINER (§4) on /dev/vfio/N, opened implicitly: the valid IOVA list is recomputed. EBUSY while a member is bound through its cdev (iommufd device-bind).'),
  'group-unset-container': variant('group-unset-container', { group: Group }, 'VFIO_GROUP_UNSET_CONTAINER; also closes the implicitly opened /dev/vfio/N (its members may then be bound through their cdev).'),
  'set-iommu': variant('set-iommu', { container: Ref('container'), type: Type.Union([literals(['type1', 'type1v2', 'type1-nesting'] as const, 'VFIO_TYPE1_IOMMU / VFIO_TYPE1v2_IOMMU / VFIO_TYPE1_NESTING_IOMMU.'), u32('Raw type.')], { description: 'The IOMMU type.' }) }, 'VFIO_SET_IOMMU (§4).'),
  'check-extension': variant('check-extension', { container: Ref('container'), extension: Type.Union([literals(VFIO_EXTENSION_NAMES, 'VFIO_* extension.'), u32('Raw extension.')], { description: 'The extension.' }) }, 'VFIO_CHECK_EXTENSION. Output: value.'),
  'device-open': variant('device-open', { device: HostDeviceName }, 'VFIO_GROUP_GET_DEVICE_FD for a host device.'),
  'map-dma': variant(
    'map-dma',
    {
      container: Ref('container'),
      iova: U64({ description: 'IOVA.' }),
      size: U64({ description: 'Bytes.' }),
      vaddr: opt(U64({ description: 'User VA (default: the IOVA).' })),
      flags: Flags(['read', 'write', 'vaddr'] as const, 'VFIO_DMA_MAP_FLAG_READ / _WRITE / _VADDR.'),
      argsz: opt(u32('argsz (default 32).')),
    },
    'VFIO_IOMMU_MAP_DMA (§4).',
  ),
  'unmap-dma': variant(
    'unmap-dma',
    { container: Ref('container'), iova: U64({ description: 'IOVA.' }), size: U64({ description: 'Bytes (0 with all).' }), flags: Flags(['get-dirty-bitmap', 'all', 'vaddr'] as const, 'VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP / _ALL / _VADDR.'), argsz: opt(u32('argsz (default 24).')) },
    'VFIO_IOMMU_UNMAP_DMA (§4). Output: size (bytes unmapped, written back).',
  ),
  'get-info': variant(
    'get-info',
    { container: Ref('container'), argsz: opt(u32('argsz (default: large enough for every capability).')) },
    'VFIO_IOMMU_GET_INFO (§4). Outputs: argsz, flags, iova-pgsizes, cap-offset, iova-ranges, avail (DMA_AVAIL), migration (MIGRATION: {flags, pgsize-bitmap, max-dirty-bitmap-size}).',
  ),
};

// ---------------------------------------------------------------------------------------------
// Expectations

const ErrnoName = literals(ERRNO_NAMES, 'OK or a Linux errno name (EINVAL, ENOENT, EEXIST, EBUSY, ENOSPC, EADDRINUSE, EOPNOTSUPP, EOVERFLOW, EMSGSIZE, EFAULT, EPERM, ENODEV, E2BIG, …).');

/** Output fields each op writes back, by kebab uAPI name (what `expect` may compare). */
export const IOMMUFD_OUTPUTS: Readonly<Record<IommufdOp, Readonly<Record<string, TSchema>>>> = {
  'ioas-alloc': { 'out-ioas-id': IdOut('out_ioas_id.') },
  'ioas-map': { iova: U64({ description: 'The IOVA (chosen by the kernel without fixed-iova).' }) },
  'ioas-copy': { 'dst-iova': U64({ description: 'The destination IOVA.' }) },
  'ioas-unmap': { length: U64({ description: 'Bytes unmapped.' }) },
  'ioas-iova-ranges': {
    'num-iovas': u32('Ranges the IOAS has (written back even on EMSGSIZE).'),
    ranges: Type.Array(RangeTuple, { description: 'The allowed ranges, [start, last] each.' }),
    'out-iova-alignment': U64({ description: 'The IOAS IOVA alignment.' }),
  },
  'ioas-allow-iovas': {},
  option: { val64: U64({ description: 'The value (GET) or the value set.' }) },
  'device-bind': { 'out-dev-id': IdOut('out_devid.') },
  'device-unbind': {},
  'device-attach': { 'pt-id': IdOut('pt_id written back (the HWPT).') },
  'device-detach': {},
  'device-replace': { 'pt-id': IdOut('pt_id written back.') },
  'hwpt-alloc': { 'out-hwpt-id': IdOut('out_hwpt_id.') },
  'hwpt-set-dirty-tracking': {},
  'hwpt-get-dirty-bitmap': { bitmap: Type.Array(U64(), { description: 'The bitmap as u64 words (bit n of word w = page 64w + n).' }) },
  'hwpt-invalidate': { 'entry-num': u32('Entries handled.') },
  'viommu-alloc': { 'out-viommu-id': IdOut('out_viommu_id.') },
  'vdevice-alloc': { 'out-vdevice-id': IdOut('out_vdevice_id.') },
  'get-hw-info': {
    'out-data-type': u32('enum iommu_hw_info_type.'),
    'out-capabilities': U64({ description: 'IOMMU_HW_CAP_* bits.' }),
    'data-len': u32('The kernel\'s payload size.'),
    'out-max-pasid-log2': u32('out_max_pasid_log2.'),
    data: Type.String({ description: 'The payload bytes in hex.' }),
  },
  destroy: {},
};

/**
 * The outputs that are object IDs (and the container number): in `expect` each takes a number or
 * an `out` name bound by an earlier step (host-model.ts checks the name, core/run/host-expect.ts
 * compares against its value). Every other output (u64 IOVAs, lengths, sizes, …) is a number.
 */
export const ID_OUTPUTS: ReadonlySet<string> = new Set(['out-ioas-id', 'out-dev-id', 'pt-id', 'out-hwpt-id', 'out-viommu-id', 'out-vdevice-id', 'container']);

/** Output fields of each vfio op. */
export const VFIO_OUTPUTS: Readonly<Record<VfioOp, Readonly<Record<string, TSchema>>>> = {
  'container-open': { container: IdOut('The container number.') },
  'group-set-container': {},
  'group-unset-container': {},
  'set-iommu': {},
  'check-extension': { value: u32('The ioctl\'s result (1 supported, 0 not).') },
  'device-open': {},
  'map-dma': {},
  'unmap-dma': { size: U64({ description: 'Bytes unmapped (written back).' }) },
  'get-info': {
    argsz: u32('argsz written back (the size needed).'),
    flags: u32('VFIO_IOMMU_INFO_PGSIZES | _CAPS.'),
    'iova-pgsizes': U64({ description: 'Supported page sizes.' }),
    'cap-offset': u32('Offset of the capability chain (0: none).'),
    'iova-ranges': Type.Array(RangeTuple, { description: 'VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: the valid IOVA list.' }),
    avail: u32('VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: free mapping slots.'),
    migration: obj(
      { flags: opt(u32('flags.')), 'pgsize-bitmap': opt(U64({ description: 'pgsize_bitmap.' })), 'max-dirty-bitmap-size': opt(U64({ description: 'max_dirty_bitmap_size.' })) },
      'VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION (absent from iommufd\'s VFIO compatibility).',
    ),
  },
};

const callExpect = (outputs: Readonly<Record<string, TSchema>>, what: string) =>
  Type.Union([ErrnoName, obj({ errno: opt(ErrnoName), ...Object.fromEntries(Object.entries(outputs).map(([k, s]) => [k, opt(s)])) }, `The errno and the outputs to compare (only those listed).`)], {
    description: `${what}: an errno name (OK for success), or {errno?, ${Object.keys(outputs).length ? Object.keys(outputs).join(', ') : 'no outputs'}}.`,
  });

/** `expect` of an iommufd step: one errno-or-outputs shape per op (the op's outputs), picked by the step's op. */
export const IOMMUFD_EXPECT: Readonly<Record<IommufdOp, TSchema>> = Object.fromEntries(IOMMUFD_OPS.map((op) => [op, callExpect(IOMMUFD_OUTPUTS[op], `Expected ${op} outcome`)])) as unknown as Record<IommufdOp, TSchema>;
/** `expect` of a vfio step, per op. */
export const VFIO_EXPECT: Readonly<Record<VfioOp, TSchema>> = Object.fromEntries(VFIO_OPS.map((op) => [op, callExpect(VFIO_OUTPUTS[op], `Expected ${op} outcome`)])) as unknown as Record<VfioOp, TSchema>;

/**
 * The union of every op's outputs, for the schema of `expect` beside an `iommufd:` / `vfio:` body
 * (one step schema per key): model.ts then checks each key against the step's op.
 */
function anyCallExpect(outputs: Readonly<Record<string, Readonly<Record<string, TSchema>>>>, what: string): TSchema {
  const all: Record<string, TSchema> = {};
  for (const o of Object.values(outputs)) for (const [k, s] of Object.entries(o)) all[k] ??= s;
  return callExpect(all, what);
}

// ---------------------------------------------------------------------------------------------
// Step bodies and expectations (added to schema.ts STEP_ARGS / STEP_EXPECT)

/** `iommufd: {op, …}`. */
export const IommufdArgs = discriminated('op', IOMMUFD_OPS.map((op) => IOMMUFD_VARIANTS[op]), 'One iommufd ioctl on the scenario\'s /dev/iommu (include/uapi/linux/iommufd.h): `op` names it, the other keys are its arguments in the uAPI\'s names (kebab case); `out` names what it returns.');
/** `vfio: {op, …}`. */
export const VfioArgs = discriminated('op', VFIO_OPS.map((op) => VFIO_VARIANTS[op]), 'One VFIO container ioctl (include/uapi/linux/vfio.h): on type1 with `backend: vfio-type1`, on iommufd\'s VFIO compatibility (drivers/iommu/iommufd/vfio_compat.c) with `backend: iommufd`.');
/** `expect` of an iommufd step. */
export const IommufdExpect = anyCallExpect(IOMMUFD_OUTPUTS, 'Expected outcome');
/** `expect` of a vfio step. */
export const VfioExpect = anyCallExpect(VFIO_OUTPUTS, 'Expected outcome');

/** `host-dma: {device, iova, size, access}`. */
export const HostDmaArgs = obj(
  {
    device: HostDeviceName,
    iova: Addr('Input address of the access.'),
    size: opt(U64({ description: 'Bytes.', default: 1 })),
    access: literals(['read', 'write'] as const, 'read (the device reads memory) or write.'),
  },
  "An assigned device's DMA through its physical IOMMU and the domain its backend attached it to (a write marks dirty pages).",
);

/** `expect` of a host-dma step. */
export const HostDmaExpect = Type.Union(
  [
    obj(
      {
        translated: U64({ description: 'The user VA the IOVA maps to (the memory the backend pinned).' }),
        stale: opt(Type.Boolean({ description: "true: through a stale IOTLB entry (the guest's lazy unmap reached the host, its flush has not); false: through a live mapping. Omit to not compare." })),
      },
      'The access is translated.',
    ),
    obj(
      { fault: obj({ reason: opt(Type.String({ description: 'The fault reason, matched as a substring in any case: iommufd not-bound, blocked, unmapped, permission, stage1; type1 no-domain, unmapped, read-denied, write-denied, invalid-access.' })), address: opt(U64({ description: 'The faulting address.' })) }, 'The fault (only the keys given are compared).') },
      'The access faults.',
    ),
  ],
  { description: 'Expected host DMA outcome: `{translated: ADDR, stale?: BOOL}` or `{fault: {reason?, address?}}`.' },
);

/** `device-add: {device}` (QEMU device_add of a guest device declared in `devices`). */
export const DeviceAddArgs = obj({ device: Type.String({ minLength: 1, description: 'A guest device name from `devices`.' }) }, 'Hotplug a guest device (QEMU device_add): its HostIOMMUDevice is realized and set on the vIOMMU; without this step a device is coldplugged.');
/** `expect` of a device-add step. */
export const DeviceAddExpect = Type.Union([literals(['OK'] as const, 'The device was added.'), obj({ error: Type.String({ description: 'A substring of QEMU\'s error message.' }) }, 'device_add fails with this (substring of the) message.')], {
  description: 'Expected device_add outcome: `OK`, or `{error: "substring of QEMU\'s message"}`.',
});

/** intel-iommu (`viommu: {model: intel-iommu, …}`), realize-level (issue 7 §4). */
export const IntelIommuSchema = obj(
  {
    model: Type.Literal('intel-iommu', { description: 'QEMU -device intel-iommu.' }),
    'aw-bits': opt(UInt(0, 64, { description: 'QEMU `aw-bits`: 39 or 48 (QEMU refuses other values); QEMU 9.2+ defaults to 48 (VTD_HOST_ADDRESS_WIDTH).', default: 48 })),
    'caching-mode': opt(Type.Boolean({ description: 'QEMU `caching-mode`: required for assigned devices.', default: false })),
    'x-scalable-mode': opt(Type.Boolean({ description: 'QEMU `x-scalable-mode`: scalable-mode translation tables (x-flts needs it).', default: false })),
    'x-flts': opt(Type.Boolean({ description: 'QEMU `x-flts`: first-stage translation (scalable mode).', default: false })),
  },
  'The intel-iommu vIOMMU and its properties (realize-level for now).',
);
