/**
 * The one typed contract between the UI and the lab (Electron IPC and `iommu-lab serve`'s WebSocket).
 *
 * Two operations only, after VS Code's IPC: `call(method, params) → result` and `listen(event)`.
 * Every method's params are described by a TypeBox schema (validated at the boundary by main with
 * `validateParams`, problems reported with their field path) and its result by a TypeScript type.
 * main/ implements `LabApi`; preload/ exposes exactly these methods; the renderer calls them.
 *
 * 64-bit values cross the boundary as "0x…" lowercase hex strings (JSON has no u64).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ImportStats } from '../import/driver.ts';
import type { TraceFormat } from '../import/types.ts';
import type { TimeSeries } from '../compare/types.ts';
import type { Comparison } from '../compare/types.ts';

/** A problem with a location: file:line:column (1-based) and a message. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: 'error' | 'warning';
  message: string;
  /** Dotted path in the scenario document, e.g. "steps.3.map.virt-start", when known. */
  path?: string;
}

/** Lifecycle of a run (stored in `runs.status`). */
export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';

/** Run metrics (core/events/metrics.ts computes them). u64 byte counts are decimal strings. */
export interface RunMetrics {
  events: number;
  /** Events per kind name. */
  byKind: Record<string, number>;
  /** Requests per request type name (ATTACH, …, UNKNOWN) then per status name (OK, …, UNWRITTEN). */
  requests: Record<string, Record<string, number>>;
  /** Faults per reason name (UNKNOWN, DOMAIN, MAPPING). */
  faultsByReason: Record<string, number>;
  translations: number;
  liveMappings: number;
  peakMappings: number;
  /** Bytes covered by live mappings, decimal string (may exceed 2^53). */
  liveBytes: string;
  peakBytes: string;
  expectations: { held: number; failed: number };
  /**
   * The same run measured per component, with each metric's declared label and unit
   * (core/events/metric-catalog.ts): the run itself first (component 'run': events,
   * expectations), then each emitting component (today the vIOMMU 'viommu0'). Absent in metrics
   * stored before it existed (core/events/metrics.ts componentMetricsOf fills it from the fields
   * above).
   */
  components?: ComponentMetrics[];
}

/** Unit of a metric value (core/events/metric-catalog.ts MetricUnit). */
export type MetricUnit = 'count' | 'bytes' | 'ns' | 'events/s';

/** One metric's value on one component. */
export interface ComponentMetric {
  /** Metric id (METRIC_CATALOG key: events, requests, translations, faults, mappings, mappedBytes, expectations, …). */
  id: string;
  /** Declared label, e.g. "Live mappings". */
  label: string;
  unit: MetricUnit;
  /** Count, gauge level or total; a decimal string for unit 'bytes' (may exceed 2^53). */
  value: number | string;
  /** Gauges only: the highest level reached (same type as value). */
  peak?: number | string;
  /** Tallies only: counts by key (fault reason, expectation outcome), or by key then key (request type, status). */
  parts?: Record<string, number | Record<string, number>>;
}

/** The metrics of one component. */
export interface ComponentMetrics {
  /** Component id: 'run' for the run itself, else the emitting component's (e.g. 'viommu0'). */
  component: string;
  /** Component kind: 'run', 'virtio-iommu', … */
  kind: string;
  /** Layer: run, guest, viommu, host-iommu-device, backend, iommu. */
  layer: string;
  metrics: ComponentMetric[];
}

/** What one step did, as the CLI's --json and the run view show it. */
export interface StepResult {
  index: number;
  op: string;
  /** 1-based line of the step in the scenario. */
  line: number;
  /** Status name (OK, INVAL, …, UNWRITTEN) for requests; undefined for steps without one. */
  status?: string;
  /**
   * Op-specific outcome: { regions } for probe, { translated } / { fault } / { bypass } for dma,
   * { config } for read-config, { bypass, accepted, deviceError? } for set-bypass, { used } for
   * request, the totals for workload. core/run/step-outcome.ts stepOutcomeText gives its text.
   */
  outcome?: unknown;
  /** true/false when the step had `expect`; undefined when not. */
  expectation?: boolean;
  message?: string;
  /**
   * The device-readable bytes the step sent, lowercase hex (steps that send one request: attach,
   * detach, map, unmap, probe, request); the event detail's raw bytes come from here.
   */
  request?: string;
  /**
   * Host uAPI steps (iommufd, vfio; issue 7 §3): the errno name the call returned ("OK", "ENOENT",
   * …); undefined for other steps.
   */
  errno?: string;
  /**
   * Host uAPI steps: the call's outputs by kebab-case uAPI name (iova, length, num-iovas, ranges,
   * out-dev-id, size, …); u64 values as "0x…" strings, lists of them as arrays. Present on success
   * and for outputs the kernel writes back on failure (num-iovas with EMSGSIZE).
   */
  outputs?: Record<string, unknown>;
}

