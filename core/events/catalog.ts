/**
 * The event catalog: every event kind the lab can emit, declared once.
 *
 * Each kind declares its code, family, fields, one-line format, whether it is a problem and the
 * metrics it feeds. Everything else is derived from that one declaration: the SQLite schema (each
 * field names the column it is stored in), formatEvent (format.ts), the metrics reducer
 * (metrics.ts, with the metric table metric-catalog.ts), the problem definition (problems.ts:
 * PROBLEM_SQL, the reader's flag, the UI's problem colours) and the exporters.
 * An event kind that is not declared here cannot be emitted (`LabEvent` is derived from it).
 *
 * Storage columns (see main/store): every event row has `run_id, seq, step, kind` plus the
 * optional typed columns below. 64-bit values (`u64`) are stored in the INTEGER columns `a`, `b`,
 * `c` as the two's-complement signed reinterpretation (BigInt.asIntN(64, v)) and read back with
 * BigInt.asUintN(64, v), so 0xffffffffffffffff round-trips exactly. `data` holds a JSON text for
 * structured payloads (u64 inside it are "0x…" hex strings). `used` (INTEGER) is a request's used
 * length.
 *
 * Sources for the vocabulary: QEMU `hw/virtio/trace-events` (virtio_iommu_* trace points) and the
 * virtio spec §5.13 (device-types/iommu): see ../../../shared/reference/virtio-iommu.md §5.
 */

import type { FeedFields, MetricFeed } from './metric-catalog.ts';
import {
  PATHS,
  bdfToString,
  detailText,
  ep,
  faultFlagsText,
  faultReasonName,
  featureNames,
  hexOf,
  mapFlagsText,
  num,
  regionsText,
  requestTypeName,
  statusName,
  u64Of,
} from './text.ts';
import { REQUEST_TYPE_NAMES } from '../viommu/virtio-iommu/constants.ts';
import {
  HOST_BACKENDS,
  errnoText,
  formatDevicePlug,
  formatHiodRealize,
  formatHostCall,
  formatHostDma,
  formatHostFault,
  formatIommuGroup,
  formatQemuError,
  formatSetIommuDevice,
  hostIoctl,
} from './host-text.ts';
import {
  DMA_DIRS,
  FQ_REASONS,
  LOG_LEVELS,
  PROBE_INIT,
  SYNC_WHY,
  UNMAP_MODES,
  formatDmaMap,
  formatDmaUnmap,
  formatFqFlush,
  formatGuestLog,
  formatGuestProbe,
  formatGuestSync,
  formatIovaReserve,
  formatStaleAccess,
  formatWait,
} from './guest-text.ts';
import {
  TRACE_ACCESS,
  TRACE_ATTACH_OPS,
  TRACE_DMA_DIRS,
  TRACE_GROUP_OPS,
  formatTraceAttach,
  formatTraceDma,
  formatTraceFault,
  formatTraceGroup,
  formatTraceInval,
  formatTraceMap,
  formatTraceNote,
  formatTraceUnmap,
} from './trace-text.ts';

/** Storage column of a field. */
export type Column = 'status' | 'domain' | 'endpoint' | 'a' | 'b' | 'c' | 'flags' | 'aux' | 'data' | 'used';

/** Field value type: u8/u16/u32 are JS numbers, u64 is bigint, json is any JSON-able value. */
export type FieldType = 'u8' | 'u32' | 'u64' | 'json';

export interface FieldSpec {
  readonly type: FieldType;
  readonly column: Column;
  /** When true the field may be absent (stored as NULL). */
  readonly optional?: boolean;
  readonly doc: string;
  /**
   * What an integer value means, as the event detail shows it beside the number (an errno name, a
   * backend, an outcome); fields without it fall back to core/events/detail.ts's by-name meanings.
   */
  readonly meaning?: (v: number) => string | undefined;
}

/**
 * When an event of a kind is a *problem*: marked "!" by the CLI and red in the UI, kept by
 * `--problems` / "problems only" (the SQL predicate and the partial index `events_problems` in
 * main/store/schema.ts), all derived from this one declaration (core/events/problems.ts).
 * `field` names an integer field of the same kind; an absent optional field is stored as NULL.
 */
export type ProblemRule =
  /** Every event of the kind is a problem. */
  | { readonly when: 'always'; readonly doc: string }
  /** A problem when `field` holds `value`. */
  | { readonly when: 'equals'; readonly field: string; readonly value: number; readonly doc: string }
  /** A problem when `field` is absent or holds anything other than `value`. */
  | { readonly when: 'absent-or-not'; readonly field: string; readonly value: number; readonly doc: string };

/**
 * The family of an event kind: which model emits it. Today the virtio-iommu device and the run
 * (expectations); room for intel-iommu, the host backends (VFIO type1, iommufd), QEMU's
 * HostIOMMUDevice and the guest DMA layer. The UI colours kinds by family (renderer/src/format.ts).
 */
export type EventFamily = 'virtio-iommu' | 'intel-iommu' | 'host-backend' | 'host-iommu-device' | 'host-iommu' | 'guest' | 'trace' | 'run';

/**
 * The machine layer (DESIGN.md §2; core/machine LAYERS, plus 'run' for the run's own events and
 * imported traces) each event family belongs to: where a component the run's metrics do not
 * describe is placed (the host view's components, the Perfetto export's tracks).
 */
export const FAMILY_LAYER: Readonly<Record<EventFamily, string>> = {
  guest: 'guest',
  'virtio-iommu': 'viommu',
  'intel-iommu': 'viommu',
  'host-iommu-device': 'host-iommu-device',
  'host-backend': 'backend',
  'host-iommu': 'iommu',
  trace: 'run',
  run: 'run',
};

/** Event fields as a kind's `format` receives them: u64 as bigint (live) or "0x…" (stored); absent optional fields undefined or null. */
export type FormatFields = Readonly<Record<string, unknown>>;

