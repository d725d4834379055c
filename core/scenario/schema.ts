/**
 * The scenario schema: the one source of truth for the scenario format.
 *
 * From this TypeBox schema come (1) the validator with source positions (validate.ts walks it),
 * (2) the TypeScript types of a scenario document (`Static<>` below), (3) the JSON Schema Monaco
 * uses for completion and hover (json-schema.ts) and (4) the README's format reference
 * (reference.ts). Keys are the YAML spelling (kebab-case, QEMU property names such as `aw-bits`).
 *
 * Vocabulary: virtio spec §5.13 (device-types/iommu) and QEMU's virtio-iommu properties; see
 * ../../../shared/reference/virtio-iommu.md.
 */
import { Type, type Static, type TObject, type TOptional, type TSchema } from '@sinclair/typebox';
import { U64, UInt } from './kinds.ts';
import {
  BackendSchema,
  DeviceAddArgs,
  DeviceAddExpect,
  HostDmaArgs,
  HostDmaExpect,
  HostSchema,
  IntelIommuSchema,
  IommufdArgs,
  IommufdExpect,
  KernelSchema,
  VfioArgs,
  VfioExpect,
  discriminated,
} from './host-schema.ts';
import {
  DmaMapArgs,
  DmaMapExpect,
  DmaStreamArgs,
  DmaStreamExpect,
  DmaUnmapArgs,
  DmaUnmapExpect,
  GUEST_DEVICE_PROPS,
  GuestSchema,
  HostGeometrySchema,
  WaitArgs,
  WaitExpect,
} from './guest-schema.ts';
import { variantSchema } from './variant-schema.ts';

/** Largest u32. */
const U32_MAX = 0xffff_ffff;

/** Request status names (virtio spec §5.13.6 "Device operations", VIRTIO_IOMMU_S_*) plus UNWRITTEN (used length 0). */
export const STATUS_NAMES = ['OK', 'IOERR', 'UNSUPP', 'DEVERR', 'INVAL', 'RANGE', 'NOENT', 'FAULT', 'NOMEM', 'UNWRITTEN'] as const;
/** A request status name. */
export type StatusName = (typeof STATUS_NAMES)[number];

/** Feature names a scenario may list in `driver.features` (virtio spec §5.13.3 and §6). */
export const FEATURE_NAMES = [
  'INPUT_RANGE',
  'DOMAIN_RANGE',
  'MAP_UNMAP',
  'BYPASS',
  'PROBE',
  'MMIO',
  'BYPASS_CONFIG',
  'RING_INDIRECT_DESC',
  'RING_EVENT_IDX',
  'VERSION_1',
] as const;
/** A feature name. */
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** Every step operation, in the order the reference lists them. */
export const STEP_OPS = ['attach', 'detach', 'map', 'unmap', 'probe', 'dma', 'request', 'read-config', 'set-bypass', 'reset', 'workload', 'iommufd', 'vfio', 'host-dma', 'device-add', 'dma-map', 'dma-unmap', 'dma-stream', 'wait'] as const;
/** A step operation name. */
export type StepOp = (typeof STEP_OPS)[number];

const literals = <T extends readonly string[]>(values: T, description: string, extra: Record<string, unknown> = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description, ...extra },
  ) as unknown as TSchema & { static: T[number] };

const u32 = (description: string, extra: Record<string, unknown> = {}) => UInt(0, U32_MAX, { description, ...extra });

// ---------------------------------------------------------------------------------------------
// Shared pieces

const Status = literals(STATUS_NAMES, 'Request status name: OK, IOERR, UNSUPP, DEVERR, INVAL, RANGE, NOENT, FAULT, NOMEM (virtio spec §5.13.6), or UNWRITTEN when the device wrote nothing (used length 0).');

const Endpoint = Type.Union(
  [
    Type.String({ minLength: 1, description: 'A device name from `devices`, or a PCI address "bb:dd.f" (hex).' }),
    u32('A raw endpoint ID (PCI requester ID: bus << 8 | device << 3 | function).'),
  ],
  { description: 'Endpoint: a device name from `devices`, a PCI address "bb:dd.f", or a raw endpoint ID. The host bridge 00:00.0 always exists.' },
);