/**
 * The configuration a run was made with (core/run/config.ts runConfig): effective values, machine
 * defaults resolved. Stored with the run since schema version 4.
 */
export interface RunConfig {
  machine: 'q35' | 'virt';
  /** vIOMMU model (viommu.model). */
  model: string;
  conformance: 'qemu' | 'spec';
  /** QEMU `granule` property: '4k' | '8k' | '16k' | '64k' | 'host' (host = 4 KiB here). */
  granule: string;
  /** QEMU `aw-bits`: input address width in bits (virtio-iommu's or intel-iommu's property). */
  awBits: number;
  /** intel-iommu's `caching-mode` and `x-flts` (absent for virtio-iommu). */
  cachingMode?: boolean;
  xFlts?: boolean;
  /** Declared devices: name, PCI address "bb:dd.f" and endpoint ID (requester ID). */
  devices: { name: string; bdf: string; endpoint: number; host?: string }[];
  /** The host backend (`backend:`; issue 7 §3), for scenarios with a host side; absent in runs stored before. */
  backend?: 'iommufd' | 'vfio-type1';
  /** The kernel era the backends model (`kernel:`), with `backend`. */
  kernel?: string;
  /** The computed IOMMU groups (issue 7 §2), for scenarios with a `host:` block: group number, IOMMU and members. */
  groups?: { id: number; iommu: string | null; members: string[] }[];
  /** virtio-iommu's `host-geometry` (issue 8), when the scenario has assigned devices. */
  hostGeometry?: 'realize' | 'listener' | 'none';
  /** The guest DMA layer (issue 8 `guest:`), when the scenario has one: iommu.strict, CPUs, iommu.forcedac, single flush queue, CONFIG_HZ. */
  guest?: { iommuDma: 'strict' | 'lazy'; cpus: number; forcedac: boolean; singleFlushQueue: boolean; hz: number };
  /** Guest topology of devices that have one (issue 8): type root-port, the root port a device sits behind, ACS, DMA mask bits. */
  topology?: { name: string; type: 'endpoint' | 'root-port'; behind?: string; acs: boolean; dmaMask: number }[];
}

export interface RunSummary {
  id: number;
  name: string;
  file: string;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  steps: number;
  events: number;
  failedExpectations: number;
  error: string | null;
  /** The run's configuration; null for runs stored before schema version 4. */
  config: RunConfig | null;
  /** For an imported trace (schema version 9), where it came from; absent or null for scenario runs. */
  source?: TraceSourceInfo | null;
  /** For a replay of a trace against a configuration (issue 9 §2), what was replayed; absent or null otherwise. */
  replay?: ReplaySourceInfo | null;
  /** For one variant of a scenario with `variants:` (issue 9 §3), which one; absent or null otherwise. */
  variant?: VariantSourceInfo | null;
}

/** A device access whose fault the trace and its replay disagree on (core/replay/replay.ts). */
export interface ReplayDivergence {
  /** The replay step (its index) and the trace line of the access. */
  step: number;
  traceLine: number;
  /** The trace's fault for the access (its line and text), or null when the trace translated it. */
  trace: string | null;
  /** The replay's fault event text, or null when the replay translated it. */
  replay: string | null;
}

/**
 * The run of one variant of a scenario with `variants:` (core/scenario/variants.ts), stored in
 * runs.source as JSON with kind 'variant'. Its scenario text is the variant's expanded text.
 */
export interface VariantSourceInfo {
  kind: 'variant';
  /** The variant's name as written (`lazy`); the run's name is "<scenario> [<variant>]". */
  variant: string;
  /** The scenario's own name (without the variant). */
  scenario: string;
  /** Its place among the variants (0-based) and how many there are. */
  index: number;
  count: number;
  /** The same for every run of one startRun (a random id): the runs list groups by it. */
  group: string;
}

/** What a replay run replayed (stored in runs.source as JSON with kind 'replay'; core/replay). */
export interface ReplaySourceInfo {
  kind: 'replay';
  /** The trace replayed: its run id, name, format and file hash. */
  trace: { runId: number; name: string; format: TraceFormat | null; sha256: string };
  /** The configuration's scenario file. */
  against: string;
  /** Steps derived from the trace, by op. */
  byOp: Record<string, number>;
  divergenceCount: number;
  /** The first divergences (at most 1000), in step order. */
  divergences: ReplayDivergence[];
  /** What the trace held that the replay could not use, by source event, with the reason. */
  notDerived: { event: string; count: number; firstLine: number; why: string }[];
  /** What the replay assumed (e.g. the access size). */
  assumptions: string[];
  /** Faults in the trace that follow no access the replay could tie them to. */
  unattributedFaults: number;
}

