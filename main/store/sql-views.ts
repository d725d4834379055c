/**
 * The SQL console's documented schema (issue 9 §3): the stored tables (`runs`, `events`) and the
 * TEMP tables and views the console creates on its own read-only connection (main/store/sql-console.ts),
 * as Perfetto's trace processor documents its tables and views for its query page.
 *
 * Nothing here is stored: the kind table is filled from the event catalog (core/events/catalog.ts),
 * the errno table from core/host/errno.ts, and the views are built from the columns the database
 * actually has (PRAGMA table_info), so they work on databases of every schema version (a column a
 * version lacks reads NULL: `comp`/`time` before version 6, `line`/`source` before 9, `config` before 4).
 *
 * Conventions (docs/sql.md): u64 event fields live in the INTEGER columns a, b, c as the
 * two's-complement reinterpretation (BigInt.asIntN(64, v); main/store/codec.ts), so SQLite's hex
 * literals compare with them exactly (`a = 0xfffffffffffff000`); each view also gives them as
 * "0x…" text (`*_hex`, printf('0x%x', …), which prints the unsigned value). Values from 2^63 up
 * read negative as integers, so order and subtract them only below 2^63.
 */
import type { SqlSchemaObject } from '../../core/contract/index.ts';
import { EVENT_CATALOG, type KindSpec } from '../../core/events/catalog.ts';
import { ERRNO } from '../../core/host/errno.ts';
import { HOST_BACKENDS } from '../../core/events/host-text.ts';
import { DMA_DIRS, UNMAP_MODES } from '../../core/events/guest-text.ts';
import { REQUEST_TYPE_NAMES, STATUS_NAMES } from '../../core/viommu/virtio-iommu/constants.ts';
import { KIND_CODE, PROBLEM_SQL } from './schema.ts';

/** One documented column of a table or view: its name, SQL type ('' when it varies) and meaning. */
export type SqlSchemaColumn = SqlSchemaObject['columns'][number];

/** The columns of `runs` and `events` the database has (PRAGMA table_info), to build the views. */
export interface StoredColumns {
  runs: ReadonlySet<string>;
  events: ReadonlySet<string>;
}

const c = (name: string, type: string, doc: string): SqlSchemaColumn => ({ name, type, doc });

/** SQL CASE giving names[value] of `expr` (NULL past the table; empty names skipped). */
function caseOf(expr: string, names: Readonly<Record<number, string>> | readonly string[]): string {
  const arms = Object.entries(names)
    .filter(([, n]) => n)
    .map(([v, n]) => `WHEN ${Number(v)} THEN '${n}'`)
    .join(' ');
  return `CASE ${expr} ${arms} END`;
}

/** "0x…" text of a u64 column (unsigned; NULL stays NULL). */
const hex = (col: string) => `iif(${col} IS NULL, NULL, printf('0x%x', ${col}))`;
/** A PCI address "bb:dd.f" of a requester ID (core/events/text.ts bdfToString; NULL above 0xffff). */
const bdf = (col: string) => `iif(${col} IS NULL OR ${col} > 65535, NULL, printf('%02x:%02x.%x', ${col} >> 8, (${col} >> 3) & 31, ${col} & 7))`;
/** A JSON member of a TEXT column, NULL (not an error) when the text is not JSON. */
const json = (col: string, path: string) => `json_extract(iif(json_valid(${col}), ${col}, NULL), '${path}')`;