const Domain = u32('Domain ID (u32).');

const MapFlag = Type.Union([literals(['read', 'write', 'mmio'] as const, 'VIRTIO_IOMMU_MAP_F_READ / _WRITE / _MMIO.'), u32('Raw flag bits, OR-ed in as given (e.g. 8 to send an unknown bit).')], {
  description: 'A MAP flag: read, write, mmio, or raw bits as a number.',
});
const MapFlags = Type.Array(MapFlag, { description: 'MAP flags (virtio spec §5.13.6, MAP request): any of read, write, mmio, or raw numbers OR-ed in.' });

const RegionSubtype = Type.Union([literals(['reserved', 'msi'] as const, 'RESV_MEM subtype: reserved (0) or msi (1).'), UInt(0, 255, { description: 'Raw RESV_MEM subtype (u8).' })], {
  description: 'RESV_MEM subtype: reserved, msi, or a raw u8.',
});

const Region = Type.Object(
  {
    subtype: RegionSubtype,
    start: U64({ description: 'First address of the region (u64).' }),
    end: U64({ description: 'Last address of the region, inclusive (u64).' }),
  },
  { additionalProperties: false, description: 'One RESV_MEM property (virtio spec §5.13.6, PROBE properties).' },
);

// ---------------------------------------------------------------------------------------------
// Expectations (one shape per kind of step)

const StatusExpect = Type.Union([Status, Type.Object({ status: Status }, { additionalProperties: false, description: 'The expected status.' })], {
  description: 'Expected request status: a status name (`expect: OK`) or `{status: NAME}`.',
});

const ProbeExpect = Type.Union(
  [
    Status,
    Type.Object(
      {
        status: Type.Optional(Status),
        'resv-mem': Type.Optional(Type.Array(Region, { description: 'The full list of RESV_MEM properties PROBE must report, in order.' })),
      },
      { additionalProperties: false, description: 'Expected PROBE reply: status and/or the full RESV_MEM list.' },
    ),
  ],
  { description: 'Expected PROBE reply: a status name, or `{status, resv-mem: [{subtype, start, end}, …]}` (the region list is compared in full).' },
);

const FaultExpect = Type.Object(
  {
    reason: literals(['UNKNOWN', 'DOMAIN', 'MAPPING'] as const, 'VIRTIO_IOMMU_FAULT_R_* reason.'),
    flags: Type.Optional(
      Type.Array(literals(['read', 'write', 'address'] as const, 'VIRTIO_IOMMU_FAULT_F_READ / _WRITE / _ADDRESS.'), {
        description: 'Exact fault flags (compared as a set); omit to not compare.',
      }),
    ),
    address: Type.Optional(U64({ description: 'Faulting address; omit to not compare.' })),
  },
  { additionalProperties: false, description: 'Expected fault report (virtio spec §5.13.6, Fault reporting).' },
);

const DmaExpect = Type.Union(
  [
    literals(['bypass', 'msi'] as const, 'bypass: identity because the endpoint is in bypass; msi: identity because the address is in an MSI reserved region.'),
    Type.Object(
      {
        translated: U64({ description: 'Expected output address.' }),
        stale: Type.Optional(Type.Boolean({ description: 'true: the translation came from a stale IOTLB entry (the mapping was unmapped, the flush has not happened yet: lazy mode); false: from a live mapping. Omit to not compare.' })),
      },
      { additionalProperties: false, description: 'The access is translated by a mapping to this address.' },
    ),
    Type.Object({ fault: FaultExpect }, { additionalProperties: false, description: 'The access faults.' }),
  ],
  { description: 'Expected DMA outcome: `{translated: ADDR, stale?: BOOL}`, `{fault: {reason, flags?, address?}}`, `bypass` or `msi`.' },
);