/** Where an imported trace came from (runs.source; main/store/import.ts TraceSource). */
export interface TraceSourceInfo {
  kind: 'trace';
  /** The file's base name, its size in bytes and SHA-256 (hex). */
  file: string;
  bytes: number;
  sha256: string;
  /** The trace format. */
  format: TraceFormat | null;
  /** True when lines of known events were malformed and the import was kept anyway (they are in stats.errors). */
  partial: boolean;
  /** The first event's timestamp (ns on the trace's clock), or null when the events carry none; the UI shows times from it. */
  firstTime?: number | null;
  /** The import's line accounting, detection and time origin (core/import/driver.ts). */
  stats: ImportStats;
}

export interface RunDetail extends RunSummary {
  scenarioText: string;
  metrics: RunMetrics | null;
  stepResults: StepResult[];
}

/** One stored event as the UI sees it: catalog fields decoded, u64 as hex strings. */
export interface EventRow {
  seq: number;
  step: number;
  kind: string;
  /** Field name → value (numbers, "0x…" strings for u64, JSON values). */
  fields: Record<string, unknown>;
  /** One-line human text (core/events/format.ts). */
  text: string;
  /** True for problem events, as the catalog declares them (core/events/problems.ts: faults, device errors, failed expectations…). */
  problem: boolean;
  /**
   * Id of the emitting component ('viommu0'); null for the run's own events (expectations). Rows
   * stored before schema version 6 belong to the run's vIOMMU ('viommu0'). Absent where a reader
   * does not select the envelope (exports).
   */
  component?: string | null;
  /** Virtual time in ns when the event's operation completed (core/engine/clock.ts); null for rows stored before schema version 6. */
  time?: number | null;
  /** An imported event's line in its trace file (schema version 9); absent or null for emulated events. */
  line?: number | null;
}

/** One field of an event as the detail pane shows it (a tree: JSON payloads have children). */
export interface EventDetailField {
  /** Field name: the catalog's (camelCase), or a key inside a JSON payload. */
  name: string;
  /** The value as text: u64 and addresses in "0x…" hex, other integers in decimal. */
  value: string;
  /** What the value means, resolved: a status, reason, request type or flag names, an endpoint's device and PCI address. */
  meaning?: string;
  /** The catalog's description of the field. */
  doc?: string;
  children?: EventDetailField[];
}

/** Bytes the device read for the request an event came from (virtio spec §5.13.6 layouts). */
export interface RawRequestBytes {
  /** Lowercase hex, two digits per byte, no separators. */
  hex: string;
  /** How the bytes were obtained: as the step sent them (StepResult.request), or re-encoded from the request event's fields. */
  source: 'step' | 'encoded';
  /** The request's fields by byte range, for the hex view (empty for malformed requests). */
  layout: { name: string; offset: number; size: number }[];
}

/** One event with every field resolved, as a Wireshark-like detail pane shows it. */
export interface EventDetail {
  seq: number;
  step: number;
  /** An imported event's line in its trace file (absent for emulated events). */
  line?: number;
  kind: string;
  /** The catalog's description of the kind. */
  kindDoc: string;
  text: string;
  problem: boolean;
  fields: EventDetailField[];
  /** The request the event came from (request events, and the effects of a single-request step); null otherwise. */
  raw: RawRequestBytes | null;
}

/** Type of a host object (core/events/objects.ts): iommufd's IOMMUFD_OBJ_* in kebab case, and VFIO's containers and groups. */
export type HostObjectType = 'ioas' | 'hwpt-paging' | 'hwpt-nested' | 'device' | 'access' | 'viommu' | 'vdevice' | 'fault' | 'vfio-container' | 'vfio-group';

/**
 * One object of the host object table at an event (core/events/objects.ts HostObjectFold), as
 * iommufd's xarray of objects holds it (drivers/iommu/iommufd/main.c), or a VFIO container/group.
 */
