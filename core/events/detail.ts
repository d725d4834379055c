/**
 * The event detail pane's content, after Wireshark's packet details and bytes panes: every field
 * of one stored event with its value (u64 in hex) and its meaning resolved — endpoint IDs to the
 * scenario's device name and PCI address, status, fault reason and request type codes to their
 * names, flag masks to flag names — plus the bytes the device read for the request the event came
 * from.
 *
 * Raw bytes, by where the event came from:
 * - a step that sends one request (attach, detach, map, unmap, probe, request): the bytes the
 *   runner sent, as it recorded them in the step's result (StepResult.request: a `request`
 *   step's own hex, the others as encodeRequest built them, reserved fields included);
 * - a `request` event of a workload step, or of a step whose result is not stored yet (a run in
 *   progress): re-encoded from the request event's decoded fields with encodeRequest
 *   (MAP/UNMAP/ATTACH/DETACH/PROBE, reserved fields zero, as the workload sends them);
 * - anything else (setup, dma, config, reset, expectations): none.
 * Nothing here parses the scenario: the detail is built on the main thread, where parsing must
 * never run (issue 6 §5.4).
 * Layouts: virtio spec §5.13.6 (struct virtio_iommu_req_*); reference
 * ../../../shared/reference/virtio-iommu.md §1.
 */
import type { EventDetail, EventDetailField, EventRow, RawRequestBytes, StepResult } from '../contract/index.ts';
import { bytesToHex, encodeRequest, hexToBytes, type RequestInit } from '../viommu/virtio-iommu/codec.ts';
import { ATTACH_F_BYPASS, FEATURE_NAMES, HEAD_SIZE, T_ATTACH, T_DETACH, T_MAP, T_PROBE, T_UNMAP } from '../viommu/virtio-iommu/constants.ts';
import { EVENT_CATALOG, type FieldSpec } from './catalog.ts';
import { bdfToString, faultFlagsText, faultReasonName, hexOf, mapFlagsText, requestTypeName, statusName, u64Of } from './format.ts';

export { bytesToHex };

/** A declared device, as RunConfig.devices lists them. */
export interface DetailDevice {
  readonly name: string;
  readonly bdf: string;
  readonly endpoint: number;
}

/** What the detail is resolved against: the run's devices and, when stored, the result of the event's step. */
export interface DetailContext {
  devices: readonly DetailDevice[];
  /** The stored result of step `row.step` (undefined: setup events, or a step not finished yet). */
  step?: Pick<StepResult, 'op' | 'request'>;
}

/** Byte layout of each request's device-readable part (virtio spec §5.13.6; head is type + 3 reserved bytes). */
const LAYOUTS: Readonly<Record<number, readonly { name: string; offset: number; size: number }[]>> = {
  [T_ATTACH]: [{ name: 'domain', offset: 4, size: 4 }, { name: 'endpoint', offset: 8, size: 4 }, { name: 'flags', offset: 12, size: 4 }, { name: 'reserved', offset: 16, size: 4 }],
  [T_DETACH]: [{ name: 'domain', offset: 4, size: 4 }, { name: 'endpoint', offset: 8, size: 4 }, { name: 'reserved', offset: 12, size: 8 }],
  [T_MAP]: [{ name: 'domain', offset: 4, size: 4 }, { name: 'virt_start', offset: 8, size: 8 }, { name: 'virt_end', offset: 16, size: 8 }, { name: 'phys_start', offset: 24, size: 8 }, { name: 'flags', offset: 32, size: 4 }],
  [T_UNMAP]: [{ name: 'domain', offset: 4, size: 4 }, { name: 'virt_start', offset: 8, size: 8 }, { name: 'virt_end', offset: 16, size: 8 }, { name: 'reserved', offset: 24, size: 4 }],
  [T_PROBE]: [{ name: 'endpoint', offset: 4, size: 4 }, { name: 'reserved', offset: 8, size: 64 }],
};
const HEAD_LAYOUT = [{ name: 'head.type', offset: 0, size: 1 }, { name: 'head.reserved', offset: 1, size: 3 }];