const ConfigExpect = Type.Object(
  {
    'page-size-mask': Type.Optional(U64({ description: 'config.page_size_mask.' })),
    'input-range': Type.Optional(Type.Tuple([U64(), U64()], { description: 'config.input_range as [start, end].' })),
    'domain-range': Type.Optional(Type.Tuple([u32('start'), u32('end')], { description: 'config.domain_range as [start, end].' })),
    'probe-size': Type.Optional(u32('config.probe_size (bytes).')),
    bypass: Type.Optional(UInt(0, 255, { description: 'config.bypass.' })),
  },
  { additionalProperties: false, description: 'Expected config space fields; only the keys listed are compared (virtio spec §5.13.4).' },
);

const WorkloadExpect = Type.Object(
  {
    faults: Type.Optional(u32('Number of faults the workload must produce.')),
    'failed-requests': Type.Optional(u32('Number of requests that must end with a status other than OK.')),
  },
  { additionalProperties: false, description: 'Expected workload totals; only the keys listed are compared.' },
);

// ---------------------------------------------------------------------------------------------
// Step bodies

const AttachArgs = Type.Object(
  {
    domain: Domain,
    endpoint: Endpoint,
    flags: Type.Optional(
      Type.Array(Type.Union([literals(['bypass'] as const, 'VIRTIO_IOMMU_ATTACH_F_BYPASS.'), u32('Raw flag bits.')], { description: 'bypass, or raw bits.' }), {
        description: 'ATTACH flags: bypass (VIRTIO_IOMMU_ATTACH_F_BYPASS), or raw numbers OR-ed in.',
        default: [],
      }),
    ),
    reserved: Type.Optional(u32('Value written to the request\'s reserved[4] field (le32); non-zero tests the spec\'s MUST reject.', { default: 0 })),
  },
  { additionalProperties: false, description: 'Send VIRTIO_IOMMU_T_ATTACH (virtio spec §5.13.6, ATTACH request).' },
);

const DetachArgs = Type.Object({ domain: Domain, endpoint: Endpoint }, { additionalProperties: false, description: 'Send VIRTIO_IOMMU_T_DETACH (virtio spec §5.13.6, DETACH request).' });

const MapArgs = Type.Object(
  {
    domain: Domain,
    'virt-start': U64({ description: 'First IOVA (u64).' }),
    'virt-end': U64({ description: 'Last IOVA, inclusive (u64).' }),
    'phys-start': U64({ description: 'Guest-physical address of virt-start (u64).' }),
    flags: MapFlags,
  },
  { additionalProperties: false, description: 'Send VIRTIO_IOMMU_T_MAP (virtio spec §5.13.6, MAP request).' },
);

const UnmapArgs = Type.Object(
  {
    domain: Domain,
    'virt-start': U64({ description: 'First IOVA of the range (u64).' }),
    'virt-end': U64({ description: 'Last IOVA of the range, inclusive (u64).' }),
    reserved: Type.Optional(u32('Value written to the request\'s reserved[4] field (le32).', { default: 0 })),
  },
  { additionalProperties: false, description: 'Send VIRTIO_IOMMU_T_UNMAP (virtio spec §5.13.6, UNMAP request).' },
);

const ProbeArgs = Type.Object({ endpoint: Endpoint }, { additionalProperties: false, description: 'Send VIRTIO_IOMMU_T_PROBE with a probe-size + 4 byte writable part (virtio spec §5.13.6, PROBE request).' });

const DmaArgs = Type.Object(
  {
    endpoint: Endpoint,
    addr: U64({ description: 'Input address of the access (u64).' }),
    size: Type.Optional(U64({ description: 'Access size in bytes.', default: 1 })),
    access: literals(['read', 'write'] as const, 'Access direction: read (device reads memory) or write.'),
  },
  { additionalProperties: false, description: 'A DMA access by the endpoint, translated by the vIOMMU (QEMU virtio_iommu_translate).' },
);

const RequestArgs = Type.Object(
  {
    hex: Type.String({ description: 'Device-readable bytes of the request in hex ("03000000…"); spaces and underscores are ignored.' }),
    writable: Type.Optional(UInt(0, 1 << 20, { description: 'Size of the device-writable part in bytes. Default: 4, or probe-size + 4 when the first byte is 5 (PROBE).' })),
  },
  { additionalProperties: false, description: 'Send raw request bytes (malformed requests, unknown types).' },
);