export interface HostObjectRow {
  /** The backend component whose ID space it lives in ('iommufd0', 'vfio0'). */
  component: string;
  /** 'iommufd', 'vfio-type1' or 'iommufd-vfio-compat'. */
  backend: string;
  /** Object ID (iommufd, from 1), container number or IOMMU group number. */
  id: number;
  type: HostObjectType;
  /** Seq of the host call that created it. */
  seq: number;
  /** References other objects (and attached devices) hold on it: destroy gives EBUSY unless 0. */
  users: number;
  /** The objects it refers to, by role: ioas, parent, viommu, hwpt, dev, attached, container, fault. */
  refs: { role: string; type: HostObjectType; id: number }[];
  /** An auto domain (HWPT_PAGING created by a device attach to an IOAS). */
  auto?: boolean;
  /** Allocation flags (hwpt-alloc: nest-parent, dirty-tracking, …). */
  flags?: string[];
  /** A device's host device name, a vDEVICE's virt-id, a group's member device. */
  label?: string;
  /** IOAS / container: mapped areas and their bytes (decimal string, may exceed 2^53). */
  areas?: number;
  bytes?: string;
  /** VFIO container: the IOMMU type set (type1, type1v2). */
  iommuType?: string;
  /** HWPT: dirty tracking enabled (hwpt-set-dirty-tracking). */
  dirtyTracking?: boolean;
}

/** One component of a run as the run view lists it, with its event count. */
export interface RunComponent {
  /** Component id ('viommu0', 'iommufd0'); '' for the run's own events (expectations). */
  id: string;
  /** Component kind ('virtio-iommu', 'iommufd', …; 'run'), from the run's metrics or its events' family. */
  kind: string;
  /** Layer (guest, viommu, host-iommu-device, backend, iommu; 'run' for the run itself). */
  layer: string;
  /** Events it emitted. */
  events: number;
  /** Of which problems. */
  problems: number;
}

/**
 * One range of a guest DMA domain's IOVA space (getIovaSpace), bytes, inclusive, u64 as "0x…".
 * Kinds (reference trace-formats-and-guest-dma.md part B1, iommufd-vfio-hostiommu.md §5.4):
 *  - 'reserved': carved out of the domain's allocator by reserve_iova (an 'iova-reserve' event);
 *  - 'host-hole': outside an assigned device's usable host IOVA ranges (the complement over
 *    [0, 2^64 − 1], QEMU's range_inverse_array), `source` 'host-iova-ranges' (its HostIOMMUDevice's
 *    'hiod-realize' iovaRanges) or, for a device with none, 'probe' (the RESERVED regions its PROBE
 *    reported, 'guest-probe' data.regions);
 *  - 'allocated': a live dma_map: the IOVA aligned down to the granule, `pages` × granule bytes
 *    (iova_align), until its dma-unmap;
 *  - 'failed': a map the layers below refused: a host call with errno ≠ 0 or a QEMU error caused by
 *    the vIOMMU MAP of that range, a MAP request whose status is not OK, or a dma-map outcome 1
 *    that carries an IOVA.
 */
export interface IovaRange {
  kind: 'reserved' | 'host-hole' | 'allocated' | 'failed';
  /** First byte, "0x…". */
  start: string;
  /** Last byte (inclusive), "0x…". */
  end: string;
  /**
   * The event that made the range: iova-reserve; for a host hole the later of the device's
   * guest-probe and its hiod-realize; dma-map; the failing host call, QEMU error or request.
   */
  seq: number;
  /** reserved: iova-reserve's source (RESERVED, MSI, pci-window); host-hole: 'host-iova-ranges' | 'probe'; failed: what refused it ('host-call', 'qemu-error', 'request', 'dma-map'). */
  source?: string;
  /** Guest device(s) it belongs to (comma-separated), when known. */
  device?: string;
  /** allocated: the dma-map handle; failed: the errno name, QEMU's message or the status name. */
  label?: string;
}

/** One guest DMA domain (a vIOMMU domain the guest's dma-iommu set up for an IOMMU group) as getIovaSpace draws it. */
export interface IovaDomain {
  /** The vIOMMU domain ID. */
  domain: number;
  /** The guest IOMMU group number (guest-probe), null when not probed. */
  group: number | null;
  /** [first, last] IOVA the domain can use (guest-probe data.aperture), null when unknown. */
  aperture: [string, string] | null;
  /** IOVA granule in bytes (guest-probe data.granule), null when unknown (allocated ranges then use 4 KiB). */
  granule: number | null;
  /** The devices probed into it, in probe order, with how they joined ('first' initialised the allocator). */
  devices: { endpoint: number; device: string; init: string; seq: number }[];
  /** Where its host holes came from: 'host-iova-ranges', 'probe', 'mixed' (some devices each), or 'none'. */
  holesFrom: 'host-iova-ranges' | 'probe' | 'mixed' | 'none';
  /** Ranges by kind then start address. */
  ranges: IovaRange[];
  /** True when more ranges existed than returned (IOVA_SPACE_MAX_RANGES per kind). */
  truncated: boolean;
}