export interface KindSpec {
  /** Numeric kind code stored in SQLite (`events.kind`, INTEGER; batches hold codes up to 65535). Stable: never renumber. */
  readonly code: number;
  /** The model that emits it (EventFamily). */
  readonly family: EventFamily;
  readonly doc: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** When an event of this kind is a problem; never when absent. */
  readonly problem?: ProblemRule;
  /**
   * The event's one line of text (the run view, the CLI, exports; core/events/format.ts
   * formatEvent). Must never throw: fields may be missing or malformed in stored rows.
   */
  readonly format: (v: FormatFields) => string;
  /** The metrics an event of this kind feeds (core/events/metric-catalog.ts); none when absent. */
  readonly feeds?: readonly MetricFeed[];
  /**
   * A u64 field whose value (ns) is added to the kind's fixed cost on the virtual clock
   * (core/engine/clock.ts): a `wait` lasts as long as it says.
   */
  readonly costField?: string;
}

/** A required field; the literal `type` is kept so `EventPayload` can type the value. */
function f<T extends FieldType>(type: T, column: Column, doc: string): { type: T; column: Column; doc: string };
/** An optional field (stored as NULL when absent). */
function f<T extends FieldType>(type: T, column: Column, doc: string, optional: true): { type: T; column: Column; doc: string; optional: true };
function f(type: FieldType, column: Column, doc: string, optional?: true): FieldSpec {
  return optional ? { type, column, doc, optional } : { type, column, doc };
}

/** `field` with a declared meaning of its integer values (FieldSpec.meaning). */
function named<F extends FieldSpec>(field: F, meaning: (v: number) => string | undefined): F & { meaning: (v: number) => string | undefined } {
  return { ...field, meaning };
}
/** Meaning from a table of names by value (undefined past its end). */
const byIndex = (names: readonly string[]) => (v: number) => names[v] || undefined;
const ACCESS_NAMES = byIndex(['', 'read', 'write']);
/** A requester ID as the host's PCI address (bus:dev.fn). */
const requesterId = (v: number) => bdfToString(v);

/** Request type text: ATTACH … PROBE, or "UNKNOWN(<code>)". */
function requestText(reqType: unknown): string {
  const t = num(reqType) ?? -1;
  return REQUEST_TYPE_NAMES[t] ?? `UNKNOWN(${t})`;
}

/** A request's status field (undefined when the device wrote nothing). */
function statusOf(v: FeedFields): number | undefined {
  return v.status === undefined || v.status === null ? undefined : num(v.status);
}

/** The gauge scope of a mapping event: its domain ID (−1 when absent). */
function domainOf(v: FeedFields): number {
  return num(v.domain) ?? -1;
}

/**
 * Bytes covered by a map/unmap event: virtEnd − virtStart + 1 (0 when malformed or reversed); a
 * number for a lean sink's number fields (EventSink.lean: below 2^53, so the span is exact), else
 * a bigint.
 */
function span(v: FeedFields): bigint | number {
  const s = v.virtStart;
  const t = v.virtEnd;
  if (typeof s === 'number' && typeof t === 'number') return t < s ? 0 : t - s + 1;
  const a = u64Of(v.virtStart);
  const b = u64Of(v.virtEnd);
  if (a === undefined || b === undefined || b < a) return 0n;
  return b - a + 1n;
}

function formatTranslate(v: FormatFields): string {
  const access = num(v.access) === 2 ? 'write' : 'read';
  const path = PATHS[num(v.path) ?? 0] ?? '';
  const size = u64Of(v.size);
  return `TRANSLATE ep=${ep(v.endpoint)} ${hexOf(v.iova)} -> ${hexOf(v.phys)} ${access} ${size === undefined ? '?' : size.toString()}B${v.domain !== undefined && v.domain !== null ? ` domain=${num(v.domain)}` : ''}${path}`;
}

function formatConfigRead(v: FormatFields): string {
  const c = (v.config ?? {}) as Record<string, unknown>;
  const pair = (x: unknown, h: boolean) => (Array.isArray(x) ? `[${x.map((y) => (h ? hexOf(y) : String(num(y) ?? y))).join('-')}]` : '?');
  return `CONFIG READ page_size_mask=${hexOf(c.pageSizeMask)} input_range=${pair(c.inputRange, true)} domain_range=${pair(c.domainRange, false)} probe_size=${num(c.probeSize) ?? '?'} bypass=${num(c.bypass) ?? '?'}`;
}

/**
 * Every event kind. Field names are camelCase; docs name the spec/QEMU term.
 * Status values are virtio-iommu status codes (core/viommu/virtio-iommu/constants.ts, spec §5.13.6.x).
 */