const ReadConfigArgs = Type.Object({}, { additionalProperties: false, description: 'Read the 40-byte config space (virtio spec §5.13.4). Write `read-config: {}`.' });

const SetBypassArgs = UInt(0, 255, { description: 'Write config.bypass (offset 36). The driver may write only 0 or 1; other values exercise the device\'s error path.' });

const ResetArgs = literals(['device', 'system'] as const, 'device: virtio device reset (endpoints detached, bypass kept); system: system reset (bypass back to boot-bypass).');

const WORKLOAD_OPS = ['map', 'dma', 'unmap'] as const;
const WorkloadArgs = Type.Object(
  {
    domain: Domain,
    endpoint: Endpoint,
    count: UInt(1, 10_000_000, { description: 'Number of iterations (1 to 10,000,000).' }),
    size: Type.Optional(U64({ description: 'Bytes per iteration: mapping size and DMA size.', default: 4096 })),
    'iova-base': U64({ description: 'IOVA of iteration 0; iteration i uses iova-base + i × size.' }),
    'phys-base': U64({ description: 'Guest-physical address of iteration 0; iteration i uses phys-base + i × size.' }),
    ops: Type.Optional(
      Type.Array(literals(WORKLOAD_OPS, 'map: MAP request; dma: one access of `size` bytes; unmap: UNMAP request.'), {
        description: 'What each iteration does; whichever are listed run in the order map, dma, unmap.',
        default: ['map', 'dma', 'unmap'],
      }),
    ),
    flags: Type.Optional(Type.Array(MapFlag, { description: 'MAP flags of each mapping.', default: ['read', 'write'] })),
    access: Type.Optional(literals(['read', 'write'] as const, 'Direction of each DMA access.', { default: 'read' })),
  },
  { additionalProperties: false, description: 'A bulk loop of real MAP / DMA / UNMAP requests through the device, for large runs and benchmarks.' },
);

/** Body schema of each step operation (the value under the op key). */
export const STEP_ARGS = {
  attach: AttachArgs,
  detach: DetachArgs,
  map: MapArgs,
  unmap: UnmapArgs,
  probe: ProbeArgs,
  dma: DmaArgs,
  request: RequestArgs,
  'read-config': ReadConfigArgs,
  'set-bypass': SetBypassArgs,
  reset: ResetArgs,
  workload: WorkloadArgs,
  iommufd: IommufdArgs,
  vfio: VfioArgs,
  'host-dma': HostDmaArgs,
  'device-add': DeviceAddArgs,
  'dma-map': DmaMapArgs,
  'dma-unmap': DmaUnmapArgs,
  'dma-stream': DmaStreamArgs,
  wait: WaitArgs,
} as const;

/** Expectation schema of each step operation (the value under `expect`). */
export const STEP_EXPECT = {
  attach: StatusExpect,
  detach: StatusExpect,
  map: StatusExpect,
  unmap: StatusExpect,
  probe: ProbeExpect,
  dma: DmaExpect,
  request: StatusExpect,
  'read-config': ConfigExpect,
  'set-bypass': ConfigExpect,
  reset: ConfigExpect,
  workload: WorkloadExpect,
  iommufd: IommufdExpect,
  vfio: VfioExpect,
  'host-dma': HostDmaExpect,
  'device-add': DeviceAddExpect,
  'dma-map': DmaMapExpect,
  'dma-unmap': DmaUnmapExpect,
  'dma-stream': DmaStreamExpect,
  wait: WaitExpect,
} as const;

const EXPECT_DOC = 'Optional check of the step\'s outcome. A failed expectation is recorded and the run goes on.';

type StepVariant<K extends StepOp> = TObject<{ [P in K]: (typeof STEP_ARGS)[K] } & { expect: TOptional<(typeof STEP_EXPECT)[K]> }>;
function stepVariant<K extends StepOp>(op: K): StepVariant<K> {
  return Type.Object({ [op]: STEP_ARGS[op], expect: Type.Optional(STEP_EXPECT[op]) }, { additionalProperties: false, title: `${op} step`, description: STEP_ARGS[op].description }) as unknown as StepVariant<K>;
}
const stepVariants = STEP_OPS.map((op) => {
  const v = stepVariant(op);
  (v.properties.expect as TSchema).description = EXPECT_DOC + ' ' + (STEP_EXPECT[op].description ?? '');
  return v;
});