/** Field layout of a request's bytes: the head, then every payload field that lies inside `length` bytes. */
export function requestLayout(bytes: Uint8Array): RawRequestBytes['layout'] {
  if (bytes.length < HEAD_SIZE) return [];
  return [...HEAD_LAYOUT, ...(LAYOUTS[bytes[0]] ?? []).filter((f) => f.offset + f.size <= bytes.length)];
}

/**
 * The device-readable bytes of the request `row` came from (see the module comment), or null.
 * Never throws: values that cannot be encoded give null.
 */
export function requestBytes(row: EventRow, step: DetailContext['step']): { bytes: Uint8Array; source: RawRequestBytes['source'] } | null {
  if (step?.request !== undefined && row.kind !== 'expectation') {
    const bytes = hexToBytes(step.request);
    if (bytes) return { bytes, source: 'step' };
  }
  if (row.kind !== 'request') return null;
  // A request of a workload (or of a step whose result is not stored yet): from the decoded fields.
  const f = row.fields;
  const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const type = n(f.reqType);
  const domain = n(f.domain);
  const endpoint = n(f.endpoint);
  const virtStart = u64Of(f.virtStart);
  const virtEnd = u64Of(f.virtEnd);
  const physStart = u64Of(f.physStart);
  const flags = n(f.reqFlags);
  switch (type) {
    case T_ATTACH:
      return domain !== undefined && endpoint !== undefined ? encoded({ type, domain, endpoint, flags: flags ?? 0 }) : null;
    case T_DETACH:
      return domain !== undefined && endpoint !== undefined ? encoded({ type, domain, endpoint }) : null;
    case T_MAP:
      return domain !== undefined && virtStart !== undefined && virtEnd !== undefined && physStart !== undefined
        ? encoded({ type, domain, virtStart, virtEnd, physStart, flags: flags ?? 0 })
        : null;
    case T_UNMAP:
      return domain !== undefined && virtStart !== undefined && virtEnd !== undefined ? encoded({ type, domain, virtStart, virtEnd }) : null;
    case T_PROBE:
      return endpoint !== undefined ? encoded({ type, endpoint }) : null;
    default:
      return null;
  }
}

function encoded(req: RequestInit): { bytes: Uint8Array; source: 'encoded' } | null {
  try {
    return { bytes: encodeRequest(req), source: 'encoded' };
  } catch {
    return null;
  }
}

/** "nic0 · 00:03.0" for a declared endpoint, "00:03.0 (not declared)" otherwise (IDs above 0xffff: "not a PCI requester ID"). */
export function endpointMeaning(id: number, devices: readonly DetailDevice[]): string {
  const dev = devices.find((d) => d.endpoint === id);
  if (dev) return `${dev.name} · ${dev.bdf}`;
  if (id === 0) return 'host bridge · 00:00.0';
  return id > 0xffff ? 'not a PCI requester ID' : `${bdfToString(id)} (not declared)`;
}

function featureList(v: unknown): string {
  const mask = u64Of(v);
  if (mask === undefined) return '';
  const names: string[] = [];
  for (let b = 0; b < 64; b++) if ((mask >> BigInt(b)) & 1n) names.push(FEATURE_NAMES[b] ?? `bit${b}`);
  return names.length ? names.join(', ') : 'none';
}

const ACCESS = ['', 'read', 'write'];
const PATH = ['mapping', 'bypass', 'MSI reserved region (identity)'];
const SUBTYPES = ['RESERVED', 'MSI'];