export const EVENT_CATALOG = {
  features: {
    code: 1,
    family: 'virtio-iommu',
    doc: 'Feature negotiation: bits offered by the device and accepted by the driver (virtio spec §2.2, §5.13.3).',
    fields: {
      offered: f('u64', 'a', 'device feature bits offered'),
      accepted: f('u64', 'b', 'feature bits accepted by the driver (negotiated)'),
    },
    format: (v) => `FEATURES offered=${hexOf(v.offered)} accepted=${hexOf(v.accepted)} (${featureNames(u64Of(v.accepted))})`,
  },
  request: {
    code: 2,
    family: 'virtio-iommu',
    doc: 'One request taken from the requestq and completed (QEMU virtio_iommu_handle_command).',
    fields: {
      reqType: f('u8', 'aux', 'head.type (1 ATTACH, 2 DETACH, 3 MAP, 4 UNMAP, 5 PROBE, other = unknown)'),
      status: f('u8', 'status', 'tail.status written, absent when the device wrote nothing', true),
      domain: f('u32', 'domain', 'request domain field', true),
      endpoint: f('u32', 'endpoint', 'request endpoint field', true),
      virtStart: f('u64', 'a', 'MAP/UNMAP virt_start', true),
      virtEnd: f('u64', 'b', 'MAP/UNMAP virt_end (inclusive)', true),
      physStart: f('u64', 'c', 'MAP phys_start', true),
      reqFlags: f('u32', 'flags', 'ATTACH or MAP flags', true),
      used: f('u32', 'used', 'used length: bytes the device wrote into the writable part (4 for a tail, probe_size + 4 for PROBE, 0 when it wrote nothing) (virtio spec §2.7.8 "used length")'),
    },
    // A device error, whether or not the scenario expected it (like Wireshark's error flag): the
    // status is not OK (S_OK = 0), or the device wrote nothing. PROBE's own 'probe' event is not a
    // problem: its request event already is.
    problem: { when: 'absent-or-not', field: 'status', value: 0, doc: 'requests whose status is not OK or that the device left unwritten' },
    format: (v) => `REQUEST ${requestText(v.reqType)} → ${statusName(statusOf(v))} (used ${num(v.used) ?? '?'})`,
    feeds: [{ metric: 'requests', op: 'count', key: (v) => requestTypeName(num(v.reqType) ?? -1), subkey: (v) => statusName(statusOf(v)) }],
  },
  'endpoint-alloc': {
    code: 3,
    family: 'virtio-iommu',
    doc: 'Endpoint object created (QEMU trace virtio_iommu_get_endpoint).',
    fields: { endpoint: f('u32', 'endpoint', 'endpoint ID (PCI requester ID, bus << 8 | devfn)') },
    format: (v) => `ENDPOINT ALLOC ep=${ep(v.endpoint)}`,
  },
  'endpoint-free': {
    code: 4,
    family: 'virtio-iommu',
    doc: 'Endpoint object released (QEMU trace virtio_iommu_put_endpoint).',
    fields: { endpoint: f('u32', 'endpoint', 'endpoint ID') },
    format: (v) => `ENDPOINT FREE ep=${ep(v.endpoint)}`,
  },
  'domain-alloc': {
    code: 5,
    family: 'virtio-iommu',
    doc: 'Domain created by ATTACH (QEMU trace virtio_iommu_get_domain).',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      bypass: f('u8', 'flags', '1 when created with VIRTIO_IOMMU_ATTACH_F_BYPASS'),
    },
    format: (v) => `DOMAIN ALLOC domain=${num(v.domain) ?? '?'}${num(v.bypass) ? ' bypass' : ''}`,
  },
  'domain-free': {
    code: 6,
    family: 'virtio-iommu',
    doc: 'Domain destroyed when its last endpoint left, with its mappings (QEMU trace virtio_iommu_put_domain).',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      mappings: f('u32', 'aux', 'number of mappings destroyed with the domain'),
    },
    format: (v) => `DOMAIN FREE domain=${num(v.domain) ?? '?'} (${num(v.mappings) ?? 0} mappings)`,
    feeds: [
      { metric: 'mappings', op: 'release', scope: domainOf },
      { metric: 'mappedBytes', op: 'release', scope: domainOf },
    ],
  },
  attach: {
    code: 7,
    family: 'virtio-iommu',
    doc: 'Endpoint attached to a domain (QEMU trace virtio_iommu_attach).',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      endpoint: f('u32', 'endpoint', 'endpoint ID'),
    },
    format: (v) => `ATTACH ep=${ep(v.endpoint)} domain=${num(v.domain) ?? '?'}`,
  },
  detach: {
    code: 8,
    family: 'virtio-iommu',
    doc: 'Endpoint detached from a domain, explicitly (DETACH) or implicitly (re-ATTACH, reset) (QEMU trace virtio_iommu_detach_endpoint_from_domain).',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      endpoint: f('u32', 'endpoint', 'endpoint ID'),
      implicit: f('u8', 'aux', '1 for a detach done by ATTACH to another domain or by reset'),
    },
    format: (v) => `DETACH ep=${ep(v.endpoint)} domain=${num(v.domain) ?? '?'}${num(v.implicit) ? ' (implicit)' : ''}`,
  },
  map: {
    code: 9,
    family: 'virtio-iommu',
    doc: 'Mapping inserted into a domain (QEMU trace virtio_iommu_map).',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      virtStart: f('u64', 'a', 'first IOVA (bytes)'),
      virtEnd: f('u64', 'b', 'last IOVA, inclusive (bytes)'),
      physStart: f('u64', 'c', 'guest-physical address of virtStart'),
      flags: f('u32', 'flags', 'VIRTIO_IOMMU_MAP_F_* (READ 1, WRITE 2, MMIO 4)'),
    },
    format: (v) => `MAP domain=${num(v.domain) ?? '?'} [${hexOf(v.virtStart)}-${hexOf(v.virtEnd)}] -> ${hexOf(v.physStart)} ${mapFlagsText(num(v.flags) ?? 0)}`,
    feeds: [
      { metric: 'mappings', op: 'add', scope: domainOf },
      { metric: 'mappedBytes', op: 'add', scope: domainOf, amount: span },
    ],
  },
  unmap: {
    code: 10,
    family: 'virtio-iommu',
    doc: 'One mapping removed from a domain by an UNMAP request (QEMU trace virtio_iommu_unmap_done). Mappings destroyed with their domain are counted by domain-free instead.',
    fields: {
      domain: f('u32', 'domain', 'domain ID'),
      virtStart: f('u64', 'a', 'first IOVA of the removed mapping'),
      virtEnd: f('u64', 'b', 'last IOVA of the removed mapping, inclusive'),
      physStart: f('u64', 'c', 'guest-physical address the mapping pointed to'),
      flags: f('u32', 'flags', 'map flags of the removed mapping'),
    },
    format: (v) => `UNMAP domain=${num(v.domain) ?? '?'} [${hexOf(v.virtStart)}-${hexOf(v.virtEnd)}] (was -> ${hexOf(v.physStart)} ${mapFlagsText(num(v.flags) ?? 0)})`,
    feeds: [
      { metric: 'mappings', op: 'sub', scope: domainOf },
      { metric: 'mappedBytes', op: 'sub', scope: domainOf, amount: span },
    ],
  },
  probe: {
    code: 11,
    family: 'virtio-iommu',
    doc: 'PROBE answered: reserved regions reported as RESV_MEM properties (spec §5.13.6.8; QEMU trace virtio_iommu_fill_resv_property).',
    fields: {
      endpoint: f('u32', 'endpoint', 'endpoint ID'),
      status: f('u8', 'status', 'tail.status'),
      regions: f('json', 'data', '[{ subtype: 0 RESERVED | 1 MSI, start: "0x…", end: "0x…" }] in property order'),
    },
    format: (v) => `PROBE ep=${ep(v.endpoint)} → ${statusName(num(v.status))}: ${regionsText(v.regions)}`,
  },
  translate: {
    code: 12,
    family: 'virtio-iommu',
    doc: 'A DMA access translated (QEMU traces virtio_iommu_translate and virtio_iommu_translate_out).',
    fields: {
      endpoint: f('u32', 'endpoint', 'endpoint ID (requester ID)'),
      domain: f('u32', 'domain', 'domain the endpoint is attached to', true),
      iova: f('u64', 'a', 'input address (bytes)'),
      phys: f('u64', 'b', 'output address (bytes)'),
      size: f('u64', 'c', 'access size (bytes)'),
      access: f('u8', 'flags', 'IOMMUAccessFlags: 1 read (RO), 2 write (WO)'),
      path: f('u8', 'aux', '0 translated by a mapping, 1 bypass, 2 MSI reserved region (identity)'),
    },
    format: formatTranslate,
    feeds: [{ metric: 'translations', op: 'count' }],
  },
  fault: {
    code: 13,
    family: 'virtio-iommu',
    doc: 'Fault reported on the eventq as struct virtio_iommu_fault (spec §5.13.6.9; QEMU trace virtio_iommu_report_fault).',
    fields: {
      reason: f('u8', 'aux', 'VIRTIO_IOMMU_FAULT_R_* (0 UNKNOWN, 1 DOMAIN, 2 MAPPING)'),
      flags: f('u32', 'flags', 'VIRTIO_IOMMU_FAULT_F_* (READ 1, WRITE 2, ADDRESS 0x100)'),
      endpoint: f('u32', 'endpoint', 'endpoint ID'),
      address: f('u64', 'a', 'faulting address (valid when F_ADDRESS)'),
    },
    problem: { when: 'always', doc: 'faults' },
    format: (v) => `FAULT ${faultReasonName(num(v.reason) ?? 0)} ep=${ep(v.endpoint)} addr=${hexOf(v.address)} flags=${faultFlagsText(num(v.flags) ?? 0)}`,
    feeds: [{ metric: 'faults', op: 'count', key: (v) => faultReasonName(num(v.reason) ?? 0) }],
  },
  'config-read': {
    code: 14,
    family: 'virtio-iommu',
    doc: 'Driver read of the 40-byte config space (QEMU trace virtio_iommu_get_config).',
    fields: {
      config: f('json', 'data', '{ pageSizeMask, inputRange: [start, end], domainRange: [start, end], probeSize, bypass } with u64 as "0x…"'),
    },
    format: formatConfigRead,
  },
  'config-write': {
    code: 15,
    family: 'virtio-iommu',
    doc: 'Driver write of config.bypass (QEMU trace virtio_iommu_set_config).',
    fields: {
      bypass: f('u8', 'aux', 'value written'),
      accepted: f('u8', 'flags', '1 if the write took effect, 0 if the device flagged an error'),
    },
    // Refused by the device: in qemu mode a device-error follows; in spec mode the write is
    // ignored silently, so this event is the only trace of it.
    problem: { when: 'equals', field: 'accepted', value: 0, doc: 'config writes the device refused' },
    format: (v) => `CONFIG WRITE bypass=${num(v.bypass) ?? '?'} ${num(v.accepted) ? '(accepted)' : '(rejected)'}`,
  },
  'device-error': {
    code: 16,
    family: 'virtio-iommu',
    doc: 'The device entered the NEEDS_RESET state (QEMU virtio_error); requests are not processed until reset.',
    fields: { message: f('json', 'data', '{ message: string } — QEMU\'s virtio_error text') },
    problem: { when: 'always', doc: 'device errors (NEEDS_RESET)' },
    format: (v) => `DEVICE ERROR ${detailText(v.message)}`,
  },
  reset: {
    code: 17,
    family: 'virtio-iommu',
    doc: 'Device reset (all endpoints detached; bypass kept) or system reset (bypass restored to boot-bypass) (QEMU traces virtio_iommu_device_reset_exit / virtio_iommu_system_reset).',
    fields: { system: f('u8', 'aux', '0 device reset, 1 system reset') },
    format: (v) => `RESET ${num(v.system) ? 'system' : 'device'}`,
  },
  expectation: {
    code: 18,
    family: 'run',
    doc: 'A scenario step\'s `expect` was checked against its outcome.',
    fields: {
      held: f('u8', 'flags', '1 held, 0 failed'),
      detail: f('json', 'data', '{ expected, actual, message }'),
    },
    problem: { when: 'equals', field: 'held', value: 0, doc: 'failed expectations' },
    format: (v) => `EXPECT ${num(v.held) ? 'held' : 'FAILED'}: ${detailText(v.detail)}`,
    feeds: [{ metric: 'expectations', op: 'count', key: (v) => (num(v.held) ? 'held' : 'failed') }],
  },
  // ---- The host side (issue 7 §2-§4; reference ../../../shared/reference/iommufd-vfio-hostiommu.md) ----
  'host-call': {
    code: 19,
    family: 'host-backend',
    doc: "One uAPI call to a host backend: an iommufd ioctl (include/uapi/linux/iommufd.h, drivers/iommu/iommufd/*.c), a VFIO type1 container ioctl (include/uapi/linux/vfio.h, drivers/vfio/vfio_iommu_type1.c) or one through iommufd's VFIO compatibility (drivers/iommu/iommufd/vfio_compat.c), scripted by a step or made by QEMU's VFIO code (hw/vfio/container.c, hw/vfio/iommufd.c, backends/iommufd.c). Emitted by the backend components (core/host/components).",
    fields: {
      backend: named(f('u8', 'aux', '1 iommufd, 2 vfio-type1, 3 iommufd\'s VFIO compatibility (core/events/host-text.ts HOST_BACKENDS)'), byIndex(HOST_BACKENDS)),
      errno: named(f('u8', 'status', '0 OK, else the Linux errno number the ioctl returned (core/host/errno.ts)'), (v) => errnoText(v)),
      id: f('u32', 'domain', 'the object the call acts on: IOAS/HWPT/device/vIOMMU ID, or the container number', true),
      iova: f('u64', 'a', 'the IOVA argument (or the one the kernel chose)', true),
      length: f('u64', 'b', 'the length or size argument (bytes)', true),
      cause: f('u64', 'c', 'seq of the event that caused the call (a guest request shadowed into the backend); absent for scripted calls', true),
      call: f('json', 'data', '{ op: step op name ("ioas-map"), ioctl: "IOMMU_IOAS_MAP" | "VFIO_IOMMU_MAP_DMA" …, args: {kebab uAPI field: value}, out: {kebab uAPI output field: value} } with u64 as "0x…"'),
    },
    problem: { when: 'absent-or-not', field: 'errno', value: 0, doc: 'host backend calls that failed (errno ≠ 0)' },
    format: formatHostCall,
    // Both feeds run; a component reports only the metric declared for its kind (iommufd or vfio-type1).
    feeds: [
      { metric: 'hostCalls', op: 'count', key: (v) => hostIoctl(v.call), subkey: (v) => errnoText(v.errno) },
      { metric: 'vfioCalls', op: 'count', key: (v) => hostIoctl(v.call), subkey: (v) => errnoText(v.errno) },
    ],
  },
  'host-dma': {
    code: 20,
    family: 'host-iommu',
    doc: "An assigned device's DMA through the physical IOMMU: translated by its domain (HWPT / type1 domain) or faulted (the IOMMU's DMA remapping: VT-d §3, SMMUv3 §3.4; reference §3).",
    fields: {
      endpoint: named(f('u32', 'endpoint', "the host device's requester ID (bus << 8 | devfn)"), requesterId),
      iova: f('u64', 'a', 'input address (bytes)'),
      phys: f('u64', 'b', 'output address when translated: the user VA the mapping pins (QEMU\'s host virtual address of the guest page; the lab models no host physical memory, so a pinned page is named by its VA)', true),
      size: f('u64', 'c', 'access size (bytes)'),
      access: named(f('u8', 'flags', '1 read, 2 write'), ACCESS_NAMES),
      outcome: named(f('u8', 'aux', '0 translated, 1 fault'), byIndex(['translated', 'fault'])),
      domain: f('u32', 'domain', 'the HWPT ID (iommufd) or type1 domain the device is attached to', true),
      data: f('json', 'data', '{ device: host device name, iommu: physical IOMMU name, reason?: fault text }'),
    },
    problem: { when: 'equals', field: 'outcome', value: 1, doc: 'host DMA faults' },
    format: formatHostDma,
  },
  'host-fault': {
    code: 21,
    family: 'host-iommu',
    doc: 'A fault recorded by the physical IOMMU: a VT-d DMAR fault record (VT-d spec §7.2; drivers/iommu/intel/dmar.c dmar_fault), an SMMUv3 event queue entry (SMMUv3 spec §7.3; arm-smmu-v3.c arm_smmu_evtq_thread) or an AMD-Vi event log entry.',
    fields: {
      endpoint: named(f('u32', 'endpoint', "the faulting device's requester ID"), requesterId),
      address: f('u64', 'a', 'faulting address'),
      access: named(f('u8', 'flags', '1 read, 2 write'), ACCESS_NAMES),
      data: f('json', 'data', '{ device, iommu, reason: the fault reason text }'),
    },
    problem: { when: 'always', doc: 'host IOMMU faults' },
    format: formatHostFault,
  },
  'iommu-group': {
    code: 22,
    family: 'host-iommu',
    doc: "An IOMMU group computed at realize by Linux's rules (drivers/iommu/iommu.c pci_device_group: DMA aliases, PCIe-to-PCI bridges, ACS up to the root port; reference §2) or set by `group: N`.",
    fields: {
      group: f('u32', 'domain', 'the group number (/sys/kernel/iommu_groups/N)'),
      data: f('json', 'data', '{ iommu: its physical IOMMU, devices: [names], why: the Linux rule that grouped them, or "group: N" }'),
    },
    format: formatIommuGroup,
  },
  'hiod-realize': {
    code: 23,
    family: 'host-iommu-device',
    doc: "A HostIOMMUDevice realized (QEMU hw/vfio/container.c hiod_legacy_vfio_realize, hw/vfio/iommufd.c hiod_iommufd_vfio_realize; backends/host_iommu_device.c): what a vIOMMU learns of an assigned device's host side.",
    fields: {
      status: named(f('u8', 'status', '0 realized, 1 failed'), byIndex(['realized', 'failed'])),
      data: f('json', 'data', '{ device, variant: "legacy-vfio" | "iommufd-vfio", awBits, iovaRanges: [["0x…","0x…"]], pageSizeMask: "0x…", type?, hwCaps?, error? }'),
    },
    problem: { when: 'absent-or-not', field: 'status', value: 0, doc: 'HostIOMMUDevice realize failures' },
    format: formatHiodRealize,
  },
  'set-iommu-device': {
    code: 24,
    family: 'host-iommu-device',
    doc: "A vIOMMU's PCIIOMMUOps.set_iommu_device (hw/pci/pci.c pci_device_set_iommu_device; hw/virtio/virtio-iommu.c virtio_iommu_set_iommu_device, hw/i386/intel_iommu.c vtd_dev_set_iommu_device): the host device accepted or refused with QEMU's message.",
    fields: {
      endpoint: f('u32', 'endpoint', 'the guest device endpoint (requester ID)'),
      status: named(f('u8', 'status', '0 accepted, 1 refused'), byIndex(['accepted', 'refused'])),
      data: f('json', 'data', '{ device, viommu, message? }'),
    },
    problem: { when: 'absent-or-not', field: 'status', value: 0, doc: 'host devices a vIOMMU refused' },
    format: formatSetIommuDevice,
  },
  'device-plug': {
    code: 25,
    family: 'guest',
    doc: 'A guest device plugged at start (coldplug), by device_add (hotplug, qdev_device_add) or unplugged (device_del).',
    fields: {
      endpoint: f('u32', 'endpoint', 'the guest device endpoint (requester ID)'),
      action: named(f('u8', 'aux', '0 coldplug, 1 hotplug, 2 unplug'), byIndex(['coldplug', 'hotplug', 'unplug'])),
      status: named(f('u8', 'status', '0 done, 1 failed'), byIndex(['done', 'failed'])),
      data: f('json', 'data', '{ device, host?: the host device behind it, error?: QEMU\'s Error text }'),
    },
    problem: { when: 'absent-or-not', field: 'status', value: 0, doc: 'device plugs that failed' },
    format: formatDevicePlug,
  },
  'qemu-error': {
    code: 26,
    family: 'host-iommu-device',
    doc: "A QEMU error_report / warn_report text (util/qemu-error.c), e.g. hw/vfio/listener.c's vfio_container_dma_map(...) failure when a shadowed mapping fails on the host.",
    fields: {
      data: f('json', 'data', '{ message: the text as QEMU prints it, level: "error" | "warning" }'),
      cause: f('u64', 'c', 'seq of the event that caused it (the guest request)', true),
    },
    problem: { when: 'always', doc: 'QEMU error reports' },
    format: formatQemuError,
  },

  // ---- The guest DMA layer (issue 8; reference ../../../shared/reference/trace-formats-and-guest-dma.md part B) ----
  'guest-probe': {
    code: 27,
    family: 'guest',
    doc: "The guest kernel probes a device behind the vIOMMU (drivers/iommu/iommu.c iommu_probe_device → viommu_probe_device's PROBE, the IOMMU group by pci_device_group, the group's default domain and its ATTACH, then dma-iommu.c iommu_dma_init_domain): `init` says whether this device initialised the domain's IOVA allocator (its reserved regions carved, iova_reserve_iommu_regions) or joined one already initialised (nothing carved: the shared-group behaviour of reference B1).",
    fields: {
      endpoint: f('u32', 'endpoint', 'the guest device (requester ID)'),
      domain: f('u32', 'domain', "the vIOMMU domain ID of the group's default domain", true),
      group: f('u32', 'a', 'the guest IOMMU group number'),
      init: named(f('u8', 'aux', '0 first (allocator initialised, regions carved), 1 joined (already initialised: nothing carved), 2 failed'), byIndex(PROBE_INIT)),
      data: f('json', 'data', '{ device, hotplug, groupWhy, domainType: "DMA-FQ" | "DMA", regions: PROBE RESV_MEM [{type, start, end}], carved: [{start, end, source}], aperture: [start, end], granule, error? }'),
    },
    problem: { when: 'equals', field: 'init', value: 2, doc: 'guest device probes that failed' },
    format: formatGuestProbe,
  },
  'iova-reserve': {
    code: 28,
    family: 'guest',
    doc: "One range carved out of a DMA domain's IOVA allocator by reserve_iova (drivers/iommu/iova.c) at iommu_dma_init_domain: a PCI host-bridge window or a reserved region from PROBE (RESERVED, MSI; a software MSI window is skipped).",
    fields: {
      domain: f('u32', 'domain', 'the vIOMMU domain ID'),
      start: f('u64', 'a', 'first address of the range'),
      end: f('u64', 'b', 'last address of the range, inclusive'),
      data: f('json', 'data', '{ source: "RESERVED" | "MSI" | "pci-window", device }'),
    },
    format: formatIovaReserve,
  },
  'dma-map': {
    code: 29,
    family: 'guest',
    doc: "A driver's dma_map_page / dma_map_single through dma-iommu (__iommu_dma_map: iova_align(size + offset), iommu_dma_alloc_iova — 32-bit first for PCI devices, then the DMA limit — and iommu_map, whose map_pages calls become virtio-iommu MAP requests). Fails with DMA_MAPPING_ERROR when no IOVA fits or iommu_map fails.",
    fields: {
      endpoint: f('u32', 'endpoint', 'the guest device (requester ID)'),
      domain: f('u32', 'domain', 'the vIOMMU domain ID of its default domain', true),
      iova: f('u64', 'a', 'the DMA address returned (IOVA + the offset of phys in its page); absent on failure', true),
      size: f('u64', 'b', 'bytes the driver asked for'),
      phys: f('u64', 'c', 'guest-physical address of the buffer'),
      dir: named(f('u8', 'flags', '1 to-device, 2 from-device, 3 bidirectional (enum dma_data_direction)'), byIndex(DMA_DIRS)),
      outcome: named(f('u8', 'status', '0 mapped, 1 DMA_MAPPING_ERROR'), byIndex(['mapped', 'DMA_MAPPING_ERROR'])),
      data: f('json', 'data', '{ device, handle?, cpu, pages: IOVA pages allocated, path: "rcache" | "tree", error? }'),
    },
    problem: { when: 'equals', field: 'outcome', value: 1, doc: 'dma_map calls that failed' },
    format: formatDmaMap,
    feeds: [
      { metric: 'dmaMaps', op: 'count', key: (v) => (num(v.outcome) === 1 ? 'failed' : 'mapped') },
      { metric: 'dmaMappings', op: 'add', amount: (v) => (num(v.outcome) === 1 ? 0 : 1), scope: domainOf },
    ],
  },
  'dma-unmap': {
    code: 30,
    family: 'guest',
    doc: "A driver's dma_unmap through dma-iommu (__iommu_dma_unmap: iommu_unmap_fast, whose unmap_pages calls become virtio-iommu UNMAP requests; strict: iommu_iotlb_sync now and the IOVA freed; lazy: no sync, the IOVA queued on a flush queue).",
    fields: {
      endpoint: f('u32', 'endpoint', 'the guest device (requester ID)'),
      domain: f('u32', 'domain', 'the vIOMMU domain ID', true),
      iova: f('u64', 'a', 'the DMA address unmapped'),
      size: f('u64', 'b', 'bytes'),
      dir: named(f('u8', 'flags', '1 to-device, 2 from-device, 3 bidirectional'), byIndex(DMA_DIRS)),
      mode: named(f('u8', 'aux', '0 strict (synced now), 1 queued (flush queue)'), byIndex(UNMAP_MODES)),
      data: f('json', 'data', '{ device, handle?, cpu }'),
    },
    format: formatDmaUnmap,
    feeds: [
      { metric: 'dmaUnmaps', op: 'count', key: (v) => UNMAP_MODES[num(v.mode) ?? -1] ?? '?' },
      { metric: 'dmaMappings', op: 'sub', scope: domainOf },
    ],
  },
  'guest-sync': {
    code: 31,
    family: 'guest',
    doc: "The virtio-iommu driver kicks its request queue and waits (drivers/iommu/virtio-iommu.c viommu_sync_req): MAP/UNMAP requests are only added (viommu_add_req) until an iotlb_sync_map, an iotlb_sync (strict unmap), a flush_iotlb_all (flush queue) or a full queue syncs them; the device sees them only then.",
    fields: {
      requests: f('u32', 'a', 'requests delivered to the device by this sync'),
      why: named(f('u8', 'aux', '0 iotlb_sync_map, 1 iotlb_sync, 2 flush_iotlb_all, 3 queue full'), byIndex(SYNC_WHY)),
      data: f('json', 'data', '{ windows?: {count, minNs, maxNs}: queued UNMAPs delivered and how long after their dma_unmap }'),
    },
    format: formatGuestSync,
  },
  'fq-flush': {
    code: 32,
    family: 'guest',
    doc: 'A flush-queue flush (drivers/iommu/dma-iommu.c fq_flush_iotlb + fq_ring_free): queue full on queue_iova, or the timer (fq_flush_timeout); IOVAs whose entries are older than the finished flush go back to the allocator.',
    fields: {
      domain: f('u32', 'domain', 'the vIOMMU domain ID'),
      reason: named(f('u8', 'aux', '0 queue full, 1 timeout'), byIndex(FQ_REASONS)),
      freed: f('u32', 'a', 'IOVAs freed by this flush'),
      data: f('json', 'data', '{ cpu, startCnt, finishCnt, pending }'),
    },
    format: formatFqFlush,
    feeds: [{ metric: 'fqFlushes', op: 'count', key: (v) => FQ_REASONS[num(v.reason) ?? -1] ?? '?' }],
  },
  'stale-access': {
    code: 33,
    family: 'guest',
    doc: "A device's DMA that still reached memory through a translation the guest had already unmapped: the lazy-mode window between dma_unmap and the invalidation (reference B3 'Security window'; for virtio-iommu the queued UNMAP request not yet delivered).",
    fields: {
      endpoint: f('u32', 'endpoint', 'the device (requester ID)'),
      address: f('u64', 'a', 'the DMA address'),
      sinceNs: f('u64', 'b', 'virtual ns since the dma_unmap of the mapping'),
      phys: f('u64', 'c', 'where the access went', true),
      access: named(f('u8', 'flags', '1 read, 2 write'), ACCESS_NAMES),
      data: f('json', 'data', '{ device, handle?, unmappedAtNs, path: "viommu" | "host" }'),
    },
    problem: { when: 'always', doc: 'DMA through stale translations (lazy invalidation window)' },
    format: formatStaleAccess,
    feeds: [{ metric: 'staleAccesses', op: 'count' }],
  },
  'guest-log': {
    code: 34,
    family: 'guest',
    doc: 'A guest kernel log line the model prints as Linux does: dev_notice "Using %d-bit DMA addresses" (iommu_dma_alloc_iova), pr_warn "Incompatible range for DMA domain", the DMA domain policy line.',
    fields: {
      level: named(f('u8', 'aux', '0 info, 1 notice, 2 warning, 3 error'), byIndex(LOG_LEVELS)),
      alert: f('u8', 'flags', '1 when the line is a warning or an error'),
      data: f('json', 'data', '{ text, device? }'),
    },
    problem: { when: 'equals', field: 'alert', value: 1, doc: 'guest kernel warnings and errors' },
    format: formatGuestLog,
  },
  wait: {
    code: 35,
    family: 'guest',
    doc: 'Virtual time passes (a `wait` step, or up to a timer): the guest is idle; timers due in it fire (the flush-queue timeout).',
    fields: {
      ns: f('u64', 'a', 'nanoseconds of virtual time'),
    },
    format: formatWait,
    costField: 'ns',
  },
  // ---- imported traces (core/import; reference trace-formats-and-guest-dma.md part A) ----------
  // Every kind's `data` holds { event: the source event's name (iommu:map, virtio_iommu_map, DMAR,
  // …), device?: the device as the line names it, …the line's other fields }. The envelope's
  // `line` is the event's line in the trace file, `time` the trace's timestamp (ns) when it has one.
  'trace-map': {
    code: 36,
    family: 'trace',
    doc: 'A mapping in an imported trace: ftrace iommu:map (IOMMU core iommu_map; both the old and the range format), QEMU virtio_iommu_map / vfio_iommu_map_notify (map) / iommufd_backend_map_dma / vtd_page_walk_one.',
    fields: {
      iova: f('u64', 'a', 'first IOVA (bytes)'),
      size: f('u64', 'b', 'bytes mapped'),
      phys: f('u64', 'c', 'physical (or guest-physical / user) address the IOVA maps to, when the line gives it', true),
      domain: f('u32', 'domain', 'the domain, IOAS or container the line names', true),
      flags: f('u32', 'flags', 'the line\'s map flags or permissions (virtio MAP flags, IOMMUAccessFlags, !readonly)', true),
      data: f('json', 'data', '{ event, device?, … }'),
    },
    format: formatTraceMap,
    feeds: [{ metric: 'traceMaps', op: 'count', key: (v) => String((v.data as { event?: unknown } | undefined)?.event ?? '') }],
  },
  'trace-unmap': {
    code: 37,
    family: 'trace',
    doc: 'An unmapping in an imported trace: ftrace iommu:unmap (size and unmapped_size), QEMU virtio_iommu_unmap / vfio_iommu_map_notify (unmap) / iommufd_backend_unmap_dma.',
    fields: {
      iova: f('u64', 'a', 'first IOVA (bytes)'),
      size: f('u64', 'b', 'bytes asked to unmap'),
      unmapped: f('u64', 'c', 'bytes actually unmapped (iommu:unmap unmapped_size)', true),
      domain: f('u32', 'domain', 'the domain, IOAS or container the line names', true),
      data: f('json', 'data', '{ event, device?, … }'),
    },
    format: formatTraceUnmap,
    feeds: [{ metric: 'traceUnmaps', op: 'count', key: (v) => String((v.data as { event?: unknown } | undefined)?.event ?? '') }],
  },
  'trace-fault': {
    code: 38,
    family: 'trace',
    doc: 'A DMA fault in an imported trace: a VT-d DMAR fault line (dmar.c dmar_fault_do_one, every era), an AMD-Vi IO_PAGE_FAULT event, an SMMUv3 event, ftrace iommu:io_page_fault, a virtio-iommu guest fault report, QEMU virtio_iommu_report_fault / vtd_dmar_fault.',
    fields: {
      address: f('u64', 'a', 'faulting address (absent for interrupt-remapping faults, whose index is in data)', true),
      access: named(f('u8', 'flags', '0 not given, 1 read, 2 write'), byIndex(TRACE_ACCESS)),
      // Each source numbers its reasons its own way (data.reasonText has the printed text): no shared name.
      reason: named(f('u32', 'status', 'the fault reason code (VT-d fault reason, SMMUv3 event id, AMD-Vi flags, virtio-iommu reason)', true), () => undefined),
      endpoint: named(f('u32', 'endpoint', 'requester ID (bus << 8 | devfn) when the line gives a PCI address', true), requesterId),
      domain: f('u32', 'domain', 'the domain the line names (AMD-Vi domain=)', true),
      data: f('json', 'data', '{ event, device?, reasonText?, pasid?, segment?, … }'),
    },
    problem: { when: 'always', doc: 'faults recorded in an imported trace' },
    format: formatTraceFault,
    feeds: [{ metric: 'traceFaults', op: 'count', key: (v) => String((v.data as { event?: unknown } | undefined)?.event ?? '') }],
  },
  'trace-attach': {
    code: 39,
    family: 'trace',
    doc: 'A device attached to (or detached from) a domain in an imported trace: ftrace iommu:attach_device_to_domain / detach_device_from_domain, QEMU virtio_iommu_attach / detach, iommufd_cdev_attach_ioas_hwpt.',
    fields: {
      op: named(f('u8', 'aux', '0 attach, 1 detach'), byIndex(TRACE_ATTACH_OPS)),
      domain: f('u32', 'domain', 'the domain (or HWPT/IOAS ID) when the line gives it', true),
      endpoint: f('u32', 'endpoint', 'the endpoint ID when the line gives it', true),
      data: f('json', 'data', '{ event, device?, … }'),
    },
    format: formatTraceAttach,
  },
  'trace-group': {
    code: 40,
    family: 'trace',
    doc: 'A device added to or removed from an IOMMU group in an imported trace: ftrace iommu:add_device_to_group / remove_device_from_group, the kernel log\'s "Adding to iommu group N".',
    fields: {
      op: named(f('u8', 'aux', '0 add, 1 remove'), byIndex(TRACE_GROUP_OPS)),
      group: f('u32', 'domain', 'the group ID'),
      data: f('json', 'data', '{ event, device }'),
    },
    format: formatTraceGroup,
  },
  'trace-dma': {
    code: 41,
    family: 'trace',
    doc: 'A DMA API call in an imported trace: ftrace dma:* (dma_map_phys, dma_unmap_phys, dma_alloc, dma_free, dma_map_sg, dma_sync_single_*; include/trace/events/dma.h), which name the device the iommu:* events do not.',
    fields: {
      dir: named(f('u8', 'flags', 'dma_data_direction: 0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE, 3 NONE', true), byIndex(TRACE_DMA_DIRS)),
      addr: f('u64', 'a', 'dma_addr', true),
      size: f('u64', 'b', 'size (bytes)', true),
      phys: f('u64', 'c', 'phys_addr', true),
      data: f('json', 'data', '{ event, device, attrs?, … }'),
    },
    format: formatTraceDma,
  },
  'trace-inval': {
    code: 42,
    family: 'trace',
    doc: 'An IOTLB (or context/PASID/device-TLB) invalidation in an imported trace: ftrace intel_iommu:qi_submit (the descriptor type, the IOMMU, four raw qwords), QEMU vtd_inv_desc_iotlb_* (global, domain, pages with the address mask).',
    fields: {
      domain: f('u32', 'domain', 'domain ID, when the descriptor or line names one', true),
      addr: f('u64', 'a', 'first address of a page-selective invalidation', true),
      mask: f('u32', 'flags', 'VT-d address mask (AM): 2^mask pages from addr', true),
      data: f('json', 'data', '{ event, type?, iommu?, qw?: [four qwords as "0x…"], … }'),
    },
    format: formatTraceInval,
    feeds: [{ metric: 'traceInvalidations', op: 'count', key: (v) => String((v.data as { type?: unknown } | undefined)?.type ?? '') }],
  },
  'trace-note': {
    code: 43,
    family: 'trace',
    doc: 'Any other line of an imported trace the importer understood and keeps (e.g. "Using 48-bit DMA addresses", virtio-iommu "input address: N bits", QEMU virtio_iommu_get_config, vfio_listener_region_add_*, iommufd_backend_alloc_ioas / alloc_hwpt, DRHD fault status lines).',
    fields: {
      data: f('json', 'data', '{ event, text, device?, … }'),
    },
    format: formatTraceNote,
  },
} as const satisfies Record<string, KindSpec>;