/** One step: exactly one operation key (attach, map, …) and an optional `expect`. */
export const StepSchema = Type.Union(stepVariants as unknown as { [K in StepOp]: StepVariant<K> }[StepOp][], {
  description: 'One operation (attach, detach, map, unmap, probe, dma, request, read-config, set-bypass, reset, workload; iommufd, vfio, host-dma, device-add; dma-map, dma-unmap, dma-stream, wait) and an optional `expect`.',
});

// ---------------------------------------------------------------------------------------------
// Top level

const ViommuSchema = Type.Object(
  {
    model: Type.Literal('virtio-iommu', { description: 'The vIOMMU model. Only virtio-iommu for now.' }),
    conformance: Type.Optional(
      literals(['qemu', 'spec'] as const, 'qemu: behave as QEMU does, deviations included; spec: follow the virtio spec\'s MUST/SHOULD.', { default: 'qemu' }),
    ),
    granule: Type.Optional(
      literals(['4k', '8k', '16k', '64k', 'host'] as const, 'QEMU `granule` property: the smallest page size in config.page_size_mask. Default: the machine\'s (host = 4k here).'),
    ),
    'aw-bits': Type.Optional(UInt(32, 64, { description: 'QEMU `aw-bits`: input address width; config.input_range ends at 2^aw-bits − 1. Default: the machine\'s (q35 39, virt 48).' })),
    'boot-bypass': Type.Optional(Type.Boolean({ description: 'QEMU `boot-bypass`: initial config.bypass, restored on system reset.', default: true })),
    'reserved-regions': Type.Optional(
      Type.Array(Type.String({ description: 'QEMU syntax "start:end:type" (type 0 reserved, 1 MSI), e.g. "0xfee00000:0xfeefffff:1".' }), {
        description: 'QEMU `reserved-regions`: regions added to the machine\'s (q35 has the MSI window 0xfee00000-0xfeefffff, virt the MSI doorbell of its `gic-version`); reported by PROBE.',
        default: [],
      }),
    ),
    'probe-size': Type.Optional(UInt(0, 1 << 16, { description: 'config.probe_size in bytes.', default: 512 })),
    'host-geometry': Type.Optional(HostGeometrySchema),
    offer: Type.Optional(
      Type.Object(
        {
          mmio: Type.Optional(Type.Boolean({ description: 'Offer VIRTIO_IOMMU_F_MMIO.', default: true })),
          probe: Type.Optional(Type.Boolean({ description: 'Offer VIRTIO_IOMMU_F_PROBE.', default: true })),
          'bypass-config': Type.Optional(Type.Boolean({ description: 'Offer VIRTIO_IOMMU_F_BYPASS_CONFIG.', default: true })),
          'input-range': Type.Optional(Type.Boolean({ description: 'Offer VIRTIO_IOMMU_F_INPUT_RANGE.', default: true })),
          'domain-range': Type.Optional(Type.Boolean({ description: 'Offer VIRTIO_IOMMU_F_DOMAIN_RANGE.', default: true })),
        },
        { additionalProperties: false, description: 'Feature bits the device offers (virtio spec §5.13.3). All default to true, as in QEMU.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'The vIOMMU and its properties (QEMU -device virtio-iommu-pci,…).' },
);

const DriverSchema = Type.Object(
  {
    features: Type.Array(literals(FEATURE_NAMES, 'A feature bit name.'), {
      description: 'Feature bits the driver accepts (only those the device offers are negotiated). Default: Linux\'s set (MAP_UNMAP, INPUT_RANGE, DOMAIN_RANGE, PROBE, MMIO, BYPASS_CONFIG, VERSION_1).',
    }),
  },
  { additionalProperties: false, description: 'The guest driver. Omit for Linux\'s feature negotiation.' },
);

const DeviceSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', description: 'Name used as `endpoint` in steps (letters, digits, _ . -).', errorMessage: 'a device name starts with a letter or _ and has only letters, digits, _ . -' }),
    bdf: Type.String({ pattern: '^[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]$', description: 'PCI address "bb:dd.f" (hex bus, device 00-1f, function 0-7); the endpoint ID is the requester ID.', errorMessage: 'a PCI address is "bb:dd.f" (hex bus, device 00-1f, function 0-7)' }),
    host: Type.Optional(Type.String({ minLength: 1, description: 'The host device assigned to it (a name in host.devices): QEMU -device vfio-pci,host=…; its HostIOMMUDevice is realized at plug.' })),
    ...GUEST_DEVICE_PROPS,
  },
  { additionalProperties: false, description: 'An endpoint behind the vIOMMU.' },
);

/** The top-level keys but `variants`: what a variant may override is every one of them but name and steps. */
const TOP_LEVEL = {
  name: Type.String({ minLength: 1, description: 'Title shown in the lab.' }),
  description: Type.Optional(Type.String({ description: 'Longer text about what the scenario shows.' })),
  machine: Type.Optional(literals(['q35', 'virt'] as const, 'Machine type: its defaults for aw-bits, granule and reserved regions (QEMU 9.0+).', { default: 'q35' })),
  'gic-version': Type.Optional(
    UInt(2, 3, {
      // No schema default: an absent key must stay absent so q35 scenarios are not told off.
      description: 'QEMU virt machine `gic-version` (virt only): 2 (QEMU\'s default: the GICv2m MSI frame 0x08020000-0x08020fff) or 3 (ITS: the MSI doorbell page 0x08090000-0x0809ffff).',
    }),
  ),
  viommu: Type.Optional(discriminated('model', [ViommuSchema, IntelIommuSchema], 'The vIOMMU: virtio-iommu (the default) or intel-iommu (realize-level).')),
  host: Type.Optional(HostSchema),
  backend: Type.Optional(BackendSchema),
  kernel: Type.Optional(KernelSchema),
  guest: Type.Optional(GuestSchema),
  driver: Type.Optional(DriverSchema),
  devices: Type.Optional(
    Type.Array(DeviceSchema, { description: 'Endpoints behind the vIOMMU (unique names and addresses). The host bridge 00:00.0 always exists.', default: [] }),
  ),
  steps: Type.Array(StepSchema, { description: 'Operations, run in order.' }),
};

/** The whole scenario document. */
export const ScenarioSchema = Type.Object(
  {
    ...TOP_LEVEL,
    variants: Type.Optional(
      Type.Array(variantSchema(TOP_LEVEL), {
        minItems: 1,
        description:
          'Several configurations of the same steps (core/scenario/variants.ts): each variant is the document with its overrides merged in (maps key by key, lists and scalars replace, `null` removes a key) and runs as its own run named "<name> [<variant>]". A step\'s `expect-in: {<variant>: <expect>}` gives its expectation in one variant.',
      }),
    ),
  },
  { additionalProperties: false, description: 'An IOMMU Lab scenario.' },
);

/** A scenario document as written (after number canonicalisation: u64 → bigint, u32 → number). */
export type ScenarioDoc = Static<typeof ScenarioSchema>;
/** The `viommu` section as written (virtio-iommu). */
export type ViommuDoc = Static<typeof ViommuSchema>;
/** The `viommu` section as written for intel-iommu. */
export type IntelIommuDoc = Static<typeof IntelIommuSchema>;
/** The `guest` section as written. */
export type GuestDoc = Static<typeof GuestSchema>;
/** The virtio-iommu and intel-iommu schemas (reference.ts documents each). */
export { ViommuSchema, IntelIommuSchema };
/** The body of each step op as written (defaults applied). */
export type StepArgs = { [K in StepOp]: Static<(typeof STEP_ARGS)[K]> };
/** The `expect` of each step op as written. */
export type StepExpectDoc = { [K in StepOp]: Static<(typeof STEP_EXPECT)[K]> };
/** One step as written. */
export type StepDoc = Static<typeof StepSchema>;