/** One link of a followed buffer (followBuffer): an event in the chain through the layers. */
export interface BufferLink {
  seq: number;
  kind: string;
  /** What it is in the chain: dma-map, map-request, host-call, qemu-error, translate, fault, host-dma, stale-access, dma-unmap, unmap-request, guest-sync, fq-flush. */
  role: string;
  /** The emitting component ('guest0', 'viommu0', 'iommufd0', …); null for the run's own. */
  component: string | null;
  /** Its layer (guest, viommu, host-iommu-device, backend, iommu), from listComponents. */
  layer: string;
  /** Virtual time in ns, null when not stored. */
  time: number | null;
  text: string;
  problem: boolean;
}

const U32 = Type.Integer({ minimum: 0, maximum: 0xffffffff });
/** A SQL console result column (sqlQuery): its name and SQL type (declared type, else the type of its first non-NULL value; '' when unknown). */
export interface SqlColumnInfo {
  name: string;
  type: string;
}

/**
 * Why a SQL console query gave no rows (sqlQuery `error`): `code` is SQLite's ('SQLITE_ERROR', …),
 * 'READONLY_REFUSED' (a statement that would write), 'TIMEOUT' (the time limit) or 'CANCELLED'
 * (sqlCancel); `message` is SQLite's text (with the line and column when known); `offset` the
 * 0-based character offset in the query where SQLite stopped, when it can be told.
 */
export interface SqlError {
  message: string;
  code: string;
  offset: number | null;
}

/** One documented table or view of the SQL console (sqlSchema; docs/sql.md; main/store/sql-views.ts). */
export interface SqlSchemaObject {
  name: string;
  /** 'table': stored in the database; 'temp table' / 'view': made by the console on its own connection. */
  kind: 'table' | 'temp table' | 'view';
  doc: string;
  columns: { name: string; type: string; doc: string }[];
}

/** Free-text event search (queryEvents, locateEvent): at most 200 characters. */
const EVENT_SEARCH = Type.String({ maxLength: 200 });
/** A component id (RunComponent.id): at most 200 characters. */
const COMPONENT_ID = Type.String({ maxLength: 200 });

/** Cost model overrides (core/compare/types.ts CostModel): ns per operation, each a finite number ≥ 0. */
const COST_NS = Type.Number({ minimum: 0, maximum: 1e12 });
const COST_OVERRIDES = Type.Object(
  {
    vmExitNs: Type.Optional(COST_NS),
    requestNs: Type.Optional(COST_NS),
    hostMapNs: Type.Optional(COST_NS),
    hostMapPageNs: Type.Optional(COST_NS),
    hostUnmapNs: Type.Optional(COST_NS),
    invalidationNs: Type.Optional(COST_NS),
    faultNs: Type.Optional(COST_NS),
  },
  { additionalProperties: false },
);