/** Name of an event kind. */
export type EventKind = keyof typeof EVENT_CATALOG;

type FieldValue<F> = F extends { type: 'u64' } ? bigint : F extends { type: 'json' } ? unknown : number;
type Fields<K extends EventKind> = (typeof EVENT_CATALOG)[K]['fields'];
type RequiredKeys<K extends EventKind> = { [N in keyof Fields<K>]: Fields<K>[N] extends { optional: true } ? never : N }[keyof Fields<K>];
type OptionalKeys<K extends EventKind> = Exclude<keyof Fields<K>, RequiredKeys<K>>;

/** The payload of an event of kind K, without the envelope. */
export type EventPayload<K extends EventKind> = { -readonly [N in RequiredKeys<K>]: FieldValue<Fields<K>[N]> } & {
  -readonly [N in OptionalKeys<K>]?: FieldValue<Fields<K>[N]>;
};

/**
 * One emitted event: `kind`, the scenario `step` index (0-based) that produced it, and the payload.
 * `seq` (0-based position in the run's stream) is assigned by the run, in emission order.
 */
export type LabEvent = { [K in EventKind]: { kind: K; step: number } & EventPayload<K> }[EventKind];

/** Kinds by numeric code (index = code). */
export const KIND_BY_CODE: readonly (EventKind | undefined)[] = (() => {
  const out: (EventKind | undefined)[] = [];
  for (const [k, spec] of Object.entries(EVENT_CATALOG)) out[spec.code] = k as EventKind;
  return out;
})();

/** All event kinds in code order. */
export const EVENT_KINDS: readonly EventKind[] = KIND_BY_CODE.filter((k): k is EventKind => k !== undefined);