/** The stored tables as documented (columns a version lacks are still listed; they read NULL in the views). */
export const STORED_TABLES: readonly SqlSchemaObject[] = [
  {
    name: 'runs',
    kind: 'table',
    doc: 'One row per run: a scenario run, an imported trace or a replay (main/store/schema.ts). Prefer v_runs.',
    columns: [
      c('id', 'INTEGER', 'run id (iommu-lab runs)'),
      c('name', 'TEXT', "the scenario's name: / the trace's file name"),
      c('file', 'TEXT', 'the scenario or trace file'),
      c('scenario_text', 'TEXT', 'the scenario YAML as run'),
      c('status', 'TEXT', "'running' | 'done' | 'failed' | 'cancelled'"),
      c('started_at', 'TEXT', 'ISO-8601 UTC'),
      c('finished_at', 'TEXT', 'ISO-8601 UTC, NULL while running'),
      c('steps', 'INTEGER', 'scenario steps'),
      c('total_units', 'INTEGER', 'progress work units'),
      c('done_units', 'INTEGER', 'work units done'),
      c('event_count', 'INTEGER', 'stored events: seq 0 … event_count − 1'),
      c('failed_expectations', 'INTEGER', 'expect: that failed'),
      c('error', 'TEXT', 'why the run failed'),
      c('metrics', 'TEXT', 'RunMetrics JSON (core/contract RunMetrics)'),
      c('step_results', 'TEXT', 'StepResult[] JSON'),
      c('owner_pid', 'INTEGER', 'process that ran it (v2)'),
      c('config', 'TEXT', 'RunConfig JSON: model, aw-bits, granule, backend, guest… (v4)'),
      c('components', 'TEXT', 'JSON array of component ids; events.comp n is element n − 1 (v6)'),
      c('source', 'TEXT', "JSON: an imported trace's source (kind 'trace') or a replay's (kind 'replay') (v9)"),
    ],
  },
  {
    name: 'events',
    kind: 'table',
    doc: 'Every event of every run, keyed (run_id, seq). Catalog fields live in the typed columns (event_kinds / docs/sql.md says which). Prefer v_events.',
    columns: [
      c('run_id', 'INTEGER', 'runs.id'),
      c('seq', 'INTEGER', '0, 1, … within the run'),
      c('step', 'INTEGER', 'scenario step index (−1: setup); a trace: 0'),
      c('kind', 'INTEGER', 'kind code: event_kinds.code'),
      c('status', 'INTEGER', 'virtio-iommu status / errno / outcome (by kind)'),
      c('domain', 'INTEGER', 'domain, IOAS/HWPT or group ID (by kind)'),
      c('endpoint', 'INTEGER', 'endpoint / requester ID (bus << 8 | devfn)'),
      c('a', 'INTEGER', 'u64 field (two’s complement: asIntN(64))'),
      c('b', 'INTEGER', 'u64 field'),
      c('c', 'INTEGER', 'u64 field'),
      c('flags', 'INTEGER', 'flags (by kind)'),
      c('aux', 'INTEGER', 'small code (by kind)'),
      c('data', 'TEXT', 'JSON payload; u64 inside as "0x…"'),
      c('used', 'INTEGER', "a request's used length (v3)"),
      c('comp', 'INTEGER', 'component code: 0 the run, n → runs.components[n − 1] (v6)'),
      c('time', 'INTEGER', 'virtual time (ns); a trace: its timestamp (ns) (v6)'),
      c('line', 'INTEGER', "an imported event's line in the trace file (v9)"),
    ],
  },
];

/** The events envelope columns as the views read them (NULL where this database lacks them). */
function envelope(cols: StoredColumns): { comp: string; time: string; line: string; used: string } {
  const has = (x: string) => cols.events.has(x);
  return { comp: has('comp') ? 'e.comp' : 'NULL', time: has('time') ? 'e.time' : 'NULL', line: has('line') ? 'e.line' : 'NULL', used: has('used') ? 'e.used' : 'NULL' };
}

/** A run column, or NULL when this database lacks it. */
const runCol = (cols: StoredColumns, name: string) => (cols.runs.has(name) ? `r.${name}` : 'NULL');

/** The name of the console's SQL function giving an event's one-line text (formatEvent) from its stored columns. */
export const EVENT_TEXT_SQL_FN = 'event_text';

/** One console object: its documentation and, for views, its SQL (null when the database lacks a table it needs). */
interface ConsoleObject extends SqlSchemaObject {
  sql: (cols: StoredColumns) => string;
}

const K = KIND_CODE;

/** The events columns every view passes on from v_events. */
const COMMON = 'run_id, seq, step, kind, component, time_ns, line';