/** Parameter schemas, one per method. */
export const PARAMS = {
  listExamples: Type.Object({}),
  readExample: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }),
  startRun: Type.Object({
    text: Type.String({ maxLength: 16 * 1024 * 1024 }),
    file: Type.String({ minLength: 1, maxLength: 4096 }),
    /** A scenario with `variants:`: run only the variant of this name (an error diagnostic when it has none). */
    variant: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  }),
  cancelRun: Type.Object({ runId: Type.Integer({ minimum: 1 }) }),
  listRuns: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })) }),
  getRun: Type.Object({ runId: Type.Integer({ minimum: 1 }) }),
  queryEvents: Type.Object({
    runId: Type.Integer({ minimum: 1 }),
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1, maximum: 5000 }),
    kinds: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    domain: Type.Optional(U32),
    endpoint: Type.Optional(U32),
    problemsOnly: Type.Optional(Type.Boolean()),
    /** Free text matched (case-insensitively) inside each event's one-line text (EventRow.text). */
    search: Type.Optional(EVENT_SEARCH),
    /** Events of this component only (RunComponent.id; '' for the run's own). */
    component: Type.Optional(COMPONENT_ID),
  }),
  getEventDetail: Type.Object({ runId: Type.Integer({ minimum: 1 }), seq: Type.Integer({ minimum: 0 }) }),
  locateEvent: Type.Object({
    runId: Type.Integer({ minimum: 1 }),
    kinds: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    domain: Type.Optional(U32),
    endpoint: Type.Optional(U32),
    problemsOnly: Type.Optional(Type.Boolean()),
    search: Type.Optional(EVENT_SEARCH),
    component: Type.Optional(COMPONENT_ID),
    /** Find the first matching event with seq ≥ this. */
    seq: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Find the first matching event of this step or a later one (-1: setup events). */
    step: Type.Optional(Type.Integer({ minimum: -1 })),
  }),
  /** The run's components with their event counts (RunComponent), guest layer first. */
  listComponents: Type.Object({ runId: Type.Integer({ minimum: 1 }) }),
  /**
   * The host calls and QEMU errors a guest event caused: their `cause` is `seq`, or, for a
   * virtio-iommu 'request' event, any event of that request (the shadow names the map/unmap/
   * attach/detach event emitted before the request's own).
   */
  getCausedEvents: Type.Object({ runId: Type.Integer({ minimum: 1 }), seq: Type.Integer({ minimum: 0 }) }),
  /** The host object table after event `seq` (core/events/objects.ts). */
  getHostObjects: Type.Object({ runId: Type.Integer({ minimum: 1 }), seq: Type.Integer({ minimum: 0 }) }),
  /**
   * The guest DMA domains' IOVA spaces after event `seq` (default: the run's last stored event):
   * aperture, granule and ranges by kind (IovaRange).
   */
  getIovaSpace: Type.Object({ runId: Type.Integer({ minimum: 1 }), seq: Type.Optional(Type.Integer({ minimum: 0 })) }),
  /**
   * One guest buffer through the layers, from a 'dma-map' or 'dma-unmap' event: the MAP requests,
   * the host calls and QEMU errors they caused, DMA at its addresses while live, its dma-unmap, the
   * UNMAP requests, the guest-sync that delivered them and the fq-flush that freed the IOVA.
   */
  followBuffer: Type.Object({ runId: Type.Integer({ minimum: 1 }), seq: Type.Integer({ minimum: 0 }) }),
  openFile: Type.Object({}),
  saveFile: Type.Object({
    path: Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]),
    text: Type.String(),
    /** What the save dialog proposes when it is shown (path null): the document's name or path. Only a suggestion. */
    name: Type.Optional(Type.String({ maxLength: 4096 })),
  }),
  /**
   * Imports a trace recorded on a real system (issue 9 §1) from its text (a file the user dropped
   * or picked; at most 64 MiB here — larger traces go through `iommu-lab import`, which streams).
   * `format` forces one instead of detecting it; `partial` keeps a trace whose known events have
   * malformed lines (they are listed and skipped).
   */
  importTrace: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 4096 }),
    text: Type.String({ maxLength: 64 * 1024 * 1024 }),
    format: Type.Optional(Type.Union([Type.Literal('ftrace'), Type.Literal('kmsg'), Type.Literal('qemu')])),
    partial: Type.Optional(Type.Boolean()),
  }),
  /** Cancels the trace import in progress (nothing is stored). */
  cancelImport: Type.Object({}),
  /**
   * A read-only SQL query over the lab's database (issue 9 §3; docs/sql.md), run in the SQL worker
   * off the main thread: one statement that reads (SELECT, WITH, VALUES, EXPLAIN, PRAGMA reads),
   * at most `limit` rows (default and maximum 100 000), stopped after `timeoutMs` (default 10 000,
   * at most 300 000).
   */
  sqlQuery: Type.Object({
    sql: Type.String({ minLength: 1, maxLength: 100_000 }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 300_000 })),
  }),
  /** Stops the SQL query running now (and any waiting): their sqlQuery answers error CANCELLED. */
  sqlCancel: Type.Object({}),
  /** The SQL console's documented tables and views, with their columns (SqlSchemaObject). */
  sqlSchema: Type.Object({}),
  /**
   * Replays the stored trace `traceRunId` against the scenario `text`'s configuration (issue 9 §2):
   * a run like startRun's (progress, cancel, its events stored), whose steps are the trace's
   * derived intent (core/replay) and whose record (RunSummary.replay) lists what the trace held
   * that the replay could not use and, once it ends, the divergences from the trace's faults.
   */
  startReplay: Type.Object({
    traceRunId: Type.Integer({ minimum: 1 }),
    text: Type.String({ maxLength: 16 * 1024 * 1024 }),
    file: Type.String({ minLength: 1, maxLength: 4096 }),
    /** A scenario with `variants:`: the variant to replay against (required then; one replay per variant). */
    variant: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  }),
  /**
   * A run's series over virtual time for the compare plots (issue 9 §3: live mappings, faults so
   * far, IOVA bytes mapped), downsampled to at most `points` samples (default 2000) keeping each
   * series' extremes and every fault while faults are at most half of `points`
   * (main/service/time-series.ts).
   */
  getTimeSeries: Type.Object({ runId: Type.Integer({ minimum: 1 }), points: Type.Optional(Type.Integer({ minimum: 16, maximum: 100000 })) }),
  /**
   * The comparison of 2..8 stored runs, traces or replays (issue 9 §3; core/compare): the first is
   * the base the deltas are taken against. `cost` overrides the cost model's defaults (ns per
   * operation; core/compare/cost.ts DEFAULT_COST_MODEL, docs/cost-model.md). Errors (ContractError
   * at "/runIds/<i>"): a run that does not exist, one still running, an id listed twice.
   */
  compareRuns: Type.Object({ runIds: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 2, maxItems: 8 }), cost: Type.Optional(COST_OVERRIDES) }),
  /** The same comparison as text: `csv` (the table: a row per metric, a column per run and per delta) or `json` (the Comparison). */
  exportComparison: Type.Object({
    runIds: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 2, maxItems: 8 }),
    cost: Type.Optional(COST_OVERRIDES),
    format: Type.Union([Type.Literal('csv'), Type.Literal('json')]),
  }),
  /**
   * Desktop only: asks where to save a run's (or trace's) export with the save dialog (proposing
   * "run-<id>-<name>.<csv|jsonl|json>") and streams it there atomically with the CLI's writer
   * (main/service/export.ts): `csv`, `jsonl` or `perfetto` (a Chrome / Perfetto JSON trace, one
   * track per component; core/export/perfetto.ts). `serve` answers null: a browser downloads
   * GET /export/<runId>.<ext>?token=… instead (main/serve/server.ts), so no export is one answer.
   */
  exportRun: Type.Object({ runId: Type.Integer({ minimum: 1 }), format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl'), Type.Literal('perfetto')]) }),
} satisfies Record<string, TSchema>;

export type Method = keyof typeof PARAMS;
export type Params<M extends Method> = Static<(typeof PARAMS)[M]>;

/** Result type of each method. */
export interface Results {
  /**
   * Sorted by file name. `title`: the scenario's `name:`; `group`: 'seeds: problems reproduced' (file names
   * starting `seed-`), 'guest DMA' (a `guest:` block), 'host side' (a `host:` or `backend:` block)
   * or 'virtio-iommu'; `line`: what it shows, the file's first comment line ('' when none).
   */
  listExamples: { name: string; title: string; group: string; line: string }[];
  readExample: { name: string; text: string };
  /**
   * Either the run started (`diagnostics`: the scenario's warnings, e.g. an endpoint no device
   * declares; empty when clean), or the scenario was invalid (nothing stored; every diagnostic).
   * A scenario with `variants:` starts one run per variant, run one after the other in order:
   * `variantRunIds` are their ids (`runId` is the first); cancelling any of them cancels the rest.
   */
  startRun: { runId: number; diagnostics: Diagnostic[]; variantRunIds?: number[] } | { runId: null; diagnostics: Diagnostic[] };
  cancelRun: { cancelled: boolean };
  listRuns: RunSummary[];
  getRun: RunDetail | null;
  queryEvents: { total: number; rows: EventRow[] };
  /** Every field of one event, names resolved, with the raw request bytes; null when no such event. */
  getEventDetail: EventDetail | null;
  /**
   * Where an event is in the filtered list: `index` (the row number queryEvents would give it)
   * and `seq` of the first matching event at or after the given seq / step; null when none.
   */
  locateEvent: { index: number; seq: number; step: number } | null;
  /** Guest side first (LAYERS order), then the run itself; [] for an unknown run. */
  listComponents: RunComponent[];
  /** In seq order (at most 256); [] when none or no such event. */
  getCausedEvents: EventRow[];
  /**
   * The table after every event up to `seq` (clamped to the run's last stored event): `seq` as
   * applied, `calls` the host calls folded, `objects` by component then ID.
   */
  getHostObjects: { seq: number; calls: number; objects: HostObjectRow[] };
  /** After event `seq` as applied (clamped to the run's last stored event; -1 for an unknown run); domains by ID. */
  getIovaSpace: { seq: number; domains: IovaDomain[] };
  /**
   * The chain in seq order, null when `seq` is not a dma-map / dma-unmap event (or its dma-map is
   * not found). `iova`: the buffer's IOVA range [first, last] ("0x…"), null for a failed map;
   * `truncated`: some DMA accesses were left out (FOLLOW_MAX_ACCESSES).
   */
  followBuffer: {
    seq: number;
    handle: string | null;
    domain: number | null;
    iova: [string, string] | null;
    links: BufferLink[];
    truncated: boolean;
  } | null;
  /** Desktop only (native dialog); serve answers null and the browser uses its own file picker. */
  openFile: { path: string; text: string } | null;
  saveFile: { path: string } | null;
  /**
   * The stored trace (`runId`; null when nothing was stored, `refused` says why: malformed lines
   * without `partial`, or the format cannot be told) and what the import read.
   */
  importTrace: { runId: number | null; refused: string | null; source: TraceSourceInfo };
  /** `cancelled`: an import was in progress (its importTrace answers refused "cancelled: nothing stored"). */
  cancelImport: { cancelled: boolean };
  /**
   * The query's columns and rows (integers beyond ±(2^53 − 1) as exact decimal strings, blobs as
   * "X'…'"; u64 event fields as the views' "0x…" columns: docs/sql.md), `truncated` when more rows
   * followed `limit`, the time it took in the worker (ms); or `error` (then no rows): a
   * user's SQL problem is data, not a rejected call.
   */
  sqlQuery: { columns: SqlColumnInfo[]; rows: unknown[][]; truncated: boolean; elapsedMs: number; error: SqlError | null };
  /** `cancelled`: a query was running or waiting. */
  sqlCancel: { cancelled: boolean };
  sqlSchema: SqlSchemaObject[];
  /** As startRun: the replay run started, or the scenario's diagnostics (nothing stored). Errors: the run is not a stored trace. */
  startReplay: Results['startRun'];
  /**
   * The run's series (core/compare/types.ts TimeSeries), at most `points` samples in seq order (the
   * first at seq 0, the last at the run's last event); null for an unknown run.
   */
  getTimeSeries: TimeSeries | null;
  /** The file written and its size in bytes; null when the dialog was cancelled (or outside the desktop app). Errors: no such run; the file system's. */
  exportRun: { path: string; bytes: number } | null;
  /**
   * The runs (sides, the first the base), the metric rows with deltas, the first divergence of each
   * other run against the base (with the first event of that step in each run: aSeq, bSeq) and the
   * cost model used.
   */
  compareRuns: Comparison;
  /** The comparison's text in the asked format (a comparison is small: one string). */
  exportComparison: { text: string };
}

/** Events pushed to listeners. */
export interface Notifications {
  /**
   * Progress of a running run. `step` / `steps` count work units, not scenario steps: one per
   * step, except one per granule page of a `dma` step's access and, for a `workload` step, `count`
   * × the pages one iteration's DMA can span (1 without dma) (core/run/dma.ts; ScenarioRun.doneUnits
   * / totalUnits). A step that ends early (a DMA fault) is counted whole.
   */
  runProgress: { runId: number; step: number; steps: number; events: number };
  runFinished: { runId: number; status: RunStatus; error: string | null };
  /** Progress of a trace import (importTrace): the file's name, bytes read of its size, lines and events so far. */
  importProgress: { name: string; bytes: number; total: number; lines: number; events: number };
}
export type NotificationName = keyof Notifications;

/**
 * Every notification name, once: serveContract (main/service/serve-contract.ts) subscribes to each
 * for every transport. tests/serve/serve-contract.test.ts checks at type level that it lists every
 * key of {@link Notifications}, and that it lists each once.
 */
export const NOTIFICATIONS = ['runProgress', 'runFinished', 'importProgress'] as const satisfies readonly NotificationName[];

/** The API main implements and the renderer consumes (over any transport). */
export interface LabApi {
  call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]>;
  listen<N extends NotificationName>(name: N, handler: (payload: Notifications[N]) => void): () => void;
}

/** Error thrown at the boundary for a malformed call; `path` is the field path, e.g. "/runId". */
export class ContractError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'ContractError';
  }
}

export const METHODS = Object.keys(PARAMS) as Method[];

/**
 * Validates a call at the boundary. Returns the typed params or throws ContractError naming the
 * first offending field path ("/limit: Expected integer").
 */
export function validateParams<M extends Method>(method: unknown, params: unknown): { method: M; params: Params<M> } {
  if (typeof method !== 'string' || !Object.hasOwn(PARAMS, method)) {
    throw new ContractError(`unknown method ${JSON.stringify(method)}`, '');
  }
  const schema = PARAMS[method as M];
  if (!Value.Check(schema, params)) {
    const first = Value.Errors(schema, params).First();
    const path = first?.path || '/';
    throw new ContractError(`${method}: invalid params at ${path}: ${first?.message ?? 'invalid'}`, path);
  }
  return { method: method as M, params: params as Params<M> };
}