/** Meaning of an integer field of `kind` (names resolved), or undefined. */
function meaningOf(kind: string, name: string, v: number, row: EventRow, ctx: DetailContext): string | undefined {
  const declared = (EVENT_CATALOG as Record<string, { fields: Record<string, FieldSpec> } | undefined>)[kind]?.fields[name]?.meaning;
  if (declared) return declared(v);
  switch (name) {
    case 'endpoint':
      return endpointMeaning(v, ctx.devices);
    case 'status':
      return statusName(v);
    case 'reqType':
      return requestTypeName(v);
    case 'reason':
      return faultReasonName(v);
    case 'access':
      return ACCESS[v] ?? undefined;
    case 'path':
      return PATH[v];
    case 'used':
      return `${v} bytes written`;
    case 'flags':
      if (kind === 'fault') return faultFlagsText(v);
      if (kind === 'map' || kind === 'unmap') return mapFlagsText(v);
      return undefined;
    case 'reqFlags':
      if (row.fields.reqType === T_MAP) return mapFlagsText(v);
      if (row.fields.reqType === T_ATTACH) return v & ATTACH_F_BYPASS ? `BYPASS${v & ~ATTACH_F_BYPASS ? ` +0x${(v & ~ATTACH_F_BYPASS).toString(16)}` : ''}` : v ? `0x${v.toString(16)}` : 'none';
      return undefined;
    case 'bypass':
    case 'implicit':
    case 'accepted':
    case 'held':
    case 'system':
      return v ? 'yes' : 'no';
    default:
      return undefined;
  }
}

/** A JSON payload as a tree; "0x…" strings stay hex, region subtypes are named. */
function jsonField(name: string, v: unknown, doc?: string): EventDetailField {
  const out: EventDetailField = { name, value: '' };
  if (doc) out.doc = doc;
  if (Array.isArray(v)) {
    out.value = `${v.length} item${v.length === 1 ? '' : 's'}`;
    out.children = v.map((x, i) => jsonField(`[${i}]`, x));
  } else if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    out.value = entries.length ? '' : '{}';
    out.children = entries.map(([k, x]) => {
      const child = jsonField(k, x);
      if (k === 'subtype' && typeof x === 'number') child.meaning = SUBTYPES[x] ?? `SUBTYPE(${x})`;
      return child;
    });
  } else {
    out.value = typeof v === 'string' ? v : JSON.stringify(v) ?? 'null';
  }
  return out;
}

/**
 * Builds the detail of one stored event: its catalog fields in declaration order (absent optional
 * fields are left out), each with its value and meaning, and the raw request bytes when the event
 * came from a request. Never throws (unknown kinds list their fields as they are).
 */
export function eventDetail(row: EventRow, ctx: DetailContext): EventDetail {
  const spec = (EVENT_CATALOG as Record<string, { doc: string; fields: Record<string, FieldSpec> } | undefined>)[row.kind];
  const fields: EventDetailField[] = [];
  const names = spec ? Object.keys(spec.fields) : Object.keys(row.fields);
  for (const name of names) {
    const fs = spec?.fields[name];
    const v = row.fields[name];
    if (v === undefined || v === null) continue;
    if (fs?.type === 'json' || (typeof v === 'object' && v !== null)) {
      fields.push(jsonField(name, v, fs?.doc));
      continue;
    }
    const field: EventDetailField = { name, value: '' };
    if (fs?.doc) field.doc = fs.doc;
    if (fs?.type === 'u64') {
      field.value = hexOf(v);
      if (name === 'offered' || name === 'accepted') field.meaning = featureList(v);
      else if (name === 'size') field.meaning = `${u64Of(v)?.toString() ?? '?'} bytes`;
    } else if (typeof v === 'number') {
      const hexy = name === 'flags' || name === 'reqFlags' || name === 'endpoint';
      field.value = hexy && v > 9 ? `${v} (0x${v.toString(16)})` : String(v);
      const m = meaningOf(row.kind, name, v, row, ctx);
      if (m !== undefined) field.meaning = m;
    } else {
      field.value = String(v);
    }
    fields.push(field);
  }
  const req = requestBytes(row, ctx.step);
  return {
    seq: row.seq,
    step: row.step,
    ...(typeof row.line === 'number' ? { line: row.line } : {}),
    kind: row.kind,
    kindDoc: spec?.doc ?? '',
    text: row.text,
    problem: row.problem,
    fields,
    raw: req ? { hex: bytesToHex(req.bytes), source: req.source, layout: requestLayout(req.bytes) } : null,
  };
}