/** The TEMP tables and views, in creation order (a view may read the ones before it). */
export const CONSOLE_OBJECTS: readonly ConsoleObject[] = [
  {
    name: 'event_kinds',
    kind: 'temp table',
    doc: 'Every event kind of the catalog (core/events/catalog.ts): code (events.kind), name, family, and when it is a problem.',
    columns: [
      c('code', 'INTEGER', 'events.kind'),
      c('name', 'TEXT', "kind name ('map', 'fault', 'host-call', 'trace-fault', …)"),
      c('family', 'TEXT', "the model that emits it: 'virtio-iommu', 'host-backend', 'host-iommu', 'host-iommu-device', 'guest', 'trace', 'run'"),
      c('problem', 'TEXT', 'which events of the kind are problems (NULL: never)'),
      c('fields', 'TEXT', 'JSON {field: column} of the catalog fields'),
      c('doc', 'TEXT', 'what the kind records (with its kernel / QEMU source)'),
    ],
    sql: () => 'CREATE TEMP TABLE event_kinds (code INTEGER PRIMARY KEY, name TEXT NOT NULL, family TEXT NOT NULL, problem TEXT, fields TEXT NOT NULL, doc TEXT NOT NULL)',
  },
  {
    name: 'errnos',
    kind: 'temp table',
    doc: 'Linux errno numbers the host backends return (core/host/errno.ts; include/uapi/asm-generic/errno*.h): 0 is OK.',
    columns: [c('errno', 'INTEGER', 'the number'), c('name', 'TEXT', "'EINVAL', 'ENOENT', …, 'OK' for 0")],
    sql: () => 'CREATE TEMP TABLE errnos (errno INTEGER PRIMARY KEY, name TEXT NOT NULL)',
  },
  {
    name: 'v_runs',
    kind: 'view',
    doc: 'Runs with their kind and the configuration fields a comparison needs (runs.config / runs.source decoded).',
    columns: [
      c('id', 'INTEGER', 'run id'),
      c('name', 'TEXT', 'scenario name / trace file'),
      c('kind', 'TEXT', "'scenario' | 'trace' | 'replay' (a variant of a scenario with variants: is a 'scenario')"),
      c('status', 'TEXT', "'running' | 'done' | 'failed' | 'cancelled'"),
      c('file', 'TEXT', 'scenario / trace file'),
      c('started_at', 'TEXT', 'ISO-8601 UTC'),
      c('finished_at', 'TEXT', 'ISO-8601 UTC'),
      c('events', 'INTEGER', 'stored events'),
      c('steps', 'INTEGER', 'scenario steps'),
      c('failed_expectations', 'INTEGER', 'expectations that failed'),
      c('error', 'TEXT', 'why it failed'),
      c('machine', 'TEXT', "'q35' | 'virt'"),
      c('model', 'TEXT', "vIOMMU model ('virtio-iommu', 'intel-iommu')"),
      c('conformance', 'TEXT', "'qemu' | 'spec'"),
      c('granule', 'TEXT', "QEMU granule property ('4k' … 'host')"),
      c('aw_bits', 'INTEGER', 'QEMU aw-bits'),
      c('caching_mode', 'INTEGER', 'intel-iommu caching-mode (1/0)'),
      c('backend', 'TEXT', "host backend: 'iommufd' | 'vfio-type1'"),
      c('kernel', 'TEXT', 'kernel era the backends model'),
      c('host_geometry', 'TEXT', "virtio-iommu host-geometry: 'realize' | 'listener' | 'none'"),
      c('iommu_dma', 'TEXT', "guest iommu.strict: 'strict' | 'lazy'"),
      c('devices', 'INTEGER', 'declared devices'),
      c('trace_format', 'TEXT', "a trace's format ('ftrace' | 'kmsg' | 'qemu'); a replay: its trace's"),
      c('trace_sha256', 'TEXT', "a trace's SHA-256; a replay: its trace's"),
      c('replay_of', 'INTEGER', "a replay: the trace's run id"),
      c('replay_against', 'TEXT', "a replay: the configuration's scenario file"),
      c('divergences', 'INTEGER', 'a replay: faults the trace and the replay disagree on'),
      c('variant', 'TEXT', "a variant's name (`variants:`); NULL otherwise"),
      c('variant_group', 'TEXT', 'the id shared by the runs of one scenario with variants'),
      c('config', 'TEXT', 'RunConfig JSON'),
      c('source', 'TEXT', 'trace / replay source JSON'),
      c('metrics', 'TEXT', 'RunMetrics JSON'),
    ],
    sql: (cols) => {
      const cfg = (p: string) => json(runCol(cols, 'config'), p);
      const src = (p: string) => json(runCol(cols, 'source'), p);
      const source = runCol(cols, 'source');
      return `CREATE TEMP VIEW v_runs AS SELECT r.id AS id, r.name AS name,
        CASE WHEN ${source} IS NULL THEN 'scenario' WHEN ${src('$.kind')} IN ('replay', 'trace') THEN ${src('$.kind')} WHEN ${src('$.kind')} = 'variant' THEN 'scenario' ELSE 'trace' END AS kind,
        r.status AS status, r.file AS file, r.started_at AS started_at, r.finished_at AS finished_at, r.event_count AS events,
        r.steps AS steps, r.failed_expectations AS failed_expectations, r.error AS error,
        ${cfg('$.machine')} AS machine, ${cfg('$.model')} AS model, ${cfg('$.conformance')} AS conformance, ${cfg('$.granule')} AS granule,
        ${cfg('$.awBits')} AS aw_bits, ${cfg('$.cachingMode')} AS caching_mode, ${cfg('$.backend')} AS backend, ${cfg('$.kernel')} AS kernel,
        ${cfg('$.hostGeometry')} AS host_geometry, ${cfg('$.guest.iommuDma')} AS iommu_dma, json_array_length(${cfg('$.devices')}) AS devices,
        coalesce(${src('$.format')}, ${src('$.trace.format')}) AS trace_format, coalesce(${src('$.sha256')}, ${src('$.trace.sha256')}) AS trace_sha256,
        ${src('$.trace.runId')} AS replay_of, ${src('$.against')} AS replay_against, ${src('$.divergenceCount')} AS divergences,
        iif(${src('$.kind')} = 'variant', ${src('$.variant')}, NULL) AS variant, iif(${src('$.kind')} = 'variant', ${src('$.group')}, NULL) AS variant_group,
        ${runCol(cols, 'config')} AS config, ${source} AS source, r.metrics AS metrics
        FROM runs r`;
    },
  },
  {
    name: 'v_components',
    kind: 'view',
    doc: "Each run's components (the guest DMA layer, the vIOMMU, HostIOMMUDevices, backends, physical IOMMUs) and their code in events.comp.",
    columns: [c('run_id', 'INTEGER', 'run id'), c('code', 'INTEGER', 'events.comp'), c('component', 'TEXT', "component id ('viommu', 'guest', 'backend:iommufd', …)")],
    sql: (cols) =>
      cols.runs.has('components')
        ? `CREATE TEMP VIEW v_components AS SELECT r.id AS run_id, j.key + 1 AS code, j.value AS component FROM runs r, json_each(iif(json_valid(r.components), r.components, '[]')) j`
        : 'CREATE TEMP VIEW v_components AS SELECT NULL AS run_id, NULL AS code, NULL AS component WHERE 0',
  },
  {
    name: 'v_events',
    kind: 'view',
    doc: 'Every event with its kind name, family, problem flag, component and the common fields decoded (columns not selected cost nothing).',
    columns: [
      c('run_id', 'INTEGER', 'run id'),
      c('seq', 'INTEGER', 'seq within the run'),
      c('step', 'INTEGER', 'scenario step (−1 setup)'),
      c('kind', 'TEXT', 'kind name (event_kinds.name)'),
      c('kind_code', 'INTEGER', 'events.kind'),
      c('family', 'TEXT', 'event_kinds.family'),
      c('problem', 'INTEGER', '1 for a problem event (the catalog rules: faults, failed requests and host calls, …)'),
      c('component', 'TEXT', "component id ('' the run itself; NULL before schema version 6)"),
      c('time_ns', 'INTEGER', 'virtual time (ns); a trace: its timestamp'),
      c('line', 'INTEGER', "an imported event's line in the trace file"),
      c('status', 'INTEGER', 'status column (by kind)'),
      c('domain', 'INTEGER', 'domain / IOAS / HWPT / group ID (by kind)'),
      c('endpoint', 'INTEGER', 'endpoint / requester ID'),
      c('endpoint_bdf', 'TEXT', 'the endpoint as a PCI address bb:dd.f'),
      c('a', 'INTEGER', 'u64 column a (signed storage)'),
      c('b', 'INTEGER', 'u64 column b'),
      c('c', 'INTEGER', 'u64 column c'),
      c('a_hex', 'TEXT', 'a as "0x…" (unsigned)'),
      c('b_hex', 'TEXT', 'b as "0x…"'),
      c('c_hex', 'TEXT', 'c as "0x…"'),
      c('flags', 'INTEGER', 'flags column'),
      c('aux', 'INTEGER', 'aux column'),
      c('used', 'INTEGER', "a request's used length"),
      c('device', 'TEXT', 'data.device: the device name the event names'),
      c('event', 'TEXT', "data.event: an imported event's source event (iommu:map, DMAR, virtio_iommu_map, …)"),
      c('data', 'TEXT', 'JSON payload'),
      c('text', 'TEXT', "the event's one-line text, as the events table shows it (formatted per row: select it only when needed)"),
    ],
    sql: (cols) => {
      const env = envelope(cols);
      return `CREATE TEMP VIEW v_events AS SELECT e.run_id AS run_id, e.seq AS seq, e.step AS step, coalesce(k.name, 'unknown-' || e.kind) AS kind,
        e.kind AS kind_code, k.family AS family, coalesce(${PROBLEM_SQL}, 0) AS problem,
        CASE WHEN ${env.comp} IS NULL THEN NULL WHEN ${env.comp} = 0 THEN '' ELSE ${cols.runs.has('components') ? `(SELECT json_extract(r.components, '$[' || (${env.comp} - 1) || ']') FROM runs r WHERE r.id = e.run_id)` : 'NULL'} END AS component,
        ${env.time} AS time_ns, ${env.line} AS line, e.status AS status, e.domain AS domain, e.endpoint AS endpoint, ${bdf('e.endpoint')} AS endpoint_bdf,
        e.a AS a, e.b AS b, e.c AS c, ${hex('e.a')} AS a_hex, ${hex('e.b')} AS b_hex, ${hex('e.c')} AS c_hex, e.flags AS flags, e.aux AS aux, ${env.used} AS used,
        ${json('e.data', '$.device')} AS device, ${json('e.data', '$.event')} AS event, e.data AS data,
        ${EVENT_TEXT_SQL_FN}(e.kind, e.status, e.domain, e.endpoint, e.a, e.b, e.c, e.flags, e.aux, e.data, ${env.used}) AS text
        FROM events e LEFT JOIN event_kinds k ON k.code = e.kind`;
    },
  },
  {
    name: 'v_problems',
    kind: 'view',
    doc: "Problem events only (the events table's \"problems only\"), with their text.",
    columns: [c('run_id', 'INTEGER', ''), c('seq', 'INTEGER', ''), c('step', 'INTEGER', ''), c('kind', 'TEXT', ''), c('component', 'TEXT', ''), c('time_ns', 'INTEGER', ''), c('line', 'INTEGER', ''), c('text', 'TEXT', 'one-line text')],
    sql: () => `CREATE TEMP VIEW v_problems AS SELECT ${COMMON}, text FROM v_events WHERE problem`,
  },
  {
    name: 'v_faults',
    kind: 'view',
    doc: "Every DMA fault: virtio-iommu fault reports (kind 'fault', spec §5.13.6.9), the physical IOMMU's (host-dma faults, host-fault records) and an imported trace's (trace-fault: DMAR, AMD-Vi, SMMUv3, iommu:io_page_fault).",
    columns: [
      c('run_id', 'INTEGER', ''),
      c('seq', 'INTEGER', ''),
      c('step', 'INTEGER', ''),
      c('kind', 'TEXT', "'fault' | 'host-dma' | 'host-fault' | 'trace-fault'"),
      c('component', 'TEXT', ''),
      c('time_ns', 'INTEGER', ''),
      c('line', 'INTEGER', ''),
      c('endpoint', 'INTEGER', 'endpoint / requester ID'),
      c('endpoint_bdf', 'TEXT', 'bb:dd.f'),
      c('domain', 'INTEGER', 'domain / HWPT when known'),
      c('address', 'INTEGER', 'faulting address (signed storage)'),
      c('address_hex', 'TEXT', 'faulting address "0x…"'),
      c('access', 'TEXT', "'read' | 'write' | 'read,write' | NULL"),
      c('reason', 'INTEGER', 'the reason code: VIRTIO_IOMMU_FAULT_R_* for fault, the source\'s code for trace-fault'),
      c('reason_name', 'TEXT', "'UNKNOWN' | 'DOMAIN' | 'MAPPING' (virtio-iommu); the printed reason (host, trace)"),
      c('device', 'TEXT', 'device name when the event names it'),
      c('event', 'TEXT', "trace-fault: the source event ('DMAR', 'IO_PAGE_FAULT', …)"),
    ],
    sql: () => `CREATE TEMP VIEW v_faults AS SELECT ${COMMON}, endpoint, endpoint_bdf, domain, a AS address, a_hex AS address_hex,
        CASE kind_code WHEN ${K.fault} THEN ${caseOf('flags & 3', ['', 'read', 'write', 'read,write'])} ELSE ${caseOf('flags', ['', 'read', 'write'])} END AS access,
        CASE kind_code WHEN ${K.fault} THEN aux WHEN ${K['trace-fault']} THEN status END AS reason,
        CASE kind_code WHEN ${K.fault} THEN coalesce(${caseOf('aux', ['UNKNOWN', 'DOMAIN', 'MAPPING'])}, 'REASON(' || aux || ')')
          WHEN ${K['trace-fault']} THEN ${json('data', '$.reasonText')} ELSE ${json('data', '$.reason')} END AS reason_name,
        device, event
        FROM v_events WHERE kind_code IN (${K.fault}, ${K['host-fault']}, ${K['trace-fault']}) OR (kind_code = ${K['host-dma']} AND aux = 1)`,
  },
  {
    name: 'v_requests',
    kind: 'view',
    doc: 'virtio-iommu requests as the device completed them (QEMU virtio_iommu_handle_command; spec §5.13.6): type, status, fields.',
    columns: [
      c('run_id', 'INTEGER', ''),
      c('seq', 'INTEGER', ''),
      c('step', 'INTEGER', ''),
      c('component', 'TEXT', ''),
      c('time_ns', 'INTEGER', ''),
      c('type', 'TEXT', "'ATTACH' | 'DETACH' | 'MAP' | 'UNMAP' | 'PROBE' | 'UNKNOWN(n)'"),
      c('status', 'INTEGER', 'tail.status (NULL: the device wrote nothing)'),
      c('status_name', 'TEXT', "'OK' | 'IOERR' | 'UNSUPP' | 'DEVERR' | 'INVAL' | 'RANGE' | 'NOENT' | 'FAULT' | 'NOMEM' | 'UNWRITTEN'"),
      c('domain', 'INTEGER', ''),
      c('endpoint', 'INTEGER', ''),
      c('virt_start_hex', 'TEXT', 'MAP/UNMAP virt_start'),
      c('virt_end_hex', 'TEXT', 'MAP/UNMAP virt_end (inclusive)'),
      c('phys_start_hex', 'TEXT', 'MAP phys_start'),
      c('virt_start', 'INTEGER', 'virt_start (signed storage)'),
      c('virt_end', 'INTEGER', 'virt_end (signed storage)'),
      c('req_flags', 'INTEGER', 'ATTACH / MAP flags'),
      c('used', 'INTEGER', 'used length'),
    ],
    sql: () => `CREATE TEMP VIEW v_requests AS SELECT run_id, seq, step, component, time_ns,
        coalesce(${caseOf('aux', REQUEST_TYPE_NAMES)}, 'UNKNOWN(' || aux || ')') AS type, status,
        CASE WHEN status IS NULL THEN 'UNWRITTEN' ELSE coalesce(${caseOf('status', STATUS_NAMES)}, 'S_' || status) END AS status_name,
        domain, endpoint, a_hex AS virt_start_hex, b_hex AS virt_end_hex, c_hex AS phys_start_hex, a AS virt_start, b AS virt_end, flags AS req_flags, used
        FROM v_events WHERE kind_code = ${K.request}`,
  },
  {
    name: 'v_mappings',
    kind: 'view',
    doc: "Mappings made and removed: the vIOMMU's map / unmap (QEMU virtio_iommu_map / virtio_iommu_unmap_done) and an imported trace's trace-map / trace-unmap (iommu:map, iommu:unmap, vfio / iommufd map lines).",
    columns: [
      c('run_id', 'INTEGER', ''),
      c('seq', 'INTEGER', ''),
      c('step', 'INTEGER', ''),
      c('kind', 'TEXT', "'map' | 'unmap' | 'trace-map' | 'trace-unmap'"),
      c('op', 'TEXT', "'map' | 'unmap'"),
      c('component', 'TEXT', ''),
      c('time_ns', 'INTEGER', ''),
      c('line', 'INTEGER', ''),
      c('domain', 'INTEGER', 'domain (or the IOAS / container a trace line names)'),
      c('iova', 'INTEGER', 'first IOVA (signed storage)'),
      c('iova_hex', 'TEXT', 'first IOVA "0x…"'),
      c('size', 'INTEGER', 'bytes (virt_end − virt_start + 1; a trace: its size)'),
      c('phys_hex', 'TEXT', 'guest-physical (or host) address, when known'),
      c('flags', 'INTEGER', 'map flags (VIRTIO_IOMMU_MAP_F_*: READ 1, WRITE 2, MMIO 4)'),
      c('event', 'TEXT', "a trace's source event"),
    ],
    sql: () => `CREATE TEMP VIEW v_mappings AS SELECT run_id, seq, step, kind,
        CASE WHEN kind_code IN (${K.map}, ${K['trace-map']}) THEN 'map' ELSE 'unmap' END AS op, component, time_ns, line, domain, a AS iova, a_hex AS iova_hex,
        CASE WHEN kind_code IN (${K.map}, ${K.unmap}) THEN b - a + 1 ELSE b END AS size,
        CASE WHEN kind_code = ${K['trace-unmap']} THEN NULL ELSE c_hex END AS phys_hex, flags, event
        FROM v_events WHERE kind_code IN (${K.map}, ${K.unmap}, ${K['trace-map']}, ${K['trace-unmap']})`,
  },
  {
    name: 'v_host_calls',
    kind: 'view',
    doc: 'uAPI calls to the host backends (iommufd ioctls, VFIO type1 container ioctls, iommufd\'s VFIO compatibility) with their errno (include/uapi/linux/iommufd.h, vfio.h).',
    columns: [
      c('run_id', 'INTEGER', ''),
      c('seq', 'INTEGER', ''),
      c('step', 'INTEGER', ''),
      c('component', 'TEXT', "the backend component ('backend:iommufd', …)"),
      c('time_ns', 'INTEGER', ''),
      c('backend', 'TEXT', "'iommufd' | 'vfio-type1' | 'iommufd-vfio-compat'"),
      c('ioctl', 'TEXT', "'IOMMU_IOAS_MAP', 'VFIO_IOMMU_MAP_DMA', …"),
      c('op', 'TEXT', "the step op ('ioas-map', …)"),
      c('errno', 'INTEGER', '0 OK, else the Linux errno'),
      c('errno_name', 'TEXT', "'OK', 'EINVAL', 'ENOENT', …"),
      c('id', 'INTEGER', 'IOAS / HWPT / device / vIOMMU ID or container number'),
      c('iova_hex', 'TEXT', 'the IOVA argument'),
      c('length', 'INTEGER', 'length / size argument (bytes)'),
      c('cause', 'INTEGER', 'seq of the guest event that caused the call (NULL: scripted)'),
      c('args', 'TEXT', 'JSON {uAPI field: value}'),
      c('out', 'TEXT', 'JSON {uAPI output field: value}'),
    ],
    sql: () => `CREATE TEMP VIEW v_host_calls AS SELECT run_id, seq, step, component, time_ns, ${caseOf('aux', HOST_BACKENDS)} AS backend,
        ${json('data', '$.ioctl')} AS ioctl, ${json('data', '$.op')} AS op, status AS errno,
        coalesce((SELECT x.name FROM errnos x WHERE x.errno = status), 'E' || status) AS errno_name, domain AS id, a_hex AS iova_hex, b AS length, c AS cause,
        json(${json('data', '$.args')}) AS args, json(${json('data', '$.out')}) AS out
        FROM v_events WHERE kind_code = ${K['host-call']}`,
  },
  {
    name: 'v_dma',
    kind: 'view',
    doc: "The guest DMA layer's dma_map / dma_unmap calls (drivers/iommu/dma-iommu.c __iommu_dma_map / __iommu_dma_unmap) and an imported trace's dma:* events.",
    columns: [
      c('run_id', 'INTEGER', ''),
      c('seq', 'INTEGER', ''),
      c('step', 'INTEGER', ''),
      c('kind', 'TEXT', "'dma-map' | 'dma-unmap' | 'trace-dma'"),
      c('component', 'TEXT', ''),
      c('time_ns', 'INTEGER', ''),
      c('line', 'INTEGER', ''),
      c('device', 'TEXT', 'the device'),
      c('endpoint', 'INTEGER', 'requester ID'),
      c('domain', 'INTEGER', 'vIOMMU domain ID'),
      c('iova_hex', 'TEXT', 'the DMA address'),
      c('size', 'INTEGER', 'bytes'),
      c('phys_hex', 'TEXT', 'guest-physical address of the buffer'),
      c('dir', 'TEXT', "'to-device' | 'from-device' | 'bidirectional' (a trace: its dma_data_direction code in dir_code)"),
      c('dir_code', 'INTEGER', 'the stored direction code'),
      c('outcome', 'TEXT', "dma-map: 'mapped' | 'DMA_MAPPING_ERROR'; dma-unmap: 'strict' | 'queued'"),
      c('event', 'TEXT', "trace-dma: the source event ('dma_map_phys', …)"),
    ],
    sql: () => `CREATE TEMP VIEW v_dma AS SELECT ${COMMON}, device, endpoint, domain, a_hex AS iova_hex, b AS size,
        CASE WHEN kind_code = ${K['dma-unmap']} THEN NULL ELSE c_hex END AS phys_hex,
        CASE WHEN kind_code = ${K['trace-dma']} THEN ${caseOf('flags', ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'])} ELSE ${caseOf('flags', DMA_DIRS)} END AS dir, flags AS dir_code,
        CASE kind_code WHEN ${K['dma-map']} THEN ${caseOf('status', ['mapped', 'DMA_MAPPING_ERROR'])} WHEN ${K['dma-unmap']} THEN ${caseOf('aux', UNMAP_MODES)} END AS outcome, event
        FROM v_events WHERE kind_code IN (${K['dma-map']}, ${K['dma-unmap']}, ${K['trace-dma']})`,
  },
];

/** Rows of the event_kinds table (from the catalog). */
export function eventKindRows(): [number, string, string, string | null, string, string][] {
  return Object.entries(EVENT_CATALOG as Record<string, KindSpec>).map(([name, spec]) => [
    spec.code,
    name,
    spec.family,
    spec.problem?.doc ?? null,
    JSON.stringify(Object.fromEntries(Object.entries(spec.fields).map(([f, s]) => [f, s.column]))),
    spec.doc,
  ]);
}

/** Rows of the errnos table. */
export function errnoRows(): [number, string][] {
  return Object.entries(ERRNO).map(([name, v]) => [v, name]);
}
